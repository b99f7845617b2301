/* SPDX-License-Identifier: Apache-2.0 */
/* chancall.h: one request and its answer through the channel, blocking. */
#ifndef FERRY_CHANCALL_H
#define FERRY_CHANCALL_H

#include <nng/nng.h>

#include "chan.h"

/*
 * chan_call sends req (a signed envelope) sealed on REQ socket s and
 * returns ferryd's answer opened, in *reply (heap; caller frees).  It says
 * Hello first when c has no session (the Welcome checked against pinned,
 * or want_fpr before a key is pinned), and once more when ferryd no longer
 * knows the session.  On a socket error *nngerr gets NNG's code (FERR_IO,
 * FERR_TIMEOUT); the channel's own errors are as in chan.h.
 */
int
chan_call(nng_socket s, struct chan_client *c, const uint8_t *pinned,
    const uint8_t *want_fpr, const uint8_t *req, size_t len, uint8_t **reply,
    size_t *reply_len, int *nngerr);

#endif
