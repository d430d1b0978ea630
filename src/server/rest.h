/*
 * rest: the libStorage REST API (spec/rexray.md section 3) on one
 * endpoint (net/httpd.h: unix or tcp, one thread per connection, so a
 * slow operation on one volume never delays another request; bodies over
 * 1 MiB get 413). The server and cfg are borrowed and must outlive the
 * endpoint.
 *
 * Security, read from cfg when the endpoint starts: TLS as server/tls.h
 * decides (per-endpoint settings when address is the address of a
 * libstorage.server.endpoints.<name>), and bearer tokens as
 * server/auth.h's policy says: with libstorage.server.auth.key set, a
 * request without a valid token is answered 401 before routing, on
 * every endpoint, unix sockets included.
 */
#ifndef RR_REST_H
#define RR_REST_H

#include <sys/types.h>

#include "util/err.h"

struct ls_server;
struct cfg;
struct http_endpoint;
struct paths;

/*
 * Listen on address ("unix:///p.sock", "tcp://host:port") and serve.
 * paths gives the defaults of the TLS files (<etc>/tls/...).
 * Returns 0, or -errno with e saying why: -EPERM for plain HTTP on a
 * non-loopback TCP address (see server/tls.h), -EINVAL for bad
 * auth or TLS settings, the errors of httpd_start_tls.
 */
int http_endpoint_start_paths(struct ls_server *srv, const struct cfg *cfg,
			      const struct paths *paths, const char *address, mode_t sock_mode,
			      struct http_endpoint **out, struct err *e);
/* The same with the paths of the environment (paths_init). */
int http_endpoint_start(struct ls_server *srv, const struct cfg *cfg, const char *address,
			mode_t sock_mode, struct http_endpoint **out, struct err *e);
/* Stop serving, close the socket and remove a unix socket file. NULL ok. */
void http_endpoint_stop(struct http_endpoint *ep);

/* The address actually bound (tcp port 0 resolved). */
const char *http_endpoint_address(const struct http_endpoint *ep);

#endif
