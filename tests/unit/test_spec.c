/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/spec.c coordinator/yamltree.c coordinator/imageref.c
/* test_spec.c: the service spec parser: every field read back, DESIGN's
 * defaults, an exact file:line: field message for each kind of bad input
 * and each combination refused (canary and analysis without their
 * strategy, ...), and the walk of every key ferry.yml(5) documents to the
 * test that shows its effect. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "spec.h"

TestSuite(spec, .timeout = 20);

/* DESIGN's example spec, one line per entry, so that tests can replace a
 * line and know its number. */
static const char *const design[] = {
	"service: web",						/* 1 */
	"image: 127.0.0.1:5000/web:1.4.2",			/* 2 */
	"hosts: { labels: { role: web } }        # or: hosts: [web-1, web-2]",
	"port: { host: 8080, container: 80 }",			/* 4 */
	"env: { LOG_LEVEL: info }",				/* 5 */
	"secrets: [DB_PASSWORD]",				/* 6 */
	"health:",						/* 7 */
	"  http: { path: /health, port: 80, status: 200 }   "
	    "# or tcp: 80 | exec: [cmd, args] | docker: true",	/* 8 */
	"  interval: 1s",					/* 9 */
	"  timeout: 1s",					/* 10 */
	"  start_period: 0s          # failures before this do not count",
	"  healthy_threshold: 1      # consecutive passes that make it "
	    "healthy",						/* 12 */
	"  unhealthy_threshold: 3    # consecutive counted failures that "
	    "fail it",						/* 13 */
	"  deadline: 60s             # not healthy by then: failed",
	"  min_healthy: 5s           # must stay healthy this long after "
	    "passing",						/* 15 */
	"rollout:",						/* 16 */
	"  batch: 2                  # or \"25%\"",		/* 17 */
	"  canary: 1                 # size of the first batch, optional",
	"  order: stop-first         # or start-first",		/* 19 */
	"  pause: 0s",						/* 20 */
	"  max_failures: 0",					/* 21 */
	"  on_failure: rollback      # rollback | pause | continue",
	NULL,
};

static char text_buf[1 << 14];

/* edit returns DESIGN's example with line `at` (1-based) replaced by repl,
 * which may hold several lines; at 0 changes nothing. */
static const char *
edit(int at, const char *repl)
{
	size_t o = 0;
	int i;

	for (i = 0; design[i] != NULL; i++) {
		const char *l = i + 1 == at ? repl : design[i];

		o += (size_t)snprintf(text_buf + o, sizeof(text_buf) - o,
		    "%s\n", l);
		cr_assert_lt(o, sizeof(text_buf));
	}
	return text_buf;
}

static int
parse(const char *text, struct spec **s, char *err, size_t errlen)
{
	return spec_parse("web.yml", text, strlen(text), s, err, errlen);
}

static struct spec *
parse_ok(const char *text)
{
	struct spec *s = NULL;
	char err[512] = "";

	cr_assert_eq(parse(text, &s, err, sizeof(err)), 0, "%s\n---\n%s",
	    err, text);
	cr_assert_not_null(s);
	cr_assert_str_empty(err);
	return s;
}

/* refused: text is refused with FERR_MALFORMED, nothing returned, and the
 * message holds want. */
static void
refused(const char *text, const char *want)
{
	struct spec *s = (struct spec *)1;
	char err[512] = "";

	cr_assert_eq(parse(text, &s, err, sizeof(err)), FERR_MALFORMED,
	    "accepted:\n%s", text);
	cr_assert_null(s);
	cr_assert_not_null(strstr(err, want), "message \"%s\" lacks \"%s\"",
	    err, want);
}

/* refused_exact: as refused, and the message is exactly want. */
static void
refused_exact(const char *text, const char *want)
{
	struct spec *s = (struct spec *)1;
	char err[512] = "";

	cr_assert_eq(parse(text, &s, err, sizeof(err)), FERR_MALFORMED,
	    "accepted:\n%s", text);
	cr_assert_null(s);
	cr_assert_str_eq(err, want);
}

static const char MINIMAL[] =
    "service: web\n"
    "image: web:1\n"
    "hosts: [web-1]\n"
    "health: { tcp: 80 }\n";

/* ---- what parses ---------------------------------------------------- */

Test(spec, design_example_reads_back_every_field)
{
	struct spec *s = parse_ok(edit(0, NULL));

	cr_assert_str_eq(s->service, "web");
	cr_assert_str_eq(s->image, "127.0.0.1:5000/web:1.4.2");
	cr_assert_eq(s->hosts, SPEC_HOSTS_LABELS);
	cr_assert_eq(s->nhost_labels, 1);
	cr_assert_str_eq(s->host_labels[0].name, "role");
	cr_assert_str_eq(s->host_labels[0].value, "web");
	cr_assert_null(s->host_names);
	cr_assert_eq(s->nhost_names, 0);
	cr_assert_eq(s->port.set, 1);
	cr_assert_eq(s->port.host, 8080);
	cr_assert_eq(s->port.container, 80);
	cr_assert_eq(s->nenv, 1);
	cr_assert_str_eq(s->env[0].name, "LOG_LEVEL");
	cr_assert_str_eq(s->env[0].value, "info");
	cr_assert_eq(s->health.check, SPEC_CHECK_HTTP);
	cr_assert_str_eq(s->health.http_path, "/health");
	cr_assert_eq(s->health.http_port, 80);
	cr_assert_eq(s->health.http_status, 200);
	cr_assert_eq(s->health.interval_ms, 1000);
	cr_assert_eq(s->health.timeout_ms, 1000);
	cr_assert_eq(s->health.start_period_ms, 0);
	cr_assert_eq(s->health.start_interval_ms, 100);
	cr_assert_eq(s->health.healthy_threshold, 1);
	cr_assert_eq(s->health.unhealthy_threshold, 3);
	cr_assert_eq(s->health.deadline_ms, 60000);
	cr_assert_eq(s->health.min_healthy_ms, 5000);
	cr_assert_eq(s->rollout.batch, 2);
	cr_assert_eq(s->rollout.batch_percent, 0);
	cr_assert_eq(s->rollout.canary, 1);
	cr_assert_eq(s->rollout.order, SPEC_ORDER_STOP_FIRST);
	cr_assert_eq(s->rollout.pause_ms, 0);
	cr_assert_eq(s->rollout.max_failures, 0);
	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_ROLLBACK);
	spec_free(s);
}

Test(spec, every_setting_away_from_its_default)
{
	struct spec *s = parse_ok(
	    "service: api.v2_x-1\n"
	    "image: registry.example.com:5000/team/api:2.0@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "\n"
	    "hosts: [web-1, web-2, db.3]\n"
	    "port: { host: 9090, container: \"8080\" }\n"
	    "env:\n"
	    "  ZED: last\n"
	    "  A_VAR: \"one: with a colon\"\n"
	    "  EMPTY: \"\"\n"
	    "  NUM: 5432\n"
	    "strategy: rolling\n"
	    "health:\n"
	    "  exec: [pg_isready, -h, localhost, \"-p\", 5432, \"\"]\n"
	    "  interval: 250ms\n"
	    "  timeout: 2s\n"
	    "  start_period: 10s\n"
	    "  start_interval: 20ms\n"
	    "  healthy_threshold: 2\n"
	    "  unhealthy_threshold: 5\n"
	    "  deadline: 2m\n"
	    "  min_healthy: 30\n"
	    "rollout:\n"
	    "  batch: \"25%\"\n"
	    "  canary: 3\n"
	    "  order: start-first\n"
	    "  pause: 1m\n"
	    "  max_failures: 2\n"
	    "  on_failure: pause\n");

	cr_assert_str_eq(s->service, "api.v2_x-1");
	cr_assert_str_eq(s->image, "registry.example.com:5000/team/api:2.0@"
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef");
	cr_assert_eq(s->hosts, SPEC_HOSTS_NAMES);
	cr_assert_eq(s->nhost_names, 3);
	cr_assert_str_eq(s->host_names[0], "web-1");
	cr_assert_str_eq(s->host_names[1], "web-2");
	cr_assert_str_eq(s->host_names[2], "db.3");
	cr_assert_eq(s->port.host, 9090);
	cr_assert_eq(s->port.container, 8080);
	/* The file's order, not sorted. */
	cr_assert_eq(s->nenv, 4);
	cr_assert_str_eq(s->env[0].name, "ZED");
	cr_assert_str_eq(s->env[0].value, "last");
	cr_assert_str_eq(s->env[1].name, "A_VAR");
	cr_assert_str_eq(s->env[1].value, "one: with a colon");
	cr_assert_str_eq(s->env[2].name, "EMPTY");
	cr_assert_str_eq(s->env[2].value, "");
	cr_assert_str_eq(s->env[3].name, "NUM");
	cr_assert_str_eq(s->env[3].value, "5432");
	cr_assert_eq(s->health.check, SPEC_CHECK_EXEC);
	cr_assert_eq(s->health.argc, 6);
	cr_assert_str_eq(s->health.argv[0], "pg_isready");
	cr_assert_str_eq(s->health.argv[1], "-h");
	cr_assert_str_eq(s->health.argv[2], "localhost");
	cr_assert_str_eq(s->health.argv[3], "-p");
	cr_assert_str_eq(s->health.argv[4], "5432");
	cr_assert_str_eq(s->health.argv[5], "");
	cr_assert_null(s->health.http_path);
	cr_assert_eq(s->health.interval_ms, 250);
	cr_assert_eq(s->health.timeout_ms, 2000);
	cr_assert_eq(s->health.start_period_ms, 10000);
	cr_assert_eq(s->health.start_interval_ms, 20);
	cr_assert_eq(s->health.healthy_threshold, 2);
	cr_assert_eq(s->health.unhealthy_threshold, 5);
	cr_assert_eq(s->health.deadline_ms, 120000);
	cr_assert_eq(s->health.min_healthy_ms, 30000);	/* bare: seconds */
	cr_assert_eq(s->rollout.batch, 25);
	cr_assert_eq(s->rollout.batch_percent, 1);
	cr_assert_eq(s->rollout.canary, 3);
	cr_assert_eq(s->rollout.order, SPEC_ORDER_START_FIRST);
	cr_assert_eq(s->rollout.pause_ms, 60000);
	cr_assert_eq(s->rollout.max_failures, 2);
	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_PAUSE);
	spec_free(s);
}

Test(spec, hosts_by_names_in_both_forms)
{
	struct spec *s = parse_ok(edit(3, "hosts: [web-1, web-2]"));

	cr_assert_eq(s->hosts, SPEC_HOSTS_NAMES);
	cr_assert_eq(s->nhost_names, 2);
	cr_assert_str_eq(s->host_names[0], "web-1");
	cr_assert_str_eq(s->host_names[1], "web-2");
	cr_assert_eq(s->nhost_labels, 0);
	cr_assert_null(s->host_labels);
	spec_free(s);

	s = parse_ok(edit(3, "hosts:\n  names:\n    - web-9\n    - Web.10"));
	cr_assert_eq(s->hosts, SPEC_HOSTS_NAMES);
	cr_assert_eq(s->nhost_names, 2);
	cr_assert_str_eq(s->host_names[0], "web-9");
	cr_assert_str_eq(s->host_names[1], "Web.10");
	spec_free(s);
}

Test(spec, several_labels_kept_in_order)
{
	struct spec *s = parse_ok(edit(3,
	    "hosts: { labels: { role: web, zone: eu-1, tier: \"2\" } }"));

	cr_assert_eq(s->hosts, SPEC_HOSTS_LABELS);
	cr_assert_eq(s->nhost_labels, 3);
	cr_assert_str_eq(s->host_labels[0].name, "role");
	cr_assert_str_eq(s->host_labels[1].name, "zone");
	cr_assert_str_eq(s->host_labels[1].value, "eu-1");
	cr_assert_str_eq(s->host_labels[2].name, "tier");
	cr_assert_str_eq(s->host_labels[2].value, "2");
	spec_free(s);
}

Test(spec, defaults_when_health_and_rollout_fields_are_absent)
{
	struct spec *s = parse_ok(MINIMAL);

	cr_assert_str_eq(s->service, "web");
	cr_assert_str_eq(s->image, "web:1");
	cr_assert_eq(s->port.set, 0);
	cr_assert_eq(s->nenv, 0);
	cr_assert_null(s->env);
	cr_assert_eq(s->health.check, SPEC_CHECK_TCP);
	cr_assert_eq(s->health.tcp_port, 80);
	cr_assert_eq(s->health.interval_ms, 1000);
	cr_assert_eq(s->health.timeout_ms, 1000);
	cr_assert_eq(s->health.start_period_ms, 0);
	cr_assert_eq(s->health.start_interval_ms, 100);
	cr_assert_eq(s->health.healthy_threshold, 1);
	cr_assert_eq(s->health.unhealthy_threshold, 3);
	cr_assert_eq(s->health.deadline_ms, 60000);
	cr_assert_eq(s->health.min_healthy_ms, 5000);
	cr_assert_eq(s->rollout.batch, 1);
	cr_assert_eq(s->rollout.batch_percent, 0);
	cr_assert_eq(s->rollout.canary, 0);
	cr_assert_eq(s->rollout.order, SPEC_ORDER_START_FIRST);
	cr_assert_eq(s->rollout.pause_ms, 0);
	/* The proxy's defaults; tcp, as the health check is tcp. */
	cr_assert_eq(s->proxy.mode, SPEC_PROXY_TCP);
	cr_assert_eq(s->proxy.drain_timeout_ms, 30000);
	cr_assert_eq(s->proxy.max_pause_ms, 30000);
	cr_assert_eq(s->proxy.upstream_timeout_ms, 60000);
	cr_assert_eq(s->proxy.max_body, 0);
	cr_assert_eq(s->proxy.sticky, 0);
	cr_assert_eq(s->rollout.max_failures, 0);
	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_ROLLBACK);
	spec_free(s);

	/* An empty rollout mapping, and http without a status. */
	s = parse_ok("service: web\nimage: web\nhosts: [a]\n"
	    "health: { http: { path: /, port: 8080 } }\nrollout: {}\n");
	cr_assert_eq(s->health.check, SPEC_CHECK_HTTP);
	cr_assert_str_eq(s->health.http_path, "/");
	cr_assert_eq(s->health.http_port, 8080);
	cr_assert_eq(s->health.http_status, 200);
	cr_assert_eq(s->rollout.batch, 1);
	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_ROLLBACK);
	spec_free(s);
}

Test(spec, tcp_check)
{
	struct spec *s = parse_ok(edit(8, "  tcp: 5432"));

	cr_assert_eq(s->health.check, SPEC_CHECK_TCP);
	cr_assert_eq(s->health.tcp_port, 5432);
	cr_assert_null(s->health.http_path);
	spec_free(s);
}

Test(spec, exec_check_argv)
{
	struct spec *s = parse_ok(edit(8, "  exec:\n    - /bin/sh\n    - -c\n"
	    "    - 'wget -q -O- http://127.0.0.1/health | grep ok'"));

	cr_assert_eq(s->health.check, SPEC_CHECK_EXEC);
	cr_assert_eq(s->health.argc, 3);
	cr_assert_str_eq(s->health.argv[0], "/bin/sh");
	cr_assert_str_eq(s->health.argv[1], "-c");
	cr_assert_str_eq(s->health.argv[2],
	    "wget -q -O- http://127.0.0.1/health | grep ok");
	spec_free(s);
}

Test(spec, docker_check)
{
	struct spec *s = parse_ok(edit(8, "  docker: true"));

	cr_assert_eq(s->health.check, SPEC_CHECK_DOCKER);
	spec_free(s);
	/* docker: false chooses nothing, so another check may stand. */
	s = parse_ok(edit(8, "  docker: false\n  tcp: 80"));
	cr_assert_eq(s->health.check, SPEC_CHECK_TCP);
	spec_free(s);
	refused_exact(edit(8, "  docker: false"), "web.yml:7: health: "
	    "expected a check: one of http, tcp, exec or docker: true");
	refused_exact(edit(8, "  docker: yes please"), "web.yml:8: "
	    "health.docker: expected true, false, or a mapping like { test: "
	    "[CMD, pg_isready, -q] }, got \"yes please\"");
}

Test(spec, batch_as_percentage_and_count)
{
	static const struct { const char *line; uint32_t batch; int pct; }
	    ok[] = {
		{ "  batch: \"25%\"", 25, 1 },
		{ "  batch: 25%", 25, 1 },
		{ "  batch: '1%'", 1, 1 },
		{ "  batch: 100%", 100, 1 },
		{ "  batch: 1", 1, 0 },
		{ "  batch: 500", 500, 0 },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct spec *s = parse_ok(edit(17, ok[i].line));

		cr_assert_eq(s->rollout.batch, ok[i].batch, "%s", ok[i].line);
		cr_assert_eq(s->rollout.batch_percent, ok[i].pct, "%s",
		    ok[i].line);
		spec_free(s);
	}
}

Test(spec, canary)
{
	struct spec *s = parse_ok(edit(18, "  canary: 4"));

	cr_assert_eq(s->rollout.canary, 4);
	spec_free(s);
	s = parse_ok(edit(18, "  # no canary"));
	cr_assert_eq(s->rollout.canary, 0);
	spec_free(s);
	refused_exact(edit(18, "  canary: 0"), "web.yml:18: rollout.canary: "
	    "expected a count of hosts (1 or more), got 0");
	refused_exact(edit(18, "  canary: -1"), "web.yml:18: rollout.canary: "
	    "expected a count of hosts (1 or more), got -1");
}

Test(spec, on_failure_and_order_words)
{
	struct spec *s = parse_ok(edit(22, "  on_failure: continue"));

	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_CONTINUE);
	spec_free(s);
	refused_exact(edit(22, "  on_failure: retry"), "web.yml:22: "
	    "rollout.on_failure: expected rollback, pause or continue, got "
	    "\"retry\"");
	refused_exact(edit(19, "  order: Start-First"), "web.yml:19: "
	    "rollout.order: expected stop-first or start-first, got "
	    "\"Start-First\"");
}

/* The text need not end in a NUL: only len bytes are read. */
Test(spec, reads_only_len_bytes)
{
	char buf[256];
	struct spec *s = NULL;
	char err[256];
	size_t n = strlen(MINIMAL);

	memcpy(buf, MINIMAL, n);
	memcpy(buf + n, "bogus: [", 9);	/* beyond len, with its NUL */
	cr_assert_eq(spec_parse("web.yml", buf, n, &s, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(s->health.tcp_port, 80);
	spec_free(s);
}

/* ---- what is refused, and how it is said ---------------------------- */

Test(spec, unknown_keys)
{
	/* Both problems at once: what is missing, and the key that is not
	 * known (first the file's, then line 2's). */
	refused_exact(edit(2, "imag: web:1"), "web.yml: missing required key "
	    "\"image\"\nweb.yml:2: unknown key \"imag\" (expected one of: "
	    "service, image, hosts, port, env, health, strategy, rollout, "
	    "secrets, proxy, canary, blue_green, analysis, ports, command, "
	    "entrypoint, workdir, user, volumes, resources, restart, "
	    "stop_signal, stop_timeout, labels, log, catch_up)");
	refused_exact(edit(9, "  intervall: 1s"), "web.yml:9: health: "
	    "unknown key \"intervall\" (expected one of: http, tcp, exec, "
	    "docker, interval, timeout, start_period, start_interval, "
	    "healthy_threshold, unhealthy_threshold, deadline, min_healthy)");
	refused_exact(edit(8, "  http: { path: /health, port: 80, code: 200 }"),
	    "web.yml:8: health.http: unknown key \"code\" (expected one of: "
	    "path, port, status)");
	refused_exact(edit(20, "  delay: 0s"), "web.yml:20: rollout: unknown "
	    "key \"delay\" (expected one of: batch, canary, order, pause, "
	    "max_failures, on_failure, skip_offline, progress_deadline)");
	refused_exact(edit(4, "port: { host: 8080, container: 80, udp: 1 }"),
	    "web.yml:4: port: unknown key \"udp\" (expected one of: host, "
	    "container)");
	refused_exact(edit(3, "hosts: { label: { role: web } }"), "web.yml:3: "
	    "hosts: unknown key \"label\" (expected one of: names, labels)");
}

Test(spec, missing_required_keys)
{
	refused_exact(edit(2, "# no image"),
	    "web.yml: missing required key \"image\"");
	refused_exact(edit(1, ""), "web.yml: missing required key "
	    "\"service\"");
	refused_exact(edit(3, ""), "web.yml: missing required key \"hosts\"");
	refused_exact("service: web\nimage: web\nhosts: [a]\n",
	    "web.yml: missing required key \"health\"");
	refused_exact(edit(8, "  http: { port: 80 }"), "web.yml:8: "
	    "health.http: missing required key \"path\"");
	refused_exact(edit(8, "  http: { path: /health }"), "web.yml:8: "
	    "health.http: missing required key \"port\"");
	refused_exact(edit(4, "port: { container: 80 }"), "web.yml:4: port: "
	    "missing required key \"host\"");
}

Test(spec, wrong_types)
{
	refused_exact(edit(3, "hosts: web-1"), "web.yml:3: hosts: expected a "
	    "list of host names like [web-1, web-2] or { labels: { role: "
	    "web } }, got \"web-1\"");
	refused_exact(edit(9, "  interval: { every: 1s }"), "web.yml:9: "
	    "health.interval: expected a duration like 500ms, 5s or 2m, got "
	    "a mapping");
	refused_exact(edit(1, "service: [web]"), "web.yml:1: service: "
	    "expected a service name of lowercase letters, digits, '_', '.' "
	    "and '-', starting with a letter or digit, at most 63 "
	    "characters, got a list");
	refused_exact(edit(5, "env: [LOG_LEVEL=info]"), "web.yml:5: env: "
	    "expected a mapping of variables like { LOG_LEVEL: info }, got a "
	    "list");
	refused_exact(edit(4, "port: 8080"), "web.yml:4: port: expected a "
	    "mapping like { host: 8080, container: 80 }, got 8080");
	refused_exact("service: web\nimage: web\nhosts: [a]\nhealth: yes\n",
	    "web.yml:4: health: expected a mapping of health settings like "
	    "{ http: { path: /health, port: 80 } }, got \"yes\"");
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80 }\nrollout: [batch]\n", "web.yml:5: rollout: "
	    "expected a mapping of rollout settings like { batch: 2 }, got a "
	    "list");
	refused_exact(edit(2, "image:"), "web.yml:2: image: expected an image "
	    "reference like registry:5000/web:1.4.2, got nothing");
	refused_exact(edit(8, "  exec: pg_isready -q"), "web.yml:8: "
	    "health.exec: expected a command and its arguments like "
	    "[pg_isready, -q], got \"pg_isready -q\"");
	refused_exact(edit(8, "  exec: [sh, [a]]"), "web.yml:8: "
	    "health.exec[1]: expected a word, got a list");
	refused_exact(edit(8, "  tcp: { port: 80 }"), "web.yml:8: "
	    "health.tcp: expected a port number from 1 to 65535, got a "
	    "mapping");
	refused_exact("- service: web\n", "web.yml:1: expected a mapping of "
	    "settings (service: ..., image: ..., hosts: ..., health: ...), "
	    "got a list");
	refused_exact("just words\n", "web.yml:1: expected a mapping of "
	    "settings (service: ..., image: ..., hosts: ..., health: ...), "
	    "got \"just words\"");
	refused_exact(edit(1, "[a]: web"), "web.yml: missing required key "
	    "\"service\"\nweb.yml:1: expected a key name, got a list");
	/* An env value is never echoed back: it may be a password. */
	refused_exact(edit(5, "env: { LOG_LEVEL: { secret: hunter2 } }"),
	    "web.yml:5: env.LOG_LEVEL: expected a value, got a mapping");
	refused_exact(edit(5, "env: { LOG_LEVEL: }"), "web.yml:5: "
	    "env.LOG_LEVEL: expected a value, got nothing (write \"\" for an "
	    "empty value)");
}

Test(spec, duplicate_keys)
{
	refused_exact(edit(4, "image: web:2"), "web.yml:4: duplicate key "
	    "\"image\" (first at line 2)");
	refused_exact(edit(10, "  interval: 2s"), "web.yml:10: health: "
	    "duplicate key \"interval\" (first at line 9)");
	refused_exact(edit(5, "env:\n  A: 1\n  B: 2\n  A: 3"), "web.yml:8: "
	    "env: duplicate key \"A\" (first at line 6)");
	refused_exact(edit(3, "hosts: { labels: { role: web, role: db } }"),
	    "web.yml:3: hosts.labels: duplicate key \"role\" (first at line "
	    "3)");
	refused_exact(edit(3, "hosts:\n  - a\n  - b\n  - c\n  - b\n  - a"),
	    "web.yml:7: hosts[3]: host \"b\" is listed twice (first at line "
	    "5)");
}

Test(spec, bad_durations)
{
	refused_exact(edit(9, "  interval: fast"), "web.yml:9: "
	    "health.interval: expected a duration like 500ms, 5s or 2m, got "
	    "\"fast\"");
	refused_exact(edit(10, "  timeout: 1.5s"), "web.yml:10: "
	    "health.timeout: expected a duration like 500ms, 5s or 2m, got "
	    "\"1.5s\"");
	refused_exact(edit(14, "  deadline: -5s"), "web.yml:14: "
	    "health.deadline: expected a duration like 500ms, 5s or 2m, got "
	    "\"-5s\"");
	refused_exact(edit(20, "  pause: 1d"), "web.yml:20: rollout.pause: "
	    "expected a duration like 500ms, 5s or 2m, got \"1d\"");
	refused_exact(edit(9, "  interval: 0s"), "web.yml:9: health.interval: "
	    "must be above 0, got \"0s\"");
	refused_exact(edit(10, "  timeout: 0"), "web.yml:10: health.timeout: "
	    "must be above 0, got 0");
	refused_exact(edit(14, "  deadline: 25h"), "web.yml:14: "
	    "health.deadline: must be at most 24h, got \"25h\"");
	refused_exact(edit(20, "  pause: 99999999999999999999s"), "web.yml:20: "
	    "rollout.pause: expected a duration like 500ms, 5s or 2m, got "
	    "\"99999999999999999999s\"");
}

Test(spec, bad_percentages_and_counts)
{
	refused_exact(edit(17, "  batch: 0"), "web.yml:17: rollout.batch: "
	    "expected a count (1 or more) or a percentage like \"25%\", got 0");
	refused_exact(edit(17, "  batch: \"0%\""), "web.yml:17: rollout.batch: "
	    "expected a percentage from 1% to 100%, got \"0%\"");
	refused_exact(edit(17, "  batch: 150%"), "web.yml:17: rollout.batch: "
	    "expected a percentage from 1% to 100%, got \"150%\"");
	refused(edit(17, "  batch: 2.5%"), "web.yml:17: rollout.batch: "
	    "expected a percentage from 1% to 100%");
	refused(edit(17, "  batch: \"%\""), "web.yml:17: rollout.batch: "
	    "expected a count (1 or more) or a percentage like \"25%\"");
	refused(edit(17, "  batch: all"), "web.yml:17: rollout.batch: "
	    "expected a count");
	refused(edit(17, "  batch: -1"), "web.yml:17: rollout.batch: "
	    "expected a count");
	refused(edit(17, "  batch: 99999999999"), "web.yml:17: "
	    "rollout.batch: expected a count");
	refused_exact(edit(21, "  max_failures: -1"), "web.yml:21: "
	    "rollout.max_failures: expected a count (0 or more), got -1");
	refused_exact(edit(21, "  max_failures: many"), "web.yml:21: "
	    "rollout.max_failures: expected a count (0 or more), got "
	    "\"many\"");
}

Test(spec, out_of_range_numbers)
{
	refused_exact(edit(4, "port: { host: 0, container: 80 }"),
	    "web.yml:4: port.host: expected a port number from 1 to 65535, "
	    "got 0");
	refused_exact(edit(4, "port: { host: 8080, container: 65536 }"),
	    "web.yml:4: port.container: expected a port number from 1 to "
	    "65535, got 65536");
	refused_exact(edit(8, "  http: { path: /health, port: 80, status: 700 "
	    "}"), "web.yml:8: health.http.status: expected an HTTP status "
	    "from 100 to 599, got 700");
	refused_exact(edit(8, "  tcp: 70000"), "web.yml:8: health.tcp: "
	    "expected a port number from 1 to 65535, got 70000");
	refused_exact(edit(12, "  healthy_threshold: 0"), "web.yml:12: "
	    "health.healthy_threshold: expected a whole number from 1 to "
	    "1000, got 0");
	refused_exact(edit(13, "  unhealthy_threshold: 1001"), "web.yml:13: "
	    "health.unhealthy_threshold: expected a whole number from 1 to "
	    "1000, got 1001");
	refused(edit(4, "port: { host: 0x50, container: 80 }"),
	    "web.yml:4: port.host: expected a port number");
	refused(edit(4, "port: { host: 80.5, container: 80 }"),
	    "web.yml:4: port.host: expected a port number");
}

Test(spec, min_healthy_must_be_below_deadline)
{
	refused_exact(edit(15, "  min_healthy: 60s"), "web.yml:15: "
	    "health.min_healthy: must be below health.deadline (60s)");
	refused_exact(edit(15, "  min_healthy: 2m"), "web.yml:15: "
	    "health.min_healthy: must be below health.deadline (60s)");
	refused_exact(edit(14, "  deadline: 5"), "web.yml:15: "
	    "health.min_healthy: must be below health.deadline (5s)");
	refused_exact(edit(14, "  deadline: 3s"), "web.yml:15: "
	    "health.min_healthy: must be below health.deadline (3s)");
	/* Only the deadline written: it is the one to blame. */
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80, deadline: 4s }\n", "web.yml:4: "
	    "health.deadline: must be above health.min_healthy (5s by "
	    "default)");
	/* Just below is fine. */
	struct spec *s = parse_ok(edit(15, "  min_healthy: 59999ms"));

	cr_assert_eq(s->health.min_healthy_ms, 59999);
	spec_free(s);
}

/* start_interval: the fast checks until the first pass.  Never above the
 * interval: failures count only every interval, so slower checks before
 * the first pass would only delay it. */
Test(spec, start_interval_at_most_the_interval)
{
	struct spec *s;

	s = parse_ok(edit(11, "  start_period: 0s\n  start_interval: 250ms"));
	cr_assert_eq(s->health.start_interval_ms, 250);
	spec_free(s);
	/* Equal to the interval: no fast checks, as before the setting. */
	s = parse_ok(edit(11, "  start_period: 0s\n  start_interval: 1s"));
	cr_assert_eq(s->health.start_interval_ms, 1000);
	spec_free(s);
	/* Not given, with an interval below the default: the interval. */
	s = parse_ok(edit(9, "  interval: 40ms"));
	cr_assert_eq(s->health.interval_ms, 40);
	cr_assert_eq(s->health.start_interval_ms, 40);
	spec_free(s);
	s = parse_ok(edit(9, "  interval: 5s"));
	cr_assert_eq(s->health.start_interval_ms, 100);
	spec_free(s);

	refused_exact(edit(11, "  start_period: 0s\n  start_interval: 2s"),
	    "web.yml:12: health.start_interval: must not be above "
	    "health.interval (1s)");
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health:\n  tcp: 80\n  interval: 50ms\n  start_interval: 100ms\n",
	    "web.yml:7: health.start_interval: must not be above "
	    "health.interval (50ms)");
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80, start_interval: 1001ms }\n", "web.yml:4: "
	    "health.start_interval: must not be above health.interval (1s "
	    "by default)");
	refused_exact(edit(11, "  start_period: 0s\n  start_interval: 0s"),
	    "web.yml:12: health.start_interval: must be above 0, got "
	    "\"0s\"");
	refused(edit(11, "  start_period: 0s\n  start_interval: soon"),
	    "web.yml:12: health.start_interval: expected a duration");
}

Test(spec, exactly_one_health_check)
{
	refused_exact(edit(8, "  http: { path: /health, port: 80 }\n"
	    "  tcp: 80"), "web.yml:9: health: more than one check (http and "
	    "tcp): choose one of http, tcp, exec or docker");
	refused_exact(edit(8, "  exec: [true]\n  docker: true"), "web.yml:9: "
	    "health: more than one check (exec and docker): choose one of "
	    "http, tcp, exec or docker");
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80, exec: [true], docker: true }\n", "web.yml:4: "
	    "health: more than one check (tcp and exec): choose one of http, "
	    "tcp, exec or docker");
	refused_exact(edit(8, "  # no check"), "web.yml:7: health: expected "
	    "a check: one of http, tcp, exec or docker: true");
	refused_exact(edit(8, "  exec: []"), "web.yml:8: health.exec: "
	    "expected a command and its arguments like [pg_isready, -q], got "
	    "an empty list");
	refused_exact(edit(8, "  exec: ['', x]"), "web.yml:8: "
	    "health.exec[0]: expected a command, got \"\"");
	refused_exact(edit(8, "  http: { path: health, port: 80 }"),
	    "web.yml:8: health.http.path: expected a URL path starting with "
	    "'/' (no spaces), got \"health\"");
	refused_exact(edit(8, "  http: { path: /a b, port: 80 }"),
	    "web.yml:8: health.http.path: expected a URL path starting with "
	    "'/' (no spaces), got \"/a b\"");
}

Test(spec, hosts_both_or_neither)
{
	refused_exact(edit(3, "hosts: { names: [web-1], labels: { role: web "
	    "} }"), "web.yml:3: hosts: expected names or labels, not both");
	refused_exact(edit(3, "hosts: {}"), "web.yml:3: hosts: expected "
	    "names: [web-1, ...] or labels: { key: value }, got neither");
	refused_exact(edit(3, "hosts: []"), "web.yml:3: hosts: expected at "
	    "least one host");
	refused_exact(edit(3, "hosts: { labels: {} }"), "web.yml:3: "
	    "hosts.labels: expected at least one label");
	refused_exact(edit(3, "hosts: [web-1, -web]"), "web.yml:3: hosts[1]: "
	    "expected a host name (letters, digits, '-', '_' and '.', "
	    "starting with a letter or digit, at most 63 characters), got "
	    "\"-web\"");
	refused_exact(edit(3, "hosts: { names: [web 1] }"), "web.yml:3: "
	    "hosts.names[0]: expected a host name (letters, digits, '-', '_' "
	    "and '.', starting with a letter or digit, at most 63 "
	    "characters), got \"web 1\"");
	refused_exact(edit(3, "hosts: { labels: { role: [web] } }"),
	    "web.yml:3: hosts.labels.role: expected a label value "
	    "(printable, at most 127 characters), got a list");
	refused_exact(edit(3, "hosts: { labels: { \"ro le\": web } }"),
	    "web.yml:3: hosts.labels: expected a label key (letters, digits, "
	    "'-', '_' and '.', at most 63 characters), got \"ro le\"");
}

Test(spec, service_names)
{
	static const char *good[] = {
		"web", "a", "0", "web-1.prod_x",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789a",
	};
	static const char *bad[] = {
		"Web", "-web", "_web", ".web", "web app", "web/1", "wéb", "\"\"",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789ab",
	};
	char line[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "service: %s", good[i]);
		struct spec *s = parse_ok(edit(1, line));

		cr_assert_str_eq(s->service, good[i]);
		spec_free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "service: %s", bad[i]);
		refused(edit(1, line), "web.yml:1: service: expected a service "
		    "name of lowercase letters, digits, '_', '.' and '-'");
	}
}

Test(spec, image_references)
{
	static const char *good[] = {
		"web", "web:1.4.2", "library/web:latest",
		"127.0.0.1:5000/web:1.4.2", "localhost/web", "localhost:5000/a/b",
		"registry.example.com/team/web_app-x:V1_2.3-rc",
		"web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
		    "0123456789abcdef",
		"127.0.0.1:5000/web:1.4.2@sha256:0123456789abcdef0123456789abcd"
		    "ef0123456789abcdef0123456789abcdef",
	};
	static const struct { const char *ref, *why; } bad[] = {
		{ "\"\"", "image: must not be empty, got \"\"" },
		{ "\"web app:1\"", "image: must not contain whitespace, control "
		    "or non-ASCII characters, got \"web app:1\"" },
		{ "\"web:1\\t\"", "image: must not contain whitespace" },
		{ "\"web:\"", "image: expected a tag of letters, digits, '_', '.' "
		    "and '-' after ':', got \"web:\"" },
		{ "web:-1", "expected a tag" },
		{ "web:1:2", "expected a repository name" },
		{ "web:1/X", "expected a repository name" },
		{ "Web:1", "expected a repository name of lowercase letters and "
		    "digits, like registry:5000/team/web:1.0, got \"Web:1\"" },
		{ "web@sha256:abc", "image: expected a digest of @sha256: and 64 "
		    "hex digits after '@'" },
		{ "web@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef"
		    "0123456789abcdef", "64 lowercase hex digits" },
		{ "reg_istry:5000/web", "expected a registry like "
		    "registry.example.com:5000" },
		{ "registry:50a0/web", "expected a registry" },
		{ "/web", "expected a repository name" },
		{ "web//x", "expected a repository name" },
		{ "web-", "expected a repository name" },
	};
	char line[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "image: %s", good[i]);
		struct spec *s = parse_ok(edit(2, line));

		cr_assert_str_eq(s->image, good[i]);
		cr_assert_eq(spec_image_check(good[i], NULL, 0), 0);
		spec_free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "image: %s", bad[i].ref);
		refused(edit(2, line), "web.yml:2: image: ");
		refused(edit(2, line), bad[i].why);
	}
	/* Too long: 256 characters. */
	char ref[300];

	memset(ref, 'a', 256);
	ref[256] = '\0';
	char why[128];
	cr_assert_eq(spec_image_check(ref, why, sizeof(why)),
	    FERR_MALFORMED);
	cr_assert_str_eq(why, "is longer than 255 characters");
	ref[255] = '\0';
	cr_assert_eq(spec_image_check(ref, why, sizeof(why)), 0);
	cr_assert_eq(spec_image_check("", why, sizeof(why)), FERR_MALFORMED);
	cr_assert_eq(spec_image_check(NULL, why, sizeof(why)),
	    FERR_MALFORMED);
}

Test(spec, env_names)
{
	refused_exact(edit(5, "env: { 1ABC: x }"), "web.yml:5: env: expected "
	    "a variable name ([A-Za-z_][A-Za-z0-9_]*), got \"1ABC\"");
	refused_exact(edit(5, "env: { LOG-LEVEL: x }"), "web.yml:5: env: "
	    "expected a variable name ([A-Za-z_][A-Za-z0-9_]*), got "
	    "\"LOG-LEVEL\"");
	/* A value with a NUL byte cannot be an environment variable; the
	 * message does not show it. */
	refused_exact(edit(5, "env: { PW: \"hunter2\\0x\" }"), "web.yml:5: "
	    "env.PW: expected a value");
	struct spec *s = parse_ok(edit(5, "env: { _x: 1, Y2: \"a\\tb\" }"));

	cr_assert_str_eq(s->env[0].name, "_x");
	cr_assert_str_eq(s->env[1].value, "a\tb");
	spec_free(s);
}

Test(spec, yaml_syntax_errors)
{
	refused_exact(edit(4, "port: { host: 8080, container: 80"),
	    "web.yml:5: YAML syntax error: did not find expected ',' or '}' "
	    "(while parsing a flow mapping at line 4)");
	refused_exact(edit(10, "    timeout: 1s"), "web.yml:10: YAML syntax "
	    "error: mapping values are not allowed in this context");
	refused(edit(9, "\tinterval: 1s"), "web.yml:9: YAML syntax error: ");
	refused(edit(5, "env: { A: \"unterminated }"), "YAML syntax error: ");
	/* Bytes that are not UTF-8. */
	refused_exact(edit(2, "image: web:\xff"), "web.yml:2: YAML syntax "
	    "error: invalid leading UTF-8 octet (byte 0xff)");
	/* A NUL byte inside the text. */
	char buf[64] = "service: web\nimage: w\0eb\n";
	struct spec *s = (struct spec *)1;
	char err[256];

	cr_assert_eq(spec_parse("web.yml", buf, 25, &s, err, sizeof(err)),
	    FERR_MALFORMED);
	cr_assert_null(s);
	cr_assert_not_null(strstr(err, "web.yml:2: YAML syntax error: "),
	    "%s", err);
}

Test(spec, aliases_are_refused)
{
	refused_exact("service: &name web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80 }\nenv: { NAME: *name }\n", "web.yml:5: YAML "
	    "aliases are not supported (*name): write the value out in full");
	refused("x: &h { tcp: 80 }\nservice: web\nimage: web\nhosts: [a]\n"
	    "health:\n  <<: *h\n", "web.yml:6: YAML aliases are not "
	    "supported (*h)");
	/* An anchor alone is harmless. */
	struct spec *s = parse_ok("service: &s web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80 }\n");

	cr_assert_str_eq(s->service, "web");
	spec_free(s);
}

Test(spec, empty_or_several_documents)
{
	refused_exact("", "web.yml: the file is empty (expected a mapping of "
	    "service, image, hosts, health, ...)");
	refused_exact("# nothing\n---\n", "web.yml: the file is empty "
	    "(expected a mapping of service, image, hosts, health, ...)");
	refused_exact("---\nservice: web\n---\nservice: db\n", "web.yml:3: a "
	    "second YAML document: a spec is one document (remove the extra "
	    "---)");
}

Test(spec, deep_nesting_is_refused)
{
	char buf[256];
	size_t o = 0;

	o += (size_t)snprintf(buf, sizeof(buf), "service: ");
	for (int i = 0; i < 40; i++)
		buf[o++] = '[';
	buf[o] = '\0';
	refused_exact(buf, "web.yml:1: nested deeper than 16 levels");
}

Test(spec, oversized_file_is_refused)
{
	size_t n = SPEC_MAX_BYTES + 1, m = strlen(MINIMAL);
	char *big = malloc(n);
	struct spec *s = (struct spec *)1;
	char err[256];

	cr_assert_not_null(big);
	/* A valid spec padded with a comment to exactly the limit parses. */
	memcpy(big, MINIMAL, m);
	big[m] = '#';
	memset(big + m + 1, 'x', SPEC_MAX_BYTES - m - 2);
	big[SPEC_MAX_BYTES - 1] = '\n';
	cr_assert_eq(spec_parse("web.yml", big, SPEC_MAX_BYTES, &s, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(s->health.tcp_port, 80);
	spec_free(s);
	/* One byte more is refused before any parsing. */
	big[SPEC_MAX_BYTES] = '\n';
	s = (struct spec *)1;
	cr_assert_eq(spec_parse("web.yml", big, n, &s, err, sizeof(err)),
	    FERR_TOOBIG);
	cr_assert_null(s);
	cr_assert_str_eq(err, "web.yml: the file is 1048577 bytes, larger "
	    "than the limit of 1 MiB");
	free(big);
}

Test(spec, too_many_entries)
{
	size_t cap = 200000, o = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	o += (size_t)snprintf(buf, cap, "service: web\nimage: web\n"
	    "health: { tcp: 80 }\nhosts:\n");
	for (int i = 0; i <= SPEC_HOSTS_MAX; i++)
		o += (size_t)snprintf(buf + o, cap - o, "  - h%d\n", i);
	refused_exact(buf, "web.yml:4: hosts: more than 4096 hosts");
	free(buf);
}

Test(spec, bad_arguments)
{
	struct spec *s = (struct spec *)1;
	char err[64];

	cr_assert_eq(spec_parse("web.yml", MINIMAL, strlen(MINIMAL), NULL,
	    err, sizeof(err)), FERR_ARG);
	cr_assert_eq(spec_parse("web.yml", NULL, 10, &s, err, sizeof(err)),
	    FERR_ARG);
	cr_assert_null(s);
	/* No error buffer, and no file name. */
	cr_assert_eq(spec_parse(NULL, "service: [", 10, &s, NULL, 0),
	    FERR_MALFORMED);
	cr_assert_null(s);
	cr_assert_eq(spec_parse(NULL, "service: [", 10, &s, err,
	    sizeof(err)), FERR_MALFORMED);
	cr_assert_eq(strncmp(err, "spec:", 5), 0, "%s", err);
	/* A short buffer is cut, still NUL-terminated. */
	char tiny[8];

	cr_assert_eq(parse(edit(9, "  interval: fast"), &s, tiny,
	    sizeof(tiny)), FERR_MALFORMED);
	cr_assert_str_eq(tiny, "web.yml");
	spec_free(NULL);
}

/* ---- keys this version does not act on ------------------------------- */

/* secrets: names, in the file's order, each a plain file name, listed
 * once; versions are ferryd's to pin (0 as parsed). */
Test(spec, secrets_are_names_of_files)
{
	struct spec *s = parse_ok(edit(6, "secrets: [DB_PASSWORD, api.key, "
	    "tls-cert_2]"));

	cr_assert_eq(s->nsecrets, 3);
	cr_assert_str_eq(s->secrets[0].name, "DB_PASSWORD");
	cr_assert_str_eq(s->secrets[1].name, "api.key");
	cr_assert_str_eq(s->secrets[2].name, "tls-cert_2");
	cr_assert_eq(s->secrets[0].version, 0);
	spec_free(s);
	s = parse_ok(edit(6, ""));
	cr_assert_eq(s->nsecrets, 0);
	cr_assert_null(s->secrets);
	spec_free(s);

	refused_exact(edit(6, "secrets: []"), "web.yml:6: secrets: expected "
	    "at least one secret");
	refused_exact(edit(6, "secrets:\n  - A\n  - A"), "web.yml:8: "
	    "secrets[1]: secret \"A\" is listed twice (first at line 7)");
	refused_exact(edit(6, "secrets: [../etc/passwd]"), "web.yml:6: "
	    "secrets[0]: expected a secret name (letters, digits, '_', '.' "
	    "and '-', not starting with '.' or '-', at most 64 characters), "
	    "got \"../etc/passwd\"");
	refused_exact(edit(6, "secrets: [.hidden]"), "web.yml:6: "
	    "secrets[0]: expected a secret name (letters, digits, '_', '.' "
	    "and '-', not starting with '.' or '-', at most 64 characters), "
	    "got \".hidden\"");
	refused_exact(edit(6, "secrets: DB_PASSWORD"), "web.yml:6: secrets: "
	    "expected a list of secrets like [a, b], got \"DB_PASSWORD\"");
	cr_assert(spec_secret_name_valid("A"));
	cr_assert(!spec_secret_name_valid("a/b"));
	cr_assert(!spec_secret_name_valid(""));
	cr_assert(!spec_secret_name_valid("-x"));
}

/* DESIGN's canary, analysis and strategies other than rolling: a
 * spec naming one is refused, saying so at its line, rather than run
 * without it. */
/* proxy: how ferry-proxy serves the host port: defaults (http with an
 * HTTP check), every key read, and what cannot be refused at its line. */
Test(spec, proxy_keys_read_checked_and_defaulted)
{
	struct spec *s;

	/* DESIGN's spec (HTTP check): http by default. */
	s = parse_ok(edit(0, NULL));
	cr_assert_eq(s->proxy.mode, SPEC_PROXY_HTTP);
	cr_assert_eq(s->rollout.order, SPEC_ORDER_STOP_FIRST);	/* as written */
	spec_free(s);

	s = parse_ok(edit(6, "proxy: { mode: tcp, drain_timeout: 2s, "
	    "max_pause: 500ms, upstream_timeout: 1m }"));
	cr_assert_eq(s->proxy.mode, SPEC_PROXY_TCP);
	cr_assert_eq(s->proxy.drain_timeout_ms, 2000);
	cr_assert_eq(s->proxy.max_pause_ms, 500);
	cr_assert_eq(s->proxy.upstream_timeout_ms, 60000);
	spec_free(s);
	s = parse_ok(edit(6, "proxy: { max_body: 10MiB, sticky: true }"));
	cr_assert_eq(s->proxy.mode, SPEC_PROXY_HTTP);
	cr_assert_eq(s->proxy.max_body, 10u << 20);
	cr_assert_eq(s->proxy.sticky, 1);
	spec_free(s);
	s = parse_ok(edit(6, "proxy: { max_body: 0 }"));
	cr_assert_eq(s->proxy.max_body, 0);
	spec_free(s);
	s = parse_ok(edit(6, "proxy: { max_body: 512 }"));
	cr_assert_eq(s->proxy.max_body, 512);
	spec_free(s);

	refused_exact(edit(6, "proxy: { mode: udp }"), "web.yml:6: "
	    "proxy.mode: expected http or tcp, got \"udp\"");
	refused_exact(edit(6, "proxy: { drain_timeout: 0s }"), "web.yml:6: "
	    "proxy.drain_timeout: must be above 0, got \"0s\"");
	refused_exact(edit(6, "proxy: { max_pause: 2h }"), "web.yml:6: "
	    "proxy.max_pause: must be at most 1h, got \"2h\"");
	refused(edit(6, "proxy: { max_body: 10MB }"), "web.yml:6: "
	    "proxy.max_body: expected a size like 10MiB");
	refused(edit(6, "proxy: { max_body: 2048GiB }"), "web.yml:6: "
	    "proxy.max_body: expected a size like 10MiB");
	refused_exact(edit(6, "proxy: { mode: tcp, sticky: true }"),
	    "web.yml:6: proxy.sticky: needs proxy.mode http (a cookie keeps "
	    "a client on its revision; tcp has no cookies)");
	refused_exact(edit(6, "proxy: { mode: tcp, max_body: 1MiB }"),
	    "web.yml:6: proxy.max_body: needs proxy.mode http (tcp passes "
	    "bytes and knows no bodies)");
	refused(edit(6, "proxy: { hold: true }"), "web.yml:6: proxy: unknown key "
	    "\"hold\"");
	/* No host port: no proxy to set. */
	refused_exact("service: web\nimage: web\nhosts: [a]\n"
	    "health: { tcp: 80 }\nproxy: { mode: tcp }\n", "web.yml:5: "
	    "proxy: the service publishes no host port (port:), and "
	    "ferry-proxy serves host ports only: there is no proxy to set");
}

/* ---- strategy, canary, blue_green, analysis ------------------------- */

/* A service with a host port (ferry-proxy splits a canary's traffic), on
 * three named hosts: lines 1 to 5; with() appends from line 6. */
static const char TRAFFIC[] =
    "service: web\n"
    "image: web:1\n"
    "hosts: [web-1, web-2, web-3]\n"
    "port: { host: 8080, container: 80 }\n"
    "health: { http: { path: /health, port: 80 } }\n";

static char with_buf[1 << 13];

/* with returns TRAFFIC followed by more (its first line is line 6). */
static const char *
with(const char *more)
{
	int n = snprintf(with_buf, sizeof(with_buf), "%s%s", TRAFFIC, more);

	cr_assert_lt((size_t)n, sizeof(with_buf));
	return with_buf;
}

#define CANARY_OK "strategy: canary\ncanary: { steps: [ { weight: 5% } ] }\n"

Test(spec, strategy_defaults_to_rolling_with_the_defaults_of_issue_15)
{
	struct spec *s = parse_ok(MINIMAL);

	cr_assert_eq(s->strategy, SPEC_STRATEGY_ROLLING);
	cr_assert_eq(s->rollout.progress_deadline_ms, 600000);
	cr_assert_eq(s->keep_old_ms, 600000);
	cr_assert_eq(s->analysis.set, 0);
	cr_assert_eq(s->analysis.interval_ms, 30000);
	cr_assert_eq(s->analysis.min_requests, 200);
	cr_assert_lt(s->analysis.error_rate_max, 0.0);
	cr_assert_eq(s->analysis.p95_max_ms, 0);
	cr_assert_eq(s->analysis.relative_error_rate, 0.0);
	cr_assert_eq(s->analysis.relative_p95, 0.0);
	cr_assert_eq(s->analysis.failure_limit, 2);
	cr_assert_eq(s->analysis.inconclusive, SPEC_INCONCLUSIVE_PAUSE);
	cr_assert_null(s->analysis.prom);
	cr_assert_eq(s->analysis.nprom, 0);
	cr_assert_eq(s->canary.nsteps, 0);
	spec_free(s);
	s = parse_ok(edit(6, "strategy: rolling"));
	cr_assert_eq(s->strategy, SPEC_STRATEGY_ROLLING);
	spec_free(s);
	refused_exact(edit(6, "strategy: rainbow"), "web.yml:6: strategy: "
	    "expected rolling, canary or blue-green, got \"rainbow\"");
	refused_exact(edit(6, "strategy: [rolling]"), "web.yml:6: strategy: "
	    "expected rolling, canary or blue-green, got a list");
	/* rollout.canary, the size of a rolling first batch, stays. */
	s = parse_ok(edit(18, "  canary: 2"));
	cr_assert_eq(s->rollout.canary, 2);
	spec_free(s);
}

Test(spec, canary_steps_hosts_and_analysis_read_back)
{
	struct spec *s = parse_ok(with(
	    "strategy: canary\n"				/* 6 */
	    "canary:\n"
	    "  hosts: 2\n"
	    "  steps:\n"
	    "    - { weight: 5%, for: 15m }\n"			/* 10 */
	    "    - { weight: 25, for: 10m }\n"
	    "    - { weight: 50% }\n"
	    "analysis:\n"
	    "  interval: 10s\n"
	    "  min_requests: 1000000000\n"			/* 15 */
	    "  error_rate: { max: 0.5% }\n"
	    "  p95: { max: 500ms }\n"
	    "  relative: { error_rate: 2x, p95: 1.5 }\n"
	    "  failure_limit: 1000\n"
	    "  inconclusive: fail\n"				/* 20 */
	    "rollout: { progress_deadline: 5m, order: stop-first }\n"));

	cr_assert_eq(s->strategy, SPEC_STRATEGY_CANARY);
	cr_assert_eq(s->canary.hosts_all, 0);
	cr_assert_eq(s->canary.hosts_percent, 0);
	cr_assert_eq(s->canary.hosts, 2);
	cr_assert_eq(s->canary.nsteps, 3);
	cr_assert_eq(s->canary.steps[0].weight, 5);
	cr_assert_eq(s->canary.steps[0].for_ms, 15 * 60000);
	cr_assert_eq(s->canary.steps[0].wait, 0);
	cr_assert_eq(s->canary.steps[1].weight, 25);
	cr_assert_eq(s->canary.steps[1].for_ms, 10 * 60000);
	cr_assert_eq(s->canary.steps[2].weight, 50);
	cr_assert_eq(s->canary.steps[2].for_ms, 0);
	cr_assert_eq(s->canary.steps[2].wait, 1);
	cr_assert_eq(s->analysis.set, 1);
	cr_assert_eq(s->analysis.interval_ms, 10000);
	cr_assert_eq(s->analysis.min_requests, 1000000000ull);
	cr_assert_float_eq(s->analysis.error_rate_max, 0.005, 1e-12);
	cr_assert_eq(s->analysis.p95_max_ms, 500);
	cr_assert_float_eq(s->analysis.relative_error_rate, 2.0, 1e-12);
	cr_assert_float_eq(s->analysis.relative_p95, 1.5, 1e-12);
	cr_assert_eq(s->analysis.failure_limit, 1000);
	cr_assert_eq(s->analysis.inconclusive, SPEC_INCONCLUSIVE_FAIL);
	cr_assert_eq(s->analysis.nprom, 0);
	cr_assert_eq(s->rollout.progress_deadline_ms, 5 * 60000);
	/* stop-first is allowed: the batches after the canary use it. */
	cr_assert_eq(s->rollout.order, SPEC_ORDER_STOP_FIRST);
	spec_free(s);

	/* hosts: all is the default; N% keeps N; weights 1 and 100; a
	 * relative block with one factor; error rates 0% and 100%. */
	s = parse_ok(with(CANARY_OK));
	cr_assert_eq(s->canary.hosts_all, 1);
	cr_assert_eq(s->canary.nsteps, 1);
	cr_assert_eq(s->canary.steps[0].wait, 1);
	cr_assert_eq(s->analysis.set, 0);
	spec_free(s);
	s = parse_ok(with("strategy: canary\ncanary: { hosts: 50%, steps: "
	    "[ { weight: 1, for: 1s }, { weight: 100% } ] }\n"
	    "analysis: { interval: 1s, relative: { p95: 1000x }, error_rate: "
	    "{ max: 100% } }\n"));
	cr_assert_eq(s->canary.hosts_all, 0);
	cr_assert_eq(s->canary.hosts_percent, 1);
	cr_assert_eq(s->canary.hosts, 50);
	cr_assert_eq(s->canary.steps[0].weight, 1);
	cr_assert_eq(s->canary.steps[0].for_ms, 1000);
	cr_assert_eq(s->canary.steps[1].weight, 100);
	cr_assert_eq(s->analysis.interval_ms, 1000);
	cr_assert_eq(s->analysis.relative_error_rate, 0.0);
	cr_assert_float_eq(s->analysis.relative_p95, 1000.0, 1e-9);
	cr_assert_float_eq(s->analysis.error_rate_max, 1.0, 1e-12);
	spec_free(s);
	s = parse_ok(with("strategy: canary\ncanary: { hosts: all, steps: "
	    "[ { weight: 5% } ] }\nanalysis: { error_rate: { max: 0% } }\n"));
	cr_assert_eq(s->canary.hosts_all, 1);
	cr_assert_float_eq(s->analysis.error_rate_max, 0.0, 1e-12);
	spec_free(s);
	/* 16 steps, the most. */
	s = parse_ok(with("strategy: canary\ncanary: { steps: [ {weight: 1}, "
	    "{weight: 2}, {weight: 3}, {weight: 4}, {weight: 5}, {weight: 6}, "
	    "{weight: 7}, {weight: 8}, {weight: 9}, {weight: 10}, "
	    "{weight: 11}, {weight: 12}, {weight: 13}, {weight: 14}, "
	    "{weight: 15}, {weight: 16} ] }\n"));
	cr_assert_eq(s->canary.nsteps, SPEC_STEPS_MAX);
	cr_assert_eq(s->canary.steps[15].weight, 16);
	spec_free(s);
	/* A step shorter than an interval is kept as written: the rollout
	 * ends a judged step only once one of its intervals passed. */
	s = parse_ok(with("strategy: canary\ncanary: { steps: [ { weight: 5, "
	    "for: 10s } ] }\nanalysis: { p95: { max: 1s } }\n"));
	cr_assert_eq(s->canary.steps[0].for_ms, 10000);
	cr_assert_eq(s->analysis.interval_ms, 30000);
	spec_free(s);
}

Test(spec, canary_refusals_name_the_line_and_say_what_to_do)
{
	refused_exact(with("strategy: canary\n"), "web.yml:6: strategy: "
	    "canary needs a canary: mapping with its steps, like canary: "
	    "{ steps: [ { weight: 5%, for: 15m }, { weight: 50% } ] }");
	refused_exact(with("canary: { steps: [ { weight: 5% } ] }\n"),
	    "web.yml:6: canary: needs strategy: canary (the strategy is "
	    "rolling by default); write strategy: canary, or leave canary: "
	    "out");
	refused_exact(with("strategy: blue-green\ncanary: { steps: [ "
	    "{ weight: 5% } ] }\n"), "web.yml:7: canary: needs strategy: "
	    "canary (the strategy is blue-green); write strategy: canary, or "
	    "leave canary: out");
	/* No host port: nothing to split. */
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { tcp: 80 }\nstrategy: canary\ncanary: { steps: [ "
	    "{ weight: 5% } ] }\n", "web.yml:5: strategy: canary needs a "
	    "host port (port:): ferry-proxy splits the traffic between the "
	    "revisions, and it serves host ports only");
	/* rollout.canary is a rolling first batch. */
	refused_exact(with(CANARY_OK "rollout:\n  batch: 2\n  canary: 1\n"),
	    "web.yml:10: rollout.canary: is the size of a rolling "
	    "deployment's first batch and does not go with strategy: canary; "
	    "use canary.hosts to choose how many hosts run the canary");
	/* canary.hosts */
	refused_exact(with(CANARY_OK "canary: { steps: [ { weight: 5% } ] }\n"),
	    "web.yml:8: duplicate key \"canary\" (first at line 7)");
	refused_exact(with("strategy: canary\ncanary:\n  steps: [ { weight: 5% "
	    "} ]\n  hosts: 4\n"), "web.yml:9: canary.hosts: 4 hosts, but "
	    "hosts: lists 3; write all, or a count up to 3");
	refused_exact(with("strategy: canary\ncanary: { hosts: 0, steps: "
	    "[ { weight: 5% } ] }\n"), "web.yml:7: canary.hosts: expected "
	    "all, a count of hosts (1 or more) or a percentage of them like "
	    "25%, got 0");
	refused(with("strategy: canary\ncanary: { hosts: 101%, steps: "
	    "[ { weight: 5% } ] }\n"), "web.yml:7: canary.hosts: expected "
	    "all, a count");
	refused(with("strategy: canary\ncanary: { hosts: some, steps: "
	    "[ { weight: 5% } ] }\n"), "web.yml:7: canary.hosts: expected "
	    "all, a count");
	/* canary.steps */
	refused_exact(with("strategy: canary\ncanary: { hosts: all }\n"),
	    "web.yml:7: canary: missing required key \"steps\" (a list like "
	    "[ { weight: 5%, for: 15m }, { weight: 50% } ])");
	refused_exact(with("strategy: canary\ncanary: { steps: [] }\n"),
	    "web.yml:7: canary.steps: expected at least one step");
	refused_exact(with("strategy: canary\ncanary: { steps: { weight: 5 "
	    "} }\n"), "web.yml:7: canary.steps: expected a list of steps like "
	    "[ { weight: 5%, for: 15m } ], got a mapping");
	refused_exact(with("strategy: canary\ncanary: { steps: [ {weight: 1}, "
	    "{weight: 2}, {weight: 3}, {weight: 4}, {weight: 5}, {weight: 6}, "
	    "{weight: 7}, {weight: 8}, {weight: 9}, {weight: 10}, "
	    "{weight: 11}, {weight: 12}, {weight: 13}, {weight: 14}, "
	    "{weight: 15}, {weight: 16}, {weight: 17} ] }\n"), "web.yml:7: "
	    "canary.steps: more than 16 steps");
	refused_exact(with("strategy: canary\ncanary:\n  steps:\n"
	    "    - { for: 1m }\n"), "web.yml:9: canary.steps[0]: missing "
	    "required key \"weight\"");
	refused_exact(with("strategy: canary\ncanary:\n  steps:\n"
	    "    - { weight: 5% }\n    - { weight: 0% }\n"), "web.yml:10: "
	    "canary.steps[1].weight: expected a weight from 1% to 100%, like "
	    "5% (or 5), got \"0%\"");
	refused(with("strategy: canary\ncanary: { steps: [ { weight: 101 } ] "
	    "}\n"), "web.yml:7: canary.steps[0].weight: expected a weight "
	    "from 1% to 100%");
	refused(with("strategy: canary\ncanary: { steps: [ { weight: 2.5% } "
	    "] }\n"), "web.yml:7: canary.steps[0].weight: expected a weight "
	    "from 1% to 100%");
	refused_exact(with("strategy: canary\ncanary: { steps: [ { weight: 5, "
	    "for: 0s } ] }\n"), "web.yml:7: canary.steps[0].for: must be "
	    "above 0 (leave for: out and the step waits for ferry promote)");
	refused(with("strategy: canary\ncanary: { steps: [ { weight: 5, "
	    "for: soon } ] }\n"), "web.yml:7: canary.steps[0].for: expected "
	    "a duration like 500ms, 5s or 2m, got \"soon\"");
	refused(with("strategy: canary\ncanary: { steps: [ { weight: 5, "
	    "hold: 1m } ] }\n"), "web.yml:7: canary.steps[0]: unknown key "
	    "\"hold\" (expected one of: weight, for)");
	refused_exact(with("strategy: canary\ncanary: { steps: [ 5% ] }\n"),
	    "web.yml:7: canary.steps[0]: expected a step like { weight: 5%, "
	    "for: 15m }, got \"5%\"");
	refused(with("strategy: canary\ncanary: { size: 2, steps: [ "
	    "{ weight: 5% } ] }\n"), "web.yml:7: canary: unknown key \"size\" "
	    "(expected one of: hosts, steps)");
}

Test(spec, blue_green_reads_keep_old_and_refuses_without_its_strategy)
{
	struct spec *s = parse_ok(with("strategy: blue-green\n"));

	cr_assert_eq(s->strategy, SPEC_STRATEGY_BLUE_GREEN);
	cr_assert_eq(s->keep_old_ms, 600000);
	cr_assert_eq(s->canary.nsteps, 0);
	spec_free(s);
	s = parse_ok(with("strategy: blue-green\nblue_green: { keep_old: 0s "
	    "}\n"));
	cr_assert_eq(s->keep_old_ms, 0);
	spec_free(s);
	s = parse_ok(with("strategy: blue-green\nblue_green: { keep_old: 2h }"
	    "\nanalysis: { p95: { max: 1s } }\n"));
	cr_assert_eq(s->keep_old_ms, 2 * 3600000);
	cr_assert_eq(s->analysis.set, 1);
	cr_assert_eq(s->analysis.p95_max_ms, 1000);
	cr_assert_lt(s->analysis.error_rate_max, 0.0);
	spec_free(s);

	refused_exact(with("blue_green: { keep_old: 5m }\n"), "web.yml:6: "
	    "blue_green: needs strategy: blue-green (the strategy is rolling "
	    "by default); write strategy: blue-green, or leave blue_green: "
	    "out");
	refused_exact(with("strategy: canary\ncanary: { steps: [ { weight: 5 "
	    "} ] }\nblue_green: { keep_old: 5m }\n"), "web.yml:8: "
	    "blue_green: needs strategy: blue-green (the strategy is canary); "
	    "write strategy: blue-green, or leave blue_green: out");
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { tcp: 80 }\nstrategy: blue-green\n", "web.yml:5: "
	    "strategy: blue-green needs a host port (port:): ferry-proxy "
	    "splits the traffic between the revisions, and it serves host "
	    "ports only");
	refused(with("strategy: blue-green\nblue_green: { keep_old: long }\n"),
	    "web.yml:7: blue_green.keep_old: expected a duration like 500ms");
	refused_exact(with("strategy: blue-green\nblue_green: { keep_old: 25h "
	    "}\n"), "web.yml:7: blue_green.keep_old: must be at most 24h, got "
	    "\"25h\"");
	refused(with("strategy: blue-green\nblue_green: { keep: 5m }\n"),
	    "web.yml:7: blue_green: unknown key \"keep\" (expected one of: "
	    "keep_old)");
	refused_exact(with("strategy: blue-green\nblue_green: 5m\n"),
	    "web.yml:7: blue_green: expected a mapping like { keep_old: 10m },"
	    " got \"5m\"");
	/* Every host switches together: no batches to size or pause. */
	refused_exact(with("strategy: blue-green\nrollout:\n  batch: 2\n"),
	    "web.yml:8: rollout.batch: does not go with strategy: blue-green, "
	    "which switches every host together, in no batches; leave it "
	    "out");
	refused_exact(with("strategy: blue-green\nrollout:\n  canary: 1\n"),
	    "web.yml:8: rollout.canary: does not go with strategy: "
	    "blue-green, which switches every host together, in no batches; "
	    "leave it out");
	refused_exact(with("strategy: blue-green\nrollout:\n  pause: 1m\n"),
	    "web.yml:8: rollout.pause: does not go with strategy: blue-green, "
	    "which switches every host together, in no batches; leave it "
	    "out");
	refused_exact(with("strategy: blue-green\nanalysis:\n  p95: { max: "
	    "1s }\n  relative: { p95: 2x }\n"), "web.yml:9: analysis.relative: "
	    "does not go with strategy: blue-green: after the switch the old "
	    "revision serves nothing to compare with; use error_rate and p95 "
	    "limits");
	s = parse_ok(with("strategy: blue-green\nrollout: { max_failures: 1, "
	    "on_failure: pause, order: stop-first }\n"));
	cr_assert_eq(s->rollout.max_failures, 1);
	cr_assert_eq(s->rollout.on_failure, SPEC_ON_FAILURE_PAUSE);
	spec_free(s);
}

Test(spec, analysis_checks_read_back_and_bad_values_are_refused)
{
	struct spec *s;

#define A(x) with(CANARY_OK "analysis: " x "\n")	/* analysis: line 8 */
	s = parse_ok(A("{ error_rate: { max: 1% }, min_requests: 1 }"));
	cr_assert_float_eq(s->analysis.error_rate_max, 0.01, 1e-12);
	cr_assert_eq(s->analysis.min_requests, 1);
	spec_free(s);
	s = parse_ok(A("{ relative: { error_rate: 1.01x }, "
	    "inconclusive: pause, failure_limit: 1 }"));
	cr_assert_float_eq(s->analysis.relative_error_rate, 1.01, 1e-12);
	cr_assert_eq(s->analysis.inconclusive, SPEC_INCONCLUSIVE_PAUSE);
	cr_assert_eq(s->analysis.failure_limit, 1);
	spec_free(s);

	refused_exact(A("{ interval: 30s, min_requests: 200 }"),
	    "web.yml:8: analysis: expected at least one check (error_rate, "
	    "p95, relative or prometheus): with none, every interval would "
	    "pass");
	refused_exact(A("{ }"), "web.yml:8: analysis: expected at least one "
	    "check (error_rate, p95, relative or prometheus): with none, "
	    "every interval would pass");
	refused_exact(A("{ interval: 500ms, p95: { max: 1s } }"), "web.yml:8: "
	    "analysis.interval: must be at least 1s, got \"500ms\"");
	refused(A("{ interval: 0s, p95: { max: 1s } }"), "web.yml:8: "
	    "analysis.interval: must be above 0");
	refused_exact(A("{ min_requests: 0, p95: { max: 1s } }"),
	    "web.yml:8: analysis.min_requests: expected a count of requests "
	    "from 1 to 1000000000, got 0");
	refused(A("{ min_requests: 1000000001, p95: { max: 1s } }"),
	    "web.yml:8: analysis.min_requests: expected a count of requests");
	refused_exact(A("{ error_rate: { max: 1 } }"), "web.yml:8: "
	    "analysis.error_rate.max: expected a percentage from 0% to 100% "
	    "like 1% or 0.5%, got 1");
	refused(A("{ error_rate: { max: 100.5% } }"), "web.yml:8: "
	    "analysis.error_rate.max: expected a percentage");
	refused(A("{ error_rate: { max: -1% } }"), "web.yml:8: "
	    "analysis.error_rate.max: expected a percentage");
	refused(A("{ error_rate: { max: .5% } }"), "web.yml:8: "
	    "analysis.error_rate.max: expected a percentage");
	refused(A("{ error_rate: { max: 1e1% } }"), "web.yml:8: "
	    "analysis.error_rate.max: expected a percentage");
	refused_exact(A("{ error_rate: { } }"), "web.yml:8: "
	    "analysis.error_rate: missing required key \"max\"");
	refused_exact(A("{ error_rate: 1% }"), "web.yml:8: "
	    "analysis.error_rate: expected a mapping like { max: 1% }, got "
	    "\"1%\"");
	refused(A("{ error_rate: { min: 1% } }"), "web.yml:8: "
	    "analysis.error_rate: unknown key \"min\" (expected one of: max)");
	refused_exact(A("{ p95: { max: 0ms } }"), "web.yml:8: "
	    "analysis.p95.max: must be above 0, got \"0ms\"");
	refused(A("{ p95: { max: quick } }"), "web.yml:8: analysis.p95.max: "
	    "expected a duration");
	refused_exact(A("{ relative: { } }"), "web.yml:8: analysis.relative: "
	    "expected error_rate, p95 or both, like { error_rate: 2x }");
	refused_exact(A("{ relative: { error_rate: 1x } }"), "web.yml:8: "
	    "analysis.relative.error_rate: expected a factor above 1 and at "
	    "most 1000, like 2x or 1.5x, got \"1x\"");
	refused(A("{ relative: { p95: 0.5 } }"), "web.yml:8: "
	    "analysis.relative.p95: expected a factor above 1");
	refused(A("{ relative: { p95: 1001x } }"), "web.yml:8: "
	    "analysis.relative.p95: expected a factor above 1");
	refused(A("{ relative: { p95: x } }"), "web.yml:8: "
	    "analysis.relative.p95: expected a factor above 1");
	refused(A("{ relative: { p95: 2xx } }"), "web.yml:8: "
	    "analysis.relative.p95: expected a factor above 1");
	refused_exact(A("{ p95: { max: 1s }, failure_limit: 0 }"),
	    "web.yml:8: analysis.failure_limit: expected a count of failed "
	    "intervals from 1 to 1000, got 0");
	refused(A("{ p95: { max: 1s }, failure_limit: 1001 }"), "web.yml:8: "
	    "analysis.failure_limit: expected a count of failed intervals");
	refused_exact(A("{ p95: { max: 1s }, inconclusive: pass }"),
	    "web.yml:8: analysis.inconclusive: expected pause or fail, got "
	    "\"pass\"");
	refused(A("{ p95: { max: 1s }, window: 1m }"), "web.yml:8: analysis: "
	    "unknown key \"window\" (expected one of: interval, min_requests, "
	    "error_rate, p95, relative, failure_limit, inconclusive, "
	    "prometheus)");
	refused_exact(A("[ p95 ]"), "web.yml:8: analysis: expected a mapping "
	    "like { interval: 30s, error_rate: { max: 1% } }, got a list");

	/* Only with canary or blue-green. */
	refused_exact(with("analysis: { p95: { max: 1s } }\n"), "web.yml:6: "
	    "analysis: needs strategy canary or blue-green (the strategy is "
	    "rolling by default, whose hosts are judged by their health "
	    "checks alone)");
	refused_exact(with("strategy: rolling\nanalysis: { p95: { max: 1s } "
	    "}\n"), "web.yml:7: analysis: needs strategy canary or blue-green "
	    "(the strategy is rolling, whose hosts are judged by their health "
	    "checks alone)");
#undef A
}

Test(spec, prometheus_checks_one_or_a_list)
{
	struct spec *s;

#define A(x) with(CANARY_OK "analysis:\n  prometheus: " x "\n")	/* 9 */
	s = parse_ok(A("{ url: \"http://127.0.0.1:9090\", query: "
	    "\"sum(rate(x[1m]))\", max: 0.01 }"));
	cr_assert_eq(s->analysis.set, 1);
	cr_assert_eq(s->analysis.nprom, 1);
	cr_assert_str_eq(s->analysis.prom[0].name, "prometheus-1");
	cr_assert_str_eq(s->analysis.prom[0].url, "http://127.0.0.1:9090");
	cr_assert_str_eq(s->analysis.prom[0].query, "sum(rate(x[1m]))");
	cr_assert_float_eq(s->analysis.prom[0].max, 0.01, 1e-12);
	cr_assert_lt(s->analysis.error_rate_max, 0.0);
	spec_free(s);
	s = parse_ok(A("\n"
	    "    - { name: errors, url: \"https://prom.example/x\", query: a, "
	    "max: 5 }\n"
	    "    - { url: \"http://127.0.0.1:9090/\", query: b, max: -2.5 }"));
	cr_assert_eq(s->analysis.nprom, 2);
	cr_assert_str_eq(s->analysis.prom[0].name, "errors");
	cr_assert_str_eq(s->analysis.prom[0].url, "https://prom.example/x");
	cr_assert_float_eq(s->analysis.prom[0].max, 5.0, 1e-12);
	cr_assert_str_eq(s->analysis.prom[1].name, "prometheus-2");
	cr_assert_str_eq(s->analysis.prom[1].query, "b");
	cr_assert_float_eq(s->analysis.prom[1].max, -2.5, 1e-12);
	spec_free(s);

	refused_exact(A("{ query: a, max: 1 }"), "web.yml:9: "
	    "analysis.prometheus: missing required key \"url\"");
	refused_exact(A("{ url: \"http://p:9090\", max: 1 }"), "web.yml:9: "
	    "analysis.prometheus: missing required key \"query\"");
	refused_exact(A("{ url: \"http://p:9090\", query: a }"), "web.yml:9: "
	    "analysis.prometheus: missing required key \"max\"");
	refused_exact(A("{ url: \"ftp://p/\", query: a, max: 1 }"),
	    "web.yml:9: analysis.prometheus.url: expected an http:// or "
	    "https:// URL like http://127.0.0.1:9090, got \"ftp://p/\"");
	refused(A("{ url: \"http:///x\", query: a, max: 1 }"), "web.yml:9: "
	    "analysis.prometheus.url: expected an http:// or https:// URL");
	refused(A("{ url: \"http://p x/\", query: a, max: 1 }"), "web.yml:9: "
	    "analysis.prometheus.url: expected an http:// or https:// URL");
	/* The URL with its password is not echoed back. */
	refused_exact(A("{ url: \"http://admin:hunter2@p:9090\", query: a, "
	    "max: 1 }"), "web.yml:9: analysis.prometheus.url: credentials in "
	    "the URL (user@host) are refused: the spec is stored and shown "
	    "with every revision");
	refused_exact(A("{ url: \"http://admin:hunter2@p x\", query: a, "
	    "max: 1 }"), "web.yml:9: analysis.prometheus.url: expected an "
	    "http:// or https:// URL like http://127.0.0.1:9090");
	refused_exact(A("{ url: \"http://p:9090\", query: \"\", max: 1 }"),
	    "web.yml:9: analysis.prometheus.query: expected a PromQL query, "
	    "got an empty one");
	refused(A("{ url: \"http://p:9090\", query: a, max: lots }"),
	    "web.yml:9: analysis.prometheus.max: expected a number like 0.01, "
	    "got \"lots\"");
	refused(A("{ url: \"http://p:9090\", query: a, max: .nan }"),
	    "web.yml:9: analysis.prometheus.max: expected a number like 0.01");
	refused(A("{ url: \"http://p:9090\", query: a, max: 1e3 }"),
	    "web.yml:9: analysis.prometheus.max: expected a number like 0.01");
	refused_exact(A("{ name: Errors, url: \"http://p:9090\", query: a, "
	    "max: 1 }"), "web.yml:9: analysis.prometheus.name: expected a "
	    "name of lowercase letters, digits, '_' and '-', at most 32 "
	    "characters, got \"Errors\"");
	refused(A("{ name: abcdefghijklmnopqrstuvwxyz0123456, url: "
	    "\"http://p:9090\", query: a, max: 1 }"), "web.yml:9: "
	    "analysis.prometheus.name: expected a name");
	refused(A("{ url: \"http://p:9090\", query: a, max: 1, step: 1m }"),
	    "web.yml:9: analysis.prometheus: unknown key \"step\" (expected "
	    "one of: name, url, query, max)");
	refused_exact(A("[]"), "web.yml:9: analysis.prometheus: expected at "
	    "least one query");
	refused_exact(A("\n"
	    "    - { url: \"http://p:9090\", query: a, max: 1 }\n"
	    "    - { name: prometheus-1, url: \"http://p:9090\", query: b, "
	    "max: 1 }"), "web.yml:11: analysis.prometheus[1]: name "
	    "\"prometheus-1\" is used twice (first at line 10)");
	refused_exact(A("\n    - { url: \"http://p:9090\", query: a, max: 1 }"
	    "\n    - 7"), "web.yml:11: analysis.prometheus[1]: expected a "
	    "mapping like { url: \"http://127.0.0.1:9090\", query: \"...\", "
	    "max: 0.01 }, got 7");
	refused_exact(A("[ {url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1}, "
	    "{url: \"http://p\", query: a, max: 1} ]"), "web.yml:9: "
	    "analysis.prometheus: more than 8 queries");
#undef A
}

Test(spec, prometheus_query_of_4096_bytes_is_the_most)
{
	static char text[12000], q[4100];
	struct spec *s;

	memset(q, 'x', 4096);
	q[4096] = '\0';
	snprintf(text, sizeof(text), "%s%sanalysis: { prometheus: { url: "
	    "\"http://p:9090\", query: \"%s\", max: 1 } }\n", TRAFFIC,
	    CANARY_OK, q);
	s = parse_ok(text);
	cr_assert_eq(strlen(s->analysis.prom[0].query), 4096);
	spec_free(s);
	snprintf(text, sizeof(text), "%s%sanalysis: { prometheus: { url: "
	    "\"http://p:9090\", query: \"%sx\", max: 1 } }\n", TRAFFIC,
	    CANARY_OK, q);
	refused_exact(text, "web.yml:8: analysis.prometheus.query: longer "
	    "than 4096 bytes");
}

Test(spec, progress_deadline_reads_back_and_must_outlast_an_interval)
{
	struct spec *s;

	s = parse_ok(with("strategy: blue-green\nanalysis: { interval: 1s, "
	    "p95: { max: 1s } }\nrollout: { progress_deadline: 1001ms }\n"));
	cr_assert_eq(s->rollout.progress_deadline_ms, 1001);
	spec_free(s);
	s = parse_ok(with(CANARY_OK "analysis: { interval: 1m, p95: { max: "
	    "1s } }\nrollout: { progress_deadline: 61s }\n"));
	cr_assert_eq(s->rollout.progress_deadline_ms, 61000);
	cr_assert_eq(s->analysis.interval_ms, 60000);
	spec_free(s);

	refused_exact(with("strategy: blue-green\nrollout: { "
	    "progress_deadline: 999ms }\n"), "web.yml:7: "
	    "rollout.progress_deadline: must be at least 1s, got \"999ms\"");
	refused(with("strategy: blue-green\nrollout: { progress_deadline: "
	    "never }\n"), "web.yml:7: rollout.progress_deadline: expected a "
	    "duration");
	/* Progress is counted in judged intervals: none without analysis. */
	refused_exact(with(CANARY_OK "rollout:\n  progress_deadline: 5m\n"),
	    "web.yml:9: rollout.progress_deadline: needs an analysis: block "
	    "(progress is counted in judged intervals; without analysis there "
	    "are none)");
	refused_exact(with(CANARY_OK "analysis: { interval: 1m, p95: { max: "
	    "1s } }\nrollout:\n  progress_deadline: 60s\n"), "web.yml:10: "
	    "rollout.progress_deadline: must be above analysis.interval (1m), "
	    "or no interval could end before it");
	refused_exact(with(CANARY_OK "analysis: { p95: { max: 1s } }\n"
	    "rollout:\n  progress_deadline: 30s\n"), "web.yml:10: "
	    "rollout.progress_deadline: must be above analysis.interval (30s "
	    "by default), or no interval could end before it");
	refused_exact(with(CANARY_OK "analysis:\n  p95: { max: 1s }\n"
	    "  interval: 10m\n"), "web.yml:10: analysis.interval: must be "
	    "below rollout.progress_deadline (10m by default), or no interval "
	    "could end before it");
	/* A rolling deployment is bounded by health.deadline instead. */
	refused_exact(edit(22, "  progress_deadline: 10m"), "web.yml:22: "
	    "rollout.progress_deadline: needs strategy canary or blue-green "
	    "(the strategy is rolling by default, whose hosts are bounded by "
	    "health.deadline)");
}

/* ---- every key ferry.yml(5) documents has an effect -------------------- */

/*
 * man/ferry.yml.5 lists the keys a spec accepts under KEYS (a .TP entry
 * whose tag starts with the key; .RS and .RE nest them) and the keys
 * refused by name under NOT IN THIS VERSION (none today: the page has
 * no such section until a key of DESIGN's is again left for later).
 * Every key under KEYS must
 * have a row here naming the integration test that shows its effect on
 * the container, the health check, the plan or the rollout; that test
 * must exist and write the key in its body.  The parser must accept, at
 * each documented mapping, exactly the keys documented there (its
 * "unknown key" message lists them), and refuse each key of NOT IN THIS
 * VERSION at its line.  So a key added to the parser, to the page or to
 * the table without the others, or a test renamed or emptied of it, fails
 * here.
 */
struct effect {
	const char *key;	/* dotted path, as documented */
	const char *file;	/* under tests/integration/ */
	const char *test;	/* "suite, name" */
};

#define KEYS_C "test_spec_keys.c"
#define CONTAINER "spec_keys, container_shows_service_image_hosts_port_and_env"
#define HTTP "spec_keys, health_http_path_port_and_status"
#define CHECKS "spec_keys, health_tcp_exec_and_docker_checks"
#define THRESHOLDS "spec_keys, health_interval_and_thresholds"
#define TIMES "spec_keys, health_timeout_deadline_start_period_and_min_healthy"
#define PLAN "spec_keys, rollout_batch_canary_and_strategy_in_the_plan"
#define FAILURES "spec_keys, rollout_max_failures_and_on_failure"
#define CANARY_C "test_canary.c"
#define FAILING "canary, a_failing_canary_is_rolled_back_by_its_figures"
#define ALIKE "canary, canaries_that_behave_like_the_stable_revision_pass"
#define INCONCL "canary, too_little_traffic_is_inconclusive_never_passed"
#define P95 "canary, a_p95_regression_fails"
#define BLUEGREEN "canary, blue_green_switches_six_hosts_and_back"
#define PROM "canary, a_prometheus_check_judges_the_canary"
#define CONT_C "test_container.c"
#define INSPECT "container, every_container_key_shows_on_docker_inspect"

static const struct effect effects[] = {
	{ "service", KEYS_C, CONTAINER },
	{ "image", KEYS_C, CONTAINER },
	{ "hosts", KEYS_C, CONTAINER },
	{ "hosts.names", KEYS_C, CONTAINER },
	{ "hosts.labels", KEYS_C, CONTAINER },
	{ "port", KEYS_C, CONTAINER },
	{ "port.host", KEYS_C, CONTAINER },
	{ "port.container", KEYS_C, CONTAINER },
	{ "env", KEYS_C, CONTAINER },
	{ "health", KEYS_C, HTTP },
	{ "health.http", KEYS_C, HTTP },
	{ "health.http.path", KEYS_C, HTTP },
	{ "health.http.port", KEYS_C, HTTP },
	{ "health.http.status", KEYS_C, HTTP },
	{ "health.tcp", KEYS_C, CHECKS },
	{ "health.exec", KEYS_C, CHECKS },
	{ "health.docker", KEYS_C, CHECKS },
	{ "health.interval", KEYS_C, THRESHOLDS },
	{ "health.healthy_threshold", KEYS_C, THRESHOLDS },
	{ "health.unhealthy_threshold", KEYS_C, THRESHOLDS },
	{ "health.timeout", KEYS_C, TIMES },
	{ "health.start_period", KEYS_C, TIMES },
	{ "health.deadline", KEYS_C, TIMES },
	{ "health.min_healthy", KEYS_C, TIMES },
	{ "health.start_interval", "test_swap.c",
	    "swap, a_slow_starter_is_seen_healthy_between_intervals" },
	{ "strategy", KEYS_C, PLAN },
	{ "catch_up", "test_catchup.c",
	    "catchup, catch_up_off_leaves_a_removed_container_drifted" },
	{ "rollout", KEYS_C, PLAN },
	{ "rollout.batch", KEYS_C, PLAN },
	{ "rollout.canary", KEYS_C, PLAN },
	{ "rollout.order", "test_swap.c",
	    "swap, start_first_with_exec_health_runs_both_then_the_new" },
	{ "rollout.pause", "test_deploy.c",
	    "deploy, pause_then_abort_leaves_later_batches_untouched" },
	{ "rollout.max_failures", KEYS_C, FAILURES },
	{ "rollout.on_failure", KEYS_C, FAILURES },
	{ "rollout.skip_offline", "test_core.c",
	    "core, offline_hosts_are_listed_refused_or_skipped_and_said" },
	{ "proxy", "test_nodrop.c",
	    "nodrop, rolling_deploys_under_load_drop_nothing" },
	{ "proxy.mode", "test_nodrop.c",
	    "nodrop, spec_proxy_settings_reach_the_route" },
	{ "proxy.drain_timeout", "test_nodrop.c",
	    "nodrop, rolling_deploys_under_load_drop_nothing" },
	{ "proxy.max_pause", "test_nodrop.c",
	    "nodrop, rolling_deploys_under_load_drop_nothing" },
	{ "proxy.upstream_timeout", "test_nodrop.c",
	    "nodrop, spec_proxy_settings_reach_the_route" },
	{ "proxy.max_body", "test_nodrop.c",
	    "nodrop, spec_proxy_settings_reach_the_route" },
	{ "proxy.sticky", "test_nodrop.c",
	    "nodrop, spec_proxy_settings_reach_the_route" },
	{ "secrets", "test_secrets.c",
	    "secrets, files_in_each_container_pinned_by_revision" },
	{ "rollout.progress_deadline", CANARY_C, INCONCL },
	{ "canary", CANARY_C, FAILING },
	{ "canary.hosts", CANARY_C, ALIKE },
	{ "canary.steps", CANARY_C, FAILING },
	{ "blue_green", CANARY_C, BLUEGREEN },
	{ "blue_green.keep_old", CANARY_C, BLUEGREEN },
	{ "analysis", CANARY_C, FAILING },
	{ "analysis.interval", CANARY_C, FAILING },
	{ "analysis.min_requests", CANARY_C, FAILING },
	{ "analysis.error_rate", CANARY_C, FAILING },
	{ "analysis.error_rate.max", CANARY_C, FAILING },
	{ "analysis.p95", CANARY_C, P95 },
	{ "analysis.p95.max", CANARY_C, P95 },
	{ "analysis.relative", CANARY_C, FAILING },
	{ "analysis.relative.error_rate", CANARY_C, FAILING },
	{ "analysis.relative.p95", CANARY_C, P95 },
	{ "analysis.failure_limit", CANARY_C, FAILING },
	{ "analysis.inconclusive", CANARY_C, INCONCL },
	{ "analysis.prometheus", CANARY_C, PROM },
	{ "analysis.prometheus.name", CANARY_C, PROM },
	{ "analysis.prometheus.url", CANARY_C, PROM },
	{ "analysis.prometheus.query", CANARY_C, PROM },
	{ "analysis.prometheus.max", CANARY_C, PROM },
	{ "ports", CONT_C, INSPECT },
	{ "health.docker.test", CONT_C, INSPECT },
	{ "health.docker.interval", CONT_C, INSPECT },
	{ "health.docker.timeout", CONT_C, INSPECT },
	{ "health.docker.start_period", CONT_C, INSPECT },
	{ "health.docker.retries", CONT_C, INSPECT },
	{ "command", CONT_C, INSPECT },
	{ "entrypoint", CONT_C, INSPECT },
	{ "workdir", CONT_C, INSPECT },
	{ "user", CONT_C, INSPECT },
	{ "volumes", CONT_C, INSPECT },
	{ "resources", CONT_C, INSPECT },
	{ "resources.memory", CONT_C, INSPECT },
	{ "resources.cpus", CONT_C, INSPECT },
	{ "restart", CONT_C, INSPECT },
	{ "stop_signal", CONT_C, INSPECT },
	{ "stop_timeout", CONT_C, INSPECT },
	{ "labels", CONT_C, INSPECT },
	{ "log", CONT_C, INSPECT },
	{ "log.driver", CONT_C, INSPECT },
	{ "log.options", CONT_C, INSPECT },
};

#define NEFFECTS (sizeof(effects) / sizeof(effects[0]))
#define DOC_MAX 128
#define KEY_MAX 128

/* repo_file reads a file of the repository (rel from its root, found
 * from this file's own path) into a new NUL-terminated buffer. */
static char *
repo_file(const char *rel)
{
	static const char me[] = "tests/unit/test_spec.c";
	const char *f = __FILE__;
	size_t n = strlen(f), got;
	char path[1024], *buf;
	FILE *fp;

	cr_assert(n >= strlen(me) && strcmp(f + n - strlen(me), me) == 0,
	    "%s", f);
	snprintf(path, sizeof(path), "%.*s%s", (int)(n - strlen(me)), f, rel);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s: cannot open", path);
	buf = malloc(1 << 20);
	cr_assert_not_null(buf);
	got = fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	buf[got] = '\0';
	return buf;
}

/*
 * doc_keys collects the keys of the man page's section (its .SH title)
 * as dotted paths, in the page's order, into keys; returns how many.  A
 * key is the leading [a-z0-9_] of a .B or .BI tag after .TP, quotes
 * dropped ("tcp: " port is tcp); .RS nests the entries that follow under
 * the last key, .RE ends that.
 */
static size_t
doc_keys(const char *page, const char *section, char keys[][KEY_MAX])
{
	char last[8][KEY_MAX], title[128];
	const char *l = page, *nl;
	size_t n = 0, len;
	int in = 0, tag = 0, depth = 0;

	for (; *l != '\0'; l = *nl ? nl + 1 : nl) {
		nl = strchr(l, '\n');
		if (nl == NULL)
			nl = l + strlen(l);
		len = (size_t)(nl - l);
		if (strncmp(l, ".SH ", 4) == 0) {
			size_t o = 0;

			for (const char *p = l + 4; p < nl; p++)
				if (*p != '"' && o + 1 < sizeof(title))
					title[o++] = *p;
			title[o] = '\0';
			in = strcmp(title, section) == 0;
			continue;
		}
		if (!in)
			continue;
		if (len == 3 && strncmp(l, ".TP", 3) == 0) {
			tag = 1;
			continue;
		}
		if (len == 3 && strncmp(l, ".RS", 3) == 0) {
			cr_assert_lt(depth, 7, "%s: nested too deep", section);
			depth++;
			continue;
		}
		if (len == 3 && strncmp(l, ".RE", 3) == 0) {
			cr_assert_gt(depth, 0, "%s: .RE without .RS", section);
			depth--;
			continue;
		}
		if (tag && (strncmp(l, ".B ", 3) == 0 ||
		    strncmp(l, ".BI ", 4) == 0)) {
			const char *p = l + (l[2] == ' ' ? 3 : 4);
			char k[KEY_MAX];
			size_t o = 0;

			while (*p == ' ' || *p == '"')
				p++;
			while (p < nl && o + 1 < sizeof(k) && ((*p >= 'a' &&
			    *p <= 'z') || (*p >= '0' && *p <= '9') ||
			    *p == '_'))
				k[o++] = *p++;
			k[o] = '\0';
			cr_assert_gt(o, 0, "%s: no key in \"%.*s\"", section,
			    (int)len, l);
			if (depth == 0) {
				snprintf(keys[n], KEY_MAX, "%s", k);
			} else {
				char joined[2 * KEY_MAX + 2];

				snprintf(joined, sizeof(joined), "%s.%s",
				    last[depth - 1], k);
				cr_assert_lt(strlen(joined), KEY_MAX, "%s: key "
				    "too long: %s", section, joined);
				memcpy(keys[n], joined, strlen(joined) + 1);
			}
			snprintf(last[depth], KEY_MAX, "%s", keys[n]);
			cr_assert_lt(++n, DOC_MAX);
		}
		tag = 0;
	}
	return n;
}

/* children writes the keys documented right under parent ("" for the
 * top), comma-separated and sorted, into out. */
static void
children(char keys[][KEY_MAX], size_t n, const char *parent, char *out,
    size_t len)
{
	const char *sel[DOC_MAX];
	size_t i, j, m = 0, pl = strlen(parent), o = 0;

	for (i = 0; i < n; i++) {
		const char *k = keys[i];

		if (pl > 0 && (strncmp(k, parent, pl) != 0 || k[pl] != '.'))
			continue;
		k += pl ? pl + 1 : 0;
		if (strchr(k, '.') == NULL)
			sel[m++] = k;
	}
	for (i = 1; i < m; i++)	/* few: insertion sort */
		for (j = i; j > 0 && strcmp(sel[j - 1], sel[j]) > 0; j--) {
			const char *t = sel[j];
			sel[j] = sel[j - 1];
			sel[j - 1] = t;
		}
	out[0] = '\0';
	for (i = 0; i < m; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "",
		    sel[i]);
}

/* sort_list sorts a ", "-separated list in place. */
static void
sort_list(char *list)
{
	char copy[512], *w[64], *save = NULL, *t;
	size_t n = 0, i, j, o = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	for (t = strtok_r(copy, ", ", &save); t != NULL && n < 64;
	    t = strtok_r(NULL, ", ", &save))
		w[n++] = t;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(w[j - 1], w[j]) > 0; j--) {
			t = w[j];
			w[j] = w[j - 1];
			w[j - 1] = t;
		}
	list[0] = '\0';
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(list + o, 512 - o, "%s%s", i ? ", " : "",
		    w[i]);
}

/*
 * accepted asks the parser which keys the mapping at path ("" for the
 * top) takes: a minimal spec gets an unknown key there, and the message
 * lists the others.  Returns 1 with the list (sorted) in out, or 0 when
 * path is no mapping of fixed keys (a scalar, a list, a free-form
 * mapping like env).
 */
static int
accepted(const char *path, char *out, size_t len)
{
	static const char *const base[][2] = {
		{ "service", "web" }, { "image", "web:1" },
		{ "hosts", "[web-1]" }, { "health", "{ tcp: 80 }" },
	};
	static const char tag[] = "unknown key \"zz_probe\" (expected one "
	    "of: ";
	char text[1024], nested[512], top[KEY_MAX], err[512], at[160];
	const char *rest, *p, *e;
	size_t o = 0, i, closes = 0;
	struct spec *s = NULL;
	int merge, rc;

	/* The value put in place of the top key: path's rest, nested. */
	snprintf(top, sizeof(top), "%s", path);
	if ((p = strchr(top, '.')) != NULL)
		top[p - top] = '\0';
	rest = strchr(path, '.');
	for (merge = 1; merge >= 0; merge--) {
		o = (size_t)snprintf(nested, sizeof(nested), "{ %s",
		    merge && strcmp(top, "health") == 0 ? "tcp: 80, " : "");
		closes = 1;
		for (p = rest; p != NULL; p = strchr(p + 1, '.')) {
			e = strchr(p + 1, '.');
			o += (size_t)snprintf(nested + o, sizeof(nested) - o,
			    "%.*s: { ", (int)(e ? e - p - 1 :
			    (ptrdiff_t)strlen(p + 1)), p + 1);
			closes++;
		}
		o += (size_t)snprintf(nested + o, sizeof(nested) - o,
		    "zz_probe: 1");
		while (closes-- > 0)
			o += (size_t)snprintf(nested + o, sizeof(nested) - o,
			    " }");
		o = 0;
		for (i = 0; i < sizeof(base) / sizeof(base[0]); i++)
			if (path[0] == '\0' || strcmp(base[i][0], top) != 0)
				o += (size_t)snprintf(text + o,
				    sizeof(text) - o, "%s: %s\n", base[i][0],
				    base[i][1]);
		if (path[0] == '\0')
			snprintf(text + o, sizeof(text) - o, "zz_probe: 1\n");
		else
			snprintf(text + o, sizeof(text) - o, "%s: %s\n", top,
			    nested);
		rc = parse(text, &s, err, sizeof(err));
		spec_free(s);
		s = NULL;
		/* Two checks (tcp and the one probed): probe it alone. */
		if (rc != 0 && strstr(err, "more than one check") != NULL)
			continue;
		break;
	}
	if (rc == 0 || (p = strstr(err, tag)) == NULL)
		return 0;
	snprintf(at, sizeof(at), ": %s%sunknown key", path,
	    path[0] ? ": " : "");
	if (strstr(err, at) == NULL)
		return 0;	/* refused above path: path takes anything */
	p += strlen(tag);
	e = strchr(p, ')');
	cr_assert_not_null(e, "%s", err);
	snprintf(out, len, "%.*s", (int)(e - p), p);
	sort_list(out);
	return 1;
}

/* strip_comments blanks the C comments of s in place: a key named in a
 * comment is not a key a test writes. */
static void
strip_comments(char *s)
{
	char *e;

	while ((s = strstr(s, "/*")) != NULL) {
		e = strstr(s + 2, "*/");
		e = e ? e + 2 : s + strlen(s);
		memset(s, ' ', (size_t)(e - s));
		s = e;
	}
}

/* test_body finds Test(name) in an integration test file and returns its
 * body (up to the next Test), or NULL; *end is where it stops. */
static const char *
test_body(const char *src, const char *name, const char **end)
{
	char want[256];
	const char *p = src;

	snprintf(want, sizeof(want), "\nTest(%s", name);
	while ((p = strstr(p, want)) != NULL) {
		char c = p[strlen(want)];

		if (c == ')' || c == ',') {
			*end = strstr(p + 1, "\nTest(");
			if (*end == NULL)
				*end = p + strlen(p);
			return p;
		}
		p++;
	}
	return NULL;
}

/* The canary and blue-green examples of ferry.yml(5) parse: each .nf
 * block with a strategy, after a service, image, hosts and health (and a
 * port when it has none), roff's \- read as -. */
Test(spec, the_pages_strategy_examples_parse)
{
	static const char base[] = "service: web\nimage: web:1\n"
	    "hosts: [web-1, web-2, web-3]\n"
	    "health: { http: { path: /health, port: 80 } }\n";
	char *page = repo_file("man/ferry.yml.5"), *p = page, *e;
	char text[4096];
	size_t o, found = 0;

	while ((p = strstr(p, "\n.nf\n")) != NULL) {
		p += 5;
		e = strstr(p, "\n.fi\n");
		cr_assert_not_null(e);
		*e = '\0';	/* the block alone */
		if (strstr(p, "strategy:") != NULL) {
			o = (size_t)snprintf(text, sizeof(text), "%s%s", base,
			    strstr(p, "port:") ? "" :
			    "port: { host: 8080, container: 80 }\n");
			for (; *p != '\0' && o + 2 < sizeof(text); p++)
				if (!(p[0] == '\\' && p[1] == '-'))
					text[o++] = *p;
			text[o++] = '\n';
			text[o] = '\0';
			spec_free(parse_ok(text));
			found++;
		}
		p = e + 1;
	}
	free(page);
	cr_assert_eq(found, 2, "%zu examples with a strategy", found);
}

Test(spec, every_documented_key_has_an_effect)
{
	static char keys[DOC_MAX][KEY_MAX], refused[DOC_MAX][KEY_MAX];
	char *page = repo_file("man/ferry.yml.5");
	char doc[512], parser[512], rel[256], err[512], text[1024];
	size_t n, nr, i, k, rows;

	n = doc_keys(page, "KEYS", keys);
	nr = doc_keys(page, "NOT IN THIS VERSION", refused);
	free(page);
	cr_assert_gt(n, 20, "only %zu keys under KEYS", n);

	/* Each documented key has one row, and each row a documented key. */
	for (i = 0; i < n; i++) {
		for (k = 0, rows = 0; k < NEFFECTS; k++)
			rows += strcmp(effects[k].key, keys[i]) == 0;
		cr_assert_eq(rows, 1, "ferry.yml(5) documents \"%s\": %zu "
		    "rows in effects[] name the test of its effect", keys[i],
		    rows);
	}
	for (k = 0; k < NEFFECTS; k++) {
		for (i = 0; i < n && strcmp(effects[k].key, keys[i]) != 0; i++)
			;
		cr_assert_lt(i, n, "effects[] has \"%s\", which ferry.yml(5) "
		    "does not document under KEYS", effects[k].key);
	}

	/* Each row's test exists and writes the key. */
	for (k = 0; k < NEFFECTS; k++) {
		const struct effect *ef = &effects[k];
		const char *leaf = strrchr(ef->key, '.'), *body, *end;
		char want[KEY_MAX + 2];
		char *src;

		leaf = leaf ? leaf + 1 : ef->key;
		snprintf(rel, sizeof(rel), "tests/integration/%s", ef->file);
		src = repo_file(rel);
		body = test_body(src, ef->test, &end);
		cr_assert_not_null(body, "%s: no Test(%s), which effects[] "
		    "names for \"%s\"", rel, ef->test, ef->key);
		snprintf(want, sizeof(want), "%s:", leaf);
		src[end - src] = '\0';	/* the body alone */
		strip_comments(src);
		cr_assert(strstr(body, want) != NULL, "%s: Test(%s) never "
		    "writes \"%s\" (the key \"%s\")", rel, ef->test, want,
		    ef->key);
		free(src);
	}

	/* At the top and at every documented key that is a mapping of fixed
	 * keys, the parser takes exactly the keys documented there. */
	children(keys, n, "", doc, sizeof(doc));
	cr_assert(accepted("", parser, sizeof(parser)), "no top-level list");
	cr_assert_str_eq(parser, doc, "the parser takes [%s] at the top, "
	    "ferry.yml(5) documents [%s]", parser, doc);
	for (i = 0; i < n; i++) {
		children(keys, n, keys[i], doc, sizeof(doc));
		if (!accepted(keys[i], parser, sizeof(parser))) {
			cr_assert_str_empty(doc, "ferry.yml(5) documents keys "
			    "under %s (%s), the parser takes none", keys[i],
			    doc);
			continue;
		}
		cr_assert_str_eq(parser, doc, "the parser takes [%s] under "
		    "%s, ferry.yml(5) documents [%s]", parser, keys[i], doc);
	}

	/* Each key of NOT IN THIS VERSION is refused by name, at its line,
	 * saying so. */
	for (i = 0; i < nr; i++) {
		struct spec *s = NULL;
		char want[KEY_MAX + 32];

		snprintf(text, sizeof(text), "%s%s: x\n", MINIMAL, refused[i]);
		cr_assert_eq(parse(text, &s, err, sizeof(err)),
		    FERR_MALFORMED, "\"%s\" is accepted", refused[i]);
		snprintf(want, sizeof(want), "web.yml:5: %s: ", refused[i]);
		cr_assert(strncmp(err, want, strlen(want)) == 0 &&
		    strstr(err, "this version of ferry") != NULL, "\"%s\" is "
		    "refused as: %s", refused[i], err);
	}
}

/* ---- the container's own keys (issue 16) --------------------------- */

static const char CONTAINER_SPEC[] =
    "service: web\n"						/* 1 */
    "image: web:1\n"						/* 2 */
    "hosts: [web-1]\n"						/* 3 */
    "ports: [ { host: 8080, container: 80 }, { host: 9090, "
    "container: 9090 } ]\n"					/* 4 */
    "command: [nginx, -g, \"daemon off;\"]\n"			/* 5 */
    "entrypoint: [/docker-entrypoint.sh]\n"			/* 6 */
    "workdir: /srv/app\n"					/* 7 */
    "user: \"1000:1000\"\n"					/* 8 */
    "volumes: [ \"data:/var/lib/app\", \"/srv/web/static:/static:ro\" ]\n"
    "resources: { memory: 512m, cpus: 1.5 }\n"			/* 10 */
    "restart: on-failure:5\n"					/* 11 */
    "stop_signal: SIGQUIT\n"					/* 12 */
    "stop_timeout: 30s\n"					/* 13 */
    "labels: { team: payments, com.example.tier: \"1\" }\n"	/* 14 */
    "log: { driver: local, options: { max-size: 10m, max-file: \"3\" } }\n"
    "health:\n"							/* 16 */
    "  docker: { test: [CMD-SHELL, \"curl -f localhost\"], retries: 4 }\n"
    "  interval: 2s\n"						/* 18 */
    "  timeout: 3s\n"						/* 19 */
    "rollout: { order: stop-first }\n";				/* 20 */

Test(spec, container_keys_read_back)
{
	struct spec *s = parse_ok(CONTAINER_SPEC);
	char r[32];

	cr_assert_eq(s->nports, 2);
	cr_assert(s->port.set);
	cr_assert_eq(s->port.host, 8080);	/* the first is port */
	cr_assert_eq(s->port.container, 80);
	cr_assert_eq(s->ports[1].host, 9090);
	cr_assert_eq(s->ports[1].container, 9090);
	cr_assert_eq(s->ncommand, 3);
	cr_assert_str_eq(s->command[2], "daemon off;");
	cr_assert_eq(s->nentrypoint, 1);
	cr_assert_str_eq(s->entrypoint[0], "/docker-entrypoint.sh");
	cr_assert_str_eq(s->workdir, "/srv/app");
	cr_assert_str_eq(s->user, "1000:1000");
	cr_assert_eq(s->nvolumes, 2);
	cr_assert_str_eq(s->volumes[0].source, "data");
	cr_assert_str_eq(s->volumes[0].target, "/var/lib/app");
	cr_assert(!s->volumes[0].bind && !s->volumes[0].read_only);
	cr_assert_str_eq(s->volumes[1].source, "/srv/web/static");
	cr_assert(s->volumes[1].bind && s->volumes[1].read_only);
	cr_assert_eq(s->memory, 512ull << 20);
	cr_assert_eq(s->nano_cpus, 1500000000ull);
	cr_assert_eq(s->restart, SPEC_RESTART_ON_FAILURE);
	cr_assert_eq(s->restart_max, 5);
	spec_restart_text(s, r, sizeof(r));
	cr_assert_str_eq(r, "on-failure:5");
	cr_assert_str_eq(s->stop_signal, "SIGQUIT");
	cr_assert_eq(s->stop_timeout_s, 30);
	cr_assert_eq(s->nlabels, 2);
	cr_assert_str_eq(s->labels[1].name, "com.example.tier");
	cr_assert_str_eq(s->labels[1].value, "1");
	cr_assert_str_eq(s->log_driver, "local");
	cr_assert_eq(s->nlog_opts, 2);
	cr_assert_str_eq(s->log_opts[0].name, "max-size");
	cr_assert_str_eq(s->log_opts[0].value, "10m");
	cr_assert_eq(s->health.check, SPEC_CHECK_DOCKER);
	cr_assert(s->healthcheck.set);
	cr_assert_eq(s->healthcheck.ntest, 2);
	cr_assert_str_eq(s->healthcheck.test[0], "CMD-SHELL");
	/* Timings not written take health's. */
	cr_assert_eq(s->healthcheck.interval_ms, 2000);
	cr_assert_eq(s->healthcheck.timeout_ms, 3000);
	cr_assert_eq(s->healthcheck.start_period_ms, 0);
	cr_assert_eq(s->healthcheck.retries, 4);
	spec_free(s);
}

Test(spec, container_keys_default_to_the_image_and_docker)
{
	struct spec *s = parse_ok(MINIMAL);
	char r[32];

	cr_assert_eq(s->nports, 0);
	cr_assert_null(s->command);
	cr_assert_null(s->entrypoint);
	cr_assert_null(s->workdir);
	cr_assert_null(s->user);
	cr_assert_eq(s->nvolumes, 0);
	cr_assert_eq(s->memory, 0);
	cr_assert_eq(s->nano_cpus, 0);
	spec_restart_text(s, r, sizeof(r));
	cr_assert_str_eq(r, "unless-stopped");
	cr_assert_str_empty(s->stop_signal);
	cr_assert_eq(s->stop_timeout_s, 0);
	cr_assert_eq(s->nlabels, 0);
	cr_assert_null(s->log_driver);
	cr_assert(!s->healthcheck.set);
	spec_free(s);
	/* port: alone leaves ports: empty (port is the one). */
	s = parse_ok(edit(0, NULL));
	cr_assert_eq(s->nports, 0);
	cr_assert(s->port.set);
	spec_free(s);
}

Test(spec, container_key_forms)
{
	static const char *const ok[] = {
	    "restart: \"no\"", "restart: always", "restart: unless-stopped",
	    "restart: on-failure", "stop_signal: 3", "stop_signal: SIGRTMIN+3",
	    "stop_signal: SIGTERM", "resources: { memory: 2g }",
	    "resources: { memory: 64MiB }", "resources: { memory: 6m }",
	    "resources: { cpus: 0.01 }", "resources: { cpus: 2 }",
	    "user: app", "user: \"1000\"", "user: app:staff",
	    "volumes: [ \"a1:/x\" ]", "volumes: [ \"/srv:/x:rw\" ]",
	    "log: { driver: journald }", "log: { driver: json-file }",
	    "stop_timeout: 1h", "labels: { a.b/c: \"\" }",
	    NULL,
	};
	char text[1024];
	size_t i;

	for (i = 0; ok[i] != NULL; i++) {
		snprintf(text, sizeof(text), "%s%s\n", MINIMAL, ok[i]);
		spec_free(parse_ok(text));
	}
}

/* refused5: MINIMAL with line 5 added is refused with want (exactly). */
static void
refused5(const char *line5, const char *want)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s%s\n", MINIMAL, line5);
	refused_exact(text, want);
}

Test(spec, container_key_refusals)
{
	refused5("command: nginx -g daemon", "web.yml:5: command: expected a "
	    "list of words like [nginx, -g, \"daemon off;\"], got one string: "
	    "ferry does not split it; write each word as an item (or [sh, -c, "
	    "\"...\"] for a shell)");
	refused5("command: []", "web.yml:5: command: expected at least one "
	    "word (leave command: out for the image's own)");
	refused5("entrypoint: [\"\", x]", "web.yml:5: entrypoint[0]: expected "
	    "a program, got an empty word");
	refused5("command: [a, { b: c }]", "web.yml:5: command[1]: expected a "
	    "word, got a mapping");
	refused5("workdir: srv/app", "web.yml:5: workdir: expected an "
	    "absolute path like /srv/app (no ':', ',' or \"..\" part), got "
	    "\"srv/app\"");
	refused5("workdir: /srv/../etc", "web.yml:5: workdir: expected an "
	    "absolute path like /srv/app (no ':', ',' or \"..\" part), got "
	    "\"/srv/../etc\"");
	refused5("user: \"Bob Smith\"", "web.yml:5: user: expected a user name "
	    "or uid, optionally with :group or :gid, like app or 1000:1000, "
	    "got \"Bob Smith\"");
	refused5("user: \"1000:\"", "web.yml:5: user: expected a user name or "
	    "uid, optionally with :group or :gid, like app or 1000:1000, got "
	    "\"1000:\"");
	refused5("volumes: data:/x", "web.yml:5: volumes: expected a list like "
	    "[ \"data:/var/lib/app\", \"/srv/static:/static:ro\" ], got "
	    "\"data:/x\"");
	refused5("volumes: [ \"data\" ]", "web.yml:5: volumes[0]: expected "
	    "SOURCE:TARGET or SOURCE:TARGET:ro (SOURCE a volume name like "
	    "data, or an absolute host path), got \"data\"");
	refused5("volumes: [ \"d:/x\" ]", "web.yml:5: volumes[0]: a volume "
	    "name is 2 to 64 letters, digits, '_', '.' or '-', starting with "
	    "a letter or digit (Docker's rule), and a host path starts with "
	    "'/'; got \"d:/x\"");
	refused5("volumes: [ \"-data:/x\" ]", "web.yml:5: volumes[0]: a volume "
	    "name is 2 to 64 letters, digits, '_', '.' or '-', starting with "
	    "a letter or digit (Docker's rule), and a host path starts with "
	    "'/'; got \"-data:/x\"");
	refused5("volumes: [ \"/srv/../etc:/x\" ]", "web.yml:5: volumes[0]: "
	    "the host path must be an absolute path like /srv/app (no ':', "
	    "',' or \"..\" part), got \"/srv/../etc:/x\"");
	refused5("volumes: [ \"data:x\" ]", "web.yml:5: volumes[0]: the target "
	    "must be an absolute path like /srv/app (no ':', ',' or \"..\" "
	    "part), not / itself; got \"data:x\"");
	refused5("volumes: [ \"data:/\" ]", "web.yml:5: volumes[0]: the target "
	    "must be an absolute path like /srv/app (no ':', ',' or \"..\" "
	    "part), not / itself; got \"data:/\"");
	refused5("volumes: [ \"data:/x:rx\" ]", "web.yml:5: volumes[0]: the "
	    "mode after the target must be ro or rw, got \"data:/x:rx\"");
	refused5("volumes: [ \"data:/run/secrets\" ]", "web.yml:5: volumes[0]: "
	    "the target /run/secrets is where ferry puts the service's "
	    "secrets");
	refused5("volumes: [ \"data:/x\", \"/srv:/x\" ]", "web.yml:5: "
	    "volumes[1]: target /x is mounted twice (first at line 5)");
	refused5("resources: { memory: 1m }", "web.yml:5: resources.memory: "
	    "expected a size like 512m or 2g (b, k, m, g, or KiB, MiB, GiB), "
	    "at least 6m, got \"1m\"");
	refused5("resources: { memory: 1.5g }", "web.yml:5: resources.memory: "
	    "expected a size like 512m or 2g (b, k, m, g, or KiB, MiB, GiB), "
	    "at least 6m, got \"1.5g\"");
	refused5("resources: { cpus: 0 }", "web.yml:5: resources.cpus: "
	    "expected a number of CPUs like 1.5, from 0.01 to 1024, got 0");
	refused5("resources: { cpus: 2000 }", "web.yml:5: resources.cpus: "
	    "expected a number of CPUs like 1.5, from 0.01 to 1024, got 2000");
	refused5("resources: {}", "web.yml:5: resources: expected memory, cpus "
	    "or both");
	refused5("resources: { disk: 1g }", "web.yml:5: resources: unknown key "
	    "\"disk\" (expected one of: memory, cpus)");
	refused5("restart: sometimes", "web.yml:5: restart: expected no, "
	    "on-failure, on-failure:N (N from 1 to 1000), always or "
	    "unless-stopped, got \"sometimes\"");
	refused5("restart: on-failure:0", "web.yml:5: restart: expected no, "
	    "on-failure, on-failure:N (N from 1 to 1000), always or "
	    "unless-stopped, got \"on-failure:0\"");
	refused5("stop_signal: TERM", "web.yml:5: stop_signal: expected a "
	    "signal name like SIGTERM or SIGQUIT, or a number from 1 to 64, "
	    "got \"TERM\"");
	refused5("stop_signal: SIGFOO", "web.yml:5: stop_signal: expected a "
	    "signal name like SIGTERM or SIGQUIT, or a number from 1 to 64, "
	    "got \"SIGFOO\"");
	refused5("stop_signal: 65", "web.yml:5: stop_signal: expected a "
	    "signal name like SIGTERM or SIGQUIT, or a number from 1 to 64, "
	    "got 65");
	refused5("stop_timeout: 1500ms", "web.yml:5: stop_timeout: must be "
	    "whole seconds (Docker counts it so), got \"1500ms\"");
	refused5("stop_timeout: 2h", "web.yml:5: stop_timeout: must be at "
	    "most 1h, got \"2h\"");
	refused5("stop_timeout: 0s", "web.yml:5: stop_timeout: must be above "
	    "0, got \"0s\"");
	refused5("labels: { ferry.service: x }", "web.yml:5: labels: label "
	    "\"ferry.service\": the prefix ferry. is ferry's own");
	refused5("labels: { com.docker.compose.project: x }", "web.yml:5: "
	    "labels: label \"com.docker.compose.project\": the prefix "
	    "com.docker. is Docker's own");
	refused5("labels: [a]", "web.yml:5: labels: expected a mapping of "
	    "labels like { team: payments }, got a list");
	refused5("log: { driver: syslog }", "web.yml:5: log.driver: expected "
	    "json-file, local or journald (the drivers whose logs Docker "
	    "reads back, which ferry logs and a failed swap's last lines "
	    "need), got \"syslog\"");
	refused5("log: { options: { max-size: 1m } }", "web.yml:5: log: "
	    "missing required key \"driver\" (json-file, local or journald)");
	refused5("log: { driver: local, options: { Max-Size: 1m } }",
	    "web.yml:5: log.options: expected an option name like max-size "
	    "(lowercase letters, digits, '_', '.' and '-'), got \"Max-Size\"");
	refused5("ports: [ { host: 80, container: 80 }, { host: 80, "
	    "container: 81 } ]", "web.yml:5: ports[1]: host port 80 is listed "
	    "twice (first at line 5)");
	refused5("ports: [ { host: 80 } ]", "web.yml:5: ports[0]: missing "
	    "required key \"container\"");
	refused5("ports: { host: 80, container: 80 }", "web.yml:5: ports: "
	    "expected a list of ports like [ { host: 8080, container: 80 }, "
	    "{ host: 9090, container: 9090 } ], got a mapping");
	refused5("ports: []", "web.yml:5: ports: expected at least one port "
	    "(leave ports: out for none)");	refused5("ports: [ { host: 80, container: 80, mode: udp } ]",
	    "web.yml:5: ports[0].mode: expected http or tcp, got \"udp\"");
}

/* A port's own mode through ferry-proxy; without one, the service's. */
Test(spec, a_port_s_own_mode)
{
	struct spec *s = parse_ok(edit(4, "ports: [ { host: 8080, container: "
	    "80 }, { host: 9090, container: 90, mode: tcp }, { host: 9091, "
	    "container: 91, mode: http } ]\nproxy: { sticky: true }"));

	cr_assert_eq(s->nports, 3);
	cr_assert_eq(s->ports[0].mode, SPEC_PORT_MODE_SERVICE);
	cr_assert_eq(s->ports[1].mode, SPEC_PORT_MODE_TCP);
	cr_assert_eq(s->ports[2].mode, SPEC_PORT_MODE_HTTP);
	spec_free(s);
}

Test(spec, port_and_ports_and_the_proxy)
{
	/* Both: refused at ports:, naming port:'s line. */
	refused_exact(edit(4, "port: { host: 8080, container: 80 }\n"
	    "ports: [ { host: 8080, container: 80 } ]"), "web.yml:5: ports: "
	    "port: and ports: go not together (port: is at line 4): write "
	    "one; ports: [ ... ] lists the first port too");
	/* One entry of ports: is port:, and takes the proxy. */
	spec_free(parse_ok(edit(4, "ports: [ { host: 8080, container: 80 } ]\n"
	    "proxy: { drain_timeout: 5s }")));
	/* Several: the proxy's settings go to each port's route, and the
	 * strategies that need the proxy take them too. */
	spec_free(parse_ok(edit(4, "ports: [ { host: 8080, container: 80 }, { "
	    "host: 9090, container: 90 } ]\nproxy: { drain_timeout: 5s }")));
	spec_free(parse_ok("service: web\nimage: web:1\nhosts: [a, b]\n"
	    "ports: [ { host: 8080, container: 80 }, { host: 9090, container: "
	    "90 } ]\nhealth: { tcp: 80 }\nstrategy: blue-green\n"));
}

Test(spec, health_docker_mapping_is_the_containers_healthcheck)
{
	struct spec *s;

	s = parse_ok("service: web\nimage: web:1\nhosts: [a]\nhealth:\n"
	    "  docker:\n    test: [CMD, pg_isready, -q]\n    interval: 5s\n"
	    "    timeout: 2s\n    start_period: 10s\n    retries: 7\n");
	cr_assert_eq(s->health.check, SPEC_CHECK_DOCKER);
	cr_assert_eq(s->healthcheck.ntest, 3);
	cr_assert_eq(s->healthcheck.interval_ms, 5000);
	cr_assert_eq(s->healthcheck.timeout_ms, 2000);
	cr_assert_eq(s->healthcheck.start_period_ms, 10000);
	cr_assert_eq(s->healthcheck.retries, 7);
	spec_free(s);
	/* docker: true is the image's own, as before. */
	s = parse_ok("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { docker: true }\n");
	cr_assert(!s->healthcheck.set);
	spec_free(s);
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { docker: { interval: 1s } }\n", "web.yml:4: "
	    "health.docker: missing required key \"test\" (a list like [CMD, "
	    "pg_isready, -q] or [CMD-SHELL, \"curl -f http://localhost/ || "
	    "exit 1\"])");
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { docker: { test: [RUN, x] } }\n", "web.yml:4: "
	    "health.docker.test[0]: expected CMD or CMD-SHELL, got \"RUN\"");
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { docker: { test: [CMD-SHELL, a, b] } }\n", "web.yml:4: "
	    "health.docker.test: CMD-SHELL takes one string, the shell's "
	    "command line; got 2");
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { docker: { test: [CMD] } }\n", "web.yml:4: "
	    "health.docker.test: expected a list like [CMD, pg_isready, -q] "
	    "or [CMD-SHELL, \"curl -f http://localhost/ || exit 1\"], with 2 "
	    "to 256 words");
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "health: { tcp: 80, docker: { test: [CMD, x] } }\n", "web.yml:4: "
	    "health: more than one check (tcp and docker): choose one of "
	    "http, tcp, exec or docker");
}

/* ---- every problem at once ----------------------------------------- */

Test(spec, three_independent_mistakes_give_three_lines)
{
	refused_exact("service: web\nimage: web:1\nhosts: [a]\n"
	    "restart: sometimes\n"
	    "health: { tcp: 80, interval: fast }\n"
	    "resources: { memory: lots }\n",
	    "web.yml:4: restart: expected no, on-failure, on-failure:N (N "
	    "from 1 to 1000), always or unless-stopped, got \"sometimes\"\n"
	    "web.yml:5: health.interval: expected a duration like 500ms, 5s "
	    "or 2m, got \"fast\"\n"
	    "web.yml:6: resources.memory: expected a size like 512m or 2g (b, "
	    "k, m, g, or KiB, MiB, GiB), at least 6m, got \"lots\"");
}

Test(spec, problems_are_in_the_files_order_and_capped)
{
	char text[8192], err[8192], *p;
	struct spec *s = (struct spec *)1;
	size_t o, i, lines = 0;

	/* 25 unknown keys, then a missing required key: the key missing
	 * from the whole file first, then 19 of them in order, then the
	 * count of the rest. */
	o = (size_t)snprintf(text, sizeof(text), "service: web\n"
	    "hosts: [a]\nhealth: { tcp: 80 }\n");
	for (i = 0; i < 25; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "zz%02zu: 1\n",
		    i);
	cr_assert_eq(parse(text, &s, err, sizeof(err)), FERR_MALFORMED);
	cr_assert_null(s);
	for (p = err; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	cr_assert_eq(lines, 20, "%s", err);	/* 20 problems, and "and" */
	cr_assert(strncmp(err, "web.yml: missing required key \"image\"\n",
	    38) == 0, "%s", err);
	cr_assert_not_null(strstr(err, "\nweb.yml:4: unknown key \"zz00\""));
	cr_assert_not_null(strstr(err, "\nweb.yml:22: unknown key \"zz18\""));
	cr_assert_null(strstr(err, "zz19"));
	cr_assert_not_null(strstr(err, "\nand 6 more problems"), "%s", err);
	/* A buffer too small for all: whole lines, and how many more. */
	cr_assert_eq(parse(text, &s, err, 400), FERR_MALFORMED);
	cr_assert_not_null(strstr(err, "more problems"), "%s", err);
	cr_assert_eq(err[strlen(err) - 1], 's');
}

Test(spec, cross_checks_wait_for_clean_sections)
{
	/* A bad port and a proxy: the port's problem, not "publishes no
	 * host port". */
	refused_exact(edit(4, "port: { host: x, container: 80 }\n"
	    "proxy: { drain_timeout: 5s }"), "web.yml:4: port.host: expected "
	    "a port number from 1 to 65535, got \"x\"");
}

Test(spec, catch_up_is_auto_by_default_or_off)
{
	struct spec *s = parse_ok(MINIMAL);

	cr_assert_eq(s->catch_up_off, 0);
	spec_free(s);
	s = parse_ok(edit(6, "catch_up: off"));
	cr_assert_eq(s->catch_up_off, 1);
	spec_free(s);
	s = parse_ok(edit(6, "catch_up: auto"));
	cr_assert_eq(s->catch_up_off, 0);
	spec_free(s);
	refused_exact(edit(6, "catch_up: sometimes"), "web.yml:6: catch_up: "
	    "expected auto or off, got \"sometimes\"");
}
