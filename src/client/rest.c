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

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "api/codec.h"
#include "api/headers.h"
#include "client/curldl.h"
#include "client/http_tls.h"
#include "client/unixhttp.h"
#include "net/addr.h"
#include "util/buf.h"
#include "util/sink.h"
#include "util/urlesc.h"

#define HTTP_DEFAULT_TIMEOUT_MS 120000L
#define HTTP_MAX_BODY		(64u << 20) /* 64 MiB: a reply larger than this is refused */
#define HTTP_UNIX_HOST		"libstorage-server"
#define HTTP_CURL_PURPOSE	"libstorage hosts on tcp:// or with TLS"

#define HTTP_POOL_MAX 8

/* A connection is used by one thread at a time; a client is shared by the
 * threads of the Docker plugin in agent mode, so each request takes a
 * connection from a small pool (keeping keep-alive connections) and
 * returns it. */
struct http_client {
	pthread_mutex_t mu;
	void *pool[HTTP_POOL_MAX]; /* idle: struct unixhttp * (native) or CURL * */
	int n_pool;
	bool native;		   /* plain HTTP on a unix socket: unixhttp, no libcurl */
	const struct curldl *cu;   /* libcurl when !native, else NULL */
	char *host;	   /* as given, for messages */
	char *base_url;	   /* "http://libstorage-server", "https://host:port", ... */
	char *socket_path; /* unix socket, or NULL for TCP */
	char *name;	   /* host name or address (no brackets), for TLS */
	char *hostport;	   /* "name:port" as given ("[v6]:port") */
	unsigned port;	   /* 0 for a unix socket */
	long timeout_ms;
	int tls_mode;		       /* resolved: never HTTP_TLS_AUTO */
	char *ca_file, *cert_file, *key_file;
	struct curl_slist *connect_to; /* serverName:port -> the real host, or NULL */
	struct kh_list known;	       /* KNOWN_HOSTS: the host's fingerprints */
	char *auth_header;	       /* the Authorization value, "Bearer ...", or NULL */
};

/* A reply body, growing up to HTTP_MAX_BODY. */
struct http_reply {
	struct sink body; /* first: the write callback gets &rep->body */
	long status;
	long os_errno; /* of a failed connect */
	/* for the known-hosts check */
	struct http_client *hc;
	CURL *curl;
	char tls_err[ERR_MSG_MAX];
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

/* ---- the connection pool ---- */

static void *conn_new(struct http_client *hc)
{
	struct unixhttp *uh;

	if (!hc->native)
		return hc->cu->easy_init();
	uh = malloc(sizeof(*uh));
	/* the path, host and timeout were checked when the client was made */
	if (uh && unixhttp_init(uh, hc->socket_path, HTTP_UNIX_HOST, hc->timeout_ms,
				HTTP_MAX_BODY, NULL) < 0) {
		free(uh);
		uh = NULL;
	}
	return uh;
}

static void conn_free(struct http_client *hc, void *conn)
{
	if (!hc->native) {
		hc->cu->easy_cleanup(conn);
		return;
	}
	unixhttp_release(conn);
	free(conn);
}

/* An idle connection, or a new one; NULL when out of memory. */
static void *conn_take(struct http_client *hc)
{
	void *conn = NULL;

	pthread_mutex_lock(&hc->mu);
	if (hc->n_pool > 0)
		conn = hc->pool[--hc->n_pool];
	pthread_mutex_unlock(&hc->mu);
	return conn ? conn : conn_new(hc);
}

/* Back to the pool, or closed when the pool is full. */
static void conn_give(struct http_client *hc, void *conn)
{
	pthread_mutex_lock(&hc->mu);
	if (hc->n_pool < HTTP_POOL_MAX) {
		hc->pool[hc->n_pool++] = conn;
		conn = NULL;
	}
	pthread_mutex_unlock(&hc->mu);
	if (conn)
		conn_free(hc, conn);
}

/* ---- TLS ---- */

/* Why the check refused the server; long messages are cut, not wrong. */
static int tls_refuse(struct http_reply *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int tls_refuse(struct http_reply *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep->tls_err, sizeof(rep->tls_err), fmt, ap);
	va_end(ap);
	return CURL_PREREQFUNC_ABORT;
}

/* The server's certificate, as libcurl saw it in the handshake, must be
 * listed for the host. Runs before the request goes out. */
static int on_prereq(void *cls, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	struct http_reply *rep = cls;
	struct http_client *hc = rep->hc;
	struct curl_certinfo *ci = NULL;
	char hex[FP_HEX_LEN + 1], shown[FP_SHOW_LEN + 1];
	const char *pem = NULL;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (hc->cu->easy_getinfo(rep->curl, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
	    ci->num_of_certs > 0) {
		for (struct curl_slist *l = ci->certinfo[0]; l && !pem; l = l->next)
			pem = strncmp(l->data, "Cert:", 5) == 0 ? l->data + 5 : NULL;
	}
	if (!pem || cert_fingerprint(pem, strlen(pem), hex, shown) < 0)
		return tls_refuse(rep, "libstorage server at %s: no certificate to check "
				  "against known hosts", hc->host);
	if (kh_list_has(&hc->known, hex))
		return CURL_PREREQFUNC_OK;
	if (hc->known.n == 0)
		return tls_refuse(rep, "libstorage server at %s is not a known host; if its "
				  "certificate is the right one, add the line '%s sha256 %s' to "
				  "a known_hosts file (looked in %s)", hc->host, hc->name, shown,
				  hc->known.sources[0] ? hc->known.sources : "no file");
	return tls_refuse(rep, "libstorage server at %s presented a certificate (sha256 %s) "
			  "that does not match its known_hosts entry (%s): refusing to talk to it",
			  hc->host, shown, hc->known.sources);
}

static CURLcode tls_options(struct http_client *hc, CURL *c, struct http_reply *rep)
{
	bool verify = hc->tls_mode == HTTP_TLS_VERIFY;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = hc->cu->easy_setopt(c, opt, val);                                     \
	} while (0)
	SET(CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (verify && hc->ca_file)
		SET(CURLOPT_CAINFO, hc->ca_file);
	if (hc->cert_file)
		SET(CURLOPT_SSLCERT, hc->cert_file);
	if (hc->key_file)
		SET(CURLOPT_SSLKEY, hc->key_file);
	if (hc->connect_to)
		SET(CURLOPT_CONNECT_TO, hc->connect_to);
	if (hc->tls_mode == HTTP_TLS_KNOWN_HOSTS) {
		/* a reused connection carries no certificate to check: every
		 * request makes (and checks) its own */
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_FORBID_REUSE, 1L);
		SET(CURLOPT_CERTINFO, 1L);
		SET(CURLOPT_PREREQFUNCTION, on_prereq);
		SET(CURLOPT_PREREQDATA, rep);
		rep->hc = hc;
		rep->curl = c;
	}
#undef SET
	return rc;
}

static CURLcode set_options(struct http_client *hc, CURL *c, const char *method, const char *url,
			    const char *body, struct curl_slist *hdrs, struct http_reply *rep,
			    char *errbuf)
{
	CURLcode rc = CURLE_OK;

	/* reset keeps the connection cache, so keep-alive survives */
	hc->cu->easy_reset(c);
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = hc->cu->easy_setopt(c, opt, val);                                     \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, hc->tls_mode == HTTP_TLS_OFF ? "http" : "https");
	SET(CURLOPT_TIMEOUT_MS, hc->timeout_ms);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, sink_write);
	SET(CURLOPT_WRITEDATA, &rep->body);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
	if (hc->socket_path)
		SET(CURLOPT_UNIX_SOCKET_PATH, hc->socket_path);
	if (body) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		SET(CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
	if (rc == CURLE_OK && hc->tls_mode != HTTP_TLS_OFF)
		rc = tls_options(hc, c, rep);
	return rc;
}

/* What to look at when the TLS handshake, or its absence, failed. */
static const char *tls_hint(const struct http_client *hc, CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return " (the server's certificate is not trusted: set "
		       "libstorage.client.tls.trustedCertsFile to its CA, list it in "
		       "known_hosts, or use libstorage.client.tls: insecure)";
	case CURLE_SSL_CERTPROBLEM:
		return " (check libstorage.client.tls.certFile and keyFile)";
	case CURLE_SSL_CONNECT_ERROR:
		return hc->tls_mode == HTTP_TLS_OFF ? "" : " (is the server using TLS? "
		       "libstorage.client.tls: false talks plain HTTP)";
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
		return hc->tls_mode != HTTP_TLS_OFF ? "" : " (if the server uses TLS, set "
		       "libstorage.client.tls)";
	default:
		return "";
	}
}

static int transport_error(struct http_client *hc, CURLcode rc, const struct http_reply *rep,
			   const char *errbuf, struct err *e)
{
	const char *why = errbuf[0] ? errbuf : hc->cu->easy_strerror(rc);
	int code;

	/* curl names the fake host and port 80 for a unix socket: the OS
	 * error ("No such file or directory") says more */
	if (hc->socket_path && rc == CURLE_COULDNT_CONNECT && rep->os_errno > 0)
		why = strerror((int)rep->os_errno);
	if (rep->body.oom)
		return err_set(e, -ENOMEM, "out of memory");
	if (rc == CURLE_ABORTED_BY_CALLBACK && rep->tls_err[0])
		return err_set(e, -EACCES, "%s", rep->tls_err);
	if (rep->body.too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return err_set(e, -E2BIG,
			       "reply from libstorage server at %s is larger than %u MiB", hc->host,
			       HTTP_MAX_BODY >> 20);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		code = -ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = -ETIMEDOUT;
		break;
	case CURLE_OUT_OF_MEMORY:
		code = -ENOMEM;
		break;
	default:
		code = -EIO;
		break;
	}
	return err_set(e, code, "cannot reach libstorage server at %s: %s%s", hc->host, why,
		       tls_hint(hc, rc));
}

/* libcurl's header list: the lines of h, and no "Expect: 100-continue"
 * round trip before a large body. Returns 0 or -ENOMEM. */
static int curl_headers(const struct curldl *cu, const struct hdr_lines *h,
			struct curl_slist **out)
{
	struct curl_slist *l = cu->slist_append(NULL, "Expect:");
	const char *p = h->b.data;

	while (l && p && *p) {
		const char *eol = strstr(p, "\r\n");
		char *line = strndup(p, (size_t)(eol - p));
		struct curl_slist *n = line ? cu->slist_append(l, line) : NULL;

		free(line);
		if (!n)
			cu->slist_free_all(l);
		l = n;
		p = eol + 2;
	}
	*out = l;
	return l ? 0 : -ENOMEM;
}

/* One request through libcurl (TCP, or TLS on a socket). */
static int perform_curl(struct http_client *hc, const char *method, const char *path,
			const char *body, const struct hdr_lines *h, struct http_reply *rep,
			struct err *e)
{
	const struct curldl *cu = hc->cu;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs;
	char *url = NULL;
	CURL *c;
	CURLcode rc;

	if (curl_headers(cu, h, &hdrs) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	if (asprintf(&url, "%s%s", hc->base_url, path) < 0) {
		cu->slist_free_all(hdrs);
		return err_set(e, -ENOMEM, "out of memory");
	}
	c = conn_take(hc);
	if (!c) {
		cu->slist_free_all(hdrs);
		free(url);
		return err_set(e, -ENOMEM, "cannot create a libcurl handle");
	}
	rc = set_options(hc, c, method, url, body, hdrs, rep, errbuf);
	if (rc == CURLE_OK)
		rc = cu->easy_perform(c);
	if (rc == CURLE_OK)
		rc = cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep->status);
	else
		cu->easy_getinfo(c, CURLINFO_OS_ERRNO, &rep->os_errno);
	/* the handle must not keep pointers to what is freed below (headers,
	 * body, errbuf, rep); reset keeps the open connection */
	cu->easy_reset(c);
	conn_give(hc, c);
	cu->slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK)
		return transport_error(hc, rc, rep, errbuf, e);
	return 0;
}

/* unixhttp's failures in the words (and codes) of the libcurl transport. */
static int unix_error(const struct http_client *hc, int r, const struct unixhttp_reply *ur,
		      const struct err *ue, struct err *e)
{
	const char *hint = "";

	/* like curl's message, the OS error: "No such file or directory" */
	if (ur->connect_failed)
		return err_set(e, -ECONNREFUSED, "cannot reach libstorage server at %s: %s",
			       hc->host, strerror(-r));
	switch (r) {
	case -EFBIG:
		return err_set(e, -E2BIG,
			       "reply from libstorage server at %s is larger than %u MiB", hc->host,
			       HTTP_MAX_BODY >> 20);
	case -ENOMEM:
		return err_set(e, -ENOMEM, "out of memory");
	case -ETIMEDOUT:
		return err_set(e, -ETIMEDOUT, "cannot reach libstorage server at %s: %s", hc->host,
			       ue->msg);
	case -EINVAL: /* refused before anything was sent */
		return err_set(e, -EINVAL, "cannot send a request to libstorage server at %s: %s",
			       hc->host, ue->msg);
	case -EPROTO:
		/* a TLS server answers plain HTTP with an alert */
		hint = " (if the server uses TLS on its socket, set libstorage.tls.sockittome)";
		break;
	}
	return err_set(e, -EIO, "cannot reach libstorage server at %s: %s%s", hc->host, ue->msg,
		       hint);
}

/* One request through unixhttp (plain HTTP on a unix socket). */
static int perform_unix(struct http_client *hc, const char *method, const char *path,
			const char *body, const struct hdr_lines *h, struct http_reply *rep,
			struct err *e)
{
	const struct unixhttp_req rq = {
		.method = method,
		.target = path,
		.headers = h->b.data,
		.body = body,
		.len = body ? strlen(body) : 0,
	};
	struct unixhttp_reply ur;
	struct err ue = ERR_INIT;
	struct unixhttp *uh = conn_take(hc);
	int r;

	if (!uh)
		return err_set(e, -ENOMEM, "out of memory");
	r = unixhttp_request(uh, &rq, &ur, &ue);
	/* after a failure too: the next request makes a new connection */
	conn_give(hc, uh);
	if (r < 0)
		return unix_error(hc, r, &ur, &ue, e);
	rep->status = ur.status;
	/* the body moves into the reply's sink, which frees it */
	rep->body.buf.data = ur.body;
	rep->body.buf.len = ur.len;
	rep->body.buf.cap = ur.body ? ur.len + 1 : 0;
	return 0;
}

/*
 * Perform method on path (already escaped, with its query) and fill rep.
 * Returns 0 once a reply arrived, whatever its status, or a transport
 * error.
 */
static int http_perform(struct http_client *hc, const char *method, const char *path,
			const char *body, const struct ls_ctx *ctx, struct http_reply *rep,
			struct err *e)
{
	struct hdr_lines h = { 0 };
	int r;

	memset(rep, 0, sizeof(*rep));
	rep->body.buf.max = HTTP_MAX_BODY;
	r = build_headers(hc, &h, body != NULL, ctx, e);
	if (r == 0 && hc->native)
		r = perform_unix(hc, method, path, body, &h, rep, e);
	else if (r == 0)
		r = perform_curl(hc, method, path, body, &h, rep, e);
	buf_release(&h.b);
	return r;
}

static int status_errno(long status)
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
			const struct http_reply *rep, struct err *e)
{
	int code = status_errno(rep->status);
	char msg[ERR_MSG_MAX];

	if (rep->status < 400)
		return err_set(e, -EIO, "%s %s: unexpected HTTP status %ld from %s", method, path,
			       rep->status, hc->host);
	if (rep->status == 408)
		/* the body is the server's Task, not an error: say what it means */
		return err_set(e, code,
			       "the operation did not finish within the server's task "
			       "timeout (it goes on running on the server)");
	error_body_parse(rep->body.buf.data, rep->body.buf.len, msg, sizeof(msg), NULL);
	if (!msg[0])
		return err_set(e, code, "%s %s: HTTP %ld from %s", method, path, rep->status,
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
	struct http_reply rep;
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
	if (!out || rep.body.buf.len == 0)
		goto done;
	*out = json_loadb(rep.body.buf.data, rep.body.buf.len, 0, &jerr);
	if (!*out)
		r = err_set(e, -EIO, "bad reply from libstorage server at %s: %s", hc->host,
			    jerr.text);
done:
	sink_release(&rep.body);
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

/* ---- operations ---- */

static int op_services(struct storage_client *c, struct service_list *out, struct err *e)
{
	struct service_list l = { 0 };
	json_t *j;
	int r;

	r = http_call(impl(c), "GET", "/services", NULL, NULL, &j, e);
	if (r < 0)
		return r;
	r = service_map_from_json(j, &l, e);
	json_decref(j);
	if (r < 0)
		return reply_error(impl(c), r, e);
	*out = l;
	return 0;
}

static int op_service_inspect(struct storage_client *c, const char *svc, bool want_instance,
			      const struct ls_ctx *ctx, struct service_info *out, struct err *e)
{
	struct service_info s;
	json_t *j;
	char *path;
	int r;

	if (need("service name", svc, e) < 0)
		return -EINVAL;
	path = make_path("services", svc, NULL, want_instance ? "instance" : NULL);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), "GET", path, NULL, ctx, &j, e);
	free(path);
	if (r < 0)
		return r;
	r = service_info_from_json(j, &s, e);
	json_decref(j);
	if (r < 0)
		return reply_error(impl(c), r, e);
	*out = s;
	return 0;
}

static int op_volumes(struct storage_client *c, const char *svc, int mask, const struct ls_ctx *ctx,
		      struct volume_list *out, struct err *e)
{
	struct volume_list l = { 0 };
	char query[32];
	json_t *j;
	char *path;
	int r;

	if (need("service name", svc, e) < 0)
		return -EINVAL;
	snprintf(query, sizeof(query), "attachments=%d", mask);
	path = make_path("volumes", svc, NULL, query);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), "GET", path, NULL, ctx, &j, e);
	free(path);
	if (r < 0)
		return r;
	r = volume_map_from_json(j, &l, e);
	json_decref(j);
	if (r < 0)
		return reply_error(impl(c), r, e);
	*out = l;
	return 0;
}

/* Decode a reply that must be a Volume. */
static int volume_reply(struct storage_client *c, json_t *j, struct volume *out, struct err *e)
{
	struct volume v;
	int r;

	r = volume_from_json(j, &v, e);
	json_decref(j);
	if (r < 0)
		return reply_error(impl(c), r, e);
	*out = v;
	return 0;
}

static int op_volume_inspect(struct storage_client *c, const char *svc, const char *id_or_name,
			     bool by_name, int mask, const struct ls_ctx *ctx, struct volume *out,
			     struct err *e)
{
	char query[48];
	json_t *j;
	char *path;
	int r;

	if (need("service name", svc, e) < 0 || need("volume ID or name", id_or_name, e) < 0)
		return -EINVAL;
	snprintf(query, sizeof(query), "attachments=%d%s", mask, by_name ? "&byName" : "");
	path = make_path("volumes", svc, id_or_name, query);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), "GET", path, NULL, ctx, &j, e);
	free(path);
	if (r < 0)
		return r;
	return volume_reply(c, j, out, e);
}

/* POST a request object to path and hand back the parsed reply. */
static int post_json(struct storage_client *c, const char *path, json_t *req,
		     const struct ls_ctx *ctx, json_t **reply, struct err *e)
{
	char *body = req ? json_dump_compact(req) : NULL;
	int r;

	json_decref(req);
	if (!body)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), "POST", path, body, ctx, reply, e);
	free(body);
	return r;
}

static int op_volume_create(struct storage_client *c, const char *svc,
			    const struct volume_create_req *req, const struct ls_ctx *ctx,
			    struct volume *out, struct err *e)
{
	json_t *j;
	char *path;
	int r;

	if (need("service name", svc, e) < 0)
		return -EINVAL;
	path = make_path("volumes", svc, NULL, NULL);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = post_json(c, path, volume_create_req_to_json(req), ctx, &j, e);
	free(path);
	if (r < 0)
		return r;
	return volume_reply(c, j, out, e);
}

static int op_volume_attach(struct storage_client *c, const char *svc, const char *id,
			    const struct volume_attach_req *req, const struct ls_ctx *ctx,
			    struct volume *out, char **token, struct err *e)
{
	struct volume_attach_req none = { 0 };
	struct volume v;
	char *tok = NULL;
	json_t *j;
	char *path;
	int r;

	if (need("service name", svc, e) < 0 || need("volume ID", id, e) < 0)
		return -EINVAL;
	path = make_path("volumes", svc, id, "attach");
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = post_json(c, path, volume_attach_req_to_json(req ? req : &none), ctx, &j, e);
	free(path);
	if (r < 0)
		return r;
	r = attach_reply_from_json(j, &v, token ? &tok : NULL, e);
	json_decref(j);
	if (r < 0)
		return reply_error(impl(c), r, e);
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
	char *path;
	int r;

	if (need("service name", svc, e) < 0 || need("volume ID", id, e) < 0)
		return -EINVAL;
	path = make_path("volumes", svc, id, "detach");
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = post_json(c, path, volume_detach_req_to_json(req ? req : &none), ctx, &j, e);
	free(path);
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
	char *path;
	int r;

	if (need("service name", svc, e) < 0 || need("volume ID", id, e) < 0)
		return -EINVAL;
	path = make_path("volumes", svc, id, force ? "force" : NULL);
	if (!path)
		return err_set(e, -ENOMEM, "out of memory");
	r = http_call(impl(c), "DELETE", path, NULL, ctx, NULL, e);
	free(path);
	return r;
}

static void http_client_free(struct http_client *hc)
{
	if (!hc)
		return;
	for (int i = 0; i < hc->n_pool; i++)
		conn_free(hc, hc->pool[i]);
	pthread_mutex_destroy(&hc->mu);
	free(hc->host);
	free(hc->base_url);
	free(hc->socket_path);
	free(hc->name);
	free(hc->hostport);
	free(hc->ca_file);
	free(hc->cert_file);
	free(hc->key_file);
	if (hc->connect_to)
		hc->cu->slist_free_all(hc->connect_to);
	kh_list_release(&hc->known);
	if (hc->auth_header) {
		memset(hc->auth_header, 0, strlen(hc->auth_header));
		free(hc->auth_header);
	}
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

static int dup_opt(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

/* The URL's host is the name the certificate must carry: serverName,
 * when set, with CONNECT_TO sending the connection to the real host. */
static int tls_setup(struct http_client *hc, const struct http_client_opts *o, struct err *e)
{
	const char *name = o->server_name;
	char *ct = NULL;
	int r;

	if (hc->tls_mode == HTTP_TLS_OFF)
		return asprintf(&hc->base_url, "http://%s", hc->hostport) < 0 ? -ENOMEM : 0;
	if (dup_opt(&hc->ca_file, o->ca_file) < 0 || dup_opt(&hc->cert_file, o->cert_file) < 0 ||
	    dup_opt(&hc->key_file, o->key_file) < 0)
		return -ENOMEM;
	if (!name || hc->socket_path)
		return asprintf(&hc->base_url, "https://%s", name ? name : hc->hostport) < 0
			       ? -ENOMEM : 0;
	if (strchr(name, ':') || strchr(name, '/'))
		return err_set(e, -EINVAL, "config: libstorage.client.tls.serverName '%s' is not "
			       "a host name", name);
	if (asprintf(&hc->base_url, "https://%s:%u", name, hc->port) < 0)
		return -ENOMEM;
	r = asprintf(&ct, "%s:%u:%s", name, hc->port, hc->hostport);
	if (r < 0)
		return -ENOMEM;
	hc->connect_to = hc->cu->slist_append(NULL, ct);
	free(ct);
	return hc->connect_to ? 0 : -ENOMEM;
}

/* unixhttp for plain HTTP on a socket; libcurl, loaded now, for the rest. */
static int transport_setup(struct http_client *hc, struct err *e)
{
	hc->native = hc->socket_path && hc->tls_mode == HTTP_TLS_OFF;
	if (hc->native)
		return 0;
	return curldl_get(&hc->cu, HTTP_CURL_PURPOSE, e);
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
	if (hc)
		pthread_mutex_init(&hc->mu, NULL);
	if (!hc || !c || !(hc->host = strdup(host))) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	hc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	if ((r = parse_host(hc, host, e)) < 0 || (r = resolve_tls(hc, o, e)) < 0 ||
	    (r = transport_setup(hc, e)) < 0 || (r = tls_setup(hc, o, e)) < 0 ||
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
