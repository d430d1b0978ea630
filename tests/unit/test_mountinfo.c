/* Unit tests for mountinfo_parse (os/fs.h) on crafted text: no root needed;
 * and osfs_bind_mount_of on real bind mounts (root only, else skipped). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/mountinfo.h"
#include "util/fs.h"

#include <pthread.h>

static void test_empty(void **state)
{
	struct mount_table t = { (struct mountinfo *)1, 99 };

	(void)state;
	assert_int_equal(mountinfo_parse("", &t), 0);
	assert_int_equal(t.n, 0);
	assert_null(t.m);
	mount_table_release(&t);
	assert_int_equal(mountinfo_parse("\n\n", &t), 0);
	assert_int_equal(t.n, 0);
	mount_table_release(&t);
	assert_int_equal(mountinfo_parse(NULL, &t), -EINVAL);
	mount_table_release(NULL);
}

static void test_basic_fields(void **state)
{
	const char *text =
		"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
		"36 27 7:3 / /mnt/vol rw,noatime shared:1 master:2 - ext4 /dev/loop3 rw,seclabel\n";
	struct mount_table t;
	struct mountinfo *m;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 2);
	m = &t.m[0];
	assert_int_equal(m->id, 22);
	assert_int_equal(m->parent, 27);
	assert_int_equal(m->major, 0);
	assert_int_equal(m->minor, 21);
	assert_string_equal(m->root, "/");
	assert_string_equal(m->mount_point, "/proc");
	assert_string_equal(m->options, "rw,relatime");
	assert_string_equal(m->fstype, "proc");
	assert_string_equal(m->source, "proc");
	assert_string_equal(m->super_options, "rw");
	m = &t.m[1];
	assert_int_equal(m->id, 36);
	assert_int_equal(m->major, 7);
	assert_int_equal(m->minor, 3);
	assert_string_equal(m->mount_point, "/mnt/vol");
	assert_string_equal(m->options, "rw,noatime");
	assert_string_equal(m->fstype, "ext4");
	assert_string_equal(m->source, "/dev/loop3");
	assert_string_equal(m->super_options, "rw,seclabel");
	mount_table_release(&t);
	assert_int_equal(t.n, 0);
	assert_null(t.m);
}

static void test_escapes(void **state)
{
	/* space, tab, newline, backslash; the last line has no final newline */
	const char *text = "40 1 8:1 /sub\\040dir /mnt/a\\040b\\011c\\012d\\134e rw - xfs "
			   "/dev/my\\040disk rw\n"
			   "41 1 8:2 / /x\\134 rw - ext4 /dev/sda2 rw";
	struct mount_table t;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.m[0].root, "/sub dir");
	assert_string_equal(t.m[0].mount_point, "/mnt/a b\tc\nd\\e");
	assert_string_equal(t.m[0].source, "/dev/my disk");
	assert_string_equal(t.m[1].mount_point, "/x\\");
	assert_string_equal(t.m[1].source, "/dev/sda2");
	mount_table_release(&t);
}

static void test_not_escapes(void **state)
{
	/* a backslash without three octal digits, and \000, stay as written */
	const char *text = "40 1 8:1 / /a\\9b\\04\\000 rw - ext4 /dev/x rw\n";
	struct mount_table t;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.m[0].mount_point, "/a\\9b\\04\\000");
	mount_table_release(&t);
}

static void test_optional_fields(void **state)
{
	const char *text =
		"50 1 0:30 / /a rw shared:1 - tmpfs tmpfs rw\n"
		"51 1 0:31 / /b rw shared:1 master:2 propagate_from:3 unbindable - tmpfs t rw\n"
		"52 1 0:32 / /c rw - tmpfs t rw\n";
	struct mount_table t;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.m[0].fstype, "tmpfs");
	assert_string_equal(t.m[1].mount_point, "/b");
	assert_string_equal(t.m[1].source, "t");
	assert_string_equal(t.m[1].super_options, "rw");
	assert_string_equal(t.m[2].mount_point, "/c");
	mount_table_release(&t);
}

static void test_malformed_skipped(void **state)
{
	const char *text =
		"60 1 0:40 / /nosep rw tmpfs tmpfs rw\n"		/* no "-" */
		"61 1 0:41 / /short rw - tmpfs\n"			/* too few after "-" */
		"62 1 0:42 / /extra rw - tmpfs t rw junk\n"		/* too many after "-" */
		"x 1 0:43 / /badid rw - tmpfs t rw\n"			/* id not a number */
		"63 1 042 / /badmm rw - tmpfs t rw\n"			/* no major:minor */
		"64 1 0:44x / /badmm2 rw - tmpfs t rw\n"		/* trailing junk */
		"65 1 0:45 /\n"						/* truncated */
		"garbage\n"
		"\n"
		"66 1 0:46 / /good rw - tmpfs t rw\n";
	struct mount_table t;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.m[0].id, 66);
	assert_string_equal(t.m[0].mount_point, "/good");
	mount_table_release(&t);
}

static void test_dash_as_path(void **state)
{
	/* a mount point literally named "-" must not be taken for the separator */
	const char *text = "70 1 0:50 - - rw - tmpfs t rw\n";
	struct mount_table t;

	(void)state;
	assert_int_equal(mountinfo_parse(text, &t), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.m[0].root, "-");
	assert_string_equal(t.m[0].mount_point, "-");
	assert_string_equal(t.m[0].fstype, "tmpfs");
	mount_table_release(&t);
}

static void test_many_lines(void **state)
{
	size_t cap = 200 * 64, len = 0;
	char *text = malloc(cap);
	struct mount_table t;

	(void)state;
	assert_non_null(text);
	text[0] = '\0';
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"%d 1 0:%d / /m/%d rw - tmpfs t rw\n", 100 + i, i, i);
	assert_int_equal(mountinfo_parse(text, &t), 0);
	free(text);
	assert_int_equal(t.n, 200);
	assert_int_equal(t.m[199].id, 299);
	assert_string_equal(t.m[199].mount_point, "/m/199");
	mount_table_release(&t);
}

static void test_read_self(void **state)
{
	struct mount_table t;
	struct err e = ERR_INIT;
	bool root = false;

	(void)state;
	assert_int_equal(mountinfo_read(&t, &e), 0);
	assert_true(t.n > 0);
	for (size_t i = 0; i < t.n; i++)
		root = root || strcmp(t.m[i].mount_point, "/") == 0;
	if (!root) {
		/* a chroot: its / is a directory of another root, not a mount */
		mount_table_release(&t);
		print_message("/ is not a mount point here (a chroot?): this test needs a real "
			      "root, entered with pivot_root or booted\n");
		skip();
	}
	mount_table_release(&t);
	assert_true(osfs_is_mount_point("/"));
	assert_true(osfs_is_mount_point("/proc"));
	assert_false(osfs_is_mount_point("/proc/self"));
	assert_false(osfs_is_mount_point("/nonexistent/path/x"));
}

struct gen_arg {
	struct mount_watch *w;
	uint64_t g;
};

static void *gen_in_thread(void *arg)
{
	struct gen_arg *a = arg;

	a->g = mount_watch_gen(a->w);
	return NULL;
}

/* The generation as another thread (so another of the watch's files)
 * sees it. */
static uint64_t gen_elsewhere(struct mount_watch *w)
{
	struct gen_arg a = { .w = w };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, gen_in_thread, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	return a.g;
}

/* maybe_bound's answer at a generation that stood through it (other
 * processes on this machine may mount meanwhile: then ask again). */
static bool bound_now(struct mount_watch *w, const char *dir)
{
	for (int i = 0; i < 100; i++) {
		uint64_t g = mount_watch_gen(w);
		bool b = mount_watch_maybe_bound(w, g, dir);
		if (mount_watch_gen(w) == g)
			return b;
	}
	fail_msg("the mount table never stood still");
	return true;
}

/* mount_watch: the generation stands while the mount table does, and
 * moves for every thread once anything is mounted or unmounted; the
 * roots answer for binds of a directory. */
static void test_mount_watch(void **state)
{
	char dir[] = "/tmp/rr-mw-XXXXXX", src[64], dst[64], other[64];
	struct mount_watch w;
	uint64_t g, g2;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: no mounts to watch\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(dst, 0755), 0);
	assert_int_equal(mkdir(other, 0755), 0);
	mount_watch_init(&w);
	/* each thread's first call opens a file of its own: settle them all */
	for (int i = 0; i < 2 * MOUNT_WATCH_FILES; i++)
		gen_elsewhere(&w);
	assert_false(bound_now(&w, src));
	assert_false(bound_now(&w, other));
	g = mount_watch_gen(&w);
	assert_true(g >= 1);

	assert_int_equal(mount(src, dst, NULL, MS_BIND, NULL), 0);
	g2 = gen_elsewhere(&w); /* any thread sees the change at once */
	assert_true(g2 != g);
	assert_true(bound_now(&w, src)); /* bound at dst */
	assert_false(bound_now(&w, other));
	assert_true(mount_watch_maybe_bound(&w, g, other)); /* an old generation: unsure */
	assert_true(mount_watch_maybe_bound(&w, mount_watch_gen(&w), "/nonexistent/dir"));

	assert_int_equal(umount(dst), 0);
	assert_true(mount_watch_gen(&w) != g2);
	assert_false(bound_now(&w, src));
	mount_watch_destroy(&w);
	rmdir(src);
	rmdir(dst);
	rmdir(other);
	rmdir(dir);
}

/* A bind mount of base/src at base/dst (made here); dst returned. */
static void bind(const char *base, const char *src, const char *dst)
{
	char s[256], d[256];

	snprintf(s, sizeof(s), "%s/%s", base, src);
	snprintf(d, sizeof(d), "%s/%s", base, dst);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(mount(s, d, NULL, MS_BIND, NULL), 0);
}

static void assert_bound(const char *base, const char *dir, const char *want)
{
	char path[256], full[256];
	char *got;

	snprintf(path, sizeof(path), "%s/%s", base, dir);
	got = osfs_bind_mount_of(path);
	if (!want) {
		assert_null(got);
		return;
	}
	snprintf(full, sizeof(full), "%s/%s", base, want);
	assert_non_null(got);
	assert_string_equal(got, full);
	free(got);
}

/* Whatever the path to a volume's directory looks like, a bind mount of it
 * is found (a vfs remove must never delete a directory in use): names that
 * mountinfo escapes, a directory that is itself a mount point, a path
 * through a symlink; and none is found for a sibling. */
static char bind_base[] = "/tmp/rr-bind-XXXXXX";

/* Whatever the test left mounted under its directory goes, deepest
 * first, then the directory: also after a failed assertion. */
static int bind_teardown(void **state)
{
	struct mount_table t;

	(void)state;
	if (strchr(bind_base, 'X'))
		return 0;
	for (int pass = 0; pass < 4 && mountinfo_read(&t, NULL) == 0; pass++) {
		size_t left = 0;
		for (size_t i = t.n; i-- > 0;) {
			if (strncmp(t.m[i].mount_point, bind_base, strlen(bind_base)) == 0) {
				umount2(t.m[i].mount_point, MNT_DETACH);
				left++;
			}
		}
		mount_table_release(&t);
		if (!left)
			break;
	}
	fs_remove_tree(bind_base);
	return 0;
}

static void test_bind_mount_of(void **state)
{
	char *base = bind_base, p[256];

	(void)state;
	if (geteuid() != 0) {
		print_message("bind mounts need root\n");
		skip();
	}
	assert_non_null(mkdtemp(base));
	snprintf(p, sizeof(p), "%s/vol/v1", base);
	assert_int_equal(fs_mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/vol/a b", base);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/vol/v2", base);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/vol/mp", base);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(mount("rr-bind", p, "tmpfs", 0, "size=1m"), 0);
	snprintf(p, sizeof(p), "%s/lnk", base);
	assert_int_equal(symlink("vol/v1", p), 0);

	assert_bound(base, "vol/v1", NULL);
	bind(base, "vol/v1", "t1");
	bind(base, "vol/a b", "t2");
	bind(base, "vol/mp", "t3");
	assert_bound(base, "vol/v1", "t1");
	assert_bound(base, "vol/a b", "t2");
	assert_bound(base, "vol/mp", "t3");
	assert_bound(base, "lnk", "t1");
	assert_bound(base, "vol/v2", NULL);
	/* renamed after the bind: mountinfo shows the root's name now */
	snprintf(p, sizeof(p), "%s/vol/v2", base);
	bind(base, "vol/v2", "t4");
	{
		char to[256];
		snprintf(to, sizeof(to), "%s/vol/v3", base);
		assert_int_equal(rename(p, to), 0);
	}
	assert_bound(base, "vol/v3", "t4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_basic_fields),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_not_escapes),
		cmocka_unit_test(test_optional_fields),
		cmocka_unit_test(test_malformed_skipped),
		cmocka_unit_test(test_dash_as_path),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_mount_watch),
		cmocka_unit_test_teardown(test_bind_mount_of, bind_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
