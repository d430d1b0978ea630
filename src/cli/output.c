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

static int by_name(const void *a, const void *b)
{
	const struct volume *x = a, *y = b;
	int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

	return c ? c : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static size_t max_len(size_t cur, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > cur ? n : cur;
}

static void print_table(const struct volume_list *l, bool quiet)
{
	size_t wid = 2, wname = 4, wstat = 6;

	for (size_t i = 0; i < l->n; i++) {
		wid = max_len(wid, l->v[i].id);
		wname = max_len(wname, l->v[i].name);
		wstat = max_len(wstat, cli_state_name(l->v[i].attachment_state));
	}
	if (!quiet)
		printf("%-*s  %-*s  %-*s  %s\n", (int)wid, "ID", (int)wname, "Name", (int)wstat,
		       "Status", "Size");
	for (size_t i = 0; i < l->n; i++)
		printf("%-*s  %-*s  %-*s  %lld\n", (int)wid, l->v[i].id ? l->v[i].id : "",
		       (int)wname, l->v[i].name ? l->v[i].name : "", (int)wstat,
		       cli_state_name(l->v[i].attachment_state), (long long)l->v[i].size);
}

void cli_print_volumes(const struct volume_list *l, enum out_format f, bool quiet)
{
	json_t *arr;
	char *text;

	qsort(l->v, l->n, sizeof(l->v[0]), by_name);
	if (f == OUT_TMPL) {
		print_table(l, quiet);
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < l->n; i++)
		json_array_append_new(arr, volume_to_json(&l->v[i]));
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
