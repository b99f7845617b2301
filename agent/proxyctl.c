/* SPDX-License-Identifier: Apache-2.0 */
/* proxyctl.c: the agent's calls to its ferry-proxy (proxyctl.h), each one
 * request on the control socket through proxywire_call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ferr.h"
#include "proxyctl.h"
#include "proxywire.h"

#define DEFAULT_DRAIN_MS	30000
#define DEFAULT_PAUSE_MS	30000
#define DEFAULT_UPSTREAM_MS	60000

void
proxyctl_route_init(struct proxyctl_route *r, const char *service,
    const char *address, uint32_t port, const Ferry__ProxySettings *ps,
    int http_check)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->service, sizeof(r->service), "%s", service);
	snprintf(r->listen_address, sizeof(r->listen_address), "%s",
	    address);
	r->listen_port = port;
	r->mode = http_check ? FERRY__PROXY_MODE__PROXY_HTTP :
	    FERRY__PROXY_MODE__PROXY_TCP;
	r->drain_timeout_ms = DEFAULT_DRAIN_MS;
	r->max_pause_ms = DEFAULT_PAUSE_MS;
	r->upstream_timeout_ms = DEFAULT_UPSTREAM_MS;
	if (ps == NULL)
		return;
	r->mode = ps->mode;
	if (ps->drain_timeout_ms)
		r->drain_timeout_ms = ps->drain_timeout_ms;
	if (ps->max_pause_ms)
		r->max_pause_ms = ps->max_pause_ms;
	if (ps->upstream_timeout_ms)
		r->upstream_timeout_ms = ps->upstream_timeout_ms;
	r->max_body = ps->max_body;
	r->sticky = ps->sticky;
}

int
proxyctl_add_target(struct proxyctl_route *r, uint64_t revision,
    const char *address, uint32_t port, uint32_t weight)
{
	struct proxyctl_target *t;

	if (r->ntargets >= PROXYCTL_TARGETS_MAX)
		return FERR_TOOBIG;
	if (strlen(address) >= sizeof(t->address))
		return FERR_ARG;
	t = &r->targets[r->ntargets++];
	memset(t, 0, sizeof(*t));
	t->revision = revision;
	snprintf(t->address, sizeof(t->address), "%s", address);
	t->port = port;
	t->weight = weight;
	return 0;
}

/* call sends rq and checks the reply's ok; what names the request for
 * err ("set the route of web"). */
static int
call(const char *ctl, const Ferry__ProxyRequest *rq, Ferry__ProxyReply **out,
    const char *what, char *err, size_t errlen)
{
	char why[300];
	int rc;

	*out = NULL;
	if (ctl == NULL || ctl[0] == '\0') {
		snprintf(err, errlen, "ferry-proxy: %s: no control socket "
		    "set (proxy_control)", what);
		return FERR_ARG;
	}
	if ((rc = proxywire_call(ctl, rq, out, NULL, NULL,
	    PROXYCTL_TIMEOUT_MS, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "ferry-proxy: %s: %s", what, why);
		return rc;
	}
	if (!(*out)->ok) {
		snprintf(err, errlen, "ferry-proxy: %s: %s", what,
		    (*out)->error && (*out)->error[0] ? (*out)->error :
		    "refused without a reason");
		ferry__proxy_reply__free_unpacked(*out, NULL);
		*out = NULL;
		return FERR_STATE;
	}
	return 0;
}

/* route_to fills pr (with t and tp for its targets) from r. */
static void
route_to(const struct proxyctl_route *r, Ferry__ProxyRoute *pr,
    Ferry__ProxyTarget *t, Ferry__ProxyTarget **tp)
{
	size_t i;

	ferry__proxy_route__init(pr);
	pr->service = (char *)r->service;
	pr->mode = r->mode;
	pr->listen_address = (char *)r->listen_address;
	pr->listen_port = r->listen_port;
	pr->drain_timeout_ms = r->drain_timeout_ms;
	pr->max_pause_ms = r->max_pause_ms;
	pr->upstream_timeout_ms = r->upstream_timeout_ms;
	pr->max_body = r->max_body;
	pr->hold = r->hold;
	pr->sticky = r->sticky;
	for (i = 0; i < r->ntargets && i < PROXYCTL_TARGETS_MAX; i++) {
		ferry__proxy_target__init(&t[i]);
		t[i].revision = r->targets[i].revision;
		t[i].address = (char *)r->targets[i].address;
		t[i].port = r->targets[i].port;
		t[i].weight = r->targets[i].weight;
		tp[i] = &t[i];
	}
	pr->targets = tp;
	pr->n_targets = i;
}

int
proxyctl_set(const char *ctl, const struct proxyctl_route *r, char *err,
    size_t errlen)
{
	return proxyctl_set_ports(ctl, r, 1, err, errlen);
}

int
proxyctl_set_ports(const char *ctl, const struct proxyctl_route *rs,
    size_t n, char *err, size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyPortSet ps = FERRY__PROXY_PORT_SET__INIT;
	Ferry__ProxyRoute pr[PROXYCTL_PORTS_MAX], *prp[PROXYCTL_PORTS_MAX];
	Ferry__ProxyTarget t[PROXYCTL_PORTS_MAX][PROXYCTL_TARGETS_MAX];
	Ferry__ProxyTarget *tp[PROXYCTL_PORTS_MAX][PROXYCTL_TARGETS_MAX];
	Ferry__ProxyReply *rep = NULL;
	char what[200];
	size_t i;
	int rc;

	if (n == 0 || n > PROXYCTL_PORTS_MAX) {
		snprintf(err, errlen, "ferry-proxy: %s: %zu ports, 1 to %d",
		    n > 0 ? rs[0].service : "?", n, PROXYCTL_PORTS_MAX);
		return FERR_ARG;
	}
	for (i = 0; i < n; i++) {
		route_to(&rs[i], &pr[i], t[i], tp[i]);
		prp[i] = &pr[i];
	}
	if (n == 1) {
		rq.op_case = FERRY__PROXY_REQUEST__OP_SET;
		rq.set = &pr[0];
		snprintf(what, sizeof(what), "set the route of %s",
		    rs[0].service);
	} else {
		ps.service = (char *)rs[0].service;
		ps.routes = prp;
		ps.n_routes = n;
		rq.op_case = FERRY__PROXY_REQUEST__OP_PORTS;
		rq.ports = &ps;
		snprintf(what, sizeof(what), "set the %zu routes of %s", n,
		    rs[0].service);
	}
	rc = call(ctl, &rq, &rep, what, err, errlen);
	if (rep != NULL)
		ferry__proxy_reply__free_unpacked(rep, NULL);
	return rc;
}

int
proxyctl_remove(const char *ctl, const char *service, char *err,
    size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rep = NULL;
	struct proxyctl_route r;
	char what[200];
	int rc;

	/* Only a route that exists: "no such route" is not an error. */
	if ((rc = proxyctl_get(ctl, service, &r, err, errlen)) ==
	    FERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
	rq.remove = (char *)service;
	snprintf(what, sizeof(what), "remove the route of %s", service);
	rc = call(ctl, &rq, &rep, what, err, errlen);
	if (rep != NULL)
		ferry__proxy_reply__free_unpacked(rep, NULL);
	return rc;
}

/* route_from copies a route of a Status reply into r. */
static void
route_from(const Ferry__ProxyRoute *p, struct proxyctl_route *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	snprintf(r->service, sizeof(r->service), "%s", p->service ?
	    p->service : "");
	snprintf(r->listen_address, sizeof(r->listen_address), "%s",
	    p->listen_address ? p->listen_address : "");
	r->listen_port = p->listen_port;
	r->mode = p->mode;
	r->drain_timeout_ms = p->drain_timeout_ms;
	r->max_pause_ms = p->max_pause_ms;
	r->upstream_timeout_ms = p->upstream_timeout_ms;
	r->max_body = p->max_body;
	r->sticky = p->sticky;
	r->hold = p->hold;
	r->removed = p->removed;
	for (i = 0; i < p->n_targets && r->ntargets < PROXYCTL_TARGETS_MAX;
	    i++) {
		const Ferry__ProxyTarget *t = p->targets[i];
		struct proxyctl_target *o = &r->targets[r->ntargets++];

		o->revision = t->revision;
		snprintf(o->address, sizeof(o->address), "%s", t->address ?
		    t->address : "");
		o->port = t->port;
		o->weight = t->weight;
		o->draining = t->draining;
		o->active = t->active;
	}
}

static int
status(const char *ctl, Ferry__ProxyReply **rep, char *err, size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;

	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	return call(ctl, &rq, rep, "status", err, errlen);
}

int
proxyctl_get(const char *ctl, const char *service, struct proxyctl_route *r,
    char *err, size_t errlen)
{
	Ferry__ProxyReply *rep = NULL;
	size_t i;
	int rc;

	if ((rc = status(ctl, &rep, err, errlen)) != 0)
		return rc;
	rc = FERR_NOTFOUND;
	for (i = 0; i < rep->n_routes; i++)
		if (rep->routes[i]->service != NULL &&
		    !rep->routes[i]->removed &&
		    strcmp(rep->routes[i]->service, service) == 0) {
			route_from(rep->routes[i], r);
			rc = 0;
			break;
		}
	ferry__proxy_reply__free_unpacked(rep, NULL);
	if (rc == FERR_NOTFOUND)
		snprintf(err, errlen, "ferry-proxy: no route for %s", service);
	return rc;
}

int
proxyctl_get_all(const char *ctl, const char *service,
    struct proxyctl_route *rs, size_t max, size_t *n, char *err,
    size_t errlen)
{
	Ferry__ProxyReply *rep = NULL;
	size_t i;
	int rc, pass;

	*n = 0;
	if ((rc = status(ctl, &rep, err, errlen)) != 0)
		return rc;
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < rep->n_routes && *n < max; i++)
			if (rep->routes[i]->service != NULL &&
			    rep->routes[i]->removed == (pass == 1) &&
			    strcmp(rep->routes[i]->service, service) == 0)
				route_from(rep->routes[i], &rs[(*n)++]);
	ferry__proxy_reply__free_unpacked(rep, NULL);
	return 0;
}

int
proxyctl_routes(const char *ctl,
    void (*fn)(void *arg, const struct proxyctl_route *r), void *arg,
    char *err, size_t errlen)
{
	Ferry__ProxyReply *rep = NULL;
	struct proxyctl_route r;
	size_t i;
	int rc;

	if ((rc = status(ctl, &rep, err, errlen)) != 0)
		return rc;
	for (i = 0; i < rep->n_routes; i++) {
		route_from(rep->routes[i], &r);
		fn(arg, &r);
	}
	ferry__proxy_reply__free_unpacked(rep, NULL);
	return 0;
}

static void
nap(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
proxyctl_wait_drained(const char *ctl, const char *service,
    const char *address, uint32_t port, uint32_t timeout_ms,
    int (*stopped)(void), uint64_t *finished, char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ms() + timeout_ms;
	struct proxyctl_route *rs;
	char at[80];
	int first = 1, rc;
	size_t i, k, n;

	*finished = 0;
	if (port != 0)
		snprintf(at, sizeof(at), "%s:%u", address, port);
	else
		snprintf(at, sizeof(at), "%s", address);
	if ((rs = calloc(2 * PROXYCTL_PORTS_MAX, sizeof(*rs))) == NULL) {
		snprintf(err, errlen, "ferry-proxy: %s: out of memory",
		    service);
		return FERR_NOMEM;
	}
	for (;;) {
		uint64_t active = 0;
		int found = 0;

		if ((rc = proxyctl_get_all(ctl, service, rs,
		    2 * PROXYCTL_PORTS_MAX, &n, err, errlen)) != 0)
			break;
		for (k = 0; k < n; k++)
			for (i = 0; i < rs[k].ntargets; i++)
				if (strcmp(rs[k].targets[i].address,
				    address) == 0 && (port == 0 ||
				    rs[k].targets[i].port == port)) {
					active += rs[k].targets[i].active;
					found = 1;
				}
		if (first)
			*finished = active;
		first = 0;
		if (!found || active == 0)
			break;	/* rc 0; no route: nothing in flight */
		if (stopped != NULL && stopped()) {
			snprintf(err, errlen, "ferry-proxy: %s: stopped while "
			    "%s drained", service, at);
			rc = FERR_CLOSED;
			break;
		}
		if (clock_mono_ms() >= deadline) {
			snprintf(err, errlen, "ferry-proxy: %s: %llu still in "
			    "flight on %s after %u ms", service,
			    (unsigned long long)active, at, timeout_ms);
			rc = FERR_TIMEOUT;
			break;
		}
		nap(PROXYCTL_POLL_MS);
	}
	free(rs);
	return rc;
}

int
proxyctl_drain(const char *ctl, int drained, char *err, size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rep = NULL;
	int rc;

	rq.op_case = FERRY__PROXY_REQUEST__OP_DRAIN;
	rq.drain = drained != 0;
	rc = call(ctl, &rq, &rep, drained ? "drain every route" :
	    "undrain every route", err, errlen);
	if (rep != NULL)
		ferry__proxy_reply__free_unpacked(rep, NULL);
	return rc;
}
