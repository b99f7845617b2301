/* probe.h: one health check against a container, by HTTP or TCP.  (Exec
 * and Docker's own HEALTHCHECK go through the Docker client.)  Probes
 * block for at most their timeout: run them off the event loop. */
#ifndef FERRY_PROBE_H
#define FERRY_PROBE_H

#include <stddef.h>
#include <stdint.h>

/*
 * probe_http GETs http://ip:port/path and passes when the answer's status
 * is want.  out gets a one-line account either way ("HTTP 200",
 * "HTTP 500 on /health", "connection refused").  Returns 1 when it passed,
 * 0 when it did not.
 */
int
probe_http(const char *ip, uint32_t port, const char *path, uint32_t want,
    uint32_t timeout_ms, char *out, size_t outlen);

/* probe_tcp passes when a TCP connection to ip:port opens in time. */
int
probe_tcp(const char *ip, uint32_t port, uint32_t timeout_ms, char *out,
    size_t outlen);

#endif
