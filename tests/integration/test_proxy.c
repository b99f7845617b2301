/* SPDX-License-Identifier: Apache-2.0 */
/* test_proxy.c: the real ferry-proxy binary on loopback, driven over its
 * real control socket (common/proxywire.c), in front of small backends
 * this test runs in threads (HTTP parsed with http-parser, as the proxy
 * does).  No Docker.  Every wait is bounded; processes are ended by pid. */
#define _GNU_SOURCE	/* memmem, strcasestr, accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <http_parser.h>

#include "ferr.h"
#include "harness.h"
#include "proxywire.h"

/* Under `make asan` the proxy's resident memory is mostly the
 * sanitizer's (shadow, quarantine): the memory tests still run their
 * traffic there, but check their bounds only in the plain build. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static struct h_fleet F;
static char CTL[600], STATE[600];
static struct h_proc *PX;

/* ---- sockets ------------------------------------------------------------ */

/* port_new returns a port free on 127.0.0.1 now and not yet handed out
 * by this test process. */
static int
port_new(void)
{
	static int given[256];
	static size_t ngiven;

	for (int tries = 0; tries < 100; tries++) {
		int p = h_free_port(), seen = 0;

		for (size_t i = 0; i < ngiven; i++)
			seen |= given[i] == p;
		if (seen)
			continue;
		if (ngiven < 256)
			given[ngiven++] = p;
		return p;
	}
	cr_assert_fail("no fresh free port");
	return 0;
}

static int
tcp_listen(const char *ip, int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s",
	    ip, strerror(errno));
	cr_assert(listen(fd, 512) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* dial connects to 127.0.0.1:port; -1 when refused. */
static int
dial(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 10, 0 };

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const void *b, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, (const char *)b + off, n - off,
		    MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void
send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* ---- reading responses (client side) ------------------------------------ */

struct resp {
	int status;
	char body[65536];
	size_t bodylen;
	char headers[8192];
	size_t hlen;
	int done;
	int in_value;
	uint64_t first_body_ms;
};

/* hdr_field and hdr_value collect a head's lines as http-parser hands
 * them over, in pieces, for the test's client and its backends alike:
 * "Name: value" lines joined by sep, NUL-terminated, cut at size. */
static void
hdr_put(char *b, size_t size, size_t *len, const char *at, size_t n)
{
	if (*len + n < size) {
		memcpy(b + *len, at, n);
		*len += n;
	}
	b[*len] = '\0';
}

static void
hdr_field(char *b, size_t size, size_t *len, int *in_value,
    const char *sep, const char *at, size_t n)
{
	if (*in_value)
		hdr_put(b, size, len, sep, strlen(sep));
	*in_value = 0;
	hdr_put(b, size, len, at, n);
}

static void
hdr_value(char *b, size_t size, size_t *len, int *in_value,
    const char *at, size_t n)
{
	if (!*in_value)
		hdr_put(b, size, len, ": ", 2);
	*in_value = 1;
	hdr_put(b, size, len, at, n);
}

static int
r_field(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	hdr_field(r->headers, sizeof(r->headers), &r->hlen, &r->in_value,
	    "\n", at, n);
	return 0;
}

static int
r_value(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	hdr_value(r->headers, sizeof(r->headers), &r->hlen, &r->in_value, at,
	    n);
	return 0;
}

static int
r_body(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	if (r->first_body_ms == 0)
		r->first_body_ms = h_mono_ms();
	if (r->bodylen + n < sizeof(r->body)) {
		memcpy(r->body + r->bodylen, at, n);
		r->bodylen += n;
		r->body[r->bodylen] = '\0';
	}
	return 0;
}

static int
r_hdone(http_parser *p)
{
	struct resp *r = p->data;

	r->status = (int)p->status_code;
	return 0;
}

static int
r_done(http_parser *p)
{
	struct resp *r = p->data;

	if (p->status_code >= 100 && p->status_code < 200 &&
	    p->status_code != 101) {
		/* interim: keep going */
		r->hlen = 0;
		r->in_value = 0;
		return 0;
	}
	r->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings rsettings = {
	.on_header_field = r_field,
	.on_header_value = r_value,
	.on_headers_complete = r_hdone,
	.on_body = r_body,
	.on_message_complete = r_done,
};

/* A client connection with bytes read past the last response. */
struct cl {
	int fd;
	char buf[65536];
	size_t len;
};

/* cl_response reads one response on c (bounded); status or 0 (closed
 * or timed out before one came). */
static int
cl_response(struct cl *c, struct resp *r, int head_req)
{
	http_parser p;
	uint64_t end = h_mono_ms() + 15000;

	memset(r, 0, sizeof(*r));
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = r;
	for (;;) {
		size_t used;

		if (c->len > 0) {
			if (head_req) {
				/* a response to HEAD: the head only */
				char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
				if (e != NULL) {
					size_t hl = (size_t)(e - c->buf) + 4;
					http_parser_execute(&p, &rsettings,
					    c->buf, hl - 1);
					r->status = (int)p.status_code;
					memmove(c->buf, c->buf + hl,
					    c->len - hl);
					c->len -= hl;
					return r->status;
				}
			} else {
				used = http_parser_execute(&p, &rsettings,
				    c->buf, c->len);
				memmove(c->buf, c->buf + used, c->len - used);
				c->len -= used;
				if (r->done)
					return r->status;
				if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
					return 0;
			}
		}
		if (h_mono_ms() > end)
			return 0;
		{
			ssize_t n = recv(c->fd, c->buf + c->len,
			    sizeof(c->buf) - c->len, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0 && !head_req) {
					http_parser_execute(&p, &rsettings,
					    NULL, 0);
					if (r->done)
						return r->status;
				}
				return 0;
			}
			c->len += (size_t)n;
		}
	}
}

/* cl_closed: the peer closed c (bounded wait). */
static int __attribute__((unused))
cl_closed(struct cl *c, int ms)
{
	struct pollfd pf = { .fd = c->fd, .events = POLLIN };
	char b[4096];

	if (poll(&pf, 1, ms) <= 0)
		return 0;
	for (;;) {
		ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

		if (n == 0)
			return 1;
		if (n < 0)
			return errno != EAGAIN;
	}
}

static int
cl_open(struct cl *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = dial(port);
	return c->fd;
}

/* get does one request on a new connection: the status, the response in
 * *r. */
static int
req1(int port, const char *raw, struct resp *r)
{
	struct cl c;
	int st;

	if (cl_open(&c, port) < 0)
		return -1;
	send_str(c.fd, raw);
	st = cl_response(&c, r, 0);
	close(c.fd);
	return st;
}

static int
hdr_has(const struct resp *r, const char *s)
{
	return strcasestr(r->headers, s) != NULL;
}

/* ---- backends ----------------------------------------------------------- */

/* A backend: one thread accepting, one thread per connection.  Paths:
 *   /id                 its name as the body
 *   /slow/N             the same after N ms
 *   /reset              the connection reset, no answer
 *   /close              the connection closed mid-response
 *   /chunked            a chunked response in three chunks
 *   /stream             one chunk, then the rest 1500 ms later
 *   /echo               (any body) "n=<bytes>" and the body's start
 *   /upgrade            101, then every byte echoed back
 *   /head               the request head it got as the body
 *   /old                an HTTP/1.0 close-delimited answer
 */
struct backend {
	char name[32];
	char ip[32];
	int port;
	int lfd;
	pthread_t th;
	atomic_int stop;
	atomic_int conns;		/* connections accepted */
	atomic_int requests;		/* requests read whole */
	atomic_int open;		/* connections open now */
	atomic_llong body_bytes;
	atomic_int saw_continue;	/* got Expect: 100-continue */
	atomic_int drop_second;		/* a connection's second request:
					 * closed unanswered */
};

struct bconn {
	struct backend *b;
	int fd;
	http_parser p;
	char url[512];
	char head[8192];
	size_t hlen;
	int in_value;
	long long body;
	char bodystart[64];
	int done;
	int expect;
	int nreq;
};

static int
b_url(http_parser *p, const char *at, size_t n)
{
	struct bconn *c = p->data;
	size_t l = strlen(c->url);

	if (l + n < sizeof(c->url)) {
		memcpy(c->url + l, at, n);
		c->url[l + n] = '\0';
	}
	return 0;
}

static int
b_field(http_parser *p, const char *at, size_t n)
{
	struct bconn *c = p->data;

	hdr_field(c->head, sizeof(c->head), &c->hlen, &c->in_value, "\r\n",
	    at, n);
	return 0;
}

static int
b_value(http_parser *p, const char *at, size_t n)
{
	struct bconn *c = p->data;

	hdr_value(c->head, sizeof(c->head), &c->hlen, &c->in_value, at, n);
	if (n == 12 && strncasecmp(at, "100-continue", 12) == 0)
		c->expect = 1;
	return 0;
}

static int
b_hdone(http_parser *p)
{
	struct bconn *c = p->data;

	c->head[c->hlen < sizeof(c->head) ? c->hlen : sizeof(c->head) - 1] =
	    '\0';
	if (c->expect) {
		atomic_store(&c->b->saw_continue, 1);
		send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	return 0;
}

static int
b_body(http_parser *p, const char *at, size_t n)
{
	struct bconn *c = p->data;
	size_t l = (size_t)c->body;

	if (l < sizeof(c->bodystart) - 1) {
		size_t k = n < sizeof(c->bodystart) - 1 - l ? n :
		    sizeof(c->bodystart) - 1 - l;
		memcpy(c->bodystart + l, at, k);
		c->bodystart[l + k] = '\0';
	}
	c->body += (long long)n;
	atomic_fetch_add(&c->b->body_bytes, (long long)n);
	return 0;
}

static int
b_done(http_parser *p)
{
	struct bconn *c = p->data;

	c->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings bsettings = {
	.on_url = b_url,
	.on_header_field = b_field,
	.on_header_value = b_value,
	.on_headers_complete = b_hdone,
	.on_body = b_body,
	.on_message_complete = b_done,
};

static void
reply_text(int fd, const char *body)
{
	char b[10000];
	int n = snprintf(b, sizeof(b), "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%zu\r\n\r\n%s", strlen(body), body);

	send_all(fd, b, (size_t)n);
}

static void
do_rst(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* serve answers one request; 0 to go on, -1 to close. */
static int
serve(struct bconn *c)
{
	struct backend *b = c->b;
	char body[9000];

	if (++c->nreq >= 2 && atomic_load(&b->drop_second))
		return -1;
	atomic_fetch_add(&b->requests, 1);
	if (strcmp(c->url, "/id") == 0) {
		reply_text(c->fd, b->name);
	} else if (strncmp(c->url, "/slow/", 6) == 0) {
		int ms = atoi(c->url + 6);

		for (int i = 0; i < ms / 10 && !atomic_load(&b->stop); i++)
			h_sleep_ms(10);
		reply_text(c->fd, b->name);
	} else if (strcmp(c->url, "/reset") == 0) {
		do_rst(c->fd);
		return -1;
	} else if (strcmp(c->url, "/close") == 0) {
		send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
		    "\r\nonly part");
		h_sleep_ms(50);
		return -1;
	} else if (strcmp(c->url, "/chunked") == 0) {
		send_str(c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n"
		    "0\r\n\r\n");
	} else if (strcmp(c->url, "/stream") == 0) {
		send_str(c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n6\r\nfirst \r\n");
		for (int i = 0; i < 150 && !atomic_load(&b->stop); i++)
			h_sleep_ms(10);
		send_str(c->fd, "4\r\nlast\r\n0\r\n\r\n");
	} else if (strcmp(c->url, "/echo") == 0) {
		snprintf(body, sizeof(body), "n=%lld %s", c->body,
		    c->bodystart);
		reply_text(c->fd, body);
	} else if (strcmp(c->url, "/head") == 0) {
		snprintf(body, sizeof(body), "%s", c->head);
		reply_text(c->fd, body);
	} else if (strcmp(c->url, "/old") == 0) {
		send_str(c->fd, "HTTP/1.0 200 OK\r\n\r\nclose-delimited "
		    "body");
		return -1;
	} else if (strcmp(c->url, "/upgrade") == 0) {
		send_str(c->fd, "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: echo\r\nConnection: Upgrade\r\n\r\n");
		return 1;
	} else {
		send_str(c->fd, "HTTP/1.1 404 Not Found\r\nContent-Length: "
		    "0\r\n\r\n");
	}
	return http_should_keep_alive(&c->p) ? 0 : -1;
}

static void *
bconn_run(void *arg)
{
	struct bconn *c = arg;
	struct backend *b = c->b;
	static char bufs[1];
	char *buf = malloc(65536);
	size_t have = 0;
	int echo = 0;

	(void)bufs;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	while (!atomic_load(&b->stop) && buf != NULL) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = recv(c->fd, buf + have, 65536 - have, 0);
		if (n <= 0)
			break;
		if (echo) {
			send_all(c->fd, buf, (size_t)n);
			continue;
		}
		have += (size_t)n;
		while (have > 0) {
			size_t used = http_parser_execute(&c->p, &bsettings,
			    buf, have);
			int rc;

			memmove(buf, buf + used, have - used);
			have -= used;
			if (!c->done) {
				if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK)
					goto out;
				break;
			}
			rc = serve(c);
			if (rc < 0)
				goto out;
			if (rc == 1) {
				echo = 1;
				send_all(c->fd, buf, have);
				have = 0;
				break;
			}
			http_parser_pause(&c->p, 0);
			c->done = 0;
			c->url[0] = '\0';
			c->hlen = 0;
			c->in_value = 0;
			c->body = 0;
			c->bodystart[0] = '\0';
			c->expect = 0;
		}
	}
out:
	free(buf);
	close(c->fd);
	atomic_fetch_sub(&b->open, 1);
	free(c);
	return NULL;
}

static void *
backend_run(void *arg)
{
	struct backend *b = arg;

	while (!atomic_load(&b->stop)) {
		struct pollfd pf = { .fd = b->lfd, .events = POLLIN };
		struct bconn *c;
		pthread_t th;
		int fd;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		atomic_fetch_add(&b->conns, 1);
		atomic_fetch_add(&b->open, 1);
		c = calloc(1, sizeof(*c));
		c->b = b;
		c->fd = fd;
		pthread_create(&th, NULL, bconn_run, c);
		pthread_detach(th);
	}
	return NULL;
}

static void
backend_start(struct backend *b, const char *name, const char *ip)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->ip, sizeof(b->ip), "%s", ip);
	b->lfd = tcp_listen(ip, &b->port);
	pthread_create(&b->th, NULL, backend_run, b);
}

static void
backend_stop(struct backend *b)
{
	if (b->lfd <= 0)
		return;
	atomic_store(&b->stop, 1);
	pthread_join(b->th, NULL);
	close(b->lfd);
	b->lfd = 0;
	for (int i = 0; i < 300 && atomic_load(&b->open) > 0; i++)
		h_sleep_ms(10);
}

/* ---- the proxy ---------------------------------------------------------- */

static int
px_call(const Ferry__ProxyRequest *rq, Ferry__ProxyReply **out)
{
	char err[400];

	return proxywire_call(CTL, rq, out, NULL, NULL, 5000, err,
	    sizeof(err));
}

static Ferry__ProxyReply *
px_status(void)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp = NULL;

	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	cr_assert(px_call(&rq, &rp) == 0, "status: no answer");
	cr_assert(rp->ok);
	return rp;
}

static struct h_proc *
px_start(const char *name, const char *const *extra)
{
	const char *argv[32] = { "ferry-proxy", "-d", "-v", "--state-dir",
	    STATE, "--control", CTL };
	int n = 7;
	struct h_proc *p;
	uint64_t end;

	for (; extra != NULL && *extra != NULL; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	p = h_spawn(&F, name, argv);
	end = h_mono_ms() + 10000;
	while (h_mono_ms() < end) {
		Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
		Ferry__ProxyReply *rp = NULL;

		if (h_log_has(p, "ferry-proxy " ) &&
		    h_log_has(p, "connections")) {
			rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
			rq.status = 1;
			if (px_call(&rq, &rp) == 0) {
				ferry__proxy_reply__free_unpacked(rp, NULL);
				return p;
			}
		}
		h_sleep_ms(20);
	}
	cr_assert_fail("ferry-proxy did not start (see %s)", p->log);
	return NULL;
}

struct tspec {
	uint64_t rev;
	const char *addr;
	int port;
	uint32_t weight;
};

struct rspec {
	const char *service;
	int tcp;
	int port;
	int hold, sticky;
	uint32_t drain_ms, pause_ms, upstream_ms;
	uint64_t max_body;
	struct tspec t[4];
	int nt;
};

/* px_set sends a set; returns ok, with the error in err. */
static int
px_set(const struct rspec *s, char *err, size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyRoute r = FERRY__PROXY_ROUTE__INIT;
	Ferry__ProxyTarget t[4], *tp[4];
	Ferry__ProxyReply *rp = NULL;
	int ok;

	r.service = (char *)s->service;
	/* tcp above 1: that number as the mode, unknown to the proxy. */
	r.mode = s->tcp > 1 ? (Ferry__ProxyMode)s->tcp : s->tcp ?
	    FERRY__PROXY_MODE__PROXY_TCP : FERRY__PROXY_MODE__PROXY_HTTP;
	r.listen_address = (char *)"127.0.0.1";
	r.listen_port = (uint32_t)s->port;
	r.drain_timeout_ms = s->drain_ms;
	r.max_pause_ms = s->pause_ms;
	r.upstream_timeout_ms = s->upstream_ms;
	r.max_body = s->max_body;
	r.hold = s->hold;
	r.sticky = s->sticky;
	for (int i = 0; i < s->nt; i++) {
		ferry__proxy_target__init(&t[i]);
		t[i].revision = s->t[i].rev;
		t[i].address = (char *)s->t[i].addr;
		t[i].port = (uint32_t)s->t[i].port;
		t[i].weight = s->t[i].weight;
		tp[i] = &t[i];
	}
	r.targets = tp;
	r.n_targets = (size_t)s->nt;
	rq.op_case = FERRY__PROXY_REQUEST__OP_SET;
	rq.set = &r;
	cr_assert(px_call(&rq, &rp) == 0, "set: no answer");
	ok = rp->ok;
	if (err != NULL)
		snprintf(err, errlen, "%s", rp->error ? rp->error : "");
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return ok;
}

static void
px_must_set(const struct rspec *s)
{
	char err[400];

	cr_assert(px_set(s, err, sizeof(err)), "set refused: %s", err);
}

static Ferry__RevisionTraffic *
rev_of(Ferry__ProxyReply *rp, const char *svc, uint64_t rev)
{
	for (size_t i = 0; i < rp->traffic->n_revisions; i++)
		if (rp->traffic->revisions[i]->revision == rev &&
		    strcmp(rp->traffic->revisions[i]->service, svc) == 0)
			return rp->traffic->revisions[i];
	return NULL;
}

static Ferry__ServiceRefusals *
ref_of(Ferry__ProxyReply *rp, const char *svc)
{
	for (size_t i = 0; i < rp->traffic->n_refusals; i++)
		if (strcmp(rp->traffic->refusals[i]->service, svc) == 0)
			return rp->traffic->refusals[i];
	return NULL;
}

/* active_of: the target's active count in the status (-1: absent). */
static long long __attribute__((unused))
active_total(const char *svc)
{
	Ferry__ProxyReply *rp = px_status();
	long long n = 0;

	for (size_t i = 0; i < rp->n_routes; i++)
		if (strcmp(rp->routes[i]->service, svc) == 0)
			for (size_t j = 0; j < rp->routes[i]->n_targets; j++)
				n += (long long)rp->routes[i]->targets[j]->
				    active;
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return n;
}

static struct backend B1, B2;

static void
setup(void)
{
	h_init(&F);
	snprintf(CTL, sizeof(CTL), "%s/run/control.sock", F.dir);
	snprintf(STATE, sizeof(STATE), "%s/state", F.dir);
	memset(&B1, 0, sizeof(B1));
	memset(&B2, 0, sizeof(B2));
	PX = NULL;
}

static void
teardown(void)
{
	h_fini(&F);
	backend_stop(&B1);
	backend_stop(&B2);
}

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 60);

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- routing ------------------------------------------------------------ */

/* Weights 3:1 give exact shares over 400 requests on one keep-alive
 * connection; weight 0 gets none; the upstream connections are reused. */
Test(proxy, weights_exact_and_keepalive)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 3 };
	struct cl c;
	struct resp r;
	int a = 0, b = 0;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 3 };
	s.t[1] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	s.t[2] = (struct tspec){ 3, "127.0.0.1", 1, 0 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	for (int i = 0; i < 400; i++) {
		send_str(c.fd, GET("/id"));
		cr_assert_eq(cl_response(&c, &r, 0), 200, "request %d", i);
		if (strcmp(r.body, "one") == 0)
			a++;
		else if (strcmp(r.body, "two") == 0)
			b++;
	}
	close(c.fd);
	cr_expect_eq(a, 300, "weight 3 got %d of 400", a);
	cr_expect_eq(b, 100, "weight 1 got %d of 400", b);
	/* One client connection, one upstream connection to each. */
	cr_expect_eq(atomic_load(&B1.conns), 1, "backend one saw %d "
	    "connections", atomic_load(&B1.conns));
	cr_expect_eq(atomic_load(&B2.conns), 1);
	rp = px_status();
	cr_expect_eq(rev_of(rp, "web", 1)->requests, 300);
	cr_expect_eq(rev_of(rp, "web", 1)->status_class[1], 300);
	cr_expect_eq(rev_of(rp, "web", 2)->requests, 100);
	cr_expect(rev_of(rp, "web", 3) == NULL ||
	    rev_of(rp, "web", 3)->requests == 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* X-Forwarded-For is appended, X-Forwarded-Proto set; hop-by-hop
 * headers do not reach the backend. */
Test(proxy, forwarded_headers)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert_eq(req1(s.port, "GET /head HTTP/1.1\r\nHost: t\r\n"
	    "X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\n"
	    "Keep-Alive: 5\r\nConnection: close\r\n\r\n", &r), 200);
	cr_expect(strstr(r.body, "X-Forwarded-For: 10.1.2.3, 127.0.0.1") !=
	    NULL, "head: %s", r.body);
	cr_expect(strstr(r.body, "X-Forwarded-Proto: http\r\n") != NULL ||
	    (strstr(r.body, "X-Forwarded-Proto: http") != NULL &&
	    strstr(r.body, "https") == NULL), "head: %s", r.body);
	cr_expect(strcasestr(r.body, "keep-alive") == NULL, "head: %s",
	    r.body);
	cr_expect(hdr_has(&r, "Connection: close"));
}

/* Sticky: a cookie keeps a client on its revision while it has weight. */
Test(proxy, sticky_cookie)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 2,
	    .sticky = 1 };
	struct resp r;
	char req[200];

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 7, "127.0.0.1", B1.port, 1 };
	s.t[1] = (struct tspec){ 8, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	cr_assert_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect(hdr_has(&r, "Set-Cookie: ferry_rev_web="), "headers: %s",
	    r.headers);
	for (int i = 0; i < 10; i++) {
		snprintf(req, sizeof(req), "GET /id HTTP/1.1\r\nHost: t\r\n"
		    "Cookie: a=b; ferry_rev_web=8; c=d\r\n\r\n");
		cr_assert_eq(req1(s.port, req, &r), 200);
		cr_expect_str_eq(r.body, "two");
		cr_expect(!hdr_has(&r, "Set-Cookie"));
	}
	/* Revision 8 at weight 0: the cookie no longer holds. */
	s.t[1].weight = 0;
	px_must_set(&s);
	cr_assert_eq(req1(s.port, "GET /id HTTP/1.1\r\nHost: t\r\nCookie: "
	    "ferry_rev_web=8\r\n\r\n", &r), 200);
	cr_expect_str_eq(r.body, "one");
	cr_expect(hdr_has(&r, "Set-Cookie: ferry_rev_web=7"));
}

/* ---- the control socket ------------------------------------------------- */

Test(proxy, bad_control_requests)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	char err[400];
	Ferry__ProxyReply *rp;

	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", 8080, 1 };
	s.service = "bad name!";
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "service") != NULL, "%s", err);
	s.service = "web";
	s.port = 0;
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "listen_port") != NULL, "%s", err);
	s.port = port_new();
	s.t[0].addr = "not-an-ip";
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "targets[0].address") != NULL, "%s", err);
	s.t[0].addr = "127.0.0.1";
	s.t[0].port = 70000;
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "targets[0].port") != NULL, "%s", err);
	s.t[0].port = 8080;
	s.t[0].weight = 0;
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "weights") != NULL, "%s", err);
	s.hold = 1;	/* weight 0 with hold is fine */
	cr_expect(px_set(&s, err, sizeof(err)), "%s", err);
	/* Nothing of the refused ones exists. */
	rp = px_status();
	cr_expect_eq(rp->n_routes, 1);
	cr_expect_str_eq(rp->routes[0]->service, "web");
	cr_expect(rp->routes[0]->hold);
	cr_expect_eq(rp->traffic->boot.len, 16);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	{
		Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;

		rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
		rq.remove = (char *)"nosuch";
		cr_assert(px_call(&rq, &rp) == 0);
		cr_expect(!rp->ok);
		cr_expect(strstr(rp->error, "nosuch") != NULL);
		ferry__proxy_reply__free_unpacked(rp, NULL);
	}
	cr_expect(h_log_has(PX, "refused"));
}

/* ---- failures ----------------------------------------------------------- */

Test(proxy, upstream_failures)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .upstream_ms = 500 };
	struct resp r;
	int dead = port_new();
	Ferry__ProxyReply *rp;
	Ferry__RevisionTraffic *t;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", dead, 1 };
	px_must_set(&s);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 502);
	s.t[0] = (struct tspec){ 2, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_expect_eq(req1(s.port, GET("/reset"), &r), 502);
	cr_expect_eq(req1(s.port, GET("/slow/2000"), &r), 504);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	rp = px_status();
	cr_assert_not_null(t = rev_of(rp, "web", 1));
	cr_expect_eq(t->failed_refused, 1);
	cr_expect_eq(t->status_class[4], 1);
	cr_expect_eq(t->failed_unanswered, 0);	/* the 502 was the answer */
	cr_assert_not_null(t = rev_of(rp, "web", 2));
	cr_expect_eq(t->failed_reset, 1);
	cr_expect_eq(t->failed_timeout, 1);
	cr_expect_eq(t->failed_unanswered, 0);
	cr_expect_eq(t->requests, 3);
	cr_expect_eq(t->status_class[4], 2);
	cr_expect_eq(t->status_class[1], 1);
	cr_expect_eq(t->active, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	/* A response that breaks off upstream: no 5xx could be sent, so it
	 * is counted as a failure the client got no 5xx for. */
	req1(s.port, GET("/close"), &r);
	rp = px_status();
	cr_assert_not_null(t = rev_of(rp, "web", 2));
	cr_expect_eq(t->requests, 4);
	cr_expect_eq(t->failed_reset, 2);
	cr_expect_eq(t->failed_unanswered, 1);
	cr_expect_eq(t->status_class[4], 2);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* ---- HTTP shapes -------------------------------------------------------- */

/* Pipelined requests are answered in order on one connection. */
Test(proxy, pipelining_in_order)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, GET("/slow/300") GET("/chunked") "POST /echo HTTP/1.1"
	    "\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde" GET("/id"));
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "one");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "hello world");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "n=5 abcde");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "one");
	close(c.fd);
	cr_expect_eq(atomic_load(&B1.conns), 1);
}

/* HTTP/1.0: close-delimited responses reach the client whole; without
 * keep-alive the connection closes; with it, it stays. */
Test(proxy, http10)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "GET /old HTTP/1.0\r\n\r\n");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "close-delimited body");
	cr_expect(cl_closed(&c, 2000));
	close(c.fd);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "GET /id HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect(hdr_has(&r, "Connection: keep-alive"), "%s", r.headers);
	send_str(c.fd, "GET /id HTTP/1.0\r\n\r\n");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "one");
	cr_expect(cl_closed(&c, 2000));
	close(c.fd);
}

/* Expect: 100-continue goes to the backend, its 100 comes back before
 * the body is sent; chunked request bodies go through whole. */
Test(proxy, expect_continue_and_chunked_upload)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	char b[256];
	ssize_t n;
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: "
	    "100-continue\r\nContent-Length: 4\r\n\r\n");
	n = recv(c.fd, b, sizeof(b) - 1, 0);
	cr_assert(n > 0);
	b[n] = '\0';
	cr_expect(strncmp(b, "HTTP/1.1 100", 12) == 0, "got: %s", b);
	send_str(c.fd, "data");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "n=4 data");
	cr_expect(atomic_load(&B1.saw_continue));
	send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3\r\nabc\r\n");
	h_sleep_ms(100);
	send_str(c.fd, "4\r\ndefg\r\n0\r\n\r\n");
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "n=7 abcdefg");
	close(c.fd);
}

/* A streaming response's first chunk arrives before the backend ends. */
Test(proxy, streaming_response)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	struct resp r;
	uint64_t t0;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	t0 = h_mono_ms();
	send_str(c.fd, GET("/stream"));
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "first last");
	cr_expect(r.first_body_ms - t0 < 1000, "first chunk after %llu ms",
	    (unsigned long long)(r.first_body_ms - t0));
	cr_expect(h_mono_ms() - t0 >= 1400);
	close(c.fd);
}

/* ---- TCP ---------------------------------------------------------------- */

Test(proxy, tcp_weights_and_pipe)
{
	struct rspec s = { .service = "db", .tcp = 1, .port = port_new(),
	    .nt = 2 };
	int a = 0, b = 0;
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	s.t[1] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(req1(s.port, GET("/id"), &r), 200);
		if (strcmp(r.body, "one") == 0)
			a++;
		else
			b++;
	}
	cr_expect_eq(a, 20);
	cr_expect_eq(b, 20);
	rp = px_status();
	cr_expect_eq(rev_of(rp, "db", 1)->requests, 20);
	{
		uint64_t obs = 0;
		Ferry__RevisionTraffic *t = rev_of(rp, "db", 1);

		for (size_t i = 0; i < t->n_latency; i++)
			obs += t->latency[i];
		cr_expect_eq(obs, 20, "connect times observed: %llu",
		    (unsigned long long)obs);
	}
	ferry__proxy_reply__free_unpacked(rp, NULL);
	/* Every connection closed: nothing active. */
	for (int i = 0; i < 100 && active_total("db") != 0; i++)
		h_sleep_ms(20);
	cr_expect_eq(active_total("db"), 0);
}

/* ---- hold and drain ----------------------------------------------------- */

struct bg {
	int port;
	const char *req;
	int status;
	char body[64];
	pthread_t th;
};

static void *
bg_run(void *arg)
{
	struct bg *g = arg;
	struct resp *r = malloc(sizeof(*r));

	g->status = req1(g->port, g->req, r);
	snprintf(g->body, sizeof(g->body), "%.60s", r->body);
	free(r);
	return NULL;
}

static void
bg_start(struct bg *g, int port, const char *req)
{
	memset(g, 0, sizeof(*g));
	g->port = port;
	g->req = req;
	pthread_create(&g->th, NULL, bg_run, g);
}

/* Held requests wait, then go to the target that comes with hold off. */
Test(proxy, hold_then_release)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .hold = 1, .pause_ms = 5000 };
	struct bg g[5];
	Ferry__ProxyReply *rp;

	backend_start(&B1, "new", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 0 };
	px_must_set(&s);
	for (int i = 0; i < 5; i++)
		bg_start(&g[i], s.port, GET("/id"));
	for (int i = 0; i < 200; i++) {
		rp = px_status();
		uint64_t held = rp->routes[0]->held;
		ferry__proxy_reply__free_unpacked(rp, NULL);
		if (held == 5)
			break;
		h_sleep_ms(10);
	}
	rp = px_status();
	cr_expect_eq(rp->routes[0]->held, 5);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect_eq(atomic_load(&B1.requests), 0);
	s.hold = 0;
	s.t[0].weight = 1;
	px_must_set(&s);
	for (int i = 0; i < 5; i++) {
		pthread_join(g[i].th, NULL);
		cr_expect_eq(g[i].status, 200);
		cr_expect_str_eq(g[i].body, "new");
	}
}

/* Held past max_pause: 503 with Retry-After, counted. */
Test(proxy, hold_expires)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .hold = 1, .pause_ms = 300 };
	struct resp r;
	uint64_t t0;
	Ferry__ProxyReply *rp;

	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", 9, 0 };
	px_must_set(&s);
	t0 = h_mono_ms();
	cr_expect_eq(req1(s.port, GET("/id"), &r), 503);
	cr_expect(hdr_has(&r, "Retry-After: 1"));
	cr_expect(h_mono_ms() - t0 >= 280);
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->held_expired, 1);
	cr_expect_eq(ref_of(rp, "web")->no_target, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* Drain: a slow request in flight on the old target completes after the
 * switch; new requests go to the new one; the old one is forgotten. */
Test(proxy, drain_in_flight)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct bg g;
	struct resp r;
	Ferry__ProxyReply *rp;
	int drained = 0;

	backend_start(&B1, "old", "127.0.0.1");
	backend_start(&B2, "new", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	bg_start(&g, s.port, GET("/slow/800"));
	for (int i = 0; i < 100 && atomic_load(&B1.requests) == 0; i++)
		h_sleep_ms(10);
	s.t[0] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	rp = px_status();
	cr_assert_eq(rp->routes[0]->n_targets, 2);
	for (size_t i = 0; i < 2; i++)
		if (rp->routes[0]->targets[i]->revision == 1) {
			cr_expect(rp->routes[0]->targets[i]->draining);
			cr_expect_eq(rp->routes[0]->targets[i]->active, 1);
		}
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect_str_eq(r.body, "new");
	pthread_join(g.th, NULL);
	cr_expect_eq(g.status, 200);
	cr_expect_str_eq(g.body, "old");
	for (int i = 0; i < 100 && !drained; i++) {
		rp = px_status();
		drained = rp->routes[0]->n_targets == 1;
		ferry__proxy_reply__free_unpacked(rp, NULL);
		h_sleep_ms(20);
	}
	cr_expect(drained, "the drained target is still listed");
}

/* An upgraded connection echoes, survives a route change, and is closed
 * at the old target's drain_timeout (counted). */
Test(proxy, upgrade_tunnel_drain)
{
	struct rspec s = { .service = "ws", .port = port_new(), .nt = 1,
	    .drain_ms = 700 };
	struct cl c;
	char b[256];
	ssize_t n;
	uint64_t t0;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "old", "127.0.0.1");
	backend_start(&B2, "new", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "GET /upgrade HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\n"
	    "Connection: Upgrade\r\n\r\n");
	n = recv(c.fd, b, sizeof(b) - 1, 0);
	cr_assert(n > 0);
	b[n] = '\0';
	cr_expect(strncmp(b, "HTTP/1.1 101", 12) == 0, "%s", b);
	send_str(c.fd, "ping");
	n = recv(c.fd, b, 4, MSG_WAITALL);
	cr_expect(n == 4 && memcmp(b, "ping", 4) == 0);
	s.t[0] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	t0 = h_mono_ms();
	send_str(c.fd, "pong");
	n = recv(c.fd, b, 4, MSG_WAITALL);
	cr_expect(n == 4 && memcmp(b, "pong", 4) == 0, "tunnel broken by "
	    "the route change");
	cr_expect(cl_closed(&c, 3000));
	cr_expect(h_mono_ms() - t0 >= 600, "closed after %llu ms",
	    (unsigned long long)(h_mono_ms() - t0));
	close(c.fd);
	rp = px_status();
	cr_expect_eq(ref_of(rp, "ws")->drain_closed, 1);
	cr_expect_eq(rev_of(rp, "ws", 1)->status_class[0], 1);
	cr_expect_eq(rev_of(rp, "ws", 1)->active, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* ---- bad input ---------------------------------------------------------- */

struct bad {
	const char *name;
	const char *req;
	int status;
};

/* Each smuggling shape and limit: its status, the connection closed,
 * nothing reached the backend, and counted under its kind. */
Test(proxy, bad_requests_refused)
{
	static const struct bad cases[] = {
		{ "two Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400 },
		{ "two equal Content-Length", "POST /echo HTTP/1.1\r\nHost: t"
		    "\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		    400 },
		{ "Content-Length with chunked", "POST /echo HTTP/1.1\r\nHost:"
		    " t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n3\r\nabc\r\n0\r\n\r\n", 400 },
		{ "final coding not chunked", "POST /echo HTTP/1.1\r\nHost: "
		    "t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n"
		    "0\r\n\r\n", 400 },
		{ "obs-fold", "GET /id HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n"
		    "\r\n", 400 },
		{ "bare LF", "GET /id HTTP/1.1\nHost: t\n\n", 400 },
		{ "bare LF in one line", "GET /id HTTP/1.1\r\nHost: t\nX: y"
		    "\r\n\r\n", 400 },
		{ "space before colon", "GET /id HTTP/1.1\r\nHost : t\r\n\r\n",
		    400 },
		{ "bad request line", "GET /id HTTP/9\r\nHost: t\r\n\r\n",
		    400 },
		{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		    400 },
		{ "chunked in HTTP/1.0", "POST /echo HTTP/1.0\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
		    "\r\n", 400 },
	};
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .max_body = 100 };
	Ferry__ProxyReply *rp;
	Ferry__ServiceRefusals *f;
	struct resp r;
	size_t i, n400 = 0;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cl c;

		cr_assert(cl_open(&c, s.port) >= 0);
		send_str(c.fd, cases[i].req);
		cr_expect_eq(cl_response(&c, &r, 0), cases[i].status,
		    "%s: got %d", cases[i].name, r.status);
		cr_expect(cl_closed(&c, 2000), "%s: not closed",
		    cases[i].name);
		close(c.fd);
		n400++;
	}
	/* Invalid chunk size: the head went through, the body is cut. */
	{
		struct cl c;

		cr_assert(cl_open(&c, s.port) >= 0);
		send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
		cr_expect_eq(cl_response(&c, &r, 0), 400);
		cr_expect(cl_closed(&c, 2000));
		close(c.fd);
		n400++;
	}
	/* 413: by Content-Length, and by a chunked body passing max_body. */
	cr_expect_eq(req1(s.port, "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 101\r\n\r\n", &r), 413);
	{
		struct cl c;
		char chunk[80];

		cr_assert(cl_open(&c, s.port) >= 0);
		send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
		memset(chunk, 'x', sizeof(chunk));
		for (int k = 0; k < 2; k++) {
			send_str(c.fd, "50\r\n");
			send_all(c.fd, chunk, sizeof(chunk));
			send_str(c.fd, "\r\n");
		}
		cr_expect_eq(cl_response(&c, &r, 0), 413);
		cr_expect(cl_closed(&c, 2000));
		close(c.fd);
	}
	/* 431: a head over header_max (16 KiB). */
	{
		struct cl c;
		char *big = malloc(20000);

		memset(big, 'a', 19999);
		big[19999] = '\0';
		cr_assert(cl_open(&c, s.port) >= 0);
		send_str(c.fd, "GET /id HTTP/1.1\r\nHost: t\r\nX-Big: ");
		send_str(c.fd, big);
		cr_expect_eq(cl_response(&c, &r, 0), 431);
		cr_expect(cl_closed(&c, 2000));
		close(c.fd);
		free(big);
	}
	/* None of them reached the backend, except the chunked 413's head
	 * (its body was cut before the end: the backend saw no request
	 * whole). */
	cr_expect_eq(atomic_load(&B1.requests), 0, "the backend saw %d "
	    "requests", atomic_load(&B1.requests));
	rp = px_status();
	cr_assert_not_null(f = ref_of(rp, "web"));
	cr_expect_eq(f->bad_request, n400, "bad_request %llu, sent %zu",
	    (unsigned long long)f->bad_request, n400);
	cr_expect_eq(f->body_too_large, 2);
	cr_expect_eq(f->header_too_large, 1);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(h_log_has(PX, "400: Content-Length with Transfer-Encoding") ||
	    h_log_has(PX, "400: malformed head"));
	cr_expect(h_log_has(PX, "400: obsolete line folding") ||
	    h_log_has(PX, "400: bare LF"));
}

/* A head not complete within header_timeout: 408, closed, counted. */
Test(proxy, header_timeout)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	const char *extra[] = { "--header-timeout", "500ms", NULL };
	struct cl c, idle;
	struct resp r;
	uint64_t t0;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", extra);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	cr_assert(cl_open(&idle, s.port) >= 0);
	t0 = h_mono_ms();
	send_str(c.fd, "GET /id HTTP/1.1\r\nHost: t\r\n");
	cr_expect_eq(cl_response(&c, &r, 0), 408);
	cr_expect(h_mono_ms() - t0 >= 450);
	cr_expect(cl_closed(&c, 2000));
	cr_expect(cl_closed(&idle, 2000), "a silent connection stays");
	close(c.fd);
	close(idle.fd);
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->header_timeout, 2);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect_eq(atomic_load(&B1.requests), 0);
}

/* No target (route removed targets' weights): 503, counted; a removed
 * route stops listening. */
Test(proxy, no_target_and_remove)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct resp r;
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp;

	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", 9, 1 };
	px_must_set(&s);
	s.nt = 0;
	s.hold = 0;
	{
		char err[300];

		/* Zero targets without hold is refused. */
		cr_expect(!px_set(&s, err, sizeof(err)));
	}
	s.nt = 1;
	s.t[0].weight = 0;
	s.hold = 1;
	s.pause_ms = 1;
	px_must_set(&s);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 503);
	rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
	rq.remove = (char *)"web";
	cr_assert(px_call(&rq, &rp) == 0);
	cr_expect(rp->ok, "%s", rp->error);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(dial(s.port) < 0, "still listening after remove");
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->held_expired, 1);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* A client that leaves mid-request frees everything: the upstream
 * connection closes, active goes back to 0, counted. */
Test(proxy, client_abort_frees)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, GET("/slow/3000"));
	for (int i = 0; i < 100 && atomic_load(&B1.requests) == 0; i++)
		h_sleep_ms(10);
	cr_expect_eq(active_total("web"), 1);
	close(c.fd);
	for (int i = 0; i < 100 && active_total("web") != 0; i++)
		h_sleep_ms(10);
	cr_expect_eq(active_total("web"), 0);
	/* The upstream connection was closed, not pooled: the next request
	 * opens a new one. */
	{
		struct resp r;

		cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
		cr_expect_eq(atomic_load(&B1.conns), 2);
	}
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->client_aborted, 1);
	cr_expect_eq(rev_of(rp, "web", 1)->active, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	/* A client leaving mid-body too. */
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
	    "100\r\n\r\nonly a part");
	h_sleep_ms(200);
	close(c.fd);
	for (int i = 0; i < 100 && active_total("web") != 0; i++)
		h_sleep_ms(10);
	cr_expect_eq(active_total("web"), 0);
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->client_aborted, 2);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* ---- the control socket's peers ------------------------------------------ */

/* as_nobody runs one status request as uid 65534 in a child; returns
 * what proxywire_call returned there (0: answered). */
static int
as_nobody(void)
{
	pid_t pid = fork();
	int st;

	cr_assert(pid >= 0);
	if (pid == 0) {
		Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
		Ferry__ProxyReply *rp = NULL;
		char err[300];
		int rc;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
		rq.status = 1;
		rc = proxywire_call(CTL, &rq, &rp, NULL, NULL, 3000, err,
		    sizeof(err));
		_exit(rc == 0 ? 0 : rc == FERR_IO ? 1 : 2);
	}
	cr_assert(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

/* The control socket answers root only: its folder is 0700 and the
 * socket 0600; and even with both opened up, a non-root peer is hung up
 * on (SO_PEERCRED) and logged. */
Test(proxy, control_root_only)
{
	struct stat st;
	char dir[600];
	int rc;

	cr_assert(geteuid() == 0, "this test needs root (it runs a child as "
	    "nobody)");
	PX = px_start("proxy", NULL);
	snprintf(dir, sizeof(dir), "%s/run", F.dir);
	cr_assert(stat(dir, &st) == 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_assert(stat(CTL, &st) == 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_expect_eq(as_nobody(), 1, "nobody could connect");
	chmod(F.dir, 0755);
	chmod(dir, 0755);
	chmod(CTL, 0666);
	rc = as_nobody();
	cr_expect(rc == 1 || rc == 2, "nobody was answered (%d)", rc);
	cr_expect(h_wait_log(PX, "control: connection from uid 65534", 2000));
}

/* ---- restarts ----------------------------------------------------------- */

/* Routes survive kill -9 and a restart (routes.pb). */
Test(proxy, routes_survive_restart)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 2 };
	struct rspec t = { .service = "db", .tcp = 1, .port = port_new(),
	    .nt = 1, .drain_ms = 1234 };
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	s.t[1] = (struct tspec){ 2, "127.0.0.1", B2.port, 0 };
	px_must_set(&s);
	t.t[0] = (struct tspec){ 5, "127.0.0.1", B2.port, 1 };
	px_must_set(&t);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	h_kill(PX, SIGKILL);
	cr_expect(dial(s.port) < 0);
	PX = px_start("proxy2", NULL);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect_str_eq(r.body, "one");
	cr_expect_eq(req1(t.port, GET("/id"), &r), 200);
	cr_expect_str_eq(r.body, "two");
	rp = px_status();
	cr_assert_eq(rp->n_routes, 2);
	for (size_t i = 0; i < 2; i++) {
		Ferry__ProxyRoute *o = rp->routes[i];

		if (strcmp(o->service, "db") == 0) {
			cr_expect_eq(o->mode, FERRY__PROXY_MODE__PROXY_TCP);
			cr_expect_eq(o->drain_timeout_ms, 1234);
			cr_expect_eq(o->n_targets, 1);
		} else {
			cr_expect_eq(o->n_targets, 2);
		}
	}
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* A load loop of new connections (each one request) runs while a new
 * proxy takes over from the running one: no connection is refused and
 * every request is answered. */
struct loop {
	int port;
	atomic_int stop;
	int sent, ok, refused, failed;
	pthread_t th;
};

static void *
loop_run(void *arg)
{
	struct loop *l = arg;
	struct resp *r = malloc(sizeof(*r));
	uint64_t end = h_mono_ms() + 30000;

	while (!atomic_load(&l->stop) && h_mono_ms() < end) {
		struct cl *c = malloc(sizeof(*c));

		l->sent++;
		if (cl_open(c, l->port) < 0) {
			l->refused++;
			free(c);
			continue;
		}
		send_str(c->fd, GET("/id"));
		if (cl_response(c, r, 0) == 200)
			l->ok++;
		else
			l->failed++;
		close(c->fd);
		free(c);
	}
	free(r);
	return NULL;
}

Test(proxy, handoff_refuses_nothing)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .drain_ms = 2000 };
	struct loop l[2];
	struct h_proc *old;
	Ferry__ProxyReply *rp;
	int before;

	backend_start(&B1, "one", "127.0.0.1");
	old = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	for (int i = 0; i < 2; i++) {
		memset(&l[i], 0, sizeof(l[i]));
		l[i].port = s.port;
		pthread_create(&l[i].th, NULL, loop_run, &l[i]);
	}
	h_sleep_ms(300);
	before = l[0].ok + l[1].ok;
	PX = px_start("proxy2", NULL);
	cr_expect(h_wait_log(old, "handed 1 listening socket", 3000));
	/* The old one finishes and exits by itself. */
	for (int i = 0; i < 300 && h_alive(old); i++)
		h_sleep_ms(10);
	cr_expect(!h_alive(old), "the old proxy still runs");
	h_sleep_ms(300);
	for (int i = 0; i < 2; i++) {
		atomic_store(&l[i].stop, 1);
		pthread_join(l[i].th, NULL);
	}
	cr_expect(l[0].ok + l[1].ok > before + 20, "the load did not run "
	    "through the handoff (%d, %d)", before, l[0].ok + l[1].ok);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(l[i].refused, 0, "loop %d: %d of %d refused", i,
		    l[i].refused, l[i].sent);
		cr_expect_eq(l[i].failed, 0, "loop %d: %d of %d failed", i,
		    l[i].failed, l[i].sent);
	}
	rp = px_status();
	cr_expect_eq(rp->n_routes, 1);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(h_log_has(PX, "took 1 listening socket"));
}

/* ---- memory ------------------------------------------------------------- */

static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* A 1 GiB upload is streamed: the backend gets every byte and the
 * proxy's resident memory stays under 16 MiB throughout. */
Test(proxy, upload_1g_streamed, .timeout = 180)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	const long long total = 1LL << 30;
	char *block = malloc(1 << 16);
	struct cl c;
	struct resp r;
	long long sent = 0;
	long max = 0, k;
	char want[64];

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	memset(block, 'u', 1 << 16);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: "
	    "1073741824\r\n\r\n");
	while (sent < total) {
		send_all(c.fd, block, 1 << 16);
		sent += 1 << 16;
		if ((sent & ((1 << 24) - 1)) == 0 &&
		    (k = rss_kib(PX->pid)) > max)
			max = k;
	}
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	snprintf(want, sizeof(want), "n=%lld ", total);
	cr_expect(strncmp(r.body, want, strlen(want)) == 0, "%s", r.body);
	cr_expect_eq(atomic_load(&B1.body_bytes), total);
	cr_expect(max > 0);
	if (!SANITIZED)
		cr_expect(max < 16 * 1024, "the proxy's VmRSS reached %ld KiB",
		    max);
	cr_log_info("upload_1g_streamed: the proxy's VmRSS peaked at %ld KiB",
	    max);
	close(c.fd);
	free(block);
}

/* ---- counting ----------------------------------------------------------- */

/* The counts in status equal what was sent, exactly: requests and status
 * classes per revision, the refusals per kind, latency observations. */
Test(proxy, counts_exact)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 2 };
	Ferry__ProxyReply *rp;
	Ferry__RevisionTraffic *a, *b;
	struct resp r;
	uint64_t obs = 0;
	int n2 = 0, n4 = 0;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	s.t[1] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	for (int i = 0; i < 60; i++) {
		int st = req1(s.port, i % 3 == 0 ? GET("/nope") : GET("/id"),
		    &r);

		if (st == 200)
			n2++;
		else if (st == 404)
			n4++;
	}
	cr_expect_eq(n2, 40);
	cr_expect_eq(n4, 20);
	req1(s.port, "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", &r);
	rp = px_status();
	a = rev_of(rp, "web", 1);
	b = rev_of(rp, "web", 2);
	cr_assert(a != NULL && b != NULL);
	cr_expect_eq(a->requests + b->requests, 60);
	cr_expect_eq(a->requests, 30);
	cr_expect_eq(a->status_class[1] + b->status_class[1], 40);
	cr_expect_eq(a->status_class[3] + b->status_class[3], 20);
	for (size_t i = 0; i < a->n_latency; i++)
		obs += a->latency[i] + b->latency[i];
	cr_expect_eq(obs, 60);
	cr_expect_eq(a->n_latency, 23);
	/* Microseconds, not milliseconds: fast loopback answers land in
	 * the low buckets and the sum is not a multiple of 1000 each. */
	cr_expect(a->latency_sum_us + b->latency_sum_us > 0);
	cr_expect(a->latency[22] + b->latency[22] == 0);
	{
		int any_frac = 0;

		for (size_t i = 0; i < 8; i++)
			any_frac |= a->latency[i] + b->latency[i] > 0;
		cr_expect(any_frac, "no answer under 6.4 ms");
	}
	cr_expect((a->latency_sum_us + b->latency_sum_us) % 1000 != 0,
	    "latencies look rounded to milliseconds");
	cr_expect_eq(ref_of(rp, "web")->bad_request, 1);
	cr_expect_eq(a->active + b->active, 0);
	cr_expect_eq(rp->traffic->boot.len, 16);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* A kept-alive upstream connection the backend closes as the next
 * request arrives: the request (no body) goes again over a new
 * connection; the client sees no error. */
Test(proxy, pooled_connection_closed_retried)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	atomic_store(&B1.drop_second, 1);
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	for (int i = 0; i < 5; i++) {
		send_str(c.fd, GET("/id"));
		cr_expect_eq(cl_response(&c, &r, 0), 200, "request %d", i);
	}
	close(c.fd);
	cr_expect_eq(atomic_load(&B1.conns), 5);
	rp = px_status();
	cr_expect_eq(rev_of(rp, "web", 1)->requests, 5);
	cr_expect_eq(rev_of(rp, "web", 1)->failed_reset, 0);
	cr_expect_eq(rev_of(rp, "web", 1)->status_class[1], 5);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* ---- systemd: the fd store and LISTEN_FDS --------------------------------- */

/* notify_recv reads one datagram from the fake NOTIFY_SOCKET (bounded);
 * its text in buf, a passed descriptor in *fd (-1: none). */
static int
notify_recv(int s, char *buf, size_t len, int *fd, int ms)
{
	struct pollfd pf = { .fd = s, .events = POLLIN };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(64)];
	} ctl;
	struct iovec iov = { buf, len - 1 };
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	if (poll(&pf, 1, ms) <= 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.b;
	m.msg_controllen = sizeof(ctl.b);
	if ((n = recvmsg(s, &m, MSG_CMSG_CLOEXEC)) < 0)
		return -1;
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

/* notify_wait reads datagrams until one contains text (bounded). */
static int
notify_wait(int s, const char *text, int *fd, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	char buf[512];

	while (h_mono_ms() < end) {
		int f;

		if (notify_recv(s, buf, sizeof(buf), &f, 100) != 0)
			continue;
		if (strstr(buf, text) != NULL) {
			if (fd != NULL)
				*fd = f;
			else if (f >= 0)
				close(f);
			return 1;
		}
		if (f >= 0)
			close(f);
	}
	return 0;
}

/* spawn_with_fd starts ferry-proxy as systemd would after a restart: the
 * stored socket as descriptor 3, LISTEN_FDS=1, LISTEN_FDNAMES=name. */
static pid_t
spawn_with_fd(int fd, const char *name, const char *log, const char *notify)
{
	char bin[512];
	pid_t pid;

	h_bin("ferry-proxy", bin, sizeof(bin));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char n[32];
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(lf, 1);
		dup2(lf, 2);
		if (fd != 3) {
			dup2(fd, 3);
			close(fd);
		}
		fcntl(3, F_SETFD, 0);
		snprintf(n, sizeof(n), "%d", (int)getpid());
		setenv("LISTEN_PID", n, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", name, 1);
		setenv("NOTIFY_SOCKET", notify, 1);
		execl(bin, bin, "-d", "-v", "--state-dir", STATE, "--control",
		    CTL, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* A route's socket goes into systemd's fd store; after kill -9 a proxy
 * started with that socket (LISTEN_FDS) serves a connection made while
 * no proxy ran (it waited in the backlog, not refused); a removed route
 * leaves the store. */
Test(proxy, systemd_fd_store)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct sockaddr_un sa;
	char path[600], name[64], log[600];
	int ns, stored = -1, st;
	struct cl c;
	struct resp r;
	pid_t pid;
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	snprintf(path, sizeof(path), "%s/notify", F.dir);
	ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	cr_assert(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert(bind(ns, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	setenv("NOTIFY_SOCKET", path, 1);
	PX = px_start("proxy", NULL);
	unsetenv("NOTIFY_SOCKET");
	cr_expect(notify_wait(ns, "READY=1", NULL, 3000));
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	snprintf(name, sizeof(name), "FDNAME=127.0.0.1_%d", s.port);
	cr_assert(notify_wait(ns, name, &stored, 3000), "no FDSTORE");
	cr_assert(stored >= 0, "FDSTORE came without a descriptor");
	h_kill(PX, SIGKILL);
	/* No proxy runs; the stored socket still listens. */
	cr_assert(cl_open(&c, s.port) >= 0, "refused while no proxy ran");
	send_str(c.fd, GET("/id"));
	snprintf(log, sizeof(log), "%s/proxy-lfd.log", F.dir);
	snprintf(name, sizeof(name), "127.0.0.1_%d", s.port);
	pid = spawn_with_fd(stored, name, log, path);
	close(stored);
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "one");
	close(c.fd);
	/* Its control socket answers; remove the route. */
	for (int i = 0; i < 200 && access(CTL, F_OK) != 0; i++)
		h_sleep_ms(10);
	rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
	rq.remove = (char *)"web";
	for (int i = 0; i < 100; i++) {
		if (px_call(&rq, &rp) == 0)
			break;
		rp = NULL;
		h_sleep_ms(20);
	}
	cr_assert_not_null(rp);
	cr_expect(rp->ok);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	snprintf(name, sizeof(name), "FDSTOREREMOVE=1\nFDNAME=127.0.0.1_%d",
	    s.port);
	cr_expect(notify_wait(ns, name, NULL, 3000), "no FDSTOREREMOVE");
	kill(pid, SIGTERM);
	cr_expect(waitpid(pid, &st, 0) == pid);

	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(ns);
}

/* Changing a route's mode on the same port keeps the socket. */
Test(proxy, mode_change_same_port)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	s.tcp = 1;
	px_must_set(&s);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	rp = px_status();
	cr_expect_eq(rp->routes[0]->mode, FERRY__PROXY_MODE__PROXY_TCP);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(!h_log_has(PX, "cannot listen"));
}

/* Idle, the proxy holds at most 4 MiB; each open keep-alive client
 * connection (1000 of them, each after one request) at most 20 KiB. */
Test(proxy, memory_idle_and_per_connection, .timeout = 120)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	static struct cl c[1000];
	struct resp r;
	struct rlimit rl;
	long idle, busy;
	double per;

	cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	cr_assert(rl.rlim_cur >= 1200, "open files limit %llu",
	    (unsigned long long)rl.rlim_cur);
	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert_eq(req1(s.port, GET("/id"), &r), 200);
	h_sleep_ms(200);
	idle = rss_kib(PX->pid);
	for (int i = 0; i < 1000; i++) {
		cr_assert(cl_open(&c[i], s.port) >= 0, "connection %d", i);
		send_str(c[i].fd, GET("/id"));
		cr_assert_eq(cl_response(&c[i], &r, 0), 200);
	}
	busy = rss_kib(PX->pid);
	per = (double)(busy - idle) * 1024 / 1000;
	for (int i = 0; i < 1000; i++)
		close(c[i].fd);
	cr_log_info("memory: idle %ld KiB, 1000 keep-alive connections "
	    "%ld KiB: %.0f bytes each", idle, busy, per);
	if (!SANITIZED) {
		cr_expect(idle <= 4096, "idle VmRSS %ld KiB", idle);
		cr_expect(per <= 20 * 1024, "%.0f bytes a connection", per);
	}
}

/* A response to HEAD has no body whatever its Content-Length says: the
 * next request on the connection is answered. */
Test(proxy, head_then_get)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct cl c;
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "HEAD /id HTTP/1.1\r\nHost: t\r\n\r\n" GET("/id"));
	cr_expect_eq(cl_response(&c, &r, 1), 200);
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "one");
	close(c.fd);
}

/* TCP: held connections go on when the route gets a target; a refused
 * target closes the connection and is counted. */
Test(proxy, tcp_hold_and_refused)
{
	struct rspec s = { .service = "db", .tcp = 1, .port = port_new(),
	    .nt = 1, .hold = 1, .pause_ms = 5000 };
	struct bg g;
	struct cl c;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 0 };
	px_must_set(&s);
	bg_start(&g, s.port, GET("/id"));
	for (int i = 0; i < 200; i++) {
		uint64_t held;

		rp = px_status();
		held = rp->routes[0]->held;
		ferry__proxy_reply__free_unpacked(rp, NULL);
		if (held == 1)
			break;
		h_sleep_ms(10);
	}
	s.hold = 0;
	s.t[0].weight = 1;
	px_must_set(&s);
	pthread_join(g.th, NULL);
	cr_expect_eq(g.status, 200);
	cr_expect_str_eq(g.body, "one");
	s.t[0] = (struct tspec){ 2, "127.0.0.1", port_new(), 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	cr_expect(cl_closed(&c, 3000));
	close(c.fd);
	rp = px_status();
	cr_expect_eq(rev_of(rp, "db", 2)->failed_refused, 1);
	cr_expect_eq(rev_of(rp, "db", 2)->active, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* A request still in flight at the old target's drain_timeout is closed
 * and counted; the route's new target serves the next one. */
Test(proxy, drain_timeout_closes_requests)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .drain_ms = 300 };
	struct cl c;
	struct resp r;
	uint64_t t0;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "old", "127.0.0.1");
	backend_start(&B2, "new", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, GET("/slow/5000"));
	for (int i = 0; i < 100 && atomic_load(&B1.requests) == 0; i++)
		h_sleep_ms(10);
	s.t[0] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	t0 = h_mono_ms();
	cr_expect(cl_closed(&c, 3000));
	cr_expect(h_mono_ms() - t0 >= 250 && h_mono_ms() - t0 < 2000,
	    "closed after %llu ms", (unsigned long long)(h_mono_ms() - t0));
	close(c.fd);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect_str_eq(r.body, "new");
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->drain_closed, 1);
	cr_expect_eq(rev_of(rp, "web", 1)->active, 0);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(h_log_has(PX, "closed at drain_timeout (request in flight"));
}

/* Control requests that are not requests: refused or hung up on, logged,
 * and the proxy goes on. */
Test(proxy, control_garbage)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct sockaddr_un sa;
	char err[300];
	int fd;
	uint8_t junk[] = { 0, 0, 0, 3, 0xff, 0xff, 0xff };
	uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff };
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp;

	PX = px_start("proxy", NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, CTL, strlen(CTL) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	send_all(fd, junk, sizeof(junk));
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	send_all(fd, huge, sizeof(huge));
	cr_expect(h_wait_log(PX, "connection closed", 2000));
	close(fd);
	cr_expect(h_wait_log(PX, "request does not unpack", 2000));
	/* An empty request (no op). */
	cr_assert(px_call(&rq, &rp) == 0);
	cr_expect(!rp->ok);
	cr_expect(strstr(rp->error, "op") != NULL, "%s", rp->error);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	/* A mode that is none. */
	s.t[0] = (struct tspec){ 1, "127.0.0.1", 8080, 1 };
	s.tcp = 7;
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "mode") != NULL, "%s", err);
	s.tcp = 0;
	s.t[1] = s.t[0];
	s.nt = 2;
	cr_expect(!px_set(&s, err, sizeof(err)));
	cr_expect(strstr(err, "targets[1]") != NULL, "%s", err);
	s.nt = 1;
	cr_expect(px_set(&s, err, sizeof(err)), "%s", err);
}

/* An idle keep-alive client connection closes after idle_timeout; past
 * connections_max, new connections are closed at once. */
/* The client connection's timer is re-armed lazily: a deadline further
 * away than the running timer's lets it fire and re-arm for the rest.
 * With idle_timeout 400ms and header_timeout 1000ms: requests 100 ms
 * apart for 600 ms keep the connection (idle counts from each answer,
 * not from the first); a head begun 100 ms after an answer and never
 * finished gets its 408 header_timeout after its first byte, not when
 * the idle timer, due earlier, fires. */
Test(proxy, timers_rearm_lazily)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	const char *extra[] = { "--idle-timeout", "400ms",
	    "--header-timeout", "1000ms", NULL };
	struct cl c;
	struct resp r;
	uint64_t t0;
	int i;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", extra);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	for (i = 0; i < 6; i++) {
		send_str(c.fd, GET("/id"));
		cr_assert_eq(cl_response(&c, &r, 0), 200, "request %d", i);
		h_sleep_ms(100);
	}
	send_str(c.fd, "GET /id HTTP/1.1\r\nHost: t\r\n");
	t0 = h_mono_ms();
	cr_expect(!cl_closed(&c, 700), "closed before header_timeout");
	cr_expect_eq(cl_response(&c, &r, 0), 408);
	cr_expect(h_mono_ms() - t0 >= 900, "408 after %llu ms",
	    (unsigned long long)(h_mono_ms() - t0));
	close(c.fd);
	cr_expect_eq(atomic_load(&B1.requests), 6);
}

Test(proxy, idle_timeout_and_connections_max)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	const char *extra[] = { "--idle-timeout", "400ms",
	    "--connections-max", "2", NULL };
	struct cl a, b, c;
	struct resp r;
	uint64_t t0;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", extra);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&a, s.port) >= 0);
	send_str(a.fd, GET("/id"));
	cr_expect_eq(cl_response(&a, &r, 0), 200);
	t0 = h_mono_ms();
	cr_assert(cl_open(&b, s.port) >= 0);
	send_str(b.fd, GET("/id"));
	cr_expect_eq(cl_response(&b, &r, 0), 200);
	cr_assert(cl_open(&c, s.port) >= 0);
	cr_expect(cl_closed(&c, 1000), "a third connection was kept");
	cr_expect(h_wait_log(PX, "closed at once: connections_max (2)",
	    2000));
	close(c.fd);
	cr_expect(cl_closed(&a, 3000));
	cr_expect(h_mono_ms() - t0 >= 300);
	close(a.fd);
	close(b.fd);
}

/* A set whose port cannot be listened on is refused, names the field and
 * changes nothing: the route keeps serving where it was, before and
 * after a restart. */
Test(proxy, set_port_in_use_changes_nothing)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	struct rspec busy;
	char err[300];
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	busy = s;
	busy.port = B1.port;	/* the backend listens there */
	cr_expect(!px_set(&busy, err, sizeof(err)));
	cr_expect(strstr(err, "listen_port") != NULL, "%s", err);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	rp = px_status();
	cr_assert_eq(rp->n_routes, 1);
	cr_expect_eq(rp->routes[0]->listen_port, (uint32_t)s.port);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	h_kill(PX, SIGKILL);
	PX = px_start("proxy2", NULL);
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect(h_log_has(PX, "1 of 1 route(s) restored"));
}

/* A route moved to another port: the old port stops listening, a request
 * in flight there finishes, and status shows an entry a port (the old
 * port's removed, its target draining, with its active request). */
Test(proxy, route_moves_port)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	int old = s.port;
	struct bg g;
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "old", "127.0.0.1");
	backend_start(&B2, "new", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	bg_start(&g, old, GET("/slow/600"));
	for (int i = 0; i < 100 && atomic_load(&B1.requests) == 0; i++)
		h_sleep_ms(10);
	s.port = port_new();
	s.t[0] = (struct tspec){ 2, "127.0.0.1", B2.port, 1 };
	px_must_set(&s);
	/* A route a port: the live one on the new port first, then the old
	 * port's, removed, its target draining with the request on it. */
	rp = px_status();
	cr_assert_eq(rp->n_routes, 2);
	cr_expect_eq(rp->routes[0]->listen_port, (uint32_t)s.port);
	cr_expect(!rp->routes[0]->removed);
	cr_assert_eq(rp->routes[0]->n_targets, 1);
	cr_expect_eq(rp->routes[0]->targets[0]->revision, 2);
	cr_expect(!rp->routes[0]->targets[0]->draining);
	cr_expect_eq(rp->routes[1]->listen_port, (uint32_t)old);
	cr_expect(rp->routes[1]->removed);
	cr_assert_eq(rp->routes[1]->n_targets, 1);
	cr_expect_eq(rp->routes[1]->targets[0]->revision, 1);
	cr_expect(rp->routes[1]->targets[0]->draining);
	cr_expect_eq(rp->routes[1]->targets[0]->active, 1);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(dial(old) < 0, "the old port still listens");
	cr_expect_eq(req1(s.port, GET("/id"), &r), 200);
	cr_expect_str_eq(r.body, "new");
	pthread_join(g.th, NULL);
	cr_expect_eq(g.status, 200);
	cr_expect_str_eq(g.body, "old");
}

/* A request body that stalls is the client's doing: 408, not a 504
 * counted on the target. */
Test(proxy, stalled_body_is_408)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .upstream_ms = 400 };
	struct cl c;
	struct resp r;
	Ferry__ProxyReply *rp;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10"
	    "\r\n\r\nabc");
	cr_expect_eq(cl_response(&c, &r, 0), 408);
	cr_expect(cl_closed(&c, 2000));
	close(c.fd);
	rp = px_status();
	cr_expect_eq(rev_of(rp, "web", 1)->failed_timeout, 0);
	cr_expect_eq(rev_of(rp, "web", 1)->status_class[3], 1);
	cr_expect_eq(rev_of(rp, "web", 1)->active, 0);
	cr_expect_eq(ref_of(rp, "web")->client_aborted, 1);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/* After a burst of 80 concurrent requests, a target's pool keeps 64 idle
 * upstream connections and closes the rest. */
Test(proxy, pool_capped)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1 };
	static struct bg g[80];
	int open = -1;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	for (int i = 0; i < 80; i++)
		bg_start(&g[i], s.port, GET("/slow/500"));
	for (int i = 0; i < 80; i++) {
		pthread_join(g[i].th, NULL);
		cr_expect_eq(g[i].status, 200);
	}
	cr_expect_eq(atomic_load(&B1.conns), 80);
	for (int i = 0; i < 200; i++) {
		open = atomic_load(&B1.open);
		if (open == 64)
			break;
		h_sleep_ms(10);
	}
	cr_expect_eq(open, 64, "%d upstream connections open", open);
}

/* TCP: a client's half-close goes on to the target after its bytes; the
 * answer still comes back whole, then the connection ends. */
Test(proxy, tcp_half_close)
{
	struct rspec s = { .service = "db", .tcp = 1, .port = port_new(),
	    .nt = 1 };
	struct cl c;
	struct resp r;

	backend_start(&B1, "one", "127.0.0.1");
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	px_must_set(&s);
	cr_assert(cl_open(&c, s.port) >= 0);
	send_str(c.fd, "GET /old HTTP/1.0\r\n\r\n");
	shutdown(c.fd, SHUT_WR);
	cr_expect_eq(cl_response(&c, &r, 0), 200);
	cr_expect_str_eq(r.body, "close-delimited body");
	close(c.fd);
	for (int i = 0; i < 100 && active_total("db") != 0; i++)
		h_sleep_ms(10);
	cr_expect_eq(active_total("db"), 0);
}

/* The hold queue takes 1024 requests; the next one gets 503 with
 * Retry-After at once, counted held_expired. */
Test(proxy, hold_queue_full)
{
	struct rspec s = { .service = "web", .port = port_new(), .nt = 1,
	    .hold = 1, .pause_ms = 20000 };
	static struct cl c[1025];
	struct resp r;
	struct rlimit rl;
	Ferry__ProxyReply *rp;
	uint64_t held = 0;

	cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	cr_assert(rl.rlim_cur >= 1200);
	PX = px_start("proxy", NULL);
	s.t[0] = (struct tspec){ 1, "127.0.0.1", 9, 0 };
	px_must_set(&s);
	for (int i = 0; i < 1024; i++) {
		cr_assert(cl_open(&c[i], s.port) >= 0, "connection %d", i);
		send_str(c[i].fd, GET("/id"));
	}
	for (int i = 0; i < 300 && held < 1024; i++) {
		rp = px_status();
		held = rp->routes[0]->held;
		ferry__proxy_reply__free_unpacked(rp, NULL);
		if (held < 1024)
			h_sleep_ms(10);
	}
	cr_expect_eq(held, 1024);
	cr_assert(cl_open(&c[1024], s.port) >= 0);
	send_str(c[1024].fd, GET("/id"));
	cr_expect_eq(cl_response(&c[1024], &r, 0), 503);
	cr_expect(hdr_has(&r, "Retry-After: 1"));
	rp = px_status();
	cr_expect_eq(ref_of(rp, "web")->held_expired, 1);
	cr_expect_eq(rp->routes[0]->held, 1024);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_expect(h_log_has(PX, "hold queue full"));
	/* Stopping, the proxy answers what it holds at once. */
	kill(PX->pid, SIGTERM);
	for (int i = 0; i < 1024; i++)
		cr_expect_eq(cl_response(&c[i], &r, 0), 503, "held %d", i);
	for (int i = 0; i < 1025; i++)
		close(c[i].fd);
	{
		int st = -1;

		cr_expect(waitpid(PX->pid, &st, 0) == PX->pid);
		PX->pid = 0;
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d",
		    st);
	}
}

/* ---- several host ports of a service ------------------------------------ */

/* route_fill makes r (targets in t, tp) what s says. */
static void
route_fill(const struct rspec *s, Ferry__ProxyRoute *r,
    Ferry__ProxyTarget *t, Ferry__ProxyTarget **tp)
{
	ferry__proxy_route__init(r);
	r->service = (char *)s->service;
	r->mode = s->tcp ? FERRY__PROXY_MODE__PROXY_TCP :
	    FERRY__PROXY_MODE__PROXY_HTTP;
	r->listen_address = (char *)"127.0.0.1";
	r->listen_port = (uint32_t)s->port;
	r->drain_timeout_ms = s->drain_ms;
	r->hold = s->hold;
	for (int i = 0; i < s->nt; i++) {
		ferry__proxy_target__init(&t[i]);
		t[i].revision = s->t[i].rev;
		t[i].address = (char *)s->t[i].addr;
		t[i].port = (uint32_t)s->t[i].port;
		t[i].weight = s->t[i].weight;
		tp[i] = &t[i];
	}
	r->targets = tp;
	r->n_targets = (size_t)s->nt;
}

/* px_ports sends ports: service's routes rs[0..n); returns ok, with the
 * error in err. */
static int
px_ports(const char *service, const struct rspec *rs, int n, char *err,
    size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyPortSet ps = FERRY__PROXY_PORT_SET__INIT;
	Ferry__ProxyRoute r[4], *rp[4];
	Ferry__ProxyTarget t[4][4], *tp[4][4];
	Ferry__ProxyReply *rep = NULL;
	int ok;

	for (int i = 0; i < n; i++) {
		route_fill(&rs[i], &r[i], t[i], tp[i]);
		rp[i] = &r[i];
	}
	ps.service = (char *)service;
	ps.routes = rp;
	ps.n_routes = (size_t)n;
	rq.op_case = FERRY__PROXY_REQUEST__OP_PORTS;
	rq.ports = &ps;
	cr_assert(px_call(&rq, &rep) == 0, "ports: no answer");
	ok = rep->ok;
	if (err != NULL)
		snprintf(err, errlen, "%s", rep->error ? rep->error : "");
	ferry__proxy_reply__free_unpacked(rep, NULL);
	return ok;
}

/* closed: nothing takes a connection on port now. */
static int
closed(int port)
{
	int fd = dial(port);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

/* body_on: the body of GET /id on port ("" when no 200). */
static const char *
body_on(int port)
{
	static struct resp r;

	if (req1(port, GET("/id"), &r) != 200)
		return "";
	return r.body;
}

/* web_ports: how many live routes of web the status lists, each port's
 * target revisions summed into *revs. */
static int
web_ports(uint64_t *revs)
{
	Ferry__ProxyReply *rp = px_status();
	int n = 0;

	*revs = 0;
	for (size_t i = 0; i < rp->n_routes; i++) {
		if (strcmp(rp->routes[i]->service, "web") != 0 ||
		    rp->routes[i]->removed)
			continue;
		n++;
		for (size_t k = 0; k < rp->routes[i]->n_targets; k++)
			*revs += rp->routes[i]->targets[k]->revision;
	}
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return n;
}

static void
px_drain(int drained)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp = NULL;

	rq.op_case = FERRY__PROXY_REQUEST__OP_DRAIN;
	rq.drain = drained;
	cr_assert(px_call(&rq, &rp) == 0, "drain: no answer");
	cr_assert(rp->ok, "drain: %s", rp->error);
	ferry__proxy_reply__free_unpacked(rp, NULL);
}

/*
 * A service with two host ports: a route each, its own targets; ports
 * sets them together, a set of one port takes the other away; a ports
 * that cannot be made (a port twice, another service's port, a port
 * that cannot listen) changes nothing; drain pauses both, a handoff
 * passes both, a restart brings both back from routes.pb, and remove
 * closes both while another service goes on.
 */
Test(proxy, several_ports_of_a_service)
{
	struct rspec w[2] = {
		{ .service = "web", .port = port_new(), .nt = 1 },
		{ .service = "web", .port = port_new(), .nt = 1 },
	};
	struct rspec api = { .service = "api", .port = port_new(), .nt = 1 };
	struct rspec bad[2];
	struct h_proc *old;
	char err[400];
	uint64_t revs;
	int busy, busyfd;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	PX = px_start("proxy", NULL);
	w[0].t[0] = (struct tspec){ 1, "127.0.0.1", B1.port, 1 };
	w[1].t[0] = (struct tspec){ 1, "127.0.0.1", B2.port, 1 };
	api.t[0] = (struct tspec){ 7, "127.0.0.1", B2.port, 1 };
	px_must_set(&api);
	cr_assert(px_ports("web", w, 2, err, sizeof(err)), "%s", err);
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_str_eq(body_on(w[1].port), "two");
	cr_expect_eq(web_ports(&revs), 2);
	cr_expect(h_log_has(PX, "web: http on 127.0.0.1:"));

	/* The older set, one route: the service's other port goes. */
	px_must_set(&w[0]);
	cr_expect(closed(w[1].port), "the port left the set but listens");
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_eq(web_ports(&revs), 1);
	cr_expect(h_log_has(PX, "left the service's routes; draining"));
	/* Both again, revision 2 on each: the targets change in place. */
	w[0].t[0].rev = w[1].t[0].rev = 2;
	cr_assert(px_ports("web", w, 2, err, sizeof(err)), "%s", err);
	cr_expect_str_eq(body_on(w[1].port), "two");
	cr_expect_eq(web_ports(&revs), 2);
	cr_expect_eq(revs, 4);

	/* Refusals: nothing changes. */
	bad[0] = w[0];
	bad[1] = w[0];
	cr_expect(!px_ports("web", bad, 2, err, sizeof(err)));
	cr_expect(strstr(err, "routes[1].listen_port: ") != NULL &&
	    strstr(err, "is routes[0]'s too") != NULL, "%s", err);
	bad[1] = w[1];
	bad[1].port = api.port;
	cr_expect(!px_ports("web", bad, 2, err, sizeof(err)));
	cr_expect(strstr(err, "is already service api's") != NULL, "%s",
	    err);
	bad[1] = api;
	cr_expect(!px_ports("web", bad, 2, err, sizeof(err)));
	cr_expect_str_eq(err, "routes[1].service: \"api\" is not web");
	busyfd = tcp_listen("127.0.0.1", &busy);
	bad[1] = w[1];
	bad[1].port = busy;
	cr_expect(!px_ports("web", bad, 2, err, sizeof(err)));
	cr_expect(strstr(err, "cannot listen on 127.0.0.1:") != NULL, "%s",
	    err);
	close(busyfd);
	cr_expect(!px_ports("web", NULL, 0, err, sizeof(err)));
	cr_expect(strstr(err, "routes: 0 of them") != NULL, "%s", err);
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_str_eq(body_on(w[1].port), "two");
	cr_expect_eq(web_ports(&revs), 2);
	cr_expect_eq(revs, 4);
	cr_expect(h_log_has(PX, "control: ports refused: "));

	/* Drain: both ports (and api's) refuse connections; undrain. */
	px_drain(1);
	cr_expect(closed(w[0].port) && closed(w[1].port) && closed(api.port),
	    "a port takes connections while drained");
	px_drain(0);
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_str_eq(body_on(w[1].port), "two");

	/* A handoff passes every listener. */
	old = PX;
	PX = px_start("proxy2", NULL);
	cr_expect(h_wait_log(old, "handed 3 listening socket", 3000));
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_str_eq(body_on(w[1].port), "two");
	cr_expect_eq(web_ports(&revs), 2);

	/* A restart reads both back from routes.pb. */
	h_kill(PX, SIGKILL);
	cr_expect(closed(w[1].port));
	PX = px_start("proxy3", NULL);
	cr_expect(h_log_has(PX, "3 of 3 route(s) restored"));
	cr_expect_str_eq(body_on(w[0].port), "one");
	cr_expect_str_eq(body_on(w[1].port), "two");

	/* Remove: every port of web closes; api serves on. */
	{
		Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
		Ferry__ProxyReply *rp = NULL;

		rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
		rq.remove = (char *)"web";
		cr_assert(px_call(&rq, &rp) == 0);
		cr_expect(rp->ok, "%s", rp->error);
		ferry__proxy_reply__free_unpacked(rp, NULL);
	}
	cr_expect(closed(w[0].port) && closed(w[1].port),
	    "web still listens after remove");
	cr_expect_eq(web_ports(&revs), 0);
	cr_expect_str_eq(body_on(api.port), "two");
	cr_expect(h_log_has(PX, "web: removed (2 port(s)); draining"));
}

/* A routes.pb as a proxy with one route per service wrote it (a
 * ProxyReply's routes) loads as it always did. */
Test(proxy, one_route_per_service_file_loads)
{
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;
	Ferry__ProxyRoute r[2], *rp[2] = { &r[0], &r[1] };
	Ferry__ProxyTarget t[2][4], *tp[2][4];
	struct rspec a = { .service = "web", .port = port_new(), .nt = 1 };
	struct rspec b = { .service = "db", .tcp = 1, .port = port_new(),
	    .nt = 1 };
	char path[700];
	uint8_t *buf;
	size_t len;
	FILE *f;
	Ferry__ProxyReply *st;

	backend_start(&B1, "one", "127.0.0.1");
	backend_start(&B2, "two", "127.0.0.1");
	a.t[0] = (struct tspec){ 3, "127.0.0.1", B1.port, 1 };
	b.t[0] = (struct tspec){ 4, "127.0.0.1", B2.port, 1 };
	route_fill(&a, &r[0], t[0], tp[0]);
	route_fill(&b, &r[1], t[1], tp[1]);
	m.ok = 1;
	m.routes = rp;
	m.n_routes = 2;
	len = ferry__proxy_reply__get_packed_size(&m);
	buf = malloc(len);
	cr_assert_not_null(buf);
	ferry__proxy_reply__pack(&m, buf);
	cr_assert_eq(mkdir(STATE, 0700), 0);
	snprintf(path, sizeof(path), "%s/routes.pb", STATE);
	cr_assert_not_null(f = fopen(path, "wb"));
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	PX = px_start("proxy", NULL);
	cr_expect(h_log_has(PX, "2 of 2 route(s) restored"));
	cr_expect_str_eq(body_on(a.port), "one");
	cr_expect_str_eq(body_on(b.port), "two");
	st = px_status();
	cr_expect_eq(st->n_routes, 2);
	ferry__proxy_reply__free_unpacked(st, NULL);
}
