/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_dockerd.c: the agent against a Docker engine that goes away and
 * comes back.  The test runs a private dockerd of its own (its own socket,
 * data root and containerd namespace, no network), so that it can stop and
 * start it at will without disturbing the engine other tests use. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;
static char HOST[64], SOCK[600], NS[64], NSP[64], BRIDGE[16];
static struct h_proc *engine;

static void
start_engine(void)
{
	char data[600], exec[600], pid[600], host[700];

	(void)host;

	h_path(&F, "engine/data", data, sizeof(data));
	/* The exec root holds a socket path: keep it short. */
	snprintf(exec, sizeof(exec), "/tmp/fe-%d", (int)getpid());
	h_path(&F, "engine/pid", pid, sizeof(pid));
	snprintf(host, sizeof(host), "unix://%s", SOCK);
	engine = h_spawn(&F, "dockerd", (const char *[]){ "/usr/sbin/dockerd",
	    "--data-root", data, "--exec-root", exec, "--pidfile", pid,
	    "-H", host, "--bridge", BRIDGE, "--iptables=false",
	    "--ip-masq=false", "--containerd-namespace", NS,
	    "--containerd-plugins-namespace", NSP, NULL });
	for (int k = 0; k < 150; k++) {
		if (h_docker(&R, (const char *[]){ "-H", host, "version",
		    "--format", "{{.Server.Version}}", NULL }) == 0)
			return;
		cr_assert(h_alive(engine), "private dockerd exited at start");
		h_sleep_ms(100);
	}
	cr_assert_fail("private dockerd did not answer in 15 s");
}

static void
setup(void)
{
	h_init(&F);
	h_unique("de", HOST, sizeof(HOST));
	snprintf(NS, sizeof(NS), "ferrytest-%d", (int)getpid());
	snprintf(NSP, sizeof(NSP), "ferrytest-%d-plugins", (int)getpid());
	/* A bridge of the test's own: a dockerd started with --bridge=none
	 * removes the host's docker0, which the shared engine needs.  No
	 * traffic crosses it (health is checked by exec). */
	snprintf(BRIDGE, sizeof(BRIDGE), "fbr%d", (int)(getpid() % 100000));
	h_run(&R, (const char *[]){ "/sbin/ip", "link", "add", BRIDGE, "type",
	    "bridge", NULL });
	cr_assert_eq(R.status, 0, "ip link add: %s", R.err);
	h_run(&R, (const char *[]){ "/sbin/ip", "addr", "add",
	    "169.254.213.1/24", "dev", BRIDGE, NULL });
	cr_assert_eq(R.status, 0, "ip addr add: %s", R.err);
	h_run(&R, (const char *[]){ "/sbin/ip", "link", "set", BRIDGE, "up",
	    NULL });
	h_path(&F, "engine.sock", SOCK, sizeof(SOCK));
	start_engine();
	h_start_ferryd(&F, NULL);
}

static void
teardown(void)
{
	char data[600], exec[600];

	/* The test removed its containers; the engine ends with the test,
	 * and what it mounted goes with it. */
	if (h_alive(engine))
		h_kill(engine, SIGTERM);
	umount2(h_path(&F, "engine/data", data, sizeof(data)), MNT_DETACH);
	snprintf(exec, sizeof(exec), "/tmp/fe-%d", (int)getpid());
	h_run(&R, (const char *[]){ "/bin/rm", "-rf", exec, NULL });
	if (BRIDGE[0] != '\0')
		h_run(&R, (const char *[]){ "/sbin/ip", "link", "del", BRIDGE,
		    NULL });
	h_fini(&F);
}

TestSuite(dockerd, .init = setup, .fini = teardown, .timeout = 120);

static const char *
docker_state(char *err, size_t len)
{
	cJSON *arr, *it;
	static char ok[8];

	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	arr = cJSON_Parse(R.out);
	snprintf(ok, sizeof(ok), "?");
	err[0] = '\0';
	cJSON_ArrayForEach(it, arr) {
		snprintf(ok, sizeof(ok), "%s", cJSON_IsTrue(cJSON_GetObjectItem(
		    it, "docker_ok")) ? "up" : "down");
		snprintf(err, len, "%s", cJSON_GetObjectItem(it,
		    "docker_error")->valuestring);
	}
	cJSON_Delete(arr);
	return ok;
}

static int
wait_docker(const char *want, char *err, size_t len, int ms)
{
	for (int k = 0; k < ms / 100; k++) {
		if (strcmp(docker_state(err, len), want) == 0)
			return 1;
		h_sleep_ms(100);
	}
	return 0;
}

Test(dockerd, agent_keeps_running_while_docker_is_away_then_reconciles)
{
	char tok[1100], path[600], err[512], host[700];
	struct h_proc *a;

	snprintf(host, sizeof(host), "unix://%s", SOCK);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, HOST, NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
	a = h_start_agent(&F, HOST, (const char *[]){ "--docker-socket", SOCK,
	    NULL });
	cr_assert(h_wait_state(&F, HOST, "online", 10000));
	cr_assert(wait_docker("up", err, sizeof(err), 5000), "%s", err);

	/* No network in this engine: health by exec. */
	for (int v = 1; v <= 2; v++)
		h_write(&F, v == 1 ? "v1.yml" : "v2.yml",
		    "service: web\nimage: 127.0.0.1:5000/ferry-test/web:%d\n"
		    "hosts: [%s]\nhealth:\n  exec: [/bin/busybox, wget, -q, "
		    "-O, /dev/null, \"http://127.0.0.1/health\"]\n"
		    "  interval: 200ms\n  deadline: 10s\n  min_healthy: 0s\n",
		    v, HOST);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, h_path(&F, "v1.yml",
	    path, sizeof(path)), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);

	/* The engine goes away: the agent says so and keeps going. */
	cr_assert_eq(h_kill(engine, SIGTERM), 0);
	cr_assert(wait_docker("down", err, sizeof(err), 10000),
	    "ferry hosts still says Docker is up");
	cr_assert(strstr(err, SOCK) != NULL, "error does not name the socket: "
	    "%s", err);
	cr_assert(h_alive(a), "the agent died with Docker");
	h_ferry(&F, &R, (const char *[]){ "ping", HOST, NULL });
	cr_assert_eq(R.status, 0, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, h_path(&F, "v2.yml",
	    path, sizeof(path)), NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, SOCK) != NULL || strstr(R.out, SOCK) != NULL,
	    "the failure does not name the socket: %s%s", R.out, R.err);

	/* It comes back: the agent reconnects and the service with it. */
	start_engine();
	cr_assert(wait_docker("up", err, sizeof(err), 10000), "%s", err);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST, h_path(&F, "v2.yml",
	    path, sizeof(path)), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "revision 3 runs and is healthy") != NULL,
	    "%s", R.out);
	h_docker(&R, (const char *[]){ "-H", host, "ps", "--format",
	    "{{.Names}}", NULL });
	cr_assert(strstr(R.out, "-web-r3") != NULL, "%s", R.out);
	h_docker(&R, (const char *[]){ "-H", host, "ps", "-aq", NULL });
	{
		char ids[4096], *id, *save = NULL;
		snprintf(ids, sizeof(ids), "%.4000s", R.out);
		for (id = strtok_r(ids, "\n", &save); id != NULL;
		    id = strtok_r(NULL, "\n", &save))
			h_docker(&R, (const char *[]){ "-H", host, "rm", "-f",
			    id, NULL });
	}
}
