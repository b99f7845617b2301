/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/analysis.c coordinator/traffic.c
/* test_analysis.c: a canary interval's verdict on synthetic histograms, and
 * the marks its figures are counted from. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "analysis.h"
#include "text.h"
#include "ferr.h"

/* The analysis block: error rate 1%, p95 500 ms, relative 2x and
 * 1.5x, min_requests 200. */
static struct spec_analysis
limits(void)
{
	struct spec_analysis a;

	memset(&a, 0, sizeof(a));
	a.set = 1;
	a.interval_ms = 30000;
	a.min_requests = 200;
	a.error_rate_max = 0.01;
	a.p95_max_ms = 500;
	a.relative_error_rate = 2.0;
	a.relative_p95 = 1.5;
	a.failure_limit = 2;
	return a;
}

/* side: requests, errors of them 5xx, the rest 2xx, all in latency bucket
 * k. */
static struct traffic_counts
side(uint64_t requests, uint64_t errors, size_t k)
{
	struct traffic_counts c;

	memset(&c, 0, sizeof(c));
	c.v[TC_REQUESTS] = requests;
	c.v[TC_CLASS + 1] = requests - errors;
	c.v[TC_CLASS + 4] = errors;
	c.v[TC_LATENCY + k] = requests;
	return c;
}

/* Bucket 10 holds (25.6 ms, 51.2 ms]: a p95 of 49.9 ms, read as 50;
 * bucket 13 holds (204.8 ms, 409.6 ms]: a p95 of 399.4 ms. */
#define FAST	10
#define SLOW	13

static struct analysis_result
judge(const struct spec_analysis *a, struct traffic_counts c,
    struct traffic_counts s, const double *prom, size_t nprom)
{
	struct analysis_result r;

	memset(&r, 0xa5, sizeof(r));
	analysis_judge(a, &c, &s, 30000, prom, nprom, &r);
	return r;
}

Test(analysis, two_percent_against_a_tenth_fails_both_error_checks)
{
	struct spec_analysis a = limits();
	struct analysis_result r = judge(&a, side(1000, 20, FAST),
	    side(19000, 19, FAST), NULL, 0);

	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_ERROR_RATE |
	    ANALYSIS_CHECK_REL_ERROR_RATE);
	cr_assert_eq(r.unjudged, 0);
	cr_assert_eq(r.canary.requests, 1000);
	cr_assert_eq(r.canary.errors, 20);
	cr_assert_float_eq(r.canary.error_rate, 0.02, 1e-12);
	cr_assert_float_eq(r.stable.error_rate, 0.001, 1e-12);
	cr_assert_str_eq(r.reason, "error rate 2% > 1% and > 2x stable 0.1% "
	    "over 30 s, 1,000 requests");
	/* The absolute check alone cites the stable figure beside it. */
	a.relative_error_rate = 0;
	r = judge(&a, side(1204, 29, FAST), side(19000, 19, FAST), NULL, 0);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_ERROR_RATE);
	cr_assert_str_eq(r.reason, "error rate 2.4% > 1% (stable 0.1%) over "
	    "30 s, 1,204 requests");
	/* The relative check alone. */
	a = limits();
	a.error_rate_max = -1;
	r = judge(&a, side(1000, 20, FAST), side(19000, 19, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_REL_ERROR_RATE);
	cr_assert_str_eq(r.reason, "error rate 2% > 2x stable 0.1% over 30 s, "
	    "1,000 requests");
}

Test(analysis, upstream_failures_with_no_5xx_count_as_errors)
{
	struct spec_analysis a = limits();
	struct traffic_counts c = side(1000, 0, FAST);
	struct analysis_result r;

	/* 15 the client got no 5xx for (a reset after the response began),
	 * 10 answered 502: 2.5%; the 502s' failures are not counted twice. */
	c.v[TC_CLASS + 1] = 975;
	c.v[TC_CLASS + 4] = 10;
	c.v[TC_FAILED + 1] = 25;
	c.v[TC_UNANSWERED] = 15;
	r = judge(&a, c, side(19000, 19, FAST), NULL, 0);
	cr_assert_eq(r.canary.errors, 25);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert(r.failed & ANALYSIS_CHECK_ERROR_RATE);
}

Test(analysis, at_the_threshold_is_not_above_it)
{
	struct spec_analysis a = limits();
	struct analysis_result r;

	a.relative_error_rate = 0;
	r = judge(&a, side(200, 2, FAST), side(4000, 4, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS, "%s", r.reason);
	cr_assert_str_eq(r.reason, "error rate 1% (stable 0.1%), p95 50 ms "
	    "(stable 50 ms) over 30 s, 200 requests");
	r = judge(&a, side(200, 3, FAST), side(4000, 4, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
}

Test(analysis, a_p95_of_400_ms_against_50_fails_the_relative_check)
{
	struct spec_analysis a = limits();
	struct analysis_result r = judge(&a, side(300, 0, SLOW),
	    side(5700, 0, FAST), NULL, 0);

	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_REL_P95);
	cr_assert_float_eq(r.canary.p95_ms, 399.36, 1e-9);
	cr_assert_float_eq(r.stable.p95_ms, 49.92, 1e-9);
	cr_assert_str_eq(r.reason, "p95 399 ms > 1.5x stable 50 ms over 30 s, "
	    "300 requests");
	/* Above the absolute limit too. */
	a.p95_max_ms = 300;
	r = judge(&a, side(300, 0, SLOW), side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_P95 | ANALYSIS_CHECK_REL_P95);
	cr_assert_str_eq(r.reason, "p95 399 ms > 300 ms and > 1.5x stable "
	    "50 ms over 30 s, 300 requests");
	/* With the error checks failing as well, both are cited. */
	r = judge(&a, side(300, 30, SLOW), side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_P95 | ANALYSIS_CHECK_REL_P95 |
	    ANALYSIS_CHECK_ERROR_RATE | ANALYSIS_CHECK_REL_ERROR_RATE);
	cr_assert_str_eq(r.reason, "error rate 10% > 1% and > 2x stable 0%; "
	    "p95 399 ms > 300 ms and > 1.5x stable 50 ms over 30 s, 300 "
	    "requests");
}

Test(analysis, a_few_slow_canary_requests_are_not_a_slower_p95)
{
	struct spec_analysis a = limits();
	struct traffic_counts c = side(300, 0, FAST);
	struct analysis_result r;

	/* 6% of the canary slow (18 of 300) puts its interpolated p95 in the
	 * slow bucket, but 18 of 300 is no evidence that more than 5% are. */
	c.v[TC_LATENCY + FAST] = 282;
	c.v[TC_LATENCY + SLOW] = 18;
	r = judge(&a, c, side(5700, 0, FAST), NULL, 0);
	cr_assert_gt(r.canary.p95_ms, 1.5 * r.stable.p95_ms);
	cr_assert_eq(r.verdict, ANALYSIS_PASS, "%s", r.reason);
	/* 15% of them is. */
	c.v[TC_LATENCY + FAST] = 255;
	c.v[TC_LATENCY + SLOW] = 45;
	r = judge(&a, c, side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_REL_P95);
}

Test(analysis, too_few_requests_is_inconclusive_never_a_pass)
{
	struct spec_analysis a = limits();
	struct analysis_result r;

	r = judge(&a, side(37, 0, FAST), side(1912, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(r.failed, 0);
	cr_assert_eq(r.unjudged, ANALYSIS_CHECK_ERROR_RATE | ANALYSIS_CHECK_P95
	    | ANALYSIS_CHECK_REL_ERROR_RATE | ANALYSIS_CHECK_REL_P95);
	cr_assert_str_eq(r.reason, "inconclusive: 37 requests < min_requests "
	    "200 over 30 s (stable 1,912)");
	/* Not a fail either on so few, however bad they look. */
	r = judge(&a, side(37, 20, SLOW), side(1912, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	/* One short of min_requests. */
	r = judge(&a, side(199, 0, FAST), side(5000, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	r = judge(&a, side(200, 0, FAST), side(5000, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS);
	/* min_requests 0 still wants one request: no traffic never passes. */
	a.min_requests = 0;
	r = judge(&a, side(0, 0, FAST), side(5000, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_str_eq(r.reason, "inconclusive: 0 requests < min_requests 1 "
	    "over 30 s (stable 5,000)");
}

Test(analysis, the_stable_side_counts_only_for_relative_checks)
{
	struct spec_analysis a = limits();
	struct analysis_result r;

	r = judge(&a, side(1204, 0, FAST), side(37, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(r.unjudged, ANALYSIS_CHECK_REL_ERROR_RATE |
	    ANALYSIS_CHECK_REL_P95);
	cr_assert_str_eq(r.reason, "inconclusive: stable 37 requests < "
	    "min_requests 200 over 30 s (canary 1,204)");
	/* An absolute failure is judged on the canary's own requests. */
	r = judge(&a, side(1204, 100, FAST), side(37, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_ERROR_RATE);
	/* With no relative check (blue-green after the switch: no stable
	 * traffic at all), the canary is judged alone. */
	a.relative_error_rate = 0;
	a.relative_p95 = 0;
	r = judge(&a, side(1204, 0, FAST), side(0, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS);
	cr_assert_str_eq(r.reason, "error rate 0%, p95 50 ms over 30 s, "
	    "1,204 requests");
}

Test(analysis, zero_errors_on_the_stable_side)
{
	struct spec_analysis a = limits();
	struct analysis_result r;

	a.error_rate_max = -1;	/* the relative check alone */
	r = judge(&a, side(300, 0, FAST), side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS);
	/* One canary error against none in 19 times the requests: chance
	 * (p = 0.095). */
	r = judge(&a, side(300, 1, FAST), side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS, "%s", r.reason);
	/* Two: p = 0.095^2 = 0.009 < 1%. */
	r = judge(&a, side(300, 2, FAST), side(5700, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, ANALYSIS_CHECK_REL_ERROR_RATE);
	cr_assert_str_eq(r.reason, "error rate 0.67% > 2x stable 0% over 30 s, "
	    "300 requests");
}

Test(analysis, large_counts_are_tested_by_significance_not_by_ratio)
{
	struct spec_analysis a = limits();
	struct analysis_result r;

	a.error_rate_max = -1;
	/* 0.21% against 2 x 0.1% on a million requests: z about 2.1, p
	 * about 0.017, not significant at 1%. */
	r = judge(&a, side(1000000, 2100, FAST), side(19000000, 19000, FAST),
	    NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_PASS, "%s", r.reason);
	/* 0.22%: z about 4.3. */
	r = judge(&a, side(1000000, 2200, FAST), side(19000000, 19000, FAST),
	    NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_str_eq(r.reason, "error rate 0.22% > 2x stable 0.1% over "
	    "30 s, 1,000,000 requests");
}

Test(analysis, zero_requests_on_both_sides)
{
	struct spec_analysis a = limits();
	struct traffic_counts z;
	struct analysis_result r;

	memset(&z, 0, sizeof(z));
	r = judge(&a, z, z, NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(r.canary.requests, 0);
	cr_assert_eq(r.canary.error_rate, 0);
	cr_assert_eq(r.canary.p95_ms, -1);
	cr_assert_eq(r.stable.p95_ms, -1);
	cr_assert_str_eq(r.reason, "inconclusive: 0 requests < min_requests "
	    "200 over 30 s (stable 0)");
}

Test(analysis, requests_with_no_latency_timed_are_inconclusive_for_p95)
{
	struct spec_analysis a = limits();
	struct traffic_counts c = side(1204, 0, FAST);
	struct analysis_result r;

	c.v[TC_LATENCY + FAST] = 0;
	r = judge(&a, c, side(5000, 0, FAST), NULL, 0);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(r.unjudged, ANALYSIS_CHECK_P95 | ANALYSIS_CHECK_REL_P95);
	cr_assert_str_eq(r.reason, "inconclusive: no latency timed over 30 s, "
	    "1,204 requests");
}

Test(analysis, prometheus_checks)
{
	struct spec_analysis a = limits();
	struct spec_prom p[2] = {
		{ "p99", "http://127.0.0.1:9090", "q1", 0.2 },
		{ "saturation", "http://127.0.0.1:9090", "q2", 80 },
	};
	double v[2];
	struct analysis_result r;

	a.prom = p;
	a.nprom = 2;
	v[0] = 0.1;
	v[1] = 80;
	r = judge(&a, side(1204, 0, FAST), side(5000, 0, FAST), v, 2);
	cr_assert_eq(r.verdict, ANALYSIS_PASS, "%s", r.reason);
	/* No value: inconclusive, never a pass. */
	v[1] = NAN;
	r = judge(&a, side(1204, 0, FAST), side(5000, 0, FAST), v, 2);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_eq(r.unjudged, 1u << (ANALYSIS_CHECK_PROM + 1));
	cr_assert_str_eq(r.reason, "inconclusive: prometheus saturation gave "
	    "no value over 30 s, 1,204 requests");
	/* A value not handed at all is no value. */
	r = judge(&a, side(1204, 0, FAST), side(5000, 0, FAST), v, 1);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	/* Above its max: fails, even where the proxies' counts are too
	 * few to judge. */
	v[0] = 0.31;
	v[1] = 12;
	r = judge(&a, side(1204, 0, FAST), side(5000, 0, FAST), v, 2);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(r.failed, 1u << ANALYSIS_CHECK_PROM);
	cr_assert_str_eq(r.reason, "prometheus p99 0.31 > 0.2 over 30 s, 1,204 "
	    "requests");
	r = judge(&a, side(37, 0, FAST), side(5000, 0, FAST), v, 2);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	/* Too few requests and a missing value: both said. */
	v[0] = NAN;
	r = judge(&a, side(37, 0, FAST), side(5000, 0, FAST), v, 2);
	cr_assert_eq(r.verdict, ANALYSIS_INCONCLUSIVE);
	cr_assert_str_eq(r.reason, "inconclusive: 37 requests < min_requests "
	    "200 over 30 s (stable 5,000); prometheus p99 gave no value");
}

/* ---- identical revisions, drawn at random ------------------------------ */

/* splitmix64: a seeded generator, the same draws on every run. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double
uniform(uint64_t *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

/* draw fills c with n requests, each an error with probability p and
 * timed from a log-normal of median med_ms and spread sigma (its bucket
 * drawn from the distribution's own chance of each). */
static void
draw(uint64_t *s, struct traffic_counts *c, uint64_t n, double p,
    double med_ms, double sigma)
{
	double cdf[HIST_BUCKETS], u;
	uint64_t i;
	size_t k;

	for (k = 0; k < HIST_BUCKETS - 1; k++)
		cdf[k] = 0.5 * erfc(-log((double)hist_bound_us(k) / 1000.0 /
		    med_ms) / (sigma * sqrt(2.0)));
	cdf[HIST_BUCKETS - 1] = 1.0;
	memset(c, 0, sizeof(*c));
	c->v[TC_REQUESTS] = n;
	for (i = 0; i < n; i++) {
		if (uniform(s) < p)
			c->v[TC_CLASS + 4]++;
		else
			c->v[TC_CLASS + 1]++;
		u = uniform(s);
		for (k = 0; k < HIST_BUCKETS - 1 && u >= cdf[k]; k++)
			;
		c->v[TC_LATENCY + k]++;
	}
}

#ifndef DRAWS
#define DRAWS 10000
#endif

/* canary_draws judges DRAWS intervals of a canary of 200..400 requests at
 * a 5% weight (the stable side gets 19 times as many) with error rate pc
 * and median latency mc_ms, against a stable one of ps and 40 ms; counts
 * the intervals where each check failed and the verdict did. */
struct tally {
	unsigned err, rel_err, p95, rel_p95, fail, inconclusive;
};

static struct tally
canary_draws(uint64_t seed, double pc, double mc_ms, double ps)
{
	struct spec_analysis a = limits();
	struct traffic_counts c, s;
	struct analysis_result r;
	struct tally t = { 0, 0, 0, 0, 0, 0 };
	uint64_t n;
	int i;

	for (i = 0; i < DRAWS; i++) {
		n = 200 + rnd(&seed) % 201;
		draw(&seed, &c, n, pc, mc_ms, 0.6);
		draw(&seed, &s, n * 19, ps, 40, 0.6);
		analysis_judge(&a, &c, &s, 30000, NULL, 0, &r);
		t.err += !!(r.failed & ANALYSIS_CHECK_ERROR_RATE);
		t.rel_err += !!(r.failed & ANALYSIS_CHECK_REL_ERROR_RATE);
		t.p95 += !!(r.failed & ANALYSIS_CHECK_P95);
		t.rel_p95 += !!(r.failed & ANALYSIS_CHECK_REL_P95);
		t.fail += r.verdict == ANALYSIS_FAIL;
		t.inconclusive += r.verdict == ANALYSIS_INCONCLUSIVE;
	}
	return t;
}

Test(analysis, identical_revisions_are_not_failed_by_chance, .timeout = 60)
{
	struct tally t = canary_draws(15, 0.001, 40, 0.001);

	fprintf(stderr, "identical revisions, %d intervals of 200-400 canary "
	    "requests at 0.1%% errors: relative error check failed %u, "
	    "relative p95 %u, absolute error rate 1%% %u, p95 500 ms %u; "
	    "verdict fail %u, inconclusive %u\n", DRAWS, t.rel_err,
	    t.rel_p95, t.err, t.p95, t.fail, t.inconclusive);
	cr_assert_leq(t.rel_err, DRAWS / 1000);
	cr_assert_leq(t.rel_p95, DRAWS / 1000);
	cr_assert_eq(t.inconclusive, 0);
	/* The absolute 1% check judges the figure as measured: 3 errors in
	 * 200 requests is 1.5%, about 1 interval in 1,000 by chance. */
	cr_assert_leq(t.fail, 3 * DRAWS / 1000);
}

Test(analysis, a_real_regression_is_caught_in_most_intervals, .timeout = 60)
{
	struct tally t = canary_draws(16, 0.02, 40, 0.001);

	fprintf(stderr, "2%% errors against 0.1%%, %d intervals of 200-400 "
	    "canary requests: relative error check failed %u, absolute 1%% "
	    "%u, verdict fail %u\n", DRAWS, t.rel_err, t.err, t.fail);
	cr_assert_geq(t.rel_err, DRAWS * 7 / 10);
	cr_assert_geq(t.fail, DRAWS * 85 / 100);
	t = canary_draws(17, 0.001, 400, 0.001);
	fprintf(stderr, "median 400 ms against 40 ms: relative p95 failed "
	    "%u, p95 500 ms %u, of %d\n", t.rel_p95, t.p95, DRAWS);
	cr_assert_eq(t.rel_p95, DRAWS);
}

/* ---- text ------------------------------------------------------------ */

Test(analysis, figures_read_as_people_write_them)
{
	char b[32];

	cr_assert_str_eq(text_thousands(b, sizeof(b), 0), "0");
	cr_assert_str_eq(text_thousands(b, sizeof(b), 999), "999");
	cr_assert_str_eq(text_thousands(b, sizeof(b), 1000), "1,000");
	cr_assert_str_eq(text_thousands(b, sizeof(b), 1204), "1,204");
	cr_assert_str_eq(text_thousands(b, sizeof(b), 1234567),
	    "1,234,567");
	cr_assert_str_eq(text_thousands(b, sizeof(b), UINT64_MAX),
	    "18,446,744,073,709,551,615");
	cr_assert_str_eq(text_duration(b, sizeof(b), 500), "500 ms");
	cr_assert_str_eq(text_duration(b, sizeof(b), 30000), "30 s");
	cr_assert_str_eq(text_duration(b, sizeof(b), 2500), "2.5 s");
	cr_assert_str_eq(text_duration(b, sizeof(b), 252000), "4m12s");
	cr_assert_str_eq(text_duration(b, sizeof(b), 900000), "15m");
	cr_assert_str_eq(text_duration(b, sizeof(b), 3900000), "1h5m");
	cr_assert_str_eq(text_duration(b, sizeof(b), 3600000), "1h");
	cr_assert_str_eq(analysis_verdict_name(ANALYSIS_PASS), "pass");
	cr_assert_str_eq(analysis_verdict_name(ANALYSIS_FAIL), "fail");
	cr_assert_str_eq(analysis_verdict_name(ANALYSIS_INCONCLUSIVE),
	    "inconclusive");
	cr_assert_str_eq(analysis_verdict_name(7), "unknown");
}

Test(analysis, a_long_reason_is_cut_not_overflowed)
{
	struct spec_analysis a = limits();
	struct spec_prom p[20];
	double v[20];
	char name[20][64];
	struct analysis_result r;
	size_t i;

	for (i = 0; i < 20; i++) {
		snprintf(name[i], sizeof(name[i]), "a_rather_long_query_name_"
		    "number_%zu", i);
		p[i].name = name[i];
		p[i].url = "http://127.0.0.1:9090";
		p[i].query = "q";
		p[i].max = 1;
		v[i] = 2;
	}
	a.prom = p;
	a.nprom = 20;
	r = judge(&a, side(1204, 0, FAST), side(5000, 0, FAST), v, 20);
	cr_assert_eq(r.verdict, ANALYSIS_FAIL);
	cr_assert_eq(strlen(r.reason), sizeof(r.reason) - 1);
	cr_assert_eq(r.failed, ((1u << 20) - 1) << ANALYSIS_CHECK_PROM);
}

/* ---- marks -------------------------------------------------------------- */

static struct analysis_mark
mark(const char *host, uint64_t revision, int boot, uint64_t requests,
    uint64_t errors)
{
	struct analysis_mark m;

	memset(&m, 0, sizeof(m));
	snprintf(m.host, sizeof(m.host), "%s", host);
	m.revision = revision;
	memset(m.boot, boot, sizeof(m.boot));
	m.counts = side(requests, errors, FAST);
	return m;
}

Test(analysis, sides_are_the_readings_less_their_marks_summed_over_hosts)
{
	struct analysis_mark marks[4], now[5];
	struct traffic_counts c, s;

	marks[0] = mark("h1", 2, 1, 100, 1);
	marks[1] = mark("h1", 1, 1, 5000, 5);
	marks[2] = mark("h2", 2, 7, 80, 0);
	marks[3] = mark("h2", 1, 7, 4000, 4);
	/* h1 went on in the same boot; h2's proxy restarted and has counted
	 * 30 and 600 since. */
	now[0] = mark("h1", 2, 1, 400, 4);
	now[1] = mark("h1", 1, 1, 10700, 11);
	now[2] = mark("h2", 2, 8, 30, 1);
	now[3] = mark("h2", 1, 8, 600, 0);
	now[4] = mark("h2", 3, 8, 999, 9);	/* another revision */
	cr_assert_eq(analysis_sides(marks, 4, now, 5, 2, 1, &c, &s), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 300 + 30);
	cr_assert_eq(c.v[TC_CLASS + 4], 3 + 1);
	cr_assert_eq(c.v[TC_LATENCY + FAST], 330);
	cr_assert_eq(s.v[TC_REQUESTS], 5700 + 600);
	cr_assert_eq(s.v[TC_CLASS + 4], 6 + 0);
	/* A counter that went down in one boot: counted whole. */
	now[0] = mark("h1", 2, 1, 50, 0);
	cr_assert_eq(analysis_sides(marks, 4, now, 4, 2, 1, &c, &s), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 50 + 30);
	/* A reading with no mark counts whole, and is said. */
	cr_assert_eq(analysis_sides(marks, 2, now, 4, 2, 1, &c, &s), 2);
	cr_assert_eq(c.v[TC_REQUESTS], 50 + 30);
	cr_assert_eq(s.v[TC_REQUESTS], 5700 + 600);
	/* Nothing since the mark: zeros. */
	cr_assert_eq(analysis_sides(marks, 4, marks, 4, 2, 1, &c, &s), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 0);
	cr_assert_eq(s.v[TC_REQUESTS], 0);
}

/* A proxy's reading as an agent carries it: one boot, one service. */
struct reading {
	Ferry__Traffic tr;
	uint8_t boot[TRAFFIC_BOOT_LEN];
	Ferry__RevisionTraffic rev[2], *revp[2];
	uint64_t cls[2][TRAFFIC_CLASSES];
	uint64_t lat[2][HIST_BUCKETS];
};

static void
reading(struct reading *r, int boot, uint64_t uptime_ms)
{
	memset(r, 0, sizeof(*r));
	ferry__traffic__init(&r->tr);
	memset(r->boot, boot, sizeof(r->boot));
	r->tr.boot.data = r->boot;
	r->tr.boot.len = sizeof(r->boot);
	r->tr.uptime_ms = uptime_ms;
	r->tr.revisions = r->revp;
	r->tr.version = "test";
}

static void
rev(struct reading *r, uint64_t revision, uint64_t requests,
    uint64_t errors)
{
	size_t i = r->tr.n_revisions++;
	Ferry__RevisionTraffic *v = &r->rev[i];

	ferry__revision_traffic__init(v);
	v->service = "web";
	v->revision = revision;
	v->requests = requests;
	r->cls[i][1] = requests - errors;
	r->cls[i][4] = errors;
	v->status_class = r->cls[i];
	v->n_status_class = TRAFFIC_CLASSES;
	r->lat[i][FAST] = requests;
	v->latency = r->lat[i];
	v->n_latency = HIST_BUCKETS;
	r->revp[i] = v;
}

static void
observe(struct traffic *t, const char *host, struct reading *r, uint64_t now)
{
	char err[256] = "";

	cr_assert_eq(traffic_observe(t, host, &r->tr, now, err, sizeof(err)),
	    0, "%s", err);
}

Test(analysis, marks_read_from_the_proxies_give_each_interval_once)
{
	const char *hosts[2] = { "h1", "h2" };
	struct analysis_mark m0[4], m1[4];
	struct traffic_counts c, s;
	struct traffic *t;
	struct reading r;
	char err[256] = "";

	cr_assert_eq(traffic_alloc(&t), 0);
	reading(&r, 1, 1000);
	rev(&r, 1, 900, 1);
	observe(t, "h1", &r, 1000000);
	/* h2 not heard yet: no marks. */
	cr_assert_eq(analysis_read(t, "web", hosts, 2, 2, 1, m0, err,
	    sizeof(err)), FERR_NOTFOUND);
	cr_assert_str_eq(err, "h2: no reading of its proxy's counts yet");
	reading(&r, 5, 1000);
	rev(&r, 1, 800, 0);
	observe(t, "h2", &r, 1000000);
	/* The interval starts: the canary (2) not counted yet reads 0. */
	cr_assert_eq(analysis_read(t, "web", hosts, 2, 2, 1, m0, err,
	    sizeof(err)), 0);
	cr_assert_str_eq(m0[0].host, "h1");
	cr_assert_eq(m0[0].revision, 2);
	cr_assert_eq(m0[0].counts.v[TC_REQUESTS], 0);
	cr_assert_eq(m0[1].revision, 1);
	cr_assert_eq(m0[1].counts.v[TC_REQUESTS], 900);
	cr_assert_eq(m0[3].counts.v[TC_REQUESTS], 800);
	/* Traffic flows; h2's proxy restarts meanwhile. */
	reading(&r, 1, 31000);
	rev(&r, 1, 900 + 5700, 1 + 6);
	rev(&r, 2, 300, 2);
	observe(t, "h1", &r, 1030000);
	reading(&r, 6, 4000);
	rev(&r, 1, 570, 0);
	rev(&r, 2, 30, 0);
	observe(t, "h2", &r, 1030000);
	cr_assert_eq(analysis_read(t, "web", hosts, 2, 2, 1, m1, err,
	    sizeof(err)), 0);
	cr_assert_eq(analysis_sides(m0, 4, m1, 4, 2, 1, &c, &s), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 330);
	cr_assert_eq(c.v[TC_CLASS + 4], 2);
	cr_assert_eq(s.v[TC_REQUESTS], 5700 + 570);
	cr_assert_eq(s.v[TC_CLASS + 4], 6);
	/* ferryd dies before recording the interval: it restarts with m0
	 * from its database and a fresh traffic store that hears the
	 * proxies again, a little later; nothing is lost or counted
	 * twice. */
	traffic_free(t);
	cr_assert_eq(traffic_alloc(&t), 0);
	reading(&r, 1, 41000);
	rev(&r, 1, 900 + 5700 + 100, 1 + 6);
	rev(&r, 2, 310, 2);
	observe(t, "h1", &r, 5000);
	reading(&r, 6, 14000);
	rev(&r, 1, 570 + 200, 0);
	rev(&r, 2, 40, 1);
	observe(t, "h2", &r, 5000);
	cr_assert_eq(analysis_read(t, "web", hosts, 2, 2, 1, m1, err,
	    sizeof(err)), 0);
	cr_assert_eq(analysis_sides(m0, 4, m1, 4, 2, 1, &c, &s), 0);
	cr_assert_eq(c.v[TC_REQUESTS], 310 + 40);
	cr_assert_eq(c.v[TC_CLASS + 4], 2 + 1);
	cr_assert_eq(s.v[TC_REQUESTS], 5800 + 770);
	traffic_free(t);
}
