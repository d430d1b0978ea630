#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/codec.h"
#include "api/jsonw.h"
#include "cli/cli.h"

int cli_parse_format(const char *s, enum out_format *out)
{
	if (!s || strcmp(s, "tmpl") == 0)
		*out = OUT_TMPL;
	else if (strcmp(s, "json") == 0)
		*out = OUT_JSON;
	else if (strcmp(s, "jsonp") == 0)
		*out = OUT_JSONP;
	else {
		fprintf(stderr, "rexray: --format: invalid value '%s': expected tmpl, json or "
			"jsonp\n", s);
		return -EINVAL;
	}
	return 0;
}

const char *cli_state_name(int state)
{
	switch (state) {
	case AS_ATTACHED:
		return "attached";
	case AS_AVAILABLE:
		return "available";
	case AS_UNAVAILABLE:
		return "unavailable";
	default:
		return "unknown";
	}
}

/* The print order: by name, then id. Printed through this index rather
 * than by moving the volumes (10,000 of them are 1.3 MB). */
struct order {
	const struct volume *v;
	size_t i;
};

static int by_name(const void *a, const void *b)
{
	const struct volume *x = ((const struct order *)a)->v, *y = ((const struct order *)b)->v;
	int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

	return c ? c : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* The index of the k-th volume to print; o is NULL when there was no
 * memory to sort (unsorted output beats none). */
static size_t at(const struct order *o, size_t k)
{
	return o ? o[k].i : k;
}

static struct order *sort_by_name(const struct volume_list *l)
{
	struct order *o = calloc(l->n ? l->n : 1, sizeof(*o));

	if (!o)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		o[i].v = &l->v[i];
		o[i].i = i;
	}
	qsort(o, l->n, sizeof(*o), by_name);
	return o;
}

static size_t max_len(size_t cur, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > cur ? n : cur;
}

static void print_table(const struct volume_list *l, const struct order *o, char **paths,
			bool quiet)
{
	size_t wid = 2, wname = 4, wstat = 6, wsize = 4;
	char size[32];

	for (size_t i = 0; i < l->n; i++) {
		wid = max_len(wid, l->v[i].id);
		wname = max_len(wname, l->v[i].name);
		wstat = max_len(wstat, cli_state_name(l->v[i].attachment_state));
		snprintf(size, sizeof(size), "%lld", (long long)l->v[i].size);
		wsize = max_len(wsize, size);
	}
	if (quiet) { /* names only, for scripts (as docker volume ls -q) */
		for (size_t k = 0; k < l->n; k++)
			printf("%s\n", l->v[at(o, k)].name ? l->v[at(o, k)].name : "");
		return;
	}
	printf("%-*s  %-*s  %-*s  ", (int)wid, "ID", (int)wname, "Name", (int)wstat, "Status");
	if (paths)
		printf("%-*s  Path\n", (int)wsize, "Size");
	else
		printf("Size\n");
	for (size_t k = 0; k < l->n; k++) {
		size_t i = at(o, k);
		snprintf(size, sizeof(size), "%lld", (long long)l->v[i].size);
		printf("%-*s  %-*s  %-*s  ", (int)wid, l->v[i].id ? l->v[i].id : "", (int)wname,
		       l->v[i].name ? l->v[i].name : "", (int)wstat,
		       cli_state_name(l->v[i].attachment_state));
		if (paths)
			printf("%-*s  %s\n", (int)wsize, size, paths[i] ? paths[i] : "");
		else
			printf("%s\n", size);
	}
}

/* What json_string accepts: the path member is left out otherwise, as it
 * always was (a mount path is ours and well-formed in practice). */
static bool well_formed(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0, n; i < len; i += n) {
		n = jw_utf8_len((const unsigned char *)s + i, len - i);
		if (n == 0)
			return false;
	}
	return true;
}

/*
 * -f json and -f jsonp: an array of Volumes (plus "path" with --path),
 * written straight into one buffer in the bytes jansson would make of the
 * tree: compact with jansson's escapes for json, json_dump_pretty's for
 * jsonp (codec.h volume_write).
 */
static void print_json(const struct volume_list *l, const struct order *o, char **paths,
		       enum out_format f)
{
	struct jw w;
	char *text;
	size_t len;

	jw_init(&w, f == OUT_JSONP ? JW_PRETTY | JW_GO_ESCAPES : 0);
	jw_arr_begin(&w);
	for (size_t k = 0; k < l->n; k++) {
		size_t i = at(o, k);
		const char *path = paths && paths[i] ? paths[i] : "";
		jw_item(&w);
		jw_obj_begin(&w);
		volume_write_members(&w, &l->v[i]);
		if (paths && well_formed(path)) {
			jw_key(&w, "path");
			jw_str(&w, path);
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	if (jw_finish(&w, &text, &len) < 0)
		return; /* out of memory: nothing, as before */
	fwrite(text, 1, len, stdout);
	putchar('\n');
	free(text);
}

void cli_print_volumes(const struct volume_list *l, char **paths, enum out_format f, bool quiet)
{
	struct order *o = sort_by_name(l);

	if (f == OUT_TMPL)
		print_table(l, o, paths, quiet);
	else
		print_json(l, o, paths, f);
	free(o);
}

/* ---- snapshots ---- */

static int snap_by_name(const void *a, const void *b)
{
	const struct snapshot *x = *(const struct snapshot *const *)a;
	const struct snapshot *y = *(const struct snapshot *const *)b;
	int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

	return c ? c : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static void utc_time(int64_t t, char *buf, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, sz, "-");
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static void print_snapshot_table(const struct snapshot *const *o, size_t n, bool quiet)
{
	size_t wid = 2, wname = 4, wvol = 8, wsize = 4, wstat = 6;
	char size[32];

	if (quiet) { /* IDs only, for scripts: what rm and copy take */
		for (size_t k = 0; k < n; k++)
			printf("%s\n", or_empty(o[k]->id));
		return;
	}
	for (size_t k = 0; k < n; k++) {
		wid = max_len(wid, o[k]->id);
		wname = max_len(wname, o[k]->name);
		wvol = max_len(wvol, o[k]->volume_id);
		snprintf(size, sizeof(size), "%lld", (long long)o[k]->volume_size);
		wsize = max_len(wsize, size);
		wstat = max_len(wstat, o[k]->status);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  Created\n", (int)wid, "ID", (int)wname, "Name",
	       (int)wvol, "VolumeID", (int)wsize, "Size", (int)wstat, "Status");
	for (size_t k = 0; k < n; k++) {
		char when[32];
		utc_time(o[k]->start_time, when, sizeof(when));
		snprintf(size, sizeof(size), "%lld", (long long)o[k]->volume_size);
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)wid, or_empty(o[k]->id),
		       (int)wname, or_empty(o[k]->name), (int)wvol, or_empty(o[k]->volume_id),
		       (int)wsize, size, (int)wstat, or_empty(o[k]->status), when);
	}
}

void cli_print_snapshots(const struct snapshot_list *l, enum out_format f, bool quiet)
{
	const struct snapshot **o = calloc(l->n ? l->n : 1, sizeof(*o));

	if (!o) {
		fprintf(stderr, "rexray: out of memory\n");
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		o[i] = &l->v[i];
	qsort(o, l->n, sizeof(*o), snap_by_name);
	if (f == OUT_TMPL) {
		print_snapshot_table(o, l->n, quiet);
	} else {
		/* an array of libStorage Snapshots, as volumes are printed */
		struct jw w;
		char *text;
		size_t len;

		jw_init(&w, f == OUT_JSONP ? JW_PRETTY | JW_GO_ESCAPES : 0);
		jw_arr_begin(&w);
		for (size_t k = 0; k < l->n; k++) {
			jw_item(&w);
			snapshot_write(&w, o[k]);
		}
		jw_arr_end(&w);
		if (jw_finish(&w, &text, &len) == 0) {
			fwrite(text, 1, len, stdout);
			putchar('\n');
			free(text);
		}
	}
	free(o);
}

void cli_error(const char *what, const struct err *e)
{
	fprintf(stderr, "rexray: %s: %s\n", what, e->msg[0] ? e->msg : strerror(-e->code));
}
