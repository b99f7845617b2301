/* db.c: SQLite opened the way ferry keeps state: WAL, synchronous=FULL,
 * numbered migrations. */
#include <stdio.h>

#include "db.h"
#include "ferr.h"

int
db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : FERR_STORE;
}

int
db_begin(sqlite3 *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

int
db_finish(sqlite3 *db, int rc)
{
	if (rc == 0 && db_exec(db, "COMMIT") == 0)
		return 0;
	db_exec(db, "ROLLBACK");
	return rc != 0 ? rc : FERR_STORE;
}

int
db_durable(sqlite3 *db, int on)
{
	return db_exec(db, on ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL");
}

sqlite3_stmt *
db_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

int
db_step_done(sqlite3_stmt *s)
{
	int rc;

	if (s == NULL)
		return FERR_STORE;
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
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
	sqlite3_finalize(s);
	return v;
}

int
db_open(sqlite3 **out, const char *path, const char *const *migrations,
    int n)
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
	sqlite3_close(db);
	return rc;
}
