/*
 * sys: the one seam between the engine and the outside world, after
 * SQLite's aSyscall[]. Every call that changes state and can fail (files,
 * directories, loop and filesystem ioctls, mount, the mkfs/fsck execs,
 * the database's steps) goes through a wrapper here, so that a test can
 * make "the Nth call of kind K fail with errno E" and watch the engine
 * answer with a clear error and leave nothing half-done.
 *
 * Arming: REXRAY_FAULT="KIND:N:ERRNO" in the environment (read once, at
 * the first call), or sys_fault_arm() in a unit test. KIND is a name of
 * sys_kind_names ("mkdir", "fsync", ...) or "any" (every kind counts);
 * N counts from 1; ERRNO is a name ("ENOSPC") or a number. "N+" fails the
 * Nth call and every later one. When a failure is injected, a line
 * "KIND N ERRNO" is appended to the file REXRAY_FAULT_LOG names, so that
 * a test knows whether its Nth call happened at all; REXRAY_FAULT_COUNT
 * names a file that gets the number of seam calls at exit.
 *
 * Allocations ("alloc") count only inside a request scope (a thread the
 * REST server marked with sys_alloc_scope while it serves one request:
 * its handlers, codecs and JSON), so that "alloc:N" means the Nth
 * allocation of the requests a server served; "any" leaves them out.
 *
 * Unarmed, a wrapper costs one load and one predictable branch before the
 * real call. Thread-safe (the counters are atomic).
 */
#ifndef RR_SYS_H
#define RR_SYS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

enum sys_kind {
	SYS_OPEN,      /* open, openat, creat */
	SYS_MKDIR,     /* mkdir, mkdirat */
	SYS_RENAME,    /* rename, renameat */
	SYS_UNLINK,    /* unlink, unlinkat, rmdir */
	SYS_FALLOCATE, /* fallocate */
	SYS_FTRUNCATE, /* ftruncate */
	SYS_FSYNC,     /* fsync, fdatasync */
	SYS_IOCTL,     /* ioctl: loop devices, filesystems */
	SYS_MOUNT,     /* mount */
	SYS_UMOUNT,    /* umount2 */
	SYS_EXEC,      /* the programs we run: mkfs, fsck, resize */
	SYS_DB,	       /* a database statement step or commit */
	SYS_XATTR,     /* setxattr, removexattr */
	SYS_ALLOC,     /* malloc and kin, inside a request scope only */
	SYS_COPY,      /* copy_file_range, pwrite: bytes copied into a file */
	SYS_LINK,      /* linkat, symlinkat, mknodat: names that are not files or dirs */
	SYS_ATTR,      /* fchmod(at), fchownat, utimensat, futimens: metadata */
	SYS_KINDS
};

extern const char *const sys_kind_names[SYS_KINDS];

/* Is the next call of kind k to fail? Then errno is set and true returned.
 * For the wrappers below, and for callers whose call is not a syscall
 * (SYS_EXEC before a fork, SYS_DB before a step). */
bool sys_fault(enum sys_kind k);

/* Arm (or, with n == 0, disarm) injection: the nth call of kind k (or of
 * any kind when any) fails with err; every later one too when sticky.
 * Counters restart. For unit tests; the environment arms the others. */
void sys_fault_arm(enum sys_kind k, bool any, unsigned long n, int err, bool sticky);
/* The calls counted since arming (of the armed kind, or all with any). */
unsigned long sys_fault_calls(void);

/* mode, as for open(2), only with O_CREAT or O_TMPFILE */
int sys_open(const char *path, int flags, ...);
int sys_openat(int dirfd, const char *path, int flags, ...);
int sys_mkdir(const char *path, mode_t mode);
int sys_mkdirat(int dirfd, const char *path, mode_t mode);
int sys_rename(const char *from, const char *to);
int sys_renameat(int fromfd, const char *from, int tofd, const char *to);
/* renameat2(2): flags RENAME_NOREPLACE, RENAME_EXCHANGE (kind "rename") */
int sys_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags);
int sys_unlink(const char *path);
int sys_unlinkat(int dirfd, const char *path, int flags);
int sys_rmdir(const char *path);
int sys_fallocate(int fd, int mode, off_t offset, off_t len);
int sys_ftruncate(int fd, off_t len);
int sys_fsync(int fd);
int sys_fdatasync(int fd);
int sys_syncfs(int fd); /* kind "fsync" */
/* kind "copy" */
ssize_t sys_copy_file_range(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			    unsigned flags);
ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off);
/* kind "link" */
int sys_linkat(int fromfd, const char *from, int tofd, const char *to, int flags);
int sys_symlinkat(const char *target, int dirfd, const char *path);
int sys_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);
/* kind "attr" */
int sys_fchmod(int fd, mode_t mode);
int sys_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
int sys_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags);
int sys_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags);
int sys_futimens(int fd, const struct timespec times[2]);
/* arg: a pointer cast to unsigned long, or the request's integer */
int sys_ioctl(int fd, unsigned long request, unsigned long arg);
int sys_mount(const char *source, const char *target, const char *fstype,
	      unsigned long flags, const void *data);
int sys_umount2(const char *target, int flags);
/* Allocations of the request paths: plain malloc and kin outside a scope. */
void sys_alloc_scope(bool on);
void *sys_malloc(size_t size);
void *sys_calloc(size_t n, size_t size);
void *sys_realloc(void *p, size_t size);
char *sys_strdup(const char *s);

int sys_setxattr(const char *path, const char *name, const void *value, size_t size,
		 int flags);
int sys_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);

/*
 * RR_SYS_NOSEAM (bench/b7_seam.py's baseline build only): every wrapper
 * is the bare call, so that the seam's cost can be measured side by side.
 */
#ifdef RR_SYS_NOSEAM
#define sys_fault(k)	       ((void)(k), false)
#define sys_alloc_scope(on)    ((void)(on))
#define sys_open	       open
#define sys_openat	       openat
#define sys_mkdir	       mkdir
#define sys_mkdirat	       mkdirat
#define sys_rename	       rename
#define sys_renameat	       renameat
#define sys_unlink	       unlink
#define sys_unlinkat	       unlinkat
#define sys_rmdir	       rmdir
#define sys_fallocate	       fallocate
#define sys_ftruncate	       ftruncate
#define sys_fsync	       fsync
#define sys_fdatasync	       fdatasync
#define sys_ioctl	       ioctl
#define sys_mount	       mount
#define sys_umount2	       umount2
#define sys_setxattr	       setxattr
#define sys_fsetxattr	       fsetxattr
#define sys_renameat2	       renameat2
#define sys_syncfs	       syncfs
#define sys_copy_file_range    copy_file_range
#define sys_pwrite	       pwrite
#define sys_linkat	       linkat
#define sys_symlinkat	       symlinkat
#define sys_mknodat	       mknodat
#define sys_fchmod	       fchmod
#define sys_fchmodat	       fchmodat
#define sys_fchownat	       fchownat
#define sys_utimensat	       utimensat
#define sys_futimens	       futimens
#define sys_malloc	       malloc
#define sys_calloc	       calloc
#define sys_realloc	       realloc
#define sys_strdup	       strdup
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#endif

#endif
