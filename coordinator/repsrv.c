/* SPDX-License-Identifier: Apache-2.0 */
/* repsrv.c: a REP socket served by a growing pool of NNG contexts. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "chan.h"
#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"

/* Contexts kept receiving at all times; more are added as they fill. */
#define MIN_IDLE	8

enum slot_state { SLOT_RECV, SLOT_HELD, SLOT_SEND };

struct rep_slot {
	struct repsrv *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum slot_state state;
	nng_msg *msg;
	struct chan_reply chan;
	struct rep_slot *next;
};

struct repsrv {
	nng_socket sock;
	nng_listener listener;
	struct mailbox *mb;
	repsrv_fn fn;
	void *arg;
	struct rep_slot *slots;
	atomic_int idle;
	atomic_int closing;
	struct conns *conns;	/* NULL: connections not limited */
};

static void slot_cb(void *arg);

static void
slot_recv(struct rep_slot *s)
{
	s->state = SLOT_RECV;
	atomic_fetch_add(&s->srv->idle, 1);
	nng_ctx_recv(s->ctx, s->aio);
}

static int
slot_add(struct repsrv *srv)
{
	struct rep_slot *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return FERR_NOMEM;
	s->srv = srv;
	if (nng_ctx_open(&s->ctx, srv->sock) != 0) {
		free(s);
		return FERR_IO;
	}
	if (nng_aio_alloc(&s->aio, slot_cb, s) != 0) {
		nng_ctx_close(s->ctx);
		free(s);
		return FERR_NOMEM;
	}
	s->next = srv->slots;
	srv->slots = s;
	slot_recv(s);
	return 0;
}

/* deliver runs on the loop thread. */
static void
deliver(void *arg)
{
	struct rep_slot *s = arg;
	struct repsrv *srv = s->srv;
	nng_msg *msg = s->msg;

	s->msg = NULL;
	if (atomic_load(&srv->closing)) {
		nng_msg_free(msg);
		return;
	}
	while (atomic_load(&srv->idle) < MIN_IDLE)
		if (slot_add(srv) != 0)
			break;
	srv->fn(srv->arg, s, msg);
}

/* slot_cb runs on an NNG thread: it touches only the slot. */
static void
slot_cb(void *arg)
{
	struct rep_slot *s = arg;
	struct repsrv *srv = s->srv;
	int rv = nng_aio_result(s->aio);

	if (s->state == SLOT_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(s->aio));
		if (rv == NNG_ECLOSED || atomic_load(&srv->closing))
			return;
		slot_recv(s);
		return;
	}
	/* SLOT_RECV */
	atomic_fetch_sub(&srv->idle, 1);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (atomic_load(&srv->closing)) {
		/* A request that came in as the socket closed: ours to free. */
		if (rv == 0)
			nng_msg_free(nng_aio_get_msg(s->aio));
		return;
	}
	if (rv != 0) {
		slot_recv(s);
		return;
	}
	s->msg = nng_aio_get_msg(s->aio);
	s->state = SLOT_HELD;
	if (mailbox_post(srv->mb, deliver, s) != 0) {
		nng_msg_free(s->msg);
		s->msg = NULL;
	}
}

static int conns_watch(struct repsrv *srv, const struct repsrv_limits *lim);
static void conns_free(struct conns *c);

int
repsrv_open(struct repsrv **out, const char *url, size_t maxsz,
    int ipc_mode, struct mailbox *mb, repsrv_fn fn, void *arg)
{
	return repsrv_open_limited(out, url, maxsz, ipc_mode, NULL, mb, fn,
	    arg);
}

int
repsrv_open_limited(struct repsrv **out, const char *url, size_t maxsz,
    int ipc_mode, const struct repsrv_limits *lim, struct mailbox *mb,
    repsrv_fn fn, void *arg)
{
	struct repsrv *srv;
	int rv, i;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return FERR_NOMEM;
	srv->mb = mb;
	srv->fn = fn;
	srv->arg = arg;
	if ((rv = nng_rep0_open(&srv->sock)) != 0)
		goto fail;
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, maxsz);
	if (lim != NULL && (rv = conns_watch(srv, lim)) != 0)
		goto fail;
	if ((rv = nng_listener_create(&srv->listener, srv->sock, url)) != 0)
		goto fail;
	if (ipc_mode != 0)
		nng_listener_set_int(srv->listener, NNG_OPT_IPC_PERMISSIONS,
		    ipc_mode);
	if ((rv = nng_listener_start(srv->listener, 0)) != 0)
		goto fail;
	for (i = 0; i < MIN_IDLE; i++)
		if (slot_add(srv) != 0)
			goto fail;
	*out = srv;
	return 0;
fail:
	log_warnx("listen %s: %s", url, rv ? nng_strerror(rv) : "no memory");
	repsrv_close(srv);
	return rv == NNG_EADDRINUSE ? FERR_EXISTS : FERR_IO;
}

struct chan_reply *
repsrv_chan(struct rep_slot *s)
{
	return &s->chan;
}

void
repsrv_reply(struct rep_slot *s, const void *buf, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
		log_warnx("reply: out of memory");
		repsrv_drop(s);
		return;
	}
	s->state = SLOT_SEND;
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
}

void
repsrv_drop(struct rep_slot *s)
{
	/* A REP context abandons its request when it receives again. */
	slot_recv(s);
}

void
repsrv_close(struct repsrv *srv)
{
	struct rep_slot *s, *next;

	if (srv == NULL)
		return;
	atomic_store(&srv->closing, 1);
	nng_close(srv->sock);
	for (s = srv->slots; s != NULL; s = s->next)
		nng_aio_stop(s->aio);
	/* Requests handed to the loop but not yet delivered are freed now. */
	mailbox_drain(srv->mb);
	for (s = srv->slots; s != NULL; s = next) {
		next = s->next;
		nng_aio_free(s->aio);
		free(s);
	}
	/* nng_close returned: no pipe callback runs any more. */
	conns_free(srv->conns);
	free(srv);
}

void
repsrv_peer(nng_msg *msg, char *buf, size_t len)
{
	nng_sockaddr sa;
	nng_pipe p = nng_msg_get_pipe(msg);
	const uint8_t *a;

	snprintf(buf, len, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		a = (const uint8_t *)&sa.s_in.sa_addr;
		snprintf(buf, len, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		break;
	case NNG_AF_IPC:
		snprintf(buf, len, "local");
		break;
	default:
		break;
	}
}

/*
 * Connection limits.  NNG tells of every connection that finished its
 * handshake (NNG_PIPE_EV_ADD_PRE, on its threads) and of its end
 * (REM_POST); the table below, under its lock, holds the ones admitted.
 * A connection is trusted once a message from a known host came over it
 * (repsrv_trust, from the loop).  At the cap the oldest untrusted
 * connection makes room for the new one, so that idle strangers never
 * lock an agent out; with none untrusted the new one is refused.  The
 * sweep closes those still untrusted after auth_ms.  Refusals are counted
 * and said once per REPORT_MS, not once each.
 */
#define REPORT_MS	10000
#define SWEEP_BATCH	256

struct conn {
	uint32_t pipe;
	int trusted;
	uint64_t since_ms;
};

struct conns {
	pthread_mutex_t mtx;
	struct repsrv_limits lim;
	struct conn *v;
	size_t n;
	/* Since the last report. */
	unsigned refused, evicted, expired;
	uint64_t last_report_ms;
};

static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct conns *c = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p), victim = 0;
	size_t i, old = c->n;
	int refuse = 0;

	pthread_mutex_lock(&c->mtx);
	if (ev == NNG_PIPE_EV_REM_POST) {
		/* A pipe refused or evicted is no longer in the table. */
		for (i = 0; i < c->n; i++)
			if (c->v[i].pipe == id) {
				c->v[i] = c->v[--c->n];
				break;
			}
		pthread_mutex_unlock(&c->mtx);
		return;
	}
	if (c->n >= c->lim.max_conns) {
		for (i = 0; i < c->n; i++)
			if (!c->v[i].trusted && (old == c->n ||
			    c->v[i].since_ms < c->v[old].since_ms))
				old = i;
		if (old == c->n) {
			refuse = 1;
			c->refused++;
		} else {
			victim = c->v[old].pipe;
			c->v[old] = c->v[--c->n];
			c->evicted++;
		}
	}
	if (!refuse)
		c->v[c->n++] = (struct conn){ id, 0, clock_mono_ms() };
	pthread_mutex_unlock(&c->mtx);
	/* Closed outside the lock: NNG may call back at once. */
	if (refuse)
		nng_pipe_close(p);
	if (victim != 0)
		nng_pipe_close((nng_pipe){ .id = victim });
}

static int
conns_watch(struct repsrv *srv, const struct repsrv_limits *lim)
{
	struct conns *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->v = calloc(lim->max_conns ? lim->max_conns : 1,
	    sizeof(*c->v))) == NULL) {
		free(c);
		return NNG_ENOMEM;
	}
	pthread_mutex_init(&c->mtx, NULL);
	c->lim = *lim;
	c->last_report_ms = clock_mono_ms();
	srv->conns = c;
	if (nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, c) != 0 ||
	    nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, on_pipe, c) != 0)
		return NNG_ENOMEM;
	return 0;
}

static void
conns_free(struct conns *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mtx);
	free(c->v);
	free(c);
}

void
repsrv_trust(struct repsrv *srv, nng_msg *msg)
{
	struct conns *c = srv != NULL ? srv->conns : NULL;
	uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	size_t i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < c->n; i++)
		if (c->v[i].pipe == id) {
			c->v[i].trusted = 1;
			break;
		}
	pthread_mutex_unlock(&c->mtx);
}

void
repsrv_sweep(struct repsrv *srv, uint64_t now_ms)
{
	struct conns *c = srv != NULL ? srv->conns : NULL;
	uint32_t late[SWEEP_BATCH];
	unsigned refused = 0, evicted = 0, expired = 0;
	size_t i, nlate = 0;
	int report = 0;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	for (i = 0; c->lim.auth_ms > 0 && i < c->n && nlate < SWEEP_BATCH;) {
		if (!c->v[i].trusted &&
		    now_ms - c->v[i].since_ms >= c->lim.auth_ms) {
			late[nlate++] = c->v[i].pipe;
			c->v[i] = c->v[--c->n];
			c->expired++;
			continue;
		}
		i++;
	}
	if (now_ms - c->last_report_ms >= REPORT_MS) {
		refused = c->refused;
		evicted = c->evicted;
		expired = c->expired;
		report = refused + evicted + expired > 0;
		c->refused = c->evicted = c->expired = 0;
		c->last_report_ms = now_ms;
	}
	pthread_mutex_unlock(&c->mtx);
	for (i = 0; i < nlate; i++)
		nng_pipe_close((nng_pipe){ .id = late[i] });
	if (report)
		log_warnx("agent port: in the last %u s, %u connection(s) "
		    "refused at the cap of %u (all trusted), %u closed to "
		    "make room, %u closed for sending nothing from a known "
		    "host within %llu ms", REPORT_MS / 1000, refused,
		    c->lim.max_conns, evicted, expired,
		    (unsigned long long)c->lim.auth_ms);
}
