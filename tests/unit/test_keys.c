/*
 * Unit tests for config/keys: the table of keys is whole and consistent
 * (every row named, no name twice, every typed default parses), the
 * cfg_key_* getters read the row's name with the row's default, aliases
 * come from the table, patterns are filled, cfg_source names the layer;
 * list values split into trimmed items, and config check reads an address
 * list (libstorage.host) item by item.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/keys.h"

static char *const no_env[] = { NULL };

static struct cfg *cfg_from(const char *yaml, char *const *env)
{
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();

	assert_non_null(c);
	assert_int_equal(cfg_set_environ(c, env ? env : no_env), 0);
	if (cfg_load_string(c, "test.yml", yaml, strlen(yaml), &e) != 0)
		fail_msg("load failed: %s", e.msg);
	return c;
}

static void test_every_row_is_filled_once(void **state)
{
	(void)state;
	for (size_t i = 0; i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (!k->name || !k->section || !k->doc)
			fail_msg("row %zu is not filled", i);
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(k->name, cfg_keys[j].name) == 0)
				fail_msg("%s twice", k->name);
		if (strchr(k->doc, '|') || strchr(k->doc, '\n'))
			fail_msg("%s: the doc must be one table cell", k->name);
	}
}

/* Every typed key with a default that is not computed reads it from an
 * empty configuration without error. */
static void test_typed_defaults_parse(void **state)
{
	struct cfg *c = cfg_from("{}", NULL);
	struct err e = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		bool b;
		int64_t n;
		mode_t m;
		int r = 0;
		if (cfg_key_def_computed(k) || cfg_key_is_pattern(k))
			continue;
		if (k->type == CFG_T_BOOL)
			r = cfg_key_bool(c, NULL, (enum cfg_key_id)i, &b, &e);
		else if (k->type == CFG_T_INT)
			r = cfg_key_int(c, NULL, (enum cfg_key_id)i, &n, &e);
		else if (k->type == CFG_T_DURATION)
			r = cfg_key_duration_ms(c, NULL, (enum cfg_key_id)i, &n, &e);
		else if (k->type == CFG_T_MODE)
			r = cfg_key_mode(c, NULL, (enum cfg_key_id)i, &m, &e);
		if (r < 0)
			fail_msg("%s: %s", k->name, e.msg);
	}
	cfg_free(c);
}

static void test_getters_use_the_row(void **state)
{
	struct cfg *c = cfg_from("libstorage:\n"
				 "  server:\n"
				 "    services:\n"
				 "      s1:\n"
				 "        integration.volume.operations.mount.preempt: true\n"
				 "  device.attachtimeout: 1m\n",
				 NULL);
	const char *const sc[] = { "libstorage.server.services.s1", NULL };
	struct err e = ERR_INIT;
	const char *s = NULL;
	bool b = false;
	int64_t n = 0;
	mode_t m = 0;

	(void)state;
	assert_int_equal(cfg_key_bool(c, sc, CFGK_OPS_MOUNT_PREEMPT, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_key_bool(c, NULL, CFGK_OPS_MOUNT_PREEMPT, &b, &e), 0);
	assert_false(b);
	assert_int_equal(cfg_key_bool(c, NULL, CFGK_OPS_MOUNT_NOSUID, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_key_duration_ms(c, sc, CFGK_DEVICE_ATTACHTIMEOUT, &n, &e), 0);
	assert_int_equal(n, 60000);
	assert_int_equal(cfg_key_duration_ms(c, NULL, CFGK_CLIENT_LEASE, &n, &e), 0);
	assert_int_equal(n, 15000);
	assert_int_equal(cfg_key_mode(c, NULL, CFGK_LINUX_VOLUME_FILEMODE, &m, &e), 0);
	assert_int_equal(m, 0700);
	assert_int_equal(cfg_key_str(c, NULL, CFGK_OPS_CREATE_DEFAULT_FSTYPE, &s), 0);
	assert_string_equal(s, "ext4");
	assert_int_equal(cfg_key_str(c, NULL, CFGK_AUTH_KEY, &s), 0);
	assert_null(s);
	assert_int_equal(cfg_key_str_or(c, NULL, CFGK_VFS_ROOT, "/x/vfs", &s), 0);
	assert_string_equal(s, "/x/vfs");
	assert_int_equal(cfg_key_int_or(c, NULL, CFGK_OPS_CREATE_DEFAULT_SIZE, 7, &n, &e), 0);
	assert_int_equal(n, 7);
	cfg_free(c);
}

/* The row's range is checked, with the getters' message. */
static void test_int_range_from_the_row(void **state)
{
	struct cfg *c = cfg_from("libstorage.integration.volume.operations.create.default."
				 "size: 0\n",
				 NULL);
	struct err e = ERR_INIT;
	int64_t n = 0;

	(void)state;
	assert_int_equal(cfg_key_int_or(c, NULL, CFGK_OPS_CREATE_DEFAULT_SIZE, 1, &n, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "config: libstorage.integration.volume.operations.create."
				   "default.size: invalid value '0': expected an integer from 1 "
				   "to 1048576");
	cfg_free(c);
}

/* Aliases are the table's: an old name is read when the key is unset. */
static void test_aliases_from_the_table(void **state)
{
	struct cfg *c;
	const char *s = NULL;

	(void)state;
	for (size_t i = 0; i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		char yaml[512];
		if (!k->alias)
			continue;
		snprintf(yaml, sizeof(yaml), "\"%s\": old-value\n", k->alias);
		c = cfg_from(yaml, NULL);
		assert_string_equal(cfg_key_get(c, (enum cfg_key_id)i), "old-value");
		assert_string_equal(cfg_source(c, k->name), "alias");
		cfg_free(c);
	}
	c = cfg_from("docker.fstype: xfs\n", NULL);
	assert_int_equal(cfg_key_str(c, NULL, CFGK_OPS_CREATE_DEFAULT_FSTYPE, &s), 0);
	assert_string_equal(s, "xfs");
	cfg_free(c);
}

static void test_pattern_names(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(cfg_key_name(CFGK_DRIVER_INSTANCEID, "loop", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "loop.instanceID");
	assert_int_equal(cfg_key_name(CFGK_SERVICE_DRIVER, "vfs", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "libstorage.server.services.vfs.driver");
	assert_int_equal(cfg_key_name(CFGK_MODULE_HOST, "m1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "rexray.modules.m1.host");
	assert_int_equal(cfg_key_name(CFGK_VFS_ROOT, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "vfs.root");
	assert_int_equal(cfg_key_name(CFGK_MODULE_HOST, NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(cfg_key_name(CFGK_MODULE_HOST, "m1", buf, 8), -ENAMETOOLONG);
}

static void test_source(void **state)
{
	char *const env[] = { "LIBSTORAGE_SERVICE=e", NULL };
	struct cfg *c = cfg_from("libstorage.host: unix:///x.sock\nvfs.root: ''\n", env);

	(void)state;
	assert_int_equal(cfg_set(c, "rexray.loglevel", "debug"), 0);
	assert_string_equal(cfg_source(c, "rexray.logLevel"), "flag");
	assert_string_equal(cfg_source(c, "libstorage.service"), "env");
	assert_string_equal(cfg_source(c, "libstorage.host"), "file");
	assert_string_equal(cfg_source(c, "vfs.root"), "file");
	assert_null(cfg_source(c, "loop.volumePath"));
	cfg_free(c);
}

static void test_type_and_scope_text(void **state)
{
	char buf[64];

	(void)state;
	cfg_key_type_text(&cfg_keys[CFGK_OPS_CREATE_DEFAULT_SIZE], buf, sizeof(buf));
	assert_string_equal(buf, "integer 1..1048576");
	cfg_key_type_text(&cfg_keys[CFGK_CLIENT_LEASE], buf, sizeof(buf));
	assert_string_equal(buf, "duration");
	cfg_key_scope_text(&cfg_keys[CFGK_OPS_MOUNT_PREEMPT], buf, sizeof(buf));
	assert_string_equal(buf, "module, service");
	cfg_key_scope_text(&cfg_keys[CFGK_HOST], buf, sizeof(buf));
	assert_string_equal(buf, "global");
	cfg_key_scope_text(&cfg_keys[CFGK_DRIVER_INSTANCEID], buf, 10);
	assert_string_equal(buf, "module, s");
}

static void test_find_by_name_alias_pattern_and_scope(void **state)
{
	bool legacy;

	(void)state;
	assert_int_equal(cfg_key_find("REXRAY.LOGLEVEL", &legacy), CFGK_REXRAY_LOGLEVEL);
	assert_false(legacy);
	assert_int_equal(cfg_key_find("rexray.modules.m1.host", &legacy), CFGK_MODULE_HOST);
	assert_int_equal(cfg_key_find("rexray.modules..host", &legacy), -1);
	assert_int_equal(cfg_key_find("volume.mount.preempt", &legacy), CFGK_OPS_MOUNT_PREEMPT);
	assert_true(legacy);
	/* under a service, with and without "libstorage." */
	assert_int_equal(cfg_key_find("libstorage.server.services.s1.integration.volume."
				      "operations.mount.preempt", &legacy),
			 CFGK_OPS_MOUNT_PREEMPT);
	assert_false(legacy);
	assert_int_equal(cfg_key_find("libstorage.server.services.s1.libstorage.integration."
				      "volume.operations.mount.preempt", &legacy),
			 CFGK_OPS_MOUNT_PREEMPT);
	assert_int_equal(cfg_key_find("rexray.modules.m1.libstorage.integration.volume."
				      "operations.mount.preempt", &legacy),
			 CFGK_OPS_MOUNT_PREEMPT);
	/* a global key is not read under a service */
	assert_int_equal(cfg_key_find("libstorage.server.services.s1.rexray.loglevel", &legacy),
			 -1);
	assert_int_equal(cfg_key_find("libstorage.integration.volume.operations.mount.preemt",
				      &legacy), -1);
}

/* cfg_list_next: the items of "a,b" text and of a YAML sequence, trimmed,
 * empty ones skipped. */
static void collect(const char *text, char out[][64], size_t *n)
{
	const char *cur = text, *item;
	size_t len;

	*n = 0;
	while (cfg_list_next(&cur, &item, &len)) {
		assert_true(len < 64 && *n < 8);
		snprintf(out[(*n)++], 64, "%.*s", (int)len, item);
	}
}

static void test_list_items(void **state)
{
	char got[8][64];
	size_t n;
	struct cfg *c;

	(void)state;
	collect(NULL, got, &n);
	assert_int_equal(n, 0);
	collect("", got, &n);
	assert_int_equal(n, 0);
	collect(" , ,\t,", got, &n);
	assert_int_equal(n, 0);
	collect("tcp://a:1", got, &n);
	assert_int_equal(n, 1);
	assert_string_equal(got[0], "tcp://a:1");
	collect(" tcp://a:1 ,,\tunix:///x.sock\t, tcp://[::1]:7979,", got, &n);
	assert_int_equal(n, 3);
	assert_string_equal(got[0], "tcp://a:1");
	assert_string_equal(got[1], "unix:///x.sock");
	assert_string_equal(got[2], "tcp://[::1]:7979");
	/* a YAML sequence reads as the same text */
	c = cfg_from("libstorage:\n  host:\n    - tcp://a:1\n    - unix:///x.sock\n", NULL);
	collect(cfg_key_get(c, CFGK_HOST), got, &n);
	assert_int_equal(n, 2);
	assert_string_equal(got[0], "tcp://a:1");
	assert_string_equal(got[1], "unix:///x.sock");
	cfg_free(c);
}

struct seen_problems {
	int n;
	char msg[4][512];
	int line[4];
};

static void on_problem(void *arg, const struct cfg_problem *p)
{
	struct seen_problems *s = arg;

	if (p->severity != CFG_ERROR || s->n >= 4)
		return;
	snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s: %s", p->key, p->msg);
	s->line[s->n++] = p->line;
}

/* config check: libstorage.host takes a list, and names the bad address
 * (at its own line in a YAML sequence). */
static void test_address_list_check(void **state)
{
	static const char *const good[] = {
		"libstorage:\n  host: tcp://a:7979\n",
		"libstorage:\n  host: unix:///x.sock\n",
		"libstorage:\n  host: tcp://a:7979,tcp://b:7979\n",
		"libstorage:\n  host: 'tcp://a:7979, unix:///x.sock'\n",
		"libstorage:\n  host: [tcp://a:7979, tcp://b:7979]\n",
		"libstorage:\n  host:\n    - tcp://a:7979\n    - tcp://[::1]:7979\n",
	};
	struct seen_problems s = { 0 };
	char buf[64];
	struct cfg *c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		c = cfg_from(good[i], NULL);
		if (cfg_check(c, on_problem, &s) != 0)
			fail_msg("%s: %s", good[i], s.msg[0]);
		cfg_free(c);
	}
	c = cfg_from("libstorage:\n  host: tcp://a:7979,b:7979\n", NULL);
	assert_int_equal(cfg_check(c, on_problem, &s), 1);
	assert_non_null(strstr(s.msg[0], "libstorage.host: invalid value 'tcp://a:7979,b:7979'"));
	assert_non_null(strstr(s.msg[0], "'b:7979' is not one"));
	assert_int_equal(s.line[0], 2);
	cfg_free(c);
	memset(&s, 0, sizeof(s));
	c = cfg_from("libstorage:\n  host:\n    - tcp://a:7979\n    - tcp://b\n"
		     "    - tcp://c:1\n", NULL);
	assert_int_equal(cfg_check(c, on_problem, &s), 1);
	assert_non_null(strstr(s.msg[0], "'tcp://b' is not one"));
	assert_int_equal(s.line[0], 4); /* the bad item's own line */
	cfg_free(c);
	memset(&s, 0, sizeof(s));
	c = cfg_from("libstorage:\n  host: ' , '\n", NULL);
	assert_int_equal(cfg_check(c, on_problem, &s), 1);
	assert_non_null(strstr(s.msg[0], "expected at least one address"));
	cfg_free(c);
	/* one address alone is still checked as one */
	memset(&s, 0, sizeof(s));
	c = cfg_from("rexray:\n  metrics:\n    address: 'tcp://a:1,tcp://b:2x'\n", NULL);
	assert_int_equal(cfg_check(c, on_problem, &s), 1);
	cfg_free(c);
	cfg_key_type_text(&cfg_keys[CFGK_HOST], buf, sizeof(buf));
	assert_string_equal(buf, "address list");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row_is_filled_once),
		cmocka_unit_test(test_typed_defaults_parse),
		cmocka_unit_test(test_getters_use_the_row),
		cmocka_unit_test(test_int_range_from_the_row),
		cmocka_unit_test(test_aliases_from_the_table),
		cmocka_unit_test(test_pattern_names),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_type_and_scope_text),
		cmocka_unit_test(test_find_by_name_alias_pattern_and_scope),
		cmocka_unit_test(test_list_items),
		cmocka_unit_test(test_address_list_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
