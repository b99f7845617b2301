/* SPDX-License-Identifier: Apache-2.0 */
/* views.c: what the CLI reads about deployments (status, history, the
 * audit log), as the database holds it: the engine records every state it
 * reaches before anything else moves, so the database is current. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferr.h"
#include "analysis.h"
#include "clock.h"
#include "driftwatch.h"
#include "ferryd.h"
#include "traffic.h"


/* ---- ferry-proxy's counts, as the CLI reads them ---------------------- */

/* The windows `ferry hosts` and `ferry status` read. */
static const uint64_t windows[] = { 60000, TRAFFIC_WINDOW_MS };
#define NWINDOWS (sizeof(windows) / sizeof(windows[0]))
#define REVISIONS_SHOWN 8

/* A heap figure with its storage: free() of the message frees all. */
struct fig {
	Ferry__TrafficFigures f;
	uint64_t cls[TRAFFIC_CLASSES];
	char service[TRAFFIC_NAME_MAX + 1];
	char host[TRAFFIC_NAME_MAX + 1];
};

struct pstate {
	Ferry__ProxyState ps;
	struct traffic_host th;
};

Ferry__ProxyState *
views_proxy_state(struct ferryd *fd, const char *host)
{
	struct pstate *p = calloc(1, sizeof(*p));
	uint64_t now = clock_mono_ms();

	if (p == NULL)
		return NULL;
	ferry__proxy_state__init(&p->ps);
	traffic_host_get(fd->traffic, host, &p->th);
	switch (p->th.state) {
	case TRAFFIC_OK:
		p->ps.state = "ok";
		break;
	case TRAFFIC_NONE:
		p->ps.state = "none";
		break;
	case TRAFFIC_UNANSWERED:
		p->ps.state = "unanswered";
		break;
	default:
		p->ps.state = "unheard";
		break;
	}
	p->ps.error = p->th.error;
	p->ps.version = p->th.version;
	p->ps.uptime_ms = p->th.uptime_ms;
	if (p->th.state == TRAFFIC_OK && now >= p->th.read_ms)
		p->ps.age_ms = now - p->th.read_ms;
	return &p->ps;
}

/* fig_make reads one window of (service, revision) over hosts into a
 * new figure named host (NULL: summed). */
static Ferry__TrafficFigures *
fig_make(struct ferryd *fd, const char *const *hosts, size_t nhosts,
    const char *host, const char *service, uint64_t revision,
    uint64_t window, uint64_t now)
{
	struct fig *g = calloc(1, sizeof(*g));
	struct traffic_figures tf;
	size_t k;

	if (g == NULL)
		return NULL;
	ferry__traffic_figures__init(&g->f);
	g->f.hosts = (uint32_t)traffic_read(fd->traffic, hosts, nhosts,
	    service, revision, 0, window, now, &tf);
	snprintf(g->service, sizeof(g->service), "%s", service);
	snprintf(g->host, sizeof(g->host), "%s", host ? host : "");
	g->f.service = g->service;
	g->f.host = g->host;
	g->f.revision = revision;
	g->f.window_ms = window;
	g->f.span_ms = tf.span_ms;
	g->f.requests = tf.c.v[TC_REQUESTS];
	for (k = 0; k < TRAFFIC_CLASSES; k++)
		g->cls[k] = tf.c.v[TC_CLASS + k];
	g->f.status_class = g->cls;
	g->f.n_status_class = TRAFFIC_CLASSES;
	g->f.failed_refused = tf.c.v[TC_FAILED + 0];
	g->f.failed_reset = tf.c.v[TC_FAILED + 1];
	g->f.failed_timeout = tf.c.v[TC_FAILED + 2];
	g->f.failed_unanswered = tf.c.v[TC_UNANSWERED];
	g->f.rate = tf.rate;
	g->f.error_rate = tf.error_rate;
	g->f.p50_ms = tf.p50_ms;
	g->f.p95_ms = tf.p95_ms;
	g->f.p99_ms = tf.p99_ms;
	g->f.active = tf.active;
	return &g->f;
}

struct figlist {
	Ferry__TrafficFigures **f;
	size_t n, cap;
	int failed;
};

static void
figlist_add(struct figlist *l, Ferry__TrafficFigures *f)
{
	Ferry__TrafficFigures **nf;
	size_t cap;

	if (f == NULL) {
		l->failed = 1;
		return;
	}
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 8;
		if ((nf = realloc(l->f, cap * sizeof(*nf))) == NULL) {
			free(f);
			l->failed = 1;
			return;
		}
		l->f = nf;
		l->cap = cap;
	}
	l->f[l->n++] = f;
}

void
views_traffic_free(Ferry__TrafficFigures **f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(f[i]);
	free(f);
}

/* A heap refusal figure with its storage: free() frees it all. */
struct rfig {
	Ferry__RefusalFigures f;
	Ferry__ServiceRefusals c;
	char service[TRAFFIC_NAME_MAX + 1];
};

static Ferry__RefusalFigures *
rfig_make(struct ferryd *fd, const char *host, const char *service,
    uint64_t window, uint64_t now)
{
	struct rfig *g = calloc(1, sizeof(*g));
	const char *one[1] = { host };
	struct traffic_counts c;

	if (g == NULL)
		return NULL;
	ferry__refusal_figures__init(&g->f);
	ferry__service_refusals__init(&g->c);
	traffic_read_refusals(fd->traffic, one, 1, service, window, now, &c);
	snprintf(g->service, sizeof(g->service), "%s", service);
	g->f.service = g->service;
	g->f.window_ms = window;
	g->f.counts = &g->c;
	g->c.no_target = c.v[TR_NO_TARGET];
	g->c.held_expired = c.v[TR_HELD_EXPIRED];
	g->c.bad_request = c.v[TR_BAD_REQUEST];
	g->c.header_timeout = c.v[TR_HEADER_TIMEOUT];
	g->c.body_too_large = c.v[TR_BODY_TOO_LARGE];
	g->c.header_too_large = c.v[TR_HEADER_TOO_LARGE];
	g->c.client_aborted = c.v[TR_CLIENT_ABORTED];
	g->c.drain_closed = c.v[TR_DRAIN_CLOSED];
	return &g->f;
}

struct host_series {
	struct ferryd *fd;
	struct figlist *l;
	Ferry__RefusalFigures **r;
	size_t nr, capr;
	int failed;
	uint64_t now;
};

static void
rlist_add(struct host_series *hs, Ferry__RefusalFigures *f)
{
	Ferry__RefusalFigures **nr;
	size_t cap;

	if (f == NULL) {
		hs->failed = 1;
		return;
	}
	if (hs->nr == hs->capr) {
		cap = hs->capr ? hs->capr * 2 : 8;
		if ((nr = realloc(hs->r, cap * sizeof(*nr))) == NULL) {
			free(f);
			hs->failed = 1;
			return;
		}
		hs->r = nr;
		hs->capr = cap;
	}
	hs->r[hs->nr++] = f;
}

static void
on_host_series(void *arg, const struct traffic_series *s)
{
	struct host_series *hs = arg;
	const char *one[1] = { s->host };
	size_t w;

	if (s->refusals) {
		for (w = 0; w < NWINDOWS; w++)
			rlist_add(hs, rfig_make(hs->fd, s->host, s->service,
			    windows[w], hs->now));
		return;
	}
	for (w = 0; w < NWINDOWS; w++)
		figlist_add(hs->l, fig_make(hs->fd, one, 1, s->host,
		    s->service, s->revision, windows[w], hs->now));
}

int
views_host_traffic(struct ferryd *fd, const char *host,
    Ferry__TrafficFigures ***out, size_t *n, Ferry__RefusalFigures ***rout,
    size_t *nr)
{
	struct figlist l = { NULL, 0, 0, 0 };
	struct host_series hs = { fd, &l, NULL, 0, 0, 0, clock_mono_ms() };

	traffic_each(fd->traffic, host, on_host_series, &hs);
	if (l.failed || hs.failed) {
		views_traffic_free(l.f, l.n);
		views_refusals_free(hs.r, hs.nr);
		return FERR_NOMEM;
	}
	*out = l.f;
	*n = l.n;
	*rout = hs.r;
	*nr = hs.nr;
	return 0;
}

void
views_refusals_free(Ferry__RefusalFigures **f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(f[i]);
	free(f);
}

/* status_traffic fills a deployment's figures: its service per revision
 * (newest first, a few at most), summed over its hosts, each window;
 * and each host's proxy state. */
static int
status_traffic(struct ferryd *fd, Ferry__DeploymentInfo *in)
{
	struct figlist l = { NULL, 0, 0, 0 };
	uint64_t revs[REVISIONS_SHOWN], now = clock_mono_ms();
	const char **names;
	size_t i, w, nrev;

	if ((names = calloc(in->n_hosts + 1, sizeof(*names))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < in->n_hosts; i++) {
		names[i] = in->hosts[i]->name;
		in->hosts[i]->proxy = views_proxy_state(fd,
		    in->hosts[i]->name);
	}
	nrev = in->n_hosts == 0 ? 0 : traffic_revisions(fd->traffic, names,
	    in->n_hosts, in->service, revs, REVISIONS_SHOWN);
	for (i = 0; i < nrev; i++)
		for (w = 0; w < NWINDOWS; w++)
			figlist_add(&l, fig_make(fd, names, in->n_hosts, NULL,
			    in->service, revs[i], windows[w], now));
	free(names);
	in->traffic = l.f;
	in->n_traffic = l.n;
	return l.failed ? FERR_NOMEM : 0;
}

static const char *
on_failure_name(enum rollout_on_failure f)
{
	return f == RO_ON_FAILURE_PAUSE ? "pause" :
	    f == RO_ON_FAILURE_CONTINUE ? "continue" : "rollback";
}

/* info_fill builds the wire form of a deployment (pointing into d and r,
 * which must outlive it); hosts are heap, freed by info_clear. */
/* skipped_fill lists the matched hosts the deployment left out; their
 * names point into one heap copy of d->skipped, freed by info_clear. */
static int
skipped_fill(Ferry__DeploymentInfo *in, const struct deploy_rec *d)
{
	char *copy, *name, *save = NULL, *colon;
	size_t n = 1, i;

	if (d->skipped[0] == '\0')
		return 0;
	for (i = 0; d->skipped[i] != '\0'; i++)
		n += d->skipped[i] == ',';
	if ((copy = strdup(d->skipped)) == NULL ||
	    (in->skipped = calloc(n, sizeof(*in->skipped))) == NULL) {
		free(copy);
		return FERR_NOMEM;
	}
	for (name = strtok_r(copy, ", ", &save); name != NULL &&
	    in->n_skipped < n; name = strtok_r(NULL, ", ", &save)) {
		Ferry__DeployHost *h = calloc(1, sizeof(*h));

		if (h == NULL)
			break;
		ferry__deploy_host__init(h);
		/* "web-3:drained": drained (ferry hosts drain) when it
		 * started; a bare name: offline. */
		if ((colon = strchr(name, ':')) != NULL &&
		    strcmp(colon, ":drained") == 0) {
			*colon = '\0';
			h->cause = "drained when the deployment started";
		} else {
			h->cause = "offline when the deployment started";
		}
		h->name = name;
		h->state = "skipped";
		in->skipped[in->n_skipped++] = h;
	}
	if (in->n_skipped == 0)
		free(copy);
	return 0;
}

/* Intervals read back for a reply. */
struct ivlist {
	Ferry__AnalysisInterval **v;
	size_t n, cap;
};

static void
on_interval(void *arg, const struct interval_rec *iv)
{
	struct ivlist *l = arg;
	Ferry__AnalysisInterval *a, **nv;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;

		if ((nv = realloc(l->v, cap * sizeof(*nv))) == NULL)
			return;
		l->v = nv;
		l->cap = cap;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return;
	ferry__analysis_interval__init(a);
	a->seq = iv->seq;
	a->step = iv->step;
	a->phase = strdup(iv->phase);
	a->start_ms = iv->start_ms;
	a->end_ms = iv->end_ms;
	a->verdict = (char *)analysis_verdict_name(iv->verdict);
	a->reason = strdup(iv->reason);
	a->canary_requests = iv->canary_requests;
	a->canary_errors = iv->canary_errors;
	a->canary_p95_ms = iv->canary_p95_ms;
	a->stable_requests = iv->stable_requests;
	a->stable_errors = iv->stable_errors;
	a->stable_p95_ms = iv->stable_p95_ms;
	a->failed = iv->failed;
	if (a->phase == NULL || a->reason == NULL) {
		free(a->phase);
		free(a->reason);
		free(a);
		return;
	}
	l->v[l->n++] = a;
}

static void
canary_free(Ferry__CanaryInfo *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_recent; i++) {
		free(c->recent[i]->phase);
		free(c->recent[i]->reason);
		free(c->recent[i]);
	}
	free(c->recent);
	free(c);
}

/* canary_fill adds where a canary or blue-green stands to in, with its
 * newest `recent` intervals (0: all). */
static void
canary_fill(struct ferryd *fd, Ferry__DeploymentInfo *in,
    const struct deploy_rec *d, const struct rollout *r, size_t recent)
{
	Ferry__CanaryInfo *c;
	struct ivlist l = { 0 };
	uint64_t now = clock_steady_ms();
	size_t i, hosts = 0;

	if (r->cfg.strategy == RS_ROLLING ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return;
	ferry__canary_info__init(c);
	c->strategy = r->cfg.strategy == RS_BLUE_GREEN ? "blue-green" :
	    "canary";
	c->step = r->step + 1;
	c->steps = r->cfg.nsteps;
	if (r->step < r->cfg.nsteps) {
		c->weight = r->cfg.steps[r->step].weight;
		c->step_for_ms = r->cfg.steps[r->step].for_ms;
		c->step_waits = r->cfg.steps[r->step].wait != 0;
	} else {
		c->weight = 100;
	}
	for (i = 0; i < r->nhosts; i++)
		hosts += r->hosts[i].batch == 0;
	c->hosts = (uint32_t)hosts;
	c->phase = r->phase == CP_SEND ? "send" : r->phase == CP_WEIGHING ?
	    "weighing" : r->phase == CP_RUNNING ? "running" : "done";
	c->step_run_ms = r->step_run_ms;
	if (r->step_since_ms != 0 && now > r->step_since_ms &&
	    !rollout_finished(r))
		c->step_run_ms += now - r->step_since_ms;
	c->analysis = r->cfg.analysis != 0;
	c->interval_ms = r->cfg.interval_ms;
	c->passes = r->passes;
	c->fails = r->fails;
	c->failure_limit = r->cfg.failure_limit;
	c->intervals = r->intervals;
	if (r->cfg.strategy == RS_BLUE_GREEN && r->cfg.nsteps == 2)
		c->keep_old_ms = r->cfg.steps[1].for_ms;
	if (r->cfg.analysis)
		store_intervals_list(fd->store, d->id, recent, on_interval, &l);
	c->recent = l.v;
	c->n_recent = l.n;
	in->canary = c;
}

static int
info_fill(Ferry__DeploymentInfo *in, const struct deploy_rec *d,
    const struct rollout *r)
{
	size_t i;

	ferry__deployment_info__init(in);
	in->id = d->id;
	in->service = (char *)d->service;
	in->revision = d->revision;
	in->previous_revision = d->previous_revision;
	in->state = (char *)rollout_state_name(r->state);
	in->batch = r->batch + 1;
	in->batches = r->nbatches;
	in->batch_size = r->batch_size;
	in->failures = r->failures;
	in->max_failures = r->max_failures;
	in->on_failure = (char *)on_failure_name(r->on_failure);
	in->cause = (char *)r->cause;
	in->image = (char *)d->image;
	in->digest = (char *)d->digest;
	in->previous_image = (char *)d->previous_digest;
	in->created_ms = d->created_ms;
	in->updated_ms = d->updated_ms;
	in->actor = (char *)d->actor;
	in->kind = (char *)d->kind;
	in->hosts = calloc(r->nhosts + 1, sizeof(*in->hosts));
	if (in->hosts == NULL)
		return FERR_NOMEM;
	for (i = 0; i < r->nhosts; i++) {
		Ferry__DeployHost *h = calloc(1, sizeof(*h));
		if (h == NULL)
			return FERR_NOMEM;
		ferry__deploy_host__init(h);
		h->name = (char *)r->hosts[i].name;
		h->batch = r->hosts[i].batch + 1;
		h->state = (char *)rollout_host_state_name(r->hosts[i].state);
		h->cause = (char *)r->hosts[i].cause;
		h->since_ms = r->hosts[i].since_ms;
		in->hosts[in->n_hosts++] = h;
	}
	return skipped_fill(in, d);
}

/* failed_logs gives each failed host of a deployment the last lines its
 * failed swap's container wrote, as recorded with the command (escaped
 * and bounded when they came).  The lines point into one heap copy per
 * host, freed by info_clear. */
static void
failed_logs(struct ferryd *fd, Ferry__DeploymentInfo *in)
{
	char text[FAILED_LOG_BYTES + 1], *copy, *line, *save = NULL, *t;
	size_t i, n;

	for (i = 0; i < in->n_hosts; i++) {
		Ferry__DeployHost *h = in->hosts[i];

		if ((strcmp(h->state, "failed") != 0 &&
		    strcmp(h->state, "revert_failed") != 0) ||
		    store_command_logs_last(fd->store, in->id, h->name, text,
		    sizeof(text)) != 0)
			continue;
		for (t = text; *t == '\n'; t++)
			;	/* the first line starts the copy */
		if ((copy = strdup(t)) == NULL ||
		    (h->logs = calloc(FAILED_LOG_LINES + 1,
		    sizeof(*h->logs))) == NULL) {
			free(copy);
			continue;
		}
		n = 0;
		for (line = strtok_r(copy, "\n", &save); line != NULL &&
		    n < FAILED_LOG_LINES; line = strtok_r(NULL, "\n", &save))
			h->logs[n++] = line;
		h->n_logs = n;
		if (n == 0) {
			free(copy);
			free(h->logs);
			h->logs = NULL;
		}
	}
}

static void
info_clear(Ferry__DeploymentInfo *in)
{
	size_t i;

	views_traffic_free(in->traffic, in->n_traffic);
	in->traffic = NULL;
	in->n_traffic = 0;
	canary_free(in->canary);
	in->canary = NULL;
	for (i = 0; i < in->n_hosts; i++) {
		free(in->hosts[i]->proxy);
		if (in->hosts[i]->n_logs > 0)
			free(in->hosts[i]->logs[0]);	/* the one copy */
		free(in->hosts[i]->logs);
		free(in->hosts[i]);
	}
	free(in->hosts);
	in->hosts = NULL;
	in->n_hosts = 0;
	if (in->n_skipped > 0)
		free(in->skipped[0]->name);	/* the one copy, see above */
	for (i = 0; i < in->n_skipped; i++)
		free(in->skipped[i]);
	free(in->skipped);
	in->skipped = NULL;
	in->n_skipped = 0;
}

/* Deployments read back from the database for a reply. */
struct listing {
	struct deploy_rec *d;
	struct rollout *r;
	size_t n, cap;
};

static void
on_listed(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct listing *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct deploy_rec *nd = realloc(l->d, cap * sizeof(*nd));
		struct rollout *nr;
		if (nd == NULL) {
			free(r->hosts);
			return;
		}
		l->d = nd;
		nr = realloc(l->r, cap * sizeof(*nr));
		if (nr == NULL) {
			free(r->hosts);
			return;
		}
		l->r = nr;
		l->cap = cap;
	}
	l->d[l->n] = *d;
	l->r[l->n] = *r;
	l->n++;
}

static void
listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->r[i].hosts);
	free(l->d);
	free(l->r);
}

/* views_deployments answers with what the database holds (the engine
 * records every state it reaches, so it is current). */
void
views_deployments(struct ferryd *fd, struct rep_slot *slot,
    const char *service, uint64_t id, size_t limit, int traffic)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	struct listing l = { 0 };
	Ferry__DeploymentInfo *infos = NULL, **ptrs = NULL;
	size_t i;

	if (store_deploy_list(fd->store, service, 0, id, limit, on_listed,
	    &l) != 0) {
		ctl_error(slot, "cannot read deployments");
		goto out;
	}
	if (l.n == 0) {
		if (id != 0)
			ctl_error(slot, "no deployment %llu",
			    (unsigned long long)id);
		else if (service && service[0])
			ctl_error(slot, "no deployment of service \"%s\"",
			    service);
		else
			ctl_error(slot, "no deployments yet");
		goto out;
	}
	infos = calloc(l.n, sizeof(*infos));
	ptrs = calloc(l.n, sizeof(*ptrs));
	if (infos == NULL || ptrs == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		info_fill(&infos[i], &l.d[i], &l.r[i]);
		if (traffic)
			failed_logs(fd, &infos[i]);
		canary_fill(fd, &infos[i], &l.d[i], &l.r[i], traffic ? 0 : 3);
		if (traffic)
			status_traffic(fd, &infos[i]);
		ptrs[i] = &infos[i];
	}
	r.ok = 1;
	r.deployments = ptrs;
	r.n_deployments = l.n;
	ctl_reply(slot, &r);
	for (i = 0; i < l.n; i++)
		info_clear(&infos[i]);
out:
	free(infos);
	free(ptrs);
	listing_free(&l);
}

/* ---- drift: ferry hosts, ferry status SERVICE (drift16) ---------------- */

static void
drift_fill(Ferry__DriftInfo *d, const struct dw_row *r)
{
	ferry__drift_info__init(d);
	d->service = (char *)r->f.service;
	d->host = r->host->rec.name;
	d->cause = (char *)drift_cause_name(r->f.cause);
	d->detail = (char *)r->f.text;
	d->runs_revision = r->f.runs;
	d->revision = r->f.revision;
	d->catch_up = (char *)r->catch_up;
}

int
views_host_drift(const struct driftwatch *dw, const char *host,
    Ferry__DriftInfo ***out, size_t *n)
{
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	for (i = 0; i < dw->nrows; i++)
		k += strcmp(dw->rows[i].host->rec.name, host) == 0;
	if (k == 0)
		return 0;
	if ((*out = calloc(k, sizeof(**out))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < dw->nrows; i++) {
		Ferry__DriftInfo *d;

		if (strcmp(dw->rows[i].host->rec.name, host) != 0)
			continue;
		if ((d = malloc(sizeof(*d))) == NULL)
			return FERR_NOMEM;	/* the caller frees *n of them */
		drift_fill(d, &dw->rows[i]);
		(*out)[(*n)++] = d;
	}
	return 0;
}

void
views_drift_free(Ferry__DriftInfo **d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(d[i]);
	free(d);
}

/* service_host_fill: one host of service s as it is now: its state, the
 * service's containers its last heartbeat named, its drift. */
static int
service_host_fill(Ferry__ServiceHostInfo *si, Ferry__DriftInfo *dr,
    const struct driftwatch *dw, const struct dw_service *s,
    struct host *h)
{
	const struct dw_row *r = driftwatch_row(dw, h->rec.name, s->name);
	size_t k;

	ferry__service_host_info__init(si);
	si->name = h->rec.name;
	si->state = (char *)host_state_name(h);
	si->should_run = driftwatch_should_run(s, h->rec.name);
	if (h->status != NULL && h->status->n_containers > 0) {
		si->containers = calloc(h->status->n_containers,
		    sizeof(*si->containers));
		if (si->containers == NULL)
			return FERR_NOMEM;
		for (k = 0; k < h->status->n_containers; k++)
			if (strcmp(h->status->containers[k]->service,
			    s->name) == 0)
				si->containers[si->n_containers++] =
				    h->status->containers[k];
	}
	if (r != NULL) {
		drift_fill(dr, r);
		si->drift = dr;
	}
	return 0;
}

/* service_traffic: the service's figures per revision, summed over the
 * hosts it runs on or should. */
static int
service_traffic(struct ferryd *fd, Ferry__ServiceStatus *ss)
{
	struct figlist l = { NULL, 0, 0, 0 };
	uint64_t revs[REVISIONS_SHOWN], now = clock_mono_ms();
	const char **names;
	size_t i, w, nrev;

	if (ss->n_hosts == 0)
		return 0;
	if ((names = calloc(ss->n_hosts, sizeof(*names))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < ss->n_hosts; i++)
		names[i] = ss->hosts[i]->name;
	nrev = traffic_revisions(fd->traffic, names, ss->n_hosts,
	    ss->service, revs, REVISIONS_SHOWN);
	for (i = 0; i < nrev; i++)
		for (w = 0; w < NWINDOWS; w++)
			figlist_add(&l, fig_make(fd, names, ss->n_hosts, NULL,
			    ss->service, revs[i], windows[w], now));
	free(names);
	ss->traffic = l.f;
	ss->n_traffic = l.n;
	return l.failed ? FERR_NOMEM : 0;
}

/* One service stopped on purpose, as views_stopped hands it out: the
 * ServiceStatus first, so that the array of them is freed through the
 * first pointer. */
struct stopped_note {
	Ferry__ServiceStatus ss;
	struct service_rec sr;
};

int
views_stopped(struct ferryd *fd, const struct driftwatch *dw,
    Ferry__ServiceStatus ***out, size_t *n)
{
	struct stopped_note *v;
	Ferry__ServiceStatus **p;
	size_t i;

	*out = NULL;
	*n = 0;
	if (dw->nsvcs == 0)
		return 0;
	v = calloc(dw->nsvcs, sizeof(*v));
	p = calloc(dw->nsvcs, sizeof(*p));
	if (v == NULL || p == NULL) {
		free(v);
		free(p);
		return FERR_NOMEM;
	}
	for (i = 0; i < dw->nsvcs; i++) {
		struct stopped_note *sn = &v[*n];

		if (store_service_state(fd->store, dw->svcs[i].name,
		    &sn->sr) != 0 || strcmp(sn->sr.lifecycle, "stopped") != 0)
			continue;
		ferry__service_status__init(&sn->ss);
		sn->ss.service = (char *)dw->svcs[i].name;
		sn->ss.lifecycle = sn->sr.lifecycle;
		sn->ss.lifecycle_by = sn->sr.by;
		sn->ss.lifecycle_at_ms = sn->sr.at_ms;
		p[(*n)++] = &sn->ss;
	}
	if (*n == 0) {
		free(v);
		free(p);
		return 0;
	}
	*out = p;
	return 0;
}

void
views_stopped_free(Ferry__ServiceStatus **s, size_t n)
{
	if (s == NULL)
		return;
	if (n > 0)
		free(s[0]);	/* the first of the array of stopped_note */
	free(s);
}

void
views_service(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	Ferry__ServiceStatus ss = FERRY__SERVICE_STATUS__INIT;
	Ferry__ServiceHostInfo *si = NULL, **sip = NULL;
	Ferry__DriftInfo *dr = NULL;
	Ferry__DeploymentInfo info, *infop = &info;
	struct listing l = { 0 };
	struct driftwatch dw;
	struct service_rec sr;
	const struct dw_service *s;
	size_t i, n = 0;
	int have_info = 0;

	memset(&dw, 0, sizeof(dw));
	if (ref->service == NULL || ref->service[0] == '\0') {
		ctl_error(slot, "status of a service needs its name");
		return;
	}
	if (driftwatch_gather(fd, &dw) != 0) {
		ctl_error(slot, "cannot read the services");
		return;
	}
	if (store_deploy_list(fd->store, ref->service, 0, 0, 1, on_listed,
	    &l) != 0) {
		ctl_error(slot, "cannot read deployments");
		goto out;
	}
	s = driftwatch_service(&dw, ref->service);
	if (s == NULL && l.n == 0) {
		ctl_error(slot, "no service \"%s\" (ferry history lists a "
		    "service's deployments; ferry hosts what runs where)",
		    ref->service);
		goto out;
	}
	ss.service = ref->service;
	/* Stopped or removed on purpose: by whom, when. */
	memset(&sr, 0, sizeof(sr));
	if (store_service_state(fd->store, ref->service, &sr) == 0 &&
	    sr.lifecycle[0] != '\0') {
		ss.lifecycle = sr.lifecycle;
		ss.lifecycle_by = sr.by;
		ss.lifecycle_at_ms = sr.at_ms;
	}
	si = calloc(fd->nhosts + 1, sizeof(*si));
	sip = calloc(fd->nhosts + 1, sizeof(*sip));
	dr = calloc(fd->nhosts + 1, sizeof(*dr));
	if (si == NULL || sip == NULL || dr == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	if (s != NULL) {
		ss.revision = s->revision;
		ss.image = (char *)s->image;
		ss.digest = (char *)s->digest;
		ss.catch_up = s->catch_up;
		ss.deployment = s->deployment;
		/* Every host where it should run, or runs. */
		for (i = 0; i < fd->nhosts; i++) {
			struct host *h = fd->hosts[i];
			size_t k;
			int runs = 0;

			for (k = 0; h->status != NULL &&
			    k < h->status->n_containers; k++)
				runs |= strcmp(h->status->containers[k]->service,
				    s->name) == 0;
			if (!runs && !driftwatch_should_run(s, h->rec.name))
				continue;
			if (service_host_fill(&si[n], &dr[n], &dw, s, h) != 0) {
				sip[n] = &si[n];
				n++;
				ctl_error(slot, "ferryd is out of memory");
				goto out;
			}
			sip[n] = &si[n];
			n++;
		}
	}
	ss.hosts = sip;
	ss.n_hosts = n;
	if (service_traffic(fd, &ss) != 0) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	if (l.n > 0) {
		info_fill(&info, &l.d[0], &l.r[0]);
		canary_fill(fd, &info, &l.d[0], &l.r[0], 3);
		have_info = 1;
		r.deployments = &infop;
		r.n_deployments = 1;
	}
	r.ok = 1;
	r.service = &ss;
	ctl_reply(slot, &r);
out:
	if (have_info)
		info_clear(&info);
	views_traffic_free(ss.traffic, ss.n_traffic);
	for (i = 0; i < n; i++)
		free(si[i].containers);
	free(si);
	free(sip);
	free(dr);
	listing_free(&l);
	driftwatch_free(&dw);
}

void
deploy_status(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref)
{
	views_deployments(fd, slot, ref->service, ref->id, 1, 1);
}

void
deploy_history(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref)
{
	if (ref->service == NULL || ref->service[0] == '\0') {
		ctl_error(slot, "history needs a SERVICE");
		return;
	}
	views_deployments(fd, slot, ref->service, 0, 50, 0);
}

/* Events read back for one reply, at most cap of them. */
struct event_list {
	struct event_rec *recs;
	size_t n, cap;
};

static void
on_event(void *arg, const struct event_rec *e)
{
	struct event_list *l = arg;

	if (l->n < l->cap)
		l->recs[l->n++] = *e;
}

void
deploy_events(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__EventsRequest *req)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	struct event_list l = { NULL, 0, 0 };
	Ferry__Event *ev = NULL, **ptrs = NULL;
	struct event_filter f = { 0 };
	size_t i;

	f.deployment = req->deployment;
	f.kind = req->kind;
	f.host = req->host;
	f.since_ms = req->since_ms;
	f.after_id = req->after_id;
	f.before_id = req->before_id;
	f.newest_first = req->newest_first;
	/* `ferry events` asks for one more than it shows (at most 10000). */
	l.cap = req->limit == 0 ? 1000 : req->limit <= 10001 ? req->limit :
	    10001;
	f.limit = l.cap;
	l.recs = calloc(l.cap, sizeof(*l.recs));
	ev = calloc(l.cap, sizeof(*ev));
	ptrs = calloc(l.cap, sizeof(*ptrs));
	if (l.recs == NULL || ev == NULL || ptrs == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	if (store_events_list(fd->store, &f, on_event, &l) != 0) {
		ctl_error(slot, "cannot read events");
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		ferry__event__init(&ev[i]);
		ev[i].id = l.recs[i].id;
		ev[i].at_ms = l.recs[i].at_ms;
		ev[i].actor = l.recs[i].actor;
		ev[i].kind = l.recs[i].kind;
		ev[i].host = l.recs[i].host;
		ev[i].detail = l.recs[i].detail;
		ev[i].deployment = l.recs[i].deployment;
		ev[i].times = l.recs[i].times;
		ptrs[i] = &ev[i];
	}
	r.ok = 1;
	r.events = ptrs;
	r.n_events = l.n;
	ctl_reply(slot, &r);
out:
	free(l.recs);
	free(ev);
	free(ptrs);
}

/* ---- choosing hosts, planning, starting ------------------------------- */

