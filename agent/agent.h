/* SPDX-License-Identifier: Apache-2.0 */
/* agent.h: ferry-agent's modules and the state they share. */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <uv.h>

#include "config.h"
#include "ferry.pb-c.h"
#include "keys.h"
#include "chan.h"
#include "clock.h"
#include "envelope.h"
#include "mailbox.h"

#define AGENT_VERSION	"0.1.0"

/* records.c: the agent's durable command records (SQLite). */
struct records;

/* The schema version records_open migrates to: one per migration. */
#define RECORDS_SCHEMA_VERSION 4


/* What the agent recorded about one command. */
struct record {
	uint64_t seq;
	char state[16];		/* accepted, succeeded, failed, refused */
	uint8_t *report;	/* packed Report body, heap; may be NULL */
	size_t report_len;
	int acked;		/* ferryd acknowledged the report */
};

/* records_open opens agent.db (db_open: checked with quick_check; a
 * damaged file is refused with what is wrong, FERR_READONLY, FERR_CORRUPT,
 * FERR_TRUNCATED, FERR_NOTDB). */
int records_open(struct records **out, const char *path);
void records_close(struct records *r);
/* records_fault_take returns the latest failure of the file itself since
 * the last call (0: none), with the file in path and how many in *count. */
int records_fault_take(char *path, size_t len, unsigned *count);
/* records_last_seq: the high-water mark, highest sequence executed. */
int records_last_seq(struct records *r, uint64_t *seq);
/* records_get: FERR_NOTFOUND when id was never seen.  Caller frees
 * rec->report. */
int records_get(struct records *r, const uint8_t *id, size_t id_len,
    struct record *rec);
/*
 * records_accept durably records id as accepted and raises the high-water
 * mark to seq, in one transaction, before the command is acted on.
 */
int records_accept(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind);
/* records_answered is records_accept of a command already answered (a
 * ping, which acts on nothing): its final state and report, in the same
 * transaction, which does not wait for the disk (a power cut may lose it,
 * and then the ping could be answered once more). */
int records_answered(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind, const char *state, const uint8_t *report,
    size_t report_len);
/* records_refuse records a refused command (the mark does not move). */
int records_refuse(struct records *r, const uint8_t *id, size_t id_len,
    uint64_t seq, const uint8_t *report, size_t report_len);
/* records_finish stores the final state and report of an accepted one. */
int records_finish(struct records *r, const uint8_t *id, size_t id_len,
    const char *state, const uint8_t *report, size_t report_len);
int records_acked(struct records *r, const uint8_t *id, size_t id_len);
/* A report records_unacked lists, with its number (reports are numbered
 * in the order they were recorded); the callback returns non-zero to
 * stop. */
typedef int (*records_cb)(void *arg, const uint8_t *id, size_t id_len,
    const uint8_t *report, size_t report_len, uint64_t number);
/* records_unacked lists reports ferryd has not acknowledged, numbered
 * since or later, oldest first (by their recording, whatever the wall
 * clock did meanwhile), until the callback says stop (rows are read one
 * at a time, along an index). */
int records_unacked(struct records *r, uint64_t since, records_cb cb,
    void *arg);
/* records_count counts commands in state (NULL: all). */
int records_count(struct records *r, const char *state, int *n);

/*
 * The swap journal: while a swap or rollback of a service is under way its
 * row says how far it got, so that an agent killed mid-swap finishes or
 * reverts it on restart.  Steps, in order: begin (new_name chosen), created
 * (new_id exists), stopped (old stopped), started (new started), healthy
 * (health passed; only tidying is left).  A swap that failed records its
 * result (the old revision runs again) before it removes the failed
 * container and drops the row: a row whose command already has a result
 * only wants that tidying, and the result stands.
 */
struct journal {
	char service[128];
	uint8_t command_id[16];
	size_t id_len;
	char kind[16];		/* swap, rollback */
	uint64_t revision;	/* the revision being brought up */
	char step[16];
	char old_id[80];	/* the container that ran before, or "" */
	char new_id[80];	/* the container being brought up, or "" */
	char new_name[160];
	uint32_t keep;		/* previous revisions kept stopped */
};

/*
 * records_interrupted lists commands accepted at or below sequence max_seq
 * that never got a result and have no journal row: an earlier run of the
 * agent was stopped before they finished (or before they began).
 */
typedef void (*interrupted_cb)(void *arg, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind);
int records_interrupted(struct records *r, uint64_t max_seq,
    interrupted_cb cb, void *arg);

int records_journal_put(struct records *r, const struct journal *j);
int records_journal_del(struct records *r, const char *service);
typedef void (*journal_cb)(void *arg, const struct journal *j);
int records_journal_list(struct records *r, journal_cb cb, void *arg);

/*
 * The images swaps brought to this host, by service and revision (one row
 * per service and image, the latest revision that named it): what the
 * prune reads to remove an image whose revision left the kept window,
 * even one no container was ever made from.  records_image_put records
 * (or moves) one, records_image_del forgets one (none is no error),
 * records_images_list calls cb with each of service's, oldest revision
 * first.
 */
int records_image_put(struct records *r, const char *service,
    uint64_t revision, const char *image);
int records_image_del(struct records *r, const char *service,
    const char *image);
typedef void (*image_cb)(void *arg, uint64_t revision, const char *image);
int records_images_list(struct records *r, const char *service, image_cb cb,
    void *arg);

#include "docker.h"

/* Settings, from flags, the config file and the enrolment file. */
struct agent_conf {
	char state_dir[512];
	char publish_address[64];
	char docker_socket[512];
	char coordinator[256];
	char coordinator_fingerprint[KEY_FPR_STRLEN];
	char name[64];
	uint64_t heartbeat_interval_ms;
	uint32_t keep_revisions;	/* previous revisions kept stopped */
	char allowed_bind_paths[512];	/* comma-separated folders */
	int insecure_cleartext_link;	/* send envelopes unsealed */
	char secrets_dir[400];		/* containers' secret files: a tmpfs */
	/* ferry-proxy's control socket; empty: no proxy on this host, host
	 * ports published by the containers themselves (swaps may drop
	 * requests, start-first with a host port refused). */
	char proxy_control[108];
	/* How often, at the most, a running container is probed with its
	 * spec's check between deployments (livehealth.c); 0: never. */
	uint64_t live_health_interval_ms;
};

enum agent_phase {
	PHASE_JOINING,	/* asking to join without a token */
	PHASE_POLLING,	/* heartbeating and taking commands */
};

struct adhoc;

struct agent {
	struct agent_conf conf;
	uv_loop_t *loop;
	struct mailbox mb;
	struct keypair kp;
	uint8_t fpr[KEY_FPR_LEN];
	uint8_t pinned[KEY_PUBLIC_LEN];
	int have_pinned;
	uint8_t want_fpr[KEY_FPR_LEN];
	struct records *records;
	uint64_t last_seq;
	enum agent_phase phase;

	/* session.c: one REQ socket, one context for polls, one for
	 * reports.  The *_stage, *_rv and *_msg fields are written by the
	 * NNG callback and read on the loop after the mailbox hands over. */
	nng_socket sock;
	nng_dialer dialer;
	struct exchange {
		struct agent *a;
		nng_ctx ctx;
		nng_aio *aio;
		int stage;		/* 0 idle, 1 sending, 2 receiving */
		int rv;
		nng_msg *msg;
		uv_timer_t timer;
		uint32_t backoff_ms;
		void (*done)(struct agent *a, int rv, nng_msg *msg);
		/* The signed envelope this exchange sends, kept until its
		 * answer came: a Hello may have to go first. */
		uint8_t *env;
		size_t env_len;
		nng_duration timeout;
		int hello;		/* what is on the wire is a Hello */
		int waiting;		/* for the other exchange's Hello */
		int retries;		/* new sessions for this envelope */
		uint64_t counter;	/* of the sealed request on the wire */
	} poll, report;
	/* The channel with ferryd (chan.h), shared by both exchanges, and
	 * the exchange whose Hello is on its way. */
	struct chan_client chan;
	struct exchange *hello_by;
	int link_up;
	uint64_t last_poll_sent_ms;
	/* Polls are numbered within a session drawn at start: ferryd orders
	 * them by that, which no clock step moves. */
	uint8_t session[16];
	uint64_t poll_counter;
	/* ferryd's steady clock, learnt from each Idle that answers our poll:
	 * commands' expiry is judged on it, so a step of either wall clock
	 * expires nothing early. */
	struct clock_peer coordinator_clock;
	char last_problem[256];
	int pending_logged, revoked_logged;
	struct adhoc *adhoc_head, *adhoc_tail;
	size_t adhoc_n;
	/* Log chunks (logs.c), sent after everything else, never again. */
	struct adhoc *logq_head, *logq_tail;
#define REPORT_LOG	2	/* report_is_adhoc: a log chunk */
	int report_is_adhoc;
	uint8_t report_id[16];
	size_t report_id_len;
	uint8_t report_hash[ENVELOPE_DIGEST_LEN];	/* of the report alone */
	/* Recorded reports that rode on polls and wait for an Idle to name
	 * them (acknowledged then); not named, or the link failed, they go
	 * again.  At most RIDE_MAX more ride on one poll. */
#define RIDE_MAX	8
#define RIDE_INFLIGHT	64
	struct ride {
		uint8_t id[16];
		size_t id_len;
		uint8_t hash[ENVELOPE_DIGEST_LEN];	/* of the report */
	} riding[RIDE_INFLIGHT], alone[RIDE_INFLIGHT];
	size_t nriding;
	size_t nalone;		/* rode once and were not named: they go by
				 * themselves (a ring: the oldest give way) */
	uint64_t ride_since;	/* the newest number among them */
	int reports_held;	/* a poll is about to go: they ride on it */
	/* A ping's answer rides on the poll that goes at once, and is
	 * recorded as soon as that poll is on its way (or at once, when no
	 * poll can go). */
	struct {
		uint8_t id[16];
		size_t id_len;
		uint64_t seq;
		const char *kind, *state;
		uint8_t *report;
		size_t len;
	} answer;

	/* inventory (docker.c via a worker thread) */
	struct docker *docker;
	uv_work_t inv_work;
	int inv_busy;
	int inv_done_once;	/* the first heartbeat waits for it */
	uv_timer_t inv_timer;
	int docker_ok;
	char docker_error[256];
	Ferry__Container **containers;
	size_t ncontainers;
	Ferry__Container **inv_new;
	size_t inv_n;
	int inv_ok;
	char inv_err[256];

	/* ferry-proxy's counts (proxy_control; agent.c reads its status on
	 * a worker thread each heartbeat interval): the last reply, whose
	 * traffic rides on every poll, or why the proxy did not answer. */
	uv_work_t proxy_work;
	int proxy_busy;
	Ferry__ProxyReply *proxy_reply;	/* the last good one */
	Ferry__ProxyReply *proxy_new;	/* the worker's */
	char proxy_err[256];		/* the worker's failure */
	Ferry__Traffic proxy_unanswered;	/* error: proxy_error */
	char proxy_error[256];		/* why the last read failed */
	int proxy_read;			/* read at least once */

	/* swap.c: queued and running jobs; reconciled says the journal was
	 * settled with Docker since start. */
	struct job *jobs;
	int reconciled;
	uint64_t start_seq;	/* last_seq when this run started */
#define SVC_HEALTH_MAX 64
	struct {
		char service[128];
		uint64_t revision;
		char health[200];
	} svc_health[SVC_HEALTH_MAX];	/* the last swap's verdict */

	uv_signal_t sigterm, sigint;
	int stopping;
};

/* session.c */
int session_start(struct agent *a);
void session_stop(struct agent *a);

/* agent_traffic returns what the next poll says of ferry-proxy's counts
 * (agent.c): NULL when the agent runs no proxy (proxy_control empty), the
 * proxy's last Traffic, or one with only error set when it did not answer.
 * Valid until the loop's next turn. */
Ferry__Traffic *agent_traffic(struct agent *a);
/* agent_drain_state: whether ferry-proxy said, at its last reading, that
 * it is drained (unknown without a proxy or an answer). */
Ferry__DrainState agent_drain_state(struct agent *a);

/* session_kick sends a heartbeat now if none is in flight. */
void session_kick(struct agent *a);
/* report_kick sends the next report waiting: ad hoc ones first, then
 * what records_unacked lists.  Does nothing while one is in flight. */
void report_kick(struct agent *a);
/* report_adhoc queues a report that has no record of its own (a refusal
 * of something unreadable, or the repeat of a stored result); takes the
 * packed Report body. */
void report_adhoc(struct agent *a, uint8_t *report, size_t len);
/* answer_keep holds the packed report of a command that acts on nothing
 * (taking report) to ride on the poll about to go; answer_record records
 * it, with its sequence number, if it is still held (a failure is logged:
 * the answer went, or goes, all the same). */
void answer_keep(struct agent *a, const uint8_t *id, size_t id_len,
    uint64_t seq, const char *kind, const char *state, uint8_t *report,
    size_t len);
void answer_record(struct agent *a);

/* execute.c */
struct envelope;
/*
 * execute_command handles one verified COMMAND envelope from ferryd: the
 * acceptance rules, the durable record before acting, execution, and the
 * report.  A command id already recorded is answered from the records and
 * never executed again.
 */
void execute_command(struct agent *a, const struct envelope *ev);
/* execute_refused_unreadable queues a REFUSED report with no command id
 * for a command that could not be read; why says what was wrong. */
void execute_refused_unreadable(struct agent *a, const char *why);

/* agent.c */
/* agent_conf_init sets the defaults and fills opts (AGENT_NOPTS entries,
 * the last a NULL terminator) with the settings of c. */
#define AGENT_NOPTS 14
void agent_conf_init(struct agent_conf *c, struct config_opt *opts);
/* The enrolment written by `ferry-agent join`, in the state dir. */
#define ENROLMENT_FILE "enrolment.conf"

/* swap.c */
struct job;
/* swap_submit queues an accepted Pull, Swap, Rollback, Remove or Inventory
 * (taking cmd) to run on a worker thread, one at a time per service; its
 * result is recorded and reported when it ends. */
int swap_submit(struct agent *a, Ferry__Command *cmd);
/* swap_reconcile queues the reconciliation with Docker: swaps an earlier
 * run left half done are finished or reverted before anything else runs,
 * and other commands it left without a result are reported failed.  While
 * it fails (Docker away), commands waiting for it fail at once, saying
 * why, and each new one tries it again. */
void swap_reconcile(struct agent *a);
/* swap_fill_health adds, to running containers Docker knows no health
 * for, what the last swap's health check said of them. */
void swap_fill_health(struct agent *a, Ferry__Container **cs, size_t n);
/* swap_stop makes running jobs give up at their next step (their journal
 * stays for the next start) and drops queued ones. */
void swap_stop(struct agent *a);

/* join.c */
/* join_main runs `ferry-agent join TOKEN ...`; returns the exit status. */
int join_main(int argc, char **argv);

#endif
