/* SPDX-License-Identifier: Apache-2.0 */
/* drift.h: what a host runs against what it should run, and whether ferryd
 * catches it up on its own.  Pure: no ferryd, no store, no clock; the
 * shell (driftwatch.c) hands it the heartbeats' containers, the services'
 * current revisions and the time, and the unit tests drive it with
 * made-up hosts.
 *
 * What a host should run, per service: the service's current revision on
 * the hosts of the deployment that made it current (rolled to, or left out
 * because they were offline), one container, running and healthy.  A
 * service with a deployment in flight is not judged (two revisions beside
 * each other are its doing); an offline host is not judged either (what it
 * runs is not known). */
#ifndef FERRY_DRIFT_H
#define FERRY_DRIFT_H

#include <stddef.h>
#include <stdint.h>

/* Why a host drifted from what it should run, as an operator reads it. */
enum drift_cause {
	DRIFT_NONE = 0,
	DRIFT_MISSED,		/* offline during the deployment that made
				 * the revision current: runs an older one,
				 * or nothing */
	DRIFT_REVISION,		/* runs another revision than the current */
	DRIFT_REMOVED,		/* nothing runs where something should */
	DRIFT_STOPPED,		/* its container stopped, or exited */
	DRIFT_UNHEALTHY,	/* its container runs, unhealthy */
	DRIFT_EXTRA,		/* a container that should not run there */
};
#define DRIFT_CAUSE_LAST	DRIFT_EXTRA

/* A container as a heartbeat said (Container in ferry.proto). */
struct drift_container {
	const char *service;
	uint64_t revision;		/* 0: not labelled with one */
	const char *state;		/* Docker's: running, exited, ... */
	const char *health;		/* healthy, unhealthy, starting, "" */
	int exited;			/* exit_code is known */
	int exit_code;
	uint64_t unhealthy_since_ms;	/* wall clock, as ferryd first heard
					 * it unhealthy; 0: unknown */
};

/* A service ferryd knows on one host. */
struct drift_want {
	const char *service;
	uint64_t revision;		/* the current revision */
	uint64_t deployment;		/* the one that made it current */
	int here;			/* it should run on this host */
	int missed;			/* the host was offline during that
					 * deployment (left out, or counted
					 * failed as offline) */
	int missed_drained;		/* ... or left out as drained */
	int in_flight;			/* a deployment of it runs now */
};

#define DRIFT_TEXT_MAX	200

/* One finding: a service that drifted on a host, and why. */
struct drift_finding {
	const char *service;		/* points into the want */
	enum drift_cause cause;
	uint64_t runs;			/* the revision it runs (0: none) */
	uint64_t revision;		/* the current one */
	uint64_t deployment;		/* the want's */
	int drained;			/* DRIFT_MISSED: drained, not offline */
	char text[DRIFT_TEXT_MAX];	/* "offline during deployment 12;
					 * runs revision 3, current is 4" */
};

/*
 * drift_judge judges one online host: wants[0..nw) are the services ferryd
 * knows (each with whether it should run here), cs[0..nc) what the host's
 * last heartbeat said it runs.  Writes at most max findings to out, one
 * per service at most (the first cause in the order of enum drift_cause
 * that holds, but an extra container is named when nothing else is
 * wrong), and returns how many.  A container of a service ferryd does not
 * know at all is extra.
 */
size_t drift_judge(const struct drift_want *wants, size_t nw,
    const struct drift_container *cs, size_t nc,
    struct drift_finding *out, size_t max);

/* drift_cause_name: the cause's short stable name, for --json and
 * /metrics ("missed", "revision", "removed", "stopped", "unhealthy",
 * "extra"; "" for none). */
const char *drift_cause_name(enum drift_cause c);

/* What ferryd remembers of the last catch-up of a service on a host. */
struct drift_memo {
	enum drift_cause cause;
	uint64_t revision, deployment;	/* the finding's */
	uint64_t at_ms;			/* monotonic, when it started */
	int done;			/* it has ended ... */
	int failed;			/* ... and failed */
	uint64_t id;			/* its deployment */
};

/* Catch-up: the pace of attempts that succeeded (a container removed by
 * hand again and again is put back at most this often). */
#define DRIFT_CATCH_UP_SPACING_MS	30000

/* A finding is caught up only once it has lasted this long: a state seen
 * on one heartbeat (a container being replaced by hand, an agent settling
 * after its restart) moves nothing. */
#define DRIFT_SETTLE_MS			5000

/* drift_catch_up's answer. */
enum drift_verdict {
	DRIFT_CU_NO = 0,	/* not a cause catch-up mends */
	DRIFT_CU_GO,		/* catch the host up now */
	DRIFT_CU_OFF,		/* the spec says catch_up: off */
	DRIFT_CU_DRAINED,	/* the host is drained */
	DRIFT_CU_FAILED,	/* failed for this very cause: not again */
	DRIFT_CU_WAIT,		/* one ran just now, or runs */
};

/*
 * drift_catch_up decides whether finding f is caught up now (monotonic
 * now_ms): only a host that missed the deployment or whose container was
 * removed is, when the spec says catch_up: auto (auto_on), the host is not
 * drained, and the last attempt (memo, NULL: none) did not fail for the
 * same cause, revision and deployment; once per cause: a failed one waits
 * for a new deployment.  The finding must have lasted DRIFT_SETTLE_MS
 * (drifted_ms: how long it has, as the caller saw it).  why gets the
 * reason in words for a verdict other than DRIFT_CU_NO (GO: what the
 * catch-up is for).
 */
enum drift_verdict drift_catch_up(const struct drift_finding *f,
    const char *host, int auto_on, int drained,
    const struct drift_memo *memo, uint64_t drifted_ms, uint64_t now_ms,
    char *why, size_t whylen);

#endif
