/* records.c: the agent's durable record of every command it was sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "agent.h"
#include "clock.h"
#include "ferr.h"

struct records {
	sqlite3 *db;
};

/* Numbered migrations, as in ferryd's store: never edit one that shipped. */
static const char *migrations[] = {
	/* 1: commands by id, and the high-water mark. */
	"CREATE TABLE commands ("
	"  id BLOB PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  state TEXT NOT NULL, report BLOB, acked INTEGER NOT NULL DEFAULT 0,"
	"  received_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
	"CREATE INDEX commands_unacked ON commands(acked, updated_ms);"
	"CREATE TABLE mark (one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  last_seq INTEGER NOT NULL);"
	"INSERT INTO mark VALUES (1, 0);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int
exec(struct records *r, const char *sql)
{
	return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : FERR_STORE;
}

static int
finish(struct records *r, int rc)
{
	if (rc == 0 && exec(r, "COMMIT") == 0)
		return 0;
	exec(r, "ROLLBACK");
	return rc != 0 ? rc : FERR_STORE;
}

static sqlite3_stmt *
prep(struct records *r, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

static int
step_done(sqlite3_stmt *s)
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
records_open(struct records **out, const char *path)
{
	struct records *r;
	sqlite3_stmt *s;
	char sql[64];
	int v = -1, rc = FERR_STORE;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return FERR_NOMEM;
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(r->db, 5000);
	if (exec(r, "PRAGMA journal_mode = WAL") != 0 ||
	    exec(r, "PRAGMA synchronous = FULL") != 0)
		goto fail;
	if ((s = prep(r, "PRAGMA user_version")) == NULL)
		goto fail;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (v < 0)
		goto fail;
	if (v > NMIGRATIONS) {
		rc = FERR_VERSION;
		goto fail;
	}
	for (; v < NMIGRATIONS; v++) {
		if (exec(r, "BEGIN IMMEDIATE") != 0)
			goto fail;
		rc = exec(r, migrations[v]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (rc == 0)
			rc = exec(r, sql);
		if ((rc = finish(r, rc)) != 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	records_close(r);
	return rc;
}

void
records_close(struct records *r)
{
	if (r == NULL)
		return;
	sqlite3_close(r->db);
	free(r);
}

int
records_last_seq(struct records *r, uint64_t *seq)
{
	sqlite3_stmt *s = prep(r, "SELECT last_seq FROM mark");
	int rc = FERR_STORE;

	if (s != NULL && sqlite3_step(s) == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

int
records_get(struct records *r, const uint8_t *id, size_t id_len,
    struct record *rec)
{
	sqlite3_stmt *s = prep(r, "SELECT seq, state, report, acked FROM "
	    "commands WHERE id = ?");
	int rc = FERR_NOTFOUND;

	memset(rec, 0, sizeof(*rec));
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, id, (int)id_len, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *st = sqlite3_column_text(s, 1);
		int n = sqlite3_column_bytes(s, 2);

		rec->seq = (uint64_t)sqlite3_column_int64(s, 0);
		snprintf(rec->state, sizeof(rec->state), "%s",
		    st ? (const char *)st : "");
		rec->acked = sqlite3_column_int(s, 3);
		rc = 0;
		if (n > 0) {
			rec->report = malloc((size_t)n);
			if (rec->report == NULL)
				rc = FERR_NOMEM;
			else {
				memcpy(rec->report, sqlite3_column_blob(s, 2),
				    (size_t)n);
				rec->report_len = (size_t)n;
			}
		}
	}
	sqlite3_finalize(s);
	return rc;
}

static int
insert(struct records *r, const uint8_t *id, size_t id_len, uint64_t seq,
    const char *kind, const char *state, const uint8_t *report,
    size_t report_len)
{
	sqlite3_stmt *s = prep(r, "INSERT INTO commands(id, seq, kind, state, "
	    "report, received_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
	uint64_t now = clock_wall_ms();

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, id, (int)id_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, state, -1, SQLITE_STATIC);
	if (report != NULL)
		sqlite3_bind_blob(s, 5, report, (int)report_len,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)now);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)now);
	return step_done(s);
}

int
records_accept(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind)
{
	sqlite3_stmt *s;
	int rc;

	if (exec(r, "BEGIN IMMEDIATE") != 0)
		return FERR_STORE;
	if ((rc = insert(r, id, id_len, seq, kind, "accepted", NULL, 0)) != 0)
		return finish(r, rc);
	s = prep(r, "UPDATE mark SET last_seq = max(last_seq, ?)");
	if (s == NULL)
		return finish(r, FERR_STORE);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
	return finish(r, step_done(s));
}

int
records_refuse(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const uint8_t *report, size_t report_len)
{
	return insert(r, id, id_len, seq, "refused", "refused", report,
	    report_len);
}

int
records_finish(struct records *r, const uint8_t *id, size_t id_len,
    const char *state, const uint8_t *report, size_t report_len)
{
	sqlite3_stmt *s = prep(r, "UPDATE commands SET state = ?, report = ?, "
	    "acked = 0, updated_ms = ? WHERE id = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, report, (int)report_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_blob(s, 4, id, (int)id_len, SQLITE_STATIC);
	return step_done(s);
}

int
records_acked(struct records *r, const uint8_t *id, size_t id_len)
{
	sqlite3_stmt *s = prep(r, "UPDATE commands SET acked = 1 WHERE id = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, id, (int)id_len, SQLITE_STATIC);
	return step_done(s);
}

int
records_unacked(struct records *r, records_cb cb, void *arg)
{
	sqlite3_stmt *s = prep(r, "SELECT id, report FROM commands WHERE "
	    "acked = 0 AND report IS NOT NULL ORDER BY updated_ms LIMIT 64");

	if (s == NULL)
		return FERR_STORE;
	while (sqlite3_step(s) == SQLITE_ROW)
		cb(arg, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0),
		    sqlite3_column_blob(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1));
	sqlite3_finalize(s);
	return 0;
}

int
records_count(struct records *r, const char *state, int *n)
{
	sqlite3_stmt *s = prep(r, state ? "SELECT count(*) FROM commands "
	    "WHERE state = ?" : "SELECT count(*) FROM commands");
	int rc = FERR_STORE;

	if (s == NULL)
		return FERR_STORE;
	if (state)
		sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*n = sqlite3_column_int(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}
