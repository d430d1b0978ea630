#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/codec.h"
#include "cli/cli.h"

int cli_parse_format(const char *s, enum out_format *out)
{
	if (!s || strcmp(s, "tmpl") == 0)
		*out = OUT_TMPL;
	else if (strcmp(s, "json") == 0)
		*out = OUT_JSON;
	else if (strcmp(s, "jsonp") == 0)
		*out = OUT_JSONP;
	else
		return -EINVAL;
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

/* Sort volumes by name (then id), keeping the paths parallel: sort an
 * index, then permute both arrays. */
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

static void sort_by_name(const struct volume_list *l, char **paths)
{
	struct order *o = calloc(l->n ? l->n : 1, sizeof(*o));
	struct volume *vs = calloc(l->n ? l->n : 1, sizeof(*vs));
	char **ps = calloc(l->n ? l->n : 1, sizeof(*ps));

	if (!o || !vs || !ps)
		goto out; /* unsorted output beats none */
	for (size_t i = 0; i < l->n; i++) {
		o[i].v = &l->v[i];
		o[i].i = i;
	}
	qsort(o, l->n, sizeof(*o), by_name);
	for (size_t i = 0; i < l->n; i++) {
		vs[i] = l->v[o[i].i];
		if (paths)
			ps[i] = paths[o[i].i];
	}
	memcpy(l->v, vs, l->n * sizeof(*vs));
	if (paths)
		memcpy(paths, ps, l->n * sizeof(*ps));
out:
	free(o);
	free(vs);
	free(ps);
}

static size_t max_len(size_t cur, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > cur ? n : cur;
}

static void print_table(const struct volume_list *l, char **paths, bool quiet)
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
	if (!quiet) {
		printf("%-*s  %-*s  %-*s  ", (int)wid, "ID", (int)wname, "Name", (int)wstat,
		       "Status");
		if (paths)
			printf("%-*s  Path\n", (int)wsize, "Size");
		else
			printf("Size\n");
	}
	for (size_t i = 0; i < l->n; i++) {
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

void cli_print_volumes(const struct volume_list *l, char **paths, enum out_format f, bool quiet)
{
	json_t *arr;
	char *text;

	sort_by_name(l, paths);
	if (f == OUT_TMPL) {
		print_table(l, paths, quiet);
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < l->n; i++) {
		json_t *v = volume_to_json(&l->v[i]);
		if (v && paths)
			json_object_set_new(v, "path", json_string(paths[i] ? paths[i] : ""));
		json_array_append_new(arr, v);
	}
	text = f == OUT_JSONP ? json_dump_pretty(arr)
			      : json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(arr);
}

void cli_error(const char *what, const struct err *e)
{
	fprintf(stderr, "rexray: %s: %s\n", what, e->msg[0] ? e->msg : strerror(-e->code));
}
