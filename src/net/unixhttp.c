/*
 * unixhttp: HTTP/1.1 over an AF_UNIX socket (unixhttp.h says what and why).
 *
 * One request is one struct xfer: the deadline every wait is measured
 * against, how many reply bytes have arrived, and whether a failure shows
 * that the request cannot have reached the server (then, on a reused
 * connection, it is sent once more on a new one).
 *
 * The socket is non-blocking once connected; every wait is a poll(2) for
 * the time left until the deadline. Received bytes go through c->rbuf:
 * lines (status, headers, chunk sizes) are cut out of it in place, body
 * bytes are copied out of it into the reply. The bulk of a large body
 * (a listing of thousands of volumes) is received straight into the
 * reply instead, never past its end, so that the next reply on the
 * connection is not read early.
 */
#include "net/unixhttp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/time.h"

struct xfer {
	struct unixhttp *c;
	struct err *e;
	long long deadline;   /* CLOCK_MONOTONIC, ms */
	const char *phase;    /* for the timeout message */
	size_t got;	      /* reply bytes received for this request */
	size_t head;	      /* status and header bytes read for this request */
	bool retryable;	      /* the request cannot have reached the server */
	bool connect_failed;  /* connect(2) itself failed */
	bool head_only;	      /* a HEAD request: its reply never has a body */
};

/* What the status line and headers say about the body and the connection. */
struct head {
	int status;
	int minor; /* HTTP/1.<minor> */
	bool chunked;
	bool has_length;
	unsigned long long length;
	bool conn_close;
	bool conn_keep_alive;
};

/* A reply body: a util/buf growing up to its max; moved into the reply
 * when complete. */

/* ---- time ---- */

/* Milliseconds left, 0 when the deadline has passed. */
static int left_ms(const struct xfer *x)
{
	long long left = x->deadline - time_now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static int timed_out(struct xfer *x)
{
	return err_set(x->e, -ETIMEDOUT, "timed out after %ld ms %s", x->c->timeout_ms,
		       x->phase);
}

/* ---- the connection ---- */

static void drop(struct unixhttp *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->served = 0;
	c->rpos = c->rend = 0;
}

/* Wait until fd is ready for events (or has an error or hang-up, which the
 * following recv/send reports). */
static int wait_fd(struct xfer *x, short events)
{
	struct pollfd pfd = { .fd = x->c->fd, .events = events };

	for (;;) {
		int left = left_ms(x), n;

		if (left == 0)
			return timed_out(x);
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return err_set(x->e, -errno, "poll: %s", strerror(errno));
	}
}

/*
 * A blocking connect bounded by SO_SNDTIMEO: on AF_UNIX a non-blocking
 * connect to a listener whose backlog is full fails with EAGAIN and cannot
 * be polled for, while a blocking one waits for room up to the send timeout.
 */
static int connect_fd(struct xfer *x, int fd, const struct sockaddr_un *sun)
{
	for (;;) {
		int left = left_ms(x);
		struct timeval tv = { left / 1000, (left % 1000) * 1000 };

		if (left == 0)
			return timed_out(x);
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return err_set(x->e, -errno, "setsockopt: %s", strerror(errno));
		if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
		    errno == EISCONN) /* an interrupted connect that went through */
			return 0;
		if (errno == EAGAIN || errno == EINPROGRESS)
			return timed_out(x);
		if (errno != EINTR) {
			x->connect_failed = true;
			return err_set(x->e, -errno, "connect to '%s': %s", x->c->path,
				       strerror(errno));
		}
	}
}

static int open_conn(struct xfer *x)
{
	struct unixhttp *c = x->c;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	memcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(x->e, -errno, "socket: %s", strerror(errno));
	x->phase = "connecting";
	r = connect_fd(x, fd, &sun);
	if (r == 0 && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		r = err_set(x->e, -errno, "fcntl: %s", strerror(errno));
	if (r < 0) {
		close(fd);
		return r;
	}
	c->fd = fd;
	c->served = 0;
	c->rpos = c->rend = 0;
	c->connects++;
	return 0;
}

/* An idle kept-alive connection that polls readable has been closed by the
 * server (or sent something unasked): either way it cannot be used. */
static bool idle_is_dead(const struct unixhttp *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) != 0;
}

/* Connect unless a live connection is there: a kept-alive one that is
 * still open, or an adopted one not used yet. *reused: the former. */
static int ensure_conn(struct xfer *x, bool *reused)
{
	struct unixhttp *c = x->c;

	*reused = false;
	if (c->fd >= 0 && c->served == 0)
		return 0;
	if (c->fd >= 0 && !idle_is_dead(c)) {
		*reused = true;
		return 0;
	}
	drop(c);
	return open_conn(x);
}

/* ---- sending ---- */

static int send_all(struct xfer *x, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	int r;

	x->phase = "sending the request";
	while (msg.msg_iovlen > 0) {
		ssize_t sent = sendmsg(x->c->fd, &msg, MSG_NOSIGNAL);

		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = wait_fd(x, POLLOUT)) < 0)
					return r;
				continue;
			}
			/* the server is gone: what it read of the request is incomplete */
			x->retryable = errno == EPIPE || errno == ECONNRESET;
			return err_set(x->e, -errno, "send: %s", strerror(errno));
		}
		while (msg.msg_iovlen > 0 && (size_t)sent >= msg.msg_iov->iov_len) {
			sent -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + sent;
			msg.msg_iov->iov_len -= (size_t)sent;
		}
	}
	return 0;
}

/* ---- receiving ---- */

/* Receive up to len bytes into buf, waiting for them until the deadline.
 * Returns the bytes read, 0 at end of file, or a negative errno. */
static int recv_some(struct xfer *x, char *buf, size_t len)
{
	int r;

	x->phase = "waiting for the reply";
	if (len > INT_MAX)
		len = INT_MAX;
	for (;;) {
		ssize_t n = recv(x->c->fd, buf, len, 0);

		if (n > 0) {
			x->got += (size_t)n;
			return (int)n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((r = wait_fd(x, POLLIN)) < 0)
				return r;
			continue;
		}
		/* on AF_UNIX a reset means the server closed with our request unread */
		if (errno == ECONNRESET) {
			x->retryable = x->got == 0;
			return err_set(x->e, -ECONNRESET, "the server reset the connection");
		}
		return err_set(x->e, -errno, "recv: %s", strerror(errno));
	}
}

/* Read more into rbuf (after moving the unread part to the front).
 * Returns the bytes read, 0 at end of file, or a negative errno. */
static int fill(struct xfer *x)
{
	struct unixhttp *c = x->c;
	int r;

	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	if (c->rend == sizeof(c->rbuf))
		return err_set(x->e, -EPROTO, "a reply line is longer than %zu bytes",
			       sizeof(c->rbuf));
	r = recv_some(x, c->rbuf + c->rend, sizeof(c->rbuf) - c->rend);
	if (r > 0)
		c->rend += (size_t)r;
	return r;
}

static int closed_early(struct xfer *x, const char *where)
{
	if (x->got == 0)
		return err_set(x->e, -ECONNRESET, "the server closed the connection without "
			       "replying");
	return err_set(x->e, -ECONNRESET, "the server closed the connection %s", where);
}

/*
 * The next line of the reply head, without its "\n" or "\r\n", NUL-terminated
 * in place in rbuf: valid until the next read. Counts towards the head bound.
 */
static int read_line(struct xfer *x, char **line, const char *where)
{
	struct unixhttp *c = x->c;

	for (;;) {
		char *start = c->rbuf + c->rpos;
		char *nl = memchr(start, '\n', c->rend - c->rpos);
		int r;

		if (nl) {
			size_t len = (size_t)(nl - start);

			x->head += len + 1;
			if (x->head > UNIXHTTP_MAX_HEAD)
				break;
			if (len > 0 && start[len - 1] == '\r')
				len--;
			start[len] = '\0';
			c->rpos += (size_t)(nl - start) + 1;
			*line = start;
			return 0;
		}
		if (x->head + (c->rend - c->rpos) > UNIXHTTP_MAX_HEAD)
			break;
		r = fill(x);
		if (r < 0)
			return r;
		if (r == 0)
			return closed_early(x, where);
	}
	return err_set(x->e, -EPROTO, "the reply's status line and headers are longer than "
		       "%u KiB", UNIXHTTP_MAX_HEAD >> 10);
}

/* ---- the head ---- */

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char *trim_ows(char *s)
{
	char *end;

	while (is_ows(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_ows(end[-1]))
		*--end = '\0';
	return s;
}

/* "HTTP/1.x NNN[ reason]" */
static int parse_status(struct xfer *x, const char *line, struct head *h)
{
	const char *s = line;

	if (strncmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
		goto bad;
	h->minor = s[7] - '0';
	s += 9;
	for (int i = 0; i < 3; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
	}
	if (s[3] != '\0' && s[3] != ' ')
		goto bad;
	h->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (h->status < 100)
		goto bad;
	return 0;
bad:
	return err_set(x->e, -EPROTO, "not an HTTP/1.x status line: '%.64s'", line);
}

static int parse_length(struct xfer *x, const char *v, struct head *h)
{
	unsigned long long n = 0;

	if (!*v)
		goto bad;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > (ULLONG_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (unsigned)(*p - '0');
	}
	if (h->has_length && h->length != n)
		return err_set(x->e, -EPROTO, "the reply has two different Content-Lengths");
	h->has_length = true;
	h->length = n;
	return 0;
bad:
	return err_set(x->e, -EPROTO, "bad Content-Length '%.32s'", v);
}

/* Connection: a list of tokens; close and keep-alive are the ones that matter. */
static void parse_connection(char *v, struct head *h)
{
	char *save = NULL;

	for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = trim_ows(tok);
		if (strcasecmp(tok, "close") == 0)
			h->conn_close = true;
		else if (strcasecmp(tok, "keep-alive") == 0)
			h->conn_keep_alive = true;
	}
}

static int parse_header(struct xfer *x, char *line, struct head *h)
{
	char *colon = strchr(line, ':'), *name, *value;

	if (is_ows(line[0]))
		return 0; /* an obsolete folded continuation: nothing we read uses one */
	if (!colon || colon == line)
		return err_set(x->e, -EPROTO, "bad reply header line '%.64s'", line);
	*colon = '\0';
	name = trim_ows(line);
	value = trim_ows(colon + 1);
	if (strcasecmp(name, "Content-Length") == 0)
		return parse_length(x, value, h);
	if (strcasecmp(name, "Transfer-Encoding") == 0) {
		/* we ask for no coding; anything but chunked would be misread */
		if (strcasecmp(value, "chunked") != 0)
			return err_set(x->e, -EPROTO, "unsupported Transfer-Encoding '%.32s'",
				       value);
		h->chunked = true;
	} else if (strcasecmp(name, "Connection") == 0) {
		parse_connection(value, h);
	}
	return 0;
}

static int read_head(struct xfer *x, struct head *h)
{
	char *line;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = read_line(x, &line, "in the status line")) < 0 ||
	    (r = parse_status(x, line, h)) < 0)
		return r;
	for (;;) {
		if ((r = read_line(x, &line, "in the middle of the reply headers")) < 0)
			return r;
		if (!*line)
			break;
		if ((r = parse_header(x, line, h)) < 0)
			return r;
	}
	if (h->status == 101)
		return err_set(x->e, -EPROTO, "the server switched protocols (101)");
	return 0;
}

/* ---- the body ---- */

/* Room for n more bytes and the NUL; n <= b->max - b->len (checked by the callers). */
static int body_reserve(struct xfer *x, struct buf *b, size_t n)
{
	int r = buf_reserve(b, n);

	if (r == -EFBIG)
		return err_set(x->e, r, "the reply body is larger than %zu bytes", b->max);
	return r < 0 ? err_set(x->e, r, "out of memory") : 0;
}

static int body_append(struct xfer *x, struct buf *b, const char *p, size_t n)
{
	int r = body_reserve(x, b, n);

	if (r == 0)
		buf_add(b, p, n);
	return r;
}

/* Receive up to n body bytes straight into the body (rbuf is empty).
 * Returns the bytes read, 0 at end of file, or a negative errno. */
static int recv_body(struct xfer *x, struct buf *b, size_t n)
{
	int r;

	if ((r = body_reserve(x, b, n)) < 0)
		return r;
	r = recv_some(x, b->data + b->len, n);
	if (r > 0)
		buf_commit(b, (size_t)r);
	return r;
}

/* Move up to n buffered bytes into the body; returns how many. */
static int take_buffered(struct xfer *x, struct buf *b, size_t n, size_t *taken)
{
	struct unixhttp *c = x->c;
	size_t k = c->rend - c->rpos;
	int r;

	if (k > n)
		k = n;
	*taken = k;
	if (k == 0)
		return 0;
	r = body_append(x, b, c->rbuf + c->rpos, k);
	c->rpos += k;
	return r;
}

/* Exactly n more body bytes. counted: the body is Content-Length bytes, say
 * how many came when the server closes early (else where it happened). */
static int read_exact(struct xfer *x, struct buf *b, unsigned long long n, bool counted,
		      const char *where)
{
	while (n > 0) {
		size_t want = n > SIZE_MAX ? SIZE_MAX : (size_t)n, taken;
		int r = take_buffered(x, b, want, &taken);

		if (r < 0)
			return r;
		n -= taken;
		if (n == 0)
			break;
		/* rbuf is empty now: a large rest skips it (one copy, fewer recvs) */
		if (n >= sizeof(x->c->rbuf)) {
			r = recv_body(x, b, n > SIZE_MAX ? SIZE_MAX : (size_t)n);
			if (r > 0)
				n -= (unsigned long long)r;
		} else {
			r = fill(x);
		}
		if (r < 0)
			return r;
		if (r == 0 && counted)
			return err_set(x->e, -ECONNRESET, "the server closed the connection "
				       "after %zu of %llu body bytes", b->len, b->len + n);
		if (r == 0)
			return closed_early(x, where);
	}
	return 0;
}

static int read_length_body(struct xfer *x, const struct head *h, struct buf *b)
{
	int r;

	if (h->length > b->max)
		return err_set(x->e, -EFBIG, "the reply body is larger than %zu bytes", b->max);
	/* the whole body in one allocation, not a series of doublings */
	if (h->length > 0 && (r = body_reserve(x, b, (size_t)h->length)) < 0)
		return r;
	return read_exact(x, b, h->length, true, NULL);
}

/* "<hex>[;extensions]" */
static int parse_chunk_size(struct xfer *x, const char *line, unsigned long long *size)
{
	unsigned long long n = 0;
	const char *p = line;

	for (; *p; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (n > (ULLONG_MAX >> 4))
			goto bad;
		n = n * 16 + (unsigned)d;
	}
	while (is_ows(*p))
		p++;
	if (p == line || (*p && *p != ';'))
		goto bad;
	*size = n;
	return 0;
bad:
	return err_set(x->e, -EPROTO, "bad chunk size line '%.32s'", line);
}

static int read_chunked_body(struct xfer *x, struct buf *b)
{
	static const char where[] = "in the middle of a chunked body";
	unsigned long long size = 0;
	char *line;
	int r;

	for (;;) {
		if ((r = read_line(x, &line, where)) < 0 ||
		    (r = parse_chunk_size(x, line, &size)) < 0)
			return r;
		if (size == 0)
			break;
		if (size > b->max - b->len)
			return err_set(x->e, -EFBIG, "the reply body is larger than %zu bytes",
				       b->max);
		if ((r = read_exact(x, b, size, false, where)) < 0 ||
		    (r = read_line(x, &line, where)) < 0)
			return r;
		if (*line)
			return err_set(x->e, -EPROTO, "a chunk is longer than its size");
	}
	/* trailers, up to the empty line */
	do {
		if ((r = read_line(x, &line, where)) < 0)
			return r;
	} while (*line);
	return 0;
}

static int read_to_close(struct xfer *x, struct buf *b)
{
	for (;;) {
		size_t taken;
		int r = take_buffered(x, b, SIZE_MAX, &taken);

		if (r < 0)
			return r;
		r = fill(x);
		if (r < 0)
			return r;
		if (r == 0)
			return 0;
	}
}

static bool has_body(const struct xfer *x, int status)
{
	return !x->head_only && status >= 200 && status != 204 && status != 304;
}

/* Whether the connection can carry the next request after this reply. */
static bool keeps_alive(const struct xfer *x, const struct head *h)
{
	if (h->conn_close)
		return false;
	if (h->minor == 0 && !h->conn_keep_alive)
		return false;
	return h->chunked || h->has_length || !has_body(x, h->status);
}

static int read_body(struct xfer *x, const struct head *h, struct buf *b)
{
	if (!has_body(x, h->status))
		return 0;
	if (h->chunked)
		return read_chunked_body(x, b);
	if (h->has_length)
		return read_length_body(x, h, b);
	return read_to_close(x, b);
}

/* ---- one request ---- */

/* An HTTP method token; ours are upper-case words. */
static bool method_ok(const char *m)
{
	if (!*m)
		return false;
	for (; *m; m++) {
		if (*m < 'A' || *m > 'Z')
			return false;
	}
	return true;
}

/* A request target that cannot split the request line. */
static bool target_ok(const char *t)
{
	if (t[0] != '/')
		return false;
	for (; *t; t++) {
		if ((unsigned char)*t <= ' ' || *t == 0x7f)
			return false;
	}
	return true;
}

/* A server must be told the size of a POST or PUT even when it is 0. */
static bool sends_length(const struct unixhttp_req *rq)
{
	return rq->body || strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0;
}

/*
 * The request line and headers into *out (malloc'd; the caller frees it):
 * for a POST the bytes libcurl wrote for volplugin. Returns their length.
 */
static int format_head(struct xfer *x, const struct unixhttp_req *rq, char **out)
{
	static const char fmt[] = "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n";
	const char *extra = rq->headers ? rq->headers : "";
	char length[48] = "";
	int n;

	*out = NULL;
	if (!rq->method || !method_ok(rq->method))
		return err_set(x->e, -EINVAL, "bad request method '%.16s'",
			       rq->method ? rq->method : "");
	if (!rq->target || !target_ok(rq->target))
		return err_set(x->e, -EINVAL, "bad request target '%.64s'",
			       rq->target ? rq->target : "");
	if (!rq->body && rq->len)
		return err_set(x->e, -EINVAL, "a body length without a body");
	if (sends_length(rq))
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", rq->len);
	n = snprintf(NULL, 0, fmt, rq->method, rq->target, x->c->host, extra, length);
	if (n < 0 || (size_t)n > UNIXHTTP_MAX_REQ_HEAD)
		return err_set(x->e, -EINVAL, "the request head is longer than %u KiB",
			       UNIXHTTP_MAX_REQ_HEAD >> 10);
	*out = malloc((size_t)n + 1);
	if (!*out)
		return err_set(x->e, -ENOMEM, "out of memory");
	snprintf(*out, (size_t)n + 1, fmt, rq->method, rq->target, x->c->host, extra, length);
	return n;
}

static int exchange(struct xfer *x, char *head, size_t head_len, const char *body, size_t len,
		    struct buf *b, int *status)
{
	struct iovec iov[2] = { { head, head_len }, { (void *)body, len } };
	struct head h;
	int r;

	x->got = x->head = 0;
	x->retryable = false;
	if ((r = send_all(x, iov, len ? 2 : 1)) < 0)
		return r;
	do {
		if ((r = read_head(x, &h)) < 0)
			return r;
	} while (h.status < 200); /* 100 Continue and other interim replies */
	if ((r = read_body(x, &h, b)) < 0)
		return r;
	*status = h.status;
	/* bytes past the reply were not asked for: do not read them as the next one */
	if (!keeps_alive(x, &h) || x->c->rpos != x->c->rend)
		drop(x->c);
	else
		x->c->served++;
	return 0;
}

int unixhttp_request(struct unixhttp *c, const struct unixhttp_req *rq,
		     struct unixhttp_reply *rep, struct err *e)
{
	struct xfer x = { .c = c, .e = e, .deadline = time_now_ms() + c->timeout_ms };
	char *head;
	int n, r;

	memset(rep, 0, sizeof(*rep));
	n = format_head(&x, rq, &head);
	if (n < 0)
		return n;
	x.head_only = strcmp(rq->method, "HEAD") == 0;
	for (int attempt = 0;; attempt++) {
		struct buf b = { .max = c->max_body };
		bool reused;

		x.connect_failed = false;
		if ((r = ensure_conn(&x, &reused)) < 0) {
			rep->connect_failed = x.connect_failed;
			break;
		}
		r = exchange(&x, head, (size_t)n, rq->body, rq->len, &b, &rep->status);
		if (r == 0) {
			rep->body = b.data;
			rep->len = b.len;
			break;
		}
		free(b.data);
		drop(c);
		/* a stale kept-alive connection, and the request never reached the server */
		if (!(x.retryable && reused && attempt == 0))
			break;
		err_clear(e);
	}
	free(head);
	return r;
}

int unixhttp_post(struct unixhttp *c, const char *target, const char *extra_headers,
		  const char *body, size_t len, struct unixhttp_reply *rep, struct err *e)
{
	const struct unixhttp_req rq = {
		.method = "POST", .target = target, .headers = extra_headers,
		.body = body, .len = len,
	};

	return unixhttp_request(c, &rq, rep, e);
}

/* ---- set-up ---- */

int unixhttp_init(struct unixhttp *c, const char *path, const char *host, long timeout_ms,
		  size_t max_body, struct err *e)
{
	size_t len = path ? strlen(path) : 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (len == 0)
		return err_set(e, -EINVAL, "no socket path");
	if (len >= sizeof(c->path))
		return err_set(e, -ENAMETOOLONG, "socket path '%.64s...' is longer than %zu bytes",
			       path, sizeof(c->path) - 1);
	if (timeout_ms <= 0)
		return err_set(e, -EINVAL, "the timeout must be positive");
	memcpy(c->path, path, len + 1);
	c->host = host;
	c->timeout_ms = timeout_ms;
	c->max_body = max_body;
	return 0;
}

int unixhttp_adopt(struct unixhttp *c, int fd, struct err *e)
{
	int flags = fcntl(fd, F_GETFL);

	drop(c);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int r = -errno;

		close(fd);
		return err_set(e, r, "fcntl: %s", strerror(-r));
	}
	c->fd = fd;
	c->connects++;
	return 0;
}

void unixhttp_release(struct unixhttp *c)
{
	drop(c);
}

void unixhttp_reply_release(struct unixhttp_reply *rep)
{
	free(rep->body);
	rep->body = NULL;
	rep->len = 0;
}
