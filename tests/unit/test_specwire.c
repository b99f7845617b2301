/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/specwire.c coordinator/spec.c coordinator/yamltree.c coordinator/imageref.c
/* test_specwire.c: a checked spec in its wire form: the HealthSpec of each
 * kind of check and the Swap command, packed and unpacked whole, and freed
 * without leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

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

	cr_assert_eq(spec_swap_fill(s, 7, image, 42, NULL, &swap), 0);
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
	cr_assert_null(swap.proxy);
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
	/* start-first by default; the proxy's settings with the port, http
	 * as the check is, the defaults spelt out; the weight is ferry
	 * swap's alone. */
	cr_assert_eq(u->order, FERRY__ORDER__ORDER_START_FIRST);
	cr_assert_not_null(u->proxy);
	cr_assert_eq(u->proxy->mode, FERRY__PROXY_MODE__PROXY_HTTP);
	cr_assert_eq(u->proxy->drain_timeout_ms, 30000);
	cr_assert_eq(u->proxy->max_pause_ms, 30000);
	cr_assert_eq(u->proxy->upstream_timeout_ms, 60000);
	cr_assert_eq(u->proxy->max_body, 0);
	cr_assert(!u->proxy->sticky);
	cr_assert_eq(u->weight, 0);
	ferry__swap__free_unpacked(u, NULL);
}

Test(specwire, swap_outside_a_rollout_without_port_or_env_start_first)
{
	struct spec *s = parse_ok("service: db\nimage: db:16\nhosts: [a]\n"
	    "health: { docker: true }\nrollout: { order: start-first }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT;

	cr_assert_eq(spec_swap_fill(s, 3, "db@sha256:0123456789abcdef012345678"
	    "9abcdef0123456789abcdef0123456789abcdef", 0, NULL, &swap), 0);
	spec_free(s);
	cr_assert_str_eq(swap.service, "db");
	cr_assert_eq(swap.revision, 3);
	cr_assert_str_empty(swap.deployment, "outside any rollout");
	cr_assert_null(swap.port);
	cr_assert_eq(swap.n_env, 0);
	cr_assert_null(swap.env);
	cr_assert_eq(swap.order, FERRY__ORDER__ORDER_START_FIRST);
	cr_assert_null(swap.proxy, "no host port: nothing for the proxy");
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

	cr_assert_eq(spec_swap_fill(NULL, 1, "db@sha256:00", 1, NULL, &swap),
	    FERR_ARG);
	cr_assert_eq(spec_swap_fill(s, 1, NULL, 1, NULL, &swap), FERR_ARG);
	cr_assert_eq(spec_swap_fill(s, 1, "db", 1, NULL, NULL), FERR_ARG);
	cr_assert_str_empty(swap.service, "swap left unset");
	cr_assert_null(swap.health);
	spec_free(s);
	spec_swap_clear(NULL);
}

/* contains: needle (NUL-terminated) is somewhere in n bytes of buf. */
static int
contains(const uint8_t *buf, size_t n, const char *needle)
{
	size_t i, l = strlen(needle);

	for (i = 0; i + l <= n; i++)
		if (memcmp(buf + i, needle, l) == 0)
			return 1;
	return 0;
}

/* The values the sealing test hands out, by name. */
static int opened;

static int
open_value(void *arg, const char *service, const struct spec_secret *sec,
    uint8_t **value, size_t *len)
{
	char *v;

	(void)arg;
	cr_assert_str_eq(service, "db");
	if (strcmp(sec->name, "GONE") == 0)
		return FERR_NOTFOUND;
	if ((v = malloc(64)) == NULL)
		return FERR_NOMEM;
	*len = (size_t)snprintf(v, 64, "value-of-%s-v%llu", sec->name,
	    (unsigned long long)sec->version);
	*value = (uint8_t *)v;
	opened++;
	return 0;
}

static void
free_value(uint8_t *v)
{
	free(v);
}

Test(specwire, secrets_sealed_to_the_host_and_nothing_else)
{
	struct spec *s = parse_ok("service: db\nimage: db:16\nhosts: [a]\n"
	    "health: { docker: true }\nsecrets: [DB_PASSWORD, api.key]\n");
	Ferry__Swap swap = FERRY__SWAP__INIT, *u;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t xpk[32], xsk[32], other[32], out[64], *buf;
	struct swap_seal seal = { pk, open_value, free_value, NULL };
	size_t n, i;

	cr_assert_eq(sodium_init() >= 0, 1);
	crypto_sign_keypair(pk, sk);
	cr_assert_eq(crypto_sign_ed25519_pk_to_curve25519(xpk, pk), 0);
	cr_assert_eq(crypto_sign_ed25519_sk_to_curve25519(xsk, sk), 0);
	cr_assert_eq(s->nsecrets, 2);
	s->secrets[0].version = 3;
	s->secrets[1].version = 1;
	/* Secrets and nothing to seal them with: refused. */
	cr_assert_eq(spec_swap_fill(s, 1, "db@sha256:00", 1, NULL, &swap),
	    FERR_ARG);
	cr_assert_eq(spec_swap_fill(s, 1, "db@sha256:00", 1, &seal, &swap),
	    0);
	cr_assert_eq(opened, 2);
	n = ferry__swap__get_packed_size(&swap);
	buf = malloc(n);
	ferry__swap__pack(&swap, buf);
	spec_swap_clear(&swap);
	cr_assert_null(swap.secrets);
	/* No value in the clear anywhere in the packed command. */
	cr_assert_eq(contains(buf, n, "value-of"), 0);
	u = ferry__swap__unpack(NULL, n, buf);
	free(buf);
	cr_assert_not_null(u);
	cr_assert_eq(u->n_secrets, 2);
	cr_assert_str_eq(u->secrets[0]->name, "DB_PASSWORD");
	cr_assert_eq(u->secrets[0]->version, 3);
	cr_assert_str_eq(u->secrets[1]->name, "api.key");
	for (i = 0; i < 2; i++) {
		size_t len = u->secrets[i]->sealed.len - crypto_box_SEALBYTES;

		memset(out, 0, sizeof(out));
		cr_assert_eq(crypto_box_seal_open(out,
		    u->secrets[i]->sealed.data, u->secrets[i]->sealed.len,
		    xpk, xsk), 0, "the host opens it");
		cr_assert_str_eq((char *)out, i == 0 ?
		    "value-of-DB_PASSWORD-v3" : "value-of-api.key-v1");
		cr_assert_eq(len, strlen((char *)out));
	}
	/* Another host's key opens nothing. */
	crypto_sign_keypair(pk, sk);
	cr_assert_eq(crypto_sign_ed25519_sk_to_curve25519(other, sk), 0);
	crypto_scalarmult_base(xpk, other);
	cr_assert_neq(crypto_box_seal_open(out, u->secrets[0]->sealed.data,
	    u->secrets[0]->sealed.len, xpk, other), 0);
	ferry__swap__free_unpacked(u, NULL);

	/* A value that cannot be opened fails the whole Swap. */
	snprintf(s->secrets[1].name, sizeof(s->secrets[1].name), "GONE");
	cr_assert_eq(spec_swap_fill(s, 1, "db@sha256:00", 1, &seal, &swap),
	    FERR_NOTFOUND);
	cr_assert_null(swap.secrets);
	cr_assert_str_empty(swap.service, "swap left unset");
	spec_free(s);
}

/* The container's own settings travel whole: each key in its field, the
 * binds apart from the named volumes, restart spelt out, and all of it
 * freed by spec_swap_clear. */
Test(specwire, container_settings_in_the_swap)
{
	struct spec *s = parse_ok("service: web\nimage: web:1\n"
	    "hosts: [a]\n"
	    "ports: [ { host: 8080, container: 80, mode: http }, { host: 9090, "
	    "container: 90 }, { host: 9091, container: 90, mode: tcp } ]\n"
	    "command: [nginx, -g, \"daemon off;\"]\n"
	    "entrypoint: [/init, --]\n"
	    "workdir: /srv\n"
	    "user: app:staff\n"
	    "volumes: [ \"data:/d\", \"/srv/s:/s:ro\", \"cache:/c:ro\" ]\n"
	    "resources: { memory: 1g, cpus: 0.25 }\n"
	    "restart: always\n"
	    "stop_signal: SIGQUIT\n"
	    "stop_timeout: 20s\n"
	    "labels: { team: pay }\n"
	    "log: { driver: json-file, options: { max-size: 10m } }\n"
	    "health: { docker: { test: [CMD, check], retries: 5 }, "
	    "interval: 2s }\n"
	    "rollout: { order: stop-first }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT, *u;
	const char image[] = "127.0.0.1:5000/web@sha256:0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef";
	uint8_t *buf;
	size_t n;

	cr_assert_eq(spec_swap_fill(s, 3, image, 0, NULL, &swap), 0);
	spec_free(s);
	n = ferry__swap__get_packed_size(&swap);
	buf = malloc(n);
	cr_assert_not_null(buf);
	ferry__swap__pack(&swap, buf);
	spec_swap_clear(&swap);
	cr_assert_null(swap.command);
	cr_assert_null(swap.binds);
	cr_assert_null(swap.log);
	cr_assert_null(swap.healthcheck);
	cr_assert_eq(swap.n_labels, 0);
	spec_swap_clear(&swap);

	u = ferry__swap__unpack(NULL, n, buf);
	free(buf);
	cr_assert_not_null(u);
	cr_assert_eq(u->port->host, 8080);
	cr_assert_eq(u->n_more_ports, 2);
	cr_assert_eq(u->more_ports[0]->host, 9090);
	cr_assert_eq(u->more_ports[1]->container, 90);
	/* Each port's own mode: 1 http, 2 tcp, 0 the service's. */
	cr_assert_eq(u->port->mode, 1);
	cr_assert_eq(u->more_ports[0]->mode, 0);
	cr_assert_eq(u->more_ports[1]->mode, 2);
	cr_assert_eq(u->n_command, 3);
	cr_assert_str_eq(u->command[2], "daemon off;");
	cr_assert_eq(u->n_entrypoint, 2);
	cr_assert_str_eq(u->entrypoint[1], "--");
	cr_assert_str_eq(u->workdir, "/srv");
	cr_assert_str_eq(u->user, "app:staff");
	cr_assert_eq(u->n_binds, 1);
	cr_assert_str_eq(u->binds[0]->source, "/srv/s");
	cr_assert_str_eq(u->binds[0]->target, "/s");
	cr_assert(u->binds[0]->read_only);
	cr_assert_eq(u->n_volumes, 2);
	cr_assert_str_eq(u->volumes[0]->source, "data");
	cr_assert(!u->volumes[0]->read_only);
	cr_assert_str_eq(u->volumes[1]->source, "cache");
	cr_assert(u->volumes[1]->read_only);
	cr_assert_eq(u->memory, 1ull << 30);
	cr_assert_eq(u->nano_cpus, 250000000ull);
	cr_assert_str_eq(u->restart, "always");
	cr_assert_str_eq(u->stop_signal, "SIGQUIT");
	cr_assert_eq(u->stop_timeout_s, 20);
	cr_assert_eq(u->n_labels, 1);
	cr_assert_str_eq(u->labels[0]->key, "team");
	cr_assert_str_eq(u->labels[0]->value, "pay");
	cr_assert_not_null(u->log);
	cr_assert_str_eq(u->log->driver, "json-file");
	cr_assert_eq(u->log->n_options, 1);
	cr_assert_str_eq(u->log->options[0]->key, "max-size");
	cr_assert_not_null(u->healthcheck);
	cr_assert_eq(u->healthcheck->n_test, 2);
	cr_assert_str_eq(u->healthcheck->test[1], "check");
	cr_assert_eq(u->healthcheck->interval_ms, 2000);
	cr_assert_eq(u->healthcheck->retries, 5);
	cr_assert_eq(u->order, FERRY__ORDER__ORDER_STOP_FIRST);
	ferry__swap__free_unpacked(u, NULL);
}

/* A spec without them: nothing set but restart, spelt out as Docker's
 * default for ferry (unless-stopped). */
Test(specwire, no_container_settings_but_the_restart_policy)
{
	struct spec *s = parse_ok("service: web\nimage: web:1\n"
	    "hosts: [a]\nhealth: { tcp: 80 }\n");
	Ferry__Swap swap = FERRY__SWAP__INIT;
	const char image[] = "127.0.0.1:5000/web@sha256:0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef";

	cr_assert_eq(spec_swap_fill(s, 1, image, 0, NULL, &swap), 0);
	spec_free(s);
	cr_assert_eq(swap.n_command + swap.n_entrypoint + swap.n_more_ports +
	    swap.n_binds + swap.n_volumes + swap.n_labels, 0);
	cr_assert(swap.workdir == NULL || swap.workdir[0] == '\0');
	cr_assert(swap.user == NULL || swap.user[0] == '\0');
	cr_assert_eq(swap.memory + swap.nano_cpus, 0);
	cr_assert_str_eq(swap.restart, "unless-stopped");
	cr_assert(swap.stop_signal == NULL || swap.stop_signal[0] == '\0');
	cr_assert_eq(swap.stop_timeout_s, 0);
	cr_assert_null(swap.log);
	cr_assert_null(swap.healthcheck);
	spec_swap_clear(&swap);
}
