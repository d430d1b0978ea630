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

/* Sort volumes by name, keeping the paths parallel. */
static void sort_by_name(const struct volume_list *l, char **paths)
{
	for (size_t i = 1; i < l->n; i++) {
		for (size_t j = i; j > 0; j--) {
			const char *x = l->v[j - 1].name ? l->v[j - 1].name : "";
			const char *y = l->v[j].name ? l->v[j].name : "";
			struct volume tv;
			char *tp;
			if (strcmp(x, y) <= 0)
				break;
			tv = l->v[j - 1];
			l->v[j - 1] = l->v[j];
			l->v[j] = tv;
			if (paths) {
				tp = paths[j - 1];
				paths[j - 1] = paths[j];
				paths[j] = tp;
			}
		}
	}
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
