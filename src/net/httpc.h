/*
 * httpc: the one HTTP client of the engine. The libStorage client
 * (client/rest.c) and the Docker volume plugin client (volplugin/) both
 * send their requests through it; nothing else names libcurl.
 *
 * Transports. Plain HTTP on a unix socket, nearly every call (the CLI and
 * the agent to the local service, dvdcli to a plugin), goes through
 * unixhttp.c and needs no libcurl. TCP, and TLS on a socket, go through
 * libcurl, loaded with dlopen when such a client is made (curldl.h): linked,
 * its ~30 libraries would cost every exec of dvdcli and the CLI ~5 ms.
 * Both transports send the same header lines and report failures in the
 * same words (enum httpc_fail).
 *
 * Connections come from a small pool (HTTPC_POOL_MAX idle ones), so
 * keep-alive connections survive between requests and threads can share
 * one client: each request takes a connection and gives it back. Every
 * request is bounded by timeout_ms (connect to last byte), every reply
 * body by max_body.
 *
 * Delivery: a request is retried by nobody, here or above, once it may
 * have reached the server (a mount must not run twice). rep->fail ==
 * HTTPC_CONNECT, and only that, means nothing was sent: safe to retry.
 * (unixhttp.c replaces a kept-alive connection the server closed before
 * it read our request, which is also "nothing was sent".)
 *
 * TLS (https:// base URLs): the peer is verified against ca_file (or the
 * system CAs) unless insecure; with cert_known set, the certificate is
 * asked about after the handshake and before the request (and its bearer
 * token) is sent, on a fresh connection every time.
 *
 * Never prints, never logs, never raises SIGPIPE.
 */
#ifndef RR_HTTPC_H
#define RR_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "net/certfp.h"
#include "util/err.h"

#define HTTPC_POOL_MAX	  8

/* Why a request failed, whatever the transport. */
enum httpc_fail {
	HTTPC_OK = 0,
	HTTPC_CONNECT,	      /* could not connect: nothing was sent, safe to retry */
	HTTPC_REFUSED,	      /* the request itself was refused here (bad target or
			       * header bytes): nothing was sent */
	HTTPC_TIMEOUT,	      /* timeout_ms passed */
	HTTPC_TOO_BIG,	      /* the reply body is larger than max_body */
	HTTPC_NOMEM,	      /* out of memory */
	HTTPC_CERT_UNKNOWN,   /* cert_known said no (or there was no certificate) */
	HTTPC_CERT_UNTRUSTED, /* TLS: the peer's certificate did not verify */
	HTTPC_CERT_LOCAL,     /* TLS: our certificate or key cannot be used */
	HTTPC_TLS_HANDSHAKE,  /* TLS: the handshake failed (a plain HTTP server?) */
	HTTPC_NO_REPLY,	      /* libcurl: the server sent nothing, or the receive failed */
	HTTPC_PROTO,	      /* the reply is not HTTP/1.x (a TLS server, spoken to plainly?) */
	HTTPC_IO,	      /* any other failure after the request may have gone out */
};

struct httpc_opts {
	const char *base_url;	 /* "http://host:port", "https://name"; on a unix socket
				  * the host part is the Host header */
	const char *socket_path; /* a unix socket, or NULL for TCP */
	long timeout_ms;	 /* per request, > 0 */
	size_t max_body;	 /* the largest reply body accepted, > 0 */
	bool no_proxy;		 /* never through $http_proxy and friends */
	/* TLS (https:// only) */
	bool insecure;	  /* do not verify the peer's certificate or name */
	const char *ca_file, *cert_file, *key_file; /* NULL: none (the system's CAs) */
	const char *connect_to;			     /* "name:port:host:port" or NULL */
	/* non-NULL: the server's certificate (PEM) must be one cert_known
	 * accepts before anything is sent; it fills shown (CERTFP_SHOW_LEN
	 * + 1 bytes) with the fingerprint for the message, "" if unreadable */
	bool (*cert_known)(void *arg, const char *pem, size_t len, char *shown);
	void *cert_arg;
	const char *purpose; /* what needs libcurl, for the message when it cannot load */
};

/* One request; every pointer is borrowed for the call. */
struct httpc_req {
	const char *method;  /* "GET", "POST", "DELETE" ... */
	const char *target;  /* "/path?query", already escaped */
	const char *headers; /* NULL or "Name: value\r\n" lines, sent after Host */
	const char *body;    /* NULL: none; POST and PUT always carry Content-Length */
	size_t len;	     /* of body */
};

struct httpc_reply {
	int status;	     /* any status: mapping it is the caller's */
	char *body;	     /* NUL-terminated (not counted in len), or NULL when empty */
	size_t len;
	enum httpc_fail fail; /* HTTPC_OK after a reply */
	int os_errno;	     /* connect(2)'s errno when known, else 0 */
	/* HTTPC_CERT_UNKNOWN: the fingerprint seen as "AA:BB:..", "" when none */
	char cert_fp[CERTFP_SHOW_LEN + 1];
};

struct httpc;

/*
 * A client for o (copied; the strings too). Loads libcurl unless the
 * transport is plain HTTP on a unix socket.
 * Returns 0, -EINVAL (bad URL, socket path or timeout), -ENOMEM, or
 * -ELIBACC / -EIO when libcurl is needed and cannot be loaded.
 */
int httpc_new(const struct httpc_opts *o, struct httpc **out, struct err *e);
/* Close every connection and free; NULL is fine. */
void httpc_free(struct httpc *c);

/* True when requests need no libcurl (plain HTTP on a unix socket). */
bool httpc_native(const struct httpc *c);

/*
 * Send req, read the reply into *rep (free with httpc_reply_release,
 * also after a failure). Thread-safe.
 * Returns 0 once a reply arrived, whatever its status; else a negative
 * errno with rep->fail set and the transport's own words in e:
 * HTTPC_CONNECT gives -(connect's errno) or -ECONNREFUSED, HTTPC_TIMEOUT
 * -ETIMEDOUT, HTTPC_TOO_BIG -EFBIG, HTTPC_NOMEM -ENOMEM, HTTPC_REFUSED
 * -EINVAL, HTTPC_CERT_UNKNOWN -EACCES, the others -EIO.
 */
int httpc_request(struct httpc *c, const struct httpc_req *req, struct httpc_reply *rep,
		  struct err *e);
void httpc_reply_release(struct httpc_reply *rep);

#endif
