/*
 * cfgdoc: docs/configuration.md's key reference, generated from the table
 * of keys (config/keys.h). A developer tool, run by `make docs`; not
 * installed.
 *
 *   cfgdoc --block NAME     print the generated block NAME (keys, aliases)
 *   cfgdoc --write FILE     rewrite each block between its markers
 *                           "<!-- NAME:begin -->" and "<!-- NAME:end -->"
 *   cfgdoc --check FILE     exit 1 (naming the block) when FILE differs
 *
 * Everything outside the markers is hand-written and left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/keys.h"
#include "util/fs.h"

#define DOC_MAX (4 * 1024 * 1024)

static const char *const blocks[] = { "keys", "aliases" };

static void put_default(FILE *f, const struct cfg_key *k)
{
	if (!k->def)
		fputs("unset", f);
	else if (!*k->def)
		fputs("`\"\"`", f);
	else
		fprintf(f, "`%s`", k->def);
}

static void put_key_row(FILE *f, const struct cfg_key *k)
{
	char type[64], scope[64], env[256];

	cfg_key_type_text(k, type, sizeof(type));
	cfg_key_scope_text(k, scope, sizeof(scope));
	cfg_env_name(k->name, env, sizeof(env));
	fprintf(f, "| `%s` | %s | ", k->name, type);
	put_default(f, k);
	fprintf(f, " | %s | `%s` | %s |\n", scope, env, k->doc);
}

/* One table per section, in table order. */
static void gen_keys(FILE *f)
{
	const char *section = NULL;

	for (size_t i = 0; i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "%s### %s\n\n", i ? "\n" : "", section);
			fputs("| Key | Type | Default | Scopes | Variable | Meaning |\n", f);
			fputs("|---|---|---|---|---|---|\n", f);
		}
		put_key_row(f, k);
	}
}

static void gen_aliases(FILE *f)
{
	fputs("| Old name | Key |\n|---|---|\n", f);
	for (size_t i = 0; i < CFGK_COUNT; i++)
		if (cfg_keys[i].alias)
			fprintf(f, "| `%s` | `%s` |\n", cfg_keys[i].alias, cfg_keys[i].name);
}

/* The text of a block, malloc'd; NULL for an unknown name or OOM. */
static char *gen_block(const char *name)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (strcmp(name, "keys") == 0)
		gen_keys(f);
	else if (strcmp(name, "aliases") == 0)
		gen_aliases(f);
	if (fclose(f) != 0 || !len) {
		free(text);
		return NULL;
	}
	return text;
}

/* Replace what lies between the markers of block name in *doc (malloc'd,
 * replaced). *changed says whether it differed. 0, or -1 with a message. */
static int splice(char **doc, const char *name, bool *changed)
{
	char begin[64], end[64], *b, *e, *text, *out;
	size_t head, blen;

	snprintf(begin, sizeof(begin), "<!-- %s:begin -->\n", name);
	snprintf(end, sizeof(end), "<!-- %s:end -->", name);
	b = strstr(*doc, begin);
	e = b ? strstr(b, end) : NULL;
	if (!b || !e) {
		fprintf(stderr, "cfgdoc: no '%.*s' ... '%s' markers\n", (int)strlen(begin) - 1,
			begin, end);
		return -1;
	}
	if (!(text = gen_block(name)))
		return fprintf(stderr, "cfgdoc: out of memory\n"), -1;
	head = (size_t)(b - *doc) + strlen(begin);
	blen = (size_t)(e - (*doc + head));
	*changed = blen != strlen(text) || memcmp(*doc + head, text, blen) != 0;
	if (asprintf(&out, "%.*s%s%s", (int)head, *doc, text, e) < 0) {
		free(text);
		return fprintf(stderr, "cfgdoc: out of memory\n"), -1;
	}
	free(text);
	free(*doc);
	*doc = out;
	return 0;
}

static int rewrite(const char *path, bool check)
{
	char *doc = NULL;
	size_t len = 0;
	bool changed = false, any = false;
	int r;

	if ((r = fs_read_file(path, DOC_MAX, &doc, &len)) < 0) {
		fprintf(stderr, "cfgdoc: %s: %s\n", path, strerror(-r));
		return 2;
	}
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		if (splice(&doc, blocks[i], &changed) < 0) {
			free(doc);
			return 2;
		}
		if (changed && check)
			fprintf(stderr, "cfgdoc: %s: the '%s' block differs from the table of keys; "
				"run `make docs`\n", path, blocks[i]);
		any = any || changed;
	}
	r = 0;
	if (check)
		r = any ? 1 : 0;
	else if (any && fs_write_atomic(path, doc, strlen(doc), 0644) < 0)
		r = 2, fprintf(stderr, "cfgdoc: cannot write %s\n", path);
	free(doc);
	return r;
}

int main(int argc, char **argv)
{
	char *text;

	if (argc == 3 && strcmp(argv[1], "--block") == 0) {
		if (!(text = gen_block(argv[2]))) {
			fprintf(stderr, "cfgdoc: no block '%s' (keys, aliases)\n", argv[2]);
			return 2;
		}
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--write") == 0)
		return rewrite(argv[2], false);
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return rewrite(argv[2], true);
	fprintf(stderr, "usage: cfgdoc --block keys|aliases | --write FILE | --check FILE\n");
	return 2;
}
