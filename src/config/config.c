/*
 * config: the YAML file, the environment and the flags as one flat map of
 * lower-cased dotted keys. See config.h for the contract.
 *
 * The file and flag layers are small hash maps (struct kvmap) that keep
 * insertion order, because cfg_children must answer in file order. The
 * environment is never copied into a map: it is read at get time, so a
 * variable changed between two calls is seen by the second. yaml.c turns
 * the file's text into the file layer.
 */
#include "config/config.h"
#include "config/config_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


#include "util/fs.h"
#include "util/names.h"
#include "util/strv.h"

extern char **environ;


/* Environment variables cfg_foreach lists even when no key names them. */
static const char *const env_prefixes[] = { "LIBSTORAGE_", "REXRAY_", "LINUX_", "VFS_", "LOOP_" };

/* The key cfg_lookup matched last, per thread: readers share one cfg. */
static _Thread_local char matched_key[CFG_KEY_MAX];

/* ------------------------------------------------------------------ */
/* An insertion-ordered string map */

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
static int kvmap_put(struct kvmap *m, const char *key, const char *value, bool weak, int line,
		     int col)
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
			old->line = line;
			old->col = col;
			return 0;
		}
	}
	if (kvmap_reserve(m) < 0)
		return -ENOMEM;
	kv.line = line;
	kv.col = col;
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
	return kvmap_put(&c->flags, k, value, false, 0, 0);
}

/* yaml.c's target: the new file layer m, and c's environment */
struct load_target {
	const struct cfg *c;
	struct kvmap *m;
};

static int load_put(void *arg, const char *key, const char *value, bool weak, int line, int col)
{
	struct load_target *lt = arg;

	return kvmap_put(lt->m, key, value, weak, line, col);
}

static const char *load_env(void *arg, const char *name)
{
	struct load_target *lt = arg;

	return env_get(lt->c, name);
}

int cfg_load_string(struct cfg *c, const char *name, const char *yaml, size_t len,
		    struct err *e)
{
	struct kvmap m = { 0 };
	struct load_target lt = { c, &m };
	const struct cfgi_target t = { load_put, load_env, &lt };
	int r = 0;

	if (!name)
		name = "<string>";
	if (len)
		r = cfgi_parse_into(&t, name, yaml, len, e);
	if (r < 0) {
		kvmap_clear(&m);
		return r;
	}
	kvmap_clear(&c->file);
	c->file = m;
	snprintf(c->file_name, sizeof(c->file_name), "%s", name);
	return 0;
}

const struct kv *cfgi_file_entry(const struct cfg *c, const char *key)
{
	return kvmap_find(&c->file, key);
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

int cfgi_parse_bool(const char *v, bool *out)
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
	if (v && cfgi_parse_bool(v, out) < 0)
		return bad_value(e, k, v, "a boolean (true or false)");
	return 0;
}

/* Strict decimal: optional sign, digits, nothing else (no blanks). */
int cfgi_parse_int(const char *v, int64_t *out)
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
	if (cfgi_parse_int(v, &n) < 0 || n < min || n > max) {
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
int cfgi_parse_duration_ms(const char *s, int64_t *out)
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
	if (v && cfgi_parse_duration_ms(v, out) < 0) {
		*out = def_ms;
		return bad_value(e, k, v, "a duration such as 30s, 1m or 500ms");
	}
	return 0;
}

int cfgi_parse_mode(const char *v, mode_t *out)
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
	if (v && cfgi_parse_mode(v, out) < 0)
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

	if (!k->def || cfgi_parse_bool(k->def, &def) < 0)
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

	if (!k->def || cfgi_parse_int(k->def, &def) < 0)
		return bad_default(k, e);
	return cfg_key_int_or(c, scopes, id, def, out, e);
}

int cfg_key_duration_ms(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
			int64_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	int64_t def = 0;

	if (!k->def || cfgi_parse_duration_ms(k->def, &def) < 0)
		return bad_default(k, e);
	return cfg_duration_ms(c, scopes, k->name, def, out, e);
}

int cfg_key_mode(const struct cfg *c, const char *const *scopes, enum cfg_key_id id,
		 mode_t *out, struct err *e)
{
	const struct cfg_key *k = &cfg_keys[id];
	mode_t def = 0;

	if (!k->def || cfgi_parse_mode(k->def, &def) < 0)
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
	strv_free(names);
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

bool cfg_list_next(const char **cursor, const char **item, size_t *len)
{
	const char *p = *cursor;

	while (p && *p) {
		size_t n = strcspn(p, ",");
		const char *s = p, *end = p + n;

		p = *end ? end + 1 : end;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (s == end)
			continue;
		*cursor = p;
		*item = s;
		*len = (size_t)(end - s);
		return true;
	}
	*cursor = p;
	return false;
}
