/* SPDX-License-Identifier: Apache-2.0 */
/* drift.c: a host's containers against what it should run, and the
 * catch-up decision (drift.h).  No I/O, no clock. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drift.h"

const char *
drift_cause_name(enum drift_cause c)
{
	switch (c) {
	case DRIFT_MISSED:
		return "missed";
	case DRIFT_REVISION:
		return "revision";
	case DRIFT_REMOVED:
		return "removed";
	case DRIFT_STOPPED:
		return "stopped";
	case DRIFT_UNHEALTHY:
		return "unhealthy";
	case DRIFT_EXTRA:
		return "extra";
	case DRIFT_NONE:
		break;
	}
	return "";
}

static int
running(const struct drift_container *c)
{
	return strcmp(c->state, "running") == 0;
}

/* clock_of writes a wall-clock time as people read it here: 10:42:03. */
static void
clock_of(uint64_t at_ms, char *buf, size_t len)
{
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
}

/* stopped_text: why the container of the current revision does not run. */
static void
stopped_text(const struct drift_container *c, char *buf, size_t len)
{
	if (strcmp(c->state, "exited") == 0 && c->exited)
		snprintf(buf, len, "exited (code %d)", c->exit_code);
	else if (strcmp(c->state, "exited") == 0)
		snprintf(buf, len, "container stopped");
	else
		snprintf(buf, len, "container %s", c->state[0] ? c->state :
		    "not running");
}

static struct drift_finding *
add(struct drift_finding *out, size_t *n, size_t max, const char *service,
    enum drift_cause cause, const struct drift_want *w, uint64_t runs)
{
	struct drift_finding *f;

	if (*n >= max)
		return NULL;
	f = &out[(*n)++];
	memset(f, 0, sizeof(*f));
	f->service = service;
	f->cause = cause;
	f->runs = runs;
	if (w != NULL) {
		f->revision = w->revision;
		f->deployment = w->deployment;
	}
	return f;
}

/* judge_one: one service that ferryd knows, on this host. */
static void
judge_one(const struct drift_want *w, const struct drift_container *cs,
    size_t nc, struct drift_finding *out, size_t *n, size_t max)
{
	const struct drift_container *cur_stopped = NULL, *unhealthy = NULL;
	uint64_t other = 0;
	size_t i, cur = 0, others = 0;
	struct drift_finding *f;

	for (i = 0; i < nc; i++) {
		const struct drift_container *c = &cs[i];

		if (strcmp(c->service, w->service) != 0)
			continue;
		if (!running(c)) {
			if (c->revision == w->revision && cur_stopped == NULL)
				cur_stopped = c;
			continue;
		}
		if (c->revision == w->revision) {
			cur++;
			if (strncmp(c->health, "unhealthy", 9) == 0 &&
			    unhealthy == NULL)
				unhealthy = c;
		} else {
			others++;
			if (c->revision > other)
				other = c->revision;
		}
	}
	if (!w->here) {
		if (cur + others == 0 ||
		    (f = add(out, n, max, w->service, DRIFT_EXTRA, w,
		    cur ? w->revision : other)) == NULL)
			return;
		snprintf(f->text, sizeof(f->text), "extra container: "
		    "revision %llu runs here, where %s should not run",
		    (unsigned long long)f->runs, w->service);
		return;
	}
	if (cur == 0) {
		if (w->missed || w->missed_drained) {
			const char *why = w->missed ? "offline" : "drained";

			if ((f = add(out, n, max, w->service, DRIFT_MISSED, w,
			    other)) == NULL)
				return;
			f->drained = !w->missed;
			if (other != 0)
				snprintf(f->text, sizeof(f->text), "%s "
				    "during deployment %llu; runs revision "
				    "%llu, current is %llu", why,
				    (unsigned long long)w->deployment,
				    (unsigned long long)other,
				    (unsigned long long)w->revision);
			else
				snprintf(f->text, sizeof(f->text), "%s "
				    "during deployment %llu; runs nothing, "
				    "current is %llu", why,
				    (unsigned long long)w->deployment,
				    (unsigned long long)w->revision);
		} else if (cur_stopped != NULL) {
			if ((f = add(out, n, max, w->service, DRIFT_STOPPED, w,
			    0)) != NULL)
				stopped_text(cur_stopped, f->text,
				    sizeof(f->text));
		} else if (others > 0) {
			if ((f = add(out, n, max, w->service, DRIFT_REVISION,
			    w, other)) != NULL)
				snprintf(f->text, sizeof(f->text), "runs "
				    "revision %llu, current is %llu",
				    (unsigned long long)other,
				    (unsigned long long)w->revision);
		} else if ((f = add(out, n, max, w->service, DRIFT_REMOVED, w,
		    0)) != NULL) {
			snprintf(f->text, sizeof(f->text), "removed: nothing "
			    "runs, current is %llu",
			    (unsigned long long)w->revision);
		}
		return;
	}
	if (unhealthy != NULL) {
		char t[16];

		if ((f = add(out, n, max, w->service, DRIFT_UNHEALTHY, w,
		    w->revision)) == NULL)
			return;
		if (unhealthy->unhealthy_since_ms != 0) {
			clock_of(unhealthy->unhealthy_since_ms, t, sizeof(t));
			snprintf(f->text, sizeof(f->text), "unhealthy since "
			    "%s", t);
		} else {
			snprintf(f->text, sizeof(f->text), "unhealthy");
		}
		/* An agent's live verdict says what its check saw: "unhealthy:
		 * HTTP 500 on /health". */
		if (strncmp(unhealthy->health, "unhealthy: ", 11) == 0 &&
		    unhealthy->health[11] != '\0')
			snprintf(f->text + strlen(f->text), sizeof(f->text) -
			    strlen(f->text), ": %s", unhealthy->health + 11);
		return;
	}
	if (others > 0) {
		if ((f = add(out, n, max, w->service, DRIFT_EXTRA, w,
		    other)) != NULL)
			snprintf(f->text, sizeof(f->text), "extra container: "
			    "revision %llu beside the current %llu",
			    (unsigned long long)other,
			    (unsigned long long)w->revision);
	} else if (cur > 1) {
		if ((f = add(out, n, max, w->service, DRIFT_EXTRA, w,
		    w->revision)) != NULL)
			snprintf(f->text, sizeof(f->text), "extra container: "
			    "%zu containers of revision %llu", cur,
			    (unsigned long long)w->revision);
	}
}

size_t
drift_judge(const struct drift_want *wants, size_t nw,
    const struct drift_container *cs, size_t nc,
    struct drift_finding *out, size_t max)
{
	size_t i, k, n = 0;
	struct drift_finding *f;

	for (i = 0; i < nw; i++)
		if (!wants[i].in_flight)
			judge_one(&wants[i], cs, nc, out, &n, max);
	/* Running containers of a service ferryd does not know at all: one
	 * finding per such service. */
	for (i = 0; i < nc; i++) {
		const struct drift_container *c = &cs[i];

		if (!running(c))
			continue;
		for (k = 0; k < nw; k++)
			if (strcmp(wants[k].service, c->service) == 0)
				break;
		if (k < nw)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(out[k].service, c->service) == 0)
				break;
		if (k < n || (f = add(out, &n, max, c->service, DRIFT_EXTRA,
		    NULL, c->revision)) == NULL)
			continue;
		snprintf(f->text, sizeof(f->text), "extra container: %s "
		    "revision %llu, a service ferryd has no current revision "
		    "of", c->service, (unsigned long long)c->revision);
	}
	return n;
}

enum drift_verdict
drift_catch_up(const struct drift_finding *f, const char *host, int auto_on,
    int drained, const struct drift_memo *memo, uint64_t drifted_ms,
    uint64_t now_ms, char *why, size_t whylen)
{
	why[0] = '\0';
	if (f->cause != DRIFT_MISSED && f->cause != DRIFT_REMOVED)
		return DRIFT_CU_NO;
	if (!auto_on) {
		snprintf(why, whylen, "catch_up: off in the spec: ferry deploy "
		    "puts it right");
		return DRIFT_CU_OFF;
	}
	if (drained) {
		snprintf(why, whylen, "%s is drained: caught up once undrained",
		    host);
		return DRIFT_CU_DRAINED;
	}
	if (memo != NULL && !memo->done) {
		snprintf(why, whylen, "catch-up deployment %llu runs",
		    (unsigned long long)memo->id);
		return DRIFT_CU_WAIT;
	}
	if (memo != NULL && memo->failed && memo->cause == f->cause &&
	    memo->revision == f->revision &&
	    memo->deployment == f->deployment) {
		snprintf(why, whylen, "catch-up deployment %llu failed: not "
		    "tried again; a new deployment or `ferry deploy` puts it "
		    "right", (unsigned long long)memo->id);
		return DRIFT_CU_FAILED;
	}
	if (memo != NULL && now_ms - memo->at_ms < DRIFT_CATCH_UP_SPACING_MS) {
		snprintf(why, whylen, "caught up %llu s ago: waits before the "
		    "next catch-up",
		    (unsigned long long)((now_ms - memo->at_ms) / 1000));
		return DRIFT_CU_WAIT;
	}
	if (drifted_ms < DRIFT_SETTLE_MS) {
		snprintf(why, whylen, "caught up once it has lasted %llu s",
		    (unsigned long long)(DRIFT_SETTLE_MS / 1000));
		return DRIFT_CU_WAIT;
	}
	if (f->cause == DRIFT_MISSED)
		snprintf(why, whylen, "%s was %s during deployment %llu; "
		    "%s", host, f->drained ? "drained" : "offline",
		    (unsigned long long)f->deployment,
		    f->runs ? "" : "runs nothing, ");
	else
		snprintf(why, whylen, "%s: the container of %s was removed; ",
		    host, f->service);
	if (f->runs != 0)
		snprintf(why + strlen(why), whylen - strlen(why), "runs "
		    "revision %llu, current %llu", (unsigned long long)f->runs,
		    (unsigned long long)f->revision);
	else
		snprintf(why + strlen(why), whylen - strlen(why), "current %llu",
		    (unsigned long long)f->revision);
	return DRIFT_CU_GO;
}
