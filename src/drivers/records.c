#include "drivers/records.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"
#include "util/jsondump.h"
#include "util/log.h"
#include "util/names.h"

int records_instance_inspect(struct service *svc, const struct instance_id *in,
			     struct instance *out, struct err *e)
{
	return driver_instance_inspect_default(svc->drv->name, in, out, e);
}

int records_volumes(struct service *svc, const struct volume_query *q, struct volume_list *out,
		    struct err *e)
{
	(void)q;
	return store_volume_list(svc->store, svc->name, out, e);
}

int records_volumes_each(struct service *svc, const struct volume_query *q, volume_visit_fn fn,
			 void *arg, struct err *e)
{
	(void)q;
	return store_volume_each(svc->store, svc->name, fn, arg, e);
}

int records_volume_inspect(struct service *svc, const char *id, const struct volume_query *q,
			   struct volume *out, struct err *e)
{
	(void)q;
	return store_volume_get(svc->store, svc->name, id, out, e);
}

int records_volume_inspect_by_name(struct service *svc, const char *name,
				   const struct volume_query *q, struct volume *out,
				   struct err *e)
{
	(void)q;
	return store_volume_get_by_name(svc->store, svc->name, name, out, e);
}

int records_volume_view_by_name(struct service *svc, const char *name,
				const struct volume_query *q, volume_view_fn fn, void *arg,
				struct err *e)
{
	(void)q;
	return store_volume_view_by_name(svc->store, svc->name, name, fn, arg, e);
}

json_t *records_fields_of(const json_t *opts, bool *oom)
{
	json_t *fields, *val;
	const char *key;

	*oom = false;
	if (!opts || json_object_size(opts) == 0)
		return NULL;
	fields = json_object();
	if (!fields)
		goto oom;
	json_object_foreach((json_t *)opts, key, val) {
		json_t *s = NULL;
		if (json_is_string(val)) {
			s = json_string(json_string_value(val));
		} else {
			char *t = json_text(val, JSON_ENCODE_ANY | JSON_COMPACT);
			s = t ? json_string(t) : NULL;
			free(t);
		}
		if (!s || json_object_set_new(fields, key, s) < 0) {
			json_decref(fields);
			goto oom;
		}
	}
	return fields;
oom:
	*oom = true;
	return NULL;
}

static const char *holder(const struct volume *v)
{
	return v->n_attachments && v->attachments[0].iid.id ? v->attachments[0].iid.id : "";
}

int records_check_removable(struct service *svc, const char *id, bool force, struct err *e)
{
	struct volume v;
	int r;

	if ((r = store_volume_get(svc->store, svc->name, id, &v, e)) < 0)
		return r;
	if (v.n_attachments > 0 && !force)
		r = err_set(e, -EBUSY, "volume '%s' is attached to instance '%s'; unmount it "
			    "there (rexray volume unmount %s) and detach it (rexray volume detach "
			    "%s) first", v.name, holder(&v), v.name, v.name);
	volume_release(&v);
	return r;
}

/* Another instance holds it and the caller does not force: refuse. */
static int check_holder(struct service *svc, const char *id, const struct attach_opts *o,
			struct err *e)
{
	struct volume v;
	int r;

	if ((r = store_volume_get(svc->store, svc->name, id, &v, e)) < 0)
		return r;
	for (size_t i = 0; i < v.n_attachments && !o->force; i++) {
		const char *other = v.attachments[i].iid.id;
		if (other && strcasecmp(other, o->iid->id) == 0)
			continue;
		r = err_set(e, -EBUSY, "volume '%s' is attached to instance '%s'; use force "
			    "(mount.preempt) to take it", v.name, other ? other : "");
		break;
	}
	volume_release(&v);
	return r;
}

int records_attach(struct service *svc, const char *id, const struct attach_opts *o,
		   const char *device, struct volume *out, struct err *e)
{
	struct volume_attachment a = { 0 };
	int r;

	a.volume_id = (char *)id;
	a.iid = *o->iid;
	a.iid.service = svc->name;
	a.device_name = (char *)device;
	a.status = "attached";
	/* the holder checked inside the transaction that changes it: on a
	 * shared database that read locks the volume's row until the commit */
	if ((r = store_begin(svc->store, e)) < 0)
		return r;
	if ((r = check_holder(svc, id, o, e)) < 0 ||
	    (o->force && (r = store_attachment_remove(svc->store, svc->name, id, NULL, e)) < 0) ||
	    (r = store_attachment_put(svc->store, svc->name, &a, e)) < 0) {
		store_rollback(svc->store);
		return r;
	}
	if ((r = store_commit(svc->store, e)) < 0)
		return r;
	return store_volume_get(svc->store, svc->name, id, out, e);
}

int records_detach(struct service *svc, const char *id, const struct detach_opts *o,
		   struct volume *out, struct err *e)
{
	const char *who = o->iid && o->iid->id && !o->force ? o->iid->id : NULL;
	int r;

	if (!who && !o->force)
		return err_set(e, -EINVAL, "detach needs an instance ID or force");
	if ((r = store_volume_get(svc->store, svc->name, id, out, e)) < 0)
		return r;
	volume_release(out);
	if ((r = store_attachment_remove(svc->store, svc->name, id, who, e)) < 0)
		return r;
	return store_volume_get(svc->store, svc->name, id, out, e);
}

/* ---- snapshots ---- */

int records_snapshots(struct service *svc, struct snapshot_list *out, struct err *e)
{
	return store_snapshot_list(svc->store, svc->name, out, e);
}

int records_snapshot_inspect(struct service *svc, const char *id, struct snapshot *out,
			     struct err *e)
{
	return store_snapshot_get(svc->store, svc->name, id, out, e);
}

int records_next_snapshot_id(struct service *svc, const char *volume_id, char *out, size_t sz,
			     struct err *e)
{
	char seq_name[300];
	int64_t seq;
	int r;

	snprintf(seq_name, sizeof(seq_name), "snapshot:%s", volume_id);
	if ((r = store_next_seq(svc->store, svc->name, seq_name, &seq, e)) < 0)
		return r;
	if ((size_t)snprintf(out, sz, "%s-%03lld", volume_id, (long long)seq) >= sz)
		return err_set(e, -ENAMETOOLONG, "snapshot ID of volume '%s' too long", volume_id);
	return volume_name_check(out, e) < 0 ? err_prefix(e, "snapshot ID") : 0;
}

int records_snapshot_of(const struct volume *v, const char *id, const char *name,
			const char *description, const json_t *opts, const json_t *extra,
			struct snapshot *out, struct err *e)
{
	bool oom = false, ok = true;
	const char *k;
	json_t *val;

	memset(out, 0, sizeof(*out));
	out->id = xstrdup_opt(id, &ok);
	out->name = xstrdup_opt(name, &ok);
	out->description = xstrdup_opt(description, &ok);
	out->volume_id = xstrdup_opt(v->id, &ok);
	out->status = xstrdup_opt("online", &ok);
	out->volume_size = v->size;
	out->encrypted = v->encrypted;
	out->start_time = (int64_t)time(NULL);
	out->fields = records_fields_of(opts, &oom);
	if (ok && !oom && out->fields)
		json_object_del(out->fields, "description");
	json_object_foreach((json_t *)extra, k, val) {
		if (!ok || oom || !json_is_string(val))
			continue;
		if (!out->fields && !(out->fields = json_object()))
			oom = true;
		else if (json_object_set(out->fields, k, val) < 0)
			oom = true;
	}
	if (!ok || oom) {
		snapshot_release(out);
		return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

bool records_sweep_may_touch(struct service *svc, const char *path)
{
	struct stat st;

	if (!store_is_shared(svc->store))
		return true;
	if (lstat(path, &st) < 0)
		return false;
	if (time(NULL) - st.st_mtime >= RECORDS_SHARED_SWEEP_AGE)
		return true;
	log_info("%s: leaving '%s' for now: another server may be working on it", svc->name,
		 path);
	return false;
}
