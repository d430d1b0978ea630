#include "net/certfp.h"

#include <errno.h>
#include <stdio.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

int cert_fingerprint(const char *pem, size_t len, char *hex, char *shown)
{
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)len }, der = { NULL, 0 };
	unsigned char d[32];
	int r;

	r = gnutls_pem_base64_decode2("CERTIFICATE", &in, &der);
	if (r < 0)
		return -EINVAL;
	r = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, d);
	gnutls_free(der.data);
	if (r < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(d); i++) {
		snprintf(hex + 2 * i, 3, "%02X", d[i]);
		snprintf(shown + 3 * i, 4, i + 1 < sizeof(d) ? "%02X:" : "%02X", d[i]);
	}
	return 0;
}
