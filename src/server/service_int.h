/*
 * service_int: what service.c (volumes, attachments, leases) and
 * snapshot.c (snapshots, copies, resize) share of the libStorage service
 * layer, and nobody else sees.
 */
#ifndef RR_SERVICE_INT_H
#define RR_SERVICE_INT_H

#include "server/keylock.h"
#include "server/service.h"
#include "util/metrics.h"

struct ls_server {
	const struct cfg *cfg;
	const struct paths *paths;
	struct store *store;
	struct service *svcs;
	size_t n_svcs;
	char default_svc[65];
	char name[64];
	struct keylock locks;
	struct lease_table *leases;
	struct mx_requests requests; /* the REST API's, by route and status */
};

/* The service of that name, or NULL with e saying which ones there are
 * (-ENOENT). */
struct service *lsi_find_service(struct ls_server *srv, const char *name, struct err *e);
/* A volume or snapshot ID from a request: not empty, bounded, no control
 * characters. 0 or -EINVAL. */
int lsi_check_id(const char *id, struct err *e);
/* A volume by name through the driver, or by scanning its list. */
int lsi_inspect_by_name(struct service *svc, const char *vname, const struct volume_query *q,
			struct volume *out, struct err *e);
/* The create request's name, size and iops. */
int lsi_check_create(const struct volume_create_req *req, struct err *e);
/* The key lock name that serializes calls on one volume. */
void lsi_volume_key(char *buf, size_t sz, const struct service *svc, const char *id);

/* Serialize on key: this server's lock, then, on a store several servers
 * share, the database's lock of the same key (*held, for lsi_unlock).
 * Returns 0, -ENOMEM, or the store's error (-ENOTCONN: the database is
 * unavailable). */
struct store_key_lock;
int lsi_lock(struct ls_server *srv, const char *key, struct store_key_lock **held,
	     struct err *e);
void lsi_unlock(struct ls_server *srv, const char *key, struct store_key_lock *held);

/* Make a new volume named vname in svc: the name checked, calls for the
 * same name serialized, -EEXIST when one exists; make(svc, arg, out, e)
 * creates it. The name is looked up under the lock first, unless
 * make_refuses is true (make is the driver's volume_create, cheap to
 * refuse) and the driver's names_unique says make itself answers
 * -EEXIST. */
typedef int (*lsi_make_fn)(struct service *svc, void *arg, struct volume *out, struct err *e);
int lsi_create_named(struct ls_server *srv, struct service *svc, const char *vname,
		     lsi_make_fn make, void *arg, bool make_refuses, struct volume *out,
		     struct err *e);

#endif
