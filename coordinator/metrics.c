/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c: counters, gauges and histograms, rendered as Prometheus
 * text. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "traffic.h"
#include "version.h"

#define STATES_MAX 16

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counters[M_COUNT];

/* ---- durations as histograms ------------------------------------------ */

#define BOUNDS_MAX	12

/* One label set's counts: per bucket (not cumulative; the last is +Inf),
 * their sum and count. */
struct dseries {
	char labels[400];	/* rendered: service="web",host="h-1",... */
	uint64_t b[BOUNDS_MAX + 1];
	double sum;
	uint64_t count;
};

struct dfamily {
	const char *name, *help;
	double bounds[BOUNDS_MAX];	/* upper bounds, seconds, ascending */
	size_t nb;
	struct dseries *s;		/* METRICS_SERIES_MAX of them */
	size_t n;
};

enum { D_SWAP, D_BATCH, D_DEPLOYMENT, D_COUNT };

static struct dfamily dfam[D_COUNT] = {
	[D_SWAP] = { "ferry_swap_duration_seconds", "Time from sending a "
	    "swap to its final result, by service, host and outcome.",
	    { 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800 }, 12,
	    NULL, 0 },
	[D_BATCH] = { "ferry_batch_duration_seconds", "Time a rollout "
	    "batch took, by service.",
	    { 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800 }, 12,
	    NULL, 0 },
	[D_DEPLOYMENT] = { "ferry_deployment_duration_seconds", "Time from "
	    "a deployment's start to its end, by service, kind and the "
	    "state it ended in.",
	    { 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600 },
	    12, NULL, 0 },
};
static uint64_t hosts_total, hosts_online;
static uint64_t by_state[STATES_MAX];
static const char *state_name[STATES_MAX];
static size_t nstates;
static struct metrics_canary canaries[METRICS_CANARIES_MAX];
static size_t ncanaries;
/* Judged intervals by service and verdict, since ferryd started. */
#define VERDICT_SERVICES_MAX	64
static struct {
	char service[64];
	uint64_t n[3];			/* pass, fail, inconclusive */
} verdicts[VERDICT_SERVICES_MAX];
static size_t nverdicts;
static const char *const verdict_names[3] = { "pass", "fail",
    "inconclusive" };

static const struct {
	const char *name, *help;
} names[M_COUNT] = {
	[M_COMMANDS_SENT] = { "ferry_commands_sent_total",
	    "Signed commands sent to agents." },
	[M_COMMANDS_ACKED] = { "ferry_commands_acknowledged_total",
	    "Commands answered with a final signed result." },
	[M_COMMANDS_REFUSED] = { "ferry_commands_refused_total",
	    "Commands an agent refused." },
	[M_COMMANDS_EXPIRED] = { "ferry_commands_expired_total",
	    "Commands not answered in time." },
	[M_MESSAGES_REFUSED] = { "ferry_messages_refused_total",
	    "Messages from the network that ferryd refused." },
	[M_HEALTH_PASS] = { "ferry_health_checks_passed_total",
	    "Health checks agents reported passing." },
	[M_HEALTH_FAIL] = { "ferry_health_checks_failed_total",
	    "Health checks agents reported failing." },
	[M_SWAPS_OK] = { "ferry_swaps_succeeded_total",
	    "Swaps that left the new revision healthy." },
	[M_SWAPS_FAILED] = { "ferry_swaps_failed_total",
	    "Swaps that did not." },
	[M_REPORTS_ALONE] = { "ferry_reports_alone_total",
	    "Agent reports received in a signed message of their own." },
	[M_REPORTS_RIDING] = { "ferry_reports_on_heartbeats_total",
	    "Agent reports received riding on a signed heartbeat." },
};

void
metrics_inc(enum metric m)
{
	pthread_mutex_lock(&mtx);
	counters[m]++;
	pthread_mutex_unlock(&mtx);
}

/* observe adds s to the series of f whose labels are labels (a new one
 * while there is room, else the family's overflow series, other); under
 * the lock. */
static void
observe(struct dfamily *f, const char *labels, const char *other, double s)
{
	struct dseries *x = NULL;
	size_t i, k;

	if (f->s == NULL && (f->s = calloc(METRICS_SERIES_MAX,
	    sizeof(*f->s))) == NULL)
		return;
	for (i = 0; i < f->n && x == NULL; i++)
		if (strcmp(f->s[i].labels, labels) == 0)
			x = &f->s[i];
	/* The last slot is kept for the overflow. */
	if (x == NULL && f->n < METRICS_SERIES_MAX - 1) {
		x = &f->s[f->n++];
		snprintf(x->labels, sizeof(x->labels), "%s", labels);
	}
	for (i = 0; i < f->n && x == NULL; i++)
		if (strcmp(f->s[i].labels, other) == 0)
			x = &f->s[i];
	if (x == NULL) {
		x = &f->s[f->n++];
		snprintf(x->labels, sizeof(x->labels), "%s", other);
	}
	if (s < 0)
		s = 0;
	for (k = 0; k < f->nb && s > f->bounds[k]; k++)
		;
	x->b[k]++;
	x->sum += s;
	x->count++;
}

static const char *label(char *b, size_t len, const char *s);

void
metrics_swap_seconds(const char *service, const char *host, int ok,
    double s)
{
	char ls[400], sv[160], h[160];

	snprintf(ls, sizeof(ls), "service=\"%s\",host=\"%s\","
	    "outcome=\"%s\"", label(sv, sizeof(sv), service ? service : ""),
	    label(h, sizeof(h), host ? host : ""), ok ? "succeeded" :
	    "failed");
	pthread_mutex_lock(&mtx);
	observe(&dfam[D_SWAP], ls, ok ? "service=\"_other\",host=\"_other\","
	    "outcome=\"succeeded\"" : "service=\"_other\",host=\"_other\","
	    "outcome=\"failed\"", s);
	pthread_mutex_unlock(&mtx);
}

void
metrics_batch_seconds(const char *service, double s)
{
	char ls[200], sv[160];

	snprintf(ls, sizeof(ls), "service=\"%s\"", label(sv, sizeof(sv),
	    service ? service : ""));
	pthread_mutex_lock(&mtx);
	observe(&dfam[D_BATCH], ls, "service=\"_other\"", s);
	pthread_mutex_unlock(&mtx);
}

void
metrics_deployment_seconds(const char *service, const char *kind,
    const char *state, double s)
{
	char ls[400], other[200], sv[160], k[64], st[64];

	label(k, sizeof(k), kind && kind[0] ? kind : "deploy");
	label(st, sizeof(st), state ? state : "");
	snprintf(ls, sizeof(ls), "service=\"%s\",kind=\"%s\",state=\"%s\"",
	    label(sv, sizeof(sv), service ? service : ""), k, st);
	snprintf(other, sizeof(other), "service=\"_other\",kind=\"%s\","
	    "state=\"%s\"", k, st);
	pthread_mutex_lock(&mtx);
	observe(&dfam[D_DEPLOYMENT], ls, other, s);
	pthread_mutex_unlock(&mtx);
}

void
metrics_gauges(uint64_t total, uint64_t online, const uint64_t *states,
    size_t n, const char *const *snames)
{
	size_t i;

	pthread_mutex_lock(&mtx);
	hosts_total = total;
	hosts_online = online;
	nstates = n < STATES_MAX ? n : STATES_MAX;
	for (i = 0; i < nstates; i++) {
		by_state[i] = states[i];
		state_name[i] = snames[i];
	}
	pthread_mutex_unlock(&mtx);
}

void
metrics_canaries(const struct metrics_canary *c, size_t n)
{
	size_t i;

	pthread_mutex_lock(&mtx);
	ncanaries = n < METRICS_CANARIES_MAX ? n : METRICS_CANARIES_MAX;
	for (i = 0; i < ncanaries; i++)
		canaries[i] = c[i];
	pthread_mutex_unlock(&mtx);
}

void
metrics_verdict(const char *service, const char *verdict)
{
	size_t i, v;

	for (v = 0; v < 3 && strcmp(verdict_names[v], verdict) != 0; v++)
		;
	if (v == 3)
		return;
	pthread_mutex_lock(&mtx);
	for (i = 0; i < nverdicts && strcmp(verdicts[i].service, service) !=
	    0; i++)
		;
	if (i == nverdicts && nverdicts < VERDICT_SERVICES_MAX) {
		snprintf(verdicts[i].service, sizeof(verdicts[i].service),
		    "%s", service);
		nverdicts++;
	}
	if (i < nverdicts)
		verdicts[i].n[v]++;
	pthread_mutex_unlock(&mtx);
}

static const char *const docker_states[METRICS_STATES] = { "running",
    "created", "restarting", "paused", "exited", "dead", "removing" };
static struct metrics_service_host *svc_rows;
static size_t nsvc_rows;

void
metrics_state_count(struct metrics_service_host *m, const char *state)
{
	size_t i;

	for (i = 0; i < METRICS_STATES; i++)
		if (strcmp(docker_states[i], state) == 0) {
			m->by_state[i]++;
			return;
		}
}

void
metrics_services(const struct metrics_service_host *v, size_t n)
{
	struct metrics_service_host *copy = NULL;

	if (n > 0 && (copy = malloc(n * sizeof(*copy))) == NULL)
		return;		/* the last rows stay */
	if (n > 0)
		memcpy(copy, v, n * sizeof(*copy));
	pthread_mutex_lock(&mtx);
	free(svc_rows);
	svc_rows = copy;
	nsvc_rows = n;
	pthread_mutex_unlock(&mtx);
}

/* A growing text buffer; on running out of memory it stops growing and
 * remembers so (the render fails as a whole, never half-written). */
struct out {
	char *buf;
	size_t off, cap;
	int failed;
};

static void out_add(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *nb;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->off, o->cap - o->off, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if (o->off + (size_t)n < o->cap) {
			o->off += (size_t)n;
			return;
		}
		cap = o->cap * 2 + (size_t)n;
		if ((nb = realloc(o->buf, cap)) == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
}

/* label writes a label value as the text format wants it: backslash,
 * double quote and newline escaped. */
static const char *
label(char *b, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			b[o++] = '\\';
			b[o++] = *s == '\n' ? 'n' : *s;
		} else
			b[o++] = *s;
	}
	b[o] = '\0';
	return b;
}

/* ---- ferry-proxy's counts (traffic.c), by family ---------------------- */

enum family {
	F_REQUESTS,
	F_RESPONSES,
	F_FAILURES,
	F_DURATION,
	F_ACTIVE,
	F_REFUSED,
	F_COUNT
};

static const struct {
	const char *name, *type, *help;
} families[F_COUNT] = {
	[F_REQUESTS] = { "ferry_proxy_requests_total", "counter",
	    "Requests (HTTP) or connections (TCP) ferry-proxy routed to a "
	    "revision, counted by ferryd from the agents' heartbeats since "
	    "it started." },
	[F_RESPONSES] = { "ferry_proxy_responses_total", "counter",
	    "Responses by status class." },
	[F_FAILURES] = { "ferry_proxy_upstream_failures_total", "counter",
	    "Upstream failures by kind: refused and reset (502), timeout "
	    "(504)." },
	[F_DURATION] = { "ferry_proxy_request_duration_seconds",
	    "histogram", "Time from a request's arrival to its response's "
	    "end, in ferry-proxy's fixed buckets." },
	[F_ACTIVE] = { "ferry_proxy_active", "gauge",
	    "Requests or connections in flight, as last read." },
	[F_REFUSED] = { "ferry_proxy_refused_total", "counter",
	    "What ferry-proxy refused or answered itself, by reason." },
};

struct render {
	struct out *o;
	enum family f;
};

static void
series_out(void *arg, const struct traffic_series *s)
{
	static const char *const cls[TRAFFIC_CLASSES] = { "1xx", "2xx",
	    "3xx", "4xx", "5xx" };
	static const char *const fails[TRAFFIC_FAILS] = { "refused", "reset",
	    "timeout" };
	struct render *r = arg;
	const uint64_t *v = s->total->v;
	char svc[160], host[160], ls[400];
	uint64_t cum = 0;
	size_t k;

	if (s->refusals != (r->f == F_REFUSED))
		return;
	label(svc, sizeof(svc), s->service);
	label(host, sizeof(host), s->host);
	if (r->f == F_REFUSED) {
		for (k = 0; k < TR_WIDTH; k++)
			out_add(r->o, "%s{service=\"%s\",host=\"%s\","
			    "reason=\"%s\"} %llu\n", families[r->f].name, svc,
			    host, traffic_reason_name(k),
			    (unsigned long long)v[k]);
		return;
	}
	snprintf(ls, sizeof(ls), "service=\"%s\",revision=\"%llu\","
	    "host=\"%s\"", svc, (unsigned long long)s->revision, host);
	switch (r->f) {
	case F_REQUESTS:
		out_add(r->o, "%s{%s} %llu\n", families[r->f].name, ls,
		    (unsigned long long)v[TC_REQUESTS]);
		break;
	case F_RESPONSES:
		for (k = 0; k < TRAFFIC_CLASSES; k++)
			out_add(r->o, "%s{%s,class=\"%s\"} %llu\n",
			    families[r->f].name, ls, cls[k],
			    (unsigned long long)v[TC_CLASS + k]);
		break;
	case F_FAILURES:
		for (k = 0; k < TRAFFIC_FAILS; k++)
			out_add(r->o, "%s{%s,kind=\"%s\"} %llu\n",
			    families[r->f].name, ls, fails[k],
			    (unsigned long long)v[TC_FAILED + k]);
		break;
	case F_DURATION:
		for (k = 0; k < HIST_BUCKETS; k++) {
			cum += v[TC_LATENCY + k];
			if (k == HIST_BUCKETS - 1)
				out_add(r->o, "%s_bucket{%s,le=\"+Inf\"} "
				    "%llu\n", families[r->f].name, ls,
				    (unsigned long long)cum);
			else
				out_add(r->o, "%s_bucket{%s,le=\"%.6f\"} "
				    "%llu\n", families[r->f].name, ls,
				    (double)hist_bound_us(k) / 1e6,
				    (unsigned long long)cum);
		}
		out_add(r->o, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n",
		    families[r->f].name, ls,
		    (double)v[TC_LATENCY_SUM] / 1e6, families[r->f].name, ls,
		    (unsigned long long)cum);
		break;
	case F_ACTIVE:
		out_add(r->o, "%s{%s} %llu\n", families[r->f].name, ls,
		    (unsigned long long)s->active);
		break;
	default:
		break;
	}
}

static void
traffic_out(struct out *o, const struct traffic *t)
{
	struct render r = { o, F_REQUESTS };

	for (r.f = 0; r.f < F_COUNT; r.f++) {
		out_add(o, "# HELP %s %s\n# TYPE %s %s\n", families[r.f].name,
		    families[r.f].help, families[r.f].name,
		    families[r.f].type);
		traffic_each(t, NULL, series_out, &r);
	}
}

/* durations_out writes a histogram family: each series' cumulative
 * buckets, its sum and count. */
static void
durations_out(struct out *o, const struct dfamily *f)
{
	size_t i, k;

	out_add(o, "# HELP %s %s\n# TYPE %s histogram\n", f->name, f->help,
	    f->name);
	for (i = 0; i < f->n; i++) {
		const struct dseries *x = &f->s[i];
		uint64_t cum = 0;

		for (k = 0; k <= f->nb; k++) {
			cum += x->b[k];
			if (k == f->nb)
				out_add(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n",
				    f->name, x->labels,
				    (unsigned long long)cum);
			else
				out_add(o, "%s_bucket{%s,le=\"%g\"} %llu\n",
				    f->name, x->labels, f->bounds[k],
				    (unsigned long long)cum);
		}
		out_add(o, "%s_sum{%s} %.3f\n%s_count{%s} %llu\n", f->name,
		    x->labels, x->sum, f->name, x->labels,
		    (unsigned long long)x->count);
	}
}

/* services_out: each service's containers, health and drift per host,
 * as driftwatch.c last handed them (under the lock). */
static void
services_out(struct out *o)
{
	char sv[160], hv[160];
	size_t i, k;

	out_add(o, "# HELP ferry_service_containers Containers of a service "
	    "on a host, by Docker state, as the host's last heartbeat "
	    "said.\n# TYPE ferry_service_containers gauge\n");
	for (i = 0; i < nsvc_rows; i++)
		for (k = 0; k < METRICS_STATES; k++)
			out_add(o, "ferry_service_containers{service=\"%s\","
			    "host=\"%s\",state=\"%s\"} %u\n",
			    label(sv, sizeof(sv), svc_rows[i].service),
			    label(hv, sizeof(hv), svc_rows[i].host),
			    docker_states[k], svc_rows[i].by_state[k]);
	out_add(o, "# HELP ferry_service_healthy Whether a container of the "
	    "service's current revision runs on the host and none is "
	    "unhealthy (1) or not (0).\n# TYPE ferry_service_healthy "
	    "gauge\n");
	for (i = 0; i < nsvc_rows; i++)
		out_add(o, "ferry_service_healthy{service=\"%s\",host=\"%s\"} "
		    "%d\n", label(sv, sizeof(sv), svc_rows[i].service),
		    label(hv, sizeof(hv), svc_rows[i].host),
		    svc_rows[i].healthy);
	out_add(o, "# HELP ferry_service_drift A service drifted on a host "
	    "from what it should run, by cause (1 while it lasts).\n"
	    "# TYPE ferry_service_drift gauge\n");
	for (i = 0; i < nsvc_rows; i++)
		if (svc_rows[i].drift != NULL && svc_rows[i].drift[0])
			out_add(o, "ferry_service_drift{service=\"%s\","
			    "host=\"%s\",cause=\"%s\"} 1\n",
			    label(sv, sizeof(sv), svc_rows[i].service),
			    label(hv, sizeof(hv), svc_rows[i].host),
			    svc_rows[i].drift);
}

char *
metrics_render(const struct traffic *t, size_t *len)
{
	static const struct {
		const char *name, *help;
	} gauge[2] = {
		{ "ferry_canary_weight", "The share of new traffic (percent) "
		    "the new revision takes on a canary's hosts, live." },
		{ "ferry_canary_step", "The step (1-based) a canary or "
		    "blue-green is at." },
	};
	struct out o = { NULL, 0, 8192, 0 };
	size_t i, g;

	if ((o.buf = malloc(o.cap)) == NULL)
		return NULL;
#define OUT(...) out_add(&o, __VA_ARGS__)
	pthread_mutex_lock(&mtx);
	for (i = 0; i < M_COUNT; i++) {
		OUT("# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		    names[i].name, names[i].help, names[i].name,
		    names[i].name, (unsigned long long)counters[i]);
	}
	OUT("# HELP ferry_build_info The version of ferryd and the commit "
	    "it was built from.\n# TYPE ferry_build_info gauge\n"
	    "ferry_build_info{version=\"%s\",commit=\"%s\"} 1\n",
	    FERRY_VERSION, FERRY_COMMIT);
	for (i = 0; i < D_COUNT; i++)
		durations_out(&o, &dfam[i]);
	OUT("# HELP ferry_hosts Hosts ferryd knows, and how many are "
	    "online.\n# TYPE ferry_hosts gauge\nferry_hosts %llu\n"
	    "# HELP ferry_hosts_online Accepted hosts heard from in time.\n"
	    "# TYPE ferry_hosts_online gauge\nferry_hosts_online %llu\n",
	    (unsigned long long)hosts_total, (unsigned long long)hosts_online);
	OUT("# HELP ferry_deployments Deployments by state.\n"
	    "# TYPE ferry_deployments gauge\n");
	for (i = 0; i < nstates; i++)
		OUT("ferry_deployments{state=\"%s\"} %llu\n", state_name[i],
		    (unsigned long long)by_state[i]);
	for (g = 0; g < 2; g++) {
		OUT("# HELP %s %s\n# TYPE %s gauge\n", gauge[g].name,
		    gauge[g].help, gauge[g].name);
		for (i = 0; i < ncanaries; i++)
			OUT("%s{service=\"%s\",deployment=\"%llu\","
			    "strategy=\"%s\"} %u\n", gauge[g].name,
			    canaries[i].service,
			    (unsigned long long)canaries[i].deployment,
			    canaries[i].strategy, g == 0 ? canaries[i].weight :
			    canaries[i].step);
	}
	OUT("# HELP ferry_analysis_intervals_total Analysis intervals judged, "
	    "by verdict.\n# TYPE ferry_analysis_intervals_total counter\n");
	for (i = 0; i < nverdicts; i++) {
		size_t v;

		for (v = 0; v < 3; v++)
			OUT("ferry_analysis_intervals_total{service=\"%s\","
			    "verdict=\"%s\"} %llu\n", verdicts[i].service,
			    verdict_names[v],
			    (unsigned long long)verdicts[i].n[v]);
	}
	services_out(&o);
	pthread_mutex_unlock(&mtx);
#undef OUT
	if (t != NULL)
		traffic_out(&o, t);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.off;
	return o.buf;
}
