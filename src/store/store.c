#include "store/store.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "store/vcache.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"
#include "util/sys.h"
#include "util/jsondump.h"

/* Migrations: index i brings the schema from version i to i+1. */
static const char *const migrations[] = {
	/* 0 -> 1: volumes, attachments, sequences */
	"CREATE TABLE volumes ("
	"  service TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  name TEXT NOT NULL COLLATE NOCASE,"
	"  type TEXT NOT NULL DEFAULT '',"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  iops INTEGER NOT NULL DEFAULT 0,"
	"  availability_zone TEXT,"
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT,"
	"  fields TEXT,"
	"  created_at INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
	"  PRIMARY KEY (service, id),"
	"  UNIQUE (service, name)"
	");"
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
	"  attached_at INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
	"  PRIMARY KEY (service, volume_id, instance_id),"
	"  FOREIGN KEY (service, volume_id) REFERENCES volumes(service, id) ON DELETE CASCADE"
	");"
	"CREATE TABLE sequences ("
	"  service TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  next INTEGER NOT NULL,"
	"  PRIMARY KEY (service, name)"
	");",
	/* 1 -> 2: the host's use counts, keyed by (volume, caller) */
	"CREATE TABLE use_counts ("
	"  service TEXT NOT NULL,"
	"  volume TEXT NOT NULL COLLATE NOCASE,"
	"  caller TEXT NOT NULL,"
	"  count INTEGER NOT NULL CHECK (count > 0),"
	"  updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
	"  PRIMARY KEY (service, volume, caller)"
	");",
	/* 2 -> 3: the DVDI checkpoint, one row per (container, slot) */
	"CREATE TABLE dvdi_mounts ("
	"  container_id TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  driver TEXT NOT NULL COLLATE NOCASE,"
	"  name TEXT NOT NULL COLLATE NOCASE,"
	"  options TEXT NOT NULL DEFAULT '',"
	"  container_path TEXT NOT NULL DEFAULT '',"
	"  explicit_create INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'pending',"  /* pending -> mounted */
	"  mountpoint TEXT NOT NULL DEFAULT '',"
	"  bound INTEGER NOT NULL DEFAULT 0,"
	"  owner INTEGER NOT NULL DEFAULT 0,"      /* this row's prepare made the mount */
	"  created_at INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
	"  PRIMARY KEY (container_id, slot)"
	");"
	"CREATE INDEX dvdi_by_volume ON dvdi_mounts(driver, name);",
	/* 3 -> 4: uses whose reply has not reached the caller yet */
	"ALTER TABLE use_counts ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;",
	/* 4 -> 5: snapshots, independent of their volume (no foreign key: a
	 * volume's removal leaves its snapshots, and the other way round) */
	"CREATE TABLE snapshots ("
	"  service TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  description TEXT,"
	"  volume_id TEXT NOT NULL DEFAULT '',"
	"  volume_size INTEGER NOT NULL DEFAULT 0,"
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT,"
	"  fields TEXT,"
	"  start_time INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
	"  PRIMARY KEY (service, id)"
	");",
	/* 5 -> 6: attachment leases and revocations, where several servers
	 * share them (PostgreSQL); a SQLite file's one server keeps them in
	 * memory (server/lease.c), so these stay empty here */
	"CREATE TABLE leases ("
	"  service TEXT NOT NULL COLLATE NOCASE,"
	"  instance TEXT NOT NULL COLLATE NOCASE,"
	"  until_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (service, instance)"
	");"
	"CREATE TABLE revocations ("
	"  service TEXT NOT NULL COLLATE NOCASE,"
	"  volume_id TEXT NOT NULL COLLATE NOCASE,"
	"  holder TEXT NOT NULL,"
	"  deadline_ms INTEGER NOT NULL,"
	"  fenced INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (service, volume_id)"
	");",
};

int sti_db_err(struct store *st, struct err *e, int rc, const char *what)
{
	int code = -EIO;

	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		code = -EBUSY;
	else if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
		code = -EEXIST;
	else if (rc == SQLITE_NOMEM)
		code = -ENOMEM;
	return err_set(e, code, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int injected_db_error(const char *what, struct err *e);

/* The transaction control of begin/commit/rollback: no fault of its own
 * (a failed rollback would leave the transaction open for everyone). */
static int exec_control(struct store *st, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		int r = err_set(e, rc == SQLITE_BUSY ? -EBUSY : -EIO, "store: %s",
				msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

int sti_exec_sql(struct store *st, const char *sql, struct err *e)
{
	if (sys_fault(SYS_DB))
		return injected_db_error("exec", e);
	return exec_control(st, sql, e);
}

int sq_schema_version(struct store *st)
{
	sqlite3_stmt *s;
	int v = -1;

	pthread_mutex_lock(&st->mu);
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->mu);
	return v;
}

static int migrate(struct store *st, struct err *e)
{
	int have = sq_schema_version(st), r;
	int want = (int)(sizeof(migrations) / sizeof(migrations[0]));
	char sql[64];

	if (have < 0)
		return err_set(e, -EIO, "store: cannot read the schema version");
	if (have > want)
		return err_set(e, -EPROTO,
			       "store: database schema version %d is newer than this binary's %d",
			       have, want);
	for (int v = have; v < want; v++) {
		if ((r = sq_begin(st, e)) < 0)
			return r;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((r = sti_exec_sql(st, migrations[v], e)) < 0 || (r = sti_exec_sql(st, sql, e)) < 0) {
			sq_rollback(st);
			return err_prefix(e, "store: migration to schema %d failed", v + 1);
		}
		if ((r = sq_commit(st, e)) < 0)
			return r;
		log_info("store: migrated schema to version %d", v + 1);
	}
	return 0;
}

int store_open(const char *path, struct store **out, struct err *e)
{
	pthread_mutexattr_t attr;
	struct store *st;
	int fd, rc, r;

	/* create with 0600 ourselves: SQLite would use the umask */
	fd = sys_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(e, -errno, "store: cannot open '%s': %s", path, strerror(errno));
	close(fd);
	/* the database's own name on disk (SQLite syncs its WAL's) */
	{
		char dir[PATH_MAX];
		char *slash;
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if ((r = fs_fsync_dirs_up(dir)) < 0)
				return err_set(e, r, "store: cannot sync '%s': %s", dir,
					       strerror(-r));
		}
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return err_set(e, -ENOMEM, "out of memory");
	st->ops = &sq_ops;
	st->owner_fd = -1;
	snprintf(st->path, sizeof(st->path), "%s", path);
	pthread_rwlock_init(&st->vc_lock, NULL);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = err_set(e, -EIO, "store: cannot open '%s': %s", path, sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* FULL: every commit is on disk before its reply goes out. Each write
	 * here is something a caller was promised (a created volume dockerd
	 * recorded, an attachment fencing relies on, a use count, a DVDI
	 * checkpoint Mesos recovers from); NORMAL would let a power loss
	 * forget the last of them (docs/volumes.md, "Power loss"). */
	if ((r = sti_exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			      "PRAGMA foreign_keys=ON;", e)) < 0)
		goto fail;
	if ((r = migrate(st, e)) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	sq_close(st);
	return r;
}

void sq_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n_cache; i++)
		sqlite3_finalize(st->cache[i].stmt);
	vcache_clear(&st->vc);
	pthread_rwlock_destroy(&st->vc_lock);
	if (st->owner_fd >= 0)
		close(st->owner_fd);
	sqlite3_close_v2(st->db);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static int set_sync(struct store *st, bool full, struct err *e);

/* BEGIN IMMEDIATE with mu taken (held until the commit or rollback). */
static int begin_tx(struct store *st, struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = exec_control(st, "BEGIN IMMEDIATE", e);
	if (r < 0)
		pthread_mutex_unlock(&st->mu);
	else
		st->tx_start_ns = time_now_ns();
	return r;
}

/* A write transaction whose commit syncs (full) or does not: the
 * synchronous mode is switched, between transactions only (SQLite refuses
 * it inside one), when it is not already the one wanted. */
static int begin_synced(struct store *st, bool full, struct err *e)
{
	int r = 0;

	pthread_mutex_lock(&st->mu);
	if (st->relaxed == full && sqlite3_get_autocommit(st->db))
		r = set_sync(st, full, e);
	if (r == 0)
		r = begin_tx(st, e);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_begin(struct store *st, struct err *e)
{
	/* every write syncs its commit but a sequence step's (sq_next_seq) and
	 * a use count's (sq_begin_relaxed) */
	return begin_synced(st, true, e);
}

/*
 * A write whose loss at a power cut harms nobody commits without a sync of
 * its own (synchronous=NORMAL for its transaction, as a sequence step):
 * the use counts. They count mounts, and no mount outlives the machine;
 * the start's reconciliation forgets the uses of what is not mounted. A
 * crash of the engine alone loses nothing (the WAL frames are written,
 * only not synced), and the next synced commit (the detach after a last
 * unmount) takes them to disk. The next sq_begin restores FULL.
 */
int sq_begin_relaxed(struct store *st, struct err *e)
{
	return begin_synced(st, false, e);
}

/* An injected database failure (util/sys.h, SYS_DB): ENOSPC reads as a
 * full disk, anything else as an I/O error, in SQLite's words. */
static int injected_db_error(const char *what, struct err *e)
{
	return err_set(e, -EIO, "store: %s: %s", what,
		       sqlite3_errstr(errno == ENOSPC ? SQLITE_FULL : SQLITE_IOERR));
}

int sq_commit(struct store *st, struct err *e)
{
	int r = sys_fault(SYS_DB) ? injected_db_error("commit", e) : exec_control(st, "COMMIT", e);

	if (r < 0)
		exec_control(st, "ROLLBACK", NULL);
	mx_observe(&st->tx, time_now_ns() - st->tx_start_ns);
	pthread_mutex_unlock(&st->mu);
	return r;
}

void sq_rollback(struct store *st)
{
	exec_control(st, "ROLLBACK", NULL);
	mx_observe(&st->tx, time_now_ns() - st->tx_start_ns);
	pthread_mutex_unlock(&st->mu);
}

const struct mx_hist *store_tx_latency(const struct store *st)
{
	return &st->tx;
}

int sti_finish(struct store *st, sqlite3_stmt *s, int r, struct err *e)
{
	sti_unprep(st, s);
	if (r < 0) {
		sq_rollback(st);
		return r;
	}
	return sq_commit(st, e);
}

/* ---- statement helpers ---- */

int sti_prep(struct store *st, const char *sql, sqlite3_stmt **s, struct err *e)
{
	int rc;

	/* a statement of its own (autocommit) never commits NORMAL either */
	if (st->relaxed && sqlite3_get_autocommit(st->db) && (rc = set_sync(st, true, e)) < 0)
		return rc;

	for (int i = 0; i < st->n_cache; i++) {
		if (st->cache[i].sql == sql) {
			*s = st->cache[i].stmt;
			return 0;
		}
	}
	if (sys_fault(SYS_DB)) /* a statement's first use: as a read's step would */
		return injected_db_error("prepare", e);
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL);
	if (rc != SQLITE_OK)
		return sti_db_err(st, e, rc, "prepare");
	if (st->n_cache < STMT_CACHE_MAX) {
		st->cache[st->n_cache].sql = sql;
		st->cache[st->n_cache].stmt = *s;
		st->n_cache++;
	}
	return 0;
}

/* Done with a statement from prep: a cached one is reset for next time. */
void sti_unprep(struct store *st, sqlite3_stmt *s)
{
	if (!s)
		return;
	for (int i = 0; i < st->n_cache; i++) {
		if (st->cache[i].stmt == s) {
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return;
		}
	}
	sqlite3_finalize(s);
}

void sti_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

void sti_bind_json(sqlite3_stmt *s, int i, const json_t *j)
{
	char *t = j ? json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	sti_bind_text(s, i, t);
	free(t);
}

char *sti_col_text(sqlite3_stmt *s, int i, bool *ok)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? xstrdup_opt((const char *)t, ok) : NULL;
}

json_t *sti_col_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t ? json_loads(t, 0, NULL) : NULL;
}

/* ---- the volume cache ---- */

/* A write to volume id is coming (mu held): its entry goes first. */
static void forget(struct store *st, const char *service, const char *id)
{
	if (st->owner_fd < 0)
		return;
	pthread_rwlock_wrlock(&st->vc_lock);
	vcache_forget_id(&st->vc, service, id);
	pthread_rwlock_unlock(&st->vc_lock);
}

/* Remember committed rows (mu held): never inside a transaction, whose
 * rows may still roll back. */
static void remember(struct store *st, const char *service, const struct volume *v, size_t n)
{
	if (st->owner_fd < 0 || !sqlite3_get_autocommit(st->db))
		return;
	pthread_rwlock_wrlock(&st->vc_lock);
	for (size_t i = 0; i < n; i++)
		vcache_put(&st->vc, service, &v[i]);
	pthread_rwlock_unlock(&st->vc_lock);
}

static int lookup_cached(struct store *st, const char *service, const char *name,
			 struct volume *out)
{
	int r;

	if (st->owner_fd < 0)
		return -ENOENT;
	pthread_rwlock_rdlock(&st->vc_lock);
	r = vcache_get(&st->vc, service, name, out);
	pthread_rwlock_unlock(&st->vc_lock);
	return r;
}

static int sq_volume_view_cached(struct store *st, const char *service, const char *name,
				 volume_view_fn fn, void *arg, bool *hit, struct err *e)
{
	int r;

	*hit = false;
	if (st->owner_fd < 0)
		return 0;
	/* no mu, as lookup_cached: a hit never waits for a writer */
	pthread_rwlock_rdlock(&st->vc_lock);
	r = vcache_view(&st->vc, service, name, fn, arg, hit, e);
	pthread_rwlock_unlock(&st->vc_lock);
	return r;
}

/* "pid N" of the owner recorded in the lock file, for messages. */
static void owner_of(int fd, char *buf, size_t sz)
{
	ssize_t n = pread(fd, buf, sz - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int sq_claim(struct store *st, int timeout_ms, struct err *e)
{
	char path[PATH_MAX + 16], who[32], line[32];
	int fd, waited = 0;

	if (st->owner_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s.server", st->path);
	fd = sys_open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, -errno, "store: cannot open '%s': %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= timeout_ms) {
			int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
			owner_of(fd, who, sizeof(who));
			close(fd);
			return err_set(e, r, "store: another rexray server (pid %s) is using '%s'",
				       who[0] ? who : "?", st->path);
		}
		if (waited == 0)
			log_info("store: waiting for the other server of '%s' to finish", st->path);
		time_sleep_ms(50);
		waited += 50;
	}
	snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (sys_ftruncate(fd, 0) < 0 || pwrite(fd, line, strlen(line), 0) < 0)
		log_debug("store: cannot record the owner in '%s': %s", path, strerror(errno));
	/* the cache fills only from here on (remember): nothing cached can
	 * predate our claim */
	pthread_mutex_lock(&st->mu);
	st->owner_fd = fd;
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* ---- sequences ---- */

/*
 * A step of a counter commits without a sync of its own: synchronous=
 * NORMAL for its transaction only (SQLite refuses the change inside one).
 * The WAL is a log: the step's frames come before those of every later
 * commit, whose sync (FULL) takes them to disk as well, and recovery never
 * keeps a later frame without the earlier ones. So a number is durable no
 * later than the record that uses it; a power loss can forget only a
 * number that nothing durable carries (at most a ".new" named by it, which
 * the next start's sweep drops before the number is handed out again). In
 * the running engine a step never rolls back: no number is given twice.
 * One sync fewer per create (docs/volumes.md, "Power loss").
 */
static int set_sync(struct store *st, bool full, struct err *e)
{
	int r = exec_control(st, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			     e);

	st->relaxed = r < 0 ? st->relaxed : !full;
	return r;
}

int sq_next_seq(struct store *st, const char *service, const char *name, int64_t *out,
		struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	/* mu across the pragmas and the step: no other write runs NORMAL */
	pthread_mutex_lock(&st->mu);
	if (sqlite3_get_autocommit(st->db) && (r = set_sync(st, false, e)) < 0) {
		pthread_mutex_unlock(&st->mu);
		return r;
	}
	if ((r = begin_tx(st, e)) < 0)
		goto out;
	if ((r = sti_prep(st, "INSERT INTO sequences(service,name,next) VALUES(?,?,1) "
			  "ON CONFLICT(service,name) DO UPDATE SET next = next + 1 "
			  "RETURNING next - 1", &s, e)) < 0)
		goto fail;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, name);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = sti_db_err(st, e, rc, "next sequence");
		goto fail;
	}
	*out = sqlite3_column_int64(s, 0);
	r = 0;
fail:
	r = sti_finish(st, s, r, e);
out:
	/* FULL again for everything else; should that fail, sq_begin and
	 * sti_prep try again first and fail rather than commit without it */
	if (st->relaxed && set_sync(st, true, NULL) < 0)
		log_warn("store: synchronous=FULL not restored yet: the next statement retries");
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- volumes ---- */

int sti_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e)
{
	int rc;

	if (sys_fault(SYS_DB))
		return injected_db_error(what, e);
	rc = sqlite3_step(s);

	if (rc != SQLITE_DONE)
		return sti_db_err(st, e, rc, what);
	return 0;
}

int sti_run(struct store *st, const char *what, int *changes, struct err *e, const char *sql,
	    const char *binds, ...)
{
	sqlite3_stmt *s = NULL;
	va_list ap;
	int r = sti_prep(st, sql, &s, e);

	if (r < 0)
		return r;
	va_start(ap, binds);
	for (int i = 0; binds[i]; i++) {
		switch (binds[i]) {
		case 't':
			sti_bind_text(s, i + 1, va_arg(ap, const char *));
			break;
		case 'l':
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
			break;
		case 'j':
			sti_bind_json(s, i + 1, va_arg(ap, const json_t *));
			break;
		default:
			sqlite3_bind_int(s, i + 1, va_arg(ap, int));
			break;
		}
	}
	va_end(ap);
	r = sti_step_done(st, s, what, e);
	if (changes)
		*changes = sqlite3_changes(st->db);
	sti_unprep(st, s);
	return r;
}

int sq_volume_insert(struct store *st, const char *service, const struct volume *v,
			struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = sti_run(st, "insert volume", NULL, e,
		    "INSERT INTO volumes(service,id,name,type,size,iops,availability_zone,encrypted,"
		    "status,fields) VALUES(?,?,?,?,?,?,?,?,?,?)", "ttttlltitj", service, v->id,
		    v->name, v->type ? v->type : "", (int64_t)v->size, (int64_t)v->iops,
		    v->availability_zone, (int)v->encrypted, v->status, v->fields);
	if (r == -EEXIST)
		err_set(e, -EEXIST, "a volume named '%s' already exists in service '%s'",
			v->name, service);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_volume_update(struct store *st, const char *service, const struct volume *v,
			struct err *e)
{
	int r, changes = 0;

	pthread_mutex_lock(&st->mu);
	forget(st, service, v->id);
	r = sti_run(st, "update volume", &changes, e,
		    "UPDATE volumes SET type=?, size=?, iops=?, availability_zone=?, status=?, "
		    "fields=? WHERE service=? AND id=?", "tllttjtt", v->type ? v->type : "",
		    (int64_t)v->size, (int64_t)v->iops, v->availability_zone, v->status, v->fields,
		    service, v->id);
	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "volume '%s' not found", v->id);
	pthread_mutex_unlock(&st->mu);
	return r;
}

#define VOLUME_COLS "id,name,type,size,iops,availability_zone,encrypted,status,fields,created_at"

static int row_to_volume(sqlite3_stmt *s, struct volume *v)
{
	bool ok = true;

	memset(v, 0, sizeof(*v));
	v->id = sti_col_text(s, 0, &ok);
	v->name = sti_col_text(s, 1, &ok);
	v->type = sti_col_text(s, 2, &ok);
	v->size = sqlite3_column_int64(s, 3);
	v->iops = sqlite3_column_int64(s, 4);
	v->availability_zone = sti_col_text(s, 5, &ok);
	v->encrypted = sqlite3_column_int(s, 6) != 0;
	v->status = sti_col_text(s, 7, &ok);
	v->fields = sti_col_json(s, 8);
	v->created_at = sqlite3_column_int64(s, 9);
	if (!ok) {
		volume_release(v);
		return -ENOMEM;
	}
	return 0;
}

#define ATTACHMENT_COLS \
	"volume_id,instance_id,instance_driver,instance_service,device_name,status,mount_point," \
	"fields"

static int row_to_attachment(sqlite3_stmt *s, struct volume_attachment *a)
{
	bool ok = true;

	memset(a, 0, sizeof(*a));
	a->volume_id = sti_col_text(s, 0, &ok);
	a->iid.id = sti_col_text(s, 1, &ok);
	a->iid.driver = sti_col_text(s, 2, &ok);
	a->iid.service = sti_col_text(s, 3, &ok);
	a->device_name = sti_col_text(s, 4, &ok);
	a->status = sti_col_text(s, 5, &ok);
	a->mount_point = sti_col_text(s, 6, &ok);
	a->fields = sti_col_json(s, 7);
	if (!ok) {
		volume_attachment_release(a);
		return -ENOMEM;
	}
	return 0;
}

/* Append the attachment in row s to v's. */
static int push_attachment(sqlite3_stmt *s, struct volume *v, struct err *e)
{
	struct volume_attachment *na = realloc(v->attachments, (v->n_attachments + 1) * sizeof(*na));

	if (!na)
		return err_set(e, -ENOMEM, "out of memory");
	v->attachments = na;
	if (row_to_attachment(s, &na[v->n_attachments]) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	v->n_attachments++;
	return 0;
}

/* The attachments of one volume, in the order they were made. */
static int load_attachments(struct store *st, const char *service, struct volume *v,
			    struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = sti_prep(st, "SELECT " ATTACHMENT_COLS " FROM attachments "
		     "WHERE service=? AND volume_id=? ORDER BY attached_at, instance_id", &s, e);
	if (r < 0)
		return r;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, v->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = push_attachment(s, v, e)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = sti_db_err(st, e, rc, "read attachments");
out:
	sti_unprep(st, s);
	return r;
}

/* One volume by id or (by_name) name; by name through the cache. */
static int get_one(struct store *st, const char *sql, bool by_name, const char *service,
		   const char *key, struct volume *out, struct err *e)
{
	sqlite3_stmt *s = NULL;
	struct volume v;
	int r, rc;

	/* no mu: a hit never waits for a writer */
	if (by_name && (r = lookup_cached(st, service, key, out)) != -ENOENT)
		return r < 0 ? err_set(e, r, "out of memory") : 0;
	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, sql, &s, e)) < 0)
		goto out;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = err_set(e, -ENOENT, "resource not found");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sti_db_err(st, e, rc, "read volume");
		goto out;
	}
	if (row_to_volume(s, &v) < 0) {
		r = err_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = load_attachments(st, service, &v, e)) < 0) {
		volume_release(&v);
		goto out;
	}
	if (by_name)
		remember(st, service, &v, 1);
	*out = v;
out:
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_volume_get(struct store *st, const char *service, const char *id, struct volume *out,
		     struct err *e)
{
	return get_one(st, "SELECT " VOLUME_COLS " FROM volumes WHERE service=? AND id=?", false,
		       service, id, out, e);
}

int sq_volume_get_by_name(struct store *st, const char *service, const char *name,
			     struct volume *out, struct err *e)
{
	return get_one(st, "SELECT " VOLUME_COLS " FROM volumes WHERE service=? AND name=?", true,
		       service, name, out, e);
}

/*
 * A listing walks two queries side by side: the volumes by id and the
 * service's attachments by volume id (both in SQLite's BINARY order, which
 * strcmp shares), so each volume gets its attachments as it comes without
 * the whole list, or a query per volume, in memory.
 */
struct walk {
	struct store *st;
	sqlite3_stmt *att; /* attachments by volume_id */
	int att_rc;	   /* its last step: SQLITE_ROW when a row is pending */
};

/* Move the pending attachment rows of v (and skip any of volumes before
 * it: none, the foreign key says, but a walk must not stall on one). */
static int walk_attachments(struct walk *wk, struct volume *v, struct err *e)
{
	int r;

	while (wk->att_rc == SQLITE_ROW) {
		const char *vid = (const char *)sqlite3_column_text(wk->att, 0);
		int c = vid ? strcmp(vid, v->id) : -1;
		if (c > 0)
			return 0;
		if (c == 0 && (r = push_attachment(wk->att, v, e)) < 0)
			return r;
		wk->att_rc = sqlite3_step(wk->att);
	}
	if (wk->att_rc != SQLITE_DONE)
		return sti_db_err(wk->st, e, wk->att_rc, "read attachments");
	return 0;
}

int sq_volume_each(struct store *st, const char *service, volume_visit_fn fn, void *arg,
		      struct err *e)
{
	struct walk wk = { .st = st };
	sqlite3_stmt *s = NULL;
	struct volume v;
	int r, rc;

	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, "SELECT " VOLUME_COLS " FROM volumes WHERE service=? ORDER BY id", &s,
		      e)) < 0 ||
	    (r = sti_prep(st, "SELECT " ATTACHMENT_COLS " FROM attachments WHERE service=? "
			  "ORDER BY volume_id, attached_at, instance_id", &wk.att, e)) < 0)
		goto out;
	sti_bind_text(s, 1, service);
	sti_bind_text(wk.att, 1, service);
	wk.att_rc = sqlite3_step(wk.att);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (row_to_volume(s, &v) < 0) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
		if ((r = walk_attachments(&wk, &v, e)) == 0) {
			/* Docker lists, then asks for each volume by name */
			remember(st, service, &v, 1);
			r = fn(arg, &v, e);
		}
		volume_release(&v);
		if (r < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		r = sti_db_err(st, e, rc, "list volumes");
out:
	sti_unprep(st, wk.att);
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_volume_delete(struct store *st, const char *service, const char *id, struct err *e)
{
	int r, changes = 0;

	pthread_mutex_lock(&st->mu);
	forget(st, service, id);
	r = sti_run(st, "delete volume", &changes, e, "DELETE FROM volumes WHERE service=? AND id=?",
		    "tt", service, id);
	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "resource not found");
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_attachment_put(struct store *st, const char *service, const struct volume_attachment *a,
			 struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	forget(st, service, a->volume_id);
	r = sti_run(st, "record attachment", NULL, e,
		    "INSERT OR REPLACE INTO attachments(service,volume_id,instance_id,"
		    "instance_driver,instance_service,device_name,status,mount_point,fields)"
		    " VALUES(?,?,?,?,?,?,?,?,?)", "ttttttttj", service, a->volume_id,
		    a->iid.id ? a->iid.id : "", a->iid.driver, a->iid.service,
		    a->device_name ? a->device_name : "", a->status ? a->status : "attached",
		    a->mount_point, a->fields);
	if (r == -EEXIST) /* the foreign key: the volume is gone */
		r = err_set(e, -ENOENT, "resource not found");
	pthread_mutex_unlock(&st->mu);
	return r;
}

int sq_attachment_remove(struct store *st, const char *service, const char *volume_id,
			    const char *instance_id, struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	forget(st, service, volume_id);
	if (instance_id)
		r = sti_run(st, "remove attachment", NULL, e,
			    "DELETE FROM attachments WHERE service=? AND volume_id=? AND "
			    "instance_id=? COLLATE NOCASE", "ttt", service, volume_id, instance_id);
	else
		r = sti_run(st, "remove attachment", NULL, e,
			    "DELETE FROM attachments WHERE service=? AND volume_id=?", "tt", service,
			    volume_id);
	pthread_mutex_unlock(&st->mu);
	return r;
}

const struct store_ops sq_ops = {
	.name = "sqlite",
	.shared = false,
	.close = sq_close,
	.claim = sq_claim,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.schema_version = sq_schema_version,
	.key_lock = NULL, /* one server per file (sq_claim): its own locks do */
	.next_seq = sq_next_seq,
	.volume_insert = sq_volume_insert,
	.volume_update = sq_volume_update,
	.volume_get = sq_volume_get,
	.volume_get_by_name = sq_volume_get_by_name,
	.volume_view_cached = sq_volume_view_cached,
	.volume_each = sq_volume_each,
	.volume_delete = sq_volume_delete,
	.attachment_put = sq_attachment_put,
	.attachment_remove = sq_attachment_remove,
	.snapshot_insert = sq_snapshot_insert,
	.snapshot_get = sq_snapshot_get,
	.snapshot_list = sq_snapshot_list,
	.snapshot_delete = sq_snapshot_delete,
};
