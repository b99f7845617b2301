/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_notify.c: ferryd and ferry-agent tell the service manager when they
 * are ready and when they stop (the notify protocol systemd's Type=notify
 * units use), and run unchanged when no service manager listens. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;

static void setup(void) { h_init(&F); }
static void teardown(void) { h_fini(&F); }

TestSuite(notify, .init = setup, .fini = teardown, .timeout = 60);

/* listen_notify binds a datagram socket at DIR/rel, as systemd does, and
 * points NOTIFY_SOCKET at it for the processes started after. */
static int
listen_notify(const char *rel)
{
	struct sockaddr_un sa;
	char path[600];
	int s;

	h_path(&F, rel, path, sizeof(path));
	cr_assert(strlen(path) < sizeof(sa.sun_path), "path too long");
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(s >= 0, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	    "bind %s: %s", path, strerror(errno));
	cr_assert(setenv("NOTIFY_SOCKET", path, 1) == 0);
	return s;
}

/* wait_notice waits (bounded by ms) for a datagram containing want and
 * copies the last one read into buf; returns 1 when it came. */
static int
wait_notice(int s, const char *want, int ms, char *buf, size_t len)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	struct pollfd p = { s, POLLIN, 0 };
	ssize_t n;

	buf[0] = '\0';
	while (h_mono_ms() < end) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(s, buf, len - 1, 0);
		if (n < 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, want) != NULL)
			return 1;
	}
	return 0;
}

Test(notify, ferryd_says_ready_once_it_answers_and_stopping_on_term)
{
	const char *argv[] = { "ferryd", "-d", "--state-dir", NULL, "--listen",
	    F.listen, "--socket", F.sock, "--http", F.http, NULL };
	char state[600], msg[512];
	struct h_proc *p;
	int s = listen_notify("notify.sock");

	argv[3] = h_path(&F, "ferryd", state, sizeof(state));
	p = h_spawn(&F, "ferryd", argv);
	cr_assert(wait_notice(s, "READY=1", 10000, msg, sizeof(msg)),
	    "no READY=1 from ferryd in 10 s (last: \"%s\")", msg);
	cr_expect(strstr(msg, F.listen) != NULL,
	    "status line does not name the listen URL: \"%s\"", msg);
	/* Ready means listening: the CLI answers at once, no retry. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "ferry hosts right after READY: %s", R.err);
	kill(p->pid, SIGTERM);
	cr_assert(wait_notice(s, "STOPPING=1", 10000, msg, sizeof(msg)),
	    "no STOPPING=1 from ferryd after TERM");
	cr_assert_eq(h_kill(p, SIGTERM), 0, "ferryd did not exit cleanly");
	close(s);
}

Test(notify, agent_says_ready_with_its_host_name)
{
	char msg[512];
	struct h_proc *a;
	int s;

	h_start_ferryd(&F, NULL);
	s = listen_notify("agent-notify.sock");
	a = h_add_agent(&F, "notify-1", "127.0.0.1");
	cr_assert(wait_notice(s, "READY=1", 10000, msg, sizeof(msg)),
	    "no READY=1 from ferry-agent in 10 s (last: \"%s\")", msg);
	cr_expect(strstr(msg, "host notify-1") != NULL,
	    "status line does not name the host: \"%s\"", msg);
	kill(a->pid, SIGTERM);
	cr_assert(wait_notice(s, "STOPPING=1", 10000, msg, sizeof(msg)),
	    "no STOPPING=1 from ferry-agent after TERM");
	close(s);
}

Test(notify, a_dead_notify_socket_only_costs_a_warning)
{
	struct h_proc *p;

	/* Nothing listens there: the daemon logs it and serves anyway. */
	cr_assert(setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1) == 0);
	p = h_start_ferryd(&F, NULL);
	cr_assert(h_wait_log(p, "cannot tell the service manager", 5000),
	    "no warning about the notify socket in ferryd's log");
	cr_assert(h_alive(p), "ferryd exited");
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "ferry hosts: %s", R.err);
}
