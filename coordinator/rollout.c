/* rollout.c: the rollout engine's pure core: batches, and the state machine
 * of one deployment (specified in rollout.h), checked after every move. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- questions about hosts and batches ---------------------------------- */

static int
in_flight(enum rollout_host_state s)
{
	return s == RH_SWAPPING || s == RH_REVERTING;
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

/* A forward batch has started once any of its hosts left RH_PULLED. */
static int
batch_started(const struct rollout *r, uint32_t b)
{
	return count_in_batch(r, b, RH_PULLED) < batch_len(r, b);
}

/* A host to revert: it runs the new revision.  One that ran nothing
 * before (had_previous 0) is put back to nothing: the shell removes the
 * service there. */
static int
revertible(const struct rollout_host *h)
{
	return h->state == RH_DONE;
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
			r->state = RO_RUNNING;
			r->cause[0] = '\0';
			changed = 1;
			continue;
		case RO_RUNNING:
			if (!batch_started(r, b)) {
				if (r->flags & ROLLOUT_PAUSING) {
					pause_now(r, "before");
					return 1;
				}
				if (r->next_batch_at_ms > now)
					return changed;
				r->next_batch_at_ms = 0;
				for (i = 0; i < r->nhosts; i++) {
					if (r->hosts[i].batch != b)
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
		if (h->state != RH_SWAPPING)
			return 0;
		host_set(h, RH_DONE, now, NULL);
		return 1;
	case RI_SWAP_FAILED:
		if (h->state != RH_SWAPPING)
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
		if ((r->state != RO_PULLING && r->state != RO_RUNNING) ||
		    (r->flags & ROLLOUT_PAUSING))
			return 0;
		r->flags |= ROLLOUT_PAUSING;
		set_cause(r, "pause requested: waiting for the hosts in "
		    "flight");
		return 1;
	case RI_RESUME:
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
		if (rollout_finished(r))
			return 0;
		abort_now(r, now);
		return 1;
	}
	return 0;
}

size_t
rollout_step(struct rollout *r, const struct rollout_event *ev,
    uint64_t now_ms, struct rollout_decision *out, size_t max,
    uint64_t *wake_ms)
{
	struct outbuf o = { out, 1, max };
	int changed;

	assert(max > r->nhosts);
	changed = apply(r, ev, now_ms, &o);
	changed |= advance(r, now_ms, &o);
	if (wake_ms != NULL)
		*wake_ms = r->state == RO_RUNNING ? r->next_batch_at_ms : 0;
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
		    h == RH_FAILED;
	case RO_PAUSED:
		return h == RH_PULLED || h == RH_DONE || h == RH_FAILED;
	case RO_ROLLING_BACK:
		return h == RH_DONE || h == RH_FAILED || h == RH_REVERTING ||
		    h == RH_REVERTED || h == RH_REVERT_FAILED ||
		    h == RH_SKIPPED;
	case RO_SUCCEEDED:
		return h == RH_DONE || h == RH_FAILED;
	case RO_FAILED:
		return h == RH_DONE || h == RH_FAILED || h == RH_REVERTED ||
		    h == RH_REVERT_FAILED || h == RH_SKIPPED;
	case RO_ROLLED_BACK:
		return h == RH_FAILED || h == RH_REVERTED ||
		    h == RH_SKIPPED;
	case RO_ABORTED:
		return !unreached(h);
	}
	return 0;
}

int
rollout_check(const struct rollout *r)
{
	size_t i, nfailed = 0, nflight = 0, len = 0, finished = 0, pulled = 0;
	uint32_t b = 0;

	if ((unsigned)r->state > RO_ABORTED ||
	    (unsigned)r->on_failure > RO_ON_FAILURE_CONTINUE ||
	    (r->flags & ~(uint32_t)ROLLOUT_PAUSING) != 0 ||
	    memchr(r->cause, '\0', sizeof(r->cause)) == NULL)
		return 0;
	if (r->nhosts == 0)	/* zeroed, or freed */
		return r->state == RO_PLANNED && r->nbatches == 0;
	if (r->hosts == NULL || r->nbatches == 0 || r->batch >= r->nbatches ||
	    r->batch_size == 0)
		return 0;
	/* ROLLOUT_PAUSING only while something can still be in flight. */
	if ((r->flags & ROLLOUT_PAUSING) && r->state != RO_PULLING &&
	    r->state != RO_RUNNING)
		return 0;
	/* A pause between batches is only waited out in running, before
	 * its batch starts. */
	if (r->next_batch_at_ms != 0 && (r->state != RO_RUNNING ||
	    batch_started(r, r->batch)))
		return 0;

	for (i = 0; i < r->nhosts; i++) {
		const struct rollout_host *h = &r->hosts[i];

		if ((unsigned)h->state > RH_SKIPPED || (h->unanswered &&
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
				pulled += h->state == RH_PULLED;
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
	r->flags = (uint32_t)(flags & ROLLOUT_PAUSING);
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
