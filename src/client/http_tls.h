/*
 * http_tls: the TLS half of client/rest.c. It reads the client's TLS and
 * token settings (http_client_opts_from_cfg, declared in client.h),
 * finds what known_hosts files say about a host, and computes the
 * SHA-256 fingerprint of a server certificate as libcurl hands it over
 * (CURLINFO_CERTINFO gives PEM; GnuTLS decodes and hashes it).
 *
 * known_hosts lines are SSH-like: "HOST[,HOST...] sha256 AA:BB:...", '#'
 * starts a comment. HOST is a name or address, optionally with the port
 * ("h:7979", "[::1]:7979"). Fingerprints compare without case or colons.
 */
#ifndef RR_CLIENT_HTTP_TLS_H
#define RR_CLIENT_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "client/client.h"

#define KH_FILE_MAX (1024 * 1024)
#define FP_HEX_LEN  64 /* SHA-256 as hex without colons */
#define FP_SHOW_LEN 95 /* as "AA:BB:..." */

/* The fingerprints known for one host (normalised: upper-case hex). */
struct kh_list {
	char (*fps)[FP_HEX_LEN + 1];
	size_t n;
	char sources[512]; /* where it looked, for messages */
};

/*
 * Collect what o's inline line and known_hosts files say about host
 * (no brackets) and port into *out. Missing files are skipped. Returns
 * 0, -ENOMEM, or -errno of reading an existing file (-EINVAL for a
 * malformed fingerprint on the host's line, naming file and line).
 */
int kh_lookup(const struct http_client_opts *o, const char *host, unsigned port,
	      struct kh_list *out, struct err *e);
void kh_list_release(struct kh_list *l);
bool kh_list_has(const struct kh_list *l, const char *fp_hex);

/* SHA-256 of the DER inside a PEM certificate: hex (FP_HEX_LEN + 1
 * bytes) and shown with colons (FP_SHOW_LEN + 1). 0 or -EINVAL. */
int cert_fingerprint(const char *pem, size_t len, char *hex, char *shown);

#endif
