/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/promq.c
/* test_prom.c: promq_query, the analysis's Prometheus source, against a
 * real Prometheus (Debian's prometheus, started here on a free loopback
 * port with its own config and storage, scraping every second) that
 * scrapes a real container of the test image web:errors (ERROR_RATE 2%,
 * VERSION 7) published on 127.0.0.1; and against sockets that refuse,
 * never answer, or answer what no Prometheus would.  The image itself is
 * checked too: its error rate under concurrent keep-alive load (ferry-load)
 * and its latency. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "ferr.h"
#include "harness.h"
#include "promq.h"

#define PROMETHEUS	"/usr/bin/prometheus"
#define WEB_IMAGE	"127.0.0.1:5000/ferry-test/web:errors"
#define NREQ		500	/* requests sent to the container */

static struct h_fleet F;
static char url[64];		/* the Prometheus server's */
static int web_port;
static const struct promq_vars VARS = { "web", 7, 6 };

static void
setup(void)
{
	h_init(&F);
}

static void
teardown(void)
{
	h_fini(&F);	/* Prometheus by pid, the container by its label */
}

TestSuite(prom, .init = setup, .fini = teardown, .timeout = 60);

/* A GET of /version on its own connection; 1 when it was answered. */
static int
one_request(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static const char req[] = "GET /version HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n";
	char buf[512];
	ssize_t n, got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { 3, 0 };

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += n;
	close(fd);
	return got > 0;
}

/* A container of web:errors (VERSION 7, ERROR_RATE rate, LATENCY_MS
 * latency) published on 127.0.0.1; returns its port.  h_fini removes it
 * (by its ferry.host label). */
static int
web(const char *rate, const char *latency)
{
	char name[64], pub[64], label[96], e1[64], e2[64];
	struct h_run *r = malloc(sizeof(*r));
	int port = h_free_port(), k;

	snprintf(name, sizeof(name), "prom-%d-%d", (int)getpid(), F.nhosts);
	cr_assert(F.nhosts < H_MAX_HOSTS);
	snprintf(F.hosts[F.nhosts++], sizeof(F.hosts[0]), "%s", name);
	snprintf(pub, sizeof(pub), "127.0.0.1:%d:80", port);
	snprintf(label, sizeof(label), "ferry.host=%s", name);
	snprintf(e1, sizeof(e1), "ERROR_RATE=%s", rate);
	snprintf(e2, sizeof(e2), "LATENCY_MS=%s", latency);
	cr_assert(h_docker(r, (const char *[]){ "run", "-d", "--name", name,
	    "--label", label, "-p", pub, "-e", "VERSION=7", "-e", e1, "-e",
	    e2, WEB_IMAGE, NULL }) == 0,
	    "docker run %s: %s (run tests/images/build.sh)", WEB_IMAGE,
	    r->err);
	for (k = 0; k < 50 && h_http_get("127.0.0.1", port, "/health", NULL,
	    0) != 200; k++)
		h_sleep_ms(100);
	cr_assert(k < 50, "%s: no 200 on /health in 5 s", name);
	free(r);
	return port;
}

/* Prometheus, ready; with traffic, first the container of web:errors for
 * it to scrape, and after it is ready (its first scrape comes about 5 s
 * after its start: target discovery sends its updates every 5 s) NREQ
 * requests and a wait until Prometheus has scraped them all. */
static void
start_prometheus(int traffic)
{
	char cfg[512], tsdb[512], listen[64], ready[64];
	double v = NAN;
	char why[PROMQ_REASON_LEN];
	int pport, i, ok = 0;
	uint64_t deadline;

	cr_assert(access(PROMETHEUS, X_OK) == 0, "%s is missing: run "
	    "./deploy/setup.sh deps", PROMETHEUS);
	web_port = traffic ? web("2%", "0") : h_free_port();
	h_write(&F, "prometheus.yml",
	    "global:\n"
	    "  scrape_interval: 1s\n"
	    "  scrape_timeout: 1s\n"
	    "  evaluation_interval: 1s\n"
	    "scrape_configs:\n"
	    "  - job_name: web\n"
	    "    static_configs:\n"
	    "      - targets: ['127.0.0.1:%d']\n", web_port);
	h_path(&F, "prometheus.yml", cfg, sizeof(cfg));
	h_path(&F, "tsdb", tsdb, sizeof(tsdb));
	pport = h_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", pport);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", pport);
	{
		char a1[600], a2[600], a3[100];

		snprintf(a1, sizeof(a1), "--config.file=%s", cfg);
		snprintf(a2, sizeof(a2), "--storage.tsdb.path=%s", tsdb);
		snprintf(a3, sizeof(a3), "--web.listen-address=%s", listen);
		h_spawn(&F, "prometheus", (const char *[]){ PROMETHEUS, a1, a2,
		    a3, "--log.level=warn", NULL });
	}

	/* Ready within 20 s, the container's first scrape within 10 more. */
	deadline = h_mono_ms() + 20000;
	while (h_mono_ms() < deadline &&
	    h_http_get("127.0.0.1", pport, "/-/ready", ready,
	    sizeof(ready)) != 200)
		h_sleep_ms(100);
	cr_assert(h_mono_ms() < deadline, "prometheus not ready in 20 s "
	    "(log: %s/prometheus.log)", F.dir);
	if (!traffic)
		return;
	deadline = h_mono_ms() + 10000;
	while (h_mono_ms() < deadline && !(promq_query(url,
	    "up{job=\"web\"}", &VARS, 2000, &v, why, sizeof(why)) == 0 &&
	    v == 1))
		h_sleep_ms(200);
	cr_assert_eq(v, 1, "the container was not scraped in 10 s: %s", why);

	for (i = 0; i < NREQ; i++)
		ok += one_request(web_port);
	cr_assert_eq(ok, NREQ, "%d of %d requests answered", ok, NREQ);
	deadline = h_mono_ms() + 10000;
	while (h_mono_ms() < deadline && !(promq_query(url,
	    "sum(ferry_test_requests_total)", &VARS, 2000, &v, why,
	    sizeof(why)) == 0 && v == NREQ))
		h_sleep_ms(200);
	cr_assert_eq(v, NREQ, "Prometheus did not see %d requests in 10 s: "
	    "%g (%s)", NREQ, v, why);
}

#define ERROR_RATIO "sum(ferry_test_requests_total{code=\"500\"}) / " \
	"sum(ferry_test_requests_total)"

/* The error ratio is exactly 2% (10 of 500: the image spreads its errors
 * evenly): under a max of 5%, over a max of 1%. */
Test(prom, under_and_over_max)
{
	char why[PROMQ_REASON_LEN];
	double v;

	start_prometheus(1);
	cr_assert_eq(promq_query(url, ERROR_RATIO, &VARS, 2000, &v, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert(fabs(v - 0.02) < 1e-9, "error ratio %g, not 0.02", v);
	cr_assert(v <= 0.05, "under a max of 5%%");
	cr_assert(v > 0.01, "over a max of 1%%");
	/* The image's own gauge, a scalar() of it, and a literal. */
	cr_assert_eq(promq_query(url, "scalar(ferry_test_error_ratio)",
	    &VARS, 2000, &v, why, sizeof(why)), 0, "%s", why);
	cr_assert(fabs(v - 0.02) < 1e-9, "scalar %g", v);
	cr_assert_eq(promq_query(url, "1.5", &VARS, 2000, &v, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(v, 1.5);
}

/* {{service}} is the job here, {{revision}} the container's VERSION:
 * count(...) is 1 only when both were substituted, and 1000 + 6 says
 * {{stable_revision}} was too.  Revision 8 matches nothing: no value. */
Test(prom, placeholders_and_no_samples)
{
	const char *q = "count(ferry_test_error_ratio{job=\"{{service}}\","
	    "version=\"{{ revision }}\"}) * 1000 + {{stable_revision}}";
	struct promq_vars other = { "web", 8, 6 };
	char why[PROMQ_REASON_LEN];
	double v;

	start_prometheus(1);
	cr_assert_eq(promq_query(url, q, &VARS, 2000, &v, why, sizeof(why)),
	    0, "%s", why);
	cr_assert_eq(v, 1006, "value %g, not 1006", v);

	cr_assert_eq(promq_query(url, q, &other, 2000, &v, why, sizeof(why)),
	    FERR_NOTFOUND);
	cr_assert(isnan(v));
	cr_assert_str_eq(why, "no value: the query gives no sample");

	/* Seven series (one a status): several samples are no value. */
	cr_assert_eq(promq_query(url, "ferry_test_requests_total", &VARS,
	    2000, &v, why, sizeof(why)), FERR_NOTFOUND);
	cr_assert(strstr(why, "gives 7 samples, not one") != NULL, "%s", why);
	/* NaN (0/0) and +Inf are no value either. */
	cr_assert_eq(promq_query(url, "vector(0) / vector(0)", &VARS, 2000,
	    &v, why, sizeof(why)), FERR_NOTFOUND);
	cr_assert_str_eq(why, "no value: the query's value is NaN");
	cr_assert_eq(promq_query(url, "1 / 0", &VARS, 2000, &v, why,
	    sizeof(why)), FERR_NOTFOUND);
	cr_assert_str_eq(why, "no value: the query's value is +Inf");
	/* A range vector is no value. */
	cr_assert_eq(promq_query(url, "up[5s]", &VARS, 2000, &v, why,
	    sizeof(why)), FERR_NOTFOUND);
	cr_assert(strstr(why, "gives a matrix") != NULL, "%s", why);
}

/* A PromQL syntax error comes back with Prometheus's own words. */
Test(prom, syntax_error)
{
	char why[PROMQ_REASON_LEN];
	double v = 0;

	start_prometheus(0);
	cr_assert_eq(promq_query(url, "sum(rate(ferry_test_requests_total"
	    "[10s])", &VARS, 2000, &v, why, sizeof(why)), FERR_ARG);
	cr_assert(isnan(v));
	cr_assert(strncmp(why, "prometheus: bad_data: ", 22) == 0, "%s", why);
	cr_assert(strstr(why, "parse error") != NULL, "%s", why);
	cr_assert(strchr(why, '\n') == NULL);
}

/* ms: how long a GET of path takes on the container at port (its status
 * must be want). */
static uint64_t
timed_get(int port, const char *path, int want)
{
	char body[4096];
	uint64_t t0 = h_mono_ms();

	cr_assert_eq(h_http_get("127.0.0.1", port, path, body, sizeof(body)),
	    want, "GET %s: %s", path, body);
	return h_mono_ms() - t0;
}

/* The image itself: under keep-alive load from 16 connections at once, 2%
 * of the answers exactly (one either way: the random phase) are 500s and
 * the rest name VERSION; LATENCY_MS delays the answers but never /health
 * or /metrics (the slow one has no errors, so that every GET is a 200). */
Test(prom, image_errors_and_latency)
{
	int fast = web("2%", "0"), slow = web("0", "400");
	char bin[600], u[64];
	struct h_run *r = malloc(sizeof(*r));
	const cJSON *t, *st;
	long long sent, e500, ok200, v7;
	cJSON *o;

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/version", fast);
	h_run(r, (const char *[]){ h_bin("tests/ferry-load", bin, sizeof(bin)),
	    "--connections", "16", "--interval", "0", "--duration", "2",
	    "--json", u, NULL });
	cr_assert_eq(r->status, 0, "ferry-load: %s", r->err);
	o = cJSON_Parse(r->out);
	cr_assert_not_null(o, "ferry-load said: %s", r->out);
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "targets"), 0);
	st = cJSON_GetObjectItem(t, "by_status");
	sent = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "sent"));
	e500 = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "500"));
	ok200 = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "200"));
	v7 = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(t, "bodies"), "7"));
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(t, "failed")),
	    0, "%s", r->out);
	cr_assert(sent >= 2000, "only %lld requests in 2 s: %s", sent, r->out);
	cr_assert_eq(e500 + ok200, sent, "%s", r->out);
	cr_assert(llabs(e500 * 50 - sent) <= 50, "%lld errors in %lld "
	    "requests, not 2%%", e500, sent);
	cr_assert_eq(v7, ok200, "%s", r->out);
	cJSON_Delete(o);
	free(r);

	cr_assert(timed_get(slow, "/version", 200) >= 400);
	cr_assert(timed_get(slow, "/", 200) >= 400);
	cr_assert(timed_get(slow, "/health", 200) < 300);
	cr_assert(timed_get(slow, "/metrics", 200) < 300);
	cr_assert(timed_get(slow, "/nothing-here", 404) >= 400);
}

/* A port nobody listens on: refused at once. */
Test(prom, refused)
{
	char u[64], why[PROMQ_REASON_LEN];
	uint64_t t0 = h_mono_ms();
	double v = 0;

	snprintf(u, sizeof(u), "http://127.0.0.1:%d", h_free_port());
	cr_assert_eq(promq_query(u, "up", &VARS, 2000, &v, why, sizeof(why)),
	    FERR_IO);
	cr_assert(isnan(v));
	cr_assert(strncmp(why, "prometheus: connection failed: ", 31) == 0,
	    "%s", why);
	cr_assert(h_mono_ms() - t0 < 1000, "refused took %llu ms",
	    (unsigned long long)(h_mono_ms() - t0));
}

/* A listening socket that never accepts nor answers: the timeout holds. */
Test(prom, timeout)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char u[64], why[PROMQ_REASON_LEN];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t t0, took;
	double v = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(fd, 8) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	t0 = h_mono_ms();
	cr_assert_eq(promq_query(u, "up", &VARS, 700, &v, why, sizeof(why)),
	    FERR_TIMEOUT);
	took = h_mono_ms() - t0;
	cr_assert(isnan(v));
	cr_assert_str_eq(why, "prometheus: no answer within 700 ms");
	cr_assert(took >= 650 && took < 2000, "took %llu ms",
	    (unsigned long long)took);
	close(fd);
}

/* A server that answers one connection with a canned answer. */
struct canned {
	int fd;
	const char *head;	/* status line and headers, \r\n\r\n ended */
	const char *body;
	size_t body_len;
	size_t repeat;		/* the body this many times */
};

static void *
canned_serve(void *arg)
{
	struct canned *c = arg;
	char buf[4096];
	int cfd = accept(c->fd, NULL, NULL);

	if (cfd < 0)
		return NULL;
	(void)!read(cfd, buf, sizeof(buf));
	/* MSG_NOSIGNAL: the client may hang up first (too large an
	 * answer), and SIGPIPE would end the test. */
	(void)!send(cfd, c->head, strlen(c->head), MSG_NOSIGNAL);
	for (size_t i = 0; i < c->repeat; i++)
		if (send(cfd, c->body, c->body_len, MSG_NOSIGNAL) < 0)
			break;
	close(cfd);
	return NULL;
}

/* promq_query against one canned answer; returns its result. */
static int
against(const char *head, const char *body, size_t repeat, char *why,
    double *v)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct canned c = { socket(AF_INET, SOCK_STREAM, 0), head, body,
	    strlen(body), repeat };
	char u[64];
	pthread_t t;
	int rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(c.fd, 8) == 0 &&
	    getsockname(c.fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	pthread_create(&t, NULL, canned_serve, &c);
	rc = promq_query(u, "up", &VARS, 3000, v, why, PROMQ_REASON_LEN);
	shutdown(c.fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(c.fd);
	return rc;
}

/* What no Prometheus says is not trusted: an HTTP error without the
 * API's JSON, text that is not JSON, an answer past 1 MiB, a value that
 * is not a number; the server's text is escaped into one line. */
Test(prom, bad_answers)
{
	char why[PROMQ_REASON_LEN];
	double v;

	cr_assert_eq(against("HTTP/1.1 503 Service Unavailable\r\n"
	    "Connection: close\r\n\r\n", "down", 1, why, &v), FERR_IO);
	cr_assert_str_eq(why, "prometheus: HTTP 503");
	cr_assert_eq(against("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
	    "<html>not json</html>", 1, why, &v), FERR_MALFORMED);
	cr_assert(isnan(v));
	cr_assert_eq(against("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
	    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
	    "\"result\":[{\"metric\":{},\"value\":[1,\"12abc\"]}]}}", 1, why,
	    &v), FERR_MALFORMED);
	cr_assert_str_eq(why, "prometheus: the value \"12abc\" is not a "
	    "number");
	cr_assert_eq(against("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    (2u << 20) / 64, why, &v), FERR_TOOBIG);
	cr_assert_str_eq(why, "prometheus: the answer is larger than 1048576 "
	    "bytes");
	cr_assert_eq(against("HTTP/1.1 422 Unprocessable Entity\r\n"
	    "Connection: close\r\n\r\n", "{\"status\":\"error\",\"errorType\":"
	    "\"execution\",\"error\":\"line one\\nline\\u001b[31m two\"}", 1,
	    why, &v), FERR_IO);
	cr_assert_str_eq(why, "prometheus: execution: line one\\nline\\x1b[31m"
	    " two");
	/* A redirect is not followed. */
	cr_assert_eq(against("HTTP/1.1 302 Found\r\nLocation: http://"
	    "127.0.0.1:1/\r\nConnection: close\r\n\r\n", "", 1, why, &v),
	    FERR_IO);
	cr_assert_str_eq(why, "prometheus: HTTP 302");
	/* A good answer from the same fake, for contrast. */
	cr_assert_eq(against("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
	    "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	    "\"result\":[1,\"0.25\"]}}", 1, why, &v), 0, "%s", why);
	cr_assert_eq(v, 0.25);
}

/* Refused before any connection: other schemes, a query string, an
 * unknown placeholder, {{stable_revision}} with none, a timeout of 0. */
Test(prom, refused_before_sending)
{
	struct promq_vars first = { "web", 1, 0 }, odd = { "we\"b", 1, 0 };
	char why[PROMQ_REASON_LEN];
	double v;

	cr_assert_eq(promq_query("ftp://127.0.0.1:9/", "up", &VARS, 1000, &v,
	    why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "url: only http:// and https:// are allowed");
	cr_assert_eq(promq_query("file:///etc/passwd", "up", &VARS, 1000, &v,
	    why, sizeof(why)), FERR_ARG);
	cr_assert_eq(promq_query("http://127.0.0.1:9/?x=1", "up", &VARS, 1000,
	    &v, why, sizeof(why)), FERR_ARG);
	cr_assert_eq(promq_query("http://127.0.0.1:9", "up{{job}}", &VARS,
	    1000, &v, why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "query: unknown placeholder {{job}} (known: "
	    "{{service}}, {{revision}}, {{stable_revision}})");
	cr_assert_eq(promq_query("http://127.0.0.1:9",
	    "up{revision=\"{{stable_revision}}\"}", &first, 1000, &v, why,
	    sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "query: {{stable_revision}}: the service has "
	    "no stable revision");
	cr_assert_eq(promq_query("http://127.0.0.1:9", "up{job=\"{{service}}\"}",
	    &odd, 1000, &v, why, sizeof(why)), FERR_ARG);
	cr_assert_eq(promq_query("http://127.0.0.1:9", "up", &VARS, 0, &v,
	    why, sizeof(why)), FERR_ARG);
	cr_assert(isnan(v));
}
