/*
 * daemon/metrics: the Prometheus endpoint of a serving engine
 * (rexray.metrics.address; docs/operations.md lists the series). It reads
 * what the parts keep of themselves (util/metrics.h) at scrape time: the
 * REST server's and the Docker modules' requests, the integrations'
 * durations and mount counts, the store's transactions, the engine's
 * fencing counts, the volumes of every service, the uses on this host,
 * and the process.
 *
 * Off unless the address is set. A tcp:// address that is not loopback
 * is refused unless rexray.metrics.tls.certFile and keyFile are set (then
 * it serves HTTPS): the series name volumes and services.
 */
#ifndef RR_DAEMON_METRICS_H
#define RR_DAEMON_METRICS_H

#include "daemon/engine.h"
#include "util/buf.h"
#include "util/err.h"

/* Start serving when rexray.metrics.address is set (en->metrics stays
 * NULL otherwise). The engine's parts must be up; metrics_stop before
 * they go. 0 or -errno with e set (a bad address, a non-loopback one
 * without TLS, a port in use, an unreadable certificate). */
int metrics_start(struct engine *en, struct err *e);
void metrics_stop(struct engine *en);
/* The address it listens on ("tcp://127.0.0.1:9779"), or NULL. */
const char *metrics_address(const struct engine *en);

/* Append the whole exposition text to b. 0, -ENOMEM. */
int metrics_render(struct engine *en, struct buf *b);

#endif
