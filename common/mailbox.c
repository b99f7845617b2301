/* SPDX-License-Identifier: Apache-2.0 */
/* mailbox.c: a queue of closures drained by the loop thread. */
#include <stdlib.h>

#include "ferr.h"
#include "mailbox.h"

struct mailbox_item {
	struct mailbox_item *next;
	mailbox_fn fn;
	void *arg;
};

static void
on_async(uv_async_t *a)
{
	mailbox_drain(a->data);
}

int
mailbox_init(struct mailbox *mb, uv_loop_t *loop)
{
	mb->head = mb->tail = NULL;
	mb->closed = 0;
	if (pthread_mutex_init(&mb->mtx, NULL) != 0)
		return FERR_IO;
	if (uv_async_init(loop, &mb->async, on_async) != 0) {
		pthread_mutex_destroy(&mb->mtx);
		return FERR_IO;
	}
	mb->async.data = mb;
	return 0;
}

int
mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg)
{
	struct mailbox_item *it;

	it = malloc(sizeof(*it));
	if (it == NULL)
		return FERR_NOMEM;
	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&mb->mtx);
	if (mb->closed) {
		pthread_mutex_unlock(&mb->mtx);
		free(it);
		return FERR_CLOSED;
	}
	if (mb->tail != NULL)
		mb->tail->next = it;
	else
		mb->head = it;
	mb->tail = it;
	pthread_mutex_unlock(&mb->mtx);
	uv_async_send(&mb->async);
	return 0;
}

void
mailbox_drain(struct mailbox *mb)
{
	struct mailbox_item *it, *next;

	pthread_mutex_lock(&mb->mtx);
	it = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->mtx);
	for (; it != NULL; it = next) {
		next = it->next;
		it->fn(it->arg);
		free(it);
	}
}

static void
on_closed(uv_handle_t *h)
{
	struct mailbox *mb = h->data;

	pthread_mutex_destroy(&mb->mtx);
}

void
mailbox_close(struct mailbox *mb)
{
	pthread_mutex_lock(&mb->mtx);
	mb->closed = 1;
	pthread_mutex_unlock(&mb->mtx);
	mailbox_drain(mb);
	uv_close((uv_handle_t *)&mb->async, on_closed);
}
