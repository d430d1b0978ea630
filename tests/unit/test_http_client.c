/*
 * Unit tests for client/rest.c against a small libmicrohttpd server on a
 * unix socket in a temporary directory: it records what the client sent
 * (method, raw URI, headers, body) and answers canned replies. Plain HTTP
 * on a unix socket goes through net/unixhttp.c; the exact bytes it
 * sends, and what it does when a server misbehaves, are checked against
 * the scripted server of script_server.h. TCP goes through libcurl,
 * loaded with dlopen (net/curldl.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/codec.h"
#include "client/client.h"
#include "net/curldl.h"
#include "script_server.h"
#include "util/urlesc.h"

/* ---- the fake server ---- */

enum reply_mode {
	REPLY_NORMAL,
	REPLY_SLOW,    /* sleep 1.5 s first */
	REPLY_ENDLESS, /* chunked, never ends */
	REPLY_HUGE,    /* Content-Length above the client's cap */
};

struct canned {
	unsigned status;
	const char *body; /* NULL: empty */
	enum reply_mode mode;
};

struct seen {
	int count;
	char method[16];
	char uri[1024];
	char headers[16384];
	char body[4096];
};

struct req {
	bool started;
	char uri[1024];
	char body[4096];
	size_t len;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct canned canned;
static struct seen seen;
static struct MHD_Daemon *unix_daemon;
static char tmpdir[64];
static char sock_path[96];
static char host_url[160];
static char script_path[96]; /* the scripted server's socket */
static char script_url[160];
static atomic_int unix_connections; /* made to unix_daemon */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *rq = calloc(1, sizeof(*rq));

	(void)cls;
	(void)conn;
	if (rq)
		snprintf(rq->uri, sizeof(rq->uri), "%s", uri);
	return rq;
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
	size_t n = strlen(seen.headers);

	(void)cls;
	(void)kind;
	snprintf(seen.headers + n, sizeof(seen.headers) - n, "%s: %s\n", key, value);
	return MHD_YES;
}

static ssize_t endless(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	memset(buf, 'x', max);
	return (ssize_t)max;
}

static struct MHD_Response *make_response(const struct canned *cn)
{
	const char *b = cn->body ? cn->body : "";

	if (cn->mode == REPLY_ENDLESS)
		return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, endless, NULL,
							 NULL);
	if (cn->mode == REPLY_HUGE)
		return MHD_create_response_from_callback((64u << 20) + 1, 65536, endless, NULL,
							 NULL);
	return MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	struct MHD_Response *resp;
	struct canned cn;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
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
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&mu);
	seen.count++;
	snprintf(seen.method, sizeof(seen.method), "%s", method);
	snprintf(seen.uri, sizeof(seen.uri), "%s", rq->uri);
	seen.headers[0] = '\0';
	MHD_get_connection_values(conn, MHD_HEADER_KIND, header_iter, NULL);
	memcpy(seen.body, rq->body, rq->len + 1);
	cn = canned;
	pthread_mutex_unlock(&mu);
	if (cn.mode == REPLY_SLOW)
		usleep(1500 * 1000);
	resp = make_response(&cn);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, cn.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		unix_connections++;
}

static struct MHD_Daemon *start_daemon(int listen_fd, const struct sockaddr *sa)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

	if (listen_fd >= 0)
		return MHD_start_daemon(
		    flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_LISTEN_SOCKET, listen_fd,
		    MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
		    completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
		    MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, sa,
				MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
}

static int setup(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/ls.sock", tmpdir);
	snprintf(host_url, sizeof(host_url), "unix://%s", sock_path);
	snprintf(script_path, sizeof(script_path), "%s/ss.sock", tmpdir);
	snprintf(script_url, sizeof(script_url), "unix://%s", script_path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0)
		return -1;
	unix_daemon = start_daemon(fd, NULL);
	return unix_daemon ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (unix_daemon)
		MHD_stop_daemon(unix_daemon);
	unlink(sock_path);
	rmdir(tmpdir);
	return 0;
}

static void set_reply(unsigned status, const char *body, enum reply_mode mode)
{
	pthread_mutex_lock(&mu);
	canned.status = status;
	canned.body = body;
	canned.mode = mode;
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_unlock(&mu);
}

static struct storage_client *new_client(long timeout_ms)
{
	struct storage_client *c = NULL;
	struct err e = ERR_INIT;

	if (client_http_new(host_url, timeout_ms, &c, &e) != 0)
		fail_msg("client_http_new: %s", e.msg);
	return c;
}

static void assert_header(const char *line)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s\n", line);
	if (!strstr(seen.headers, want))
		fail_msg("header '%s' not in:\n%s", line, seen.headers);
}

static void assert_no_header(const char *name)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s:", name);
	if (strstr(seen.headers, want) || strncmp(seen.headers, want + 1, strlen(want + 1)) == 0)
		fail_msg("header '%s' unexpectedly in:\n%s", name, seen.headers);
}

/* Libstorage-Tx: txID=<uuid v4>, txCR=<now> */
static void assert_tx_header(void)
{
	const char *p = strstr(seen.headers, "Libstorage-Tx: txID=");
	long long cr;
	char id[37];

	assert_non_null(p);
	assert_int_equal(sscanf(p, "Libstorage-Tx: txID=%36[0-9a-f-], txCR=%lld", id, &cr), 2);
	assert_int_equal(strlen(id), 36);
	assert_true(llabs(cr - (long long)time(NULL)) < 60);
}

/* ---- the vfs context of the trace ---- */

static struct instance_id ctx_iids[2];
static struct local_device ctx_devs[2];
static struct local_devices ctx_ldevs[1];

static struct ls_ctx trace_ctx(void)
{
	struct ls_ctx ctx = { 0 };

	ctx_iids[0] = (struct instance_id){ .id = (char *)"vm",
					    .driver = (char *)"vfs",
					    .service = (char *)"vfs" };
	ctx_iids[1] = (struct instance_id){ .id = (char *)"i-1", .driver = (char *)"ebs" };
	ctx_devs[0] = (struct local_device){ (char *)"/dev/xvda", (char *)"" };
	ctx_devs[1] = (struct local_device){ (char *)"/dev/xvdb", (char *)"" };
	ctx_ldevs[0] = (struct local_devices){ (char *)"vfs", ctx_devs, 2 };
	ctx.iids = ctx_iids;
	ctx.n_iids = 2;
	ctx.ldevs = ctx_ldevs;
	ctx.n_ldevs = 1;
	return ctx;
}

static const char services_json[] =
    "{\"vfs\":{\"name\":\"vfs\",\"driver\":{\"name\":\"vfs\",\"type\":\"object\","
    "\"nextDevice\":{\"ignore\":true,\"prefix\":\"\",\"pattern\":\"\"}}}}";
static const char instance_json[] =
    "{\"name\":\"vfs\",\"instance\":{\"instanceID\":{\"id\":\"vm\",\"driver\":\"vfs\","
    "\"service\":\"\"},\"name\":\"vfsInstance\",\"providerName\":\"\"},"
    "\"driver\":{\"name\":\"vfs\",\"type\":\"object\"}}";
static const char volume_json[] =
    "{\"attachmentState\":3,\"name\":\"tr1\",\"size\":2,\"id\":\"vfs-201\",\"type\":\"\"}";
static const char attach_json[] =
    "{\"volume\":{\"attachments\":[{\"deviceName\":\"/dev/xvda\",\"instanceID\":{\"id\":\"vm\","
    "\"driver\":\"vfs\",\"service\":\"vfs\"},\"status\":\"attached\",\"volumeID\":\"vfs-201\"}],"
    "\"attachmentState\":2,\"name\":\"tr1\",\"size\":2,\"id\":\"vfs-201\",\"type\":\"\"},"
    "\"attachToken\":\"/dev/xvda\"}";

/* ---- operations ---- */

static void test_services(void **state)
{
	struct storage_client *c = new_client(0);
	struct service_list l = { 0 };
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, services_json, REPLY_NORMAL);
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].name, "vfs");
	assert_int_equal(l.s[0].driver_type, ST_OBJECT);
	assert_string_equal(seen.method, "GET");
	assert_string_equal(seen.uri, "/services");
	assert_header("Host: libstorage-server");
	assert_no_header("Libstorage-Instanceid");
	assert_no_header("Content-Type");
	assert_tx_header();
	service_list_release(&l);
	assert_string_equal(c->ops->name, "http");
	client_free(c);
}

static void test_service_inspect_instance(void **state)
{
	struct storage_client *c = new_client(0);
	struct instance_id meta = { .id = (char *)"",
				    .driver = (char *)"vfs",
				    .metadata = (char *)"\"vm\"" };
	struct ls_ctx ctx = { .iids = &meta, .n_iids = 1, .tx_id = "my-tx-1" };
	struct service_info s;
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, instance_json, REPLY_NORMAL);
	assert_int_equal(c->ops->service_inspect(c, "vfs", true, &ctx, &s, &e), 0);
	assert_true(s.has_instance);
	assert_string_equal(s.instance.iid.id, "vm");
	assert_string_equal(seen.uri, "/services/vfs?instance");
	assert_header("Libstorage-Instanceid: vfs=,,InZtIg==");
	assert_non_null(strstr(seen.headers, "\nLibstorage-Tx: txID=my-tx-1, txCR=1"));
	service_info_release(&s);

	set_reply(200, instance_json, REPLY_NORMAL);
	assert_int_equal(c->ops->service_inspect(c, "vfs", false, NULL, &s, &e), 0);
	assert_string_equal(seen.uri, "/services/vfs");
	service_info_release(&s);
	client_free(c);
}

static void test_volumes_headers(void **state)
{
	struct storage_client *c = new_client(0);
	struct ls_ctx ctx = trace_ctx();
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;
	char body[256];

	(void)state;
	snprintf(body, sizeof(body), "{\"vfs-201\":%s}", volume_json);
	set_reply(200, body, REPLY_NORMAL);
	assert_int_equal(c->ops->volumes(c, "vfs", 17, &ctx, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].id, "vfs-201");
	assert_int_equal(l.v[0].size, 2);
	assert_string_equal(seen.uri, "/volumes/vfs?attachments=17");
	assert_header("Libstorage-Instanceid: vfs:vfs=vm");
	assert_header("Libstorage-Instanceid: ebs=i-1");
	assert_header("Libstorage-Localdevices: vfs=/dev/xvda::,/dev/xvdb::");
	assert_tx_header();
	volume_list_release(&l);
	client_free(c);
}

static void test_volume_inspect(void **state)
{
	struct storage_client *c = new_client(0);
	struct ls_ctx ctx = trace_ctx();
	struct err e = ERR_INIT;
	struct volume v;

	(void)state;
	set_reply(200, volume_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_inspect(c, "vfs", "tr1", true, 0, &ctx, &v, &e), 0);
	assert_string_equal(v.name, "tr1");
	assert_string_equal(seen.uri, "/volumes/vfs/tr1?attachments=0&byName");
	volume_release(&v);
	/* path segments are escaped */
	set_reply(200, volume_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_inspect(c, "my svc", "a b/../c?d", false, 1, &ctx, &v, &e),
			 0);
	assert_string_equal(seen.uri, "/volumes/my%20svc/a%20b%2F..%2Fc%3Fd?attachments=1");
	volume_release(&v);
	client_free(c);
}

static void test_volume_create(void **state)
{
	struct storage_client *c = new_client(0);
	struct ls_ctx ctx = trace_ctx();
	struct volume_create_req req = { .name = (char *)"tr1",
					 .availability_zone = (char *)"",
					 .has_encrypted = true,
					 .has_iops = true,
					 .has_size = true,
					 .size = 2,
					 .type = (char *)"" };
	struct err e = ERR_INIT;
	struct volume v;

	(void)state;
	set_reply(201, volume_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_create(c, "vfs", &req, &ctx, &v, &e), 0);
	assert_string_equal(v.id, "vfs-201");
	assert_int_equal(v.attachment_state, AS_AVAILABLE);
	assert_string_equal(seen.method, "POST");
	assert_string_equal(seen.uri, "/volumes/vfs");
	assert_string_equal(seen.body, "{\"name\":\"tr1\",\"availabilityZone\":\"\",\"encrypted\":"
				       "false,\"iops\":0,\"size\":2,\"type\":\"\"}");
	assert_header("Content-Type: application/json");
	assert_no_header("Expect");
	volume_release(&v);
	client_free(c);
}

static void test_volume_attach_detach_remove(void **state)
{
	struct storage_client *c = new_client(0);
	struct ls_ctx ctx = trace_ctx();
	struct volume_attach_req areq = { .next_device_name = (char *)"/dev/xvda" };
	struct err e = ERR_INIT;
	struct volume v;
	char *token = NULL;

	(void)state;
	set_reply(200, attach_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_attach(c, "vfs", "vfs-201", &areq, &ctx, &v, &token, &e),
			 0);
	assert_string_equal(token, "/dev/xvda");
	assert_int_equal(v.n_attachments, 1);
	assert_string_equal(v.attachments[0].iid.service, "vfs");
	assert_string_equal(seen.uri, "/volumes/vfs/vfs-201?attach");
	assert_string_equal(seen.body, "{\"nextDeviceName\":\"/dev/xvda\"}");
	free(token);
	volume_release(&v);
	/* the token is optional, and so is the request */
	set_reply(200, attach_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_attach(c, "vfs", "vfs-201", NULL, &ctx, &v, NULL, &e), 0);
	assert_string_equal(seen.body, "{}");
	volume_release(&v);

	set_reply(205, volume_json, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_detach(c, "vfs", "vfs-201", NULL, &ctx, &v, &e), 0);
	assert_string_equal(seen.uri, "/volumes/vfs/vfs-201?detach");
	assert_string_equal(seen.body, "{}");
	assert_string_equal(v.id, "vfs-201");
	volume_release(&v);
	set_reply(205, NULL, REPLY_NORMAL);
	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(c->ops->volume_detach(c, "vfs", "vfs-201", NULL, &ctx, &v, &e), 0);
	assert_null(v.id);

	set_reply(204, NULL, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_remove(c, "vfs", "vfs-201", false, &ctx, &e), 0);
	assert_string_equal(seen.method, "DELETE");
	assert_string_equal(seen.uri, "/volumes/vfs/vfs-201");
	set_reply(204, NULL, REPLY_NORMAL);
	assert_int_equal(c->ops->volume_remove(c, "vfs", "vfs-201", true, &ctx, &e), 0);
	assert_string_equal(seen.uri, "/volumes/vfs/vfs-201?force");
	client_free(c);
}

/* ---- errors ---- */

static void expect_status(unsigned status, const char *body, int code, const char *msg)
{
	struct storage_client *c = new_client(0);
	struct err e = ERR_INIT;
	struct volume v;

	set_reply(status, body, REPLY_NORMAL);
	memset(&v, 0, sizeof(v));
	assert_int_equal(c->ops->volume_inspect(c, "vfs", "x", false, 0, NULL, &v, &e), code);
	assert_int_equal(e.code, code);
	if (!strstr(e.msg, msg))
		fail_msg("HTTP %u: message '%s' lacks '%s'", status, e.msg, msg);
	assert_null(v.id);
	client_free(c);
}

static void test_status_mapping(void **state)
{
	(void)state;
	expect_status(404, "{\"message\":\"resource not found\",\"status\":404}", -ENOENT,
		      "resource not found");
	expect_status(400, "{\"message\":\"bad mask\",\"status\":400}", -EINVAL, "bad mask");
	expect_status(401, "{\"message\":\"invalid token\",\"status\":401}", -EACCES, "invalid");
	expect_status(403, "{\"message\":\"no\",\"status\":403}", -EACCES, "no");
	expect_status(408, "{\"id\":3,\"state\":\"running\"}", -ETIMEDOUT, "task timeout");
	expect_status(409, "{\"message\":\"busy\",\"status\":409}", -EEXIST, "busy");
	expect_status(413, "{\"message\":\"too big\",\"status\":413}", -E2BIG, "too big");
	expect_status(501, "{\"message\":\"not implemented\",\"status\":501}", -ENOTSUP, "not");
	expect_status(500, "boom\n", -EIO, "boom");
	expect_status(502, NULL, -EIO, "HTTP 502 from unix://");
	expect_status(302, NULL, -EIO, "unexpected HTTP status 302");
	/* a reply the client cannot read is the server's fault: -EIO */
	expect_status(200, "{\"size\":\"big\"}", -EIO, "bad reply from libstorage server");
	expect_status(200, "not json", -EIO, "bad reply from libstorage server");
	expect_status(200, NULL, -EIO, "bad reply from libstorage server");
}

static void test_exact_404_message(void **state)
{
	struct storage_client *c = new_client(0);
	struct err e = ERR_INIT;

	(void)state;
	set_reply(404, "{\"message\":\"resource not found\",\"status\":404}", REPLY_NORMAL);
	assert_int_equal(c->ops->volume_remove(c, "vfs", "nosuch", false, NULL, &e), -ENOENT);
	assert_string_equal(e.msg, "resource not found");
	client_free(c);
}

static void test_connection_refused(void **state)
{
	struct storage_client *c = NULL;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	char host[200];

	(void)state;
	snprintf(host, sizeof(host), "unix://%s/missing.sock", tmpdir);
	assert_int_equal(client_http_new(host, 1000, &c, &e), 0);
	assert_int_equal(c->ops->services(c, &l, &e), -ECONNREFUSED);
	assert_non_null(strstr(e.msg, "cannot reach libstorage server at unix://"));
	assert_non_null(strstr(e.msg, "missing.sock: No such file or directory"));
	client_free(c);
	/* a TCP port nobody listens on */
	assert_int_equal(client_http_new("tcp://127.0.0.1:1", 1000, &c, &e), 0);
	assert_int_equal(c->ops->services(c, &l, &e), -ECONNREFUSED);
	assert_non_null(strstr(e.msg, "cannot reach libstorage server at tcp://127.0.0.1:1: "));
	client_free(c);
}

static void test_timeout(void **state)
{
	struct storage_client *c = new_client(300);
	struct service_list l = { 0 };
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, services_json, REPLY_SLOW);
	assert_int_equal(c->ops->services(c, &l, &e), -ETIMEDOUT);
	assert_non_null(strstr(e.msg, "cannot reach libstorage server at unix://"));
	assert_non_null(strstr(e.msg, "timed out after 300 ms waiting for the reply"));
	/* the same client works again afterwards */
	set_reply(200, services_json, REPLY_NORMAL);
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	service_list_release(&l);
	client_free(c);
}

static void test_reply_too_big(void **state)
{
	struct storage_client *c = new_client(0);
	struct service_list l = { 0 };
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, NULL, REPLY_HUGE);
	assert_int_equal(c->ops->services(c, &l, &e), -E2BIG);
	assert_non_null(strstr(e.msg, "larger than 64 MiB"));
	set_reply(200, NULL, REPLY_ENDLESS);
	assert_int_equal(c->ops->services(c, &l, &e), -E2BIG);
	assert_non_null(strstr(e.msg, "larger than 64 MiB"));
	client_free(c);
}

static void test_header_injection_refused(void **state)
{
	struct storage_client *c = new_client(0);
	struct instance_id bad = { .id = (char *)"vm\r\nX-Evil: 1", .driver = (char *)"vfs" };
	struct ls_ctx ctx = { .iids = &bad, .n_iids = 1 };
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, "{}", REPLY_NORMAL);
	assert_int_equal(c->ops->volumes(c, "vfs", 0, &ctx, &l, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "cannot send Libstorage-Instanceid"));
	assert_int_equal(seen.count, 0);
	ctx.iids = NULL;
	ctx.n_iids = 0;
	ctx.tx_id = "a\nb";
	assert_int_equal(c->ops->volumes(c, "vfs", 0, &ctx, &l, &e), -EINVAL);
	assert_int_equal(seen.count, 0);
	assert_int_equal(c->ops->volumes(c, "", 0, NULL, &l, &e), -EINVAL);
	assert_int_equal(c->ops->volume_remove(c, "vfs", NULL, false, NULL, &e), -EINVAL);
	client_free(c);
}

static void test_bad_hosts(void **state)
{
	static const char *const bad[] = {
		"",
		"http://localhost:7979",
		"localhost:7979",
		"unix://",
		"tcp://",
		"tcp://host",
		"tcp://:80",
		"tcp://host:0",
		"tcp://host:65536",
		"tcp://host:80x",
		"tcp://host:",
		"tcp://::1:80",
		"tcp://a/b:80",
		"tcp://user@host:80",
	};
	struct storage_client *c;
	struct err e = ERR_INIT;
	char longpath[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (struct storage_client *)&e; /* must be reset to NULL */
		if (client_http_new(bad[i], 0, &c, &e) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(c);
		assert_non_null(strstr(e.msg, "invalid libstorage host"));
	}
	assert_int_equal(client_http_new(NULL, 0, &c, &e), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	memcpy(longpath, "unix:///", 8);
	assert_int_equal(client_http_new(longpath, 0, &c, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "too long"));
	assert_int_equal(client_http_new("tcp://[::1]:7979", 0, &c, &e), 0);
	client_free(c);
	client_free(NULL);
}

static void test_tcp(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	struct storage_client *c = NULL;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct MHD_Daemon *d;
	char host[64], hosthdr[64];

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = start_daemon(-1, (const struct sockaddr *)&sin);
	assert_non_null(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", (unsigned)info->port);
	snprintf(hosthdr, sizeof(hosthdr), "Host: 127.0.0.1:%u", (unsigned)info->port);
	assert_int_equal(client_http_new(host, 0, &c, &e), 0);
	for (int i = 0; i < 3; i++) { /* keep-alive reuse must work too */
		set_reply(200, services_json, REPLY_NORMAL);
		assert_int_equal(c->ops->services(c, &l, &e), 0);
		assert_int_equal(l.n, 1);
		service_list_release(&l);
		assert_header(hosthdr);
	}
	client_free(c);
	MHD_stop_daemon(d);
}

/* ---- the unix transport (unixhttp): no libcurl ---- */

/* Runs first: nothing before it has made a TCP client. */
static void test_unix_loads_no_libcurl(void **state)
{
	struct storage_client *c = new_client(0);
	struct service_list l = { 0 };
	struct err e = ERR_INIT;

	(void)state;
	set_reply(200, services_json, REPLY_NORMAL);
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	assert_int_equal(l.n, 1);
	service_list_release(&l);
	client_free(c);
	assert_null(dlopen(CURLDL_SONAME, RTLD_NOW | RTLD_NOLOAD));
}

static struct storage_client *script_client(long timeout_ms, const char *token)
{
	struct http_client_opts o = { .timeout_ms = timeout_ms, .tls_mode = HTTP_TLS_OFF,
				      .token = (char *)token };
	struct storage_client *c = NULL;
	struct err e = ERR_INIT;

	if (client_http_new_opts(script_url, &o, &c, &e) != 0)
		fail_msg("client_http_new_opts: %s", e.msg);
	return c;
}

/* "<prefix>txID=<tx>, txCR=<digits>\r\n<rest>": the one line whose value
 * changes with the clock is matched by shape, the rest byte for byte. */
static void assert_request(const char *got, const char *prefix, const char *tx, const char *rest)
{
	size_t pl = strlen(prefix);
	const char *p;
	char want_tx[96];

	if (strncmp(got, prefix, pl) != 0)
		fail_msg("request:\n%s\nwanted it to start:\n%s", got, prefix);
	p = got + pl;
	snprintf(want_tx, sizeof(want_tx), "Libstorage-Tx: txID=%s, txCR=", tx);
	if (strncmp(p, want_tx, strlen(want_tx)) != 0)
		fail_msg("request:\n%s\nno '%s' after the prefix", got, want_tx);
	p += strlen(want_tx);
	if (*p < '1' || *p > '9')
		fail_msg("request:\n%s\nbad txCR", got);
	while (*p >= '0' && *p <= '9')
		p++;
	if (strcmp(p, rest) != 0)
		fail_msg("request:\n%s\nwanted it to end:\n%s", got, rest);
}

/* GET, POST with a body and DELETE: the bytes on the wire, on one connection. */
static void test_unix_wire_format(void **state)
{
	static const char ok_volume[] =
	    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 68\r\n"
	    "\r\n{\"attachmentState\":3,\"name\":\"tr1\",\"size\":2,\"id\":\"vfs-201\","
	    "\"type\":\"\"}";
	static const char ok_services[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	static const struct step steps[] = {
		{ A_REPLY, ok_services, false },
		{ A_REPLY, ok_volume, false },
		{ A_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", false },
	};
	static const char head[] = "Host: libstorage-server\r\nUser-Agent: rexray-c\r\n"
				   "Accept: */*\r\nAuthorization: Bearer tok.en\r\n";
	struct volume_create_req req = { .name = (char *)"tr1", .has_size = true, .size = 2 };
	struct ls_ctx ctx = { .tx_id = "tx-1" };
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	struct volume v;
	char prefix[512], rest[512];

	(void)state;
	assert_int_equal(strlen(strstr(ok_volume, "\r\n\r\n") + 4), 68);
	server_start(&s, script_path, steps, 3);
	c = script_client(5000, "tok.en");
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(c->ops->volume_create(c, "vfs", &req, &ctx, &v, &e), 0);
	assert_string_equal(v.id, "vfs-201");
	volume_release(&v);
	assert_int_equal(c->ops->volume_remove(c, "vfs", "vfs-201", true, &ctx, &e), 0);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
	assert_int_equal(s.requests, 3);

	/* GET: no body, no Content-Length; a made-up transaction ID */
	snprintf(prefix, sizeof(prefix), "GET /services HTTP/1.1\r\n%s", head);
	assert_memory_equal(s.req[0], prefix, strlen(prefix));
	assert_non_null(strstr(s.req[0], "\r\nLibstorage-Tx: txID="));
	assert_string_equal(s.req[0] + s.req_len[0] - 4, "\r\n\r\n");
	assert_null(strstr(s.req[0], "Content-Length"));
	/* POST: the JSON body, its type and length */
	snprintf(prefix, sizeof(prefix), "POST /volumes/vfs HTTP/1.1\r\n%s"
		 "Content-Type: application/json\r\n", head);
	snprintf(rest, sizeof(rest), "\r\nContent-Length: 23\r\n\r\n{\"name\":\"tr1\",\"size\":2}");
	assert_request(s.req[1], prefix, "tx-1", rest);
	/* DELETE: the escaped ID and the query, no body */
	snprintf(prefix, sizeof(prefix), "DELETE /volumes/vfs/vfs-201?force HTTP/1.1\r\n%s", head);
	assert_request(s.req[2], prefix, "tx-1", "\r\n\r\n");
}

/* A server that closes before (or while) replying: -EIO with what
 * happened, and the request is not sent again (it may have been acted on). */
static void test_unix_server_closes(void **state)
{
	static const struct step steps[] = {
		{ A_CLOSE_READ, NULL, false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123", false },
		{ A_REPLY_CLOSE, "SSH-2.0-OpenSSH_9.2\r\n", false },
	};
	struct storage_client *c;
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	char want[256];

	(void)state;
	server_start(&s, script_path, steps, 3);
	c = script_client(5000, NULL);
	snprintf(want, sizeof(want), "cannot reach libstorage server at %s: the server closed "
		 "the connection without replying", script_url);
	assert_int_equal(c->ops->volumes(c, "vfs", 0, NULL, &l, &e), -EIO);
	assert_string_equal(e.msg, want);
	assert_int_equal(c->ops->volumes(c, "vfs", 0, NULL, &l, &e), -EIO);
	assert_non_null(strstr(e.msg, "the server closed the connection after 4 of 20 body bytes"));
	/* not HTTP: perhaps TLS, which a socket only speaks with sockittome */
	assert_int_equal(c->ops->volumes(c, "vfs", 0, NULL, &l, &e), -EIO);
	assert_non_null(strstr(e.msg, "not an HTTP/1.x status line"));
	assert_non_null(strstr(e.msg, "libstorage.tls.sockittome"));
	assert_int_equal(l.n, 0);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.accepts, 3);
	assert_int_equal(s.requests, 3);
}

/* A kept-alive connection the server closed while idle is replaced
 * without a word; one that never answers runs into the timeout. */
static void test_unix_reconnect_and_timeout(void **state)
{
	static const char ok_services[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, ok_services, false },
		{ A_REPLY, ok_services, false },
		{ A_SILENT, NULL, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	long t0, took;

	(void)state;
	server_start(&s, script_path, steps, 3);
	c = script_client(300, NULL);
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	wait_closes(&s, 1);
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	t0 = now_ms();
	assert_int_equal(c->ops->services(c, &l, &e), -ETIMEDOUT);
	took = now_ms() - t0;
	assert_non_null(strstr(e.msg, "cannot reach libstorage server at unix://"));
	assert_non_null(strstr(e.msg, "timed out after 300 ms"));
	if (took < 290 || took > 1500)
		fail_msg("the timeout took %ld ms", took);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.accepts, 2);
	assert_int_equal(s.requests, 3);
}

struct hammer {
	struct storage_client *c;
	int ok;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 25; i++) {
		struct service_list l = { 0 };
		struct err e = ERR_INIT;

		if (h->c->ops->services(h->c, &l, &e) == 0 && l.n == 1)
			h->ok++;
		service_list_release(&l);
	}
	return NULL;
}

/* One client, four threads: every call succeeds, and the connections are
 * pooled (kept alive and shared out), not made per call. */
static void test_unix_threads_share_a_client(void **state)
{
	struct storage_client *c = new_client(0);
	struct hammer h[4];
	pthread_t tid[4];
	int made;

	(void)state;
	set_reply(200, services_json, REPLY_NORMAL);
	made = unix_connections;
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ .c = c };
		assert_int_equal(pthread_create(&tid[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(h[i].ok, 25);
	}
	client_free(c);
	made = unix_connections - made;
	if (made < 1 || made > 4)
		fail_msg("%d connections for 100 calls from 4 threads", made);
}

/* ---- paths ---- */

static void check_escape(const struct curldl *cu, const char *in)
{
	char *ours = url_escape(in), *theirs = cu->easy_escape(NULL, in, 0);

	assert_non_null(ours);
	assert_non_null(theirs);
	if (strcmp(ours, theirs) != 0)
		fail_msg("'%s': ours '%s', libcurl's '%s'", in, ours, theirs);
	free(ours);
	cu->free(theirs);
}

/* url_escape must give what curl_easy_escape gave for every byte, so
 * that paths do not change with the transport. */
static void test_escape_matches_libcurl(void **state)
{
	const struct curldl *cu;
	struct err e = ERR_INIT;
	unsigned seed = 1;
	char *p;

	(void)state;
	if (curldl_get(&cu, "this test", &e) != 0)
		fail_msg("%s", e.msg);
	/* "", every byte alone and every pair of bytes */
	check_escape(cu, "");
	for (int a = 1; a < 256; a++) {
		char one[2] = { (char)a, '\0' };

		check_escape(cu, one);
		for (int b = 1; b < 256; b++) {
			char two[3] = { (char)a, (char)b, '\0' };

			check_escape(cu, two);
		}
	}
	/* and random strings up to 63 bytes */
	for (int i = 0; i < 5000; i++) {
		char in[64];
		int len = rand_r(&seed) % (int)sizeof(in);

		for (int k = 0; k < len; k++)
			in[k] = (char)(1 + rand_r(&seed) % 255);
		in[len] = '\0';
		check_escape(cu, in);
	}
	p = url_escape("a b/../c?d~_.-%\xff");
	assert_string_equal(p, "a%20b%2F..%2Fc%3Fd~_.-%25%FF");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_loads_no_libcurl), /* first: see there */
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_service_inspect_instance),
		cmocka_unit_test(test_volumes_headers),
		cmocka_unit_test(test_volume_inspect),
		cmocka_unit_test(test_volume_create),
		cmocka_unit_test(test_volume_attach_detach_remove),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_exact_404_message),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_reply_too_big),
		cmocka_unit_test(test_header_injection_refused),
		cmocka_unit_test(test_bad_hosts),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_unix_wire_format),
		cmocka_unit_test(test_unix_server_closes),
		cmocka_unit_test(test_unix_reconnect_and_timeout),
		cmocka_unit_test(test_unix_threads_share_a_client),
		cmocka_unit_test(test_escape_matches_libcurl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
