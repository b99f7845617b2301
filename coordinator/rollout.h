/* SPDX-License-Identifier: Apache-2.0 */
/* rollout.h: the rollout engine's pure core.  A deployment's whole state is
 * in struct rollout; rollout_step() takes that state, what happened (host
 * results, hosts going offline, operator requests) and the time, and
 * answers with decisions (what to send to which host, when to look again).
 * It does no I/O and reads no clock: ferryd's shell around it records the
 * state in SQLite, sends the commands and feeds the results back, and the
 * unit tests drive it through every transition with a fake clock.
 *
 * Deployment states:
 *
 *	planned -> pulling -> running (batch k of n) -> succeeded
 *	planned -> failed                  (the tag could not be resolved)
 *	pulling -> failed                  (the pre-pull failed: nothing changed)
 *	running -> (more than max_failures failed hosts) -> on_failure:
 *	    rollback: rolling_back -> rolled_back   (or failed, when a host
 *	              cannot be put back)
 *	    pause:    paused -> (resume) running | (abort) aborted
 *	    continue: running, next batch; failed at the end
 *	planned | pulling | running | paused | rolling_back -> (abort) aborted
 *	pulling | running -> (pause requested) paused
 *
 * In detail:
 *
 * - planned: every host RH_WAITING.  The first RI_TICK sends RA_PULL to
 *   every host (RH_PULLING) and enters pulling.  RI_RESOLVE_FAILED (the
 *   shell could not resolve the image's tag) ends it failed with the cause
 *   given, every host RH_SKIPPED: nothing was sent.
 * - pulling: each RI_PULLED makes its host RH_PULLED; when all are, running
 *   batch 0 (or paused, when a pause was requested).  One RI_PULL_FAILED, or
 *   RI_OFFLINE of a host still pulling, ends the deployment failed ("pre-pull
 *   failed on HOST: cause"): that host RH_FAILED (and counted), every other
 *   host RH_SKIPPED; nothing was swapped.
 * - running, batch k: its hosts wait in RH_PULLED until the batch starts,
 *   which sends RA_SWAP to all of them at once (RH_SWAPPING); a batch is
 *   never larger than batch_size (or the canary, batch 0), so no more than
 *   that many hosts are out of service.  RI_SWAPPED makes a host RH_DONE;
 *   RI_SWAP_FAILED, or RI_OFFLINE while swapping, makes it RH_FAILED and
 *   counts it in failures.  Nothing is decided while a host of the batch is
 *   in flight: a failure never cuts a batch short, and no batch starts
 *   before the one in flight has every host RH_DONE or RH_FAILED.  Then,
 *   when failures > max_failures and this batch added at least one failure,
 *   on_failure fires:
 *     rollback: rolling_back (below); the batches not reached RH_SKIPPED.
 *     pause:    paused, cause naming the failed hosts.
 *     continue: keep going; the cause names the failed hosts.
 *   Otherwise the batch has passed: after the last one the deployment
 *   succeeded (or, under continue with failures > max_failures, failed);
 *   else batch k+1 starts at once, or when pause_ms > 0 at
 *   next_batch_at_ms = now + pause_ms (*wake_ms says when; the batch starts
 *   on the first input of any kind at or after that time).
 * - A failure does not reset: once failures > max_failures, every later
 *   batch that adds a failure fires on_failure again.  A batch without new
 *   failures does not.
 * - paused: nothing is in flight and nothing starts.  RI_RESUME goes back
 *   to running and starts the next batch at once (the operator's resume
 *   replaces any pause between batches), or, when the batch paused after
 *   was the last one, ends succeeded: under on_failure pause, failures the
 *   operator resumed past do not fail the deployment.  RI_ABORT: aborted.
 * - RI_PAUSE in pulling or running sets ROLLOUT_PAUSING: nothing new
 *   starts, hosts in flight finish, and the deployment becomes paused as
 *   soon as nothing is in flight (at once between batches).  on_failure is
 *   still decided first (a rollback is never held by a pause), and a pause
 *   requested during the last batch is moot: the deployment just ends.
 *   RI_RESUME before that withdraws the request.
 * - rolling_back: every host that runs the new revision (RH_DONE) goes
 *   back, newest batch first, batch by batch: RA_REVERT to the RH_DONE hosts
 *   of one batch at once (RH_REVERTING), the next older batch once none of
 *   them is in flight.  RI_REVERTED makes a host RH_REVERTED;
 *   RI_REVERT_FAILED, or RI_OFFLINE while reverting, RH_REVERT_FAILED, and
 *   the rollback goes on with the other hosts.  A forward swap that failed
 *   (RH_FAILED) was already put back by the agent itself: it gets no
 *   RA_REVERT.  A host with had_previous == 0 (first deploy) gets RA_REVERT
 *   too: it goes back to running nothing (the shell removes the service
 *   there), so that a first deploy that fails leaves nothing behind.  A
 *   rollback cannot be paused (RI_PAUSE does not apply), only aborted.  At
 *   the end: rolled_back, or failed when a host could not be put back (the
 *   cause names them).
 * - Late answers: a host counted failed because it went offline in flight
 *   (or its command got no answer in time) is marked unanswered, since its
 *   agent may go on and answer when it is back.  An RI_SWAPPED for such an RH_FAILED host makes it RH_DONE (it
 *   runs the new revision) and takes back its failure; an ended forward
 *   rollout says again how it ended, a decision already taken stands.  If
 *   on_failure rollback has fired, the host goes back too: a rolling back
 *   deployment walks back to its batch first, and one that had ended
 *   (rolled_back, or failed after its rollback) takes the rollback up
 *   again, so what is recorded is what the hosts run.  An RI_REVERTED for
 *   an unanswered RH_REVERT_FAILED host makes it RH_REVERTED, and a
 *   rollback that had ended failed ends again (rolled_back when nothing
 *   else is wrong).  Other late answers change nothing.
 * - aborted: RI_ABORT stops everything that has not started: no swap or
 *   revert is sent any more, hosts not reached (RH_WAITING, RH_PULLING,
 *   RH_PULLED) become RH_SKIPPED, and hosts in flight keep their state until
 *   their result arrives; such a result still updates the host (and
 *   failures) but starts nothing.  Saying who runs what is the shell's job.
 *
 * Every rollout_step that changes anything returns RA_RECORD first, then
 * the commands (RA_PULL, RA_SWAP or RA_REVERT), in host order.  An input
 * that does not apply (a result for a host not in flight, resume when not
 * paused, anything after the end) changes nothing and returns 0, except
 * that any input, like RI_TICK, lets a pause between batches that has
 * ended start the next batch.
 *
 * Canary and blue-green (rollout_set_canary; DESIGN "Strategies"): the
 * hosts of batch 0 take the new revision beside the old one, and their
 * proxies split new traffic by the weight of each step in turn, before
 * anything else moves.  Blue-green is a canary of every host with two
 * steps: weight 0 (the new revision started and healthy everywhere,
 * serving nothing) and weight 100 for keep_old (every host switched; the
 * old revision warm beside it).
 *
 * - pulling ends in canary (state RO_CANARY, r->batch 0), phase
 *   CP_SEND: RA_WEIGH to every host of batch 0 at once (RH_WEIGHING; the
 *   shell sends a Swap that keeps the other revision running, with
 *   steps[step].weight).  RI_SWAPPED makes a host RH_BESIDE; RI_SWAP_FAILED
 *   or RI_OFFLINE RH_FAILED.  Nothing is decided while one is in flight.
 *   Then any failure fails the canary (below: no host serves a split that
 *   others do not), else the step runs (CP_RUNNING): its clock starts,
 *   and so does its first analysis interval (RA_MARK: the shell records
 *   where the proxies' counters stand) when the step is judged: analysis
 *   is on and its weight is above 0.
 * - A judged step: when an interval has run interval_ms, RA_JUDGE (the
 *   shell compares the two revisions' counts since the mark and answers
 *   RI_VERDICT with a verdict and its figures in cause).  pass: counted
 *   in the step, progress; fail: counted, and failure_limit of them fail
 *   the canary; inconclusive: a fail when inconclusive_fail, else the
 *   deployment pauses (ROLLOUT_STALLED: the deadline keeps counting).
 *   Each verdict that does not end the step starts the next interval
 *   (RA_MARK).
 * - A step ends when it has run its for_ms (time paused does not count)
 *   and, when judged, at least one interval of it passed and none is
 *   being judged: a canary is never passed on no evidence.  A step that
 *   waits (no for) ends only on RI_PROMOTE.  The next step starts over
 *   at CP_SEND with its weight.  After the last step (or RI_PROMOTE at any
 *   step): CP_DONE, and the deployment is running at batch 0, whose hosts
 *   (RH_BESIDE) get RA_SWAP: the new revision takes all traffic and the
 *   old one drains and stops; the other batches follow as in a rolling
 *   deployment.  When judged, intervals go on being judged there: a fail
 *   counts (failure_limit of them roll everything back once nothing is
 *   in flight); pass and inconclusive change nothing but the interval.
 * - The canary fails (a host failed its weight, failure_limit failed
 *   intervals, no progress for progress_deadline_ms while judged, or the
 *   operator's RI_ROLLBACK): rolling_back at batch 0, RA_REVERT to every
 *   host of batch 0 that runs the new revision (RH_BESIDE: the shell
 *   sends a Swap naming the previous revision, which takes all traffic
 *   at once, after which the new one drains and stops; nothing starts),
 *   the later batches RH_SKIPPED.  It ends rolled_back, or failed when a
 *   host could not be put back.  RI_ABORT in canary does the same and
 *   ends aborted: an abort leaves no split behind.
 * - Progress (for progress_deadline_ms, counted only while a judged step
 *   runs or the deployment is stalled): the step's start, a passing
 *   interval, a resume, a promote.
 * - RI_PAUSE in canary: paused at once, or once no weight is in flight;
 *   the step's clock stops and the interval is dropped.  RI_RESUME:
 *   canary again, the step's clock goes on, a new interval starts.
 *   RI_PROMOTE, RI_ROLLBACK and RI_ABORT during a weight change wait for
 *   it (ROLLOUT_PROMOTING, ROLLOUT_BACK, ROLLOUT_ABORTING).
 *
 * Invariant, checked by rollout_check(): no more than `batch` hosts are
 * being swapped (out of service) at once. */
#ifndef FERRY_ROLLOUT_H
#define FERRY_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#define ROLLOUT_HOST_MAX	64	/* host name length + 1 */

enum rollout_state {
	RO_PLANNED = 0,
	RO_PULLING,
	RO_RUNNING,
	RO_PAUSED,
	RO_ROLLING_BACK,
	RO_SUCCEEDED,
	RO_FAILED,
	RO_ROLLED_BACK,
	RO_ABORTED,
	RO_CANARY,		/* canary steps (and blue-green) */
};
#define RO_LAST		RO_CANARY

enum rollout_host_state {
	RH_WAITING = 0,		/* not reached yet */
	RH_PULLING,		/* pre-pull sent */
	RH_PULLED,		/* image on the host */
	RH_SWAPPING,		/* forward swap sent, no result yet */
	RH_DONE,		/* new revision healthy for min_healthy */
	RH_FAILED,		/* swap or pre-pull failed, deadline missed
				 * or offline; the agent put it back */
	RH_REVERTING,		/* rollback swap sent */
	RH_REVERTED,		/* previous revision back and healthy */
	RH_REVERT_FAILED,	/* could not be put back */
	RH_SKIPPED,		/* never reached (a pre-pull failed, aborted,
				 * or a later batch than a rollback) */
	RH_WEIGHING,		/* canary: a weight sent, no result yet */
	RH_BESIDE,		/* canary: the new revision runs beside the
				 * old one, with the step's weight */
};
#define RH_LAST		RH_BESIDE

enum rollout_on_failure {
	RO_ON_FAILURE_ROLLBACK = 0,
	RO_ON_FAILURE_PAUSE = 1,
	RO_ON_FAILURE_CONTINUE = 2,
};

struct rollout_host {
	char name[ROLLOUT_HOST_MAX];
	uint32_t batch;			/* 0-based batch index */
	enum rollout_host_state state;
	int had_previous;		/* ran a previous revision before */
	int unanswered;			/* counted failed (it went offline)
					 * while its command may still
					 * answer */
	uint64_t since_ms;		/* when it entered state */
	char cause[512];		/* why it failed, in words: room for
					 * an agent's whole message */
};

enum rollout_strategy {
	RS_ROLLING = 0,
	RS_CANARY = 1,
	RS_BLUE_GREEN = 2,
};

/* Where a canary is within its step (struct rollout's phase). */
enum rollout_phase {
	CP_SEND = 0,		/* the step's weight is to be sent */
	CP_WEIGHING,		/* sent: waiting for the hosts */
	CP_RUNNING,		/* every canary host runs the weight */
	CP_DONE,		/* past the steps (and every rolling
				 * deployment) */
};

#define ROLLOUT_STEPS_MAX	16

/* A canary's or blue-green's plan: fixed for a deployment, refilled from
 * its spec when ferryd resumes it. */
struct rollout_canary {
	enum rollout_strategy strategy;
	uint32_t nsteps;
	struct {
		uint32_t weight;	/* percent of new traffic, 0..100 */
		uint64_t for_ms;
		int wait;		/* ends only on RI_PROMOTE */
	} steps[ROLLOUT_STEPS_MAX];
	int analysis;			/* intervals are judged */
	uint64_t interval_ms;
	uint32_t failure_limit;		/* failed intervals that fail it */
	int inconclusive_fail;		/* inconclusive counts as a fail */
	uint64_t progress_deadline_ms;
};

struct rollout {
	enum rollout_state state;
	uint32_t nbatches;
	uint32_t batch;			/* current batch (forward or back) */
	uint32_t batch_size;		/* the spec's batch, as a host count */
	uint32_t max_failures;
	enum rollout_on_failure on_failure;
	uint64_t pause_ms;		/* between batches */
	uint64_t next_batch_at_ms;	/* a pause between batches ends */
	uint32_t failures;
	struct rollout_host *hosts;	/* in batch order */
	size_t nhosts;
	uint32_t flags;			/* ROLLOUT_PAUSING */
	char cause[256];		/* why it failed, paused or stopped */
	/* Canary and blue-green: the plan, and where it stands (zero for
	 * a rolling deployment, whose phase is CP_DONE throughout). */
	struct rollout_canary cfg;
	enum rollout_phase phase;
	uint32_t step;			/* the current step, 0-based */
	uint64_t step_run_ms;		/* run in this step before ... */
	uint64_t step_since_ms;		/* ... this run began (0: the step
					 * is not running) */
	uint64_t interval_since_ms;	/* the interval being counted began
					 * (0: none) */
	uint64_t progress_ms;		/* the last progress */
	uint32_t passes;		/* passing intervals in this step */
	uint32_t fails;			/* failed intervals, counted */
	uint32_t intervals;		/* judged intervals */
};

/* flags: the operator asked for a pause that waits for hosts in flight. */
#define ROLLOUT_PAUSING		0x1
/* RA_JUDGE sent, RI_VERDICT not back yet (not kept: a resumed deployment
 * asks again). */
#define ROLLOUT_JUDGING		0x2
/* Paused on an inconclusive interval: the deadline counts on. */
#define ROLLOUT_STALLED		0x4
/* Requests that wait for a weight in flight: promote, switch back,
 * abort (a canary put back, then aborted). */
#define ROLLOUT_PROMOTING	0x8
#define ROLLOUT_BACK		0x10
#define ROLLOUT_ABORTING	0x20
/* Judged after the canary: failure_limit was reached; everything rolls
 * back once nothing is in flight. */
#define ROLLOUT_FAILING		0x40
#define ROLLOUT_FLAGS_ALL	0x7f

/* What the shell must do. */
enum rollout_action {
	RA_PULL,	/* pre-pull the deployment's image on host */
	RA_SWAP,	/* swap host to the new revision */
	RA_REVERT,	/* swap host back to the previous revision */
	RA_RECORD,	/* the state changed: record it (and the event) */
	RA_WEIGH,	/* canary: run the new revision beside the old
			 * on host with steps[step].weight */
	RA_MARK,	/* an analysis interval starts: note the counts */
	RA_JUDGE,	/* the interval has run: judge it (RI_VERDICT) */
};

/* An analysis interval's verdict (RI_VERDICT). */
enum rollout_verdict {
	RV_PASS = 1,
	RV_FAIL = 2,
	RV_INCONCLUSIVE = 3,
};

/* The most decisions one rollout_step makes for n hosts: RA_RECORD, a
 * command per host, RA_MARK and RA_JUDGE. */
#define ROLLOUT_DECISIONS(n)	((n) + 3)

struct rollout_decision {
	enum rollout_action action;
	size_t host;		/* index into hosts (RA_PULL, RA_SWAP, ...) */
};

/* What happened, fed to rollout_step one at a time. */
enum rollout_input {
	RI_TICK,		/* only the clock moved */
	RI_PULLED,		/* host's pre-pull succeeded */
	RI_PULL_FAILED,		/* host's pre-pull failed (cause) */
	RI_SWAPPED,		/* host's forward swap passed */
	RI_SWAP_FAILED,		/* host's forward swap failed (cause) */
	RI_REVERTED,		/* host's rollback swap passed */
	RI_REVERT_FAILED,	/* host's rollback swap failed (cause) */
	RI_OFFLINE,		/* host went offline, or its command got
				 * no answer in time (cause says) */
	RI_PAUSE,		/* operator: pause */
	RI_RESUME,		/* operator: resume */
	RI_ABORT,		/* operator: abort */
	RI_RESOLVE_FAILED,	/* the image's tag could not be resolved
				 * (cause): a planned deployment fails
				 * before anything is sent */
	RI_VERDICT,		/* an interval judged (verdict; cause: its
				 * figures in words) */
	RI_PROMOTE,		/* operator: skip the canary's steps left */
	RI_ROLLBACK,		/* operator: put a canary or blue-green
				 * back (switch back) */
};

struct rollout_event {
	enum rollout_input input;
	size_t host;		/* for host inputs */
	const char *cause;	/* for failures, may be NULL */
	enum rollout_verdict verdict;	/* RI_VERDICT */
};

/*
 * rollout_plan fills r (state planned, hosts RH_WAITING) for names (the
 * selected, online, accepted hosts, in a stable order) with the spec's
 * batch (count; or percent when batch_percent, of the host count, rounded
 * down, at least 1), canary (the first batch's size when not 0),
 * max_failures, on_failure and pause.
 * had_previous[i] says whether host i runs a previous revision (NULL: none
 * does).  Hosts keep their order: batch 0 is the first `canary` hosts when
 * canary is not 0, the rest go in batches of the batch size.  Returns 0;
 * or FERR_ARG with the reason in why (no hosts match, batch 0, percent
 * outside 1..100, canary above the host count, a name too long, an unknown
 * on_failure), or FERR_NOMEM, and r zeroed.  r->hosts is heap:
 * rollout_free releases it.
 */
int rollout_plan(struct rollout *r, const char *const *names,
    const int *had_previous, size_t n, uint32_t batch, int batch_percent,
    uint32_t canary, uint32_t max_failures,
    enum rollout_on_failure on_failure, uint64_t pause_ms, char *why,
    size_t whylen);

/*
 * rollout_set_canary makes r, just planned (its batch 0 the canary hosts,
 * or every host for blue-green), a canary or blue-green deployment with
 * plan c; ferryd calls it again with the same plan when it resumes one.
 * Returns 0, or FERR_ARG with the reason in why (no steps, too many, a
 * weight above 100, a judged plan without interval or failure_limit, a
 * blue-green whose batch 0 is not every host) and r unchanged.
 */
int rollout_set_canary(struct rollout *r, const struct rollout_canary *c,
    char *why, size_t whylen);

/* rollout_canary_format writes plan c as one line of text for the store
 * (at most ROLLOUT_CANARY_TEXT bytes with its NUL; "" for rolling);
 * rollout_canary_parse reads it back: 0, or FERR_MALFORMED and c zeroed.
 * rollout_canary_parse("") is a rolling plan. */
#define ROLLOUT_CANARY_TEXT	1024
void rollout_canary_format(const struct rollout_canary *c, char *buf,
    size_t len);
int rollout_canary_parse(const char *text, struct rollout_canary *c);

/* rollout_judged: r's current step (or, past its steps, its batches) has
 * its intervals judged. */
int rollout_judged(const struct rollout *r);

/* rollout_copy makes dst a copy of src with hosts of its own (the shell
 * steps a copy, and keeps it only once its record has committed).  0, or
 * FERR_NOMEM and dst zeroed. */
int rollout_copy(struct rollout *dst, const struct rollout *src);

/* rollout_free releases r's hosts; safe on a zeroed rollout. */
void rollout_free(struct rollout *r);

/*
 * rollout_step applies ev at now_ms and writes up to max decisions into
 * out, returning how many (it never needs more than
 * ROLLOUT_DECISIONS(nhosts), and max must be at least that).  Inputs that make no sense in the current state
 * (a result for a host not in flight, resume when not paused, a host index
 * out of range) change nothing and return 0.  *wake_ms (may be NULL) is
 * set to when the engine wants an RI_TICK next (0: only on an event).  A
 * planned deployment waits for its first RI_TICK.  now_ms must not go
 * backwards.
 */
size_t rollout_step(struct rollout *r, const struct rollout_event *ev,
    uint64_t now_ms, struct rollout_decision *out, size_t max,
    uint64_t *wake_ms);

/* rollout_check returns 1 when r is consistent: states in range, at most
 * batch_size hosts SWAPPING or REVERTING at once, failures counted right. */
int rollout_check(const struct rollout *r);

/* rollout_flags packs the engine's boolean fields that struct rollout
 * keeps beyond those with columns of their own (today r->flags: the
 * ROLLOUT_PAUSING request), for the store; rollout_set_flags restores
 * them, ignoring bits it does not know.  0 when there are none. */
uint64_t rollout_flags(const struct rollout *r);
/* (ROLLOUT_JUDGING is not restored: nobody is judging after a restart.) */
void rollout_set_flags(struct rollout *r, uint64_t flags);

/* Names for logs, events and the CLI. */
const char *rollout_state_name(enum rollout_state s);
const char *rollout_host_state_name(enum rollout_host_state s);

/* rollout_finished: succeeded, failed, rolled back or aborted. */
int rollout_finished(const struct rollout *r);

#endif
