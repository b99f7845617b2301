/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/livehealth.c agent/health.c agent/probe.c agent/check_http.c agent/check_tcp.c agent/check_exec.c agent/check_docker.c agent/docker.c
/* test_livetable.c: livehealth.c without threads or Docker (named apart
 * from the integration test_livehealth.c):
 * the ferry.health label written and read back, the table's listing,
 * cadence and bound on probes in flight, the live judge over its probes,
 * and a probe across a swap counting for nothing. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "livehealth.h"

static Ferry__HttpCheck http_check = FERRY__HTTP_CHECK__INIT;

/* http_spec: an HTTP check on /health, interval_ms apart, thresholds
 * up and down. */
static Ferry__HealthSpec
http_spec(uint32_t interval_ms, uint32_t up, uint32_t down)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;

	http_check.path = "/health";
	http_check.port = 80;
	h.check_case = FERRY__HEALTH_SPEC__CHECK_HTTP;
	h.http = &http_check;
	h.interval_ms = interval_ms;
	h.healthy_threshold = up;
	h.unhealthy_threshold = down;
	return h;
}

/* container fills c: running, of service, labelled with h. */
static void
container(struct docker_state *c, const char *id, const char *service,
    const Ferry__HealthSpec *h)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->name, sizeof(c->name), "ferry-h-%s", id);
	snprintf(c->service, sizeof(c->service), "%s", service);
	snprintf(c->revision, sizeof(c->revision), "3");
	c->running = 1;
	if (h != NULL)
		cr_assert_eq(livehealth_label(h, 0, c->health_check,
		    sizeof(c->health_check)), 0);
}

static char *
text(struct live_table *t, const char *id)
{
	static char buf[300];

	live_table_text(t, id, buf, sizeof(buf));
	return buf;
}

Test(livehealth, the_label_carries_the_check_and_the_port)
{
	Ferry__HealthSpec h = http_spec(2000, 1, 3), *back = NULL;
	Ferry__ExecCheck ex = FERRY__EXEC_CHECK__INIT;
	char *argv[] = { "/bin/sh", "-c", "test -f /ready" };
	char label[DOCKER_HEALTH_LABEL_MAX];
	uint32_t port = 0;

	cr_assert_eq(livehealth_label(&h, 8080, label, sizeof(label)), 0);
	cr_assert_eq(strncmp(label, "8080 ", 5), 0, "%s", label);
	cr_assert_eq(livehealth_label_parse(label, &back, &port), 0);
	cr_assert_eq(port, 8080);
	cr_assert_eq(back->check_case, FERRY__HEALTH_SPEC__CHECK_HTTP);
	cr_assert_str_eq(back->http->path, "/health");
	cr_assert_eq(back->http->port, 80);
	cr_assert_eq(back->interval_ms, 2000);
	cr_assert_eq(back->unhealthy_threshold, 3);
	ferry__health_spec__free_unpacked(back, NULL);

	h.check_case = FERRY__HEALTH_SPEC__CHECK_EXEC;
	h.exec = &ex;
	ex.argv = argv;
	ex.n_argv = 3;
	cr_assert_eq(livehealth_label(&h, 0, label, sizeof(label)), 0);
	cr_assert_eq(livehealth_label_parse(label, &back, &port), 0);
	cr_assert_eq(port, 0);
	cr_assert_eq(back->exec->n_argv, 3);
	cr_assert_str_eq(back->exec->argv[2], "test -f /ready");
	ferry__health_spec__free_unpacked(back, NULL);

	/* Too long for the room given: refused, nothing half written
	 * used. */
	cr_assert_eq(livehealth_label(&h, 0, label, 12), FERR_ARG);
}

Test(livehealth, no_label_for_a_check_docker_or_nobody_judges)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	char label[256];

	cr_assert_eq(livehealth_label(NULL, 0, label, sizeof(label)),
	    FERR_NOTFOUND);
	cr_assert_eq(livehealth_label(&h, 0, label, sizeof(label)),
	    FERR_NOTFOUND, "no check: running is healthy");
	h.check_case = FERRY__HEALTH_SPEC__CHECK_DOCKER;
	h.docker = 1;
	cr_assert_eq(livehealth_label(&h, 0, label, sizeof(label)),
	    FERR_NOTFOUND, "Docker's own HEALTHCHECK stays Docker's");
}

Test(livehealth, a_bad_label_is_refused)
{
	static const char *const bad[] = { "", "80", "80 ", "x AAAA",
	    "70000 CgkKBy9oZWFsdGg", "80 !!!!", "80 /////" };
	Ferry__HealthSpec *h = NULL;
	uint32_t port;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_neq(livehealth_label_parse(bad[i], &h, &port), 0,
		    "\"%s\" taken", bad[i]);
		cr_assert_null(h);
	}
}

Test(livehealth, running_labelled_containers_are_listed_and_go)
{
	Ferry__HealthSpec h = http_spec(1000, 1, 3);
	struct docker_state cs[4];
	struct live_table t;
	struct live_entry *e;
	uint64_t wake;

	live_table_init(&t, 5000, 2);
	container(&cs[0], "a", "web", &h);
	container(&cs[1], "b", "web", NULL);	/* made before the label */
	container(&cs[2], "c", "db", &h);
	cs[2].running = 0;			/* stopped: not probed */
	container(&cs[3], "d", "api", &h);
	snprintf(cs[3].health_check, sizeof(cs[3].health_check), "junk");
	cr_assert_eq(live_table_sync(&t, cs, 4, 100), 0);
	cr_assert_eq(t.n, 1, "only a running container with a good label");
	cr_assert_str_eq(t.e[0]->id, "a");
	cr_assert_eq(t.e[0]->period_ms, 5000, "the spec's 1 s, but no more "
	    "often than live_health_interval");
	cr_assert_eq(t.e[0]->next_ms, 100, "its first probe at once");
	/* Listed again: kept as it is, not a new judge. */
	e = live_table_pick(&t, 100, &wake);
	cr_assert_not_null(e);
	live_table_done(&t, e, 150, 1, "HTTP 200 on /health");
	cr_assert_eq(live_table_sync(&t, cs, 4, 200), 0);
	cr_assert_eq(t.n, 1);
	cr_assert_str_eq(text(&t, "a"), "healthy");
	cr_assert_eq(t.e[0]->next_ms, 5150);
	/* Gone from the list: gone from the table. */
	cr_assert_eq(live_table_sync(&t, cs + 1, 3, 300), 0);
	cr_assert_eq(t.n, 0);
	cr_assert_str_eq(text(&t, "a"), "");
	live_table_fini(&t);
}

Test(livehealth, probes_are_due_every_period_and_bounded_in_flight)
{
	Ferry__HealthSpec h = http_spec(10000, 1, 3);
	struct docker_state cs[3];
	struct live_table t;
	struct live_entry *e1, *e2, *e3;
	uint64_t wake;

	live_table_init(&t, 2000, 2);
	container(&cs[0], "a", "web", &h);
	container(&cs[1], "b", "api", &h);
	container(&cs[2], "c", "db", &h);
	live_table_sync(&t, cs, 3, 0);
	cr_assert_eq(t.e[0]->period_ms, 10000, "the spec's interval when "
	    "longer");
	e1 = live_table_pick(&t, 0, &wake);
	e2 = live_table_pick(&t, 0, &wake);
	cr_assert(e1 != NULL && e2 != NULL && e1 != e2);
	cr_assert_null(live_table_pick(&t, 0, &wake), "two in flight at most");
	cr_assert_eq(t.inflight, 2);
	live_table_done(&t, e1, 40, 1, "ok");
	e3 = live_table_pick(&t, 40, &wake);
	cr_assert_not_null(e3, "a slot freed");
	cr_assert(e3 != e1 && e3 != e2);
	live_table_done(&t, e2, 50, 1, "ok");
	live_table_done(&t, e3, 60, 1, "ok");
	cr_assert_null(live_table_pick(&t, 9999, &wake), "none due");
	cr_assert_eq(wake, 10040, "the next due: %llu",
	    (unsigned long long)wake);
	cr_assert_eq(live_table_pick(&t, 10040, &wake), e1);
	live_table_done(&t, e1, 10041, 1, "ok");
	live_table_fini(&t);
}

/* probe_once picks the only entry at now and ends its probe. */
static int
probe_once(struct live_table *t, uint64_t now, int ok, const char *out)
{
	struct live_entry *e;
	uint64_t wake;

	e = live_table_pick(t, now, &wake);
	cr_assert_not_null(e, "a probe due at %llu", (unsigned long long)now);
	return live_table_done(t, e, now, ok, out);
}

Test(livehealth, the_verdict_follows_the_spec_thresholds)
{
	Ferry__HealthSpec h = http_spec(1000, 2, 3);
	struct docker_state c;
	struct live_table t;
	uint64_t now = 0;

	live_table_init(&t, 1000, 2);
	container(&c, "a", "web", &h);
	live_table_sync(&t, &c, 1, now);
	cr_assert_eq(probe_once(&t, now, 1, "HTTP 200 on /health"), 0);
	cr_assert_str_eq(text(&t, "a"), "", "one pass of two: unknown");
	cr_assert_eq(probe_once(&t, now += 1000, 1, "HTTP 200 on /health"),
	    1);
	cr_assert_str_eq(text(&t, "a"), "healthy");
	cr_assert_eq(probe_once(&t, now += 1000, 0, "HTTP 500 on /health"),
	    0);
	cr_assert_eq(probe_once(&t, now += 1000, 0, "HTTP 500 on /health"),
	    0);
	cr_assert_str_eq(text(&t, "a"), "healthy", "two failures of three");
	cr_assert_eq(probe_once(&t, now += 1000, 0, "HTTP 500 on /health"),
	    1);
	cr_assert_str_eq(text(&t, "a"), "unhealthy: HTTP 500 on /health");
	/* A probe without a verdict (the container stopped) counts for
	 * nothing. */
	cr_assert_eq(probe_once(&t, now += 1000, -1, NULL), 0);
	cr_assert_eq(probe_once(&t, now += 1000, 1, "HTTP 200 on /health"),
	    0);
	cr_assert_str_eq(text(&t, "a"), "unhealthy: HTTP 500 on /health");
	cr_assert_eq(probe_once(&t, now += 1000, 1, "HTTP 200 on /health"),
	    1);
	cr_assert_str_eq(text(&t, "a"), "healthy");
	live_table_fini(&t);
}

Test(livehealth, no_probe_of_a_service_a_swap_works_on)
{
	Ferry__HealthSpec h = http_spec(1000, 1, 1);
	struct docker_state cs[2];
	struct live_table t;
	struct live_entry *e;
	uint64_t wake;

	live_table_init(&t, 1000, 2);
	container(&cs[0], "a", "web", &h);
	container(&cs[1], "b", "api", &h);
	live_table_sync(&t, cs, 2, 0);
	cr_assert_eq(live_table_busy(&t, "web", 1), 0);
	e = live_table_pick(&t, 0, &wake);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->service, "api", "web is skipped while swapped");
	cr_assert_null(live_table_pick(&t, 5000, &wake));
	live_table_done(&t, e, 10, 1, "ok");
	cr_assert_eq(live_table_busy(&t, "web", 0), 0);
	e = live_table_pick(&t, 20, &wake);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->service, "web", "free again");
	live_table_done(&t, e, 20, 1, "ok");
	/* The reconciliation ("") holds every service off. */
	cr_assert_eq(live_table_busy(&t, "", 1), 0);
	cr_assert_null(live_table_pick(&t, 99999, &wake));
	cr_assert_eq(live_table_busy(&t, "", 0), 0);
	cr_assert_not_null(e = live_table_pick(&t, 99999, &wake));
	live_table_done(&t, e, 99999, 1, "ok");
	live_table_fini(&t);
}

Test(livehealth, a_probe_in_flight_when_a_swap_begins_counts_for_nothing)
{
	Ferry__HealthSpec h = http_spec(1000, 1, 1);
	struct docker_state c;
	struct live_table t;
	struct live_entry *e;
	uint64_t wake;

	live_table_init(&t, 1000, 2);
	container(&c, "a", "web", &h);
	live_table_sync(&t, &c, 1, 0);
	cr_assert_eq(probe_once(&t, 0, 1, "ok"), 1);
	cr_assert_str_eq(text(&t, "a"), "healthy");

	/* Picked, then a swap of web begins: the failure it saw (the swap
	 * stopping the container, say) is not judged. */
	e = live_table_pick(&t, 1000, &wake);
	cr_assert_not_null(e);
	live_table_busy(&t, "web", 1);
	cr_assert_eq(live_table_done(&t, e, 1500, 0, "connection refused"),
	    0);
	cr_assert_str_eq(text(&t, "a"), "healthy");
	/* ... nor one that began during the swap and ends after it. */
	live_table_busy(&t, "web", 0);
	e = live_table_pick(&t, 2500, &wake);
	cr_assert_not_null(e);
	live_table_busy(&t, "web", 1);
	live_table_busy(&t, "web", 0);
	cr_assert_eq(live_table_done(&t, e, 2600, 0, "connection refused"),
	    0);
	cr_assert_str_eq(text(&t, "a"), "healthy");
	/* Afterwards a failure counts again. */
	cr_assert_eq(probe_once(&t, 3600, 0, "HTTP 500 on /health"), 1);
	cr_assert_str_eq(text(&t, "a"), "unhealthy: HTTP 500 on /health");
	live_table_fini(&t);
}

Test(livehealth, a_container_gone_during_its_probe_is_freed_at_its_end)
{
	Ferry__HealthSpec h = http_spec(1000, 1, 1);
	struct docker_state c;
	struct live_table t;
	struct live_entry *e;
	uint64_t wake;

	live_table_init(&t, 1000, 2);
	container(&c, "a", "web", &h);
	live_table_sync(&t, &c, 1, 0);
	e = live_table_pick(&t, 0, &wake);
	cr_assert_not_null(e);
	live_table_sync(&t, NULL, 0, 10);
	cr_assert_eq(t.n, 0, "out of the table at once");
	cr_assert_eq(live_table_done(&t, e, 20, 0, "x"), 0, "and freed "
	    "when its probe ends (valgrind/ASan would see a leak or a "
	    "double free)");
	cr_assert_eq(t.inflight, 0);
	/* Listed again later: a new judge. */
	live_table_sync(&t, &c, 1, 30);
	cr_assert_eq(t.n, 1);
	cr_assert_str_eq(text(&t, "a"), "");
	live_table_fini(&t);
}
