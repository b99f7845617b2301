/* SPDX-License-Identifier: Apache-2.0 */
/* swapsm.h: the state machine of one swap (or rollback) of a service on
 * the agent, its pure core.  struct swapsm holds where the swap is and what
 * it has made of the service's containers; swapsm_step() takes one thing
 * that happened (a Docker step done, the journal written, a revert done)
 * and moves it on, or refuses.  It does no I/O: swap.c's worker does the
 * Docker calls and the journal writes around it, and the unit tests drive
 * it through every transition.
 *
 * States, in order:
 *
 *	begin -> created -> [stopped] -> started -> healthy -> done
 *	(a weighted swap: healthy -> done with the old one still running)
 *	begin | created | stopped | started | healthy -> reverted
 *
 * - begin (a swap only): the new container's name is chosen (new_name),
 *   nothing is made yet; new_id may already name a kept, stopped container
 *   of this very revision, to be started again as it is.  The old one
 *   (old_id, "" when nothing ran) runs.
 * - created: the new container exists (new_id), stopped; the old one runs.
 *   A rollback starts here: its kept container exists already.
 * - stopped: the old one is stopped, the new one not started: nothing of
 *   the service runs.  Only with an old container and order stop-first.
 *   A rollback is stop-first, or start-first when ferry-proxy moves the
 *   traffic (the kept one starts beside the one that runs).
 * - started: the new one runs and its health is judged; the old one runs
 *   beside it under start-first, is stopped under stop-first.
 * - healthy: the new one passed its health check; only tidying is left.
 * - done: tidied: the new one runs, the old one is stopped; or, for a
 *   weighted swap (shared), the two run side by side and ferry-proxy
 *   splits the traffic between them.
 * - reverted: the swap gave up: the new one no longer runs, and the old
 *   one was started again (old_runs says whether that worked).
 *
 * begin .. healthy are journalled: the agent's swap journal holds the
 * state's name (the "step" column, swapsm_state_name), so that an agent
 * killed mid-swap finishes (healthy) or reverts (any other) on restart.
 * done and reverted are not: the row goes once either is reached.
 *
 * Memory never runs ahead of the journal by more than one move: after each
 * move forward the shell writes the row and says so (SWI_RECORDED), and the
 * next move forward is refused until it has.  When a write fails the only
 * way on is back (SWI_REVERTED), which every journalled state allows,
 * recorded or not.
 *
 * Invariants, checked by swapsm_check() after every move: the state's
 * containers are as it says (above), so that under stop-first at most one
 * of old and new runs at any time; new_id is set from created on; stopped
 * only with an old container under stop-first; a rollback is never in
 * begin; done leaves the old one running only when shared (start-first,
 * a swap); only a journalled state is ever recorded.
 */
#ifndef FERRY_SWAPSM_H
#define FERRY_SWAPSM_H

#define SWAPSM_ID_MAX	80	/* a container id + 1 */
#define SWAPSM_NAME_MAX	160	/* a container name + 1 */

enum swapsm_state {
	SWAPSM_BEGIN = 0,
	SWAPSM_CREATED,
	SWAPSM_STOPPED,
	SWAPSM_STARTED,
	SWAPSM_HEALTHY,
	SWAPSM_DONE,
	SWAPSM_REVERTED,
};

enum swapsm_kind {
	SWAPSM_SWAP = 0,	/* a new revision: created, or a kept one */
	SWAPSM_ROLLBACK,	/* the newest kept revision comes back */
};

enum swapsm_order {
	SWAPSM_STOP_FIRST = 0,	/* old stops, then new starts */
	SWAPSM_START_FIRST,	/* new starts beside old; old stops once the
				 * new one is healthy */
};

struct swapsm {
	enum swapsm_kind kind;
	enum swapsm_order order;
	enum swapsm_state state;
	int recorded;			/* the journal holds state */
	char old_id[SWAPSM_ID_MAX];	/* what ran before, or "" */
	char new_id[SWAPSM_ID_MAX];	/* what is brought up, or "" */
	char new_name[SWAPSM_NAME_MAX];
	/* The service's containers as the swap has left them. */
	int old_runs;
	int new_runs;
	int shared;			/* done with both running (weighted) */
};

/* What happened, fed to swapsm_step one at a time. */
enum swapsm_input {
	SWI_RECORDED,		/* the journal holds the current state */
	SWI_CREATED,		/* begin -> created: new_id exists */
	SWI_OLD_STOPPED,	/* created -> stopped */
	SWI_NEW_STARTED,	/* created | stopped -> started */
	SWI_HEALTHY,		/* started -> healthy */
	SWI_TIDIED,		/* healthy -> done: the old one stopped */
	SWI_SHARED,		/* healthy -> done: the old one runs on beside
				 * the new one (a weighted start-first swap) */
	SWI_REVERTED,		/* begin .. healthy -> reverted: the new one
				 * stopped, the old one started again when
				 * old_runs */
};

struct swapsm_event {
	enum swapsm_input input;
	const char *new_id;	/* SWI_CREATED: the new container's id */
	int old_runs;		/* SWI_REVERTED: the old one runs again */
};

/*
 * swapsm_init fills sm for a swap (state begin; new_id "" or the kept
 * container of this revision to start again) or a rollback (state
 * created; new_id the kept container it brings back),
 * neither recorded yet.  old_id is the container that runs now ("" for
 * none).  Returns 0, or FERR_ARG (an id or the name too long, the name
 * empty, new_id the same as old_id, a rollback without new_id, an unknown
 * kind or order) with sm zeroed.
 */
int swapsm_init(struct swapsm *sm, enum swapsm_kind kind,
    enum swapsm_order order, const char *old_id, const char *new_id,
    const char *new_name);

/*
 * swapsm_step applies ev.  Returns 0 when it moved; FERR_STATE, sm
 * unchanged, when the input does not apply in this state (a move forward
 * from a state not yet recorded, SWI_RECORDED twice or after the end,
 * stopping an old container there is none of or under start-first,
 * sharing under stop-first, in a rollback or with no old container,
 * starting the new one while the old one still runs under stop-first,
 * anything after done or reverted); FERR_ARG, sm unchanged, for a bad
 * argument (SWI_CREATED without an id, with one too long or the old
 * one's, SWI_REVERTED with old_runs and no old container, an unknown
 * input).
 */
int swapsm_step(struct swapsm *sm, const struct swapsm_event *ev);

/* swapsm_check returns 1 when sm is consistent (the invariants above),
 * 0 otherwise; a zeroed struct swapsm is not (it has no name). */
int swapsm_check(const struct swapsm *sm);

/* swapsm_journalled: s is one the journal holds (begin .. healthy). */
int swapsm_journalled(enum swapsm_state s);

/* Names, for the journal's columns and for logs: "begin", "created",
 * "stopped", "started", "healthy" (as the journal has always spelt them),
 * "done", "reverted"; "swap", "rollback".  "unknown" out of range. */
const char *swapsm_state_name(enum swapsm_state s);
const char *swapsm_kind_name(enum swapsm_kind k);

/*
 * swapsm_parse_step reads a journal row's step back: 0 and *out for the
 * name of a journalled state, exactly as swapsm_state_name spells it;
 * FERR_MALFORMED, *out untouched, for anything else (done and reverted
 * are never journalled).  swapsm_parse_kind likewise for the kind.
 */
int swapsm_parse_step(const char *name, enum swapsm_state *out);
int swapsm_parse_kind(const char *name, enum swapsm_kind *out);

#endif
