/*
 * local: the in-process storage client. Each operation is a direct call
 * into the service layer, with no encoding: the embedded default and the
 * CLI without a running service use it.
 */
#include <stdlib.h>

#include "client/client.h"
#include "server/service.h"

static struct ls_server *srv_of(struct storage_client *c)
{
	return c->impl;
}

static void local_close(struct storage_client *c)
{
	(void)c; /* the server is borrowed */
}

static int local_services(struct storage_client *c, struct service_list *out, struct err *e)
{
	return ls_services(srv_of(c), out, e);
}

static int local_service_inspect(struct storage_client *c, const char *svc, bool want_instance,
				 const struct ls_ctx *ctx, struct service_info *out, struct err *e)
{
	return ls_service_inspect(srv_of(c), svc, want_instance, ctx, out, e);
}

static int local_volumes(struct storage_client *c, const char *svc, int mask,
			 const struct ls_ctx *ctx, struct volume_list *out, struct err *e)
{
	return ls_volumes(srv_of(c), svc, mask, ctx, out, e);
}

static int local_volume_inspect(struct storage_client *c, const char *svc, const char *id_or_name,
				bool by_name, int mask, const struct ls_ctx *ctx,
				struct volume *out, struct err *e)
{
	return ls_volume_inspect(srv_of(c), svc, id_or_name, by_name, mask, ctx, out, e);
}

static int local_volume_view(struct storage_client *c, const char *svc, const char *name,
			     const struct ls_ctx *ctx, volume_view_fn fn, void *arg, struct err *e)
{
	return ls_volume_view(srv_of(c), svc, name, ctx, fn, arg, e);
}

static int local_volume_create(struct storage_client *c, const char *svc,
			       const struct volume_create_req *req, const struct ls_ctx *ctx,
			       struct volume *out, struct err *e)
{
	return ls_volume_create(srv_of(c), svc, req, ctx, out, e);
}

static int local_volume_attach(struct storage_client *c, const char *svc, const char *id,
			       const struct volume_attach_req *req, const struct ls_ctx *ctx,
			       struct volume *out, char **token, struct err *e)
{
	return ls_volume_attach(srv_of(c), svc, id, req, ctx, out, token, e);
}

static int local_volume_detach(struct storage_client *c, const char *svc, const char *id,
			       const struct volume_detach_req *req, const struct ls_ctx *ctx,
			       struct volume *out, struct err *e)
{
	return ls_volume_detach(srv_of(c), svc, id, req, ctx, out, e);
}

static int local_volume_remove(struct storage_client *c, const char *svc, const char *id,
			       bool force, const struct ls_ctx *ctx, struct err *e)
{
	return ls_volume_remove(srv_of(c), svc, id, force, ctx, e);
}

static int local_lease_renew(struct storage_client *c, const struct ls_ctx *ctx,
			     long long lease_ms, long long wait_ms, struct volume_ref **out,
			     size_t *n, struct err *e)
{
	return ls_lease_renew(srv_of(c), ctx, lease_ms, wait_ms, out, n, e);
}

static int local_lease_fenced(struct storage_client *c, const char *svc, const char *id,
			      const struct ls_ctx *ctx, struct err *e)
{
	return ls_lease_fenced(srv_of(c), svc, id, ctx, e);
}

static int local_snapshots(struct storage_client *c, const char *svc, const struct ls_ctx *ctx,
			   struct snapshot_list *out, struct err *e)
{
	(void)ctx;
	return ls_snapshots(srv_of(c), svc, out, e);
}

static int local_snapshot_inspect(struct storage_client *c, const char *svc, const char *id,
				  const struct ls_ctx *ctx, struct snapshot *out, struct err *e)
{
	(void)ctx;
	return ls_snapshot_inspect(srv_of(c), svc, id, out, e);
}

static int local_volume_snapshot(struct storage_client *c, const char *svc, const char *id,
				 const struct volume_snapshot_req *req, const struct ls_ctx *ctx,
				 struct snapshot *out, struct err *e)
{
	(void)ctx;
	return ls_volume_snapshot(srv_of(c), svc, id, req, out, e);
}

static int local_snapshot_remove(struct storage_client *c, const char *svc, const char *id,
				 const struct ls_ctx *ctx, struct err *e)
{
	(void)ctx;
	return ls_snapshot_remove(srv_of(c), svc, id, e);
}

static int local_snapshot_copy(struct storage_client *c, const char *svc, const char *id,
			       const struct snapshot_copy_req *req, const struct ls_ctx *ctx,
			       struct snapshot *out, struct err *e)
{
	(void)ctx;
	return ls_snapshot_copy(srv_of(c), svc, id, req, out, e);
}

static int local_snapshot_create_volume(struct storage_client *c, const char *svc,
					const char *id, const struct volume_create_req *req,
					const struct ls_ctx *ctx, struct volume *out,
					struct err *e)
{
	(void)ctx;
	return ls_snapshot_create_volume(srv_of(c), svc, id, req, out, e);
}

static int local_volume_copy(struct storage_client *c, const char *svc, const char *id,
			     const struct volume_copy_req *req, const struct ls_ctx *ctx,
			     struct volume *out, struct err *e)
{
	(void)ctx;
	return ls_volume_copy(srv_of(c), svc, id, req, out, e);
}

static int local_volume_resize(struct storage_client *c, const char *svc, const char *id,
			       const struct volume_resize_req *req, const struct ls_ctx *ctx,
			       struct volume *out, struct err *e)
{
	(void)ctx;
	return ls_volume_resize(srv_of(c), svc, id, req, out, e);
}

static int local_service_capacity(struct storage_client *c, const char *svc,
				  const struct ls_ctx *ctx, int64_t *available, struct err *e)
{
	(void)ctx;
	return ls_service_capacity(srv_of(c), svc, available, e);
}

static const struct storage_client_ops local_ops = {
	.service_capacity = local_service_capacity,
	.snapshots = local_snapshots,
	.snapshot_inspect = local_snapshot_inspect,
	.volume_snapshot = local_volume_snapshot,
	.snapshot_remove = local_snapshot_remove,
	.snapshot_copy = local_snapshot_copy,
	.snapshot_create_volume = local_snapshot_create_volume,
	.volume_copy = local_volume_copy,
	.volume_resize = local_volume_resize,
	.lease_renew = local_lease_renew,
	.lease_fenced = local_lease_fenced,
	.name = "local",
	.close = local_close,
	.services = local_services,
	.service_inspect = local_service_inspect,
	.volumes = local_volumes,
	.volume_inspect = local_volume_inspect,
	.volume_view = local_volume_view,
	.volume_create = local_volume_create,
	.volume_attach = local_volume_attach,
	.volume_detach = local_volume_detach,
	.volume_remove = local_volume_remove,
};

int client_local_new(struct ls_server *srv, struct storage_client **out, struct err *e)
{
	struct storage_client *c = calloc(1, sizeof(*c));

	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	c->ops = &local_ops;
	c->impl = srv;
	*out = c;
	return 0;
}
