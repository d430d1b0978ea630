/*
 * secret: a secret given in the configuration or on the command line (an
 * HMAC key, a bearer token): when the value names a regular file, its
 * content (at most max bytes, trailing line breaks and blanks removed),
 * else the value itself. Used by the server's auth and by clients.
 */
#ifndef RR_SECRET_H
#define RR_SECRET_H

#include <stddef.h>

#include "util/err.h"

#define SECRET_MAX 65536 /* bytes of a secret read from a file */

/* what names the setting in messages; *ret is malloc'd (NUL-terminated,
 * not counted in *ret_len). Returns 0, -EINVAL (empty), -EFBIG, -errno of
 * reading, -ENOMEM. */
int secret_read(const char *value, const char *what, size_t max, unsigned char **ret,
		size_t *ret_len, struct err *e);

/* Wipe len bytes at p (explicit_bzero: not optimised away), then free
 * p; NULL is fine. For keys and tokens, so that freed memory does not
 * keep them. secret_free_str wipes a NUL-terminated string. */
void secret_free(void *p, size_t len);
void secret_free_str(char *s);

#endif
