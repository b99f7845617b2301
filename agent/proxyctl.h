/* SPDX-License-Identifier: Apache-2.0 */
/* proxyctl.h: the agent's calls to its ferry-proxy, in one place: set a
 * service's route (its targets, their weights, whether new requests are
 * held), remove it, read it, and wait until a container has drained.
 *
 * Each call is one blocking request on the proxy's control socket
 * (common/proxywire.c) and runs on a swap worker, never on the loop.  A
 * call that fails returns a negative FERR_* and puts one sentence in err
 * that names the service and what the proxy (or the socket) said, e.g.
 * "ferry-proxy: set the route of web: port 8080 is in use"; the swap
 * fails with it. */
#ifndef FERRY_PROXYCTL_H
#define FERRY_PROXYCTL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"

#define PROXYCTL_TARGETS_MAX	4
#define PROXYCTL_PORTS_MAX	16	/* routes (host ports) of one service:
					 * as many as a spec's ports: */
#define PROXYCTL_TIMEOUT_MS	5000	/* one request and its reply */
#define PROXYCTL_POLL_MS	100	/* between two looks while draining */

/* One container a route sends traffic to. */
struct proxyctl_target {
	uint64_t revision;
	char address[64];	/* the container's own address */
	uint32_t port;		/* its container port */
	uint32_t weight;	/* share among the targets; 0: no new traffic */
	/* Read back only (proxyctl_get): */
	int draining;
	uint64_t active;
};

/* What a route of a service is (one per host port): where the proxy
 * listens, how it serves, and its targets. */
struct proxyctl_route {
	char service[128];
	char listen_address[64];
	uint32_t listen_port;
	Ferry__ProxyMode mode;
	uint32_t drain_timeout_ms, max_pause_ms, upstream_timeout_ms;
	uint64_t max_body;
	int sticky;
	int hold;		/* new requests wait (up to max_pause) */
	struct proxyctl_target targets[PROXYCTL_TARGETS_MAX];
	size_t ntargets;
	/* Read back only: its port left the service's routes (draining). */
	int removed;
};

/*
 * proxyctl_route_init fills r for service listening on address:port with
 * the settings ps (NULL: the defaults, in mode http when http_check, else
 * tcp), no targets, not holding.
 */
void
proxyctl_route_init(struct proxyctl_route *r, const char *service,
    const char *address, uint32_t port, const Ferry__ProxySettings *ps,
    int http_check);

/* proxyctl_add_target appends a target to r; FERR_TOOBIG when r has
 * PROXYCTL_TARGETS_MAX already, FERR_ARG for an address too long. */
int
proxyctl_add_target(struct proxyctl_route *r, uint64_t revision,
    const char *address, uint32_t port, uint32_t weight);

/*
 * proxyctl_set replaces r->service's route with r, whole and atomically
 * (the proxy writes it to disk before it answers).  Targets the route no
 * longer has drain.  Returns 0, or FERR_STATE when the proxy said no
 * (err: its reason), or proxywire_call's error.
 */
int
proxyctl_set(const char *ctl, const struct proxyctl_route *r, char *err,
    size_t errlen);

/*
 * proxyctl_set_ports replaces every route of the service (rs[0].service)
 * with rs[0..n), one per host port, together and atomically: a port that
 * is not in rs stops listening and drains, targets that leave a route
 * drain.  n 1 sends the older single set, which means the same.  Returns
 * as proxyctl_set.
 */
int
proxyctl_set_ports(const char *ctl, const struct proxyctl_route *rs,
    size_t n, char *err, size_t errlen);

/* proxyctl_remove removes service's routes (every port): the proxy stops listening for
 * it and drains what is in flight.  A service without a route is not an
 * error. */
int
proxyctl_remove(const char *ctl, const char *service, char *err,
    size_t errlen);

/*
 * proxyctl_get reads service's live route into *r (its first port's, with
 * each target's draining flag and requests in flight).  Returns 0,
 * FERR_NOTFOUND when the proxy has no live route for it, or an error as
 * proxyctl_set.
 */
int
proxyctl_get(const char *ctl, const char *service, struct proxyctl_route *r,
    char *err, size_t errlen);

/*
 * proxyctl_get_all reads every route of service into rs[0..max) (live
 * ones first, then those of ports that left it, removed set), *n how
 * many.  Returns 0 (*n may be 0) or an error as proxyctl_set.
 */
int
proxyctl_get_all(const char *ctl, const char *service,
    struct proxyctl_route *rs, size_t max, size_t *n, char *err,
    size_t errlen);

/*
 * proxyctl_routes calls fn once per route the proxy has (the start-up
 * reconciliation walks them).  Returns 0 or an error as proxyctl_set.
 */
int
proxyctl_routes(const char *ctl,
    void (*fn)(void *arg, const struct proxyctl_route *r), void *arg,
    char *err, size_t errlen);

/*
 * proxyctl_wait_drained waits, looking every PROXYCTL_POLL_MS, until the
 * target address:port (port 0: any port) of service has nothing in flight
 * on any of the service's routes (it left them, or its count of active
 * requests or connections is 0), for at
 * most timeout_ms, or until stopped (when not NULL) returns non-zero.
 * *finished gets the number in flight at the first look (what drained).  Returns 0 when it
 * drained, FERR_TIMEOUT when timeout_ms passed first (the proxy closes
 * what is left at its drain_timeout), FERR_CLOSED when stopped said so,
 * or an error as proxyctl_set.
 */
int
proxyctl_wait_drained(const char *ctl, const char *service,
    const char *address, uint32_t port, uint32_t timeout_ms,
    int (*stopped)(void), uint64_t *finished, char *err, size_t errlen);

/*
 * proxyctl_drain drains the whole proxy (drained: every route stops
 * taking new connections, in-flight work finishes) or undrains it; the
 * proxy keeps the state across its restarts.  Returns 0 or an error as
 * proxyctl_set.
 */
int
proxyctl_drain(const char *ctl, int drained, char *err, size_t errlen);
#endif
