/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_container.c: the container's own keys of ferry.yml(5) (issue 16),
 * shown on a real dockerd: each key's effect read back with docker
 * inspect of the container a deployment created; both host ports of
 * ports: answering (a host without ferry-proxy, where the container
 * publishes them); a bind outside a host's --allowed-bind-paths refused
 * by ferry plan and ferry deploy before anything is recorded, and by the
 * agent itself when ferry swap sends it; several ports through
 * ferry-proxy (a route each, deployed under load, drained, rolled back,
 * removed); every problem of a spec listed at once by the CLI. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dkit.h"
#include "proxywire.h"

TestSuite(container, .init = setup, .fini = teardown, .timeout = 120);

static char VOLUME[64];		/* a named volume unique to the test */

/* inspect writes docker inspect's FORMAT of container NAME into R.out;
 * returns its status. */
static int
inspect(const char *name, const char *format)
{
	return h_docker(&R, (const char *[]){ "inspect", "--format", format,
	    name, NULL });
}

/* inspect_is: FORMAT of NAME reads want (its trailing newline aside). */
static void
inspect_is(const char *name, const char *format, const char *want)
{
	size_t n;

	cr_assert_eq(inspect(name, format), 0, "inspect %s: %s", format,
	    R.err);
	n = strlen(R.out);
	while (n > 0 && R.out[n - 1] == '\n')
		R.out[--n] = '\0';
	cr_assert_str_eq(R.out, want, "%s", format);
}

static const char *
cname(int host, const char *service, int rev)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "ferry-%s-%s-r%d", HOST[host], service,
	    rev);
	return buf;
}

static void
volume_rm(void)
{
	if (VOLUME[0] != '\0')
		h_docker(&R, (const char *[]){ "volume", "rm", "-f", VOLUME,
		    NULL });
}

/* The image's server, as its CMD starts it, with PORT 8081 so that a
 * user other than root may listen. */
#define SERVE "trap 'exit 0' TERM INT; /bin/busybox httpd -f -p $PORT -h " \
	"/www & wait"

Test(container, every_container_key_shows_on_docker_inspect)
{
	char allowed[300], staticdir[320], want[600], body[4096], text[4096];
	char *p;
	int port2 = h_free_port();

	snprintf(VOLUME, sizeof(VOLUME), "ferry-%s-data", HOST[0]);
	snprintf(allowed, sizeof(allowed), "%s/binds", F.dir);
	snprintf(staticdir, sizeof(staticdir), "%s/static", allowed);
	cr_assert_eq(mkdir(allowed, 0755), 0);
	cr_assert_eq(mkdir(staticdir, 0755), 0);
	/* Containers publish their ports themselves: no ferry-proxy. */
	F.no_proxy = 1;
	AGENT[0] = h_add_agent_with(&F, HOST[0], ADDR[0], (const char *[]){
	    "--allowed-bind-paths", allowed, NULL });
	snprintf(text, sizeof(text),
	    "service: kc\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "ports:\n"
	    "  - { host: %d, container: 8081 }\n"
	    "  - { host: %d, container: 8081 }\n"
	    "env: { PORT: \"8081\" }\n"
	    "entrypoint: [/bin/busybox, env]\n"
	    "command: [/bin/sh, -c, \"" SERVE "\"]\n"
	    "workdir: /www\n"
	    "user: \"1000:1000\"\n"
	    "volumes: [ \"%s:/data\", \"%s:/static:ro\" ]\n"
	    "resources: { memory: 64m, cpus: 0.5 }\n"
	    "restart: on-failure:3\n"
	    "stop_signal: SIGINT\n"
	    "stop_timeout: 7s\n"
	    "labels: { team: %s, tier: \"1\" }\n"
	    "log: { driver: json-file, options: { max-size: 1m, max-file: "
	    "\"2\" } }\n"
	    "health:\n"
	    "  docker:\n"
	    "    test: [CMD, /bin/busybox, wget, -q, -O, /dev/null, "
	    "\"http://127.0.0.1:8081/health\"]\n"
	    "    interval: 300ms\n"
	    "    timeout: 2s\n"
	    "    start_period: 1s\n"
	    "    retries: 2\n"
	    "  interval: 300ms\n"
	    "  deadline: 30s\n"
	    "  min_healthy: 500ms\n"
	    "rollout: { order: stop-first }\n",
	    HOST[0], PORT, port2, VOLUME, staticdir, "payments");
	h_write(&F, "c.yml", "%s", text);
	cr_assert_eq(deploy_watch("c.yml"), 0, "%s%s", R.out, R.err);

	/* command and entrypoint: env runs the shell, as written. */
	inspect_is(cname(0, "kc", 1), "{{json .Config.Entrypoint}}",
	    "[\"/bin/busybox\",\"env\"]");
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{json .Config.Cmd}}"), 0);
	cr_assert(strstr(R.out, "[\"/bin/sh\",\"-c\",\"trap 'exit 0' TERM "
	    "INT; /bin/busybox httpd -f -p $PORT") != NULL, "%s", R.out);
	/* workdir, user. */
	inspect_is(cname(0, "kc", 1), "{{.Config.WorkingDir}}", "/www");
	inspect_is(cname(0, "kc", 1), "{{.Config.User}}", "1000:1000");
	/* volumes: the named volume read-write, the bind read-only. */
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{range .Mounts}}{{.Type}} "
	    "{{.Name}} {{.Source}} {{.Destination}} {{.RW}};{{end}}"), 0);
	snprintf(want, sizeof(want), "volume %s ", VOLUME);
	cr_assert(strstr(R.out, want) != NULL && strstr(R.out, " /data "
	    "true;") != NULL, "%s", R.out);
	snprintf(want, sizeof(want), "bind  %s /static false;", staticdir);
	cr_assert(strstr(R.out, want) != NULL, "%s lacks %s", R.out, want);
	/* resources: memory and cpus. */
	inspect_is(cname(0, "kc", 1), "{{.HostConfig.Memory}} "
	    "{{.HostConfig.NanoCpus}}", "67108864 500000000");
	/* restart: once the swap was done (none while it judged). */
	inspect_is(cname(0, "kc", 1), "{{.HostConfig.RestartPolicy.Name}}:"
	    "{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
	    "on-failure:3");
	/* stop_signal, stop_timeout. */
	inspect_is(cname(0, "kc", 1), "{{.Config.StopSignal}} "
	    "{{.Config.StopTimeout}}", "SIGINT 7");
	/* labels: the user's beside ferry's. */
	inspect_is(cname(0, "kc", 1), "{{index .Config.Labels \"team\"}} "
	    "{{index .Config.Labels \"tier\"}} {{index .Config.Labels "
	    "\"ferry.service\"}}", "payments 1 kc");
	/* log: driver and options. */
	inspect_is(cname(0, "kc", 1), "{{.HostConfig.LogConfig.Type}} "
	    "{{index .HostConfig.LogConfig.Config \"max-size\"}} "
	    "{{index .HostConfig.LogConfig.Config \"max-file\"}}",
	    "json-file 1m 2");
	/* health.docker: the container's own HEALTHCHECK (test, interval,
	 * timeout, start_period, retries, in Docker's nanoseconds), and
	 * Docker judges it healthy, as the docker check did. */
	inspect_is(cname(0, "kc", 1), "{{json .Config.Healthcheck.Test}} "
	    "{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} "
	    "{{.Config.Healthcheck.StartPeriod}} "
	    "{{.Config.Healthcheck.Retries}}", "[\"CMD\",\"/bin/busybox\","
	    "\"wget\",\"-q\",\"-O\",\"/dev/null\","
	    "\"http://127.0.0.1:8081/health\"] 300ms 2s 1s 2");
	inspect_is(cname(0, "kc", 1), "{{.State.Health.Status}}", "healthy");
	/* ports: each host port answers, from the one container. */
	cr_assert_eq(h_http_get(ADDR[0], PORT, "/", body, sizeof(body)), 200);
	cr_assert_eq(h_http_get(ADDR[0], port2, "/", body, sizeof(body)),
	    200);
	cr_assert_eq(inspect(cname(0, "kc", 1), "{{json "
	    ".HostConfig.PortBindings}}"), 0);
	snprintf(want, sizeof(want), "\"HostPort\":\"%d\"", port2);
	cr_assert(strstr(R.out, want) != NULL, "%s", R.out);


	/* A rollback carries the keys too: revision 2 changes a label;
	 * revision 1's kept container is removed, so that the rollback
	 * creates it again from revision 1's stored spec. */
	p = strstr(text, "team: payments");
	cr_assert_not_null(p);
	memcpy(p + 6, "other   ", 8);
	h_write(&F, "c2.yml", "%s", text);
	cr_assert_eq(deploy_watch("c2.yml"), 0, "%s%s", R.out, R.err);
	inspect_is(cname(0, "kc", 2), "{{index .Config.Labels \"team\"}}",
	    "other");
	h_docker(&R, (const char *[]){ "rm", "-f", cname(0, "kc", 1),
	    NULL });
	h_ferry_ms(&F, &R, (const char *[]){ "rollback", "kc", "--to", "1",
	    "--watch", NULL }, 90000);
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);
	inspect_is(cname(0, "kc", 1), "{{index .Config.Labels \"team\"}} "
	    "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}} "
	    "{{.Config.User}} {{.Config.Healthcheck.Retries}} "
	    "{{.State.Running}}", "payments on-failure 67108864 1000:1000 2 "
	    "true");
	h_docker(&R, (const char *[]){ "rm", "-f", cname(0, "kc", 1),
	    cname(0, "kc", 2), NULL });
	volume_rm();
}

/* A bind outside the host's allowed folders: ferry plan and ferry deploy
 * refuse it naming host, path and the folders, and record nothing;
 * ferry swap (which plans nothing) reaches the agent, which refuses it
 * itself. */
Test(container, a_bind_outside_the_allowed_paths_is_refused_at_plan_time)
{
	char allowed[300], want[600];

	snprintf(allowed, sizeof(allowed), "%s/allowed", F.dir);
	cr_assert_eq(mkdir(allowed, 0755), 0);
	F.no_proxy = 1;
	AGENT[0] = h_add_agent_with(&F, HOST[0], ADDR[0], (const char *[]){
	    "--allowed-bind-paths", allowed, NULL });
	h_write(&F, "bind.yml",
	    "service: kb\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "volumes: [ \"/etc:/host-etc:ro\" ]\n"
	    "health: { tcp: 80, interval: 300ms, deadline: 10s, "
	    "min_healthy: 300ms }\n", HOST[0]);
	snprintf(want, sizeof(want), "volumes: host %s does not allow binding "
	    "/etc: its agent's --allowed-bind-paths are %s", HOST[0],
	    allowed);
	h_ferry(&F, &R, (const char *[]){ "plan", path("bind.yml"), NULL });
	cr_assert_neq(R.status, 0, "plan passed: %s", R.out);
	cr_assert(strstr(R.err, want) != NULL, "plan: %s%s", R.out, R.err);
	h_ferry(&F, &R, (const char *[]){ "deploy", path("bind.yml"), NULL });
	cr_assert_neq(R.status, 0, "deploy passed: %s", R.out);
	cr_assert(strstr(R.err, want) != NULL, "deploy: %s%s", R.out, R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM deployments"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM revisions"), 0);
	cr_assert(h_log_has(F.ferryd, "/etc"), "the refusal is not logged");

	/* The agent's allowlist is the last word: ferry swap sends it. */
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], path("bind.yml"),
	    NULL });
	cr_assert_neq(R.status, 0, "swap passed: %s", R.out);
	cr_assert(strstr(R.out, "refused: bind of /etc is outside the "
	    "agent's allowed paths") != NULL, "swap: %s%s", R.out, R.err);
	h_docker(&R, (const char *[]){ "inspect", cname(0, "kb", 1), NULL });
	cr_assert_neq(R.status, 0, "a container was created");

	/* Inside the folder, the same plan passes. */
	h_write(&F, "bind2.yml",
	    "service: kb\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "volumes: [ \"%s:/data:ro\" ]\n"
	    "health: { tcp: 80 }\n", HOST[0], allowed);
	h_ferry(&F, &R, (const char *[]){ "plan", path("bind2.yml"), NULL });
	cr_assert_eq(R.status, 0, "plan: %s%s", R.out, R.err);
}

static int PORT3;		/* kp's third host port: 81 in tcp mode */

/* kp_spec writes kp.yml: image tag, two host ports through the proxy to
 * two container ports (two busybox httpd in one container), and a third
 * to the second container port in tcp mode; start-first. */
static void
kp_spec(const char *tag, int port2)
{
	h_write(&F, "kp.yml",
	    "service: kp\n"
	    "image: " IMG "%s\n"
	    "hosts: [%s]\n"
	    "ports: [ { host: %d, container: 80 }, { host: %d, container: "
	    "81 }, { host: %d, container: 81, mode: tcp } ]\n"
	    "command: [/bin/sh, -c, \"trap 'exit 0' TERM INT; "
	    "/bin/busybox httpd -f -p 80 -h /www & /bin/busybox httpd -f -p "
	    "81 -h /www & wait\"]\n"
	    "health: { http: { path: /health, port: 80 }, interval: 300ms }\n"
	    "proxy: { drain_timeout: 3s }\n"
	    "rollout: { order: start-first }\n", tag, HOST[0], PORT, port2,
	    PORT3);
}

/* version_on: the version host 0 serves on port (0: no 200). */
static int
version_on(int port)
{
	char body[4096], *v;

	if (h_http_get(ADDR[0], port, "/", body, sizeof(body)) != 200)
		return 0;
	v = strstr(body, "version ");
	return v ? atoi(v + 8) : -1;
}

/* ports_become: kp's three ports serve version want (0: all refuse)
 * within 15 s. */
static int
ports_become(int port2, int want)
{
	for (int i = 0; i < 150; i++) {
		if (version_on(PORT) == want && version_on(port2) == want &&
		    version_on(PORT3) == want)
			return 1;
		h_sleep_ms(100);
	}
	return 0;
}

/* route_modes: how many routes of kp host 0's proxy has, each asserted
 * in its port's mode (PORT3 tcp, the others http). */
static int
route_modes(void)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp = NULL;
	char ctl[600], err[300];
	int n = 0;

	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	h_proxy_control(&F, HOST[0], ctl, sizeof(ctl));
	cr_assert_eq(proxywire_call(ctl, &rq, &rp, NULL, NULL, 5000, err,
	    sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < rp->n_routes; i++) {
		const Ferry__ProxyRoute *r = rp->routes[i];

		if (strcmp(r->service, "kp") != 0 || r->removed)
			continue;
		n++;
		cr_assert_eq(r->mode, r->listen_port == (uint32_t)PORT3 ?
		    FERRY__PROXY_MODE__PROXY_TCP :
		    FERRY__PROXY_MODE__PROXY_HTTP, "port %u", r->listen_port);
	}
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return n;
}

/* v2_of_10: of 10 requests on port (one connection each), how many
 * version 2 answered. */
static int
v2_of_10(int port)
{
	int n = 0;

	for (int i = 0; i < 10; i++)
		n += version_on(port) == 2;
	return n;
}

/*
 * Three host ports through ferry-proxy: a route each, to two container
 * ports of one container, which publishes none, the third in tcp mode.  v1, then v2 under a
 * load on both ports: no request fails and each port moved to v2; a
 * drain refuses both ports, an undrain serves both; a rollback moves both
 * back to v1; v2 beside it splits both ports, reweighed and completed on
 * both; a proxy that lost its routes gets both back from the agent's
 * reconciliation; ferry remove closes both.
 */
Test(container, several_ports_through_the_proxy)
{
	int port2 = 0, k;
	char bin[600], c[64], u1[96], u2[96], routes[700];
	struct h_proc *load;
	cJSON *o, *t;

	for (k = 0; k < 50; k++) {
		port2 = h_free_port();
		if (port2 != PORT && h_port_free_on(ADDR[0], port2))
			break;
	}
	for (k = 0; k < 50; k++) {
		PORT3 = h_free_port();
		if (PORT3 != PORT && PORT3 != port2 &&
		    h_port_free_on(ADDR[0], PORT3))
			break;
	}
	AGENT[0] = h_add_agent(&F, HOST[0], ADDR[0]);
	kp_spec("1", port2);
	h_ferry(&F, &R, (const char *[]){ "plan", path("kp.yml"), NULL });
	cr_assert_eq(R.status, 0, "plan: %s%s", R.out, R.err);
	cr_assert_eq(deploy_watch("kp.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(version_on(PORT), 1);
	cr_assert_eq(version_on(port2), 1);
	/* The proxy owns both host ports: the container publishes none, and
	 * carries its second port for the reconciliation. */
	cr_assert_eq(inspect(cname(0, "kp", 1), "{{json "
	    ".HostConfig.PortBindings}}"), 0);
	cr_assert(strstr(R.out, "HostPort") == NULL, "%s", R.out);
	snprintf(c, sizeof(c), "%d:81/http %d:81/tcp", port2, PORT3);
	inspect_is(cname(0, "kp", 1), "{{index .Config.Labels "
	    "\"ferry.ports\"}}", c);
	/* Each port a route of the proxy's, in its own mode. */
	cr_assert_eq(route_modes(), 3);
	cr_assert_eq(version_on(PORT3), 1);

	/* v2 under a load on both ports. */
	h_bin("tests/ferry-load", bin, sizeof(bin));
	snprintf(u1, sizeof(u1), "http://%s:%d/version", ADDR[0], PORT);
	snprintf(u2, sizeof(u2), "http://%s:%d/version", ADDR[0], port2);
	load = h_spawn(&F, "load", (const char *[]){ bin, "--connections", "1",
	    "--interval", "20", "--duration", "60", "--timeout", "5",
	    "--json", u1, u2, NULL });
	h_sleep_ms(500);
	kp_spec("2", port2);
	cr_assert_eq(deploy_watch("kp.yml"), 0, "%s%s", R.out, R.err);
	h_sleep_ms(300);
	o = load_stop(load);
	no_failures(o, "v1 to v2 on two ports");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "targets")), 2);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(o, "targets")) {
		cr_expect_gt(jd(t, "bodies", "1"), 0, "%s: no v1 answer",
		    jstr(t, "url"));
		cr_expect_gt(jd(t, "bodies", "2"), 0, "%s: no v2 answer",
		    jstr(t, "url"));
	}
	cJSON_Delete(o);
	cr_assert_eq(version_on(PORT), 2);
	cr_assert_eq(version_on(port2), 2);
	cr_assert_eq(version_on(PORT3), 2);

	/* Drained: neither port takes a connection; undrained: both do. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "drain", HOST[0], NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(ports_become(port2, 0), "a port serves while drained");
	h_ferry(&F, &R, (const char *[]){ "hosts", "undrain", HOST[0],
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(ports_become(port2, 2), "a port refuses once undrained");

	/* A rollback moves both ports. */
	h_ferry_ms(&F, &R, (const char *[]){ "rollback", "kp", "--to", "1",
	    "--watch", NULL }, 60000);
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);
	cr_assert_eq(version_on(PORT), 1);
	cr_assert_eq(version_on(port2), 1);

	/* v2 beside v1 (ferry swap --weight): each port splits; a new
	 * weight changes both ports' split (the fast path: the routes read
	 * and set, nothing started); the swap without a weight completes on
	 * both ports. */
	kp_spec("2", port2);
	h_ferry_ms(&F, &R, (const char *[]){ "swap", HOST[0], path("kp.yml"),
	    "--weight", "50", NULL }, 60000);
	cr_assert_eq(R.status, 0, "swap --weight 50: %s%s", R.out, R.err);
	cr_assert_eq(v2_of_10(PORT), 5);
	cr_assert_eq(v2_of_10(port2), 5);
	h_ferry_ms(&F, &R, (const char *[]){ "swap", HOST[0], path("kp.yml"),
	    "--weight", "20", NULL }, 60000);
	cr_assert_eq(R.status, 0, "swap --weight 20: %s%s", R.out, R.err);
	cr_assert(h_log_has(AGENT[0], "the route read and set in"),
	    "not the fast path (see %s)", AGENT[0]->log);
	cr_assert_eq(v2_of_10(PORT), 2);
	cr_assert_eq(v2_of_10(port2), 2);
	h_ferry_ms(&F, &R, (const char *[]){ "swap", HOST[0], path("kp.yml"),
	    NULL }, 60000);
	cr_assert_eq(R.status, 0, "swap: %s%s", R.out, R.err);
	cr_assert_eq(v2_of_10(PORT), 10);
	cr_assert_eq(v2_of_10(port2), 10);

	/* A proxy that lost its routes (killed, routes.pb gone) gets both
	 * back from the agent's reconciliation at its start. */
	h_kill(AGENT[0], SIGTERM);
	for (k = 0; k < H_MAX_HOSTS; k++)
		if (F.proxies[k] != NULL && strstr(F.proxies[k]->name,
		    HOST[0]) != NULL)
			break;
	cr_assert_lt(k, H_MAX_HOSTS);
	h_kill(F.proxies[k], SIGKILL);
	snprintf(routes, sizeof(routes), "%s/%s-proxy/routes.pb", F.dir,
	    HOST[0]);
	cr_assert_eq(unlink(routes), 0, "%s", routes);
	h_start_proxy(&F, HOST[0]);
	cr_assert_eq(version_on(PORT), 0);
	cr_assert_eq(version_on(port2), 0);
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	cr_assert(ports_become(port2, 2), "the ports were not set again");
	cr_assert(h_log_has(AGENT[0], "and its other ports (it was "
	    "missing)"), "see %s", AGENT[0]->log);

	/* Another service cannot take kp's second (or third) port on that
	 * host: refused at plan time, naming kp. */
	h_write(&F, "other.yml",
	    "service: other\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { http: { path: /health, port: 80 } }\n", HOST[0],
	    PORT3);
	h_ferry(&F, &R, (const char *[]){ "plan", path("other.yml"), NULL });
	cr_assert_neq(R.status, 0, "%s", R.out);
	snprintf(routes, sizeof(routes), "host port %d on %s is claimed by "
	    "service kp", PORT3, HOST[0]);
	cr_assert(strstr(R.err, routes) != NULL, "%s", R.err);

	/* Removed: both ports close. */
	h_ferry_ms(&F, &R, (const char *[]){ "remove", "kp", "--yes",
	    "--watch", NULL }, 60000);
	cr_assert_eq(R.status, 0, "remove: %s%s", R.out, R.err);
	cr_assert(ports_become(port2, 0), "a port still serves after remove");
	cr_assert_eq(route_modes(), 0);
}

/* Three independent mistakes: three lines, in the file's order, and
 * nothing recorded. */
Test(container, every_problem_of_a_spec_is_listed_at_once)
{
	F.no_proxy = 1;
	AGENT[0] = h_add_agent(&F, HOST[0], ADDR[0]);
	h_write(&F, "bad.yml",
	    "service: kx\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "restart: sometimes\n"
	    "health: { tcp: 80, interval: fast }\n"
	    "resources: { memory: lots }\n", HOST[0]);
	h_ferry(&F, &R, (const char *[]){ "deploy", path("bad.yml"), NULL });
	cr_assert_neq(R.status, 0, "deploy passed: %s", R.out);
	cr_assert(strstr(R.err, "bad.yml:4: restart: expected no, "
	    "on-failure") != NULL, "%s", R.err);
	cr_assert(strstr(R.err, "bad.yml:5: health.interval: expected a "
	    "duration") != NULL, "%s", R.err);
	cr_assert(strstr(R.err, "bad.yml:6: resources.memory: expected a "
	    "size") != NULL, "%s", R.err);
	cr_assert(strstr(R.err, "restart") < strstr(R.err, "health.interval")
	    && strstr(R.err, "health.interval") < strstr(R.err,
	    "resources.memory"), "not in the file's order: %s", R.err);
	h_ferry(&F, &R, (const char *[]){ "plan", path("bad.yml"), NULL });
	cr_assert(strstr(R.err, "bad.yml:6: resources.memory") != NULL,
	    "plan: %s", R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM revisions"), 0);
}
