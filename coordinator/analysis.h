/* SPDX-License-Identifier: Apache-2.0 */
/* analysis.h: a canary's analysis intervals, judged on the proxies' counts
 * (issue 15: canaries and blue-green), and the marks that make an
 * interval's figures survive a ferryd crash.
 *
 * An interval is judged on two sides, summed over the canary hosts: the
 * canary revision's requests and the stable revision's, over the same
 * interval.  Its figures come from marks: at the start of an interval
 * ferryd records, per (canary host, revision), the proxy's boot and its
 * cumulative counts as last read (analysis_read); at the end, each side is
 * the sum over hosts of (current - mark) for the same boot, or of the
 * current counts when the proxy booted again meanwhile (its counts since
 * that boot: nothing before it can be told apart).  The end reading is the
 * next interval's mark, stored in the same transaction as the verdict
 * (store_analysis_commit, or store_deploy_commit_analysis with the
 * engine's state that counts it), so a ferryd killed mid-interval loses nothing
 * and counts nothing twice: the marks are in the database, the counters
 * in the proxies.
 *
 * The verdict (analysis_judge):
 *
 *   Error rate is traffic.c's: (5xx responses + upstream failures the
 *   client got no 5xx for) / requests.  p95 is read off the summed latency
 *   histogram (hist.h: buckets double from 50 us), interpolated linearly
 *   inside the bucket it falls in as Prometheus' histogram_quantile does,
 *   so a figure is exact only to within its bucket (at most a factor 2).
 *
 *   Inconclusive: the canary side has fewer than min_requests requests
 *   (and never fewer than 1: a canary with no traffic is never passed);
 *   or a relative check is set and the stable side has fewer than
 *   min_requests (the stable figures matter only to relative checks, so a
 *   blue-green analysis after the switch, with no stable traffic, can
 *   pass on absolute checks; with a relative check it stays
 *   inconclusive); or a Prometheus check got no value (NaN).  The checks
 *   on the proxies' figures are not judged on too few requests, but a
 *   Prometheus check above its max still fails.
 *
 *   Absolute checks compare the measured figure with what the operator
 *   wrote: error rate > error_rate_max fails, p95 > p95_max_ms fails, a
 *   Prometheus value > its max fails.
 *
 *   Relative checks are one-sided tests at the 1% level
 *   (ANALYSIS_ALPHA), so that a canary that behaves exactly like the
 *   stable revision is not failed by the noise of a few hundred requests:
 *
 *   - error rate, factor f: the exact conditional test of two Poisson
 *     rates.  Given the errors of both sides, x = xc + xs, the canary's
 *     share of them under "canary rate = f x stable rate" is
 *     Binomial(x, p0), p0 = f nc / (f nc + ns).  The check fails when
 *     the canary's rate is above f x the stable one and P(X >= xc) <
 *     ANALYSIS_ALPHA.  Stable with no errors is handled (p0 then bounds
 *     how many canary errors are chance); no errors at all passes.
 *   - p95, factor f: with T = f x the stable p95, the canary requests
 *     slower than T (read off its histogram, the bucket holding T
 *     interpolated linearly, rounded down) are k of nc; if the canary's
 *     p95 were at most T, at most 5% would be, so the check fails when
 *     the canary's p95 is above T and P(Binomial(nc, 0.05) >= k) <
 *     ANALYSIS_ALPHA.  The stable p95 is taken as measured (it has about
 *     1/weight times the canary's requests).
 *
 *   Measured (test_analysis.c draws them): intervals of a canary
 *   identical to its stable revision (0.1% errors, log-normal latency,
 *   200 to 400 canary requests against 19 times as many stable ones, a 5%
 *   weight) fail the relative error check (2x) in 88 of 200,000 (0.044%)
 *   and the relative p95 check (1.5x) in none; the absolute error_rate
 *   1%, judged as written, fails 250 of them (0.125%: 3 errors in 200 is
 *   1.5%).  A canary at 2% errors against 0.1% fails the relative check
 *   in 77% of such intervals and the verdict in 89%.
 *
 *   Fail: a check judged fails.  Pass: every check set was judged (enough
 *   requests, every Prometheus value there) and passed.
 *
 * Pure, apart from analysis_read, which reads traffic.h's store: no
 * clock, no I/O, no logging.
 */
#ifndef FERRY_ANALYSIS_H
#define FERRY_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "traffic.h"

#define ANALYSIS_ALPHA		0.01	/* relative checks' one-sided level */
#define ANALYSIS_REASON_MAX	320	/* analysis_result.reason, NUL too */

/* The numbers are rollout.h's enum rollout_verdict (RV_*), so a verdict
 * is handed to the engine as it is. */
enum analysis_verdict {
	ANALYSIS_PASS = 1,
	ANALYSIS_FAIL = 2,
	ANALYSIS_INCONCLUSIVE = 3,
};

/* The checks, as bits of analysis_result.failed and .unjudged:
 * Prometheus check i (spec order) is bit ANALYSIS_CHECK_PROM + i, for i
 * below ANALYSIS_PROM_BITS (later ones still count in the verdict and
 * the reason, with no bit). */
enum {
	ANALYSIS_CHECK_ERROR_RATE = 1u << 0,	/* error_rate.max */
	ANALYSIS_CHECK_P95 = 1u << 1,		/* p95.max */
	ANALYSIS_CHECK_REL_ERROR_RATE = 1u << 2,	/* relative.error_rate */
	ANALYSIS_CHECK_REL_P95 = 1u << 3,	/* relative.p95 */
};
#define ANALYSIS_CHECK_PROM	8	/* first Prometheus bit */
#define ANALYSIS_PROM_BITS	24

/* One side's figures, as judged. */
struct analysis_figures {
	uint64_t requests;
	uint64_t errors;	/* 5xx + failures with no 5xx sent */
	double error_rate;	/* errors / requests, at most 1; 0 with none */
	double p95_ms;		/* -1: nothing timed */
};

struct analysis_result {
	enum analysis_verdict verdict;
	struct analysis_figures canary, stable;
	uint32_t failed;	/* ANALYSIS_CHECK_* bits: checks that failed */
	uint32_t unjudged;	/* ... set but not judged (inconclusive) */
	/* One line an expert would cite, e.g. "error rate 2.4% > 1%
	 * (stable 0.1%) over 30 s, 1,204 requests", "p95 412 ms > 1.5x
	 * stable 51 ms over 30 s, 1,204 requests", "inconclusive: 37
	 * requests < min_requests 200 over 30 s (stable 1,912)". */
	char reason[ANALYSIS_REASON_MAX];
};

/*
 * analysis_judge judges one interval of interval_ms: a's limits (a->set
 * need not be checked: with no check set, the verdict rests on
 * min_requests alone), the canary and stable sides' counts over the
 * interval (traffic.h's vector: requests, status classes, failures,
 * latency buckets; what analysis_sides gives), and the values of a's
 * Prometheus checks, prom[i] for a->prom[i] (NaN: no value; nprom may be
 * below a->nprom, the missing ones count as no value).  Fills *out
 * entirely.  Pure.
 */
void
analysis_judge(const struct spec_analysis *a,
    const struct traffic_counts *canary, const struct traffic_counts *stable,
    uint64_t interval_ms, const double *prom, size_t nprom,
    struct analysis_result *out);

/* analysis_figures_of fills *out from one side's counts: requests, errors
 * (status_class[4] + failed_unanswered), the error rate and the p95. */
void
analysis_figures_of(const struct traffic_counts *c,
    struct analysis_figures *out);

/* analysis_verdict_name: "pass", "fail", "inconclusive" ("unknown" for
 * anything else). */
const char *
analysis_verdict_name(int v);

/* A mark, or a reading: one host's proxy's cumulative counts of one
 * revision of the service since the proxy's boot, as ferryd last heard
 * them. */
struct analysis_mark {
	char host[TRAFFIC_NAME_MAX + 1];
	uint64_t revision;
	uint8_t boot[TRAFFIC_BOOT_LEN];
	struct traffic_counts counts;
};

/*
 * analysis_read reads the current marks: for each of the nhosts hosts, its
 * proxy's last reading of (service, canary) into out[2 i] and of (service,
 * stable) into out[2 i + 1] (out holds 2 nhosts); a revision the proxy of
 * that boot has not counted reads as zeros (it has counted nothing of it
 * yet).  What it fills is both the figures' end and the next interval's
 * marks.  The caller makes sure each host was heard after the interval's
 * end (traffic_heard_since).  Returns 0, or FERR_NOTFOUND with the first
 * host whose proxy gave no good reading named in err (out is then
 * undefined).
 */
int
analysis_read(const struct traffic *t, const char *service,
    const char *const *hosts, size_t nhosts, uint64_t canary,
    uint64_t stable, struct analysis_mark *out, char *err, size_t errlen);

/*
 * analysis_sides sums the interval's counts per side: over the readings
 * now[0..nnow) of revision canary (into *canary_out) and of revision
 * stable (into *stable_out), each reading less its mark (same host and
 * revision) when the mark has the same boot and no counter went down;
 * otherwise (the proxy booted again) the reading whole.  Readings of other
 * revisions are skipped.  A reading with no mark counts whole, and is
 * counted in the return value: the caller who marked every (host,
 * revision) it reads gets 0.
 */
size_t
analysis_sides(const struct analysis_mark *marks, size_t nmarks,
    const struct analysis_mark *now, size_t nnow, uint64_t canary,
    uint64_t stable, struct traffic_counts *canary_out,
    struct traffic_counts *stable_out);


#endif
