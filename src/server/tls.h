/*
 * tls: when a libStorage endpoint serves TLS, and with which files
 * (spec/rexray.md section 2, libstorage.tls.*).
 *
 * Keys, each looked up first under libstorage.server.endpoints.<name>.tls.*
 * when the endpoint has a name, then under libstorage.tls.*:
 *   certFile          server certificate, PEM (default <etc>/tls/rexray.crt)
 *   keyFile           its private key, PEM    (default <etc>/tls/rexray.key)
 *   trustedCertsFile  CAs for client certificates (default <etc>/tls/cacerts)
 *   clientCertRequired  every request needs a client certificate (false)
 *   disabled          never TLS; also allows plain HTTP on any address
 * <etc> is paths->etc (/etc/rexray, or under $REXRAY_HOME).
 *
 * The decision: TLS when not disabled and the certificate and key exist
 * (an explicitly configured file that is missing is an error, not a
 * silent fall back to plain HTTP). A unix socket never uses TLS unless
 * LIBSTORAGE_TLS_SOCKITTOME (libstorage.tls.sockittome) is true. A TCP
 * endpoint without TLS must be on a loopback address (127.0.0.0/8, ::1,
 * localhost, or a name resolving only to those) unless TLS is disabled
 * explicitly: anything else would put volumes and tokens on the network
 * in clear text, so it refuses to start.
 */
#ifndef RR_TLS_H
#define RR_TLS_H

#include <stdbool.h>

#include "net/httpd.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;

#define TLS_FILE_MAX (1024 * 1024) /* bytes of one PEM file */

/*
 * Decide TLS for the endpoint at address (named endpoint_name under
 * libstorage.server.endpoints, or NULL). *enabled tells whether TLS is
 * on; when it is, out holds the PEM texts (release with
 * httpd_tls_release), else out is zeroed. The certificate, key and
 * trusted CAs are parsed here, so a bad file is reported by name.
 * Returns 0, -EPERM (plain HTTP on a non-loopback TCP address, with the
 * fix in the message), -ENOENT (a configured file is missing), -EINVAL
 * (bad value or PEM), -EFBIG, -ENOMEM, another -errno of reading.
 */
int tls_server_config(const struct cfg *cfg, const struct paths *paths, const char *endpoint_name,
		      const char *address, struct httpd_tls *out, bool *enabled, struct err *e);

/* The host part of "tcp://host:port" into buf ("" for "tcp://:7979"),
 * brackets of an IPv6 address removed. Returns 0 or -EINVAL. */
int tls_address_host(const char *address, char *buf, size_t bufsz);

#endif
