/* SPDX-License-Identifier: Apache-2.0 */
/* rollout.c: the rollout engine's pure core: batches, and the state machine
 * of one deployment (specified in rollout.h), checked after every move. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ferr.h"
#include "rollout.h"

/* Where rollout_step writes its decisions: slot 0 is kept for RA_RECORD,
 * the commands follow in the order they were decided. */
struct outbuf {
	struct rollout_decision *d;
	size_t n, max;
};

static void
emit(struct outbuf *o, enum rollout_action a, size_t host)
{
	assert(o->n < o->max);
	o->d[o->n].action = a;
	o->d[o->n].host = host;
	o->n++;
}

/* catf appends to buf (len bytes, NUL-terminated), truncating quietly. */
static void
catf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
catf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void
set_cause(struct rollout *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_cause(struct rollout *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->cause, sizeof(r->cause), fmt, ap);
	va_end(ap);
}

static void
host_set(struct rollout_host *h, enum rollout_host_state s, uint64_t now,
    const char *cause)
{
	h->state = s;
	h->since_ms = now;
	h->unanswered = 0;
	snprintf(h->cause, sizeof(h->cause), "%s", cause ? cause : "");
}

static int
plan_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t batch_len(const struct rollout *r, uint32_t b);

static int
plan_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return FERR_ARG;
}

int
rollout_plan(struct rollout *r, const char *const *names,
    const int *had_previous, size_t n, uint32_t batch, int batch_percent,
    uint32_t canary, uint32_t max_failures,
    enum rollout_on_failure on_failure, uint64_t pause_ms, char *why,
    size_t whylen)
{
	uint64_t size;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (n == 0)
		return plan_fail(why, whylen, "no hosts match");
	if (n > UINT32_MAX)
		return plan_fail(why, whylen, "too many hosts (%zu)", n);
	if (batch_percent) {
		if (batch < 1 || batch > 100)
			return plan_fail(why, whylen, "batch must be a "
			    "percentage from 1%% to 100%%, not %u%%", batch);
		size = (uint64_t)n * batch / 100;
		if (size == 0)
			size = 1;
	} else {
		if (batch == 0)
			return plan_fail(why, whylen,
			    "batch must be at least 1 host");
		size = batch;
	}
	if (canary > n)
		return plan_fail(why, whylen, "canary of %u hosts, but only "
		    "%zu hosts match", canary, n);
	if (on_failure != RO_ON_FAILURE_ROLLBACK &&
	    on_failure != RO_ON_FAILURE_PAUSE &&
	    on_failure != RO_ON_FAILURE_CONTINUE)
		return plan_fail(why, whylen, "unknown on_failure %d",
		    (int)on_failure);
	for (i = 0; i < n; i++)
		if (strlen(names[i]) >= ROLLOUT_HOST_MAX)
			return plan_fail(why, whylen, "host name too long "
			    "(%zu bytes, at most %d): %.32s...",
			    strlen(names[i]), ROLLOUT_HOST_MAX - 1, names[i]);

	if ((r->hosts = calloc(n, sizeof(*r->hosts))) == NULL) {
		plan_fail(why, whylen, "out of memory");
		return FERR_NOMEM;
	}
	r->nhosts = n;
	for (i = 0; i < n; i++) {
		struct rollout_host *h = &r->hosts[i];

		snprintf(h->name, sizeof(h->name), "%s", names[i]);
		h->had_previous = had_previous != NULL && had_previous[i];
		h->state = RH_WAITING;
		if (i < canary)
			h->batch = 0;
		else
			h->batch = (uint32_t)((canary > 0) +
			    (i - canary) / size);
	}
	r->state = RO_PLANNED;
	r->nbatches = r->hosts[n - 1].batch + 1;
	r->batch = 0;
	r->batch_size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	r->max_failures = max_failures;
	r->on_failure = on_failure;
	r->pause_ms = pause_ms;
	r->phase = CP_DONE;
	assert(rollout_check(r));
	return 0;
}

int
rollout_set_canary(struct rollout *r, const struct rollout_canary *c,
    char *why, size_t whylen)
{
	uint32_t i;

	if (c->strategy != RS_CANARY && c->strategy != RS_BLUE_GREEN)
		return plan_fail(why, whylen, "unknown strategy %d",
		    (int)c->strategy);
	if (c->nsteps == 0 || c->nsteps > ROLLOUT_STEPS_MAX)
		return plan_fail(why, whylen, "a canary needs 1 to %d steps, "
		    "not %u", ROLLOUT_STEPS_MAX, c->nsteps);
	for (i = 0; i < c->nsteps; i++)
		if (c->steps[i].weight > 100)
			return plan_fail(why, whylen, "step %u: weight %u%% "
			    "is above 100%%", i + 1, c->steps[i].weight);
	if (c->analysis && (c->interval_ms == 0 || c->failure_limit == 0 ||
	    c->progress_deadline_ms == 0))
		return plan_fail(why, whylen, "analysis needs an interval, a "
		    "failure_limit and a progress_deadline");
	if (c->strategy == RS_BLUE_GREEN && batch_len(r, 0) != r->nhosts)
		return plan_fail(why, whylen, "blue-green switches every "
		    "host together: its first batch must be all of them");
	r->cfg = *c;
	if (r->state == RO_PLANNED)
		r->phase = CP_SEND;
	assert(rollout_check(r));
	return 0;
}

int
rollout_copy(struct rollout *dst, const struct rollout *src)
{
	*dst = *src;
	dst->hosts = NULL;
	if (src->nhosts == 0)
		return 0;
	if ((dst->hosts = calloc(src->nhosts, sizeof(*dst->hosts))) == NULL) {
		memset(dst, 0, sizeof(*dst));
		return FERR_NOMEM;
	}
	memcpy(dst->hosts, src->hosts, src->nhosts * sizeof(*dst->hosts));
	return 0;
}

void
rollout_free(struct rollout *r)
{
	if (r == NULL)
		return;
	free(r->hosts);
	r->hosts = NULL;
	r->nhosts = 0;
}

void
rollout_canary_format(const struct rollout_canary *c, char *buf, size_t len)
{
	uint32_t i;

	buf[0] = '\0';
	if (c->strategy == RS_ROLLING)
		return;
	catf(buf, len, "1 %d %d %llu %u %d %llu %u", (int)c->strategy,
	    c->analysis, (unsigned long long)c->interval_ms,
	    c->failure_limit, c->inconclusive_fail,
	    (unsigned long long)c->progress_deadline_ms, c->nsteps);
	for (i = 0; i < c->nsteps && i < ROLLOUT_STEPS_MAX; i++)
		catf(buf, len, " %u/%llu/%d", c->steps[i].weight,
		    (unsigned long long)c->steps[i].for_ms,
		    c->steps[i].wait);
}

int
rollout_canary_parse(const char *text, struct rollout_canary *c)
{
	unsigned long long interval, deadline, f;
	int strategy, n, off = 0;
	uint32_t i;

	memset(c, 0, sizeof(*c));
	if (text[0] == '\0')
		return 0;
	if (sscanf(text, "1 %d %d %llu %u %d %llu %u%n", &strategy,
	    &c->analysis, &interval, &c->failure_limit, &c->inconclusive_fail,
	    &deadline, &c->nsteps, &off) != 7 || (strategy != RS_CANARY &&
	    strategy != RS_BLUE_GREEN) || c->nsteps == 0 ||
	    c->nsteps > ROLLOUT_STEPS_MAX)
		goto bad;
	c->strategy = (enum rollout_strategy)strategy;
	c->interval_ms = interval;
	c->progress_deadline_ms = deadline;
	for (i = 0; i < c->nsteps; i++) {
		if (sscanf(text + off, " %u/%llu/%d%n", &c->steps[i].weight,
		    &f, &c->steps[i].wait, &n) != 3 ||
		    c->steps[i].weight > 100)
			goto bad;
		c->steps[i].for_ms = f;
		off += n;
	}
	if (text[off] != '\0')
		goto bad;
	return 0;
bad:
	memset(c, 0, sizeof(*c));
	return FERR_MALFORMED;
}

/* ---- questions about hosts and batches ---------------------------------- */

static int
in_flight(enum rollout_host_state s)
{
	return s == RH_SWAPPING || s == RH_REVERTING || s == RH_WEIGHING;
}

/* A host of a batch that has not started: pulled, or (a canary's, once
 * its steps are done) running beside the old revision. */
static int
unstarted(enum rollout_host_state s)
{
	return s == RH_PULLED || s == RH_BESIDE;
}

static int
unreached(enum rollout_host_state s)
{
	return s == RH_WAITING || s == RH_PULLING || s == RH_PULLED;
}

static size_t
count(const struct rollout *r, enum rollout_host_state s)
{
	size_t i, k = 0;

	for (i = 0; i < r->nhosts; i++)
		k += r->hosts[i].state == s;
	return k;
}

static size_t
count_in_batch(const struct rollout *r, uint32_t b,
    enum rollout_host_state s)
{
	size_t i, k = 0;

	for (i = 0; i < r->nhosts; i++)
		k += r->hosts[i].batch == b && r->hosts[i].state == s;
	return k;
}

static size_t
batch_len(const struct rollout *r, uint32_t b)
{
	size_t i, k = 0;

	for (i = 0; i < r->nhosts; i++)
		k += r->hosts[i].batch == b;
	return k;
}

/* A forward batch has started once any of its hosts left RH_PULLED (or,
 * a canary's, RH_BESIDE). */
static int
batch_started(const struct rollout *r, uint32_t b)
{
	return count_in_batch(r, b, RH_PULLED) +
	    count_in_batch(r, b, RH_BESIDE) < batch_len(r, b);
}

/* A host to revert: it runs the new revision (alone, or beside the old
 * one).  One that ran nothing before (had_previous 0) is put back to
 * nothing: the shell removes the service there. */
static int
revertible(const struct rollout_host *h)
{
	return h->state == RH_DONE || h->state == RH_BESIDE;
}

static void
skip_unreached(struct rollout *r, uint64_t now)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (unreached(r->hosts[i].state))
			host_set(&r->hosts[i], RH_SKIPPED, now, NULL);
}

/* list_hosts appends "web-3 (cause), web-5 (cause)" to buf for the hosts
 * in state s.  Every host gets its name in: a cause longer than its share
 * of the room left is cut ("..."), or left out when there is no room for
 * it at all. */
static void
list_hosts(const struct rollout *r, char *buf, size_t len,
    enum rollout_host_state s)
{
	const char *sep = "";
	size_t i, n = count(r, s);

	for (i = 0; i < r->nhosts; i++) {
		const struct rollout_host *h = &r->hosts[i];
		size_t used = strnlen(buf, len), room, fixed, clen;

		if (h->state != s)
			continue;
		/* This host's share of what is left, after its name. */
		room = used + 1 < len ? (len - used - 1) / n : 0;
		fixed = strlen(sep) + strlen(h->name) + 3;	/* " ()" */
		clen = strlen(h->cause);
		if (clen > 0 && clen + fixed <= room)
			catf(buf, len, "%s%s (%s)", sep, h->name, h->cause);
		else if (clen > 0 && room >= fixed + 16)
			catf(buf, len, "%s%s (%.*s...)", sep, h->name,
			    (int)(room - fixed - 3), h->cause);
		else
			catf(buf, len, "%s%s", sep, h->name);
		sep = ", ";
		n--;
	}
}

/* ---- moves ------------------------------------------------------------- */

/* The last batch has passed: succeeded, unless on_failure continue carried
 * the deployment past more failures than allowed.  Under pause, failures
 * beyond max_failures were each shown to the operator, who resumed. */
static void
finish_forward(struct rollout *r)
{
	r->next_batch_at_ms = 0;
	r->flags = 0;
	if (r->failures <= r->max_failures ||
	    r->on_failure != RO_ON_FAILURE_CONTINUE) {
		r->state = RO_SUCCEEDED;
		r->cause[0] = '\0';
		if (r->failures > 0) {
			set_cause(r, "%u of %zu hosts failed: ", r->failures,
			    r->nhosts);
			list_hosts(r, r->cause, sizeof(r->cause), RH_FAILED);
		}
		return;
	}
	r->state = RO_FAILED;
	set_cause(r, "%u of %zu hosts failed (max_failures %u): ",
	    r->failures, r->nhosts, r->max_failures);
	list_hosts(r, r->cause, sizeof(r->cause), RH_FAILED);
}

/* Move past the current batch, which has been decided: the next one starts
 * now (next_batch_at_ms 0) or after the pause between batches. */
static void
next_batch(struct rollout *r, uint64_t now, int honour_pause)
{
	assert(r->batch + 1 < r->nbatches);
	r->batch++;
	r->next_batch_at_ms = honour_pause && r->pause_ms > 0 ?
	    now + r->pause_ms : 0;
}

/* The current forward batch has no host in flight: decide. */
static void
batch_end(struct rollout *r, uint64_t now)
{
	uint32_t b = r->batch;
	char what[200];

	if (r->failures > r->max_failures &&
	    count_in_batch(r, b, RH_FAILED) > 0) {
		snprintf(what, sizeof(what), "batch %u/%u: %u of %zu hosts "
		    "failed (max_failures %u): ", b + 1, r->nbatches,
		    r->failures, r->nhosts, r->max_failures);
		list_hosts(r, what, sizeof(what), RH_FAILED);
		switch (r->on_failure) {
		case RO_ON_FAILURE_ROLLBACK:
			r->state = RO_ROLLING_BACK;
			r->flags = 0;
			r->next_batch_at_ms = 0;
			set_cause(r, "rolling back: %s", what);
			skip_unreached(r, now);
			return;
		case RO_ON_FAILURE_PAUSE:
			r->state = RO_PAUSED;
			r->flags = 0;
			r->next_batch_at_ms = 0;
			set_cause(r, "paused: %s", what);
			return;
		case RO_ON_FAILURE_CONTINUE:
			set_cause(r, "continuing: %s", what);
			break;
		}
	}
	if (b + 1 == r->nbatches) {
		finish_forward(r);
		return;
	}
	if (r->flags & ROLLOUT_PAUSING) {
		r->state = RO_PAUSED;
		r->flags = 0;
		set_cause(r, "paused by operator after batch %u/%u", b + 1,
		    r->nbatches);
		return;
	}
	next_batch(r, now, 1);
}

/* newest_revertible: the newest batch that has a host to put back, or 0. */
static uint32_t
newest_revertible(const struct rollout *r)
{
	uint32_t nb = 0;
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (revertible(&r->hosts[i]) && r->hosts[i].batch > nb)
			nb = r->hosts[i].batch;
	return nb;
}

/* Every revert is done: say how the rollback ended. */
static void
finish_rollback(struct rollout *r)
{
	char why[sizeof(r->cause)];
	const char *base = r->cause;
	size_t bad = count(r, RH_REVERT_FAILED);

	if (strncmp(base, "rolling back: ", 14) == 0)
		base += 14;
	snprintf(why, sizeof(why), "%s", base);
	if (r->flags & ROLLOUT_ABORTING) {
		/* An abort in a canary: traffic went back first. */
		r->flags = 0;
		r->state = RO_ABORTED;
		set_cause(r, "%s", why);
		if (bad > 0) {
			catf(r->cause, sizeof(r->cause), "; could not put "
			    "back ");
			list_hosts(r, r->cause, sizeof(r->cause),
			    RH_REVERT_FAILED);
		}
		return;
	}
	r->flags = 0;
	r->next_batch_at_ms = 0;
	if (bad == 0) {
		r->state = RO_ROLLED_BACK;
		set_cause(r, "rolled back after %s", why);
		return;
	}
	r->state = RO_FAILED;
	set_cause(r, "rollback incomplete: could not put back ");
	list_hosts(r, r->cause, sizeof(r->cause), RH_REVERT_FAILED);
	catf(r->cause, sizeof(r->cause), "; after %s", why);
}

static void
pause_now(struct rollout *r, const char *when)
{
	r->state = RO_PAUSED;
	r->flags = 0;
	r->next_batch_at_ms = 0;
	set_cause(r, "paused by operator %s batch %u/%u", when, r->batch + 1,
	    r->nbatches);
}


/* ---- canary and blue-green ----------------------------------------------- */

int
rollout_judged(const struct rollout *r)
{
	if (r->cfg.strategy == RS_ROLLING || !r->cfg.analysis)
		return 0;
	if (r->phase == CP_DONE)
		return 1;
	return r->step < r->cfg.nsteps && r->cfg.steps[r->step].weight > 0;
}

/* step_name writes "step 2/3" (or, for blue-green, what the step does). */
static const char *
step_name(const struct rollout *r, char *buf, size_t len)
{
	if (r->cfg.strategy == RS_BLUE_GREEN && r->cfg.nsteps == 2)
		snprintf(buf, len, "%s", r->step == 0 ? "the prepare" :
		    "the switch");
	else
		snprintf(buf, len, "step %u/%u", r->step + 1, r->cfg.nsteps);
	return buf;
}

/* A new analysis interval starts now, when the step is judged. */
static void
interval_start(struct rollout *r, uint64_t now, struct outbuf *o)
{
	r->flags &= ~(uint32_t)ROLLOUT_JUDGING;
	r->interval_since_ms = 0;
	if (!rollout_judged(r))
		return;
	r->interval_since_ms = now;
	emit(o, RA_MARK, 0);
}

/* The step stops running (paused, or ended): its clock and interval. */
static void
step_stop(struct rollout *r, uint64_t now)
{
	if (r->step_since_ms != 0 && now > r->step_since_ms)
		r->step_run_ms += now - r->step_since_ms;
	r->step_since_ms = 0;
	r->interval_since_ms = 0;
	r->flags &= ~(uint32_t)ROLLOUT_JUDGING;
}

/* The step runs (again) from now. */
static void
step_run(struct rollout *r, uint64_t now, struct outbuf *o)
{
	r->step_since_ms = now;
	r->progress_ms = now;
	interval_start(r, now, o);
}

/* The canary fails (or is aborted): every canary host that runs the new
 * revision goes back at once; the batches not reached are skipped. */
static void
canary_back(struct rollout *r, uint64_t now, int aborting, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
canary_back(struct rollout *r, uint64_t now, int aborting, const char *fmt,
    ...)
{
	char why[sizeof(r->cause)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	step_stop(r, now);
	r->state = RO_ROLLING_BACK;
	r->phase = CP_DONE;
	r->batch = 0;
	r->flags = aborting ? ROLLOUT_ABORTING : 0;
	r->next_batch_at_ms = 0;
	set_cause(r, "rolling back: %s", why);
	skip_unreached(r, now);
}

/* Past the steps: batch 0 takes the new revision alone, the rest follow
 * in batches; when judged, the intervals go on. */
static void
canary_done(struct rollout *r, uint64_t now, struct outbuf *o)
{
	step_stop(r, now);
	r->phase = CP_DONE;
	r->step = r->cfg.nsteps;
	r->passes = 0;
	r->state = RO_RUNNING;
	r->batch = 0;
	r->next_batch_at_ms = 0;
	r->flags = 0;
	r->cause[0] = '\0';
	interval_start(r, now, o);
}

/* The step's end on the steady clock, or 0 when time alone cannot end
 * it (it waits for promote, or is not running). */
static uint64_t
step_due(const struct rollout *r)
{
	uint64_t f;

	if (r->phase != CP_RUNNING || r->step_since_ms == 0 ||
	    r->cfg.steps[r->step].wait)
		return 0;
	f = r->cfg.steps[r->step].for_ms;
	return r->step_since_ms + (f > r->step_run_ms ? f - r->step_run_ms :
	    0);
}

/* When the progress deadline passes, or 0 when it does not count. */
static uint64_t
deadline_due(const struct rollout *r)
{
	if (!r->cfg.analysis || r->progress_ms == 0)
		return 0;
	if (r->state == RO_PAUSED && (r->flags & ROLLOUT_STALLED))
		return r->progress_ms + r->cfg.progress_deadline_ms;
	if (r->state == RO_CANARY && r->phase == CP_RUNNING &&
	    rollout_judged(r))
		return r->progress_ms + r->cfg.progress_deadline_ms;
	return 0;
}

/* When the interval being counted has run its course, or 0. */
static uint64_t
interval_due(const struct rollout *r)
{
	if (r->interval_since_ms == 0 || (r->flags & ROLLOUT_JUDGING))
		return 0;
	return r->interval_since_ms + r->cfg.interval_ms;
}


/* What the operator asked during a weight change, now that it settled:
 * 1 when it moved r. */
static int
canary_requests(struct rollout *r, uint64_t now, struct outbuf *o)
{
	char sn[32];

	if (r->flags & ROLLOUT_ABORTING) {
		canary_back(r, now, 1, "aborted by operator at %s",
		    step_name(r, sn, sizeof(sn)));
		return 1;
	}
	if (r->flags & ROLLOUT_BACK) {
		canary_back(r, now, 0, "switched back by operator at %s",
		    step_name(r, sn, sizeof(sn)));
		return 1;
	}
	if (r->flags & ROLLOUT_PROMOTING) {
		canary_done(r, now, o);
		return 1;
	}
	if (r->flags & ROLLOUT_PAUSING) {
		step_stop(r, now);
		r->state = RO_PAUSED;
		r->flags = 0;
		set_cause(r, "paused by operator at %s",
		    step_name(r, sn, sizeof(sn)));
		return 1;
	}
	return 0;
}

/*
 * canary_advance moves a deployment in canary as far as it goes at now:
 * sends a step's weight, decides a weight change that settled, asks for
 * a verdict that is due, ends a step, fails on the deadline.  Returns 1
 * when it changed anything; r may have left canary.
 */
static int
canary_advance(struct rollout *r, uint64_t now, struct outbuf *o)
{
	char sn[32], d[32];
	uint64_t due;
	size_t i;

	switch (r->phase) {
	case CP_SEND:
		if (canary_requests(r, now, o))
			return 1;
		for (i = 0; i < r->nhosts; i++) {
			if (r->hosts[i].batch != 0)
				continue;
			host_set(&r->hosts[i], RH_WEIGHING, now, NULL);
			emit(o, RA_WEIGH, i);
		}
		r->phase = CP_WEIGHING;
		return 1;
	case CP_WEIGHING:
		if (count_in_batch(r, 0, RH_WEIGHING) > 0)
			return 0;
		if (count_in_batch(r, 0, RH_FAILED) > 0) {
			char what[200] = "";

			list_hosts(r, what, sizeof(what), RH_FAILED);
			canary_back(r, now, (r->flags & ROLLOUT_ABORTING) != 0,
			    "%s failed on %s", step_name(r, sn, sizeof(sn)),
			    what);
			return 1;
		}
		r->phase = CP_RUNNING;
		r->step_run_ms = 0;
		r->passes = 0;
		if (canary_requests(r, now, o))
			return 1;
		step_run(r, now, o);
		return 1;
	case CP_RUNNING:
		/* An interval that is due is judged before the deadline
		 * counts: its verdict may be the progress. */
		if ((due = interval_due(r)) != 0 && now >= due) {
			r->flags |= ROLLOUT_JUDGING;
			emit(o, RA_JUDGE, 0);
			return 1;
		}
		if (!(r->flags & ROLLOUT_JUDGING) &&
		    (due = deadline_due(r)) != 0 && now >= due) {
			format_duration_ms(d, sizeof(d),
			    r->cfg.progress_deadline_ms);
			canary_back(r, now, 0, "no progress for %s "
			    "(progress_deadline) at %s", d,
			    step_name(r, sn, sizeof(sn)));
			return 1;
		}
		if ((r->flags & ROLLOUT_JUDGING) ||
		    (due = step_due(r)) == 0 || now < due ||
		    (rollout_judged(r) && r->passes == 0))
			return 0;
		step_stop(r, now);
		if (r->step + 1 >= r->cfg.nsteps) {
			canary_done(r, now, o);
			return 1;
		}
		r->step++;
		r->step_run_ms = 0;
		r->passes = 0;
		r->phase = CP_SEND;
		return 1;
	case CP_DONE:
		break;
	}
	return 0;
}

/* An interval's verdict (RI_VERDICT): 1 when it applied. */
static int
verdict(struct rollout *r, const struct rollout_event *ev, uint64_t now,
    struct outbuf *o)
{
	const char *c = ev->cause != NULL ? ev->cause : "";
	enum rollout_verdict v = ev->verdict;
	char sn[32];

	if (!(r->flags & ROLLOUT_JUDGING) || (r->state != RO_CANARY &&
	    r->state != RO_RUNNING) || (v != RV_PASS && v != RV_FAIL &&
	    v != RV_INCONCLUSIVE))
		return 0;
	r->flags &= ~(uint32_t)ROLLOUT_JUDGING;
	r->intervals++;
	if (r->state == RO_RUNNING) {
		/* Past the steps: only a fail counts. */
		if (v == RV_FAIL) {
			if (++r->fails >= r->cfg.failure_limit) {
				r->flags |= ROLLOUT_FAILING;
				set_cause(r, "analysis failed %u of %u "
				    "intervals: %s", r->fails,
				    r->cfg.failure_limit, c);
			}
		}
		if (!(r->flags & ROLLOUT_FAILING))
			interval_start(r, now, o);
		else
			r->interval_since_ms = 0;
		return 1;
	}
	if (v == RV_INCONCLUSIVE && r->cfg.inconclusive_fail)
		v = RV_FAIL;
	switch (v) {
	case RV_PASS:
		r->passes++;
		r->progress_ms = now;
		interval_start(r, now, o);
		return 1;
	case RV_FAIL:
		if (++r->fails >= r->cfg.failure_limit) {
			canary_back(r, now, 0, "%s failed its analysis (%u of "
			    "%u intervals): %s", step_name(r, sn, sizeof(sn)),
			    r->fails, r->cfg.failure_limit, c);
			return 1;
		}
		interval_start(r, now, o);
		return 1;
	default:
		step_stop(r, now);
		r->state = RO_PAUSED;
		r->flags = ROLLOUT_STALLED;
		set_cause(r, "paused at %s: %s", step_name(r, sn, sizeof(sn)),
		    c);
		return 1;
	}
}

/* RI_RESUME of a canary paused in its steps. */
static void
canary_resume(struct rollout *r, uint64_t now, struct outbuf *o)
{
	r->state = RO_CANARY;
	r->flags = 0;
	r->cause[0] = '\0';
	if (r->phase == CP_RUNNING)
		step_run(r, now, o);
}

/* Paused in a canary's steps (not after them). */
static int
canary_paused(const struct rollout *r)
{
	return r->state == RO_PAUSED && r->phase != CP_DONE;
}

/*
 * advance moves r as far as it can go at now without new input: starts a
 * batch that is due, decides a batch that has finished, walks the rollback
 * back.  Returns 1 when it changed anything.
 */
static int
advance(struct rollout *r, uint64_t now, struct outbuf *o)
{
	int changed = 0, sent;
	uint32_t b, nb;
	uint64_t due;
	char d[32], sn[32];
	size_t i;

	for (;;) {
		b = r->batch;
		switch (r->state) {
		case RO_PULLING:
			if (count(r, RH_PULLING) > 0)
				return changed;
			r->batch = 0;
			r->next_batch_at_ms = 0;
			if (r->flags & ROLLOUT_PAUSING) {
				pause_now(r, "before");
				return 1;
			}
			r->state = r->phase == CP_DONE ? RO_RUNNING :
			    RO_CANARY;
			r->cause[0] = '\0';
			changed = 1;
			continue;
		case RO_CANARY:
			if (!canary_advance(r, now, o))
				return changed;
			changed = 1;
			continue;
		case RO_PAUSED:
			if ((due = deadline_due(r)) == 0 || now < due)
				return changed;
			format_duration_ms(d, sizeof(d),
			    r->cfg.progress_deadline_ms);
			canary_back(r, now, 0, "no progress for %s "
			    "(progress_deadline) at %s", d,
			    step_name(r, sn, sizeof(sn)));
			changed = 1;
			continue;
		case RO_RUNNING:
			if ((due = interval_due(r)) != 0 && now >= due &&
			    !(r->flags & ROLLOUT_FAILING)) {
				r->flags |= ROLLOUT_JUDGING;
				emit(o, RA_JUDGE, 0);
				changed = 1;
			}
			if ((r->flags & ROLLOUT_FAILING) &&
			    count_in_batch(r, b, RH_SWAPPING) == 0) {
				char why[sizeof(r->cause)];

				snprintf(why, sizeof(why), "%s", r->cause);
				r->state = RO_ROLLING_BACK;
				r->flags = 0;
				r->next_batch_at_ms = 0;
				r->interval_since_ms = 0;
				set_cause(r, "rolling back: %s", why);
				skip_unreached(r, now);
				changed = 1;
				continue;
			}
			if (!batch_started(r, b)) {
				if (r->flags & ROLLOUT_PAUSING) {
					pause_now(r, "before");
					return 1;
				}
				if (r->next_batch_at_ms > now)
					return changed;
				r->next_batch_at_ms = 0;
				for (i = 0; i < r->nhosts; i++) {
					if (r->hosts[i].batch != b ||
					    !unstarted(r->hosts[i].state))
						continue;
					host_set(&r->hosts[i], RH_SWAPPING,
					    now, NULL);
					emit(o, RA_SWAP, i);
				}
				return 1;
			}
			if (count_in_batch(r, b, RH_SWAPPING) > 0)
				return changed;
			batch_end(r, now);
			changed = 1;
			continue;
		case RO_ROLLING_BACK:
			if (count_in_batch(r, b, RH_REVERTING) > 0)
				return changed;
			/* A host of a newer batch that answered late goes
			 * back first: the walk returns to its batch. */
			if ((nb = newest_revertible(r)) > b) {
				r->batch = nb;
				changed = 1;
				continue;
			}
			sent = 0;
			for (i = 0; i < r->nhosts; i++) {
				if (r->hosts[i].batch != b ||
				    !revertible(&r->hosts[i]))
					continue;
				host_set(&r->hosts[i], RH_REVERTING, now,
				    NULL);
				emit(o, RA_REVERT, i);
				sent = 1;
			}
			if (sent)
				return 1;
			if (b > 0) {
				r->batch--;
				changed = 1;
				continue;
			}
			finish_rollback(r);
			return 1;
		default:
			return changed;
		}
	}
}

/* A pre-pull failed (or its host went offline): the deployment ends before
 * anything was swapped. */
static void
pull_failed(struct rollout *r, size_t i, uint64_t now, const char *cause)
{
	struct rollout_host *h = &r->hosts[i];

	host_set(h, RH_FAILED, now, cause);
	r->failures++;
	r->state = RO_FAILED;
	r->flags = 0;
	r->next_batch_at_ms = 0;
	set_cause(r, "pre-pull failed on %s: %s", h->name, h->cause);
	skip_unreached(r, now);
}

static void
abort_now(struct rollout *r, uint64_t now)
{
	switch (r->state) {
	case RO_PLANNED:
		set_cause(r, "aborted by operator before it started");
		break;
	case RO_PULLING:
		set_cause(r, "aborted by operator during the pre-pull");
		break;
	case RO_ROLLING_BACK:
		set_cause(r, "aborted by operator while rolling back batch "
		    "%u/%u", r->batch + 1, r->nbatches);
		break;
	default:
		set_cause(r, "aborted by operator at batch %u/%u",
		    r->batch + 1, r->nbatches);
		break;
	}
	r->state = RO_ABORTED;
	r->flags = 0;
	r->next_batch_at_ms = 0;
	skip_unreached(r, now);
}

/* RI_RESUME in paused: the batch paused after (if it ran) was decided
 * before pausing, so move past it; the next batch starts at once. */
static void
resume(struct rollout *r)
{
	r->state = RO_RUNNING;
	r->flags = 0;
	r->cause[0] = '\0';
	r->next_batch_at_ms = 0;
	if (!batch_started(r, r->batch))
		return;
	if (r->batch + 1 == r->nbatches)
		finish_forward(r);
	else
		next_batch(r, 0, 0);
}

/* The original reason of a rollback, from the cause it left in any of its
 * three ends: "rolling back: WHY", "rolled back after WHY" or "rollback
 * incomplete: ...; after WHY". */
static const char *
rollback_reason(const struct rollout *r)
{
	const char *c = r->cause, *p, *last = NULL;

	if (strncmp(c, "rolling back: ", 14) == 0)
		return c + 14;
	if (strncmp(c, "rolled back after ", 18) == 0)
		return c + 18;
	for (p = c; (p = strstr(p, "; after ")) != NULL; p++)
		last = p;
	return last != NULL ? last + 8 : c;
}

/* Whether on_failure rollback fired and has ended. */
static int
rolled_back(const struct rollout *r)
{
	return r->state == RO_ROLLED_BACK || (r->state == RO_FAILED &&
	    r->on_failure == RO_ON_FAILURE_ROLLBACK &&
	    (count(r, RH_REVERT_FAILED) > 0 || count(r, RH_DONE) > 0));
}

/* Takes a finished rollback up again, for host h that answered late. */
static void
reopen_rollback(struct rollout *r, const struct rollout_host *h)
{
	char why[sizeof(r->cause)];

	snprintf(why, sizeof(why), "%s", rollback_reason(r));
	r->state = RO_ROLLING_BACK;
	r->batch = h->batch;
	r->flags = 0;
	r->next_batch_at_ms = 0;
	set_cause(r, "rolling back: %s", why);
}

/*
 * late_swapped: host h was counted failed (it went offline, or its result
 * did not come), and now says its forward swap passed after all: it runs
 * the new revision.  It becomes RH_DONE, so that what is recorded is what
 * it runs, and its failure is taken back (an ended forward rollout says
 * again how it ended; a decision already taken stands).  If
 * the deployment is rolling back, or has rolled back, h goes back too: the
 * rollback walks back to its batch (reopened if it had ended).
 */
static int
late_swapped(struct rollout *r, struct rollout_host *h, uint64_t now)
{
	int reopen = rolled_back(r);

	host_set(h, RH_DONE, now, "passed after it had been counted failed");
	r->failures--;
	/* A forward rollout that has ended says again how it ended. */
	if ((r->state == RO_SUCCEEDED || (r->state == RO_FAILED &&
	    r->on_failure == RO_ON_FAILURE_CONTINUE)) &&
	    count(r, RH_SKIPPED) == 0)
		finish_forward(r);
	if (reopen)
		reopen_rollback(r, h);
	return 1;
}

/* late_reverted: host h was counted as not put back (it went offline while
 * reverting), and now says its revert passed. */
static int
late_reverted(struct rollout *r, struct rollout_host *h, uint64_t now)
{
	int ended = rolled_back(r);

	host_set(h, RH_REVERTED, now, "put back after it had been counted "
	    "failed");
	if (ended) {
		/* The rollback had ended failed, partly because of h: it
		 * ends again, with nothing left to send. */
		reopen_rollback(r, h);
		finish_rollback(r);
	}
	return 1;
}

/* RI_ABORT, RI_ROLLBACK and RI_PROMOTE: acted on at once, or (in a
 * canary whose weight is in flight) once it settles. */
static int
canary_operator(struct rollout *r, enum rollout_input in, uint64_t now,
    struct outbuf *o)
{
	uint32_t flag = in == RI_ABORT ? ROLLOUT_ABORTING :
	    in == RI_ROLLBACK ? ROLLOUT_BACK : ROLLOUT_PROMOTING;

	if (r->state == RO_CANARY || canary_paused(r)) {
		if (r->flags & flag)
			return 0;
		if (r->state == RO_PAUSED)
			r->state = RO_CANARY;
		r->flags &= ~(uint32_t)(ROLLOUT_STALLED | ROLLOUT_PAUSING);
		r->flags |= flag;
		if (r->phase == CP_WEIGHING) {
			set_cause(r, "%s requested: waiting for the weights "
			    "in flight", in == RI_ABORT ? "abort" :
			    in == RI_ROLLBACK ? "switch back" : "promote");
			return 1;
		}
		canary_requests(r, now, o);
		return 1;
	}
	if (in != RI_ABORT || rollout_finished(r))
		return 0;
	abort_now(r, now);
	return 1;
}

/* apply makes the direct change ev asks for; 1 when it changed anything. */
static int
apply(struct rollout *r, const struct rollout_event *ev, uint64_t now,
    struct outbuf *o)
{
	struct rollout_host *h = NULL;
	size_t i;

	switch (ev->input) {
	case RI_PULLED:
	case RI_PULL_FAILED:
	case RI_SWAPPED:
	case RI_SWAP_FAILED:
	case RI_REVERTED:
	case RI_REVERT_FAILED:
	case RI_OFFLINE:
		if (ev->host >= r->nhosts)
			return 0;
		h = &r->hosts[ev->host];
		break;
	default:
		break;
	}

	switch (ev->input) {
	case RI_RESOLVE_FAILED:
		if (r->state != RO_PLANNED)
			return 0;
		r->state = RO_FAILED;
		for (i = 0; i < r->nhosts; i++)
			host_set(&r->hosts[i], RH_SKIPPED, now, NULL);
		set_cause(r, "%s", ev->cause ? ev->cause :
		    "the image could not be resolved");
		return 1;
	case RI_TICK:
		if (r->state != RO_PLANNED)
			return 0;
		r->state = RO_PULLING;
		for (i = 0; i < r->nhosts; i++) {
			host_set(&r->hosts[i], RH_PULLING, now, NULL);
			emit(o, RA_PULL, i);
		}
		return 1;
	case RI_PULLED:
		if (h->state != RH_PULLING)
			return 0;
		host_set(h, RH_PULLED, now, NULL);
		return 1;
	case RI_PULL_FAILED:
		if (h->state != RH_PULLING)
			return 0;
		pull_failed(r, ev->host, now, ev->cause ? ev->cause :
		    "pre-pull failed");
		return 1;
	case RI_SWAPPED:
		if (h->state == RH_FAILED && h->unanswered)
			return late_swapped(r, h, now);
		if (h->state == RH_WEIGHING) {
			host_set(h, RH_BESIDE, now, NULL);
			return 1;
		}
		if (h->state != RH_SWAPPING)
			return 0;
		host_set(h, RH_DONE, now, NULL);
		return 1;
	case RI_SWAP_FAILED:
		if (h->state != RH_SWAPPING && h->state != RH_WEIGHING)
			return 0;
		host_set(h, RH_FAILED, now, ev->cause ? ev->cause :
		    "swap failed");
		r->failures++;
		return 1;
	case RI_REVERTED:
		if (h->state == RH_REVERT_FAILED && h->unanswered)
			return late_reverted(r, h, now);
		if (h->state != RH_REVERTING)
			return 0;
		host_set(h, RH_REVERTED, now, NULL);
		return 1;
	case RI_REVERT_FAILED:
		if (h->state != RH_REVERTING)
			return 0;
		host_set(h, RH_REVERT_FAILED, now, ev->cause ? ev->cause :
		    "revert failed");
		return 1;
	case RI_OFFLINE:
		switch (h->state) {
		case RH_PULLING:
			pull_failed(r, ev->host, now, ev->cause ? ev->cause :
			    "host went offline");
			return 1;
		case RH_SWAPPING:
		case RH_WEIGHING:
			host_set(h, RH_FAILED, now, ev->cause ? ev->cause :
			    "host went offline");
			h->unanswered = 1;
			r->failures++;
			return 1;
		case RH_REVERTING:
			host_set(h, RH_REVERT_FAILED, now, ev->cause ?
			    ev->cause : "host went offline");
			h->unanswered = 1;
			return 1;
		default:
			return 0;
		}
	case RI_PAUSE:
		if (r->state == RO_CANARY && !(r->flags & ROLLOUT_PAUSING)) {
			r->flags |= ROLLOUT_PAUSING;
			if (r->phase == CP_WEIGHING)
				set_cause(r, "pause requested: waiting for "
				    "the weights in flight");
			else
				canary_requests(r, now, o);
			return 1;
		}
		if ((r->state != RO_PULLING && r->state != RO_RUNNING) ||
		    (r->flags & ROLLOUT_PAUSING))
			return 0;
		r->flags |= ROLLOUT_PAUSING;
		set_cause(r, "pause requested: waiting for the hosts in "
		    "flight");
		return 1;
	case RI_RESUME:
		if (canary_paused(r)) {
			canary_resume(r, now, o);
			return 1;
		}
		if (r->state == RO_CANARY && (r->flags & ROLLOUT_PAUSING)) {
			r->flags &= ~(uint32_t)ROLLOUT_PAUSING;
			r->cause[0] = '\0';
			return 1;
		}
		if (r->state == RO_PAUSED) {
			resume(r);
			return 1;
		}
		if ((r->state == RO_PULLING || r->state == RO_RUNNING) &&
		    (r->flags & ROLLOUT_PAUSING)) {
			r->flags &= ~(uint32_t)ROLLOUT_PAUSING;
			r->cause[0] = '\0';
			return 1;
		}
		return 0;
	case RI_ABORT:
	case RI_ROLLBACK:
	case RI_PROMOTE:
		return canary_operator(r, ev->input, now, o);
	case RI_VERDICT:
		return verdict(r, ev, now, o);
	}
	return 0;
}

/* soonest: the earlier of a and b that is after now, 0 when neither. */
static uint64_t
soonest(uint64_t a, uint64_t b, uint64_t now)
{
	if (a <= now)
		a = 0;
	if (b <= now)
		b = 0;
	if (a == 0 || (b != 0 && b < a))
		return b;
	return a;
}

/* When r wants an RI_TICK next (0: only on an event). */
static uint64_t
wake_at(const struct rollout *r, uint64_t now)
{
	switch (r->state) {
	case RO_RUNNING:
		return soonest(r->next_batch_at_ms, interval_due(r), now);
	case RO_CANARY:
		return soonest(soonest(interval_due(r), step_due(r), now),
		    deadline_due(r), now);
	case RO_PAUSED:
		return soonest(deadline_due(r), 0, now);
	default:
		return 0;
	}
}

size_t
rollout_step(struct rollout *r, const struct rollout_event *ev,
    uint64_t now_ms, struct rollout_decision *out, size_t max,
    uint64_t *wake_ms)
{
	struct outbuf o = { out, 1, max };
	int changed;

	assert(max >= ROLLOUT_DECISIONS(r->nhosts));
	changed = apply(r, ev, now_ms, &o);
	changed |= advance(r, now_ms, &o);
	if (wake_ms != NULL)
		*wake_ms = wake_at(r, now_ms);
	assert(rollout_check(r));
	assert(changed || o.n == 1);
	if (!changed)
		return 0;
	out[0].action = RA_RECORD;
	out[0].host = 0;
	return o.n;
}

/* ---- the invariants ---------------------------------------------------- */

/* Which host states each deployment state allows. */
static int
host_state_allowed(enum rollout_state d, enum rollout_host_state h)
{
	switch (d) {
	case RO_PLANNED:
		return h == RH_WAITING;
	case RO_PULLING:
		return h == RH_PULLING || h == RH_PULLED;
	case RO_RUNNING:
		return h == RH_PULLED || h == RH_SWAPPING || h == RH_DONE ||
		    h == RH_FAILED || h == RH_BESIDE;
	case RO_PAUSED:
		return h == RH_PULLED || h == RH_DONE || h == RH_FAILED ||
		    h == RH_BESIDE;
	case RO_ROLLING_BACK:
		return h == RH_DONE || h == RH_FAILED || h == RH_REVERTING ||
		    h == RH_REVERTED || h == RH_REVERT_FAILED ||
		    h == RH_SKIPPED || h == RH_BESIDE;
	case RO_SUCCEEDED:
		return h == RH_DONE || h == RH_FAILED;
	case RO_FAILED:
		return h == RH_DONE || h == RH_FAILED || h == RH_REVERTED ||
		    h == RH_REVERT_FAILED || h == RH_SKIPPED ||
		    h == RH_BESIDE;
	case RO_ROLLED_BACK:
		return h == RH_FAILED || h == RH_REVERTED ||
		    h == RH_SKIPPED;
	case RO_ABORTED:
		return !unreached(h);
	case RO_CANARY:
		return h == RH_PULLED || h == RH_WEIGHING || h == RH_BESIDE ||
		    h == RH_FAILED;
	}
	return 0;
}

/* The canary's own rules: where it stands matches its plan and hosts. */
static int
canary_check(const struct rollout *r)
{
	size_t i;

	if (r->cfg.strategy == RS_ROLLING)
		return r->phase == CP_DONE && r->step == 0 &&
		    r->interval_since_ms == 0 &&
		    (r->flags & ~(uint32_t)ROLLOUT_PAUSING) == 0;
	if ((unsigned)r->cfg.strategy > RS_BLUE_GREEN ||
	    (unsigned)r->phase > CP_DONE || r->cfg.nsteps == 0 ||
	    r->cfg.nsteps > ROLLOUT_STEPS_MAX ||
	    (r->phase != CP_DONE && r->step >= r->cfg.nsteps) ||
	    r->step > r->cfg.nsteps)
		return 0;
	if (r->state == RO_CANARY && (r->phase == CP_DONE || r->batch != 0))
		return 0;
	if (r->state == RO_PAUSED && r->phase == CP_WEIGHING)
		return 0;
	/* Judging happens only in a judged step or past the steps. */
	if ((r->flags & ROLLOUT_JUDGING) && (r->interval_since_ms == 0 ||
	    !rollout_judged(r)))
		return 0;
	for (i = 0; i < r->nhosts; i++) {
		const struct rollout_host *h = &r->hosts[i];

		if (h->batch != 0 && (h->state == RH_WEIGHING ||
		    h->state == RH_BESIDE))
			return 0;
		if (r->state != RO_CANARY)
			continue;
		if (h->batch != 0 && h->state != RH_PULLED)
			return 0;
		if (h->batch != 0)
			continue;
		/* Weights go to every canary host at once. */
		if (r->phase == CP_SEND && h->state != RH_PULLED &&
		    h->state != RH_BESIDE)
			return 0;
		if (r->phase == CP_WEIGHING && h->state == RH_PULLED)
			return 0;
		if (r->phase == CP_RUNNING && h->state != RH_BESIDE)
			return 0;
	}
	return 1;
}

int
rollout_check(const struct rollout *r)
{
	size_t i, nfailed = 0, nflight = 0, len = 0, finished = 0, pulled = 0;
	uint32_t b = 0;

	if ((unsigned)r->state > RO_LAST ||
	    (unsigned)r->on_failure > RO_ON_FAILURE_CONTINUE ||
	    (r->flags & ~(uint32_t)ROLLOUT_FLAGS_ALL) != 0 ||
	    memchr(r->cause, '\0', sizeof(r->cause)) == NULL)
		return 0;
	if (r->nhosts == 0)	/* zeroed, or freed */
		return r->state == RO_PLANNED && r->nbatches == 0;
	if (r->hosts == NULL || r->nbatches == 0 || r->batch >= r->nbatches ||
	    r->batch_size == 0)
		return 0;
	/* ROLLOUT_PAUSING only while something can still be in flight. */
	if ((r->flags & ROLLOUT_PAUSING) && r->state != RO_PULLING &&
	    r->state != RO_RUNNING && r->state != RO_CANARY)
		return 0;
	if (!canary_check(r))
		return 0;
	/* A pause between batches is only waited out in running, before
	 * its batch starts. */
	if (r->next_batch_at_ms != 0 && (r->state != RO_RUNNING ||
	    batch_started(r, r->batch)))
		return 0;

	for (i = 0; i < r->nhosts; i++) {
		const struct rollout_host *h = &r->hosts[i];

		if ((unsigned)h->state > RH_LAST || (h->unanswered &&
		    h->state != RH_FAILED && h->state != RH_REVERT_FAILED) ||
		    memchr(h->name, '\0', sizeof(h->name)) == NULL ||
		    memchr(h->cause, '\0', sizeof(h->cause)) == NULL ||
		    !host_state_allowed(r->state, h->state))
			return 0;
		/* Batches are numbered 0, 1, ... in host order, none empty;
		 * none after the first (the canary) above batch_size. */
		if (i == 0 && h->batch != 0)
			return 0;
		if (i > 0 && h->batch != b && h->batch != b + 1)
			return 0;
		if (i > 0 && h->batch != b) {
			b = h->batch;
			len = 0;
		}
		if (b > 0 && ++len > r->batch_size)
			return 0;
		nfailed += h->state == RH_FAILED;
		/* What is out of service belongs to the current batch,
		 * forward or back, so no more than one batch is at once. */
		if (in_flight(h->state)) {
			nflight++;
			if (h->batch != r->batch)
				return 0;
		}
		if (r->state == RO_RUNNING || r->state == RO_PAUSED) {
			/* Earlier batches decided, later ones untouched. */
			if (h->batch < r->batch && h->state != RH_DONE &&
			    h->state != RH_FAILED)
				return 0;
			if (h->batch > r->batch && h->state != RH_PULLED)
				return 0;
			if (h->batch == r->batch) {
				finished += h->state == RH_DONE ||
				    h->state == RH_FAILED;
				pulled += unstarted(h->state);
			}
		}
	}
	if (b + 1 != r->nbatches)
		return 0;
	if (nfailed != r->failures)
		return 0;
	if (nflight > r->batch_size && nflight > batch_len(r, 0))
		return 0;
	/* A batch starts whole: none or all of it is still RH_PULLED.
	 * Paused: the current batch has not started or is all decided. */
	if ((r->state == RO_RUNNING || r->state == RO_PAUSED) &&
	    pulled != 0 && pulled != batch_len(r, r->batch))
		return 0;
	if (r->state == RO_PAUSED && finished != 0 &&
	    finished != batch_len(r, r->batch))
		return 0;
	return 1;
}

uint64_t
rollout_flags(const struct rollout *r)
{
	return r->flags;
}

void
rollout_set_flags(struct rollout *r, uint64_t flags)
{
	r->flags = (uint32_t)(flags & ROLLOUT_FLAGS_ALL &
	    ~(uint64_t)ROLLOUT_JUDGING);
}

/* ---- names ------------------------------------------------------------- */

const char *
rollout_state_name(enum rollout_state s)
{
	static const char *const names[] = {
		[RO_PLANNED] = "planned",
		[RO_PULLING] = "pulling",
		[RO_RUNNING] = "running",
		[RO_PAUSED] = "paused",
		[RO_ROLLING_BACK] = "rolling_back",
		[RO_SUCCEEDED] = "succeeded",
		[RO_FAILED] = "failed",
		[RO_ROLLED_BACK] = "rolled_back",
		[RO_ABORTED] = "aborted",
		[RO_CANARY] = "canary",
	};

	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[s];
}

const char *
rollout_host_state_name(enum rollout_host_state s)
{
	static const char *const names[] = {
		[RH_WAITING] = "waiting",
		[RH_PULLING] = "pulling",
		[RH_PULLED] = "pulled",
		[RH_SWAPPING] = "swapping",
		[RH_DONE] = "done",
		[RH_FAILED] = "failed",
		[RH_REVERTING] = "reverting",
		[RH_REVERTED] = "reverted",
		[RH_REVERT_FAILED] = "revert_failed",
		[RH_SKIPPED] = "skipped",
		[RH_WEIGHING] = "weighing",
		[RH_BESIDE] = "beside",
	};

	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[s];
}

int
rollout_finished(const struct rollout *r)
{
	return r->state == RO_SUCCEEDED || r->state == RO_FAILED ||
	    r->state == RO_ROLLED_BACK || r->state == RO_ABORTED;
}
