/*
 * osclone: copies of volumes for snapshots and clones (issue 16): one
 * image file, or one directory tree whose contents are untrusted (a
 * container wrote them).
 *
 * A file is cloned with ioctl(FICLONE) first (reflink: constant time per
 * extent, blocks shared copy-on-write; xfs with reflink=1, btrfs). When
 * the filesystem cannot (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY), the data
 * extents (lseek SEEK_DATA/SEEK_HOLE) are copied with copy_file_range
 * (read+pwrite when that cannot either), and the size is set with
 * ftruncate, so holes stay holes. Note: on a reflink filesystem the kernel
 * may itself share blocks under copy_file_range (xfs does), so no_reflink
 * there means "the copy path", not "unshared blocks".
 *
 * The destination never exists half-made, not even after a crash: a file
 * is built unnamed (O_TMPFILE; a hidden ".NAME.tmp-XXXXXX" when the
 * filesystem lacks it), fsynced, then linked under its name, which fails
 * with -EEXIST if the name appeared meanwhile; a tree is built in a
 * sibling "DST.tmp-XXXXXX" (mode 0700 until done), synced (syncfs), then
 * renamed into place with RENAME_NOREPLACE. On any failure or cancel what
 * was made is removed before returning.
 *
 * Consistency of the source is the caller's: a file or tree that changes
 * during the copy gives a copy of no single moment (freeze the filesystem
 * with osfs_freeze_do, or detach its users, first).
 *
 * All functions return 0 or a negative errno and fill e with a message
 * naming what failed. Thread-safe (no shared state); no allocation
 * outlives a call.
 */
#ifndef RR_OSCLONE_H
#define RR_OSCLONE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

#define OSCLONE_MAX_DEPTH	   4096		      /* directory levels, default */
#define OSCLONE_PROGRESS_BYTES (256ULL << 20) /* default: a call per 256 MiB ... */
#define OSCLONE_PROGRESS_MS	   1000		      /* ... or per second, whichever first */

struct osclone_opts {
	/* Called during a data copy (never for a reflink) about once per
	 * progress_ms or progress_bytes: done = the offset of the current
	 * file up to which the copy is complete (holes count), total = its
	 * size; for a tree, done/total add up over the files so far and the
	 * current one. A non-zero return cancels: -ECANCELED, nothing left. */
	int (*progress)(void *arg, uint64_t done, uint64_t total);
	void *arg;
	uint64_t progress_bytes; /* 0 = OSCLONE_PROGRESS_BYTES */
	long progress_ms;	 /* 0 = OSCLONE_PROGRESS_MS */
	bool no_reflink;	 /* copy even where FICLONE works (tests, benchmarks) */
	unsigned max_depth;	 /* tree: 0 = OSCLONE_MAX_DEPTH */
};

struct osclone_result {
	const char *how;    /* "reflink", "copy", "mixed" (a tree with both), "" (no file) */
	uint64_t size;	    /* bytes of the regular files made (their apparent sizes) */
	uint64_t copied;    /* bytes of data copied (0 for reflinked files) */
	uint64_t files;	    /* regular files made */
	uint64_t reflinked; /* of those, made by FICLONE */
	uint64_t dirs, symlinks, specials; /* tree: directories, symlinks, FIFOs+sockets made */
	uint64_t skipped;   /* tree: device nodes and other filesystems' mounts left out */
};

/*
 * Make the new file dst holding src's bytes, with permission bits exactly
 * mode (no umask) and owned by the caller. src is opened O_NOFOLLOW: a
 * symbolic link is refused (-ELOOP), so is anything but a regular file
 * (-EINVAL). dst must not exist (-EEXIST, checked before any copying and
 * again, atomically, when the name is made); its directory must. The
 * data and the new name are fsynced before returning 0. o and res may be
 * NULL.
 */
int osclone_file(const char *src, const char *dst, mode_t mode, const struct osclone_opts *o,
		 struct osclone_result *res, struct err *e);

/*
 * The same from an open source: srcfd (a regular file, read from by
 * offset, its position untouched) into the new name dst_name in the
 * directory dst_dirfd (AT_FDCWD allowed). what names the source in
 * messages (may be NULL).
 */
int osclone_fd(int srcfd, const char *what, int dst_dirfd, const char *dst_name, mode_t mode,
	       const struct osclone_opts *o, struct osclone_result *res, struct err *e);

/*
 * Copy the tree src_dir into the new directory dst_dir (which must not
 * exist; its parent must). The contents of src_dir are untrusted; src_dir
 * and dst_dir themselves are the caller's paths (the last component of
 * src_dir is not followed either). No symbolic link is ever followed:
 * each is recreated as a link with the same target text. Per entry:
 *  - regular files: cloned as by osclone_fd (FICLONE, else sparse copy);
 *    hard links become separate files;
 *  - directories: recreated, at most max_depth levels (-ELOOP beyond);
 *    the walk holds two descriptors per level (RLIMIT_NOFILE);
 *  - FIFOs and sockets: recreated (mknod; a name, no data, nothing opened);
 *  - device nodes: left out (counted in skipped): a copy would hand
 *    whoever gets the clone that device, on a mount without nodev;
 *  - a directory on another filesystem (a mount inside the tree): left
 *    out, as cp -x (counted in skipped);
 *  - owner, group, mode (setuid/setgid/sticky too), atime and mtime are
 *    kept for all, and extended attributes (user., trusted., security.,
 *    ACLs) for files and directories (not on symlinks), when the
 *    destination supports them (ENOTSUP is ignored).
 */
int osclone_tree(const char *src_dir, const char *dst_dir, const struct osclone_opts *o,
		 struct osclone_result *res, struct err *e);

#endif
