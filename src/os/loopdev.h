/*
 * loopdev: loop block devices over image files (loop(4)), after
 * util-linux lib/loopdev.c: /dev/loop-control LOOP_CTL_GET_FREE, then one
 * atomic LOOP_CONFIGURE (falling back to LOOP_SET_FD + LOOP_SET_STATUS64 on
 * kernels without it), retrying with a fresh index when another process
 * takes the free device first (EBUSY), bounded. AUTOCLEAR is off: a device
 * stays until loopdev_detach, so a crash of the engine never unmounts a
 * volume under a running container; detaching is explicit.
 *
 * All functions return 0 or a negative errno and fill e. Device paths are
 * "/dev/loopN" written into a caller buffer of at least LOOPDEV_PATH_MAX.
 * Thread-safe (no shared state).
 */
#ifndef RR_LOOPDEV_H
#define RR_LOOPDEV_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define LOOPDEV_PATH_MAX 32

/* Attach image (opened O_RDWR|O_CLOEXEC) to a free loop device; the
 * device's backing_file is the image's canonical path. Waits at most
 * timeout_ms for /dev/loopN to appear. */
int loopdev_attach(const char *image, long timeout_ms, char dev[LOOPDEV_PATH_MAX],
		   struct err *e);

/* Detach (LOOP_CLR_FD), retrying briefly (~2 s) while the kernel reports
 * EBUSY (a just-unmounted filesystem still closing); -ENXIO when the device
 * is not attached (or the node does not exist), -EINVAL when dev is not a
 * loop device.
 * Callers must unmount first: on current kernels (5.x/6.x) LOOP_CLR_FD on a
 * device that is still open elsewhere (a mounted filesystem counts) does not
 * fail with EBUSY but succeeds lazily, arming AUTOCLEAR, so the device
 * silently stays until its last opener goes (see mount_points_of). */
int loopdev_detach(const char *dev, struct err *e);

/* The loop device whose backing file is image (compared by canonical
 * path, then by device+inode), from /sys/block/loop* / loop/backing_file.
 * Returns 0 and fills dev, or -ENOENT when none. */
int loopdev_find_by_file(const char *image, char dev[LOOPDEV_PATH_MAX], struct err *e);

/* Callback over every attached loop device (those /proc/partitions lists:
 * one bound to an empty file is left out), in index order: (dev,
 * backing_file), the backing file as the kernel shows it (" (deleted)"
 * appended when the image was unlinked); both strings are borrowed for the
 * call. Stops at the first non-zero return of fn and returns that value;
 * 0 after the last device; -errno when /sys/block cannot be read. */
int loopdev_foreach(int (*fn)(const char *dev, const char *backing_file, void *arg), void *arg);

/* Is the block device in use anywhere: mounted in any mount namespace (a
 * container's too) or held open exclusively? The kernel answers an O_EXCL
 * open of such a device with EBUSY; the engine's own mount table sees one
 * namespace only. false when the device cannot be opened at all. */
bool blockdev_in_use(const char *dev);

/* The first loop device bound to image (matched by device and inode, so a
 * second device made through another path counts too) that is in use
 * (blockdev_in_use). Returns 1 and fills dev, 0 when none is, -errno when
 * the image or /sys/block cannot be read. */
int loopdev_busy_for_file(const char *image, char dev[LOOPDEV_PATH_MAX]);

/* Make the kernel re-read the size of dev's backing file
 * (LOOP_SET_CAPACITY), after the image grew; a mounted filesystem on it
 * then sees a bigger device (grow it with osfs_grow). -ENXIO when dev is
 * not attached, -EINVAL when not a loop device. */
int loopdev_set_capacity(const char *dev, struct err *e);

/* Every loop device bound to image (matched by device and inode, so a
 * device made through another path or a deleted-and-recreated name is
 * told apart), in index order, up to max of them into devs; *n gets how
 * many there are (which may exceed max). 0 or -errno. */
int loopdev_list_for_file(const char *image, char (*devs)[LOOPDEV_PATH_MAX], size_t max,
			  size_t *n, struct err *e);

/* Size of a block device in bytes (BLKGETSIZE64). */
int blockdev_size(const char *dev, unsigned long long *bytes, struct err *e);

#endif
