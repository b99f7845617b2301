/* SPDX-License-Identifier: Apache-2.0 */
/* test_limits.c: floods of idle connections on the agent port and of
 * half-sent requests on the HTTP port leave the CLI's socket, connected
 * agents and /healthz answering; real ferryd and agents over real
 * sockets, bounded counts and times. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define FLOOD		1500
#define HALF_SENT	900

static struct h_fleet F;
static struct h_run R;
static int fds[FLOOD];
static int nfds;

static void
setup(void)
{
	struct rlimit rl;

	h_init(&F);
	nfds = 0;
	/* The test holds the flood's sockets itself. */
	cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	cr_assert(rl.rlim_max >= FLOOD + 512, "hard open files limit %llu is "
	    "too low for this test", (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	cr_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void
teardown(void)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	nfds = 0;
	h_fini(&F);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

/* with_soft_limit runs ferryd under a soft open files limit of soft (the
 * hard one unchanged), as a shell or a unit without LimitNOFILE would
 * start it: ferryd inherits it. */
static void
start_ferryd_soft(rlim_t soft, const char *const *extra)
{
	struct rlimit rl, was;

	cr_assert(getrlimit(RLIMIT_NOFILE, &was) == 0);
	rl = was;
	rl.rlim_cur = soft;
	cr_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	h_start_ferryd(&F, extra);
	cr_assert(setrlimit(RLIMIT_NOFILE, &was) == 0);
}

/*
 * flood opens n TCP connections to 127.0.0.1:port and sends hello (may be
 * NULL) on each once connected; waits at most wait_ms for them to connect.
 * Returns how many connected.
 */
static int
flood(int port, int n, const char *hello, size_t hlen, int wait_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static struct pollfd pf[FLOOD];
	static int done[FLOOD];
	uint64_t end = h_mono_ms() + (uint64_t)wait_ms;
	int i, connected = 0, base = nfds;

	cr_assert(nfds + n <= FLOOD);
	for (i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		cr_assert(s >= 0, "socket: %s", strerror(errno));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			cr_assert(errno == EINPROGRESS, "connect: %s",
			    strerror(errno));
		fds[nfds++] = s;
		done[i] = 0;
	}
	while (connected < n && h_mono_ms() < end) {
		int np = 0;
		for (i = 0; i < n; i++)
			if (!done[i]) {
				pf[np].fd = fds[base + i];
				pf[np].events = POLLOUT;
				pf[np].revents = 0;
				np++;
			}
		if (poll(pf, (nfds_t)np, 100) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			int err = 0;
			socklen_t el = sizeof(err);
			struct pollfd q = { fds[base + i], POLLOUT, 0 };
			if (done[i] || poll(&q, 1, 0) != 1)
				continue;
			done[i] = 1;
			if (getsockopt(fds[base + i], SOL_SOCKET, SO_ERROR,
			    &err, &el) != 0 || err != 0)
				continue;
			connected++;
			if (hello != NULL)
				(void)!write(fds[base + i], hello, hlen);
		}
	}
	return connected;
}

/* still_open reads what waits on every flood socket and counts those the
 * peer has not closed. */
static int
still_open(void)
{
	char buf[512];
	int i, open = 0;

	for (i = 0; i < nfds; i++) {
		ssize_t got;
		if (fds[i] < 0)
			continue;
		while ((got = recv(fds[i], buf, sizeof(buf),
		    MSG_DONTWAIT)) > 0)
			;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			open++;
			continue;
		}
		close(fds[i]);
		fds[i] = -1;
	}
	return open;
}

/* wait_open_at_most waits (bounded) until at most n flood sockets are
 * open; returns how many are. */
static int
wait_open_at_most(int n, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	int open;

	while ((open = still_open()) > n && h_mono_ms() < end)
		h_sleep_ms(50);
	return open;
}

/* cli_works: `ferry hosts` and `ferry ping HOST` answer, each within
 * 3 s. */
static void
cli_works(const char *host)
{
	uint64_t t0 = h_mono_ms();

	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "ferry hosts: %s", R.err);
	cr_assert(strstr(R.out, host) != NULL, "%s", R.out);
	cr_assert_lt(h_mono_ms() - t0, 3000, "ferry hosts took %llu ms",
	    (unsigned long long)(h_mono_ms() - t0));
	t0 = h_mono_ms();
	h_ferry(&F, &R, (const char *[]){ "ping", host, NULL });
	cr_assert_eq(R.status, 0, "ferry ping %s: %s%s", host, R.out, R.err);
	cr_assert_lt(h_mono_ms() - t0, 3000, "ferry ping took %llu ms",
	    (unsigned long long)(h_mono_ms() - t0));
}

/* soft_limit reads the soft open files limit of pid from /proc. */
static long long
soft_limit(pid_t pid, long long *hard)
{
	char path[64], line[256];
	long long soft = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Max open files", 14) == 0)
			sscanf(line + 14, "%lld %lld", &soft, hard);
	fclose(f);
	return soft;
}

static int
http_port(void)
{
	return atoi(strchr(F.http, ':') + 1);
}

/* Connections that never send a byte: ferryd, started under a soft limit
 * of 1024 open files, raises it and stays reachable. */
Test(limits, agent_port_flood_of_silent_connections)
{
	char body[512];
	long long soft, hard = -1;

	start_ferryd_soft(1024, NULL);
	soft = soft_limit(F.ferryd->pid, &hard);
	cr_assert(soft == hard && soft > FLOOD, "ferryd's open files limit: "
	    "soft %lld, hard %lld", soft, hard);
	h_add_agent(&F, "lim-1", "127.0.0.2");
	flood(F.port, FLOOD, NULL, 0, 3000);
	cli_works("lim-1");
	cr_assert_eq(h_http_get("127.0.0.1", http_port(), "/healthz", body,
	    sizeof(body)), 200, "/healthz during the flood");
	cr_assert(h_alive(F.ferryd));
	cr_assert(h_log_has(F.ferryd, "open files limit"),
	    "-v does not say the open files limit");
}

/* The SP header of a REQ peer: what a REQ socket sends on connecting. */
static const char req_hello[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };

/* Connections that finish NNG's handshake and then say nothing: over the
 * cap they make room or are refused, the rest are closed after the
 * authentication timeout; the connected agent keeps answering and a new
 * agent gets in during the flood. */
Test(limits, agent_port_flood_of_idle_handshaken_connections)
{
	int connected, open;

	start_ferryd_soft(1024, (const char *[]){ "--agent-connections",
	    "100", "--agent-auth-timeout", "2s", NULL });
	h_add_agent(&F, "lim-1", "127.0.0.2");
	connected = flood(F.port, FLOOD, req_hello, sizeof(req_hello), 10000);
	cr_assert_gt(connected, FLOOD / 2, "only %d connected", connected);
	/* At most the cap (less the agent) stays open. */
	open = wait_open_at_most(100, 3000);
	cr_assert_leq(open, 100, "%d idle connections open over a cap of "
	    "100", open);
	cli_works("lim-1");
	/* A new agent joins and comes online while the strangers wait. */
	h_add_agent(&F, "lim-2", "127.0.0.3");
	cli_works("lim-2");
	/* Nothing from a known host within 2 s: closed. */
	open = wait_open_at_most(0, 6000);
	cr_assert_eq(open, 0, "%d idle connections still open after the "
	    "authentication timeout", open);
	cli_works("lim-1");
	/* Said in counts, not once per connection. */
	cr_assert(h_wait_log(F.ferryd, "agent port: in the last 10 s", 15000),
	    "no report of the refused connections");
	cr_assert_leq(h_log_count(F.ferryd, "agent port: in the last"), 3);
	cr_assert(h_alive(F.ferryd));
}

/* Half-sent requests on the HTTP port: at the cap the oldest makes room
 * (so /healthz answers during the flood), and every one is closed within
 * the header timeout. */
Test(limits, http_flood_of_half_sent_requests)
{
	static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	char body[512];
	uint64_t t0;
	int connected, open;

	start_ferryd_soft(1024, (const char *[]){ "--http-header-timeout",
	    "1s", "--http-connections", "64", NULL });
	t0 = h_mono_ms();
	connected = flood(http_port(), HALF_SENT, half, sizeof(half) - 1,
	    5000);
	cr_assert_gt(connected, HALF_SENT / 2, "only %d connected",
	    connected);
	cr_assert_eq(h_http_get("127.0.0.1", http_port(), "/healthz", body,
	    sizeof(body)), 200, "/healthz during the flood");
	cr_assert(strstr(body, "\"status\": \"ok\"") != NULL, "%s", body);
	open = wait_open_at_most(0, 4000);
	cr_assert_eq(open, 0, "%d half-sent requests still open %llu ms after "
	    "the flood began (header timeout 1 s)", open,
	    (unsigned long long)(h_mono_ms() - t0));
	cr_assert_eq(h_http_get("127.0.0.1", http_port(), "/healthz", body,
	    sizeof(body)), 200, "/healthz after the flood");
	cr_assert(h_wait_log(F.ferryd, "in the last 10 s", 15000),
	    "no report of the closed connections");
	cr_assert(h_log_has(F.ferryd, "closed for a request not sent in "
	    "time"));
	cr_assert(h_alive(F.ferryd));
}

/* A kept-alive connection that asks nothing more is closed after the
 * idle timeout; one that completes its request is answered. */
Test(limits, http_idle_keepalive_closed)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[512];
	uint64_t t0;
	ssize_t got;
	int open;

	start_ferryd_soft(1024, (const char *[]){ "--http-idle-timeout",
	    "1s", NULL });
	cr_assert_eq(flood(http_port(), 1, req, sizeof(req) - 1, 3000), 1);
	t0 = h_mono_ms();
	do {
		got = recv(fds[0], buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (got <= 0)
			h_sleep_ms(20);
	} while (got <= 0 && h_mono_ms() - t0 < 3000);
	cr_assert_gt(got, 0, "no answer");
	buf[got] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0, "%s", buf);
	cr_assert(strstr(buf, "Connection: keep-alive") != NULL, "%s", buf);
	open = wait_open_at_most(0, 4000);
	cr_assert_eq(open, 0, "the idle connection stayed open");
	cr_assert_geq(h_mono_ms() - t0, 900, "closed before the idle "
	    "timeout");
}

/* ask sends req on a new connection to the HTTP port and returns the
 * status line's code of the answer (0: none within 3 s); *closed says
 * whether ferryd closed the connection after it. */
static int
ask(const char *req, size_t len, int *closed)
{
	char buf[1024];
	size_t got = 0;
	uint64_t end;
	ssize_t n;
	int code = 0;

	nfds = 0;
	cr_assert_eq(flood(http_port(), 1, req, len, 3000), 1);
	*closed = 0;
	end = h_mono_ms() + 3000;
	while (h_mono_ms() < end && got < sizeof(buf) - 1) {
		n = recv(fds[0], buf + got, sizeof(buf) - 1 - got,
		    MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			*closed = 1;
			break;
		}
		if (n > 0)
			got += (size_t)n;
		else
			h_sleep_ms(20);
	}
	buf[got] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &code);
	close(fds[0]);
	nfds = 0;
	return code;
}

/* What the HTTP port does not serve gets a status that says why, and the
 * connection is closed. */
Test(limits, http_bad_requests_answered_and_closed)
{
	static char big[8191];	/* fills the request buffer exactly */
	int closed;

	start_ferryd_soft(1024, NULL);
	cr_assert_eq(ask("POST /healthz HTTP/1.1\r\n\r\n", 26, &closed), 405);
	cr_assert(closed, "kept after a 405");
	cr_assert_eq(ask("GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n",
	    41, &closed), 404);
	cr_assert(closed);
	cr_assert_eq(ask("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
	    "hello", 49, &closed), 400);
	cr_assert(closed, "kept after a 400");
	cr_assert_eq(ask("nonsense\r\n\r\n", 12, &closed), 400);
	memcpy(big, "GET /healthz HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', sizeof(big) - 26);
	cr_assert_eq(ask(big, sizeof(big), &closed), 431);
	cr_assert(closed, "kept after a 431");
	cr_assert(h_alive(F.ferryd));
}
