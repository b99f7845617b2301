/* SPDX-License-Identifier: Apache-2.0 */
/* deploy.c: the shell around the rollout engine.  It turns a spec into a
 * recorded deployment, feeds the engine what the agents answer, records
 * each state the engine reaches together with the commands it implies (in
 * one transaction, before they are sent), and picks in-flight deployments
 * up again after a restart. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "traffic.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "promq.h"
#include "spec.h"
#include "specwire.h"

#define ACCEPT_MS	30000u		/* a command must be accepted by */
#define PULL_MS		600000u		/* a pull must end by */
#define SWAP_SLACK_MS	180000u		/* beyond the health deadline */
/* An interval is judged once every canary host's proxy was read after
 * its end, or after this long in any case (a host that went quiet counts
 * what was last read of it). */
#define JUDGE_WAIT_MS	10000u

/* A verdict worked out, recorded with its RI_VERDICT: the interval as
 * people read it, and the readings that ended it (the next marks). */
struct judged {
	struct interval_rec iv;
	struct analysis_mark *ends;
	size_t nends;
};

struct deployment {
	struct deploy_rec d;
	struct rollout r;
	struct spec *spec;		/* the revision rolled out */
	struct spec *prev_spec;		/* the one rolled back to, or NULL */
	uint64_t wake_ms;		/* when the engine wants a tick */
	uint64_t batch_started_us;	/* for the batch duration metric */
	uint32_t batch_seen;
	int resolving;			/* the tag is being resolved */
	/* Inputs not recorded yet (a commit failed: disk full, I/O error),
	 * oldest first: the engine's state in memory stays what the database
	 * holds, and they are tried again, in order, until they commit. */
	struct dep_input *queue;
	size_t nqueue, capqueue;
	uint64_t retry_at_ms;		/* monotonic: next try */
	int failing;			/* the last commit failed (logged) */
	int withdrawn;			/* its unaccepted commands, once ended */
	/* Canary analysis: where the interval being counted began (its
	 * marks, as stored), and the verdict the engine asks for (its
	 * ROLLOUT_JUDGING flag) while it is worked out: waiting for every
	 * canary host's proxy to be read after the interval's end, then its
	 * Prometheus checks. */
	struct analysis_mark *marks;
	size_t nmarks;
	int querying;			/* its Prometheus checks are asked */
	uint64_t judge_at_ms;		/* monotonic: when it was asked */
	struct deployment *next;
};

/* One input for a deployment's engine, with what the shell records with
 * it. */
struct dep_input {
	enum rollout_input in;
	size_t host;
	char cause[512];
	char actor[64];			/* "" for ferryd */
	char digest[300];		/* the resolved image, recorded with it */
	enum rollout_verdict verdict;	/* RI_VERDICT */
	struct judged *judged;		/* RI_VERDICT: owned */
};

#define RETRY_MS	250u		/* between tries of a failed commit */

static struct deployment *deployments;

/* What loading deployments from the store needs. */
struct load_ctx {
	struct ferryd *fd;
	int rc;
};

/* spec_image_is_digest: repo@sha256:<64 hex>, already resolved. */
static int
spec_image_is_digest(const char *ref)
{
	const char *at = strrchr(ref, '@');

	return at != NULL && strncmp(at, "@sha256:", 8) == 0 &&
	    strlen(at + 8) == 64;
}

static struct deployment *
dep_find(uint64_t id)
{
	struct deployment *p;

	for (p = deployments; p != NULL; p = p->next)
		if (p->d.id == id)
			return p;
	return NULL;
}

static void
judged_free(struct judged *j)
{
	if (j == NULL)
		return;
	free(j->ends);
	free(j);
}

static void
dep_free(struct deployment *p)
{
	size_t i;

	if (p == NULL)
		return;
	spec_free(p->spec);
	spec_free(p->prev_spec);
	rollout_free(&p->r);
	for (i = 0; i < p->nqueue; i++)
		judged_free(p->queue[i].judged);
	free(p->queue);
	free(p->marks);
	free(p);
}

static void
dep_unlink(struct deployment *p)
{
	struct deployment **pp;

	for (pp = &deployments; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

/* load_spec parses a stored revision's spec. */
static int
load_spec(struct ferryd *fd, const char *service, uint64_t rev,
    struct spec **out, char *digest, size_t dlen)
{
	char *file = NULL, *text = NULL, *dg = NULL, *img = NULL, err[512];
	int rc;

	*out = NULL;
	if ((rc = store_revision_get(fd->store, service, rev, &file, &text,
	    &dg, &img)) != 0)
		return rc;
	rc = spec_parse(file, text, strlen(text), out, err, sizeof(err));
	if (rc != 0)
		log_warnx("revision %llu of %s: stored spec no longer parses: "
		    "%s", (unsigned long long)rev, service, err);
	else	/* the image as deployed: --image may have replaced it */
		snprintf((*out)->image, sizeof((*out)->image), "%s", img);
	/* The secret versions the revision pinned come back with it. */
	if (rc == 0 && (rc = store_revision_pins(fd->store, service, rev,
	    (*out)->secrets, (*out)->nsecrets)) != 0) {
		log_warnx("revision %llu of %s: its secret versions cannot be "
		    "read: %s", (unsigned long long)rev, service,
		    ferr_str(rc));
		spec_free(*out);
		*out = NULL;
	}
	free(img);
	if (digest != NULL)
		snprintf(digest, dlen, "%s", dg);
	free(file);
	free(text);
	free(dg);
	return rc;
}

/* ---- commands ----------------------------------------------------------- */

/* dep_command prepares cmd for host h as deployment d's, for purpose
 * ("pull", "resolve", "swap", "revert"); its answer goes to the engine. */
static struct cmd *
dep_command(struct ferryd *fd, const struct deploy_rec *d, struct host *h,
    Ferry__Command *cmd, const char *kind, uint64_t result_ms,
    const char *purpose)
{
	struct cmd *c = link_prepare(fd, h, cmd, kind, ACCEPT_MS, result_ms,
	    deploy_on_result, fd);

	if (c != NULL) {
		c->rec.deployment = d->id;
		snprintf(c->rec.purpose, sizeof(c->rec.purpose), "%s", purpose);
	}
	return c;
}

static struct cmd *
make_pull(struct ferryd *fd, const struct deploy_rec *d, struct host *h,
    const char *image, const char *purpose)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Pull pull = FERRY__PULL__INIT;
	struct cmd *c;
	uint8_t *auth = NULL;
	size_t len = 0;

	/* A registry with a login: the login goes sealed to this host. */
	if (secrets_registry_value(fd, image, &auth, &len) != 0)
		return NULL;
	if (auth != NULL) {
		int rc = specwire_seal(h->rec.pk, auth, len,
		    &pull.sealed_auth.data, &pull.sealed_auth.len);

		secrets_value_free(auth);
		if (rc != 0)
			return NULL;
	}
	pull.image = (char *)image;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_PULL;
	cmd.pull = &pull;
	c = dep_command(fd, d, h, &cmd, "pull", PULL_MS, purpose);
	free(pull.sealed_auth.data);
	return c;
}

/* make_remove: a host that ran nothing of the service before is put back
 * by removing the service there. */
static struct cmd *
make_remove(struct ferryd *fd, const struct deploy_rec *d, struct host *h)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Remove rm = FERRY__REMOVE__INIT;

	rm.service = (char *)d->service;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_REMOVE;
	cmd.remove = &rm;
	return dep_command(fd, d, h, &cmd, "remove", PULL_MS, "revert");
}

/* make_swap builds the swap of h to the deployment's revision (or back
 * to the previous one, revert); beside: run it beside the other revision
 * with weight percent of new traffic (a canary's step). */
static struct cmd *
make_swap(struct ferryd *fd, struct deployment *p, const struct deploy_rec *d,
    struct host *h, int revert, int beside, uint32_t weight)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Swap sw = FERRY__SWAP__INIT;
	const struct spec *s = revert ? p->prev_spec : p->spec;
	struct swap_seal seal;
	struct cmd *c;

	secrets_swap_seal(fd, h->rec.pk, &seal);
	if (s == NULL || spec_swap_fill(s, revert ? d->previous_revision :
	    d->revision, revert ? d->previous_digest : d->digest, d->id,
	    &seal, &sw) != 0)
		return NULL;
	sw.beside = beside;
	sw.weight = beside ? weight : 0;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_SWAP;
	cmd.swap = &sw;
	c = dep_command(fd, d, h, &cmd, "swap",
	    (uint64_t)s->health.deadline_ms + s->health.min_healthy_ms +
	    SWAP_SLACK_MS, revert ? "revert" : beside ? "weigh" : "swap");
	spec_swap_clear(&sw);
	return c;
}

/* ---- the service life cycle (ferry restart|stop|start|remove) ------------ */

/* is_kind: d is a deployment of kind (DEPLOY_KIND_*). */
static int
is_kind(const struct deploy_rec *d, const char *kind)
{
	return strcmp(d->kind, kind) == 0;
}

/* lifecycle_kind: d restarts, stops, starts or removes the current
 * revision rather than rolling a revision out. */
static int
lifecycle_kind(const char *kind)
{
	return strcmp(kind, DEPLOY_KIND_RESTART) == 0 ||
	    strcmp(kind, DEPLOY_KIND_STOP) == 0 ||
	    strcmp(kind, DEPLOY_KIND_START) == 0 ||
	    strcmp(kind, DEPLOY_KIND_REMOVE) == 0;
}

/* make_same builds a Swap of h to the revision the deployment keeps:
 * recreated (ferry restart), or as it is, which starts its kept container
 * when it is stopped (ferry start; putting back a stop) and answers at
 * once when it runs (putting back a restart: nothing to undo). */
static struct cmd *
make_same(struct ferryd *fd, struct deployment *p, const struct deploy_rec *d,
    struct host *h, int recreate, const char *purpose)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Swap sw = FERRY__SWAP__INIT;
	struct swap_seal seal;
	struct cmd *c;

	secrets_swap_seal(fd, h->rec.pk, &seal);
	if (p->spec == NULL || spec_swap_fill(p->spec, d->revision, d->digest,
	    d->id, &seal, &sw) != 0)
		return NULL;
	sw.recreate = recreate;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_SWAP;
	cmd.swap = &sw;
	c = dep_command(fd, d, h, &cmd, "swap",
	    (uint64_t)p->spec->health.deadline_ms +
	    p->spec->health.min_healthy_ms + SWAP_SLACK_MS, purpose);
	spec_swap_clear(&sw);
	return c;
}

/* make_stop builds the stop of the service's containers on h (kept for
 * ferry start). */
static struct cmd *
make_stop(struct ferryd *fd, struct deployment *p, const struct deploy_rec *d,
    struct host *h, const char *purpose)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Lifecycle lc = FERRY__LIFECYCLE__INIT;

	lc.op = FERRY__LIFECYCLE__OP__STOP;
	lc.service = (char *)d->service;
	(void)p;	/* the agent's default stop timeout (10 s) */
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_LIFECYCLE;
	cmd.lifecycle = &lc;
	return dep_command(fd, d, h, &cmd, "stop", PULL_MS, purpose);
}

/* make_look: before the first batch of a stop or a remove, each host is
 * asked what it runs (an Inventory) rather than to pull an image it is
 * about to stop: it answers when it is there and reachable. */
static struct cmd *
make_look(struct ferryd *fd, const struct deploy_rec *d, struct host *h)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Inventory inv = FERRY__INVENTORY__INIT;

	cmd.payload_case = FERRY__COMMAND__PAYLOAD_INVENTORY;
	cmd.inventory = &inv;
	return dep_command(fd, d, h, &cmd, "inventory", PULL_MS, "pull");
}

/* make_removal: ferry remove's step on h: its route and containers go. */
static struct cmd *
make_removal(struct ferryd *fd, const struct deploy_rec *d, struct host *h)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Remove rm = FERRY__REMOVE__INIT;

	rm.service = (char *)d->service;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_REMOVE;
	cmd.remove = &rm;
	return dep_command(fd, d, h, &cmd, "remove", PULL_MS, "swap");
}

/* lifecycle_command: the engine's decision for h as a restart, stop,
 * start or remove carries it out (and puts it back: a stopped host is
 * started again, a started one stopped, a restarted one is left as it
 * runs).  NULL when it cannot be built. */
static struct cmd *
lifecycle_command(struct ferryd *fd, struct deployment *p,
    const struct deploy_rec *d, struct host *h, enum rollout_action a)
{
	int stop = is_kind(d, DEPLOY_KIND_STOP);
	int startk = is_kind(d, DEPLOY_KIND_START);
	int restart = is_kind(d, DEPLOY_KIND_RESTART);

	switch (a) {
	case RA_PULL:
		return stop || is_kind(d, DEPLOY_KIND_REMOVE) ?
		    make_look(fd, d, h) : make_pull(fd, d, h, d->digest,
		    "pull");
	case RA_SWAP:
		if (restart)
			return make_same(fd, p, d, h, 1, "swap");
		if (startk)
			return make_same(fd, p, d, h, 0, "swap");
		if (stop)
			return make_stop(fd, p, d, h, "swap");
		return make_removal(fd, d, h);
	case RA_REVERT:
		if (restart || stop)
			return make_same(fd, p, d, h, 0, "revert");
		if (startk)
			return make_stop(fd, p, d, h, "revert");
		return NULL;		/* a removal is not put back */
	default:
		return NULL;
	}
}

/* ---- stepping ----------------------------------------------------------- */

/* waits: a host in this state waits for its command's answer. */
static int
waits(enum rollout_host_state s)
{
	return s == RH_PULLING || s == RH_SWAPPING || s == RH_REVERTING ||
	    s == RH_WEIGHING;
}

/* analysis_hosts lists the hosts an interval is judged over into out
 * (room for r->nhosts): the canary hosts while in the steps, every host
 * of the deployment past them. */
static size_t
analysis_hosts(const struct rollout *r, const char **out)
{
	size_t i, n = 0;

	for (i = 0; i < r->nhosts; i++)
		if (r->phase == CP_DONE || r->hosts[i].batch == 0)
			out[n++] = r->hosts[i].name;
	return n;
}

/*
 * read_marks reads what the proxies of r's analysis hosts counted so far
 * of both revisions into a new array (*out, *nout: two per host heard);
 * a host whose proxy ferryd has not read counts nothing in the interval.
 * The readings of over (the end of a judged interval), where they name a
 * host, are taken instead, so that the next interval starts exactly where
 * that one ended.
 */
static int
read_marks(struct ferryd *fd, const struct deployment *p,
    const struct rollout *r, const struct judged *over,
    struct analysis_mark **out, size_t *nout)
{
	const char **hosts = calloc(r->nhosts + 1, sizeof(*hosts));
	struct analysis_mark *m = calloc(2 * r->nhosts + 1, sizeof(*m));
	size_t n, i, j, k = 0;
	char err[160];
	int taken;

	*out = NULL;
	*nout = 0;
	if (hosts == NULL || m == NULL) {
		free(hosts);
		free(m);
		return FERR_NOMEM;
	}
	n = analysis_hosts(r, hosts);
	for (i = 0; i < n; i++) {
		taken = 0;
		for (j = 0; over != NULL && j < over->nends; j++)
			if (strcmp(over->ends[j].host, hosts[i]) == 0) {
				m[k++] = over->ends[j];
				taken = 1;
			}
		if (!taken && analysis_read(fd->traffic, p->d.service,
		    &hosts[i], 1, p->d.revision, p->d.previous_revision, &m[k],
		    err, sizeof(err)) == 0)
			k += 2;
	}
	free(hosts);
	*out = m;
	*nout = k;
	return 0;
}

/* in_flight: hosts whose command has not answered yet. */
static size_t
in_flight(const struct rollout *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nhosts; i++)
		n += waits(r->hosts[i].state);
	return n;
}

/* dep_forget frees deployment id when it has ended and waits for no
 * answer any more. */
static void
dep_forget(uint64_t id)
{
	struct deployment *p = dep_find(id);

	if (p != NULL && rollout_finished(&p->r) && in_flight(&p->r) == 0 &&
	    p->nqueue == 0) {
		dep_unlink(p);
		dep_free(p);
	}
}

/* The work space of one step, sized by the deployment's host count. */
struct step {
	struct rollout_decision *dec;
	enum rollout_host_state *before;
	struct command_rec **recs;
	struct cmd **cmds;
	struct host **hosts;
	struct deploy_event *evs;
	char (*details)[600];	/* room for a whole cause */
};

static void
step_free(struct step *w)
{
	free(w->dec);
	free(w->before);
	free(w->recs);
	free(w->cmds);
	free(w->hosts);
	free(w->evs);
	free(w->details);
}

static int
step_alloc(struct step *w, size_t n)
{
	memset(w, 0, sizeof(*w));
	w->dec = calloc(ROLLOUT_DECISIONS(n), sizeof(*w->dec));
	w->before = calloc(n + 1, sizeof(*w->before));
	w->recs = calloc(n + 1, sizeof(*w->recs));
	w->cmds = calloc(n + 1, sizeof(*w->cmds));
	w->hosts = calloc(n + 1, sizeof(*w->hosts));
	w->evs = calloc(n + 4, sizeof(*w->evs));
	w->details = calloc(n + 4, sizeof(*w->details));
	if (!w->dec || !w->before || !w->recs || !w->cmds || !w->hosts ||
	    !w->evs || !w->details) {
		step_free(w);
		return FERR_NOMEM;
	}
	return 0;
}

/* host_event adds host rh's new state to the step's events at ne and
 * returns the next free slot. */
static size_t
host_event(struct step *w, size_t ne, const struct rollout_host *rh)
{
	snprintf(w->details[ne], sizeof(w->details[ne]), "%s%s%s",
	    rollout_host_state_name(rh->state), rh->cause[0] ? ": " : "",
	    rh->cause);
	w->evs[ne].actor = "ferryd";
	w->evs[ne].kind = "host";
	w->evs[ne].host = rh->name;
	w->evs[ne].detail = w->details[ne];
	return ne + 1;
}

/*
 * dep_step feeds one input to a copy of the engine, then records the new
 * state with the commands and events it implies in one transaction, and
 * only once that has committed makes the copy the deployment's state and
 * hands the commands to the outbox.  Nothing is sent that is not
 * recorded, and memory never runs ahead of the disk: when the commit
 * fails, the deployment is as it was and the error is returned (the
 * caller keeps the input to try again).
 */
static int
dep_step(struct ferryd *fd, struct deployment *p, const struct dep_input *in)
{
	struct rollout_event ev = { in->in, in->host,
	    in->cause[0] ? in->cause : NULL, in->verdict };
	struct rollout next;
	struct deploy_rec d = p->d;
	size_t n, i, nc = 0, ne = 0, nh = p->r.nhosts, first;
	uint64_t wake = p->wake_ms;
	struct step w;
	struct analysis_mark *marks = NULL;
	struct interval_rec *iv = NULL;
	size_t nmarks = 0;
	int record = 0, rc, mark = 0, judge = 0;

	if (in->digest[0] != '\0')
		snprintf(d.digest, sizeof(d.digest), "%s", in->digest);
	if (step_alloc(&w, nh) != 0)
		return FERR_NOMEM;
	if ((rc = rollout_copy(&next, &p->r)) != 0) {
		step_free(&w);
		return rc;
	}
	for (i = 0; i < nh; i++)
		w.before[i] = p->r.hosts[i].state;
	n = rollout_step(&next, &ev, clock_steady_ms(), w.dec,
	    ROLLOUT_DECISIONS(nh),
	    &wake);
	for (i = 0; i < n; i++) {
		struct host *h;
		struct cmd *c = NULL;

		if (w.dec[i].action == RA_RECORD) {
			record = 1;
			continue;
		}
		if (w.dec[i].action == RA_MARK || w.dec[i].action == RA_JUDGE) {
			mark |= w.dec[i].action == RA_MARK;
			judge |= w.dec[i].action == RA_JUDGE;
			continue;
		}
		h = fleet_find(fd, next.hosts[w.dec[i].host].name);
		if (h != NULL && lifecycle_kind(d.kind))
			c = lifecycle_command(fd, p, &d, h, w.dec[i].action);
		else if (h != NULL && w.dec[i].action == RA_PULL)
			c = make_pull(fd, &d, h, d.digest, "pull");
		else if (h != NULL && w.dec[i].action == RA_SWAP)
			c = make_swap(fd, p, &d, h, 0, 0, 0);
		else if (h != NULL && w.dec[i].action == RA_WEIGH)
			c = make_swap(fd, p, &d, h, 0, 1,
			    next.cfg.steps[next.step].weight);
		else if (h != NULL && w.dec[i].action == RA_REVERT &&
		    !next.hosts[w.dec[i].host].had_previous)
			c = make_remove(fd, &d, h);
		else if (h != NULL && w.dec[i].action == RA_REVERT)
			c = make_swap(fd, p, &d, h, 1, 0, 0);
		if (c == NULL) {
			log_warnx("deployment %llu: %s: cannot build its "
			    "command", (unsigned long long)d.id,
			    next.hosts[w.dec[i].host].name);
			continue;
		}
		w.cmds[nc] = c;
		w.recs[nc] = &c->rec;
		w.hosts[nc] = h;
		nc++;
		record = 1;
	}
	if (!record) {
		p->wake_ms = wake;
		rollout_free(&next);
		step_free(&w);
		return 0;
	}
	/* The events, in the order things happened: the host whose answer
	 * this is, then the deployment's state or batch, then the hosts
	 * that moved because of it. */
	first = ev.input != RI_TICK && ev.input != RI_PAUSE &&
	    ev.input != RI_RESUME && ev.input != RI_ABORT &&
	    ev.input != RI_RESOLVE_FAILED && ev.host < nh &&
	    next.hosts[ev.host].state != w.before[ev.host] ? ev.host : nh;
	if (first < nh && ((ev.input == RI_SWAPPED &&
	    w.before[first] == RH_FAILED) || (ev.input == RI_REVERTED &&
	    w.before[first] == RH_REVERT_FAILED))) {
		/* A late answer from a host counted failed: say so before
		 * what follows from it. */
		snprintf(w.details[ne], sizeof(w.details[ne]), "late answer: "
		    "its %s to revision %llu passed after it had been "
		    "counted failed", ev.input == RI_SWAPPED ? "swap" :
		    "revert", (unsigned long long)(ev.input == RI_SWAPPED ?
		    d.revision : d.previous_revision));
		w.evs[ne].actor = "ferryd";
		w.evs[ne].kind = "host";
		w.evs[ne].host = next.hosts[first].name;
		w.evs[ne].detail = w.details[ne];
		ne++;
	}
	if (first < nh)
		ne = host_event(&w, ne, &next.hosts[first]);
	/* A verdict counted: its interval is recorded with it (and said
	 * before what follows from it), and the readings that ended it are
	 * the next interval's marks. */
	if (ev.input == RI_VERDICT && in->judged != NULL) {
		iv = &in->judged->iv;
		iv->seq = next.intervals;
		snprintf(w.details[ne], sizeof(w.details[ne]), "interval %llu "
		    "(%s): %s: %s", (unsigned long long)iv->seq, iv->phase,
		    analysis_verdict_name(iv->verdict), iv->reason);
		w.evs[ne].actor = "ferryd";
		w.evs[ne].kind = "analysis";
		w.evs[ne].host = "";
		w.evs[ne].detail = w.details[ne];
		ne++;
	}
	if (next.state != p->r.state || next.batch != p->r.batch ||
	    ev.input == RI_PAUSE || ev.input == RI_RESUME ||
	    ev.input == RI_ABORT) {
		char *dt = w.details[ne];
		size_t dl = sizeof(w.details[ne]), l;

		if (next.state == RO_RUNNING || next.state == RO_ROLLING_BACK)
			snprintf(dt, dl, "%s batch %u/%u",
			    rollout_state_name(next.state), next.batch + 1,
			    next.nbatches);
		else
			snprintf(dt, dl, "%s", rollout_state_name(next.state));
		l = strlen(dt);
		if (next.cause[0])
			snprintf(dt + l, dl - l, ": %s", next.cause);
		w.evs[ne].actor = in->actor[0] ? in->actor : "ferryd";
		w.evs[ne].kind = ev.input == RI_PAUSE ? "pause" :
		    ev.input == RI_RESUME ? "resume" :
		    ev.input == RI_ABORT ? "abort" : "state";
		w.evs[ne].host = "";
		w.evs[ne].detail = dt;
		ne++;
	}
	for (i = 0; i < nh; i++)
		if (i != first && next.hosts[i].state != w.before[i])
			ne = host_event(&w, ne, &next.hosts[i]);
	if (mark && read_marks(fd, p, &next, iv != NULL ? in->judged : NULL,
	    &marks, &nmarks) != 0) {
		for (i = 0; i < nc; i++)
			link_discard(w.cmds[i]);
		rollout_free(&next);
		step_free(&w);
		return FERR_NOMEM;
	}
	if (mark || iv != NULL)
		rc = store_deploy_commit_analysis(fd->store, &d, &next, w.recs,
		    nc, w.evs, ne, iv, marks, nmarks);
	else
		rc = store_deploy_commit(fd->store, &d, &next, w.recs, nc,
		    w.evs, ne);
	if (rc != 0) {
		for (i = 0; i < nc; i++)
			link_discard(w.cmds[i]);
		free(marks);
		rollout_free(&next);
		step_free(&w);
		return rc;
	}
	if (mark || iv != NULL) {
		free(p->marks);
		p->marks = marks;
		p->nmarks = nmarks;
	}
	if (judge)
		p->judge_at_ms = clock_mono_ms();
	if (iv != NULL)
		metrics_verdict(p->d.service, analysis_verdict_name(iv->verdict));
	/* Recorded: now memory moves. */
	if (!rollout_finished(&p->r) && rollout_finished(&next))
		metrics_deployment_seconds(d.service, d.kind,
		    rollout_state_name(next.state), (double)(clock_wall_ms() >
		    d.created_ms ? clock_wall_ms() - d.created_ms : 0) / 1e3);
	rollout_free(&p->r);
	p->r = next;
	p->d = d;
	p->wake_ms = wake;
	/* A batch ends when the next starts or the deployment ends. */
	if (p->batch_started_us != 0 && (p->r.batch != p->batch_seen ||
	    rollout_finished(&p->r))) {
		metrics_batch_seconds(p->d.service, (double)(clock_mono_us() -
		    p->batch_started_us) / 1e6);
		p->batch_started_us = 0;
	}
	if (p->batch_started_us == 0 && (p->r.state == RO_RUNNING ||
	    p->r.state == RO_ROLLING_BACK)) {
		p->batch_started_us = clock_mono_us();
		p->batch_seen = p->r.batch;
	}
	for (i = 0; i < ne; i++)
		log_info("deployment %llu of %s: %s%s%s",
		    (unsigned long long)p->d.id, p->d.service, w.evs[i].host,
		    w.evs[i].host[0] ? ": " : "", w.evs[i].detail);
	for (i = 0; i < nc; i++)
		link_enqueue(fd, w.hosts[i], w.cmds[i]);
	step_free(&w);
	return 0;
}

/*
 * dep_drain applies the deployment's queued inputs in order, each
 * recorded before the next; it stops at the first whose commit fails
 * (that one and those after it wait for the next try, see deploy_tick).
 * Afterwards a finished deployment that waits for nothing is freed: p may
 * be gone when it returns.  Returns 0 when the queue is empty.
 */
static void dep_withdrawn(void *arg, struct host *h);

static int
dep_drain(struct ferryd *fd, struct deployment *p)
{
	uint64_t id = p->d.id;
	char why[128];
	int rc = 0;

again:
	while (p->nqueue > 0) {
		if ((rc = dep_step(fd, p, &p->queue[0])) != 0)
			break;
		judged_free(p->queue[0].judged);
		p->nqueue--;
		memmove(p->queue, p->queue + 1, p->nqueue * sizeof(*p->queue));
	}
	if (rc == 0 && rollout_finished(&p->r) && !p->withdrawn) {
		/* Ended: nothing of it is sent any more.  A host that waited
		 * for a command withdrawn before any agent took it did not
		 * run it: that goes in as its answer. */
		p->withdrawn = 1;
		snprintf(why, sizeof(why), "withdrawn: deployment %llu had "
		    "ended (%s) before the agent took it",
		    (unsigned long long)id, rollout_state_name(p->r.state));
		link_withdraw(fd, id, why, dep_withdrawn, p);
		if (p->nqueue > 0)
			goto again;
	}
	if (rc != 0) {
		p->retry_at_ms = clock_mono_ms() + RETRY_MS;
		if (!p->failing)
			log_warnx("deployment %llu of %s: cannot record its "
			    "state: %s; nothing is sent, and %zu input(s) "
			    "wait to be tried again", (unsigned long long)id,
			    p->d.service, ferr_str(rc), p->nqueue);
		p->failing = 1;
		return rc;
	}
	if (p->failing)
		log_info("deployment %llu of %s: its state is recorded again",
		    (unsigned long long)id, p->d.service);
	p->failing = 0;
	/* A finished deployment stays until its last answer is in. */
	dep_forget(id);
	return 0;
}

/* dep_queue appends an input to p's queue (the actor NULL: ferryd). */
static int
dep_queue(struct deployment *p, enum rollout_input in, size_t host,
    const char *cause, const char *actor, const char *digest)
{
	struct dep_input *q;

	if (p->nqueue == p->capqueue) {
		size_t cap = p->capqueue ? p->capqueue * 2 : 4;

		if ((q = realloc(p->queue, cap * sizeof(*q))) == NULL)
			return FERR_NOMEM;
		p->queue = q;
		p->capqueue = cap;
	}
	q = &p->queue[p->nqueue++];
	memset(q, 0, sizeof(*q));
	q->in = in;
	q->host = host;
	snprintf(q->cause, sizeof(q->cause), "%s", cause ? cause : "");
	snprintf(q->actor, sizeof(q->actor), "%s", actor ? actor : "");
	snprintf(q->digest, sizeof(q->digest), "%s", digest ? digest : "");
	return 0;
}

static size_t host_index(const struct deployment *p, const char *name);

/* dep_withdrawn: host h's command of deployment arg was withdrawn. */
static void
dep_withdrawn(void *arg, struct host *h)
{
	struct deployment *p = arg;
	size_t i = host_index(p, h->rec.name);

	if (i != (size_t)-1 && waits(p->r.hosts[i].state))
		dep_queue(p, RI_OFFLINE, i, "its command was withdrawn: the "
		    "deployment had ended before any agent took it", NULL,
		    NULL);
}

/* dep_input feeds one input to p's engine after those still waiting: it
 * is recorded now or, when the disk refuses, kept and tried again.  p may
 * be freed when it returns (see dep_drain). */
static void
dep_input(struct ferryd *fd, struct deployment *p, enum rollout_input in,
    size_t host, const char *cause)
{
	if (dep_queue(p, in, host, cause, NULL, NULL) != 0) {
		log_warnx("deployment %llu: out of memory: an input is lost",
		    (unsigned long long)p->d.id);
		return;
	}
	dep_drain(fd, p);
}

static size_t
host_index(const struct deployment *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->r.nhosts; i++)
		if (strcmp(p->r.hosts[i].name, name) == 0)
			return i;
	return (size_t)-1;
}

/* start_resolve asks the first host to pull the tag: its digest is what
 * every host of the deployment will run. */
static int
start_resolve(struct ferryd *fd, struct deployment *p)
{
	struct host *h = fleet_find(fd, p->r.hosts[0].name);
	struct cmd *c;
	struct command_rec *rec;
	int rc;

	if (h == NULL)
		return FERR_NOTFOUND;
	if ((c = make_pull(fd, &p->d, h, p->spec->image, "resolve")) ==
	    NULL)
		return FERR_NOMEM;
	rec = &c->rec;
	if ((rc = store_deploy_commit(fd->store, &p->d, &p->r, &rec, 1, NULL,
	    0)) != 0) {
		link_discard(c);
		return rc;
	}
	p->resolving = 1;
	link_enqueue(fd, h, c);
	return 0;
}

static void on_loaded(void *, const struct deploy_rec *, struct rollout *);

/* dep_reload brings a finished deployment back from the store, for a late
 * answer to one of its commands.  NULL when it cannot. */
static struct deployment *
dep_reload(struct ferryd *fd, uint64_t id)
{
	struct load_ctx lc = { fd, 0 };

	if (store_deploy_list(fd->store, NULL, 0, id, 1, on_loaded, &lc) != 0)
		return NULL;
	return dep_find(id);
}

static void
on_newest(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	*(uint64_t *)arg = d->id;
	free(r->hosts);
}

/* newer_exists: a deployment of p's service was created after p. */
static int
newer_exists(struct ferryd *fd, const struct deployment *p)
{
	uint64_t newest = 0;

	if (store_deploy_list(fd->store, p->d.service, 0, 0, 1, on_newest,
	    &newest) != 0)
		return 0;
	return newest > p->d.id;
}

void
deploy_on_result(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct ferryd *fd = arg;
	struct deployment *p = dep_find(c->rec.deployment);
	int ok = report != NULL &&
	    report->status == FERRY__REPORT__STATUS__SUCCEEDED;
	const char *cause = report != NULL && report->message &&
	    report->message[0] ? report->message : err ? err : "no result";
	size_t i;

	if (p == NULL && ok && c->rec.deployment != 0 &&
	    (strcmp(c->rec.purpose, "swap") == 0 ||
	    strcmp(c->rec.purpose, "weigh") == 0 ||
	    strcmp(c->rec.purpose, "revert") == 0))
		p = dep_reload(fd, c->rec.deployment);
	if (p == NULL)
		return;		/* finished, or unknown: nothing to feed */
	if (strcmp(c->rec.purpose, "resolve") == 0) {
		char why[512];

		p->resolving = 0;
		if (ok && report->result_case == FERRY__REPORT__RESULT_PULL &&
		    report->pull->digest != NULL &&
		    spec_image_is_digest(report->pull->digest)) {
			/* The digest is recorded with the engine's first
			 * step, in its transaction. */
			if (dep_queue(p, RI_TICK, 0, NULL, NULL,
			    report->pull->digest) == 0)
				dep_drain(fd, p);
			return;
		}
		/* Nothing changed anywhere: the deployment fails before its
		 * engine starts, as the engine's own input. */
		snprintf(why, sizeof(why), "cannot resolve %.100s on %.40s: "
		    "%.80s", p->spec->image, h->rec.name, ok ? "the agent "
		    "answered no image digest" : cause);
		dep_input(fd, p, RI_RESOLVE_FAILED, 0, why);
		return;
	}
	if ((i = host_index(p, h->rec.name)) == (size_t)-1) {
		dep_forget(c->rec.deployment);
		return;
	}
	/* A late answer (its host no longer waits for one) to a deployment
	 * that has ended is not applied once a newer one has started. */
	if (rollout_finished(&p->r) && !waits(p->r.hosts[i].state) &&
	    newer_exists(fd, p)) {
		char why[200];

		snprintf(why, sizeof(why), "late answer (%s %s) not applied: "
		    "a newer deployment of %s has started since",
		    c->rec.purpose, ok ? "succeeded" : "failed", p->d.service);
		store_deploy_event(fd->store, p->d.id, "ferryd", "host",
		    h->rec.name, why);
		log_warnx("deployment %llu of %s: %s: %s",
		    (unsigned long long)p->d.id, p->d.service, h->rec.name,
		    why);
		dep_forget(c->rec.deployment);
		return;
	}
	if (report == NULL)	/* no answer: it may still come */
		dep_input(fd, p, RI_OFFLINE, i, cause);
	else if (strcmp(c->rec.purpose, "pull") == 0)
		dep_input(fd, p, ok ? RI_PULLED : RI_PULL_FAILED, i, cause);
	else if (strcmp(c->rec.purpose, "swap") == 0 ||
	    strcmp(c->rec.purpose, "weigh") == 0)
		dep_input(fd, p, ok ? RI_SWAPPED : RI_SWAP_FAILED, i, cause);
	else if (strcmp(c->rec.purpose, "revert") == 0)
		dep_input(fd, p, ok ? RI_REVERTED : RI_REVERT_FAILED, i, cause);
	dep_forget(c->rec.deployment);	/* loaded only for this answer */
}

/* ---- the clock, hosts going away, and restarts ---------------------------- */

/* judge_finish judges the interval whose counts are canary and stable
 * (span ms long), with the Prometheus checks' values (NaN: none), and
 * feeds the verdict to the engine with j (taken). */
static void
judge_finish(struct ferryd *fd, struct deployment *p, struct judged *j,
    const struct traffic_counts *canary, const struct traffic_counts *stable,
    uint64_t span, const double *prom, size_t nprom)
{
	struct analysis_result res;

	analysis_judge(&p->spec->analysis, canary, stable, span, prom, nprom,
	    &res);
	j->iv.deployment = p->d.id;
	j->iv.step = p->r.step + 1;
	snprintf(j->iv.phase, sizeof(j->iv.phase), "%s", p->r.phase ==
	    CP_DONE ? "rollout" : p->r.cfg.strategy == RS_BLUE_GREEN ?
	    "blue-green" : "canary");
	j->iv.end_ms = clock_wall_ms();
	j->iv.start_ms = j->iv.end_ms > span ? j->iv.end_ms - span : 0;
	j->iv.verdict = (int)res.verdict;
	j->iv.failed = res.failed;
	j->iv.canary_requests = res.canary.requests;
	j->iv.canary_errors = res.canary.errors;
	j->iv.canary_p95_ms = res.canary.p95_ms;
	j->iv.stable_requests = res.stable.requests;
	j->iv.stable_errors = res.stable.errors;
	j->iv.stable_p95_ms = res.stable.p95_ms;
	snprintf(j->iv.reason, sizeof(j->iv.reason), "%s", res.reason);
	if (dep_queue(p, RI_VERDICT, 0, res.reason, NULL, NULL) != 0) {
		judged_free(j);		/* judged again on the next tick */
		return;
	}
	p->queue[p->nqueue - 1].verdict = (enum rollout_verdict)res.verdict;
	p->queue[p->nqueue - 1].judged = j;
	dep_drain(fd, p);
}

/* The Prometheus checks of one interval, asked on a worker thread (a
 * query blocks): everything it needs is copied, since the deployment may
 * end meanwhile. */
#define PROM_TIMEOUT_MS	5000u

struct promwork {
	uv_work_t req;
	struct ferryd *fd;
	uint64_t id;
	struct judged *j;
	struct traffic_counts canary, stable;
	uint64_t span;
	char service[SPEC_SERVICE_MAX + 1];
	struct promq_vars vars;
	size_t n;
	char *url[SPEC_PROM_MAX], *query[SPEC_PROM_MAX];
	double value[SPEC_PROM_MAX];
	char reason[SPEC_PROM_MAX][PROMQ_REASON_LEN];
};

static void
promwork_free(struct promwork *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->url[i]);
		free(w->query[i]);
	}
	free(w);
}

static void
prom_work(uv_work_t *req)
{
	struct promwork *w = req->data;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (promq_query(w->url[i], w->query[i], &w->vars,
		    PROM_TIMEOUT_MS, &w->value[i], w->reason[i],
		    sizeof(w->reason[i])) == 0)
			w->reason[i][0] = '\0';
}

static void
prom_done(uv_work_t *req, int status)
{
	struct promwork *w = req->data;
	struct deployment *p = dep_find(w->id);
	size_t i;

	if (p != NULL)
		p->querying = 0;
	if (p == NULL || status != 0 || !(p->r.flags & ROLLOUT_JUDGING)) {
		judged_free(w->j);
		promwork_free(w);
		return;
	}
	for (i = 0; i < w->n; i++)
		if (w->reason[i][0] != '\0')
			log_warnx("deployment %llu of %s: analysis check %s: no "
			    "value: %s", (unsigned long long)p->d.id,
			    p->d.service, p->spec->analysis.prom[i].name,
			    w->reason[i]);
	judge_finish(w->fd, p, w->j, &w->canary, &w->stable, w->span,
	    w->value, w->n);
	promwork_free(w);
}

/* prom_start asks p's Prometheus checks on a worker: 0, or an error (and
 * nothing started: the caller judges without them). */
static int
prom_start(struct ferryd *fd, struct deployment *p, struct judged *j,
    const struct traffic_counts *canary, const struct traffic_counts *stable,
    uint64_t span)
{
	const struct spec_analysis *a = &p->spec->analysis;
	struct promwork *w = calloc(1, sizeof(*w));
	size_t i;

	if (w == NULL)
		return FERR_NOMEM;
	w->req.data = w;
	w->fd = fd;
	w->id = p->d.id;
	w->j = j;
	w->canary = *canary;
	w->stable = *stable;
	w->span = span;
	snprintf(w->service, sizeof(w->service), "%s", p->d.service);
	w->vars.service = w->service;
	w->vars.revision = p->d.revision;
	w->vars.stable_revision = p->d.previous_revision;
	for (i = 0; i < a->nprom && i < SPEC_PROM_MAX; i++) {
		w->value[i] = NAN;
		w->url[i] = strdup(a->prom[i].url);
		w->query[i] = strdup(a->prom[i].query);
		w->n++;
		if (w->url[i] == NULL || w->query[i] == NULL) {
			promwork_free(w);
			return FERR_NOMEM;
		}
	}
	if (uv_queue_work(fd->loop, &w->req, prom_work, prom_done) != 0) {
		promwork_free(w);
		return FERR_NOMEM;
	}
	p->querying = 1;
	return 0;
}

/*
 * judge_progress works on the verdict the engine asked for: once every
 * analysis host's proxy was read after the interval's end (or
 * JUDGE_WAIT_MS went by), the two revisions' counts since the marks are
 * judged against the spec's analysis and fed back as RI_VERDICT, with
 * the interval's record and the readings that ended it.
 */
static void
judge_progress(struct ferryd *fd, struct deployment *p)
{
	const char **hosts;
	struct traffic_counts canary, stable;
	struct analysis_mark *cur;
	struct judged *j;
	uint64_t now = clock_mono_ms(), span, steady = clock_steady_ms();
	size_t n, i, quiet = 0, unmarked, ncur = 0;

	/* Asked, and not yet answered: a verdict waiting in the queue, or
	 * Prometheus being asked, is an answer on its way. */
	if (!(p->r.flags & ROLLOUT_JUDGING) || p->querying || p->nqueue > 0)
		return;
	if ((hosts = calloc(p->r.nhosts + 1, sizeof(*hosts))) == NULL)
		return;
	n = analysis_hosts(&p->r, hosts);
	for (i = 0; i < n; i++)
		quiet += !traffic_heard_since(fd->traffic, hosts[i],
		    p->judge_at_ms);
	free(hosts);
	if (quiet > 0 && now - p->judge_at_ms < JUDGE_WAIT_MS)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	if (read_marks(fd, p, &p->r, NULL, &j->ends, &j->nends) != 0) {
		judged_free(j);
		return;
	}
	/* Only what was marked at the interval's start counts: a reading
	 * with no mark (its proxy first read during the interval) would
	 * count everything since that proxy started; it is left out here
	 * and marks the next interval. */
	if ((cur = calloc(j->nends + 1, sizeof(*cur))) == NULL) {
		judged_free(j);
		return;
	}
	for (i = 0; i < j->nends; i++) {
		size_t k;

		for (k = 0; k < p->nmarks; k++)
			if (strcmp(p->marks[k].host, j->ends[i].host) == 0 &&
			    p->marks[k].revision == j->ends[i].revision) {
				cur[ncur++] = j->ends[i];
				break;
			}
	}
	unmarked = j->nends - ncur;
	analysis_sides(p->marks, p->nmarks, cur, ncur, p->d.revision,
	    p->d.previous_revision, &canary, &stable);
	free(cur);
	span = p->r.interval_since_ms != 0 && steady > p->r.interval_since_ms ?
	    steady - p->r.interval_since_ms : p->r.cfg.interval_ms;
	if (unmarked > 0)
		log_info("deployment %llu of %s: %zu reading(s) had no mark "
		    "(their proxies were first read during the interval): "
		    "left out of it", (unsigned long long)p->d.id,
		    p->d.service, unmarked);
	if (p->spec->analysis.nprom > 0) {
		if (prom_start(fd, p, j, &canary, &stable, span) == 0)
			return;
		judge_finish(fd, p, j, &canary, &stable, span, NULL, 0);
		return;
	}
	judge_finish(fd, p, j, &canary, &stable, span, NULL, 0);
}

void
deploy_metrics(void)
{
	struct metrics_canary c[METRICS_CANARIES_MAX];
	struct deployment *p;
	size_t n = 0;

	for (p = deployments; p != NULL && n < METRICS_CANARIES_MAX;
	    p = p->next) {
		if (rollout_finished(&p->r) || p->r.cfg.strategy == RS_ROLLING ||
		    p->r.phase == CP_DONE || p->r.step >= p->r.cfg.nsteps)
			continue;
		memset(&c[n], 0, sizeof(c[n]));
		snprintf(c[n].service, sizeof(c[n].service), "%s",
		    p->d.service);
		c[n].deployment = p->d.id;
		c[n].strategy = p->r.cfg.strategy == RS_BLUE_GREEN ?
		    "blue-green" : "canary";
		c[n].step = p->r.step + 1;
		/* What the proxies run: the step's weight once taken. */
		c[n].weight = p->r.phase == CP_RUNNING ?
		    p->r.cfg.steps[p->r.step].weight : p->r.step > 0 ?
		    p->r.cfg.steps[p->r.step - 1].weight : 0;
		n++;
	}
	metrics_canaries(c, n);
}

void
deploy_tick(struct ferryd *fd, uint64_t now_ms)
{
	struct deployment *p, *next;

	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		if (p->nqueue > 0) {
			/* Inputs whose record failed: try again, in order;
			 * a tick waits behind them. */
			if (clock_mono_ms() >= p->retry_at_ms)
				dep_drain(fd, p);
			continue;
		}
		if (p->r.state == RO_PLANNED && p->d.digest[0] == '\0' &&
		    !p->resolving && clock_mono_ms() >= p->retry_at_ms) {
			/* Its resolve could not be recorded: again. */
			if (start_resolve(fd, p) != 0)
				p->retry_at_ms = clock_mono_ms() + RETRY_MS;
			continue;
		}
		if (p->r.flags & ROLLOUT_JUDGING) {
			uint64_t id = p->d.id;

			judge_progress(fd, p);
			if ((p = dep_find(id)) == NULL || p->nqueue > 0)
				continue;
		}
		if (p->wake_ms != 0 && now_ms >= p->wake_ms)
			dep_input(fd, p, RI_TICK, 0, NULL);
	}
}

void
deploy_host_offline(void *arg, struct host *h)
{
	struct ferryd *fd = arg;
	struct deployment *p, *next;
	size_t i;

	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		if ((i = host_index(p, h->rec.name)) != (size_t)-1)
			dep_input(fd, p, RI_OFFLINE, i, "host went offline");
	}
}

/* on_mark keeps one stored analysis mark of a resumed deployment. */
static void
on_mark(void *arg, const struct analysis_mark *m)
{
	struct deployment *p = arg;
	struct analysis_mark *n;

	if ((n = realloc(p->marks, (p->nmarks + 1) * sizeof(*n))) == NULL)
		return;
	p->marks = n;
	p->marks[p->nmarks++] = *m;
}

static void
on_loaded(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct load_ctx *lc = arg;
	struct deployment *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		free(r->hosts);
		lc->rc = FERR_NOMEM;
		return;
	}
	p->d = *d;
	p->r = *r;
	/* The engine's times are on ferryd's steady clock, which starts
	 * afresh with each run at the wall clock's reading: a pause between
	 * batches is re-armed with what the wall clock says remains of it,
	 * never more than the whole pause (a step of the wall clock while
	 * ferryd was down can shorten it, never stretch it). */
	if (p->r.next_batch_at_ms > clock_steady_ms() + p->r.pause_ms)
		p->r.next_batch_at_ms = clock_steady_ms() + p->r.pause_ms;
	/* A canary's step and interval go on from where they were (the
	 * proxies kept the weights and counted all along); ferryd's time
	 * down does not count against its progress deadline. */
	if (p->r.step_since_ms > clock_steady_ms())
		p->r.step_since_ms = clock_steady_ms();
	if (p->r.interval_since_ms > clock_steady_ms())
		p->r.interval_since_ms = clock_steady_ms();
	if (p->r.progress_ms != 0)
		p->r.progress_ms = clock_steady_ms();
	if (!rollout_finished(&p->r) && p->r.cfg.strategy != RS_ROLLING &&
	    store_marks_load(lc->fd->store, d->id, on_mark, p) != 0)
		log_warnx("deployment %llu of %s: its analysis marks cannot be "
		    "read: the interval being counted starts again",
		    (unsigned long long)d->id, d->service);
	if (load_spec(lc->fd, d->service, d->revision, &p->spec, NULL, 0) !=
	    0 || (d->previous_revision != 0 && load_spec(lc->fd, d->service,
	    d->previous_revision, &p->prev_spec, NULL, 0) != 0)) {
		log_warnx("deployment %llu of %s: its specs cannot be read; "
		    "left as it is", (unsigned long long)d->id, d->service);
		dep_free(p);
		return;
	}
	p->next = deployments;
	deployments = p;
}

/*
 * settle feeds a resumed deployment what happened to the commands it had
 * in flight while ferryd was down: answers already recorded are applied
 * now; unanswered ones are still in the outbox, sent again with their
 * original ids, and answer later (the agents answer repeats from their
 * records, so nothing runs twice).
 */
static void
settle(struct ferryd *fd, struct deployment *p)
{
	struct command_rec c;
	size_t i;
	int rc = 0;

	if (p->d.digest[0] == '\0' && p->r.state == RO_PLANNED) {
		/* Died while resolving: the resolve pull is in the outbox
		 * (or answered: look). */
		if (store_deploy_last_command(fd->store, p->d.id,
		    p->r.hosts[0].name, &c) != 0 || strcmp(c.purpose,
		    "resolve") != 0)
			p->resolving = 0;	/* never asked: deploy_tick asks */
		else if (strcmp(c.state, "queued") == 0 ||
		    strcmp(c.state, "sent") == 0 ||
		    strcmp(c.state, "accepted") == 0)
			p->resolving = 1;
		else
			dep_input(fd, p, RI_RESOLVE_FAILED, 0, "the image "
			    "could not be resolved before ferryd restarted; "
			    "deploy again");
		return;
	}
	/* Every input is queued first and recorded in order after: one may
	 * end the deployment. */
	for (i = 0; i < p->r.nhosts && rc == 0; i++) {
		struct rollout_host *rh = &p->r.hosts[i];
		int ok;

		if (!waits(rh->state))
			continue;
		if (store_deploy_last_command(fd->store, p->d.id, rh->name,
		    &c) != 0) {
			rc = dep_queue(p, rh->state == RH_PULLING ?
			    RI_PULL_FAILED : rh->state == RH_SWAPPING ||
			    rh->state == RH_WEIGHING ?
			    RI_SWAP_FAILED : RI_REVERT_FAILED, i,
			    "its command was lost", NULL, NULL);
			continue;
		}
		if (strcmp(c.state, "queued") == 0 ||
		    strcmp(c.state, "sent") == 0 ||
		    strcmp(c.state, "accepted") == 0)
			continue;	/* the outbox has it */
		ok = strcmp(c.state, "succeeded") == 0;
		rc = dep_queue(p, rh->state == RH_PULLING ? (ok ? RI_PULLED :
		    RI_PULL_FAILED) : rh->state == RH_SWAPPING ||
		    rh->state == RH_WEIGHING ? (ok ?
		    RI_SWAPPED : RI_SWAP_FAILED) : (ok ? RI_REVERTED :
		    RI_REVERT_FAILED), i, c.result[0] ? c.result : c.state,
		    NULL, NULL);
	}
	/* Ticks lost while down (a pause between batches) come now. */
	if (rc == 0)
		rc = dep_queue(p, RI_TICK, 0, NULL, NULL, NULL);
	if (rc != 0)
		log_warnx("deployment %llu: out of memory while resuming",
		    (unsigned long long)p->d.id);
	dep_drain(fd, p);
}

int
deploy_load(struct ferryd *fd)
{
	struct load_ctx lc = { fd, 0 };
	struct deployment *p, *next;
	int rc;

	if ((rc = store_deploy_list(fd->store, NULL, 1, 0, 0, on_loaded,
	    &lc)) != 0)
		return rc;
	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		log_info("deployment %llu of %s: resuming (%s)",
		    (unsigned long long)p->d.id, p->d.service,
		    rollout_state_name(p->r.state));
		settle(fd, p);
	}
	return lc.rc;
}

void
deploy_free_all(void)
{
	struct deployment *p, *next;

	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		dep_free(p);
	}
	deployments = NULL;
}

/* ---- what the CLI asks of a running deployment ------------------------------ */

void
deploy_control(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref, enum rollout_input in, const char *actor)
{
	struct deployment *p = dep_find(ref->id);
	const char *what = in == RI_PAUSE ? "pause" : in == RI_RESUME ?
	    "resume" : in == RI_PROMOTE ? "promote" : in == RI_ROLLBACK ?
	    "switch back" : "abort";
	struct dep_input di;
	enum rollout_state before;
	uint32_t before_flags = 0;
	int rc = 0;

	if (p == NULL || rollout_finished(&p->r)) {
		ctl_error(slot, "deployment %llu is not running (see ferry "
		    "status %llu)", (unsigned long long)ref->id,
		    (unsigned long long)ref->id);
		return;
	}
	/* What waits to be recorded goes first; an operator's request is
	 * recorded now or refused, never kept for later. */
	if (p->nqueue > 0)
		rc = dep_drain(fd, p);
	if (rc == 0 && (p = dep_find(ref->id)) != NULL &&
	    !rollout_finished(&p->r)) {
		memset(&di, 0, sizeof(di));
		di.in = in;
		snprintf(di.actor, sizeof(di.actor), "%s", actor);
		before = p->r.state;
		before_flags = p->r.flags;
		rc = dep_step(fd, p, &di);
	} else if (rc == 0) {
		ctl_error(slot, "deployment %llu ended before the %s could "
		    "apply (see ferry status %llu)", (unsigned long long)
		    ref->id, what, (unsigned long long)ref->id);
		return;
	}
	if (rc != 0) {
		log_warnx("deployment %llu: %s asked by %s not recorded: %s",
		    (unsigned long long)ref->id, what, actor, ferr_str(rc));
		ctl_error(slot, "deployment %llu: cannot record the %s: %s; "
		    "nothing changed, try again", (unsigned long long)ref->id,
		    what, ferr_str(rc));
		return;
	}
	dep_forget(ref->id);
	if ((p = dep_find(ref->id)) != NULL && p->r.state == before &&
	    p->r.flags == before_flags && in != RI_PAUSE) {
		ctl_error(slot, "deployment %llu is %s: nothing to %s",
		    (unsigned long long)ref->id, rollout_state_name(before),
		    what);
		return;
	}
	views_deployments(fd, slot, NULL, ref->id, 1, 0);
}


/* ---- the fleet as the planner sees it ------------------------------------ */

/* A snapshot of the fleet for one request: plan.c's view of every host,
 * with the host ports other services hold on each. */
struct snapshot {
	struct plan_host *hosts;
	size_t n;
	struct plan_claim *claims;
	size_t nclaims;
	char (*proxy_why)[300];		/* per host: why it has no proxy */
	struct port_of {		/* each service's current host ports */
		char service[64];
		uint32_t port[SPEC_PORTS_MAX];
		size_t n;		/* 0: none */
	} *ports;
	size_t nports, capports;
};

static void
snapshot_free(struct snapshot *sn)
{
	free(sn->hosts);
	free(sn->claims);
	free(sn->ports);
	free(sn->proxy_why);
	memset(sn, 0, sizeof(*sn));
}

/* ports_of: the host ports of service's current revision (none when it
 * has none, or they cannot be read), looked up once per snapshot; NULL
 * when out of memory. */
static const struct port_of *
ports_of(struct ferryd *fd, struct snapshot *sn, const char *service)
{
	struct spec *cur = NULL;
	struct port_of *po;
	uint64_t rev = 0;
	size_t i;

	for (i = 0; i < sn->nports; i++)
		if (strcmp(sn->ports[i].service, service) == 0)
			return &sn->ports[i];
	if (sn->nports == sn->capports) {
		size_t cap = sn->capports ? sn->capports * 2 : 8;

		if ((po = realloc(sn->ports, cap * sizeof(*po))) == NULL)
			return NULL;
		sn->ports = po;
		sn->capports = cap;
	}
	po = &sn->ports[sn->nports++];
	snprintf(po->service, sizeof(po->service), "%s", service);
	po->n = 0;
	if (store_service_current(fd->store, service, &rev) == 0 && rev != 0 &&
	    load_spec(fd, service, rev, &cur, NULL, 0) == 0 &&
	    cur->port.set) {
		if (cur->nports == 0)
			po->port[po->n++] = cur->port.host;
		for (i = 0; i < cur->nports && i < SPEC_PORTS_MAX; i++)
			po->port[po->n++] = cur->ports[i].host;
	}
	spec_free(cur);
	return po;
}

/* proxy_of: whether h's latest heartbeat said its ferry-proxy answered
 * (traffic.c), and if not, why, in buf. */
static void
proxy_of(struct ferryd *fd, const struct host *h, struct plan_host *ph,
    char *buf, size_t len)
{
	struct traffic_host th;

	traffic_host_get(fd->traffic, h->rec.name, &th);
	ph->proxy = th.state == TRAFFIC_OK;
	ph->proxy_why = buf;
	switch (th.state) {
	case TRAFFIC_OK:
		buf[0] = '\0';
		break;
	case TRAFFIC_NONE:
		snprintf(buf, len, "its agent runs no proxy: proxy_control "
		    "is empty");
		break;
	case TRAFFIC_UNANSWERED:
		snprintf(buf, len, "no proxy answer: %s", th.error);
		break;
	default:
		snprintf(buf, len, "no heartbeat since ferryd started");
		break;
	}
}

/* snapshot_take: every host of the fleet, for spec s. */
static int
snapshot_take(struct ferryd *fd, const struct spec *s, const char *kind,
    struct snapshot *sn)
{
	size_t i, j, nc = 0;

	memset(sn, 0, sizeof(*sn));
	for (i = 0; i < fd->nhosts; i++)
		if (fd->hosts[i]->status != NULL)
			nc += fd->hosts[i]->status->n_containers;
	sn->hosts = calloc(fd->nhosts + 1, sizeof(*sn->hosts));
	sn->claims = calloc(nc * SPEC_PORTS_MAX + 1, sizeof(*sn->claims));
	sn->proxy_why = calloc(fd->nhosts + 1, sizeof(*sn->proxy_why));
	if (sn->hosts == NULL || sn->claims == NULL ||
	    sn->proxy_why == NULL) {
		snapshot_free(sn);
		return FERR_NOMEM;
	}
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		struct plan_host *ph = &sn->hosts[sn->n++];

		ph->name = h->rec.name;
		ph->accepted = h->rec.state == HOST_ACCEPTED;
		ph->state = host_state_name(h);
		ph->online = h->online;
		ph->labels = h->rec.labels;
		ph->nlabels = h->rec.nlabels;
		/* A drained host is left out of what changes what runs;
		 * stopping or removing a service takes it from there too (it
		 * serves nothing of it meanwhile). */
		ph->drained = fleet_host_drained(h) &&
		    strcmp(kind, DEPLOY_KIND_STOP) != 0 &&
		    strcmp(kind, DEPLOY_KIND_REMOVE) != 0;
		proxy_of(fd, h, ph, sn->proxy_why[i], sizeof(sn->proxy_why[i]));
		ph->heard = h->status != NULL;
		ph->allowed_binds = h->status != NULL ?
		    h->status->allowed_bind_paths : NULL;
		ph->claims = &sn->claims[sn->nclaims];
		for (j = 0; h->status != NULL && j < h->status->n_containers;
		    j++) {
			const Ferry__Container *c = h->status->containers[j];
			const struct port_of *po;
			size_t k;

			if (strcmp(c->state, "running") != 0)
				continue;
			if (strcmp(c->service, s->service) == 0) {
				ph->runs_service = 1;
				continue;
			}
			if ((po = ports_of(fd, sn, c->service)) == NULL)
				continue;
			for (k = 0; k < po->n; k++) {
				sn->claims[sn->nclaims].service = c->service;
				sn->claims[sn->nclaims].port = po->port[k];
				sn->nclaims++;
				ph->nclaims++;
			}
		}
	}
	return 0;
}

/* plan_for plans s over the fleet as it is now; sn must be freed after p
 * (p's names point into it). */
static int
plan_for(struct ferryd *fd, const struct spec *s, const char *kind,
    enum plan_offline off, struct snapshot *sn, struct plan *p, char *why,
    size_t whylen)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = snapshot_take(fd, s, kind, sn)) != 0) {
		snprintf(why, whylen, "ferryd is out of memory");
		return rc;
	}
	if ((rc = plan_make(s, sn->hosts, sn->n, off, p, why, whylen)) != 0)
		log_warnx("%s: plan refused: %s", s->service, why);
	return rc;
}

/* log_spec_refused logs a refused spec's problems (one a line in err)
 * on one line, "; " between them. */
static void
log_spec_refused(const char *err)
{
	char line[2048];
	size_t i, o = 0;

	for (i = 0; err[i] != '\0' && o + 3 < sizeof(line); i++) {
		if (err[i] == '\n') {
			line[o++] = ';';
			line[o++] = ' ';
		} else {
			line[o++] = err[i];
		}
	}
	line[o] = '\0';
	log_warnx("spec refused: %s", line);
}

/* parse_request parses the spec of a deploy or plan request, applying
 * --image. */
static int
parse_request(const Ferry__DeployRequest *req, struct spec **out, char *err,
    size_t errlen)
{
	int rc;

	/* An empty file comes as no bytes at all (data NULL): it is still a
	 * file, and the parser says what it lacks. */
	if ((rc = spec_parse(req->spec_file, req->spec.data != NULL ?
	    (const char *)req->spec.data : "", req->spec.len, out, err,
	    errlen)) != 0) {
		log_spec_refused(err);
		return rc;
	}
	if (req->image && req->image[0]) {
		char why[256];
		if (spec_image_check(req->image, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "--image: %s", why);
			spec_free(*out);
			*out = NULL;
			return FERR_ARG;
		}
		snprintf((*out)->image, sizeof((*out)->image), "%s",
		    req->image);
	}
	return 0;
}

/* pin_secrets pins the newest version of each secret s names; a secret
 * ferryd lacks refuses the spec, naming the file. */
static int
pin_secrets(struct ferryd *fd, const Ferry__DeployRequest *req,
    struct spec *s, char *err, size_t errlen)
{
	char why[400];
	int rc;

	if ((rc = secrets_pin(fd, s, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "%s: %s", req->spec_file &&
		    req->spec_file[0] ? req->spec_file : "spec", why);
		log_warnx("%s refused: %s", s->service, why);
	}
	return rc;
}

/* start launches a deployment of revision rev of s (already recorded as
 * that revision), digest known or not yet; offline matched hosts are
 * refused or skipped as off says; kind is what it is for `ferry history`
 * (DEPLOY_KIND_*). */
static void
start(struct ferryd *fd, struct rep_slot *slot, struct spec *s,
    uint64_t rev, const char *digest, const char *actor,
    enum plan_offline off, const char *kind)
{
	struct deployment *p;
	struct snapshot sn;
	struct plan pl;
	uint64_t running, cur;
	char why[512];
	int rc, first = 0;

	memset(&sn, 0, sizeof(sn));
	memset(&pl, 0, sizeof(pl));
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		spec_free(s);
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	p->spec = s;
	if (plan_for(fd, s, kind, off, &sn, &pl, why, sizeof(why)) != 0) {
		ctl_error(slot, "%s", why);
		goto fail;
	}
	p->r = pl.r;			/* the deployment owns it now */
	memset(&pl.r, 0, sizeof(pl.r));
	snprintf(p->d.service, sizeof(p->d.service), "%s", s->service);
	snprintf(p->d.image, sizeof(p->d.image), "%s", s->image);
	snprintf(p->d.actor, sizeof(p->d.actor), "%s", actor);
	snprintf(p->d.kind, sizeof(p->d.kind), "%s", kind);
	plan_offline_text(&pl, p->d.skipped, sizeof(p->d.skipped));
	p->d.revision = rev;
	if (digest != NULL)
		snprintf(p->d.digest, sizeof(p->d.digest), "%s", digest);
	store_service_current(fd->store, s->service, &cur);
	if (cur != 0 && cur != rev) {
		p->d.previous_revision = cur;
		if (load_spec(fd, s->service, cur, &p->prev_spec,
		    p->d.previous_digest, sizeof(p->d.previous_digest)) != 0) {
			ctl_error(slot, "the current revision %llu of %s "
			    "cannot be read", (unsigned long long)cur,
			    s->service);
			goto fail;
		}
	}
	if (lifecycle_kind(kind)) {
		/* The revision that runs, batch by batch: no traffic split,
		 * nothing to compare (deploy_lifecycle planned it rolling). */
		memset(&p->r.cfg, 0, sizeof(p->r.cfg));
		p->r.phase = CP_DONE;
	} else if (p->r.cfg.strategy != RS_ROLLING &&
	    p->d.previous_revision == 0) {
		/* Nothing runs to split traffic with or compare against:
		 * the first revision rolls out in batches, as Argo Rollouts
		 * does, and says so. */
		memset(&p->r.cfg, 0, sizeof(p->r.cfg));
		p->r.phase = CP_DONE;
		first = 1;
	}
	if ((rc = store_deploy_create(fd->store, &p->d, &p->r,
	    &running)) != 0) {
		if (rc == FERR_EXISTS)
			ctl_error(slot, "deployment %llu of %s is still "
			    "running: wait for it, or `ferry abort %llu`",
			    (unsigned long long)running, s->service,
			    (unsigned long long)running);
		else
			ctl_error(slot, "cannot record the deployment: %s",
			    ferr_str(rc));
		goto fail;
	}
	p->next = deployments;
	deployments = p;
	if (first) {
		snprintf(why, sizeof(why), "the first revision of %s: nothing "
		    "runs yet to split traffic with, so it rolls out in "
		    "batches; strategy %s applies from the next one",
		    s->service, s->strategy == SPEC_STRATEGY_CANARY ? "canary" :
		    "blue-green");
		store_deploy_event(fd->store, p->d.id, "ferryd", "strategy", "",
		    why);
		log_info("deployment %llu: %s", (unsigned long long)p->d.id,
		    why);
	}
	log_info("deployment %llu of %s: revision %llu (%s) to %zu host(s) "
	    "in %u batch(es), asked by %s%s%s%s", (unsigned long long)p->d.id,
	    p->d.service, (unsigned long long)rev, p->d.image, pl.n,
	    p->r.nbatches, actor, p->d.skipped[0] ? "; leaving out " : "",
	    p->d.skipped, p->d.skipped[0] ? " (offline, or :drained)" : "");
	if (p->d.digest[0] == '\0') {
		if ((rc = start_resolve(fd, p)) != 0) {
			/* deploy_tick tries again. */
			log_warnx("deployment %llu: cannot ask for the image's "
			    "digest yet: %s", (unsigned long long)p->d.id,
			    ferr_str(rc));
			p->retry_at_ms = clock_mono_ms() + RETRY_MS;
		}
	} else {
		dep_input(fd, p, RI_TICK, 0, NULL);
	}
	plan_free(&pl);
	snapshot_free(&sn);
	views_deployments(fd, slot, NULL, p->d.id, 1, 0);
	return;
fail:
	plan_free(&pl);
	snapshot_free(&sn);
	dep_free(p);
}

/* ---- catch-up (drift16) -------------------------------------------------
 * One host brought back to the service's current revision by ferryd on
 * its own (driftwatch.c decides when): a one-host rolling deployment of
 * kind catch-up, health-gated like any swap.  Its failure is put back by
 * the agent (the swap reverts itself) and ends it; it never pauses. */

int
deploy_catch_up(struct ferryd *fd, const char *service, uint64_t rev,
    const char *host, int runs_service, const char *reason, uint64_t *id)
{
	const char *names[1] = { host };
	struct deployment *p, *q;
	uint64_t running;
	char why[256];
	int rc;

	*id = 0;
	for (q = deployments; q != NULL; q = q->next)
		if (strcmp(q->d.service, service) == 0 &&
		    !rollout_finished(&q->r))
			return FERR_EXISTS;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return FERR_NOMEM;
	if ((rc = load_spec(fd, service, rev, &p->spec, p->d.digest,
	    sizeof(p->d.digest))) != 0)
		goto fail;
	if (p->d.digest[0] == '\0') {
		rc = FERR_STATE;	/* the revision never ran anywhere */
		goto fail;
	}
	if ((rc = rollout_plan(&p->r, names, &runs_service, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why))) != 0) {
		log_warnx("catch-up of %s on %s: %s", service, host, why);
		goto fail;
	}
	p->r.phase = CP_DONE;		/* rolling, whatever the spec says */
	snprintf(p->d.service, sizeof(p->d.service), "%s", service);
	snprintf(p->d.image, sizeof(p->d.image), "%s", p->spec->image);
	snprintf(p->d.actor, sizeof(p->d.actor), "ferryd");
	snprintf(p->d.kind, sizeof(p->d.kind), "%s", DEPLOY_KIND_CATCH_UP);
	p->d.revision = rev;
	if ((rc = store_deploy_create(fd->store, &p->d, &p->r,
	    &running)) != 0)
		goto fail;
	p->next = deployments;
	deployments = p;
	store_deploy_event(fd->store, p->d.id, "ferryd", "catch-up", host,
	    reason);
	log_info("deployment %llu: catch-up of %s on %s to revision %llu: %s",
	    (unsigned long long)p->d.id, service, host,
	    (unsigned long long)rev, reason);
	*id = p->d.id;
	dep_input(fd, p, RI_TICK, 0, NULL);
	return 0;
fail:
	dep_free(p);
	return rc;
}

/* offline_mode: what a deploy does with matched hosts that are offline:
 * refuse, unless --skip-offline or the spec's rollout.skip_offline. */
static enum plan_offline
offline_mode(const Ferry__DeployRequest *req, const struct spec *s)
{
	return req->skip_offline || s->rollout.skip_offline ?
	    PLAN_OFFLINE_SKIP : PLAN_OFFLINE_REFUSE;
}

void
deploy_request(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req, const char *actor)
{
	struct spec *s = NULL;
	char err[8192];
	uint64_t rev;
	int rc;

	/* Bad input changes nothing: every check comes before the first
	 * record. */
	if (parse_request(req, &s, err, sizeof(err)) != 0) {
		ctl_error(slot, "%s", err);
		return;
	}
	{
		struct snapshot sn;
		struct plan pl;
		struct deployment *q;

		for (q = deployments; q != NULL; q = q->next)
			if (strcmp(q->d.service, s->service) == 0 &&
			    !rollout_finished(&q->r)) {
				ctl_error(slot, "deployment %llu of %s is "
				    "still running: wait for it, or `ferry "
				    "abort %llu`", (unsigned long long)q->d.id,
				    s->service, (unsigned long long)q->d.id);
				spec_free(s);
				return;
			}
		rc = plan_for(fd, s, DEPLOY_KIND_DEPLOY, offline_mode(req, s),
		    &sn, &pl, err,
		    sizeof(err));
		plan_free(&pl);
		snapshot_free(&sn);
		if (rc == 0)
			rc = pin_secrets(fd, req, s, err, sizeof(err));
		if (rc != 0) {
			ctl_error(slot, "%s", err);
			spec_free(s);
			return;
		}
	}
	if ((rc = store_revision_add(fd->store, s->service, req->spec_file ?
	    req->spec_file : "spec", (const char *)req->spec.data,
	    req->spec.len, s->image, actor, s->secrets, s->nsecrets,
	    &rev)) != 0) {
		ctl_error(slot, "cannot record the revision: %s",
		    ferr_str(rc));
		spec_free(s);
		return;
	}
	start(fd, slot, s, rev, spec_image_is_digest(s->image) ? s->image :
	    NULL, actor, offline_mode(req, s), DEPLOY_KIND_DEPLOY);
}

/* Finding the revision a rollback goes back to. */
struct earlier {
	uint64_t current, found;
};

static void
on_earlier(void *arg, const struct deploy_rec *d, struct rollout *r)
{
	struct earlier *e = arg;

	if (e->found == 0 && r->state == RO_SUCCEEDED &&
	    d->revision != e->current)
		e->found = d->revision;
	free(r->hosts);
}

void
deploy_rollback(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__RollbackRequest *req, const char *actor)
{
	struct spec *s = NULL;
	uint64_t cur = 0, to = req->to_revision;
	char digest[300] = "";
	struct deployment *q;

	/* A canary or blue-green still in its steps goes back in one round:
	 * traffic to the old revision on every canary host, nothing
	 * started (the old containers are still there). */
	for (q = deployments; q != NULL; q = q->next)
		if (strcmp(q->d.service, req->service) == 0 &&
		    !rollout_finished(&q->r) && q->r.phase != CP_DONE &&
		    q->r.cfg.strategy != RS_ROLLING && (to == 0 ||
		    to == q->d.previous_revision)) {
			Ferry__DeploymentRef ref = FERRY__DEPLOYMENT_REF__INIT;

			ref.id = q->d.id;
			deploy_control(fd, slot, &ref, RI_ROLLBACK, actor);
			return;
		}
	store_service_current(fd->store, req->service, &cur);
	if (to == 0) {
		struct earlier e = { cur, 0 };

		/* The revision before the current one: the last deployment
		 * of the service that succeeded with another revision. */
		store_deploy_list(fd->store, req->service, 0, 0, 200,
		    on_earlier, &e);
		to = e.found;
		if (to == 0) {
			ctl_error(slot, "%s has no earlier revision to roll "
			    "back to", req->service);
			return;
		}
	}
	if (load_spec(fd, req->service, to, &s, digest, sizeof(digest)) != 0) {
		ctl_error(slot, "%s has no revision %llu", req->service,
		    (unsigned long long)to);
		return;
	}
	if (digest[0] == '\0') {
		ctl_error(slot, "revision %llu of %s never resolved to an "
		    "image digest: it never ran", (unsigned long long)to,
		    req->service);
		spec_free(s);
		return;
	}
	/* The secret values that went with the revision come back with it;
	 * one removed since (ferry secret rm) cannot. */
	{
		char why[512];

		if (secrets_check_pins(fd, s, to, why, sizeof(why)) != 0) {
			log_warnx("rollback of %s asked by %s refused: %s",
			    req->service, actor, why);
			ctl_error(slot, "%s", why);
			spec_free(s);
			return;
		}
	}
	/* A way back is never held up by a host that is away: it is
	 * skipped, and the deployment says so. */
	start(fd, slot, s, to, digest, actor, PLAN_OFFLINE_SKIP,
	    DEPLOY_KIND_ROLLBACK);
}

/* ---- ferry restart|stop|start|remove --------------------------------------- */

/* text_time writes a wall-clock time for people, "2026-12-05 10:04:49
 * UTC". */
static void
text_time(char *buf, size_t len, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "at %llu ms", (unsigned long long)ms);
}

/* what_runs writes the hosts a plan of the service reaches, "web-1, web-2",
 * for ferry remove's confirmation. */
static void
what_runs(const struct plan *pl, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < pl->n && off + 1 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? ", " : "", pl->names[i]);
	for (i = 0; i < pl->noffline && off + 1 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s (offline: "
		    "left as it is)", off ? ", " : "", pl->offline[i]);
}

/* lifecycle_matches: whether the spec's hosts select h (its name listed,
 * or every label the spec names). */
static int
lifecycle_matches(const struct spec *s, const struct host *h)
{
	size_t i;

	if (s->hosts == SPEC_HOSTS_NAMES) {
		for (i = 0; i < s->nhost_names; i++)
			if (strcmp(s->host_names[i], h->rec.name) == 0)
				return 1;
		return 0;
	}
	return plan_has_labels(s, h->rec.labels, h->rec.nlabels);
}

/* lifecycle_has: whether h's last heartbeat lists a container of service,
 * in any state. */
static int
lifecycle_has(const struct host *h, const char *service)
{
	size_t i;

	for (i = 0; h->status != NULL && i < h->status->n_containers; i++)
		if (strcmp(h->status->containers[i]->service, service) == 0)
			return 1;
	return 0;
}

/*
 * lifecycle_reach: a stop or a removal reaches every accepted host whose
 * last heartbeat lists a container of the service, beside the spec's
 * matches: a host that left the spec's selection since (its labels, or
 * the spec's hosts, changed) still has its containers.  s's hosts become
 * those names (the spec's own names kept, so that one unknown is refused
 * as before); the hosts added are written to added ("" for none).  Hosts
 * away or drained among them are left out and named as for any
 * deployment.  0, or FERR_NOMEM.
 */
static int
lifecycle_reach(struct ferryd *fd, struct spec *s, char *added,
    size_t addedlen)
{
	char **names;
	size_t i, n = 0;

	added[0] = '\0';
	if ((names = calloc(fd->nhosts + s->nhost_names + 1,
	    sizeof(*names))) == NULL)
		return FERR_NOMEM;
	for (i = 0; s->hosts == SPEC_HOSTS_NAMES && i < s->nhost_names; i++)
		if ((names[n++] = strdup(s->host_names[i])) == NULL)
			goto nomem;
	for (i = 0; i < fd->nhosts; i++) {
		const struct host *h = fd->hosts[i];
		int matched = lifecycle_matches(s, h);

		if (h->rec.state != HOST_ACCEPTED ||
		    (s->hosts == SPEC_HOSTS_NAMES && matched))
			continue;
		if (!matched && !lifecycle_has(h, s->service))
			continue;
		if ((names[n++] = strdup(h->rec.name)) == NULL)
			goto nomem;
		if (!matched && strlen(added) + strlen(h->rec.name) + 3 <
		    addedlen)
			snprintf(added + strlen(added), addedlen -
			    strlen(added), "%s%s", added[0] ? ", " : "",
			    h->rec.name);
	}
	for (i = 0; i < s->nhost_names; i++)
		free(s->host_names[i]);
	free(s->host_names);
	s->host_names = names;
	s->nhost_names = n;
	s->hosts = SPEC_HOSTS_NAMES;
	return 0;
nomem:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return FERR_NOMEM;
}

void
deploy_lifecycle(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__ServiceOp *op, const char *kind, const char *actor)
{
	struct service_rec sr;
	struct spec *s = NULL;
	struct deployment *q;
	char digest[300] = "", when[64];
	const char *svc = op->service != NULL ? op->service : "";

#define REFUSE(...) do { \
	char why_[600]; \
	snprintf(why_, sizeof(why_), __VA_ARGS__); \
	log_warnx("%s of %s asked by %s refused: %s", kind, svc, actor, \
	    why_); \
	ctl_error(slot, "%s", why_); \
	spec_free(s); \
	return; \
} while (0)
	if (svc[0] == '\0')
		REFUSE("no service named: ferry %s SERVICE", kind);
	for (q = deployments; q != NULL; q = q->next)
		if (strcmp(q->d.service, svc) == 0 && !rollout_finished(&q->r))
			REFUSE("deployment %llu of %s is still running: wait "
			    "for it, or `ferry abort %llu`",
			    (unsigned long long)q->d.id, svc,
			    (unsigned long long)q->d.id);
	if (store_service_state(fd->store, svc, &sr) != 0)
		REFUSE("cannot read %s from the database", svc);
	if (sr.current == 0)
		REFUSE("%s has no current revision (%s): nothing to %s",
		    svc, strcmp(sr.lifecycle, "removed") == 0 ? "it was "
		    "removed; ferry deploy starts it afresh" : "never "
		    "deployed", kind);
	text_time(when, sizeof(when), sr.at_ms);
	if (strcmp(sr.lifecycle, "stopped") == 0) {
		if (strcmp(kind, DEPLOY_KIND_STOP) == 0)
			REFUSE("%s is already stopped (by %s, %s)", svc, sr.by,
			    when);
		if (strcmp(kind, DEPLOY_KIND_RESTART) == 0)
			REFUSE("%s was stopped by %s (%s): `ferry start %s` "
			    "starts it", svc, sr.by, when, svc);
	} else if (strcmp(kind, DEPLOY_KIND_START) == 0) {
		REFUSE("%s is not stopped%s: `ferry restart %s` recreates its "
		    "containers", svc, strcmp(sr.lifecycle, "removed") == 0 ?
		    " (it is being removed)" : "", svc);
	}
	if (load_spec(fd, svc, sr.current, &s, digest, sizeof(digest)) != 0)
		REFUSE("revision %llu of %s cannot be read",
		    (unsigned long long)sr.current, svc);
	if (digest[0] == '\0')
		REFUSE("revision %llu of %s never resolved to an image "
		    "digest", (unsigned long long)sr.current, svc);
	/* Batch by batch as the spec's rollout says, never a traffic split;
	 * a removal cannot be put back, so it halts (pauses) instead. */
	s->strategy = SPEC_STRATEGY_ROLLING;
	s->rollout.canary = 0;
	if (strcmp(kind, DEPLOY_KIND_REMOVE) == 0 &&
	    s->rollout.on_failure == SPEC_ON_FAILURE_ROLLBACK)
		s->rollout.on_failure = SPEC_ON_FAILURE_PAUSE;
	/* A stop or a removal goes wherever the service's containers are,
	 * not only where the spec puts it now. */
	if (strcmp(kind, DEPLOY_KIND_STOP) == 0 ||
	    strcmp(kind, DEPLOY_KIND_REMOVE) == 0) {
		char added[400];

		if (lifecycle_reach(fd, s, added, sizeof(added)) != 0)
			REFUSE("ferryd is out of memory");
		if (added[0] != '\0' && (op->yes ||
		    strcmp(kind, DEPLOY_KIND_STOP) == 0))
			log_info("%s of %s asked by %s: also on %s, outside "
			    "the spec's hosts: its heartbeat lists a "
			    "container of it", kind, svc, actor, added);
	}
	if (strcmp(kind, DEPLOY_KIND_REMOVE) == 0 && !op->yes) {
		Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
		struct snapshot sn;
		struct plan pl;
		char why[600], list[400] = "", msg[1200];

		if (plan_for(fd, s, kind, PLAN_OFFLINE_LIST, &sn, &pl, why,
		    sizeof(why)) == 0)
			what_runs(&pl, list, sizeof(list));
		plan_free(&pl);
		snapshot_free(&sn);
		snprintf(msg, sizeof(msg), "ferry remove %s would stop and "
		    "remove its containers (revision %llu, %s) and its proxy "
		    "route on %s, batch by batch; its revisions are kept for "
		    "the record.  Add --yes to remove it", svc,
		    (unsigned long long)sr.current, s->image, list[0] ? list :
		    "no host now");
		log_warnx("remove of %s asked by %s refused: not confirmed "
		    "(--yes)", svc, actor);
		rep.ok = 0;
		rep.error = msg;
		rep.needs_confirmation = 1;
		ctl_reply(slot, &rep);
		spec_free(s);
		return;
	}
#undef REFUSE
	/* Hosts away are left out and named; the deployment says so. */
	start(fd, slot, s, sr.current, digest, actor, PLAN_OFFLINE_SKIP,
	    kind);
}

/* ---- ferry plan ----------------------------------------------------------- */

void
deploy_plan(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	Ferry__PlanInfo pi = FERRY__PLAN_INFO__INIT;
	Ferry__DeployHost *dh = NULL, **dhp = NULL;
	struct spec *s = NULL, *cur = NULL;
	struct snapshot sn;
	struct plan pl;
	char err[8192], **changes = NULL, fate[200], strategy[1024];
	size_t nchanges = 0, i, nh = 0;
	uint64_t current = 0;
	int rc;

	memset(&sn, 0, sizeof(sn));
	memset(&pl, 0, sizeof(pl));
	if ((rc = parse_request(req, &s, err, sizeof(err))) != 0 ||
	    (rc = plan_for(fd, s, DEPLOY_KIND_DEPLOY, PLAN_OFFLINE_LIST, &sn,
	    &pl, err,
	    sizeof(err))) != 0 ||
	    (rc = pin_secrets(fd, req, s, err, sizeof(err))) != 0) {
		ctl_error(slot, "%s", err);
		goto out;
	}
	store_service_current(fd->store, s->service, &current);
	if (current != 0 && load_spec(fd, s->service, current, &cur, NULL,
	    0) != 0)
		cur = NULL;
	plan_diff(cur, s, &changes, &nchanges);
	dh = calloc(pl.r.nhosts + pl.noffline + pl.ndrained + 1, sizeof(*dh));
	dhp = calloc(pl.r.nhosts + pl.noffline + pl.ndrained + 1,
	    sizeof(*dhp));
	if (dh == NULL || dhp == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	for (i = 0; i < pl.r.nhosts; i++, nh++) {
		ferry__deploy_host__init(&dh[nh]);
		dh[nh].name = pl.r.hosts[i].name;
		dh[nh].batch = pl.r.hosts[i].batch + 1;
		dh[nh].state = pl.r.hosts[i].had_previous ? "runs it" : "new";
		dhp[nh] = &dh[nh];
	}
	/* Matched hosts that are offline, and what a deploy does with them
	 * now: never skipped in silence. */
	snprintf(fate, sizeof(fate), "%s", offline_mode(req, s) ==
	    PLAN_OFFLINE_SKIP ? "skipped: the deployment goes on without it "
	    "and says so" : "ferry deploy refuses while it is offline "
	    "(--skip-offline, or rollout.skip_offline: true, leaves it out)");
	for (i = 0; i < pl.noffline; i++, nh++) {
		ferry__deploy_host__init(&dh[nh]);
		dh[nh].name = (char *)pl.offline[i];
		dh[nh].batch = 0;
		dh[nh].state = "offline";
		dh[nh].cause = fate;
		dhp[nh] = &dh[nh];
	}
	/* Drained ones: skipped, whatever the deploy's flags. */
	for (i = 0; i < pl.ndrained; i++, nh++) {
		ferry__deploy_host__init(&dh[nh]);
		dh[nh].name = (char *)pl.drained[i];
		dh[nh].batch = 0;
		dh[nh].state = "drained";
		dh[nh].cause = "skipped: drained (ferry hosts undrain HOST "
		    "brings it back)";
		dhp[nh] = &dh[nh];
	}
	plan_strategy_text(s, &pl.r, strategy, sizeof(strategy));
	pi.strategy = strategy;
	pi.service = s->service;
	pi.current_revision = current;
	pi.hosts = dhp;
	pi.n_hosts = nh;
	pi.changes = changes;
	pi.n_changes = nchanges;
	pi.batches = pl.r.nbatches;
	rep.ok = 1;
	rep.plan = &pi;
	ctl_reply(slot, &rep);
out:
	for (i = 0; i < nchanges; i++)
		free(changes[i]);
	free(changes);
	free(dh);
	free(dhp);
	plan_free(&pl);
	snapshot_free(&sn);
	spec_free(s);
	spec_free(cur);
}
