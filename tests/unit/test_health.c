// links: agent/health.c
/* test_health.c: the health judge, driven by a fake clock. */
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "health.h"

static struct health_policy
policy(void)
{
	struct health_policy p = {
		.interval_ms = 1000, .timeout_ms = 1000, .start_period_ms = 0,
		.healthy_threshold = 1, .unhealthy_threshold = 3,
		.deadline_ms = 60000, .min_healthy_ms = 5000,
	};
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
