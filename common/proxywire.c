/* SPDX-License-Identifier: Apache-2.0 */
/* proxywire.c: ferry-proxy's control socket, the client's side
 * (proxywire.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ferr.h"
#include "proxywire.h"

static int
left_ms(uint64_t deadline)
{
	uint64_t now = clock_mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

static int
wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int rc;

	for (;;) {
		rc = poll(&p, 1, left_ms(deadline));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return FERR_TIMEOUT;
		if (errno != EINTR)
			return FERR_IO;
	}
}

int
proxywire_send(int fd, const void *buf, size_t len, const int *fds,
    size_t nfds, int timeout_ms)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
	uint8_t hdr[4];
	size_t off = 0, total = len + 4;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * PROXYWIRE_MAX_FDS)];
	} ctl;
	int rc;

	if (len > PROXYWIRE_MAX || nfds > PROXYWIRE_MAX_FDS)
		return FERR_TOOBIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	while (off < total) {
		struct iovec iov[2];
		struct msghdr m;
		int n = 0;
		ssize_t w;

		memset(&m, 0, sizeof(m));
		if (off < 4) {
			iov[n].iov_base = hdr + off;
			iov[n++].iov_len = 4 - off;
			iov[n].iov_base = (void *)buf;
			iov[n++].iov_len = len;
		} else {
			iov[n].iov_base = (uint8_t *)buf + (off - 4);
			iov[n++].iov_len = total - off;
		}
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		if (off == 0 && nfds > 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			m.msg_control = ctl.b;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
				return rc;
			continue;
		}
		return FERR_IO;
	}
	return 0;
}

/* take_fds keeps what fits in fds (room *nfds) and closes the rest. */
static void
take_fds(struct msghdr *m, int *fds, size_t room, size_t *got)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
		size_t k, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < n; k++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (fds != NULL && *got < room)
				fds[(*got)++] = f;
			else
				close(f);
		}
	}
}

int
proxywire_call(const char *path, const Ferry__ProxyRequest *rq,
    Ferry__ProxyReply **out, int *fds, size_t *nfds, int timeout_ms,
    char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
	struct sockaddr_un sa;
	uint8_t hdr[4], *body = NULL, *pk = NULL;
	size_t room = nfds != NULL ? *nfds : 0, got = 0, off = 0, len = 0, n;
	int fd = -1, rc = FERR_IO;

	*out = NULL;
	if (nfds != NULL)
		*nfds = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return FERR_ARG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "ferry-proxy's control socket %s: %s",
		    path, strerror(errno));
		goto out;
	}
	n = ferry__proxy_request__get_packed_size(rq);
	if (n > PROXYWIRE_MAX) {
		rc = FERR_TOOBIG;
		snprintf(err, errlen, "request of %zu bytes is too large", n);
		goto out;
	}
	if ((pk = malloc(n + 1)) == NULL) {
		rc = FERR_NOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ferry__proxy_request__pack(rq, pk);
	if ((rc = proxywire_send(fd, pk, n, NULL, 0, left_ms(deadline))) !=
	    0) {
		snprintf(err, errlen, "sending to ferry-proxy at %s: %s", path,
		    rc == FERR_TIMEOUT ? "timed out" : strerror(errno));
		goto out;
	}
	/* The length, then the body; descriptors ride on the first bytes. */
	while (body == NULL || off < len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * PROXYWIRE_MAX_FDS)];
		} ctl;
		struct iovec iov;
		struct msghdr m;
		ssize_t r;

		memset(&m, 0, sizeof(m));
		if (body == NULL) {
			iov.iov_base = hdr + off;
			iov.iov_len = 4 - off;
		} else {
			iov.iov_base = body + off;
			iov.iov_len = len - off;
		}
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = ctl.b;
		m.msg_controllen = sizeof(ctl.b);
		r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(fd, POLLIN, deadline)) != 0) {
				snprintf(err, errlen, "ferry-proxy at %s did "
				    "not answer in %d ms", path, timeout_ms);
				goto out;
			}
			continue;
		}
		if (r <= 0) {
			rc = r == 0 ? FERR_CLOSED : FERR_IO;
			snprintf(err, errlen, "ferry-proxy at %s %s", path,
			    r == 0 ? "hung up before answering" :
			    strerror(errno));
			goto out;
		}
		take_fds(&m, fds, room, &got);
		off += (size_t)r;
		if (body == NULL && off == 4) {
			len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
			    (size_t)hdr[2] << 8 | hdr[3];
			if (len > PROXYWIRE_MAX) {
				rc = FERR_TOOBIG;
				snprintf(err, errlen, "ferry-proxy's reply of "
				    "%zu bytes is too large", len);
				goto out;
			}
			if ((body = malloc(len + 1)) == NULL) {
				rc = FERR_NOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			off = 0;
		}
	}
	*out = ferry__proxy_reply__unpack(NULL, len, body);
	if (*out == NULL) {
		rc = FERR_UNPACK;
		snprintf(err, errlen, "ferry-proxy's reply does not unpack");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		while (got > 0)
			close(fds[--got]);
	}
	if (nfds != NULL)
		*nfds = got;
	free(pk);
	free(body);
	if (fd >= 0)
		close(fd);
	return rc;
}
