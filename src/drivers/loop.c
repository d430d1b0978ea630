/*
 * loop: block volumes as sparse image files attached as loop devices.
 *
 * Server side (the driver): a volume is <loop.volumePath>/<id>.img
 * (default <lib>/loop; may be a directory shared by several hosts, like
 * the seed's virtualbox.volumePath) plus its record in the store. Create
 * makes the sparse file of exactly the requested size; attach records
 * which instance holds the volume (one at a time; force takes it over)
 * and returns the volume id as the attach token.
 *
 * Host side (the executor): the token names the image, which the host
 * attaches to a free /dev/loopN (os/loopdev) on its own; detaching the
 * loop device after the last unmount is the host's job too.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/driver.h"
#include "drivers/loop_int.h"
#include "drivers/records.h"
#include "os/fs.h"
#include "os/loopdev.h"
#include "os/mountinfo.h"
#include "store/store.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/names.h"
#include "util/time.h"
#include "util/sys.h"


/* loop.volumePath, default <lib>/loop; the same rule on server and host. */
static int volume_path(const struct cfg *cfg, const char *const *scopes,
		       const struct paths *paths, char *out, size_t outsz, struct err *e)
{
	char def[PATH_MAX];
	const char *dir;

	if (path_join(def, sizeof(def), paths->lib, "loop") < 0)
		return err_set(e, -ENAMETOOLONG, "loop: library path too long");
	cfg_key_str_or(cfg, scopes, CFGK_LOOP_VOLUMEPATH, def, &dir);
	if (!dir || dir[0] != '/')
		return err_set(e, -EINVAL, "config: loop.volumePath: invalid value '%s': expected "
			       "an absolute path", dir ? dir : "");
	if (strlen(dir) + 300 >= outsz)
		return err_set(e, -ENAMETOOLONG, "config: loop.volumePath: path too long");
	strcpy(out, dir);
	return 0;
}

/* Ids and tokens become file names: the volume-name rules keep them safe. */
int loop_image_path(const char *dir, const char *id, char *out, size_t outsz, struct err *e)
{
	int r = volume_name_check(id, e);

	if (r < 0)
		return err_set(e, -EINVAL, "loop: bad volume id");
	if ((size_t)snprintf(out, outsz, "%s/%s.img", dir, id) >= outsz)
		return err_set(e, -ENAMETOOLONG, "loop: image path too long");
	return 0;
}

static void sweep(struct service *svc);

static int read_capacity_settings(struct service *svc, struct err *e)
{
	struct loop_priv *p = svc->priv;
	const char *oc = NULL;
	char *end = NULL;
	int r;

	cfg_key_str(svc->cfg, svc->scopes, CFGK_LOOP_OVERCOMMIT, &oc);
	errno = 0;
	p->overcommit = strtod(oc && *oc ? oc : cfg_keys[CFGK_LOOP_OVERCOMMIT].def, &end);
	if (errno || !end || *end || !(p->overcommit >= 1.0 && p->overcommit <= 1000.0))
		return err_set(e, -EINVAL, "config: loop.overcommit: invalid value '%s': expected "
			       "a ratio from 1 (no overcommit) to 1000", oc ? oc : "");
	if ((r = cfg_key_bool(svc->cfg, svc->scopes, CFGK_LOOP_PREALLOCATE, &p->preallocate,
			      e)) < 0)
		return r;
	return 0;
}

static int loop_init(struct service *svc, struct err *e)
{
	struct loop_priv *p = svc->priv;
	int r;

	if ((r = volume_path(svc->cfg, svc->scopes, svc->paths, p->dir, sizeof(p->dir), e)) < 0)
		return r;
	if ((r = fs_mkdir_p(p->dir, 0700)) < 0)
		return err_set(e, r, "loop: cannot create '%s': %s", p->dir, strerror(-r));
	/* the directory's own name durable too: images in it are promised */
	if ((r = fs_fsync_dirs_up(p->dir)) < 0)
		return err_set(e, r, "loop: cannot sync '%s': %s", p->dir, strerror(-r));
	sweep(svc);
	if ((r = read_capacity_settings(svc, e)) < 0)
		return r;
	/* REX-Ray's 16 GB default suits cloud disks; an image on this host's
	 * disk starts at 1 GiB unless create.default.size says otherwise */
	return cfg_key_int_or(svc->cfg, svc->scopes, CFGK_OPS_CREATE_DEFAULT_SIZE, 1,
			      &p->default_size, e);
}

/* What the service's volumes were promised (their sizes) and what their
 * images hold on disk now (allocated blocks). */
static int promised_and_held(struct service *svc, unsigned long long *promised,
			     unsigned long long *held, struct err *e)
{
	struct loop_priv *p = svc->priv;
	struct volume_list l = { 0 };
	char img[PATH_MAX + 64];
	struct stat st;
	int r;

	*promised = *held = 0;
	if ((r = store_volume_list(svc->store, svc->name, &l, e)) < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		*promised += (unsigned long long)(l.v[i].size > 0 ? l.v[i].size : 0) * GIB;
		if (loop_image_path(p->dir, l.v[i].id, img, sizeof(img), NULL) == 0 &&
		    stat(img, &st) == 0)
			*held += (unsigned long long)st.st_blocks * 512;
	}
	volume_list_release(&l);
	return 0;
}

static double gib(unsigned long long bytes)
{
	return (double)bytes / (double)GIB;
}

/*
 * Capacity you can trust: sparse images that later fill the disk corrupt
 * every filesystem on it at once. A create is refused when all the sizes
 * promised, this one included, exceed loop.overcommit times what the images
 * can ever get (what they hold now plus the free space); the default ratio
 * 1 promises only what exists. Near full, say so loudly.
 */
int loop_check_room(struct service *svc, unsigned long long want, const char *what,
		    struct err *e)
{
	struct loop_priv *p = svc->priv;
	unsigned long long avail, promised, held;
	struct statvfs sv;
	double room;
	int r;

	if (statvfs(p->dir, &sv) < 0)
		return err_set(e, -errno, "loop: cannot stat '%s': %s", p->dir, strerror(errno));
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (want > avail)
		return err_set(e, -ENOSPC, "%s is more than the %.2f GiB free in loop.volumePath "
			       "'%s'", what, gib(avail), p->dir);
	if ((r = promised_and_held(svc, &promised, &held, e)) < 0)
		return r;
	room = ((double)held + (double)avail) * p->overcommit;
	if ((double)(promised + want) > room)
		return err_set(e, -ENOSPC, "loop: cannot promise %s more in '%s': its volumes "
			       "are promised %.2f GiB, and their images hold %.2f GiB with %.2f GiB "
			       "free (x %.2f, loop.overcommit): %.2f GiB would exceed %.2f GiB. Free "
			       "space there, remove volumes or snapshots, or raise loop.overcommit (an "
			       "overcommitted disk that fills corrupts every volume on it)", what,
			       p->dir, gib(promised), gib(held), gib(avail), p->overcommit,
			       gib(promised + want), room / (double)GIB);
	if (sv.f_blocks && sv.f_bavail * 10 < sv.f_blocks)
		log_warn("loop: '%s' is more than 90%% full (%.2f GiB free); volumes there fail "
			 "with I/O errors when it fills", p->dir, gib(avail));
	return 0;
}

/* What loop_check_room would still let a create promise: the free space,
 * and no more than loop.overcommit leaves unpromised. */
static int loop_capacity(struct service *svc, int64_t *available, struct err *e)
{
	struct loop_priv *p = svc->priv;
	unsigned long long avail, promised, held;
	struct statvfs sv;
	double room;
	int r;

	if (statvfs(p->dir, &sv) < 0)
		return err_set(e, -errno, "loop: cannot stat '%s': %s", p->dir, strerror(errno));
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if ((r = promised_and_held(svc, &promised, &held, e)) < 0)
		return r;
	room = ((double)held + (double)avail) * p->overcommit - (double)promised;
	if (room < 0)
		room = 0;
	if (room < (double)avail)
		avail = (unsigned long long)room;
	*available = avail > (unsigned long long)INT64_MAX ? INT64_MAX : (int64_t)avail;
	return 0;
}

int loop_check_capacity(struct service *svc, int64_t size_gb, struct err *e)
{
	char what[64];

	snprintf(what, sizeof(what), "%lld GiB", (long long)size_gb);
	return loop_check_room(svc, (unsigned long long)size_gb * GIB, what, e);
}

/* The side files of a volume's image: ".<id>.img.new" while it is being
 * created, ".<id>.img.gone" while it is being removed. Only the record
 * commit decides which way an interrupted create or remove goes; the next
 * start settles the files (sweep below). */
int loop_side_path(const char *dir, const char *id, const char *suffix, char *out, size_t sz,
		     struct err *e)
{
	if ((size_t)snprintf(out, sz, "%s/.%s.img.%s", dir, id, suffix) >= sz)
		return err_set(e, -ENAMETOOLONG, "loop: image path too long");
	return 0;
}

int loop_name_after_record(const char *tmp, const char *final, struct err *e)
{
	if (sys_rename(tmp, final) == 0)
		return 0;
	if (errno == ENOENT && access(final, F_OK) == 0)
		return 0;
	return err_set(e, -errno, "loop: cannot name '%s': %s", final, strerror(errno));
}

/* All of the image's blocks now: fallocate, or (a filesystem without it)
 * glibc's writing of zeros. 0 or an errno. */
int loop_preallocate(int fd, uint64_t bytes)
{
	if (sys_fallocate(fd, 0, 0, (off_t)bytes) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return errno;
	return posix_fallocate(fd, 0, (off_t)bytes);
}

/* Create the sparse ".<id>.img.new" of size bytes with a fresh id. */
static int make_image(struct service *svc, uint64_t bytes, char *id, size_t idsz, char *tmp,
		      size_t tmpsz, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char img[PATH_MAX + 64];

	for (int tries = 0; tries < ID_TRIES; tries++) {
		int64_t seq;
		int fd, r;

		if ((r = store_next_seq(svc->store, svc->name, "volume", &seq, e)) < 0)
			return r;
		snprintf(id, idsz, "loop-%03lld", (long long)seq);
		if ((r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0 ||
		    (r = loop_side_path(p->dir, id, "new", tmp, tmpsz, e)) < 0)
			return r;
		if (access(img, F_OK) == 0)
			continue; /* a file left by an earlier store: never reuse it */
		fd = sys_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return err_set(e, -errno, "loop: cannot create '%s': %s", tmp,
				       strerror(errno));
		/* preallocated: the space is the image's from now on, and writes
		 * into it never meet a full disk */
		if (p->preallocate && (r = loop_preallocate(fd, bytes)) != 0) {
			close(fd);
			sys_unlink(tmp);
			return err_set(e, -r, "loop: cannot preallocate %llu bytes for '%s': %s",
				       (unsigned long long)bytes, tmp, strerror(r));
		}
		if (sys_ftruncate(fd, (off_t)bytes) < 0 || sys_fsync(fd) < 0) {
			r = -errno;
			close(fd);
			sys_unlink(tmp);
			return err_set(e, r, "loop: cannot size '%s': %s", tmp, strerror(-r));
		}
		close(fd);
		/* the ".new" name on disk before the record: after a power loss
		 * a durable record always finds its image (sweep) */
		if ((r = fs_fsync_dir(p->dir)) < 0) {
			sys_unlink(tmp);
			return err_set(e, r, "loop: cannot sync '%s': %s", p->dir, strerror(-r));
		}
		return 0;
	}
	return err_set(e, -EEXIST, "loop: no free volume id after %d tries", ID_TRIES);
}

/*
 * What sweep cannot settle, said loudly at start: an image whose record is
 * gone is kept (its contents may matter to someone; never deleted on a
 * guess), a record whose image is gone stays listed and refuses to attach.
 * Neither follows from a crash or a power loss of this engine (records are
 * committed durably, image names are synced around them), only from
 * hands-on changes to the directory or the database.
 */
static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_volume_id(const void *a, const void *b)
{
	return strcmp((*(const struct volume *const *)a)->id, (*(const struct volume *const *)b)->id);
}

/* The ids of the images "<id>.img" in dir, sorted, malloc'd (free each and
 * the array); NULL (and *n 0) when there are none or memory ran out. */
static char **image_ids(const char *dir, size_t *n)
{
	char **ids = NULL, **grown;
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	*n = 0;
	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".img") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(grown = realloc(ids, cap * sizeof(*ids))))
				break;
			ids = grown;
		}
		if (!(ids[*n] = strndup(de->d_name, len - 4)))
			break;
		(*n)++;
	}
	if (d)
		closedir(d);
	if (ids)
		qsort(ids, *n, sizeof(*ids), cmp_id);
	return ids;
}

static void check_records_and_images(struct service *svc)
{
	struct loop_priv *p = svc->priv;
	struct volume_list l = { 0 };
	const struct volume **recs = NULL;
	size_t ni = 0, i = 0, j = 0;
	char **imgs = image_ids(p->dir, &ni);

	/* one listing and one directory read, compared sorted: no query or
	 * stat per volume at every start */
	if (store_volume_list(svc->store, svc->name, &l, NULL) < 0 ||
	    (l.n && !(recs = malloc(l.n * sizeof(*recs)))))
		goto out;
	for (size_t k = 0; k < l.n; k++)
		recs[k] = &l.v[k];
	if (recs)
		qsort(recs, l.n, sizeof(*recs), cmp_volume_id);
	while (i < ni || j < l.n) {
		int c = i == ni ? 1 : j == l.n ? -1 : strcmp(imgs[i], recs[j]->id);
		if (c < 0)
			log_warn("loop: image '%s/%s.img' has no volume record: kept, not served "
				 "(move it away once you know what it holds)", p->dir, imgs[i]);
		else if (c > 0)
			log_error("loop: volume %s (%s) has no image '%s/%s.img': it cannot be "
				  "attached", recs[j]->id, recs[j]->name, p->dir, recs[j]->id);
		i += c <= 0;
		j += c >= 0;
	}
out:
	for (size_t k = 0; k < ni; k++)
		free(imgs[k]);
	free(imgs);
	free(recs);
	volume_list_release(&l);
}

/* Settle what a crash left: a ".new" image belongs to its volume if the
 * record was committed, else it goes; a ".gone" image comes back if its
 * record is still there, else it goes. */
static void sweep(struct service *svc)
{
	struct loop_priv *p = svc->priv;
	char path[PATH_MAX + 300], img[PATH_MAX + 64], id[300];
	struct dirent *de;
	DIR *d = opendir(p->dir);

	while (d && (de = readdir(d)) != NULL) {
		const char *n = de->d_name, *suffix;
		size_t len = strlen(n);
		struct volume v;
		bool has_record, is_new;

		if (n[0] != '.' || len < 10)
			continue;
		if (len > 9 && strcmp(n + len - 8, ".img.new") == 0)
			suffix = "new";
		else if (len > 10 && strcmp(n + len - 9, ".img.gone") == 0)
			suffix = "gone";
		else
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(len - 1 - 5 - strlen(suffix)), n + 1);
		snprintf(path, sizeof(path), "%s/%s", p->dir, n);
		is_new = strcmp(suffix, "new") == 0;
		/* a ".gone" may be a remove in progress on another server; a
		 * ".new" with its record committed is finished by anyone */
		if (loop_image_path(p->dir, id, img, sizeof(img), NULL) < 0 ||
		    (!is_new && !records_sweep_may_touch(svc, path)))
			continue;
		has_record = store_volume_get(svc->store, svc->name, id, &v, NULL) == 0;
		if (has_record)
			volume_release(&v);
		loop_settle_leftover(svc, path, img, is_new, has_record, "create", "", id);
	}
	if (d)
		closedir(d);
	loop_sweep_snapshots(svc);
	check_records_and_images(svc);
}


static int loop_volume_create(struct service *svc, const struct volume_create_req *req,
			      struct volume *out, struct err *e)
{
	struct loop_priv *p = svc->priv;
	struct volume v = { 0 };
	char id[32], img[PATH_MAX + 64], tmp[PATH_MAX + 300];
	int64_t size = req->has_size ? req->size : p->default_size;
	bool oom;
	int r;

	if (size < 1)
		return err_set(e, -EINVAL, "size %lld GiB: a loop volume needs at least 1 GiB",
			       (long long)size);
	if ((r = loop_check_capacity(svc, size, e)) < 0)
		return r;
	if ((r = make_image(svc, (uint64_t)size * GIB, id, sizeof(id), tmp, sizeof(tmp), e)) < 0 ||
	    (r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0)
		return r;
	v.id = strdup(id);
	v.name = strdup(req->name);
	v.type = strdup(req->type ? req->type : "");
	v.availability_zone = req->availability_zone ? strdup(req->availability_zone) : NULL;
	v.status = strdup(img);
	v.size = size;
	v.iops = req->has_iops ? req->iops : 0;
	v.encrypted = req->has_encrypted && req->encrypted;
	v.fields = records_fields_of(req->opts, &oom);
	if (!v.id || !v.name || !v.type || !v.status || oom ||
	    (req->availability_zone && !v.availability_zone)) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	fault_point("loop.create.before-record");
	if ((r = store_volume_insert(svc->store, svc->name, &v, e)) < 0)
		goto fail;
	fault_point("loop.create.after-record");
	if ((r = loop_name_after_record(tmp, img, e)) < 0) {
		store_volume_delete(svc->store, svc->name, id, NULL);
		goto fail;
	}
	/* no fsync of the rename: a power loss that forgets it leaves a
	 * durable ".new" with a durable record, which sweep names */
	*out = v;
	return 0;
fail:
	sys_unlink(tmp);
	volume_release(&v);
	return r;
}

/* The image's filesystem is alive: a loop device on it is mounted in some
 * mount namespace (a container's too) or held open exclusively. */
static int refuse_if_in_use(const char *what, const char *name, const char *img,
			    struct err *e)
{
	char dev[LOOPDEV_PATH_MAX], **mps = NULL;
	int r = loopdev_busy_for_file(img, dev);

	if (r <= 0)
		return r == -ENOENT ? 0 : r;
	if (mount_points_of(dev, &mps, NULL) > 0)
		r = err_set(e, -EBUSY, "cannot %s volume '%s': it is mounted at '%s' (%s); "
			    "unmount it first (rexray volume unmount %s)", what, name, mps[0], dev,
			    name);
	else
		r = err_set(e, -EBUSY, "cannot %s volume '%s': its device %s is in use (mounted "
			    "in another mount namespace, such as a container's, or held open); "
			    "stop its users and unmount it first", what, name, dev);
	mount_points_free(mps);
	return r;
}

/*
 * A remove never pulls an image out from under a loop device, forced or
 * not: no force deletes data in use. Checked twice, around the rename of
 * the image: before it for a clear message about a live filesystem, after
 * it for a device bound meanwhile (a mount between its device and its
 * mount, in any process). A mount checks the other way round after it
 * binds its device (loop_exec_device_get), so one of the two always sees
 * the other and no mount ever lands on a removed image.
 *
 * Each check is one pass over /sys/block (the devices bound to the file,
 * by device and inode): a device whose filesystem is alive (mounted in
 * any namespace, or held open) is named as in use, else as attached.
 * 0 when none is, -errno when the kernel could not be asked (the remove
 * then does not go ahead on a guess).
 */
#define REMOVE_CHECK_DEVS 4
static int refuse_if_bound(const char *name, const char *path, struct err *e)
{
	char devs[REMOVE_CHECK_DEVS][LOOPDEV_PATH_MAX], **mps = NULL;
	size_t n = 0;
	int r = loopdev_list_for_file(path, devs, REMOVE_CHECK_DEVS, &n, e);

	if (r == -ENOENT) {
		err_clear(e);
		return 0;
	}
	if (r < 0 || n == 0)
		return r;
	for (size_t i = 0; i < n && i < REMOVE_CHECK_DEVS; i++) {
		const char *dev = devs[i];

		if (!blockdev_in_use(dev))
			continue;
		if (mount_points_of(dev, &mps, NULL) > 0)
			r = err_set(e, -EBUSY, "cannot remove volume '%s': it is mounted at '%s' "
				    "(%s); unmount it first (rexray volume unmount %s)", name,
				    mps[0], dev, name);
		else
			r = err_set(e, -EBUSY, "cannot remove volume '%s': its device %s is in use "
				    "(mounted in another mount namespace, such as a container's, "
				    "or held open); stop its users and unmount it first", name,
				    dev);
		mount_points_free(mps);
		return r;
	}
	return err_set(e, -EBUSY, "cannot remove volume '%s': its image is attached as %s on "
		       "this machine (a mount in progress, or one left by a crash until the "
		       "engine settles it); unmount it first (rexray volume unmount %s)", name,
		       devs[0], name);
}

static int loop_volume_remove(struct service *svc, const char *id, bool force, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char img[PATH_MAX + 64], gone[PATH_MAX + 300], name[VOLUME_NAME_MAX + 1];
	struct volume v;
	int r;

	if ((r = records_check_removable(svc, id, force, e)) < 0 ||
	    (r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0 ||
	    (r = loop_side_path(p->dir, id, "gone", gone, sizeof(gone), e)) < 0 ||
	    (r = store_volume_get(svc->store, svc->name, id, &v, e)) < 0)
		return r;
	snprintf(name, sizeof(name), "%s", v.name ? v.name : id);
	volume_release(&v);
	if ((r = refuse_if_bound(name, img, e)) < 0)
		return r;
	/* image aside first, then the record: a crash between leaves the
	 * record, and the next start puts the image back */
	if (sys_rename(img, gone) < 0 && errno != ENOENT)
		return err_set(e, -errno, "loop: cannot remove '%s': %s", img, strerror(errno));
	if (access(gone, F_OK) == 0 && (r = refuse_if_bound(name, gone, e)) < 0) {
		sys_rename(gone, img);
		return r;
	}
	/* the ".gone" name on disk before the record goes: after a power loss
	 * an image never outlives its record under its live name */
	if ((r = fs_fsync_dir(p->dir)) < 0) {
		sys_rename(gone, img);
		return err_set(e, r, "loop: cannot sync '%s': %s", p->dir, strerror(-r));
	}
	fault_point("loop.remove.after-rename");
	if ((r = store_volume_delete(svc->store, svc->name, id, e)) < 0) {
		sys_rename(gone, img);
		return r;
	}
	fault_point("loop.remove.after-record");
	if (sys_unlink(gone) < 0 && errno != ENOENT)
		log_warn("loop: volume %s removed but '%s' stays: %s", id, gone, strerror(errno));
	/* no fsync of the unlink: a ".gone" without a record is finished by sweep */
	return 0;
}

void loop_settle_leftover(struct service *svc, const char *path, const char *live, bool is_new,
			  bool has_record, const char *made, const char *kind, const char *id)
{
	if (has_record && access(live, F_OK) < 0) {
		log_warn("loop: completing the interrupted %s of %s%s",
			 is_new ? made : "undone remove", kind, id);
		sys_rename(path, live);
	} else if (!is_new || records_sweep_may_touch(svc, path)) {
		log_warn("loop: dropping '%s' left by an interrupted operation", path);
		sys_unlink(path);
	}
}

/*
 * An attach of a volume whose record is there but whose image is not
 * finishes what a server that died left: the create's rename of ".new"
 * (its record is committed, so it is the volume's), or the undoing of a
 * remove that never deleted the record (".gone"; the caller holds the
 * volume's lock, which every remove takes, so none is in progress). The
 * servers' start-up sweeps do the same, but one that never starts again
 * must not leave a volume unusable.
 */
static void settle_image(struct loop_priv *p, const char *id, const char *img)
{
	static const char *const suffixes[] = { "new", "gone" };
	char side[PATH_MAX + 300];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		if (loop_side_path(p->dir, id, suffixes[i], side, sizeof(side), NULL) < 0 ||
		    access(side, F_OK) < 0)
			continue;
		if (sys_rename(side, img) == 0) {
			log_warn("loop: completing the interrupted %s of %s (found at attach)",
				 i == 0 ? "create" : "undone remove", id);
			return;
		}
	}
}

static int loop_volume_attach(struct service *svc, const char *id, const struct attach_opts *o,
			      struct volume *out, char **token, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char img[PATH_MAX + 64];
	int r;

	if ((r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0)
		return r;
	if (access(img, F_OK) < 0)
		settle_image(p, id, img);
	if (access(img, F_OK) < 0)
		return err_set(e, -EIO, "loop: the image of volume %s is missing: '%s'", id, img);
	/* the token names the image; each host attaches it to a device of its own */
	if ((r = records_attach(svc, id, o, img, out, e)) < 0)
		return r;
	if (token && !(*token = strdup(id))) {
		volume_release(out);
		return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Detach only what no filesystem lives on: a detach (forced or not) of a
 * volume still mounted would let the fencing loop or another host act on
 * an image in use. */
static int loop_volume_detach(struct service *svc, const char *id, const struct detach_opts *o,
			      struct volume *out, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char img[PATH_MAX + 64];
	struct volume v;
	int r;

	if ((r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0 ||
	    (r = store_volume_get(svc->store, svc->name, id, &v, e)) < 0)
		return r;
	r = refuse_if_in_use("detach", v.name ? v.name : id, img, e);
	volume_release(&v);
	return r < 0 ? r : records_detach(svc, id, o, out, e);
}

const struct storage_driver loop_driver = {
	.version = STORAGE_DRIVER_VERSION,
	.name = "loop",
	.type = ST_BLOCK,
	.priv_size = sizeof(struct loop_priv),
	.has_next_device = true,
	.fenceable = true, /* ext4 and xfs: osfs_shutdown */
	.next_device = { .ignore = true, .prefix = "", .pattern = "" },
	.init = loop_init,
	.instance_inspect = records_instance_inspect,
	.volumes = records_volumes,
	.volumes_each = records_volumes_each,
	.volume_inspect = records_volume_inspect,
	.volume_inspect_by_name = records_volume_inspect_by_name,
	.volume_view_by_name = records_volume_view_by_name,
	.volume_create = loop_volume_create,
	.names_unique = true, /* the record's insert refuses a taken name */
	.volume_remove = loop_volume_remove,
	.volume_attach = loop_volume_attach,
	.volume_detach = loop_volume_detach,
	.capacity = loop_capacity,
	.snapshots = loop_snapshots,
	.snapshot_inspect = loop_snapshot_inspect,
	.volume_snapshot = loop_volume_snapshot,
	.snapshot_remove = loop_snapshot_remove,
	.snapshot_copy = loop_snapshot_copy,
	.volume_create_from_snapshot = loop_volume_create_from_snapshot,
	.volume_copy = loop_volume_copy,
	.volume_resize = loop_volume_resize,
};

/* ---- executor ---- */

static int loop_exec_instance_id(const struct exec_ctx *x, struct instance_id *out,
				 struct err *e)
{
	return executor_default_instance_id("loop", x, out, e);
}

/*
 * Which loop devices are this host's: a marker <run>/loop/<volume id>
 * holding "/dev/loopN" for each device this host attached. On a real host
 * every loop device is its own anyway; the markers keep hosts that share
 * one kernel (network namespaces, containers) from taking each other's
 * devices, and are checked against sysfs before use.
 */
static int marker_path(const struct exec_ctx *x, const char *volume_id, char *out, size_t sz,
		       struct err *e)
{
	if (volume_name_check(volume_id, NULL) < 0)
		return err_set(e, -EINVAL, "loop: bad volume id");
	if ((size_t)snprintf(out, sz, "%s/loop/%s", x->paths->run, volume_id) >= sz)
		return err_set(e, -ENAMETOOLONG, "loop: run path too long");
	return 0;
}

/* Does dev (/dev/loopN) still have image as its backing file? */
static bool backs(const char *dev, const char *image)
{
	char sys[96], real[PATH_MAX], *buf = NULL;
	bool same = false;

	if (strncmp(dev, "/dev/", 5) != 0 || strchr(dev + 5, '/'))
		return false;
	snprintf(sys, sizeof(sys), "/sys/block/%s/loop/backing_file", dev + 5);
	if (fs_read_file(sys, PATH_MAX + 32, &buf, NULL) < 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	same = realpath(image, real) && strcmp(buf, real) == 0;
	free(buf);
	return same;
}

static int marker_write(const struct exec_ctx *x, const char *volume_id, const char *dev,
			struct err *e);

/* This host's device for the volume, from its marker; stale markers go. */
static int marker_find(const struct exec_ctx *x, const char *volume_id, const char *image,
		       char dev[LOOPDEV_PATH_MAX], struct err *e)
{
	char path[PATH_MAX + 300], *buf = NULL;
	int r;

	if ((r = marker_path(x, volume_id, path, sizeof(path), e)) < 0)
		return r;
	if ((r = fs_read_file(path, 256, &buf, NULL)) == -ENOENT)
		return -ENOENT; /* no device of ours: device_get's checks decide */
	if (r == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strlen(buf) < LOOPDEV_PATH_MAX && backs(buf, image)) {
			strcpy(dev, buf);
			free(buf);
			return 0;
		}
		free(buf);
	}
	/* our marker, but an attach that was interrupted ("pending"), a device
	 * that no longer has the image, or a marker we could not read or
	 * check: the kernel says which device (if any) has the image, and the
	 * marker follows */
	if (loopdev_find_by_file(image, dev, NULL) == 0) {
		struct err ignore = ERR_INIT;

		if (marker_write(x, volume_id, dev, &ignore) < 0)
			log_warn("loop: %s", ignore.msg);
		return 0;
	}
	sys_unlink(path);
	return -ENOENT;
}

static int marker_write(const struct exec_ctx *x, const char *volume_id, const char *dev,
			struct err *e)
{
	char path[PATH_MAX + 300], dir[PATH_MAX + 16], line[LOOPDEV_PATH_MAX + 2];
	int r;

	snprintf(dir, sizeof(dir), "%s/loop", x->paths->run);
	if ((r = fs_mkdir_p(dir, 0700)) < 0)
		return err_set(e, r, "loop: cannot create '%s': %s", dir, strerror(-r));
	if ((r = marker_path(x, volume_id, path, sizeof(path), e)) < 0)
		return r;
	snprintf(line, sizeof(line), "%s\n", dev);
	if ((r = fs_write_atomic(path, line, strlen(line), 0600)) < 0)
		return err_set(e, r, "loop: cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static void loop_marker_drop(const struct exec_ctx *x, const char *volume_id)
{
	char path[PATH_MAX + 300];

	if (marker_path(x, volume_id, path, sizeof(path), NULL) == 0)
		sys_unlink(path);
}

static int image_of(const struct exec_ctx *x, const char *id, char *img, size_t sz, struct err *e)
{
	char dir[PATH_MAX];
	int r;

	if ((r = executor_dir(x, volume_path, dir, e)) < 0)
		return r;
	return loop_image_path(dir, id, img, sz, e);
}

static int loop_exec_local_devices(const struct exec_ctx *x, struct local_devices *out,
				   struct err *e)
{
	char dirpath[PATH_MAX + 16], img[PATH_MAX + 64], dev[LOOPDEV_PATH_MAX];
	struct dirent *de;
	DIR *d;

	memset(out, 0, sizeof(*out));
	out->driver = strdup("loop");
	if (!out->driver)
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(dirpath, sizeof(dirpath), "%s/loop", x->paths->run);
	d = opendir(dirpath);
	if (!d)
		return 0; /* nothing attached here yet */
	while ((de = readdir(d)) != NULL) {
		struct local_device *m;
		if (de->d_name[0] == '.' || image_of(x, de->d_name, img, sizeof(img), NULL) < 0 ||
		    marker_find(x, de->d_name, img, dev, NULL) < 0)
			continue;
		m = realloc(out->map, (out->n + 1) * sizeof(*m));
		if (!m)
			break;
		out->map = m;
		m[out->n].volume_id = strdup(de->d_name);
		m[out->n].device = strdup(dev);
		out->n++;
		if (!m[out->n - 1].volume_id || !m[out->n - 1].device)
			break;
	}
	closedir(d);
	return 0;
}

static int loop_exec_device_find(const struct exec_ctx *x, const char *volume_id, char **dev,
				 struct err *e)
{
	char img[PATH_MAX + 64], d[LOOPDEV_PATH_MAX];
	int r;

	if ((r = image_of(x, volume_id, img, sizeof(img), e)) < 0)
		return r;
	if ((r = marker_find(x, volume_id, img, d, e)) < 0)
		return err_set(e, r, "loop: volume %s has no loop device on this host", volume_id);
	*dev = strdup(d);
	return *dev ? 0 : err_set(e, -ENOMEM, "out of memory");
}

/* The device already bound to img, once nothing uses it or timeout_ms
 * passed: 0 with dev filled (check blockdev_in_use again), or -ENOENT when
 * no device is (or remains) bound to it. */
static int wait_until_idle(const char *img, char dev[LOOPDEV_PATH_MAX], long timeout_ms)
{
	long waited = 0;

	for (;;) {
		if (loopdev_find_by_file(img, dev, NULL) < 0)
			return -ENOENT;
		if (!blockdev_in_use(dev) || waited >= timeout_ms)
			return 0;
		if (waited == 0)
			log_info("loop: %s is in use elsewhere; waiting up to %ld ms for it to be "
				 "let go", dev, timeout_ms);
		time_sleep_ms(100);
		waited += 100;
	}
}

static int loop_exec_device_get(const struct exec_ctx *x, const char *volume_id, const char *token,
				long timeout_ms, char **dev, bool *created, struct err *e)
{
	char img[PATH_MAX + 64], d[LOOPDEV_PATH_MAX], chk[LOOPDEV_PATH_MAX];
	const char *name = token && *token ? token : volume_id;
	int r;

	*created = false;
	if ((r = image_of(x, name, img, sizeof(img), e)) < 0)
		return r;
	if (marker_find(x, volume_id, img, d, NULL) < 0) {
		/* never a second device on one image: one already bound (matched
		 * by device and inode) is reused when idle, waited for while its
		 * filesystem is alive (a host this one preempted lets go within
		 * its lease), and refused when that lasts past the timeout */
		if ((r = wait_until_idle(img, d, timeout_ms)) == 0) {
			if (blockdev_in_use(d))
				return err_set(e, -EBUSY, "loop: the image of volume %s is already "
					       "attached as %s and in use (mounted by another host "
					       "or in another mount namespace); not attaching a "
					       "second device to it", volume_id, d);
			if ((r = marker_write(x, volume_id, d, e)) < 0)
				return r;
			log_warn("loop: reusing %s, already bound to the image of %s", d,
				 volume_id);
			goto found;
		}
		/* "pending" first, so a crash mid-attach leaves no device nobody knows */
		if ((r = marker_write(x, volume_id, "pending", e)) < 0)
			return r;
		fault_point("loop.attach.after-pending");
		if ((r = loopdev_attach(img, timeout_ms, d, e)) < 0) {
			loop_marker_drop(x, volume_id);
			return r;
		}
		*created = true;
		fault_point("loop.attach.after-device");
		if ((r = marker_write(x, volume_id, d, e)) < 0) {
			loopdev_detach(d, NULL);
			loop_marker_drop(x, volume_id);
			return r;
		}
	}
found:
	/* the image still under its name, and bound to this very device: a
	 * remove that renamed it away meanwhile wins (see refuse_if_bound) */
	if (loopdev_find_by_file(img, chk, NULL) < 0 || strcmp(chk, d) != 0) {
		if (*created) {
			loopdev_detach(d, NULL);
			loop_marker_drop(x, volume_id);
		}
		*created = false;
		return err_set(e, -ENOENT, "loop: volume %s was removed while it was being "
			       "attached", volume_id);
	}
	*dev = strdup(d);
	if (!*dev) {
		if (*created)
			loopdev_detach(d, NULL);
		return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

#define MARKERS_MAX 8

/*
 * The markers that name dev (one per volume attached through it; a few at
 * most): their paths into names (malloc'd, the caller frees them), *n how
 * many. A marker that cannot be read is an error: nothing is known yet.
 */
static int markers_naming(const struct exec_ctx *x, const char *dev, char *names[MARKERS_MAX],
			  size_t *n, struct err *e)
{
	char dirpath[PATH_MAX + 16], path[PATH_MAX + 300], *buf = NULL;
	struct dirent *de;
	DIR *d;
	int r = 0;

	*n = 0;
	snprintf(dirpath, sizeof(dirpath), "%s/loop", x->paths->run);
	if (!(d = opendir(dirpath)))
		return errno == ENOENT ? 0 : err_set(e, -errno, "loop: cannot read '%s': %s",
						     dirpath, strerror(errno));
	while (r == 0 && (de = readdir(d)) != NULL) {
		int rr;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		if ((rr = fs_read_file(path, 256, &buf, NULL)) < 0) {
			if (rr != -ENOENT)
				r = err_set(e, rr, "loop: cannot read '%s': %s", path, strerror(-rr));
			continue;
		}
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, dev) == 0 && *n < MARKERS_MAX && !(names[(*n)++] = strdup(path)))
			r = err_set(e, -ENOMEM, "out of memory");
		free(buf);
		buf = NULL;
	}
	closedir(d);
	return r;
}

/* Detach and drop the marker that names dev; never while a filesystem on
 * it is alive anywhere (LOOP_CLR_FD would only arm autoclear, and the next
 * mount would bind a second device to the same image). */
static int loop_exec_device_put(const struct exec_ctx *x, const char *dev, struct err *e)
{
	char *names[MARKERS_MAX] = { NULL };
	size_t n = 0;
	int r;

	/* a just-unmounted filesystem, or a tool that was killed with its
	 * caller, lets go within moments: wait up to half a second */
	for (int tries = 0; blockdev_in_use(dev); tries++) {
		if (tries == 10)
			return err_set(e, -EBUSY, "%s is still in use (mounted in another mount "
				       "namespace, such as a container's, or held open): not "
				       "released", dev);
		time_sleep_ms(50);
	}
	/* the markers read first: one that cannot be read changes nothing yet;
	 * after the detach those read are dropped by name, not read again */
	if ((r = markers_naming(x, dev, names, &n, e)) < 0)
		goto out;
	r = loopdev_detach(dev, e);
	if (r < 0 && r != -ENXIO)
		goto out;
	r = 0;
	for (size_t i = 0; i < n; i++)
		sys_unlink(names[i]);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}


static int loop_exec_format_mark(const struct exec_ctx *x, const char *volume_id,
				 const char *fstype, struct err *e)
{
	char img[PATH_MAX + 64];
	int r;

	if ((r = image_of(x, volume_id, img, sizeof(img), e)) < 0)
		return r;
	if (sys_setxattr(img, FORMAT_XATTR, fstype, strlen(fstype), 0) < 0)
		return err_set(e, -errno, "loop: cannot record the filesystem of '%s': %s", img,
			       strerror(errno));
	return 0;
}

static int loop_exec_format_recorded(const struct exec_ctx *x, const char *volume_id,
				     char *fstype, size_t sz)
{
	char img[PATH_MAX + 64];
	ssize_t n;

	if (sz < 2 || image_of(x, volume_id, img, sizeof(img), NULL) < 0)
		return -EINVAL;
	n = getxattr(img, FORMAT_XATTR, fstype, sz - 1);
	if (n <= 0)
		return -ENOENT;
	fstype[n] = '\0';
	return 0;
}

static int loop_exec_open(struct exec_ctx *x, struct err *e)
{
	return executor_dir_open(x, volume_path, e);
}

static int loop_exec_storage_path(const struct exec_ctx *x, const char *volume_id, char **out,
				  struct err *e)
{
	char img[PATH_MAX + 64];
	int r;

	if ((r = image_of(x, volume_id, img, sizeof(img), e)) < 0)
		return r;
	if (access(img, F_OK) < 0)
		return err_set(e, -ENOENT, "loop: '%s' does not exist", img);
	*out = strdup(img);
	return *out ? 0 : err_set(e, -ENOMEM, "out of memory");
}

static int loop_exec_device_refresh(const struct exec_ctx *x, const char *volume_id,
				    const char *dev, bool *grew, struct err *e)
{
	unsigned long long dev_bytes;
	char img[PATH_MAX + 64];
	struct stat st;
	int r;

	*grew = false;
	if ((r = image_of(x, volume_id, img, sizeof(img), e)) < 0)
		return r;
	if (stat(img, &st) < 0)
		return err_set(e, -errno, "loop: cannot stat '%s': %s", img, strerror(errno));
	if ((r = blockdev_size(dev, &dev_bytes, e)) < 0)
		return r;
	if ((unsigned long long)st.st_size <= dev_bytes || !backs(dev, img))
		return 0;
	if ((r = loopdev_set_capacity(dev, e)) < 0)
		return r;
	*grew = true;
	return 0;
}

const struct storage_executor loop_executor = {
	.version = STORAGE_EXECUTOR_VERSION,
	.name = "loop",
	.instance_id = loop_exec_instance_id,
	.local_devices = loop_exec_local_devices,
	.device_get = loop_exec_device_get,
	.device_find = loop_exec_device_find,
	.device_put = loop_exec_device_put,
	.open = loop_exec_open,
	.close = executor_dir_close,
	.format_mark = loop_exec_format_mark,
	.format_recorded = loop_exec_format_recorded,
	.storage_path = loop_exec_storage_path,
	.device_refresh = loop_exec_device_refresh,
};
