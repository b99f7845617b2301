// links: coordinator/specwire.c coordinator/spec.c coordinator/yamltree.c coordinator/imageref.c
/* test_specwire.c: a checked spec in its wire form: the HealthSpec of each
 * kind of check and the Swap command, packed and unpacked whole, and freed
 * without leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "ferry.pb-c.h"
#include "spec.h"
#include "specwire.h"

TestSuite(specwire, .timeout = 20);

/* A spec with a published port and DESIGN's health defaults; env and
 * health are the caller's lines. */
static struct spec *
spec_with(const char *env, const char *check)
{
	char text[1024];
	char err[512] = "";
	struct spec *s = NULL;

	snprintf(text, sizeof(text), "service: web\n"
	    "image: 127.0.0.1:5000/web:1.4.2\n"
	    "hosts: { labels: { role: web } }\n"
	    "port: { host: 8080, container: 80 }\n"
	    "%s\n"
	    "health:\n"
	    "%s\n", env, check);
	cr_assert_eq(spec_parse("web.yml", text, strlen(text), &s, err,
	    sizeof(err)), 0, "%s\n---\n%s", err, text);
	cr_assert_not_null(s);
	return s;
}

static struct spec *
parse_ok(const char *text)
{
	char err[512] = "";
	struct spec *s = NULL;

	cr_assert_eq(spec_parse("web.yml", text, strlen(text), &s, err,
	    sizeof(err)), 0, "%s\n---\n%s", err, text);
	cr_assert_not_null(s);
	return s;
}

Test(specwire, health_to_wire_for_each_check)
{
	static const char *lines[] = {
		"  http: { path: /health, port: 81, status: 204 }",
		"  tcp: 5432",
		"  exec: [pg_isready, -q]",
		"  docker: true",
	};

	for (size_t i = 0; i < 4; i++) {
		struct spec *s = spec_with("env: { LOG_LEVEL: info }",
		    lines[i]);
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

Test(specwire, swap_fill_and_clear)
{
	struct spec *s = spec_with("env: { LOG_LEVEL: info, B: \"2\" }",
	    "  http: { path: /health, port: 80, status: 200 }");
	Ferry__Swap swap = FERRY__SWAP__INIT, *u;
	char image[] = "127.0.0.1:5000/web@sha256:0123456789abcdef0123456789"
	    "abcdef0123456789abcdef0123456789abcdef";
	uint8_t *buf;
	size_t n;

	cr_assert_eq(spec_swap_fill(s, 7, image, 42, &swap), 0);
	spec_free(s);
	cr_assert_neq(swap.image, image, "image is a copy");
	memset(image + 30, 'f', 8);	/* and stays one */
	n = ferry__swap__get_packed_size(&swap);
	buf = malloc(n);
	cr_assert_not_null(buf);
	ferry__swap__pack(&swap, buf);
	spec_swap_clear(&swap);
	cr_assert_str_empty(swap.image);
	cr_assert_str_empty(swap.deployment);
	cr_assert_eq(swap.revision, 0);
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
	cr_assert_str_eq(u->image, "127.0.0.1:5000/web@sha256:0123456789"
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	cr_assert_eq(u->revision, 7);
	cr_assert_str_eq(u->deployment, "42");
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

Test(specwire, swap_outside_a_rollout_without_port_or_env_start_first)
{
	struct spec *s = parse_ok("service: db\nimage: db:16\nhosts: [a]\n"
	    "health: { docker: true }\nrollout: { order: start-first }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT;

	cr_assert_eq(spec_swap_fill(s, 3, "db@sha256:0123456789abcdef012345678"
	    "9abcdef0123456789abcdef0123456789abcdef", 0, &swap), 0);
	spec_free(s);
	cr_assert_str_eq(swap.service, "db");
	cr_assert_eq(swap.revision, 3);
	cr_assert_str_empty(swap.deployment, "outside any rollout");
	cr_assert_null(swap.port);
	cr_assert_eq(swap.n_env, 0);
	cr_assert_null(swap.env);
	cr_assert_eq(swap.order, FERRY__ORDER__ORDER_START_FIRST);
	cr_assert_eq(swap.health->check_case,
	    FERRY__HEALTH_SPEC__CHECK_DOCKER);
	spec_swap_clear(&swap);
	cr_assert_eq(swap.order, FERRY__ORDER__ORDER_STOP_FIRST);
}

Test(specwire, swap_refuses_what_is_missing)
{
	struct spec *s = parse_ok("service: db\nimage: db:16\nhosts: [a]\n"
	    "health: { docker: true }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT;

	cr_assert_eq(spec_swap_fill(NULL, 1, "db@sha256:00", 1, &swap),
	    FERR_ARG);
	cr_assert_eq(spec_swap_fill(s, 1, NULL, 1, &swap), FERR_ARG);
	cr_assert_eq(spec_swap_fill(s, 1, "db", 1, NULL), FERR_ARG);
	cr_assert_str_empty(swap.service, "swap left unset");
	cr_assert_null(swap.health);
	spec_free(s);
	spec_swap_clear(NULL);
}
