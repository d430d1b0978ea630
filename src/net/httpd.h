/*
 * httpd: the HTTP plumbing shared by the libStorage REST API and the
 * Docker plugin endpoint: a listening socket (unix or tcp), a
 * libmicrohttpd daemon with one thread per connection, request bodies
 * collected up to a limit, and one handler call per request.
 *
 * address: "unix:///path.sock" (created with sock_mode; a stale socket
 * file left by a dead process is replaced, a live one is an error, and the
 * file is removed at stop) or "tcp://host:port" ("tcp://:7979" = all
 * interfaces, port 0 = any free port). A connection idle for 60 s is
 * closed; at most 1000 connections.
 *
 * TLS (httpd_start_tls, libmicrohttpd's GnuTLS): the certificate and key
 * are PEM text; with client_cert_required every request must come over a
 * connection whose client certificate verifies against trust_pem, else it
 * is answered 403 before the handler runs. The policy of when to use TLS
 * is the caller's (server/tls.h); httpd serves what it is given.
 */
#ifndef RR_NET_HTTPD_H
#define RR_NET_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

struct httpd;
/* One request's headers and query arguments, valid during the handler
 * call; libmicrohttpd stays inside net/. */
struct httpd_request;

#define HTTPD_BODY_MAX (1024 * 1024)

/* What a handler answers. body is malloc'd (or NULL for none) and taken
 * over; content_type and the extra header are static or outlive the call. */
struct httpd_reply {
	unsigned status;
	char *body;
	const char *content_type;
	const char *header_name; /* one extra response header, or NULL */
	const char *header_value;
	/* Called once when the request ends: delivered says whether the whole
	 * reply reached the client (a client that hung up, or a server that
	 * stopped, never got it). done_arg is the callback's to free. */
	void (*done)(void *done_arg, bool delivered);
	void *done_arg;
	/* Called once just before the first byte of the body goes out (only
	 * with a body): the last moment to make the reply's promise durable
	 * before the client can see it. */
	void (*sending)(void *done_arg);
};

/*
 * One request. body is NUL-terminated (len bytes; "" when none); too_big
 * says the body passed HTTPD_BODY_MAX and was dropped: answer 413.
 * rq gives the headers and query arguments (httpd_header, httpd_*_each).
 */
typedef void (*httpd_handler)(void *arg, struct httpd_request *rq, const char *method,
			      const char *url, const char *body, size_t len, bool too_big,
			      struct httpd_reply *out);

/* The value of the request header name (case-insensitive; the first if
 * several), or NULL. */
const char *httpd_header(struct httpd_request *rq, const char *name);

/* fn for each header, or each query argument (decoded; value NULL for a
 * bare key), in order; fn returns 0 to go on, non-zero to stop. */
typedef int (*httpd_kv_fn)(void *arg, const char *key, const char *value);
void httpd_headers_each(struct httpd_request *rq, httpd_kv_fn fn, void *arg);
void httpd_args_each(struct httpd_request *rq, httpd_kv_fn fn, void *arg);

/* TLS settings; the strings are copied by httpd_start_tls. */
struct httpd_tls {
	char *cert_pem;		   /* certificate (chain), PEM */
	char *key_pem;		   /* its unencrypted private key, PEM */
	char *trust_pem;	   /* CAs for client certificates, or NULL */
	bool client_cert_required; /* needs trust_pem */
};

int httpd_start(const char *address, mode_t sock_mode, httpd_handler handler, void *arg,
		struct httpd **out, struct err *e);
/* The same with TLS when tls is not NULL. Returns 0, -EINVAL (bad
 * address), -EADDRINUSE and other -errno of listening, -ENOTSUP (this
 * libmicrohttpd has no TLS), -EIO (the daemon did not start: a bad
 * certificate or key). */
int httpd_start_tls(const char *address, mode_t sock_mode, const struct httpd_tls *tls,
		    httpd_handler handler, void *arg, struct httpd **out, struct err *e);
/* Free the strings of t (not t itself); NULL ok. */
void httpd_tls_release(struct httpd_tls *t);
/* Stop serving, close the socket, remove a unix socket file. NULL ok. */
void httpd_stop(struct httpd *h);
/* The address bound: "unix:///p" or "tcp://1.2.3.4:5" (port 0 resolved). */
const char *httpd_address(const struct httpd *h);

/* Split "unix:///p" / "tcp://h:p" into scheme and rest. 0 or -EINVAL. */
int httpd_address_parse(const char *address, char *scheme, size_t scheme_sz, char *rest,
			size_t rest_sz, struct err *e);

#endif
