/*
 * Unit tests for dvdcli/: the argv parser, plugin discovery in temporary
 * directories (DVDCLI_SOCKET_DIR, DVDCLI_SPEC_DIRS), and the plugin client
 * and the commands against a small libmicrohttpd plugin on a unix socket:
 * it answers canned replies per method and records what it was sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dvdcli/dvdcli.h"
#include "volplugin/volplugin.h"
#include "util/fs.h"

/* ---- the fake plugin ---- */

enum reply_mode {
	REPLY_NORMAL,
	REPLY_SLOW, /* sleep 1.5 s first */
	REPLY_HUGE, /* 16 MiB + 1 byte */
};

struct canned {
	char method[64]; /* "VolumeDriver.Get" */
	unsigned status;
	const char *body;
	enum reply_mode mode;
};

#define MAX_CANNED 8

struct seen_req {
	char method[64];
	char headers[4096];
	char body[4096];
};

#define MAX_SEEN 16

struct req {
	bool started;
	char body[4096];
	size_t len;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct canned canned[MAX_CANNED];
static int n_canned;
static struct seen_req seen[MAX_SEEN];
static int n_seen;
static char calls[1024]; /* "Plugin.Activate,VolumeDriver.Get,..." */

static struct MHD_Daemon *daemon_unix;
static char tmpdir[64];
static char plugin_dir[96];
static char sock_path[128];

static const char activate_ok[] = "{\"Implements\":[\"VolumeDriver\"]}";

static void reset_plugin(void)
{
	pthread_mutex_lock(&mu);
	n_canned = 0;
	n_seen = 0;
	calls[0] = '\0';
	memset(seen, 0, sizeof(seen));
	pthread_mutex_unlock(&mu);
}

static void set_reply(const char *method, unsigned status, const char *body,
		      enum reply_mode mode)
{
	pthread_mutex_lock(&mu);
	assert_true(n_canned < MAX_CANNED);
	snprintf(canned[n_canned].method, sizeof(canned[0].method), "%s", method);
	canned[n_canned].status = status;
	canned[n_canned].body = body;
	canned[n_canned].mode = mode;
	n_canned++;
	pthread_mutex_unlock(&mu);
}

/* The newest canned reply for method; Activate says VolumeDriver, the rest {"Err":""}. */
static struct canned find_canned(const char *method)
{
	struct canned c = { "", 200, "{\"Err\":\"\"}", REPLY_NORMAL };

	if (strcmp(method, "Plugin.Activate") == 0)
		c.body = activate_ok;
	for (int i = n_canned - 1; i >= 0; i--) {
		if (strcmp(canned[i].method, method) == 0)
			return canned[i];
	}
	return c;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)uri;
	(void)conn;
	return calloc(1, sizeof(struct req));
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static enum MHD_Result header_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	char *h = cls;
	size_t n = strlen(h);

	(void)kind;
	snprintf(h + n, 4096 - n, "%s: %s\n", key, value);
	return MHD_YES;
}

static ssize_t fill_x(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	memset(buf, 'x', max);
	return (ssize_t)max;
}

static void record(struct MHD_Connection *conn, const char *method, const struct req *rq)
{
	struct seen_req *s;
	size_t n = strlen(calls);

	snprintf(calls + n, sizeof(calls) - n, "%s%s", n ? "," : "", method);
	if (n_seen >= MAX_SEEN)
		return;
	s = &seen[n_seen++];
	snprintf(s->method, sizeof(s->method), "%s", method);
	memcpy(s->body, rq->body, rq->len + 1);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, header_iter, s->headers);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *http_method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct canned c;

	(void)cls;
	(void)http_method;
	(void)version;
	if (!rq)
		return MHD_NO;
	if (!rq->started) {
		rq->started = true;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		if (n > sizeof(rq->body) - 1 - rq->len)
			n = sizeof(rq->body) - 1 - rq->len;
		memcpy(rq->body + rq->len, upload, n);
		rq->len += n;
		rq->body[rq->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&mu);
	record(conn, url + 1, rq);
	c = find_canned(url + 1);
	pthread_mutex_unlock(&mu);
	if (c.mode == REPLY_SLOW)
		usleep(1500 * 1000);
	if (c.mode == REPLY_HUGE)
		resp = MHD_create_response_from_callback((16u << 20) + 1, 65536, fill_x, NULL,
							 NULL);
	else
		resp = MHD_create_response_from_buffer(strlen(c.body), (void *)c.body,
						       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/vnd.docker.plugins.v1.1+json");
	ret = MHD_queue_response(conn, c.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Daemon *start_daemon(int fd)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
}

/* A bound unix socket at path; listening when listen_too. Returns the fd. */
static int unix_socket(const char *path, bool listen_too)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    (listen_too && listen(fd, 16) < 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-dvd-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(plugin_dir, sizeof(plugin_dir), "%s/plugins", tmpdir);
	snprintf(sock_path, sizeof(sock_path), "%s/fake.sock", plugin_dir);
	if (mkdir(plugin_dir, 0755) < 0)
		return -1;
	fd = unix_socket(sock_path, true);
	if (fd < 0)
		return -1;
	daemon_unix = start_daemon(fd);
	setenv("DVDCLI_SOCKET_DIR", plugin_dir, 1);
	setenv("DVDCLI_SPEC_DIRS", "", 1);
	unsetenv("DVDCLI_DISCOVERY_TIMEOUT");
	log_set_level(LOG_ERROR);
	return daemon_unix ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (daemon_unix)
		MHD_stop_daemon(daemon_unix);
	fs_remove_tree(tmpdir);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	reset_plugin();
	setenv("DVDCLI_SOCKET_DIR", plugin_dir, 1);
	setenv("DVDCLI_SPEC_DIRS", "", 1);
	unsetenv("DVDCLI_DISCOVERY_TIMEOUT");
	return 0;
}

/* ---- helpers ---- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct volplugin *open_fake(long timeout_ms)
{
	struct volplugin_opts o = { .timeout_ms = timeout_ms, .discover_ms = -1 };
	struct volplugin *p = NULL;
	struct err e = ERR_INIT;

	if (volplugin_open("fake", &o, &p, &e) != 0)
		fail_msg("volplugin_open: %s", e.msg);
	return p;
}

static const struct seen_req *last_seen(const char *method)
{
	for (int i = n_seen - 1; i >= 0; i--) {
		if (strcmp(seen[i].method, method) == 0)
			return &seen[i];
	}
	fail_msg("no %s request (calls: %s)", method, calls);
	return NULL;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void make_dir(const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
}

static int parse(struct dvdcli_args *a, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"dvdcli";
	va_start(ap, e);
	for (char *s = va_arg(ap, char *); s && argc < 31; s = va_arg(ap, char *))
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	err_clear(e);
	return dvdcli_parse(argc, argv, a, e);
}

static void assert_opt(const json_t *opts, const char *key, const char *want)
{
	json_t *v = json_object_get(opts, key);

	if (!v || !json_is_string(v) || strcmp(json_string_value(v), want) != 0)
		fail_msg("option %s: want '%s', got %s", key, want,
			 v && json_is_string(v) ? json_string_value(v) : "(none)");
}

/* Run dvdcli_main with stdout captured into out (stderr to /dev/null). */
static int run_main(char *out, size_t outsz, ...)
{
	char *argv[32], path[160];
	int argc = 0, saved_out, saved_err, fd, devnull, rc;
	ssize_t n;
	va_list ap;

	argv[argc++] = (char *)"dvdcli";
	va_start(ap, outsz);
	for (char *s = va_arg(ap, char *); s && argc < 31; s = va_arg(ap, char *))
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(path, sizeof(path), "%s/stdout", tmpdir);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(saved_out >= 0 && saved_err >= 0 && fd >= 0 && devnull >= 0);
	dup2(fd, 1);
	dup2(devnull, 2);
	rc = dvdcli_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(devnull);
	/* dvdcli_main sets the level from the environment; keep the tests quiet */
	log_set_level(LOG_ERROR);
	n = pread(fd, out, outsz - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

/* ---- argv ---- */

static void test_parse_flags_anywhere(void **state)
{
	struct dvdcli_args a;
	struct err e;

	(void)state;
	assert_int_equal(parse(&a, &e, "--volumedriver", "rexray", "mount", "--volumename=v1",
			       "--volumeopts=size=5,iops=150", "--volumeopts", "size=7",
			       "--explicitCreate", "--timeout=1.5", NULL),
			 0);
	assert_string_equal(a.command, "mount");
	assert_string_equal(a.driver, "rexray");
	assert_string_equal(a.name, "v1");
	assert_opt(a.opts, "size", "7");
	assert_opt(a.opts, "iops", "150");
	assert_int_equal(json_object_size(a.opts), 2);
	assert_true(a.explicit_create && a.explicit_given && a.opts_given);
	assert_int_equal(a.timeout_ms, 1500);
	dvdcli_args_release(&a);

	/* defaults; a repeated string flag: the last one wins */
	assert_int_equal(parse(&a, &e, "--volumedriver=a", "--volumedriver=b", "list", NULL), 0);
	assert_string_equal(a.driver, "b");
	assert_null(a.name);
	assert_false(a.explicit_create || a.opts_given);
	assert_int_equal(a.timeout_ms, 120000);
	assert_int_equal(json_object_size(a.opts), 0);
	dvdcli_args_release(&a);

	/* after "--" everything is positional */
	assert_int_equal(parse(&a, &e, "--volumedriver=a", "--", "list", NULL), 0);
	assert_string_equal(a.command, "list");
	dvdcli_args_release(&a);
}

static void test_opts_items(void **state)
{
	json_t *o = json_object();
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(dvdcli_opts_add(o, "a=1,b=2", &e), 0);
	assert_int_equal(dvdcli_opts_add(o, "Size=3,size=4,a=5", &e), 0);
	assert_opt(o, "a", "5");
	assert_opt(o, "b", "2");
	assert_opt(o, "Size", "3"); /* the key's case is kept: two keys */
	assert_opt(o, "size", "4");
	/* everything after the first '=' is the value */
	assert_int_equal(dvdcli_opts_add(o, "m=uid=1000,e=", &e), 0);
	assert_opt(o, "m", "uid=1000");
	assert_opt(o, "e", "");
	/* pflag's CSV: quotes protect commas, "" is a quote; empty items are skipped */
	assert_int_equal(dvdcli_opts_add(o, "\"l=x,y\",q=\"z\",\"d=\"\"w\"\"\"", &e), 0);
	assert_opt(o, "l", "x,y");
	assert_opt(o, "q", "\"z\"");
	assert_opt(o, "d", "\"w\"");
	assert_int_equal(dvdcli_opts_add(o, ",t=1,,u=2,", &e), 0);
	assert_opt(o, "t", "1");
	assert_opt(o, "u", "2");
	assert_int_equal(dvdcli_opts_add(o, "", &e), 0);
	assert_int_equal(json_object_size(o), 11);
	json_decref(o);
}

static void test_opts_errors(void **state)
{
	static const struct {
		const char *value, *msg;
	} cases[] = {
		{ "novalue", "volume option 'novalue' has no '=' (expected key=value)" },
		{ "a=1,b", "volume option 'b' has no '=' (expected key=value)" },
		{ "=v", "volume option '=v' has an empty key" },
		{ "\"a=1", "volume options '\"a=1': missing closing '\"'" },
		{ "\"a=1\"x,b=2", "volume options '\"a=1\"x,b=2': text after a closing '\"'" },
		{ "a=\xff", "volume option 'a' is not valid UTF-8" },
	};
	struct dvdcli_args a;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = json_object();

		err_clear(&e);
		assert_int_equal(dvdcli_opts_add(o, cases[i].value, &e), -EINVAL);
		assert_string_equal(e.msg, cases[i].msg);
		json_decref(o);
	}
	/* through argv too: a usage error, not a crash */
	assert_int_equal(parse(&a, &e, "create", "--volumedriver=x", "--volumename=v",
			       "--volumeopts=size=1,oops", NULL),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "'oops' has no '='"));
	dvdcli_args_release(&a);
}

static void test_explicitcreate_spellings(void **state)
{
	static const struct {
		const char *flag;
		bool want;
	} ok[] = {
		{ "--explicitcreate", true },	     { "--explicitCreate", true },
		{ "--explicitcreate=true", true },   { "--explicitCreate=false", false },
		{ "--explicitcreate=1", true },	     { "--explicitcreate=F", false },
		{ "--explicitcreate=TRUE", true },   { "--explicitcreate=False", false },
	};
	struct dvdcli_args a;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(&a, &e, ok[i].flag, "mount", "--volumedriver=d",
				       "--volumename=v", NULL),
				 0);
		assert_true(a.explicit_given);
		assert_int_equal(a.explicit_create, ok[i].want);
		dvdcli_args_release(&a);
	}
	assert_int_equal(parse(&a, &e, "mount", "--volumedriver=d", "--volumename=v",
			       "--explicitcreate=yes", NULL),
			 -EINVAL);
	assert_string_equal(e.msg, "invalid argument \"yes\" for --explicitcreate: expected true "
				   "or false");
	dvdcli_args_release(&a);
	/* a bool flag never takes the next argument: "false" is a stray argument */
	assert_int_equal(parse(&a, &e, "mount", "--volumedriver=d", "--volumename=v",
			       "--explicitcreate", "false", NULL),
			 -EINVAL);
	assert_string_equal(e.msg, "unexpected argument \"false\"");
	dvdcli_args_release(&a);
	/* other spellings are unknown flags, as in pflag */
	assert_int_equal(parse(&a, &e, "mount", "--ExplicitCreate", NULL), -EINVAL);
	assert_string_equal(e.msg, "unknown flag: --ExplicitCreate");
	dvdcli_args_release(&a);
}

static void test_usage_errors(void **state)
{
	struct dvdcli_args a;
	struct err e;

#define USAGE(want, ...)                                                \
	do {                                                            \
		assert_int_equal(parse(&a, &e, __VA_ARGS__, NULL), -EINVAL); \
		assert_string_equal(e.msg, want);                       \
		dvdcli_args_release(&a);                                \
	} while (0)
	(void)state;
	USAGE("unknown flag: --bogus", "mount", "--bogus");
	USAGE("unknown flag: --volumedriverx", "--volumedriverx=a", "list");
	USAGE("unknown shorthand flag: 'v' in -volumedriver=a", "-volumedriver=a", "list");
	USAGE("unknown command \"frob\" for \"dvdcli\"", "frob", "--volumedriver=a");
	USAGE("missing command", "--volumedriver=a");
	USAGE("Missing volume driver name (--volumedriver)", "mount", "--volumename=v");
	USAGE("Missing volume driver name (--volumedriver)", "list", "--volumedriver=");
	USAGE("missing volume name (--volumename)", "mount", "--volumedriver=d");
	USAGE("missing volume name (--volumename)", "path", "--volumedriver=d",
	      "--volumename=");
	USAGE("flag needs an argument: --volumename", "mount", "--volumedriver=d",
	      "--volumename");
	USAGE("unexpected argument \"extra\"", "get", "extra", "--volumedriver=d");
	USAGE("invalid argument \"0\" for --timeout: expected seconds, more than 0 and at "
	      "most 86400",
	      "list", "--volumedriver=d", "--timeout=0");
	USAGE("invalid argument \"abc\" for --timeout: expected seconds, more than 0 and at "
	      "most 86400",
	      "list", "--volumedriver=d", "--timeout", "abc");
#undef USAGE
	/* what needs no driver or name */
	assert_int_equal(parse(&a, &e, "list", "--volumedriver=d", NULL), 0);
	dvdcli_args_release(&a);
	assert_int_equal(parse(&a, &e, "version", NULL), 0);
	dvdcli_args_release(&a);
	/* help skips the checks */
	assert_int_equal(parse(&a, &e, "mount", "-h", NULL), 0);
	assert_true(a.help);
	dvdcli_args_release(&a);
	assert_int_equal(parse(&a, &e, "help", "mount", NULL), 0);
	assert_true(a.help);
	dvdcli_args_release(&a);
	assert_int_equal(parse(&a, &e, "frob", "--help", NULL), 0);
	dvdcli_args_release(&a);
}

static void test_main_exit_codes(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(run_main(out, sizeof(out), "mount", "--bogus", NULL), 2);
	assert_string_equal(out, "");
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumename=v", NULL), 2);
	assert_int_equal(run_main(out, sizeof(out), "frob", NULL), 2);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake", NULL), 2);
	assert_int_equal(run_main(out, sizeof(out), "create", "--volumedriver=fake",
				  "--volumename=v", "--volumeopts=nokey", NULL),
			 2);
	assert_string_equal(calls, ""); /* nothing reached the plugin */
	assert_int_equal(run_main(out, sizeof(out), "--help", NULL), 0);
	assert_non_null(strstr(out, "Usage:"));
	assert_int_equal(run_main(out, sizeof(out), NULL), 0);
	assert_non_null(strstr(out, "Usage:"));
	assert_int_equal(run_main(out, sizeof(out), "version", NULL), 0);
	assert_int_equal(strncmp(out, "Binary: /", 9), 0);
	assert_non_null(strstr(out, "\nSemVer: "));
	assert_non_null(strstr(out, "\nOsArch: Linux-"));
	assert_non_null(strstr(out, "\nFormed: "));
}

/* ---- discovery ---- */

struct dirs {
	char sock[160], spec1[160], spec2[160], both[330];
};

/* A fresh socket dir and two spec dirs for name lookups, set in the environment. */
static void discovery_dirs(struct dirs *d, const char *tag)
{
	snprintf(d->sock, sizeof(d->sock), "%s/%s-run", tmpdir, tag);
	snprintf(d->spec1, sizeof(d->spec1), "%s/%s-etc", tmpdir, tag);
	snprintf(d->spec2, sizeof(d->spec2), "%s/%s-lib", tmpdir, tag);
	snprintf(d->both, sizeof(d->both), "%s:%s", d->spec1, d->spec2);
	make_dir("%s", d->sock);
	make_dir("%s", d->spec1);
	make_dir("%s", d->spec2);
	setenv("DVDCLI_SOCKET_DIR", d->sock, 1);
	setenv("DVDCLI_SPEC_DIRS", d->both, 1);
}

static void assert_located(const char *name, const char *want)
{
	struct err e = ERR_INIT;
	char *addr = NULL;

	if (volplugin_locate(name, &addr, &e) != 0)
		fail_msg("locate %s: %s", name, e.msg);
	assert_string_equal(addr, want);
	free(addr);
}

static void assert_not_located(const char *name, int code, const char *msg)
{
	struct err e = ERR_INIT;
	char *addr = (char *)"x";

	assert_int_equal(volplugin_locate(name, &addr, &e), code);
	assert_null(addr);
	assert_string_equal(e.msg, msg);
}

static void test_locate_sockets(void **state)
{
	char path[256], want[300];
	struct dirs d;
	int fd1, fd2;

	(void)state;
	discovery_dirs(&d, "s");
	snprintf(path, sizeof(path), "%s/one.sock", d.sock);
	fd1 = unix_socket(path, false); /* bound is enough: it is a socket file */
	assert_true(fd1 >= 0);
	snprintf(want, sizeof(want), "unix://%s", path);
	assert_located("one", want);
	/* N/N.sock */
	make_dir("%s/two", d.sock);
	snprintf(path, sizeof(path), "%s/two/two.sock", d.sock);
	fd2 = unix_socket(path, false);
	assert_true(fd2 >= 0);
	snprintf(want, sizeof(want), "unix://%s", path);
	assert_located("two", want);
	/* a regular file is not a socket */
	snprintf(path, sizeof(path), "%s/three.sock", d.sock);
	write_file(path, "");
	assert_not_located("three", -ENOENT, "plugin not found");
	/* a socket beats a spec file */
	snprintf(path, sizeof(path), "%s/one.spec", d.spec1);
	write_file(path, "tcp://127.0.0.1:1\n");
	snprintf(want, sizeof(want), "unix://%s/one.sock", d.sock);
	assert_located("one", want);
	/* set but empty: no socket dir at all */
	setenv("DVDCLI_SOCKET_DIR", "", 1);
	assert_located("one", "tcp://127.0.0.1:1");
	close(fd1);
	close(fd2);
}

static void test_locate_specs(void **state)
{
	char path[256];
	struct dirs d;

	(void)state;
	discovery_dirs(&d, "p");
	/* surrounding white space is trimmed */
	snprintf(path, sizeof(path), "%s/a.spec", d.spec2);
	write_file(path, "  unix:///run/a.sock \n\n");
	assert_located("a", "unix:///run/a.sock");
	/* the first spec dir wins, even with a .json against a .spec */
	snprintf(path, sizeof(path), "%s/a.json", d.spec1);
	write_file(path, "{\"Name\":\"a\",\"Addr\":\"tcp://10.0.0.1:8080\"}");
	assert_located("a", "tcp://10.0.0.1:8080");
	/* in one dir: N.spec, then N/N.spec, then N.json */
	make_dir("%s/a", d.spec1);
	snprintf(path, sizeof(path), "%s/a/a.spec", d.spec1);
	write_file(path, "http://10.0.0.2:80");
	assert_located("a", "http://10.0.0.2:80");
	snprintf(path, sizeof(path), "%s/a.spec", d.spec1);
	write_file(path, "https://10.0.0.3:443");
	assert_located("a", "https://10.0.0.3:443");
	/* N/N.json with a TLSConfig; case-insensitive member names as in Go */
	make_dir("%s/b", d.spec2);
	snprintf(path, sizeof(path), "%s/b/b.json", d.spec2);
	write_file(path, "{\"addr\":\"https://h:1\",\"TLSConfig\":{\"InsecureSkipVerify\":true,"
			 "\"CAFile\":\"/ca.pem\"}}");
	assert_located("b", "https://h:1");
	/* a scheme as Go's url.Parse takes it: a letter, then letters, digits, + - . */
	snprintf(path, sizeof(path), "%s/sch.spec", d.spec1);
	write_file(path, "x9+a.b-c0://h:1");
	assert_located("sch", "x9+a.b-c0://h:1");
	snprintf(path, sizeof(path), "%s/dig.spec", d.spec1);
	write_file(path, "9p://h:1");
	assert_not_located("dig", -EINVAL, "Unknown protocol");
	/* an empty list of spec dirs */
	setenv("DVDCLI_SPEC_DIRS", "", 1);
	assert_not_located("a", -ENOENT, "plugin not found");
	setenv("DVDCLI_SPEC_DIRS", "::", 1);
	assert_not_located("b", -ENOENT, "plugin not found");
}

static void test_locate_errors(void **state)
{
	struct err e = ERR_INIT;
	char path[256], *addr = NULL;
	struct dirs d;

	(void)state;
	discovery_dirs(&d, "x");
	snprintf(path, sizeof(path), "%s/noscheme.spec", d.spec1);
	write_file(path, "/run/docker/plugins/x.sock\n");
	assert_not_located("noscheme", -EINVAL, "Unknown protocol");
	snprintf(path, sizeof(path), "%s/hostport.spec", d.spec1);
	write_file(path, "localhost:8080");
	assert_not_located("hostport", -EINVAL, "Unknown protocol");
	snprintf(path, sizeof(path), "%s/empty.spec", d.spec1);
	write_file(path, "\n");
	assert_not_located("empty", -EINVAL, "Unknown protocol");
	snprintf(path, sizeof(path), "%s/noaddr.json", d.spec1);
	write_file(path, "{\"Name\":\"noaddr\"}");
	assert_not_located("noaddr", -EINVAL, "Unknown protocol");
	snprintf(path, sizeof(path), "%s/bad.json", d.spec1);
	write_file(path, "{\"Addr\":");
	assert_int_equal(volplugin_locate("bad", &addr, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "bad.json: "));
	assert_not_located("nothing", -ENOENT, "plugin not found");
	assert_not_located("rexray/ebs", -EINVAL,
			   "volume driver 'rexray/ebs': managed (v2) plugins are not supported");
	assert_not_located("..", -EINVAL, "volume driver name '..' is not allowed");
	assert_not_located("", -EINVAL, "missing volume driver name");
}

static void test_open_retries(void **state)
{
	struct volplugin_opts o = { .timeout_ms = 1000, .discover_ms = -1 };
	struct volplugin *p = (struct volplugin *)1;
	struct err e = ERR_INIT;
	struct dirs d;
	long t0;

	(void)state;
	discovery_dirs(&d, "r");
	t0 = now_ms();
	assert_int_equal(volplugin_open("ghost", &o, &p, &e), -ENOENT);
	assert_null(p);
	assert_string_equal(e.msg, "plugin not found");
	assert_true(now_ms() - t0 < 500);
	/* names: a space is a name like any other (Docker's look-up takes
	 * any file name), a control character or a path is refused first */
	assert_int_equal(volplugin_open("no such", &o, &p, &e), -ENOENT);
	assert_int_equal(volplugin_open("bad\x1fname", &o, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "control characters"));
	assert_int_equal(volplugin_open("../etc", &o, &p, &e), -EINVAL);
	assert_int_equal(volplugin_open("..", &o, &p, &e), -EINVAL);
	assert_null(p);
	/* 1.5 s of discovery: one look-up, a 1 s wait, a second look-up, give up */
	o.discover_ms = 1500;
	t0 = now_ms();
	assert_int_equal(volplugin_open("ghost", &o, &p, &e), -ENOENT);
	assert_true(now_ms() - t0 >= 1000 && now_ms() - t0 < 1450);
	/* the environment sets the default budget; 0 there means no retry */
	o.discover_ms = 0;
	setenv("DVDCLI_DISCOVERY_TIMEOUT", "0", 1);
	t0 = now_ms();
	assert_int_equal(volplugin_open("ghost", &o, &p, &e), -ENOENT);
	assert_true(now_ms() - t0 < 500);
	volplugin_close(NULL);
}

static void test_connect_refused_retried(void **state)
{
	struct volplugin_opts o = { .timeout_ms = 1000, .discover_ms = -1 };
	struct volplugin *p = NULL;
	struct err e = ERR_INIT;
	char path[256];
	struct dirs d;
	long t0;
	int fd;

	(void)state;
	discovery_dirs(&d, "c");
	snprintf(path, sizeof(path), "%s/deaf.sock", d.sock);
	fd = unix_socket(path, false); /* a socket nobody listens on: ECONNREFUSED */
	assert_true(fd >= 0);
	t0 = now_ms();
	assert_int_equal(volplugin_open("deaf", &o, &p, &e), -ECONNREFUSED);
	assert_true(now_ms() - t0 < 500);
	assert_non_null(strstr(e.msg, "Plugin.Activate: cannot connect to the plugin at unix://"));
	o.discover_ms = 1500;
	t0 = now_ms();
	assert_int_equal(volplugin_open("deaf", &o, &p, &e), -ECONNREFUSED);
	assert_true(now_ms() - t0 >= 1000);
	assert_null(p);
	close(fd);
}

/* ---- the plugin client against the fake plugin ---- */

static void test_wire_format(void **state)
{
	struct volplugin *p;
	struct err e = ERR_INIT;
	const struct seen_req *s;
	char *mp = NULL, **names = NULL, want[160];
	json_t *opts = json_pack("{s:s}", "size", "2");

	(void)state;
	set_reply("VolumeDriver.Mount", 200, "{\"Mountpoint\":\"/mnt/v1\",\"Err\":\"\"}", 0);
	set_reply("VolumeDriver.Path", 200, "{\"Mountpoint\":\"\"}", 0);
	set_reply("VolumeDriver.List", 200, "{\"Volumes\":[{\"Name\":\"a\"},null,"
					    "{\"Name\":\"b\",\"Mountpoint\":\"/m\"}],\"Err\":\"\"}",
		  0);
	p = open_fake(5000);
	snprintf(want, sizeof(want), "unix://%s", sock_path);
	assert_string_equal(volplugin_address(p), want);
	s = last_seen("Plugin.Activate");
	assert_string_equal(s->body, "");
	assert_non_null(strstr(s->headers, "Accept: application/vnd.docker.plugins.v1.2+json\n"));
	assert_null(strstr(s->headers, "Content-Type"));
	assert_int_equal(volplugin_create(p, "v1", NULL, &e), 0);
	assert_string_equal(last_seen("VolumeDriver.Create")->body,
			    "{\"Name\":\"v1\",\"Opts\":{}}\n");
	assert_int_equal(volplugin_create(p, "v1", opts, &e), 0);
	assert_string_equal(last_seen("VolumeDriver.Create")->body,
			    "{\"Name\":\"v1\",\"Opts\":{\"size\":\"2\"}}\n");
	s = last_seen("VolumeDriver.Create");
	assert_non_null(strstr(s->headers, "Accept: application/vnd.docker.plugins.v1.2+json\n"));
	assert_null(strstr(s->headers, "Content-Type"));
	assert_int_equal(volplugin_mount(p, "v1", NULL, &mp, &e), 0);
	assert_string_equal(mp, "/mnt/v1");
	free(mp);
	assert_string_equal(last_seen("VolumeDriver.Mount")->body, "{\"Name\":\"v1\"}\n");
	assert_int_equal(volplugin_mount(p, "v1", "abc", &mp, &e), 0);
	free(mp);
	assert_string_equal(last_seen("VolumeDriver.Mount")->body,
			    "{\"Name\":\"v1\",\"ID\":\"abc\"}\n");
	assert_int_equal(volplugin_unmount(p, "v1", NULL, &e), 0);
	assert_string_equal(last_seen("VolumeDriver.Unmount")->body, "{\"Name\":\"v1\"}\n");
	assert_int_equal(volplugin_path(p, "v1", &mp, &e), 0);
	assert_string_equal(mp, "");
	free(mp);
	assert_int_equal(volplugin_remove(p, "v1", &e), 0);
	assert_string_equal(last_seen("VolumeDriver.Remove")->body, "{\"Name\":\"v1\"}\n");
	assert_int_equal(volplugin_list(p, &names, &e), 0);
	assert_string_equal(last_seen("VolumeDriver.List")->body, "{}\n");
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_null(names[2]);
	volplugin_names_free(names);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Create,VolumeDriver.Create,"
				   "VolumeDriver.Mount,VolumeDriver.Mount,VolumeDriver.Unmount,"
				   "VolumeDriver.Path,VolumeDriver.Remove,VolumeDriver.List");
	json_decref(opts);
	volplugin_close(p);
}

static void assert_call_error(const char *method, unsigned status, const char *body,
			      int code, const char *msg)
{
	struct volplugin *p = open_fake(5000);
	struct err e = ERR_INIT;
	char *mp = (char *)"x";
	int r;

	reset_plugin();
	set_reply(method, status, body, 0);
	if (strcmp(method, "VolumeDriver.Create") == 0)
		r = volplugin_create(p, "v1", NULL, &e);
	else if (strcmp(method, "VolumeDriver.Get") == 0)
		r = volplugin_get(p, "v1", NULL, &mp, &e);
	else
		r = volplugin_mount(p, "v1", NULL, &mp, &e);
	assert_int_equal(r, code);
	assert_string_equal(e.msg, msg);
	assert_true(mp == NULL || strcmp(mp, "x") == 0);
	volplugin_close(p);
}

static void test_error_mapping(void **state)
{
	(void)state;
	/* 200 with an Err: the text alone */
	assert_call_error("VolumeDriver.Create", 200, "{\"Err\":\"boom\"}", -EIO, "boom");
	assert_call_error("VolumeDriver.Mount", 200, "{\"Mountpoint\":\"/m\",\"err\":\"lower\"}",
			  -EIO, "lower");
	/* another status: "<Method>: <Err>", else the raw body */
	assert_call_error("VolumeDriver.Create", 500, "{\"Err\":\"boom\"}", -EIO,
			  "VolumeDriver.Create: boom");
	assert_call_error("VolumeDriver.Get", 500, "{\"Error\":\"No volumes returned\"}", -EIO,
			  "VolumeDriver.Get: {\"Error\":\"No volumes returned\"}");
	assert_call_error("VolumeDriver.Get", 500, "{\"Err\":\"\"}", -EIO,
			  "VolumeDriver.Get: {\"Err\":\"\"}");
	assert_call_error("VolumeDriver.Mount", 404, "404 page not found\n", -EIO,
			  "VolumeDriver.Mount: 404 page not found");
	assert_call_error("VolumeDriver.Mount", 503, "", -EIO, "VolumeDriver.Mount: ");
	/* a 200 that is not what Go would decode */
	assert_call_error("VolumeDriver.Mount", 200, "not json", -EPROTO,
			  "VolumeDriver.Mount: error reading plugin resp: invalid token near "
			  "'not'");
	assert_call_error("VolumeDriver.Mount", 200, "", -EPROTO,
			  "VolumeDriver.Mount: error reading plugin resp: unexpected token near "
			  "end of file");
	assert_call_error("VolumeDriver.Mount", 200, "[1]", -EPROTO,
			  "VolumeDriver.Mount: error reading plugin resp: expected a JSON object");
	assert_call_error("VolumeDriver.Mount", 200, "{\"Mountpoint\":5}", -EPROTO,
			  "VolumeDriver.Mount: error reading plugin resp: Mountpoint is not a "
			  "string");
	assert_call_error("VolumeDriver.Create", 200, "{\"Err\":false}", -EPROTO,
			  "VolumeDriver.Create: error reading plugin resp: Err is not a string");
	assert_call_error("VolumeDriver.Get", 200, "{\"Volume\":[]}", -EPROTO,
			  "VolumeDriver.Get: error reading plugin resp: Volume is not an object");
	/* a Get without a volume */
	assert_call_error("VolumeDriver.Get", 200, "{\"Volume\":null,\"Err\":\"\"}", -ENOENT,
			  "no such volume");
	assert_call_error("VolumeDriver.Get", 200, "{}", -ENOENT, "no such volume");
}

static void test_lenient_replies(void **state)
{
	struct volplugin *p = open_fake(5000);
	struct err e = ERR_INIT;
	char *name = NULL, *mp = NULL, **names = NULL;

	(void)state;
	/* member names in any case; data after the first JSON value is not read */
	set_reply("VolumeDriver.Get", 200, "{\"volume\":{\"name\":\"V1\",\"MOUNTPOINT\":\"/m\"}}"
					   "\ntrailing",
		  0);
	assert_int_equal(volplugin_get(p, "v1", &name, &mp, &e), 0);
	assert_string_equal(name, "V1");
	assert_string_equal(mp, "/m");
	free(name);
	free(mp);
	/* optional members; null is as good as missing */
	set_reply("VolumeDriver.Get", 200, "{\"Volume\":{\"Name\":\"v1\",\"Mountpoint\":null}}", 0);
	assert_int_equal(volplugin_get(p, "v1", &name, NULL, &e), 0);
	assert_string_equal(name, "v1");
	free(name);
	set_reply("VolumeDriver.Mount", 200, "null", 0);
	assert_int_equal(volplugin_mount(p, "v1", NULL, &mp, &e), 0);
	assert_string_equal(mp, "");
	free(mp);
	set_reply("VolumeDriver.List", 200, "{\"Err\":\"\"}", 0);
	assert_int_equal(volplugin_list(p, &names, &e), 0);
	assert_null(names[0]);
	volplugin_names_free(names);
	volplugin_close(p);
}

static void test_activate_replies(void **state)
{
	struct volplugin_opts o = { .timeout_ms = 5000, .discover_ms = -1 };
	struct volplugin *p = NULL;
	struct err e = ERR_INIT;

	(void)state;
	set_reply("Plugin.Activate", 200, "{\"Implements\":[\"NetworkDriver\"]}", 0);
	assert_int_equal(volplugin_open("fake", &o, &p, &e), -ENOTSUP);
	assert_string_equal(e.msg, "Plugin does not implement the requested driver");
	set_reply("Plugin.Activate", 200, "{}", 0);
	assert_int_equal(volplugin_open("fake", &o, &p, &e), -ENOTSUP);
	set_reply("Plugin.Activate", 500, "{\"Err\":\"not ready\"}", 0);
	assert_int_equal(volplugin_open("fake", &o, &p, &e), -EIO);
	assert_string_equal(e.msg, "Plugin.Activate: not ready");
	set_reply("Plugin.Activate", 200, "{\"implements\":[\"authz\",\"VolumeDriver\"]}", 0);
	assert_int_equal(volplugin_open("fake", &o, &p, &e), 0);
	volplugin_close(p);
}

static void test_timeout_not_retried(void **state)
{
	struct volplugin *p = open_fake(300);
	struct err e = ERR_INIT;
	char *mp = NULL;
	long t0;

	(void)state;
	set_reply("VolumeDriver.Mount", 200, "{\"Mountpoint\":\"/m\"}", REPLY_SLOW);
	t0 = now_ms();
	assert_int_equal(volplugin_mount(p, "v1", NULL, &mp, &e), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 1200);
	assert_null(mp);
	assert_non_null(strstr(e.msg, "VolumeDriver.Mount: no reply from the plugin at unix://"));
	assert_non_null(strstr(e.msg, "within 300 ms"));
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Mount");
	volplugin_close(p);
}

static void test_reply_too_big(void **state)
{
	struct volplugin *p = open_fake(0); /* 0: the default, 120 s */
	struct err e = ERR_INIT;
	char **names = NULL;

	(void)state;
	set_reply("VolumeDriver.List", 200, NULL, REPLY_HUGE);
	assert_int_equal(volplugin_list(p, &names, &e), -EFBIG);
	assert_null(names);
	assert_string_equal(e.msg, "VolumeDriver.List: the plugin's reply is larger than 16 MiB");
	volplugin_close(p);
}

static void test_tcp_and_http_specs(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct volplugin_opts o = { .timeout_ms = 5000, .discover_ms = -1 };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	struct err e = ERR_INIT;
	struct volplugin *p = NULL;
	char path[256], text[64];
	struct dirs dd;
	char **names = NULL;

	(void)state;
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
			     NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin,
			     MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	assert_non_null(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	discovery_dirs(&dd, "t");
	snprintf(path, sizeof(path), "%s/tcpp.spec", dd.spec1);
	snprintf(text, sizeof(text), "tcp://127.0.0.1:%u\n", (unsigned)info->port);
	write_file(path, text);
	set_reply("VolumeDriver.List", 200, "{\"Volumes\":[{\"Name\":\"t1\"}]}", 0);
	assert_int_equal(volplugin_open("tcpp", &o, &p, &e), 0);
	assert_int_equal(volplugin_list(p, &names, &e), 0);
	assert_string_equal(names[0], "t1");
	volplugin_names_free(names);
	volplugin_close(p);
	/* http:// with a path: the path is not part of the request */
	snprintf(path, sizeof(path), "%s/httpp.json", dd.spec2);
	snprintf(text, sizeof(text), "{\"Addr\":\"http://127.0.0.1:%u/x/y\"}",
		 (unsigned)info->port);
	write_file(path, text);
	reset_plugin();
	assert_int_equal(volplugin_open("httpp", &o, &p, &e), 0);
	assert_string_equal(calls, "Plugin.Activate");
	volplugin_close(p);
	/* bad addresses are refused before any connection */
	snprintf(path, sizeof(path), "%s/ftp.spec", dd.spec1);
	write_file(path, "ftp://127.0.0.1:21");
	assert_int_equal(volplugin_open("ftp", &o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "plugin address 'ftp://127.0.0.1:21': only unix://, tcp://, "
				   "http:// and https:// are supported");
	snprintf(path, sizeof(path), "%s/noport.spec", dd.spec1);
	write_file(path, "tcp://127.0.0.1");
	assert_int_equal(volplugin_open("noport", &o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "plugin address 'tcp://127.0.0.1': tcp:// needs host:port");
	MHD_stop_daemon(d);
}

/* ---- the commands against the fake plugin ---- */

static const char get_none[] = "{\"Volume\":null,\"Err\":\"\"}";
static const char get_v1[] = "{\"Volume\":{\"Name\":\"v1\"},\"Err\":\"\"}";
static const char get_v1_mounted[] = "{\"Volume\":{\"Name\":\"v1\",\"Mountpoint\":\"/m/v1\"}}";
static const char mount_v1[] = "{\"Mountpoint\":\"/m/v1\",\"Err\":\"\"}";

static void test_cmd_mount(void **state)
{
	char out[256];

	(void)state;
	/* a missing volume is created with the options, then mounted */
	set_reply("VolumeDriver.Get", 200, get_none, 0);
	set_reply("VolumeDriver.Mount", 200, mount_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", "--volumeopts=size=5,iops=150", NULL),
			 0);
	assert_string_equal(out, "/m/v1\n");
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Create,"
				   "VolumeDriver.Mount");
	assert_string_equal(last_seen("VolumeDriver.Create")->body,
			    "{\"Name\":\"v1\",\"Opts\":{\"size\":\"5\",\"iops\":\"150\"}}\n");
	assert_string_equal(last_seen("VolumeDriver.Mount")->body, "{\"Name\":\"v1\"}\n");
	/* an existing one is mounted as it is */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	set_reply("VolumeDriver.Mount", 200, mount_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "--volumeopts=size=5", "mount",
				  "--volumedriver=fake", "--volumename=v1", NULL),
			 0);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Mount");
	/* a Get that fails otherwise also leads to a Create (as in the original) */
	reset_plugin();
	set_reply("VolumeDriver.Get", 500, "{\"Err\":\"down\"}", 0);
	set_reply("VolumeDriver.Mount", 200, mount_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Create,"
				   "VolumeDriver.Mount");
	/* explicit create: a missing volume is an error and nothing is created */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_none, 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", "--explicitcreate", NULL),
			 1);
	assert_string_equal(out, "");
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get");
	/* an empty mountpoint is a failure */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	set_reply("VolumeDriver.Mount", 200, "{\"Mountpoint\":\"\",\"Err\":\"\"}", 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 1);
	assert_string_equal(out, "");
	/* so is a failed Create or Mount */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_none, 0);
	set_reply("VolumeDriver.Create", 500, "{\"Err\":\"no space\"}", 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 1);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Create");
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	set_reply("VolumeDriver.Mount", 200, "{\"Err\":\"busy\"}", 0);
	assert_int_equal(run_main(out, sizeof(out), "mount", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 1);
}

static void test_cmd_others(void **state)
{
	char out[256];

	(void)state;
	/* path: Get's mountpoint when it has one, without a Path call */
	set_reply("VolumeDriver.Get", 200, get_v1_mounted, 0);
	assert_int_equal(run_main(out, sizeof(out), "path", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(out, "/m/v1\n");
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get");
	/* else Path's; an error or "" prints nothing and succeeds */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	set_reply("VolumeDriver.Path", 200, "{\"Mountpoint\":\"/p\"}", 0);
	assert_int_equal(run_main(out, sizeof(out), "path", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(out, "/p\n");
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	set_reply("VolumeDriver.Path", 500, "{\"Err\":\"x\"}", 0);
	assert_int_equal(run_main(out, sizeof(out), "path", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(out, "");
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_none, 0);
	assert_int_equal(run_main(out, sizeof(out), "path", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 1);
	/* get prints the plugin's name */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "get", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(out, "v1\n");
	/* list */
	reset_plugin();
	set_reply("VolumeDriver.List", 200, "{\"Volumes\":[{\"Name\":\"a\"},{\"Name\":\"b\"}]}",
		  0);
	assert_int_equal(run_main(out, sizeof(out), "list", "--volumedriver=fake", NULL), 0);
	assert_string_equal(out, "a\nb\n");
	/* unmount and remove: Get first; a missing volume stops them */
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "unmount", "--volumedriver=fake",
				  "--volumename=v1", "--volumeopts=ignored=1", NULL),
			 0);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Unmount");
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_none, 0);
	assert_int_equal(run_main(out, sizeof(out), "remove", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 1);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get");
	reset_plugin();
	set_reply("VolumeDriver.Get", 200, get_v1, 0);
	assert_int_equal(run_main(out, sizeof(out), "remove", "--volumedriver=fake",
				  "--volumename=v1", NULL),
			 0);
	assert_string_equal(calls, "Plugin.Activate,VolumeDriver.Get,VolumeDriver.Remove");
	/* create prints nothing on stdout */
	reset_plugin();
	assert_int_equal(run_main(out, sizeof(out), "create", "--volumedriver=fake",
				  "--volumename=v1", "--volumeopts=a=b=c", NULL),
			 0);
	assert_string_equal(out, "");
	assert_string_equal(last_seen("VolumeDriver.Create")->body,
			    "{\"Name\":\"v1\",\"Opts\":{\"a\":\"b=c\"}}\n");
	/* an unknown driver */
	reset_plugin();
	setenv("DVDCLI_DISCOVERY_TIMEOUT", "0", 1);
	assert_int_equal(run_main(out, sizeof(out), "list", "--volumedriver=nope", NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse_flags_anywhere, reset),
		cmocka_unit_test_setup(test_opts_items, reset),
		cmocka_unit_test_setup(test_opts_errors, reset),
		cmocka_unit_test_setup(test_explicitcreate_spellings, reset),
		cmocka_unit_test_setup(test_usage_errors, reset),
		cmocka_unit_test_setup(test_main_exit_codes, reset),
		cmocka_unit_test_setup(test_locate_sockets, reset),
		cmocka_unit_test_setup(test_locate_specs, reset),
		cmocka_unit_test_setup(test_locate_errors, reset),
		cmocka_unit_test_setup(test_open_retries, reset),
		cmocka_unit_test_setup(test_connect_refused_retried, reset),
		cmocka_unit_test_setup(test_wire_format, reset),
		cmocka_unit_test_setup(test_error_mapping, reset),
		cmocka_unit_test_setup(test_lenient_replies, reset),
		cmocka_unit_test_setup(test_activate_replies, reset),
		cmocka_unit_test_setup(test_timeout_not_retried, reset),
		cmocka_unit_test_setup(test_reply_too_big, reset),
		cmocka_unit_test_setup(test_tcp_and_http_specs, reset),
		cmocka_unit_test_setup(test_cmd_mount, reset),
		cmocka_unit_test_setup(test_cmd_others, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
