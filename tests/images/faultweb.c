/* SPDX-License-Identifier: Apache-2.0 */
/* faultweb.c: the test image web:errors, an HTTP server whose error rate
 * and latency are set by its environment, for the tests of traffic
 * canaries and their automatic analysis.
 *
 *   PORT        the TCP port, on every IPv4 address (default 80)
 *   VERSION     named in the answers, as in the other test images
 *               (default "errors")
 *   ERROR_RATE  the share of requests answered 500: "2%", "0.1%", "0.02",
 *               "0" (default 0; at most 100%, to a millionth)
 *   LATENCY_MS  each answer is delayed this long (default 0, at most
 *               600000)
 *
 * Paths:
 *   /health     200 "ok" at once, never an error, never delayed, not
 *               counted (so health checks pass whatever the settings)
 *   /metrics    the counters in Prometheus's text format, at once, not
 *               counted
 *   /version    VERSION and a newline (ferry-load counts answers by it)
 *   /, /index.html  a short page naming VERSION
 *   anything else   404
 * Every request but /health and /metrics is counted, delayed by
 * LATENCY_MS and, at ERROR_RATE, answered 500 ("injected error").
 *
 * Errors are spread evenly and deterministically: the requests are
 * numbered in the order they are taken (one counter for the whole
 * process), starting at a random phase, and request i fails when
 * floor(i * rate) > floor((i - 1) * rate); so any n consecutive requests
 * hold floor(n * rate) or one more errors.
 *
 * HTTP/1.1 keep-alive (HTTP/1.0 closes unless it asks for keep-alive),
 * pipelined requests answered in order, request bodies with Content-Length
 * read and dropped (chunked bodies: 501 and close). One thread per
 * connection (blocking I/O, so a delay holds only its own connection), at
 * most MAX_CONNS at a time; a connection idle for IDLE_S, or whose client
 * stops reading for as long, is closed.
 * Linked statically (libc only) so that it runs in an image FROM scratch;
 * as PID 1 there, it ends at once on SIGTERM or SIGINT.  A bad setting is
 * one line on stderr and exit code 2. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	4096
#define IDLE_S		120
#define BUFSZ		16384	/* one request's head must fit */
#define MILLION		1000000u
#define MAX_LATENCY_MS	600000L
#define MAX_VERSION	64
#define MAX_BODY	(1L << 20)	/* a request body larger: 413, close */

/* Statuses counted, in the order /metrics lists them. */
static const int codes[] = { 200, 400, 404, 413, 431, 500, 501 };
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static char version[MAX_VERSION + 1] = "errors";
static uint32_t rate_ppm;	/* errors per million requests */
static long latency_ms;
static atomic_uint_fast64_t seq;	/* the next request's number */
static atomic_uint_fast64_t counted[NCODES];
static atomic_int conns;

static void
on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

/* "2%", "0.1%", "0.02", "0": the rate in millionths, or -1. */
static long
parse_rate(const char *s)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	int digits = 0, pct;

	while (*p >= '0' && *p <= '9' && whole < MILLION) {
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (scale < 100000000) {	/* 8 places: enough */
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
			p++;
			digits++;
		}
	}
	pct = *p == '%';
	if (pct)
		p++;
	if (digits == 0 || *p != '\0')
		return -1;
	/* millionths = (whole + frac/scale) * (pct ? 10^4 : 10^6) */
	uint64_t mul = pct ? 10000 : MILLION;
	uint64_t v = whole * mul + frac * mul / scale;
	return v > MILLION ? -1 : (long)v;
}

static int
settings(void)
{
	const char *v;
	char *end;

	if ((v = getenv("VERSION")) != NULL && *v != '\0') {
		size_t n = strlen(v);

		if (n > MAX_VERSION) {
			fprintf(stderr, "faultweb: VERSION is longer than "
			    "%d bytes\n", MAX_VERSION);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' ||
			    v[i] == '\\') {
				fprintf(stderr, "faultweb: VERSION may hold "
				    "only printable ASCII without spaces, "
				    "quotes or backslashes\n");
				return -1;
			}
		memcpy(version, v, n + 1);
	}
	if ((v = getenv("ERROR_RATE")) != NULL && *v != '\0') {
		long r = parse_rate(v);

		if (r < 0) {
			fprintf(stderr, "faultweb: ERROR_RATE \"%.32s\" is "
			    "not a rate between 0 and 100%% (e.g. \"2%%\", "
			    "\"0.1%%\", \"0.02\")\n", v);
			return -1;
		}
		rate_ppm = (uint32_t)r;
	}
	if ((v = getenv("LATENCY_MS")) != NULL && *v != '\0') {
		errno = 0;
		latency_ms = strtol(v, &end, 10);
		if (errno || *end != '\0' || latency_ms < 0 ||
		    latency_ms > MAX_LATENCY_MS) {
			fprintf(stderr, "faultweb: LATENCY_MS \"%.32s\" is "
			    "not a whole number of milliseconds from 0 to "
			    "%ld\n", v, MAX_LATENCY_MS);
			return -1;
		}
	}
	return 0;
}

/* Whether request number i is one of the errors. */
static int
is_error(uint64_t i)
{
	if (rate_ppm == 0)
		return 0;
	if (rate_ppm >= MILLION)
		return 1;
	/* i * rate_ppm fits: i < 2^44 for centuries at any test's pace. */
	return i * rate_ppm / MILLION > (i - 1) * rate_ppm / MILLION;
}

static void
count(int code)
{
	for (size_t k = 0; k < NCODES; k++)
		if (codes[k] == code) {
			atomic_fetch_add(&counted[k], 1);
			return;
		}
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	default: return "Not Implemented";
	}
}

/* One answer; HEAD gets the head only.  -1 when the peer is gone. */
static int
answer(int fd, int code, const char *type, const char *body, size_t blen,
    int head_only, int close_after)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", code,
	    reason(code), type, blen,
	    close_after ? "Connection: close\r\n" : "");
	if (send_all(fd, head, (size_t)n) < 0)
		return -1;
	if (!head_only && blen > 0 && send_all(fd, body, blen) < 0)
		return -1;
	return 0;
}

static size_t
metrics(char *out, size_t cap)
{
	size_t n = 0;

	n += (size_t)snprintf(out + n, cap - n,
	    "# HELP ferry_test_requests_total Requests answered, by status "
	    "(not /health or /metrics).\n"
	    "# TYPE ferry_test_requests_total counter\n");
	for (size_t k = 0; k < NCODES; k++)
		n += (size_t)snprintf(out + n, cap - n,
		    "ferry_test_requests_total{code=\"%d\",version=\"%s\"} "
		    "%" PRIuFAST64 "\n", codes[k], version,
		    atomic_load(&counted[k]));
	n += (size_t)snprintf(out + n, cap - n,
	    "# HELP ferry_test_errors_total Requests answered 500 on "
	    "purpose (ERROR_RATE).\n"
	    "# TYPE ferry_test_errors_total counter\n"
	    "ferry_test_errors_total{version=\"%s\"} %" PRIuFAST64 "\n"
	    "# HELP ferry_test_error_ratio The ERROR_RATE set, as a ratio.\n"
	    "# TYPE ferry_test_error_ratio gauge\n"
	    "ferry_test_error_ratio{version=\"%s\"} %u.%06u\n"
	    "# HELP ferry_test_latency_seconds The LATENCY_MS set, in "
	    "seconds.\n"
	    "# TYPE ferry_test_latency_seconds gauge\n"
	    "ferry_test_latency_seconds{version=\"%s\"} %ld.%03ld\n"
	    "# HELP ferry_test_connections Connections open now.\n"
	    "# TYPE ferry_test_connections gauge\n"
	    "ferry_test_connections{version=\"%s\"} %d\n",
	    version, atomic_load(&counted[5]),
	    version, rate_ppm / MILLION, rate_ppm % MILLION,
	    version, latency_ms / 1000, latency_ms % 1000,
	    version, atomic_load(&conns));
	return n < cap ? n : cap - 1;
}

/* Header NAME's value in the head [h, end), or NULL; *len is its length. */
static const char *
header(const char *h, const char *end, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *p = memchr(h, '\n', (size_t)(end - h));

	while (p != NULL && p + 1 < end) {
		const char *line = p + 1, *eol;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' &&
		    !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' ||
			    ve[-1] == '\t'))
				ve--;
			*len = (size_t)(ve - v);
			return v;
		}
		p = eol < end ? eol : NULL;
	}
	return NULL;
}

static int
has_token(const char *v, size_t len, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= len; i++)
		if (!strncasecmp(v + i, tok, tl))
			return 1;
	return 0;
}

static void
delay(void)
{
	struct timespec ts = { latency_ms / 1000,
	    (latency_ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Serves one request whose head is buf[0, hlen); *body is the length of
 * its body still to drop.  Returns 1 to keep the connection, 0 to close
 * it, -1 when the peer is gone. */
static int
serve(int fd, const char *buf, size_t hlen, long *body)
{
	const char *end = buf + hlen, *sp1, *sp2, *eol, *v;
	char path[256], page[512], *mbuf;
	const char *type = "text/plain";
	size_t vl, pl;
	int head_only, keep, code, rc;
	uint64_t i;

	*body = 0;
	eol = memchr(buf, '\n', hlen);
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp1 == NULL || sp2 == NULL || eol - sp2 < 9 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7)) {
		count(400);
		answer(fd, 400, "text/plain", "bad request\n", 12, 0, 1);
		return 0;
	}
	head_only = sp1 - buf == 4 && !memcmp(buf, "HEAD", 4);
	keep = sp2[8] == '1';	/* HTTP/1.1 */
	if ((v = header(buf, end, "Connection", &vl)) != NULL) {
		if (has_token(v, vl, "close"))
			keep = 0;
		else if (has_token(v, vl, "keep-alive"))
			keep = 1;
	}
	if ((v = header(buf, end, "Transfer-Encoding", &vl)) != NULL) {
		count(501);
		answer(fd, 501, "text/plain", "chunked bodies are not "
		    "taken\n", 27, head_only, 1);
		return 0;
	}
	if ((v = header(buf, end, "Content-Length", &vl)) != NULL) {
		char num[24];
		char *e;

		if (vl == 0 || vl >= sizeof(num)) {
			count(400);
			answer(fd, 400, "text/plain", "bad request\n", 12, 0,
			    1);
			return 0;
		}
		memcpy(num, v, vl);
		num[vl] = '\0';
		errno = 0;
		*body = strtol(num, &e, 10);
		if (errno || *e != '\0' || *body < 0) {
			count(400);
			answer(fd, 400, "text/plain", "bad request\n", 12, 0,
			    1);
			return 0;
		}
		if (*body > MAX_BODY) {
			count(413);
			answer(fd, 413, "text/plain", "body too large\n", 15,
			    head_only, 1);
			return 0;
		}
	}
	pl = (size_t)(sp2 - sp1 - 1);
	if (pl >= sizeof(path))
		pl = sizeof(path) - 1;
	memcpy(path, sp1 + 1, pl);
	path[pl] = '\0';
	path[strcspn(path, "?")] = '\0';

	if (!strcmp(path, "/health"))
		return answer(fd, 200, "text/plain", "ok\n", 3, head_only,
		    !keep) < 0 ? -1 : keep;
	if (!strcmp(path, "/metrics")) {
		size_t cap = 4096, n;

		if ((mbuf = malloc(cap)) == NULL)
			return 0;
		n = metrics(mbuf, cap);
		rc = answer(fd, 200, "text/plain; version=0.0.4; "
		    "charset=utf-8", mbuf, n, head_only, !keep);
		free(mbuf);
		return rc < 0 ? -1 : keep;
	}

	i = atomic_fetch_add(&seq, 1);
	if (latency_ms > 0)
		delay();
	if (is_error(i)) {
		code = 500;
		pl = (size_t)snprintf(page, sizeof(page), "ferry-test web %s: "
		    "injected error\n", version);
	} else if (!strcmp(path, "/version")) {
		code = 200;
		pl = (size_t)snprintf(page, sizeof(page), "%s\n", version);
	} else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		code = 200;
		type = "text/html";
		pl = (size_t)snprintf(page, sizeof(page), "<!doctype html>\n"
		    "<title>ferry-test web %s</title>\n"
		    "<p>ferry-test web version %s</p>\n", version, version);
	} else {
		code = 404;
		pl = (size_t)snprintf(page, sizeof(page), "not found\n");
	}
	count(code);
	return answer(fd, code, type, page, pl, head_only, !keep) < 0 ?
	    -1 : keep;
}

static void *
connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(BUFSZ);
	size_t len = 0;
	long body = 0;

	if (buf == NULL)
		goto out;
	for (;;) {
		char *end;
		ssize_t r;

		/* Drop what remains of a request body. */
		if (body > 0 && len > 0) {
			size_t d = (size_t)body < len ? (size_t)body : len;

			memmove(buf, buf + d, len - d);
			len -= d;
			body -= (long)d;
		}
		if (body == 0 && len > 0) {
			end = memmem(buf, len, "\r\n\r\n", 4);
			if (end != NULL) {
				size_t hlen = (size_t)(end - buf) + 4;
				int keep = serve(fd, buf, hlen, &body);

				if (keep <= 0)
					goto out;
				memmove(buf, buf + hlen, len - hlen);
				len -= hlen;
				continue;
			}
			if (len == BUFSZ) {
				count(431);
				answer(fd, 431, "text/plain", "head too "
				    "large\n", 15, 0, 1);
				goto out;
			}
		}
		r = recv(fd, buf + len, BUFSZ - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)	/* closed, reset, or idle past IDLE_S */
			goto out;
		len += (size_t)r;
	}
out:
	free(buf);
	close(fd);
	atomic_fetch_sub(&conns, 1);
	return NULL;
}

int
main(void)
{
	struct sockaddr_in sa;
	struct sigaction act;
	pthread_attr_t attr;
	struct timeval idle = { IDLE_S, 0 };
	const char *ps = getenv("PORT");
	long port = 80;
	char *end;
	int lfd, one = 1;
	uint64_t phase = 0;

	memset(&act, 0, sizeof(act));
	act.sa_handler = on_signal;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ps != NULL && *ps != '\0') {
		errno = 0;
		port = strtol(ps, &end, 10);
		if (errno || *end != '\0' || port < 1 || port > 65535) {
			fprintf(stderr, "faultweb: PORT \"%.32s\" is not a "
			    "port from 1 to 65535\n", ps);
			return 2;
		}
	}
	if (settings() < 0)
		return 2;
	/* A random phase, so that two containers do not fail in step. */
	if (getrandom(&phase, sizeof(phase), 0) != sizeof(phase))
		phase = (uint64_t)time(NULL);
	atomic_store(&seq, 1 + phase % MILLION);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("faultweb: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	sa.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1024) < 0) {
		fprintf(stderr, "faultweb: listen on port %ld: %s\n", port,
		    strerror(errno));
		return 1;
	}
	fprintf(stderr, "faultweb: version %s on port %ld, errors %u.%04u%%, "
	    "latency %ld ms\n", version, port, rate_ppm / 10000,
	    rate_ppm % 10000, latency_ms);

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				usleep(10000);
			continue;
		}
		if (atomic_fetch_add(&conns, 1) >= MAX_CONNS) {
			atomic_fetch_sub(&conns, 1);
			close(cfd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		/* A client that stops reading frees its thread too. */
		setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle));
		if (pthread_create(&t, &attr, connection,
		    (void *)(intptr_t)cfd) != 0) {
			atomic_fetch_sub(&conns, 1);
			close(cfd);
		}
	}
}
