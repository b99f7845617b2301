/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_counts.c: ferry-proxy's counts, carried by the agents' heartbeats to
 * ferryd, equal what a load generator sent and got, in `ferry hosts
 * --json`, `ferry status --json` and /metrics, per host and in sum, and
 * per revision across a start-first swap under load; a proxy's restart
 * never makes /metrics go down; a stopped proxy and an agent without one
 * are shown as such, and start-first with a host port names them.  Real
 * ferryd, agents, the harness's ferry-proxy beside each agent (it serves
 * the service's host port, routed by the agent), ferry-load and dockerd. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(counts, .init = setup, .fini = teardown, .timeout = 150);

#define NP 3			/* hosts with a proxy */

/* hidx: NAME's index in the harness's hosts (and so its proxies). */
static int
hidx(const char *name)
{
	int k;

	for (k = 0; k < F.nhosts; k++)
		if (strcmp(F.hosts[k], name) == 0)
			return k;
	cr_assert_fail("no host %s", name);
	return -1;
}

/* fleet_proxied starts n agents labelled role=web, the first NP each with
 * its own ferry-proxy (the harness's), the others with none. */
static void
fleet_proxied(int n)
{
	int i;

	fleet(NP < n ? NP : n);
	for (i = NP; i < n; i++) {
		F.no_proxy = 1;
		AGENT[i] = h_add_agent(&F, HOST[i], ADDR[i]);
		F.no_proxy = 0;
		h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
		    "role=web", NULL });
		cr_assert_eq(R.status, 0, "label %s: %s", HOST[i], R.err);
	}
	NAGENTS = n;
}

static const char *
control(int i)
{
	static char buf[NH][700];

	return h_proxy_control(&F, HOST[i], buf[i], sizeof(buf[i]));
}

/* load runs ferry-load against the proxies of hosts first..last (0-based)
 * for a bounded time and returns its JSON (cJSON_Delete it). */
static cJSON *
load(int first, int last, const char *seconds)
{
	const char *argv[16];
	char bin[600], urls[NH][128];
	cJSON *o;
	int i, n = 0;

	argv[n++] = h_bin("tests/ferry-load", bin, sizeof(bin));
	argv[n++] = "--connections";
	argv[n++] = "2";
	argv[n++] = "--interval";
	argv[n++] = "2";
	argv[n++] = "--duration";
	argv[n++] = seconds;
	argv[n++] = "--json";
	for (i = first; i <= last; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://%s:%d/", ADDR[i],
		    PORT);
		argv[n++] = urls[i];
	}
	argv[n] = NULL;
	h_run(&R, argv);
	cr_assert_eq(R.status, 0, "ferry-load: %s", R.err);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "ferry-load said: %s", R.out);
	cr_assert_eq(jnum(o, "failed"), 0, "requests failed: %s", R.out);
	cr_assert(jnum(o, "sent") > 10, "too few requests: %s", R.out);
	return o;
}

/* target_sent: what ferry-load sent to target k of its run, and the 2xx
 * among the answers. */
static long long
target_sent(const cJSON *lo, int k, long long *ok2xx)
{
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(lo,
	    "targets"), k);

	cr_assert_not_null(t);
	*ok2xx = (long long)cJSON_GetObjectItem(cJSON_GetObjectItem(t,
	    "by_class"), "2xx")->valuedouble;
	return (long long)cJSON_GetObjectItem(t, "sent")->valuedouble;
}

/* figures finds, in a "traffic" array, the figures of web revision rev in
 * the window of window_ms (NULL when absent). */
static const cJSON *
figures(const cJSON *traffic, uint64_t rev, double window_ms)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, traffic)
		if (strcmp(jstr(f, "service"), "web") == 0 &&
		    cJSON_GetObjectItem(f, "revision")->valuedouble ==
		    (double)rev && cJSON_GetObjectItem(f,
		    "window_ms")->valuedouble == window_ms)
			return f;
	return NULL;
}

static long long
fnum(const cJSON *f, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(f, a);

	if (b != NULL)
		v = cJSON_GetObjectItem(v, b);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* host_requests: the 5-minute requests (and 2xx) `ferry hosts --json`
 * shows for web revision rev on host i; -1 when absent. */
static long long
host_requests(int i, uint64_t rev, long long *ok2xx)
{
	cJSON *arr = NULL, *h = h_host_json(&F, HOST[i], &arr);
	const cJSON *f;
	long long n = -1;

	*ok2xx = -1;
	if (h != NULL && (f = figures(cJSON_GetObjectItem(h, "traffic"), rev,
	    300000)) != NULL) {
		n = fnum(f, "requests", NULL);
		*ok2xx = fnum(f, "responses", "2xx");
	}
	cJSON_Delete(arr);
	return n;
}

/* proxy_state: host i's proxy state in `ferry hosts --json` ("ok",
 * "none", "unanswered", "unheard"), its error in err. */
static const char *
proxy_state(int i, char *buf, size_t len, char *err, size_t errlen)
{
	cJSON *arr = NULL, *h = h_host_json(&F, HOST[i], &arr);
	const cJSON *p = h ? cJSON_GetObjectItem(h, "proxy") : NULL;

	snprintf(buf, len, "%s", p ? jstr(p, "state") : "");
	if (err != NULL)
		snprintf(err, errlen, "%s", p ? jstr(p, "error") : "");
	cJSON_Delete(arr);
	return buf;
}

static int
wait_proxy_state(int i, const char *want, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	char st[32];

	do {
		if (strcmp(proxy_state(i, st, sizeof(st), NULL, 0), want) == 0)
			return 1;
		h_sleep_ms(100);
	} while (h_mono_ms() < end);
	return 0;
}

/* metric reads one sample of /metrics: name{labels} (labels exactly as
 * ferryd writes them); -1 when absent.  The whole text is checked for
 * shape on the way: every sample line's family was TYPEd before it. */
static long long
metric(const char *name, const char *labels)
{
	static char body[65536];
	char want[512], *p;

	cr_assert_eq(h_http_get("127.0.0.1", atoi(strchr(F.http, ':') + 1),
	    "/metrics", body, sizeof(body)), 200);
	cr_assert(strlen(body) < sizeof(body) - 1, "metrics cut short");
	snprintf(want, sizeof(want), "\n%s{%s} ", name, labels);
	if ((p = strstr(body, want)) == NULL)
		return -1;
	return atoll(p + strlen(want));
}

static long long
requests_total(int i)
{
	char l[256];

	snprintf(l, sizeof(l), "service=\"web\",revision=\"1\",host=\"%s\"",
	    HOST[i]);
	return metric("ferry_proxy_requests_total", l);
}

/* wait_counts waits, bounded, until `ferry hosts --json` shows for each
 * host first..last exactly want[i] requests (all 2xx) of revision 1. */
static void
wait_counts(int first, int last, const long long *want)
{
	uint64_t end = h_mono_ms() + 10000;
	long long got = -1, ok = -1;
	int i;

	for (i = first; i <= last; i++) {
		/* A response is counted as it ends: the reading that
		 * shows the last request may come just before it. */
		while (((got = host_requests(i, 1, &ok)) != want[i] ||
		    ok != want[i]) && h_mono_ms() < end)
			h_sleep_ms(100);
		cr_assert_eq(got, want[i], "host %s: ferry hosts shows %lld "
		    "requests, ferry-load sent %lld", HOST[i], got, want[i]);
		cr_assert_eq(ok, want[i], "host %s: %lld 2xx of %lld", HOST[i],
		    ok, want[i]);
	}
}

/* bad_request sends a request with two Content-Lengths (a smuggling
 * shape) to addr:port and returns the status the proxy answered. */
static int
bad_request(const char *addr, int port)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab";
	struct sockaddr_in sa;
	struct timeval tv = { 3, 0 };
	char buf[256] = "";
	int fd, st = 0;
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	if ((n = read(fd, buf, sizeof(buf) - 1)) > 12)
		st = atoi(buf + 9);
	close(fd);
	return st;
}

/* refused_shown waits, bounded, until `ferry hosts --json` shows for host
 * i what /metrics shows too: want bad requests of web in 5 minutes. */
static void
refused_shown(int i, long long want)
{
	uint64_t end = h_mono_ms() + 10000;
	const cJSON *f, *r, *rs;
	long long got = -1;
	cJSON *arr;
	char l[256];

	do {
		arr = NULL;
		r = h_host_json(&F, HOST[i], &arr);
		rs = r != NULL ? cJSON_GetObjectItem(r, "refusals") : NULL;
		cJSON_ArrayForEach(f, rs)
			if (strcmp(jstr(f, "service"), "web") == 0 &&
			    fnum(f, "window_ms", NULL) == 300000)
				got = fnum(f, "bad_request", NULL);
		cJSON_Delete(arr);
		if (got == want)
			break;
		h_sleep_ms(100);
	} while (h_mono_ms() < end);
	cr_assert_eq(got, want, "host %s: %lld bad requests shown", HOST[i],
	    got);
	snprintf(l, sizeof(l), "service=\"web\",host=\"%s\","
	    "reason=\"bad_request\"", HOST[i]);
	cr_assert_eq(metric("ferry_proxy_refused_total", l), want);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "refused: 1 bad request (400)") != NULL, "%s",
	    R.out);
}

/* deployed: web revision 1 deployed to the first n hosts; its id. */
static unsigned
deployed(int n)
{
	char hs[256];
	unsigned id;
	cJSON *st;

	spec("v1.yml", "1", names(hs, sizeof(hs), 1, n), NULL,
	    "  order: stop-first\n");
	id = deploy_bg("v1.yml");
	st = wait_state(id, "succeeded", 60000);
	cr_assert_not_null(st, "deployment %u did not succeed", id);
	cJSON_Delete(st);
	return id;
}

Test(counts, the_proxies_counts_equal_the_load_per_host_and_in_sum)
{
	long long want[NH] = { 0 }, ok, sum = 0, m0, m, seen;
	char l[256], st[32];
	uint64_t end;
	cJSON *lo, *s, *f;
	unsigned id;
	int i;

	fleet_proxied(NP);
	id = deployed(NP);
	for (i = 0; i < NP; i++) {
		cr_assert(wait_proxy_state(i, "ok", 5000), "host %s: proxy "
		    "state %s", HOST[i], proxy_state(i, st, sizeof(st), NULL,
		    0));
	}
	lo = load(0, NP - 1, "3");
	for (i = 0; i < NP; i++) {
		want[i] = target_sent(lo, i, &ok);
		cr_assert_eq(ok, want[i], "ferry-load: not all 2xx");
		sum += want[i];
	}
	cr_assert_eq(sum, jnum(lo, "sent"));
	wait_counts(0, NP - 1, want);

	/* /metrics: the same, per host, and the histogram's count. */
	for (i = 0; i < NP; i++) {
		cr_assert_eq(requests_total(i), want[i], "host %s", HOST[i]);
		snprintf(l, sizeof(l), "service=\"web\",revision=\"1\","
		    "host=\"%s\",class=\"2xx\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_responses_total", l),
		    want[i]);
		snprintf(l, sizeof(l), "service=\"web\",revision=\"1\","
		    "host=\"%s\",class=\"5xx\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_responses_total", l), 0);
		snprintf(l, sizeof(l), "service=\"web\",revision=\"1\","
		    "host=\"%s\",kind=\"reset\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_upstream_failures_total", l),
		    0);
		snprintf(l, sizeof(l), "service=\"web\",revision=\"1\","
		    "host=\"%s\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_request_duration_seconds_count",
		    l), want[i]);
		snprintf(l, sizeof(l), "service=\"web\",revision=\"1\","
		    "host=\"%s\",le=\"+Inf\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_request_duration_seconds_"
		    "bucket", l), want[i]);
		snprintf(l, sizeof(l), "service=\"web\",host=\"%s\","
		    "reason=\"no_target\"", HOST[i]);
		cr_assert_eq(metric("ferry_proxy_refused_total", l), 0);
	}

	/* ferry status: the sum over the deployment's hosts, revision 1. */
	s = status(id);
	cr_assert_not_null(s, "%s", R.out);
	f = (cJSON *)figures(cJSON_GetObjectItem(s, "traffic"), 1, 300000);
	cr_assert_not_null(f, "no traffic in status: %s", R.out);
	cr_assert_eq(fnum(f, "requests", NULL), sum, "%s", R.out);
	cr_assert_eq(fnum(f, "responses", "2xx"), sum, "%s", R.out);
	cr_assert_eq(fnum(f, "hosts", NULL), NP);
	for (i = 0; i < NP; i++)
		cr_assert_str_eq(jstr(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    cJSON_GetObjectItem(s, "hosts"), i), "proxy"), "state"),
		    "ok");
	cr_assert_eq(fnum(f, "upstream_failures", "reset"), 0);
	/* p95: plausible for a loopback busybox, even on a busy machine:
	 * above 0, well under ferry-load's 5 s timeout. */
	cr_assert(cJSON_GetObjectItem(f, "p95_ms")->valuedouble > 0 &&
	    cJSON_GetObjectItem(f, "p95_ms")->valuedouble < 3000, "%s",
	    R.out);
	cr_assert(cJSON_GetObjectItem(f, "error_rate")->valuedouble == 0);
	cJSON_Delete(s);
	snprintf(l, sizeof(l), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "status", l, NULL });
	cr_assert(strstr(R.out, "Traffic (ferry-proxy, last 60 s") != NULL &&
	    strstr(R.out, "revision 1: ") != NULL && strstr(R.out, "req/s")
	    != NULL, "%s", R.out);
	cr_log_info("ferry status:\n%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "TRAFFIC") != NULL && strstr(R.out, "REQ/S")
	    != NULL && strstr(R.out, "  0.00% ") != NULL, "%s", R.out);
	cr_log_info("ferry hosts:\n%s", R.out);
	cJSON_Delete(lo);

	/* What the proxy refuses by itself is counted by service, not as a
	 * revision's request. */
	cr_assert_eq(bad_request(ADDR[1], PORT), 400);
	refused_shown(1, 1);
	cr_assert_eq(requests_total(1), want[1]);

	/* A proxy restart (a new boot, counting from 0): /metrics never
	 * goes down, and goes on by exactly what the new run counts. */
	m0 = requests_total(0);
	cr_assert_eq(h_kill(F.proxies[hidx(HOST[0])], SIGKILL), 128 + SIGKILL);
	cr_assert_not_null(h_start_proxy(&F, HOST[0]));
	end = h_mono_ms() + 3000;
	while (h_mono_ms() < end) {
		cr_assert_geq(requests_total(0), m0, "metrics went down");
		h_sleep_ms(100);
	}
	cr_assert(wait_proxy_state(0, "ok", 5000));
	lo = load(0, 0, "2");
	want[0] = target_sent(lo, 0, &ok);
	cJSON_Delete(lo);
	end = h_mono_ms() + 10000;
	seen = m0;
	while ((m = requests_total(0)) != m0 + want[0] && h_mono_ms() < end) {
		cr_assert_geq(m, seen, "metrics went down: %lld after %lld", m,
		    seen);
		seen = m;
		h_sleep_ms(100);
	}
	cr_assert_eq(m, m0 + want[0], "after the restart: %lld, want %lld + "
	    "%lld", m, m0, want[0]);
}

Test(counts, a_host_without_a_proxy_answer_says_why)
{
	char st[32], err[512], hs[256];
	cJSON *arr = NULL, *h;

	fleet_proxied(NP + 1);
	cr_assert(wait_proxy_state(1, "ok", 5000));
	/* The agent of the last host runs no proxy. */
	cr_assert(wait_proxy_state(NP, "none", 5000), "%s",
	    proxy_state(NP, st, sizeof(st), NULL, 0));
	/* Stopped: its agent says so on its next heartbeats. */
	h_kill(F.proxies[hidx(HOST[1])], SIGTERM);
	cr_assert(wait_proxy_state(1, "unanswered", 5000), "%s",
	    proxy_state(1, st, sizeof(st), NULL, 0));
	proxy_state(1, st, sizeof(st), err, sizeof(err));
	cr_assert(strstr(err, control(1)) != NULL, "error: %s", err);
	cr_assert(h_wait_log(AGENT[1], "ferry-proxy does not answer", 3000));
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "no proxy answer: ") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "no proxy (its agent has no proxy_control)")
	    != NULL, "%s", R.out);
	/* The others still answer. */
	h = h_host_json(&F, HOST[0], &arr);
	cr_assert_str_eq(jstr(cJSON_GetObjectItem(h, "proxy"), "state"),
	    "ok");
	cJSON_Delete(arr);

	/* start-first with a host port names both, and why. */
	spec("sf.yml", "1", names(hs, sizeof(hs), 1, NP + 1), NULL,
	    "  order: start-first\n");
	h_ferry(&F, &R, (const char *[]){ "plan", path("sf.yml"), NULL });
	cr_assert_neq(R.status, 0, "%s", R.out);
	cr_assert(strstr(R.err, "needs ferry-proxy on every host: ") != NULL,
	    "%s", R.err);
	cr_assert(strstr(R.err, HOST[1]) != NULL && strstr(R.err,
	    "(no proxy answer: ") != NULL, "%s", R.err);
	cr_assert(strstr(R.err, HOST[NP]) != NULL && strstr(R.err,
	    "(its agent runs no proxy: proxy_control is empty)") != NULL,
	    "%s", R.err);
	cr_assert(strstr(R.err, HOST[0]) == NULL, "%s", R.err);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), 0);

	/* The proxy back: the host answers again, start-first plans. */
	cr_assert_not_null(h_start_proxy(&F, HOST[1]));
	cr_assert(wait_proxy_state(1, "ok", 5000));
	cr_assert(h_wait_log(AGENT[1], "ferry-proxy at ", 3000));
	spec("sf.yml", "1", names(hs, sizeof(hs), 1, NP), NULL,
	    "  order: start-first\n");
	h_ferry(&F, &R, (const char *[]){ "plan", path("sf.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
}

/* load_bg runs ferry-load against every proxied host's port in the
 * background, bounded by limit (seconds); load_end stops it (SIGTERM: the
 * requests in flight finish) and returns its JSON (cJSON_Delete it). */
static struct h_proc *
load_bg(const char *limit)
{
	static char urls[NP][128];
	const char *argv[16];
	char bin[600];
	int i, n = 0;

	argv[n++] = h_bin("tests/ferry-load", bin, sizeof(bin));
	argv[n++] = "--connections";
	argv[n++] = "2";
	argv[n++] = "--interval";
	argv[n++] = "5";
	argv[n++] = "--duration";
	argv[n++] = limit;
	argv[n++] = "--json";
	for (i = 0; i < NP; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://%s:%d/", ADDR[i],
		    PORT);
		argv[n++] = urls[i];
	}
	argv[n] = NULL;
	return h_spawn(&F, "load", argv);
}

static cJSON *
load_end(struct h_proc *p)
{
	char *line = NULL;
	size_t cap = 0;
	cJSON *o = NULL;
	FILE *fp;

	cr_assert_eq(h_kill(p, SIGTERM), 0, "ferry-load (see %s)", p->log);
	cr_assert_not_null(fp = fopen(p->log, "r"), "%s", p->log);
	while (getline(&line, &cap, fp) > 0)
		if (line[0] == '{') {
			cJSON_Delete(o);
			o = cJSON_Parse(line);
		}
	free(line);
	fclose(fp);
	cr_assert_not_null(o, "no JSON summary in %s", p->log);
	cr_assert_eq(jnum(o, "failed"), 0, "requests failed");
	return o;
}

Test(counts, across_a_swap_each_revision_counts_its_own_and_they_sum_up)
{
	long long sent[NP], ok, r1, r2, sum = 0, s1, s2;
	struct h_proc *lp;
	uint64_t end;
	char hs[256], ids[32];
	unsigned id;
	cJSON *lo, *s;
	int i;

	fleet_proxied(NP);
	deployed(NP);
	for (i = 0; i < NP; i++)
		cr_assert(wait_proxy_state(i, "ok", 5000));
	lp = load_bg("60");
	h_sleep_ms(1000);
	spec("v2.yml", "2", names(hs, sizeof(hs), 1, NP), NULL,
	    "  order: start-first\n");
	id = deploy_bg("v2.yml");
	cJSON_Delete(wait_state(id, "succeeded", 60000));
	h_sleep_ms(1000);
	lo = load_end(lp);
	for (i = 0; i < NP; i++) {
		sent[i] = target_sent(lo, i, &ok);
		cr_assert_eq(ok, sent[i], "not all 2xx");
		sum += sent[i];
	}
	cJSON_Delete(lo);
	/* Per host, revision 1's and revision 2's counts add up to what
	 * was sent there; both served. */
	for (i = 0; i < NP; i++) {
		end = h_mono_ms() + 10000;
		do {
			r1 = host_requests(i, 1, &ok);
			r2 = host_requests(i, 2, &ok);
			if (r1 + r2 == sent[i])
				break;
			h_sleep_ms(100);
		} while (h_mono_ms() < end);
		cr_assert_eq(r1 + r2, sent[i], "host %s: %lld + %lld, sent "
		    "%lld", HOST[i], r1, r2, sent[i]);
		cr_assert(r1 > 0 && r2 > 0, "host %s: %lld, %lld", HOST[i],
		    r1, r2);
	}
	/* ferry status sums each revision over the hosts. */
	snprintf(ids, sizeof(ids), "%u", id);
	s = status(id);
	cr_assert_not_null(s, "%s", R.out);
	s1 = fnum(figures(cJSON_GetObjectItem(s, "traffic"), 1, 300000),
	    "requests", NULL);
	s2 = fnum(figures(cJSON_GetObjectItem(s, "traffic"), 2, 300000),
	    "requests", NULL);
	cr_assert_eq(s1 + s2, sum, "status: %lld + %lld, sent %lld: %s", s1,
	    s2, sum, R.out);
	cJSON_Delete(s);
	h_ferry(&F, &R, (const char *[]){ "status", ids, NULL });
	cr_assert(strstr(R.out, "revision 2: ") != NULL && strstr(R.out,
	    "revision 1: ") != NULL, "%s", R.out);
}
