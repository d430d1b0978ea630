/*
 * mountinfo: /proc/self/mountinfo parsed, and the questions the engine
 * asks of it (os/mountinfo.h).
 */
#include "os/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/strv.h"

#define MOUNTINFO_PATH	"/proc/self/mountinfo"
#define MOUNTINFO_MAX	(64u << 20) /* bytes read at most */

/* ---- mountinfo ------------------------------------------------------ */

static int octal_digit(char c)
{
	return c >= '0' && c <= '7' ? c - '0' : -1;
}

/* In place: the kernel writes ' ', '\t', '\n' and '\\' as \NNN octal. */
static void unescape(char *s)
{
	char *w = s;

	for (char *p = s; *p;) {
		if (p[0] == '\\' && octal_digit(p[1]) >= 0 && octal_digit(p[2]) >= 0 &&
		    octal_digit(p[3]) >= 0) {
			int v = octal_digit(p[1]) * 64 + octal_digit(p[2]) * 8 + octal_digit(p[3]);

			if (v > 0 && v < 256) {
				*w++ = (char)v;
				p += 4;
				continue;
			}
		}
		*w++ = *p++;
	}
	*w = '\0';
}

static bool parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

static bool parse_majmin(const char *s, unsigned *major_out, unsigned *minor_out)
{
	unsigned ma, mi;
	int n = -1;

	if (sscanf(s, "%u:%u%n", &ma, &mi, &n) != 2 || n < 0 || s[n] != '\0')
		return false;
	*major_out = ma;
	*minor_out = mi;
	return true;
}

static void mountinfo_release(struct mountinfo *m)
{
	free(m->root);
	free(m->mount_point);
	free(m->options);
	free(m->fstype);
	free(m->source);
	free(m->super_options);
	memset(m, 0, sizeof(*m));
}

static char *dup_unescaped(const char *s)
{
	char *d = strdup(s);

	if (d)
		unescape(d);
	return d;
}

#define MI_MAX_FIELDS 64

/*
 * One line: id parent major:minor root mount-point options [optional...] -
 * fstype source super-options. line is modified. Returns 1 parsed, 0 skip
 * (malformed), -ENOMEM.
 */
static int parse_line(char *line, struct mountinfo *m)
{
	char *f[MI_MAX_FIELDS], *save = NULL;
	size_t n = 0, sep;

	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == MI_MAX_FIELDS)
			return 0;
		f[n++] = t;
	}
	/* the optional fields (shared:N master:N ...) end at a lone "-" */
	for (sep = 6; sep < n && strcmp(f[sep], "-") != 0; sep++)
		;
	if (n < 10 || sep >= n || n - sep != 4)
		return 0;
	memset(m, 0, sizeof(*m));
	if (!parse_int(f[0], &m->id) || !parse_int(f[1], &m->parent) ||
	    !parse_majmin(f[2], &m->major, &m->minor))
		return 0;
	m->root = dup_unescaped(f[3]);
	m->mount_point = dup_unescaped(f[4]);
	m->options = dup_unescaped(f[5]);
	m->fstype = dup_unescaped(f[sep + 1]);
	m->source = dup_unescaped(f[sep + 2]);
	m->super_options = dup_unescaped(f[sep + 3]);
	if (!m->root || !m->mount_point || !m->options || !m->fstype || !m->source ||
	    !m->super_options) {
		mountinfo_release(m);
		return -ENOMEM;
	}
	return 1;
}

static int table_push(struct mount_table *t, size_t *cap, struct mountinfo *m)
{
	if (t->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		struct mountinfo *nm = realloc(t->m, ncap * sizeof(*nm));

		if (!nm)
			return -ENOMEM;
		t->m = nm;
		*cap = ncap;
	}
	t->m[t->n++] = *m;
	return 0;
}

int mountinfo_parse(const char *text, struct mount_table *out)
{
	struct mount_table t = { NULL, 0 };
	size_t cap = 0;
	char *copy;
	int r = 0;

	out->m = NULL;
	out->n = 0;
	if (!text)
		return -EINVAL;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (char *line = copy, *next; line && *line; line = next) {
		struct mountinfo m;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		r = parse_line(line, &m);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		r = table_push(&t, &cap, &m);
		if (r < 0) {
			mountinfo_release(&m);
			break;
		}
		r = 0;
	}
	free(copy);
	if (r < 0) {
		mount_table_release(&t);
		return r;
	}
	*out = t;
	return 0;
}

int mountinfo_read(struct mount_table *out, struct err *e)
{
	char *text = NULL;
	int r;

	out->m = NULL;
	out->n = 0;
	r = fs_read_file(MOUNTINFO_PATH, MOUNTINFO_MAX, &text, NULL);
	if (r < 0)
		return err_set(e, r, "read '" MOUNTINFO_PATH "': %s", strerror(-r));
	r = mountinfo_parse(text, out);
	free(text);
	if (r < 0)
		return err_set(e, r, "parse '" MOUNTINFO_PATH "': %s", strerror(-r));
	return 0;
}

void mount_table_release(struct mount_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		mountinfo_release(&t->m[i]);
	free(t->m);
	t->m = NULL;
	t->n = 0;
}

int mount_points_of(const char *dev, char ***ret, struct err *e)
{
	struct mount_table t;
	bool by_rdev = false;
	unsigned ma = 0, mi = 0;
	struct stat st;
	char **mps;
	size_t n = 0;
	int r;

	*ret = NULL;
	if (!dev || !*dev)
		return err_set(e, -EINVAL, "mount points: empty device");
	/* a vanished node can still be matched by its name in the source column */
	if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode)) {
		by_rdev = true;
		ma = major(st.st_rdev);
		mi = minor(st.st_rdev);
	}
	r = mountinfo_read(&t, e);
	if (r < 0)
		return r;
	mps = calloc(t.n + 1, sizeof(*mps));
	if (!mps) {
		mount_table_release(&t);
		return err_set(e, -ENOMEM, "mount points of '%s': out of memory", dev);
	}
	for (size_t i = 0; i < t.n; i++) {
		struct mountinfo *m = &t.m[i];

		if (!(by_rdev && m->major == ma && m->minor == mi) && strcmp(m->source, dev) != 0)
			continue;
		/* take the string: the table is released below */
		mps[n++] = m->mount_point;
		m->mount_point = NULL;
	}
	mount_table_release(&t);
	*ret = mps;
	return (int)n;
}

void mount_points_free(char **mps)
{
	strv_free(mps);
}

bool osfs_is_mount_point(const char *path)
{
	struct mount_table t;
	struct statx stx;
	char canon[PATH_MAX];
	bool found = false;

	if (!path)
		return false;
	/* one statx answers it (Linux 5.8+); the mount table is the fallback */
	if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
		  &stx) < 0)
		return false;
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	if (!realpath(path, canon))
		return false;
	if (mountinfo_read(&t, NULL) < 0)
		return false;
	for (size_t i = 0; i < t.n && !found; i++)
		found = strcmp(t.m[i].mount_point, canon) == 0;
	mount_table_release(&t);
	return found;
}

bool osfs_mount_is_of(const char *target, const char *source)
{
	struct stat t, src;

	if (!target || !source || !osfs_is_mount_point(target))
		return false;
	if (stat(source, &src) < 0 || lstat(target, &t) < 0)
		return false;
	if (S_ISBLK(src.st_mode))
		return t.st_dev == src.st_rdev;
	return S_ISDIR(src.st_mode) && t.st_dev == src.st_dev && t.st_ino == src.st_ino;
}

/*
 * The name a bind mount of dir shows as the last component of its root
 * (the path of its root within its filesystem, in mountinfo), or NULL
 * when that cannot be told from dir's path, and every mount's root must
 * be compared by device and inode. A directory has one dentry, so its
 * name is the last component of any path to it, unless that component
 * is a symlink (lstat says) or a mount point (dir is the root of what is
 * mounted there; statx says). Names with the characters mountinfo
 * escapes are compared the long way too.
 */
static const char *bind_root_name(const char *dir)
{
	const char *base = strrchr(dir, '/');
	struct statx stx;

	base = base ? base + 1 : dir;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    strpbrk(base, " \t\n\\"))
		return NULL;
	if (statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0 ||
	    !S_ISDIR(stx.stx_mode) || !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return NULL;
	return base;
}

/* Could mount m's root be the directory whose dentry is named name? */
static bool root_may_be(const struct mountinfo *m, const char *name)
{
	const char *last;

	if (!name)
		return true;
	last = strrchr(m->root, '/');
	last = last ? last + 1 : m->root;
	return strcmp(last, name) == 0;
}

char *osfs_bind_mount_of(const char *dir)
{
	struct mount_table t;
	struct stat d, m;
	char *found = NULL;
	const char *name;

	if (stat(dir, &d) < 0 || !S_ISDIR(d.st_mode) || mountinfo_read(&t, NULL) < 0)
		return NULL;
	/* only the mounts whose root has dir's name are stat'ed: a host with
	 * many containers has hundreds of mounts, none of them dir's */
	name = bind_root_name(dir);
	for (size_t i = 0; i < t.n && !found; i++) {
		if (strcmp(t.m[i].mount_point, dir) == 0)
			continue; /* the directory itself, mounted over: not a bind of it */
		if (!root_may_be(&t.m[i], name))
			continue;
		if (stat(t.m[i].mount_point, &m) == 0 && m.st_dev == d.st_dev &&
		    m.st_ino == d.st_ino)
			found = strdup(t.m[i].mount_point);
	}
	mount_table_release(&t);
	return found;
}

/* ---- watching the table ---- */

struct mount_root {
	dev_t dev;
	ino_t ino;
	char *mount_point;
};

static void roots_release(struct mount_watch *w)
{
	for (size_t i = 0; i < w->n_roots; i++)
		free(w->roots[i].mount_point);
	free(w->roots);
	w->roots = NULL;
	w->n_roots = 0;
	w->roots_gen = 0;
}

void mount_watch_init(struct mount_watch *w)
{
	for (size_t i = 0; i < MOUNT_WATCH_FILES; i++) {
		pthread_mutex_init(&w->files[i].mu, NULL);
		w->files[i].fd = -1;
	}
	atomic_init(&w->next, 0);
	atomic_init(&w->gen, 1);
	pthread_mutex_init(&w->mu, NULL);
	w->roots = NULL;
	w->n_roots = 0;
	w->roots_gen = 0;
}

void mount_watch_destroy(struct mount_watch *w)
{
	for (size_t i = 0; i < MOUNT_WATCH_FILES; i++) {
		if (w->files[i].fd >= 0)
			close(w->files[i].fd);
		pthread_mutex_destroy(&w->files[i].mu);
	}
	roots_release(w);
	pthread_mutex_destroy(&w->mu);
}

uint64_t mount_watch_gen(struct mount_watch *w)
{
	static _Thread_local unsigned start = UINT_MAX; /* this thread's first file */
	struct pollfd p;
	uint64_t g = 0;
	unsigned i, k;

	if (start == UINT_MAX)
		start = atomic_fetch_add(&w->next, 1);
	/* a free file if there is one, else wait for this thread's own */
	for (i = 0; i < MOUNT_WATCH_FILES; i++)
		if (pthread_mutex_trylock(&w->files[k = (start + i) % MOUNT_WATCH_FILES].mu) == 0)
			break;
	if (i == MOUNT_WATCH_FILES)
		pthread_mutex_lock(&w->files[k = start % MOUNT_WATCH_FILES].mu);
	if (w->files[k].fd < 0) {
		/* from here on the kernel flags every change to this file:
		 * what came before, it never will */
		w->files[k].fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (w->files[k].fd >= 0)
			atomic_fetch_add(&w->gen, 1);
	}
	if (w->files[k].fd >= 0) {
		p = (struct pollfd){ .fd = w->files[k].fd, .events = POLLPRI };
		if (poll(&p, 1, 0) != 0) /* a change (POLLPRI | POLLERR), or poll failed */
			atomic_fetch_add(&w->gen, 1);
		g = atomic_load(&w->gen);
	}
	pthread_mutex_unlock(&w->files[k].mu);
	return g;
}

/* The roots of the table as it is now, for generation g (mu held): what
 * osfs_bind_mount_of would stat, each mount point once. */
static int roots_gather(struct mount_watch *w, uint64_t g)
{
	struct mount_table t;
	struct stat m;
	size_t n = 0;

	roots_release(w);
	if (mountinfo_read(&t, NULL) < 0)
		return -ENOMEM;
	w->roots = calloc(t.n ? t.n : 1, sizeof(*w->roots));
	if (!w->roots) {
		mount_table_release(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (stat(t.m[i].mount_point, &m) < 0)
			continue; /* osfs_bind_mount_of skips it too */
		w->roots[n] = (struct mount_root){ m.st_dev, m.st_ino, t.m[i].mount_point };
		t.m[i].mount_point = NULL; /* moved */
		n++;
	}
	mount_table_release(&t);
	w->n_roots = n;
	w->roots_gen = g;
	return 0;
}

bool mount_watch_maybe_bound(struct mount_watch *w, uint64_t g, const char *dir)
{
	struct stat d;
	bool maybe = true;

	if (!g || stat(dir, &d) < 0 || !S_ISDIR(d.st_mode))
		return true;
	pthread_mutex_lock(&w->mu);
	if (g == atomic_load(&w->gen) && (w->roots_gen == g || roots_gather(w, g) == 0)) {
		maybe = false;
		for (size_t i = 0; i < w->n_roots && !maybe; i++)
			maybe = w->roots[i].dev == d.st_dev && w->roots[i].ino == d.st_ino &&
				strcmp(w->roots[i].mount_point, dir) != 0;
	}
	pthread_mutex_unlock(&w->mu);
	return maybe;
}
