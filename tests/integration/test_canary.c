/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c coordinator/promq.c
/* test_canary.c: canaries and blue-green end to end on the real dockerd and
 * registry, every host with its own ferry-proxy, judged on what the
 * proxies count: a canary whose new revision fails 2% of requests is put
 * back by its figures, revisions that behave like the stable one pass,
 * too little traffic is never passed, a p95 regression fails, blue-green
 * switches six hosts and back, a kill -9 of ferryd mid-step loses no
 * interval, and promote ends a step that waits.  The service is the test
 * image web:errors, whose error rate and latency come from its
 * environment (tests/images/faultweb.c).  Every wait is bounded;
 * processes are ended by pid. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"
#include "promq.h"

TestSuite(canary, .init = setup, .fini = teardown, .timeout = 240);

/* web writes web.yml: web:errors failing rate of requests after
 * latency_ms, answering version on /version, then the strategy's lines
 * (rolling when NULL). */
static void
web(const char *version, const char *rate, int latency_ms,
    const char *strategy)
{
	h_write(&F, "web.yml",
	    "service: web\n"
	    "image: " IMG "errors\n"
	    "hosts: " LABELS "\n"
	    "port: { host: %d, container: 80 }\n"
	    "env: { ERROR_RATE: \"%s\", LATENCY_MS: \"%d\", VERSION: \"%s\" }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  timeout: 1s\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n"
	    "proxy: { drain_timeout: 3s }\n"
	    "%s", PORT, rate, latency_ms, version,
	    strategy ? strategy : "rollout: { batch: 6 }\n");
}

/* stable deploys version v of web (rolling) on the first n hosts and
 * waits for it. */
static void
stable(int n, const char *v, const char *rate, int latency_ms)
{
	fleet(n);
	web(v, rate, latency_ms, NULL);
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
}

/* load_version starts ferry-load on /version of hosts 0..n-1. */
static struct h_proc *
load_version(int n, int conns, int interval_ms)
{
	return load_start_t("load", 0, n - 1, conns, interval_ms, 120, 5);
}

static const cJSON *
canary_of(const cJSON *st)
{
	const cJSON *c = cJSON_GetObjectItem(st, "canary");

	cr_assert_not_null(c, "no canary in %s", R.out);
	return c;
}

/* intervals returns the deployment's judged intervals, newest first. */
static const cJSON *
intervals(const cJSON *st)
{
	return cJSON_GetObjectItem(canary_of(st), "intervals");
}

/* wait_step waits until deployment id is in canary at step (1-based)
 * with its weight taken everywhere. */
static cJSON *
wait_step(unsigned id, int step, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		cJSON *st = status(id);

		if (st != NULL) {
			const cJSON *c = cJSON_GetObjectItem(st, "canary");

			cr_assert(!finished_state(jstr(st, "state")),
			    "deployment %u ended: %s", id, R.out);
			if (c != NULL && strcmp(jstr(st, "state"), "canary") ==
			    0 && jnum(c, "step") == step &&
			    strcmp(jstr(c, "phase"), "running") == 0)
				return st;
			cJSON_Delete(st);
		}
		cr_assert(now_ms() < end, "deployment %u not at step %d "
		    "after %d ms: %s", id, step, ms, R.out);
		h_sleep_ms(100);
	}
}

/* switch_failures sums, over every host, what a switch of traffic would
 * have caused: upstream failures of any revision and the proxies' own
 * 503s (no target, held too long), in the last 5 minutes. */
static double
switch_failures(void)
{
	const cJSON *h, *t;
	cJSON *o;
	double n = 0;

	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o);
	cJSON_ArrayForEach(h, o) {
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(h, "traffic")) {
			const cJSON *u = cJSON_GetObjectItem(t,
			    "upstream_failures");

			if (jnum(t, "window_ms") != 300000)
				continue;
			n += jd(u, "refused", NULL) + jd(u, "reset", NULL) +
			    jd(u, "timeout", NULL) + jd(u, "unanswered", NULL);
		}
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(h, "refusals"))
			if (jnum(t, "window_ms") == 300000)
				n += jd(t, "no_target", NULL) +
				    jd(t, "held_expired", NULL);
	}
	cJSON_Delete(o);
	return n;
}

/* no_transport_failures: every request ferry-load sent was answered (the
 * 5xx the image itself sends are its error rate, not a failure). */
static void
no_transport_failures(const cJSON *o, const char *what)
{
	char *text = cJSON_PrintUnformatted(o);

	cr_assert_gt(jd(o, "sent", NULL), 100, "%s: too few requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "failed", NULL), 0, "%s: failed requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "responses", NULL), jd(o, "sent", NULL), "%s: %s",
	    what, text);
	cr_log_info("%s: %s", what, text);
	free(text);
}

/* metrics_has says whether ferryd's /metrics has the line. */
static int
metrics_has(const char *line)
{
	static char body[1 << 20];
	const char *colon = strchr(F.http, ':');

	cr_assert_not_null(colon);
	cr_assert_eq(h_http_get("127.0.0.1", atoi(colon + 1), "/metrics",
	    body, sizeof(body)), 200);
	return strstr(body, line) != NULL;
}

/* versions_on counts host i's running containers of web. */
static int
versions_on(int i)
{
	char buf[2048];
	int all;

	return containers(i, buf, sizeof(buf), &all);
}

/*
 * The canary: 5% of traffic to a revision that fails 2% of its
 * requests (the stable one 0.1%), judged every 2 s: it is put back within
 * 3 intervals, its cause citing the figures, and the switch itself fails
 * no request.
 */
Test(canary, a_failing_canary_is_rolled_back_by_its_figures)
{
	const cJSON *iv, *last;
	struct h_proc *load;
	char line[200];
	cJSON *st, *o;
	unsigned id;
	int i, n;

	stable(3, "s1", "0.1%", 0);
	load = load_version(3, 4, 1);
	h_sleep_ms(1000);
	web("c2", "2%", 0,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 5%, for: 60s } ] }\n"
	    "analysis: { interval: 2s, min_requests: 100, error_rate: { max: "
	    "1% }, relative: { error_rate: 2x }, failure_limit: 2 }\n");
	id = deploy_bg("web.yml");
	st = wait_state(id, "rolled_back", 60000);
	iv = intervals(st);
	n = cJSON_GetArraySize(iv);
	cr_assert(n >= 2 && n <= 3, "rolled back after %d intervals: %s", n,
	    R.out);
	last = cJSON_GetArrayItem(iv, 0);
	cr_assert_str_eq(jstr(last, "verdict"), "fail", "%s", R.out);
	cr_assert_geq(jnum(last, "canary_requests"), 100, "%s", R.out);
	cr_assert(strstr(jstr(st, "cause"), "failed its analysis") != NULL &&
	    strstr(jstr(st, "cause"), "error rate") != NULL &&
	    strstr(jstr(st, "cause"), "stable") != NULL, "the cause cites "
	    "the figures: %s", jstr(st, "cause"));
	snprintf(line, sizeof(line), "ferry_analysis_intervals_total{service="
	    "\"web\",verdict=\"fail\"} 2\n");
	cr_assert(metrics_has(line), "/metrics counts the verdicts: %s", line);
	cJSON_Delete(st);
	/* Back to the stable revision alone, everywhere. */
	for (i = 0; i < 3; i++)
		cr_assert_eq(versions_on(i), 1, "%s", HOST[i]);
	h_sleep_ms(500);
	o = load_stop(load);
	no_transport_failures(o, "canary and its rollback");
	cJSON_Delete(o);
	cr_assert_eq(switch_failures(), 0, "the switch failed requests");
	/* The text an operator reads. */
	h_ferry(&F, &R, (const char *[]){ "status", "web", NULL });
	h_ferry(&F, &R, (const char *[]){ "status", NULL });
	cr_assert(strstr(R.out, "Analysis: error rate") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "fail") != NULL, "%s", R.out);
}

/*
 * Revisions that behave exactly like the stable one (0.1% errors, the same
 * latency) pass their canary, one after the other: none is aborted.  (The
 * bench runs twenty; the verdict's false-fail rate is measured over
 * 10,000 simulated intervals in test_analysis.)
 */
Test(canary, canaries_that_behave_like_the_stable_revision_pass)
{
	struct h_proc *load;
	const cJSON *iv;
	char v[16];
	cJSON *st, *o;
	unsigned id;
	int k, passes;

	stable(3, "s1", "0.1%", 0);
	load = load_version(3, 3, 1);
	for (k = 2; k <= 4; k++) {
		snprintf(v, sizeof(v), "s%d", k);
		web(v, "0.1%", 0,
		    "strategy: canary\n"
		    "canary: { hosts: 2, steps: [ { weight: 20%, for: 1s } ] "
		    "}\n"
		    "analysis: { interval: 1s, min_requests: 50, error_rate: { "
		    "max: 2% }, relative: { error_rate: 2x, p95: 2x }, "
		    "failure_limit: 2 }\n");
		id = deploy_bg("web.yml");
		st = wait_state(id, NULL, 60000);
		cr_assert_str_eq(jstr(st, "state"), "succeeded", "canary %d: "
		    "%s", k, R.out);
		passes = 0;
		cJSON_ArrayForEach(iv, intervals(st)) {
			cr_assert_str_neq(jstr(iv, "verdict"), "fail", "%s",
			    R.out);
			passes += strcmp(jstr(iv, "phase"), "canary") == 0 &&
			    strcmp(jstr(iv, "verdict"), "pass") == 0;
		}
		cr_assert_geq(passes, 1, "the step passed on evidence: %s",
		    R.out);
		cJSON_Delete(st);
	}
	o = load_stop(load);
	no_transport_failures(o, "three canaries");
	cJSON_Delete(o);
	cr_assert_eq(switch_failures(), 0);
}

/*
 * No traffic at all: every interval is inconclusive, the canary pauses
 * and is never passed; the progress deadline then puts it back.
 */
Test(canary, too_little_traffic_is_inconclusive_never_passed)
{
	const cJSON *iv;
	cJSON *st;
	unsigned id;
	int i;

	stable(2, "s1", "0.1%", 0);
	web("c2", "0.1%", 0,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 10%, for: 1s } ] }\n"
	    "analysis: { interval: 1s, min_requests: 50, error_rate: { max: "
	    "1% }, inconclusive: pause }\n"
	    "rollout: { progress_deadline: 4s }\n");
	id = deploy_bg("web.yml");
	st = wait_state(id, "paused", 30000);
	cr_assert(strstr(jstr(st, "cause"), "inconclusive") != NULL, "%s",
	    jstr(st, "cause"));
	iv = intervals(st);
	cr_assert_eq(cJSON_GetArraySize(iv), 1, "%s", R.out);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(iv, 0), "verdict"),
	    "inconclusive");
	/* Paused, the split stays: both revisions run on each host. */
	for (i = 0; i < 2; i++)
		cr_assert_eq(versions_on(i), 2, "%s", HOST[i]);
	cJSON_Delete(st);
	st = wait_state(id, "rolled_back", 20000);
	cr_assert(strstr(jstr(st, "cause"), "no progress for 4s") != NULL,
	    "%s", jstr(st, "cause"));
	cJSON_Delete(st);
	for (i = 0; i < 2; i++)
		cr_assert_eq(versions_on(i), 1, "%s", HOST[i]);
}

/* A p95 of 400 ms against the stable 50 ms fails its canary. */
Test(canary, a_p95_regression_fails)
{
	const cJSON *last;
	struct h_proc *load;
	cJSON *st, *o;
	unsigned id;

	stable(2, "s1", "0%", 50);
	load = load_version(2, 8, 0);
	web("c2", "0%", 400,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 20%, for: 60s } ] }\n"
	    "analysis: { interval: 2s, min_requests: 20, p95: { max: 300ms }, "
	    "relative: { p95: 1.5x }, failure_limit: 2 }\n");
	id = deploy_bg("web.yml");
	st = wait_state(id, "rolled_back", 60000);
	last = cJSON_GetArrayItem(intervals(st), 0);
	cr_assert_str_eq(jstr(last, "verdict"), "fail", "%s", R.out);
	cr_assert_gt(jd(last, "canary_p95_ms", NULL), 300, "%s", R.out);
	cr_assert_lt(jd(last, "stable_p95_ms", NULL), 120, "%s", R.out);
	cr_assert(strstr(jstr(st, "cause"), "p95") != NULL, "%s",
	    jstr(st, "cause"));
	cJSON_Delete(st);
	o = load_stop(load);
	no_transport_failures(o, "p95 canary");
	cJSON_Delete(o);
}

/*
 * Blue-green on six hosts under load: prepared everywhere, switched
 * together (every host serves the new revision, the old warm beside it),
 * then `ferry rollback web` switches every host back in one round,
 * starting nothing.  No request fails.
 */
Test(canary, blue_green_switches_six_hosts_and_back)
{
	struct h_proc *load;
	cJSON *st, *o;
	unsigned id;
	char before[NH][2048], after[2048];
	int i, all;

	stable(NH, "s1", "0%", 0);
	load = load_version(NH, 1, 5);
	web("b2", "0%", 0,
	    "strategy: blue-green\n"
	    "blue_green: { keep_old: 60s }\n");
	id = deploy_bg("web.yml");
	st = wait_step(id, 2, 60000);
	cJSON_Delete(st);
	for (i = 0; i < NH; i++) {
		char body[256];

		cr_assert_eq(h_http_get(ADDR[i], PORT, "/version", body,
		    sizeof(body)), 200);
		cr_assert(strncmp(body, "b2", 2) == 0, "%s serves %s",
		    HOST[i], body);
		cr_assert_eq(containers(i, before[i], sizeof(before[i]), &all),
		    2, "%s: the old revision stays warm", HOST[i]);
	}
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--json",
	    NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	st = wait_state(id, "rolled_back", 30000);
	cr_assert(strstr(jstr(st, "cause"), "switched back by operator") !=
	    NULL, "%s", jstr(st, "cause"));
	cJSON_Delete(st);
	for (i = 0; i < NH; i++) {
		char body[256];

		cr_assert_eq(h_http_get(ADDR[i], PORT, "/version", body,
		    sizeof(body)), 200);
		cr_assert(strncmp(body, "s1", 2) == 0, "%s serves %s",
		    HOST[i], body);
		cr_assert_eq(containers(i, after, sizeof(after), &all), 1);
		cr_assert(strstr(before[i], after) != NULL, "%s: the old "
		    "container was kept, none started", HOST[i]);
	}
	o = load_stop(load);
	no_failures(o, "blue-green and back");
	cJSON_Delete(o);
}

/*
 * kill -9 ferryd while a canary step is judged: the proxies keep the
 * split, and the restarted ferryd resumes the step with its marks, so the
 * intervals go on numbered without a gap or a repeat, each starting where
 * the one before ended.
 */
Test(canary, a_killed_ferryd_resumes_the_step_losing_no_interval)
{
	struct h_proc *load;
	const cJSON *iv, *a, *b;
	double span, got, longest = 0;
	cJSON *st, *o;
	unsigned id;
	int i, n;

	stable(2, "s1", "0%", 0);
	load = load_start_rate("load", 0, 1, 2, 100, 120);
	web("c2", "0%", 0,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 30%, for: 6s } ] }\n"
	    "analysis: { interval: 1s, min_requests: 20, error_rate: { max: "
	    "1% } }\n");
	id = deploy_bg("web.yml");
	st = wait_step(id, 1, 60000);
	cJSON_Delete(st);
	h_sleep_ms(2500);
	cr_assert_eq(h_kill(F.ferryd, SIGKILL), 128 + SIGKILL);
	/* The split goes on without ferryd. */
	for (i = 0; i < 2; i++)
		cr_assert_eq(versions_on(i), 2, "%s", HOST[i]);
	h_sleep_ms(1500);
	h_start_ferryd(&F, NULL);
	st = wait_state(id, NULL, 60000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	iv = intervals(st);
	n = cJSON_GetArraySize(iv);
	cr_assert_geq(n, 2, "%s", R.out);
	for (i = 0; i + 1 < n; i++) {
		a = cJSON_GetArrayItem(iv, i);		/* newer */
		b = cJSON_GetArrayItem(iv, i + 1);	/* older */
		cr_assert_eq(jnum(a, "seq"), jnum(b, "seq") + 1, "no gap, no "
		    "repeat: %s", R.out);
		cr_assert_str_eq(jstr(b, "verdict"), "pass", "%s", R.out);
	}
	cr_assert_eq(jnum(cJSON_GetArrayItem(iv, n - 1), "seq"), 1);
	/* Each interval begins where the one before ended, and counts what
	 * the proxies served in all of it: the load is 4 x 100 requests a
	 * second, so an interval of s seconds holds about 400 s of them.
	 * The one ferryd died in was judged once, over its whole span, from
	 * the marks it had stored: had the marks been taken again after the
	 * restart, it would hold only the seconds since. */
	for (i = 0; i < n; i++) {
		a = cJSON_GetArrayItem(iv, i);
		span = jd(a, "end_ms", NULL) - jd(a, "start_ms", NULL);
		got = jd(a, "canary_requests", NULL) +
		    jd(a, "stable_requests", NULL);
		cr_assert_gt(got, 0.6 * 400 * span / 1000, "interval %d: %.0f "
		    "requests in %.0f ms, not about 400/s: %s",
		    jnum(a, "seq"), got, span, R.out);
		cr_assert_lt(got, 1.4 * 400 * span / 1000 + 50, "interval %d: "
		    "%.0f requests in %.0f ms: counted twice? %s",
		    jnum(a, "seq"), got, span, R.out);
		if (i + 1 < n)
			cr_assert_lt(fabs(jd(a, "start_ms", NULL) -
			    jd(cJSON_GetArrayItem(iv, i + 1), "end_ms",
			    NULL)), 50, "interval %d starts where the one "
			    "before ended: %s", jnum(a, "seq"), R.out);
		if (span > longest)
			longest = span;
	}
	cr_assert_gt(longest, 1900, "an interval spans the crash: %s", R.out);
	cJSON_Delete(st);
	o = load_stop(load);
	no_transport_failures(o, "canary across a ferryd crash");
	cJSON_Delete(o);
}

/* A step without `for` waits for `ferry promote`, which completes it. */
Test(canary, promote_ends_a_step_that_waits)
{
	char ids[128];
	cJSON *st;
	unsigned id;
	int i;

	stable(2, "s1", "0%", 0);
	web("c2", "0%", 0,
	    "strategy: canary\n"
	    "canary: { hosts: 1, steps: [ { weight: 50% } ] }\n");
	id = deploy_bg("web.yml");
	st = wait_step(id, 1, 60000);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(canary_of(st),
	    "step_waits")), "%s", R.out);
	cJSON_Delete(st);
	h_sleep_ms(1000);
	st = status(id);
	cr_assert_str_eq(jstr(st, "state"), "canary", "it waits: %s", R.out);
	cJSON_Delete(st);
	cr_assert_eq(versions_on(0), 2);
	cr_assert_eq(versions_on(1), 1, "only the canary host runs both");
	snprintf(ids, sizeof(ids), "ferry_canary_weight{service=\"web\","
	    "deployment=\"%u\",strategy=\"canary\"} 50\n", id);
	cr_assert(metrics_has(ids), "/metrics shows the live weight: %s", ids);
	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "promote", ids, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	st = wait_state(id, "succeeded", 60000);
	cJSON_Delete(st);
	for (i = 0; i < 2; i++) {
		char body[256];

		cr_assert_eq(versions_on(i), 1);
		cr_assert_eq(h_http_get(ADDR[i], PORT, "/version", body,
		    sizeof(body)), 200);
		cr_assert(strncmp(body, "c2", 2) == 0, "%s", body);
	}
}

/*
 * A shop's own Prometheus judges the canary: it scrapes ferryd's
 * /metrics, and the spec's query reads the canary revision's 5xx share
 * from it.  The new revision fails 20% of its requests: over max, the
 * canary goes back, its cause naming the check.
 */
Test(canary, a_prometheus_check_judges_the_canary, .timeout = 120)
{
	const cJSON *last;
	struct h_proc *load;
	char cfg[600], tsdb[600], a1[700], a2[700], a3[100], ready[64];
	double v = NAN;
	char why[PROMQ_REASON_LEN];
	struct promq_vars vars = { "web", 0, 0 };
	uint64_t deadline;
	cJSON *st, *o;
	unsigned id;
	int pport;

	cr_assert(access("/usr/bin/prometheus", X_OK) == 0, "Debian's "
	    "prometheus is missing: run ./deploy/setup.sh deps");
	stable(2, "s1", "0%", 0);
	load = load_version(2, 2, 2);
	h_write(&F, "prometheus.yml",
	    "global: { scrape_interval: 1s, scrape_timeout: 1s }\n"
	    "scrape_configs:\n"
	    "  - job_name: ferryd\n"
	    "    static_configs: [ { targets: ['%s'] } ]\n", F.http);
	pport = h_free_port();
	snprintf(a1, sizeof(a1), "--config.file=%s", h_path(&F,
	    "prometheus.yml", cfg, sizeof(cfg)));
	snprintf(a2, sizeof(a2), "--storage.tsdb.path=%s", h_path(&F, "tsdb",
	    tsdb, sizeof(tsdb)));
	snprintf(a3, sizeof(a3), "--web.listen-address=127.0.0.1:%d", pport);
	h_spawn(&F, "prometheus", (const char *[]){ "/usr/bin/prometheus", a1,
	    a2, a3, "--log.level=warn", NULL });
	/* Ready, and ferryd scraped with the stable revision's counts. */
	snprintf(cfg, sizeof(cfg), "http://127.0.0.1:%d", pport);
	deadline = h_mono_ms() + 30000;
	while (h_mono_ms() < deadline && !(h_http_get("127.0.0.1", pport,
	    "/-/ready", ready, sizeof(ready)) == 200 && promq_query(cfg,
	    "sum(ferry_proxy_requests_total{service=\"web\"})", &vars, 2000,
	    &v, why, sizeof(why)) == 0 && v > 0))
		h_sleep_ms(200);
	cr_assert(v > 0, "Prometheus never saw ferryd's counts: %s", why);
	web("c2", "20%", 0,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 30%, for: 60s } ] }\n"
	    "analysis:\n"
	    "  interval: 2s\n"
	    "  min_requests: 20\n"
	    "  failure_limit: 2\n"
	    "  inconclusive: fail\n"
	    "  prometheus:\n"
	    "    - name: canary_5xx\n"
	    "      url: http://127.0.0.1:PPORT\n"
	    "      query: 'sum(ferry_proxy_responses_total{service=\"{{service}}\","
	    "revision=\"{{revision}}\",class=\"5xx\"}) / sum(ferry_proxy_"
	    "requests_total{service=\"{{service}}\",revision=\"{{revision}}\"})'\n"
	    "      max: 0.05\n");
	{
		/* The port goes in where the spec says PPORT. */
		char *text, *at, port[16];
		FILE *fp;
		long len;

		snprintf(port, sizeof(port), "%d", pport);
		cr_assert_not_null(fp = fopen(path("web.yml"), "r"));
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		text = calloc(1, (size_t)len + 1);
		cr_assert_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
		fclose(fp);
		at = strstr(text, "PPORT");
		cr_assert_not_null(at);
		*at = '\0';
		h_write(&F, "web.yml", "%s%s%s", text, port, at + 5);
		free(text);
	}
	id = deploy_bg("web.yml");
	st = wait_state(id, "rolled_back", 60000);
	last = cJSON_GetArrayItem(intervals(st), 0);
	cr_assert_str_eq(jstr(last, "verdict"), "fail", "%s", R.out);
	cr_assert(strstr(jstr(st, "cause"), "prometheus canary_5xx") != NULL,
	    "the cause names the check: %s", jstr(st, "cause"));
	cr_assert(strstr(jstr(last, "reason"), "> 0.05") != NULL, "%s",
	    jstr(last, "reason"));
	cJSON_Delete(st);
	o = load_stop(load);
	no_transport_failures(o, "a canary judged by Prometheus");
	cJSON_Delete(o);
}

/*
 * Pause stops a canary's step where it is (the split stays), resume goes
 * on, and abort puts traffic back on every canary host before it ends:
 * an abort leaves no split behind.
 */
Test(canary, pause_resume_then_abort_leaves_no_split)
{
	char ids[16];
	cJSON *st;
	unsigned id;
	int i;

	stable(2, "s1", "0%", 0);
	web("c2", "0%", 0,
	    "strategy: canary\n"
	    "canary: { steps: [ { weight: 30%, for: 10m } ] }\n");
	id = deploy_bg("web.yml");
	cJSON_Delete(wait_step(id, 1, 60000));
	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "pause", ids, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	st = wait_state(id, "paused", 10000);
	cr_assert(strstr(jstr(st, "cause"), "paused by operator at step 1/1")
	    != NULL, "%s", jstr(st, "cause"));
	cJSON_Delete(st);
	for (i = 0; i < 2; i++)
		cr_assert_eq(versions_on(i), 2, "paused, the split stays");
	h_ferry(&F, &R, (const char *[]){ "resume", ids, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cJSON_Delete(wait_step(id, 1, 10000));
	h_ferry(&F, &R, (const char *[]){ "abort", ids, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	st = wait_state(id, "aborted", 30000);
	cr_assert(strstr(jstr(st, "cause"), "aborted by operator at step "
	    "1/1") != NULL, "%s", jstr(st, "cause"));
	cJSON_Delete(st);
	for (i = 0; i < 2; i++) {
		char body[256];

		cr_assert_eq(versions_on(i), 1, "%s: no split left", HOST[i]);
		cr_assert_eq(h_http_get(ADDR[i], PORT, "/version", body,
		    sizeof(body)), 200);
		cr_assert(strncmp(body, "s1", 2) == 0, "%s", body);
	}
}
