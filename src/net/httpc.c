/* httpc: the HTTP client (httpc.h says what it does). */
#include "net/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "net/curldl.h"
#include "net/unixhttp.h"
#include "util/buf.h"

struct httpc {
	pthread_mutex_t mu;
	void *pool[HTTPC_POOL_MAX]; /* idle: struct unixhttp * (native) or CURL * */
	int n_pool;
	bool native;		 /* plain HTTP on a unix socket: unixhttp, no libcurl */
	bool https;
	const struct curldl *cu; /* libcurl when !native, else NULL */
	char *base_url;
	char *unix_host; /* the Host header on a socket */
	char *socket_path;
	char *ca_file, *cert_file, *key_file;
	struct curl_slist *connect_to;
	long timeout_ms;
	size_t max_body;
	bool no_proxy, insecure;
	bool (*cert_known)(void *arg, const char *pem, size_t len, char *shown);
	void *cert_arg;
};

/* A reply body as libcurl delivers it, growing up to max_body. */
struct sink {
	struct buf buf;
	bool too_big, oom;
};

/* What one libcurl transfer needs besides the handle. */
struct transfer {
	struct httpc *c;
	CURL *curl;
	struct sink body;
	struct httpc_reply *rep;
};

static int fail(struct httpc_reply *rep, enum httpc_fail why, int code, struct err *e,
		const char *msg)
{
	rep->fail = why;
	return err_set(e, code, "%s", msg);
}

/* ---- the connection pool ---- */

static void *conn_new(struct httpc *c)
{
	struct unixhttp *uh;

	if (!c->native)
		return c->cu->easy_init();
	uh = malloc(sizeof(*uh));
	/* the path, host and timeout were checked when the client was made */
	if (uh && unixhttp_init(uh, c->socket_path, c->unix_host, c->timeout_ms, c->max_body,
				NULL) < 0) {
		free(uh);
		uh = NULL;
	}
	return uh;
}

static void conn_free(struct httpc *c, void *conn)
{
	if (!c->native) {
		c->cu->easy_cleanup(conn);
		return;
	}
	unixhttp_release(conn);
	free(conn);
}

/* An idle connection, or a new one; NULL when out of memory. */
static void *conn_take(struct httpc *c)
{
	void *conn = NULL;

	pthread_mutex_lock(&c->mu);
	if (c->n_pool > 0)
		conn = c->pool[--c->n_pool];
	pthread_mutex_unlock(&c->mu);
	return conn ? conn : conn_new(c);
}

/* Back to the pool, or closed when the pool is full. */
static void conn_give(struct httpc *c, void *conn)
{
	pthread_mutex_lock(&c->mu);
	if (c->n_pool < HTTPC_POOL_MAX) {
		c->pool[c->n_pool++] = conn;
		conn = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	if (conn)
		conn_free(c, conn);
}

/* ---- plain HTTP on a unix socket ---- */

static int unix_failure(int r, const struct unixhttp_reply *ur, const struct err *ue,
			struct httpc_reply *rep, struct err *e)
{
	if (ur->connect_failed) {
		rep->os_errno = -r;
		return fail(rep, HTTPC_CONNECT, r, e, strerror(-r));
	}
	switch (r) {
	case -EFBIG:
		return fail(rep, HTTPC_TOO_BIG, -EFBIG, e, ue->msg);
	case -ENOMEM:
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "out of memory");
	case -ETIMEDOUT:
		return fail(rep, HTTPC_TIMEOUT, -ETIMEDOUT, e, ue->msg);
	case -EINVAL: /* refused before anything was sent */
		return fail(rep, HTTPC_REFUSED, -EINVAL, e, ue->msg);
	case -EPROTO:
		return fail(rep, HTTPC_PROTO, -EIO, e, ue->msg);
	}
	return fail(rep, HTTPC_IO, -EIO, e, ue->msg);
}

static int perform_unix(struct httpc *c, const struct httpc_req *req, struct httpc_reply *rep,
			struct err *e)
{
	const struct unixhttp_req rq = {
		.method = req->method,
		.target = req->target,
		.headers = req->headers,
		.body = req->body,
		.len = req->len,
	};
	struct unixhttp_reply ur;
	struct err ue = ERR_INIT;
	struct unixhttp *uh = conn_take(c);
	int r;

	if (!uh)
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "out of memory");
	r = unixhttp_request(uh, &rq, &ur, &ue);
	/* after a failure too: the next request makes a new connection */
	conn_give(c, uh);
	if (r < 0)
		return unix_failure(r, &ur, &ue, rep, e);
	rep->status = ur.status;
	rep->body = ur.body; /* moves into the reply */
	rep->len = ur.len;
	return 0;
}

/* ---- libcurl ---- */

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	int r = buf_add(&s->buf, ptr, n);

	if (r == 0)
		return n;
	if (r == -EFBIG)
		s->too_big = true;
	else
		s->oom = true;
	return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
}

/* After the handshake, before the request: is the certificate a known one? */
static int on_prereq(void *cls, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	struct transfer *t = cls;
	struct curl_certinfo *ci = NULL;
	const char *pem = NULL;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (t->c->cu->easy_getinfo(t->curl, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
	    ci->num_of_certs > 0) {
		for (struct curl_slist *l = ci->certinfo[0]; l && !pem; l = l->next)
			pem = strncmp(l->data, "Cert:", 5) == 0 ? l->data + 5 : NULL;
	}
	t->rep->fail = HTTPC_CERT_UNKNOWN;
	t->rep->cert_fp[0] = '\0';
	if (!pem || !t->c->cert_known(t->c->cert_arg, pem, strlen(pem), t->rep->cert_fp))
		return CURL_PREREQFUNC_ABORT;
	t->rep->fail = HTTPC_OK;
	return CURL_PREREQFUNC_OK;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = c->cu->easy_setopt(t->curl, opt, val);                                \
	} while (0)

static CURLcode tls_options(struct httpc *c, struct transfer *t)
{
	CURLcode rc = CURLE_OK;

	if (c->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		SET(CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file)
		SET(CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		SET(CURLOPT_SSLKEY, c->key_file);
	if (c->connect_to)
		SET(CURLOPT_CONNECT_TO, c->connect_to);
	if (c->cert_known) {
		/* a reused connection carries no certificate to check: every
		 * request makes (and checks) its own */
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_FORBID_REUSE, 1L);
		SET(CURLOPT_CERTINFO, 1L);
		SET(CURLOPT_PREREQFUNCTION, on_prereq);
		SET(CURLOPT_PREREQDATA, t);
	}
	return rc;
}

static CURLcode set_options(struct httpc *c, struct transfer *t, const struct httpc_req *req,
			    const char *url, struct curl_slist *hdrs, char *errbuf)
{
	bool post = req->body || strcmp(req->method, "POST") == 0;
	CURLcode rc = CURLE_OK;

	/* reset keeps the connection cache, so keep-alive survives */
	c->cu->easy_reset(t->curl);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, c->https ? "https" : "http");
	SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, sink_write);
	SET(CURLOPT_WRITEDATA, &t->body);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	if (c->no_proxy)
		SET(CURLOPT_PROXY, "");
	if (c->socket_path)
		SET(CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	if (post) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE, (long)req->len);
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	if (rc == CURLE_OK && c->https)
		rc = tls_options(c, t);
	return rc;
}
#undef SET

/* libcurl's header list: no "Expect: 100-continue" round trip, no form
 * Content-Type of its own on a POST, then the caller's lines.
 * Returns 0 or -ENOMEM. */
static int curl_headers(const struct curldl *cu, const char *lines, bool post,
			struct curl_slist **out)
{
	struct curl_slist *l = cu->slist_append(NULL, "Expect:");
	const char *p = lines;

	if (l && post && !(lines && strcasestr(lines, "Content-Type:"))) {
		struct curl_slist *n = cu->slist_append(l, "Content-Type:");
		if (!n)
			cu->slist_free_all(l);
		l = n;
	}
	while (l && p && *p) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *line = strndup(p, len);
		struct curl_slist *n = line ? cu->slist_append(l, line) : NULL;

		free(line);
		if (!n)
			cu->slist_free_all(l);
		l = n;
		p += len + (eol ? 2 : 0);
	}
	*out = l;
	return l ? 0 : -ENOMEM;
}

static enum httpc_fail curl_failure_kind(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return HTTPC_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_TIMEOUT;
	case CURLE_OUT_OF_MEMORY:
		return HTTPC_NOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTPC_TOO_BIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return HTTPC_CERT_UNTRUSTED;
	case CURLE_SSL_CERTPROBLEM:
		return HTTPC_CERT_LOCAL;
	case CURLE_SSL_CONNECT_ERROR:
		return HTTPC_TLS_HANDSHAKE;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
		return HTTPC_NO_REPLY;
	default:
		return HTTPC_IO;
	}
}

static int curl_failure(struct httpc *c, CURLcode rc, const struct transfer *t,
			const char *errbuf, struct err *e)
{
	struct httpc_reply *rep = t->rep;
	const char *why = errbuf[0] ? errbuf : c->cu->easy_strerror(rc);
	enum httpc_fail kind = curl_failure_kind(rc);

	if (t->body.oom)
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "out of memory");
	if (rc == CURLE_ABORTED_BY_CALLBACK && rep->fail == HTTPC_CERT_UNKNOWN)
		return fail(rep, HTTPC_CERT_UNKNOWN, -EACCES, e, "unknown server certificate");
	if (t->body.too_big)
		kind = HTTPC_TOO_BIG;
	switch (kind) {
	case HTTPC_CONNECT:
		/* curl names a fake host and port 80 for a unix socket: the
		 * OS error ("No such file or directory") says more */
		if (c->socket_path && rep->os_errno > 0)
			why = strerror(rep->os_errno);
		return fail(rep, kind, rep->os_errno > 0 ? -rep->os_errno : -ECONNREFUSED, e,
			    why);
	case HTTPC_TIMEOUT:
		return fail(rep, kind, -ETIMEDOUT, e, why);
	case HTTPC_TOO_BIG:
		return fail(rep, kind, -EFBIG, e, "the reply is too large");
	case HTTPC_NOMEM:
		return fail(rep, kind, -ENOMEM, e, "out of memory");
	default:
		return fail(rep, kind, -EIO, e, why);
	}
}

static int perform_curl(struct httpc *c, const struct httpc_req *req, struct httpc_reply *rep,
			struct err *e)
{
	const struct curldl *cu = c->cu;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct transfer t = { .c = c, .rep = rep, .body = { .buf = { .max = c->max_body } } };
	struct curl_slist *hdrs;
	char *url = NULL;
	long status = 0, os_errno = 0;
	CURLcode rc;

	if (curl_headers(cu, req->headers, req->body || strcmp(req->method, "POST") == 0,
			 &hdrs) < 0)
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "out of memory");
	if (asprintf(&url, "%s%s", c->base_url, req->target) < 0) {
		cu->slist_free_all(hdrs);
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "out of memory");
	}
	t.curl = conn_take(c);
	if (!t.curl) {
		cu->slist_free_all(hdrs);
		free(url);
		return fail(rep, HTTPC_NOMEM, -ENOMEM, e, "cannot create a libcurl handle");
	}
	rc = set_options(c, &t, req, url, hdrs, errbuf);
	if (rc == CURLE_OK)
		rc = cu->easy_perform(t.curl);
	if (rc == CURLE_OK)
		rc = cu->easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
	else if (cu->easy_getinfo(t.curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK)
		rep->os_errno = (int)os_errno;
	/* the handle must not keep pointers to what is freed below (headers,
	 * body, errbuf, t); reset keeps the open connection */
	cu->easy_reset(t.curl);
	conn_give(c, t.curl);
	cu->slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK) {
		int r = curl_failure(c, rc, &t, errbuf, e);
		buf_release(&t.body.buf);
		return r;
	}
	rep->status = (int)status;
	rep->body = t.body.buf.data; /* moves into the reply */
	rep->len = t.body.buf.len;
	return 0;
}

/* ---- the client ---- */

int httpc_request(struct httpc *c, const struct httpc_req *req, struct httpc_reply *rep,
		  struct err *e)
{
	memset(rep, 0, sizeof(*rep));
	return c->native ? perform_unix(c, req, rep, e) : perform_curl(c, req, rep, e);
}

void httpc_reply_release(struct httpc_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
	rep->len = 0;
}

bool httpc_native(const struct httpc *c)
{
	return c->native;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_pool; i++)
		conn_free(c, c->pool[i]);
	pthread_mutex_destroy(&c->mu);
	if (c->connect_to)
		c->cu->slist_free_all(c->connect_to);
	free(c->base_url);
	free(c->unix_host);
	free(c->socket_path);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

static int copy_opts(struct httpc *c, const struct httpc_opts *o, struct err *e)
{
	const char *host = strstr(o->base_url, "://");

	if (!host || !host[3])
		return err_set(e, -EINVAL, "bad base URL '%s'", o->base_url);
	if (o->timeout_ms <= 0 || o->max_body == 0)
		return err_set(e, -EINVAL, "bad timeout or reply size limit");
	c->https = strncasecmp(o->base_url, "https://", 8) == 0;
	c->native = o->socket_path && !c->https;
	c->timeout_ms = o->timeout_ms;
	c->max_body = o->max_body;
	c->no_proxy = o->no_proxy;
	c->insecure = o->insecure;
	c->cert_known = o->cert_known;
	c->cert_arg = o->cert_arg;
	if (dup_opt(&c->base_url, o->base_url) < 0 || dup_opt(&c->unix_host, host + 3) < 0 ||
	    dup_opt(&c->socket_path, o->socket_path) < 0 || dup_opt(&c->ca_file, o->ca_file) < 0 ||
	    dup_opt(&c->cert_file, o->cert_file) < 0 || dup_opt(&c->key_file, o->key_file) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* A socket path unixhttp and libcurl both take. */
static int check_socket(const char *path, struct err *e)
{
	struct sockaddr_un sun;

	if (!*path)
		return err_set(e, -EINVAL, "empty socket path");
	if (strlen(path) >= sizeof(sun.sun_path))
		return err_set(e, -ENAMETOOLONG, "socket path is too long");
	return 0;
}

int httpc_new(const struct httpc_opts *o, struct httpc **out, struct err *e)
{
	struct httpc *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	if ((r = copy_opts(c, o, e)) < 0 || (c->socket_path && (r = check_socket(c->socket_path, e)) < 0))
		goto fail;
	if (!c->native && (r = curldl_get(&c->cu, o->purpose ? o->purpose : "HTTP over TCP or TLS",
					  e)) < 0)
		goto fail;
	if (c->cu && o->connect_to && !(c->connect_to = c->cu->slist_append(NULL, o->connect_to))) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	httpc_free(c);
	return r;
}
