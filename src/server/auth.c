#include "server/auth.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "api/codec.h"
#include "config/config.h"
#include "util/fs.h"
#include "util/secret.h"
#include "util/jsondump.h"

#define JWT_MAC_MAX 64 /* SHA-512 */

static const struct {
	const char *name;
	gnutls_mac_algorithm_t mac;
	size_t len;
} algs[] = {
	[JWT_HS256] = { "HS256", GNUTLS_MAC_SHA256, 32 },
	[JWT_HS384] = { "HS384", GNUTLS_MAC_SHA384, 48 },
	[JWT_HS512] = { "HS512", GNUTLS_MAC_SHA512, 64 },
};

int jwt_alg_parse(const char *name, enum jwt_alg *ret, struct err *e)
{
	for (size_t i = 0; name && i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strcasecmp(name, algs[i].name) == 0) {
			*ret = (enum jwt_alg)i;
			return 0;
		}
	}
	return err_set(e, -EINVAL, "token algorithm '%s' is not supported: use HS256, HS384 or "
		       "HS512", name ? name : "");
}

const char *jwt_alg_name(enum jwt_alg alg)
{
	return algs[alg].name;
}

const char *jwt_fault_name(enum jwt_fault f)
{
	static const char *const names[] = {
		[JWT_OK] = "",
		[JWT_MISSING] = "missing",
		[JWT_MALFORMED] = "malformed",
		[JWT_BAD_ALG] = "alg",
		[JWT_BAD_SIG] = "signature",
		[JWT_EXPIRED] = "expired",
		[JWT_NOT_YET_VALID] = "notYetValid",
		[JWT_DENIED] = "denied",
	};

	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "";
}

/* ---- base64url ---- */

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_encode(const void *data, size_t len, char **ret)
{
	const unsigned char *p = data;
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	if (!out)
		return -ENOMEM;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64url_chars[v >> 18 & 63];
		*o++ = b64url_chars[v >> 12 & 63];
		*o++ = b64url_chars[v >> 6 & 63];
		*o++ = b64url_chars[v & 63];
	}
	if (len - i == 1) {
		*o++ = b64url_chars[p[i] >> 2];
		*o++ = b64url_chars[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
		*o++ = b64url_chars[v >> 10 & 63];
		*o++ = b64url_chars[v >> 4 & 63];
		*o++ = b64url_chars[(v & 15) << 2];
	}
	*o = '\0';
	*ret = out;
	return 0;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url_chars, c) : NULL;

	return p ? (int)(p - b64url_chars) : -1;
}

int b64url_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	/* one leftover character carries only 6 bits: never a whole byte */
	if (len % 4 == 1)
		return -EINVAL;
	out = malloc(len / 4 * 3 + 3);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(s[i]);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* the spare bits of the last character must be zero: one encoding
	 * per value, so a token cannot be altered without changing its bytes */
	if (acc & ((1u << bits) - 1)) {
		free(out);
		return -EINVAL;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

/* ---- signing ---- */

static int mac(enum jwt_alg alg, const void *key, size_t key_len, const char *data, size_t len,
	       unsigned char *out, struct err *e)
{
	int r = gnutls_hmac_fast(algs[alg].mac, key, key_len, data, len, out);

	if (r < 0)
		return err_set(e, -EIO, "HMAC %s failed: %s", algs[alg].name, gnutls_strerror(r));
	return 0;
}

/* Equal bytes, in a time that does not depend on where they differ. */
static bool mac_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	volatile unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static char *b64url_json(json_t *j)
{
	char *text = j ? json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *out = NULL;

	json_decref(j);
	if (text && b64url_encode(text, strlen(text), &out) < 0)
		out = NULL;
	free(text);
	return out;
}

/* jwt-go's claim order: exp, iat, nbf, sub */
static json_t *claims_json(const struct jwt_claims *c)
{
	json_t *j = json_object();
	int r = 0;

	if (j && c->exp)
		r |= json_object_set_new(j, "exp", json_integer(c->exp));
	if (j && c->iat)
		r |= json_object_set_new(j, "iat", json_integer(c->iat));
	if (j && c->nbf)
		r |= json_object_set_new(j, "nbf", json_integer(c->nbf));
	if (j && c->sub)
		r |= json_object_set_new(j, "sub", json_string(c->sub));
	if (r) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int jwt_sign(enum jwt_alg alg, const void *key, size_t key_len, const struct jwt_claims *c,
	     char **ret, struct err *e)
{
	unsigned char sig[JWT_MAC_MAX];
	char *hdr, *body, *b64sig = NULL, *signing = NULL, *tok = NULL;
	int r = -ENOMEM;

	if (!key_len)
		return err_set(e, -EINVAL, "the signing key is empty");
	hdr = b64url_json(json_pack("{s:s,s:s}", "alg", algs[alg].name, "typ", "JWT"));
	body = b64url_json(claims_json(c));
	if (!hdr || !body || asprintf(&signing, "%s.%s", hdr, body) < 0) {
		signing = NULL;
		goto out;
	}
	if ((r = mac(alg, key, key_len, signing, strlen(signing), sig, e)) < 0)
		goto out;
	r = -ENOMEM;
	if (b64url_encode(sig, algs[alg].len, &b64sig) < 0 ||
	    asprintf(&tok, "%s.%s", signing, b64sig) < 0)
		goto out;
	*ret = tok;
	r = 0;
out:
	if (r == -ENOMEM)
		err_set(e, r, "out of memory");
	free(hdr);
	free(body);
	free(signing);
	free(b64sig);
	return r;
}

/* ---- parsing and verifying ---- */

/* A token split into its parts, the first two decoded. */
struct jwt_parts {
	json_t *header;
	json_t *claims;
	size_t signing_len; /* bytes of "header.claims" */
	const char *sig;    /* base64url signature, inside the token */
};

static void parts_release(struct jwt_parts *p)
{
	json_decref(p->header);
	json_decref(p->claims);
	memset(p, 0, sizeof(*p));
}

static int malformed(enum jwt_fault *fault, struct err *e, const char *why)
{
	*fault = JWT_MALFORMED;
	return err_set(e, -EACCES, "malformed token: %s", why);
}

static int decode_object(const char *s, size_t len, json_t **ret, int *oom)
{
	json_error_t jerr;
	unsigned char *raw;
	size_t n;
	int r = b64url_decode(s, len, &raw, &n);

	*oom = r == -ENOMEM;
	if (r < 0)
		return r;
	*ret = json_parse_text((const char *)raw, n, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (!*ret) {
		*oom = json_load_oom(&jerr);
		return *oom ? -ENOMEM : -EINVAL;
	}
	if (!json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		return -EINVAL;
	}
	return 0;
}

static int parts_parse(const char *tok, struct jwt_parts *p, enum jwt_fault *fault,
		       struct err *e)
{
	const char *d1, *d2;
	size_t len;
	int oom;

	memset(p, 0, sizeof(*p));
	len = tok ? strnlen(tok, JWT_MAX_LEN + 1) : 0;
	if (!len)
		return malformed(fault, e, "empty");
	if (len > JWT_MAX_LEN)
		return malformed(fault, e, "longer than 8192 bytes");
	d1 = strchr(tok, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 || strchr(d2 + 1, '.'))
		return malformed(fault, e, "expected three parts separated by '.'");
	if (decode_object(tok, (size_t)(d1 - tok), &p->header, &oom) < 0) {
		if (oom)
			return err_set(e, -ENOMEM, "out of memory");
		return malformed(fault, e, "the header is not base64url-encoded JSON object");
	}
	if (decode_object(d1 + 1, (size_t)(d2 - d1 - 1), &p->claims, &oom) < 0) {
		parts_release(p);
		if (oom)
			return err_set(e, -ENOMEM, "out of memory");
		return malformed(fault, e, "the claims are not a base64url-encoded JSON object");
	}
	p->signing_len = (size_t)(d2 - tok);
	p->sig = d2 + 1;
	return 0;
}

static int check_alg(const json_t *header, enum jwt_alg want, enum jwt_fault *fault,
		     struct err *e)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	const char *typ = json_string_value(json_object_get(header, "typ"));

	*fault = JWT_BAD_ALG;
	if (!alg)
		return err_set(e, -EACCES, "token has no alg");
	if (strcasecmp(alg, "none") == 0)
		return err_set(e, -EACCES, "token alg 'none' is never accepted");
	if (strcmp(alg, algs[want].name) != 0)
		return err_set(e, -EACCES, "token alg '%.16s' is not the configured %s", alg,
			       algs[want].name);
	if (json_object_get(header, "typ") && (!typ || strcasecmp(typ, "JWT") != 0)) {
		*fault = JWT_MALFORMED;
		return err_set(e, -EACCES, "malformed token: typ is not JWT");
	}
	*fault = JWT_OK;
	return 0;
}

static int check_sig(const char *tok, const struct jwt_parts *p, enum jwt_alg alg,
		     const void *key, size_t key_len, enum jwt_fault *fault, struct err *e)
{
	unsigned char want[JWT_MAC_MAX], *got = NULL;
	size_t got_len = 0;
	int r;

	if ((r = mac(alg, key, key_len, tok, p->signing_len, want, e)) < 0)
		return r;
	r = b64url_decode(p->sig, strlen(p->sig), &got, &got_len);
	if (r == -ENOMEM)
		return err_set(e, r, "out of memory");
	if (r < 0 || got_len != algs[alg].len || !mac_equal(want, got, got_len)) {
		free(got);
		*fault = JWT_BAD_SIG;
		return err_set(e, -EACCES, "token signature is invalid");
	}
	free(got);
	return 0;
}

/* A NumericDate claim: absent (0), or a non-negative number of seconds. */
static int time_claim(const json_t *claims, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(claims, name);
	double d;

	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return *out < 0 ? -EINVAL : 0;
	}
	if (!json_is_real(v))
		return -EINVAL;
	d = json_real_value(v);
	if (!(d >= 0 && d < 9.2e18))
		return -EINVAL;
	*out = (int64_t)d; /* d >= 0: truncation is floor */
	return 0;
}

static int claims_parse(const json_t *j, struct jwt_claims *c, enum jwt_fault *fault,
			struct err *e)
{
	const json_t *sub = json_object_get(j, "sub");

	memset(c, 0, sizeof(*c));
	if (time_claim(j, "exp", &c->exp) < 0 || time_claim(j, "iat", &c->iat) < 0 ||
	    time_claim(j, "nbf", &c->nbf) < 0)
		return malformed(fault, e, "exp, iat and nbf must be non-negative numbers");
	if (sub && !json_is_string(sub))
		return malformed(fault, e, "sub must be a string");
	if (sub && !(c->sub = strdup(json_string_value(sub))))
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

static int check_times(const struct jwt_claims *c, int64_t now, enum jwt_fault *fault,
		       struct err *e)
{
	if (c->exp && now >= c->exp) {
		*fault = JWT_EXPIRED;
		return err_set(e, -EACCES, "token expired %lld s ago",
			       (long long)(now - c->exp));
	}
	if (c->nbf && c->nbf > now + JWT_LEEWAY_S) {
		*fault = JWT_NOT_YET_VALID;
		return err_set(e, -EACCES, "token is not valid yet (nbf is %lld s in the future)",
			       (long long)(c->nbf - now));
	}
	if (c->iat && c->iat > now + JWT_LEEWAY_S) {
		*fault = JWT_NOT_YET_VALID;
		return err_set(e, -EACCES, "token is not valid yet (issued %lld s in the future)",
			       (long long)(c->iat - now));
	}
	return 0;
}

int jwt_verify(const char *token, enum jwt_alg alg, const void *key, size_t key_len, int64_t now,
	       struct jwt_claims *ret, enum jwt_fault *fault, struct err *e)
{
	enum jwt_fault f = JWT_OK;
	struct jwt_claims c = { 0 };
	struct jwt_parts p;
	int r;

	if ((r = parts_parse(token, &p, &f, e)) < 0)
		goto out;
	if ((r = check_alg(p.header, alg, &f, e)) < 0)
		goto out;
	if ((r = check_sig(token, &p, alg, key, key_len, &f, e)) < 0)
		goto out;
	if ((r = claims_parse(p.claims, &c, &f, e)) < 0)
		goto out;
	if ((r = check_times(&c, now, &f, e)) < 0)
		goto out;
	if (ret) {
		*ret = c;
		memset(&c, 0, sizeof(c));
	}
out:
	jwt_claims_release(&c);
	parts_release(&p);
	if (fault)
		*fault = f;
	return r;
}

int jwt_decode(const char *token, json_t **ret_header, json_t **ret_claims, struct err *e)
{
	enum jwt_fault f;
	struct jwt_parts p;
	int r = parts_parse(token, &p, &f, e);

	if (r == -EACCES) {
		if (e)
			e->code = -EINVAL;
		return -EINVAL;
	}
	if (r < 0)
		return r;
	*ret_header = p.header;
	*ret_claims = p.claims;
	return 0;
}

void jwt_claims_release(struct jwt_claims *c)
{
	if (!c)
		return;
	free(c->sub);
	memset(c, 0, sizeof(*c));
}

/* ---- secrets ---- */

/* ---- the server's policy ---- */

static void list_free(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* An allow/deny entry that is a token ("eyJ..x.y", maybe "tag:" first)
 * is kept without its tag; anything else is a subject. */
static const char *entry_token(const char *s)
{
	const char *colon = strchr(s, ':');
	const char *t = colon && strncmp(colon + 1, "eyJ", 3) == 0 ? colon + 1 : s;
	const char *d1 = strchr(t, '.');

	if (strncmp(t, "eyJ", 3) != 0 || !d1 || !strchr(d1 + 1, '.'))
		return NULL;
	return t;
}

/* A comma-separated list (what a YAML sequence flattens to), trimmed
 * (config.h cfg_list_next). */
static int list_parse(const char *text, char ***ret, size_t *n)
{
	const char *cursor = text, *item;
	char **l = NULL;
	size_t len;

	*n = 0;
	while (cfg_list_next(&cursor, &item, &len)) {
		char **nl = realloc(l, (*n + 1) * sizeof(*l));
		if (!nl || !(nl[*n] = strndup(item, len))) {
			list_free(nl ? nl : l, *n);
			*n = 0;
			return -ENOMEM;
		}
		l = nl;
		(*n)++;
	}
	*ret = l;
	return 0;
}

static int load_lists(const struct cfg *cfg, struct auth_policy *p, struct err *e)
{
	const char *allow = NULL, *deny = NULL;

	cfg_key_str(cfg, NULL, CFGK_AUTH_ALLOW, &allow);
	cfg_key_str(cfg, NULL, CFGK_AUTH_DENY, &deny);
	if (list_parse(allow, &p->allow, &p->n_allow) < 0 ||
	    list_parse(deny, &p->deny, &p->n_deny) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

int auth_policy_load(const struct cfg *cfg, struct auth_policy *p, struct err *e)
{
	const char *key = NULL, *alg = NULL;
	bool disabled = false;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = cfg_key_bool(cfg, NULL, CFGK_AUTH_DISABLED, &disabled, e)) < 0)
		return r;
	if (disabled)
		return 0;
	cfg_key_str(cfg, NULL, CFGK_AUTH_KEY, &key);
	cfg_key_str(cfg, NULL, CFGK_AUTH_ALG, &alg);
	if ((r = load_lists(cfg, p, e)) < 0)
		goto fail;
	if (!key || !*key) {
		if (!p->n_allow && !p->n_deny)
			return 0;
		r = err_set(e, -EINVAL, "config: libstorage.server.auth.allow/deny need "
			    "libstorage.server.auth.key (the secret tokens are signed with)");
		goto fail;
	}
	if (!alg || !*alg)
		alg = cfg_keys[CFGK_AUTH_ALG].def;
	if ((r = jwt_alg_parse(alg, &p->alg, e)) < 0) {
		err_prefix(e, "config: libstorage.server.auth.alg");
		goto fail;
	}
	r = secret_read(key, "config: libstorage.server.auth.key", AUTH_KEY_MAX, &p->key,
			&p->key_len, e);
	if (r < 0)
		goto fail;
	p->enabled = true;
	return 0;
fail:
	auth_policy_release(p);
	return r;
}

void auth_policy_release(struct auth_policy *p)
{
	if (!p)
		return;
	list_free(p->allow, p->n_allow);
	list_free(p->deny, p->n_deny);
	secret_free(p->key, p->key_len);
	memset(p, 0, sizeof(*p));
}

static bool listed(char *const *l, size_t n, const char *sub, const char *token)
{
	for (size_t i = 0; i < n; i++) {
		const char *t = entry_token(l[i]);
		if (t ? strcmp(t, token) == 0 : sub && strcmp(l[i], sub) == 0)
			return true;
	}
	return false;
}

/* "Bearer <token>": the scheme is case-insensitive (RFC 7235). */
static const char *bearer(const char *authorization)
{
	const char *t;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	for (t = authorization + 7; *t == ' '; t++)
		;
	return *t ? t : NULL;
}

int auth_check(const struct auth_policy *p, const char *authorization, int64_t now, char **sub,
	       enum jwt_fault *fault, struct err *e)
{
	const char *tok = bearer(authorization);
	struct jwt_claims c;
	enum jwt_fault f = JWT_OK;
	int r;

	if (!tok) {
		f = JWT_MISSING;
		r = err_set(e, -EACCES, authorization ? "the Authorization header is not "
			    "'Bearer <token>'" : "missing bearer token");
		goto out;
	}
	r = jwt_verify(tok, p->alg, p->key, p->key_len, now, &c, &f, e);
	if (r < 0)
		goto out;
	if (listed(p->deny, p->n_deny, c.sub, tok) ||
	    (p->n_allow && !listed(p->allow, p->n_allow, c.sub, tok))) {
		f = JWT_DENIED;
		r = err_set(e, -EACCES, "access denied to subject '%.64s'", c.sub ? c.sub : "");
	} else if (sub) {
		*sub = c.sub;
		c.sub = NULL;
	}
	jwt_claims_release(&c);
out:
	if (fault)
		*fault = f;
	return r;
}
