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

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/types.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct store;

#define STORAGE_DRIVER_V_EACH 2	    /* volumes_each */
#define STORAGE_DRIVER_V_SNAPSHOTS 3 /* snapshots, copies, resize */
#define STORAGE_DRIVER_V_CAPACITY 4  /* capacity */
#define STORAGE_DRIVER_V_VIEW 5	     /* volume_view_by_name */
#define STORAGE_DRIVER_VERSION STORAGE_DRIVER_V_VIEW

/* Executor table versions: the slots each adds (callers check before use). */
#define EXECUTOR_V_DEVICES 2 /* device_get, device_find, device_put */
#define EXECUTOR_V_OPEN 3    /* open, close */
#define EXECUTOR_V_FORMAT 4  /* format_mark, format_recorded */
#define EXECUTOR_V_STORAGE 5 /* storage_path */
#define EXECUTOR_V_REFRESH 6 /* device_refresh */
#define STORAGE_EXECUTOR_VERSION EXECUTOR_V_REFRESH

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
	/* The hosts can fence its volumes (shut their filesystems down under
	 * open files), so a preempt may take one from another host; without
	 * a fence a forced attach of a volume held elsewhere is refused. */
	bool fenceable;
	/* volume_create refuses a name the service has already (-EEXIST) by
	 * itself and atomically (the store's unique index on names): the
	 * service layer then does not look the name up first under its
	 * create lock (lsi_create_named). */
	bool names_unique;
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
	/* version 2: the volumes of volumes() one at a time, so that a listing
	 * need not hold them all (types.h volume_visit_fn; fn runs under the
	 * driver's locks, so it must be quick and must not call the driver).
	 * NULL = the service layer walks the list of volumes(). */
	int (*volumes_each)(struct service *svc, const struct volume_query *q,
			    volume_visit_fn fn, void *arg, struct err *e);
	/*
	 * Version 3: snapshots, copies and resize; NULL = not supported (the
	 * service layer answers 501 naming the driver). A snapshot is
	 * independent of its volume: removing either never breaks the other.
	 * The service layer has checked the IDs and names and serializes the
	 * calls on one volume (and on one new name); the driver checks that
	 * the volume or snapshot exists (-ENOENT) and leaves nothing behind
	 * when it fails.
	 */
	int (*snapshots)(struct service *svc, struct snapshot_list *out, struct err *e);
	int (*snapshot_inspect)(struct service *svc, const char *id, struct snapshot *out,
				struct err *e);
	int (*volume_snapshot)(struct service *svc, const char *volume_id,
			       const struct volume_snapshot_req *req, struct snapshot *out,
			       struct err *e);
	int (*snapshot_remove)(struct service *svc, const char *id, struct err *e);
	/* a new snapshot (req->snapshot_name) with the same data */
	int (*snapshot_copy)(struct service *svc, const char *id, const struct snapshot_copy_req *req,
			     struct snapshot *out, struct err *e);
	/* a new volume (req->name) holding the snapshot's data */
	int (*volume_create_from_snapshot)(struct service *svc, const char *snapshot_id,
					   const struct volume_create_req *req, struct volume *out,
					   struct err *e);
	/* a new volume (req->volume_name) holding the volume's data */
	int (*volume_copy)(struct service *svc, const char *volume_id,
			   const struct volume_copy_req *req, struct volume *out, struct err *e);
	/* grow to size GiB (never shrink: -EINVAL); the host side grows the
	 * device and filesystem (executor device_refresh) */
	int (*volume_resize)(struct service *svc, const char *volume_id, int64_t size,
			     struct volume *out, struct err *e);
	/* Version 4, optional (NULL: unknown, the service layer answers
	 * -ENOTSUP): the bytes a new volume could be given now, as the
	 * driver's own create would count them (CSI GetCapacity). */
	int (*capacity)(struct service *svc, int64_t *available, struct err *e);
	/* Version 5, optional: volume_inspect_by_name's volume lent to fn
	 * (types.h volume_view_fn) without a copy, maybe under the driver's
	 * or the store's read lock; fn must not call the driver. Returns
	 * fn's result or the look-up's error. NULL: the service layer
	 * inspects and lends its copy. */
	int (*volume_view_by_name)(struct service *svc, const char *name,
				   const struct volume_query *q, volume_view_fn fn, void *arg,
				   struct err *e);
};

/* What an executor sees of its host: the config (with the service's
 * scopes) and the paths. All borrowed. */
struct exec_ctx {
	const struct cfg *cfg;
	const char *const *scopes;
	const struct paths *paths;
	void *priv; /* the executor's, between open and close; NULL otherwise */
};

/*
 * The host-side half: runs where the volume is used (integration/ calls
 * it). version 2 added the device slots, version 3 open/close.
 */
struct storage_executor {
	int version;
	const char *name;
	/* This host's instance ID for the driver (id from config
	 * "<driver>.instanceID" or the hostname). */
	int (*instance_id)(const struct exec_ctx *x, struct instance_id *out, struct err *e);
	/* The devices of this host's attached volumes (may be empty). */
	int (*local_devices)(const struct exec_ctx *x, struct local_devices *out, struct err *e);
	/*
	 * Make the attach token usable on this host and return the local
	 * device (malloc'd) within timeout_ms: loop sets up /dev/loopN for
	 * the image, vfs returns the volume's directory. Idempotent: a device
	 * already present is returned as it is; *created says whether this
	 * call made it, so a failed mount undoes exactly that.
	 */
	int (*device_get)(const struct exec_ctx *x, const char *volume_id, const char *token,
			  long timeout_ms, char **dev, bool *created, struct err *e);
	/* The local device of a volume if present, else -ENOENT. */
	int (*device_find)(const struct exec_ctx *x, const char *volume_id, char **dev,
			   struct err *e);
	/* Undo device_get after the last unmount (loop: detach). NULL = nothing. */
	int (*device_put)(const struct exec_ctx *x, const char *dev, struct err *e);
	/* true: the device is a directory to bind-mount, not a block device to
	 * probe, format and mount. */
	bool bind_mount;
	/*
	 * Optional (NULL = nothing to do): resolve what every call needs from
	 * the configuration once, into x->priv, for a context that lives long
	 * (the integration's); close frees it. The other slots work with or
	 * without it (a short-lived context is never opened).
	 */
	int (*open)(struct exec_ctx *x, struct err *e);
	void (*close)(struct exec_ctx *x);
	/*
	 * Version 4, optional (NULL: the volume keeps no such record): the
	 * volume's own record that the engine made a filesystem on it, kept
	 * with the volume (loop: an extended attribute of the image), so that
	 * a volume that had one is never formatted again without overwritefs,
	 * whichever host mounts it next. format_recorded fills fstype and
	 * returns 0, or -ENOENT when there is no record.
	 */
	int (*format_mark)(const struct exec_ctx *x, const char *volume_id, const char *fstype,
			   struct err *e);
	int (*format_recorded)(const struct exec_ctx *x, const char *volume_id, char *fstype,
			       size_t sz);
	/* Version 5, optional: where the volume's data lives as this host
	 * sees it (loop: the image file; vfs: the directory), malloc'd; for
	 * `volume inspect`. -ENOENT when it is not there. */
	int (*storage_path)(const struct exec_ctx *x, const char *volume_id, char **out,
			    struct err *e);
	/* Version 6, optional (NULL: a device never changes size): make the
	 * volume's device dev on this host see the size its storage has now,
	 * after a resize by the server (loop: LOOP_SET_CAPACITY when the
	 * image is bigger than the device); *grew says whether it changed. */
	int (*device_refresh)(const struct exec_ctx *x, const char *volume_id, const char *dev,
			      bool *grew, struct err *e);
};

/* The registry: built-in drivers by name (case-insensitive). NULL if unknown. */
const struct storage_driver *driver_find(const char *name);
const struct storage_executor *executor_find(const char *name);
/* A comma-separated list of the registered names, for messages. */
const char *driver_names(void);

/* Shared by drivers: InstanceInspect of an ID that is either complete or
 * only the executor's metadata (the hostname as a JSON string). */
int driver_instance_inspect_default(const char *driver, const struct instance_id *in,
				    struct instance *out, struct err *e);

/* Shared by executors: the instance ID from "<driver>.instanceID" in the
 * given scopes, else the hostname; metadata = the hostname as a JSON string. */
int executor_default_instance_id(const char *driver, const struct exec_ctx *x,
				 struct instance_id *out, struct err *e);

/*
 * Shared by executors whose calls need one directory from the config
 * (vfs.root, loop.volumePath): resolve(cfg, scopes, paths, buf, PATH_MAX,
 * e) finds it. executor_dir_open/close are such an executor's open/close
 * (x->priv holds the directory); executor_dir gives it in buf, from
 * x->priv when opened, else resolved now.
 */
typedef int (*exec_dir_fn)(const struct cfg *cfg, const char *const *scopes,
			   const struct paths *paths, char *out, size_t outsz, struct err *e);
int executor_dir_open(struct exec_ctx *x, exec_dir_fn resolve, struct err *e);
void executor_dir_close(struct exec_ctx *x);
int executor_dir(const struct exec_ctx *x, exec_dir_fn resolve, char buf[PATH_MAX],
		 struct err *e);

#endif
