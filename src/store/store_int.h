/*
 * store_int: what the store's files share and nobody else sees: the
 * connection object and the statement helpers. store.c has the core
 * (open, transactions, migrations, the owner lock), volumes and
 * attachments; hostuse.c has this host's use counts and the DVDI
 * checkpoint. Every helper expects st->mu held (as the public calls do).
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

struct store {
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
};

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
