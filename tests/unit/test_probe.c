/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/probe.c agent/check_http.c agent/check_tcp.c agent/check_exec.c agent/check_docker.c agent/docker.c
/* test_probe.c: probe_run, the one dispatcher of health checks: no check,
 * Docker's own health, TCP and HTTP against listeners on loopback (through
 * the published port and straight to the container's address), and the
 * checks that cannot run.  Exec checks need a container: test_swap. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "probe.h"

TestSuite(probe, .timeout = 20);

static char out[600];

/* listener opens a TCP socket listening on 127.0.0.1 and gives its port. */
static int
listener(uint32_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(s, 4), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return s;
}

static int
run(const Ferry__HealthSpec *h, uint32_t host_port,
    const struct docker_state *st)
{
	return probe_run(NULL, "cid", "127.0.0.1", h, host_port, 1000, st, out,
	    sizeof(out));
}

Test(probe, no_check_is_healthy_when_running)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	struct docker_state st = { 0 };

	cr_assert_eq(run(NULL, 0, &st), 1);
	cr_assert_str_eq(out, "running");
	cr_assert_eq(run(&h, 0, &st), 1);
	cr_assert_str_eq(out, "running");
}

Test(probe, docker_health_as_docker_says)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	struct docker_state st = { 0 };

	h.check_case = FERRY__HEALTH_SPEC__CHECK_DOCKER;
	h.docker = 1;
	cr_assert_eq(run(&h, 8080, &st), 0);
	cr_assert_str_eq(out, "the image has no HEALTHCHECK");
	snprintf(st.health, sizeof(st.health), "starting");
	cr_assert_eq(run(&h, 8080, &st), -1, "no verdict yet");
	cr_assert_str_eq(out, "docker health starting");
	snprintf(st.health, sizeof(st.health), "healthy");
	cr_assert_eq(run(&h, 8080, &st), 1);
	snprintf(st.health, sizeof(st.health), "unhealthy");
	snprintf(st.health_output, sizeof(st.health_output), "boom");
	cr_assert_eq(run(&h, 8080, &st), 0);
	cr_assert_str_eq(out, "docker health unhealthy: boom");
}

Test(probe, tcp_through_the_published_port_or_the_container_address)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	struct docker_state st = { 0 };
	char want[64];
	uint32_t port;
	int s = listener(&port);

	h.check_case = FERRY__HEALTH_SPEC__CHECK_TCP_PORT;
	h.tcp_port = 1;		/* the container's: unused with host_port */
	cr_assert_eq(run(&h, port, &st), 1, "%s", out);
	snprintf(want, sizeof(want), "TCP 127.0.0.1:%u open", port);
	cr_assert_str_eq(out, want);

	/* No published port: the container's own address and port. */
	h.tcp_port = port;
	cr_assert_eq(run(&h, 0, &st), 0);
	cr_assert_str_eq(out, "the container has no address to check");
	snprintf(st.ip, sizeof(st.ip), "127.0.0.1");
	cr_assert_eq(run(&h, 0, &st), 1, "%s", out);
	cr_assert_str_eq(out, want);

	close(s);
	cr_assert_eq(run(&h, port, &st), 0);
	snprintf(want, sizeof(want), "TCP 127.0.0.1:%u: ", port);
	cr_assert(strncmp(out, want, strlen(want)) == 0, "%s", out);
}

/* A web server on loopback that answers every GET with 204. */
struct server {
	int s;			/* listening */
	int n;			/* connections to answer */
	char path[128];		/* the last request's path */
};

/* serve answers sv's n connections, one after the other. */
static void *
serve(void *arg)
{
	static const char answer[] = "HTTP/1.1 204 No Content\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct server *sv = arg;
	char req[1024];
	ssize_t n;
	int i, c;

	for (i = 0; i < sv->n; i++) {
		if ((c = accept(sv->s, NULL, NULL)) < 0)
			break;
		n = read(c, req, sizeof(req) - 1);
		req[n > 0 ? n : 0] = '\0';
		sscanf(req, "GET %127s ", sv->path);
		if (write(c, answer, sizeof(answer) - 1) < 0)
			break;
		close(c);
	}
	return NULL;
}

Test(probe, http_judged_by_status_with_defaults)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	Ferry__HttpCheck hc = FERRY__HTTP_CHECK__INIT;
	struct docker_state st = { 0 };
	struct server sv = { 0 };
	pthread_t t;
	uint32_t port;

	sv.s = listener(&port);
	sv.n = 2;
	cr_assert_eq(pthread_create(&t, NULL, serve, &sv), 0);
	h.check_case = FERRY__HEALTH_SPEC__CHECK_HTTP;
	h.http = &hc;
	hc.path = "/health";
	hc.status = 204;
	cr_assert_eq(run(&h, port, &st), 1, "%s", out);
	cr_assert_str_eq(out, "HTTP 204 on /health");
	cr_assert_str_eq(sv.path, "/health");
	hc.path = "";		/* "/" */
	hc.status = 0;		/* 200 */
	cr_assert_eq(run(&h, port, &st), 0);
	cr_assert_str_eq(out, "HTTP 204 on /");
	cr_assert_str_eq(sv.path, "/");
	pthread_join(t, NULL);
	close(sv.s);
}

Test(probe, checks_that_cannot_run_fail)
{
	Ferry__HealthSpec h = FERRY__HEALTH_SPEC__INIT;
	Ferry__ExecCheck ec = FERRY__EXEC_CHECK__INIT;
	struct docker_state st = { 0 };

	h.check_case = FERRY__HEALTH_SPEC__CHECK_EXEC;
	cr_assert_eq(run(&h, 0, &st), 0);
	cr_assert_str_eq(out, "health check without its settings");
	h.exec = &ec;
	cr_assert_eq(run(&h, 0, &st), 0);
	cr_assert_str_eq(out, "exec check without a command");
	h.check_case = FERRY__HEALTH_SPEC__CHECK_HTTP;
	h.exec = NULL;
	cr_assert_eq(run(&h, 8080, &st), 0);
	cr_assert_str_eq(out, "health check without its settings");
	h.check_case = (Ferry__HealthSpec__CheckCase)99;
	cr_assert_eq(run(&h, 8080, &st), 0);
	cr_assert_str_eq(out, "unknown health check");
}
