/*
 * addr: network address helpers shared by the HTTP server and client
 * (the floor every transport stands on; no state, thread-safe).
 */
#ifndef RR_NET_ADDR_H
#define RR_NET_ADDR_H

#include <stdbool.h>

/* true when host ("127.0.0.1", "[::1]", "localhost", a name) is loopback
 * only; "" (all interfaces) and unresolvable names are not. */
bool net_host_is_loopback(const char *host);

#endif
