/*
 * script_server: a scripted HTTP server for the unit tests of the HTTP
 * clients (test_unixhttp.c, test_http_client.c). A thread on a unix
 * socket is given a list of steps, one per request it reads (reply with
 * these bytes, reply and close, never answer, close with the request
 * unread ...); the test then checks what the client returned, what the
 * server saw (the raw requests) and how many connections it took.
 *
 * Static functions in a header: each test program includes it once, after
 * <cmocka.h>.
 */
#ifndef RR_TEST_SCRIPT_SERVER_H
#define RR_TEST_SCRIPT_SERVER_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum act {
	A_REPLY,	/* read a request, write raw, keep the connection */
	A_REPLY_CLOSE,	/* read a request, write raw, close */
	A_SILENT,	/* read a request, never answer: wait for the client to hang up */
	A_CLOSE_UNREAD, /* wait until a request arrives, close without reading it */
	A_CLOSE_READ,	/* read a request, close without answering */
	A_HANGUP,	/* wait for the client to hang up (reading nothing), close */
};

struct step {
	enum act act;
	const char *raw; /* NULL: big_reply */
	bool dribble;	 /* write raw 3 bytes at a time, 1 ms apart */
};

#define MAX_REQS 8

struct server {
	char path[108];
	int lfd;
	const struct step *steps;
	int n_steps;
	pthread_t tid;
	atomic_int accepts;
	atomic_int requests;
	atomic_int closes; /* connections the server closed */
	char req[MAX_REQS][4096];
	size_t req_len[MAX_REQS];
	char problem[256]; /* what went wrong on the server side, "" when nothing */
};

/* what a step with raw NULL writes; the test file fills it (in its setup) */
static char *big_reply;
static size_t big_reply_len;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void send_raw(int fd, const char *p, size_t n, bool dribble)
{
	while (n > 0) {
		size_t k = dribble && n > 3 ? 3 : n;
		ssize_t w = send(fd, p, k, MSG_NOSIGNAL);

		if (w <= 0)
			return; /* the client gave up (a cap, a timeout): expected */
		p += w;
		n -= (size_t)w;
		if (dribble)
			usleep(1000);
	}
}

/* Wait (up to 10 s) until the client hangs up, reading and dropping anything. */
static void wait_hangup(int fd)
{
	char buf[4096];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (poll(&pfd, 1, 10000) > 0) {
		if (recv(fd, buf, sizeof(buf), 0) <= 0)
			return;
	}
}

/* One request: the head up to the blank line and Content-Length bytes.
 * Returns its length, 0 when the client hung up first, -1 on trouble. */
static ssize_t read_request(int fd, char *buf, size_t sz)
{
	size_t len = 0, want = 0;
	char *end = NULL;

	for (;;) {
		ssize_t n;

		if (end && len >= want)
			return (ssize_t)len;
		if (len == sz - 1)
			return -1;
		n = recv(fd, buf + len, sz - 1 - len, 0);
		if (n <= 0)
			return len == 0 ? 0 : -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "\r\nContent-Length: ");
			want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 18, NULL, 10) : 0);
		}
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int conn = -1;

	for (int i = 0; i < s->n_steps; i++) {
		const struct step *st = &s->steps[i];
		char buf[4096];
		ssize_t n;

		if (conn < 0) {
			conn = accept(s->lfd, NULL, NULL);
			if (conn < 0) {
				snprintf(s->problem, sizeof(s->problem), "accept failed");
				return NULL;
			}
			s->accepts++;
		}
		if (st->act == A_HANGUP) {
			struct pollfd pfd = { .fd = conn, .events = POLLIN };
			char byte;

			ssize_t got = -1;

			/* a request here (rather than the hang-up) fails the test; a
			 * client that hangs up with our bytes unread resets */
			if (poll(&pfd, 1, 10000) == 1)
				got = recv(conn, &byte, 1, MSG_PEEK);
			if (got != 0 && !(got < 0 && errno == ECONNRESET))
				snprintf(s->problem, sizeof(s->problem),
					 "step %d: the client did not hang up", i);
			close(conn);
			conn = -1;
			s->closes++;
			continue;
		}
		if (st->act == A_CLOSE_UNREAD) {
			struct pollfd pfd = { .fd = conn, .events = POLLIN };
			poll(&pfd, 1, 10000);
			close(conn);
			conn = -1;
			s->closes++;
			continue;
		}
		n = read_request(conn, buf, sizeof(buf));
		if (n <= 0) {
			snprintf(s->problem, sizeof(s->problem), "step %d: no request (%zd)", i, n);
			break;
		}
		if (s->requests < MAX_REQS) {
			memcpy(s->req[s->requests], buf, (size_t)n + 1);
			s->req_len[s->requests] = (size_t)n;
		}
		s->requests++;
		if (st->act == A_REPLY || st->act == A_REPLY_CLOSE)
			send_raw(conn, st->raw ? st->raw : big_reply,
				 st->raw ? strlen(st->raw) : big_reply_len, st->dribble);
		if (st->act == A_SILENT)
			wait_hangup(conn);
		if (st->act != A_REPLY) {
			close(conn);
			conn = -1;
			s->closes++;
		}
	}
	if (conn >= 0) {
		wait_hangup(conn);
		close(conn);
	}
	return NULL;
}

static void server_start(struct server *s, const char *path, const struct step *steps, int n)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->steps = steps;
	s->n_steps = n;
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(pthread_create(&s->tid, NULL, server_main, s), 0);
}

/* Join the server (the client must have hung up, or the server be done). */
static void server_stop(struct server *s)
{
	pthread_join(s->tid, NULL);
	close(s->lfd);
	unlink(s->path);
	if (s->problem[0])
		fail_msg("server: %s", s->problem);
}

/* Wait up to 2 s until the server has closed n connections. */
static void wait_closes(struct server *s, int n)
{
	for (int i = 0; i < 2000 && s->closes < n; i++)
		usleep(1000);
	assert_int_equal(s->closes, n);
}

#endif
