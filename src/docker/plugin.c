#include "docker/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/codec.h"
#include "config/config.h"
#include "integration/integration.h"
#include "server/httpd.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/names.h"

#define CONTENT_TYPE "application/vnd.docker.plugins.v1.1+json"

struct docker_module {
	char name[65];
	char spec[PATH_MAX];
	struct integration *ig;
	struct httpd *h;
};

/* ---- replies ---- */

static void reply(struct httpd_reply *out, unsigned status, json_t *j)
{
	out->status = status;
	out->content_type = CONTENT_TYPE;
	out->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!out->body) {
		out->status = 500;
		out->body = strdup("{\"Err\":\"out of memory\"}");
	}
	json_decref(j);
}

static void reply_ok(struct httpd_reply *out, json_t *j)
{
	if (j)
		json_object_set_new(j, "Err", json_string(""));
	reply(out, 200, j);
}

static void reply_err(struct httpd_reply *out, const char *method, const struct err *e)
{
	char msg[ERR_MSG_MAX + 64];

	snprintf(msg, sizeof(msg), "%s", e->msg[0] ? e->msg : "internal error");
	log_info("docker: %s: %s", method, msg);
	reply(out, 500, json_pack("{s:s}", "Err", msg));
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

/* Status: what REX-Ray reports of a volume in Get and List. */
static json_t *status_of(const struct docker_module *m, const struct volume *v)
{
	json_t *fields = v->fields ? json_deep_copy(v->fields) : json_object();

	return json_pack("{s:s, s:o, s:I, s:s, s:s, s:s, s:I, s:s}",
			 "availabilityZone", v->availability_zone ? v->availability_zone : "",
			 "fields", fields ? fields : json_object(), "iops", (json_int_t)v->iops,
			 "name", v->name ? v->name : "", "server", integ_service(m->ig),
			 "service", integ_service(m->ig), "size", (json_int_t)v->size,
			 "type", v->type ? v->type : "");
}

static json_t *volume_of(const struct docker_module *m, const struct volume *v, const char *path,
			 bool with_status)
{
	json_t *j = json_pack("{s:s}", "Name", v->name ? v->name : "");

	if (!j)
		return NULL;
	if (path && *path)
		json_object_set_new(j, "Mountpoint", json_string(path));
	if (with_status && v->created_at > 0) {
		char stamp[32];
		struct tm tm;
		time_t t = (time_t)v->created_at;
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(j, "CreatedAt", json_string(stamp));
	}
	if (with_status)
		json_object_set_new(j, "Status", status_of(m, v));
	return j;
}

/* ---- the methods ---- */

static int do_create(struct call *c, struct httpd_reply *out, struct err *e)
{
	json_t *opts = json_object_get(c->body, "Opts");

	if (opts && !json_is_null(opts) && !json_is_object(opts))
		return err_set(e, -EINVAL, "'Opts' must be an object");
	if (integ_create(c->m->ig, c->name, json_is_object(opts) ? opts : NULL, e) < 0)
		return e->code;
	reply_ok(out, json_object());
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
	reply_ok(out, json_pack("{s:s}", "Mountpoint", path));
	/* the use counts once Docker has the reply */
	out->done = mount_delivered;
	out->sending = mount_sending;
	out->done_arg = ack;
	free(path);
	return 0;
}

static int do_unmount(struct call *c, struct httpd_reply *out, struct err *e)
{
	if (integ_unmount(c->m->ig, c->name, c->id, e) < 0)
		return e->code;
	reply_ok(out, json_object());
	return 0;
}

static int do_remove(struct call *c, struct httpd_reply *out, struct err *e)
{
	if (integ_remove(c->m->ig, c->name, e) < 0)
		return e->code;
	reply_ok(out, json_object());
	return 0;
}

static int do_path(struct call *c, struct httpd_reply *out, struct err *e)
{
	char *path = NULL;

	if (integ_path(c->m->ig, c->name, &path, e) < 0)
		return e->code;
	reply_ok(out, json_pack("{s:s}", "Mountpoint", path));
	free(path);
	return 0;
}

static int do_get(struct call *c, struct httpd_reply *out, struct err *e)
{
	struct volume v = { 0 };
	char *path = NULL;

	if (integ_inspect(c->m->ig, c->name, &v, &path, e) < 0)
		return e->code;
	reply_ok(out, json_pack("{s:o}", "Volume", volume_of(c->m, &v, path, true)));
	free(path);
	volume_release(&v);
	return 0;
}

static int do_list(struct call *c, struct httpd_reply *out, struct err *e)
{
	struct volume_list l = { 0 };
	char **paths = NULL;
	json_t *arr;

	if (integ_list(c->m->ig, &l, &paths, e) < 0)
		return e->code;
	arr = json_array();
	for (size_t i = 0; arr && i < l.n; i++) {
		if (l.v[i].name && *l.v[i].name) /* REX-Ray drops nameless volumes */
			json_array_append_new(arr, volume_of(c->m, &l.v[i], paths[i], false));
	}
	reply_ok(out, json_pack("{s:o}", "Volumes", arr ? arr : json_array()));
	integ_paths_free(paths, l.n);
	volume_list_release(&l);
	return 0;
}

struct method {
	const char *name;
	bool needs_name;
	int (*fn)(struct call *c, struct httpd_reply *out, struct err *e);
};

static const struct method methods[] = {
	{ "Create", true, do_create },
	{ "Remove", true, do_remove },
	{ "Mount", true, do_mount },
	{ "Unmount", true, do_unmount },
	{ "Path", true, do_path },
	{ "Get", true, do_get },
	{ "List", false, do_list },
};

static void handle(void *arg, struct MHD_Connection *conn, const char *http_method,
		   const char *url, const char *body, size_t len, bool too_big,
		   struct httpd_reply *out)
{
	struct docker_module *m = arg;
	struct call c = { .m = m };
	struct err e = ERR_INIT;
	const struct method *mt = NULL;

	(void)conn;
	/* the plugin protocol is POST only: a GET must not create a volume */
	if (strcmp(http_method, "POST") != 0) {
		reply(out, 405, json_pack("{s:s}", "Err", "only POST is allowed"));
		return;
	}
	if (strcmp(url, "/Plugin.Activate") == 0) {
		reply(out, 200, json_pack("{s:[s]}", "Implements", "VolumeDriver"));
		return;
	}
	if (strcmp(url, "/VolumeDriver.Capabilities") == 0) {
		reply(out, 200, json_pack("{s:{s:s}}", "Capabilities", "Scope", "global"));
		return;
	}
	if (strncmp(url, "/VolumeDriver.", 14) == 0) {
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
			if (strcmp(url + 14, methods[i].name) == 0)
				mt = &methods[i];
	}
	if (!mt) {
		reply(out, 404, json_pack("{s:s}", "Err", "no such plugin method"));
		return;
	}
	c.method = mt->name;
	if (too_big) {
		err_set(&e, -E2BIG, "request body is larger than 1 MiB");
		reply_err(out, mt->name, &e);
		return;
	}
	/* dockerd sends "{}" or nothing; both are an empty request */
	if (json_body_parse(body, len, HTTPD_BODY_MAX, &c.body, &e) < 0 ||
	    get_str(c.body, "Name", mt->needs_name, &c.name, &e) < 0 ||
	    get_str(c.body, "ID", false, &c.id, &e) < 0 ||
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
	char scope[128], key[200], host[PATH_MAX + 16], sockdir[PATH_MAX + 16];
	const char *scopes[2] = { scope, NULL };
	const char *v, *service;
	struct docker_module *m;
	int r;

	snprintf(scope, sizeof(scope), "rexray.modules.%s", name);
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(e, -ENOMEM, "out of memory");
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(key, sizeof(key), "%s.host", scope);
	v = cfg_get(cfg, key);
	if (v && *v)
		snprintf(host, sizeof(host), "%s", v);
	else if ((r = default_host(paths, name, host, sizeof(host), e)) < 0)
		goto fail;
	snprintf(key, sizeof(key), "%s.spec", scope);
	v = cfg_get(cfg, key);
	snprintf(m->spec, sizeof(m->spec), "%s", v ? v : "");
	service = cfg_lookup(cfg, scopes, "libstorage.service", NULL);
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

/* A module runs unless disabled; only the docker type exists here. */
static bool module_enabled(const struct cfg *cfg, const char *name, int *r, struct err *e)
{
	char key[200];
	const char *type;
	bool disabled = false;

	snprintf(key, sizeof(key), "rexray.modules.%s.disabled", name);
	if ((*r = cfg_bool(cfg, NULL, key, false, &disabled, e)) < 0)
		return false;
	snprintf(key, sizeof(key), "rexray.modules.%s.type", name);
	type = cfg_get(cfg, key);
	if (type && *type && strcasecmp(type, "docker") != 0) {
		log_warn("docker: module %s has type '%s'; only docker modules are supported", name,
			 type);
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
	free(m);
}

const char *docker_module_name(const struct docker_module *m)
{
	return m->name;
}

const char *docker_module_address(const struct docker_module *m)
{
	return httpd_address(m->h);
}

struct integration *docker_module_integration(const struct docker_module *m)
{
	return m->ig;
}
