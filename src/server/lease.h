/*
 * lease: how long an attachment's holder is trusted to be the only writer,
 * and the revocation that lets a preempting host wait for the old one.
 *
 * A holder is one (service, instance ID): a host's agent for one service.
 * Its lease ends at a point of this server's monotonic clock; an attach
 * grants the default lease, a renewal (lease_renew_wait, what an agent
 * polls) sets it to what the agent asked for. A preempt of a volume held
 * by another host revokes it (the holder learns at once: a waiting renewal
 * returns) and waits until the holder confirms it fenced the filesystem
 * (lease_fenced) or its lease, as it stood at the revocation, has ended,
 * whichever comes first. Renewals after the revocation do not extend it.
 *
 * In memory, for the one server of a database: a server that restarts
 * knows no lease, so every holder gets a full default lease from the
 * first revocation after the start (the agents self-fence within their
 * lease when they cannot renew, so that is the longest any of them can
 * still be writing). In a shared database (store_is_shared), for several
 * servers: the leases and revocations are rows there (store.h
 * store_lease_*), on the database's clock, so a renewal reaches any
 * server and a preempt on one server revokes a holder that renews on
 * another; the waits poll the database (every 100 ms). Thread-safe.
 */
#ifndef RR_LEASE_H
#define RR_LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/types.h"
#include "util/err.h"

struct lease_table;
struct store;


/* default_ms: the lease of a holder that never renewed (> 0). shared:
 * a shared store to keep them in (borrowed), or NULL: in memory. NULL
 * when out of memory. */
struct lease_table *lease_table_new(long long default_ms, struct store *shared);
void lease_table_free(struct lease_table *lt);

/* An attach granted service's volume to instance: its lease runs at least
 * the default from now. */
void lease_grant(struct lease_table *lt, const char *service, const char *instance);

/*
 * Renew the leases of n holders (services[i], instances[i]) to lease_ms
 * from now, then wait up to wait_ms for a revocation of a volume one of
 * them holds. *out (n_out entries, free with volume_refs_free (types.h)) lists the
 * revocations not yet confirmed. Returns 0, -ENOMEM or the shared
 * store's error (-ENOTCONN).
 */
int lease_renew_wait(struct lease_table *lt, const char *const *services,
		     const char *const *instances, size_t n, long long lease_ms, long long wait_ms,
		     struct volume_ref **out, size_t *n_out, struct err *e);

/*
 * Revoke holder's attachment of service's volume and wait until holder
 * confirmed its fence or its lease ended. *fenced says which. Returns the
 * milliseconds waited, or -ENOMEM or the shared store's error.
 */
long long lease_revoke_wait(struct lease_table *lt, const char *service, const char *volume_id,
			    const char *holder, bool *fenced, struct err *e);

/* The server is stopping: every waiting renewal answers now, later ones
 * do not wait. */
void lease_table_close(struct lease_table *lt);

/* holder fenced service's volume (it is no longer written from there).
 * 0, or the shared store's error. */
int lease_fenced(struct lease_table *lt, const char *service, const char *volume_id,
		 const char *holder, struct err *e);

#endif
