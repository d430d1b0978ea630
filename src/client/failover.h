/*
 * failover: what the HTTP client (client/rest.c) needs to talk to several
 * libStorage servers: their addresses, parsed and checked, and the rule
 * that says when a request moves on from one server to the next.
 *
 * Addresses. libstorage.host is one address or a list of them: a YAML
 * sequence (the config layer joins its items with ","), or "a,b" text from
 * -h or LIBSTORAGE_HOST (config.h, cfg_list_next). Each is
 * unix:///path.sock or tcp://host:port ("tcp://[v6]:port"), checked as one
 * address always was; a bad one is named in the error.
 *
 * The rule (failover_next). A client sends a request to its current
 * server; it goes on to the next server, each server at most once per
 * request, only when the first cannot have acted on it, or when repeating
 * it cannot do harm:
 *  - nothing was sent (HTTPC_CONNECT: refused, unreachable, unresolvable;
 *    the TLS handshake or the server's certificate failed, which happens
 *    before the request goes out): any method;
 *  - a 503 reply: the server says it did not act (it lost its database):
 *    any method;
 *  - the request may have reached the server (a timeout waiting for the
 *    reply, a connection closed or reset after sending, a reply that is
 *    not HTTP) or another 5xx than 501: only GET and HEAD, which change
 *    nothing. A POST or DELETE may have acted (a volume created, a device
 *    attached): it is never sent twice, and its error is the server's.
 * Everything else is an answer (2xx, 3xx, 4xx, 501, a reply too large) or
 * our own failure (out of memory, a request refused before sending, our
 * TLS certificate unusable): the same on every server, so it stays.
 *
 * Ownership: a parsed list is malloc'd and the caller's (ls_addrs_free).
 * No state, thread-safe.
 */
#ifndef RR_CLIENT_FAILOVER_H
#define RR_CLIENT_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "net/httpc.h"
#include "util/err.h"

#define LS_HOSTS_MAX   16		    /* servers in one libstorage.host */
#define LS_UNIX_HOST   "libstorage-server" /* the Host header on a unix socket */

/* One server address, parsed. Every string is malloc'd. */
struct ls_addr {
	char *text;	   /* as given, trimmed: for messages */
	char *socket_path; /* a unix socket, or NULL for TCP */
	char *name;	   /* the host name or address (no brackets); LS_UNIX_HOST on a socket */
	char *hostport;	   /* "name:port" as given ("[v6]:port"); LS_UNIX_HOST on a socket */
	unsigned port;	   /* 1-65535; 0 for a socket */
};

/*
 * Parse text, one address or a list, into *out (n_out addresses, in
 * order). Returns 0; -EINVAL naming the address that is wrong and why
 * ("invalid libstorage host 'x': expected unix:///path.sock or
 * tcp://host:port"), or for an empty list or more than LS_HOSTS_MAX;
 * -ENOMEM. Nothing is allocated on failure.
 */
int ls_addrs_parse(const char *text, struct ls_addr **out, size_t *n_out, struct err *e);
/* Free the strings of one address (a itself is the caller's). */
void ls_addr_release(struct ls_addr *a);
/* Release each of n addresses, then the array; NULL is fine. */
void ls_addrs_free(struct ls_addr *a, size_t n);

/*
 * After one server's outcome, should the request go to the next server?
 * method is the request's ("GET", "POST", ...); fail is HTTPC_OK when a
 * reply arrived, with its status; else how the transport failed (status
 * is then ignored). The rule is the one above.
 */
bool failover_next(const char *method, enum httpc_fail fail, int status);

#endif
