/*
 * Unit tests for client/failover.c and the failover of client/rest.c: a
 * list of libStorage hosts is parsed and checked, the rule says which
 * outcomes move a GET, a POST or a DELETE on to the next server, and a
 * client with several servers follows it: a scripted server
 * (script_server.h) fails in a chosen way, a small libmicrohttpd server
 * ("live") answers and counts what reached it. The log is captured to
 * check that each switch is said once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client.h"
#include "client/failover.h"
#include "script_server.h"
#include "util/log.h"

/* ---- the live server: answers every request with the canned reply ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *live;
static unsigned live_status = 200;
static const char *live_body = "{}";
static int live_count;	     /* requests that reached it */
static char live_method[16]; /* the last one's */
static char live_tx[128];    /* the last one's Libstorage-Tx */

static char tmpdir[64];
static char live_path[96], live_url[128];
static char a_path[96], a_url[128]; /* scripted server A */
static char b_path[96], b_url[128]; /* scripted server B */
static char dead_url[128];	     /* a socket path nobody listens on */
static FILE *log_sink;

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct MHD_Response *resp;
	const char *tx;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	tx = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Libstorage-Tx");
	pthread_mutex_lock(&mu);
	live_count++;
	snprintf(live_method, sizeof(live_method), "%s", method);
	snprintf(live_tx, sizeof(live_tx), "%s", tx ? tx : "");
	resp = MHD_create_response_from_buffer(strlen(live_body), (void *)live_body,
					       MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&mu);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, live_status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void live_reset(unsigned status, const char *body)
{
	pthread_mutex_lock(&mu);
	live_status = status;
	live_body = body;
	live_count = 0;
	live_method[0] = live_tx[0] = '\0';
	pthread_mutex_unlock(&mu);
}

static int setup(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-fo-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(live_path, sizeof(live_path), "%s/live.sock", tmpdir);
	snprintf(live_url, sizeof(live_url), "unix://%s", live_path);
	snprintf(a_path, sizeof(a_path), "%s/a.sock", tmpdir);
	snprintf(a_url, sizeof(a_url), "unix://%s", a_path);
	snprintf(b_path, sizeof(b_path), "%s/b.sock", tmpdir);
	snprintf(b_url, sizeof(b_url), "unix://%s", b_path);
	snprintf(dead_url, sizeof(dead_url), "unix://%s/dead.sock", tmpdir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", live_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0)
		return -1;
	live = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
				NULL, NULL, handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_END);
	if (!live)
		return -1;
	log_sink = tmpfile();
	if (!log_sink)
		return -1;
	log_set_level(LOG_WARN);
	log_set_stream(log_sink);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_stream(NULL);
	if (log_sink)
		fclose(log_sink);
	if (live)
		MHD_stop_daemon(live);
	unlink(live_path);
	rmdir(tmpdir);
	return 0;
}

/* Before each test: an empty log, a live server answering 200 {}. */
static int fresh(void **state)
{
	(void)state;
	fflush(log_sink);
	if (ftruncate(fileno(log_sink), 0) < 0)
		return -1;
	rewind(log_sink);
	live_reset(200, "{}");
	return 0;
}

/* How many lines of the log contain what; *line gets the last such line. */
static int log_lines(const char *what, char *line, size_t linesz)
{
	char buf[2048];
	int n = 0;

	fflush(log_sink);
	rewind(log_sink);
	while (fgets(buf, sizeof(buf), log_sink)) {
		if (!strstr(buf, what))
			continue;
		n++;
		if (line)
			snprintf(line, linesz, "%s", buf);
	}
	fseek(log_sink, 0, SEEK_END);
	return n;
}

static struct storage_client *client_for(const char *hosts, long timeout_ms)
{
	struct storage_client *c = NULL;
	struct err e = ERR_INIT;

	if (client_http_new(hosts, timeout_ms, &c, &e) != 0)
		fail_msg("client_http_new('%s'): %s", hosts, e.msg);
	return c;
}

static struct storage_client *client_of(const char *first, const char *second, long timeout_ms)
{
	char hosts[300];

	snprintf(hosts, sizeof(hosts), "%s,%s", first, second);
	return client_for(hosts, timeout_ms);
}

static const char reply_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Content-Length: 47\r\n\r\n{\"message\":\"database unavailable\",\"status\":503}";
static const char reply_500[] =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    "Content-Length: 40\r\n\r\n{\"message\":\"it went wrong\",\"status\":500}";
static const char reply_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

static const char volume_json[] =
    "{\"attachmentState\":3,\"name\":\"v1\",\"size\":2,\"id\":\"vfs-201\",\"type\":\"\"}";

static int create_v1(struct storage_client *c, struct err *e)
{
	struct volume_create_req req = { .name = (char *)"v1" };
	struct volume v = { 0 };
	int r = c->ops->volume_create(c, "vfs", &req, NULL, &v, e);

	if (r == 0)
		volume_release(&v);
	return r;
}

/* ---- the rule ---- */

static void test_rule(void **state)
{
	static const char *const methods[] = { "GET", "POST", "DELETE" };
	/* for GET, POST, DELETE: does the request go on to the next server? */
	static const struct {
		enum httpc_fail fail;
		int status;
		bool next[3];
	} rows[] = {
		{ HTTPC_OK, 200, { false, false, false } },
		{ HTTPC_OK, 201, { false, false, false } },
		{ HTTPC_OK, 404, { false, false, false } },
		{ HTTPC_OK, 409, { false, false, false } },
		{ HTTPC_OK, 408, { false, false, false } }, /* the task goes on there */
		{ HTTPC_OK, 500, { true, false, false } },
		{ HTTPC_OK, 501, { false, false, false } }, /* an answer */
		{ HTTPC_OK, 502, { true, false, false } },
		{ HTTPC_OK, 503, { true, true, true } },    /* it did not act */
		{ HTTPC_OK, 504, { true, false, false } },
		{ HTTPC_CONNECT, 0, { true, true, true } }, /* nothing was sent */
		{ HTTPC_TLS_HANDSHAKE, 0, { true, true, true } },
		{ HTTPC_CERT_UNTRUSTED, 0, { true, true, true } },
		{ HTTPC_CERT_UNKNOWN, 0, { true, true, true } },
		{ HTTPC_TIMEOUT, 0, { true, false, false } }, /* may have been delivered */
		{ HTTPC_NO_REPLY, 0, { true, false, false } },
		{ HTTPC_PROTO, 0, { true, false, false } },
		{ HTTPC_IO, 0, { true, false, false } },
		{ HTTPC_REFUSED, 0, { false, false, false } }, /* ours */
		{ HTTPC_NOMEM, 0, { false, false, false } },
		{ HTTPC_CERT_LOCAL, 0, { false, false, false } },
		{ HTTPC_TOO_BIG, 0, { false, false, false } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (size_t m = 0; m < 3; m++)
			if (failover_next(methods[m], rows[i].fail, rows[i].status) !=
			    rows[i].next[m])
				fail_msg("row %zu (fail %d, status %d), %s: expected %s", i,
					 rows[i].fail, rows[i].status, methods[m],
					 rows[i].next[m] ? "next" : "stay");
	assert_true(failover_next("HEAD", HTTPC_TIMEOUT, 0));
	assert_false(failover_next("PUT", HTTPC_NO_REPLY, 0));
}

/* ---- lists of hosts ---- */

static void test_parse_lists(void **state)
{
	static const char *const bad[][2] = {
		{ "", "invalid libstorage host ''" },
		{ " , ", "invalid libstorage host ' , '" },
		{ "tcp://a:1,b:2", "invalid libstorage host 'b:2'" },
		{ "tcp://a:1, tcp://b", "host 'tcp://b': expected tcp://host:port" },
		{ "unix://,tcp://a:1", "invalid libstorage host 'unix://': empty socket path" },
		{ "tcp://a:1,tcp://b:0", "host 'tcp://b:0': port must be 1-65535" },
		{ "tcp://a:1,tcp://::1:80", "'tcp://::1:80': an IPv6 address needs brackets" },
	};
	struct storage_client *c;
	struct err e = ERR_INIT;
	struct ls_addr *a;
	char many[1024] = "";
	size_t n;

	(void)state;
	assert_int_equal(ls_addrs_parse(" tcp://a:7979 ,, unix:///x.sock,tcp://[::1]:79,", &a, &n,
					&e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].text, "tcp://a:7979");
	assert_string_equal(a[0].name, "a");
	assert_int_equal(a[0].port, 7979);
	assert_null(a[0].socket_path);
	assert_string_equal(a[1].text, "unix:///x.sock");
	assert_string_equal(a[1].socket_path, "/x.sock");
	assert_string_equal(a[1].name, LS_UNIX_HOST);
	assert_int_equal(a[1].port, 0);
	assert_string_equal(a[2].name, "::1");
	assert_string_equal(a[2].hostport, "[::1]:79");
	ls_addrs_free(a, n);
	ls_addrs_free(NULL, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = (struct ls_addr *)&e;
		if (ls_addrs_parse(bad[i][0], &a, &n, &e) != -EINVAL)
			fail_msg("'%s' accepted", bad[i][0]);
		assert_null(a);
		assert_int_equal(n, 0);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("'%s': '%s' does not say '%s'", bad[i][0], e.msg, bad[i][1]);
		/* the client refuses it in the same words */
		c = (struct storage_client *)&e;
		assert_int_equal(client_http_new(bad[i][0], 0, &c, &e), -EINVAL);
		assert_null(c);
		assert_non_null(strstr(e.msg, bad[i][1]));
	}
	assert_int_equal(ls_addrs_parse(NULL, &a, &n, &e), -EINVAL);
	for (int i = 0; i <= LS_HOSTS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%stcp://h%d:1",
			 i ? "," : "", i);
	assert_int_equal(ls_addrs_parse(many, &a, &n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "more than 16 libstorage hosts"));
	*strrchr(many, ',') = '\0'; /* 16 is fine */
	assert_int_equal(ls_addrs_parse(many, &a, &n, &e), 0);
	assert_int_equal(n, LS_HOSTS_MAX);
	ls_addrs_free(a, n);
	/* a client of a list starts with its first server */
	c = client_of(live_url, a_url, 0);
	assert_int_equal(client_http_servers(c), 2);
	assert_string_equal(client_http_current(c), live_url);
	client_free(c);
	c = client_for(live_url, 0);
	assert_int_equal(client_http_servers(c), 1);
	assert_string_equal(client_http_current(c), live_url);
	client_free(c);
	assert_null(client_http_current(NULL));
	assert_int_equal(client_http_servers(NULL), 0);
}

/* ---- failing over ---- */

/* Nothing listens at the first: a GET and a POST go to the second, which
 * stays the current server; the switch is logged once. */
static void test_refused_moves_on_and_sticks(void **state)
{
	struct storage_client *c = client_of(dead_url, live_url, 5000);
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	char line[2048], want[512];

	(void)state;
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	service_list_release(&l);
	assert_int_equal(live_count, 1);
	assert_string_equal(client_http_current(c), live_url);
	assert_int_equal(log_lines("failed over", line, sizeof(line)), 1);
	assert_non_null(strstr(line, "level=warn"));
	snprintf(want, sizeof(want), "failed over to libstorage server %s (%s: no such file or "
		 "directory)", live_url, dead_url);
	if (!strstr(line, want))
		fail_msg("log line:\n%s\nwanted:\n%s", line, want);
	live_reset(201, volume_json);
	assert_int_equal(create_v1(c, &e), 0);
	assert_int_equal(live_count, 1);
	assert_string_equal(live_method, "POST");
	assert_int_equal(log_lines("failed over", NULL, 0), 1); /* not again */
	client_free(c);
}

/* The first server reads the request and closes without a reply: a GET is
 * asked again of the next server (with the same Libstorage-Tx), a POST
 * and a DELETE are not: they may have acted. */
static void test_closed_after_sending(void **state)
{
	static const struct step steps[] = {
		{ A_CLOSE_READ, NULL, false },
		{ A_CLOSE_READ, NULL, false },
		{ A_CLOSE_READ, NULL, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	char want[300];

	(void)state;
	server_start(&s, a_path, steps, 3);
	c = client_of(a_url, live_url, 5000);
	live_reset(201, volume_json);
	assert_int_equal(create_v1(c, &e), -EIO);
	snprintf(want, sizeof(want), "cannot reach libstorage server at %s: the server closed the "
		 "connection without replying", a_url);
	assert_string_equal(e.msg, want);
	assert_int_equal(live_count, 0);
	assert_int_equal(c->ops->volume_remove(c, "vfs", "vfs-201", false, NULL, &e), -EIO);
	assert_int_equal(live_count, 0);
	assert_string_equal(client_http_current(c), a_url); /* nothing answered elsewhere */
	assert_int_equal(log_lines("failed over", NULL, 0), 0);
	live_reset(200, "{}");
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	service_list_release(&l);
	assert_int_equal(live_count, 1);
	assert_string_equal(live_method, "GET");
	assert_non_null(strstr(live_tx, "txID="));
	assert_non_null(strstr(s.req[2], live_tx)); /* the same transaction, both times */
	assert_string_equal(client_http_current(c), live_url);
	assert_int_equal(log_lines("failed over", NULL, 0), 1);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.requests, 3); /* each sent once */
}

/* No reply within the timeout: a GET moves on, a POST does not. */
static void test_timeout(void **state)
{
	static const struct step steps[] = {
		{ A_SILENT, NULL, false },
		{ A_SILENT, NULL, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	long t0;

	(void)state;

	server_start(&s, a_path, steps, 2);
	c = client_of(a_url, live_url, 300);
	assert_int_equal(create_v1(c, &e), -ETIMEDOUT);
	assert_non_null(strstr(e.msg, a_url));
	assert_int_equal(live_count, 0);
	t0 = now_ms();
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	service_list_release(&l);
	assert_int_equal(live_count, 1);
	/* one timeout on the first server, then at once from the second */
	if (now_ms() - t0 < 290 || now_ms() - t0 > 2000)
		fail_msg("the GET took %ld ms", now_ms() - t0);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.requests, 2);
}

/* 503: the server did not act, so even a POST goes on; another 5xx moves
 * only a GET, and a POST gets the server's own error. */
static void test_status_503_and_500(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, reply_503, false },
		{ A_REPLY_CLOSE, reply_500, false },
		{ A_REPLY_CLOSE, reply_500, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;

	(void)state;
	server_start(&s, a_path, steps, 3);
	c = client_of(a_url, live_url, 5000);
	live_reset(201, volume_json);
	assert_int_equal(create_v1(c, &e), 0);
	assert_int_equal(live_count, 1);
	assert_string_equal(client_http_current(c), live_url);
	client_free(c);
	c = client_of(a_url, live_url, 5000);
	live_reset(201, volume_json);
	assert_int_equal(create_v1(c, &e), -EIO);
	assert_string_equal(e.msg, "it went wrong");
	assert_int_equal(live_count, 0);
	live_reset(200, "{}");
	assert_int_equal(c->ops->services(c, &l, &e), 0);
	service_list_release(&l);
	assert_int_equal(live_count, 1);
	client_free(c);
	server_stop(&s);
	assert_int_equal(s.requests, 3);
}

/* Every server failed: the error names each and why. */
static void test_all_fail(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, reply_503, false },
		{ A_REPLY_CLOSE, reply_503, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server s;
	char want[600];

	(void)state;
	server_start(&s, a_path, steps, 2);
	c = client_of(dead_url, a_url, 5000);
	assert_int_equal(c->ops->services(c, &l, &e), -EIO);
	snprintf(want, sizeof(want), "no libstorage server answered: %s: no such file or "
		 "directory; %s: 503 database unavailable", dead_url, a_url);
	assert_string_equal(e.msg, want);
	/* a POST too: neither acted */
	assert_int_equal(create_v1(c, &e), -EIO);
	assert_string_equal(e.msg, want);
	assert_string_equal(client_http_current(c), dead_url);
	assert_int_equal(log_lines("failed over", NULL, 0), 0);
	client_free(c);
	server_stop(&s);
	/* one server alone keeps its own words */
	c = client_for(dead_url, 5000);
	assert_int_equal(c->ops->services(c, &l, &e), -ECONNREFUSED);
	assert_non_null(strstr(e.msg, "cannot reach libstorage server at unix://"));
	client_free(c);
}

/* From the current server on, wrapping around: each server once per request. */
static void test_wraps_around(void **state)
{
	static const struct step a_steps[] = {
		{ A_REPLY_CLOSE, reply_503, false },
		{ A_REPLY_CLOSE, reply_ok, false },
	};
	static const struct step b_steps[] = {
		{ A_REPLY_CLOSE, reply_ok, false },
		{ A_REPLY_CLOSE, reply_503, false },
	};
	struct storage_client *c;
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	struct server a, b;

	(void)state;
	server_start(&a, a_path, a_steps, 2);
	server_start(&b, b_path, b_steps, 2);
	c = client_of(a_url, b_url, 5000);
	assert_int_equal(c->ops->services(c, &l, &e), 0); /* a: 503, b: ok */
	assert_string_equal(client_http_current(c), b_url);
	assert_int_equal(c->ops->services(c, &l, &e), 0); /* b: 503, a: ok */
	assert_string_equal(client_http_current(c), a_url);
	assert_int_equal(log_lines("failed over", NULL, 0), 2);
	wait_closes(&a, 2);
	wait_closes(&b, 2);
	client_free(c);
	server_stop(&a);
	server_stop(&b);
	assert_int_equal(a.requests, 2);
	assert_int_equal(b.requests, 2);
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

		if (h->c->ops->services(h->c, &l, &e) == 0)
			h->ok++;
		service_list_release(&l);
	}
	return NULL;
}

/* Four threads share a client whose first server is dead: every call
 * succeeds, and the switch is logged once, not once per thread. */
static void test_threads_fail_over_once(void **state)
{
	struct storage_client *c = client_of(dead_url, live_url, 5000);
	struct hammer h[4];
	pthread_t tid[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ .c = c };
		assert_int_equal(pthread_create(&tid[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(h[i].ok, 25);
	}
	assert_int_equal(live_count, 100);
	assert_string_equal(client_http_current(c), live_url);
	assert_int_equal(log_lines("failed over", NULL, 0), 1);
	client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rule, fresh),
		cmocka_unit_test_setup(test_parse_lists, fresh),
		cmocka_unit_test_setup(test_refused_moves_on_and_sticks, fresh),
		cmocka_unit_test_setup(test_closed_after_sending, fresh),
		cmocka_unit_test_setup(test_timeout, fresh),
		cmocka_unit_test_setup(test_status_503_and_500, fresh),
		cmocka_unit_test_setup(test_all_fail, fresh),
		cmocka_unit_test_setup(test_wraps_around, fresh),
		cmocka_unit_test_setup(test_threads_fail_over_once, fresh),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
