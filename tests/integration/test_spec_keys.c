/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_spec_keys.c: every key of ferry.yml(5), shown to act on a real dockerd:
 * on the container created (name, labels, image digest, environment,
 * published port), on its health check (each kind and each setting, by
 * what the agent reports), on the plan (batches, canary) and on the
 * rollout (max_failures, on_failure).  tests/unit/test_spec.c walks the
 * keys the man page lists and fails when one has no test here (or in the
 * test it names elsewhere).  Health settings are short so that each swap
 * takes about a second. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(spec_keys, .init = setup, .fini = teardown, .timeout = 90);

/* fleet_of starts the first n agents; label gives them role=web. */
static void
fleet_of(int n, int label)
{
	int i;

	for (i = 0; i < n; i++) {
		AGENT[i] = h_add_agent(&F, HOST[i], ADDR[i]);
		if (!label)
			continue;
		h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
		    "role=web", NULL });
		cr_assert_eq(R.status, 0, "label %s: %s", HOST[i], R.err);
	}
}

/* spec_text writes FILE from a format. */
static void
spec_text(const char *file, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
spec_text(const char *file, const char *fmt, ...)
{
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	h_write(&F, file, "%s", text);
}

/* swap runs `ferry swap` of FILE on host 1 and returns its status. */
static int
swap(const char *file)
{
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], path(file), NULL });
	return R.status;
}

static void
swap_ok(const char *file)
{
	cr_assert_eq(swap(file), 0, "%s: %s%s", file, R.out, R.err);
}

/* swap_fails: the swap of FILE fails, and its result says want. */
static void
swap_fails(const char *file, const char *want)
{
	cr_assert_eq(swap(file), 1, "%s: %s%s", file, R.out, R.err);
	cr_assert(strstr(R.out, want) != NULL, "%s: \"%s\" not in: %s%s",
	    file, want, R.out, R.err);
}

/* checks counts host 1's agent log lines "SERVICE r1: health WHAT". */
static int
checks(const char *service, const char *what)
{
	char line[128];

	snprintf(line, sizeof(line), "%s r1: health %s:", service, what);
	return h_log_count(AGENT[0], line);
}

/* inspect writes docker inspect's FORMAT of container NAME into R.out;
 * returns its status. */
static int
inspect(const char *name, const char *format)
{
	return h_docker(&R, (const char *[]){ "inspect", "--format", format,
	    name, NULL });
}

static const char *
cname(int host, const char *service, int rev)
{
	static char buf[2][128];
	static int k;

	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "ferry-%s-%s-r%d", HOST[host],
	    service, rev);
	return buf[k];
}

/* The deployment's status, parsed (free with cJSON_Delete). */
static cJSON *
status_json(void)
{
	cJSON *st;

	h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "status: %s%s", R.out, R.err);
	return st;
}

/* ---- the container: service, image, hosts, port, env ------------------ */

Test(spec_keys, container_shows_service_image_hosts_port_and_env)
{
	char want[256];

	fleet_of(2, 0);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[0],
	    "role=web", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	/* hosts.labels: only host 1 carries role=web.  env: PORT moves the
	 * image's server to 8081, where port.container leads. */
	spec_text("labels.yml",
	    "service: kc\n"
	    "image: " IMG "1\n"
	    "hosts: { labels: { role: web } }\n"
	    "port: { host: %d, container: 8081 }\n"
	    "env: { PORT: \"8081\", GREETING: hello }\n"
	    "health:\n"
	    "  http: { path: /health, port: 8081 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", PORT);
	cr_assert_eq(deploy_watch("labels.yml"), 0, "%s%s", R.out, R.err);

	/* service: the container's name and label. */
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{index .Config.Labels "
	    "\"ferry.service\"}} {{index .Config.Labels \"ferry.host\"}} "
	    "{{.State.Status}}"), 0, "%s", R.err);
	snprintf(want, sizeof(want), "kc %s running", HOST[0]);
	cr_assert(strncmp(R.out, want, strlen(want)) == 0, "%s", R.out);
	/* image: by the digest the tag resolved to, serving web:1. */
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{.Config.Image}}"), 0);
	cr_assert(strncmp(R.out, "127.0.0.1:5000/ferry-test/web@sha256:",
	    37) == 0, "not by digest: %s", R.out);
	/* env: both variables, as written. */
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{range .Config.Env}}"
	    "{{println .}}{{end}}"), 0);
	cr_assert(strstr(R.out, "PORT=8081\n") && strstr(R.out,
	    "GREETING=hello\n"), "%s", R.out);
	/* port: the host's ferry-proxy serves the host port on the agent's
	 * publish address (serving(0) asks there) and passes it to 8081;
	 * the container publishes nothing itself and is labelled with both
	 * ports for the proxy's route. */
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{json "
	    ".HostConfig.PortBindings}}"), 0);
	cr_assert(strncmp(R.out, "{}", 2) == 0 || strncmp(R.out, "null",
	    4) == 0, "the container publishes %s", R.out);
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{index .Config.Labels "
	    "\"ferry.port\"}} {{index .Config.Labels \"ferry.listen\"}}"), 0);
	snprintf(want, sizeof(want), "8081 %d", PORT);
	cr_assert(strncmp(R.out, want, strlen(want)) == 0, "%s, not %s",
	    R.out, want);
	cr_assert_eq(serving(0), 1);
	/* hosts.labels: host 2, unlabelled, got nothing. */
	cr_assert_neq(inspect(cname(1, "kc", 1), "{{.Id}}"), 0,
	    "host 2 runs kc: %s", R.out);
	cr_assert_eq(serving(1), 0);

	/* hosts.names, and another image: host 2 alone gets web:2. */
	spec_text("names.yml",
	    "service: kc\n"
	    "image: " IMG "2\n"
	    "hosts: { names: [%s] }\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", HOST[1], PORT);
	cr_assert_eq(deploy_watch("names.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(serving(1), 2);
	cr_assert_eq(serving(0), 1, "host 1 was touched");
	cr_assert_eq(inspect(cname(1, "kc", 2), "{{index .Config.Labels "
	    "\"ferry.port\"}} {{index .Config.Labels \"ferry.listen\"}}"), 0);
	snprintf(want, sizeof(want), "80 %d", PORT);
	cr_assert(strncmp(R.out, want, strlen(want)) == 0, "%s", R.out);
	/* No env: none of the first revision's variables. */
	cr_assert_eq(inspect(cname(1, "kc", 2), "{{range .Config.Env}}"
	    "{{println .}}{{end}}"), 0);
	cr_assert(strstr(R.out, "GREETING") == NULL, "%s", R.out);

	/* hosts as a list, and no port: nothing published. */
	spec_text("list.yml",
	    "service: kn\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "health: { tcp: 80, interval: 200ms, min_healthy: 0s }\n",
	    HOST[1]);
	cr_assert_eq(deploy_watch("list.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(inspect(cname(1, "kn", 1), "{{json "
	    ".HostConfig.PortBindings}}"), 0);
	cr_assert(strncmp(R.out, "{}", 2) == 0 || strncmp(R.out, "null",
	    4) == 0, "a port was published: %s", R.out);
}

/* ---- health: the http check ------------------------------------------ */

/* In the health tests a swap meant to fail has unhealthy_threshold 1, so
 * that one answer fails it, and a start_period when the failure looked
 * for needs the server up; a swap meant to pass keeps the default
 * threshold, since a first check may come before the server listens. */

Test(spec_keys, health_http_path_port_and_status)
{
	fleet_of(1, 0);
	/* path: asked for as written; /version answers 200, /nope 404.
	 * (A start_period lets the server come up before a failure counts,
	 * so that the one that fails the swap is the answer looked for.) */
	spec_text("p1.yml", "service: p1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  http: { path: /version, port: 80 }\n"
	    "  interval: 100ms\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_ok("p1.yml");
	cr_assert(h_log_has(AGENT[0], "p1 r1: health pass: HTTP 200 on "
	    "/version"));
	spec_text("p2.yml", "service: p2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  http: { path: /nope, port: 80 }\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  start_period: 1s\n  min_healthy: 0s\n", HOST[0]);
	swap_fails("p2.yml", "HTTP 404 on /nope");
	/* status: web:bad answers 404 on /health; asked for, it passes. */
	spec_text("s1.yml", "service: s1\nimage: " IMG "bad\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80, status: 404 }\n"
	    "  interval: 100ms\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_ok("s1.yml");
	spec_text("s2.yml", "service: s2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80, status: 404 }\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  start_period: 1s\n  min_healthy: 0s\n", HOST[0]);
	swap_fails("s2.yml", "HTTP 200 on /health");
	/* port: the server listens on 8081 (env PORT); asked there it
	 * passes, on 80 nothing answers. */
	spec_text("o1.yml", "service: o1\nimage: " IMG "1\nhosts: [%s]\n"
	    "env: { PORT: \"8081\" }\n"
	    "health:\n  http: { path: /health, port: 8081 }\n"
	    "  interval: 100ms\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_ok("o1.yml");
	spec_text("o2.yml", "service: o2\nimage: " IMG "1\nhosts: [%s]\n"
	    "env: { PORT: \"8081\" }\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_fails("o2.yml", "on /health");
	cr_assert(strstr(R.out, "HTTP 200") == NULL, "%s", R.out);
}

/* ---- health: tcp, exec, docker ----------------------------------------- */

Test(spec_keys, health_tcp_exec_and_docker_checks)
{
	fleet_of(1, 0);
	/* tcp: a connection to the container's port. */
	spec_text("t1.yml", "service: t1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health: { tcp: 80, interval: 100ms, min_healthy: 0s }\n",
	    HOST[0]);
	swap_ok("t1.yml");
	cr_assert(h_log_has(AGENT[0], "t1 r1: health pass: TCP "));
	spec_text("t2.yml", "service: t2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health: { tcp: 81, interval: 100ms, unhealthy_threshold: 1, "
	    "min_healthy: 0s }\n", HOST[0]);
	swap_fails("t2.yml", ":81: ");
	/* exec: inside the container, where /www/health exists in web:1
	 * and not in web:bad. */
	spec_text("e1.yml", "service: e1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, test, -f, /www/health]\n"
	    "  interval: 100ms\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_ok("e1.yml");
	cr_assert(h_log_has(AGENT[0], "e1 r1: health pass: exit 0"));
	spec_text("e2.yml", "service: e2\nimage: " IMG "bad\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, test, -f, /www/health]\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_fails("e2.yml", "exit 1");
	/* docker: the image's own HEALTHCHECK decides. */
	spec_text("d1.yml", "service: d1\nimage: " IMG "healthcheck\nhosts: [%s]\n"
	    "health:\n  docker: true\n"
	    "  interval: 100ms\n"
	    "  deadline: 20s\n  min_healthy: 0s\n", HOST[0]);
	swap_ok("d1.yml");
	cr_assert(h_log_has(AGENT[0], "d1 r1: health pass: docker health "
	    "healthy"));
	spec_text("d2.yml", "service: d2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  docker: true\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_fails("d2.yml", "the image has no HEALTHCHECK");
}

/* ---- health: interval and the thresholds -------------------------------- */

Test(spec_keys, health_interval_and_thresholds)
{
	int fast, slow;

	fleet_of(1, 0);
	/* healthy_threshold: that many passes before it counts healthy
	 * (min_healthy 0s: healthy is done). */
	spec_text("h1.yml", "service: h1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 80\n  interval: 100ms\n"
	    "  healthy_threshold: 1\n  min_healthy: 0s\n", HOST[0]);
	spec_text("h3.yml", "service: h3\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 80\n  interval: 100ms\n"
	    "  healthy_threshold: 3\n  min_healthy: 0s\n", HOST[0]);
	swap_ok("h1.yml");
	swap_ok("h3.yml");
	cr_assert_eq(checks("h1", "pass"), 1);
	cr_assert_eq(checks("h3", "pass"), 3);
	/* unhealthy_threshold: that many counted failures fail it (nothing
	 * ever listens on port 81). */
	spec_text("u1.yml", "service: u1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 81\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	spec_text("u4.yml", "service: u4\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 81\n"
	    "  interval: 100ms\n  unhealthy_threshold: 4\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_fails("u1.yml", "unhealthy: TCP ");
	swap_fails("u4.yml", "unhealthy: TCP ");
	cr_assert_eq(checks("u1", "fail"), 1);
	cr_assert_eq(checks("u4", "fail"), 4);
	/* interval: checks while min_healthy (1s) watches: about 11 at
	 * 100ms, 1 or 2 at 1s. */
	spec_text("i1.yml", "service: i1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 80\n  interval: 100ms\n"
	    "  min_healthy: 1s\n", HOST[0]);
	spec_text("i2.yml", "service: i2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  tcp: 80\n  interval: 1s\n"
	    "  min_healthy: 1s\n", HOST[0]);
	swap_ok("i1.yml");
	swap_ok("i2.yml");
	fast = checks("i1", "pass");
	slow = checks("i2", "pass");
	cr_log_info("passes in 1s: %d at 100ms, %d at 1s", fast, slow);
	cr_assert_geq(fast, 5, "%d checks at 100ms", fast);
	cr_assert_leq(slow, 2, "%d checks at 1s", slow);
}

/* ---- health: timeout, deadline, start_period, min_healthy --------------- */

Test(spec_keys, health_timeout_deadline_start_period_and_min_healthy)
{
	fleet_of(1, 0);
	/* timeout: a check of 1 s fails under 300ms, passes under 3s. */
	spec_text("o1.yml", "service: o1\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, sleep, \"1\"]\n"
	    "  timeout: 300ms\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_fails("o1.yml", "still running after 300 ms");
	spec_text("o2.yml", "service: o2\nimage: " IMG "1\nhosts: [%s]\n"
	    "health:\n  exec: [/bin/busybox, sleep, \"1\"]\n"
	    "  timeout: 3s\n  unhealthy_threshold: 1\n"
	    "  min_healthy: 0s\n", HOST[0]);
	swap_ok("o2.yml");
	/* deadline: failures that never count up to the threshold still
	 * fail it once the deadline is past. */
	spec_text("l1.yml", "service: l1\nimage: " IMG "bad\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 100ms\n  unhealthy_threshold: 1000\n"
	    "  deadline: 1s\n  min_healthy: 0s\n", HOST[0]);
	swap_fails("l1.yml", "not healthy within the deadline (1000 ms)");
	/* start_period: web:slow answers 404 for 3 s.  Its failures then do
	 * not count; without one the first fails it. */
	spec_text("a1.yml", "service: a1\nimage: " IMG "slow\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n  unhealthy_threshold: 1\n"
	    "  start_period: 5s\n  deadline: 10s\n  min_healthy: 0s\n",
	    HOST[0]);
	swap_ok("a1.yml");
	spec_text("a2.yml", "service: a2\nimage: " IMG "slow\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n  unhealthy_threshold: 1\n"
	    "  deadline: 10s\n  min_healthy: 0s\n", HOST[0]);
	swap_fails("a2.yml", "unhealthy: ");
	/* min_healthy: web:flaky passes for 2 s, then answers 404.  Watched
	 * for 3s it fails; for 500ms it passes.  (The start_period only
	 * keeps a check before the server is up from counting.) */
	spec_text("m1.yml", "service: m1\nimage: " IMG "flaky\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n  unhealthy_threshold: 1\n"
	    "  start_period: 1s\n  deadline: 10s\n  min_healthy: 3s\n",
	    HOST[0]);
	swap_fails("m1.yml", "turned unhealthy within min_healthy");
	spec_text("m2.yml", "service: m2\nimage: " IMG "flaky\nhosts: [%s]\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n  unhealthy_threshold: 1\n"
	    "  start_period: 1s\n  deadline: 10s\n  min_healthy: 500ms\n",
	    HOST[0]);
	swap_ok("m2.yml");
}

/* ---- the plan: strategy, rollout.batch, rollout.canary; refusals ------- */

/* plan_batches runs `ferry plan FILE --json` and returns its number of
 * batches; batch[i] gets host i's batch (1-based). */
static int
plan_batches(const char *file, int batch[NH])
{
	const cJSON *h, *n;
	cJSON *o;
	int i, nb;

	h_ferry(&F, &R, (const char *[]){ "plan", path(file), "--json",
	    NULL });
	cr_assert_eq(R.status, 0, "plan %s: %s%s", file, R.out, R.err);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "%s", R.out);
	n = cJSON_GetObjectItem(o, "batches");
	nb = cJSON_IsNumber(n) ? (int)n->valuedouble : -1;
	for (i = 0; i < NH; i++)
		batch[i] = 0;
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(o, "hosts"))
		for (i = 0; i < NH; i++)
			if (strcmp(jstr(h, "name"), HOST[i]) == 0)
				batch[i] = (int)cJSON_GetObjectItem(h,
				    "batch")->valuedouble;
	cJSON_Delete(o);
	return nb;
}

Test(spec_keys, rollout_batch_canary_and_strategy_in_the_plan)
{
	static const char head[] = "service: kp\nimage: " IMG "1\n"
	    "hosts: { labels: { role: web } }\n"
	    "health: { tcp: 80, min_healthy: 0s }\n";
	int b[NH];

	fleet_of(2, 1);
	/* strategy rolling, batch 1: one host after the other. */
	spec_text("one.yml", "%sstrategy: rolling\nrollout: { batch: 1 }\n", head);
	cr_assert_eq(plan_batches("one.yml", b), 2);
	cr_assert(b[0] == 1 && b[1] == 2, "batches %d %d", b[0], b[1]);
	/* batch as a count or a percentage. */
	spec_text("two.yml", "%srollout: { batch: 2 }\n", head);
	cr_assert_eq(plan_batches("two.yml", b), 1);
	cr_assert(b[0] == 1 && b[1] == 1, "batches %d %d", b[0], b[1]);
	spec_text("half.yml", "%srollout: { batch: \"50%%\" }\n", head);
	cr_assert_eq(plan_batches("half.yml", b), 2);
	/* canary: a first batch of its own size, then batch at a time. */
	spec_text("canary.yml", "%srollout: { batch: 2, canary: 1 }\n", head);
	cr_assert_eq(plan_batches("canary.yml", b), 2);
	cr_assert(b[0] == 1 && b[1] == 2, "batches %d %d", b[0], b[1]);

	/* A strategy that cannot work here (blue-green needs a host port
	 * for ferry-proxy to switch) is refused by ferryd, naming file,
	 * line and key, and so is a secret ferryd does not have; nothing is
	 * recorded. */
	spec_text("strategy.yml", "%sstrategy: blue-green\n", head);
	h_ferry(&F, &R, (const char *[]){ "plan", path("strategy.yml"),
	    NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "strategy.yml:5: strategy: blue-green needs "
	    "a host port (port:)") != NULL, "%s", R.err);
	spec_text("secrets.yml", "%ssecrets: [DB_PASSWORD]\n", head);
	h_ferry(&F, &R, (const char *[]){ "deploy", path("secrets.yml"),
	    NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "secrets.yml: secrets: DB_PASSWORD is not "
	    "set for kp: set it first with `ferry secret set kp "
	    "DB_PASSWORD`") != NULL, "%s", R.err);
	cr_assert_eq(h_db_int(&F, "ferryd/ferryd.db", "SELECT COUNT(*) FROM "
	    "revisions", NULL, 0, NULL), 0);
}

/* ---- the rollout: max_failures and on_failure --------------------------- */

Test(spec_keys, rollout_max_failures_and_on_failure)
{
	cJSON *st;
	int held;

	fleet_of(2, 1);
	/* Host 1 (batch 1) cannot publish the port: its swap fails. */
	held = hold_port(ADDR[0]);
	/* max_failures 1: the failure is tolerated, host 2 goes on. */
	spec_text("m1.yml", "service: km\nimage: " IMG "1\n"
	    "hosts: { labels: { role: web } }\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { tcp: 80, interval: 200ms, min_healthy: 300ms }\n"
	    "rollout: { batch: 1, max_failures: 1 }\n", PORT);
	cr_assert_eq(deploy_watch("m1.yml"), 0, "%s%s", R.out, R.err);
	st = status_json();
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "failed", "%s", R.out);
	cr_assert_str_eq(host_state(st, 1), "done", "%s", R.out);
	cJSON_Delete(st);
	cr_assert_eq(serving(1), 1);

	/* on_failure continue: past max_failures 0 host 2 still gets the
	 * new revision; the deployment ends failed. */
	spec_text("c2.yml", "service: km\nimage: " IMG "2\n"
	    "hosts: { labels: { role: web } }\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { tcp: 80, interval: 200ms, min_healthy: 300ms }\n"
	    "rollout: { batch: 1, max_failures: 0, on_failure: continue }\n",
	    PORT);
	cr_assert_eq(deploy_watch("c2.yml"), 1, "%s%s", R.out, R.err);
	st = status_json();
	cr_assert_str_eq(jstr(st, "state"), "failed", "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "failed", "%s", R.out);
	cr_assert_str_eq(host_state(st, 1), "done", "%s", R.out);
	cJSON_Delete(st);
	cr_assert_eq(serving(1), 2);

	/* on_failure rollback (the default): host 2 is never reached. */
	spec_text("r3.yml", "service: km\nimage: " IMG "1\n"
	    "hosts: { labels: { role: web } }\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { tcp: 80, interval: 200ms, min_healthy: 300ms }\n"
	    "rollout: { batch: 1, on_failure: rollback }\n", PORT);
	cr_assert_eq(deploy_watch("r3.yml"), 1, "%s%s", R.out, R.err);
	st = status_json();
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cr_assert_str_eq(host_state(st, 1), "skipped", "%s", R.out);
	cJSON_Delete(st);
	cr_assert_eq(serving(1), 2);
	close(held);
}
