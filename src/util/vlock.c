#include "util/vlock.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/names.h"
#include "util/sys.h"

/* The locks this thread holds: a small table, since a thread holds one
 * volume at a time (a few when it nests). */
#define VLOCK_HELD_MAX 8

struct held {
	char path[PATH_MAX];
	int fd;
	int depth;
};

static _Thread_local struct held held[VLOCK_HELD_MAX];

/* <run>/locks/<service> */
static int lock_dir(const char *run_dir, const char *service, char *dir, size_t dirsz)
{
	return (size_t)snprintf(dir, dirsz, "%s/locks/%s", run_dir, service) >= dirsz ?
		       -ENAMETOOLONG : 0;
}

/* <run>/locks/<service>/<name, lower-cased>, and its directory */
static int lock_path(const char *run_dir, const char *service, const char *name, char *path,
		     size_t sz, char *dir, size_t dirsz)
{
	char lower[VOLUME_NAME_MAX + 1];
	size_t i;

	for (i = 0; name[i] && i < VOLUME_NAME_MAX; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	if (lock_dir(run_dir, service, dir, dirsz) < 0 ||
	    (size_t)snprintf(path, sz, "%s/%s", dir, lower) >= sz)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The holder unlinks the lock file when it is done, so a waiter may get the
 * lock on a file that was unlinked meanwhile: it then tries again on the
 * current one.
 */
static int lock_file(const char *path, const char *dir, struct err *e)
{
	struct stat lock_st, now;
	int fd, r;

	for (;;) {
		fd = sys_open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		/* the directory is made once, by the first lock of a service */
		if (fd < 0 && errno == ENOENT) {
			if ((r = fs_mkdir_p(dir, 0700)) < 0)
				return err_set(e, r, "cannot create '%s': %s", dir, strerror(-r));
			fd = sys_open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		}
		if (fd < 0)
			return err_set(e, -errno, "cannot open lock '%s': %s", path,
				       strerror(errno));
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				r = -errno;
				close(fd);
				return err_set(e, r, "cannot lock '%s': %s", path, strerror(-r));
			}
		}
		if (fstat(fd, &lock_st) == 0 && stat(path, &now) == 0 &&
		    lock_st.st_ino == now.st_ino && lock_st.st_dev == now.st_dev)
			return fd;
		close(fd);
	}
}

int vlock_prepare(const char *run_dir, const char *service, struct err *e)
{
	char dir[PATH_MAX];
	int r;

	if ((r = lock_dir(run_dir, service, dir, sizeof(dir))) < 0)
		return err_set(e, r, "lock directory for service '%s': path too long", service);
	if ((r = fs_mkdir_p(dir, 0700)) < 0)
		return err_set(e, r, "cannot create '%s': %s", dir, strerror(-r));
	return 0;
}

int vlock_acquire(const char *run_dir, const char *service, const char *name, struct err *e)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int free_slot = -1, fd, r;

	if ((r = lock_path(run_dir, service, name, path, sizeof(path), dir, sizeof(dir))) < 0)
		return err_set(e, r, "lock path for volume '%s' too long", name);
	for (int i = 0; i < VLOCK_HELD_MAX; i++) {
		if (held[i].depth > 0 && strcmp(held[i].path, path) == 0) {
			held[i].depth++; /* this thread has it already */
			return held[i].fd;
		}
		if (held[i].depth == 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return err_set(e, -EDEADLK, "too many volume locks held by one thread");
	if ((fd = lock_file(path, dir, e)) < 0)
		return fd;
	snprintf(held[free_slot].path, sizeof(held[free_slot].path), "%s", path);
	held[free_slot].fd = fd;
	held[free_slot].depth = 1;
	return fd;
}

void vlock_release(int handle)
{
	if (handle < 0)
		return;
	for (int i = 0; i < VLOCK_HELD_MAX; i++) {
		struct held *h = &held[i];
		if (h->depth == 0 || h->fd != handle)
			continue;
		if (--h->depth > 0)
			return;
		sys_unlink(h->path); /* while still held: see lock_file */
		close(h->fd);
		h->fd = -1;
		h->path[0] = '\0';
		return;
	}
}
