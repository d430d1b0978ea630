/*
 * types: the libStorage object model in C (spec/rexray.md section 3,
 * "JSON objects"). Every layer speaks these: drivers fill them, the server
 * encodes them, the HTTP client decodes them, the CLI prints them.
 *
 * Ownership: every char * and json_t * inside a struct is owned by that
 * struct; *_release() frees the contents (and leaves the struct zeroed),
 * *_free() also frees a heap struct. All release functions accept zeroed
 * structs. json_t members hold one reference.
 */
#ifndef RR_TYPES_H
#define RR_TYPES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ?attachments= bitmask. */
enum {
	ATT_REQUESTED = 1,   /* include attachments */
	ATT_MINE = 2,	     /* only the caller's attachments (needs an instance ID) */
	ATT_DEVICES = 4,     /* map device names through the local devices (needs both headers) */
	ATT_ATTACHED = 8,    /* only volumes attached (to the caller with ATT_MINE) */
	ATT_UNATTACHED = 16, /* only volumes not attached */
	ATT_ALL_BITS = 31,
};

/* Volume.attachmentState */
enum attachment_state {
	AS_NONE = 0, /* not computed: the server computes it */
	AS_UNKNOWN = 1,
	AS_ATTACHED = 2,
	AS_AVAILABLE = 3,
	AS_UNAVAILABLE = 4,
};

enum storage_type { ST_BLOCK = 0, ST_NAS, ST_OBJECT };
const char *storage_type_name(enum storage_type t); /* "block" "nas" "object" */

struct instance_id {
	char *id;	/* may be NULL/"" when only metadata is known */
	char *driver;
	char *service;
	json_t *fields;	/* object of string values, or NULL */
	char *metadata;	/* raw JSON text (decoded from base64 in the header), or NULL */
};

struct instance {
	struct instance_id iid;
	char *name;
	char *provider_name;
	char *region;
	json_t *fields;
};

struct volume_attachment {
	char *volume_id;
	struct instance_id iid;
	char *device_name;
	char *status;
	char *mount_point; /* omitted when NULL */
	json_t *fields;
};

struct volume {
	char *id;
	char *name;
	char *type;
	struct volume_attachment *attachments;
	size_t n_attachments;
	bool attachments_present; /* emit "attachments" even when empty */
	int attachment_state;	  /* enum attachment_state; 0 = omitted */
	char *availability_zone;
	bool encrypted;
	int64_t iops;
	char *network_name;
	int64_t size; /* GiB */
	char *status;
	json_t *fields; /* object of string values, or NULL */
	int64_t created_at; /* unix time, 0 = unknown; not part of the libStorage JSON */
};

struct volume_list {
	struct volume *v;
	size_t n;
};

/*
 * One volume of a walk (store_volume_each, ls_volumes_each): the callee may
 * change *v or move it out (volume_list_push leaves it zeroed); the walker
 * releases whatever is left after the call. A negative return stops the
 * walk and is what the walk returns (with e filled by the callee).
 */
struct err;
typedef int (*volume_visit_fn)(void *arg, struct volume *v, struct err *e);

/*
 * One volume lent for the duration of one call (store_volume_view_by_name
 * and the views above it): the callee reads it and copies what must
 * outlive the call. It may run under the lender's read lock: it must be
 * quick, must not block, and must not call back into the lender. Its
 * return is the lender's.
 */
typedef int (*volume_view_fn)(void *arg, const struct volume *v, struct err *e);

/* POST /volumes/{svc}. Absent fields are has_* = false / NULL. */
struct volume_create_req {
	char *name;
	char *availability_zone;
	bool has_encrypted;
	bool encrypted;
	char *encryption_key;
	bool has_iops;
	int64_t iops;
	bool has_size;
	int64_t size;
	char *type;
	json_t *opts; /* object, or NULL */
};

/* POST ...?attach */
struct volume_attach_req {
	bool force;
	char *next_device_name;
	json_t *opts;
};

/* POST ...?detach */
struct volume_detach_req {
	bool force;
	json_t *opts;
};

/* types.Snapshot: a point-in-time copy of a volume, independent of it. */
struct snapshot {
	char *description;
	bool encrypted;
	char *name;
	char *id;
	int64_t start_time; /* unix time; 0 = omitted */
	char *status;
	char *volume_id;
	int64_t volume_size; /* GiB of the volume when taken */
	json_t *fields;	     /* object of string values, or NULL */
};

struct snapshot_list {
	struct snapshot *v;
	size_t n;
};

/* POST /volumes/{svc}/{id}?snapshot */
struct volume_snapshot_req {
	char *snapshot_name;
	char *description; /* ours: opts.description, kept on the snapshot */
	json_t *opts;
};

/* POST /volumes/{svc}/{id}?copy */
struct volume_copy_req {
	char *volume_name;
	json_t *opts;
};

/* POST /snapshots/{svc}/{sid}?copy */
struct snapshot_copy_req {
	char *snapshot_name;
	char *destination_id;
	json_t *opts;
};

/* POST /volumes/{svc}/{id}?resize (ours): grow to size GiB */
struct volume_resize_req {
	int64_t size;
	json_t *opts;
};

struct next_device_info {
	bool ignore;
	char *prefix;
	char *pattern;
};

struct service_info {
	char *name;
	char *driver_name;
	enum storage_type driver_type;
	bool has_next_device;
	struct next_device_info next_device;
	bool has_instance;
	struct instance instance;
};

struct service_list {
	struct service_info *s;
	size_t n;
};

/* One Libstorage-Localdevices entry: DRIVER=VOLID::DEV,... */
struct local_device {
	char *volume_id;
	char *device;
};
struct local_devices {
	char *driver;
	struct local_device *map;
	size_t n;
};

void instance_id_release(struct instance_id *iid);
int instance_id_copy(struct instance_id *dst, const struct instance_id *src); /* 0 or -ENOMEM */
void instance_release(struct instance *in);
void volume_attachment_release(struct volume_attachment *a);
void volume_release(struct volume *v);
int volume_copy(struct volume *dst, const struct volume *src); /* deep; 0 or -ENOMEM */
void volume_list_release(struct volume_list *l);
/* Append a (moved) volume; *v is zeroed on success. 0 or -ENOMEM. */
int volume_list_push(struct volume_list *l, struct volume *v);
void volume_create_req_release(struct volume_create_req *r);
void volume_attach_req_release(struct volume_attach_req *r);
void volume_detach_req_release(struct volume_detach_req *r);
void snapshot_release(struct snapshot *s);
int snapshot_copy(struct snapshot *dst, const struct snapshot *src); /* deep; 0 or -ENOMEM */
void snapshot_list_release(struct snapshot_list *l);
/* Append a (moved) snapshot; *s is zeroed on success. 0 or -ENOMEM. */
int snapshot_list_push(struct snapshot_list *l, struct snapshot *s);
void volume_snapshot_req_release(struct volume_snapshot_req *r);
void volume_copy_req_release(struct volume_copy_req *r);
void snapshot_copy_req_release(struct snapshot_copy_req *r);
void volume_resize_req_release(struct volume_resize_req *r);
void service_info_release(struct service_info *s);
void service_list_release(struct service_list *l);
void local_devices_release(struct local_devices *ld);

/* Who asks, for a libStorage call: the caller's instance IDs and local
 * devices (the Libstorage-Instanceid / -Localdevices headers over HTTP)
 * and the transaction ID. Shared by the client and the server layer. */
struct ls_ctx {
	const struct instance_id *iids;	  /* one per driver/service; may be NULL */
	size_t n_iids;
	const struct local_devices *ldevs; /* one per driver; may be NULL */
	size_t n_ldevs;
	const char *tx_id;		  /* may be NULL: one is made up */
};

/* strdup that maps NULL to NULL; sets *ok=false on allocation failure. */
char *xstrdup_opt(const char *s, bool *ok);

/* One volume of one service, by ID: what a lease renewal reports revoked. */
struct volume_ref {
	char *service;
	char *volume_id;
};
void volume_refs_free(struct volume_ref *r, size_t n);

#endif
