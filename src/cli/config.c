/*
 * config check|show: a configuration file checked against the table of
 * keys, and the effective configuration with where each value comes from.
 * Both run before the engine is set up, so that a file the engine would
 * refuse can still be checked.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/codec.h"
#include "cli/cli.h"
#include "cli/help.h"
#include "config/config.h"
#include "util/paths.h"

#define SECRET_SHOWN "******"

/* Load FILE (words[2], else -c, else the default chain) into cfg. */
static int load(struct cfg *cfg, const struct cli_args *a, const char **loaded,
		struct err *e)
{
	const char *file = a->n_words > 2 ? a->words[2] : a->config_file;
	struct paths paths;
	int r;

	if ((r = paths_init(&paths, e)) < 0)
		return r;
	return cfg_load_default(cfg, file, &paths, loaded, e);
}

/* ---- check ---- */

struct check_out {
	int warnings, notes;
	const char *const *names; /* the table's names, lower case, for "did you mean" */
};

static const char *const severity_name[] = { "error", "warning", "note" };

static void print_problem(void *arg, const struct cfg_problem *p)
{
	struct check_out *o = arg;
	const char *near = NULL;

	if (p->severity == CFG_WARNING) {
		o->warnings++;
		near = cli_nearest(p->key, o->names);
	} else if (p->severity == CFG_NOTE) {
		o->notes++;
	}
	printf("%s:%d:%d: %s: %s: %s", p->file, p->line, p->col, severity_name[p->severity],
	       p->key, p->msg);
	if (near)
		printf(" (did you mean %s?)", near);
	else if (p->severity == CFG_WARNING)
		printf(" (a driver's own option is passed on as is)");
	printf("\n");
}

/* The non-pattern names of the table, lower case, NULL-terminated. */
static char **table_names(void)
{
	char **names = calloc(CFGK_COUNT + 1, sizeof(*names));
	size_t n = 0;

	for (size_t i = 0; names && i < CFGK_COUNT; i++) {
		if (cfg_key_is_pattern(&cfg_keys[i]))
			continue;
		if (!(names[n] = strdup(cfg_keys[i].name)))
			break;
		for (char *p = names[n++]; *p; p++)
			*p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	}
	return names;
}

static void names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/* In "config: FILE:LINE:COL: what", the offset of the ": " after COL;
 * 0 when msg has no position. */
static size_t position_end(const char *msg)
{
	if (strncmp(msg, "config: ", 8) != 0)
		return 0;
	for (const char *p = strstr(msg + 8, ": "); p; p = strstr(p + 1, ": ")) {
		const char *q = p;
		int parts = 0;

		while (parts < 2) {
			const char *d = q;
			while (d > msg + 8 && d[-1] >= '0' && d[-1] <= '9')
				d--;
			if (d == q || d <= msg + 9 || d[-1] != ':')
				break;
			q = d - 1;
			parts++;
		}
		if (parts == 2)
			return (size_t)(p - msg);
	}
	return 0;
}

static int cmd_check(struct cfg *cfg, const struct cli_args *a)
{
	struct check_out o = { 0 };
	struct err e = ERR_INIT;
	const char *loaded = "";
	char **names;
	int errors;

	if (load(cfg, a, &loaded, &e) < 0) {
		size_t pos = position_end(e.msg);
		if (pos) /* a syntax error: "FILE:LINE:COL: error: what" */
			printf("%.*s: error: %s\n", (int)(pos - 8), e.msg + 8, e.msg + pos + 2);
		else
			fprintf(stderr, "rexray: config check: %s\n", e.msg);
		return 1;
	}
	if (!loaded || !*loaded) {
		printf("no configuration file (looked for <etc>/config.yml and "
		       "$HOME/.rexray/config.yml): the defaults apply\n");
		return 0;
	}
	names = table_names();
	o.names = (const char *const *)names;
	errors = cfg_check(cfg, print_problem, &o);
	names_free(names);
	printf("%s: %d error(s), %d warning(s)%s\n", loaded, errors, o.warnings,
	       errors ? "" : ": good");
	return errors ? 1 : 0;
}

/* ---- show ---- */

struct show_row {
	char *key, *value, *source, *file, *variable;
	int line;
};

struct show {
	struct show_row *rows;
	size_t n, cap;
	const struct cfg *cfg;
};

static int add_row(struct show *s, const char *key, const char *value, const char *source,
		   const char *file, int line, const char *variable)
{
	struct show_row *r;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct show_row *nr = realloc(s->rows, cap * sizeof(*nr));
		if (!nr)
			return -1;
		s->rows = nr;
		s->cap = cap;
	}
	r = &s->rows[s->n];
	r->key = strdup(key);
	r->value = strdup(value ? value : "");
	r->source = strdup(source);
	r->file = file ? strdup(file) : NULL;
	r->variable = variable ? strdup(variable) : NULL;
	r->line = line;
	s->n++;
	return r->key && r->value && r->source && (!file || r->file) &&
			       (!variable || r->variable) ? 0 : -1;
}

static bool is_secret(const char *key)
{
	bool legacy;
	int id = cfg_key_find(key, &legacy);

	return id >= 0 && cfg_keys[id].type == CFG_T_SECRET;
}

/* One key at the root, with the layer its value comes from. */
static int show_key(struct show *s, const char *key, const char *alias, const char *def,
		    const char *value)
{
	const char *src = cfg_source(s->cfg, key), *file = NULL;
	char var[256];
	int line = 0, col = 0;

	cfg_env_name(key, var, sizeof(var));
	if (!src)
		return add_row(s, key, def, "default", NULL, 0, var);
	if (is_secret(key) && value && *value)
		value = SECRET_SHOWN;
	if (strcmp(src, "file") == 0 && cfg_file_position(s->cfg, key, &file, &line, &col) == 0)
		return add_row(s, key, value, "file", file, line, var);
	if (strcmp(src, "alias") == 0 && alias) {
		cfg_env_name(alias, var, sizeof(var));
		if (cfg_file_position(s->cfg, alias, &file, &line, &col) < 0)
			file = NULL;
		return add_row(s, key, value, "alias", file, line, var);
	}
	return add_row(s, key, value, src, NULL, 0, var);
}

static bool in_rows(const struct show *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->rows[i].key, key) == 0)
			return true;
	return false;
}

static void show_other(const char *key, const char *value, const char *env_name, void *arg)
{
	struct show *s = arg;

	(void)env_name;
	if (!in_rows(s, key))
		show_key(s, key, NULL, NULL, value);
}

static void source_text(const struct show_row *r, char *buf, size_t sz)
{
	if (strcmp(r->source, "file") == 0)
		snprintf(buf, sz, "%s:%d", r->file, r->line);
	else if (strcmp(r->source, "env") == 0)
		snprintf(buf, sz, "env %s", r->variable);
	else if (strcmp(r->source, "alias") == 0 && r->file)
		snprintf(buf, sz, "%s:%d (old name)", r->file, r->line);
	else if (strcmp(r->source, "alias") == 0)
		snprintf(buf, sz, "env %s (old name)", r->variable);
	else
		snprintf(buf, sz, "%s", r->source);
}

static void print_rows(const struct show *s)
{
	int kw = 3, vw = 5;
	char src[PATH_MAX + 64];

	for (size_t i = 0; i < s->n; i++) {
		int k = (int)strlen(s->rows[i].key), v = (int)strlen(s->rows[i].value);
		kw = k > kw ? k : kw;
		vw = v > vw && v < 48 ? v : vw;
	}
	printf("%-*s  %-*s  %s\n", kw, "KEY", vw, "VALUE", "SOURCE");
	for (size_t i = 0; i < s->n; i++) {
		source_text(&s->rows[i], src, sizeof(src));
		printf("%-*s  %-*s  %s\n", kw, s->rows[i].key, vw, s->rows[i].value, src);
	}
}

static int print_json(const struct show *s, enum out_format f)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; arr && i < s->n; i++) {
		const struct show_row *r = &s->rows[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "key", r->key, "value", r->value,
				      "source", r->source, "variable",
				      r->variable ? r->variable : "");
		if (o && r->file) {
			json_object_set_new(o, "file", json_string(r->file));
			json_object_set_new(o, "line", json_integer(r->line));
		}
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	text = !arr ? NULL : f == OUT_JSONP ? json_dump_pretty(arr) : json_dump_compact(arr);
	json_decref(arr);
	if (!text) {
		fprintf(stderr, "rexray: config show: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

static int cmd_show(struct cfg *cfg, const struct cli_args *a)
{
	struct show s = { .cfg = cfg };
	enum out_format f = OUT_TMPL;
	struct err e = ERR_INIT;
	const char *loaded = "";
	int rc = 0;

	if (a->format && cli_parse_format(a->format, &f) < 0)
		return 2;
	if (load(cfg, a, &loaded, &e) < 0) {
		fprintf(stderr, "rexray: config show: %s\n", e.msg);
		return 1;
	}
	for (size_t i = 0; rc == 0 && i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (!cfg_key_is_pattern(k))
			rc = show_key(&s, k->name, k->alias, k->def,
				      cfg_key_get(cfg, (enum cfg_key_id)i));
	}
	if (rc == 0)
		cfg_foreach(cfg, show_other, &s);
	if (rc < 0) {
		fprintf(stderr, "rexray: config show: out of memory\n");
		rc = 1;
	} else if (f == OUT_TMPL) {
		if (loaded && *loaded)
			printf("# %s\n", loaded);
		print_rows(&s);
	} else {
		rc = print_json(&s, f);
	}
	for (size_t i = 0; i < s.n; i++) {
		free(s.rows[i].key);
		free(s.rows[i].value);
		free(s.rows[i].source);
		free(s.rows[i].file);
		free(s.rows[i].variable);
	}
	free(s.rows);
	return rc;
}

int cli_config(struct cfg *cfg, const char *sub, struct cli_args *a)
{
	if (!sub) {
		fprintf(stderr, "rexray: config: give check or show (see rexray help config)\n");
		return 2;
	}
	if (strcmp(sub, "check") == 0)
		return cmd_check(cfg, a);
	if (strcmp(sub, "show") == 0)
		return cmd_show(cfg, a);
	return cli_unknown("config", sub, cli_subcommands("config"));
}
