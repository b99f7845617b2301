/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_nodrop.c: traffic through ferry-proxy across swaps, end to end on
 * the real dockerd and registry: three hosts (127.0.0.2-4), each agent with
 * its own ferry-proxy, and ferry-load (tests/tools/ferry-load.c) hitting
 * every host's port throughout.  Rolling deploys alternating start-first
 * and stop-first (one failing health, rolled back), an agent killed with
 * SIGKILL mid-deploy, and a weighted swap: no request may fail.  Every
 * wait is bounded; processes are ended by pid. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"
#include "proxywire.h"

TestSuite(nodrop, .init = setup, .fini = teardown, .timeout = 240);

#define NT 3	/* hosts under load */

/* every_host_serves asserts that each of the NT hosts answers version v,
 * through its proxy. */
static void
every_host_serves(int v)
{
	for (int i = 0; i < NT; i++)
		cr_assert_eq(serving(i), v, "%s serves %d, not %d", HOST[i],
		    serving(i), v);
}

/* running counts host i's running containers of the service. */
static int
running(int i)
{
	char buf[2048];
	int all;

	return containers(i, buf, sizeof(buf), &all);
}

/* ---- the tests ---------------------------------------------------------- */

/*
 * Twenty rolling deploys, start-first and stop-first in turn, versions 1
 * and 2 in turn, the seventh a version that never passes health (rolled
 * back), under load on every host: not one request fails, and every host
 * serves the last version.  The swap's steps land in the events, in
 * order.
 */
Test(nodrop, rolling_deploys_under_load_drop_nothing)
{
	static const char *const orders[] = { "start-first", "stop-first" };
	struct h_proc *load = NULL;
	cJSON *o, *st;
	unsigned id;
	int k, v = 1;

	fleet(NT);
	for (k = 0; k <= 20; k++) {
		const char *tag = k == 7 ? "bad" : k % 2 ? "2" : "1";

		h_write(&F, "web.yml",
		    "service: web\n"
		    "image: " IMG "%s\n"
		    "hosts: " LABELS "\n"
		    "port: { host: %d, container: 80 }\n"
		    "health:\n"
		    "  http: { path: /health, port: 80 }\n"
		    "  interval: 200ms\n"
		    "  timeout: 1s\n"
		    "  deadline: 5s\n"
		    "  min_healthy: 300ms\n"
		    "proxy: { mode: http, drain_timeout: 3s, max_pause: 10s }\n"
		    "rollout:\n"
		    "  batch: 2\n"
		    "  order: %s\n", tag, PORT, k == 7 ? "start-first" :
		    orders[k % 2]);
		if (k == 0) {
			/* The first deploy makes the routes; the load starts
			 * once every host serves. */
			cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out,
			    R.err);
			every_host_serves(1);
			/* A request that arrives while a stop-first swap holds
			 * waits by design, up to max_pause (10s): it fails
			 * only if it waits longer. */
			load = load_start_t("load", 0, NT - 1, 2, 20, 600, 11);
			continue;
		}
		if (k == 7) {
			id = deploy_bg("web.yml");
			st = wait_state(id, NULL, 120000);
			cr_assert_str_eq(jstr(st, "state"), "rolled_back", "a "
			    "version that fails health: %s", R.out);
			cJSON_Delete(st);
			every_host_serves(v);
			continue;
		}
		/* Bounded by wait_state, not by the CLI's 30 s: a loaded
		 * machine makes a deploy slow, never a request fail. */
		id = deploy_bg("web.yml");
		st = wait_state(id, NULL, 120000);
		cr_assert_str_eq(jstr(st, "state"), "succeeded", "deploy %d "
		    "(%s): %s", k, orders[k % 2], R.out);
		cJSON_Delete(st);
		v = atoi(tag);
		every_host_serves(v);
	}
	o = load_stop(load);
	no_failures(o, "20 deploys");
	cJSON_Delete(o);
	every_host_serves(v);
	for (k = 0; k < NT; k++)
		cr_assert_eq(running(k), 1, "%s runs %d containers", HOST[k],
		    running(k));

	/* The steps of the last start-first swap on the first host, in
	 * order, in the events: health passed, switched, drained, stopped. */
	{
		static const char *const steps[] = { "passed its health check",
		    "switched traffic to r", "drained (", "stopped r" };
		long long last = 0, ev;
		char sql[600];
		size_t i;

		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			snprintf(sql, sizeof(sql), "SELECT max(id) FROM events "
			    "WHERE kind = 'swap-step' AND host = '%s' AND "
			    "detail LIKE '%%%s%%' AND deployment = (SELECT "
			    "max(id) FROM deployments)", HOST[0], steps[i]);
			ev = db_count(sql);
			cr_assert_gt(ev, last, "event \"%s\" missing or out of "
			    "order", steps[i]);
			last = ev;
		}
	}
}

/*
 * An agent killed (SIGKILL) once its new container passed health, while
 * ferry-load runs: traffic goes on (the proxy holds the routes), the agent
 * comes back, settles the swap and the deployment finishes or rolls back
 * cleanly; not one request fails and every host serves one version.
 */
Test(nodrop, an_agent_killed_mid_deploy_drops_nothing)
{
	struct h_proc *load;
	cJSON *o, *st;
	unsigned id;
	const char *state;
	int v, i;

	fleet(NT);
	for (i = 1; i <= 2; i++) {
		h_write(&F, i == 1 ? "v1.yml" : "v2.yml",
		    "service: web\n"
		    "image: " IMG "%d\n"
		    "hosts: " LABELS "\n"
		    "port: { host: %d, container: 80 }\n"
		    "health:\n"
		    "  http: { path: /health, port: 80 }\n"
		    "  interval: 200ms\n"
		    "  deadline: 5s\n"
		    "  min_healthy: 1s\n"
		    "proxy: { drain_timeout: 3s }\n"
		    "rollout: { batch: 1, order: start-first }\n", i, PORT);
	}
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	every_host_serves(1);
	load = load_start("load", 0, NT - 1, 2, 20, 600);
	h_sleep_ms(500);
	id = deploy_bg("v2.yml");
	/* The second host's new container passed health: kill its agent. */
	cr_assert(h_wait_log(AGENT[1], "web r2: passed its health check",
	    60000),
	    "host 2 never got to health (see %s)", AGENT[1]->log);
	h_kill(AGENT[1], SIGKILL);
	h_sleep_ms(1000);
	AGENT[1] = h_start_agent(&F, HOST[1], NULL);
	st = wait_state(id, NULL, 90000);
	state = jstr(st, "state");
	cr_assert(strcmp(state, "succeeded") == 0 ||
	    strcmp(state, "rolled_back") == 0, "deployment ended %s", state);
	v = strcmp(state, "succeeded") == 0 ? 2 : 1;
	cJSON_Delete(st);
	h_sleep_ms(500);
	o = load_stop(load);
	no_failures(o, "agent killed mid-deploy");
	cJSON_Delete(o);
	every_host_serves(v);
	for (i = 0; i < NT; i++)
		cr_assert_eq(running(i), 1, "%s runs %d containers", HOST[i],
		    running(i));
}

/* ferry-load's count of one version's answers, on its only target. */
static double
version_count(const cJSON *o, const char *version)
{
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "targets"),
	    0);

	return jd(cJSON_GetObjectItem(t, "bodies"), version, NULL);
}

/*
 * ferry swap --weight 20 on one host: both revisions run and the proxy
 * sends version 2 a fifth of the requests (counted by the version the
 * image names in each answer); the same spec without --weight completes
 * the swap: version 1 drains and stops, version 2 answers everything.
 */
Test(nodrop, a_weighted_swap_splits_then_completes)
{
	struct h_proc *load;
	cJSON *o;
	double n1, n2, share;
	char p1[600], p2[600];
	int i;

	fleet(1);
	for (i = 1; i <= 2; i++)
		h_write(&F, i == 1 ? "v1.yml" : "v2.yml",
		    "service: web\n"
		    "image: " IMG "%d\n"
		    "hosts: [%s]\n"
		    "port: { host: %d, container: 80 }\n"
		    "health:\n"
		    "  http: { path: /health, port: 80 }\n"
		    "  interval: 200ms\n"
		    "  min_healthy: 300ms\n"
		    "proxy: { drain_timeout: 3s }\n", i, HOST[0], PORT);
	h_path(&F, "v1.yml", p1, sizeof(p1));
	h_path(&F, "v2.yml", p2, sizeof(p2));
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], p1, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], p2, "--weight",
	    "20", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert_eq(running(0), 2, "both revisions run");

	load = load_start("load-weighted", 0, 0, 2, 5, 600);
	h_sleep_ms(6000);
	o = load_stop(load);
	no_failures(o, "weighted 20/80");
	n1 = version_count(o, "1");
	n2 = version_count(o, "2");
	cr_assert_gt(n1 + n2, 100, "too few answers: %.0f", n1 + n2);
	cr_assert_eq(n1 + n2, jd(o, "responses", NULL), "answers of neither "
	    "version");
	share = n2 / (n1 + n2);
	cr_log_info("weighted: version 1 %.0f, version 2 %.0f (%.4f)", n1, n2,
	    share);
	cr_assert(share > 0.19 && share < 0.21, "version 2 got %.4f of the "
	    "requests, not 0.20 (%.0f of %.0f)", share, n2, n1 + n2);
	cJSON_Delete(o);

	/* Completed under load: nothing fails, version 1 goes. */
	load = load_start("load-complete", 0, 0, 2, 10, 600);
	h_sleep_ms(500);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], p2, NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	h_sleep_ms(500);
	o = load_stop(load);
	no_failures(o, "completing the weighted swap");
	cJSON_Delete(o);
	cr_assert_eq(running(0), 1, "version 1 still runs");
	load = load_start("load-after", 0, 0, 1, 5, 600);
	h_sleep_ms(1500);
	o = load_stop(load);
	cr_assert_eq(version_count(o, "1"), -1, "version 1 still answers");
	cr_assert_gt(version_count(o, "2"), 10);
	cJSON_Delete(o);
}

/* route_of reads host 0's proxy route of web (NULL: none); free the reply
 * *rp with ferry__proxy_reply__free_unpacked. */
static const Ferry__ProxyRoute *
route_of(Ferry__ProxyReply **rp)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	char ctl[600], err[300];
	size_t i;

	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	h_proxy_control(&F, HOST[0], ctl, sizeof(ctl));
	cr_assert_eq(proxywire_call(ctl, &rq, rp, NULL, NULL, 3000, err,
	    sizeof(err)), 0, "%s", err);
	for (i = 0; i < (*rp)->n_routes; i++)
		if (strcmp((*rp)->routes[i]->service, "web") == 0)
			return (*rp)->routes[i];
	return NULL;
}

/*
 * The spec's proxy settings reach the host's ferry-proxy as the route's:
 * mode, drain_timeout, max_pause, upstream_timeout, max_body, sticky, on
 * the agent's publish address and the host port, to the container's own
 * address and port; a later spec's tcp mode replaces them.
 */
Test(nodrop, spec_proxy_settings_reach_the_route)
{
	Ferry__ProxyReply *rp = NULL;
	const Ferry__ProxyRoute *r;
	char p[600];

	fleet(1);
	h_write(&F, "web.yml",
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { http: { path: /health, port: 80 }, interval: 200ms, "
	    "min_healthy: 300ms }\n"
	    "proxy:\n"
	    "  mode: http\n"
	    "  drain_timeout: 2s\n"
	    "  max_pause: 4s\n"
	    "  upstream_timeout: 7s\n"
	    "  max_body: 1MiB\n"
	    "  sticky: true\n", HOST[0], PORT);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], h_path(&F,
	    "web.yml", p, sizeof(p)), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	r = route_of(&rp);
	cr_assert_not_null(r, "no route for web");
	cr_assert_eq(r->mode, FERRY__PROXY_MODE__PROXY_HTTP);
	cr_assert_str_eq(r->listen_address, ADDR[0]);
	cr_assert_eq(r->listen_port, (uint32_t)PORT);
	cr_assert_eq(r->drain_timeout_ms, 2000);
	cr_assert_eq(r->max_pause_ms, 4000);
	cr_assert_eq(r->upstream_timeout_ms, 7000);
	cr_assert_eq(r->max_body, 1u << 20);
	cr_assert(r->sticky);
	cr_assert(!r->hold);
	cr_assert_eq(r->n_targets, 1);
	cr_assert_eq(r->targets[0]->port, 80);
	cr_assert_neq(strncmp(r->targets[0]->address, "127.", 4), 0,
	    "the target is the container's own address, not %s",
	    r->targets[0]->address);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_assert_eq(serving(0), 1);

	/* TCP mode, written, replaces HTTP; the service still answers. */
	h_write(&F, "web.yml",
	    "service: web\n"
	    "image: " IMG "2\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { http: { path: /health, port: 80 }, interval: 200ms, "
	    "min_healthy: 300ms }\n"
	    "proxy: { mode: tcp, drain_timeout: 1s }\n", HOST[0], PORT);
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], h_path(&F,
	    "web.yml", p, sizeof(p)), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	r = route_of(&rp);
	cr_assert_not_null(r, "no route for web");
	cr_assert_eq(r->mode, FERRY__PROXY_MODE__PROXY_TCP);
	cr_assert_eq(r->drain_timeout_ms, 1000);
	cr_assert_eq(r->max_body, 0);
	cr_assert(!r->sticky);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	cr_assert_eq(serving(0), 2);
}
