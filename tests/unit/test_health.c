/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/health.c
/* test_health.c: the health judge, driven by a fake clock.  policy()
 * checks every interval from the start (start_interval = interval, the
 * judge as it was before start_interval); fast() checks every 100 ms
 * until the first pass. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "health.h"

static struct health_policy
policy(void)
{
	struct health_policy p = {
		.interval_ms = 1000, .start_interval_ms = 1000,
		.timeout_ms = 1000, .start_period_ms = 0,
		.healthy_threshold = 1, .unhealthy_threshold = 3,
		.deadline_ms = 60000, .min_healthy_ms = 5000,
	};
	return p;
}

static struct health_policy
fast(void)
{
	struct health_policy p = policy();

	p.start_interval_ms = 100;
	return p;
}

Test(health, first_check_is_due_at_once)
{
	struct health_policy p = policy();
	struct health_judge j;

	health_start(&j, &p, 1000);
	cr_assert_eq(j.next_ms, 1000);
	cr_assert_eq(health_observe(&j, 1000, 1, "HTTP 200"), HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 2000, "next check one interval later");
}

Test(health, passes_after_min_healthy)
{
	struct health_policy p = policy();
	struct health_judge j;

	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 4000, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(health_tick(&j, 4999), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 5000, 1, "ok"), HEALTH_PASSED);
}

Test(health, min_healthy_zero_passes_on_first_healthy)
{
	struct health_policy p = policy();
	struct health_judge j;

	p.min_healthy_ms = 0;
	p.healthy_threshold = 2;
	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 1000, 1, "ok"), HEALTH_PASSED);
}

Test(health, consecutive_failures_fail_early_not_at_deadline)
{
	struct health_policy p = policy();
	struct health_judge j;

	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 0, "HTTP 500 on /health"),
	    HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 1000, 0, "HTTP 500 on /health"),
	    HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 2000, 0, "HTTP 500 on /health"),
	    HEALTH_FAILED);
	cr_assert(strstr(j.why, "HTTP 500 on /health") != NULL, "%s", j.why);
}

Test(health, a_pass_resets_the_failure_count)
{
	struct health_policy p = policy();
	struct health_judge j;

	p.healthy_threshold = 3;
	health_start(&j, &p, 0);
	health_observe(&j, 0, 0, "x");
	health_observe(&j, 1000, 0, "x");
	health_observe(&j, 2000, 1, "ok");
	cr_assert_eq(health_observe(&j, 3000, 0, "x"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 4000, 0, "x"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 5000, 0, "x"), HEALTH_FAILED);
}

Test(health, failures_in_start_period_do_not_count)
{
	struct health_policy p = policy();
	struct health_judge j;

	p.start_period_ms = 10000;
	health_start(&j, &p, 0);
	for (int t = 0; t < 10000; t += 1000)
		cr_assert_eq(health_observe(&j, (uint64_t)t, 0, "refused"),
		    HEALTH_WAIT, "failed at %d inside start period", t);
	cr_assert_eq(health_observe(&j, 10000, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 11000, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 12000, 0, "refused"), HEALTH_FAILED);
}

Test(health, deadline_fails_a_container_never_healthy)
{
	struct health_policy p = policy();
	struct health_judge j;

	p.start_period_ms = 60000;	/* failures never count */
	p.deadline_ms = 10000;
	p.min_healthy_ms = 0;
	health_start(&j, &p, 100);
	cr_assert_eq(health_observe(&j, 100, 0, "x"), HEALTH_WAIT);
	cr_assert_eq(health_tick(&j, 10099), HEALTH_WAIT);
	cr_assert_eq(health_tick(&j, 10100), HEALTH_FAILED);
	cr_assert(strstr(j.why, "deadline") != NULL, "%s", j.why);
}

Test(health, turning_unhealthy_within_min_healthy_fails)
{
	struct health_policy p = policy();
	struct health_judge j;

	p.unhealthy_threshold = 2;
	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 1000, 0, "HTTP 503"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 2000, 0, "HTTP 503"), HEALTH_FAILED);
	cr_assert(strstr(j.why, "min_healthy") != NULL, "%s", j.why);
	/* The verdict is final. */
	cr_assert_eq(health_observe(&j, 3000, 1, "ok"), HEALTH_FAILED);
}

Test(health, exit_fails_at_once_even_when_healthy)
{
	struct health_policy p = policy();
	struct health_judge j;

	health_start(&j, &p, 0);
	health_observe(&j, 0, 1, "ok");
	cr_assert_eq(health_exited(&j, 500, 137), HEALTH_FAILED);
	cr_assert(strstr(j.why, "exited with code 137") != NULL, "%s", j.why);
}

Test(health, policy_check_names_the_problem)
{
	struct health_policy p = policy();
	char why[200];

	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), 0);
	p.min_healthy_ms = p.deadline_ms;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "min_healthy") != NULL, "%s", why);
	p = policy();
	p.unhealthy_threshold = 0;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "unhealthy_threshold") != NULL, "%s", why);
	p = policy();
	p.interval_ms = 0;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), FERR_ARG);
}

/* ---- start_interval: success seen sooner, failure no sooner ---------- */

Test(health, success_seen_at_the_start_interval)
{
	struct health_policy p = fast();
	struct health_judge j;

	p.min_healthy_ms = 0;
	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 0, "connection refused"),
	    HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 100, "next check after start_interval");
	cr_assert_eq(health_observe(&j, 100, 0, "connection refused"),
	    HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 200);
	cr_assert_eq(health_observe(&j, 200, 1, "HTTP 200"), HEALTH_PASSED,
	    "the pass at 200 ms is seen at 200 ms, not at 1 s");
}

Test(health, after_the_first_pass_checks_every_interval)
{
	struct health_policy p = fast();
	struct health_judge j;

	p.healthy_threshold = 2;
	health_start(&j, &p, 0);
	health_observe(&j, 0, 0, "refused");
	cr_assert_eq(health_observe(&j, 300, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(j.healthy, 0);
	cr_assert_eq(j.next_ms, 1300, "after a pass: the interval");
	/* A failure after it does not bring the fast checks back, and
	 * resets the passes. */
	cr_assert_eq(health_observe(&j, 1300, 0, "HTTP 503"), HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 2300);
	cr_assert_eq(j.passes, 0);
	cr_assert_eq(health_observe(&j, 2300, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(j.healthy, 0, "healthy_threshold 2: one pass is not "
	    "enough");
	cr_assert_eq(health_observe(&j, 3300, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(j.healthy, 1);
	cr_assert_eq(j.healthy_since_ms, 3300);
}

Test(health, failures_between_beats_do_not_count)
{
	struct health_policy p = fast();
	struct health_judge j;

	health_start(&j, &p, 0);
	cr_assert_eq(health_observe(&j, 0, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(j.on_beat, 1, "the first check is on the beat");
	cr_assert_eq(j.fails, 1);
	for (uint64_t t = 100; t < 1000; t += 100) {
		cr_assert_eq(health_observe(&j, t, 0, "refused"), HEALTH_WAIT);
		cr_assert_eq(j.on_beat, 0, "check at %llu ms on the beat",
		    (unsigned long long)t);
		cr_assert_eq(j.fails, 1, "failure at %llu ms counted",
		    (unsigned long long)t);
	}
	cr_assert_eq(health_observe(&j, 1000, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(j.on_beat, 1);
	cr_assert_eq(j.fails, 2);
	/* Late fast checks: the beat is an interval since the last beat,
	 * not a multiple of it from the start. */
	cr_assert_eq(health_observe(&j, 1950, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(j.fails, 2);
	cr_assert_eq(health_observe(&j, 2070, 0, "refused"), HEALTH_FAILED);
	cr_assert(strstr(j.why, "refused") != NULL, "%s", j.why);
}

/* Checks that take 7 ms each: once a failure counted, the fast checks
 * land on the beat, so the beat keeps to its interval (each counted
 * failure still an interval after the one before, plus the check's own
 * time), rather than slipping to the first fast check past it, some 60 ms
 * later each time. */
Test(health, fast_checks_keep_the_beat_on_time)
{
	struct health_policy p = fast();
	struct health_judge j;
	uint64_t t = 0, last = 0;
	uint32_t fails = 0;
	enum health_verdict v = HEALTH_WAIT;

	health_start(&j, &p, 0);
	while (v == HEALTH_WAIT && t < 10000) {
		t += 7;		/* the check's own time */
		v = health_observe(&j, t, 0, "HTTP 404");
		if (j.fails > fails || v == HEALTH_FAILED) {
			if (fails > 0)
				cr_assert_geq(t - last, p.interval_ms);
			last = t;
			fails = j.fails;
		}
		t = j.next_ms;
	}
	cr_assert_eq(v, HEALTH_FAILED);
	cr_assert_eq(last, 7 + 2 * (p.interval_ms + 7),
	    "the third failure counted at %llu ms",
	    (unsigned long long)last);
}

/* fail_at drives a judge whose every check fails, each made when due
 * plus jitter_ms, and returns when it failed (UINT64_MAX: not in 10
 * minutes).  On
 * the way it checks that each counted failure came at least an interval
 * after the one before, and none inside the start period. */
static uint64_t
fail_at(const struct health_policy *p, uint64_t jitter_ms)
{
	struct health_judge j;
	uint64_t t = 0, last = 0;
	uint32_t fails = 0;
	enum health_verdict v;

	health_start(&j, p, 0);
	while (t < 600000) {
		v = health_observe(&j, t, 0, "refused");
		if (j.fails > fails || v == HEALTH_FAILED) {
			cr_assert_geq(t, p->start_period_ms, "counted at %llu "
			    "ms, inside the start period",
			    (unsigned long long)t);
			if (fails > 0)
				cr_assert_geq(t - last, p->interval_ms,
				    "counted at %llu ms and %llu ms",
				    (unsigned long long)last,
				    (unsigned long long)t);
			last = t;
			fails = j.fails;
		}
		if (v == HEALTH_FAILED)
			return t;
		cr_assert_gt(j.next_ms, t);
		t = j.next_ms + jitter_ms;
	}
	return UINT64_MAX;
}

/* However the policy reads, a container that never comes up fails no
 * sooner with the fast checks than with checks an interval apart. */
Test(health, failures_counted_no_faster_than_the_interval)
{
	static const struct {
		uint32_t interval, start_period, unhealthy;
	} cases[] = {
		{ 1000, 0, 3 }, { 1000, 0, 1 }, { 1000, 2500, 3 },
		{ 1000, 10000, 3 }, { 300, 0, 3 }, { 300, 1000, 5 },
		{ 500, 200, 2 }, { 100, 0, 3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct health_policy slow = policy(), quick;
		uint64_t want, got;

		slow.interval_ms = cases[i].interval;
		slow.start_interval_ms = cases[i].interval;
		slow.start_period_ms = cases[i].start_period;
		slow.unhealthy_threshold = cases[i].unhealthy;
		quick = slow;
		quick.start_interval_ms = health_start_interval(0,
		    slow.interval_ms);
		want = fail_at(&slow, 0);
		cr_assert_neq(want, UINT64_MAX);
		/* On an exact clock, the very same moment. */
		got = fail_at(&quick, 0);
		cr_assert_eq(got, want, "case %zu: failed at %llu ms, checks "
		    "an interval apart at %llu ms", i,
		    (unsigned long long)got, (unsigned long long)want);
		/* Checks made late by odd amounts: never sooner. */
		for (uint64_t jit = 1; jit < 60; jit += 7) {
			got = fail_at(&quick, jit);
			cr_assert_geq(got, want, "case %zu jitter %llu: %llu "
			    "ms", i, (unsigned long long)jit,
			    (unsigned long long)got);
		}
	}
}

Test(health, start_period_holds_at_the_fast_cadence)
{
	struct health_policy p = fast();
	struct health_judge j;
	uint64_t t;

	p.start_period_ms = 2500;
	health_start(&j, &p, 0);
	for (t = 0; t < 5000; t += 100) {
		cr_assert_eq(health_observe(&j, t, 0, "refused"), HEALTH_WAIT,
		    "failed at %llu ms", (unsigned long long)t);
		cr_assert_eq(j.fails, t < 3000 ? 0u : t < 4000 ? 1u : 2u,
		    "at %llu ms: %u counted", (unsigned long long)t, j.fails);
	}
	cr_assert_eq(health_observe(&j, 5000, 0, "refused"), HEALTH_FAILED);
	/* A container that comes up inside the start period is seen
	 * at once. */
	health_start(&j, &p, 0);
	health_observe(&j, 0, 0, "refused");
	health_observe(&j, 100, 0, "refused");
	cr_assert_eq(health_observe(&j, 200, 1, "ok"), HEALTH_WAIT);
	cr_assert_eq(j.healthy, 1);
	cr_assert_eq(j.healthy_since_ms, 200);
}

Test(health, deadline_holds_at_the_fast_cadence)
{
	struct health_policy p = fast();
	struct health_judge j;
	uint64_t t;

	p.start_period_ms = 60000;	/* failures never count */
	p.deadline_ms = 3000;
	p.min_healthy_ms = 0;
	health_start(&j, &p, 0);
	for (t = 0; t < 3000; t += 100)
		cr_assert_eq(health_observe(&j, t, 0, "refused"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 3000, 0, "refused"), HEALTH_FAILED);
	cr_assert(strstr(j.why, "deadline") != NULL, "%s", j.why);
}

/* Docker's own check still starting: polled at the fast cadence, and the
 * beat kept from the first poll, so its first answer counts no sooner. */
Test(health, a_pending_check_keeps_the_beat)
{
	struct health_policy p = fast();
	struct health_judge j;

	health_start(&j, &p, 0);
	cr_assert_eq(health_pending(&j, 0), HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 100);
	cr_assert_eq(health_pending(&j, 100), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 200, 0, "docker health unhealthy"),
	    HEALTH_WAIT);
	cr_assert_eq(j.on_beat, 0);
	cr_assert_eq(j.fails, 0);
	cr_assert_eq(health_observe(&j, 1000, 0, "x"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 2000, 0, "x"), HEALTH_WAIT);
	cr_assert_eq(health_observe(&j, 3000, 0, "x"), HEALTH_FAILED,
	    "as when Docker's check was polled every interval");
	/* After a pass, pending polls wait the interval. */
	health_start(&j, &p, 0);
	health_observe(&j, 0, 1, "docker health healthy");
	cr_assert_eq(health_pending(&j, 1000), HEALTH_WAIT);
	cr_assert_eq(j.next_ms, 2000);
}

Test(health, start_interval_default_and_bounds)
{
	struct health_policy p = policy();
	char why[200];

	cr_assert_eq(health_start_interval(0, 1000), HEALTH_START_INTERVAL_MS);
	cr_assert_eq(HEALTH_START_INTERVAL_MS, 100);
	cr_assert_eq(health_start_interval(0, 40), 40, "never above the "
	    "interval");
	cr_assert_eq(health_start_interval(250, 1000), 250);
	/* One given above the interval is the check's to refuse. */
	cr_assert_eq(health_start_interval(2000, 1000), 2000);
	p.start_interval_ms = 2000;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "start_interval (2000 ms) must not be above "
	    "the interval (1000 ms)") != NULL, "%s", why);
	p.start_interval_ms = 0;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "start_interval") != NULL, "%s", why);
	p.start_interval_ms = p.interval_ms;
	cr_assert_eq(health_policy_check(&p, why, sizeof(why)), 0);
}

/* ---- live health: the judge between deployments ------------------------ */

static struct health_policy
live_policy(uint32_t up, uint32_t down)
{
	struct health_policy p = policy();

	p.healthy_threshold = up;
	p.unhealthy_threshold = down;
	return p;
}

Test(health_live, unknown_until_a_threshold_is_reached)
{
	struct health_policy p = live_policy(2, 3);
	struct health_live l;
	char t[200];

	health_live_start(&l, &p);
	health_live_text(&l, t, sizeof(t));
	cr_assert_str_eq(t, "", "nothing said before a verdict");
	cr_assert_eq(health_live_observe(&l, 10, 1, "HTTP 200 on /"), 0);
	cr_assert_eq(l.state, HEALTH_LIVE_UNKNOWN, "one pass of two");
	cr_assert_eq(health_live_observe(&l, 20, 1, "HTTP 200 on /"), 1);
	cr_assert_eq(l.state, HEALTH_LIVE_HEALTHY);
	cr_assert_eq(l.since_ms, 20);
	health_live_text(&l, t, sizeof(t));
	cr_assert_str_eq(t, "healthy");
}

Test(health_live, unhealthy_after_unhealthy_threshold_failures_in_a_row)
{
	struct health_policy p = live_policy(1, 3);
	struct health_live l;
	char t[200];

	health_live_start(&l, &p);
	cr_assert_eq(health_live_observe(&l, 0, 1, "ok"), 1);
	cr_assert_eq(health_live_observe(&l, 10, 0, "HTTP 500 on /health"),
	    0);
	cr_assert_eq(health_live_observe(&l, 20, 0, "HTTP 500 on /health"),
	    0);
	/* A pass in between starts the count again. */
	cr_assert_eq(health_live_observe(&l, 30, 1, "ok"), 0);
	cr_assert_eq(health_live_observe(&l, 40, 0, "HTTP 500 on /health"),
	    0);
	cr_assert_eq(health_live_observe(&l, 50, 0, "HTTP 500 on /health"),
	    0);
	cr_assert_eq(l.state, HEALTH_LIVE_HEALTHY, "two failures of three");
	cr_assert_eq(health_live_observe(&l, 60, 0, "HTTP 503 on /health"),
	    1);
	cr_assert_eq(l.state, HEALTH_LIVE_UNHEALTHY);
	cr_assert_eq(l.since_ms, 60);
	health_live_text(&l, t, sizeof(t));
	cr_assert_str_eq(t, "unhealthy: HTTP 503 on /health",
	    "the latest failure's output");
	/* Further failures keep it so, the output current, the since
	 * unmoved. */
	cr_assert_eq(health_live_observe(&l, 70, 0, "timeout on /health"),
	    0);
	health_live_text(&l, t, sizeof(t));
	cr_assert_str_eq(t, "unhealthy: timeout on /health");
	cr_assert_eq(l.since_ms, 60);
}

Test(health_live, healthy_again_after_healthy_threshold_passes)
{
	struct health_policy p = live_policy(2, 1);
	struct health_live l;
	char t[200];

	health_live_start(&l, &p);
	cr_assert_eq(health_live_observe(&l, 0, 0, NULL), 1);
	health_live_text(&l, t, sizeof(t));
	cr_assert_str_eq(t, "unhealthy: check failed", "no output given");
	cr_assert_eq(health_live_observe(&l, 10, 1, "ok"), 0);
	cr_assert_eq(l.state, HEALTH_LIVE_UNHEALTHY, "one pass of two");
	cr_assert_eq(health_live_observe(&l, 20, 0, "exit 1"), 0);
	cr_assert_eq(health_live_observe(&l, 30, 1, "ok"), 0);
	cr_assert_eq(health_live_observe(&l, 40, 1, "ok"), 1);
	cr_assert_eq(l.state, HEALTH_LIVE_HEALTHY);
	cr_assert_eq(l.since_ms, 40);
}

Test(health_live, thresholds_of_zero_count_as_one)
{
	struct health_policy p = live_policy(0, 0);
	struct health_live l;

	health_live_start(&l, &p);
	cr_assert_eq(health_live_observe(&l, 0, 0, "x"), 1);
	cr_assert_eq(l.state, HEALTH_LIVE_UNHEALTHY);
	cr_assert_eq(health_live_observe(&l, 1, 1, "ok"), 1);
	cr_assert_eq(l.state, HEALTH_LIVE_HEALTHY);
}
