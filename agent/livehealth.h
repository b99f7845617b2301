/* SPDX-License-Identifier: Apache-2.0 */
/* livehealth.h: health between deployments.  Every running ferry container
 * whose spec has an http, tcp or exec check is probed again and again with
 * that check (probe_run, as a swap does), on threads of the agent's own,
 * and judged by health.c's live judge; the verdict rides on heartbeats as
 * Container.health.  A container carries its check in its ferry.health
 * label, written when a swap creates it, so that an agent restarted, or
 * one that did not make it, knows how to probe it.
 *
 * The table below is the pure part: which containers, when each is due,
 * which service a swap is busy with, the verdicts.  The shell (threads,
 * Docker) is livehealth_start and the calls after it. */
#ifndef FERRY_LIVEHEALTH_H
#define FERRY_LIVEHEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "docker.h"
#include "ferry.pb-c.h"
#include "health.h"

/* Probes in flight at most (each on a thread of its own). */
#define LIVE_PROBES_MAX		2
/* The default live_health_interval, and its bounds when not 0 (off). */
#define LIVE_INTERVAL_DEFAULT_MS	10000
#define LIVE_INTERVAL_MIN_MS		200
#define LIVE_INTERVAL_MAX_MS		3600000

/* livehealth_label writes the ferry.health label of a container checked
 * by h, through host_port (0: on its own address): "PORT BASE64" of the
 * packed HealthSpec.  Returns FERR_NOTFOUND when h is not a check to
 * probe live (none, or Docker's own HEALTHCHECK, which Docker keeps
 * judging), FERR_ARG when it does not fit in len. */
int
livehealth_label(const Ferry__HealthSpec *h, uint32_t host_port, char *buf,
    size_t len);

/* livehealth_label_parse reads a label back: *h (free with
 * ferry__health_spec__free_unpacked) and *host_port; FERR_MALFORMED when
 * it is not one livehealth_label wrote, FERR_NOTFOUND when it names no
 * check to probe live. */
int
livehealth_label_parse(const char *text, Ferry__HealthSpec **h,
    uint32_t *host_port);

/* One container judged live. */
struct live_entry {
	char id[80];
	char name[128];
	char service[128];
	uint64_t revision;
	Ferry__HealthSpec *spec;	/* from its label, owned */
	uint32_t host_port;
	struct health_policy pol;
	struct health_live judge;
	uint64_t period_ms;	/* the spec's interval, live_health_interval
				 * at least */
	uint64_t next_ms;	/* when its next probe is due */
	int probing;		/* a probe of it is in flight */
	uint64_t epoch;		/* its service's epoch when that began */
	int gone;		/* no longer listed: freed when it ends */
	int mark;		/* seen by the listing being merged */
};

/* A service a swap (or any job of the service) works on; "" stands for
 * every service (the reconciliation at start). */
struct live_busy {
	char service[128];
	int n;
	uint64_t epoch;		/* moves at each start and end */
};

struct live_table {
	uint64_t interval_ms;	/* live_health_interval (> 0) */
	unsigned max_inflight;
	unsigned inflight;
	struct live_entry **e;
	size_t n, cap;
	struct live_busy *b;
	size_t nb, capb;
};

/* live_table_init: an empty table probing each container every
 * interval_ms at the most often, max_inflight probes at once. */
void
live_table_init(struct live_table *t, uint64_t interval_ms,
    unsigned max_inflight);
/* live_table_fini frees it (entries still probing too: call it only when
 * no probe runs); safe on a zeroed table. */
void
live_table_fini(struct live_table *t);

/*
 * live_table_sync merges a listing of the host's containers at now_ms:
 * a running one with a ferry.health label to probe gets an entry (its
 * first probe due at once), an entry whose container is not in the list
 * or not running goes (at the end of its probe, when one is in flight).
 * Returns FERR_NOMEM when an entry could not be made (the rest is done).
 */
int
live_table_sync(struct live_table *t, const struct docker_state *cs,
    size_t n, uint64_t now_ms);

/* live_table_busy says a job of service ("": of every service) began
 * (on 1) or ended (on 0): no probe of the service starts while one runs,
 * and what a probe in flight across a start or an end finds counts for
 * nothing. */
int
live_table_busy(struct live_table *t, const char *service, int on);

/* live_table_pick returns an entry due at now_ms whose service is free,
 * marked probing, when fewer than max_inflight probes run; else NULL,
 * with *wake_ms when the next one is due (UINT64_MAX: none). */
struct live_entry *
live_table_pick(struct live_table *t, uint64_t now_ms, uint64_t *wake_ms);

/*
 * live_table_done ends e's probe made at now_ms: ok 1 passed, 0 failed,
 * -1 no verdict (the container was not running).  The verdict is judged
 * unless the service's epoch moved since the pick (a swap began or ended
 * meanwhile).  Returns 1 when e's state changed (e is then still valid),
 * 0 otherwise; e is freed when it was gone.
 */
int
live_table_done(struct live_table *t, struct live_entry *e, uint64_t now_ms,
    int ok, const char *output);

/* live_table_text writes what a heartbeat says of container id ("" when
 * nothing is known). */
void
live_table_text(const struct live_table *t, const char *id, char *buf,
    size_t len);

/* ---- the shell (agent.c calls these on the loop) ---------------------- */

struct agent;

/* livehealth_start starts the probing threads (nothing when
 * live_health_interval is 0); livehealth_stop stops them and waits. */
int
livehealth_start(struct agent *a);
void
livehealth_stop(struct agent *a);

/* livehealth_busy: swap.c says a job of service ("" every) began or
 * ended. */
void
livehealth_busy(const char *service, int on);

/* livehealth_fill sets Container.health of running containers to their
 * live verdict, when there is one (over what the image's own
 * HEALTHCHECK says: the spec's check is the judge); the others are left
 * as they are. */
void
livehealth_fill(Ferry__Container **cs, size_t n);

#endif
