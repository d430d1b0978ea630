/*
 * mountinfo: the mount table of this process's mount namespace
 * (/proc/self/mountinfo), parsed, and the questions asked of it: where a
 * device is mounted, whether a path is a mount point, whether what is
 * mounted there is a given volume's. It sees one namespace only: for
 * "mounted anywhere" ask the kernel (os/loopdev.h blockdev_in_use).
 */
#ifndef RR_MOUNTINFO_H
#define RR_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct mountinfo {
	int id, parent;
	unsigned major, minor;
	char *root;
	char *mount_point; /* unescaped (\040 -> space) */
	char *options;
	char *fstype;
	char *source;
	char *super_options;
};

struct mount_table {
	struct mountinfo *m;
	size_t n;
};

/* Parse mountinfo text (as in /proc/self/mountinfo). Malformed lines are
 * skipped. Returns 0 or -ENOMEM. */
int mountinfo_parse(const char *text, struct mount_table *out);
/* Read and parse /proc/self/mountinfo. */
int mountinfo_read(struct mount_table *out, struct err *e);
void mount_table_release(struct mount_table *t);

/* The mount points whose source is dev (or whose major:minor is dev's,
 * which includes bind mounts of directories inside it), in table order;
 * *ret is a NULL-terminated malloc'd array of malloc'd strings (free with
 * mount_points_free; set even when the count is 0). Returns the count or
 * -errno. */
int mount_points_of(const char *dev, char ***ret, struct err *e);
void mount_points_free(char **mps);

/* true when path is a mount point (in /proc/self/mountinfo). */
bool osfs_is_mount_point(const char *path);

/* The first mount point (in this mount namespace) whose root is the
 * directory dir, i.e. a bind mount of it: a malloc'd string, or NULL. */
char *osfs_bind_mount_of(const char *dir);

/* true when target is a mount point whose root is source: a filesystem of
 * the block device source, or a bind mount of the directory source
 * (compared by device and inode, so a path that merely looks right, or
 * another volume's mount at the same path, does not count). */
bool osfs_mount_is_of(const char *target, const char *source);

#endif
