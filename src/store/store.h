/*
 * store: the engine's state. Two backends behind one interface:
 *
 * - SQLite (the default): one file (WAL mode) per host, holding this
 *   host's use counts and DVDI checkpoint and, where the host runs the
 *   libStorage server, the server's records. The schema is versioned with
 *   PRAGMA user_version; store_open applies the missing migrations in
 *   order, each in its own transaction, and refuses a database newer than
 *   this binary. One connection guarded by a recursive mutex; one server
 *   per file (store_claim).
 * - PostgreSQL (store_open_uri with postgres://): the records of several
 *   libStorage servers that share them (volumes, attachments, snapshots,
 *   sequences, leases); the same schema versions, migrated under an
 *   advisory lock so that servers starting together take turns. A pool
 *   of connections; per-key locks (store_key_lock) that hold across
 *   servers. A lost connection is -ENOTCONN ("database unavailable": the
 *   REST layer answers 503) until the database answers again.
 *
 * Thread-safety: every call may be made from any thread. store_begin
 * opens a transaction for the calling thread until store_commit /
 * store_rollback; the calls that thread makes in between are part of it.
 * Keep transactions short: never hold one across a slow operation (mkfs).
 *
 * Volume records are what drivers persist: the libStorage Volume fields
 * plus attachments, keyed by (service, id); names are unique per service,
 * case-insensitively. All functions return 0 or a negative errno
 * (-ENOENT missing, -EEXIST duplicate, -EBUSY database locked too long,
 * -ENOTCONN database unavailable, -EIO anything else) and fill e.
 */
#ifndef RR_STORE_H
#define RR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/types.h"
#include "util/err.h"

struct store;

#define STORE_SCHEMA_VERSION 6

/* Open (creating) the SQLite database at path with mode 0600. */
int store_open(const char *path, struct store **out, struct err *e);
/* Open the database a URI names: postgres:// or postgresql:// (libpq's
 * connection URI: host, port, dbname, user, sslmode, passfile...) or
 * sqlite:///path. -EINVAL for another scheme; -ENOTCONN when PostgreSQL
 * does not answer; -ELIBACC without libpq. */
int store_open_uri(const char *uri, struct store **out, struct err *e);
void store_close(struct store *st);
/* "sqlite" or "postgres". */
const char *store_backend(const struct store *st);
/* May several libStorage servers use this database at once? */
bool store_is_shared(const struct store *st);

/*
 * A lock on key (a volume's, a name's) that holds across every server of
 * a shared database, until store_key_unlock; waits for another holder.
 * Where one server owns the database (SQLite: store_claim) it does nothing
 * and *out is NULL: that server's own locks are enough. Returns 0 or
 * -errno (-ENOTCONN: the database is unavailable).
 */
struct store_key_lock;
int store_key_lock(struct store *st, const char *key, struct store_key_lock **out,
		   struct err *e);
void store_key_unlock(struct store *st, struct store_key_lock *l);

/*
 * Make this connection the one libStorage server of the database, for as
 * long as it is open (a shared database: nothing to do, every server may
 * serve): an exclusive lock on "<path>.server", waited for up
 * to timeout_ms (-EBUSY naming the holder's pid after that). Two servers
 * on one database would each think they serialise work on a volume. The
 * owner keeps volume records in memory (lookups by name run no SQL);
 * other connections (hosts' use counts) go to the database each time.
 */
int store_claim(struct store *st, int timeout_ms, struct err *e);

int store_begin(struct store *st, struct err *e);
int store_commit(struct store *st, struct err *e);
void store_rollback(struct store *st);
/* The durations of its write transactions, begin to commit or rollback
 * (util/metrics.h), for the exporter. */
struct mx_hist;
const struct mx_hist *store_tx_latency(const struct store *st);

/* The schema version of an open store. */
int store_schema_version(struct store *st);

/* A per-(service, name) counter: returns the next value, starting at 0.
 * Committed at once (a running engine never hands a number out twice);
 * on SQLite without a sync of its own: the number is on disk with the
 * next synced commit, such as the record that uses it, so a power loss
 * can only forget a number nothing durable carries. */
int store_next_seq(struct store *st, const char *service, const char *name, int64_t *out,
		   struct err *e);

/* Insert v (id and name required). -EEXIST when the id or name is taken. */
int store_volume_insert(struct store *st, const char *service, const struct volume *v,
			struct err *e);
/* Update size/iops/type/az/status/fields of an existing record. */
int store_volume_update(struct store *st, const char *service, const struct volume *v,
			struct err *e);
int store_volume_get(struct store *st, const char *service, const char *id, struct volume *out,
		     struct err *e);
int store_volume_get_by_name(struct store *st, const char *service, const char *name,
			     struct volume *out, struct err *e);
/* The volume named name (as store_volume_get_by_name finds it) lent to fn
 * (types.h volume_view_fn) for the call: straight from the volume cache
 * under its read lock when cached, else a copy read for the call. fn must
 * not call the store. Returns fn's result, or the look-up's error
 * (-ENOENT: no such volume; fn not called). */
int store_volume_view_by_name(struct store *st, const char *service, const char *name,
			      volume_view_fn fn, void *arg, struct err *e);
/* Every volume of the service, with attachments, ordered by id. */
int store_volume_list(struct store *st, const char *service, struct volume_list *out,
		      struct err *e);
/* The same one volume at a time, for a listing that need not hold them
 * all: fn runs for each with the store's lock held, so it must be quick
 * and must not call the store. Returns 0, fn's negative return, or the
 * store's error. */
int store_volume_each(struct store *st, const char *service, volume_visit_fn fn, void *arg,
		      struct err *e);
/* Removes the record and its attachments. */
int store_volume_delete(struct store *st, const char *service, const char *id, struct err *e);

/* Add or replace the attachment of a->iid.id to a->volume_id. */
int store_attachment_put(struct store *st, const char *service, const struct volume_attachment *a,
			 struct err *e);
/* Remove the attachment of instance_id (NULL: all) from the volume. */
int store_attachment_remove(struct store *st, const char *service, const char *volume_id,
			    const char *instance_id, struct err *e);

/*
 * Use counts (host side): how many times each caller (a Docker mount ID,
 * a DVDI container, "" for callers without an ID) has a volume mounted.
 * They survive restarts: the last unmount of the last caller unmounts.
 * Not a power cut, which takes every mount with it: their commits are
 * not synced on their own (the next synced commit takes them to disk).
 */
/* +1 for (volume, caller); *total = the volume's sum afterwards. pending:
 * the caller has not been told yet; store_use_confirm settles it. */
int store_use_add(struct store *st, const char *service, const char *volume, const char *caller,
		  bool pending, int64_t *total, struct err *e);
/* The reply of a pending use reached the caller (delivered), or did not:
 * then the use is taken back. *total = the sum afterwards. */
int store_use_confirm(struct store *st, const char *service, const char *volume,
		      const char *caller, bool delivered, int64_t *total, struct err *e);
/* At start: uses still pending belonged to replies a crash never sent:
 * take them all back. */
int store_use_drop_pending(struct store *st, struct err *e);
/* -1 for (volume, caller); *total = the sum afterwards. -ENOENT (with
 * *total filled) when that caller held no use. */
int store_use_remove(struct store *st, const char *service, const char *volume,
		     const char *caller, int64_t *total, struct err *e);
int store_use_count(struct store *st, const char *service, const char *volume, int64_t *out,
		    struct err *e);
/* The uses of a volume on this host, by caller (for `volume inspect`). */
struct store_use {
	char *caller;  /* "" for callers without an ID (the CLI) */
	int64_t count;
	int64_t pending; /* of those, replies not yet confirmed delivered */
};
int store_use_list(struct store *st, const char *service, const char *volume,
		   struct store_use **out, size_t *n, struct err *e);
void store_use_list_free(struct store_use *u, size_t n);
/* For each service with volumes in use on this host: fn(arg, service,
 * volumes in use, their uses). fn runs under the store's lock and must
 * not call the store. 0 or -errno. */
typedef void (*store_use_total_fn)(void *arg, const char *service, int64_t volumes,
				   int64_t uses);
int store_use_totals(struct store *st, store_use_total_fn fn, void *arg, struct err *e);
/* Forget every use of the volume (after a forced or ignoreUsedCount unmount). */
int store_use_clear(struct store *st, const char *service, const char *volume, struct err *e);

/*
 * Snapshot records (server side), keyed by (service, id); independent of
 * their volume. insert: -EEXIST for a taken id; get and delete: -ENOENT
 * ("resource not found") for none; list: by id.
 */
int store_snapshot_insert(struct store *st, const char *service, const struct snapshot *s,
			  struct err *e);
int store_snapshot_get(struct store *st, const char *service, const char *id,
		       struct snapshot *out, struct err *e);
int store_snapshot_list(struct store *st, const char *service, struct snapshot_list *out,
			struct err *e);
int store_snapshot_delete(struct store *st, const char *service, const char *id, struct err *e);

/*
 * Attachment leases and revocations in a shared database (server/lease.h
 * says what they mean), so that any server can serve an agent's renewal
 * and any server's preempt reaches the holder. Times are the database's
 * clock in milliseconds (every server agrees on it). A store that is not
 * shared has none of these: -ENOTSUP (its server keeps them in memory).
 */
/* The holder's lease ends ms from now; grant: no earlier than it did. */
int store_lease_set(struct store *st, const char *service, const char *instance, long long ms,
		    bool grant, struct err *e);
/* Revoke holder's attachment of the volume: the revocation's deadline is
 * the holder's lease (default_ms from now for a holder without one); a
 * revocation of the same holder already open keeps its deadline. */
int store_lease_revoke(struct store *st, const char *service, const char *volume_id,
		       const char *holder, long long default_ms, struct err *e);
/* The open (not fenced) revocations of the n holders (services[i],
 * instances[i]); *out as lease.h's, free with volume_refs_free. */
int store_lease_revoked(struct store *st, const char *const *services,
			const char *const *instances, size_t n, struct volume_ref **out,
			size_t *n_out, struct err *e);
/* The revocation of the volume held by holder: *open (it exists),
 * *fenced, *left_ms until its deadline (<= 0: passed). */
int store_lease_revocation(struct store *st, const char *service, const char *volume_id,
			   const char *holder, bool *open, bool *fenced, long long *left_ms,
			   struct err *e);
/* holder fenced the volume (end = false), or the preempt is done with the
 * revocation (end = true: it goes). */
int store_lease_fenced(struct store *st, const char *service, const char *volume_id,
		       const char *holder, bool end, struct err *e);

/*
 * The DVDI checkpoint (host side): which container holds which volume,
 * written before the mount (state "pending") and updated after it
 * ("mounted"), so a kill -9 at any point leaves rows that recover can
 * reconcile. Driver and name compare case-insensitively.
 */
struct store_dvdi_row {
	char *container_id;
	int slot;
	char *driver;
	char *name;
	char *options;
	char *container_path;
	int explicit_create;
	char *state;		/* "pending" or "mounted" */
	char *mountpoint;
	int bound;		/* the container path bind is in place */
	int owner;		/* this container's prepare called the plugin's Mount */
};

/* Add all rows of one container in one transaction; -EEXIST when the
 * container already has rows. Strings are borrowed. */
int store_dvdi_add(struct store *st, const struct store_dvdi_row *rows, size_t n, struct err *e);
int store_dvdi_update(struct store *st, const char *container_id, int slot, const char *state,
		      const char *mountpoint, int bound, struct err *e);
/* The rows of one container (or of all, container_id NULL); the caller
 * frees them with store_dvdi_rows_free. */
int store_dvdi_rows(struct store *st, const char *container_id, struct store_dvdi_row **out,
		    size_t *n, struct err *e);
void store_dvdi_rows_free(struct store_dvdi_row *rows, size_t n);
/* How many other containers hold (driver, name). */
int store_dvdi_users(struct store *st, const char *driver, const char *name,
		     const char *except_container, int64_t *count, struct err *e);
/* Delete a container's row (slot >= 0) or all its rows (slot < 0). */
int store_dvdi_delete(struct store *st, const char *container_id, int slot, struct err *e);

#endif
