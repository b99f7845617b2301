/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/drift.c
/* test_drift.c: every cause of drift on a made-up host, what is not drift,
 * and the catch-up decisions. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "drift.h"

static struct drift_want
want(const char *service, uint64_t rev, uint64_t dep)
{
	struct drift_want w;

	memset(&w, 0, sizeof(w));
	w.service = service;
	w.revision = rev;
	w.deployment = dep;
	w.here = 1;
	return w;
}

static struct drift_container
box(const char *service, uint64_t rev, const char *state, const char *health)
{
	struct drift_container c;

	memset(&c, 0, sizeof(c));
	c.service = service;
	c.revision = rev;
	c.state = state;
	c.health = health;
	return c;
}

static size_t
judge(const struct drift_want *w, size_t nw, const struct drift_container *c,
    size_t nc, struct drift_finding *f)
{
	return drift_judge(w, nw, c, nc, f, 8);
}

Test(drift, one_healthy_container_of_the_current_revision_is_no_drift)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c = box("web", 4, "running", "healthy");
	struct drift_finding f[8];

	cr_assert_eq(judge(&w, 1, &c, 1, f), 0);
	c.health = "";		/* no health known: not drift either */
	cr_assert_eq(judge(&w, 1, &c, 1, f), 0);
}

Test(drift, offline_during_a_deployment_names_it_and_what_runs)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c = box("web", 3, "running", "healthy");
	struct drift_finding f[8];

	w.missed = 1;
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_MISSED);
	cr_assert_eq(f[0].runs, 3);
	cr_assert_str_eq(f[0].text, "offline during deployment 12; runs "
	    "revision 3, current is 4");
	cr_assert_str_eq(drift_cause_name(f[0].cause), "missed");
	/* Nothing at all runs there. */
	cr_assert_eq(judge(&w, 1, NULL, 0, f), 1);
	cr_assert_str_eq(f[0].text, "offline during deployment 12; runs "
	    "nothing, current is 4");
	/* Left out because it was drained. */
	w.missed = 0;
	w.missed_drained = 1;
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_MISSED);
	cr_assert_str_eq(f[0].text, "drained during deployment 12; runs "
	    "revision 3, current is 4");
	{
		char why[256];

		cr_assert_eq(drift_catch_up(&f[0], "web-3", 1, 0, NULL, 60000,
		    100000, why, sizeof(why)), DRIFT_CU_GO);
		cr_assert_str_eq(why, "web-3 was drained during deployment "
		    "12; runs revision 3, current 4");
		/* Drained still: it waits. */
		cr_assert_eq(drift_catch_up(&f[0], "web-3", 1, 1, NULL, 60000,
		    100000, why, sizeof(why)), DRIFT_CU_DRAINED);
	}
}

Test(drift, an_older_revision_without_a_missed_deployment)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c = box("web", 3, "running", "healthy");
	struct drift_finding f[8];

	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_REVISION);
	cr_assert_str_eq(f[0].text, "runs revision 3, current is 4");
}

Test(drift, removed_stopped_and_exited)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c = box("web", 4, "exited", "");
	struct drift_finding f[8];

	cr_assert_eq(judge(&w, 1, NULL, 0, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_REMOVED);
	cr_assert_str_eq(f[0].text, "removed: nothing runs, current is 4");
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_STOPPED);
	cr_assert_str_eq(f[0].text, "container stopped");
	c.exited = 1;
	c.exit_code = 137;
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_str_eq(f[0].text, "exited (code 137)");
	c.state = "restarting";
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_str_eq(f[0].text, "container restarting");
	/* A stopped container of an older revision beside nothing: removed. */
	c = box("web", 3, "exited", "");
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_REMOVED);
}

Test(drift, unhealthy_since_when_ferryd_first_heard_it)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c = box("web", 4, "running", "unhealthy");
	struct drift_finding f[8];

	setenv("TZ", "UTC", 1);
	tzset();
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_UNHEALTHY);
	cr_assert_str_eq(f[0].text, "unhealthy");
	c.unhealthy_since_ms = 1780000000000ull + 3723000ull;
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	/* 1780000000 is 2026-05-28 20:26:40 UTC; plus 1:02:03. */
	cr_assert_str_eq(f[0].text, "unhealthy since 21:28:43");
	/* With the check's words after it, as an agent may say. */
	c.health = "unhealthy: HTTP 500 on /health";
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_eq(f[0].cause, DRIFT_UNHEALTHY);
	cr_assert_str_eq(f[0].text, "unhealthy since 21:28:43: HTTP 500 on "
	    "/health", "%s", f[0].text);
	c.unhealthy_since_ms = 0;
	cr_assert_eq(judge(&w, 1, &c, 1, f), 1);
	cr_assert_str_eq(f[0].text, "unhealthy: HTTP 500 on /health");
	c.health = "healthy: HTTP 200 on /health";
	cr_assert_eq(judge(&w, 1, &c, 1, f), 0);
}

Test(drift, extra_containers)
{
	struct drift_want w[2] = { want("web", 4, 12), want("api", 2, 7) };
	struct drift_container c[4] = { box("web", 4, "running", "healthy"),
	    box("web", 3, "running", "healthy"),
	    box("api", 2, "running", "healthy"),
	    box("cron", 1, "running", "") };
	struct drift_finding f[8];
	size_t n;

	w[1].here = 0;		/* api should not run on this host */
	n = judge(w, 2, c, 4, f);
	cr_assert_eq(n, 3);
	cr_assert_eq(f[0].cause, DRIFT_EXTRA);
	cr_assert_str_eq(f[0].service, "web");
	cr_assert_str_eq(f[0].text, "extra container: revision 3 beside the "
	    "current 4");
	cr_assert_str_eq(f[1].service, "api");
	cr_assert_str_eq(f[1].text, "extra container: revision 2 runs here, "
	    "where api should not run");
	cr_assert_str_eq(f[2].service, "cron");
	cr_assert(strstr(f[2].text, "no current revision") != NULL);
	/* Two of the current revision. */
	c[1].revision = 4;
	n = judge(w, 1, c, 2, f);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(f[0].text, "extra container: 2 containers of "
	    "revision 4");
	/* A stopped one of an older revision is what a swap leaves. */
	c[1] = box("web", 3, "exited", "");
	cr_assert_eq(judge(w, 1, c, 2, f), 0);
}

Test(drift, a_deployment_in_flight_is_not_drift)
{
	struct drift_want w = want("web", 4, 12);
	struct drift_container c[2] = { box("web", 4, "running", "healthy"),
	    box("web", 5, "running", "starting") };
	struct drift_finding f[8];

	w.in_flight = 1;
	cr_assert_eq(judge(&w, 1, c, 2, f), 0);
	cr_assert_eq(judge(&w, 1, NULL, 0, f), 0);
}

Test(drift, findings_stop_at_max)
{
	struct drift_want w[3] = { want("a", 1, 1), want("b", 1, 2),
	    want("c", 1, 3) };
	struct drift_finding f[2];

	cr_assert_eq(drift_judge(w, 3, NULL, 0, f, 2), 2);
}

static struct drift_finding
finding(enum drift_cause cause, uint64_t runs)
{
	struct drift_finding f;

	memset(&f, 0, sizeof(f));
	f.service = "web";
	f.cause = cause;
	f.runs = runs;
	f.revision = 4;
	f.deployment = 12;
	return f;
}

Test(drift, catch_up_mends_missed_and_removed_only)
{
	struct drift_finding f = finding(DRIFT_MISSED, 3);
	char why[256];

	cr_assert_eq(drift_catch_up(&f, "web-3", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_GO);
	cr_assert_str_eq(why, "web-3 was offline during deployment 12; runs "
	    "revision 3, current 4");
	f.runs = 0;
	cr_assert_eq(drift_catch_up(&f, "web-3", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_GO);
	cr_assert_str_eq(why, "web-3 was offline during deployment 12; runs "
	    "nothing, current 4");
	f = finding(DRIFT_REMOVED, 0);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_GO);
	cr_assert_str_eq(why, "web-2: the container of web was removed; "
	    "current 4");
	f = finding(DRIFT_STOPPED, 0);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_NO);
	f = finding(DRIFT_UNHEALTHY, 4);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_NO);
	f = finding(DRIFT_EXTRA, 3);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_NO);
	f = finding(DRIFT_REVISION, 3);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_NO);
}

Test(drift, catch_up_waits_until_the_drift_has_lasted)
{
	struct drift_finding f = finding(DRIFT_REMOVED, 0);
	char why[256];

	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, 0, 100000, why,
	    sizeof(why)), DRIFT_CU_WAIT);
	cr_assert_str_eq(why, "caught up once it has lasted 5 s");
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL,
	    DRIFT_SETTLE_MS - 1, 100000, why, sizeof(why)), DRIFT_CU_WAIT);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, NULL, DRIFT_SETTLE_MS,
	    100000, why, sizeof(why)), DRIFT_CU_GO);
	/* Off says so at once. */
	cr_assert_eq(drift_catch_up(&f, "web-2", 0, 0, NULL, 0, 100000, why,
	    sizeof(why)), DRIFT_CU_OFF);
}

Test(drift, catch_up_off_drained_running_failed_and_spaced)
{
	struct drift_finding f = finding(DRIFT_REMOVED, 0);
	struct drift_memo m;
	char why[256];

	cr_assert_eq(drift_catch_up(&f, "web-2", 0, 0, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_OFF);
	cr_assert(strstr(why, "catch_up: off") != NULL);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 1, NULL, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_DRAINED);
	cr_assert(strstr(why, "drained") != NULL);
	memset(&m, 0, sizeof(m));
	m.cause = DRIFT_REMOVED;
	m.revision = 4;
	m.deployment = 12;
	m.at_ms = 90000;
	m.id = 13;
	/* One runs. */
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, &m, 60000, 100000, why,
	    sizeof(why)), DRIFT_CU_WAIT);
	cr_assert_str_eq(why, "catch-up deployment 13 runs");
	/* It failed: never again for the same cause. */
	m.done = m.failed = 1;
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, &m, 60000, 10000000, why,
	    sizeof(why)), DRIFT_CU_FAILED);
	cr_assert(strstr(why, "deployment 13 failed: not tried again") !=
	    NULL, "%s", why);
	/* A new deployment made another revision current: a new cause. */
	f.revision = 5;
	f.deployment = 14;
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, &m, 60000, 10000000, why,
	    sizeof(why)), DRIFT_CU_GO);
	/* One that succeeded: the next waits out the spacing. */
	m.failed = 0;
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, &m, 60000, 90000 +
	    DRIFT_CATCH_UP_SPACING_MS - 1, why, sizeof(why)), DRIFT_CU_WAIT);
	cr_assert_eq(drift_catch_up(&f, "web-2", 1, 0, &m, 60000, 90000 +
	    DRIFT_CATCH_UP_SPACING_MS, why, sizeof(why)), DRIFT_CU_GO);
}
