/* SPDX-License-Identifier: Apache-2.0 */
/* ferryd.h: the coordinator's modules and the types they share. */
#ifndef FERRY_FERRYD_H
#define FERRY_FERRYD_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <sodium.h>
#include <uv.h>

#include "envelope.h"
#include "ferry.pb-c.h"
#include "keys.h"
#include "mailbox.h"
#include "rollout.h"

#define HOST_NAME_MAX_LEN	63
#define LABEL_KEY_MAX		63
#define LABEL_VALUE_MAX		127
#define LABELS_MAX		16
#define COMMAND_ID_LEN		16
#define POLL_SESSION_LEN	16	/* an agent's random session id */
#define POLL_RETIRED		8	/* sessions left, remembered */

enum host_state {
	HOST_PENDING = 0,	/* asked to join without a token */
	HOST_ACCEPTED = 1,
	HOST_REVOKED = 2,
};

struct label {
	char key[LABEL_KEY_MAX + 1];
	char value[LABEL_VALUE_MAX + 1];
};

/* A host as the database keeps it. */
struct host_rec {
	char name[HOST_NAME_MAX_LEN + 1];
	uint8_t pk[KEY_PUBLIC_LEN];
	/* Another key claims this name (the latest claim only): it waits
	 * for an operator, who must name its fingerprint to take it. */
	int has_new_pk;
	uint8_t new_pk[KEY_PUBLIC_LEN];
	char new_key_from[64];		/* the claim's peer address */
	uint64_t new_key_at_ms;		/* when (wall clock, for people) */
	int new_key_token;		/* a valid token came with it */
	enum host_state state;
	char address[64];
	uint64_t last_seen_ms;
	uint64_t next_seq;		/* last sequence issued to the host */
	uint64_t created_ms;
	struct label labels[LABELS_MAX];
	size_t nlabels;
	/* ferry hosts drain: who drained it ("" while it serves) and when
	 * (wall clock, for people). */
	char drained_by[64];
	uint64_t drained_at_ms;
};

/* A command in the durable outbox. */
struct command_rec {
	uint8_t id[COMMAND_ID_LEN];
	char host[HOST_NAME_MAX_LEN + 1];
	uint64_t seq;
	char kind[16];			/* "ping", ... */
	uint8_t *envelope;		/* signed bytes as sent */
	size_t envelope_len;
	uint64_t created_ms;
	uint64_t expires_ms;		/* to be accepted by */
	uint64_t deadline_ms;		/* to have a result by, once accepted */
	char state[16];			/* queued, sent, accepted, succeeded,
					 * failed, refused, expired */
	uint64_t deployment;		/* 0: not part of a deployment */
	char purpose[16];		/* pull, swap, revert */
	char result[1024];		/* the final report's message (loaded) */
};

/* A deployment as the database keeps it, beside its engine state. */
struct deploy_rec {
	uint64_t id;
	char service[64];
	uint64_t revision;
	uint64_t previous_revision;	/* 0: the service ran nothing */
	char image[256];		/* as asked */
	char digest[300];		/* what every host runs: repo@sha256 */
	char previous_digest[300];	/* the rollback target */
	char actor[64];
	/* What it is, as `ferry history` says: "deploy", "rollback", and
	 * the kinds of work that take the same path (DEPLOY_KIND_*). */
	char kind[16];
	uint64_t created_ms, updated_ms;
	char skipped[512];		/* matched hosts left out (offline),
					 * "web-2, web-5" */
};

#define DEPLOY_KIND_DEPLOY	"deploy"
#define DEPLOY_KIND_ROLLBACK	"rollback"
/* The service life cycle (ferry restart|stop|start|remove): the current
 * revision, batch by batch, through the same engine. */
#define DEPLOY_KIND_RESTART	"restart"
#define DEPLOY_KIND_STOP	"stop"
#define DEPLOY_KIND_START	"start"
#define DEPLOY_KIND_REMOVE	"remove"

/* A service as the database keeps it. */
struct service_rec {
	uint64_t current;		/* its current revision, 0: none */
	char lifecycle[16];		/* "", "stopped", "removed" */
	char by[64];			/* who stopped or removed it */
	uint64_t at_ms;			/* when (wall clock) */
};
/* ferryd brought one host back to the current revision (driftwatch.c). */
#define DEPLOY_KIND_CATCH_UP	"catch-up"

/* An event recorded with a deployment's state change. */
struct deploy_event {
	const char *actor, *kind, *host, *detail;
};

/* An audit log line. */
struct event_rec {
	uint64_t id, at_ms, deployment;
	uint64_t times;			/* how many it sums up (refusals) */
	char actor[64], kind[32], host[64], detail[512];
};

/* store.c */
struct store;

/* The schema version store_open migrates to: one per migration. */
#define STORE_SCHEMA_VERSION 14


/* store_open opens (creating if needed) the database at path: WAL,
 * synchronous=FULL, foreign keys, numbered migrations applied in order. */
int store_open(struct store **out, const char *path);
void store_close(struct store *st);
/* store_fault_take returns the latest failure of the database file itself
 * (FERR_READONLY, FERR_CORRUPT, FERR_NOTDB, FERR_FULL, FERR_IO) since the
 * last call, 0 if none, with the file in path and how many in *count. */
int store_fault_take(char *path, size_t len, unsigned *count);
/* store_fault_last returns the latest such failure ever seen (0: none),
 * its file and its monotonic time (ms), without forgetting it (for
 * /healthz; store_fault_take's periodic report keeps its own). */
int store_fault_last(char *path, size_t len, uint64_t *at_ms);
/* store_check runs a cheap read of the database: 0, or its error. */
int store_check(struct store *st);
/* store_schema_version returns the applied migration number. */
int store_schema_version(struct store *st);

typedef void (*store_host_cb)(void *arg, const struct host_rec *h);
int store_hosts_load(struct store *st, store_host_cb cb, void *arg);
int store_host_insert(struct store *st, const struct host_rec *h);
int store_host_set_state(struct store *st, const char *name,
    enum host_state s);
/* store_host_set_new_key records claim's new key (new_pk, new_key_from,
 * new_key_at_ms, new_key_token) as the one claim that waits on the host,
 * replacing any earlier one; claim NULL or without has_new_pk clears it. */
int store_host_set_new_key(struct store *st, const char *name,
    const struct host_rec *claim);
/* store_host_take_new_key makes the waiting new key the host's key, only
 * when it is pk (the key the operator named): FERR_NOTFOUND otherwise. */
int store_host_take_new_key(struct store *st, const char *name,
    const uint8_t *pk);
/* store_host_set_drained records the host drained by `by` at at_ms (by
 * "": serving again) with a drain or undrain event (actor, detail), in
 * one transaction; FERR_NOTFOUND for an unknown host. */
int store_host_set_drained(struct store *st, const char *name,
    const char *by, uint64_t at_ms, const char *actor, const char *detail);
int store_host_set_labels(struct store *st, const char *name,
    const struct label *labels, size_t n);
/* store_batch_begin opens one write transaction: the single-statement
 * writes made until store_batch_end (store_host_seen, store_event,
 * store_command_insert) join it and cost one commit together instead of
 * one each.  Nothing that opens a transaction of its own may run in
 * between.  Unless durable, the commit does not wait for the disk (see
 * db_begin_as).  store_batch_end commits when rc is 0, else rolls back; it
 * returns 0 or a negative error. */
int store_batch_begin(struct store *st, int durable);
int store_batch_end(struct store *st, int rc);
int store_host_seen(struct store *st, const char *name, uint64_t at_ms,
    const char *address);

/* store_token_insert records a token by its id and verifier (token.h: the
 * public key that checks its proofs); its secret is never stored. */
int store_token_insert(struct store *st, const uint8_t *id,
    const uint8_t *verifier, uint64_t created_ms, uint64_t expires_ms,
    const struct label *labels, size_t n);
/*
 * store_token_join checks the token (exists, unused, unexpired, proof by
 * the caller's check function, handed the token's verifier) and, in one
 * transaction, marks it used, removes the pending host named displace
 * (when not NULL: a claim without a token loses its name to a token;
 * FERR_NOTFOUND when no such pending host) and inserts h with the token's
 * labels added.  *why names the failure.  With h NULL it only checks the
 * token: nothing is spent or written.
 */
typedef int (*store_proof_fn)(void *arg, const uint8_t *verifier);
int store_token_join(struct store *st, const uint8_t *token_id,
    uint64_t now_ms, store_proof_fn proof, void *proof_arg,
    struct host_rec *h, const char *displace, const char **why);

/* store_command_insert records c and the host's new last sequence in one
 * transaction, or in the open batch (a `ferry ping` records its commands
 * in one batch that does not wait for the disk: a ping changes nothing,
 * and a sequence its record loses to a power cut is learnt again from the
 * agent's next heartbeat). */
int store_command_insert(struct store *st, const struct command_rec *c);
int store_command_set_state(struct store *st, const uint8_t *id,
    const char *state, const char *result);
/* store_command_note is store_command_set_state for a state that recovery
 * does not depend on ("sent", or a ping's result): it does not wait for
 * the disk. */
int store_command_note(struct store *st, const uint8_t *id, const char *state,
    const char *result);
typedef void (*store_command_cb)(void *arg, const struct command_rec *c);
/* store_commands_open, at start, records as expired every unanswered
 * command that nothing waits for any more (one of no deployment, or of a
 * deployment that has ended), then lists the other unanswered ones, by
 * host and sequence. */
int store_commands_open(struct store *st, store_command_cb cb, void *arg);
/* store_command_rearm records a command signed again with new times (its
 * id, sequence and payload unchanged). */
int store_command_rearm(struct store *st, const uint8_t *id,
    const uint8_t *envelope, size_t len, uint64_t expires_ms,
    uint64_t deadline_ms);
/* A failed swap keeps at most this much of its container's last lines. */
#define FAILED_LOG_LINES	20
#define FAILED_LOG_BYTES	4096

/* store_command_logs_set records a failed swap's last log lines with its
 * command c (text already escaped and bounded by the caller). */
int store_command_logs_set(struct store *st, const struct command_rec *c,
    const char *logs);
/* store_command_logs_last copies into out (len bytes, NUL-terminated) the
 * log lines recorded with the newest command of deployment on host that
 * has some; FERR_NOTFOUND (out empty) when none has. */
int store_command_logs_last(struct store *st, uint64_t deployment,
    const char *host, char *out, size_t len);
/* What catch-up remembers of a service on a host (driftwatch.c), kept
 * across restarts of ferryd: kind DRIFT_MARK_REMOVED, an operator removed
 * it there with `ferry swap HOST --remove` (by, at_ms; deployment: the
 * one it was first seen removed under, 0: not seen yet); kind
 * DRIFT_MARK_CATCH_UP, the last catch-up (cause, revision, deployment:
 * the finding's; catch_up: its own deployment; done, failed; at_ms: when
 * it started).  at_ms is wall clock. */
#define DRIFT_MARK_REMOVED	"removed"
#define DRIFT_MARK_CATCH_UP	"catch-up"
struct drift_mark {
	char service[64];
	char host[HOST_NAME_MAX_LEN + 1];
	char kind[16];
	char cause[16];
	uint64_t revision, deployment, catch_up;
	int done, failed;
	char by[64];
	uint64_t at_ms;
};
/* store_drift_mark_put records m, replacing the mark of its kind for its
 * service and host. */
int store_drift_mark_put(struct store *st, const struct drift_mark *m);
/* store_drift_mark_delete forgets the mark of kind for service and host
 * (none is not an error). */
int store_drift_mark_delete(struct store *st, const char *service,
    const char *host, const char *kind);
/* store_drift_marks_list calls cb with every mark. */
typedef void (*store_drift_mark_cb)(void *arg, const struct drift_mark *m);
int store_drift_marks_list(struct store *st, store_drift_mark_cb cb,
    void *arg);
/* store_command_get loads one command's host and state. */
int store_command_get(struct store *st, const uint8_t *id,
    struct command_rec *c);

int store_event(struct store *st, const char *actor, const char *kind,
    const char *host, const char *detail);
/* store_event_n records one event that sums up times of them (refusals
 * counted over an interval). */
int store_event_n(struct store *st, const char *actor, const char *kind,
    const char *host, const char *detail, uint64_t times);

/*
 * store_deploy_create records a new deployment and its hosts, refusing
 * (FERR_EXISTS, *running = its id) while another deployment of the service
 * is not finished; one transaction.  d->id is set.
 */
int store_deploy_create(struct store *st, struct deploy_rec *d,
    const struct rollout *r, uint64_t *running);
/*
 * store_deploy_commit records the engine's new state, the commands it
 * implies (before they are sent) and the events that say so, in one
 * transaction; the deployment's digest becomes its revision's when that
 * has none yet; on RO_SUCCEEDED the revision becomes the service's current.
 * On failure nothing at all is written.
 */
int store_deploy_commit(struct store *st, const struct deploy_rec *d,
    const struct rollout *r, struct command_rec *const *cmds, size_t ncmds,
    const struct deploy_event *ev, size_t nev);
int store_deploy_event(struct store *st, uint64_t deployment,
    const char *actor, const char *kind, const char *host,
    const char *detail);
/* store_service_state: the service's current revision and whether it was
 * stopped or removed, by whom and when (all zero for an unknown
 * service).  A stop or remove is recorded with its deployment's
 * creation; any other kind that succeeds clears it, and a remove that
 * succeeds leaves the service no current revision. */
int store_service_state(struct store *st, const char *service,
    struct service_rec *out);
/* store_services_list calls cb with every service that has a current
 * revision, by name. */
typedef void (*store_service_cb)(void *arg, const char *service,
    uint64_t current);
int store_services_list(struct store *st, store_service_cb cb, void *arg);
/* store_service_current: the service's current revision (0: none). */
int store_service_current(struct store *st, const char *service,
    uint64_t *rev);
/* store_deploy_newest: the id and state (enum rollout_state) of the
 * newest deployment of service; *id 0 when it has none. */
int store_deploy_newest(struct store *st, const char *service, uint64_t *id,
    int *state);
/* store_deploy_list lists deployments, newest first: of service (NULL or
 * "": all), only unfinished ones when active_only, only id when id != 0.
 * cb takes ownership of r->hosts. */
typedef void (*store_deploy_cb)(void *arg, const struct deploy_rec *d,
    struct rollout *r);
int store_deploy_list(struct store *st, const char *service,
    int active_only, uint64_t id, size_t limit, store_deploy_cb cb,
    void *arg);
typedef void (*store_event_cb)(void *arg, const struct event_rec *e);
/* Which events store_events_list lists: every condition set (not 0, not
 * NULL or "") must hold. */
struct event_filter {
	uint64_t deployment;
	const char *kind, *host;
	uint64_t since_ms;		/* at or after, on the wall clock */
	uint64_t after_id;		/* newer than (--follow) */
	uint64_t before_id;		/* older than (the next page) */
	int newest_first;
	size_t limit;			/* 0: 1000 */
};
/* store_events_list lists the events f selects, oldest first or newest
 * first, at most f->limit of them. */
int store_events_list(struct store *st, const struct event_filter *f,
    store_event_cb cb, void *arg);
/* store_deploy_last_command loads the newest command of a deployment for
 * host (its state and result message). */
int store_deploy_last_command(struct store *st, uint64_t deployment,
    const char *host, struct command_rec *c);

/* store_deploy_counts counts deployments by engine state. */
int store_deploy_counts(struct store *st, uint64_t *by_state, size_t n);

/* store_revision_add records the next revision of service (numbered from
 * 1) with its spec as written and the secret versions it pins (npins of
 * them), in one transaction; *number gets its number. */
struct spec_secret;
int store_revision_add(struct store *st, const char *service,
    const char *spec_file, const char *spec, size_t spec_len,
    const char *image, const char *actor, const struct spec_secret *pins,
    size_t npins, uint64_t *number);
/* store_revision_pins fills in the version revision number of service
 * pins for each of the npins names: FERR_NOTFOUND when one has none. */
int store_revision_pins(struct store *st, const char *service,
    uint64_t number, struct spec_secret *pins, size_t npins);

/* A stored secret version, without its value. */
struct secret_rec {
	char service[72];
	char name[72];
	uint64_t version;
	uint64_t created_ms;
	char created_by[64];
	uint32_t size;			/* the value's length */
	uint8_t nonce[24];		/* of its ciphertext */
	int deleted;			/* removed: no ciphertext any more */
};
/* store_secret_next: the version the next value of (service, name) gets. */
int store_secret_next(struct store *st, const char *service,
    const char *name, uint64_t *version);
/* store_secret_put records r with its ciphertext (ctlen bytes) and a
 * secret-set event (detail: names and version, never the value), in one
 * transaction; FERR_EXISTS when that version exists. */
int store_secret_put(struct store *st, const struct secret_rec *r,
    const uint8_t *ct, size_t ctlen, const char *detail);
/* store_secret_get loads a version (0: the newest not removed) and its
 * ciphertext, a heap copy the caller frees (NULL when removed). */
int store_secret_get(struct store *st, const char *service,
    const char *name, uint64_t version, struct secret_rec *r, uint8_t **ct,
    size_t *ctlen);
typedef void (*store_secret_cb)(void *arg, const struct secret_rec *r);
/* store_secret_list lists the newest version of each secret of service
 * that is not removed, by name. */
int store_secret_list(struct store *st, const char *service,
    store_secret_cb cb, void *arg);
/* store_secrets_rekey hands every stored ciphertext (nonce in r) to fn,
 * which rewrites both in place, and records them, in one transaction:
 * all or nothing.  *count gets how many. */
typedef int (*store_rekey_fn)(void *arg, struct secret_rec *r, uint8_t *ct,
    size_t len);
int store_secrets_rekey(struct store *st, store_rekey_fn fn, void *arg,
    size_t *count);
/* store_secret_rm marks every version of (service, name) removed and
 * erases their ciphertexts, with a secret-removed event, in one
 * transaction: FERR_NOTFOUND when there is nothing to remove. */
int store_secret_rm(struct store *st, const char *service, const char *name,
    const char *actor, const char *detail);
/* store_revision_set_digest records the digest the tag resolved to. */
int store_revision_set_digest(struct store *st, const char *service,
    uint64_t number, const char *digest);
/* store_revision_get loads a revision's spec file name, spec text,
 * digest and image as deployed (--image may have replaced the spec's);
 * heap strings the caller frees; any out may be NULL. */
int store_revision_get(struct store *st, const char *service,
    uint64_t number, char **spec_file, char **spec, char **digest,
    char **image);

/* A canary analysis interval as recorded (analysis.h): wall-clock times
 * for people, the figures of both sides, the verdict and its reason. */
struct interval_rec {
	uint64_t deployment;
	uint64_t seq;			/* 1, 2, ... within the deployment */
	uint32_t step;			/* the canary step's index */
	char phase[16];			/* "canary", "rollout", "blue-green" */
	uint64_t start_ms, end_ms;	/* wall clock */
	int verdict;			/* enum analysis_verdict */
	uint32_t failed;		/* ANALYSIS_CHECK_* bits */
	uint32_t unjudged;		/* ... set but not judged */
	uint64_t canary_requests, canary_errors;
	uint64_t stable_requests, stable_errors;
	double canary_p95_ms, stable_p95_ms;	/* -1: nothing timed */
	char reason[320];		/* ANALYSIS_REASON_MAX */
};
struct analysis_mark;
/* store_marks_load hands fn each stored mark of deployment (host order as
 * stored).  FERR_CORRUPT when a stored mark does not have this version's
 * shape. */
typedef void (*store_mark_cb)(void *arg, const struct analysis_mark *m);
int store_marks_load(struct store *st, uint64_t deployment, store_mark_cb fn,
    void *arg);
/* store_analysis_commit, in one transaction, records iv (when not NULL;
 * iv->deployment is deployment) and replaces deployment's marks with
 * marks[0..nmarks): all or nothing.  FERR_EXISTS when the deployment
 * already has an interval of iv->seq (nothing changes). */
int store_analysis_commit(struct store *st, uint64_t deployment,
    const struct interval_rec *iv, const struct analysis_mark *marks,
    size_t nmarks);
/* store_deploy_commit_analysis is store_deploy_commit and
 * store_analysis_commit (deployment d->id) in one transaction: the
 * engine's state that counts a verdict is recorded with the verdict and
 * the marks of the next interval, or none of them is, so a crash between
 * them can neither lose an interval nor count one twice. */
int store_deploy_commit_analysis(struct store *st, const struct deploy_rec *d,
    const struct rollout *r, struct command_rec *const *cmds, size_t ncmds,
    const struct deploy_event *ev, size_t nev, const struct interval_rec *iv,
    const struct analysis_mark *marks, size_t nmarks);
/* store_intervals_list hands fn deployment's intervals newest first, at
 * most limit of them (0: all). */
typedef void (*store_interval_cb)(void *arg, const struct interval_rec *iv);
int store_intervals_list(struct store *st, uint64_t deployment,
    size_t limit, store_interval_cb fn, void *arg);

/* repsrv.c */
struct repsrv;
struct rep_slot;
struct chan_reply;
struct chan_server;

/*
 * The handler runs on the loop thread with one received request.  It owns
 * msg (frees it) and must answer the slot exactly once, now or later, with
 * repsrv_reply or repsrv_drop.
 */
typedef void (*repsrv_fn)(void *arg, struct rep_slot *slot, nng_msg *msg);

/*
 * repsrv_open listens on url with a REP socket served by a pool of
 * contexts that grows so that some are always receiving: one waiting
 * request never blocks another.  ipc_mode, when not 0, is the file mode of
 * an ipc:// socket.  Messages larger than maxsz are dropped by NNG.
 */
int repsrv_open(struct repsrv **out, const char *url, size_t maxsz,
    int ipc_mode, struct mailbox *mb, repsrv_fn fn, void *arg);
/* repsrv_chan: how to answer the slot's request on the agents' channel
 * (link.c fills it in when the request comes). */
struct chan_reply *repsrv_chan(struct rep_slot *slot);
/* Limits on a listening socket's connections (counted once NNG's
 * handshake is done). */
struct repsrv_limits {
	unsigned max_conns;	/* at most this many at once (> 0) */
	uint64_t auth_ms;	/* closed when no message from a known host
				 * came within this; 0: never */
};
/*
 * repsrv_open_limited is repsrv_open with connections limited: at the cap
 * the oldest connection not yet trusted (repsrv_trust) is closed to make
 * room, or with all trusted the new one is refused; repsrv_sweep closes
 * the untrusted ones past lim->auth_ms and logs, every 10 s, how many
 * were refused or closed.
 */
int repsrv_open_limited(struct repsrv **out, const char *url, size_t maxsz,
    int ipc_mode, const struct repsrv_limits *lim, struct mailbox *mb,
    repsrv_fn fn, void *arg);
/* repsrv_trust marks msg's connection as a known host's: it is never
 * closed to make room nor for being idle.  Loop thread. */
void repsrv_trust(struct repsrv *srv, nng_msg *msg);
/* repsrv_sweep closes the untrusted connections past their time and
 * reports refusals; from the loop's sweep timer, with the monotonic
 * time. */
void repsrv_sweep(struct repsrv *srv, uint64_t now_ms);
/* repsrv_reply sends len bytes as the answer and re-arms the slot. */
void repsrv_reply(struct rep_slot *slot, const void *buf, size_t len);
/* repsrv_drop abandons the request without an answer. */
void repsrv_drop(struct rep_slot *slot);
/* repsrv_close stops the socket, waits for NNG callbacks, frees what is
 * queued in the mailbox for it and frees the server.  Loop thread only. */
void repsrv_close(struct repsrv *srv);
/* repsrv_peer writes the peer's address of msg ("127.0.0.2") into buf. */
void repsrv_peer(nng_msg *msg, char *buf, size_t len);

/* Settings, from flags and the config file. */
struct ferryd_conf {
	char state_dir[512];
	char listen[256];
	char socket[512];
	char http[128];
	char advertise[256];
	char operators_group[64];	/* may use the CLI's socket */
	uint32_t missed_beats;
	uint64_t default_token_ttl_ms;
	int insecure_cleartext_link;	/* take cleartext envelopes too */
	int allow_tokenless_joins;	/* joins without a token wait pending */
	uint32_t pending_hosts_max;	/* ... this many at most */
	uint32_t tokenless_join_rate;	/* recorded per minute, at most */
	/* Resource limits (ferryd.c derives the defaults from the open
	 * files limit). */
	uint32_t agent_connections;	/* 0: derived */
	uint64_t agent_auth_timeout_ms;
	uint32_t http_connections;
	uint64_t http_header_timeout_ms;
	uint64_t http_idle_timeout_ms;
	uint64_t refusal_interval_ms;	/* refusals summed up this often */
	uint32_t log_rate;		/* ferry logs: bytes/s per host */
};

struct cmd;

#define HOST_UNHEALTHY_MAX	16

/* A host as ferryd keeps it in memory (loop thread only). */
struct host {
	struct host_rec rec;
	uint8_t fpr[KEY_FPR_LEN];
	int online;
	uint64_t last_beat_mono_ms;	/* monotonic time of the last poll */
	uint32_t interval_ms;		/* the agent's heartbeat interval */
	uint64_t agent_last_seq;
	/* Replayed heartbeats are refused: within the agent's session a
	 * poll's counter must grow; a session once left never comes back
	 * (link.c).  Agents without sessions: sent_at_ms must grow. */
	uint64_t last_poll_sent_ms;
	uint8_t session[POLL_SESSION_LEN];
	int has_session;
	uint64_t poll_counter;
	uint8_t retired[POLL_RETIRED][POLL_SESSION_LEN];
	size_t nretired;
	struct rep_slot *held;		/* a poll waiting for work */
	/* Reports read riding on polls since the last Idle, which names
	 * them: their command ids and hashes. */
	struct report_read {
		uint8_t id[COMMAND_ID_LEN];
		uint8_t hash[ENVELOPE_DIGEST_LEN];
	} *read;
	size_t nread, capread;
	uint64_t held_until_us;
	Ferry__Poll *status;		/* the last heartbeat */
	int cleartext;			/* ... came in cleartext */
	int seen_dirty;			/* last_seen not yet written */
	int traffic_bad;		/* its last proxy counts were refused */
	int online_unrecorded;		/* came online; event not yet written */
	struct cmd *outbox;		/* unanswered commands, by sequence */
	/* drain.c: a Drain is in flight; after one failed, none before
	 * this (monotonic). */
	int drain_open;
	uint64_t drain_retry_mono_ms;
	/* fleet.c: when ferryd first heard each of its containers unhealthy
	 * (wall clock, for drift's "unhealthy since"), by container id. */
	struct unhealthy_seen {
		char id[16];
		uint64_t since_ms;
	} unhealthy[HOST_UNHEALTHY_MAX];
	size_t nunhealthy;
};

/* Called once when a command is answered finally or expires.  report is
 * NULL on expiry (err says why). */
typedef void (*cmd_done_fn)(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err);

struct cmd {
	struct command_rec rec;		/* envelope owned (heap) */
	struct cmd *next;
	/* When it was made (or reloaded at start), on the monotonic clock:
	 * its allowances (rec's expires_ms and deadline_ms less its
	 * created_ms) run from here. */
	uint64_t created_us;
	int sent;
	int unrecorded;		/* sent before its record is written: the
				 * record says "sent" itself */
	cmd_done_fn done;
	void *done_arg;
};

struct ferryd {
	struct ferryd_conf conf;
	uv_loop_t *loop;
	struct mailbox mb;
	struct store *store;
	struct keypair kp;
	uint8_t fpr[KEY_FPR_LEN];
	uint8_t secrets_key[32];	/* secrets.c: values at rest */
	struct host **hosts;
	size_t nhosts, caphosts;
	/* Hash indexes of hosts by name and by key (fleet.c), rebuilt when
	 * the host count changes or fleet_reindex says so. */
	struct host **by_name, **by_key;
	size_t index_cap, indexed;
	uint8_t index_key[crypto_shorthash_KEYBYTES];
	struct repsrv *agents;
	struct repsrv *control;
	/* link.c: the agents' channel sessions, and the refusal a cleartext
	 * message gets when the link must be sealed. */
	struct chan_server *chan;
	uint8_t *cleartext_refusal;
	size_t cleartext_refusal_len;
	/* control.c: the operators group's gid, looked up once at start. */
	int ops_known;
	uint64_t ops_gid;
	struct httpd *http;		/* http.c */
	/* fleet.c feeds it from heartbeats: the proxies' counts (traffic.c),
	 * read by views, control and metrics. */
	struct traffic *traffic;
	uv_timer_t sweep;
	/* link.c: answered pings, noted together at the end of the loop's
	 * turn. */
	uv_check_t notes_check;
	struct ping_note *notes;
	size_t nnotes, notes_cap;
	uint64_t last_flush_mono_ms;
	/* link.c: what joins without a valid token may still record (a
	 * pending host, a new key's claim on a name): a token bucket of
	 * tokenless_join_rate per minute, refilled on the monotonic clock
	 * (claim_allowed). */
	uint64_t claim_bucket;
	uint64_t claim_bucket_mono_ms;
	int online_unrecorded;		/* some host's online event unwritten */
	/* link.c: refusals on the agent link, counted (refusals.c). */
	struct refusals *refusals;
	uv_signal_t sigterm, sigint;
	int stopping;
	/* Upcalls, registered by main before anything starts, the way NNG
	 * hands a lower layer its aio callbacks: link.c and fleet.c never
	 * call a higher module by name.  arg goes to each. */
	struct {
		/* A command reloaded from the store at start is answered
		 * finally, or expires (link.c). */
		cmd_done_fn reloaded_done;
		/* A host missed its heartbeats (fleet.c). */
		void (*host_offline)(void *arg, struct host *h);
		void *arg;
	} up;
};

/* fleet.c */
/* fleet_load reads every host from the store. */
int fleet_load(struct ferryd *fd);
void fleet_free(struct ferryd *fd);
struct host *fleet_find(struct ferryd *fd, const char *name);
struct host *fleet_find_key(struct ferryd *fd, const uint8_t *pk);
/* fleet_reindex must be called after a host's key changes in memory. */
void fleet_reindex(struct ferryd *fd);
/* fleet_remove takes h out of memory and frees it (the caller removed it
 * from the store; h holds no poll: only pending hosts are removed). */
void fleet_remove(struct ferryd *fd, struct host *h);
/* fleet_pending counts the pending hosts. */
size_t fleet_pending(const struct ferryd *fd);
/* fleet_add stores rec and adds it to memory. */
int fleet_add(struct ferryd *fd, const struct host_rec *rec,
    struct host **out);
/* fleet_beat records a heartbeat heard at wall_ms (last seen, for
 * people) and mono_ms (liveness); brings the host online. */
void fleet_beat(struct ferryd *fd, struct host *h, uint64_t wall_ms,
    uint64_t mono_ms);
/* fleet_sweep marks hosts offline after missed beats, judged on the
 * monotonic mono_ms, and writes last-seen times in one pass; called from
 * the sweep timer. */
void fleet_sweep(struct ferryd *fd, uint64_t mono_ms);
/* fleet_traffic takes the proxy's counts a heartbeat of h carried (NULL:
 * the host runs no proxy) into fd->traffic at monotonic mono_ms; a
 * reading traffic.c refuses is logged (once until the host's readings
 * are good again) and changes nothing. */
void fleet_traffic(struct ferryd *fd, struct host *h,
    const Ferry__Traffic *tr, uint64_t mono_ms);
/* fleet_unhealthy_since: when ferryd first heard h's container id
 * unhealthy without a break since (wall clock); 0 when it is not, or that
 * was not kept. */
uint64_t fleet_unhealthy_since(const struct host *h, const char *id);
const char *host_state_name(const struct host *h);
/* fleet_host_drained: an operator drained h (ferry hosts drain):
 * deployments and rollbacks skip it, and catch-up must wait for it
 * (drain.c). */
int fleet_host_drained(const struct host *h);
int host_name_ok(const char *name);
int label_ok(const char *key, const char *value);

/* link.c */
int link_start(struct ferryd *fd);
void link_stop(struct ferryd *fd);
/*
 * link_command_long records a command for h (sequence, id, expiry filled
 * here) durably, then sends it as soon as h polls; once accepted, its
 * result must come within result_ms.  done is called exactly once when the
 * host answers finally or the command expires, unless link_command_long
 * fails, in which case it is never called.
 */
int link_command_long(struct ferryd *fd, struct host *h,
    Ferry__Command *cmd, const char *kind, uint64_t ttl_ms,
    uint64_t result_ms, cmd_done_fn done, void *arg);
/*
 * link_prepare builds and signs a command for h without recording or
 * sending it, for callers that record it in a transaction of their own
 * (store_deploy_commit); link_enqueue then hands it to the outbox, and
 * link_discard drops one that was not recorded.  NULL when out of memory.
 */
struct cmd *link_prepare(struct ferryd *fd, struct host *h,
    Ferry__Command *cmd, const char *kind, uint64_t ttl_ms,
    uint64_t result_ms, cmd_done_fn done, void *arg);
void link_enqueue(struct ferryd *fd, struct host *h, struct cmd *c);
void link_discard(struct cmd *c);
/* link_outbox_free frees h's unanswered commands (at shutdown); no done
 * callback is called. */
void link_outbox_free(struct host *h);
/*
 * link_withdraw takes every command of deployment that no agent has
 * accepted yet out of the outbox, recorded as expired with why: nothing
 * of a deployment that has ended is sent any more, so no host runs it
 * late.  fn (may be NULL) hears of each one's host before it goes; the
 * commands' done callbacks are not called.
 */
/* link_withdraw_one takes h's command id out of the outbox if no agent
 * took it yet (recorded expired, why; its done callback is not called):
 * 1 when it did. */
int link_withdraw_one(struct ferryd *fd, struct host *h, const uint8_t *id,
    const char *why);
typedef void (*link_withdrawn_fn)(void *arg, struct host *h);
void link_withdraw(struct ferryd *fd, uint64_t deployment, const char *why,
    link_withdrawn_fn fn, void *arg);
/* link_sweep releases polls held past their time and expires commands. */
void link_sweep(struct ferryd *fd);
/* link_release answers h's held poll with Idle, if any. */
void link_release(struct ferryd *fd, struct host *h);

/* http.c */
/* http_start serves /healthz and /metrics on conf.http ("off" or empty:
 * nothing), on the loop: at most conf.http_connections at once, the
 * oldest waiting for a request closed to make room; a request's headers
 * in within http_header_timeout, a kept-alive connection closed after
 * http_idle_timeout. */
int http_start(struct ferryd *fd);
/* http_sweep logs, every 10 s, how many connections were refused or
 * closed; from the sweep timer, with the monotonic time. */
void http_sweep(struct ferryd *fd, uint64_t now_ms);
void http_stop(struct ferryd *fd);

/* drain.c */
/* drain_request answers `ferry hosts drain|undrain NAME`: recorded with
 * its event, then the host's proxy is told. */
void drain_request(struct ferryd *fd, struct rep_slot *slot,
    const char *name, int drained, const char *actor);
/* drain_sweep sends a Drain to each online host whose heartbeat says its
 * proxy is not as recorded; from the sweep timer. */
void drain_sweep(struct ferryd *fd);

/* swapone.c */
/* swapone_start runs `ferry swap`: answers slot when the host's signed
 * result is in (or with the reason it could not be had). */
void swapone_start(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SwapOne *req, const char *actor);

/* deploy.c: the shell around the rollout engine (rollout.c), planning
 * with plan.c. */
/* deploy_on_result feeds a deployment command's answer to its engine (arg
 * is the ferryd). */
void deploy_on_result(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err);
/* deploy_load picks up unfinished deployments at start (after link_start
 * has put their unanswered commands back in the outbox). */
int deploy_load(struct ferryd *fd);
void deploy_free_all(void);
/* deploy_tick gives engines that asked for it a tick (pause between
 * batches) and tries again what could not be recorded; now_ms is on the
 * steady clock.  deploy_host_offline tells them a host went away (arg is
 * the ferryd). */
void deploy_tick(struct ferryd *fd, uint64_t now_ms);
void deploy_host_offline(void *arg, struct host *h);
/* The CLI's requests; each answers slot. */
void deploy_request(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req, const char *actor);
void deploy_plan(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req);
void deploy_rollback(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__RollbackRequest *req, const char *actor);
/* deploy_lifecycle answers ferry restart|stop|start|remove SERVICE (kind
 * DEPLOY_KIND_*): the current revision, batch by batch as its spec's
 * rollout says, recorded as a deployment of that kind. */
void deploy_lifecycle(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__ServiceOp *op, const char *kind, const char *actor);
/*
 * deploy_catch_up starts a one-host rolling deployment of kind catch-up:
 * host (runs_service: it runs some revision of service) to revision rev,
 * which must have run before (its digest is known), with an event naming
 * reason.  0 with *id set; FERR_EXISTS while a deployment of service runs;
 * FERR_STATE when rev has no digest; FERR_NOTFOUND, FERR_NOMEM, or the
 * store's error.  The deployment's end is read from the store.
 */
int deploy_catch_up(struct ferryd *fd, const char *service, uint64_t rev,
    const char *host, int runs_service, const char *reason, uint64_t *id);
/* deploy_metrics hands /metrics the live canaries' steps and weights. */
void deploy_metrics(void);
void deploy_control(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref, enum rollout_input in,
    const char *actor);

/* views.c: what the CLI reads about deployments; each answers slot. */
/* views_deployments answers with up to limit deployments as recorded: of
 * service (NULL or "": all), or only id when id != 0; with traffic, each
 * with its service's traffic per revision over its hosts and each host's
 * proxy state (ferry status). */
void views_deployments(struct ferryd *fd, struct rep_slot *slot,
    const char *service, uint64_t id, size_t limit, int traffic);
/* views_proxy_state: a heap ProxyState of what host's proxy last said
 * (free() frees it all); NULL when out of memory. */
Ferry__ProxyState *views_proxy_state(struct ferryd *fd, const char *host);
/* views_host_traffic: host's figures per service and revision, and its
 * proxy's refusals per service, each window, in heap arrays freed by
 * views_traffic_free and views_refusals_free.  0 or FERR_NOMEM. */
int views_host_traffic(struct ferryd *fd, const char *host,
    Ferry__TrafficFigures ***out, size_t *n, Ferry__RefusalFigures ***rout,
    size_t *nr);
void views_traffic_free(Ferry__TrafficFigures **f, size_t n);
void views_refusals_free(Ferry__RefusalFigures **f, size_t n);
/* views_host_drift: host's findings in dw (driftwatch.h) as heap
 * DriftInfo entries whose strings point into dw, freed by
 * views_drift_free; 0 or FERR_NOMEM. */
struct driftwatch;
int views_host_drift(const struct driftwatch *dw, const char *host,
    Ferry__DriftInfo ***out, size_t *n);
void views_drift_free(Ferry__DriftInfo **d, size_t n);
/* views_stopped: the services of dw stopped on purpose (ferry stop), each
 * as a heap ServiceStatus with only service and the lifecycle fields set,
 * freed by views_stopped_free; 0 or FERR_NOMEM. */
int views_stopped(struct ferryd *fd, const struct driftwatch *dw,
    Ferry__ServiceStatus ***out, size_t *n);
void views_stopped_free(Ferry__ServiceStatus **s, size_t n);
/* views_service answers ferry status SERVICE (ref->service): the service
 * as it is now (ServiceStatus: its current revision, each host with what
 * it runs and its drift, its traffic) and its latest deployment. */
void views_service(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref);
void deploy_status(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref);
void deploy_history(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref);
void deploy_events(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__EventsRequest *req);

/* secrets.c */
#define SECRETS_KEY_LEN		32
#define SECRET_VALUE_MAX	(64u * 1024u)
/* Registry logins are secrets of this scope, named by registry host: no
 * service can have the name (a service starts with a letter or digit). */
#define SECRETS_REGISTRY_SCOPE	"@registry"
/* secrets_key_load_or_create reads the key values are encrypted with at
 * rest (32 random bytes, mode 0600, apart from the database), creating it
 * when the file does not exist (*created = 1).  FERR_PERM: the file is
 * open to others; FERR_MALFORMED: it is not 32 bytes. */
int secrets_key_load_or_create(const char *path,
    uint8_t key[SECRETS_KEY_LEN], int *created);
/* secrets_key_lock holds the key file locked (shared) for the life of
 * the process, so that a rotation refuses while ferryd runs: the open
 * descriptor, or FERR_STATE when a rotation holds it. */
int secrets_key_lock(const char *path);
/* secrets_key_check refuses to start over an interrupted key rotation
 * (a secrets.key.new beside secrets.key): FERR_STATE. */
int secrets_key_check(const char *path);
/*
 * secrets_rotate replaces the key at path (ferryd stopped) with a new one
 * and re-encrypts every stored value of the database at db under it, in
 * one transaction; the new key is written beside the old one first
 * (path.new) and takes its name only after the commit, so a rotation
 * stopped at any point is finished by running it again.  *count gets how
 * many values; why says what failed.
 */
int secrets_rotate(const char *path, const char *db, size_t *count,
    char *why, size_t whylen);
/* secrets_open decrypts a version of (service, name) (0: the newest not
 * removed) into *value, guarded memory freed with secrets_value_free.
 * FERR_NOTFOUND: no such version, or removed; why says which. */
int secrets_open(struct ferryd *fd, const char *service, const char *name,
    uint64_t version, uint8_t **value, size_t *len, char *why,
    size_t whylen);
void secrets_value_free(uint8_t *value);
/* secrets_pin sets the version of each secret s names to its newest one;
 * FERR_NOTFOUND with why naming the missing secret and how to set it. */
struct spec;
int secrets_pin(struct ferryd *fd, struct spec *s, char *why,
    size_t whylen);
/* secrets_registry_value: the packed RegistryAuth stored for the registry
 * image is pulled from (`ferry registry login`), or *value NULL when it
 * has none; freed with secrets_value_free. */
int secrets_registry_value(struct ferryd *fd, const char *image,
    uint8_t **value, size_t *len);
/* secrets_swap_seal fills out so that spec_swap_fill seals each pinned
 * secret to host_pk (a failure to open one is logged). */
struct swap_seal;
void secrets_swap_seal(struct ferryd *fd, const uint8_t *host_pk,
    struct swap_seal *out);
/* secrets_check_pins: every version revision rev of s pins can still be
 * opened (none was removed); why says which cannot. */
int secrets_check_pins(struct ferryd *fd, const struct spec *s,
    uint64_t rev, char *why, size_t whylen);
/* The CLI's secret requests; each answers slot. */
void secrets_ctl_set(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretSet *req, const char *actor);
void secrets_ctl_list(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretRef *req, const char *actor);
void secrets_ctl_rm(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretRef *req, const char *actor);
void secrets_ctl_registry_login(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__RegistryLogin *req, const char *actor);

/* control.c */
/* ctl_reply answers a CLI request; ctl_error answers it with a one-line
 * error (ok = 0). */
void ctl_reply(struct rep_slot *slot, const Ferry__CtlReply *r);
void ctl_error(struct rep_slot *slot, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int control_start(struct ferryd *fd);
void control_stop(struct ferryd *fd);

#endif
