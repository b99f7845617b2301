/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/plan.c coordinator/rollout.c coordinator/spec.c coordinator/yamltree.c coordinator/imageref.c
/* test_plan.c: choosing a spec's hosts and planning its rollout over a
 * made-up fleet: what is refused before anything starts, and offline
 * hosts that are never skipped in silence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "plan.h"

static struct spec *
parse(const char *extra)
{
	char text[2048], err[512] = "";
	struct spec *s = NULL;

	snprintf(text, sizeof(text),
	    "service: web\n"
	    "image: 127.0.0.1:5000/web:1\n"
	    "hosts: { labels: { role: web } }\n"
	    "health:\n"
	    "  tcp: 80\n"
	    "%s", extra);
	cr_assert_eq(spec_parse("web.yml", text, strlen(text), &s, err,
	    sizeof(err)), 0, "%s", err);
	return s;
}

static const struct label web[] = { { "role", "web" } };
static const struct label db[] = { { "role", "db" } };

/* host fills a plan_host labelled role=web. */
static struct plan_host
host(const char *name, int online)
{
	struct plan_host h;

	memset(&h, 0, sizeof(h));
	h.name = name;
	h.accepted = 1;
	h.online = online;
	h.state = online ? "online" : "offline";
	h.labels = web;
	h.nlabels = 1;
	return h;
}

Test(plan, hosts_by_label_in_name_order_with_their_batches)
{
	struct spec *s = parse("rollout: { batch: 2 }\n");
	struct plan_host f[4] = { host("web-3", 1), host("web-1", 1),
	    host("db-1", 1), host("web-2", 1) };
	struct plan p;
	char why[256] = "";

	f[2].labels = db;
	f[1].runs_service = 1;
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 3);
	cr_assert_str_eq(p.names[0], "web-1");
	cr_assert_str_eq(p.names[2], "web-3");
	cr_assert_eq(p.prev[0], 1);
	cr_assert_eq(p.prev[1], 0);
	cr_assert_eq(p.r.nbatches, 2);
	cr_assert_eq(p.noffline, 0);
	plan_free(&p);
	spec_free(s);
}

Test(plan, offline_hosts_are_listed_refused_or_skipped_never_silent)
{
	struct spec *s = parse("");
	struct plan_host f[3] = { host("web-1", 1), host("web-2", 0),
	    host("web-3", 1) };
	struct plan p;
	char why[512] = "";

	/* ferry plan: listed, nothing refused. */
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(p.noffline, 1);
	cr_assert_str_eq(p.offline[0], "web-2");
	plan_free(&p);
	/* ferry deploy: refused, naming the host and the way out. */
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), FERR_STATE);
	cr_assert(strstr(why, "1 of the 3 matched hosts is offline (web-2)")
	    != NULL, "%s", why);
	cr_assert(strstr(why, "--skip-offline") != NULL, "%s", why);
	cr_assert_null(p.names);
	/* --skip-offline: left out, and said so. */
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(p.r.nhosts, 2);
	cr_assert_str_eq(p.offline[0], "web-2");
	plan_free(&p);
	/* Every matched host away: nothing to deploy to, even skipping. */
	f[0].online = f[2].online = 0;
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), FERR_NOTFOUND);
	cr_assert(strstr(why, "every one is offline") != NULL, "%s", why);
	spec_free(s);
}

Test(plan, a_host_port_another_service_holds_is_refused)
{
	struct spec *s = parse("port: { host: 8080, container: 80 }\n");
	struct plan_claim api = { "api", 8080 }, own = { "web", 8080 },
	    other = { "api", 9090 };
	struct plan_host f[2] = { host("web-1", 1), host("web-2", 1) };
	struct plan p;
	char why[512] = "";

	/* Start-first, the default, needs the hosts' proxies. */
	f[0].proxy = f[1].proxy = 1;
	/* Its own port, or another port: fine. */
	f[0].claims = &own;
	f[0].nclaims = 1;
	f[1].claims = &other;
	f[1].nclaims = 1;
	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	f[1].claims = &api;
	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), FERR_EXISTS);
	cr_assert_str_eq(why, "host port 8080 on web-2 is claimed by service "
	    "api: two services cannot publish one port on one host");
	cr_assert_null(p.names);
	spec_free(s);
}

Test(plan, start_first_with_a_host_port_needs_a_proxy_on_every_host)
{
	struct spec *s = parse("port: { host: 8080, container: 80 }\n"
	    "rollout: { order: start-first }\n");
	struct spec *stop = parse("port: { host: 8080, container: 80 }\n"
	    "rollout: { order: stop-first }\n");
	struct spec *nop = parse("rollout: { order: start-first }\n");
	struct plan_host f[4] = { host("web-1", 1), host("web-2", 1),
	    host("web-3", 1), host("web-4", 0) };
	struct plan p;
	char why[512] = "";

	f[0].proxy = 1;
	f[1].proxy_why = "no proxy answer: connect /run/ferry-proxy/"
	    "control.sock: Connection refused";
	f[2].proxy = 1;
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), FERR_STATE);
	cr_assert_str_eq(why, "rollout.order: start-first with a host port "
	    "(8080) needs ferry-proxy on every host: web-2 (no proxy answer: "
	    "connect /run/ferry-proxy/control.sock: Connection refused) has "
	    "none; use stop-first or start the proxy");
	cr_assert_null(p.names);
	/* Two without: both named. */
	f[2].proxy = 0;
	f[2].proxy_why = "its agent runs no proxy: proxy_control is empty";
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), FERR_STATE);
	cr_assert(strstr(why, "web-2 (no proxy answer") != NULL, "%s", why);
	cr_assert(strstr(why, ", web-3 (its agent runs no proxy: "
	    "proxy_control is empty) have none") != NULL, "%s", why);
	/* Every online host with a proxy (web-4 is offline, listed): fine. */
	f[1].proxy = f[2].proxy = 1;
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 3);
	plan_free(&p);
	/* Stop-first, or start-first without a host port: no proxy needed. */
	f[1].proxy = f[2].proxy = 0;
	cr_assert_eq(plan_make(stop, f, 4, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	cr_assert_eq(plan_make(nop, f, 4, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	spec_free(s);
	spec_free(stop);
	spec_free(nop);
}

Test(plan, named_hosts_must_exist_and_be_accepted)
{
	struct spec *s = NULL;
	const char *text = "service: web\nimage: r/web:1\n"
	    "hosts: [web-1, web-9]\nhealth: { tcp: 80 }\n";
	struct plan_host f[2] = { host("web-1", 1), host("web-2", 1) };
	struct plan p;
	char why[512] = "";

	cr_assert_eq(spec_parse("w.yml", text, strlen(text), &s, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), FERR_NOTFOUND);
	cr_assert_str_eq(why, "unknown host \"web-9\"");
	spec_free(s);
	text = "service: web\nimage: r/web:1\nhosts: [web-2]\n"
	    "health: { tcp: 80 }\n";
	cr_assert_eq(spec_parse("w.yml", text, strlen(text), &s, why,
	    sizeof(why)), 0, "%s", why);
	f[1].accepted = 0;
	f[1].state = "pending";
	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), FERR_STATE);
	cr_assert_str_eq(why, "host web-2 is pending");
	spec_free(s);
}

Test(plan, diff_names_changes_and_never_env_values)
{
	struct spec *a = parse("env: { A: secret-one }\n");
	struct spec *b = parse("env: { A: secret-two, B: x }\n"
	    "rollout: { skip_offline: true }\n");
	char **out = NULL;
	size_t n = 0, i;
	int changed = 0, added = 0;

	cr_assert_eq(b->rollout.skip_offline, 1);
	plan_diff(a, b, &out, &n);
	for (i = 0; i < n; i++) {
		cr_assert(strstr(out[i], "secret") == NULL, "%s", out[i]);
		changed += strcmp(out[i], "env: A changed") == 0;
		added += strcmp(out[i], "env: B added") == 0;
		free(out[i]);
	}
	free(out);
	cr_assert(changed == 1 && added == 1);
	out = NULL;
	n = 0;
	plan_diff(NULL, b, &out, &n);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(out[0], "new service web: image 127.0.0.1:5000/web:1");
	free(out[0]);
	free(out);
	spec_free(a);
	spec_free(b);
}

/* A fleet of six proxied hosts, web-1..web-6. */
static void
six(struct plan_host *f)
{
	static const char *const n[6] = { "web-1", "web-2", "web-3", "web-4",
	    "web-5", "web-6" };

	for (int i = 0; i < 6; i++) {
		f[i] = host(n[i], 1);
		f[i].proxy = 1;
		f[i].runs_service = 1;
	}
}

#define PORT_LINE "port: { host: 8080, container: 80 }\n"

Test(plan, a_canary_runs_on_its_hosts_first_then_the_rest_in_batches)
{
	static const struct { const char *hosts; size_t n; uint32_t nb; }
	    cases[] = {
		{ "all", 6, 1 },	/* every host at once */
		{ "2", 2, 3 },		/* then 4 in batches of 2 */
		{ "50%", 3, 3 },	/* 3, then 2 and 1 */
		{ "10%", 1, 4 },	/* at least one */
	};
	struct plan_host f[6];
	struct plan p;
	char why[256] = "", text[600], line[1024];
	size_t k, i, b0;

	six(f);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct spec *s;

		snprintf(text, sizeof(text), PORT_LINE "strategy: canary\n"
		    "canary: { hosts: %s, steps: [ { weight: 5%%, for: 15m },"
		    " { weight: 50%% } ] }\n"
		    "analysis: { interval: 30s, error_rate: { max: 1%% } }\n"
		    "rollout: { batch: 2 }\n", cases[k].hosts);
		s = parse(text);
		cr_assert_eq(plan_make(s, f, 6, PLAN_OFFLINE_REFUSE, &p, why,
		    sizeof(why)), 0, "%s", why);
		for (i = 0, b0 = 0; i < p.r.nhosts; i++)
			b0 += p.r.hosts[i].batch == 0;
		cr_assert_eq(b0, cases[k].n, "hosts: %s", cases[k].hosts);
		cr_assert_eq(p.r.nbatches, cases[k].nb, "hosts: %s",
		    cases[k].hosts);
		cr_assert_eq(p.r.cfg.strategy, RS_CANARY);
		cr_assert_eq(p.r.cfg.nsteps, 2);
		cr_assert_eq(p.r.cfg.steps[0].weight, 5);
		cr_assert_eq(p.r.cfg.steps[0].for_ms, 900000);
		cr_assert(p.r.cfg.steps[1].wait);
		cr_assert(p.r.cfg.analysis);
		cr_assert_eq(p.r.cfg.interval_ms, 30000);
		cr_assert_eq(p.r.phase, CP_SEND);
		plan_strategy_text(s, &p.r, line, sizeof(line));
		cr_assert(strstr(line, "5% for 15m, 50% until ferry promote") !=
		    NULL, "%s", line);
		cr_assert(strstr(line, "judged every 30s") != NULL, "%s", line);
		plan_free(&p);
		spec_free(s);
	}
}

Test(plan, blue_green_prepares_every_host_and_needs_their_proxies)
{
	struct spec *s = parse(PORT_LINE "strategy: blue-green\n"
	    "blue_green: { keep_old: 5m }\n");
	struct plan_host f[6];
	struct plan p;
	char why[512] = "", line[1024];

	six(f);
	cr_assert_eq(plan_make(s, f, 6, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.r.nbatches, 1);
	cr_assert_eq(p.r.cfg.strategy, RS_BLUE_GREEN);
	cr_assert_eq(p.r.cfg.steps[0].weight, 0);
	cr_assert_eq(p.r.cfg.steps[1].weight, 100);
	cr_assert_eq(p.r.cfg.steps[1].for_ms, 300000);
	plan_strategy_text(s, &p.r, line, sizeof(line));
	cr_assert(strstr(line, "blue-green on 6 hosts") != NULL &&
	    strstr(line, "kept warm for 5m") != NULL, "%s", line);
	plan_free(&p);
	/* A host without a proxy: named, even though the order is
	 * stop-first (the split needs the proxy). */
	f[3].proxy = 0;
	f[3].proxy_why = "no proxy answer: connection refused";
	spec_free(s);
	s = parse(PORT_LINE "strategy: blue-green\n"
	    "rollout: { order: stop-first }\n");
	cr_assert_eq(plan_make(s, f, 6, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), FERR_STATE);
	cr_assert(strstr(why, "strategy: blue-green splits traffic with "
	    "ferry-proxy") != NULL && strstr(why, "web-4 (no proxy answer: "
	    "connection refused)") != NULL, "%s", why);
	spec_free(s);
}

/* A drained host is never in a plan's batches, whatever the offline mode
 * (a deploy is not refused for it), and is named as drained; a drained
 * host offline too counts as drained; all drained: nothing to deploy to. */
Test(plan, drained_hosts_are_skipped_and_named)
{
	struct spec *s = parse("rollout: { order: start-first }\n"
	    "port: { host: 8080, container: 80 }\n");
	struct plan_host f[4] = { host("web-1", 1), host("web-2", 1),
	    host("web-3", 1), host("web-4", 0) };
	struct plan p;
	char why[512] = "", text[256];
	size_t i;

	for (i = 0; i < 4; i++)
		f[i].proxy = 1;
	f[1].drained = 1;
	f[1].proxy = 0;		/* no proxy: no matter, it is left out */
	f[3].drained = 1;	/* drained and offline: drained */
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_REFUSE, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.names[0], "web-1");
	cr_assert_str_eq(p.names[1], "web-3");
	cr_assert_eq(p.r.nhosts, 2);
	cr_assert_eq(p.noffline, 0);
	cr_assert_eq(p.ndrained, 2);
	cr_assert_str_eq(p.drained[0], "web-2");
	plan_offline_text(&p, text, sizeof(text));
	cr_assert_str_eq(text, "web-2:drained, web-4:drained");
	plan_free(&p);
	f[0].drained = f[2].drained = 1;
	cr_assert_eq(plan_make(s, f, 4, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), FERR_NOTFOUND);
	cr_assert(strstr(why, "every one is drained") != NULL, "%s", why);
	spec_free(s);
}

/* A bind outside a chosen host's allowed folders is refused naming the
 * host, the path and the folders; a host not heard from since ferryd
 * started is left to its agent; named volumes are not binds. */
Test(plan, a_bind_outside_a_hosts_allowed_paths_is_refused)
{
	struct spec *s = parse("volumes: [ \"data:/d\", \"/srv/web/static:/s:ro\" "
	    "]\n");
	struct plan_host f[3] = { host("web-1", 1), host("web-2", 1),
	    host("web-3", 0) };
	struct plan p;
	char why[512] = "";

	f[0].heard = f[1].heard = 1;
	f[0].allowed_binds = "/srv/web";
	f[1].allowed_binds = "/srv/db, /var/lib/x";
	f[2].allowed_binds = NULL;	/* offline, never heard */
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), FERR_PERM);
	cr_assert_str_eq(why, "volumes: host web-2 does not allow binding "
	    "/srv/web/static: its agent's --allowed-bind-paths are /srv/db, "
	    "/var/lib/x");
	f[1].allowed_binds = "";
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), FERR_PERM);
	cr_assert_str_eq(why, "volumes: host web-2 does not allow binding "
	    "/srv/web/static: its agent's --allowed-bind-paths allow nothing "
	    "(empty)");
	/* /srv/webx is not under /srv/web. */
	f[1].allowed_binds = "/srv/webx";
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), FERR_PERM);
	f[1].allowed_binds = "/srv";
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	/* Not heard from: the agent judges. */
	f[1].heard = 0;
	f[1].allowed_binds = NULL;
	cr_assert_eq(plan_make(s, f, 3, PLAN_OFFLINE_SKIP, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	spec_free(s);
}

/* Several host ports, on hosts with and without ferry-proxy: planned
 * (the proxy serves each port as a route of its own). */
Test(plan, several_ports_with_or_without_the_proxy)
{
	struct spec *s = parse("ports: [ { host: 8080, container: 80 }, "
	    "{ host: 9090, container: 90 } ]\nrollout: { order: stop-first }\n");
	struct plan_host f[2] = { host("web-1", 1), host("web-2", 1) };
	struct plan p;
	char why[512] = "";

	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	plan_free(&p);
	f[1].proxy = 1;
	cr_assert_eq(plan_make(s, f, 2, PLAN_OFFLINE_LIST, &p, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(p.n, 2);
	plan_free(&p);
	spec_free(s);
}

/* Each container key, when it changes, is one line of the diff. */
Test(plan, diff_shows_the_container_keys)
{
	struct spec *a = parse("command: [a]\nuser: app\n"
	    "volumes: [ \"data:/d\" ]\nresources: { memory: 64m }\n"
	    "labels: { team: x }\nlog: { driver: local }\n"
	    "port: { host: 8080, container: 80 }\n");
	struct spec *b = parse("command: [a, b]\nentrypoint: [/init]\n"
	    "workdir: /srv\nuser: \"1000\"\n"
	    "volumes: [ \"data:/d\", \"/srv/x:/x:ro\" ]\n"
	    "resources: { memory: 128m, cpus: 1.5 }\nrestart: always\n"
	    "stop_signal: SIGQUIT\nstop_timeout: 30s\n"
	    "labels: { team: y }\n"
	    "log: { driver: json-file, options: { max-size: 1m } }\n"
	    "ports: [ { host: 8080, container: 80 }, { host: 9090, container: "
	    "90, mode: tcp } ]\nrollout: { order: stop-first }\n");
	static const char *const want[] = {
		"ports: 8080:80 -> 8080:80, 9090:90/tcp",
		"command: [a] -> [a, b]",
		"entrypoint: (the image's) -> [/init]",
		"workdir: (the image's) -> /srv",
		"user: app -> 1000",
		"volumes: data:/d -> data:/d, /srv/x:/x:ro",
		"labels: team=x -> team=y",
		"log: local (none) -> json-file max-size=1m",
		"restart: unless-stopped -> always",
		"stop_signal: (the image's) -> SIGQUIT",
		"resources.memory (bytes): 67108864 -> 134217728",
		"resources.cpus: 0.00 -> 1.50",
		"stop_timeout (s): 10 -> 30",
		NULL,
	};
	char **out = NULL;
	size_t n = 0, i, k;

	plan_diff(a, b, &out, &n);
	for (k = 0; want[k] != NULL; k++) {
		for (i = 0; i < n && strcmp(out[i], want[k]) != 0; i++)
			;
		cr_assert_lt(i, n, "no line \"%s\"", want[k]);
	}
	for (i = 0; i < n; i++)
		free(out[i]);
	free(out);
	/* Nothing changed: no line. */
	out = NULL;
	n = 0;
	plan_diff(b, b, &out, &n);
	cr_assert_eq(n, 0, "%s", n ? out[0] : "");
	free(out);
	spec_free(a);
	spec_free(b);
}
