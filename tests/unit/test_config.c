/*
 * Unit tests for config/: flattening, layers, scopes, aliases, $VAR
 * expansion, typed getters and their messages, file look-up, listing.
 * Most tests give the cfg its own environment (cfg_set_environ) so the
 * developer's shell cannot change the outcome.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/fs.h"

#define OPS "libstorage.integration.volume.operations."

static char *const no_env[] = { NULL };

/* A cfg with the given environment and YAML loaded as "test.yml". */
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

/* The error message of loading yaml, which must fail with code. */
static void assert_load_error(const char *yaml, int code, const char *msg)
{
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();

	assert_non_null(c);
	assert_int_equal(cfg_set_environ(c, no_env), 0);
	assert_int_equal(cfg_load_string(c, "bad.yml", yaml, strlen(yaml), &e), code);
	assert_int_equal(e.code, code);
	assert_string_equal(e.msg, msg);
	cfg_free(c);
}

static void test_flatten_nested_maps_and_sequences(void **state)
{
	struct cfg *c;

	(void)state;
	c = cfg_from("libstorage:\n"
		     "  server:\n"
		     "    services:\n"
		     "      vfs:\n"
		     "        driver: vfs\n"
		     "  size: 16\n"
		     "  mode: 0700\n"
		     "list: [a, b, 'c d']\n"
		     "maps:\n"
		     "  - name: x\n"
		     "  - name: y\n"
		     "    port: 1\n"
		     "mixed: [1, {k: v}, 2]\n"
		     "empty: []\n"
		     "nothing:\n"
		     "tilde: ~\n"
		     "quoted: ''\n"
		     "\"dotted.key\": 3\n",
		     NULL);
	assert_string_equal(cfg_get(c, "libstorage.server.services.vfs.driver"), "vfs");
	assert_string_equal(cfg_get(c, "libstorage.size"), "16");
	assert_string_equal(cfg_get(c, "libstorage.mode"), "0700"); /* text kept */
	assert_string_equal(cfg_get(c, "list"), "a,b,c d");
	assert_string_equal(cfg_get(c, "list.0"), "a");
	assert_string_equal(cfg_get(c, "list.2"), "c d");
	assert_null(cfg_get(c, "list.3"));
	assert_string_equal(cfg_get(c, "maps.0.name"), "x");
	assert_string_equal(cfg_get(c, "maps.1.port"), "1");
	assert_null(cfg_get(c, "maps"));	/* no scalar items */
	assert_string_equal(cfg_get(c, "mixed"), "1,2");
	assert_string_equal(cfg_get(c, "mixed.1.k"), "v");
	assert_null(cfg_get(c, "empty"));
	assert_null(cfg_get(c, "nothing"));	/* null: unset for getters */
	assert_null(cfg_get(c, "tilde"));
	assert_string_equal(cfg_get(c, "quoted"), "");	/* an explicit empty string */
	assert_string_equal(cfg_get(c, "dotted.key"), "3");
	assert_null(cfg_get(c, "libstorage.server"));	/* a map has no value */
	cfg_free(c);
}

static void test_keys_are_case_insensitive(void **state)
{
	const char *const scopes[] = { "LibStorage.Server.Services.VFS", NULL };
	const char *v, *k;
	struct cfg *c;

	(void)state;
	c = cfg_from("LibStorage:\n  Server:\n    Services:\n      VFS:\n        Driver: Vfs\n"
		     "VirtualBox:\n  volumePath: /v\n",
		     NULL);
	assert_string_equal(cfg_get(c, "libstorage.server.services.vfs.driver"), "Vfs");
	assert_string_equal(cfg_get(c, "LIBSTORAGE.SERVER.SERVICES.VFS.DRIVER"), "Vfs");
	assert_string_equal(cfg_get(c, "virtualbox.VOLUMEPATH"), "/v");
	v = cfg_lookup(c, scopes, "Driver", &k);
	assert_string_equal(v, "Vfs");
	assert_string_equal(k, "libstorage.server.services.vfs.driver");
	assert_int_equal(cfg_set(c, "Flag.Key", "x"), 0);
	assert_string_equal(cfg_get(c, "flag.key"), "x");
	cfg_free(c);
}

static void test_env_beats_file_and_flags_beat_env(void **state)
{
	char *const env[] = {
		"LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_MOUNT_PREEMPT=false",
		"REXRAY_MODULES_DEFAULT-DOCKER_HOST=unix:///x.sock",
		"REXRAY_LOGLEVEL=",	/* empty: unset, the file wins */
		NULL,
	};
	struct cfg *c;

	(void)state;
	c = cfg_from("libstorage:\n  integration:\n    volume:\n      operations:\n"
		     "        mount:\n          preempt: true\n"
		     "rexray:\n  logLevel: info\n",
		     env);
	assert_string_equal(cfg_get(c, OPS "mount.preempt"), "false");
	assert_string_equal(cfg_get(c, "rexray.modules.default-docker.host"), "unix:///x.sock");
	assert_string_equal(cfg_get(c, "rexray.loglevel"), "info");
	assert_int_equal(cfg_set(c, OPS "mount.preempt", "true"), 0);
	assert_string_equal(cfg_get(c, OPS "mount.preempt"), "true");
	assert_int_equal(cfg_set(c, "REXRAY.LOGLEVEL", "debug"), 0);
	assert_string_equal(cfg_get(c, "rexray.loglevel"), "debug");
	assert_int_equal(cfg_set(c, NULL, "x"), -EINVAL);
	cfg_free(c);
}

static void test_process_env_read_at_get_time(void **state)
{
	const char *yaml = "rrtest:\n  cfgkey: file\n";
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();

	(void)state;
	assert_non_null(c);
	assert_int_equal(cfg_load_string(c, "t", yaml, strlen(yaml), &e), 0);
	unsetenv("RRTEST_CFGKEY");
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "file");
	setenv("RRTEST_CFGKEY", "one", 1);
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "one");
	setenv("RRTEST_CFGKEY", "two", 1);
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "two");
	unsetenv("RRTEST_CFGKEY");
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "file");
	/* a snapshot hides the process env; NULL goes back to it */
	setenv("RRTEST_CFGKEY", "proc", 1);
	assert_int_equal(cfg_set_environ(c, no_env), 0);
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "file");
	assert_int_equal(cfg_set_environ(c, NULL), 0);
	assert_string_equal(cfg_get(c, "rrtest.cfgkey"), "proc");
	unsetenv("RRTEST_CFGKEY");
	cfg_free(c);
}

static const char scoped_yaml[] =
	"vfs:\n  root: /root-level\n  only: root\n"
	"libstorage:\n"
	"  server:\n"
	"    vfs:\n      root: /server-level\n      mid: server\n"
	"    integration:\n      volume:\n        operations:\n          mount:\n"
	"            path: /server-mounts\n"
	"    services:\n"
	"      vfs:\n"
	"        driver: vfs\n"
	"        vfs:\n          root: /service-level\n"
	"        integration:\n          volume:\n            operations:\n"
	"              mount:\n                preempt: true\n"
	"        libstorage:\n          integration:\n            volume:\n"
	"              operations:\n                create:\n                  disable: true\n"
	"  integration:\n    volume:\n      operations:\n        mount:\n"
	"          preempt: false\n          rootPath: /root-data\n"
	"rexray:\n  modules:\n    m1:\n"
	"      libstorage:\n        service: from-abs\n"
	"      host: tcp://:7981\n";

static void test_scoped_lookups(void **state)
{
	const char *const svc[] = { "libstorage.server.services.vfs", "libstorage.server", NULL };
	const char *const mod[] = { "rexray.modules.m1", NULL };
	const char *v, *k;
	struct cfg *c = cfg_from(scoped_yaml, NULL);

	(void)state;
	v = cfg_lookup(c, svc, "vfs.root", &k);
	assert_string_equal(v, "/service-level");
	assert_string_equal(k, "libstorage.server.services.vfs.vfs.root");
	v = cfg_lookup(c, svc, "vfs.mid", &k);
	assert_string_equal(v, "server");
	assert_string_equal(k, "libstorage.server.vfs.mid");
	v = cfg_lookup(c, svc, "vfs.only", &k);
	assert_string_equal(v, "root");
	assert_string_equal(k, "vfs.only");
	/* "libstorage." is stripped inside a scope */
	v = cfg_lookup(c, svc, OPS "mount.preempt", &k);
	assert_string_equal(v, "true");
	assert_string_equal(k, "libstorage.server.services.vfs.integration.volume.operations."
			       "mount.preempt");
	/* ... and the absolute form, repeated under the scope, is tried first */
	v = cfg_lookup(c, svc, OPS "create.disable", &k);
	assert_string_equal(v, "true");
	assert_string_equal(k, "libstorage.server.services.vfs.libstorage.integration.volume."
			       "operations.create.disable");
	v = cfg_lookup(c, svc, OPS "mount.path", &k);
	assert_string_equal(v, "/server-mounts");
	assert_string_equal(k, "libstorage.server.integration.volume.operations.mount.path");
	v = cfg_lookup(c, svc, OPS "mount.rootpath", &k);
	assert_string_equal(v, "/root-data");
	assert_string_equal(k, OPS "mount.rootpath");
	/* without scopes only the root counts */
	assert_string_equal(cfg_lookup(c, NULL, OPS "mount.preempt", NULL), "false");
	/* a module scope */
	v = cfg_lookup(c, mod, "libstorage.service", &k);
	assert_string_equal(v, "from-abs");
	assert_string_equal(k, "rexray.modules.m1.libstorage.service");
	v = cfg_lookup(c, mod, "libstorage.host", &k);
	assert_string_equal(v, "tcp://:7981");
	assert_string_equal(k, "rexray.modules.m1.host");
	/* unset: NULL, and ret_key names the key asked for */
	assert_null(cfg_lookup(c, svc, "Vfs.Missing", &k));
	assert_string_equal(k, "vfs.missing");
	cfg_free(c);
}

static void test_scopes_try_every_layer_per_candidate(void **state)
{
	const char *const svc[] = { "libstorage.server.services.vfs", NULL };
	char *const env[] = { "LIBSTORAGE_SERVER_SERVICES_VFS_VFS_ROOT=/from-env",
			      "VFS_ONLY=/root-env", NULL };
	struct cfg *c = cfg_from(scoped_yaml, env);
	const char *k;

	(void)state;
	/* env at the service scope beats the file at the same scope */
	assert_string_equal(cfg_lookup(c, svc, "vfs.root", &k), "/from-env");
	assert_string_equal(k, "libstorage.server.services.vfs.vfs.root");
	/* a root env value does not beat a scoped file value */
	assert_int_equal(cfg_set(c, "libstorage.server.services.vfs.vfs.only", "/svc-flag"), 0);
	assert_string_equal(cfg_lookup(c, svc, "vfs.only", NULL), "/svc-flag");
	assert_string_equal(cfg_get(c, "vfs.only"), "/root-env");
	cfg_free(c);
}

static void test_every_alias(void **state)
{
	static const struct {
		const char *old, *key;
	} rows[] = {
		{ "volume.mount.preempt", OPS "mount.preempt" },
		{ "volume.create.disable", OPS "create.disable" },
		{ "volume.remove.disable", OPS "remove.disable" },
		{ "volume.unmount.ignoreUsedCount", OPS "unmount.ignoreusedcount" },
		{ "volume.path.cache", OPS "path.cache.enabled" },
		{ "docker.fsType", OPS "create.default.fstype" },
		{ "docker.volumeType", OPS "create.default.type" },
		{ "docker.iops", OPS "create.default.iops" },
		{ "docker.size", OPS "create.default.size" },
		{ "docker.availabilityZone", OPS "create.default.availabilityzone" },
		{ "docker.mountDirPath", OPS "mount.path" },
		{ "linux.volume.rootpath", OPS "mount.rootpath" },
	};
	const char *const svc[] = { "libstorage.server.services.s", NULL };

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char env_old[256], name[200];
		struct cfg *c = cfg_new();
		const char *k;

		assert_non_null(c);
		assert_int_equal(cfg_set_environ(c, no_env), 0);
		assert_int_equal(cfg_set(c, rows[i].old, "old"), 0);
		assert_string_equal(cfg_get(c, rows[i].key), "old");
		assert_string_equal(cfg_lookup(c, svc, rows[i].key, &k), "old");
		assert_int_equal(strcasecmp(k, rows[i].old), 0);
		/* the new name, even only in a scope, wins over the old one */
		snprintf(name, sizeof(name), "libstorage.server.services.s.%s",
			 rows[i].key + strlen("libstorage."));
		assert_int_equal(cfg_set(c, name, "scoped"), 0);
		assert_string_equal(cfg_lookup(c, svc, rows[i].key, NULL), "scoped");
		assert_string_equal(cfg_get(c, rows[i].key), "old");
		assert_int_equal(cfg_set(c, rows[i].key, "new"), 0);
		assert_string_equal(cfg_get(c, rows[i].key), "new");
		cfg_free(c);

		/* an old name also works from the environment */
		cfg_env_name(rows[i].old, name, sizeof(name));
		snprintf(env_old, sizeof(env_old), "%s=envold", name);
		{
			char *const env[] = { env_old, NULL };

			c = cfg_from("", env);
			assert_string_equal(cfg_get(c, rows[i].key), "envold");
			cfg_free(c);
		}
	}
}

static void test_var_expansion(void **state)
{
	char *const env[] = { "HOME=/home/u", "A=x", "EMPTY=", NULL };
	struct cfg *c;

	(void)state;
	c = cfg_from("p: $HOME/VirtualBox/Volumes\n"
		     "q: ${HOME}/b${A}c\n"
		     "r: cost $$5 $A$A\n"
		     "s: ${UNSET}-$UNSET-$EMPTY.\n"
		     "t: a$ b $-c $\n"
		     "u: ${A\n"
		     "w: ${}\n"
		     "l: [$A, '${A}y']\n"
		     "$A: keys are not expanded\n",
		     env);
	assert_string_equal(cfg_get(c, "p"), "/home/u/VirtualBox/Volumes");
	assert_string_equal(cfg_get(c, "q"), "/home/u/bxc");
	assert_string_equal(cfg_get(c, "r"), "cost $5 xx");
	assert_string_equal(cfg_get(c, "s"), "--.");
	assert_string_equal(cfg_get(c, "t"), "a$ b $-c $");
	assert_string_equal(cfg_get(c, "u"), "${A");
	assert_string_equal(cfg_get(c, "w"), "${}");
	assert_string_equal(cfg_get(c, "l"), "x,xy");
	assert_string_equal(cfg_get(c, "$a"), "keys are not expanded");
	cfg_free(c);
}

static void test_var_expansion_is_bounded(void **state)
{
	static char big[40 * 1024 + 8];
	char *env[] = { big, NULL };
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();
	const char *yaml = "ok: $BIG\nlong: $BIG$BIG\n";

	(void)state;
	memcpy(big, "BIG=", 4);
	memset(big + 4, 'x', sizeof(big) - 5);
	assert_non_null(c);
	assert_int_equal(cfg_set_environ(c, env), 0);
	assert_int_equal(cfg_load_string(c, "big.yml", yaml, strlen(yaml), &e), -EINVAL);
	assert_string_equal(e.msg, "config: big.yml:2:7: value of 'long' is longer than 65536 bytes");
	cfg_free(c);
}

static void test_seed_snippet(void **state)
{
	char *const env[] = { "HOME=/home/docker", NULL };
	const char *const svc[] = { "libstorage.server.services.virtualbox", "libstorage.server",
				    NULL };
	struct err e = ERR_INIT;
	const char *s;
	bool b;
	struct cfg *c = cfg_from("libstorage:\n"
				 "  service: virtualbox\n"
				 "  integration:\n"
				 "    volume:\n"
				 "      operations:\n"
				 "        mount:\n"
				 "          preempt: true\n"
				 "        unmount:\n"
				 "          ignoreusedcount: true\n"
				 "        remove:\n"
				 "          disable: true\n"
				 "virtualbox:\n"
				 "  volumePath: $HOME/VirtualBox/Volumes\n",
				 env);

	(void)state;
	assert_string_equal(cfg_get(c, "libstorage.service"), "virtualbox");
	assert_int_equal(cfg_bool(c, svc, OPS "mount.preempt", false, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_bool(c, svc, OPS "unmount.ignoreUsedCount", false, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_bool(c, svc, OPS "remove.disable", false, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_bool(c, svc, OPS "create.disable", false, &b, &e), 0);
	assert_false(b);
	assert_int_equal(cfg_str(c, svc, "virtualbox.volumePath", "", &s), 0);
	assert_string_equal(s, "/home/docker/VirtualBox/Volumes");
	assert_int_equal(cfg_str(c, svc, "virtualbox.controllerName", "SATA", &s), 0);
	assert_string_equal(s, "SATA");
	cfg_free(c);
}

static void test_bool_getter(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "True", "yes", "on", "1", "YES", "On" };
	static const char *const no[] = { "false", "FALSE", "no", "off", "0", "Off" };
	const char *const svc[] = { "libstorage.server.services.s", NULL };
	struct err e = ERR_INIT;
	struct cfg *c = cfg_from("", NULL);
	bool b;

	(void)state;
	assert_int_equal(cfg_bool(c, NULL, "b", true, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_bool(c, NULL, "b", false, &b, &e), 0);
	assert_false(b);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(cfg_set(c, "b", yes[i]), 0);
		assert_int_equal(cfg_bool(c, NULL, "b", false, &b, &e), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(cfg_set(c, "b", no[i]), 0);
		assert_int_equal(cfg_bool(c, NULL, "b", true, &b, &e), 0);
		assert_false(b);
	}
	assert_int_equal(cfg_set(c, "b", ""), 0);	/* empty: the default */
	assert_int_equal(cfg_bool(c, NULL, "b", true, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_set(c, OPS "mount.preempt", "maybe"), 0);
	assert_int_equal(cfg_bool(c, svc, OPS "mount.preempt", false, &b, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.msg, "config: libstorage.integration.volume.operations.mount.preempt:"
				   " invalid value 'maybe': expected a boolean (true or false)");
	assert_false(b);	/* the default on error */
	assert_int_equal(cfg_set(c, "libstorage.server.services.s.integration.volume.operations."
				    "mount.preempt", "truee"),
			 0);
	assert_int_equal(cfg_bool(c, svc, OPS "mount.preempt", false, &b, &e), -EINVAL);
	assert_string_equal(e.msg, "config: libstorage.server.services.s.integration.volume."
				   "operations.mount.preempt: invalid value 'truee': expected a "
				   "boolean (true or false)");
	assert_int_equal(cfg_set(c, "b", " true"), 0);
	assert_int_equal(cfg_bool(c, NULL, "b", false, &b, &e), -EINVAL);
	assert_string_equal(e.msg, "config: b: invalid value ' true': expected a boolean (true or false)");
	cfg_free(c);
}

static void test_int_getter(void **state)
{
	static const struct {
		const char *v;
		int64_t want;
	} ok[] = { { "1", 1 }, { "10", 10 }, { "+7", 7 }, { "-3", -3 }, { "007", 7 } };
	static const char *const bad[] = { "11", "-4", "1.5", "1e3", "0x10", " 5", "5 ", "abc",
					   "-", "99999999999999999999" };
	struct err e = ERR_INIT;
	struct cfg *c = cfg_from("", NULL);
	char want[128];
	int64_t n;

	(void)state;
	assert_int_equal(cfg_int(c, NULL, "x.n", 5, -3, 10, &n, &e), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cfg_set(c, "x.n", ok[i].v), 0);
		assert_int_equal(cfg_int(c, NULL, "x.n", 5, -3, 10, &n, &e), 0);
		assert_int_equal(n, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_set(c, "X.N", bad[i]), 0);
		assert_int_equal(cfg_int(c, NULL, "x.N", 5, -3, 10, &n, &e), -EINVAL);
		snprintf(want, sizeof(want),
			 "config: x.n: invalid value '%s': expected an integer from -3 to 10", bad[i]);
		assert_string_equal(e.msg, want);
		assert_int_equal(n, 5);
	}
	assert_int_equal(cfg_set(c, "big", "9223372036854775807"), 0);
	assert_int_equal(cfg_int(c, NULL, "big", 0, INT64_MIN, INT64_MAX, &n, &e), 0);
	assert_true(n == INT64_MAX);
	cfg_free(c);
}

static void test_duration_getter(void **state)
{
	static const struct {
		const char *v;
		int64_t ms;
	} ok[] = {
		{ "30s", 30000 },  { "1m", 60000 },	   { "500ms", 500 },
		{ "1h30m", 5400000 }, { "2h", 7200000 },   { "1.5s", 1500 },
		{ "10", 10000 },   { "0", 0 },		   { "0s", 0 },
		{ "1.5", 1500 },   { "1500us", 2 },	   { "1000\xc2\xb5s", 1 },
		{ "2000\xce\xbcs", 2 }, { "1ns", 1 },	   { "1m0.5s", 60500 },
		{ "+5s", 5000 },   { ".5s", 500 },	   { "1h1m1s1ms", 3661001 },
		{ "2562047h", 9223369200000 },
	};
	static const char *const bad[] = { "-1s", "abc", "1x", "1m30", "s", "1 s", "1.2.3s",
					   "2562048h", "99999999999999999999s", ".s" };
	struct err e = ERR_INIT;
	struct cfg *c = cfg_from("", NULL);
	char want[160];
	int64_t ms;

	(void)state;
	assert_int_equal(cfg_duration_ms(c, NULL, "d", 1234, &ms, &e), 0);
	assert_int_equal(ms, 1234);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cfg_set(c, "d", ok[i].v), 0);
		if (cfg_duration_ms(c, NULL, "d", 7, &ms, &e) != 0)
			fail_msg("'%s' refused: %s", ok[i].v, e.msg);
		if (ms != ok[i].ms)
			fail_msg("'%s' gave %lld ms", ok[i].v, (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_set(c, "d", bad[i]), 0);
		if (cfg_duration_ms(c, NULL, "d", 7, &ms, &e) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		snprintf(want, sizeof(want),
			 "config: d: invalid value '%s': expected a duration such as 30s, 1m or 500ms",
			 bad[i]);
		assert_string_equal(e.msg, want);
		assert_int_equal(ms, 7);
	}
	cfg_free(c);
}

static void test_mode_getter(void **state)
{
	static const struct {
		const char *v;
		mode_t m;
	} ok[] = { { "0700", 0700 }, { "700", 0700 }, { "0755", 0755 }, { "07777", 07777 },
		   { "0", 0 }, { "00644", 0644 } };
	static const char *const bad[] = { "0800", "10000", "rwx", "0x1ff", "-1", "7 00" };
	struct err e = ERR_INIT;
	struct cfg *c = cfg_from("linux:\n  volume:\n    fileMode: 0750\n", NULL);
	char want[160];
	mode_t m;

	(void)state;
	assert_int_equal(cfg_mode(c, NULL, "linux.volume.filemode", 0700, &m, &e), 0);
	assert_int_equal(m, 0750);
	assert_int_equal(cfg_mode(c, NULL, "other", 0711, &m, &e), 0);
	assert_int_equal(m, 0711);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cfg_set(c, "linux.volume.filemode", ok[i].v), 0);
		assert_int_equal(cfg_mode(c, NULL, "linux.volume.filemode", 0700, &m, &e), 0);
		assert_int_equal(m, ok[i].m);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_set(c, "linux.volume.filemode", bad[i]), 0);
		assert_int_equal(cfg_mode(c, NULL, "linux.volume.filemode", 0700, &m, &e), -EINVAL);
		snprintf(want, sizeof(want),
			 "config: linux.volume.filemode: invalid value '%s': expected an octal file "
			 "mode such as 0700",
			 bad[i]);
		assert_string_equal(e.msg, want);
		assert_int_equal(m, 0700);
	}
	cfg_free(c);
}

static void test_str_getter(void **state)
{
	const char *const svc[] = { "libstorage.server.services.s", NULL };
	struct cfg *c = cfg_from("libstorage:\n  server:\n    services:\n      s:\n"
				 "        integration:\n          volume:\n            operations:\n"
				 "              mount:\n                rootPath: ''\n"
				 "  integration:\n    volume:\n      operations:\n        mount:\n"
				 "          rootPath: /data\n",
				 NULL);
	const char *s;

	(void)state;
	assert_int_equal(cfg_str(c, NULL, "missing", "dflt", &s), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(cfg_str(c, NULL, OPS "mount.rootPath", "/x", &s), 0);
	assert_string_equal(s, "/data");
	/* an explicit '' in a scope is a value, not a fall-through */
	assert_int_equal(cfg_str(c, svc, OPS "mount.rootPath", "/x", &s), 0);
	assert_string_equal(s, "");
	cfg_free(c);
}

static void test_yaml_syntax_errors(void **state)
{
	(void)state;
	assert_load_error("a: 1\nb:\n  c: 1\n  c: 2\n", -EINVAL, "config: bad.yml:4:3: duplicate key");
	assert_load_error("a: 1\n  bb: 2\n", -EINVAL,
			  "config: bad.yml:1:4: invalid multiline plain key");
	assert_load_error("x: 1\ny: [a, b\nz: 3\n", -EINVAL,
			  "config: bad.yml:4:1: flow sequence without a closing bracket");
	assert_load_error("- a\n- b\n", -EINVAL, "config: bad.yml: the top level is not a mapping");
	assert_load_error("just text\n", -EINVAL,
			  "config: bad.yml: the top level is not a mapping");
	assert_load_error("a:\n  b: *nope\n", -EINVAL,
			  "config: bad.yml:2:7: alias '*nope' has no anchor");
	assert_load_error("a:\n  [x]: 1\n", -EINVAL, "config: bad.yml:2:4: a key must be a scalar");
	assert_load_error("a:\n  '': 1\n", -EINVAL,
			  "config: bad.yml:2:4: empty or invalid key under 'a'");
	assert_load_error("a:\n  <<: 1\n", -EINVAL,
			  "config: bad.yml:2:7: a merge key '<<' needs a mapping");
}

static void test_yaml_error_from_file_names_file(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[256];
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config.yml", dir);
	assert_int_equal(fs_write_atomic(path, "ok: 1\nbad: \"x\n", 14, 0600), 0);
	assert_int_equal(cfg_load_file(c, path, &e), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want), "config: %s:2:7: double-quoted scalar without closing quote",
		 path);
	assert_string_equal(e.msg, want);
	unlink(path);
	rmdir(dir);
	cfg_free(c);
}

static void test_empty_documents_are_empty(void **state)
{
	static const char *const docs[] = { "", "# only a comment\n", "---\n", "~\n", "{}\n" };
	char **names;

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct cfg *c = cfg_from(docs[i], NULL);

		assert_int_equal(cfg_children(c, "", &names), 0);
		cfg_names_free(names);
		cfg_free(c);
	}
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
	struct cfg *c = cfg_from("base: &base\n  driver: vfs\n  size: 1\n"
				 "services:\n"
				 "  a:\n    <<: *base\n    size: 2\n"
				 "  b:\n    size: 3\n    <<: *base\n"
				 "  c: *base\n"
				 "list: &l [x, y]\n"
				 "copy: *l\n",
				 NULL);

	(void)state;
	assert_string_equal(cfg_get(c, "services.a.driver"), "vfs");
	assert_string_equal(cfg_get(c, "services.a.size"), "2");
	assert_string_equal(cfg_get(c, "services.b.size"), "3");	/* written beats merged */
	assert_string_equal(cfg_get(c, "services.b.driver"), "vfs");
	assert_string_equal(cfg_get(c, "services.c.size"), "1");
	assert_string_equal(cfg_get(c, "copy"), "x,y");
	assert_string_equal(cfg_get(c, "copy.1"), "y");
	cfg_free(c);
}

static void test_alias_bomb_is_bounded(void **state)
{
	const char *yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
			   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	struct err e = ERR_INIT;
	struct cfg *c = cfg_new();

	(void)state;
	assert_non_null(c);
	assert_int_equal(cfg_load_string(c, "bomb.yml", yaml, strlen(yaml), &e), -EINVAL);
	/* where it stops depends on the walk; that it stops, and says why, does not */
	assert_int_equal(strncmp(e.msg, "config: bomb.yml:", 17), 0);
	assert_non_null(strstr(e.msg, ": more than 131072 nodes (aliases expanding?)"));
	cfg_free(c);
}

static void test_failed_load_keeps_old_file_layer(void **state)
{
	struct err e = ERR_INIT;
	struct cfg *c = cfg_from("a: 1\nb: 2\n", NULL);

	(void)state;
	assert_int_equal(cfg_load_string(c, "x", "a: [\n", 5, &e), -EINVAL);
	assert_string_equal(cfg_get(c, "a"), "1");
	assert_int_equal(cfg_load_string(c, "x", "c: 3\n", 5, &e), 0);
	assert_null(cfg_get(c, "a"));	/* replaced, not merged */
	assert_string_equal(cfg_get(c, "c"), "3");
	cfg_free(c);
}

static void test_missing_explicit_file(void **state)
{
	struct err e = ERR_INIT;
	struct paths p = { 0 };
	const char *loaded = "unset";
	struct cfg *c = cfg_new();

	(void)state;
	assert_int_equal(cfg_load_file(c, "/nonexistent/rexray.yml", &e), -ENOENT);
	assert_string_equal(e.msg, "config: /nonexistent/rexray.yml: no such file");
	err_clear(&e);
	strcpy(p.etc, "/nonexistent/etc");
	assert_int_equal(cfg_load_default(c, "/nonexistent/c.yml", &p, &loaded, &e), -ENOENT);
	assert_string_equal(e.msg, "config: /nonexistent/c.yml: no such file");
	assert_string_equal(loaded, "");
	cfg_free(c);
}

/* A file with content under dir/sub, the directories made as needed. */
static void put_file(const char *dir, const char *sub, const char *content, char *path,
		     size_t pathsz)
{
	char d[512];

	snprintf(path, pathsz, "%s/%s", dir, sub);
	snprintf(d, sizeof(d), "%s", path);
	*strrchr(d, '/') = '\0';
	assert_int_equal(fs_mkdir_p(d, 0700), 0);
	assert_int_equal(fs_write_atomic(path, content, strlen(content), 0600), 0);
}

static void test_load_default_order(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", home_env[300], etc_file[512], home_file[512];
	char explicit_file[512];
	struct err e = ERR_INIT;
	struct paths p = { 0 };
	const char *loaded;
	struct cfg *c = cfg_new();

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p.home, sizeof(p.home), "%s", dir);
	snprintf(p.etc, sizeof(p.etc), "%s/etc/rexray", dir);
	snprintf(home_env, sizeof(home_env), "HOME=%s/home", dir);
	{
		char *const env[] = { home_env, NULL };

		assert_int_equal(cfg_set_environ(c, env), 0);
	}
	/* nothing found: not an error, and no keys */
	assert_int_equal(cfg_load_default(c, NULL, &p, &loaded, &e), 0);
	assert_string_equal(loaded, "");
	/* only $HOME/.rexray/config.yml */
	put_file(dir, "home/.rexray/config.yml", "who: home\nhomeonly: 1\n", home_file,
		 sizeof(home_file));
	assert_int_equal(cfg_load_default(c, NULL, &p, &loaded, &e), 0);
	assert_string_equal(loaded, home_file);
	assert_string_equal(cfg_get(c, "who"), "home");
	/* <etc>/config.yml comes first, and the files are not merged */
	put_file(dir, "etc/rexray/config.yml", "who: etc\n", etc_file, sizeof(etc_file));
	assert_int_equal(cfg_load_default(c, NULL, &p, &loaded, &e), 0);
	assert_string_equal(loaded, etc_file);
	assert_string_equal(cfg_get(c, "who"), "etc");
	assert_null(cfg_get(c, "homeonly"));
	/* an explicit file beats both */
	put_file(dir, "x.yml", "who: explicit\n", explicit_file, sizeof(explicit_file));
	assert_int_equal(cfg_load_default(c, explicit_file, &p, &loaded, &e), 0);
	assert_string_equal(loaded, explicit_file);
	assert_string_equal(cfg_get(c, "who"), "explicit");
	/* a broken default file is an error, not skipped */
	put_file(dir, "etc/rexray/config.yml", "who: [\n", etc_file, sizeof(etc_file));
	assert_int_equal(cfg_load_default(c, NULL, &p, NULL, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "config.yml:2:1: "));
	/* back to none: the file layer is emptied */
	unlink(etc_file);
	unlink(home_file);
	assert_int_equal(cfg_load_default(c, NULL, &p, &loaded, &e), 0);
	assert_string_equal(loaded, "");
	assert_null(cfg_get(c, "who"));
	assert_int_equal(fs_remove_tree(dir), 0);
	cfg_free(c);
}

static void test_children(void **state)
{
	struct cfg *c = cfg_from("libstorage:\n  server:\n    services:\n"
				 "      VFS:\n        driver: vfs\n"
				 "      loop:\n        driver: loop\n"
				 "      empty: {}\n"
				 "      nulled:\n"
				 "      vfs2: {driver: vfs, vfs: {root: /x}}\n"
				 "    endpoints:\n      e1:\n        address: tcp://:1\n"
				 "list: [a, b]\n",
				 NULL);
	char **names;

	(void)state;
	assert_int_equal(cfg_set(c, "libstorage.server.services.flagged.driver", "vfs"), 0);
	assert_int_equal(cfg_set(c, "libstorage.server.services.vfs.driver", "loop"), 0);
	assert_int_equal(cfg_children(c, "LibStorage.Server.Services", &names), 6);
	assert_string_equal(names[0], "vfs");
	assert_string_equal(names[1], "loop");
	assert_string_equal(names[2], "empty");
	assert_string_equal(names[3], "nulled");
	assert_string_equal(names[4], "vfs2");
	assert_string_equal(names[5], "flagged");
	assert_null(names[6]);
	cfg_names_free(names);
	assert_int_equal(cfg_children(c, "", &names), 2);
	assert_string_equal(names[0], "libstorage");
	assert_string_equal(names[1], "list");
	cfg_names_free(names);
	assert_int_equal(cfg_children(c, "list", &names), 2);
	assert_string_equal(names[0], "0");
	assert_string_equal(names[1], "1");
	cfg_names_free(names);
	assert_int_equal(cfg_children(c, "libstorage.server.services.vfs.driver", &names), 0);
	assert_null(names[0]);
	cfg_names_free(names);
	assert_int_equal(cfg_children(c, "libstorage.serv", &names), 0);
	cfg_names_free(names);
	cfg_free(c);
}

struct seen {
	char lines[16][160];
	int n;
};

static void collect(const char *key, const char *value, const char *env_name, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s=%s (%s)", key, value, env_name);
}

static void test_foreach(void **state)
{
	char *const env[] = {
		"REXRAY_LOGLEVEL=debug",	/* overrides the file key */
		"LIBSTORAGE_SERVICE=vfs",	/* only in the environment */
		"VFS_ROOT=/v",
		"LOOP_X=",			/* empty: not listed */
		"HOME=/home/u",			/* not one of ours */
		"VIRTUALBOX_ENDPOINT=http://x",	/* prefix not listed */
		NULL,
	};
	struct cfg *c = cfg_from("rexray:\n  logLevel: warn\nb:\n  x: 1\n  nul:\n"
				 "volume:\n  mount:\n    preempt: true\n",
				 env);
	struct seen s = { .n = 0 };

	(void)state;
	assert_int_equal(cfg_set(c, "b.x", "2"), 0);
	assert_int_equal(cfg_set(c, "a.flag", "f"), 0);
	cfg_foreach(c, collect, &s);
	assert_int_equal(s.n, 7);
	assert_string_equal(s.lines[0], "a.flag=f (A_FLAG)");
	assert_string_equal(s.lines[1], "b.nul= (B_NUL)");
	assert_string_equal(s.lines[2], "b.x=2 (B_X)");
	assert_string_equal(s.lines[3], "libstorage.service=vfs (LIBSTORAGE_SERVICE)");
	assert_string_equal(s.lines[4], "rexray.loglevel=debug (REXRAY_LOGLEVEL)");
	assert_string_equal(s.lines[5], "vfs.root=/v (VFS_ROOT)");
	assert_string_equal(s.lines[6], "volume.mount.preempt=true (VOLUME_MOUNT_PREEMPT)");
	cfg_free(c);
}

static void test_env_name(void **state)
{
	char buf[128], small[6];

	(void)state;
	cfg_env_name(OPS "create.default.size", buf, sizeof(buf));
	assert_string_equal(buf, "LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_DEFAULT_SIZE");
	cfg_env_name("rexray.modules.default-docker.host", buf, sizeof(buf));
	assert_string_equal(buf, "REXRAY_MODULES_DEFAULT-DOCKER_HOST");
	cfg_env_name("a.b-c", buf, sizeof(buf));
	assert_string_equal(buf, "A_B-C");
	cfg_env_name("virtualbox.volumePath", small, sizeof(small));
	assert_string_equal(small, "VIRTU");
	cfg_env_name("x", small, 0);	/* must not write */
}

struct thread_arg {
	const struct cfg *c;
	const char *key, *want_key;
	int ok;
};

static void *lookup_loop(void *p)
{
	const char *const svc[] = { "libstorage.server.services.vfs", "libstorage.server", NULL };
	struct thread_arg *a = p;
	const char *k;

	for (int i = 0; i < 2000; i++) {
		if (!cfg_lookup(a->c, svc, a->key, &k) || strcmp(k, a->want_key) != 0)
			return NULL;
	}
	a->ok = 1;
	return NULL;
}

static void test_concurrent_readers_get_their_own_key(void **state)
{
	struct cfg *c = cfg_from(scoped_yaml, NULL);
	struct thread_arg a = { c, "vfs.root", "libstorage.server.services.vfs.vfs.root", 0 };
	struct thread_arg b = { c, "vfs.only", "vfs.only", 0 };
	pthread_t ta, tb;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, lookup_loop, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, lookup_loop, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_true(a.ok && b.ok);
	cfg_free(c);
}

/* Found by fuzzing (tests/fuzz/crashes/config): merge cycles recursed
 * until the stack overflowed; a directive with bad UTF-8 hung libfyaml; a
 * control byte after "? ::" made it free a key twice; a path alias at the
 * end of a text without NUL made it read past the buffer. */
static void test_hostile_yaml_is_refused(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *msg;
	} cases[] = {
#define CASE(t, m) { t, sizeof(t) - 1, m }
		CASE("a: &x\n  <<: *x\n", "enclosing mapping"),
		CASE("<<: */\n", "path aliases are not allowed"),
		CASE("a:\n  <<: */b\nb:\n  <<: */a\n", "path aliases are not allowed"),
		CASE("a: [1]\nb: */a/0", "t.yml:2:5: alias '*/a/0'"),
		CASE("%\xff", "directives"),
		CASE("a: \xff\n", "t.yml:1:4: invalid UTF-8"),
		CASE("a: \xc0\xaf\n", "invalid UTF-8"),		/* overlong '/' */
		CASE("a: \xed\xa0\x80\n", "invalid UTF-8"),	/* a surrogate */
		CASE("a: \xf5\x80\x80\x80\n", "invalid UTF-8"),	/* > U+10FFFF */
		CASE("a: \xe2\x82", "invalid UTF-8"),		/* truncated */
		CASE("? ::\t\0", "t.yml:1:6: control character U+0000"),
		CASE("? ::\t? :\x1a", "control character U+001A"),
		CASE("a: b\x7f\n", "control character U+007F"),
		CASE("a: \xc2\x9b\n", "control character U+009B"),	/* C1 CSI */
		CASE("a: \xef\xbf\xbf\n", "U+FFFF"),
		CASE("? e:\t-", "t.yml:1:1: explicit keys ('?')"),
		CASE("a:\n  - ? e:\t-\n", "t.yml:2:5: explicit keys ('?')"),
		CASE(": ? e:\t-", "t.yml:1:3: explicit keys ('?')"),
		CASE("{? a: b}", "t.yml:1:2: explicit keys ('?')"),
#undef CASE
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg *c = cfg_new();
		struct err e = ERR_INIT;
		assert_non_null(c);
		assert_int_equal(cfg_load_string(c, "t.yml", cases[i].text, cases[i].len, &e),
				 -EINVAL);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, cases[i].msg);
		cfg_free(c);
	}
}

/* What YAML allows stays allowed: TAB, CR LF, NEL, a BOM, any plane, and
 * a line starting with '?' inside a block scalar. */
static void test_unicode_yaml_is_accepted(void **state)
{
	static const char text2[] = "d: |\n  ? not a key\ne: ?x\nf: 'a ? b' # c ? d\n";
	static const char text[] = "\xef\xbb\xbf" "a:\t\"x\"\r\nb: caf\xc3\xa9 \xc2\x85 \xf0\x9f\x92\xbe\n";
	struct cfg *c = cfg_new();
	struct err e = ERR_INIT;

	(void)state;
	assert_non_null(c);
	assert_int_equal(cfg_load_string(c, "t.yml", text, sizeof(text) - 1, &e), 0);
	assert_string_equal(cfg_get(c, "a"), "x");
	assert_non_null(strstr(cfg_get(c, "b"), "caf\xc3\xa9"));
	assert_non_null(strstr(cfg_get(c, "b"), "\xf0\x9f\x92\xbe"));
	cfg_free(c);
	c = cfg_new();
	assert_non_null(c);
	assert_int_equal(cfg_load_string(c, "t.yml", text2, strlen(text2), &e), 0);
	assert_string_equal(cfg_get(c, "d"), "? not a key\n");
	assert_string_equal(cfg_get(c, "e"), "?x");
	assert_string_equal(cfg_get(c, "f"), "a ? b");
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_yaml_is_refused),
		cmocka_unit_test(test_unicode_yaml_is_accepted),
		cmocka_unit_test(test_flatten_nested_maps_and_sequences),
		cmocka_unit_test(test_keys_are_case_insensitive),
		cmocka_unit_test(test_env_beats_file_and_flags_beat_env),
		cmocka_unit_test(test_process_env_read_at_get_time),
		cmocka_unit_test(test_scoped_lookups),
		cmocka_unit_test(test_scopes_try_every_layer_per_candidate),
		cmocka_unit_test(test_every_alias),
		cmocka_unit_test(test_var_expansion),
		cmocka_unit_test(test_var_expansion_is_bounded),
		cmocka_unit_test(test_seed_snippet),
		cmocka_unit_test(test_bool_getter),
		cmocka_unit_test(test_int_getter),
		cmocka_unit_test(test_duration_getter),
		cmocka_unit_test(test_mode_getter),
		cmocka_unit_test(test_str_getter),
		cmocka_unit_test(test_yaml_syntax_errors),
		cmocka_unit_test(test_yaml_error_from_file_names_file),
		cmocka_unit_test(test_empty_documents_are_empty),
		cmocka_unit_test(test_anchors_aliases_and_merge_keys),
		cmocka_unit_test(test_alias_bomb_is_bounded),
		cmocka_unit_test(test_failed_load_keeps_old_file_layer),
		cmocka_unit_test(test_missing_explicit_file),
		cmocka_unit_test(test_load_default_order),
		cmocka_unit_test(test_children),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_env_name),
		cmocka_unit_test(test_concurrent_readers_get_their_own_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
