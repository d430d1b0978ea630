#include "net/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool sockaddr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

bool net_host_is_loopback(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	bool loop;

	if (!host || !*host)
		return false; /* all interfaces */
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return false;
	loop = true;
	for (ai = res; ai; ai = ai->ai_next)
		loop = loop && sockaddr_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return loop;
}
