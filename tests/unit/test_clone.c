/*
 * Unit tests for os/clone (osclone_file, osclone_tree) and the resize and
 * snapshot helpers of os/fs and os/loopdev (freeze/thaw, grow,
 * loopdev_set_capacity), issue 16.
 *
 * Plain tests run in a temp directory on whatever /tmp is. The tests that
 * need real filesystems (xfs with reflink, ext4, online grow, freeze) make
 * an image in their temp directory, attach it, mkfs and mount it below
 * that directory; they need root and /dev/loop-control and skip
 * otherwise. The teardown thaws, unmounts and detaches whatever is below
 * the test's own directory (found by scanning), so an interrupted test
 * leaves nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "os/clone.h"
#include "os/fs.h"
#include "os/loopdev.h"
#include "os/mountinfo.h"
#include "os/run.h"
#include "util/fs.h"
#include "util/sys.h"

#define MiB	       (1024ULL * 1024ULL)
#define GiB	       (1024ULL * MiB)
#define ATTACH_TIMEOUT 5000
#define TOOL_TIMEOUT   120000

#ifndef FITHAW
#define FITHAW _IOWR('X', 120, int)
#endif

struct fixture {
	char dir[64];
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Thaw (in case a test stopped while frozen) and unmount everything below dir. */
static void unmount_ours(const char *dir)
{
	struct mount_table t;

	if (mountinfo_read(&t, NULL) < 0)
		return;
	for (size_t i = t.n; i-- > 0;) {
		const char *mp = t.m[i].mount_point;
		int fd, arg = 0;

		if (!under(mp, dir))
			continue;
		fd = open(mp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			ioctl(fd, FITHAW, &arg);
			close(fd);
		}
		if (umount2(mp, UMOUNT_NOFOLLOW) < 0 && errno == EBUSY)
			umount2(mp, MNT_DETACH | UMOUNT_NOFOLLOW);
	}
	mount_table_release(&t);
}

struct ours {
	const char *dir;
	char devs[64][LOOPDEV_PATH_MAX];
	size_t n;
};

static int collect_ours(const char *dev, const char *backing, void *arg)
{
	struct ours *o = arg;

	if (under(backing, o->dir) && o->n < 64)
		snprintf(o->devs[o->n++], LOOPDEV_PATH_MAX, "%s", dev);
	return 0;
}

static void detach_ours(const char *dir)
{
	struct ours *o = calloc(1, sizeof(*o));

	if (!o)
		return;
	o->dir = dir;
	loopdev_foreach(collect_ours, o);
	for (size_t i = 0; i < o->n; i++)
		loopdev_detach(o->devs[i], NULL);
	free(o);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/rr-clone-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sys_fault_arm(SYS_OPEN, false, 0, 0, false);
	unmount_ours(f->dir);
	detach_ours(f->dir);
	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static bool loop_available(void)
{
	int fd;

	if (geteuid() != 0)
		return false;
	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

#define NEED_LOOP()                                                                    \
	do {                                                                           \
		if (!loop_available()) {                                               \
			print_message("skipping: needs root and /dev/loop-control\n"); \
			skip();                                                        \
		}                                                                      \
	} while (0)

#define NEED_ROOT()                                         \
	do {                                                \
		if (geteuid() != 0) {                       \
			print_message("skipping: needs root\n"); \
			skip();                             \
		}                                           \
	} while (0)

static bool have_program(const char *prog)
{
	const char *argv[] = { prog, "-V", NULL };

	return run_command(argv, 10000, NULL) != -ENOENT;
}

static void path_in(char *buf, size_t sz, const char *dir, const char *name)
{
	assert_true(snprintf(buf, sz, "%s/%s", dir, name) < (int)sz);
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

/* A sparse file of size bytes with a data extent of len at each offset. */
static void make_sparse(const char *path, uint64_t size, const uint64_t *offs, size_t n,
			uint64_t len)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (size_t i = 0; i < n; i++) {
		fill(buf, len, (unsigned)i + 1);
		assert_int_equal(pwrite(fd, buf, len, (off_t)offs[i]), (ssize_t)len);
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
}

/* A half-full file: len bytes of data every 2*len. */
static void make_half_full(const char *path, uint64_t size, uint64_t len)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (uint64_t off = 0; off < size; off += 2 * len) {
		fill(buf, len, (unsigned)(off >> 20));
		assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
}

/* Same size, and the same bytes wherever either file has data. */
static void assert_same_file(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	unsigned char *ba = malloc(MiB), *bb = malloc(MiB);
	struct stat sa, sb;

	assert_true(fa >= 0 && fb >= 0);
	assert_non_null(ba);
	assert_non_null(bb);
	assert_int_equal(fstat(fa, &sa), 0);
	assert_int_equal(fstat(fb, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	for (int pass = 0; pass < 2; pass++) {
		int f = pass ? fb : fa;
		off_t off = 0;

		while (off < sa.st_size) {
			off_t data = lseek(f, off, SEEK_DATA), hole;

			if (data < 0)
				break;
			hole = lseek(f, data, SEEK_HOLE);
			for (off = data; off < hole;) {
				size_t n = (size_t)(hole - off) < MiB ? (size_t)(hole - off) : MiB;

				assert_int_equal(pread(fa, ba, n, off), (ssize_t)n);
				assert_int_equal(pread(fb, bb, n, off), (ssize_t)n);
				assert_memory_equal(ba, bb, n);
				off += (off_t)n;
			}
		}
	}
	free(ba);
	free(bb);
	close(fa);
	close(fb);
}

/* The names in dir, sorted, joined by '|'. */
static void listing(const char *dir, char *buf, size_t sz)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);

	assert_true(n >= 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
			strncat(buf, list[i]->d_name, sz - strlen(buf) - 1);
			strncat(buf, "|", sz - strlen(buf) - 1);
		}
		free(list[i]);
	}
	free(list);
}

/* ---- osclone_file on the plain temp directory ----------------------- */

static void test_sparse_copy_keeps_holes(void **state)
{
	struct fixture *f = *state;
	struct osclone_opts o = { .no_reflink = true };
	struct osclone_result res;
	struct err e = ERR_INIT;
	const uint64_t offs[] = { 100 * MiB, 700 * MiB };
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;

	path_in(src, sizeof(src), f->dir, "src.img");
	path_in(dst, sizeof(dst), f->dir, "dst.img");
	make_sparse(src, GiB, offs, 2, MiB);
	assert_int_equal(osclone_file(src, dst, 0640, &o, &res, &e), 0);
	assert_string_equal(res.how, "copy");
	assert_int_equal(res.copied, 2 * MiB);
	assert_int_equal(res.size, GiB);
	assert_int_equal(res.files, 1);
	assert_int_equal(lstat(dst, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_size, GiB);
	print_message("1 GiB with 2 MiB of data: dst has %lld KiB allocated\n",
		      (long long)st.st_blocks / 2);
	assert_true((uint64_t)st.st_blocks * 512 <= 4 * MiB);
	assert_same_file(src, dst);
	/* a plain clone (reflink attempted first) gives the same bytes */
	assert_int_equal(unlink(dst), 0);
	assert_int_equal(osclone_file(src, dst, 0600, NULL, &res, &e), 0);
	print_message("/tmp's filesystem: %s\n", res.how);
	assert_same_file(src, dst);
}

static void test_dst_exists(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	struct osclone_result res;
	char src[PATH_MAX], dst[PATH_MAX], lnk[PATH_MAX], before[512], after[512], *text = NULL;
	const uint64_t offs[] = { 0 };

	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	path_in(lnk, sizeof(lnk), f->dir, "lnk");
	make_sparse(src, 4 * MiB, offs, 1, MiB);
	assert_int_equal(fs_write_atomic(dst, "keep\n", 5, 0600), 0);
	listing(f->dir, before, sizeof(before));
	assert_int_equal(osclone_file(src, dst, 0600, NULL, &res, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "exists"));
	assert_string_equal(res.how, "");
	assert_int_equal(fs_read_file(dst, 64, &text, NULL), 0);
	assert_string_equal(text, "keep\n");
	free(text);
	/* a dangling symlink as the destination: also taken, never followed */
	assert_int_equal(symlink("/nonexistent-rr-clone-target", lnk), 0);
	assert_int_equal(osclone_file(src, lnk, 0600, NULL, NULL, &e), -EEXIST);
	assert_int_equal(access("/nonexistent-rr-clone-target", F_OK), -1);
	assert_int_equal(unlink(lnk), 0);
	listing(f->dir, after, sizeof(after));
	assert_string_equal(before, after);
	/* the source is untouched */
	{
		struct stat st;

		assert_int_equal(stat(src, &st), 0);
		assert_int_equal(st.st_size, 4 * MiB);
	}
}

static void test_src_refused(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	char src[PATH_MAX], lnk[PATH_MAX], dst[PATH_MAX], fifo[PATH_MAX], before[512],
		after[512];
	const uint64_t offs[] = { 0 };

	path_in(src, sizeof(src), f->dir, "src");
	path_in(lnk, sizeof(lnk), f->dir, "lnk");
	path_in(dst, sizeof(dst), f->dir, "dst");
	path_in(fifo, sizeof(fifo), f->dir, "fifo");
	make_sparse(src, MiB, offs, 1, MiB);
	assert_int_equal(symlink(src, lnk), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	listing(f->dir, before, sizeof(before));
	assert_int_equal(osclone_file(lnk, dst, 0600, NULL, NULL, &e), -ELOOP);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_int_equal(osclone_file("/etc/passwd-rr-nonexistent", dst, 0600, NULL, NULL, &e),
			 -ENOENT);
	assert_int_equal(osclone_file(f->dir, dst, 0600, NULL, NULL, &e), -EINVAL);
	/* a FIFO is neither opened for long (no hang) nor copied */
	assert_int_equal(osclone_file(fifo, dst, 0600, NULL, NULL, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a regular file"));
	/* a destination that is not one name in an existing directory */
	assert_int_equal(osclone_file(src, "/nonexistent-rr/x", 0600, NULL, NULL, &e), -ENOENT);
	{
		char dotdot[PATH_MAX];

		path_in(dotdot, sizeof(dotdot), f->dir, "..");
		assert_int_equal(osclone_file(src, dotdot, 0600, NULL, NULL, &e), -EINVAL);
	}
	listing(f->dir, after, sizeof(after));
	assert_string_equal(before, after);
}

struct prog_rec {
	unsigned calls, cancel_at;
	uint64_t last_done, total;
};

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog_rec *p = arg;

	assert_true(done <= total);
	assert_true(done >= p->last_done);
	p->last_done = done;
	p->total = total;
	p->calls++;
	return p->cancel_at && p->calls >= p->cancel_at;
}

static void test_progress_and_cancel(void **state)
{
	struct fixture *f = *state;
	struct prog_rec p = { 0 };
	struct osclone_opts o = { .progress = on_progress, .arg = &p, .progress_bytes = MiB,
				  .no_reflink = true };
	struct osclone_result res;
	struct err e = ERR_INIT;
	const uint64_t offs[] = { 0, 10 * MiB, 20 * MiB, 30 * MiB };
	char src[PATH_MAX], dst[PATH_MAX], before[512], after[512];

	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	make_sparse(src, 64 * MiB, offs, 4, MiB);
	/* every MiB: at least one call per extent */
	assert_int_equal(osclone_file(src, dst, 0600, &o, &res, &e), 0);
	assert_true(p.calls >= 4);
	assert_int_equal(p.total, 64 * MiB);
	assert_int_equal(unlink(dst), 0);
	/* cancelled at the second call: nothing left, not even a temp file */
	listing(f->dir, before, sizeof(before));
	memset(&p, 0, sizeof(p));
	p.cancel_at = 2;
	assert_int_equal(osclone_file(src, dst, 0600, &o, &res, &e), -ECANCELED);
	assert_int_equal(p.calls, 2);
	assert_non_null(strstr(e.msg, "cancel"));
	assert_int_equal(access(dst, F_OK), -1);
	listing(f->dir, after, sizeof(after));
	assert_string_equal(before, after);
	/* a filesystem without O_TMPFILE (the 3rd open: source, directory,
	 * O_TMPFILE): a hidden named temp file, removed on cancel too */
	memset(&p, 0, sizeof(p));
	p.cancel_at = 2;
	sys_fault_arm(SYS_OPEN, false, 3, EOPNOTSUPP, false);
	assert_int_equal(osclone_file(src, dst, 0600, &o, &res, &e), -ECANCELED);
	sys_fault_arm(SYS_OPEN, false, 0, 0, false);
	listing(f->dir, after, sizeof(after));
	assert_string_equal(before, after);
	memset(&p, 0, sizeof(p));
	sys_fault_arm(SYS_OPEN, false, 3, EOPNOTSUPP, false);
	assert_int_equal(osclone_file(src, dst, 0600, &o, &res, &e), 0);
	assert_int_equal(sys_fault_calls(), 4);
	sys_fault_arm(SYS_OPEN, false, 0, 0, false);
	assert_same_file(src, dst);
	listing(f->dir, after, sizeof(after));
	assert_string_equal(after, "dst|src|");
}

/* copy_file_range refused (another filesystem, an old kernel): read+pwrite */
static void test_copy_fallback_rw(void **state)
{
	struct fixture *f = *state;
	struct osclone_opts o = { .no_reflink = true };
	struct osclone_result res;
	struct err e = ERR_INIT;
	const uint64_t offs[] = { 3 * MiB, 9 * MiB };
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;

	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	make_sparse(src, 16 * MiB + 123, offs, 2, 2 * MiB);
	sys_fault_arm(SYS_COPY, false, 1, EXDEV, false);
	assert_int_equal(osclone_file(src, dst, 0600, &o, &res, &e), 0);
	assert_true(sys_fault_calls() >= 2);
	sys_fault_arm(SYS_COPY, false, 0, 0, false);
	assert_int_equal(res.copied, 4 * MiB);
	assert_same_file(src, dst);
	assert_int_equal(stat(dst, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= 6 * MiB);
}

static const int fault_errnos[] = { EIO, ENOSPC, EBUSY, EINVAL, EAGAIN, EACCES };

/*
 * Every seam call of osclone_file failing in turn (the Nth call of any
 * kind, for N = 1, 2, ... until a run makes no failing call): a failed
 * run says what failed and leaves the directory as it was (no dst, no
 * temp file), a run that got past the failure (a fallback) made dst
 * complete; no descriptor leaks either way.
 */
static unsigned long file_fault_loop(struct fixture *f, bool no_reflink)
{
	struct osclone_opts o = { .no_reflink = no_reflink };
	char src[PATH_MAX], dst[PATH_MAX], before[512], after[512];
	unsigned long n;

	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	listing(f->dir, before, sizeof(before));
	for (n = 1; n < 200; n++) {
		struct err e = ERR_INIT;
		int fds = count_fds(), r;
		bool fired;

		sys_fault_arm(SYS_OPEN, true, n, fault_errnos[n % 6], false);
		r = osclone_file(src, dst, 0600, &o, NULL, &e);
		fired = sys_fault_calls() >= n;
		sys_fault_arm(SYS_OPEN, false, 0, 0, false);
		if (r < 0) {
			if (!fired)
				fail_msg("failed with no fault (n=%lu): %s", n, e.msg);
			if (!e.msg[0])
				fail_msg("call %lu failed and said nothing", n);
			listing(f->dir, after, sizeof(after));
			assert_string_equal(before, after);
		} else {
			assert_same_file(src, dst);
			assert_int_equal(unlink(dst), 0);
		}
		assert_int_equal(count_fds(), fds);
		if (!fired)
			break;
	}
	return n - 1;
}

static void test_file_fault_loops(void **state)
{
	struct fixture *f = *state;
	const uint64_t offs[] = { 0, 5 * MiB };
	char src[PATH_MAX];
	unsigned long a, b;

	path_in(src, sizeof(src), f->dir, "src");
	make_sparse(src, 8 * MiB, offs, 2, MiB);
	a = file_fault_loop(f, false);
	b = file_fault_loop(f, true);
	print_message("osclone_file: %lu and %lu (no_reflink) failure points\n", a, b);
	assert_true(a >= 5 && b >= 5);
}

/* ---- osclone_tree ------------------------------------------------------ */

/* What a walk of a tree saw, without following anything. */
struct census {
	unsigned files, dirs, links, fifos, socks, devs;
};

static void walk(const char *path, struct census *c, unsigned depth)
{
	struct dirent **list;
	int n = scandir(path, &list, NULL, alphasort);

	assert_true(n >= 0);
	assert_true(depth < 1000);
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX * 2];
		struct stat st;

		if (strcmp(list[i]->d_name, ".") == 0 || strcmp(list[i]->d_name, "..") == 0) {
			free(list[i]);
			continue;
		}
		snprintf(child, sizeof(child), "%s/%s", path, list[i]->d_name);
		assert_int_equal(lstat(child, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			c->dirs++;
			walk(child, c, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			c->files++;
		} else if (S_ISLNK(st.st_mode)) {
			c->links++;
		} else if (S_ISFIFO(st.st_mode)) {
			c->fifos++;
		} else if (S_ISSOCK(st.st_mode)) {
			c->socks++;
		} else {
			c->devs++;
		}
		free(list[i]);
	}
	free(list);
}

static void assert_link(const char *dir, const char *name, const char *target)
{
	char path[PATH_MAX], buf[PATH_MAX];
	ssize_t n;

	path_in(path, sizeof(path), dir, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

static const char *const odd_names[] = {
	"with space", "new\nline", "-dash", "\xc3\xbcn\xc3\xaf", ".hidden", "*?[", "a\\b", "..."
};

#define DEEP 120

/* A tree as a hostile container might leave it. */
static void make_hostile(const char *src)
{
	char p[PATH_MAX * 2], deep[PATH_MAX * 2];
	struct timespec times[2] = { { 1000000000, 0 }, { 1234567890, 123456789 } };
	const uint64_t offs[] = { MiB };
	int fd;

	assert_int_equal(mkdir(src, 0755), 0);
	path_in(p, sizeof(p), src, "passwd");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	path_in(p, sizeof(p), src, "up");
	assert_int_equal(symlink("../../", p), 0);
	path_in(p, sizeof(p), src, "etc");
	assert_int_equal(symlink("/etc", p), 0);
	path_in(p, sizeof(p), src, "loop");
	assert_int_equal(symlink("loop", p), 0);
	path_in(p, sizeof(p), src, "fifo");
	assert_int_equal(mkfifo(p, 0640), 0);
	for (size_t i = 0; i < sizeof(odd_names) / sizeof(odd_names[0]); i++) {
		path_in(p, sizeof(p), src, odd_names[i]);
		assert_int_equal(fs_write_atomic(p, odd_names[i], strlen(odd_names[i]), 0644), 0);
	}
	/* a sparse file, setgid, another owner, an old mtime, an xattr */
	path_in(p, sizeof(p), src, "data.img");
	make_sparse(p, 64 * MiB, offs, 1, MiB);
	assert_int_equal(chown(p, 1234, 5678), 0);
	assert_int_equal(chmod(p, 02750), 0);
	assert_int_equal(setxattr(p, "user.rr", "v1", 2, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
	/* a hard link */
	{
		char h[PATH_MAX * 2];

		path_in(h, sizeof(h), src, "hard");
		assert_int_equal(link(p, h), 0);
	}
	/* a deep chain, a link to the outside at its bottom */
	snprintf(deep, sizeof(deep), "%s", src);
	for (int i = 0; i < DEEP; i++) {
		assert_true(strlen(deep) + 3 < sizeof(deep));
		strcat(deep, "/d");
		assert_int_equal(mkdir(deep, 0750), 0);
	}
	path_in(p, sizeof(p), deep, "out");
	assert_int_equal(symlink("../../../../../../../../../../../../../../../../etc/shadow", p),
			 0);
	path_in(p, sizeof(p), deep, "leaf");
	assert_int_equal(fs_write_atomic(p, "leaf\n", 5, 0600), 0);
	/* a directory with its own times, made last */
	path_in(p, sizeof(p), src, "old");
	assert_int_equal(mkdir(p, 0701), 0);
	assert_int_equal(chown(p, 42, 43), 0);
	/* a device node (left out) and a socket */
	path_in(p, sizeof(p), src, "null");
	assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
	path_in(p, sizeof(p), src, "sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		assert_true(strlen(p) < sizeof(a.sun_path));
		strcpy(a.sun_path, p);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	close(fd);
	path_in(p, sizeof(p), src, "old");
	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
}

static void test_tree_hostile(void **state)
{
	struct fixture *f = *state;
	struct osclone_result res;
	struct err e = ERR_INIT;
	struct census cs = { 0 }, cd = { 0 };
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX * 2], q[PATH_MAX * 2], val[16], before[512],
		after[512];
	struct stat a, b;
	int fds;

	NEED_ROOT();
	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	make_hostile(src);
	fds = count_fds();
	assert_int_equal(osclone_tree(src, dst, NULL, &res, &e), 0);
	assert_int_equal(count_fds(), fds);
	print_message("tree: how=%s files=%llu dirs=%llu symlinks=%llu specials=%llu "
		      "skipped=%llu copied=%llu\n",
		      res.how, (unsigned long long)res.files, (unsigned long long)res.dirs,
		      (unsigned long long)res.symlinks, (unsigned long long)res.specials,
		      (unsigned long long)res.skipped, (unsigned long long)res.copied);
	/* links are links with the same text, never resolved */
	assert_link(dst, "passwd", "/etc/passwd");
	assert_link(dst, "up", "../../");
	assert_link(dst, "etc", "/etc");
	assert_link(dst, "loop", "loop");
	/* the same shape, less the device node */
	walk(src, &cs, 0);
	walk(dst, &cd, 0);
	assert_int_equal(cd.files, cs.files);
	assert_int_equal(cd.dirs, cs.dirs);
	assert_int_equal(cd.links, cs.links);
	assert_int_equal(cd.fifos, 1);
	assert_int_equal(cd.socks, 1);
	assert_int_equal(cs.devs, 1);
	assert_int_equal(cd.devs, 0);
	assert_int_equal(res.files, cs.files);
	assert_int_equal(res.dirs, cs.dirs + 1);
	assert_int_equal(res.symlinks, cs.links);
	assert_int_equal(res.specials, 2);
	assert_int_equal(res.skipped, 1);
	/* nothing from outside came in: every file holds what its source holds */
	for (size_t i = 0; i < sizeof(odd_names) / sizeof(odd_names[0]); i++) {
		char *text = NULL;

		path_in(p, sizeof(p), dst, odd_names[i]);
		assert_int_equal(fs_read_file(p, 64, &text, NULL), 0);
		assert_string_equal(text, odd_names[i]);
		free(text);
	}
	/* metadata: owner, setgid mode, mtime, xattr; sparse; hard links apart */
	path_in(p, sizeof(p), src, "data.img");
	path_in(q, sizeof(q), dst, "data.img");
	assert_same_file(p, q);
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(lstat(q, &b), 0);
	assert_int_equal(b.st_uid, 1234);
	assert_int_equal(b.st_gid, 5678);
	assert_int_equal(b.st_mode & 07777, 02750);
	assert_int_equal(b.st_mtim.tv_sec, 1234567890);
	assert_int_equal(b.st_mtim.tv_nsec, 123456789);
	assert_true((uint64_t)b.st_blocks * 512 <= 3 * MiB);
	assert_int_equal(getxattr(q, "user.rr", val, sizeof(val)), 2);
	assert_memory_equal(val, "v1", 2);
	path_in(p, sizeof(p), dst, "hard");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_nlink, 1);
	path_in(p, sizeof(p), dst, "old");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(a.st_uid, 42);
	assert_int_equal(a.st_mode & 07777, 0701);
	assert_int_equal(a.st_mtim.tv_sec, 1234567890);
	path_in(p, sizeof(p), dst, "fifo");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0640);
	/* the top directory took the source's mode; no temp sibling is left */
	assert_int_equal(lstat(dst, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0755);
	listing(f->dir, before, sizeof(before));
	assert_string_equal(before, "dst|src|");
	/* again: the destination exists now */
	assert_int_equal(osclone_tree(src, dst, NULL, &res, &e), -EEXIST);
	/* a source that is a symlink is refused */
	path_in(p, sizeof(p), f->dir, "srclink");
	assert_int_equal(symlink(src, p), 0);
	path_in(q, sizeof(q), f->dir, "dst2");
	assert_int_equal(osclone_tree(p, q, NULL, &res, &e), -ELOOP);
	assert_int_equal(unlink(p), 0);
	/* too deep: -ELOOP, nothing left */
	{
		struct osclone_opts o = { .max_depth = DEEP / 2 };

		listing(f->dir, before, sizeof(before));
		assert_int_equal(osclone_tree(src, q, &o, &res, &e), -ELOOP);
		assert_non_null(strstr(e.msg, "deeper than"));
		listing(f->dir, after, sizeof(after));
		assert_string_equal(before, after);
	}
}

/* Every seam call of osclone_tree failing in turn: nothing left behind. */
static void test_tree_fault_loop(void **state)
{
	struct fixture *f = *state;
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX * 2], before[512], after[512];
	const uint64_t offs[] = { 0 };
	struct census cs = { 0 };
	unsigned long n;

	NEED_ROOT();
	path_in(src, sizeof(src), f->dir, "src");
	path_in(dst, sizeof(dst), f->dir, "dst");
	assert_int_equal(mkdir(src, 0755), 0);
	path_in(p, sizeof(p), src, "file");
	make_sparse(p, 2 * MiB, offs, 1, MiB);
	assert_int_equal(setxattr(p, "user.rr", "x", 1, 0), 0);
	path_in(p, sizeof(p), src, "link");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	path_in(p, sizeof(p), src, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	path_in(p, sizeof(p), src, "sub");
	assert_int_equal(mkdir(p, 0700), 0);
	path_in(p, sizeof(p), src, "sub/f");
	assert_int_equal(fs_write_atomic(p, "f\n", 2, 0600), 0);
	walk(src, &cs, 0);
	listing(f->dir, before, sizeof(before));
	for (n = 1; n < 300; n++) {
		struct err e = ERR_INIT;
		int fds = count_fds(), r;
		bool fired;

		sys_fault_arm(SYS_OPEN, true, n, fault_errnos[n % 6], false);
		r = osclone_tree(src, dst, NULL, NULL, &e);
		fired = sys_fault_calls() >= n;
		sys_fault_arm(SYS_OPEN, false, 0, 0, false);
		if (r < 0) {
			if (!fired)
				fail_msg("failed with no fault (n=%lu): %s", n, e.msg);
			if (!e.msg[0])
				fail_msg("call %lu failed and said nothing", n);
			listing(f->dir, after, sizeof(after));
			assert_string_equal(before, after);
		} else {
			struct census cd = { 0 };

			walk(dst, &cd, 0);
			assert_memory_equal(&cd, &cs, sizeof(cs));
			assert_int_equal(fs_remove_tree(dst), 0);
		}
		assert_int_equal(count_fds(), fds);
		if (!fired)
			break;
	}
	print_message("osclone_tree: %lu failure points\n", n - 1);
	assert_true(n - 1 >= 15);
}

/* ---- on real filesystems ------------------------------------------------ */

struct vol {
	char img[PATH_MAX], mnt[PATH_MAX], dev[LOOPDEV_PATH_MAX];
};

/* image of size in the fixture, attached, mkfs'd (argv[0] and options),
 * mounted at <dir>/<name>.mnt */
static void make_vol(struct fixture *f, const char *name, uint64_t size, const char *fstype,
		     struct vol *v)
{
	struct err e = ERR_INIT;
	char base[PATH_MAX];
	int fd;

	path_in(base, sizeof(base), f->dir, name);
	assert_true(snprintf(v->img, sizeof(v->img), "%s.img", base) < (int)sizeof(v->img));
	assert_true(snprintf(v->mnt, sizeof(v->mnt), "%s.mnt", base) < (int)sizeof(v->mnt));
	fd = open(v->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	assert_int_equal(mkdir(v->mnt, 0700), 0);
	assert_int_equal(loopdev_attach(v->img, ATTACH_TIMEOUT, v->dev, &e), 0);
	if (strcmp(fstype, "xfs") == 0) {
		const char *argv[] = { "mkfs.xfs", "-q", "-f", "-m", "reflink=1", v->dev, NULL };

		assert_int_equal(run_command(argv, TOOL_TIMEOUT, &e), 0);
	} else {
		assert_int_equal(osfs_format(v->dev, fstype, NULL, TOOL_TIMEOUT, &e), 0);
	}
	if (osfs_mount(v->dev, v->mnt, fstype, NULL, &e) < 0)
		fail_msg("mount: %s", e.msg);
}

static void drop_vol(struct vol *v)
{
	struct err e = ERR_INIT;

	assert_int_equal(osfs_unmount(v->mnt, &e), 0);
	assert_int_equal(loopdev_detach(v->dev, &e), 0);
}

static void test_reflink_xfs(void **state)
{
	struct fixture *f = *state;
	struct osclone_opts o = { .no_reflink = true };
	struct osclone_result res;
	struct err e = ERR_INIT;
	char src[PATH_MAX * 2], dst[PATH_MAX * 2], dst2[PATH_MAX * 2];
	struct vol v;
	long long t0, us;

	NEED_LOOP();
	if (!have_program("mkfs.xfs")) {
		print_message("skipping: mkfs.xfs not installed\n");
		skip();
	}
	make_vol(f, "x", 3 * GiB, "xfs", &v);
	path_in(src, sizeof(src), v.mnt, "src.img");
	path_in(dst, sizeof(dst), v.mnt, "dst.img");
	path_in(dst2, sizeof(dst2), v.mnt, "dst2.img");
	make_half_full(src, GiB, MiB);
	t0 = now_us();
	assert_int_equal(osclone_file(src, dst, 0600, NULL, &res, &e), 0);
	us = now_us() - t0;
	print_message("xfs reflink of a half-full 1 GiB file: %lld us\n", us);
	assert_string_equal(res.how, "reflink");
	assert_int_equal(res.copied, 0);
	assert_int_equal(res.reflinked, 1);
	assert_true(us < 50000);
	assert_same_file(src, dst);
	/* the copy path on the same filesystem says so */
	assert_int_equal(osclone_file(src, dst2, 0600, &o, &res, &e), 0);
	assert_string_equal(res.how, "copy");
	assert_int_equal(res.copied, GiB / 2);
	assert_same_file(src, dst2);
	/* a tree on xfs is reflinked file by file */
	{
		char sd[PATH_MAX * 2], dd[PATH_MAX * 2], p[PATH_MAX * 3];

		path_in(sd, sizeof(sd), v.mnt, "tree");
		path_in(dd, sizeof(dd), v.mnt, "tree2");
		assert_int_equal(mkdir(sd, 0755), 0);
		path_in(p, sizeof(p), sd, "a");
		assert_int_equal(rename(dst2, p), 0);
		assert_int_equal(osclone_tree(sd, dd, NULL, &res, &e), 0);
		assert_string_equal(res.how, "reflink");
		path_in(p, sizeof(p), dd, "a");
		assert_same_file(src, p);
	}
	drop_vol(&v);
}

static void test_copy_ext4(void **state)
{
	struct fixture *f = *state;
	struct osclone_result res;
	struct err e = ERR_INIT;
	char src[PATH_MAX * 2], dst[PATH_MAX * 2];
	struct stat st;
	struct vol v;

	NEED_LOOP();
	make_vol(f, "e", 512 * MiB, "ext4", &v);
	path_in(src, sizeof(src), v.mnt, "src.img");
	path_in(dst, sizeof(dst), v.mnt, "dst.img");
	make_half_full(src, 128 * MiB, MiB);
	assert_int_equal(osclone_file(src, dst, 0600, NULL, &res, &e), 0);
	assert_string_equal(res.how, "copy");
	assert_int_equal(res.copied, 64 * MiB);
	assert_same_file(src, dst);
	assert_int_equal(stat(dst, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= 66 * MiB);
	drop_vol(&v);
}

struct frozen_ctx {
	const char *mnt;
	bool blocked, finished;
};

/* While frozen: a child's write must not complete within 300 ms. */
static int while_frozen(void *arg, struct err *e)
{
	struct frozen_ctx *c = arg;
	char path[PATH_MAX * 2];
	int status;
	pid_t pid, w;

	(void)e;
	path_in(path, sizeof(path), c->mnt, "written-while-frozen");
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		_exit(fd >= 0 && write(fd, "x", 1) == 1 && fsync(fd) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	usleep(300000);
	w = waitpid(pid, &status, WNOHANG);
	c->blocked = w == 0;
	if (w == 0) {
		/* thawed by osfs_freeze_do after we return; reap it then */
		c->finished = false;
		return (int)pid;
	}
	return -EIO;
}

static void test_freeze_thaw(void **state)
{
	struct fixture *f = *state;
	struct frozen_ctx c = { 0 };
	struct err e = ERR_INIT;
	struct vol v;
	int r, status;
	long long t0;
	pid_t pid;

	NEED_LOOP();
	make_vol(f, "fz", 64 * MiB, "ext4", &v);
	c.mnt = v.mnt;
	r = osfs_freeze_do(v.mnt, while_frozen, &c, &e);
	assert_true(c.blocked);
	assert_true(r > 0);
	pid = (pid_t)r;
	/* thawed: the writer finishes */
	t0 = now_us();
	while (waitpid(pid, &status, WNOHANG) == 0 && now_us() - t0 < 5000000)
		usleep(10000);
	if (now_us() - t0 >= 5000000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the writer stayed blocked after the thaw");
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the kernel's answers, named */
	assert_int_equal(osfs_thaw(v.mnt, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not frozen"));
	assert_int_equal(osfs_freeze(v.mnt, &e), 0);
	assert_int_equal(osfs_freeze(v.mnt, &e), -EBUSY);
	assert_int_equal(osfs_thaw(v.mnt, &e), 0);
	/* a failing ioctl leaves it thawed (a write works) */
	sys_fault_arm(SYS_IOCTL, false, 1, EIO, false);
	assert_int_equal(osfs_freeze(v.mnt, &e), -EIO);
	sys_fault_arm(SYS_IOCTL, false, 0, 0, false);
	{
		char p[PATH_MAX * 2];

		path_in(p, sizeof(p), v.mnt, "after");
		assert_int_equal(fs_write_atomic(p, "ok", 2, 0600), 0);
	}
	assert_int_equal(osfs_freeze("/nonexistent-rr-mnt", &e), -ENOENT);
	drop_vol(&v);
}

/* Is capability bit cap in this process's effective set? */
static bool have_cap(int cap)
{
	char line[256];
	FILE *fp = fopen("/proc/self/status", "re");
	unsigned long long eff = 0;

	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(fp);
	return (eff >> cap) & 1;
}

static void grow_one(struct fixture *f, const char *fstype, uint64_t from, uint64_t to)
{
	struct err e = ERR_INIT;
	char devs[4][LOOPDEV_PATH_MAX];
	unsigned long long bytes;
	struct statvfs s1, s2;
	size_t n;
	struct vol v;

	make_vol(f, fstype, from, fstype, &v);
	assert_int_equal(loopdev_list_for_file(v.img, devs, 4, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(devs[0], v.dev);
	assert_int_equal(statvfs(v.mnt, &s1), 0);
	assert_int_equal(truncate(v.img, (off_t)to), 0);
	assert_int_equal(loopdev_set_capacity(v.dev, &e), 0);
	assert_int_equal(blockdev_size(v.dev, &bytes, &e), 0);
	assert_int_equal(bytes, to);
	if (strcmp(fstype, "ext4") == 0 && !have_cap(24 /* CAP_SYS_RESOURCE */)) {
		assert_int_equal(osfs_grow(v.dev, v.mnt, fstype, TOOL_TIMEOUT, &e), -EPERM);
		assert_non_null(strstr(e.msg, "CAP_SYS_RESOURCE"));
		drop_vol(&v);
		print_message("skipping the rest: ext4's online resize needs CAP_SYS_RESOURCE, "
			      "which this process lacks (said so: %s)\n", e.msg);
		skip();
	}
	if (osfs_grow(v.dev, v.mnt, fstype, TOOL_TIMEOUT, &e) < 0)
		fail_msg("grow: %s", e.msg);
	assert_int_equal(statvfs(v.mnt, &s2), 0);
	print_message("%s grown online: %llu -> %llu MiB\n", fstype,
		      (unsigned long long)s1.f_blocks * s1.f_frsize / MiB,
		      (unsigned long long)s2.f_blocks * s2.f_frsize / MiB);
	assert_true((double)s2.f_blocks * s2.f_frsize > 1.8 * (double)s1.f_blocks * s1.f_frsize);
	/* again: already the device's size, fine */
	assert_int_equal(osfs_grow(v.dev, v.mnt, fstype, TOOL_TIMEOUT, &e), 0);
	drop_vol(&v);
}

static void test_grow_ext4(void **state)
{
	NEED_LOOP();
	grow_one(*state, "ext4", 64 * MiB, 128 * MiB);
}

static void test_grow_xfs(void **state)
{
	NEED_LOOP();
	if (!have_program("mkfs.xfs")) {
		print_message("skipping: mkfs.xfs not installed\n");
		skip();
	}
	grow_one(*state, "xfs", 320 * MiB, 640 * MiB);
}

static void test_grow_errors(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	char img[PATH_MAX], dev[LOOPDEV_PATH_MAX], devs[2][LOOPDEV_PATH_MAX];
	size_t n = 7;
	int fd;

	assert_int_equal(osfs_grow("/dev/null", "/", "btrfs", 1000, &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "btrfs"));
	assert_int_equal(osfs_grow("/dev/null", "/", "vfat", 1000, &e), -ENOTSUP);
	assert_int_equal(loopdev_set_capacity("/dev/null", &e), -EINVAL);
	assert_int_equal(loopdev_set_capacity("/dev/rr-nonexistent", &e), -ENXIO);
	path_in(img, sizeof(img), f->dir, "g.img");
	fd = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * MiB), 0);
	close(fd);
	assert_int_equal(loopdev_list_for_file(img, devs, 2, &n, &e), 0);
	assert_int_equal(n, 0);
	if (!loop_available())
		return;
	/* a failing resize2fs names itself; a device without a filesystem */
	assert_int_equal(loopdev_attach(img, ATTACH_TIMEOUT, dev, &e), 0);
	assert_int_equal(osfs_grow(dev, f->dir, "ext4", TOOL_TIMEOUT, &e), -EIO);
	assert_non_null(strstr(e.msg, "resize2fs"));
	assert_int_equal(loopdev_detach(dev, &e), 0);
	assert_int_equal(loopdev_set_capacity(dev, &e) < 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sparse_copy_keeps_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_exists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_src_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_fallback_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_fault_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_fault_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reflink_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_thaw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
