/*
 * osfs: filesystems on block devices: probing with libblkid, formatting
 * by fork+exec of mkfs (never a shell), mount(2)/umount2(2), and the
 * mount table from /proc/self/mountinfo.
 *
 * All functions return 0 or a negative errno and fill e; thread-safe.
 */
#ifndef RR_OSFS_H
#define RR_OSFS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* What is on a device. type gets e.g. "ext4", "xfs", "" for nothing. Returns
 * 0 (found or empty), -EINVAL when the device holds something we must not
 * format over (several signatures, a partition table, LUKS, LVM, RAID),
 * naming it, or an I/O error. */
int osfs_probe(const char *dev, char *type, size_t typesz, struct err *e);

/* The filesystems we can make: "ext4", "xfs". */
bool osfs_supported(const char *fstype);

/* mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1 DEV or
 * mkfs.xfs -q -f DEV, killed after timeout_ms (-ETIMEDOUT). A failed mkfs
 * is -EIO with the tool's stderr (trimmed) in the message. Unsupported
 * types are -EINVAL. label may be NULL. */
int osfs_format(const char *dev, const char *fstype, const char *label, long timeout_ms,
		struct err *e);

/* Does the device hold anything in its first MiB (any non-zero byte)? A
 * device nothing was ever written to reads as zeros; a filesystem whose
 * signature was damaged does not. */
int osfs_has_data(const char *dev, bool *has, struct err *e);

/*
 * Check a filesystem before a read-write mount, as a distribution does at
 * boot: ext4 with "e2fsck -p" (repairs what is safe to repair unattended),
 * xfs with "xfs_repair -n" (reports only; a dirty log is left to the mount,
 * which replays it). Returns 0 when clean or safely repaired, -EUCLEAN when
 * the damage needs a person (e says so and names the repair command), or
 * another -errno when the check could not run (timeout, tool missing).
 * repair_file (may be NULL): the image file the repair command should name
 * instead of dev, which may be gone by the time a person reads it.
 */
int osfs_check(const char *dev, const char *fstype, long timeout_ms, const char *repair_file,
	       struct err *e);

/* The command a person runs to repair the fstype filesystem on dev by hand
 * ("e2fsck -f DEV", "xfs_repair DEV"), naming repair_file instead when
 * given (an image file: xfs_repair then needs -f). Written into buf. */
void osfs_repair_command(const char *fstype, const char *dev, const char *repair_file,
			 char *buf, size_t sz);

/* mount(2) of a block device; fstype NULL (or "") = probe, -EINVAL when the
 * device holds no filesystem. options is a comma list: generic per-mount
 * options (ro rw nosuid nodev noexec noatime relatime sync lazytime ...)
 * become MS_* flags, the rest goes to the filesystem as its data string.
 * "nouuid" is refused (-EPERM): xfs's refusal of a second mount of one
 * filesystem is a guard we keep. target must exist. */
int osfs_mount(const char *dev, const char *target, const char *fstype, const char *options,
	       struct err *e);
/* Bind mount src onto target (for directory volumes). */
int osfs_bind(const char *src, const char *target, struct err *e);
/*
 * Cut every process off the filesystem mounted at target, now: the
 * filesystem's shutdown ioctl (ext4's EXT4_IOC_SHUTDOWN, xfs'
 * XFS_IOC_GOINGDOWN, btrfs' on kernels that have it, all _IOR('X', 125))
 * with LOGFLUSH: the journal is committed to the device once more (so a
 * write the kernel acknowledged as durable, fsync or O_SYNC/O_DSYNC, is
 * there even if its journal commit raced the shutdown), no data page is
 * written, and every later operation through any mount or open file of
 * that filesystem fails with EIO. What sat only in the page cache is
 * lost, as at a power cut. The caller fences while no other host can own
 * the volume yet (a preempt waits for its confirmation or its lease), so
 * that last journal commit meets no other writer. The filesystem stays
 * mounted: unmount it after.
 * Returns 0; -ENOTSUP when the filesystem has no shutdown (no fence
 * exists for it); -errno of open or ioctl.
 */
int osfs_shutdown(const char *target, struct err *e);

/*
 * Freeze (FIFREEZE) and thaw (FITHAW) the filesystem mounted at
 * mountpoint, for a consistent snapshot: freezing flushes it and then
 * blocks every writer (and anything that would dirty it, such as atime
 * updates and a sync) until the thaw, in every mount namespace. So a
 * caller thaws on every path, promptly; prefer osfs_freeze_do. Freezes
 * nest in the kernel for distinct freezers only: a second freeze of a
 * frozen filesystem is -EBUSY, a thaw of one that is not frozen -EINVAL.
 * Through the seam (kind "ioctl"); -ENOTSUP when the filesystem cannot
 * freeze.
 */
int osfs_freeze(const char *mountpoint, struct err *e);
int osfs_thaw(const char *mountpoint, struct err *e);

/* Freeze, run fn(arg, e), thaw, whatever fn returned. Returns fn's result
 * (its e), else the thaw's error; when the thaw fails the filesystem stays
 * frozen, which e says loudly (a person must run fsfreeze -u). */
int osfs_freeze_do(const char *mountpoint, int (*fn)(void *arg, struct err *e), void *arg,
		   struct err *e);

/*
 * Grow the filesystem of type fstype mounted at mountpoint from dev to
 * the whole device (after loopdev_set_capacity for a loop device whose
 * image grew): ext4 online with "resize2fs DEV", xfs with "xfs_growfs
 * MOUNTPOINT" (both through os/run, killed after timeout_ms). A failed
 * tool is -EIO with its stderr, -EPERM when it was refused the
 * privilege (ext4 needs CAP_SYS_RESOURCE, which containers often lack);
 * another fstype is -ENOTSUP naming it.
 * The caller makes sure that dev is what is mounted at mountpoint. A
 * filesystem that already fills its device is left as it is (0).
 */
int osfs_grow(const char *dev, const char *mountpoint, const char *fstype, long timeout_ms,
	      struct err *e);

/* The size the ext4 or xfs filesystem on dev spans, from its superblock
 * (blocks times block size): less than the device's after the device
 * grew. 0, -EIO (no such superblock), -ENOTSUP (another type). */
int osfs_fs_size(const char *dev, const char *fstype, unsigned long long *bytes, struct err *e);

/* Grow the unmounted ext4 filesystem on dev to the whole device
 * ("e2fsck -f -p" then "resize2fs"; neither needs CAP_SYS_RESOURCE, which
 * the online resize does). Another type is -ENOTSUP (xfs grows mounted:
 * osfs_grow). */
int osfs_grow_offline(const char *dev, const char *fstype, long timeout_ms, struct err *e);

/* umount2(target, UMOUNT_NOFOLLOW); -EINVAL when target is not a mount. */
int osfs_unmount(const char *target, struct err *e);

#endif
