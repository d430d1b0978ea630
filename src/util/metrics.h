/*
 * metrics: the counters and histograms the engine's parts keep of
 * themselves, and the Prometheus text format (version 0.0.4) they are
 * written in. Pull, not push: each part (the REST server, a Docker
 * module, an integration, the store) owns its numbers in its own struct,
 * and the exporter (daemon/metrics.c) reads them at scrape time. So there
 * is no registry and no global state here.
 *
 * A histogram counts with atomics: observing never takes a lock and never
 * allocates. Request tables take a mutex (a linear search of at most
 * MX_REQ_SLOTS rows: routes and methods are few). Label values must be
 * static strings (route templates, method names): never a volume name or
 * a URL, which would make the series unbounded.
 */
#ifndef RR_METRICS_H
#define RR_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Upper bounds in seconds of the latency buckets (+Inf is implicit):
 * from a cached listing (1 ms) to a mkfs of a big image (60 s). */
#define MX_BUCKETS 15
extern const double mx_bounds[MX_BUCKETS];

struct mx_hist {
	_Atomic uint64_t le[MX_BUCKETS]; /* per bucket, not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
};

/* A plain copy of a histogram, to sum several and to write. */
struct mx_snap {
	uint64_t le[MX_BUCKETS];
	uint64_t count;
	uint64_t sum_ns;
};

/* Count one duration of ns nanoseconds (negative counts as 0). */
void mx_observe(struct mx_hist *h, long long ns);
/* Add h into s (s starts zeroed). */
void mx_snap_add(struct mx_snap *s, const struct mx_hist *h);

/* Requests by (label, status): a route template or a method name. */
#define MX_REQ_SLOTS 64
struct mx_req_row {
	const char *label; /* static */
	unsigned status;
	struct mx_snap h;
};
struct mx_requests {
	pthread_mutex_t mu;
	struct mx_req_row row[MX_REQ_SLOTS];
	size_t n;
};

void mx_requests_init(struct mx_requests *r);
void mx_requests_destroy(struct mx_requests *r);
/* Count one request; label must be static. Once MX_REQ_SLOTS - 1 rows
 * are taken, new (label, status) pairs are counted in one row labelled
 * "other" with status 0. */
void mx_requests_observe(struct mx_requests *r, const char *label, unsigned status,
			 long long ns);

/* ---- the text format ---- */

/* "# HELP name help\n# TYPE name type\n". */
int mx_family(struct buf *b, const char *name, const char *type, const char *help);
/* A label pair for mx_sample's labels: key="value" with the value
 * escaped (backslash, quote, newline), comma-separated from what b holds
 * already. b is a small scratch buffer the caller resets. */
int mx_label(struct buf *b, const char *key, const char *value);
/* "name{labels} value\n"; labels may be NULL or "". */
int mx_sample(struct buf *b, const char *name, const char *labels, double value);
/* The _bucket (cumulative, le="..."), _sum (seconds) and _count lines. */
int mx_hist_write(struct buf *b, const char *name, const char *labels, const struct mx_snap *s);
/* Every row of r as a histogram family name with labels
 * label_key="<row label>", code="<status>" after extra (may be NULL). */
int mx_requests_write(struct buf *b, struct mx_requests *r, const char *name,
		      const char *label_key, const char *extra);

#endif
