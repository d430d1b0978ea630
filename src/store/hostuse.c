/*
 * hostuse: this host's side of the store: the use counts of the volumes
 * mounted here, keyed by (service, volume, caller), pending until their
 * reply went out; and the DVDI checkpoint (store/store.h says what each
 * call guarantees). Use counts commit without a sync of their own
 * (sq_begin_relaxed says why); the DVDI checkpoint syncs each commit.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static char *dup_col(sqlite3_stmt *s, int i, bool *ok);

/* ---- use counts ---- */

static int use_total(struct store *st, const char *service, const char *volume, int64_t *out,
		     struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	if ((r = sti_prep(st, "SELECT COALESCE(SUM(count),0) FROM use_counts WHERE service=? AND "
			  "volume=?", &s, e)) < 0)
		return r;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, volume);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else
		r = sti_db_err(st, e, rc, "read use count");
	sti_unprep(st, s);
	return r;
}

int store_use_count(struct store *st, const char *service, const char *volume, int64_t *out,
		    struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = use_total(st, service, volume, out, e);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int store_use_add(struct store *st, const char *service, const char *volume, const char *caller,
		  bool pending, int64_t *total, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = sq_begin_relaxed(st, e)) < 0)
		return r;
	if ((r = sti_prep(st, "INSERT INTO use_counts(service,volume,caller,count,pending) "
			  "VALUES(?,?,?,1,?) ON CONFLICT(service,volume,caller) DO UPDATE SET "
			  "count = count + 1, pending = pending + excluded.pending, "
			  "updated_at = strftime('%s','now')", &s, e)) < 0)
		goto fail;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, volume);
	sti_bind_text(s, 3, caller);
	sqlite3_bind_int(s, 4, pending ? 1 : 0);
	if ((r = sti_step_done(st, s, "count a use", e)) < 0 ||
	    (r = use_total(st, service, volume, total, e)) < 0)
		goto fail;
	r = 0;
fail:
	return sti_finish(st, s, r, e);
}

int store_use_remove(struct store *st, const char *service, const char *volume,
		     const char *caller, int64_t *total, struct err *e)
{
	int r, changed = 0;

	if ((r = sq_begin_relaxed(st, e)) < 0)
		return r;
	r = sti_run(st, "uncount a use", &changed, e,
		    "UPDATE use_counts SET count = count - 1 WHERE service=? AND volume=? AND "
		    "caller=? AND count > 1", "ttt", service, volume, caller);
	if (r == 0 && !changed)
		r = sti_run(st, "uncount a use", &changed, e,
			    "DELETE FROM use_counts WHERE service=? AND volume=? AND caller=?", "ttt",
			    service, volume, caller);
	if (r == 0)
		r = use_total(st, service, volume, total, e);
	if (r < 0) {
		sq_rollback(st);
		return r;
	}
	if ((r = sq_commit(st, e)) < 0)
		return r;
	return changed ? 0 : -ENOENT;
}

int store_use_totals(struct store *st, store_use_total_fn fn, void *arg, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, "SELECT service,COUNT(DISTINCT volume),SUM(count) FROM use_counts "
			  "WHERE count > 0 GROUP BY service ORDER BY service", &s, e)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *svc = (const char *)sqlite3_column_text(s, 0);
		fn(arg, svc ? svc : "", sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2));
	}
	if (rc != SQLITE_DONE)
		r = sti_db_err(st, e, rc, "read use counts");
out:
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int store_use_list(struct store *st, const char *service, const char *volume,
		   struct store_use **out, size_t *n, struct err *e)
{
	struct store_use *u = NULL;
	sqlite3_stmt *s = NULL;
	size_t cnt = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, "SELECT caller,count,pending FROM use_counts WHERE service=? AND "
			  "volume=? ORDER BY caller", &s, e)) < 0)
		goto out;
	sti_bind_text(s, 1, service);
	sti_bind_text(s, 2, volume);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_use *nu = realloc(u, (cnt + 1) * sizeof(*nu));
		bool ok = true;

		if (!nu) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
		u = nu;
		u[cnt].caller = dup_col(s, 0, &ok);
		u[cnt].count = sqlite3_column_int64(s, 1);
		u[cnt].pending = sqlite3_column_int64(s, 2);
		cnt++;
		if (!ok) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = sti_db_err(st, e, rc, "read use counts");
		goto out;
	}
	*out = u;
	*n = cnt;
	u = NULL;
	cnt = 0;
out:
	store_use_list_free(u, cnt);
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

void store_use_list_free(struct store_use *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++)
		free(u[i].caller);
	free(u);
}

int store_use_clear(struct store *st, const char *service, const char *volume, struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = sti_run(st, "clear use counts", NULL, e,
		    "DELETE FROM use_counts WHERE service=? AND volume=?", "tt", service, volume);
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- DVDI checkpoint ---- */

int store_dvdi_add(struct store *st, const struct store_dvdi_row *rows, size_t n, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r = 0, rc;

	if ((r = sq_begin(st, e)) < 0)
		return r;
	if ((r = sti_prep(st, "SELECT 1 FROM dvdi_mounts WHERE container_id=? LIMIT 1", &s, e)) < 0)
		goto fail;
	sti_bind_text(s, 1, n ? rows[0].container_id : "");
	rc = sqlite3_step(s);
	sti_unprep(st, s);
	s = NULL;
	if (rc == SQLITE_ROW) {
		r = err_set(e, -EEXIST, "container '%s' has already been prepared",
			    rows[0].container_id);
		goto fail;
	}
	if ((r = sti_prep(st, "INSERT INTO dvdi_mounts(container_id,slot,driver,name,options,"
			  "container_path,explicit_create,state,mountpoint,owner) "
			  "VALUES(?,?,?,?,?,?,?,?,?,?)", &s, e)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sti_bind_text(s, 1, rows[i].container_id);
		sqlite3_bind_int(s, 2, rows[i].slot);
		sti_bind_text(s, 3, rows[i].driver);
		sti_bind_text(s, 4, rows[i].name);
		sti_bind_text(s, 5, rows[i].options ? rows[i].options : "");
		sti_bind_text(s, 6, rows[i].container_path ? rows[i].container_path : "");
		sqlite3_bind_int(s, 7, rows[i].explicit_create);
		sti_bind_text(s, 8, rows[i].state ? rows[i].state : "pending");
		sti_bind_text(s, 9, rows[i].mountpoint ? rows[i].mountpoint : "");
		sqlite3_bind_int(s, 10, rows[i].owner);
		if ((r = sti_step_done(st, s, "checkpoint a DVDI mount", e)) < 0)
			goto fail;
	}
	r = 0;
fail:
	return sti_finish(st, s, r, e);
}

int store_dvdi_update(struct store *st, const char *container_id, int slot, const char *state,
		      const char *mountpoint, int bound, struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	r = sti_run(st, "update a DVDI mount", NULL, e,
		    "UPDATE dvdi_mounts SET state=?, mountpoint=?, bound=? WHERE container_id=? "
		    "AND slot=?", "ttiti", state, mountpoint ? mountpoint : "", bound,
		    container_id, slot);
	pthread_mutex_unlock(&st->mu);
	return r;
}

static char *dup_col(sqlite3_stmt *s, int i, bool *ok)
{
	char *t = sti_col_text(s, i, ok);

	if (!t && *ok) {
		t = strdup("");
		*ok = t != NULL;
	}
	return t;
}

int store_dvdi_rows(struct store *st, const char *container_id, struct store_dvdi_row **out,
		    size_t *n, struct err *e)
{
	struct store_dvdi_row *rows = NULL;
	sqlite3_stmt *s = NULL;
	size_t cnt = 0;
	int r, rc;

	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, container_id
			  ? "SELECT container_id,slot,driver,name,options,container_path,"
			    "explicit_create,state,mountpoint,bound,owner FROM dvdi_mounts "
			    "WHERE container_id=? ORDER BY slot"
			  : "SELECT container_id,slot,driver,name,options,container_path,"
			    "explicit_create,state,mountpoint,bound,owner FROM dvdi_mounts "
			    "ORDER BY container_id, slot", &s, e)) < 0)
		goto out;
	if (container_id)
		sti_bind_text(s, 1, container_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_dvdi_row *nr = realloc(rows, (cnt + 1) * sizeof(*nr));
		bool ok = true;
		if (!nr) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
		rows = nr;
		memset(&rows[cnt], 0, sizeof(rows[cnt]));
		rows[cnt].container_id = dup_col(s, 0, &ok);
		rows[cnt].slot = sqlite3_column_int(s, 1);
		rows[cnt].driver = dup_col(s, 2, &ok);
		rows[cnt].name = dup_col(s, 3, &ok);
		rows[cnt].options = dup_col(s, 4, &ok);
		rows[cnt].container_path = dup_col(s, 5, &ok);
		rows[cnt].explicit_create = sqlite3_column_int(s, 6);
		rows[cnt].state = dup_col(s, 7, &ok);
		rows[cnt].mountpoint = dup_col(s, 8, &ok);
		rows[cnt].bound = sqlite3_column_int(s, 9);
		rows[cnt].owner = sqlite3_column_int(s, 10);
		cnt++;
		if (!ok) {
			r = err_set(e, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = sti_db_err(st, e, rc, "read the DVDI checkpoint");
		goto out;
	}
	*out = rows;
	*n = cnt;
	rows = NULL;
	cnt = 0;
out:
	store_dvdi_rows_free(rows, cnt);
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

void store_dvdi_rows_free(struct store_dvdi_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].container_id);
		free(rows[i].driver);
		free(rows[i].name);
		free(rows[i].options);
		free(rows[i].container_path);
		free(rows[i].state);
		free(rows[i].mountpoint);
	}
	free(rows);
}

int store_dvdi_users(struct store *st, const char *driver, const char *name,
		     const char *except_container, int64_t *count, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	pthread_mutex_lock(&st->mu);
	if ((r = sti_prep(st, "SELECT COUNT(DISTINCT container_id) FROM dvdi_mounts WHERE driver=? "
			  "AND name=? AND container_id<>?", &s, e)) == 0) {
		sti_bind_text(s, 1, driver);
		sti_bind_text(s, 2, name);
		sti_bind_text(s, 3, except_container ? except_container : "");
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*count = sqlite3_column_int64(s, 0);
		else
			r = sti_db_err(st, e, rc, "count DVDI users");
	}
	sti_unprep(st, s);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int store_dvdi_delete(struct store *st, const char *container_id, int slot, struct err *e)
{
	int r;

	pthread_mutex_lock(&st->mu);
	if (slot < 0)
		r = sti_run(st, "delete DVDI mounts", NULL, e,
			    "DELETE FROM dvdi_mounts WHERE container_id=?", "t", container_id);
	else
		r = sti_run(st, "delete DVDI mounts", NULL, e,
			    "DELETE FROM dvdi_mounts WHERE container_id=? AND slot=?", "ti",
			    container_id, slot);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int store_use_confirm(struct store *st, const char *service, const char *volume,
		      const char *caller, bool delivered, int64_t *total, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = sq_begin_relaxed(st, e)) < 0)
		return r;
	/* counts stay positive (CHECK): the last use goes with its row */
	static const char *const taken_back[] = {
		"DELETE FROM use_counts WHERE service=? AND volume=? AND caller=? AND "
		"pending > 0 AND count = 1",
		"UPDATE use_counts SET pending = pending - 1, count = count - 1 WHERE "
		"service=? AND volume=? AND caller=? AND pending > 0 AND count > 1",
	};
	static const char *const kept[] = {
		"UPDATE use_counts SET pending = pending - 1 WHERE service=? AND volume=? AND "
		"caller=? AND pending > 0",
	};
	const char *const *sql = delivered ? kept : taken_back;
	size_t nsql = delivered ? 1 : 2;

	for (size_t i = 0; i < nsql; i++) {
		if ((r = sti_prep(st, sql[i], &s, e)) < 0)
			goto fail;
		sti_bind_text(s, 1, service);
		sti_bind_text(s, 2, volume);
		sti_bind_text(s, 3, caller);
		if ((r = sti_step_done(st, s, "confirm a use", e)) < 0)
			goto fail;
		sti_unprep(st, s);
		s = NULL;
		if (sqlite3_changes(st->db))
			break;
	}
	if ((r = use_total(st, service, volume, total, e)) < 0)
		goto fail;
	return sq_commit(st, e);
fail:
	sti_unprep(st, s);
	sq_rollback(st);
	return r;
}

int store_use_drop_pending(struct store *st, struct err *e)
{
	int r;

	if ((r = sq_begin(st, e)) < 0)
		return r;
	if ((r = sti_exec_sql(st, "DELETE FROM use_counts WHERE pending > 0 AND count <= pending; "
			      "UPDATE use_counts SET count = count - pending, pending = 0 "
			      "WHERE pending > 0", e)) < 0) {
		sq_rollback(st);
		return r;
	}
	return sq_commit(st, e);
}
