/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/records.c agent/swapsm.c
/* test_records.c: the agent's durable command records and its replay
 * high-water mark. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "unit.h"
#include <sqlite3.h>

#include "agent.h"
#include "ferr.h"
#include "swapsm.h"

static char dir[64];
static char dbpath[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-records.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_lt(snprintf(dbpath, sizeof(dbpath), "%s/records.db", dir),
	    (int)sizeof(dbpath));
}

static void
teardown(void)
{
	unit_rmtree(dir);
}

TestSuite(records, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ------------------------------------------------------------ */

static struct records *
open_records(void)
{
	struct records *r = NULL;

	cr_assert_eq(records_open(&r, dbpath), 0);
	cr_assert_not_null(r);
	return r;
}

static struct records *
reopen(struct records *r)
{
	records_close(r);
	return open_records();
}

static uint64_t
mark(struct records *r)
{
	uint64_t seq = 0xdeadbeef;

	cr_assert_eq(records_last_seq(r, &seq), 0);
	return seq;
}

static int
count(struct records *r, const char *state)
{
	int n = -1;

	cr_assert_eq(records_count(r, state, &n), 0);
	return n;
}

/* id returns a 16-byte command id made of b. */
static const uint8_t *
id(uint8_t b)
{
	static uint8_t ids[8][16];
	static int next;
	uint8_t *p = ids[next++ % 8];

	memset(p, b, 16);
	return p;
}

#define ID(b) id(b), 16

static void
sql_exec(const char *sql)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void
sql_text(const char *sql, char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	const unsigned char *t;

	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	t = sqlite3_column_text(s, 0);
	snprintf(out, len, "%s", t != NULL ? (const char *)t : "(null)");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* get asserts id is recorded and returns its record (report on heap). */
static struct record
get(struct records *r, uint8_t b)
{
	struct record rec;

	cr_assert_eq(records_get(r, ID(b), &rec), 0, "id %02x", b);
	return rec;
}

static void
assert_report(const struct record *rec, const char *want)
{
	cr_assert_eq(rec->report_len, strlen(want));
	cr_assert_not_null(rec->report);
	cr_assert_eq(memcmp(rec->report, want, strlen(want)), 0);
}

/* Reports as records_unacked lists them. */
struct unacked {
	uint8_t id[8];		/* first byte of each id */
	char report[8][16];
	size_t n;
};

static int
on_unacked(void *arg, const uint8_t *cid, size_t id_len,
    const uint8_t *report, size_t report_len, uint64_t updated_ms)
{
	struct unacked *u = arg;

	(void)updated_ms;
	cr_assert_lt(u->n, 8);
	cr_assert_eq(id_len, 16);
	cr_assert_lt(report_len, 16);
	u->id[u->n] = cid[0];
	memcpy(u->report[u->n], report, report_len);
	u->report[u->n][report_len] = '\0';
	u->n++;
	return 0;
}

static void
unacked(struct records *r, struct unacked *u)
{
	memset(u, 0, sizeof(*u));
	cr_assert_eq(records_unacked(r, 0, on_unacked, u), 0);
}

/* tick waits long enough for the millisecond clock to move. */
static void
tick(void)
{
	struct timespec ts = { 0, 3 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int
finish(struct records *r, uint8_t b, const char *state, const char *report)
{
	return records_finish(r, ID(b), state, (const uint8_t *)report,
	    strlen(report));
}

/* ---- opening ------------------------------------------------------------ */

Test(records, open_creates)
{
	struct records *r;
	struct stat sb;
	char text[32];

	cr_assert_neq(stat(dbpath, &sb), 0);
	r = open_records();
	cr_assert_eq(stat(dbpath, &sb), 0);
	cr_assert_eq(mark(r), 0);
	cr_assert_eq(count(r, NULL), 0);
	records_close(r);
	sql_text("PRAGMA user_version", text, sizeof(text));
	cr_assert_eq(atoi(text), RECORDS_SCHEMA_VERSION);
	sql_text("PRAGMA journal_mode", text, sizeof(text));
	cr_assert_str_eq(text, "wal");

	/* Opening again does not reset anything (the mark row is there once). */
	r = open_records();
	cr_assert_eq(records_accept(r, ID(1), 4, "ping"), 0);
	r = reopen(r);
	cr_assert_eq(mark(r), 4);
	records_close(r);
	sql_text("SELECT count(*) FROM mark", text, sizeof(text));
	cr_assert_str_eq(text, "1");
}

Test(records, newer_schema_refused)
{
	struct records *r = (struct records *)&r;	/* must be reset */
	char text[32];

	sql_exec("PRAGMA user_version = 7");
	cr_assert_eq(records_open(&r, dbpath), FERR_VERSION);
	cr_assert_null(r);
	sql_text("PRAGMA user_version", text, sizeof(text));
	cr_assert_str_eq(text, "7");
}

/* ---- accept and the high-water mark ------------------------------------- */

Test(records, accept_raises_mark_durably)
{
	struct records *r = open_records();
	struct record rec;

	cr_assert_eq(records_accept(r, ID(1), 5, "ping"), 0);
	cr_assert_eq(mark(r), 5);
	rec = get(r, 1);
	cr_assert_eq(rec.seq, 5);
	cr_assert_str_eq(rec.state, "accepted");
	cr_assert_null(rec.report);
	cr_assert_eq(rec.report_len, 0);
	cr_assert_eq(rec.acked, 0);

	/* A restart sees the mark and the record: no replay of id 1 or of
	 * any sequence at or below 5. */
	r = reopen(r);
	cr_assert_eq(mark(r), 5);
	rec = get(r, 1);
	cr_assert_eq(rec.seq, 5);
	cr_assert_str_eq(rec.state, "accepted");

	cr_assert_eq(records_accept(r, ID(2), 8, "ping"), 0);
	cr_assert_eq(mark(r), 8);
	r = reopen(r);
	cr_assert_eq(mark(r), 8);
	cr_assert_eq(count(r, "accepted"), 2);
	records_close(r);
}

Test(records, accept_same_id_twice)
{
	struct records *r = open_records();
	struct record rec;

	cr_assert_eq(records_accept(r, ID(1), 5, "ping"), 0);
	/* Same id, higher sequence: refused, and the mark did not move
	 * (the insert and the mark are one transaction). */
	cr_assert_eq(records_accept(r, ID(1), 9, "ping"), FERR_EXISTS);
	cr_assert_eq(mark(r), 5);
	rec = get(r, 1);
	cr_assert_eq(rec.seq, 5);
	cr_assert_eq(count(r, NULL), 1);

	/* Nor can it be refused afterwards. */
	cr_assert_eq(records_refuse(r, ID(1), 12, (const uint8_t *)"x", 1),
	    FERR_EXISTS);
	rec = get(r, 1);
	cr_assert_str_eq(rec.state, "accepted");
	cr_assert_null(rec.report);

	/* And a refused id cannot be accepted later. */
	cr_assert_eq(records_refuse(r, ID(2), 20, (const uint8_t *)"no", 2),
	    0);
	cr_assert_eq(records_accept(r, ID(2), 20, "ping"), FERR_EXISTS);
	cr_assert_eq(mark(r), 5);
	rec = get(r, 2);
	cr_assert_str_eq(rec.state, "refused");
	free(rec.report);

	/* The store still takes writes: no transaction left open. */
	cr_assert_eq(records_accept(r, ID(3), 6, "ping"), 0);
	r = reopen(r);
	cr_assert_eq(mark(r), 6);
	cr_assert_eq(count(r, NULL), 3);
	records_close(r);
}

Test(records, lower_sequence_does_not_lower_mark)
{
	struct records *r = open_records();
	struct record rec;

	cr_assert_eq(records_accept(r, ID(1), 10, "ping"), 0);
	cr_assert_eq(records_accept(r, ID(2), 4, "ping"), 0);
	cr_assert_eq(mark(r), 10);
	/* Both are recorded, each with its own sequence. */
	rec = get(r, 2);
	cr_assert_eq(rec.seq, 4);
	rec = get(r, 1);
	cr_assert_eq(rec.seq, 10);
	r = reopen(r);
	cr_assert_eq(mark(r), 10);
	cr_assert_eq(records_accept(r, ID(3), 11, "ping"), 0);
	cr_assert_eq(mark(r), 11);
	records_close(r);
}

Test(records, large_sequence_round_trip)
{
	struct records *r = open_records();
	uint64_t big = (uint64_t)1 << 62;

	cr_assert_eq(records_accept(r, ID(1), big, "ping"), 0);
	r = reopen(r);
	cr_assert_eq(mark(r), big);
	cr_assert_eq(get(r, 1).seq, big);
	records_close(r);
}

/* ---- refusals ----------------------------------------------------------- */

Test(records, refuse_keeps_mark)
{
	struct records *r = open_records();
	struct record rec;
	struct unacked u;

	cr_assert_eq(records_accept(r, ID(1), 3, "ping"), 0);
	cr_assert_eq(records_refuse(r, ID(2), 10, (const uint8_t *)"refusal",
	    7), 0);
	cr_assert_eq(mark(r), 3);
	rec = get(r, 2);
	cr_assert_str_eq(rec.state, "refused");
	cr_assert_eq(rec.seq, 10);
	cr_assert_eq(rec.acked, 0);
	assert_report(&rec, "refusal");
	free(rec.report);

	r = reopen(r);
	cr_assert_eq(mark(r), 3);
	rec = get(r, 2);
	assert_report(&rec, "refusal");
	free(rec.report);
	/* Its report waits for ferryd like any other. */
	unacked(r, &u);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 2);
	cr_assert_str_eq(u.report[0], "refusal");
	cr_assert_eq(count(r, "refused"), 1);
	cr_assert_eq(count(r, "accepted"), 1);
	records_close(r);
}

/* ---- get ---------------------------------------------------------------- */

Test(records, get_unknown)
{
	struct records *r = open_records();
	struct record rec;
	uint8_t shorter[8];

	memset(&rec, 0x5a, sizeof(rec));
	cr_assert_eq(records_get(r, ID(9), &rec), FERR_NOTFOUND);
	cr_assert_null(rec.report);
	cr_assert_eq(rec.report_len, 0);

	/* An id is its exact bytes: a prefix of a known id is unknown. */
	cr_assert_eq(records_accept(r, ID(1), 1, "ping"), 0);
	memset(shorter, 1, sizeof(shorter));
	cr_assert_eq(records_get(r, shorter, sizeof(shorter), &rec),
	    FERR_NOTFOUND);
	cr_assert_eq(records_get(r, ID(2), &rec), FERR_NOTFOUND);
	cr_assert_eq(records_get(r, ID(1), &rec), 0);
	records_close(r);
}

/* ---- finish, unacked, acked --------------------------------------------- */

Test(records, finish_and_unacked)
{
	struct records *r = open_records();
	struct record rec;
	struct unacked u;

	cr_assert_eq(records_accept(r, ID(1), 1, "ping"), 0);
	cr_assert_eq(records_accept(r, ID(2), 2, "ping"), 0);
	cr_assert_eq(records_accept(r, ID(3), 3, "ping"), 0);
	/* Accepted but not finished: nothing to report yet. */
	unacked(r, &u);
	cr_assert_eq(u.n, 0);

	/* Finished in the order 2, 1: listed in that order (oldest report
	 * first), not by id or sequence.  3 is still running. */
	tick();
	cr_assert_eq(finish(r, 2, "succeeded", "two"), 0);
	tick();
	cr_assert_eq(finish(r, 1, "failed", "one"), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 2);
	cr_assert_eq(u.id[0], 2);
	cr_assert_str_eq(u.report[0], "two");
	cr_assert_eq(u.id[1], 1);
	cr_assert_str_eq(u.report[1], "one");

	rec = get(r, 2);
	cr_assert_str_eq(rec.state, "succeeded");
	cr_assert_eq(rec.seq, 2);
	cr_assert_eq(rec.acked, 0);
	assert_report(&rec, "two");
	free(rec.report);
	rec = get(r, 1);
	cr_assert_str_eq(rec.state, "failed");
	assert_report(&rec, "one");
	free(rec.report);
	/* Finishing does not move the mark. */
	cr_assert_eq(mark(r), 3);

	/* Durable across a restart. */
	r = reopen(r);
	unacked(r, &u);
	cr_assert_eq(u.n, 2);
	cr_assert_eq(u.id[0], 2);

	/* Acknowledged: gone from the list, kept as a record. */
	cr_assert_eq(records_acked(r, ID(2)), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 1);
	cr_assert_str_eq(u.report[0], "one");
	rec = get(r, 2);
	cr_assert_eq(rec.acked, 1);
	cr_assert_str_eq(rec.state, "succeeded");
	assert_report(&rec, "two");
	free(rec.report);

	r = reopen(r);
	unacked(r, &u);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 1);
	cr_assert_eq(records_acked(r, ID(1)), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 0);

	/* The third finishes later and is the only one listed. */
	tick();
	cr_assert_eq(finish(r, 3, "succeeded", "three"), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 3);
	cr_assert_str_eq(u.report[0], "three");
	records_close(r);
}

Test(records, unacked_mixes_refusals_and_results_oldest_first)
{
	struct records *r = open_records();
	struct unacked u;

	cr_assert_eq(records_accept(r, ID(1), 1, "ping"), 0);
	tick();
	cr_assert_eq(records_refuse(r, ID(2), 7, (const uint8_t *)"ref", 3),
	    0);
	tick();
	cr_assert_eq(finish(r, 1, "succeeded", "res"), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 2);
	cr_assert_eq(u.id[0], 2);
	cr_assert_str_eq(u.report[0], "ref");
	cr_assert_eq(u.id[1], 1);
	cr_assert_str_eq(u.report[1], "res");
	records_close(r);
}

/* A callback that stops after the first report. */
static int
first_only(void *arg, const uint8_t *cid, size_t id_len,
    const uint8_t *report, size_t report_len, uint64_t updated_ms)
{
	struct unacked *u = arg;

	on_unacked(arg, cid, id_len, report, report_len, updated_ms);
	return u->n == 1;
}

/* last_ms: the time of the newest unacknowledged report. */
static int
on_last(void *arg, const uint8_t *cid, size_t id_len,
    const uint8_t *report, size_t report_len, uint64_t updated_ms)
{
	(void)cid;
	(void)id_len;
	(void)report;
	(void)report_len;
	*(uint64_t *)arg = updated_ms;
	return 0;
}

Test(records, unacked_since_a_time_and_until_told_to_stop)
{
	struct records *r = open_records();
	struct unacked u;
	uint64_t second = 0;

	cr_assert_eq(records_refuse(r, ID(1), 1, (const uint8_t *)"a", 1), 0);
	tick();
	cr_assert_eq(records_refuse(r, ID(2), 2, (const uint8_t *)"b", 1), 0);
	cr_assert_eq(records_unacked(r, 0, on_last, &second), 0);
	tick();
	cr_assert_eq(records_refuse(r, ID(3), 3, (const uint8_t *)"c", 1), 0);
	/* Only what was recorded at or after the time given. */
	memset(&u, 0, sizeof(u));
	cr_assert_eq(records_unacked(r, second, on_unacked, &u), 0);
	cr_assert_eq(u.n, 2);
	cr_assert_eq(u.id[0], 2);
	cr_assert_eq(u.id[1], 3);
	/* The callback ends the listing. */
	memset(&u, 0, sizeof(u));
	cr_assert_eq(records_unacked(r, 0, first_only, &u), 0);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 1);
	records_close(r);
}

/* pass_over: passes over the first 70 reports (those already on their way)
 * and keeps the next one. */
struct pass_over {
	int seen;
	uint8_t kept;
};

static int
pass_over(void *arg, const uint8_t *cid, size_t id_len,
    const uint8_t *report, size_t report_len, uint64_t updated_ms)
{
	struct pass_over *p = arg;

	(void)id_len;
	(void)report;
	(void)report_len;
	(void)updated_ms;
	if (++p->seen <= 70)
		return 0;
	p->kept = cid[0];
	return 1;
}

/* However many reports are on their way, the next one is listed. */
Test(records, unacked_lists_past_those_passed_over)
{
	struct records *r = open_records();
	struct pass_over p = { 0, 0 };
	int i;

	for (i = 1; i <= 100; i++)
		cr_assert_eq(records_refuse(r, ID(i), (uint64_t)i,
		    (const uint8_t *)"x", 1), 0);
	cr_assert_eq(records_unacked(r, 0, pass_over, &p), 0);
	cr_assert_eq(p.seen, 71, "seen %d kept %d", p.seen, p.kept);
	cr_assert_eq(p.kept, 71);
	records_close(r);
}

/* ---- counts ------------------------------------------------------------- */

Test(records, count_by_state)
{
	struct records *r = open_records();

	cr_assert_eq(records_accept(r, ID(1), 1, "ping"), 0);
	cr_assert_eq(records_accept(r, ID(2), 2, "ping"), 0);
	cr_assert_eq(records_accept(r, ID(3), 3, "ping"), 0);
	cr_assert_eq(records_refuse(r, ID(4), 4, (const uint8_t *)"r", 1), 0);
	cr_assert_eq(records_refuse(r, ID(5), 5, (const uint8_t *)"r", 1), 0);
	cr_assert_eq(finish(r, 1, "succeeded", "ok"), 0);
	cr_assert_eq(finish(r, 2, "failed", "ko"), 0);

	cr_assert_eq(count(r, NULL), 5);
	cr_assert_eq(count(r, "accepted"), 1);
	cr_assert_eq(count(r, "succeeded"), 1);
	cr_assert_eq(count(r, "failed"), 1);
	cr_assert_eq(count(r, "refused"), 2);
	cr_assert_eq(count(r, "expired"), 0);
	r = reopen(r);
	cr_assert_eq(count(r, NULL), 5);
	cr_assert_eq(count(r, "refused"), 2);
	records_close(r);
}

struct seen {
	uint64_t seqs[8];
	char kinds[8][16];
	int n;
};

static void
on_interrupted(void *arg, const uint8_t *cid, size_t id_len, uint64_t seq,
    const char *kind)
{
	struct seen *s = arg;

	cr_assert_eq(id_len, 16);
	cr_assert_eq(cid[0], (uint8_t)seq, "id and sequence do not match");
	cr_assert_lt(s->n, 8);
	s->seqs[s->n] = seq;
	snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", kind);
	s->n++;
}

/* Commands accepted by an earlier run and never finished, outside any
 * swap's journal, at or below the given sequence, oldest first. */
Test(records, interrupted_lists_unfinished_outside_the_journal)
{
	struct records *r = open_records();
	struct journal jr;
	struct seen s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(records_accept(r, ID(1), 1, "pull"), 0);
	cr_assert_eq(records_accept(r, ID(2), 2, "swap"), 0);
	cr_assert_eq(records_accept(r, ID(3), 3, "swap"), 0);
	cr_assert_eq(records_accept(r, ID(4), 4, "ping"), 0);
	cr_assert_eq(records_refuse(r, ID(5), 5, (const uint8_t *)"r", 1), 0);
	cr_assert_eq(records_accept(r, ID(6), 6, "pull"), 0);
	cr_assert_eq(finish(r, 4, "succeeded", "ok"), 0);
	/* 3 has a journal row: the reconciliation settles it. */
	memset(&jr, 0, sizeof(jr));
	snprintf(jr.service, sizeof(jr.service), "web");
	memcpy(jr.command_id, id(3), 16);
	jr.id_len = 16;
	snprintf(jr.kind, sizeof(jr.kind), "swap");
	snprintf(jr.step, sizeof(jr.step), "created");
	cr_assert_eq(records_journal_put(r, &jr), 0);

	/* 6 came after the restart (above the mark it started with). */
	cr_assert_eq(records_interrupted(r, 5, on_interrupted, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.seqs[0], 1);
	cr_assert_str_eq(s.kinds[0], "pull");
	cr_assert_eq(s.seqs[1], 2);
	cr_assert_str_eq(s.kinds[1], "swap");

	cr_assert_eq(finish(r, 1, "failed", "interrupted"), 0);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(records_interrupted(r, 6, on_interrupted, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.seqs[0], 2);
	cr_assert_eq(s.seqs[1], 6);
	records_close(r);
}

/* ---- the swap journal's steps, as rows hold them ------------------------ */

struct rows {
	struct journal j[8];
	size_t n;
};

static void
on_row(void *arg, const struct journal *jr)
{
	struct rows *l = arg;

	cr_assert_lt(l->n, 8);
	l->j[l->n++] = *jr;
}

/* Rows an agent wrote before the swap was a state machine (plain SQL, the
 * step spelt as it always was) read back as the states they name; a step
 * no agent ever wrote is refused, not guessed. */
Test(records, journal_rows_of_earlier_agents_read_back_as_their_states)
{
	static const struct {
		const char *service, *step;
		int state;		/* -1: refused */
	} rows[] = {
		{ "a", "begin", SWAPSM_BEGIN },
		{ "b", "created", SWAPSM_CREATED },
		{ "c", "stopped", SWAPSM_STOPPED },
		{ "d", "started", SWAPSM_STARTED },
		{ "e", "healthy", SWAPSM_HEALTHY },
		{ "f", "draining", -1 },
		{ "g", "done", -1 },
	};
	struct records *r = open_records();
	struct rows l;
	char sql[300];
	size_t i;

	records_close(r);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO journal(service, "
		    "command_id, kind, revision, step, old_id, new_id, "
		    "new_name, keep, updated_ms) VALUES ('%s', x'%02x', "
		    "'swap', 2, '%s', 'o', 'n', 'ferry-h-%s-r2', 1, 0)",
		    rows[i].service, (unsigned)i, rows[i].step,
		    rows[i].service);
		sql_exec(sql);
	}
	r = open_records();
	memset(&l, 0, sizeof(l));
	cr_assert_eq(records_journal_list(r, on_row, &l), 0);
	cr_assert_eq(l.n, sizeof(rows) / sizeof(rows[0]));
	for (i = 0; i < l.n; i++) {
		enum swapsm_state st = SWAPSM_REVERTED;
		enum swapsm_kind k = SWAPSM_ROLLBACK;
		int rc = swapsm_parse_step(l.j[i].step, &st);

		cr_assert_str_eq(l.j[i].service, rows[i].service);
		if (rows[i].state < 0) {
			cr_assert_eq(rc, FERR_MALFORMED, "step %s",
			    l.j[i].step);
			continue;
		}
		cr_assert_eq(rc, 0, "step %s", l.j[i].step);
		cr_assert_eq((int)st, rows[i].state, "step %s", l.j[i].step);
		cr_assert_eq(swapsm_parse_kind(l.j[i].kind, &k), 0);
		cr_assert_eq(k, SWAPSM_SWAP);
	}
	records_close(r);
}

/* What the agent writes now is spelt as before, column for column. */
Test(records, journal_rows_keep_their_spelling)
{
	struct records *r = open_records();
	struct journal jr;
	enum swapsm_state s;
	char text[64], want[64];

	memset(&jr, 0, sizeof(jr));
	snprintf(jr.service, sizeof(jr.service), "web");
	memcpy(jr.command_id, id(9), 16);
	jr.id_len = 16;
	snprintf(jr.kind, sizeof(jr.kind), "%s",
	    swapsm_kind_name(SWAPSM_ROLLBACK));
	for (s = SWAPSM_BEGIN; swapsm_journalled(s); s++) {
		snprintf(jr.step, sizeof(jr.step), "%s", swapsm_state_name(s));
		cr_assert_eq(records_journal_put(r, &jr), 0);
		sql_text("SELECT kind || '/' || step FROM journal WHERE "
		    "service = 'web'", text, sizeof(text));
		snprintf(want, sizeof(want), "rollback/%s",
		    (const char *[]){ "begin", "created", "stopped",
		    "started", "healthy" }[s]);
		cr_assert_str_eq(text, want);
	}
	records_close(r);
}

/* A wall clock that steps back (an NTP correction) does not reorder the
 * reports: they are numbered as they are recorded.  Here the first two
 * look two hours newer than the third, as they would after such a step. */
Test(records, unacked_in_recording_order_whatever_the_wall_clock_says)
{
	struct records *r = open_records();
	struct unacked u;
	sqlite3 *db;
	uint64_t last = 0;

	cr_assert_eq(records_refuse(r, ID(1), 1, (const uint8_t *)"a", 1), 0);
	cr_assert_eq(records_refuse(r, ID(2), 2, (const uint8_t *)"b", 1), 0);
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE commands SET updated_ms = "
	    "updated_ms + 7200000", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(records_refuse(r, ID(3), 3, (const uint8_t *)"c", 1), 0);
	unacked(r, &u);
	cr_assert_eq(u.n, 3);
	cr_assert_eq(u.id[0], 1);
	cr_assert_eq(u.id[1], 2);
	cr_assert_eq(u.id[2], 3);
	/* Since the newest one's number: that one alone. */
	cr_assert_eq(records_unacked(r, 0, on_last, &last), 0);
	memset(&u, 0, sizeof(u));
	cr_assert_eq(records_unacked(r, last, on_unacked, &u), 0);
	cr_assert_eq(u.n, 1);
	cr_assert_eq(u.id[0], 3);
	records_close(r);
}

/* ---- the images swaps brought ------------------------------------------ */

struct seen_images {
	int n;
	uint64_t rev[4];
	char image[4][128];
};

static void
on_image(void *arg, uint64_t revision, const char *image)
{
	struct seen_images *s = arg;

	cr_assert_lt(s->n, 4);
	s->rev[s->n] = revision;
	snprintf(s->image[s->n++], sizeof(s->image[0]), "%s", image);
}

/* Migration 4: an agent.db of version 3 gains the images table; an image
 * recorded for a service is read back after a reopen, oldest revision
 * first, one row per service and image (the latest revision that named
 * it), apart from another service's; a forgotten one is gone. */
Test(records, images_are_recorded_per_service_and_revision)
{
	struct records *r = open_records();
	struct seen_images s;
	char text[32];

	records_close(r);
	sql_exec("DROP TABLE images; PRAGMA user_version = 3");
	r = open_records();
	sql_text("PRAGMA user_version", text, sizeof(text));
	cr_assert_eq(atoi(text), 4);
	cr_assert_eq(records_image_put(r, "web", 3, "reg/web@sha256:bb"), 0);
	cr_assert_eq(records_image_put(r, "web", 2, "reg/web@sha256:aa"), 0);
	cr_assert_eq(records_image_put(r, "api", 1, "reg/web@sha256:aa"), 0);
	/* A later revision with the same image moves its row. */
	cr_assert_eq(records_image_put(r, "web", 4, "reg/web@sha256:bb"), 0);
	r = reopen(r);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(records_images_list(r, "web", on_image, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.rev[0], 2);
	cr_assert_str_eq(s.image[0], "reg/web@sha256:aa");
	cr_assert_eq(s.rev[1], 4);
	cr_assert_str_eq(s.image[1], "reg/web@sha256:bb");
	cr_assert_eq(records_image_del(r, "web", "reg/web@sha256:aa"), 0);
	cr_assert_eq(records_image_del(r, "web", "reg/web@sha256:zz"), 0);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(records_images_list(r, "web", on_image, &s), 0);
	cr_assert_eq(s.n, 1);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(records_images_list(r, "api", on_image, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.rev[0], 1);
	records_close(r);
}
