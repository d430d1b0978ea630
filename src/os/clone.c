/*
 * osclone: reflink or sparse copy of a file, and of an untrusted tree
 * (see clone.h).
 */
#include "os/clone.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/time.h"

#define COPY_CHUNK   (8u << 20) /* per copy_file_range call: progress and cancel granularity */
#define RW_BUF	     (1u << 20) /* the read+pwrite fallback's buffer */
#define TMP_TRIES    64
#define XATTR_BUF    (64u << 10) /* XATTR_LIST_MAX and XATTR_SIZE_MAX */
#define MSG_PATH_MAX 200	 /* how much of a path a message shows */

/* One copy's state: options, progress, the buffers it allocated (owned here). */
struct copier {
	const struct osclone_opts *o;
	struct osclone_result *res;
	uint64_t base_done;	 /* progress of the files before the current one */
	uint64_t since;		 /* bytes since the last progress call */
	long long last_ms;	 /* time of the last progress call */
	bool no_ficlone;	 /* FICLONE was refused as unsupported: do not ask again */
	char *rwbuf;		 /* RW_BUF, allocated on first use */
	char *xnames, *xvalue;	 /* XATTR_BUF each, allocated on first use */
};

static const struct osclone_opts no_opts;

static void copier_release(struct copier *c)
{
	free(c->rwbuf);
	free(c->xnames);
	free(c->xvalue);
}

static int progress(struct copier *c, uint64_t done, uint64_t total)
{
	const struct osclone_opts *o = c->o;
	uint64_t every = o->progress_bytes ? o->progress_bytes : OSCLONE_PROGRESS_BYTES;
	long ms = o->progress_ms ? o->progress_ms : OSCLONE_PROGRESS_MS;
	long long now;

	if (!o->progress)
		return 0;
	now = time_now_ms();
	if (c->since < every && now - c->last_ms < ms)
		return 0;
	c->since = 0;
	c->last_ms = now;
	return o->progress(o->arg, c->base_done + done, c->base_done + total) ? -ECANCELED : 0;
}

/* copy_file_range cannot do this pair of files: use read+pwrite */
static bool cfr_unsupported(int err)
{
	return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL;
}

/* FICLONE cannot do this pair of files: copy */
static bool reflink_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == EXDEV || err == EINVAL ||
	       err == ENOSYS;
}

/* [pos, end) of src into dst at the same offsets. *eof when src ended early. */
static int copy_range(struct copier *c, int src, int dst, off_t pos, off_t end, off_t size,
		      bool *use_cfr, bool *eof, const char *what, struct err *e)
{
	while (pos < end) {
		size_t want = (size_t)(end - pos) < COPY_CHUNK ? (size_t)(end - pos) : COPY_CHUNK;
		ssize_t n;
		int r;

		if (*use_cfr) {
			off_t in = pos, out = pos;

			n = sys_copy_file_range(src, &in, dst, &out, want, 0);
			if (n < 0 && cfr_unsupported(errno)) {
				log_debug("clone %s: copy_file_range: %s, using read+write", what,
					  strerror(errno));
				*use_cfr = false;
				continue;
			}
			if (n < 0)
				return err_set(e, -errno, "clone %s: copy at %lld: %s", what,
					       (long long)pos, strerror(errno));
		} else {
			ssize_t w;

			if (!c->rwbuf && !(c->rwbuf = malloc(RW_BUF)))
				return err_set(e, -ENOMEM, "clone %s: out of memory", what);
			if (want > RW_BUF)
				want = RW_BUF;
			n = pread(src, c->rwbuf, want, pos);
			if (n < 0)
				return err_set(e, -errno, "clone %s: read at %lld: %s", what,
					       (long long)pos, strerror(errno));
			for (ssize_t off = 0; off < n; off += w) {
				w = sys_pwrite(dst, c->rwbuf + off, (size_t)(n - off), pos + off);
				if (w < 0)
					return err_set(e, -errno, "clone %s: write at %lld: %s",
						       what, (long long)(pos + off),
						       strerror(errno));
			}
		}
		if (n == 0) { /* the source shrank under us */
			*eof = true;
			return 0;
		}
		pos += n;
		c->res->copied += (uint64_t)n;
		c->since += (uint64_t)n;
		r = progress(c, (uint64_t)pos, (uint64_t)size);
		if (r < 0)
			return err_set(e, r, "clone %s: cancelled at %lld of %lld bytes", what,
				       (long long)pos, (long long)size);
	}
	return 0;
}

/*
 * The data of src (size bytes) into the empty file dst: FICLONE, else
 * the data extents and ftruncate. src's file position is used by lseek
 * and restored. Adds to c->res (how is set by the caller from reflinked).
 */
static int clone_data(struct copier *c, int src, int dst, off_t size, const char *what,
		      struct err *e)
{
	bool use_cfr = true, eof = false;
	off_t saved, off = 0;
	int r = 0;

	if (!c->o->no_reflink && !c->no_ficlone) {
		if (sys_ioctl(dst, FICLONE, (unsigned long)src) == 0) {
			c->res->reflinked++;
			return 0;
		}
		int err = errno;

		if (!reflink_unsupported(err))
			return err_set(e, -err, "clone %s: reflink: %s", what, strerror(err));
		log_debug("clone %s: reflink: %s, copying", what, strerror(err));
		/* a tree is on one filesystem: the answer holds for its other files */
		c->no_ficlone = err != EINVAL;
	}
	saved = lseek(src, 0, SEEK_CUR);
	while (off < size && !eof) {
		off_t data = lseek(src, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0) {
			r = err_set(e, -errno, "clone %s: seek data at %lld: %s", what,
				    (long long)off, strerror(errno));
			goto out;
		}
		if (data >= size)
			break;
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0) {
			r = err_set(e, -errno, "clone %s: seek hole at %lld: %s", what,
				    (long long)data, strerror(errno));
			goto out;
		}
		if (hole > size)
			hole = size;
		r = copy_range(c, src, dst, data, hole, size, &use_cfr, &eof, what, e);
		if (r < 0)
			goto out;
		off = hole;
	}
	if (sys_ftruncate(dst, size) < 0) {
		r = err_set(e, -errno, "clone %s: set size %lld: %s", what, (long long)size,
			    strerror(errno));
		goto out;
	}
out:
	if (saved >= 0)
		lseek(src, saved, SEEK_SET);
	return r;
}

static void finish_how(struct osclone_result *res)
{
	if (res->files == 0)
		res->how = "";
	else if (res->reflinked == res->files)
		res->how = "reflink";
	else if (res->reflinked == 0)
		res->how = "copy";
	else
		res->how = "mixed";
}

/* ---- one file --------------------------------------------------------- */

static bool one_component(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* A hidden sibling name for the temporary file: ".NAME.tmp-XXXXXX". */
static void tmp_name(char *buf, size_t sz, const char *name, unsigned attempt)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sz, ".%.200s.tmp-%06lx", name,
		 ((unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 8) ^ attempt * 7919UL) &
			 0xffffff);
}

/* The name of dst_name in dirfd now points at fd (an O_TMPFILE) or at tmp. */
static int link_into_place(int dirfd, int fd, const char *tmp, const char *dst_name)
{
	char proc[64];

	if (!*tmp) {
		if (sys_linkat(fd, "", dirfd, dst_name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT && errno != EPERM)
			return -errno;
		/* no CAP_DAC_READ_SEARCH: the /proc way, which needs none */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		return sys_linkat(AT_FDCWD, proc, dirfd, dst_name, AT_SYMLINK_FOLLOW) == 0 ? 0
											  : -errno;
	}
	if (sys_renameat2(dirfd, tmp, dirfd, dst_name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* a filesystem without RENAME_NOREPLACE: link (fails when taken), drop the temp */
	if (sys_linkat(dirfd, tmp, dirfd, dst_name, 0) < 0)
		return -errno;
	sys_unlinkat(dirfd, tmp, 0);
	return 0;
}

static int fsync_dirfd(int dirfd)
{
	int fd = dirfd, r = 0;

	if (dirfd == AT_FDCWD && (fd = sys_open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (sys_fsync(fd) < 0)
		r = -errno;
	if (fd != dirfd)
		close(fd);
	return r;
}

/* osclone_fd with the destination named dst (a path) in messages. */
static int clone_fd(int srcfd, const char *what, int dirfd, const char *dst_name,
		    const char *dst, mode_t mode, const struct osclone_opts *o,
		    struct osclone_result *res, struct err *e)
{
	struct osclone_result scratch;
	struct copier c = { 0 };
	char tmp[NAME_MAX + 1] = "", label[2 * MSG_PATH_MAX + 16];
	bool linked = false;
	struct stat st;
	int fd = -1, r;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	res->how = "";
	c.o = o ? o : &no_opts;
	c.res = res;
	c.last_ms = time_now_ms();
	what = what ? what : "source";
	snprintf(label, sizeof(label), "'%.*s' to '%.*s'", MSG_PATH_MAX, what, MSG_PATH_MAX, dst);
	if (!one_component(dst_name))
		return err_set(e, -EINVAL, "clone %s: the destination must be one file name",
			       label);
	if (fstat(srcfd, &st) < 0)
		return err_set(e, -errno, "clone %s: stat: %s", label, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, -EINVAL, "clone %s: the source is not a regular file", label);
	{
		struct stat dst_st;

		if (fstatat(dirfd, dst_name, &dst_st, AT_SYMLINK_NOFOLLOW) == 0)
			return err_set(e, -EEXIST, "clone %s: the destination exists", label);
		if (errno != ENOENT)
			return err_set(e, -errno, "clone %s: destination: %s", label,
				       strerror(errno));
	}
	/* unnamed until complete: a crash leaves nothing */
	fd = sys_openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		for (unsigned i = 0; i < TMP_TRIES; i++) {
			tmp_name(tmp, sizeof(tmp), dst_name, i);
			fd = sys_openat(dirfd, tmp,
					O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd >= 0 || errno != EEXIST)
				break;
		}
		if (fd < 0)
			tmp[0] = '\0';
	}
	if (fd < 0) {
		r = err_set(e, -errno, "clone %s: create: %s", label, strerror(errno));
		goto out;
	}
	r = clone_data(&c, srcfd, fd, st.st_size, label, e);
	if (r < 0)
		goto out;
	res->files = 1;
	res->size = (uint64_t)st.st_size;
	finish_how(res);
	if (sys_fchmod(fd, mode & 07777) < 0) {
		r = err_set(e, -errno, "clone %s: chmod: %s", label, strerror(errno));
		goto out;
	}
	if (sys_fsync(fd) < 0) {
		r = err_set(e, -errno, "clone %s: fsync: %s", label, strerror(errno));
		goto out;
	}
	r = link_into_place(dirfd, fd, tmp, dst_name);
	if (r < 0) {
		r = err_set(e, r, "clone %s: %s", label,
			    r == -EEXIST ? "the destination appeared meanwhile" : strerror(-r));
		goto out;
	}
	linked = true;
	tmp[0] = '\0';
	r = fsync_dirfd(dirfd);
	if (r < 0)
		r = err_set(e, r, "clone %s: fsync the directory: %s", label, strerror(-r));
out:
	if (r < 0 && linked)
		sys_unlinkat(dirfd, dst_name, 0);
	if (r < 0 && tmp[0])
		sys_unlinkat(dirfd, tmp, 0);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		uint64_t keep = res->copied;

		memset(res, 0, sizeof(*res));
		res->how = "";
		res->copied = keep;
	}
	copier_release(&c);
	return r;
}

int osclone_fd(int srcfd, const char *what, int dst_dirfd, const char *dst_name, mode_t mode,
	       const struct osclone_opts *o, struct osclone_result *res, struct err *e)
{
	return clone_fd(srcfd, what, dst_dirfd, dst_name, dst_name ? dst_name : "", mode, o,
			res, e);
}

/* Split path into its directory (opened) and last component. */
static int open_parent(const char *path, const char **base, const char *what, struct err *e)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash) {
		*base = path;
		snprintf(dir, sizeof(dir), ".");
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return err_set(e, -ENAMETOOLONG, "%s '%.*s': path too long", what,
				       MSG_PATH_MAX, path);
		*base = slash + 1;
		if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	}
	if (!one_component(*base))
		return err_set(e, -EINVAL, "%s '%.*s': must end in a name", what, MSG_PATH_MAX,
			       path);
	fd = sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s '%.*s': open its directory: %s", what,
			       MSG_PATH_MAX, path, strerror(errno));
	return fd;
}

int osclone_file(const char *src, const char *dst, mode_t mode, const struct osclone_opts *o,
		 struct osclone_result *res, struct err *e)
{
	const char *base = NULL;
	int srcfd, dirfd, r;

	if (res) {
		memset(res, 0, sizeof(*res));
		res->how = "";
	}
	if (!src || !*src || !dst || !*dst)
		return err_set(e, -EINVAL, "clone: empty path");
	srcfd = sys_open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (srcfd < 0) {
		if (errno == ELOOP)
			return err_set(e, -ELOOP, "clone '%.*s': the source is a symbolic link",
				       MSG_PATH_MAX, src);
		return err_set(e, -errno, "clone '%.*s': open: %s", MSG_PATH_MAX, src,
			       strerror(errno));
	}
	dirfd = open_parent(dst, &base, "clone: destination", e);
	if (dirfd < 0) {
		close(srcfd);
		return dirfd;
	}
	r = clone_fd(srcfd, src, dirfd, base, dst, mode, o, res, e);
	close(dirfd);
	close(srcfd);
	return r;
}

/* ---- a tree ----------------------------------------------------------- */

struct tree {
	struct copier c;
	dev_t dev;		    /* the source's filesystem */
	unsigned max_depth;
	const char *src;	    /* for messages */
	char rel[MSG_PATH_MAX];	    /* the entry being copied, relative, for messages */
	char link[PATH_MAX + 1];    /* a symlink's target */
};

/* Every name in the directory fd, malloc'd (caller frees each and the array). */
static int list_dir(int fd, char ***ret, size_t *ret_n)
{
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int dfd, r = 0;
	DIR *d;

	dfd = dup(fd);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

/* Extended attributes of sfd onto dfd; a destination without them is fine. */
static int copy_xattrs(struct tree *t, int sfd, int dfd, struct err *e)
{
	ssize_t len, vlen;

	len = flistxattr(sfd, NULL, 0);
	if (len <= 0)
		return 0; /* none, or the source filesystem has none */
	if ((!t->c.xnames && !(t->c.xnames = malloc(XATTR_BUF))) ||
	    (!t->c.xvalue && !(t->c.xvalue = malloc(XATTR_BUF))))
		return err_set(e, -ENOMEM, "clone tree '%s': '%s': out of memory", t->src, t->rel);
	len = flistxattr(sfd, t->c.xnames, XATTR_BUF);
	if (len < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': list xattrs: %s", t->src, t->rel,
			       strerror(errno));
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(t->c.xnames + i) + 1) {
		const char *name = t->c.xnames + i;

		vlen = fgetxattr(sfd, name, t->c.xvalue, XATTR_BUF);
		if (vlen < 0 && errno == ENODATA)
			continue; /* removed meanwhile */
		if (vlen < 0)
			return err_set(e, -errno, "clone tree '%s': '%s': get xattr %s: %s",
				       t->src, t->rel, name, strerror(errno));
		if (sys_fsetxattr(dfd, name, t->c.xvalue, (size_t)vlen, 0) < 0) {
			if (errno == ENOTSUP)
				return 0;
			return err_set(e, -errno, "clone tree '%s': '%s': set xattr %s: %s",
				       t->src, t->rel, name, strerror(errno));
		}
	}
	return 0;
}

/* Owner, xattrs, mode, times of st onto the open file or directory dfd. */
static int set_meta_fd(struct tree *t, int sfd, int dfd, const struct stat *st, struct err *e)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	int r;

	/* chown first: it clears setuid bits and file capabilities */
	if (sys_fchownat(dfd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': chown: %s", t->src, t->rel,
			       strerror(errno));
	r = copy_xattrs(t, sfd, dfd, e);
	if (r < 0)
		return r;
	if (sys_fchmod(dfd, st->st_mode & 07777) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': chmod: %s", t->src, t->rel,
			       strerror(errno));
	if (sys_futimens(dfd, times) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': set times: %s", t->src, t->rel,
			       strerror(errno));
	return 0;
}

/* Owner and times (and mode unless a symlink) of the name made in dfd. */
static int set_meta_at(struct tree *t, int dfd, const char *name, const struct stat *st,
		       struct err *e)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (sys_fchownat(dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': chown: %s", t->src, t->rel,
			       strerror(errno));
	/* our private tree (0700): the name is the FIFO or socket just made */
	if (!S_ISLNK(st->st_mode) && sys_fchmodat(dfd, name, st->st_mode & 07777, 0) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': chmod: %s", t->src, t->rel,
			       strerror(errno));
	if (sys_utimensat(dfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(e, -errno, "clone tree '%s': '%s': set times: %s", t->src, t->rel,
			       strerror(errno));
	return 0;
}

static int copy_dir(struct tree *t, int sfd, int dfd, unsigned depth, struct err *e);

static int copy_file_entry(struct tree *t, int sfd, int dfd, const char *name, struct err *e)
{
	struct stat st;
	char label[2 * MSG_PATH_MAX + 16];
	int fs = -1, fd = -1, r;

	/* O_NONBLOCK: should a FIFO have been swapped in, the open must not hang */
	fs = sys_openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fs < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': open: %s", t->src, t->rel,
			    strerror(errno));
		goto out;
	}
	if (fstat(fs, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = err_set(e, -EAGAIN, "clone tree '%s': '%s': changed during the copy", t->src,
			    t->rel);
		goto out;
	}
	fd = sys_openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': create: %s", t->src, t->rel,
			    strerror(errno));
		goto out;
	}
	snprintf(label, sizeof(label), "tree '%.*s': '%.*s'", MSG_PATH_MAX, t->src, MSG_PATH_MAX, t->rel);
	r = clone_data(&t->c, fs, fd, st.st_size, label, e);
	if (r < 0)
		goto out;
	t->c.base_done += (uint64_t)st.st_size;
	t->c.res->files++;
	t->c.res->size += (uint64_t)st.st_size;
	r = set_meta_fd(t, fs, fd, &st, e);
out:
	if (fd >= 0)
		close(fd);
	if (fs >= 0)
		close(fs);
	return r;
}

static int copy_subdir(struct tree *t, int sfd, int dfd, const char *name, unsigned depth,
		       struct err *e)
{
	struct stat st;
	int cs = -1, cd = -1, r;

	if (depth + 1 > t->max_depth)
		return err_set(e, -ELOOP, "clone tree '%s': '%s': deeper than %u levels", t->src,
			       t->rel, t->max_depth);
	cs = sys_openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cs < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': open: %s%s", t->src, t->rel,
			    strerror(errno),
			    errno == EMFILE ? " (two descriptors per level: raise RLIMIT_NOFILE)"
					    : "");
		goto out;
	}
	if (fstat(cs, &st) < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': stat: %s", t->src, t->rel,
			    strerror(errno));
		goto out;
	}
	if (st.st_dev != t->dev) { /* a mount inside the tree appeared */
		log_debug("clone tree '%s': '%s': another filesystem, left out", t->src, t->rel);
		t->c.res->skipped++;
		r = 0;
		goto out;
	}
	if (sys_mkdirat(dfd, name, 0700) < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': mkdir: %s", t->src, t->rel,
			    strerror(errno));
		goto out;
	}
	cd = sys_openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cd < 0) {
		r = err_set(e, -errno, "clone tree '%s': '%s': open the copy: %s%s", t->src,
			    t->rel, strerror(errno),
			    errno == EMFILE ? " (two descriptors per level: raise RLIMIT_NOFILE)"
					    : "");
		goto out;
	}
	t->c.res->dirs++;
	r = copy_dir(t, cs, cd, depth + 1, e);
	if (r == 0)
		r = set_meta_fd(t, cs, cd, &st, e);
out:
	if (cd >= 0)
		close(cd);
	if (cs >= 0)
		close(cs);
	return r;
}

static int copy_entry(struct tree *t, int sfd, int dfd, const char *name, unsigned depth,
		      struct err *e)
{
	struct stat st;
	ssize_t n;

	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0; /* removed meanwhile */
		return err_set(e, -errno, "clone tree '%s': '%s': stat: %s", t->src, t->rel,
			       strerror(errno));
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (st.st_dev != t->dev) {
			log_debug("clone tree '%s': '%s': another filesystem, left out", t->src,
				  t->rel);
			t->c.res->skipped++;
			return 0;
		}
		return copy_subdir(t, sfd, dfd, name, depth, e);
	case S_IFREG:
		return copy_file_entry(t, sfd, dfd, name, e);
	case S_IFLNK:
		n = readlinkat(sfd, name, t->link, sizeof(t->link) - 1);
		if (n < 0)
			return err_set(e, -errno, "clone tree '%s': '%s': readlink: %s", t->src,
				       t->rel, strerror(errno));
		t->link[n] = '\0';
		if (sys_symlinkat(t->link, dfd, name) < 0)
			return err_set(e, -errno, "clone tree '%s': '%s': symlink: %s", t->src,
				       t->rel, strerror(errno));
		t->c.res->symlinks++;
		return set_meta_at(t, dfd, name, &st, e);
	case S_IFIFO:
	case S_IFSOCK:
		if (sys_mknodat(dfd, name, (st.st_mode & S_IFMT) | 0600, 0) < 0)
			return err_set(e, -errno, "clone tree '%s': '%s': mknod: %s", t->src,
				       t->rel, strerror(errno));
		t->c.res->specials++;
		return set_meta_at(t, dfd, name, &st, e);
	default: /* device nodes: see clone.h */
		log_debug("clone tree '%s': '%s': a device node, left out", t->src, t->rel);
		t->c.res->skipped++;
		return 0;
	}
}

static int copy_dir(struct tree *t, int sfd, int dfd, unsigned depth, struct err *e)
{
	size_t n = 0, i, rel_len = strlen(t->rel);
	char **names = NULL;
	int r;

	r = list_dir(sfd, &names, &n);
	if (r < 0)
		return err_set(e, r, "clone tree '%s': '%s': read the directory: %s", t->src,
			       rel_len ? t->rel : ".", strerror(-r));
	for (i = 0; i < n && r == 0; i++) {
		snprintf(t->rel + rel_len, sizeof(t->rel) - rel_len, "%s%s", rel_len ? "/" : "",
			 names[i]);
		r = copy_entry(t, sfd, dfd, names[i], depth, e);
	}
	if (r == 0)
		t->rel[rel_len] = '\0'; /* on failure the message already named it */
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int osclone_tree(const char *src_dir, const char *dst_dir, const struct osclone_opts *o,
		 struct osclone_result *res, struct err *e)
{
	struct osclone_result scratch;
	struct tree *t = NULL;
	char tmp[NAME_MAX + 1] = "", tmp_path[PATH_MAX] = "";
	const char *base = NULL;
	bool placed = false;
	struct stat st;
	int sfd = -1, pfd = -1, dfd = -1, r;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	res->how = "";
	if (!src_dir || !*src_dir || !dst_dir || !*dst_dir)
		return err_set(e, -EINVAL, "clone tree: empty path");
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(e, -ENOMEM, "clone tree: out of memory");
	t->c.o = o ? o : &no_opts;
	t->c.res = res;
	t->c.last_ms = time_now_ms();
	t->max_depth = t->c.o->max_depth ? t->c.o->max_depth : OSCLONE_MAX_DEPTH;
	t->src = src_dir;
	sfd = sys_open(src_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		r = -errno;
		if ((r == -ENOTDIR || r == -ELOOP) && lstat(src_dir, &st) == 0 &&
		    S_ISLNK(st.st_mode))
			r = err_set(e, -ELOOP, "clone tree '%s': a symbolic link", src_dir);
		else
			r = err_set(e, r, "clone tree '%s': open: %s", src_dir, strerror(-r));
		goto out;
	}
	if (fstat(sfd, &st) < 0) {
		r = err_set(e, -errno, "clone tree '%s': stat: %s", src_dir, strerror(errno));
		goto out;
	}
	t->dev = st.st_dev;
	pfd = open_parent(dst_dir, &base, "clone tree: destination", e);
	if (pfd < 0) {
		r = pfd;
		goto out;
	}
	{
		struct stat dst_st;

		if (fstatat(pfd, base, &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
			r = err_set(e, -EEXIST, "clone tree '%s' to '%s': the destination exists",
				    src_dir, dst_dir);
			goto out;
		}
	}
	for (unsigned i = 0; i < TMP_TRIES; i++) {
		/* a visible sibling "NAME.tmp-XXXXXX" */
		tmp_name(tmp, sizeof(tmp), base, i);
		memmove(tmp, tmp + 1, strlen(tmp));
		if ((size_t)snprintf(tmp_path, sizeof(tmp_path), "%.*s%s", (int)(base - dst_dir),
				     dst_dir, tmp) >= sizeof(tmp_path)) {
			tmp[0] = '\0';
			r = err_set(e, -ENAMETOOLONG, "clone tree '%s' to '%s': path too long",
				    src_dir, dst_dir);
			goto out;
		}
		if (sys_mkdirat(pfd, tmp, 0700) == 0)
			break;
		if (errno != EEXIST || i + 1 == TMP_TRIES) {
			r = err_set(e, -errno, "clone tree '%s' to '%s': mkdir: %s", src_dir,
				    dst_dir, strerror(errno));
			tmp[0] = '\0';
			goto out;
		}
	}
	dfd = sys_openat(pfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = err_set(e, -errno, "clone tree '%s' to '%s': open '%s': %s", src_dir, dst_dir,
			    tmp, strerror(errno));
		goto out;
	}
	res->dirs = 1;
	r = copy_dir(t, sfd, dfd, 1, e);
	if (r < 0)
		goto out;
	t->rel[0] = '\0';
	if (sys_syncfs(dfd) < 0) {
		r = err_set(e, -errno, "clone tree '%s' to '%s': sync: %s", src_dir, dst_dir,
			    strerror(errno));
		goto out;
	}
	r = set_meta_fd(t, sfd, dfd, &st, e);
	if (r < 0)
		goto out;
	if (sys_renameat2(pfd, tmp, pfd, base, RENAME_NOREPLACE) < 0) {
		r = err_set(e, -errno, "clone tree '%s' to '%s': rename into place: %s", src_dir,
			    dst_dir,
			    errno == EEXIST ? "the destination appeared meanwhile"
					    : strerror(errno));
		goto out;
	}
	placed = true;
	if (sys_fsync(pfd) < 0) {
		r = err_set(e, -errno, "clone tree '%s' to '%s': fsync the directory: %s", src_dir,
			    dst_dir, strerror(errno));
		goto out;
	}
	finish_how(res);
out:
	if (dfd >= 0)
		close(dfd);
	if (r < 0 && (placed || tmp[0])) {
		/* only our own tree: the temp name we made, or the name we renamed it to */
		const char *made = placed ? dst_dir : tmp_path;
		int rr = made[0] ? fs_remove_tree(made) : 0;

		if (rr < 0)
			log_debug("clone tree: cannot remove '%s': %s", made, strerror(-rr));
	}
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		res->how = "";
	}
	if (pfd >= 0)
		close(pfd);
	if (sfd >= 0)
		close(sfd);
	if (t)
		copier_release(&t->c);
	free(t);
	return r;
}
