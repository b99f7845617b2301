/* SPDX-License-Identifier: Apache-2.0 */
/* tcp.c: TCP mode: each connection picks a target and is piped both ways,
 * with backpressure; and the closing of tunnels at drain_timeout. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy.h"

struct tconn {
	uv_tcp_t c, u;
	uv_connect_t cr;
	uv_timer_t tm;			/* connecting: upstream_timeout */
	uint64_t t0_us;			/* routed: connecting from then */
	struct held hold;
	struct tunnel tun;
	struct route *r;
	struct target *t;
	int closes;
	int closing;
	int connected;
	int c_reading, u_reading;
	int c_eof, u_eof;
	int shut;			/* directions shut down (of 2) */
};

struct twreq {
	uv_write_t w;
	char *base;
	struct tconn *tc;
};

static void tconn_close(struct tconn *tc);
static void on_c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_u_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void
c_read(struct tconn *tc, int on)
{
	if (tc->closing || on == tc->c_reading || tc->c_eof)
		return;
	tc->c_reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&tc->c, buf_alloc_cb, on_c_read);
	else
		uv_read_stop((uv_stream_t *)&tc->c);
}

static void
u_read(struct tconn *tc, int on)
{
	if (tc->closing || !tc->connected || on == tc->u_reading || tc->u_eof)
		return;
	tc->u_reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&tc->u, buf_alloc_cb, on_u_read);
	else
		uv_read_stop((uv_stream_t *)&tc->u);
}

static void
on_closed(uv_handle_t *h)
{
	struct tconn *tc = h->data;

	if (--tc->closes > 0)
		return;
	P->nconns--;
	route_unref(tc->r);
	free(tc);
	proxy_maybe_exit();
}

static void
tconn_close(struct tconn *tc)
{
	if (tc->closing)
		return;
	tc->closing = 1;
	route_unhold(tc->r, &tc->hold);
	link_del(&tc->tun.l);
	if (tc->t != NULL) {
		target_done(tc->t);
		tc->t = NULL;
	}
	tc->closes = 3;
	uv_close((uv_handle_t *)&tc->c, on_closed);
	uv_close((uv_handle_t *)&tc->u, on_closed);
	uv_close((uv_handle_t *)&tc->tm, on_closed);
}

static void
on_written(uv_write_t *w, int status)
{
	struct twreq *q = (struct twreq *)w;
	struct tconn *tc = q->tc;
	uv_stream_t *s = w->handle;

	buf_free(q->base);
	free(q);
	if (status != 0 || tc->closing)
		return;
	if (s->write_queue_size > PROXY_WBUF_MAX / 2)
		return;
	if (s == (uv_stream_t *)&tc->u)
		c_read(tc, 1);
	else
		u_read(tc, 1);
}

/* pipe_to writes a read buffer (taken over) to s. */
static int
pipe_to(struct tconn *tc, uv_stream_t *s, char *base, size_t n)
{
	struct twreq *q = malloc(sizeof(*q));
	uv_buf_t b = uv_buf_init(base, (unsigned)n);

	if (q == NULL) {
		buf_free(base);
		return -1;
	}
	q->base = base;
	q->tc = tc;
	if (uv_write(&q->w, s, &b, 1, on_written) != 0) {
		buf_free(base);
		free(q);
		return -1;
	}
	return 0;
}

static void
on_shut(uv_shutdown_t *sr, int status)
{
	struct tconn *tc = sr->data;

	free(sr);
	if (tc->closing)
		return;
	/* Both sides said all they had and it was delivered: done. */
	if (status != 0 || ++tc->shut == 2)
		tconn_close(tc);
}

/* eof passes a half-close on, once what was queued for that side is
 * written; when both directions are shut, the connection ends. */
static void
eof(struct tconn *tc, uv_stream_t *to)
{
	uv_shutdown_t *sr = malloc(sizeof(*sr));

	if (sr != NULL)
		sr->data = tc;
	if (sr == NULL || uv_shutdown(sr, to, on_shut) != 0) {
		free(sr);
		tconn_close(tc);
	}
}

static void
on_c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct tconn *tc = s->data;

	if (n < 0) {
		buf_free(b->base);
		if (n != UV_EOF) {
			tconn_close(tc);
			return;
		}
		tc->c_eof = 1;
		uv_read_stop(s);
		eof(tc, (uv_stream_t *)&tc->u);
		return;
	}
	if (n == 0) {
		buf_free(b->base);
		return;
	}
	if (pipe_to(tc, (uv_stream_t *)&tc->u, b->base, (size_t)n) != 0) {
		tconn_close(tc);
		return;
	}
	if (tc->u.write_queue_size > PROXY_WBUF_MAX)
		c_read(tc, 0);
}

static void
on_u_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct tconn *tc = s->data;

	if (n < 0) {
		buf_free(b->base);
		if (n != UV_EOF) {
			if (tc->t != NULL) {
				tc->t->st->reset++;
				tc->t->st->unanswered++;
			}
			tconn_close(tc);
			return;
		}
		tc->u_eof = 1;
		uv_read_stop(s);
		eof(tc, (uv_stream_t *)&tc->c);
		return;
	}
	if (n == 0) {
		buf_free(b->base);
		return;
	}
	if (pipe_to(tc, (uv_stream_t *)&tc->c, b->base, (size_t)n) != 0) {
		tconn_close(tc);
		return;
	}
	if (tc->c.write_queue_size > PROXY_WBUF_MAX)
		u_read(tc, 0);
}

static void
on_connect(uv_connect_t *cr, int status)
{
	struct tconn *tc = cr->data;

	if (tc->closing)
		return;
	if (status != 0) {
		tc->t->st->refused++;
		tc->t->st->unanswered++;
		log_info("%s: upstream %s:%u: %s; connection closed",
		    tc->r->service, tc->t->address, tc->t->port,
		    uv_strerror(status));
		tconn_close(tc);
		return;
	}
	uv_timer_stop(&tc->tm);
	latency_add(tc->t->st, uv_hrtime() / 1000 - tc->t0_us);
	tc->connected = 1;
	uv_tcp_nodelay(&tc->u, 1);
	c_read(tc, 1);
	u_read(tc, 1);
}

static void
tunnel_kill(struct tunnel *tn)
{
	struct tconn *tc = (struct tconn *)((char *)tn -
	    offsetof(struct tconn, tun));

	tconn_close(tc);
}

static void
on_connect_timeout(uv_timer_t *tm)
{
	struct tconn *tc = tm->data;

	if (tc->closing || tc->connected || tc->t == NULL)
		return;
	tc->t->st->timeout++;
	tc->t->st->unanswered++;
	log_info("%s: upstream %s:%u: no connection in %u ms; connection "
	    "closed", tc->r->service, tc->t->address, tc->t->port,
	    tc->r->spec->upstream_timeout_ms);
	tconn_close(tc);
}

static void
go(struct tconn *tc, struct target *t)
{
	tc->t = t;
	tc->t0_us = uv_hrtime() / 1000;
	t->active++;
	t->st->active++;
	t->st->requests++;
	tc->tun.kill = tunnel_kill;
	link_add(&t->tunnels, &tc->tun.l);
	if (uv_tcp_connect(&tc->cr, &tc->u, (const struct sockaddr *)&t->sa,
	    on_connect) != 0) {
		t->st->refused++;
		t->st->unanswered++;
		tconn_close(tc);
		return;
	}
	uv_timer_start(&tc->tm, on_connect_timeout,
	    tc->r->spec->upstream_timeout_ms, 0);
}

static void
on_held(struct held *hd, struct target *t)
{
	struct tconn *tc = (struct tconn *)((char *)hd -
	    offsetof(struct tconn, hold));

	if (t == NULL) {
		log_info("%s: held connection closed (max_pause passed or "
		    "the route went)", tc->r->service);
		tconn_close(tc);
		return;
	}
	go(tc, t);
}

void
tcp_accept(struct route *r, uv_stream_t *server)
{
	struct tconn *tc = calloc(1, sizeof(*tc));
	struct target *t;

	if (tc == NULL)
		return;
	uv_tcp_init(P->loop, &tc->c);
	if (uv_accept(server, (uv_stream_t *)&tc->c) != 0 ||
	    P->nconns >= P->conf.connections_max || P->leaving) {
		if (P->nconns >= P->conf.connections_max && !P->leaving)
			conn_refused_log(r);
		uv_close((uv_handle_t *)&tc->c, (uv_close_cb)free);
		return;
	}
	P->nconns++;
	uv_tcp_init(P->loop, &tc->u);
	uv_timer_init(P->loop, &tc->tm);
	tc->c.data = tc->u.data = tc->cr.data = tc->tm.data = tc;
	tc->r = r;
	route_ref(r);
	tc->hold.go = on_held;
	uv_tcp_nodelay(&tc->c, 1);
	if ((t = route_pick(r, 0, 0)) != NULL) {
		go(tc, t);
		return;
	}
	if (route_hold(r, &tc->hold) == 0)
		return;
	if (r->spec->hold)
		r->st->held_expired++;
	else
		r->st->no_target++;
	log_info("%s: connection closed: %s", r->service, r->spec->hold ?
	    "hold queue full" : "no target");
	tconn_close(tc);
}

/* tunnels_close closes every tunnel on t (its drain_timeout passed),
 * counting each as drain_closed when count. */
void
tunnels_close(struct target *t, int count)
{
	while (!link_empty(&t->tunnels)) {
		struct tunnel *tn = (struct tunnel *)t->tunnels.next;

		link_del(&tn->l);
		if (count)
			t->route->st->drain_closed++;
		tn->kill(tn);
	}
}
