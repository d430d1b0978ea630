#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/codec.h"
#include "api/headers.h"
#include "config/config.h"
#include "server/service.h"
#include "util/log.h"
#include "util/version.h"

#define MAX_IIDS	 16
#define MAX_QUERY_ARGS	 16
#define CONN_TIMEOUT_S	 60
#define CONN_LIMIT	 1000

struct http_endpoint {
	struct MHD_Daemon *mhd;
	struct ls_server *srv;
	const struct cfg *cfg;
	char address[PATH_MAX + 16];
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request: the body collected so far, and its parsed headers. */
struct request {
	char *body;
	size_t len;
	bool too_big;
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

static enum MHD_Result send_text(struct http_endpoint *ep, struct MHD_Connection *conn,
				 unsigned status, char *text_owned)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = text_owned ? strlen(text_owned) : 0;

	resp = MHD_create_response_from_buffer(len, text_owned ? text_owned : (char *)"",
					       text_owned ? MHD_RESPMEM_MUST_FREE
							  : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(text_owned);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Libstorage-Servername", ls_server_name(ep->srv));
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(struct http_endpoint *ep, struct MHD_Connection *conn,
				 unsigned status, json_t *j)
{
	char *text;

	if (!j)
		return send_text(ep, conn, 500, strdup("{\"message\":\"out of memory\",\"status\":500}"));
	text = json_dump_pretty(j);
	json_decref(j);
	if (!text)
		return send_text(ep, conn, 500, strdup("{\"message\":\"out of memory\",\"status\":500}"));
	return send_text(ep, conn, status, text);
}

static enum MHD_Result send_error(struct http_endpoint *ep, struct MHD_Connection *conn,
				  int status, const char *msg)
{
	json_t *inner = json_object();

	log_debug("http: %d %s", status, msg);
	return send_json(ep, conn, (unsigned)status, error_body_to_json(msg, status, inner));
}

static enum MHD_Result send_err(struct http_endpoint *ep, struct MHD_Connection *conn,
				const struct err *e)
{
	int status = ls_http_status(e->code);

	return send_error(ep, conn, status, e->msg[0] ? e->msg : "internal error");
}

/* ---- request parsing ---- */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct request *rq = cls;
	int r = 0;

	(void)kind;
	if (!value || rq->header_status)
		return MHD_YES;
	if (strcasecmp(key, "Libstorage-Instanceid") == 0) {
		if (rq->n_iids == MAX_IIDS) {
			rq->header_status = 400;
			err_set(&rq->header_err, -EINVAL, "too many Libstorage-Instanceid headers");
			return MHD_YES;
		}
		r = iid_header_parse(value, &rq->iids[rq->n_iids], &rq->header_err);
		if (r == 0)
			rq->n_iids++;
	} else if (strcasecmp(key, "Libstorage-Localdevices") == 0) {
		if (rq->n_ldevs == MAX_IIDS) {
			rq->header_status = 400;
			err_set(&rq->header_err, -EINVAL, "too many Libstorage-Localdevices headers");
			return MHD_YES;
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
	return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct request *rq = cls;

	(void)kind;
	if (rq->n_args < MAX_QUERY_ARGS) {
		rq->args[rq->n_args].key = key;
		rq->args[rq->n_args].value = value;
		rq->n_args++;
	}
	return MHD_YES;
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

static void request_free(struct request *rq)
{
	if (!rq)
		return;
	for (size_t i = 0; i < rq->n_iids; i++)
		instance_id_release(&rq->iids[i]);
	for (size_t i = 0; i < rq->n_ldevs; i++)
		local_devices_release(&rq->ldevs[i]);
	free(rq->body);
	free(rq);
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
	struct MHD_Connection *conn;
	struct request *rq;
	struct ls_ctx ctx;
	const char *method;
	char *seg[4];
	int nseg;
};

static json_t *body_json(struct call *c, struct err *e)
{
	json_t *j = NULL;

	if (json_body_parse(c->rq->body, c->rq->len, HTTP_BODY_MAX, &j, e) < 0)
		return NULL;
	return j;
}

static enum MHD_Result h_root(struct call *c)
{
	return send_json(c->ep, c->conn, 200,
			 json_pack("[sssss]", "/services", "/snapshots", "/tasks", "/help",
				   "/volumes"));
}

static enum MHD_Result h_help(struct call *c)
{
	struct err e = ERR_INIT;
	const char *tok = NULL;

	if (c->nseg == 1)
		return send_json(c->ep, c->conn, 200,
				 json_pack("[sss]", "/help/config", "/help/env", "/help/version"));
	if (strcmp(c->seg[1], "version") == 0)
		return send_json(c->ep, c->conn, 200, version_to_json());
	if (strcmp(c->seg[1], "config") == 0 || strcmp(c->seg[1], "env") == 0) {
		has_arg(c->rq, "admin", &tok);
		(void)tok;
		err_set(&e, -EACCES, "'/help/%s' needs the admin token", c->seg[1]);
		return send_err(c->ep, c->conn, &e);
	}
	return send_error(c->ep, c->conn, 404, "resource not found");
}

static enum MHD_Result h_services(struct call *c)
{
	struct err e = ERR_INIT;

	if (c->nseg == 1) {
		struct service_list l = { 0 };
		if (ls_services(c->ep->srv, &l, &e) < 0)
			return send_err(c->ep, c->conn, &e);
		json_t *j = service_map_to_json(&l);
		service_list_release(&l);
		return send_json(c->ep, c->conn, 200, j);
	}
	struct service_info si = { 0 };
	if (ls_service_inspect(c->ep->srv, c->seg[1], has_arg(c->rq, "instance", NULL), &c->ctx,
			       &si, &e) < 0)
		return send_err(c->ep, c->conn, &e);
	json_t *j = service_info_to_json(&si);
	service_info_release(&si);
	return send_json(c->ep, c->conn, 200, j);
}

static enum MHD_Result h_volumes_all(struct call *c, int mask)
{
	json_t *all = json_object();
	struct err e = ERR_INIT;

	for (size_t i = 0; all && i < ls_server_service_count(c->ep->srv); i++) {
		struct service *svc = ls_server_service_at(c->ep->srv, i);
		struct volume_list l = { 0 };
		if (ls_volumes(c->ep->srv, svc->name, mask, &c->ctx, &l, &e) < 0) {
			json_decref(all);
			return send_err(c->ep, c->conn, &e);
		}
		json_object_set_new(all, svc->name, volume_map_to_json(&l));
		volume_list_release(&l);
	}
	return send_json(c->ep, c->conn, 200, all);
}

static enum MHD_Result h_volumes_get(struct call *c)
{
	struct err e = ERR_INIT;
	int mask;

	if (parse_mask(c->rq, &mask, &e) < 0)
		return send_err(c->ep, c->conn, &e);
	if (c->nseg == 1)
		return h_volumes_all(c, mask);
	if (c->nseg == 2) {
		struct volume_list l = { 0 };
		if (ls_volumes(c->ep->srv, c->seg[1], mask, &c->ctx, &l, &e) < 0)
			return send_err(c->ep, c->conn, &e);
		json_t *j = volume_map_to_json(&l);
		volume_list_release(&l);
		return send_json(c->ep, c->conn, 200, j);
	}
	struct volume v = { 0 };
	if (ls_volume_inspect(c->ep->srv, c->seg[1], c->seg[2], has_arg(c->rq, "byName", NULL),
			      mask, &c->ctx, &v, &e) < 0)
		return send_err(c->ep, c->conn, &e);
	json_t *j = volume_to_json(&v);
	volume_release(&v);
	return send_json(c->ep, c->conn, 200, j);
}

static enum MHD_Result h_volume_create(struct call *c)
{
	struct volume_create_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r;

	if (!body)
		return send_err(c->ep, c->conn, &e);
	r = volume_create_req_from_json(body, &req, &e);
	json_decref(body);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	r = ls_volume_create(c->ep->srv, c->seg[1], &req, &c->ctx, &v, &e);
	volume_create_req_release(&req);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	json_t *j = volume_to_json(&v);
	volume_release(&v);
	return send_json(c->ep, c->conn, 201, j);
}

static enum MHD_Result h_volume_attach(struct call *c)
{
	struct volume_attach_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	char *token = NULL;
	json_t *body = body_json(c, &e);
	int r;

	if (!body)
		return send_err(c->ep, c->conn, &e);
	r = volume_attach_req_from_json(body, &req, &e);
	json_decref(body);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	r = ls_volume_attach(c->ep->srv, c->seg[1], c->seg[2], &req, &c->ctx, &v, &token, &e);
	volume_attach_req_release(&req);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	json_t *j = attach_reply_to_json(&v, token ? token : "");
	volume_release(&v);
	free(token);
	return send_json(c->ep, c->conn, 200, j);
}

static enum MHD_Result h_volume_detach(struct call *c)
{
	struct volume_detach_req req = { 0 };
	struct volume v = { 0 };
	struct err e = ERR_INIT;
	json_t *body = body_json(c, &e);
	int r;

	if (!body)
		return send_err(c->ep, c->conn, &e);
	r = volume_detach_req_from_json(body, &req, &e);
	json_decref(body);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	r = ls_volume_detach(c->ep->srv, c->seg[1], c->seg[2], &req, &c->ctx, &v, &e);
	volume_detach_req_release(&req);
	if (r < 0)
		return send_err(c->ep, c->conn, &e);
	json_t *j = volume_to_json(&v);
	volume_release(&v);
	return send_json(c->ep, c->conn, 205, j);
}

static enum MHD_Result h_volumes_post(struct call *c)
{
	if (c->nseg == 2 && !has_arg(c->rq, "detach", NULL))
		return h_volume_create(c);
	if (c->nseg == 3 && has_arg(c->rq, "attach", NULL))
		return h_volume_attach(c);
	if (c->nseg == 3 && has_arg(c->rq, "detach", NULL))
		return h_volume_detach(c);
	if (c->nseg == 3 && (has_arg(c->rq, "copy", NULL) || has_arg(c->rq, "snapshot", NULL)))
		return send_error(c->ep, c->conn, 501,
				  "volume copy and snapshot are not implemented yet");
	if (c->nseg <= 2 && has_arg(c->rq, "detach", NULL))
		return send_error(c->ep, c->conn, 501,
				  "detaching all volumes at once is not implemented yet");
	return send_error(c->ep, c->conn, 404, "no such route: POST on this path needs one of "
			  "?attach, ?detach");
}

static enum MHD_Result h_volume_delete(struct call *c)
{
	struct err e = ERR_INIT;

	if (c->nseg != 3)
		return send_error(c->ep, c->conn, 405, "DELETE needs /volumes/{service}/{id}");
	if (ls_volume_remove(c->ep->srv, c->seg[1], c->seg[2], is_true_arg(c->rq, "force"),
			     &c->ctx, &e) < 0)
		return send_err(c->ep, c->conn, &e);
	return send_text(c->ep, c->conn, 204, NULL);
}

static enum MHD_Result route(struct call *c)
{
	const char *m = c->method, *top = c->nseg ? c->seg[0] : "";
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (c->nseg == 0)
		return get ? h_root(c) : send_error(c->ep, c->conn, 405, "method not allowed");
	if (strcmp(top, "volumes") == 0) {
		if (get && c->nseg <= 3)
			return h_volumes_get(c);
		if (strcmp(m, "POST") == 0 && c->nseg <= 3)
			return h_volumes_post(c);
		if (strcmp(m, "DELETE") == 0)
			return h_volume_delete(c);
		return send_error(c->ep, c->conn, 405, "method not allowed on /volumes");
	}
	if (strcmp(top, "services") == 0 && c->nseg <= 2)
		return get ? h_services(c) : send_error(c->ep, c->conn, 405, "method not allowed");
	if (strcmp(top, "snapshots") == 0)
		return send_error(c->ep, c->conn, 501, "snapshots are not implemented yet");
	if (strcmp(top, "tasks") == 0) {
		if (c->nseg == 1 && get)
			return send_json(c->ep, c->conn, 200, json_object());
		return send_error(c->ep, c->conn, 404, "resource not found: tasks finish before "
				  "their request returns and are not kept");
	}
	if (strcmp(top, "help") == 0 && c->nseg <= 2 && get)
		return h_help(c);
	return send_error(c->ep, c->conn, 404, "resource not found");
}

static enum MHD_Result dispatch(struct http_endpoint *ep, struct MHD_Connection *conn,
				struct request *rq, const char *url, const char *method)
{
	struct call c = { .ep = ep, .conn = conn, .rq = rq, .method = method };
	char path[2048];

	if (rq->too_big)
		return send_error(ep, conn, 413, "request body is larger than 1 MiB");
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, rq);
	if (rq->header_status)
		return send_err(ep, conn, &rq->header_err);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, rq);
	if (strlen(url) >= sizeof(path))
		return send_error(ep, conn, 414, "request path is too long");
	strcpy(path, url);
	c.nseg = split_path(path, c.seg);
	if (c.nseg < 0)
		return send_error(ep, conn, 404, "resource not found");
	c.ctx.iids = rq->iids;
	c.ctx.n_iids = rq->n_iids;
	c.ctx.ldevs = rq->ldevs;
	c.ctx.n_ldevs = rq->n_ldevs;
	c.ctx.tx_id = rq->tx_id[0] ? rq->tx_id : NULL;
	log_debug("http: %s %s", method, url);
	return route(&c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_endpoint *ep = cls;
	struct request *rq = *con_cls;

	(void)version;
	if (!rq) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		/* refuse a declared oversized body before reading it (and before
		 * "100 Continue" invites the client to send it) */
		if (cl && strtoull(cl, NULL, 10) > HTTP_BODY_MAX) {
			rq->too_big = true;
			return send_error(ep, conn, 413, "request body is larger than 1 MiB");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		if (!rq->too_big && rq->len + n > HTTP_BODY_MAX)
			rq->too_big = true;
		if (!rq->too_big) {
			char *nb = realloc(rq->body, rq->len + n + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + rq->len, upload_data, n);
			rq->body = nb;
			rq->len += n;
			rq->body[rq->len] = '\0';
		}
		/* past the limit the rest is read and dropped: the 413 goes out at the
		 * end, when the client is listening again */
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(ep, conn, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: microhttpd: %s", line);
}

/* ---- listening sockets ---- */

int http_address_parse(const char *address, char *scheme, size_t scheme_sz, char *rest,
		       size_t rest_sz, struct err *e)
{
	const char *sep = address ? strstr(address, "://") : NULL;
	size_t n;

	if (!sep)
		return err_set(e, -EINVAL, "address '%s': expected unix:///path or tcp://host:port",
			       address ? address : "");
	n = (size_t)(sep - address);
	if (n >= scheme_sz || strlen(sep + 3) >= rest_sz)
		return err_set(e, -EINVAL, "address '%s' is too long", address);
	memcpy(scheme, address, n);
	scheme[n] = '\0';
	strcpy(rest, sep + 3);
	if (strcasecmp(scheme, "unix") != 0 && strcasecmp(scheme, "tcp") != 0)
		return err_set(e, -EINVAL, "address '%s': scheme must be unix or tcp", address);
	return 0;
}

/* A socket file nobody answers on is stale: a server died without removing it. */
static bool unix_socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

static int listen_unix(struct http_endpoint *ep, const char *path, mode_t mode, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, "unix socket path '%s' is longer than %zu bytes",
			       path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(e, -EEXIST, "'%s' exists and is not a socket", path);
		if (unix_socket_alive(&sa))
			return err_set(e, -EADDRINUSE, "'%s' is in use by a running server", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return err_set(e, r, "cannot bind '%s': %s", path, strerror(-r));
	}
	if (chmod(path, mode) < 0 || listen(fd, 128) < 0) {
		int r = -errno;
		close(fd);
		unlink(path);
		return err_set(e, r, "cannot listen on '%s': %s", path, strerror(-r));
	}
	strcpy(ep->unix_path, path);
	snprintf(ep->address, sizeof(ep->address), "unix://%s", path);
	return fd;
}

static int listen_tcp(struct http_endpoint *ep, const char *hostport, struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char host[256], port[16], shown[300];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, r;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host) || strlen(colon + 1) >= sizeof(port) ||
	    !colon[1])
		return err_set(e, -EINVAL, "tcp address '%s': expected host:port", hostport);
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	strcpy(port, colon + 1);
	if (host[0] == '[') { /* [::1]:7979 */
		size_t hl = strlen(host);
		if (hl < 2 || host[hl - 1] != ']')
			return err_set(e, -EINVAL, "tcp address '%s': bad IPv6 host", hostport);
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (r != 0)
		return err_set(e, -EINVAL, "tcp address '%s': %s", hostport, gai_strerror(r));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return err_set(e, -errno, "socket: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(res);
		return err_set(e, r, "cannot listen on tcp://%s: %s", hostport, strerror(-r));
	}
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		char ip[INET6_ADDRSTRLEN] = "";
		unsigned p = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			p = ntohs(in->sin_port);
			snprintf(shown, sizeof(shown), "%s:%u", ip, p);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			p = ntohs(in6->sin6_port);
			snprintf(shown, sizeof(shown), "[%s]:%u", ip, p);
		}
		snprintf(ep->address, sizeof(ep->address), "tcp://%s", shown);
	}
	return fd;
}

int http_endpoint_start(struct ls_server *srv, const struct cfg *cfg, const char *address,
			mode_t sock_mode, struct http_endpoint **out, struct err *e)
{
	struct http_endpoint *ep;
	char scheme[16], rest[PATH_MAX];
	int fd, r;

	if ((r = http_address_parse(address, scheme, sizeof(scheme), rest, sizeof(rest), e)) < 0)
		return r;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return err_set(e, -ENOMEM, "out of memory");
	ep->srv = srv;
	ep->cfg = cfg;
	fd = strcasecmp(scheme, "unix") == 0 ? listen_unix(ep, rest, sock_mode, e)
					     : listen_tcp(ep, rest, e);
	if (fd < 0) {
		free(ep);
		return fd;
	}
	ep->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					   MHD_USE_ERROR_LOG,
				   0, NULL, NULL, on_request, ep,
				   MHD_OPTION_LISTEN_SOCKET, fd,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, ep,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				   MHD_OPTION_END);
	if (!ep->mhd) {
		close(fd);
		if (ep->unix_path[0])
			unlink(ep->unix_path);
		free(ep);
		return err_set(e, -EIO, "cannot start the HTTP server on %s", address);
	}
	log_info("libstorage server listening on %s", ep->address);
	*out = ep;
	return 0;
}

void http_endpoint_stop(struct http_endpoint *ep)
{
	if (!ep)
		return;
	MHD_stop_daemon(ep->mhd);
	if (ep->unix_path[0])
		unlink(ep->unix_path);
	free(ep);
}

const char *http_endpoint_address(const struct http_endpoint *ep)
{
	return ep->address;
}
