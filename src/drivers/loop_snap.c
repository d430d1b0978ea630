/*
 * loop_snap: snapshots, copies and resize of loop volumes (the driver's
 * version 3 slots; loop_int.h has the file layout).
 *
 * A snapshot or a clone is a copy of the image made by os/clone: a
 * reflink (FICLONE) where loop.volumePath can (xfs with reflink=1, btrfs),
 * constant time and blocks shared until written; elsewhere a sparse copy,
 * logged as it goes. A volume mounted on this host is frozen (FIFREEZE)
 * for the clone, so the snapshot is a clean filesystem; one attached but
 * not mounted here is only crash-consistent; the snapshot's field
 * "consistency" says which ("frozen", "crash-consistent", "detached").
 *
 * Every new file is made under its hidden ".<name>.new" name, then its
 * record is committed, then it takes its name: a crash anywhere leaves
 * either nothing or a ".new" that the next start names or drops by the
 * record (loop_sweep_snapshots; volumes by loop.c's sweep). A snapshot is
 * removed as a volume is: ".gone" first, then the record.
 *
 * Snapshots are independent of their volume: a volume can be removed with
 * snapshots (they stay, with its ID), and a volume made from a snapshot
 * shares nothing with it that a write could change.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drivers/loop_int.h"
#include "drivers/records.h"
#include "os/clone.h"
#include "os/fs.h"
#include "os/loopdev.h"
#include "os/mountinfo.h"
#include "store/store.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/names.h"
#include "util/sys.h"

#define GROW_TIMEOUT_MS (10 * 60 * 1000)
#define MAX_DEVS 16

static int snap_path(const char *dir, const char *id, char *out, size_t sz, struct err *e)
{
	if (volume_name_check(id, e) < 0)
		return err_set(e, -EINVAL, "loop: bad snapshot id");
	if ((size_t)snprintf(out, sz, "%s/%s.snap", dir, id) >= sz)
		return err_set(e, -ENAMETOOLONG, "loop: snapshot path too long");
	return 0;
}

static int snap_side(const char *dir, const char *id, const char *suffix, char *out, size_t sz,
		     struct err *e)
{
	if ((size_t)snprintf(out, sz, "%s/.%s.snap.%s", dir, id, suffix) >= sz)
		return err_set(e, -ENAMETOOLONG, "loop: snapshot path too long");
	return 0;
}

/* ---- cloning ---- */

struct clone_job {
	const char *src, *dst, *what;
	struct osclone_result res;
};

/* A copy that is not a reflink takes time: say how far it got. */
static int log_progress(void *arg, uint64_t done, uint64_t total)
{
	const struct clone_job *job = arg;

	log_info("loop: copying %s: %llu of %llu MiB", job->what,
		 (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
	return 0;
}

static int run_clone(void *arg, struct err *e)
{
	struct clone_job *job = arg;
	struct osclone_opts o = { .progress = log_progress, .arg = job };

	return osclone_file(job->src, job->dst, 0600, &o, &job->res, e);
}

/* The record of the engine's mkfs goes with the data. */
static void copy_format_mark(const char *from, const char *to)
{
	char fstype[64];
	ssize_t n = getxattr(from, FORMAT_XATTR, fstype, sizeof(fstype) - 1);

	if (n > 0 && sys_setxattr(to, FORMAT_XATTR, fstype, (size_t)n, 0) < 0)
		log_warn("loop: cannot copy the filesystem record to '%s': %s", to,
			 strerror(errno));
}

/* Where the filesystem of a device bound to img is mounted in this
 * namespace: a malloc'd path, or NULL (*bound says whether any device is). */
static char *mounted_at(const char *img, bool *bound)
{
	char devs[MAX_DEVS][LOOPDEV_PATH_MAX], **mps = NULL, *mp = NULL;
	size_t n = 0;

	*bound = false;
	if (loopdev_list_for_file(img, devs, MAX_DEVS, &n, NULL) < 0)
		return NULL;
	*bound = n > 0;
	for (size_t i = 0; !mp && i < n && i < MAX_DEVS; i++) {
		if (mount_points_of(devs[i], &mps, NULL) > 0)
			mp = strdup(mps[0]);
		mount_points_free(mps);
		mps = NULL;
	}
	return mp;
}

/*
 * Clone the image of volume v into dst, frozen when it is mounted here.
 * consistency gets what the copy is: "frozen" (a clean filesystem),
 * "crash-consistent" (in use elsewhere or unmounted on a bound device),
 * "detached" (nobody had it).
 */
static int clone_image(const struct volume *v, const char *img, const char *dst,
		       const char **consistency, const char **how, struct err *e)
{
	struct clone_job job = { .src = img, .dst = dst, .what = v->name };
	bool bound;
	char *mp = mounted_at(img, &bound);
	int r;

	if (mp) {
		*consistency = "frozen";
		r = osfs_freeze_do(mp, run_clone, &job, e);
		if (r == -ENOTSUP) { /* a filesystem that cannot freeze */
			err_clear(e);
			*consistency = "crash-consistent";
			r = run_clone(&job, e);
		}
	} else {
		*consistency = bound || v->n_attachments ? "crash-consistent" : "detached";
		r = run_clone(&job, e);
	}
	free(mp);
	if (r == 0) {
		*how = job.res.how;
		copy_format_mark(img, dst);
	}
	return r;
}

/* The volume and its image, which must be there. */
static int volume_and_image(struct service *svc, const char *id, struct volume *v, char *img,
			    size_t sz, struct err *e)
{
	struct loop_priv *p = svc->priv;
	int r;

	if ((r = store_volume_get(svc->store, svc->name, id, v, e)) < 0)
		return r;
	if ((r = loop_image_path(p->dir, id, img, sz, e)) == 0 && access(img, F_OK) < 0)
		r = err_set(e, -EIO, "loop: the image of volume %s is missing: '%s'", id, img);
	if (r < 0)
		volume_release(v);
	return r;
}

/* ---- snapshots ---- */

int loop_snapshots(struct service *svc, struct snapshot_list *out, struct err *e)
{
	return records_snapshots(svc, out, e);
}

int loop_snapshot_inspect(struct service *svc, const char *id, struct snapshot *out,
			  struct err *e)
{
	return records_snapshot_inspect(svc, id, out, e);
}

/*
 * Make the file of a new snapshot of volume_id from src: a fresh id, the
 * clone under ".<id>.snap.new", the record (made by fill from the id),
 * then the name. On failure nothing stays.
 */
typedef int (*snap_fill_fn)(void *arg, const char *id, const char *how, struct snapshot *out,
			    struct err *e);

/*
 * A snapshot may come to hold all the blocks its source holds now: at
 * once when copied, as the volume is written when a reflink shares them.
 * That room must not be what the volumes were promised (loop.overcommit).
 */
static int check_snapshot_room(struct service *svc, const char *src, struct err *e)
{
	struct stat st;
	char what[96];

	if (stat(src, &st) < 0)
		return err_set(e, -errno, "loop: cannot stat '%s': %s", src, strerror(errno));

	snprintf(what, sizeof(what), "the %.2f GiB a snapshot of what the volume holds may take",
		 (double)st.st_blocks * 512 / (double)GIB);
	return loop_check_room(svc, (unsigned long long)st.st_blocks * 512, what, e);
}

static int new_snapshot(struct service *svc, const char *volume_id, const char *src,
			int (*clone)(void *arg, const char *dst, const char **how, struct err *e),
			void *clone_arg, snap_fill_fn fill, void *fill_arg, struct snapshot *out,
			struct err *e)
{
	struct loop_priv *p = svc->priv;
	char id[300], path[PATH_MAX + 320], tmp[PATH_MAX + 340];
	const char *how = "";
	struct snapshot s;
	int r;

	if ((r = check_snapshot_room(svc, src, e)) < 0)
		return r;
	r = -EEXIST;

	for (int tries = 0; r == -EEXIST && tries < ID_TRIES; tries++) {
		err_clear(e);
		if ((r = records_next_snapshot_id(svc, volume_id, id, sizeof(id), e)) < 0 ||
		    (r = snap_path(p->dir, id, path, sizeof(path), e)) < 0 ||
		    (r = snap_side(p->dir, id, "new", tmp, sizeof(tmp), e)) < 0)
			return r;
		if (access(path, F_OK) == 0) {
			r = -EEXIST; /* a file left by an earlier store: never reuse it */
			continue;
		}
		r = clone(clone_arg, tmp, &how, e);
	}
	if (r < 0)
		return r;
	if ((r = fill(fill_arg, id, how, &s, e)) < 0)
		goto fail;
	fault_point("loop.snapshot.before-record");
	if ((r = store_snapshot_insert(svc->store, svc->name, &s, e)) < 0)
		goto fail;
	fault_point("loop.snapshot.after-record");
	if ((r = loop_name_after_record(tmp, path, e)) < 0) {
		store_snapshot_delete(svc->store, svc->name, id, NULL);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	snapshot_release(&s);
	sys_unlink(tmp);
	return r;
}

struct vol_snap {
	const struct volume *v;
	const char *img;
	const struct volume_snapshot_req *req;
	const char *consistency;
};

static int clone_volume(void *arg, const char *dst, const char **how, struct err *e)
{
	struct vol_snap *vs = arg;

	return clone_image(vs->v, vs->img, dst, &vs->consistency, how, e);
}

/* The fields ours adds: how it was made and what consistency it has. */
static json_t *made_fields(const char *how, const char *consistency)
{
	return json_pack("{s:s,s:s}", "clone", how && *how ? how : "copy", "consistency",
			 consistency);
}

static int fill_volume_snapshot(void *arg, const char *id, const char *how, struct snapshot *out,
				struct err *e)
{
	struct vol_snap *vs = arg;
	json_t *extra = made_fields(how, vs->consistency);
	int r = extra ? records_snapshot_of(vs->v, id, vs->req->snapshot_name,
					    vs->req->description, vs->req->opts, extra, out, e)
		      : err_set(e, -ENOMEM, "out of memory");

	json_decref(extra);
	return r;
}

int loop_volume_snapshot(struct service *svc, const char *volume_id,
			 const struct volume_snapshot_req *req, struct snapshot *out,
			 struct err *e)
{
	char img[PATH_MAX + 64];
	struct volume v;
	struct vol_snap vs = { &v, img, req, "" };
	int r;

	if ((r = volume_and_image(svc, volume_id, &v, img, sizeof(img), e)) < 0)
		return r;
	r = new_snapshot(svc, volume_id, img, clone_volume, &vs, fill_volume_snapshot, &vs, out, e);
	volume_release(&v);
	return r;
}

struct snap_src {
	const struct snapshot *s;
	const char *path;
	const struct snapshot_copy_req *req;
};

static int clone_file_plain(const char *src, const char *dst, const char *what, const char **how,
			    struct err *e)
{
	struct clone_job job = { .src = src, .dst = dst, .what = what };
	int r = run_clone(&job, e);

	if (r == 0) {
		*how = job.res.how;
		copy_format_mark(src, dst);
	}
	return r;
}

static int clone_snapshot(void *arg, const char *dst, const char **how, struct err *e)
{
	struct snap_src *ss = arg;

	return clone_file_plain(ss->path, dst, ss->s->id, how, e);
}

static int fill_snapshot_copy(void *arg, const char *id, const char *how, struct snapshot *out,
			      struct err *e)
{
	struct snap_src *ss = arg;
	const char *consistency = ss->s->fields ?
		json_string_value(json_object_get(ss->s->fields, "consistency")) : NULL;
	struct volume v = { .id = ss->s->volume_id, .size = ss->s->volume_size,
			    .encrypted = ss->s->encrypted };
	json_t *extra = made_fields(how, consistency ? consistency : "crash-consistent");
	int r;

	if (!extra)
		return err_set(e, -ENOMEM, "out of memory");
	r = records_snapshot_of(&v, id, ss->req->snapshot_name, ss->s->description, ss->req->opts,
				extra, out, e);
	json_decref(extra);
	return r;
}

/* The snapshot and its file, which must be there. */
static int snapshot_and_file(struct service *svc, const char *id, struct snapshot *s,
			     char *path, size_t sz, struct err *e)
{
	struct loop_priv *p = svc->priv;
	int r;

	if ((r = store_snapshot_get(svc->store, svc->name, id, s, e)) < 0)
		return r;
	if ((r = snap_path(p->dir, id, path, sz, e)) == 0 && access(path, F_OK) < 0)
		r = err_set(e, -EIO, "loop: the file of snapshot %s is missing: '%s'", id, path);
	if (r < 0)
		snapshot_release(s);
	return r;
}

int loop_snapshot_copy(struct service *svc, const char *id, const struct snapshot_copy_req *req,
		       struct snapshot *out, struct err *e)
{
	char path[PATH_MAX + 320];
	struct snapshot s;
	struct snap_src ss = { &s, path, req };
	int r;

	if ((r = snapshot_and_file(svc, id, &s, path, sizeof(path), e)) < 0)
		return r;
	r = new_snapshot(svc, s.volume_id && *s.volume_id ? s.volume_id : id, path, clone_snapshot,
			 &ss, fill_snapshot_copy, &ss, out, e);
	snapshot_release(&s);
	return r;
}

int loop_snapshot_remove(struct service *svc, const char *id, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char path[PATH_MAX + 320], gone[PATH_MAX + 340];
	struct snapshot s;
	int r;

	if ((r = store_snapshot_get(svc->store, svc->name, id, &s, e)) < 0)
		return r;
	snapshot_release(&s);
	if ((r = snap_path(p->dir, id, path, sizeof(path), e)) < 0 ||
	    (r = snap_side(p->dir, id, "gone", gone, sizeof(gone), e)) < 0)
		return r;
	/* the file aside first, then the record: a crash between leaves the
	 * record, and the next start puts the file back */
	if (sys_rename(path, gone) < 0 && errno != ENOENT)
		return err_set(e, -errno, "loop: cannot remove '%s': %s", path, strerror(errno));
	if ((r = fs_fsync_dir(p->dir)) < 0) {
		sys_rename(gone, path);
		return err_set(e, r, "loop: cannot sync '%s': %s", p->dir, strerror(-r));
	}
	fault_point("loop.snapremove.after-rename");
	if ((r = store_snapshot_delete(svc->store, svc->name, id, e)) < 0) {
		sys_rename(gone, path);
		return r;
	}
	if (sys_unlink(gone) < 0 && errno != ENOENT)
		log_warn("loop: snapshot %s removed but '%s' stays: %s", id, gone, strerror(errno));
	return 0;
}

/* Make the file at path bytes long when it is shorter (allocated first
 * with preallocate), durably. */
static int grow_file(const char *path, uint64_t bytes, bool preallocate, struct err *e)
{
	struct stat st;
	int fd = sys_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC), r = 0;

	if (fd < 0)
		return err_set(e, -errno, "loop: cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if ((uint64_t)st.st_size < bytes &&
		 ((preallocate && (r = -loop_preallocate(fd, bytes)) < 0) ||
		  sys_ftruncate(fd, (off_t)bytes) < 0 || sys_fsync(fd) < 0))
		r = r < 0 ? r : -errno;
	close(fd);
	if (r < 0)
		return err_set(e, r, "loop: cannot grow '%s' to %llu GiB: %s", path,
			       (unsigned long long)(bytes / GIB), strerror(-r));
	return 0;
}

/* ---- new volumes from a snapshot or a volume ---- */

/*
 * Make a new volume: a fresh id, src cloned under ".<id>.img.new" (grown
 * to size GiB when bigger), the record from tmpl (name, type, fields...),
 * then the image's name.
 */
static int new_volume(struct service *svc, const char *what,
		      int (*clone)(void *arg, const char *dst, const char **how, struct err *e),
		      void *clone_arg, const struct volume *tmpl, struct volume *out,
		      struct err *e)
{
	struct loop_priv *p = svc->priv;
	char id[32], img[PATH_MAX + 64], tmp[PATH_MAX + 300];
	const char *how = "";
	struct volume v = { 0 };
	int r = -EEXIST;

	if ((r = loop_check_capacity(svc, tmpl->size, e)) < 0)
		return r;
	r = -EEXIST;
	for (int tries = 0; r == -EEXIST && tries < ID_TRIES; tries++) {
		int64_t seq;

		err_clear(e);
		if ((r = store_next_seq(svc->store, svc->name, "volume", &seq, e)) < 0)
			return r;
		snprintf(id, sizeof(id), "loop-%03lld", (long long)seq);
		if ((r = loop_image_path(p->dir, id, img, sizeof(img), e)) < 0 ||
		    (r = loop_side_path(p->dir, id, "new", tmp, sizeof(tmp), e)) < 0)
			return r;
		if (access(img, F_OK) == 0) {
			r = -EEXIST;
			continue;
		}
		r = clone(clone_arg, tmp, &how, e);
	}
	if (r < 0)
		return r;
	if ((r = grow_file(tmp, (uint64_t)tmpl->size * GIB, false, e)) < 0)
		goto fail;
	if ((r = volume_copy(&v, tmpl)) < 0) {
		r = err_set(e, r, "out of memory");
		goto fail;
	}
	free(v.id);
	free(v.status);
	v.id = strdup(id);
	v.status = strdup(img);
	v.attachment_state = 0;
	if (!v.id || !v.status) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	fault_point("loop.clone.before-record");
	if ((r = store_volume_insert(svc->store, svc->name, &v, e)) < 0)
		goto fail;
	fault_point("loop.clone.after-record");
	if ((r = loop_name_after_record(tmp, img, e)) < 0) {
		store_volume_delete(svc->store, svc->name, id, NULL);
		goto fail;
	}
	log_info("loop: volume %s (%s) made from %s by %s", v.name, id, what,
		 how && *how ? how : "copy");
	*out = v;
	return 0;
fail:
	volume_release(&v);
	sys_unlink(tmp);
	return r;
}

int loop_volume_create_from_snapshot(struct service *svc, const char *snapshot_id,
				     const struct volume_create_req *req, struct volume *out,
				     struct err *e)
{
	char path[PATH_MAX + 320];
	struct snapshot s;
	struct snap_src ss = { &s, path, NULL };
	struct volume tmpl = { 0 };
	bool oom = false;
	int r;

	if ((r = snapshot_and_file(svc, snapshot_id, &s, path, sizeof(path), e)) < 0)
		return r;
	tmpl.size = req->has_size ? req->size : s.volume_size;
	if (tmpl.size < s.volume_size) {
		r = err_set(e, -EINVAL, "size %lld GiB: a volume from snapshot %s needs at least "
			    "its %lld GiB", (long long)tmpl.size, snapshot_id,
			    (long long)s.volume_size);
		goto out;
	}
	tmpl.name = req->name;
	tmpl.type = req->type ? req->type : "";
	tmpl.availability_zone = req->availability_zone;
	tmpl.iops = req->has_iops ? req->iops : 0;
	tmpl.encrypted = s.encrypted;
	tmpl.fields = records_fields_of(req->opts, &oom);
	if (oom)
		r = err_set(e, -ENOMEM, "out of memory");
	else
		r = new_volume(svc, snapshot_id, clone_snapshot, &ss, &tmpl, out, e);
	json_decref(tmpl.fields);
out:
	snapshot_release(&s);
	return r;
}

int loop_volume_copy(struct service *svc, const char *volume_id,
		     const struct volume_copy_req *req, struct volume *out, struct err *e)
{
	char img[PATH_MAX + 64];
	struct volume v, tmpl;
	struct vol_snap vs = { &v, img, NULL, "" };
	int r;

	if ((r = volume_and_image(svc, volume_id, &v, img, sizeof(img), e)) < 0)
		return r;
	/* the copy has the source's size, type, zone, IOPS and fields */
	tmpl = v;
	tmpl.name = req->volume_name;
	tmpl.attachments = NULL;
	tmpl.n_attachments = 0;
	r = new_volume(svc, volume_id, clone_volume, &vs, &tmpl, out, e);
	if (r == 0)
		log_info("loop: the copy %s of %s is %s", out->id, volume_id, vs.consistency);
	volume_release(&v);
	return r;
}

/* ---- resize ---- */

/*
 * The devices bound to img on this host see its new size, and a mounted
 * filesystem on one grows to it; one not mounted here grows at its next
 * mount (integration). Idempotent: a retry after a failure finishes.
 */
static int grow_here(const char *name, const char *img, struct err *e)
{
	char devs[MAX_DEVS][LOOPDEV_PATH_MAX], **mps = NULL, fstype[64] = "";
	size_t n = 0;
	int r;

	if ((r = loopdev_list_for_file(img, devs, MAX_DEVS, &n, e)) < 0)
		return r;
	for (size_t i = 0; i < n && i < MAX_DEVS; i++) {
		if ((r = loopdev_set_capacity(devs[i], e)) < 0)
			return err_prefix(e, "volume '%s'", name);
		if (mount_points_of(devs[i], &mps, NULL) > 0 &&
		    (r = osfs_probe(devs[i], fstype, sizeof(fstype), e)) == 0 && fstype[0])
			r = osfs_grow(devs[i], mps[0], fstype, GROW_TIMEOUT_MS, e);
		mount_points_free(mps);
		mps = NULL;
		if (r == -EPERM) { /* ext4 online needs CAP_SYS_RESOURCE */
			log_warn("loop: volume '%s' is bigger now; its filesystem grows at its next "
				 "mount: %s", name, e->msg);
			err_clear(e);
			r = 0;
		}
		if (r < 0)
			return err_prefix(e, "volume '%s' is bigger now, but its filesystem on %s "
					  "did not grow (resize again to retry)", name, devs[i]);
	}
	return 0;
}

int loop_volume_resize(struct service *svc, const char *volume_id, int64_t size,
		       struct volume *out, struct err *e)
{
	struct loop_priv *p = svc->priv;
	char img[PATH_MAX + 64];
	struct volume v;
	int r;

	if ((r = volume_and_image(svc, volume_id, &v, img, sizeof(img), e)) < 0)
		return r;
	if (size < v.size) {
		r = err_set(e, -EINVAL, "cannot shrink volume '%s' from %lld to %lld GiB: volumes "
			    "only grow (a filesystem cannot give back its end safely); make a "
			    "smaller volume and copy the data", v.name, (long long)v.size,
			    (long long)size);
		goto out;
	}
	if (size > v.size) {
		/* the file first, then the record: a crash between leaves a
		 * bigger image under the old size, which a retry finishes */
		if ((r = loop_check_capacity(svc, size - v.size, e)) < 0 ||
		    (r = grow_file(img, (uint64_t)size * GIB, p->preallocate, e)) < 0)
			goto out;
		fault_point("loop.resize.after-file");
		v.size = size;
		if ((r = store_volume_update(svc->store, svc->name, &v, e)) < 0)
			goto out;
	}
	if ((r = grow_here(v.name, img, e)) < 0)
		goto out;
	*out = v;
	return 0;
out:
	volume_release(&v);
	return r;
}

/* ---- start-up ---- */

/* ".<sid>.snap.new": named when its record exists, else dropped;
 * ".<sid>.snap.gone": back when its record exists, else deleted;
 * ".<name>.tmp-XXXXXX": a clone cut short, deleted. */
void loop_sweep_snapshots(struct service *svc)
{
	struct loop_priv *p = svc->priv;
	char path[PATH_MAX + 300], snap[PATH_MAX + 320], id[300];
	struct dirent *de;
	DIR *d = opendir(p->dir);

	while (d && (de = readdir(d)) != NULL) {
		const char *n = de->d_name, *suffix;
		size_t len = strlen(n);
		struct snapshot s;
		bool has_record, is_new;

		if (n[0] != '.')
			continue;
		if (len > 11 && strncmp(n + len - 11, ".tmp-", 5) == 0) {
			/* os/clone's hidden temp, on a filesystem without
			 * O_TMPFILE, of a clone the engine stopped in */
			snprintf(path, sizeof(path), "%s/%s", p->dir, n);
			if (!records_sweep_may_touch(svc, path))
				continue;
			log_warn("loop: dropping '%s' left by an interrupted copy", path);
			sys_unlink(path);
			continue;
		}
		if (len > 10 && strcmp(n + len - 9, ".snap.new") == 0)
			suffix = "new";
		else if (len > 11 && strcmp(n + len - 10, ".snap.gone") == 0)
			suffix = "gone";
		else
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(len - 1 - 6 - strlen(suffix)), n + 1);
		snprintf(path, sizeof(path), "%s/%s", p->dir, n);
		is_new = strcmp(suffix, "new") == 0;
		/* as for images (loop.c's sweep): a committed ".new" is anyone's
		 * to finish, a ".gone" may be a remove in progress elsewhere */
		if (snap_path(p->dir, id, snap, sizeof(snap), NULL) < 0 ||
		    (!is_new && !records_sweep_may_touch(svc, path)))
			continue;
		has_record = store_snapshot_get(svc->store, svc->name, id, &s, NULL) == 0;
		if (has_record)
			snapshot_release(&s);
		loop_settle_leftover(svc, path, snap, is_new, has_record, "snapshot", "snapshot ",
				     id);
	}
	if (d)
		closedir(d);
}
