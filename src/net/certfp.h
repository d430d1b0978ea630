/*
 * certfp: the fingerprint of a server certificate, as known_hosts files
 * name it: SHA-256 of the DER inside the PEM (gnutls).
 *
 * Kept out of net/httpc.c so that a binary which never pins certificates
 * (dvdcli) does not link gnutls and pay for its initialisation at every
 * start.
 */
#ifndef RR_NET_CERTFP_H
#define RR_NET_CERTFP_H

#include <stddef.h>

#define CERTFP_HEX_LEN  64 /* SHA-256 as hex without colons */
#define CERTFP_SHOW_LEN 95 /* as "AA:BB:..." */

/* Upper-case hex into hex (CERTFP_HEX_LEN + 1 bytes) and the same with
 * colons into shown (CERTFP_SHOW_LEN + 1). 0, or -EINVAL for what is not
 * a PEM certificate. */
int cert_fingerprint(const char *pem, size_t len, char *hex, char *shown);

#endif
