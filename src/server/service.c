#include "server/service.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "config/config.h"
#include "server/keylock.h"
#include "server/lease.h"
#include "server/service_int.h"
#include "store/store.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/names.h"
#include "util/sys.h"

#define ID_MAX 255

/* ---- set-up ---- */

static void make_server_name(char *buf, size_t sz)
{
	static const char *const adj[] = { "amber", "azure", "bold", "brisk", "calm", "coral",
					   "crimson", "dusty", "glitter", "golden", "ivory",
					   "jade", "lunar", "misty", "quiet", "sapphire",
					   "silver", "swift" };
	static const char *const noun[] = { "crane", "falcon", "flame", "harbor", "heron",
					    "meadow", "otter", "pine", "river", "stone",
					    "summit", "willow" };
	unsigned char rnd[4] = { 0 };

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd[0] = rnd[1] = rnd[2] = rnd[3] = 7;
	snprintf(buf, sz, "%s-%s-%c%c", adj[rnd[0] % (sizeof(adj) / sizeof(adj[0]))],
		 noun[rnd[1] % (sizeof(noun) / sizeof(noun[0]))], 'a' + rnd[2] % 26,
		 'a' + rnd[3] % 26);
}

static int service_setup(struct ls_server *srv, struct service *svc, const char *name,
			 const char *driver, struct err *e)
{
	int r;

	if ((r = service_name_check(name, e)) < 0)
		return err_prefix(e, "config: libstorage.server.services");
	svc->drv = driver_find(driver);
	if (!svc->drv)
		return err_set(e, -EINVAL, "config: service '%s': unknown driver '%s' (known: %s)",
			       name, driver, driver_names());
	svc->exec = executor_find(driver);
	svc->name = sys_strdup(name);
	if (!svc->name)
		return err_set(e, -ENOMEM, "out of memory");
	for (char *p = svc->name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(svc->scope_buf[0], sizeof(svc->scope_buf[0]), "libstorage.server.services.%s",
		 svc->name);
	snprintf(svc->scope_buf[1], sizeof(svc->scope_buf[1]), "libstorage.server");
	svc->scopes[0] = svc->scope_buf[0];
	svc->scopes[1] = svc->scope_buf[1];
	svc->scopes[2] = NULL;
	svc->cfg = srv->cfg;
	svc->store = srv->store;
	svc->paths = srv->paths;
	if (svc->drv->priv_size) {
		svc->priv = sys_calloc(1, svc->drv->priv_size);
		if (!svc->priv)
			return err_set(e, -ENOMEM, "out of memory");
	}
	if (svc->drv->init && (r = svc->drv->init(svc, e)) < 0) {
		err_prefix(e, "service '%s'", name);
		return r;
	}
	log_info("service %s: driver %s ready", svc->name, svc->drv->name);
	return 0;
}

static void service_teardown(struct service *svc)
{
	if (svc->drv && svc->drv->fini && svc->priv)
		svc->drv->fini(svc);
	free(svc->priv);
	free(svc->name);
}

/* The configured services, or the one Auto Service Mode makes up. */
static int load_services(struct ls_server *srv, struct err *e)
{
	const char *auto_name = cfg_key_get(srv->cfg, CFGK_SERVICE);
	char **names = NULL;
	int n, r = 0;

	n = cfg_children(srv->cfg, "libstorage.server.services", &names);
	if (n < 0)
		return err_set(e, -ENOMEM, "out of memory");
	if (n == 0) {
		const char *only = auto_name && *auto_name ? auto_name : LS_DEFAULT_SERVICE;
		cfg_names_free(names);
		srv->svcs = sys_calloc(1, sizeof(*srv->svcs));
		if (!srv->svcs)
			return err_set(e, -ENOMEM, "out of memory");
		srv->n_svcs = 1;
		return service_setup(srv, &srv->svcs[0], only, only, e);
	}
	srv->svcs = sys_calloc((size_t)n, sizeof(*srv->svcs));
	if (!srv->svcs) {
		cfg_names_free(names);
		return err_set(e, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n && r == 0; i++) {
		const char *drv = cfg_key_get_for(srv->cfg, CFGK_SERVICE_DRIVER, names[i]);
		srv->n_svcs = (size_t)i + 1;
		r = service_setup(srv, &srv->svcs[i], names[i], drv && *drv ? drv : names[i], e);
	}
	cfg_names_free(names);
	return r;
}

int ls_server_new(const struct cfg *cfg, const struct paths *paths, struct store *st,
		  struct ls_server **out, struct err *e)
{
	struct ls_server *srv = sys_calloc(1, sizeof(*srv));
	int64_t lease_ms = 0;
	const char *def;
	int r;

	if (!srv)
		return err_set(e, -ENOMEM, "out of memory");
	srv->cfg = cfg;
	srv->paths = paths;
	srv->store = st;
	keylock_init(&srv->locks);
	mx_requests_init(&srv->requests);
	make_server_name(srv->name, sizeof(srv->name));
	if ((r = cfg_key_duration_ms(cfg, NULL, CFGK_SERVER_LEASE, &lease_ms, e)) < 0 ||
	    !(srv->leases = lease_table_new(lease_ms, store_is_shared(st) ? st : NULL)) ||
	    (r = load_services(srv, e)) < 0) {
		if (!srv->leases)
			r = err_set(e, -ENOMEM, "out of memory");
		ls_server_free(srv);
		return r;
	}
	def = cfg_key_get(cfg, CFGK_SERVICE);
	if (def && *def && !ls_server_service(srv, def)) {
		r = err_set(e, -EINVAL, "config: libstorage.service: invalid value '%s': no such "
			    "service is configured", def);
		ls_server_free(srv);
		return r;
	}
	snprintf(srv->default_svc, sizeof(srv->default_svc), "%s",
		 def && *def ? def : srv->svcs[0].name);
	for (char *p = srv->default_svc; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	*out = srv;
	return 0;
}

void ls_server_closing(struct ls_server *srv)
{
	lease_table_close(srv->leases);
}

void ls_server_free(struct ls_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; i < srv->n_svcs; i++)
		service_teardown(&srv->svcs[i]);
	free(srv->svcs);
	keylock_destroy(&srv->locks);
	mx_requests_destroy(&srv->requests);
	lease_table_free(srv->leases);
	free(srv);
}

struct mx_requests *ls_server_requests(struct ls_server *srv)
{
	return &srv->requests;
}

const char *ls_server_name(const struct ls_server *srv)
{
	return srv->name;
}

const char *ls_server_default_service(const struct ls_server *srv)
{
	return srv->default_svc;
}

struct service *ls_server_service(struct ls_server *srv, const char *name)
{
	for (size_t i = 0; name && i < srv->n_svcs; i++)
		if (strcasecmp(srv->svcs[i].name, name) == 0)
			return &srv->svcs[i];
	return NULL;
}

size_t ls_server_service_count(const struct ls_server *srv)
{
	return srv->n_svcs;
}

struct service *ls_server_service_at(struct ls_server *srv, size_t i)
{
	return i < srv->n_svcs ? &srv->svcs[i] : NULL;
}

int ls_http_status(int code)
{
	switch (code) {
	case -EINVAL:
	case -EDOM:
	case -ERANGE:
		return 400;
	case -EACCES:
	case -EPERM:
		return 401;
	case -ENOENT:
		return 404;
	case -ETIMEDOUT:
		return 408;
	case -EEXIST:
	case -EBUSY:
		return 409;
	case -E2BIG:
	case -EMSGSIZE:
		return 413;
	case -ENOTSUP:
	case -ENOSYS:
		return 501;
	case -ENOTCONN: /* the database is unavailable: no server acted */
		return 503;
	default:
		return 500;
	}
}

/* ---- per-request helpers ---- */

struct service *lsi_find_service(struct ls_server *srv, const char *name, struct err *e)
{
	struct service *svc = ls_server_service(srv, name);
	char shown[80], have[256] = "";
	size_t len = 0;

	if (!svc) {
		/* the ones there are, for the typo or the other configuration */
		for (size_t i = 0; i < srv->n_svcs && len < sizeof(have); i++)
			len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%s", i ? ", " : "",
						srv->svcs[i].name);
		name_sanitise(shown, sizeof(shown), name ? name : "", name ? strlen(name) : 0);
		err_set(e, -ENOENT, "service '%s' not found (this server has: %s)", shown, have);
	}
	return svc;
}

int lsi_check_id(const char *id, struct err *e)
{
	if (!id || !*id)
		return err_set(e, -EINVAL, "volume ID is empty");
	if (strlen(id) > ID_MAX)
		return err_set(e, -EINVAL, "volume ID is longer than %d bytes", ID_MAX);
	for (const char *p = id; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(e, -EINVAL, "volume ID contains control characters");
	return 0;
}

/*
 * The caller's instance ID for a service: a service-specific one beats a
 * driver-only one. An ID of only metadata is resolved by the driver's
 * InstanceInspect into *owned. *me is the one found (ctx's own, borrowed,
 * or owned), NULL when none. *owned is released by the caller.
 */
static int caller_iid_ref(struct service *svc, const struct ls_ctx *ctx,
			  struct instance_id *owned, const struct instance_id **me, struct err *e)
{
	const struct instance_id *best = NULL;
	struct instance in;
	int r;

	memset(owned, 0, sizeof(*owned));
	*me = NULL;
	for (size_t i = 0; ctx && i < ctx->n_iids; i++) {
		const struct instance_id *c = &ctx->iids[i];
		if (c->service && *c->service && strcasecmp(c->service, svc->name) == 0) {
			best = c;
			break;
		}
		if ((!c->service || !*c->service) && c->driver &&
		    strcasecmp(c->driver, svc->drv->name) == 0 && !best)
			best = c;
	}
	if (!best)
		return 0;
	if (best->id && *best->id) {
		*me = best;
		return 0;
	}
	if (!svc->drv->instance_inspect)
		return err_set(e, -EINVAL, "the instance ID for service '%s' has no id", svc->name);
	if ((r = svc->drv->instance_inspect(svc, best, &in, e)) < 0)
		return r;
	*owned = in.iid;
	memset(&in.iid, 0, sizeof(in.iid));
	instance_release(&in);
	*me = owned;
	return 0;
}

/* caller_iid_ref with *out always the caller's own (a copy when borrowed);
 * *found says whether any. */
static int caller_iid(struct service *svc, const struct ls_ctx *ctx, struct instance_id *out,
		      bool *found, struct err *e)
{
	const struct instance_id *me;
	int r = caller_iid_ref(svc, ctx, out, &me, e);

	*found = false;
	if (r < 0 || !me)
		return r;
	if (me != out && instance_id_copy(out, me) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	*found = true;
	return 0;
}

static const char *local_device(const struct ls_ctx *ctx, struct service *svc, const char *vol_id)
{
	for (size_t i = 0; ctx && i < ctx->n_ldevs; i++) {
		const struct local_devices *ld = &ctx->ldevs[i];
		if (!ld->driver || strcasecmp(ld->driver, svc->drv->name) != 0)
			continue;
		for (size_t j = 0; j < ld->n; j++)
			if (ld->map[j].volume_id && strcmp(ld->map[j].volume_id, vol_id) == 0 &&
			    ld->map[j].device && *ld->map[j].device)
				return ld->map[j].device;
	}
	return NULL;
}

static bool is_mine(const struct volume_attachment *a, const struct instance_id *me)
{
	return me && me->id && a->iid.id && strcasecmp(a->iid.id, me->id) == 0;
}

/*
 * Apply the mask to one volume: compute the state, keep only the caller's
 * attachments with ATT_MINE, map devices with ATT_DEVICES, strip all
 * attachment data without ATT_REQUESTED. Returns false when the mask's
 * filter drops the volume.
 */
static bool shape_volume(struct service *svc, struct volume *v, int mask,
			 const struct instance_id *me, const struct ls_ctx *ctx)
{
	int state = v->attachment_state;

	if (state == AS_NONE) {
		state = AS_AVAILABLE;
		for (size_t i = 0; i < v->n_attachments; i++) {
			state = AS_UNAVAILABLE;
			if (is_mine(&v->attachments[i], me)) {
				state = AS_ATTACHED;
				break;
			}
		}
	}
	if ((mask & ATT_ATTACHED) && !(mask & ATT_UNATTACHED)) {
		if (state == AS_AVAILABLE || ((mask & ATT_MINE) && state == AS_UNAVAILABLE))
			return false;
	}
	if ((mask & ATT_UNATTACHED) && !(mask & ATT_ATTACHED)) {
		if (state == AS_ATTACHED || state == AS_UNAVAILABLE)
			return false;
	}
	if (!(mask & ATT_REQUESTED)) {
		for (size_t i = 0; i < v->n_attachments; i++)
			volume_attachment_release(&v->attachments[i]);
		free(v->attachments);
		v->attachments = NULL;
		v->n_attachments = 0;
		v->attachment_state = AS_NONE;
		return true;
	}
	v->attachment_state = state;
	if (mask & ATT_MINE) {
		size_t k = 0;
		for (size_t i = 0; i < v->n_attachments; i++) {
			if (is_mine(&v->attachments[i], me))
				v->attachments[k++] = v->attachments[i];
			else
				volume_attachment_release(&v->attachments[i]);
		}
		v->n_attachments = k;
	}
	if (mask & ATT_DEVICES) {
		for (size_t i = 0; i < v->n_attachments; i++) {
			const char *dev;
			if (!is_mine(&v->attachments[i], me))
				continue;
			dev = local_device(ctx, svc, v->id);
			if (dev) {
				char *d = sys_strdup(dev);
				if (d) {
					free(v->attachments[i].device_name);
					v->attachments[i].device_name = d;
				}
			}
		}
	}
	return true;
}

/* Masks that need to know who is asking. */
static int check_mask(int mask, bool have_iid, struct err *e)
{
	if (mask < 0 || mask > ATT_ALL_BITS)
		return err_set(e, -EINVAL, "attachments mask %d is out of range 0-31", mask);
	if ((mask & (ATT_MINE | ATT_DEVICES)) && !have_iid)
		return err_set(e, -EINVAL, "attachments mask %d needs the caller's instance ID "
			       "(header Libstorage-Instanceid)", mask);
	return 0;
}

/* ---- operations ---- */

int ls_services(struct ls_server *srv, struct service_list *out, struct err *e)
{
	struct service_list l = { 0 };

	l.s = sys_calloc(srv->n_svcs, sizeof(*l.s));
	if (!l.s)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < srv->n_svcs; i++) {
		struct service_info *si = &l.s[i];
		const struct storage_driver *d = srv->svcs[i].drv;
		l.n = i + 1;
		si->name = sys_strdup(srv->svcs[i].name);
		si->driver_name = sys_strdup(d->name);
		si->driver_type = d->type;
		si->has_next_device = d->has_next_device;
		si->next_device.ignore = d->next_device.ignore;
		si->next_device.prefix = sys_strdup(d->next_device.prefix ? d->next_device.prefix : "");
		si->next_device.pattern =
			sys_strdup(d->next_device.pattern ? d->next_device.pattern : "");
		if (!si->name || !si->driver_name || !si->next_device.prefix ||
		    !si->next_device.pattern) {
			service_list_release(&l);
			return err_set(e, -ENOMEM, "out of memory");
		}
	}
	*out = l;
	return 0;
}

int ls_service_inspect(struct ls_server *srv, const char *name, bool want_instance,
		       const struct ls_ctx *ctx, struct service_info *out, struct err *e)
{
	struct service_list all = { 0 };
	struct service *svc = lsi_find_service(srv, name, e);
	const struct instance_id *given = NULL;
	size_t idx;
	int r;

	if (!svc)
		return -ENOENT;
	idx = (size_t)(svc - srv->svcs);
	if (want_instance) {
		for (size_t i = 0; ctx && i < ctx->n_iids; i++) {
			const struct instance_id *c = &ctx->iids[i];
			if ((c->service && strcasecmp(c->service, svc->name) == 0) ||
			    (c->driver && strcasecmp(c->driver, svc->drv->name) == 0))
				given = c;
		}
		if (!given)
			return err_set(e, -EINVAL, "?instance needs the caller's instance ID "
				       "(header Libstorage-Instanceid)");
		if (!svc->drv->instance_inspect)
			return err_set(e, -ENOTSUP, "driver '%s' cannot inspect instances",
				       svc->drv->name);
	}
	if ((r = ls_services(srv, &all, e)) < 0)
		return r;
	*out = all.s[idx];
	memset(&all.s[idx], 0, sizeof(all.s[idx]));
	service_list_release(&all);
	if (want_instance) {
		if ((r = svc->drv->instance_inspect(svc, given, &out->instance, e)) < 0) {
			service_info_release(out);
			return r;
		}
		out->has_instance = true;
	}
	return 0;
}

/* A walk of the driver's volumes through shape_volume to the caller's fn. */
struct shaping {
	struct service *svc;
	int mask;
	const struct instance_id *me;
	const struct ls_ctx *ctx;
	volume_visit_fn fn;
	void *arg;
};

static int shape_visit(void *arg, struct volume *v, struct err *e)
{
	struct shaping *sh = arg;

	if (!shape_volume(sh->svc, v, sh->mask, sh->me, sh->ctx))
		return 0;
	return sh->fn(sh->arg, v, e);
}

/* A driver without volumes_each: its whole list, walked. */
static int walk_list(struct service *svc, const struct volume_query *q, volume_visit_fn fn,
		     void *arg, struct err *e)
{
	struct volume_list all = { 0 };
	int r;

	if (!svc->drv->volumes)
		return err_set(e, -ENOTSUP, "driver '%s' cannot list volumes", svc->drv->name);
	r = svc->drv->volumes(svc, q, &all, e);
	for (size_t i = 0; r == 0 && i < all.n; i++)
		r = fn(arg, &all.v[i], e);
	volume_list_release(&all);
	return r;
}

int ls_volumes_each(struct ls_server *srv, const char *name, int mask, const struct ls_ctx *ctx,
		    volume_visit_fn fn, void *arg, struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);
	struct shaping sh = { .svc = svc, .mask = mask, .ctx = ctx, .fn = fn, .arg = arg };
	struct volume_query q;
	struct instance_id me;
	bool have_me;
	int r;

	if (!svc)
		return -ENOENT;
	if ((r = caller_iid(svc, ctx, &me, &have_me, e)) < 0)
		return r;
	if ((r = check_mask(mask, have_me, e)) < 0)
		goto out;
	q.mask = mask;
	q.iid = have_me ? &me : NULL;
	sh.me = q.iid;
	if (svc->drv->version >= STORAGE_DRIVER_V_EACH && svc->drv->volumes_each)
		r = svc->drv->volumes_each(svc, &q, shape_visit, &sh, e);
	else
		r = walk_list(svc, &q, shape_visit, &sh, e);
out:
	instance_id_release(&me);
	return r;
}

static int push_volume(void *arg, struct volume *v, struct err *e)
{
	if (volume_list_push(arg, v) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

int ls_volumes(struct ls_server *srv, const char *name, int mask, const struct ls_ctx *ctx,
	       struct volume_list *out, struct err *e)
{
	struct volume_list l = { 0 };
	int r;

	r = ls_volumes_each(srv, name, mask, ctx, push_volume, &l, e);
	if (r < 0) {
		volume_list_release(&l);
		return r;
	}
	*out = l;
	return 0;
}

/* Find a volume by name through the driver, or by scanning its list. */
int lsi_inspect_by_name(struct service *svc, const char *vname, const struct volume_query *q,
			   struct volume *out, struct err *e)
{
	struct volume_list all = { 0 };
	int r;

	if (svc->drv->volume_inspect_by_name)
		return svc->drv->volume_inspect_by_name(svc, vname, q, out, e);
	if (!svc->drv->volumes)
		return err_set(e, -ENOTSUP, "driver '%s' cannot list volumes", svc->drv->name);
	if ((r = svc->drv->volumes(svc, q, &all, e)) < 0)
		return r;
	r = err_set(e, -ENOENT, "resource not found");
	for (size_t i = 0; i < all.n; i++) {
		if (all.v[i].name && strcasecmp(all.v[i].name, vname) == 0) {
			*out = all.v[i];
			memset(&all.v[i], 0, sizeof(all.v[i]));
			err_clear(e);
			r = 0;
			break;
		}
	}
	volume_list_release(&all);
	return r;
}

/*
 * What a call on one volume starts with: its service, a valid ID, and the
 * caller's instance ID when it sent one (*me released by the caller).
 * NULL with *r set when any of them fails.
 */
static struct service *volume_call_start(struct ls_server *srv, const char *name,
					 const char *id, const struct ls_ctx *ctx,
					 struct instance_id *me, bool *have_me, int *r,
					 struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);

	memset(me, 0, sizeof(*me));
	*have_me = false;
	*r = -ENOENT;
	if (!svc)
		return NULL;
	if ((*r = lsi_check_id(id, e)) < 0 || (*r = caller_iid(svc, ctx, me, have_me, e)) < 0)
		return NULL;
	return svc;
}

int ls_volume_inspect(struct ls_server *srv, const char *name, const char *id_or_name,
		      bool by_name, int mask, const struct ls_ctx *ctx, struct volume *out,
		      struct err *e)
{
	struct volume_query q;
	struct instance_id me;
	struct volume v;
	bool have_me;
	int r;
	struct service *svc = volume_call_start(srv, name, id_or_name, ctx, &me, &have_me, &r, e);

	if (!svc)
		return r;
	if ((r = check_mask(mask, have_me, e)) < 0)
		goto out;
	q.mask = mask;
	q.iid = have_me ? &me : NULL;
	if (by_name)
		r = lsi_inspect_by_name(svc, id_or_name, &q, &v, e);
	else if (svc->drv->volume_inspect)
		r = svc->drv->volume_inspect(svc, id_or_name, &q, &v, e);
	else
		r = err_set(e, -ENOTSUP, "driver '%s' cannot inspect volumes", svc->drv->name);
	if (r < 0)
		goto out;
	/* a single volume is shaped but never filtered away */
	shape_volume(svc, &v, mask & ~(ATT_ATTACHED | ATT_UNATTACHED), q.iid, ctx);
	*out = v;
out:
	instance_id_release(&me);
	return r;
}

/* What ls_volume_view hands on: the lender's volume, shaped on the way. */
struct shaped_view {
	struct service *svc;
	const struct instance_id *me;
	const struct ls_ctx *ctx;
	volume_view_fn fn;
	void *arg;
};

static int shape_view(void *arg, const struct volume *v, struct err *e)
{
	struct shaped_view *sv = arg;
	struct volume s = *v; /* a shallow copy: ATT_REQUESTED alone sets only the state */

	shape_volume(sv->svc, &s, ATT_REQUESTED, sv->me, sv->ctx);
	return sv->fn(sv->arg, &s, e);
}

int ls_volume_view(struct ls_server *srv, const char *name, const char *vname,
		   const struct ls_ctx *ctx, volume_view_fn fn, void *arg, struct err *e)
{
	struct volume_query q = { .mask = ATT_REQUESTED };
	struct instance_id me = { 0 };
	struct volume v;
	int r;
	/* volume_call_start's checks, the caller's instance ID borrowed */
	struct service *svc = lsi_find_service(srv, name, e);
	struct shaped_view sv = { .svc = svc, .ctx = ctx, .fn = fn, .arg = arg };

	if (!svc)
		return -ENOENT;
	if ((r = lsi_check_id(vname, e)) < 0 || (r = caller_iid_ref(svc, ctx, &me, &sv.me, e)) < 0)
		goto out;
	q.iid = sv.me;
	if (svc->drv->version >= STORAGE_DRIVER_V_VIEW && svc->drv->volume_view_by_name) {
		r = svc->drv->volume_view_by_name(svc, vname, &q, shape_view, &sv, e);
	} else if ((r = lsi_inspect_by_name(svc, vname, &q, &v, e)) == 0) {
		r = shape_view(&sv, &v, e);
		volume_release(&v);
	}
out:
	instance_id_release(&me);
	return r;
}

int lsi_check_create(const struct volume_create_req *req, struct err *e)
{
	int r;

	if ((r = volume_name_check(req->name, e)) < 0)
		return r;
	if (req->has_size && (req->size < 0 || req->size > (1LL << 20)))
		return err_set(e, -EINVAL, "size %lld is out of range 0-%lld GiB",
			       (long long)req->size, 1LL << 20);
	if (req->has_iops && (req->iops < 0 || req->iops > (1LL << 31)))
		return err_set(e, -EINVAL, "iops %lld is out of range", (long long)req->iops);
	return 0;
}

int lsi_create_named(struct ls_server *srv, struct service *svc, const char *vname,
		     lsi_make_fn make, void *arg, bool make_refuses, struct volume *out,
		     struct err *e)
{
	struct volume existing;
	char key[VOLUME_NAME_MAX + 80];
	struct store_key_lock *held = NULL;
	int r;

	if ((r = volume_name_check(vname, e)) < 0)
		return r;
	snprintf(key, sizeof(key), "%s\ncreate\n", svc->name);
	for (size_t i = strlen(key), j = 0; vname[j] && i + 1 < sizeof(key); i++, j++) {
		key[i] = (char)tolower((unsigned char)vname[j]);
		key[i + 1] = '\0';
	}
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	/* the caller (integration/, the CLI) looked the name up already; a
	 * driver whose create refuses a taken name answers for itself */
	if (make_refuses && svc->drv->names_unique)
		r = -ENOENT;
	else
		r = lsi_inspect_by_name(svc, vname, &(struct volume_query){ 0 }, &existing, e);
	if (r == 0) {
		volume_release(&existing);
		r = err_set(e, -EEXIST, "a volume named '%s' already exists in service '%s'",
			    vname, svc->name);
	} else if (r == -ENOENT) {
		err_clear(e);
		r = make(svc, arg, out, e);
		if (r == 0 && out->attachment_state == AS_NONE)
			out->attachment_state = AS_AVAILABLE;
		if (r == 0)
			log_info("service %s: created volume %s (%s)", svc->name, out->name,
				 out->id);
	}
	lsi_unlock(srv, key, held);
	return r;
}

static int make_volume(struct service *svc, void *arg, struct volume *out, struct err *e)
{
	return svc->drv->volume_create(svc, arg, out, e);
}

int ls_volume_create(struct ls_server *srv, const char *name, const struct volume_create_req *req,
		     const struct ls_ctx *ctx, struct volume *out, struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);
	int r;

	(void)ctx;
	if (!svc)
		return -ENOENT;
	if ((r = lsi_check_create(req, e)) < 0)
		return r;
	if (!svc->drv->volume_create)
		return err_set(e, -ENOTSUP, "driver '%s' cannot create volumes", svc->drv->name);
	return lsi_create_named(srv, svc, req->name, make_volume, (void *)req, true, out, e);
}

int lsi_lock(struct ls_server *srv, const char *key, struct store_key_lock **held,
	     struct err *e)
{
	int r;

	*held = NULL;
	if ((r = keylock_acquire(&srv->locks, key)) < 0)
		return err_set(e, r, "out of memory");
	if ((r = store_key_lock(srv->store, key, held, e)) < 0)
		keylock_release(&srv->locks, key);
	return r;
}

void lsi_unlock(struct ls_server *srv, const char *key, struct store_key_lock *held)
{
	store_key_unlock(srv->store, held);
	keylock_release(&srv->locks, key);
}

void lsi_volume_key(char *buf, size_t sz, const struct service *svc, const char *id)
{
	snprintf(buf, sz, "%s\nid\n%s", svc->name, id);
}

/*
 * Before a forced attach (a preempt) takes svc's volume id from other
 * hosts: revoke their leases and wait until each has fenced its
 * filesystem or its lease ended, so that two hosts never write it at once.
 */
static int wait_for_holders(struct ls_server *srv, struct service *svc, const char *id,
			    const struct instance_id *me, struct err *e)
{
	struct volume_query q = { .mask = ATT_REQUESTED };
	struct volume v = { 0 };
	int r = 0;

	if (!svc->drv->volume_inspect || svc->drv->volume_inspect(svc, id, &q, &v, e) < 0)
		return 0; /* the attach itself says what is wrong */
	for (size_t i = 0; r == 0 && i < v.n_attachments; i++) {
		const char *holder = v.attachments[i].iid.id;
		bool fenced;
		long long ms;

		if (!holder || !*holder || (me->id && strcasecmp(holder, me->id) == 0))
			continue;
		if (!svc->drv->fenceable) {
			r = err_set(e, -EBUSY, "volume '%s' is attached to instance '%s', and %s "
				    "volumes cannot be fenced (a host's open files would go on "
				    "writing): detach it there first; a preempt cannot take it",
				    v.name ? v.name : id, holder, svc->drv->name);
			break;
		}
		ms = lease_revoke_wait(srv->leases, svc->name, id, holder, &fenced, e);
		if (ms < 0)
			r = (int)ms;
		else
			log_warn("service %s: preempt of %s by %s: %s %s after %lld ms", svc->name,
				 id, me->id, holder, fenced ? "fenced it" : "let its lease end", ms);
	}
	volume_release(&v);
	return r;
}

int ls_volume_attach(struct ls_server *srv, const char *name, const char *id,
		     const struct volume_attach_req *req, const struct ls_ctx *ctx,
		     struct volume *out, char **token, struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);
	struct attach_opts o = { 0 };
	struct instance_id me;
	char key[400];
	struct store_key_lock *held = NULL;
	bool have_me;
	int r;

	if (token)
		*token = NULL;
	if (!svc)
		return -ENOENT;
	if ((r = lsi_check_id(id, e)) < 0)
		return r;
	if ((r = caller_iid(svc, ctx, &me, &have_me, e)) < 0)
		return r;
	if (!have_me) {
		r = err_set(e, -EINVAL, "attach needs the caller's instance ID (header "
			    "Libstorage-Instanceid)");
		goto out;
	}
	if (!svc->drv->volume_attach) {
		r = err_set(e, -ENOTSUP, "driver '%s' cannot attach volumes", svc->drv->name);
		goto out;
	}
	o.iid = &me;
	o.force = req && req->force;
	o.next_device = req ? req->next_device_name : NULL;
	o.opts = req ? req->opts : NULL;
	lsi_volume_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		goto out;
	r = o.force ? wait_for_holders(srv, svc, id, &me, e) : 0;
	if (r == 0)
		r = svc->drv->volume_attach(svc, id, &o, out, token, e);
	if (r == 0)
		lease_grant(srv->leases, svc->name, me.id);
	lsi_unlock(srv, key, held);
	if (r == 0) {
		shape_volume(svc, out, ATT_REQUESTED | ATT_MINE, &me, ctx);
		log_info("service %s: attached %s to %s", svc->name, id, me.id);
	}
out:
	instance_id_release(&me);
	return r;
}

int ls_volume_detach(struct ls_server *srv, const char *name, const char *id,
		     const struct volume_detach_req *req, const struct ls_ctx *ctx,
		     struct volume *out, struct err *e)
{
	struct detach_opts o = { 0 };
	struct instance_id me;
	char key[400];
	struct store_key_lock *held = NULL;
	bool have_me;
	int r;
	struct service *svc = volume_call_start(srv, name, id, ctx, &me, &have_me, &r, e);

	if (!svc)
		return r;
	o.force = req && req->force;
	o.opts = req ? req->opts : NULL;
	o.iid = have_me ? &me : NULL;
	if (!have_me && !o.force) {
		r = err_set(e, -EINVAL, "detach needs the caller's instance ID (header "
			    "Libstorage-Instanceid) or force");
		goto out;
	}
	if (!svc->drv->volume_detach) {
		r = err_set(e, -ENOTSUP, "driver '%s' cannot detach volumes", svc->drv->name);
		goto out;
	}
	lsi_volume_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		goto out;
	r = svc->drv->volume_detach(svc, id, &o, out, e);
	lsi_unlock(srv, key, held);
	if (r == 0) {
		shape_volume(svc, out, ATT_REQUESTED, o.iid, ctx);
		log_info("service %s: detached %s", svc->name, id);
	}
out:
	instance_id_release(&me);
	return r;
}

int ls_volume_remove(struct ls_server *srv, const char *name, const char *id, bool force,
		     const struct ls_ctx *ctx, struct err *e)
{
	struct service *svc = lsi_find_service(srv, name, e);
	char key[400];
	struct store_key_lock *held = NULL;
	int r;

	(void)ctx;
	if (!svc)
		return -ENOENT;
	if ((r = lsi_check_id(id, e)) < 0)
		return r;
	if (!svc->drv->volume_remove)
		return err_set(e, -ENOTSUP, "driver '%s' cannot remove volumes", svc->drv->name);
	lsi_volume_key(key, sizeof(key), svc, id);
	if ((r = lsi_lock(srv, key, &held, e)) < 0)
		return r;
	r = svc->drv->volume_remove(svc, id, force, e);
	lsi_unlock(srv, key, held);
	if (r == 0)
		log_info("service %s: removed volume %s", svc->name, id);
	return r;
}

/* ---- leases ---- */

int ls_lease_renew(struct ls_server *srv, const struct ls_ctx *ctx, long long lease_ms,
		   long long wait_ms, struct volume_ref **out, size_t *n_out, struct err *e)
{
	const char **names = sys_calloc(srv->n_svcs + 1, sizeof(*names));
	const char **ids = sys_calloc(srv->n_svcs + 1, sizeof(*ids));
	struct instance_id *mine = sys_calloc(srv->n_svcs + 1, sizeof(*mine));
	size_t n = 0;
	int r = 0;

	*out = NULL;
	*n_out = 0;
	if (!names || !ids || !mine)
		r = err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < srv->n_svcs; i++) {
		bool have = false;
		if ((r = caller_iid(&srv->svcs[i], ctx, &mine[n], &have, e)) == 0 && have) {
			names[n] = srv->svcs[i].name;
			ids[n] = mine[n].id;
			n++;
		}
	}
	if (r == 0 && n == 0)
		r = err_set(e, -EINVAL, "a lease renewal needs the caller's instance IDs (header "
			    "Libstorage-Instanceid)");
	if (r == 0)
		r = lease_renew_wait(srv->leases, names, ids, n, lease_ms, wait_ms, out, n_out, e);
	for (size_t i = 0; mine && i <= n; i++)
		instance_id_release(&mine[i]);
	free(mine);
	free(names);
	free(ids);
	return r;
}

int ls_lease_fenced(struct ls_server *srv, const char *name, const char *id,
		    const struct ls_ctx *ctx, struct err *e)
{
	struct instance_id me;
	bool have_me;
	int r;
	struct service *svc = volume_call_start(srv, name, id, ctx, &me, &have_me, &r, e);

	if (!svc)
		return r;
	if (!have_me)
		r = err_set(e, -EINVAL, "a fence confirmation needs the caller's instance ID "
			    "(header Libstorage-Instanceid)");
	else
		r = lease_fenced(srv->leases, svc->name, id, me.id, e);
	instance_id_release(&me);
	return r;
}
