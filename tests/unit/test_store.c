/* Unit tests for store/: a real SQLite database in a temp directory, and
 * (the tests that hold for every backend, and PostgreSQL's own) a real
 * PostgreSQL database: a fresh one per test on the scratch server whose
 * unix socket RR_TEST_PG_HOST names (scripts/run-tests starts it with
 * tests/pgscratch.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "store/pqdl.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/vcache.h"
#include "util/time.h"
#include "util/fs.h"
#include "util/sys.h"

struct fixture {
	char dir[64];
	char db[128];
	char pgdb[64];	/* PostgreSQL: the test's database, else "" */
	char uri[512];
	struct store *st;
};

/* A URI of the scratch PostgreSQL server for database db. */
static void pg_uri(char *out, size_t sz, const char *db)
{
	snprintf(out, sz, "postgresql:///%s?host=%s&port=%s&user=%s", db, getenv("RR_TEST_PG_HOST"),
		 getenv("RR_TEST_PG_PORT") ? getenv("RR_TEST_PG_PORT") : "5432",
		 getenv("RR_TEST_PG_USER") ? getenv("RR_TEST_PG_USER") : "rexray");
}

/* Run sql in database db of the scratch server; 0 or -1. */
static int pg_admin(const char *db, const char *sql)
{
	char uri[512];
	const char *keys[] = { "dbname", NULL }, *vals[] = { uri, NULL };
	struct err e = ERR_INIT;
	PGconn *c;
	PGresult *res;
	int r = -1;

	pg_uri(uri, sizeof(uri), db);
	assert_int_equal(pqdl_load(&e), 0);
	c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) == CONNECTION_OK) {
		res = PQexec(c, sql);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
		if (r < 0)
			fprintf(stderr, "pg_admin %s: %s", sql, PQerrorMessage(c));
		PQclear(res);
	}
	PQfinish(c);
	return r;
}

static int setup_pg(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err e = ERR_INIT;
	static int n;
	char sql[128];

	snprintf(f->pgdb, sizeof(f->pgdb), "rrt_%ld_%d", (long)getpid(), n++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->pgdb);
	assert_int_equal(pg_admin("postgres", sql), 0);
	pg_uri(f->uri, sizeof(f->uri), f->pgdb);
	assert_int_equal(store_open_uri(f->uri, &f->st, &e), 0);
	assert_string_equal(store_backend(f->st), "postgres");
	*state = f;
	return 0;
}

static int teardown_pg(void **state)
{
	struct fixture *f = *state;
	char sql[128];

	store_close(f->st);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", f->pgdb);
	assert_int_equal(pg_admin("postgres", sql), 0);
	free(f);
	return 0;
}

/* Close and open the fixture's database again. */
static void reopen(struct fixture *f)
{
	struct err e = ERR_INIT;

	store_close(f->st);
	f->st = NULL;
	if (f->pgdb[0])
		assert_int_equal(store_open_uri(f->uri, &f->st, &e), 0);
	else
		assert_int_equal(store_open(f->db, &f->st, &e), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err e = ERR_INIT;

	strcpy(f->dir, "/tmp/rr-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
	assert_int_equal(store_open(f->db, &f->st, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static void make_volume(struct volume *v, const char *id, const char *name, int64_t size)
{
	memset(v, 0, sizeof(*v));
	v->id = strdup(id);
	v->name = strdup(name);
	v->type = strdup("");
	v->size = size;
	v->fields = json_pack("{s:s}", "k", "v");
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	struct snapshot s = { .id = "loop-000-000", .name = "before-upgrade",
			      .description = "a note", .volume_id = "loop-000", .volume_size = 4,
			      .status = "online", .start_time = 1796238456 };
	struct snapshot got;
	struct snapshot_list l;
	struct err e = ERR_INIT;

	assert_int_equal(store_snapshot_insert(f->st, "loop", &s, &e), 0);
	assert_int_equal(store_snapshot_insert(f->st, "loop", &s, &e), -EEXIST);
	assert_string_equal(e.msg, "a snapshot with the ID 'loop-000-000' already exists");
	s.id = "loop-000-001";
	s.description = NULL;
	assert_int_equal(store_snapshot_insert(f->st, "loop", &s, &e), 0);
	assert_int_equal(store_snapshot_get(f->st, "loop", "loop-000-000", &got, &e), 0);
	assert_string_equal(got.name, "before-upgrade");
	assert_string_equal(got.description, "a note");
	assert_string_equal(got.volume_id, "loop-000");
	assert_int_equal(got.volume_size, 4);
	assert_int_equal(got.start_time, 1796238456);
	snapshot_release(&got);
	/* another service's are not ours */
	assert_int_equal(store_snapshot_get(f->st, "vfs", "loop-000-000", &got, &e), -ENOENT);
	assert_int_equal(store_snapshot_list(f->st, "loop", &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].id, "loop-000-001");
	assert_null(l.v[1].description);
	snapshot_list_release(&l);
	assert_int_equal(store_snapshot_delete(f->st, "loop", "loop-000-000", &e), 0);
	assert_int_equal(store_snapshot_delete(f->st, "loop", "loop-000-000", &e), -ENOENT);
	assert_int_equal(store_snapshot_list(f->st, "loop", &l, &e), 0);
	assert_int_equal(l.n, 1);
	snapshot_list_release(&l);
}

static void test_schema_version(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
}

static void test_insert_get_list(void **state)
{
	struct fixture *f = *state;
	struct volume v, got;
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;

	make_volume(&v, "vfs-000", "Alpha", 3);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	make_volume(&v, "vfs-001", "beta", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);

	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &got, &e), 0);
	assert_string_equal(got.name, "Alpha");
	assert_int_equal(got.size, 3);
	assert_string_equal(json_string_value(json_object_get(got.fields, "k")), "v");
	volume_release(&got);

	/* names are matched ignoring case */
	assert_int_equal(store_volume_get_by_name(f->st, "vfs", "ALPHA", &got, &e), 0);
	assert_string_equal(got.id, "vfs-000");
	volume_release(&got);

	/* services are separate namespaces */
	assert_int_equal(store_volume_get(f->st, "other", "vfs-000", &got, &e), -ENOENT);

	assert_int_equal(store_volume_list(f->st, "vfs", &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].id, "vfs-000");
	assert_string_equal(l.v[1].id, "vfs-001");
	volume_list_release(&l);
}

static void test_duplicate_name_refused(void **state)
{
	struct fixture *f = *state;
	struct volume v;
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;

	make_volume(&v, "vfs-000", "data", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	make_volume(&v, "vfs-001", "DATA", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "DATA"));
	volume_release(&v);
	assert_int_equal(store_volume_list(f->st, "vfs", &l, &e), 0);
	assert_int_equal(l.n, 1);
	volume_list_release(&l);
}

static void test_attachments(void **state)
{
	struct fixture *f = *state;
	struct volume v, got;
	struct volume_attachment a = { 0 };
	struct err e = ERR_INIT;

	make_volume(&v, "vfs-000", "a", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);

	a.volume_id = "vfs-000";
	a.iid.id = "host1";
	a.iid.driver = "vfs";
	a.device_name = "/dev/xvda";
	assert_int_equal(store_attachment_put(f->st, "vfs", &a, &e), 0);
	/* the same instance again replaces, not duplicates */
	a.device_name = "/dev/xvdb";
	assert_int_equal(store_attachment_put(f->st, "vfs", &a, &e), 0);
	a.iid.id = "host2";
	assert_int_equal(store_attachment_put(f->st, "vfs", &a, &e), 0);

	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &got, &e), 0);
	assert_int_equal(got.n_attachments, 2);
	assert_string_equal(got.attachments[0].device_name, "/dev/xvdb");
	volume_release(&got);

	assert_int_equal(store_attachment_remove(f->st, "vfs", "vfs-000", "HOST1", &e), 0);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &got, &e), 0);
	assert_int_equal(got.n_attachments, 1);
	assert_string_equal(got.attachments[0].iid.id, "host2");
	volume_release(&got);

	/* an attachment to a missing volume is refused by the foreign key */
	a.volume_id = "vfs-404";
	assert_int_equal(store_attachment_put(f->st, "vfs", &a, &e), -ENOENT);

	/* deleting the volume takes its attachments along */
	assert_int_equal(store_volume_delete(f->st, "vfs", "vfs-000", &e), 0);
	assert_int_equal(store_volume_delete(f->st, "vfs", "vfs-000", &e), -ENOENT);
}

static void test_update_of_an_unknown_volume(void **state)
{
	struct fixture *f = *state;
	struct volume v;
	struct err e = ERR_INIT;

	make_volume(&v, "vfs-404", "nobody", 1);
	assert_int_equal(store_volume_update(f->st, "vfs", &v, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "vfs-404"));
	volume_release(&v);
}

static void test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct volume v, got;
	struct err e = ERR_INIT;

	assert_int_equal(store_begin(f->st, &e), 0);
	make_volume(&v, "vfs-000", "gone", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	store_rollback(f->st);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &got, &e), -ENOENT);
}

static void test_sequences_and_persistence(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	struct volume v, got;
	int64_t n;

	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_next_seq(f->st, "loop", "volume", &n, &e), 0);
	assert_int_equal(n, 0);
	make_volume(&v, "vfs-007", "kept", 5);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);

	/* close and reopen: everything is still there */
	reopen(f);
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-007", &got, &e), 0);
	assert_int_equal(got.size, 5);
	volume_release(&got);
}

/*
 * A VFS over the default one that counts the syncs of the WAL file: what
 * a commit promises (synchronous=FULL) is a sync of the log before it
 * returns.
 */
struct sync_file {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's, right after this struct */
	bool wal;
};

static sqlite3_vfs *real_vfs;
static int wal_syncs;

#define REAL(f) (((struct sync_file *)(f))->real)
static int sf_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int sf_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int sf_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int sf_truncate(sqlite3_file *f, sqlite3_int64 n)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int sf_sync(sqlite3_file *f, int flags)
{
	if (((struct sync_file *)f)->wal)
		wal_syncs++;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int sf_size(sqlite3_file *f, sqlite3_int64 *n)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int sf_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int sf_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int sf_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int sf_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int sf_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int sf_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int sf_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int sf_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void sf_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int sf_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static const sqlite3_io_methods sync_io = {
	.iVersion = 2,
	.xClose = sf_close, .xRead = sf_read, .xWrite = sf_write, .xTruncate = sf_truncate,
	.xSync = sf_sync, .xFileSize = sf_size, .xLock = sf_lock, .xUnlock = sf_unlock,
	.xCheckReservedLock = sf_reserved, .xFileControl = sf_control,
	.xSectorSize = sf_sector, .xDeviceCharacteristics = sf_chars,
	.xShmMap = sf_shm_map, .xShmLock = sf_shm_lock, .xShmBarrier = sf_shm_barrier,
	.xShmUnmap = sf_shm_unmap,
};

static int sv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct sync_file *sf = (struct sync_file *)f;
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(sf + 1);
	sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
	f->pMethods = sf->real->pMethods ? &sync_io : NULL;
	return rc;
}

static void test_sequence_step_syncs_with_its_record(void **state)
{
	struct fixture *f = *state;
	static sqlite3_vfs vfs;
	struct err e = ERR_INIT;
	struct volume v;
	int64_t n;
	int before;

	store_close(f->st);
	f->st = NULL;
	real_vfs = sqlite3_vfs_find(NULL);
	vfs = *real_vfs;
	vfs.iVersion = 1; /* no xSetSystemCall & co. to forward */
	vfs.zName = "rr-count-syncs";
	vfs.szOsFile = (int)sizeof(struct sync_file) + real_vfs->szOsFile;
	vfs.xOpen = sv_open;
	assert_int_equal(sqlite3_vfs_register(&vfs, 1), SQLITE_OK);
	assert_int_equal(store_open(f->db, &f->st, &e), 0);

	/* a step alone: committed (it is never handed out again) but not
	 * synced on its own (after the first write of a log, whose header
	 * SQLite syncs in any mode) */
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 0);
	before = wal_syncs;
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(wal_syncs, before);
	/* the record that uses the number syncs the log, the step's frames
	 * with it: a statement of its own ... */
	make_volume(&v, "vfs-001", "one", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	assert_true(wal_syncs > before);
	/* ... and a transaction */
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	before = wal_syncs;
	assert_int_equal(store_begin(f->st, &e), 0);
	make_volume(&v, "vfs-002", "two", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	assert_int_equal(store_commit(f->st, &e), 0);
	assert_true(wal_syncs > before);
	/* use counts neither (they count mounts, which no power cut leaves) */
	before = wal_syncs;
	assert_int_equal(store_use_add(f->st, "vfs", "two", "c1", true, &n, &e), 0);
	assert_int_equal(store_use_confirm(f->st, "vfs", "two", "c1", true, &n, &e), 0);
	assert_int_equal(store_use_add(f->st, "vfs", "two", "c2", false, &n, &e), 0);
	assert_int_equal(store_use_remove(f->st, "vfs", "two", "c1", &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(wal_syncs, before);
	/* every other write still syncs: a remove right after a step */
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	before = wal_syncs;
	assert_int_equal(store_volume_delete(f->st, "vfs", "vfs-001", &e), 0);
	assert_true(wal_syncs > before);

	store_close(f->st);
	f->st = NULL;
	sqlite3_vfs_unregister(&vfs);
	/* what was committed is there, counted on */
	assert_int_equal(store_open(f->db, &f->st, &e), 0);
	assert_int_equal(store_next_seq(f->st, "vfs", "volume", &n, &e), 0);
	assert_int_equal(n, 4);
	assert_int_equal(store_use_count(f->st, "vfs", "two", &n, &e), 0);
	assert_int_equal(n, 1);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	sqlite3 *db;

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->db, &f->st, &e), -EPROTO);
	assert_non_null(strstr(e.msg, "newer"));
}

/* The name cache: always the committed truth, whoever changed it. */
static void get_size(struct store *st, const char *name, int expect_r, int64_t size)
{
	struct volume v = { 0 };
	struct err e = ERR_INIT;

	assert_int_equal(store_volume_get_by_name(st, "svc", name, &v, &e), expect_r);
	if (expect_r == 0)
		assert_int_equal(v.size, size);
	volume_release(&v);
}

static void test_cache_follows_writes(void **state)
{
	struct fixture *f = *state;
	struct volume v, got = { 0 };
	struct volume_attachment a = { 0 };
	struct store *other;
	struct err e = ERR_INIT;

	assert_int_equal(store_claim(f->st, 0, &e), 0);
	make_volume(&v, "id1", "Cached", 5);
	assert_int_equal(store_volume_insert(f->st, "svc", &v, &e), 0);
	get_size(f->st, "cached", 0, 5); /* fills the cache */
	get_size(f->st, "CACHED", 0, 5); /* from the cache, any case */

	v.size = 6; /* an update is seen */
	assert_int_equal(store_volume_update(f->st, "svc", &v, &e), 0);
	get_size(f->st, "Cached", 0, 6);

	/* a rolled-back update is not: the cache holds committed rows only */
	assert_int_equal(store_begin(f->st, &e), 0);
	v.size = 7;
	assert_int_equal(store_volume_update(f->st, "svc", &v, &e), 0);
	get_size(f->st, "Cached", 0, 7); /* inside the transaction */
	store_rollback(f->st);
	get_size(f->st, "Cached", 0, 6);

	/* attachments are part of the cached record */
	a.volume_id = "id1";
	a.iid.id = "host-a";
	a.iid.driver = "vfs";
	a.device_name = "/dev/x";
	a.fields = json_pack("{s:s}", "f", "1");
	assert_int_equal(store_attachment_put(f->st, "svc", &a, &e), 0);
	assert_int_equal(store_volume_get_by_name(f->st, "svc", "cached", &got, &e), 0);
	assert_int_equal(got.n_attachments, 1);
	assert_string_equal(got.attachments[0].device_name, "/dev/x");
	assert_string_equal(json_string_value(json_object_get(got.fields, "k")), "v");
	volume_release(&got);
	assert_int_equal(store_attachment_remove(f->st, "svc", "id1", NULL, &e), 0);
	assert_int_equal(store_volume_get_by_name(f->st, "svc", "cached", &got, &e), 0);
	assert_int_equal(got.n_attachments, 0);
	volume_release(&got);

	/* one server per database: a second cannot claim it while we do, and
	 * its lookups (no cache) see our writes */
	assert_int_equal(store_open(f->db, &other, &e), 0);
	assert_int_equal(store_claim(other, 100, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "another rexray server"));
	v.size = 8;
	assert_int_equal(store_volume_update(f->st, "svc", &v, &e), 0);
	get_size(other, "cached", 0, 8);
	get_size(f->st, "cached", 0, 8);
	store_close(other);

	/* and a delete */
	assert_int_equal(store_volume_delete(f->st, "svc", "id1", &e), 0);
	get_size(f->st, "cached", -ENOENT, 0);
	json_decref(a.fields);
	volume_release(&v);
}

/* What a view saw of the volume it was lent. */
struct seen {
	struct store *st;
	int calls;
	bool locked; /* lent under the cache's read lock (from the cache) */
	int64_t size;
	size_t n_att;
	char name[32], field[32], device[32];
};

static int see(void *arg, const struct volume *v, struct err *e)
{
	struct seen *s = arg;
	const char *f = json_string_value(json_object_get(v->fields, "k"));
	int r = pthread_rwlock_trywrlock(&s->st->vc_lock);

	(void)e;
	if (r == 0)
		pthread_rwlock_unlock(&s->st->vc_lock);
	s->locked = r == EBUSY;
	s->calls++;
	s->size = v->size;
	s->n_att = v->n_attachments;
	snprintf(s->name, sizeof(s->name), "%s", v->name);
	snprintf(s->field, sizeof(s->field), "%s", f ? f : "");
	snprintf(s->device, sizeof(s->device), "%s",
		 v->n_attachments ? v->attachments[0].device_name : "");
	return 0;
}

static int refuse(void *arg, const struct volume *v, struct err *e)
{
	(void)arg;
	(void)v;
	return err_set(e, -EBUSY, "refused by the view");
}

static struct seen view(struct store *st, const char *name, int expect_r)
{
	struct seen s = { .st = st };
	struct err e = ERR_INIT;

	assert_int_equal(store_volume_view_by_name(st, "svc", name, see, &s, &e), expect_r);
	assert_int_equal(s.calls, expect_r == 0);
	return s;
}

/* store_volume_view_by_name lends what store_volume_get_by_name gives:
 * from the cache under its read lock when cached, else a copy, in and
 * out of transactions, for both backends. */
static void test_view_lends_the_record(void **state)
{
	struct fixture *f = *state;
	struct volume_attachment a = { .volume_id = "id1", .iid = { .id = "h1" },
				       .device_name = "/dev/x" };
	struct err e = ERR_INIT;
	struct volume v;
	struct seen s;
	bool cached = false;

	assert_int_equal(store_claim(f->st, 0, &e), 0);
	make_volume(&v, "id1", "Cached", 5);
	assert_int_equal(store_volume_insert(f->st, "svc", &v, &e), 0);
	/* PostgreSQL caches once its listener listens */
	for (int i = 0; i < 300 && !cached; i++) {
		get_size(f->st, "cached", 0, 5); /* fills the cache */
		s = view(f->st, "CACHED", 0);
		cached = s.locked;
		if (!cached)
			time_sleep_ms(10);
	}
	assert_true(cached);
	assert_int_equal(s.size, 5);
	assert_string_equal(s.name, "Cached");
	assert_string_equal(s.field, "v");

	v.size = 6; /* a write is seen at once */
	assert_int_equal(store_volume_update(f->st, "svc", &v, &e), 0);
	assert_int_equal(view(f->st, "cached", 0).size, 6);

	/* inside a transaction: its own writes, never the cache */
	assert_int_equal(store_begin(f->st, &e), 0);
	v.size = 7;
	assert_int_equal(store_volume_update(f->st, "svc", &v, &e), 0);
	s = view(f->st, "cached", 0);
	assert_int_equal(s.size, 7);
	assert_false(s.locked);
	store_rollback(f->st);
	assert_int_equal(view(f->st, "cached", 0).size, 6);

	/* attachments are lent too */
	assert_int_equal(store_attachment_put(f->st, "svc", &a, &e), 0);
	get_size(f->st, "cached", 0, 6);
	s = view(f->st, "cached", 0);
	assert_int_equal(s.n_att, 1);
	assert_string_equal(s.device, "/dev/x");
	assert_int_equal(store_attachment_remove(f->st, "svc", "id1", NULL, &e), 0);
	assert_int_equal(view(f->st, "cached", 0).n_att, 0);

	/* the view's own failure is the call's, cached or not */
	get_size(f->st, "cached", 0, 6);
	assert_int_equal(store_volume_view_by_name(f->st, "svc", "cached", refuse, NULL, &e),
			 -EBUSY);
	assert_string_equal(e.msg, "refused by the view");
	assert_int_equal(store_volume_delete(f->st, "svc", "id1", &e), 0);
	view(f->st, "cached", -ENOENT);
	view(f->st, "never", -ENOENT);
	volume_release(&v);
}

static int64_t uses(struct store *st, const char *svc, const char *vol)
{
	struct err e = ERR_INIT;
	int64_t n = -1;

	assert_int_equal(store_use_count(st, svc, vol, &n, &e), 0);
	return n;
}

static void test_use_counts(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	int64_t t = -1;

	assert_int_equal(uses(f->st, "s", "v"), 0);
	assert_int_equal(store_use_add(f->st, "s", "v", "c1", false, &t, &e), 0);
	assert_int_equal(t, 1);
	assert_int_equal(store_use_add(f->st, "s", "v", "c1", false, &t, &e), 0);
	assert_int_equal(t, 2);
	assert_int_equal(store_use_add(f->st, "s", "v", "c2", false, &t, &e), 0);
	assert_int_equal(t, 3);
	/* per service and per volume */
	assert_int_equal(store_use_add(f->st, "other", "v", "c1", false, &t, &e), 0);
	assert_int_equal(t, 1);
	assert_int_equal(uses(f->st, "s", "v"), 3);
	assert_int_equal(uses(f->st, "s", "w"), 0);

	assert_int_equal(store_use_remove(f->st, "s", "v", "c1", &t, &e), 0);
	assert_int_equal(t, 2);
	assert_int_equal(store_use_remove(f->st, "s", "v", "c1", &t, &e), 0);
	assert_int_equal(t, 1);
	/* c1 holds none now: ENOENT, the total still told */
	t = -1;
	assert_int_equal(store_use_remove(f->st, "s", "v", "c1", &t, &e), -ENOENT);
	assert_int_equal(t, 1);
	assert_int_equal(store_use_clear(f->st, "s", "v", &e), 0);
	assert_int_equal(uses(f->st, "s", "v"), 0);
	assert_int_equal(uses(f->st, "other", "v"), 1);

	/* pending: a delivered reply keeps the use, an undelivered one not */
	assert_int_equal(store_use_add(f->st, "s", "p", "c", true, &t, &e), 0);
	assert_int_equal(store_use_confirm(f->st, "s", "p", "c", true, &t, &e), 0);
	assert_int_equal(t, 1);
	assert_int_equal(store_use_add(f->st, "s", "p", "c", true, &t, &e), 0);
	assert_int_equal(t, 2);
	assert_int_equal(store_use_confirm(f->st, "s", "p", "c", false, &t, &e), 0);
	assert_int_equal(t, 1);
	assert_int_equal(store_use_add(f->st, "s", "q", "c", true, &t, &e), 0);
	assert_int_equal(store_use_confirm(f->st, "s", "q", "c", false, &t, &e), 0);
	assert_int_equal(t, 0);
	/* a confirm without a pending use changes nothing */
	assert_int_equal(store_use_confirm(f->st, "s", "p", "c", false, &t, &e), 0);
	assert_int_equal(t, 1);

	/* a crash before the replies: pending uses go at the next start */
	assert_int_equal(store_use_add(f->st, "s", "p", "c", true, &t, &e), 0);
	assert_int_equal(store_use_add(f->st, "s", "r", "c", true, &t, &e), 0);
	assert_int_equal(store_use_add(f->st, "s", "r", "c", true, &t, &e), 0);
	assert_int_equal(uses(f->st, "s", "p"), 2);
	store_close(f->st);
	assert_int_equal(store_open(f->db, &f->st, &e), 0);
	assert_int_equal(store_use_drop_pending(f->st, &e), 0);
	assert_int_equal(uses(f->st, "s", "p"), 1);
	assert_int_equal(uses(f->st, "s", "r"), 0);
	assert_int_equal(uses(f->st, "other", "v"), 1);
}

static void dvdi_row(struct store_dvdi_row *r, const char *cid, int slot, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->container_id = (char *)cid;
	r->slot = slot;
	r->driver = "rexray";
	r->name = (char *)name;
	r->options = "size=1";
	r->container_path = "/data";
	r->explicit_create = 1;
	r->owner = 1;
}

static void test_dvdi_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	struct store_dvdi_row in[2], *rows = NULL;
	size_t n = 0;
	int64_t users = -1;

	dvdi_row(&in[0], "c1", 0, "a");
	dvdi_row(&in[1], "c1", 1, "b");
	assert_int_equal(store_dvdi_add(f->st, in, 2, &e), 0);
	assert_int_equal(store_dvdi_add(f->st, in, 1, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "c1"));
	dvdi_row(&in[0], "c2", 0, "A"); /* the same volume, another case */
	in[0].driver = "REXRAY";
	assert_int_equal(store_dvdi_add(f->st, in, 1, &e), 0);

	assert_int_equal(store_dvdi_rows(f->st, "c1", &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].name, "a");
	assert_int_equal(rows[1].slot, 1);
	assert_string_equal(rows[1].state, "pending");
	assert_string_equal(rows[1].options, "size=1");
	assert_string_equal(rows[1].container_path, "/data");
	assert_string_equal(rows[1].mountpoint, "");
	assert_int_equal(rows[1].explicit_create, 1);
	assert_int_equal(rows[1].owner, 1);
	assert_int_equal(rows[1].bound, 0);
	store_dvdi_rows_free(rows, n);

	assert_int_equal(store_dvdi_update(f->st, "c1", 1, "mounted", "/mnt/b", 1, &e), 0);
	assert_int_equal(store_dvdi_rows(f->st, NULL, &rows, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].container_id, "c1");
	assert_string_equal(rows[1].state, "mounted");
	assert_string_equal(rows[1].mountpoint, "/mnt/b");
	assert_int_equal(rows[1].bound, 1);
	assert_string_equal(rows[2].container_id, "c2");
	store_dvdi_rows_free(rows, n);

	assert_int_equal(store_dvdi_users(f->st, "rexray", "a", "c1", &users, &e), 0);
	assert_int_equal(users, 1);
	assert_int_equal(store_dvdi_users(f->st, "rexray", "a", NULL, &users, &e), 0);
	assert_int_equal(users, 2);
	assert_int_equal(store_dvdi_users(f->st, "rexray", "b", "c1", &users, &e), 0);
	assert_int_equal(users, 0);

	assert_int_equal(store_dvdi_delete(f->st, "c1", 0, &e), 0);
	assert_int_equal(store_dvdi_rows(f->st, "c1", &rows, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].slot, 1);
	store_dvdi_rows_free(rows, n);
	assert_int_equal(store_dvdi_delete(f->st, "c1", -1, &e), 0);
	assert_int_equal(store_dvdi_rows(f->st, "c1", &rows, &n, &e), 0);
	assert_int_equal(n, 0);
	store_dvdi_rows_free(rows, n);
	assert_int_equal(store_dvdi_users(f->st, "rexray", "a", NULL, &users, &e), 0);
	assert_int_equal(users, 1);
}

static void test_claim(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	struct store *other;
	char path[160], *text = NULL, pid[32];

	assert_int_equal(store_claim(f->st, 0, &e), 0);
	assert_int_equal(store_claim(f->st, 0, &e), 0); /* twice is once */
	snprintf(path, sizeof(path), "%s.server", f->db);
	assert_int_equal(fs_read_file(path, 64, &text, NULL), 0);
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	assert_string_equal(text, pid);
	free(text);
	assert_int_equal(store_open(f->db, &other, &e), 0);
	assert_int_equal(store_claim(other, 120, &e), -EBUSY);
	pid[strcspn(pid, "\n")] = '\0';
	assert_non_null(strstr(e.msg, pid));
	/* the first one closed: the second gets it */
	store_close(f->st);
	assert_int_equal(store_claim(other, 0, &e), 0);
	f->st = other;
}

/*
 * Fault loops over the store's writes: the Nth call through the seam
 * (a statement's step, the commit, any file call of ours) fails, for
 * N = 1, 2, ... until one run makes no failing call. A failed write says
 * what failed and changes nothing; the same write then succeeds.
 */
struct store_op {
	const char *name;
	void (*prepare)(struct fixture *f); /* unarmed, before each run */
	int (*run)(struct store *st, struct err *e);
	int64_t (*state)(struct store *st); /* what the write changes */
	int64_t delta;
};

static int op_use_add(struct store *st, struct err *e)
{
	int64_t t;

	return store_use_add(st, "s", "v", "c", false, &t, e);
}

static int op_use_remove(struct store *st, struct err *e)
{
	int64_t t;

	return store_use_remove(st, "s", "v", "c", &t, e);
}

static void add_use(struct fixture *f)
{
	struct err e = ERR_INIT;
	int64_t t;

	assert_int_equal(store_use_add(f->st, "s", "v", "c", false, &t, &e), 0);
}

static void add_pending_use(struct fixture *f)
{
	struct err e = ERR_INIT;
	int64_t t;

	assert_int_equal(store_use_add(f->st, "s", "v", "p", true, &t, &e), 0);
}

static void no_prepare(struct fixture *f) { (void)f; }

static int op_use_take_back(struct store *st, struct err *e)
{
	int64_t t;

	return store_use_confirm(st, "s", "v", "p", false, &t, e);
}

static int64_t use_state(struct store *st) { return uses(st, "s", "v"); }

static int op_dvdi_add(struct store *st, struct err *e)
{
	static int k;
	struct store_dvdi_row rows[2];
	char cid[32];

	snprintf(cid, sizeof(cid), "c%d", k++);
	dvdi_row(&rows[0], cid, 0, "a");
	dvdi_row(&rows[1], cid, 1, "b");
	return store_dvdi_add(st, rows, 2, e);
}

static int64_t dvdi_state(struct store *st)
{
	struct store_dvdi_row *rows = NULL;
	struct err e = ERR_INIT;
	size_t n = 0;

	assert_int_equal(store_dvdi_rows(st, NULL, &rows, &n, &e), 0);
	store_dvdi_rows_free(rows, n);
	return (int64_t)n;
}

static int op_volume_insert(struct store *st, struct err *e)
{
	static int k;
	struct volume v;
	char id[32];
	int r;

	snprintf(id, sizeof(id), "id-%d", k++);
	make_volume(&v, id, id, 1);
	if ((r = store_begin(st, e)) == 0 && (r = store_volume_insert(st, "svc", &v, e)) == 0)
		r = store_commit(st, e);
	else if (r < 0 && r != -EBUSY)
		store_rollback(st);
	volume_release(&v);
	return r;
}

static int64_t volume_state(struct store *st)
{
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;
	int64_t n;

	assert_int_equal(store_volume_list(st, "svc", &l, &e), 0);
	n = (int64_t)l.n;
	volume_list_release(&l);
	return n;
}

/* Reads: a success is the whole answer, never a part of it. */
/* Three volumes, and the store opened again: its statements and cache
 * are made afresh by the read that follows (the first use of each). */
static void three_volumes(struct fixture *f)
{
	struct err e = ERR_INIT;
	struct volume v;

	if (volume_state(f->st) == 0) {
		for (int i = 0; i < 3; i++) {
			char id[16];

			snprintf(id, sizeof(id), "r-%d", i);
			make_volume(&v, id, id, 1);
			assert_int_equal(store_volume_insert(f->st, "svc", &v, &e), 0);
			volume_release(&v);
		}
	}
	store_close(f->st);
	assert_int_equal(store_open(f->db, &f->st, &e), 0);
	assert_int_equal(store_claim(f->st, 0, &e), 0);
}

static int op_list(struct store *st, struct err *e)
{
	struct volume_list l = { 0 };
	int r = store_volume_list(st, "svc", &l, e);

	if (r == 0) {
		assert_true(l.n >= 3);
		volume_list_release(&l);
	}
	return r;
}

static int op_get_by_name(struct store *st, struct err *e)
{
	struct volume v = { 0 };
	int r = store_volume_get_by_name(st, "svc", "r-1", &v, e);

	/* a failed read is never "not found": callers would create it again */
	assert_int_not_equal(r, -ENOENT);
	if (r == 0) {
		assert_string_equal(v.id, "r-1");
		volume_release(&v);
	}
	return r;
}

static int64_t no_state(struct store *st) { (void)st; return 0; }

static const struct store_op store_ops[] = {
	{ "list", three_volumes, op_list, no_state, 0 },
	{ "get_by_name", three_volumes, op_get_by_name, no_state, 0 },
	{ "use_add", no_prepare, op_use_add, use_state, 1 },
	{ "use_remove", add_use, op_use_remove, use_state, -1 },
	{ "use_take_back", add_pending_use, op_use_take_back, use_state, -1 },
	{ "dvdi_add", no_prepare, op_dvdi_add, dvdi_state, 2 },
	{ "volume_insert", no_prepare, op_volume_insert, volume_state, 1 },
};

static void test_fault_loops(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;

	assert_int_equal(store_claim(f->st, 0, &e), 0);
	for (size_t i = 0; i < sizeof(store_ops) / sizeof(store_ops[0]); i++) {
		const struct store_op *op = &store_ops[i];
		unsigned long n;

		for (n = 1; n < 100; n++) {
			struct err fe = ERR_INIT;
			int64_t before, after;
			bool fired;
			int r;

			op->prepare(f);
			before = op->state(f->st);
			sys_fault_arm(SYS_DB, true, n, n % 2 ? EIO : ENOSPC, false);
			r = op->run(f->st, &fe);
			fired = sys_fault_calls() >= n;
			sys_fault_arm(SYS_DB, false, 0, 0, false);
			after = op->state(f->st);
			if (r < 0) {
				assert_true(fired);
				assert_true(fe.msg[0] != '\0');
				assert_int_equal(after, before);
				/* and the same write then succeeds */
				assert_int_equal(op->run(f->st, &fe), 0);
				after = op->state(f->st);
			}
			assert_int_equal(after, before + op->delta);
			if (!fired)
				break;
		}
		print_message("%s: %lu failure points\n", op->name, n - 1);
		assert_true(n > 1);
	}
}

/* Opening: a new database (its migrations) or an existing one, with the
 * Nth database call failing: an error that says so, or a database whose
 * schema is whole; either way the next open works. */
static void test_open_fault_loop(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	char db[160];

	for (int existing = 0; existing < 2; existing++) {
		unsigned long n;

		for (n = 1; n < 200; n++) {
			struct store *st = NULL;
			struct err fe = ERR_INIT;
			bool fired;
			int r;

			snprintf(db, sizeof(db), "%s/o%d-%lu.db", f->dir, existing, n);
			if (existing) {
				assert_int_equal(store_open(db, &st, &e), 0);
				store_close(st);
			}
			sys_fault_arm(SYS_DB, true, n, EIO, false);
			r = store_open(db, &st, &fe);
			fired = sys_fault_calls() >= n;
			sys_fault_arm(SYS_DB, false, 0, 0, false);
			if (r < 0) {
				assert_true(fired);
				assert_true(fe.msg[0] != '\0');
				assert_int_equal(store_open(db, &st, &e), 0);
			}
			assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
			assert_int_equal(op_volume_insert(st, &e), 0);
			store_close(st);
			if (!fired)
				break;
		}
		print_message("open (%s): %lu failure points\n", existing ? "existing" : "new",
			      n - 1);
		assert_true(n > 2);
	}
}

static void test_vcache_entries(void **state)
{
	struct vcache c = { 0 };
	struct volume v, got;
	char id[16], name[16];

	(void)state;
	for (int i = 0; i < 3000; i++) { /* grows the table a few times */
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(name, sizeof(name), "Vol%d", i);
		make_volume(&v, id, name, i);
		if (i % 3 == 0) {
			json_decref(v.fields);
			v.fields = NULL;
		}
		vcache_put(&c, i % 2 ? "a" : "b", &v);
		volume_release(&v);
	}
	assert_int_equal(c.n, 3000);
	assert_int_equal(vcache_get(&c, "a", "VOL1", &got), 0);
	assert_string_equal(got.id, "id1");
	assert_string_equal(got.name, "Vol1");
	assert_int_equal(got.size, 1);
	assert_string_equal(json_string_value(json_object_get(got.fields, "k")), "v");
	volume_release(&got);
	assert_int_equal(vcache_get(&c, "b", "vol1", &got), -ENOENT); /* other service */
	assert_int_equal(vcache_get(&c, "b", "vol6", &got), 0);
	assert_null(got.fields); /* stored without fields */
	volume_release(&got);
	vcache_forget_id(&c, "b", "id2");
	assert_int_equal(vcache_get(&c, "b", "vol2", &got), -ENOENT);
	assert_int_equal(c.n, 2999);
	vcache_forget_id(&c, "a", "id4"); /* id4 is b's: nothing */
	assert_int_equal(c.n, 2999);
	/* a newer row of a name replaces the entry, in both indexes */
	make_volume(&v, "id4", "VOL4", 44);
	vcache_put(&c, "b", &v);
	volume_release(&v);
	assert_int_equal(c.n, 2999);
	assert_int_equal(vcache_get(&c, "b", "vol4", &got), 0);
	assert_int_equal(got.size, 44);
	volume_release(&got);
	vcache_forget_id(&c, "b", "id4");
	assert_int_equal(vcache_get(&c, "b", "vol4", &got), -ENOENT);
	assert_int_equal(c.n, 2998);
	vcache_clear(&c);
	assert_int_equal(c.n, 0);
	assert_int_equal(vcache_get(&c, "a", "vol1", &got), -ENOENT);
}


/* ---- PostgreSQL only ---- */

static void test_pg_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	char sql[64];

	assert_int_equal(pg_admin(f->pgdb, "UPDATE rexray_schema SET version = 99"), 0);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open_uri(f->uri, &f->st, &e), -EPROTO);
	assert_non_null(strstr(e.msg, "newer than this binary"));
	snprintf(sql, sizeof(sql), "UPDATE rexray_schema SET version = %d", STORE_SCHEMA_VERSION);
	assert_int_equal(pg_admin(f->pgdb, sql), 0);
	reopen(f);
}

struct opener {
	const char *uri;
	int r;
	struct store *st;
};

static void *open_one(void *arg)
{
	struct opener *o = arg;
	struct err e = ERR_INIT;

	o->r = store_open_uri(o->uri, &o->st, &e);
	return NULL;
}

/* Servers that start together on a new database migrate it once. */
static void test_pg_concurrent_migrations(void **state)
{
	struct fixture *f = *state;
	char uri[512];
	struct opener o[4];
	pthread_t t[4];

	assert_int_equal(pg_admin("postgres", "CREATE DATABASE rrt_fresh"), 0);
	pg_uri(uri, sizeof(uri), "rrt_fresh");
	for (int i = 0; i < 4; i++) {
		o[i] = (struct opener){ .uri = uri };
		assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(o[i].r, 0);
		assert_int_equal(store_schema_version(o[i].st), STORE_SCHEMA_VERSION);
		store_close(o[i].st);
	}
	assert_int_equal(pg_admin("postgres", "DROP DATABASE rrt_fresh WITH (FORCE)"), 0);
	(void)f;
}

struct locker {
	struct store *st;
	const char *key;
	long long got_at;
};

static void *lock_one(void *arg)
{
	struct locker *l = arg;
	struct store_key_lock *k = NULL;
	struct err e = ERR_INIT;

	assert_int_equal(store_key_lock(l->st, l->key, &k, &e), 0);
	l->got_at = time_now_ms();
	store_key_unlock(l->st, k);
	return NULL;
}

/* A key lock holds across two connections to the database (two servers). */
static void test_pg_key_lock_across_servers(void **state)
{
	struct fixture *f = *state;
	struct store_key_lock *k = NULL, *other = NULL;
	struct locker l = { 0 };
	struct store *st2;
	struct err e = ERR_INIT;
	long long released;
	pthread_t t;

	assert_true(store_is_shared(f->st));
	assert_int_equal(store_open_uri(f->uri, &st2, &e), 0);
	assert_int_equal(store_key_lock(f->st, "vfs\nvfs-000", &k, &e), 0);
	assert_non_null(k);
	/* another key is free */
	assert_int_equal(store_key_lock(st2, "vfs\nvfs-001", &other, &e), 0);
	store_key_unlock(st2, other);
	l.st = st2;
	l.key = "vfs\nvfs-000";
	assert_int_equal(pthread_create(&t, NULL, lock_one, &l), 0);
	time_sleep_ms(300);
	released = time_now_ms();
	store_key_unlock(f->st, k);
	pthread_join(t, NULL);
	assert_true(l.got_at >= released);
	store_close(st2);
}

/* Two servers see each other's writes at once (no cache in between), and
 * a transaction's rows only once committed. */
static void test_pg_two_servers_one_truth(void **state)
{
	struct fixture *f = *state;
	struct volume v, got;
	struct store *st2;
	struct err e = ERR_INIT;

	assert_int_equal(store_open_uri(f->uri, &st2, &e), 0);
	assert_int_equal(store_claim(f->st, 0, &e), 0);
	assert_int_equal(store_claim(st2, 0, &e), 0); /* both serve */
	make_volume(&v, "vfs-000", "shared", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	assert_int_equal(store_volume_get_by_name(st2, "vfs", "SHARED", &got, &e), 0);
	volume_release(&got);
	v.size = 9;
	assert_int_equal(store_volume_update(st2, "vfs", &v, &e), 0);
	assert_int_equal(store_volume_get_by_name(f->st, "vfs", "shared", &got, &e), 0);
	assert_int_equal(got.size, 9);
	volume_release(&got);
	/* the same name from the other server: exactly one volume */
	volume_release(&v);
	make_volume(&v, "vfs-001", "Shared", 1);
	assert_int_equal(store_volume_insert(st2, "vfs", &v, &e), -EEXIST);
	volume_release(&v);

	assert_int_equal(store_begin(f->st, &e), 0);
	make_volume(&v, "vfs-002", "later", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	assert_int_equal(store_volume_get(st2, "vfs", "vfs-002", &got, &e), -ENOENT);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-002", &got, &e), 0);
	volume_release(&got);
	assert_int_equal(store_commit(f->st, &e), 0);
	assert_int_equal(store_volume_get(st2, "vfs", "vfs-002", &got, &e), 0);
	volume_release(&got);
	volume_release(&v);
	store_close(st2);
}


/* Leases and revocations as rows: what any server of the database sees. */
static void test_pg_leases(void **state)
{
	struct fixture *f = *state;
	const char *svcs[] = { "loop" }, *hosts[] = { "HostB" };
	struct volume_ref *rv = NULL;
	struct store *st2;
	struct err e = ERR_INIT;
	bool open, fenced;
	long long left;
	size_t n = 0;

	assert_int_equal(store_open_uri(f->uri, &st2, &e), 0);
	assert_int_equal(store_lease_set(f->st, "loop", "hostb", 60000, false, &e), 0);
	/* a preempt on server 1 revokes B: B's renewal on server 2 sees it */
	assert_int_equal(store_lease_revoke(f->st, "loop", "loop-000", "hostb", 15000, &e), 0);
	assert_int_equal(store_lease_revoked(st2, svcs, hosts, 1, &rv, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rv[0].volume_id, "loop-000");
	volume_refs_free(rv, n);
	assert_int_equal(store_lease_revocation(f->st, "loop", "loop-000", "hostb", &open, &fenced,
						&left, &e), 0);
	assert_true(open && !fenced);
	assert_true(left > 55000 && left <= 60000); /* B's lease, not the default */
	/* B confirms through server 2; server 1 sees the fence */
	assert_int_equal(store_lease_fenced(st2, "loop", "loop-000", "HOSTB", false, &e), 0);
	assert_int_equal(store_lease_revocation(f->st, "loop", "loop-000", "hostb", &open, &fenced,
						&left, &e), 0);
	assert_true(open && fenced);
	assert_int_equal(store_lease_revoked(st2, svcs, hosts, 1, &rv, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_lease_fenced(f->st, "loop", "loop-000", "hostb", true, &e), 0);
	assert_int_equal(store_lease_revocation(f->st, "loop", "loop-000", "hostb", &open, &fenced,
						&left, &e), 0);
	assert_false(open);
	/* a holder never heard of gets the default lease */
	assert_int_equal(store_lease_revoke(st2, "loop", "loop-001", "hostc", 15000, &e), 0);
	assert_int_equal(store_lease_revocation(f->st, "loop", "loop-001", "hostc", &open, &fenced,
						&left, &e), 0);
	assert_true(open && left > 10000 && left <= 15000);
	store_close(st2);
	/* SQLite keeps none: its server does, in memory */
}

static void test_sqlite_keeps_no_leases(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;

	assert_false(store_is_shared(f->st));
	assert_int_equal(store_lease_set(f->st, "loop", "a", 1000, false, &e), -ENOTSUP);
}

/* Within a notification's delay, a server's cache follows what another
 * server changed; the first read after the change is never older. */
static int64_t size_on(struct store *st, const char *name)
{
	struct volume v;
	struct err e = ERR_INIT;
	int r = store_volume_get_by_name(st, "vfs", name, &v, &e);
	int64_t size = r == 0 ? v.size : r;

	if (r == 0)
		volume_release(&v);
	return size;
}

static bool becomes(struct store *st, const char *name, int64_t want)
{
	for (int i = 0; i < 200; i++) {
		if (size_on(st, name) == want)
			return true;
		time_sleep_ms(10);
	}
	return false;
}

static void test_pg_cache_hears_other_servers(void **state)
{
	struct fixture *f = *state;
	struct volume v;
	struct volume_attachment a = { .volume_id = "vfs-000", .iid = { .id = "h1" } };
	struct store *st2;
	struct err e = ERR_INIT;
	struct volume got;

	assert_int_equal(store_open_uri(f->uri, &st2, &e), 0);
	assert_int_equal(store_claim(f->st, 0, &e), 0);
	assert_int_equal(store_claim(st2, 0, &e), 0);
	time_sleep_ms(200); /* the listeners listen */
	make_volume(&v, "vfs-000", "cached", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	assert_int_equal(size_on(st2, "cached"), 1); /* now in st2's cache */
	assert_int_equal(size_on(st2, "CACHED"), 1);
	v.size = 2;
	assert_int_equal(store_volume_update(f->st, "vfs", &v, &e), 0);
	assert_true(becomes(st2, "cached", 2));
	/* an attachment is part of the record */
	assert_int_equal(store_attachment_put(f->st, "vfs", &a, &e), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(store_volume_get_by_name(st2, "vfs", "cached", &got, &e), 0);
		size_t n = got.n_attachments;
		volume_release(&got);
		if (n == 1)
			break;
		assert_true(i < 199);
		time_sleep_ms(10);
	}
	/* a rolled-back change leaves the cache true */
	assert_int_equal(store_begin(st2, &e), 0);
	v.size = 3;
	assert_int_equal(store_volume_update(st2, "vfs", &v, &e), 0);
	assert_int_equal(size_on(st2, "cached"), 3); /* its own transaction */
	store_rollback(st2);
	assert_int_equal(size_on(st2, "cached"), 2);
	assert_int_equal(size_on(f->st, "cached"), 2);
	assert_int_equal(store_volume_delete(f->st, "vfs", "vfs-000", &e), 0);
	assert_true(becomes(st2, "cached", -ENOENT));
	volume_release(&v);
	store_close(st2);
}

struct tx_reader {
	struct store *st;
	long long got_at;
};

static void *read_in_tx(void *arg)
{
	struct tx_reader *t = arg;
	struct volume v;
	struct err e = ERR_INIT;

	assert_int_equal(store_begin(t->st, &e), 0);
	assert_int_equal(store_volume_get(t->st, "vfs", "vfs-000", &v, &e), 0);
	t->got_at = time_now_ms();
	volume_release(&v);
	store_rollback(t->st);
	return NULL;
}

/* A volume read inside a transaction is locked until its end: two
 * servers' changes of one volume take turns in the database itself. */
static void test_pg_tx_reads_lock_the_row(void **state)
{
	struct fixture *f = *state;
	struct tx_reader t = { 0 };
	struct volume v;
	struct store *st2;
	struct err e = ERR_INIT;
	long long released;
	pthread_t th;

	assert_int_equal(store_open_uri(f->uri, &st2, &e), 0);
	make_volume(&v, "vfs-000", "locked", 1);
	assert_int_equal(store_volume_insert(f->st, "vfs", &v, &e), 0);
	volume_release(&v);
	assert_int_equal(store_begin(f->st, &e), 0);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &v, &e), 0);
	volume_release(&v);
	t.st = st2;
	assert_int_equal(pthread_create(&th, NULL, read_in_tx, &t), 0);
	time_sleep_ms(300);
	released = time_now_ms();
	assert_int_equal(store_commit(f->st, &e), 0);
	pthread_join(th, NULL);
	assert_true(t.got_at >= released);
	/* outside a transaction a read never waits */
	assert_int_equal(store_begin(f->st, &e), 0);
	assert_int_equal(store_volume_get(f->st, "vfs", "vfs-000", &v, &e), 0);
	volume_release(&v);
	assert_int_equal(store_volume_get(st2, "vfs", "vfs-000", &v, &e), 0);
	volume_release(&v);
	store_rollback(f->st);
	store_close(st2);
}

static void test_pg_unavailable(void **state)
{
	struct store *st = NULL;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(store_open_uri("postgresql:///x?host=/nonexistent-dir&port=1", &st, &e),
			 -ENOTCONN);
	assert_null(st);
	assert_non_null(strstr(e.msg, "the database is unavailable"));
	assert_int_equal(store_open_uri("mysql://x", &st, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "postgres://"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_get_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_name_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_of_an_unknown_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequences_and_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_step_syncs_with_its_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_follows_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_lends_the_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_use_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dvdi_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fault_loop, setup, teardown),
		cmocka_unit_test(test_vcache_entries),
		cmocka_unit_test_setup_teardown(test_sqlite_keeps_no_leases, setup, teardown),
	};

	/* the tests that hold for every backend, and PostgreSQL's own */
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_version, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_snapshots, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_insert_get_list, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_duplicate_name_refused, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_attachments, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_update_of_an_unknown_volume, setup_pg,
						teardown_pg),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_sequences_and_persistence, setup_pg,
						teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_newer_schema_refused, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_concurrent_migrations, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_key_lock_across_servers, setup_pg,
						teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_two_servers_one_truth, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_leases, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_tx_reads_lock_the_row, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_view_lends_the_record, setup_pg, teardown_pg),
		cmocka_unit_test_setup_teardown(test_pg_cache_hears_other_servers, setup_pg,
						teardown_pg),
		cmocka_unit_test(test_pg_unavailable),
	};
	int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);

	if (!getenv("RR_TEST_PG_HOST")) {
		/* scripts/run-tests always starts one; by hand, say so */
		printf("postgres: RR_TEST_PG_HOST is not set (tests/pgscratch.py start DIR): "
		       "its %zu tests not run\n", sizeof(pg_tests) / sizeof(pg_tests[0]));
		return failed;
	}
	return failed + cmocka_run_group_tests_name("postgres", pg_tests, NULL, NULL);
}
