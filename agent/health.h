/* health.h: judging a new container's health over time (pure), and the
 * probes that produce each observation. */
#ifndef FERRY_HEALTH_H
#define FERRY_HEALTH_H

#include <stddef.h>
#include <stdint.h>

/* How a service's health is judged; durations in milliseconds. */
struct health_policy {
	uint32_t interval_ms;		/* between checks */
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
 * A failure counts once start_period has passed since the start, or once
 * the container has been healthy.  A pass resets the failure count and a
 * failure the pass count.
 */
struct health_judge {
	struct health_policy p;
	uint64_t started_ms;
	int healthy;			/* passed healthy_threshold */
	uint64_t healthy_since_ms;
	uint32_t passes, fails;
	uint32_t checks;
	uint64_t next_ms;		/* when to check next */
	enum health_verdict verdict;
	char why[256];			/* the cause of a failure */
};

/* health_policy_check says what is wrong with p (thresholds of 0, a
 * min_healthy not below the deadline, ...) in why, or returns 0. */
int
health_policy_check(const struct health_policy *p, char *why, size_t len);

/* health_start begins judging a container started at now_ms; its first
 * check is due at once. */
void
health_start(struct health_judge *j, const struct health_policy *p,
    uint64_t now_ms);

/*
 * health_observe records one check made at now_ms (ok, and output: what
 * the probe said, for the cause of a failure) and returns the verdict.
 */
enum health_verdict
health_observe(struct health_judge *j, uint64_t now_ms, int ok,
    const char *output);

/* health_exited records that the container exited with code. */
enum health_verdict
health_exited(struct health_judge *j, uint64_t now_ms, int code);

/* health_tick checks the clock alone (deadline, min_healthy) without a
 * new observation. */
enum health_verdict
health_tick(struct health_judge *j, uint64_t now_ms);

#endif
