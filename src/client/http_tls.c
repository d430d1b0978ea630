#include "client/http_tls.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config/config.h"
#include "util/fs.h"
#include "util/paths.h"
#include "util/secret.h"

/* ---- fingerprints ---- */

/* "aa:BB:.." or "AABB.." -> 64 upper-case hex digits. 0 or -EINVAL. */
static int fp_normalise(const char *in, char *out)
{
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == FP_HEX_LEN)
			return -EINVAL;
		out[n++] = (char)toupper((unsigned char)*p);
	}
	out[n] = '\0';
	return n == FP_HEX_LEN ? 0 : -EINVAL;
}

/* ---- known_hosts ---- */

static bool host_matches(const char *entry, const char *host, unsigned port)
{
	char with_port[300];

	if (strcasecmp(entry, host) == 0)
		return true;
	snprintf(with_port, sizeof(with_port), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 port);
	return strcasecmp(entry, with_port) == 0;
}

/* Split a "hosts sha256 FP" line in place; false for anything else
 * (comments, blank lines, other algorithms). */
static bool kh_line_parse(char *line, char **hosts, char **fp)
{
	char *save = NULL, *alg;

	line[strcspn(line, "#")] = '\0';
	*hosts = strtok_r(line, " \t\r", &save);
	alg = *hosts ? strtok_r(NULL, " \t\r", &save) : NULL;
	*fp = alg ? strtok_r(NULL, " \t\r", &save) : NULL;
	return *fp && strcasecmp(alg, "sha256") == 0;
}

/* Does a known_hosts line name host? *fp points into line. */
static bool line_for_host(char *line, const char *host, unsigned port, char **fp)
{
	char *hosts, *h, *save = NULL;

	if (!kh_line_parse(line, &hosts, fp))
		return false;
	for (h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		if (host_matches(h, host, port))
			return true;
	}
	return false;
}

static int kh_add(struct kh_list *l, const char *fp, const char *where, struct err *e)
{
	char norm[FP_HEX_LEN + 1];
	char (*n)[FP_HEX_LEN + 1];

	if (fp_normalise(fp, norm) < 0)
		return err_set(e, -EINVAL, "%s: '%.100s' is not a SHA-256 fingerprint "
			       "(32 hex bytes, e.g. AB:CD:...)", where, fp);
	n = realloc(l->fps, (l->n + 1) * sizeof(*l->fps));
	if (!n)
		return err_set(e, -ENOMEM, "out of memory");
	l->fps = n;
	memcpy(l->fps[l->n++], norm, sizeof(norm));
	return 0;
}

static void note_source(struct kh_list *l, const char *src)
{
	size_t len = strlen(l->sources);

	snprintf(l->sources + len, sizeof(l->sources) - len, "%s%s", len ? ", " : "", src);
}

static int kh_scan_text(struct kh_list *l, char *text, const char *src, const char *host,
			unsigned port, struct err *e)
{
	char *save = NULL, *line, *fp, where[PATH_MAX + 32];
	int lineno = 0, r;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (!line_for_host(line, host, port, &fp))
			continue;
		snprintf(where, sizeof(where), "%s:%d", src, lineno);
		if ((r = kh_add(l, fp, where, e)) < 0)
			return r;
	}
	return 0;
}

static int kh_scan_file(struct kh_list *l, const char *path, const char *host, unsigned port,
			struct err *e)
{
	char *buf = NULL;
	int r = fs_read_file(path, KH_FILE_MAX, &buf, NULL);

	note_source(l, path);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(e, r, "cannot read known hosts file '%s': %s", path, strerror(-r));
	r = kh_scan_text(l, buf, path, host, port, e);
	free(buf);
	return r;
}

int kh_lookup(const struct http_client_opts *o, const char *host, unsigned port,
	      struct kh_list *out, struct err *e)
{
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (o->known_host) {
		char *copy = strdup(o->known_host);
		if (!copy)
			return err_set(e, -ENOMEM, "out of memory");
		note_source(out, "libstorage.client.tls");
		r = kh_scan_text(out, copy, "libstorage.client.tls", host, port, e);
		free(copy);
	}
	if (r == 0 && o->known_hosts_file)
		r = kh_scan_file(out, o->known_hosts_file, host, port, e);
	if (r == 0 && o->user_known_hosts)
		r = kh_scan_file(out, o->user_known_hosts, host, port, e);
	if (r < 0)
		kh_list_release(out);
	return r;
}

void kh_list_release(struct kh_list *l)
{
	if (!l)
		return;
	free(l->fps);
	memset(l, 0, sizeof(*l));
}

bool kh_list_has(const struct kh_list *l, const char *fp_hex)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->fps[i], fp_hex) == 0)
			return true;
	}
	return false;
}

/* ---- options from the configuration ---- */

static bool set(const char *v)
{
	return v && *v;
}

static int dup_to(char **dst, const char *v, struct err *e)
{
	if (!set(v))
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : err_set(e, -ENOMEM, "out of memory");
}

/* The first set of the client's map key and the shared libstorage.tls one. */
static const char *client_or_shared(const struct cfg *cfg, enum cfg_key_id client,
				    enum cfg_key_id shared)
{
	const char *v = cfg_key_get(cfg, client);

	if (set(v))
		return v;
	v = cfg_key_get(cfg, shared);
	return set(v) ? v : NULL;
}

static bool is_word(const char *v, const char *const *words)
{
	for (; *words; words++) {
		if (strcasecmp(v, *words) == 0)
			return true;
	}
	return false;
}

/* The scalar form of libstorage.client.tls. */
static int parse_scalar(const char *v, struct http_client_opts *o, struct err *e)
{
	static const char *const off[] = { "false", "no", "off", "0", NULL };
	static const char *const on[] = { "true", "yes", "on", "1", "verifypeers", NULL };
	char norm[FP_HEX_LEN + 1], *copy, *hosts, *fp = NULL;
	bool line_ok;

	if (is_word(v, off)) {
		o->tls_mode = HTTP_TLS_OFF;
		return 0;
	}
	if (is_word(v, on)) {
		o->tls_mode = HTTP_TLS_VERIFY;
		return 0;
	}
	if (strcasecmp(v, "insecure") == 0) {
		o->tls_mode = HTTP_TLS_INSECURE;
		return 0;
	}
	copy = strdup(v);
	if (!copy)
		return err_set(e, -ENOMEM, "out of memory");
	line_ok = kh_line_parse(copy, &hosts, &fp) && fp_normalise(fp, norm) == 0;
	free(copy);
	if (!line_ok)
		return err_set(e, -EINVAL, "config: libstorage.client.tls: invalid value '%.100s': "
			       "expected false, true, insecure, verifyPeers, a known-hosts line "
			       "'HOST sha256 AA:BB:...' or a map", v);
	o->tls_mode = HTTP_TLS_KNOWN_HOSTS;
	return dup_to(&o->known_host, v, e);
}

/* The map form, and the libstorage.tls.* keys that apply to a client. */
static int parse_map(const struct cfg *cfg, bool scalar, struct http_client_opts *o,
		     struct err *e)
{
	bool verify = true, insecure = false;
	int r;

	if ((r = cfg_key_bool(cfg, NULL, CFGK_CLIENT_TLS_VERIFYPEERS, &verify, e)) < 0 ||
	    (r = cfg_key_bool(cfg, NULL, CFGK_CLIENT_TLS_INSECURE, &insecure, e)) < 0)
		return r;
	if (!insecure && (r = cfg_key_bool(cfg, NULL, CFGK_TLS_INSECURE, &insecure, e)) < 0)
		return r;
	r = dup_to(&o->known_hosts_file,
		   client_or_shared(cfg, CFGK_CLIENT_TLS_KNOWNHOSTS, CFGK_TLS_KNOWNHOSTS), e);
	if (r < 0)
		return r;
	if (scalar)
		return 0;
	/* no scalar: a map (any of its keys set) turns TLS on */
	if (insecure || !verify)
		o->tls_mode = HTTP_TLS_INSECURE;
	else if (set(cfg_key_get(cfg, CFGK_CLIENT_TLS_KNOWNHOSTS)))
		o->tls_mode = HTTP_TLS_KNOWN_HOSTS;
	else if (set(cfg_key_get(cfg, CFGK_CLIENT_TLS_VERIFYPEERS)) ||
		 set(cfg_key_get(cfg, CFGK_CLIENT_TLS_TRUSTEDCERTSFILE)) ||
		 set(cfg_key_get(cfg, CFGK_CLIENT_TLS_CERTFILE)) ||
		 set(cfg_key_get(cfg, CFGK_CLIENT_TLS_SERVERNAME)))
		o->tls_mode = HTTP_TLS_VERIFY;
	return 0;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Files that default to <etc>/tls/... and $HOME/.rexray/known_hosts. */
static int default_files(const struct cfg *cfg, const struct paths *paths,
			 struct http_client_opts *o, struct err *e)
{
	const char *home = getenv("HOME"), *v;
	char path[PATH_MAX + 32];
	int r;

	v = client_or_shared(cfg, CFGK_CLIENT_TLS_TRUSTEDCERTSFILE, CFGK_TLS_TRUSTEDCERTSFILE);
	if ((r = dup_to(&o->ca_file, v, e)) < 0)
		return r;
	if (!o->ca_file && path_join(path, sizeof(path), paths->etc, "tls/cacerts") == 0 &&
	    file_exists(path) && (r = dup_to(&o->ca_file, path, e)) < 0)
		return r;
	if (o->known_hosts_file)
		return 0;
	if (path_join(path, sizeof(path), paths->etc, "tls/known_hosts") == 0 &&
	    (r = dup_to(&o->known_hosts_file, path, e)) < 0)
		return r;
	if (set(home) && path_join(path, sizeof(path), home, ".rexray/known_hosts") == 0)
		r = dup_to(&o->user_known_hosts, path, e);
	return r;
}

/* A token is base64url parts and dots; anything else is a missing file. */
static int read_token(const struct cfg *cfg, struct http_client_opts *o, struct err *e)
{
	const char *v = cfg_key_get(cfg, CFGK_CLIENT_AUTH_TOKEN);
	unsigned char *tok = NULL;
	size_t len = 0;
	int r;

	if (!set(v))
		return 0;
	r = secret_read(v, "config: libstorage.client.auth.token", SECRET_MAX, &tok, &len,
			e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum(tok[i]) && !strchr("-_.", tok[i])) {
			free(tok);
			return err_set(e, -EINVAL, "config: libstorage.client.auth.token: '%.100s' "
				       "is neither a token nor a readable file", v);
		}
	}
	o->token = (char *)tok;
	return 0;
}

int http_client_opts_from_cfg(const struct cfg *cfg, const struct paths *paths,
			      struct http_client_opts *out, struct err *e)
{
	const char *v = cfg_key_get(cfg, CFGK_CLIENT_TLS);
	bool disabled = false;
	int r;

	memset(out, 0, sizeof(*out));
	if (set(v) && (r = parse_scalar(v, out, e)) < 0)
		goto fail;
	if ((r = parse_map(cfg, set(v), out, e)) < 0)
		goto fail;
	if ((r = cfg_key_bool(cfg, NULL, CFGK_TLS_DISABLED, &disabled, e)) < 0)
		goto fail;
	if (out->tls_mode == HTTP_TLS_AUTO && disabled)
		out->tls_mode = HTTP_TLS_OFF;
	if ((r = cfg_key_bool(cfg, NULL, CFGK_TLS_SOCKITTOME, &out->tls_unix, e)) < 0)
		goto fail;
	if ((r = dup_to(&out->cert_file, cfg_key_get(cfg, CFGK_CLIENT_TLS_CERTFILE), e)) < 0 ||
	    (r = dup_to(&out->key_file, cfg_key_get(cfg, CFGK_CLIENT_TLS_KEYFILE), e)) < 0 ||
	    (r = dup_to(&out->server_name, client_or_shared(cfg, CFGK_CLIENT_TLS_SERVERNAME,
							    CFGK_TLS_SERVERNAME), e)) < 0 ||
	    (r = default_files(cfg, paths, out, e)) < 0 || (r = read_token(cfg, out, e)) < 0)
		goto fail;
	return 0;
fail:
	http_client_opts_release(out);
	return r;
}

void http_client_opts_release(struct http_client_opts *o)
{
	if (!o)
		return;
	free(o->ca_file);
	free(o->cert_file);
	free(o->key_file);
	free(o->server_name);
	free(o->known_hosts_file);
	free(o->user_known_hosts);
	free(o->known_host);
	secret_free_str(o->token);
	memset(o, 0, sizeof(*o));
}
