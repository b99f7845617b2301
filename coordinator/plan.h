/* SPDX-License-Identifier: Apache-2.0 */
/* plan.h: choosing a spec's hosts and planning its rollout, over a
 * snapshot of the fleet.  Pure: no ferryd, no store, no clock; ferryd's
 * shell (deploy.c) takes the snapshot and acts on the answer, and the unit
 * tests drive it with made-up fleets.
 *
 * What can be known before anything starts is checked here, so that
 * `ferry plan` and `ferry deploy` refuse it with the same message and
 * nothing is recorded: a host named that does not exist or is not
 * accepted, no host matching, a host port another service of the same
 * host already claims, start-first with a host port on a host without a
 * proxy that answers (the new container cannot take the port while the old
 * one holds it: only ferry-proxy can move traffic between them), a bind
 * outside a host's allowed bind paths.  Matched hosts that are offline are never skipped in silence:
 * they are listed, and a deployment refuses to start while there are any
 * unless told to skip them. */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ferryd.h"
#include "rollout.h"
#include "spec.h"

/* A host port held on a host by another service's container. */
struct plan_claim {
	const char *service;
	uint32_t port;
};

/* One host of the fleet, as the planner sees it. */
struct plan_host {
	const char *name;
	int accepted;			/* HOST_ACCEPTED */
	const char *state;		/* for messages: "pending", "offline" */
	int online;
	const struct label *labels;
	size_t nlabels;
	int runs_service;		/* a container of the spec's service
					 * runs there */
	const struct plan_claim *claims;
	size_t nclaims;
	/* Its latest heartbeat carried ferry-proxy's counts without an
	 * error: the proxy serves its host ports.  When not, proxy_why says
	 * why in words ("no proxy answer: ..."). */
	int proxy;
	const char *proxy_why;
	/* An operator drained it (ferry hosts drain): left out of the
	 * plan, named as drained, whatever plan_offline says. */
	int drained;
	/* It has sent a heartbeat since ferryd started, which said the
	 * folders its containers may bind from (its agent's
	 * --allowed-bind-paths; "" or NULL: none). */
	int heard;
	const char *allowed_binds;
};

/* What offline hosts matched by a spec do to a deployment. */
enum plan_offline {
	PLAN_OFFLINE_LIST = 0,		/* ferry plan: listed, nothing refused */
	PLAN_OFFLINE_REFUSE,		/* ferry deploy: refused */
	PLAN_OFFLINE_SKIP,		/* --skip-offline: left out, said so */
};

/* A plan: the hosts rolled to and their batches, the hosts left out. */
struct plan {
	const char **names;		/* online hosts, in name order */
	int *prev;			/* each runs the service already */
	size_t n;
	const char **offline;		/* matched but offline, name order */
	size_t noffline;
	const char **drained;		/* matched but drained, name order */
	size_t ndrained;
	struct rollout r;		/* planned, over names */
};

/*
 * plan_make chooses the hosts of s among fleet[0..n) (names point into the
 * fleet, which must outlive the plan), checks what can be checked before
 * anything starts and plans the rollout.  Returns 0, or FERR_NOTFOUND,
 * FERR_STATE, FERR_EXISTS, FERR_ARG or FERR_NOMEM with one line in why
 * that names what is wrong; p is then empty.  plan_free releases it; safe
 * on a zeroed plan.
 */
int plan_make(const struct spec *s, const struct plan_host *fleet, size_t n,
    enum plan_offline offline, struct plan *p, char *why, size_t whylen);
void plan_free(struct plan *p);

/* plan_has_labels: a host with these labels carries every label the
 * spec's hosts name (a spec that names hosts by name has none: 1). */
int plan_has_labels(const struct spec *s, const struct label *labels,
    size_t nlabels);

/* plan_strategy_text writes how s rolls out over r's hosts, in words:
 * "rolling", "canary on 2 of 6 hosts: 5% for 15m, 50% until ferry
 * promote; then the other hosts in 2 batches; judged every 30s ...",
 * "blue-green on 6 hosts: ...". */
void plan_strategy_text(const struct spec *s, const struct rollout *r,
    char *buf, size_t len);

/* plan_canary_of fills c with s's canary or blue-green plan (strategy
 * RS_ROLLING and nothing else for a rolling spec): the steps (blue-green:
 * 0% then 100% for keep_old), the analysis' pace, failure_limit,
 * inconclusive and progress_deadline. */
void plan_canary_of(const struct spec *s, struct rollout_canary *c);

/* plan_offline_text writes the matched hosts left out, "web-2, web-5,
 * web-7:drained" (offline ones bare, drained ones marked), into buf (as
 * many as len holds; "" for none). */
void plan_offline_text(const struct plan *p, char *buf, size_t len);

/*
 * plan_diff says in words what changes from spec a (NULL: the service
 * runs nowhere yet) to spec b, one line a change, appended to *out (heap
 * strings; *n counts them).  Values of env are never shown, only that they
 * changed.
 */
void plan_diff(const struct spec *a, const struct spec *b, char ***out,
    size_t *n);

#endif
