/* metrics.c: counters and summaries, rendered as Prometheus text. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

#define STATES_MAX 16

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counters[M_COUNT];
static double swap_sum, batch_sum;
static uint64_t swap_n, batch_n;
static uint64_t hosts_total, hosts_online;
static uint64_t by_state[STATES_MAX];
static const char *state_name[STATES_MAX];
static size_t nstates;

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

char *
metrics_render(size_t *len)
{
	size_t cap = 8192, off = 0, i;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
#define OUT(...) do { \
	int n_ = snprintf(buf + off, cap - off, __VA_ARGS__); \
	if (n_ > 0 && off + (size_t)n_ < cap) \
		off += (size_t)n_; \
} while (0)
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
	pthread_mutex_unlock(&mtx);
#undef OUT
	*len = off;
	return buf;
}
