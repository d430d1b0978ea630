/*
 * Unit tests for server/auth.c: base64url, HS256/384/512 tokens (against
 * the RFC 7515 A.1 example and the jwt.io example, both made elsewhere),
 * every way a token is refused, and the allow/deny policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gnutls/crypto.h>
#include <unistd.h>

#include "config/config.h"
#include "server/auth.h"

/* jwt.io's HS256 example, secret "your-256-bit-secret" */
#define JWTIO_TOKEN                                                                                \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."              \
	"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define JWTIO_KEY "your-256-bit-secret"
#define JWTIO_IAT 1516239022

/* RFC 7515 appendix A.1 (HS256, the key is a JWK "k"; exp 1300819380) */
#define RFC_TOKEN                                                                                  \
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."                                                \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0" \
	"cnVlfQ."                                                                                  \
	"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define RFC_KEY_B64                                                                                \
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define RFC_EXP 1300819380

#define NOW 1700000000

static int verify(const char *tok, enum jwt_alg alg, const char *key, int64_t now,
		  struct jwt_claims *c, enum jwt_fault *f, struct err *e)
{
	return jwt_verify(tok, alg, key, strlen(key), now, c, f, e);
}

static char *sign(enum jwt_alg alg, const char *key, const char *sub, int64_t iat, int64_t nbf,
		  int64_t exp)
{
	struct jwt_claims c = { .sub = (char *)sub, .iat = iat, .nbf = nbf, .exp = exp };
	struct err e = ERR_INIT;
	char *tok = NULL;

	if (jwt_sign(alg, key, strlen(key), &c, &tok, &e) != 0)
		fail_msg("jwt_sign: %s", e.msg);
	return tok;
}

/* A token made of these JSON texts and a signature part as given. */
static char *forge(const char *header, const char *claims, const char *sig)
{
	char *h = NULL, *c = NULL, *tok = NULL;

	assert_int_equal(b64url_encode(header, strlen(header), &h), 0);
	assert_int_equal(b64url_encode(claims, strlen(claims), &c), 0);
	assert_true(asprintf(&tok, "%s.%s.%s", h, c, sig) > 0);
	free(h);
	free(c);
	return tok;
}

static void expect_fault(const char *tok, enum jwt_alg alg, const char *key, int64_t now,
			 enum jwt_fault want, const char *msg_part)
{
	enum jwt_fault f = JWT_OK;
	struct err e = ERR_INIT;
	struct jwt_claims c = { .sub = NULL };

	assert_int_equal(verify(tok, alg, key, now, &c, &f, &e), -EACCES);
	assert_int_equal(f, want);
	assert_null(c.sub); /* untouched on failure */
	if (msg_part && !strstr(e.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", e.msg, msg_part);
}

/* ---- base64url ---- */

static void test_b64url_round_trip(void **state)
{
	unsigned char data[64], *back = NULL;
	char *text = NULL;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 251);
	for (size_t len = 0; len <= sizeof(data); len++) {
		assert_int_equal(b64url_encode(data, len, &text), 0);
		assert_null(strpbrk(text, "+/="));
		assert_int_equal(strlen(text), (len * 4 + 2) / 3);
		assert_int_equal(b64url_decode(text, strlen(text), &back, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, data, len);
		free(text);
		free(back);
	}
	assert_int_equal(b64url_encode("\xfb\xff", 2, &text), 0);
	assert_string_equal(text, "-_8");
	free(text);
}

static void test_b64url_rejects(void **state)
{
	static const char *const bad[] = { "a", "abcde", "ab=", "ab+c", "ab/c", "a b", "ab\n",
					   "AB", /* spare bits set: 'B' = 000001 */ "AAB", NULL };
	unsigned char *out = NULL;
	size_t n;

	(void)state;
	for (int i = 0; bad[i]; i++) {
		if (b64url_decode(bad[i], strlen(bad[i]), &out, &n) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
	assert_int_equal(b64url_decode("", 0, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
}

/* ---- tokens made elsewhere ---- */

static void test_jwtio_vector(void **state)
{
	struct jwt_claims c = { 0 };
	enum jwt_fault f = JWT_MALFORMED;
	struct err e = ERR_INIT;
	json_t *h = NULL, *cl = NULL;

	(void)state;
	assert_int_equal(verify(JWTIO_TOKEN, JWT_HS256, JWTIO_KEY, NOW, &c, &f, &e), 0);
	assert_int_equal(f, JWT_OK);
	assert_string_equal(c.sub, "1234567890");
	assert_int_equal(c.iat, JWTIO_IAT);
	assert_int_equal(c.exp, 0);
	assert_int_equal(c.nbf, 0);
	jwt_claims_release(&c);

	assert_int_equal(jwt_decode(JWTIO_TOKEN, &h, &cl, &e), 0);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "HS256");
	assert_string_equal(json_string_value(json_object_get(cl, "name")), "John Doe");
	json_decref(h);
	json_decref(cl);

	expect_fault(JWTIO_TOKEN, JWT_HS256, "your-256-bit-secreT", NOW, JWT_BAD_SIG, "signature");
	/* issued 2018: before that it is not valid yet */
	expect_fault(JWTIO_TOKEN, JWT_HS256, JWTIO_KEY, JWTIO_IAT - 3600, JWT_NOT_YET_VALID,
		     "not valid yet");
}

static void test_rfc7515_vector(void **state)
{
	unsigned char *key = NULL;
	size_t key_len = 0;
	enum jwt_fault f;
	struct jwt_claims c;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(b64url_decode(RFC_KEY_B64, strlen(RFC_KEY_B64), &key, &key_len), 0);
	assert_int_equal(key_len, 64);
	assert_int_equal(jwt_verify(RFC_TOKEN, JWT_HS256, key, key_len, RFC_EXP - 1, &c, &f, &e),
			 0);
	assert_null(c.sub);
	assert_int_equal(c.exp, RFC_EXP);
	jwt_claims_release(&c);
	/* exp is the first second it is no longer valid */
	assert_int_equal(jwt_verify(RFC_TOKEN, JWT_HS256, key, key_len, RFC_EXP, NULL, &f, &e),
			 -EACCES);
	assert_int_equal(f, JWT_EXPIRED);
	assert_non_null(strstr(e.msg, "expired"));
	free(key);
}

/* ---- our own tokens ---- */

static void test_sign_verify_round_trip(void **state)
{
	static const enum jwt_alg all[] = { JWT_HS256, JWT_HS384, JWT_HS512 };
	static const size_t sig_chars[] = { 43, 64, 86 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char *tok = sign(all[i], "k3y", "alice", NOW, NOW, NOW + 60);
		struct jwt_claims c;
		enum jwt_fault f;
		struct err e = ERR_INIT;
		json_t *h, *cl;

		assert_int_equal(strlen(strrchr(tok, '.') + 1), sig_chars[i]);
		assert_int_equal(verify(tok, all[i], "k3y", NOW + 59, &c, &f, &e), 0);
		assert_string_equal(c.sub, "alice");
		assert_int_equal(c.iat, NOW);
		assert_int_equal(c.nbf, NOW);
		assert_int_equal(c.exp, NOW + 60);
		jwt_claims_release(&c);
		assert_int_equal(jwt_decode(tok, &h, &cl, &e), 0);
		assert_string_equal(json_string_value(json_object_get(h, "alg")),
				    jwt_alg_name(all[i]));
		assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
		json_decref(h);
		json_decref(cl);
		free(tok);
	}
}

static void test_sign_layout(void **state)
{
	char *tok = sign(JWT_HS256, "s", "bob", 0, 0, 0);
	unsigned char *claims = NULL;
	size_t n;
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	struct err e = ERR_INIT;
	struct jwt_claims c = { 0 };

	(void)state;
	/* {"alg":"HS256","typ":"JWT"} in jwt-go's order */
	assert_int_equal(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);
	assert_int_equal(b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &claims, &n), 0);
	assert_string_equal((char *)claims, "{\"sub\":\"bob\"}");
	free(claims);
	/* no exp: never expires */
	assert_int_equal(verify(tok, JWT_HS256, "s", INT64_C(4000000000), &c, NULL, &e), 0);
	jwt_claims_release(&c);
	free(tok);
	assert_int_equal(jwt_sign(JWT_HS256, "", 0, &c, &tok, &e), -EINVAL);
}

static void test_expired(void **state)
{
	char *tok = sign(JWT_HS256, "k", "alice", NOW - 100, NOW - 100, NOW - 1);

	(void)state;
	expect_fault(tok, JWT_HS256, "k", NOW, JWT_EXPIRED, "expired");
	free(tok);
}

static void test_not_yet_valid(void **state)
{
	char *tok = sign(JWT_HS256, "k", "alice", NOW, NOW + 3600, NOW + 7200);
	char *soon = sign(JWT_HS256, "k", "alice", NOW, NOW + JWT_LEEWAY_S, 0);
	char *iat = sign(JWT_HS256, "k", "alice", NOW + 3600, 0, 0);
	struct err e = ERR_INIT;

	(void)state;
	expect_fault(tok, JWT_HS256, "k", NOW, JWT_NOT_YET_VALID, "nbf");
	expect_fault(iat, JWT_HS256, "k", NOW, JWT_NOT_YET_VALID, "issued");
	/* a clock a little behind the issuer's is tolerated */
	assert_int_equal(verify(soon, JWT_HS256, "k", NOW, NULL, NULL, &e), 0);
	assert_int_equal(verify(tok, JWT_HS256, "k", NOW + 3600, NULL, NULL, &e), 0);
	free(tok);
	free(soon);
	free(iat);
}

static void test_tampered(void **state)
{
	char *tok = sign(JWT_HS256, "k", "alice", NOW, NOW, 0);
	const char *sig = strrchr(tok, '.') + 1;
	char *evil = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
			   "{\"iat\":1700000000,\"nbf\":1700000000,\"sub\":\"admin\"}", sig);
	char *cut = strdup(tok);

	(void)state;
	expect_fault(evil, JWT_HS256, "k", NOW, JWT_BAD_SIG, "signature is invalid");
	/* a signature of the wrong length, or none */
	cut[strlen(cut) - 4] = '\0';
	expect_fault(cut, JWT_HS256, "k", NOW, JWT_BAD_SIG, NULL);
	strrchr(cut, '.')[1] = '\0';
	expect_fault(cut, JWT_HS256, "k", NOW, JWT_BAD_SIG, NULL);
	/* one flipped character of the signature */
	strcpy(cut, tok);
	cut[strlen(cut) - 2] = cut[strlen(cut) - 2] == 'A' ? 'B' : 'A';
	expect_fault(cut, JWT_HS256, "k", NOW, JWT_BAD_SIG, NULL);
	free(tok);
	free(evil);
	free(cut);
}

static void test_wrong_key(void **state)
{
	char *tok = sign(JWT_HS256, "right", "alice", NOW, NOW, 0);

	(void)state;
	expect_fault(tok, JWT_HS256, "wrong", NOW, JWT_BAD_SIG, NULL);
	expect_fault(tok, JWT_HS256, "righ", NOW, JWT_BAD_SIG, NULL);
	free(tok);
}

static void test_alg_none(void **state)
{
	char *none = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}", "");
	char *none2 = forge("{\"alg\":\"NoNe\"}", "{\"sub\":\"admin\"}", "c2ln");
	char *noalg = forge("{\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}", "");
	enum jwt_alg a;

	(void)state;
	expect_fault(none, JWT_HS256, "k", NOW, JWT_BAD_ALG, "'none'");
	expect_fault(none2, JWT_HS256, "k", NOW, JWT_BAD_ALG, "'none'");
	expect_fault(noalg, JWT_HS256, "k", NOW, JWT_BAD_ALG, "no alg");
	assert_int_equal(jwt_alg_parse("none", &a, NULL), -EINVAL);
	assert_int_equal(jwt_alg_parse("RS256", &a, NULL), -EINVAL);
	assert_int_equal(jwt_alg_parse("hs384", &a, NULL), 0);
	assert_int_equal(a, JWT_HS384);
	free(none);
	free(none2);
	free(noalg);
}

static void test_alg_mismatch(void **state)
{
	char *tok512 = sign(JWT_HS512, "k", "alice", NOW, NOW, 0);
	/* an HS256 MAC under a header that claims HS384 */
	char *tok = sign(JWT_HS256, "k", "alice", NOW, NOW, 0);
	char *relabel = forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}",
			      "{\"iat\":1700000000,\"nbf\":1700000000,\"sub\":\"alice\"}",
			      strrchr(tok, '.') + 1);

	(void)state;
	expect_fault(tok512, JWT_HS256, "k", NOW, JWT_BAD_ALG, "not the configured HS256");
	expect_fault(relabel, JWT_HS256, "k", NOW, JWT_BAD_ALG, NULL);
	expect_fault(relabel, JWT_HS384, "k", NOW, JWT_BAD_SIG, NULL);
	free(tok512);
	free(tok);
	free(relabel);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30", "e30..",
		"WzFd.e30.", /* header [1] */
		"e30.WzFd.", /* claims [1] */
		"e30.bm90IGpzb24.", /* claims "not json" */
		"eyJhbGciOiJIUzI1NiJ9=.e30.", /* padding */
		NULL,
	};
	char *typ = forge("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", "{}", "");
	char *long_tok = malloc(JWT_MAX_LEN + 10);
	struct err e = ERR_INIT;
	json_t *h, *c;

	(void)state;
	for (int i = 0; bad[i]; i++) {
		enum jwt_fault f = JWT_OK;
		if (verify(bad[i], JWT_HS256, "k", NOW, NULL, &f, &e) != -EACCES ||
		    f != JWT_MALFORMED)
			fail_msg("'%s': fault %d (%s)", bad[i], f, e.msg);
		assert_int_equal(jwt_decode(bad[i], &h, &c, &e), -EINVAL);
	}
	expect_fault(NULL, JWT_HS256, "k", NOW, JWT_MALFORMED, "empty");
	expect_fault(typ, JWT_HS256, "k", NOW, JWT_MALFORMED, "typ");
	memset(long_tok, 'a', JWT_MAX_LEN + 9);
	long_tok[JWT_MAX_LEN + 9] = '\0';
	long_tok[10] = long_tok[20] = '.';
	expect_fault(long_tok, JWT_HS256, "k", NOW, JWT_MALFORMED, "longer than");
	free(typ);
	free(long_tok);
}

/* Claims with the wrong types: refused after the signature checks out. */
static void test_bad_claims(void **state)
{
	static const char *const claims[] = { "{\"exp\":\"soon\"}", "{\"exp\":-5}",
					      "{\"nbf\":true}", "{\"sub\":42}", NULL };

	(void)state;
	for (int i = 0; claims[i]; i++) {
		char *unsigned_tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims[i], "");
		char *signing = strdup(unsigned_tok), *sig = NULL, *tok = NULL;
		unsigned char mac[32];
		signing[strlen(signing) - 1] = '\0'; /* drop the final '.' */
		assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, "k", 1, signing,
						  strlen(signing), mac), 0);
		assert_int_equal(b64url_encode(mac, sizeof(mac), &sig), 0);
		assert_true(asprintf(&tok, "%s.%s", signing, sig) > 0);
		expect_fault(tok, JWT_HS256, "k", NOW, JWT_MALFORMED, NULL);
		free(unsigned_tok);
		free(signing);
		free(sig);
		free(tok);
	}
	/* a real number is a NumericDate too */
	{
		char *unsigned_tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
					   "{\"exp\":1700000100.5}", "");
		char *signing = strdup(unsigned_tok), *sig = NULL, *tok = NULL;
		unsigned char mac[32];
		struct jwt_claims c;
		signing[strlen(signing) - 1] = '\0';
		assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, "k", 1, signing,
						  strlen(signing), mac), 0);
		assert_int_equal(b64url_encode(mac, sizeof(mac), &sig), 0);
		assert_true(asprintf(&tok, "%s.%s", signing, sig) > 0);
		assert_int_equal(verify(tok, JWT_HS256, "k", NOW, &c, NULL, NULL), 0);
		assert_int_equal(c.exp, 1700000100);
		jwt_claims_release(&c);
		free(unsigned_tok);
		free(signing);
		free(sig);
		free(tok);
	}
}

/* ---- secrets and the policy ---- */

static char tmpdir[64];

static int setup_tmp(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/rr-auth-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_secret_read(void **state)
{
	char path[128];
	unsigned char *k = NULL;
	size_t n = 0;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(secret_read("literal", "key", SECRET_MAX, &k, &n, &e), 0);
	assert_int_equal(n, 7);
	assert_string_equal((char *)k, "literal");
	free(k);
	snprintf(path, sizeof(path), "%s/key", tmpdir);
	write_file(path, "s3cr3t \r\n\n");
	assert_int_equal(secret_read(path, "key", SECRET_MAX, &k, &n, &e), 0);
	assert_int_equal(n, 6);
	assert_string_equal((char *)k, "s3cr3t");
	free(k);
	write_file(path, "\n");
	assert_int_equal(secret_read(path, "key", SECRET_MAX, &k, &n, &e), -EINVAL);
	assert_int_equal(secret_read("", "key", SECRET_MAX, &k, &n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "key is empty"));
}

static struct cfg *cfg_of(const char *yaml)
{
	char *no_env[] = { NULL };
	struct cfg *c = cfg_new();
	struct err e = ERR_INIT;

	assert_non_null(c);
	assert_int_equal(cfg_set_environ(c, no_env), 0);
	if (cfg_load_string(c, "test.yml", yaml, strlen(yaml), &e) != 0)
		fail_msg("yaml: %s", e.msg);
	return c;
}

static int check(const struct auth_policy *p, const char *hdr, enum jwt_fault *f)
{
	struct err e = ERR_INIT;
	char *sub = NULL;
	int r = auth_check(p, hdr, NOW, &sub, f, &e);

	if (r < 0)
		assert_null(sub);
	free(sub);
	return r;
}

static void test_policy_off(void **state)
{
	struct auth_policy p;
	struct err e = ERR_INIT;
	struct cfg *c = cfg_of("libstorage:\n  server:\n    auth:\n      alg: HS512\n");

	(void)state;
	assert_int_equal(auth_policy_load(c, &p, &e), 0);
	assert_false(p.enabled);
	auth_policy_release(&p);
	cfg_free(c);
	c = cfg_of("libstorage:\n  server:\n    auth:\n      key: k\n      disabled: true\n");
	assert_int_equal(auth_policy_load(c, &p, &e), 0);
	assert_false(p.enabled);
	auth_policy_release(&p);
	cfg_free(c);
	/* allow without a key cannot be enforced: refuse to start */
	c = cfg_of("libstorage:\n  server:\n    auth:\n      allow: [alice]\n");
	assert_int_equal(auth_policy_load(c, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "libstorage.server.auth.key"));
	cfg_free(c);
	c = cfg_of("libstorage:\n  server:\n    auth:\n      key: k\n      alg: RS256\n");
	assert_int_equal(auth_policy_load(c, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "libstorage.server.auth.alg"));
	cfg_free(c);
}

static void test_policy_key_required(void **state)
{
	struct auth_policy p;
	struct err e = ERR_INIT;
	char path[128], yaml[512], *tok, *tok512, hdr[1024];
	enum jwt_fault f;
	struct cfg *c;

	(void)state;
	snprintf(path, sizeof(path), "%s/server.key", tmpdir);
	write_file(path, "from-a-file\n");
	snprintf(yaml, sizeof(yaml), "libstorage:\n  server:\n    auth:\n      key: %s\n", path);
	c = cfg_of(yaml);
	assert_int_equal(auth_policy_load(c, &p, &e), 0);
	assert_true(p.enabled);
	assert_int_equal(p.alg, JWT_HS256);
	assert_int_equal(check(&p, NULL, &f), -EACCES);
	assert_int_equal(f, JWT_MISSING);
	assert_int_equal(check(&p, "Basic dXNlcjpwYXNz", &f), -EACCES);
	assert_int_equal(f, JWT_MISSING);
	assert_int_equal(check(&p, "Bearer ", &f), -EACCES);
	assert_int_equal(f, JWT_MISSING);
	tok = sign(JWT_HS256, "from-a-file", "anyone", NOW, NOW, NOW + 60);
	snprintf(hdr, sizeof(hdr), "bearer %s", tok);
	assert_int_equal(check(&p, hdr, &f), 0);
	assert_int_equal(f, JWT_OK);
	tok512 = sign(JWT_HS512, "from-a-file", "anyone", NOW, NOW, NOW + 60);
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok512);
	assert_int_equal(check(&p, hdr, &f), -EACCES);
	assert_int_equal(f, JWT_BAD_ALG);
	free(tok);
	free(tok512);
	tok = sign(JWT_HS256, "from-a-file\n", "anyone", NOW, NOW, NOW + 60);
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
	assert_int_equal(check(&p, hdr, &f), -EACCES);
	assert_int_equal(f, JWT_BAD_SIG);
	free(tok);
	auth_policy_release(&p);
	cfg_free(c);
}

static void test_policy_allow_deny(void **state)
{
	char *alice = sign(JWT_HS256, "k", "alice", NOW, NOW, 0);
	char *bob = sign(JWT_HS256, "k", "bob", NOW, NOW, 0);
	char *carol = sign(JWT_HS256, "k", "carol", NOW, NOW, 0);
	char *nosub = sign(JWT_HS256, "k", NULL, NOW, NOW, 0);
	char yaml[2048], ha[512], hb[512], hc[512], hn[512];
	struct auth_policy p;
	struct err e = ERR_INIT;
	enum jwt_fault f;
	struct cfg *c;

	(void)state;
	snprintf(ha, sizeof(ha), "Bearer %s", alice);
	snprintf(hb, sizeof(hb), "Bearer %s", bob);
	snprintf(hc, sizeof(hc), "Bearer %s", carol);
	snprintf(hn, sizeof(hn), "Bearer %s", nosub);
	/* allow admits only its subjects; deny beats allow; a whole token
	 * (with a tag) may be listed */
	snprintf(yaml, sizeof(yaml),
		 "libstorage:\n  server:\n    auth:\n      key: k\n"
		 "      allow: [alice, bob, 'laptop:%s']\n      deny: [ bob ]\n", carol);
	c = cfg_of(yaml);
	assert_int_equal(auth_policy_load(c, &p, &e), 0);
	assert_int_equal(p.n_allow, 3);
	assert_int_equal(p.n_deny, 1);
	assert_int_equal(check(&p, ha, &f), 0);
	assert_int_equal(check(&p, hb, &f), -EACCES);
	assert_int_equal(f, JWT_DENIED);
	assert_int_equal(check(&p, hc, &f), 0);
	assert_int_equal(check(&p, hn, &f), -EACCES);
	assert_int_equal(f, JWT_DENIED);
	auth_policy_release(&p);
	cfg_free(c);

	/* deny alone: everyone else with a valid token gets in */
	c = cfg_of("libstorage:\n  server:\n    auth:\n      key: k\n      deny: alice\n");
	assert_int_equal(auth_policy_load(c, &p, &e), 0);
	assert_int_equal(check(&p, ha, &f), -EACCES);
	assert_int_equal(f, JWT_DENIED);
	assert_int_equal(check(&p, hb, &f), 0);
	assert_int_equal(check(&p, hn, &f), 0);
	auth_policy_release(&p);
	cfg_free(c);
	free(alice);
	free(bob);
	free(carol);
	free(nosub);
}

static void test_fault_names(void **state)
{
	(void)state;
	assert_string_equal(jwt_fault_name(JWT_MISSING), "missing");
	assert_string_equal(jwt_fault_name(JWT_EXPIRED), "expired");
	assert_string_equal(jwt_fault_name(JWT_DENIED), "denied");
	assert_string_equal(jwt_fault_name((enum jwt_fault)99), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_round_trip),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_jwtio_vector),
		cmocka_unit_test(test_rfc7515_vector),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_sign_layout),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_mismatch),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bad_claims),
		cmocka_unit_test(test_secret_read),
		cmocka_unit_test(test_policy_off),
		cmocka_unit_test(test_policy_key_required),
		cmocka_unit_test(test_policy_allow_deny),
		cmocka_unit_test(test_fault_names),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
