/*
 * config: the YAML file, the environment and the flags as one flat map of
 * lower-cased dotted keys. See config.h for the contract.
 *
 * The file and flag layers are small hash maps (struct kvmap) that keep
 * insertion order, because cfg_children must answer in file order. The
 * environment is never copied into a map: it is read at get time, so a
 * variable changed between two calls is seen by the second.
 */
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libfyaml.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/names.h"

extern char **environ;

#define CFG_KEY_MAX	1024		/* bytes of a dotted key, with its NUL */
#define CFG_VALUE_MAX	(64 * 1024)	/* bytes of a value after $VAR expansion */
#define CFG_FILE_MAX	(1024 * 1024)	/* a config file larger than this is refused */
#define CFG_NODES_MAX	(128 * 1024)	/* YAML nodes visited, aliases included */
#define CFG_MERGE_DEPTH	64		/* merge keys inside merged mappings */
#define CFG_SHOWN_MAX	96		/* bytes of a bad value quoted in a message */

/* Environment variables cfg_foreach lists even when no key names them. */
static const char *const env_prefixes[] = { "LIBSTORAGE_", "REXRAY_", "LINUX_", "VFS_", "LOOP_" };

/* The key cfg_lookup matched last, per thread: readers share one cfg. */
static _Thread_local char matched_key[CFG_KEY_MAX];

/* ------------------------------------------------------------------ */
/* An insertion-ordered string map */

struct kv {
	char *key;	/* lower case */
	char *value;	/* NULL for a YAML null: listed, but unset for look-ups */
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
};

static char ascii_lower(char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static char ascii_upper(char ch)
{
	return (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
}

/* Copy key lower-cased into out. Returns false when it does not fit. */
static bool key_lower(char *out, size_t outsz, const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++) {
		if (i + 1 >= outsz)
			return false;
		out[i] = ascii_lower(key[i]);
	}
	out[i] = '\0';
	return true;
}

static size_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot holding key, or the free slot where it would go. */
static size_t kvmap_slot(const struct kvmap *m, const char *key, bool *found)
{
	size_t mask = m->nslot - 1;
	size_t i = hash_str(key) & mask;

	while (m->slot[i]) {
		if (strcmp(m->v[m->slot[i] - 1].key, key) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

static const struct kv *kvmap_find(const struct kvmap *m, const char *key)
{
	bool found;
	size_t i;

	if (!m->nslot)
		return NULL;
	i = kvmap_slot(m, key, &found);
	return found ? &m->v[m->slot[i] - 1] : NULL;
}

/* The value of key, NULL when absent or null. */
static const char *kvmap_value(const struct kvmap *m, const char *key)
{
	const struct kv *kv = kvmap_find(m, key);

	return kv ? kv->value : NULL;
}

/* Keep the table at most half full, so probing stays short and ends. */
static int kvmap_rehash(struct kvmap *m)
{
	size_t nslot = m->nslot ? m->nslot * 2 : 32;
	size_t *slot = calloc(nslot, sizeof(*slot));
	bool found;

	if (!slot)
		return -ENOMEM;
	free(m->slot);
	m->slot = slot;
	m->nslot = nslot;
	for (size_t i = 0; i < m->n; i++)
		m->slot[kvmap_slot(m, m->v[i].key, &found)] = i + 1;
	return 0;
}

static int kvmap_reserve(struct kvmap *m)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct kv *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	if ((m->n + 1) * 2 > m->nslot)
		return kvmap_rehash(m);
	return 0;
}

static int str_dup_or_null(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

/*
 * Set key (lower case already) to value (NULL = null). A weak put never
 * replaces an existing entry: that is how YAML merge keys ("<<") lose to
 * the keys written out. A replaced entry keeps its place in the order.
 */
static int kvmap_put(struct kvmap *m, const char *key, const char *value, bool weak)
{
	struct kv kv;
	bool found;
	size_t i;

	if (m->nslot) {
		i = kvmap_slot(m, key, &found);
		if (found) {
			struct kv *old = &m->v[m->slot[i] - 1];
			char *v;

			if (weak)
				return 0;
			if (str_dup_or_null(value, &v) < 0)
				return -ENOMEM;
			free(old->value);
			old->value = v;
			return 0;
		}
	}
	if (kvmap_reserve(m) < 0)
		return -ENOMEM;
	if (!(kv.key = strdup(key)) || str_dup_or_null(value, &kv.value) < 0) {
		free(kv.key);
		return -ENOMEM;
	}
	m->v[m->n++] = kv;
	m->slot[kvmap_slot(m, key, &found)] = m->n;
	return 0;
}

static void kvmap_clear(struct kvmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* The environment */

static void env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}

static char *const *env_list(const struct cfg *c)
{
	return c->env ? c->env : environ;
}

/* The variable's value from the cfg's environment; NULL when unset. */
static const char *env_get(const struct cfg *c, const char *name)
{
	size_t n = strlen(name);

	if (!c->env)
		return getenv(name);
	for (char **p = c->env; *p; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

/* Like env_get, but an empty variable is unset, as in viper: an exported
 * but empty REXRAY_PREEMPT must not hide the file's value. */
static const char *env_value(const struct cfg *c, const char *name)
{
	const char *v = env_get(c, name);

	return v && *v ? v : NULL;
}

void cfg_env_name(const char *key, char *buf, size_t bufsz)
{
	size_t i;

	if (!bufsz)
		return;
	for (i = 0; key[i] && i + 1 < bufsz; i++)
		buf[i] = key[i] == '.' ? '_' : ascii_upper(key[i]);
	buf[i] = '\0';
}

/* Does the variable name (not NUL-terminated) belong to key? */
static bool env_name_is(const char *key, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len && key[i]; i++)
		if (name[i] != (key[i] == '.' ? '_' : ascii_upper(key[i])))
			return false;
	return i == len && !key[i];
}

/* ------------------------------------------------------------------ */
/* cfg life cycle */

struct cfg *cfg_new(void)
{
	return calloc(1, sizeof(struct cfg));
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	kvmap_clear(&c->file);
	kvmap_clear(&c->flags);
	env_free(c->env);
	free(c);
}

/* NULL envp goes back to the process environment. */
int cfg_set_environ(struct cfg *c, char *const *envp)
{
	char **env = NULL;
	size_t n = 0;

	if (envp) {
		while (envp[n])
			n++;
		env = calloc(n + 1, sizeof(*env));
		if (!env)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			if (!(env[i] = strdup(envp[i]))) {
				env_free(env);
				return -ENOMEM;
			}
		}
	}
	env_free(c->env);
	c->env = env;
	return 0;
}

int cfg_set(struct cfg *c, const char *key, const char *value)
{
	char k[CFG_KEY_MAX];

	if (!key || !value || !key_lower(k, sizeof(k), key))
		return -EINVAL;
	return kvmap_put(&c->flags, k, value, false);
}

/* ------------------------------------------------------------------ */
/* $VAR expansion */

/* A value being built: a util/buf bounded by CFG_VALUE_MAX; past it the
 * callers say -E2BIG. */
static int sbuf_add(struct buf *b, const char *s, size_t n)
{
	int r = buf_add(b, s, n);

	return r == -EFBIG ? -E2BIG : r;
}

static bool is_name_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/*
 * s[*i] is '$': append what it stands for and move *i past it. "$$" is a
 * dollar; a "$" not followed by a name, and an unclosed or empty "${",
 * stay as written.
 */
static int expand_one(const struct cfg *c, const char *s, size_t len, size_t *i, struct buf *b)
{
	size_t start = *i + 1, end;
	char name[256];
	const char *v;

	if (start < len && s[start] == '$') {
		*i = start + 1;
		return sbuf_add(b, "$", 1);
	}
	if (start < len && s[start] == '{') {
		end = ++start;
		while (end < len && s[end] != '}')
			end++;
		if (end >= len || end == start) {
			*i += 1;
			return sbuf_add(b, "$", 1);
		}
		*i = end + 1;
	} else {
		for (end = start; end < len && is_name_char(s[end]); end++)
			;
		if (end == start) {
			*i += 1;
			return sbuf_add(b, "$", 1);
		}
		*i = end;
	}
	if (end - start >= sizeof(name))
		return 0;	/* no such variable can exist here */
	memcpy(name, s + start, end - start);
	name[end - start] = '\0';
	v = env_get(c, name);
	return v ? sbuf_add(b, v, strlen(v)) : 0;
}

/* Expand s[0..len) into a malloc'd string. Returns 0, -E2BIG or -ENOMEM. */
static int expand_vars(const struct cfg *c, const char *s, size_t len, char **ret)
{
	struct buf b = { .max = CFG_VALUE_MAX };
	size_t i = 0, run;
	int r = sbuf_add(&b, "", 0);

	while (r == 0 && i < len) {
		for (run = i; run < len && s[run] != '$'; run++)
			;
		r = sbuf_add(&b, s + i, run - i);
		i = run;
		if (r == 0 && i < len)
			r = expand_one(c, s, len, &i, &b);
	}
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*ret = b.data;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Flattening a YAML document */

struct flat {
	const struct cfg *c;	/* whose environment expands $VAR */
	struct kvmap *out;
	const char *name;	/* the file, for messages */
	struct err *e;
	size_t nodes;		/* visited, to bound alias expansion */
	/* mappings being flattened through merge keys: a merge of one of
	 * these would recurse forever (a mapping merging itself or an
	 * enclosing one, which libfyaml's path aliases make possible) */
	struct fy_node *merging[CFG_MERGE_DEPTH];
	int n_merging;
	char key[CFG_KEY_MAX];	/* the dotted key being built */
};

/* 0-based position of the first token in or under n, or 0:0. */
static void node_mark(struct fy_node *n, int *line, int *col)
{
	const struct fy_mark *m = NULL;
	void *it = NULL;

	*line = *col = 0;
	while (n && fy_node_get_type(n) != FYNT_SCALAR) {
		if (fy_node_get_type(n) == FYNT_MAPPING) {
			struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

			n = p ? fy_node_pair_key(p) : NULL;
		} else {
			n = fy_node_sequence_iterate(n, &it);
		}
		it = NULL;
	}
	if (n)
		m = fy_token_start_mark(fy_node_get_scalar_token(n));
	if (m) {
		*line = m->line;
		*col = m->column;
	}
}

static int flat_error(struct flat *f, struct fy_node *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "config: FILE:LINE:COL: what", 1-based like the parser's own errors. */
static int flat_error(struct flat *f, struct fy_node *n, int code, const char *fmt, ...)
{
	char what[ERR_MSG_MAX];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code == -ENOMEM)
		return err_set(f->e, code, "config: out of memory");
	node_mark(n, &line, &col);
	return err_set(f->e, code, "config: %s:%d:%d: %s", f->name, line + 1, col + 1, what);
}

static bool scalar_is_null(struct fy_node *n)
{
	size_t len;
	const char *s;

	if (fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(n, &len);
	if (!s || len == 0)
		return true;
	return (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Follow an alias to its anchored node; non-aliases pass through. */
static int deref(struct flat *f, struct fy_node **n)
{
	struct fy_node *target;

	const char *alias;

	if (!*n || !fy_node_is_alias(*n))
		return 0;
	/* An alias naming a path ('*' then "/a/0") is libfyaml's extension,
	 * not YAML, and can name an enclosing node (the root): refuse it */
	alias = fy_node_get_scalar0(*n);
	if (alias && strchr(alias, '/'))
		return flat_error(f, *n, -EINVAL, "alias '*%s': path aliases are not allowed",
				  alias);
	target = fy_node_resolve_alias(*n);
	if (!target)
		return flat_error(f, *n, -EINVAL, "alias '*%s' has no anchor",
				  fy_node_get_scalar0(*n) ? fy_node_get_scalar0(*n) : "");
	*n = target;
	return 0;
}

static int flat_put(struct flat *f, struct fy_node *n, const char *value, bool weak)
{
	if (kvmap_put(f->out, f->key, value, weak) < 0)
		return flat_error(f, n, -ENOMEM, "out of memory");
	return 0;
}

/* The expanded text of a non-null scalar into a malloc'd *ret. */
static int scalar_text(struct flat *f, struct fy_node *n, char **ret)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);
	int r = expand_vars(f->c, s ? s : "", s ? len : 0, ret);

	if (r == -E2BIG)
		return flat_error(f, n, -EINVAL, "value of '%s' is longer than %d bytes",
				  f->key, CFG_VALUE_MAX);
	if (r < 0)
		return flat_error(f, n, r, "out of memory");
	return 0;
}

static int flat_node(struct flat *f, struct fy_node *n, size_t klen, bool weak);

static int flat_scalar(struct flat *f, struct fy_node *n, bool weak)
{
	char *v;
	int r;

	if (scalar_is_null(n))
		return flat_put(f, n, NULL, weak);
	if ((r = scalar_text(f, n, &v)) < 0)
		return r;
	r = flat_put(f, n, v, weak);
	free(v);
	return r;
}

/* Append item's text to the "a,b,c" form of a sequence, if it is a scalar. */
static int join_item(struct flat *f, struct fy_node *item, struct buf *joined, bool *any)
{
	char *v;
	int r;

	if ((r = deref(f, &item)) < 0)
		return r;
	if (!item || fy_node_get_type(item) != FYNT_SCALAR || scalar_is_null(item))
		return 0;
	if ((r = scalar_text(f, item, &v)) < 0)
		return r;
	r = *any ? sbuf_add(joined, ",", 1) : 0;
	if (r == 0)
		r = sbuf_add(joined, v, strlen(v));
	free(v);
	*any = true;
	if (r == -E2BIG)
		return flat_error(f, item, -EINVAL, "value of '%s' is longer than %d bytes",
				  f->key, CFG_VALUE_MAX);
	return r < 0 ? flat_error(f, item, r, "out of memory") : 0;
}

/* key.0, key.1, ... and key = the scalar items joined by ","; a sequence
 * without scalar items leaves key null. */
static int flat_seq(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	struct buf joined = { .max = CFG_VALUE_MAX };
	struct fy_node *item;
	void *it = NULL;
	bool any = false;
	size_t i = 0;
	int r = 0;

	while (r == 0 && (item = fy_node_sequence_iterate(n, &it))) {
		int w = snprintf(f->key + klen, sizeof(f->key) - klen, ".%zu", i++);

		if (w < 0 || (size_t)w >= sizeof(f->key) - klen)
			r = flat_error(f, item, -EINVAL, "key is longer than %d bytes",
				       CFG_KEY_MAX - 1);
		else
			r = flat_node(f, item, klen + (size_t)w, weak);
		f->key[klen] = '\0';
		if (r == 0)
			r = join_item(f, item, &joined, &any);
	}
	if (r == 0)
		r = flat_put(f, n, any ? joined.data : NULL, weak);
	buf_release(&joined);
	return r;
}

static bool is_merge_key(struct fy_node *k)
{
	size_t len;
	const char *s;

	if (!k || fy_node_get_type(k) != FYNT_SCALAR || fy_node_get_style(k) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(k, &len);
	return s && len == 2 && s[0] == '<' && s[1] == '<';
}

/* Extend f->key by ".<k lower-cased>"; *ret_len is the new length. */
static int key_append(struct flat *f, struct fy_node *k, size_t klen, size_t *ret_len)
{
	const char *s = NULL;
	size_t len = 0, at = klen ? klen + 1 : 0;
	int r;

	if ((r = deref(f, &k)) < 0)
		return r;
	if (k && fy_node_get_type(k) != FYNT_SCALAR)
		return flat_error(f, k, -EINVAL, "a key must be a scalar");
	if (k && !scalar_is_null(k))
		s = fy_node_get_scalar(k, &len);
	if (!s || !len || memchr(s, '\0', len))
		return flat_error(f, k, -EINVAL, "empty or invalid key under '%s'", f->key);
	if (at + len >= sizeof(f->key))
		return flat_error(f, k, -EINVAL, "key is longer than %d bytes", CFG_KEY_MAX - 1);
	if (klen)
		f->key[klen] = '.';
	for (size_t i = 0; i < len; i++)
		f->key[at + i] = ascii_lower(s[i]);
	f->key[at + len] = '\0';
	*ret_len = at + len;
	return 0;
}

static int flat_map(struct flat *f, struct fy_node *n, size_t klen, bool weak);

/* Flatten a mapping a merge key names, refusing cycles. */
static int merge_map(struct flat *f, struct fy_node *m, size_t klen)
{
	int r;

	if (++f->nodes > CFG_NODES_MAX)
		return flat_error(f, m, -EINVAL, "more than %d nodes (aliases expanding?)",
				  CFG_NODES_MAX);
	for (int i = 0; i < f->n_merging; i++)
		if (f->merging[i] == m)
			return flat_error(f, m, -EINVAL, "merge key '<<' refers to an enclosing "
					  "mapping");
	if (f->n_merging == CFG_MERGE_DEPTH)
		return flat_error(f, m, -EINVAL, "merge keys nested deeper than %d",
				  CFG_MERGE_DEPTH);
	f->merging[f->n_merging++] = m;
	r = flat_map(f, m, klen, true);
	f->n_merging--;
	return r;
}

/* "<<: *anchor" or "<<: [*a, *b]": weak copies under the current key. */
static int flat_merge(struct flat *f, struct fy_node *v, size_t klen)
{
	struct fy_node *item;
	void *it = NULL;
	int r;

	if ((r = deref(f, &v)) < 0)
		return r;
	if (v && fy_node_get_type(v) == FYNT_MAPPING)
		return merge_map(f, v, klen);
	if (!v || fy_node_get_type(v) != FYNT_SEQUENCE)
		return flat_error(f, v, -EINVAL, "a merge key '<<' needs a mapping");
	while ((item = fy_node_sequence_iterate(v, &it))) {
		if ((r = deref(f, &item)) < 0)
			return r;
		if (!item || fy_node_get_type(item) != FYNT_MAPPING)
			return flat_error(f, item ? item : v, -EINVAL,
					  "a merge key '<<' needs a mapping");
		if ((r = merge_map(f, item, klen)) < 0)
			return r;
	}
	return 0;
}

/* A merge key inside mapping n: n counts as enclosing while its merge runs. */
static int flat_merge_from(struct flat *f, struct fy_node *n, struct fy_node *v, size_t klen)
{
	bool pushed = false;
	int r;

	for (int i = 0; i < f->n_merging; i++)
		pushed = pushed || f->merging[i] == n;
	if (!pushed) {
		if (f->n_merging == CFG_MERGE_DEPTH)
			return flat_error(f, n, -EINVAL, "merge keys nested deeper than %d",
					  CFG_MERGE_DEPTH);
		f->merging[f->n_merging++] = n;
	}
	r = flat_merge(f, v, klen);
	if (!pushed)
		f->n_merging--;
	return r;
}

/* An empty map still names its key, so cfg_children can see "vfs: {}". */
static int flat_map(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	struct fy_node_pair *p;
	void *it = NULL;
	size_t nlen = 0;
	int r = 0;

	if (fy_node_mapping_item_count(n) == 0)
		return klen ? flat_put(f, n, NULL, weak) : 0;
	while (r == 0 && (p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(p);

		if (is_merge_key(k))
			r = flat_merge_from(f, n, fy_node_pair_value(p), klen);
		else if ((r = key_append(f, k, klen, &nlen)) == 0)
			r = flat_node(f, fy_node_pair_value(p), nlen, weak);
		f->key[klen] = '\0';
	}
	return r;
}

static int flat_node(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	int r;

	if (++f->nodes > CFG_NODES_MAX)
		return flat_error(f, n, -EINVAL, "more than %d nodes (aliases expanding?)",
				  CFG_NODES_MAX);
	if ((r = deref(f, &n)) < 0)
		return r;
	if (!n)
		return flat_put(f, n, NULL, weak);
	switch (fy_node_get_type(n)) {
	case FYNT_SEQUENCE:
		return flat_seq(f, n, klen, weak);
	case FYNT_MAPPING:
		return flat_map(f, n, klen, weak);
	default:
		return flat_scalar(f, n, weak);
	}
}

/* The document's root must be a mapping; an empty document is no keys. */
static int flat_document(struct flat *f, struct fy_document *doc)
{
	struct fy_node *root = doc ? fy_document_root(doc) : NULL;

	f->key[0] = '\0';
	if (!root || (fy_node_get_type(root) == FYNT_SCALAR && scalar_is_null(root)))
		return 0;
	if (fy_node_get_type(root) != FYNT_MAPPING)
		return err_set(f->e, -EINVAL, "config: %s: the top level is not a mapping",
			       f->name);
	return flat_map(f, root, 0, false);
}

/* ------------------------------------------------------------------ */
/* Parsing */

/* libfyaml's text that is not a collected error, kept for the message
 * instead of being printed. */
struct diag_text {
	char msg[200];
};

static void diag_capture(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	struct diag_text *t = user;

	(void)diag;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (len)
		name_sanitise(t->msg, sizeof(t->msg), buf, len);
}

static int syntax_error(struct fy_diag *diag, const struct diag_text *t, const char *name,
			struct err *e)
{
	struct fy_diag_error *de;
	void *it = NULL;

	while ((de = fy_diag_errors_iterate(diag, &it)))
		if (de->type >= FYET_ERROR)
			return err_set(e, -EINVAL, "config: %s:%d:%d: %s", name, de->line,
				       de->column, de->msg ? de->msg : "syntax error");
	return err_set(e, -EINVAL, "config: %s: %s", name, t->msg[0] ? t->msg : "cannot parse YAML");
}

static struct fy_diag *diag_new(struct diag_text *t)
{
	struct fy_diag_cfg dc;
	struct fy_diag *diag;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = diag_capture;
	dc.user = t;
	dc.colorize = false;
	diag = fy_diag_create(&dc);
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	return diag;
}

/*
 * The code point of the well-formed UTF-8 sequence at t[0..avail) in *cp
 * and its length, or 0 if it is not well formed (overlongs, surrogates,
 * beyond U+10FFFF, truncated).
 */
static size_t utf8_decode(const unsigned char *t, size_t avail, unsigned *cp)
{
	static const unsigned min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = t[0] < 0x80 ? 1 : (t[0] >> 5) == 6 ? 2 : (t[0] >> 4) == 14 ? 3 :
		   (t[0] >> 3) == 30 ? 4 : 0;
	unsigned v;

	if (n == 0 || n > avail)
		return 0;
	v = n == 1 ? t[0] : t[0] & (0x7f >> n);
	for (size_t k = 1; k < n; k++) {
		if ((t[k] >> 6) != 2)
			return 0;
		v = v << 6 | (t[k] & 0x3f);
	}
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Characters YAML 1.2 does not allow in a stream (its c-printable set):
 * C0 controls but TAB, LF, CR; DEL; C1 controls but NEL; U+FFFE/U+FFFF. */
static bool yaml_unprintable(unsigned cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
	       (cp >= 0x7f && cp <= 0x9f && cp != 0x85) || cp == 0xfffe || cp == 0xffff;
}

/*
 * YAML is Unicode text, and a config file needs no directives: refuse
 * invalid UTF-8, characters YAML does not allow and lines starting with
 * '%', naming line and column. libfyaml 0.7.12 must never see them: it
 * loops forever on a directive line with bytes that are not UTF-8
 * (libfyaml#101) and frees a simple key twice when the stream stops at
 * a control byte (tests/fuzz/crashes/config/README.md, 2 and 4).
 */
static int text_check(const char *t, size_t len, const char *name, struct err *e)
{
	int line = 1, col = 1;

	for (size_t i = 0; i < len;) {
		unsigned cp = 0;
		size_t n = utf8_decode((const unsigned char *)t + i, len - i, &cp);

		if (n == 0)
			return err_set(e, -EINVAL, "config: %s:%d:%d: invalid UTF-8", name, line, col);
		if (yaml_unprintable(cp))
			return err_set(e, -EINVAL, "config: %s:%d:%d: control character U+%04X "
				       "is not allowed in YAML", name, line, col, cp);
		if (cp == '%' && col == 1)
			return err_set(e, -EINVAL, "config: %s:%d:%d: YAML directives ('%%') are "
				       "not allowed in a config file", name, line, col);
		if (cp == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
}

/* Parse the first document of yaml and flatten it into out. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool ends_token(const char *t, size_t i, size_t end)
{
	return i >= end || is_blank(t[i]) || t[i] == '\r' || t[i] == '\n';
}

/* Does the line t[b..end) (comments and trailing blanks aside) end with a
 * block scalar header ('|' or '>' and its indicators)? */
static bool opens_block_scalar(const char *t, size_t b, size_t end)
{
	size_t i = b, last;

	for (bool quoted = false; i < end; i++) {
		if (t[i] == '\'' || t[i] == '"')
			quoted = !quoted;
		else if (!quoted && t[i] == '#' && (i == b || is_blank(t[i - 1])))
			break;
	}
	last = i;
	while (last > b && (is_blank(t[last - 1]) || t[last - 1] == '\r'))
		last--;
	while (last > b && (t[last - 1] == '-' || t[last - 1] == '+' ||
			    (t[last - 1] >= '1' && t[last - 1] <= '9')))
		last--;
	return last > b && (t[last - 1] == '|' || t[last - 1] == '>') &&
	       (last - 1 == b || is_blank(t[last - 2]));
}

/*
 * Is t[i], a '?', the explicit key indicator? It is when it starts a token
 * (line start, or after a blank or a flow or block indicator) and a blank
 * or the line's end follows.
 */
static bool key_indicator(const char *t, size_t b, size_t i, size_t end)
{
	return (i == b || strchr(" \t-:,[{", t[i - 1])) && ends_token(t, i + 1, end);
}

/*
 * Refuse explicit keys ('?'), wherever they stand outside quotes, comments
 * and block scalars: a config file needs only plain keys, and libfyaml
 * 0.7.12 crashes in fy_parser_destroy on some of them ("? e:<TAB>-",
 * ": ? e:<TAB>-"; crashes/config README, 6). Lines inside a block scalar
 * ('|', '>') are text, not structure, and are skipped.
 */
static int explicit_key_check(const char *t, size_t len, const char *name, struct err *e)
{
	long scalar_indent = -1; /* inside a block scalar opened at this indent */
	int line = 1;

	for (size_t b = 0; b < len; line++) {
		size_t end = b, ind = b;
		char quote = 0;

		while (end < len && t[end] != '\n')
			end++;
		while (ind < end && t[ind] == ' ')
			ind++;
		if (scalar_indent >= 0 && (ind == end || (long)(ind - b) > scalar_indent)) {
			b = end + 1;
			continue;
		}
		scalar_indent = -1;
		for (size_t i = ind; i < end; i++) {
			if (quote) {
				if (t[i] == quote)
					quote = 0;
			} else if (t[i] == '\'' || t[i] == '"') {
				quote = t[i];
			} else if (t[i] == '#' && (i == b || is_blank(t[i - 1]))) {
				break;
			} else if (t[i] == '?' && key_indicator(t, b, i, end)) {
				return err_set(e, -EINVAL, "config: %s:%d:%zu: explicit keys ('?') are "
					       "not allowed in a config file", name, line, i - b + 1);
			}
		}
		if (opens_block_scalar(t, b, end))
			scalar_indent = (long)(ind - b);
		b = end + 1;
	}
	return 0;
}

static int parse_into(const struct cfg *c, const char *name, const char *yaml, size_t len,
		      struct kvmap *out, struct err *e)
{
	struct diag_text text = { "" };
	struct fy_parse_cfg pc = { .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG };
	struct flat *f = NULL;
	struct fy_document *doc = NULL;
	struct fy_parser *fyp = NULL;
	char *copy = NULL;
	int r = -ENOMEM;

	if (!(pc.diag = diag_new(&text)) || !(fyp = fy_parser_create(&pc)) ||
	    !(f = calloc(1, sizeof(*f))))
		goto oom;
	if ((r = text_check(yaml, len, name, e)) < 0 ||
	    (r = explicit_key_check(yaml, len, name, e)) < 0)
		goto out;
	/* libfyaml reads some tokens with strtol, past len when the text is
	 * not NUL-terminated (crashes/config README, 5): give it a copy */
	if (!(copy = malloc(len + 1)))
		goto oom;
	memcpy(copy, yaml, len);
	copy[len] = '\0';
	r = -ENOMEM;
	if (fy_parser_set_string(fyp, copy, len) < 0)
		goto oom;
	doc = fy_parse_load_document(fyp);
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(pc.diag)) {
		r = syntax_error(pc.diag, &text, name, e);
		goto out;
	}
	*f = (struct flat){ .c = c, .out = out, .name = name, .e = e };
	r = flat_document(f, doc);
	goto out;
oom:
	r = err_set(e, -ENOMEM, "config: %s: out of memory", name);
out:
	if (doc)
		fy_parse_document_destroy(fyp, doc);
	if (fyp)
		fy_parser_destroy(fyp);
	if (pc.diag)
		fy_diag_destroy(pc.diag);
	free(copy);
	free(f);
	return r;
}

int cfg_load_string(struct cfg *c, const char *name, const char *yaml, size_t len,
		    struct err *e)
{
	struct kvmap m = { 0 };
	int r = 0;

	if (!name)
		name = "<string>";
	if (len)
		r = parse_into(c, name, yaml, len, &m, e);
	if (r < 0) {
		kvmap_clear(&m);
		return r;
	}
	kvmap_clear(&c->file);
	c->file = m;
	return 0;
}

int cfg_load_file(struct cfg *c, const char *path, struct err *e)
{
	char *buf;
	size_t len;
	int r;

	r = fs_read_file(path, CFG_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return err_set(e, r, "config: %s: no such file", path);
	if (r == -EFBIG)
		return err_set(e, r, "config: %s: larger than %d bytes", path, CFG_FILE_MAX);
	if (r < 0)
		return err_set(e, r, "config: %s: %s", path, strerror(-r));
	r = cfg_load_string(c, path, buf, len, e);
	free(buf);
	return r;
}

/* Load path if it exists. Returns 1 when loaded, 0 when absent, or < 0. */
static int try_load(struct cfg *c, const char *path, struct err *e)
{
	int r = cfg_load_file(c, path, e);

	if (r == -ENOENT || r == -ENOTDIR) {
		err_clear(e);
		return 0;
	}
	if (r < 0)
		return r;
	snprintf(c->path, sizeof(c->path), "%s", path);
	return 1;
}

/* $HOME comes from the cfg's environment, like every $VAR. */
int cfg_load_default(struct cfg *c, const char *explicit_path, const struct paths *p,
		     const char **ret_path, struct err *e)
{
	char cand[PATH_MAX];
	const char *home = env_value(c, "HOME");
	int r = 0;

	c->path[0] = '\0';
	if (explicit_path) {
		r = cfg_load_file(c, explicit_path, e);
		if (r == 0)
			snprintf(c->path, sizeof(c->path), "%s", explicit_path);
	} else {
		if (p && path_join(cand, sizeof(cand), p->etc, "config.yml") == 0)
			r = try_load(c, cand, e);
		if (r == 0 && home &&
		    snprintf(cand, sizeof(cand), "%s/.rexray/config.yml", home) < (int)sizeof(cand))
			r = try_load(c, cand, e);
		if (r == 0)
			kvmap_clear(&c->file);	/* no file: the defaults alone */
	}
	if (ret_path)
		*ret_path = c->path;
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------ */
/* Look-ups */

/* One lower-case key through flags, environment, file. */
static const char *layers_get(const struct cfg *c, const char *key)
{
	char name[CFG_KEY_MAX];
	const char *v = kvmap_value(&c->flags, key);

	if (v)
		return v;
	cfg_env_name(key, name, sizeof(name));
	if ((v = env_value(c, name)))
		return v;
	return kvmap_value(&c->file, key);
}

/* "prefix.key" (or key alone) through the layers; records the match. */
static const char *try_key(const struct cfg *c, const char *prefix, const char *key)
{
	char full[CFG_KEY_MAX];
	const char *v;
	int n;

	if (prefix)
		n = snprintf(full, sizeof(full), "%s.%s", prefix, key);
	else
		n = snprintf(full, sizeof(full), "%s", key);
	if (n < 0 || (size_t)n >= sizeof(full) || !key_lower(full, sizeof(full), full))
		return NULL;
	v = layers_get(c, full);
	if (v)
		memcpy(matched_key, full, (size_t)n + 1);
	return v;
}

/* key (lower case) at the root, then the old names it replaced. */
static const char *try_root(const struct cfg *c, const char *key)
{
	const char *v = try_key(c, NULL, key);

	for (size_t i = 0; !v && i < CFGK_COUNT; i++)
		if (cfg_keys[i].alias && strcasecmp(key, cfg_keys[i].name) == 0)
			v = try_key(c, NULL, cfg_keys[i].alias);
	return v;
}

const char *cfg_get(const struct cfg *c, const char *key)
{
	char k[CFG_KEY_MAX];

	if (!key_lower(k, sizeof(k), key))
		return NULL;
	return try_root(c, k);
}

const char *cfg_lookup(const struct cfg *c, const char *const *scopes, const char *key,
		       const char **ret_key)
{
	static const char ls[] = "libstorage.";
	char k[CFG_KEY_MAX];
	const char *v = NULL;

	if (!key_lower(k, sizeof(k), key)) {
		snprintf(matched_key, sizeof(matched_key), "%s", key);
		goto out;
	}
	snprintf(matched_key, sizeof(matched_key), "%s", k);
	for (size_t i = 0; !v && scopes && scopes[i]; i++) {
		v = try_key(c, scopes[i], k);
		if (!v && strncmp(k, ls, sizeof(ls) - 1) == 0 && k[sizeof(ls) - 1])
			v = try_key(c, scopes[i], k + sizeof(ls) - 1);
	}
	if (!v)
		v = try_root(c, k);
out:
	if (ret_key)
		*ret_key = matched_key;
	return v;
}

/* ------------------------------------------------------------------ */
/* Typed getters */

static int bad_value(struct err *e, const char *key, const char *v, const char *what)
{
	char shown[CFG_SHOWN_MAX];

	name_sanitise(shown, sizeof(shown), v, strlen(v));
	return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected %s", key, shown, what);
}

/* A set, non-empty value for the typed getters: "" means the default. */
static const char *typed_lookup(const struct cfg *c, const char *const *scopes, const char *key,
				const char **ret_key)
{
	const char *v = cfg_lookup(c, scopes, key, ret_key);

	return v && *v ? v : NULL;
}

int cfg_str(const struct cfg *c, const char *const *scopes, const char *key, const char *def,
	    const char **out)
{
	const char *v = cfg_lookup(c, scopes, key, NULL);

	*out = v ? v : def;
	return 0;
}

static bool word_is(const char *v, const char *word)
{
	for (; *v && *word; v++, word++)
		if (ascii_lower(*v) != *word)
			return false;
	return !*v && !*word;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (word_is(v, yes[i]) || word_is(v, no[i])) {
			*out = word_is(v, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

int cfg_bool(const struct cfg *c, const char *const *scopes, const char *key, bool def,
	     bool *out, struct err *e)
{
	const char *k, *v = typed_lookup(c, scopes, key, &k);

	*out = def;
	if (v && parse_bool(v, out) < 0)
		return bad_value(e, k, v, "a boolean (true or false)");
	return 0;
}

/* Strict decimal: optional sign, digits, nothing else (no blanks). */
static int parse_int(const char *v, int64_t *out)
{
	const char *p = v + (*v == '+' || *v == '-');
	char *end;
	long long n;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = n;
	return 0;
}

int cfg_int(const struct cfg *c, const char *const *scopes, const char *key, int64_t def,
	    int64_t min, int64_t max, int64_t *out, struct err *e)
{
	const char *k, *v = typed_lookup(c, scopes, key, &k);
	char what[96];
	int64_t n;

	*out = def;
	if (!v)
		return 0;
	if (parse_int(v, &n) < 0 || n < min || n > max) {
		snprintf(what, sizeof(what), "an integer from %" PRId64 " to %" PRId64, min, max);
		return bad_value(e, k, v, what);
	}
	*out = n;
	return 0;
}

static const struct duration_unit {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },	/* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 },	/* U+03BC Greek mu */
	{ "ms", 1000000 },
	{ "s", 1000000000ULL },
	{ "m", 60000000000ULL },
	{ "h", 3600000000000ULL },
};

/* The unit at *p (up to the next digit or '.'); 0 when unknown. */
static uint64_t duration_unit(const char **p)
{
	const char *s = *p;
	size_t len = 0;

	while (s[len] && s[len] != '.' && (s[len] < '0' || s[len] > '9'))
		len++;
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strlen(duration_units[i].name) == len &&
		    memcmp(duration_units[i].name, s, len) == 0) {
			*p = s + len;
			return duration_units[i].ns;
		}
	}
	return 0;
}

/* Digits at *p into *v (false on overflow); *count gets how many. */
static bool duration_digits(const char **p, uint64_t *v, uint64_t *scale, int *count)
{
	for (*count = 0; **p >= '0' && **p <= '9'; (*p)++, (*count)++) {
		unsigned d = (unsigned)(**p - '0');

		if (scale) {
			/* fraction digits past 1e18 cannot matter: drop them */
			if (*scale < 1000000000000000000ULL) {
				*v = *v * 10 + d;
				*scale *= 10;
			}
			continue;
		}
		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
	}
	return true;
}

/* One "1.5h" component into *ns. bare: a number alone means seconds. */
static int duration_part(const char **p, bool bare, uint64_t *ns)
{
	uint64_t v = 0, frac = 0, scale = 1, unit;
	int nint, nfrac = 0;

	if (!duration_digits(p, &v, NULL, &nint))
		return -ERANGE;
	if (**p == '.') {
		(*p)++;
		duration_digits(p, &frac, &scale, &nfrac);
	}
	if (nint + nfrac == 0)
		return -EINVAL;
	unit = (bare && !**p) ? 1000000000ULL : duration_unit(p);
	if (!unit)
		return -EINVAL;
	if (v > (uint64_t)INT64_MAX / unit)
		return -ERANGE;
	v *= unit;
	v += (uint64_t)((double)frac * ((double)unit / (double)scale));
	if (v > (uint64_t)INT64_MAX)
		return -ERANGE;
	*ns = v;
	return 0;
}

/* Go's time.ParseDuration without negative values, plus bare seconds.
 * Parts of a millisecond round up, so a tiny timeout never becomes 0. */
static int parse_duration_ms(const char *s, int64_t *out)
{
	const char *p = s + (*s == '+');
	uint64_t total = 0, ns;
	bool first = true;
	int r;

	if (!*p)
		return -EINVAL;
	while (*p) {
		if ((r = duration_part(&p, first, &ns)) < 0)
			return r;
		if (ns > (uint64_t)INT64_MAX - total)
			return -ERANGE;
		total += ns;
		first = false;
	}
	*out = (int64_t)(total / 1000000 + (total % 1000000 != 0));
	return 0;
}

int cfg_duration_ms(const struct cfg *c, const char *const *scopes, const char *key,
		    int64_t def_ms, int64_t *out, struct err *e)
{
	const char *k, *v = typed_lookup(c, scopes, key, &k);

	*out = def_ms;
	if (v && parse_duration_ms(v, out) < 0) {
		*out = def_ms;
		return bad_value(e, k, v, "a duration such as 30s, 1m or 500ms");
	}
	return 0;
}

static int parse_mode(const char *v, mode_t *out)
{
	unsigned m = 0;

	if (!*v)
		return -EINVAL;
	for (; *v; v++) {
		if (*v < '0' || *v > '7')
			return -EINVAL;
		m = m * 8 + (unsigned)(*v - '0');
		if (m > 07777)
			return -EINVAL;
	}
	*out = (mode_t)m;
	return 0;
}

int cfg_mode(const struct cfg *c, const char *const *scopes, const char *key, mode_t def,
	     mode_t *out, struct err *e)
{
	const char *k, *v = typed_lookup(c, scopes, key, &k);

	*out = def;
	if (v && parse_mode(v, out) < 0)
		return bad_value(e, k, v, "an octal file mode such as 0700");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Getters keyed by the table (config/keys.h) */

/* The table's default of a typed key: a computed one ("<lib>/...") or one
 * that does not parse is the table's bug (tests/unit/test_keys.c). */
static int bad_default(const struct cfg_key *k, struct err *e)
{
	return err_set(e, -EINVAL, "config: %s: the default '%s' is not usable here", k->name,
		       k->def ? k->def : "(none)");
}

int cfg_key_str(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		const char **out)
{
	const struct cfg_key *k = &cfg_keys[id];

	return cfg_str(c, scopes, k->name, cfg_key_def_computed(k) ? NULL : k->def, out);
}

int cfg_key_str_or(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		   const char *def, const char **out)
{
	return cfg_str(c, scopes, cfg_keys[id].name, def, out);
}

const char *cfg_key_get(const struct cfg *c, enum cfg_key_id id)
{
	return cfg_get(c, cfg_keys[id].name);
}

const char *cfg_key_get_for(const struct cfg *c, enum cfg_key_id id, const char *arg)
{
	char key[CFG_KEY_MAX];

	return cfg_key_name(id, arg, key, sizeof(key)) < 0 ? NULL : cfg_get(c, key);
}

int cfg_key_bool_for(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		     const char *arg, bool *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	char key[CFG_KEY_MAX];
	bool def = false;

	if (!k->def || parse_bool(k->def, &def) < 0)
		return bad_default(k, e);
	if (cfg_key_name(id, arg, key, sizeof(key)) < 0) {
		*out = def;
		return err_set(e, -EINVAL, "config: %s: the key is too long", k->name);
	}
	return cfg_bool(c, scopes, key, def, out, e);
}

int cfg_key_bool(const struct cfg *c, const char *const *scopes, enum cfg_key_id id, bool *out,
		 struct err *e)
{
	return cfg_key_bool_for(c, scopes, id, NULL, out, e);
}

int cfg_key_int_or(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		   int64_t def, int64_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];

	return cfg_int(c, scopes, k->name, def, k->min, k->max, out, e);
}

int cfg_key_int(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		int64_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	int64_t def = 0;

	if (!k->def || parse_int(k->def, &def) < 0)
		return bad_default(k, e);
	return cfg_key_int_or(c, scopes, id, def, out, e);
}

int cfg_key_duration_ms(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
			int64_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	int64_t def = 0;

	if (!k->def || parse_duration_ms(k->def, &def) < 0)
		return bad_default(k, e);
	return cfg_duration_ms(c, scopes, k->name, def, out, e);
}

int cfg_key_mode(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		 mode_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	mode_t def = 0;

	if (!k->def || parse_mode(k->def, &def) < 0)
		return bad_default(k, e);
	return cfg_mode(c, scopes, k->name, def, out, e);
}

const char *cfg_source(const struct cfg *c, const char *key)
{
	char k[CFG_KEY_MAX], name[CFG_KEY_MAX];

	if (!key_lower(k, sizeof(k), key))
		return NULL;
	if (kvmap_value(&c->flags, k))
		return "flag";
	cfg_env_name(k, name, sizeof(name));
	if (env_value(c, name))
		return "env";
	if (kvmap_value(&c->file, k))
		return "file";
	return try_root(c, k) ? "alias" : NULL;
}

/* ------------------------------------------------------------------ */
/* Listing */

void cfg_names_free(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

/* The child of prefix (plen bytes, lower case) in key, or NULL; *len. */
static const char *child_of(const char *key, const char *prefix, size_t plen, size_t *len)
{
	const char *s = key, *dot;

	if (plen) {
		if (strncmp(key, prefix, plen) != 0 || key[plen] != '.')
			return NULL;
		s = key + plen + 1;
	}
	dot = strchr(s, '.');
	*len = dot ? (size_t)(dot - s) : strlen(s);
	return *len ? s : NULL;
}

static bool names_have(char **names, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return true;
	return false;
}

/* Add the children found in m to names (room for all of m's keys). */
static int children_add(const struct kvmap *m, const char *prefix, char **names, size_t *n)
{
	size_t plen = strlen(prefix), len;
	const char *s;

	for (size_t i = 0; i < m->n; i++) {
		if (!(s = child_of(m->v[i].key, prefix, plen, &len)) || names_have(names, *n, s, len))
			continue;
		if (!(names[*n] = strndup(s, len)))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

int cfg_children(const struct cfg *c, const char *prefix, char ***ret_names)
{
	char p[CFG_KEY_MAX];
	char **names;
	size_t n = 0;

	*ret_names = NULL;
	if (!key_lower(p, sizeof(p), prefix ? prefix : ""))
		return 0;
	names = calloc(c->file.n + c->flags.n + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	if (children_add(&c->file, p, names, &n) < 0 ||
	    children_add(&c->flags, p, names, &n) < 0) {
		cfg_names_free(names);
		return -ENOMEM;
	}
	*ret_names = names;
	return (int)n;
}

struct fe_item {
	const char *key;
	char *own_key;		/* set for keys made from a variable's name */
	const char *var;	/* that variable, "NAME=VALUE", or NULL */
	size_t var_len;		/* bytes of NAME */
	int rank;		/* file and flags (0) before variables (1) */
};

static int fe_cmp(const void *a, const void *b)
{
	const struct fe_item *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : x->rank - y->rank;
}

static bool env_has_prefix(const char *var)
{
	for (size_t i = 0; i < sizeof(env_prefixes) / sizeof(env_prefixes[0]); i++)
		if (strncmp(var, env_prefixes[i], strlen(env_prefixes[i])) == 0)
			return true;
	return false;
}

/* Is the variable already the env name of a file or flag key? */
static bool env_is_known(const struct fe_item *items, size_t n, const char *var, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (env_name_is(items[i].key, var, len))
			return true;
	return false;
}

/* A variable "LIBSTORAGE_X_Y=v" as key "libstorage.x.y", when it adds one. */
static int fe_add_var(struct fe_item *items, size_t nkeys, size_t *n, const char *var)
{
	const char *eq = strchr(var, '=');
	size_t len;
	char *key;

	if (!eq || !eq[1] || !env_has_prefix(var))
		return 0;
	len = (size_t)(eq - var);
	if (env_is_known(items, nkeys, var, len))
		return 0;
	if (!(key = strndup(var, len)))
		return -ENOMEM;
	for (char *k = key; *k; k++)
		*k = *k == '_' ? '.' : ascii_lower(*k);
	items[(*n)++] = (struct fe_item){ key, key, var, len, 1 };
	return 0;
}

static size_t fe_collect_keys(const struct cfg *c, struct fe_item *items)
{
	size_t n = 0;

	for (size_t i = 0; i < c->file.n; i++)
		items[n++] = (struct fe_item){ .key = c->file.v[i].key };
	for (size_t i = 0; i < c->flags.n; i++)
		items[n++] = (struct fe_item){ .key = c->flags.v[i].key };
	return n;
}

static void fe_emit(const struct cfg *c, const struct fe_item *it,
		    void (*fn)(const char *, const char *, const char *, void *), void *arg)
{
	char name[CFG_KEY_MAX];
	const char *v;

	if (it->var) {
		snprintf(name, sizeof(name), "%.*s", (int)it->var_len, it->var);
		v = it->var + it->var_len + 1;
	} else {
		cfg_env_name(it->key, name, sizeof(name));
		v = cfg_get(c, it->key);
	}
	fn(it->key, v ? v : "", name, arg);
}

/* On OOM nothing is listed: there is no way to report it here. */
void cfg_foreach(const struct cfg *c,
		 void (*fn)(const char *key, const char *value, const char *env_name, void *arg),
		 void *arg)
{
	char *const *env = env_list(c);
	size_t nenv = 0, nkeys, n;
	struct fe_item *items;

	while (env && env[nenv])
		nenv++;
	items = calloc(c->file.n + c->flags.n + nenv + 1, sizeof(*items));
	if (!items)
		return;
	n = nkeys = fe_collect_keys(c, items);
	for (size_t i = 0; i < nenv; i++)
		if (fe_add_var(items, nkeys, &n, env[i]) < 0)
			goto out;
	qsort(items, n, sizeof(*items), fe_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(items[i].key, items[i - 1].key) != 0)
			fe_emit(c, &items[i], fn, arg);
out:
	for (size_t i = 0; i < n; i++)
		free(items[i].own_key);
	free(items);
}
