#include "csi/controller.h"

#include "csi/busy.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/keys.h"
#include "csi/csi.pb-c.h"
#include "integration/integration.h"
#include "util/log.h"
#include "util/names.h"

#define GIB (1024LL * 1024 * 1024)
#define MAX_GIB (1LL << 20)
#define TOKEN_PREFIX "after:"
#define KEY_MAX (VOLUME_NAME_MAX + 8)

struct csi_ctl {
	char module[65];
	char service[65];
	struct storage_client *client; /* borrowed */
	/* create defaults (create.default.*) only: no host store, never mounts */
	struct integration *ig;
	bool preempt; /* mount.preempt: publish takes a volume from another node */
	pthread_mutex_t mu;
	char driver[65]; /* the service's driver, for instance IDs; "" until known */
	struct csi_busy busy; /* keys of the operations in progress */
};

/* ---- pure helpers ---- */

int csi_capacity_gib(int64_t required, int64_t limit, int64_t def_gib, int64_t *gib)
{
	int64_t g;

	if (required < 0 || limit < 0)
		return -EINVAL;
	if (required > 0) {
		if (required > MAX_GIB * GIB)
			return -ERANGE;
		g = required / GIB + (required % GIB ? 1 : 0);
	} else {
		g = def_gib > 0 ? def_gib : 1;
		if (limit > 0 && g * GIB > limit)
			g = limit / GIB;
	}
	if (g < 1 || g > MAX_GIB || (limit > 0 && g * GIB > limit))
		return -ERANGE;
	*gib = g;
	return 0;
}

/* ---- the in-progress set (csi/busy.h) ---- */

#define KEYS_MAX 2 /* a call takes a name and a volume at most */

/* Keys are "n/<volume name>", "v/<volume id>", "s/<snapshot name>",
 * "i/<snapshot id>": one letter each, as keys compare without case. */
static bool busy_take(struct csi_ctl *c, char keys[][KEY_MAX], size_t n)
{
	const char *k[KEYS_MAX];

	for (size_t i = 0; i < n && i < KEYS_MAX; i++)
		k[i] = keys[i];
	return n <= KEYS_MAX && csi_busy_take(&c->busy, k, n);
}

static void busy_give(struct csi_ctl *c, char keys[][KEY_MAX], size_t n)
{
	const char *k[KEYS_MAX];

	for (size_t i = 0; i < n && i < KEYS_MAX; i++)
		k[i] = keys[i];
	csi_busy_give(&c->busy, k, n < KEYS_MAX ? n : KEYS_MAX);
}

/* ---- replies and errors ---- */

static int fail(grpc_status_code *code, grpc_status_code want, char *msg, size_t msgsz,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(grpc_status_code *code, grpc_status_code want, char *msg, size_t msgsz,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	*code = want;
	return -EIO;
}

/* A storage client failure: its message, its errno's status. */
static int fail_e(char *msg, size_t msgsz, int r, const struct err *e)
{
	snprintf(msg, msgsz, "%s", e->msg[0] ? e->msg : strerror(-r));
	return r;
}

static int aborted(grpc_status_code *code, char *msg, size_t msgsz, const char *what,
		   const char *id)
{
	return fail(code, GRPC_STATUS_ABORTED, msg, msgsz,
		    "an operation on %s '%.200s' is in progress; retry later", what, id);
}

#define NEW_REPLY(T, init, r)                                                               \
	do {                                                                                \
		if (!((r) = malloc(sizeof(*(r)))))                                          \
			return -ENOMEM;                                                     \
		init(r);                                                                    \
		*reply = &(r)->base;                                                        \
	} while (0)

/* The same in a handler with something to undo: rc = -ENOMEM, goto label. */
#define NEW_REPLY_OR(T, init, r, rc, label)                                                 \
	do {                                                                                \
		if (!((r) = malloc(sizeof(*(r))))) {                                        \
			rc = -ENOMEM;                                                       \
			goto label;                                                         \
		}                                                                           \
		init(r);                                                                    \
		*reply = &(r)->base;                                                        \
	} while (0)

/* A map<string,string> entry (every generated entry type is {base, key,
 * value}) appended to *arr. */
struct kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static int map_add(void *arrp, size_t *n, const ProtobufCMessageDescriptor *d, const char *k,
		   const char *v)
{
	struct kv ***arr = arrp, **na, *ent;

	if (!(na = realloc(*arr, (*n + 1) * sizeof(*na))))
		return -ENOMEM;
	*arr = na;
	if (!(ent = malloc(d->sizeof_message)))
		return -ENOMEM;
	protobuf_c_message_init(d, ent);
	na[(*n)++] = ent;
	if (!(ent->key = strdup(k)) || !(ent->value = strdup(v)))
		return -ENOMEM;
	return 0;
}

/* A deep copy that free_unpacked frees; NULL on no memory. */
static void *msg_dup(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *copy;

	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return copy;
}

static const char *field(const json_t *fields, const char *key)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)fields, k, v)
		if (strcasecmp(k, key) == 0 && json_is_string(v))
			return json_string_value(v);
	return NULL;
}

/* ---- capabilities ---- */

static bool fs_ok(const char *fs)
{
	return !fs || !*fs || strcasecmp(fs, "ext4") == 0 || strcasecmp(fs, "xfs") == 0;
}

/*
 * One capability we can serve: block or mount (ext4, xfs or unset), on
 * one node at a time (a loop image is attached to one instance; several
 * readers or writers on that node share its mount). 0, or -EINVAL with
 * why in msg (bad input) / -ENOTSUP (well-formed but not supported).
 */
static int cap_check(const Csi__V1__VolumeCapability *cap, char *why, size_t sz)
{
	if (!cap) {
		snprintf(why, sz, "a volume capability is required");
		return -EINVAL;
	}
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT) {
		if (!fs_ok(cap->mount->fs_type)) {
			snprintf(why, sz, "fs_type '%.64s' is not supported: ext4 or xfs",
				 cap->mount->fs_type);
			return -ENOTSUP;
		}
	} else if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK) {
		snprintf(why, sz, "a volume capability needs an access type (block or mount)");
		return -EINVAL;
	}
	if (!cap->access_mode) {
		snprintf(why, sz, "a volume capability needs an access mode");
		return -EINVAL;
	}
	switch (cap->access_mode->mode) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
		return 0;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN:
		snprintf(why, sz, "a volume capability needs an access mode");
		return -EINVAL;
	default:
		snprintf(why, sz, "access mode %d is not supported: a volume is attached to one "
			 "node at a time (SINGLE_NODE_*)", (int)cap->access_mode->mode);
		return -ENOTSUP;
	}
}

/* Every capability of a list, and the fs_type they agree on (or NULL). */
static int caps_check(Csi__V1__VolumeCapability *const *caps, size_t n, const char **fs,
		      char *why, size_t sz)
{
	int r;

	*fs = NULL;
	if (n == 0) {
		snprintf(why, sz, "volume_capabilities is required");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const Csi__V1__VolumeCapability *cap = caps[i];
		if ((r = cap_check(cap, why, sz)) < 0)
			return r;
		if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT ||
		    !cap->mount->fs_type[0])
			continue;
		if (*fs && strcasecmp(*fs, cap->mount->fs_type) != 0) {
			snprintf(why, sz, "the capabilities ask for two filesystems (%s, %.64s)", *fs,
				 cap->mount->fs_type);
			return -ENOTSUP;
		}
		*fs = cap->mount->fs_type;
	}
	return 0;
}

/* ---- the client's view ---- */

static const char *svc_of(const struct csi_ctl *c)
{
	return c->service;
}

/* The volume by ID with its attachments; an ID that cannot be one is
 * NOT_FOUND too (-ENOENT). */
static int inspect_id(struct csi_ctl *c, const char *id, struct volume *v, struct err *e)
{
	struct ls_ctx lctx = { 0 };
	int r = c->client->ops->volume_inspect(c->client, svc_of(c), id, false, ATT_REQUESTED,
					       &lctx, v, e);

	if (r == -EINVAL)
		r = err_set(e, -ENOENT, "no volume with ID '%.200s'", id);
	return r;
}

/* The driver's name, for the instance IDs of nodes. */
static int driver_of(struct csi_ctl *c, char *out, size_t sz, struct err *e)
{
	struct service_info info = { 0 };
	struct ls_ctx lctx = { 0 };
	int r = 0;

	pthread_mutex_lock(&c->mu);
	if (!c->driver[0]) {
		pthread_mutex_unlock(&c->mu);
		if ((r = c->client->ops->service_inspect(c->client, svc_of(c), false, &lctx, &info,
							 e)) < 0)
			return r;
		pthread_mutex_lock(&c->mu);
		snprintf(c->driver, sizeof(c->driver), "%s",
			 info.driver_name ? info.driver_name : "");
		service_info_release(&info);
	}
	snprintf(out, sz, "%s", c->driver);
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* ---- Volume messages ---- */

static int volume_fill(Csi__V1__Volume *cv, const struct volume *v)
{
	const char *fs = field(v->fields, "fsType");

	cv->capacity_bytes = v->size > 0 ? v->size * GIB : 0;
	if (!(cv->volume_id = strdup(v->id)))
		return -ENOMEM;
	/* what Node needs, the same for the volume's whole life */
	if (fs && *fs &&
	    map_add(&cv->volume_context, &cv->n_volume_context,
		    &csi__v1__volume__volume_context_entry__descriptor, "fsType", fs) < 0)
		return -ENOMEM;
	return 0;
}

static Csi__V1__Volume *volume_new(const struct volume *v)
{
	Csi__V1__Volume *cv = malloc(sizeof(*cv));

	if (!cv)
		return NULL;
	csi__v1__volume__init(cv);
	if (volume_fill(cv, v) < 0) {
		protobuf_c_message_free_unpacked(&cv->base, NULL);
		return NULL;
	}
	return cv;
}

/* The nodes it is published to (its attachments' instance IDs). */
static int node_ids(const struct volume *v, char ***out, size_t *n)
{
	if (!v->n_attachments)
		return 0;
	if (!(*out = calloc(v->n_attachments, sizeof(**out))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n_attachments; i++) {
		const char *id = v->attachments[i].iid.id;
		if (!id || !*id)
			continue;
		if (!((*out)[*n] = strdup(id)))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static bool published_to(const struct volume *v, const char *node)
{
	for (size_t i = 0; i < v->n_attachments; i++)
		if (v->attachments[i].iid.id && strcasecmp(v->attachments[i].iid.id, node) == 0)
			return true;
	return false;
}

/* ---- ControllerGetCapabilities ---- */

CSI_CTL_HANDLER(csi_ctl_get_capabilities)
{
	static const Csi__V1__ControllerServiceCapability__RPC__Type types[] = {
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_UNPUBLISH_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES_PUBLISHED_NODES,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME,
	};
	const size_t n = sizeof(types) / sizeof(types[0]);
	Csi__V1__ControllerGetCapabilitiesResponse *r;

	(void)req;
	if (!csi_module_ctl(ctx))
		return fail(code, GRPC_STATUS_UNIMPLEMENTED, msg, msgsz,
			    "this csi module serves no controller (csi.services)");
	NEW_REPLY(Csi__V1__ControllerGetCapabilitiesResponse,
		  csi__v1__controller_get_capabilities_response__init, r);
	if (!(r->capabilities = calloc(n, sizeof(*r->capabilities))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		Csi__V1__ControllerServiceCapability *c;
		/* a client that cannot tell the free space (HTTP, for now) */
		if (types[i] == CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY &&
		    !csi_module_ctl(ctx)->client->ops->service_capacity)
			continue;
		if (!(c = malloc(sizeof(*c))))
			return -ENOMEM;
		csi__v1__controller_service_capability__init(c);
		r->capabilities[r->n_capabilities++] = c;
		if (!(c->rpc = malloc(sizeof(*c->rpc))))
			return -ENOMEM;
		csi__v1__controller_service_capability__rpc__init(c->rpc);
		c->type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		c->rpc->type = types[i];
	}
	return 0;
}

#define CTL_OR_UNIMPLEMENTED(c)                                                             \
	do {                                                                                \
		if (!((c) = csi_module_ctl(ctx)))                                           \
			return fail(code, GRPC_STATUS_UNIMPLEMENTED, msg, msgsz,            \
				    "this csi module serves no controller (csi.services)"); \
	} while (0)

/* ---- CreateVolume ---- */

/* CreateVolume's parameters as the integration's create options: fsType
 * (or csi.storage.k8s.io/fstype), type, availabilityZone, iops, and the
 * driver's own; other csi.storage.k8s.io/ keys (the provisioner's
 * metadata) are dropped. The capabilities' filesystem must agree. */
static int create_opts(const Csi__V1__CreateVolumeRequest *q, const char *cap_fs, json_t **out,
		       const char **fs_out, char *why, size_t sz)
{
	const char *fs = cap_fs;
	json_t *o = json_object();

	*out = NULL;
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < q->n_parameters; i++) {
		const char *k = q->parameters[i]->key, *v = q->parameters[i]->value;
		bool is_fs = strcasecmp(k, "fsType") == 0 ||
			     strcasecmp(k, "csi.storage.k8s.io/fstype") == 0;
		if (is_fs) {
			if (!fs_ok(v) || (fs && *v && strcasecmp(fs, v) != 0)) {
				snprintf(why, sz, "parameter %.40s '%.64s': %s", k, v,
					 !fs_ok(v) ? "ext4 or xfs" : "differs from the capability's "
					 "fs_type");
				json_decref(o);
				return -EINVAL;
			}
			if (*v)
				fs = v;
			continue;
		}
		if (strncasecmp(k, "csi.storage.k8s.io/", 19) == 0)
			continue;
		if (strcasecmp(k, "size") == 0) {
			snprintf(why, sz, "parameter size: the size comes from capacity_range");
			json_decref(o);
			return -EINVAL;
		}
		if (json_object_set_new(o, k, json_string(v)) < 0) {
			json_decref(o);
			return -ENOMEM;
		}
	}
	if (fs && json_object_set_new(o, "fsType", json_string(fs)) < 0) {
		json_decref(o);
		return -ENOMEM;
	}
	*fs_out = fs;
	*out = o;
	return 0;
}

/* An existing volume of the name answers the same request: its size
 * within the range, the same filesystem. */
static bool compatible(const struct volume *v, const Csi__V1__CapacityRange *cr, const char *fs)
{
	const char *vfs = field(v->fields, "fsType");
	int64_t bytes = v->size * GIB;

	if (cr && cr->required_bytes > 0 && bytes < cr->required_bytes)
		return false;
	if (cr && cr->limit_bytes > 0 && bytes > cr->limit_bytes)
		return false;
	return !(fs && vfs && *vfs && strcasecmp(fs, vfs) != 0);
}

/* Make the volume req names from the request's content source, at least
 * gib big (the source's size when bigger, within the limit). */
static int create_from_source(struct csi_ctl *c, const Csi__V1__VolumeContentSource *src,
			      struct volume_create_req *cr, int64_t limit, struct volume *out,
			      grpc_status_code *code, char *msg, size_t msgsz)
{
	struct storage_client *cl = c->client;
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	int64_t src_gib;
	int r;

	if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT) {
		const char *sid = src->snapshot ? src->snapshot->snapshot_id : "";
		struct snapshot s;
		if (!*sid)
			return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
				    "volume_content_source.snapshot.snapshot_id is required");
		r = cl->ops->snapshot_inspect(cl, svc_of(c), sid, &lctx, &s, &e);
		if (r == -ENOENT || r == -EINVAL)
			return fail(code, GRPC_STATUS_NOT_FOUND, msg, msgsz,
				    "no snapshot with ID '%.200s'", sid);
		if (r < 0)
			return fail_e(msg, msgsz, r, &e);
		src_gib = s.volume_size;
		snapshot_release(&s);
		if (src_gib > cr->size)
			cr->size = src_gib;
		if (limit > 0 && cr->size * GIB > limit)
			return fail(code, GRPC_STATUS_OUT_OF_RANGE, msg, msgsz,
				    "snapshot %.200s holds %lld GiB: more than limit_bytes %lld",
				    sid, (long long)src_gib, (long long)limit);
		if ((r = cl->ops->snapshot_create_volume(cl, svc_of(c), sid, cr, &lctx, out,
							 &e)) < 0)
			return fail_e(msg, msgsz, r, &e);
		return 0;
	}
	if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME) {
		const char *vid = src->volume ? src->volume->volume_id : "";
		struct volume_copy_req cp = { .volume_name = cr->name, .opts = cr->opts };
		struct volume_resize_req rs = { 0 };
		struct volume sv, grown;
		if (!*vid)
			return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
				    "volume_content_source.volume.volume_id is required");
		if ((r = inspect_id(c, vid, &sv, &e)) < 0)
			return r == -ENOENT ? fail(code, GRPC_STATUS_NOT_FOUND, msg, msgsz,
						   "no source volume with ID '%.200s'", vid)
					    : fail_e(msg, msgsz, r, &e);
		src_gib = sv.size;
		volume_release(&sv);
		if (limit > 0 && src_gib * GIB > limit)
			return fail(code, GRPC_STATUS_OUT_OF_RANGE, msg, msgsz,
				    "volume %.200s holds %lld GiB: more than limit_bytes %lld", vid,
				    (long long)src_gib, (long long)limit);
		if ((r = cl->ops->volume_copy(cl, svc_of(c), vid, &cp, &lctx, out, &e)) < 0)
			return fail_e(msg, msgsz, r, &e);
		if (out->size >= cr->size)
			return 0;
		/* bigger than its source, as asked */
		rs.size = cr->size;
		if ((r = cl->ops->volume_resize(cl, svc_of(c), out->id, &rs, &lctx, &grown,
						&e)) < 0)
			return fail_e(msg, msgsz, r, &e); /* the copy stays: a retry finds it */
		volume_release(out);
		*out = grown;
		return 0;
	}
	return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
		    "volume_content_source: a snapshot or a volume");
}

CSI_CTL_HANDLER(csi_ctl_create_volume)
{
	const Csi__V1__CreateVolumeRequest *q = (const Csi__V1__CreateVolumeRequest *)req;
	struct volume_create_req cr = { 0 };
	const Csi__V1__CapacityRange *range = q->capacity_range;
	Csi__V1__CreateVolumeResponse *resp;
	struct volume v = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX], why[256];
	const char *cap_fs, *fs = NULL;
	json_t *opts = NULL;
	struct csi_ctl *c;
	int64_t gib;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->name[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "name is required");
	if ((r = volume_name_check(q->name, &e)) < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s", e.msg);
	if ((r = caps_check(q->volume_capabilities, q->n_volume_capabilities, &cap_fs, why,
			    sizeof(why))) < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s", why);
	if ((r = create_opts(q, cap_fs, &opts, &fs, why, sizeof(why))) < 0)
		return r == -ENOMEM ? r : fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
					       "%s", why);
	snprintf(keys[0], KEY_MAX, "n/%s", q->name);
	if (!busy_take(c, keys, 1)) {
		json_decref(opts);
		return aborted(code, msg, msgsz, "volume name", q->name);
	}

	/* an existing volume of that name: the same request again */
	r = c->client->ops->volume_inspect(c->client, svc_of(c), q->name, true, 0, &lctx, &v, &e);
	if (r == 0) {
		if (!compatible(&v, range, fs)) {
			r = fail(code, GRPC_STATUS_ALREADY_EXISTS, msg, msgsz,
				 "volume '%.200s' exists (%lld GiB%s%s) and does not match the "
				 "request", q->name, (long long)v.size,
				 field(v.fields, "fsType") ? ", " : "",
				 field(v.fields, "fsType") ? field(v.fields, "fsType") : "");
			goto out;
		}
		goto reply;
	}
	if (r != -ENOENT) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	err_clear(&e);

	if ((r = integ_build_create(c->ig, q->name, opts, &cr, &e)) < 0) {
		r = r == -EINVAL ? fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s", e.msg)
				 : fail_e(msg, msgsz, r, &e);
		goto out;
	}
	r = csi_capacity_gib(range ? range->required_bytes : 0, range ? range->limit_bytes : 0,
			     cr.has_size ? cr.size : 1, &gib);
	if (r == -EINVAL) {
		r = fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			 "capacity_range: negative bytes");
		goto out;
	}
	if (r < 0) {
		r = fail(code, GRPC_STATUS_OUT_OF_RANGE, msg, msgsz,
			 "capacity_range %lld-%lld bytes: volumes are whole GiB (1 to %lld), "
			 "and none fits", (long long)range->required_bytes,
			 (long long)range->limit_bytes, MAX_GIB);
		goto out;
	}
	cr.has_size = true;
	cr.size = gib;
	if (q->volume_content_source) {
		if ((r = create_from_source(c, q->volume_content_source, &cr,
					    range ? range->limit_bytes : 0, &v, code, msg,
					    msgsz)) < 0)
			goto out;
	} else if ((r = c->client->ops->volume_create(c->client, svc_of(c), &cr, &lctx, &v,
						       &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	log_info("csi module %s: created volume %s (%s, %lld GiB)", c->module, v.name, v.id,
		 (long long)v.size);
reply:
	NEW_REPLY_OR(Csi__V1__CreateVolumeResponse, csi__v1__create_volume_response__init, resp, r, out);
	if (!(resp->volume = volume_new(&v)) ||
	    (q->volume_content_source &&
	     !(resp->volume->content_source = msg_dup(&q->volume_content_source->base))))
		r = -ENOMEM;
	else
		r = 0;
out:
	busy_give(c, keys, 1);
	volume_create_req_release(&cr);
	volume_release(&v);
	json_decref(opts);
	return r;
}

/* ---- DeleteVolume ---- */

CSI_CTL_HANDLER(csi_ctl_delete_volume)
{
	const Csi__V1__DeleteVolumeRequest *q = (const Csi__V1__DeleteVolumeRequest *)req;
	Csi__V1__DeleteVolumeResponse *resp;
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX];
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "volume_id is required");
	snprintf(keys[0], KEY_MAX, "v/%s", q->volume_id);
	if (!busy_take(c, keys, 1))
		return aborted(code, msg, msgsz, "volume", q->volume_id);
	r = c->client->ops->volume_remove(c->client, svc_of(c), q->volume_id, false, &lctx, &e);
	busy_give(c, keys, 1);
	if (r == -ENOENT || r == -EINVAL) /* gone, or never one: done */
		r = 0;
	else if (r == -EBUSY || r == -EEXIST)
		return fail(code, GRPC_STATUS_FAILED_PRECONDITION, msg, msgsz, "%s", e.msg);
	else if (r < 0)
		return fail_e(msg, msgsz, r, &e);
	else
		log_info("csi module %s: deleted volume %s", c->module, q->volume_id);
	NEW_REPLY(Csi__V1__DeleteVolumeResponse, csi__v1__delete_volume_response__init, resp);
	return 0;
}

/* ---- ControllerPublishVolume / ControllerUnpublishVolume ---- */

CSI_CTL_HANDLER(csi_ctl_publish_volume)
{
	const Csi__V1__ControllerPublishVolumeRequest *q =
		(const Csi__V1__ControllerPublishVolumeRequest *)req;
	Csi__V1__ControllerPublishVolumeResponse *resp;
	struct volume_attach_req ar = { 0 };
	struct instance_id iid = { 0 };
	struct volume v = { 0 }, att = { 0 };
	struct ls_ctx lctx = { .iids = &iid, .n_iids = 1 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX], why[256], driver[65];
	const char *vfs;
	char *token = NULL;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0] || !q->node_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s is required",
			    !q->volume_id[0] ? "volume_id" : "node_id");
	if ((r = cap_check(q->volume_capability, why, sizeof(why))) < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "volume_capability: %s",
			    why);
	if ((r = option_value_check("node_id", q->node_id, &e)) < 0)
		return fail(code, GRPC_STATUS_NOT_FOUND, msg, msgsz, "no node '%.200s'", q->node_id);
	if ((r = driver_of(c, driver, sizeof(driver), &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	snprintf(keys[0], KEY_MAX, "v/%s", q->volume_id);
	if (!busy_take(c, keys, 1))
		return aborted(code, msg, msgsz, "volume", q->volume_id);
	if ((r = inspect_id(c, q->volume_id, &v, &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	vfs = field(v.fields, "fsType");
	if (q->volume_capability->access_type_case ==
		    CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT &&
	    q->volume_capability->mount->fs_type[0] && vfs && *vfs &&
	    strcasecmp(vfs, q->volume_capability->mount->fs_type) != 0) {
		r = fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			 "volume %.200s is %s, not %.64s", q->volume_id, vfs,
			 q->volume_capability->mount->fs_type);
		goto out;
	}
	iid.id = q->node_id;
	iid.driver = driver;
	iid.service = c->service;
	ar.force = c->preempt;
	r = c->client->ops->volume_attach(c->client, svc_of(c), q->volume_id, &ar, &lctx, &att,
					  &token, &e);
	if (r == -EBUSY || r == -EEXIST) {
		r = fail(code, GRPC_STATUS_FAILED_PRECONDITION, msg, msgsz, "%s", e.msg);
		goto out;
	}
	if (r < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	log_info("csi module %s: published volume %s to node %s", c->module, q->volume_id,
		 q->node_id);
	NEW_REPLY_OR(Csi__V1__ControllerPublishVolumeResponse,
		  csi__v1__controller_publish_volume_response__init, resp, r, out);
	/* what NodeStage needs to find the device: the attach token */
	if ((token && map_add(&resp->publish_context, &resp->n_publish_context,
			      &csi__v1__controller_publish_volume_response__publish_context_entry__descriptor,
			      "token", token) < 0) ||
	    map_add(&resp->publish_context, &resp->n_publish_context,
		    &csi__v1__controller_publish_volume_response__publish_context_entry__descriptor,
		    "readonly", q->readonly ? "true" : "false") < 0)
		r = -ENOMEM;
out:
	busy_give(c, keys, 1);
	free(token);
	volume_release(&v);
	volume_release(&att);
	return r;
}

CSI_CTL_HANDLER(csi_ctl_unpublish_volume)
{
	const Csi__V1__ControllerUnpublishVolumeRequest *q =
		(const Csi__V1__ControllerUnpublishVolumeRequest *)req;
	Csi__V1__ControllerUnpublishVolumeResponse *resp;
	struct volume_detach_req dr = { 0 };
	struct instance_id iid = { 0 };
	struct volume v = { 0 }, after = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX], driver[65];
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "volume_id is required");
	if ((r = driver_of(c, driver, sizeof(driver), &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	snprintf(keys[0], KEY_MAX, "v/%s", q->volume_id);
	if (!busy_take(c, keys, 1))
		return aborted(code, msg, msgsz, "volume", q->volume_id);
	r = inspect_id(c, q->volume_id, &v, &e);
	if (r == -ENOENT) { /* gone: nothing is published */
		r = 0;
		goto reply;
	}
	if (r < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	/* not published there: done (another node's use is not ours to end) */
	if (q->node_id[0] ? !published_to(&v, q->node_id) : v.n_attachments == 0)
		goto reply;
	if (q->node_id[0]) {
		iid.id = q->node_id;
		iid.driver = driver;
		iid.service = c->service;
		lctx.iids = &iid;
		lctx.n_iids = 1;
	} else {
		dr.force = true; /* every node */
	}
	r = c->client->ops->volume_detach(c->client, svc_of(c), q->volume_id, &dr, &lctx, &after,
					  &e);
	if (r == -ENOENT)
		r = 0;
	if (r == -EBUSY) {
		r = fail(code, GRPC_STATUS_FAILED_PRECONDITION, msg, msgsz, "%s", e.msg);
		goto out;
	}
	if (r < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	log_info("csi module %s: unpublished volume %s from %s", c->module, q->volume_id,
		 q->node_id[0] ? q->node_id : "every node");
reply:
	NEW_REPLY_OR(Csi__V1__ControllerUnpublishVolumeResponse,
		  csi__v1__controller_unpublish_volume_response__init, resp, r, out);
	r = 0;
out:
	busy_give(c, keys, 1);
	volume_release(&v);
	volume_release(&after);
	return r;
}

/* ---- ValidateVolumeCapabilities ---- */

CSI_CTL_HANDLER(csi_ctl_validate_volume_capabilities)
{
	const Csi__V1__ValidateVolumeCapabilitiesRequest *q =
		(const Csi__V1__ValidateVolumeCapabilitiesRequest *)req;
	Csi__V1__ValidateVolumeCapabilitiesResponse *resp;
	Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed *cf;
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	const char *fs, *vfs;
	char why[384] = "";
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "volume_id is required");
	if (!q->n_volume_capabilities)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "volume_capabilities is required");
	if ((r = inspect_id(c, q->volume_id, &v, &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	r = caps_check(q->volume_capabilities, q->n_volume_capabilities, &fs, why, sizeof(why));
	vfs = field(v.fields, "fsType");
	if (r == 0 && fs && vfs && *vfs && strcasecmp(fs, vfs) != 0) {
		snprintf(why, sizeof(why), "volume %.100s is %.16s, not %.64s", q->volume_id, vfs, fs);
		r = -ENOTSUP;
	}
	volume_release(&v);
	if (r == -EINVAL)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s", why);
	NEW_REPLY(Csi__V1__ValidateVolumeCapabilitiesResponse,
		  csi__v1__validate_volume_capabilities_response__init, resp);
	if (r < 0) { /* well-formed, not supported: no confirmed, a message */
		return (resp->message = strdup(why)) ? 0 : -ENOMEM;
	}
	if (!(cf = malloc(sizeof(*cf))))
		return -ENOMEM;
	csi__v1__validate_volume_capabilities_response__confirmed__init(cf);
	resp->confirmed = cf;
	if (!(cf->volume_capabilities = calloc(q->n_volume_capabilities,
					       sizeof(*cf->volume_capabilities))))
		return -ENOMEM;
	for (size_t i = 0; i < q->n_volume_capabilities; i++) {
		if (!(cf->volume_capabilities[i] = msg_dup(&q->volume_capabilities[i]->base)))
			return -ENOMEM;
		cf->n_volume_capabilities++;
	}
	for (size_t i = 0; i < q->n_volume_context; i++)
		if (map_add(&cf->volume_context, &cf->n_volume_context,
			    &csi__v1__validate_volume_capabilities_response__confirmed__volume_context_entry__descriptor,
			    q->volume_context[i]->key, q->volume_context[i]->value) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < q->n_parameters; i++)
		if (map_add(&cf->parameters, &cf->n_parameters,
			    &csi__v1__validate_volume_capabilities_response__confirmed__parameters_entry__descriptor,
			    q->parameters[i]->key, q->parameters[i]->value) < 0)
			return -ENOMEM;
	return 0;
}

/* ---- ListVolumes ---- */

/* "" (the start) or TOKEN_PREFIX<id> into *after; false when it is not a
 * token of ours (the spec's ABORTED). */
static bool token_parse(const char *tok, const char **after)
{
	struct err e = ERR_INIT;

	*after = NULL;
	if (!*tok)
		return true;
	if (strncmp(tok, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return false;
	*after = tok + strlen(TOKEN_PREFIX);
	return volume_name_check(*after, &e) == 0;
}

static int token_make(const char *id, char **out)
{
	size_t n = strlen(TOKEN_PREFIX) + strlen(id) + 1;

	if (!(*out = malloc(n)))
		return -ENOMEM;
	snprintf(*out, n, "%s%s", TOKEN_PREFIX, id);
	return 0;
}

static int cmp_volume_id(const void *a, const void *b)
{
	return strcmp(((const struct volume *)a)->id, ((const struct volume *)b)->id);
}

static int cmp_snapshot_id(const void *a, const void *b)
{
	return strcmp(((const struct snapshot *)a)->id, ((const struct snapshot *)b)->id);
}

CSI_CTL_HANDLER(csi_ctl_list_volumes)
{
	const Csi__V1__ListVolumesRequest *q = (const Csi__V1__ListVolumesRequest *)req;
	Csi__V1__ListVolumesResponse *resp;
	struct volume_list l = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	const char *after;
	size_t i = 0, max;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (q->max_entries < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "max_entries must not be negative");
	if (!token_parse(q->starting_token, &after))
		return fail(code, GRPC_STATUS_ABORTED, msg, msgsz,
			    "starting_token '%.100s' is not one ListVolumes gave", q->starting_token);
	if ((r = c->client->ops->volumes(c->client, svc_of(c), ATT_REQUESTED, &lctx, &l, &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	/* by ID: a token is the last ID given, and stays good when that
	 * volume goes */
	if (l.n > 1) /* qsort wants a non-NULL array */
		qsort(l.v, l.n, sizeof(*l.v), cmp_volume_id);
	while (after && i < l.n && strcmp(l.v[i].id, after) <= 0)
		i++;
	max = q->max_entries > 0 ? (size_t)q->max_entries : l.n;
	NEW_REPLY_OR(Csi__V1__ListVolumesResponse, csi__v1__list_volumes_response__init, resp, r, out);
	r = -ENOMEM;
	if (l.n > i && !(resp->entries = calloc(l.n - i < max ? l.n - i : max,
						sizeof(*resp->entries))))
		goto out;
	for (; i < l.n && resp->n_entries < max; i++) {
		Csi__V1__ListVolumesResponse__Entry *en = malloc(sizeof(*en));
		if (!en)
			goto out;
		csi__v1__list_volumes_response__entry__init(en);
		resp->entries[resp->n_entries++] = en;
		if (!(en->volume = volume_new(&l.v[i])) || !(en->status = malloc(sizeof(*en->status))))
			goto out;
		csi__v1__list_volumes_response__volume_status__init(en->status);
		if (node_ids(&l.v[i], &en->status->published_node_ids,
			     &en->status->n_published_node_ids) < 0)
			goto out;
	}
	if (i < l.n && token_make(l.v[i - 1].id, &resp->next_token) < 0)
		goto out;
	r = 0;
out:
	volume_list_release(&l);
	return r;
}

/* ---- ControllerGetVolume ---- */

CSI_CTL_HANDLER(csi_ctl_get_volume)
{
	const Csi__V1__ControllerGetVolumeRequest *q =
		(const Csi__V1__ControllerGetVolumeRequest *)req;
	Csi__V1__ControllerGetVolumeResponse *resp;
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "volume_id is required");
	if ((r = inspect_id(c, q->volume_id, &v, &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	NEW_REPLY_OR(Csi__V1__ControllerGetVolumeResponse,
		  csi__v1__controller_get_volume_response__init, resp, r, out);
	r = -ENOMEM;
	if (!(resp->volume = volume_new(&v)) || !(resp->status = malloc(sizeof(*resp->status))))
		goto out;
	csi__v1__controller_get_volume_response__volume_status__init(resp->status);
	if (node_ids(&v, &resp->status->published_node_ids,
		     &resp->status->n_published_node_ids) < 0)
		goto out;
	r = 0;
out:
	volume_release(&v);
	return r;
}

/* ---- GetCapacity ---- */

CSI_CTL_HANDLER(csi_ctl_get_capacity)
{
	const Csi__V1__GetCapacityRequest *q = (const Csi__V1__GetCapacityRequest *)req;
	Csi__V1__GetCapacityResponse *resp;
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	const char *fs;
	char why[384];
	int64_t avail = 0;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	/* capabilities we cannot serve have no room at all */
	if (q->n_volume_capabilities &&
	    caps_check(q->volume_capabilities, q->n_volume_capabilities, &fs, why,
		       sizeof(why)) < 0)
		avail = -1;
	if (avail == 0 && !c->client->ops->service_capacity)
		return fail(code, GRPC_STATUS_UNIMPLEMENTED, msg, msgsz,
			    "the storage client (%s) cannot tell the free space",
			    c->client->ops->name);
	if (avail == 0 && (r = c->client->ops->service_capacity(c->client, svc_of(c), &lctx,
								 &avail, &e)) < 0)
		return fail_e(msg, msgsz, r, &e);
	if (avail < 0)
		avail = 0;
	NEW_REPLY(Csi__V1__GetCapacityResponse, csi__v1__get_capacity_response__init, resp);
	resp->available_capacity = avail;
	/* volumes are whole GiB: the biggest one that fits now, the smallest */
	if (!(resp->maximum_volume_size = malloc(sizeof(*resp->maximum_volume_size))) ||
	    !(resp->minimum_volume_size = malloc(sizeof(*resp->minimum_volume_size))))
		return -ENOMEM;
	google__protobuf__int64_value__init(resp->maximum_volume_size);
	google__protobuf__int64_value__init(resp->minimum_volume_size);
	resp->maximum_volume_size->value = avail / GIB * GIB;
	resp->minimum_volume_size->value = GIB;
	return 0;
}

/* ---- snapshots ---- */

static Csi__V1__Snapshot *snapshot_new(const struct snapshot *s)
{
	Csi__V1__Snapshot *cs = malloc(sizeof(*cs));

	if (!cs)
		return NULL;
	csi__v1__snapshot__init(cs);
	cs->size_bytes = s->volume_size > 0 ? s->volume_size * GIB : 0;
	cs->ready_to_use = true; /* cut and complete when the call returns */
	if (!(cs->snapshot_id = strdup(s->id)) ||
	    !(cs->source_volume_id = strdup(s->volume_id ? s->volume_id : "")) ||
	    !(cs->creation_time = malloc(sizeof(*cs->creation_time)))) {
		protobuf_c_message_free_unpacked(&cs->base, NULL);
		return NULL;
	}
	google__protobuf__timestamp__init(cs->creation_time);
	cs->creation_time->seconds = s->start_time;
	return cs;
}

CSI_CTL_HANDLER(csi_ctl_create_snapshot)
{
	const Csi__V1__CreateSnapshotRequest *q = (const Csi__V1__CreateSnapshotRequest *)req;
	struct volume_snapshot_req sr = { 0 };
	Csi__V1__CreateSnapshotResponse *resp;
	struct snapshot_list l = { 0 };
	struct snapshot s = { 0 };
	struct volume v = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[2][KEY_MAX];
	const struct snapshot *found = NULL;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->source_volume_id[0] || !q->name[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s is required",
			    !q->name[0] ? "name" : "source_volume_id");
	if (volume_name_check(q->name, &e) < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "snapshot %s", e.msg);
	snprintf(keys[0], KEY_MAX, "s/%s", q->name);
	snprintf(keys[1], KEY_MAX, "v/%s", q->source_volume_id);
	if (!busy_take(c, keys, 2))
		return fail(code, GRPC_STATUS_ABORTED, msg, msgsz, "an operation on snapshot "
			    "'%.200s' or on volume '%.200s' is in progress; retry later", q->name,
			    q->source_volume_id);
	/* the same name again: the same snapshot, or another volume's */
	if ((r = c->client->ops->snapshots(c->client, svc_of(c), &lctx, &l, &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	for (size_t i = 0; i < l.n && !found; i++)
		if (l.v[i].name && strcmp(l.v[i].name, q->name) == 0)
			found = &l.v[i];
	if (found && strcmp(found->volume_id ? found->volume_id : "", q->source_volume_id) != 0) {
		r = fail(code, GRPC_STATUS_ALREADY_EXISTS, msg, msgsz,
			 "snapshot '%.200s' exists, of volume %.200s", q->name,
			 found->volume_id ? found->volume_id : "?");
		goto out;
	}
	if (found) {
		if ((r = snapshot_copy(&s, found)) < 0)
			goto out;
		goto reply;
	}
	if ((r = inspect_id(c, q->source_volume_id, &v, &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	sr.snapshot_name = q->name;
	if ((r = c->client->ops->volume_snapshot(c->client, svc_of(c), q->source_volume_id, &sr,
						 &lctx, &s, &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	log_info("csi module %s: snapshot %s (%s) of volume %s", c->module, q->name, s.id,
		 q->source_volume_id);
reply:
	NEW_REPLY_OR(Csi__V1__CreateSnapshotResponse, csi__v1__create_snapshot_response__init, resp, r, out);
	r = (resp->snapshot = snapshot_new(&s)) ? 0 : -ENOMEM;
out:
	busy_give(c, keys, 2);
	snapshot_list_release(&l);
	snapshot_release(&s);
	volume_release(&v);
	return r;
}

CSI_CTL_HANDLER(csi_ctl_delete_snapshot)
{
	const Csi__V1__DeleteSnapshotRequest *q = (const Csi__V1__DeleteSnapshotRequest *)req;
	Csi__V1__DeleteSnapshotResponse *resp;
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX];
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->snapshot_id[0])
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "snapshot_id is required");
	snprintf(keys[0], KEY_MAX, "i/%s", q->snapshot_id);
	if (!busy_take(c, keys, 1))
		return aborted(code, msg, msgsz, "snapshot", q->snapshot_id);
	r = c->client->ops->snapshot_remove(c->client, svc_of(c), q->snapshot_id, &lctx, &e);
	busy_give(c, keys, 1);
	if (r == -ENOENT || r == -EINVAL)
		r = 0;
	else if (r == -EBUSY)
		return fail(code, GRPC_STATUS_FAILED_PRECONDITION, msg, msgsz, "%s", e.msg);
	else if (r < 0)
		return fail_e(msg, msgsz, r, &e);
	else
		log_info("csi module %s: deleted snapshot %s", c->module, q->snapshot_id);
	NEW_REPLY(Csi__V1__DeleteSnapshotResponse, csi__v1__delete_snapshot_response__init, resp);
	return 0;
}

CSI_CTL_HANDLER(csi_ctl_list_snapshots)
{
	const Csi__V1__ListSnapshotsRequest *q = (const Csi__V1__ListSnapshotsRequest *)req;
	Csi__V1__ListSnapshotsResponse *resp;
	struct snapshot_list l = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	const char *after;
	size_t i = 0, max;
	struct csi_ctl *c;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (q->max_entries < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz,
			    "max_entries must not be negative");
	if (!token_parse(q->starting_token, &after))
		return fail(code, GRPC_STATUS_ABORTED, msg, msgsz,
			    "starting_token '%.100s' is not one ListSnapshots gave",
			    q->starting_token);
	if (q->snapshot_id[0]) {
		struct snapshot s;
		r = c->client->ops->snapshot_inspect(c->client, svc_of(c), q->snapshot_id, &lctx, &s,
						     &e);
		if (r == 0 && (r = snapshot_list_push(&l, &s)) < 0)
			snapshot_release(&s);
		if (r == -ENOENT || r == -EINVAL) /* none such: an empty list */
			r = 0;
	} else {
		r = c->client->ops->snapshots(c->client, svc_of(c), &lctx, &l, &e);
	}
	if (r < 0) {
		snapshot_list_release(&l);
		return fail_e(msg, msgsz, r, &e);
	}
	/* the source filter: the others leave */
	if (q->source_volume_id[0]) {
		size_t k = 0;
		for (size_t j = 0; j < l.n; j++) {
			if (l.v[j].volume_id && strcmp(l.v[j].volume_id, q->source_volume_id) == 0)
				l.v[k++] = l.v[j];
			else
				snapshot_release(&l.v[j]);
		}
		l.n = k;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_snapshot_id);
	while (after && i < l.n && strcmp(l.v[i].id, after) <= 0)
		i++;
	max = q->max_entries > 0 ? (size_t)q->max_entries : l.n;
	NEW_REPLY_OR(Csi__V1__ListSnapshotsResponse, csi__v1__list_snapshots_response__init, resp, r, out);
	r = -ENOMEM;
	if (l.n > i && !(resp->entries = calloc(l.n - i < max ? l.n - i : max,
						sizeof(*resp->entries))))
		goto out;
	for (; i < l.n && resp->n_entries < max; i++) {
		Csi__V1__ListSnapshotsResponse__Entry *en = malloc(sizeof(*en));
		if (!en)
			goto out;
		csi__v1__list_snapshots_response__entry__init(en);
		resp->entries[resp->n_entries++] = en;
		if (!(en->snapshot = snapshot_new(&l.v[i])))
			goto out;
	}
	if (i < l.n && token_make(l.v[i - 1].id, &resp->next_token) < 0)
		goto out;
	r = 0;
out:
	snapshot_list_release(&l);
	return r;
}

/* ---- ControllerExpandVolume ---- */

CSI_CTL_HANDLER(csi_ctl_expand_volume)
{
	const Csi__V1__ControllerExpandVolumeRequest *q =
		(const Csi__V1__ControllerExpandVolumeRequest *)req;
	const Csi__V1__CapacityRange *range = q->capacity_range;
	Csi__V1__ControllerExpandVolumeResponse *resp;
	struct volume_resize_req rr = { 0 };
	struct volume v = { 0 }, grown = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	char keys[1][KEY_MAX], why[256];
	struct csi_ctl *c;
	int64_t gib;
	int r;

	CTL_OR_UNIMPLEMENTED(c);
	if (!q->volume_id[0] || !range)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "%s is required",
			    !q->volume_id[0] ? "volume_id" : "capacity_range");
	if (q->volume_capability && (r = cap_check(q->volume_capability, why, sizeof(why))) < 0)
		return fail(code, GRPC_STATUS_INVALID_ARGUMENT, msg, msgsz, "volume_capability: %s",
			    why);
	snprintf(keys[0], KEY_MAX, "v/%s", q->volume_id);
	if (!busy_take(c, keys, 1))
		return aborted(code, msg, msgsz, "volume", q->volume_id);
	if ((r = inspect_id(c, q->volume_id, &v, &e)) < 0) {
		r = fail_e(msg, msgsz, r, &e);
		goto out;
	}
	r = csi_capacity_gib(range->required_bytes, range->limit_bytes, v.size, &gib);
	if (r == 0 && range->limit_bytes > 0 && v.size * GIB > range->limit_bytes)
		r = -ERANGE; /* it is bigger already, and never shrinks */
	if (r < 0) {
		r = fail(code, r == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_OUT_OF_RANGE,
			 msg, msgsz, "capacity_range %lld-%lld bytes: volume %.200s is %lld GiB, "
			 "grows in whole GiB (to at most %lld) and never shrinks",
			 (long long)range->required_bytes, (long long)range->limit_bytes,
			 q->volume_id, (long long)v.size, MAX_GIB);
		goto out;
	}
	if (gib > v.size) {
		rr.size = gib;
		if ((r = c->client->ops->volume_resize(c->client, svc_of(c), q->volume_id, &rr, &lctx,
						       &grown, &e)) < 0) {
			r = fail_e(msg, msgsz, r, &e);
			goto out;
		}
		log_info("csi module %s: volume %s grown to %lld GiB", c->module, q->volume_id,
			 (long long)grown.size);
		v.size = grown.size;
	}
	NEW_REPLY_OR(Csi__V1__ControllerExpandVolumeResponse,
		  csi__v1__controller_expand_volume_response__init, resp, r, out);
	resp->capacity_bytes = v.size * GIB;
	/* a filesystem grows where it is mounted: on the server's own host
	 * the engine grew it already when it could, elsewhere (or ext4
	 * without CAP_SYS_RESOURCE) only the node can; NodeExpandVolume is
	 * a no-op when there is nothing left to grow. A block volume has
	 * nothing to grow on the node. */
	resp->node_expansion_required =
		!(q->volume_capability &&
		  q->volume_capability->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
	r = 0;
out:
	busy_give(c, keys, 1);
	volume_release(&v);
	volume_release(&grown);
	return r;
}

/* ---- the state ---- */

int csi_ctl_new(const struct cfg *cfg, const struct paths *paths, struct storage_client *client,
		const char *module, const char *service, struct csi_ctl **out, struct err *e)
{
	struct csi_ctl *c = calloc(1, sizeof(*c));
	char scope[128];
	const char *scopes[2] = { scope, NULL };
	int r;

	*out = NULL;
	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	csi_busy_init(&c->busy, 0);
	snprintf(c->module, sizeof(c->module), "%s", module);
	snprintf(c->service, sizeof(c->service), "%s", service);
	c->client = client;
	snprintf(scope, sizeof(scope), "rexray.modules.%s", module);
	if ((r = cfg_key_bool(cfg, scopes, CFGK_OPS_MOUNT_PREEMPT, &c->preempt, e)) < 0 ||
	    (r = integration_new(cfg, paths, NULL, client, service, scope, &c->ig, e)) < 0) {
		csi_ctl_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void csi_ctl_free(struct csi_ctl *c)
{
	if (!c)
		return;
	integration_free(c->ig);
	csi_busy_destroy(&c->busy);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
