/*
 * snapshots: the snapshot records of the drivers that keep them in the
 * store (store/store.h says what each call guarantees).
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_COLS "id,name,description,volume_id,volume_size,encrypted,status,fields,start_time"

int sq_snapshot_insert(struct store *st, const char *service, const struct snapshot *s,
			  struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = sti_run(st, "insert snapshot", NULL, e,
		    "INSERT INTO snapshots(service,id,name,description,volume_id,volume_size,"
		    "encrypted,status,fields,start_time) VALUES(?,?,?,?,?,?,?,?,?,?)", "tttttlitjl",
		    service, s->id, s->name ? s->name : "", s->description,
		    s->volume_id ? s->volume_id : "", (int64_t)s->volume_size, (int)s->encrypted,
		    s->status, s->fields, (int64_t)s->start_time);
	if (r == -EEXIST)
		err_set(e, -EEXIST, "a snapshot with the ID '%s' already exists", s->id);
	pthread_mutex_unlock(&st->mu);
	return r;
}

static int row_to_snapshot(sqlite3_stmt *s, struct snapshot *out)
{
	bool ok = true;

	memset(out, 0, sizeof(*out));
	out->id = sti_col_text(s, 0, &ok);
	out->name = sti_col_text(s, 1, &ok);
	out->description = sti_col_text(s, 2, &ok);
	out->volume_id = sti_col_text(s, 3, &ok);
	out->volume_size = sqlite3_column_int64(s, 4);
	out->encrypted = sqlite3_column_int(s, 5) != 0;
	out->status = sti_col_text(s, 6, &ok);
	out->fields = sti_col_json(s, 7);
	out->start_time = sqlite3_column_int64(s, 8);
	if (!ok) {
		snapshot_release(out);
		return -ENOMEM;
	}
	return 0;
}

/* The rows of sql (bound to service, and key when not NULL) into l. */
static int query(struct store *st, const char *sql, const char *service, const char *key,
		 struct snapshot_list *l, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, sql, &s, e)) < 0)
		goto out;
	sti_bind_text(s, 1, service);
	if (key)
		sti_bind_text(s, 2, key);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct snapshot one;
		if (row_to_snapshot(s, &one) < 0 || snapshot_list_push(l, &one) < 0) {
			snapshot_release(&one);
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		r = sti_db_err(st, e, rc, "read snapshots");
out:
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	if (r < 0)
		snapshot_list_release(l);
	return r;
}

int sq_snapshot_get(struct store *st, const char *service, const char *id,
		       struct snapshot *out, struct err *e)
{
	struct snapshot_list l = { 0 };
	int r = query(st, "SELECT " SNAPSHOT_COLS " FROM snapshots WHERE service=? AND id=?",
		      service, id, &l, e);

	return sti_one_snapshot(&l, r, out, e);
}

int sq_snapshot_list(struct store *st, const char *service, struct snapshot_list *out,
			struct err *e)
{
	memset(out, 0, sizeof(*out));
	return query(st, "SELECT " SNAPSHOT_COLS " FROM snapshots WHERE service=? ORDER BY id",
		     service, NULL, out, e);
}

int sq_snapshot_delete(struct store *st, const char *service, const char *id, struct err *e)
{
	int r, changes = 0;

	pthread_mutex_lock(&st->mu);
	r = sti_run(st, "delete snapshot", &changes, e,
		    "DELETE FROM snapshots WHERE service=? AND id=?", "tt", service, id);
	if (r == 0 && changes == 0)
		r = err_set(e, -ENOENT, "resource not found");
	pthread_mutex_unlock(&st->mu);
	return r;
}
