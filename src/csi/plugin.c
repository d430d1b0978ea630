#include "csi/plugin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/keys.h"
#include "csi/controller.h"
#include "csi/csi.pb-c.h"
#include "csi/node.h"
#include "csi/server.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/version.h"

#define IMPLICIT_MODULE "csi"

struct csi_module {
	char name[65];
	char driver[CSI_DRIVER_NAME_MAX + 1];
	char service[65];
	unsigned services;
	struct storage_client *client; /* borrowed */
	struct csi_server *srv;
	/* ---- Controller service (csi/controller.c) ---- */
	struct csi_ctl *ctl; /* NULL unless csi.services has controller */
	/* ---- end Controller service ---- */
	/* ---- node service (csi/node.c) ---- */
	struct csi_node *node; /* NULL unless services has CSI_SVC_NODE */
	/* ---- end node service ---- */
};

/* ---- pure helpers ---- */

int csi_services_parse(const char *text, unsigned *out, struct err *e)
{
	const char *p = text ? text : "";
	unsigned bits = 0;

	while (*p) {
		size_t n;
		while (*p == ',' || *p == ' ' || *p == '\t' || *p == '[' || *p == ']')
			p++;
		n = strcspn(p, ", \t[]");
		if (!n)
			break;
		if (n == 10 && strncasecmp(p, "controller", n) == 0)
			bits |= CSI_SVC_CONTROLLER;
		else if (n == 4 && strncasecmp(p, "node", n) == 0)
			bits |= CSI_SVC_NODE;
		else
			return err_set(e, -EINVAL, "csi services: unknown service '%.*s' "
				       "(controller, node)", (int)(n > 64 ? 64 : n), p);
		p += n;
	}
	if (!bits)
		return err_set(e, -EINVAL, "csi services: none given (controller, node)");
	*out = bits;
	return 0;
}

bool csi_driver_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > CSI_DRIVER_NAME_MAX)
		return false;
	if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '-' && ch != '.')
			return false;
	}
	return true;
}

/* ---- Identity ---- */

static int get_plugin_info(void *ctx, const ProtobufCMessage *req, ProtobufCMessage **reply,
			   grpc_status_code *code, char *msg, size_t msgsz)
{
	struct csi_module *m = ctx;
	Csi__V1__GetPluginInfoResponse *r = malloc(sizeof(*r));

	(void)req;
	(void)code;
	(void)msg;
	(void)msgsz;
	if (!r)
		return -ENOMEM;
	csi__v1__get_plugin_info_response__init(r);
	*reply = &r->base;
	if (!(r->name = strdup(m->driver)) || !(r->vendor_version = strdup(RR_SEMVER)))
		return -ENOMEM; /* the server frees the half-built reply */
	return 0;
}

/* A capability of the given kind, appended to r. */
static Csi__V1__PluginCapability *add_cap(Csi__V1__GetPluginCapabilitiesResponse *r)
{
	Csi__V1__PluginCapability *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	csi__v1__plugin_capability__init(c);
	r->capabilities[r->n_capabilities++] = c;
	return c;
}

static int get_plugin_capabilities(void *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **reply, grpc_status_code *code, char *msg,
				   size_t msgsz)
{
	struct csi_module *m = ctx;
	Csi__V1__GetPluginCapabilitiesResponse *r = malloc(sizeof(*r));
	Csi__V1__PluginCapability *c;

	(void)req;
	(void)code;
	(void)msg;
	(void)msgsz;
	if (!r)
		return -ENOMEM;
	csi__v1__get_plugin_capabilities_response__init(r);
	*reply = &r->base;
	if (!(r->capabilities = calloc(2, sizeof(*r->capabilities))))
		return -ENOMEM;
	if (m->services & CSI_SVC_CONTROLLER) {
		if (!(c = add_cap(r)) || !(c->service = malloc(sizeof(*c->service))))
			return -ENOMEM;
		csi__v1__plugin_capability__service__init(c->service);
		c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		c->service->type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
	}
	/* volumes grow while mounted (os/ resize2fs, xfs_growfs) */
	if (!(c = add_cap(r)) || !(c->volume_expansion = malloc(sizeof(*c->volume_expansion))))
		return -ENOMEM;
	csi__v1__plugin_capability__volume_expansion__init(c->volume_expansion);
	c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	c->volume_expansion->type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	return 0;
}

/* Ready when the storage client answers for the module's service: the
 * embedded server is open, or an agent's server is reachable. Not ready is
 * not an error (the CO waits); only a module without a client is. */
static int probe(void *ctx, const ProtobufCMessage *req, ProtobufCMessage **reply,
		 grpc_status_code *code, char *msg, size_t msgsz)
{
	struct csi_module *m = ctx;
	Csi__V1__ProbeResponse *r = malloc(sizeof(*r));
	struct service_info info = { 0 };
	struct ls_ctx lctx = { 0 };
	struct err e = ERR_INIT;
	bool ready;

	(void)req;
	if (!r)
		return -ENOMEM;
	csi__v1__probe_response__init(r);
	*reply = &r->base;
	if (!m->client) {
		*code = GRPC_STATUS_FAILED_PRECONDITION;
		snprintf(msg, msgsz, "the engine has no storage client");
		return -ENODEV;
	}
	ready = m->client->ops->service_inspect(m->client, m->service, false, &lctx, &info,
						&e) == 0;
	if (!ready)
		log_debug("csi module %s: probe: not ready: %s", m->name, e.msg);
	service_info_release(&info);
	if (!(r->ready = malloc(sizeof(*r->ready))))
		return -ENOMEM;
	google__protobuf__bool_value__init(r->ready);
	r->ready->value = ready;
	return 0;
}

/* ---- the method table: every CSI v1 RPC; NULL = not built yet ---- */

#define ID "/csi.v1.Identity/"
#define CTL "/csi.v1.Controller/"
#define NODE "/csi.v1.Node/"
#define D(x) &csi__v1__##x##__descriptor

static const struct csi_method methods[] = {
	{ ID "GetPluginInfo", D(get_plugin_info_request), get_plugin_info },
	{ ID "GetPluginCapabilities", D(get_plugin_capabilities_request),
	  get_plugin_capabilities },
	{ ID "Probe", D(probe_request), probe },
	{ CTL "CreateVolume", D(create_volume_request), csi_ctl_create_volume },
	{ CTL "DeleteVolume", D(delete_volume_request), csi_ctl_delete_volume },
	{ CTL "ControllerPublishVolume", D(controller_publish_volume_request),
	  csi_ctl_publish_volume },
	{ CTL "ControllerUnpublishVolume", D(controller_unpublish_volume_request),
	  csi_ctl_unpublish_volume },
	{ CTL "ValidateVolumeCapabilities", D(validate_volume_capabilities_request),
	  csi_ctl_validate_volume_capabilities },
	{ CTL "ListVolumes", D(list_volumes_request), csi_ctl_list_volumes },
	{ CTL "GetCapacity", D(get_capacity_request), csi_ctl_get_capacity },
	{ CTL "ControllerGetCapabilities", D(controller_get_capabilities_request),
	  csi_ctl_get_capabilities },
	{ CTL "CreateSnapshot", D(create_snapshot_request), csi_ctl_create_snapshot },
	{ CTL "DeleteSnapshot", D(delete_snapshot_request), csi_ctl_delete_snapshot },
	{ CTL "ListSnapshots", D(list_snapshots_request), csi_ctl_list_snapshots },
	{ CTL "GetSnapshot", D(get_snapshot_request), NULL },	       /* alpha: not served */
	{ CTL "ControllerExpandVolume", D(controller_expand_volume_request),
	  csi_ctl_expand_volume },
	{ CTL "ControllerGetVolume", D(controller_get_volume_request), csi_ctl_get_volume },
	{ CTL "ControllerModifyVolume", D(controller_modify_volume_request), NULL }, /* no MODIFY_VOLUME */
	{ NODE "NodeStageVolume", D(node_stage_volume_request), csi_node_stage },
	{ NODE "NodeUnstageVolume", D(node_unstage_volume_request), csi_node_unstage },
	{ NODE "NodePublishVolume", D(node_publish_volume_request), csi_node_publish },
	{ NODE "NodeUnpublishVolume", D(node_unpublish_volume_request), csi_node_unpublish },
	{ NODE "NodeGetVolumeStats", D(node_get_volume_stats_request), csi_node_get_volume_stats },
	{ NODE "NodeExpandVolume", D(node_expand_volume_request), csi_node_expand },
	{ NODE "NodeGetCapabilities", D(node_get_capabilities_request), csi_node_get_capabilities },
	{ NODE "NodeGetInfo", D(node_get_info_request), csi_node_get_info },
};

/* ---- modules ---- */

static int default_host(const struct paths *paths, const char *name, char *out, size_t sz,
			struct err *e)
{
	int n = snprintf(out, sz, "unix://%s/csi/%s.sock", paths->run, name);

	if (n < 0 || (size_t)n >= sz)
		return err_set(e, -ENAMETOOLONG, "csi module %s: socket path too long", name);
	return 0;
}

static int module_start(const char *name, const char *host_override, const struct cfg *cfg,
			const struct paths *paths, struct store *st, struct storage_client *client,
			const char *default_service, struct csi_module **out, struct err *e)
{
	char scope[128], host[PATH_MAX + 16], dir[PATH_MAX + 16];
	const char *scopes[2] = { scope, NULL };
	const char *v, *service = NULL;
	struct csi_module *m;
	char *slash;
	int r;

	snprintf(scope, sizeof(scope), "rexray.modules.%s", name);
	if (!(m = calloc(1, sizeof(*m))))
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->client = client;
	v = cfg_key_get_for(cfg, CFGK_MODULE_CSI_SERVICES, name);
	if ((r = csi_services_parse(v ? v : cfg_keys[CFGK_MODULE_CSI_SERVICES].def, &m->services,
				    e)) < 0) {
		err_prefix(e, "csi module %s", name);
		goto fail;
	}
	v = cfg_key_get_for(cfg, CFGK_MODULE_CSI_DRIVERNAME, name);
	if (!v || !*v)
		v = cfg_keys[CFGK_MODULE_CSI_DRIVERNAME].def;
	if (!csi_driver_name_valid(v)) {
		r = err_set(e, -EINVAL, "csi module %s: driver name '%.80s': 1-63 characters, "
			    "A-Z a-z 0-9 with - and . between", name, v);
		goto fail;
	}
	snprintf(m->driver, sizeof(m->driver), "%s", v);
	cfg_key_str(cfg, scopes, CFGK_SERVICE, &service);
	snprintf(m->service, sizeof(m->service), "%s",
		 service && *service ? service : default_service ? default_service : "");
	v = host_override ? host_override : cfg_key_get_for(cfg, CFGK_MODULE_HOST, name);
	if (v && *v)
		snprintf(host, sizeof(host), "%s", v);
	else if ((r = default_host(paths, name, host, sizeof(host), e)) < 0)
		goto fail;
	if ((m->services & CSI_SVC_NODE) &&
	    (r = csi_node_new(name, cfg, paths, st, client, m->service, &m->node, e)) < 0) {
		err_prefix(e, "csi module %s", name);
		goto fail;
	}
	if (strncmp(host, "unix://", 7) == 0) {
		snprintf(dir, sizeof(dir), "%s", host + 7);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			fs_mkdir_p(dir, 0755);
		}
	}
	if ((m->services & CSI_SVC_CONTROLLER) &&
	    (r = csi_ctl_new(cfg, paths, client, name, m->service, &m->ctl, e)) < 0) {
		err_prefix(e, "csi module %s", name);
		goto fail;
	}
	if ((r = csi_server_start(host, 0600, methods, sizeof(methods) / sizeof(methods[0]), m,
				  &m->srv, e)) < 0) {
		err_prefix(e, "csi module %s", name);
		goto fail;
	}
	log_info("csi module %s: driver %s, service %s, serving identity%s%s on %s", name,
		 m->driver, m->service, m->services & CSI_SVC_CONTROLLER ? ", controller" : "",
		 m->services & CSI_SVC_NODE ? ", node" : "", csi_server_address(m->srv));
	*out = m;
	return 0;
fail:
	csi_module_stop(m);
	return r;
}

/* A csi module, not disabled? */
static bool is_csi_module(const struct cfg *cfg, const char *name, int *r, struct err *e)
{
	const char *type = cfg_key_get_for(cfg, CFGK_MODULE_TYPE, name);
	bool disabled = false;

	if (!type || strcasecmp(type, "csi") != 0)
		return false;
	if ((*r = cfg_key_bool_for(cfg, NULL, CFGK_MODULE_DISABLED, name, &disabled, e)) < 0)
		return false;
	return !disabled;
}

int csi_modules_start(const struct cfg *cfg, const struct paths *paths, struct store *st,
		      struct storage_client *client, const char *default_service,
		      struct csi_module *out[CSI_MAX_MODULES], size_t *n, struct err *e)
{
	const char *endpoint = cfg_key_get(cfg, CFGK_CSI_ENDPOINT);
	bool implicit_done = false;
	char **names = NULL;
	int count, r = 0;

	*n = 0;
	if (endpoint && !*endpoint)
		endpoint = NULL;
	count = cfg_children(cfg, "rexray.modules", &names);
	if (count < 0)
		return err_set(e, -ENOMEM, "out of memory");
	for (int i = 0; i < count && r == 0; i++) {
		bool implicit;
		if (!is_csi_module(cfg, names[i], &r, e))
			continue;
		if (*n == CSI_MAX_MODULES) {
			r = err_set(e, -E2BIG, "more than %d csi modules", CSI_MAX_MODULES);
			break;
		}
		/* CSI_ENDPOINT moves the module named csi, as the CO wants it */
		implicit = strcasecmp(names[i], IMPLICIT_MODULE) == 0;
		implicit_done |= implicit;
		if ((r = module_start(names[i], implicit ? endpoint : NULL, cfg, paths, st, client,
				      default_service, &out[*n], e)) == 0)
			(*n)++;
	}
	cfg_names_free(names);
	if (r == 0 && endpoint && !implicit_done) {
		if (*n == CSI_MAX_MODULES)
			r = err_set(e, -E2BIG, "more than %d csi modules", CSI_MAX_MODULES);
		else if ((r = module_start(IMPLICIT_MODULE, endpoint, cfg, paths, st, client,
					   default_service, &out[*n], e)) == 0)
			(*n)++;
	}
	if (r < 0) {
		while (*n > 0)
			csi_module_stop(out[--(*n)]);
	}
	return r;
}

void csi_module_stop(struct csi_module *m)
{
	if (!m)
		return;
	csi_server_stop(m->srv);
	csi_ctl_free(m->ctl); /* after the server: no handler runs any more */
	csi_node_free(m->node); /* after the server: no handler runs any more */
	free(m);
}

const char *csi_module_name(const struct csi_module *m)
{
	return m->name;
}

const char *csi_module_address(const struct csi_module *m)
{
	return csi_server_address(m->srv);
}

struct csi_ctl *csi_module_ctl(const struct csi_module *m)
{
	return m->ctl;
}

unsigned csi_module_services(const struct csi_module *m)
{
	return m->services;
}

struct csi_node *csi_module_node(const struct csi_module *m)
{
	return m ? m->node : NULL;
}

struct mx_requests *csi_module_requests(struct csi_module *m)
{
	return csi_server_requests(m->srv);
}

struct integration *csi_module_integration(const struct csi_module *m)
{
	return csi_node_integration(csi_module_node(m));
}
