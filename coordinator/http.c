/* SPDX-License-Identifier: Apache-2.0 */
/* http.c: ferryd's HTTP port on localhost: /healthz and /metrics, served
 * on the loop with a connection cap and deadlines.
 *
 * NNG's HTTP server (which served this port before) has neither a
 * deadline for a request's headers nor a cap on connections: a client
 * that opened connections and sent half a request held them for as long
 * as it liked.  The port answers two GETs, so it is served here on libuv:
 * every connection is always under a timer (headers, idle keep-alive or
 * the response's write), and at the cap the oldest connection waiting for
 * a request makes room for the new one.
 */
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "metrics.h"

#define REQUEST_MAX	8192		/* request line and headers */
#define REPORT_MS	10000

/* A connection moves WAIT (nothing of a request yet) -> HEAD (part of
 * the headers in) -> WRITE (answering) -> WAIT, or is closed. */
enum hstate { H_WAIT, H_HEAD, H_WRITE, H_CLOSED };

struct hconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct httpd *srv;
	struct hconn *prev, *next;	/* oldest first */
	enum hstate state;
	int keep;			/* keep-alive after this answer */
	int open_handles;		/* freed when both are closed */
	char buf[REQUEST_MAX];
	size_t len;
};

struct httpd {
	uv_tcp_t listener;
	struct ferryd *fd;
	struct hconn *head, *tail;
	unsigned n;
	/* Since the last report. */
	unsigned refused, evicted, timed_out;
	uint64_t last_report_ms;
};

struct hwrite {
	uv_write_t req;
	struct hconn *c;
	char *data;
};

/* A failure of the database file seen within this long makes /healthz
 * answer 503: long enough to span the writes of a quiet ferryd (last-seen
 * times, every few seconds), short enough to clear soon after a repair. */
#define HEALTHZ_FAULT_MS	60000

static void
conn_freed(uv_handle_t *h)
{
	struct hconn *c = h->data;

	if (--c->open_handles == 0)
		free(c);
}

/* conn_close unlinks c and closes its handles; c is freed in their close
 * callbacks. */
static void
conn_close(struct hconn *c)
{
	struct httpd *srv = c->srv;

	if (c->state == H_CLOSED)
		return;
	c->state = H_CLOSED;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		srv->tail = c->prev;
	srv->n--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_freed);
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void
on_timeout(uv_timer_t *t)
{
	struct hconn *c = t->data;

	if (c->state != H_WAIT || c->len > 0)
		c->srv->timed_out++;
	conn_close(c);
}

static void
arm(struct hconn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void
on_written(uv_write_t *req, int status)
{
	struct hwrite *w = req->data;
	struct hconn *c = w->c;
	struct ferryd *fd = c->srv->fd;

	free(w->data);
	free(w);
	if (c->state == H_CLOSED)
		return;
	if (status != 0 || !c->keep) {
		conn_close(c);
		return;
	}
	/* Kept alive: the next request has the idle time to begin. */
	c->state = H_WAIT;
	c->len = 0;
	arm(c, fd->conf.http_idle_timeout_ms);
	uv_read_start((uv_stream_t *)&c->tcp, NULL, NULL);
}

/* answer sends status and body (body_len bytes; none for HEAD); takes
 * body when owned. */
static void
answer(struct hconn *c, const char *status, const char *type,
    const char *body, size_t body_len, int head_only, const char *extra)
{
	struct hwrite *w = calloc(1, sizeof(*w));
	uv_buf_t b;
	int n;

	uv_read_stop((uv_stream_t *)&c->tcp);
	c->state = H_WRITE;
	arm(c, c->srv->fd->conf.http_header_timeout_ms);
	if (w == NULL || (w->data = malloc(256 + body_len)) == NULL) {
		free(w);
		conn_close(c);
		return;
	}
	n = snprintf(w->data, 256, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n", status, type,
	    body_len, extra, c->keep ? "keep-alive" : "close");
	if (n < 0 || n >= 256) {
		free(w->data);
		free(w);
		conn_close(c);
		return;
	}
	if (!head_only && body_len > 0)
		memcpy(w->data + n, body, body_len);
	w->c = c;
	w->req.data = w;
	b = uv_buf_init(w->data, (unsigned)n + (head_only ? 0 :
	    (unsigned)body_len));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1,
	    on_written) != 0) {
		free(w->data);
		free(w);
		conn_close(c);
	}
}

static void
answer_text(struct hconn *c, const char *status, const char *text)
{
	c->keep = 0;
	answer(c, status, "text/plain", text, strlen(text), 0, "");
}

/* header returns the value of the header called name in the headers
 * (after the request line), NULL when absent. */
static const char *
header(const char *hdrs, const char *name)
{
	size_t nl = strlen(name);
	const char *p = hdrs;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/* json_text writes s as the inside of a JSON string: quote, backslash and
 * control characters escaped. */
static const char *
json_text(char *b, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			b[o++] = '\\';
			b[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(b + o, len - o, "\\u%04x", ch);
		} else {
			b[o++] = (char)ch;
		}
	}
	b[o] = '\0';
	return b;
}

/*
 * healthz answers whether ferryd can do its work: the loop answers (else
 * nothing would), a cheap read of the database succeeds and no write to
 * its file failed in the last HEALTHZ_FAULT_MS (a read-only or full file
 * system fails writes only); and how many accepted hosts are online.  200
 * with {"status": "ok", "database": "ok", "hosts_online": 3, "hosts": 4},
 * or 503 with "status": "failing" and "database" saying what failed, in
 * which file and how long ago.  A failure is logged, at most once per
 * HEALTHZ_FAULT_MS, as its cause changes nothing.
 */
static void
healthz(struct hconn *c, int head_only)
{
	static uint64_t logged_ms;
	struct ferryd *fd = c->srv->fd;
	char body[1536], why[1024], path[PATH_MAX], esc[1100];
	uint64_t at = 0, now = clock_mono_ms();
	unsigned online = 0, accepted = 0;
	size_t i;
	int err, n;

	for (i = 0; i < fd->nhosts; i++) {
		if (fd->hosts[i]->rec.state != HOST_ACCEPTED)
			continue;
		accepted++;
		online += fd->hosts[i]->online != 0;
	}
	why[0] = '\0';
	if ((err = store_check(fd->store)) != 0) {
		snprintf(why, sizeof(why), "a read of the database fails: %s",
		    ferr_str(err));
	} else if ((err = store_fault_last(path, sizeof(path), &at)) != 0 &&
	    now - at < HEALTHZ_FAULT_MS) {
		snprintf(why, sizeof(why), "%.900s: %s, %llus ago", path,
		    ferr_str(err), (unsigned long long)((now - at) / 1000));
	}
	if (why[0] != '\0' && (logged_ms == 0 ||
	    now - logged_ms >= HEALTHZ_FAULT_MS)) {
		logged_ms = now;
		log_warnx("ferryd: /healthz answers 503: database: %s", why);
	}
	n = snprintf(body, sizeof(body), "{\"status\": \"%s\", \"database\": "
	    "\"%s\", \"hosts_online\": %u, \"hosts\": %u}\n",
	    why[0] ? "failing" : "ok", why[0] ? json_text(esc, sizeof(esc),
	    why) : "ok", online, accepted);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = snprintf(body, sizeof(body), "{\"status\": \"failing\", "
		    "\"database\": \"failing\", \"hosts_online\": %u, "
		    "\"hosts\": %u}\n", online, accepted);
	answer(c, why[0] ? "503 Service Unavailable" : "200 OK",
	    "application/json", body, (size_t)n, head_only, "");
}

/* request answers the complete headers in c->buf. */
static void
request(struct hconn *c)
{
	char method[8], path[256], version[16];
	const char *v;
	int head_only;

	if (sscanf(c->buf, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		answer_text(c, "400 Bad Request", "bad request\n");
		return;
	}
	/* HTTP/1.1 keeps the connection unless asked not to. */
	v = header(c->buf, "Connection");
	c->keep = strcmp(version, "HTTP/1.1") == 0 &&
	    (v == NULL || strncasecmp(v, "close", 5) != 0);
	v = header(c->buf, "Content-Length");
	if (header(c->buf, "Transfer-Encoding") != NULL ||
	    (v != NULL && strtoul(v, NULL, 10) != 0)) {
		answer_text(c, "400 Bad Request", "no request body here\n");
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		c->keep = 0;
		answer(c, "405 Method Not Allowed", "text/plain",
		    "GET or HEAD\n", 12, 0, "Allow: GET, HEAD\r\n");
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		healthz(c, head_only);
	} else if (strcmp(path, "/metrics") == 0) {
		size_t len;
		char *text = metrics_render(c->srv->fd->traffic, &len);

		if (text == NULL) {
			answer_text(c, "500 Internal Server Error",
			    "out of memory\n");
			return;
		}
		answer(c, "200 OK", "text/plain; version=0.0.4", text, len,
		    head_only, "");
		free(text);
	} else {
		answer(c, "404 Not Found", "text/plain", "not found\n", 10,
		    head_only, "");
	}
}

static void
on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
	struct hconn *c = h->data;

	(void)want;	/* the rest of the request's buffer */
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 -
	    c->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hconn *c = s->data;

	(void)b;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0 || c->state == H_WRITE)
		return;
	if (c->state == H_WAIT) {
		/* A request begins: its headers have their time from now. */
		c->state = H_HEAD;
		arm(c, c->srv->fd->conf.http_header_timeout_ms);
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (memchr(c->buf, '\0', c->len) != NULL) {
		answer_text(c, "400 Bad Request", "bad request\n");
		return;
	}
	if (strstr(c->buf, "\r\n\r\n") != NULL) {
		request(c);
		return;
	}
	if (c->len >= sizeof(c->buf) - 1)
		answer_text(c, "431 Request Header Fields Too Large",
		    "request headers too large\n");
}

/* make_room closes the oldest connection waiting for a request, if any:
 * 1 when it did. */
static int
make_room(struct httpd *srv)
{
	struct hconn *c;

	for (c = srv->head; c != NULL; c = c->next)
		if (c->state == H_WAIT || c->state == H_HEAD) {
			conn_close(c);
			return 1;
		}
	return 0;
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct httpd *srv = l->data;
	struct ferryd *fd = srv->fd;
	struct hconn *c;

	if (status != 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->srv = srv;
	uv_tcp_init(fd->loop, &c->tcp);
	uv_timer_init(fd->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->timer, conn_freed);
		uv_close((uv_handle_t *)&c->tcp, conn_freed);
		return;
	}
	if (srv->n >= fd->conf.http_connections) {
		if (make_room(srv)) {
			srv->evicted++;
		} else {
			srv->refused++;
			uv_close((uv_handle_t *)&c->timer, conn_freed);
			uv_close((uv_handle_t *)&c->tcp, conn_freed);
			return;
		}
	}
	c->prev = srv->tail;
	if (srv->tail != NULL)
		srv->tail->next = c;
	else
		srv->head = c;
	srv->tail = c;
	srv->n++;
	c->state = H_WAIT;
	/* A connection that sends nothing has the headers' time. */
	arm(c, fd->conf.http_header_timeout_ms);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* parse_addr resolves "HOST:PORT" or "[HOST]:PORT" (numeric or a name,
 * at start only). */
static int
parse_addr(const char *text, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon, *port;
	struct addrinfo hints, *ai = NULL;
	size_t n;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || end[1] != ':')
			return FERR_ARG;
		n = (size_t)(end - text - 1);
		colon = end + 1;
		text++;
	} else {
		if ((colon = strrchr(text, ':')) == NULL)
			return FERR_ARG;
		n = (size_t)(colon - text);
	}
	if (n == 0 || n >= sizeof(host))
		return FERR_ARG;
	memcpy(host, text, n);
	host[n] = '\0';
	port = colon + 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return FERR_ARG;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static void
listener_freed(uv_handle_t *h)
{
	free(h->data);
}

int
http_start(struct ferryd *fd)
{
	struct sockaddr_storage ss;
	struct httpd *srv;
	int rv;

	if (fd->conf.http[0] == '\0' || strcmp(fd->conf.http, "off") == 0)
		return 0;
	if (parse_addr(fd->conf.http, &ss) != 0) {
		log_warnx("http %s: expected HOST:PORT", fd->conf.http);
		return FERR_ARG;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return FERR_NOMEM;
	srv->fd = fd;
	srv->last_report_ms = clock_mono_ms();
	uv_tcp_init(fd->loop, &srv->listener);
	srv->listener.data = srv;
	if ((rv = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0)) !=
	    0 || (rv = uv_listen((uv_stream_t *)&srv->listener, 128,
	    on_connection)) != 0) {
		log_warnx("http %s: %s", fd->conf.http, uv_strerror(rv));
		uv_close((uv_handle_t *)&srv->listener, listener_freed);
		return rv == UV_EADDRINUSE ? FERR_EXISTS : FERR_ARG;
	}
	fd->http = srv;
	return 0;
}

void
http_sweep(struct ferryd *fd, uint64_t now_ms)
{
	struct httpd *srv = fd->http;

	if (srv == NULL || now_ms - srv->last_report_ms < REPORT_MS)
		return;
	if (srv->refused + srv->evicted + srv->timed_out > 0)
		log_warnx("http %s: in the last %u s, %u connection(s) "
		    "refused at the cap of %u, %u closed to make room, %u "
		    "closed for a request not sent in time", fd->conf.http,
		    REPORT_MS / 1000, srv->refused, fd->conf.http_connections,
		    srv->evicted, srv->timed_out);
	srv->refused = srv->evicted = srv->timed_out = 0;
	srv->last_report_ms = now_ms;
}

void
http_stop(struct ferryd *fd)
{
	struct httpd *srv = fd->http;

	if (srv == NULL)
		return;
	while (srv->head != NULL)
		conn_close(srv->head);
	uv_close((uv_handle_t *)&srv->listener, listener_freed);
	fd->http = NULL;
}
