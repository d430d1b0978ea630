/*
 * integration: the host-side volume workflow every front end shares
 * (Docker plugin, dvdcli/DVDI, the CLI), spec/rexray.md section 4:
 *
 *   create   defaults from create.default.*, create.disable = no-op
 *   mount    find by name (or create, create.implicit) -> attach (forced with
 *            mount.preempt) -> the executor makes the device appear (bounded
 *            by libstorage.device.attachTimeout) -> format only when empty
 *            or overwritefs -> mount at <mount.path>/<name> -> mkdir
 *            <rootPath> (linux.volume.filemode) -> count the use
 *   unmount  uncount; the last use unmounts, releases the device and
 *            detaches (unmount.ignoreUsedCount: every unmount does)
 *   path     the mount path, or "" when not mounted here
 *   remove   remove.disable = no-op; refuses while in use
 *
 * Use counts are keyed by (volume, caller) and kept in the store, so a
 * restart loses none. A mount that fails midway undoes what it did: no
 * stray mount, loop device, attachment or implicitly created volume.
 * Operations on one volume are serialised across threads and processes
 * (flock on <run>/locks/<service>/<name>).
 *
 * All functions return 0 or a negative errno and fill e. Strings returned
 * are malloc'd and the caller's.
 */
#ifndef RR_INTEGRATION_H
#define RR_INTEGRATION_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "util/err.h"
#include "util/metrics.h"
#include "util/paths.h"

struct cfg;
struct store;
struct integration;

struct integ_mount_opts {
	bool overwrite_fs;	 /* format even when a filesystem is there */
	const char *new_fs_type; /* ext4 or xfs; NULL = the volume's or the default */
	bool pending;		 /* count the use only once integ_mount_confirm says the
				  * caller got the reply (a reply lost to a hang-up or a
				  * crash must not leave a use nobody will give back) */
	/* out, when not NULL, after a mount: it created the volume (implicit
	 * create); the volume's uses on this host now */
	bool *created;
	int64_t *uses;
};

/* What an unmount did (integ_unmount_report). */
struct integ_unmount_result {
	bool counted;	  /* the caller held a use, and gave it back */
	int64_t left;	  /* uses on this host afterwards */
	bool unmounted;	  /* no use was left: unmounted and released */
};

/*
 * service: the libStorage service to use; scope: an extra config scope
 * tried first (a Docker module's "rexray.modules.<name>"), or NULL. All
 * pointers are borrowed and must outlive the integration.
 */
int integration_new(const struct cfg *cfg, const struct paths *paths, struct store *host_store,
		    struct storage_client *client, const char *service, const char *scope,
		    struct integration **out, struct err *e);
void integration_free(struct integration *ig);

/* How long its steps took (util/metrics.h): the server's attach, mkfs,
 * and the mount call. Read by the exporter while mounts go on. */
enum integ_op { INTEG_OP_MOUNT, INTEG_OP_MOUNT_FAILED, INTEG_OP_UNMOUNT, INTEG_OP_UNMOUNT_FAILED,
		INTEG_OPS };
struct integ_stats {
	struct mx_hist attach, format, mount;
	_Atomic unsigned long long ops[INTEG_OPS]; /* integ_mount / integ_unmount calls */
};
const struct integ_stats *integ_stats(const struct integration *ig);

/* The service and this host's instance ID in use. */
const char *integ_service(const struct integration *ig);

/* opts: Docker-style options (string values; case-insensitive keys size,
 * iops, type/volumetype, availabilityZone, fsType/newfstype, overwritefs;
 * others go to the driver), may be NULL. An existing volume of that name
 * is success. */
int integ_create(struct integration *ig, const char *name, const json_t *opts, struct err *e);
/* The create request integ_create would send for name and opts (Docker's
 * options), with the create.default.* values for what they leave unset;
 * for the CLI's volume create. The caller releases it
 * (volume_create_req_release); on error there is nothing to release. */
int integ_build_create(struct integration *ig, const char *name, const json_t *opts,
		       struct volume_create_req *req, struct err *e);

/* caller: who uses the volume (a Docker mount ID); NULL or "" = a caller
 * without an ID, counted as one caller. */
int integ_mount(struct integration *ig, const char *name, const char *caller,
		const struct integ_mount_opts *o, char **path, struct err *e);
int integ_unmount(struct integration *ig, const char *name, const char *caller, struct err *e);
int integ_unmount_report(struct integration *ig, const char *name, const char *caller,
			 struct integ_unmount_result *res, struct err *e);
/* After a pending mount's reply: delivered keeps the use; not delivered
 * takes it back and unmounts if nobody else uses the volume. */
void integ_mount_confirm(struct integration *ig, const char *name, const char *caller,
			 bool delivered);
/* A confirmed use whose reply then failed to go out: taken back, and the
 * volume unmounted if nobody else uses it. */
void integ_mount_revoke(struct integration *ig, const char *name, const char *caller);
int integ_path(struct integration *ig, const char *name, char **path, struct err *e);

/*
 * For a front end that uses a volume's raw device (CSI block access): the
 * volume attached here (as integ_mount does), its device made to appear,
 * and one use counted for caller, with nothing formatted or mounted.
 * *dev gets the device (malloc'd). Idempotent for the device; each call
 * counts a use of caller, as integ_mount does. integ_unmount gives the use
 * back (the last use releases the device and detaches). A failure undoes
 * what it did. -ENOTSUP for a service whose devices are directories.
 */
int integ_device_use(struct integration *ig, const char *name, const char *caller, char **dev,
		     struct err *e);
/* This host's instance ID for the service (what the server attaches
 * volumes to), malloc'd into *id; asks the server on first use. */
int integ_instance_id(struct integration *ig, char **id, struct err *e);

/*
 * Give the volume's attachment back. Refused (-EBUSY, naming the mount path
 * and the uses) while it is mounted or used on this host; force unmounts it
 * first (never lazily: a busy mount refuses), releases its device and drops
 * its uses, and refuses when its filesystem is still alive elsewhere (a
 * container's mount namespace). out (may be NULL) gets the volume after.
 */
int integ_detach(struct integration *ig, const char *name, bool force, struct volume *out,
		 struct err *e);
int integ_remove(struct integration *ig, const char *name, struct err *e);

/* The volume by name (attachments for this host) and its mount path here
 * ("" when not mounted). -ENOENT when there is no such volume. */
/* Everything this host knows of a volume, for `volume inspect`. */
struct integ_description {
	struct volume v;	/* the record */
	char *path;		/* its mount path here, "" when not mounted */
	char *device;		/* its device here (loop: /dev/loopN), NULL when none */
	char *storage;		/* its image file or directory, NULL when unknown */
	char fstype[32];	/* probed on the device or image; "" none or unknown */
	struct store_use *uses; /* this host's, by caller */
	size_t n_uses;
	int64_t total_uses;
};
/* probe_fs: fill fstype (a libblkid probe of the device or image, a few
 * ms); without it fstype is "". */
int integ_describe(struct integration *ig, const char *name, bool probe_fs,
		   struct integ_description *out, struct err *e);
void integ_description_release(struct integ_description *d);

int integ_inspect(struct integration *ig, const char *name, struct volume *out, char **path,
		  struct err *e);
/* integ_inspect without the copy: the volume and its mount path here (""
 * when not mounted) lent to fn for the call. fn may run under the store's
 * read lock (types.h volume_view_fn): quick, no calls into the engine.
 * Returns fn's result or integ_inspect's error. */
typedef int (*integ_view_fn)(void *arg, const struct volume *v, const char *path, struct err *e);
int integ_inspect_view(struct integration *ig, const char *name, integ_view_fn fn, void *arg,
		       struct err *e);
/* Every volume of the service, with the mount paths here (a parallel
 * array of malloc'd strings, "" when not mounted; free with
 * integ_paths_free(paths, n)). */
int integ_list(struct integration *ig, struct volume_list *out, char ***paths, struct err *e);
void integ_paths_free(char **paths, size_t n);

/*
 * Fencing: every volume with a device on this host whose attachment the
 * server no longer gives to this host (another host took it with
 * mount.preempt, or it was removed) is made read-only at once, unmounted
 * (lazily, if a container still holds it), its device released and its
 * use counts dropped: this host writes to it no more. *n gets how many.
 */
int integ_fence(struct integration *ig, size_t *n, struct err *e);
/* What this host sends with every request: its instance ID for the service. */
struct ls_ctx integ_ctx(const struct integration *ig);
/* The server revoked volume id (another host's preempt): fence it here
 * now if it has a device here (*found). The caller confirms to the server. */
int integ_fence_volume(struct integration *ig, const char *id, bool *found, struct err *e);
/* This host lost its lease (it cannot reach the server): fence every
 * volume with a device here; *n counts them. */
int integ_fence_all(struct integration *ig, size_t *n, struct err *e);

/*
 * At start: finish what a crash cut short. A volume mounted, or with a
 * device, on this host but with no use counted is unmounted, released and
 * detached (its mount or unmount was interrupted; no caller holds it).
 * *n gets how many.
 */
int integ_reconcile(struct integration *ig, size_t *n, struct err *e);

/* The devices of this service's volumes here see their storage's size
 * now (a resize on the server, as the lease check finds it on an agent);
 * a mounted filesystem on a grown one grows (ext4 without
 * CAP_SYS_RESOURCE: at its next mount). *n counts the grown devices. */
int integ_refresh(struct integration *ig, size_t *n, struct err *e);

#endif
