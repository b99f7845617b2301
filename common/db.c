/* SPDX-License-Identifier: Apache-2.0 */
/* db.c: SQLite opened the way ferry keeps state: WAL, synchronous=FULL,
 * numbered migrations. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
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

/* The latest fault of the state itself (db_fault_take), under slots_mtx;
 * and the latest of all, which db_fault_take does not forget
 * (db_fault_last), with its time on the monotonic clock. */
static struct {
	int err;
	unsigned count;
	char path[PATH_MAX];
} last_fault;
static struct {
	int err;
	char path[PATH_MAX];
	uint64_t at_ms;
} latest_fault;

/* writable says whether path can be written (EROFS, EPERM for an immutable
 * file, EACCES for its mode): 1, 0, or 1 when it cannot tell (ENOENT). */
static int
writable(const char *path)
{
	return access(path, W_OK) == 0 || errno == ENOENT;
}

/* folder_writable: the same for the folder that holds path, where SQLite
 * makes its -wal and -shm files. */
static int
folder_writable(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return writable(".");
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return writable(dir);
}

/*
 * fault translates what SQLite said last on db into ferry's error: the
 * state's own faults (read-only, corrupt, not a database, disk full, I/O)
 * get their own numbers and are remembered for db_fault_take; anything
 * else is FERR_STORE.
 */
static int
fault(sqlite3 *db)
{
	const char *path = db != NULL ? sqlite3_db_filename(db, "main") : NULL;
	int err;

	switch (db != NULL ? sqlite3_errcode(db) & 0xff : SQLITE_CANTOPEN) {
	case SQLITE_READONLY:
		err = FERR_READONLY;
		break;
	case SQLITE_CORRUPT:
		err = FERR_CORRUPT;
		break;
	case SQLITE_NOTADB:
		err = FERR_NOTDB;
		break;
	case SQLITE_FULL:
		err = FERR_FULL;
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_PERM:
		/* Often a file or folder that cannot be written. */
		if (path != NULL && path[0] != '\0' &&
		    (!writable(path) || !folder_writable(path)))
			err = FERR_READONLY;
		else
			err = sqlite3_errcode(db) == SQLITE_IOERR ? FERR_IO :
			    FERR_STORE;
		break;
	default:
		return FERR_STORE;
	}
	if (err == FERR_STORE || path == NULL)
		return err;
	pthread_mutex_lock(&slots_mtx);
	last_fault.err = err;
	last_fault.count++;
	snprintf(last_fault.path, sizeof(last_fault.path), "%s", path);
	latest_fault.err = err;
	latest_fault.at_ms = clock_mono_ms();
	snprintf(latest_fault.path, sizeof(latest_fault.path), "%s", path);
	pthread_mutex_unlock(&slots_mtx);
	return err;
}

int
db_fault_last(char *path, size_t len, uint64_t *at_ms)
{
	int err;

	pthread_mutex_lock(&slots_mtx);
	err = latest_fault.err;
	*at_ms = latest_fault.at_ms;
	snprintf(path, len, "%s", latest_fault.path);
	pthread_mutex_unlock(&slots_mtx);
	return err;
}

int
db_fault_take(char *path, size_t len, unsigned *count)
{
	int err;

	pthread_mutex_lock(&slots_mtx);
	err = last_fault.err;
	*count = last_fault.count;
	snprintf(path, len, "%s", last_fault.path);
	last_fault.err = 0;
	last_fault.count = 0;
	pthread_mutex_unlock(&slots_mtx);
	return err;
}

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
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fault(db);
	db_release(s);
	return rc;
}

int
db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : fault(db);
}

int
db_begin(sqlite3 *db)
{
	return run(db, "BEGIN IMMEDIATE");
}

int
db_finish(sqlite3 *db, int rc)
{
	if (rc == 0 && (rc = run(db, "COMMIT")) == 0)
		return 0;
	run(db, "ROLLBACK");
	return rc;
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
	if (rc == SQLITE_CONSTRAINT)
		rc = FERR_EXISTS;
	else
		rc = rc == SQLITE_DONE ? 0 : fault(sqlite3_db_handle(s));
	db_release(s);
	return rc;
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

/*
 * size_check refuses, before SQLite opens it, an existing file that is
 * empty with no write-ahead log (SQLite would take it for a new database
 * and start afresh).  The file is only stat()ed: opening and closing it
 * here would drop the POSIX locks that another connection of this process
 * (the agent's workers open the records beside its loop) holds on it.
 * *size gets the file's size, *has_wal whether a -wal file has content.
 */
static int
size_check(const char *path, long long *size, int *has_wal)
{
	char wal[PATH_MAX + 8];
	struct stat st, wst;

	*size = -1;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	*has_wal = stat(wal, &wst) == 0 && wst.st_size > 0;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : FERR_IO;
	*size = (long long)st.st_size;
	if (st.st_size == 0 && !*has_wal)
		return FERR_TRUNCATED;
	return 0;
}

/* be32 reads a big-endian number of SQLite's file header. */
static unsigned long long
be32(const unsigned char *p)
{
	return (unsigned long long)p[0] << 24 | (unsigned long long)p[1] << 16 |
	    (unsigned long long)p[2] << 8 | p[3];
}

/*
 * header_check reads the file's header through SQLite's own file handle
 * (which keeps the locks of the process's other connections) and refuses
 * a file that does not start as a database, or one shorter than the pages
 * its header counts (checked only when no write-ahead log may hold pages
 * beyond the file).  SQLite would call either "corrupt" at best.
 */
static int
header_check(sqlite3 *db, long long size, int has_wal)
{
	static const char magic[16] = "SQLite format 3";
	unsigned char h[100];
	sqlite3_file *f = NULL;
	unsigned long long page, pages;
	int rc;

	if (size <= 0)
		return 0;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) !=
	    SQLITE_OK || f == NULL || f->pMethods == NULL)
		return 0;
	memset(h, 0, sizeof(h));
	rc = f->pMethods->xRead(f, h, (int)sizeof(h), 0);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return FERR_IO;
	if (memcmp(h, magic, (size_t)(size < 16 ? size : 16)) != 0)
		return FERR_NOTDB;
	if (size < (long long)sizeof(h))
		return FERR_TRUNCATED;
	page = (unsigned long long)h[16] << 8 | h[17];
	if (page == 1)
		page = 65536;
	pages = be32(h + 28);
	/* The count is valid when the change counter matches the "version
	 * valid for" number (SQLite's file format, 1.3). */
	if (!has_wal && pages > 0 && be32(h + 24) == be32(h + 92) &&
	    (unsigned long long)size < pages * page)
		return FERR_TRUNCATED;
	return 0;
}

/* quick_check runs PRAGMA quick_check: 0 when it says "ok". */
static int
quick_check(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL) !=
	    SQLITE_OK) {
		rc = fault(db);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		t = sqlite3_column_text(s, 0);
		rc = t != NULL && strcmp((const char *)t, "ok") == 0 ? 0 :
		    FERR_CORRUPT;
	} else {
		rc = fault(db);
		if (rc == FERR_STORE)
			rc = FERR_CORRUPT;
	}
out:
	sqlite3_finalize(s);
	return rc;
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
	long long size;
	int v, rc, has_wal;

	*out = NULL;
	if ((rc = size_check(path, &size, &has_wal)) != 0)
		goto fail;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = fault(db);
		goto fail;
	}
	/* SQLite opens a file it may not write read-only, silently. */
	if (sqlite3_db_readonly(db, "main") == 1 || !writable(path) ||
	    !folder_writable(path)) {
		rc = FERR_READONLY;
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	if ((rc = header_check(db, size, has_wal)) != 0 ||
	    (rc = db_exec(db, "PRAGMA journal_mode = WAL")) != 0 ||
	    (rc = db_exec(db, "PRAGMA synchronous = FULL")) != 0 ||
	    (rc = db_exec(db, "PRAGMA foreign_keys = ON")) != 0 ||
	    (rc = quick_check(db)) != 0)
		goto fail;
	if (prepare != NULL && prepare(db) != 0) {
		rc = FERR_STORE;
		goto fail;
	}
	if ((v = db_version(db)) < 0) {
		rc = fault(db);
		goto fail;
	}
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
