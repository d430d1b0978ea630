/*
 * vfs: the reference driver. A volume is a directory <vfs.root>/vol/<id>
 * plus its record in the store (the original kept JSON files; the store
 * gives us transactions). Ids are vfs-000, vfs-001, ... per service.
 *
 * One attachment at a time, like a block volume: attaching a volume held
 * by another instance needs force, which takes it over. The attach token
 * and device name are the requested next device, or the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/driver.h"
#include "drivers/records.h"
#include "os/clone.h"
#include "os/fs.h"
#include "os/mountinfo.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/sys.h"

struct vfs_priv {
	char root[PATH_MAX];
};

/* vfs.root (default <lib>/vfs), absolute. */
static int vfs_root(const struct cfg *cfg, const char *const *scopes, const struct paths *paths,
		    char *out, size_t outsz, struct err *e)
{
	char def[PATH_MAX];
	const char *root;

	if (path_join(def, sizeof(def), paths->lib, "vfs") < 0)
		return err_set(e, -ENAMETOOLONG, "vfs: library path too long");
	cfg_key_str_or(cfg, scopes, CFGK_VFS_ROOT, def, &root);
	if (!root || root[0] != '/')
		return err_set(e, -EINVAL, "config: vfs.root: invalid value '%s': expected an "
			       "absolute path", root ? root : "");
	if (strlen(root) + 64 >= outsz)
		return err_set(e, -ENAMETOOLONG, "config: vfs.root: path too long");
	strcpy(out, root);
	return 0;
}

/* Is there a record of volume id in this service? 1, 0, or -errno. */
static int recorded(struct service *svc, const char *id)
{
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	int r = store_volume_get(svc->store, svc->name, id, &v, &e);

	volume_release(&v);
	if (r < 0 && r != -ENOENT)
		log_warn("vfs: %s", e.msg);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

/* Is there a record of snapshot id? 1, 0, or -errno. */
static int snap_recorded(struct service *svc, const char *id)
{
	struct snapshot s = { 0 };
	struct err e = ERR_INIT;
	int r = store_snapshot_get(svc->store, svc->name, id, &s, &e);

	snapshot_release(&s);
	if (r < 0 && r != -ENOENT)
		log_warn("vfs: %s", e.msg);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

/*
 * Finish what a create or remove left half-done (a crash, or a fault that
 * also failed its undo), by what the record says:
 *   "<id>.new"   (vfs_volume_create): recorded, it becomes "<id>"; not,
 *                it goes (empty: nothing can have used it)
 *   "<id>.gone"  (vfs_volume_remove): recorded, the remove failed and it
 *                is put back; not, its files are deleted now
 * The server that claimed the database runs this: no create or remove of
 * another is half-way meanwhile; on a shared database, only what is old
 * enough (records_sweep_may_touch).
 */
static int recorded(struct service *svc, const char *id);
static int snap_recorded(struct service *svc, const char *id);

static void sweep_dir(struct service *svc, const char *vol,
		      int (*has_record)(struct service *svc, const char *id));

static void sweep(struct service *svc, const char *vol)
{
	sweep_dir(svc, vol, recorded);
}

/* The clones os/clone was building when the engine stopped: its hidden
 * siblings "<name>.tmp-XXXXXX", never anyone else's. */
static void drop_clone_leftovers(struct service *svc, const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *d;
	DIR *dp = opendir(dir);
	int r;

	while (dp && (d = readdir(dp))) {
		const char *t = strstr(d->d_name, ".tmp-");
		if (!t || strlen(t) != 11)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (!records_sweep_may_touch(svc, path))
			continue;
		if ((r = fs_remove_tree(path)) < 0 && r != -ENOENT)
			log_warn("vfs: cannot delete '%s' (an interrupted copy): %s", path,
				 strerror(-r));
		else
			log_warn("vfs: deleted '%s' (an interrupted copy)", path);
	}
	if (dp)
		closedir(dp);
}

static void sweep_dir(struct service *svc, const char *vol,
		      int (*has_record)(struct service *svc, const char *id))
{
	char path[PATH_MAX + 300], dir[PATH_MAX + 300], id[256];
	struct dirent *d;
	DIR *dp = opendir(vol);
	int r, rec;

	while (dp && (d = readdir(dp))) {
		size_t n = strlen(d->d_name);
		bool gone = n > 5 && strcmp(d->d_name + n - 5, ".gone") == 0;
		bool made = n > 4 && strcmp(d->d_name + n - 4, ".new") == 0;

		if ((!gone && !made) || n - (gone ? 5 : 4) >= sizeof(id))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(n - (gone ? 5 : 4)), d->d_name);
		snprintf(path, sizeof(path), "%s/%s", vol, d->d_name);
		snprintf(dir, sizeof(dir), "%s/%s", vol, id);
		if (!records_sweep_may_touch(svc, path) || (rec = has_record(svc, id)) < 0)
			continue;
		if (rec) {
			if (sys_rename(path, dir) < 0)
				log_warn("vfs: cannot put '%s' back as '%s': %s", path, dir,
					 strerror(errno));
			else
				log_warn("vfs: volume %s: '%s' put back (an operation on it had "
					 "stopped half-way)", id, path);
		} else if ((r = fs_remove_tree(path)) < 0 && r != -ENOENT) {
			/* a ".new" is empty, or a clone (snapshot, copy) of ours */
			log_warn("vfs: cannot delete '%s' (left by a %s): %s", path,
				 made ? "create" : "remove", strerror(-r));
		}
	}
	if (dp)
		closedir(dp);
	drop_clone_leftovers(svc, vol);
}

static int vfs_init(struct service *svc, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char vol[PATH_MAX + 8];
	int r;

	if ((r = vfs_root(svc->cfg, svc->scopes, svc->paths, p->root, sizeof(p->root), e)) < 0)
		return r;
	snprintf(vol, sizeof(vol), "%s/vol", p->root);
	if ((r = fs_mkdir_p(vol, 0755)) < 0)
		return err_set(e, r, "vfs: cannot create '%s': %s", vol, strerror(-r));
	if ((r = fs_fsync_dirs_up(vol)) < 0)
		return err_set(e, r, "vfs: cannot sync '%s': %s", vol, strerror(-r));
	sweep(svc, vol);
	snprintf(vol, sizeof(vol), "%s/snap", p->root);
	if ((r = fs_mkdir_p(vol, 0700)) < 0)
		return err_set(e, r, "vfs: cannot create '%s': %s", vol, strerror(-r));
	if ((r = fs_fsync_dirs_up(vol)) < 0)
		return err_set(e, r, "vfs: cannot sync '%s': %s", vol, strerror(-r));
	sweep_dir(svc, vol, snap_recorded);
	return 0;
}

static void vol_dir(const struct vfs_priv *p, const char *id, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/vol/%s", p->root, id);
}

static int fsync_vol_dir(const struct vfs_priv *p)
{
	char vol[PATH_MAX + 8];

	snprintf(vol, sizeof(vol), "%s/vol", p->root);
	return fs_fsync_dir(vol);
}

/* A create whose record is committed but whose directory could not take
 * its name: the record goes again. What fails here too, the sweep of the
 * next start finishes (the record decides). */
static void undo_create(struct service *svc, const char *id, const char *made)
{
	struct err e = ERR_INIT;

	if (store_volume_delete(svc->store, svc->name, id, &e) < 0)
		log_warn("vfs: volume %s stays half-made until the next start: %s", id, e.msg);
	else
		sys_rmdir(made);
}

static int vfs_volume_create(struct service *svc, const struct volume_create_req *req,
			     struct volume *out, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	struct volume v = { 0 };
	char id[32], dir[PATH_MAX + 64], made[PATH_MAX + 70];
	bool oom;
	int64_t seq;
	int r;

	if ((r = store_next_seq(svc->store, svc->name, "volume", &seq, e)) < 0)
		return r;
	snprintf(id, sizeof(id), "vfs-%03lld", (long long)seq);
	v.id = strdup(id);
	v.name = strdup(req->name);
	v.type = strdup(req->type ? req->type : "");
	v.availability_zone = req->availability_zone ? strdup(req->availability_zone) : NULL;
	v.size = req->has_size && req->size > 0 ? req->size : 1;
	v.iops = req->has_iops ? req->iops : 0;
	v.encrypted = req->has_encrypted && req->encrypted;
	v.fields = records_fields_of(req->opts, &oom);
	if (!v.id || !v.name || !v.type || oom ||
	    (req->availability_zone && !v.availability_zone)) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	vol_dir(p, id, dir, sizeof(dir));
	snprintf(made, sizeof(made), "%s.new", dir);
	/* the record first: the unique name constraint decides races between
	 * creates. The directory is made as "<id>.new" and takes its name once
	 * the record is committed: whatever fails, the sweep of the next start
	 * finishes it by the record (see sweep) */
	if ((r = store_begin(svc->store, e)) < 0)
		goto out;
	if ((r = store_volume_insert(svc->store, svc->name, &v, e)) < 0) {
		store_rollback(svc->store);
		goto out;
	}
	if (sys_mkdir(made, 0755) < 0 && errno != EEXIST) {
		r = err_set(e, -errno, "vfs: cannot create '%s': %s", made, strerror(errno));
		store_rollback(svc->store);
		goto out;
	}
	/* the directory on disk before the record: a power loss never leaves
	 * a durable record without its directory */
	if ((r = fsync_vol_dir(p)) < 0) {
		err_set(e, r, "vfs: cannot sync '%s': %s", made, strerror(-r));
		sys_rmdir(made);
		store_rollback(svc->store);
		goto out;
	}
	if ((r = store_commit(svc->store, e)) < 0) {
		sys_rmdir(made);
		goto out;
	}
	if (sys_rename(made, dir) < 0) {
		r = err_set(e, -errno, "vfs: cannot create '%s': %s", dir, strerror(errno));
		undo_create(svc, id, made);
		goto out;
	}
	/* no fsync of the rename (as loop's create): a power loss that forgets
	 * it leaves a durable "<id>.new" with a durable record, which the next
	 * start's sweep names before anything is served; the volume's files
	 * live in the directory itself, whichever name it has */
	*out = v;
	return 0;
out:
	volume_release(&v);
	return r;
}

static int vfs_volume_remove(struct service *svc, const char *id, bool force, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 64], gone[PATH_MAX + 70];
	char *bound;
	int r;

	if ((r = records_check_removable(svc, id, force, e)) < 0)
		return r;
	vol_dir(p, id, dir, sizeof(dir));
	/* forced or not: never delete a directory that is mounted (in use) */
	if ((bound = osfs_bind_mount_of(dir)) != NULL) {
		r = err_set(e, -EBUSY, "cannot remove volume %s: it is mounted at '%s'; unmount "
			    "it first (rexray volume unmount)", id, bound);
		free(bound);
		return r;
	}
	/* the directory aside first, then the record, then the files: a
	 * failure before the record is gone puts the directory back, one
	 * after it leaves "<id>.gone", which the next start deletes */
	snprintf(gone, sizeof(gone), "%s.gone", dir);
	if (sys_rename(dir, gone) < 0 && errno != ENOENT)
		return err_set(e, -errno, "vfs: cannot remove '%s': %s", dir, strerror(errno));
	/* the ".gone" name on disk before the record goes: after a power loss
	 * a directory never outlives its record under its live name */
	if ((r = fsync_vol_dir(p)) < 0) {
		sys_rename(gone, dir);
		return err_set(e, r, "vfs: cannot sync '%s': %s", gone, strerror(-r));
	}
	if ((r = store_volume_delete(svc->store, svc->name, id, e)) < 0) {
		if (sys_rename(gone, dir) < 0 && errno != ENOENT)
			log_error("vfs: volume %s keeps its record but its files are at '%s': %s",
				  id, gone, strerror(errno));
		return r;
	}
	if ((r = fs_remove_tree(gone)) < 0 && r != -ENOENT)
		log_warn("vfs: volume %s removed; '%s' is deleted at the next start: %s", id,
			 gone, strerror(-r));
	return 0;
}

static int vfs_volume_attach(struct service *svc, const char *id, const struct attach_opts *o,
			     struct volume *out, char **token, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 64];
	const char *device;
	int r;

	vol_dir(p, id, dir, sizeof(dir));
	device = o->next_device && *o->next_device ? o->next_device : dir;
	if ((r = records_attach(svc, id, o, device, out, e)) < 0)
		return r;
	if (token && !(*token = strdup(device))) {
		volume_release(out);
		return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- snapshots and copies: trees copied by os/clone ----
 *
 * A snapshot is the directory <root>/snap/<sid>, a copy of the volume's
 * tree as os/clone makes it (no symbolic link followed, device nodes left
 * out, a reflink per file where the filesystem can). It is made as
 * "<sid>.new", named once its record is committed (sweep settles a crash
 * between), and removed as a volume is. A directory cannot be frozen: a
 * snapshot of a volume in use is crash-consistent, and says so. */

static void snap_dir(const struct vfs_priv *p, const char *id, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/snap/%s", p->root, id);
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX + 400];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return fs_fsync_dir(dir);
}

/* Clone the tree src into the new directory made (which must not exist). */
static int clone_tree(const char *src, const char *made, const char **how, struct err *e)
{
	struct osclone_result res;
	int r = osclone_tree(src, made, NULL, &res, e);

	if (r == 0) {
		*how = res.how && *res.how ? res.how : "copy";
		if (res.skipped)
			log_warn("vfs: %llu device node(s) or mount(s) inside '%s' were not copied",
				 (unsigned long long)res.skipped, src);
		if ((r = fsync_parent(made)) < 0)
			err_set(e, r, "vfs: cannot sync '%s': %s", made, strerror(-r));
	}
	return r;
}

static int vfs_snapshots(struct service *svc, struct snapshot_list *out, struct err *e)
{
	return records_snapshots(svc, out, e);
}

static int vfs_snapshot_inspect(struct service *svc, const char *id, struct snapshot *out,
				struct err *e)
{
	return records_snapshot_inspect(svc, id, out, e);
}

/* Name the finished ".new" of a record just committed; on failure the
 * record goes again (what fails here too, sweep settles). */
static int name_made(const char *made, const char *dir, struct err *e)
{
	if (sys_rename(made, dir) < 0)
		return err_set(e, -errno, "vfs: cannot name '%s': %s", dir, strerror(errno));
	fsync_parent(dir);
	return 0;
}

/* A new snapshot of volume v (or copy of the snapshot src) from the tree
 * src: its id, the clone, the record, the name. */
static int new_snapshot(struct service *svc, const struct volume *v, const char *src,
			const char *name, const char *description, const json_t *opts,
			const char *consistency, struct snapshot *out, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char id[300], dir[PATH_MAX + 320], made[PATH_MAX + 330];
	const char *how = "copy";
	struct snapshot s = { 0 };
	json_t *extra = NULL;
	int r;

	if ((r = records_next_snapshot_id(svc, v->id, id, sizeof(id), e)) < 0)
		return r;
	snap_dir(p, id, dir, sizeof(dir));
	snprintf(made, sizeof(made), "%s.new", dir);
	if ((r = clone_tree(src, made, &how, e)) < 0)
		return r;
	extra = json_pack("{s:s,s:s}", "clone", how, "consistency", consistency);
	if (!extra) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = records_snapshot_of(v, id, name, description, opts, extra, &s, e)) < 0 ||
	    (r = store_snapshot_insert(svc->store, svc->name, &s, e)) < 0)
		goto fail;
	if ((r = name_made(made, dir, e)) < 0) {
		store_snapshot_delete(svc->store, svc->name, id, NULL);
		goto fail;
	}
	json_decref(extra);
	*out = s;
	return 0;
fail:
	json_decref(extra);
	snapshot_release(&s);
	fs_remove_tree(made);
	return r;
}

static int vfs_volume_snapshot(struct service *svc, const char *volume_id,
			       const struct volume_snapshot_req *req, struct snapshot *out,
			       struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 64];
	struct volume v;
	int r;

	if ((r = store_volume_get(svc->store, svc->name, volume_id, &v, e)) < 0)
		return r;
	vol_dir(p, volume_id, dir, sizeof(dir));
	r = new_snapshot(svc, &v, dir, req->snapshot_name, req->description, req->opts,
			 v.n_attachments ? "crash-consistent" : "detached", out, e);
	volume_release(&v);
	return r;
}

static int vfs_snapshot_copy(struct service *svc, const char *id,
			     const struct snapshot_copy_req *req, struct snapshot *out,
			     struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 320];
	struct snapshot s;
	const char *c;
	int r;

	if ((r = store_snapshot_get(svc->store, svc->name, id, &s, e)) < 0)
		return r;
	snap_dir(p, id, dir, sizeof(dir));
	c = s.fields ? json_string_value(json_object_get(s.fields, "consistency")) : NULL;
	r = new_snapshot(svc, &(struct volume){ .id = s.volume_id, .size = s.volume_size,
						.encrypted = s.encrypted },
			 dir, req->snapshot_name, s.description, req->opts,
			 c ? c : "crash-consistent", out, e);
	snapshot_release(&s);
	return r;
}

static int vfs_snapshot_remove(struct service *svc, const char *id, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 320], gone[PATH_MAX + 330];
	struct snapshot s;
	int r;

	if ((r = store_snapshot_get(svc->store, svc->name, id, &s, e)) < 0)
		return r;
	snapshot_release(&s);
	snap_dir(p, id, dir, sizeof(dir));
	snprintf(gone, sizeof(gone), "%s.gone", dir);
	if (sys_rename(dir, gone) < 0 && errno != ENOENT)
		return err_set(e, -errno, "vfs: cannot remove '%s': %s", dir, strerror(errno));
	if ((r = fsync_parent(gone)) < 0 ||
	    (r = store_snapshot_delete(svc->store, svc->name, id, e)) < 0) {
		sys_rename(gone, dir);
		return e->msg[0] ? r : err_set(e, r, "vfs: cannot sync '%s': %s", gone,
					       strerror(-r));
	}
	if ((r = fs_remove_tree(gone)) < 0 && r != -ENOENT)
		log_warn("vfs: snapshot %s removed; '%s' is deleted at the next start: %s", id,
			 gone, strerror(-r));
	return 0;
}

/* A new volume from the tree src with tmpl's name, size, type, zone,
 * IOPS and fields. */
static int new_volume_from(struct service *svc, const char *src, const struct volume *tmpl,
			   struct volume *out, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char id[32], dir[PATH_MAX + 64], made[PATH_MAX + 70];
	const char *how = "copy";
	struct volume v;
	int64_t seq;
	int r;

	if ((r = store_next_seq(svc->store, svc->name, "volume", &seq, e)) < 0)
		return r;
	snprintf(id, sizeof(id), "vfs-%03lld", (long long)seq);
	vol_dir(p, id, dir, sizeof(dir));
	snprintf(made, sizeof(made), "%s.new", dir);
	if ((r = clone_tree(src, made, &how, e)) < 0)
		return r;
	if ((r = volume_copy(&v, tmpl)) < 0) {
		fs_remove_tree(made);
		return err_set(e, r, "out of memory");
	}
	free(v.id);
	v.id = strdup(id);
	v.attachment_state = 0;
	if (!v.id)
		r = err_set(e, -ENOMEM, "out of memory");
	if (r == 0 && (r = store_volume_insert(svc->store, svc->name, &v, e)) == 0 &&
	    (r = name_made(made, dir, e)) < 0)
		undo_create(svc, id, made);
	if (r < 0) {
		fs_remove_tree(made);
		volume_release(&v);
		return r;
	}
	log_info("vfs: volume %s (%s) made by %s of '%s'", v.name, id, how, src);
	*out = v;
	return 0;
}

static int vfs_volume_create_from_snapshot(struct service *svc, const char *snapshot_id,
					   const struct volume_create_req *req,
					   struct volume *out, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 320];
	struct snapshot s;
	struct volume tmpl = { 0 };
	bool oom = false;
	int r;

	if ((r = store_snapshot_get(svc->store, svc->name, snapshot_id, &s, e)) < 0)
		return r;
	snap_dir(p, snapshot_id, dir, sizeof(dir));
	tmpl.name = req->name;
	tmpl.type = req->type ? req->type : "";
	tmpl.availability_zone = req->availability_zone;
	tmpl.size = req->has_size && req->size > 0 ? req->size : s.volume_size ? s.volume_size : 1;
	tmpl.iops = req->has_iops ? req->iops : 0;
	tmpl.encrypted = s.encrypted;
	tmpl.fields = records_fields_of(req->opts, &oom);
	r = oom ? err_set(e, -ENOMEM, "out of memory") : new_volume_from(svc, dir, &tmpl, out, e);
	json_decref(tmpl.fields);
	snapshot_release(&s);
	return r;
}

static int vfs_volume_copy(struct service *svc, const char *volume_id,
			   const struct volume_copy_req *req, struct volume *out, struct err *e)
{
	struct vfs_priv *p = svc->priv;
	char dir[PATH_MAX + 64];
	struct volume v, tmpl;
	int r;

	if ((r = store_volume_get(svc->store, svc->name, volume_id, &v, e)) < 0)
		return r;
	vol_dir(p, volume_id, dir, sizeof(dir));
	tmpl = v;
	tmpl.name = req->volume_name;
	tmpl.attachments = NULL;
	tmpl.n_attachments = 0;
	r = new_volume_from(svc, dir, &tmpl, out, e);
	volume_release(&v);
	return r;
}

const struct storage_driver vfs_driver = {
	.version = STORAGE_DRIVER_VERSION,
	.name = "vfs",
	.type = ST_OBJECT,
	.priv_size = sizeof(struct vfs_priv),
	.has_next_device = true,
	.next_device = { .ignore = true, .prefix = "", .pattern = "" },
	.init = vfs_init,
	.instance_inspect = records_instance_inspect,
	.volumes = records_volumes,
	.volumes_each = records_volumes_each,
	.volume_inspect = records_volume_inspect,
	.volume_inspect_by_name = records_volume_inspect_by_name,
	.volume_view_by_name = records_volume_view_by_name,
	.volume_create = vfs_volume_create,
	.names_unique = true, /* the record's insert refuses a taken name */
	.volume_remove = vfs_volume_remove,
	.volume_attach = vfs_volume_attach,
	.volume_detach = records_detach,
	.snapshots = vfs_snapshots,
	.snapshot_inspect = vfs_snapshot_inspect,
	.volume_snapshot = vfs_volume_snapshot,
	.snapshot_remove = vfs_snapshot_remove,
	.snapshot_copy = vfs_snapshot_copy,
	.volume_create_from_snapshot = vfs_volume_create_from_snapshot,
	.volume_copy = vfs_volume_copy,
	/* no resize: a directory has no size to grow */
};

static int vfs_exec_instance_id(const struct exec_ctx *x, struct instance_id *out,
				struct err *e)
{
	return executor_default_instance_id("vfs", x, out, e);
}

static int vfs_exec_local_devices(const struct exec_ctx *x, struct local_devices *out,
				  struct err *e)
{
	(void)x;
	memset(out, 0, sizeof(*out));
	out->driver = strdup("vfs");
	if (!out->driver)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* The host sees the same vfs.root as the server (one host, or a shared
 * directory): the device of a volume is its directory. */
static int vfs_exec_device_find(const struct exec_ctx *x, const char *volume_id, char **dev,
				struct err *e)
{
	char root[PATH_MAX], path[PATH_MAX + 300];
	struct stat st;
	int r;

	if ((r = executor_dir(x, vfs_root, root, e)) < 0)
		return r;
	if (strchr(volume_id, '/') || strcmp(volume_id, "..") == 0 || strcmp(volume_id, ".") == 0)
		return err_set(e, -EINVAL, "vfs: bad volume id '%s'", volume_id);
	path_join3(path, sizeof(path), root, "vol", volume_id); /* fits: root < PATH_MAX */
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, -ENOENT, "vfs: '%s' does not exist", path);
	*dev = strdup(path);
	return *dev ? 0 : err_set(e, -ENOMEM, "out of memory");
}

static int vfs_exec_device_get(const struct exec_ctx *x, const char *volume_id, const char *token,
			       long timeout_ms, char **dev, bool *created, struct err *e)
{
	(void)token;
	(void)timeout_ms;
	*created = false;
	return vfs_exec_device_find(x, volume_id, dev, e);
}

static int vfs_exec_open(struct exec_ctx *x, struct err *e)
{
	return executor_dir_open(x, vfs_root, e);
}

const struct storage_executor vfs_executor = {
	.version = EXECUTOR_V_STORAGE, /* keeps no format record: a directory */
	.name = "vfs",
	.instance_id = vfs_exec_instance_id,
	.local_devices = vfs_exec_local_devices,
	.device_get = vfs_exec_device_get,
	.device_find = vfs_exec_device_find,
	.bind_mount = true,
	.open = vfs_exec_open,
	.close = executor_dir_close,
	.storage_path = vfs_exec_device_find, /* the directory itself */
};
