/* db.c: SQLite opened the way ferry keeps state: WAL, synchronous=FULL,
 * numbered migrations. */
#include <pthread.h>
#include <stdio.h>

#include "db.h"
#include "ferr.h"

/*
 * Statements kept prepared, for every connection of the process: a ping
 * runs the same few statements each time, and parsing them again was a
 * measurable part of its cost.  One table for all connections (the agent
 * opens one per worker thread), under a lock; a slot is keyed by the
 * connection and the literal's address.
 */
#define STMT_SLOTS	128

static struct stmt_slot {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *s;
	int busy;
} slots[STMT_SLOTS];
static pthread_mutex_t slots_mtx = PTHREAD_MUTEX_INITIALIZER;

sqlite3_stmt *
db_prep(sqlite3 *db, const char *sql)
{
	struct stmt_slot *free_slot = NULL, *sl;
	sqlite3_stmt *s = NULL;

	pthread_mutex_lock(&slots_mtx);
	for (sl = slots; sl < slots + STMT_SLOTS; sl++) {
		if (sl->db == db && sl->sql == sql && !sl->busy) {
			sl->busy = 1;
			pthread_mutex_unlock(&slots_mtx);
			return sl->s;
		}
		if (sl->db == NULL && free_slot == NULL)
			free_slot = sl;
	}
	if (free_slot != NULL)
		free_slot->db = db;	/* taken: filled in below */
	pthread_mutex_unlock(&slots_mtx);
	if (sqlite3_prepare_v3(db, sql, -1, free_slot != NULL ?
	    SQLITE_PREPARE_PERSISTENT : 0, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		s = NULL;
	}
	if (free_slot != NULL) {
		pthread_mutex_lock(&slots_mtx);
		if (s == NULL) {
			free_slot->db = NULL;
		} else {
			free_slot->sql = sql;
			free_slot->s = s;
			free_slot->busy = 1;
		}
		pthread_mutex_unlock(&slots_mtx);
	}
	return s;
}

void
db_release(sqlite3_stmt *s)
{
	struct stmt_slot *sl;

	if (s == NULL)
		return;
	pthread_mutex_lock(&slots_mtx);
	for (sl = slots; sl < slots + STMT_SLOTS; sl++)
		if (sl->s == s) {
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			sl->busy = 0;
			pthread_mutex_unlock(&slots_mtx);
			return;
		}
	pthread_mutex_unlock(&slots_mtx);
	sqlite3_finalize(s);
}

void
db_close(sqlite3 *db)
{
	struct stmt_slot *sl;

	if (db == NULL)
		return;
	pthread_mutex_lock(&slots_mtx);
	for (sl = slots; sl < slots + STMT_SLOTS; sl++)
		if (sl->db == db) {
			sqlite3_finalize(sl->s);
			sl->db = NULL;
			sl->sql = NULL;
			sl->s = NULL;
			sl->busy = 0;
		}
	pthread_mutex_unlock(&slots_mtx);
	sqlite3_close(db);
}

/* run: one statement of a literal, through the kept statements. */
static int
run(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = db_prep(db, sql);
	int rc;

	if (s == NULL)
		return FERR_STORE;
	rc = sqlite3_step(s);
	db_release(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : FERR_STORE;
}

int
db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : FERR_STORE;
}

int
db_begin(sqlite3 *db)
{
	return run(db, "BEGIN IMMEDIATE");
}

int
db_finish(sqlite3 *db, int rc)
{
	if (rc == 0 && run(db, "COMMIT") == 0)
		return 0;
	run(db, "ROLLBACK");
	return rc != 0 ? rc : FERR_STORE;
}

static int
durable(sqlite3 *db, int on)
{
	return run(db, on ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL");
}

int
db_begin_as(sqlite3 *db, int wait)
{
	int rc;

	if (!wait && durable(db, 0) != 0)
		return FERR_STORE;
	if ((rc = db_begin(db)) != 0 && !wait)
		durable(db, 1);
	return rc;
}

int
db_finish_as(sqlite3 *db, int wait, int rc)
{
	rc = db_finish(db, rc);
	if (!wait && durable(db, 1) != 0 && rc == 0)
		rc = FERR_STORE;
	return rc;
}

int
db_step_done(sqlite3_stmt *s)
{
	int rc;

	if (s == NULL)
		return FERR_STORE;
	rc = sqlite3_step(s);
	db_release(s);
	if (rc == SQLITE_CONSTRAINT)
		return FERR_EXISTS;
	return rc == SQLITE_DONE ? 0 : FERR_STORE;
}

int
db_update_one(sqlite3 *db, sqlite3_stmt *s)
{
	int rc = db_step_done(s);

	if (rc == 0 && sqlite3_changes(db) == 0)
		return FERR_NOTFOUND;
	return rc;
}

int
db_version(sqlite3 *db)
{
	sqlite3_stmt *s = db_prep(db, "PRAGMA user_version");
	int v = -1;

	if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	db_release(s);
	return v;
}

int
db_open(sqlite3 **out, const char *path, const char *const *migrations,
    int n)
{
	return db_open_with(out, path, migrations, n, NULL);
}

int
db_open_with(sqlite3 **out, const char *path, const char *const *migrations,
    int n, int (*prepare)(sqlite3 *db))
{
	sqlite3 *db = NULL;
	char sql[64];
	int v, rc = FERR_STORE;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, 5000);
	if (db_exec(db, "PRAGMA journal_mode = WAL") != 0 ||
	    db_exec(db, "PRAGMA synchronous = FULL") != 0 ||
	    db_exec(db, "PRAGMA foreign_keys = ON") != 0)
		goto fail;
	if (prepare != NULL && prepare(db) != 0)
		goto fail;
	if ((v = db_version(db)) < 0)
		goto fail;
	if (v > n) {
		rc = FERR_VERSION;
		goto fail;
	}
	for (; v < n; v++) {
		if ((rc = db_begin(db)) != 0)
			goto fail;
		rc = db_exec(db, migrations[v]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (rc == 0)
			rc = db_exec(db, sql);
		if ((rc = db_finish(db, rc)) != 0)
			goto fail;
	}
	*out = db;
	return 0;
fail:
	db_close(db);
	return rc;
}
