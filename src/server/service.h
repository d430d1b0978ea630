/*
 * service: the libStorage service layer. It owns the configured services
 * (each a driver table + its private state), and implements every storage
 * operation once, for both the REST handlers (server/rest.c) and the
 * in-process client (client/local.c).
 *
 * What it adds on top of the drivers:
 *  - input checks at the edge (names, sizes, instance IDs where required);
 *  - the ?attachments mask: filtering, "mine", device mapping, and the
 *    computed attachmentState (2 attached to the caller, 3 available,
 *    4 attached elsewhere);
 *  - serialisation per volume (a keyed lock; creates are keyed by name),
 *    never per service: a slow operation on one volume delays no other.
 *
 * Services come from libstorage.server.services.<name>.driver; when none
 * are configured, "Auto Service Mode" makes one service named after
 * libstorage.service (whose name must be a driver), else the default
 * service "loop".
 *
 * All functions are thread-safe and return 0 or a negative errno with e
 * filled (see client/client.h for the codes). Outputs are the caller's.
 */
#ifndef RR_SERVICE_H
#define RR_SERVICE_H

#include "api/types.h"
#include "drivers/driver.h"

struct cfg;
struct store;
struct ls_server;

#define LS_DEFAULT_SERVICE "loop"

/* cfg, paths and st are borrowed and must outlive the server. */
int ls_server_new(const struct cfg *cfg, const struct paths *paths, struct store *st,
		  struct ls_server **out, struct err *e);
void ls_server_free(struct ls_server *srv);
/* Stopping: long-polls (lease renewals) answer now instead of at their end. */
void ls_server_closing(struct ls_server *srv);

/* The REST API's requests by route and status (util/metrics.h), kept
 * by the endpoints (server/rest.c) and read by the exporter. */
struct mx_requests *ls_server_requests(struct ls_server *srv);

/* The random name this server answers in Libstorage-Servername. */
const char *ls_server_name(const struct ls_server *srv);
/* The service used when a caller names none: libstorage.service if set,
 * else the first configured one. */
const char *ls_server_default_service(const struct ls_server *srv);
/* Look a service up by name (case-insensitive); NULL when unknown. */
struct service *ls_server_service(struct ls_server *srv, const char *name);
size_t ls_server_service_count(const struct ls_server *srv);
struct service *ls_server_service_at(struct ls_server *srv, size_t i);

int ls_services(struct ls_server *srv, struct service_list *out, struct err *e);
int ls_service_inspect(struct ls_server *srv, const char *svc, bool want_instance,
		       const struct ls_ctx *ctx, struct service_info *out, struct err *e);
int ls_volumes(struct ls_server *srv, const char *svc, int mask, const struct ls_ctx *ctx,
	       struct volume_list *out, struct err *e);
/* The same volumes (shaped and filtered by mask, ordered as ls_volumes
 * lists them) handed to fn one at a time, for a reply written as they
 * come; fn may run under the store's lock (types.h volume_visit_fn;
 * store_volume_each). */
int ls_volumes_each(struct ls_server *srv, const char *svc, int mask, const struct ls_ctx *ctx,
		    volume_visit_fn fn, void *arg, struct err *e);
int ls_volume_inspect(struct ls_server *srv, const char *svc, const char *id_or_name,
		      bool by_name, int mask, const struct ls_ctx *ctx, struct volume *out,
		      struct err *e);
/* ls_volume_inspect by name with ATT_REQUESTED, the shaped volume lent to
 * fn (types.h volume_view_fn) rather than copied out: fn may run under
 * the store's read lock. Returns fn's result or the look-up's error. */
int ls_volume_view(struct ls_server *srv, const char *svc, const char *name,
		   const struct ls_ctx *ctx, volume_view_fn fn, void *arg, struct err *e);
int ls_volume_create(struct ls_server *srv, const char *svc, const struct volume_create_req *req,
		     const struct ls_ctx *ctx, struct volume *out, struct err *e);
int ls_volume_attach(struct ls_server *srv, const char *svc, const char *id,
		     const struct volume_attach_req *req, const struct ls_ctx *ctx,
		     struct volume *out, char **token, struct err *e);
int ls_volume_detach(struct ls_server *srv, const char *svc, const char *id,
		     const struct volume_detach_req *req, const struct ls_ctx *ctx,
		     struct volume *out, struct err *e);
int ls_volume_remove(struct ls_server *srv, const char *svc, const char *id, bool force,
		     const struct ls_ctx *ctx, struct err *e);

/*
 * Snapshots, copies and resize (server/snapshot.c): the driver's version 3
 * slots, -ENOTSUP ("driver 'x' cannot ...") when it has none. A listing
 * of a driver without snapshots is empty. The names of new snapshots and
 * volumes follow the volume name rules; a snapshot copy stays in its
 * service (destinationID empty or the service's name).
 */
int ls_snapshots(struct ls_server *srv, const char *svc, struct snapshot_list *out,
		 struct err *e);
int ls_snapshot_inspect(struct ls_server *srv, const char *svc, const char *id,
			struct snapshot *out, struct err *e);
int ls_volume_snapshot(struct ls_server *srv, const char *svc, const char *volume_id,
		       const struct volume_snapshot_req *req, struct snapshot *out,
		       struct err *e);
int ls_snapshot_remove(struct ls_server *srv, const char *svc, const char *id, struct err *e);
int ls_snapshot_copy(struct ls_server *srv, const char *svc, const char *id,
		     const struct snapshot_copy_req *req, struct snapshot *out, struct err *e);
int ls_snapshot_create_volume(struct ls_server *srv, const char *svc, const char *id,
			      const struct volume_create_req *req, struct volume *out,
			      struct err *e);
int ls_volume_copy(struct ls_server *srv, const char *svc, const char *volume_id,
		   const struct volume_copy_req *req, struct volume *out, struct err *e);
int ls_volume_resize(struct ls_server *srv, const char *svc, const char *volume_id,
		     const struct volume_resize_req *req, struct volume *out, struct err *e);

/* The bytes a new volume of the service could be given now (the driver's
 * capacity slot; -ENOTSUP naming the driver when it has none). */
int ls_service_capacity(struct ls_server *srv, const char *svc, int64_t *available,
			struct err *e);

/* HTTP status for an errno from the functions above. */
int ls_http_status(int code);

/*
 * The lease of the caller's attachments (every service it sends an
 * instance ID for) renewed to lease_ms, then up to wait_ms for one of them
 * to be revoked by another host's preempt: *out lists those (free with
 * volume_refs_free). The caller fences each and confirms with
 * ls_lease_fenced. Returns 0, -EINVAL without instance IDs, -ENOMEM.
 */
int ls_lease_renew(struct ls_server *srv, const struct ls_ctx *ctx, long long lease_ms,
		   long long wait_ms, struct volume_ref **out, size_t *n_out, struct err *e);
/* The caller no longer writes svc's volume id: a preempt waiting for it goes on. */
int ls_lease_fenced(struct ls_server *srv, const char *svc, const char *id,
		    const struct ls_ctx *ctx, struct err *e);

#endif
