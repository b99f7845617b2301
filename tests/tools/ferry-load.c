/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-load.c: a bounded HTTP load generator for ferry's tests and bench:
 * keep-alive GETs to one or more loopback targets, every request accounted
 * for (answered by status, or failed by kind), per target.
 *
 *   ferry-load [--connections N] [--interval MS | --rate R] [--duration S]
 *              [--timeout S] [--stop-file F] [--json] URL...
 *
 * URL is http://127.x.y.z:PORT/PATH (numeric, loopback only).  Each URL gets
 * N keep-alive connections (default 1; at most 1000 in all).  A connection
 * sends its next request MS milliseconds after the previous one ended
 * (--interval, default 100; 0 is back to back), or starts R requests per
 * second on a fixed clock (--rate, at most 100000), never more than one in
 * flight.  A connection the server closes is opened again for the next
 * request.
 *
 * Each request ends exactly once, as one of:
 *   a response     counted by status (and class: 1xx..5xx); a 2xx body of at
 *                  most 64 bytes is also counted by its first line (the test
 *                  image's /version names its version), up to 16 values
 *   refused        the connection was refused
 *   reset          the connection was reset or closed before the response
 *                  ended
 *   timeout        no whole response within --timeout (default 5 s; the
 *                  connect counts)
 *   other          any other error (its libuv name goes to stderr, once)
 * As browsers and curl do, a request on a reused keep-alive connection that
 * the server closed before sending a single byte is sent once more on a new
 * connection (counted under "retried", not failed); a second close fails it.
 *
 * The run stops at --duration seconds (default 10, at most 3600), when the
 * stop file appears (looked for every 100 ms), or on SIGTERM/SIGINT; then no
 * new request starts and the ones in flight get their answer or their
 * timeout, so sent = responses + failed.  The summary is one line on
 * stdout, or on stderr when --json puts a JSON object on stdout.  Exits 0
 * after a run, 2 on bad usage (with a message naming what is wrong). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <http_parser.h>
#include <uv.h>

#include "hist.h"

#define MAX_TARGETS	64
#define MAX_CONNS	1000
#define MAX_DURATION_S	3600
#define MAX_RATE	100000
#define MAX_INTERVAL_MS	3600000
#define MAX_TIMEOUT_S	60
#define BODY_KEEP	64	/* bodies up to this long are counted by value */
#define MAX_BODIES	16	/* distinct values per target */
#define STOP_POLL_MS	100
#define READ_BUF	16384

enum fail_kind { FAIL_REFUSED, FAIL_RESET, FAIL_TIMEOUT, FAIL_OTHER, FAIL_N };
static const char *fail_names[FAIL_N] = { "refused", "reset", "timeout",
    "other" };

struct body_count {
	char	 value[BODY_KEEP + 1];
	uint64_t n;
};

struct target {
	char		 url[300];
	struct sockaddr_in addr;
	char		 req[600];
	size_t		 req_len;
	uint64_t	 sent, responses, retried;
	uint64_t	 by_status[600];
	uint64_t	 failed[FAIL_N];
	uint64_t	 latency[HIST_BUCKETS];
	struct body_count bodies[MAX_BODIES];
	size_t		 nbodies;
	uint64_t	 bodies_other;	/* 2xx bodies not counted by value */
};

/* One connection's life: DOWN (no socket), CONNECTING, IDLE (open, nothing
 * in flight), BUSY (a request in flight), CLOSING (uv_close called, the
 * close callback not yet run).  A request is "in flight" from its start to
 * its end (response or failure), across a reconnect for a retry. */
enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };

struct conn {
	struct target	*t;
	enum conn_state	 state;
	uv_tcp_t	 tcp;
	uv_connect_t	 creq;
	uv_write_t	 wreq;
	uv_timer_t	 wait;		/* until the next request starts */
	uv_timer_t	 deadline;	/* the request in flight's timeout */
	http_parser	 parser;
	int		 in_flight;	/* a request started and not ended */
	int		 send_on_open;	/* connect, then send the request */
	int		 reused;	/* the socket carried a request before */
	int		 got_bytes;	/* response bytes seen for this request */
	int		 retried;	/* this request was already sent again */
	int		 keep_alive;	/* the last response allows reuse */
	int		 done;		/* wait and deadline closed (stopping) */
	uint64_t	 started_us;	/* when the request in flight started */
	uint64_t	 next_ms;	/* --rate: when the next one is due */
	int		 status;
	char		 body[BODY_KEEP + 1];
	size_t		 body_len;
	int		 body_long;
	char		 rbuf[READ_BUF];
};

static struct {
	uv_loop_t	*loop;
	struct target	 targets[MAX_TARGETS];
	size_t		 ntargets;
	struct conn	*conns;
	size_t		 nconns;
	unsigned	 interval_ms;
	unsigned	 rate;
	unsigned	 duration_s;
	unsigned	 timeout_s;
	const char	*stop_file;
	int		 json;
	int		 stopping;
	uint64_t	 started_ms, stopped_ms;
	uv_timer_t	 duration_timer, stop_poll;
	uv_signal_t	 sigterm, sigint;
	int		 other_said;
} L;

static http_parser_settings parser_settings;

static void conn_fire(struct conn *);
static void conn_close(struct conn *);
static void conn_schedule(struct conn *);
static void stop_all(void);

static void
usage(const char *why, const char *what)
{
	if (why != NULL)
		fprintf(stderr, "ferry-load: %s%s%s\n", why,
		    what != NULL ? ": " : "", what != NULL ? what : "");
	fprintf(stderr,
	    "usage: ferry-load [--connections N] [--interval MS | --rate R] "
	    "[--duration S]\n"
	    "                  [--timeout S] [--stop-file F] [--json] "
	    "URL...\n"
	    "  URL is http://127.x.y.z:PORT/PATH; N connections per URL "
	    "(at most %d in all)\n", MAX_CONNS);
	exit(2);
}

/* parse_uint reads a whole decimal number in [lo, hi] or says which option
 * is wrong and exits. */
static unsigned
parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi)
{
	char *end, msg[160];
	unsigned long v;

	if (s == NULL)
		usage("missing value for", opt);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < lo || v > hi) {
		snprintf(msg, sizeof(msg), "%s wants a whole number from %u "
		    "to %u, not", opt, lo, hi);
		usage(msg, s);
	}
	return (unsigned)v;
}

/* target_parse fills t from an http://IPV4:PORT/PATH URL; loopback only. */
static int
target_parse(struct target *t, const char *url, const char **why)
{
	struct http_parser_url u;
	char host[64], port[8];
	const char *path = "/";
	size_t plen = 1;
	unsigned long pn;

	memset(t, 0, sizeof(*t));
	if (strlen(url) >= sizeof(t->url)) {
		*why = "URL too long";
		return -1;
	}
	snprintf(t->url, sizeof(t->url), "%s", url);
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_SCHEMA)) ||
	    !(u.field_set & (1 << UF_HOST))) {
		*why = "not an http:// URL";
		return -1;
	}
	if (u.field_data[UF_SCHEMA].len != 4 ||
	    strncmp(url + u.field_data[UF_SCHEMA].off, "http", 4) != 0) {
		*why = "only http:// is supported";
		return -1;
	}
	if (!(u.field_set & (1 << UF_PORT))) {
		*why = "the URL needs a port";
		return -1;
	}
	if (u.field_set & ((1 << UF_USERINFO) | (1 << UF_FRAGMENT))) {
		*why = "user info and fragments are not supported";
		return -1;
	}
	if (u.field_data[UF_HOST].len >= sizeof(host)) {
		*why = "host too long";
		return -1;
	}
	memcpy(host, url + u.field_data[UF_HOST].off,
	    u.field_data[UF_HOST].len);
	host[u.field_data[UF_HOST].len] = '\0';
	snprintf(port, sizeof(port), "%.*s", (int)u.field_data[UF_PORT].len,
	    url + u.field_data[UF_PORT].off);
	pn = strtoul(port, NULL, 10);
	if (pn == 0 || pn > 65535) {
		*why = "port out of range";
		return -1;
	}
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((uint16_t)pn);
	if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1) {
		*why = "the host must be a numeric IPv4 address";
		return -1;
	}
	if ((ntohl(t->addr.sin_addr.s_addr) >> 24) != 127) {
		*why = "only loopback targets (127.0.0.0/8) are allowed";
		return -1;
	}
	if (u.field_set & (1 << UF_PATH)) {
		path = url + u.field_data[UF_PATH].off;
		/* The path runs on through the query, if any. */
		plen = strlen(path);
	}
	t->req_len = (size_t)snprintf(t->req, sizeof(t->req),
	    "GET %.*s HTTP/1.1\r\nHost: %s:%lu\r\n"
	    "User-Agent: ferry-load\r\nAccept: */*\r\n\r\n",
	    (int)plen, path, host, pn);
	if (t->req_len >= sizeof(t->req)) {
		*why = "URL too long";
		return -1;
	}
	return 0;
}

static uint64_t
now_ms(void)
{
	uv_update_time(L.loop);
	return uv_now(L.loop);
}

static uint64_t
now_us(void)
{
	return uv_hrtime() / 1000;
}

static void
body_count(struct target *t, const char *body, size_t len)
{
	char v[BODY_KEEP + 1];
	size_t i, n = 0;

	while (n < len && body[n] != '\n' && body[n] != '\r')
		n++;
	memcpy(v, body, n);
	v[n] = '\0';
	for (i = 0; i < t->nbodies; i++) {
		if (strcmp(t->bodies[i].value, v) == 0) {
			t->bodies[i].n++;
			return;
		}
	}
	if (t->nbodies == MAX_BODIES) {
		t->bodies_other++;
		return;
	}
	snprintf(t->bodies[t->nbodies].value, sizeof(v), "%s", v);
	t->bodies[t->nbodies++].n = 1;
}

/* request_end closes the books on the request in flight: status > 0 is a
 * response, else kind is the failure. */
static void
request_end(struct conn *c, int status, enum fail_kind kind)
{
	struct target *t = c->t;

	if (!c->in_flight)
		return;
	c->in_flight = 0;
	uv_timer_stop(&c->deadline);
	if (status > 0) {
		t->responses++;
		t->by_status[status < 600 ? status : 599]++;
		t->latency[hist_bucket(now_us() - c->started_us)]++;
		if (status >= 200 && status < 300) {
			if (c->body_long)
				t->bodies_other++;
			else
				body_count(t, c->body, c->body_len);
		}
	} else {
		t->failed[kind]++;
	}
}

/* ---- the parser's callbacks ---- */

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (c->body_len + len > BODY_KEEP) {
		c->body_long = 1;
		return 0;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	c->keep_alive = http_should_keep_alive(p);
	request_end(c, p->status_code > 0 ? p->status_code : 599, 0);
	/* Anything after this response is not ours to read. */
	http_parser_pause(p, 1);
	return 0;
}

/* ---- the connection ---- */

static void
on_close(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->state = C_DOWN;
	if (c->send_on_open)
		conn_fire(c);
	else if (L.stopping)
		stop_all();
}

static void
conn_close(struct conn *c)
{
	if (c->state == C_DOWN || c->state == C_CLOSING)
		return;
	c->state = C_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* conn_fail ends the request in flight as a failure of kind, unless it may
 * go once more on a new connection, and closes the socket. */
static void
conn_fail(struct conn *c, enum fail_kind kind)
{
	if (c->in_flight && kind == FAIL_RESET && c->reused &&
	    !c->got_bytes && !c->retried) {
		c->retried = 1;
		c->t->retried++;
		c->send_on_open = 1;	/* on_close connects again */
	} else {
		request_end(c, 0, kind);
		conn_schedule(c);
	}
	conn_close(c);
}

static enum fail_kind
fail_kind_of(int err)
{
	switch (err) {
	case UV_ECONNREFUSED:
		return FAIL_REFUSED;
	case UV_ECONNRESET:
	case UV_EPIPE:
	case UV_EOF:
	case UV_ECONNABORTED:
		return FAIL_RESET;
	case UV_ETIMEDOUT:
		return FAIL_TIMEOUT;
	default:
		if (!L.other_said) {
			L.other_said = 1;
			fprintf(stderr, "ferry-load: error: %s (counted as "
			    "\"other\"; said once)\n", uv_err_name(err));
		}
		return FAIL_OTHER;
	}
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t used;

	if (n == 0)
		return;
	if (n < 0) {
		if (c->in_flight && n == UV_EOF && c->got_bytes) {
			/* A response that ends at the close ends now. */
			http_parser_execute(&c->parser, &parser_settings,
			    NULL, 0);
			if (!c->in_flight) {
				c->keep_alive = 0;
				conn_schedule(c);
				conn_close(c);
				return;
			}
		}
		if (c->in_flight)
			conn_fail(c, fail_kind_of((int)n));
		else
			conn_close(c);	/* closed while idle: reopen later */
		return;
	}
	if (!c->in_flight) {
		/* Bytes nobody asked for: the connection is not sane. */
		conn_close(c);
		return;
	}
	c->got_bytes = 1;
	used = http_parser_execute(&c->parser, &parser_settings, buf->base,
	    (size_t)n);
	if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
		http_parser_pause(&c->parser, 0);
		conn_schedule(c);
		if (!c->keep_alive || used < (size_t)n || L.stopping) {
			conn_close(c);
			return;
		}
		c->state = C_IDLE;
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
		if (!L.other_said) {
			L.other_said = 1;
			fprintf(stderr, "ferry-load: %s: bad response: %s "
			    "(counted as \"other\"; said once)\n", c->t->url,
			    http_errno_description(
			    HTTP_PARSER_ERRNO(&c->parser)));
		}
		conn_fail(c, FAIL_OTHER);
	}
}

static void
on_write(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	if (status < 0 && status != UV_ECANCELED && c->state == C_BUSY)
		conn_fail(c, fail_kind_of(status));
}

/* conn_send writes the target's request on the open socket. */
static void
conn_send(struct conn *c)
{
	uv_buf_t b = uv_buf_init(c->t->req, (unsigned)c->t->req_len);
	int rc;

	c->state = C_BUSY;
	c->got_bytes = 0;
	c->body_len = 0;
	c->body_long = 0;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
	c->wreq.data = c;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		conn_fail(c, fail_kind_of(rc));
		return;
	}
	c->reused = 1;	/* the next request on this socket reuses it */
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	int rc;

	if (c->state != C_CONNECTING)
		return;	/* closed meanwhile (timeout); on_close has it */
	if (status < 0) {
		c->state = C_BUSY;
		conn_fail(c, fail_kind_of(status));
		return;
	}
	c->reused = 0;
	if ((rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb,
	    on_read)) < 0) {
		c->state = C_BUSY;
		conn_fail(c, fail_kind_of(rc));
		return;
	}
	conn_send(c);
}

static void
on_deadline(uv_timer_t *tm)
{
	struct conn *c = tm->data;

	if (!c->in_flight)
		return;
	c->send_on_open = 0;
	request_end(c, 0, FAIL_TIMEOUT);
	conn_schedule(c);
	conn_close(c);
}

/* conn_open starts a connect for the request in flight. */
static void
conn_open(struct conn *c)
{
	int rc;

	c->send_on_open = 0;
	if ((rc = uv_tcp_init(L.loop, &c->tcp)) < 0) {
		request_end(c, 0, fail_kind_of(rc));
		conn_schedule(c);
		return;
	}
	c->tcp.data = c;
	uv_tcp_nodelay(&c->tcp, 1);
	c->state = C_CONNECTING;
	c->creq.data = c;
	rc = uv_tcp_connect(&c->creq, &c->tcp,
	    (const struct sockaddr *)&c->t->addr, on_connect);
	if (rc < 0) {
		c->state = C_BUSY;
		conn_fail(c, fail_kind_of(rc));
	}
}

/* conn_fire starts a request (or sends the one in flight again, for a
 * retry): on the open socket, or on a new one. */
static void
conn_fire(struct conn *c)
{
	if (L.stopping && !c->in_flight)
		return;
	if (!c->in_flight) {
		c->in_flight = 1;
		c->retried = 0;
		c->started_us = now_us();
		c->t->sent++;
		uv_timer_start(&c->deadline, on_deadline,
		    (uint64_t)L.timeout_s * 1000, 0);
	}
	switch (c->state) {
	case C_IDLE:
		conn_send(c);
		break;
	case C_DOWN:
		conn_open(c);
		break;
	case C_CLOSING:
		c->send_on_open = 1;
		break;
	case C_CONNECTING:
	case C_BUSY:
		break;	/* cannot happen: one request at a time */
	}
}

static void
on_wait(uv_timer_t *tm)
{
	conn_fire(tm->data);
}

/* conn_schedule sets the timer for the connection's next request. */
static void
conn_schedule(struct conn *c)
{
	uint64_t now, delay;

	if (L.stopping)
		return;
	now = now_ms();
	if (L.rate > 0) {
		c->next_ms += 1000 / L.rate > 0 ? 1000 / L.rate : 1;
		if (c->next_ms < now)
			c->next_ms = now;	/* late: no burst to catch up */
		delay = c->next_ms - now;
	} else {
		delay = L.interval_ms;
	}
	uv_timer_start(&c->wait, on_wait, delay, 0);
}

/* ---- stopping ---- */

static void
on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

/* stop_all ends the run once nothing is in flight: every handle is closed
 * and uv_run returns.  Called again as requests end. */
static void
stop_all(void)
{
	size_t i;

	if (!L.stopping) {
		L.stopping = 1;
		L.stopped_ms = now_ms();
		uv_timer_stop(&L.stop_poll);
		uv_timer_stop(&L.duration_timer);
		uv_signal_stop(&L.sigterm);
		uv_signal_stop(&L.sigint);
	}
	for (i = 0; i < L.nconns; i++) {
		struct conn *c = &L.conns[i];

		uv_timer_stop(&c->wait);
		if (c->in_flight)
			continue;
		c->send_on_open = 0;
		if (c->state == C_IDLE || c->state == C_BUSY ||
		    c->state == C_CONNECTING)
			conn_close(c);
		if (!c->done) {
			c->done = 1;
			uv_close((uv_handle_t *)&c->wait, on_timer_closed);
			uv_close((uv_handle_t *)&c->deadline,
			    on_timer_closed);
		}
	}
	for (i = 0; i < L.nconns; i++)
		if (!L.conns[i].done)
			return;
	if (!uv_is_closing((uv_handle_t *)&L.stop_poll)) {
		uv_close((uv_handle_t *)&L.stop_poll, on_timer_closed);
		uv_close((uv_handle_t *)&L.duration_timer, on_timer_closed);
		uv_close((uv_handle_t *)&L.sigterm, on_timer_closed);
		uv_close((uv_handle_t *)&L.sigint, on_timer_closed);
	}
}

static void
on_duration(uv_timer_t *tm)
{
	(void)tm;
	stop_all();
}

static void
on_stop_poll(uv_timer_t *tm)
{
	struct stat st;

	(void)tm;
	if (stat(L.stop_file, &st) == 0)
		stop_all();
}

static void
on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	stop_all();
}

/* stop_all closes handles only when nothing is in flight; a request that
 * ends after the stop calls it again through here. */
static void
on_check_stopping(uv_check_t *ch)
{
	(void)ch;
	if (L.stopping)
		stop_all();
}

/* ---- report ---- */

struct totals {
	uint64_t sent, responses, retried, failed, fail[FAIL_N];
	uint64_t cls[6];
	uint64_t latency[HIST_BUCKETS];
};

static void
add_target(struct totals *s, const struct target *t)
{
	size_t i;

	s->sent += t->sent;
	s->responses += t->responses;
	s->retried += t->retried;
	for (i = 0; i < FAIL_N; i++) {
		s->fail[i] += t->failed[i];
		s->failed += t->failed[i];
	}
	for (i = 100; i < 600; i++)
		s->cls[i / 100] += t->by_status[i];
	for (i = 0; i < HIST_BUCKETS; i++)
		s->latency[i] += t->latency[i];
}

static void
json_counts(cJSON *o, const struct totals *s)
{
	cJSON *cls = cJSON_AddObjectToObject(o, "by_class");
	cJSON *f = cJSON_AddObjectToObject(o, "failures");
	double q;
	char k[4];
	size_t i;

	cJSON_AddNumberToObject(o, "sent", (double)s->sent);
	cJSON_AddNumberToObject(o, "responses", (double)s->responses);
	cJSON_AddNumberToObject(o, "failed", (double)s->failed);
	cJSON_AddNumberToObject(o, "retried", (double)s->retried);
	for (i = 1; i < 6; i++) {
		snprintf(k, sizeof(k), "%zuxx", i);
		cJSON_AddNumberToObject(cls, k, (double)s->cls[i]);
	}
	for (i = 0; i < FAIL_N; i++)
		cJSON_AddNumberToObject(f, fail_names[i], (double)s->fail[i]);
	q = hist_quantile_us(s->latency, HIST_BUCKETS, 0.5);
	cJSON_AddNumberToObject(o, "p50_ms", q < 0 ? 0 : q / 1000);
	q = hist_quantile_us(s->latency, HIST_BUCKETS, 0.99);
	cJSON_AddNumberToObject(o, "p99_ms", q < 0 ? 0 : q / 1000);
}

static void
report(void)
{
	struct totals all;
	double secs = (double)(L.stopped_ms - L.started_ms) / 1000;
	size_t i, j;
	FILE *line = L.json ? stderr : stdout;

	memset(&all, 0, sizeof(all));
	for (i = 0; i < L.ntargets; i++)
		add_target(&all, &L.targets[i]);
	fprintf(line, "ferry-load: %.1f s, %zu target(s): sent %" PRIu64
	    " responses %" PRIu64 " (2xx %" PRIu64 " 3xx %" PRIu64
	    " 4xx %" PRIu64 " 5xx %" PRIu64 ") failed %" PRIu64
	    " (refused %" PRIu64 " reset %" PRIu64 " timeout %" PRIu64
	    " other %" PRIu64 ") retried %" PRIu64 "\n", secs, L.ntargets,
	    all.sent, all.responses, all.cls[2], all.cls[3], all.cls[4],
	    all.cls[5], all.failed, all.fail[FAIL_REFUSED],
	    all.fail[FAIL_RESET], all.fail[FAIL_TIMEOUT], all.fail[FAIL_OTHER],
	    all.retried);
	if (L.json) {
		cJSON *root = cJSON_CreateObject(), *arr;
		char *text;

		cJSON_AddNumberToObject(root, "duration_s", secs);
		json_counts(root, &all);
		arr = cJSON_AddArrayToObject(root, "targets");
		for (i = 0; i < L.ntargets; i++) {
			const struct target *t = &L.targets[i];
			struct totals one;
			cJSON *o = cJSON_CreateObject(), *st, *b;
			char k[8];

			memset(&one, 0, sizeof(one));
			add_target(&one, t);
			cJSON_AddStringToObject(o, "url", t->url);
			json_counts(o, &one);
			st = cJSON_AddObjectToObject(o, "by_status");
			for (j = 100; j < 600; j++) {
				if (t->by_status[j] == 0)
					continue;
				snprintf(k, sizeof(k), "%zu", j);
				cJSON_AddNumberToObject(st, k,
				    (double)t->by_status[j]);
			}
			b = cJSON_AddObjectToObject(o, "bodies");
			for (j = 0; j < t->nbodies; j++)
				cJSON_AddNumberToObject(b,
				    t->bodies[j].value,
				    (double)t->bodies[j].n);
			cJSON_AddNumberToObject(o, "bodies_other",
			    (double)t->bodies_other);
			cJSON_AddItemToArray(arr, o);
		}
		text = cJSON_PrintUnformatted(root);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(root);
	}
}

int
main(int argc, char **argv)
{
	unsigned per = 1;
	int have_interval = 0, i;
	size_t k, n;
	uv_check_t check;
	const char *why;

	memset(&L, 0, sizeof(L));
	L.interval_ms = 100;
	L.duration_s = 10;
	L.timeout_s = 5;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--connections") == 0) {
			per = parse_uint(a, v, 1, MAX_CONNS);
			i++;
		} else if (strcmp(a, "--interval") == 0) {
			L.interval_ms = parse_uint(a, v, 0, MAX_INTERVAL_MS);
			have_interval = 1;
			i++;
		} else if (strcmp(a, "--rate") == 0) {
			L.rate = parse_uint(a, v, 1, MAX_RATE);
			i++;
		} else if (strcmp(a, "--duration") == 0) {
			L.duration_s = parse_uint(a, v, 1, MAX_DURATION_S);
			i++;
		} else if (strcmp(a, "--timeout") == 0) {
			L.timeout_s = parse_uint(a, v, 1, MAX_TIMEOUT_S);
			i++;
		} else if (strcmp(a, "--stop-file") == 0) {
			if (v == NULL || v[0] == '\0')
				usage("missing value for", a);
			L.stop_file = v;
			i++;
		} else if (strcmp(a, "--json") == 0) {
			L.json = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(NULL, NULL);
		} else if (a[0] == '-') {
			usage("unknown option", a);
		} else {
			if (L.ntargets == MAX_TARGETS)
				usage("too many URLs (at most 64)", NULL);
			if (target_parse(&L.targets[L.ntargets], a, &why) < 0) {
				fprintf(stderr, "ferry-load: %s: %s\n", a, why);
				usage(NULL, NULL);
			}
			L.ntargets++;
		}
	}
	if (have_interval && L.rate > 0)
		usage("--interval and --rate exclude each other", NULL);
	if (L.ntargets == 0)
		usage("no URL given", NULL);
	if ((size_t)per * L.ntargets > MAX_CONNS)
		usage("too many connections in all (at most 1000)", NULL);

	L.loop = uv_default_loop();
	http_parser_settings_init(&parser_settings);
	parser_settings.on_body = on_body;
	parser_settings.on_message_complete = on_message_complete;

	L.nconns = (size_t)per * L.ntargets;
	if ((L.conns = calloc(L.nconns, sizeof(*L.conns))) == NULL) {
		fprintf(stderr, "ferry-load: out of memory\n");
		return 1;
	}
	L.started_ms = now_ms();
	for (n = 0, k = 0; k < L.ntargets; k++) {
		unsigned j;

		for (j = 0; j < per; j++, n++) {
			struct conn *c = &L.conns[n];

			c->t = &L.targets[k];
			c->state = C_DOWN;
			c->next_ms = L.started_ms;
			uv_timer_init(L.loop, &c->wait);
			uv_timer_init(L.loop, &c->deadline);
			c->wait.data = c;
			c->deadline.data = c;
			/* Spread the first requests over one interval. */
			uv_timer_start(&c->wait, on_wait, L.rate > 0 ? 0 :
			    (uint64_t)L.interval_ms * j / per, 0);
		}
	}
	uv_timer_init(L.loop, &L.duration_timer);
	uv_timer_start(&L.duration_timer, on_duration,
	    (uint64_t)L.duration_s * 1000, 0);
	uv_timer_init(L.loop, &L.stop_poll);
	if (L.stop_file != NULL)
		uv_timer_start(&L.stop_poll, on_stop_poll, STOP_POLL_MS,
		    STOP_POLL_MS);
	uv_signal_init(L.loop, &L.sigterm);
	uv_signal_start(&L.sigterm, on_signal, SIGTERM);
	uv_signal_init(L.loop, &L.sigint);
	uv_signal_start(&L.sigint, on_signal, SIGINT);
	uv_check_init(L.loop, &check);
	uv_check_start(&check, on_check_stopping);
	uv_unref((uv_handle_t *)&check);

	uv_run(L.loop, UV_RUN_DEFAULT);
	uv_check_stop(&check);
	uv_close((uv_handle_t *)&check, NULL);
	uv_run(L.loop, UV_RUN_DEFAULT);
	report();
	free(L.conns);
	uv_loop_close(L.loop);
	return 0;
}
