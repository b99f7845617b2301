/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_swap.c: `ferry swap` against a real dockerd and registry: stop-first
 * and start-first, health that fails, images that do not exist, containers
 * that exit, health that turns bad, rollback, and what ferry hosts shows. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;
static char HOST[64];
static int PORT;
static struct h_proc *AGENT;

#define IMG "127.0.0.1:5000/ferry-test/web:"

static void
setup(void)
{
	h_init(&F);
	h_unique("sw", HOST, sizeof(HOST));
	PORT = h_free_port();
	h_start_ferryd(&F, NULL);
	AGENT = h_add_agent(&F, HOST, "127.0.0.2");
}

static void teardown(void) { h_fini(&F); }

TestSuite(swap, .init = setup, .fini = teardown, .timeout = 90);

/* spec writes FILE for image tag, with the HTTP check on the published
 * port and the given order and min_healthy. */
static void
spec(const char *file, const char *tag, const char *order,
    const char *min_healthy)
{
	h_write(&F, file,
	    "service: web\n"
	    "image: " IMG "%s\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "env: { GREETING: hello }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  timeout: 1s\n"
	    "  unhealthy_threshold: 3\n"
	    "  deadline: 10s\n"
	    "  min_healthy: %s\n"
	    "rollout:\n"
	    "  order: %s\n", tag, HOST, PORT, min_healthy, order);
}

static int
swap(const char *file)
{
	char path[600];

	h_ferry(&F, &R, (const char *[]){ "swap", HOST, h_path(&F, file,
	    path, sizeof(path)), NULL });
	return R.status;
}

/* serving returns the version the service's index page names (0: none). */
static int
serving(void)
{
	char body[4096], *v;

	if (h_http_get("127.0.0.2", PORT, "/", body, sizeof(body)) != 200)
		return 0;
	v = strstr(body, "version ");
	return v ? atoi(v + 8) : 0;
}

/* containers counts the service's containers on this host: all, running. */
static void
containers(int *all, int *running)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128];
	char *p;

	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST);
	*all = *running = 0;
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--format",
	    "{{.State}}", "--filter", filter, NULL }), 0, "%s", r->err);
	for (p = strtok(r->out, "\n"); p != NULL; p = strtok(NULL, "\n")) {
		(*all)++;
		*running += strcmp(p, "running") == 0;
	}
	free(r);
}

Test(swap, stop_first_v1_then_v2_serves_each_and_keeps_the_previous)
{
	int all, running;

	spec("v1.yml", "1", "stop-first", "500ms");
	spec("v2.yml", "2", "stop-first", "500ms");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "web revision 1 runs and is healthy") != NULL,
	    "%s", R.out);
	cr_assert(strstr(R.out, "@sha256:") != NULL, "not by digest: %s",
	    R.out);
	cr_assert_eq(serving(), 1);
	cr_assert_eq(swap("v2.yml"), 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "revision 2 runs and is healthy") &&
	    strstr(R.out, "revision 1 kept for rollback"), "%s", R.out);
	cr_assert_eq(serving(), 2);
	/* The previous revision is kept, stopped, for a local rollback. */
	containers(&all, &running);
	cr_assert_eq(all, 2);
	cr_assert_eq(running, 1);
	/* The spec's environment reached the container. */
	{
		char name[128];
		snprintf(name, sizeof(name), "ferry-%s-web-r2", HOST);
		cr_assert_eq(h_docker(&R, (const char *[]){ "inspect",
		    "--format", "{{range .Config.Env}}{{println .}}{{end}}",
		    name, NULL }), 0, "%s", R.err);
		cr_assert(strstr(R.out, "GREETING=hello") != NULL, "%s",
		    R.out);
	}
	/* A third swap removes the oldest: only one previous is kept. */
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(serving(), 1);
	containers(&all, &running);
	cr_assert_eq(all, 2, "older revisions were not removed");
	cr_assert_eq(running, 1);
}

Test(swap, start_first_with_exec_health_runs_both_then_the_new)
{
	char name1[128], name2[128];

	/* No host port: start-first runs two containers side by side. */
	h_write(&F, "s1.yml",
	    "service: api\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, wget, -q, -O, /dev/null, "
	    "\"http://127.0.0.1/health\"]\n"
	    "  interval: 200ms\n  deadline: 10s\n  min_healthy: 500ms\n"
	    "rollout: { order: start-first }\n", HOST);
	h_write(&F, "s2.yml",
	    "service: api\nimage: " IMG "2\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, wget, -q, -O, /dev/null, "
	    "\"http://127.0.0.1/health\"]\n"
	    "  interval: 200ms\n  deadline: 10s\n  min_healthy: 500ms\n"
	    "rollout: { order: start-first }\n", HOST);
	cr_assert_eq(swap("s1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("s2.yml"), 0, "%s%s", R.out, R.err);
	snprintf(name1, sizeof(name1), "ferry-%s-api-r1", HOST);
	snprintf(name2, sizeof(name2), "ferry-%s-api-r2", HOST);
	cr_assert_eq(h_docker(&R, (const char *[]){ "inspect", "--format",
	    "{{.State.Status}}", name2, NULL }), 0);
	cr_assert(strncmp(R.out, "running", 7) == 0, "%s", R.out);
	cr_assert_eq(h_docker(&R, (const char *[]){ "inspect", "--format",
	    "{{.State.Status}}", name1, NULL }), 0);
	cr_assert(strncmp(R.out, "exited", 6) == 0, "r1: %s", R.out);
	/* r2 serves version 2 inside its container. */
	cr_assert_eq(h_docker(&R, (const char *[]){ "exec", name2,
	    "/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1/",
	    NULL }), 0);
	cr_assert(strstr(R.out, "version 2") != NULL, "%s", R.out);
}

/* No host port to probe: the HTTP check goes straight to the container's
 * own address and port, and sees a bad revision as bad. */
Test(swap, start_first_with_http_health_checks_the_container_itself)
{
	static const char *const tags[] = { "1", "2", "bad" };
	char name[128];
	int i;

	for (i = 0; i < 3; i++)
		h_write(&F, tags[i][0] == 'b' ? "sbad.yml" : tags[i][0] == '1' ?
		    "s1.yml" : "s2.yml",
		    "service: api\nimage: " IMG "%s\nhosts: [%s]\n"
		    "health:\n  http: { path: /health, port: 80 }\n"
		    "  interval: 200ms\n  deadline: 3s\n  min_healthy: 300ms\n"
		    "rollout: { order: start-first }\n", tags[i], HOST);
	cr_assert_eq(swap("s1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("s2.yml"), 0, "%s%s", R.out, R.err);
	cr_assert(h_log_has(AGENT, "r2: health pass: HTTP 200 on /health"));
	snprintf(name, sizeof(name), "ferry-%s-api-r2", HOST);
	cr_assert_eq(h_docker(&R, (const char *[]){ "inspect", "--format",
	    "{{.State.Status}}", name, NULL }), 0);
	cr_assert(strncmp(R.out, "running", 7) == 0, "%s", R.out);
	/* :bad answers 404 on /health: the swap fails, r2 stays. */
	cr_assert_neq(swap("sbad.yml"), 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "HTTP 404") != NULL, "%s%s", R.out, R.err);
	cr_assert_eq(h_docker(&R, (const char *[]){ "inspect", "--format",
	    "{{.State.Status}}", name, NULL }), 0);
	cr_assert(strncmp(R.out, "running", 7) == 0, "%s", R.out);
}

/* An agent without ferry-proxy cannot run two containers on one host
 * port: it refuses start-first there, saying so, and v1 serves on. */
Test(swap, start_first_with_a_host_port_is_refused_without_a_proxy)
{
	h_kill(AGENT, SIGTERM);
	F.no_proxy = 1;
	AGENT = h_start_agent(&F, HOST, NULL);
	h_sleep_ms(500);
	cr_assert(h_wait_state(&F, HOST, "online", 10000));
	spec("v1.yml", "1", "stop-first", "0s");
	spec("s2.yml", "2", "start-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("s2.yml"), 1);
	cr_assert(strstr(R.out, "start-first would run two containers") !=
	    NULL, "%s", R.out);
	cr_assert(strstr(R.out, "no ferry-proxy") != NULL, "%s", R.out);
	cr_assert_eq(serving(), 1);
}

/* With ferry-proxy, start-first works with a host port: the container
 * publishes nothing, the proxy serves the port, and the swap says each
 * step (health passed, switched, drained, stopped). */
Test(swap, start_first_with_a_host_port_goes_through_the_proxy)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128];

	spec("v1.yml", "1", "start-first", "0s");
	spec("v2.yml", "2", "start-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(serving(), 1);
	cr_assert_eq(swap("v2.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(serving(), 2);
	cr_assert(h_wait_log(AGENT, "web r2: passed its health check", 5000));
	cr_assert(h_wait_log(AGENT, "web: switched traffic to r2", 5000));
	cr_assert(h_wait_log(AGENT, "web: r1 drained (", 5000));
	cr_assert(h_wait_log(AGENT, "web: stopped r1", 5000));
	/* Nothing of the service publishes a host port. */
	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--format",
	    "{{.Ports}}|", "--filter", filter, NULL }), 0, "%s", r->err);
	cr_assert(strstr(r->out, "->") == NULL, "published: %s", r->out);
	free(r);
}

Test(swap, failing_health_reverts_to_v1_and_says_why)
{
	int all, running;

	spec("v1.yml", "1", "stop-first", "500ms");
	spec("bad.yml", "bad", "stop-first", "500ms");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("bad.yml"), 1, "%s", R.out);
	cr_assert(strstr(R.out, "reverted") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "HTTP 404 on /health") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "revision 1 runs again") != NULL, "%s", R.out);
	cr_assert_eq(serving(), 1);
	/* The failed container is gone: nothing orphaned.  The result goes
	 * out once revision 1 runs again, before the failed container is
	 * removed: that follows at once. */
	for (int i = 0; i < 100; i++) {
		containers(&all, &running);
		if (all == 1)
			break;
		h_sleep_ms(50);
	}
	cr_assert_eq(all, 1);
	cr_assert_eq(running, 1);
	/* The result came to ferryd signed, and is in its log. */
	cr_assert(h_log_has(F.ferryd, "swap command"), "no progress in ferryd");
}

Test(swap, image_that_does_not_exist_leaves_v1_untouched)
{
	char before[256];

	spec("v1.yml", "1", "stop-first", "0s");
	spec("nope.yml", "nope", "stop-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	{
		char name[128];
		snprintf(name, sizeof(name), "ferry-%s-web-r1", HOST);
		h_docker(&R, (const char *[]){ "inspect", "--format",
		    "{{.Id}} {{.State.StartedAt}}", name, NULL });
		snprintf(before, sizeof(before), "%.200s", R.out);
	}
	cr_assert_eq(swap("nope.yml"), 1);
	cr_assert(strstr(R.err, "pull on") && strstr(R.err,
	    "ferry-test/web:nope"), "%s", R.err);
	cr_assert_eq(serving(), 1);
	{
		char name[128];
		snprintf(name, sizeof(name), "ferry-%s-web-r1", HOST);
		h_docker(&R, (const char *[]){ "inspect", "--format",
		    "{{.Id}} {{.State.StartedAt}}", name, NULL });
		cr_assert(strncmp(R.out, before, strlen(before)) == 0,
		    "v1 was touched");
	}
}

Test(swap, container_that_exits_at_once_is_caught_with_its_logs)
{
	spec("v1.yml", "1", "stop-first", "500ms");
	spec("crash.yml", "crash", "stop-first", "500ms");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("crash.yml"), 1, "%s", R.out);
	cr_assert(strstr(R.out, "exited with code 3") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "crashing on purpose") != NULL,
	    "no log lines in the result: %s", R.out);
	cr_assert_eq(serving(), 1);
}

Test(swap, health_that_turns_bad_within_min_healthy_fails_the_swap)
{
	spec("v1.yml", "1", "stop-first", "500ms");
	/* :flaky passes for 2 s, then fails: min_healthy 4s catches it. */
	spec("flaky.yml", "flaky", "stop-first", "4s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("flaky.yml"), 1, "%s", R.out);
	cr_assert(strstr(R.out, "turned unhealthy within min_healthy") !=
	    NULL, "%s", R.out);
	cr_assert_eq(serving(), 1);
}

/*
 * :slow answers 404 for its first 3 s, then 200.  With checks 2.5 s apart
 * it would fail at its 4.5 s deadline (404 at 0 and 2.5 s, the next check
 * at 5 s); checked every 50 ms until the first pass, it is seen healthy
 * at about 3 s.  Its 404s between the 2.5 s beats count for nothing
 * (three counted ones would fail it) and are not reported.
 */
Test(swap, a_slow_starter_is_seen_healthy_between_intervals)
{
	spec("v1.yml", "1", "stop-first", "0s");
	h_write(&F, "slow.yml",
	    "service: web\n"
	    "image: " IMG "slow\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 2500ms\n"
	    "  start_interval: 50ms\n"
	    "  timeout: 1s\n"
	    "  unhealthy_threshold: 3\n"
	    "  deadline: 4500ms\n"
	    "  min_healthy: 0s\n", HOST, PORT);
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("slow.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(h_http_get("127.0.0.2", PORT, "/health", NULL, 0), 200);
	cr_assert_leq(h_log_count(AGENT, "web r2: health fail"), 2,
	    "fast checks reported");
	cr_assert_eq(h_log_count(AGENT, "web r2: health pass"), 1);
}

Test(swap, rollback_puts_the_kept_revision_back)
{
	spec("v1.yml", "1", "stop-first", "500ms");
	spec("v2.yml", "2", "stop-first", "500ms");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("v2.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(serving(), 2);
	/* ferryd asks the host what it keeps (an Inventory command) at
	 * once: no waiting for a heartbeat. */
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, "--rollback", "web",
	    NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "revision 1 runs and is healthy") &&
	    strstr(R.out, "revision 2 kept"), "%s", R.out);
	cr_assert_eq(serving(), 1);
	cr_assert(h_log_has(F.ferryd, "inventory command"),
	    "no Inventory was sent");
	/* Nothing to roll back to for a service the host does not run. */
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, "--rollback", "nosuch",
	    NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.out, "no kept revision") != NULL, "%s", R.out);
}

Test(swap, hosts_shows_service_revision_digest_and_health)
{
	cJSON *arr, *h, *cs, *c;
	int found = 0, k;

	spec("v1.yml", "1", "stop-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	for (k = 0; k < 50 && !found; k++) {
		h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
		arr = cJSON_Parse(R.out);
		cJSON_ArrayForEach(h, arr) {
			cs = cJSON_GetObjectItem(h, "containers");
			cJSON_ArrayForEach(c, cs) {
				const char *svc = cJSON_GetObjectItem(c,
				    "service")->valuestring;
				const char *st = cJSON_GetObjectItem(c,
				    "state")->valuestring;
				const char *dg = cJSON_GetObjectItem(c,
				    "digest")->valuestring;
				const char *he = cJSON_GetObjectItem(c,
				    "health")->valuestring;
				if (strcmp(svc, "web") == 0 &&
				    strcmp(st, "running") == 0 &&
				    strstr(dg, "@sha256:") &&
				    strncmp(he, "healthy", 7) == 0)
					found = 1;
			}
		}
		cJSON_Delete(arr);
		if (!found)
			h_sleep_ms(100);
	}
	cr_assert(found, "ferry hosts --json lacks web's digest or health: %s",
	    R.out);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "web r1 running healthy") != NULL, "%s",
	    R.out);
}

Test(swap, a_bad_spec_is_refused_and_changes_nothing)
{
	spec("v1.yml", "1", "stop-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	h_write(&F, "bad.yml", "service: web\nimage: " IMG "2\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: fast\n", HOST);
	cr_assert_eq(swap("bad.yml"), 1);
	cr_assert(strstr(R.err, "bad.yml:6: health.interval") != NULL, "%s",
	    R.err);
	cr_assert_eq(serving(), 1);
	/* Unknown host, missing file: clear errors. */
	h_ferry(&F, &R, (const char *[]){ "swap", "nosuchhost", "x.yml",
	    NULL });
	cr_assert_neq(R.status, 0);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, "/nonexistent.yml",
	    NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "/nonexistent.yml") != NULL, "%s", R.err);
}

Test(swap, metrics_count_commands_swaps_and_health)
{
	char body[65536];
	int port = atoi(strchr(F.http, ':') + 1);

	spec("v1.yml", "1", "stop-first", "0s");
	spec("bad.yml", "bad", "stop-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("bad.yml"), 1, "%s", R.out);
	/* The gauges are refreshed once a second. */
	h_sleep_ms(1200);
	cr_assert_eq(h_http_get("127.0.0.1", port, "/metrics", body,
	    sizeof(body)), 200);
	cr_assert(strstr(body, "ferry_swaps_succeeded_total 1\n") != NULL,
	    "%s", body);
	cr_assert(strstr(body, "ferry_swaps_failed_total 1\n") != NULL, "%s",
	    body);
	/* Two pulls and two swaps were sent and answered. */
	cr_assert(strstr(body, "ferry_commands_sent_total 4\n") != NULL, "%s",
	    body);
	cr_assert(strstr(body, "ferry_commands_acknowledged_total 4\n") !=
	    NULL, "%s", body);
	cr_assert(strstr(body, "ferry_health_checks_failed_total 0\n") ==
	    NULL, "failed checks not counted: %s", body);
	cr_assert(strstr(body, "ferry_hosts_online 1\n") != NULL, "%s", body);
	/* Durations are histograms, labelled by service, host and
	 * outcome. */
	cr_assert(strstr(body, "# TYPE ferry_swap_duration_seconds "
	    "histogram") != NULL, "%s", body);
	cr_assert(strstr(body, "ferry_swap_duration_seconds_count{service="
	    "\"web\",host=\"") != NULL && strstr(body, "outcome=\"failed\"} 1\n")
	    != NULL, "%s", body);
}

Test(swap, remove_takes_the_service_off_the_host)
{
	int all, running;

	spec("v1.yml", "1", "stop-first", "0s");
	spec("v2.yml", "2", "stop-first", "0s");
	cr_assert_eq(swap("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(swap("v2.yml"), 0, "%s%s", R.out, R.err);
	containers(&all, &running);
	cr_assert_eq(all, 2);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, "--remove", "web",
	    NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "web removed") != NULL, "%s", R.out);
	containers(&all, &running);
	cr_assert_eq(all, 0, "containers left after remove");
	cr_assert_eq(serving(), 0);
}
