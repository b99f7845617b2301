/* repsrv.c: a REP socket served by a growing pool of NNG contexts. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "chan.h"
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

int
repsrv_open(struct repsrv **out, const char *url, size_t maxsz,
    int ipc_mode, struct mailbox *mb, repsrv_fn fn, void *arg)
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
