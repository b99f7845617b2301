/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_livehealth.c: health between deployments, end to end on a real
 * dockerd: web deployed healthy, then its /health made to fail by hand
 * (`docker exec` removes the file busybox httpd serves): `ferry hosts
 * --json` and `ferry status web --json` say unhealthy with the check's
 * output, drift says since when, /metrics' ferry_service_healthy is 0;
 * made good again, healthy again; an agent restarted keeps probing (the
 * container's ferry.health label); live_health_interval 0 probes nothing
 * (an exec check that counts its runs in a file); a container killed
 * outside a deployment is restarted by its restart policy (Docker's) and
 * ferry sees it healthy again, or, with restart: "no", shows it exited
 * and leaves it so. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(livehealth, .init = setup, .fini = teardown, .timeout = 120);

/* What each bound below allows: 2 failures 500 ms apart, a 200 ms
 * heartbeat, ferryd's 2 s drift tick, with room for a busy engine. */
#define VERDICT_MS	10000

static const char *const LIVE[] = { "--live-health-interval", "500ms",
    NULL };
static const char *const OFF[] = { "--live-health-interval", "0", NULL };

/* agent starts host i's agent with extra flags, labelled role=web. */
static void
agent(int i, const char *const *extra)
{
	AGENT[i] = h_add_agent_with(&F, HOST[i], ADDR[i], extra);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
	    "role=web", NULL });
	cr_assert_eq(R.status, 0, "label %s: %s", HOST[i], R.err);
	NAGENTS = i + 1;
}

/* dexec runs argv in container id; returns its stdout in r. */
static void
dexec(struct h_run *r, const char *id, const char *const *argv)
{
	const char *args[16] = { "exec", id };
	int n = 2, k;

	for (k = 0; argv[k] != NULL && n < 15; k++)
		args[n++] = argv[k];
	args[n] = NULL;
	cr_assert_eq(h_docker(r, args), 0, "docker exec %s %s: %s", id,
	    argv[0], r->err);
}

static void
health_bad(const char *id)
{
	struct h_run *r = malloc(sizeof(*r));

	dexec(r, id, (const char *[]){ "/bin/busybox", "rm", "-f",
	    "/www/health", NULL });
	free(r);
}

static void
health_good(const char *id)
{
	struct h_run *r = malloc(sizeof(*r));

	dexec(r, id, (const char *[]){ "/bin/sh", "-c",
	    "echo ok >/www/health", NULL });
	free(r);
}

/* hosts_health writes the health `ferry hosts --json` gives host i's
 * container id into buf. */
static const char *
hosts_health(int i, const char *id, char *buf, size_t len)
{
	cJSON *arr = NULL, *h, *c;

	buf[0] = '\0';
	h = h_host_json(&F, HOST[i], &arr);
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(h, "containers"))
		if (strcmp(jstr(c, "id"), id) == 0)
			snprintf(buf, len, "%s", jstr(c, "health"));
	cJSON_Delete(arr);
	return buf;
}

/* wait_health waits (bounded by ms) until that health begins with want;
 * returns the ms it took, or -1. */
static long long
wait_health(int i, const char *id, const char *want, int ms, char *buf,
    size_t len)
{
	long long start = now_ms(), end = start + ms;

	do {
		if (strncmp(hosts_health(i, id, buf, len), want,
		    strlen(want)) == 0)
			return now_ms() - start;
		h_sleep_ms(100);
	} while (now_ms() < end);
	return -1;
}

/* metrics GETs ferryd's /metrics into body. */
static void
metrics(char *body, size_t len)
{
	char ip[32];
	char *colon;

	snprintf(ip, sizeof(ip), "%s", F.http);
	colon = strrchr(ip, ':');
	cr_assert_not_null(colon);
	*colon = '\0';
	cr_assert_eq(h_http_get(ip, atoi(colon + 1), "/metrics", body, len),
	    200);
}

/* metrics_has waits (bounded by ms) until /metrics holds want. */
static int
metrics_has(char *body, size_t len, const char *want, int ms)
{
	long long end = now_ms() + ms;

	do {
		metrics(body, len);
		if (strstr(body, want) != NULL)
			return 1;
		h_sleep_ms(200);
	} while (now_ms() < end);
	return 0;
}

/* status_host returns host i's object in `ferry status web --json` (a
 * copy; NULL when absent). */
static cJSON *
status_host(int i)
{
	cJSON *st, *h, *found = NULL;

	h_ferry(&F, &R, (const char *[]){ "status", "web", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s%s", R.out, R.err);
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(st, "hosts"))
		if (strcmp(jstr(h, "name"), HOST[i]) == 0)
			found = cJSON_Duplicate(h, 1);
	cJSON_Delete(st);
	return found;
}

/* wait_status_drift waits (bounded by ms) until `ferry status web --json`
 * shows host i with drift of cause (NULL: none); returns that host. */
static cJSON *
wait_status_drift(int i, const char *cause, int ms)
{
	long long end = now_ms() + ms;
	cJSON *h, *d;

	for (;;) {
		h = status_host(i);
		cr_assert_not_null(h, "%s not in %s", HOST[i], R.out);
		d = cJSON_GetObjectItem(h, "drift");
		if (cause == NULL ? cJSON_IsNull(d) :
		    strcmp(jstr(d, "cause"), cause) == 0)
			return h;
		cJSON_Delete(h);
		cr_assert(now_ms() < end, "no drift %s on %s in %d ms: %s",
		    cause ? cause : "(none)", HOST[i], ms, R.out);
		h_sleep_ms(200);
	}
}

Test(livehealth, gone_bad_after_its_deployment_shows_and_recovers)
{
	char id[128], hb[300], body[65536], want[256];
	struct h_run *r = malloc(sizeof(*r));
	cJSON *h, *c;
	long long took;

	agent(0, LIVE);
	spec("v1.yml", "1", LABELS, "  unhealthy_threshold: 2\n",
	    "  batch: 1\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	the_container(0, id, sizeof(id));
	/* The check rides on the container, for an agent that did not make
	 * it. */
	cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "--format",
	    "{{index .Config.Labels \"ferry.health\"}}", id, NULL }), 0,
	    "%s", r->err);
	cr_assert(strncmp(r->out, "0 ", 2) == 0 && strlen(r->out) > 10,
	    "ferry.health label: \"%s\"", r->out);
	cr_assert(wait_health(0, id, "healthy", VERDICT_MS, hb, sizeof(hb)) >=
	    0, "%s", hb);

	/* Gone bad after its deployment: /health answers 404. */
	health_bad(id);
	took = wait_health(0, id, "unhealthy: HTTP 404 on /health",
	    VERDICT_MS, hb, sizeof(hb));
	cr_assert(took >= 0, "ferry hosts --json still says \"%s\"", hb);
	cr_log_info("unhealthy in ferry hosts after %lld ms", took);
	cr_assert(h_log_has(AGENT[0], "live health: unhealthy: HTTP 404 on "
	    "/health"), "the agent says so in its log");
	/* ferry status web --json: the container's health, the drift and
	 * its cause with since and the check's words. */
	h = wait_status_drift(0, "unhealthy", VERDICT_MS);
	cr_assert(!cJSON_IsTrue(cJSON_GetObjectItem(h, "healthy")));
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(h, "containers"), 0);
	cr_assert_str_eq(jstr(c, "health"), "unhealthy: HTTP 404 on /health");
	{
		const char *d = jstr(cJSON_GetObjectItem(h, "drift"),
		    "detail");

		cr_assert(strncmp(d, "unhealthy since ", 16) == 0 &&
		    strstr(d, ": HTTP 404 on /health") != NULL, "%s", d);
	}
	cJSON_Delete(h);
	h_ferry(&F, &R, (const char *[]){ "status", "web", NULL });
	cr_log_info("ferry status web:\n%s", R.out);
	cr_assert_eq(R.status, 1, "drift exits 1: %s%s", R.out, R.err);
	cr_assert(strstr(R.out, "Health now: 0/1 hosts healthy") != NULL,
	    "%s", R.out);
	snprintf(want, sizeof(want), "ferry_service_healthy{service=\"web\","
	    "host=\"%s\"} 0", HOST[0]);
	cr_assert(metrics_has(body, sizeof(body), want, VERDICT_MS),
	    "no %s in:\n%s", want, body);

	/* Good again: healthy again, everywhere. */
	health_good(id);
	took = wait_health(0, id, "healthy", VERDICT_MS, hb, sizeof(hb));
	cr_assert(took >= 0, "ferry hosts --json still says \"%s\"", hb);
	cr_log_info("healthy again in ferry hosts after %lld ms", took);
	h = wait_status_drift(0, NULL, VERDICT_MS);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "healthy")));
	cJSON_Delete(h);
	snprintf(want, sizeof(want), "ferry_service_healthy{service=\"web\","
	    "host=\"%s\"} 1", HOST[0]);
	cr_assert(metrics_has(body, sizeof(body), want, VERDICT_MS),
	    "no %s in:\n%s", want, body);

	/* A restarted agent did not make the container: the label tells it
	 * what to probe. */
	cr_assert_eq(h_kill(AGENT[0], SIGTERM), 0);
	AGENT[0] = h_start_agent(&F, HOST[0], LIVE);
	cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
	health_bad(id);
	took = wait_health(0, id, "unhealthy: HTTP 404 on /health",
	    VERDICT_MS, hb, sizeof(hb));
	cr_assert(took >= 0, "after a restart, ferry hosts --json still says "
	    "\"%s\"", hb);
	cr_log_info("after a restart, unhealthy after %lld ms", took);
	health_good(id);
	cr_assert(wait_health(0, id, "healthy", VERDICT_MS, hb, sizeof(hb)) >=
	    0, "%s", hb);
	free(r);
}

/* probes counts the lines host i's container wrote into /tmp/probes. */
static int
probes(const char *id)
{
	struct h_run *r = malloc(sizeof(*r));
	int n;

	dexec(r, id, (const char *[]){ "/bin/sh", "-c", "/bin/busybox touch "
	    "/tmp/probes; /bin/busybox wc -l </tmp/probes", NULL });
	n = atoi(r->out);
	free(r);
	return n;
}

Test(livehealth, live_health_interval_0_probes_nothing)
{
	char id[2][128], hb[300], hosts[128];
	int before[2], after[2], i;

	agent(0, OFF);
	agent(1, LIVE);
	/* An exec check that counts its runs. */
	h_write(&F, "count.yml",
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: %s\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  exec: [/bin/sh, -c, \"echo x >>/tmp/probes; test -f "
	    "/www/health\"]\n"
	    "  interval: 200ms\n"
	    "  timeout: 2s\n"
	    "  deadline: 10s\n"
	    "  unhealthy_threshold: 1\n"
	    "rollout:\n"
	    "  batch: 2\n", names(hosts, sizeof(hosts), 1, 2), PORT);
	cr_assert_eq(deploy_watch("count.yml"), 0, "%s%s", R.out, R.err);
	for (i = 0; i < 2; i++) {
		the_container(i, id[i], sizeof(id[i]));
		before[i] = probes(id[i]);
		cr_assert(before[i] >= 1, "the swap's own check ran on %s",
		    HOST[i]);
	}
	health_bad(id[0]);
	health_bad(id[1]);
	h_sleep_ms(3000);
	for (i = 0; i < 2; i++)
		after[i] = probes(id[i]);
	cr_log_info("probes in 3 s: off %d, every 500ms %d",
	    after[0] - before[0], after[1] - before[1]);
	cr_assert_eq(after[0], before[0], "live_health_interval 0 probed %s "
	    "%d times", HOST[0], after[0] - before[0]);
	cr_assert(after[1] - before[1] >= 3, "500ms probed %s only %d times "
	    "in 3 s", HOST[1], after[1] - before[1]);
	cr_assert(after[1] - before[1] <= 8, "500ms probed %s %d times in "
	    "3 s: more often than the setting", HOST[1],
	    after[1] - before[1]);
	/* Without probes the last swap's verdict stands ("healthy: exit
	 * 0"); with them, the exec check's words show. */
	cr_assert(strncmp(hosts_health(0, id[0], hb, sizeof(hb)), "healthy",
	    7) == 0, "%s: \"%s\"", HOST[0], hb);
	cr_assert(wait_health(1, id[1], "unhealthy: exit 1", VERDICT_MS, hb,
	    sizeof(hb)) >= 0, "%s", hb);
}

/* inspect writes `docker inspect --format FMT id`'s answer into out. */
static void
inspect(const char *id, const char *fmt, char *out, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));

	cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "--format", fmt,
	    id, NULL }), 0, "docker inspect %s: %s", id, r->err);
	snprintf(out, len, "%.*s", (int)strcspn(r->out, "\n"), r->out);
	free(r);
}

/* crash kills container id's first process from outside (kill -9: the
 * container dies as a crashed service does) and returns its pid. */
static long
crash(const char *id)
{
	char pid[32];
	long p;

	inspect(id, "{{.State.Pid}}", pid, sizeof(pid));
	p = atol(pid);
	cr_assert_gt(p, 1, "%s's pid: \"%s\"", id, pid);
	cr_assert_eq(kill((pid_t)p, SIGKILL), 0, "kill -9 %ld", p);
	return p;
}

static int
deployments_of_web(void)
{
	cJSON *hist;
	int n;

	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	hist = cJSON_Parse(R.out);
	cr_assert_not_null(hist, "%s", R.out);
	n = cJSON_GetArraySize(hist);
	cJSON_Delete(hist);
	return n;
}

/* A container that dies outside a deployment is restarted by its spec's
 * restart policy (Docker's, unless-stopped by default): the same
 * container runs again and ferry sees it healthy, with no deployment of
 * ferry's own.  With `restart: "no"` it stays down, and the drift shows
 * ("exited (code 137)"), with no catch-up, until an operator acts. */
Test(livehealth, a_crashed_container_is_restarted_by_its_policy_or_shows)
{
	static const char *const spec_text =
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: %s\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "%s";
	char id[128], again[128], hosts[64], st[64], hb[300];
	long long end;
	cJSON *h;
	long pid;

	agent(0, LIVE);
	h_write(&F, "v1.yml", spec_text, names(hosts, sizeof(hosts), 1, 1),
	    PORT, "");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	the_container(0, id, sizeof(id));
	inspect(id, "{{.HostConfig.RestartPolicy.Name}}", st, sizeof(st));
	cr_assert_str_eq(st, "unless-stopped");
	cr_assert(wait_health(0, id, "healthy", VERDICT_MS, hb, sizeof(hb)) >=
	    0, "%s", hb);

	pid = crash(id);
	cr_log_info("killed %ld, the first process of %.12s", pid, id);
	end = now_ms() + 15000;
	for (;;) {
		long now_pid;
		int restarts;

		/* Docker says Running (and Restarting, pid 0) while it waits
		 * to start it again. */
		inspect(id, "{{.State.Running}} {{.State.Restarting}} "
		    "{{.RestartCount}} {{.State.Pid}}", st, sizeof(st));
		if (sscanf(st, "true false %d %ld", &restarts, &now_pid) ==
		    2 && restarts >= 1 && now_pid > 1 && now_pid != pid)
			break;
		cr_assert(now_ms() < end, "not restarted by Docker in 15 s: "
		    "%s", st);
		h_sleep_ms(100);
	}
	cr_log_info("restarted by Docker (running, restarting, restarts, pid): "
	    "%s", st);
	/* The same container, healthy again in ferry's eyes: no drift, and
	 * no deployment (catch-up) of ferry's own. */
	the_container(0, again, sizeof(again));
	cr_assert_str_eq(again, id);
	h = wait_status_drift(0, NULL, VERDICT_MS);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "healthy")), "%s",
	    R.out);
	cJSON_Delete(h);
	cr_assert_eq(deployments_of_web(), 1, "a restart by Docker is not a "
	    "deployment");

	/* restart: "no": it stays down, and says so. */
	h_write(&F, "v2.yml", spec_text, names(hosts, sizeof(hosts), 1, 1),
	    PORT, "restart: \"no\"\n");
	cr_assert_eq(deploy_watch("v2.yml"), 0, "%s%s", R.out, R.err);
	the_container(0, id, sizeof(id));
	inspect(id, "{{.HostConfig.RestartPolicy.Name}}", st, sizeof(st));
	cr_assert_str_eq(st, "no");
	crash(id);
	h = wait_status_drift(0, "stopped", VERDICT_MS);
	cr_assert_str_eq(jstr(cJSON_GetObjectItem(h, "drift"), "detail"),
	    "exited (code 137)");
	cJSON_Delete(h);
	h_ferry(&F, &R, (const char *[]){ "status", "web", NULL });
	cr_assert_eq(R.status, 1, "drift exits 1: %s%s", R.out, R.err);
	/* Nothing moves it: catch-up is for a missed deployment or a
	 * removed container, not one its own policy leaves down.  7 s: past
	 * the 5 s a drift lasts before catch-up acts, and a 2 s tick. */
	h_sleep_ms(7000);
	inspect(id, "{{.State.Running}}", st, sizeof(st));
	cr_assert_str_eq(st, "false");
	h = wait_status_drift(0, "stopped", 1);
	cJSON_Delete(h);
	cr_assert_eq(deployments_of_web(), 2, "no catch-up of a container "
	    "its restart policy leaves down");
}
