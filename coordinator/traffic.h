/* SPDX-License-Identifier: Apache-2.0 */
/* traffic.h: ferry-proxy's counts as ferryd keeps them.  Each host's agent
 * carries its proxy's cumulative counts (proto Traffic) on its heartbeats;
 * this module takes the differences between successive readings of one
 * proxy boot, lays them in a rolling window of fixed slots per (host,
 * service, revision) and per (host, service) for the proxy's own
 * refusals, and adds them to totals kept since ferryd started (what
 * /metrics exports: they only ever go up).
 *
 * Pure: handed the monotonic time in milliseconds; no clock, no I/O, no
 * logging.  Memory is bounded: TRAFFIC_SERIES_MAX series and
 * TRAFFIC_SERVICES_MAX services per host (the one seen longest ago makes
 * room). */
#ifndef FERRY_TRAFFIC_H
#define FERRY_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "hist.h"

#define TRAFFIC_SLOT_MS		10000u	/* one slot of the window */
#define TRAFFIC_SLOTS		30u	/* 5 minutes of them */
#define TRAFFIC_WINDOW_MS	((uint64_t)TRAFFIC_SLOT_MS * TRAFFIC_SLOTS)
#define TRAFFIC_SERIES_MAX	64	/* (service, revision) per host */
#define TRAFFIC_SERVICES_MAX	32	/* services with refusals per host */
#define TRAFFIC_NAME_MAX	63	/* host and service names */
#define TRAFFIC_BOOT_LEN	16	/* Traffic.boot */
/* A proxy whose first reading ferryd gets has been up at most this long:
 * everything it counted is recent, and counts.  One up longer is a
 * baseline: its counts are older than ferryd's knowledge of it. */
#define TRAFFIC_FRESH_MS	TRAFFIC_SLOT_MS

/* One vector of counts: a revision's (TC_*) or a service's refusals
 * (TR_*), in the same storage. */
enum {
	TC_REQUESTS = 0,
	TC_CLASS = 1,				/* [0] 1xx ... [4] 5xx */
	TC_FAILED = TC_CLASS + 5,		/* refused, reset, timeout */
	TC_UNANSWERED = TC_FAILED + 3,		/* failures with no 5xx sent */
	TC_LATENCY = TC_UNANSWERED + 1,		/* HIST_BUCKETS counts */
	TC_LATENCY_SUM = TC_LATENCY + HIST_BUCKETS,	/* microseconds */
	TC_WIDTH
};
enum {
	TR_NO_TARGET = 0,
	TR_HELD_EXPIRED,
	TR_BAD_REQUEST,
	TR_HEADER_TIMEOUT,
	TR_BODY_TOO_LARGE,
	TR_HEADER_TOO_LARGE,
	TR_CLIENT_ABORTED,
	TR_DRAIN_CLOSED,
	TR_WIDTH
};
#define TRAFFIC_CLASSES		5
#define TRAFFIC_FAILS		3

struct traffic_counts {
	uint64_t v[TC_WIDTH];
};

/* What the proxy of a host last said, as ferryd heard it. */
enum traffic_proxy {
	TRAFFIC_UNHEARD = 0,	/* no heartbeat since ferryd started */
	TRAFFIC_NONE,		/* the agent runs no proxy */
	TRAFFIC_UNANSWERED,	/* the proxy did not answer the agent */
	TRAFFIC_OK,
};

struct traffic_host {
	enum traffic_proxy state;
	char error[256];	/* TRAFFIC_UNANSWERED: the agent's why */
	char version[64];
	uint64_t uptime_ms;	/* as of the last reading */
	uint64_t read_ms;	/* monotonic time of the last reading */
};

/* Figures read off a window, for one series or summed over several. */
struct traffic_figures {
	struct traffic_counts c;	/* differences inside the window */
	uint64_t span_ms;	/* the time they cover (at most the window,
				 * less when counting began later) */
	uint64_t active;	/* in flight now, as last read */
	size_t series;		/* how many series were summed */
	double rate;		/* requests per second over span_ms */
	double error_rate;	/* requests that failed: 5xx responses and
				 * upstream failures with no 5xx sent (a
				 * failure before the response is answered
				 * 502/504 and counted once), over requests,
				 * at most 1; 0 with no requests */
	double p50_ms, p95_ms, p99_ms;	/* -1: nothing timed */
};

struct traffic;

/* traffic_alloc makes an empty store: 0 or FERR_NOMEM.  traffic_free is
 * safe on NULL. */
int
traffic_alloc(struct traffic **out);
void
traffic_free(struct traffic *t);

/* traffic_check says whether tr is a reading this module takes: a boot
 * of TRAFFIC_BOOT_LEN bytes, services named (1 to TRAFFIC_NAME_MAX
 * bytes), at most 5 status classes and HIST_BUCKETS latency counts per
 * revision, no (service, revision) nor refused service twice, at most
 * TRAFFIC_SERIES_MAX revisions and TRAFFIC_SERVICES_MAX services.  A
 * Traffic with error set needs none of that.  Returns 0, or FERR_MALFORMED
 * with a sentence in err. */
int
traffic_check(const Ferry__Traffic *tr, char *err, size_t errlen);

/*
 * traffic_observe takes one heartbeat's reading from host at monotonic
 * time now_ms: tr NULL when the agent runs no proxy, tr->error set when
 * its proxy did not answer (the last good reading stays the base of the
 * next difference; in-flight gauges read 0).  Otherwise, per series, the
 * difference from the previous reading of the same proxy boot; the
 * reading itself when the boot changed or one of the series' counters
 * went down (the proxy started afresh); nothing for the first reading of
 * a proxy up longer than TRAFFIC_FRESH_MS (a baseline).  A difference is
 * spread over the window's slots in proportion to the time since the
 * previous reading (since the proxy's boot for a new one) that each
 * covers, exactly (remainders go to the newest slot); what falls before
 * the window only counts in the totals.  now_ms must not go back.
 * Returns 0; FERR_MALFORMED (traffic_check's sentence in err) or
 * FERR_NOMEM, and then nothing changed.
 */
int
traffic_observe(struct traffic *t, const char *host,
    const Ferry__Traffic *tr, uint64_t now_ms, char *err, size_t errlen);

/* traffic_host_get fills *out with what host's proxy last said
 * (TRAFFIC_UNHEARD for a host never heard). */
void
traffic_host_get(const struct traffic *t, const char *host,
    struct traffic_host *out);

/* traffic_last fills boot and *out with host's proxy's last good reading
 * of (service, revision): its boot id and its cumulative counts since that
 * boot, zeros when the proxy of that boot has not counted the revision (or
 * ferryd no longer keeps its series).  Returns 1, or 0 when the host's
 * proxy gave no good reading since ferryd started (boot and *out zeroed). */
int
traffic_last(const struct traffic *t, const char *host, const char *service,
    uint64_t revision, uint8_t boot[TRAFFIC_BOOT_LEN],
    struct traffic_counts *out);

/* traffic_heard_since: 1 when host's proxy gave a good reading at or after
 * monotonic time since_ms (the time traffic_observe was handed) that is
 * current: not the first of this ferryd's run nor one that arrived late
 * (the proxy's uptime moved on since the reading before by as much as
 * the time between their arrivals, TRAFFIC_CURRENT_SLACK_MS given; a
 * proxy that started afresh is current when its uptime fits in that
 * time).  A heartbeat built before ferryd restarted, delivered once it is
 * back, is not: what it counts ended seconds ago. */
#define TRAFFIC_CURRENT_SLACK_MS	1000u
int
traffic_heard_since(const struct traffic *t, const char *host,
    uint64_t since_ms);

/*
 * traffic_read sums the series of service (and revision, unless
 * any_revision) over the hosts named (all hosts when nhosts is 0), in the
 * window of the last window_ms (rounded up to whole slots, the newest
 * one partly elapsed; at most TRAFFIC_WINDOW_MS) before now_ms, and
 * derives the rates and quantiles.  Series with no counts in the window
 * still add their gauges.  Returns the number of series summed (0: none,
 * and *out holds zeros, p* -1).
 */
size_t
traffic_read(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t revision, int any_revision,
    uint64_t window_ms, uint64_t now_ms, struct traffic_figures *out);

/* traffic_read_refusals sums the refusals of service (TR_*) over the hosts
 * named (all when nhosts is 0) in the window of the last window_ms before
 * now_ms, into out; returns how many series were summed. */
size_t
traffic_read_refusals(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t window_ms, uint64_t now_ms,
    struct traffic_counts *out);

/* traffic_revisions lists, newest first, the distinct revisions of
 * service counted on the hosts named (all when nhosts is 0), at most max
 * of them; returns how many. */
size_t
traffic_revisions(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t *out, size_t max);

/* One series as traffic_each hands it: totals since ferryd started. */
struct traffic_series {
	const char *host;
	const char *service;
	uint64_t revision;		/* 0 for refusals */
	int refusals;			/* total holds TR_* */
	const struct traffic_counts *total;
	uint64_t active;
};

/* traffic_each calls fn for every series of host (every host when NULL),
 * revisions before refusals, hosts in the order first heard, series in
 * the order first seen. */
void
traffic_each(const struct traffic *t, const char *host,
    void (*fn)(void *arg, const struct traffic_series *s), void *arg);

/* traffic_reason_name names refusal reason r (TR_*) as /metrics labels
 * it: "no_target", ... */
const char *
traffic_reason_name(size_t r);

#endif
