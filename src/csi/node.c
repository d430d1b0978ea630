#include "csi/node.h"

#include "csi/busy.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "csi/csi.pb-c.h"
#include "integration/integration.h"
#include "os/fs.h"
#include "os/loopdev.h"
#include "os/mountinfo.h"
#include "os/safepath.h"
#include "store/store.h"
#include "util/log.h"
#include "util/sys.h"

#define GROW_TIMEOUT_MS (10L * 60 * 1000)
#define BUSY_MAX 256	     /* volumes with a node call in flight */
#define CALLER_PREFIX "csi:" /* a use's caller: "csi:<staging path>" */

struct csi_node {
	char module[65];
	char service[65];
	struct integration *ig;
	struct storage_client *client; /* borrowed */
	struct csi_busy busy;		/* volume names with a call in flight */
};

/* ---- set-up ---- */

int csi_node_new(const char *module, const struct cfg *cfg, const struct paths *paths,
		 struct store *st, struct storage_client *client, const char *service,
		 struct csi_node **out, struct err *e)
{
	struct csi_node *n = calloc(1, sizeof(*n));
	char scope[128];
	int r;

	if (!n)
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(n->module, sizeof(n->module), "%s", module);
	snprintf(n->service, sizeof(n->service), "%s", service ? service : "");
	snprintf(scope, sizeof(scope), "rexray.modules.%s", module);
	n->client = client;
	csi_busy_init(&n->busy, BUSY_MAX);
	if ((r = integration_new(cfg, paths, st, client, n->service, scope, &n->ig, e)) < 0) {
		csi_node_free(n);
		return r;
	}
	*out = n;
	return 0;
}

struct integration *csi_node_integration(const struct csi_node *n)
{
	return n ? n->ig : NULL;
}

void csi_node_free(struct csi_node *n)
{
	if (!n)
		return;
	integration_free(n->ig);
	csi_busy_destroy(&n->busy);
	free(n);
}

/* ---- pure helpers ---- */

int csi_node_path_check(const char *what, const char *path, struct err *e)
{
	size_t len = path ? strlen(path) : 0;
	const char *p;

	if (!len)
		return err_set(e, -EINVAL, "%s is required", what);
	if (len >= PATH_MAX)
		return err_set(e, -ENAMETOOLONG, "%s is %zu bytes long: at most %d", what, len,
			       PATH_MAX - 1);
	if (path[0] != '/')
		return err_set(e, -EINVAL, "%s '%.200s' is not an absolute path", what, path);
	if (len == 1)
		return err_set(e, -EINVAL, "%s must not be '/'", what);
	if (path[len - 1] == '/')
		return err_set(e, -EINVAL, "%s '%.200s' is not canonical (a trailing '/')", what,
			       path);
	for (p = path; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(e, -EINVAL, "%s holds a control character", what);
	}
	for (p = path; *p;) {
		size_t n;
		p++; /* the '/' */
		n = strcspn(p, "/");
		if (n == 0)
			return err_set(e, -EINVAL, "%s '%.200s' is not canonical ('//')", what,
				       path);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(e, -EINVAL, "%s '%.200s' is not canonical (a '%.*s' "
				       "component)", what, path, (int)n, p);
		p += n;
	}
	return 0;
}

/* ---- replies and errors ---- */

/* Fill the status from e: its errno's code unless code is already set. */
static int fail_e(grpc_status_code *code, char *msg, size_t msgsz, grpc_status_code c,
		  const struct err *e)
{
	int r = e->code < 0 ? e->code : -EIO;

	if (c != GRPC_STATUS_OK)
		*code = c;
	snprintf(msg, msgsz, "%s", e->msg[0] ? e->msg : strerror(-r));
	return r;
}

__attribute__((format(printf, 5, 6))) static int fail(grpc_status_code *code, char *msg,
						      size_t msgsz, grpc_status_code c,
						      const char *fmt, ...)
{
	va_list ap;

	*code = c;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	return -EIO; /* the status is code */
}

#define NEW_REPLY(type, init, out)                                                               \
	do {                                                                                     \
		type *r_ = malloc(sizeof(*r_));                                                  \
		if (!r_)                                                                         \
			return -ENOMEM;                                                          \
		init(r_);                                                                        \
		*(out) = &r_->base;                                                              \
	} while (0)

/* ---- one call per volume at a time (csi/busy.h) ---- */

static bool busy_take(struct csi_node *n, const char *name)
{
	return csi_busy_take(&n->busy, &name, 1);
}

static void busy_give(struct csi_node *n, const char *name)
{
	csi_busy_give(&n->busy, &name, 1);
}

/* ---- what a call works on ---- */

struct vol {
	struct volume v;   /* the record; v.name is what integration/ takes */
	char *path;	   /* the engine's mount path here (with rootPath), "" when none */
	char *device;	   /* the local device, NULL when none */
	bool have_fs;	   /* path is mounted: fs_dev/fs_ino identify its directory */
	dev_t fs_dev;
	ino_t fs_ino;
	bool have_rdev;	   /* device is there: its device number */
	dev_t rdev;
	char caller[PATH_MAX + 8];
	bool counted;	   /* caller holds a use */
	int64_t uses;	   /* every caller's */
};

static void vol_release(struct vol *x)
{
	volume_release(&x->v);
	free(x->path);
	free(x->device);
	memset(x, 0, sizeof(*x));
}

/* The volume by ID, else by name: -ENOENT when neither names one. */
static int find(struct csi_node *n, const char *id, struct volume *out, struct err *e)
{
	struct storage_client *c = n->client;
	struct ls_ctx ctx = { 0 };
	int r;

	if (strlen(id) > 1024)
		return err_set(e, -EINVAL, "volume_id is %zu bytes long", strlen(id));
	r = c->ops->volume_inspect(c, n->service, id, false, 0, &ctx, out, e);
	if (r == -ENOENT || r == -EINVAL) {
		err_clear(e);
		r = c->ops->volume_inspect(c, n->service, id, true, 0, &ctx, out, e);
	}
	if (r == -ENOENT || r == -EINVAL || (r == 0 && (!out->name || !*out->name))) {
		if (r == 0)
			volume_release(out);
		return err_set(e, -ENOENT, "volume '%.200s' not found in service '%s'", id,
			       n->service);
	}
	return r;
}

/* Fill x: the volume, its mount and device here, the uses (caller is the
 * use's caller, or NULL). */
static int vol_load(struct csi_node *n, const char *id, const char *staging, struct vol *x,
		    struct err *e)
{
	struct integ_description d;
	struct volume v = { 0 };
	struct stat st;
	int r;

	memset(x, 0, sizeof(*x));
	if ((r = find(n, id, &v, e)) < 0)
		return r;
	r = integ_describe(n->ig, v.name, false, &d, e); /* the stage probes what it mounts */
	volume_release(&v);
	if (r < 0)
		return r;
	x->v = d.v;
	memset(&d.v, 0, sizeof(d.v));
	x->path = d.path;
	x->device = d.device;
	d.path = d.device = NULL;
	if (staging)
		snprintf(x->caller, sizeof(x->caller), CALLER_PREFIX "%s", staging);
	for (size_t i = 0; i < d.n_uses; i++)
		if (staging && strcmp(d.uses[i].caller, x->caller) == 0 && d.uses[i].count > 0)
			x->counted = true;
	x->uses = d.total_uses;
	integ_description_release(&d);
	if (x->path && *x->path && lstat(x->path, &st) == 0 && S_ISDIR(st.st_mode)) {
		x->have_fs = true;
		x->fs_dev = st.st_dev;
		x->fs_ino = st.st_ino;
	}
	if (x->device && stat(x->device, &st) == 0 && S_ISBLK(st.st_mode)) {
		x->have_rdev = true;
		x->rdev = st.st_rdev;
	}
	return 0;
}

/* What is at a path the CO gave, never following a symlink there. */
struct at {
	bool exists, is_dir, is_reg, is_link, mount_root;
	struct statx sx;
};

static int look(const char *path, struct at *a)
{
	memset(a, 0, sizeof(*a));
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
		  &a->sx) < 0)
		return errno == ENOENT ? 0 : -errno;
	a->exists = true;
	a->is_dir = S_ISDIR(a->sx.stx_mode);
	a->is_reg = S_ISREG(a->sx.stx_mode);
	a->is_link = S_ISLNK(a->sx.stx_mode);
	a->mount_root = (a->sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
			(a->sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	return 0;
}

/* Is the mount at a the volume's filesystem directory (a bind of it)? */
static bool at_is_fs(const struct at *a, const struct vol *x)
{
	return x->have_fs && a->is_dir && makedev(a->sx.stx_dev_major, a->sx.stx_dev_minor) ==
		x->fs_dev && a->sx.stx_ino == x->fs_ino;
}

/* Is a the volume's device node (a bind of it onto a file)? */
static bool at_is_dev(const struct at *a, const struct vol *x)
{
	return x->have_rdev && S_ISBLK(a->sx.stx_mode) &&
	       makedev(a->sx.stx_rdev_major, a->sx.stx_rdev_minor) == x->rdev;
}

/* The parent of path, opened without following a symlink anywhere, and
 * the last component. */
static int open_parent(const char *path, const char *what, char *last, size_t lastsz,
		       struct err *e)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');

	snprintf(parent, sizeof(parent), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(last, lastsz, "%s", slash + 1);
	return safe_open_dir(AT_FDCWD, parent, 0, what, e);
}

/* Mount flags a CO may ask for a bind mount (MountVolume.mount_flags):
 * those a bind mount can carry; others are ignored (never logged: they
 * may hold secrets). */
static uint64_t bind_attrs(const Csi__V1__VolumeCapability *cap, bool ro)
{
	uint64_t set = ro ? MOUNT_ATTR_RDONLY : 0;

	if (cap && cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT &&
	    cap->mount) {
		for (size_t i = 0; i < cap->mount->n_mount_flags; i++) {
			const char *f = cap->mount->mount_flags[i];
			if (strcmp(f, "ro") == 0)
				set |= MOUNT_ATTR_RDONLY;
			else if (strcmp(f, "nosuid") == 0)
				set |= MOUNT_ATTR_NOSUID;
			else if (strcmp(f, "nodev") == 0)
				set |= MOUNT_ATTR_NODEV;
			else if (strcmp(f, "noexec") == 0)
				set |= MOUNT_ATTR_NOEXEC;
			else if (strcmp(f, "noatime") == 0)
				set |= MOUNT_ATTR_NOATIME;
			else if (strcmp(f, "nodiratime") == 0)
				set |= MOUNT_ATTR_NODIRATIME;
		}
	}
	return set;
}

/* ControllerPublishVolume's readonly, handed on in publish_context: the
 * node publishes read-only when either the controller or the node call
 * asked for it. */
static bool published_readonly(const Csi__V1__NodePublishVolumeRequest *q)
{
	for (size_t i = 0; i < q->n_publish_context; i++)
		if (strcmp(q->publish_context[i]->key, "readonly") == 0)
			return strcmp(q->publish_context[i]->value, "true") == 0;
	return false;
}

/* Bind srcfd onto dstfd (directories or files), with attrs set on the new
 * mount before it is attached: descriptor to descriptor, nothing resolved. */
static int bind_fds(int srcfd, int dstfd, uint64_t attrs, struct err *e)
{
	int tree = open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	int r = 0;

	if (tree < 0)
		return err_set(e, -errno, "bind mount: open_tree: %s", strerror(errno));
	if (attrs) {
		struct mount_attr ma = { .attr_set = attrs };
		if (mount_setattr(tree, "", AT_EMPTY_PATH, &ma, sizeof(ma)) < 0)
			r = err_set(e, -errno, "bind mount: mount_setattr: %s", strerror(errno));
	}
	if (r == 0 && move_mount(tree, "", dstfd, "",
				 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = err_set(e, -errno, "bind mount: move_mount: %s", strerror(errno));
	close(tree);
	return r;
}

/* Unmount what is mounted at path (never through a symlink), as long as
 * it is a mount root; at most a few stacked mounts. */
static int unmount_all(const char *path, struct err *e)
{
	struct at a;
	int r;

	for (int i = 0; i < 8; i++) {
		if ((r = look(path, &a)) < 0)
			return err_set(e, r, "'%s': %s", path, strerror(-r));
		if (!a.mount_root)
			return 0;
		if ((r = osfs_unmount(path, e)) < 0)
			return r;
	}
	return err_set(e, -EBUSY, "'%s': still mounted after 8 unmounts", path);
}

static const Csi__V1__VolumeCapability *check_cap(const Csi__V1__VolumeCapability *cap,
						  bool *block, struct err *e)
{
	if (!cap) {
		err_set(e, -EINVAL, "volume_capability is required");
		return NULL;
	}
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK)
		*block = true;
	else if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT)
		*block = false;
	else {
		err_set(e, -EINVAL, "volume_capability: access_type (block or mount) is required");
		return NULL;
	}
	if (!cap->access_mode ||
	    cap->access_mode->mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN) {
		err_set(e, -EINVAL, "volume_capability: access_mode is required");
		return NULL;
	}
	return cap;
}

/* A volume on one host, a filesystem one kernel mounts: no writer on
 * several nodes. */
static bool mode_supported(const Csi__V1__VolumeCapability *cap)
{
	switch (cap->access_mode->mode) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER:
		return false;
	default:
		return true;
	}
}

static const char *map_get(Csi__V1__NodeStageVolumeRequest__VolumeContextEntry **m, size_t n,
			   const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (m[i]->key && strcasecmp(m[i]->key, key) == 0)
			return m[i]->value;
	return NULL;
}

#define NODE_OF(ctx)                                                                             \
	struct csi_node *n = csi_module_node(ctx);                                               \
	if (!n)                                                                                  \
		return fail(code, msg, msgsz, GRPC_STATUS_UNIMPLEMENTED,                         \
			    "this csi module does not serve the node service");

/* ---- NodeStageVolume ---- */

static int stage_mount(struct csi_node *n, struct vol *x, const char *staging,
		       const char *fstype, struct err *e)
{
	struct integ_mount_opts o = { .new_fs_type = fstype && *fstype ? fstype : NULL };
	char *path = NULL, last[NAME_MAX + 1];
	bool was_counted = x->counted;
	int pfd = -1, src = -1, dst = -1, r;
	struct at a;

	if ((r = look(staging, &a)) < 0)
		return err_set(e, r, "staging_target_path '%s': %s", staging, strerror(-r));
	if (a.is_link)
		return err_set(e, -EINVAL, "staging_target_path '%s' is a symbolic link: not "
			       "followed", staging);
	if (a.exists && !a.is_dir)
		return err_set(e, -EBUSY, "staging_target_path '%s' is not a directory", staging);
	if (!a.mount_root && x->counted && !x->have_fs && x->device)
		return err_set(e, -EEXIST, "volume '%s' is staged at '%s' with block access",
			       x->v.name, staging);
	if (a.mount_root) {
		if (at_is_fs(&a, x) && x->counted)
			return 0; /* staged already */
		if (!at_is_fs(&a, x))
			return err_set(e, -EBUSY, "staging_target_path '%s': another filesystem "
				       "is mounted there", staging);
	}
	if (!a.exists) { /* the CO makes it; a missing one is made here */
		if ((pfd = open_parent(staging, "staging_target_path", last, sizeof(last), e)) < 0)
			return pfd;
		if (sys_mkdirat(pfd, last, 0750) < 0 && errno != EEXIST) {
			r = err_set(e, -errno, "cannot create '%s': %s", staging, strerror(errno));
			close(pfd);
			return r;
		}
		close(pfd);
	}
	if ((r = integ_mount(n->ig, x->v.name, x->caller, &o, &path, e)) < 0)
		return r;
	if (was_counted) /* one use per staging path: give the extra back */
		integ_unmount(n->ig, x->v.name, x->caller, NULL);
	if (a.mount_root) { /* the bind was there; only the use was missing */
		free(path);
		return 0;
	}
	if ((src = safe_open_dir(AT_FDCWD, path, 0, "the volume's mount path", e)) < 0 ||
	    (dst = safe_open_dir(AT_FDCWD, staging, 0, "staging_target_path", e)) < 0 ||
	    (r = bind_fds(src, dst, 0, e)) < 0) {
		r = e->code < 0 ? e->code : -EIO;
		if (!was_counted) {
			struct err ignore = ERR_INIT;
			if (integ_unmount(n->ig, x->v.name, x->caller, &ignore) < 0)
				log_warn("csi module %s: undo of the stage of %s: %s", n->module,
					 x->v.name, ignore.msg);
		}
	}
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	free(path);
	return r;
}

static int stage_block(struct csi_node *n, struct vol *x, const char *staging,
		       struct err *e)
{
	char *dev = NULL;
	struct at a;
	int r;

	if (look(staging, &a) == 0 && a.mount_root && at_is_fs(&a, x))
		return err_set(e, -EEXIST, "volume '%s' is staged at '%s' with mount access",
			       x->v.name, staging);
	if (x->counted && x->device)
		return 0; /* staged already */
	if (x->counted) /* the device went away: make it again, keep one use */
		integ_unmount(n->ig, x->v.name, x->caller, NULL);
	r = integ_device_use(n->ig, x->v.name, x->caller, &dev, e);
	free(dev);
	return r;
}

CSI_NODE_HANDLER(csi_node_stage)
{
	const Csi__V1__NodeStageVolumeRequest *q = (const void *)req;
	const Csi__V1__VolumeCapability *cap;
	const char *fstype = NULL;
	struct err e = ERR_INIT;
	struct vol x;
	bool block = false;
	int r;
	NODE_OF(ctx);

	if (!q->volume_id || !*q->volume_id)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "volume_id is required");
	if (csi_node_path_check("staging_target_path", q->staging_target_path, &e) < 0 ||
	    !(cap = check_cap(q->volume_capability, &block, &e)))
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	if (!mode_supported(cap))
		return fail(code, msg, msgsz, GRPC_STATUS_FAILED_PRECONDITION,
			    "access mode %d: a volume has one writing node at most",
			    (int)cap->access_mode->mode);
	if (!block) {
		fstype = cap->mount ? cap->mount->fs_type : NULL;
		if (!fstype || !*fstype)
			fstype = map_get(q->volume_context, q->n_volume_context, "fsType");
		if (fstype && *fstype && !osfs_supported(fstype))
			return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
				    "fs_type '%.64s': expected ext4 or xfs", fstype);
	}
	/* publish_context: the loop service's attach token is the volume's
	 * ID, which integration/ uses anyway; nothing else is read from it */
	if ((r = vol_load(n, q->volume_id, q->staging_target_path, &x, &e)) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (!busy_take(n, x.v.name)) {
		r = fail(code, msg, msgsz, GRPC_STATUS_ABORTED, "an operation on volume '%s' is "
			 "in progress", x.v.name);
		vol_release(&x);
		return r;
	}
	r = block ? stage_block(n, &x, q->staging_target_path, &e) : stage_mount(n, &x, q->staging_target_path, fstype,
							 &e);
	busy_give(n, x.v.name);
	if (r == 0)
		log_info("csi module %s: staged %s at %s (%s)", n->module, x.v.name,
			 q->staging_target_path, block ? "block" : "mount");
	vol_release(&x);
	if (r < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	NEW_REPLY(Csi__V1__NodeStageVolumeResponse, csi__v1__node_stage_volume_response__init,
		  reply);
	return 0;
}

/* ---- NodeUnstageVolume ---- */

CSI_NODE_HANDLER(csi_node_unstage)
{
	const Csi__V1__NodeUnstageVolumeRequest *q = (const void *)req;
	struct err e = ERR_INIT;
	struct vol x;
	struct at a;
	int r;
	NODE_OF(ctx);

	if (!q->volume_id || !*q->volume_id)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "volume_id is required");
	if (csi_node_path_check("staging_target_path", q->staging_target_path, &e) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	if ((r = vol_load(n, q->volume_id, q->staging_target_path, &x, &e)) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (!busy_take(n, x.v.name)) {
		r = fail(code, msg, msgsz, GRPC_STATUS_ABORTED, "an operation on volume '%s' is "
			 "in progress", x.v.name);
		vol_release(&x);
		return r;
	}
	if ((r = look(q->staging_target_path, &a)) < 0) {
		err_set(&e, r, "staging_target_path: %s", strerror(-r));
	} else if (a.is_link) {
		r = err_set(&e, -EINVAL, "staging_target_path '%s' is a symbolic link: not "
			    "followed", q->staging_target_path);
	} else if (a.mount_root && x.have_fs && !at_is_fs(&a, &x)) {
		r = err_set(&e, -EBUSY, "staging_target_path '%s': another filesystem is mounted "
			    "there", q->staging_target_path);
	} else if (a.mount_root) {
		/* the volume's (or, its own mount gone, what the CO staged) */
		r = unmount_all(q->staging_target_path, &e);
	}
	if (r == 0 && x.counted)
		r = integ_unmount(n->ig, x.v.name, x.caller, &e);
	busy_give(n, x.v.name);
	if (r == 0)
		log_info("csi module %s: unstaged %s from %s", n->module, x.v.name,
			 q->staging_target_path);
	vol_release(&x);
	if (r < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	NEW_REPLY(Csi__V1__NodeUnstageVolumeResponse, csi__v1__node_unstage_volume_response__init,
		  reply);
	return 0;
}

/* ---- NodePublishVolume ---- */

static int publish(const Csi__V1__NodePublishVolumeRequest *q,
		   const struct vol *x, bool block, grpc_status_code *code, struct err *e)
{
	const char *target = q->target_path;
	uint64_t attrs = bind_attrs(q->volume_capability,
				    q->readonly || published_readonly(q));
	char last[NAME_MAX + 1];
	int pfd = -1, src = -1, dst = -1, r;
	bool made = false;
	struct at s, a;

	/* the source: the staged mount, or the device */
	if (block) {
		if (!x->counted || !x->device || !x->have_rdev) {
			*code = GRPC_STATUS_FAILED_PRECONDITION;
			return err_set(e, -EBUSY, "volume '%s' is not staged at '%s'", x->v.name,
				       q->staging_target_path);
		}
	} else if ((r = look(q->staging_target_path, &s)) < 0 || !s.mount_root ||
		   !at_is_fs(&s, x)) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		return err_set(e, -EBUSY, "volume '%s' is not staged at '%s'", x->v.name,
			       q->staging_target_path);
	}
	/* the target */
	if ((r = look(target, &a)) < 0)
		return err_set(e, r, "target_path '%s': %s", target, strerror(-r));
	if (a.is_link) {
		*code = GRPC_STATUS_INVALID_ARGUMENT;
		return err_set(e, -EINVAL, "target_path '%s' is a symbolic link: not followed",
			       target);
	}
	if (a.mount_root) {
		struct statvfs sv;
		bool ro;
		if (!(block ? at_is_dev(&a, x) : at_is_fs(&a, x))) {
			*code = GRPC_STATUS_ALREADY_EXISTS;
			return err_set(e, -EEXIST, "target_path '%s': something else is mounted "
				       "there", target);
		}
		ro = statvfs(target, &sv) == 0 && (sv.f_flag & ST_RDONLY);
		if (ro != !!(attrs & MOUNT_ATTR_RDONLY)) {
			*code = GRPC_STATUS_ALREADY_EXISTS;
			return err_set(e, -EEXIST, "volume '%s' is published at '%s' %s", x->v.name,
				       target, ro ? "read-only" : "read-write");
		}
		return 0; /* published already */
	}
	if (a.exists && (block ? !a.is_reg : !a.is_dir)) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		return err_set(e, -EBUSY, "target_path '%s' is not %s", target,
			       block ? "a regular file" : "a directory");
	}
	if ((pfd = open_parent(target, "target_path", last, sizeof(last), e)) < 0)
		return pfd;
	if (!a.exists) {
		if (block) {
			int fd = sys_openat(pfd, last, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
					    O_CLOEXEC, 0600);
			r = fd < 0 ? -errno : 0;
			if (fd >= 0)
				close(fd);
		} else {
			r = sys_mkdirat(pfd, last, 0750) < 0 ? -errno : 0;
		}
		if (r < 0) {
			err_set(e, r, "cannot create '%s': %s", target, strerror(-r));
			goto out;
		}
		made = true;
	}
	if (block) {
		if ((src = sys_open(x->device, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    (dst = sys_openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			r = err_set(e, -errno, "cannot open '%s': %s", src < 0 ? x->device : target,
				    strerror(errno));
			goto out;
		}
	} else if ((src = safe_open_dir(AT_FDCWD, q->staging_target_path, 0,
					"staging_target_path", e)) < 0 ||
		   (dst = safe_open_dir(pfd, last, SAFE_BENEATH, "target_path", e)) < 0) {
		r = e->code;
		goto out;
	}
	r = bind_fds(src, dst, attrs, e);
out:
	if (r < 0 && made)
		sys_unlinkat(pfd, last, block ? 0 : AT_REMOVEDIR);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	if (pfd >= 0)
		close(pfd);
	return r;
}

CSI_NODE_HANDLER(csi_node_publish)
{
	const Csi__V1__NodePublishVolumeRequest *q = (const void *)req;
	grpc_status_code c = GRPC_STATUS_OK;
	struct err e = ERR_INIT;
	bool block = false;
	struct vol x;
	int r;
	NODE_OF(ctx);

	if (!q->volume_id || !*q->volume_id)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "volume_id is required");
	if (csi_node_path_check("target_path", q->target_path, &e) < 0 ||
	    !check_cap(q->volume_capability, &block, &e))
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	/* this plugin stages (STAGE_UNSTAGE_VOLUME): the CO must say where */
	if (!q->staging_target_path || !*q->staging_target_path)
		return fail(code, msg, msgsz, GRPC_STATUS_FAILED_PRECONDITION,
			    "staging_target_path is required: the volume is staged first");
	if (csi_node_path_check("staging_target_path", q->staging_target_path, &e) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	if (strcmp(q->staging_target_path, q->target_path) == 0)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "target_path is the staging_target_path");
	if (!mode_supported(q->volume_capability))
		return fail(code, msg, msgsz, GRPC_STATUS_FAILED_PRECONDITION,
			    "access mode %d: a volume has one writing node at most",
			    (int)q->volume_capability->access_mode->mode);
	if ((r = vol_load(n, q->volume_id, q->staging_target_path, &x, &e)) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (!busy_take(n, x.v.name)) {
		r = fail(code, msg, msgsz, GRPC_STATUS_ABORTED, "an operation on volume '%s' is "
			 "in progress", x.v.name);
		vol_release(&x);
		return r;
	}
	r = publish(q, &x, block, &c, &e);
	busy_give(n, x.v.name);
	if (r == 0)
		log_info("csi module %s: published %s at %s%s", n->module, x.v.name,
			 q->target_path,
			 q->readonly || published_readonly(q) ? " (read-only)" : "");
	vol_release(&x);
	if (r < 0)
		return fail_e(code, msg, msgsz, c, &e);
	NEW_REPLY(Csi__V1__NodePublishVolumeResponse, csi__v1__node_publish_volume_response__init,
		  reply);
	return 0;
}

/* ---- NodeUnpublishVolume ---- */

static int unpublish(const char *target, const struct vol *x, grpc_status_code *code,
		     struct err *e)
{
	struct at a;
	int r;

	if ((r = look(target, &a)) < 0)
		return err_set(e, r, "target_path '%s': %s", target, strerror(-r));
	if (!a.exists)
		return 0;
	if (a.is_link) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		return err_set(e, -EBUSY, "target_path '%s' is a symbolic link: not ours", target);
	}
	/* another volume's mount is not this call's to take down */
	if (a.mount_root && (x->have_fs || x->have_rdev) && !at_is_fs(&a, x) &&
	    !at_is_dev(&a, x)) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		return err_set(e, -EBUSY, "target_path '%s': another volume is mounted there",
			       target);
	}
	if ((r = unmount_all(target, e)) < 0)
		return r;
	if ((r = look(target, &a)) < 0 || !a.exists)
		return 0;
	if (a.is_dir && sys_rmdir(target) < 0 && errno != ENOENT) {
		/* what someone wrote under the mount point is not ours to delete */
		log_warn("unpublish: cannot remove '%s': %s", target, strerror(errno));
	} else if (a.is_reg && a.sx.stx_size == 0 && sys_unlink(target) < 0 && errno != ENOENT) {
		log_warn("unpublish: cannot remove '%s': %s", target, strerror(errno));
	}
	return 0;
}

CSI_NODE_HANDLER(csi_node_unpublish)
{
	const Csi__V1__NodeUnpublishVolumeRequest *q = (const void *)req;
	grpc_status_code c = GRPC_STATUS_OK;
	struct err e = ERR_INIT;
	struct vol x;
	int r;
	NODE_OF(ctx);

	if (!q->volume_id || !*q->volume_id)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "volume_id is required");
	if (csi_node_path_check("target_path", q->target_path, &e) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	if ((r = vol_load(n, q->volume_id, NULL, &x, &e)) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (!busy_take(n, x.v.name)) {
		r = fail(code, msg, msgsz, GRPC_STATUS_ABORTED, "an operation on volume '%s' is "
			 "in progress", x.v.name);
		vol_release(&x);
		return r;
	}
	r = unpublish(q->target_path, &x, &c, &e);
	busy_give(n, x.v.name);
	if (r == 0)
		log_info("csi module %s: unpublished %s from %s", n->module, x.v.name,
			 q->target_path);
	vol_release(&x);
	if (r < 0)
		return fail_e(code, msg, msgsz, c, &e);
	NEW_REPLY(Csi__V1__NodeUnpublishVolumeResponse,
		  csi__v1__node_unpublish_volume_response__init, reply);
	return 0;
}

/* ---- NodeGetVolumeStats ---- */

static int add_usage(Csi__V1__NodeGetVolumeStatsResponse *r, Csi__V1__VolumeUsage__Unit unit,
		     int64_t total, int64_t used, int64_t avail)
{
	Csi__V1__VolumeUsage *u = malloc(sizeof(*u));

	if (!u)
		return -ENOMEM;
	csi__v1__volume_usage__init(u);
	u->unit = unit;
	u->total = total;
	u->used = used;
	u->available = avail;
	r->usage[r->n_usage++] = u;
	return 0;
}

static int set_condition(Csi__V1__NodeGetVolumeStatsResponse *r, bool abnormal,
			 const char *text)
{
	if (!(r->volume_condition = malloc(sizeof(*r->volume_condition))))
		return -ENOMEM;
	csi__v1__volume_condition__init(r->volume_condition);
	r->volume_condition->abnormal = abnormal;
	if (!(r->volume_condition->message = strdup(text)))
		return -ENOMEM;
	return 0;
}

/* Is the path where this volume is (a mount of its filesystem, or its
 * device node)? -ENOENT when the volume is not at path; *gone when path
 * exists but its mount is gone. */
static int at_volume(const char *path, const struct vol *x, struct at *a, bool *gone,
		     struct err *e)
{
	int r;

	*gone = false;
	if ((r = look(path, a)) < 0)
		return err_set(e, r, "'%s': %s", path, strerror(-r));
	if (!a->exists || a->is_link)
		return err_set(e, -ENOENT, "volume '%s' is not at '%s'", x->v.name, path);
	if (a->mount_root && (at_is_fs(a, x) || at_is_dev(a, x)))
		return 0;
	if (a->mount_root && (x->have_fs || x->have_rdev))
		return err_set(e, -ENOENT, "volume '%s' is not at '%s' (another filesystem is "
			       "mounted there)", x->v.name, path);
	/* a directory or file the volume was at, its mount gone (or the
	 * engine's own mount of it gone) */
	*gone = true;
	return 0;
}

/* What NodeGetVolumeStats and NodeExpandVolume are given: a volume_id,
 * a volume_path and, optionally, the staging path, each as the CO may
 * give it; else INVALID_ARGUMENT. */
static int volume_paths_check(const char *volume_id, const char *volume_path,
			      const char *staging, grpc_status_code *code, char *msg,
			      size_t msgsz)
{
	struct err e = ERR_INIT;

	if (!volume_id || !*volume_id)
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "volume_id is required");
	if (csi_node_path_check("volume_path", volume_path, &e) < 0 ||
	    (staging && *staging && csi_node_path_check("staging_target_path", staging, &e) < 0))
		return fail_e(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT, &e);
	return 0;
}

CSI_NODE_HANDLER(csi_node_get_volume_stats)
{
	const Csi__V1__NodeGetVolumeStatsRequest *q = (const void *)req;
	Csi__V1__NodeGetVolumeStatsResponse *rep;
	struct err e = ERR_INIT;
	char text[PATH_MAX + 128];
	bool gone = false;
	struct vol x;
	struct at a;
	int r;
	NODE_OF(ctx);

	if ((r = volume_paths_check(q->volume_id, q->volume_path, q->staging_target_path, code,
				    msg, msgsz)) < 0)
		return r;
	if ((r = vol_load(n, q->volume_id, NULL, &x, &e)) < 0 ||
	    (r = at_volume(q->volume_path, &x, &a, &gone, &e)) < 0) {
		vol_release(&x); /* zeroed by a failed vol_load */
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	}
	r = -ENOMEM;
	if (!(rep = malloc(sizeof(*rep))))
		goto out;
	csi__v1__node_get_volume_stats_response__init(rep);
	*reply = &rep->base;
	if (!(rep->usage = calloc(2, sizeof(*rep->usage))))
		goto out;
	if (gone) {
		snprintf(text, sizeof(text), "the volume is no longer mounted at '%s'",
			 q->volume_path);
		r = set_condition(rep, true, text);
	} else if (!a.is_dir) { /* block: the device's size */
		unsigned long long bytes = 0;
		if ((r = blockdev_size(x.device, &bytes, &e)) < 0)
			r = set_condition(rep, true, e.msg);
		else if ((r = add_usage(rep, CSI__V1__VOLUME_USAGE__UNIT__BYTES, (int64_t)bytes, 0,
					0)) == 0)
			r = set_condition(rep, false, "the device is attached");
	} else {
		struct statvfs sv;
		if (statvfs(q->volume_path, &sv) < 0) {
			snprintf(text, sizeof(text), "the filesystem does not answer: %s",
				 strerror(errno));
			r = set_condition(rep, true, text);
		} else {
			int64_t f = (int64_t)sv.f_frsize;
			r = add_usage(rep, CSI__V1__VOLUME_USAGE__UNIT__BYTES,
				      (int64_t)sv.f_blocks * f,
				      (int64_t)(sv.f_blocks - sv.f_bfree) * f,
				      (int64_t)sv.f_bavail * f);
			if (r == 0)
				r = add_usage(rep, CSI__V1__VOLUME_USAGE__UNIT__INODES,
					      (int64_t)sv.f_files,
					      (int64_t)(sv.f_files - sv.f_ffree),
					      (int64_t)sv.f_favail);
			if (r == 0 && !x.have_fs)
				r = set_condition(rep, true, "the engine's own mount of the "
						  "volume is gone");
			else if (r == 0)
				r = set_condition(rep, false, "mounted");
		}
	}
out:
	vol_release(&x);
	return r;
}

/* ---- NodeExpandVolume ---- */

static int expand(struct csi_node *n, const Csi__V1__NodeExpandVolumeRequest *q,
		  struct vol *x, int64_t *capacity, grpc_status_code *code, struct err *e)
{
	unsigned long long bytes = 0;
	char fstype[64] = "", **mps = NULL;
	bool gone;
	size_t grown = 0;
	struct at a;
	int r, k;

	if ((r = at_volume(q->volume_path, x, &a, &gone, e)) < 0)
		return r;
	if (gone || !x->device) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		return err_set(e, -EBUSY, "volume '%s' is not staged or published at '%s'",
			       x->v.name, q->volume_path);
	}
	/* the device sees its storage's size now (loop: the grown image) */
	if ((r = integ_refresh(n->ig, &grown, e)) < 0)
		return r;
	/* a mounted filesystem grows to its device (nothing when it fills it) */
	if (a.is_dir && osfs_probe(x->device, fstype, sizeof(fstype), NULL) == 0 && fstype[0] &&
	    (k = mount_points_of(x->device, &mps, e)) > 0) {
		const char *base = mps[0];
		for (int i = 1; i < k; i++)
			if (strlen(mps[i]) < strlen(base))
				base = mps[i];
		r = osfs_grow(x->device, base, fstype, GROW_TIMEOUT_MS, e);
		mount_points_free(mps);
		if (r < 0)
			return r;
	} else if (mps) {
		mount_points_free(mps);
	}
	if ((r = blockdev_size(x->device, &bytes, e)) < 0)
		return r;
	if (q->capacity_range && q->capacity_range->required_bytes > 0 &&
	    (unsigned long long)q->capacity_range->required_bytes > bytes) {
		*code = GRPC_STATUS_OUT_OF_RANGE;
		return err_set(e, -ERANGE, "volume '%s' is %llu bytes, less than the %lld "
			       "required: expand it on the controller first", x->v.name, bytes,
			       (long long)q->capacity_range->required_bytes);
	}
	*capacity = (int64_t)bytes;
	return 0;
}

CSI_NODE_HANDLER(csi_node_expand)
{
	const Csi__V1__NodeExpandVolumeRequest *q = (const void *)req;
	Csi__V1__NodeExpandVolumeResponse *rep;
	grpc_status_code c = GRPC_STATUS_OK;
	struct err e = ERR_INIT;
	int64_t capacity = 0;
	struct vol x;
	int r;
	NODE_OF(ctx);

	if ((r = volume_paths_check(q->volume_id, q->volume_path, q->staging_target_path, code,
				    msg, msgsz)) < 0)
		return r;
	if (q->capacity_range &&
	    (q->capacity_range->required_bytes < 0 || q->capacity_range->limit_bytes < 0))
		return fail(code, msg, msgsz, GRPC_STATUS_INVALID_ARGUMENT,
			    "capacity_range: negative bytes");
	if ((r = vol_load(n, q->volume_id, NULL, &x, &e)) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (!busy_take(n, x.v.name)) {
		r = fail(code, msg, msgsz, GRPC_STATUS_ABORTED, "an operation on volume '%s' is "
			 "in progress", x.v.name);
		vol_release(&x);
		return r;
	}
	r = expand(n, q, &x, &capacity, &c, &e);
	busy_give(n, x.v.name);
	if (r == 0)
		log_info("csi module %s: expanded %s at %s: %lld bytes", n->module, x.v.name,
			 q->volume_path, (long long)capacity);
	vol_release(&x);
	if (r < 0)
		return fail_e(code, msg, msgsz, c, &e);
	NEW_REPLY(Csi__V1__NodeExpandVolumeResponse, csi__v1__node_expand_volume_response__init,
		  reply);
	rep = (Csi__V1__NodeExpandVolumeResponse *)*reply;
	rep->capacity_bytes = capacity;
	return 0;
}

/* ---- NodeGetCapabilities, NodeGetInfo ---- */

CSI_NODE_HANDLER(csi_node_get_capabilities)
{
	static const Csi__V1__NodeServiceCapability__RPC__Type types[] = {
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
	};
	const size_t nt = sizeof(types) / sizeof(types[0]);
	Csi__V1__NodeGetCapabilitiesResponse *rep;
	NODE_OF(ctx);

	(void)n;
	(void)req;
	NEW_REPLY(Csi__V1__NodeGetCapabilitiesResponse,
		  csi__v1__node_get_capabilities_response__init, reply);
	rep = (Csi__V1__NodeGetCapabilitiesResponse *)*reply;
	if (!(rep->capabilities = calloc(nt, sizeof(*rep->capabilities))))
		return -ENOMEM;
	for (size_t i = 0; i < nt; i++) {
		Csi__V1__NodeServiceCapability *c = malloc(sizeof(*c));
		if (!c)
			return -ENOMEM;
		csi__v1__node_service_capability__init(c);
		rep->capabilities[rep->n_capabilities++] = c;
		if (!(c->rpc = malloc(sizeof(*c->rpc))))
			return -ENOMEM;
		csi__v1__node_service_capability__rpc__init(c->rpc);
		c->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		c->rpc->type = types[i];
	}
	return 0;
}

CSI_NODE_HANDLER(csi_node_get_info)
{
	Csi__V1__NodeGetInfoResponse *rep;
	struct err e = ERR_INIT;
	char *id = NULL;
	NODE_OF(ctx);

	(void)req;
	if (integ_instance_id(n->ig, &id, &e) < 0)
		return fail_e(code, msg, msgsz, GRPC_STATUS_OK, &e);
	if (strlen(id) > 256) {
		free(id);
		return fail(code, msg, msgsz, GRPC_STATUS_FAILED_PRECONDITION,
			    "this host's instance ID is longer than the 256 bytes CSI allows");
	}
	if (!(rep = malloc(sizeof(*rep)))) {
		free(id);
		return -ENOMEM;
	}
	csi__v1__node_get_info_response__init(rep);
	*reply = &rep->base;
	rep->node_id = id; /* the reply owns it */
	rep->max_volumes_per_node = 0;
	return 0;
}
