/* metrics.c: counters and summaries, rendered as Prometheus text. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "traffic.h"

#define STATES_MAX 16

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counters[M_COUNT];
static double swap_sum, batch_sum;
static uint64_t swap_n, batch_n;
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

void
metrics_swap_seconds(double s)
{
	pthread_mutex_lock(&mtx);
	swap_sum += s;
	swap_n++;
	pthread_mutex_unlock(&mtx);
}

void
metrics_batch_seconds(double s)
{
	pthread_mutex_lock(&mtx);
	batch_sum += s;
	batch_n++;
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
	OUT("# HELP ferry_swap_duration_seconds Time from sending a swap to "
	    "its final result.\n# TYPE ferry_swap_duration_seconds summary\n"
	    "ferry_swap_duration_seconds_sum %.3f\n"
	    "ferry_swap_duration_seconds_count %llu\n", swap_sum,
	    (unsigned long long)swap_n);
	OUT("# HELP ferry_batch_duration_seconds Time a rollout batch took.\n"
	    "# TYPE ferry_batch_duration_seconds summary\n"
	    "ferry_batch_duration_seconds_sum %.3f\n"
	    "ferry_batch_duration_seconds_count %llu\n", batch_sum,
	    (unsigned long long)batch_n);
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
