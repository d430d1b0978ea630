#include "server/tls.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config/config.h"
#include "net/addr.h"
#include "util/fs.h"
#include "util/log.h"

/* One setting: the endpoint's scope first, then libstorage.tls.*. */
struct tls_lookup {
	const struct cfg *cfg;
	const char *scopes[2];
	char scope[300];
};

static void lookup_init(struct tls_lookup *l, const struct cfg *cfg, const char *endpoint)
{
	l->cfg = cfg;
	l->scopes[0] = NULL;
	l->scopes[1] = NULL;
	if (endpoint && *endpoint) {
		snprintf(l->scope, sizeof(l->scope), "libstorage.server.endpoints.%s", endpoint);
		l->scopes[0] = l->scope;
	}
}

/* A file setting: the configured path (*explicit set) or the default
 * <etc>/tls/<name>. */
static void file_setting(const struct tls_lookup *l, const struct paths *paths,
			 enum cfg_key_id key, const char *name, char *out, size_t outsz,
			 bool *explicit)
{
	const char *v = NULL;

	cfg_key_str(l->cfg, l->scopes, key, &v);
	*explicit = v && *v;
	if (*explicit) {
		snprintf(out, outsz, "%s", v);
	} else {
		char rel[64];
		snprintf(rel, sizeof(rel), "tls/%s", name);
		/* too long a path is a file that does not exist */
		if (path_join(out, outsz, paths->etc, rel) < 0)
			out[0] = '\0';
	}
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_pem(const char *path, const char *key, char **out, struct err *e)
{
	int r = fs_read_file(path, TLS_FILE_MAX, out, NULL);

	if (r == -ENOENT)
		return err_set(e, r, "config: %s: '%s' does not exist", key, path);
	if (r == -EFBIG)
		return err_set(e, r, "config: %s: '%s' is larger than 1 MiB", key, path);
	if (r < 0)
		return err_set(e, r, "config: %s: cannot read '%s': %s", key, path, strerror(-r));
	return 0;
}

/* Parse what was read so that a bad file is named now, not as "cannot
 * start the HTTPS server" later. */
static int check_pems(const struct httpd_tls *t, const char *cert, const char *key,
		      const char *trust, struct err *e)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = { (unsigned char *)t->cert_pem, (unsigned)strlen(t->cert_pem) };
	gnutls_datum_t k = { (unsigned char *)t->key_pem, (unsigned)strlen(t->key_pem) };
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	r = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		gnutls_certificate_free_credentials(cred);
		return err_set(e, -EINVAL, "TLS: cannot use certificate '%s' with key '%s': %s",
			       cert, key, gnutls_strerror(r));
	}
	if (t->trust_pem) {
		gnutls_datum_t ca = { (unsigned char *)t->trust_pem,
				      (unsigned)strlen(t->trust_pem) };
		r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			gnutls_certificate_free_credentials(cred);
			return err_set(e, -EINVAL, "TLS: no usable CA certificate in '%s'%s%s",
				       trust, r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
		}
	}
	gnutls_certificate_free_credentials(cred);
	return 0;
}

/* Where the certificate, key and CAs are, and whether they are there. */
struct tls_files {
	char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX];
	bool cert_explicit, key_explicit, trust_explicit;
	bool client_cert_required;
};

static int find_files(const struct tls_lookup *l, const struct paths *paths,
		      struct tls_files *f, bool *present, struct err *e)
{
	bool have_cert, have_key;
	int r;

	file_setting(l, paths, CFGK_TLS_CERTFILE, "rexray.crt", f->cert, sizeof(f->cert),
		     &f->cert_explicit);
	file_setting(l, paths, CFGK_TLS_KEYFILE, "rexray.key", f->key, sizeof(f->key),
		     &f->key_explicit);
	file_setting(l, paths, CFGK_TLS_TRUSTEDCERTSFILE, "cacerts", f->trust,
		     sizeof(f->trust), &f->trust_explicit);
	r = cfg_key_bool(l->cfg, l->scopes, CFGK_TLS_CLIENTCERTREQUIRED, &f->client_cert_required,
			 e);
	if (r < 0)
		return r;
	have_cert = file_exists(f->cert);
	have_key = file_exists(f->key);
	*present = have_cert && have_key;
	if (*present || (!have_cert && !have_key && !f->cert_explicit && !f->key_explicit))
		return 0;
	/* half a pair, or a configured file that is not there */
	if (!have_cert)
		return err_set(e, -ENOENT, "TLS: certificate '%s' does not exist%s", f->cert,
			       have_key ? " (its key does)" : "");
	return err_set(e, -ENOENT, "TLS: key '%s' does not exist%s", f->key,
		       have_cert ? " (its certificate does)" : "");
}

static int load_files(const struct tls_files *f, struct httpd_tls *out, struct err *e)
{
	int r;

	if ((r = read_pem(f->cert, "libstorage.tls.certFile", &out->cert_pem, e)) < 0 ||
	    (r = read_pem(f->key, "libstorage.tls.keyFile", &out->key_pem, e)) < 0)
		return r;
	if (f->client_cert_required) {
		if (!file_exists(f->trust))
			return err_set(e, -ENOENT, "TLS: libstorage.tls.clientCertRequired needs "
				       "trusted CAs, and '%s' does not exist", f->trust);
		r = read_pem(f->trust, "libstorage.tls.trustedCertsFile", &out->trust_pem, e);
		if (r < 0)
			return r;
		out->client_cert_required = true;
	}
	return check_pems(out, f->cert, f->key, f->trust, e);
}

int tls_address_host(const char *address, char *buf, size_t bufsz)
{
	const char *hp, *colon;
	size_t n;

	if (!address || strncasecmp(address, "tcp://", 6) != 0)
		return -EINVAL;
	hp = address + 6;
	colon = strrchr(hp, ':');
	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - hp);
	if (n >= 2 && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n >= bufsz)
		return -EINVAL;
	memcpy(buf, hp, n);
	buf[n] = '\0';
	return 0;
}

static int refuse_plain(const char *address, const struct paths *paths, struct err *e)
{
	return err_set(e, -EPERM,
		       "refusing to serve plain HTTP on %s, which other hosts can reach: put a "
		       "certificate and key at %s/tls/rexray.crt and rexray.key (or set "
		       "libstorage.tls.certFile and libstorage.tls.keyFile), or set "
		       "libstorage.tls.disabled: true to allow plain HTTP explicitly",
		       address, paths->etc);
}

int tls_server_config(const struct cfg *cfg, const struct paths *paths, const char *endpoint_name,
		      const char *address, struct httpd_tls *out, bool *enabled, struct err *e)
{
	struct tls_lookup l;
	struct tls_files f;
	char host[256];
	bool disabled = false, sockittome = false, present = false;
	bool is_unix = address && strncasecmp(address, "unix://", 7) == 0;
	int r;

	memset(out, 0, sizeof(*out));
	*enabled = false;
	lookup_init(&l, cfg, endpoint_name);
	if ((r = cfg_key_bool(cfg, l.scopes, CFGK_TLS_DISABLED, &disabled, e)) < 0)
		return r;
	if (disabled)
		return 0;
	if (is_unix) {
		r = cfg_key_bool(cfg, NULL, CFGK_TLS_SOCKITTOME, &sockittome, e);
		if (r < 0 || !sockittome)
			return r;
	}
	if ((r = find_files(&l, paths, &f, &present, e)) < 0)
		return r;
	if (!present) {
		/* a malformed address is httpd's to report, by name */
		if (is_unix || tls_address_host(address, host, sizeof(host)) < 0 ||
		    net_host_is_loopback(host))
			return 0;
		return refuse_plain(address, paths, e);
	}
	if ((r = load_files(&f, out, e)) < 0) {
		httpd_tls_release(out);
		return r;
	}
	*enabled = true;
	log_debug("tls: %s serves TLS with %s", address, f.cert);
	return 0;
}
