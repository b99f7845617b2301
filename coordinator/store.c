/* SPDX-License-Identifier: Apache-2.0 */
/* store.c: ferryd's SQLite database, the only module that speaks SQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "db.h"
#include "ferr.h"
#include "ferryd.h"
#include "spec.h"
#include "token.h"

struct store {
	sqlite3 *db;
	int batch_light;	/* the open batch does not wait for the disk */
};

/*
 * Numbered migrations.  Migration i brings the schema from version i to
 * i + 1 (PRAGMA user_version); they run in order at start, each in its own
 * transaction.  Never edit a migration that has shipped: add one.
 */
static const char *const migrations[] = {
	/* 1: hosts, labels, tokens, the command outbox, the audit log. */
	"CREATE TABLE hosts ("
	"  name TEXT PRIMARY KEY,"
	"  pubkey BLOB NOT NULL UNIQUE CHECK (length(pubkey) = 32),"
	"  new_pubkey BLOB CHECK (new_pubkey IS NULL OR length(new_pubkey) = 32),"
	"  state TEXT NOT NULL CHECK (state IN ('pending','accepted','revoked')),"
	"  address TEXT NOT NULL DEFAULT '',"
	"  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
	"  next_seq INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL);"
	"CREATE TABLE host_labels ("
	"  host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,"
	"  key TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY (host, key));"
	"CREATE TABLE tokens ("
	"  id BLOB PRIMARY KEY, secret BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
	"  labels TEXT NOT NULL DEFAULT '',"
	"  used_ms INTEGER, used_by TEXT);"
	"CREATE TABLE commands ("
	"  id BLOB PRIMARY KEY,"
	"  host TEXT NOT NULL REFERENCES hosts(name),"
	"  seq INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  envelope BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
	"  state TEXT NOT NULL, result TEXT NOT NULL DEFAULT '',"
	"  updated_ms INTEGER NOT NULL);"
	"CREATE INDEX commands_open ON commands(state, host, seq);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at_ms INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,"
	"  host TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '');",
	/* 2: results of long commands have their own deadline; services and
	 * their numbered revisions, each with its full spec. */
	"ALTER TABLE commands ADD COLUMN deadline_ms INTEGER NOT NULL "
	"  DEFAULT 0;"
	"UPDATE commands SET deadline_ms = expires_ms;"
	"CREATE TABLE revisions ("
	"  service TEXT NOT NULL, number INTEGER NOT NULL,"
	"  spec_file TEXT NOT NULL, spec TEXT NOT NULL,"
	"  image TEXT NOT NULL, digest TEXT NOT NULL DEFAULT '',"
	"  created_ms INTEGER NOT NULL, actor TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (service, number));",
	/* 3: rolling deployments: the engine's state per deployment and per
	 * host, the service's current revision, and which commands and events
	 * belong to which deployment. */
	"ALTER TABLE commands ADD COLUMN deployment INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE commands ADD COLUMN purpose TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE events ADD COLUMN deployment INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE services ("
	"  name TEXT PRIMARY KEY,"
	"  current_revision INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE deployments ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  service TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  previous_revision INTEGER NOT NULL,"
	"  image TEXT NOT NULL, digest TEXT NOT NULL DEFAULT '',"
	"  previous_digest TEXT NOT NULL DEFAULT '',"
	"  state INTEGER NOT NULL, batch INTEGER NOT NULL,"
	"  nbatches INTEGER NOT NULL, batch_size INTEGER NOT NULL,"
	"  max_failures INTEGER NOT NULL, on_failure INTEGER NOT NULL,"
	"  pause_ms INTEGER NOT NULL, next_batch_at_ms INTEGER NOT NULL,"
	"  failures INTEGER NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
	"  cause TEXT NOT NULL DEFAULT '', actor TEXT NOT NULL DEFAULT '',"
	"  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
	"CREATE INDEX deployments_service ON deployments(service, id);"
	"CREATE TABLE deployment_hosts ("
	"  deployment INTEGER NOT NULL REFERENCES deployments(id),"
	"  idx INTEGER NOT NULL, host TEXT NOT NULL, batch INTEGER NOT NULL,"
	"  state INTEGER NOT NULL, had_previous INTEGER NOT NULL,"
	"  since_ms INTEGER NOT NULL, cause TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (deployment, idx));",
	/* 4: a host counted failed whose command may still answer. */
	"ALTER TABLE deployment_hosts ADD COLUMN unanswered INTEGER NOT NULL "
	"DEFAULT 0;",
	/* 5: matched hosts a deployment left out, offline when it started. */
	"ALTER TABLE deployments ADD COLUMN skipped TEXT NOT NULL DEFAULT '';",
	/* 6: tokens keep only the public key that checks their proofs, never
	 * their secret; a new key claiming a host's name is kept with where
	 * and when it came from, and whether a valid token came with it. */
	"ALTER TABLE tokens RENAME COLUMN secret TO verifier;"
	"UPDATE tokens SET verifier = ferry_token_verifier(verifier);"
	"ALTER TABLE hosts ADD COLUMN new_key_from TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE hosts ADD COLUMN new_key_at_ms INTEGER NOT NULL "
	"  DEFAULT 0;"
	"ALTER TABLE hosts ADD COLUMN new_key_token INTEGER NOT NULL "
	"  DEFAULT 0;",
	/* 7: secrets, encrypted at rest (secrets.c holds the key, never this
	 * file), versioned per service and name; the versions each revision
	 * pins.  A removed secret keeps its rows (who, when) and loses its
	 * ciphertext. */
	"CREATE TABLE secrets ("
	"  service TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,"
	"  created_ms INTEGER NOT NULL, created_by TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  nonce BLOB NOT NULL, ciphertext BLOB NOT NULL,"
	"  deleted INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (service, name, version));"
	"CREATE TABLE revision_secrets ("
	"  service TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  name TEXT NOT NULL, version INTEGER NOT NULL,"
	"  PRIMARY KEY (service, revision, name));",
	/* 8: an event that sums up several (refusals counted over an
	 * interval) says how many; `ferry events` pages newest first and
	 * filters by kind, host and deployment. */
	"ALTER TABLE events ADD COLUMN times INTEGER NOT NULL DEFAULT 1;"
	"CREATE INDEX events_kind ON events(kind, id);"
	"CREATE INDEX events_host ON events(host, id);"
	"CREATE INDEX events_deployment ON events(deployment, id);",
	/* 9: canary and blue-green: the plan (rollout_canary_format) and
	 * where the deployment stands in its steps; a rolling one is past
	 * them (phase 3, CP_DONE). */
	"ALTER TABLE deployments ADD COLUMN canary_plan TEXT NOT NULL "
	"DEFAULT '';"
	"ALTER TABLE deployments ADD COLUMN phase INTEGER NOT NULL DEFAULT 3;"
	"ALTER TABLE deployments ADD COLUMN step INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN step_run_ms INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN step_since_ms INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN interval_since_ms INTEGER NOT "
	"NULL DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN progress_ms INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN passes INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN fails INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN intervals INTEGER NOT NULL "
	"DEFAULT 0;",
	/* 10: a canary's analysis (analysis.h): each interval with its
	 * figures and verdict, and the marks the next interval's figures
	 * are counted from, per (host, revision): the proxy's boot and its
	 * cumulative counts (TC_WIDTH little-endian 64-bit numbers). */
	"CREATE TABLE analysis_intervals ("
	"  deployment INTEGER NOT NULL, seq INTEGER NOT NULL,"
	"  step INTEGER NOT NULL, phase TEXT NOT NULL,"
	"  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
	"  verdict TEXT NOT NULL"
	"    CHECK (verdict IN ('pass','fail','inconclusive')),"
	"  failed INTEGER NOT NULL, unjudged INTEGER NOT NULL,"
	"  canary_requests INTEGER NOT NULL, canary_errors INTEGER NOT NULL,"
	"  canary_p95_ms REAL NOT NULL,"
	"  stable_requests INTEGER NOT NULL, stable_errors INTEGER NOT NULL,"
	"  stable_p95_ms REAL NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  PRIMARY KEY (deployment, seq));"
	"CREATE TABLE analysis_marks ("
	"  deployment INTEGER NOT NULL, host TEXT NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  boot BLOB NOT NULL CHECK (length(boot) = 16),"
	"  counts BLOB NOT NULL,"
	"  PRIMARY KEY (deployment, host, revision));",
	/* 11: what a deployment is (deploy_rec.kind).  Of those recorded
	 * before, one that took a revision older than one deployed before
	 * it was a rollback. */
	"ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL "
	"DEFAULT 'deploy';"
	"UPDATE deployments SET kind = 'rollback' WHERE revision < (SELECT "
	"max(e.revision) FROM deployments e WHERE e.service = "
	"deployments.service AND e.id < deployments.id);",
	/* 12: a host drained for maintenance (ferry hosts drain: who, when)
	 * and a service stopped or removed on purpose (ferry stop, ferry
	 * remove: who, when), so that nothing brings it back behind the
	 * operator's back. */
	"ALTER TABLE hosts ADD COLUMN drained_by TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE hosts ADD COLUMN drained_at_ms INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE services ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '' "
	"CHECK (lifecycle IN ('', 'stopped', 'removed'));"
	"ALTER TABLE services ADD COLUMN lifecycle_by TEXT NOT NULL "
	"DEFAULT '';"
	"ALTER TABLE services ADD COLUMN lifecycle_at_ms INTEGER NOT NULL "
	"DEFAULT 0;",
	/* 13: a failed swap's last log lines (escaped, bounded), recorded
	 * beside its command so that `ferry status` can show them for the
	 * failed host. */
	"CREATE TABLE IF NOT EXISTS command_logs ("
	"  id BLOB PRIMARY KEY, deployment INTEGER NOT NULL,"
	"  host TEXT NOT NULL, seq INTEGER NOT NULL, logs TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS command_logs_by ON "
	"  command_logs(deployment, host, seq);",
	/* 14: what catch-up remembers of a service on a host (driftwatch.c),
	 * so that a restart of ferryd forgets none of it: an operator's
	 * `ferry swap HOST --remove` (kind 'removed': who, when, under which
	 * deployment it was first seen removed) and the last catch-up
	 * (kind 'catch-up': for which cause, revision and deployment, its
	 * own deployment, whether it ended and failed). */
	"CREATE TABLE IF NOT EXISTS drift_marks ("
	"  service TEXT NOT NULL, host TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('removed', 'catch-up')),"
	"  cause TEXT NOT NULL DEFAULT '',"
	"  revision INTEGER NOT NULL DEFAULT 0,"
	"  deployment INTEGER NOT NULL DEFAULT 0,"
	"  catch_up INTEGER NOT NULL DEFAULT 0,"
	"  done INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  by TEXT NOT NULL DEFAULT '',"
	"  at_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (service, host, kind));",
};

static const char *state_names[] = { "pending", "accepted", "revoked" };

static int event_insert(struct store *st, uint64_t deployment,
    const char *actor, const char *kind, const char *host,
    const char *detail);
static int lifecycle_set(struct store *st, const char *service,
    const char *state, const char *actor);

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(NMIGRATIONS == STORE_SCHEMA_VERSION,
    "STORE_SCHEMA_VERSION names the last migration");

int
store_schema_version(struct store *st)
{
	return db_version(st->db);
}

/* sql_token_verifier is ferry_token_verifier(secret) for migration 6: the
 * verifier of a 32-byte secret; anything else becomes a verifier nothing
 * proves (all zeroes is no Ed25519 key a signature verifies with). */
static void
sql_token_verifier(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t v[TOKEN_VERIFIER_LEN] = { 0 };

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_BLOB &&
	    sqlite3_value_bytes(argv[0]) == TOKEN_SECRET_LEN)
		token_verifier(sqlite3_value_blob(argv[0]), v);
	sqlite3_result_blob(ctx, v, sizeof(v), SQLITE_TRANSIENT);
}

/* prepare registers what migrations call, and makes deleted or rewritten
 * content be overwritten in the file (secret_delete), so that a secret a
 * migration rewrites does not linger in free space. */
static int
prepare(sqlite3 *db)
{
	if (sqlite3_create_function_v2(db, "ferry_token_verifier", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_token_verifier, NULL,
	    NULL, NULL) != SQLITE_OK)
		return FERR_STORE;
	return db_exec(db, "PRAGMA secure_delete = ON");
}

int
store_open(struct store **out, const char *path)
{
	struct store *st;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return FERR_NOMEM;
	if ((rc = db_open_with(&st->db, path, migrations, NMIGRATIONS,
	    prepare)) != 0) {
		free(st);
		return rc;
	}
	/* Pages freed (a removed secret's ciphertext) are zeroed. */
	if ((rc = db_exec(st->db, "PRAGMA secure_delete = ON")) != 0) {
		db_close(st->db);
		free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int
store_fault_take(char *path, size_t len, unsigned *count)
{
	return db_fault_take(path, len, count);
}

int
store_fault_last(char *path, size_t len, uint64_t *at_ms)
{
	return db_fault_last(path, len, at_ms);
}

int
store_check(struct store *st)
{
	/* Reads a table's pages: a file that went missing, unreadable or
	 * damaged says so. */
	return db_exec(st->db, "SELECT count(*) FROM hosts");
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	db_close(st->db);
	free(st);
}

static void
copy_text(char *dst, size_t size, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, size, "%s", t != NULL ? (const char *)t : "");
}

static int
load_labels(struct store *st, struct host_rec *h)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT key, value FROM host_labels "
	    "WHERE host = ? ORDER BY key");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, h->name, -1, SQLITE_STATIC);
	h->nlabels = 0;
	while (sqlite3_step(s) == SQLITE_ROW && h->nlabels < LABELS_MAX) {
		struct label *l = &h->labels[h->nlabels++];
		copy_text(l->key, sizeof(l->key), s, 0);
		copy_text(l->value, sizeof(l->value), s, 1);
	}
	db_release(s);
	return 0;
}

int
store_hosts_load(struct store *st, store_host_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT name, pubkey, new_pubkey, state, "
	    "address, last_seen_ms, next_seq, created_ms, new_key_from, "
	    "new_key_at_ms, new_key_token, drained_by, drained_at_ms "
	    "FROM hosts ORDER BY name");
	struct host_rec *h;
	int rc = 0;

	if (s == NULL)
		return FERR_STORE;
	h = malloc(sizeof(*h));
	if (h == NULL) {
		db_release(s);
		return FERR_NOMEM;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 3);
		memset(h, 0, sizeof(*h));
		copy_text(h->name, sizeof(h->name), s, 0);
		if (sqlite3_column_bytes(s, 1) != KEY_PUBLIC_LEN) {
			rc = FERR_STORE;
			break;
		}
		memcpy(h->pk, sqlite3_column_blob(s, 1), KEY_PUBLIC_LEN);
		if (sqlite3_column_bytes(s, 2) == KEY_PUBLIC_LEN) {
			h->has_new_pk = 1;
			memcpy(h->new_pk, sqlite3_column_blob(s, 2),
			    KEY_PUBLIC_LEN);
			copy_text(h->new_key_from, sizeof(h->new_key_from), s,
			    8);
			h->new_key_at_ms = (uint64_t)sqlite3_column_int64(s,
			    9);
			h->new_key_token = sqlite3_column_int(s, 10);
		}
		h->state = strcmp(state, "accepted") == 0 ? HOST_ACCEPTED :
		    strcmp(state, "revoked") == 0 ? HOST_REVOKED :
		    HOST_PENDING;
		copy_text(h->address, sizeof(h->address), s, 4);
		h->last_seen_ms = (uint64_t)sqlite3_column_int64(s, 5);
		h->next_seq = (uint64_t)sqlite3_column_int64(s, 6);
		h->created_ms = (uint64_t)sqlite3_column_int64(s, 7);
		copy_text(h->drained_by, sizeof(h->drained_by), s, 11);
		h->drained_at_ms = (uint64_t)sqlite3_column_int64(s, 12);
		if ((rc = load_labels(st, h)) != 0)
			break;
		cb(arg, h);
	}
	free(h);
	db_release(s);
	return rc;
}

static int
insert_labels(struct store *st, const char *name, const struct label *l,
    size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		sqlite3_stmt *s = db_prep(st->db, "INSERT OR REPLACE INTO host_labels"
		    "(host, key, value) VALUES (?, ?, ?)");
		if (s == NULL)
			return FERR_STORE;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, l[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, l[i].value, -1, SQLITE_STATIC);
		if ((rc = db_step_done(s)) != 0)
			return rc;
	}
	return 0;
}

static int
host_insert(struct store *st, const struct host_rec *h)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT INTO hosts(name, pubkey, state, "
	    "address, last_seen_ms, next_seq, created_ms) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)");
	int rc;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, h->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, h->pk, KEY_PUBLIC_LEN, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, state_names[h->state], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, h->address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)h->last_seen_ms);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)h->next_seq);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)h->created_ms);
	if ((rc = db_step_done(s)) != 0)
		return rc;
	return insert_labels(st, h->name, h->labels, h->nlabels);
}

int
store_host_insert(struct store *st, const struct host_rec *h)
{
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	return db_finish(st->db, host_insert(st, h));
}

int
store_host_set_state(struct store *st, const char *name, enum host_state v)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE hosts SET state = ? "
	    "WHERE name = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, state_names[v], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_host_set_drained(struct store *st, const char *name, const char *by,
    uint64_t at_ms, const char *actor, const char *detail)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	if ((s = db_prep(st->db, "UPDATE hosts SET drained_by = ?, "
	    "drained_at_ms = ? WHERE name = ?")) == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)at_ms);
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	if ((rc = db_update_one(st->db, s)) == 0)
		rc = event_insert(st, 0, actor, by[0] ? "drain" : "undrain",
		    name, detail);
	return db_finish(st->db, rc);
}

int
store_host_set_new_key(struct store *st, const char *name,
    const struct host_rec *claim)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE hosts SET new_pubkey = ?, "
	    "new_key_from = ?, new_key_at_ms = ?, new_key_token = ? "
	    "WHERE name = ?");

	if (s == NULL)
		return FERR_STORE;
	if (claim != NULL && claim->has_new_pk) {
		sqlite3_bind_blob(s, 1, claim->new_pk, KEY_PUBLIC_LEN,
		    SQLITE_STATIC);
		sqlite3_bind_text(s, 2, claim->new_key_from, -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)claim->new_key_at_ms);
		sqlite3_bind_int(s, 4, claim->new_key_token);
	} else {
		sqlite3_bind_null(s, 1);
		sqlite3_bind_text(s, 2, "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, 0);
		sqlite3_bind_int(s, 4, 0);
	}
	sqlite3_bind_text(s, 5, name, -1, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_host_take_new_key(struct store *st, const char *name,
    const uint8_t *pk)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE hosts SET pubkey = new_pubkey, "
	    "new_pubkey = NULL, new_key_from = '', new_key_at_ms = 0, "
	    "new_key_token = 0, state = 'accepted' "
	    "WHERE name = ? AND new_pubkey = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, pk, KEY_PUBLIC_LEN, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_host_set_labels(struct store *st, const char *name,
    const struct label *labels, size_t n)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	/* An unknown host is FERR_NOTFOUND, as for the other host updates
	 * (not the foreign key's FERR_EXISTS, nor success with no labels). */
	s = db_prep(st->db, "SELECT 1 FROM hosts WHERE name = ?");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_ROW ? 0 : FERR_NOTFOUND;
	db_release(s);
	if (rc != 0)
		return db_finish(st->db, rc);
	s = db_prep(st->db, "DELETE FROM host_labels WHERE host = ?");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if ((rc = db_step_done(s)) == 0)
		rc = insert_labels(st, name, labels, n);
	return db_finish(st->db, rc);
}

int
store_batch_begin(struct store *st, int durable)
{
	int rc = db_begin_as(st->db, durable);

	st->batch_light = rc == 0 && !durable;
	return rc;
}

int
store_batch_end(struct store *st, int rc)
{
	rc = db_finish_as(st->db, !st->batch_light, rc);
	st->batch_light = 0;
	return rc;
}

int
store_host_seen(struct store *st, const char *name, uint64_t at_ms,
    const char *address)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE hosts SET last_seen_ms = ?, "
	    "address = ? WHERE name = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)at_ms);
	sqlite3_bind_text(s, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

/* Token labels are kept as "k=v\n" lines; keys and values never hold '\n'
 * or '=' in keys (the control socket checks them). */
int
store_token_insert(struct store *st, const uint8_t *id,
    const uint8_t *verifier, uint64_t created_ms, uint64_t expires_ms,
    const struct label *labels, size_t n)
{
	char text[LABELS_MAX * (LABEL_KEY_MAX + LABEL_VALUE_MAX + 2) + 1];
	size_t i, off = 0;
	sqlite3_stmt *s;

	text[0] = '\0';
	for (i = 0; i < n && i < LABELS_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%s=%s\n", labels[i].key, labels[i].value);
	s = db_prep(st->db, "INSERT INTO tokens(id, verifier, created_ms, "
	    "expires_ms, "
	    "labels) VALUES (?, ?, ?, ?, ?)");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, verifier, TOKEN_VERIFIER_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)created_ms);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)expires_ms);
	sqlite3_bind_text(s, 5, text, -1, SQLITE_STATIC);
	return db_step_done(s);
}

/* add_label sets key=value on h, replacing an existing key. */
static void
add_label(struct host_rec *h, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < h->nlabels; i++)
		if (strcmp(h->labels[i].key, key) == 0)
			break;
	if (i == LABELS_MAX)
		return;
	snprintf(h->labels[i].key, sizeof(h->labels[i].key), "%s", key);
	snprintf(h->labels[i].value, sizeof(h->labels[i].value), "%s", value);
	if (i == h->nlabels)
		h->nlabels++;
}

int
store_token_join(struct store *st, const uint8_t *token_id, uint64_t now_ms,
    store_proof_fn proof, void *proof_arg, struct host_rec *h,
    const char *displace, const char **why)
{
	sqlite3_stmt *s = NULL;
	char *labels = NULL, *line, *save = NULL;
	int rc;

	*why = "";
	if ((rc = db_begin(st->db)) != 0)
		return rc;
	s = db_prep(st->db, "SELECT verifier, expires_ms, used_ms, labels "
	    "FROM tokens WHERE id = ?");
	if (s == NULL) {
		rc = FERR_STORE;
		goto out;
	}
	sqlite3_bind_blob(s, 1, token_id, 16, SQLITE_STATIC);
	rc = FERR_TOKEN;
	if (sqlite3_step(s) != SQLITE_ROW) {
		*why = "unknown token";
		goto out;
	}
	if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
		*why = "token already used";
		goto out;
	}
	if ((uint64_t)sqlite3_column_int64(s, 1) <= now_ms) {
		*why = "token expired";
		goto out;
	}
	if (sqlite3_column_bytes(s, 0) != TOKEN_VERIFIER_LEN ||
	    proof(proof_arg, sqlite3_column_blob(s, 0)) != 0) {
		*why = "token proof does not match";
		goto out;
	}
	if (h == NULL) {	/* check only: nothing is spent or written */
		rc = 0;
		goto out;
	}
	labels = strdup((const char *)sqlite3_column_text(s, 3));
	if (labels == NULL) {
		rc = FERR_NOMEM;
		goto out;
	}
	for (line = strtok_r(labels, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		add_label(h, line, eq + 1);
	}
	db_release(s);
	s = db_prep(st->db, "UPDATE tokens SET used_ms = ?, used_by = ? WHERE id = ?");
	if (s == NULL) {
		rc = FERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)now_ms);
	sqlite3_bind_text(s, 2, h->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, token_id, 16, SQLITE_STATIC);
	rc = db_step_done(s);
	s = NULL;
	if (rc == 0 && displace != NULL) {
		/* A claim without a token loses its name to a token. */
		s = db_prep(st->db, "DELETE FROM hosts WHERE name = ? AND "
		    "state = 'pending'");
		if (s == NULL) {
			rc = FERR_STORE;
			goto out;
		}
		sqlite3_bind_text(s, 1, displace, -1, SQLITE_STATIC);
		rc = db_update_one(st->db, s);
		s = NULL;
	}
	if (rc == 0) {
		rc = host_insert(st, h);
		if (rc == FERR_EXISTS)
			*why = "host name or key already enrolled";
	}
out:
	db_release(s);
	free(labels);
	return db_finish(st->db, rc);
}

/* command_insert writes c and raises its host's last sequence, inside the
 * caller's transaction. */
static int
command_insert(struct store *st, const struct command_rec *c)
{
	sqlite3_stmt *s;
	int rc;

	s = db_prep(st->db, "INSERT INTO commands(id, host, seq, kind, envelope, "
	    "created_ms, expires_ms, state, updated_ms, deadline_ms, "
	    "deployment, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, c->id, COMMAND_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)c->seq);
	sqlite3_bind_text(s, 4, c->kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, c->envelope, (int)c->envelope_len,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)c->created_ms);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)c->expires_ms);
	sqlite3_bind_text(s, 8, c->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)c->created_ms);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)(c->deadline_ms ?
	    c->deadline_ms : c->expires_ms));
	sqlite3_bind_int64(s, 11, (sqlite3_int64)c->deployment);
	sqlite3_bind_text(s, 12, c->purpose, -1, SQLITE_STATIC);
	if ((rc = db_step_done(s)) != 0)
		return rc;
	s = db_prep(st->db, "UPDATE hosts SET next_seq = max(next_seq, ?) "
	    "WHERE name = ?");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)c->seq);
	sqlite3_bind_text(s, 2, c->host, -1, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_command_insert(struct store *st, const struct command_rec *c)
{
	int rc;

	if (!sqlite3_get_autocommit(st->db))
		return command_insert(st, c);	/* joins the open batch */
	if ((rc = db_begin(st->db)) != 0)
		return rc;
	return db_finish(st->db, command_insert(st, c));
}

int
store_command_note(struct store *st, const uint8_t *id, const char *state,
    const char *result)
{
	int rc;

	if (!sqlite3_get_autocommit(st->db))	/* joins the open batch */
		return store_command_set_state(st, id, state, result);
	if ((rc = db_begin_as(st->db, 0)) != 0)
		return rc;
	return db_finish_as(st->db, 0, store_command_set_state(st, id, state,
	    result));
}

int
store_command_set_state(struct store *st, const uint8_t *id,
    const char *state, const char *result)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE commands SET state = ?, "
	    "result = ?, updated_ms = ? WHERE id = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, result != NULL ? result : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_blob(s, 4, id, COMMAND_ID_LEN, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_command_logs_set(struct store *st, const struct command_rec *c,
    const char *logs)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT OR REPLACE INTO "
	    "command_logs (id, deployment, host, seq, logs) VALUES "
	    "(?, ?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, c->id, COMMAND_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)c->deployment);
	sqlite3_bind_text(s, 3, c->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)c->seq);
	sqlite3_bind_text(s, 5, logs != NULL ? logs : "", -1, SQLITE_STATIC);
	return db_step_done(s);
}

int
store_drift_mark_put(struct store *st, const struct drift_mark *m)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT OR REPLACE INTO drift_marks "
	    "(service, host, kind, cause, revision, deployment, catch_up, "
	    "done, failed, by, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, m->service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, m->host, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, m->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, m->cause, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)m->revision);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)m->deployment);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)m->catch_up);
	sqlite3_bind_int(s, 8, m->done != 0);
	sqlite3_bind_int(s, 9, m->failed != 0);
	sqlite3_bind_text(s, 10, m->by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)m->at_ms);
	return db_step_done(s);
}

int
store_drift_mark_delete(struct store *st, const char *service,
    const char *host, const char *kind)
{
	sqlite3_stmt *s = db_prep(st->db, "DELETE FROM drift_marks WHERE "
	    "service = ? AND host = ? AND kind = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	return db_step_done(s);
}

int
store_drift_marks_list(struct store *st, store_drift_mark_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT service, host, kind, cause, "
	    "revision, deployment, catch_up, done, failed, by, at_ms FROM "
	    "drift_marks ORDER BY service, host, kind");
	struct drift_mark m;
	int rc;

	if (s == NULL)
		return FERR_STORE;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		copy_text(m.service, sizeof(m.service), s, 0);
		copy_text(m.host, sizeof(m.host), s, 1);
		copy_text(m.kind, sizeof(m.kind), s, 2);
		copy_text(m.cause, sizeof(m.cause), s, 3);
		m.revision = (uint64_t)sqlite3_column_int64(s, 4);
		m.deployment = (uint64_t)sqlite3_column_int64(s, 5);
		m.catch_up = (uint64_t)sqlite3_column_int64(s, 6);
		m.done = sqlite3_column_int(s, 7);
		m.failed = sqlite3_column_int(s, 8);
		copy_text(m.by, sizeof(m.by), s, 9);
		m.at_ms = (uint64_t)sqlite3_column_int64(s, 10);
		cb(arg, &m);
	}
	db_release(s);
	return rc == SQLITE_DONE ? 0 : FERR_STORE;
}

int
store_command_logs_last(struct store *st, uint64_t deployment,
    const char *host, char *out, size_t len)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT logs FROM command_logs WHERE "
	    "deployment = ? AND host = ? ORDER BY seq DESC LIMIT 1");
	int rc;

	if (len > 0)
		out[0] = '\0';
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
	sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		copy_text(out, len, s, 0);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? FERR_NOTFOUND : FERR_STORE;
	db_release(s);
	return rc;
}

static void
row_to_command(sqlite3_stmt *s, struct command_rec *c)
{
	memset(c, 0, sizeof(*c));
	if (sqlite3_column_bytes(s, 0) == COMMAND_ID_LEN)
		memcpy(c->id, sqlite3_column_blob(s, 0), COMMAND_ID_LEN);
	copy_text(c->host, sizeof(c->host), s, 1);
	c->seq = (uint64_t)sqlite3_column_int64(s, 2);
	copy_text(c->kind, sizeof(c->kind), s, 3);
	c->envelope = (uint8_t *)sqlite3_column_blob(s, 4);
	c->envelope_len = (size_t)sqlite3_column_bytes(s, 4);
	c->created_ms = (uint64_t)sqlite3_column_int64(s, 5);
	c->expires_ms = (uint64_t)sqlite3_column_int64(s, 6);
	copy_text(c->state, sizeof(c->state), s, 7);
	c->deadline_ms = (uint64_t)sqlite3_column_int64(s, 8);
	c->deployment = (uint64_t)sqlite3_column_int64(s, 9);
	copy_text(c->purpose, sizeof(c->purpose), s, 10);
	copy_text(c->result, sizeof(c->result), s, 11);
}

#define COMMAND_COLS "id, host, seq, kind, envelope, created_ms, " \
	"expires_ms, state, deadline_ms, deployment, purpose, result"

int
store_commands_open(struct store *st, store_command_cb cb, void *arg)
{
	sqlite3_stmt *s;
	struct command_rec c;
	int rc;

	/* Nothing stale goes out again: a command without a deployment had
	 * a waiter (a ping, `ferry swap`) that did not survive the restart,
	 * and a finished deployment sends nothing more.  Their answers, if
	 * they come, are late answers. */
	s = db_prep(st->db, "UPDATE commands SET state = 'expired', result = "
	    "?2, updated_ms = ?3 WHERE state IN ('queued', 'sent', "
	    "'accepted') AND (deployment = 0 OR deployment IN (SELECT id "
	    "FROM deployments WHERE state >= ?1))");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int(s, 1, RO_SUCCEEDED);
	sqlite3_bind_text(s, 2, "not sent again after ferryd restarted: "
	    "nothing waits for it", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)clock_wall_ms());
	if ((rc = db_step_done(s)) != 0)
		return rc;
	s = db_prep(st->db, "SELECT " COMMAND_COLS " FROM commands "
	    "WHERE state IN ('queued', 'sent', 'accepted') "
	    "ORDER BY host, seq");
	if (s == NULL)
		return FERR_STORE;
	while (sqlite3_step(s) == SQLITE_ROW) {
		row_to_command(s, &c);
		cb(arg, &c);
	}
	db_release(s);
	return 0;
}

int
store_command_rearm(struct store *st, const uint8_t *id,
    const uint8_t *envelope, size_t len, uint64_t expires_ms,
    uint64_t deadline_ms)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE commands SET envelope = ?, "
	    "expires_ms = ?, deadline_ms = ?, updated_ms = ? WHERE id = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, envelope, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)expires_ms);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)deadline_ms);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_blob(s, 5, id, COMMAND_ID_LEN, SQLITE_STATIC);
	return db_update_one(st->db, s);
}

int
store_command_get(struct store *st, const uint8_t *id, struct command_rec *c)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT " COMMAND_COLS " FROM commands "
	    "WHERE id = ?");
	int rc = FERR_NOTFOUND;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_blob(s, 1, id, COMMAND_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		row_to_command(s, c);
		c->envelope = NULL;	/* not valid past finalize */
		c->envelope_len = 0;
		rc = 0;
	}
	db_release(s);
	return rc;
}

int
store_event(struct store *st, const char *actor, const char *kind,
    const char *host, const char *detail)
{
	return store_event_n(st, actor, kind, host, detail, 1);
}

int
store_event_n(struct store *st, const char *actor, const char *kind,
    const char *host, const char *detail, uint64_t times)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT INTO events(at_ms, actor, kind, "
	    "host, detail, times) VALUES (?, ?, ?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, host != NULL ? host : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, detail != NULL ? detail : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)(times ? times : 1));
	return db_step_done(s);
}

int
store_revision_add(struct store *st, const char *service,
    const char *spec_file, const char *spec, size_t spec_len,
    const char *image, const char *actor, const struct spec_secret *pins,
    size_t npins, uint64_t *number)
{
	size_t i;
	sqlite3_stmt *s;
	uint64_t n = 1;
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	s = db_prep(st->db, "SELECT coalesce(max(number), 0) + 1 FROM "
	    "revisions WHERE service = ?");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(s, 0);
	db_release(s);
	s = db_prep(st->db, "INSERT INTO revisions(service, number, "
	    "spec_file, spec, image, created_ms, actor) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
	sqlite3_bind_text(s, 3, spec_file, -1, SQLITE_STATIC);
	/* The spec comes off the wire, counted, not NUL-terminated. */
	sqlite3_bind_text(s, 4, spec, (int)spec_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, image, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_text(s, 7, actor, -1, SQLITE_STATIC);
	if ((rc = db_step_done(s)) != 0)
		return db_finish(st->db, rc);
	for (i = 0; i < npins && rc == 0; i++) {
		s = db_prep(st->db, "INSERT INTO revision_secrets(service, "
		    "revision, name, version) VALUES (?, ?, ?, ?)");
		if (s == NULL)
			return db_finish(st->db, FERR_STORE);
		sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
		sqlite3_bind_text(s, 3, pins[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)pins[i].version);
		rc = db_step_done(s);
	}
	if ((rc = db_finish(st->db, rc)) == 0)
		*number = n;
	return rc;
}

int
store_revision_pins(struct store *st, const char *service, uint64_t number,
    struct spec_secret *pins, size_t npins)
{
	sqlite3_stmt *s;
	size_t i;
	int rc = 0;

	for (i = 0; i < npins && rc == 0; i++) {
		s = db_prep(st->db, "SELECT version FROM revision_secrets "
		    "WHERE service = ? AND revision = ? AND name = ?");
		if (s == NULL)
			return FERR_STORE;
		sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)number);
		sqlite3_bind_text(s, 3, pins[i].name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			pins[i].version = (uint64_t)sqlite3_column_int64(s, 0);
		else
			rc = FERR_NOTFOUND;
		db_release(s);
	}
	return rc;
}

/* ---- secrets ----------------------------------------------------------- */

int
store_secret_next(struct store *st, const char *service, const char *name,
    uint64_t *version)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT coalesce(max(version), 0) "
	    "+ 1 FROM secrets WHERE service = ? AND name = ?");

	*version = 0;
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		*version = (uint64_t)sqlite3_column_int64(s, 0);
	db_release(s);
	return *version != 0 ? 0 : FERR_STORE;
}

int
store_secret_put(struct store *st, const struct secret_rec *r,
    const uint8_t *ct, size_t ctlen, const char *detail)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	s = db_prep(st->db, "INSERT INTO secrets(service, name, "
	    "version, created_ms, created_by, size, nonce, ciphertext) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, r->service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)r->version);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)r->created_ms);
	sqlite3_bind_text(s, 5, r->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)r->size);
	sqlite3_bind_blob(s, 7, r->nonce, sizeof(r->nonce), SQLITE_STATIC);
	sqlite3_bind_blob(s, 8, ct, (int)ctlen, SQLITE_STATIC);
	if ((rc = db_step_done(s)) == 0)
		rc = store_event(st, r->created_by, "secret-set", "", detail);
	return db_finish(st->db, rc);
}

/* secret_row fills r from the columns service, name, version, created_ms,
 * created_by, size, nonce, deleted. */
static void
secret_row(sqlite3_stmt *s, struct secret_rec *r)
{
	memset(r, 0, sizeof(*r));
	copy_text(r->service, sizeof(r->service), s, 0);
	copy_text(r->name, sizeof(r->name), s, 1);
	r->version = (uint64_t)sqlite3_column_int64(s, 2);
	r->created_ms = (uint64_t)sqlite3_column_int64(s, 3);
	copy_text(r->created_by, sizeof(r->created_by), s, 4);
	r->size = (uint32_t)sqlite3_column_int64(s, 5);
	if (sqlite3_column_bytes(s, 6) == (int)sizeof(r->nonce))
		memcpy(r->nonce, sqlite3_column_blob(s, 6), sizeof(r->nonce));
	r->deleted = sqlite3_column_int(s, 7);
}

int
store_secret_get(struct store *st, const char *service, const char *name,
    uint64_t version, struct secret_rec *r, uint8_t **ct, size_t *ctlen)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT service, name, version, "
	    "created_ms, created_by, size, nonce, deleted, ciphertext "
	    "FROM secrets WHERE service = ? AND name = ? AND "
	    "(version = ? OR (? = 0 AND deleted = 0)) "
	    "ORDER BY version DESC LIMIT 1");
	int rc = FERR_NOTFOUND, n;

	*ct = NULL;
	*ctlen = 0;
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)version);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)version);
	if (sqlite3_step(s) == SQLITE_ROW) {
		secret_row(s, r);
		rc = 0;
		n = sqlite3_column_bytes(s, 8);
		if (n > 0 && (*ct = malloc((size_t)n)) == NULL)
			rc = FERR_NOMEM;
		else if (n > 0) {
			memcpy(*ct, sqlite3_column_blob(s, 8), (size_t)n);
			*ctlen = (size_t)n;
		}
	}
	db_release(s);
	return rc;
}

int
store_secret_list(struct store *st, const char *service, store_secret_cb cb,
    void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT service, name, version, "
	    "created_ms, created_by, size, nonce, deleted FROM secrets AS a "
	    "WHERE service = ? AND deleted = 0 AND version = (SELECT "
	    "max(version) FROM secrets AS b WHERE b.service = a.service AND "
	    "b.name = a.name) ORDER BY name");
	struct secret_rec r;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		secret_row(s, &r);
		cb(arg, &r);
	}
	db_release(s);
	return 0;
}

int
store_secrets_rekey(struct store *st, store_rekey_fn fn, void *arg,
    size_t *count)
{
	struct row {
		sqlite3_int64 rowid;
		struct secret_rec r;
		uint8_t *ct;
		size_t len;
	} *rows = NULL, *nr;
	sqlite3_stmt *s;
	size_t n = 0, cap = 0, i;
	int rc;

	*count = 0;
	if ((rc = db_begin(st->db)) != 0)
		return rc;
	s = db_prep(st->db, "SELECT service, name, version, created_ms, "
	    "created_by, size, nonce, deleted, ciphertext, rowid FROM secrets "
	    "WHERE length(ciphertext) > 0");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
		int len = sqlite3_column_bytes(s, 8);

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nr = realloc(rows, cap * sizeof(*rows))) == NULL) {
				rc = FERR_NOMEM;
				break;
			}
			rows = nr;
		}
		secret_row(s, &rows[n].r);
		rows[n].rowid = sqlite3_column_int64(s, 9);
		rows[n].len = (size_t)len;
		if ((rows[n].ct = malloc((size_t)len)) == NULL) {
			rc = FERR_NOMEM;
			break;
		}
		memcpy(rows[n].ct, sqlite3_column_blob(s, 8), (size_t)len);
		n++;
	}
	db_release(s);
	/* fn rewrites nonce and ciphertext in place (same length). */
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = fn(arg, &rows[i].r, rows[i].ct, rows[i].len)) != 0)
			break;
		s = db_prep(st->db, "UPDATE secrets SET nonce = ?, "
		    "ciphertext = ? WHERE rowid = ?");
		if (s == NULL) {
			rc = FERR_STORE;
			break;
		}
		sqlite3_bind_blob(s, 1, rows[i].r.nonce,
		    sizeof(rows[i].r.nonce), SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, rows[i].ct, (int)rows[i].len,
		    SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, rows[i].rowid);
		rc = db_update_one(st->db, s);
	}
	for (i = 0; i < n; i++)
		free(rows[i].ct);
	free(rows);
	if ((rc = db_finish(st->db, rc)) == 0)
		*count = n;
	return rc;
}

int
store_secret_rm(struct store *st, const char *service, const char *name,
    const char *actor, const char *detail)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	s = db_prep(st->db, "UPDATE secrets SET deleted = 1, ciphertext = "
	    "x'' WHERE service = ? AND name = ? AND deleted = 0");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	if ((rc = db_update_one(st->db, s)) == 0)
		rc = store_event(st, actor, "secret-removed", "", detail);
	return db_finish(st->db, rc);
}

int
store_revision_set_digest(struct store *st, const char *service,
    uint64_t number, const char *digest)
{
	sqlite3_stmt *s = db_prep(st->db, "UPDATE revisions SET digest = ? "
	    "WHERE service = ? AND number = ?");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)number);
	return db_update_one(st->db, s);
}

int
store_revision_get(struct store *st, const char *service, uint64_t number,
    char **spec_file, char **spec, char **digest, char **image)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT spec_file, spec, digest, "
	    "image FROM revisions WHERE service = ? AND number = ?");
	char **out[4] = { spec_file, spec, digest, image };
	int rc = FERR_NOTFOUND, i;

	for (i = 0; i < 4; i++)
		if (out[i] != NULL)
			*out[i] = NULL;
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)number);
	if (sqlite3_step(s) == SQLITE_ROW) {
		rc = 0;
		for (i = 0; i < 4; i++) {
			if (out[i] == NULL)
				continue;
			*out[i] = strdup((const char *)sqlite3_column_text(s,
			    i));
			if (*out[i] == NULL)
				rc = FERR_NOMEM;
		}
		if (rc != 0)
			for (i = 0; i < 4; i++)
				if (out[i] != NULL) {
					free(*out[i]);
					*out[i] = NULL;
				}
	}
	db_release(s);
	return rc;
}

/* ---- deployments ----------------------------------------------------- */

static int
finished_state(int s)
{
	return s == RO_SUCCEEDED || s == RO_FAILED || s == RO_ROLLED_BACK ||
	    s == RO_ABORTED;
}

static int
deploy_write(struct store *st, const struct deploy_rec *d,
    const struct rollout *r)
{
	sqlite3_stmt *s;
	size_t i;
	int rc;

	char plan[ROLLOUT_CANARY_TEXT];

	rollout_canary_format(&r->cfg, plan, sizeof(plan));
	s = db_prep(st->db, "UPDATE deployments SET digest = ?, state = ?, "
	    "batch = ?, nbatches = ?, batch_size = ?, max_failures = ?, "
	    "on_failure = ?, pause_ms = ?, next_batch_at_ms = ?, failures = ?, "
	    "flags = ?, cause = ?, updated_ms = ?, canary_plan = ?, "
	    "phase = ?, step = ?, step_run_ms = ?, step_since_ms = ?, "
	    "interval_since_ms = ?, progress_ms = ?, passes = ?, fails = ?, "
	    "intervals = ? WHERE id = ?");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, d->digest, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)r->state);
	sqlite3_bind_int64(s, 3, r->batch);
	sqlite3_bind_int64(s, 4, r->nbatches);
	sqlite3_bind_int64(s, 5, r->batch_size);
	sqlite3_bind_int64(s, 6, r->max_failures);
	sqlite3_bind_int(s, 7, (int)r->on_failure);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)r->pause_ms);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)r->next_batch_at_ms);
	sqlite3_bind_int64(s, 10, r->failures);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)rollout_flags(r));
	sqlite3_bind_text(s, 12, r->cause, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 13, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_text(s, 14, plan, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 15, (int)r->phase);
	sqlite3_bind_int64(s, 16, r->step);
	sqlite3_bind_int64(s, 17, (sqlite3_int64)r->step_run_ms);
	sqlite3_bind_int64(s, 18, (sqlite3_int64)r->step_since_ms);
	sqlite3_bind_int64(s, 19, (sqlite3_int64)r->interval_since_ms);
	sqlite3_bind_int64(s, 20, (sqlite3_int64)r->progress_ms);
	sqlite3_bind_int64(s, 21, r->passes);
	sqlite3_bind_int64(s, 22, r->fails);
	sqlite3_bind_int64(s, 23, r->intervals);
	sqlite3_bind_int64(s, 24, (sqlite3_int64)d->id);
	if ((rc = db_update_one(st->db, s)) != 0)
		return rc;
	for (i = 0; i < r->nhosts; i++) {
		const struct rollout_host *h = &r->hosts[i];

		s = db_prep(st->db, "INSERT OR REPLACE INTO deployment_hosts("
		    "deployment, idx, host, batch, state, had_previous, "
		    "since_ms, cause, unanswered) VALUES (?, ?, ?, ?, ?, ?, "
		    "?, ?, ?)");
		if (s == NULL)
			return FERR_STORE;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)d->id);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
		sqlite3_bind_text(s, 3, h->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, h->batch);
		sqlite3_bind_int(s, 5, (int)h->state);
		sqlite3_bind_int(s, 6, h->had_previous);
		sqlite3_bind_int64(s, 7, (sqlite3_int64)h->since_ms);
		sqlite3_bind_text(s, 8, h->cause, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 9, h->unanswered);
		if ((rc = db_step_done(s)) != 0)
			return rc;
	}
	return 0;
}

static int
event_insert(struct store *st, uint64_t deployment, const char *actor,
    const char *kind, const char *host, const char *detail)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT INTO events(at_ms, actor, "
	    "kind, host, detail, deployment) VALUES (?, ?, ?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)clock_wall_ms());
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, host ? host : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, detail ? detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)deployment);
	return db_step_done(s);
}

int
store_deploy_event(struct store *st, uint64_t deployment, const char *actor,
    const char *kind, const char *host, const char *detail)
{
	return event_insert(st, deployment, actor, kind, host, detail);
}

int
store_deploy_create(struct store *st, struct deploy_rec *d,
    const struct rollout *r, uint64_t *running)
{
	sqlite3_stmt *s;
	int rc;

	*running = 0;
	if ((rc = db_begin(st->db)) != 0)
		return rc;
	/* One deployment per service at a time. */
	s = db_prep(st->db, "SELECT id FROM deployments WHERE service = ? AND "
	    "state NOT IN (?, ?, ?, ?) ORDER BY id LIMIT 1");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	sqlite3_bind_text(s, 1, d->service, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, RO_SUCCEEDED);
	sqlite3_bind_int(s, 3, RO_FAILED);
	sqlite3_bind_int(s, 4, RO_ROLLED_BACK);
	sqlite3_bind_int(s, 5, RO_ABORTED);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*running = (uint64_t)sqlite3_column_int64(s, 0);
		db_release(s);
		return db_finish(st->db, FERR_EXISTS);
	}
	db_release(s);
	s = db_prep(st->db, "INSERT INTO deployments(service, revision, "
	    "previous_revision, image, digest, previous_digest, state, batch, "
	    "nbatches, batch_size, max_failures, on_failure, pause_ms, "
	    "next_batch_at_ms, failures, actor, created_ms, updated_ms, "
	    "skipped, kind) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, "
	    "0, ?, ?, ?, ?, ?)");
	if (s == NULL)
		return db_finish(st->db, FERR_STORE);
	d->created_ms = clock_wall_ms();
	sqlite3_bind_text(s, 1, d->service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)d->revision);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)d->previous_revision);
	sqlite3_bind_text(s, 4, d->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, d->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, d->previous_digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, d->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)d->created_ms);
	sqlite3_bind_text(s, 10, d->skipped, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)d->created_ms);
	sqlite3_bind_text(s, 11, d->kind[0] ? d->kind : DEPLOY_KIND_DEPLOY, -1,
	    SQLITE_STATIC);
	if ((rc = db_step_done(s)) != 0)
		return db_finish(st->db, rc);
	d->id = (uint64_t)sqlite3_last_insert_rowid(st->db);
	if ((rc = deploy_write(st, d, r)) != 0)
		return db_finish(st->db, rc);
	/* Stopping or removing a service is the operator's intent from the
	 * moment it is asked: nothing brings the service back meanwhile
	 * (catch-up reads it), even if the work halts half way. */
	if (strcmp(d->kind, DEPLOY_KIND_STOP) == 0 ||
	    strcmp(d->kind, DEPLOY_KIND_REMOVE) == 0) {
		if ((rc = lifecycle_set(st, d->service, strcmp(d->kind,
		    DEPLOY_KIND_STOP) == 0 ? "stopped" : "removed",
		    d->actor)) != 0)
			return db_finish(st->db, rc);
	}
	{
		char detail[600];
		snprintf(detail, sizeof(detail), "%s %s revision %llu (%s) "
		    "to %zu host(s) in %u batch(es)",
		    d->kind[0] ? d->kind : DEPLOY_KIND_DEPLOY, d->service,
		    (unsigned long long)d->revision, d->image, r->nhosts,
		    r->nbatches);
		rc = event_insert(st, d->id, d->actor, "deploy-requested", "",
		    detail);
	}
	return db_finish(st->db, rc);
}

static int analysis_write(struct store *st, uint64_t deployment,
    const struct interval_rec *iv, const struct analysis_mark *marks,
    size_t nmarks);

/* deploy_commit writes what store_deploy_commit records, inside the
 * caller's transaction. */
static int
deploy_commit(struct store *st, const struct deploy_rec *d,
    const struct rollout *r, struct command_rec *const *cmds, size_t ncmds,
    const struct deploy_event *ev, size_t nev)
{
	size_t i;
	int rc;

	if ((rc = deploy_write(st, d, r)) != 0)
		return rc;
	for (i = 0; i < ncmds && rc == 0; i++)
		rc = command_insert(st, cmds[i]);
	for (i = 0; i < nev && rc == 0; i++)
		rc = event_insert(st, d->id, ev[i].actor, ev[i].kind,
		    ev[i].host, ev[i].detail);
	if (rc == 0 && d->digest[0] != '\0') {
		/* The digest the tag resolved to, once, with the step that
		 * first uses it. */
		sqlite3_stmt *s = db_prep(st->db, "UPDATE revisions SET "
		    "digest = ? WHERE service = ? AND number = ? AND "
		    "digest = ''");
		if (s == NULL)
			rc = FERR_STORE;
		else {
			sqlite3_bind_text(s, 1, d->digest, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, d->service, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 3, (sqlite3_int64)d->revision);
			rc = db_step_done(s);
		}
	}
	if (rc == 0 && r->state == RO_SUCCEEDED) {
		/* Success makes the revision current; a removed service has
		 * none (a later deploy starts afresh, its revisions kept for
		 * the record). */
		int removed = strcmp(d->kind, DEPLOY_KIND_REMOVE) == 0;
		sqlite3_stmt *s = db_prep(st->db, "INSERT INTO services(name, "
		    "current_revision) VALUES (?, ?) ON CONFLICT(name) DO "
		    "UPDATE SET current_revision = excluded.current_revision");
		if (s == NULL)
			rc = FERR_STORE;
		else {
			sqlite3_bind_text(s, 1, d->service, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 2, removed ? 0 :
			    (sqlite3_int64)d->revision);
			rc = db_step_done(s);
		}
		/* Anything that runs the service again ends a stop. */
		if (rc == 0 && !removed && strcmp(d->kind,
		    DEPLOY_KIND_STOP) != 0)
			rc = lifecycle_set(st, d->service, "", d->actor);
	}
	return rc;
}

int
store_deploy_commit(struct store *st, const struct deploy_rec *d,
    const struct rollout *r, struct command_rec *const *cmds, size_t ncmds,
    const struct deploy_event *ev, size_t nev)
{
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	return db_finish(st->db, deploy_commit(st, d, r, cmds, ncmds, ev,
	    nev));
}

int
store_deploy_commit_analysis(struct store *st, const struct deploy_rec *d,
    const struct rollout *r, struct command_rec *const *cmds, size_t ncmds,
    const struct deploy_event *ev, size_t nev, const struct interval_rec *iv,
    const struct analysis_mark *marks, size_t nmarks)
{
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	rc = deploy_commit(st, d, r, cmds, ncmds, ev, nev);
	if (rc == 0)
		rc = analysis_write(st, d->id, iv, marks, nmarks);
	return db_finish(st->db, rc);
}

/* lifecycle_set records service as stopped, removed or neither ("") by
 * actor, inside the caller's transaction. */
static int
lifecycle_set(struct store *st, const char *service, const char *state,
    const char *actor)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT INTO services(name, "
	    "lifecycle, lifecycle_by, lifecycle_at_ms) VALUES (?, ?, ?, ?) "
	    "ON CONFLICT(name) DO UPDATE SET lifecycle = excluded.lifecycle, "
	    "lifecycle_by = excluded.lifecycle_by, lifecycle_at_ms = "
	    "excluded.lifecycle_at_ms");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, state[0] ? actor : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, state[0] ? (sqlite3_int64)clock_wall_ms() :
	    0);
	return db_step_done(s);
}

int
store_service_state(struct store *st, const char *service,
    struct service_rec *out)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT current_revision, "
	    "lifecycle, lifecycle_by, lifecycle_at_ms FROM services WHERE "
	    "name = ?");

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		out->current = (uint64_t)sqlite3_column_int64(s, 0);
		copy_text(out->lifecycle, sizeof(out->lifecycle), s, 1);
		copy_text(out->by, sizeof(out->by), s, 2);
		out->at_ms = (uint64_t)sqlite3_column_int64(s, 3);
	}
	db_release(s);
	return 0;
}

int
store_service_current(struct store *st, const char *service, uint64_t *rev)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT current_revision FROM "
	    "services WHERE name = ?");

	*rev = 0;
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		*rev = (uint64_t)sqlite3_column_int64(s, 0);
	db_release(s);
	return 0;
}

int
store_services_list(struct store *st, store_service_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT name, current_revision FROM "
	    "services WHERE current_revision != 0 ORDER BY name");
	int rc;

	if (s == NULL)
		return FERR_STORE;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(arg, (const char *)sqlite3_column_text(s, 0),
		    (uint64_t)sqlite3_column_int64(s, 1));
	db_release(s);
	return rc == SQLITE_DONE ? 0 : FERR_STORE;
}

static void
row_to_deploy(sqlite3_stmt *s, struct deploy_rec *d, struct rollout *r)
{
	memset(d, 0, sizeof(*d));
	memset(r, 0, sizeof(*r));
	d->id = (uint64_t)sqlite3_column_int64(s, 0);
	copy_text(d->service, sizeof(d->service), s, 1);
	d->revision = (uint64_t)sqlite3_column_int64(s, 2);
	d->previous_revision = (uint64_t)sqlite3_column_int64(s, 3);
	copy_text(d->image, sizeof(d->image), s, 4);
	copy_text(d->digest, sizeof(d->digest), s, 5);
	copy_text(d->previous_digest, sizeof(d->previous_digest), s, 6);
	r->state = (enum rollout_state)sqlite3_column_int(s, 7);
	r->batch = (uint32_t)sqlite3_column_int64(s, 8);
	r->nbatches = (uint32_t)sqlite3_column_int64(s, 9);
	r->batch_size = (uint32_t)sqlite3_column_int64(s, 10);
	r->max_failures = (uint32_t)sqlite3_column_int64(s, 11);
	r->on_failure = (enum rollout_on_failure)sqlite3_column_int(s, 12);
	r->pause_ms = (uint64_t)sqlite3_column_int64(s, 13);
	r->next_batch_at_ms = (uint64_t)sqlite3_column_int64(s, 14);
	r->failures = (uint32_t)sqlite3_column_int64(s, 15);
	rollout_set_flags(r, (uint64_t)sqlite3_column_int64(s, 16));
	copy_text(r->cause, sizeof(r->cause), s, 17);
	copy_text(d->actor, sizeof(d->actor), s, 18);
	d->created_ms = (uint64_t)sqlite3_column_int64(s, 19);
	d->updated_ms = (uint64_t)sqlite3_column_int64(s, 20);
	copy_text(d->skipped, sizeof(d->skipped), s, 21);
	/* A plan that does not read back leaves a rolling one: the
	 * deployment fails rollout_check and is left as it is. */
	if (rollout_canary_parse((const char *)sqlite3_column_text(s, 22) ?
	    (const char *)sqlite3_column_text(s, 22) : "", &r->cfg) != 0)
		r->cfg.strategy = RS_ROLLING;
	r->phase = (enum rollout_phase)sqlite3_column_int(s, 23);
	r->step = (uint32_t)sqlite3_column_int64(s, 24);
	r->step_run_ms = (uint64_t)sqlite3_column_int64(s, 25);
	r->step_since_ms = (uint64_t)sqlite3_column_int64(s, 26);
	r->interval_since_ms = (uint64_t)sqlite3_column_int64(s, 27);
	r->progress_ms = (uint64_t)sqlite3_column_int64(s, 28);
	r->passes = (uint32_t)sqlite3_column_int64(s, 29);
	r->fails = (uint32_t)sqlite3_column_int64(s, 30);
	r->intervals = (uint32_t)sqlite3_column_int64(s, 31);
	copy_text(d->kind, sizeof(d->kind), s, 32);
}

#define DEPLOY_COLS "id, service, revision, previous_revision, image, " \
	"digest, previous_digest, state, batch, nbatches, batch_size, " \
	"max_failures, on_failure, pause_ms, next_batch_at_ms, failures, " \
	"flags, cause, actor, created_ms, updated_ms, skipped, canary_plan, " \
	"phase, step, step_run_ms, step_since_ms, interval_since_ms, " \
	"progress_ms, passes, fails, intervals, kind"

static int
load_hosts(struct store *st, uint64_t id, struct rollout *r)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT host, batch, state, "
	    "had_previous, since_ms, cause, unanswered FROM deployment_hosts "
	    "WHERE deployment = ? ORDER BY idx");
	size_t cap = 8;

	if (s == NULL)
		return FERR_STORE;
	r->hosts = calloc(cap, sizeof(*r->hosts));
	r->nhosts = 0;
	if (r->hosts == NULL) {
		db_release(s);
		return FERR_NOMEM;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct rollout_host *h;
		if (r->nhosts == cap) {
			struct rollout_host *n = realloc(r->hosts, cap * 2 *
			    sizeof(*n));
			if (n == NULL) {
				db_release(s);
				return FERR_NOMEM;
			}
			r->hosts = n;
			cap *= 2;
		}
		h = &r->hosts[r->nhosts++];
		memset(h, 0, sizeof(*h));
		copy_text(h->name, sizeof(h->name), s, 0);
		h->batch = (uint32_t)sqlite3_column_int64(s, 1);
		h->state = (enum rollout_host_state)sqlite3_column_int(s, 2);
		h->had_previous = sqlite3_column_int(s, 3);
		h->since_ms = (uint64_t)sqlite3_column_int64(s, 4);
		copy_text(h->cause, sizeof(h->cause), s, 5);
		h->unanswered = sqlite3_column_int(s, 6) != 0;
	}
	db_release(s);
	return 0;
}

int
store_deploy_newest(struct store *st, const char *service, uint64_t *id,
    int *state)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT id, state FROM deployments "
	    "WHERE service = ? ORDER BY id DESC LIMIT 1");
	int rc;

	*id = 0;
	*state = 0;
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*id = (uint64_t)sqlite3_column_int64(s, 0);
		*state = sqlite3_column_int(s, 1);
	}
	db_release(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : FERR_STORE;
}

int
store_deploy_list(struct store *st, const char *service, int active_only,
    uint64_t id, size_t limit, store_deploy_cb cb, void *arg)
{
	const char *sql;
	sqlite3_stmt *s;
	struct deploy_rec d;
	struct rollout r;
	int rc = 0;

#define DEPLOY_LIST(active) "SELECT " DEPLOY_COLS " FROM deployments " \
	"WHERE (?1 = '' OR service = ?1) AND (?2 = 0 OR id = ?2) " active \
	" ORDER BY id DESC LIMIT ?3"
	sql = active_only ? DEPLOY_LIST("AND state NOT IN (5, 6, 7, 8)") :
	    DEPLOY_LIST("");
#undef DEPLOY_LIST
	_Static_assert(RO_SUCCEEDED == 5 && RO_FAILED == 6 &&
	    RO_ROLLED_BACK == 7 && RO_ABORTED == 8, "finished states");
	if ((s = db_prep(st->db, sql)) == NULL)
		return FERR_STORE;
	sqlite3_bind_text(s, 1, service ? service : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)id);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)(limit ? limit : 1000000));
	while (sqlite3_step(s) == SQLITE_ROW) {
		row_to_deploy(s, &d, &r);
		if ((rc = load_hosts(st, d.id, &r)) != 0) {
			free(r.hosts);
			break;
		}
		cb(arg, &d, &r);	/* takes r.hosts */
	}
	db_release(s);
	(void)finished_state;
	return rc;
}

#define EVENTS_WHERE "FROM events WHERE (?1 = 0 OR deployment = ?1) AND " \
	"(?2 = '' OR kind = ?2) AND (?3 = '' OR host = ?3) AND at_ms >= ?4 " \
	"AND id > ?5 AND (?6 = 0 OR id < ?6) "

int
store_events_list(struct store *st, const struct event_filter *f,
    store_event_cb cb, void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, f->newest_first ?
	    "SELECT id, at_ms, actor, kind, host, detail, deployment, times "
	    EVENTS_WHERE "ORDER BY id DESC LIMIT ?7" :
	    "SELECT id, at_ms, actor, kind, host, detail, deployment, times "
	    EVENTS_WHERE "ORDER BY id LIMIT ?7");
	struct event_rec e;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)f->deployment);
	sqlite3_bind_text(s, 2, f->kind ? f->kind : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, f->host ? f->host : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)f->since_ms);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)f->after_id);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)f->before_id);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)(f->limit ? f->limit : 1000));
	while (sqlite3_step(s) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.id = (uint64_t)sqlite3_column_int64(s, 0);
		e.at_ms = (uint64_t)sqlite3_column_int64(s, 1);
		copy_text(e.actor, sizeof(e.actor), s, 2);
		copy_text(e.kind, sizeof(e.kind), s, 3);
		copy_text(e.host, sizeof(e.host), s, 4);
		copy_text(e.detail, sizeof(e.detail), s, 5);
		e.deployment = (uint64_t)sqlite3_column_int64(s, 6);
		e.times = (uint64_t)sqlite3_column_int64(s, 7);
		cb(arg, &e);
	}
	db_release(s);
	return 0;
}

int
store_deploy_last_command(struct store *st, uint64_t deployment,
    const char *host, struct command_rec *c)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT " COMMAND_COLS " FROM "
	    "commands WHERE deployment = ? AND host = ? ORDER BY seq DESC "
	    "LIMIT 1");
	int rc = FERR_NOTFOUND;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
	sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		row_to_command(s, c);
		c->envelope = NULL;
		c->envelope_len = 0;
		rc = 0;
	}
	db_release(s);
	return rc;
}

int
store_deploy_counts(struct store *st, uint64_t *by_state, size_t n)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT state, count(*) FROM "
	    "deployments GROUP BY state");

	memset(by_state, 0, n * sizeof(*by_state));
	if (s == NULL)
		return FERR_STORE;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int k = sqlite3_column_int(s, 0);
		if (k >= 0 && (size_t)k < n)
			by_state[k] = (uint64_t)sqlite3_column_int64(s, 1);
	}
	db_release(s);
	return 0;
}

/* ---- a canary's analysis (analysis.h) ------------------------------------ */

#define COUNTS_BYTES	(TC_WIDTH * 8)

_Static_assert(ANALYSIS_PASS == (int)RV_PASS && ANALYSIS_FAIL == (int)RV_FAIL
    && ANALYSIS_INCONCLUSIVE == (int)RV_INCONCLUSIVE,
    "analysis verdicts are the engine's");

static void
counts_put(uint8_t *b, const struct traffic_counts *c)
{
	size_t k, i;

	for (k = 0; k < TC_WIDTH; k++)
		for (i = 0; i < 8; i++)
			b[8 * k + i] = (uint8_t)(c->v[k] >> (8 * i));
}

static void
counts_get(const uint8_t *b, struct traffic_counts *c)
{
	size_t k, i;

	for (k = 0; k < TC_WIDTH; k++) {
		c->v[k] = 0;
		for (i = 0; i < 8; i++)
			c->v[k] |= (uint64_t)b[8 * k + i] << (8 * i);
	}
}

int
store_marks_load(struct store *st, uint64_t deployment, store_mark_cb fn,
    void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT host, revision, boot, counts "
	    "FROM analysis_marks WHERE deployment = ? ORDER BY rowid");
	struct analysis_mark m;
	int rc = 0, step;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		copy_text(m.host, sizeof(m.host), s, 0);
		m.revision = (uint64_t)sqlite3_column_int64(s, 1);
		if (sqlite3_column_bytes(s, 2) != TRAFFIC_BOOT_LEN ||
		    sqlite3_column_bytes(s, 3) != COUNTS_BYTES) {
			rc = FERR_CORRUPT;
			break;
		}
		memcpy(m.boot, sqlite3_column_blob(s, 2), TRAFFIC_BOOT_LEN);
		counts_get(sqlite3_column_blob(s, 3), &m.counts);
		fn(arg, &m);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = FERR_STORE;
	db_release(s);
	return rc;
}

static int
interval_insert(struct store *st, const struct interval_rec *iv)
{
	sqlite3_stmt *s = db_prep(st->db, "INSERT INTO analysis_intervals("
	    "deployment, seq, step, phase, start_ms, end_ms, verdict, failed, "
	    "unjudged, canary_requests, canary_errors, canary_p95_ms, "
	    "stable_requests, stable_errors, stable_p95_ms, reason) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)iv->deployment);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)iv->seq);
	sqlite3_bind_int64(s, 3, iv->step);
	sqlite3_bind_text(s, 4, iv->phase, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)iv->start_ms);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)iv->end_ms);
	sqlite3_bind_text(s, 7, analysis_verdict_name(iv->verdict), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, iv->failed);
	sqlite3_bind_int64(s, 9, iv->unjudged);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)iv->canary_requests);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)iv->canary_errors);
	sqlite3_bind_double(s, 12, iv->canary_p95_ms);
	sqlite3_bind_int64(s, 13, (sqlite3_int64)iv->stable_requests);
	sqlite3_bind_int64(s, 14, (sqlite3_int64)iv->stable_errors);
	sqlite3_bind_double(s, 15, iv->stable_p95_ms);
	sqlite3_bind_text(s, 16, iv->reason, -1, SQLITE_STATIC);
	return db_step_done(s);
}

static int
marks_replace(struct store *st, uint64_t deployment,
    const struct analysis_mark *marks, size_t nmarks)
{
	uint8_t counts[COUNTS_BYTES];
	sqlite3_stmt *s;
	size_t i;
	int rc;

	s = db_prep(st->db, "DELETE FROM analysis_marks WHERE deployment = ?");
	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
	if ((rc = db_step_done(s)) != 0)
		return rc;
	for (i = 0; i < nmarks; i++) {
		s = db_prep(st->db, "INSERT INTO analysis_marks(deployment, "
		    "host, revision, boot, counts) VALUES (?, ?, ?, ?, ?)");
		if (s == NULL)
			return FERR_STORE;
		counts_put(counts, &marks[i].counts);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
		sqlite3_bind_text(s, 2, marks[i].host, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)marks[i].revision);
		sqlite3_bind_blob(s, 4, marks[i].boot, TRAFFIC_BOOT_LEN,
		    SQLITE_STATIC);
		sqlite3_bind_blob(s, 5, counts, sizeof(counts),
		    SQLITE_STATIC);
		if ((rc = db_step_done(s)) != 0)
			return rc;
	}
	return 0;
}

/* analysis_write records iv (when not NULL) and replaces deployment's
 * marks, inside the caller's transaction. */
static int
analysis_write(struct store *st, uint64_t deployment,
    const struct interval_rec *iv, const struct analysis_mark *marks,
    size_t nmarks)
{
	int rc;

	if (iv != NULL && (iv->deployment != deployment ||
	    (iv->verdict != ANALYSIS_PASS && iv->verdict != ANALYSIS_FAIL &&
	    iv->verdict != ANALYSIS_INCONCLUSIVE)))
		return FERR_ARG;
	if (iv != NULL && (rc = interval_insert(st, iv)) != 0)
		return rc;
	return marks_replace(st, deployment, marks, nmarks);
}

int
store_analysis_commit(struct store *st, uint64_t deployment,
    const struct interval_rec *iv, const struct analysis_mark *marks,
    size_t nmarks)
{
	int rc;

	if ((rc = db_begin(st->db)) != 0)
		return rc;
	return db_finish(st->db, analysis_write(st, deployment, iv, marks,
	    nmarks));
}

int
store_intervals_list(struct store *st, uint64_t deployment, size_t limit,
    store_interval_cb fn, void *arg)
{
	sqlite3_stmt *s = db_prep(st->db, "SELECT deployment, seq, step, phase, "
	    "start_ms, end_ms, verdict, failed, unjudged, canary_requests, "
	    "canary_errors, canary_p95_ms, stable_requests, stable_errors, "
	    "stable_p95_ms, reason FROM analysis_intervals WHERE "
	    "deployment = ? ORDER BY seq DESC LIMIT ?");
	struct interval_rec iv;
	char verdict[16];
	int step;

	if (s == NULL)
		return FERR_STORE;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)deployment);
	sqlite3_bind_int64(s, 2, limit == 0 || limit > INT64_MAX ? -1 :
	    (sqlite3_int64)limit);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&iv, 0, sizeof(iv));
		iv.deployment = (uint64_t)sqlite3_column_int64(s, 0);
		iv.seq = (uint64_t)sqlite3_column_int64(s, 1);
		iv.step = (uint32_t)sqlite3_column_int64(s, 2);
		copy_text(iv.phase, sizeof(iv.phase), s, 3);
		iv.start_ms = (uint64_t)sqlite3_column_int64(s, 4);
		iv.end_ms = (uint64_t)sqlite3_column_int64(s, 5);
		copy_text(verdict, sizeof(verdict), s, 6);
		iv.verdict = strcmp(verdict, "pass") == 0 ? ANALYSIS_PASS :
		    strcmp(verdict, "fail") == 0 ? ANALYSIS_FAIL :
		    ANALYSIS_INCONCLUSIVE;
		iv.failed = (uint32_t)sqlite3_column_int64(s, 7);
		iv.unjudged = (uint32_t)sqlite3_column_int64(s, 8);
		iv.canary_requests = (uint64_t)sqlite3_column_int64(s, 9);
		iv.canary_errors = (uint64_t)sqlite3_column_int64(s, 10);
		iv.canary_p95_ms = sqlite3_column_double(s, 11);
		iv.stable_requests = (uint64_t)sqlite3_column_int64(s, 12);
		iv.stable_errors = (uint64_t)sqlite3_column_int64(s, 13);
		iv.stable_p95_ms = sqlite3_column_double(s, 14);
		copy_text(iv.reason, sizeof(iv.reason), s, 15);
		fn(arg, &iv);
	}
	db_release(s);
	return step == SQLITE_DONE ? 0 : FERR_STORE;
}
