/*
 * http: the libStorage REST API (spec/rexray.md section 3) on one
 * endpoint, with libmicrohttpd, one thread per connection so a slow
 * operation on one volume never delays another request.
 *
 * address: "unix:///path.sock" (socket created with sock_mode; a stale
 * socket file left by a dead server is replaced, a live one is an error)
 * or "tcp://host:port" ("tcp://:7979" = all interfaces). The server and
 * cfg are borrowed and must outlive the endpoint.
 *
 * Limits: bodies over 1 MiB get 413; a connection idle for 60 s is closed;
 * at most 1000 connections.
 */
#ifndef RR_HTTP_H
#define RR_HTTP_H

#include <sys/types.h>

#include "util/err.h"

struct ls_server;
struct cfg;
struct http_endpoint;

#define HTTP_BODY_MAX (1024 * 1024)

int http_endpoint_start(struct ls_server *srv, const struct cfg *cfg, const char *address,
			mode_t sock_mode, struct http_endpoint **out, struct err *e);
/* Stop serving, close the socket and remove a unix socket file. NULL ok. */
void http_endpoint_stop(struct http_endpoint *ep);

/* The address actually bound (tcp port 0 resolved). */
const char *http_endpoint_address(const struct http_endpoint *ep);

/* Split "unix:///p" / "tcp://h:p" into scheme and rest. 0 or -EINVAL. */
int http_address_parse(const char *address, char *scheme, size_t scheme_sz, char *rest,
		       size_t rest_sz, struct err *e);

#endif
