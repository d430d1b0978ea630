/*
 * config: REX-Ray's configuration as one flat map of lower-cased dotted
 * keys (spec/rexray.md section 2).
 *
 * Layers, highest first: flags (cfg_set), environment, the YAML file.
 *  - File: the first found of -c FILE, <etc>/config.yml (paths.etc,
 *    /etc/rexray unless REXRAY_HOME moves it), $HOME/.rexray/config.yml.
 *    Nested maps flatten to dotted keys ("libstorage.server.services.vfs.driver");
 *    a sequence becomes key.0, key.1, ... and its scalars joined by ","
 *    under the key itself. Scalars keep their text ("true", "16", "0700").
 *    "$VAR" and "${VAR}" in file values are expanded from the environment
 *    at load time (an unset variable expands to "").
 *  - Environment: for a key k the variable is k upper-cased with '.'
 *    turned into '_' (LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_MOUNT_PREEMPT);
 *    '-' stays ("REXRAY_MODULES_DEFAULT-DOCKER_HOST"). Looked up at get
 *    time through the cfg's environment (a snapshot or the process env).
 *  - Keys are case-insensitive everywhere.
 *  - Empty values: a YAML null ("key:", "~", "null") is listed by
 *    cfg_children/cfg_foreach but unset for look-ups; an empty environment
 *    variable is unset (as in viper); a quoted '' in the file or "" given
 *    to cfg_set is a value (cfg_get/cfg_str return ""), which the typed
 *    getters treat as "use the default".
 *  - YAML: the first document only; anchors, aliases and merge keys ("<<",
 *    written keys win) are followed. Limits: a file of 1 MiB, a key of 1023
 *    bytes, a value of 64 KiB after expansion, 131072 nodes with aliases
 *    expanded; over a limit is an error with FILE:LINE:COL. "$$" is "$";
 *    a "$" not followed by a name, or an unclosed "${", stays as written.
 *
 * Scoped look-ups: cfg_lookup(cfg, scopes, key) tries, for each scope
 * prefix P in order, "P.key" and, when key starts with "libstorage.", also
 * "P.<key without libstorage.>"; then "key" itself. So with scopes
 * {"libstorage.server.services.vfs", "libstorage.server"} the key
 * "vfs.root" is looked for in libstorage.server.services.vfs.vfs.root,
 * libstorage.server.vfs.root, vfs.root; and the key
 * "libstorage.integration.volume.operations.mount.preempt" in
 * libstorage.server.services.vfs.integration.volume.operations.mount.preempt
 * (among others) before the root key. Each candidate is tried through all
 * layers (flags, env, file) before the next candidate.
 *
 * Legacy aliases: when a key and all its scoped candidates are unset, the
 * old name the key's row in config/keys.h gives (its alias) is tried at
 * the root: volume.mount.preempt, docker.size, linux.volume.rootpath, ...
 *
 * Typed getters take a default used when the key is unset; a set but bad
 * value is an error naming the key, the value and what was expected:
 *   "config: libstorage.integration.volume.operations.mount.preempt: invalid
 *    value 'maybe': expected a boolean (true or false)"
 * A YAML syntax error is reported as "config: FILE:LINE:COL: message".
 *
 * Thread-safety: a loaded cfg is read-only and may be shared by threads;
 * cfg_set and the loaders must not run concurrently with readers.
 */
#ifndef RR_CONFIG_H
#define RR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/keys.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;

/* A new empty cfg whose environment is the process environment (read at
 * get time). Returns NULL on OOM. */
struct cfg *cfg_new(void);
void cfg_free(struct cfg *c);

/* Use this environment (NULL-terminated "K=V" array, copied) instead of
 * the process's: for tests. NULL goes back to the process environment.
 * Returns 0 or -ENOMEM. */
int cfg_set_environ(struct cfg *c, char *const *envp);

/* Load one YAML file into the file layer (replacing it; on failure the
 * old layer stays). Returns 0, -ENOENT (message names the file), -EINVAL
 * (syntax: FILE:LINE:COL, 1-based), -EFBIG, another -errno of reading,
 * -ENOMEM. */
int cfg_load_file(struct cfg *c, const char *path, struct err *e);

/* Load YAML text (for tests and `-c -`); name is used in messages. */
int cfg_load_string(struct cfg *c, const char *name, const char *yaml, size_t len,
		    struct err *e);

/* The file look-up: explicit (must exist) or the defaults listed above;
 * none found is not an error (the file layer is then emptied). A default
 * file that exists but cannot be read or parsed is an error. $HOME is
 * read from the cfg's environment. The path loaded (or "") goes to
 * *ret_path when not NULL (static storage in the cfg). */
int cfg_load_default(struct cfg *c, const char *explicit_path, const struct paths *p,
		     const char **ret_path, struct err *e);

/* The flag layer: highest precedence. key is any case. 0, -ENOMEM, or
 * -EINVAL for a NULL key or value or a key longer than 1023 bytes. */
int cfg_set(struct cfg *c, const char *key, const char *value);

/* Raw value by the layers (no scopes, with aliases), NULL when unset.
 * The string is owned by the cfg (or the environment) and lives until the
 * cfg is changed or freed. */
const char *cfg_get(const struct cfg *c, const char *key);

/* Scoped value, as described above. scopes may be NULL; it is a
 * NULL-terminated array of prefixes. *ret_key, when not NULL, receives the
 * full key that matched (for messages; static storage, per thread), in
 * lower case; when nothing matched, the key asked for, lower-cased. */
const char *cfg_lookup(const struct cfg *c, const char *const *scopes, const char *key,
		       const char **ret_key);

/* Typed scoped getters. Return 0 (value or default in *out) or -EINVAL
 * (then *out is the default and e says why). cfg_str never fails. */
int cfg_str(const struct cfg *c, const char *const *scopes, const char *key, const char *def,
	    const char **out);
/* true/false/yes/no/on/off/1/0, any case */
int cfg_bool(const struct cfg *c, const char *const *scopes, const char *key, bool def,
	     bool *out, struct err *e);
/* decimal integer within [min, max] */
int cfg_int(const struct cfg *c, const char *const *scopes, const char *key, int64_t def,
	    int64_t min, int64_t max, int64_t *out, struct err *e);
/* Go-style durations: "30s", "1m", "500ms", "1h30m", "2h", "1.5s", units
 * ns us µs ms s m h; a bare number is seconds. Result in milliseconds,
 * non-negative; a part of a millisecond rounds up (1ns -> 1). */
int cfg_duration_ms(const struct cfg *c, const char *const *scopes, const char *key,
		    int64_t def_ms, int64_t *out, struct err *e);
/* octal file mode such as "0700" or "700" (<= 07777) */
int cfg_mode(const struct cfg *c, const char *const *scopes, const char *key, mode_t def,
	     mode_t *out, struct err *e);

/* The same getters keyed by a row of the table (config/keys.h): its name,
 * its default and its range come from the row, so the call site carries
 * neither. A key whose default the row marks as computed ("<lib>/loop")
 * is read with an *_or getter and the default the caller computed.
 * cfg_key_str gives NULL for a computed or absent default. The typed ones
 * fail with -EINVAL when the row's default does not parse (a table bug the
 * unit tests catch). Messages are those of the getters above. */
int cfg_key_str(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		const char **out);
int cfg_key_str_or(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		   const char *def, const char **out);
int cfg_key_bool(const struct cfg *c, const char *const *scopes, enum cfg_key_id id, bool *out,
		 struct err *e);
int cfg_key_int(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		int64_t *out, struct err *e);
int cfg_key_int_or(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		   int64_t def, int64_t *out, struct err *e);
int cfg_key_duration_ms(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
			int64_t *out, struct err *e);
int cfg_key_mode(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		 mode_t *out, struct err *e);
/* cfg_get of the row's name (not for patterns: see cfg_key_name). */
const char *cfg_key_get(const struct cfg *c, enum cfg_key_id id);
/* For a pattern row: its placeholder filled with arg ("<module>" -> m1).
 * A name that does not fit is unset (get) or -EINVAL (bool). */
const char *cfg_key_get_for(const struct cfg *c, enum cfg_key_id id, const char *arg);
int cfg_key_bool_for(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		     const char *arg, bool *out, struct err *e);

/* Which layer gives key at the root: "flag", "env", "file", "alias" (an
 * old name), or NULL when unset. Static strings. */
const char *cfg_source(const struct cfg *c, const char *key);

/* The direct child names of a map key present in the file or flag layers,
 * e.g. cfg_children(c, "libstorage.server.services") -> {"vfs", "loop"},
 * in file order, without duplicates. *ret_names is a malloc'd
 * NULL-terminated array of malloc'd strings; free with cfg_names_free.
 * Returns the count (>= 0) or -ENOMEM. */
int cfg_children(const struct cfg *c, const char *prefix, char ***ret_names);
void cfg_names_free(char **names);

/* Every key set in the file and flag layers, plus every environment
 * variable that starts with LIBSTORAGE_, REXRAY_, LINUX_, VFS_ or LOOP_,
 * as effective values, in key order: callback gets (key, value, env_name).
 * A variable becomes key "a.b" from "A_B" unless a listed key already
 * owns its name; empty variables are skipped; a null file key gets "".
 * Lists nothing on OOM. */
void cfg_foreach(const struct cfg *c,
		 void (*fn)(const char *key, const char *value, const char *env_name, void *arg),
		 void *arg);

/* config check: every key of the file layer against the table of keys.
 * A value of a known key that does not parse as its type is an error; a
 * key the table does not name is a warning (drivers' own options are
 * such keys, and a typo is one too); a legacy name is a note. fn gets
 * each problem in file order (the strings live during the call). Returns
 * the number of errors. */
enum cfg_severity { CFG_ERROR, CFG_WARNING, CFG_NOTE };
struct cfg_problem {
	enum cfg_severity severity;
	const char *file; /* the name the file was loaded under */
	int line, col;	  /* 1-based, of the value */
	const char *key;  /* lower case */
	int id;		  /* the row of config/keys.h, or -1 */
	const char *msg;
};
typedef void (*cfg_problem_fn)(void *arg, const struct cfg_problem *p);
int cfg_check(const struct cfg *c, cfg_problem_fn fn, void *arg);

/* Where the file layer sets key (any case): 0 with the file's name and
 * the 1-based line and column of the value, or -ENOENT. */
int cfg_file_position(const struct cfg *c, const char *key, const char **file, int *line,
		      int *col);

/*
 * The items of a list value, one per call: a YAML sequence's scalars joined
 * by "," (see above), or "a,b" text from a flag or the environment. *cursor
 * starts at the value (NULL is an empty list) and moves on; *item and *len
 * get the next item without the blanks (spaces, tabs) around it. Empty
 * items ("a,,b", a trailing ",") are skipped. Returns false when no item is
 * left. Pure: no allocation, any thread.
 */
bool cfg_list_next(const char **cursor, const char **item, size_t *len);

/* The environment variable name for a key ("a.b-c" -> "A_B-C") into buf. */
void cfg_env_name(const char *key, char *buf, size_t bufsz);

#endif
