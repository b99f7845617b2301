/* SPDX-License-Identifier: Apache-2.0 */
/* analysis.c: a canary interval's verdict and the marks its figures are
 * counted from (analysis.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "text.h"
#include "ferr.h"
#include "hist.h"

const char *
analysis_verdict_name(int v)
{
	switch (v) {
	case ANALYSIS_PASS:
		return "pass";
	case ANALYSIS_FAIL:
		return "fail";
	case ANALYSIS_INCONCLUSIVE:
		return "inconclusive";
	default:
		return "unknown";
	}
}

/* ---- text ------------------------------------------------------------ */

/* trim drops the trailing zeros of a decimal number, and its point when
 * nothing follows it. */
static void
trim(char *s)
{
	char *e;

	if (strchr(s, '.') == NULL)
		return;
	e = s + strlen(s);
	while (e > s && e[-1] == '0')
		*--e = '\0';
	if (e > s && e[-1] == '.')
		e[-1] = '\0';
}

/* number writes v >= 0 with two significant digits below 10 ("2.4",
 * "0.1", "0.025"), whole from 10 up ("412"), never in exponent form. */
static char *
number(char *dst, size_t len, double v)
{
	double t = v;
	int d = 1;

	if (!(v > 0)) {
		snprintf(dst, len, "0");
		return dst;
	}
	if (v >= 10)
		d = 0;
	else
		while (t < 1 && d < 6) {
			t *= 10;
			d++;
		}
	snprintf(dst, len, "%.*f", d, v);
	trim(dst);
	return dst;
}


/* A reason being written: appends that never overflow (cut at the end). */
struct line {
	char *p;
	size_t len, used;
};

static void
put(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->used + 1 >= l->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->p + l->used, l->len - l->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->used += (size_t)n < l->len - l->used ? (size_t)n :
		    l->len - l->used - 1;
}

/* ---- statistics -------------------------------------------------------- */

/*
 * binomial_tail returns P(X >= k) for X ~ Binomial(n, p), exactly enough
 * for a decision at ANALYSIS_ALPHA: at or below the mean it returns 1 (the
 * binomial's median is the mean rounded down or up, so the tail is at
 * least 1/2 there); above it, the terms from k on only fall, and are
 * summed in floating point from the first (computed in logarithms, so
 * large n neither overflow nor underflow) until they stop counting.
 */
static double
binomial_tail(uint64_t n, double p, uint64_t k)
{
	double lt, term, sum, q;
	uint64_t j;

	if (k == 0)
		return 1.0;
	if (k > n || !(p > 0))
		return 0.0;
	if (p >= 1.0)
		return 1.0;
	if ((double)k <= (double)n * p)
		return 1.0;
	lt = lgamma((double)n + 1) - lgamma((double)k + 1) -
	    lgamma((double)(n - k) + 1) + (double)k * log(p) +
	    (double)(n - k) * log1p(-p);
	term = exp(lt);
	sum = term;
	q = p / (1.0 - p);
	for (j = k; j < n; j++) {
		term *= (double)(n - j) / (double)(j + 1) * q;
		sum += term;
		if (term <= sum * 1e-17)
			break;
	}
	return sum > 1.0 ? 1.0 : sum;
}

/* slower_than counts the requests of histogram c slower than t_us: whole
 * buckets above it, the bucket holding it by linear interpolation (as the
 * quantile is read), none of the last bucket when t_us is in it (its
 * requests read as its lower bound). */
static double
slower_than(const uint64_t *c, double t_us)
{
	double n = 0, lo, hi;
	size_t k;

	for (k = 0; k < HIST_BUCKETS; k++) {
		if (c[k] == 0)
			continue;
		lo = k == 0 ? 0.0 : (double)hist_bound_us(k - 1);
		if (k == HIST_BUCKETS - 1) {
			if (lo > t_us)
				n += (double)c[k];
			continue;
		}
		hi = (double)hist_bound_us(k);
		if (t_us >= hi)
			continue;
		if (t_us <= lo)
			n += (double)c[k];
		else
			n += (double)c[k] * (hi - t_us) / (hi - lo);
	}
	return n;
}

/* rel_error_fails: the canary's errors xc of nc are significantly more
 * than factor times the stable side's rate xs / ns predicts (analysis.h). */
static int
rel_error_fails(uint64_t xc, uint64_t nc, uint64_t xs, uint64_t ns,
    double factor)
{
	double p0;

	if (xc == 0 || nc == 0 || ns == 0)
		return 0;
	if ((double)xc / (double)nc <= factor * (double)xs / (double)ns)
		return 0;
	p0 = factor * (double)nc / (factor * (double)nc + (double)ns);
	return binomial_tail(xc + xs, p0, xc) < ANALYSIS_ALPHA;
}

/* rel_p95_fails: the canary's p95 pc_us is above t_us and significantly
 * more than 5% of its timed requests (histogram lat) are slower than
 * t_us. */
static int
rel_p95_fails(const uint64_t *lat, double pc_us, double t_us)
{
	uint64_t n = 0;
	size_t k;

	if (!(pc_us > t_us))
		return 0;
	for (k = 0; k < HIST_BUCKETS; k++)
		n += lat[k];
	return binomial_tail(n, 0.05, (uint64_t)slower_than(lat, t_us)) <
	    ANALYSIS_ALPHA;
}

/* ---- the verdict ------------------------------------------------------- */

void
analysis_figures_of(const struct traffic_counts *c,
    struct analysis_figures *out)
{
	double q;

	memset(out, 0, sizeof(*out));
	out->requests = c->v[TC_REQUESTS];
	out->errors = c->v[TC_CLASS + 4] + c->v[TC_UNANSWERED];
	if (out->errors > out->requests)
		out->errors = out->requests;
	out->error_rate = out->requests > 0 ? (double)out->errors /
	    (double)out->requests : 0.0;
	q = hist_quantile_us(&c->v[TC_LATENCY], HIST_BUCKETS, 0.95);
	out->p95_ms = q < 0 ? -1.0 : q / 1000.0;
}

static uint32_t
prom_bit(size_t i)
{
	return i < ANALYSIS_PROM_BITS ? 1u << (ANALYSIS_CHECK_PROM + i) : 0;
}

/* error_phrase and p95_phrase say how a failed check failed. */
static void
error_phrase(struct line *l, const struct spec_analysis *a,
    const struct analysis_result *r, int abs, int rel)
{
	char v[32], m[32], s[32], f[32];

	number(v, sizeof(v), r->canary.error_rate * 100);
	number(m, sizeof(m), a->error_rate_max * 100);
	number(s, sizeof(s), r->stable.error_rate * 100);
	number(f, sizeof(f), a->relative_error_rate);
	if (abs && rel)
		put(l, "error rate %s%% > %s%% and > %sx stable %s%%", v, m, f,
		    s);
	else if (abs && r->stable.requests > 0)
		put(l, "error rate %s%% > %s%% (stable %s%%)", v, m, s);
	else if (abs)
		put(l, "error rate %s%% > %s%%", v, m);
	else
		put(l, "error rate %s%% > %sx stable %s%%", v, f, s);
}

static void
p95_phrase(struct line *l, const struct spec_analysis *a,
    const struct analysis_result *r, int abs, int rel)
{
	char v[32], s[32], f[32];

	number(v, sizeof(v), r->canary.p95_ms);
	number(s, sizeof(s), r->stable.p95_ms);
	number(f, sizeof(f), a->relative_p95);
	if (abs && rel)
		put(l, "p95 %s ms > %u ms and > %sx stable %s ms", v,
		    a->p95_max_ms, f, s);
	else if (abs && r->stable.p95_ms >= 0)
		put(l, "p95 %s ms > %u ms (stable %s ms)", v, a->p95_max_ms,
		    s);
	else if (abs)
		put(l, "p95 %s ms > %u ms", v, a->p95_max_ms);
	else
		put(l, "p95 %s ms > %sx stable %s ms", v, f, s);
}

void
analysis_judge(const struct spec_analysis *a,
    const struct traffic_counts *canary, const struct traffic_counts *stable,
    uint64_t interval_ms, const double *prom, size_t nprom,
    struct analysis_result *out)
{
	struct line l = { out->reason, sizeof(out->reason), 0 };
	uint64_t min = a->min_requests > 0 ? a->min_requests : 1;
	int rel = a->relative_error_rate > 0 || a->relative_p95 > 0;
	int enough_c, enough_s, nothing_timed = 0, no_value = 0, n = 0;
	int err_abs = 0, err_rel = 0, p95_abs = 0, p95_rel = 0;
	char dur[32], req[32], sreq[32], v[32], m[32];
	double pv;
	size_t i;

	memset(out, 0, sizeof(*out));
	analysis_figures_of(canary, &out->canary);
	analysis_figures_of(stable, &out->stable);
	text_duration(dur, sizeof(dur), interval_ms);
	text_thousands(req, sizeof(req), out->canary.requests);
	text_thousands(sreq, sizeof(sreq), out->stable.requests);
	enough_c = out->canary.requests >= min;
	enough_s = !rel || out->stable.requests >= min;

	/* Absolute checks on the canary's figures. */
	if (a->error_rate_max >= 0) {
		if (!enough_c)
			out->unjudged |= ANALYSIS_CHECK_ERROR_RATE;
		else if (out->canary.error_rate > a->error_rate_max *
		    (1 + 1e-12)) {
			out->failed |= ANALYSIS_CHECK_ERROR_RATE;
			err_abs = 1;
		}
	}
	if (a->p95_max_ms > 0) {
		if (!enough_c)
			out->unjudged |= ANALYSIS_CHECK_P95;
		else if (out->canary.p95_ms < 0) {
			out->unjudged |= ANALYSIS_CHECK_P95;
			nothing_timed = 1;
		} else if (out->canary.p95_ms > (double)a->p95_max_ms) {
			out->failed |= ANALYSIS_CHECK_P95;
			p95_abs = 1;
		}
	}
	/* Relative checks: the canary against the stable side. */
	if (a->relative_error_rate > 0) {
		if (!enough_c || !enough_s)
			out->unjudged |= ANALYSIS_CHECK_REL_ERROR_RATE;
		else if (rel_error_fails(out->canary.errors,
		    out->canary.requests, out->stable.errors,
		    out->stable.requests, a->relative_error_rate)) {
			out->failed |= ANALYSIS_CHECK_REL_ERROR_RATE;
			err_rel = 1;
		}
	}
	if (a->relative_p95 > 0) {
		if (!enough_c || !enough_s)
			out->unjudged |= ANALYSIS_CHECK_REL_P95;
		else if (out->canary.p95_ms < 0 || out->stable.p95_ms < 0) {
			out->unjudged |= ANALYSIS_CHECK_REL_P95;
			nothing_timed = 1;
		} else if (rel_p95_fails(&canary->v[TC_LATENCY],
		    out->canary.p95_ms * 1000.0,
		    a->relative_p95 * out->stable.p95_ms * 1000.0)) {
			out->failed |= ANALYSIS_CHECK_REL_P95;
			p95_rel = 1;
		}
	}
	/* Prometheus checks stand apart from the proxies' counts. */
	for (i = 0; i < a->nprom; i++) {
		pv = i < nprom && prom != NULL ? prom[i] : NAN;
		if (isnan(pv)) {
			out->unjudged |= prom_bit(i);
			no_value = 1;
		} else if (pv > a->prom[i].max)
			out->failed |= prom_bit(i);
	}

	/* The verdict, and the line that cites it. */
	if (err_abs || err_rel || p95_abs || p95_rel) {
		out->verdict = ANALYSIS_FAIL;
		if (err_abs || err_rel) {
			error_phrase(&l, a, out, err_abs, err_rel);
			n++;
		}
		if (p95_abs || p95_rel) {
			put(&l, "%s", n++ ? "; " : "");
			p95_phrase(&l, a, out, p95_abs, p95_rel);
		}
	}
	for (i = 0; i < a->nprom; i++) {
		pv = i < nprom && prom != NULL ? prom[i] : NAN;
		if (isnan(pv) || !(pv > a->prom[i].max))
			continue;
		out->verdict = ANALYSIS_FAIL;
		put(&l, "%sprometheus %s %g > %g", n++ ? "; " : "",
		    a->prom[i].name, pv, a->prom[i].max);
	}
	if (out->verdict == ANALYSIS_FAIL) {
		put(&l, " over %s, %s requests", dur, req);
		return;
	}
	if (!enough_c || !enough_s || nothing_timed || no_value) {
		out->verdict = ANALYSIS_INCONCLUSIVE;
		put(&l, "inconclusive: ");
		if (!enough_c)
			put(&l, "%s requests < min_requests %llu over %s "
			    "(stable %s)", req, (unsigned long long)min, dur,
			    sreq);
		else if (!enough_s)
			put(&l, "stable %s requests < min_requests %llu over "
			    "%s (canary %s)", sreq, (unsigned long long)min,
			    dur, req);
		else if (nothing_timed)
			put(&l, "no latency timed over %s, %s requests", dur,
			    req);
		else
			n = -1;	/* the Prometheus part says it all */
		for (i = 0; i < a->nprom; i++) {
			pv = i < nprom && prom != NULL ? prom[i] : NAN;
			if (!isnan(pv))
				continue;
			put(&l, "%sprometheus %s gave no value", n == -1 ?
			    "" : "; ", a->prom[i].name);
			if (n == -1) {
				put(&l, " over %s, %s requests", dur, req);
				n = 0;
			}
		}
		return;
	}
	out->verdict = ANALYSIS_PASS;
	number(v, sizeof(v), out->canary.error_rate * 100);
	number(m, sizeof(m), out->stable.error_rate * 100);
	if (out->stable.requests > 0)
		put(&l, "error rate %s%% (stable %s%%)", v, m);
	else
		put(&l, "error rate %s%%", v);
	if (out->canary.p95_ms >= 0) {
		number(v, sizeof(v), out->canary.p95_ms);
		number(m, sizeof(m), out->stable.p95_ms);
		if (out->stable.p95_ms >= 0)
			put(&l, ", p95 %s ms (stable %s ms)", v, m);
		else
			put(&l, ", p95 %s ms", v);
	}
	put(&l, " over %s, %s requests", dur, req);
}

/* ---- marks ------------------------------------------------------------- */

int
analysis_read(const struct traffic *t, const char *service,
    const char *const *hosts, size_t nhosts, uint64_t canary,
    uint64_t stable, struct analysis_mark *out, char *err, size_t errlen)
{
	const uint64_t revs[2] = { canary, stable };
	struct analysis_mark *m;
	size_t i, j;

	for (i = 0; i < nhosts; i++)
		for (j = 0; j < 2; j++) {
			m = &out[2 * i + j];
			memset(m, 0, sizeof(*m));
			snprintf(m->host, sizeof(m->host), "%s", hosts[i]);
			m->revision = revs[j];
			if (!traffic_last(t, hosts[i], service, revs[j],
			    m->boot, &m->counts)) {
				snprintf(err, errlen, "%s: no reading of its "
				    "proxy's counts yet", hosts[i]);
				return FERR_NOTFOUND;
			}
		}
	return 0;
}

static const struct analysis_mark *
mark_find(const struct analysis_mark *marks, size_t nmarks,
    const char *host, uint64_t revision)
{
	size_t i;

	for (i = 0; i < nmarks; i++)
		if (marks[i].revision == revision &&
		    strcmp(marks[i].host, host) == 0)
			return &marks[i];
	return NULL;
}

size_t
analysis_sides(const struct analysis_mark *marks, size_t nmarks,
    const struct analysis_mark *now, size_t nnow, uint64_t canary,
    uint64_t stable, struct traffic_counts *canary_out,
    struct traffic_counts *stable_out)
{
	const struct analysis_mark *m;
	struct traffic_counts *side;
	size_t i, k, unmarked = 0;
	int whole;

	memset(canary_out, 0, sizeof(*canary_out));
	memset(stable_out, 0, sizeof(*stable_out));
	for (i = 0; i < nnow; i++) {
		if (now[i].revision == canary)
			side = canary_out;
		else if (now[i].revision == stable)
			side = stable_out;
		else
			continue;
		m = mark_find(marks, nmarks, now[i].host, now[i].revision);
		whole = m == NULL || memcmp(m->boot, now[i].boot,
		    TRAFFIC_BOOT_LEN) != 0;
		/* A counter that went down in one boot: the proxy started
		 * afresh (traffic.c's rule too). */
		for (k = 0; k < TC_WIDTH && !whole; k++)
			if (now[i].counts.v[k] < m->counts.v[k])
				whole = 1;
		if (m == NULL)
			unmarked++;
		for (k = 0; k < TC_WIDTH; k++)
			side->v[k] += whole ? now[i].counts.v[k] :
			    now[i].counts.v[k] - m->counts.v[k];
	}
	return unmarked;
}
