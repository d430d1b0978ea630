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
 */
#ifndef RR_HTTPD_H
#define RR_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

struct MHD_Connection;
struct httpd;

#define HTTPD_BODY_MAX (1024 * 1024)

/* What a handler answers. body is malloc'd (or NULL for none) and taken
 * over; content_type and the extra header are static or outlive the call. */
struct httpd_reply {
	unsigned status;
	char *body;
	const char *content_type;
	const char *header_name; /* one extra response header, or NULL */
	const char *header_value;
};

/*
 * One request. body is NUL-terminated (len bytes; "" when none); too_big
 * says the body passed HTTPD_BODY_MAX and was dropped: answer 413.
 * conn gives access to headers and query arguments (MHD API).
 */
typedef void (*httpd_handler)(void *arg, struct MHD_Connection *conn, const char *method,
			      const char *url, const char *body, size_t len, bool too_big,
			      struct httpd_reply *out);

int httpd_start(const char *address, mode_t sock_mode, httpd_handler handler, void *arg,
		struct httpd **out, struct err *e);
/* Stop serving, close the socket, remove a unix socket file. NULL ok. */
void httpd_stop(struct httpd *h);
/* The address bound: "unix:///p" or "tcp://1.2.3.4:5" (port 0 resolved). */
const char *httpd_address(const struct httpd *h);

/* Split "unix:///p" / "tcp://h:p" into scheme and rest. 0 or -EINVAL. */
int httpd_address_parse(const char *address, char *scheme, size_t scheme_sz, char *rest,
			size_t rest_sz, struct err *e);

#endif
