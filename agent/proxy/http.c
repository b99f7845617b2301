/* SPDX-License-Identifier: Apache-2.0 */
/* http.c: HTTP mode: client connections (keep-alive, pipelined requests
 * answered in order), requests streamed to a target over a pooled
 * upstream connection, responses streamed back, Upgrade turned into a raw
 * tunnel.  Heads are parsed by http-parser; the proxy only checks the raw
 * head for what http-parser lets through (bare LF, obsolete folding). */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "log.h"
#include "proxy.h"

/* Exported by libhttp-parser 2.9 but not declared in its header. */
int http_message_needs_eof(const http_parser *parser);

#define MAX_HEADERS 128

enum cstate {
	C_IDLE,		/* waiting for a request's first byte */
	C_HEAD,		/* reading a request head */
	C_HELD,		/* head read, waiting in the route's hold queue */
	C_BODY,		/* request going upstream (body streaming) */
	C_WAIT,		/* request sent, response in progress */
	C_TUNNEL,	/* upgraded: raw bytes both ways */
	C_CLOSING,
};

enum ustate {
	U_CONNECTING,
	U_HEAD,		/* waiting for / reading a response head */
	U_BODY,
	U_TUNNEL,
	U_IDLE,		/* in its target's pool */
	U_CLOSING,
};

struct hconn;

struct upconn {
	uv_tcp_t s;
	uv_timer_t tm;
	uv_connect_t cr;
	http_parser p;
	struct link l;			/* in target->idle */
	struct target *t;
	struct hconn *h;
	char *head;
	size_t headlen;
	char *out;			/* a response head not written yet: it
					 * goes with the first body bytes */
	size_t outlen;
	int state;
	int closes;			/* handles still to close */
	int reused;
	int got_bytes;
	int done;			/* response complete */
	int reading;
	uint64_t due;			/* the timer's real deadline (loop ms):
					 * it may fire earlier and re-arm */
};

struct hconn {
	uv_tcp_t c;
	struct link all;		/* every client connection */
	uv_timer_t tm;
	http_parser p;
	struct held hold;
	struct tunnel tun;
	struct route *r;
	struct upconn *up;
	struct target *t;
	char *head;			/* request head being read */
	size_t headlen;
	char *pend;			/* bytes read past the current request */
	size_t pendlen;
	uint64_t t0_us;			/* head read */
	uint64_t body_seen;
	uint64_t sticky_rev;
	int state;
	int closes;
	int keepalive;
	int req_done;
	int resp_head_sent;
	int upgrade;
	int has_sticky;
	int head_method;
	int reading;
	int close_after;
	int http10;
	uint64_t due;			/* tm's real deadline (loop ms), 0:
					 * none (the timer may still run) */
	char peer[48];
};

/* Parsing context while one head is parsed (synchronously). */
struct hdr {
	const char *n, *v;
	size_t nl, vl;
};

struct parse {
	const char *url;
	size_t urll;
	struct hdr h[MAX_HEADERS];
	size_t nh;
	int too_many;
	int headers_done;
};

/* One head is parsed at a time (synchronously, on the loop's thread):
 * one context for requests and one for responses, reused. */
static struct parse req_parse, resp_parse;

static struct parse *
parse_begin(struct parse *x)
{
	x->url = NULL;
	x->urll = 0;
	x->nh = 0;
	x->too_many = 0;
	x->headers_done = 0;
	return x;
}

struct wreq {
	uv_write_t w;
	char *base;
	int pooled;
};

static struct link hconns = { &hconns, &hconns };

static void hconn_close(struct hconn *h);
static void on_hconn_timer(uv_timer_t *tm);
static void up_close(struct upconn *u);
static void client_feed(struct hconn *h, const char *d, size_t n);
static void hconn_request_done_maybe(struct hconn *h);
static void up_start_request(struct hconn *h, struct target *t);
static void on_up_timer(uv_timer_t *tm);
static void on_held(struct held *hd, struct target *t);
static void tunnel_kill(struct tunnel *tn);
static void up_send(struct hconn *h, int pool);
static int up_retry(struct hconn *h);
static void up_arm(struct upconn *u);
static void up_timer(struct upconn *u, uint64_t ms);
static const http_parser_settings body_settings;
static const http_parser_settings resp_body_settings;

/* now_us: a monotonic clock in microseconds, for latencies (the
 * histogram's first bucket is 50 us). */
static uint64_t
now_us(void)
{
	return uv_hrtime() / 1000;
}

/* ---- writing ------------------------------------------------------------ */

static void
on_client_written(uv_write_t *w, int status);
static void
on_up_written(uv_write_t *w, int status);

/* The read buffer whose bytes are being handled now (in a read
 * callback), or NULL. */
static char *rbuf;

/* put writes len bytes at base to s; the buffer is owned by the write
 * (pooled: a read buffer; else malloc'd; NULL: copy). */
static int
put(uv_stream_t *s, char *base, const char *data, size_t len, int pooled,
    uv_write_cb cb)
{
	struct wreq *q = malloc(sizeof(*q));
	uv_buf_t b;

	if (q == NULL) {
		if (base != NULL && !pooled)
			free(base);
		return -1;
	}
	if (base == NULL && rbuf != NULL && data >= rbuf &&
	    data + len <= rbuf + PROXY_BUF) {
		/* A slice of the buffer being read: referenced, not
		 * copied. */
		buf_ref(rbuf);
		base = rbuf;
		pooled = 1;
	}
	if (base == NULL) {
		if ((base = malloc(len + 1)) == NULL) {
			free(q);
			return -1;
		}
		memcpy(base, data, len);
		data = base;
		pooled = 0;
	}
	q->base = base;
	q->pooled = pooled;
	q->w.data = s->data;
	b = uv_buf_init((char *)data, (unsigned)len);
	if (uv_write(&q->w, s, &b, 1, cb) != 0) {
		if (pooled)
			buf_free(base);
		else
			free(base);
		free(q);
		return -1;
	}
	return 0;
}

static void
wreq_free(uv_write_t *w)
{
	struct wreq *q = (struct wreq *)w;

	if (q->pooled)
		buf_free(q->base);
	else
		free(q->base);
	free(q);
}

/* put_bufs writes the nb buffers at b to s, in that order, as one send
 * when it can: with nothing queued on s it tries the socket at once
 * (uv_try_write: no request, no copy, no callback, and no epoll_ctl when
 * libuv would have drained the queue), and queues only what the socket
 * did not take, copied (or, a slice of the read buffer, referenced).
 * The caller keeps ownership of the buffers.  A send that completes here
 * has no callback: the callers check write_queue_size themselves, and
 * only a queue over PROXY_WBUF_MAX (never an empty one) stops reading. */
static int
put_bufs(uv_stream_t *s, const uv_buf_t *b, unsigned nb, uv_write_cb cb)
{
	size_t total = 0, skip = 0, len, off, i;
	char *base;
	int n;

	for (i = 0; i < nb; i++)
		total += b[i].len;
	if (total == 0)
		return 0;
	if (s->write_queue_size == 0) {
		/* UV_EAGAIN while connecting or when the socket is full;
		 * other errors go the queued way and end in the write
		 * callback's status, as before. */
		n = uv_try_write(s, b, nb);
		if (n > 0)
			skip = (size_t)n;
	}
	if (skip == total)
		return 0;
	len = total - skip;
	for (i = 0; i < nb && skip >= b[i].len; i++)
		skip -= b[i].len;
	if (len == b[i].len - skip)	/* what is left is in one buffer */
		return put(s, NULL, b[i].base + skip, len, 0, cb);
	if ((base = malloc(len + 1)) == NULL)
		return -1;
	off = b[i].len - skip;
	memcpy(base, b[i].base + skip, off);
	for (i++; i < nb; i++) {
		memcpy(base + off, b[i].base, b[i].len);
		off += b[i].len;
	}
	return put(s, base, base, len, 0, cb);
}

static int
to_client(struct hconn *h, const char *d, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

	return put_bufs((uv_stream_t *)&h->c, &b, 1, on_client_written);
}

static int
to_up(struct upconn *u, const char *d, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

	return put_bufs((uv_stream_t *)&u->s, &b, 1, on_up_written);
}

/* ---- reading and backpressure ------------------------------------------ */

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void
client_read(struct hconn *h, int on)
{
	if (h->state == C_CLOSING || on == h->reading)
		return;
	h->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&h->c, buf_alloc_cb,
		    on_client_read);
	else
		uv_read_stop((uv_stream_t *)&h->c);
}

static void
up_read(struct upconn *u, int on)
{
	if (u->state == U_CLOSING || u->state == U_CONNECTING ||
	    on == u->reading)
		return;
	u->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&u->s, buf_alloc_cb, on_up_read);
	else
		uv_read_stop((uv_stream_t *)&u->s);
}

static void
on_client_written(uv_write_t *w, int status)
{
	struct hconn *h = w->data;

	wreq_free(w);
	if (status != 0 || h->state == C_CLOSING)
		return;
	if (h->c.write_queue_size <= PROXY_WBUF_MAX / 2 && h->up != NULL &&
	    (h->up->state == U_BODY || h->up->state == U_TUNNEL ||
	    h->up->state == U_HEAD))
		up_read(h->up, 1);
	if (h->c.write_queue_size == 0 && h->close_after &&
	    h->up == NULL)
		hconn_close(h);
}

static void
on_up_written(uv_write_t *w, int status)
{
	struct upconn *u = w->data;

	wreq_free(w);
	if (status != 0 || u->state == U_CLOSING || u->h == NULL)
		return;
	if (u->s.write_queue_size <= PROXY_WBUF_MAX / 2 &&
	    (u->h->state == C_BODY || u->h->state == C_TUNNEL))
		client_read(u->h, 1);
}

/* ---- canned answers ----------------------------------------------------- */

static const char *
reason(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "Error";
}

/* answer sends a short response of the proxy's own and closes the client
 * once it is written. */
static void
answer(struct hconn *h, int code, int retry_after)
{
	char b[400];
	const char *body = reason(code);
	int n;

	n = snprintf(b, sizeof(b), "HTTP/1.1 %d %s\r\nContent-Type: "
	    "text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n%s"
	    "\r\n%s\n", code, reason(code), strlen(body) + 1,
	    retry_after ? "Retry-After: 1\r\n" : "", body);
	if (h->state == C_CLOSING)
		return;
	client_read(h, 0);
	uv_timer_stop(&h->tm);
	if (h->resp_head_sent || to_client(h, b, (size_t)n) != 0) {
		hconn_close(h);
		return;
	}
	h->resp_head_sent = 1;
	h->close_after = 1;
	h->state = C_WAIT;
	if (h->up == NULL && h->c.write_queue_size == 0)
		hconn_close(h);
}

/* ---- client connections ------------------------------------------------- */

static void
on_hconn_closed(uv_handle_t *hd)
{
	struct hconn *h = hd->data;

	if (--h->closes > 0)
		return;
	P->nconns--;
	route_unref(h->r);
	free(h);
	proxy_maybe_exit();
}

/* end_request finishes the counting of the request in flight, if any. */
static void
end_request(struct hconn *h)
{
	link_del(&h->tun.l);
	if (h->t == NULL)
		return;
	target_done(h->t);
	h->t = NULL;
}

static void
hconn_close(struct hconn *h)
{
	if (h->state == C_CLOSING)
		return;
	if (h->state == C_HELD)
		route_unhold(h->r, &h->hold);
	link_del(&h->tun.l);
	h->state = C_CLOSING;
	link_del(&h->all);
	if (h->up != NULL) {
		h->up->h = NULL;
		up_close(h->up);
		h->up = NULL;
	}
	end_request(h);
	free(h->head);
	free(h->pend);
	h->head = h->pend = NULL;
	h->closes = 2;
	uv_close((uv_handle_t *)&h->c, on_hconn_closed);
	uv_close((uv_handle_t *)&h->tm, on_hconn_closed);
}

/* client_abort: the client left with a request in flight. */
static void
client_abort(struct hconn *h)
{
	if (h->state == C_HELD || h->state == C_BODY ||
	    (h->state == C_WAIT && !h->close_after)) {
		h->r->st->client_aborted++;
		log_debug("%s: client %s left mid-request", h->r->service,
		    h->peer);
	}
	hconn_close(h);
}

/* hconn_timer: h's timer ends ms from now, lazily as up_timer: in the
 * steady state of a kept-alive connection no request stops or starts it
 * (request_head only clears the deadline). */
static void
hconn_timer(struct hconn *h, uint64_t ms)
{
	uint64_t now = uv_now(P->loop);

	h->due = now + ms;
	if (uv_is_active((uv_handle_t *)&h->tm) &&
	    now + uv_timer_get_due_in(&h->tm) <= h->due)
		return;
	uv_timer_start(&h->tm, on_hconn_timer, ms, 0);
}

static void
on_hconn_timer(uv_timer_t *tm)
{
	struct hconn *h = tm->data;
	uint64_t now = uv_now(P->loop);

	if (h->due == 0)
		return;		/* disarmed while it ran */
	if (h->due > now) {
		uv_timer_start(&h->tm, on_hconn_timer, h->due - now, 0);
		return;
	}
	h->due = 0;
	if (h->state == C_HEAD || (h->state == C_IDLE && h->head == NULL &&
	    h->t0_us == 0)) {
		h->r->st->header_timeout++;
		log_info("%s: client %s: 408: head not complete within "
		    "header_timeout", h->r->service, h->peer);
		answer(h, 408, 0);
		return;
	}
	if (h->state == C_IDLE)
		hconn_close(h);
}

static void
hconn_wait_request(struct hconn *h, int fresh)
{
	h->state = C_IDLE;
	h->req_done = 0;
	h->resp_head_sent = 0;
	h->upgrade = 0;
	h->body_seen = 0;
	h->has_sticky = 0;
	if (!fresh)
		h->t0_us = 1;	/* not the connection's first request */
	hconn_timer(h, fresh ? P->conf.header_timeout_ms :
	    P->conf.idle_timeout_ms);
	client_read(h, 1);
}

void
http_accept(struct route *r, uv_stream_t *server)
{
	struct hconn *h = calloc(1, sizeof(*h));
	struct sockaddr_storage sa;
	int len = sizeof(sa);

	if (h == NULL)
		return;
	uv_tcp_init(P->loop, &h->c);
	if (uv_accept(server, (uv_stream_t *)&h->c) != 0) {
		uv_close((uv_handle_t *)&h->c, (uv_close_cb)free);
		return;
	}
	if (P->nconns >= P->conf.connections_max || P->leaving) {
		if (!P->leaving)
			conn_refused_log(r);
		uv_close((uv_handle_t *)&h->c, (uv_close_cb)free);
		return;
	}
	P->nconns++;
	h->c.data = h;
	link_add(&hconns, &h->all);
	uv_timer_init(P->loop, &h->tm);
	h->tm.data = h;
	h->r = r;
	route_ref(r);
	h->hold.go = on_held;
	uv_tcp_nodelay(&h->c, 1);
	if (uv_tcp_getpeername(&h->c, (struct sockaddr *)&sa, &len) == 0) {
		if (sa.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->
			    sin_addr, h->peer, sizeof(h->peer));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->
			    sin6_addr, h->peer, sizeof(h->peer));
	}
	hconn_wait_request(h, 1);
}

/* ---- request heads ------------------------------------------------------ */

static int
p_url(http_parser *p, const char *at, size_t n)
{
	struct parse *x = p->data;

	x->url = at;
	x->urll = n;
	return 0;
}

static int
p_field(http_parser *p, const char *at, size_t n)
{
	struct parse *x = p->data;

	if (x->nh >= MAX_HEADERS) {
		x->too_many = 1;
		return 1;
	}
	x->h[x->nh].n = at;
	x->h[x->nh].nl = n;
	x->h[x->nh].v = "";
	x->h[x->nh].vl = 0;
	x->nh++;
	return 0;
}

static int
p_value(http_parser *p, const char *at, size_t n)
{
	struct parse *x = p->data;

	if (x->nh > 0) {
		x->h[x->nh - 1].v = at;
		x->h[x->nh - 1].vl = n;
	}
	return 0;
}

static int
p_headers_done(http_parser *p)
{
	struct parse *x = p->data;

	x->headers_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
p_resp_headers_done(http_parser *p)
{
	struct parse *x = p->data;
	struct upconn *u = (struct upconn *)((char *)p -
	    offsetof(struct upconn, p));

	x->headers_done = 1;
	http_parser_pause(p, 1);
	/* A response to HEAD has no body, whatever it says. */
	return u->h != NULL && u->h->head_method && p->status_code >= 200;
}

static const http_parser_settings head_settings = {
	.on_url = p_url,
	.on_header_field = p_field,
	.on_header_value = p_value,
	.on_headers_complete = p_headers_done,
};

static const http_parser_settings resp_head_settings = {
	.on_header_field = p_field,
	.on_header_value = p_value,
	.on_headers_complete = p_resp_headers_done,
};

static int
hname(const struct hdr *h, const char *name)
{
	return h->nl == strlen(name) && strncasecmp(h->n, name, h->nl) == 0;
}

/* token_ok: a header name is an RFC 9110 token. */
static int
token_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && (s[i] == '\0' ||
		    strchr("!#$%&'*+-.^_`|~", s[i]) == NULL))
			return 0;
	return 1;
}

/* head_end returns the length of the head in b (up to and including the
 * blank line), or 0 when it is not complete. */
static size_t
head_end(const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] != '\n')
			continue;
		if (i + 1 < n && b[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* head_shape_ok: every line ends in CRLF and none is folded. */
static int
head_shape_ok(const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			return 0;
		if (b[i] == '\n' && i + 1 < n && (b[i + 1] == ' ' ||
		    b[i + 1] == '\t'))
			return 0;
		if (b[i] == '\r' && (i + 1 >= n || b[i + 1] != '\n'))
			return 0;
	}
	return 1;
}

static void
refuse(struct hconn *h, int code, const char *why)
{
	struct svcstat *s = h->r->st;

	switch (code) {
	case 400: s->bad_request++; break;
	case 413: s->body_too_large++; break;
	case 431: s->header_too_large++; break;
	}
	log_info("%s: client %s: %d: %s", h->r->service, h->peer, code, why);
	answer(h, code, 0);
}

/* sticky_cookie finds ferry_rev_<service>=N in the request's cookies. */
static int
sticky_cookie(struct hconn *h, const struct parse *x, uint64_t *rev)
{
	char key[96];
	size_t i, kl;

	kl = (size_t)snprintf(key, sizeof(key), "ferry_rev_%s=",
	    h->r->service);
	for (i = 0; i < x->nh; i++) {
		const char *v = x->h[i].v, *e = v + x->h[i].vl;

		if (!hname(&x->h[i], "cookie"))
			continue;
		while (v < e) {
			while (v < e && (*v == ' ' || *v == ';'))
				v++;
			if ((size_t)(e - v) > kl && memcmp(v, key, kl) == 0) {
				uint64_t n = 0;
				int any = 0;

				for (v += kl; v < e && isdigit((unsigned char)*v);
				    v++, any = 1)
					n = n * 10 + (uint64_t)(*v - '0');
				if (any) {
					*rev = n;
					return 1;
				}
			}
			while (v < e && *v != ';')
				v++;
		}
	}
	return 0;
}

/* build_request writes the head that goes upstream: hop-by-hop headers
 * dropped, X-Forwarded-For appended, X-Forwarded-Proto set. */
static char *
build_request(struct hconn *h, const struct parse *x, size_t *len)
{
	size_t cap = h->headlen + 256, n = 0, i;
	char *b = malloc(cap);
	const char *xff = NULL;
	size_t xffl = 0;

	if (b == NULL)
		return NULL;
#define ADD(p, l) do { if (n + (l) + 1 > cap) { char *nb; cap = (cap + (l)) * 2; \
	if ((nb = realloc(b, cap)) == NULL) { free(b); return NULL; } b = nb; } \
	memcpy(b + n, (p), (l)); n += (l); } while (0)
#define ADDS(s) ADD((s), strlen(s))
	ADDS(http_method_str((enum http_method)h->p.method));
	ADDS(" ");
	ADD(x->url, x->urll);
	ADDS(h->http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	for (i = 0; i < x->nh; i++) {
		const struct hdr *e = &x->h[i];

		if (hname(e, "connection") || hname(e, "keep-alive") ||
		    hname(e, "proxy-connection") || hname(e, "te") ||
		    hname(e, "x-forwarded-proto") ||
		    (hname(e, "upgrade") && !h->upgrade))
			continue;
		if (hname(e, "x-forwarded-for")) {
			xff = e->v;
			xffl = e->vl;
			continue;
		}
		ADD(e->n, e->nl);
		ADDS(": ");
		ADD(e->v, e->vl);
		ADDS("\r\n");
	}
	ADDS("X-Forwarded-For: ");
	if (xff != NULL && xffl > 0) {
		ADD(xff, xffl);
		ADDS(", ");
	}
	ADDS(h->peer);
	ADDS("\r\nX-Forwarded-Proto: http\r\n");
	if (h->upgrade)
		ADDS("Connection: Upgrade\r\n");
	ADDS("\r\n");
#undef ADD
#undef ADDS
	*len = n;
	return b;
}

/* request_head handles one complete request head (h->head, h->headlen);
 * rest holds what came after it. */
static void
request_head(struct hconn *h)
{
	struct parse *x = parse_begin(&req_parse);
	size_t used, i, ncl = 0, nte = 0;
	struct target *t;
	uint64_t max = h->r->spec->max_body;

	h->due = 0;		/* the timer, if it runs, does nothing */
	h->t0_us = now_us();
	if (!head_shape_ok(h->head, h->headlen)) {
		refuse(h, 400, "bare LF, stray CR or obsolete line folding "
		    "in the head");
		goto out;
	}
	http_parser_init(&h->p, HTTP_REQUEST);
	h->p.data = x;
	used = http_parser_execute(&h->p, &head_settings, h->head,
	    h->headlen);
	if (x->too_many) {
		refuse(h, 431, "more than 128 header fields");
		goto out;
	}
	if (HTTP_PARSER_ERRNO(&h->p) != HPE_PAUSED || !x->headers_done) {
		char why[160];

		snprintf(why, sizeof(why), "malformed head: %s",
		    http_errno_description(HTTP_PARSER_ERRNO(&h->p)));
		refuse(h, 400, why);
		goto out;
	}
	for (i = 0; i < x->nh; i++) {
		if (!token_ok(x->h[i].n, x->h[i].nl)) {
			refuse(h, 400, "a header name that is not a token "
			    "(space before the colon?)");
			goto out;
		}
		if (hname(&x->h[i], "content-length"))
			ncl++;
		if (hname(&x->h[i], "transfer-encoding"))
			nte++;
	}
	if (ncl > 1) {
		refuse(h, 400, "more than one Content-Length");
		goto out;
	}
	if (ncl > 0 && nte > 0) {
		refuse(h, 400, "Content-Length with Transfer-Encoding");
		goto out;
	}
	if (nte > 0 && !(h->p.flags & F_CHUNKED)) {
		refuse(h, 400, "Transfer-Encoding whose final coding is not "
		    "chunked");
		goto out;
	}
	if (h->p.http_major != 1) {
		refuse(h, 400, "not HTTP/1.0 or HTTP/1.1");
		goto out;
	}
	if (nte > 0 && h->p.http_minor == 0) {
		refuse(h, 400, "Transfer-Encoding in an HTTP/1.0 request");
		goto out;
	}
	if (h->p.method == HTTP_CONNECT) {
		refuse(h, 400, "CONNECT (not a forward proxy)");
		goto out;
	}
	if (max > 0 && (h->p.flags & F_CONTENTLENGTH) &&
	    h->p.content_length > max) {
		refuse(h, 413, "Content-Length over max_body");
		goto out;
	}
	h->http10 = h->p.http_major == 1 && h->p.http_minor == 0;
	h->keepalive = http_should_keep_alive(&h->p);
	h->upgrade = h->p.upgrade;
	h->head_method = h->p.method == HTTP_HEAD;
	h->has_sticky = h->r->spec->sticky &&
	    sticky_cookie(h, x, &h->sticky_rev);
	{
		size_t ol;
		char *out = build_request(h, x, &ol);

		if (out == NULL) {
			hconn_close(h);
			goto out;
		}
		/* What the parser has not taken of the head (its last LF)
		 * goes through it now: a request without a body ends here. */
		http_parser_pause(&h->p, 0);
		h->p.data = h;
		http_parser_execute(&h->p, &body_settings, h->head + used,
		    h->headlen - used);
		if (h->req_done)
			http_parser_pause(&h->p, 0);
		free(h->head);
		h->head = out;
		h->headlen = ol;
	}
	if (h->r->removed || P->leaving || P->drained)
		h->keepalive = 0;
	t = route_pick(h->r, h->sticky_rev, h->has_sticky);
	if (t != NULL) {
		up_start_request(h, t);
		goto out;
	}
	if (route_hold(h->r, &h->hold) == 0) {
		h->state = C_HELD;
		client_read(h, 0);
		goto out;
	}
	if (h->r->spec->hold) {
		h->r->st->held_expired++;
		log_info("%s: client %s: 503: hold queue full", h->r->service,
		    h->peer);
		answer(h, 503, 1);
		goto out;
	}
	h->r->st->no_target++;
	log_info("%s: client %s: 503: no target", h->r->service, h->peer);
	answer(h, 503, 0);
out:
	return;
}

static void
on_held(struct held *hd, struct target *t)
{
	struct hconn *h = (struct hconn *)((char *)hd -
	    offsetof(struct hconn, hold));

	if (t == NULL) {
		log_info("%s: client %s: 503: held past max_pause or the "
		    "route went", h->r->service, h->peer);
		answer(h, 503, 1);
		return;
	}
	up_start_request(h, t);
}

/* ---- request bodies ----------------------------------------------------- */

static int
b_body(http_parser *p, const char *at, size_t n)
{
	struct hconn *h = p->data;

	(void)at;
	h->body_seen += n;
	if (h->r->spec->max_body > 0 && h->body_seen > h->r->spec->max_body)
		return 1;
	return 0;
}

static int
b_done(http_parser *p)
{
	struct hconn *h = p->data;

	h->req_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings body_settings = {
	.on_body = b_body,
	.on_message_complete = b_done,
};

/* pend_add keeps bytes read past the current request. */
static int
pend_add(struct hconn *h, const char *d, size_t n)
{
	char *nb;

	if (n == 0)
		return 0;
	if ((nb = realloc(h->pend, h->pendlen + n)) == NULL)
		return -1;
	memcpy(nb + h->pendlen, d, n);
	h->pend = nb;
	h->pendlen += n;
	return 0;
}

/* body_feed passes request body bytes through the parser (to find the
 * request's end and check chunk sizes) and on upstream. */
static void
body_feed(struct hconn *h, const char *d, size_t n)
{
	size_t used;

	if (h->req_done) {
		if (pend_add(h, d, n) != 0)
			hconn_close(h);
		else if (h->pendlen > P->conf.header_max)
			client_read(h, 0);
		return;
	}
	h->p.data = h;
	used = http_parser_execute(&h->p, &body_settings, d, n);
	if (HTTP_PARSER_ERRNO(&h->p) == HPE_CB_body) {
		h->r->st->body_too_large++;
		log_info("%s: client %s: 413: body over max_body",
		    h->r->service, h->peer);
		if (h->up != NULL) {
			h->up->h = NULL;
			up_close(h->up);
			h->up = NULL;
		}
		end_request(h);
		answer(h, 413, 0);
		return;
	}
	if (HTTP_PARSER_ERRNO(&h->p) != HPE_OK &&
	    HTTP_PARSER_ERRNO(&h->p) != HPE_PAUSED) {
		h->r->st->bad_request++;
		log_info("%s: client %s: 400: bad body: %s", h->r->service,
		    h->peer, http_errno_description(HTTP_PARSER_ERRNO(&h->p)));
		if (h->up != NULL) {
			h->up->h = NULL;
			up_close(h->up);
			h->up = NULL;
		}
		end_request(h);
		answer(h, 400, 0);
		return;
	}
	if (h->up != NULL && to_up(h->up, d, used) != 0) {
		hconn_close(h);
		return;
	}
	/* A body on its way is progress: upstream_timeout counts from
	 * the last bytes either way. */
	if (h->up != NULL && used > 0 && !h->up->got_bytes)
		up_arm(h->up);
	if (h->up != NULL && h->up->s.write_queue_size > PROXY_WBUF_MAX)
		client_read(h, 0);
	if (h->req_done) {
		http_parser_pause(&h->p, 0);
		if (h->state == C_BODY)
			h->state = C_WAIT;
		if (pend_add(h, d + used, n - used) != 0)
			hconn_close(h);
	}
}

/* ---- the client's bytes ------------------------------------------------- */

static void
head_feed(struct hconn *h, const char *d, size_t n)
{
	size_t old = h->headlen, end, from;
	int first = h->state == C_IDLE;
	char *nb;

	if (first)
		h->state = C_HEAD;
	if ((nb = realloc(h->head, old + n + 1)) == NULL) {
		hconn_close(h);
		return;
	}
	h->head = nb;
	memcpy(h->head + old, d, n);
	h->headlen = old + n;
	from = old > 3 ? old - 3 : 0;
	end = head_end(h->head + from, h->headlen - from);
	if (end != 0)
		end += from;
	if ((end == 0 && h->headlen > P->conf.header_max) ||
	    end > P->conf.header_max) {
		refuse(h, 431, "head over header_max");
		return;
	}
	if (end == 0) {
		/* header_timeout from the head's first byte (the same loop
		 * time): armed only when the head did not come whole. */
		if (first)
			hconn_timer(h, P->conf.header_timeout_ms);
		return;
	}
	if (pend_add(h, h->head + end, h->headlen - end) != 0) {
		hconn_close(h);
		return;
	}
	h->headlen = end;
	request_head(h);
}

/* client_feed takes bytes from the client in whatever state it is. */
static void
client_feed(struct hconn *h, const char *d, size_t n)
{
	switch (h->state) {
	case C_IDLE:
	case C_HEAD:
		head_feed(h, d, n);
		break;
	case C_BODY:
		body_feed(h, d, n);
		break;
	case C_HELD:
	case C_WAIT:
		if (pend_add(h, d, n) != 0)
			hconn_close(h);
		else if (h->pendlen > P->conf.header_max)
			client_read(h, 0);
		break;
	case C_TUNNEL:
		if (h->up != NULL && to_up(h->up, d, n) != 0)
			hconn_close(h);
		else if (h->up != NULL &&
		    h->up->s.write_queue_size > PROXY_WBUF_MAX)
			client_read(h, 0);
		break;
	}
}

/* pend_run feeds what was read ahead, as if it came now. */
static void
pend_run(struct hconn *h)
{
	char *d = h->pend;
	size_t n = h->pendlen;

	if (n == 0)
		return;
	h->pend = NULL;
	h->pendlen = 0;
	client_feed(h, d, n);
	free(d);
}

static void
on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hconn *h = s->data;

	if (n < 0) {
		buf_free(b->base);
		if (h->state == C_HEAD)
			log_debug("%s: client %s left mid-head",
			    h->r->service, h->peer);
		client_abort(h);
		return;
	}
	if (n > 0) {
		rbuf = b->base;
		client_feed(h, b->base, (size_t)n);
		rbuf = NULL;
	}
	buf_free(b->base);
}

/* ---- upstream connections ----------------------------------------------- */

static void
on_up_closed(uv_handle_t *hd)
{
	struct upconn *u = hd->data;

	if (--u->closes > 0)
		return;
	free(u->head);
	free(u);
}

static void
up_close(struct upconn *u)
{
	if (u->state == U_CLOSING)
		return;
	if (u->state == U_IDLE)
		u->t->nidle--;
	link_del(&u->l);
	free(u->out);
	u->out = NULL;
	u->state = U_CLOSING;
	u->closes = 2;
	uv_close((uv_handle_t *)&u->s, on_up_closed);
	uv_close((uv_handle_t *)&u->tm, on_up_closed);
}

static void
up_pool(struct upconn *u)
{
	struct target *t = u->t;

	u->h = NULL;
	if (t->draining || P->leaving || t->nidle >= PROXY_POOL_MAX) {
		up_close(u);
		return;
	}
	free(u->head);
	u->head = NULL;
	u->headlen = 0;
	u->state = U_IDLE;
	u->reused = 1;
	u->done = 0;
	u->got_bytes = 0;
	link_add(&t->idle, &u->l);
	t->nidle++;
	up_read(u, 1);
	/* Idle upstream connections close after the client idle time. */
	up_timer(u, P->conf.idle_timeout_ms);
}

/* upstream_fail answers the client for a failed upstream and counts it. */
static void
upstream_fail(struct hconn *h, int kind)
{
	struct upconn *u = h->up;
	struct revstat *st = u != NULL ? u->t->st : h->t->st;
	int code = kind == 't' ? 504 : 502;

	if (kind == 'r')
		st->refused++;
	else if (kind == 'x')
		st->reset++;
	else
		st->timeout++;
	log_info("%s: client %s: %d: upstream %s:%u %s", h->r->service,
	    h->peer, code, u != NULL ? u->t->address : "?",
	    u != NULL ? u->t->port : 0, kind == 'r' ? "refused the "
	    "connection" : kind == 'x' ? "reset or closed mid-response" :
	    "timed out");
	if (u != NULL) {
		u->h = NULL;
		up_close(u);
		h->up = NULL;
	}
	if (!h->resp_head_sent) {
		status_add(h->t->st, code);
		latency_add(h->t->st, now_us() - h->t0_us);
		end_request(h);
		answer(h, code, 0);
	} else {
		st->unanswered++;
		end_request(h);
		hconn_close(h);
	}
}

/* up_timer: u's timer ends ms from now.  Lazily: a timer already due
 * no later is left running (it re-arms itself for the rest when it
 * fires early), so the bytes of every read do not cost a stop and a
 * start of the timer. */
static void
up_timer(struct upconn *u, uint64_t ms)
{
	uint64_t now = uv_now(P->loop);

	u->due = now + ms;
	if (uv_is_active((uv_handle_t *)&u->tm) &&
	    now + uv_timer_get_due_in(&u->tm) <= u->due)
		return;
	uv_timer_start(&u->tm, on_up_timer, ms, 0);
}

static void
on_up_timer(uv_timer_t *tm)
{
	struct upconn *u = tm->data;
	struct hconn *h = u->h;
	uint64_t now = uv_now(P->loop);

	if (u->due > now) {
		uv_timer_start(&u->tm, on_up_timer, u->due - now, 0);
		return;
	}
	if (h == NULL) {
		up_close(u);
		return;
	}
	if (!h->req_done && !u->got_bytes && u->state != U_CONNECTING) {
		/* The client's body stalled, not the target: 408. */
		h->r->st->client_aborted++;
		log_info("%s: client %s: 408: request body stalled for "
		    "upstream_timeout", h->r->service, h->peer);
		u->h = NULL;
		up_close(u);
		h->up = NULL;
		status_add(h->t->st, 408);
		latency_add(h->t->st, now_us() - h->t0_us);
		end_request(h);
		answer(h, 408, 0);
		return;
	}
	upstream_fail(h, 't');
}

static void
up_arm(struct upconn *u)
{
	if (u->state == U_TUNNEL)
		return;
	up_timer(u, u->t->route->spec->upstream_timeout_ms);
}

static void
on_up_connect(uv_connect_t *cr, int status)
{
	struct upconn *u = cr->data;

	if (u->state == U_CLOSING)
		return;
	if (status != 0) {
		if (u->h != NULL)
			upstream_fail(u->h, 'r');
		else
			up_close(u);
		return;
	}
	if (u->h == NULL) {
		up_close(u);
		return;
	}
	uv_tcp_nodelay(&u->s, 1);
	u->state = U_HEAD;
	up_read(u, 1);
}

/* response_done: the response is complete: count it, pool or close the
 * upstream connection, and serve the client's next request. */
static void
response_done(struct hconn *h, int reusable)
{
	struct upconn *u = h->up;

	latency_add(h->t->st, now_us() - h->t0_us);
	end_request(h);
	h->up = NULL;
	if (u != NULL) {
		if (reusable && h->req_done)
			up_pool(u);
		else {
			u->h = NULL;
			up_close(u);
		}
	}
	if (!h->req_done || !h->keepalive || h->close_after) {
		h->close_after = 1;
		h->state = C_WAIT;
		client_read(h, 0);
		if (h->c.write_queue_size == 0)
			hconn_close(h);
		return;
	}
	free(h->head);
	h->head = NULL;
	h->headlen = 0;
	hconn_wait_request(h, 0);
	pend_run(h);
}

/* tunnel_kill: the target's drain_timeout passed with this request (or
 * upgraded connection) still on it: the client's connection closes. */
static void
tunnel_kill(struct tunnel *tn)
{
	struct hconn *h = (struct hconn *)((char *)tn -
	    offsetof(struct hconn, tun));

	log_info("%s: client %s: closed at drain_timeout (%s on revision "
	    "%llu)", h->r->service, h->peer, h->state == C_TUNNEL ?
	    "upgraded connection" : "request in flight",
	    h->t != NULL ? (unsigned long long)h->t->revision : 0ULL);
	hconn_close(h);
}

/* response_head: a complete response head in u->head. */
static void
response_head(struct upconn *u, const char *rest, size_t restn)
{
	struct hconn *h = u->h;
	struct parse *x = parse_begin(&resp_parse);
	size_t used, i, cap, n = 0, sl;
	char *b = NULL;
	int code, keep, interim;

	u->p.data = x;
	used = http_parser_execute(&u->p, &resp_head_settings, u->head,
	    u->headlen);
	if (HTTP_PARSER_ERRNO(&u->p) != HPE_PAUSED || !x->headers_done) {
		log_info("%s: upstream %s:%u: malformed response head: %s",
		    h->r->service, u->t->address, u->t->port,
		    http_errno_description(HTTP_PARSER_ERRNO(&u->p)));
			upstream_fail(h, 'x');
		return;
	}
	code = (int)u->p.status_code;
	interim = code >= 100 && code < 200 && code != 101;
	free(h->head);		/* the request's, kept for up_retry */
	h->head = NULL;
	h->headlen = 0;
	if (code == 101 && h->upgrade) {
		/* Upgraded: the head as it came, then raw bytes. */
		status_add(h->t->st, code);
		latency_add(h->t->st, now_us() - h->t0_us);
		h->resp_head_sent = 1;
		uv_timer_stop(&u->tm);
		u->state = U_TUNNEL;
		h->state = C_TUNNEL;
		if (to_client(h, u->head, u->headlen) != 0 ||
		    to_client(h, rest, restn) != 0 ||
		    (h->pendlen > 0 && to_up(u, h->pend, h->pendlen) != 0)) {
					hconn_close(h);
			return;
		}
		free(h->pend);
		h->pend = NULL;
		h->pendlen = 0;
		client_read(h, 1);
			return;
	}
	keep = h->keepalive && !h->close_after;
	cap = u->headlen + 256;
	if ((b = malloc(cap)) == NULL) {
			hconn_close(h);
		return;
	}
	for (sl = 0; sl < u->headlen && u->head[sl] != '\n'; sl++)
		;
	sl++;
	memcpy(b, u->head, sl);
	n = sl;
	for (i = 0; i < x->nh; i++) {
		const struct hdr *e = &x->h[i];

		if (hname(e, "connection") || hname(e, "keep-alive") ||
		    hname(e, "proxy-connection"))
			continue;
		if (n + e->nl + e->vl + 4 > cap)
			break;
		memcpy(b + n, e->n, e->nl);
		n += e->nl;
		memcpy(b + n, ": ", 2);
		n += 2;
		memcpy(b + n, e->v, e->vl);
		n += e->vl;
		memcpy(b + n, "\r\n", 2);
		n += 2;
	}
	if (!interim) {
		/* A body that ends only when the connection does cannot
		 * keep the client's connection. */
		if (!h->head_method && http_message_needs_eof(&u->p))
			keep = 0;
		if (!keep)
			h->close_after = 1;
		n += (size_t)snprintf(b + n, cap - n, "%s",
		    !keep ? "Connection: close\r\n" : h->http10 ?
		    "Connection: keep-alive\r\n" : "");
		if (h->r->spec->sticky && (!h->has_sticky ||
		    h->sticky_rev != h->t->revision))
			n += (size_t)snprintf(b + n, cap - n, "Set-Cookie: "
			    "ferry_rev_%s=%" PRIu64 "; Path=/; HttpOnly\r\n",
			    h->r->service, h->t->revision);
		status_add(h->t->st, code);
		h->resp_head_sent = 1;
	}
	n += (size_t)snprintf(b + n, cap - n, "\r\n");
	if (interim) {
		if (to_client(h, b, n) != 0) {
			free(b);
			hconn_close(h);
			return;
		}
		free(b);
	} else {
		/* Written with the first body bytes: one send, not two. */
		u->out = b;
		u->outlen = n;
	}
	/* Now the body (or, after a 1xx, the next head). */
	http_parser_pause(&u->p, 0);
	u->p.data = u;
	if (interim) {
		/* A fresh parser for the next head. */
		http_parser_init(&u->p, HTTP_RESPONSE);
		u->state = U_HEAD;
	} else {
		/* The head's last byte, which the parser has not taken
		 * yet: a response without a body ends with it. */
		u->state = U_BODY;
		http_parser_execute(&u->p, &resp_body_settings,
		    u->head + used, u->headlen - used);
	}
	free(u->head);
	u->head = NULL;
	u->headlen = 0;
}

static int
r_done(http_parser *p)
{
	struct upconn *u = p->data;

	u->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_body_settings = {
	.on_message_complete = r_done,
};

static void up_feed(struct upconn *u, const char *d, size_t n);

static void
up_body(struct upconn *u, const char *d, size_t n)
{
	struct hconn *h = u->h;
	size_t used;

	u->p.data = u;
	used = http_parser_execute(&u->p, &resp_body_settings, d, n);
	if (HTTP_PARSER_ERRNO(&u->p) != HPE_OK &&
	    HTTP_PARSER_ERRNO(&u->p) != HPE_PAUSED) {
		log_info("%s: upstream %s:%u: bad response body: %s",
		    h->r->service, u->t->address, u->t->port,
		    http_errno_description(HTTP_PARSER_ERRNO(&u->p)));
		upstream_fail(h, 'x');
		return;
	}
	if (u->out != NULL) {
		/* The held head and these first body bytes: one send. */
		uv_buf_t bs[2];
		char *ob = u->out;
		int rc;

		bs[0] = uv_buf_init(ob, (unsigned)u->outlen);
		bs[1] = uv_buf_init((char *)d, (unsigned)used);
		u->out = NULL;
		rc = put_bufs((uv_stream_t *)&h->c, bs, 2, on_client_written);
		free(ob);
		if (rc != 0) {
			hconn_close(h);
			return;
		}
	} else if (to_client(h, d, used) != 0) {
		hconn_close(h);
		return;
	}
	if (h->c.write_queue_size > PROXY_WBUF_MAX)
		up_read(u, 0);
	if (u->done) {
		int reuse = used == n && http_should_keep_alive(&u->p);

		if (used != n)
			log_info("%s: upstream %s:%u sent bytes past its "
			    "response; connection not reused", h->r->service,
			    u->t->address, u->t->port);
		response_done(h, reuse);
	}
}

/* up_flush writes a response head still held back. */
static void
up_flush(struct upconn *u)
{
	char *b = u->out;

	if (b == NULL)
		return;
	u->out = NULL;
	if (u->h == NULL) {
		free(b);
		return;
	}
	if (to_client(u->h, b, u->outlen) != 0) {
		free(b);
		hconn_close(u->h);
		return;
	}
	free(b);
}

static void up_feed_some(struct upconn *u, const char *d, size_t n);

static void
up_feed(struct upconn *u, const char *d, size_t n)
{
	up_feed_some(u, d, n);
	up_flush(u);
}

static void
up_feed_some(struct upconn *u, const char *d, size_t n)
{
	struct hconn *h = u->h;

	while (n > 0 && u->h != NULL) {
		if (u->state == U_TUNNEL) {
			if (to_client(h, d, n) != 0)
				hconn_close(h);
			else if (h->c.write_queue_size > PROXY_WBUF_MAX)
				up_read(u, 0);
			return;
		}
		if (u->state == U_BODY) {
			up_body(u, d, n);
			return;
		}
		if (u->state == U_HEAD) {
			size_t old = u->headlen, end, from;
			char *nb = realloc(u->head, old + n + 1);

			if (nb == NULL) {
				hconn_close(h);
				return;
			}
			u->head = nb;
			memcpy(u->head + old, d, n);
			u->headlen += n;
			from = old > 3 ? old - 3 : 0;
			end = head_end(u->head + from, u->headlen - from);
			if (end == 0) {
				if (u->headlen > PROXY_RESP_HEAD_MAX) {
					log_info("%s: upstream %s:%u: response "
					    "head over %d bytes", h->r->service,
					    u->t->address, u->t->port,
					    PROXY_RESP_HEAD_MAX);
					upstream_fail(h, 'x');
				}
				return;
			}
			end += from;
			/* What came after the head is in d: its last
			 * (headlen - end) bytes. */
			{
				size_t extra = u->headlen - end;

				d = d + n - extra;
				n = extra;
				u->headlen = end;
			}
			response_head(u, d, n);
			if (u->h == NULL || u->state == U_TUNNEL)
				return;
			if (u->state == U_BODY && u->done) {
				up_flush(u);
				response_done(h, n == 0 &&
				    http_should_keep_alive(&u->p));
				return;
			}
			continue;
		}
		return;
	}
}

static void
on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct upconn *u = s->data;
	struct hconn *h = u->h;

	if (n < 0) {
		buf_free(b->base);
		if (h == NULL) {
			up_close(u);
			return;
		}
		if (u->state == U_TUNNEL) {
			hconn_close(h);
			return;
		}
		if (u->state == U_HEAD && up_retry(h))
			return;
		if (u->state == U_BODY && n == UV_EOF) {
			/* A close-delimited body ends here. */
			u->p.data = u;
			http_parser_execute(&u->p, &resp_body_settings, NULL,
			    0);
			if (u->done) {
				up_flush(u);
				response_done(h, 0);
				return;
			}
		}
		upstream_fail(h, 'x');
		return;
	}
	if (n > 0) {
		if (h == NULL) {
			/* Bytes from an idle pooled connection: not HTTP. */
			buf_free(b->base);
			up_close(u);
			return;
		}
		u->got_bytes = 1;
		up_arm(u);
		rbuf = b->base;
		up_feed(u, b->base, (size_t)n);
		rbuf = NULL;
	}
	buf_free(b->base);
}

/* up_start_request sends h's request to t: over an idle pooled
 * connection when there is one, else a new one. */
static void
up_start_request(struct hconn *h, struct target *t)
{
	h->t = t;
	t->active++;
	t->st->active++;
	t->st->requests++;
	/* Closed at t's drain deadline if still in flight then. */
	h->tun.kill = tunnel_kill;
	link_add(&t->tunnels, &h->tun.l);
	up_send(h, 1);
}

/* up_send sends h's request head to h->t over a pooled connection (when
 * pool and there is one) or a new one.  A request without a body keeps
 * its head until the response begins, for up_retry. */
static void
up_send(struct hconn *h, int pool)
{
	struct target *t = h->t;
	struct upconn *u = NULL;

	if (pool && !link_empty(&t->idle)) {
		u = (struct upconn *)((char *)t->idle.prev -
		    offsetof(struct upconn, l));
		link_del(&u->l);
		t->nidle--;
		u->state = U_HEAD;	/* its timer: up_arm, below */
	} else {
		int rc;

		if ((u = calloc(1, sizeof(*u))) == NULL) {
			hconn_close(h);
			return;
		}
		u->t = t;
		uv_tcp_init(P->loop, &u->s);
		uv_timer_init(P->loop, &u->tm);
		u->s.data = u->tm.data = u->cr.data = u;
		u->state = U_CONNECTING;
		rc = uv_tcp_connect(&u->cr, &u->s,
		    (const struct sockaddr *)&t->sa, on_up_connect);
		if (rc != 0) {
			h->up = u;
			u->h = h;
			upstream_fail(h, 'r');
			return;
		}
	}
	http_parser_init(&u->p, HTTP_RESPONSE);
	u->h = h;
	u->done = 0;
	u->got_bytes = 0;
	h->up = u;
	h->state = h->req_done ? C_WAIT : C_BODY;
	up_arm(u);
	if (to_up(u, h->head, h->headlen) != 0) {
		hconn_close(h);
		return;
	}
	if (!h->req_done || h->upgrade) {
		free(h->head);
		h->head = NULL;
		h->headlen = 0;
	}
	if (h->upgrade) {
		/* Bytes after an upgrade request wait for the 101. */
		client_read(h, 1);
		h->state = C_WAIT;
		return;
	}
	hconn_request_done_maybe(h);
}

/* up_retry: a pooled connection the target closed before answering (it
 * closed it as idle while the request was on its way) gets the request
 * again over a new connection, once: only a request without a body whose
 * head is kept.  Returns 1 when it did. */
static int
up_retry(struct hconn *h)
{
	struct upconn *u = h->up;

	if (u == NULL || !u->reused || u->got_bytes || h->head == NULL ||
	    !h->req_done || h->resp_head_sent || h->upgrade)
		return 0;
	log_debug("%s: upstream %s:%u closed a kept-alive connection before "
	    "answering; sent again over a new one", h->r->service,
	    u->t->address, u->t->port);
	u->h = NULL;
	up_close(u);
	h->up = NULL;
	up_send(h, 0);
	return 1;
}

/* hconn_request_done_maybe: the head is on its way; the body follows
 * from what was read ahead and from the client. */
static void
hconn_request_done_maybe(struct hconn *h)
{
	if (!h->req_done) {
		h->state = C_BODY;
		pend_run(h);
		if (h->state == C_BODY && h->up != NULL &&
		    h->up->s.write_queue_size <= PROXY_WBUF_MAX)
			client_read(h, 1);
	} else {
		h->state = C_WAIT;
		client_read(h, 1);
	}
}

/* http_target_closing: t drains: its idle upstream connections close. */
void
http_target_closing(struct target *t)
{
	while (!link_empty(&t->idle)) {
		struct upconn *u = (struct upconn *)((char *)t->idle.next -
		    offsetof(struct upconn, l));

		up_close(u);
	}
}

/* http_leave: the proxy hands over or stops: every client connection
 * closes after its next response (Connection: close).  Idle ones are not
 * closed at once: a request may be on its way on them, and closing would
 * fail it; they end with their idle timer or the leave deadline. */
void
http_leave(void)
{
	struct link *l;

	for (l = hconns.next; l != &hconns; l = l->next) {
		struct hconn *h = (struct hconn *)((char *)l -
		    offsetof(struct hconn, all));

		h->keepalive = 0;
	}
}
