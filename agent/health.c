/* SPDX-License-Identifier: Apache-2.0 */
/* health.c: the health judge: thresholds, start period, the fast start
 * cadence, deadline and the min_healthy watch, as a pure state machine. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ferr.h"
#include "health.h"

int
health_policy_check(const struct health_policy *p, char *why, size_t len)
{
	if (p->interval_ms == 0)
		snprintf(why, len, "health interval must be above 0");
	else if (p->start_interval_ms == 0)
		snprintf(why, len, "health start_interval must be above 0");
	else if (p->start_interval_ms > p->interval_ms)
		snprintf(why, len, "health start_interval (%u ms) must not be "
		    "above the interval (%u ms)", p->start_interval_ms,
		    p->interval_ms);
	else if (p->timeout_ms == 0)
		snprintf(why, len, "health timeout must be above 0");
	else if (p->healthy_threshold == 0)
		snprintf(why, len, "healthy_threshold must be at least 1");
	else if (p->unhealthy_threshold == 0)
		snprintf(why, len, "unhealthy_threshold must be at least 1");
	else if (p->deadline_ms == 0)
		snprintf(why, len, "health deadline must be above 0");
	else if (p->min_healthy_ms >= p->deadline_ms)
		snprintf(why, len, "min_healthy (%u ms) must be below the "
		    "deadline (%u ms)", p->min_healthy_ms, p->deadline_ms);
	else
		return 0;
	return FERR_ARG;
}

uint32_t
health_start_interval(uint32_t given, uint32_t interval_ms)
{
	if (given != 0)
		return given;
	return interval_ms < HEALTH_START_INTERVAL_MS ? interval_ms :
	    HEALTH_START_INTERVAL_MS;
}

void
health_start(struct health_judge *j, const struct health_policy *p,
    uint64_t now_ms)
{
	memset(j, 0, sizeof(*j));
	j->p = *p;
	j->started_ms = now_ms;
	j->next_ms = now_ms;	/* the first check runs at once */
	j->verdict = HEALTH_WAIT;
}

/* beat: whether a check at now_ms (a pass when ok) is on the beat. */
static void
beat(struct health_judge *j, uint64_t now_ms, int ok)
{
	j->on_beat = ok || j->beats == 0 ||
	    now_ms - j->beat_ms >= j->p.interval_ms;
	if (j->on_beat) {
		j->beat_ms = now_ms;
		j->beats++;
	}
}

/* schedule: the next check, at the cadence of the moment.  Before the
 * first pass, once a failure has counted, the fast check due next is
 * moved up to the next beat when that comes sooner: the failures that
 * follow then count an interval apart, not up to a start_interval (and
 * the time of the checks themselves) more each time.  Only without a
 * start period: with one, the first counted failure may come sooner than
 * with checks an interval apart (the first beat past the start period
 * need not fall on their grid), and the beat is left to slip as it did,
 * which makes up for that. */
static void
schedule(struct health_judge *j, uint64_t now_ms)
{
	uint64_t beat = j->beat_ms + j->p.interval_ms;

	j->next_ms = now_ms + (j->passed ? j->p.interval_ms :
	    j->p.start_interval_ms);
	if (!j->passed && j->fails > 0 && j->p.start_period_ms == 0 &&
	    beat > now_ms && beat < j->next_ms)
		j->next_ms = beat;
}

/* fail judges the container failed, why given as printf would write it. */
static enum health_verdict
fail(struct health_judge *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum health_verdict
fail(struct health_judge *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
	j->verdict = HEALTH_FAILED;
	return j->verdict;
}

enum health_verdict
health_tick(struct health_judge *j, uint64_t now_ms)
{
	if (j->verdict != HEALTH_WAIT)
		return j->verdict;
	if (j->healthy) {
		if (now_ms - j->healthy_since_ms >= j->p.min_healthy_ms)
			j->verdict = HEALTH_PASSED;
		return j->verdict;
	}
	if (now_ms - j->started_ms >= j->p.deadline_ms)
		return fail(j, "not healthy within the deadline (%u ms)",
		    (unsigned)j->p.deadline_ms);
	return j->verdict;
}

enum health_verdict
health_observe(struct health_judge *j, uint64_t now_ms, int ok,
    const char *output)
{
	int counts;

	if (j->verdict != HEALTH_WAIT)
		return j->verdict;
	beat(j, now_ms, ok);
	j->checks++;
	if (ok)
		j->passed = 1;
	schedule(j, now_ms);
	if (ok) {
		j->fails = 0;
		if (!j->healthy && ++j->passes >= j->p.healthy_threshold) {
			j->healthy = 1;
			j->healthy_since_ms = now_ms;
		}
		return health_tick(j, now_ms);
	}
	j->passes = 0;
	counts = j->on_beat && (j->healthy ||
	    now_ms - j->started_ms >= j->p.start_period_ms);
	if (counts && ++j->fails >= j->p.unhealthy_threshold) {
		if (j->healthy)
			return fail(j, "turned unhealthy within min_healthy: "
			    "%s", output ? output : "check failed");
		return fail(j, "unhealthy: %s", output ? output :
		    "check failed");
	}
	return health_tick(j, now_ms);
}

enum health_verdict
health_pending(struct health_judge *j, uint64_t now_ms)
{
	if (j->verdict != HEALTH_WAIT)
		return j->verdict;
	beat(j, now_ms, 0);
	schedule(j, now_ms);
	return health_tick(j, now_ms);
}

enum health_verdict
health_exited(struct health_judge *j, uint64_t now_ms, int code)
{
	(void)now_ms;
	if (j->verdict != HEALTH_WAIT)
		return j->verdict;
	return fail(j, "container exited with code %d", code);
}

void
health_live_start(struct health_live *l, const struct health_policy *p)
{
	memset(l, 0, sizeof(*l));
	l->healthy_threshold = p->healthy_threshold ? p->healthy_threshold :
	    1;
	l->unhealthy_threshold = p->unhealthy_threshold ?
	    p->unhealthy_threshold : 1;
	l->state = HEALTH_LIVE_UNKNOWN;
}

int
health_live_observe(struct health_live *l, uint64_t now_ms, int ok,
    const char *output)
{
	enum health_live_state was = l->state;

	if (ok) {
		l->fails = 0;
		if (l->state != HEALTH_LIVE_HEALTHY &&
		    ++l->passes >= l->healthy_threshold)
			l->state = HEALTH_LIVE_HEALTHY;
	} else {
		l->passes = 0;
		/* The output of the latest failure: what is wrong now. */
		snprintf(l->output, sizeof(l->output), "%s", output != NULL &&
		    output[0] != '\0' ? output : "check failed");
		if (l->state != HEALTH_LIVE_UNHEALTHY &&
		    ++l->fails >= l->unhealthy_threshold)
			l->state = HEALTH_LIVE_UNHEALTHY;
	}
	if (l->state == was)
		return 0;
	l->since_ms = now_ms;
	return 1;
}

void
health_live_text(const struct health_live *l, char *buf, size_t len)
{
	switch (l->state) {
	case HEALTH_LIVE_HEALTHY:
		snprintf(buf, len, "healthy");
		break;
	case HEALTH_LIVE_UNHEALTHY:
		snprintf(buf, len, "unhealthy: %s", l->output);
		break;
	default:
		snprintf(buf, len, "%s", "");
		break;
	}
}
