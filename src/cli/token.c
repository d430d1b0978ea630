/*
 * token: `rexray token new|decode`, the bearer tokens of
 * libstorage.server.auth (server/auth.h).
 *
 *   token new [--key K] [--alg HS256] [--exp 8760h] SUBJECT
 *       prints a token for SUBJECT, valid from now for --exp (0 = never
 *       expires), signed with K (a secret, or a file holding one).
 *   token decode [--verify [--key K] [--alg A]] TOKEN
 *       prints {"header": {...}, "claims": {...}}; with --verify the
 *       signature, alg and times are checked first (exit 1 when bad).
 *
 * Without --key / --alg, libstorage.server.auth.key / .alg from the
 * configuration are used, so on the server's host no key is retyped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/help.h"
#include "config/config.h"
#include "server/auth.h"
#include "util/secret.h"
#include "util/jsondump.h"

#define TOKEN_DEFAULT_EXP "8760h" /* one year, as REX-Ray */

/* The Go-style duration of --exp in seconds, parsed by config's parser
 * on a private cfg (no environment, so nothing else can answer). */
static int parse_exp(const char *text, int64_t *secs, struct err *e)
{
	char *no_env[] = { NULL };
	struct cfg *c = cfg_new();
	int64_t ms = 0;
	int r;

	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	r = cfg_set_environ(c, no_env);
	if (r == 0)
		r = cfg_set(c, "exp", text);
	if (r == 0)
		r = cfg_duration_ms(c, NULL, "exp", 0, &ms, e);
	else
		err_set(e, r, "out of memory");
	cfg_free(c);
	if (r < 0)
		return err_set(e, r, "--exp: invalid duration '%s': expected e.g. 8760h, 30m, "
			       "90s or 0 (never expires)", text);
	*secs = (ms + 999) / 1000;
	return 0;
}

/* The key and alg from the flags, else the server's configuration. */
static int signing_setup(struct engine *en, struct cli_args *a, unsigned char **key,
			 size_t *key_len, enum jwt_alg *alg, struct err *e)
{
	const char *k = a->key, *al = a->alg;
	const char *what = "--key";
	int r;

	if (!k || !*k) {
		cfg_key_str(en->cfg, NULL, CFGK_AUTH_KEY, &k);
		what = "libstorage.server.auth.key";
	}
	if (!al || !*al)
		cfg_key_str(en->cfg, NULL, CFGK_AUTH_ALG, &al);
	if (!k || !*k)
		return err_set(e, -EINVAL, "no key: give --key SECRET (or a file holding it), or "
			       "set libstorage.server.auth.key");
	if ((r = jwt_alg_parse(al, alg, e)) < 0)
		return r;
	return secret_read(k, what, AUTH_KEY_MAX, key, key_len, e);
}

static void key_free(unsigned char *key, size_t len)
{
	if (key)
		memset(key, 0, len);
	free(key);
}

static int token_new(struct engine *en, struct cli_args *a)
{
	struct jwt_claims c = { 0 };
	struct err e = ERR_INIT;
	unsigned char *key = NULL;
	size_t key_len = 0;
	enum jwt_alg alg;
	int64_t exp = 0, now = (int64_t)time(NULL);
	char *tok = NULL;

	if (a->n_args != 1 || !*a->args[0]) {
		fprintf(stderr, "rexray: token new: give one SUBJECT (see rexray --help)\n");
		return 2;
	}
	if (parse_exp(a->exp ? a->exp : TOKEN_DEFAULT_EXP, &exp, &e) < 0 ||
	    signing_setup(en, a, &key, &key_len, &alg, &e) < 0) {
		cli_error("token new", &e);
		return 1;
	}
	c.sub = (char *)a->args[0];
	c.iat = c.nbf = now;
	c.exp = exp ? now + exp : 0;
	if (jwt_sign(alg, key, key_len, &c, &tok, &e) < 0) {
		key_free(key, key_len);
		cli_error("token new", &e);
		return 1;
	}
	key_free(key, key_len);
	printf("%s\n", tok);
	free(tok);
	return 0;
}

static int token_decode(struct engine *en, struct cli_args *a)
{
	struct err e = ERR_INIT;
	json_t *hdr = NULL, *claims = NULL, *out;
	unsigned char *key = NULL;
	size_t key_len = 0;
	enum jwt_alg alg;
	char *text;
	int r;

	if (a->n_args != 1) {
		fprintf(stderr, "rexray: token decode: give one TOKEN (see rexray --help)\n");
		return 2;
	}
	if (a->verify) {
		r = signing_setup(en, a, &key, &key_len, &alg, &e);
		if (r == 0)
			r = jwt_verify(a->args[0], alg, key, key_len, (int64_t)time(NULL), NULL,
				       NULL, &e);
		key_free(key, key_len);
		if (r < 0) {
			cli_error("token decode", &e);
			return 1;
		}
	}
	if (jwt_decode(a->args[0], &hdr, &claims, &e) < 0) {
		cli_error("token decode", &e);
		return 1;
	}
	out = json_pack("{s:o,s:o}", "header", hdr, "claims", claims);
	text = out ? json_text(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(out);
	if (!text) {
		fprintf(stderr, "rexray: token decode: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int cli_token(struct engine *en, const char *sub, struct cli_args *a)
{
	static const char *const news[] = { "new", "create", "c", "n", NULL };
	static const char *const decodes[] = { "decode", "dec", "d", NULL };

	if (cli_is_one_of(sub, news))
		return token_new(en, a);
	if (cli_is_one_of(sub, decodes))
		return token_decode(en, a);
	if (sub)
		return cli_unknown("token", sub, cli_subcommands("token"));
	fprintf(stderr, "rexray: token: give a command: new or decode (see rexray help token)\n");
	return 2;
}
