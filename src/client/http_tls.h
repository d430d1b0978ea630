/*
 * http_tls: the TLS half of client/rest.c. It reads the client's TLS and
 * token settings (http_client_opts_from_cfg, declared in client.h) and
 * finds what known_hosts files say about a host; client/rest.c has the
 * server certificate's fingerprint computed (net/certfp.h) and asks
 * kh_list_has about it.
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
#include "net/certfp.h"
#include "net/httpc.h"

#define KH_FILE_MAX (1024 * 1024)
#define FP_HEX_LEN  CERTFP_HEX_LEN

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

#endif
