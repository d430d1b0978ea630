/*
 * config_int: what config.c (the map, look-ups, typed values) and yaml.c
 * (YAML text checks, parsing and flattening into the map) share, and
 * nobody else sees.
 */
#ifndef RR_CONFIG_INT_H
#define RR_CONFIG_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "util/err.h"

#define CFG_KEY_MAX	1024		/* bytes of a dotted key, with its NUL */
#define CFG_VALUE_MAX	(64 * 1024)	/* bytes of a value after $VAR expansion */
#define CFG_FILE_MAX	(1024 * 1024)	/* a config file larger than this is refused */
#define CFG_NODES_MAX	(128 * 1024)	/* YAML nodes visited, aliases included */
#define CFG_MERGE_DEPTH	64		/* merge keys inside merged mappings */
#define CFG_SHOWN_MAX	96		/* bytes of a bad value quoted in a message */

struct kv {
	char *key;	/* lower case */
	char *value;	/* NULL for a YAML null: listed, but unset for look-ups */
	int line, col;	/* 1-based, of its value in the file; 0 for a flag */
};

struct kvmap {
	struct kv *v;
	size_t n, cap;
	size_t *slot;	/* open addressing: index + 1, 0 = free; power of two */
	size_t nslot;
};

struct cfg {
	struct kvmap file;
	struct kvmap flags;
	char **env;		/* NULL-terminated "K=V" copy, or NULL: the process env */
	char path[PATH_MAX];	/* what cfg_load_default loaded, or "" */
	char file_name[PATH_MAX]; /* the name the file layer was loaded under */
};

static inline char ascii_lower(char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* Where yaml.c's flattened pairs go, and where the values of $VAR come
 * from: config.c's map and environment, so that yaml.c needs nothing of
 * config.c. put: 0, -E2BIG or -ENOMEM; env: NULL when unset. */
struct cfgi_target {
	int (*put)(void *arg, const char *key, const char *value, bool weak, int line, int col);
	const char *(*env)(void *arg, const char *name);
	void *arg;
};

/* Check, parse and flatten YAML text (name: the file, for messages) into
 * t. 0 or -errno with e set. */
int cfgi_parse_into(const struct cfgi_target *t, const char *name, const char *yaml, size_t len,
		    struct err *e);

/* The value parsers of the typed getters (config.c), for config check:
 * 0 or -EINVAL. */
int cfgi_parse_bool(const char *v, bool *out);
int cfgi_parse_int(const char *v, int64_t *out);
int cfgi_parse_duration_ms(const char *s, int64_t *out);
int cfgi_parse_mode(const char *v, mode_t *out);

/* The file layer's entry of a lower-case key, or NULL. */
const struct kv *cfgi_file_entry(const struct cfg *c, const char *key);

#endif
