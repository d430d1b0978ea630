/*
 * Unit tests for net/unixhttp: the client against a scripted server
 * thread on a temporary unix socket (script_server.h). Each test gives the
 * server a list of steps, one per request it reads (reply with these
 * bytes, reply and close, never answer, close with the request unread
 * ...), then checks what the client returned, what the server saw, and
 * how many connections it took.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/unixhttp.h"
#include "script_server.h"
#include "util/fs.h"

#define ACCEPT_HDR "Accept: application/vnd.docker.plugins.v1.2+json\r\n"

static char tmpdir[64];
static char sock_path[96];

/* ---- client helpers ---- */

static void client(struct unixhttp *c, long timeout_ms, size_t max_body)
{
	struct err e = ERR_INIT;

	if (unixhttp_init(c, sock_path, "plugin", timeout_ms, max_body, &e) != 0)
		fail_msg("unixhttp_init: %s", e.msg);
}

static int post(struct unixhttp *c, const char *body, struct unixhttp_reply *rep,
		struct err *e)
{
	err_clear(e);
	return unixhttp_post(c, "/VolumeDriver.Get", ACCEPT_HDR, body, strlen(body), rep, e);
}

/* A request that must succeed with this status and body. */
static void post_ok(struct unixhttp *c, int status, const char *want)
{
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;

	if (post(c, "{\"Name\":\"v1\"}\n", &rep, &e) != 0)
		fail_msg("unixhttp_post: %s", e.msg);
	assert_int_equal(rep.status, status);
	assert_int_equal(rep.len, strlen(want));
	assert_string_equal(rep.body ? rep.body : "", want);
	unixhttp_reply_release(&rep);
}

/* A request that must fail with code and a message containing msg. */
static void post_fails(struct unixhttp *c, int code, const char *msg)
{
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	int r = post(c, "{}\n", &rep, &e);

	if (r != code)
		fail_msg("want %d, got %d (%s)", code, r, e.msg);
	assert_int_equal(e.code, code);
	if (!strstr(e.msg, msg))
		fail_msg("message '%s' lacks '%s'", e.msg, msg);
	assert_null(rep.body);
	assert_int_equal(c->fd, -1); /* an error never leaves a half-read connection */
}

#define OK_12 "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"

/* ---- tests ---- */

static void test_content_length_and_wire_format(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Content-Length: 19\r\n\r\n{\"Err\":\"\",\"X\":\"y\"}\n", false },
	};
	static const char want_req[] = "POST /VolumeDriver.Get HTTP/1.1\r\n"
				       "Host: plugin\r\n" ACCEPT_HDR "Content-Length: 14\r\n"
				       "\r\n{\"Name\":\"v1\"}\n";
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 1);
	client(&c, 5000, 1024);
	post_ok(&c, 200, "{\"Err\":\"\",\"X\":\"y\"}\n");
	unixhttp_release(&c);
	server_stop(&s);
	/* the bytes libcurl sent for volplugin, exactly */
	assert_int_equal(s.req_len[0], strlen(want_req));
	assert_string_equal(s.req[0], want_req);
}

static void test_chunked(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
		  true },
		/* the next reply on the same connection: the first was read exactly */
		{ A_REPLY, "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n"
			   "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 2);
	client(&c, 5000, 1024);
	post_ok(&c, 500, "hello, world");
	post_ok(&c, 200, "abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(c.connects, 1);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
}

static void test_large_body_across_reads(void **state)
{
	static const struct step steps[] = { { A_REPLY, NULL, false } };
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 1);
	client(&c, 5000, 1 << 20);
	assert_int_equal(post(&c, "{}", &rep, &e), 0);
	assert_int_equal(rep.len, 100000);
	for (size_t i = 0; i < rep.len; i++) {
		if (rep.body[i] != 'a' + (char)(i % 26))
			fail_msg("byte %zu is '%c'", i, rep.body[i]);
	}
	unixhttp_reply_release(&rep);
	unixhttp_release(&c);
	server_stop(&s);
}

static void test_reply_larger_than_the_cap(void **state)
{
	static const struct step steps[] = {
		/* exactly the cap: fine */
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef", false },
		/* one byte more, announced: refused before reading it */
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n0123456789abcdefg",
		  false },
		/* chunked, found out on the second chunk */
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n", false },
		/* until the close */
		{ A_REPLY_CLOSE, "HTTP/1.0 200 OK\r\n\r\n0123456789abcdefghij", false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 4);
	client(&c, 5000, 16);
	post_ok(&c, 200, "0123456789abcdef");
	post_fails(&c, -EFBIG, "the reply body is larger than 16 bytes");
	post_fails(&c, -EFBIG, "the reply body is larger than 16 bytes");
	post_fails(&c, -EFBIG, "the reply body is larger than 16 bytes");
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.requests, 4);
}

static void test_server_closes_mid_body(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789", false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "a\r\n01234", false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Le", false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 3);
	client(&c, 5000, 1024);
	post_fails(&c, -ECONNRESET, "the server closed the connection after 10 of 20 body bytes");
	post_fails(&c, -ECONNRESET, "in the middle of a chunked body");
	post_fails(&c, -ECONNRESET, "in the middle of the reply headers");
	/* each failure closed the connection; none was retried */
	assert_int_equal(c.connects, 3);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.requests, 3);
}

static void test_server_never_answers(void **state)
{
	static const struct step steps[] = { { A_SILENT, NULL, false } };
	struct unixhttp c;
	struct server s;
	long t0, took;

	(void)state;
	server_start(&s, sock_path, steps, 1);
	client(&c, 300, 1024);
	t0 = now_ms();
	post_fails(&c, -ETIMEDOUT, "timed out after 300 ms waiting for the reply");
	took = now_ms() - t0;
	if (took < 290 || took > 1000)
		fail_msg("the timeout took %ld ms", took);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.requests, 1);
}

/* The deadline covers the whole reply: a server that dribbles forever is cut off. */
static void test_deadline_covers_a_slow_body(void **state)
{
	static char slow[8192];
	static const struct step steps[] = { { A_REPLY, slow, true } };
	struct unixhttp c;
	struct server s;
	long t0, took;
	int n;

	(void)state;
	n = snprintf(slow, sizeof(slow), "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
	memset(slow + n, 'x', sizeof(slow) - 1 - (size_t)n); /* 3 bytes a ms: ~2.7 s */
	server_start(&s, sock_path, steps, 1);
	client(&c, 300, 1 << 20);
	t0 = now_ms();
	post_fails(&c, -ETIMEDOUT, "timed out after 300 ms");
	took = now_ms() - t0;
	if (took < 290 || took > 1000)
		fail_msg("the timeout took %ld ms", took);
	unixhttp_release(&c);
	server_stop(&s);
}

static void test_keep_alive_reuse(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, OK_12, false },
		{ A_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", false },
		{ A_REPLY, "HTTP/1.1 100 Continue\r\n\r\n" OK_12, false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 3);
	client(&c, 5000, 1024);
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.connects, 1);
	post_ok(&c, 204, "");
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.connects, 1);
	assert_true(c.fd >= 0);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
	assert_int_equal(s.requests, 3);
}

static void test_connection_close_and_http10(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 12\r\n"
				 "\r\nhello, world", false },
		/* HTTP/1.0 without keep-alive, the body ends at the close */
		{ A_REPLY_CLOSE, "HTTP/1.0 200 OK\r\n\r\nuntil the end", false },
		{ A_REPLY, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 12\r\n"
			   "\r\nhello, world", false },
		{ A_REPLY, OK_12, false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 4);
	client(&c, 5000, 1024);
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.fd, -1); /* closed on the server's word */
	post_ok(&c, 200, "until the end");
	post_ok(&c, 200, "hello, world");
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.connects, 3);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 3);
}

/* The server closed the idle kept-alive connection: one new connection, unseen. */
static void test_stale_connection_reconnects(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, OK_12, false },
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain", false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 2);
	client(&c, 5000, 1024);
	post_ok(&c, 200, "hello, world");
	assert_true(c.fd >= 0); /* the reply said nothing of a close */
	wait_closes(&s, 1);
	post_ok(&c, 200, "again");
	assert_int_equal(c.connects, 2);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 2);
	assert_int_equal(s.requests, 2);
}

/* The server closed the connection with our request unread (it raced our
 * send): a reset before any reply byte, sent again once on a new one. */
static void test_reset_before_reply_is_retried_once(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, OK_12, false },
		{ A_CLOSE_UNREAD, NULL, false },
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain", false },
		{ A_CLOSE_UNREAD, NULL, false },
		{ A_CLOSE_UNREAD, NULL, false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 5);
	client(&c, 5000, 1024);
	post_ok(&c, 200, "hello, world");
	post_ok(&c, 200, "again");
	assert_int_equal(c.connects, 2);
	/* twice in a row: the retry on the new connection is not retried again */
	post_fails(&c, -ECONNRESET, "the server reset the connection");
	assert_int_equal(c.connects, 3);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 3);
	assert_int_equal(s.requests, 2);
}

/* The server read the request and closed without a word: it may have acted
 * on it, so the request is not sent again. */
static void test_eof_after_the_request_is_not_retried(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, OK_12, false },
		{ A_CLOSE_READ, NULL, false },
	};
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 2);
	client(&c, 2000, 1024);
	post_ok(&c, 200, "hello, world");
	post_fails(&c, -ECONNRESET, "the server closed the connection without replying");
	assert_int_equal(c.connects, 1);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 1);
	assert_int_equal(s.requests, 2);
}

static void test_bad_replies(void **state)
{
	static char huge_head[80 << 10];
	static const struct step steps[] = {
		{ A_REPLY_CLOSE, "SSH-2.0-OpenSSH_9.2\r\n\r\n", false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		  false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		  false },
		{ A_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", false },
		{ A_REPLY_CLOSE, huge_head, false },
	};
	struct unixhttp c;
	struct server s;
	size_t n;

	(void)state;
	n = (size_t)snprintf(huge_head, sizeof(huge_head), "HTTP/1.1 200 OK\r\n");
	while (n + 1003 < sizeof(huge_head)) {
		memcpy(huge_head + n, "X-Pad: ", 7);
		memset(huge_head + n + 7, 'p', 991);
		memcpy(huge_head + n + 998, "\r\n", 2);
		n += 1000;
	}
	huge_head[n] = '\0';
	server_start(&s, sock_path, steps, 7);
	client(&c, 5000, 1024);
	post_fails(&c, -EPROTO, "not an HTTP/1.x status line: 'SSH-2.0-OpenSSH_9.2'");
	post_fails(&c, -EPROTO, "bad Content-Length '1x'");
	post_fails(&c, -EPROTO, "two different Content-Lengths");
	post_fails(&c, -EPROTO, "unsupported Transfer-Encoding 'gzip'");
	post_fails(&c, -EPROTO, "bad chunk size line 'zz'");
	post_fails(&c, -EPROTO, "bad reply header line 'no colon here'");
	post_fails(&c, -EPROTO, "status line and headers are longer than 64 KiB");
	unixhttp_release(&c);
	server_stop(&s);
}

static void test_connect_errors(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	int fd;

	(void)state;
	/* nothing there */
	unlink(sock_path);
	client(&c, 1000, 1024);
	assert_int_equal(post(&c, "{}", &rep, &e), -ENOENT);
	assert_true(rep.connect_failed);
	assert_non_null(strstr(e.msg, "connect to '"));
	/* a socket nobody listens on */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(post(&c, "{}", &rep, &e), -ECONNREFUSED);
	assert_true(rep.connect_failed);
	assert_int_equal(c.connects, 0);
	close(fd);
	unlink(sock_path);
	unixhttp_release(&c);
}

static void test_init_and_request_checks(void **state)
{
	char long_path[200];
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;

	(void)state;
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(unixhttp_init(&c, long_path, "h", 1000, 16, &e), -ENAMETOOLONG);
	assert_int_equal(c.fd, -1);
	unixhttp_release(&c); /* allowed after a refused init */
	assert_int_equal(unixhttp_init(&c, "", "h", 1000, 16, &e), -EINVAL);
	assert_int_equal(unixhttp_init(&c, "/x", "h", 0, 16, &e), -EINVAL);
	client(&c, 1000, 16);
	/* a target that would split the request line: refused before connecting */
	assert_int_equal(unixhttp_post(&c, "/a b", NULL, NULL, 0, &rep, &e), -EINVAL);
	assert_int_equal(unixhttp_post(&c, "/a\r\nX: y", NULL, NULL, 0, &rep, &e), -EINVAL);
	assert_int_equal(unixhttp_post(&c, "a", NULL, NULL, 0, &rep, &e), -EINVAL);
	assert_int_equal(c.connects, 0);
	unixhttp_release(&c);
}

/* A connection made elsewhere (a socketpair) is used as it is; once the
 * peer hangs up, the next request connects to the path. */
static void test_adopt_a_socketpair(void **state)
{
	static const char want_start[] = "POST /VolumeDriver.Get HTTP/1.1\r\nHost: plugin\r\n";
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	char buf[512];
	int sv[2];
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(send(sv[1], OK_12, strlen(OK_12), 0), (ssize_t)strlen(OK_12));
	unlink(sock_path);
	client(&c, 1000, 1024);
	assert_int_equal(unixhttp_adopt(&c, sv[0], &e), 0);
	post_ok(&c, 200, "hello, world");
	n = recv(sv[1], buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_memory_equal(buf, want_start, strlen(want_start));
	close(sv[1]);
	assert_int_equal(post(&c, "{}", &rep, &e), -ENOENT);
	assert_true(rep.connect_failed);
	unixhttp_release(&c);
	/* adopt takes the fd even when it fails */
	assert_int_equal(unixhttp_adopt(&c, -1, &e), -EBADF);
}

/* ---- methods other than POST ---- */

static int request(struct unixhttp *c, const char *method, const char *target,
		   const char *headers, const char *body, struct unixhttp_reply *rep,
		   struct err *e)
{
	const struct unixhttp_req rq = { .method = method, .target = target, .headers = headers,
					 .body = body, .len = body ? strlen(body) : 0 };

	err_clear(e);
	return unixhttp_request(c, &rq, rep, e);
}

/* GET and DELETE carry no body and no Content-Length; PUT and PATCH do;
 * HEAD's reply has none whatever its Content-Length says. All on one
 * connection, each request the exact bytes. */
static void test_other_methods_wire_format(void **state)
{
	static const struct step steps[] = {
		{ A_REPLY, OK_12, false },
		{ A_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", false },
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false },
		{ A_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false },
		{ A_REPLY, "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew", false },
	};
	static const char *const want[] = {
		"GET /volumes/vfs?attachments=0 HTTP/1.1\r\nHost: plugin\r\nX-A: 1\r\n"
		"X-B: two\r\n\r\n",
		"DELETE /volumes/vfs/v%201?force HTTP/1.1\r\nHost: plugin\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: plugin\r\n\r\n",
		"PUT /x HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\n\r\n",
		"PATCH /y HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\n"
		"Content-Length: 8\r\n\r\n{\"a\":1}\n",
	};
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	struct server s;

	(void)state;
	server_start(&s, sock_path, steps, 5);
	client(&c, 5000, 1024);
	assert_int_equal(request(&c, "GET", "/volumes/vfs?attachments=0", "X-A: 1\r\nX-B: two\r\n",
				 NULL, &rep, &e), 0);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "hello, world");
	unixhttp_reply_release(&rep);
	assert_int_equal(request(&c, "DELETE", "/volumes/vfs/v%201?force", NULL, NULL, &rep, &e),
			 0);
	assert_int_equal(rep.status, 204);
	assert_null(rep.body);
	assert_int_equal(request(&c, "HEAD", "/", NULL, NULL, &rep, &e), 0);
	assert_int_equal(rep.status, 200);
	assert_int_equal(rep.len, 0);
	assert_null(rep.body);
	assert_int_equal(request(&c, "PUT", "/x", NULL, NULL, &rep, &e), 0);
	assert_string_equal(rep.body, "ok");
	unixhttp_reply_release(&rep);
	assert_int_equal(request(&c, "PATCH", "/y", "Content-Type: application/json\r\n",
				 "{\"a\":1}\n", &rep, &e), 0);
	assert_int_equal(rep.status, 201);
	assert_string_equal(rep.body, "new");
	unixhttp_reply_release(&rep);
	/* the HEAD reply's Content-Length announced no body: still one connection */
	assert_int_equal(c.connects, 1);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.requests, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(s.req_len[i], strlen(want[i]));
		assert_string_equal(s.req[i], want[i]);
	}
}

static void test_bad_requests_are_not_sent(void **state)
{
	static const char *const bad_methods[] = { "", "get", "GET /", "G\r\nX" };
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	char *huge;

	(void)state;
	unlink(sock_path);
	client(&c, 1000, 16);
	for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++) {
		assert_int_equal(request(&c, bad_methods[i], "/", NULL, NULL, &rep, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "bad request method"));
	}
	assert_int_equal(request(&c, NULL, "/", NULL, NULL, &rep, &e), -EINVAL);
	assert_int_equal(request(&c, "GET", NULL, NULL, NULL, &rep, &e), -EINVAL);
	/* a length without a body */
	{
		const struct unixhttp_req rq = { .method = "POST", .target = "/", .len = 3 };
		assert_int_equal(unixhttp_request(&c, &rq, &rep, &e), -EINVAL);
	}
	/* header lines beyond the bound */
	huge = malloc(UNIXHTTP_MAX_REQ_HEAD + 1);
	assert_non_null(huge);
	memset(huge, 'h', UNIXHTTP_MAX_REQ_HEAD);
	huge[UNIXHTTP_MAX_REQ_HEAD] = '\0';
	assert_int_equal(request(&c, "GET", "/", huge, NULL, &rep, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "the request head is longer than 256 KiB"));
	free(huge);
	/* nothing listens: a request that got this far would have said ENOENT */
	assert_int_equal(c.connects, 0);
	assert_null(rep.body);
	unixhttp_release(&c);
}

/* A large chunked body (chunks bigger than the receive buffer, read
 * straight into the reply) ends exactly where it should: the next reply
 * on the connection is read whole. */
static void test_large_chunks_then_keep_alive(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct step steps[] = {
		{ A_REPLY, NULL, false },
		{ A_REPLY, OK_12, false },
	};
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	struct server s;
	size_t n = 0, cap = 200000;
	char *raw = malloc(cap);

	(void)state;
	assert_non_null(raw);
	n += (size_t)snprintf(raw + n, cap - n, "%s", head);
	/* 70000 + 30000 bytes: the alphabet again and again */
	for (int chunk = 0; chunk < 2; chunk++) {
		size_t len = chunk == 0 ? 70000 : 30000, base = chunk == 0 ? 0 : 70000;

		n += (size_t)snprintf(raw + n, cap - n, "%zx\r\n", len);
		for (size_t i = 0; i < len; i++)
			raw[n++] = (char)('a' + (base + i) % 26);
		memcpy(raw + n, "\r\n", 2);
		n += 2;
	}
	n += (size_t)snprintf(raw + n, cap - n, "0\r\n\r\n");
	steps[0].raw = raw;
	server_start(&s, sock_path, steps, 2);
	client(&c, 5000, 1 << 20);
	assert_int_equal(post(&c, "{}", &rep, &e), 0);
	assert_int_equal(rep.len, 100000);
	for (size_t i = 0; i < rep.len; i++) {
		if (rep.body[i] != 'a' + (char)(i % 26))
			fail_msg("byte %zu is '%c'", i, rep.body[i]);
	}
	assert_int_equal(rep.body[rep.len], '\0');
	unixhttp_reply_release(&rep);
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.connects, 1);
	unixhttp_release(&c);
	server_stop(&s);
	free(raw);
}

/* Bytes the server sends past a large counted body were not asked for:
 * whether they arrived with the body or after it, they are never read as
 * the next reply; the next request goes out on a new connection. */
static void test_unasked_bytes_after_a_large_body(void **state)
{
	static const char extra[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";
	struct step steps[] = {
		{ A_REPLY, NULL, false },
		{ A_HANGUP, NULL, false },
		{ A_REPLY, OK_12, false },
	};
	char *raw = malloc(big_reply_len + sizeof(extra));
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	struct server s;

	(void)state;
	assert_non_null(raw);
	memcpy(raw, big_reply, big_reply_len);
	memcpy(raw + big_reply_len, extra, sizeof(extra));
	steps[0].raw = raw;
	server_start(&s, sock_path, steps, 3);
	client(&c, 5000, 1 << 20);
	assert_int_equal(post(&c, "{}", &rep, &e), 0);
	assert_int_equal(rep.len, 100000);
	assert_int_equal(rep.body[99999], 'a' + (char)(99999 % 26));
	unixhttp_reply_release(&rep);
	usleep(20 * 1000); /* let the extra bytes arrive, if they have not yet */
	post_ok(&c, 200, "hello, world");
	assert_int_equal(c.connects, 2);
	unixhttp_release(&c);
	server_stop(&s);
	assert_int_equal(s.accepts, 2);
	free(raw);
}

/* ---- set-up ---- */

static int setup(void **state)
{
	const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-uh-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/p.sock", tmpdir);
	big_reply_len = sizeof(head) - 1 + 100000;
	big_reply = malloc(big_reply_len + 1);
	if (!big_reply)
		return -1;
	memcpy(big_reply, head, sizeof(head) - 1);
	for (size_t i = 0; i < 100000; i++)
		big_reply[sizeof(head) - 1 + i] = (char)('a' + i % 26);
	big_reply[big_reply_len] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(big_reply);
	fs_remove_tree(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length_and_wire_format),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_large_body_across_reads),
		cmocka_unit_test(test_reply_larger_than_the_cap),
		cmocka_unit_test(test_server_closes_mid_body),
		cmocka_unit_test(test_server_never_answers),
		cmocka_unit_test(test_deadline_covers_a_slow_body),
		cmocka_unit_test(test_keep_alive_reuse),
		cmocka_unit_test(test_connection_close_and_http10),
		cmocka_unit_test(test_stale_connection_reconnects),
		cmocka_unit_test(test_reset_before_reply_is_retried_once),
		cmocka_unit_test(test_eof_after_the_request_is_not_retried),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_init_and_request_checks),
		cmocka_unit_test(test_adopt_a_socketpair),
		cmocka_unit_test(test_other_methods_wire_format),
		cmocka_unit_test(test_bad_requests_are_not_sent),
		cmocka_unit_test(test_large_chunks_then_keep_alive),
		cmocka_unit_test(test_unasked_bytes_after_a_large_body),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
