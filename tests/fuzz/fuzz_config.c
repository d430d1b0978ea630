/*
 * fuzz_config: the YAML configuration (config/config.h): cfg_load_string,
 * then the look-ups the engine makes: every key listed by cfg_foreach
 * through cfg_get, cfg_lookup and each typed getter, a few scoped
 * look-ups of real keys, cfg_children, and a flag on top.
 *
 * Input: the file's text (any bytes; the length is passed, no NUL needed).
 * The environment is a fixed snapshot (cfg_set_environ), so "$VAR"
 * expansion is exercised and reproducible.
 * Invariants:
 *  - a failed load is -EINVAL/-EFBIG/-ENOMEM with a "config: " message
 *    and leaves the file layer empty;
 *  - listed keys are non-empty, lower case, shorter than 1024 bytes;
 *  - cfg_lookup without scopes agrees with cfg_get;
 *  - a typed getter either succeeds within its bounds or fails with
 *    -EINVAL, a message and the default in *out;
 *  - cfg_children names are non-empty, dot-free and unique;
 *  - a flag set with cfg_set wins over the file;
 *  - libstorage.host splits (cfg_list_next) into non-empty items without
 *    commas or blanks at their ends, which ls_addrs_parse (client/
 *    failover.h) takes one for one or refuses with -EINVAL and a message.
 */
#include <stdbool.h>

#include "client/failover.h"
#include "config/config.h"
#include "fuzz.h"

#define KEYS_CHECKED 32



static char *const fuzz_env[] = {
	"HOME=/root",
	"USER=fuzz",
	"X=abc",
	"EMPTY=",
	"REXRAY_LOGLEVEL=debug",
	"LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_MOUNT_PREEMPT=true",
	NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

struct walk {
	const struct cfg *c;
	size_t n;
};

/* Every getter on one key, at the root. */
static void check_typed(const struct cfg *c, const char *key)
{
	struct err e = ERR_INIT;
	const char *s;
	bool b = false;
	int64_t i = 0;
	mode_t m = 0;
	int r;

	FUZZ_CHECK(cfg_str(c, NULL, key, "def", &s) == 0 && s);

	r = cfg_bool(c, NULL, key, true, &b, &e);
	FUZZ_CHECK(r == 0 || (r == -EINVAL && b == true && e.msg[0]));

	err_clear(&e);
	r = cfg_int(c, NULL, key, 7, -100, 1000000, &i, &e);
	FUZZ_CHECK(r == 0 ? i >= -100 && i <= 1000000 : r == -EINVAL && i == 7 && e.msg[0]);

	err_clear(&e);
	r = cfg_int(c, NULL, key, 0, INT64_MIN, INT64_MAX, &i, &e);
	FUZZ_CHECK(r == 0 || (r == -EINVAL && i == 0 && e.msg[0]));

	err_clear(&e);
	r = cfg_duration_ms(c, NULL, key, 1234, &i, &e);
	FUZZ_CHECK(r == 0 ? i >= 0 : r == -EINVAL && i == 1234 && e.msg[0]);

	err_clear(&e);
	r = cfg_mode(c, NULL, key, 0700, &m, &e);
	FUZZ_CHECK(r == 0 ? m <= 07777 : r == -EINVAL && m == 0700 && e.msg[0]);
}

static void each_key(const char *key, const char *value, const char *env_name, void *arg)
{
	struct walk *w = arg;
	const char *got, *matched = NULL;
	size_t len = strlen(key);

	FUZZ_CHECK(value && env_name);
	FUZZ_CHECK(len > 0 && len < 1024);
	for (const char *p = key; *p; p++)
		FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
	if (w->n++ >= KEYS_CHECKED)
		return;
	got = cfg_get(w->c, key);
	FUZZ_CHECK(cfg_lookup(w->c, NULL, key, &matched) == got);
	FUZZ_CHECK(matched);
	check_typed(w->c, key);
}

static void check_children(const struct cfg *c, const char *prefix)
{
	char **names = NULL;
	int n = cfg_children(c, prefix, &names);

	FUZZ_CHECK(n >= 0 && names);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(names[i] && names[i][0] && !strchr(names[i], '.'));
		for (int j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(names[i], names[j]) != 0);
	}
	FUZZ_CHECK(names[n] == NULL);
	cfg_names_free(names);
}

/* The engine's own look-ups: one typed getter each, in a service's scope
 * or a module's (each look-up tries several candidate keys and aliases,
 * so these are kept few: the fuzzer's speed is what finds bugs). */
static const char *const svc_scopes[] = { "libstorage.server.services.vfs",
					  "libstorage.server", NULL };
static const char *const mod_scopes[] = { "rexray.modules.default-docker", NULL };

static void check_scoped(const struct cfg *c)
{
	struct err e = ERR_INIT;
	const char *s;
	bool b;
	int64_t i;
	mode_t m;
	int r;

	r = cfg_bool(c, mod_scopes, "libstorage.integration.volume.operations.mount.preempt",
		     false, &b, &e);
	FUZZ_CHECK(r == 0 || (r == -EINVAL && !b && e.msg[0]));
	err_clear(&e);
	r = cfg_int(c, svc_scopes, "libstorage.integration.volume.operations.create.default.size",
		    16, 0, 1 << 20, &i, &e);
	FUZZ_CHECK(r == 0 ? i >= 0 && i <= 1 << 20 : r == -EINVAL && i == 16 && e.msg[0]);
	err_clear(&e);
	r = cfg_duration_ms(c, svc_scopes, "libstorage.server.tasks.exeTimeout", 60000, &i, &e);
	FUZZ_CHECK(r == 0 ? i >= 0 : r == -EINVAL && i == 60000 && e.msg[0]);
	err_clear(&e);
	r = cfg_mode(c, svc_scopes, "vfs.socketMode", 0700, &m, &e);
	FUZZ_CHECK(r == 0 ? m <= 07777 : r == -EINVAL && m == 0700 && e.msg[0]);
	FUZZ_CHECK(cfg_str(c, svc_scopes, "vfs.root", "/var/lib/rexray/vfs", &s) == 0 && s);
	FUZZ_CHECK(cfg_str(c, mod_scopes, "host", "", &s) == 0 && s);
}

/* libstorage.host: a list's items, and the client's parse of them. */
static void check_host_list(const struct cfg *c)
{
	const char *v = cfg_key_get(c, CFGK_HOST), *cur = v, *item;
	struct err e = ERR_INIT;
	struct ls_addr *a = NULL;
	size_t len, n = 0, got = 0;
	int r;

	while (cfg_list_next(&cur, &item, &len)) {
		FUZZ_CHECK(len > 0 && !memchr(item, ',', len));
		FUZZ_CHECK(item[0] != ' ' && item[0] != '\t');
		FUZZ_CHECK(item[len - 1] != ' ' && item[len - 1] != '\t');
		n++;
	}
	if (!v)
		return;
	r = ls_addrs_parse(v, &a, &got, &e);
	FUZZ_CHECK(r == 0 ? got == n && got >= 1 && got <= LS_HOSTS_MAX
			  : (r == -EINVAL || r == -ENOMEM) && !a && got == 0 && e.msg[0]);
	ls_addrs_free(a, got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = cfg_new();
	struct err e = ERR_INIT;
	struct walk w;
	int r;

	FUZZ_CHECK(c);
	FUZZ_CHECK(cfg_set_environ(c, fuzz_env) == 0);
	r = cfg_load_string(c, "fuzz.yml", (const char *)data, size, &e);
	if (r < 0) {
		char **names = NULL;

		FUZZ_CHECK(r == -EINVAL || r == -EFBIG || r == -ENOMEM);
		FUZZ_CHECK(e.code == r && strncmp(e.msg, "config: ", 8) == 0);
		FUZZ_CHECK(cfg_children(c, "", &names) == 0);
		cfg_names_free(names);
		cfg_free(c);
		return 0;
	}

	w = (struct walk){ c, 0 };
	cfg_foreach(c, each_key, &w);
	check_scoped(c);
	check_host_list(c);
	check_children(c, "");
	check_children(c, "libstorage.server.services");
	check_children(c, "rexray.modules");

	FUZZ_CHECK(cfg_set(c, "LibStorage.Service", "vfs") == 0);
	FUZZ_CHECK(fuzz_streq(cfg_get(c, "libstorage.service"), "vfs"));
	cfg_free(c);
	return 0;
}
