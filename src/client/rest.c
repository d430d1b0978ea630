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
 *
 * Several servers (libstorage.host a list): each has its own transport,
 * TLS mode and known hosts. A request goes to the current server first and
 * on to the next ones as client/failover.h says (never twice to one
 * server, never a POST or DELETE that may have acted); the server that
 * answers becomes the current one, for every thread, with one warning in
 * the log per switch.
 */
#include "client/client.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/codec.h"
#include "api/headers.h"
#include "client/failover.h"
#include "client/http_tls.h"
#include "net/addr.h"
#include "net/certfp.h"
#include "net/httpc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/urlesc.h"

#define HTTP_DEFAULT_TIMEOUT_MS 120000L
#define HTTP_MAX_BODY		(64u << 20) /* 64 MiB: a reply larger than this is refused */
#define HTTP_CURL_PURPOSE	"libstorage hosts on tcp:// or with TLS"

/* One server of the client's list: its address and its own transport. */
struct http_server {
	struct ls_addr addr;
	struct httpc *http;
	int tls_mode;	      /* resolved: never HTTP_TLS_AUTO */
	struct kh_list known; /* KNOWN_HOSTS: the host's fingerprints */
};

/* One client for one or several servers; the threads of the Docker plugin
 * in agent mode share it (httpc keeps a connection per request in flight,
 * cur is atomic). */
struct http_client {
	struct http_server *servers;
	size_t n;
	_Atomic size_t cur; /* the server a request goes to first */
	long timeout_ms;
	char *auth_header; /* the Authorization value, "Bearer ...", or NULL */
};

/* The request's header lines, "Name: value\r\n" each, in one string. */
struct hdr_lines {
	struct buf b; /* b.data NULL until the first line */
};

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
static const char *tls_hint(const struct http_server *s, enum httpc_fail fail)
{
	switch (fail) {
	case HTTPC_CERT_UNTRUSTED:
		return " (the server's certificate is not trusted: set "
		       "libstorage.client.tls.trustedCertsFile to its CA, list it in "
		       "known_hosts, or use libstorage.client.tls: insecure)";
	case HTTPC_CERT_LOCAL:
		return " (check libstorage.client.tls.certFile and keyFile)";
	case HTTPC_TLS_HANDSHAKE:
		return s->tls_mode == HTTP_TLS_OFF ? "" : " (is the server using TLS? "
		       "libstorage.client.tls: false talks plain HTTP)";
	case HTTPC_NO_REPLY:
		return s->tls_mode != HTTP_TLS_OFF ? "" : " (if the server uses TLS, set "
		       "libstorage.client.tls)";
	case HTTPC_PROTO:
		/* a TLS server answers plain HTTP with an alert */
		return " (if the server uses TLS on its socket, set libstorage.tls.sockittome)";
	default:
		return "";
	}
}

/* The known-hosts check refused the server: say what to do about it. */
static int unknown_host(const struct http_server *s, const struct httpc_reply *rep,
			struct err *e)
{
	if (!rep->cert_fp[0])
		return err_set(e, -EACCES, "libstorage server at %s: no certificate to check "
			       "against known hosts", s->addr.text);
	if (s->known.n == 0)
		return err_set(e, -EACCES, "libstorage server at %s is not a known host; if its "
			       "certificate is the right one, add the line '%s sha256 %s' to "
			       "a known_hosts file (looked in %s)", s->addr.text, s->addr.name,
			       rep->cert_fp, s->known.sources[0] ? s->known.sources : "no file");
	return err_set(e, -EACCES, "libstorage server at %s presented a certificate (sha256 %s) "
		       "that does not match its known_hosts entry (%s): refusing to talk to it",
		       s->addr.text, rep->cert_fp, s->known.sources);
}

/* A transport failure in the client's words and errno values. */
static int transport_error(const struct http_server *s, const struct httpc_reply *rep,
			   const struct err *te, struct err *e)
{
	const char *host = s->addr.text;

	switch (rep->fail) {
	case HTTPC_NOMEM:
		return err_set(e, -ENOMEM, "out of memory");
	case HTTPC_CERT_UNKNOWN:
		return unknown_host(s, rep, e);
	case HTTPC_TOO_BIG:
		return err_set(e, -E2BIG,
			       "reply from libstorage server at %s is larger than %u MiB", host,
			       HTTP_MAX_BODY >> 20);
	case HTTPC_CONNECT:
		return err_set(e, -ECONNREFUSED, "cannot reach libstorage server at %s: %s", host,
			       te->msg);
	case HTTPC_TIMEOUT:
		return err_set(e, -ETIMEDOUT, "cannot reach libstorage server at %s: %s", host,
			       te->msg);
	case HTTPC_REFUSED:
		return err_set(e, -EINVAL, "cannot send a request to libstorage server at %s: %s",
			       host, te->msg);
	default:
		return err_set(e, -EIO, "cannot reach libstorage server at %s: %s%s", host, te->msg,
			       tls_hint(s, rep->fail));
	}
}

/*
 * Send req to server s and fill rep. Returns 0 once a reply arrived,
 * whatever its status, or a transport error in e (and the transport's own
 * words in te).
 */
static int http_perform(const struct http_server *s, const struct httpc_req *req,
			struct httpc_reply *rep, struct err *te, struct err *e)
{
	int r = httpc_request(s->http, req, rep, te);

	return r < 0 ? transport_error(s, rep, te, e) : 0;
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

/* Turn a non-2xx reply of server s into an error carrying the server's message. */
static int status_error(const struct http_server *s, const char *method, const char *path,
			const struct httpc_reply *rep, struct err *e)
{
	int code = status_errno(rep->status);
	char msg[ERR_MSG_MAX];

	if (rep->status < 400)
		return err_set(e, -EIO, "%s %s: unexpected HTTP status %d from %s", method, path,
			       rep->status, s->addr.text);
	if (rep->status == 408)
		/* the body is the server's Task, not an error: say what it means */
		return err_set(e, code,
			       "the operation did not finish within the server's task "
			       "timeout (it goes on running on the server)");
	error_body_parse(rep->body, rep->len, msg, sizeof(msg), NULL);
	if (!msg[0])
		return err_set(e, code, "%s %s: HTTP %d from %s", method, path, rep->status,
			       s->addr.text);
	return err_set(e, code, "%s", msg);
}

/* ---- failing over ---- */

/*
 * Append "<server>: <why it failed>" to the list of servers a request
 * left: the reply's status and the server's message, or the transport's
 * words (connect(2)'s error when known: "connection refused").
 */
static void note_failure(char *tried, size_t sz, const struct http_server *s, int r,
			 const struct httpc_reply *rep, const struct err *te)
{
	size_t len = strlen(tried);
	char why[ERR_MSG_MAX];

	if (r == 0) {
		char msg[ERR_MSG_MAX / 2];

		error_body_parse(rep->body, rep->len, msg, sizeof(msg), NULL);
		snprintf(why, sizeof(why), "%s%d%s%s", msg[0] ? "" : "HTTP ", rep->status,
			 msg[0] ? " " : "", msg);
	} else if (rep->fail == HTTPC_CONNECT && rep->os_errno > 0) {
		snprintf(why, sizeof(why), "%s", strerror(rep->os_errno));
	} else {
		snprintf(why, sizeof(why), "%s", te->msg[0] ? te->msg : strerror(-r));
	}
	/* strerror's capital, in a message of lower-case words */
	if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
		why[0] = (char)(why[0] - 'A' + 'a');
	if (len < sz)
		snprintf(tried + len, sz - len, "%s%s: %s", len ? "; " : "", s->addr.text, why);
}

/* Server i answered after those before it failed: it is the current one
 * now, unless another thread moved on first (then it has said so). */
static void switch_to(struct http_client *hc, size_t from, size_t i, const char *tried)
{
	if (atomic_compare_exchange_strong(&hc->cur, &from, i))
		log_warn("failed over to libstorage server %s (%s)", hc->servers[i].addr.text,
			 tried);
}

/* A 2xx reply and the server that sent it. */
struct answer {
	struct httpc_reply rep;
	const struct http_server *s;
};

/*
 * A whole call: send to the current server, and on to the next ones as
 * failover_next says; check the status of the reply that stays is 2xx and
 * leave it in *a (released by the caller, also on failure). When every
 * server failed (several of them), the error names each and why.
 */
static int http_exchange(struct http_client *hc, const char *method, const char *path,
			 const char *body, const struct ls_ctx *ctx, struct answer *a,
			 struct err *e)
{
	const size_t start = atomic_load(&hc->cur);
	const struct http_server *s = NULL;
	struct hdr_lines h = { 0 };
	struct httpc_reply *rep = &a->rep;
	char tried[ERR_MSG_MAX] = "";
	size_t k, i = start;
	int r;

	memset(a, 0, sizeof(*a));
	/* the same header lines (and Libstorage-Tx) to every server tried */
	if ((r = build_headers(hc, &h, body != NULL, ctx, e)) < 0)
		goto done;
	for (k = 0; k < hc->n; k++) {
		const struct httpc_req req = {
			.method = method,
			.target = path,
			.headers = h.b.data,
			.body = body,
			.len = body ? strlen(body) : 0,
		};
		struct err te = ERR_INIT;

		i = (start + k) % hc->n;
		s = &hc->servers[i];
		httpc_reply_release(rep);
		r = http_perform(s, &req, rep, &te, e);
		if (hc->n == 1 || !failover_next(method, r < 0 ? rep->fail : HTTPC_OK, rep->status))
			break;
		note_failure(tried, sizeof(tried), s, r, rep, &te);
		if (r == 0)
			r = status_errno(rep->status);
	}
	if (k == hc->n) {
		r = err_set(e, r, "no libstorage server answered: %s", tried);
		goto done;
	}
	if (r < 0)
		goto done;
	if (k > 0)
		switch_to(hc, start, i, tried);
	if (rep->status < 200 || rep->status > 299)
		r = status_error(s, method, path, rep, e);
	a->s = s;
done:
	buf_release(&h.b);
	return r;
}

/* The body of a 2xx reply parsed into *out; an empty body gives NULL. */
static int answer_json(const struct answer *a, json_t **out, struct err *e)
{
	json_error_t jerr;

	*out = NULL;
	if (a->rep.len == 0)
		return 0;
	*out = json_loadb(a->rep.body, a->rep.len, 0, &jerr);
	if (!*out)
		return err_set(e, -EIO, "bad reply from libstorage server at %s: %s",
			       a->s->addr.text, jerr.text);
	return 0;
}

/* http_exchange, and (when out is not NULL) the body parsed into *out. */
static int http_call(struct http_client *hc, const char *method, const char *path, const char *body,
		     const struct ls_ctx *ctx, json_t **out, struct err *e)
{
	struct answer a;
	int r;

	if (out)
		*out = NULL;
	r = http_exchange(hc, method, path, body, ctx, &a, e);
	if (r == 0 && out)
		r = answer_json(&a, out, e);
	httpc_reply_release(&a.rep);
	return r;
}

/* A decoder's complaint about a reply is the server's fault, not ours.
 * (The server named is the current one: the one that just answered,
 * unless another thread failed over since.) */
static int reply_error(struct http_client *hc, int r, struct err *e)
{
	if (r == -ENOMEM)
		return r;
	if (e)
		e->code = -EIO;
	err_prefix(e, "bad reply from libstorage server at %s",
		   hc->servers[atomic_load(&hc->cur)].addr.text);
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

/*
 * GET /<root>/<svc>[/<id>]?query, the 2xx reply left in *a (released by
 * the caller, also on failure): for the replies decoded straight from
 * their text.
 */
static int get_answer(struct storage_client *c, const char *svc, const char *id,
		      const char *id_what, const char *query, const struct ls_ctx *ctx,
		      struct answer *a, struct err *e)
{
	char *path;
	int r;

	memset(a, 0, sizeof(*a));
	if (need("service name", svc, e) < 0 || (id_what && need(id_what, id, e) < 0))
		return -EINVAL;
	if (!(path = make_path("volumes", svc, id, query)))
		return err_set(e, -ENOMEM, "out of memory");
	r = http_exchange(impl(c), "GET", path, NULL, ctx, a, e);
	free(path);
	return r;
}

static int op_volumes(struct storage_client *c, const char *svc, int mask, const struct ls_ctx *ctx,
		      struct volume_list *out, struct err *e)
{
	struct volume_list l = { 0 };
	struct answer a;
	char query[32];
	json_t *j;
	int r;

	snprintf(query, sizeof(query), "attachments=%d", mask);
	r = get_answer(c, svc, NULL, NULL, query, ctx, &a, e);
	/* straight from the text (a listing can be megabytes); the tree
	 * decodes whatever that declines, and words its errors */
	if (r == 0 && volume_map_from_text(a.rep.body, a.rep.len, &l, NULL) < 0 &&
	    (r = answer_json(&a, &j, e)) == 0)
		r = decoded(c, j, volume_map_from_json(j, &l, e), e);
	if (r == 0)
		*out = l;
	httpc_reply_release(&a.rep);
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
	struct answer a;
	char query[48];
	json_t *j;
	int r;

	snprintf(query, sizeof(query), "attachments=%d%s", mask, by_name ? "&byName" : "");
	r = get_answer(c, svc, id_or_name, "volume ID or name", query, ctx, &a, e);
	if (r == 0 && volume_from_text(a.rep.body, a.rep.len, out, NULL) < 0 &&
	    (r = answer_json(&a, &j, e)) == 0)
		r = volume_reply(c, j, out, e);
	httpc_reply_release(&a.rep);
	return r;
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
	for (size_t i = 0; hc->servers && i < hc->n; i++) {
		httpc_free(hc->servers[i].http);
		kh_list_release(&hc->servers[i].known);
		ls_addr_release(&hc->servers[i].addr);
	}
	free(hc->servers);
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

/* HTTP_TLS_AUTO and the unix-socket rule, made concrete for server s. */
static int resolve_tls(struct http_server *s, const struct http_client_opts *o, struct err *e)
{
	int r;

	s->tls_mode = o->tls_mode;
	if (s->addr.socket_path && !o->tls_unix)
		s->tls_mode = HTTP_TLS_OFF;
	if (s->tls_mode == HTTP_TLS_AUTO && !s->addr.socket_path &&
	    net_host_is_loopback(s->addr.name))
		s->tls_mode = HTTP_TLS_OFF;
	if (s->tls_mode != HTTP_TLS_AUTO && s->tls_mode != HTTP_TLS_KNOWN_HOSTS)
		return 0;
	if ((r = kh_lookup(o, s->addr.name, s->addr.port, &s->known, e)) < 0)
		return r;
	if (s->tls_mode == HTTP_TLS_AUTO)
		s->tls_mode = !o->ca_file && s->known.n ? HTTP_TLS_KNOWN_HOSTS : HTTP_TLS_VERIFY;
	return 0;
}

static bool host_known(void *arg, const char *pem, size_t len, char *shown)
{
	const struct http_server *s = arg;
	char hex[CERTFP_HEX_LEN + 1];

	if (cert_fingerprint(pem, len, hex, shown) < 0) {
		shown[0] = '\0';
		return false;
	}
	return kh_list_has(&s->known, hex);
}

/*
 * The transport of server s for its resolved TLS mode. The URL's host is
 * the name the certificate must carry: serverName, when set, with
 * CONNECT_TO sending the connection to the real host.
 */
static int transport_setup(struct http_server *s, long timeout_ms,
			   const struct http_client_opts *o, struct err *e)
{
	const struct ls_addr *a = &s->addr;
	const char *name = o->server_name;
	bool tls = s->tls_mode != HTTP_TLS_OFF;
	struct httpc_opts ho = {
		.socket_path = a->socket_path,
		.timeout_ms = timeout_ms,
		.max_body = HTTP_MAX_BODY,
		.purpose = HTTP_CURL_PURPOSE,
	};
	char *url = NULL, *ct = NULL;
	int r;

	if (tls) {
		ho.insecure = s->tls_mode != HTTP_TLS_VERIFY;
		ho.ca_file = s->tls_mode == HTTP_TLS_VERIFY ? o->ca_file : NULL;
		ho.cert_file = o->cert_file;
		ho.key_file = o->key_file;
		if (s->tls_mode == HTTP_TLS_KNOWN_HOSTS) {
			ho.cert_known = host_known;
			ho.cert_arg = s;
		}
	}
	if (tls && name && !a->socket_path && (strchr(name, ':') || strchr(name, '/')))
		return err_set(e, -EINVAL, "config: libstorage.client.tls.serverName '%s' is not "
			       "a host name", name);
	if (!tls || !name)
		r = asprintf(&url, "%s://%s", tls ? "https" : "http", a->hostport);
	else if (a->socket_path)
		r = asprintf(&url, "https://%s", name);
	else if ((r = asprintf(&url, "https://%s:%u", name, a->port)) >= 0)
		r = asprintf(&ct, "%s:%u:%s", name, a->port, a->hostport);
	if (r < 0) {
		free(url);
		return -ENOMEM;
	}
	ho.base_url = url;
	ho.connect_to = ct;
	r = httpc_new(&ho, &s->http, e);
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

/* The servers of host (one address or a list), each with its transport. */
static int servers_setup(struct http_client *hc, const char *host,
			 const struct http_client_opts *o, struct err *e)
{
	struct ls_addr *addrs;
	size_t n;
	int r;

	if ((r = ls_addrs_parse(host, &addrs, &n, e)) < 0)
		return r;
	hc->servers = calloc(n, sizeof(*hc->servers));
	if (!hc->servers) {
		ls_addrs_free(addrs, n);
		return err_set(e, -ENOMEM, "out of memory");
	}
	/* the addresses move into the servers */
	for (size_t i = 0; i < n; i++)
		hc->servers[i].addr = addrs[i];
	free(addrs);
	hc->n = n;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if ((r = resolve_tls(&hc->servers[i], o, e)) == 0)
			r = transport_setup(&hc->servers[i], hc->timeout_ms, o, e);
	}
	return r;
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
	if (!hc || !c) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	atomic_init(&hc->cur, 0);
	hc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	if ((r = servers_setup(hc, host, o, e)) < 0 ||
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

const char *client_http_current(const struct storage_client *c)
{
	const struct http_client *hc;

	if (!c || c->ops != &http_ops || !(hc = c->impl))
		return NULL;
	return hc->servers[atomic_load(&hc->cur)].addr.text;
}

size_t client_http_servers(const struct storage_client *c)
{
	const struct http_client *hc;

	if (!c || c->ops != &http_ops || !(hc = c->impl))
		return 0;
	return hc->n;
}
