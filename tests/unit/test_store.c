/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/store.c coordinator/rollout.c coordinator/analysis.c coordinator/traffic.c
/* test_store.c: ferryd's SQLite store: migrations, hosts, tokens, the
 * command outbox, the audit log, secrets and the versions revisions pin. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "unit.h"
#include <sodium.h>
#include <sqlite3.h>

#include "analysis.h"
#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "spec.h"
#include "token.h"

static char dir[64];
static char dbpath[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-store.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_lt(snprintf(dbpath, sizeof(dbpath), "%s/ferryd.db", dir),
	    (int)sizeof(dbpath));
}

static void
teardown(void)
{
	unit_rmtree(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ------------------------------------------------------------ */

/* What migration 12 added, taken away so that a test can wind the schema
 * back past it. */
#define UNDO_12 \
	"ALTER TABLE hosts DROP COLUMN drained_by; " \
	"ALTER TABLE hosts DROP COLUMN drained_at_ms; " \
	"ALTER TABLE services DROP COLUMN lifecycle; " \
	"ALTER TABLE services DROP COLUMN lifecycle_by; " \
	"ALTER TABLE services DROP COLUMN lifecycle_at_ms; "

static struct store *
open_store(void)
{
	struct store *st = NULL;

	cr_assert_eq(store_open(&st, dbpath), 0);
	cr_assert_not_null(st);
	return st;
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* sql_int runs a one-value query on its own connection to the database. */
static long long
sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v;

	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
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
fill(uint8_t *b, size_t n, uint8_t v)
{
	memset(b, v, n);
}

static void
set_label(struct host_rec *h, const char *k, const char *v)
{
	struct label *l = &h->labels[h->nlabels++];

	snprintf(l->key, sizeof(l->key), "%s", k);
	snprintf(l->value, sizeof(l->value), "%s", v);
}

static struct host_rec
make_host(const char *name, uint8_t keybyte)
{
	struct host_rec h;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", name);
	fill(h.pk, sizeof(h.pk), keybyte);
	h.state = HOST_ACCEPTED;
	snprintf(h.address, sizeof(h.address), "10.0.0.%u", keybyte);
	h.last_seen_ms = 1000 + keybyte;
	h.next_seq = 0;
	h.created_ms = 500 + keybyte;
	return h;
}

/* Hosts as loaded from the store. */
struct loaded {
	struct host_rec h[16];
	size_t n;
};

static void
on_host(void *arg, const struct host_rec *h)
{
	struct loaded *l = arg;

	cr_assert_lt(l->n, 16);
	l->h[l->n++] = *h;
}

static void
load(struct store *st, struct loaded *l)
{
	memset(l, 0, sizeof(*l));
	cr_assert_eq(store_hosts_load(st, on_host, l), 0);
}

static const struct host_rec *
find(const struct loaded *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->h[i].name, name) == 0)
			return &l->h[i];
	return NULL;
}

static const char *
label_of(const struct host_rec *h, const char *key)
{
	for (size_t i = 0; i < h->nlabels; i++)
		if (strcmp(h->labels[i].key, key) == 0)
			return h->labels[i].value;
	return NULL;
}

static void
make_command(struct command_rec *c, const char *host, uint64_t seq,
    uint8_t idbyte, uint64_t expires_ms, uint8_t *env, size_t envlen)
{
	memset(c, 0, sizeof(*c));
	fill(c->id, sizeof(c->id), idbyte);
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->seq = seq;
	snprintf(c->kind, sizeof(c->kind), "ping");
	c->envelope = env;
	c->envelope_len = envlen;
	c->created_ms = 100;
	c->expires_ms = expires_ms;
	snprintf(c->state, sizeof(c->state), "queued");
}

/* ---- opening and migrations --------------------------------------------- */

Test(store, open_creates_and_migrates)
{
	struct store *st;

	cr_assert(!file_exists(dbpath));
	st = open_store();
	cr_assert(file_exists(dbpath));
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	cr_assert_eq(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* The tables of migration 1 are there. */
	cr_assert_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name IN ('hosts', 'host_labels', 'tokens', "
	    "'commands', 'events')"), 5);
}

Test(store, reopen_keeps_data_and_version)
{
	struct store *st = open_store();
	struct host_rec h = make_host("web1", 1);
	struct loaded l;

	cr_assert_eq(store_host_insert(st, &h), 0);
	store_close(st);

	st = open_store();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	load(st, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.h[0].name, "web1");
	store_close(st);
	cr_assert_eq(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

Test(store, newer_schema_refused)
{
	struct store *st = (struct store *)&st;	/* must be reset */

	char sql[128];

	snprintf(sql, sizeof(sql), "CREATE TABLE hosts (name TEXT); "
	    "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
	sql_exec(sql);
	cr_assert_eq(store_open(&st, dbpath), FERR_VERSION);
	cr_assert_null(st);
	/* Left as it was: not downgraded, nothing migrated. */
	cr_assert_eq(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'tokens'"), 0);

	sql_exec("PRAGMA user_version = 999");
	cr_assert_eq(store_open(&st, dbpath), FERR_VERSION);
	cr_assert_null(st);
}

/* file_has reads the whole file at path and says whether it holds n bytes
 * of b anywhere. */
static int
file_has(const char *path, const uint8_t *b, size_t n)
{
	FILE *fp = fopen(path, "rb");
	static uint8_t buf[1 << 20];
	size_t len, i;

	if (fp == NULL)
		return 0;
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	for (i = 0; i + n <= len; i++)
		if (memcmp(buf + i, b, n) == 0)
			return 1;
	return 0;
}

/* Migration 6: a token stored with its secret, as ferry did before, keeps
 * only its verifier; the secret is gone from the file. */
Test(store, migration_6_turns_token_secrets_into_verifiers)
{
	struct store *st;
	uint8_t secret[TOKEN_SECRET_LEN];
	char hex[80], sql[1024], wal[PATH_MAX + 8];

	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		secret[i] = (uint8_t)(7 * i + 1);
	sodium_bin2hex(hex, sizeof(hex), secret, sizeof(secret));
	snprintf(sql, sizeof(sql), "CREATE TABLE hosts (name TEXT PRIMARY KEY,"
	    " pubkey BLOB NOT NULL, new_pubkey BLOB, state TEXT NOT NULL);"
	    "CREATE TABLE tokens (id BLOB PRIMARY KEY, secret BLOB NOT NULL,"
	    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
	    " labels TEXT NOT NULL DEFAULT '', used_ms INTEGER, used_by TEXT);"
	    /* what the later migrations need of version 5 */
	    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " at_ms INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,"
	    " host TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
	    " deployment INTEGER NOT NULL DEFAULT 0);"
	    "CREATE TABLE deployments (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " service TEXT NOT NULL, revision INTEGER NOT NULL);"
	    "CREATE TABLE services (name TEXT PRIMARY KEY,"
	    " current_revision INTEGER NOT NULL DEFAULT 0);"
	    "INSERT INTO tokens(id, secret, created_ms, expires_ms) VALUES "
	    "(x'00112233445566778899aabbccddeeff', x'%s', 1, 2);"
	    "PRAGMA user_version = 5", hex);
	sql_exec(sql);
	cr_assert(file_has(dbpath, secret, sizeof(secret)) ||
	    file_has(strcat(strcpy(wal, dbpath), "-wal"), secret,
	    sizeof(secret)), "the set-up did not store the secret");
	st = open_store();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	/* The verifier of that secret (test_token.c's known answer). */
	sql_text("SELECT lower(hex(verifier)) FROM tokens", hex, sizeof(hex));
	cr_assert_str_eq(hex, "e4030998cfd5ad1723c169f956aa0b9e"
	    "b8619b5992bd612c2af428ebc79f8df0");
	cr_assert(!file_has(dbpath, secret, sizeof(secret)),
	    "the secret is still in the database file");
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	cr_assert(!file_has(wal, secret, sizeof(secret)),
	    "the secret is still in the write-ahead log");
}

Test(store, open_in_missing_folder_fails)
{
	struct store *st = (struct store *)&st;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/no/such/ferryd.db", dir);
	cr_assert_eq(store_open(&st, path), FERR_STORE);
	cr_assert_null(st);
}

Test(store, wal_mode)
{
	struct store *st = open_store();
	struct host_rec h = make_host("web1", 1);
	char wal[PATH_MAX + 8], mode[32];

	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	cr_assert_eq(store_host_insert(st, &h), 0);
	cr_assert(file_exists(wal), "no %s after a write", wal);
	sql_text("PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
	store_close(st);
	/* WAL is a property of the file: it stays after close. */
	sql_text("PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
}

/* ---- hosts -------------------------------------------------------------- */

Test(store, host_round_trip)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	const struct host_rec *x;
	struct loaded l;

	set_label(&a, "zone", "eu-1");
	set_label(&a, "role", "web");
	a.state = HOST_PENDING;
	a.next_seq = 7;
	b.state = HOST_REVOKED;
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	store_close(st);

	st = open_store();
	load(st, &l);
	cr_assert_eq(l.n, 2);
	/* By name. */
	cr_assert_str_eq(l.h[0].name, "db1");
	cr_assert_str_eq(l.h[1].name, "web1");

	x = find(&l, "web1");
	cr_assert_not_null(x);
	cr_assert_eq(memcmp(x->pk, a.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(x->has_new_pk, 0);
	cr_assert_eq(x->state, HOST_PENDING);
	cr_assert_str_eq(x->address, "10.0.0.1");
	cr_assert_eq(x->last_seen_ms, 1001);
	cr_assert_eq(x->next_seq, 7);
	cr_assert_eq(x->created_ms, 501);
	cr_assert_eq(x->nlabels, 2);
	/* By key. */
	cr_assert_str_eq(x->labels[0].key, "role");
	cr_assert_str_eq(x->labels[0].value, "web");
	cr_assert_str_eq(x->labels[1].key, "zone");
	cr_assert_str_eq(x->labels[1].value, "eu-1");

	x = find(&l, "db1");
	cr_assert_not_null(x);
	cr_assert_eq(memcmp(x->pk, b.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(x->state, HOST_REVOKED);
	cr_assert_eq(x->nlabels, 0);
	store_close(st);
}

Test(store, host_all_labels_round_trip)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	struct loaded l;
	char k[16], v[16];

	for (int i = 0; i < LABELS_MAX; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		snprintf(v, sizeof(v), "v%d", i);
		set_label(&a, k, v);
	}
	cr_assert_eq(store_host_insert(st, &a), 0);
	load(st, &l);
	cr_assert_eq(l.h[0].nlabels, LABELS_MAX);
	for (int i = 0; i < LABELS_MAX; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		snprintf(v, sizeof(v), "v%d", i);
		cr_assert_str_eq(l.h[0].labels[i].key, k);
		cr_assert_str_eq(l.h[0].labels[i].value, v);
	}
	store_close(st);
}

Test(store, host_duplicate_name_or_key)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	struct host_rec same_name = make_host("web1", 2);
	struct host_rec same_key = make_host("web2", 1);
	struct loaded l;

	set_label(&a, "role", "web");
	set_label(&same_name, "role", "other");
	set_label(&same_name, "extra", "x");
	set_label(&same_key, "role", "other");
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &same_name), FERR_EXISTS);
	cr_assert_eq(store_host_insert(st, &same_key), FERR_EXISTS);

	/* Nothing changed: one host, its own key and labels. */
	load(st, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.h[0].name, "web1");
	cr_assert_eq(memcmp(l.h[0].pk, a.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(l.h[0].nlabels, 1);
	cr_assert_str_eq(label_of(&l.h[0], "role"), "web");
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM host_labels"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM hosts"), 1);

	/* And the store still takes writes (no transaction left open). */
	st = open_store();
	struct host_rec c = make_host("web3", 3);
	cr_assert_eq(store_host_insert(st, &c), 0);
	load(st, &l);
	cr_assert_eq(l.n, 2);
	store_close(st);
}

Test(store, host_set_state)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	struct loaded l;

	a.state = HOST_PENDING;
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_set_state(st, "web1", HOST_ACCEPTED), 0);
	load(st, &l);
	cr_assert_eq(l.h[0].state, HOST_ACCEPTED);
	cr_assert_eq(store_host_set_state(st, "web1", HOST_REVOKED), 0);
	store_close(st);
	st = open_store();
	load(st, &l);
	cr_assert_eq(l.h[0].state, HOST_REVOKED);
	cr_assert_eq(store_host_set_state(st, "nope", HOST_ACCEPTED),
	    FERR_NOTFOUND);
	load(st, &l);
	cr_assert_eq(l.n, 1);
	store_close(st);
}

Test(store, host_set_labels)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	struct label next[2];
	struct loaded l;
	const struct host_rec *x;

	set_label(&a, "role", "web");
	set_label(&a, "zone", "eu");
	set_label(&b, "role", "db");
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);

	/* Replaces the whole set: zone goes, tier comes, role changes. */
	snprintf(next[0].key, sizeof(next[0].key), "role");
	snprintf(next[0].value, sizeof(next[0].value), "api");
	snprintf(next[1].key, sizeof(next[1].key), "tier");
	snprintf(next[1].value, sizeof(next[1].value), "1");
	cr_assert_eq(store_host_set_labels(st, "web1", next, 2), 0);
	store_close(st);
	st = open_store();
	load(st, &l);
	x = find(&l, "web1");
	cr_assert_eq(x->nlabels, 2);
	cr_assert_str_eq(label_of(x, "role"), "api");
	cr_assert_str_eq(label_of(x, "tier"), "1");
	cr_assert_null(label_of(x, "zone"));
	/* The other host's labels are untouched. */
	x = find(&l, "db1");
	cr_assert_eq(x->nlabels, 1);
	cr_assert_str_eq(label_of(x, "role"), "db");

	/* No labels at all. */
	cr_assert_eq(store_host_set_labels(st, "web1", NULL, 0), 0);
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->nlabels, 0);
	cr_assert_eq(find(&l, "db1")->nlabels, 1);

	/* Unknown host: not found, with or without labels, and nothing
	 * written. */
	cr_assert_eq(store_host_set_labels(st, "nope", next, 2),
	    FERR_NOTFOUND);
	cr_assert_eq(store_host_set_labels(st, "nope", NULL, 0),
	    FERR_NOTFOUND);
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM host_labels"), 1);
}

/* claim_of is h with a claim by pk from `from` at `at`, with a token or
 * not (static: the caller uses it at once). */
static const struct host_rec *
claim_of(const struct host_rec *h, const uint8_t *pk, const char *from,
    uint64_t at, int token)
{
	static struct host_rec c;

	c = *h;
	c.has_new_pk = 1;
	memcpy(c.new_pk, pk, KEY_PUBLIC_LEN);
	snprintf(c.new_key_from, sizeof(c.new_key_from), "%s", from);
	c.new_key_at_ms = at;
	c.new_key_token = token;
	return &c;
}

Test(store, host_new_key)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	uint8_t k3[KEY_PUBLIC_LEN], k2[KEY_PUBLIC_LEN];
	struct loaded l;
	const struct host_rec *x;

	fill(k3, sizeof(k3), 3);
	fill(k2, sizeof(k2), 2);
	a.state = HOST_REVOKED;
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);

	/* Nothing waiting: nothing to take. */
	cr_assert_eq(store_host_take_new_key(st, "web1", k3), FERR_NOTFOUND);

	cr_assert_eq(store_host_set_new_key(st, "web1", claim_of(&a, k3,
	    "127.0.0.9", 1234, 1)), 0);
	store_close(st);
	st = open_store();
	load(st, &l);
	x = find(&l, "web1");
	cr_assert_eq(x->has_new_pk, 1);
	cr_assert_eq(memcmp(x->new_pk, k3, KEY_PUBLIC_LEN), 0);
	/* Where and when it came from, and with a token, are kept. */
	cr_assert_str_eq(x->new_key_from, "127.0.0.9");
	cr_assert_eq(x->new_key_at_ms, 1234);
	cr_assert_eq(x->new_key_token, 1);
	/* The key in use is still the old one. */
	cr_assert_eq(memcmp(x->pk, a.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(find(&l, "db1")->has_new_pk, 0);
	/* A later claim replaces it: one claim per host, however many. */
	cr_assert_eq(store_host_set_new_key(st, "web1", claim_of(&a, k2,
	    "127.0.0.10", 2000, 0)), 0);
	load(st, &l);
	x = find(&l, "web1");
	cr_assert_eq(memcmp(x->new_pk, k2, KEY_PUBLIC_LEN), 0);
	cr_assert_str_eq(x->new_key_from, "127.0.0.10");
	cr_assert_eq(x->new_key_token, 0);
	/* Taking a key that is not the one waiting changes nothing. */
	cr_assert_eq(store_host_take_new_key(st, "web1", k3), FERR_NOTFOUND);

	/* Cleared with NULL. */
	cr_assert_eq(store_host_set_new_key(st, "web1", NULL), 0);
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->has_new_pk, 0);
	cr_assert_eq(store_host_take_new_key(st, "web1", k3), FERR_NOTFOUND);
	load(st, &l);
	cr_assert_eq(memcmp(find(&l, "web1")->pk, a.pk, KEY_PUBLIC_LEN), 0);

	/* Taken: it becomes the key, nothing waits, the host is accepted. */
	cr_assert_eq(store_host_set_new_key(st, "web1", claim_of(&a, k3,
	    "127.0.0.9", 1234, 0)), 0);
	cr_assert_eq(store_host_take_new_key(st, "web1", k3), 0);
	store_close(st);
	st = open_store();
	load(st, &l);
	x = find(&l, "web1");
	cr_assert_eq(memcmp(x->pk, k3, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(x->has_new_pk, 0);
	cr_assert_str_eq(x->new_key_from, "");
	cr_assert_eq(x->state, HOST_ACCEPTED);

	/* A waiting key that another host holds cannot be taken. */
	cr_assert_eq(store_host_set_new_key(st, "web1", claim_of(&a, k2,
	    "127.0.0.9", 1, 0)), 0);
	cr_assert_eq(store_host_take_new_key(st, "web1", k2), FERR_EXISTS);
	load(st, &l);
	cr_assert_eq(memcmp(find(&l, "web1")->pk, k3, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(memcmp(find(&l, "db1")->pk, k2, KEY_PUBLIC_LEN), 0);

	cr_assert_eq(store_host_set_new_key(st, "nope", claim_of(&a, k3, "x",
	    1, 0)), FERR_NOTFOUND);
	cr_assert_eq(store_host_take_new_key(st, "nope", k3), FERR_NOTFOUND);
	store_close(st);
}

Test(store, host_seen)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	struct loaded l;

	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_seen(st, "web1", 123456789, "192.0.2.7"), 0);
	store_close(st);
	st = open_store();
	load(st, &l);
	cr_assert_eq(l.h[0].last_seen_ms, 123456789);
	cr_assert_str_eq(l.h[0].address, "192.0.2.7");
	cr_assert_eq(store_host_seen(st, "nope", 1, "192.0.2.8"),
	    FERR_NOTFOUND);
	store_close(st);
}

/* ---- tokens ------------------------------------------------------------- */

struct proof {
	uint8_t want[32];
	int calls;
	int answer;		/* forced answer when >= 0 */
};

static int
check_proof(void *arg, const uint8_t *secret)
{
	struct proof *p = arg;

	p->calls++;
	if (p->answer >= 0)
		return p->answer;
	return memcmp(secret, p->want, 32) == 0 ? 0 : -1;
}

static const uint8_t *
token_id(uint8_t b)
{
	static uint8_t ids[4][16];
	static int next;
	uint8_t *id = ids[next++ % 4];

	fill(id, 16, b);
	return id;
}

static void
insert_token(struct store *st, uint8_t idb, uint8_t secretb,
    uint64_t expires_ms, const struct label *labels, size_t n)
{
	uint8_t secret[32];

	fill(secret, sizeof(secret), secretb);
	cr_assert_eq(store_token_insert(st, token_id(idb), secret, 10,
	    expires_ms, labels, n), 0);
}

static long long
token_used(uint8_t idb)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT used_ms IS NOT NULL FROM tokens "
	    "WHERE id = x'%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x"
	    "%02x%02x%02x%02x'", idb, idb, idb, idb, idb, idb, idb, idb, idb,
	    idb, idb, idb, idb, idb, idb, idb);
	return sql_int(sql);
}

Test(store, token_join_once)
{
	struct store *st = open_store();
	struct label tl[2];
	struct host_rec h = make_host("web1", 1), again = make_host("web2", 2);
	struct proof p = { .answer = -1 };
	struct loaded l;
	const char *why = NULL;
	char used_by[64];

	snprintf(tl[0].key, sizeof(tl[0].key), "zone");
	snprintf(tl[0].value, sizeof(tl[0].value), "eu-1");
	snprintf(tl[1].key, sizeof(tl[1].key), "tier");
	snprintf(tl[1].value, sizeof(tl[1].value), "gold");
	fill(p.want, sizeof(p.want), 0x5a);
	insert_token(st, 7, 0x5a, 5000, tl, 2);
	set_label(&h, "role", "web");

	cr_assert_eq(store_token_join(st, token_id(7), 4000, check_proof, &p,
	    &h, NULL, &why), 0);
	cr_assert_eq(p.calls, 1);
	cr_assert_str_eq(why, "");
	/* The caller's record has the token's labels too. */
	cr_assert_eq(h.nlabels, 3);
	cr_assert_str_eq(label_of(&h, "zone"), "eu-1");
	store_close(st);

	cr_assert_eq(token_used(7), 1);
	cr_assert_eq(sql_int("SELECT used_ms FROM tokens"), 4000);
	sql_text("SELECT used_by FROM tokens", used_by, sizeof(used_by));
	cr_assert_str_eq(used_by, "web1");

	st = open_store();
	load(st, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.h[0].name, "web1");
	cr_assert_eq(memcmp(l.h[0].pk, h.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(l.h[0].nlabels, 3);
	cr_assert_str_eq(label_of(&l.h[0], "role"), "web");
	cr_assert_str_eq(label_of(&l.h[0], "zone"), "eu-1");
	cr_assert_str_eq(label_of(&l.h[0], "tier"), "gold");

	/* Second use, even with the right proof and a new host: refused. */
	why = NULL;
	cr_assert_eq(store_token_join(st, token_id(7), 4001, check_proof, &p,
	    &again, NULL, &why), FERR_TOKEN);
	cr_assert_str_eq(why, "token already used");
	load(st, &l);
	cr_assert_eq(l.n, 1);
	store_close(st);
	cr_assert_eq(sql_int("SELECT used_ms FROM tokens"), 4000);
	sql_text("SELECT used_by FROM tokens", used_by, sizeof(used_by));
	cr_assert_str_eq(used_by, "web1");
}

/* refused_join asserts that joining with token idb fails with rc and why,
 * inserts no host and leaves the token unused. */
static void
refused_join(struct store *st, uint8_t idb, uint64_t now_ms, struct proof *p,
    int rc, const char *want_why)
{
	struct host_rec h = make_host("joiner", 9);
	struct loaded before, after;
	const char *why = NULL;

	load(st, &before);
	cr_assert_eq(store_token_join(st, token_id(idb), now_ms, check_proof, p,
	    &h, NULL, &why), rc, "token %u", idb);
	cr_assert_not_null(why);
	cr_assert_str_eq(why, want_why);
	load(st, &after);
	cr_assert_eq(after.n, before.n, "token %u: a host was inserted", idb);
	cr_assert_null(find(&after, "joiner"));
	cr_assert_eq(sql_int("SELECT count(*) FROM hosts WHERE name = "
	    "'joiner'"), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM host_labels WHERE host = "
	    "'joiner'"), 0);
}

Test(store, token_join_refusals_are_atomic)
{
	struct store *st = open_store();
	struct proof good = { .answer = -1 }, bad = { .answer = 1 };
	struct label tl[1];

	snprintf(tl[0].key, sizeof(tl[0].key), "zone");
	snprintf(tl[0].value, sizeof(tl[0].value), "eu");
	fill(good.want, sizeof(good.want), 0x11);
	insert_token(st, 1, 0x11, 5000, tl, 1);

	/* Unknown id. */
	refused_join(st, 2, 1000, &good, FERR_TOKEN, "unknown token");
	cr_assert_eq(good.calls, 0);

	/* Expired: at and after its expiry; the proof is not even asked. */
	refused_join(st, 1, 5000, &good, FERR_TOKEN, "token expired");
	refused_join(st, 1, 9000, &good, FERR_TOKEN, "token expired");
	cr_assert_eq(good.calls, 0);
	cr_assert_eq(token_used(1), 0);

	/* Proof callback says no. */
	refused_join(st, 1, 1000, &bad, FERR_TOKEN,
	    "token proof does not match");
	cr_assert_eq(bad.calls, 1);
	cr_assert_eq(token_used(1), 0);

	/* A proof made for another secret. */
	fill(bad.want, sizeof(bad.want), 0x12);
	bad.answer = -1;
	refused_join(st, 1, 1000, &bad, FERR_TOKEN,
	    "token proof does not match");
	cr_assert_eq(token_used(1), 0);

	/* A name already enrolled: the token is used for nothing, so it
	 * stays unused (the UPDATE is rolled back with the failed insert). */
	struct host_rec taken = make_host("taken", 3);
	cr_assert_eq(store_host_insert(st, &taken), 0);
	{
		struct host_rec h = make_host("taken", 9);
		struct loaded l;
		const char *why = NULL;

		cr_assert_eq(store_token_join(st, token_id(1), 1000,
		    check_proof, &good, &h, NULL, &why), FERR_EXISTS);
		cr_assert_str_eq(why, "host name or key already enrolled");
		load(st, &l);
		cr_assert_eq(l.n, 1);
		cr_assert_eq(memcmp(l.h[0].pk, taken.pk, KEY_PUBLIC_LEN), 0);
		cr_assert_eq(l.h[0].nlabels, 0);
	}
	/* Same for a key already enrolled under another name. */
	{
		struct host_rec h = make_host("other", 3);
		const char *why = NULL;

		cr_assert_eq(store_token_join(st, token_id(1), 1000,
		    check_proof, &good, &h, NULL, &why), FERR_EXISTS);
		cr_assert_str_eq(why, "host name or key already enrolled");
	}
	cr_assert_eq(token_used(1), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM hosts"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM host_labels"), 0);

	/* After all that, the token still works exactly once. */
	{
		struct host_rec h = make_host("fresh", 4);
		const char *why = NULL;

		cr_assert_eq(store_token_join(st, token_id(1), 4999,
		    check_proof, &good, &h, NULL, &why), 0);
	}
	cr_assert_eq(token_used(1), 1);
	refused_join(st, 1, 1000, &good, FERR_TOKEN, "token already used");
	store_close(st);
}

Test(store, token_duplicate_id)
{
	struct store *st = open_store();
	uint8_t secret[32];

	fill(secret, sizeof(secret), 1);
	cr_assert_eq(store_token_insert(st, token_id(1), secret, 1, 2, NULL,
	    0), 0);
	cr_assert_eq(store_token_insert(st, token_id(1), secret, 1, 2, NULL,
	    0), FERR_EXISTS);
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM tokens"), 1);
}

/* ---- commands ----------------------------------------------------------- */

static long long
command_count(void)
{
	return sql_int("SELECT count(*) FROM commands");
}

Test(store, command_insert_raises_next_seq_durably)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	uint8_t env[] = { 0xfe, 0x00, 0x01, 0x02, 0xff };
	struct command_rec c, got;
	struct loaded l;

	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	make_command(&c, "web1", 1, 0xa1, 10000, env, sizeof(env));
	cr_assert_eq(store_command_insert(st, &c), 0);
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->next_seq, 1);
	cr_assert_eq(find(&l, "db1")->next_seq, 0);

	make_command(&c, "web1", 2, 0xa2, 10000, env, sizeof(env));
	cr_assert_eq(store_command_insert(st, &c), 0);
	store_close(st);

	st = open_store();
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->next_seq, 2);
	cr_assert_eq(find(&l, "db1")->next_seq, 0);
	memset(&got, 0x55, sizeof(got));
	cr_assert_eq(store_command_get(st, c.id, &got), 0);
	cr_assert_eq(memcmp(got.id, c.id, COMMAND_ID_LEN), 0);
	cr_assert_str_eq(got.host, "web1");
	cr_assert_eq(got.seq, 2);
	cr_assert_str_eq(got.kind, "ping");
	cr_assert_str_eq(got.state, "queued");
	cr_assert_eq(got.created_ms, 100);
	cr_assert_eq(got.expires_ms, 10000);
	cr_assert_null(got.envelope);
	store_close(st);
	cr_assert_eq(command_count(), 2);
	cr_assert_eq(sql_int("SELECT hex(envelope) = 'FE000102FF' FROM "
	    "commands WHERE seq = 2"), 1);
}

Test(store, command_insert_refused_changes_nothing)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	uint8_t env[] = { 1, 2, 3 };
	struct command_rec c;
	struct loaded l;

	cr_assert_eq(store_host_insert(st, &a), 0);
	make_command(&c, "web1", 5, 0xb1, 10000, env, sizeof(env));
	cr_assert_eq(store_command_insert(st, &c), 0);

	/* Same id again, with a higher sequence: refused, mark unmoved. */
	make_command(&c, "web1", 9, 0xb1, 10000, env, sizeof(env));
	cr_assert_eq(store_command_insert(st, &c), FERR_EXISTS);
	load(st, &l);
	cr_assert_eq(l.h[0].next_seq, 5);

	/* A host that does not exist (foreign keys are on). */
	make_command(&c, "nope", 1, 0xb2, 10000, env, sizeof(env));
	cr_assert_neq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_command_get(st, c.id, &c), FERR_NOTFOUND);

	/* A lower sequence does not lower the host's mark. */
	make_command(&c, "web1", 3, 0xb3, 10000, env, sizeof(env));
	cr_assert_eq(store_command_insert(st, &c), 0);
	load(st, &l);
	cr_assert_eq(l.h[0].next_seq, 5);
	store_close(st);
	cr_assert_eq(command_count(), 2);
}

struct listed {
	struct command_rec c[16];
	uint8_t env[16][8];
	size_t n;
};

static void
on_command(void *arg, const struct command_rec *c)
{
	struct listed *l = arg;

	cr_assert_lt(l->n, 16);
	l->c[l->n] = *c;
	cr_assert_leq(c->envelope_len, 8);
	memcpy(l->env[l->n], c->envelope, c->envelope_len);
	l->c[l->n].envelope = NULL;
	l->n++;
}

static void
assert_state(struct store *st, uint8_t idbyte, const char *state)
{
	uint8_t id[COMMAND_ID_LEN];
	struct command_rec c;

	fill(id, sizeof(id), idbyte);
	cr_assert_eq(store_command_get(st, id, &c), 0, "id %02x", idbyte);
	cr_assert_str_eq(c.state, state, "id %02x: %s, want %s", idbyte,
	    c.state, state);
}

/* dep_row records deployment id of web in engine state (raw SQL: only
 * its state matters here). */
static void
dep_row(uint64_t id, int state)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "INSERT INTO deployments (id, service, "
	    "revision, previous_revision, image, state, batch, nbatches, "
	    "batch_size, max_failures, on_failure, pause_ms, "
	    "next_batch_at_ms, failures, created_ms, updated_ms) VALUES "
	    "(%llu, 'web', 1, 0, 'img', %d, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1)",
	    (unsigned long long)id, state);
	sql_exec(sql);
}

Test(store, commands_open_lists_and_expires)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	struct command_rec c;
	struct listed l = { .n = 0 };
	uint8_t env[4] = { 0 };

	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	store_close(st);
	dep_row(7, RO_RUNNING);		/* still running */
	dep_row(8, RO_ROLLED_BACK);	/* ended */
	st = open_store();
	/* Inserted out of order on purpose; times play no part: a restart
	 * re-arms what is open, whatever the clock says. */
	env[0] = 1;
	make_command(&c, "web1", 2, 0x01, 9000, env, 4);
	c.deployment = 7;
	cr_assert_eq(store_command_insert(st, &c), 0);
	env[0] = 2;
	make_command(&c, "db1", 3, 0x02, 1, env, 4);
	c.deployment = 7;
	cr_assert_eq(store_command_insert(st, &c), 0);
	env[0] = 3;
	make_command(&c, "web1", 1, 0x03, 9000, env, 4);
	c.deployment = 7;
	snprintf(c.state, sizeof(c.state), "sent");
	cr_assert_eq(store_command_insert(st, &c), 0);
	env[0] = 4;
	make_command(&c, "db1", 1, 0x04, 9000, env, 4);
	c.deployment = 7;
	snprintf(c.state, sizeof(c.state), "accepted");
	cr_assert_eq(store_command_insert(st, &c), 0);
	/* Nothing waits for these any more: no deployment (a ping's waiter
	 * is gone), or one that has ended. */
	make_command(&c, "web1", 3, 0x05, 9000, env, 4);
	cr_assert_eq(store_command_insert(st, &c), 0);
	make_command(&c, "db1", 4, 0x06, 9000, env, 4);
	c.deployment = 8;
	snprintf(c.state, sizeof(c.state), "accepted");
	cr_assert_eq(store_command_insert(st, &c), 0);
	/* Answered: never listed, never expired. */
	make_command(&c, "web1", 4, 0x07, 4000, env, 4);
	c.deployment = 7;
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_command_set_state(st, c.id, "succeeded", "pong"),
	    0);
	make_command(&c, "db1", 5, 0x08, 9000, env, 4);
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_command_set_state(st, c.id, "failed", "boom"), 0);
	make_command(&c, "db1", 6, 0x09, 9000, env, 4);
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_command_set_state(st, c.id, "refused", "no"), 0);

	cr_assert_eq(store_commands_open(st, on_command, &l), 0);
	cr_assert_eq(l.n, 4);
	/* (host, seq) order. */
	cr_assert_str_eq(l.c[0].host, "db1");
	cr_assert_eq(l.c[0].seq, 1);
	cr_assert_eq(l.c[0].id[0], 0x04);
	cr_assert_str_eq(l.c[0].state, "accepted");
	cr_assert_eq(l.env[0][0], 4);
	cr_assert_str_eq(l.c[1].host, "db1");
	cr_assert_eq(l.c[1].seq, 3);
	cr_assert_eq(l.c[1].id[0], 0x02);
	cr_assert_eq(l.env[1][0], 2);
	cr_assert_str_eq(l.c[2].host, "web1");
	cr_assert_eq(l.c[2].seq, 1);
	cr_assert_str_eq(l.c[2].state, "sent");
	cr_assert_eq(l.env[2][0], 3);
	cr_assert_str_eq(l.c[3].host, "web1");
	cr_assert_eq(l.c[3].seq, 2);
	cr_assert_eq(l.c[3].id[0], 0x01);
	cr_assert_str_eq(l.c[3].state, "queued");
	cr_assert_eq(l.c[3].envelope_len, 4);
	cr_assert_eq(l.env[3][0], 1);
	cr_assert_eq(l.c[3].expires_ms, 9000);
	cr_assert_eq(l.c[3].deployment, 7);

	/* What nothing waits for is recorded expired; answered ones are
	 * not touched. */
	assert_state(st, 0x05, "expired");
	assert_state(st, 0x06, "expired");
	assert_state(st, 0x07, "succeeded");
	assert_state(st, 0x08, "failed");
	assert_state(st, 0x09, "refused");
	assert_state(st, 0x01, "queued");
	assert_state(st, 0x02, "queued");
	assert_state(st, 0x03, "sent");
	assert_state(st, 0x04, "accepted");

	/* Signed again with new times: the listing carries them. */
	env[0] = 9;
	cr_assert_eq(store_command_rearm(st, l.c[3].id, env, 1, 20000, 30000),
	    0);
	store_close(st);

	/* Durable; once the deployment ends, nothing of it is open. */
	st = open_store();
	memset(&l, 0, sizeof(l));
	cr_assert_eq(store_commands_open(st, on_command, &l), 0);
	cr_assert_eq(l.n, 4);
	cr_assert_eq(l.c[3].id[0], 0x01);
	cr_assert_eq(l.c[3].expires_ms, 20000);
	cr_assert_eq(l.c[3].deadline_ms, 30000);
	cr_assert_eq(l.c[3].envelope_len, 1);
	cr_assert_eq(l.env[3][0], 9);
	store_close(st);
	sql_exec("UPDATE deployments SET state = 5 WHERE id = 7");
	st = open_store();
	memset(&l, 0, sizeof(l));
	cr_assert_eq(store_commands_open(st, on_command, &l), 0);
	cr_assert_eq(l.n, 0);
	for (uint8_t i = 1; i <= 6; i++)
		assert_state(st, i, "expired");
	assert_state(st, 0x07, "succeeded");
	store_close(st);
}

Test(store, command_set_state)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	uint8_t env[] = { 9 }, unknown[COMMAND_ID_LEN];
	struct command_rec c;
	char result[64];

	cr_assert_eq(store_host_insert(st, &a), 0);
	make_command(&c, "web1", 1, 0xc1, 9000, env, 1);
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_command_set_state(st, c.id, "sent", NULL), 0);
	assert_state(st, 0xc1, "sent");
	cr_assert_eq(store_command_set_state(st, c.id, "succeeded",
	    "pong in 3 ms"), 0);
	store_close(st);
	st = open_store();
	assert_state(st, 0xc1, "succeeded");
	store_close(st);
	sql_text("SELECT result FROM commands", result, sizeof(result));
	cr_assert_str_eq(result, "pong in 3 ms");
	cr_assert_gt(sql_int("SELECT updated_ms FROM commands"), 100);

	st = open_store();
	fill(unknown, sizeof(unknown), 0xc2);
	cr_assert_eq(store_command_set_state(st, unknown, "failed", "x"),
	    FERR_NOTFOUND);
	cr_assert_eq(store_command_get(st, unknown, &c), FERR_NOTFOUND);
	store_close(st);
	cr_assert_eq(command_count(), 1);
}

/* The commands of one `ferry ping` are recorded in one batch: all of them
 * when it commits, none (and no sequence taken) when it rolls back; their
 * states after that are notes. */
Test(store, ping_batch_commits_or_rolls_back_whole)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("db1", 2);
	uint8_t env[] = { 7 };
	struct command_rec c;
	struct loaded l;

	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	cr_assert_eq(store_batch_begin(st, 0), 0);
	make_command(&c, "web1", 1, 0xd1, 9000, env, 1);
	cr_assert_eq(store_command_insert(st, &c), 0);
	make_command(&c, "db1", 1, 0xd2, 9000, env, 1);
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_batch_end(st, FERR_IO), FERR_IO, "rolled back");
	cr_assert_eq(command_count(), 0);
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->next_seq, 0);

	cr_assert_eq(store_batch_begin(st, 0), 0);
	make_command(&c, "web1", 1, 0xd1, 9000, env, 1);
	cr_assert_eq(store_command_insert(st, &c), 0);
	make_command(&c, "db1", 1, 0xd2, 9000, env, 1);
	cr_assert_eq(store_command_insert(st, &c), 0);
	cr_assert_eq(store_batch_end(st, 0), 0);
	cr_assert_eq(command_count(), 2);
	cr_assert_eq(store_command_note(st, c.id, "sent", NULL), 0);
	cr_assert_eq(store_command_note(st, c.id, "succeeded", "pong"), 0);
	fill(c.id, sizeof(c.id), 0xd3);
	cr_assert_eq(store_command_note(st, c.id, "sent", NULL),
	    FERR_NOTFOUND);
	/* A durable write after the notes still commits. */
	make_command(&c, "web1", 2, 0xd4, 9000, env, 1);
	snprintf(c.kind, sizeof(c.kind), "swap");
	cr_assert_eq(store_command_insert(st, &c), 0);
	store_close(st);
	st = open_store();
	assert_state(st, 0xd2, "succeeded");
	assert_state(st, 0xd4, "queued");
	load(st, &l);
	cr_assert_eq(find(&l, "web1")->next_seq, 2);
	cr_assert_eq(find(&l, "db1")->next_seq, 1);
	store_close(st);
}

/* ---- events ------------------------------------------------------------- */

Test(store, events)
{
	struct store *st = open_store();
	char text[64];

	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 0);
	cr_assert_eq(store_event(st, "alice", "host-accepted", "web1",
	    "by hand"), 0);
	cr_assert_eq(store_event(st, "ferryd", "start", NULL, NULL), 0);
	cr_assert_eq(store_event(st, "bob", "token-created", "", "ttl 1h"),
	    0);
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 3);
	sql_text("SELECT actor || '|' || kind || '|' || host || '|' || detail "
	    "FROM events ORDER BY id LIMIT 1", text, sizeof(text));
	cr_assert_str_eq(text, "alice|host-accepted|web1|by hand");
	sql_text("SELECT actor || '|' || kind || '|' || host || '|' || detail "
	    "FROM events WHERE actor = 'ferryd'", text, sizeof(text));
	cr_assert_str_eq(text, "ferryd|start||");
	cr_assert_gt(sql_int("SELECT min(at_ms) FROM events"), 0);
}

struct ev_seen {
	uint64_t id[16], times[16];
	size_t n;
};

static void
on_ev(void *arg, const struct event_rec *e)
{
	struct ev_seen *s = arg;

	cr_assert_lt(s->n, 16);
	s->times[s->n] = e->times;
	s->id[s->n++] = e->id;
}

Test(store, events_filtered_and_paged)
{
	struct store *st = open_store();
	struct event_filter f = { 0 };
	struct ev_seen s = { .n = 0 };
	int i;

	for (i = 0; i < 4; i++)
		cr_assert_eq(store_event(st, "ferryd", "host-online",
		    i % 2 ? "web-1" : "web-2", ""), 0);
	cr_assert_eq(store_event_n(st, "ferryd", "refused", "", "1999 more "
	    "refused from 127.0.0.9: malformed", 1999), 0);
	cr_assert_eq(store_deploy_event(st, 7, "ferryd", "state", "",
	    "running"), 0);
	/* Newest first, limited: the first page, then the next. */
	f.newest_first = 1;
	f.limit = 2;
	cr_assert_eq(store_events_list(st, &f, on_ev, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert(s.id[0] == 6 && s.id[1] == 5);
	cr_assert_eq(s.times[1], 1999);
	cr_assert_eq(s.times[0], 1);
	f.before_id = 5;
	s.n = 0;
	store_events_list(st, &f, on_ev, &s);
	cr_assert(s.n == 2 && s.id[0] == 4 && s.id[1] == 3);
	/* Filters, each alone. */
	memset(&f, 0, sizeof(f));
	f.kind = "host-online";
	f.host = "web-1";
	s.n = 0;
	store_events_list(st, &f, on_ev, &s);
	cr_assert(s.n == 2 && s.id[0] == 2 && s.id[1] == 4);
	memset(&f, 0, sizeof(f));
	f.deployment = 7;
	s.n = 0;
	store_events_list(st, &f, on_ev, &s);
	cr_assert(s.n == 1 && s.id[0] == 6);
	memset(&f, 0, sizeof(f));
	f.since_ms = clock_wall_ms() + 60000;
	s.n = 0;
	store_events_list(st, &f, on_ev, &s);
	cr_assert_eq(s.n, 0);
	memset(&f, 0, sizeof(f));
	f.after_id = 4;
	s.n = 0;
	store_events_list(st, &f, on_ev, &s);
	cr_assert(s.n == 2 && s.id[0] == 5 && s.id[1] == 6);
	store_close(st);
}

/* ---- deployments -------------------------------------------------------- */

/* The tables a deployment's commit may write. */
static const char *const commit_tables[] = { "hosts", "deployments",
    "deployment_hosts", "commands", "events", "services" };
#define NCOMMIT_TABLES (sizeof(commit_tables) / sizeof(commit_tables[0]))

/* Every row of those tables as text, from a connection of its own. */
struct snapshot {
	char t[NCOMMIT_TABLES][16384];
};

static void
dump_table(sqlite3 *db, const char *table, char *out, size_t len)
{
	sqlite3_stmt *s;
	char sql[128];
	size_t n = 0;
	int i, k;

	snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1, 2", table);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	out[0] = '\0';
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (i = 0; i < sqlite3_column_count(s); i++) {
			if (sqlite3_column_type(s, i) == SQLITE_BLOB) {
				const uint8_t *b = sqlite3_column_blob(s, i);
				for (k = 0; k < sqlite3_column_bytes(s, i) &&
				    n + 3 < len; k++)
					n += (size_t)snprintf(out + n, len - n,
					    "%02x", b[k]);
			} else {
				const unsigned char *t =
				    sqlite3_column_text(s, i);
				n += (size_t)snprintf(out + n, len - n, "%s",
				    t != NULL ? (const char *)t : "NULL");
			}
			cr_assert_lt(n + 2, len, "%s: too big to compare",
			    table);
			out[n++] = '|';
			out[n] = '\0';
		}
		out[n++] = '\n';
		out[n] = '\0';
	}
	sqlite3_finalize(s);
}

static void
snapshot_take(struct snapshot *sn)
{
	sqlite3 *db;
	size_t i;

	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	for (i = 0; i < NCOMMIT_TABLES; i++)
		dump_table(db, commit_tables[i], sn->t[i], sizeof(sn->t[i]));
	sqlite3_close(db);
}

static void
snapshot_same(const struct snapshot *a, const struct snapshot *b,
    const char *what)
{
	size_t i;

	for (i = 0; i < NCOMMIT_TABLES; i++)
		cr_assert_str_eq(a->t[i], b->t[i], "%s: table %s changed:\n"
		    "before:\n%s\nafter:\n%s", what, commit_tables[i],
		    a->t[i], b->t[i]);
}

/*
 * A commit that fails partway writes nothing: not the deployment's new
 * state (written first), not its hosts, not the commands before the one
 * that failed (nor the hosts' sequence marks they raise), not the events.
 * Then the same commit without the bad part writes all of it, so the
 * failed ones had something to write.
 */
Test(store, deploy_commit_failing_partway_writes_nothing)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("web2", 2);
	const char *names[] = { "web1", "web2" };
	struct deploy_rec d;
	struct rollout r;
	struct command_rec c[3];
	struct command_rec *cmds[3] = { &c[0], &c[1], &c[2] };
	struct deploy_event ev[2] = {
		{ "alice", "deploy-succeeded", "", "all hosts healthy" },
		{ "alice", NULL, "web2", "an event with no kind" },
	};
	struct snapshot *before = malloc(sizeof(*before));
	struct snapshot *after = malloc(sizeof(*after));
	uint8_t env[] = { 0x5a };
	uint64_t running = 0, rev = 0;
	char why[128];
	size_t i;

	cr_assert(before != NULL && after != NULL);
	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	memset(&d, 0, sizeof(d));
	snprintf(d.service, sizeof(d.service), "web");
	d.revision = 1;
	snprintf(d.image, sizeof(d.image), "registry.example/web:1");
	snprintf(d.actor, sizeof(d.actor), "alice");
	cr_assert_eq(rollout_plan(&r, names, NULL, 2, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(store_deploy_create(st, &d, &r, &running), 0);
	cr_assert_neq(d.id, 0);
	snapshot_take(before);

	/* The engine's next state: done, and everything it touches. */
	snprintf(d.digest, sizeof(d.digest), "registry.example/web@sha256:"
	    "%064d", 7);
	r.state = RO_SUCCEEDED;
	r.batch = 1;
	r.failures = 0;
	snprintf(r.cause, sizeof(r.cause), "all batches healthy");
	for (i = 0; i < r.nhosts; i++) {
		r.hosts[i].state = RH_DONE;
		r.hosts[i].since_ms = 4242;
	}
	make_command(&c[0], "web1", 1, 0xc1, 9000, env, sizeof(env));
	make_command(&c[1], "web2", 1, 0xc2, 9000, env, sizeof(env));
	for (i = 0; i < 3; i++) {
		c[i].deployment = d.id;
		snprintf(c[i].kind, sizeof(c[i].kind), "swap");
	}

	/* 1. The last command reuses the first one's id: refused by the
	 * commands' primary key, after the deployment, its hosts, two
	 * commands and the hosts' sequence marks were written. */
	make_command(&c[2], "web2", 2, 0xc1, 9000, env, sizeof(env));
	c[2].deployment = d.id;
	cr_assert_neq(store_deploy_commit(st, &d, &r, cmds, 3, ev, 1), 0,
	    "a duplicate command id was accepted");
	snapshot_take(after);
	snapshot_same(before, after, "a command failed");

	/* 2. The commands are fine; the second event has no kind: refused
	 * by the events' NOT NULL, after every command and one event. */
	cr_assert_neq(store_deploy_commit(st, &d, &r, cmds, 2, ev, 2), 0,
	    "an event with no kind was accepted");
	snapshot_take(after);
	snapshot_same(before, after, "an event failed");
	cr_assert_eq(store_service_current(st, "web", &rev), 0);
	cr_assert_eq(rev, 0, "the revision became current");

	/* 3. Without the bad event, all of it lands (and the store is not
	 * left inside a transaction by the failures). */
	cr_assert_eq(store_deploy_commit(st, &d, &r, cmds, 2, ev, 1), 0);
	store_close(st);
	snapshot_take(after);
	for (i = 0; i < NCOMMIT_TABLES; i++)
		cr_assert_str_neq(before->t[i], after->t[i], "table %s "
		    "unchanged by the good commit", commit_tables[i]);
	cr_assert_eq(sql_int("SELECT state FROM deployments"), RO_SUCCEEDED);
	snprintf(why, sizeof(why), "SELECT count(*) FROM deployment_hosts "
	    "WHERE state = %d AND since_ms = 4242", RH_DONE);
	cr_assert_eq(sql_int(why), 2);
	cr_assert_eq(sql_int("SELECT count(*) FROM commands"), 2);
	cr_assert_eq(sql_int("SELECT next_seq FROM hosts WHERE name = "
	    "'web2'"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE kind = "
	    "'deploy-succeeded'"), 1);
	cr_assert_eq(sql_int("SELECT current_revision FROM services WHERE "
	    "name = 'web'"), 1);
	rollout_free(&r);
	free(before);
	free(after);
}

static void
keep_deploy(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct rollout *out = arg;

	(void)d;
	rollout_free(out);
	*out = *r;
}

Test(store, a_canary_stands_where_it_was_after_reopening)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1), b = make_host("web2", 2);
	const char *names[] = { "web1", "web2" };
	struct rollout_canary c;
	struct deploy_rec d;
	struct rollout r, back;
	uint64_t running = 0;
	char why[128];

	cr_assert_eq(store_host_insert(st, &a), 0);
	cr_assert_eq(store_host_insert(st, &b), 0);
	memset(&d, 0, sizeof(d));
	memset(&back, 0, sizeof(back));
	snprintf(d.service, sizeof(d.service), "web");
	d.revision = 1;
	snprintf(d.image, sizeof(d.image), "registry.example/web:1");
	cr_assert_eq(rollout_plan(&r, names, NULL, 2, 1, 0, 1, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	memset(&c, 0, sizeof(c));
	c.strategy = RS_CANARY;
	c.nsteps = 3;
	c.steps[0].weight = 5;
	c.steps[0].for_ms = 900000;
	c.steps[1].weight = 25;
	c.steps[1].for_ms = 600000;
	c.steps[2].weight = 50;
	c.steps[2].wait = 1;
	c.analysis = 1;
	c.interval_ms = 30000;
	c.failure_limit = 2;
	c.inconclusive_fail = 1;
	c.progress_deadline_ms = 600000;
	cr_assert_eq(rollout_set_canary(&r, &c, why, sizeof(why)), 0, "%s",
	    why);
	cr_assert_eq(store_deploy_create(st, &d, &r, &running), 0);
	/* Mid-way through step 2, an interval being judged. */
	r.state = RO_CANARY;
	r.phase = CP_RUNNING;
	r.step = 1;
	r.step_run_ms = 1234;
	r.step_since_ms = 50000;
	r.interval_since_ms = 60000;
	r.progress_ms = 55000;
	r.passes = 1;
	r.fails = 1;
	r.intervals = 7;
	r.flags = ROLLOUT_JUDGING;
	r.hosts[0].state = RH_BESIDE;
	r.hosts[1].state = RH_PULLED;
	cr_assert(rollout_check(&r));
	cr_assert_eq(store_deploy_commit(st, &d, &r, NULL, 0, NULL, 0), 0);
	store_close(st);
	st = open_store();
	cr_assert_eq(store_deploy_list(st, "web", 1, 0, 10, keep_deploy,
	    &back), 0);
	cr_assert_eq(back.nhosts, 2);
	cr_assert(rollout_check(&back));
	cr_assert_eq(back.state, RO_CANARY);
	cr_assert_eq(back.cfg.strategy, RS_CANARY);
	cr_assert_eq(memcmp(&back.cfg, &c, sizeof(c)), 0, "the plan reads "
	    "back whole");
	cr_assert_eq(back.phase, CP_RUNNING);
	cr_assert_eq(back.step, 1);
	cr_assert_eq(back.step_run_ms, 1234);
	cr_assert_eq(back.step_since_ms, 50000);
	cr_assert_eq(back.interval_since_ms, 60000);
	cr_assert_eq(back.progress_ms, 55000);
	cr_assert_eq(back.passes, 1);
	cr_assert_eq(back.fails, 1);
	cr_assert_eq(back.intervals, 7);
	cr_assert_eq(back.flags, 0, "nobody is judging after a restart");
	cr_assert_eq(back.hosts[0].state, RH_BESIDE);
	rollout_free(&back);
	rollout_free(&r);
	store_close(st);
}

/* ---- secrets -------------------------------------------------------------- */

static void
put_secret(struct store *st, const char *name, const char *ct)
{
	struct secret_rec r;

	memset(&r, 0, sizeof(r));
	snprintf(r.service, sizeof(r.service), "web");
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.created_by, sizeof(r.created_by), "uid:0");
	r.created_ms = 1000;
	r.size = (uint32_t)strlen(ct);
	memset(r.nonce, 7, sizeof(r.nonce));
	cr_assert_eq(store_secret_next(st, "web", name, &r.version), 0);
	cr_assert_eq(store_secret_put(st, &r, (const uint8_t *)ct, strlen(ct),
	    "secret set"), 0);
}

static void
count_list(void *arg, const struct secret_rec *r)
{
	char *names = arg;

	snprintf(names + strlen(names), 256 - strlen(names), "%s=%llu ",
	    r->name, (unsigned long long)r->version);
}

static int
flip(void *arg, struct secret_rec *r, uint8_t *ct, size_t len)
{
	int *calls = arg;

	if (++*calls == 3)
		return FERR_MALFORMED;	/* the third fails: nothing is kept */
	memset(r->nonce, 9, sizeof(r->nonce));
	for (size_t i = 0; i < len; i++)
		ct[i] ^= 0x20;
	return 0;
}

Test(store, secrets_versions_pins_removal_and_rekey)
{
	struct store *st = open_store();
	struct spec_secret pins[2] = { { "A", 0 }, { "B", 0 } };
	struct secret_rec r;
	char names[256] = "";
	uint8_t *ct;
	size_t len, n;
	uint64_t rev;
	int calls = 0;

	put_secret(st, "A", "ct-a1");
	put_secret(st, "A", "ct-a2");
	put_secret(st, "B", "ct-b1");
	cr_assert_eq(store_secret_get(st, "web", "A", 0, &r, &ct, &len), 0);
	cr_assert_eq(r.version, 2, "the newest");
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(ct, "ct-a2", 5), 0);
	free(ct);
	cr_assert_eq(store_secret_get(st, "web", "A", 1, &r, &ct, &len), 0);
	cr_assert_eq(memcmp(ct, "ct-a1", 5), 0);
	free(ct);
	cr_assert_eq(store_secret_get(st, "web", "C", 0, &r, &ct, &len),
	    FERR_NOTFOUND);
	store_secret_list(st, "web", count_list, names);
	cr_assert_str_eq(names, "A=2 B=1 ");

	/* A revision pins versions, in its own transaction. */
	pins[0].version = 2;
	pins[1].version = 1;
	cr_assert_eq(store_revision_add(st, "web", "web.yml", "x", 1, "img",
	    "uid:0", pins, 2, &rev), 0);
	pins[0].version = pins[1].version = 0;
	cr_assert_eq(store_revision_pins(st, "web", rev, pins, 2), 0);
	cr_assert(pins[0].version == 2 && pins[1].version == 1);
	snprintf(pins[1].name, sizeof(pins[1].name), "C");
	cr_assert_eq(store_revision_pins(st, "web", rev, pins, 2),
	    FERR_NOTFOUND);

	/* Re-keying is all or nothing. */
	cr_assert_eq(store_secrets_rekey(st, flip, &calls, &n),
	    FERR_MALFORMED);
	cr_assert_eq(store_secret_get(st, "web", "A", 1, &r, &ct, &len), 0);
	cr_assert_eq(memcmp(ct, "ct-a1", 5), 0, "rolled back");
	free(ct);
	calls = -10;
	cr_assert_eq(store_secrets_rekey(st, flip, &calls, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(store_secret_get(st, "web", "A", 1, &r, &ct, &len), 0);
	cr_assert_eq(memcmp(ct, "CT\x0d" "A\x11", 5), 0, "rewritten");
	cr_assert_eq(r.nonce[0], 9);
	free(ct);

	/* rm: every version, ciphertexts erased, an event; twice is
	 * nothing to remove. */
	cr_assert_eq(store_secret_rm(st, "web", "A", "uid:0", "rm A"), 0);
	cr_assert_eq(store_secret_rm(st, "web", "A", "uid:0", "rm A"),
	    FERR_NOTFOUND);
	cr_assert_eq(store_secret_get(st, "web", "A", 1, &r, &ct, &len), 0);
	cr_assert(r.deleted);
	cr_assert_null(ct);
	cr_assert_eq(store_secret_get(st, "web", "A", 0, &r, &ct, &len),
	    FERR_NOTFOUND, "no newest version left");
	names[0] = '\0';
	store_secret_list(st, "web", count_list, names);
	cr_assert_str_eq(names, "B=1 ");
	/* A new value after rm continues the versions. */
	put_secret(st, "A", "ct-a3");
	cr_assert_eq(store_secret_get(st, "web", "A", 0, &r, &ct, &len), 0);
	cr_assert_eq(r.version, 3);
	free(ct);
	store_close(st);
	cr_assert_eq(sql_int("SELECT COUNT(*) FROM events WHERE kind IN "
	    "('secret-set', 'secret-removed')"), 5);
}

/* ---- a canary's analysis: intervals and marks --------------------------- */

static struct analysis_mark
mk_mark(const char *host, uint64_t revision, int boot, uint64_t requests)
{
	struct analysis_mark m;
	size_t k;

	memset(&m, 0, sizeof(m));
	snprintf(m.host, sizeof(m.host), "%s", host);
	m.revision = revision;
	memset(m.boot, boot, sizeof(m.boot));
	for (k = 0; k < TC_WIDTH; k++)
		m.counts.v[k] = requests * 1000 + k;
	m.counts.v[TC_REQUESTS] = requests;
	return m;
}

struct marks_got {
	struct analysis_mark m[8];
	size_t n;
};

static void
on_mark(void *arg, const struct analysis_mark *m)
{
	struct marks_got *g = arg;

	cr_assert_lt(g->n, 8);
	g->m[g->n++] = *m;
}

static struct marks_got
marks_of(struct store *st, uint64_t deployment)
{
	struct marks_got g;

	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_marks_load(st, deployment, on_mark, &g), 0);
	return g;
}

struct intervals_got {
	struct interval_rec iv[8];
	size_t n;
};

static void
on_interval(void *arg, const struct interval_rec *iv)
{
	struct intervals_got *g = arg;

	cr_assert_lt(g->n, 8);
	g->iv[g->n++] = *iv;
}

static struct interval_rec
mk_interval(uint64_t deployment, uint64_t seq, int verdict)
{
	struct interval_rec iv;

	memset(&iv, 0, sizeof(iv));
	iv.deployment = deployment;
	iv.seq = seq;
	iv.step = 1;
	snprintf(iv.phase, sizeof(iv.phase), "canary");
	iv.start_ms = 1764900000000ull + seq * 30000;
	iv.end_ms = iv.start_ms + 30000;
	iv.verdict = verdict;
	iv.failed = verdict == ANALYSIS_FAIL ? ANALYSIS_CHECK_ERROR_RATE : 0;
	iv.unjudged = verdict == ANALYSIS_INCONCLUSIVE ?
	    1u << ANALYSIS_CHECK_PROM : 0;
	iv.canary_requests = 1204;
	iv.canary_errors = 29;
	iv.canary_p95_ms = 180.5;
	iv.stable_requests = 22876;
	iv.stable_errors = 23;
	iv.stable_p95_ms = -1;
	snprintf(iv.reason, sizeof(iv.reason), "error rate 2.4%% > 1%% "
	    "(stable 0.1%%) over 30 s, 1,204 requests");
	return iv;
}

Test(store, analysis_marks_survive_a_reopen_exactly)
{
	struct store *st = open_store();
	struct analysis_mark m[3];
	struct marks_got g;
	size_t i;

	m[0] = mk_mark("web-1", 2, 1, 0);
	m[1] = mk_mark("web-1", 1, 1, 5000);
	m[2] = mk_mark("web-2", 2, 9, 77);
	m[2].counts.v[TC_LATENCY_SUM] = UINT64_MAX;	/* all 64 bits */
	cr_assert_eq(store_analysis_commit(st, 7, NULL, m, 3), 0);
	cr_assert_eq(store_analysis_commit(st, 8, NULL, m, 1), 0);
	store_close(st);
	st = open_store();
	g = marks_of(st, 7);
	cr_assert_eq(g.n, 3);
	for (i = 0; i < 3; i++)
		cr_assert_eq(memcmp(&g.m[i], &m[i], sizeof(m[i])), 0,
		    "mark %zu differs", i);
	cr_assert_eq(marks_of(st, 8).n, 1);
	cr_assert_eq(marks_of(st, 9).n, 0);
	/* Marks only (no interval) records no interval. */
	cr_assert_eq(sql_int("SELECT count(*) FROM analysis_intervals"), 0);
	store_close(st);
}

Test(store, an_interval_and_the_next_marks_are_recorded_together)
{
	struct store *st = open_store();
	struct analysis_mark m0[2], m1[2];
	struct interval_rec iv;
	struct intervals_got g;
	struct marks_got mg;
	uint64_t seq;

	m0[0] = mk_mark("web-1", 2, 1, 0);
	m0[1] = mk_mark("web-1", 1, 1, 5000);
	m1[0] = mk_mark("web-1", 2, 1, 1204);
	m1[1] = mk_mark("web-1", 1, 1, 27876);
	cr_assert_eq(store_analysis_commit(st, 7, NULL, m0, 2), 0);
	for (seq = 1; seq <= 5; seq++) {
		iv = mk_interval(7, seq, seq == 5 ? ANALYSIS_FAIL :
		    seq == 2 ? ANALYSIS_INCONCLUSIVE : ANALYSIS_PASS);
		cr_assert_eq(store_analysis_commit(st, 7, &iv, m1, 2), 0);
	}
	iv = mk_interval(8, 1, ANALYSIS_PASS);
	cr_assert_eq(store_analysis_commit(st, 8, &iv, m1, 1), 0);
	mg = marks_of(st, 7);
	cr_assert_eq(mg.n, 2);
	cr_assert_eq(mg.m[0].counts.v[TC_REQUESTS], 1204);
	cr_assert_eq(mg.m[1].counts.v[TC_REQUESTS], 27876);
	/* Newest first, at most limit; 0: all. */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_intervals_list(st, 7, 3, on_interval, &g), 0);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(g.iv[0].seq, 5);
	cr_assert_eq(g.iv[2].seq, 3);
	iv = mk_interval(7, 5, ANALYSIS_FAIL);
	cr_assert_eq(memcmp(&g.iv[0], &iv, sizeof(iv)), 0);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_intervals_list(st, 7, 0, on_interval, &g), 0);
	cr_assert_eq(g.n, 5);
	cr_assert_eq(g.iv[3].seq, 2);
	cr_assert_eq(g.iv[3].verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(g.iv[3].unjudged, 1u << ANALYSIS_CHECK_PROM);
	cr_assert_eq(g.iv[4].verdict, ANALYSIS_PASS);
	cr_assert_eq(g.iv[4].stable_p95_ms, -1);
	cr_assert_str_eq(g.iv[4].phase, "canary");
	cr_assert_str_eq(g.iv[4].reason, "error rate 2.4% > 1% (stable 0.1%) "
	    "over 30 s, 1,204 requests");
	/* People read the verdict in the file as a word. */
	cr_assert_eq(sql_int("SELECT count(*) FROM analysis_intervals WHERE "
	    "deployment = 7 AND verdict = 'fail'"), 1);
	/* Clearing the marks when the analysis ends. */
	cr_assert_eq(store_analysis_commit(st, 7, NULL, NULL, 0), 0);
	cr_assert_eq(marks_of(st, 7).n, 0);
	cr_assert_eq(marks_of(st, 8).n, 1);
	store_close(st);
}

Test(store, a_failed_interval_record_leaves_the_old_marks)
{
	struct store *st = open_store();
	struct analysis_mark m0[2], m1[2];
	struct interval_rec iv;
	struct intervals_got g;
	struct marks_got mg;

	m0[0] = mk_mark("web-1", 2, 1, 100);
	m0[1] = mk_mark("web-1", 1, 1, 5000);
	m1[0] = mk_mark("web-1", 2, 1, 400);
	m1[1] = mk_mark("web-1", 1, 1, 9000);
	iv = mk_interval(7, 1, ANALYSIS_PASS);
	cr_assert_eq(store_analysis_commit(st, 7, &iv, m0, 2), 0);
	/* The same interval again (a repeat after a crash would be): refused
	 * whole, the marks of the first stay. */
	iv.verdict = ANALYSIS_FAIL;
	cr_assert_eq(store_analysis_commit(st, 7, &iv, m1, 2), FERR_EXISTS);
	mg = marks_of(st, 7);
	cr_assert_eq(mg.n, 2);
	cr_assert_eq(memcmp(&mg.m[0], &m0[0], sizeof(m0[0])), 0);
	cr_assert_eq(memcmp(&mg.m[1], &m0[1], sizeof(m0[1])), 0);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_intervals_list(st, 7, 0, on_interval, &g), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.iv[0].verdict, ANALYSIS_PASS);
	/* A mark that cannot be written (the same host and revision twice)
	 * undoes the interval and the deletion of the old marks. */
	m1[1] = m1[0];
	iv = mk_interval(7, 2, ANALYSIS_PASS);
	cr_assert_eq(store_analysis_commit(st, 7, &iv, m1, 2), FERR_EXISTS);
	mg = marks_of(st, 7);
	cr_assert_eq(mg.n, 2);
	cr_assert_eq(mg.m[0].counts.v[TC_REQUESTS], 100);
	cr_assert_eq(sql_int("SELECT count(*) FROM analysis_intervals"), 1);
	/* Our own mistakes are refused before anything is written. */
	iv = mk_interval(8, 2, ANALYSIS_PASS);
	cr_assert_eq(store_analysis_commit(st, 7, &iv, m0, 2), FERR_ARG);
	iv = mk_interval(7, 2, 9);
	cr_assert_eq(store_analysis_commit(st, 7, &iv, m0, 2), FERR_ARG);
	cr_assert_eq(sql_int("SELECT count(*) FROM analysis_intervals"), 1);
	store_close(st);
}

Test(store, a_mark_of_another_shape_is_refused_on_load)
{
	struct store *st = open_store();
	struct analysis_mark m = mk_mark("web-1", 2, 1, 100);
	struct marks_got g;

	cr_assert_eq(store_analysis_commit(st, 7, NULL, &m, 1), 0);
	store_close(st);
	sql_exec("UPDATE analysis_marks SET counts = x'0001'");
	st = open_store();
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_marks_load(st, 7, on_mark, &g), FERR_CORRUPT);
	cr_assert_eq(g.n, 0);
	store_close(st);
}

/* A database of the version before (9) opens and gains the analysis
 * tables, its data kept. */
Test(store, migration_10_adds_the_analysis_tables)
{
	struct store *st = open_store();
	struct host_rec h = make_host("web1", 1);
	struct analysis_mark m = mk_mark("web1", 2, 1, 100);

	cr_assert_eq(store_host_insert(st, &h), 0);
	store_close(st);
	sql_exec("DROP TABLE analysis_intervals; DROP TABLE analysis_marks; "
	    "ALTER TABLE deployments DROP COLUMN kind; " UNDO_12
	    "PRAGMA user_version = 9");
	cr_assert_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE "
	    "name LIKE 'analysis_%'"), 0);
	st = open_store();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	cr_assert_eq(store_analysis_commit(st, 7, NULL, &m, 1), 0);
	cr_assert_eq(marks_of(st, 7).n, 1);
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM hosts"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('analysis_intervals', 'analysis_marks')"), 2);
}

/* The engine's count of a verdict, the verdict and the next marks: one
 * transaction, all or nothing. */
Test(store, a_verdict_and_the_engine_state_counting_it_are_one_commit)
{
	struct store *st = open_store();
	const char *names[] = { "web1" };
	struct analysis_mark m0 = mk_mark("web1", 2, 1, 100);
	struct analysis_mark m1 = mk_mark("web1", 2, 1, 400);
	struct deploy_event ev = { "ferryd", "analysis-interval", "",
	    "pass" };
	struct interval_rec iv;
	struct deploy_rec d;
	struct rollout r;
	struct marks_got g;
	uint64_t running = 0;
	char why[128];

	memset(&d, 0, sizeof(d));
	snprintf(d.service, sizeof(d.service), "web");
	d.revision = 2;
	snprintf(d.image, sizeof(d.image), "registry.example/web:2");
	snprintf(d.actor, sizeof(d.actor), "alice");
	cr_assert_eq(rollout_plan(&r, names, NULL, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(store_deploy_create(st, &d, &r, &running), 0);
	/* The first marks, with the state that starts the interval. */
	cr_assert_eq(store_deploy_commit_analysis(st, &d, &r, NULL, 0, NULL, 0,
	    NULL, &m0, 1), 0);
	/* A failed interval, counted. */
	iv = mk_interval(d.id, 1, ANALYSIS_FAIL);
	r.failures = 1;
	cr_assert_eq(store_deploy_commit_analysis(st, &d, &r, NULL, 0, &ev, 1,
	    &iv, &m1, 1), 0);
	cr_assert_eq(sql_int("SELECT failures FROM deployments"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM analysis_intervals"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE kind = "
	    "'analysis-interval'"), 1);
	/* The same interval again: the engine's state is not written
	 * either, nor the event, nor the marks. */
	r.failures = 2;
	cr_assert_eq(store_deploy_commit_analysis(st, &d, &r, NULL, 0, &ev, 1,
	    &iv, &m0, 1), FERR_EXISTS);
	cr_assert_eq(sql_int("SELECT failures FROM deployments"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE kind = "
	    "'analysis-interval'"), 1);
	g = marks_of(st, d.id);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.m[0].counts.v[TC_REQUESTS], 400);
	rollout_free(&r);
	store_close(st);
}

static void
on_kind(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	char (*kinds)[16] = arg;

	if (d->id >= 1 && d->id <= 3)
		snprintf(kinds[d->id], sizeof(kinds[0]), "%s", d->kind);
	rollout_free(r);
}

static uint64_t
deploy_kind(struct store *st, uint64_t rev, const char *kind)
{
	const char *names[] = { "web1" };
	struct deploy_rec d;
	struct rollout r;
	uint64_t running = 0;
	char why[128];

	memset(&d, 0, sizeof(d));
	snprintf(d.service, sizeof(d.service), "web");
	d.revision = rev;
	snprintf(d.image, sizeof(d.image), "registry.example/web:%llu",
	    (unsigned long long)rev);
	snprintf(d.actor, sizeof(d.actor), "alice");
	if (kind != NULL)
		snprintf(d.kind, sizeof(d.kind), "%s", kind);
	cr_assert_eq(rollout_plan(&r, names, NULL, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(store_deploy_create(st, &d, &r, &running), 0);
	rollout_free(&r);
	snprintf(why, sizeof(why), "UPDATE deployments SET state = %d WHERE "
	    "id = %llu", (int)RO_SUCCEEDED, (unsigned long long)d.id);
	sql_exec(why);
	return d.id;
}

/* What a deployment is comes back as recorded; one recorded with no kind
 * is a deploy. */
Test(store, a_deployment_keeps_its_kind)
{
	struct store *st = open_store();
	char kinds[4][16];

	memset(kinds, 0, sizeof(kinds));
	cr_assert_eq(deploy_kind(st, 1, NULL), 1);
	cr_assert_eq(deploy_kind(st, 2, DEPLOY_KIND_DEPLOY), 2);
	cr_assert_eq(deploy_kind(st, 1, DEPLOY_KIND_ROLLBACK), 3);
	cr_assert_eq(store_deploy_list(st, "web", 0, 0, 10, on_kind, kinds),
	    0);
	cr_assert_str_eq(kinds[1], "deploy");
	cr_assert_str_eq(kinds[2], "deploy");
	cr_assert_str_eq(kinds[3], "rollback");
	store_close(st);
}

/* A database of the version before (10) gains the kind: a deployment that
 * took a revision older than one deployed before it was a rollback. */
Test(store, migration_11_tells_rollbacks_from_deploys)
{
	struct store *st = open_store();

	deploy_kind(st, 1, NULL);
	deploy_kind(st, 2, NULL);
	deploy_kind(st, 1, NULL);
	store_close(st);
	sql_exec("ALTER TABLE deployments DROP COLUMN kind; " UNDO_12
	    "PRAGMA user_version = 10");
	st = open_store();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	cr_assert_eq(sql_int("SELECT count(*) FROM deployments WHERE "
	    "kind = 'deploy' AND id IN (1, 2)"), 2);
	cr_assert_eq(sql_int("SELECT count(*) FROM deployments WHERE "
	    "kind = 'rollback' AND id = 3"), 1);
}

/* ---- drain and the service life cycle (migration 12) -------------------- */

static void
on_drained_host(void *arg, const struct host_rec *h)
{
	struct {
		int n;
		char by[64];
		uint64_t at;
	} *got = arg;

	got->n++;
	snprintf(got->by, sizeof(got->by), "%s", h->drained_by);
	got->at = h->drained_at_ms;
}

/* A drained host keeps its drain (who, when) across a restart, with an
 * event saying so; undrained, it serves again; an unknown host changes
 * nothing. */
Test(store, a_host_drain_is_durable_and_audited)
{
	struct store *st = open_store();
	struct host_rec h = make_host("web1", 1);
	struct loaded {
		int n;
		char by[64];
		uint64_t at;
	} got = { 0, "", 0 };

	cr_assert_eq(store_host_insert(st, &h), 0);
	cr_assert_eq(store_host_set_drained(st, "web1", "alice", 1234,
	    "alice", "drained"), 0);
	cr_assert_eq(store_host_set_drained(st, "nope", "alice", 1, "alice",
	    "drained"), FERR_NOTFOUND);
	store_close(st);
	st = open_store();
	cr_assert_eq(store_hosts_load(st, on_drained_host, &got), 0);
	cr_assert_eq(got.n, 1);
	cr_assert_str_eq(got.by, "alice");
	cr_assert_eq(got.at, 1234);
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE kind = "
	    "'drain' AND host = 'web1' AND actor = 'alice'"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE host = "
	    "'nope'"), 0);
	cr_assert_eq(store_host_set_drained(st, "web1", "", 0, "bob",
	    "undrained"), 0);
	got.n = 0;
	cr_assert_eq(store_hosts_load(st, on_drained_host, &got), 0);
	cr_assert_str_eq(got.by, "");
	cr_assert_eq(sql_int("SELECT count(*) FROM events WHERE kind = "
	    "'undrain' AND actor = 'bob'"), 1);
	store_close(st);
}

/* commit_as records d's engine state as finished with state. */
static void
commit_as(struct store *st, uint64_t id, const char *kind, uint64_t rev,
    enum rollout_state state)
{
	const char *names[] = { "web1" };
	struct deploy_rec d;
	struct rollout r;
	char why[128];

	memset(&d, 0, sizeof(d));
	d.id = id;
	snprintf(d.service, sizeof(d.service), "web");
	snprintf(d.kind, sizeof(d.kind), "%s", kind);
	snprintf(d.actor, sizeof(d.actor), "alice");
	d.revision = rev;
	cr_assert_eq(rollout_plan(&r, names, NULL, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	r.state = state;
	cr_assert_eq(store_deploy_commit(st, &d, &r, NULL, 0, NULL, 0), 0);
	rollout_free(&r);
}

/* A stop marks the service stopped (by whom) as soon as it is recorded,
 * and its success keeps the revision current; a start that succeeds
 * clears the mark; a removal that succeeds leaves no current revision
 * and the service marked removed. */
Test(store, the_service_life_cycle_is_recorded)
{
	struct store *st = open_store();
	struct service_rec sr;
	uint64_t id;

	id = deploy_kind(st, 3, DEPLOY_KIND_DEPLOY);
	commit_as(st, id, DEPLOY_KIND_DEPLOY, 3, RO_SUCCEEDED);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_eq(sr.current, 3);
	cr_assert_str_eq(sr.lifecycle, "");

	id = deploy_kind(st, 3, DEPLOY_KIND_STOP);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_str_eq(sr.lifecycle, "stopped");
	cr_assert_str_eq(sr.by, "alice");
	cr_assert_gt(sr.at_ms, 0);
	commit_as(st, id, DEPLOY_KIND_STOP, 3, RO_SUCCEEDED);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_eq(sr.current, 3);
	cr_assert_str_eq(sr.lifecycle, "stopped");

	id = deploy_kind(st, 3, DEPLOY_KIND_START);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_str_eq(sr.lifecycle, "stopped");	/* until it worked */
	commit_as(st, id, DEPLOY_KIND_START, 3, RO_SUCCEEDED);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_str_eq(sr.lifecycle, "");
	cr_assert_str_eq(sr.by, "");

	id = deploy_kind(st, 3, DEPLOY_KIND_REMOVE);
	commit_as(st, id, DEPLOY_KIND_REMOVE, 3, RO_SUCCEEDED);
	cr_assert_eq(store_service_state(st, "web", &sr), 0);
	cr_assert_eq(sr.current, 0);
	cr_assert_str_eq(sr.lifecycle, "removed");
	/* The revisions' deployments stay for the record. */
	cr_assert_eq(sql_int("SELECT count(*) FROM deployments"), 4);
	store_close(st);
}

/* Migration 13: a failed swap's last lines, kept beside its command; the
 * newest command of a deployment on a host that has some is the one
 * read back, and nothing is read for another deployment or host. */
Test(store, command_logs_keep_the_newest_failed_swaps_lines)
{
	struct store *st = open_store();
	struct host_rec a = make_host("web1", 1);
	uint8_t env[] = { 0xfe };
	struct command_rec c1, c2;
	char out[FAILED_LOG_BYTES + 1];

	cr_assert_eq(store_host_insert(st, &a), 0);
	make_command(&c1, "web1", 1, 0xb1, 10000, env, sizeof(env));
	c1.deployment = 7;
	make_command(&c2, "web1", 2, 0xb2, 10000, env, sizeof(env));
	c2.deployment = 7;
	cr_assert_eq(store_command_insert(st, &c1), 0);
	cr_assert_eq(store_command_insert(st, &c2), 0);
	cr_assert_eq(store_command_logs_last(st, 7, "web1", out, sizeof(out)),
	    FERR_NOTFOUND);
	cr_assert_str_eq(out, "");
	cr_assert_eq(store_command_logs_set(st, &c1, "first\nfailure"), 0);
	cr_assert_eq(store_command_logs_set(st, &c2, "second"), 0);
	store_close(st);
	st = open_store();
	cr_assert_eq(store_command_logs_last(st, 7, "web1", out, sizeof(out)),
	    0);
	cr_assert_str_eq(out, "second");
	cr_assert_eq(store_command_logs_last(st, 8, "web1", out, sizeof(out)),
	    FERR_NOTFOUND);
	cr_assert_eq(store_command_logs_last(st, 7, "web2", out, sizeof(out)),
	    FERR_NOTFOUND);
	store_close(st);
}

struct svc_seen {
	char names[4][64];
	uint64_t current[4];
	size_t n;
};

static void
on_svc(void *arg, const char *service, uint64_t current)
{
	struct svc_seen *s = arg;

	cr_assert_lt(s->n, 4);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", service);
	s->current[s->n++] = current;
}

/* A deployment's service and revision, committed in state. */
static void
svc_deploy(struct store *st, const char *service, uint64_t rev,
    enum rollout_state state)
{
	const char *names[] = { "web1" };
	struct deploy_rec d;
	struct rollout r;
	uint64_t running = 0;
	char why[128];

	memset(&d, 0, sizeof(d));
	snprintf(d.service, sizeof(d.service), "%s", service);
	d.revision = rev;
	snprintf(d.image, sizeof(d.image), "registry.example/%s:1", service);
	snprintf(d.actor, sizeof(d.actor), "alice");
	cr_assert_eq(rollout_plan(&r, names, NULL, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(store_deploy_create(st, &d, &r, &running), 0);
	r.state = state;
	cr_assert_eq(store_deploy_commit(st, &d, &r, NULL, 0, NULL, 0), 0);
	rollout_free(&r);
}

/* driftwatch.c judges the services that have a current revision, in
 * name order: one whose only deployment failed has none. */
Test(store, services_list_names_those_with_a_current_revision)
{
	struct store *st = open_store();
	struct svc_seen s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_services_list(st, on_svc, &s), 0);
	cr_assert_eq(s.n, 0);
	svc_deploy(st, "web", 2, RO_SUCCEEDED);
	svc_deploy(st, "api", 1, RO_FAILED);
	svc_deploy(st, "cron", 3, RO_SUCCEEDED);
	cr_assert_eq(store_services_list(st, on_svc, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.names[0], "cron");
	cr_assert_eq(s.current[0], 3);
	cr_assert_str_eq(s.names[1], "web");
	cr_assert_eq(s.current[1], 2);
	store_close(st);
}

static void
on_drift_mark(void *arg, const struct drift_mark *m)
{
	struct {
		int n;
		struct drift_mark v[4];
	} *got = arg;

	cr_assert_lt(got->n, 4);
	got->v[got->n++] = *m;
}

/* Migration 14: a database of version 13 gains drift_marks; a mark put is
 * read back whole after a reopen, one per (service, host, kind) (a second
 * put replaces it), a kind other than removed or catch-up is refused, and
 * a forgotten mark is gone (forgetting one that is not is no error). */
Test(store, drift_marks_survive_a_reopen)
{
	struct store *st = open_store();
	struct drift_mark m;
	struct {
		int n;
		struct drift_mark v[4];
	} got;

	store_close(st);
	sql_exec("DROP TABLE drift_marks; PRAGMA user_version = 13");
	cr_assert_eq(sql_int("SELECT COUNT(*) FROM sqlite_master WHERE name "
	    "= 'drift_marks'"), 0);
	st = open_store();
	cr_assert_eq(store_schema_version(st), 14);
	cr_assert_eq(sql_int("SELECT COUNT(*) FROM sqlite_master WHERE name "
	    "= 'drift_marks'"), 1);

	memset(&m, 0, sizeof(m));
	snprintf(m.service, sizeof(m.service), "web");
	snprintf(m.host, sizeof(m.host), "web-2");
	snprintf(m.kind, sizeof(m.kind), DRIFT_MARK_REMOVED);
	snprintf(m.by, sizeof(m.by), "alice");
	m.at_ms = 1700000000123ULL;
	cr_assert_eq(store_drift_mark_put(st, &m), 0);
	m.deployment = 7;		/* seen removed under deployment 7 */
	cr_assert_eq(store_drift_mark_put(st, &m), 0);
	memset(&m, 0, sizeof(m));
	snprintf(m.service, sizeof(m.service), "web");
	snprintf(m.host, sizeof(m.host), "web-2");
	snprintf(m.kind, sizeof(m.kind), DRIFT_MARK_CATCH_UP);
	snprintf(m.cause, sizeof(m.cause), "missed");
	m.revision = 4;
	m.deployment = 9;
	m.catch_up = 11;
	m.done = 1;
	m.failed = 1;
	m.at_ms = 1700000000456ULL;
	cr_assert_eq(store_drift_mark_put(st, &m), 0);
	snprintf(m.kind, sizeof(m.kind), "other");
	cr_assert_neq(store_drift_mark_put(st, &m), 0);
	store_close(st);

	st = open_store();
	memset(&got, 0, sizeof(got));
	cr_assert_eq(store_drift_marks_list(st, on_drift_mark, &got), 0);
	cr_assert_eq(got.n, 2);
	cr_assert_str_eq(got.v[0].kind, DRIFT_MARK_CATCH_UP);
	cr_assert_str_eq(got.v[0].service, "web");
	cr_assert_str_eq(got.v[0].host, "web-2");
	cr_assert_str_eq(got.v[0].cause, "missed");
	cr_assert_eq(got.v[0].revision, 4);
	cr_assert_eq(got.v[0].deployment, 9);
	cr_assert_eq(got.v[0].catch_up, 11);
	cr_assert_eq(got.v[0].done, 1);
	cr_assert_eq(got.v[0].failed, 1);
	cr_assert_eq(got.v[0].at_ms, 1700000000456ULL);
	cr_assert_str_eq(got.v[1].kind, DRIFT_MARK_REMOVED);
	cr_assert_str_eq(got.v[1].by, "alice");
	cr_assert_eq(got.v[1].deployment, 7);
	cr_assert_eq(got.v[1].at_ms, 1700000000123ULL);

	cr_assert_eq(store_drift_mark_delete(st, "web", "web-2",
	    DRIFT_MARK_REMOVED), 0);
	cr_assert_eq(store_drift_mark_delete(st, "web", "web-9",
	    DRIFT_MARK_REMOVED), 0);
	memset(&got, 0, sizeof(got));
	cr_assert_eq(store_drift_marks_list(st, on_drift_mark, &got), 0);
	cr_assert_eq(got.n, 1);
	cr_assert_str_eq(got.v[0].kind, DRIFT_MARK_CATCH_UP);
	store_close(st);
}
