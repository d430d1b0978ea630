/*
 * safepath: paths resolved where someone else controls the components: a
 * volume's contents (any host or task that had the volume, anyone who made
 * its image) and a container's root filesystem (its image). Nothing here
 * follows a symbolic link, and, with SAFE_BENEATH, nothing leaves the
 * starting directory; with SAFE_NO_XDEV, nothing leaves its filesystem.
 * Resolution is openat2(2) (Linux 5.6+) with RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS (and RESOLVE_BENEATH / RESOLVE_NO_XDEV), so a
 * symlink anywhere in the path is refused, not followed. Changes of mode
 * and owner go through the descriptor that was checked, and a bind mount
 * is made from descriptor to descriptor (open_tree + move_mount), so
 * nothing is resolved twice and a swap after the check changes nothing.
 *
 * All functions return 0 (or a descriptor, >= 0, which the caller closes)
 * or a negative errno and fill e. What a refused component turned out to
 * be is in the message ("a symbolic link to '/etc'", "a regular file").
 */
#ifndef RR_SAFEPATH_H
#define RR_SAFEPATH_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

#define SAFE_BENEATH 0x1 /* stay beneath the starting directory */
#define SAFE_NO_XDEV 0x2 /* stay on its filesystem */

/* mkdir -p of the relative path rel beneath dirfd (dirfd may be AT_FDCWD
 * with an absolute rel when SAFE_BENEATH is not set), each missing
 * component created with mode; returns an O_RDONLY|O_DIRECTORY descriptor
 * of the last one. what names the path in messages ("rootPath '/data' of
 * volume 'v1'"). */
int safe_mkdir_p(int dirfd, const char *rel, mode_t mode, unsigned flags, const char *what,
		 struct err *e);

/* Open an existing directory the same way (O_RDONLY|O_DIRECTORY). */
int safe_open_dir(int dirfd, const char *path, unsigned flags, const char *what,
		  struct err *e);

/* Bind mount the directory srcfd onto the directory dstfd (recursively
 * when rec): no path is resolved. *mnt_out (may be NULL) gets a descriptor
 * of the new mount itself, which safe_unbind_fd takes down wherever the
 * mount point has been renamed to. */
int safe_bind_fd(int srcfd, int dstfd, bool rec, int *mnt_out, struct err *e);
int safe_unbind_fd(int mntfd, struct err *e);

/* Does path (beneath dirfd, no symlinks) name the root of the mount mntfd
 * from safe_bind_fd, or, when that is -1 (its fallback without
 * open_tree), a mount root of the directory dirref? */
bool safe_path_is_mount(int dirfd, const char *path, int mntfd, int dirref);

#endif
