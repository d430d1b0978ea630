/*
 * snapshot: the service layer of snapshots, copies and resize (the
 * version 3 slots of the driver table). Calls on one volume are
 * serialized with its attach, detach and remove (the volume's key lock);
 * calls on one snapshot with each other (the snapshot's); a new volume's
 * name as every create's. Locks are always taken in that order: volume or
 * snapshot first, then the new name.
 */
#include "server/service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/service_int.h"
#include "util/log.h"
#include "util/names.h"

static void snapshot_key(char *buf, size_t sz, const struct service *svc, const char *id)
{
	snprintf(buf, sz, "%s\nsnap\n%s", svc->name, id);
}

/* The service and a good ID (when id is not NULL); NULL with *r set. */
static struct service *start(struct ls_server *srv, const char *name, const char *id, int *r,
			     struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);

	*r = -ENOENT;
	if (!svc)
		return NULL;
	if (id && (*r = lsi_check_id(id, e)) < 0)
		return NULL;
	return svc;
}

/* A driver older than the snapshot slots has none of them. */
static bool v3(const struct service *svc)
{
	return svc->drv->version >= STORAGE_DRIVER_V_SNAPSHOTS;
}

static int unsupported(const struct service *svc, const char *what, struct err *e)
{
	return err_set(e, -ENOTSUP, "driver '%s' cannot %s", svc->drv->name, what);
}

/* A snapshot's name follows the volume name rules (util/names.h). */
static int snapshot_name_check(const char *name, struct err *e)
{
	int r = volume_name_check(name, e);

	return r < 0 ? err_prefix(e, "snapshot name") : 0;
}

int ls_snapshots(struct ls_server *srv, const char *name, struct snapshot_list *out,
		 struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);

	memset(out, 0, sizeof(*out));
	if (!svc)
		return -ENOENT;
	/* a driver without snapshots has none: a listing of every service
	 * must not fail for it */
	return v3(svc) && svc->drv->snapshots ? svc->drv->snapshots(svc, out, e) : 0;
}

int ls_snapshot_inspect(struct ls_server *srv, const char *name, const char *id,
			struct snapshot *out, struct err *e)
{
	int r;
	struct service *svc = start(srv, name, id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->snapshot_inspect)
		return unsupported(svc, "inspect snapshots", e);
	return svc->drv->snapshot_inspect(svc, id, out, e);
}

int ls_volume_snapshot(struct ls_server *srv, const char *name, const char *volume_id,
		       const struct volume_snapshot_req *req, struct snapshot *out, struct err *e)
{
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, volume_id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->volume_snapshot)
		return unsupported(svc, "take snapshots", e);
	if ((r = snapshot_name_check(req->snapshot_name, e)) < 0)
		return r;
	lsi_volume_key(key, sizeof(key), svc, volume_id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = svc->drv->volume_snapshot(svc, volume_id, req, out, e);
	lsi_unlock(srv, key, held);
	if (r == 0)
		log_info("service %s: snapshot %s (%s) of volume %s", svc->name, out->id,
			 out->name ? out->name : "", volume_id);
	return r;
}

int ls_snapshot_remove(struct ls_server *srv, const char *name, const char *id,
		       struct err *e)
{
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->snapshot_remove)
		return unsupported(svc, "remove snapshots", e);
	snapshot_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = svc->drv->snapshot_remove(svc, id, e);
	lsi_unlock(srv, key, held);
	if (r == 0)
		log_info("service %s: removed snapshot %s", svc->name, id);
	return r;
}

int ls_snapshot_copy(struct ls_server *srv, const char *name, const char *id,
		     const struct snapshot_copy_req *req, struct snapshot *out, struct err *e)
{
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->snapshot_copy)
		return unsupported(svc, "copy snapshots", e);
	if ((r = snapshot_name_check(req->snapshot_name, e)) < 0)
		return r;
	/* REX-Ray's cloud drivers copy to another region; a local service's
	 * snapshots stay in it */
	if (req->destination_id && *req->destination_id &&
	    strcasecmp(req->destination_id, svc->name) != 0)
		return err_set(e, -EINVAL, "destinationID '%s': a snapshot is copied within its "
			       "service; give '%s' or leave it empty", req->destination_id,
			       svc->name);
	snapshot_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = svc->drv->snapshot_copy(svc, id, req, out, e);
	lsi_unlock(srv, key, held);
	if (r == 0)
		log_info("service %s: copied snapshot %s to %s (%s)", svc->name, id, out->id,
			 out->name ? out->name : "");
	return r;
}

struct from {
	const char *id;
	const void *req;
};

static int make_from_snapshot(struct service *svc, void *arg, struct volume *out, struct err *e)
{
	const struct from *f = arg;

	return svc->drv->volume_create_from_snapshot(svc, f->id, f->req, out, e);
}

int ls_snapshot_create_volume(struct ls_server *srv, const char *name, const char *id,
			      const struct volume_create_req *req, struct volume *out,
			      struct err *e)
{
	struct from f = { id, req };
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->volume_create_from_snapshot)
		return unsupported(svc, "create volumes from snapshots", e);
	if ((r = lsi_check_create(req, e)) < 0)
		return r;
	snapshot_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = lsi_create_named(srv, svc, req->name, make_from_snapshot, &f, false, out, e);
	lsi_unlock(srv, key, held);
	return r;
}

static int make_copy(struct service *svc, void *arg, struct volume *out, struct err *e)
{
	const struct from *f = arg;

	return svc->drv->volume_copy(svc, f->id, f->req, out, e);
}

int ls_volume_copy(struct ls_server *srv, const char *name, const char *volume_id,
		   const struct volume_copy_req *req, struct volume *out, struct err *e)
{
	struct from f = { volume_id, req };
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, volume_id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->volume_copy)
		return unsupported(svc, "copy volumes", e);
	lsi_volume_key(key, sizeof(key), svc, volume_id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = lsi_create_named(srv, svc, req->volume_name, make_copy, &f, false, out, e);
	lsi_unlock(srv, key, held);
	return r;
}

int ls_service_capacity(struct ls_server *srv, const char *name, int64_t *available,
			struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);

	if (!svc)
		return -ENOENT;
	if (svc->drv->version < STORAGE_DRIVER_V_CAPACITY || !svc->drv->capacity)
		return unsupported(svc, "tell its free space", e);
	return svc->drv->capacity(svc, available, e);
}

int ls_volume_resize(struct ls_server *srv, const char *name, const char *volume_id,
		     const struct volume_resize_req *req, struct volume *out, struct err *e)
{
	char key[400];
	struct store_key_lock *held = NULL;
	int r;
	struct service *svc = start(srv, name, volume_id, &r, e);

	if (!svc)
		return r;
	if (!v3(svc) || !svc->drv->volume_resize)
		return unsupported(svc, "resize volumes", e);
	if (req->size < 1 || req->size > (1LL << 20))
		return err_set(e, -EINVAL, "size %lld is out of range 1-%lld GiB",
			       (long long)req->size, 1LL << 20);
	lsi_volume_key(key, sizeof(key), svc, volume_id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = svc->drv->volume_resize(svc, volume_id, req->size, out, e);
	lsi_unlock(srv, key, held);
	if (r == 0)
		log_info("service %s: volume %s is now %lld GiB", svc->name, volume_id,
			 (long long)out->size);
	return r;
}
