/*
 * store_int: what the store's files share and nobody else sees: the
 * backend table, the connection object and the statement helpers.
 * dispatch.c has the public calls (through st->ops); store.c has the
 * SQLite core (open, transactions, migrations, the owner lock), volumes
 * and attachments, snapshots.c its snapshots; hostuse.c has this host's
 * use counts and the DVDI checkpoint (SQLite only); pg.c the PostgreSQL
 * backend. Every sti_ helper expects st->mu held (as the public calls do).
 */
#ifndef RR_STORE_INT_H
#define RR_STORE_INT_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "store/store.h"
#include "store/vcache.h"
#include "util/err.h"
#include "util/metrics.h"

#define STMT_CACHE_MAX 48

/* Compiling SQL cost more than running it: statements are prepared once
 * and kept, keyed by their SQL literal's address (each call site passes
 * the same literal). Used only under mu, one use at a time. */
struct cached_stmt {
	const char *sql;
	sqlite3_stmt *stmt;
};

struct store_key_lock;
struct pgstore;

/*
 * A backend: what the records of a libStorage server need (store.h says
 * what each call guarantees). SQLite (store.c, snapshots.c) implements it
 * all; PostgreSQL (pg.c) the server's part: volumes, attachments,
 * snapshots, sequences, transactions, key locks. The host's use counts
 * and DVDI checkpoint (hostuse.c) are always in the host's SQLite file.
 */
struct store_ops {
	const char *name; /* "sqlite", "postgres" */
	bool shared;	  /* several servers may use the database at once */
	void (*close)(struct store *st);
	int (*claim)(struct store *st, int timeout_ms, struct err *e);
	int (*begin)(struct store *st, struct err *e);
	int (*commit)(struct store *st, struct err *e);
	void (*rollback)(struct store *st);
	int (*schema_version)(struct store *st);
	int (*key_lock)(struct store *st, const char *key, struct store_key_lock **out,
			struct err *e);
	void (*key_unlock)(struct store *st, struct store_key_lock *l);
	int (*next_seq)(struct store *st, const char *service, const char *name, int64_t *out,
			struct err *e);
	int (*volume_insert)(struct store *st, const char *service, const struct volume *v,
			     struct err *e);
	int (*volume_update)(struct store *st, const char *service, const struct volume *v,
			     struct err *e);
	int (*volume_get)(struct store *st, const char *service, const char *id,
			  struct volume *out, struct err *e);
	int (*volume_get_by_name)(struct store *st, const char *service, const char *name,
				  struct volume *out, struct err *e);
	/* Optional: the cached record lent to fn under the cache's read lock
	 * (*hit true, fn's result returned); *hit false when not cached (or
	 * no cache may answer now): then store_volume_view_by_name reads it. */
	int (*volume_view_cached)(struct store *st, const char *service, const char *name,
				  volume_view_fn fn, void *arg, bool *hit, struct err *e);
	int (*volume_each)(struct store *st, const char *service, volume_visit_fn fn, void *arg,
			   struct err *e);
	int (*volume_delete)(struct store *st, const char *service, const char *id,
			     struct err *e);
	int (*attachment_put)(struct store *st, const char *service,
			      const struct volume_attachment *a, struct err *e);
	int (*attachment_remove)(struct store *st, const char *service, const char *volume_id,
				 const char *instance_id, struct err *e);
	int (*snapshot_insert)(struct store *st, const char *service, const struct snapshot *s,
			       struct err *e);
	int (*snapshot_get)(struct store *st, const char *service, const char *id,
			    struct snapshot *out, struct err *e);
	int (*snapshot_list)(struct store *st, const char *service, struct snapshot_list *out,
			     struct err *e);
	int (*snapshot_delete)(struct store *st, const char *service, const char *id,
			       struct err *e);
	/* leases: NULL where the server keeps them in memory */
	int (*lease_set)(struct store *st, const char *service, const char *instance,
			 long long ms, bool grant, struct err *e);
	int (*lease_revoke)(struct store *st, const char *service, const char *volume_id,
			    const char *holder_id, long long default_ms, struct err *e);
	int (*lease_revoked)(struct store *st, const char *const *services,
			     const char *const *instances, size_t n, struct volume_ref **out,
			     size_t *n_out, struct err *e);
	int (*lease_revocation)(struct store *st, const char *service, const char *volume_id,
				const char *holder_id, bool *open, bool *fenced, long long *left_ms,
				struct err *e);
	int (*lease_fence_done)(struct store *st, const char *service, const char *volume_id,
			    const char *holder_id, bool end, struct err *e);
};

extern const struct store_ops sq_ops;

/* Open the PostgreSQL backend (pg.c) on a postgres:// URI. */
int pg_open(const char *uri, struct store **out, struct err *e);

struct store {
	const struct store_ops *ops;
	struct pgstore *pg; /* the PostgreSQL backend's state (pg.c), else NULL */
	/* ---- SQLite ---- */
	sqlite3 *db;
	pthread_mutex_t mu; /* recursive: held across begin..commit */
	struct cached_stmt cache[STMT_CACHE_MAX];
	int n_cache;
	char path[PATH_MAX];
	/* The volume cache, only while this connection owns the volume rows
	 * (store_claim): read under vc_lock alone, filled and changed with
	 * mu held too (and the write lock), so writers never wait for it. */
	int owner_fd;
	struct vcache vc;
	pthread_rwlock_t vc_lock;
	/* write transactions: begin (the lock taken) to commit or rollback */
	long long tx_start_ns;
	struct mx_hist tx;
	/* synchronous=NORMAL is on (a sequence step's, sq_next_seq, or a use
	 * count's, sq_begin_relaxed): the next sq_begin restores FULL before
	 * anything else commits */
	bool relaxed;
};

/* The SQLite backend's own calls (store.c, snapshots.c), for sq_ops and
 * for hostuse.c. */
void sq_close(struct store *st);
int sq_claim(struct store *st, int timeout_ms, struct err *e);
int sq_begin(struct store *st, struct err *e);
/* The same for a write a power cut may lose (store.c says which). */
int sq_begin_relaxed(struct store *st, struct err *e);
int sq_commit(struct store *st, struct err *e);
void sq_rollback(struct store *st);
int sq_schema_version(struct store *st);
int sq_next_seq(struct store *st, const char *service, const char *name, int64_t *out,
		struct err *e);
int sq_volume_insert(struct store *st, const char *service, const struct volume *v,
		     struct err *e);
int sq_volume_update(struct store *st, const char *service, const struct volume *v,
		     struct err *e);
int sq_volume_get(struct store *st, const char *service, const char *id, struct volume *out,
		  struct err *e);
int sq_volume_get_by_name(struct store *st, const char *service, const char *name,
			  struct volume *out, struct err *e);
int sq_volume_each(struct store *st, const char *service, volume_visit_fn fn, void *arg,
		   struct err *e);
int sq_volume_delete(struct store *st, const char *service, const char *id, struct err *e);
int sq_attachment_put(struct store *st, const char *service, const struct volume_attachment *a,
		      struct err *e);
int sq_attachment_remove(struct store *st, const char *service, const char *volume_id,
			 const char *instance_id, struct err *e);
int sq_snapshot_insert(struct store *st, const char *service, const struct snapshot *s,
		       struct err *e);
int sq_snapshot_get(struct store *st, const char *service, const char *id,
		    struct snapshot *out, struct err *e);
int sq_snapshot_list(struct store *st, const char *service, struct snapshot_list *out,
		     struct err *e);
int sq_snapshot_delete(struct store *st, const char *service, const char *id, struct err *e);

/* The one snapshot a get found in *l (r: the query's result) into *out;
 * -ENOENT "resource not found" when it found none. Releases *l. */
int sti_one_snapshot(struct snapshot_list *l, int r, struct snapshot *out, struct err *e);

/* SQLite's error as -errno with what failed; rc is SQLite's code. */
int sti_db_err(struct store *st, struct err *e, int rc, const char *what);
int sti_exec_sql(struct store *st, const char *sql, struct err *e);
/* A prepared statement for sql (a literal: cached by its address). */
int sti_prep(struct store *st, const char *sql, sqlite3_stmt **s, struct err *e);
void sti_unprep(struct store *st, sqlite3_stmt *s);
void sti_bind_text(sqlite3_stmt *s, int i, const char *v);
void sti_bind_json(sqlite3_stmt *s, int i, const json_t *j);
char *sti_col_text(sqlite3_stmt *s, int i, bool *ok);
json_t *sti_col_json(sqlite3_stmt *s, int i);
/* End a write transaction that used s (from sti_prep): s is put back,
 * then commit when r is 0, else roll back and return r. */
int sti_finish(struct store *st, sqlite3_stmt *s, int r, struct err *e);
/* Step a statement that returns no row. */
int sti_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e);
/*
 * One statement that returns no row, start to end: prepare sql, bind the
 * arguments that binds spells ('t' a const char * (NULL binds NULL), 'i'
 * an int), step it, put it back. *changes (when not NULL) gets the rows it
 * changed. The caller holds st->mu or a transaction. Returns 0 or -errno.
 */
int sti_run(struct store *st, const char *what, int *changes, struct err *e, const char *sql,
	    const char *binds, ...);

#endif
