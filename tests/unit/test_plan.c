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
