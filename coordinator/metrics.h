/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h: ferryd's counters, served as Prometheus text on /metrics.
 * The loop thread counts; NNG's HTTP thread reads a consistent copy under
 * the lock, so nothing of the loop's state is touched from there. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric {
	M_COMMANDS_SENT,	/* commands sent to agents (first send) */
	M_COMMANDS_ACKED,	/* commands answered with a final result */
	M_COMMANDS_REFUSED,	/* commands an agent refused */
	M_COMMANDS_EXPIRED,	/* commands never answered in time */
	M_MESSAGES_REFUSED,	/* messages from the network ferryd refused */
	M_HEALTH_PASS,		/* health checks reported passing */
	M_HEALTH_FAIL,		/* health checks reported failing */
	M_SWAPS_OK,		/* swaps that left the new revision healthy */
	M_SWAPS_FAILED,		/* swaps that did not */
	M_REPORTS_ALONE,	/* reports that came in a message of their own */
	M_REPORTS_RIDING,	/* reports that rode on a heartbeat */
	M_COUNT
};

void metrics_inc(enum metric m);
/* Durations, as histograms (_bucket, _sum, _count) labelled by what they
 * belong to.  metrics_swap_seconds: from sending a swap to its final
 * result, on host, of service ("" when the result did not say), ok when
 * the new revision runs healthy (outcome="succeeded", else "failed").
 * metrics_batch_seconds: one rollout batch of service.
 * metrics_deployment_seconds: a deployment of service from its start to
 * its end; kind "deploy", "rollback", ...; state the one it ended in
 * ("succeeded", "rolled_back", ...).  Each family keeps at most
 * METRICS_SERIES_MAX label sets; beyond, they are counted under
 * service="_other" (and host="_other"), so that /metrics stays bounded. */
#define METRICS_SERIES_MAX	256
void metrics_swap_seconds(const char *service, const char *host, int ok,
    double s);
void metrics_batch_seconds(const char *service, double s);
void metrics_deployment_seconds(const char *service, const char *kind,
    const char *state, double s);
/* metrics_gauges sets what is counted afresh (hosts online, deployments
 * by state). */
void metrics_gauges(uint64_t hosts_total, uint64_t hosts_online,
    const uint64_t *deployments_by_state, size_t nstates,
    const char *const *state_names);
/* A canary or blue-green in its steps, as /metrics shows it live. */
struct metrics_canary {
	char service[64];
	uint64_t deployment;
	const char *strategy;		/* "canary", "blue-green" */
	uint32_t step;			/* 1-based */
	uint32_t weight;		/* percent of new traffic */
};
#define METRICS_CANARIES_MAX	64
/* metrics_canaries replaces the live canaries with c[0..n). */
void metrics_canaries(const struct metrics_canary *c, size_t n);
/* metrics_verdict counts one judged analysis interval of service
 * (verdict: "pass", "fail", "inconclusive"). */
void metrics_verdict(const char *service, const char *verdict);

/* A service on a host, as its last heartbeat said (driftwatch.c). */
#define METRICS_STATES	7	/* Docker's: running, created, restarting,
				 * paused, exited, dead, removing */
struct metrics_service_host {
	char service[64];
	char host[64];
	uint32_t by_state[METRICS_STATES];
	int healthy;			/* one of the current revision runs,
					 * and none is unhealthy */
	const char *drift;		/* drift_cause_name; "" none */
};
/* metrics_state_count counts one container in Docker state (one outside
 * the known states is not counted). */
void metrics_state_count(struct metrics_service_host *m, const char *state);
/* metrics_services replaces the services' rows with v[0..n) (copied). */
void metrics_services(const struct metrics_service_host *v, size_t n);

/* metrics_render writes the Prometheus text into a heap buffer (NULL when
 * out of memory): the counters above and, when t is not NULL, ferry-proxy's
 * counts since ferryd started (traffic.c; loop thread only, as t is the
 * loop's). */
struct traffic;
char *metrics_render(const struct traffic *t, size_t *len);

#endif
