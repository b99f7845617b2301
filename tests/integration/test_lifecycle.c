/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c tests/integration/opskit.c
/* test_lifecycle.c: the service life cycle end to end on the real dockerd
 * and registry, three agents (127.0.0.2-4) each with its ferry-proxy: a
 * rolling restart under load recreates every container one host at a
 * time and drops no request; stop, start and remove (confirmed) go batch
 * by batch, one host at a time, and say who asked (in ferry status and
 * ferry hosts too); a removal reaches a host that left the spec's
 * selection but still runs the service.  Every wait is bounded; processes
 * are ended by pid. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "opskit.h"

TestSuite(lifecycle, .init = setup, .fini = teardown, .timeout = 150);

/* ---- restart -------------------------------------------------------------- */

/*
 * ferry restart under load: every host's container is recreated (new
 * ids, the same revision), one host at a time, and no request fails.
 */
Test(lifecycle, a_rolling_restart_recreates_one_host_at_a_time_dropping_nothing)
{
	char before[NT][2048], after[2048];
	struct h_proc *load;
	cJSON *o;
	unsigned id;
	int k;

	fleet(NT);
	web("1");
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	for (k = 0; k < NT; k++)
		ids(k, before[k], sizeof(before[k]));
	load = load_start("restart", 0, NT - 1, 2, 20, 120);
	h_sleep_ms(500);
	h_ferry_ms(&F, &R, (const char *[]){ "restart", "web", "--watch",
	    NULL }, 90000);
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	h_sleep_ms(500);
	o = load_stop(load);
	no_failures(o, "restart");
	cr_log_info("restart of %d hosts under load: %.0f requests sent, "
	    "%.0f failed", NT, jd(o, "sent", NULL), jd(o, "failed", NULL));
	cJSON_Delete(o);
	id = last_id();
	cr_assert_eq(db_count("SELECT count(*) FROM deployments WHERE kind = "
	    "'restart' AND state = 5"), 1);	/* RO_SUCCEEDED */
	one_at_a_time(id, NT);
	for (k = 0; k < NT; k++) {
		char *line, *save = NULL, copy[2048];

		ids(k, after, sizeof(after));
		/* One container, running, revision 1, not one seen before. */
		cr_assert_eq(containers(k, NULL, 0, NULL), 1, "%s", after);
		cr_assert(strstr(after, "running 1") != NULL, "%s", after);
		memcpy(copy, before[k], sizeof(copy));
		for (line = strtok_r(copy, " \n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			char cid[80];

			sscanf(line, "%79s", cid);
			if (strlen(cid) == 64)
				cr_assert(strstr(after, cid) == NULL, "%s: %s "
				    "still there", HOST[k], cid);
		}
	}
	assert_all_serve(0, NT - 1, 1);
	cr_assert_eq(db_count("SELECT count(*) FROM revisions"), 1);
	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	cr_assert(strstr(R.out, "\"restart\"") != NULL, "%s", R.out);
}

/* ---- stop, start, remove -------------------------------------------------- */

Test(lifecycle, stop_start_and_remove_go_batch_by_batch)
{
	char before[NT][2048], buf[2048];
	int k, all;

	fleet(NT);
	web("1");
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	for (k = 0; k < NT; k++)
		ids(k, before[k], sizeof(before[k]));

	/* stop: nothing runs, every container kept, connections refused,
	 * the service says who stopped it. */
	h_ferry_ms(&F, &R, (const char *[]){ "stop", "web", "--watch", NULL },
	    90000);
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	one_at_a_time(last_id(), NT);
	for (k = 0; k < NT; k++) {
		cr_assert_eq(containers(k, NULL, 0, &all), 0);
		cr_assert_eq(all, 1);
		cr_assert_eq(refused(k), 1);
	}
	cr_assert_eq(db_count("SELECT count(*) FROM services WHERE name = "
	    "'web' AND lifecycle = 'stopped' AND lifecycle_by != ''"), 1);
	/* Shown where operators look: who stopped it and how long ago, in
	 * ferry status web (its hosts in a table) and under ferry hosts. */
	{
		char by[64], want[200];

		cr_assert_eq(h_db_row(&F, "ferryd/ferryd.db", "SELECT "
		    "lifecycle_by FROM services WHERE name = 'web'", NULL, 0,
		    NULL, by, sizeof(by), NULL, NULL), 1);
		snprintf(want, sizeof(want), "web was stopped by %s ", by);
		h_ferry(&F, &R, (const char *[]){ "status", "web", NULL });
		cr_log_info("ferry status web:\n%s", R.out);
		cr_assert(strstr(R.out, want) != NULL, "no \"%s\" in:\n%s",
		    want, R.out);
		cr_assert(strstr(R.out, "s ago: its containers are kept")
		    != NULL, "%s", R.out);
		cr_assert(strstr(R.out, "HOST") != NULL && strstr(R.out,
		    "RUNS") != NULL, "no table:\n%s", R.out);
		/* A row per host (what it runs is as its last heartbeat
		 * said: maybe not yet stopped). */
		for (k = 0; k < NT; k++)
			cr_assert(strstr(R.out, HOST[k]) != NULL, "%s", R.out);
		h_ferry(&F, &R, (const char *[]){ "status", "web", "--json",
		    NULL });
		cr_assert(strstr(R.out, "\"lifecycle\":\t\"stopped\"") !=
		    NULL || strstr(R.out, "\"lifecycle\": \"stopped\"") !=
		    NULL || strstr(R.out, "\"lifecycle\":\"stopped\"") !=
		    NULL, "%s", R.out);
		h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
		cr_log_info("ferry hosts:\n%s", R.out);
		cr_assert(strstr(R.out, want) != NULL, "no \"%s\" in:\n%s",
		    want, R.out);
	}
	/* A restart of a stopped service is refused, and says why. */
	h_ferry(&F, &R, (const char *[]){ "restart", "web", NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "ferry start web") != NULL, "%s", R.err);

	/* start: the kept containers run again, health-gated. */
	h_ferry_ms(&F, &R, (const char *[]){ "start", "web", "--watch",
	    NULL }, 90000);
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	for (k = 0; k < NT; k++) {
		char cid[80];

		wait_traffic(k, 0, 1, 10000);
		sscanf(before[k], "%79s", cid);
		ids(k, buf, sizeof(buf));
		cr_assert(strstr(buf, cid) != NULL, "%s: not the kept one: "
		    "%s", HOST[k], buf);
	}
	cr_assert_eq(db_count("SELECT count(*) FROM services WHERE name = "
	    "'web' AND lifecycle = ''"), 1);

	/* The third host leaves the spec's selection (its label changed):
	 * it still runs web, and a removal reaches it too. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[2],
	    "role=db", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);

	/* remove without --yes: exit 2, says what would go, changes
	 * nothing. */
	h_ferry(&F, &R, (const char *[]){ "remove", "web", NULL });
	cr_assert_eq(R.status, 2, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, HOST[0]) != NULL && strstr(R.err, "--yes") !=
	    NULL, "%s", R.err);
	cr_assert(strstr(R.err, HOST[2]) != NULL, "%s", R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM deployments WHERE kind = "
	    "'remove'"), 0);
	assert_all_serve(0, NT - 1, 1);

	/* An operator removes it by hand from the second host: catch-up's
	 * mark of that is recorded (and goes with the service below). */
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[1], "--remove", "web",
	    NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM drift_marks WHERE kind = "
	    "'removed'"), 1);

	h_ferry_ms(&F, &R, (const char *[]){ "remove", "web", "--yes",
	    "--watch", NULL }, 90000);
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	one_at_a_time(last_id(), NT);
	cr_assert(h_log_has(F.ferryd, "outside the spec's hosts"), "ferryd "
	    "did not say it reached a host outside the spec's");
	for (k = 0; k < NT; k++) {
		cr_assert_eq(containers(k, NULL, 0, &all), 0);
		cr_assert_eq(all, 0, "%s keeps containers", HOST[k]);
		cr_assert_eq(refused(k), 1);
	}
	cr_assert_eq(db_count("SELECT count(*) FROM services WHERE name = "
	    "'web' AND current_revision = 0 AND lifecycle = 'removed'"), 1);
	/* A removed service has nothing to catch up: its marks go (within
	 * two of ferryd's 2 s ticks). */
	{
		long long end = now_ms() + 10000;

		while (db_count("SELECT count(*) FROM drift_marks") != 0 &&
		    now_ms() < end)
			h_sleep_ms(200);
		cr_assert_eq(db_count("SELECT count(*) FROM drift_marks"), 0);
	}
	cr_assert_eq(db_count("SELECT count(*) FROM revisions"), 1);
	/* Nothing left to stop. */
	h_ferry(&F, &R, (const char *[]){ "stop", "web", NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "removed") != NULL, "%s", R.err);
}

