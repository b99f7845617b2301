/* SPDX-License-Identifier: Apache-2.0 */
/* plan.c: a spec's hosts, its batches and what it changes, over a
 * snapshot of the fleet (plan.h).  No I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ferr.h"
#include "bindpath.h"
#include "plan.h"

static int
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rc;
}

int
plan_has_labels(const struct spec *s, const struct label *labels,
    size_t nlabels)
{
	size_t i, j;

	for (i = 0; i < s->nhost_labels; i++) {
		for (j = 0; j < nlabels; j++)
			if (strcmp(labels[j].key, s->host_labels[i].name) ==
			    0 && strcmp(labels[j].value,
			    s->host_labels[i].value) == 0)
				break;
		if (j == nlabels)
			return 0;
	}
	return 1;
}

static const struct plan_host *
find(const struct plan_host *fleet, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(fleet[i].name, name) == 0)
			return &fleet[i];
	return NULL;
}

static int
cmp_host(const void *a, const void *b)
{
	return strcmp((*(const struct plan_host *const *)a)->name,
	    (*(const struct plan_host *const *)b)->name);
}

/* check_port: no other service of host h holds the spec's host port. */
static int
check_port(const struct spec *s, const struct plan_host *h, char *why,
    size_t whylen)
{
	size_t i, k;
	uint32_t port;

	if (!s->port.set)
		return 0;
	for (k = 0; k < (s->nports > 0 ? s->nports : 1); k++) {
		port = s->nports > 0 ? s->ports[k].host : s->port.host;
		for (i = 0; i < h->nclaims; i++)
			if (h->claims[i].port == port &&
			    strcmp(h->claims[i].service, s->service) != 0)
				return fail(why, whylen, FERR_EXISTS, "host "
				    "port %u on %s is claimed by service %s: "
				    "two services cannot publish one port on "
				    "one host", port, h->name,
				    h->claims[i].service);
	}
	return 0;
}

/*
 * check_binds: each host folder the spec binds (volumes: with a source
 * starting with '/') is under the allowed bind paths of every selected
 * host that has said them (its heartbeat since ferryd started): the agent
 * would refuse it, after the deployment had begun.  The first refusal is
 * named with the host, the path and what that host allows.
 */
static int
check_binds(const struct spec *s, const struct plan_host *const *sel,
    size_t k, char *why, size_t whylen)
{
	size_t i, v;

	for (i = 0; i < k; i++) {
		const char *allowed = sel[i]->allowed_binds;

		if (!sel[i]->heard)
			continue;
		for (v = 0; v < s->nvolumes; v++) {
			if (!s->volumes[v].bind || bindpath_allowed(
			    s->volumes[v].source, allowed))
				continue;
			return fail(why, whylen, FERR_PERM, "volumes: host %s "
			    "does not allow binding %s: its agent's "
			    "--allowed-bind-paths %s%s%s", sel[i]->name,
			    s->volumes[v].source, allowed != NULL &&
			    allowed[0] != '\0' ? "are " : "allow nothing",
			    allowed != NULL && allowed[0] != '\0' ? allowed :
			    "", allowed != NULL && allowed[0] != '\0' ? "" :
			    " (empty)");
		}
	}
	return 0;
}

void
plan_offline_text(const struct plan *p, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < p->noffline; i++)
		if (strlen(buf) + strlen(p->offline[i]) + 3 < len)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    i ? ", " : "", p->offline[i]);
	for (i = 0; i < p->ndrained; i++)
		if (strlen(buf) + strlen(p->drained[i]) + 11 < len)
			snprintf(buf + strlen(buf), len - strlen(buf),
			    "%s%s:drained", buf[0] ? ", " : "",
			    p->drained[i]);
}

void
plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	free(p->names);
	free(p->prev);
	free(p->offline);
	free(p->drained);
	rollout_free(&p->r);
	memset(p, 0, sizeof(*p));
}

/* check_proxies: two containers of one service cannot publish one host
 * port at once, so start-first with a host port needs ferry-proxy on
 * every selected host that is online (the proxy holds the port and moves
 * traffic from the old container to the new).  The hosts without one are
 * named, each with why. */
static int
check_proxies(const struct spec *s, const struct plan_host *const *sel,
    size_t k, char *why, size_t whylen)
{
	char list[400] = "";
	size_t i, off = 0, bad = 0;

	if (!s->port.set || (s->rollout.order != SPEC_ORDER_START_FIRST &&
	    s->strategy == SPEC_STRATEGY_ROLLING))
		return 0;
	for (i = 0; i < k; i++) {
		if (!sel[i]->online || sel[i]->proxy || sel[i]->drained)
			continue;
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s%s (%s)", bad ? ", " : "", sel[i]->name,
			    sel[i]->proxy_why != NULL && sel[i]->proxy_why[0] ?
			    sel[i]->proxy_why : "no proxy");
		bad++;
	}
	if (bad == 0)
		return 0;
	if (s->strategy != SPEC_STRATEGY_ROLLING)
		return fail(why, whylen, FERR_STATE, "strategy: %s splits "
		    "traffic with ferry-proxy, needed on every host: %s %s "
		    "none; start the proxy", s->strategy ==
		    SPEC_STRATEGY_CANARY ? "canary" : "blue-green", list,
		    bad == 1 ? "has" : "have");
	return fail(why, whylen, FERR_STATE, "rollout.order: start-first "
	    "with a host port (%u) needs ferry-proxy on every host: %s %s "
	    "none; use stop-first or start the proxy", s->port.host, list,
	    bad == 1 ? "has" : "have");
}

void
plan_canary_of(const struct spec *s, struct rollout_canary *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->strategy = s->strategy == SPEC_STRATEGY_CANARY ? RS_CANARY :
	    s->strategy == SPEC_STRATEGY_BLUE_GREEN ? RS_BLUE_GREEN :
	    RS_ROLLING;
	if (c->strategy == RS_BLUE_GREEN) {
		/* Prepared everywhere at 0%, then switched, the old kept
		 * warm for keep_old. */
		c->nsteps = 2;
		c->steps[0].weight = 0;
		c->steps[1].weight = 100;
		c->steps[1].for_ms = s->keep_old_ms;
	} else if (c->strategy == RS_CANARY) {
		c->nsteps = (uint32_t)s->canary.nsteps;
		for (i = 0; i < s->canary.nsteps && i < ROLLOUT_STEPS_MAX;
		    i++) {
			c->steps[i].weight = s->canary.steps[i].weight;
			c->steps[i].for_ms = s->canary.steps[i].for_ms;
			c->steps[i].wait = s->canary.steps[i].wait;
		}
	}
	c->analysis = s->analysis.set;
	c->interval_ms = s->analysis.interval_ms;
	c->failure_limit = s->analysis.failure_limit;
	c->inconclusive_fail = s->analysis.inconclusive ==
	    SPEC_INCONCLUSIVE_FAIL;
	c->progress_deadline_ms = s->rollout.progress_deadline_ms;
}

static const char *
strategy_name(enum spec_strategy s)
{
	return s == SPEC_STRATEGY_CANARY ? "canary" : s ==
	    SPEC_STRATEGY_BLUE_GREEN ? "blue-green" : "rolling";
}


void
plan_strategy_text(const struct spec *s, const struct rollout *r,
    char *buf, size_t len)
{
	const struct spec_analysis *a = &s->analysis;
	size_t i, off, canary = 0;
	char t[32];

#define ADD(...) do { off = strlen(buf); if (off + 1 < len) \
	snprintf(buf + off, len - off, __VA_ARGS__); } while (0)
	buf[0] = '\0';
	for (i = 0; i < r->nhosts; i++)
		canary += r->hosts[i].batch == 0;
	if (s->strategy == SPEC_STRATEGY_ROLLING) {
		ADD("rolling, in %u batch(es)", r->nbatches);
		return;
	}
	if (s->strategy == SPEC_STRATEGY_BLUE_GREEN) {
		ADD("blue-green on %zu hosts: the new revision started beside "
		    "the old on every host, then all switched together; the "
		    "old kept warm for %s", r->nhosts, format_duration_ms(t,
		    sizeof(t), s->keep_old_ms));
	} else {
		ADD("canary on %zu of %zu hosts:", canary, r->nhosts);
		for (i = 0; i < s->canary.nsteps; i++) {
			ADD("%s %u%%", i ? "," : "", s->canary.steps[i].weight);
			if (s->canary.steps[i].wait)
				ADD(" until ferry promote");
			else
				ADD(" for %s", format_duration_ms(t,
				    sizeof(t), s->canary.steps[i].for_ms));
		}
		if (r->nbatches > 1)
			ADD("; then the other hosts in %u batch(es)",
			    r->nbatches - 1);
	}
	if (!a->set) {
		ADD("; no analysis");
		return;
	}
	ADD("; judged every %s on at least %llu requests:",
	    format_duration_ms(t, sizeof(t), a->interval_ms),
	    (unsigned long long)a->min_requests);
	if (a->error_rate_max >= 0)
		ADD(" error rate <= %g%%", a->error_rate_max * 100);
	if (a->p95_max_ms > 0)
		ADD(" p95 <= %s", format_duration_ms(t, sizeof(t),
		    a->p95_max_ms));
	if (a->relative_error_rate > 0)
		ADD(" error rate <= %gx stable", a->relative_error_rate);
	if (a->relative_p95 > 0)
		ADD(" p95 <= %gx stable", a->relative_p95);
	for (i = 0; i < a->nprom; i++)
		ADD(" prometheus %s <= %g", a->prom[i].name, a->prom[i].max);
	ADD("; %u failed interval(s) put it back; inconclusive: %s; no "
	    "progress for %s ends it", a->failure_limit, a->inconclusive ==
	    SPEC_INCONCLUSIVE_FAIL ? "fail" : "pause",
	    format_duration_ms(t, sizeof(t), s->rollout.progress_deadline_ms));
#undef ADD
}

/* canary_hosts: how many of n hosts run the canary (batch 0). */
static uint32_t
canary_hosts(const struct spec *s, size_t n)
{
	uint64_t k;

	if (s->strategy == SPEC_STRATEGY_BLUE_GREEN ||
	    (s->strategy == SPEC_STRATEGY_CANARY && s->canary.hosts_all))
		return (uint32_t)n;
	if (s->strategy != SPEC_STRATEGY_CANARY)
		return s->rollout.canary;
	k = s->canary.hosts_percent ? (uint64_t)n * s->canary.hosts / 100 :
	    s->canary.hosts;
	if (k == 0)
		k = 1;
	return (uint32_t)(k > n ? n : k);
}

int
plan_make(const struct spec *s, const struct plan_host *fleet, size_t n,
    enum plan_offline offline, struct plan *p, char *why, size_t whylen)
{
	const struct plan_host **sel = NULL, *h;
	size_t i, k = 0, on = 0, off = 0, dr = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((sel = calloc(n + s->nhost_names + 1, sizeof(*sel))) == NULL)
		return FERR_NOMEM;
	if (s->hosts == SPEC_HOSTS_NAMES) {
		for (i = 0; i < s->nhost_names; i++) {
			if ((h = find(fleet, n, s->host_names[i])) == NULL) {
				rc = fail(why, whylen, FERR_NOTFOUND, "unknown "
				    "host \"%s\"", s->host_names[i]);
				goto out;
			}
			if (!h->accepted) {
				rc = fail(why, whylen, FERR_STATE, "host %s is "
				    "%s", h->name, h->state);
				goto out;
			}
			sel[k++] = h;
		}
	} else {
		for (i = 0; i < n; i++)
			if (fleet[i].accepted && plan_has_labels(s,
			    fleet[i].labels, fleet[i].nlabels))
				sel[k++] = &fleet[i];
	}
	if (k == 0) {
		rc = fail(why, whylen, FERR_NOTFOUND, "no accepted host matches "
		    "the spec's hosts");
		goto out;
	}
	qsort(sel, k, sizeof(*sel), cmp_host);
	if ((rc = check_proxies(s, sel, k, why, whylen)) != 0 ||
	    (rc = check_binds(s, sel, k, why, whylen)) != 0)
		goto out;
	for (i = 0; i < k; i++) {
		if ((rc = check_port(s, sel[i], why, whylen)) != 0)
			goto out;
		if (sel[i]->drained)
			dr++;
		else if (sel[i]->online)
			on++;
		else
			off++;
	}
	p->names = calloc(on + 1, sizeof(*p->names));
	p->prev = calloc(on + 1, sizeof(*p->prev));
	p->offline = calloc(off + 1, sizeof(*p->offline));
	p->drained = calloc(dr + 1, sizeof(*p->drained));
	if (p->names == NULL || p->prev == NULL || p->offline == NULL ||
	    p->drained == NULL) {
		rc = FERR_NOMEM;
		goto out;
	}
	for (i = 0; i < k; i++) {
		if (sel[i]->drained) {
			/* Under maintenance: never part of a rollout, and
			 * never the reason one is refused. */
			p->drained[p->ndrained++] = sel[i]->name;
		} else if (sel[i]->online) {
			p->prev[p->n] = sel[i]->runs_service;
			p->names[p->n++] = sel[i]->name;
		} else {
			p->offline[p->noffline++] = sel[i]->name;
		}
	}
	if (off > 0 && offline == PLAN_OFFLINE_REFUSE) {
		char list[256];

		plan_offline_text(p, list, sizeof(list));
		rc = fail(why, whylen, FERR_STATE, "%zu of the %zu matched "
		    "hosts %s offline (%s): bring %s back, or deploy to the "
		    "others with --skip-offline (or rollout.skip_offline: "
		    "true)", off, k, off == 1 ? "is" : "are", list, off == 1 ?
		    "it" : "them");
		goto out;
	}
	if (on == 0) {
		rc = fail(why, whylen, FERR_NOTFOUND, "no online host among the "
		    "%zu matched: %s", k, dr == k ? "every one is drained "
		    "(ferry hosts undrain HOST)" : dr > 0 ? "every one is "
		    "offline or drained" : "every one is offline");
		goto out;
	}
	rc = rollout_plan(&p->r, p->names, p->prev, p->n,
	    s->rollout.batch_percent ? (uint32_t)s->rollout.batch_percent :
	    s->rollout.batch, s->rollout.batch_percent != 0,
	    canary_hosts(s, p->n), s->rollout.max_failures,
	    (enum rollout_on_failure)s->rollout.on_failure,
	    s->rollout.pause_ms, why, whylen);
	if (rc == 0 && s->strategy != SPEC_STRATEGY_ROLLING) {
		struct rollout_canary c;

		plan_canary_of(s, &c);
		rc = rollout_set_canary(&p->r, &c, why, whylen);
	}
out:
	free(sel);
	if (rc != 0)
		plan_free(p);
	return rc;
}

/* ---- what changes ---------------------------------------------------------- */

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

/* words_text writes v[0..n) as [a, b, c] ("(image's)" when n is 0). */
static const char *
words_text(char *const *v, size_t n, char *buf, size_t len)
{
	size_t i, o;

	if (n == 0) {
		snprintf(buf, len, "(the image's)");
		return buf;
	}
	o = (size_t)snprintf(buf, len, "[");
	for (i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
		    v[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
	return buf;
}

static const char *
ports_text(const struct spec *s, char *buf, size_t len)
{
	size_t i, o = 0;

	if (!s->port.set) {
		snprintf(buf, len, "(none)");
		return buf;
	}
	if (s->nports == 0) {
		snprintf(buf, len, "%u:%u", s->port.host, s->port.container);
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < s->nports && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u:%u%s", i ? ", " :
		    "", s->ports[i].host, s->ports[i].container,
		    s->ports[i].mode == SPEC_PORT_MODE_HTTP ? "/http" :
		    s->ports[i].mode == SPEC_PORT_MODE_TCP ? "/tcp" : "");
	return buf;
}

static const char *
volumes_text(const struct spec *s, char *buf, size_t len)
{
	size_t i, o = 0;

	if (s->nvolumes == 0) {
		snprintf(buf, len, "(none)");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < s->nvolumes && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s:%s%s", i ? ", " :
		    "", s->volumes[i].source, s->volumes[i].target,
		    s->volumes[i].read_only ? ":ro" : "");
	return buf;
}

static const char *
pairs_text(const struct spec_pair *p, size_t np, char *buf, size_t len)
{
	size_t i, o = 0;

	if (np == 0) {
		snprintf(buf, len, "(none)");
		return buf;
	}
	buf[0] = '\0';
	for (i = 0; i < np && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", i ? ", " :
		    "", p[i].name, p[i].value);
	return buf;
}

static const char *
log_text(const struct spec *s, char *buf, size_t len)
{
	char opts[300];

	if (s->log_driver == NULL) {
		snprintf(buf, len, "(the daemon's)");
		return buf;
	}
	snprintf(buf, len, "%s %s", s->log_driver, pairs_text(s->log_opts,
	    s->nlog_opts, opts, sizeof(opts)));
	return buf;
}

static const char *
healthcheck_text(const struct spec *s, char *buf, size_t len)
{
	const struct spec_healthcheck *h = &s->healthcheck;
	char t[300];

	if (!h->set) {
		snprintf(buf, len, "(the image's)");
		return buf;
	}
	snprintf(buf, len, "%s interval %ums timeout %ums start_period %ums "
	    "retries %u", words_text(h->test, h->ntest, t, sizeof(t)),
	    h->interval_ms, h->timeout_ms, h->start_period_ms, h->retries);
	return buf;
}

static const char *
opt_text(const char *v, const char *none)
{
	return v != NULL ? v : none;
}

/* container_diff: the container's own settings (issue 16), each as a
 * whole: old -> new. */
static void
container_diff(const struct spec *a, const struct spec *b, char ***out,
    size_t *n)
{
	char x[400], y[400];

#define TEXT_CHANGED(what, fa, fb) \
	if (strcmp((fa), (fb)) != 0) \
		add_change(out, n, what ": %s -> %s", (fa), (fb))
	TEXT_CHANGED("ports", ports_text(a, x, sizeof(x)), ports_text(b, y,
	    sizeof(y)));
	TEXT_CHANGED("command", words_text(a->command, a->ncommand, x,
	    sizeof(x)), words_text(b->command, b->ncommand, y, sizeof(y)));
	TEXT_CHANGED("entrypoint", words_text(a->entrypoint, a->nentrypoint,
	    x, sizeof(x)), words_text(b->entrypoint, b->nentrypoint, y,
	    sizeof(y)));
	TEXT_CHANGED("workdir", opt_text(a->workdir, "(the image's)"),
	    opt_text(b->workdir, "(the image's)"));
	TEXT_CHANGED("user", opt_text(a->user, "(the image's)"),
	    opt_text(b->user, "(the image's)"));
	TEXT_CHANGED("volumes", volumes_text(a, x, sizeof(x)),
	    volumes_text(b, y, sizeof(y)));
	TEXT_CHANGED("labels", pairs_text(a->labels, a->nlabels, x,
	    sizeof(x)), pairs_text(b->labels, b->nlabels, y, sizeof(y)));
	TEXT_CHANGED("log", log_text(a, x, sizeof(x)), log_text(b, y,
	    sizeof(y)));
	TEXT_CHANGED("health.docker", healthcheck_text(a, x, sizeof(x)),
	    healthcheck_text(b, y, sizeof(y)));
	spec_restart_text(a, x, sizeof(x));
	spec_restart_text(b, y, sizeof(y));
	TEXT_CHANGED("restart", x, y);
	TEXT_CHANGED("stop_signal", a->stop_signal[0] ? a->stop_signal :
	    "(the image's)", b->stop_signal[0] ? b->stop_signal :
	    "(the image's)");
#undef TEXT_CHANGED
	if (a->memory != b->memory)
		add_change(out, n, "resources.memory (bytes): %llu -> %llu",
		    (unsigned long long)a->memory,
		    (unsigned long long)b->memory);
	if (a->nano_cpus != b->nano_cpus)
		add_change(out, n, "resources.cpus: %.2f -> %.2f",
		    (double)a->nano_cpus / 1e9, (double)b->nano_cpus / 1e9);
	if (a->stop_timeout_s != b->stop_timeout_s)
		add_change(out, n, "stop_timeout (s): %u -> %u",
		    a->stop_timeout_s ? a->stop_timeout_s : 10,
		    b->stop_timeout_s ? b->stop_timeout_s : 10);
}

void
plan_diff(const struct spec *a, const struct spec *b, char ***out, size_t *n)
{
	char x[400], y[400];
	size_t i, j;

	if (a == NULL) {
		add_change(out, n, "new service %s: image %s", b->service,
		    b->image);
		for (i = 0; i < b->nsecrets; i++)
			add_change(out, n, "secret %s: version %llu",
			    b->secrets[i].name,
			    (unsigned long long)b->secrets[i].version);
		return;
	}

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
	/* Secrets by name and version: a value never. */
	for (i = 0; i < b->nsecrets; i++) {
		for (j = 0; j < a->nsecrets; j++)
			if (strcmp(a->secrets[j].name, b->secrets[i].name) == 0)
				break;
		if (j == a->nsecrets)
			add_change(out, n, "secret %s: added (version %llu)",
			    b->secrets[i].name,
			    (unsigned long long)b->secrets[i].version);
		else if (a->secrets[j].version != b->secrets[i].version)
			add_change(out, n, "secret %s: version %llu -> %llu",
			    b->secrets[i].name,
			    (unsigned long long)a->secrets[j].version,
			    (unsigned long long)b->secrets[i].version);
	}
	for (j = 0; j < a->nsecrets; j++) {
		for (i = 0; i < b->nsecrets; i++)
			if (strcmp(a->secrets[j].name, b->secrets[i].name) == 0)
				break;
		if (i == b->nsecrets)
			add_change(out, n, "secret %s: removed",
			    a->secrets[j].name);
	}
	if (a->port.set != b->port.set || a->port.host != b->port.host ||
	    a->port.container != b->port.container)
		add_change(out, n, "port: %s%u:%u -> %s%u:%u", a->port.set ?
		    "" : "(none) ", a->port.host, a->port.container,
		    b->port.set ? "" : "(none) ", b->port.host,
		    b->port.container);
	container_diff(a, b, out, n);
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
	if (a->strategy != b->strategy)
		add_change(out, n, "strategy: %s -> %s",
		    strategy_name(a->strategy), strategy_name(b->strategy));
	CHANGED(rollout.order, "rollout.order (0 stop-first, 1 start-first)");
	CHANGED(rollout.pause_ms, "rollout.pause (ms)");
	CHANGED(rollout.max_failures, "rollout.max_failures");
	CHANGED(rollout.on_failure,
	    "rollout.on_failure (0 rollback, 1 pause, 2 continue)");
	CHANGED(proxy.mode, "proxy.mode (0 http, 1 tcp)");
	CHANGED(proxy.drain_timeout_ms, "proxy.drain_timeout (ms)");
	CHANGED(proxy.max_pause_ms, "proxy.max_pause (ms)");
	CHANGED(proxy.upstream_timeout_ms, "proxy.upstream_timeout (ms)");
	CHANGED(proxy.max_body, "proxy.max_body (bytes)");
	CHANGED(proxy.sticky, "proxy.sticky");
#undef CHANGED
}

