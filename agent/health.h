/* SPDX-License-Identifier: Apache-2.0 */
/* health.h: judging a new container's health over time (pure), and the
 * probes that produce each observation. */
#ifndef FERRY_HEALTH_H
#define FERRY_HEALTH_H

#include <stddef.h>
#include <stdint.h>

/* The pause between checks until a new container's check first passes,
 * when the spec does not say (never above the interval). */
#define HEALTH_START_INTERVAL_MS 100

/* How a service's health is judged; durations in milliseconds. */
struct health_policy {
	uint32_t interval_ms;		/* between checks */
	uint32_t start_interval_ms;	/* between checks until one passes */
	uint32_t timeout_ms;		/* one check */
	uint32_t start_period_ms;	/* failures before this do not count */
	uint32_t healthy_threshold;	/* consecutive passes: healthy */
	uint32_t unhealthy_threshold;	/* consecutive counted failures */
	uint32_t deadline_ms;		/* not healthy by then: failed */
	uint32_t min_healthy_ms;	/* watched this long after passing */
};

enum health_verdict {
	HEALTH_WAIT,		/* check again at next_ms */
	HEALTH_PASSED,		/* healthy, and stayed so for min_healthy */
	HEALTH_FAILED,		/* why says so */
};

/*
 * The judge of one container's health.  Times are milliseconds on any
 * clock that only moves forward, given by the caller: the judge reads no
 * clock and does no I/O, so tests drive it without sleeping.
 *
 *	starting --(healthy_threshold passes)--> healthy
 *	starting --(unhealthy_threshold counted failures | deadline | exit)-->
 *	    failed
 *	healthy --(min_healthy elapsed)--> passed
 *	healthy --(unhealthy_threshold failures | exit)--> failed
 *
 * Until a check first passes, checks are due every start_interval, so
 * that a container which comes up between two intervals is seen healthy
 * at once.  Only success is seen sooner: the checks keep a beat of
 * interval, and only a check on the beat can count as a failure.  The
 * first check is on the beat, and so is every pass; a later check is on
 * it when interval has passed since the last check on it (checks without
 * an answer yet keep the beat too).  A failure off the beat counts for
 * nothing, so a container that never comes up fails at the same check as
 * with every check interval apart.  After the first pass, checks are due
 * every interval, each one on the beat.  Without a start period, once a
 * failure has counted, a fast check is due at the next beat when that
 * comes before start_interval has passed, so that checks which take time
 * do not make the beat slip by a start_interval each time.
 *
 * A failure on the beat counts once start_period has passed since the
 * start, or once the container has been healthy.  A pass resets the
 * failure count and any failure the pass count.
 */
struct health_judge {
	struct health_policy p;
	uint64_t started_ms;
	int healthy;			/* passed healthy_threshold */
	uint64_t healthy_since_ms;
	uint32_t passes, fails;
	uint32_t checks;
	int passed;			/* a check has passed: every interval */
	uint32_t beats;			/* checks on the beat */
	uint64_t beat_ms;		/* the last check on the beat */
	int on_beat;			/* the last check was on the beat */
	uint64_t next_ms;		/* when to check next */
	enum health_verdict verdict;
	char why[256];			/* the cause of a failure */
};

/* health_policy_check says what is wrong with p (thresholds of 0, a
 * start_interval of 0 or above the interval, a min_healthy not below the
 * deadline, ...) in why, or returns 0. */
int
health_policy_check(const struct health_policy *p, char *why, size_t len);

/* health_start_interval is the start_interval of a policy: given, or
 * when 0 (a spec that does not say, or a coordinator from before the
 * setting) HEALTH_START_INTERVAL_MS, or interval_ms when that is less.
 * A given one above the interval is left for health_policy_check to
 * refuse. */
uint32_t
health_start_interval(uint32_t given, uint32_t interval_ms);

/* health_start begins judging a container started at now_ms; its first
 * check is due at once. */
void
health_start(struct health_judge *j, const struct health_policy *p,
    uint64_t now_ms);

/*
 * health_observe records one check made at now_ms (ok, and output: what
 * the probe said, for the cause of a failure) and returns the verdict.
 * Afterwards on_beat says whether the check was on the beat (worth
 * reporting), and next_ms when the next check is due.
 */
enum health_verdict
health_observe(struct health_judge *j, uint64_t now_ms, int ok,
    const char *output);

/* health_pending records a check made at now_ms that has no answer yet
 * (Docker's own check still starting): it counts neither way, and the next
 * check is due at the current cadence. */
enum health_verdict
health_pending(struct health_judge *j, uint64_t now_ms);

/* health_exited records that the container exited with code. */
enum health_verdict
health_exited(struct health_judge *j, uint64_t now_ms, int code);

/* health_tick checks the clock alone (deadline, min_healthy) without a
 * new observation. */
enum health_verdict
health_tick(struct health_judge *j, uint64_t now_ms);

/*
 * Live health: a running container judged between deployments by the
 * same check, on the same thresholds, as a flip-flop rather than a gate.
 * unknown --(healthy_threshold passes)--> healthy; unknown or healthy
 * --(unhealthy_threshold failures)--> unhealthy; unhealthy
 * --(healthy_threshold passes)--> healthy.  A pass resets the failure
 * count and a failure the pass count.  Pure: handed the time, no I/O.
 */
enum health_live_state {
	HEALTH_LIVE_UNKNOWN,		/* not judged yet: say nothing */
	HEALTH_LIVE_HEALTHY,
	HEALTH_LIVE_UNHEALTHY,
};

struct health_live {
	uint32_t healthy_threshold, unhealthy_threshold;
	enum health_live_state state;
	uint32_t passes, fails;
	uint64_t since_ms;		/* when state last changed */
	char output[160];		/* the last failed check's output */
};

/* health_live_start begins judging a running container on p's
 * thresholds, its state unknown. */
void
health_live_start(struct health_live *l, const struct health_policy *p);

/* health_live_observe records one check made at now_ms (ok; output: what
 * the probe said) and returns 1 when the state changed, else 0. */
int
health_live_observe(struct health_live *l, uint64_t now_ms, int ok,
    const char *output);

/* health_live_text writes what a heartbeat says of it: "healthy",
 * "unhealthy: " and the check's output, or "" while unknown. */
void
health_live_text(const struct health_live *l, char *buf, size_t len);

#endif
