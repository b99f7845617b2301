/* SPDX-License-Identifier: Apache-2.0 */
/* proxywire.h: one request to ferry-proxy's control socket, and its reply.
 *
 * The control socket is a Unix stream socket (root only).  Each message is
 * a 4-byte big-endian length and then a packed ProxyRequest or ProxyReply
 * (proto/ferry.proto); one reply per request, in order.  A handoff reply
 * carries the proxy's listening sockets as SCM_RIGHTS with its length
 * prefix. */
#ifndef FERRY_PROXYWIRE_H
#define FERRY_PROXYWIRE_H

#include <stddef.h>

#include "ferry.pb-c.h"

/* The largest message either side takes. */
#define PROXYWIRE_MAX (4u << 20)
/* The most descriptors a reply carries. */
#define PROXYWIRE_MAX_FDS 250

/* proxywire_call connects to the control socket at path, sends rq and
 * waits up to timeout_ms in all for the reply, which it unpacks into
 * *out (free with ferry__proxy_reply__free_unpacked(*out, NULL)).  When
 * fds is not NULL, up to *nfds descriptors that came with the reply are
 * stored there and *nfds set to their number (the caller closes them);
 * descriptors beyond that, or when fds is NULL, are closed.  A reply
 * with ok false is still a success here: the caller reads its error.
 * Returns 0, or FERR_IO (cannot connect: err says why), FERR_TIMEOUT,
 * FERR_TOOBIG, FERR_UNPACK, FERR_CLOSED (the proxy hung up), FERR_NOMEM;
 * err holds a sentence on failure. */
int
proxywire_call(const char *path, const Ferry__ProxyRequest *rq,
    Ferry__ProxyReply **out, int *fds, size_t *nfds, int timeout_ms,
    char *err, size_t errlen);

/* proxywire_send writes one framed message (packed bytes buf, len) on the
 * blocking or non-blocking stream fd, with the descriptors fds (nfds of
 * them, none when 0) attached to its first byte; it waits up to
 * timeout_ms for room.  Returns 0, FERR_IO, FERR_TIMEOUT or FERR_TOOBIG. */
int
proxywire_send(int fd, const void *buf, size_t len, const int *fds,
    size_t nfds, int timeout_ms);

#endif
