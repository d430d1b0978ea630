#include "net/httpd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/secret.h"
#include "util/sys.h"

#define CONN_TIMEOUT_S 60
#define CONN_LIMIT     4000	     /* idle clients must not lock others out */
#define THREAD_STACK   (256 * 1024) /* one thread per connection: keep each small */
#define TRIM_AFTER     (256 * 1024) /* a reply body this big: give the memory back after */
/* GnuTLS defaults minus the protocol versions RFC 8996 retired */
#define TLS_PRIORITIES "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS1.0"

struct httpd {
	struct MHD_Daemon *mhd;
	httpd_handler handler;
	void *arg;
	char address[PATH_MAX + 16];
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct httpd_tls tls; /* copies, kept until stop: the daemon points at them */
	bool tls_on;
};

/* A request's body as it arrives. */
struct pending {
	char *body;
	size_t len;
	bool too_big;
	void (*done)(void *done_arg, bool delivered); /* from the handler's reply */
	void *done_arg;
};

/* A body served by callback, so `sending` runs right before its first byte. */
struct feed {
	char *body;
	size_t len;
	void (*sending)(void *arg);
	void *arg;
};

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct feed *f = cls;
	size_t n;

	if (f->sending) {
		f->sending(f->arg);
		f->sending = NULL;
	}
	if (pos >= f->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = f->len - (size_t)pos < max ? f->len - (size_t)pos : max;
	memcpy(buf, f->body + pos, n);
	return (ssize_t)n;
}

/*
 * After a big reply (a listing of thousands of volumes) the freed memory
 * would stay with the connection thread's malloc arena, and each thread
 * has its own: the engine's RSS would keep the peak of every listing.
 * malloc_trim hands the free pages of all arenas back to the kernel.
 */
static void trim_after(size_t len)
{
	if (len >= TRIM_AFTER)
		malloc_trim(0);
}

static void feed_free(void *cls)
{
	struct feed *f = cls;

	free(f->body);
	trim_after(f->len);
	free(f);
}

/* MHD's free callback of a big body (it passes the buffer). */
static void body_free_trim(void *body)
{
	free(body);
	malloc_trim(0);
}

static struct MHD_Response *response_of(struct httpd_reply *rp, size_t len)
{
	struct feed *f;

	if (!rp->body)
		return MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
	if (!rp->sending && len >= TRIM_AFTER)
		return MHD_create_response_from_buffer_with_free_callback(len, rp->body,
									 body_free_trim);
	if (!rp->sending)
		return MHD_create_response_from_buffer(len, rp->body, MHD_RESPMEM_MUST_FREE);
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->body = rp->body;
	f->len = len;
	f->sending = rp->sending;
	f->arg = rp->done_arg;
	return MHD_create_response_from_callback(len, 4096, feed_read, f, feed_free);
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct httpd_reply *rp)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = rp->body ? strlen(rp->body) : 0;

	resp = response_of(rp, len);
	if (!resp) {
		free(rp->body);
		return MHD_NO;
	}
	if (rp->content_type)
		MHD_add_response_header(resp, "Content-Type", rp->content_type);
	if (rp->header_name && rp->header_value)
		MHD_add_response_header(resp, rp->header_name, rp->header_value);
	ret = MHD_queue_response(conn, rp->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct httpd_request {
	struct MHD_Connection *conn;
};

const char *httpd_header(struct httpd_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

struct kv_walk {
	httpd_kv_fn fn;
	void *arg;
};

static enum MHD_Result kv_step(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct kv_walk *w = cls;

	(void)kind;
	return w->fn(w->arg, key, value) == 0 ? MHD_YES : MHD_NO;
}

void httpd_headers_each(struct httpd_request *rq, httpd_kv_fn fn, void *arg)
{
	struct kv_walk w = { fn, arg };

	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, kv_step, &w);
}

void httpd_args_each(struct httpd_request *rq, httpd_kv_fn fn, void *arg)
{
	struct kv_walk w = { fn, arg };

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, kv_step, &w);
}

static enum MHD_Result answer(struct httpd *h, struct MHD_Connection *conn, const char *method,
			      const char *url, struct pending *p)
{
	struct httpd_reply rp = { .status = 500 };
	struct httpd_request rq = { conn };

	/* the handler's allocations are the request path's (util/sys.h) */
	sys_alloc_scope(true);
	h->handler(h->arg, &rq, method, url, p->body ? p->body : "", p->len, p->too_big, &rp);
	sys_alloc_scope(false);
	p->done = rp.done;
	p->done_arg = rp.done_arg;
	return queue(conn, &rp);
}

/* GnuTLS only asks for the client's certificate (MHD sets
 * GNUTLS_CERT_REQUEST once a trust store is given): checking that one came
 * and that it verifies is ours. */
static bool client_cert_ok(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned status = 0;

	if (!ci || !ci->tls_session)
		return false;
	if (gnutls_certificate_verify_peers2(ci->tls_session, &status) < 0)
		return false;
	return status == 0;
}

static enum MHD_Result refuse_client(struct MHD_Connection *conn)
{
	struct httpd_reply rp = {
		.status = 403,
		.body = strdup("{\"message\":\"a client certificate signed by a trusted CA is "
			       "required\",\"status\":403,\"error\":{}}"),
		.content_type = "application/json",
	};

	log_info("http: refused a connection without a valid client certificate");
	return rp.body ? queue(conn, &rp) : MHD_NO;
}

/* %XX decoding for paths and query arguments that never makes a NUL: a
 * "%00" stays as it is, so it cannot cut a path short in C strings. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *val)
{
	char *r = val, *w = val;

	(void)cls;
	(void)conn;
	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
			char hex[3] = { r[1], r[2], '\0' };
			char c = (char)strtol(hex, NULL, 16);
			if (c != '\0') {
				*w++ = c;
				r += 3;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
	return (size_t)(w - val);
}

struct framing {
	int content_length;
	bool transfer_encoding;
	bool te_chunked;
	bool bad_name;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *f = cls;
	size_t n = strlen(key);

	(void)kind;
	if (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
		f->bad_name = true;
	if (strcasecmp(key, "Content-Length") == 0)
		f->content_length++;
	if (strcasecmp(key, "Transfer-Encoding") == 0) {
		f->transfer_encoding = true;
		f->te_chunked = value && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/* Request smuggling guards: one way to frame a body, or none. */
static const char *framing_error(struct MHD_Connection *conn, unsigned *status)
{
	struct framing f = { 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
	*status = 400;
	if (f.bad_name)
		return "malformed header name (whitespace before the colon)";
	if (f.content_length > 1)
		return "more than one Content-Length";
	if (f.content_length && f.transfer_encoding)
		return "both Content-Length and Transfer-Encoding";
	if (f.transfer_encoding && !f.te_chunked) {
		*status = 501;
		return "only the chunked Transfer-Encoding is supported";
	}
	return NULL;
}

/* A request refused before any handler sees it. The body speaks both
 * protocols served here: libStorage's message/status and Docker's Err. */
static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *why)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = NULL;

	if (asprintf(&body, "{\"message\":\"%s\",\"status\":%u,\"Err\":\"%s\"}", why, status,
		     why) < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	/* the rest of this connection's bytes cannot be trusted */
	MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	struct pending *p = *con_cls;

	(void)version;
	if (!p) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned status;
		const char *why = framing_error(conn, &status);
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		*con_cls = p;
		if (why)
			return refuse(conn, status, why);
		if (h->tls.client_cert_required && !client_cert_ok(conn))
			return refuse_client(conn);
		/* refuse a declared oversized body before reading it (and before
		 * "100 Continue" invites the client to send it) */
		if (cl && strtoull(cl, NULL, 10) > HTTPD_BODY_MAX) {
			p->too_big = true;
			return answer(h, conn, method, url, p);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		if (!p->too_big && p->len + n > HTTPD_BODY_MAX)
			p->too_big = true;
		if (!p->too_big) {
			char *nb = realloc(p->body, p->len + n + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + p->len, upload_data, n);
			p->body = nb;
			p->len += n;
			p->body[p->len] = '\0';
		}
		/* past the limit the rest is read and dropped: the 413 goes out at
		 * the end, when the client is listening again */
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(h, conn, method, url, p);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct pending *p = *con_cls;

	(void)cls;
	(void)conn;
	if (p) {
		if (p->done)
			p->done(p->done_arg, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
		free(p->body);
		free(p);
	}
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

int httpd_address_parse(const char *address, char *scheme, size_t scheme_sz, char *rest,
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

static int listen_unix(struct httpd *ep, const char *path, mode_t mode, struct err *e)
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

static int listen_tcp(struct httpd *ep, const char *hostport, struct err *e)
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

static int tls_copy(struct httpd_tls *dst, const struct httpd_tls *src, struct err *e)
{
	if (!src->cert_pem || !src->key_pem)
		return err_set(e, -EINVAL, "TLS needs a certificate and a key");
	if (src->client_cert_required && !src->trust_pem)
		return err_set(e, -EINVAL, "requiring client certificates needs trusted CAs");
	dst->cert_pem = strdup(src->cert_pem);
	dst->key_pem = strdup(src->key_pem);
	dst->trust_pem = src->trust_pem ? strdup(src->trust_pem) : NULL;
	dst->client_cert_required = src->client_cert_required;
	if (!dst->cert_pem || !dst->key_pem || (src->trust_pem && !dst->trust_pem))
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

static struct MHD_Daemon *daemon_start(struct httpd *h, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls.cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls.key_pem },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES },
		{ h->tls.trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
		  h->tls.trust_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };

	if (h->tls_on)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_ARRAY, h->tls_on ? tls : none,
				MHD_OPTION_END);
}

static void httpd_free(struct httpd *h)
{
	httpd_tls_release(&h->tls);
	free(h);
}

/* The handlers' JSON values are allocated through the seam too, so that
 * a request's allocations can fail in a test like its own. Both allocators
 * free with free(): values made before the switch mix safely. */
static void json_through_seam(void)
{
	json_set_alloc_funcs(sys_malloc, free);
}

int httpd_start_tls(const char *address, mode_t sock_mode, const struct httpd_tls *tls,
		    httpd_handler handler, void *arg, struct httpd **out, struct err *e)
{
	static pthread_once_t json_once = PTHREAD_ONCE_INIT;
	char scheme[16], rest[PATH_MAX];
	struct httpd *h;
	int fd, r;

	pthread_once(&json_once, json_through_seam);
	if ((r = httpd_address_parse(address, scheme, sizeof(scheme), rest, sizeof(rest), e)) < 0)
		return r;
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return err_set(e, -ENOTSUP, "cannot serve TLS on %s: this libmicrohttpd was built "
			       "without TLS support", address);
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(e, -ENOMEM, "out of memory");
	h->handler = handler;
	h->arg = arg;
	h->tls_on = tls != NULL;
	if (tls && (r = tls_copy(&h->tls, tls, e)) < 0) {
		httpd_free(h);
		return r;
	}
	fd = strcasecmp(scheme, "unix") == 0 ? listen_unix(h, rest, sock_mode, e)
					     : listen_tcp(h, rest, e);
	if (fd < 0) {
		httpd_free(h);
		return fd;
	}
	h->mhd = daemon_start(h, fd);
	if (!h->mhd) {
		close(fd);
		if (h->unix_path[0])
			unlink(h->unix_path);
		httpd_free(h);
		return err_set(e, -EIO, "cannot start the HTTP%s server on %s%s", tls ? "S" : "",
			       address, tls ? " (is the certificate or key invalid?)" : "");
	}
	*out = h;
	return 0;
}

int httpd_start(const char *address, mode_t sock_mode, httpd_handler handler, void *arg,
		struct httpd **out, struct err *e)
{
	return httpd_start_tls(address, sock_mode, NULL, handler, arg, out, e);
}

void httpd_tls_release(struct httpd_tls *t)
{
	if (!t)
		return;
	free(t->cert_pem);
	/* the private key should not outlive its use in freed memory */
	secret_free_str(t->key_pem);
	free(t->trust_pem);
	memset(t, 0, sizeof(*t));
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	if (h->unix_path[0])
		unlink(h->unix_path);
	httpd_free(h);
}

const char *httpd_address(const struct httpd *h)
{
	return h->address;
}
