/* SPDX-License-Identifier: Apache-2.0 */
/* probe.c: one health check of a container: where it is reached, then a
 * switch on the kind of check to the file that runs that kind. */
#include <stdio.h>

#include "probe.h"

int
probe_run(struct docker *d, const char *cid, const char *probe_ip,
    const Ferry__HealthSpec *h, uint32_t host_port, uint32_t timeout_ms,
    const struct docker_state *st, char *out, size_t outlen)
{
	const char *ip;
	uint32_t port;

	if (h == NULL || h->check_case == FERRY__HEALTH_SPEC__CHECK__NOT_SET) {
		snprintf(out, outlen, "running");
		return 1;	/* no check: running is healthy */
	}
	if ((h->check_case == FERRY__HEALTH_SPEC__CHECK_HTTP &&
	    h->http == NULL) ||
	    (h->check_case == FERRY__HEALTH_SPEC__CHECK_EXEC &&
	    h->exec == NULL)) {
		snprintf(out, outlen, "health check without its settings");
		return 0;
	}
	/* Through the published port; with none (start-first), straight to
	 * the container's own address and port. */
	ip = probe_ip;
	port = host_port;
	if (host_port == 0 &&
	    (h->check_case == FERRY__HEALTH_SPEC__CHECK_HTTP ||
	    h->check_case == FERRY__HEALTH_SPEC__CHECK_TCP_PORT)) {
		ip = st->ip;
		port = h->check_case == FERRY__HEALTH_SPEC__CHECK_HTTP ?
		    h->http->port : h->tcp_port;
		if (ip[0] == '\0') {
			snprintf(out, outlen, "the container has no address "
			    "to check");
			return 0;
		}
	}
	switch (h->check_case) {
	case FERRY__HEALTH_SPEC__CHECK_HTTP:
		return check_http(ip, port, h->http, timeout_ms, out, outlen);
	case FERRY__HEALTH_SPEC__CHECK_TCP_PORT:
		return check_tcp(ip, port, timeout_ms, out, outlen);
	case FERRY__HEALTH_SPEC__CHECK_EXEC:
		return check_exec(d, cid, h->exec, timeout_ms, out, outlen);
	case FERRY__HEALTH_SPEC__CHECK_DOCKER:
		return check_docker(st, out, outlen);
	default:
		snprintf(out, outlen, "unknown health check");
		return 0;
	}
}
