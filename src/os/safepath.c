#include "os/safepath.h"
#include "util/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Without openat2 (a kernel before 5.6, or valgrind, which does not know
 * the call): one component, opened without following it, then checked to
 * be on the same filesystem and no mount point when SAFE_NO_XDEV. walk()
 * only ever asks for one component or for "." and "/".
 */
static int openat_one(int dirfd, const char *name, unsigned flags)
{
	struct statx in, at;
	int fd = sys_openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if ((flags & SAFE_NO_XDEV) && strcmp(name, ".") != 0 && strcmp(name, "/") != 0) {
		if (statx(dirfd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &in) < 0 ||
		    statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &at) < 0 ||
		    in.stx_dev_major != at.stx_dev_major || in.stx_dev_minor != at.stx_dev_minor ||
		    ((at.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		     (at.stx_attributes & STATX_ATTR_MOUNT_ROOT))) {
			close(fd);
			return -EXDEV;
		}
	}
	return fd;
}

static int openat2_dir(int dirfd, const char *path, unsigned flags)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (flags & SAFE_BENEATH)
		how.resolve |= RESOLVE_BENEATH;
	if (flags & SAFE_NO_XDEV)
		how.resolve |= RESOLVE_NO_XDEV;
	/* EAGAIN: a rename raced the look-up; the kernel asks for a retry */
	for (int tries = 0; tries < 16; tries++) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0 && errno == ENOSYS)
		return openat_one(dirfd, path, flags);
	return fd < 0 ? -errno : fd;
}

/* What dirfd/name is, for a message: it was not a plain directory. */
static void describe(int dirfd, const char *name, char *buf, size_t sz)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(buf, sz, "not there (%s)", strerror(errno));
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		snprintf(buf, sz, "a symbolic link to '%.200s'", target);
		return;
	}
	snprintf(buf, sz, "%s", S_ISREG(st.st_mode)    ? "a regular file"
			       : S_ISFIFO(st.st_mode)  ? "a FIFO"
			       : S_ISSOCK(st.st_mode)  ? "a socket"
			       : S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode) ? "a device node"
			       : S_ISDIR(st.st_mode)
				       ? "a directory on another filesystem (a mount point)"
				       : "of an unknown kind");
}

static int refuse(int dirfd, const char *name, const char *what, int r, struct err *e)
{
	char found[PATH_MAX + 64];

	describe(dirfd, name, found, sizeof(found));
	return err_set(e, r == -EXDEV || r == -ELOOP || r == -ENOTDIR ? -ELOOP : r,
		       "%s: '%s' is %s; refusing to follow it (a path here must be plain "
		       "directories only)", what, name, found);
}

/* Walk rel one component at a time from a descriptor of dirfd itself. */
static int walk(int dirfd, const char *rel, mode_t mode, bool create, unsigned flags,
		const char *what, struct err *e)
{
	char copy[PATH_MAX], *save = NULL;
	int cur, r;

	if (strlen(rel) >= sizeof(copy))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", what);
	snprintf(copy, sizeof(copy), "%s", rel);
	cur = openat2_dir(dirfd, rel[0] == '/' && !(flags & SAFE_BENEATH) ? "/" : ".", 0);
	if (cur < 0)
		return err_set(e, cur, "%s: cannot open its start: %s", what, strerror(-cur));
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next;
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			close(cur);
			return err_set(e, -EINVAL, "%s: '..' is not allowed", what);
		}
		if (create && sys_mkdirat(cur, c, mode) < 0 && errno != EEXIST) {
			r = -errno;
			close(cur);
			return err_set(e, r, "%s: cannot create '%s': %s", what, c, strerror(-r));
		}
		next = openat2_dir(cur, c, flags | SAFE_BENEATH);
		if (next < 0) {
			r = next == -ENOENT ? err_set(e, -ENOENT, "%s: '%s' does not exist", what, c)
					    : refuse(cur, c, what, next, e);
			close(cur);
			return r;
		}
		close(cur);
		cur = next;
	}
	return cur;
}

int safe_mkdir_p(int dirfd, const char *rel, mode_t mode, unsigned flags, const char *what,
		 struct err *e)
{
	return walk(dirfd, rel, mode, true, flags, what, e);
}

int safe_open_dir(int dirfd, const char *path, unsigned flags, const char *what,
		  struct err *e)
{
	return walk(dirfd, path, 0, false, flags, what, e);
}

/* Without open_tree/move_mount (a kernel before 5.2, or valgrind): mount(2)
 * through the descriptors' magic links, which name exactly the checked
 * directories. */
static int bind_by_proc(int srcfd, int dstfd, bool rec, struct err *e)
{
	char src[64], dst[64];

	snprintf(src, sizeof(src), "/proc/self/fd/%d", srcfd);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d", dstfd);
	/* "none": the type is ignored for a bind; valgrind wants a string */
	if (sys_mount(src, dst, "none", MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
		return err_set(e, -errno, "bind mount: %s", strerror(errno));
	return 0;
}

int safe_bind_fd(int srcfd, int dstfd, bool rec, int *mnt_out, struct err *e)
{
	int tree = open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
					       (rec ? AT_RECURSIVE : 0));

	if (mnt_out)
		*mnt_out = -1;
	if (tree < 0 && errno == ENOSYS)
		return bind_by_proc(srcfd, dstfd, rec, e);
	if (tree < 0)
		return err_set(e, -errno, "bind mount: open_tree: %s", strerror(errno));
	if (move_mount(tree, "", dstfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int r = err_set(e, -errno, "bind mount: move_mount: %s", strerror(errno));
		close(tree);
		return r;
	}
	if (mnt_out)
		*mnt_out = tree;
	else
		close(tree);
	return 0;
}

int safe_unbind_fd(int mntfd, struct err *e)
{
	char self[64];

	/* the descriptor names the mount itself, wherever it now sits */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", mntfd);
	if (sys_umount2(self, MNT_DETACH) < 0)
		return err_set(e, -errno, "cannot take down a bind mount: %s", strerror(errno));
	return 0;
}

bool safe_path_is_mount(int dirfd, const char *path, int mntfd, int dirref)
{
	struct statx a, b;
	int fd = safe_open_dir(dirfd, path, SAFE_BENEATH, "", NULL);
	bool same;

	if (fd < 0)
		return false;
	if (mntfd >= 0) /* the very mount safe_bind_fd made */
		same = statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &a) == 0 &&
		       statx(mntfd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &b) == 0 &&
		       (a.stx_mask & STATX_MNT_ID) && (b.stx_mask & STATX_MNT_ID) &&
		       a.stx_mnt_id == b.stx_mnt_id && a.stx_ino == b.stx_ino &&
		       a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
	else /* bound by the fallback: a mount root of the checked directory */
		same = statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &a) == 0 &&
		       statx(dirref, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &b) == 0 &&
		       (a.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		       (a.stx_attributes & STATX_ATTR_MOUNT_ROOT) && a.stx_ino == b.stx_ino &&
		       a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
	close(fd);
	return same;
}
