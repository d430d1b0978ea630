/* metrics: histograms, request tables and the Prometheus text format. */
#include "util/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const double mx_bounds[MX_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				       0.5,   1,      2.5,   5,    10,    30,   60 };

static int bucket_of(long long ns)
{
	double sec = (double)ns / 1e9;

	for (int i = 0; i < MX_BUCKETS; i++)
		if (sec <= mx_bounds[i])
			return i;
	return -1; /* +Inf only */
}

void mx_observe(struct mx_hist *h, long long ns)
{
	int i;

	if (ns < 0)
		ns = 0;
	i = bucket_of(ns);
	if (i >= 0)
		atomic_fetch_add_explicit(&h->le[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void mx_snap_add(struct mx_snap *s, const struct mx_hist *h)
{
	for (int i = 0; i < MX_BUCKETS; i++)
		s->le[i] += atomic_load_explicit(&h->le[i], memory_order_relaxed);
	s->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	s->count += atomic_load_explicit(&h->count, memory_order_relaxed);
}

void mx_requests_init(struct mx_requests *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}

void mx_requests_destroy(struct mx_requests *r)
{
	pthread_mutex_destroy(&r->mu);
}

/* The row of (label, status); a new one while there is room. The last
 * slot is kept for "other", where everything goes once the rest are
 * taken, so the table never grows past MX_REQ_SLOTS. */
static struct mx_req_row *find_row(struct mx_requests *r, const char *label, unsigned status)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->row[i].status == status && strcmp(r->row[i].label, label) == 0)
			return &r->row[i];
	if (r->n < MX_REQ_SLOTS - 1) {
		r->row[r->n].label = label;
		r->row[r->n].status = status;
		return &r->row[r->n++];
	}
	if (r->n == MX_REQ_SLOTS - 1) {
		r->row[r->n].label = "other";
		r->row[r->n++].status = 0;
	}
	return &r->row[MX_REQ_SLOTS - 1];
}

void mx_requests_observe(struct mx_requests *r, const char *label, unsigned status,
			 long long ns)
{
	struct mx_req_row *row;
	int i;

	if (ns < 0)
		ns = 0;
	i = bucket_of(ns);
	pthread_mutex_lock(&r->mu);
	row = find_row(r, label, status);
	if (i >= 0)
		row->h.le[i]++;
	row->h.sum_ns += (uint64_t)ns;
	row->h.count++;
	pthread_mutex_unlock(&r->mu);
}

/* ---- text format ---- */

int mx_family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int mx_label(struct buf *b, const char *key, const char *value)
{
	int r = buf_addf(b, "%s%s=\"", b->len ? "," : "", key);

	for (const char *p = value ? value : ""; r == 0 && *p; p++) {
		if (*p == '\\')
			r = buf_addstr(b, "\\\\");
		else if (*p == '"')
			r = buf_addstr(b, "\\\"");
		else if (*p == '\n')
			r = buf_addstr(b, "\\n");
		else
			r = buf_add(b, p, 1);
	}
	return r ? r : buf_addstr(b, "\"");
}

/* A float the way Prometheus reads it: integers without a fraction. */
static int add_value(struct buf *b, double v)
{
	if (isinf(v))
		return buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		return buf_addf(b, "%lld", (long long)v);
	return buf_addf(b, "%.15g", v);
}

int mx_sample(struct buf *b, const char *name, const char *labels, double value)
{
	int r = labels && *labels ? buf_addf(b, "%s{%s} ", name, labels) : buf_addf(b, "%s ", name);

	if (r == 0)
		r = add_value(b, value);
	return r ? r : buf_addstr(b, "\n");
}

int mx_hist_write(struct buf *b, const char *name, const char *labels, const struct mx_snap *s)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cum = 0;
	int r = 0;

	if (!labels)
		labels = "";
	for (int i = 0; r == 0 && i < MX_BUCKETS; i++) {
		cum += s->le[i];
		r = buf_addf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, mx_bounds[i],
			     (unsigned long long)cum);
	}
	if (r == 0)
		r = buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
			     (unsigned long long)s->count);
	if (r == 0)
		r = buf_addf(b, "%s_sum%s%s%s %.15g\n", name, *labels ? "{" : "", labels,
			     *labels ? "}" : "", (double)s->sum_ns / 1e9);
	if (r == 0)
		r = buf_addf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
			     *labels ? "}" : "", (unsigned long long)s->count);
	return r;
}

int mx_requests_write(struct buf *b, struct mx_requests *r, const char *name,
		      const char *label_key, const char *extra)
{
	struct mx_req_row rows[MX_REQ_SLOTS];
	struct buf lb = { 0 };
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	memcpy(rows, r->row, n * sizeof(rows[0]));
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char code[16];

		snprintf(code, sizeof(code), "%u", rows[i].status);
		lb.len = 0;
		if (lb.data)
			lb.data[0] = '\0';
		if (extra && *extra)
			rc = buf_addstr(&lb, extra);
		if (rc == 0)
			rc = mx_label(&lb, label_key, rows[i].label);
		if (rc == 0)
			rc = mx_label(&lb, "code", code);
		if (rc == 0)
			rc = mx_hist_write(b, name, lb.data, &rows[i].h);
	}
	buf_release(&lb);
	return rc;
}
