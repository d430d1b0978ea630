/* lease: attachment leases and revocations (lease.h says what they are). */
#include "server/lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/store.h"
#include "util/log.h"
#include "util/time.h"

#define LEASE_MIN_MS 100LL
#define LEASE_MAX_MS (3600LL * 1000)

struct holder {
	char *service, *instance;
	long long until; /* time_now_ms() at which the lease ends */
};

struct revocation {
	char *service, *volume_id, *holder;
	long long deadline; /* the holder's lease when it was revoked */
	bool fenced;
};

struct lease_table {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a revocation or a fence: every waiter looks again */
	long long default_ms;
	struct holder *h;
	size_t n_h;
	struct revocation *r;
	size_t n_r;
	bool closing;
	struct store *shared; /* the leases live there, or NULL: here */
};

/* How often a wait on a shared store looks at the database again. */
#define SHARED_POLL_MS 100LL

struct lease_table *lease_table_new(long long default_ms, struct store *shared)
{
	struct lease_table *lt = calloc(1, sizeof(*lt));
	pthread_condattr_t ca;

	if (!lt)
		return NULL;
	pthread_mutex_init(&lt->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lt->cv, &ca);
	pthread_condattr_destroy(&ca);
	lt->default_ms = default_ms > 0 ? default_ms : 15000;
	lt->shared = shared;
	return lt;
}

static void revocation_free(struct revocation *r)
{
	free(r->service);
	free(r->volume_id);
	free(r->holder);
}

void lease_table_free(struct lease_table *lt)
{
	if (!lt)
		return;
	for (size_t i = 0; i < lt->n_h; i++) {
		free(lt->h[i].service);
		free(lt->h[i].instance);
	}
	for (size_t i = 0; i < lt->n_r; i++)
		revocation_free(&lt->r[i]);
	free(lt->h);
	free(lt->r);
	pthread_cond_destroy(&lt->cv);
	pthread_mutex_destroy(&lt->mu);
	free(lt);
}

static bool same(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

/* The holder's entry, made (with no lease yet) when it is new; NULL on OOM. */
static struct holder *holder_of(struct lease_table *lt, const char *service, const char *instance)
{
	struct holder *h;

	for (size_t i = 0; i < lt->n_h; i++)
		if (same(lt->h[i].service, service) && same(lt->h[i].instance, instance))
			return &lt->h[i];
	h = realloc(lt->h, (lt->n_h + 1) * sizeof(*h));
	if (!h)
		return NULL;
	lt->h = h;
	h = &lt->h[lt->n_h];
	h->service = strdup(service);
	h->instance = strdup(instance);
	h->until = 0;
	if (!h->service || !h->instance) {
		free(h->service);
		free(h->instance);
		return NULL;
	}
	lt->n_h++;
	return h;
}

static void extend(struct holder *h, long long ms)
{
	long long until = time_now_ms() + ms;

	if (until > h->until)
		h->until = until;
}

void lease_grant(struct lease_table *lt, const char *service, const char *instance)
{
	struct err e = ERR_INIT;
	struct holder *h;

	if (lt->shared) {
		if (store_lease_set(lt->shared, service, instance, lt->default_ms, true, &e) < 0)
			log_warn("lease: %s", e.msg);
		return;
	}
	pthread_mutex_lock(&lt->mu);
	if ((h = holder_of(lt, service, instance)))
		extend(h, lt->default_ms);
	pthread_mutex_unlock(&lt->mu);
}

static struct revocation *revocation_of(struct lease_table *lt, const char *service,
					const char *volume_id)
{
	for (size_t i = 0; i < lt->n_r; i++)
		if (same(lt->r[i].service, service) && same(lt->r[i].volume_id, volume_id))
			return &lt->r[i];
	return NULL;
}

/* The open revocations of volumes the n holders hold, copied. */
static int collect(struct lease_table *lt, const char *const *services,
		   const char *const *instances, size_t n, struct volume_ref **out,
		   size_t *n_out)
{
	for (size_t i = 0; i < lt->n_r; i++) {
		struct revocation *r = &lt->r[i];
		struct volume_ref *o;
		bool mine = false;

		for (size_t k = 0; k < n && !mine; k++)
			mine = same(r->service, services[k]) && same(r->holder, instances[k]);
		if (!mine || r->fenced)
			continue;
		o = realloc(*out, (*n_out + 1) * sizeof(*o));
		if (!o)
			return -ENOMEM;
		*out = o;
		o[*n_out].service = strdup(r->service);
		o[*n_out].volume_id = strdup(r->volume_id);
		(*n_out)++;
		if (!o[*n_out - 1].service || !o[*n_out - 1].volume_id)
			return -ENOMEM;
	}
	return 0;
}

static void deadline_ts(long long until_ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	long long left = until_ms - time_now_ms();

	if (left < 0)
		left = 0;
	ts->tv_sec += (time_t)(left / 1000);
	ts->tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Sleep until end_ms at the most, or a wake-up (a local revocation or
 * fence, the server closing), and at most one poll interval. mu held. */
static void nap(struct lease_table *lt, long long end_ms)
{
	long long poll = time_now_ms() + SHARED_POLL_MS;
	struct timespec ts;

	deadline_ts(end_ms < poll ? end_ms : poll, &ts);
	pthread_cond_timedwait(&lt->cv, &lt->mu, &ts);
}

static int shared_renew_wait(struct lease_table *lt, const char *const *services,
			     const char *const *instances, size_t n, long long lease_ms,
			     long long end, struct volume_ref **out, size_t *n_out, struct err *e)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = store_lease_set(lt->shared, services[i], instances[i], lease_ms, false, e);
	pthread_mutex_lock(&lt->mu);
	while (r == 0) {
		pthread_mutex_unlock(&lt->mu);
		r = store_lease_revoked(lt->shared, services, instances, n, out, n_out, e);
		pthread_mutex_lock(&lt->mu);
		if (r < 0 || *n_out > 0 || time_now_ms() >= end || lt->closing)
			break;
		nap(lt, end);
	}
	pthread_mutex_unlock(&lt->mu);
	return r;
}

int lease_renew_wait(struct lease_table *lt, const char *const *services,
		     const char *const *instances, size_t n, long long lease_ms, long long wait_ms,
		     struct volume_ref **out, size_t *n_out, struct err *e)
{
	long long end = time_now_ms() + (wait_ms > 0 ? wait_ms : 0);
	int r = 0;

	*out = NULL;
	*n_out = 0;
	if (lease_ms < LEASE_MIN_MS)
		lease_ms = LEASE_MIN_MS;
	if (lease_ms > LEASE_MAX_MS)
		lease_ms = LEASE_MAX_MS;
	if (lt->shared)
		return shared_renew_wait(lt, services, instances, n, lease_ms, end, out, n_out, e);
	pthread_mutex_lock(&lt->mu);
	for (size_t i = 0; i < n; i++) {
		struct holder *h = holder_of(lt, services[i], instances[i]);
		if (!h) {
			r = -ENOMEM;
			goto out;
		}
		h->until = time_now_ms() + lease_ms;
	}
	for (;;) {
		struct timespec ts;

		if ((r = collect(lt, services, instances, n, out, n_out)) < 0 || *n_out > 0 ||
		    time_now_ms() >= end || lt->closing)
			break;
		deadline_ts(end, &ts);
		pthread_cond_timedwait(&lt->cv, &lt->mu, &ts);
	}
out:
	pthread_mutex_unlock(&lt->mu);
	if (r < 0) {
		volume_refs_free(*out, *n_out);
		*out = NULL;
		*n_out = 0;
		return err_set(e, r, "out of memory");
	}
	return 0;
}


static struct revocation *revoke(struct lease_table *lt, const char *service,
				 const char *volume_id, const char *holder)
{
	struct revocation *r = revocation_of(lt, service, volume_id);
	struct holder *h;

	if (r && same(r->holder, holder))
		return r; /* a second preempt while the first waits: the same deadline */
	if (!(h = holder_of(lt, service, holder)))
		return NULL;
	if (h->until == 0) /* unknown here (a restart): a full lease from now */
		extend(h, lt->default_ms);
	if (!r) {
		r = realloc(lt->r, (lt->n_r + 1) * sizeof(*r));
		if (!r)
			return NULL;
		lt->r = r;
		r = &lt->r[lt->n_r];
		memset(r, 0, sizeof(*r));
		r->service = strdup(service);
		r->volume_id = strdup(volume_id);
		if (!r->service || !r->volume_id) {
			revocation_free(r);
			return NULL;
		}
		lt->n_r++;
	}
	free(r->holder);
	r->holder = strdup(holder);
	r->deadline = h->until;
	r->fenced = false;
	return r->holder ? r : NULL;
}

static long long shared_revoke_wait(struct lease_table *lt, const char *service,
				    const char *volume_id, const char *holder, bool *fenced,
				    struct err *e)
{
	long long start = time_now_ms(), left = 0;
	bool open = true;
	int r = store_lease_revoke(lt->shared, service, volume_id, holder, lt->default_ms, e);

	pthread_mutex_lock(&lt->mu);
	pthread_cond_broadcast(&lt->cv); /* a renewal waiting here looks now */
	while (r == 0) {
		pthread_mutex_unlock(&lt->mu);
		r = store_lease_revocation(lt->shared, service, volume_id, holder, &open, fenced,
					   &left, e);
		pthread_mutex_lock(&lt->mu);
		if (r < 0 || !open || *fenced || left <= 0)
			break;
		nap(lt, time_now_ms() + left);
	}
	pthread_mutex_unlock(&lt->mu);
	if (r < 0)
		return r;
	if ((r = store_lease_fenced(lt->shared, service, volume_id, holder, true, e)) < 0)
		return r;
	return time_now_ms() - start;
}

long long lease_revoke_wait(struct lease_table *lt, const char *service, const char *volume_id,
			    const char *holder, bool *fenced, struct err *e)
{
	long long start = time_now_ms();
	struct revocation *r;
	size_t i;

	*fenced = false;
	if (lt->shared)
		return shared_revoke_wait(lt, service, volume_id, holder, fenced, e);
	pthread_mutex_lock(&lt->mu);
	if (!(r = revoke(lt, service, volume_id, holder))) {
		pthread_mutex_unlock(&lt->mu);
		return err_set(e, -ENOMEM, "out of memory");
	}
	pthread_cond_broadcast(&lt->cv); /* the holder's waiting renewal answers now */
	for (;;) {
		struct timespec ts;

		/* the array may have moved while we waited */
		r = revocation_of(lt, service, volume_id);
		if (!r || r->fenced || time_now_ms() >= r->deadline)
			break;
		deadline_ts(r->deadline, &ts);
		pthread_cond_timedwait(&lt->cv, &lt->mu, &ts);
	}
	if (r) {
		*fenced = r->fenced;
		i = (size_t)(r - lt->r);
		revocation_free(r);
		memmove(&lt->r[i], &lt->r[i + 1], (lt->n_r - i - 1) * sizeof(*r));
		lt->n_r--;
	}
	pthread_mutex_unlock(&lt->mu);
	return time_now_ms() - start;
}

int lease_fenced(struct lease_table *lt, const char *service, const char *volume_id,
		 const char *holder, struct err *e)
{
	struct revocation *r;

	if (lt->shared) {
		int rc = store_lease_fenced(lt->shared, service, volume_id, holder, false, e);
		pthread_mutex_lock(&lt->mu);
		pthread_cond_broadcast(&lt->cv); /* a preempt waiting here looks now */
		pthread_mutex_unlock(&lt->mu);
		return rc;
	}
	pthread_mutex_lock(&lt->mu);
	r = revocation_of(lt, service, volume_id);
	if (r && same(r->holder, holder)) {
		r->fenced = true;
		pthread_cond_broadcast(&lt->cv);
	}
	pthread_mutex_unlock(&lt->mu);
	return 0;
}

void lease_table_close(struct lease_table *lt)
{
	pthread_mutex_lock(&lt->mu);
	lt->closing = true;
	pthread_cond_broadcast(&lt->cv);
	pthread_mutex_unlock(&lt->mu);
}
