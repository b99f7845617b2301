/* deploy.c: the shell around the rollout engine.  It turns a spec into a
 * recorded deployment, feeds the engine what the agents answer, records
 * each state the engine reaches together with the commands it implies (in
 * one transaction, before they are sent), and picks in-flight deployments
 * up again after a restart. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "metrics.h"
#include "spec.h"

#define ACCEPT_MS	30000u		/* a command must be accepted by */
#define PULL_MS		600000u		/* a pull must end by */
#define SWAP_SLACK_MS	180000u		/* beyond the health deadline */

struct deployment {
	struct deploy_rec d;
	struct rollout r;
	struct spec *spec;		/* the revision rolled out */
	struct spec *prev_spec;		/* the one rolled back to, or NULL */
	uint64_t wake_ms;		/* when the engine wants a tick */
	uint64_t batch_started_us;	/* for the batch duration metric */
	uint32_t batch_seen;
	int resolving;			/* the tag is being resolved */
	struct deployment *next;
};

static struct deployment *deployments;

/* What loading deployments from the store needs. */
struct load_ctx {
	struct ferryd *fd;
	int rc;
};
/* The ferryd whose deployments these are (commands reloaded after a
 * restart carry no argument to their callback). */
static struct ferryd *deploy_ferryd;

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
dep_free(struct deployment *p)
{
	if (p == NULL)
		return;
	spec_free(p->spec);
	spec_free(p->prev_spec);
	rollout_free(&p->r);
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
	free(img);
	if (digest != NULL)
		snprintf(digest, dlen, "%s", dg);
	free(file);
	free(text);
	free(dg);
	return rc;
}

/* ---- commands ----------------------------------------------------------- */

static struct cmd *
make_pull(struct ferryd *fd, struct deployment *p, struct host *h,
    const char *image, const char *purpose)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Pull pull = FERRY__PULL__INIT;
	struct cmd *c;

	pull.image = (char *)image;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_PULL;
	cmd.pull = &pull;
	c = link_prepare(fd, h, &cmd, "pull", ACCEPT_MS, PULL_MS,
	    deploy_on_result, NULL);
	if (c != NULL) {
		c->rec.deployment = p->d.id;
		snprintf(c->rec.purpose, sizeof(c->rec.purpose), "%s", purpose);
	}
	return c;
}

static struct cmd *
make_swap(struct ferryd *fd, struct deployment *p, struct host *h,
    int revert)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Swap sw = FERRY__SWAP__INIT;
	const struct spec *s = revert ? p->prev_spec : p->spec;
	char dep[32];
	struct cmd *c;

	if (s == NULL || spec_swap_fill(s, &sw) != 0)
		return NULL;
	snprintf(dep, sizeof(dep), "%llu", (unsigned long long)p->d.id);
	sw.revision = revert ? p->d.previous_revision : p->d.revision;
	sw.image = revert ? p->d.previous_digest : p->d.digest;
	sw.deployment = dep;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_SWAP;
	cmd.swap = &sw;
	c = link_prepare(fd, h, &cmd, "swap", ACCEPT_MS,
	    (uint64_t)s->health.deadline_ms + s->health.min_healthy_ms +
	    SWAP_SLACK_MS, deploy_on_result, NULL);
	spec_swap_clear(&sw);
	if (c != NULL) {
		c->rec.deployment = p->d.id;
		snprintf(c->rec.purpose, sizeof(c->rec.purpose), "%s",
		    revert ? "revert" : "swap");
	}
	return c;
}

/* ---- stepping ----------------------------------------------------------- */

/* waits: a host in this state waits for its command's answer. */
static int
waits(enum rollout_host_state s)
{
	return s == RH_PULLING || s == RH_SWAPPING || s == RH_REVERTING;
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

	if (p != NULL && rollout_finished(&p->r) && in_flight(&p->r) == 0) {
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
	w->dec = calloc(n + 2, sizeof(*w->dec));
	w->before = calloc(n + 1, sizeof(*w->before));
	w->recs = calloc(n + 1, sizeof(*w->recs));
	w->cmds = calloc(n + 1, sizeof(*w->cmds));
	w->hosts = calloc(n + 1, sizeof(*w->hosts));
	w->evs = calloc(n + 3, sizeof(*w->evs));
	w->details = calloc(n + 3, sizeof(*w->details));
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
 * dep_step feeds one input to the engine, then records the new state with
 * the commands and events it implies in one transaction, and only then
 * hands the commands to the outbox.  Nothing is sent that is not recorded.
 */
static void
dep_step(struct ferryd *fd, struct deployment *p,
    const struct rollout_event *ev, const char *actor)
{
	enum rollout_state sbefore = p->r.state;
	uint32_t bbefore = p->r.batch;
	size_t n, i, nc = 0, ne = 0, nh = p->r.nhosts, first;
	struct step w;
	int record = 0, rc;

	if (step_alloc(&w, nh) != 0) {
		log_warnx("deployment %llu: out of memory",
		    (unsigned long long)p->d.id);
		return;
	}
	for (i = 0; i < nh; i++)
		w.before[i] = p->r.hosts[i].state;
	n = rollout_step(&p->r, ev, clock_wall_ms(), w.dec, nh + 2,
	    &p->wake_ms);
	/* A batch ends when the next starts or the deployment ends. */
	if (p->batch_started_us != 0 && (p->r.batch != p->batch_seen ||
	    rollout_finished(&p->r))) {
		metrics_batch_seconds((double)(clock_mono_us() -
		    p->batch_started_us) / 1e6);
		p->batch_started_us = 0;
	}
	if (p->batch_started_us == 0 && (p->r.state == RO_RUNNING ||
	    p->r.state == RO_ROLLING_BACK)) {
		p->batch_started_us = clock_mono_us();
		p->batch_seen = p->r.batch;
	}
	for (i = 0; i < n; i++) {
		struct host *h;
		struct cmd *c = NULL;

		if (w.dec[i].action == RA_RECORD) {
			record = 1;
			continue;
		}
		h = fleet_find(fd, p->r.hosts[w.dec[i].host].name);
		if (h != NULL && w.dec[i].action == RA_PULL)
			c = make_pull(fd, p, h, p->d.digest, "pull");
		else if (h != NULL && w.dec[i].action == RA_SWAP)
			c = make_swap(fd, p, h, 0);
		else if (h != NULL && w.dec[i].action == RA_REVERT)
			c = make_swap(fd, p, h, 1);
		if (c == NULL) {
			log_warnx("deployment %llu: %s: cannot build its "
			    "command", (unsigned long long)p->d.id,
			    p->r.hosts[w.dec[i].host].name);
			continue;
		}
		w.cmds[nc] = c;
		w.recs[nc] = &c->rec;
		w.hosts[nc] = h;
		nc++;
		record = 1;
	}
	if (!record) {
		step_free(&w);
		return;
	}
	/* The events, in the order things happened: the host whose answer
	 * this is, then the deployment's state or batch, then the hosts
	 * that moved because of it. */
	first = ev->input != RI_TICK && ev->input != RI_PAUSE &&
	    ev->input != RI_RESUME && ev->input != RI_ABORT && ev->host < nh &&
	    p->r.hosts[ev->host].state != w.before[ev->host] ? ev->host : nh;
	if (first < nh && ((ev->input == RI_SWAPPED &&
	    w.before[first] == RH_FAILED) || (ev->input == RI_REVERTED &&
	    w.before[first] == RH_REVERT_FAILED))) {
		/* A late answer from a host counted failed: say so before
		 * what follows from it. */
		snprintf(w.details[ne], sizeof(w.details[ne]), "late answer: "
		    "its %s to revision %llu passed after it had been "
		    "counted failed", ev->input == RI_SWAPPED ? "swap" :
		    "revert", (unsigned long long)(ev->input == RI_SWAPPED ?
		    p->d.revision : p->d.previous_revision));
		w.evs[ne].actor = "ferryd";
		w.evs[ne].kind = "host";
		w.evs[ne].host = p->r.hosts[first].name;
		w.evs[ne].detail = w.details[ne];
		ne++;
	}
	if (first < nh)
		ne = host_event(&w, ne, &p->r.hosts[first]);
	if (p->r.state != sbefore || p->r.batch != bbefore ||
	    ev->input == RI_PAUSE || ev->input == RI_RESUME ||
	    ev->input == RI_ABORT) {
		char *d = w.details[ne];
		size_t dl = sizeof(w.details[ne]), l;

		if (p->r.state == RO_RUNNING || p->r.state == RO_ROLLING_BACK)
			snprintf(d, dl, "%s batch %u/%u",
			    rollout_state_name(p->r.state), p->r.batch + 1,
			    p->r.nbatches);
		else
			snprintf(d, dl, "%s", rollout_state_name(p->r.state));
		l = strlen(d);
		if (p->r.cause[0])
			snprintf(d + l, dl - l, ": %s", p->r.cause);
		w.evs[ne].actor = actor ? actor : "ferryd";
		w.evs[ne].kind = ev->input == RI_PAUSE ? "pause" :
		    ev->input == RI_RESUME ? "resume" :
		    ev->input == RI_ABORT ? "abort" : "state";
		w.evs[ne].host = "";
		w.evs[ne].detail = d;
		ne++;
	}
	for (i = 0; i < nh; i++)
		if (i != first && p->r.hosts[i].state != w.before[i])
			ne = host_event(&w, ne, &p->r.hosts[i]);
	if ((rc = store_deploy_commit(fd->store, &p->d, &p->r, w.recs, nc,
	    w.evs, ne)) != 0) {
		log_warnx("deployment %llu: cannot record its state: %s; its "
		    "commands are not sent", (unsigned long long)p->d.id,
		    ferr_str(rc));
		for (i = 0; i < nc; i++)
			link_discard(w.cmds[i]);
		step_free(&w);
		return;
	}
	for (i = 0; i < ne; i++)
		log_info("deployment %llu of %s: %s%s%s",
		    (unsigned long long)p->d.id, p->d.service, w.evs[i].host,
		    w.evs[i].host[0] ? ": " : "", w.evs[i].detail);
	for (i = 0; i < nc; i++)
		link_enqueue(fd, w.hosts[i], w.cmds[i]);
	step_free(&w);
	/* A finished deployment stays until its last answer is in. */
	dep_forget(p->d.id);
}

static void
dep_input(struct ferryd *fd, struct deployment *p, enum rollout_input in,
    size_t host, const char *cause)
{
	struct rollout_event ev = { in, host, cause };

	dep_step(fd, p, &ev, NULL);
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
	if ((c = make_pull(fd, p, h, p->spec->image, "resolve")) == NULL)
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
	struct ferryd *fd = arg != NULL ? arg : deploy_ferryd;
	struct deployment *p = dep_find(c->rec.deployment);
	int ok = report != NULL &&
	    report->status == FERRY__REPORT__STATUS__SUCCEEDED;
	const char *cause = report != NULL && report->message &&
	    report->message[0] ? report->message : err ? err : "no result";
	size_t i;

	if (p == NULL && ok && c->rec.deployment != 0 &&
	    (strcmp(c->rec.purpose, "swap") == 0 ||
	    strcmp(c->rec.purpose, "revert") == 0))
		p = dep_reload(fd, c->rec.deployment);
	if (p == NULL)
		return;		/* finished, or unknown: nothing to feed */
	if (strcmp(c->rec.purpose, "resolve") == 0) {
		p->resolving = 0;
		if (!ok || report->result_case != FERRY__REPORT__RESULT_PULL) {
			/* Nothing changed anywhere: the deployment fails
			 * before its engine starts. */
			snprintf(p->r.cause, sizeof(p->r.cause), "cannot "
			    "resolve %.100s on %.40s: %.80s", p->spec->image,
			    h->rec.name, cause);
			p->r.state = RO_FAILED;
			for (i = 0; i < p->r.nhosts; i++)
				p->r.hosts[i].state = RH_SKIPPED;
			store_deploy_commit(fd->store, &p->d, &p->r, NULL, 0,
			    &(struct deploy_event){ "ferryd", "state", "",
			    p->r.cause }, 1);
			log_warnx("deployment %llu of %s: %s",
			    (unsigned long long)p->d.id, p->d.service,
			    p->r.cause);
			dep_unlink(p);
			dep_free(p);
			return;
		}
		snprintf(p->d.digest, sizeof(p->d.digest), "%s",
		    report->pull->digest);
		store_revision_set_digest(fd->store, p->d.service,
		    p->d.revision, p->d.digest);
		dep_input(fd, p, RI_TICK, 0, NULL);
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
	else if (strcmp(c->rec.purpose, "swap") == 0)
		dep_input(fd, p, ok ? RI_SWAPPED : RI_SWAP_FAILED, i, cause);
	else if (strcmp(c->rec.purpose, "revert") == 0)
		dep_input(fd, p, ok ? RI_REVERTED : RI_REVERT_FAILED, i, cause);
	dep_forget(c->rec.deployment);	/* loaded only for this answer */
}

/* ---- the clock, hosts going away, and restarts ---------------------------- */

void
deploy_tick(struct ferryd *fd, uint64_t now_ms)
{
	struct deployment *p, *next;

	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		if (p->wake_ms != 0 && now_ms >= p->wake_ms) {
			p->wake_ms = 0;
			dep_input(fd, p, RI_TICK, 0, NULL);
		}
	}
}

void
deploy_host_offline(struct ferryd *fd, struct host *h)
{
	struct deployment *p, *next;
	size_t i;

	for (p = deployments; p != NULL; p = next) {
		next = p->next;
		if ((i = host_index(p, h->rec.name)) != (size_t)-1)
			dep_input(fd, p, RI_OFFLINE, i, "host went offline");
	}
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

	if (p->d.digest[0] == '\0' && p->r.state == RO_PLANNED) {
		/* Died while resolving: the resolve pull is in the outbox
		 * (or answered: look). */
		if (store_deploy_last_command(fd->store, p->d.id,
		    p->r.hosts[0].name, &c) == 0 && strcmp(c.purpose,
		    "resolve") == 0 && strcmp(c.state, "queued") != 0 &&
		    strcmp(c.state, "sent") != 0 &&
		    strcmp(c.state, "accepted") != 0) {
			size_t k;

			p->r.state = RO_FAILED;
			for (k = 0; k < p->r.nhosts; k++)
				p->r.hosts[k].state = RH_SKIPPED;
			snprintf(p->r.cause, sizeof(p->r.cause), "the image "
			    "could not be resolved before ferryd restarted; "
			    "deploy again");
			store_deploy_commit(fd->store, &p->d, &p->r, NULL, 0,
			    &(struct deploy_event){ "ferryd", "state", "",
			    p->r.cause }, 1);
		} else {
			p->resolving = 1;
		}
		return;
	}
	for (i = 0; i < p->r.nhosts; i++) {
		struct rollout_host *rh = &p->r.hosts[i];
		int ok;

		if (!waits(rh->state))
			continue;
		if (store_deploy_last_command(fd->store, p->d.id, rh->name,
		    &c) != 0) {
			dep_input(fd, p, rh->state == RH_PULLING ?
			    RI_PULL_FAILED : rh->state == RH_SWAPPING ?
			    RI_SWAP_FAILED : RI_REVERT_FAILED, i,
			    "its command was lost");
			continue;
		}
		if (strcmp(c.state, "queued") == 0 ||
		    strcmp(c.state, "sent") == 0 ||
		    strcmp(c.state, "accepted") == 0)
			continue;	/* the outbox has it */
		ok = strcmp(c.state, "succeeded") == 0;
		dep_input(fd, p, rh->state == RH_PULLING ? (ok ? RI_PULLED :
		    RI_PULL_FAILED) : rh->state == RH_SWAPPING ? (ok ?
		    RI_SWAPPED : RI_SWAP_FAILED) : (ok ? RI_REVERTED :
		    RI_REVERT_FAILED), i, c.result[0] ? c.result : c.state);
	}
	/* Ticks lost while down (a pause between batches) come now. */
	dep_input(fd, p, RI_TICK, 0, NULL);
}

int
deploy_load(struct ferryd *fd)
{
	struct load_ctx lc = { fd, 0 };
	struct deployment *p, *next;
	int rc;

	deploy_ferryd = fd;
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

/* ---- what the CLI asks ------------------------------------------------------ */

static const char *
on_failure_name(enum rollout_on_failure f)
{
	return f == RO_ON_FAILURE_PAUSE ? "pause" :
	    f == RO_ON_FAILURE_CONTINUE ? "continue" : "rollback";
}

/* info_fill builds the wire form of a deployment (pointing into d and r,
 * which must outlive it); hosts are heap, freed by info_clear. */
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
	return 0;
}

static void
info_clear(Ferry__DeploymentInfo *in)
{
	size_t i;

	for (i = 0; i < in->n_hosts; i++)
		free(in->hosts[i]);
	free(in->hosts);
	in->hosts = NULL;
	in->n_hosts = 0;
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

/* reply_deployments answers with what the database holds (the engine
 * records every state it reaches, so it is current). */
static void
reply_deployments(struct ferryd *fd, struct rep_slot *slot,
    const char *service, uint64_t id, size_t limit)
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

void
deploy_status(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref)
{
	reply_deployments(fd, slot, ref->service, ref->id, 1);
}

void
deploy_history(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref)
{
	if (ref->service == NULL || ref->service[0] == '\0') {
		ctl_error(slot, "history needs a SERVICE");
		return;
	}
	reply_deployments(fd, slot, ref->service, 0, 50);
}

void
deploy_control(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeploymentRef *ref, enum rollout_input in, const char *actor)
{
	struct deployment *p = dep_find(ref->id);
	struct rollout_event ev = { in, 0, NULL };
	enum rollout_state before;

	if (p == NULL || rollout_finished(&p->r)) {
		ctl_error(slot, "deployment %llu is not running (see ferry "
		    "status %llu)", (unsigned long long)ref->id,
		    (unsigned long long)ref->id);
		return;
	}
	before = p->r.state;
	dep_step(fd, p, &ev, actor);
	if ((p = dep_find(ref->id)) != NULL && p->r.state == before &&
	    in != RI_PAUSE) {
		ctl_error(slot, "deployment %llu is %s: nothing to %s",
		    (unsigned long long)ref->id, rollout_state_name(before),
		    in == RI_RESUME ? "resume" : "abort");
		return;
	}
	reply_deployments(fd, slot, NULL, ref->id, 1);
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
	size_t i;

	l.cap = req->limit && req->limit < 10000 ? req->limit : 1000;
	l.recs = calloc(l.cap, sizeof(*l.recs));
	ev = calloc(l.cap, sizeof(*ev));
	ptrs = calloc(l.cap, sizeof(*ptrs));
	if (l.recs == NULL || ev == NULL || ptrs == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	if (store_events_list(fd->store, req->deployment, req->after_id,
	    l.cap, on_event, &l) != 0) {
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

static int
runs_service(const struct host *h, const char *service)
{
	size_t i;

	if (h->status == NULL)
		return 0;
	for (i = 0; i < h->status->n_containers; i++)
		if (strcmp(h->status->containers[i]->service, service) == 0 &&
		    strcmp(h->status->containers[i]->state, "running") == 0)
			return 1;
	return 0;
}

static int
has_labels(const struct host *h, const struct spec *s)
{
	size_t i, j;

	for (i = 0; i < s->nhost_labels; i++) {
		for (j = 0; j < h->rec.nlabels; j++)
			if (strcmp(h->rec.labels[j].key,
			    s->host_labels[i].name) == 0 &&
			    strcmp(h->rec.labels[j].value,
			    s->host_labels[i].value) == 0)
				break;
		if (j == h->rec.nlabels)
			return 0;
	}
	return 1;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * select_hosts picks the hosts of a spec: those named (each must be known,
 * accepted and online) or those whose labels match (only online, accepted
 * hosts), in name order.  names and prev are heap; why says what is wrong.
 */
static int
select_hosts(struct ferryd *fd, const struct spec *s, const char ***names,
    int **prev, size_t *n, char *why, size_t whylen)
{
	const char **nm;
	size_t i, k = 0;

	*names = NULL;
	*prev = NULL;
	*n = 0;
	nm = calloc(fd->nhosts + s->nhost_names + 1, sizeof(*nm));
	if (nm == NULL)
		return FERR_NOMEM;
	if (s->hosts == SPEC_HOSTS_NAMES) {
		for (i = 0; i < s->nhost_names; i++) {
			struct host *h = fleet_find(fd, s->host_names[i]);
			if (h == NULL) {
				snprintf(why, whylen, "unknown host \"%s\"",
				    s->host_names[i]);
				free(nm);
				return FERR_NOTFOUND;
			}
			if (h->rec.state != HOST_ACCEPTED || !h->online) {
				snprintf(why, whylen, "host %s is %s",
				    h->rec.name, host_state_name(h));
				free(nm);
				return FERR_STATE;
			}
			nm[k++] = h->rec.name;
		}
	} else {
		for (i = 0; i < fd->nhosts; i++) {
			struct host *h = fd->hosts[i];
			if (h->rec.state == HOST_ACCEPTED && h->online &&
			    has_labels(h, s))
				nm[k++] = h->rec.name;
		}
	}
	if (k == 0) {
		snprintf(why, whylen, "no online, accepted host matches the "
		    "spec's hosts");
		free(nm);
		return FERR_NOTFOUND;
	}
	qsort(nm, k, sizeof(*nm), cmp_name);
	*prev = calloc(k, sizeof(**prev));
	if (*prev == NULL) {
		free(nm);
		return FERR_NOMEM;
	}
	for (i = 0; i < k; i++)
		(*prev)[i] = runs_service(fleet_find(fd, nm[i]), s->service);
	*names = nm;
	*n = k;
	return 0;
}

static int
plan_rollout(const struct spec *s, const char **names, const int *prev,
    size_t n, struct rollout *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof(*r));
	return rollout_plan(r, names, prev, n, s->rollout.batch_percent ?
	    (uint32_t)s->rollout.batch_percent : s->rollout.batch,
	    s->rollout.batch_percent != 0, s->rollout.canary,
	    s->rollout.max_failures,
	    (enum rollout_on_failure)s->rollout.on_failure,
	    s->rollout.pause_ms, why, whylen);
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
	    errlen)) != 0)
		return rc;
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

/* start launches a deployment of revision rev of s (already recorded as
 * that revision), digest known or not yet. */
static void
start(struct ferryd *fd, struct rep_slot *slot, struct spec *s,
    uint64_t rev, const char *digest, const char *actor)
{
	struct deployment *p;
	const char **names = NULL;
	int *prev = NULL;
	size_t n;
	uint64_t running, cur;
	char why[512];
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		spec_free(s);
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	p->spec = s;
	if ((rc = select_hosts(fd, s, &names, &prev, &n, why,
	    sizeof(why))) != 0 || (rc = plan_rollout(s, names, prev, n,
	    &p->r, why, sizeof(why))) != 0) {
		ctl_error(slot, "%s", why);
		goto fail;
	}
	snprintf(p->d.service, sizeof(p->d.service), "%s", s->service);
	snprintf(p->d.image, sizeof(p->d.image), "%s", s->image);
	snprintf(p->d.actor, sizeof(p->d.actor), "%s", actor);
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
	log_info("deployment %llu of %s: revision %llu (%s) to %zu host(s) "
	    "in %u batch(es), asked by %s", (unsigned long long)p->d.id,
	    p->d.service, (unsigned long long)rev, p->d.image, n,
	    p->r.nbatches, actor);
	if (p->d.digest[0] == '\0') {
		if ((rc = start_resolve(fd, p)) != 0)
			log_warnx("deployment %llu: cannot resolve the image: "
			    "%s", (unsigned long long)p->d.id, ferr_str(rc));
	} else {
		dep_input(fd, p, RI_TICK, 0, NULL);
	}
	free(names);
	free(prev);
	reply_deployments(fd, slot, NULL, p->d.id, 1);
	return;
fail:
	free(names);
	free(prev);
	dep_free(p);
}

void
deploy_request(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req, const char *actor)
{
	struct spec *s = NULL;
	char err[1024];
	uint64_t rev;
	int rc;

	/* Bad input changes nothing: every check comes before the first
	 * record. */
	if (parse_request(req, &s, err, sizeof(err)) != 0) {
		ctl_error(slot, "%s", err);
		return;
	}
	{
		const char **names = NULL;
		int *prev = NULL;
		size_t n;
		struct rollout r;
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
		rc = select_hosts(fd, s, &names, &prev, &n, err, sizeof(err));
		if (rc == 0)
			rc = plan_rollout(s, names, prev, n, &r, err,
			    sizeof(err));
		if (rc == 0)
			rollout_free(&r);
		free(names);
		free(prev);
		if (rc != 0) {
			ctl_error(slot, "%s", err);
			spec_free(s);
			return;
		}
	}
	if ((rc = store_revision_add(fd->store, s->service, req->spec_file ?
	    req->spec_file : "spec", (const char *)req->spec.data,
	    req->spec.len, s->image, actor, &rev)) != 0) {
		ctl_error(slot, "cannot record the revision: %s",
		    ferr_str(rc));
		spec_free(s);
		return;
	}
	start(fd, slot, s, rev, spec_image_is_digest(s->image) ? s->image :
	    NULL, actor);
}

void
deploy_rollback(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__RollbackRequest *req, const char *actor)
{
	struct spec *s = NULL;
	uint64_t cur = 0, to = req->to_revision;
	char digest[300] = "";

	store_service_current(fd->store, req->service, &cur);
	if (to == 0) {
		struct listing l = { 0 };
		size_t i;

		/* The revision before the current one: the last deployment
		 * of the service that succeeded with another revision. */
		store_deploy_list(fd->store, req->service, 0, 0, 200,
		    on_listed, &l);
		for (i = 0; i < l.n && to == 0; i++)
			if (l.r[i].state == RO_SUCCEEDED &&
			    l.d[i].revision != cur)
				to = l.d[i].revision;
		listing_free(&l);
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
	start(fd, slot, s, to, digest, actor);
}

/* ---- ferry plan ----------------------------------------------------------- */

static void
add_change(char ***list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
add_change(char ***list, size_t *n, const char *fmt, ...)
{
	char buf[600], **l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((l = realloc(*list, (*n + 1) * sizeof(*l))) == NULL)
		return;
	*list = l;
	if ((l[*n] = strdup(buf)) != NULL)
		(*n)++;
}

static const char *
check_text(const struct spec_health *h, char *buf, size_t len)
{
	size_t i, off;

	switch (h->check) {
	case SPEC_CHECK_HTTP:
		snprintf(buf, len, "http %s port %u status %u", h->http_path,
		    h->http_port, h->http_status);
		break;
	case SPEC_CHECK_TCP:
		snprintf(buf, len, "tcp %u", h->tcp_port);
		break;
	case SPEC_CHECK_EXEC:
		off = (size_t)snprintf(buf, len, "exec");
		for (i = 0; i < h->argc && off < len; i++)
			off += (size_t)snprintf(buf + off, len - off, " %s",
			    h->argv[i]);
		break;
	default:
		snprintf(buf, len, "docker HEALTHCHECK");
		break;
	}
	return buf;
}

/* diff says in words what changes from the current revision a to b. */
static void
diff(const struct spec *a, const struct spec *b, char ***out, size_t *n)
{
	char x[400], y[400];
	size_t i, j;

	if (strcmp(a->image, b->image) != 0)
		add_change(out, n, "image: %s -> %s", a->image, b->image);
	for (i = 0; i < b->nenv; i++) {
		for (j = 0; j < a->nenv; j++)
			if (strcmp(a->env[j].name, b->env[i].name) == 0)
				break;
		if (j == a->nenv)
			add_change(out, n, "env: %s added", b->env[i].name);
		else if (strcmp(a->env[j].value, b->env[i].value) != 0)
			add_change(out, n, "env: %s changed", b->env[i].name);
	}
	for (j = 0; j < a->nenv; j++) {
		for (i = 0; i < b->nenv; i++)
			if (strcmp(a->env[j].name, b->env[i].name) == 0)
				break;
		if (i == b->nenv)
			add_change(out, n, "env: %s removed", a->env[j].name);
	}
	if (a->port.set != b->port.set || a->port.host != b->port.host ||
	    a->port.container != b->port.container)
		add_change(out, n, "port: %s%u:%u -> %s%u:%u", a->port.set ?
		    "" : "(none) ", a->port.host, a->port.container,
		    b->port.set ? "" : "(none) ", b->port.host,
		    b->port.container);
	if (strcmp(check_text(&a->health, x, sizeof(x)),
	    check_text(&b->health, y, sizeof(y))) != 0)
		add_change(out, n, "health check: %s -> %s", x, y);
#define CHANGED(f, what) \
	if (a->f != b->f) \
		add_change(out, n, what ": %llu -> %llu", \
		    (unsigned long long)a->f, (unsigned long long)b->f)
	CHANGED(health.interval_ms, "health.interval (ms)");
	CHANGED(health.timeout_ms, "health.timeout (ms)");
	CHANGED(health.start_period_ms, "health.start_period (ms)");
	CHANGED(health.start_interval_ms, "health.start_interval (ms)");
	CHANGED(health.healthy_threshold, "health.healthy_threshold");
	CHANGED(health.unhealthy_threshold, "health.unhealthy_threshold");
	CHANGED(health.deadline_ms, "health.deadline (ms)");
	CHANGED(health.min_healthy_ms, "health.min_healthy (ms)");
	CHANGED(rollout.batch, "rollout.batch");
	CHANGED(rollout.batch_percent, "rollout.batch (percent)");
	CHANGED(rollout.canary, "rollout.canary");
	CHANGED(rollout.order, "rollout.order (0 stop-first, 1 start-first)");
	CHANGED(rollout.pause_ms, "rollout.pause (ms)");
	CHANGED(rollout.max_failures, "rollout.max_failures");
	CHANGED(rollout.on_failure,
	    "rollout.on_failure (0 rollback, 1 pause, 2 continue)");
#undef CHANGED
}

void
deploy_plan(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__DeployRequest *req)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	Ferry__PlanInfo pi = FERRY__PLAN_INFO__INIT;
	Ferry__DeployHost *dh = NULL, **dhp = NULL;
	struct spec *s = NULL, *cur = NULL;
	struct rollout r;
	const char **names = NULL;
	int *prev = NULL;
	char err[1024], **changes = NULL;
	size_t n = 0, nchanges = 0, i;
	uint64_t current = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = parse_request(req, &s, err, sizeof(err))) != 0 ||
	    (rc = select_hosts(fd, s, &names, &prev, &n, err,
	    sizeof(err))) != 0 ||
	    (rc = plan_rollout(s, names, prev, n, &r, err, sizeof(err))) != 0) {
		ctl_error(slot, "%s", err);
		goto out;
	}
	store_service_current(fd->store, s->service, &current);
	if (current != 0 && load_spec(fd, s->service, current, &cur, NULL,
	    0) == 0)
		diff(cur, s, &changes, &nchanges);
	else
		add_change(&changes, &nchanges, "new service %s: image %s",
		    s->service, s->image);
	dh = calloc(r.nhosts + 1, sizeof(*dh));
	dhp = calloc(r.nhosts + 1, sizeof(*dhp));
	if (dh == NULL || dhp == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		goto out;
	}
	for (i = 0; i < r.nhosts; i++) {
		ferry__deploy_host__init(&dh[i]);
		dh[i].name = r.hosts[i].name;
		dh[i].batch = r.hosts[i].batch + 1;
		dh[i].state = r.hosts[i].had_previous ? "runs it" : "new";
		dhp[i] = &dh[i];
	}
	pi.service = s->service;
	pi.current_revision = current;
	pi.hosts = dhp;
	pi.n_hosts = r.nhosts;
	pi.changes = changes;
	pi.n_changes = nchanges;
	pi.batches = r.nbatches;
	rep.ok = 1;
	rep.plan = &pi;
	ctl_reply(slot, &rep);
out:
	for (i = 0; i < nchanges; i++)
		free(changes[i]);
	free(changes);
	free(dh);
	free(dhp);
	free(names);
	free(prev);
	rollout_free(&r);
	spec_free(s);
	spec_free(cur);
}
