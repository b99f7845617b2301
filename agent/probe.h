/* SPDX-License-Identifier: Apache-2.0 */
/* probe.h: one health check against a container, of whatever kind.
 * probe_run dispatches on the check's kind to one file per kind
 * (check_http.c, check_tcp.c, check_exec.c, check_docker.c), as relayd's
 * hce.c does.  Every check blocks for at most its timeout: run them off
 * the event loop. */
#ifndef FERRY_PROBE_H
#define FERRY_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "docker.h"
#include "ferry.pb-c.h"

/*
 * probe_run runs health check h once against container cid, whose state
 * st was just inspected.  An HTTP or TCP check goes to probe_ip:host_port
 * (the agent's address and the service's published port) or, with no
 * published port (host_port 0), straight to the container's own address
 * and the check's port.  An exec check runs inside the container through
 * d; a docker check reads Docker's HEALTHCHECK from st.  No check (h NULL
 * or unset) passes: a running container is healthy.  out gets a one-line
 * account either way ("HTTP 500 on /health", "exit 1: not ready").
 * Returns 1 when it passed, 0 when it failed, -1 when there is no verdict
 * yet (Docker's own health still starting).
 */
int
probe_run(struct docker *d, const char *cid, const char *probe_ip,
    const Ferry__HealthSpec *h, uint32_t host_port, uint32_t timeout_ms,
    const struct docker_state *st, char *out, size_t outlen);

/* The kinds of check, called by probe_run only; each returns 1 when the
 * check passed and 0 when it did not, with a one-line account in out. */

/* check_http.c */

/* check_http GETs http://ip:port/path (c's path, "/" when empty) and passes
 * when the answer's status is c's (200 when 0); no redirect is followed.
 * out: "HTTP 200 on /health", "timeout on /health". */
int
check_http(const char *ip, uint32_t port, const Ferry__HttpCheck *c,
    uint32_t timeout_ms, char *out, size_t outlen);

/* check_tcp.c */

/* check_tcp passes when a TCP connection to ip:port opens in time.
 * out: "TCP 10.0.0.2:5432 open", "TCP 10.0.0.2:5432: Connection refused". */
int
check_tcp(const char *ip, uint32_t port, uint32_t timeout_ms, char *out,
    size_t outlen);

/* check_exec.c */

/* check_exec runs c's command inside container cid through d and passes
 * when it exits 0.  out: "exit 0", or "exit 1: " and the end of what the
 * command wrote, or why it could not run. */
int
check_exec(struct docker *d, const char *cid, const Ferry__ExecCheck *c,
    uint32_t timeout_ms, char *out, size_t outlen);

/* check_docker.c */

/* check_docker reads the image's own HEALTHCHECK from st: 1 healthy, 0
 * unhealthy or no HEALTHCHECK, -1 still starting.  out: "docker health
 * unhealthy: " and its last output. */
int
check_docker(const struct docker_state *st, char *out, size_t outlen);

#endif
