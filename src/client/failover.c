/* failover: server addresses and when a request moves on (failover.h). */
#include "client/failover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "config/config.h"

/* ---- addresses ---- */

static int bad_host(const char *host, const char *why, struct err *e)
{
	return err_set(e, -EINVAL, "invalid libstorage host '%s': %s", host, why);
}

static int parse_unix(struct ls_addr *a, const char *path, struct err *e)
{
	struct sockaddr_un sun;

	if (!*path)
		return bad_host(a->text, "empty socket path", e);
	if (strlen(path) >= sizeof(sun.sun_path))
		return bad_host(a->text, "socket path is too long", e);
	a->socket_path = strdup(path);
	a->name = strdup(LS_UNIX_HOST);
	a->hostport = strdup(LS_UNIX_HOST);
	if (!a->socket_path || !a->name || !a->hostport)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* "host:port" or "[v6]:port"; the port is 1-65535. */
static int parse_tcp(struct ls_addr *a, const char *hp, struct err *e)
{
	const char *colon = strrchr(hp, ':');
	char *end;
	long port;

	if (!colon || colon == hp)
		return bad_host(a->text, "expected tcp://host:port", e);
	if (hp[0] == '[' && colon[-1] != ']')
		return bad_host(a->text, "expected tcp://[address]:port", e);
	if (hp[0] != '[' && memchr(hp, ':', (size_t)(colon - hp)))
		return bad_host(a->text, "an IPv6 address needs brackets", e);
	for (const char *p = hp; p < colon; p++) {
		if (*p == '/' || *p == '@' || *p == '?' || *p == '#' || (unsigned char)*p <= ' ')
			return bad_host(a->text, "bad character in host name", e);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535)
		return bad_host(a->text, "port must be 1-65535", e);
	a->port = (unsigned)port;
	a->hostport = strdup(hp);
	if (hp[0] == '[')
		a->name = strndup(hp + 1, (size_t)(colon - hp - 2));
	else
		a->name = strndup(hp, (size_t)(colon - hp));
	if (!a->hostport || !a->name)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

/* One address of len bytes at s into *a (released by the caller, also on failure). */
static int parse_one(struct ls_addr *a, const char *s, size_t len, struct err *e)
{
	if (!(a->text = strndup(s, len)))
		return err_set(e, -ENOMEM, "out of memory");
	if (strncmp(a->text, "unix://", 7) == 0)
		return parse_unix(a, a->text + 7, e);
	if (strncmp(a->text, "tcp://", 6) == 0)
		return parse_tcp(a, a->text + 6, e);
	return bad_host(a->text, "expected unix:///path.sock or tcp://host:port", e);
}

void ls_addr_release(struct ls_addr *a)
{
	free(a->text);
	free(a->socket_path);
	free(a->name);
	free(a->hostport);
}

void ls_addrs_free(struct ls_addr *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		ls_addr_release(&a[i]);
	free(a);
}

int ls_addrs_parse(const char *text, struct ls_addr **out, size_t *n_out, struct err *e)
{
	const char *cur = text, *item;
	struct ls_addr *a;
	size_t len, n = 0;
	int r = 0;

	*out = NULL;
	*n_out = 0;
	if (!text)
		return err_set(e, -EINVAL, "no libstorage host given");
	if (!(a = calloc(LS_HOSTS_MAX, sizeof(*a))))
		return err_set(e, -ENOMEM, "out of memory");
	while (r == 0 && cfg_list_next(&cur, &item, &len)) {
		if (n == LS_HOSTS_MAX)
			r = err_set(e, -EINVAL, "more than %d libstorage hosts", LS_HOSTS_MAX);
		else
			r = parse_one(&a[n++], item, len, e);
	}
	if (r == 0 && n == 0)
		r = bad_host(text, "expected unix:///path.sock or tcp://host:port, or a "
			     "comma-separated list of them", e);
	if (r < 0) {
		ls_addrs_free(a, n);
		return r;
	}
	*out = a;
	*n_out = n;
	return 0;
}

/* ---- the rule ---- */

/* A method that changes nothing on the server, whatever it received. */
static bool method_safe(const char *method)
{
	return strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0;
}

bool failover_next(const char *method, enum httpc_fail fail, int status)
{
	switch (fail) {
	case HTTPC_OK:
		if (status == 503)
			return true; /* the server did not act */
		return status >= 500 && status != 501 && method_safe(method);
	case HTTPC_CONNECT:
	case HTTPC_TLS_HANDSHAKE:
	case HTTPC_CERT_UNTRUSTED:
	case HTTPC_CERT_UNKNOWN:
		return true; /* nothing was sent */
	case HTTPC_TIMEOUT:
	case HTTPC_NO_REPLY:
	case HTTPC_PROTO:
	case HTTPC_IO:
		return method_safe(method); /* it may have been delivered */
	case HTTPC_REFUSED:
	case HTTPC_NOMEM:
	case HTTPC_CERT_LOCAL:
	case HTTPC_TOO_BIG:
		return false; /* ours, or an answer: the same everywhere */
	}
	return false;
}
