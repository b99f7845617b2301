/* SPDX-License-Identifier: Apache-2.0 */
/* statics.c: the bench's static HTTP server, fast enough that a proxy in
 * front of it, not it, is what wrk measures.
 *
 *   statics [--listen ADDR:PORT] [--threads N] [--body BYTES]
 *
 * Every request gets the same answer: 200, a fixed body of BYTES (default
 * 13) bytes, keep-alive unless the client asks to close (or speaks
 * HTTP/1.0 without keep-alive).  One epoll loop per thread, each with its
 * own SO_REUSEPORT listener; edge-triggered, no allocation per request.
 * It reads only what a benchmark sends: requests without a body (GET,
 * HEAD), pipelined or not; it finds each request's end (an empty line)
 * and nothing else, so it is no HTTP server for anything but the bench.
 * Linked statically (libc only) so that it can run in a container built
 * FROM scratch.  SIGTERM or SIGINT ends it at once. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 65536
#define BUFSZ 8192
#define MAXBODY 65536

struct conn {
	int fd;
	size_t len;		/* bytes of request(s) buffered */
	char buf[BUFSZ];
};

static struct sockaddr_in listen_sa;
static char *response;		/* keep-alive answer */
static size_t response_len;
static char *response_close;	/* the same with Connection: close */
static size_t response_close_len;

static void
usage(FILE *f)
{
	fprintf(f, "usage: statics [--listen ADDR:PORT] [--threads N] "
	    "[--body BYTES]\n"
	    "  Answers every HTTP request with 200 and a fixed body.\n"
	    "  defaults: 127.0.0.1:8000, 1 thread, 13 bytes\n");
}

static int
listener(void)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&listen_sa, sizeof(listen_sa)) < 0 ||
	    listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A request asks to close when it says "Connection: close", or is HTTP/1.0
 * without "keep-alive".  Headers are matched case-insensitively. */
static int
wants_close(const char *req, size_t len)
{
	const char *eol = memchr(req, '\n', len);
	int http10 = eol && eol - req >= 9 && !memcmp(eol - 9, "HTTP/1.0", 8);

	if (memmem(req, len, "lose\r\n", 6) &&
	    (memmem(req, len, "onnection: close", 16) ||
	    memmem(req, len, "onnection: Close", 16)))
		return 1;
	if (http10 && !memmem(req, len, "eep-alive", 9))
		return 1;
	return 0;
}

/* Serves what c->buf holds; returns -1 when the connection is to close. */
static int
serve(struct conn *c)
{
	char *p = c->buf, *end;
	size_t left = c->len;

	while ((end = memmem(p, left, "\r\n\r\n", 4)) != NULL) {
		size_t n = (size_t)(end - p) + 4;
		int cl = wants_close(p, n);
		const char *r = cl ? response_close : response;
		size_t rl = cl ? response_close_len : response_len, off = 0;

		while (off < rl) {
			ssize_t w = send(c->fd, r + off, rl - off,
			    MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)	/* a full socket buffer: a bad client */
				return -1;
			off += (size_t)w;
		}
		if (cl)
			return -1;
		p += n;
		left -= n;
	}
	if (left == BUFSZ)	/* a request larger than the buffer */
		return -1;
	memmove(c->buf, p, left);
	c->len = left;
	return 0;
}

static void *
loop(void *arg)
{
	int lfd, ep, one = 1;
	struct epoll_event ev, evs[256];
	struct conn **conns;

	(void)arg;
	conns = calloc(MAXCONN, sizeof(*conns));
	if ((lfd = listener()) < 0) {
		perror("statics: listen");
		exit(1);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int cfd;

				while ((cfd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (cfd >= MAXCONN) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP,
					    TCP_NODELAY, &one, sizeof(one));
					if (conns[cfd] == NULL)
						conns[cfd] = malloc(
						    sizeof(struct conn));
					conns[cfd]->fd = cfd;
					conns[cfd]->len = 0;
					ev.events = EPOLLIN | EPOLLET |
					    EPOLLRDHUP;
					ev.data.fd = cfd;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
				}
				continue;
			}
			struct conn *c = conns[fd];
			int done = 0;

			for (;;) {
				ssize_t r = recv(fd, c->buf + c->len,
				    BUFSZ - c->len, 0);
				if (r > 0) {
					c->len += (size_t)r;
					if (serve(c) < 0) {
						done = 1;
						break;
					}
					continue;
				}
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				done = 1;	/* EOF or error */
				break;
			}
			if (done)
				close(fd);	/* leaves the epoll set too */
		}
	}
	return NULL;
}

static void
on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:8000";
	long threads = 1, body = 13;
	char addr[64], *colon, *b;
	pthread_t t;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "statics: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--listen"))
			listen_at = argv[++i];
		else if (!strcmp(a, "--threads"))
			threads = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--body"))
			body = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "statics: unknown argument %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || body < 0 || body > MAXBODY) {
		fprintf(stderr, "statics: --threads is 1-64, --body 0-%d\n",
		    MAXBODY);
		return 2;
	}
	if (strlen(listen_at) >= sizeof(addr) ||
	    (colon = strrchr(strcpy(addr, listen_at), ':')) == NULL) {
		fprintf(stderr, "statics: --listen wants ADDR:PORT, not %s\n",
		    listen_at);
		return 2;
	}
	*colon = '\0';
	listen_sa.sin_family = AF_INET;
	listen_sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, addr, &listen_sa.sin_addr) != 1 ||
	    listen_sa.sin_port == 0) {
		fprintf(stderr, "statics: --listen wants an IPv4 ADDR:PORT, "
		    "not %s\n", listen_at);
		return 2;
	}

	b = malloc((size_t)body + 1);
	memset(b, 'x', (size_t)body);
	if (body > 0)
		b[body - 1] = '\n';
	b[body] = '\0';
	response = malloc((size_t)body + 128);
	response_close = malloc((size_t)body + 128);
	response_len = (size_t)sprintf(response, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %ld\r\n\r\n%s",
	    body, b);
	response_close_len = (size_t)sprintf(response_close,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %ld\r\nConnection: close\r\n\r\n%s", body, b);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	/* Fail here, before any thread, when the address cannot be bound. */
	{
		int fd = listener();
		if (fd < 0) {
			fprintf(stderr, "statics: cannot listen on %s: %s\n",
			    listen_at, strerror(errno));
			return 1;
		}
		close(fd);
	}
	for (long i = 1; i < threads; i++)
		pthread_create(&t, NULL, loop, NULL);
	loop(NULL);
	return 0;
}
