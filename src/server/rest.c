#include "server/rest.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/codec.h"
#include "api/headers.h"
#include "config/config.h"
#include "server/auth.h"
#include "net/httpd.h"
#include "server/service.h"
#include "server/tls.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/time.h"
#include "util/version.h"
#include "util/sys.h"

#define MAX_IIDS	 16
#define MAX_QUERY_ARGS	 16

struct http_endpoint {
	struct httpd *h;
	struct ls_server *srv;
	const struct cfg *cfg;
	struct auth_policy auth; /* read-only once serving */
};

/* One request: its body and parsed headers. */
struct request {
	const char *body; /* borrowed from httpd */
	size_t len;
	struct instance_id iids[MAX_IIDS];
	size_t n_iids;
	struct local_devices ldevs[MAX_IIDS];
	size_t n_ldevs;
	char tx_id[64];
	int header_status; /* 400 when a header was malformed */
	struct err header_err;
	struct {
		const char *key;
		const char *value;
	} args[MAX_QUERY_ARGS];
	size_t n_args;
};

/* ---- responses ---- */

static int send_text(struct http_endpoint *ep, struct httpd_reply *out, unsigned status,
		     char *text_owned)
{
	out->status = status;
	out->body = text_owned;
	out->content_type = "application/json";
	out->header_name = "Libstorage-Servername";
	out->header_value = ls_server_name(ep->srv);
	return 0;
}

#define OOM_BODY "{\"message\":\"out of memory\",\"status\":500}"

static int send_json(struct http_endpoint *ep, struct httpd_reply *out, unsigned status, json_t *j)
{
	char *text;

	if (!j)
		return send_text(ep, out, 500, sys_strdup(OOM_BODY));
	text = json_dump_pretty(j);
	json_decref(j);
	if (!text)
		return send_text(ep, out, 500, sys_strdup(OOM_BODY));
	return send_text(ep, out, status, text);
}

static int send_error(struct http_endpoint *ep, struct httpd_reply *out, int status,
		      const char *msg)
{
	json_t *inner = json_object();

	log_debug("http: %d %s", status, msg);
	return send_json(ep, out, (unsigned)status, error_body_to_json(msg, status, inner));
}

static int send_err(struct http_endpoint *ep, struct httpd_reply *out, const struct err *e)
{
	int status = ls_http_status(e->code);

	return send_error(ep, out, status, e->msg[0] ? e->msg : "internal error");
}

/* An error of a call on one resource: a 404 "resource not found" names
 * it in error.resourceID, as libStorage does. */
struct call;
static int send_err_c(struct call *c, const struct err *e);

/* ---- request parsing ---- */

static int collect_header(void *cls, const char *key, const char *value)
{
	struct request *rq = cls;
	int r = 0;

	if (!value || rq->header_status)
		return 0;
	if (strcasecmp(key, "Libstorage-Instanceid") == 0) {
		if (rq->n_iids == MAX_IIDS) {
			rq->header_status = 400;
			err_set(&rq->header_err, -EINVAL, "too many Libstorage-Instanceid headers");
			return 0;
		}
		r = iid_header_parse(value, &rq->iids[rq->n_iids], &rq->header_err);
		if (r == 0)
			rq->n_iids++;
	} else if (strcasecmp(key, "Libstorage-Localdevices") == 0) {
		if (rq->n_ldevs == MAX_IIDS) {
			rq->header_status = 400;
			err_set(&rq->header_err, -EINVAL, "too many Libstorage-Localdevices headers");
			return 0;
		}
		r = localdevices_header_parse(value, &rq->ldevs[rq->n_ldevs], &rq->header_err);
		if (r == 0)
			rq->n_ldevs++;
	} else if (strcasecmp(key, "Libstorage-Tx") == 0) {
		int64_t cr;
		r = tx_header_parse(value, rq->tx_id, &cr, &rq->header_err);
	}
	if (r < 0)
		rq->header_status = 400;
	return 0;
}

static int collect_arg(void *cls, const char *key, const char *value)
{
	struct request *rq = cls;

	if (rq->n_args < MAX_QUERY_ARGS) {
		rq->args[rq->n_args].key = key;
		rq->args[rq->n_args].value = value;
		rq->n_args++;
	}
	return 0;
}

static bool has_arg(const struct request *rq, const char *key, const char **value)
{
	for (size_t i = 0; i < rq->n_args; i++) {
		if (strcasecmp(rq->args[i].key, key) == 0) {
			if (value)
				*value = rq->args[i].value;
			return true;
		}
	}
	return false;
}

/* ?attachments: absent = 0, empty or "true" = 15, "false" = 1, else a number. */
static int parse_mask(const struct request *rq, int *mask, struct err *e)
{
	const char *v = NULL;
	char *end;
	long n;

	*mask = 0;
	if (!has_arg(rq, "attachments", &v))
		return 0;
	if (!v || !*v || strcasecmp(v, "true") == 0) {
		*mask = ATT_REQUESTED | ATT_MINE | ATT_DEVICES | ATT_ATTACHED;
		return 0;
	}
	if (strcasecmp(v, "false") == 0) {
		*mask = ATT_REQUESTED;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > ATT_ALL_BITS)
		return err_set(e, -EINVAL, "query 'attachments': invalid value '%.32s': expected "
			       "a mask from 0 to 31, true or false", v);
	*mask = (int)n;
	return 0;
}

static void request_release(struct request *rq)
{
	for (size_t i = 0; i < rq->n_iids; i++)
		instance_id_release(&rq->iids[i]);
	for (size_t i = 0; i < rq->n_ldevs; i++)
		local_devices_release(&rq->ldevs[i]);
}

static bool is_true_arg(const struct request *rq, const char *key)
{
	const char *v = NULL;

	if (!has_arg(rq, key, &v))
		return false;
	return !v || !*v || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* Split "/a/b/c" into at most 4 segments; false when there are more or a
 * segment is empty. */
static int split_path(char *path, char *seg[4])
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (n == 4)
			return -1;
		seg[n++] = tok;
	}
	return n;
}

/* ---- handlers ---- */

struct call {
	struct http_endpoint *ep;
	struct httpd_request *hrq;
	struct httpd_reply *out;
	struct request *rq;
	struct ls_ctx ctx;
	const char *method;
	char *seg[4];
	int nseg;
};

static int send_err_c(struct call *c, const struct err *e)
{
	json_t *inner;

	if (e->code != -ENOENT || strcmp(e->msg, "resource not found") != 0 || c->nseg != 3)
		return send_err(c->ep, c->out, e);
	inner = json_pack("{s:s}", "resourceID", c->seg[2]);
	return send_json(c->ep, c->out, 404, error_body_to_json(e->msg, 404, inner));
}

static json_t *body_json(struct call *c, struct err *e)
{
	json_t *j = NULL;

	if (json_body_parse(c->rq->body, c->rq->len, HTTPD_BODY_MAX, &j, e) < 0)
		return NULL;
	return j;
}

/* A Volume reply (v released). */
static int send_volume(struct call *c, unsigned status, struct volume *v)
{
	json_t *j = volume_to_json(v);

	volume_release(v);
	return send_json(c->ep, c->out, status, j);
}

static int h_root(struct call *c)
{
	return send_json(c->ep, c->out, 200,
			 json_pack("[sssss]", "/services", "/snapshots", "/tasks", "/help",
				   "/volumes"));
}

static int h_help(struct call *c)
{
	struct err e = ERR_INIT;
	const char *tok = NULL;

	if (c->nseg == 1)
		return send_json(c->ep, c->out, 200,
				 json_pack("[sss]", "/help/config", "/help/env", "/help/version"));
	if (strcmp(c->seg[1], "version") == 0)
		return send_json(c->ep, c->out, 200, version_to_json());
	if (strcmp(c->seg[1], "config") == 0 || strcmp(c->seg[1], "env") == 0) {
		has_arg(c->rq, "admin", &tok);
		(void)tok;
		err_set(&e, -EACCES, "'/help/%s' needs the admin token", c->seg[1]);
		return send_err_c(c, &e);
	}
	return send_error(c->ep, c->out, 404, "resource not found");
}

static int h_services(struct call *c)
{
	struct err e = ERR_INIT;

	if (c->nseg == 1) {
		struct service_list l = { 0 };
		if (ls_services(c->ep->srv, &l, &e) < 0)
			return send_err_c(c, &e);
		json_t *j = service_map_to_json(&l);
		service_list_release(&l);
		return send_json(c->ep, c->out, 200, j);
	}
	struct service_info si = { 0 };
	if (ls_service_inspect(c->ep->srv, c->seg[1], has_arg(c->rq, "instance", NULL), &c->ctx,
			       &si, &e) < 0)
		return send_err_c(c, &e);
	json_t *j = service_info_to_json(&si);
	service_info_release(&si);
	return send_json(c->ep, c->out, 200, j);
}

/*
 * Volume listings are the big replies (10,000 volumes make 1.2 MB): they
 * are written as the store hands the volumes over, straight into the
 * reply's buffer, in the bytes send_json would make of the tree
 * (codec.h volume_write), so neither the whole list nor a tree is held.
 */
static int write_map_entry(void *arg, struct volume *v, struct err *e)
{
	struct jw *w = arg;

	jw_key(w, v->id);
	volume_write(w, v);
	return w->oom ? err_set(e, -ENOMEM, "out of memory") : 0;
}

/* {"<id>": Volume, ...} of one service at w's position. */
static int write_volume_map(struct call *c, struct jw *w, const char *svc, int mask,
			    struct err *e)
{
	int r;

	jw_obj_begin(w);
	r = ls_volumes_each(c->ep->srv, svc, mask, &c->ctx, write_map_entry, w, e);
	jw_obj_end(w);
	return r;
}

/* GET /volumes: {"<service>": {"<id>": Volume, ...}, ...} */
static int write_all_maps(struct call *c, struct jw *w, int mask, struct err *e)
{
	int r = 0;

	jw_obj_begin(w);
	for (size_t i = 0; r == 0 && i < ls_server_service_count(c->ep->srv); i++) {
		struct service *svc = ls_server_service_at(c->ep->srv, i);
		jw_key(w, svc->name);
		r = write_volume_map(c, w, svc->name, mask, e);
	}
	jw_obj_end(w);
	return r;
}

static int h_volume_listing(struct call *c, int mask)
{
	struct err e = ERR_INIT;
	struct jw w;
	char *text;
	int r;

	jw_init(&w, JW_PRETTY | JW_GO_ESCAPES);
	if (c->nseg == 1)
		r = write_all_maps(c, &w, mask, &e);
	else
		r = write_volume_map(c, &w, c->seg[1], mask, &e);
	if (r < 0) {
		jw_release(&w);
		return send_err_c(c, &e);
	}
	if (jw_finish(&w, &text, NULL) < 0)
		return send_text(c->ep, c->out, 500, sys_strdup(OOM_BODY));
	return send_text(c->ep, c->out, 200, text);
}

static int h_volumes_get(struct call *c)
{
	struct err e = ERR_INIT;
	int mask;

	if (parse_mask(c->rq, &mask, &e) < 0)
		return send_err_c(c, &e);
	if (c->nseg <= 2)
		return h_volume_listing(c, mask);
	struct volume v = { 0 };
	if (ls_volume_inspect(c->ep->srv, c->seg[1], c->seg[2], has_arg(c->rq, "byName", NULL),
			      mask, &c->ctx, &v, &e) < 0)
		return send_err_c(c, &e);
	return send_volume(c, 200, &v);
}

/* Each handler below: decode the body, call the service layer, reply;
 * the first failure is the reply. */
static int h_volume_create(struct call *c)
{
	struct volume_create_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_create_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_create(c->ep->srv, c->seg[1], &req, &c->ctx, &v, &e);
	volume_create_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_volume(c, 201, &v);
}

static int h_volume_attach(struct call *c)
{
	struct volume_attach_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	char *token = NULL;
	json_t *body = body_json(c, &e), *j;
	int r = body ? volume_attach_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_attach(c->ep->srv, c->seg[1], c->seg[2], &req, &c->ctx, &v, &token,
				     &e);
	volume_attach_req_release(&req);
	if (r < 0)
		return send_err_c(c, &e);
	j = attach_reply_to_json(&v, token ? token : "");
	volume_release(&v);
	free(token);
	return send_json(c->ep, c->out, 200, j);
}

static int h_volume_detach(struct call *c)
{
	struct volume_detach_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_detach_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_detach(c->ep->srv, c->seg[1], c->seg[2], &req, &c->ctx, &v, &e);
	volume_detach_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_volume(c, 205, &v);
}

/* A Snapshot reply (s released). */
static int send_snapshot(struct call *c, unsigned status, struct snapshot *s)
{
	json_t *j = snapshot_to_json(s);

	snapshot_release(s);
	return send_json(c->ep, c->out, status, j);
}

static int h_volume_snapshot(struct call *c)
{
	struct volume_snapshot_req req = { 0 };
	struct snapshot s;
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_snapshot_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_snapshot(c->ep->srv, c->seg[1], c->seg[2], &req, &s, &e);
	volume_snapshot_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_snapshot(c, 201, &s);
}

static int h_volume_copy(struct call *c)
{
	struct volume_copy_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_copy_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_copy(c->ep->srv, c->seg[1], c->seg[2], &req, &v, &e);
	volume_copy_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_volume(c, 201, &v);
}

/* Ours (docs/rest-api.md): POST /volumes/{svc}/{id}?resize {"size": GiB} */
static int h_volume_resize(struct call *c)
{
	struct volume_resize_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_resize_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_volume_resize(c->ep->srv, c->seg[1], c->seg[2], &req, &v, &e);
	volume_resize_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_volume(c, 200, &v);
}

static int h_volumes_post(struct call *c)
{
	if (c->nseg == 2 && !has_arg(c->rq, "detach", NULL))
		return h_volume_create(c);
	if (c->nseg == 3 && has_arg(c->rq, "attach", NULL))
		return h_volume_attach(c);
	if (c->nseg == 3 && has_arg(c->rq, "detach", NULL))
		return h_volume_detach(c);
	if (c->nseg == 3 && has_arg(c->rq, "snapshot", NULL))
		return h_volume_snapshot(c);
	if (c->nseg == 3 && has_arg(c->rq, "copy", NULL))
		return h_volume_copy(c);
	if (c->nseg == 3 && has_arg(c->rq, "resize", NULL))
		return h_volume_resize(c);
	if (c->nseg <= 2 && has_arg(c->rq, "detach", NULL))
		return send_error(c->ep, c->out, 501,
				  "detaching all volumes at once is not implemented yet");
	return send_error(c->ep, c->out, 404, "no such route: POST on this path needs one of "
			  "?attach, ?detach, ?snapshot, ?copy, ?resize");
}

static int h_volume_delete(struct call *c)
{
	struct err e = ERR_INIT;

	if (c->nseg != 3)
		return send_error(c->ep, c->out, 405, "DELETE needs /volumes/{service}/{id}");
	if (ls_volume_remove(c->ep->srv, c->seg[1], c->seg[2], is_true_arg(c->rq, "force"),
			     &c->ctx, &e) < 0)
		return send_err_c(c, &e);
	return send_text(c->ep, c->out, 204, NULL);
}

/* A number argument in [0, max]; dflt when absent. */
static long long num_arg(const struct request *rq, const char *key, long long dflt,
			 long long max)
{
	const char *v = NULL;
	char *end;
	long long n;

	if (!has_arg(rq, key, &v) || !v || !*v)
		return dflt;
	n = strtoll(v, &end, 10);
	return *end || n < 0 ? dflt : n > max ? max : n;
}

/*
 * Ours, not libStorage's (docs/rest-api.md): POST /leases?wait=MS&lease=MS
 * renews the caller's leases and answers at once when one of its volumes
 * is revoked, else after wait ms: {"leaseMs":N,"revoked":[{"service":S,
 * "volumeID":ID}]}. POST /leases/{service}/{id}?fenced confirms a fence.
 */
static int h_leases(struct call *c)
{
	long long lease = num_arg(c->rq, "lease", 15000, 3600000);
	long long wait = num_arg(c->rq, "wait", 0, 60000);
	struct volume_ref *rv = NULL;
	struct err e = ERR_INIT;
	json_t *j, *arr;
	size_t n = 0;

	if (c->nseg == 3 && has_arg(c->rq, "fenced", NULL)) {
		if (ls_lease_fenced(c->ep->srv, c->seg[1], c->seg[2], &c->ctx, &e) < 0)
			return send_err_c(c, &e);
		return send_text(c->ep, c->out, 204, NULL);
	}
	if (c->nseg != 1)
		return send_error(c->ep, c->out, 404, "resource not found");
	if (ls_lease_renew(c->ep->srv, &c->ctx, lease, wait, &rv, &n, &e) < 0)
		return send_err_c(c, &e);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s}", "service", rv[i].service,
						     "volumeID", rv[i].volume_id));
	volume_refs_free(rv, n);
	j = json_pack("{s:I,s:o}", "leaseMs", (json_int_t)lease, "revoked",
		      arr ? arr : json_array());
	return send_json(c->ep, c->out, 200, j);
}

/* ---- snapshots, copies, resize ---- */

/* GET /snapshots: {service: {id: Snapshot}}; /snapshots/{svc}: {id: Snapshot} */
static int h_snapshot_maps(struct call *c)
{
	struct ls_server *srv = c->ep->srv;
	struct err e = ERR_INIT;
	json_t *all = c->nseg == 1 ? json_object() : NULL;

	for (size_t i = 0; i < (c->nseg == 1 ? ls_server_service_count(srv) : 1); i++) {
		const char *svc = c->nseg == 1 ? ls_server_service_at(srv, i)->name : c->seg[1];
		struct snapshot_list l = { 0 };
		json_t *m;

		if (ls_snapshots(srv, svc, &l, &e) < 0) {
			json_decref(all);
			return send_err_c(c, &e);
		}
		m = snapshot_map_to_json(&l);
		snapshot_list_release(&l);
		if (c->nseg != 1)
			return send_json(c->ep, c->out, 200, m);
		if (!all || !m || json_object_set_new(all, svc, m) < 0) {
			json_decref(all);
			return send_error(c->ep, c->out, 500, "out of memory");
		}
	}
	return send_json(c->ep, c->out, 200, all);
}

static int h_snapshots_get(struct call *c)
{
	struct snapshot s;
	struct err e = ERR_INIT;

	if (c->nseg < 3)
		return h_snapshot_maps(c);
	if (ls_snapshot_inspect(c->ep->srv, c->seg[1], c->seg[2], &s, &e) < 0)
		return send_err_c(c, &e);
	return send_snapshot(c, 200, &s);
}

static int h_snapshot_create_volume(struct call *c)
{
	struct volume_create_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? volume_create_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_snapshot_create_volume(c->ep->srv, c->seg[1], c->seg[2], &req, &v, &e);
	volume_create_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_volume(c, 201, &v);
}

static int h_snapshot_copy(struct call *c)
{
	struct snapshot_copy_req req = { 0 };
	struct snapshot s;
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r = body ? snapshot_copy_req_from_json(body, &req, &e) : -EINVAL;

	json_decref(body);
	if (r == 0)
		r = ls_snapshot_copy(c->ep->srv, c->seg[1], c->seg[2], &req, &s, &e);
	snapshot_copy_req_release(&req);
	return r < 0 ? send_err_c(c, &e) : send_snapshot(c, 201, &s);
}

static int h_snapshots(struct call *c)
{
	const char *m = c->method;
	struct err e = ERR_INIT;

	if ((strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) && c->nseg <= 3)
		return h_snapshots_get(c);
	if (strcmp(m, "POST") == 0 && c->nseg == 3 && has_arg(c->rq, "create", NULL))
		return h_snapshot_create_volume(c);
	if (strcmp(m, "POST") == 0 && c->nseg == 3 && has_arg(c->rq, "copy", NULL))
		return h_snapshot_copy(c);
	if (strcmp(m, "POST") == 0)
		return send_error(c->ep, c->out, 404, "no such route: POST on this path needs one of "
				  "?create, ?copy");
	if (strcmp(m, "DELETE") == 0 && c->nseg == 3) {
		if (ls_snapshot_remove(c->ep->srv, c->seg[1], c->seg[2], &e) < 0)
			return send_err_c(c, &e);
		return send_text(c->ep, c->out, 205, NULL);
	}
	if (strcmp(m, "DELETE") == 0)
		return send_error(c->ep, c->out, 405, "DELETE needs /snapshots/{service}/{id}");
	return send_error(c->ep, c->out, 405, "method not allowed on /snapshots");
}

static int route(struct call *c)
{
	const char *m = c->method, *top = c->nseg ? c->seg[0] : "";
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (c->nseg == 0)
		return get ? h_root(c) : send_error(c->ep, c->out, 405, "method not allowed");
	if (strcmp(top, "volumes") == 0) {
		if (get && c->nseg <= 3)
			return h_volumes_get(c);
		if (strcmp(m, "POST") == 0 && c->nseg <= 3)
			return h_volumes_post(c);
		if (strcmp(m, "DELETE") == 0)
			return h_volume_delete(c);
		return send_error(c->ep, c->out, 405, "method not allowed on /volumes");
	}
	if (strcmp(top, "services") == 0 && c->nseg <= 2)
		return get ? h_services(c) : send_error(c->ep, c->out, 405, "method not allowed");
	if (strcmp(top, "snapshots") == 0 && c->nseg <= 3)
		return h_snapshots(c);
	if (strcmp(top, "tasks") == 0) {
		if (c->nseg == 1 && get)
			return send_json(c->ep, c->out, 200, json_object());
		return send_error(c->ep, c->out, 404, "resource not found: tasks finish before "
				  "their request returns and are not kept");
	}
	if (strcmp(top, "leases") == 0 && strcmp(m, "POST") == 0)
		return h_leases(c);
	if (strcmp(top, "help") == 0 && c->nseg <= 2 && get)
		return h_help(c);
	return send_error(c->ep, c->out, 404, "resource not found");
}

/* The bearer token, when the policy wants one. false: refused, *out filled. */
static bool authorized(struct http_endpoint *ep, struct httpd_request *hrq, const char *method,
		       const char *url, struct httpd_reply *out)
{
	const char *hdr = httpd_header(hrq, "Authorization");
	enum jwt_fault f = JWT_OK;
	struct err e = ERR_INIT;
	json_t *inner;
	int r;

	if (!ep->auth.enabled)
		return true;
	r = auth_check(&ep->auth, hdr, (int64_t)time(NULL), NULL, &f, &e);
	if (r == 0)
		return true;
	if (r != -EACCES) {
		send_error(ep, out, 500, e.msg);
		return false;
	}
	log_info("http: 401 %s %s: %s", method, url, e.msg);
	inner = json_pack("{s:b,s:s}", "invalidToken", f != JWT_MISSING && f != JWT_DENIED,
			  "reason", jwt_fault_name(f));
	if (inner && f == JWT_BAD_SIG)
		json_object_set_new(inner, "invalidSig", json_true());
	if (inner && (f == JWT_EXPIRED || f == JWT_NOT_YET_VALID))
		json_object_set_new(inner, "claim", json_string(f == JWT_EXPIRED ? "exp" : "nbf"));
	if (inner && f == JWT_DENIED)
		json_object_set_new(inner, "denied", json_true());
	send_json(ep, out, 401, error_body_to_json(e.msg, 401, inner));
	return false;
}

static void serve(struct call *c, struct request *rq, const char *url, char *path,
		  size_t pathsz);

/* The route template a request took, for the metrics: never the path
 * itself (volume IDs would make the series unbounded). */
static const char *route_label(const struct call *c)
{
	const char *m = c->method, *top = c->nseg > 0 ? c->seg[0] : "";
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	bool post = strcmp(m, "POST") == 0;

	if (c->nseg == 0)
		return get ? "GET /" : "other";
	if (strcmp(top, "volumes") == 0) {
		static const char *const gets[] = { "GET /volumes", "GET /volumes/{service}",
						    "GET /volumes/{service}/{id}" };
		if (get && c->nseg <= 3)
			return gets[c->nseg - 1];
		if (post && c->nseg == 2 && !has_arg(c->rq, "detach", NULL))
			return "POST /volumes/{service}";
		if (post && c->nseg == 3 && has_arg(c->rq, "attach", NULL))
			return "POST /volumes/{service}/{id}?attach";
		if (post && c->nseg == 3 && has_arg(c->rq, "detach", NULL))
			return "POST /volumes/{service}/{id}?detach";
		if (post && c->nseg == 3 && has_arg(c->rq, "snapshot", NULL))
			return "POST /volumes/{service}/{id}?snapshot";
		if (post && c->nseg == 3 && has_arg(c->rq, "copy", NULL))
			return "POST /volumes/{service}/{id}?copy";
		if (post && c->nseg == 3 && has_arg(c->rq, "resize", NULL))
			return "POST /volumes/{service}/{id}?resize";
		if (strcmp(m, "DELETE") == 0 && c->nseg == 3)
			return "DELETE /volumes/{service}/{id}";
		return "other";
	}
	if (strcmp(top, "snapshots") == 0) {
		static const char *const gets[] = { "GET /snapshots", "GET /snapshots/{service}",
						    "GET /snapshots/{service}/{id}" };
		if (get && c->nseg <= 3)
			return gets[c->nseg - 1];
		if (post && c->nseg == 3 && has_arg(c->rq, "create", NULL))
			return "POST /snapshots/{service}/{id}?create";
		if (post && c->nseg == 3 && has_arg(c->rq, "copy", NULL))
			return "POST /snapshots/{service}/{id}?copy";
		if (strcmp(m, "DELETE") == 0 && c->nseg == 3)
			return "DELETE /snapshots/{service}/{id}";
		return "other";
	}
	if (strcmp(top, "services") == 0 && get && c->nseg <= 2)
		return c->nseg == 1 ? "GET /services" : "GET /services/{service}";
	if (strcmp(top, "leases") == 0 && post)
		return c->nseg == 1 ? "POST /leases" : "POST /leases/{service}/{id}?fenced";
	if (strcmp(top, "tasks") == 0 && get && c->nseg == 1)
		return "GET /tasks";
	if (strcmp(top, "help") == 0 && get)
		return "GET /help";
	return "other";
}

static void dispatch(void *arg, struct httpd_request *hrq, const char *method, const char *url,
		     const char *body, size_t len, bool too_big, struct httpd_reply *out)
{
	struct http_endpoint *ep = arg;
	struct request rq = { .body = body, .len = len };
	struct call c = { .ep = ep, .hrq = hrq, .out = out, .rq = &rq, .method = method };
	long long t0 = time_now_ns();
	char path[2048];

	c.nseg = -1;
	if (too_big) {
		send_error(ep, out, 413, "request body is larger than 1 MiB");
	} else if (authorized(ep, hrq, method, url, out)) {
		serve(&c, &rq, url, path, sizeof(path));
	}
	mx_requests_observe(ls_server_requests(ep->srv), c.nseg < 0 ? "other" : route_label(&c),
			    out->status, time_now_ns() - t0);
	request_release(&rq);
}

static void serve(struct call *c, struct request *rq, const char *url, char *path, size_t pathsz)
{
	struct http_endpoint *ep = c->ep;
	struct httpd_request *hrq = c->hrq;
	struct httpd_reply *out = c->out;

	httpd_headers_each(hrq, collect_header, rq);
	httpd_args_each(hrq, collect_arg, rq);
	if (rq->header_status) {
		send_err(ep, out, &rq->header_err);
	} else if (strlen(url) >= pathsz) {
		send_error(ep, out, 414, "request path is too long");
	} else {
		strcpy(path, url);
		c->nseg = split_path(path, c->seg);
		c->ctx.iids = rq->iids;
		c->ctx.n_iids = rq->n_iids;
		c->ctx.ldevs = rq->ldevs;
		c->ctx.n_ldevs = rq->n_ldevs;
		c->ctx.tx_id = rq->tx_id[0] ? rq->tx_id : NULL;
		log_debug("http: %s %s", c->method, url);
		if (c->nseg < 0)
			send_error(ep, out, 404, "resource not found");
		else
			route(c);
	}
}

/* The name under libstorage.server.endpoints whose address is address,
 * for per-endpoint TLS settings; "" when none. */
static void endpoint_name(const struct cfg *cfg, const char *address, char *out, size_t outsz)
{
	char **names = NULL;
	int n = cfg_children(cfg, "libstorage.server.endpoints", &names);

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *a = cfg_key_get_for(cfg, CFGK_ENDPOINT_ADDRESS, names[i]);
		if (a && strcmp(a, address) == 0) {
			snprintf(out, outsz, "%s", names[i]);
			break;
		}
	}
	cfg_names_free(names);
}

static int endpoint_listen(struct http_endpoint *ep, const struct paths *paths,
			   const char *address, mode_t sock_mode, struct err *e)
{
	struct httpd_tls tls;
	char name[256];
	bool on = false;
	int r;

	endpoint_name(ep->cfg, address, name, sizeof(name));
	r = tls_server_config(ep->cfg, paths, name[0] ? name : NULL, address, &tls, &on, e);
	if (r < 0)
		return r;
	r = httpd_start_tls(address, sock_mode, on ? &tls : NULL, dispatch, ep, &ep->h, e);
	httpd_tls_release(&tls);
	if (r == 0)
		log_info("libstorage server listening on %s%s%s", httpd_address(ep->h),
			 on ? " (TLS)" : "", ep->auth.enabled ? " (bearer tokens required)" : "");
	return r;
}

int http_endpoint_start_paths(struct ls_server *srv, const struct cfg *cfg,
			      const struct paths *paths, const char *address, mode_t sock_mode,
			      struct http_endpoint **out, struct err *e)
{
	struct http_endpoint *ep = sys_calloc(1, sizeof(*ep));
	int r;

	if (!ep)
		return err_set(e, -ENOMEM, "out of memory");
	ep->srv = srv;
	ep->cfg = cfg;
	if ((r = auth_policy_load(cfg, &ep->auth, e)) < 0 ||
	    (r = endpoint_listen(ep, paths, address, sock_mode, e)) < 0) {
		auth_policy_release(&ep->auth);
		free(ep);
		return r;
	}
	*out = ep;
	return 0;
}

int http_endpoint_start(struct ls_server *srv, const struct cfg *cfg, const char *address,
			mode_t sock_mode, struct http_endpoint **out, struct err *e)
{
	struct paths paths;
	int r;

	/* the engine's paths come from the same environment */
	if ((r = paths_init(&paths, e)) < 0)
		return r;
	return http_endpoint_start_paths(srv, cfg, &paths, address, sock_mode, out, e);
}

void http_endpoint_stop(struct http_endpoint *ep)
{
	if (!ep)
		return;
	httpd_stop(ep->h);
	auth_policy_release(&ep->auth);
	free(ep);
}

const char *http_endpoint_address(const struct http_endpoint *ep)
{
	return httpd_address(ep->h);
}
