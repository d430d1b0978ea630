/*
 * rest: the storage client over the libStorage REST API.
 *
 * Two transports carry the requests. Plain HTTP on a unix socket, the
 * common case (the CLI and the agent talking to the local service), goes
 * through unixhttp.c and needs no libcurl. TCP hosts, and TLS on a socket,
 * go through libcurl, loaded with dlopen when such a client is made
 * (curldl.h): linking it would cost every CLI call and every engine start
 * its ~30 libraries. Both send the same header lines and map replies and
 * failures the same way.
 *
 * Connections (a struct unixhttp, or a libcurl easy handle and its
 * connection cache) come from a small pool so that keep-alive connections
 * survive between calls. Every request is bounded by the client's timeout
 * and every reply body by HTTP_MAX_BODY. The server's status codes map
 * onto the errno values of client.h and its error message is passed
 * through unchanged.
 *
 * TLS (client.h, enum http_tls_mode) is libcurl's; the known-hosts check
 * runs in CURLOPT_PREREQFUNCTION, after the handshake and before the
 * request is sent, so a bearer token never reaches a server whose
 * fingerprint did not match.
 */
#include "client/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "api/codec.h"
#include "api/headers.h"
#include "client/http_tls.h"
#include "net/httpc.h"
#include "net/addr.h"
#include "util/buf.h"
#include "util/secret.h"
#include "util/urlesc.h"

#define HTTP_DEFAULT_TIMEOUT_MS 120000L
#define HTTP_MAX_BODY		(64u << 20) /* 64 MiB: a reply larger than this is refused */
#define HTTP_UNIX_HOST		"libstorage-server"
#define HTTP_CURL_PURPOSE	"libstorage hosts on tcp:// or with TLS"

/* One client per host; the threads of the Docker plugin in agent mode
 * share it (httpc keeps a connection per request in flight). */
struct http_client {
	struct httpc *http;
	char *host;	   /* as given, for messages */
	char *socket_path; /* unix socket, or NULL for TCP */
	char *name;	   /* host name or address (no brackets), for TLS */
	char *hostport;	   /* "name:port" as given ("[v6]:port") */
	unsigned port;	   /* 0 for a unix socket */
	long timeout_ms;
	int tls_mode;	       /* resolved: never HTTP_TLS_AUTO */
	struct kh_list known;  /* KNOWN_HOSTS: the host's fingerprints */
	char *auth_header;     /* the Authorization value, "Bearer ...", or NULL */
};

/* The request's header lines, "Name: value\r\n" each, in one string. */
struct hdr_lines {
	struct buf b; /* b.data NULL until the first line */
};

/* ---- host parsing ---- */

static int bad_host(const char *host, const char *why, struct err *e)
{
	return err_set(e, -EINVAL, "invalid libstorage host '%s': %s", host, why);
}

static int parse_unix(struct http_client *hc, const char *path, struct err *e)
{
	struct sockaddr_un sun;

	if (!*path)
		return bad_host(hc->host, "empty socket path", e);
	if (strlen(path) >= sizeof(sun.sun_path))
		return bad_host(hc->host, "socket path is too long", e);
	hc->socket_path = strdup(path);
	hc->name = strdup(HTTP_UNIX_HOST);
	hc->hostport = strdup(HTTP_UNIX_HOST);
	if (!hc->socket_path || !hc->name || !hc->hostport)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* "host:port" or "[v6]:port"; the port is 1-65535. */
static int parse_tcp(struct http_client *hc, const char *hp, struct err *e)
{
	const char *colon = strrchr(hp, ':');
	char *end;
	long port;

	if (!colon || colon == hp)
		return bad_host(hc->host, "expected tcp://host:port", e);
	if (hp[0] == '[' && colon[-1] != ']')
		return bad_host(hc->host, "expected tcp://[address]:port", e);
	if (hp[0] != '[' && memchr(hp, ':', (size_t)(colon - hp)))
		return bad_host(hc->host, "an IPv6 address needs brackets", e);
	for (const char *p = hp; p < colon; p++) {
		if (*p == '/' || *p == '@' || *p == '?' || *p == '#' || (unsigned char)*p <= ' ')
			return bad_host(hc->host, "bad character in host name", e);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535)
		return bad_host(hc->host, "port must be 1-65535", e);
	hc->port = (unsigned)port;
	hc->hostport = strdup(hp);
	if (hp[0] == '[')
		hc->name = strndup(hp + 1, (size_t)(colon - hp - 2));
	else
		hc->name = strndup(hp, (size_t)(colon - hp));
	if (!hc->hostport || !hc->name)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

static int parse_host(struct http_client *hc, const char *host, struct err *e)
{
	if (strncmp(host, "unix://", 7) == 0)
		return parse_unix(hc, host + 7, e);
	if (strncmp(host, "tcp://", 6) == 0)
		return parse_tcp(hc, host + 6, e);
	return bad_host(host, "expected unix:///path.sock or tcp://host:port", e);
}

/* ---- one request ---- */

/* A header value must not smuggle a line break into the request. */
static bool header_value_ok(const char *v)
{
	size_t len = strnlen(v, HEADER_VALUE_MAX + 1);

	if (len > HEADER_VALUE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static int lines_add(struct hdr_lines *h, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	int r = buf_reserve(&h->b, nl + vl + 4);

	if (r < 0)
		return r;
	buf_add(&h->b, name, nl);
	buf_add(&h->b, ": ", 2);
	buf_add(&h->b, value, vl);
	buf_add(&h->b, "\r\n", 2);
	return 0;
}

/* Append "name: value" (value stolen) to h. */
static int add_header(struct hdr_lines *h, const char *name, char *value, struct err *e)
{
	int r;

	if (!value)
		return err_set(e, -ENOMEM, "out of memory");
	if (!header_value_ok(value)) {
		free(value);
		return err_set(e, -EINVAL,
			       "cannot send %s: the value has control characters "
			       "or is longer than %d bytes",
			       name, HEADER_VALUE_MAX);
	}
	r = lines_add(h, name, value);
	free(value);
	return r < 0 ? err_set(e, r, "out of memory") : 0;
}

static int ctx_headers(struct hdr_lines *h, const struct ls_ctx *ctx, struct err *e)
{
	char txid[37];
	int r = 0;

	for (size_t i = 0; ctx && r == 0 && i < ctx->n_iids; i++)
		r = add_header(h, "Libstorage-Instanceid", iid_header_format(&ctx->iids[i]), e);
	for (size_t i = 0; ctx && r == 0 && i < ctx->n_ldevs; i++)
		r = add_header(h, "Libstorage-Localdevices",
			       localdevices_header_format(&ctx->ldevs[i]), e);
	if (r < 0)
		return r;
	if (!ctx || !ctx->tx_id)
		uuid_v4(txid);
	return add_header(h, "Libstorage-Tx",
			  tx_header_format(ctx && ctx->tx_id ? ctx->tx_id : txid, time(NULL)), e);
}

/* The header lines both transports send after Host (libcurl's own
 * User-Agent and Accept lines are replaced by these). */
static int build_headers(struct http_client *hc, struct hdr_lines *h, bool has_body,
			 const struct ls_ctx *ctx, struct err *e)
{
	int r = lines_add(h, "User-Agent", "rexray-c");

	if (r == 0)
		r = lines_add(h, "Accept", "*/*");
	if (r == 0 && hc->auth_header)
		r = lines_add(h, "Authorization", hc->auth_header);
	if (r == 0 && has_body)
		r = lines_add(h, "Content-Type", "application/json");
	if (r < 0)
		return err_set(e, r, "out of memory");
	return ctx_headers(h, ctx, e);
}

/* ---- one transport request ---- */

/* What to look at when the TLS handshake, or its absence, failed. */
static const char *tls_hint(const struct http_client *hc, enum httpc_fail fail)
{
	switch (fail) {
	case HTTPC_CERT_UNTRUSTED:
		return " (the server's certificate is not trusted: set "
		       "libstorage.client.tls.trustedCertsFile to its CA, list it in "
		       "known_hosts, or use libstorage.client.tls: insecure)";
	case HTTPC_CERT_LOCAL:
		return " (check libstorage.client.tls.certFile and keyFile)";
	case HTTPC_TLS_HANDSHAKE:
		return hc->tls_mode == HTTP_TLS_OFF ? "" : " (is the server using TLS? "
		       "libstorage.client.tls: false talks plain HTTP)";
	case HTTPC_NO_REPLY:
		return hc->tls_mode != HTTP_TLS_OFF ? "" : " (if the server uses TLS, set "
		       "libstorage.client.tls)";
	case HTTPC_PROTO:
		/* a TLS server answers plain HTTP with an alert */
		return " (if the server uses TLS on its socket, set libstorage.tls.sockittome)";
	default:
		return "";
	}
}

/* The known-hosts check refused the server: say what to do about it. */
static int unknown_host(const struct http_client *hc, const struct httpc_reply *rep,
			struct err *e)
{
	if (!rep->cert_fp[0])
		return err_set(e, -EACCES, "libstorage server at %s: no certificate to check "
			       "against known hosts", hc->host);
	if (hc->known.n == 0)
		return err_set(e, -EACCES, "libstorage server at %s is not a known host; if its "
			       "certificate is the right one, add the line '%s sha256 %s' to "
			       "a known_hosts file (looked in %s)", hc->host, hc->name,
			       rep->cert_fp, hc->known.sources[0] ? hc->known.sources : "no file");
	return err_set(e, -EACCES, "libstorage server at %s presented a certificate (sha256 %s) "
		       "that does not match its known_hosts entry (%s): refusing to talk to it",
		       hc->host, rep->cert_fp, hc->known.sources);
}

/* A transport failure in the client's words and errno values. */
static int transport_error(const struct http_client *hc, const struct httpc_reply *rep,
			   const struct err *te, struct err *e)
{
	switch (rep->fail) {
	case HTTPC_NOMEM:
		return err_set(e, -ENOMEM, "out of memory");
	case HTTPC_CERT_UNKNOWN:
		return unknown_host(hc, rep, e);
	case HTTPC_TOO_BIG:
		return err_set(e, -E2BIG,
			       "reply from libstorage server at %s is larger than %u MiB", hc->host,
			       HTTP_MAX_BODY >> 20);
	case HTTPC_CONNECT:
		return err_set(e, -ECONNREFUSED, "cannot reach libstorage server at %s: %s",
			       hc->host, te->msg);
	case HTTPC_TIMEOUT:
		return err_set(e, -ETIMEDOUT, "cannot reach libstorage server at %s: %s", hc->host,
			       te->msg);
	case HTTPC_REFUSED:
		return err_set(e, -EINVAL, "cannot send a request to libstorage server at %s: %s",
			       hc->host, te->msg);
	default:
		return err_set(e, -EIO, "cannot reach libstorage server at %s: %s%s", hc->host,
			       te->msg, tls_hint(hc, rep->fail));
	}
}

/*
 * Perform method on path (already escaped, with its query) and fill rep.
 * Returns 0 once a reply arrived, whatever its status, or a transport
 * error.
 */
static int http_perform(struct http_client *hc, const char *method, const char *path,
			const char *body, const struct ls_ctx *ctx, struct httpc_reply *rep,
			struct err *e)
{
	struct hdr_lines h = { 0 };
	struct err te = ERR_INIT;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = build_headers(hc, &h, body != NULL, ctx, e);
	if (r == 0) {
		const struct httpc_req req = {
			.method = method,
			.target = path,
			.headers = h.b.data,
			.body = body,
			.len = body ? strlen(body) : 0,
		};
		r = httpc_request(hc->http, &req, rep, &te);
		if (r < 0)
			r = transport_error(hc, rep, &te, e);
	}
	buf_release(&h.b);
	return r;
}

static int status_errno(int status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 408:
		return -ETIMEDOUT;
	case 409:
		return -EEXIST;
	case 413:
		return -E2BIG;
	case 501:
		return -ENOTSUP;
	}
	return -EIO;
}

/* Turn a non-2xx reply into an error carrying the server's message. */
static int status_error(struct http_client *hc, const char *method, const char *path,
			const struct httpc_reply *rep, struct err *e)
{
	int code = status_errno(rep->status);
	char msg[ERR_MSG_MAX];

	if (rep->status < 400)
		return err_set(e, -EIO, "%s %s: unexpected HTTP status %d from %s", method, path,
			       rep->status, hc->host);
	if (rep->status == 408)
		/* the body is the server's Task, not an error: say what it means */
		return err_set(e, code,
			       "the operation did not finish within the server's task "
			       "timeout (it goes on running on the server)");
	error_body_parse(rep->body, rep->len, msg, sizeof(msg), NULL);
	if (!msg[0])
		return err_set(e, code, "%s %s: HTTP %d from %s", method, path, rep->status,
			       hc->host);
	return err_set(e, code, "%s", msg);
}

/*
 * A whole call: perform, check the status is 2xx, and (when want_json)
 * parse the body into *out. An empty 2xx body gives *out = NULL.
 */
static int http_call(struct http_client *hc, const char *method, const char *path, const char *body,
		     const struct ls_ctx *ctx, json_t **out, struct err *e)
{
	struct httpc_reply rep;
	json_error_t jerr;
	int r;

	if (out)
		*out = NULL;
	r = http_perform(hc, method, path, body, ctx, &rep, e);
	if (r < 0)
		goto done;
	if (rep.status < 200 || rep.status > 299) {
		r = status_error(hc, method, path, &rep, e);
		goto done;
	}
	if (!out || rep.len == 0)
		goto done;
	*out = json_loadb(rep.body, rep.len, 0, &jerr);
	if (!*out)
		r = err_set(e, -EIO, "bad reply from libstorage server at %s: %s", hc->host,
			    jerr.text);
done:
	httpc_reply_release(&rep);
	return r;
}

/* A decoder's complaint about a reply is the server's fault, not ours. */
static int reply_error(struct http_client *hc, int r, struct err *e)
{
	if (r == -ENOMEM)
		return r;
	if (e)
		e->code = -EIO;
	err_prefix(e, "bad reply from libstorage server at %s", hc->host);
	return -EIO;
}

/* ---- paths ---- */

/* "/<a>[/<b>][?query]" with each segment %-escaped. */
static char *make_path(const char *root, const char *a, const char *b, const char *query)
{
	char *ea = a ? url_escape(a) : NULL;
	char *eb = b ? url_escape(b) : NULL;
	char *p = NULL;

	if ((a && !ea) || (b && !eb) ||
	    asprintf(&p, "/%s%s%s%s%s%s%s", root, ea ? "/" : "", ea ? ea : "", eb ? "/" : "",
		     eb ? eb : "", query ? "?" : "", query ? query : "") < 0)
		p = NULL;
	free(ea);
	free(eb);
	return p;
}

static struct http_client *impl(struct storage_client *c)
{
	return c->impl;
}

static int need(const char *what, const char *v, struct err *e)
{
	if (!v || !*v)
		return err_set(e, -EINVAL, "%s is required", what);
	return 0;
}

/* The end of decoding reply j (consumed) with the decoder's result r. */
static int decoded(struct storage_client *c, json_t *j, int r, struct err *e)
{
	json_decref(j);
	return r < 0 ? reply_error(impl(c), r, e) : 0;
}

/* ---- operations ---- */

/*
 * METHOD /<root>/<svc>[/<id>][?query] with body (NULL: none), after
 * checking the names the call needs: id_what names the id when the path
 * must have one. The parsed reply goes to *reply (when reply is not NULL).
 */
static int call_at(struct storage_client *c, const char *method, const char *root,
		   const char *svc, const char *id, const char *id_what, const char *query,
		   const char *body, const struct ls_ctx *ctx, json_t **reply, struct err *e)
{
	char *path;
	int r;

	if (need("service name", svc, e) < 0 || (id_what && need(id_what, id, e) < 0))
		return -EINVAL;
	path = make_path(root, svc, id, query);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), method, path, body, ctx, reply, e);
	free(path);
	return r;
}

/* POST req (stolen; NULL: its encoder ran out of memory) to /<root>/<svc>/<id>?query. */
static int post_to(struct storage_client *c, const char *root, const char *svc, const char *id,
		   const char *id_what, const char *query, json_t *req, const struct ls_ctx *ctx,
		   json_t **reply, struct err *e)
{
	char *body = req ? json_dump_compact(req) : NULL;
	int r;

	json_decref(req);
	if (!body)
		return err_set(e, -ENOMEM, "out of memory");
	r = call_at(c, "POST", root, svc, id, id_what, query, body, ctx, reply, e);
	free(body);
	return r;
}

static int post_at(struct storage_client *c, const char *svc, const char *id, const char *query,
		   json_t *req, const struct ls_ctx *ctx, json_t **reply, struct err *e)
{
	return post_to(c, "volumes", svc, id, id ? "volume ID" : NULL, query, req, ctx, reply, e);
}

static int op_services(struct storage_client *c, struct service_list *out, struct err *e)
{
	struct service_list l = { 0 };
	json_t *j;
	int r;

	r = http_call(impl(c), "GET", "/services", NULL, NULL, &j, e);
	if (r == 0 && (r = decoded(c, j, service_map_from_json(j, &l, e), e)) == 0)
		*out = l;
	return r;
}

static int op_service_inspect(struct storage_client *c, const char *svc, bool want_instance,
			      const struct ls_ctx *ctx, struct service_info *out, struct err *e)
{
	struct service_info s;
	json_t *j;
	int r;

	r = call_at(c, "GET", "services", svc, NULL, NULL, want_instance ? "instance" : NULL,
		    NULL, ctx, &j, e);
	if (r == 0 && (r = decoded(c, j, service_info_from_json(j, &s, e), e)) == 0)
		*out = s;
	return r;
}

static int op_volumes(struct storage_client *c, const char *svc, int mask, const struct ls_ctx *ctx,
		      struct volume_list *out, struct err *e)
{
	struct volume_list l = { 0 };
	char query[32];
	json_t *j;
	int r;

	snprintf(query, sizeof(query), "attachments=%d", mask);
	r = call_at(c, "GET", "volumes", svc, NULL, NULL, query, NULL, ctx, &j, e);
	if (r == 0 && (r = decoded(c, j, volume_map_from_json(j, &l, e), e)) == 0)
		*out = l;
	return r;
}

/* Decode a reply that must be a Volume (j is consumed). */
static int volume_reply(struct storage_client *c, json_t *j, struct volume *out, struct err *e)
{
	struct volume v;
	int r = decoded(c, j, volume_from_json(j, &v, e), e);

	if (r == 0)
		*out = v;
	return r;
}

static int op_volume_inspect(struct storage_client *c, const char *svc, const char *id_or_name,
			     bool by_name, int mask, const struct ls_ctx *ctx, struct volume *out,
			     struct err *e)
{
	char query[48];
	json_t *j;
	int r;

	snprintf(query, sizeof(query), "attachments=%d%s", mask, by_name ? "&byName" : "");
	r = call_at(c, "GET", "volumes", svc, id_or_name, "volume ID or name", query, NULL, ctx,
		    &j, e);
	return r < 0 ? r : volume_reply(c, j, out, e);
}

static int op_volume_create(struct storage_client *c, const char *svc,
			    const struct volume_create_req *req, const struct ls_ctx *ctx,
			    struct volume *out, struct err *e)
{
	json_t *j;
	int r;

	r = post_at(c, svc, NULL, NULL, volume_create_req_to_json(req), ctx, &j, e);
	return r < 0 ? r : volume_reply(c, j, out, e);
}

static int op_volume_attach(struct storage_client *c, const char *svc, const char *id,
			    const struct volume_attach_req *req, const struct ls_ctx *ctx,
			    struct volume *out, char **token, struct err *e)
{
	struct volume_attach_req none = { 0 };
	struct volume v;
	char *tok = NULL;
	json_t *j;
	int r;

	r = post_at(c, svc, id ? id : "", "attach", volume_attach_req_to_json(req ? req : &none),
		    ctx, &j, e);
	if (r < 0 || (r = decoded(c, j, attach_reply_from_json(j, &v, token ? &tok : NULL, e),
				   e)) < 0)
		return r;
	*out = v;
	if (token)
		*token = tok;
	return 0;
}

static int op_volume_detach(struct storage_client *c, const char *svc, const char *id,
			    const struct volume_detach_req *req, const struct ls_ctx *ctx,
			    struct volume *out, struct err *e)
{
	struct volume_detach_req none = { 0 };
	json_t *j;
	int r;

	r = post_at(c, svc, id ? id : "", "detach", volume_detach_req_to_json(req ? req : &none),
		    ctx, &j, e);
	if (r < 0)
		return r;
	if (!j) {
		/* 205 may come without a body: nothing is known about the volume */
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return volume_reply(c, j, out, e);
}

static int op_volume_remove(struct storage_client *c, const char *svc, const char *id, bool force,
			    const struct ls_ctx *ctx, struct err *e)
{
	return call_at(c, "DELETE", "volumes", svc, id, "volume ID", force ? "force" : NULL, NULL,
		       ctx, NULL, e);
}

/* ---- snapshots, copies, resize ---- */

/* Decode a reply that must be a Snapshot (j is consumed). */
static int snapshot_reply(struct storage_client *c, json_t *j, struct snapshot *out,
			  struct err *e)
{
	struct snapshot s;
	int r = decoded(c, j, snapshot_from_json(j, &s, e), e);

	if (r == 0)
		*out = s;
	return r;
}

static int op_snapshots(struct storage_client *c, const char *svc, const struct ls_ctx *ctx,
			struct snapshot_list *out, struct err *e)
{
	struct snapshot_list l = { 0 };
	json_t *j;
	int r;

	r = call_at(c, "GET", "snapshots", svc, NULL, NULL, NULL, NULL, ctx, &j, e);
	if (r == 0 && (r = decoded(c, j, snapshot_map_from_json(j, &l, e), e)) == 0)
		*out = l;
	return r;
}

static int op_snapshot_inspect(struct storage_client *c, const char *svc, const char *id,
			       const struct ls_ctx *ctx, struct snapshot *out, struct err *e)
{
	json_t *j;
	int r = call_at(c, "GET", "snapshots", svc, id, "snapshot ID", NULL, NULL, ctx, &j, e);

	return r < 0 ? r : snapshot_reply(c, j, out, e);
}

static int op_volume_snapshot(struct storage_client *c, const char *svc, const char *id,
			      const struct volume_snapshot_req *req, const struct ls_ctx *ctx,
			      struct snapshot *out, struct err *e)
{
	json_t *j;
	int r = post_to(c, "volumes", svc, id, "volume ID", "snapshot",
			volume_snapshot_req_to_json(req), ctx, &j, e);

	return r < 0 ? r : snapshot_reply(c, j, out, e);
}

static int op_snapshot_remove(struct storage_client *c, const char *svc, const char *id,
			      const struct ls_ctx *ctx, struct err *e)
{
	return call_at(c, "DELETE", "snapshots", svc, id, "snapshot ID", NULL, NULL, ctx, NULL, e);
}

static int op_snapshot_copy(struct storage_client *c, const char *svc, const char *id,
			    const struct snapshot_copy_req *req, const struct ls_ctx *ctx,
			    struct snapshot *out, struct err *e)
{
	json_t *j;
	int r = post_to(c, "snapshots", svc, id, "snapshot ID", "copy",
			snapshot_copy_req_to_json(req), ctx, &j, e);

	return r < 0 ? r : snapshot_reply(c, j, out, e);
}

static int op_snapshot_create_volume(struct storage_client *c, const char *svc, const char *id,
				     const struct volume_create_req *req,
				     const struct ls_ctx *ctx, struct volume *out, struct err *e)
{
	json_t *j;
	int r = post_to(c, "snapshots", svc, id, "snapshot ID", "create",
			volume_create_req_to_json(req), ctx, &j, e);

	return r < 0 ? r : volume_reply(c, j, out, e);
}

static int op_volume_copy(struct storage_client *c, const char *svc, const char *id,
			  const struct volume_copy_req *req, const struct ls_ctx *ctx,
			  struct volume *out, struct err *e)
{
	json_t *j;
	int r = post_to(c, "volumes", svc, id, "volume ID", "copy", volume_copy_req_to_json(req),
			ctx, &j, e);

	return r < 0 ? r : volume_reply(c, j, out, e);
}

static int op_volume_resize(struct storage_client *c, const char *svc, const char *id,
			    const struct volume_resize_req *req, const struct ls_ctx *ctx,
			    struct volume *out, struct err *e)
{
	json_t *j;
	int r = post_to(c, "volumes", svc, id, "volume ID", "resize",
			volume_resize_req_to_json(req), ctx, &j, e);

	return r < 0 ? r : volume_reply(c, j, out, e);
}

static int op_lease_renew(struct storage_client *c, const struct ls_ctx *ctx, long long lease_ms,
			  long long wait_ms, struct volume_ref **out, size_t *n, struct err *e)
{
	char path[96];
	json_t *j = NULL, *rv, *x;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/leases?lease=%lld&wait=%lld", lease_ms, wait_ms);
	if ((r = http_call(impl(c), "POST", path, "{}", ctx, &j, e)) < 0)
		return r;
	rv = json_object_get(j, "revoked");
	*out = calloc(json_array_size(rv) + 1, sizeof(**out));
	if (!*out)
		r = err_set(e, -ENOMEM, "out of memory");
	json_array_foreach (rv, i, x) {
		const char *s = json_string_value(json_object_get(x, "service"));
		const char *v = json_string_value(json_object_get(x, "volumeID"));
		if (r < 0 || !s || !v)
			continue;
		(*out)[*n].service = strdup(s);
		(*out)[*n].volume_id = strdup(v);
		(*n)++;
	}
	json_decref(j);
	return r;
}

static int op_lease_fenced(struct storage_client *c, const char *svc, const char *id,
			   const struct ls_ctx *ctx, struct err *e)
{
	return call_at(c, "POST", "leases", svc, id, "volume ID", "fenced", "{}", ctx, NULL, e);
}

static void http_client_free(struct http_client *hc)
{
	if (!hc)
		return;
	httpc_free(hc->http);
	free(hc->host);
	free(hc->socket_path);
	free(hc->name);
	free(hc->hostport);
	kh_list_release(&hc->known);
	secret_free_str(hc->auth_header);
	free(hc);
}

static void op_close(struct storage_client *c)
{
	http_client_free(c->impl);
	c->impl = NULL;
}

static const struct storage_client_ops http_ops = {
	.name = "http",
	.close = op_close,
	.services = op_services,
	.service_inspect = op_service_inspect,
	.volumes = op_volumes,
	.volume_inspect = op_volume_inspect,
	.volume_create = op_volume_create,
	.volume_attach = op_volume_attach,
	.volume_detach = op_volume_detach,
	.volume_remove = op_volume_remove,
	.snapshots = op_snapshots,
	.snapshot_inspect = op_snapshot_inspect,
	.volume_snapshot = op_volume_snapshot,
	.snapshot_remove = op_snapshot_remove,
	.snapshot_copy = op_snapshot_copy,
	.snapshot_create_volume = op_snapshot_create_volume,
	.volume_copy = op_volume_copy,
	.volume_resize = op_volume_resize,
	.lease_renew = op_lease_renew,
	.lease_fenced = op_lease_fenced,
};

/* HTTP_TLS_AUTO and the unix-socket rule, made concrete for this host. */
static int resolve_tls(struct http_client *hc, const struct http_client_opts *o, struct err *e)
{
	int r;

	hc->tls_mode = o->tls_mode;
	if (hc->socket_path && !o->tls_unix)
		hc->tls_mode = HTTP_TLS_OFF;
	if (hc->tls_mode == HTTP_TLS_AUTO && !hc->socket_path && net_host_is_loopback(hc->name))
		hc->tls_mode = HTTP_TLS_OFF;
	if (hc->tls_mode != HTTP_TLS_AUTO && hc->tls_mode != HTTP_TLS_KNOWN_HOSTS)
		return 0;
	if ((r = kh_lookup(o, hc->name, hc->port, &hc->known, e)) < 0)
		return r;
	if (hc->tls_mode == HTTP_TLS_AUTO)
		hc->tls_mode = !o->ca_file && hc->known.n ? HTTP_TLS_KNOWN_HOSTS : HTTP_TLS_VERIFY;
	return 0;
}

static bool host_known(void *arg, const char *fp_hex)
{
	const struct http_client *hc = arg;

	return kh_list_has(&hc->known, fp_hex);
}

/*
 * The transport for the resolved TLS mode. The URL's host is the name the
 * certificate must carry: serverName, when set, with CONNECT_TO sending
 * the connection to the real host.
 */
static int transport_setup(struct http_client *hc, const struct http_client_opts *o,
			   struct err *e)
{
	const char *name = o->server_name;
	bool tls = hc->tls_mode != HTTP_TLS_OFF;
	struct httpc_opts ho = {
		.socket_path = hc->socket_path,
		.timeout_ms = hc->timeout_ms,
		.max_body = HTTP_MAX_BODY,
		.purpose = HTTP_CURL_PURPOSE,
	};
	char *url = NULL, *ct = NULL;
	int r;

	if (tls) {
		ho.insecure = hc->tls_mode != HTTP_TLS_VERIFY;
		ho.ca_file = hc->tls_mode == HTTP_TLS_VERIFY ? o->ca_file : NULL;
		ho.cert_file = o->cert_file;
		ho.key_file = o->key_file;
		if (hc->tls_mode == HTTP_TLS_KNOWN_HOSTS) {
			ho.cert_known = host_known;
			ho.cert_arg = hc;
		}
	}
	if (tls && name && !hc->socket_path && (strchr(name, ':') || strchr(name, '/')))
		return err_set(e, -EINVAL, "config: libstorage.client.tls.serverName '%s' is not "
			       "a host name", name);
	if (!tls || !name)
		r = asprintf(&url, "%s://%s", tls ? "https" : "http", hc->hostport);
	else if (hc->socket_path)
		r = asprintf(&url, "https://%s", name);
	else if ((r = asprintf(&url, "https://%s:%u", name, hc->port)) >= 0)
		r = asprintf(&ct, "%s:%u:%s", name, hc->port, hc->hostport);
	if (r < 0) {
		free(url);
		return -ENOMEM;
	}
	ho.base_url = url;
	ho.connect_to = ct;
	r = httpc_new(&ho, &hc->http, e);
	free(url);
	free(ct);
	return r;
}

static int bearer_header(struct http_client *hc, const char *token, struct err *e)
{
	if (!token)
		return 0;
	if (!header_value_ok(token))
		return err_set(e, -EINVAL, "the bearer token has control characters or is longer "
			       "than %d bytes", HEADER_VALUE_MAX);
	return asprintf(&hc->auth_header, "Bearer %s", token) < 0 ? -ENOMEM : 0;
}

int client_http_new_opts(const char *host, const struct http_client_opts *o,
			 struct storage_client **out, struct err *e)
{
	static const struct http_client_opts plain = { .tls_mode = HTTP_TLS_OFF };
	struct http_client *hc;
	struct storage_client *c;
	int r;

	*out = NULL;
	if (!o)
		o = &plain;
	if (!host)
		return err_set(e, -EINVAL, "no libstorage host given");
	hc = calloc(1, sizeof(*hc));
	c = calloc(1, sizeof(*c));
	if (!hc || !c || !(hc->host = strdup(host))) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	hc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	if ((r = parse_host(hc, host, e)) < 0 || (r = resolve_tls(hc, o, e)) < 0 ||
	    (r = transport_setup(hc, o, e)) < 0 ||
	    (r = bearer_header(hc, o->token, e)) < 0) {
		if (r == -ENOMEM)
			err_set(e, r, "out of memory");
		goto fail;
	}
	c->ops = &http_ops;
	c->impl = hc;
	*out = c;
	return 0;
fail:
	http_client_free(hc);
	free(c);
	return r;
}

int client_http_new(const char *host, long timeout_ms, struct storage_client **out, struct err *e)
{
	struct http_client_opts o = { .timeout_ms = timeout_ms, .tls_mode = HTTP_TLS_OFF };

	return client_http_new_opts(host, &o, out, e);
}
