/* sys: the seam to the outside world, and its fault injection (sys.h). */
#include "util/sys.h"

#ifndef RR_SYS_NOSEAM /* the whole file: see sys.h */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

const char *const sys_kind_names[SYS_KINDS] = {
	[SYS_OPEN] = "open",	       [SYS_MKDIR] = "mkdir",	    [SYS_RENAME] = "rename",
	[SYS_UNLINK] = "unlink",       [SYS_FALLOCATE] = "fallocate",
	[SYS_FTRUNCATE] = "ftruncate", [SYS_FSYNC] = "fsync",	    [SYS_IOCTL] = "ioctl",
	[SYS_MOUNT] = "mount",	       [SYS_UMOUNT] = "umount",	    [SYS_EXEC] = "exec",
	[SYS_DB] = "db",	       [SYS_XATTR] = "xattr",	    [SYS_ALLOC] = "alloc",
	[SYS_COPY] = "copy",	       [SYS_LINK] = "link",	    [SYS_ATTR] = "attr",
};

/* The armed failure; armed is the one word an unarmed wrapper reads. */
static atomic_bool armed;
static struct {
	enum sys_kind kind;
	bool any, sticky;
	unsigned long n;
	int err;
	atomic_ulong calls;
} plan;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const struct {
	const char *name;
	int code;
} errnos[] = {
	{ "EIO", EIO },	    { "ENOSPC", ENOSPC }, { "EBUSY", EBUSY },   { "EINVAL", EINVAL },
	{ "EACCES", EACCES }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM },	{ "EEXIST", EEXIST },
	{ "ENOENT", ENOENT }, { "EROFS", EROFS }, { "EDQUOT", EDQUOT }, { "EAGAIN", EAGAIN },
};

static int errno_named(const char *s)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strcasecmp(s, errnos[i].name) == 0)
			return errnos[i].code;
	return atoi(s) > 0 ? atoi(s) : EIO;
}

static atomic_ulong all_calls; /* counted only for REXRAY_FAULT_COUNT */
static bool counting;

/* REXRAY_FAULT_COUNT=FILE: how many seam calls the process made, written
 * at exit, so that a fault loop knows how far to go. */
static void write_count(void)
{
	FILE *f = fopen(getenv("REXRAY_FAULT_COUNT"), "we");

	if (f) {
		fprintf(f, "%lu\n", atomic_load(&all_calls));
		fclose(f);
	}
}

/* REXRAY_FAULT=KIND:N[+]:ERRNO; anything malformed arms nothing. */
static void read_env(void)
{
	const char *v = getenv("REXRAY_FAULT");

	if (getenv("REXRAY_FAULT_COUNT") && atexit(write_count) == 0)
		counting = true;
	char kind[32], num[32], err[32];
	enum sys_kind k = SYS_OPEN;
	bool any;
	char *end;
	unsigned long n;

	if (!v || sscanf(v, "%31[^:]:%31[^:]:%31s", kind, num, err) != 3)
		return;
	any = strcmp(kind, "any") == 0;
	for (int i = 0; !any && i < SYS_KINDS; i++)
		if (strcmp(kind, sys_kind_names[i]) == 0)
			k = (enum sys_kind)i;
	if (!any && strcmp(kind, sys_kind_names[k]) != 0)
		return;
	n = strtoul(num, &end, 10);
	if (n == 0 || (*end && strcmp(end, "+") != 0))
		return;
	sys_fault_arm(k, any, n, errno_named(err), *end == '+');
}

void sys_fault_arm(enum sys_kind k, bool any, unsigned long n, int err, bool sticky)
{
	atomic_store(&armed, false);
	plan.kind = k;
	plan.any = any;
	plan.n = n;
	plan.err = err;
	plan.sticky = sticky;
	atomic_store(&plan.calls, 0);
	atomic_store(&armed, n > 0);
}

unsigned long sys_fault_calls(void)
{
	return atomic_load(&plan.calls);
}

static void note(enum sys_kind k, unsigned long nth, int err)
{
	const char *path = getenv("REXRAY_FAULT_LOG");
	FILE *f = path ? fopen(path, "ae") : NULL;

	if (!f)
		return;
	fprintf(f, "%s %lu %d\n", sys_kind_names[k], nth, err);
	fclose(f);
}

bool sys_fault(enum sys_kind k)
{
	unsigned long nth;

	pthread_once(&env_once, read_env);
	if (counting)
		atomic_fetch_add(&all_calls, 1);
	if (!atomic_load_explicit(&armed, memory_order_relaxed))
		return false;
	if (plan.any ? k == SYS_ALLOC : k != plan.kind)
		return false;
	nth = atomic_fetch_add(&plan.calls, 1) + 1;
	if (nth < plan.n || (nth > plan.n && !plan.sticky))
		return false;
	note(k, nth, plan.err);
	errno = plan.err;
	return true;
}

#define SEAM(kind, call)                                                                           \
	do {                                                                                       \
		if (sys_fault(kind))                                                               \
			return -1;                                                                 \
		return call;                                                                       \
	} while (0)

/* The mode argument of open(2), present only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags, last, mode)                                                               \
	do {                                                                                       \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                                             \
			va_list ap;                                                                \
			va_start(ap, last);                                                        \
			mode = (mode_t)va_arg(ap, unsigned int);                                   \
			va_end(ap);                                                                \
		}                                                                                  \
	} while (0)

int sys_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	SEAM(SYS_OPEN, open(path, flags, mode));
}

int sys_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, flags, mode);
	SEAM(SYS_OPEN, openat(dirfd, path, flags, mode));
}

int sys_mkdir(const char *path, mode_t mode)
{
	SEAM(SYS_MKDIR, mkdir(path, mode));
}

int sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
	SEAM(SYS_MKDIR, mkdirat(dirfd, path, mode));
}

int sys_rename(const char *from, const char *to)
{
	SEAM(SYS_RENAME, rename(from, to));
}

int sys_renameat(int fromfd, const char *from, int tofd, const char *to)
{
	SEAM(SYS_RENAME, renameat(fromfd, from, tofd, to));
}

int sys_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
	SEAM(SYS_RENAME, renameat2(fromfd, from, tofd, to, flags));
}

int sys_unlink(const char *path)
{
	SEAM(SYS_UNLINK, unlink(path));
}

int sys_unlinkat(int dirfd, const char *path, int flags)
{
	SEAM(SYS_UNLINK, unlinkat(dirfd, path, flags));
}

int sys_rmdir(const char *path)
{
	SEAM(SYS_UNLINK, rmdir(path));
}

int sys_fallocate(int fd, int mode, off_t offset, off_t len)
{
	SEAM(SYS_FALLOCATE, fallocate(fd, mode, offset, len));
}

int sys_ftruncate(int fd, off_t len)
{
	SEAM(SYS_FTRUNCATE, ftruncate(fd, len));
}

int sys_fsync(int fd)
{
	SEAM(SYS_FSYNC, fsync(fd));
}

int sys_fdatasync(int fd)
{
	SEAM(SYS_FSYNC, fdatasync(fd));
}

int sys_syncfs(int fd)
{
	SEAM(SYS_FSYNC, syncfs(fd));
}

ssize_t sys_copy_file_range(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			    unsigned flags)
{
	SEAM(SYS_COPY, copy_file_range(fdin, offin, fdout, offout, len, flags));
}

ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	SEAM(SYS_COPY, pwrite(fd, buf, len, off));
}

int sys_linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	SEAM(SYS_LINK, linkat(fromfd, from, tofd, to, flags));
}

int sys_symlinkat(const char *target, int dirfd, const char *path)
{
	SEAM(SYS_LINK, symlinkat(target, dirfd, path));
}

int sys_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	SEAM(SYS_LINK, mknodat(dirfd, path, mode, dev));
}

int sys_fchmod(int fd, mode_t mode)
{
	SEAM(SYS_ATTR, fchmod(fd, mode));
}

int sys_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	SEAM(SYS_ATTR, fchmodat(dirfd, path, mode, flags));
}

int sys_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	SEAM(SYS_ATTR, fchownat(dirfd, path, uid, gid, flags));
}

int sys_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	SEAM(SYS_ATTR, utimensat(dirfd, path, times, flags));
}

int sys_futimens(int fd, const struct timespec times[2])
{
	SEAM(SYS_ATTR, futimens(fd, times));
}

int sys_ioctl(int fd, unsigned long request, unsigned long arg)
{
	SEAM(SYS_IOCTL, ioctl(fd, request, arg));
}

int sys_mount(const char *source, const char *target, const char *fstype,
	      unsigned long flags, const void *data)
{
	SEAM(SYS_MOUNT, mount(source, target, fstype, flags, data));
}

int sys_umount2(const char *target, int flags)
{
	SEAM(SYS_UMOUNT, umount2(target, flags));
}

int sys_setxattr(const char *path, const char *name, const void *value, size_t size,
		 int flags)
{
	SEAM(SYS_XATTR, setxattr(path, name, value, size, flags));
}

int sys_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	SEAM(SYS_XATTR, fsetxattr(fd, name, value, size, flags));
}

/* ---- allocations of the request paths ---- */

static _Thread_local bool alloc_scope;

void sys_alloc_scope(bool on)
{
	alloc_scope = on;
}

static bool alloc_fails(void)
{
	if (!alloc_scope || !sys_fault(SYS_ALLOC))
		return false;
	errno = ENOMEM;
	return true;
}

void *sys_malloc(size_t size)
{
	return alloc_fails() ? NULL : malloc(size);
}

void *sys_calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : calloc(n, size);
}

void *sys_realloc(void *p, size_t size)
{
	return alloc_fails() ? NULL : realloc(p, size);
}

char *sys_strdup(const char *s)
{
	return alloc_fails() ? NULL : strdup(s);
}

#endif /* RR_SYS_NOSEAM */
