/*
 * plfs - a power-loss simulating FUSE filesystem (libfuse3, high-level API).
 *
 * Usage: plfs BACKING_DIR MOUNTPOINT [extra fuse options, e.g. -d]
 *
 * plfs mounts a passthrough of BACKING_DIR at MOUNTPOINT and stays in the
 * foreground until it is unmounted (fusermount3 -u / umount) or gets
 * SIGTERM/SIGINT. Every operation reaches BACKING_DIR at once, so running
 * programs see the latest state, as on a real machine whose disk has a
 * volatile write cache. Beside that, plfs keeps an UNDO log of everything
 * not yet durable, and "drop" (a power loss) applies it in reverse.
 *
 * Durability model (strict, like ext4 without auto_da_alloc):
 *  - File data: before bytes of a regular file are changed by write,
 *    truncate or fallocate, the old bytes of the range (and the file size
 *    at the first change) are saved in memory unless saved already since
 *    the file's last fsync/fdatasync. fsync or fdatasync of the file makes
 *    its data durable (its saved bytes are dropped). close/flush does not.
 *    Files are tracked by (st_dev, st_ino), so renames do not matter.
 *  - Names: create, mknod, symlink, link, mkdir, unlink, rmdir and rename
 *    become durable only when the directory they changed is fsynced (for a
 *    rename: both the old and the new parent). fsync of the file itself
 *    does not make its name durable. Unlinked files and removed
 *    directories are moved to BACKING_DIR/.plfs-trash/<n> (hidden from the
 *    mount) so that undo can bring them back with their durable data;
 *    a trashed object is really deleted once its removal is durable.
 *  - chmod, chown, utimens and timestamps are not modelled (not undone).
 *
 * Control file MOUNTPOINT/.plfs-ctl (virtual, handled here):
 *    write "drop"  power loss: undo all non-durable changes, newest first
 *    write "sync"  make everything durable (like a clean flush of caches)
 *    read          "undo_entries=N bytes=M drops=K\n", where N counts name
 *                  changes plus files with non-durable data and M the
 *                  saved old bytes.
 *  Anything else written fails with EINVAL. Unmounting is a clean shutdown:
 *  whatever is pending becomes durable (the trash is emptied).
 *
 * Limits:
 *  - The caller must stop every process using the mount before "drop";
 *    handles opened before a drop fail with EIO afterwards (reads served
 *    from the kernel's page cache excepted).
 *  - Dirty pages of a shared writable mmap reach plfs only when the kernel
 *    writes them back (close, fsync, msync, or periodic writeback), and
 *    always as whole pages. msync(MS_SYNC) is an fsync, as on Linux.
 *  - xattrs, ACLs, timestamps, modes and owners are not modelled; sync(2)
 *    and syncfs(2) make nothing durable; st_nlink counts trash names.
 *  - A file unlinked while open stays usable (libfuse names it
 *    .fuse_hidden*, which plfs maps to its trash entry).
 *  - BACKING_DIR must be one filesystem (trash moves are renames).
 *  - Runs single-threaded (no locking needed); Linux >= 5.6 (openat2).
 *  - Nothing is made durable on the real disk: plfs is a simulator.
 */
#define FUSE_USE_VERSION 31

#include <fuse.h>
#include <fuse_lowlevel.h> /* fuse_parse_cmdline */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CTL_BASE ".plfs-ctl"
#define CTL_NAME "/" CTL_BASE
#define TRASH_NAME ".plfs-trash"
/* An inode number no real file is likely to have. */
#define CTL_INO ((ino_t)-2)
#define HIDDEN_PREFIX ".fuse_hidden"
/* Saved extents are merged only up to this size so realloc stays cheap. */
#define MAX_MERGE ((size_t)1 << 20)

/* ---------------------------------------------------------------- state */

/* A directory some undo entry refers to; the O_PATH fd keeps working when
 * the directory (or an ancestor) is renamed, which plain paths would not. */
struct dirref {
	dev_t dev;
	ino_t ino;
	int fd;
	unsigned refs;
	struct dirref *next;
};

enum mop { M_CREATE, M_LINK, M_MKDIR, M_UNLINK, M_RMDIR, M_RENAME };

/* One namespace change. name1 lives in d1 (for a rename: the old name);
 * name2 in d2 (rename only: the new name). slot is the trash entry holding
 * the removed or replaced object, or -1. */
struct mentry {
	enum mop op;
	struct dirref *d1, *d2;
	bool pend1, pend2; /* parent not fsynced yet */
	char *name1, *name2;
	dev_t dev;
	ino_t ino;
	long slot;
	struct mentry *prev, *next;
};

/* Saved durable bytes [off, off+len) of a file. */
struct extent {
	off_t off;
	size_t len;
	unsigned char *data;
};

/* A regular file with non-durable data. fd is our own O_RDWR descriptor:
 * the caller's may be write-only, and it outlives the caller's close. */
struct dfile {
	dev_t dev;
	ino_t ino;
	int fd;
	off_t dsize; /* durable size */
	struct extent *ext; /* sorted by off, non-overlapping */
	size_t n, cap;
	struct dfile *next;
};

/* libfuse "hides" a file unlinked while open by renaming it to
 * .fuse_hidden<...> and unlinks that name at the last close. plfs moves
 * such a file to the trash (an ordinary, undoable unlink) and lets the
 * hidden name stand for the trash slot until that last close, so that
 * fstat and friends keep working on it. */
struct alias {
	char *name; /* the .fuse_hidden basename */
	long slot;
	char slotname[32];
	bool doomed; /* its unlink became durable: delete at last close */
	struct alias *next;
};

enum hkind { H_FILE, H_DIR, H_CTL };

/* What fi->fh points to. gen is the drop count at open time: a handle
 * from before a power loss belongs to a process that "died". */
struct handle {
	enum hkind kind;
	int fd;
	DIR *dp;
	bool is_root;
	unsigned long gen;
};

static struct {
	int rootfd; /* O_PATH of BACKING_DIR */
	int trashfd; /* O_PATH of BACKING_DIR/.plfs-trash */
	dev_t rootdev;
	ino_t rootino;
	struct dirref *dirs;
	struct mentry *head, *tail;
	size_t nmeta;
	struct dfile *files;
	size_t nfiles;
	struct alias *aliases;
	size_t saved_bytes;
	long next_slot;
	unsigned long drops;
	time_t started;
} S = { .rootfd = -1, .trashfd = -1 };

/* ------------------------------------------------------------- helpers */

static int sys_openat2(int dfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	/* Never leave BACKING_DIR: FUSE paths never hold symlinks or "..". */
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		      RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
}

static bool is_ctl(const char *path)
{
	return path && strcmp(path, CTL_NAME) == 0;
}

static bool is_trash(const char *path)
{
	size_t n = strlen("/" TRASH_NAME);

	return path && strncmp(path, "/" TRASH_NAME, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* A name the mount reserves: nothing may be created, renamed or removed
 * there. */
static bool reserved(const char *path)
{
	return is_ctl(path) || is_trash(path);
}

static void slot_name(long slot, char buf[32])
{
	snprintf(buf, 32, "%ld", slot);
}

static const char *base_of(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path;
}

static struct alias *alias_find(const char *path)
{
	const char *base = base_of(path);
	struct alias *a;

	if (!base || strncmp(base, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)))
		return NULL;
	for (a = S.aliases; a; a = a->next)
		if (strcmp(a->name, base) == 0)
			return a;
	return NULL;
}

static struct alias *alias_of_slot(long slot)
{
	struct alias *a;

	for (a = S.aliases; a; a = a->next)
		if (a->slot == slot)
			return a;
	return NULL;
}

static int alias_add(const char *base, long slot)
{
	struct alias *a = calloc(1, sizeof(*a));

	if (!a || !(a->name = strdup(base))) {
		free(a);
		return -ENOMEM;
	}
	a->slot = slot;
	slot_name(slot, a->slotname);
	a->next = S.aliases;
	S.aliases = a;
	return 0;
}

/* Forget the alias; the trash slot stays (an undo entry may own it). */
static void alias_free(struct alias *a)
{
	struct alias **pp;

	for (pp = &S.aliases; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	free(a->name);
	free(a);
}

/* A path split into an O_PATH fd of its parent and its last component. */
struct loc {
	int dfd;
	const char *name;
	char *buf;
};

static void loc_put(struct loc *l)
{
	if (l->dfd >= 0 && l->dfd != S.rootfd && l->dfd != S.trashfd)
		close(l->dfd);
	free(l->buf);
	l->dfd = -1;
	l->buf = NULL;
}

static int loc_get(const char *path, struct loc *l)
{
	struct alias *a = alias_find(path);
	char *slash;

	l->dfd = -1;
	l->buf = NULL;
	if (!path || path[0] != '/')
		return -ENOENT;
	if (a) {
		l->dfd = S.trashfd;
		l->name = a->slotname;
		return 0;
	}
	if (path[1] == '\0') {
		l->dfd = S.rootfd;
		l->name = ".";
		return 0;
	}
	l->buf = strdup(path + 1);
	if (!l->buf)
		return -ENOMEM;
	slash = strrchr(l->buf, '/');
	if (!slash) {
		l->dfd = S.rootfd;
		l->name = l->buf;
		return 0;
	}
	*slash = '\0';
	l->name = slash + 1;
	l->dfd = sys_openat2(S.rootfd, l->buf, O_PATH | O_DIRECTORY, 0);
	if (l->dfd < 0) {
		int err = -errno;

		free(l->buf);
		l->buf = NULL;
		return err;
	}
	return 0;
}

static struct handle *fh_of(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static bool stale(const struct handle *h)
{
	return h->gen != S.drops;
}

static struct handle *handle_new(enum hkind kind, int fd, DIR *dp)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		h->fd = fd;
		h->dp = dp;
		h->gen = S.drops;
	}
	return h;
}

/* Remove dfd/name whatever it is, directories with their contents. */
static int rm_rf(int dfd, const char *name)
{
	struct stat st;
	struct dirent *de;
	DIR *dp;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf(dirfd(dp), de->d_name);
	}
	closedir(dp);
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int dir_is_empty(int dfd, const char *name)
{
	struct dirent *de;
	DIR *dp;
	int fd, ret = 0;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			ret = -ENOTEMPTY;
			break;
		}
	}
	closedir(dp);
	return ret;
}

/* Move dfd/name into the trash; returns the slot or -errno. */
static long trash_put(int dfd, const char *name)
{
	char sn[32];
	long slot = S.next_slot++;

	slot_name(slot, sn);
	if (renameat2(dfd, name, S.trashfd, sn, RENAME_NOREPLACE) < 0)
		return -errno;
	return slot;
}

static int trash_restore(long slot, int dfd, const char *name)
{
	char sn[32];

	slot_name(slot, sn);
	return renameat2(S.trashfd, sn, dfd, name, RENAME_NOREPLACE) < 0 ?
		       -errno : 0;
}

static void trash_delete(long slot)
{
	char sn[32];

	slot_name(slot, sn);
	rm_rf(S.trashfd, sn);
}

/* Empty the trash: leftovers of an earlier run or of a failed undo. */
static void trash_clear(void)
{
	struct dirent *de;
	DIR *dp;
	int fd = openat(S.trashfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf(dirfd(dp), de->d_name);
	}
	closedir(dp);
}

/* Give a new object to the calling user when we run as root, so that
 * allow_other mounts behave; harmless otherwise. */
static void own_as_caller(int dfd, const char *name)
{
	struct fuse_context *ctx = fuse_get_context();

	if (geteuid() == 0 && ctx && (ctx->uid != 0 || ctx->gid != 0))
		if (fchownat(dfd, name, ctx->uid, ctx->gid,
			     AT_SYMLINK_NOFOLLOW) < 0)
			fprintf(stderr, "plfs: chown %s: %s\n", name,
				strerror(errno));
}

/* --------------------------------------------------- directory refs */

/* A directory deleted for good may still be referenced; a new one can
 * then get its inode number, and must not share its entry. */
static bool dir_alive(const struct dirref *d)
{
	struct stat st;

	return fstat(d->fd, &st) == 0 && st.st_nlink > 0;
}

static struct dirref *dir_ref(int dfd)
{
	struct dirref *d;
	struct stat st;

	if (fstat(dfd, &st) < 0)
		return NULL;
	for (d = S.dirs; d; d = d->next) {
		if (d->dev == st.st_dev && d->ino == st.st_ino &&
		    dir_alive(d)) {
			d->refs++;
			return d;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (d->fd < 0) {
		free(d);
		return NULL;
	}
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->refs = 1;
	d->next = S.dirs;
	S.dirs = d;
	return d;
}

static void dir_unref(struct dirref *d)
{
	struct dirref **pp;

	if (!d || --d->refs > 0)
		return;
	for (pp = &S.dirs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	close(d->fd);
	free(d);
}

/* ------------------------------------------------------ metadata log */

static void mentry_free(struct mentry *e)
{
	dir_unref(e->d1);
	dir_unref(e->d2);
	free(e->name1);
	free(e->name2);
	free(e);
}

static void mentry_unlink(struct mentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		S.head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		S.tail = e->prev;
	S.nmeta--;
}

/* Record a change of name1 in dir1 (and name2 in dir2 for a rename). */
static int mlog(enum mop op, int dfd1, const char *name1, int dfd2,
		const char *name2, const struct stat *obj, long slot)
{
	struct mentry *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->op = op;
	e->slot = slot;
	e->dev = obj->st_dev;
	e->ino = obj->st_ino;
	e->d1 = dir_ref(dfd1);
	e->name1 = strdup(name1);
	e->pend1 = true;
	if (name2) {
		e->d2 = dir_ref(dfd2);
		e->name2 = strdup(name2);
		e->pend2 = true;
		if (e->d2 == e->d1)
			e->pend2 = false; /* one fsync covers both names */
	}
	if (!e->d1 || !e->name1 || (name2 && (!e->d2 || !e->name2))) {
		mentry_free(e);
		return -ENOMEM;
	}
	e->prev = S.tail;
	if (S.tail)
		S.tail->next = e;
	else
		S.head = e;
	S.tail = e;
	S.nmeta++;
	return 0;
}

/* The change is durable: what it removed is gone for good. */
static void mentry_commit(struct mentry *e)
{
	struct alias *a;

	if (e->slot < 0)
		return;
	a = alias_of_slot(e->slot);
	if (a)
		a->doomed = true; /* still open: delete at its last close */
	else
		trash_delete(e->slot);
}

/* Is dfd/name still the object the entry recorded? */
static bool same_obj(int dfd, const char *name, const struct mentry *e)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_dev == e->dev && st.st_ino == e->ino;
}

static void undo_fail(const struct mentry *e, const char *what, int err)
{
	fprintf(stderr, "plfs: undo %s of %s failed: %s\n", what, e->name1,
		strerror(-err));
}

static void mentry_undo(struct mentry *e)
{
	int r = 0;

	/* A change inside a directory removed for good cannot come back. */
	if (e->op != M_RENAME && !dir_alive(e->d1))
		return;
	switch (e->op) {
	case M_CREATE:
	case M_LINK:
		if (!same_obj(e->d1->fd, e->name1, e))
			r = -ESTALE;
		else if (unlinkat(e->d1->fd, e->name1, 0) < 0)
			r = -errno;
		break;
	case M_MKDIR:
		/* Nothing inside can be durable: its own name is not. */
		r = same_obj(e->d1->fd, e->name1, e) ?
			    rm_rf(e->d1->fd, e->name1) :
			    -ESTALE;
		break;
	case M_UNLINK:
	case M_RMDIR:
		r = trash_restore(e->slot, e->d1->fd, e->name1);
		break;
	case M_RENAME:
		if (renameat2(e->d2->fd, e->name2, e->d1->fd, e->name1,
			      RENAME_NOREPLACE) < 0)
			r = -errno;
		else if (e->slot >= 0)
			r = trash_restore(e->slot, e->d2->fd, e->name2);
		break;
	}
	if (r < 0)
		undo_fail(e, e->op == M_RENAME ? "rename" : "name change", r);
}

/* fsync of directory (dev, ino): changes there become durable. */
static void dir_synced(dev_t dev, ino_t ino)
{
	struct mentry *e, *next;
	struct dirref *d;

	for (d = S.dirs; d; d = d->next)
		if (d->dev == dev && d->ino == ino && dir_alive(d))
			break;
	if (!d)
		return; /* nothing pending there */
	for (e = S.head; e; e = next) {
		next = e->next;
		if (e->d1 == d)
			e->pend1 = false;
		if (e->d2 == d)
			e->pend2 = false;
		if (!e->pend1 && !e->pend2) {
			mentry_commit(e);
			mentry_unlink(e);
			mentry_free(e);
		}
	}
}

/* ---------------------------------------------------------- data log */

static void dfile_free(struct dfile *f)
{
	for (size_t i = 0; i < f->n; i++) {
		S.saved_bytes -= f->ext[i].len;
		free(f->ext[i].data);
	}
	free(f->ext);
	close(f->fd);
	free(f);
}

static struct dfile *dfile_find(const struct stat *st)
{
	struct dfile *f;

	for (f = S.files; f; f = f->next)
		if (f->dev == st->st_dev && f->ino == st->st_ino)
			return f;
	return NULL;
}

/* The data undo record of the file open as fd, created at its first
 * change since the last fsync with the size it had then. */
static int dfile_get(int fd, struct dfile **out)
{
	char proc[64];
	struct stat st;
	struct dfile *f;

	if (fstat(fd, &st) < 0)
		return -errno;
	f = dfile_find(&st);
	if (f) {
		*out = f;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	/* Reopen read-write: we must read old bytes and restore them. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	f->fd = open(proc, O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		int err = -errno;

		free(f);
		return err;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->dsize = st.st_size;
	f->next = S.files;
	S.files = f;
	S.nfiles++;
	*out = f;
	return 0;
}

/* Drop the data record of (dev, ino): its data is durable now. */
static void dfile_commit(const struct stat *st)
{
	struct dfile **pp, *f;

	for (pp = &S.files; (f = *pp) != NULL; pp = &f->next) {
		if (f->dev == st->st_dev && f->ino == st->st_ino) {
			*pp = f->next;
			S.nfiles--;
			dfile_free(f);
			return;
		}
	}
}

/* Index of the first extent ending after pos. */
static size_t ext_find(const struct dfile *f, off_t pos)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->ext[mid].off + (off_t)f->ext[mid].len <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Read the current (= durable, since not saved yet) bytes of a gap. */
static unsigned char *read_gap(int fd, off_t off, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);
	size_t got = 0;

	if (!buf)
		return NULL;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	memset(buf + got, 0, len - got); /* past EOF reads as zeros */
	return buf;
}

/* Try to append the gap to extent i-1; true when done. */
static bool ext_append(struct dfile *f, size_t i, off_t off,
		       unsigned char *data, size_t len)
{
	struct extent *p;
	unsigned char *nd;

	if (i == 0)
		return false;
	p = &f->ext[i - 1];
	if (p->off + (off_t)p->len != off || p->len + len > MAX_MERGE)
		return false;
	nd = realloc(p->data, p->len + len);
	if (!nd)
		return false;
	memcpy(nd + p->len, data, len);
	p->data = nd;
	p->len += len;
	free(data);
	return true;
}

static int ext_insert(struct dfile *f, size_t i, off_t off,
		      unsigned char *data, size_t len)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 8;
		struct extent *ne = realloc(f->ext, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		f->ext = ne;
		f->cap = ncap;
	}
	memmove(&f->ext[i + 1], &f->ext[i], (f->n - i) * sizeof(*f->ext));
	f->ext[i].off = off;
	f->ext[i].len = len;
	f->ext[i].data = data;
	f->n++;
	return 0;
}

/* Save the durable bytes of [off, end) not saved yet. Bytes past the
 * durable size need no saving: restoring the size cuts them off. */
static int save_range(struct dfile *f, off_t off, off_t end)
{
	off_t pos = off;
	size_t i;

	if (end > f->dsize)
		end = f->dsize;
	i = ext_find(f, pos);
	while (pos < end) {
		off_t gap_end;
		size_t len;
		unsigned char *data;

		if (i < f->n && f->ext[i].off <= pos) {
			pos = f->ext[i].off + (off_t)f->ext[i].len;
			i++;
			continue;
		}
		gap_end = (i < f->n && f->ext[i].off < end) ? f->ext[i].off :
							      end;
		len = (size_t)(gap_end - pos);
		data = read_gap(f->fd, pos, len);
		if (!data)
			return -ENOMEM;
		if (!ext_append(f, i, pos, data, len)) {
			if (ext_insert(f, i, pos, data, len) < 0) {
				free(data);
				return -ENOMEM;
			}
			i++;
		}
		S.saved_bytes += len;
		pos = gap_end;
	}
	return 0;
}

/* Before a change of [off, off+len) through fd. */
static int before_change(int fd, off_t off, off_t len)
{
	struct dfile *f = NULL;
	int r = dfile_get(fd, &f);

	return r < 0 ? r : save_range(f, off, off + len);
}

/* Truncate the file open as fd to size, saving what it cuts off. */
static int do_truncate(int fd, off_t size)
{
	struct dfile *f = NULL;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = dfile_get(fd, &f);
	if (r == 0 && size < st.st_size)
		r = save_range(f, size, st.st_size);
	if (r == 0 && ftruncate(f->fd, size) < 0)
		r = -errno;
	return r;
}

static void pwrite_all(int fd, const unsigned char *buf, size_t len,
		       off_t off)
{
	while (len > 0) {
		ssize_t r = pwrite(fd, buf, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "plfs: restore write: %s\n",
				strerror(errno));
			return;
		}
		buf += r;
		len -= (size_t)r;
		off += r;
	}
}

static void dfile_restore(struct dfile *f)
{
	for (size_t i = 0; i < f->n; i++)
		pwrite_all(f->fd, f->ext[i].data, f->ext[i].len,
			   f->ext[i].off);
	if (ftruncate(f->fd, f->dsize) < 0)
		fprintf(stderr, "plfs: restore size: %s\n", strerror(errno));
}

/* ------------------------------------------------ drop / sync / status */

static void free_data_log(bool restore)
{
	while (S.files) {
		struct dfile *f = S.files;

		S.files = f->next;
		if (restore)
			dfile_restore(f);
		dfile_free(f);
	}
	S.nfiles = 0;
}

/* Everything pending becomes durable. */
static void sync_all(void)
{
	free_data_log(false);
	while (S.head) {
		struct mentry *e = S.head;

		mentry_commit(e);
		mentry_unlink(e);
		mentry_free(e);
	}
}

/* Power loss: data first (by inode, independent of names), then names
 * newest first, so each undo sees the namespace right after its change. */
static void drop_all(void)
{
	free_data_log(true);
	while (S.tail) {
		struct mentry *e = S.tail;

		mentry_undo(e);
		mentry_unlink(e);
		mentry_free(e);
	}
	/* The hidden files' slots were restored or go with the trash. */
	while (S.aliases)
		alias_free(S.aliases);
	trash_clear();
	S.drops++;
}

static int status_line(char *buf, size_t size)
{
	return snprintf(buf, size, "undo_entries=%zu bytes=%zu drops=%lu\n",
			S.nmeta + S.nfiles, S.saved_bytes, S.drops);
}

static int ctl_command(const char *buf, size_t size)
{
	/* Allow "drop\n" from echo. */
	while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == ' ' ||
			    buf[size - 1] == '\t' || buf[size - 1] == '\r'))
		size--;
	if (size == 4 && memcmp(buf, "drop", 4) == 0)
		drop_all();
	else if (size == 4 && memcmp(buf, "sync", 4) == 0)
		sync_all();
	else
		return -EINVAL;
	return 0;
}

static void ctl_stat(struct stat *st)
{
	char line[128];

	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0666;
	st->st_nlink = 1;
	/* Not 0: readdir(3) skips entries with d_ino 0. */
	st->st_ino = CTL_INO;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = S.started;
	st->st_size = status_line(line, sizeof(line));
}

/* -------------------------------------------------------- operations */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Write-through: every write must reach us when the app makes it. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	cfg->use_ino = 1;
	cfg->readdir_ino = 1;
	/* Unlinked-but-open files keep a .fuse_hidden path (see struct
	 * alias): fstat of such a file needs one. */
	cfg->hard_remove = 0;
	cfg->nullpath_ok = 1;
	/* Keep the kernel's caches from hiding a drop. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	fprintf(stderr, "plfs: mounted\n");
	return NULL;
}

static void op_destroy(void *data)
{
	(void)data;
	sync_all(); /* unmount is a clean shutdown */
	while (S.aliases)
		alias_free(S.aliases);
	trash_clear();
	while (S.dirs) {
		struct dirref *d = S.dirs;

		S.dirs = d->next;
		close(d->fd);
		free(d);
	}
}

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct loc l;
	int r;

	if ((h && h->kind == H_CTL) || (!h && is_ctl(path))) {
		ctl_stat(st);
		return 0;
	}
	if (h && h->kind == H_FILE)
		return fstat(h->fd, st) < 0 ? -errno : 0;
	if (is_trash(path))
		return -ENOENT;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = fstatat(l.dfd, l.name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	loc_put(&l);
	return r;
}

static int op_access(const char *path, int mask)
{
	struct loc l;
	int r;

	if (is_ctl(path))
		return 0;
	if (is_trash(path))
		return -ENOENT;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = faccessat(l.dfd, l.name, mask, AT_SYMLINK_NOFOLLOW) < 0 ? -errno :
								      0;
	loc_put(&l);
	return r;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct loc l;
	ssize_t n;
	int r;

	if (size == 0)
		return -EINVAL;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	n = readlinkat(l.dfd, l.name, buf, size - 1);
	r = n < 0 ? -errno : 0;
	if (n >= 0)
		buf[n] = '\0';
	loc_put(&l);
	return r;
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h;
	struct stat st;
	DIR *dp;
	int fd;

	if (is_trash(path))
		return -ENOENT;
	fd = sys_openat2(S.rootfd, path[1] ? path + 1 : ".",
			 O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !(dp = fdopendir(fd))) {
		int err = -errno;

		close(fd);
		return err;
	}
	h = handle_new(H_DIR, fd, dp);
	if (!h) {
		closedir(dp);
		return -ENOMEM;
	}
	h->is_root = st.st_dev == S.rootdev && st.st_ino == S.rootino;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/* The whole listing in one go (offset 0): libfuse buffers it. */
static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct handle *h = fh_of(fi);
	struct dirent *de;
	struct stat st;

	(void)path;
	(void)off;
	(void)flags;
	if (!h || h->kind != H_DIR)
		return -EBADF;
	if (stale(h))
		return -EIO;
	rewinddir(h->dp);
	while ((de = readdir(h->dp)) != NULL) {
		if (h->is_root && (strcmp(de->d_name, TRASH_NAME) == 0 ||
				   strcmp(de->d_name, CTL_BASE) == 0))
			continue;
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = (mode_t)de->d_type << 12;
		if (filler(buf, de->d_name, &st, 0, 0))
			return 0;
	}
	if (h->is_root) {
		ctl_stat(&st);
		filler(buf, CTL_BASE, &st, 0, 0);
	}
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);

	(void)path;
	if (h) {
		closedir(h->dp);
		free(h);
	}
	return 0;
}

static int op_fsyncdir(const char *path, int datasync,
		       struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct stat st;

	(void)path;
	(void)datasync;
	if (!h || h->kind != H_DIR)
		return -EBADF;
	if (stale(h))
		return -EIO;
	if (fstat(dirfd(h->dp), &st) < 0)
		return -errno;
	dir_synced(st.st_dev, st.st_ino);
	return 0;
}

/* Log a new name dfd/name; undo it again if logging fails. */
static int log_new_name(enum mop op, int dfd, const char *name)
{
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	r = mlog(op, dfd, name, -1, NULL, &st, -1);
	if (r < 0) {
		if (op == M_MKDIR)
			unlinkat(dfd, name, AT_REMOVEDIR);
		else
			unlinkat(dfd, name, 0);
	}
	return r;
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct loc l;
	int r;

	if (reserved(path))
		return -EEXIST;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	if (mknodat(l.dfd, l.name, mode, rdev) < 0)
		r = -errno;
	else {
		own_as_caller(l.dfd, l.name);
		r = log_new_name(M_CREATE, l.dfd, l.name);
	}
	loc_put(&l);
	return r;
}

static int op_mkdir(const char *path, mode_t mode)
{
	struct loc l;
	int r;

	if (reserved(path))
		return -EEXIST;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	if (mkdirat(l.dfd, l.name, mode) < 0)
		r = -errno;
	else {
		own_as_caller(l.dfd, l.name);
		r = log_new_name(M_MKDIR, l.dfd, l.name);
	}
	loc_put(&l);
	return r;
}

static int op_symlink(const char *target, const char *path)
{
	struct loc l;
	int r;

	if (reserved(path))
		return -EEXIST;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	if (symlinkat(target, l.dfd, l.name) < 0)
		r = -errno;
	else {
		own_as_caller(l.dfd, l.name);
		r = log_new_name(M_CREATE, l.dfd, l.name);
	}
	loc_put(&l);
	return r;
}

static int op_link(const char *from, const char *to)
{
	struct loc a, b;
	int r;

	if (reserved(from) || reserved(to))
		return -EPERM;
	r = loc_get(from, &a);
	if (r < 0)
		return r;
	r = loc_get(to, &b);
	if (r < 0) {
		loc_put(&a);
		return r;
	}
	if (linkat(a.dfd, a.name, b.dfd, b.name, 0) < 0)
		r = -errno;
	else
		r = log_new_name(M_LINK, b.dfd, b.name);
	loc_put(&a);
	loc_put(&b);
	return r;
}

/* unlink and rmdir: move the object to the trash and log it; *slotp
 * gets the trash slot. */
static int remove_name(const char *path, bool dir, long *slotp)
{
	struct stat st;
	struct loc l;
	long slot = -1;
	int r;

	if (reserved(path))
		return is_ctl(path) ? -EPERM : -ENOENT;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	if (fstatat(l.dfd, l.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	else if (dir && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	else if (!dir && S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (dir)
		r = dir_is_empty(l.dfd, l.name);
	if (r == 0) {
		slot = trash_put(l.dfd, l.name);
		if (slot < 0)
			r = (int)slot;
		else {
			r = mlog(dir ? M_RMDIR : M_UNLINK, l.dfd, l.name, -1,
				 NULL, &st, slot);
			if (r < 0)
				trash_restore(slot, l.dfd, l.name);
		}
	}
	loc_put(&l);
	*slotp = slot;
	return r;
}

static int op_unlink(const char *path)
{
	struct alias *a = alias_find(path);
	long slot;

	if (a) { /* last close of a hidden file */
		if (a->doomed)
			trash_delete(a->slot);
		alias_free(a);
		return 0;
	}
	return remove_name(path, false, &slot);
}

static int op_rmdir(const char *path)
{
	long slot;

	return remove_name(path, true, &slot);
}

/* libfuse hides a file unlinked while open: unlink it into the trash and
 * let the hidden name point there. */
static int hide(const char *from, const char *to)
{
	long slot;
	int r = remove_name(from, false, &slot);

	if (r == 0 && alias_add(base_of(to), slot) < 0)
		fprintf(stderr, "plfs: out of memory hiding %s\n", from);
	return r;
}

/* Would renaming an object like src over dst succeed? (dst exists.) */
static int rename_check(int dfd, const char *name, const struct stat *src,
			const struct stat *dst)
{
	if (S_ISDIR(src->st_mode) && !S_ISDIR(dst->st_mode))
		return -ENOTDIR;
	if (!S_ISDIR(src->st_mode) && S_ISDIR(dst->st_mode))
		return -EISDIR;
	if (S_ISDIR(dst->st_mode))
		return dir_is_empty(dfd, name);
	return 0;
}

static int do_rename(struct loc *a, struct loc *b, unsigned int flags)
{
	struct stat sst, dst;
	long slot = -1;
	int r;

	if (fstatat(a->dfd, a->name, &sst, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (fstatat(b->dfd, b->name, &dst, AT_SYMLINK_NOFOLLOW) == 0) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino)
			return 0; /* two links to one inode: a no-op */
		r = rename_check(b->dfd, b->name, &sst, &dst);
		if (r < 0)
			return r;
		/* Keep the replaced target so undo can bring it back. */
		slot = trash_put(b->dfd, b->name);
		if (slot < 0)
			return (int)slot;
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (renameat2(a->dfd, a->name, b->dfd, b->name, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (slot >= 0)
			trash_restore(slot, b->dfd, b->name);
		return r;
	}
	r = mlog(M_RENAME, a->dfd, a->name, b->dfd, b->name, &sst, slot);
	if (r < 0) {
		renameat2(b->dfd, b->name, a->dfd, a->name, RENAME_NOREPLACE);
		if (slot >= 0)
			trash_restore(slot, b->dfd, b->name);
	}
	return r;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct loc a, b;
	int r;

	if (flags & ~(unsigned int)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	if (reserved(from) || reserved(to))
		return -EPERM;
	if (!flags && !strncmp(base_of(to), HIDDEN_PREFIX,
			       strlen(HIDDEN_PREFIX)) && !alias_find(from)) {
		r = hide(from, to);
		if (r != -EISDIR) /* libfuse hides files only */
			return r;
	}
	r = loc_get(from, &a);
	if (r < 0)
		return r;
	r = loc_get(to, &b);
	if (r == 0) {
		r = do_rename(&a, &b, flags);
		loc_put(&b);
	}
	loc_put(&a);
	return r;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct loc l;
	int r;

	if (h && h->kind == H_FILE)
		return fchmod(h->fd, mode) < 0 ? -errno : 0;
	if ((h && h->kind == H_CTL) || is_ctl(path))
		return -EPERM;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = fchmodat(l.dfd, l.name, mode, AT_SYMLINK_NOFOLLOW) < 0 ? -errno :
								     0;
	loc_put(&l);
	return r;
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct loc l;
	int r;

	if (h && h->kind == H_FILE)
		return fchown(h->fd, uid, gid) < 0 ? -errno : 0;
	if ((h && h->kind == H_CTL) || is_ctl(path))
		return -EPERM;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = fchownat(l.dfd, l.name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ?
		    -errno :
		    0;
	loc_put(&l);
	return r;
}

static int op_truncate(const char *path, off_t size,
		       struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct loc l;
	int fd, r;

	if ((h && h->kind == H_CTL) || is_ctl(path))
		return 0; /* "> .plfs-ctl" truncates first */
	if (h && h->kind == H_FILE)
		return stale(h) ? -EIO : do_truncate(h->fd, size);
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	fd = openat(l.dfd, l.name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		r = -errno;
	else {
		r = do_truncate(fd, size);
		close(fd);
	}
	loc_put(&l);
	return r;
}

static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct loc l;
	int r;

	if (h && h->kind == H_FILE)
		return futimens(h->fd, tv) < 0 ? -errno : 0;
	if ((h && h->kind == H_CTL) || is_ctl(path))
		return 0;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = utimensat(l.dfd, l.name, tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	loc_put(&l);
	return r;
}

static int open_ctl(struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_CTL, -1, NULL);

	if (!h)
		return -ENOMEM;
	fi->direct_io = 1; /* no page cache: every read/write reaches us */
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/* Hand an opened backing fd to the kernel as a file handle. */
static int attach_fd(int fd, struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_FILE, fd, NULL);

	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	/* Page cache on (mmap needs it), but dropped at each open. */
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/* Flags for the backing open. The kernel already turned O_APPEND into
 * offsets, and an O_APPEND fd would ignore them; O_TRUNC is done here so
 * the cut bytes get saved. */
static int backing_flags(int flags)
{
	return (flags & ~(O_TRUNC | O_APPEND | O_CREAT | O_EXCL | O_DIRECT)) |
	       O_NOFOLLOW | O_CLOEXEC;
}

static int open_at(int dfd, const char *name, struct fuse_file_info *fi)
{
	int fd = openat(dfd, name, backing_flags(fi->flags));
	int r;

	if (fd < 0)
		return -errno;
	if (fi->flags & O_TRUNC) {
		r = do_truncate(fd, 0);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	return attach_fd(fd, fi);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct loc l;
	int r;

	if (is_ctl(path))
		return open_ctl(fi);
	if (is_trash(path))
		return -ENOENT;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	r = open_at(l.dfd, l.name, fi);
	loc_put(&l);
	return r;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct loc l;
	int fd, r;

	if (is_ctl(path))
		return (fi->flags & O_EXCL) ? -EEXIST : open_ctl(fi);
	if (is_trash(path))
		return -EPERM;
	r = loc_get(path, &l);
	if (r < 0)
		return r;
	/* O_EXCL here: only a name we really made may be undone later. */
	fd = openat(l.dfd, l.name, backing_flags(fi->flags) | O_CREAT | O_EXCL,
		    mode);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		r = open_at(l.dfd, l.name, fi);
	} else if (fd < 0) {
		r = -errno;
	} else {
		own_as_caller(l.dfd, l.name);
		r = log_new_name(M_CREATE, l.dfd, l.name);
		if (r < 0)
			close(fd);
		else
			r = attach_fd(fd, fi);
	}
	loc_put(&l);
	return r;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	char line[128];
	ssize_t n;
	int len;

	(void)path;
	if (h->kind == H_CTL) {
		len = status_line(line, sizeof(line));
		if (off >= len)
			return 0;
		if (size > (size_t)(len - off))
			size = (size_t)(len - off);
		memcpy(buf, line + off, size);
		return (int)size;
	}
	if (stale(h))
		return -EIO;
	n = pread(h->fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int op_write(const char *path, const char *buf, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	ssize_t n;
	int r;

	(void)path;
	if (h->kind == H_CTL) {
		r = ctl_command(buf, size);
		return r < 0 ? r : (int)size;
	}
	if (stale(h))
		return -EIO;
	r = before_change(h->fd, off, (off_t)size);
	if (r < 0)
		return r;
	n = pwrite(h->fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return fstatvfs(S.rootfd, st) < 0 ? -errno : 0;
}

/* close() is not durability, and a close after a drop need not fail. */
static int op_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);

	(void)path;
	if (h->kind == H_FILE)
		close(h->fd);
	free(h);
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct stat st;

	(void)path;
	(void)datasync; /* fdatasync: data is all we model */
	if (h->kind == H_CTL)
		return 0;
	if (stale(h))
		return -EIO;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	dfile_commit(&st);
	return 0;
}

static int op_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct dfile *f;
	int r;

	(void)path;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (h->kind != H_FILE)
		return -EOPNOTSUPP;
	if (stale(h))
		return -EIO;
	/* Mode 0 only changes the size: note it, no bytes to save. */
	if (!(mode & FALLOC_FL_KEEP_SIZE)) {
		r = dfile_get(h->fd, &f);
		if (r < 0)
			return r;
	}
	return fallocate(h->fd, mode, off, len) < 0 ? -errno : 0;
}

static const struct fuse_operations plfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.getattr = op_getattr,
	.access = op_access,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.statfs = op_statfs,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
};

/* ------------------------------------------------------------- startup */

static int open_backing(const char *dir)
{
	struct stat st;

	S.rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (S.rootfd < 0 || fstat(S.rootfd, &st) < 0) {
		fprintf(stderr, "plfs: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	S.rootdev = st.st_dev;
	S.rootino = st.st_ino;
	if (mkdirat(S.rootfd, TRASH_NAME, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "plfs: %s/%s: %s\n", dir, TRASH_NAME,
			strerror(errno));
		return -1;
	}
	S.trashfd = openat(S.rootfd, TRASH_NAME,
			   O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (S.trashfd < 0) {
		fprintf(stderr, "plfs: %s/%s: %s\n", dir, TRASH_NAME,
			strerror(errno));
		return -1;
	}
	trash_clear();
	return 0;
}

/* Every pending directory holds an fd: allow as many as we may. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s BACKING_DIR MOUNTPOINT [fuse options]\n"
		"  Mounts BACKING_DIR at MOUNTPOINT in the foreground; write\n"
		"  \"drop\" or \"sync\" to MOUNTPOINT/.plfs-ctl, read it for "
		"status.\n",
		prog);
}

/* Mount, serve until unmounted or signalled, unmount. fuse_main would
 * report a SIGTERM as a failure; fuse_loop tells the two apart. */
static int serve(struct fuse_args *args)
{
	struct fuse_cmdline_opts opts;
	struct fuse *f;
	int r = 1;

	if (fuse_parse_cmdline(args, &opts) != 0)
		return 2;
	if (opts.show_help || !opts.mountpoint) {
		usage(args->argv[0]);
		fuse_lib_help(args);
		free(opts.mountpoint);
		return opts.show_help ? 0 : 2;
	}
	f = fuse_new(args, &plfs_ops, sizeof(plfs_ops), NULL);
	if (f) {
		if (fuse_mount(f, opts.mountpoint) == 0) {
			if (fuse_set_signal_handlers(fuse_get_session(f)) == 0) {
				/* >0: stopped by that signal, a clean stop */
				r = fuse_loop(f) < 0 ? 1 : 0;
				fuse_remove_signal_handlers(
					fuse_get_session(f));
			}
			fuse_unmount(f);
		}
		fuse_destroy(f);
	}
	free(opts.mountpoint);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int r = 1;

	if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		usage(argv[0]);
		return 2;
	}
	S.started = time(NULL);
	umask(0); /* the kernel already applied the caller's umask */
	raise_nofile();
	if (open_backing(argv[1]) < 0)
		return 1;
	/* Always in the foreground (we never daemonize) and single-threaded
	 * (fuse_loop), so the undo state needs no locks. */
	if (fuse_opt_add_arg(&args, argv[0]) == 0 &&
	    fuse_opt_add_arg(&args, argv[2]) == 0 &&
	    fuse_opt_add_arg(&args, "-ofsname=plfs,subtype=plfs") == 0) {
		int i = 3;

		while (i < argc && fuse_opt_add_arg(&args, argv[i]) == 0)
			i++;
		if (i == argc)
			r = serve(&args);
	}
	fuse_opt_free_args(&args);
	close(S.trashfd);
	close(S.rootfd);
	return r;
}
