/*
 * http: the libStorage REST API (spec/rexray.md section 3) on one
 * endpoint (server/httpd.h: unix or tcp, one thread per connection, so a
 * slow operation on one volume never delays another request; bodies over
 * 1 MiB get 413). The server and cfg are borrowed and must outlive the
 * endpoint.
 */
#ifndef RR_HTTP_H
#define RR_HTTP_H

#include <sys/types.h>

#include "util/err.h"

struct ls_server;
struct cfg;
struct http_endpoint;


int http_endpoint_start(struct ls_server *srv, const struct cfg *cfg, const char *address,
			mode_t sock_mode, struct http_endpoint **out, struct err *e);
/* Stop serving, close the socket and remove a unix socket file. NULL ok. */
void http_endpoint_stop(struct http_endpoint *ep);

/* The address actually bound (tcp port 0 resolved). */
const char *http_endpoint_address(const struct http_endpoint *ep);

#endif
