/*
 * auth: JSON Web Tokens (RFC 7519) signed with HMAC, and the server's
 * bearer-token policy (spec/rexray.md sections 2 and 3,
 * libstorage.server.auth.*).
 *
 * Tokens: HS256, HS384 and HS512 only (gnutls_hmac_fast); the header is
 * {"alg":..,"typ":"JWT"}, the claims used are sub, exp, iat and nbf. A
 * token is verified in this order: shape (three base64url parts, JSON
 * objects, at most JWT_MAX_LEN bytes), alg (must be the configured one;
 * "none" is always refused), signature (compared in constant time), then
 * the time claims: exp (absent or 0 = never expires; expired from exp
 * on), nbf and iat (refused when later than now + JWT_LEEWAY_S, for clock
 * skew between hosts).
 *
 * Policy (auth_policy_load): on when libstorage.server.auth.key is set
 * (the secret itself, or the path of a file holding it) and .disabled is
 * not true. Every request then needs "Authorization: Bearer <jwt>".
 * .deny and .allow are lists of subjects (or whole tokens, optionally
 * "tag:<jwt>"); a deny beats an allow; a non-empty allow admits only its
 * entries. allow or deny without a key is a configuration error.
 *
 * Every function returns 0 or a negative errno and fills e; outputs are
 * set only on success and belong to the caller. Nothing here keeps state:
 * all functions are thread-safe, and a loaded policy is read-only.
 */
#ifndef RR_AUTH_H
#define RR_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/secret.h"

struct cfg;

#define JWT_MAX_LEN  8192 /* bytes of a whole token */
#define JWT_LEEWAY_S 60	  /* seconds nbf and iat may lie in the future */
#define AUTH_KEY_MAX SECRET_MAX /* bytes of a key read from a file */

enum jwt_alg {
	JWT_HS256,
	JWT_HS384,
	JWT_HS512,
};

/* Why a token was refused; also the "reason" of a 401 body. */
enum jwt_fault {
	JWT_OK = 0,
	JWT_MISSING,	   /* no bearer token */
	JWT_MALFORMED,	   /* not header.claims.signature of base64url JSON */
	JWT_BAD_ALG,	   /* none, unknown, or not the configured alg */
	JWT_BAD_SIG,	   /* signature does not match (wrong key or tampered) */
	JWT_EXPIRED,	   /* exp has passed */
	JWT_NOT_YET_VALID, /* nbf or iat in the future */
	JWT_DENIED,	   /* valid, but the policy refuses the subject */
};

struct jwt_claims {
	char *sub;   /* NULL when absent */
	int64_t exp; /* Unix seconds; 0 when absent (never expires) */
	int64_t iat; /* 0 when absent */
	int64_t nbf; /* 0 when absent */
};

/* "HS256" (any case) -> JWT_HS256 ... Returns 0, or -EINVAL naming the
 * value ("none" and the RS/PS/ES families are refused). */
int jwt_alg_parse(const char *name, enum jwt_alg *ret, struct err *e);
const char *jwt_alg_name(enum jwt_alg alg);
/* "missing", "malformed", "alg", "signature", "expired", "notYetValid",
 * "denied" ("" for JWT_OK). */
const char *jwt_fault_name(enum jwt_fault f);

/*
 * Sign claims (sub NULL and zero times are left out) with key.
 * *ret is a malloc'd token. Returns 0, -EINVAL (empty key), -ENOMEM,
 * -EIO (the HMAC failed).
 */
int jwt_sign(enum jwt_alg alg, const void *key, size_t key_len, const struct jwt_claims *c,
	     char **ret, struct err *e);

/*
 * Verify token against alg and key at time now (Unix seconds), in the
 * order given above. On success *ret (may be NULL) gets the claims.
 * Returns 0, -EACCES for a refused token (*fault, when not NULL, says
 * why; e says it in words), -ENOMEM.
 */
int jwt_verify(const char *token, enum jwt_alg alg, const void *key, size_t key_len, int64_t now,
	       struct jwt_claims *ret, enum jwt_fault *fault, struct err *e);

/* Decode without verifying anything but the shape: new references to
 * the header and claims objects. Returns 0, -EINVAL (malformed), -ENOMEM. */
int jwt_decode(const char *token, json_t **ret_header, json_t **ret_claims, struct err *e);

void jwt_claims_release(struct jwt_claims *c);

/* Base64url without padding (RFC 4648 section 5). encode: *ret malloc'd,
 * NUL-terminated. decode: refuses padding, other characters and
 * non-zero spare bits; *ret malloc'd (NUL-terminated, not counted in
 * *ret_len). Both return 0, -EINVAL, -ENOMEM. */
int b64url_encode(const void *data, size_t len, char **ret);
int b64url_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len);

struct auth_policy {
	bool enabled;
	enum jwt_alg alg;
	unsigned char *key;
	size_t key_len;
	char **allow; /* subjects or tokens; n_allow entries */
	size_t n_allow;
	char **deny;
	size_t n_deny;
};

/* Read libstorage.server.auth.* into p (zeroed first; disabled when no
 * key is set). Returns 0, -EINVAL naming the key, -ENOMEM, -errno of
 * reading the key file. */
int auth_policy_load(const struct cfg *cfg, struct auth_policy *p, struct err *e);
void auth_policy_release(struct auth_policy *p);

/*
 * Check one request's Authorization header value (NULL when absent)
 * against an enabled policy at time now. Returns 0 (admitted), -EACCES
 * with *fault and e saying why, or -ENOMEM. *sub (may be NULL) gets the
 * token's subject, malloc'd, on success.
 */
int auth_check(const struct auth_policy *p, const char *authorization, int64_t now, char **sub,
	       enum jwt_fault *fault, struct err *e);

#endif
