/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/traffic.c
/* test_traffic.c: the proxies' counts in ferryd's windows and totals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "traffic.h"

/* A synthetic reading: one proxy boot, up to 4 revisions, 2 refusals. */
struct reading {
	Ferry__Traffic tr;
	uint8_t boot[TRAFFIC_BOOT_LEN];
	Ferry__RevisionTraffic rev[4], *revp[4];
	uint64_t cls[4][TRAFFIC_CLASSES];
	uint64_t lat[4][HIST_BUCKETS];
	Ferry__ServiceRefusals ref[2], *refp[2];
};

static void
reading_init(struct reading *r, int boot, uint64_t uptime_ms)
{
	memset(r, 0, sizeof(*r));
	ferry__traffic__init(&r->tr);
	memset(r->boot, boot, sizeof(r->boot));
	r->tr.boot.data = r->boot;
	r->tr.boot.len = sizeof(r->boot);
	r->tr.uptime_ms = uptime_ms;
	r->tr.revisions = r->revp;
	r->tr.refusals = r->refp;
	r->tr.version = "test";
}

/* rev adds (service, revision) with requests, all 2xx but fivexx 5xx,
 * each in latency bucket k. */
static Ferry__RevisionTraffic *
rev(struct reading *r, const char *service, uint64_t revision,
    uint64_t requests, uint64_t fivexx, size_t k)
{
	size_t i = r->tr.n_revisions++;
	Ferry__RevisionTraffic *v = &r->rev[i];

	ferry__revision_traffic__init(v);
	v->service = (char *)service;
	v->revision = revision;
	v->requests = requests;
	r->cls[i][1] = requests - fivexx;
	r->cls[i][4] = fivexx;
	v->status_class = r->cls[i];
	v->n_status_class = TRAFFIC_CLASSES;
	r->lat[i][k] = requests;
	v->latency = r->lat[i];
	v->n_latency = HIST_BUCKETS;
	v->latency_sum_us = requests * hist_bound_us(k);
	r->revp[i] = v;
	return v;
}

static void
refusals(struct reading *r, const char *service, uint64_t no_target)
{
	size_t i = r->tr.n_refusals++;

	ferry__service_refusals__init(&r->ref[i]);
	r->ref[i].service = (char *)service;
	r->ref[i].no_target = no_target;
	r->refp[i] = &r->ref[i];
}

static struct traffic *
fresh(void)
{
	struct traffic *t;

	cr_assert_eq(traffic_alloc(&t), 0);
	return t;
}

static void
observe(struct traffic *t, const char *host, struct reading *r, uint64_t now)
{
	char err[256] = "";

	cr_assert_eq(traffic_observe(t, host, r != NULL ? &r->tr : NULL, now,
	    err, sizeof(err)), 0, "%s", err);
}

static uint64_t
window(struct traffic *t, const char *host, const char *service,
    uint64_t revision, uint64_t win, uint64_t now)
{
	struct traffic_figures f;
	const char *hosts[1] = { host };

	traffic_read(t, hosts, host != NULL, service, revision, 0, win, now,
	    &f);
	return f.c.v[TC_REQUESTS];
}

struct totals {
	const char *host, *service;
	uint64_t revision;
	int refusals;
	struct traffic_counts total;
	int found;
};

static void
on_series(void *arg, const struct traffic_series *s)
{
	struct totals *w = arg;

	if (strcmp(s->host, w->host) == 0 && strcmp(s->service, w->service)
	    == 0 && s->revision == w->revision && s->refusals == w->refusals) {
		w->total = *s->total;
		w->found = 1;
	}
}

static uint64_t
total(struct traffic *t, const char *host, const char *service,
    uint64_t revision, size_t field)
{
	struct totals w = { host, service, revision, 0, { { 0 } }, 0 };

	traffic_each(t, NULL, on_series, &w);
	cr_assert(w.found, "no series %s %s %llu", host, service,
	    (unsigned long long)revision);
	return w.total.v[field];
}

#define T0 1000000u	/* a monotonic time well past 0 */

Test(traffic, successive_readings_of_one_boot_add_their_differences)
{
	struct traffic *t = fresh();
	struct reading r;

	reading_init(&r, 1, 2000);
	rev(&r, "web", 3, 0, 0, 0);
	observe(t, "h1", &r, T0);
	reading_init(&r, 1, 7000);
	rev(&r, "web", 3, 100, 4, 2);
	observe(t, "h1", &r, T0 + 5000);
	reading_init(&r, 1, 12000);
	rev(&r, "web", 3, 250, 10, 2);
	observe(t, "h1", &r, T0 + 10000);

	cr_assert_eq(total(t, "h1", "web", 3, TC_REQUESTS), 250);
	cr_assert_eq(total(t, "h1", "web", 3, TC_CLASS + 4), 10);
	cr_assert_eq(total(t, "h1", "web", 3, TC_CLASS + 1), 240);
	cr_assert_eq(total(t, "h1", "web", 3, TC_LATENCY + 2), 250);
	cr_assert_eq(total(t, "h1", "web", 3, TC_LATENCY_SUM),
	    250 * hist_bound_us(2));
	cr_assert_eq(window(t, "h1", "web", 3, 60000, T0 + 10000), 250);
	cr_assert_eq(window(t, NULL, "web", 3, TRAFFIC_WINDOW_MS,
	    T0 + 10000), 250);
	traffic_free(t);
}

Test(traffic, figures_rate_error_rate_and_quantiles)
{
	struct traffic *t = fresh();
	struct traffic_figures f;
	struct reading r;

	/* The proxy has just started: counting covers from now. */
	reading_init(&r, 1, 0);
	rev(&r, "web", 1, 0, 0, 0);
	observe(t, "h1", &r, T0);
	/* 200 requests in 20 s, 10 of them 5xx (2 of those the proxy's
	 * 504 for upstream timeouts), and a reset after the response had
	 * begun (no 5xx sent); all in bucket 3 (200 us .. 400 us]. */
	reading_init(&r, 1, 21000);
	rev(&r, "web", 1, 200, 10, 3)->failed_timeout = 2;
	r.rev[0].failed_reset = 1;
	r.rev[0].failed_unanswered = 1;
	r.rev[0].active = 7;
	observe(t, "h1", &r, T0 + 20000);

	cr_assert_eq(traffic_read(t, NULL, 0, "web", 1, 0, 60000, T0 + 20000,
	    &f), 1);
	cr_assert_eq(f.c.v[TC_REQUESTS], 200);
	cr_assert_eq(f.span_ms, 20000);
	cr_assert_float_eq(f.rate, 10.0, 1e-9);
	cr_assert_float_eq(f.error_rate, 11.0 / 200.0, 1e-9);
	cr_assert_eq(f.c.v[TC_FAILED + 2], 2);
	cr_assert_eq(f.c.v[TC_UNANSWERED], 1);
	cr_assert_eq(f.active, 7);
	/* Linear inside the bucket: p50 half way from 0.2 ms to 0.4 ms. */
	cr_assert_float_eq(f.p50_ms, 0.3, 1e-9);
	cr_assert_float_eq(f.p95_ms, 0.2 + 0.2 * 0.95, 1e-9);
	cr_assert_float_eq(f.p99_ms, 0.2 + 0.2 * 0.99, 1e-9);
	/* Nothing of another revision or service. */
	cr_assert_eq(traffic_read(t, NULL, 0, "web", 2, 0, 60000, T0 + 20000,
	    &f), 0);
	cr_assert_float_eq(f.p95_ms, -1.0, 1e-9);
	cr_assert_eq(traffic_read(t, NULL, 0, "api", 1, 1, 60000, T0 + 20000,
	    &f), 0);
	traffic_free(t);
}

Test(traffic, a_new_boot_counts_its_reading_whole_and_totals_never_go_down)
{
	struct traffic *t = fresh();
	struct reading r;

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 0, 0, 0);
	refusals(&r, "web", 0);
	observe(t, "h1", &r, T0);
	reading_init(&r, 1, 6000);
	rev(&r, "web", 1, 500, 0, 1);
	refusals(&r, "web", 3);
	observe(t, "h1", &r, T0 + 5000);
	/* The proxy restarted 2 s ago and has counted 40 since. */
	reading_init(&r, 2, 2000);
	rev(&r, "web", 1, 40, 0, 1);
	refusals(&r, "web", 1);
	observe(t, "h1", &r, T0 + 10000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 540);
	{
		struct totals w = { "h1", "web", 0, 1, { { 0 } }, 0 };

		struct traffic_counts c;

		traffic_each(t, "h1", on_series, &w);
		cr_assert(w.found);
		cr_assert_eq(w.total.v[TR_NO_TARGET], 4);
		/* In the window too, per host, and not another service's. */
		cr_assert_eq(traffic_read_refusals(t, NULL, 0, "web", 60000,
		    T0 + 10000, &c), 1);
		cr_assert_eq(c.v[TR_NO_TARGET], 4);
		cr_assert_eq(traffic_read_refusals(t, NULL, 0, "api", 60000,
		    T0 + 10000, &c), 0);
		cr_assert_eq(c.v[TR_NO_TARGET], 0);
		cr_assert_eq(traffic_read_refusals(t, NULL, 0, "web", 60000,
		    T0 + 10000 + TRAFFIC_WINDOW_MS, &c), 1);
		cr_assert_eq(c.v[TR_NO_TARGET], 0);
	}
	cr_assert_eq(window(t, "h1", "web", 1, 60000, T0 + 10000), 540);
	/* The new boot goes on by differences. */
	reading_init(&r, 2, 7000);
	rev(&r, "web", 1, 100, 0, 1);
	observe(t, "h1", &r, T0 + 15000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 600);
	traffic_free(t);
}

Test(traffic, a_counter_that_goes_down_in_one_boot_is_a_fresh_start)
{
	struct traffic *t = fresh();
	struct reading r;

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 0, 0, 0);
	observe(t, "h1", &r, T0);
	reading_init(&r, 1, 6000);
	rev(&r, "web", 1, 300, 0, 1);
	observe(t, "h1", &r, T0 + 5000);
	/* The proxy forgot the revision's counts and began again: 20. */
	reading_init(&r, 1, 11000);
	rev(&r, "web", 1, 20, 0, 1);
	observe(t, "h1", &r, T0 + 10000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 320);
	/* A revision absent from a reading and back with more counts goes
	 * on by differences. */
	reading_init(&r, 1, 16000);
	observe(t, "h1", &r, T0 + 15000);
	reading_init(&r, 1, 21000);
	rev(&r, "web", 1, 25, 0, 1);
	observe(t, "h1", &r, T0 + 20000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 325);
	traffic_free(t);
}

Test(traffic, a_gap_of_missed_heartbeats_spreads_over_its_slots_exactly)
{
	struct traffic *t = fresh();
	struct reading r;
	uint64_t base = 100 * TRAFFIC_SLOT_MS;	/* on a slot's edge */

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 0, 0, 0);
	observe(t, "h1", &r, base);
	/* 120 s without a heartbeat, then 1201 requests: 10 a second over
	 * 12 slots, and one left over for the newest. */
	reading_init(&r, 1, 121000);
	rev(&r, "web", 1, 1201, 0, 0);
	observe(t, "h1", &r, base + 120000);
	/* The newest slot has just begun (now is on its edge): the last 10
	 * s hold the remainder only; the last 60 s hold 6 slots of the gap
	 * (the 5 before and the current, which holds 1). */
	cr_assert_eq(window(t, "h1", "web", 1, 10000, base + 120000), 1);
	cr_assert_eq(window(t, "h1", "web", 1, 60000, base + 120000),
	    5 * 100 + 1);
	cr_assert_eq(window(t, "h1", "web", 1, TRAFFIC_WINDOW_MS,
	    base + 120000), 1201);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 1201);

	/* A gap longer than the window: what falls before it is in the
	 * totals only. */
	reading_init(&r, 1, 721000);
	rev(&r, "web", 1, 1201 + 6000, 0, 0);
	observe(t, "h1", &r, base + 720000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 7201);
	/* 600 s, 10 a second: the window's 30 slots hold 29 whole slots
	 * before the current (edge) one, and the current the remainder. */
	cr_assert_eq(window(t, "h1", "web", 1, TRAFFIC_WINDOW_MS,
	    base + 720000), 29 * 100);
	traffic_free(t);
}

Test(traffic, a_gap_with_uneven_shares_keeps_the_window_sum_exact)
{
	struct traffic *t = fresh();
	struct reading r;

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 0, 0, 0);
	observe(t, "h1", &r, T0 + 3333);
	reading_init(&r, 1, 48000);
	rev(&r, "web", 1, 997, 13, 4);
	observe(t, "h1", &r, T0 + 3333 + 47000);
	cr_assert_eq(window(t, "h1", "web", 1, TRAFFIC_WINDOW_MS,
	    T0 + 50333), 997);
	{
		struct traffic_figures f;

		traffic_read(t, NULL, 0, "web", 1, 0, TRAFFIC_WINDOW_MS,
		    T0 + 50333, &f);
		cr_assert_eq(f.c.v[TC_CLASS + 4], 13);
		cr_assert_eq(f.c.v[TC_LATENCY + 4], 997);
		cr_assert_eq(f.c.v[TC_LATENCY_SUM], 997 * hist_bound_us(4));
	}
	traffic_free(t);
}

Test(traffic, the_window_expires_and_the_totals_stay)
{
	struct traffic *t = fresh();
	struct reading r;
	struct traffic_figures f;

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 0, 0, 0);
	observe(t, "h1", &r, T0);
	reading_init(&r, 1, 6000);
	rev(&r, "web", 1, 50, 0, 0);
	observe(t, "h1", &r, T0 + 5000);
	cr_assert_eq(window(t, "h1", "web", 1, 60000, T0 + 5000), 50);
	/* Heartbeats go on, the traffic stopped. */
	reading_init(&r, 1, 66000);
	rev(&r, "web", 1, 50, 0, 0);
	observe(t, "h1", &r, T0 + 65000);
	cr_assert_eq(window(t, "h1", "web", 1, 60000, T0 + 75000), 0);
	cr_assert_eq(window(t, "h1", "web", 1, TRAFFIC_WINDOW_MS,
	    T0 + 75000), 50);
	cr_assert_eq(window(t, "h1", "web", 1, TRAFFIC_WINDOW_MS,
	    T0 + 5000 + TRAFFIC_WINDOW_MS + TRAFFIC_SLOT_MS), 0);
	/* A slot reused by the ring holds only its new counts. */
	reading_init(&r, 1, 1000000);
	rev(&r, "web", 1, 57, 0, 0);
	observe(t, "h1", &r, T0 + 5000 + TRAFFIC_WINDOW_MS);
	traffic_read(t, NULL, 0, "web", 1, 0, TRAFFIC_WINDOW_MS,
	    T0 + 5000 + TRAFFIC_WINDOW_MS, &f);
	cr_assert_eq(f.c.v[TC_REQUESTS], 7);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 57);
	traffic_free(t);
}

Test(traffic, the_first_reading_of_a_proxy_up_long_is_a_baseline)
{
	struct traffic *t = fresh();
	struct reading r;
	struct traffic_figures f;

	/* Up for a day: its millions are not this window's. */
	reading_init(&r, 1, 86400000);
	rev(&r, "web", 1, 5000000, 0, 0);
	observe(t, "h1", &r, T0);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 0);
	cr_assert_eq(window(t, "h1", "web", 1, 60000, T0), 0);
	reading_init(&r, 1, 86405000);
	rev(&r, "web", 1, 5000100, 0, 0);
	observe(t, "h1", &r, T0 + 5000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 100);
	/* The figures cover the 5 s ferryd has counted, not a minute. */
	traffic_read(t, NULL, 0, "web", 1, 0, 60000, T0 + 5000, &f);
	cr_assert_eq(f.span_ms, 5000);
	cr_assert_float_eq(f.rate, 20.0, 1e-9);

	/* A proxy that just started: its first reading counts. */
	reading_init(&r, 7, 3000);
	rev(&r, "web", 1, 30, 0, 0);
	observe(t, "h2", &r, T0);
	cr_assert_eq(total(t, "h2", "web", 1, TC_REQUESTS), 30);
	traffic_free(t);
}

Test(traffic, a_proxy_that_did_not_answer_keeps_the_base_and_says_why)
{
	struct traffic *t = fresh();
	struct reading r;
	struct traffic_host hi;
	Ferry__Traffic bad = FERRY__TRAFFIC__INIT;
	struct traffic_figures f;

	traffic_host_get(t, "h1", &hi);
	cr_assert_eq(hi.state, TRAFFIC_UNHEARD);
	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 10, 0, 0)->active = 3;
	observe(t, "h1", &r, T0);
	traffic_host_get(t, "h1", &hi);
	cr_assert_eq(hi.state, TRAFFIC_OK);
	cr_assert_str_eq(hi.version, "test");
	bad.error = "connect /run/ferry-proxy/control.sock: Connection "
	    "refused";
	cr_assert_eq(traffic_observe(t, "h1", &bad, T0 + 5000, NULL, 0), 0);
	traffic_host_get(t, "h1", &hi);
	cr_assert_eq(hi.state, TRAFFIC_UNANSWERED);
	cr_assert_str_eq(hi.error, bad.error);
	traffic_read(t, NULL, 0, "web", 1, 0, 60000, T0 + 5000, &f);
	cr_assert_eq(f.active, 0);
	/* Back, same boot: the difference from the last good reading. */
	reading_init(&r, 1, 11000);
	rev(&r, "web", 1, 70, 0, 0);
	observe(t, "h1", &r, T0 + 10000);
	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 70);
	/* No proxy at all. */
	observe(t, "h1", NULL, T0 + 15000);
	traffic_host_get(t, "h1", &hi);
	cr_assert_eq(hi.state, TRAFFIC_NONE);
	traffic_free(t);
}

Test(traffic, a_malformed_reading_is_refused_and_changes_nothing)
{
	struct traffic *t = fresh();
	struct reading r;
	char err[256];
	uint64_t lat[HIST_BUCKETS + 1] = { 0 };

	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 10, 0, 0);
	observe(t, "h1", &r, T0);

	reading_init(&r, 1, 2000);
	rev(&r, "web", 1, 20, 0, 0);
	r.tr.boot.len = 8;
	cr_assert_eq(traffic_observe(t, "h1", &r.tr, T0 + 1000, err,
	    sizeof(err)), FERR_MALFORMED);
	cr_assert(strstr(err, "boot") != NULL, "%s", err);

	reading_init(&r, 1, 2000);
	rev(&r, "web", 1, 20, 0, 0);
	rev(&r, "web", 1, 20, 0, 0);
	cr_assert_eq(traffic_observe(t, "h1", &r.tr, T0 + 1000, err,
	    sizeof(err)), FERR_MALFORMED);
	cr_assert(strstr(err, "twice") != NULL, "%s", err);

	reading_init(&r, 1, 2000);
	rev(&r, "web", 1, 20, 0, 0);
	r.rev[0].latency = lat;
	r.rev[0].n_latency = HIST_BUCKETS + 1;
	cr_assert_eq(traffic_observe(t, "h1", &r.tr, T0 + 1000, err,
	    sizeof(err)), FERR_MALFORMED);

	reading_init(&r, 1, 2000);
	rev(&r, "", 1, 20, 0, 0);
	cr_assert_eq(traffic_observe(t, "h1", &r.tr, T0 + 1000, err,
	    sizeof(err)), FERR_MALFORMED);

	reading_init(&r, 1, 2000);
	rev(&r, "web", 1, 20, 0, 0);
	cr_assert_eq(traffic_observe(t, "", &r.tr, T0 + 1000, err,
	    sizeof(err)), FERR_MALFORMED);

	cr_assert_eq(total(t, "h1", "web", 1, TC_REQUESTS), 10);
	traffic_free(t);
}

Test(traffic, revisions_sum_across_hosts_and_read_per_host)
{
	struct traffic *t = fresh();
	struct reading r;
	struct traffic_figures f;
	const char *two[2] = { "h1", "h3" };
	const char *names[3] = { "h1", "h2", "h3" };
	int i;

	for (i = 0; i < 3; i++) {
		reading_init(&r, 10 + i, 1000);
		rev(&r, "web", 4, 0, 0, 0);
		rev(&r, "web", 5, 0, 0, 0);
		observe(t, names[i], &r, T0);
		reading_init(&r, 10 + i, 6000);
		rev(&r, "web", 4, 100 * (uint64_t)(i + 1), 0, 0);
		rev(&r, "web", 5, 7, 1, 5);
		observe(t, names[i], &r, T0 + 5000);
	}
	cr_assert_eq(traffic_read(t, NULL, 0, "web", 4, 0, 60000, T0 + 5000,
	    &f), 3);
	cr_assert_eq(f.c.v[TC_REQUESTS], 600);
	cr_assert_eq(traffic_read(t, two, 2, "web", 4, 0, 60000, T0 + 5000,
	    &f), 2);
	cr_assert_eq(f.c.v[TC_REQUESTS], 400);
	cr_assert_eq(traffic_read(t, NULL, 0, "web", 5, 0, 60000, T0 + 5000,
	    &f), 3);
	cr_assert_eq(f.c.v[TC_REQUESTS], 21);
	cr_assert_eq(f.c.v[TC_CLASS + 4], 3);
	cr_assert_eq(traffic_read(t, NULL, 0, "web", 0, 1, 60000, T0 + 5000,
	    &f), 6);
	cr_assert_eq(f.c.v[TC_REQUESTS], 621);
	cr_assert_eq(window(t, "h2", "web", 4, 60000, T0 + 5000), 200);
	traffic_free(t);
}

static void
count_series(void *arg, const struct traffic_series *s)
{
	(void)s;
	(*(size_t *)arg)++;
}

Test(traffic, memory_is_bounded_per_host)
{
	struct traffic *t = fresh();
	struct reading r;
	size_t n = 0;
	uint64_t k;

	/* One new revision a reading, many times more than are kept. */
	for (k = 1; k <= 4 * TRAFFIC_SERIES_MAX; k++) {
		reading_init(&r, 1, 1000 + k);
		rev(&r, "web", k, k, 0, 0);
		observe(t, "h1", &r, T0 + k);
	}
	traffic_each(t, "h1", count_series, &n);
	cr_assert_eq(n, TRAFFIC_SERIES_MAX);
	/* The newest stays. */
	cr_assert_eq(total(t, "h1", "web", 4 * TRAFFIC_SERIES_MAX,
	    TC_REQUESTS), 4 * TRAFFIC_SERIES_MAX);
	traffic_free(t);
}

Test(traffic, the_last_reading_is_the_cumulative_count_of_the_current_boot)
{
	struct traffic *t = fresh();
	struct reading r;
	struct traffic_counts c;
	uint8_t boot[TRAFFIC_BOOT_LEN], want[TRAFFIC_BOOT_LEN];

	/* Never heard: nothing, and not heard since any time. */
	cr_assert_eq(traffic_last(t, "h1", "web", 1, boot, &c), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 0);
	cr_assert_eq(traffic_heard_since(t, "h1", 0), 0);
	reading_init(&r, 1, 1000);
	rev(&r, "web", 1, 300, 3, 2);
	observe(t, "h1", &r, T0);
	reading_init(&r, 1, 6000);
	rev(&r, "web", 1, 500, 7, 2);
	observe(t, "h1", &r, T0 + 5000);
	/* The raw cumulative counts, not the difference. */
	cr_assert_eq(traffic_last(t, "h1", "web", 1, boot, &c), 1);
	memset(want, 1, sizeof(want));
	cr_assert_arr_eq(boot, want, TRAFFIC_BOOT_LEN);
	cr_assert_eq(c.v[TC_REQUESTS], 500);
	cr_assert_eq(c.v[TC_CLASS + 4], 7);
	cr_assert_eq(c.v[TC_LATENCY + 2], 500);
	/* A revision this boot has not counted reads as zeros of the boot;
	 * another service's does not mix in. */
	cr_assert_eq(traffic_last(t, "h1", "web", 2, boot, &c), 1);
	cr_assert_eq(c.v[TC_REQUESTS], 0);
	cr_assert_eq(traffic_last(t, "h1", "api", 1, boot, &c), 1);
	cr_assert_eq(c.v[TC_REQUESTS], 0);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 5000), 1);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 5001), 0);
	/* A proxy that did not answer is not heard, and keeps its last. */
	{
		Ferry__Traffic bad = FERRY__TRAFFIC__INIT;

		bad.error = "timeout";
		cr_assert_eq(traffic_observe(t, "h1", &bad, T0 + 9000, NULL,
		    0), 0);
	}
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 9000), 0);
	cr_assert_eq(traffic_last(t, "h1", "web", 1, boot, &c), 1);
	cr_assert_eq(c.v[TC_REQUESTS], 500);
	/* A new boot that has not counted revision 1 yet: zeros, new boot. */
	reading_init(&r, 2, 1000);
	rev(&r, "web", 2, 40, 0, 1);
	observe(t, "h1", &r, T0 + 10000);
	cr_assert_eq(traffic_last(t, "h1", "web", 1, boot, &c), 1);
	memset(want, 2, sizeof(want));
	cr_assert_arr_eq(boot, want, TRAFFIC_BOOT_LEN);
	cr_assert_eq(c.v[TC_REQUESTS], 0);
	cr_assert_eq(traffic_last(t, "h1", "web", 2, boot, &c), 1);
	cr_assert_eq(c.v[TC_REQUESTS], 40);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 10000), 1);
	cr_assert_eq(traffic_heard_since(t, "h2", 0), 0);
	traffic_free(t);
}

/* A reading is current only when the proxy's clock moved on as much as
 * ferryd's since the one before: the first after ferryd starts, and a
 * heartbeat built before a restart and delivered after it, are not. */
Test(traffic, a_late_reading_is_not_heard_as_current)
{
	struct traffic *t = fresh();
	struct reading r;

	reading_init(&r, 1, 60000);
	rev(&r, "web", 1, 100, 0, 2);
	observe(t, "h1", &r, T0);
	cr_assert_eq(traffic_heard_since(t, "h1", T0), 0, "the first "
	    "reading ferryd gets may have been built before it started");
	/* 3 s later by ferryd's clock, but only 200 ms later by the
	 * proxy's: built long before it came. */
	reading_init(&r, 1, 60200);
	rev(&r, "web", 1, 120, 0, 2);
	observe(t, "h1", &r, T0 + 3000);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 3000), 0);
	/* The next one moved on with time. */
	reading_init(&r, 1, 63400);
	rev(&r, "web", 1, 400, 0, 2);
	observe(t, "h1", &r, T0 + 3200);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 3000), 1);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 3201), 0);
	/* A proxy started afresh: current when its uptime fits. */
	reading_init(&r, 2, 150);
	rev(&r, "web", 1, 5, 0, 2);
	observe(t, "h1", &r, T0 + 3400);
	cr_assert_eq(traffic_heard_since(t, "h1", T0 + 3400), 1);
	traffic_free(t);
}
