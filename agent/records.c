/* SPDX-License-Identifier: Apache-2.0 */
/* records.c: the agent's durable record of every command it was sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "clock.h"
#include "db.h"
#include "ferr.h"

struct records {
	sqlite3 *db;
};

/* Numbered migrations, as in ferryd's store: never edit one that shipped. */
static const char *const migrations[] = {
	/* 1: commands by id, and the high-water mark. */
	"CREATE TABLE commands ("
	"  id BLOB PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  state TEXT NOT NULL, report BLOB, acked INTEGER NOT NULL DEFAULT 0,"
	"  received_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
	"CREATE INDEX commands_unacked ON commands(acked, updated_ms);"
	"CREATE TABLE mark (one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  last_seq INTEGER NOT NULL);"
	"INSERT INTO mark VALUES (1, 0);",
	/* 2: the swap journal: one row per service while a swap or rollback
	 * is under way, so that a restart can finish or revert it. */
	"CREATE TABLE journal ("
	"  service TEXT PRIMARY KEY, command_id BLOB NOT NULL,"
	"  kind TEXT NOT NULL, revision INTEGER NOT NULL, step TEXT NOT NULL,"
	"  old_id TEXT NOT NULL DEFAULT '', new_id TEXT NOT NULL DEFAULT '',"
	"  new_name TEXT NOT NULL DEFAULT '', keep INTEGER NOT NULL DEFAULT 1,"
	"  updated_ms INTEGER NOT NULL);",
	/* 3: reports are ordered by when they were recorded, counted, not by
	 * a wall clock that can step back. */
	"ALTER TABLE commands ADD COLUMN report_no INTEGER NOT NULL DEFAULT 0;"
	"UPDATE commands SET report_no = rowid WHERE report IS NOT NULL;"
	"CREATE INDEX commands_unacked_no ON commands(acked, report_no);",
	/* 4: the images swaps brought here, by service and revision, so that
	 * one whose revision left the kept window is pruned even when no
	 * container was ever made from it on this host (a swap that failed
	 * before it created one). */
	"CREATE TABLE images ("
	"  service TEXT NOT NULL, image TEXT NOT NULL,"
	"  revision INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (service, image));",
};

/* The next report's number: one above every report recorded. */
#define NEXT_REPORT_NO "(SELECT COALESCE(MAX(report_no), 0) + 1 FROM commands)"


#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(NMIGRATIONS == RECORDS_SCHEMA_VERSION,
    "RECORDS_SCHEMA_VERSION names the last migration");

int
records_open(struct records **out, const char *path)
{
	struct records *r;
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return FERR_NOMEM;
	if ((rc = db_open(&r->db, path, migrations, NMIGRATIONS)) != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int
records_fault_take(char *path, size_t len, unsigned *count)
{
	return db_fault_take(path, len, count);
}

void
records_close(struct records *r)
{
	if (r == NULL)
		return;
	db_close(r->db);
	free(r);
}

int
records_last_seq(struct records *r, uint64_t *seq)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT last_seq FROM mark");
	int rc = FERR_STORE;

	if (s != NULL && sqlite3_step(s) == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	}
	db_release(s);
	return rc;
}

int
records_get(struct records *r, const uint8_t *id, size_t id_len,
    struct record *rec)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT seq, state, report, acked FROM "
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
	db_release(s);
	return rc;
}

static int
insert(struct records *r, const uint8_t *id, size_t id_len, uint64_t seq,
    const char *kind, const char *state, const uint8_t *report,
    size_t report_len)
{
	sqlite3_stmt *s = db_prep(r->db, "INSERT INTO commands(id, seq, kind, state, "
	    "report, received_ms, updated_ms, report_no) VALUES (?, ?, ?, ?, ?, "
	    "?, ?, CASE WHEN ?5 IS NULL THEN 0 ELSE " NEXT_REPORT_NO " END)");
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
	return db_step_done(s);
}

/* received: a new command recorded and the mark raised, in one
 * transaction that waits for the disk or not. */
static int
received(struct records *r, int wait, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind, const char *state, const uint8_t *report,
    size_t report_len)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin_as(r->db, wait)) != 0)
		return rc;
	if ((rc = insert(r, id, id_len, seq, kind, state, report,
	    report_len)) != 0)
		return db_finish_as(r->db, wait, rc);
	s = db_prep(r->db, "UPDATE mark SET last_seq = max(last_seq, ?)");
	if (s == NULL)
		return db_finish_as(r->db, wait, FERR_STORE);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
	return db_finish_as(r->db, wait, db_step_done(s));
}

int
records_accept(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind)
{
	return received(r, 1, id, id_len, seq, kind, "accepted", NULL, 0);
}

int
records_answered(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind, const char *state, const uint8_t *report,
    size_t report_len)
{
	return received(r, 0, id, id_len, seq, kind, state, report,
	    report_len);
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
	sqlite3_stmt *s = db_prep(r->db, "UPDATE commands SET state = ?, report = ?, "
	    "acked = 0, updated_ms = ?, report_no = " NEXT_REPORT_NO " WHERE "
	    "id = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, report, (int)report_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_blob(s, 4, id, (int)id_len, SQLITE_STATIC);
	return db_update_one(r->db, s);
}

/* Not waited for: an acknowledgement lost to a power cut only makes the
 * agent send its report again, and ferryd acknowledges a repeat. */
int
records_acked(struct records *r, const uint8_t *id, size_t id_len)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin_as(r->db, 0)) != 0)
		return rc;
	if ((s = db_prep(r->db, "UPDATE commands SET acked = 1 WHERE id = ?")) ==
	    NULL)
		return db_finish_as(r->db, 0, FERR_STORE);
	sqlite3_bind_blob(s, 1, id, (int)id_len, SQLITE_STATIC);
	return db_finish_as(r->db, 0, db_update_one(r->db, s));
}

int
records_unacked(struct records *r, uint64_t since, records_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT id, report, report_no FROM "
	    "commands WHERE acked = 0 AND report_no >= ? AND report IS NOT "
	    "NULL ORDER BY report_no");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
	while (sqlite3_step(s) == SQLITE_ROW)
		if (cb(arg, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0),
		    sqlite3_column_blob(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1),
		    (uint64_t)sqlite3_column_int64(s, 2)) != 0)
			break;
	db_release(s);
	return 0;
}

int
records_count(struct records *r, const char *state, int *n)
{
	sqlite3_stmt *s = db_prep(r->db, state ? "SELECT count(*) FROM commands "
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
	db_release(s);
	return rc;
}

int
records_interrupted(struct records *r, uint64_t max_seq, interrupted_cb cb,
    void *arg)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT id, seq, kind FROM commands "
	    "WHERE state = 'accepted' AND seq <= ? AND id NOT IN "
	    "(SELECT command_id FROM journal) ORDER BY seq");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)max_seq);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *k = sqlite3_column_text(s, 2);

		cb(arg, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0),
		    (uint64_t)sqlite3_column_int64(s, 1),
		    k ? (const char *)k : "");
	}
	db_release(s);
	return 0;
}

int
records_journal_put(struct records *r, const struct journal *j)
{
	sqlite3_stmt *s = db_prep(r->db, "INSERT OR REPLACE INTO journal("
	    "service, command_id, kind, revision, step, old_id, new_id, "
	    "new_name, keep, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, j->service, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, j->command_id, (int)j->id_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, j->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)j->revision);
	sqlite3_bind_text(s, 5, j->step, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, j->old_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, j->new_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, j->new_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 9, (int)j->keep);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)clock_wall_ms());
	return db_step_done(s);
}

int
records_journal_del(struct records *r, const char *service)
{
	sqlite3_stmt *s = db_prep(r->db, "DELETE FROM journal WHERE "
	    "service = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	return db_step_done(s);
}

static void
text_col(char *dst, size_t size, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int
records_journal_list(struct records *r, journal_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT service, command_id, kind, "
	    "revision, step, old_id, new_id, new_name, keep FROM journal "
	    "ORDER BY service");
	struct journal j;

	if (s == NULL)
		return FERR_STORE;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 1);

		memset(&j, 0, sizeof(j));
		text_col(j.service, sizeof(j.service), s, 0);
		if (n > 0 && (size_t)n <= sizeof(j.command_id)) {
			memcpy(j.command_id, sqlite3_column_blob(s, 1),
			    (size_t)n);
			j.id_len = (size_t)n;
		}
		text_col(j.kind, sizeof(j.kind), s, 2);
		j.revision = (uint64_t)sqlite3_column_int64(s, 3);
		text_col(j.step, sizeof(j.step), s, 4);
		text_col(j.old_id, sizeof(j.old_id), s, 5);
		text_col(j.new_id, sizeof(j.new_id), s, 6);
		text_col(j.new_name, sizeof(j.new_name), s, 7);
		j.keep = (uint32_t)sqlite3_column_int(s, 8);
		cb(arg, &j);
	}
	db_release(s);
	return 0;
}

int
records_image_put(struct records *r, const char *service, uint64_t revision,
    const char *image)
{
	sqlite3_stmt *s = db_prep(r->db, "INSERT OR REPLACE INTO images "
	    "(service, image, revision, updated_ms) VALUES (?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, image, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)revision);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)clock_wall_ms());
	return db_step_done(s);
}

int
records_image_del(struct records *r, const char *service, const char *image)
{
	sqlite3_stmt *s = db_prep(r->db, "DELETE FROM images WHERE "
	    "service = ? AND image = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, image, -1, SQLITE_STATIC);
	return db_step_done(s);
}

int
records_images_list(struct records *r, const char *service, image_cb cb,
    void *arg)
{
	sqlite3_stmt *s = db_prep(r->db, "SELECT revision, image FROM images "
	    "WHERE service = ? ORDER BY revision, image");
	int rc;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 1);

		cb(arg, (uint64_t)sqlite3_column_int64(s, 0),
		    t != NULL ? (const char *)t : "");
	}
	db_release(s);
	return rc == SQLITE_DONE ? 0 : FERR_STORE;
}
