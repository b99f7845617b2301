/* SPDX-License-Identifier: Apache-2.0 */
/* check_tcp.c: the TCP health check: a connection that opens in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

int
check_tcp(const char *ip, uint32_t port, uint32_t timeout_ms, char *out,
    size_t outlen)
{
	struct sockaddr_in sa;
	struct pollfd p;
	socklen_t len = sizeof(int);
	int s, err = 0, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		snprintf(out, outlen, "bad address %s", ip);
		return 0;
	}
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		snprintf(out, outlen, "socket: %s", strerror(errno));
		return 0;
	}
	rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno == EINPROGRESS) {
		p.fd = s;
		p.events = POLLOUT;
		rc = poll(&p, 1, (int)timeout_ms);
		if (rc == 0) {
			close(s);
			snprintf(out, outlen, "TCP %s:%u: timeout", ip, port);
			return 0;
		}
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
		rc = err == 0 ? 0 : -1;
		errno = err;
	}
	close(s);
	if (rc != 0) {
		snprintf(out, outlen, "TCP %s:%u: %s", ip, port,
		    strerror(errno));
		return 0;
	}
	snprintf(out, outlen, "TCP %s:%u open", ip, port);
	return 1;
}
