/*
 * install|uninstall: the systemd unit and a self-signed TLS pair, for
 * engines built from source (docs/install.md; the Debian package and
 * `make install` do the same from packaging/).
 *
 * install writes, each file whole (a temp file + rename):
 *   <unitdir>/rexray.service  packaging/rexray.service.in, embedded at build
 *                             time (build/gen/rexray_service.h), with
 *                             @BINDIR@ = the directory of this binary
 *                             (/proc/self/exe)
 *   <etc>/tls/rexray.key      ECDSA P-256, PKCS#8 PEM, mode 0600
 *   <etc>/tls/rexray.crt      self-signed for this host's name, localhost,
 *                             127.0.0.1 and ::1, ten years, mode 0644
 *   <etc>/install.manifest    "<sha256>  <path>" of each file it wrote
 * <etc> is /etc/rexray ($REXRAY_HOME/etc/rexray, REXRAY_HOME_ETC). <unitdir>
 * is $REXRAY_SYSTEMD_DIR when set, else $REXRAY_HOME/etc/systemd/system
 * when REXRAY_HOME is set, else /etc/systemd/system.
 * An existing unit or pair is kept (and said so) unless --force; half a
 * pair is an error unless --force. `systemctl daemon-reload` and
 * `systemctl enable rexray.service` run only when systemd is running
 * (/run/systemd/system exists) and the unit went to /etc/systemd/system.
 *
 * uninstall removes the files the manifest names whose content is still
 * what install wrote (same SHA-256), keeps the changed ones, and removes
 * the manifest; a file install did not write is never touched. Before
 * removing the unit it disables it (systemd only), and it tells when the
 * engine is still running; it does not stop it.
 *
 * Exit status: 0 done (also when something was kept), 1 a step failed
 * (the message names the file and the cause), 2 a usage error.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "os/run.h"
#include "util/fs.h"
#include "util/paths.h"

#include "rexray_service.h" /* rr_service_template: build/gen, from packaging/ */

#define UNIT_NAME	"rexray.service"
#define SYSTEM_UNIT_DIR	"/etc/systemd/system"
#define MANIFEST_NAME	"install.manifest"
#define MANIFEST_MAX	(64 * 1024)
#define MANIFEST_FILES	8
#define INSTALL_FILE_MAX (1024 * 1024)
#define CERT_DAYS	3650
#define SYSTEMCTL_MS	30000

struct manifest {
	char path[MANIFEST_FILES][PATH_MAX];
	char sha[MANIFEST_FILES][65];
	int n;
};

/* What install does, decided before anything is written. */
struct plan {
	char unit_dir[PATH_MAX], unit[PATH_MAX];
	char tls_dir[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	char manifest[PATH_MAX];
	char bindir[PATH_MAX];
	bool real_unit_dir;	/* the unit goes to /etc/systemd/system */
};

static bool systemd_running(void)
{
	return access("/run/systemd/system", F_OK) == 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int unit_dir(const struct paths *p, char *out, size_t outsz, struct err *e)
{
	const char *env = getenv("REXRAY_SYSTEMD_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, outsz, "%s", env);
	else if (p->home[0])
		n = snprintf(out, outsz, "%s%s", p->home, SYSTEM_UNIT_DIR);
	else
		n = snprintf(out, outsz, "%s", SYSTEM_UNIT_DIR);
	if (n < 0 || (size_t)n >= outsz)
		return err_set(e, -ENAMETOOLONG, "the unit directory is too long");
	if (out[0] != '/')
		return err_set(e, -EINVAL, "REXRAY_SYSTEMD_DIR '%s': not an absolute path", out);
	return 0;
}

/* The directory of this binary, for ExecStart. A name systemd would read
 * differently (spaces, quotes, specifiers, variables) is refused rather
 * than quoted: nobody should have to debug that line. */
static int this_bindir(char *out, size_t outsz, struct err *e)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		return err_set(e, -errno, "cannot read /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	for (const char *c = exe; *c; c++) {
		if ((unsigned char)*c <= ' ' || strchr("\"'\\%$;`", *c) || (unsigned char)*c == 0x7f)
			return err_set(e, -EINVAL,
				       "this binary's path '%s' cannot stand in a unit's ExecStart "
				       "(spaces, quotes, %%, $ or a deleted file): install it elsewhere",
				       exe);
	}
	slash = strrchr(exe, '/');
	if (!slash || slash == exe)
		return err_set(e, -EINVAL, "this binary's path '%s' has no directory", exe);
	*slash = '\0';
	if ((size_t)snprintf(out, outsz, "%s", exe) >= outsz)
		return err_set(e, -ENAMETOOLONG, "this binary's path is too long");
	return 0;
}

static int make_plan(const struct engine *en, struct plan *pl, struct err *e)
{
	int r;

	memset(pl, 0, sizeof(*pl));
	if ((r = unit_dir(&en->paths, pl->unit_dir, sizeof(pl->unit_dir), e)) < 0)
		return r;
	pl->real_unit_dir = strcmp(pl->unit_dir, SYSTEM_UNIT_DIR) == 0;
	if (path_join(pl->unit, sizeof(pl->unit), pl->unit_dir, UNIT_NAME) < 0 ||
	    path_join(pl->tls_dir, sizeof(pl->tls_dir), en->paths.etc, "tls") < 0 ||
	    path_join(pl->crt, sizeof(pl->crt), pl->tls_dir, "rexray.crt") < 0 ||
	    path_join(pl->key, sizeof(pl->key), pl->tls_dir, "rexray.key") < 0 ||
	    path_join(pl->manifest, sizeof(pl->manifest), en->paths.etc, MANIFEST_NAME) < 0)
		return err_set(e, -ENAMETOOLONG, "a path under %s is too long", en->paths.etc);
	if (strchr(pl->unit, '\n') || strchr(pl->manifest, '\n'))
		return err_set(e, -EINVAL, "a path with a newline cannot go into %s", pl->manifest);
	return 0;
}

/* The unit text: the template with every @BINDIR@ replaced. Caller frees. */
static char *render_unit(const char *bindir)
{
	static const char var[] = "@BINDIR@";
	size_t n = 0, blen = strlen(bindir);
	const char *p, *q;
	char *out, *o;

	for (p = rr_service_template; (q = strstr(p, var)); p = q + sizeof(var) - 1)
		n++;
	out = malloc(sizeof(rr_service_template) + n * blen);
	if (!out)
		return NULL;
	o = out;
	for (p = rr_service_template; (q = strstr(p, var)); p = q + sizeof(var) - 1) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, bindir, blen);
		o += blen;
	}
	strcpy(o, p);
	return out;
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0)
		return -EIO;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* -ENOENT when path is missing */
static int sha256_file(const char *path, char out[65])
{
	char *buf = NULL;
	size_t len = 0;
	int r = fs_read_file(path, INSTALL_FILE_MAX, &buf, &len);

	if (r == 0)
		r = sha256_hex(buf, len, out);
	free(buf);
	return r;
}

/* ---- the manifest */

static int manifest_read(const char *path, struct manifest *m, struct err *e)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len;
	int r;

	memset(m, 0, sizeof(*m));
	r = fs_read_file(path, MANIFEST_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(e, r, "cannot read %s: %s", path, strerror(-r));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !line[0])
			continue;
		if (strlen(line) < 67 || strspn(line, "0123456789abcdef") != 64 ||
		    strncmp(line + 64, "  /", 3) != 0 || m->n == MANIFEST_FILES ||
		    strlen(line + 66) >= PATH_MAX) {
			free(buf);
			return err_set(e, -EINVAL, "%s: not a manifest line: '%.80s'", path, line);
		}
		memcpy(m->sha[m->n], line, 64);
		m->sha[m->n][64] = '\0';
		strcpy(m->path[m->n], line + 66);
		m->n++;
	}
	free(buf);
	return 0;
}

static void manifest_set(struct manifest *m, const char *path, const char sha[65])
{
	int i;

	for (i = 0; i < m->n && strcmp(m->path[i], path) != 0; i++)
		;
	if (i == MANIFEST_FILES)
		return; /* cannot happen: install writes three files */
	snprintf(m->path[i], sizeof(m->path[i]), "%s", path);
	memcpy(m->sha[i], sha, 65);
	if (i == m->n)
		m->n++;
}

static int manifest_write(const char *path, const struct manifest *m, struct err *e)
{
	char buf[MANIFEST_FILES * (PATH_MAX + 80) + 200];
	size_t off;
	int r;

	off = (size_t)snprintf(buf, sizeof(buf),
			       "# written by rexray install: the files it wrote and their SHA-256;\n"
			       "# rexray uninstall removes each one that is unchanged\n");
	for (int i = 0; i < m->n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s  %s\n", m->sha[i],
					m->path[i]);
	if ((r = fs_write_atomic(path, buf, off, 0644)) < 0)
		return err_set(e, r, "cannot write %s: %s", path, strerror(-r));
	return 0;
}

/* Write one file whole with its mode, and note it in m. */
static int put_file(const char *path, const char *data, size_t len, mode_t mode,
		    struct manifest *m, struct err *e)
{
	char dir[PATH_MAX], sha[65];
	char *slash;
	int r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	if ((r = fs_mkdir_p(dir, 0755)) < 0)
		return err_set(e, r, "cannot create %s: %s", dir, strerror(-r));
	if ((r = fs_write_atomic(path, data, len, mode)) < 0)
		return err_set(e, r, "cannot write %s: %s", path, strerror(-r));
	/* the umask may have taken bits away; it never adds any */
	if (chmod(path, mode) < 0)
		return err_set(e, -errno, "cannot chmod %s: %s", path, strerror(errno));
	if ((r = sha256_hex(data, len, sha)) < 0)
		return err_set(e, r, "cannot hash %s", path);
	manifest_set(m, path, sha);
	return 0;
}

/* ---- the TLS pair */

#define GT(call)                                                                   \
	do {                                                                       \
		if ((g = (call)) < 0) {                                            \
			what = #call;                                              \
			goto out;                                                  \
		}                                                                  \
	} while (0)

/* A new key and a self-signed certificate for it, as PEM in *key_pem and
 * *crt_pem (gnutls_free both). */
static int make_pair(gnutls_datum_t *key_pem, gnutls_datum_t *crt_pem, char *expiry,
		     size_t expirysz, struct err *e)
{
	static const unsigned char ip4[4] = { 127, 0, 0, 1 };
	static const unsigned char ip6[16] = { [15] = 1 };
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	unsigned char serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	char host[256] = "";
	const char *what = "";
	time_t now = time(NULL), until = now + (time_t)CERT_DAYS * 86400;
	struct tm tm;
	int g = 0;

	key_pem->data = crt_pem->data = NULL;
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	GT(gnutls_x509_privkey_init(&key));
	GT(gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0));
	GT(gnutls_x509_crt_init(&crt));
	GT(gnutls_x509_crt_set_version(crt, 3));
	GT(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)));
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, 16 bytes */
	GT(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)));
	GT(gnutls_x509_crt_set_activation_time(crt, now - 3600));
	GT(gnutls_x509_crt_set_expiration_time(crt, until));
	GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host,
					 (unsigned)strlen(host)));
	GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "rexray-c",
					 8));
	GT(gnutls_x509_crt_set_key(crt, key));
	GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
						(unsigned)strlen(host), GNUTLS_FSAN_APPEND));
	if (strcmp(host, "localhost") != 0)
		GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
							GNUTLS_FSAN_APPEND));
	GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip4, sizeof(ip4),
						GNUTLS_FSAN_APPEND));
	GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip6, sizeof(ip6),
						GNUTLS_FSAN_APPEND));
	/* its own trust anchor: clients name this file as their CA */
	GT(gnutls_x509_crt_set_basic_constraints(crt, 1, 0));
	GT(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
						      GNUTLS_KEY_KEY_CERT_SIGN));
	GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
	GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0));
	GT(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, keyid, &keyid_len));
	GT(gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len));
	GT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
	GT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, crt_pem));
	GT(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					     key_pem));
	gmtime_r(&until, &tm);
	strftime(expiry, expirysz, "%Y-%m-%d", &tm);
out:
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	if (g < 0) {
		gnutls_free(crt_pem->data);
		gnutls_free(key_pem->data);
		key_pem->data = crt_pem->data = NULL;
		return err_set(e, -EIO, "cannot make the TLS pair: %s: %s", what,
			       gnutls_strerror(g));
	}
	return 0;
}

/* ---- systemctl */

static int systemctl(const char *verb, const char *unit, struct err *e)
{
	const char *argv[] = { "systemctl", verb, unit, NULL };
	int r = run_command(argv, SYSTEMCTL_MS, e);

	if (r < 0)
		return err_prefix(e, "systemctl %s", verb);
	printf("ran systemctl %s%s%s\n", verb, unit ? " " : "", unit ? unit : "");
	return 0;
}

static bool service_active(void)
{
	const char *argv[] = { "systemctl", "is-active", "--quiet", UNIT_NAME, NULL };
	struct err e = ERR_INIT;

	return run_command(argv, SYSTEMCTL_MS, &e) == 0;
}

/* the PID of a live engine named by <run>/rexray.pid, else 0 */
static long engine_pid(const struct engine *en)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len;
	long pid = 0;

	if (path_join(path, sizeof(path), en->paths.run, "rexray.pid") == 0 &&
	    fs_read_file(path, 64, &buf, &len) == 0)
		pid = strtol(buf, NULL, 10);
	free(buf);
	return pid > 0 && engine_process_alive(pid) ? pid : 0;
}

/* ---- install */

static int do_install(struct engine *en, bool force, struct err *e)
{
	gnutls_datum_t key_pem = { NULL, 0 }, crt_pem = { NULL, 0 };
	struct manifest m;
	struct plan pl;
	char *unit = NULL, *old = NULL, expiry[16] = "";
	size_t old_len = 0;
	bool write_unit = true, write_pair = true, wrote_unit = false;
	bool have_crt, have_key;
	int r;

	if ((r = make_plan(en, &pl, e)) < 0 || (r = this_bindir(pl.bindir, sizeof(pl.bindir), e)) < 0)
		return r;
	if ((r = manifest_read(pl.manifest, &m, e)) < 0)
		return r;
	if (!(unit = render_unit(pl.bindir)))
		return err_set(e, -ENOMEM, "out of memory");

	/* decide everything before writing anything */
	r = fs_read_file(pl.unit, INSTALL_FILE_MAX, &old, &old_len);
	if (r == 0 && old_len == strlen(unit) && memcmp(old, unit, old_len) == 0) {
		printf("%s is up to date\n", pl.unit);
		write_unit = false;
	} else if (r == 0 && !force) {
		printf("kept %s: it differs from this binary's unit (--force replaces it)\n",
		       pl.unit);
		write_unit = false;
	} else if (r < 0 && r != -ENOENT) {
		r = err_set(e, r, "cannot read %s: %s", pl.unit, strerror(-r));
		goto out;
	}
	have_crt = exists(pl.crt);
	have_key = exists(pl.key);
	if (have_crt && have_key && !force) {
		printf("kept the TLS pair %s and %s (--force makes a new one)\n", pl.crt, pl.key);
		write_pair = false;
	} else if ((have_crt || have_key) && !force) {
		r = err_set(e, -EEXIST,
			    "%s exists but %s does not: half a TLS pair; move it away, or "
			    "--force makes a new pair", have_crt ? pl.crt : pl.key,
			    have_crt ? pl.key : pl.crt);
		goto out;
	}
	if (write_pair && (r = make_pair(&key_pem, &crt_pem, expiry, sizeof(expiry), e)) < 0)
		goto out;

	/* the key first: a certificate never stands beside a key of another pair
	 * for longer than one rename */
	if (write_pair) {
		if ((r = put_file(pl.key, (const char *)key_pem.data, key_pem.size, 0600, &m, e)) < 0 ||
		    (r = put_file(pl.crt, (const char *)crt_pem.data, crt_pem.size, 0644, &m, e)) < 0)
			goto out_manifest;
		printf("wrote %s (0600) and %s (0644): self-signed ECDSA P-256, until %s\n", pl.key,
		       pl.crt, expiry);
	}
	if (write_unit) {
		if ((r = put_file(pl.unit, unit, strlen(unit), 0644, &m, e)) < 0)
			goto out_manifest;
		wrote_unit = true;
		printf("wrote %s (ExecStart=%s/rexray service start -f)\n", pl.unit, pl.bindir);
	}
out_manifest:
	if (m.n) {
		struct err me = ERR_INIT;

		if (manifest_write(pl.manifest, &m, r < 0 ? &me : e) < 0 && r == 0)
			r = e->code;
	}
	if (r < 0)
		goto out;
	if (!pl.real_unit_dir) {
		printf("the unit is in %s, not %s: systemctl not run\n", pl.unit_dir,
		       SYSTEM_UNIT_DIR);
	} else if (!systemd_running()) {
		printf("systemd is not running here: once it is, systemctl enable --now %s\n",
		       UNIT_NAME);
	} else {
		if ((wrote_unit && (r = systemctl("daemon-reload", NULL, e)) < 0) ||
		    (r = systemctl("enable", UNIT_NAME, e)) < 0)
			goto out;
		printf("start it with: systemctl start rexray\n");
	}
out:
	gnutls_free(key_pem.data);
	gnutls_free(crt_pem.data);
	free(old);
	free(unit);
	return r;
}

/* ---- uninstall */

static int do_uninstall(struct engine *en, struct err *e)
{
	struct manifest m;
	struct plan pl;
	bool systemd, unit_listed = false, unit_removed = false;
	long pid;
	int r;

	if ((r = make_plan(en, &pl, e)) < 0 || (r = manifest_read(pl.manifest, &m, e)) < 0)
		return r;
	if (m.n == 0) {
		printf("no %s: rexray install wrote nothing here; nothing removed\n", pl.manifest);
		return 0;
	}
	systemd = pl.real_unit_dir && systemd_running();
	for (int i = 0; i < m.n; i++) {
		char sha[65];

		r = sha256_file(m.path[i], sha);
		if (r == -ENOENT) {
			printf("%s is already gone\n", m.path[i]);
			continue;
		}
		if (r < 0)
			return err_set(e, r, "cannot read %s: %s", m.path[i], strerror(-r));
		if (strcmp(sha, m.sha[i]) != 0) {
			printf("kept %s: it changed since rexray install\n", m.path[i]);
			continue;
		}
		if (strcmp(m.path[i], pl.unit) == 0) {
			unit_listed = true;
			if (systemd && (r = systemctl("disable", UNIT_NAME, e)) < 0)
				return r;
		}
		if (unlink(m.path[i]) < 0 && errno != ENOENT)
			return err_set(e, -errno, "cannot remove %s: %s", m.path[i], strerror(errno));
		printf("removed %s\n", m.path[i]);
		if (strcmp(m.path[i], pl.unit) == 0)
			unit_removed = true;
	}
	if (unlink(pl.manifest) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove %s: %s", pl.manifest, strerror(errno));
	(void)rmdir(pl.tls_dir); /* only when empty */
	if (systemd && unit_removed && (r = systemctl("daemon-reload", NULL, e)) < 0)
		return r;
	if (systemd && service_active())
		printf("%s is still running%s: stop it with systemctl stop rexray\n", UNIT_NAME,
		       unit_listed ? " from the removed unit" : "");
	else if ((pid = engine_pid(en)) > 0)
		printf("the engine is still running at PID %ld: stop it with rexray stop\n", pid);
	return 0;
}

int cli_install(struct engine *en, const char *cmd, struct cli_args *a)
{
	struct err e = ERR_INIT;
	int r;

	if (a->n_words > 1) {
		fprintf(stderr, "rexray: %s takes no arguments (see rexray help %s)\n", cmd, cmd);
		return 2;
	}
	if (strcmp(cmd, "install") == 0)
		r = do_install(en, a->force, &e);
	else
		r = do_uninstall(en, &e);
	if (r < 0) {
		cli_error(cmd, &e);
		return 1;
	}
	return 0;
}
