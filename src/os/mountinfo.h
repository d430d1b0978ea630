/*
 * mountinfo: the mount table of this process's mount namespace
 * (/proc/self/mountinfo), parsed, and the questions asked of it: where a
 * device is mounted, whether a path is a mount point, whether what is
 * mounted there is a given volume's. It sees one namespace only: for
 * "mounted anywhere" ask the kernel (os/loopdev.h blockdev_in_use).
 */
#ifndef RR_MOUNTINFO_H
#define RR_MOUNTINFO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * mount_watch: has the mount table changed since an answer was taken from
 * it? A generation number that moves on every mount, unmount, remount or
 * move in this process's mount namespace, whoever makes it (the CLI,
 * dvdcli, another engine, mount(8)): poll(2) on /proc/self/mountinfo
 * reports each change of the table since the last poll, and the kernel
 * makes the change before the mount(2) that makes it returns.
 *
 * So an answer that only a change of the mount table can make wrong ("this
 * volume is mounted nowhere") holds while the generation taken before it
 * was worked out is still the current one: take g = mount_watch_gen(),
 * work the answer out from the live system, keep it with g, and trust it
 * later only while mount_watch_gen() still returns g. 0 means the table
 * cannot be watched (no /proc): keep nothing.
 *
 * Thread-safe. Each open file reports a change once, so a poll and the
 * move of the generation it calls for happen together under the file's
 * lock: no thread can see "no change" on it while another has seen the
 * change there and not yet moved the generation. A file opened late has
 * missed what came before: its opening moves the generation too. Several
 * files (MOUNT_WATCH_FILES, each opened at its first use) so that the
 * Docker plugin's threads rarely wait for one another.
 */
#define MOUNT_WATCH_FILES 8

struct mount_root;

struct mount_watch {
	struct {
		pthread_mutex_t mu;
		int fd; /* /proc/self/mountinfo, or -1 until opened */
	} files[MOUNT_WATCH_FILES];
	_Atomic unsigned next; /* the file a new thread starts with */
	_Atomic uint64_t gen;
	/* the roots of the mounts, as of generation roots_gen (0: none) */
	pthread_mutex_t mu;
	struct mount_root *roots;
	size_t n_roots;
	uint64_t roots_gen;
};

void mount_watch_init(struct mount_watch *w);
void mount_watch_destroy(struct mount_watch *w);
/* The current generation (>= 1), or 0 when the table cannot be watched
 * (no /proc/self/mountinfo to open). */
uint64_t mount_watch_gen(struct mount_watch *w);
/*
 * Might a mount of this namespace have the directory dir as its root (a
 * bind mount of it, other than dir itself mounted over), i.e. might
 * osfs_bind_mount_of(dir) find one? false only when certainly not, at
 * generation g (from mount_watch_gen): answered by one stat of dir against
 * the (device, inode) of every mount point's root, gathered once per
 * generation. true when unsure (g no longer current, a failed stat or
 * read): then ask osfs_bind_mount_of.
 */
bool mount_watch_maybe_bound(struct mount_watch *w, uint64_t g, const char *dir);

#endif
