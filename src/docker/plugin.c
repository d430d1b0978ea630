#include "docker/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/codec.h"
#include "api/jsonw.h"
#include "config/config.h"
#include "integration/integration.h"
#include "net/httpd.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/time.h"
#include "util/names.h"

#define CONTENT_TYPE "application/vnd.docker.plugins.v1.1+json"

struct docker_module {
	char name[65];
	char spec[PATH_MAX];
	struct integration *ig;
	struct httpd *h;
	struct mx_requests requests; /* by plugin method and status */
};

/* ---- replies ----
 * Written straight into a buffer (api/jsonw.h, jansson's compact bytes):
 * Docker asks for Get and Path all the time, and building a jansson tree
 * to dump it cost more than the rest of the request. */

/* Send w's text, or a 500 if writing it ran out of memory. */
static void reply(struct httpd_reply *out, unsigned status, struct jw *w)
{
	out->status = status;
	out->content_type = CONTENT_TYPE;
	if (jw_finish(w, &out->body, NULL) < 0) {
		out->status = 500;
		out->body = strdup("{\"Err\":\"out of memory\"}");
	}
}

/* {"Err":msg} */
static void reply_msg(struct httpd_reply *out, unsigned status, const char *msg)
{
	struct jw w;

	jw_init(&w, 0);
	jw_obj_begin(&w);
	jw_key(&w, "Err");
	jw_str(&w, msg);
	jw_obj_end(&w);
	reply(out, status, &w);
}

/* Close a success reply begun with ok_begin: "Err":"" last, as REX-Ray. */
static void reply_ok(struct httpd_reply *out, struct jw *w)
{
	jw_key(w, "Err");
	jw_str(w, "");
	jw_obj_end(w);
	reply(out, 200, w);
}

static void ok_begin(struct jw *w)
{
	jw_init(w, 0);
	jw_obj_begin(w);
}

/* A constant reply (Activate, Capabilities). */
static void reply_fixed(struct httpd_reply *out, const char *text)
{
	out->status = 200;
	out->content_type = CONTENT_TYPE;
	if (!(out->body = strdup(text))) {
		out->status = 500;
		out->body = strdup("{\"Err\":\"out of memory\"}");
	}
}

static void reply_ok_empty(struct httpd_reply *out)
{
	struct jw w;

	ok_begin(&w);
	reply_ok(out, &w);
}

static void reply_mountpoint(struct httpd_reply *out, const char *path)
{
	struct jw w;

	ok_begin(&w);
	jw_key(&w, "Mountpoint");
	jw_str(&w, path);
	reply_ok(out, &w);
}

static void reply_err(struct httpd_reply *out, const char *method, const struct err *e)
{
	const char *msg = e->msg[0] ? e->msg : "internal error";

	log_info("docker: %s: %s", method, msg);
	reply_msg(out, 500, msg);
}

/* ---- request fields ---- */

struct call {
	struct docker_module *m;
	const char *method; /* "Mount" ... */
	json_t *body;
	const char *name;
	const char *id;
};

static int get_str(json_t *body, const char *key, bool required, const char **out, struct err *e)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return err_set(e, -EINVAL, "'%s' is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, -EINVAL, "'%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Status: what REX-Ray reports of a volume in Get. */
static void put_status(struct jw *w, const struct docker_module *m, const struct volume *v)
{
	jw_obj_begin(w);
	jw_key(w, "availabilityZone");
	jw_str(w, v->availability_zone);
	jw_key(w, "fields");
	if (v->fields)
		jw_json(w, v->fields);
	else {
		jw_obj_begin(w);
		jw_obj_end(w);
	}
	jw_key(w, "iops");
	jw_int(w, v->iops);
	jw_key(w, "name");
	jw_str(w, v->name);
	jw_key(w, "server");
	jw_str(w, integ_service(m->ig));
	jw_key(w, "service");
	jw_str(w, integ_service(m->ig));
	jw_key(w, "size");
	jw_int(w, v->size);
	jw_key(w, "type");
	jw_str(w, v->type);
	jw_obj_end(w);
}

static void put_volume(struct jw *w, const struct docker_module *m, const struct volume *v,
		       const char *path, bool with_status)
{
	jw_obj_begin(w);
	jw_key(w, "Name");
	jw_str(w, v->name);
	if (path && *path) {
		jw_key(w, "Mountpoint");
		jw_str(w, path);
	}
	if (with_status && v->created_at > 0) {
		char stamp[TIME_STAMP_MAX];
		time_utc_stamp(v->created_at, stamp);
		jw_key(w, "CreatedAt");
		jw_str(w, stamp);
	}
	if (with_status) {
		jw_key(w, "Status");
		put_status(w, m, v);
	}
	jw_obj_end(w);
}

/* ---- the methods ---- */

static int do_create(struct call *c, struct httpd_reply *out, struct err *e)
{
	json_t *opts = json_object_get(c->body, "Opts");

	if (opts && !json_is_null(opts) && !json_is_object(opts))
		return err_set(e, -EINVAL, "'Opts' must be an object");
	if (integ_create(c->m->ig, c->name, json_is_object(opts) ? opts : NULL, e) < 0)
		return e->code;
	reply_ok_empty(out);
	return 0;
}

/* What a mount's reply carries back to confirm its use. */
struct mount_ack {
	struct integration *ig;
	char *name;
	char *caller;
	bool confirmed; /* made durable before the reply went out */
};

/* Right before Docker can read the mount path: from here on the use is
 * Docker's, even if this engine dies the next instant. */
static void mount_sending(void *arg)
{
	struct mount_ack *a = arg;

	integ_mount_confirm(a->ig, a->name, a->caller, true);
	a->confirmed = true;
}

static void mount_delivered(void *arg, bool delivered)
{
	struct mount_ack *a = arg;

	if (!delivered && a->confirmed)
		integ_mount_revoke(a->ig, a->name, a->caller);
	else if (!a->confirmed)
		integ_mount_confirm(a->ig, a->name, a->caller, delivered);
	free(a->name);
	free(a->caller);
	free(a);
}

static int do_mount(struct call *c, struct httpd_reply *out, struct err *e)
{
	struct integ_mount_opts o = { .pending = true };
	struct mount_ack *ack = calloc(1, sizeof(*ack));
	char *path = NULL;

	if (!ack || !(ack->name = strdup(c->name)) ||
	    !(ack->caller = strdup(c->id ? c->id : ""))) {
		if (ack)
			free(ack->name);
		free(ack);
		return err_set(e, -ENOMEM, "out of memory");
	}
	ack->ig = c->m->ig;
	if (integ_mount(c->m->ig, c->name, c->id, &o, &path, e) < 0) {
		free(ack->name);
		free(ack->caller);
		free(ack);
		return e->code;
	}
	reply_mountpoint(out, path);
	free(path);
	if (out->status != 200) { /* no memory for the reply: Docker is told it failed */
		mount_delivered(ack, false);
		return 0;
	}
	/* the use counts once Docker has the reply */
	out->done = mount_delivered;
	out->sending = mount_sending;
	out->done_arg = ack;
	return 0;
}

static int do_unmount(struct call *c, struct httpd_reply *out, struct err *e)
{
	if (integ_unmount(c->m->ig, c->name, c->id, e) < 0)
		return e->code;
	reply_ok_empty(out);
	return 0;
}

static int do_remove(struct call *c, struct httpd_reply *out, struct err *e)
{
	if (integ_remove(c->m->ig, c->name, e) < 0)
		return e->code;
	reply_ok_empty(out);
	return 0;
}

static int do_path(struct call *c, struct httpd_reply *out, struct err *e)
{
	char *path = NULL;

	if (integ_path(c->m->ig, c->name, &path, e) < 0)
		return e->code;
	reply_mountpoint(out, path);
	free(path);
	return 0;
}

struct get_reply {
	const struct docker_module *m;
	struct httpd_reply *out;
};

/* Get's reply, written from the volume lent (integ_inspect_view). */
static int write_get(void *arg, const struct volume *v, const char *path, struct err *e)
{
	struct get_reply *g = arg;
	struct jw w;

	(void)e;
	ok_begin(&w);
	jw_key(&w, "Volume");
	put_volume(&w, g->m, v, path, true);
	reply_ok(g->out, &w);
	return 0;
}

static int do_get(struct call *c, struct httpd_reply *out, struct err *e)
{
	struct get_reply g = { .m = c->m, .out = out };

	if (integ_inspect_view(c->m->ig, c->name, write_get, &g, e) < 0)
		return e->code;
	return 0;
}

static int do_list(struct call *c, struct httpd_reply *out, struct err *e)
{
	struct volume_list l = { 0 };
	char **paths = NULL;
	struct jw w;

	if (integ_list(c->m->ig, &l, &paths, e) < 0)
		return e->code;
	ok_begin(&w);
	jw_key(&w, "Volumes");
	jw_arr_begin(&w);
	for (size_t i = 0; i < l.n; i++) {
		if (!l.v[i].name || !*l.v[i].name) /* REX-Ray drops nameless volumes */
			continue;
		jw_item(&w);
		put_volume(&w, c->m, &l.v[i], paths[i], false);
	}
	jw_arr_end(&w);
	reply_ok(out, &w);
	integ_paths_free(paths, l.n);
	volume_list_release(&l);
	return 0;
}

struct method {
	const char *name;
	const char *label; /* in the metrics: "VolumeDriver.Mount" */
	bool needs_name;
	int (*fn)(struct call *c, struct httpd_reply *out, struct err *e);
};

static const struct method methods[] = {
	{ "Create", "VolumeDriver.Create", true, do_create },
	{ "Remove", "VolumeDriver.Remove", true, do_remove },
	{ "Mount", "VolumeDriver.Mount", true, do_mount },
	{ "Unmount", "VolumeDriver.Unmount", true, do_unmount },
	{ "Path", "VolumeDriver.Path", true, do_path },
	{ "Get", "VolumeDriver.Get", true, do_get },
	{ "List", "VolumeDriver.List", false, do_list },
};

static void handle_method(struct docker_module *m, const char *http_method, const char *url,
			  const char *body, size_t len, bool too_big, struct httpd_reply *out,
			  const char **label);

/* The strings of a body read without a tree live here during the call. */
struct call_buf {
	char text[2 * 1024];
};

/*
 * c->name and c->id from the body. dockerd sends {"Name": ...} (with "ID"
 * to Mount and Unmount), "{}" or nothing: read at once by
 * json_body_strings into cb. Anything else (Create's "Opts", a malformed
 * body) goes through the tree, which c->body then holds.
 */
static int request_fields(struct call *c, const struct method *mt, const char *body, size_t len,
			  struct call_buf *cb, struct err *e)
{
	static const char *const keys[] = { "Name", "ID" };
	const char *vals[2];

	if (json_body_strings(body, len, keys, 2, vals, cb->text, sizeof(cb->text))) {
		c->name = vals[0];
		c->id = vals[1];
		if (!c->name && mt->needs_name)
			return err_set(e, -EINVAL, "'Name' is required");
		return 0;
	}
	/* dockerd sends "{}" or nothing; both are an empty request */
	if (json_body_parse(body, len, HTTPD_BODY_MAX, &c->body, e) < 0 ||
	    get_str(c->body, "Name", mt->needs_name, &c->name, e) < 0 ||
	    get_str(c->body, "ID", false, &c->id, e) < 0)
		return e->code;
	return 0;
}

/* One request, timed for the metrics under its method's name. */
static void handle(void *arg, struct httpd_request *hrq, const char *http_method,
		   const char *url, const char *body, size_t len, bool too_big,
		   struct httpd_reply *out)
{
	struct docker_module *m = arg;
	const char *label = "other";
	long long t0 = time_now_ns();

	(void)hrq;
	handle_method(m, http_method, url, body, len, too_big, out, &label);
	mx_requests_observe(&m->requests, label, out->status, time_now_ns() - t0);
}

static void handle_method(struct docker_module *m, const char *http_method, const char *url,
			  const char *body, size_t len, bool too_big, struct httpd_reply *out,
			  const char **label)
{
	struct call c = { .m = m };
	struct err e = ERR_INIT;
	const struct method *mt = NULL;
	struct call_buf cb;

	/* the plugin protocol is POST only: a GET must not create a volume */
	if (strcmp(http_method, "POST") != 0) {
		reply_msg(out, 405, "only POST is allowed");
		return;
	}
	if (strcmp(url, "/Plugin.Activate") == 0) {
		*label = "Plugin.Activate";
		reply_fixed(out, "{\"Implements\":[\"VolumeDriver\"]}");
		return;
	}
	if (strcmp(url, "/VolumeDriver.Capabilities") == 0) {
		*label = "VolumeDriver.Capabilities";
		reply_fixed(out, "{\"Capabilities\":{\"Scope\":\"global\"}}");
		return;
	}
	if (strncmp(url, "/VolumeDriver.", 14) == 0) {
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
			if (strcmp(url + 14, methods[i].name) == 0)
				mt = &methods[i];
	}
	if (!mt) {
		reply_msg(out, 404, "no such plugin method");
		return;
	}
	c.method = mt->name;
	*label = mt->label;
	if (too_big) {
		err_set(&e, -E2BIG, "request body is larger than 1 MiB");
		reply_err(out, mt->name, &e);
		return;
	}
	if (request_fields(&c, mt, body, len, &cb, &e) < 0 ||
	    option_value_check("ID", c.id, &e) < 0 || mt->fn(&c, out, &e) < 0)
		reply_err(out, mt->name, &e);
	json_decref(c.body);
}

/* ---- modules ---- */

static int default_host(const struct paths *paths, const char *name, char *out, size_t sz,
			struct err *e)
{
	const char *sock = strcmp(name, "default-docker") == 0 ? "rexray" : name;
	int n = snprintf(out, sz, "unix://%s/run/docker/plugins/%s.sock", paths->home, sock);

	if (n < 0 || (size_t)n >= sz)
		return err_set(e, -ENAMETOOLONG, "docker module %s: socket path too long", name);
	return 0;
}

static int write_spec(struct docker_module *m, const char *address, struct err *e)
{
	char line[PATH_MAX + 16];
	int r;

	snprintf(line, sizeof(line), "%s\n", address);
	if ((r = fs_write_atomic(m->spec, line, strlen(line), 0644)) < 0)
		return err_set(e, r, "docker module %s: cannot write spec file '%s': %s", m->name,
			       m->spec, strerror(-r));
	return 0;
}

static int module_start(const char *name, const struct cfg *cfg, const struct paths *paths,
			struct store *st, struct storage_client *client, const char *default_service,
			struct docker_module **out, struct err *e)
{
	char scope[128], host[PATH_MAX + 16], sockdir[PATH_MAX + 16];
	const char *scopes[2] = { scope, NULL };
	const char *v, *service;
	struct docker_module *m;
	int r;

	snprintf(scope, sizeof(scope), "rexray.modules.%s", name);
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(e, -ENOMEM, "out of memory");
	mx_requests_init(&m->requests);
	snprintf(m->name, sizeof(m->name), "%s", name);
	v = cfg_key_get_for(cfg, CFGK_MODULE_HOST, name);
	if (v && *v)
		snprintf(host, sizeof(host), "%s", v);
	else if ((r = default_host(paths, name, host, sizeof(host), e)) < 0)
		goto fail;
	v = cfg_key_get_for(cfg, CFGK_MODULE_SPEC, name);
	snprintf(m->spec, sizeof(m->spec), "%s", v ? v : "");
	cfg_key_str(cfg, scopes, CFGK_SERVICE, &service);
	if (!service || !*service)
		service = default_service;
	r = integration_new(cfg, paths, st, client, service, scope, &m->ig, e);
	if (r < 0) {
		err_prefix(e, "docker module %s", name);
		goto fail;
	}
	/* Docker's socket directory may not exist before dockerd first runs */
	if (strncmp(host, "unix://", 7) == 0) {
		char *slash;
		snprintf(sockdir, sizeof(sockdir), "%s", host + 7);
		slash = strrchr(sockdir, '/');
		if (slash && slash != sockdir) {
			*slash = '\0';
			fs_mkdir_p(sockdir, 0755);
		}
	}
	if ((r = httpd_start(host, 0660, handle, m, &m->h, e)) < 0) {
		err_prefix(e, "docker module %s", name);
		goto fail;
	}
	if (m->spec[0] && (r = write_spec(m, httpd_address(m->h), e)) < 0)
		goto fail;
	log_info("docker module %s: service %s on %s", name, service, httpd_address(m->h));
	*out = m;
	return 0;
fail:
	docker_module_stop(m);
	return r;
}

/* A docker module runs unless disabled; csi modules are csi/plugin.c's. */
static bool module_enabled(const struct cfg *cfg, const char *name, int *r, struct err *e)
{
	const char *type;
	bool disabled = false;

	if ((*r = cfg_key_bool_for(cfg, NULL, CFGK_MODULE_DISABLED, name, &disabled, e)) < 0)
		return false;
	type = cfg_key_get_for(cfg, CFGK_MODULE_TYPE, name);
	if (type && strcasecmp(type, "csi") == 0)
		return false;
	if (type && *type && strcasecmp(type, cfg_keys[CFGK_MODULE_TYPE].def) != 0) {
		log_warn("docker: module %s has type '%s'; only docker and csi modules are "
			 "supported", name, type);
		return false;
	}
	return !disabled;
}

int docker_modules_start(const struct cfg *cfg, const struct paths *paths, struct store *st,
			 struct storage_client *client, const char *default_service,
			 struct docker_module *out[DOCKER_MAX_MODULES], size_t *n, struct err *e)
{
	char **names = NULL;
	const char *implicit[] = { "default-docker", NULL };
	const char *const *list;
	int count, r = 0;

	*n = 0;
	count = cfg_children(cfg, "rexray.modules", &names);
	if (count < 0)
		return err_set(e, -ENOMEM, "out of memory");
	list = count > 0 ? (const char *const *)names : implicit;
	for (size_t i = 0; list[i] && r == 0; i++) {
		if (!module_enabled(cfg, list[i], &r, e))
			continue;
		if (*n == DOCKER_MAX_MODULES) {
			r = err_set(e, -E2BIG, "more than %d docker modules", DOCKER_MAX_MODULES);
			break;
		}
		if ((r = module_start(list[i], cfg, paths, st, client, default_service, &out[*n],
				      e)) == 0)
			(*n)++;
	}
	cfg_names_free(names);
	if (r < 0) {
		while (*n > 0)
			docker_module_stop(out[--(*n)]);
	}
	return r;
}

void docker_module_stop(struct docker_module *m)
{
	if (!m)
		return;
	if (m->h && m->spec[0])
		unlink(m->spec);
	httpd_stop(m->h);
	integration_free(m->ig);
	mx_requests_destroy(&m->requests);
	free(m);
}

const char *docker_module_name(const struct docker_module *m)
{
	return m->name;
}

struct mx_requests *docker_module_requests(struct docker_module *m)
{
	return &m->requests;
}

const char *docker_module_address(const struct docker_module *m)
{
	return httpd_address(m->h);
}

struct integration *docker_module_integration(const struct docker_module *m)
{
	return m->ig;
}
