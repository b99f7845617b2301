/* SPDX-License-Identifier: Apache-2.0 */
/* driftwatch.c: drift across the fleet, and catch-ups (driftwatch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "driftwatch.h"
#include "ferr.h"
#include "log.h"
#include "metrics.h"
#include "spec.h"

#define TICK_MS		2000u	/* catch-ups and /metrics this often */
#define LOOKBACK	50	/* deployments read back for a service */
#define FINDINGS_MAX	64	/* per host */

/* ---- services: what should run where --------------------------------- */

struct svc_list {
	struct dw_service *v;
	size_t n, cap;
	int failed;
};

static void
on_service(void *arg, const char *name, uint64_t current)
{
	struct svc_list *l = arg;
	struct dw_service *s;

	if (l->failed)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;

		if ((s = realloc(l->v, cap * sizeof(*s))) == NULL) {
			l->failed = 1;
			return;
		}
		l->v = s;
		l->cap = cap;
	}
	s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->revision = current;
	s->catch_up = 1;
}

/* hosts_add puts host into s's hosts (once), missed or not. */
static int
hosts_add(struct dw_service *s, const char *host, int missed)
{
	char (*nh)[HOST_NAME_MAX_LEN + 1];
	int *nm;
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i], host) == 0) {
			if (s->missed[i] == 0)
				s->missed[i] = missed;
			return 0;
		}
	if ((nh = realloc(s->hosts, (s->nhosts + 1) * sizeof(*nh))) == NULL)
		return FERR_NOMEM;
	s->hosts = nh;
	if ((nm = realloc(s->missed, (s->nhosts + 1) * sizeof(*nm))) == NULL)
		return FERR_NOMEM;
	s->missed = nm;
	snprintf(s->hosts[s->nhosts], sizeof(s->hosts[0]), "%s", host);
	s->missed[s->nhosts++] = missed;
	return 0;
}

/* The newest deployment of a service that succeeded and says where it
 * runs: a catch-up moves one host and says nothing of the others. */
struct target {
	struct dw_service *s;
	int found, in_flight, rc;
};

static void
on_deployment(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct target *t = arg;
	struct dw_service *s = t->s;
	size_t i;

	if (!rollout_finished(r))
		t->in_flight = 1;
	if (t->found || r->state != RO_SUCCEEDED || d->revision !=
	    s->revision || strcmp(d->kind, DEPLOY_KIND_CATCH_UP) == 0) {
		free(r->hosts);
		return;
	}
	t->found = 1;
	s->deployment = d->id;
	snprintf(s->image, sizeof(s->image), "%s", d->image);
	for (i = 0; i < r->nhosts && t->rc == 0; i++) {
		const struct rollout_host *h = &r->hosts[i];
		/* Counted failed, or never reached, because it was away. */
		int missed = (h->state == RH_FAILED ||
		    h->state == RH_SKIPPED) && strstr(h->cause, "offline") !=
		    NULL;

		t->rc = hosts_add(s, h->name, missed);
	}
	free(r->hosts);
	/* Left out because they were offline when it started. */
	{
		char list[sizeof(d->skipped)], *p, *save = NULL;

		snprintf(list, sizeof(list), "%s", d->skipped);
		for (p = strtok_r(list, ", ", &save); p != NULL && t->rc == 0;
		    p = strtok_r(NULL, ", ", &save)) {
			/* "web-3:drained": left out as drained. */
			char *colon = strchr(p, ':');
			int drained = colon != NULL &&
			    strcmp(colon, ":drained") == 0;

			if (colon != NULL)
				*colon = '\0';
			t->rc = hosts_add(s, p, drained ? 2 : 1);
		}
	}
}

/* What spec_of read of a revision: a revision never changes once
 * recorded, so each (service, revision) is read and parsed once, not on
 * every tick.  A small table, the oldest entry replaced. */
#define SPEC_MEMO	64

static struct spec_memo {
	char name[64];
	uint64_t revision;
	char digest[300];
	int catch_up;
} spec_memo[SPEC_MEMO];
static size_t spec_memo_next;

/* spec_of reads the current revision's digest and catch_up setting. */
static void
spec_of(struct ferryd *fd, struct dw_service *s)
{
	char *file = NULL, *text = NULL, *dg = NULL, err[256];
	struct spec *sp = NULL;
	struct spec_memo *m;
	size_t i;

	for (i = 0; i < SPEC_MEMO; i++)
		if (spec_memo[i].revision == s->revision &&
		    strcmp(spec_memo[i].name, s->name) == 0) {
			snprintf(s->digest, sizeof(s->digest), "%s",
			    spec_memo[i].digest);
			s->catch_up = spec_memo[i].catch_up;
			return;
		}
	if (store_revision_get(fd->store, s->name, s->revision, &file, &text,
	    &dg, NULL) != 0)
		return;
	snprintf(s->digest, sizeof(s->digest), "%s", dg ? dg : "");
	if (text != NULL && spec_parse(file ? file : "spec", text,
	    strlen(text), &sp, err, sizeof(err)) == 0) {
		s->catch_up = !sp->catch_up_off;
		/* Kept only once it read whole; a digest comes with the
		 * revision's first pull and is kept only then. */
		if (s->digest[0] != '\0') {
			m = &spec_memo[spec_memo_next++ % SPEC_MEMO];
			snprintf(m->name, sizeof(m->name), "%s", s->name);
			m->revision = s->revision;
			snprintf(m->digest, sizeof(m->digest), "%s",
			    s->digest);
			m->catch_up = s->catch_up;
		}
	}
	spec_free(sp);
	free(file);
	free(text);
	free(dg);
}

/* What on_deployment found for a service, kept per (service, its newest
 * deployment, its current revision) once that deployment has finished:
 * a finished deployment never changes, and only the newest of a service
 * can be unfinished (one runs at a time), so a tick with no new
 * deployment reads none.  A small table, the oldest entry replaced. */
#define TARGET_MEMO	64

static struct target_memo {
	char name[64];
	uint64_t newest, revision;	/* newest 0: an empty slot */
	int found;
	uint64_t deployment;
	char image[256];
	char (*hosts)[HOST_NAME_MAX_LEN + 1];
	int *missed;
	size_t nhosts;
} target_memo[TARGET_MEMO];
static size_t target_memo_next;

/* target_recall fills s from the memo of (s, newest); 1 when there was
 * one (*found set), 0 when not, FERR_NOMEM. */
static int
target_recall(struct dw_service *s, uint64_t newest, int *found)
{
	const struct target_memo *m;
	size_t i;

	for (i = 0; i < TARGET_MEMO; i++) {
		m = &target_memo[i];
		if (m->newest != newest || m->revision != s->revision ||
		    strcmp(m->name, s->name) != 0)
			continue;
		*found = m->found;
		s->deployment = m->deployment;
		snprintf(s->image, sizeof(s->image), "%s", m->image);
		for (i = 0; i < m->nhosts; i++)
			if (hosts_add(s, m->hosts[i], m->missed[i]) != 0)
				return FERR_NOMEM;
		return 1;
	}
	return 0;
}

/* target_keep remembers what on_deployment found for s under newest. */
static void
target_keep(const struct dw_service *s, uint64_t newest, int found)
{
	struct target_memo *m = &target_memo[target_memo_next++ %
	    TARGET_MEMO];

	free(m->hosts);
	free(m->missed);
	memset(m, 0, sizeof(*m));
	if (s->nhosts > 0) {
		m->hosts = malloc(s->nhosts * sizeof(*m->hosts));
		m->missed = malloc(s->nhosts * sizeof(*m->missed));
		if (m->hosts == NULL || m->missed == NULL) {
			free(m->hosts);
			free(m->missed);
			memset(m, 0, sizeof(*m));
			return;		/* read again next time */
		}
		memcpy(m->hosts, s->hosts, s->nhosts * sizeof(*m->hosts));
		memcpy(m->missed, s->missed, s->nhosts * sizeof(*m->missed));
	}
	snprintf(m->name, sizeof(m->name), "%s", s->name);
	m->newest = newest;
	m->revision = s->revision;
	m->found = found;
	m->deployment = s->deployment;
	snprintf(m->image, sizeof(m->image), "%s", s->image);
	m->nhosts = s->nhosts;
}

static int
services_read(struct ferryd *fd, struct driftwatch *dw)
{
	struct svc_list l = { NULL, 0, 0, 0 };
	size_t i;
	int rc;

	if ((rc = store_services_list(fd->store, on_service, &l)) != 0 ||
	    l.failed) {
		free(l.v);
		return rc ? rc : FERR_NOMEM;
	}
	dw->svcs = l.v;
	dw->nsvcs = l.n;
	for (i = 0; i < l.n; i++) {
		struct target t = { &l.v[i], 0, 0, 0 };
		struct rollout nr;
		uint64_t newest;
		int state, done;

		/* Nothing new since the last tick: what it found stands. */
		if ((rc = store_deploy_newest(fd->store, l.v[i].name, &newest,
		    &state)) != 0)
			return rc;
		memset(&nr, 0, sizeof(nr));
		nr.state = (enum rollout_state)state;
		done = newest != 0 && rollout_finished(&nr);
		if (done && (rc = target_recall(&l.v[i], newest,
		    &t.found)) < 0)
			return rc;
		if (!done || rc == 0) {
			log_debug("driftwatch: %s: reading its last %d "
			    "deployments (newest %llu%s)", l.v[i].name,
			    LOOKBACK, (unsigned long long)newest, done ? "" :
			    ", not finished");
			if ((rc = store_deploy_list(fd->store, l.v[i].name, 0,
			    0, LOOKBACK, on_deployment, &t)) != 0)
				return rc;
			if (t.rc != 0)
				return t.rc;
			if (done && !t.in_flight)
				target_keep(&l.v[i], newest, t.found);
		}
		/* No deployment that made it current within the last
		 * LOOKBACK: where it should run is not known, and it is
		 * not judged, as while one runs; nor is a service an
		 * operator stopped or removed (ferry stop|remove): its
		 * containers are as asked. */
		{
			struct service_rec sr;

			memset(&sr, 0, sizeof(sr));
			store_service_state(fd->store, l.v[i].name, &sr);
			l.v[i].in_flight = t.in_flight || !t.found ||
			    sr.lifecycle[0] != '\0';
		}
		spec_of(fd, &l.v[i]);
	}
	return 0;
}

const struct dw_service *
driftwatch_service(const struct driftwatch *dw, const char *name)
{
	size_t i;

	for (i = 0; i < dw->nsvcs; i++)
		if (strcmp(dw->svcs[i].name, name) == 0)
			return &dw->svcs[i];
	return NULL;
}

int
driftwatch_should_run(const struct dw_service *s, const char *host)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i], host) == 0)
			return 1;
	return 0;
}

static int
missed_on(const struct dw_service *s, const char *host)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i], host) == 0)
			return s->missed[i];
	return 0;
}

/* ---- catch-ups: one memo per service and host ------------------------- */

struct memo {
	char host[HOST_NAME_MAX_LEN + 1];
	char service[64];
	int tried;			/* m holds a catch-up */
	struct drift_memo m;
	/* The finding as the tick last saw it, and since when (monotonic):
	 * a catch-up waits until it has lasted DRIFT_SETTLE_MS. */
	enum drift_cause seen;
	uint64_t seen_since_ms;
	/* An operator removed it here (driftwatch_removed): by whom, when
	 * (monotonic), and under which deployment's revision (0: not seen
	 * since). */
	char removed_by[64];
	uint64_t removed_at_ms, removed_dep;
};

static struct memo *memos;
static size_t nmemos, capmemos;
static uint64_t last_tick_ms;
static int ticked;

static struct memo *
memo_find(const char *host, const char *service)
{
	size_t i;

	for (i = 0; i < nmemos; i++)
		if (strcmp(memos[i].host, host) == 0 &&
		    strcmp(memos[i].service, service) == 0)
			return &memos[i];
	return NULL;
}

static struct memo *
memo_get(const char *host, const char *service)
{
	struct memo *m = memo_find(host, service);

	if (m != NULL)
		return m;
	if (nmemos == capmemos) {
		size_t cap = capmemos ? capmemos * 2 : 16;

		if ((m = realloc(memos, cap * sizeof(*m))) == NULL)
			return NULL;
		memos = m;
		capmemos = cap;
	}
	m = &memos[nmemos++];
	memset(m, 0, sizeof(*m));
	snprintf(m->host, sizeof(m->host), "%s", host);
	snprintf(m->service, sizeof(m->service), "%s", service);
	return m;
}

/* ---- the memos in the store (drift_marks) ------------------------------
 *
 * What an operator's removal and the last catch-up leave in a memo is
 * recorded in the store before the memo moves (store_drift_mark_put), and
 * read back on the first gathering after ferryd starts, so that a restart
 * neither puts back a service an operator removed from a host nor tries
 * again a catch-up that failed.  A mark whose cause has ended, or that a
 * newer deployment of its service overtook, is forgotten in both.  A
 * store that fails is logged; the memo then moves in memory only (what it
 * notes has already happened). */

static int marks_loaded;

/* mono_of turns a wall-clock time from the store into the monotonic clock
 * the memos keep; wall_of the other way. */
static uint64_t
mono_of(uint64_t wall_ms)
{
	uint64_t wall = clock_wall_ms(), mono = clock_mono_ms();
	uint64_t ago = wall > wall_ms ? wall - wall_ms : 0;

	return ago < mono ? mono - ago : 0;
}

static uint64_t
wall_of(uint64_t mono_ms)
{
	uint64_t mono = clock_mono_ms(), wall = clock_wall_ms();
	uint64_t ago = mono > mono_ms ? mono - mono_ms : 0;

	return ago < wall ? wall - ago : 0;
}

static enum drift_cause
cause_of(const char *name)
{
	int c;

	for (c = DRIFT_NONE + 1; c <= DRIFT_CAUSE_LAST; c++)
		if (strcmp(drift_cause_name((enum drift_cause)c), name) == 0)
			return (enum drift_cause)c;
	return DRIFT_NONE;
}

static void
on_mark(void *arg, const struct drift_mark *k)
{
	int *failed = arg;
	struct memo *m = memo_get(k->host, k->service);

	if (m == NULL) {
		*failed = 1;
		return;
	}
	if (strcmp(k->kind, DRIFT_MARK_REMOVED) == 0) {
		snprintf(m->removed_by, sizeof(m->removed_by), "%s", k->by);
		m->removed_at_ms = mono_of(k->at_ms);
		m->removed_dep = k->deployment;
	} else if (strcmp(k->kind, DRIFT_MARK_CATCH_UP) == 0) {
		m->tried = 1;
		m->m.cause = cause_of(k->cause);
		m->m.revision = k->revision;
		m->m.deployment = k->deployment;
		m->m.at_ms = mono_of(k->at_ms);
		m->m.id = k->catch_up;
		m->m.done = k->done;
		m->m.failed = k->failed;
	}
}

/* marks_load reads the marks into the memos, once; 0 when they are read
 * (until then the tick starts no catch-up). */
static int
marks_load(struct ferryd *fd)
{
	int failed = 0, rc;

	if (marks_loaded)
		return 0;
	if ((rc = store_drift_marks_list(fd->store, on_mark, &failed)) != 0 ||
	    failed) {
		log_warnx("drift marks: cannot read them: %s: no catch-up "
		    "until they are", ferr_str(rc ? rc : FERR_NOMEM));
		return rc ? rc : FERR_NOMEM;
	}
	marks_loaded = 1;
	return 0;
}

/* mark_save records m's removal (kind DRIFT_MARK_REMOVED) or catch-up
 * (DRIFT_MARK_CATCH_UP) as the memo holds it. */
static void
mark_save(struct ferryd *fd, const struct memo *m, const char *kind)
{
	struct drift_mark k;
	int rc;

	memset(&k, 0, sizeof(k));
	snprintf(k.service, sizeof(k.service), "%s", m->service);
	snprintf(k.host, sizeof(k.host), "%s", m->host);
	snprintf(k.kind, sizeof(k.kind), "%s", kind);
	if (strcmp(kind, DRIFT_MARK_REMOVED) == 0) {
		snprintf(k.by, sizeof(k.by), "%s", m->removed_by);
		k.deployment = m->removed_dep;
		k.at_ms = wall_of(m->removed_at_ms);
	} else {
		snprintf(k.cause, sizeof(k.cause), "%s",
		    drift_cause_name(m->m.cause));
		k.revision = m->m.revision;
		k.deployment = m->m.deployment;
		k.catch_up = m->m.id;
		k.done = m->m.done;
		k.failed = m->m.failed;
		k.at_ms = wall_of(m->m.at_ms);
	}
	if ((rc = store_drift_mark_put(fd->store, &k)) != 0)
		log_warnx("%s on %s: cannot record its %s mark: %s: kept "
		    "until ferryd restarts", m->service, m->host, kind,
		    ferr_str(rc));
}

/* mark_forget forgets m's mark of kind in the store. */
static void
mark_forget(struct ferryd *fd, const struct memo *m, const char *kind)
{
	int rc;

	if ((rc = store_drift_mark_delete(fd->store, m->service, m->host,
	    kind)) != 0)
		log_warnx("%s on %s: cannot forget its %s mark: %s",
		    m->service, m->host, kind, ferr_str(rc));
}

/* A drained host is not caught up (ferry hosts drain): it waits for its
 * undrain. */
static int
host_drained(const struct host *h)
{
	return fleet_host_drained(h);
}

/* ---- judging ----------------------------------------------------------- */

static int
rows_add(struct driftwatch *dw, size_t *cap, struct host *h,
    const struct drift_finding *f, uint64_t now_ms)
{
	const struct memo *m = memo_find(h->rec.name, f->service);
	const struct dw_service *s = driftwatch_service(dw, f->service);
	struct dw_row *r;

	if (dw->nrows == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;

		if ((r = realloc(dw->rows, nc * sizeof(*r))) == NULL)
			return FERR_NOMEM;
		dw->rows = r;
		*cap = nc;
	}
	r = &dw->rows[dw->nrows++];
	memset(r, 0, sizeof(*r));
	r->host = h;
	r->f = *f;
	if (m != NULL && m->removed_by[0] && f->cause == DRIFT_REMOVED &&
	    (m->removed_dep == 0 || m->removed_dep == f->deployment)) {
		r->verdict = DRIFT_CU_OFF;
		snprintf(r->catch_up, sizeof(r->catch_up), "removed by %s "
		    "(ferry swap --remove): left so; ferry deploy or ferry "
		    "swap puts it back", m->removed_by);
		return 0;
	}
	r->verdict = drift_catch_up(f, h->rec.name, s != NULL && s->catch_up,
	    host_drained(h), m != NULL && m->tried ? &m->m : NULL,
	    m != NULL && m->seen == f->cause ? now_ms - m->seen_since_ms : 0,
	    now_ms, r->catch_up, sizeof(r->catch_up));
	return 0;
}

int
driftwatch_gather(struct ferryd *fd, struct driftwatch *dw)
{
	struct drift_want *wants = NULL;
	struct drift_container *cs = NULL;
	struct drift_finding found[FINDINGS_MAX];
	size_t i, j, k, n, cap = 0, capcs = 0;
	uint64_t now = clock_mono_ms();
	int rc;

	memset(dw, 0, sizeof(*dw));
	(void)marks_load(fd);
	if ((rc = services_read(fd, dw)) != 0)
		goto fail;
	if ((wants = calloc(dw->nsvcs + 1, sizeof(*wants))) == NULL) {
		rc = FERR_NOMEM;
		goto fail;
	}
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		const Ferry__Poll *p = h->status;

		/* What an offline host runs, or one whose Docker does not
		 * answer, is not known: nothing is judged. */
		if (h->rec.state != HOST_ACCEPTED || !h->online || p == NULL ||
		    !p->docker_ok)
			continue;
		for (j = 0; j < dw->nsvcs; j++) {
			const struct dw_service *s = &dw->svcs[j];

			memset(&wants[j], 0, sizeof(wants[j]));
			wants[j].service = s->name;
			wants[j].revision = s->revision;
			wants[j].deployment = s->deployment;
			wants[j].here = driftwatch_should_run(s, h->rec.name);
			wants[j].missed = missed_on(s, h->rec.name) == 1;
			wants[j].missed_drained = missed_on(s, h->rec.name) ==
			    2;
			wants[j].in_flight = s->in_flight;
		}
		if (p->n_containers > capcs) {
			struct drift_container *nc = realloc(cs,
			    p->n_containers * sizeof(*nc));
			if (nc == NULL) {
				rc = FERR_NOMEM;
				goto fail;
			}
			cs = nc;
			capcs = p->n_containers;
		}
		for (k = 0; k < p->n_containers; k++) {
			const Ferry__Container *c = p->containers[k];

			memset(&cs[k], 0, sizeof(cs[k]));
			cs[k].service = c->service ? c->service : "";
			cs[k].revision = c->revision ? strtoull(c->revision,
			    NULL, 10) : 0;
			cs[k].state = c->state ? c->state : "";
			cs[k].health = c->health ? c->health : "";
			cs[k].exited = c->exited;
			cs[k].exit_code = c->exit_code;
			cs[k].unhealthy_since_ms = c->id ?
			    fleet_unhealthy_since(h, c->id) : 0;
		}
		n = drift_judge(wants, dw->nsvcs, cs, p->n_containers, found,
		    FINDINGS_MAX);
		for (k = 0; k < n; k++)
			if ((rc = rows_add(dw, &cap, h, &found[k], now)) != 0)
				goto fail;
	}
	free(wants);
	free(cs);
	return 0;
fail:
	free(wants);
	free(cs);
	driftwatch_free(dw);
	return rc;
}

void
driftwatch_free(struct driftwatch *dw)
{
	size_t i;

	if (dw == NULL)
		return;
	for (i = 0; i < dw->nsvcs; i++) {
		free(dw->svcs[i].hosts);
		free(dw->svcs[i].missed);
	}
	free(dw->svcs);
	free(dw->rows);
	memset(dw, 0, sizeof(*dw));
}

const struct dw_row *
driftwatch_row(const struct driftwatch *dw, const char *host,
    const char *service)
{
	size_t i;

	for (i = 0; i < dw->nrows; i++)
		if (strcmp(dw->rows[i].host->rec.name, host) == 0 &&
		    strcmp(dw->rows[i].f.service, service) == 0)
			return &dw->rows[i];
	return NULL;
}

/* ---- the tick ---------------------------------------------------------- */

/* memo_settle notes how the catch-ups still running ended. */
struct ended {
	int finished, succeeded;
};

static void
on_ended(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct ended *e = arg;

	(void)d;
	e->finished = rollout_finished(r);
	e->succeeded = r->state == RO_SUCCEEDED;
	free(r->hosts);
}

static void
memo_settle(struct ferryd *fd)
{
	size_t i;

	for (i = 0; i < nmemos; i++) {
		struct memo *m = &memos[i];
		struct ended e = { 0, 0 };

		if (m->m.id == 0 || m->m.done)
			continue;
		if (store_deploy_list(fd->store, NULL, 0, m->m.id, 1, on_ended,
		    &e) != 0 || !e.finished)
			continue;
		{
			struct memo next = *m;

			next.m.done = 1;
			next.m.failed = !e.succeeded;
			mark_save(fd, &next, DRIFT_MARK_CATCH_UP);
			*m = next;
		}
		if (m->m.failed)
			log_warnx("catch-up deployment %llu of %s on %s "
			    "failed: not tried again for the same cause",
			    (unsigned long long)m->m.id, m->service, m->host);
	}
}

/* runs_service: whether h runs a container of service (any revision, any
 * state): the engine's had_previous. */
static int
runs_service(const struct host *h, const char *service)
{
	size_t i;

	for (i = 0; h->status != NULL && i < h->status->n_containers; i++)
		if (strcmp(h->status->containers[i]->service, service) == 0)
			return 1;
	return 0;
}

/* metrics_out hands /metrics each service's containers, health and drift
 * on every host where it runs or should run. */
static void
metrics_out(struct ferryd *fd, const struct driftwatch *dw)
{
	struct metrics_service_host *v = NULL;
	size_t i, j, k, n = 0, cap = 0;

	for (i = 0; i < fd->nhosts; i++) {
		const struct host *h = fd->hosts[i];

		if (!h->online || h->status == NULL)
			continue;
		for (j = 0; j < dw->nsvcs; j++) {
			const struct dw_service *s = &dw->svcs[j];
			const struct dw_row *r = driftwatch_row(dw,
			    h->rec.name, s->name);
			struct metrics_service_host *m;
			int should = driftwatch_should_run(s, h->rec.name);
			int seen = 0, unhealthy = 0, up = 0;

			for (k = 0; k < h->status->n_containers; k++) {
				const Ferry__Container *c =
				    h->status->containers[k];
				if (strcmp(c->service, s->name) != 0)
					continue;
				seen = 1;
			}
			if (!seen && !should)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct metrics_service_host *nv = realloc(v,
				    nc * sizeof(*nv));
				if (nv == NULL)
					goto out;
				v = nv;
				cap = nc;
			}
			m = &v[n++];
			memset(m, 0, sizeof(*m));
			snprintf(m->service, sizeof(m->service), "%s",
			    s->name);
			snprintf(m->host, sizeof(m->host), "%s", h->rec.name);
			for (k = 0; k < h->status->n_containers; k++) {
				const Ferry__Container *c =
				    h->status->containers[k];
				if (strcmp(c->service, s->name) != 0)
					continue;
				metrics_state_count(m, c->state);
				if (strcmp(c->state, "running") == 0 &&
				    strtoull(c->revision, NULL, 10) ==
				    s->revision) {
					up = 1;
					unhealthy |= strncmp(c->health,
					    "unhealthy", 9) == 0;
				}
			}
			m->healthy = up && !unhealthy;
			m->drift = r != NULL ? drift_cause_name(r->f.cause) :
			    "";
		}
	}
	metrics_services(v, n);
out:
	free(v);
}

void
driftwatch_removed(struct ferryd *fd, const char *host, const char *service,
    const char *actor)
{
	struct memo *m = memo_get(host, service), next;

	if (m == NULL)
		return;
	next = *m;
	snprintf(next.removed_by, sizeof(next.removed_by), "%s", actor);
	next.removed_at_ms = clock_mono_ms();
	next.removed_dep = 0;
	mark_save(fd, &next, DRIFT_MARK_REMOVED);
	*m = next;
}

/* judged: whether the last gathering judged service on host (the host
 * online, its Docker answering, the service with a current revision and
 * no deployment in flight): only then does no finding mean none. */
static int
judged(struct ferryd *fd, const struct driftwatch *dw, const char *host,
    const char *service)
{
	const struct dw_service *s = driftwatch_service(dw, service);
	const struct host *h = fleet_find(fd, host);

	return s != NULL && !s->in_flight && h != NULL &&
	    h->rec.state == HOST_ACCEPTED && h->online && h->status != NULL &&
	    h->status->docker_ok;
}

/* seen_note keeps, per service and host, the cause the tick sees now and
 * since when; a finding gone (or another cause) starts again.  It also
 * ends the marks whose cause ended (judged with no finding) or that a
 * newer deployment of the service overtook. */
static void
seen_note(struct ferryd *fd, const struct driftwatch *dw, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < nmemos; i++) {
		struct memo *m = &memos[i];
		const struct dw_row *r = driftwatch_row(dw, m->host,
		    m->service);
		const struct dw_service *s = driftwatch_service(dw,
		    m->service);
		int seen = judged(fd, dw, m->host, m->service);

		if (r == NULL)
			m->seen = DRIFT_NONE;
		/* A service with no current revision any more (ferry
		 * remove): nothing of it is caught up; its marks go. */
		if (s == NULL && (m->tried || m->removed_by[0])) {
			if (m->tried && m->m.done) {
				mark_forget(fd, m, DRIFT_MARK_CATCH_UP);
				m->tried = 0;
				memset(&m->m, 0, sizeof(m->m));
			}
			if (m->removed_by[0]) {
				mark_forget(fd, m, DRIFT_MARK_REMOVED);
				m->removed_by[0] = '\0';
			}
			continue;
		}
		/* A catch-up that ended: forgotten once the host runs what
		 * it should (after the spacing between catch-ups), or once
		 * a newer deployment of the service covers the host. */
		if (m->tried && m->m.done && seen && ((r == NULL &&
		    now_ms - m->m.at_ms >= DRIFT_CATCH_UP_SPACING_MS) ||
		    (s->deployment != 0 && s->deployment !=
		    m->m.deployment))) {
			mark_forget(fd, m, DRIFT_MARK_CATCH_UP);
			m->tried = 0;
			memset(&m->m, 0, sizeof(m->m));
		}
		if (!m->removed_by[0])
			continue;
		/* An operator's removal holds under the revision it was
		 * made under, until the service runs there again (give the
		 * heartbeats time to show it gone first). */
		if (r != NULL && r->f.cause == DRIFT_REMOVED &&
		    m->removed_dep == 0) {
			struct memo next = *m;

			next.removed_dep = r->f.deployment;
			mark_save(fd, &next, DRIFT_MARK_REMOVED);
			*m = next;
		}
		if ((r == NULL && seen && now_ms - m->removed_at_ms > 30000) ||
		    (r != NULL && m->removed_dep != 0 &&
		    r->f.deployment != m->removed_dep)) {
			mark_forget(fd, m, DRIFT_MARK_REMOVED);
			m->removed_by[0] = '\0';
		}
	}
	for (i = 0; i < dw->nrows; i++) {
		const struct dw_row *r = &dw->rows[i];
		struct memo *m = memo_get(r->host->rec.name, r->f.service);

		if (m == NULL || m->seen == r->f.cause)
			continue;
		m->seen = r->f.cause;
		m->seen_since_ms = now_ms;
	}
}

void
driftwatch_tick(struct ferryd *fd, uint64_t now_ms)
{
	struct driftwatch dw;
	size_t i;

	if (ticked && now_ms - last_tick_ms < TICK_MS)
		return;
	ticked = 1;
	last_tick_ms = now_ms;
	memo_settle(fd);
	if (driftwatch_gather(fd, &dw) != 0)
		return;
	metrics_out(fd, &dw);
	seen_note(fd, &dw, now_ms);
	for (i = 0; i < dw.nrows; i++) {
		const struct dw_row *r = &dw.rows[i];
		const struct dw_service *s = driftwatch_service(&dw,
		    r->f.service);
		struct memo *m;
		uint64_t id;
		int rc;

		/* What earlier catch-ups left is not known yet: none. */
		if (!marks_loaded)
			break;
		if (r->verdict != DRIFT_CU_GO || s == NULL)
			continue;
		if ((m = memo_get(r->host->rec.name, r->f.service)) == NULL)
			break;
		rc = deploy_catch_up(fd, s->name, s->revision,
		    r->host->rec.name, runs_service(r->host, s->name),
		    r->catch_up, &id);
		if (rc == FERR_EXISTS)
			continue;	/* one of the service runs: later */
		/* Once per cause, whether it started or not; recorded
		 * before the memo moves. */
		{
			struct memo next = *m;

			next.tried = 1;
			next.m.cause = r->f.cause;
			next.m.revision = r->f.revision;
			next.m.deployment = r->f.deployment;
			next.m.at_ms = now_ms;
			next.m.id = rc == 0 ? id : 0;
			next.m.done = rc != 0;
			next.m.failed = rc != 0;
			mark_save(fd, &next, DRIFT_MARK_CATCH_UP);
			*m = next;
		}
		if (rc != 0)
			log_warnx("catch-up of %s on %s cannot start: %s",
			    s->name, r->host->rec.name, ferr_str(rc));
		/* One service at a time: the next tick sees this one as a
		 * deployment in flight. */
		break;
	}
	driftwatch_free(&dw);
}
