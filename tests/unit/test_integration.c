/* Unit tests for integration/: the workflow in-process, on the vfs driver
 * (bind mounts), with a real store in a temp directory. Needs root for
 * the mounts; skips otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "client/client.h"
#include "config/config.h"
#include "integration/integration.h"
#include "os/fs.h"
#include "os/mountinfo.h"
#include "server/service.h"
#include "store/store.h"
#include "util/fs.h"

struct fx {
	char root[64];
	struct paths paths;
	struct cfg *cfg;
	struct store *st;
	struct ls_server *srv;
	struct storage_client *cl;
	struct integration *ig;
};

static int open_all(struct fx *f)
{
	struct err e = ERR_INIT;
	char db[PATH_MAX + 16];

	snprintf(db, sizeof(db), "%s/rexray.db", f->paths.lib);
	if (store_open(db, &f->st, &e) < 0 || ls_server_new(f->cfg, &f->paths, f->st, &f->srv, &e) < 0 ||
	    client_local_new(f->srv, &f->cl, &e) < 0 ||
	    integration_new(f->cfg, &f->paths, f->st, f->cl, "vfs", NULL, &f->ig, &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void close_all(struct fx *f)
{
	integration_free(f->ig);
	client_free(f->cl);
	ls_server_free(f->srv);
	store_close(f->st);
	f->ig = NULL;
	f->cl = NULL;
	f->srv = NULL;
	f->st = NULL;
}

static int setup_with(void **state, const char *const *settings)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (geteuid() != 0) {
		free(f);
		*state = NULL;
		return 0;
	}
	strcpy(f->root, "/tmp/rr-integ-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->paths.etc, sizeof(f->paths.etc), "%s/etc", f->root);
	snprintf(f->paths.lib, sizeof(f->paths.lib), "%s/lib", f->root);
	snprintf(f->paths.run, sizeof(f->paths.run), "%s/run", f->root);
	snprintf(f->paths.log, sizeof(f->paths.log), "%s/log", f->root);
	assert_int_equal(paths_mkdirs(&f->paths, NULL), 0);
	f->cfg = cfg_new();
	assert_int_equal(cfg_set_environ(f->cfg, (char *const[]){ NULL }), 0);
	cfg_set(f->cfg, "libstorage.service", "vfs");
	for (size_t i = 0; settings && settings[i]; i += 2)
		cfg_set(f->cfg, settings[i], settings[i + 1]);
	assert_int_equal(open_all(f), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int setup_disabled(void **state)
{
	static const char *const s[] = {
		"libstorage.integration.volume.operations.remove.disable", "true",
		"libstorage.integration.volume.operations.create.disable", "true", NULL };
	return setup_with(state, s);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char mp[PATH_MAX + 64];

	if (!f)
		return 0;
	close_all(f);
	/* whatever a failed test left mounted */
	for (int i = 0; i < 8; i++) {
		snprintf(mp, sizeof(mp), "%s/lib/volumes/v%d", f->root, i);
		umount2(mp, MNT_DETACH);
	}
	fs_remove_tree(f->root);
	cfg_free(f->cfg);
	free(f);
	return 0;
}

#define NEED_ROOT(f)                                                                          \
	do {                                                                                  \
		if (!(f))                                                                     \
			skip();                                                               \
	} while (0)

static bool exists(struct fx *f, const char *name)
{
	struct volume v;
	struct err e = ERR_INIT;
	int r = integ_inspect(f->ig, name, &v, NULL, &e);

	if (r == 0)
		volume_release(&v);
	return r == 0;
}

static void test_counts_per_caller(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	char *p1 = NULL, *p2 = NULL, *p;

	NEED_ROOT(f);
	assert_int_equal(integ_mount(f->ig, "v1", "ctr-a", NULL, &p1, &e), 0);
	assert_int_equal(integ_mount(f->ig, "v1", "ctr-b", NULL, &p2, &e), 0);
	assert_string_equal(p1, p2);
	{
		char mp[PATH_MAX + 64];
		snprintf(mp, sizeof(mp), "%s/volumes/v1", f->paths.lib);
		assert_true(osfs_is_mount_point(mp));
	}
	/* an unknown caller's unmount succeeds and changes nothing */
	assert_int_equal(integ_unmount(f->ig, "v1", "stranger", &e), 0);
	assert_int_equal(integ_path(f->ig, "v1", &p, &e), 0);
	assert_string_equal(p, p1);
	free(p);
	assert_int_equal(integ_unmount(f->ig, "v1", "ctr-a", &e), 0);
	assert_int_equal(integ_path(f->ig, "v1", &p, &e), 0);
	assert_string_equal(p, p1);
	free(p);
	assert_int_equal(integ_unmount(f->ig, "v1", "ctr-b", &e), 0);
	assert_int_equal(integ_path(f->ig, "v1", &p, &e), 0);
	assert_string_equal(p, "");
	free(p);
	free(p1);
	free(p2);
}

static void test_counts_survive_reopen(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	char *p1 = NULL, *p;

	NEED_ROOT(f);
	assert_int_equal(integ_mount(f->ig, "v2", "a", NULL, &p1, &e), 0);
	assert_int_equal(integ_mount(f->ig, "v2", "b", NULL, &p, &e), 0);
	free(p);
	/* a restart of the engine: everything in memory is gone */
	close_all(f);
	assert_int_equal(open_all(f), 0);
	assert_int_equal(integ_unmount(f->ig, "v2", "a", &e), 0);
	assert_int_equal(integ_path(f->ig, "v2", &p, &e), 0);
	assert_string_equal(p, p1);
	free(p);
	assert_int_equal(integ_unmount(f->ig, "v2", "b", &e), 0);
	assert_int_equal(integ_path(f->ig, "v2", &p, &e), 0);
	assert_string_equal(p, "");
	free(p);
	free(p1);
}

static void test_remove_refuses_in_use_then_removes(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	char *p = NULL;

	NEED_ROOT(f);
	assert_int_equal(integ_mount(f->ig, "v3", "a", NULL, &p, &e), 0);
	assert_int_equal(integ_remove(f->ig, "v3", &e), -EBUSY);
	assert_non_null(strstr(e.msg, "in use"));
	assert_true(exists(f, "v3"));
	assert_int_equal(integ_unmount(f->ig, "v3", "a", &e), 0);
	assert_int_equal(integ_remove(f->ig, "v3", &e), 0);
	assert_false(exists(f, "v3"));
	assert_int_equal(integ_remove(f->ig, "v3", &e), -ENOENT);
	free(p);
}

static void test_create_is_idempotent_and_validates(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	json_t *opts = json_pack("{s:s, s:s}", "size", "3", "custom", "kept");
	json_t *bad = json_pack("{s:s}", "fsType", "ntfs");
	json_t *badsize = json_pack("{s:s}", "size", "0");
	struct volume v;

	NEED_ROOT(f);
	assert_int_equal(integ_create(f->ig, "v4", opts, &e), 0);
	assert_int_equal(integ_create(f->ig, "v4", opts, &e), 0);
	assert_int_equal(integ_inspect(f->ig, "V4", &v, NULL, &e), 0);
	assert_int_equal(v.size, 3);
	assert_string_equal(json_string_value(json_object_get(v.fields, "custom")), "kept");
	volume_release(&v);
	assert_int_equal(integ_create(f->ig, "v5", bad, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "ntfs"));
	assert_int_equal(integ_create(f->ig, "v5", badsize, &e), -EINVAL);
	assert_int_equal(integ_create(f->ig, "../v5", NULL, &e), -EINVAL);
	assert_false(exists(f, "v5"));
	json_decref(opts);
	json_decref(bad);
	json_decref(badsize);
}

static void test_disabled_create_and_remove_are_noops(void **state)
{
	struct fx *f = *state;
	struct err e = ERR_INIT;
	struct volume_create_req req = { .name = "v6" };
	struct volume v;
	struct ls_ctx ctx = { 0 };

	NEED_ROOT(f);
	assert_int_equal(integ_create(f->ig, "v6", NULL, &e), 0);
	assert_false(exists(f, "v6"));
	/* made directly on the server, it stays despite a remove */
	assert_int_equal(f->cl->ops->volume_create(f->cl, "vfs", &req, &ctx, &v, &e), 0);
	volume_release(&v);
	assert_int_equal(integ_remove(f->ig, "v6", &e), 0);
	assert_true(exists(f, "v6"));
	/* and implicit create is off with create.disable */
	char *p = NULL;
	assert_int_equal(integ_mount(f->ig, "v7", NULL, NULL, &p, &e), -ENOENT);
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts_per_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_refuses_in_use_then_removes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_is_idempotent_and_validates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disabled_create_and_remove_are_noops,
						setup_disabled, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
