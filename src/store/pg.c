/*
 * pg: the PostgreSQL backend of the store (store.h says what it gives):
 * the records of several libStorage servers that share one database.
 *
 * Connections: a pool for queries (one connection per call, or per
 * transaction: store_begin binds one to the calling thread until commit or
 * rollback) and a pool for key locks (a session advisory lock holds its
 * connection until unlocked). A connection found broken is reset before
 * use; when PostgreSQL does not answer, calls fail with -ENOTCONN.
 *
 * The volume cache (vcache, as SQLite's one server keeps it): lookups by
 * name are answered from memory while a listener connection hears every
 * change to volumes and attachments, from any server: triggers in the
 * database NOTIFY rexray_volumes with "<service>\n<id>" in the changing
 * transaction (delivered at its commit), and the listener forgets that
 * entry. A row read from the database is put in the cache only if nothing
 * was forgotten while it was read (a generation count); while the
 * listener is not listening (its connection lost) there is no cache. So
 * an entry is at most one notification's delay (milliseconds) behind a
 * change another server committed; every decision that matters (attach,
 * detach, remove) reads by ID under the volume's lock, never the cache.
 *
 * SQL differs from SQLite's where it must: names unique by lower(name) (our
 * names are ASCII: lower() is SQLite's NOCASE), ids ordered by the "C"
 * collation (strcmp's order, which the listing's walk relies on), times as
 * epoch seconds in bigint columns, and the schema version in a table
 * (rexray_schema) instead of PRAGMA user_version.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pqdl.h"
#include "util/jsondump.h"
#include "util/log.h"
#include "util/time.h"

#define PG_QUERY_CONNS 8
#define PG_LOCK_CONNS 32
#define PG_CONNECT_TIMEOUT "5"
/* the advisory lock key the migrations take turns on */
#define PG_MIGRATION_LOCK "7979000001"

struct pool {
	PGconn *conn[PG_LOCK_CONNS];
	bool busy[PG_LOCK_CONNS];
	size_t n, max;
};

struct pgstore {
	char *uri;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool queries, locks;
	bool down; /* the last connection attempt failed: said once in the log */
	bool was_up; /* connected once (before: the open's caller says why not) */
	/* the volume cache's listener (st->vc under st->vc_lock) */
	pthread_t listener;
	bool listening;		/* the thread runs */
	_Atomic bool stop;	/* pg_close asks it to end */
	bool cache_on;		/* under vc_lock: LISTEN is in place */
	unsigned long long gen; /* under vc_lock: entries forgotten so far */
};

struct store_key_lock {
	PGconn *conn;
	char key[];
};

static const struct store_ops pg_ops;

/* The transaction of this thread: its connection, until commit/rollback. */
static _Thread_local struct {
	struct store *st;
	PGconn *conn;
} tx;

/* ---- connections ---- */

static void quiet(void *arg, const char *message)
{
	(void)arg;
	log_debug("store: postgres: %s", message);
}

static PGconn *connect_db(struct pgstore *pg)
{
	/* ours first: the URI's own settings override them */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { PG_CONNECT_TIMEOUT, "rexray", pg->uri, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (c)
		PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* "database unavailable: <libpq's words>" as -ENOTCONN. */
static int unavailable(PGconn *c, struct err *e)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
	msg[strcspn(msg, "\n")] = '\0';
	return err_set(e, -ENOTCONN, "store: the database is unavailable: %s", msg);
}

/* A healthy connection of pool p for this call: *out; -ENOTCONN. */
static int take(struct pgstore *pg, struct pool *p, PGconn **out, struct err *e)
{
	size_t i;
	PGconn *c;

	pthread_mutex_lock(&pg->mu);
	for (;;) {
		for (i = 0; i < p->n && p->busy[i]; i++)
			;
		if (i < p->n || p->n < p->max)
			break;
		pthread_cond_wait(&pg->cv, &pg->mu);
	}
	if (i == p->n)
		p->conn[p->n++] = NULL;
	p->busy[i] = true;
	c = p->conn[i];
	pthread_mutex_unlock(&pg->mu);

	/* outside the lock: connecting may take the connect timeout */
	if (!c)
		c = connect_db(pg);
	else if (PQstatus(c) != CONNECTION_OK)
		PQreset(c);
	pthread_mutex_lock(&pg->mu);
	p->conn[i] = c;
	if (!c || PQstatus(c) != CONNECTION_OK) {
		int r = unavailable(c, e);
		if (!pg->down && pg->was_up)
			log_error("%s", e->msg);
		pg->down = true;
		p->busy[i] = false;
		pthread_cond_broadcast(&pg->cv);
		pthread_mutex_unlock(&pg->mu);
		return r;
	}
	if (pg->down && pg->was_up)
		log_warn("store: the database answers again");
	pg->down = false;
	pg->was_up = true;
	pthread_mutex_unlock(&pg->mu);
	*out = c;
	return 0;
}

static void give(struct pgstore *pg, struct pool *p, PGconn *c)
{
	pthread_mutex_lock(&pg->mu);
	for (size_t i = 0; i < p->n; i++) {
		if (p->conn[i] == c) {
			p->busy[i] = false;
			break;
		}
	}
	pthread_cond_broadcast(&pg->cv);
	pthread_mutex_unlock(&pg->mu);
}

/* The connection of a call: this thread's transaction's, or one of the
 * pool (*owned: give it back). */
static int conn_of(struct store *st, PGconn **c, bool *owned, struct err *e)
{
	if (tx.st == st && tx.conn) {
		*c = tx.conn;
		*owned = false;
		return 0;
	}
	*owned = true;
	return take(st->pg, &st->pg->queries, c, e);
}

static void done_with(struct store *st, PGconn *c, bool owned)
{
	if (owned)
		give(st->pg, &st->pg->queries, c);
}

/* ---- statements ---- */

/* A failed result as -errno: unique and foreign-key violations -EEXIST
 * (as SQLite's constraint errors), serialization failures and deadlocks
 * -EBUSY, a lost connection -ENOTCONN, else -EIO. */
static int result_err(PGconn *c, PGresult *res, const char *what, struct err *e)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[256];
	int code = -EIO;

	if (PQstatus(c) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
	    (state && strncmp(state, "57P", 3) == 0))
		return unavailable(c, e);
	if (state && (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0))
		code = -EEXIST;
	else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			   strcmp(state, "55P03") == 0))
		code = -EBUSY;
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
	msg[strcspn(msg, "\n")] = '\0';
	return err_set(e, code, "store: %s: %s", what, msg);
}

#define PG_MAX_PARAMS 12

/*
 * Run sql with the parameters binds spells ('t' a const char * (NULL is
 * NULL), 'l' an int64_t, 'i' an int, 'j' a json_t * (NULL is NULL)) on c.
 * Rows, when the caller wants them, go to *out (PQclear it). *changes gets
 * the rows a command changed.
 */
static int run_on(PGconn *c, const char *what, PGresult **out, int *changes, struct err *e,
		  const char *sql, const char *binds, va_list ap)
{
	const char *vals[PG_MAX_PARAMS];
	char nums[PG_MAX_PARAMS][24];
	char *owned[PG_MAX_PARAMS] = { 0 };
	int n = 0, r = 0;
	PGresult *res;
	ExecStatusType st;

	for (; binds[n] && n < PG_MAX_PARAMS; n++) {
		switch (binds[n]) {
		case 't':
			vals[n] = va_arg(ap, const char *);
			break;
		case 'l':
			snprintf(nums[n], sizeof(nums[n]), "%" PRId64, va_arg(ap, int64_t));
			vals[n] = nums[n];
			break;
		case 'j': {
			const json_t *j = va_arg(ap, const json_t *);
			vals[n] = owned[n] = j ? json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER)
					       : NULL;
			break;
		}
		default:
			snprintf(nums[n], sizeof(nums[n]), "%d", va_arg(ap, int));
			vals[n] = nums[n];
			break;
		}
	}
	res = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = result_err(c, res, what, e);
		PQclear(res);
		res = NULL;
	} else if (changes) {
		*changes = atoi(PQcmdTuples(res));
	}
	for (int i = 0; i < n; i++)
		free(owned[i]);
	if (out)
		*out = res;
	else
		PQclear(res);
	return r;
}

/* The same on the call's connection (this thread's transaction's, or a
 * pooled one). */
static int run(struct store *st, const char *what, PGresult **out, int *changes,
	       struct err *e, const char *sql, const char *binds, ...)
{
	PGconn *c;
	bool owned;
	va_list ap;
	int r;

	if (out)
		*out = NULL;
	if ((r = conn_of(st, &c, &owned, e)) < 0)
		return r;
	va_start(ap, binds);
	r = run_on(c, what, out, changes, e, sql, binds, ap);
	va_end(ap);
	done_with(st, c, owned);
	return r;
}

/* A statement without parameters on c; its rows to *out when not NULL. */
static int query_on(PGconn *c, const char *what, PGresult **out, struct err *e, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = result_err(c, res, what, e);
		PQclear(res);
		res = NULL;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return r;
}

static int exec_on(PGconn *c, const char *what, struct err *e, const char *sql)
{
	return query_on(c, what, NULL, e, sql);
}

static char *col_text(PGresult *res, int row, int col, bool *ok)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return xstrdup_opt(PQgetvalue(res, row, col), ok);
}

static int64_t col_int(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *col_json(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
}

/* ---- the volume cache ---- */

/* Forget volume id's entry: a write here, or a notification. */
static void cache_forget(struct store *st, const char *service, const char *id)
{
	pthread_rwlock_wrlock(&st->vc_lock);
	vcache_forget_id(&st->vc, service, id);
	st->pg->gen++;
	pthread_rwlock_unlock(&st->vc_lock);
}

/* The listener listens (on) or lost its connection (off): either way what
 * is cached may have missed a notification. */
static void cache_reset(struct store *st, bool on)
{
	pthread_rwlock_wrlock(&st->vc_lock);
	vcache_clear(&st->vc);
	st->pg->gen++;
	st->pg->cache_on = on;
	pthread_rwlock_unlock(&st->vc_lock);
}

/* 0 and a copy in *out; -ENOENT when not cached (or no cache). */
static int cache_get(struct store *st, const char *service, const char *name,
		     struct volume *out)
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&st->vc_lock);
	if (st->pg->cache_on)
		r = vcache_get(&st->vc, service, name, out);
	pthread_rwlock_unlock(&st->vc_lock);
	return r;
}

/* The cached record lent to fn (store_int.h volume_view_cached): never
 * inside a transaction, whose reads are fresh and locked (get_one). */
static int pg_volume_view_cached(struct store *st, const char *service, const char *name,
				 volume_view_fn fn, void *arg, bool *hit, struct err *e)
{
	int r = 0;

	*hit = false;
	if (tx.st == st)
		return 0;
	pthread_rwlock_rdlock(&st->vc_lock);
	if (st->pg->cache_on)
		r = vcache_view(&st->vc, service, name, fn, arg, hit, e);
	pthread_rwlock_unlock(&st->vc_lock);
	return r;
}

/* Where the cache stands before a read from the database. */
static unsigned long long cache_gen(struct store *st)
{
	unsigned long long g;

	pthread_rwlock_rdlock(&st->vc_lock);
	g = st->pg->gen;
	pthread_rwlock_unlock(&st->vc_lock);
	return g;
}

/* Remember a row read since generation g: only if nothing was forgotten
 * meanwhile, and never a transaction's own (it may roll back). */
static void cache_put(struct store *st, const char *service, const struct volume *v,
		      unsigned long long g)
{
	if (tx.st == st)
		return;
	pthread_rwlock_wrlock(&st->vc_lock);
	if (st->pg->cache_on && st->pg->gen == g)
		vcache_put(&st->vc, service, v);
	pthread_rwlock_unlock(&st->vc_lock);
}

/* "<service>\n<id>" of a notification: forget that volume. */
static void notified(struct store *st, const char *payload)
{
	const char *nl = strchr(payload, '\n');
	char service[256];

	if (!nl || (size_t)(nl - payload) >= sizeof(service)) {
		cache_reset(st, st->pg->cache_on); /* not ours to read: forget it all */
		return;
	}
	memcpy(service, payload, (size_t)(nl - payload));
	service[nl - payload] = '\0';
	cache_forget(st, service, nl + 1);
}

/* Sleep ms in slices, unless the store closes. */
static void listener_nap(struct pgstore *pg, int ms)
{
	for (int t = 0; t < ms && !pg->stop; t += 100)
		time_sleep_ms(100);
}

static void *listen_loop(void *arg)
{
	struct store *st = arg;
	struct pgstore *pg = st->pg;
	PGconn *c = NULL;

	while (!pg->stop) {
		struct pollfd pfd;
		PGnotify *nf;

		if (!c || PQstatus(c) != CONNECTION_OK) {
			cache_reset(st, false);
			if (c)
				PQfinish(c);
			c = connect_db(pg);
			if (!c || PQstatus(c) != CONNECTION_OK ||
			    exec_on(c, "listen", NULL, "LISTEN rexray_volumes") < 0) {
				listener_nap(pg, 1000);
				continue;
			}
			cache_reset(st, true);
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (!PQconsumeInput(c)) {
			PQfinish(c);
			c = NULL;
			continue;
		}
		while ((nf = PQnotifies(c))) {
			notified(st, nf->extra);
			PQfreemem(nf);
		}
	}
	if (c)
		PQfinish(c);
	cache_reset(st, false);
	return NULL;
}

/* ---- schema ---- */

#define EPOCH_NOW "(extract(epoch from now())::bigint)"

/* index i brings the schema from version i to i+1, as store.c's do */
static const char *const migrations[] = {
	/* 0 -> 1: volumes, attachments, sequences */
	"CREATE TABLE volumes ("
	"  service TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL DEFAULT '',"
	"  size BIGINT NOT NULL DEFAULT 0,"
	"  iops BIGINT NOT NULL DEFAULT 0,"
	"  availability_zone TEXT,"
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT,"
	"  fields TEXT,"
	"  created_at BIGINT NOT NULL DEFAULT " EPOCH_NOW ","
	"  PRIMARY KEY (service, id)"
	");"
	"CREATE UNIQUE INDEX volumes_by_name ON volumes (service, lower(name));"
	"CREATE TABLE attachments ("
	"  service TEXT NOT NULL,"
	"  volume_id TEXT NOT NULL,"
	"  instance_id TEXT NOT NULL,"
	"  instance_driver TEXT,"
	"  instance_service TEXT,"
	"  device_name TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT 'attached',"
	"  mount_point TEXT,"
	"  fields TEXT,"
	"  attached_at BIGINT NOT NULL DEFAULT " EPOCH_NOW ","
	"  PRIMARY KEY (service, volume_id, instance_id),"
	"  FOREIGN KEY (service, volume_id) REFERENCES volumes(service, id) ON DELETE CASCADE"
	");"
	"CREATE TABLE sequences ("
	"  service TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  next BIGINT NOT NULL,"
	"  PRIMARY KEY (service, name)"
	");",
	/* 1 -> 2: the host's use counts (kept in each host's SQLite file;
	 * here for the same schema at every version) */
	"CREATE TABLE use_counts ("
	"  service TEXT NOT NULL,"
	"  volume TEXT NOT NULL,"
	"  caller TEXT NOT NULL,"
	"  count BIGINT NOT NULL CHECK (count > 0),"
	"  updated_at BIGINT NOT NULL DEFAULT " EPOCH_NOW ","
	"  PRIMARY KEY (service, volume, caller)"
	");",
	/* 2 -> 3: the DVDI checkpoint (as 1 -> 2) */
	"CREATE TABLE dvdi_mounts ("
	"  container_id TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  driver TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  options TEXT NOT NULL DEFAULT '',"
	"  container_path TEXT NOT NULL DEFAULT '',"
	"  explicit_create INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'pending',"
	"  mountpoint TEXT NOT NULL DEFAULT '',"
	"  bound INTEGER NOT NULL DEFAULT 0,"
	"  owner INTEGER NOT NULL DEFAULT 0,"
	"  created_at BIGINT NOT NULL DEFAULT " EPOCH_NOW ","
	"  PRIMARY KEY (container_id, slot)"
	");",
	/* 3 -> 4 */
	"ALTER TABLE use_counts ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;",
	/* 4 -> 5: snapshots */
	"CREATE TABLE snapshots ("
	"  service TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  description TEXT,"
	"  volume_id TEXT NOT NULL DEFAULT '',"
	"  volume_size BIGINT NOT NULL DEFAULT 0,"
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT,"
	"  fields TEXT,"
	"  start_time BIGINT NOT NULL DEFAULT " EPOCH_NOW ","
	"  PRIMARY KEY (service, id)"
	");",
	/* 5 -> 6: attachment leases and revocations, shared by the servers
	 * (service and instance IDs compare without case: keys lower()ed) */
	"CREATE TABLE leases ("
	"  service TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  until_ms BIGINT NOT NULL,"
	"  PRIMARY KEY (service, instance)"
	");"
	"CREATE TABLE revocations ("
	"  service TEXT NOT NULL,"
	"  volume_id TEXT NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  deadline_ms BIGINT NOT NULL,"
	"  fenced INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (service, volume_id)"
	");"
	/* every change to a volume or its attachments tells the servers'
	 * caches, in the same transaction */
	"CREATE FUNCTION rexray_volume_changed() RETURNS trigger AS $f$ "
	"DECLARE r RECORD; "
	"BEGIN "
	"  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF; "
	"  IF TG_TABLE_NAME = 'volumes' THEN "
	"    PERFORM pg_notify('rexray_volumes', r.service || E'\\n' || r.id); "
	"  ELSE "
	"    PERFORM pg_notify('rexray_volumes', r.service || E'\\n' || r.volume_id); "
	"  END IF; "
	"  RETURN NULL; "
	"END $f$ LANGUAGE plpgsql;"
	"CREATE TRIGGER volumes_changed AFTER INSERT OR UPDATE OR DELETE ON volumes "
	"  FOR EACH ROW EXECUTE FUNCTION rexray_volume_changed();"
	"CREATE TRIGGER attachments_changed AFTER INSERT OR UPDATE OR DELETE ON attachments "
	"  FOR EACH ROW EXECUTE FUNCTION rexray_volume_changed();",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
	       "PostgreSQL and SQLite have the same schema versions");

static int version_on(PGconn *c, int *v, struct err *e)
{
	PGresult *res = NULL;
	int r;

	if ((r = exec_on(c, "schema version", e, "CREATE TABLE IF NOT EXISTS rexray_schema "
			 "(version INTEGER NOT NULL)")) < 0 ||
	    (r = query_on(c, "schema version", &res, e, "SELECT version FROM rexray_schema")) < 0)
		return r;
	*v = PQntuples(res) ? (int)col_int(res, 0, 0) : 0;
	if (!PQntuples(res))
		r = exec_on(c, "schema version", e, "INSERT INTO rexray_schema VALUES (0)");
	PQclear(res);
	return r;
}

/* Each step in its own transaction, under an advisory lock: servers that
 * start together take turns, and each finds the steps done it waited on. */
static int migrate(struct store *st, PGconn *c, struct err *e)
{
	const int want = STORE_SCHEMA_VERSION;
	char sql[96];
	int have, r;

	for (;;) {
		if ((r = exec_on(c, "migrate", e, "BEGIN")) < 0)
			return r;
		if ((r = exec_on(c, "migrate", e,
				 "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ")")) < 0 ||
		    (r = version_on(c, &have, e)) < 0)
			goto fail;
		if (have > want) {
			r = err_set(e, -EPROTO, "store: database schema version %d is newer than "
				    "this binary's %d", have, want);
			goto fail;
		}
		if (have == want)
			return exec_on(c, "migrate", e, "COMMIT");
		snprintf(sql, sizeof(sql), "UPDATE rexray_schema SET version = %d", have + 1);
		if ((r = exec_on(c, "migrate", e, migrations[have])) < 0 ||
		    (r = exec_on(c, "migrate", e, sql)) < 0) {
			err_prefix(e, "store: migration to schema %d failed", have + 1);
			goto fail;
		}
		if ((r = exec_on(c, "migrate", e, "COMMIT")) < 0)
			return r;
		log_info("store: migrated schema to version %d (postgres)", have + 1);
	}
fail:
	exec_on(c, "migrate", NULL, "ROLLBACK");
	(void)st;
	return r;
}

static int pg_schema_version(struct store *st)
{
	struct err e = ERR_INIT;
	PGconn *c;
	bool owned;
	int v = -1;

	if (conn_of(st, &c, &owned, &e) < 0)
		return -1;
	if (version_on(c, &v, &e) < 0)
		v = -1;
	done_with(st, c, owned);
	return v;
}

/* ---- open, close, transactions, locks ---- */

static void pool_close(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->conn[i])
			PQfinish(p->conn[i]);
	p->n = 0;
}

static void pg_close(struct store *st)
{
	struct pgstore *pg = st->pg;

	if (pg && pg->listening) {
		pg->stop = true;
		pthread_join(pg->listener, NULL);
	}
	vcache_clear(&st->vc);
	pthread_rwlock_destroy(&st->vc_lock);
	if (pg) {
		pool_close(&pg->queries);
		pool_close(&pg->locks);
		pthread_cond_destroy(&pg->cv);
		pthread_mutex_destroy(&pg->mu);
		free(pg->uri);
		free(pg);
	}
	free(st);
}

int pg_open(const char *uri, struct store **out, struct err *e)
{
	struct store *st;
	struct pgstore *pg;
	PGconn *c;
	int r;

	*out = NULL;
	if ((r = pqdl_load(e)) < 0)
		return r;
	st = calloc(1, sizeof(*st));
	pg = calloc(1, sizeof(*pg));
	if (!st || !pg || !(pg->uri = strdup(uri))) {
		free(st);
		if (pg)
			free(pg->uri);
		free(pg);
		return err_set(e, -ENOMEM, "out of memory");
	}
	st->ops = &pg_ops;
	st->pg = pg;
	st->owner_fd = -1;
	pthread_rwlock_init(&st->vc_lock, NULL);
	pthread_mutex_init(&pg->mu, NULL);
	pthread_cond_init(&pg->cv, NULL);
	pg->queries.max = PG_QUERY_CONNS;
	pg->locks.max = PG_LOCK_CONNS;
	if ((r = take(pg, &pg->queries, &c, e)) < 0)
		goto fail;
	r = migrate(st, c, e);
	give(pg, &pg->queries, c);
	if (r < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	pg_close(st);
	return r;
}

/* Every server serves (nothing to claim); a server gets the cache. */
static int pg_claim(struct store *st, int timeout_ms, struct err *e)
{
	struct pgstore *pg = st->pg;

	(void)timeout_ms;
	if (pg->listening)
		return 0;
	if (pthread_create(&pg->listener, NULL, listen_loop, st) != 0)
		return err_set(e, -EAGAIN, "store: cannot start the cache's listener");
	pg->listening = true;
	return 0;
}

static int pg_begin(struct store *st, struct err *e)
{
	PGconn *c;
	int r;

	if (tx.st == st && tx.conn)
		return err_set(e, -EBUSY, "store: a transaction is open already");
	if ((r = take(st->pg, &st->pg->queries, &c, e)) < 0)
		return r;
	if ((r = exec_on(c, "begin", e, "BEGIN")) < 0) {
		give(st->pg, &st->pg->queries, c);
		return r;
	}
	tx.st = st;
	tx.conn = c;
	st->tx_start_ns = time_now_ns();
	return 0;
}

static void tx_end(struct store *st)
{
	PGconn *c = tx.conn;

	mx_observe(&st->tx, time_now_ns() - st->tx_start_ns);
	tx.st = NULL;
	tx.conn = NULL;
	give(st->pg, &st->pg->queries, c);
}

static int pg_commit(struct store *st, struct err *e)
{
	int r;

	if (tx.st != st || !tx.conn)
		return err_set(e, -EINVAL, "store: no transaction to commit");
	if ((r = exec_on(tx.conn, "commit", e, "COMMIT")) < 0)
		exec_on(tx.conn, "rollback", NULL, "ROLLBACK");
	tx_end(st);
	return r;
}

static void pg_rollback(struct store *st)
{
	if (tx.st != st || !tx.conn)
		return;
	exec_on(tx.conn, "rollback", NULL, "ROLLBACK");
	tx_end(st);
}

static int pg_key_lock(struct store *st, const char *key, struct store_key_lock **out,
		       struct err *e)
{
	size_t len = strlen(key);
	struct store_key_lock *l = malloc(sizeof(*l) + len + 1);
	int r;

	if (!l)
		return err_set(e, -ENOMEM, "out of memory");
	memcpy(l->key, key, len + 1);
	if ((r = take(st->pg, &st->pg->locks, &l->conn, e)) < 0) {
		free(l);
		return r;
	}
	{
		const char *vals[1] = { key };
		PGresult *res = PQexecParams(l->conn,
					     "SELECT pg_advisory_lock(hashtextextended($1, 0))", 1,
					     NULL, vals, NULL, NULL, 0);
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
			r = result_err(l->conn, res, "lock", e);
		PQclear(res);
	}
	if (r < 0) {
		give(st->pg, &st->pg->locks, l->conn);
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

static void pg_key_unlock(struct store *st, struct store_key_lock *l)
{
	const char *vals[1] = { l->key };
	PGresult *res = PQexecParams(l->conn, "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
				     1, NULL, vals, NULL, NULL, 0);

	/* a connection that broke took its locks with it */
	PQclear(res);
	give(st->pg, &st->pg->locks, l->conn);
	free(l);
}

/* ---- sequences ---- */

static int pg_next_seq(struct store *st, const char *service, const char *name, int64_t *out,
		       struct err *e)
{
	PGresult *res;
	int r = run(st, "next sequence", &res, NULL, e,
		    "INSERT INTO sequences(service,name,next) VALUES($1,$2,1) "
		    "ON CONFLICT(service,name) DO UPDATE SET next = sequences.next + 1 "
		    "RETURNING next - 1", "tt", service, name);

	if (r < 0)
		return r;
	*out = col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/* ---- volumes and attachments ---- */

static int pg_volume_insert(struct store *st, const char *service, const struct volume *v,
			    struct err *e)
{
	int r = run(st, "insert volume", NULL, NULL, e,
		    "INSERT INTO volumes(service,id,name,type,size,iops,availability_zone,encrypted,"
		    "status,fields) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", "ttttlltitj", service,
		    v->id, v->name, v->type ? v->type : "", (int64_t)v->size, (int64_t)v->iops,
		    v->availability_zone, (int)v->encrypted, v->status, v->fields);

	if (r == -EEXIST)
		err_set(e, -EEXIST, "a volume named '%s' already exists in service '%s'",
			v->name, service);
	return r;
}

static int pg_volume_update(struct store *st, const char *service, const struct volume *v,
			    struct err *e)
{
	int changes = 0;
	int r;

	cache_forget(st, service, v->id);
	r = run(st, "update volume", NULL, &changes, e,
		    "UPDATE volumes SET type=$1, size=$2, iops=$3, availability_zone=$4, "
		    "status=$5, fields=$6 WHERE service=$7 AND id=$8", "tllttjtt",
		    v->type ? v->type : "", (int64_t)v->size, (int64_t)v->iops,
		    v->availability_zone, v->status, v->fields, service, v->id);

	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "volume '%s' not found", v->id);
	return r;
}

/* a volume's columns, then (a LEFT JOIN: NULL without one) an attachment's */
#define VOLUME_ROW                                                                      \
	"SELECT v.id, v.name, v.type, v.size, v.iops, v.availability_zone, v.encrypted, "  \
	"v.status, v.fields, v.created_at, a.volume_id, a.instance_id, a.instance_driver, " \
	"a.instance_service, a.device_name, a.status, a.mount_point, a.fields "             \
	"FROM volumes v LEFT JOIN attachments a ON a.service = v.service AND a.volume_id = v.id "
#define ATT_COL 10
#define ATT_ORDER "a.attached_at, a.instance_id COLLATE \"C\""

static int row_to_volume(PGresult *res, int i, struct volume *v)
{
	bool ok = true;

	memset(v, 0, sizeof(*v));
	v->id = col_text(res, i, 0, &ok);
	v->name = col_text(res, i, 1, &ok);
	v->type = col_text(res, i, 2, &ok);
	v->size = col_int(res, i, 3);
	v->iops = col_int(res, i, 4);
	v->availability_zone = col_text(res, i, 5, &ok);
	v->encrypted = col_int(res, i, 6) != 0;
	v->status = col_text(res, i, 7, &ok);
	v->fields = col_json(res, i, 8);
	v->created_at = col_int(res, i, 9);
	if (!ok) {
		volume_release(v);
		return -ENOMEM;
	}
	return 0;
}

/* The attachment in row i (from column ATT_COL) onto v's. */
static int push_attachment(PGresult *res, int i, struct volume *v, struct err *e)
{
	struct volume_attachment *na = realloc(v->attachments, (v->n_attachments + 1) * sizeof(*na));
	struct volume_attachment *a;
	bool ok = true;

	if (!na)
		return err_set(e, -ENOMEM, "out of memory");
	v->attachments = na;
	a = &na[v->n_attachments];
	memset(a, 0, sizeof(*a));
	a->volume_id = col_text(res, i, ATT_COL + 0, &ok);
	a->iid.id = col_text(res, i, ATT_COL + 1, &ok);
	a->iid.driver = col_text(res, i, ATT_COL + 2, &ok);
	a->iid.service = col_text(res, i, ATT_COL + 3, &ok);
	a->device_name = col_text(res, i, ATT_COL + 4, &ok);
	a->status = col_text(res, i, ATT_COL + 5, &ok);
	a->mount_point = col_text(res, i, ATT_COL + 6, &ok);
	a->fields = col_json(res, i, ATT_COL + 7);
	if (!ok) {
		volume_attachment_release(a);
		return err_set(e, -ENOMEM, "out of memory");
	}
	v->n_attachments++;
	return 0;
}

/* One volume (by id, or by name) with its attachments, read in one
 * statement so that a concurrent change is never seen half-made. */
static int get_one(struct store *st, bool by_name, const char *service, const char *key,
		   struct volume *out, struct err *e)
{
	PGresult *res;
	struct volume v;
	unsigned long long g;
	bool in_tx = tx.st == st;
	const char *sql;
	int r, n;

	/* Inside a transaction (a change to come: attach, detach) the row is
	 * read fresh and locked until the end of it, so two servers' changes
	 * of one volume take turns even if a volume lock (store_key_lock) was
	 * lost with its connection. */
	if (in_tx)
		sql = by_name ? VOLUME_ROW "WHERE v.service=$1 AND lower(v.name)=lower($2) "
				"ORDER BY " ATT_ORDER " FOR UPDATE OF v" :
				VOLUME_ROW "WHERE v.service=$1 AND v.id=$2 ORDER BY " ATT_ORDER
				" FOR UPDATE OF v";
	else
		sql = by_name ? VOLUME_ROW "WHERE v.service=$1 AND lower(v.name)=lower($2) "
				"ORDER BY " ATT_ORDER :
				VOLUME_ROW "WHERE v.service=$1 AND v.id=$2 ORDER BY " ATT_ORDER;
	if (by_name && !in_tx && (r = cache_get(st, service, key, out)) != -ENOENT)
		return r < 0 ? err_set(e, r, "out of memory") : 0;
	g = cache_gen(st); /* before the read: a change during it keeps it out */
	r = run(st, "read volume", &res, NULL, e, sql, "tt", service, key);
	if (r < 0)
		return r;
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return err_set(e, -ENOENT, "resource not found");
	}
	if (row_to_volume(res, 0, &v) < 0) {
		PQclear(res);
		return err_set(e, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n && r == 0; i++)
		if (!PQgetisnull(res, i, ATT_COL))
			r = push_attachment(res, i, &v, e);
	PQclear(res);
	if (r < 0) {
		volume_release(&v);
		return r;
	}
	if (by_name)
		cache_put(st, service, &v, g);
	*out = v;
	return 0;
}

static int pg_volume_get(struct store *st, const char *service, const char *id,
			 struct volume *out, struct err *e)
{
	return get_one(st, false, service, id, out, e);
}

static int pg_volume_get_by_name(struct store *st, const char *service, const char *name,
				 struct volume *out, struct err *e)
{
	return get_one(st, true, service, name, out, e);
}

/* Every volume in id order (strcmp's: the "C" collation), each with its
 * attachments (the joined rows of one volume are adjacent). */
static int pg_volume_each(struct store *st, const char *service, volume_visit_fn fn, void *arg,
			  struct err *e)
{
	PGresult *res;
	unsigned long long g = cache_gen(st);
	int r = run(st, "list volumes", &res, NULL, e,
		    VOLUME_ROW "WHERE v.service=$1 ORDER BY v.id COLLATE \"C\", " ATT_ORDER, "t",
		    service);
	int n;

	if (r < 0)
		return r;
	n = PQntuples(res);
	for (int i = 0; i < n && r == 0;) {
		struct volume v;
		int j = i;
		if (row_to_volume(res, i, &v) < 0) {
			r = err_set(e, -ENOMEM, "out of memory");
			break;
		}
		for (; r == 0 && j < n && strcmp(PQgetvalue(res, j, 0), v.id) == 0; j++)
			if (!PQgetisnull(res, j, ATT_COL))
				r = push_attachment(res, j, &v, e);
		if (r == 0) {
			/* Docker lists, then asks for each volume by name */
			cache_put(st, service, &v, g);
			r = fn(arg, &v, e);
		}
		volume_release(&v);
		i = j;
	}
	PQclear(res);
	return r;
}

static int pg_volume_delete(struct store *st, const char *service, const char *id,
			    struct err *e)
{
	int changes = 0;
	int r;

	cache_forget(st, service, id);
	r = run(st, "delete volume", NULL, &changes, e,
		    "DELETE FROM volumes WHERE service=$1 AND id=$2", "tt", service, id);

	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "resource not found");
	return r;
}

static int pg_attachment_put(struct store *st, const char *service,
			     const struct volume_attachment *a, struct err *e)
{
	int r;

	cache_forget(st, service, a->volume_id);
	r = run(st, "record attachment", NULL, NULL, e,
		    "INSERT INTO attachments(service,volume_id,instance_id,instance_driver,"
		    "instance_service,device_name,status,mount_point,fields) "
		    "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) "
		    "ON CONFLICT (service, volume_id, instance_id) DO UPDATE SET "
		    "instance_driver=EXCLUDED.instance_driver, "
		    "instance_service=EXCLUDED.instance_service, device_name=EXCLUDED.device_name, "
		    "status=EXCLUDED.status, mount_point=EXCLUDED.mount_point, "
		    "fields=EXCLUDED.fields, attached_at=" EPOCH_NOW,
		    "ttttttttj", service, a->volume_id, a->iid.id ? a->iid.id : "", a->iid.driver,
		    a->iid.service, a->device_name ? a->device_name : "",
		    a->status ? a->status : "attached", a->mount_point, a->fields);

	if (r == -EEXIST) /* the foreign key: the volume is gone */
		r = err_set(e, -ENOENT, "resource not found");
	return r;
}

static int pg_attachment_remove(struct store *st, const char *service, const char *volume_id,
				const char *instance_id, struct err *e)
{
	cache_forget(st, service, volume_id);
	if (instance_id)
		return run(st, "remove attachment", NULL, NULL, e,
			   "DELETE FROM attachments WHERE service=$1 AND volume_id=$2 AND "
			   "lower(instance_id)=lower($3)", "ttt", service, volume_id, instance_id);
	return run(st, "remove attachment", NULL, NULL, e,
		   "DELETE FROM attachments WHERE service=$1 AND volume_id=$2", "tt", service,
		   volume_id);
}

/* ---- snapshots ---- */

#define SNAPSHOT_COLS \
	"id,name,description,volume_id,volume_size,encrypted,status,fields,start_time"

static int pg_snapshot_insert(struct store *st, const char *service, const struct snapshot *s,
			      struct err *e)
{
	int r = run(st, "insert snapshot", NULL, NULL, e,
		    "INSERT INTO snapshots(service,id,name,description,volume_id,volume_size,"
		    "encrypted,status,fields,start_time) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
		    "tttttlitjl", service, s->id, s->name ? s->name : "", s->description,
		    s->volume_id ? s->volume_id : "", (int64_t)s->volume_size, (int)s->encrypted,
		    s->status, s->fields, (int64_t)s->start_time);

	if (r == -EEXIST)
		err_set(e, -EEXIST, "a snapshot with the ID '%s' already exists", s->id);
	return r;
}

/* The rows of res into l. */
static int rows_to_snapshots(PGresult *res, struct snapshot_list *l, struct err *e)
{
	for (int i = 0; i < PQntuples(res); i++) {
		struct snapshot one;
		bool ok = true;

		memset(&one, 0, sizeof(one));
		one.id = col_text(res, i, 0, &ok);
		one.name = col_text(res, i, 1, &ok);
		one.description = col_text(res, i, 2, &ok);
		one.volume_id = col_text(res, i, 3, &ok);
		one.volume_size = col_int(res, i, 4);
		one.encrypted = col_int(res, i, 5) != 0;
		one.status = col_text(res, i, 6, &ok);
		one.fields = col_json(res, i, 7);
		one.start_time = col_int(res, i, 8);
		if (!ok || snapshot_list_push(l, &one) < 0) {
			snapshot_release(&one);
			snapshot_list_release(l);
			return err_set(e, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int pg_snapshot_get(struct store *st, const char *service, const char *id,
			   struct snapshot *out, struct err *e)
{
	struct snapshot_list l = { 0 };
	PGresult *res;
	int r = run(st, "read snapshot", &res, NULL, e,
		    "SELECT " SNAPSHOT_COLS " FROM snapshots WHERE service=$1 AND id=$2", "tt",
		    service, id);

	if (r < 0)
		return r;
	r = rows_to_snapshots(res, &l, e);
	PQclear(res);
	return sti_one_snapshot(&l, r, out, e);
}

static int pg_snapshot_list(struct store *st, const char *service, struct snapshot_list *out,
			    struct err *e)
{
	PGresult *res;
	int r = run(st, "list snapshots", &res, NULL, e,
		    "SELECT " SNAPSHOT_COLS " FROM snapshots WHERE service=$1 "
		    "ORDER BY id COLLATE \"C\"", "t", service);

	memset(out, 0, sizeof(*out));
	if (r < 0)
		return r;
	r = rows_to_snapshots(res, out, e);
	PQclear(res);
	return r;
}

static int pg_snapshot_delete(struct store *st, const char *service, const char *id,
			      struct err *e)
{
	int changes = 0;
	int r = run(st, "delete snapshot", NULL, &changes, e,
		    "DELETE FROM snapshots WHERE service=$1 AND id=$2", "tt", service, id);

	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "resource not found");
	return r;
}

/* ---- leases: the database's clock, in ms ---- */

#define NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

static int pg_lease_set(struct store *st, const char *service, const char *instance,
			long long ms, bool grant, struct err *e)
{
	return run(st, "renew lease", NULL, NULL, e,
		   grant ? "INSERT INTO leases(service,instance,until_ms) "
			   "VALUES(lower($1),lower($2)," NOW_MS " + $3) "
			   "ON CONFLICT (service,instance) DO UPDATE SET "
			   "until_ms = greatest(leases.until_ms, EXCLUDED.until_ms)" :
			   "INSERT INTO leases(service,instance,until_ms) "
			   "VALUES(lower($1),lower($2)," NOW_MS " + $3) "
			   "ON CONFLICT (service,instance) DO UPDATE SET until_ms = EXCLUDED.until_ms",
		   "ttl", service, instance, (int64_t)ms);
}

static int pg_lease_revoke(struct store *st, const char *service, const char *volume_id,
			   const char *holder, long long default_ms, struct err *e)
{
	/* a holder this database never heard of (or whose lease ended long
	 * ago) gets a full default lease from now: it may still be writing */
	int r = run(st, "revoke lease", NULL, NULL, e,
		    "INSERT INTO leases(service,instance,until_ms) "
		    "VALUES(lower($1),lower($2)," NOW_MS " + $3) ON CONFLICT DO NOTHING",
		    "ttl", service, holder, (int64_t)default_ms);

	if (r == 0)
		r = run(st, "revoke lease", NULL, NULL, e,
			"INSERT INTO revocations(service,volume_id,holder,deadline_ms,fenced) "
			"SELECT lower($1), lower($2), lower($3), l.until_ms, 0 FROM leases l "
			"WHERE l.service = lower($1) AND l.instance = lower($3) "
			"ON CONFLICT (service,volume_id) DO UPDATE SET "
			"deadline_ms = CASE WHEN revocations.holder = EXCLUDED.holder "
			"THEN revocations.deadline_ms ELSE EXCLUDED.deadline_ms END, "
			"fenced = CASE WHEN revocations.holder = EXCLUDED.holder "
			"THEN revocations.fenced ELSE 0 END, holder = EXCLUDED.holder",
			"ttt", service, volume_id, holder);
	return r;
}

static int pg_lease_revoked(struct store *st, const char *const *services,
			    const char *const *instances, size_t n, struct volume_ref **out,
			    size_t *n_out, struct err *e)
{
	for (size_t k = 0; k < n; k++) {
		PGresult *res;
		int r = run(st, "read revocations", &res, NULL, e,
			    "SELECT service, volume_id FROM revocations WHERE service = lower($1) "
			    "AND holder = lower($2) AND fenced = 0 ORDER BY volume_id", "tt",
			    services[k], instances[k]);
		if (r < 0)
			goto fail;
		for (int i = 0; i < PQntuples(res); i++) {
			struct volume_ref *o = realloc(*out, (*n_out + 1) * sizeof(*o));
			if (!o) {
				PQclear(res);
				r = err_set(e, -ENOMEM, "out of memory");
				goto fail;
			}
			*out = o;
			o[*n_out].service = strdup(PQgetvalue(res, i, 0));
			o[*n_out].volume_id = strdup(PQgetvalue(res, i, 1));
			(*n_out)++;
			if (!o[*n_out - 1].service || !o[*n_out - 1].volume_id) {
				PQclear(res);
				r = err_set(e, -ENOMEM, "out of memory");
				goto fail;
			}
		}
		PQclear(res);
		continue;
fail:
		volume_refs_free(*out, *n_out);
		*out = NULL;
		*n_out = 0;
		return r;
	}
	return 0;
}

static int pg_lease_revocation(struct store *st, const char *service, const char *volume_id,
			       const char *holder, bool *open, bool *fenced, long long *left_ms,
			       struct err *e)
{
	PGresult *res;
	int r = run(st, "read revocation", &res, NULL, e,
		    "SELECT fenced, deadline_ms - " NOW_MS " FROM revocations WHERE "
		    "service = lower($1) AND volume_id = lower($2) AND holder = lower($3)", "ttt",
		    service, volume_id, holder);

	if (r < 0)
		return r;
	*open = PQntuples(res) > 0;
	*fenced = *open && col_int(res, 0, 0) != 0;
	*left_ms = *open ? col_int(res, 0, 1) : 0;
	PQclear(res);
	return 0;
}

static int pg_lease_fence_done(struct store *st, const char *service, const char *volume_id,
			   const char *holder, bool end, struct err *e)
{
	if (end)
		return run(st, "end revocation", NULL, NULL, e,
			   "DELETE FROM revocations WHERE service = lower($1) AND "
			   "volume_id = lower($2) AND holder = lower($3)", "ttt", service, volume_id,
			   holder);
	return run(st, "confirm fence", NULL, NULL, e,
		   "UPDATE revocations SET fenced = 1 WHERE service = lower($1) AND "
		   "volume_id = lower($2) AND holder = lower($3)", "ttt", service, volume_id,
		   holder);
}

static const struct store_ops pg_ops = {
	.name = "postgres",
	.shared = true,
	.close = pg_close,
	.claim = pg_claim,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.schema_version = pg_schema_version,
	.key_lock = pg_key_lock,
	.key_unlock = pg_key_unlock,
	.next_seq = pg_next_seq,
	.volume_insert = pg_volume_insert,
	.volume_update = pg_volume_update,
	.volume_get = pg_volume_get,
	.volume_get_by_name = pg_volume_get_by_name,
	.volume_view_cached = pg_volume_view_cached,
	.volume_each = pg_volume_each,
	.volume_delete = pg_volume_delete,
	.attachment_put = pg_attachment_put,
	.attachment_remove = pg_attachment_remove,
	.snapshot_insert = pg_snapshot_insert,
	.snapshot_get = pg_snapshot_get,
	.snapshot_list = pg_snapshot_list,
	.snapshot_delete = pg_snapshot_delete,
	.lease_set = pg_lease_set,
	.lease_revoke = pg_lease_revoke,
	.lease_revoked = pg_lease_revoked,
	.lease_revocation = pg_lease_revocation,
	.lease_fence_done = pg_lease_fence_done,
};
