#include "integration/integration.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/driver.h"
#include "os/fs.h"
#include "os/loopdev.h"
#include "os/mountinfo.h"
#include "os/safepath.h"
#include "store/store.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/names.h"
#include "util/size.h"
#include "util/vlock.h"
#include "util/sys.h"
#include "util/time.h"

#define OPS "libstorage.integration.volume.operations."
#define MKFS_TIMEOUT_MS (10L * 60 * 1000)

/*
 * What path_here found not mounted here: a volume (name and id) and the
 * mount table's generation it was worked out at (os/mountinfo.h
 * mount_watch). Only a mount can make "not mounted" wrong, and any mount
 * in this namespace, by any process, moves the generation; so while it
 * stands the answer holds, and Get and Path (which Docker asks of every
 * volume all the time) skip the look at the mount table: a statx of the
 * target and, for a directory volume, /proc/self/mountinfo read with a
 * stat of each mount point. A volume found mounted is checked every time.
 */
struct unmounted_entry {
	struct unmounted_entry *next;
	uint64_t hash, gen;
	size_t len;
	char key[]; /* name, NUL, id */
};

struct unmounted {
	pthread_rwlock_t lock;
	struct unmounted_entry **slots; /* NULL until the first note */
	size_t nslots, n;
};

#define UNMOUNTED_MAX 65536 /* then everything is forgotten and counted anew */

struct integration {
	const struct cfg *cfg;
	const struct paths *paths;
	struct store *store;
	struct storage_client *client;
	const struct storage_executor *exec;
	char service[65];
	char scope_buf[3][320];
	const char *scopes[4];
	struct exec_ctx x;
	/* who we are, asked of the server on first use (it may be down when
	 * an agent starts) */
	pthread_mutex_t id_mu;
	_Atomic bool have_identity; /* set once, under id_mu, after the rest */
	struct instance_id iid;

	/* settings, read once */
	bool preempt, ignore_used_count, create_implicit, create_disable;
	bool remove_disable, remove_force;
	bool nosuid, nodev; /* mount.nosuid, mount.nodev: a crafted image's
			     * setuid binaries and device nodes count for nothing */
	int64_t default_size; /* 0: unset, the driver's default applies */
	int64_t default_iops;
	const char *default_type, *default_az, *default_fstype;
	char mount_path[PATH_MAX];
	/* where this service's volumes are mounted: mount.path itself for the
	 * primary service, <mount.path>/@<service> for any other, so that no
	 * two volumes of two services ever share a mount point ('@' is not in
	 * the volume name alphabet: no volume name can be such a directory) */
	char target_dir[PATH_MAX + 80];
	char root_path[264];
	struct integ_stats stats; /* durations, for the metrics */
	struct mount_watch mounts;   /* the mount table's generation */
	struct unmounted unmounted;  /* volumes known not mounted here */
	mode_t file_mode;
	int64_t attach_timeout_ms;
	int64_t mount_retries, mount_retry_wait_ms; /* mount.retryCount, retryWait */
};

/* ---- volumes known not mounted here ---- */

static uint64_t unmounted_hash(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h;
}

/* "name\0id" into buf; its length, or 0 when it does not fit. */
static size_t unmounted_key(const struct volume *v, char *buf, size_t sz)
{
	size_t nl, il;

	if (!v->name || !v->id)
		return 0;
	nl = strlen(v->name);
	il = strlen(v->id);
	if (nl + il + 2 > sz)
		return 0;
	memcpy(buf, v->name, nl + 1);
	memcpy(buf + nl + 1, v->id, il + 1);
	return nl + il + 2;
}

static struct unmounted_entry *unmounted_find(const struct unmounted *u, const char *key,
					      size_t len, uint64_t h)
{
	struct unmounted_entry *en;

	if (!u->nslots)
		return NULL;
	for (en = u->slots[h % u->nslots]; en; en = en->next)
		if (en->hash == h && en->len == len && memcmp(en->key, key, len) == 0)
			return en;
	return NULL;
}

static void unmounted_clear(struct unmounted *u)
{
	for (size_t i = 0; i < u->nslots; i++) {
		for (struct unmounted_entry *en = u->slots[i], *next; en; en = next) {
			next = en->next;
			free(en);
		}
	}
	free(u->slots);
	u->slots = NULL;
	u->nslots = u->n = 0;
}

/* Is v known not mounted at generation g? */
static bool unmounted_known(struct integration *ig, const struct volume *v, uint64_t g)
{
	char key[2 * VOLUME_NAME_MAX + 4];
	size_t len = unmounted_key(v, key, sizeof(key));
	const struct unmounted_entry *en;
	bool known;

	if (!len)
		return false;
	pthread_rwlock_rdlock(&ig->unmounted.lock);
	en = unmounted_find(&ig->unmounted, key, len, unmounted_hash(key, len));
	known = en && en->gen == g;
	pthread_rwlock_unlock(&ig->unmounted.lock);
	return known;
}

/* v was found not mounted, at generation g. Best effort: nothing on OOM. */
static void unmounted_note(struct integration *ig, const struct volume *v, uint64_t g)
{
	char key[2 * VOLUME_NAME_MAX + 4];
	size_t len = unmounted_key(v, key, sizeof(key));
	struct unmounted *u = &ig->unmounted;
	struct unmounted_entry *en;
	uint64_t h;

	if (!len)
		return;
	h = unmounted_hash(key, len);
	pthread_rwlock_wrlock(&u->lock);
	if ((en = unmounted_find(u, key, len, h))) {
		en->gen = g;
		goto out;
	}
	if (u->n >= UNMOUNTED_MAX)
		unmounted_clear(u);
	if ((u->n + 1) * 4 > u->nslots * 3) {
		size_t ns = u->nslots ? u->nslots * 2 : 256;
		struct unmounted_entry **slots = calloc(ns, sizeof(*slots));
		if (!slots)
			goto out;
		for (size_t i = 0; i < u->nslots; i++) {
			for (struct unmounted_entry *e = u->slots[i], *next; e; e = next) {
				next = e->next;
				e->next = slots[e->hash % ns];
				slots[e->hash % ns] = e;
			}
		}
		free(u->slots);
		u->slots = slots;
		u->nslots = ns;
	}
	if (!(en = malloc(sizeof(*en) + len)))
		goto out;
	*en = (struct unmounted_entry){ .hash = h, .gen = g, .len = len };
	memcpy(en->key, key, len);
	en->next = u->slots[h % u->nslots];
	u->slots[h % u->nslots] = en;
	u->n++;
out:
	pthread_rwlock_unlock(&u->lock);
}

/* ---- set-up ---- */

/*
 * The primary service keeps REX-Ray's <mount.path>/<name>: the first
 * service configured under libstorage.server.services, or, with none
 * configured, the one service the Auto Service Mode makes. Any other
 * service mounts under <mount.path>/@<service>. Where two configurations
 * disagree (`-s` picks another auto service for one command), a mount
 * point that holds another volume is refused, never shared (mount_locked,
 * osfs_mount_is_of).
 */
static bool is_primary_service(const struct integration *ig)
{
	char **names = NULL;
	bool primary;
	int n;

	n = cfg_children(ig->cfg, "libstorage.server.services", &names);
	primary = n <= 0 || strcasecmp(names[0], ig->service) == 0;
	cfg_names_free(names);
	return primary;
}

static int read_settings(struct integration *ig, struct err *e)
{
	const char *const *sc = ig->scopes;
	const struct cfg *c = ig->cfg;
	const char *mp, *rp;
	char def_mp[PATH_MAX + 16];
	int r;

	if ((r = cfg_key_bool(c, sc, CFGK_OPS_MOUNT_PREEMPT, &ig->preempt, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_UNMOUNT_IGNOREUSEDCOUNT, &ig->ignore_used_count,
			      e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_CREATE_IMPLICIT, &ig->create_implicit, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_CREATE_DISABLE, &ig->create_disable, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_REMOVE_DISABLE, &ig->remove_disable, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_REMOVE_FORCE, &ig->remove_force, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_MOUNT_NOSUID, &ig->nosuid, e)) < 0 ||
	    (r = cfg_key_bool(c, sc, CFGK_OPS_MOUNT_NODEV, &ig->nodev, e)) < 0 ||
	    /* 0: unset, the driver picks its own default size */
	    (r = cfg_key_int_or(c, sc, CFGK_OPS_CREATE_DEFAULT_SIZE, 0, &ig->default_size,
				e)) < 0 ||
	    (r = cfg_key_int(c, sc, CFGK_OPS_CREATE_DEFAULT_IOPS, &ig->default_iops, e)) < 0 ||
	    (r = cfg_key_duration_ms(c, sc, CFGK_DEVICE_ATTACHTIMEOUT, &ig->attach_timeout_ms,
				     e)) < 0 ||
	    (r = cfg_key_int(c, sc, CFGK_OPS_MOUNT_RETRYCOUNT, &ig->mount_retries, e)) < 0 ||
	    (r = cfg_key_duration_ms(c, sc, CFGK_OPS_MOUNT_RETRYWAIT, &ig->mount_retry_wait_ms,
				     e)) < 0 ||
	    (r = cfg_key_mode(c, sc, CFGK_LINUX_VOLUME_FILEMODE, &ig->file_mode, e)) < 0)
		return r;
	cfg_key_str(c, sc, CFGK_OPS_CREATE_DEFAULT_TYPE, &ig->default_type);
	cfg_key_str(c, sc, CFGK_OPS_CREATE_DEFAULT_AZ, &ig->default_az);
	cfg_key_str(c, sc, CFGK_OPS_CREATE_DEFAULT_FSTYPE, &ig->default_fstype);
	if (!osfs_supported(ig->default_fstype))
		return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected ext4 or xfs",
			       cfg_keys[CFGK_OPS_CREATE_DEFAULT_FSTYPE].name, ig->default_fstype);
	if (path_join(def_mp, sizeof(def_mp), ig->paths->lib, "volumes") < 0)
		return err_set(e, -ENAMETOOLONG, "library path too long");
	cfg_key_str_or(c, sc, CFGK_OPS_MOUNT_PATH, def_mp, &mp);
	cfg_key_str(c, sc, CFGK_OPS_MOUNT_ROOTPATH, &rp);
	if (!mp || mp[0] != '/' || strlen(mp) >= sizeof(ig->mount_path) - 300)
		return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected an absolute "
			       "path", cfg_keys[CFGK_OPS_MOUNT_PATH].name, mp ? mp : "");
	if (strstr(rp, "..") || strlen(rp) >= 250)
		return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected a path inside "
			       "the volume such as /data", cfg_keys[CFGK_OPS_MOUNT_ROOTPATH].name,
			       rp);
	strcpy(ig->mount_path, mp);
	if (is_primary_service(ig))
		snprintf(ig->target_dir, sizeof(ig->target_dir), "%s", mp);
	else
		snprintf(ig->target_dir, sizeof(ig->target_dir), "%s/@%s", mp, ig->service);
	/* "" and "/" both mean the volume's top directory */
	snprintf(ig->root_path, sizeof(ig->root_path), "%s%s",
		 rp[0] && rp[0] != '/' ? "/" : "", strcmp(rp, "/") == 0 ? "" : rp);
	return 0;
}

static int resolve_identity(struct integration *ig, struct err *e)
{
	struct service_info si = { 0 };
	int r;

	if (atomic_load_explicit(&ig->have_identity, memory_order_relaxed))
		return 0;

	r = ig->client->ops->service_inspect(ig->client, ig->service, false, NULL, &si, e);
	if (r < 0)
		return r;
	ig->exec = executor_find(si.driver_name);
	if (!ig->exec || ig->exec->version < EXECUTOR_V_DEVICES || !ig->exec->device_get) {
		r = err_set(e, -ENOTSUP, "service '%s': driver '%s' cannot be mounted on this host",
			    ig->service, si.driver_name);
		service_info_release(&si);
		return r;
	}
	service_info_release(&si);
	if (ig->exec->version >= EXECUTOR_V_OPEN && ig->exec->open && !ig->x.priv &&
	    (r = ig->exec->open(&ig->x, e)) < 0)
		return r;
	if ((r = ig->exec->instance_id(&ig->x, &ig->iid, e)) < 0)
		return r;
	free(ig->iid.service);
	ig->iid.service = strdup(ig->service);
	if (!ig->iid.service)
		return err_set(e, -ENOMEM, "out of memory");
	atomic_store_explicit(&ig->have_identity, true, memory_order_release);
	return 0;
}

/* Every operation starts here. */
static int ready(struct integration *ig, struct err *e)
{
	int r;

	/* known: no lock (eight plugin threads would queue on it) */
	if (atomic_load_explicit(&ig->have_identity, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&ig->id_mu);
	r = resolve_identity(ig, e);
	pthread_mutex_unlock(&ig->id_mu);
	return r;
}

int integration_new(const struct cfg *cfg, const struct paths *paths, struct store *host_store,
		    struct storage_client *client, const char *service, const char *scope,
		    struct integration **out, struct err *e)
{
	struct integration *ig = calloc(1, sizeof(*ig));
	int n = 0, r;

	if (!ig)
		return err_set(e, -ENOMEM, "out of memory");
	ig->cfg = cfg;
	ig->paths = paths;
	ig->store = host_store;
	ig->client = client;
	snprintf(ig->service, sizeof(ig->service), "%s", service);
	for (char *p = ig->service; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (scope && *scope) {
		snprintf(ig->scope_buf[0], sizeof(ig->scope_buf[0]), "%s", scope);
		ig->scopes[n++] = ig->scope_buf[0];
	}
	snprintf(ig->scope_buf[1], sizeof(ig->scope_buf[1]), "libstorage.server.services.%s",
		 ig->service);
	snprintf(ig->scope_buf[2], sizeof(ig->scope_buf[2]), "libstorage.server");
	ig->scopes[n++] = ig->scope_buf[1];
	ig->scopes[n++] = ig->scope_buf[2];
	ig->scopes[n] = NULL;
	ig->x.cfg = cfg;
	ig->x.scopes = ig->scopes;
	ig->x.paths = paths;
	pthread_mutex_init(&ig->id_mu, NULL);
	mount_watch_init(&ig->mounts);
	pthread_rwlock_init(&ig->unmounted.lock, NULL);
	if ((r = read_settings(ig, e)) < 0) {
		integration_free(ig);
		return r;
	}
	if ((r = vlock_prepare(paths->run, ig->service, e)) < 0) {
		integration_free(ig);
		return r;
	}
	*out = ig;
	return 0;
}

void integration_free(struct integration *ig)
{
	if (!ig)
		return;
	instance_id_release(&ig->iid);
	if (ig->x.priv && ig->exec->close)
		ig->exec->close(&ig->x);
	pthread_mutex_destroy(&ig->id_mu);
	unmounted_clear(&ig->unmounted);
	pthread_rwlock_destroy(&ig->unmounted.lock);
	mount_watch_destroy(&ig->mounts);
	free(ig);
}

const struct integ_stats *integ_stats(const struct integration *ig)
{
	return &ig->stats;
}

const char *integ_service(const struct integration *ig)
{
	return ig->service;
}

/* ---- helpers ---- */

static struct ls_ctx ctx_of(const struct integration *ig)
{
	struct ls_ctx ctx = { .iids = &ig->iid, .n_iids = 1 };

	return ctx;
}

struct ls_ctx integ_ctx(const struct integration *ig)
{
	return ctx_of(ig);
}

/* Serialise work on one volume across threads and processes (util/vlock:
 * the loop driver's remove takes the same lock). Returns the lock handle
 * (>= 0) or -errno. Names are validated before they get here. */
static int lock_volume(struct integration *ig, const char *name, struct err *e)
{
	return vlock_acquire(ig->paths->run, ig->service, name, e);
}

static int find_volume(struct integration *ig, const char *name, struct volume *v, struct err *e)
{
	struct ls_ctx ctx = ctx_of(ig);
	int r = ig->client->ops->volume_inspect(ig->client, ig->service, name, true, ATT_REQUESTED,
						&ctx, v, e);

	if (r == -ENOENT)
		err_set(e, -ENOENT, "volume '%s' not found in service '%s'", name, ig->service);
	return r;
}

/* find_volume's volume lent to fn (types.h volume_view_fn): no copy
 * where the client can lend (the local one, from the store's cache). */
static int view_volume(struct integration *ig, const char *name, volume_view_fn fn, void *arg,
		       struct err *e)
{
	struct ls_ctx ctx = ctx_of(ig);
	struct volume v;
	int r;

	if (!ig->client->ops->volume_view) {
		if ((r = find_volume(ig, name, &v, e)) < 0)
			return r;
		r = fn(arg, &v, e);
		volume_release(&v);
		return r;
	}
	r = ig->client->ops->volume_view(ig->client, ig->service, name, &ctx, fn, arg, e);
	if (r == -ENOENT)
		err_set(e, -ENOENT, "volume '%s' not found in service '%s'", name, ig->service);
	return r;
}

/* The name and id of a lent volume, all path_here needs of it, kept past
 * the loan: in buf, or malloc'd when they do not fit. */
struct volume_ident {
	struct volume v; /* name and id only */
	char *heap;
	char buf[512];
};

static int take_ident(void *arg, const struct volume *v, struct err *e)
{
	struct volume_ident *id = arg;
	size_t nl = v->name ? strlen(v->name) + 1 : 0, il = v->id ? strlen(v->id) + 1 : 0;
	char *p = id->buf;

	if (nl + il > sizeof(id->buf) && !(p = id->heap = malloc(nl + il)))
		return err_set(e, -ENOMEM, "out of memory");
	id->v.name = nl ? memcpy(p, v->name, nl) : NULL;
	id->v.id = il ? memcpy(p + nl, v->id, il) : NULL;
	return 0;
}

static void target_of(const struct integration *ig, const char *name, char *buf, size_t sz)
{
	path_join(buf, sz, ig->target_dir, name); /* truncated as snprintf would */
}

static const char *field_ci(const struct volume *v, const char *key)
{
	const char *k;
	json_t *val;

	if (!v->fields)
		return NULL;
	json_object_foreach(v->fields, k, val) {
		if (strcasecmp(k, key) == 0 && json_is_string(val))
			return json_string_value(val);
	}
	return NULL;
}

/* newfstype at mount, else what the volume was created with, else the default */
static const char *wanted_fstype(const struct integration *ig, const struct volume *v,
				 const struct integ_mount_opts *o)
{
	const char *t;

	if (o && o->new_fs_type && *o->new_fs_type)
		return o->new_fs_type;
	if ((t = field_ci(v, "newfstype")) && *t)
		return t;
	if ((t = field_ci(v, "fstype")) && *t)
		return t;
	return ig->default_fstype;
}

/* The mount path of a volume on this host: (device mount point or target)
 * plus rootPath, or NULL when not mounted (*found, when not NULL, says
 * which, also when the path could not be allocated). The target counts
 * only when what is mounted there is this volume's device or directory.
 * g: the mount table's generation taken before (mount_watch_gen), so that
 * a directory's bind mounts are looked for only when there may be one; 0
 * looks every time. */
static char *mounted_path(struct integration *ig, const char *name, const char *dev, uint64_t g,
			  bool *found)
{
	char target[PATH_MAX + 300], *out = NULL, **mps = NULL, *bound = NULL;
	const char *base = NULL;
	int n = 0;

	target_of(ig, name, target, sizeof(target));
	/* the target first: other mount points of the device may be binds of
	 * a directory inside it (a CSI staging path), shorter than the target */
	if (dev && !ig->exec->bind_mount && osfs_mount_is_of(target, dev))
		base = target;
	if (!base && dev && !ig->exec->bind_mount) {
		n = mount_points_of(dev, &mps, NULL);
		/* the filesystem's own mount, not the rootPath bind inside it */
		for (int i = 0; i < n; i++)
			if (!base || strlen(mps[i]) < strlen(base))
				base = mps[i];
	}
	if (!base && osfs_mount_is_of(target, dev))
		base = target;
	/* a directory bound elsewhere (its mount point before a change of
	 * the primary service) is still this volume's mount */
	if (!base && dev && ig->exec->bind_mount &&
	    mount_watch_maybe_bound(&ig->mounts, g, dev) &&
	    (bound = osfs_bind_mount_of(dev)))
		base = bound;
	if (found)
		*found = base != NULL;
	if (base && asprintf(&out, "%s%s", base, ig->root_path) < 0)
		out = NULL;
	if (n >= 0)
		mount_points_free(mps); /* an empty result is an allocated array too */
	free(bound);
	return out;
}

/* ---- create ---- */

static int opt_int(const char *key, const char *s, int64_t min, int64_t max, int64_t *out,
		   struct err *e)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return err_set(e, -EINVAL, "option '%s': invalid value '%s': expected an integer "
			       "from %lld to %lld", key, s, (long long)min, (long long)max);
	*out = n;
	return 0;
}

static const char *opt_text(const json_t *val, char *buf, size_t sz)
{
	if (json_is_string(val))
		return json_string_value(val);
	if (json_is_integer(val)) {
		snprintf(buf, sz, "%lld", (long long)json_integer_value(val));
		return buf;
	}
	if (json_is_boolean(val))
		return json_is_true(val) ? "true" : "false";
	return NULL;
}

/* Docker options to a create request; unknown keys go to the driver as they are. */
static int build_create(struct integration *ig, const char *name, const json_t *opts,
			struct volume_create_req *req, struct err *e)
{
	const char *key;
	json_t *val;
	int r;

	memset(req, 0, sizeof(*req));
	req->name = strdup(name);
	req->has_size = ig->default_size > 0;
	req->size = ig->default_size;
	req->has_iops = ig->default_iops > 0;
	req->iops = ig->default_iops;
	req->type = *ig->default_type ? strdup(ig->default_type) : NULL;
	req->availability_zone = *ig->default_az ? strdup(ig->default_az) : NULL;
	req->opts = json_object();
	if (!req->name || !req->opts)
		return err_set(e, -ENOMEM, "out of memory");
	json_object_foreach((json_t *)opts, key, val) {
		char num[32];
		const char *s = opt_text(val, num, sizeof(num));
		if (!s)
			return err_set(e, -EINVAL, "option '%s': expected a string", key);
		if ((r = option_value_check(key, key, e)) < 0 ||
		    (r = option_value_check(key, s, e)) < 0)
			return r;
		if (strcasecmp(key, "size") == 0) {
			char what[80];
			bool rounded;

			snprintf(what, sizeof(what), "option '%.60s'", key);
			if ((r = size_parse_gib(what, s, 1 << 20, &req->size, &rounded, e)) < 0)
				return r;
			if (rounded)
				log_info("integration: %s: size %s rounded up to %lld GiB", name, s,
					 (long long)req->size);
			req->has_size = true;
		} else if (strcasecmp(key, "iops") == 0) {
			if ((r = opt_int(key, s, 0, 1LL << 31, &req->iops, e)) < 0)
				return r;
			req->has_iops = true;
		} else if (strcasecmp(key, "type") == 0 || strcasecmp(key, "volumetype") == 0) {
			free(req->type);
			req->type = strdup(s);
		} else if (strcasecmp(key, "availabilityzone") == 0) {
			free(req->availability_zone);
			req->availability_zone = strdup(s);
		} else if ((strcasecmp(key, "fstype") == 0 || strcasecmp(key, "newfstype") == 0) &&
			   !osfs_supported(s)) {
			return err_set(e, -EINVAL, "option '%s': invalid value '%s': expected ext4 "
				       "or xfs", key, s);
		}
		/* every option also reaches the driver, as in REX-Ray (vfs and loop
		 * keep them as the volume's fields) */
		if (json_object_set_new(req->opts, key, json_string(s)) < 0)
			return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

int integ_build_create(struct integration *ig, const char *name, const json_t *opts,
		       struct volume_create_req *req, struct err *e)
{
	int r = build_create(ig, name, opts, req, e);

	if (r < 0)
		volume_create_req_release(req);
	return r;
}

/* The value of a Docker option, any case; NULL when absent. */
static const char *opt_get(const json_t *opts, const char *key)
{
	const char *k;
	json_t *val;

	json_object_foreach((json_t *)opts, k, val)
		if (strcasecmp(k, key) == 0)
			return json_string_value(val);
	return NULL;
}

/*
 * Make the volume req names: from a snapshot (option snapshotID: the
 * snapshot's data, its size unless "size" asks for more), from another
 * volume (option sourceVolume, by name: a copy of its data, its
 * size), else empty.
 */
static int create_from(struct integration *ig, struct volume_create_req *req,
		       const struct ls_ctx *ctx, struct volume *out, struct err *e)
{
	const char *sid = opt_get(req->opts, "snapshotID");
	const char *src = opt_get(req->opts, "sourceVolume");
	struct storage_client *c = ig->client;
	int r;

	if (sid && src)
		return err_set(e, -EINVAL, "options snapshotID and sourceVolume: give one of them, "
			       "not both");
	if (sid) {
		if (!opt_get(req->opts, "size"))
			req->has_size = false; /* the snapshot's own */
		return c->ops->snapshot_create_volume(c, ig->service, sid, req, ctx, out, e);
	}
	if (src) {
		struct volume_copy_req cr = { .volume_name = req->name, .opts = req->opts };
		struct volume sv;

		if ((r = find_volume(ig, src, &sv, e)) < 0)
			return r == -ENOENT ? err_set(e, r, "option sourceVolume: no volume '%s'", src)
					    : r;
		r = c->ops->volume_copy(c, ig->service, sv.id, &cr, ctx, out, e);
		volume_release(&sv);
		return r;
	}
	return c->ops->volume_create(c, ig->service, req, ctx, out, e);
}

/* Create under the volume's lock; *created says whether it made one. */
static int create_locked(struct integration *ig, const char *name, const json_t *opts,
			 bool *created, struct err *e)
{
	struct volume_create_req req;
	struct ls_ctx ctx = ctx_of(ig);
	struct volume v = { 0 };
	int r;

	*created = false;
	if ((r = build_create(ig, name, opts, &req, e)) < 0)
		goto out;
	r = find_volume(ig, name, &v, e);
	if (r == 0)
		goto out; /* Docker creates are idempotent */
	if (r != -ENOENT)
		goto out;
	err_clear(e);
	if ((r = create_from(ig, &req, &ctx, &v, e)) == 0) {
		*created = true;
		log_info("integration: created volume %s (%s)", name, v.id);
	} else if (r == -EEXIST) {
		/* made meanwhile: by another host, or by this very create on a
		 * server that died before its reply (the client sends a create
		 * to one server only; a later call of ours found it): the volume
		 * is there, which is what a Docker create asks for */
		struct err again = ERR_INIT;
		if (find_volume(ig, name, &v, &again) == 0) {
			err_clear(e);
			r = 0;
		}
	}
out:
	volume_release(&v);
	volume_create_req_release(&req);
	return r;
}

int integ_create(struct integration *ig, const char *name, const json_t *opts, struct err *e)
{
	bool created;
	int fd, r;

	if ((r = volume_name_check(name, e)) < 0)
		return r;
	if (ig->create_disable)
		return 0;
	if ((r = ready(ig, e)) < 0)
		return r;
	if ((fd = lock_volume(ig, name, e)) < 0)
		return fd;
	r = create_locked(ig, name, opts, &created, e);
	vlock_release(fd);
	return r;
}

/* ---- mount ---- */

/* What a mount did so far, so a failure undoes exactly that. */
struct mount_undo {
	bool created;	 /* the volume itself */
	bool attached;	 /* the server's attachment */
	char *dev;	 /* the local device, when dev_made */
	bool dev_made;
	char target[PATH_MAX + 300];
	bool mounted;
};

static int unmount_with_root(struct integration *ig, const char *mp, struct err *e);

static void undo_mount(struct integration *ig, const struct volume *v, struct mount_undo *u)
{
	struct ls_ctx ctx = ctx_of(ig);
	struct err ignore = ERR_INIT;
	struct volume tmp = { 0 };

	if (u->mounted && unmount_with_root(ig, u->target, &ignore) < 0)
		log_warn("integration: undo: cannot unmount %s: %s", u->target, ignore.msg);
	if (u->dev_made && u->dev && ig->exec->device_put &&
	    ig->exec->device_put(&ig->x, u->dev, &ignore) < 0)
		log_warn("integration: undo: cannot release %s: %s", u->dev, ignore.msg);
	if (u->attached) {
		struct volume_detach_req dr = { 0 };
		if (ig->client->ops->volume_detach(ig->client, ig->service, v->id, &dr, &ctx, &tmp,
						   &ignore) < 0)
			log_warn("integration: undo: cannot detach %s: %s", v->id, ignore.msg);
		volume_release(&tmp);
	}
	if (u->created && ig->client->ops->volume_remove(ig->client, ig->service, v->id, true, &ctx,
							 &ignore) < 0)
		log_warn("integration: undo: cannot remove %s: %s", v->id, ignore.msg);
}

static const char *holder_of(const struct volume *v)
{
	for (size_t i = 0; i < v->n_attachments; i++)
		if (v->attachments[i].iid.id)
			return v->attachments[i].iid.id;
	return "?";
}

static int attach_if_needed(struct integration *ig, struct volume *v, char **token,
			    struct mount_undo *u, struct err *e)
{
	struct volume_attach_req req = { .force = ig->preempt };
	struct ls_ctx ctx = ctx_of(ig);
	struct volume nv = { 0 };
	long long t0;
	int r;

	*token = NULL;
	if (v->attachment_state == AS_ATTACHED)
		return 0;
	if (v->attachment_state == AS_UNAVAILABLE && !ig->preempt)
		return err_set(e, -EBUSY, "volume '%s' is attached to another host (instance "
			       "'%s'); set " OPS "mount.preempt to take it over", v->name,
			       holder_of(v));
	t0 = time_now_ns();
	r = ig->client->ops->volume_attach(ig->client, ig->service, v->id, &req, &ctx, &nv, token,
					   e);
	mx_observe(&ig->stats.attach, time_now_ns() - t0);
	if (r < 0)
		return err_prefix(e, "cannot attach volume '%s'", v->name);
	volume_release(&nv);
	u->attached = true;
	return 0;
}

/* What a person repairs: the volume's image file when it names one (a
 * loop volume's status; e2fsck and xfs_repair -f work on files), else the
 * device, which is gone once the failed mount is undone. */
static const char *repair_target(const struct volume *v, const char *dev, bool *is_file)
{
	*is_file = v->status && v->status[0] == '/';
	return *is_file ? v->status : dev;
}

/*
 * Format once: a device without a filesystem signature is formatted only
 * when nothing says it ever had one. The volume's own record (the
 * executor's format_recorded) or any data in its first MiB means a
 * filesystem was there and is damaged: refused, with the repair commands.
 */
static int may_format(struct integration *ig, const struct volume *v, const char *dev,
		      struct err *e)
{
	char made[64] = "";
	bool has_data = false, is_file;
	const char *fix;
	int r;

	if (ig->exec->version >= EXECUTOR_V_FORMAT && ig->exec->format_recorded &&
	    ig->exec->format_recorded(&ig->x, v->id, made, sizeof(made)) != 0)
		made[0] = '\0';
	if (!made[0] && (r = osfs_has_data(dev, &has_data, e)) < 0)
		return r;
	if (!made[0] && !has_data)
		return 0;
	fix = repair_target(v, dev, &is_file);
	return err_set(e, -EUCLEAN, "volume '%s' has no filesystem signature, but %s%s%s: not "
		       "formatting it, its data may still be recoverable. Repair it (unmounted): "
		       "e2fsck -b 32768 %s (ext4, from a backup superblock) or xfs_repair%s %s "
		       "(xfs); or mount it with overwriteFS=true to format it anyway, losing "
		       "what it holds", v->name,
		       made[0] ? "the engine made a " : "it holds data",
		       made[0] ? made : "", made[0] ? " filesystem on it" : "", fix,
		       is_file ? " -f" : "", fix);
}

/* How much bigger than its filesystem a device must be to grow it: whole
 * GiB come from a resize; an alignment remainder never reaches this. */
#define GROW_SLACK (64ULL << 20)

/*
 * A volume resized while it was not mounted here (or whose filesystem
 * could not grow online then) grows to its device now: ext4 before the
 * mount (offline: no CAP_SYS_RESOURCE needed), xfs after it (xfs grows
 * only mounted). A failure is said, not fatal: the data is whole, only
 * the new room is missing until the next try.
 */
static void grow_to_device(const struct volume *v, const char *dev, const char *target,
			   const char *fstype, bool mounted)
{
	unsigned long long dev_bytes, fs_bytes;
	struct err e = ERR_INIT;
	int r;

	/* offline only on a device no filesystem is live on (a container's
	 * namespace may hold one that this host does not see mounted) */
	if ((strcmp(fstype, "ext4") == 0) == mounted || (!mounted && blockdev_in_use(dev)))
		return;
	if (blockdev_size(dev, &dev_bytes, NULL) < 0 ||
	    osfs_fs_size(dev, fstype, &fs_bytes, NULL) < 0 || dev_bytes < fs_bytes + GROW_SLACK)
		return;
	log_info("integration: growing the %s filesystem of %s from %.1f to %.1f GiB (the volume "
		 "was resized)", fstype, v->name, (double)fs_bytes / (1 << 30),
		 (double)dev_bytes / (1 << 30));
	r = mounted ? osfs_grow(dev, target, fstype, MKFS_TIMEOUT_MS, &e)
		    : osfs_grow_offline(dev, fstype, MKFS_TIMEOUT_MS, &e);
	if (r < 0)
		log_warn("integration: volume '%s' keeps its old filesystem size for now: %s",
			 v->name, e.msg);
}

/* Probe; format when never formatted (or overwrite); check; mount at target. */
static int format_and_mount(struct integration *ig, const struct volume *v, const char *dev,
			    const char *target, const struct integ_mount_opts *o, struct err *e)
{
	const char *want = wanted_fstype(ig, v, o);
	bool overwrite = o && o->overwrite_fs;
	char have[64] = "";
	long long t0;
	int r;

	if (!osfs_supported(want))
		return err_set(e, -EINVAL, "unsupported file system '%s': expected ext4 or xfs",
			       want);
	if ((r = osfs_probe(dev, have, sizeof(have), e)) < 0)
		return r;
	if (!have[0] && !overwrite && (r = may_format(ig, v, dev, e)) < 0)
		return r;
	if (!have[0] || overwrite) {
		log_info("integration: formatting %s (%s) as %s", v->name, dev, want);
		t0 = time_now_ns();
		r = osfs_format(dev, want, v->name, MKFS_TIMEOUT_MS, e);
		mx_observe(&ig->stats.format, time_now_ns() - t0);
		if (r < 0)
			return r;
		snprintf(have, sizeof(have), "%s", want);
		if (ig->exec->version >= EXECUTOR_V_FORMAT && ig->exec->format_mark &&
		    ig->exec->format_mark(&ig->x, v->id, want, e) < 0) {
			/* the data check of may_format still guards it */
			log_warn("integration: %s", e->msg);
			err_clear(e);
		}
	} else if (!blockdev_in_use(dev)) {
		/* as a distribution does at boot; a filesystem already live
		 * elsewhere (a container's namespace) cannot and need not be */
		bool is_file;
		const char *fix = repair_target(v, dev, &is_file);
		if ((r = osfs_check(dev, have, MKFS_TIMEOUT_MS, is_file ? fix : NULL, e)) < 0)
			return err_prefix(e, "volume '%s'", v->name);
	}
	grow_to_device(v, dev, target, have, false);
	if ((r = fs_mkdir_p(target, 0755)) < 0)
		return err_set(e, r, "cannot create '%s': %s", target, strerror(-r));
	t0 = time_now_ns();
	r = osfs_mount(dev, target, have,
		       ig->nosuid && ig->nodev ? "nosuid,nodev" : ig->nosuid ? "nosuid" :
		       ig->nodev ? "nodev" : NULL, e); /* known: no second probe */
	mx_observe(&ig->stats.mount, time_now_ns() - t0);
	if (r == 0)
		grow_to_device(v, dev, target, have, true);
	if (r == -EUCLEAN) { /* damage the check did not see (a "clean" one) */
		char cmd[PATH_MAX + 32];
		bool is_file;
		const char *fix = repair_target(v, dev, &is_file);
		osfs_repair_command(have, dev, is_file ? fix : NULL, cmd, sizeof(cmd));
		err_set(e, -EUCLEAN, "volume '%s': the kernel refuses its %s filesystem as "
			"damaged (Structure needs cleaning); not mounting it. Repair it by "
			"hand: %s", v->name, have, cmd);
	}
	return r;
}

/*
 * Does rel (beneath rootfd) name the bind mount mnt, for good? A rename that
 * checked the directory just before it became a mount point may still be
 * moving it: creating the last component again takes its parent's lock,
 * which such a rename holds, so after that (EEXIST) any rename in flight
 * is done and every later one sees a mount point (EBUSY). Then look again.
 */
static bool root_names_mount(int rootfd, const char *rel, int mnt, int dirfd)
{
	char parent[PATH_MAX];
	const char *last = strrchr(rel, '/');
	int pfd = rootfd;

	if (!safe_path_is_mount(rootfd, rel, mnt, dirfd))
		return false;
	if (last) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(last - rel), rel);
		pfd = safe_open_dir(rootfd, parent, SAFE_BENEATH, "rootPath", NULL);
		if (pfd < 0)
			return false;
	}
	if (sys_mkdirat(pfd, last ? last + 1 : rel, 0700) == 0) {
		/* it was gone: whatever is there now is not ours */
		sys_unlinkat(pfd, last ? last + 1 : rel, AT_REMOVEDIR);
		if (pfd != rootfd)
			close(pfd);
		return false;
	}
	if (pfd != rootfd)
		close(pfd);
	return safe_path_is_mount(rootfd, rel, mnt, dirfd);
}

/*
 * <rootPath> inside the volume, whose contents are untrusted (any host or
 * task that had the volume wrote them): made and opened component by
 * component beneath the volume's root, never through a symlink, never onto
 * another filesystem (os/safepath), its mode set through that descriptor
 * (linux.volume.filemode), and then bound onto itself from that descriptor.
 * The path handed out is that bind mount: replacing the directory after
 * this check fails (EBUSY) instead of redirecting the runtime to what the
 * replacement points at.
 */
static int make_root(struct integration *ig, const char *name, const char *target,
		     struct err *e)
{
	char what[VOLUME_NAME_MAX + 300];
	int rootfd, fd, mnt = -1, r;

	if (!ig->root_path[0])
		return 0;
	snprintf(what, sizeof(what), "volume '%s', rootPath '%s'", name, ig->root_path);
	rootfd = sys_open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return err_set(e, -errno, "cannot open '%s': %s", target, strerror(errno));
	fd = safe_mkdir_p(rootfd, ig->root_path + 1, ig->file_mode, SAFE_BENEATH | SAFE_NO_XDEV,
			  what, e);
	if (fd < 0) {
		close(rootfd);
		return fd;
	}
	fault_point("mount.rootpath.before-bind");
	if (fchmod(fd, ig->file_mode) < 0)
		r = err_set(e, -errno, "%s: cannot chmod: %s", what, strerror(errno));
	else
		r = safe_bind_fd(fd, fd, false, &mnt, e);
	/* the directory may have been renamed between its check and its bind:
	 * the path handed out must name the bind itself (from then on a rename
	 * of it fails with EBUSY) */
	if (r == 0 && !root_names_mount(rootfd, ig->root_path + 1, mnt, fd)) {
		if (mnt >= 0) /* else it goes with the filesystem's unmount */
			safe_unbind_fd(mnt, NULL);
		r = err_set(e, -EAGAIN, "%s: it was replaced while it was being checked; refusing "
			    "it (a volume's contents are untrusted)", what);
	}
	if (r < 0)
		err_prefix(e, "%s", what);
	if (mnt >= 0)
		close(mnt);
	close(fd);
	close(rootfd);
	return r;
}

/* Unmount mp, and first the rootPath bind mount make_root put inside it. */
static int unmount_with_root(struct integration *ig, const char *mp, struct err *e)
{
	char inner[PATH_MAX + 600];
	bool had_inner = false;
	int r;

	if (ig->root_path[0]) {
		snprintf(inner, sizeof(inner), "%s%s", mp, ig->root_path);
		had_inner = osfs_is_mount_point(inner);
		if (had_inner && (r = osfs_unmount(inner, e)) < 0)
			return r;
	}
	if ((r = osfs_unmount(mp, e)) < 0 && had_inner) {
		/* still mounted (busy): pin the rootPath again, as it was */
		struct err ignore = ERR_INIT;
		if (make_root(ig, mp, mp, &ignore) < 0)
			log_warn("integration: %s", ignore.msg);
	}
	return r;
}

static int mount_locked(struct integration *ig, const char *name, const char *caller,
			const struct integ_mount_opts *o, char **path, struct err *e)
{
	struct mount_undo u = { 0 };
	struct volume v = { 0 };
	char *token = NULL, *existing;
	int64_t total;
	int r;

	r = find_volume(ig, name, &v, e);
	if (r == -ENOENT && ig->create_implicit && !ig->create_disable) {
		err_clear(e);
		r = create_locked(ig, name, NULL, &u.created, e);
		/* another host created it in the meantime (its lock is its
		 * host's): the volume is there, which is what was wanted */
		if (r == -EEXIST) {
			err_clear(e);
			r = 0;
		}
		if (r < 0 || (r = find_volume(ig, name, &v, e)) < 0)
			goto fail;
	} else if (r == -ENOENT) {
		err_set(e, -ENOENT, "volume '%s' not found in service '%s' (create.implicit is %s)",
			name, ig->service, ig->create_disable ? "disabled by create.disable" : "off");
		goto fail;
	} else if (r < 0) {
		goto fail;
	}
	fault_point("mount.after-find");
	if ((r = attach_if_needed(ig, &v, &token, &u, e)) < 0)
		goto fail;
	fault_point("mount.after-attach");
	r = ig->exec->device_get(&ig->x, v.id, token ? token : v.id, (long)ig->attach_timeout_ms,
				 &u.dev, &u.dev_made, e);
	if (r < 0) {
		err_prefix(e, "problem with device discovery for volume '%s'", name);
		goto fail;
	}
	fault_point("mount.after-device");
	existing = mounted_path(ig, name, u.dev, 0, NULL);
	if (existing) { /* already mounted here: the same path, no second mount */
		*path = existing;
	} else {
		target_of(ig, name, u.target, sizeof(u.target));
		if (osfs_is_mount_point(u.target)) {
			/* another volume's (a service's before a config change)
			 * or anything else: never mount over it, never hand it out */
			r = err_set(e, -EBUSY, "cannot mount volume '%s' at '%s': another "
				    "filesystem is mounted there", name, u.target);
			goto fail;
		}
		if (ig->exec->bind_mount) {
			if ((r = fs_mkdir_p(u.target, 0755)) < 0) {
				err_set(e, r, "cannot create '%s': %s", u.target, strerror(-r));
				goto fail;
			}
			r = osfs_bind(u.dev, u.target, e);
		} else {
			r = format_and_mount(ig, &v, u.dev, u.target, o, e);
		}
		if (r < 0)
			goto fail;
		u.mounted = true;
		fault_point("mount.after-mount");
		if ((r = make_root(ig, name, u.target, e)) < 0)
			goto fail;
		if (asprintf(path, "%s%s", u.target, ig->root_path) < 0) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	fault_point("mount.before-count");
	if ((r = store_use_add(ig->store, ig->service, name, caller ? caller : "",
			       o && o->pending, &total, e)) < 0) {
		free(*path);
		*path = NULL;
		goto fail;
	}
	log_info("integration: mounted %s at %s (uses %lld)", name, *path, (long long)total);
	if (o && o->created)
		*o->created = u.created;
	if (o && o->uses)
		*o->uses = total;
	goto out;
fail:
	undo_mount(ig, &v, &u);
out:
	free(u.dev);
	free(token);
	volume_release(&v);
	return r;
}

/* Is a failed mount worth another try? Not a refusal: no such volume,
 * a bad value, a damaged filesystem, a volume in use elsewhere. */
static bool mount_retryable(int r)
{
	return r != -ENOENT && r != -EINVAL && r != -EUCLEAN && r != -EEXIST && r != -EPERM &&
	       r != -EACCES;
}

int integ_mount(struct integration *ig, const char *name, const char *caller,
		const struct integ_mount_opts *o, char **path, struct err *e)
{
	int fd, r;

	*path = NULL;
	if ((r = volume_name_check(name, e)) < 0)
		return r;
	if (o && o->new_fs_type && *o->new_fs_type && !osfs_supported(o->new_fs_type))
		return err_set(e, -EINVAL, "unsupported file system '%s': expected ext4 or xfs",
			       o->new_fs_type);
	if ((r = ready(ig, e)) < 0)
		return r;
	for (int64_t attempt = 0;; attempt++) {
		if ((fd = lock_volume(ig, name, e)) < 0)
			return fd;
		r = mount_locked(ig, name, caller, o, path, e);
		vlock_release(fd);
		atomic_fetch_add(&ig->stats.ops[r == 0 ? INTEG_OP_MOUNT : INTEG_OP_MOUNT_FAILED], 1);
		if (r == 0 || attempt >= ig->mount_retries || !mount_retryable(r))
			return r;
		/* REX-Ray's mount.retryCount: each failed try undid itself */
		log_warn("integration: mount of %s failed: %s; trying again in %lld ms (%lld of "
			 "%lld)", name, e->msg, (long long)ig->mount_retry_wait_ms,
			 (long long)attempt + 1, (long long)ig->mount_retries);
		err_clear(e);
		time_sleep_ms(ig->mount_retry_wait_ms);
	}
}

/* ---- a raw device (CSI block access) ---- */

static int device_use_locked(struct integration *ig, const char *name, const char *caller,
			     char **dev, struct err *e)
{
	struct mount_undo u = { 0 };
	struct volume v = { 0 };
	char *token = NULL;
	int64_t total;
	int r;

	if ((r = find_volume(ig, name, &v, e)) < 0)
		goto out;
	if ((r = attach_if_needed(ig, &v, &token, &u, e)) < 0)
		goto fail;
	r = ig->exec->device_get(&ig->x, v.id, token ? token : v.id, (long)ig->attach_timeout_ms,
				 &u.dev, &u.dev_made, e);
	if (r < 0) {
		err_prefix(e, "problem with device discovery for volume '%s'", name);
		goto fail;
	}
	if ((r = store_use_add(ig->store, ig->service, name, caller ? caller : "", false, &total,
			       e)) < 0)
		goto fail;
	log_info("integration: device %s of %s in use (uses %lld)", u.dev, name,
		 (long long)total);
	*dev = u.dev;
	u.dev = NULL;
	goto out;
fail:
	undo_mount(ig, &v, &u);
out:
	free(u.dev);
	free(token);
	volume_release(&v);
	return r;
}

int integ_device_use(struct integration *ig, const char *name, const char *caller, char **dev,
		     struct err *e)
{
	int fd, r;

	*dev = NULL;
	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	if (ig->exec->bind_mount)
		return err_set(e, -ENOTSUP, "service '%s': its volumes are directories, not "
			       "block devices", ig->service);
	if ((fd = lock_volume(ig, name, e)) < 0)
		return fd;
	r = device_use_locked(ig, name, caller, dev, e);
	vlock_release(fd);
	return r;
}

int integ_instance_id(struct integration *ig, char **id, struct err *e)
{
	int r;

	*id = NULL;
	if ((r = ready(ig, e)) < 0)
		return r;
	if (!ig->iid.id || !*ig->iid.id)
		return err_set(e, -ENODEV, "service '%s': this host has no instance ID",
			       ig->service);
	if (!(*id = strdup(ig->iid.id)))
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* ---- unmount ---- */

/* Is mp "<one of mps><rootPath>", the bind make_root put there? */
static bool is_root_bind_of_any(const struct integration *ig, const char *mp, char **mps, int n)
{
	size_t rl = strlen(ig->root_path), ml = strlen(mp);

	if (!rl || ml <= rl || strcmp(mp + ml - rl, ig->root_path) != 0)
		return false;
	for (int i = 0; i < n; i++)
		if (strlen(mps[i]) == ml - rl && strncmp(mps[i], mp, ml - rl) == 0)
			return true;
	return false;
}

/* Unmount everything of the volume here, release its device, detach.
 * A device whose filesystem is still alive elsewhere (a container's mount
 * namespace) stays, with the attachment; strict makes that an error. */
static int really_unmount(struct integration *ig, const struct volume *v, bool strict,
			  struct err *e)
{
	char target[PATH_MAX + 300], *dev = NULL, **mps = NULL;
	struct volume_detach_req dr = { 0 };
	struct ls_ctx ctx = ctx_of(ig);
	struct volume tmp = { 0 };
	int n, r;

	target_of(ig, v->name, target, sizeof(target));
	r = ig->exec->device_find ? ig->exec->device_find(&ig->x, v->id, &dev, NULL) : -ENOENT;
	if (r == 0 && !ig->exec->bind_mount) {
		n = mount_points_of(dev, &mps, e);
		/* newest first; a rootPath bind goes with the mount that holds it
		 * (unmount_with_root), so that a busy one is left as it was */
		for (int i = n - 1; i >= 0; i--) {
			if (is_root_bind_of_any(ig, mps[i], mps, n) || !osfs_is_mount_point(mps[i]))
				continue;
			if ((r = unmount_with_root(ig, mps[i], e)) < 0) {
				mount_points_free(mps);
				goto out;
			}
		}
		if (n >= 0)
			mount_points_free(mps);
	}
	/* the target only when it is this volume's: never another's */
	if (dev && osfs_mount_is_of(target, dev) && (r = unmount_with_root(ig, target, e)) < 0)
		goto out;
	/* a bind of the directory elsewhere: its mount point before a change
	 * of the primary service */
	for (char *bound; dev && ig->exec->bind_mount && (bound = osfs_bind_mount_of(dev));) {
		r = unmount_with_root(ig, bound, e);
		free(bound);
		if (r < 0)
			goto out;
	}
	sys_rmdir(target); /* an empty mount directory only slows later look-ups */
	fault_point("unmount.after-umount");
	if (dev && ig->exec->device_put && (r = ig->exec->device_put(&ig->x, dev, e)) < 0) {
		if (r != -EBUSY || strict)
			goto out;
		/* alive in another namespace (a container's): this host keeps
		 * the device and the attachment, so nobody else gets the image
		 * while that filesystem lives */
		log_warn("integration: %s: %s; the volume stays attached to this host", v->name,
			 e->msg);
		err_clear(e);
		r = 0;
		goto out;
	}
	fault_point("unmount.after-release");
	r = 0;
	if (v->attachment_state == AS_ATTACHED) {
		r = ig->client->ops->volume_detach(ig->client, ig->service, v->id, &dr, &ctx, &tmp, e);
		volume_release(&tmp);
	}
out:
	free(dev);
	return r;
}

static int unmount_locked(struct integration *ig, const char *name, const char *caller,
			  struct integ_unmount_result *res, struct err *e)
{
	struct volume v = { 0 };
	int64_t total = 0;
	int r, counted;

	memset(res, 0, sizeof(*res));

	if ((r = find_volume(ig, name, &v, e)) < 0)
		return r;
	counted = store_use_remove(ig->store, ig->service, name, caller ? caller : "", &total, e);
	if (counted < 0 && counted != -ENOENT) {
		r = counted;
		goto out;
	}
	err_clear(e);
	res->counted = counted == 0;
	res->left = total;
	fault_point("unmount.after-uncount");
	if (!ig->ignore_used_count && total > 0) {
		/* others still use it; an unknown caller's unmount changes nothing */
		log_info("integration: %s still has %lld use(s)", name, (long long)total);
		goto out;
	}
	if ((r = really_unmount(ig, &v, false, e)) < 0)
		goto out;
	r = store_use_clear(ig->store, ig->service, name, e);
	res->left = 0;
	res->unmounted = r == 0;
	log_info("integration: unmounted %s", name);
out:
	volume_release(&v);
	return r;
}

int integ_unmount_report(struct integration *ig, const char *name, const char *caller,
			 struct integ_unmount_result *res, struct err *e)
{
	int fd, r;

	memset(res, 0, sizeof(*res));
	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	if ((fd = lock_volume(ig, name, e)) < 0)
		return fd;
	r = unmount_locked(ig, name, caller, res, e);
	vlock_release(fd);
	atomic_fetch_add(&ig->stats.ops[r == 0 ? INTEG_OP_UNMOUNT : INTEG_OP_UNMOUNT_FAILED], 1);
	return r;
}

int integ_unmount(struct integration *ig, const char *name, const char *caller, struct err *e)
{
	struct integ_unmount_result res;

	return integ_unmount_report(ig, name, caller, &res, e);
}

/* ---- detach ---- */

static char *path_here(struct integration *ig, const struct volume *v);

static int detach_locked(struct integration *ig, const char *name, bool force,
			 struct volume *out, struct err *e)
{
	struct volume_detach_req dr = { .force = force };
	struct ls_ctx ctx = ctx_of(ig);
	struct volume v = { 0 }, tmp = { 0 };
	char *here = NULL, *dev = NULL;
	int64_t uses = 0;
	int r;

	if ((r = find_volume(ig, name, &v, e)) < 0)
		return r;
	here = path_here(ig, &v);
	if ((r = store_use_count(ig->store, ig->service, name, &uses, e)) < 0)
		goto out;
	if ((here || uses > 0) && !force) {
		r = err_set(e, -EBUSY, "volume '%s' is in use on this host (%s%s, %lld use(s)); "
			    "unmount it first (rexray volume unmount %s), or detach with --force, "
			    "which unmounts it only if nothing is using it", name,
			    here ? "mounted at " : "not mounted", here ? here : "", (long long)uses,
			    name);
		goto out;
	}
	if (ig->exec->device_find && !ig->exec->bind_mount)
		ig->exec->device_find(&ig->x, v.id, &dev, NULL);
	if (here || dev) {
		/* forced: unmount first, never lazily under a user */
		if ((r = really_unmount(ig, &v, true, e)) < 0) {
			err_prefix(e, "cannot detach volume '%s'", name);
			goto out;
		}
		if ((r = store_use_clear(ig->store, ig->service, name, e)) < 0)
			goto out;
		log_warn("integration: detach --force: unmounted %s (%lld use(s) dropped)", name,
			 (long long)uses);
		if (v.attachment_state == AS_ATTACHED)
			goto done; /* really_unmount detached it */
	}
	r = ig->client->ops->volume_detach(ig->client, ig->service, v.id, &dr, &ctx, &tmp, e);
	volume_release(&tmp);
	if (r < 0)
		goto out;
done:
	if (out)
		r = find_volume(ig, name, out, e);
out:
	free(here);
	free(dev);
	volume_release(&v);
	return r;
}

int integ_detach(struct integration *ig, const char *name, bool force, struct volume *out,
		 struct err *e)
{
	int fd, r;

	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	if ((fd = lock_volume(ig, name, e)) < 0)
		return fd;
	r = detach_locked(ig, name, force, out, e);
	vlock_release(fd);
	return r;
}

/* ---- path, inspect, list, remove ---- */

static char *path_here(struct integration *ig, const struct volume *v)
{
	uint64_t g = mount_watch_gen(&ig->mounts);
	char *dev = NULL, *p;
	bool found, sure = true;
	int r;

	if (g && unmounted_known(ig, v, g))
		return NULL;
	/* a block device by its mounts, a bind-mounted directory at its
	 * target (mounted_path); either is checked against the volume */
	if (ig->exec->device_find) {
		r = ig->exec->device_find(&ig->x, v->id, &dev, NULL);
		sure = r == 0 || r == -ENOENT; /* else: not known, not kept */
	}
	p = mounted_path(ig, v->name, dev, g, &found);
	free(dev);
	if (g && sure && !found)
		unmounted_note(ig, v, g);
	return p;
}

int integ_path(struct integration *ig, const char *name, char **path, struct err *e)
{
	struct volume_ident id = { 0 };
	int r;

	*path = NULL;
	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	if ((r = view_volume(ig, name, take_ident, &id, e)) < 0)
		return r;
	*path = path_here(ig, &id.v);
	free(id.heap);
	if (!*path)
		*path = strdup("");
	return *path ? 0 : err_set(e, -ENOMEM, "out of memory");
}

/* The loans of integ_inspect_view. */
struct lend_with_path {
	struct integration *ig;
	uint64_t g;	   /* the mount table's generation before the first */
	bool lent;	   /* the first went to fn: known not mounted */
	struct volume_ident id; /* else what the first took for path_here */
	const char *path;
	integ_view_fn fn;
	void *arg;
	bool replaced; /* another volume has the name by the second */
};

/* A volume known not mounted (path_here's first look, with no system call)
 * goes to fn at once; any other gives its name and id for path_here. */
static int first_loan(void *arg, const struct volume *v, struct err *e)
{
	struct lend_with_path *l = arg;

	if (l->g && unmounted_known(l->ig, v, l->g)) {
		l->lent = true;
		return l->fn(l->arg, v, "", e);
	}
	return take_ident(&l->id, v, e);
}

/* The second: the same volume as the first (by id), with its path. */
static int lend_with_path(void *arg, const struct volume *v, struct err *e)
{
	struct lend_with_path *l = arg;

	if (!v->id || !l->id.v.id || strcmp(v->id, l->id.v.id) != 0) {
		l->replaced = true;
		return 0;
	}
	return l->fn(l->arg, v, l->path, e);
}

int integ_inspect_view(struct integration *ig, const char *name, integ_view_fn fn, void *arg,
		       struct err *e)
{
	struct lend_with_path l = { .ig = ig, .fn = fn, .arg = arg };
	struct volume v;
	char *path;
	int r;

	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	/* one loan for a volume known not mounted; else the path first
	 * (outside any lock: it asks the system), then the volume again,
	 * lent with it */
	l.g = mount_watch_gen(&ig->mounts);
	if ((r = view_volume(ig, name, first_loan, &l, e)) < 0 || l.lent) {
		free(l.id.heap);
		return r;
	}
	path = path_here(ig, &l.id.v);
	l.path = path ? path : "";
	r = view_volume(ig, name, lend_with_path, &l, e);
	free(path);
	free(l.id.heap);
	if (r < 0 || !l.replaced)
		return r;
	/* replaced in between: one copy, and its path */
	if ((r = integ_inspect(ig, name, &v, &path, e)) < 0)
		return r;
	r = fn(arg, &v, path, e);
	free(path);
	volume_release(&v);
	return r;
}

int integ_inspect(struct integration *ig, const char *name, struct volume *out, char **path,
		  struct err *e)
{
	int r;

	if ((r = volume_name_check(name, e)) < 0 || (r = ready(ig, e)) < 0)
		return r;
	if ((r = find_volume(ig, name, out, e)) < 0)
		return r;
	if (path) {
		*path = path_here(ig, out);
		if (!*path && !(*path = strdup(""))) {
			volume_release(out);
			return err_set(e, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

int integ_describe(struct integration *ig, const char *name, bool probe_fs,
		   struct integ_description *out, struct err *e)
{
	struct err ignore = ERR_INIT;
	const char *probe_on;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = integ_inspect(ig, name, &out->v, &out->path, e)) < 0)
		return r;
	if (ig->exec->device_find && !ig->exec->bind_mount &&
	    ig->exec->device_find(&ig->x, out->v.id, &out->device, NULL) < 0)
		out->device = NULL;
	if (ig->exec->version >= EXECUTOR_V_STORAGE && ig->exec->storage_path &&
	    ig->exec->storage_path(&ig->x, out->v.id, &out->storage, NULL) < 0)
		out->storage = NULL;
	/* the filesystem: probed on the device, else on the image (blkid
	 * reads a file as well); a directory has none */
	probe_on = out->device ? out->device : ig->exec->bind_mount ? NULL : out->storage;
	if (probe_fs && probe_on && osfs_probe(probe_on, out->fstype, sizeof(out->fstype), &ignore) < 0)
		out->fstype[0] = '\0';
	if ((r = store_use_list(ig->store, ig->service, out->v.name, &out->uses, &out->n_uses,
				e)) < 0) {
		integ_description_release(out);
		return r;
	}
	for (size_t i = 0; i < out->n_uses; i++)
		out->total_uses += out->uses[i].count;
	return 0;
}

void integ_description_release(struct integ_description *d)
{
	volume_release(&d->v);
	free(d->path);
	free(d->device);
	free(d->storage);
	store_use_list_free(d->uses, d->n_uses);
	memset(d, 0, sizeof(*d));
}

void integ_paths_free(char **paths, size_t n)
{
	if (!paths)
		return;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int integ_list(struct integration *ig, struct volume_list *out, char ***paths, struct err *e)
{
	struct ls_ctx ctx;
	char **p;
	int r;

	if ((r = ready(ig, e)) < 0)
		return r;
	ctx = ctx_of(ig);
	if ((r = ig->client->ops->volumes(ig->client, ig->service, ATT_REQUESTED, &ctx, out, e)) < 0)
		return r;
	if (!paths)
		return 0;
	p = calloc(out->n + 1, sizeof(*p));
	if (!p) {
		volume_list_release(out);
		return err_set(e, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < out->n; i++) {
		p[i] = out->v[i].attachment_state == AS_ATTACHED ? path_here(ig, &out->v[i]) : NULL;
		if (!p[i] && !(p[i] = strdup(""))) {
			integ_paths_free(p, i);
			volume_list_release(out);
			return err_set(e, -ENOMEM, "out of memory");
		}
	}
	*paths = p;
	return 0;
}

static int remove_locked(struct integration *ig, const char *name, struct err *e)
{
	struct ls_ctx ctx = ctx_of(ig);
	struct volume v = { 0 };
	int64_t uses = 0;
	char *here;
	int r;

	if ((r = find_volume(ig, name, &v, e)) < 0)
		return r;
	here = path_here(ig, &v);
	if ((r = store_use_count(ig->store, ig->service, name, &uses, e)) == 0 && (here || uses)) {
		r = err_set(e, -EBUSY, "volume '%s' is in use%s%s; unmount it first (rexray "
			    "volume unmount %s)", name, here ? " at " : "", here ? here : "", name);
	} else if (r == 0) {
		r = ig->client->ops->volume_remove(ig->client, ig->service, v.id, ig->remove_force,
						   &ctx, e);
	}
	free(here);
	volume_release(&v);
	return r;
}

int integ_remove(struct integration *ig, const char *name, struct err *e)
{
	int fd, r;

	if ((r = volume_name_check(name, e)) < 0)
		return r;
	if (ig->remove_disable)
		return 0;
	if ((r = ready(ig, e)) < 0)
		return r;
	if ((fd = lock_volume(ig, name, e)) < 0)
		return fd;
	r = remove_locked(ig, name, e);
	vlock_release(fd);
	return r;
}

/* ---- fencing ---- */

/*
 * Stop every write to the filesystem on dev now, then take its mounts
 * away. The shutdown ioctl (osfs_shutdown) reaches files a container
 * still holds open, which neither a read-only remount (refused while a
 * file is open for writing) nor a lazy unmount (which keeps the
 * filesystem alive for them) can. One shutdown covers every mount of the
 * filesystem. Returns 0 when the filesystem was shut down.
 */
static int fence_mounts(const char *dev, char **mps, int n)
{
	struct err e = ERR_INIT;
	int r = n > 0 ? osfs_shutdown(mps[0], &e) : 0;

	if (r < 0) {
		log_error("%s: falling back to a read-only remount, which open files can "
			  "hold off", e.msg);
		for (int i = 0; i < n; i++)
			if (sys_mount(dev, mps[i], NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
				log_warn("fence: cannot make %s read-only: %s", mps[i],
					 strerror(errno));
	}
	/* the last first: mountinfo lists a bind inside the filesystem after it */
	for (int i = n - 1; i >= 0; i--)
		if (sys_umount2(mps[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
		    errno != ENOENT)
			log_warn("fence: cannot unmount %s: %s", mps[i], strerror(errno));
	return r;
}

/* The volume's record and whether the server still says it is ours. */
static bool still_ours(struct integration *ig, const char *id, struct volume *v)
{
	struct ls_ctx ctx = ctx_of(ig);
	struct err e = ERR_INIT;
	int r = ig->client->ops->volume_inspect(ig->client, ig->service, id, false, ATT_REQUESTED,
						&ctx, v, &e);

	if (r == -ENOENT)
		return false;
	if (r < 0) /* the server is unreachable: keep what we have until it answers */
		return true;
	return v->attachment_state == AS_ATTACHED;
}

/*
 * Nobody holds the volume any more (a detach, or an attachment a crash or
 * a power loss forgot), but it has a device here. A device this host still
 * uses is no takeover: take the attachment back (not forced: if another
 * host got it meanwhile, that one wins and this host is fenced next round)
 * and keep the filesystem as it is, loudly. An idle device is released.
 * Returns true when the device was released.
 */
static bool reclaim_or_release(struct integration *ig, struct volume *v, const char *dev)
{
	struct volume_attach_req req = { .force = false };
	struct ls_ctx ctx = ctx_of(ig);
	struct volume nv = { 0 };
	struct err e = ERR_INIT;
	char **mps = NULL, *token = NULL;
	int64_t uses = 0;
	bool released = false;
	int fd, n;

	if ((fd = lock_volume(ig, v->name, &e)) < 0) {
		log_warn("fence: %s: %s", v->name, e.msg);
		return false;
	}
	n = mount_points_of(dev, &mps, NULL);
	store_use_count(ig->store, ig->service, v->name, &uses, NULL);
	if (n > 0 || uses > 0 || blockdev_in_use(dev)) {
		log_warn("fence: volume %s (%s) is attached to no host but still in use here "
			 "(%s%s, %lld use(s)): taking its attachment back", v->id, v->name,
			 n > 0 ? "mounted at " : "device ", n > 0 ? mps[0] : dev, (long long)uses);
		if (ig->client->ops->volume_attach(ig->client, ig->service, v->id, &req, &ctx, &nv,
						   &token, &e) < 0)
			log_warn("fence: cannot take %s back: %s", v->name, e.msg);
		volume_release(&nv);
		free(token);
	} else {
		log_info("fence: volume %s (%s) is attached to no host: releasing idle %s", v->id,
			 v->name, dev);
		if (ig->exec->device_put && ig->exec->device_put(&ig->x, dev, &e) < 0)
			log_warn("fence: cannot release %s: %s", dev, e.msg);
		else
			released = true;
		store_use_clear(ig->store, ig->service, v->name, NULL);
	}
	if (n >= 0)
		mount_points_free(mps);
	vlock_release(fd);
	return released;
}

/*
 * Cut this host off the volume id (named name, when known) on dev: shut
 * its filesystem down, unmount it everywhere here, release the device and
 * forget its uses. The volume's lock is taken when the name is known (a
 * self-fence without the server knows only IDs).
 */
static void fence_device(struct integration *ig, const char *id, const char *name,
			 const char *dev)
{
	struct err e = ERR_INIT;
	char **mps = NULL;
	int fd = -1, n;

	if (name && (fd = lock_volume(ig, name, &e)) < 0)
		log_warn("fence: %s: %s", id, e.msg);
	log_warn("fence: volume %s: shutting down and unmounting %s", id, dev);
	n = mount_points_of(dev, &mps, &e);
	if (n >= 0) {
		fence_mounts(dev, mps, n);
		mount_points_free(mps);
	}
	if (ig->exec->device_put && ig->exec->device_put(&ig->x, dev, &e) < 0)
		log_warn("fence: cannot release %s: %s", dev, e.msg);
	if (name)
		store_use_clear(ig->store, ig->service, name, &e);
	vlock_release(fd);
}

/* Returns true when the volume was fenced. */
static bool fence_one(struct integration *ig, const char *id, const char *dev)
{
	struct volume v = { 0 };
	bool done;

	if (still_ours(ig, id, &v)) {
		volume_release(&v);
		return false;
	}
	if (v.name && v.attachment_state == AS_AVAILABLE) {
		done = reclaim_or_release(ig, &v, dev);
		volume_release(&v);
		return done;
	}
	log_warn("fence: volume %s (%s) now belongs to another host", id,
		 v.name ? v.name : "removed");
	fence_device(ig, id, v.name, dev);
	volume_release(&v);
	return true;
}

/* The name of volume id as the server knows it, to find its lock and use
 * counts here; NULL when the server cannot say (then both are left). */
static char *name_of(struct integration *ig, const char *id)
{
	struct ls_ctx ctx = ctx_of(ig);
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	char *name = NULL;

	if (ig->client->ops->volume_inspect(ig->client, ig->service, id, false, 0, &ctx, &v,
					    &e) == 0 && v.name)
		name = strdup(v.name);
	volume_release(&v);
	return name;
}

/* The devices of this service's volumes on this host (none when the
 * executor keeps no such list); *ld is the caller's to release. */
static int devices_here(struct integration *ig, struct local_devices *ld, struct err *e)
{
	int r = ready(ig, e);

	if (r < 0 || !ig->exec->local_devices)
		return r;
	return ig->exec->local_devices(&ig->x, ld, e);
}

/* Fence the volumes with a device here: only the one named only (NULL:
 * all); *n counts them. The name, for the lock and the use counts, is
 * asked from the server when ask_names (it may be out of reach). */
static int fence_local(struct integration *ig, const char *only, bool ask_names, size_t *n,
		       struct err *e)
{
	struct local_devices ld = { 0 };
	int r;

	*n = 0;
	if ((r = devices_here(ig, &ld, e)) < 0)
		return r;
	for (size_t i = 0; i < ld.n; i++) {
		const char *id = ld.map[i].volume_id;
		char *name;

		if (only && strcmp(id, only) != 0)
			continue;
		name = ask_names ? name_of(ig, id) : NULL;
		fence_device(ig, id, name, ld.map[i].device);
		free(name);
		(*n)++;
	}
	local_devices_release(&ld);
	return 0;
}

int integ_fence_volume(struct integration *ig, const char *id, bool *found, struct err *e)
{
	size_t n = 0;
	int r = fence_local(ig, id, true, &n, e);

	*found = n > 0;
	return r;
}

int integ_fence_all(struct integration *ig, size_t *n, struct err *e)
{
	return fence_local(ig, NULL, false, n, e);
}


int integ_fence(struct integration *ig, size_t *n, struct err *e)
{
	struct local_devices ld = { 0 };
	int r;

	*n = 0;
	if ((r = devices_here(ig, &ld, e)) < 0)
		return r;
	for (size_t i = 0; i < ld.n; i++)
		if (fence_one(ig, ld.map[i].volume_id, ld.map[i].device))
			(*n)++;
	local_devices_release(&ld);
	return 0;
}

int integ_refresh(struct integration *ig, size_t *n, struct err *e)
{
	struct local_devices ld = { 0 };
	int r;

	*n = 0;
	/* the executor is known once the server answered; until then there
	 * is nothing to refresh (and the fence check says the server is out
	 * of reach already) */
	if (ready(ig, e) < 0) {
		err_clear(e);
		return 0;
	}
	if (ig->exec->version < EXECUTOR_V_REFRESH || !ig->exec->device_refresh)
		return 0;
	if ((r = devices_here(ig, &ld, e)) < 0)
		return r;
	for (size_t i = 0; i < ld.n; i++) {
		const char *dev = ld.map[i].device, *id = ld.map[i].volume_id;
		struct volume v = { .name = (char *)id };
		struct err one = ERR_INIT;
		char fstype[64] = "", **mps = NULL;
		bool grew = false;

		if (ig->exec->device_refresh(&ig->x, id, dev, &grew, &one) < 0) {
			log_warn("integration: %s", one.msg);
			continue;
		}
		if (!grew)
			continue;
		(*n)++;
		/* a mounted xfs grows now, a mounted ext4 too when it can; else
		 * at the next mount (grow_to_device) */
		if (mount_points_of(dev, &mps, NULL) > 0 &&
		    osfs_probe(dev, fstype, sizeof(fstype), NULL) == 0 && fstype[0])
			grow_to_device(&v, dev, mps[0], fstype, true);
		mount_points_free(mps);
	}
	local_devices_release(&ld);
	return 0;
}

/* ---- reconciliation at start ---- */

/* A volume of ours that is mounted or has a device here but no use: the
 * operation that made it was cut short (the engine died mid-mount or
 * mid-unmount). Nobody can be using it: finish the unmount. */
static bool settle(struct integration *ig, struct volume *v)
{
	struct err e = ERR_INIT;
	int64_t uses = 1;
	int fd;

	if (store_use_count(ig->store, ig->service, v->name, &uses, &e) < 0 || uses > 0)
		return false;
	if ((fd = lock_volume(ig, v->name, &e)) < 0)
		return false;
	log_warn("integration: volume %s is mounted or attached here with no user left: "
		 "finishing its unmount", v->name);
	if (really_unmount(ig, v, false, &e) < 0)
		log_warn("integration: cannot settle %s: %s", v->name, e.msg);
	vlock_release(fd);
	return true;
}

/* Uses of a volume that is neither mounted nor has a device here: the
 * mounts they counted are gone (the machine restarted, or lost power), so
 * nobody can be using it through them. Left, they would keep the next
 * mount's last unmount from ever unmounting. */
static bool forget_stale_uses(struct integration *ig, const struct volume *v)
{
	struct err e = ERR_INIT;
	int64_t uses = 0;
	int fd;

	if (store_use_count(ig->store, ig->service, v->name, &uses, &e) < 0 || uses == 0)
		return false;
	if ((fd = lock_volume(ig, v->name, &e)) < 0)
		return false;
	log_warn("integration: volume %s has %lld use(s) but is not mounted here (the host "
		 "restarted?): forgetting them", v->name, (long long)uses);
	store_use_clear(ig->store, ig->service, v->name, &e);
	vlock_release(fd);
	return true;
}

/* How many of the service's volumes have uses on this host. */
struct in_use {
	const char *service;
	int64_t volumes;
};

static void count_in_use(void *arg, const char *service, int64_t volumes, int64_t uses)
{
	struct in_use *u = arg;

	(void)uses;
	if (strcasecmp(service, u->service) == 0)
		u->volumes += volumes;
}

int integ_reconcile(struct integration *ig, size_t *n, struct err *e)
{
	struct volume_list l = { 0 };
	struct in_use u = { .service = ig->service };
	char **paths = NULL;
	int r;

	*n = 0;
	/* mounts whose reply a crash never sent are not uses */
	if ((r = store_use_drop_pending(ig->store, e)) < 0 ||
	    (r = store_use_totals(ig->store, count_in_use, &u, e)) < 0 ||
	    (r = integ_list(ig, &l, &paths, e)) < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		char *dev = NULL;
		bool here = paths[i][0] != '\0';
		/* a bind-mount "device" (a vfs directory) always exists: only a
		 * mount says such a volume is here */
		if (!here && !ig->exec->bind_mount && ig->exec->device_find &&
		    ig->exec->device_find(&ig->x, l.v[i].id, &dev, NULL) == 0)
			here = true;
		free(dev);
		if (here && settle(ig, &l.v[i]))
			(*n)++;
		/* one query said whether any volume has uses here: without
		 * any, none has stale ones (not one query per volume at start) */
		else if (!here && u.volumes > 0 && forget_stale_uses(ig, &l.v[i]))
			(*n)++;
	}
	integ_paths_free(paths, l.n);
	volume_list_release(&l);
	return 0;
}

/* Settle a use after its reply: confirm it, or take it back (revoke: a
 * confirmed one) and unmount when it was the last. */
static void settle_use(struct integration *ig, const char *name, const char *caller,
		       bool delivered, bool revoke)
{
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	int64_t total = 1;
	int fd, r;

	if ((fd = lock_volume(ig, name, &e)) < 0) {
		log_warn("integration: confirm %s: %s", name, e.msg);
		return;
	}
	r = revoke ? store_use_remove(ig->store, ig->service, name, caller ? caller : "", &total, &e)
		   : store_use_confirm(ig->store, ig->service, name, caller ? caller : "",
				       delivered, &total, &e);
	if (r < 0 && r != -ENOENT)
		log_warn("integration: confirm %s: %s", name, e.msg);
	else if (!delivered && total == 0 && find_volume(ig, name, &v, &e) == 0) {
		/* the caller never learned of the mount: nobody uses it */
		log_warn("integration: the mount reply for %s was not delivered: unmounting", name);
		if (really_unmount(ig, &v, false, &e) < 0)
			log_warn("integration: %s", e.msg);
	}
	volume_release(&v);
	vlock_release(fd);
}

void integ_mount_confirm(struct integration *ig, const char *name, const char *caller,
			 bool delivered)
{
	settle_use(ig, name, caller, delivered, false);
}

void integ_mount_revoke(struct integration *ig, const char *name, const char *caller)
{
	settle_use(ig, name, caller, false, true);
}
