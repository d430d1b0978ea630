/*
 * driver: the storage driver table (server side) and its executor (host
 * side), after SQLite's sqlite3_vfs: a versioned table of function
 * pointers, one per platform, registered by name.
 *
 * A driver returns 0 or a negative errno and fills e: -ENOENT for a missing
 * volume, -ENOTSUP for an operation it does not implement (a NULL slot
 * means the same), -EEXIST for a duplicate name, -EBUSY when the volume's
 * state forbids the operation (attached elsewhere, in use), -EINVAL for
 * bad options. Outputs are filled only on success and owned by the caller.
 *
 * The service layer (server/service.c) guarantees that calls for one
 * volume never run concurrently; calls for different volumes may. A
 * driver's create must leave nothing behind when it fails.
 *
 * Drivers return volumes with all their attachments; the service layer
 * applies the ?attachments mask, maps devices and computes the
 * attachment state. Drivers leave attachment_state at 0 unless they know
 * better.
 */
#ifndef RR_DRIVER_H
#define RR_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/types.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct store;

#define STORAGE_DRIVER_VERSION 1

/* One configured service: a name bound to a driver and its config. */
struct service {
	char *name;
	const struct storage_driver *drv;
	const struct storage_executor *exec;
	void *priv;			 /* drv->priv_size bytes, zeroed, owned by the service */
	const struct cfg *cfg;		 /* borrowed */
	const char *scopes[4];		 /* config scopes, most specific first; NULL-terminated */
	char scope_buf[2][320];		 /* storage for scopes[] */
	struct store *store;		 /* borrowed */
	const struct paths *paths;	 /* borrowed */
};

struct volume_query {
	int mask;			 /* ATT_* bits as requested */
	const struct instance_id *iid;	 /* caller's, may be NULL */
};

struct attach_opts {
	const struct instance_id *iid;	 /* required */
	const char *next_device;	 /* may be NULL */
	bool force;			 /* take the volume from other instances */
	const json_t *opts;		 /* may be NULL */
};

struct detach_opts {
	const struct instance_id *iid;	 /* may be NULL only with force: detach from all */
	bool force;
	const json_t *opts;
};

struct storage_driver {
	int version;
	const char *name;
	enum storage_type type;
	size_t priv_size;
	bool has_next_device;		 /* ServiceInfo.driver.nextDevice is emitted */
	struct next_device_info next_device;

	int (*init)(struct service *svc, struct err *e);
	void (*fini)(struct service *svc);
	int (*instance_inspect)(struct service *svc, const struct instance_id *in,
				struct instance *out, struct err *e);
	int (*volumes)(struct service *svc, const struct volume_query *q, struct volume_list *out,
		       struct err *e);
	int (*volume_inspect)(struct service *svc, const char *id, const struct volume_query *q,
			      struct volume *out, struct err *e);
	/* by name, case-insensitive; NULL = the service layer scans volumes() */
	int (*volume_inspect_by_name)(struct service *svc, const char *name,
				      const struct volume_query *q, struct volume *out,
				      struct err *e);
	int (*volume_create)(struct service *svc, const struct volume_create_req *req,
			     struct volume *out, struct err *e);
	int (*volume_remove)(struct service *svc, const char *id, bool force, struct err *e);
	int (*volume_attach)(struct service *svc, const char *id, const struct attach_opts *o,
			     struct volume *out, char **token, struct err *e);
	int (*volume_detach)(struct service *svc, const char *id, const struct detach_opts *o,
			     struct volume *out, struct err *e);
	/* snapshots, copy, resize: added by later issues with a version bump */
};

/* The host-side half: runs where the volume is used. */
struct storage_executor {
	int version;
	const char *name;
	/* This host's instance ID for the driver (id from config
	 * "<driver>.instanceID" or the hostname). */
	int (*instance_id)(const struct cfg *cfg, const char *const *scopes,
			   struct instance_id *out, struct err *e);
	/* The devices of this host's attached volumes (may be empty). */
	int (*local_devices)(const struct cfg *cfg, const char *const *scopes,
			     struct local_devices *out, struct err *e);
};

/* The registry: built-in drivers by name (case-insensitive). NULL if unknown. */
const struct storage_driver *driver_find(const char *name);
const struct storage_executor *executor_find(const char *name);
/* A comma-separated list of the registered names, for messages. */
const char *driver_names(void);

/* Shared by executors: the instance ID from "<driver>.instanceID" in the
 * given scopes, else the hostname; metadata = the hostname as a JSON string. */
int executor_default_instance_id(const char *driver, const struct cfg *cfg,
				 const char *const *scopes, struct instance_id *out,
				 struct err *e);

#endif
