/* config/check: the file layer against the table of keys (config.h). */
#include "config/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "util/log.h"
#include "util/names.h"

/* An address as httpd takes it: unix:///abs/path or tcp://host:port. */
static bool address_ok(const char *v)
{
	const char *colon;
	char *end;
	long port;

	if (strncasecmp(v, "unix://", 7) == 0)
		return v[7] == '/' && v[8];
	if (strncasecmp(v, "tcp://", 6) != 0 || !(colon = strrchr(v + 6, ':')))
		return false;
	port = strtol(colon + 1, &end, 10);
	return colon[1] && !*end && port >= 0 && port <= 65535;
}

/* Each item of a list of addresses; what is wrong into what (and the
 * 0-based index of the bad item into *bad), else NULL. */
static const char *addresses_problem(const char *v, char *what, size_t whatsz, size_t *bad)
{
	const char *cur = v, *item;
	char one[CFG_SHOWN_MAX];
	size_t len, n = 0;

	while (cfg_list_next(&cur, &item, &len)) {
		n++;
		if (len < sizeof(one)) {
			memcpy(one, item, len);
			one[len] = '\0';
			if (address_ok(one))
				continue;
		}
		*bad = n - 1;
		name_sanitise(one, sizeof(one), item, len);
		snprintf(what, whatsz, "addresses (unix:///path.sock or tcp://host:port, "
			 "separated by commas): '%s' is not one", one);
		return what;
	}
	return n ? NULL : "at least one address: unix:///path.sock or tcp://host:port";
}

static bool ratio_ok(const char *v, const struct cfg_key *k)
{
	char *end;
	double d = strtod(v, &end);

	return end != v && !*end && d >= (double)k->min && d <= (double)k->max;
}

/* What a value of k must be, or NULL when v is one. For a list, *bad gets
 * the index of the item at fault (else it is left alone). */
static const char *value_problem(const struct cfg_key *k, const char *v, char *what,
				 size_t whatsz, size_t *bad)
{
	enum log_level lvl;
	int64_t n;
	mode_t m;
	bool b;

	switch (k->type) {
	case CFG_T_BOOL:
		return cfgi_parse_bool(v, &b) < 0 ? "a boolean (true or false)" : NULL;
	case CFG_T_INT:
		if (cfgi_parse_int(v, &n) == 0 && n >= k->min && n <= k->max)
			return NULL;
		snprintf(what, whatsz, "an integer from %lld to %lld", (long long)k->min,
			 (long long)k->max);
		return what;
	case CFG_T_DURATION:
		return cfgi_parse_duration_ms(v, &n) < 0 ? "a duration such as 30s, 1m or 500ms"
							 : NULL;
	case CFG_T_MODE:
		return cfgi_parse_mode(v, &m) < 0 ? "an octal file mode such as 0700" : NULL;
	case CFG_T_PATH:
		return v[0] == '/' ? NULL : "an absolute path";
	case CFG_T_RATIO:
		if (ratio_ok(v, k))
			return NULL;
		snprintf(what, whatsz, "a number from %lld to %lld", (long long)k->min,
			 (long long)k->max);
		return what;
	case CFG_T_LEVEL:
		return log_level_parse(v, &lvl) < 0
			       ? "a log level: panic, fatal, error, warn, info or debug" : NULL;
	case CFG_T_ADDRESS:
		return address_ok(v) ? NULL : "an address: unix:///path.sock or tcp://host:port";
	case CFG_T_ADDRESSES:
		return addresses_problem(v, what, whatsz, bad);
	case CFG_T_DATABASE:
		return strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0 ||
			       strncmp(v, "sqlite:///", 10) == 0
			       ? NULL
			       : "a database URI: postgres://... (or postgresql://...) or "
				 "sqlite:///path";
	default:
		return NULL;
	}
}

/* A list's items are stored as key.0, key.1, ... beside the joined key. */
static bool is_list_item(const struct cfg *c, const char *key)
{
	const char *dot = strrchr(key, '.');
	char parent[CFG_KEY_MAX];

	if (!dot || !dot[1] || dot[1 + strspn(dot + 1, "0123456789")] != '\0')
		return false;
	snprintf(parent, sizeof(parent), "%.*s", (int)(dot - key), key);
	return cfgi_file_entry(c, parent) != NULL;
}

/* A YAML sequence's item has a position of its own (key.N): point there. */
static void item_position(const struct cfg *c, const char *key, size_t item,
			  struct cfg_problem *p)
{
	char k[CFG_KEY_MAX];
	const struct kv *kv;

	if (item == SIZE_MAX || snprintf(k, sizeof(k), "%s.%zu", key, item) >= (int)sizeof(k))
		return;
	if ((kv = cfgi_file_entry(c, k)) && kv->line > 0) {
		p->line = kv->line;
		p->col = kv->col;
	}
}

int cfg_check(const struct cfg *c, cfg_problem_fn fn, void *arg)
{
	int errors = 0;

	for (size_t i = 0; i < c->file.n; i++) {
		const struct kv *kv = &c->file.v[i];
		struct cfg_problem p = { .file = c->file_name, .line = kv->line, .col = kv->col,
					 .key = kv->key };
		char what[256], shown[CFG_SHOWN_MAX], msg[512];
		size_t item = SIZE_MAX;
		const char *bad;
		bool legacy;
		int id;

		if (is_list_item(c, kv->key))
			continue;
		id = cfg_key_find(kv->key, &legacy);
		p.id = id;
		p.msg = msg;
		if (id < 0) {
			p.severity = CFG_WARNING;
			snprintf(msg, sizeof(msg), "unknown key: the engine does not read it");
			fn(arg, &p);
			continue;
		}
		if (legacy) {
			p.severity = CFG_NOTE;
			snprintf(msg, sizeof(msg), "the old name of %s; it is read only when that "
				 "key is not set", cfg_keys[id].name);
			fn(arg, &p);
		}
		if (!kv->value || !*kv->value) /* null or '': the default */
			continue;
		if (!(bad = value_problem(&cfg_keys[id], kv->value, what, sizeof(what), &item)))
			continue;
		item_position(c, kv->key, item, &p);
		name_sanitise(shown, sizeof(shown), kv->value, strlen(kv->value));
		p.severity = CFG_ERROR;
		snprintf(msg, sizeof(msg), "invalid value '%s': expected %s", shown, bad);
		fn(arg, &p);
		errors++;
	}
	return errors;
}

int cfg_file_position(const struct cfg *c, const char *key, const char **file, int *line,
		      int *col)
{
	char k[CFG_KEY_MAX];
	const struct kv *kv;
	size_t i;

	for (i = 0; key[i] && i < sizeof(k) - 1; i++)
		k[i] = ascii_lower(key[i]);
	k[i] = '\0';
	if (!(kv = cfgi_file_entry(c, k)))
		return -ENOENT;
	*file = c->file_name;
	*line = kv->line;
	*col = kv->col;
	return 0;
}
