/* SPDX-License-Identifier: Apache-2.0 */
/* db.h: what ferryd's store and the agent's records share about SQLite:
 * opening with ferry's durability settings, numbered migrations, and the
 * statement helpers.  The two stores and this module are the only code that
 * includes sqlite3.h. */
#ifndef FERRY_DB_H
#define FERRY_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/*
 * db_open opens (creating) path with WAL, synchronous=FULL, foreign keys
 * and a busy timeout, checks it with PRAGMA quick_check, then applies
 * migrations[i] for every i at or above the file's PRAGMA user_version,
 * each in its own transaction.  A file written by a newer ferry
 * (user_version above n) is refused with FERR_VERSION; a damaged state
 * with what is wrong: FERR_READONLY (the file, its folder or the file
 * system cannot be written), FERR_TRUNCATED (empty, or shorter than its
 * header says), FERR_NOTDB, FERR_CORRUPT (quick_check failed).  On failure
 * *out is NULL and nothing stays open.
 *
 * Here and in every function below, a failure of the state itself
 * (read-only, corrupt, not a database, disk full, I/O) is returned as its
 * own error rather than FERR_STORE, and remembered for db_fault_take.
 */
int
db_open(sqlite3 **out, const char *path, const char *const *migrations,
    int n);

/* db_open_with is db_open that first hands the open connection to prepare
 * (which returns 0, or fails the open): for SQL functions that migrations
 * call, registered before any migration runs. */
int
db_open_with(sqlite3 **out, const char *path, const char *const *migrations,
    int n, int (*prepare)(sqlite3 *db));
/*
 * db_fault_take returns the latest failure of the state itself seen by any
 * connection of the process since the last call (0: none), the file's path
 * in path and how many such failures there were in *count, and forgets
 * them: a daemon calls it from a timer and says once, with the file and
 * the remedy, what a series of failed writes has in common.
 */
int
db_fault_take(char *path, size_t len, unsigned *count);
/*
 * db_fault_last returns the latest failure of the state itself ever seen
 * (0: none), its file in path and its time on the monotonic clock
 * (clock_mono_ms) in *at_ms; db_fault_take does not forget it: for a
 * health check that asks "failing lately?" without taking the daemon's
 * periodic report from it.
 */
int
db_fault_last(char *path, size_t len, uint64_t *at_ms);

/* db_version returns PRAGMA user_version, or -1. */
int
db_version(sqlite3 *db);

/* db_exec runs sql that returns no rows, one or more statements, parsed
 * each time (for migrations): 0 or FERR_STORE. */
int
db_exec(sqlite3 *db, const char *sql);

/* db_begin starts a write transaction (BEGIN IMMEDIATE). */
int
db_begin(sqlite3 *db);

/* db_finish commits when rc is 0 and rolls back otherwise; returns rc, or
 * FERR_STORE when the commit fails. */
int
db_finish(sqlite3 *db, int rc);

/*
 * db_begin_as is db_begin for a transaction whose commit waits for the disk
 * (wait 1: synchronous=FULL, the default) or not (wait 0: NORMAL).  In WAL
 * mode a commit that did not wait survives a crash of the process, not a
 * power loss, and the file stays sound either way: for writes that recovery
 * does not depend on.  db_finish_as ends it as db_finish does, with the
 * same wait, and makes later commits wait again.
 */
int
db_begin_as(sqlite3 *db, int wait);
int
db_finish_as(sqlite3 *db, int wait, int rc);

/* db_close finalizes the statements kept for db and closes it. */
void
db_close(sqlite3 *db);

/*
 * db_prep gives a prepared statement for sql; NULL on error.  sql must be a
 * string literal (a constant that lives as long as the program): the
 * statement is kept prepared for db, found again by that pointer, and
 * handed out again once db_release gave it back.  A statement still in use
 * (a nested query with the same text) is prepared afresh.
 */
sqlite3_stmt *
db_prep(sqlite3 *db, const char *sql);

/* db_release gives a statement from db_prep back: reset and unbound for
 * the next db_prep of the same text, or finalized if it was not kept.
 * NULL is allowed. */
void
db_release(sqlite3_stmt *s);

/* db_step_done runs a statement that returns no rows and releases it:
 * 0, FERR_EXISTS for a constraint violation, FERR_STORE otherwise. */
int
db_step_done(sqlite3_stmt *s);

/* db_update_one is db_step_done that also wants one changed row:
 * FERR_NOTFOUND when none changed. */
int
db_update_one(sqlite3 *db, sqlite3_stmt *s);

#endif
