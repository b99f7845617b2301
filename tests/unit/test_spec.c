// links: coordinator/spec.c
/* test_spec.c: the service spec parser: every field read back, DESIGN's
 * defaults, and an exact file:line: field message for each kind of bad
 * input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "ferry.pb-c.h"
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
	cr_assert_eq(s->nsecrets, 1);
	cr_assert_str_eq(s->secrets[0], "DB_PASSWORD");
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
	    "secrets: [DB_PASSWORD, API_KEY]\n"
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
	cr_assert_eq(s->nsecrets, 2);
	cr_assert_str_eq(s->secrets[0], "DB_PASSWORD");
	cr_assert_str_eq(s->secrets[1], "API_KEY");
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
	cr_assert_eq(s->nsecrets, 0);
	cr_assert_null(s->secrets);
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
	cr_assert_eq(s->rollout.order, SPEC_ORDER_STOP_FIRST);
	cr_assert_eq(s->rollout.pause_ms, 0);
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
	    "health.docker: expected true or false, got \"yes please\"");
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
	refused_exact(edit(2, "imag: web:1"), "web.yml:2: unknown key "
	    "\"imag\" (expected one of: service, image, hosts, port, env, "
	    "secrets, health, rollout)");
	refused_exact(edit(9, "  intervall: 1s"), "web.yml:9: health: "
	    "unknown key \"intervall\" (expected one of: http, tcp, exec, "
	    "docker, interval, timeout, start_period, start_interval, "
	    "healthy_threshold, unhealthy_threshold, deadline, min_healthy)");
	refused_exact(edit(8, "  http: { path: /health, port: 80, code: 200 }"),
	    "web.yml:8: health.http: unknown key \"code\" (expected one of: "
	    "path, port, status)");
	refused_exact(edit(20, "  delay: 0s"), "web.yml:20: rollout: unknown "
	    "key \"delay\" (expected one of: batch, canary, order, pause, "
	    "max_failures, on_failure)");
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
	refused_exact(edit(6, "secrets: DB_PASSWORD"), "web.yml:6: secrets: "
	    "expected a list of secrets like [a, b], got \"DB_PASSWORD\"");
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
	refused_exact(edit(1, "[a]: web"), "web.yml:1: expected a key name, "
	    "got a list");
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
	refused_exact(edit(6, "secrets: [A, B, A]"), "web.yml:6: secrets[2]: "
	    "secret \"A\" is listed twice (first at line 6)");
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

Test(spec, env_and_secret_names)
{
	refused_exact(edit(5, "env: { 1ABC: x }"), "web.yml:5: env: expected "
	    "a variable name ([A-Za-z_][A-Za-z0-9_]*), got \"1ABC\"");
	refused_exact(edit(5, "env: { LOG-LEVEL: x }"), "web.yml:5: env: "
	    "expected a variable name ([A-Za-z_][A-Za-z0-9_]*), got "
	    "\"LOG-LEVEL\"");
	refused_exact(edit(6, "secrets: [DB_PASSWORD, db.password]"),
	    "web.yml:6: secrets[1]: expected a secret name ([A-Za-z_]"
	    "[A-Za-z0-9_]*), got \"db.password\"");
	refused_exact(edit(6, "secrets: []"), "web.yml:6: secrets: expected "
	    "at least one secret");
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

/* ---- the wire form -------------------------------------------------- */

Test(spec, health_to_wire_for_each_check)
{
	static const char *lines[] = {
		"  http: { path: /health, port: 81, status: 204 }",
		"  tcp: 5432",
		"  exec: [pg_isready, -q]",
		"  docker: true",
	};

	for (size_t i = 0; i < 4; i++) {
		struct spec *s = parse_ok(edit(8, lines[i]));
		Ferry__HealthSpec *h = NULL, *u;
		uint8_t buf[512];
		size_t n;

		cr_assert_eq(spec_health_new(s, &h), 0);
		spec_free(s);	/* the tree is a copy */
		n = ferry__health_spec__get_packed_size(h);
		cr_assert_lt(n, sizeof(buf));
		ferry__health_spec__pack(h, buf);
		spec_health_free(h);
		u = ferry__health_spec__unpack(NULL, n, buf);
		cr_assert_not_null(u);
		cr_assert_eq(u->interval_ms, 1000);
		cr_assert_eq(u->timeout_ms, 1000);
		cr_assert_eq(u->start_period_ms, 0);
		cr_assert_eq(u->start_interval_ms, 100);
		cr_assert_eq(u->healthy_threshold, 1);
		cr_assert_eq(u->unhealthy_threshold, 3);
		cr_assert_eq(u->deadline_ms, 60000);
		cr_assert_eq(u->min_healthy_ms, 5000);
		switch (i) {
		case 0:
			cr_assert_eq(u->check_case,
			    FERRY__HEALTH_SPEC__CHECK_HTTP);
			cr_assert_str_eq(u->http->path, "/health");
			cr_assert_eq(u->http->port, 81);
			cr_assert_eq(u->http->status, 204);
			break;
		case 1:
			cr_assert_eq(u->check_case,
			    FERRY__HEALTH_SPEC__CHECK_TCP_PORT);
			cr_assert_eq(u->tcp_port, 5432);
			break;
		case 2:
			cr_assert_eq(u->check_case,
			    FERRY__HEALTH_SPEC__CHECK_EXEC);
			cr_assert_eq(u->exec->n_argv, 2);
			cr_assert_str_eq(u->exec->argv[0], "pg_isready");
			cr_assert_str_eq(u->exec->argv[1], "-q");
			break;
		default:
			cr_assert_eq(u->check_case,
			    FERRY__HEALTH_SPEC__CHECK_DOCKER);
			cr_assert_eq(u->docker, 1);
			break;
		}
		ferry__health_spec__free_unpacked(u, NULL);
	}
	spec_health_free(NULL);
}

Test(spec, swap_fill_and_clear)
{
	struct spec *s = parse_ok(edit(5, "env: { LOG_LEVEL: info, B: \"2\" }\n"
	    "# pad") /* line numbers do not matter here */);
	Ferry__Swap swap = FERRY__SWAP__INIT, *u;
	char image[] = "127.0.0.1:5000/web@sha256:0123456789abcdef0123456789"
	    "abcdef0123456789abcdef0123456789abcdef";
	uint8_t *buf;
	size_t n;

	cr_assert_eq(spec_swap_fill(s, &swap), 0);
	/* The caller's fields. */
	swap.image = image;
	swap.revision = 7;
	spec_free(s);
	n = ferry__swap__get_packed_size(&swap);
	buf = malloc(n);
	cr_assert_not_null(buf);
	ferry__swap__pack(&swap, buf);
	spec_swap_clear(&swap);
	cr_assert_eq(swap.image, image, "clear leaves image alone");
	cr_assert_eq(swap.revision, 7);
	cr_assert_null(swap.env);
	cr_assert_eq(swap.n_env, 0);
	cr_assert_null(swap.port);
	cr_assert_null(swap.health);
	cr_assert_str_empty(swap.service);
	spec_swap_clear(&swap);	/* twice is harmless */

	u = ferry__swap__unpack(NULL, n, buf);
	free(buf);
	cr_assert_not_null(u);
	cr_assert_str_eq(u->service, "web");
	cr_assert_str_eq(u->image, image);
	cr_assert_eq(u->revision, 7);
	cr_assert_eq(u->n_env, 2);
	cr_assert_str_eq(u->env[0]->name, "LOG_LEVEL");
	cr_assert_str_eq(u->env[0]->value, "info");
	cr_assert_str_eq(u->env[1]->name, "B");
	cr_assert_str_eq(u->env[1]->value, "2");
	cr_assert_not_null(u->port);
	cr_assert_eq(u->port->host, 8080);
	cr_assert_eq(u->port->container, 80);
	cr_assert_not_null(u->health);
	cr_assert_eq(u->health->check_case, FERRY__HEALTH_SPEC__CHECK_HTTP);
	cr_assert_str_eq(u->health->http->path, "/health");
	cr_assert_eq(u->order, FERRY__ORDER__ORDER_STOP_FIRST);
	ferry__swap__free_unpacked(u, NULL);
}

Test(spec, swap_without_port_or_env_start_first)
{
	struct spec *s = parse_ok("service: db\nimage: db:16\nhosts: [a]\n"
	    "health: { docker: true }\nrollout: { order: start-first }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT;

	cr_assert_eq(spec_swap_fill(s, &swap), 0);
	spec_free(s);
	cr_assert_str_eq(swap.service, "db");
	cr_assert_null(swap.port);
	cr_assert_eq(swap.n_env, 0);
	cr_assert_null(swap.env);
	cr_assert_eq(swap.order, FERRY__ORDER__ORDER_START_FIRST);
	cr_assert_eq(swap.health->check_case,
	    FERRY__HEALTH_SPEC__CHECK_DOCKER);
	spec_swap_clear(&swap);
	cr_assert_eq(swap.order, FERRY__ORDER__ORDER_STOP_FIRST);
}
