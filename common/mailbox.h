/* SPDX-License-Identifier: Apache-2.0 */
/* mailbox.h: hand work from any thread to the libuv loop thread. */
#ifndef FERRY_MAILBOX_H
#define FERRY_MAILBOX_H

#include <pthread.h>

#include <uv.h>

typedef void (*mailbox_fn)(void *arg);

struct mailbox_item;

/*
 * A mailbox is a locked queue plus a uv_async_t.  NNG and libuv worker
 * threads post (fn, arg) pairs; the loop thread runs them in posting order,
 * draining the whole queue on each wake-up.  The loop thread owns all
 * mutable state, so handlers need no locks of their own.
 */
struct mailbox {
	uv_async_t async;
	pthread_mutex_t mtx;
	struct mailbox_item *head, *tail;
	int closed;
};

/* mailbox_init embeds the async handle in loop.  Returns 0 or FERR_IO. */
int
mailbox_init(struct mailbox *mb, uv_loop_t *loop);

/* mailbox_post queues fn(arg) to run on the loop thread; safe from any
 * thread.  Returns FERR_CLOSED after mailbox_close, FERR_NOMEM when out of
 * memory; fn is then never called. */
int
mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg);

/* mailbox_drain runs everything queued now, on the calling (loop) thread. */
void
mailbox_drain(struct mailbox *mb);

/* mailbox_close refuses further posts, runs what is queued and closes the
 * async handle (the loop must run once more to finish closing it). */
void
mailbox_close(struct mailbox *mb);

#endif
