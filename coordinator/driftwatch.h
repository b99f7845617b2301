/* SPDX-License-Identifier: Apache-2.0 */
/* driftwatch.h: drift across the fleet as ferryd sees it now, and the
 * catch-ups it starts on its own.  The shell around drift.c: it reads the
 * services' current revisions and the deployments that made them current
 * from the store, the hosts' containers from their last heartbeats, and
 * hands them to drift_judge; ferry hosts, ferry status SERVICE and
 * /metrics read one gathering, the sweep starts catch-ups from another.
 * Loop thread only. */
#ifndef FERRY_DRIFTWATCH_H
#define FERRY_DRIFTWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "drift.h"
#include "ferryd.h"

/* A service with a current revision, and where it should run. */
struct dw_service {
	char name[64];
	uint64_t revision;
	uint64_t deployment;		/* the one that made it current */
	char image[256];		/* as asked */
	char digest[300];
	int catch_up;			/* catch_up: auto */
	int in_flight;			/* a deployment of it runs (or
					 * where it runs is not known):
					 * not judged */
	char (*hosts)[HOST_NAME_MAX_LEN + 1];	/* where it should run */
	int *missed;			/* ... and were offline during it (1)
					 * or left out as drained (2) */
	size_t nhosts;
};

/* One finding on one host, with what catch-up does about it. */
struct dw_row {
	struct host *host;
	struct drift_finding f;
	enum drift_verdict verdict;
	char catch_up[256];		/* in words; "" for DRIFT_CU_NO */
};

struct driftwatch {
	struct dw_service *svcs;
	size_t nsvcs;
	struct dw_row *rows;
	size_t nrows;
};

/* driftwatch_gather judges every online host whose Docker answers against
 * every service; 0 or FERR_NOMEM / the store's error (dw then empty).
 * driftwatch_free is safe on a zeroed one. */
int driftwatch_gather(struct ferryd *fd, struct driftwatch *dw);
void driftwatch_free(struct driftwatch *dw);
/* driftwatch_service finds a gathered service by name (NULL: none). */
const struct dw_service *driftwatch_service(const struct driftwatch *dw,
    const char *name);
/* driftwatch_should_run: whether service s belongs on host. */
int driftwatch_should_run(const struct dw_service *s, const char *host);
/* driftwatch_row finds the finding of service on host (NULL: none). */
const struct dw_row *driftwatch_row(const struct driftwatch *dw,
    const char *host, const char *service);

/* driftwatch_removed: an operator removed service from host by hand
 * through ferry (`ferry swap HOST --remove SERVICE`, by actor): the drift
 * shows, and catch-up leaves it until a deployment makes another
 * revision current or the service runs there again.  Recorded in the
 * store (drift_marks) before it is kept in memory, so that a restart of
 * ferryd keeps it; a store that fails is logged, and the mark is then
 * kept in memory only. */
void driftwatch_removed(struct ferryd *fd, const char *host,
    const char *service, const char *actor);

/* driftwatch_tick, from the sweep (monotonic now_ms; it works every 2 s
 * at most): notes how the catch-ups it started ended, starts the ones
 * drift_catch_up says go, and hands /metrics the services' containers,
 * health and drift per host. */
void driftwatch_tick(struct ferryd *fd, uint64_t now_ms);

#endif
