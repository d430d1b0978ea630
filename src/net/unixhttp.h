/*
 * unixhttp: a small HTTP/1.1 client over an AF_UNIX stream socket, so that
 * the programs that nearly always talk to a local socket need no libcurl
 * (whose ~30 shared libraries cost ~5 ms of loading and relocation at
 * every exec): dvdcli, exec'd by Mesos once per mount, for a Docker volume
 * plugin (volplugin/volplugin.c), and the rexray CLI and agent for a libStorage
 * server on a unix:// host (client/rest.c). Everything else (tcp, https,
 * TLS on a socket) still goes through libcurl, loaded on demand (curldl.h).
 *
 * What it does: one request at a time, any method, on one connection kept
 * alive across requests. The request is "<METHOD> <target> HTTP/1.1",
 * Host, the caller's extra header lines, Content-Length (when there is a
 * body, and always for POST and PUT) and the body: for volplugin's POSTs the
 * same bytes libcurl sent. The reply: a status line (HTTP/1.0 or 1.1;
 * interim 1xx replies are skipped), headers, then a body delimited by
 * Content-Length, by Transfer-Encoding: chunked, or by the server closing
 * the connection (none for HEAD, 204 and 304). A reply with Connection:
 * close (or an HTTP/1.0 one without keep-alive) closes the connection
 * after it. Of the reply headers only those that frame the reply are
 * read; the caller gets the status and the body.
 *
 * Reuse: a kept-alive connection the server has since closed is replaced,
 * once per request and transparently, when the request cannot have reached
 * the server: the idle connection already reads as closed, sending fails
 * (EPIPE), or the first read is a reset (the server closed with our request
 * unread). An end of file after the request was delivered is an error, not
 * retried, whatever the method: the server may have acted on it (a mount),
 * and no caller sends a request twice. A fresh connection is never retried.
 *
 * Bounds: each request, from connect to the last body byte, is bounded by
 * timeout_ms (one deadline, poll(2)), like CURLOPT_TIMEOUT_MS; the body by
 * max_body bytes; the status line and headers by UNIXHTTP_MAX_HEAD, and
 * what we send before the body by UNIXHTTP_MAX_REQ_HEAD.
 *
 * Ownership: struct unixhttp is the caller's (on the stack or inside
 * another struct) and owns its socket; unixhttp_release closes it. A
 * reply's body is malloc'd and owned by the reply (unixhttp_reply_release).
 * One thread at a time per struct unixhttp (a caller shared by threads
 * keeps one per thread, or a pool: client/rest.c). Never raises SIGPIPE,
 * never prints, never logs.
 *
 * Errors: 0 or a negative errno, with the message in e:
 *   -ETIMEDOUT	  the deadline passed (connecting, sending or receiving)
 *   connect(2)'s errno (-ECONNREFUSED, -ENOENT, ...), rep->connect_failed
 *		  set: nothing was sent, the caller may retry
 *   -EFBIG	  the body is larger than max_body
 *   -EPROTO	  the reply is not HTTP/1.x as described above
 *   -ECONNRESET  the server closed the connection before the reply ended
 *   -EINVAL	  a bad method or target, or a request head too long (nothing sent)
 *   -ENOMEM, or the errno of a failed send/recv/poll.
 * After any error the connection is closed; the next request reconnects.
 */
#ifndef RR_UNIXHTTP_H
#define RR_UNIXHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include "util/err.h"

#define UNIXHTTP_MAX_HEAD     (64u << 10)  /* status line + headers of one reply */
#define UNIXHTTP_MAX_REQ_HEAD (256u << 10) /* request line + headers we send */
#define UNIXHTTP_RBUF	      16384	   /* receive buffer */

struct unixhttp {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *host; /* Host header value; borrowed, must outlive the client */
	long timeout_ms;  /* per request, > 0 */
	size_t max_body;  /* the largest reply body accepted */
	int fd;		  /* -1 when not connected */
	unsigned served;  /* replies read on fd: > 0 means a reused connection */
	unsigned connects; /* connections made, for tests and debug lines */
	/* received bytes not consumed yet: rbuf[rpos, rend) */
	size_t rpos, rend;
	char rbuf[UNIXHTTP_RBUF];
};

/* One request; every pointer is borrowed for the call. */
struct unixhttp_req {
	const char *method;  /* "GET", "POST", "DELETE" ...: upper-case letters */
	const char *target;  /* "/path?query": starts with '/', no spaces or controls */
	const char *headers; /* NULL or complete "Name: value\r\n" lines the caller
			      * trusts (checked for nothing), sent after Host */
	const char *body;    /* NULL: none (POST and PUT still say Content-Length: 0) */
	size_t len;	     /* of body */
};

struct unixhttp_reply {
	int status;	     /* 200 ... */
	char *body;	     /* NUL-terminated (not counted in len); NULL when empty */
	size_t len;
	bool connect_failed; /* on failure: connect(2) failed, nothing was sent */
};

/*
 * Set c up for the socket at path; does not connect. host and timeout_ms
 * as above (timeout_ms <= 0 is refused).
 * Returns 0, or -ENAMETOOLONG when path does not fit in a sockaddr_un,
 * -EINVAL for an empty path or a bad timeout.
 */
int unixhttp_init(struct unixhttp *c, const char *path, const char *host, long timeout_ms,
		  size_t max_body, struct err *e);

/* Close the connection if any; c can be set up again with unixhttp_init.
 * Takes a struct that unixhttp_init refused, not one never initialised. */
void unixhttp_release(struct unixhttp *c);

/*
 * Use fd, a connected stream socket (one end of a socketpair in the tests
 * and the fuzz target), as the connection, closing any previous one. c
 * takes fd in every case (closed on failure). Like a fresh connection, it
 * is not retried on; a later request that needs a new one connects to the
 * path. Returns 0 or -errno from fcntl.
 */
int unixhttp_adopt(struct unixhttp *c, int fd, struct err *e);

/*
 * Send req and read the reply. On success *rep holds the reply (any
 * status: mapping it is the caller's); free it with unixhttp_reply_release.
 * On failure rep->body is NULL.
 * Returns 0 or a negative errno (see the top of this file).
 */
int unixhttp_request(struct unixhttp *c, const struct unixhttp_req *req,
		     struct unixhttp_reply *rep, struct err *e);

/*
 * unixhttp_request of POST body (len bytes; body may be NULL when len is
 * 0) to target ("/x"), with extra_headers (NULL or "Name: value\r\n"
 * lines) between Host and Content-Length.
 */
int unixhttp_post(struct unixhttp *c, const char *target, const char *extra_headers,
		  const char *body, size_t len, struct unixhttp_reply *rep, struct err *e);

/* Free the body; rep can be reused. */
void unixhttp_reply_release(struct unixhttp_reply *rep);

#endif
