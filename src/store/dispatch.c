/*
 * dispatch: the public calls of store.h for the records of a libStorage
 * server, through the backend's table (store_int.h struct store_ops), and
 * what is the same for every backend.
 */
#include "store/store_int.h"

#include <errno.h>
#include <string.h>

int store_open_uri(const char *uri, struct store **out, struct err *e)
{
	*out = NULL;
	if (!uri || !*uri)
		return err_set(e, -EINVAL, "store: no database named");
	if (strncmp(uri, "postgres://", 11) == 0 || strncmp(uri, "postgresql://", 13) == 0)
		return pg_open(uri, out, e);
	if (strncmp(uri, "sqlite://", 9) == 0)
		return store_open(uri + 9, out, e);
	return err_set(e, -EINVAL, "store: '%s' is not a database this engine knows: "
		       "postgres://... (or postgresql://...), or sqlite:///path", uri);
}

const char *store_backend(const struct store *st)
{
	return st->ops->name;
}

bool store_is_shared(const struct store *st)
{
	return st->ops->shared;
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

int store_claim(struct store *st, int timeout_ms, struct err *e)
{
	return st->ops->claim(st, timeout_ms, e);
}

int store_begin(struct store *st, struct err *e)
{
	return st->ops->begin(st, e);
}

int store_commit(struct store *st, struct err *e)
{
	return st->ops->commit(st, e);
}

void store_rollback(struct store *st)
{
	st->ops->rollback(st);
}

int store_schema_version(struct store *st)
{
	return st->ops->schema_version(st);
}

int store_key_lock(struct store *st, const char *key, struct store_key_lock **out,
		   struct err *e)
{
	*out = NULL;
	return st->ops->key_lock ? st->ops->key_lock(st, key, out, e) : 0;
}

void store_key_unlock(struct store *st, struct store_key_lock *l)
{
	if (l && st->ops->key_unlock)
		st->ops->key_unlock(st, l);
}

int store_next_seq(struct store *st, const char *service, const char *name, int64_t *out,
		   struct err *e)
{
	return st->ops->next_seq(st, service, name, out, e);
}

int store_volume_insert(struct store *st, const char *service, const struct volume *v,
			struct err *e)
{
	return st->ops->volume_insert(st, service, v, e);
}

int store_volume_update(struct store *st, const char *service, const struct volume *v,
			struct err *e)
{
	return st->ops->volume_update(st, service, v, e);
}

int store_volume_get(struct store *st, const char *service, const char *id, struct volume *out,
		     struct err *e)
{
	return st->ops->volume_get(st, service, id, out, e);
}

int store_volume_view_by_name(struct store *st, const char *service, const char *name,
			      volume_view_fn fn, void *arg, struct err *e)
{
	struct volume v;
	bool hit = false;
	int r;

	if (st->ops->volume_view_cached) {
		r = st->ops->volume_view_cached(st, service, name, fn, arg, &hit, e);
		if (hit)
			return r;
	}
	if ((r = st->ops->volume_get_by_name(st, service, name, &v, e)) < 0)
		return r;
	r = fn(arg, &v, e);
	volume_release(&v);
	return r;
}

int store_volume_get_by_name(struct store *st, const char *service, const char *name,
			     struct volume *out, struct err *e)
{
	return st->ops->volume_get_by_name(st, service, name, out, e);
}

int store_volume_each(struct store *st, const char *service, volume_visit_fn fn, void *arg,
		      struct err *e)
{
	return st->ops->volume_each(st, service, fn, arg, e);
}

static int push_volume(void *arg, struct volume *v, struct err *e)
{
	if (volume_list_push(arg, v) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

int store_volume_list(struct store *st, const char *service, struct volume_list *out,
		      struct err *e)
{
	struct volume_list l = { 0 };
	int r;

	r = store_volume_each(st, service, push_volume, &l, e);
	if (r < 0) {
		volume_list_release(&l);
		return r;
	}
	*out = l;
	return 0;
}

int store_volume_delete(struct store *st, const char *service, const char *id, struct err *e)
{
	return st->ops->volume_delete(st, service, id, e);
}

int store_attachment_put(struct store *st, const char *service, const struct volume_attachment *a,
			 struct err *e)
{
	return st->ops->attachment_put(st, service, a, e);
}

int store_attachment_remove(struct store *st, const char *service, const char *volume_id,
			    const char *instance_id, struct err *e)
{
	return st->ops->attachment_remove(st, service, volume_id, instance_id, e);
}

int store_snapshot_insert(struct store *st, const char *service, const struct snapshot *s,
			  struct err *e)
{
	return st->ops->snapshot_insert(st, service, s, e);
}

int sti_one_snapshot(struct snapshot_list *l, int r, struct snapshot *out, struct err *e)
{
	if (r == 0 && l->n == 0)
		r = err_set(e, -ENOENT, "resource not found");
	if (r == 0) {
		*out = l->v[0];
		memset(&l->v[0], 0, sizeof(l->v[0]));
	}
	snapshot_list_release(l);
	return r;
}

int store_snapshot_get(struct store *st, const char *service, const char *id,
		       struct snapshot *out, struct err *e)
{
	return st->ops->snapshot_get(st, service, id, out, e);
}

int store_snapshot_list(struct store *st, const char *service, struct snapshot_list *out,
			struct err *e)
{
	return st->ops->snapshot_list(st, service, out, e);
}

int store_snapshot_delete(struct store *st, const char *service, const char *id, struct err *e)
{
	return st->ops->snapshot_delete(st, service, id, e);
}

/* ---- leases ---- */

static int no_leases(const struct store *st, struct err *e)
{
	return err_set(e, -ENOTSUP, "store: a %s store keeps no leases (its server does)",
		       st->ops->name);
}

int store_lease_set(struct store *st, const char *service, const char *instance, long long ms,
		    bool grant, struct err *e)
{
	if (!st->ops->lease_set)
		return no_leases(st, e);
	return st->ops->lease_set(st, service, instance, ms, grant, e);
}

int store_lease_revoke(struct store *st, const char *service, const char *volume_id,
		       const char *holder_id, long long default_ms, struct err *e)
{
	if (!st->ops->lease_revoke)
		return no_leases(st, e);
	return st->ops->lease_revoke(st, service, volume_id, holder_id, default_ms, e);
}

int store_lease_revoked(struct store *st, const char *const *services,
			const char *const *instances, size_t n, struct volume_ref **out,
			size_t *n_out, struct err *e)
{
	*out = NULL;
	*n_out = 0;
	if (!st->ops->lease_revoked)
		return no_leases(st, e);
	return st->ops->lease_revoked(st, services, instances, n, out, n_out, e);
}

int store_lease_revocation(struct store *st, const char *service, const char *volume_id,
			   const char *holder_id, bool *open, bool *fenced, long long *left_ms,
			   struct err *e)
{
	if (!st->ops->lease_revocation)
		return no_leases(st, e);
	return st->ops->lease_revocation(st, service, volume_id, holder_id, open, fenced, left_ms,
					 e);
}

int store_lease_fenced(struct store *st, const char *service, const char *volume_id,
		       const char *holder_id, bool end, struct err *e)
{
	if (!st->ops->lease_fence_done)
		return no_leases(st, e);
	return st->ops->lease_fence_done(st, service, volume_id, holder_id, end, e);
}
