/*
 * vplugin: the Docker volume plugin client (vplugin.h says what it does).
 *
 * The rules follow the Docker 1.11 code dvdcli 0.2 vendored (pkg/plugins,
 * volume/drivers): where to look, how long to retry, how a reply becomes
 * an error. Replies are decoded the way Go's encoding/json decodes them
 * into those structs: member names match case-insensitively, unknown
 * members are ignored, a null member is as good as a missing one and
 * anything after the first JSON value is not read.
 *
 * What is ours: every request is bounded by timeout_ms, a reply by
 * VP_MAX_REPLY, and only failures to *connect* are retried (a request the
 * plugin may have received is never sent twice).
 *
 * Transport: net/httpc.h. A unix:// plugin, nearly every one, needs no
 * libcurl; tcp://, http:// and https:// load it, so that dvdcli, exec'd
 * once per mount, does not load libcurl and its ~32 libraries at every
 * start. Both send the same bytes: POST /<method>, Host, Accept,
 * Content-Length and the body.
 */
#include "volplugin/volplugin.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "net/httpc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/time.h"
#include "util/jsondump.h"

#define VP_DEFAULT_TIMEOUT_MS  120000L
#define VP_DEFAULT_DISCOVER_MS 30000L
#define VP_MAX_DISCOVER_MS     3600000L
#define VP_MAX_REPLY	       (16u << 20) /* a larger reply is refused */
#define VP_MAX_SPEC	       (64u << 10) /* .spec and .json files */
#define VP_NAME_MAX	       255
#define VP_SOCKET_DIR	       "/run/docker/plugins"
#define VP_SPEC_DIRS	       "/etc/docker/plugins:/usr/lib/docker/plugins"
#define VP_UNIX_HOST	       "plugin" /* Host header on a unix socket; plugins ignore it */
#define VP_ACCEPT	       "Accept: application/vnd.docker.plugins.v1.2+json"

struct volplugin {
	struct httpc *http; /* NULL until the address is known */
	char *address;	   /* as found: "unix:///...", a .spec's URL, a .json's Addr */
	char *socket_path; /* unix socket, or NULL for TCP */
	char *base_url;	   /* "http://plugin", "http://host:port", "https://host:port" */
	/* the .json TLSConfig; without one (sockets, .spec) https verifies with the system CAs */
	bool has_tls;
	bool insecure;
	char *ca_file, *cert_file, *key_file;
	long timeout_ms;
	long discover_ms; /* retry budget; 0 = no retries */
	void (*log)(enum log_level lvl, const char *msg);
};

/* ---- logging ---- */

static void vp_log(const struct volplugin *p, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vp_log(const struct volplugin *p, enum log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (lvl > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->log)
		p->log(lvl, msg);
	else
		log_msg(lvl, "%s", msg);
}

/* ---- time and backoff ---- */

static long elapsed_ms(long long start)
{
	return (long)(time_now_ms() - start);
}

/* Docker's backoff: 1 s doubling up to the budget. */
static long backoff_ms(int retries, long max_ms)
{
	long b = 1000;

	while (b < max_ms && retries-- > 0)
		b *= 2;
	return b > max_ms ? max_ms : b;
}

/* Docker stops once the next wait would reach the budget. */
static bool give_up(long long start, long wait_ms, long max_ms)
{
	return max_ms <= 0 || elapsed_ms(start) + wait_ms >= max_ms;
}

/* 0 (the caller's default) means DVDCLI_DISCOVERY_TIMEOUT seconds when set, else 30 s. */
static long discover_budget(const struct volplugin *p, long discover_ms)
{
	const char *env = getenv("DVDCLI_DISCOVERY_TIMEOUT");
	char *end;
	double s;

	if (discover_ms < 0)
		return 0;
	if (discover_ms > 0)
		return discover_ms;
	if (!env || !*env)
		return VP_DEFAULT_DISCOVER_MS;
	errno = 0;
	s = strtod(env, &end);
	if (errno || *end || !isfinite(s) || s < 0 || s * 1000 > VP_MAX_DISCOVER_MS) {
		vp_log(p, LOG_WARN, "DVDCLI_DISCOVERY_TIMEOUT='%.32s' is not 0-3600 seconds; "
		       "using 30", env);
		return VP_DEFAULT_DISCOVER_MS;
	}
	return (long)(s * 1000);
}

/* ---- discovery ---- */

static int oom(struct err *e)
{
	return err_set(e, -ENOMEM, "out of memory");
}

static void location_free(struct volplugin *p)
{
	free(p->address);
	free(p->ca_file);
	free(p->cert_file);
	free(p->key_file);
	p->address = p->ca_file = p->cert_file = p->key_file = NULL;
	p->has_tls = p->insecure = false;
}

/* Legacy plugin names are file names; "owner/name" is a managed (v2) plugin. */
static int name_check(const char *name, struct err *e)
{
	size_t len = name ? strnlen(name, VP_NAME_MAX + 1) : 0;

	if (len == 0)
		return err_set(e, -EINVAL, "missing volume driver name");
	if (len > VP_NAME_MAX)
		return err_set(e, -EINVAL, "volume driver name is longer than %d bytes",
			       VP_NAME_MAX);
	if (strchr(name, '/'))
		return err_set(e, -EINVAL,
			       "volume driver '%.64s': managed (v2) plugins are not supported",
			       name);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(e, -EINVAL, "volume driver name '%s' is not allowed", name);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return err_set(e, -EINVAL, "volume driver name has control characters");
	}
	return 0;
}

/* "<dir>/<name><ext>" (sub = false) or "<dir>/<name>/<name><ext>". */
static bool candidate(char *out, size_t sz, const char *dir, size_t dlen, const char *name,
		      bool sub, const char *ext)
{
	int n = sub ? snprintf(out, sz, "%.*s/%s/%s%s", (int)dlen, dir, name, name, ext)
		    : snprintf(out, sz, "%.*s/%s%s", (int)dlen, dir, name, ext);

	return n > 0 && (size_t)n < sz;
}

static int found(struct volplugin *p, char *address, struct err *e)
{
	if (!address)
		return oom(e);
	p->address = address;
	return 0;
}

/* 0 when a socket is there, -ENOENT when not. */
static int try_sockets(struct volplugin *p, const char *dir, const char *name, struct err *e)
{
	char path[PATH_MAX], *addr;
	struct stat st;

	for (int sub = 0; sub < 2; sub++) {
		if (!candidate(path, sizeof(path), dir, strlen(dir), name, sub, ".sock"))
			continue;
		if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (asprintf(&addr, "unix://%s", path) < 0)
			addr = NULL;
		return found(p, addr, e);
	}
	return -ENOENT;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
			   end[-1] == '\r' || end[-1] == '\v' || end[-1] == '\f'))
		*--end = '\0';
	return s;
}

/* A URL needs "<scheme>://" (Docker: "Unknown protocol" otherwise). */
static bool has_scheme(const char *url)
{
	const char *sep = strstr(url, "://");

	if (!sep || sep == url)
		return false;
	for (const char *c = url; c < sep; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (c > url && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' ||
				       *c == '.'));
		if (!ok)
			return false;
	}
	return true;
}

static int read_spec(struct volplugin *p, const char *path, struct err *e)
{
	char *buf = NULL, *url;
	int r;

	r = fs_read_file(path, VP_MAX_SPEC, &buf, NULL);
	if (r < 0)
		return err_set(e, r, "read %s: %s", path, strerror(-r));
	url = trim(buf);
	if (!has_scheme(url))
		r = err_set(e, -EINVAL, "Unknown protocol");
	else
		r = found(p, strdup(url), e);
	free(buf);
	return r;
}

/* The member key of o, matched as Go does: exactly, else ignoring case. */
static json_t *member(json_t *o, const char *key)
{
	const char *k;
	json_t *v, *hit = NULL;

	if (!json_is_object(o))
		return NULL;
	v = json_object_get(o, key);
	if (v)
		return json_is_null(v) ? NULL : v;
	json_object_foreach (o, k, v) {
		if (strcasecmp(k, key) == 0)
			hit = v;
	}
	return json_is_null(hit) ? NULL : hit;
}

/* A string member; missing or null is "". -EPROTO when it is something else. */
static int member_str(json_t *o, const char *key, const char **out)
{
	json_t *v = member(o, key);

	*out = "";
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EPROTO;
	*out = json_string_value(v);
	return 0;
}

static int dup_member(json_t *o, const char *key, char **out, const char *path, struct err *e)
{
	const char *s;

	if (member_str(o, key, &s) < 0)
		return err_set(e, -EINVAL, "%s: %s is not a string", path, key);
	*out = *s ? strdup(s) : NULL;
	if (*s && !*out)
		return oom(e);
	return 0;
}

static int read_tls(struct volplugin *p, json_t *tls, const char *path, struct err *e)
{
	json_t *skip = member(tls, "InsecureSkipVerify");
	int r;

	if (!json_is_object(tls))
		return err_set(e, -EINVAL, "%s: TLSConfig is not an object", path);
	if (skip && !json_is_boolean(skip))
		return err_set(e, -EINVAL, "%s: InsecureSkipVerify is not a boolean", path);
	p->has_tls = true;
	if ((r = dup_member(tls, "CAFile", &p->ca_file, path, e)) < 0 ||
	    (r = dup_member(tls, "CertFile", &p->cert_file, path, e)) < 0 ||
	    (r = dup_member(tls, "KeyFile", &p->key_file, path, e)) < 0)
		return r;
	/* Docker: no CAFile means no verification */
	p->insecure = json_is_true(skip) || !p->ca_file;
	return 0;
}

static int read_json_spec(struct volplugin *p, const char *path, struct err *e)
{
	json_t *root = NULL, *tls;
	char *buf = NULL;
	json_error_t je;
	const char *addr;
	size_t len = 0;
	int r;

	r = fs_read_file(path, VP_MAX_SPEC, &buf, &len);
	if (r < 0)
		return err_set(e, r, "read %s: %s", path, strerror(-r));
	root = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &je);
	free(buf);
	if (!root)
		return err_set(e, -EINVAL, "%s: %s", path, je.text);
	if (!json_is_object(root)) {
		r = err_set(e, -EINVAL, "%s: not a JSON object", path);
		goto out;
	}
	if (member_str(root, "Addr", &addr) < 0) {
		r = err_set(e, -EINVAL, "%s: Addr is not a string", path);
		goto out;
	}
	if (!has_scheme(addr)) {
		r = err_set(e, -EINVAL, "Unknown protocol");
		goto out;
	}
	tls = member(root, "TLSConfig");
	if (tls && (r = read_tls(p, tls, path, e)) < 0)
		goto out;
	r = found(p, strdup(addr), e);
out:
	json_decref(root);
	return r;
}

/* N.spec, N/N.spec, N.json, N/N.json in one spec dir. */
static int try_spec_dir(struct volplugin *p, const char *dir, size_t dlen, const char *name,
			struct err *e)
{
	static const char *const exts[] = { ".spec", ".json" };
	char path[PATH_MAX];
	struct stat st;

	for (int x = 0; x < 2; x++) {
		for (int sub = 0; sub < 2; sub++) {
			if (!candidate(path, sizeof(path), dir, dlen, name, sub, exts[x]))
				continue;
			if (stat(path, &st) < 0)
				continue;
			return x == 0 ? read_spec(p, path, e) : read_json_spec(p, path, e);
		}
	}
	return -ENOENT;
}

/* The environment overrides the default directories; set but empty means none. */
static const char *dir_setting(const char *env, const char *def)
{
	const char *v = getenv(env);

	return v ? v : def;
}

/* One look-up: 0 (found), -ENOENT "plugin not found", or the error of a bad spec file. */
static int locate(struct volplugin *p, const char *name, struct err *e)
{
	const char *sockdir = dir_setting("DVDCLI_SOCKET_DIR", VP_SOCKET_DIR);
	const char *dirs = dir_setting("DVDCLI_SPEC_DIRS", VP_SPEC_DIRS);
	int r;

	location_free(p);
	if (*sockdir && (r = try_sockets(p, sockdir, name, e)) != -ENOENT)
		return r;
	for (const char *d = dirs; *d;) {
		size_t len = strcspn(d, ":");

		if (len > 0 && (r = try_spec_dir(p, d, len, name, e)) != -ENOENT)
			return r;
		d += len;
		if (*d == ':')
			d++;
	}
	return err_set(e, -ENOENT, "plugin not found");
}

static int locate_with_retry(struct volplugin *p, const char *name, struct err *e)
{
	long long start = time_now_ms();
	int r;

	for (int retries = 0;; retries++) {
		long wait;

		if ((r = locate(p, name, e)) == 0 || r == -ENOMEM)
			return r;
		/* Docker retries every look-up error: a spec file may be half written */
		wait = backoff_ms(retries, p->discover_ms);
		if (give_up(start, wait, p->discover_ms))
			return r;
		vp_log(p, LOG_WARN, "Unable to locate plugin: %s, retrying in %lds", name,
		       wait / 1000);
		time_sleep_ms(wait);
	}
}

int volplugin_locate(const char *name, char **address, struct err *e)
{
	struct volplugin p = { 0 };
	int r;

	*address = NULL;
	if ((r = name_check(name, e)) < 0)
		return r;
	r = locate(&p, name, e);
	if (r == 0) {
		*address = p.address;
		p.address = NULL;
	}
	location_free(&p);
	return r;
}

/* ---- the address -> the transport (unixhttp or libcurl) ---- */

static int bad_address(const struct volplugin *p, const char *why, struct err *e)
{
	return err_set(e, -EINVAL, "plugin address '%.200s': %s", p->address, why);
}

/* The host[:port] part of a URL, up to the first '/'. */
static int set_host(struct volplugin *p, const char *scheme, const char *rest, struct err *e)
{
	size_t len = strcspn(rest, "/?#");

	if (len == 0)
		return bad_address(p, "no host", e);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rest[i];
		if (c <= ' ' || c == 0x7f || c == '@' || c == '\\')
			return bad_address(p, "bad character in the host", e);
	}
	if (strcmp(scheme, "tcp") == 0 && !memchr(rest, ':', len))
		return bad_address(p, "tcp:// needs host:port", e);
	if (asprintf(&p->base_url, "%s://%.*s", strcmp(scheme, "https") == 0 ? "https" : "http",
		     (int)len, rest) < 0) {
		p->base_url = NULL;
		return oom(e);
	}
	return 0;
}

static int parse_address(struct volplugin *p, struct err *e)
{
	const char *a = p->address;

	if (strncmp(a, "unix://", 7) == 0) {
		struct sockaddr_un sun;

		if (!a[7])
			return bad_address(p, "no socket path", e);
		if (strlen(a + 7) >= sizeof(sun.sun_path))
			return bad_address(p, "the socket path is too long", e);
		p->socket_path = strdup(a + 7);
		p->base_url = strdup("http://" VP_UNIX_HOST);
		return p->socket_path && p->base_url ? 0 : oom(e);
	}
	if (strncasecmp(a, "tcp://", 6) == 0)
		return set_host(p, "tcp", a + 6, e);
	if (strncasecmp(a, "http://", 7) == 0)
		return set_host(p, "http", a + 7, e);
	if (strncasecmp(a, "https://", 8) == 0)
		return set_host(p, "https", a + 8, e);
	return bad_address(p, "only unix://, tcp://, http:// and https:// are supported", e);
}

/* unix:// needs no libcurl; the rest loads it now. */
static int transport_setup(struct volplugin *p, struct err *e)
{
	const struct httpc_opts o = {
		.base_url = p->base_url,
		.socket_path = p->socket_path,
		.timeout_ms = p->timeout_ms,
		.max_body = VP_MAX_REPLY,
		/* plugins are local infrastructure: never through an http_proxy */
		.no_proxy = true,
		/* without a TLSConfig (sockets, .spec) https verifies with the system CAs */
		.insecure = p->has_tls && p->insecure,
		.ca_file = p->ca_file,
		.cert_file = p->cert_file,
		.key_file = p->key_file,
		.purpose = "tcp:// and http(s):// plugins",
	};

	return httpc_new(&o, &p->http, e);
}

/* ---- one call ---- */

static int too_big(const char *method, struct err *e)
{
	return err_set(e, -EFBIG, "%s: the plugin's reply is larger than %u MiB", method,
		       VP_MAX_REPLY >> 20);
}

static int no_reply(const struct volplugin *p, const char *method, struct err *e)
{
	return err_set(e, -ETIMEDOUT, "%s: no reply from the plugin at %s within %ld ms", method,
		       p->address, p->timeout_ms);
}

/* One POST /<method>, failures in dvdcli's words. */
static int perform_once(struct volplugin *p, const char *method, const char *body,
			struct httpc_reply *rep, struct err *e)
{
	struct httpc_req req = {
		.method = "POST",
		/* Go sends no Content-Type */
		.headers = VP_ACCEPT "\r\n",
		.body = body,
		.len = strlen(body),
	};
	struct err te = ERR_INIT;
	char target[512];
	int r;

	if (snprintf(target, sizeof(target), "/%s", method) >= (int)sizeof(target))
		return err_set(e, -ENAMETOOLONG, "%s: the plugin URL is too long", method);
	req.target = target;
	r = httpc_request(p->http, &req, rep, &te);
	switch (r < 0 ? rep->fail : HTTPC_OK) {
	case HTTPC_OK:
		return 0;
	case HTTPC_CONNECT:
		return err_set(e, r, "%s: cannot connect to the plugin at %s: %s", method,
			       p->address, te.msg);
	case HTTPC_TIMEOUT:
		return no_reply(p, method, e);
	case HTTPC_TOO_BIG:
		return too_big(method, e);
	case HTTPC_NOMEM:
		return oom(e);
	default: /* a transport failure, the plugin's fault */
		return err_set(e, -EIO, "%s: %s", method, te.msg);
	}
}

/* POST /<method> with body; retries a failed connect within the discovery budget. */
static int perform(struct volplugin *p, const char *method, const char *body,
		   struct httpc_reply *rep, struct err *e)
{
	long long start = time_now_ms();

	for (int retries = 0;; retries++) {
		long wait;
		int r;

		httpc_reply_release(rep);
		r = perform_once(p, method, body, rep, e);
		if (r == 0)
			break;
		wait = backoff_ms(retries, p->discover_ms);
		if (rep->fail != HTTPC_CONNECT || give_up(start, wait, p->discover_ms))
			return r;
		vp_log(p, LOG_WARN, "Unable to connect to plugin: %s, retrying in %lds",
		       p->address, wait / 1000);
		time_sleep_ms(wait);
	}
	vp_log(p, LOG_DEBUG, "plugin %s: POST /%s -> %d (%zu bytes)", p->address, method,
	       rep->status, rep->len);
	return 0;
}

/* A non-200 reply: "<Method>: <Err>" when the body has one, else the raw body. */
static int status_error(const char *method, const struct httpc_reply *rep, struct err *e)
{
	const char *text = rep->body ? rep->body : "";
	json_t *root = json_loadb(text, rep->len, JSON_DISABLE_EOF_CHECK, NULL);
	const char *msg;
	size_t len;
	int r;

	if (root && member_str(root, "Err", &msg) == 0 && *msg) {
		r = err_set(e, -EIO, "%s: %s", method, msg);
		json_decref(root);
		return r;
	}
	json_decref(root);
	/* a Go mux's "404 page not found\n": the line break adds nothing */
	len = strnlen(text, rep->len);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	return err_set(e, -EIO, "%s: %.*s", method, (int)len, text);
}

static int decode_error(const char *method, const char *why, struct err *e)
{
	return err_set(e, -EPROTO, "%s: error reading plugin resp: %s", method, why);
}

/*
 * POST /<method> with req (NULL: an empty body) and decode the reply into
 * *reply, a JSON object (null counts as {}). The HTTP status is mapped
 * here; the Err of a 200 reply is the caller's.
 */
static int call(struct volplugin *p, const char *method, const json_t *req, json_t **reply,
		struct err *e)
{
	struct httpc_reply rep = { 0 };
	json_error_t je;
	char *body = NULL;
	int r;

	*reply = NULL;
	if (req) {
		char *j = json_text(req, JSON_COMPACT);
		/* Go's json.Encoder ends the body with a line break */
		if (!j || asprintf(&body, "%s\n", j) < 0)
			body = NULL;
		free(j);
		if (!body)
			return oom(e);
	}
	r = perform(p, method, body ? body : "", &rep, e);
	if (r < 0)
		goto out;
	if (rep.status != 200) {
		r = status_error(method, &rep, e);
		goto out;
	}
	*reply = json_loadb(rep.body ? rep.body : "", rep.len,
			    JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
	if (!*reply) {
		r = decode_error(method, je.text, e);
	} else if (json_is_null(*reply)) {
		json_decref(*reply);
		*reply = json_object();
		r = *reply ? 0 : oom(e);
	} else if (!json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		r = decode_error(method, "expected a JSON object", e);
	}
out:
	free(body);
	httpc_reply_release(&rep);
	return r;
}

/* A VolumeDriver call: the reply's non-empty Err is the error, word for word. */
static int vd_call(struct volplugin *p, const char *method, json_t *req, json_t **reply,
		   struct err *e)
{
	const char *msg;
	int r;

	*reply = NULL;
	/* jansson refuses strings that are not UTF-8 (or memory ran out) */
	if (!req)
		return err_set(e, -EINVAL, "%s: cannot encode the request: a name or an option "
			       "is not valid UTF-8", method);
	r = call(p, method, req, reply, e);
	json_decref(req);
	if (r < 0)
		return r;
	if (member_str(*reply, "Err", &msg) < 0)
		r = decode_error(method, "Err is not a string", e);
	else if (*msg)
		r = err_set(e, -EIO, "%s", msg);
	if (r < 0) {
		json_decref(*reply);
		*reply = NULL;
	}
	return r;
}

/* A string member of a reply, copied; missing is "". */
static int reply_str(const char *method, json_t *o, const char *key, char **out,
		     struct err *e)
{
	const char *s;
	char why[96];

	if (member_str(o, key, &s) < 0) {
		snprintf(why, sizeof(why), "%s is not a string", key);
		return decode_error(method, why, e);
	}
	*out = strdup(s);
	return *out ? 0 : oom(e);
}

/* ---- activation and the handle ---- */

static int activate(struct volplugin *p, struct err *e)
{
	json_t *reply, *impl, *v;
	size_t i;
	int r;

	if ((r = call(p, "Plugin.Activate", NULL, &reply, e)) < 0)
		return r;
	impl = member(reply, "Implements");
	if (impl && !json_is_array(impl)) {
		r = decode_error("Plugin.Activate", "Implements is not an array", e);
		goto out;
	}
	r = err_set(e, -ENOTSUP, "Plugin does not implement the requested driver");
	json_array_foreach (impl, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), "VolumeDriver") == 0) {
			err_clear(e);
			r = 0;
			break;
		}
	}
out:
	json_decref(reply);
	return r;
}

int volplugin_open(const char *name, const struct volplugin_opts *o, struct volplugin **out,
		 struct err *e)
{
	struct volplugin *p;
	int r;

	*out = NULL;
	if ((r = name_check(name, e)) < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return oom(e);
	p->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : VP_DEFAULT_TIMEOUT_MS;
	p->log = o ? o->log : NULL;
	p->discover_ms = discover_budget(p, o ? o->discover_ms : 0);
	if ((r = locate_with_retry(p, name, e)) < 0 || (r = parse_address(p, e)) < 0 ||
	    (r = transport_setup(p, e)) < 0 || (r = activate(p, e)) < 0) {
		volplugin_close(p);
		return r;
	}
	vp_log(p, LOG_DEBUG, "plugin %s at %s", name, p->address);
	*out = p;
	return 0;
}

void volplugin_close(struct volplugin *p)
{
	if (!p)
		return;
	httpc_free(p->http);
	location_free(p);
	free(p->socket_path);
	free(p->base_url);
	free(p);
}

const char *volplugin_address(const struct volplugin *p)
{
	return p->address;
}

/* ---- the VolumeDriver calls ---- */

static json_t *name_req(const char *name, const char *id)
{
	json_t *req = json_pack("{s:s}", "Name", name);

	if (req && id && json_object_set_new(req, "ID", json_string(id)) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

static int opts_check(const json_t *opts, struct err *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(opts))
		return err_set(e, -EINVAL, "volume options must be a JSON object");
	json_object_foreach ((json_t *)opts, k, v) {
		if (!json_is_string(v))
			return err_set(e, -EINVAL, "volume option '%.64s' is not a string", k);
	}
	return 0;
}

int volplugin_create(struct volplugin *p, const char *name, const json_t *opts, struct err *e)
{
	json_t *reply, *req;
	int r;

	if (opts && (r = opts_check(opts, e)) < 0)
		return r;
	/* "O" takes a new reference, "o" steals the fresh empty object */
	req = opts ? json_pack("{s:s, s:O}", "Name", name, "Opts", opts)
		   : json_pack("{s:s, s:o}", "Name", name, "Opts", json_object());
	r = vd_call(p, "VolumeDriver.Create", req, &reply, e);
	json_decref(reply);
	return r;
}

int volplugin_remove(struct volplugin *p, const char *name, struct err *e)
{
	json_t *reply;
	int r = vd_call(p, "VolumeDriver.Remove", name_req(name, NULL), &reply, e);

	json_decref(reply);
	return r;
}

static int mountpoint_call(struct volplugin *p, const char *method, json_t *req,
			   char **mountpoint, struct err *e)
{
	json_t *reply;
	int r;

	*mountpoint = NULL;
	if ((r = vd_call(p, method, req, &reply, e)) < 0)
		return r;
	r = reply_str(method, reply, "Mountpoint", mountpoint, e);
	json_decref(reply);
	return r;
}

int volplugin_mount(struct volplugin *p, const char *name, const char *id, char **mountpoint,
		  struct err *e)
{
	return mountpoint_call(p, "VolumeDriver.Mount", name_req(name, id), mountpoint, e);
}

int volplugin_unmount(struct volplugin *p, const char *name, const char *id, struct err *e)
{
	json_t *reply;
	int r = vd_call(p, "VolumeDriver.Unmount", name_req(name, id), &reply, e);

	json_decref(reply);
	return r;
}

int volplugin_path(struct volplugin *p, const char *name, char **mountpoint, struct err *e)
{
	return mountpoint_call(p, "VolumeDriver.Path", name_req(name, NULL), mountpoint, e);
}

int volplugin_get(struct volplugin *p, const char *name, char **vol_name, char **mountpoint,
		struct err *e)
{
	static const char method[] = "VolumeDriver.Get";
	char *vname = NULL, *mp = NULL;
	json_t *reply, *vol;
	int r;

	if (vol_name)
		*vol_name = NULL;
	if (mountpoint)
		*mountpoint = NULL;
	if ((r = vd_call(p, method, name_req(name, NULL), &reply, e)) < 0)
		return r;
	vol = member(reply, "Volume");
	if (!vol)
		r = err_set(e, -ENOENT, "no such volume");
	else if (!json_is_object(vol))
		r = decode_error(method, "Volume is not an object", e);
	else if ((r = reply_str(method, vol, "Name", &vname, e)) == 0)
		r = reply_str(method, vol, "Mountpoint", &mp, e);
	json_decref(reply);
	if (r < 0) {
		free(vname);
		free(mp);
		return r;
	}
	if (vol_name)
		*vol_name = vname;
	else
		free(vname);
	if (mountpoint)
		*mountpoint = mp;
	else
		free(mp);
	return 0;
}

void volplugin_names_free(char **names)
{
	strv_free(names);
}

int volplugin_list(struct volplugin *p, char ***names, struct err *e)
{
	static const char method[] = "VolumeDriver.List";
	json_t *reply, *vols, *v;
	char **out = NULL;
	size_t i, n = 0;
	int r;

	*names = NULL;
	if ((r = vd_call(p, method, json_object(), &reply, e)) < 0)
		return r;
	vols = member(reply, "Volumes");
	if (vols && !json_is_array(vols)) {
		r = decode_error(method, "Volumes is not an array", e);
		goto out;
	}
	out = calloc(json_array_size(vols) + 1, sizeof(*out));
	if (!out) {
		r = oom(e);
		goto out;
	}
	json_array_foreach (vols, i, v) {
		if (json_is_null(v))
			continue;
		if (!json_is_object(v)) {
			r = decode_error(method, "a volume is not an object", e);
			goto out;
		}
		if ((r = reply_str(method, v, "Name", &out[n], e)) < 0)
			goto out;
		n++;
	}
	*names = out;
	out = NULL;
out:
	volplugin_names_free(out);
	json_decref(reply);
	return r;
}
