#include "api/types.h"
#include "util/sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *storage_type_name(enum storage_type t)
{
	switch (t) {
	case ST_BLOCK:
		return "block";
	case ST_NAS:
		return "nas";
	case ST_OBJECT:
		return "object";
	}
	return "block";
}

char *xstrdup_opt(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = sys_strdup(s);
	if (!d)
		*ok = false;
	return d;
}

static json_t *json_ref(json_t *j)
{
	return j ? json_deep_copy(j) : NULL;
}

void instance_id_release(struct instance_id *iid)
{
	if (!iid)
		return;
	free(iid->id);
	free(iid->driver);
	free(iid->service);
	free(iid->metadata);
	json_decref(iid->fields);
	memset(iid, 0, sizeof(*iid));
}

int instance_id_copy(struct instance_id *dst, const struct instance_id *src)
{
	bool ok = true;

	memset(dst, 0, sizeof(*dst));
	dst->id = xstrdup_opt(src->id, &ok);
	dst->driver = xstrdup_opt(src->driver, &ok);
	dst->service = xstrdup_opt(src->service, &ok);
	dst->metadata = xstrdup_opt(src->metadata, &ok);
	dst->fields = json_ref(src->fields);
	if (!ok || (src->fields && !dst->fields)) {
		instance_id_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void instance_release(struct instance *in)
{
	if (!in)
		return;
	instance_id_release(&in->iid);
	free(in->name);
	free(in->provider_name);
	free(in->region);
	json_decref(in->fields);
	memset(in, 0, sizeof(*in));
}

void volume_attachment_release(struct volume_attachment *a)
{
	if (!a)
		return;
	free(a->volume_id);
	instance_id_release(&a->iid);
	free(a->device_name);
	free(a->status);
	free(a->mount_point);
	json_decref(a->fields);
	memset(a, 0, sizeof(*a));
}

void volume_release(struct volume *v)
{
	if (!v)
		return;
	free(v->id);
	free(v->name);
	free(v->type);
	for (size_t i = 0; i < v->n_attachments; i++)
		volume_attachment_release(&v->attachments[i]);
	free(v->attachments);
	free(v->availability_zone);
	free(v->network_name);
	free(v->status);
	json_decref(v->fields);
	memset(v, 0, sizeof(*v));
}

static int attachment_copy(struct volume_attachment *d, const struct volume_attachment *s)
{
	bool ok = true;

	memset(d, 0, sizeof(*d));
	d->volume_id = xstrdup_opt(s->volume_id, &ok);
	d->device_name = xstrdup_opt(s->device_name, &ok);
	d->status = xstrdup_opt(s->status, &ok);
	d->mount_point = xstrdup_opt(s->mount_point, &ok);
	d->fields = json_ref(s->fields);
	if (!ok || instance_id_copy(&d->iid, &s->iid) < 0) {
		volume_attachment_release(d);
		return -ENOMEM;
	}
	return 0;
}

int volume_copy(struct volume *dst, const struct volume *src)
{
	bool ok = true;

	memset(dst, 0, sizeof(*dst));
	dst->id = xstrdup_opt(src->id, &ok);
	dst->name = xstrdup_opt(src->name, &ok);
	dst->type = xstrdup_opt(src->type, &ok);
	dst->availability_zone = xstrdup_opt(src->availability_zone, &ok);
	dst->network_name = xstrdup_opt(src->network_name, &ok);
	dst->status = xstrdup_opt(src->status, &ok);
	dst->fields = json_ref(src->fields);
	dst->attachments_present = src->attachments_present;
	dst->attachment_state = src->attachment_state;
	dst->encrypted = src->encrypted;
	dst->iops = src->iops;
	dst->size = src->size;
	dst->created_at = src->created_at;
	if (src->n_attachments) {
		dst->attachments = sys_calloc(src->n_attachments, sizeof(*dst->attachments));
		if (!dst->attachments)
			ok = false;
		for (size_t i = 0; ok && i < src->n_attachments; i++) {
			if (attachment_copy(&dst->attachments[i], &src->attachments[i]) < 0)
				ok = false;
			else
				dst->n_attachments = i + 1;
		}
	}
	if (!ok) {
		volume_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void volume_list_release(struct volume_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		volume_release(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Room for one more in an array of n elements of size sz that grew only
 * through here: the capacity is 8 for n < 8, then n when n is a power of
 * two, so that is where it grows. 0 or -ENOMEM (*arr unchanged). */
static int room_for_one(void **arr, size_t n, size_t sz)
{
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		void *na = sys_realloc(*arr, (n ? n * 2 : 8) * sz);
		if (!na)
			return -ENOMEM;
		*arr = na;
	}
	return 0;
}

int volume_list_push(struct volume_list *l, struct volume *v)
{
	if (room_for_one((void **)&l->v, l->n, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *v;
	memset(v, 0, sizeof(*v));
	return 0;
}

void volume_create_req_release(struct volume_create_req *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->availability_zone);
	free(r->encryption_key);
	free(r->type);
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void volume_attach_req_release(struct volume_attach_req *r)
{
	if (!r)
		return;
	free(r->next_device_name);
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void volume_detach_req_release(struct volume_detach_req *r)
{
	if (!r)
		return;
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void service_info_release(struct service_info *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->driver_name);
	free(s->next_device.prefix);
	free(s->next_device.pattern);
	instance_release(&s->instance);
	memset(s, 0, sizeof(*s));
}

void service_list_release(struct service_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		service_info_release(&l->s[i]);
	free(l->s);
	l->s = NULL;
	l->n = 0;
}

void local_devices_release(struct local_devices *ld)
{
	if (!ld)
		return;
	free(ld->driver);
	for (size_t i = 0; i < ld->n; i++) {
		free(ld->map[i].volume_id);
		free(ld->map[i].device);
	}
	free(ld->map);
	memset(ld, 0, sizeof(*ld));
}

void volume_refs_free(struct volume_ref *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].service);
		free(r[i].volume_id);
	}
	free(r);
}

/* ---- snapshots ---- */

void snapshot_release(struct snapshot *s)
{
	if (!s)
		return;
	free(s->description);
	free(s->name);
	free(s->id);
	free(s->status);
	free(s->volume_id);
	json_decref(s->fields);
	memset(s, 0, sizeof(*s));
}

int snapshot_copy(struct snapshot *dst, const struct snapshot *src)
{
	bool ok = true;

	memset(dst, 0, sizeof(*dst));
	dst->description = xstrdup_opt(src->description, &ok);
	dst->name = xstrdup_opt(src->name, &ok);
	dst->id = xstrdup_opt(src->id, &ok);
	dst->status = xstrdup_opt(src->status, &ok);
	dst->volume_id = xstrdup_opt(src->volume_id, &ok);
	dst->fields = json_ref(src->fields);
	dst->encrypted = src->encrypted;
	dst->start_time = src->start_time;
	dst->volume_size = src->volume_size;
	if (!ok) {
		snapshot_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void snapshot_list_release(struct snapshot_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		snapshot_release(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int snapshot_list_push(struct snapshot_list *l, struct snapshot *s)
{
	if (room_for_one((void **)&l->v, l->n, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = *s;
	memset(s, 0, sizeof(*s));
	return 0;
}

void volume_snapshot_req_release(struct volume_snapshot_req *r)
{
	if (!r)
		return;
	free(r->snapshot_name);
	free(r->description);
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void volume_copy_req_release(struct volume_copy_req *r)
{
	if (!r)
		return;
	free(r->volume_name);
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void snapshot_copy_req_release(struct snapshot_copy_req *r)
{
	if (!r)
		return;
	free(r->snapshot_name);
	free(r->destination_id);
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}

void volume_resize_req_release(struct volume_resize_req *r)
{
	if (!r)
		return;
	json_decref(r->opts);
	memset(r, 0, sizeof(*r));
}
