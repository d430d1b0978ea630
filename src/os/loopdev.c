/*
 * loopdev: attach, detach and find loop devices (see loopdev.h).
 *
 * The attach sequence follows util-linux: GET_FREE on /dev/loop-control,
 * open /dev/loopN, one LOOP_CONFIGURE; the find-then-configure race with
 * other attachers (EBUSY) is retried with a fresh index, bounded.
 */
#include "os/loopdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"
#include "util/sys.h"

/* Debian 12's headers have it; older ones (kernel < 5.8) do not. */
#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
	__u32 fd;
	__u32 block_size;
	struct loop_info64 info;
	__u64 __reserved[8];
};
#endif

/* as losetup: find+configure races with other attachers */
#define LOOP_ATTACH_TRIES	64
#define LOOP_DETACH_WAIT_MS	2000
#define SYS_BLOCK		"/sys/block"
#define DELETED_SUFFIX		" (deleted)"

/*
 * Open /dev/loopN, waiting until deadline for the node: devtmpfs creates it
 * when LOOP_CTL_GET_FREE adds the device, but a udev-managed /dev may lag
 * (ENOENT) or still be fixing permissions (EACCES). -ENXIO when the device
 * was removed meanwhile (LOOP_CTL_REMOVE by someone else).
 */
static int open_loop_node(const char *dev, long long deadline)
{
	long delay = 1;

	for (;;) {
		int fd = sys_open(dev, O_RDWR | O_CLOEXEC);

		if (fd >= 0)
			return fd;
		if (errno != ENOENT && errno != EACCES)
			return -errno;
		if (time_now_ms() >= deadline)
			return errno == ENOENT ? -ETIMEDOUT : -errno;
		time_sleep_ms(delay);
		if (delay < 50)
			delay *= 2;
	}
}

static int ioctl_retry_eagain(int fd, unsigned long req, const void *arg)
{
	for (int i = 0; i < 64; i++) {
		if (sys_ioctl(fd, req, (unsigned long)arg) == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		time_sleep_ms(5);
	}
	return -EAGAIN;
}

/*
 * Bind imgfd to the device behind loopfd. Returns 0 or -errno; on failure
 * the device is left unbound, except for EBUSY (someone else bound it).
 */
static int loop_configure(int loopfd, int imgfd, const char *canon)
{
	struct loop_config cfg;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (__u32)imgfd;
	/*
	 * block_size 0 keeps 512-byte sectors: a filesystem made here then
	 * mounts anywhere the image is attached later. No DIRECT_IO, no
	 * AUTOCLEAR (see loopdev.h), no PARTSCAN (we refuse partitioned images).
	 */
	/* informational only (losetup shows it); the kernel keeps 63 bytes */
	memcpy(cfg.info.lo_file_name, canon,
	       strnlen(canon, sizeof(cfg.info.lo_file_name) - 1));

	r = ioctl_retry_eagain(loopfd, LOOP_CONFIGURE, &cfg);
	if (r != -EINVAL && r != -ENOTTY && r != -ENOSYS)
		return r;

	/* kernel < 5.8: two steps, with a window where the device is bound but bare */
	r = ioctl_retry_eagain(loopfd, LOOP_SET_FD, (void *)(intptr_t)imgfd);
	if (r < 0)
		return r;
	/* the status holds only the informational name: its failure leaves a
	 * device that works, so it is not the attach's failure */
	if ((r = ioctl_retry_eagain(loopfd, LOOP_SET_STATUS64, &cfg.info)) < 0)
		log_debug("loop: cannot name the device of %s: %s", canon, strerror(-r));
	return 0;
}

static bool attach_retryable(int r)
{
	/* EBUSY/EAGAIN: another attacher took the index between GET_FREE and
	 * CONFIGURE; ENXIO: the device was removed under us */
	return r == -EBUSY || r == -EAGAIN || r == -ENXIO;
}

/*
 * One round: take a free index and bind imgfd to it. Returns 0, a
 * retryable error (attach_retryable) with e untouched, or a final error
 * with e filled.
 */
static int attach_once(int ctl, int imgfd, const char *canon, long long deadline,
		       char dev[LOOPDEV_PATH_MAX], struct err *e)
{
	int idx, loopfd, r;

	idx = sys_ioctl(ctl, LOOP_CTL_GET_FREE, 0);
	if (idx < 0)
		return err_set(e, -errno, "loop attach '%s': no free loop device: %s", canon,
			       strerror(errno));
	snprintf(dev, LOOPDEV_PATH_MAX, "/dev/loop%d", idx);
	loopfd = open_loop_node(dev, deadline);
	if (loopfd == -ETIMEDOUT)
		return err_set(e, loopfd, "loop attach '%s': %s did not appear within the timeout",
			       canon, dev);
	if (loopfd < 0 && !attach_retryable(loopfd))
		return err_set(e, loopfd, "loop attach '%s': open '%s': %s", canon, dev,
			       strerror(-loopfd));
	if (loopfd < 0)
		return loopfd;
	r = loop_configure(loopfd, imgfd, canon);
	close(loopfd);
	if (r < 0 && !attach_retryable(r))
		return err_set(e, r, "loop attach '%s' to %s: %s", canon, dev, strerror(-r));
	return r;
}

int loopdev_attach(const char *image, long timeout_ms, char dev[LOOPDEV_PATH_MAX],
		   struct err *e)
{
	char canon[PATH_MAX];
	long long deadline;
	int imgfd = -1, ctl = -1, r;

	dev[0] = '\0';
	if (!image || !*image)
		return err_set(e, -EINVAL, "loop attach: empty image path");
	if (!realpath(image, canon))
		return err_set(e, -errno, "loop attach: image '%s': %s", image, strerror(errno));
	deadline = time_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	imgfd = sys_open(canon, O_RDWR | O_CLOEXEC);
	if (imgfd < 0)
		return err_set(e, -errno, "loop attach: open '%s': %s", canon, strerror(errno));
	ctl = sys_open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		r = err_set(e, -errno, "loop attach: open '/dev/loop-control': %s",
			    strerror(errno));
		goto out;
	}
	for (int attempt = 1;; attempt++) {
		r = attach_once(ctl, imgfd, canon, deadline, dev, e);
		if (r == 0) {
			log_debug("loop: attached '%s' to %s", canon, dev);
			break;
		}
		if (!attach_retryable(r))
			break;
		if (attempt == LOOP_ATTACH_TRIES) {
			r = err_set(e, -EBUSY, "loop attach '%s': %d free loop devices in a row "
				    "were taken by others", canon, attempt);
			break;
		}
		log_debug("loop: %s: %s, retrying (%d)", dev, strerror(-r), attempt);
		time_sleep_ms(attempt < 10 ? attempt : 10);
	}
out:
	if (r < 0)
		dev[0] = '\0';
	if (ctl >= 0)
		close(ctl);
	close(imgfd);
	return r;
}

/* "/dev/loop12" -> "loop12"; NULL when dev is not such a name. */
static const char *loop_name(const char *dev)
{
	const char *base = strrchr(dev, '/');

	base = base ? base + 1 : dev;
	if (strncmp(base, "loop", 4) != 0 || !base[4])
		return NULL;
	for (const char *p = base + 4; *p; p++)
		if (*p < '0' || *p > '9')
			return NULL;
	return base;
}

static bool still_bound(const char *dev)
{
	const char *name = loop_name(dev);
	char path[128];

	if (!name)
		return false;
	snprintf(path, sizeof(path), SYS_BLOCK "/%s/loop/backing_file", name);
	return access(path, F_OK) == 0;
}

int loopdev_detach(const char *dev, struct err *e)
{
	struct loop_info64 info;
	long long deadline;
	int fd, r;

	if (!dev || !*dev)
		return err_set(e, -EINVAL, "loop detach: empty device path");
	fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO)
			return err_set(e, -ENXIO, "loop detach '%s': no such device", dev);
		return err_set(e, -errno, "loop detach: open '%s': %s", dev, strerror(errno));
	}
	if (sys_ioctl(fd, LOOP_GET_STATUS64, (unsigned long)&info) < 0) {
		int saved = errno;

		close(fd);
		if (saved == ENXIO)
			return err_set(e, -ENXIO, "loop detach '%s': not attached", dev);
		if (saved == ENOTTY || saved == EINVAL)
			return err_set(e, -EINVAL, "loop detach '%s': not a loop device", dev);
		return err_set(e, -saved, "loop detach '%s': %s", dev, strerror(saved));
	}
	deadline = time_now_ms() + LOOP_DETACH_WAIT_MS;
	for (;;) {
		if (sys_ioctl(fd, LOOP_CLR_FD, 0) == 0) {
			r = 0;
			break;
		}
		r = -errno;
		/* older kernels: EBUSY while a just-unmounted filesystem still holds it */
		if ((r != -EBUSY && r != -EAGAIN) || time_now_ms() >= deadline)
			break;
		time_sleep_ms(10);
	}
	close(fd);
	if (r == -ENXIO)
		return err_set(e, r, "loop detach '%s': not attached", dev);
	if (r < 0)
		return err_set(e, r, "loop detach '%s': %s", dev, strerror(-r));
	/* on 6.x kernels CLR_FD with other openers only arms autoclear; a
	 * just-unmounted filesystem or a prober lets go within moments, and
	 * callers expect the device gone when we return, so wait a little */
	deadline = time_now_ms() + LOOP_DETACH_WAIT_MS;
	while (still_bound(dev) && time_now_ms() < deadline)
		time_sleep_ms(10);
	if (still_bound(dev))
		log_debug("loop: %s still open elsewhere, detach deferred to last close", dev);
	else
		log_debug("loop: detached %s", dev);
	return 0;
}

/*
 * The loop devices' sysfs directories. Every loop device is a virtual
 * block device: /sys/block/loopN is a symlink to
 * /sys/devices/virtual/block/loopN. A scan opens the real directory once
 * and looks each device up relative to it: no symlink and no absolute
 * path walked per device, a third of the time (a host has dozens of
 * unbound loop devices, and a remove scans twice). /sys/block when the
 * other is missing.
 */
#define SYS_VIRTUAL_BLOCK	"/sys/devices/virtual/block"
#define PROC_PARTITIONS		"/proc/partitions"

/* The backing file of <dfd>/<name>, newline dropped; -ENOENT when unbound
 * (its "loop" directory exists only while it is). */
static int read_backing_file(int dfd, const char *name, char **ret)
{
	char path[64], *buf;
	size_t len = 0, cap = PATH_MAX + 64;
	int fd;

	snprintf(path, sizeof(path), "%s/loop/backing_file", name);
	fd = sys_openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!(buf = malloc(cap + 1))) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			close(fd);
			return r;
		}
		if (n == 0 || (len += (size_t)n) == cap)
			break;
	}
	close(fd);
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	*ret = buf;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* A growing, then sorted, list of loop device indexes. */
struct index_list {
	int *idx;
	size_t n, cap;
};

/* Add N of a "loopN" name (other names are skipped). 0 or -ENOMEM. */
static int index_add(struct index_list *l, const char *name)
{
	char *end;
	long v;

	if (!loop_name(name))
		return 0;
	v = strtol(name + 4, &end, 10);
	if (*end || v < 0 || v > INT_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		int *ni = realloc(l->idx, ncap * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		l->idx = ni;
		l->cap = ncap;
	}
	l->idx[l->n++] = (int)v;
	return 0;
}

/* Hand the list over sorted (r == 0), or free it (r < 0). */
static int index_done(struct index_list *l, int r, int **ret, size_t *ret_n)
{
	if (r < 0) {
		free(l->idx);
		return r;
	}
	if (l->n)
		qsort(l->idx, l->n, sizeof(*l->idx), cmp_int);
	*ret = l->idx;
	*ret_n = l->n;
	return 0;
}

/* Indexes of the loopN in directory dfd (not closed), sorted. */
static int list_loop_indexes(int dfd, int **ret, size_t *ret_n)
{
	struct index_list l = { 0 };
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	if ((fd = dup(dfd)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	while (r == 0 && (de = readdir(d)) != NULL)
		r = index_add(&l, de->d_name);
	closedir(d);
	return index_done(&l, r, ret, ret_n);
}

/*
 * Indexes of the loopN that /proc/partitions lists, sorted: the bound
 * ones. The kernel lists a disk only while it has a capacity, so one read
 * of a small file replaces an open of loopN/loop/backing_file for each of
 * the machine's (mostly unbound) loop devices, 0.15-0.3 ms a pass with the
 * 76 of this machine, several passes per mount. What it leaves out, a
 * device bound to an empty file, can hold no filesystem. -errno when the
 * file cannot be read (the caller lists /sys instead).
 */
static int list_bound_indexes(int **ret, size_t *ret_n)
{
	struct index_list l = { 0 };
	char line[256];
	int r = 0;
	FILE *f = fopen(PROC_PARTITIONS, "re");

	if (!f)
		return -errno;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long blocks;
		char name[64];

		if (sscanf(line, "%u %u %llu %63s", &maj, &min, &blocks, name) == 4)
			r = index_add(&l, name);
	}
	fclose(f);
	return index_done(&l, r, ret, ret_n);
}

int loopdev_foreach(int (*fn)(const char *dev, const char *backing_file, void *arg), void *arg)
{
	size_t n = 0;
	int *idx = NULL, r, dfd;

	dfd = sys_open(SYS_VIRTUAL_BLOCK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		dfd = sys_open(SYS_BLOCK, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = list_bound_indexes(&idx, &n);
	if (r == -ENOMEM) {
		close(dfd);
		return r;
	}
	if (r < 0)
		r = list_loop_indexes(dfd, &idx, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char name[16], dev[LOOPDEV_PATH_MAX], *backing = NULL;

		snprintf(name, sizeof(name), "loop%d", idx[i]);
		if (read_backing_file(dfd, name, &backing) < 0)
			continue; /* unbound, or detached while we looked */
		snprintf(dev, sizeof(dev), "/dev/loop%d", idx[i]);
		r = fn(dev, backing, arg);
		free(backing);
	}
	free(idx);
	close(dfd);
	return r;
}

struct find_ctx {
	const char *canon;
	dev_t st_dev;
	ino_t st_ino;
	bool by_inode;
	char *dev;
};

static bool is_deleted(const char *backing)
{
	size_t n = strlen(backing), s = strlen(DELETED_SUFFIX);

	return n >= s && strcmp(backing + n - s, DELETED_SUFFIX) == 0;
}

/* The device number and inode the kernel recorded when dev was bound. */
static bool loop_inode_matches(const char *dev, dev_t st_dev, ino_t st_ino)
{
	struct loop_info64 info;
	int fd, r;

	fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	r = sys_ioctl(fd, LOOP_GET_STATUS64, (unsigned long)&info);
	close(fd);
	return r == 0 && info.lo_device == (__u64)st_dev && info.lo_inode == (__u64)st_ino;
}

static int find_cb(const char *dev, const char *backing, void *arg)
{
	struct find_ctx *c = arg;

	/* an unlinked image is not the file now at that path */
	if (is_deleted(backing))
		return 0;
	if (!c->by_inode && strcmp(backing, c->canon) != 0)
		return 0;
	/* the same file seen through another path: a bind mount, a hard link */
	if (c->by_inode && !loop_inode_matches(dev, c->st_dev, c->st_ino))
		return 0;
	snprintf(c->dev, LOOPDEV_PATH_MAX, "%s", dev);
	return 1;
}

int loopdev_find_by_file(const char *image, char dev[LOOPDEV_PATH_MAX], struct err *e)
{
	struct find_ctx c = { .dev = dev };
	char canon[PATH_MAX];
	struct stat st;
	int r;

	if (!image || !*image)
		return err_set(e, -EINVAL, "loop find: empty image path");
	if (!realpath(image, canon) || stat(canon, &st) < 0) {
		if (errno == ENOENT)
			return err_set(e, -ENOENT, "no loop device for '%s': no such file", image);
		return err_set(e, -errno, "loop find: image '%s': %s", image, strerror(errno));
	}
	c.canon = canon;
	c.st_dev = st.st_dev;
	c.st_ino = st.st_ino;
	r = loopdev_foreach(find_cb, &c);
	if (r == 0) {
		/* second pass only when the path matched nothing: it opens each device */
		c.by_inode = true;
		r = loopdev_foreach(find_cb, &c);
	}
	if (r == 1)
		return 0;
	dev[0] = '\0';
	if (r < 0)
		return err_set(e, r, "loop find '%s': " SYS_BLOCK ": %s", canon, strerror(-r));
	return err_set(e, -ENOENT, "no loop device for '%s'", canon);
}

bool blockdev_in_use(const char *dev)
{
	int fd = sys_open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

struct busy_ctx {
	dev_t st_dev;
	ino_t st_ino;
	char *dev;
};

static int busy_cb(const char *dev, const char *backing, void *arg)
{
	struct busy_ctx *c = arg;

	(void)backing; /* by inode: the path may be another or unlinked */
	if (!loop_inode_matches(dev, c->st_dev, c->st_ino) || !blockdev_in_use(dev))
		return 0;
	snprintf(c->dev, LOOPDEV_PATH_MAX, "%s", dev);
	return 1;
}

int loopdev_busy_for_file(const char *image, char dev[LOOPDEV_PATH_MAX])
{
	struct busy_ctx c = { .dev = dev };
	struct stat st;

	dev[0] = '\0';
	if (stat(image, &st) < 0)
		return -errno;
	c.st_dev = st.st_dev;
	c.st_ino = st.st_ino;
	return loopdev_foreach(busy_cb, &c);
}

int blockdev_size(const char *dev, unsigned long long *bytes, struct err *e)
{
	uint64_t size = 0;
	int fd, r = 0;

	fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "open '%s': %s", dev, strerror(errno));
	if (sys_ioctl(fd, BLKGETSIZE64, (unsigned long)&size) < 0)
		r = err_set(e, -errno, "size of '%s': %s", dev, strerror(errno));
	else
		*bytes = size;
	close(fd);
	return r;
}

int loopdev_set_capacity(const char *dev, struct err *e)
{
	int fd, r = 0;

	if (!dev || !*dev)
		return err_set(e, -EINVAL, "loop set capacity: empty device path");
	fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO)
			return err_set(e, -ENXIO, "loop set capacity '%s': no such device", dev);
		return err_set(e, -errno, "loop set capacity: open '%s': %s", dev,
			       strerror(errno));
	}
	if (sys_ioctl(fd, LOOP_SET_CAPACITY, 0) < 0) {
		r = -errno;
		if (r == -ENOTTY || r == -EINVAL)
			r = err_set(e, -EINVAL, "loop set capacity '%s': not a loop device", dev);
		else if (r == -ENXIO)
			r = err_set(e, r, "loop set capacity '%s': not attached", dev);
		else
			r = err_set(e, r, "loop set capacity '%s': %s", dev, strerror(-r));
	}
	close(fd);
	if (r == 0)
		log_debug("loop: %s re-read its backing file's size", dev);
	return r;
}

struct list_ctx {
	dev_t st_dev;
	ino_t st_ino;
	char (*devs)[LOOPDEV_PATH_MAX];
	size_t max, n;
};

static int list_cb(const char *dev, const char *backing, void *arg)
{
	struct list_ctx *c = arg;

	(void)backing;
	if (!loop_inode_matches(dev, c->st_dev, c->st_ino))
		return 0;
	if (c->n < c->max)
		snprintf(c->devs[c->n], LOOPDEV_PATH_MAX, "%s", dev);
	c->n++;
	return 0;
}

int loopdev_list_for_file(const char *image, char (*devs)[LOOPDEV_PATH_MAX], size_t max,
			  size_t *n, struct err *e)
{
	struct list_ctx c = { .devs = devs, .max = devs ? max : 0 };
	struct stat st;
	int r;

	*n = 0;
	if (!image || !*image)
		return err_set(e, -EINVAL, "loop list: empty image path");
	if (stat(image, &st) < 0)
		return err_set(e, -errno, "loop list: image '%s': %s", image, strerror(errno));
	c.st_dev = st.st_dev;
	c.st_ino = st.st_ino;
	r = loopdev_foreach(list_cb, &c);
	if (r < 0)
		return err_set(e, r, "loop list: /sys/block: %s", strerror(-r));
	*n = c.n;
	return 0;
}
