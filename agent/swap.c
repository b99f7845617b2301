/* SPDX-License-Identifier: Apache-2.0 */
/* swap.c: the agent's long commands (Pull, Swap, Rollback, Remove,
 * Inventory), run on libuv worker threads because every Docker call
 * blocks; and the reconciliation that finishes or reverts a swap an
 * earlier run of the agent left half done.
 *
 * A swap's progress is swapsm.c's state machine: the worker here makes the
 * Docker calls, writes each state into the journal before the next move
 * (a write that fails stops the swap, which reverts and says why), and
 * settles a journal row on restart by a switch on the state it names.
 *
 * One job per service at a time: a second command for a busy service waits
 * in line behind the first.  A job owns its own Docker handle and its own
 * connection to the records, so it shares nothing mutable with the loop;
 * what it has to say while it runs (progress, health checks) reaches the
 * loop through the mailbox. */
#include <assert.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent.h"
#include "allowlist.h"
#include "container.h"
#include "clock.h"
#include "ferr.h"
#include "health.h"
#include "livehealth.h"
#include "log.h"
#include "probe.h"
#include "proxyctl.h"
#include "secretfs.h"
#include "swapsm.h"

#define LOG_TAIL	20
#define OUT_MAX		512

struct job {
	struct agent *a;
	uv_work_t work;
	Ferry__Command *cmd;		/* owned */
	char idhex[33];
	char service[128];		/* "" when not tied to a service */
	int reconcile;			/* the start-up reconciliation */
	int running;			/* handed to a worker */
	struct job *next;
	/* settings copied on the loop thread */
	char host[64], publish[64], probe_ip[64], socket[512], db[600];
	char proxy_ctl[108];		/* "": no ferry-proxy */
	uint32_t keep;
	char allowed_binds[512];
	char secrets_dir[400];
	/* The X25519 form of the host's key, to open sealed secrets; wiped
	 * with the job. */
	uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
	/* the outcome, filled by the worker */
	uint8_t *report;
	size_t report_len;
	int ok;
	int aborted;			/* stopped by shutdown: no result */
	int recorded;			/* the worker recorded the result */
	uint64_t verdict_rev;		/* the revision that now runs ... */
	char verdict[200];		/* ... and what its health said */
	/* the reconciliation */
	uint64_t start_seq;		/* commands of earlier runs: up to it */
	int settled;			/* commands it gave a result */
	char why[400];			/* why it failed */
};

/* A progress line handed to the loop. */
struct progress {
	struct agent *a;
	uint8_t *report;
	size_t len;
	char line[600];
};

static atomic_int stopping;

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- progress, from the worker to the loop --------------------------- */

static void
progress_deliver(void *arg)
{
	struct progress *p = arg;

	log_info("%s", p->line);
	if (p->report != NULL)
		report_adhoc(p->a, p->report, p->len);	/* takes it */
	free(p);
}

/* progress tells the loop one step (logged) and sends it to ferryd as a
 * PROGRESS report, with a health check's details when hp is given. */
static void
progress(struct job *j, const Ferry__HealthProgress *hp, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
progress(struct job *j, const Ferry__HealthProgress *hp, const char *fmt, ...)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	struct progress *p;
	char msg[512];
	va_list ap;
	size_t n;

	if (j->reconcile)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->a = j->a;
	snprintf(p->line, sizeof(p->line), "command %.12s: %s", j->idhex,
	    msg);
	r.command_id = j->cmd->id;
	r.sequence = j->cmd->sequence;
	r.status = FERRY__REPORT__STATUS__PROGRESS;
	r.message = msg;
	r.sent_at_ms = clock_wall_ms();
	r.health = (Ferry__HealthProgress *)hp;
	n = ferry__report__get_packed_size(&r);
	if ((p->report = malloc(n + 1)) != NULL) {
		ferry__report__pack(&r, p->report);
		p->len = n;
	}
	if (mailbox_post(&j->a->mb, progress_deliver, p) != 0) {
		free(p->report);
		free(p);
	}
}

/* ---- helpers ------------------------------------------------------------ */

/* digest_ref: repo@sha256:<64 lowercase hex>. */
static int
digest_ref(const char *ref)
{
	const char *at = strrchr(ref, '@');
	size_t i;

	if (at == NULL || at == ref || strncmp(at, "@sha256:", 8) != 0 ||
	    strlen(at + 8) != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", at[8 + i]))
			return 0;
	return 1;
}

static uint64_t
rev_of(const struct docker_state *c)
{
	return strtoull(c->revision, NULL, 10);
}

/* service_containers lists the host's containers of service. */
static int
service_containers(struct job *j, struct docker *d, const char *service,
    struct docker_state **out, size_t *n, char *err, size_t errlen)
{
	struct docker_state *all;
	size_t i, k = 0, total;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = docker_list_host(d, j->host, &all, &total, err,
	    errlen)) != 0)
		return rc;
	for (i = 0; i < total; i++)
		if (strcmp(all[i].service, service) == 0 &&
		    strcmp(all[i].host, j->host) == 0)
			all[k++] = all[i];
	*out = all;
	*n = k;
	return 0;
}

/* running_of picks the service's running container (the newest revision
 * when, against every rule, several run). */
static const struct docker_state *
running_of(const struct docker_state *cs, size_t n)
{
	const struct docker_state *best = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (cs[i].running && (best == NULL ||
		    rev_of(&cs[i]) > rev_of(best)))
			best = &cs[i];
	return best;
}

/*
 * prune_image removes image when no container uses it (of any service or
 * host: Docker's own count); a failure is logged and changes nothing
 * else: pruning never fails a swap.  Returns docker_image_remove_unused's
 * answer (FERR_DOCKER when Docker cannot be reached).
 */
static int
prune_image(struct job *j, const char *image)
{
	struct docker *d = NULL;
	char err[400];
	int rc, gone = 0;

	/* A connection of its own: the swap's is busy with its answer. */
	if (docker_open(&d, j->socket) != 0)
		return FERR_DOCKER;
	rc = docker_image_remove_unused(d, image, &gone, err, sizeof(err));
	docker_close(d);
	if (rc == 0 && gone)
		log_info("%s: removed image %s (its revision left the kept "
		    "window)", j->idhex, image);
	else if (rc == 0)
		log_info("%s: removed ferry's name %s (its revision left the "
		    "kept window); the image stays: another name has it",
		    j->idhex, image);
	else if (rc == FERR_STATE)
		log_debug("%s: image %s stays: %s", j->idhex, image, err);
	else if (rc != FERR_NOTFOUND)
		log_warnx("%s: could not remove image %s: %s", j->idhex, image,
		    err);
	return rc;
}

/* The images the records hold for a service, as prune_recorded reads
 * them. */
struct recorded {
	struct {
		uint64_t revision;
		char image[256];
	} *v;
	size_t n, cap;
	int failed;
};

static void
on_recorded(void *arg, uint64_t revision, const char *image)
{
	struct recorded *l = arg;

	if (l->failed)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (nv == NULL) {
			l->failed = 1;
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n].revision = revision;
	snprintf(l->v[l->n].image, sizeof(l->v[0].image), "%s", image);
	l->n++;
}

/*
 * prune_recorded removes the images the records hold for service whose
 * revision is older than every container of it kept (cs[0..n), those not
 * gone), and that no kept container uses: images of revisions that left
 * the kept window, also those no container was ever made from here (a
 * swap that failed before it made one).  A record goes once its image is
 * gone; with no container kept, nothing is judged.
 */
static void
prune_recorded(struct job *j, const char *service,
    const struct docker_state *cs, const int *gone, size_t n)
{
	struct records *rec = NULL;
	struct recorded l = { NULL, 0, 0, 0 };
	uint64_t oldest = 0;
	size_t i, k;
	int used, rc;

	for (i = 0; i < n; i++)
		if (!gone[i] && rev_of(&cs[i]) != 0 && (oldest == 0 ||
		    rev_of(&cs[i]) < oldest))
			oldest = rev_of(&cs[i]);
	if (oldest == 0 || records_open(&rec, j->db) != 0)
		return;
	if (records_images_list(rec, service, on_recorded, &l) != 0 ||
	    l.failed) {
		log_warnx("%s: %s: cannot read the images recorded for it: "
		    "none pruned by the records", j->idhex, service);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		if (l.v[i].revision >= oldest)
			continue;
		for (k = 0, used = 0; k < n && !used; k++)
			used = !gone[k] && strcmp(cs[k].image,
			    l.v[i].image) == 0;
		if (used)
			continue;
		rc = prune_image(j, l.v[i].image);
		if (rc == 0 || rc == FERR_NOTFOUND)
			records_image_del(rec, service, l.v[i].image);
	}
out:
	free(l.v);
	records_close(rec);
}

/*
 * prune removes stopped containers of service beyond the keep newest
 * revisions, never touching except (the one now running), and the images
 * that only they used.
 */
static void
prune(struct job *j, struct docker *d, const char *service,
    const char *except, uint32_t keep)
{
	struct docker_state *cs;
	char err[300];
	size_t n, i, k;
	int *gone;

	if (service_containers(j, d, service, &cs, &n, err, sizeof(err)) != 0)
		return;
	if ((gone = calloc(n + 1, sizeof(*gone))) == NULL) {
		free(cs);
		return;
	}
	for (i = 0; i < n; i++) {
		uint32_t newer = 0;

		if (cs[i].running || strcmp(cs[i].id, except) == 0)
			continue;
		for (k = 0; k < n; k++)
			if (k != i && !cs[k].running &&
			    strcmp(cs[k].id, except) != 0 &&
			    rev_of(&cs[k]) > rev_of(&cs[i]))
				newer++;
		if (newer >= keep)
			gone[i] = docker_remove(d, cs[i].id, 1, err,
			    sizeof(err)) == 0;
	}
	/* The images of the revisions that left the kept window go with
	 * them, unless a kept container of the service still uses one:
	 * prune_image leaves any image a container uses. */
	for (i = 0; i < n; i++) {
		int used = 0;

		if (!gone[i] || cs[i].image[0] == '\0')
			continue;
		/* Used by a kept one, or already tried for an earlier one. */
		for (k = 0; k < n && !used; k++)
			used = strcmp(cs[k].image, cs[i].image) == 0 &&
			    (!gone[k] || k < i);
		if (!used)
			prune_image(j, cs[i].image);
	}
	prune_recorded(j, service, cs, gone, n);
	free(gone);
	free(cs);
}

/* ---- health ------------------------------------------------------------- */

static void
policy_of(const Ferry__HealthSpec *h, struct health_policy *p)
{
	p->interval_ms = h && h->interval_ms ? h->interval_ms : 1000;
	p->start_interval_ms = health_start_interval(h ?
	    h->start_interval_ms : 0, p->interval_ms);
	p->timeout_ms = h && h->timeout_ms ? h->timeout_ms : 1000;
	p->start_period_ms = h ? h->start_period_ms : 0;
	p->healthy_threshold = h && h->healthy_threshold ?
	    h->healthy_threshold : 1;
	p->unhealthy_threshold = h && h->unhealthy_threshold ?
	    h->unhealthy_threshold : 3;
	p->deadline_ms = h && h->deadline_ms ? h->deadline_ms : 60000;
	p->min_healthy_ms = h ? h->min_healthy_ms : 0;
}

/* check_ports: with a published port, an HTTP or TCP check must aim at
 * it (the agent reaches the container there); with none, the check goes to
 * the container's own address and any port of it. */
static int
check_ports(const Ferry__HealthSpec *h, const Ferry__PortBinding *pb,
    char *why, size_t len)
{
	uint32_t port = 0;

	if (h == NULL)
		return 0;
	if (h->check_case == FERRY__HEALTH_SPEC__CHECK_HTTP)
		port = h->http->port;
	else if (h->check_case == FERRY__HEALTH_SPEC__CHECK_TCP_PORT)
		port = h->tcp_port;
	else
		return 0;
	if (pb == NULL || pb->host == 0)
		return 0;
	if (pb->container != port) {
		snprintf(why, len, "health check port %u is not the service's "
		    "published container port", port);
		return FERR_ARG;
	}
	return 0;
}

/* settle_restart gives container id the restart policy its spec asked
 * for (its ferry.restart label; unless-stopped without one, as before
 * issue 16) now that a swap is done with it. */
static void
settle_restart(struct docker *d, const char *id, char *err, size_t errlen)
{
	struct docker_state st;
	const char *policy = "unless-stopped";

	if (docker_inspect(d, id, &st, err, errlen) == 0 &&
	    st.restart[0] != '\0')
		policy = st.restart;
	docker_update_restart(d, id, policy, err, errlen);
}

/*
 * watch judges container cid until it passes or fails (or the agent stops:
 * *aborted).  On failure why says so, and out holds the last check's
 * output, *exit_code the exit code when it exited (else -1).
 */
static enum health_verdict
watch(struct job *j, struct docker *d, const char *cid, uint64_t revision,
    const Ferry__HealthSpec *h, uint32_t host_port, char *why, size_t whylen,
    char *out, size_t outlen, int *exit_code)
{
	struct health_policy pol;
	struct health_judge judge;
	struct docker_state st;
	enum health_verdict v;
	char err[300];
	const char *phase = "starting";

	*exit_code = -1;
	out[0] = '\0';
	policy_of(h, &pol);
	health_start(&judge, &pol, clock_mono_ms());
	for (v = HEALTH_WAIT; v == HEALTH_WAIT; ) {
		uint64_t now = clock_mono_ms();

		if (atomic_load(&stopping))
			return HEALTH_WAIT;
		if (now < judge.next_ms) {
			v = health_tick(&judge, now);
			sleep_ms(judge.next_ms - now < 50 ? judge.next_ms - now :
			    50);
			continue;
		}
		if (docker_inspect(d, cid, &st, err, sizeof(err)) != 0) {
			snprintf(out, outlen, "%s", err);
			v = health_observe(&judge, now, 0, err);
			continue;
		}
		if (!st.running) {
			*exit_code = st.exit_code;
			v = health_exited(&judge, now, st.exit_code);
			break;
		}
		{
			int ok = probe_run(d, cid, j->probe_ip, h, host_port,
			    pol.timeout_ms, &st, out, outlen);
			Ferry__HealthProgress hp = FERRY__HEALTH_PROGRESS__INIT;

			now = clock_mono_ms();
			if (ok < 0) {
				v = health_pending(&judge, now);
				continue;
			}
			v = health_observe(&judge, now, ok, out);
			if (judge.healthy)
				phase = "watching";
			/* Failures between beats (the fast checks before
			 * the first pass) count for nothing: not reported,
			 * or a slow start would flood ferryd. */
			if (!judge.on_beat && v == HEALTH_WAIT)
				continue;
			hp.service = j->service;
			hp.revision = revision;
			hp.ok = ok;
			hp.output = out;
			hp.passes = judge.passes;
			hp.fails = judge.fails;
			hp.phase = (char *)phase;
			progress(j, &hp, "%s r%llu: health %s: %s", j->service,
			    (unsigned long long)revision, ok ? "pass" : "fail",
			    out);
		}
	}
	if (v == HEALTH_FAILED)
		snprintf(why, whylen, "%s", judge.why);
	return v;
}

/* ---- the proxy: where the service's traffic goes ------------------------ */

/*
 * A service with host ports, on an agent with a ferry-proxy, is served by
 * the proxy on those ports, a route each: its containers publish nothing
 * and are reached on their own addresses, each route's targets at that
 * mapping's container port.  A service's routes change together (one
 * request: proxyctl_set_ports).  Every route change goes through
 * proxyctl.c; the containers carry what a route needs in their labels
 * (ferry.listen, ferry.port, ferry.ports, ferry.proxy, ferry.weight), so
 * that the reconciliation at start can point the routes at what runs with
 * no command at hand.
 */
#define VIA_MORE_MAX (PROXYCTL_PORTS_MAX - 1)

struct via {
	int on;				/* the swap goes through the proxy */
	int legacy;			/* the old one publishes the port itself:
					 * the proxy cannot serve it */
	const char *service;
	uint32_t listen, port;		/* host port, container port: the
					 * first of the spec's ports */
	Ferry__ProxyMode mode;		/* the first one's mode */
	/* The others, each a route of its own. */
	uint32_t more_listen[VIA_MORE_MAX], more_port[VIA_MORE_MAX];
	Ferry__ProxyMode more_mode[VIA_MORE_MAX];
	size_t nmore;
	Ferry__ProxySettings ps;	/* the routes' settings (ps.mode: the
					 * service's, for a port without its
					 * own) */
	uint32_t drain_ms;
};

/* via_nports: how many host ports (routes) v has; via_port gets the k-th
 * (0: the first). */
static size_t
via_nports(const struct via *v)
{
	return 1 + v->nmore;
}

static void
via_port(const struct via *v, size_t k, uint32_t *listen, uint32_t *port)
{
	*listen = k == 0 ? v->listen : v->more_listen[k - 1];
	*port = k == 0 ? v->port : v->more_port[k - 1];
}

static Ferry__ProxyMode
via_mode(const struct via *v, size_t k)
{
	return k == 0 ? v->mode : v->more_mode[k - 1];
}

/* port_mode: a PortBinding's mode (0: the service's, dflt). */
static Ferry__ProxyMode
port_mode(uint32_t mode, Ferry__ProxyMode dflt)
{
	return mode == 1 ? FERRY__PROXY_MODE__PROXY_HTTP :
	    mode == 2 ? FERRY__PROXY_MODE__PROXY_TCP : dflt;
}

static const char *
mode_name(Ferry__ProxyMode m)
{
	return m == FERRY__PROXY_MODE__PROXY_TCP ? "tcp" : "http";
}

/* via_more_label writes v's other ports as the ferry.ports label's text
 * ("8081:81/http 8443:443/tcp"; "" with none). */
static void
via_more_label(const struct via *v, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < v->nmore && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%u:%u/%s",
		    i ? " " : "", v->more_listen[i], v->more_port[i],
		    mode_name(v->more_mode[i]));
}

/* via_more_from takes v's other ports from a container's ferry.ports
 * label (the ports it was made with, each with its mode; v's first
 * port's mode without one); pairs out of range are skipped. */
static void
via_more_from(struct via *v, const struct docker_state *st)
{
	const char *p = st->more_ports;
	char m[8];
	unsigned l, c;
	int used;

	v->nmore = 0;
	while (v->nmore < VIA_MORE_MAX &&
	    sscanf(p, " %u:%u%n", &l, &c, &used) == 2) {
		p += used;
		m[0] = '\0';
		if (*p == '/' && sscanf(p, "/%7[a-z]%n", m, &used) == 1)
			p += used;
		if (l == 0 || l > 65535 || c == 0 || c > 65535)
			continue;
		v->more_listen[v->nmore] = l;
		v->more_port[v->nmore] = c;
		v->more_mode[v->nmore++] = strcmp(m, "tcp") == 0 ?
		    FERRY__PROXY_MODE__PROXY_TCP : strcmp(m, "http") == 0 ?
		    FERRY__PROXY_MODE__PROXY_HTTP : v->mode;
	}
}

static int
swap_stopping(void)
{
	return atomic_load(&stopping);
}

static void
via_init(struct via *v, const struct job *j, const char *service,
    const Ferry__PortBinding *pb, Ferry__PortBinding *const *more,
    size_t nmore, const Ferry__HealthSpec *h, const Ferry__ProxySettings *ps)
{
	size_t i;

	memset(v, 0, sizeof(*v));
	ferry__proxy_settings__init(&v->ps);
	v->service = service;
	v->on = j->proxy_ctl[0] != '\0' && pb != NULL && pb->host != 0 &&
	    pb->container != 0;
	if (!v->on)
		return;
	v->listen = pb->host;
	v->port = pb->container;
	if (ps != NULL) {
		v->ps = *ps;
		v->ps.base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(
		    &ferry__proxy_settings__descriptor);
	} else {
		/* A ferryd that sends no settings: http with an HTTP check. */
		v->ps.mode = h != NULL && h->check_case ==
		    FERRY__HEALTH_SPEC__CHECK_HTTP ?
		    FERRY__PROXY_MODE__PROXY_HTTP :
		    FERRY__PROXY_MODE__PROXY_TCP;
	}
	v->drain_ms = v->ps.drain_timeout_ms ? v->ps.drain_timeout_ms : 30000;
	/* Each port in its own mode, else the service's. */
	v->mode = port_mode(pb->mode, v->ps.mode);
	for (i = 0; i < nmore && v->nmore < VIA_MORE_MAX; i++) {
		v->more_listen[v->nmore] = more[i]->host;
		v->more_port[v->nmore] = more[i]->container;
		v->more_mode[v->nmore++] = port_mode(more[i]->mode,
		    v->ps.mode);
	}
}

/* via_check asks the proxy for v's route before anything changes: a
 * proxy that does not answer fails the swap at once, nothing done. */
static int
via_check(const struct job *j, const struct via *v, char *err,
    size_t errlen)
{
	struct proxyctl_route r;
	int rc;

	rc = proxyctl_get(j->proxy_ctl, v->service, &r, err, errlen);
	return rc == FERR_NOTFOUND ? 0 : rc;
}

/* via_label writes v's settings as the ferry.proxy label's text. */
static void
via_label(const struct via *v, char *buf, size_t len)
{
	/* The mode is the first port's (the others' are in ferry.ports). */
	snprintf(buf, len, "%s %u %u %u %llu %d", mode_name(v->mode),
	    v->ps.drain_timeout_ms, v->ps.max_pause_ms,
	    v->ps.upstream_timeout_ms, (unsigned long long)v->ps.max_body,
	    v->ps.sticky ? 1 : 0);
}

/* via_from_label reads a container's labels back into v (0), or says
 * the container is not served by the proxy (FERR_NOTFOUND). */
static int
via_from_label(struct via *v, const struct job *j,
    const struct docker_state *st)
{
	char mode[8];
	unsigned d = 0, p = 0, u = 0;
	unsigned long long mb = 0;
	int sticky = 0;

	memset(v, 0, sizeof(*v));
	ferry__proxy_settings__init(&v->ps);
	if (j->proxy_ctl[0] == '\0' || st->listen == 0 || st->port == 0)
		return FERR_NOTFOUND;
	v->on = 1;
	v->service = st->service;
	v->listen = st->listen;
	v->port = st->port;
	if (sscanf(st->proxy, "%7s %u %u %u %llu %d", mode, &d, &p, &u, &mb,
	    &sticky) == 6) {
		v->ps.mode = strcmp(mode, "tcp") == 0 ?
		    FERRY__PROXY_MODE__PROXY_TCP :
		    FERRY__PROXY_MODE__PROXY_HTTP;
		v->ps.drain_timeout_ms = d;
		v->ps.max_pause_ms = p;
		v->ps.upstream_timeout_ms = u;
		v->ps.max_body = mb;
		v->ps.sticky = sticky != 0;
	}
	v->drain_ms = d ? d : 30000;
	v->mode = v->ps.mode;
	via_more_from(v, st);
	return 0;
}

/* via_ports_from makes v's host ports and their modes those container st
 * was made with (its labels: ferry.proxy's mode for the first, ferry.ports
 * for the others), for a rollback to it. */
static void
via_ports_from(struct via *v, const struct docker_state *st)
{
	char mode[8];

	if (sscanf(st->proxy, "%7s", mode) == 1)
		v->mode = strcmp(mode, "tcp") == 0 ?
		    FERRY__PROXY_MODE__PROXY_TCP :
		    FERRY__PROXY_MODE__PROXY_HTTP;
	via_more_from(v, st);
}

/* addr_of gets container id's address now ("" when it has none). */
static void
addr_of(struct docker *d, const char *id, char *addr, size_t len)
{
	struct docker_state st;
	char err[300];

	addr[0] = '\0';
	if (id != NULL && id[0] != '\0' && docker_inspect(d, id, &st, err,
	    sizeof(err)) == 0 && st.running)
		snprintf(addr, len, "%s", st.ip);
}

/* One container a route is to send traffic to: its address is ip when
 * given (read a moment ago), else inspected now. */
struct via_to {
	const char *id;
	uint64_t revision;
	uint32_t weight;
	const char *ip;
};

/*
 * via_route sets v's routes (one per host port, together) to the
 * containers to[0..n) (at their addresses now; each route's targets at
 * its mapping's container port), holding new requests when hold.
 * Returns 0, or an error with err saying why (a container without an
 * address, or what the proxy said).  d may be NULL when every to has ip.
 */
static int
via_route(const struct job *j, struct docker *d, const struct via *v,
    int hold, const struct via_to *to, size_t n, char *err, size_t errlen)
{
	struct proxyctl_route r[PROXYCTL_PORTS_MAX];
	char addr[64];
	size_t i, k, np = via_nports(v);
	uint32_t listen, port;
	int rc;

	for (k = 0; k < np; k++) {
		via_port(v, k, &listen, &port);
		proxyctl_route_init(&r[k], v->service, j->publish, listen,
		    &v->ps, 0);
		r[k].hold = hold;
		/* Its own mode; a tcp port has no cookies and no bodies. */
		r[k].mode = via_mode(v, k);
		if (r[k].mode == FERRY__PROXY_MODE__PROXY_TCP) {
			r[k].sticky = 0;
			r[k].max_body = 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (to[i].ip != NULL && to[i].ip[0] != '\0')
			snprintf(addr, sizeof(addr), "%s", to[i].ip);
		else if (d != NULL)
			addr_of(d, to[i].id, addr, sizeof(addr));
		else
			addr[0] = '\0';
		if (addr[0] == '\0') {
			snprintf(err, errlen, "ferry-proxy: %s: the container "
			    "of r%llu has no address to route to", v->service,
			    (unsigned long long)to[i].revision);
			return FERR_STATE;
		}
		for (k = 0; k < np; k++) {
			via_port(v, k, &listen, &port);
			if ((rc = proxyctl_add_target(&r[k], to[i].revision,
			    addr, port, to[i].weight)) != 0) {
				snprintf(err, errlen, "ferry-proxy: %s: too "
				    "many targets", v->service);
				return rc;
			}
		}
	}
	return proxyctl_set_ports(j->proxy_ctl, r, np, err, errlen);
}

/* via_get reads the proxy's live routes of v's service into rs (at most
 * PROXYCTL_PORTS_MAX), *n how many, and *first the one on v's first host
 * port (NULL when none is).  Returns 0 or proxyctl's error. */
static int
via_get(const struct job *j, const struct via *v, struct proxyctl_route *rs,
    size_t *n, const struct proxyctl_route **first, char *err,
    size_t errlen)
{
	size_t i;
	int rc;

	*first = NULL;
	if ((rc = proxyctl_get_all(j->proxy_ctl, v->service, rs,
	    PROXYCTL_PORTS_MAX, n, err, errlen)) != 0)
		return rc;
	for (i = 0; i < *n; i++) {
		if (rs[i].removed) {
			*n = i;		/* live ones come first */
			break;
		}
		if (rs[i].listen_port == v->listen && *first == NULL)
			*first = &rs[i];
	}
	return 0;
}

/* via_ports_are: 1 when the live routes rs[0..n) are v's host ports, one
 * each, none holding. */
static int
via_ports_are(const struct via *v, const struct proxyctl_route *rs,
    size_t n)
{
	size_t k, i, np = via_nports(v);
	uint32_t listen, port;

	if (n != np)
		return 0;
	for (k = 0; k < np; k++) {
		via_port(v, k, &listen, &port);
		for (i = 0; i < n; i++)
			if (rs[i].listen_port == listen && !rs[i].hold)
				break;
		if (i == n)
			return 0;
	}
	return 1;
}

/* via_only points v's route at the one container id, not holding. */
static int
via_only(const struct job *j, struct docker *d, const struct via *v,
    const char *id, uint64_t rev, char *err, size_t errlen)
{
	struct via_to to = { id, rev, 100, NULL };

	return via_route(j, d, v, 0, &to, 1, err, errlen);
}

/*
 * via_drain waits until the container that was at addr (revision rev),
 * out of the route now, has nothing in flight, for up to the route's
 * drain_timeout (the proxy closes what is left then), and says how it
 * went.
 */
static void
via_drain(struct job *j, const struct via *v, const char *addr,
    uint64_t rev)
{
	uint64_t k = 0;
	char err[400];
	int rc;

	if (addr[0] == '\0')
		return;
	/* Every port of it: its address on any of the service's routes. */
	rc = proxyctl_wait_drained(j->proxy_ctl, v->service, addr, 0,
	    v->drain_ms + 1000, swap_stopping, &k, err, sizeof(err));
	if (rc == 0)
		progress(j, NULL, "%s: r%llu drained (%llu in flight "
		    "finished)", v->service, (unsigned long long)rev,
		    (unsigned long long)k);
	else if (j->reconcile)
		log_warnx("%s: r%llu: %s; stopping it", v->service,
		    (unsigned long long)rev, err);
	else
		progress(j, NULL, "%s: r%llu: %s; stopping it", v->service,
		    (unsigned long long)rev, err);
}

/* via_restore points the route back at the old container after a swap
 * that gave up (it runs again: old_runs), its failure added to why. */
static void
via_restore(const struct job *j, struct docker *d, const struct via *v,
    const char *old_id, uint64_t old_rev, int old_runs, char *why,
    size_t whylen)
{
	char err[400];
	size_t n;

	if (v == NULL || !v->on || v->legacy || !old_runs)
		return;
	if (via_only(j, d, v, old_id, old_rev, err, sizeof(err)) != 0) {
		n = strlen(why);
		snprintf(why + n, whylen - n, "; pointing the route back at "
		    "revision %llu failed too: %s", (unsigned long long)old_rev,
		    err);
	}
}

/* ---- Swap ----------------------------------------------------------------- */

/* start_again brings the old container back after a failed swap, its
 * failure added to why; returns 1 when it runs again, 0 when there is none
 * or it would not start. */
static int
start_again(struct docker *d, const char *old_id, uint64_t old_rev,
    char *why, size_t whylen)
{
	char err[300];
	size_t n;

	if (old_id == NULL || old_id[0] == '\0')
		return 0;
	if (docker_start(d, old_id, err, sizeof(err)) != 0) {
		n = strlen(why);
		snprintf(why + n, whylen - n, "; starting revision %llu again "
		    "failed too: %s", (unsigned long long)old_rev, err);
		return 0;
	}
	return 1;
}

/* fail_new collects what the operator needs to know of a failed new
 * container (its logs), then stops and removes it. */
static void
fail_new(struct docker *d, const char *id, char **logs)
{
	char err[300];

	if (id == NULL || id[0] == '\0')
		return;
	if (logs != NULL && *logs == NULL)
		docker_logs(d, id, LOG_TAIL, logs, err, sizeof(err));
	docker_stop(d, id, 5, err, sizeof(err));
	docker_remove(d, id, 1, err, sizeof(err));
}

struct swap_out {
	Ferry__SwapResult res;
	char why[800];
	char out[OUT_MAX];
	char *logs;
	char image[300];
	char cid[80];
};

/* fail_early records a swap that failed before anything changed, why
 * given as printf would write it; returns 0 (do_swap's "not swapped"). */
static int
fail_early(struct swap_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail_early(struct swap_out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
	o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
	return 0;
}

/* swapped fills o for a swap or rollback that ended well: rev serves,
 * prev is what it replaced (0: none), cid its container, image its image
 * (NULL: o->image stays as it is). */
static void
swapped(struct swap_out *o, uint64_t rev, uint64_t prev, const char *cid,
    const char *image)
{
	o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__SWAPPED;
	o->res.revision = rev;
	o->res.previous_revision = prev;
	snprintf(o->cid, sizeof(o->cid), "%s", cid);
	if (image != NULL)
		snprintf(o->image, sizeof(o->image), "%s", image);
}

static void pack_final(struct job *j, Ferry__Report *r);
static void swap_result(Ferry__Report *r, struct swap_out *o);

/* set_reverted says in o that the swap did not happen: the revision that
 * ran before (old_id, old_rev) runs, or nothing did (had_old 0). */
static void
set_reverted(struct swap_out *o, int had_old, uint64_t old_rev,
    const char *old_id)
{
	o->res.outcome = had_old ? FERRY__SWAP_RESULT__OUTCOME__REVERTED :
	    FERRY__SWAP_RESULT__OUTCOME__FAILED;
	o->res.revision = old_rev;
	o->res.previous_revision = old_rev;
	snprintf(o->cid, sizeof(o->cid), "%s", old_id);
}

static void
kick_deliver(void *arg)
{
	report_kick(arg);
}

/*
 * report_early records the failed swap's final result and has the loop
 * send it at once, while the failed container is still to be removed: the
 * revision that ran before already runs again, so ferryd can go on (a
 * rollout's rollback starts) while the agent tidies.  The result is
 * durable before the journal row goes, so an agent killed in between finds
 * the row with the result already recorded and only tidies (recon_one).
 * When it cannot record, nothing changes: the result goes out at the end,
 * as for any other command.
 */
static void
report_early(struct job *j, struct records *rec, struct swap_out *o)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	int rc;

	r.command_id = j->cmd->id;
	r.sequence = j->cmd->sequence;
	swap_result(&r, o);
	r.status = FERRY__REPORT__STATUS__FAILED;
	r.message = o->why;
	r.sent_at_ms = clock_wall_ms();
	pack_final(j, &r);
	if (j->report == NULL)
		return;
	if ((rc = records_finish(rec, j->cmd->id.data, j->cmd->id.len,
	    "failed", j->report, j->report_len)) != 0) {
		log_warnx("command %.12s: cannot record the result before "
		    "tidying: %s", j->idhex, ferr_str(rc));
		free(j->report);
		j->report = NULL;
		j->report_len = 0;
		return;
	}
	j->recorded = 1;
	mailbox_post(&j->a->mb, kick_deliver, j->a);
}

/* ---- the swap's state, journalled --------------------------------------- */

_Static_assert(sizeof(((struct journal *)0)->old_id) >= SWAPSM_ID_MAX &&
    sizeof(((struct journal *)0)->new_id) >= SWAPSM_ID_MAX &&
    sizeof(((struct journal *)0)->new_name) >= SWAPSM_NAME_MAX,
    "a journal row holds every id and name of a struct swapsm");

/* move feeds the swap's state machine an input that the worker's own order
 * of work makes apply: a refusal would be a bug here, not a fault. */
static void
move(struct swapsm *sm, enum swapsm_input in, const char *new_id,
    int old_runs)
{
	struct swapsm_event ev = { in, new_id, old_runs };
	int rc = swapsm_step(sm, &ev);

	assert(rc == 0);
	(void)rc;
}

/* row_init fills the parts of the journal row of job j's swap of service
 * that never change while it runs. */
static void
row_init(struct journal *row, const struct job *j, const char *service,
    uint64_t revision)
{
	size_t n = j->cmd->id.len < sizeof(row->command_id) ?
	    j->cmd->id.len : sizeof(row->command_id);

	memset(row, 0, sizeof(*row));
	snprintf(row->service, sizeof(row->service), "%s", service);
	memcpy(row->command_id, j->cmd->id.data, n);
	row->id_len = n;
	row->revision = revision;
	row->keep = j->keep;
}

/*
 * record writes sm's state into the journal (row: the parts that never
 * change) and, once the row is written, tells sm.  When the write fails
 * the swap must not go on unrecorded: the reason goes into o->why and to
 * the operator at once, and the caller reverts what the swap did so far,
 * as its state says (a restart would revert from the row left before).
 */
static int
record(struct job *j, struct records *rec, struct journal *row,
    struct swapsm *sm, struct swap_out *o)
{
	int rc;

	snprintf(row->kind, sizeof(row->kind), "%s",
	    swapsm_kind_name(sm->kind));
	snprintf(row->step, sizeof(row->step), "%s",
	    swapsm_state_name(sm->state));
	snprintf(row->old_id, sizeof(row->old_id), "%s", sm->old_id);
	snprintf(row->new_id, sizeof(row->new_id), "%s", sm->new_id);
	snprintf(row->new_name, sizeof(row->new_name), "%s", sm->new_name);
	if ((rc = records_journal_put(rec, row)) != 0) {
		snprintf(o->why, sizeof(o->why), "cannot record the swap's "
		    "progress: %s", ferr_str(rc));
		progress(j, NULL, "%s r%llu: %s (step %s); the swap stops and "
		    "undoes what it did", row->service,
		    (unsigned long long)row->revision, o->why, row->step);
		return rc;
	}
	move(sm, SWI_RECORDED, NULL, 0);
	return 0;
}

/*
 * forget drops the service's journal row once nothing is left to finish
 * or revert.  A row that will not go stays for the next start, which
 * settles it again harmlessly (the containers are already as it would
 * leave them, and a recorded result stands); the operator hears of it.
 */
static void
forget(struct job *j, struct records *rec, const char *service)
{
	int rc;

	if ((rc = records_journal_del(rec, service)) != 0)
		progress(j, NULL, "%s: cannot remove the swap's journal row: "
		    "%s; the next start of ferry-agent settles it", service,
		    ferr_str(rc));
}

/* put_back ends a swap that gives up once its new container no longer
 * runs (stopped, or never started): the old one starts again, if there is
 * one, and the row goes. */
static void
put_back(struct job *j, struct docker *d, struct records *rec,
    struct swapsm *sm, const struct via *v, const char *service,
    uint64_t old_rev, struct swap_out *o)
{
	move(sm, SWI_REVERTED, NULL, start_again(d, sm->old_id, old_rev,
	    o->why, sizeof(o->why)));
	via_restore(j, d, v, sm->old_id, old_rev, sm->old_runs, o->why,
	    sizeof(o->why));
	forget(j, rec, service);
}

/*
 * back_out reverts a swap whose new container was started (its health
 * failed, or its progress could not be recorded): the revision that ran
 * before runs again first (stop-first: once the new container has let go
 * of the port), the result goes to ferryd, and only then is the new
 * container removed: under start-first the old one never stopped, and the
 * report need not wait for the removal.
 */
static void
back_out(struct job *j, struct docker *d, struct records *rec,
    struct swapsm *sm, const struct via *v, const char *service,
    uint64_t old_rev, struct swap_out *o)
{
	char err[400];

	docker_logs(d, sm->new_id, LOG_TAIL, &o->logs, err, sizeof(err));
	if (sm->order != SWAPSM_START_FIRST)
		docker_stop(d, sm->new_id, 5, err, sizeof(err));
	move(sm, SWI_REVERTED, NULL, start_again(d, sm->old_id, old_rev,
	    o->why, sizeof(o->why)));
	/* Through the proxy: traffic back to the old one (held requests go
	 * on to it) before the new one goes. */
	via_restore(j, d, v, sm->old_id, old_rev, sm->old_runs, o->why,
	    sizeof(o->why));
	set_reverted(o, sm->old_id[0] != '\0', old_rev, sm->old_id);
	report_early(j, rec, o);
	fail_new(d, sm->new_id, NULL);
	forget(j, rec, service);
}

/* sweep_secrets removes the secret files of every container of this host
 * that is gone.  Nothing is removed when the list cannot be had. */
static void
sweep_secrets(struct job *j, struct docker *d)
{
	struct docker_state *cs = NULL;
	const char **names;
	char err[400];
	size_t n = 0, i;

	if (docker_list_host(d, j->host, &cs, &n, err, sizeof(err)) != 0)
		return;
	if ((names = calloc(n + 1, sizeof(*names))) != NULL) {
		for (i = 0; i < n; i++)
			names[i] = cs[i].name;
		secretfs_sweep(j->secrets_dir, names, n);
		free(names);
	}
	free(cs);
}

/* write_secrets opens the swap's sealed secrets into the new container's
 * folder on the tmpfs, owned by the user its image runs as; bind gets
 * the folder's bind.  0, or why says which secret failed. */
static int
write_secrets(struct job *j, struct docker *d, const Ferry__Swap *s,
    const char *container, char *bind, size_t bindlen, char *why,
    size_t whylen)
{
	char user[128], err[400];
	uid_t uid;
	gid_t gid;

	if (docker_image_user(d, s->image, user, sizeof(user), err,
	    sizeof(err)) != 0) {
		snprintf(why, whylen, "%s", err);
		return FERR_DOCKER;
	}
	secretfs_user(user, &uid, &gid);
	return secretfs_write(j->secrets_dir, container, s->secrets,
	    s->n_secrets, j->xpk, j->xsk, uid, gid, bind, bindlen, why,
	    whylen);
}

/* beside_of fills o's split: rev runs beside another with weight%. */
static void
beside_of(struct swap_out *o, uint32_t weight)
{
	o->res.beside = 1;
	o->res.weight = weight;
}

/* switched_now stamps o with the time the proxy's route took the swap's
 * weights (the first such moment of the swap: a route set again later
 * with the same targets changes nothing for the traffic). */
static void
switched_now(struct swap_out *o)
{
	if (o->res.switched_at_ms == 0)
		o->res.switched_at_ms = clock_wall_ms();
}

/*
 * reweigh_fast is the short path of a swap to a revision that already
 * runs beside another, as ferryd sends it for a canary's next step or
 * blue-green's switch (the same revision number: a revision is one
 * image): the proxy's route says everything, so the only calls are the
 * route's read and its set; no Docker call, nothing pulled, started or
 * checked.  With keep (beside, or a weight 1..99) the route gets the new
 * weights and that is the swap; without, the route goes to the revision
 * alone and the swap goes on in reweigh to drain and stop the other one
 * (the traffic moved first).  Returns 1 when the swap is done, 0 when it
 * failed (o says why), -1 when the route is not two revisions of which
 * s->revision is one (the long path decides from what runs).
 */
static int
reweigh_fast(struct job *j, const Ferry__Swap *s, const struct via *v,
    int keep, struct swap_out *o)
{
	struct proxyctl_route rs[PROXYCTL_PORTS_MAX];
	const struct proxyctl_route *rp;
	struct via_to to[2];
	char err[400];
	size_t i, me = PROXYCTL_TARGETS_MAX, other = PROXYCTL_TARGETS_MAX;
	size_t live = 0, nr;
	uint32_t w = keep ? s->weight : 100;
	uint64_t t0 = clock_mono_us();
	int rc;

	/* The first port's route says which revisions run; every port of
	 * the service must have its route (else the long path sets them). */
	rc = via_get(j, v, rs, &nr, &rp, err, sizeof(err));
	if (rc != 0)
		return fail_early(o, "%s", err);
	if (rp == NULL || !via_ports_are(v, rs, nr))
		return -1;
	for (i = 0; i < rp->ntargets; i++) {
		if (rp->targets[i].draining)
			continue;
		live++;
		if (rp->targets[i].revision == s->revision)
			me = i;
		else
			other = i;
	}
	if (live != 2 || me == PROXYCTL_TARGETS_MAX ||
	    other == PROXYCTL_TARGETS_MAX || rp->targets[me].port != v->port)
		return -1;
	to[0] = (struct via_to){ NULL, s->revision, w,
	    rp->targets[me].address };
	to[1] = (struct via_to){ NULL, rp->targets[other].revision, 100 - w,
	    rp->targets[other].address };
	if (via_route(j, NULL, v, 0, to, keep ? 2 : 1, err, sizeof(err)) != 0)
		return fail_early(o, "%s", err);
	switched_now(o);
	if (!keep) {
		progress(j, NULL, "%s: switched traffic to r%llu", s->service,
		    (unsigned long long)s->revision);
		return -1;
	}
	progress(j, NULL, "%s: r%llu gets %u%% of new traffic, r%llu %u%% "
	    "(both running), the route read and set in %.1f ms", s->service,
	    (unsigned long long)s->revision, w,
	    (unsigned long long)rp->targets[other].revision, 100 - w,
	    (double)(clock_mono_us() - t0) / 1000.0);
	/* Its container, by the name every swap gives it. */
	swapped(o, s->revision, rp->targets[other].revision, "", s->image);
	snprintf(o->cid, sizeof(o->cid), "ferry-%s-%s-r%llu", j->host,
	    s->service, (unsigned long long)s->revision);
	beside_of(o, w);
	snprintf(o->why, sizeof(o->why), "revision %llu runs beside "
	    "revision %llu with %u%% of new traffic",
	    (unsigned long long)s->revision,
	    (unsigned long long)rp->targets[other].revision, w);
	return 1;
}

/*
 * reweigh handles a swap to the revision that already runs (cur) while
 * another one (other) runs beside it, through the proxy, when the short
 * path could not: with keep (beside, or a weight 1..99) the split
 * changes, both keep running; without, the swap completes: the route
 * goes to cur alone, other drains and stops.  Nothing is created,
 * pulled or checked; the addresses are those just listed.  Returns 1
 * when done.
 */
static int
reweigh(struct job *j, struct docker *d, const Ferry__Swap *s,
    const struct via *v, int keep, const struct docker_state *cur,
    const struct docker_state *other, struct swap_out *o)
{
	char err[400], addr[64];
	uint64_t other_rev = rev_of(other), cur_rev = rev_of(cur);
	int rc;

	if (keep) {
		struct via_to to[2] = {
			{ other->id, other_rev, 100 - s->weight, other->ip },
			{ cur->id, cur_rev, s->weight, cur->ip },
		};

		if ((rc = via_route(j, d, v, 0, to, 2, err,
		    sizeof(err))) != 0)
			return fail_early(o, "%s", err);
		switched_now(o);
		progress(j, NULL, "%s: r%llu gets %u%% of new traffic, r%llu "
		    "%u%% (both running)", s->service,
		    (unsigned long long)cur_rev, s->weight,
		    (unsigned long long)other_rev, 100 - s->weight);
		settle_restart(d, cur->id, err, sizeof(err));
		snprintf(o->why, sizeof(o->why), "revision %llu runs beside "
		    "revision %llu with %u%% of new traffic",
		    (unsigned long long)cur_rev,
		    (unsigned long long)other_rev, s->weight);
		swapped(o, cur_rev, other_rev, cur->id, cur->image);
		beside_of(o, s->weight);
		return 1;
	}
	snprintf(addr, sizeof(addr), "%s", other->ip);
	{
		struct via_to to = { cur->id, cur_rev, 100, cur->ip };

		if ((rc = via_route(j, d, v, 0, &to, 1, err,
		    sizeof(err))) != 0)
			return fail_early(o, "%s", err);
	}
	if (o->res.switched_at_ms == 0)
		progress(j, NULL, "%s: switched traffic to r%llu", s->service,
		    (unsigned long long)cur_rev);
	switched_now(o);
	via_drain(j, v, addr, other_rev);
	docker_stop(d, other->id, other->stop_timeout_s ?
	    other->stop_timeout_s : 10, err, sizeof(err));
	docker_update_restart(d, other->id, "no", err, sizeof(err));
	settle_restart(d, cur->id, err, sizeof(err));
	progress(j, NULL, "%s: stopped r%llu", s->service,
	    (unsigned long long)other_rev);
	prune(j, d, s->service, cur->id, j->keep);
	snprintf(o->why, sizeof(o->why), "revision %llu takes all traffic; "
	    "revision %llu stopped", (unsigned long long)cur_rev,
	    (unsigned long long)other_rev);
	swapped(o, cur_rev, other_rev, cur->id, cur->image);
	return 1;
}

/*
 * do_swap brings revision s->revision up on this host.  Without the proxy
 * (or without a host port) as it always did: stop-first, or start-first
 * when nothing is published.  Through the proxy (via.on):
 *
 *   start-first: create, start, health; the route goes to the new one
 *     alone ("switched traffic"), the old one drains and stops.  With a
 *     weight (1..99) the old one keeps running and the route splits.
 *   stop-first: create; the route holds new requests, the old one
 *     drains and stops; start, health; the route goes to the new one and
 *     stops holding (the held requests go on to it).
 *
 * Health that fails, or a route change that fails, reverts: the old one
 * runs again and the route points at it.
 */
static int
do_swap(struct job *j, struct docker *d, struct records *rec,
    const Ferry__Swap *s, struct swap_out *o)
{
	char secrets_bind[1300];
	const char *binds[2] = { NULL, NULL };
	struct docker_state *cs = NULL;
	const struct docker_state *old, *reuse = NULL, *other = NULL;
	struct journal row;
	struct swapsm sm;
	struct health_policy pol;
	struct docker_label labels[12];
	struct docker_create_opts co;
	struct container_opts copts = { 0 };
	struct via via;
	enum health_verdict v;
	char err[400], revtxt[32], digest[300], **env = NULL;
	char porttxt[16], listentxt[16], proxytxt[96], weighttxt[16];
	char moretxt[200];
	char healthtxt[DOCKER_HEALTH_LABEL_MAX];
	char name[SWAPSM_NAME_MAX], new_id[SWAPSM_ID_MAX] = "";
	char old_addr[64] = "";
	uint64_t old_rev = 0;
	uint32_t old_stop_s = 10;
	size_t n, i, nlabels;
	int rc, reusing, exit_code = -1, weighted, legacy = 0, recreating = 0;
	enum swapsm_order order;

	o->res.service = (char *)s->service;
	via_init(&via, j, s->service, s->port, s->more_ports, s->n_more_ports,
	    s->health, s->proxy);
	/* Both revisions keep running: beside says so at any weight, a
	 * weight 1..99 without it too (as it always did). */
	weighted = s->beside || (s->weight > 0 && s->weight < 100);
	if (!digest_ref(s->image))
		return fail_early(o, "refused: the image must be given by "
		    "digest (repo@sha256:...), got \"%s\"", s->image);
	if (allowlist_check(s, j->allowed_binds, o->why, sizeof(o->why)) !=
	    0) {
		o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
		return 0;
	}
	if (s->weight > 100)
		return fail_early(o, "refused: weight %u is not a share from 0 "
		    "to 100 (percent of new traffic)", s->weight);
	if (s->recreate && weighted)
		return fail_early(o, "refused: a recreate (ferry restart) "
		    "runs one revision; it cannot be weighted or beside "
		    "another");
	if (weighted && !via.on)
		return fail_early(o, "refused: %s needs ferry-proxy "
		    "(proxy_control) and a host port", s->beside ?
		    "running two revisions beside each other" :
		    "a weighted swap");
	if (!via.on && s->order == FERRY__ORDER__ORDER_START_FIRST &&
	    s->port != NULL && s->port->host != 0) {
		snprintf(revtxt, sizeof(revtxt), "%u", s->port->host);
		return fail_early(o, "refused: start-first would run two "
		    "containers on host port %s at once and this agent has "
		    "no ferry-proxy (proxy_control); use stop-first", revtxt);
	}
	if (via.on && s->n_more_ports > VIA_MORE_MAX)
		return fail_early(o, "refused: %s lists %zu host ports, and "
		    "ferry-proxy serves at most %d of a service", s->service,
		    s->n_more_ports + 1, PROXYCTL_PORTS_MAX);
	if (s->port != NULL && s->port->mode > 2)
		return fail_early(o, "refused: ports[0].mode: %u is not 0 "
		    "(the service's), 1 (http) or 2 (tcp)", s->port->mode);
	for (i = 0; i < s->n_more_ports; i++)
		if (s->more_ports[i]->mode > 2)
			return fail_early(o, "refused: ports[%zu].mode: %u is "
			    "not 0 (the service's), 1 (http) or 2 (tcp)", i + 1,
			    s->more_ports[i]->mode);
	for (i = 0; via.on && i < s->n_more_ports; i++)
		if (s->more_ports[i]->host == 0 ||
		    s->more_ports[i]->host > 65535 ||
		    s->more_ports[i]->container == 0 ||
		    s->more_ports[i]->container > 65535)
			return fail_early(o, "refused: ports[%zu]: %u:%u is "
			    "not host:container with both in 1..65535", i + 1,
			    s->more_ports[i]->host,
			    s->more_ports[i]->container);
	if (!via.on && check_ports(s->health, s->port, o->why,
	    sizeof(o->why)) != 0) {
		o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
		return 0;
	}
	policy_of(s->health, &pol);
	if (health_policy_check(&pol, err, sizeof(err)) != 0)
		return fail_early(o, "refused: %s", err);
	/* Through the proxy the route is read first (a proxy that does
	 * not answer fails the swap, nothing done); when it already sends
	 * to this revision beside another, only its weights change. */
	if (via.on && !s->recreate && (rc = reweigh_fast(j, s, &via, weighted,
	    o)) >= 0)
		return rc;

	if ((rc = service_containers(j, d, s->service, &cs, &n, err,
	    sizeof(err))) != 0)
		return fail_early(o, "%s", err);
	old = running_of(cs, n);
	if (old != NULL) {
		old_rev = rev_of(old);
		/* The one that runs stops as its own spec said. */
		old_stop_s = old->stop_timeout_s ? old->stop_timeout_s : 10;
	}
	/* Through the proxy two revisions may run (a weighted swap): the
	 * other is the older one. */
	for (i = 0; old != NULL && i < n; i++)
		if (cs[i].running && &cs[i] != old)
			other = &cs[i];
	if (s->recreate && other != NULL) {
		free(cs);
		return fail_early(o, "refused: revisions %llu and %llu of %s "
		    "run side by side; a restart recreates one revision: "
		    "complete the canary first", (unsigned long long)old_rev,
		    (unsigned long long)rev_of(other), s->service);
	}
	if (via.on && other != NULL) {
		/* Two run (a weighted swap): the swap names one of them by
		 * its image (each `ferry swap` records a new revision of the
		 * same spec); that one gets the weight, or all the traffic. */
		const struct docker_state *keep = NULL, *go = NULL;

		/* By revision first: two revisions of a deployment may
		 * share an image and differ in their environment. */
		if (rev_of(old) == s->revision) {
			keep = old;
			go = other;
		} else if (rev_of(other) == s->revision) {
			keep = other;
			go = old;
		} else if (strcmp(old->image, s->image) == 0) {
			keep = old;
			go = other;
		} else if (strcmp(other->image, s->image) == 0) {
			keep = other;
			go = old;
		}
		if (keep != NULL) {
			rc = reweigh(j, d, s, &via, weighted, keep, go, o);
			free(cs);
			return rc;
		}
	}
	if (weighted && s->weight < 100 && (old == NULL ||
	    (old_rev == s->revision && strcmp(old->image, s->image) == 0))) {
		free(cs);
		return fail_early(o, "refused: nothing else of %s runs here "
		    "for revision %llu to run beside (it would get %u%% of "
		    "new traffic and nothing the rest); swap with weight 100 "
		    "or without one", s->service,
		    (unsigned long long)s->revision, s->weight);
	}
	if (old != NULL && old_rev == s->revision &&
	    strcmp(old->image, s->image) == 0 && !s->recreate) {
		/* Already what was asked: nothing to do. */
		swapped(o, s->revision, 0, old->id, NULL);
		snprintf(o->why, sizeof(o->why), "revision %llu already runs",
		    (unsigned long long)s->revision);
		free(cs);
		return 1;
	}
	if (weighted && old == NULL)	/* beside, at 100: nothing to keep */
		weighted = 0;
	if (via.on && other != NULL) {
		free(cs);
		return fail_early(o, "refused: revisions %llu and %llu of %s "
		    "run side by side (a weighted swap); complete it first "
		    "(ferry swap with revision %llu's spec and no --weight)",
		    (unsigned long long)old_rev,
		    (unsigned long long)rev_of(other), s->service,
		    (unsigned long long)old_rev);
	}

	/* The image, by digest: pulled unless it is here already, and
	 * recorded first, so that the prune finds it once its revision
	 * leaves the kept window, even if no container is ever made from
	 * it here. */
	if (records_image_put(rec, s->service, s->revision, s->image) != 0)
		log_warnx("%s: %s r%llu: cannot record its image %s: it is "
		    "pruned only with a container of it", j->idhex,
		    s->service, (unsigned long long)s->revision, s->image);
	if (docker_image_digest(d, s->image, digest, sizeof(digest), err,
	    sizeof(err)) != 0) {
		progress(j, NULL, "%s r%llu: pulling %s", s->service,
		    (unsigned long long)s->revision, s->image);
		if (docker_pull(d, s->image, NULL, NULL, err,
		    sizeof(err)) != 0) {
			free(cs);
			return fail_early(o, "%s", err);
		}
	}
	order = s->order == FERRY__ORDER__ORDER_START_FIRST || weighted ?
	    SWAPSM_START_FIRST : SWAPSM_STOP_FIRST;
	if (via.on && old != NULL && old->published != 0) {
		/* Made before the proxy: it holds the host port itself, so
		 * the proxy cannot listen until it stops. */
		if (weighted) {
			free(cs);
			return fail_early(o, "refused: revision %llu publishes "
			    "host port %u itself (it was made before "
			    "ferry-proxy); swap without --weight once first",
			    (unsigned long long)old_rev, old->published);
		}
		legacy = 1;
		via.legacy = 1;
		order = SWAPSM_STOP_FIRST;
		progress(j, NULL, "%s: r%llu publishes host port %u itself "
		    "(made before ferry-proxy): this swap goes stop-first, "
		    "once, and the proxy serves the port from now on",
		    s->service, (unsigned long long)old_rev, old->published);
	}

	snprintf(name, sizeof(name), "ferry-%s-%s-r%llu", j->host, s->service,
	    (unsigned long long)s->revision);
	/* A recreate of the revision that runs: the new container beside
	 * the old one needs a name of its own (the command's). */
	if (s->recreate && old != NULL && old_rev == s->revision) {
		recreating = 1;
		snprintf(name, sizeof(name), "ferry-%s-%s-r%llu-%.8s", j->host,
		    s->service, (unsigned long long)s->revision, j->idhex);
		progress(j, NULL, "%s r%llu: recreating its container %s",
		    s->service, (unsigned long long)s->revision, old->name);
	}
	/* The kept, stopped container of this very revision and image is
	 * started again as it is: an instant local rollback.  Any other
	 * container of this revision is a leftover of an earlier attempt and
	 * goes: the name must be free.  Through the proxy, a kept one that
	 * publishes the port itself cannot come back: it goes too. */
	for (i = 0; i < n; i++) {
		if (&cs[i] == old)
			continue;
		if (reuse == NULL && !cs[i].running && !s->recreate &&
		    rev_of(&cs[i]) == s->revision &&
		    strcmp(cs[i].image, s->image) == 0 &&
		    strcmp(cs[i].name, name) == 0 &&
		    (!via.on || (cs[i].published == 0 &&
		    cs[i].port == via.port && cs[i].listen == via.listen))) {
			reuse = &cs[i];
			snprintf(new_id, sizeof(new_id), "%s", cs[i].id);
		} else if (rev_of(&cs[i]) == s->revision ||
		    strcmp(cs[i].name, name) == 0) {
			docker_remove(d, cs[i].id, 1, err, sizeof(err));
		}
	}
	rc = swapsm_init(&sm, SWAPSM_SWAP, order, old != NULL ? old->id : "",
	    new_id, name);
	reusing = reuse != NULL;
	free(cs);
	cs = NULL;
	old = reuse = other = NULL;
	if (rc != 0)
		return fail_early(o, "refused: a container id or name of %s "
		    "is too long", s->service);
	row_init(&row, j, s->service, s->revision);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;

	/* Create, labelled so that the agent knows it for its own. */
	snprintf(revtxt, sizeof(revtxt), "%llu",
	    (unsigned long long)s->revision);
	labels[0] = (struct docker_label){ "ferry.host", j->host };
	labels[1] = (struct docker_label){ "ferry.service", s->service };
	labels[2] = (struct docker_label){ "ferry.revision", revtxt };
	labels[3] = (struct docker_label){ "ferry.deployment",
	    s->deployment ? s->deployment : "" };
	labels[4] = (struct docker_label){ "ferry.command", j->idhex };
	nlabels = 5;
	if (via.on) {
		/* What a route to it needs, for the reconciliation. */
		snprintf(porttxt, sizeof(porttxt), "%u", via.port);
		snprintf(listentxt, sizeof(listentxt), "%u", via.listen);
		via_label(&via, proxytxt, sizeof(proxytxt));
		labels[nlabels++] = (struct docker_label){ "ferry.port",
		    porttxt };
		labels[nlabels++] = (struct docker_label){ "ferry.listen",
		    listentxt };
		labels[nlabels++] = (struct docker_label){ "ferry.proxy",
		    proxytxt };
		if (via.nmore > 0) {
			via_more_label(&via, moretxt, sizeof(moretxt));
			labels[nlabels++] = (struct docker_label){
			    "ferry.ports", moretxt };
		}
		if (weighted) {
			snprintf(weighttxt, sizeof(weighttxt), "%u",
			    s->weight);
			labels[nlabels++] = (struct docker_label){
			    "ferry.weight", weighttxt };
		}
	}
	/* The check, for the live probes between deployments (through the
	 * port the swap's own check goes to). */
	rc = livehealth_label(s->health, via.on || s->port == NULL ? 0 :
	    s->port->host, healthtxt, sizeof(healthtxt));
	if (rc == 0)
		labels[nlabels++] = (struct docker_label){ "ferry.health",
		    healthtxt };
	else if (rc != FERR_NOTFOUND)
		progress(j, NULL, "%s r%llu: its health check is too long "
		    "for a label: it is not probed between deployments",
		    s->service, (unsigned long long)s->revision);
	/* Secrets: files on the agent's tmpfs, bound read-only at
	 * /run/secrets; never in the container's Env.  A kept container
	 * gets its files again (a reboot empties the tmpfs). */
	if (s->n_secrets > 0) {
		if (write_secrets(j, d, s, sm.new_name, secrets_bind,
		    sizeof(secrets_bind), err, sizeof(err)) != 0) {
			forget(j, rec, s->service);
			return fail_early(o, "secrets: %s", err);
		}
		binds[0] = secrets_bind;
	}
	env = calloc(s->n_env + 1, sizeof(*env));
	if (env == NULL) {
		forget(j, rec, s->service);
		return fail_early(o, "%s", "out of memory");
	}
	for (i = 0; i < s->n_env; i++) {
		size_t l = strlen(s->env[i]->name) + strlen(s->env[i]->value) + 2;
		if ((env[i] = malloc(l)) == NULL)
			break;
		snprintf(env[i], l, "%s=%s", s->env[i]->name,
		    s->env[i]->value);
	}
	memset(&co, 0, sizeof(co));
	/* The spec's own settings, with ferry's labels first. */
	if (container_opts_fill(&copts, s, labels, nlabels, binds[0], &co,
	    o->why, sizeof(o->why)) != 0) {
		for (i = 0; i < s->n_env; i++)
			free(env[i]);
		free(env);
		container_opts_fini(&copts);
		forget(j, rec, s->service);
		if (o->why[0] == '\0')
			return fail_early(o, "%s", "out of memory");
		o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
		return 0;
	}
	co.name = sm.new_name;
	co.image = s->image;
	co.env = (const char *const *)env;
	co.publish_ip = j->publish;
	if (s->port != NULL) {
		/* Through the proxy the container publishes nothing: the
		 * proxy owns the host port. */
		co.host_port = via.on ? 0 : s->port->host;
		co.container_port = s->port->container;
	}
	if (via.on) {
		/* Nor its other ports: each is a route of the proxy's. */
		co.more_ports = NULL;
		co.nmore_ports = 0;
	}
	/* No restarts while the swap judges it: an exit must be seen. */
	co.restart_policy = "no";
	co.stop_signal = s->stop_signal && s->stop_signal[0] ?
	    s->stop_signal : NULL;
	co.stop_timeout_s = s->stop_timeout_s ? s->stop_timeout_s : 10;
	/* A kept container is judged like a new one: no restarts while the
	 * swap watches it. */
	rc = reusing ? docker_update_restart(d, new_id, "no", err,
	    sizeof(err)) : docker_create(d, &co, new_id, sizeof(new_id), err,
	    sizeof(err));
	for (i = 0; i < s->n_env; i++)
		free(env[i]);
	free(env);
	container_opts_fini(&copts);
	if (rc != 0) {
		forget(j, rec, s->service);
		return fail_early(o, "%s", err);
	}
	move(&sm, SWI_CREATED, new_id, 0);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	progress(j, NULL, "%s r%llu: %s %s", s->service,
	    (unsigned long long)s->revision, reusing ? "starting the kept" :
	    "created", sm.new_name);

	if (sm.order == SWAPSM_STOP_FIRST && sm.old_id[0] != '\0') {
		if (via.on && !legacy) {
			/* New requests wait in the proxy while the old one
			 * drains and stops and the new one comes up. */
			addr_of(d, sm.old_id, old_addr, sizeof(old_addr));
			if (via_route(j, d, &via, 1, NULL, 0, err,
			    sizeof(err)) != 0) {
				snprintf(o->why, sizeof(o->why), "%s", err);
				fail_new(d, sm.new_id, NULL);
				goto revert;
			}
			progress(j, NULL, "%s: holding new requests",
			    s->service);
			via_drain(j, &via, old_addr, old_rev);
		}
		if (docker_stop(d, sm.old_id, old_stop_s, err,
		    sizeof(err)) != 0) {
			snprintf(o->why, sizeof(o->why), "stopping revision "
			    "%llu: %s", (unsigned long long)old_rev, err);
			fail_new(d, sm.new_id, NULL);
			goto revert;
		}
		move(&sm, SWI_OLD_STOPPED, NULL, 0);
		if (record(j, rec, &row, &sm, o) != 0)
			goto unrecorded;
		if (via.on)
			progress(j, NULL, "%s: stopped r%llu", s->service,
			    (unsigned long long)old_rev);
	}
	if (docker_start(d, sm.new_id, err, sizeof(err)) != 0) {
		snprintf(o->why, sizeof(o->why), "%s", err);
		fail_new(d, sm.new_id, &o->logs);
		goto revert;
	}
	move(&sm, SWI_NEW_STARTED, NULL, 0);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	progress(j, NULL, "%s r%llu: started, checking health", s->service,
	    (unsigned long long)s->revision);

	/* Through the proxy the check goes to the container's own address,
	 * as it does with no host port. */
	v = watch(j, d, sm.new_id, s->revision, s->health, via.on ? 0 :
	    co.host_port, o->why, sizeof(o->why), o->out, sizeof(o->out),
	    &exit_code);
	if (v == HEALTH_WAIT) {		/* shutting down: the journal stays */
		j->aborted = 1;
		return 0;
	}
	if (v == HEALTH_FAILED) {
		o->res.exit_code = exit_code;
		back_out(j, d, rec, &sm, &via, s->service, old_rev, o);
		return 0;
	}

	/* Healthy: the traffic moves, then only tidying is left. */
	move(&sm, SWI_HEALTHY, NULL, 0);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	progress(j, NULL, "%s r%llu: passed its health check", s->service,
	    (unsigned long long)s->revision);
	if (via.on) {
		struct via_to to[2] = {
			{ sm.new_id, s->revision, 100, NULL },
			{ sm.old_id, old_rev, 0, NULL },
		};

		if (sm.order == SWAPSM_START_FIRST && sm.old_id[0] != '\0')
			addr_of(d, sm.old_id, old_addr, sizeof(old_addr));
		if (weighted) {
			to[0].weight = s->weight;
			to[1].weight = 100 - s->weight;
		}
		if (via_route(j, d, &via, 0, to, weighted ? 2 : 1, err,
		    sizeof(err)) != 0) {
			snprintf(o->why, sizeof(o->why), "%s", err);
			back_out(j, d, rec, &sm, &via, s->service, old_rev, o);
			return 0;
		}
		switched_now(o);
		if (weighted)
			progress(j, NULL, "%s: r%llu gets %u%% of new traffic, "
			    "r%llu %u%%", s->service,
			    (unsigned long long)s->revision, s->weight,
			    (unsigned long long)old_rev, 100 - s->weight);
		else
			progress(j, NULL, "%s: switched traffic to r%llu",
			    s->service, (unsigned long long)s->revision);
	}
	if (weighted) {
		move(&sm, SWI_SHARED, NULL, 0);
	} else {
		if (sm.old_id[0] != '\0' && sm.order == SWAPSM_START_FIRST) {
			if (via.on)
				via_drain(j, &via, old_addr, old_rev);
			docker_stop(d, sm.old_id, old_stop_s, err,
			    sizeof(err));
			if (via.on)
				progress(j, NULL, "%s: stopped r%llu",
				    s->service, (unsigned long long)old_rev);
		}
		/* A recreated container's old self is not a revision to
		 * keep for a way back: it goes (the kept window stays the
		 * revisions before). */
		if (recreating && sm.old_id[0] != '\0') {
			if (sm.order == SWAPSM_STOP_FIRST)
				docker_stop(d, sm.old_id, co.stop_timeout_s,
				    err, sizeof(err));
			if (docker_remove(d, sm.old_id, 1, err,
			    sizeof(err)) == 0)
				progress(j, NULL, "%s r%llu: removed its old "
				    "container", s->service,
				    (unsigned long long)s->revision);
		}
		move(&sm, SWI_TIDIED, NULL, 0);
	}
	settle_restart(d, sm.new_id, err, sizeof(err));
	prune(j, d, s->service, sm.new_id, j->keep);
	forget(j, rec, s->service);
	swapped(o, s->revision, old_rev, sm.new_id, s->image);
	if (weighted) {
		beside_of(o, s->weight);
		snprintf(o->why, sizeof(o->why), "revision %llu runs beside "
		    "revision %llu with %u%% of new traffic",
		    (unsigned long long)s->revision,
		    (unsigned long long)old_rev, s->weight);
	}
	return 1;

unrecorded:
	/* The journal is a step behind: undo what the swap did so far. */
	switch (sm.state) {
	case SWAPSM_BEGIN:		/* nothing made, no row */
		o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
		return 0;
	case SWAPSM_CREATED:		/* the new one exists */
	case SWAPSM_STOPPED:		/* ... and the old one is stopped */
		fail_new(d, sm.new_id, NULL);
		goto revert;
	case SWAPSM_STARTED:		/* the new one runs */
	case SWAPSM_HEALTHY:
		back_out(j, d, rec, &sm, &via, s->service, old_rev, o);
		return 0;
	case SWAPSM_DONE:
	case SWAPSM_REVERTED:
		break;
	}
	assert(!"a swap records only the states its journal holds");
	return 0;

revert:
	put_back(j, d, rec, &sm, &via, s->service, old_rev, o);
	set_reverted(o, sm.old_id[0] != '\0', old_rev, sm.old_id);
	return 0;
}

/* ---- Rollback: the kept revision comes back ---------------------------- */

static int
do_rollback(struct job *j, struct docker *d, struct records *rec,
    const Ferry__Rollback *rb, struct swap_out *o)
{
	struct docker_state *cs = NULL;
	const struct docker_state *cur, *kept = NULL, *beside = NULL;
	struct journal row;
	struct swapsm sm;
	struct via via;
	enum health_verdict v;
	char err[400], cur_addr[64] = "";
	uint64_t cur_rev;
	uint32_t cur_stop_s = 10;	/* the one that runs stops as its
					 * own spec said */
	size_t n, i;
	int rc, exit_code = -1;
	enum swapsm_order order = SWAPSM_STOP_FIRST;

	o->res.service = (char *)rb->service;
	via_init(&via, j, rb->service, rb->port, NULL, 0, rb->health,
	    rb->proxy);
	if (via.on && via_check(j, &via, err, sizeof(err)) != 0)
		return fail_early(o, "%s", err);
	if (service_containers(j, d, rb->service, &cs, &n, err,
	    sizeof(err)) != 0)
		return fail_early(o, "%s", err);
	cur = running_of(cs, n);
	cur_rev = cur != NULL ? rev_of(cur) : 0;
	for (i = 0; cur != NULL && i < n; i++)
		if (cs[i].running && &cs[i] != cur)
			beside = &cs[i];
	if (via.on && beside != NULL) {
		/* A weighted swap rolled back: the older revision runs
		 * already; it takes all traffic and the newer one goes. */
		uint64_t brev = rev_of(beside);

		/* Its host ports: those it was made with. */
		via_ports_from(&via, beside);
		snprintf(cur_addr, sizeof(cur_addr), "%s", cur->ip);
		if (via_only(j, d, &via, beside->id, brev, err,
		    sizeof(err)) != 0) {
			free(cs);
			return fail_early(o, "%s", err);
		}
		switched_now(o);
		progress(j, NULL, "%s: switched traffic to r%llu",
		    rb->service, (unsigned long long)brev);
		via_drain(j, &via, cur_addr, cur_rev);
		docker_stop(d, cur->id, 10, err, sizeof(err));
		docker_update_restart(d, cur->id, "no", err, sizeof(err));
		progress(j, NULL, "%s: stopped r%llu", rb->service,
		    (unsigned long long)cur_rev);
		swapped(o, brev, cur_rev, beside->id, beside->image);
		free(cs);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!cs[i].running && (cur == NULL || rev_of(&cs[i]) !=
		    cur_rev) && (kept == NULL || rev_of(&cs[i]) >
		    rev_of(kept)))
			kept = &cs[i];
	if (kept == NULL) {
		free(cs);
		return fail_early(o, "no kept revision of %s on this host",
		    rb->service);
	}
	if (via.on && (kept->published != 0 || kept->port == 0)) {
		/* Made before the proxy: it publishes the host port itself,
		 * so the proxy lets go of it and the rollback goes as it
		 * did before there was one. */
		progress(j, NULL, "%s: r%llu was made before ferry-proxy and "
		    "publishes the host port itself: the proxy lets go of "
		    "the port", rb->service,
		    (unsigned long long)rev_of(kept));
		if (proxyctl_remove(j->proxy_ctl, rb->service, err,
		    sizeof(err)) != 0) {
			free(cs);
			return fail_early(o, "%s", err);
		}
		via.on = 0;
	}
	if (via.on)
		via_ports_from(&via, kept);	/* the ports it was made with */
	if (via.on && cur != NULL)
		order = SWAPSM_START_FIRST;	/* the kept one starts beside */
	rc = swapsm_init(&sm, SWAPSM_ROLLBACK, order, cur != NULL ?
	    cur->id : "", kept->id, kept->name);
	row_init(&row, j, rb->service, rev_of(kept));
	snprintf(o->image, sizeof(o->image), "%s", kept->image);
	if (cur != NULL && cur->stop_timeout_s > 0)
		cur_stop_s = cur->stop_timeout_s;
	free(cs);
	cs = NULL;
	cur = kept = beside = NULL;
	if (rc != 0)
		return fail_early(o, "refused: a container id or name of %s "
		    "is too long", rb->service);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	progress(j, NULL, "%s: rolling back from r%llu to r%llu", rb->service,
	    (unsigned long long)cur_rev, (unsigned long long)row.revision);
	if (sm.old_id[0] != '\0' && sm.order == SWAPSM_STOP_FIRST) {
		docker_stop(d, sm.old_id, cur_stop_s, err, sizeof(err));
		move(&sm, SWI_OLD_STOPPED, NULL, 0);
		if (record(j, rec, &row, &sm, o) != 0)
			goto unrecorded;
	}
	if (docker_start(d, sm.new_id, err, sizeof(err)) != 0) {
		snprintf(o->why, sizeof(o->why), "%s", err);
		goto revert;
	}
	move(&sm, SWI_NEW_STARTED, NULL, 0);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	v = watch(j, d, sm.new_id, row.revision, rb->health, via.on ? 0 :
	    rb->port ? rb->port->host : 0, o->why, sizeof(o->why), o->out,
	    sizeof(o->out), &exit_code);
	if (v == HEALTH_WAIT) {
		j->aborted = 1;
		return 0;
	}
	if (v == HEALTH_FAILED) {
		o->res.exit_code = exit_code;
		docker_logs(d, sm.new_id, LOG_TAIL, &o->logs, err,
		    sizeof(err));
		docker_stop(d, sm.new_id, 5, err, sizeof(err));
		goto revert;
	}
	move(&sm, SWI_HEALTHY, NULL, 0);
	if (record(j, rec, &row, &sm, o) != 0)
		goto unrecorded;
	if (via.on) {
		addr_of(d, sm.old_id, cur_addr, sizeof(cur_addr));
		if (via_only(j, d, &via, sm.new_id, row.revision, err,
		    sizeof(err)) != 0) {
			snprintf(o->why, sizeof(o->why), "%s", err);
			docker_stop(d, sm.new_id, 5, err, sizeof(err));
			goto revert;
		}
		progress(j, NULL, "%s: switched traffic to r%llu",
		    rb->service, (unsigned long long)row.revision);
		if (sm.old_id[0] != '\0') {
			via_drain(j, &via, cur_addr, cur_rev);
			docker_stop(d, sm.old_id, cur_stop_s, err,
			    sizeof(err));
			progress(j, NULL, "%s: stopped r%llu", rb->service,
			    (unsigned long long)cur_rev);
		}
	}
	settle_restart(d, sm.new_id, err, sizeof(err));
	if (sm.old_id[0] != '\0')
		docker_update_restart(d, sm.old_id, "no", err, sizeof(err));
	move(&sm, SWI_TIDIED, NULL, 0);
	prune(j, d, rb->service, sm.new_id, j->keep);
	forget(j, rec, rb->service);
	swapped(o, row.revision, cur_rev, sm.new_id, NULL);
	return 1;

unrecorded:
	/* The journal is a step behind: undo what the rollback did so far
	 * (its kept container stays, stopped, as it was). */
	switch (sm.state) {
	case SWAPSM_CREATED:		/* nothing changed, no row */
		o->res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
		return 0;
	case SWAPSM_STOPPED:		/* the old one is stopped */
		goto revert;
	case SWAPSM_STARTED:		/* the kept one runs */
	case SWAPSM_HEALTHY:
		docker_stop(d, sm.new_id, 5, err, sizeof(err));
		goto revert;
	case SWAPSM_BEGIN:
	case SWAPSM_DONE:
	case SWAPSM_REVERTED:
		break;
	}
	assert(!"a rollback records only the states its journal holds");
	return 0;

revert:
	put_back(j, d, rec, &sm, &via, rb->service, cur_rev, o);
	o->res.outcome = sm.old_id[0] != '\0' ?
	    FERRY__SWAP_RESULT__OUTCOME__REVERTED :
	    FERRY__SWAP_RESULT__OUTCOME__FAILED;
	o->res.revision = cur_rev;
	snprintf(o->cid, sizeof(o->cid), "%s", sm.old_id);
	return 0;
}

/* ---- Remove ------------------------------------------------------------- */

static int
do_remove(struct job *j, struct docker *d, const Ferry__Remove *rm,
    struct swap_out *o)
{
	struct docker_state *cs;
	char err[400];
	size_t n, i;
	int ok = 1, rc;

	o->res.service = (char *)rm->service;
	/* The route first: the proxy stops taking requests for the service
	 * and lets the ones in flight finish before the containers go. */
	if (j->proxy_ctl[0] != '\0' && (rc = proxyctl_remove(j->proxy_ctl,
	    rm->service, err, sizeof(err))) != 0) {
		/* A proxy that does not answer serves nothing now; one that
		 * said no keeps the service as it is. */
		if (rc != FERR_IO)
			return fail_early(o, "%s", err);
		progress(j, NULL, "%s: %s; removing the containers anyway",
		    rm->service, err);
	}
	if (service_containers(j, d, rm->service, &cs, &n, err,
	    sizeof(err)) != 0)
		return fail_early(o, "%s", err);
	for (i = 0; i < n; i++) {
		if (docker_stop(d, cs[i].id, 10, err, sizeof(err)) != 0 ||
		    docker_remove(d, cs[i].id, 1, err, sizeof(err)) != 0) {
			snprintf(o->why, sizeof(o->why), "%s", err);
			ok = 0;
		}
	}
	free(cs);
	o->res.outcome = ok ? FERRY__SWAP_RESULT__OUTCOME__REMOVED :
	    FERRY__SWAP_RESULT__OUTCOME__FAILED;
	return ok;
}

/* ---- Stop: the service's containers stopped, kept ------------------------ */

/*
 * do_stop takes the service's route off the proxy (requests in flight
 * finish; new connections are refused, as nothing listens) and stops its
 * containers, which are kept: `ferry start` (a Swap of the same revision)
 * starts the kept one again.  Their restart policy is set to "no" first,
 * so Docker does not bring them back either.
 */
static int
do_stop(struct job *j, struct docker *d, const Ferry__Lifecycle *lc,
    struct swap_out *o)
{
	struct docker_state *cs;
	char err[400];
	size_t n, i, stopped = 0;
	int ok = 1, rc;

	o->res.service = (char *)lc->service;
	if (lc->op != FERRY__LIFECYCLE__OP__STOP)
		return fail_early(o, "refused: unknown life cycle operation "
		    "%d", (int)lc->op);
	if (j->proxy_ctl[0] != '\0' && (rc = proxyctl_remove(j->proxy_ctl,
	    lc->service, err, sizeof(err))) != 0) {
		if (rc != FERR_IO)
			return fail_early(o, "%s", err);
		progress(j, NULL, "%s: %s; stopping the containers anyway",
		    lc->service, err);
	}
	if (service_containers(j, d, lc->service, &cs, &n, err,
	    sizeof(err)) != 0)
		return fail_early(o, "%s", err);
	for (i = 0; i < n; i++) {
		docker_update_restart(d, cs[i].id, "no", err, sizeof(err));
		if (!cs[i].running)
			continue;
		if (docker_stop(d, cs[i].id, lc->stop_timeout_s ?
		    lc->stop_timeout_s : 10, err, sizeof(err)) != 0) {
			snprintf(o->why, sizeof(o->why), "%s", err);
			ok = 0;
			continue;
		}
		stopped++;
		progress(j, NULL, "%s: stopped r%s (%s), kept", lc->service,
		    cs[i].revision, cs[i].name);
	}
	free(cs);
	if (ok)
		snprintf(o->why, sizeof(o->why), "%zu container(s) of %s "
		    "stopped and kept", stopped, lc->service);
	o->res.outcome = ok ? FERRY__SWAP_RESULT__OUTCOME__REMOVED :
	    FERRY__SWAP_RESULT__OUTCOME__FAILED;
	return ok;
}

/* do_drain drains or undrains the whole proxy. */
static int
do_drain(struct job *j, const Ferry__Drain *dr, char *why, size_t len)
{
	char err[400];

	if (j->proxy_ctl[0] == '\0') {
		snprintf(why, len, "this agent runs no ferry-proxy "
		    "(proxy_control is empty): nothing to drain");
		return 0;
	}
	if (proxyctl_drain(j->proxy_ctl, dr->drained, err, sizeof(err)) != 0) {
		snprintf(why, len, "%s", err);
		return 0;
	}
	snprintf(why, len, "ferry-proxy %s", dr->drained ? "drained: no new "
	    "connections on any route" : "takes new connections again");
	log_info("%s", why);
	return 1;
}

/* ---- the job: run on a worker, finish on the loop ----------------------- */

static void
pack_final(struct job *j, Ferry__Report *r)
{
	size_t n = ferry__report__get_packed_size(r);

	if ((j->report = malloc(n + 1)) == NULL)
		return;
	ferry__report__pack(r, j->report);
	j->report_len = n;
}

/* swap_result points r's swap result at what o holds. */
static void
swap_result(Ferry__Report *r, struct swap_out *o)
{
	o->res.reason = o->why;
	o->res.health_output = o->out;
	o->res.logs = o->logs ? o->logs : "";
	o->res.container_id = o->cid;
	o->res.image = o->image;
	r->result_case = FERRY__REPORT__RESULT_SWAP;
	r->swap = &o->res;
}

/* ---- reconciliation: after a restart, finish or revert ------------------ */

struct recon {
	struct job *j;
	struct docker *d;
	struct records *rec;
	int failed;
	int settled;
	char err[400];
};

static void
recon_failed(struct recon *rc, const struct journal *jr, const char *err)
{
	rc->failed = 1;
	snprintf(rc->err, sizeof(rc->err), "the interrupted %s of %.100s to "
	    "revision %llu (step %s) could not be settled: %.150s", jr->kind,
	    jr->service, (unsigned long long)jr->revision, jr->step, err);
}

/* recon_forget drops the row of a swap settled; when it cannot, the
 * settling failed (the next reconciliation settles the row again). */
static int
recon_forget(struct recon *rc, const struct journal *jr)
{
	char err[200];
	int e;

	if ((e = records_journal_del(rc->rec, jr->service)) == 0)
		return 0;
	snprintf(err, sizeof(err), "cannot remove its journal row: %s",
	    ferr_str(e));
	recon_failed(rc, jr, err);
	return e;
}

/* recon_finish finishes a swap whose new container had passed its health
 * check: the old one stops (one that still runs fails the settling), the
 * new one restarts by itself from now on, revisions beyond keep go. */
static int
recon_finish(struct recon *rc, const struct journal *jr, const char *newid)
{
	struct docker_state st, nst;
	struct via via;
	char err[400], old_addr[64] = "";

	/* Through the proxy: the route goes to the new one first (split,
	 * when the swap was weighted), and the old one drains. */
	if (docker_inspect(rc->d, newid, &nst, err, sizeof(err)) == 0 &&
	    nst.running && via_from_label(&via, rc->j, &nst) == 0) {
		struct via_to to[2] = {
			{ newid, jr->revision, 100, NULL },
			{ jr->old_id, 0, 0, NULL },
		};
		int beside = nst.weighted && jr->old_id[0] != '\0' &&
		    docker_inspect(rc->d, jr->old_id, &st, err,
		    sizeof(err)) == 0 && st.running;

		if (beside) {
			to[0].weight = nst.weight;
			to[1].revision = strtoull(st.revision, NULL, 10);
			to[1].weight = 100 - nst.weight;
		} else {
			addr_of(rc->d, jr->old_id, old_addr,
			    sizeof(old_addr));
		}
		if (via_route(rc->j, rc->d, &via, 0, to, beside ? 2 : 1, err,
		    sizeof(err)) != 0) {
			recon_failed(rc, jr, err);
			return FERR_STATE;
		}
		if (beside) {
			settle_restart(rc->d, newid, err, sizeof(err));
			return 0;
		}
		via_drain(rc->j, &via, old_addr, 0);
	}
	if (jr->old_id[0] && strcmp(jr->old_id, jr->new_id) != 0 &&
	    docker_stop(rc->d, jr->old_id, 10, err, sizeof(err)) != 0 &&
	    docker_inspect(rc->d, jr->old_id, &st, err, sizeof(err)) == 0 &&
	    st.running) {
		recon_failed(rc, jr, err);
		return FERR_DOCKER;
	}
	settle_restart(rc->d, newid, err, sizeof(err));
	prune(rc->j, rc->d, jr->service, jr->new_id, jr->keep);
	return 0;
}

/* recon_revert reverts one that had not passed: the new container stops
 * (a swap's goes too; a rollback's is a kept one and stays, stopped) and
 * the old one runs again. */
static int
recon_revert(struct recon *rc, const struct journal *jr,
    enum swapsm_kind kind, const char *newid)
{
	struct docker_state st;
	char err[400];

	docker_stop(rc->d, newid, 5, err, sizeof(err));
	switch (kind) {
	case SWAPSM_SWAP:
		if (docker_remove(rc->d, newid, 1, err, sizeof(err)) != 0) {
			recon_failed(rc, jr, err);
			return FERR_DOCKER;
		}
		break;
	case SWAPSM_ROLLBACK:
		break;
	}
	if (jr->old_id[0] && docker_inspect(rc->d, jr->old_id, &st, err,
	    sizeof(err)) == 0 && !st.running &&
	    docker_start(rc->d, jr->old_id, err, sizeof(err)) != 0) {
		recon_failed(rc, jr, err);
		return FERR_DOCKER;
	}
	return 0;
}

/* recon_one settles one swap an earlier run left in the journal: one that
 * had passed its health check is finished, any other is reverted, so that
 * exactly one revision of the service runs; the command's record gets the
 * final report that says which.  A row whose step or kind this agent does
 * not know is left as it is, and the reconciliation fails saying so:
 * guessing could stop or remove the wrong container. */
static void
recon_one(struct recon *rc, const struct journal *jr)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	Ferry__SwapResult res = FERRY__SWAP_RESULT__INIT;
	struct record old;
	enum swapsm_state state;
	enum swapsm_kind kind;
	char why[600], newid[160], idhex[33];
	const char *outcome = NULL;
	uint8_t *buf;
	size_t n;
	uint64_t seq = 0;
	int recorded = 0;

	if (swapsm_parse_step(jr->step, &state) != 0 ||
	    swapsm_parse_kind(jr->kind, &kind) != 0) {
		recon_failed(rc, jr, "this agent does not know its step or "
		    "kind; left as it is");
		return;
	}
	sodium_bin2hex(idhex, sizeof(idhex), jr->command_id, jr->id_len < 16 ?
	    jr->id_len : 16);
	/* A result already recorded (a failed swap reports before removing
	 * its failed container: report_early) stands; only the tidying
	 * was left. */
	if (records_get(rc->rec, jr->command_id, jr->id_len, &old) == 0) {
		seq = old.seq;
		recorded = strcmp(old.state, "accepted") != 0;
		free(old.report);
	}
	/* Without a new id yet, the container may still exist by name. */
	snprintf(newid, sizeof(newid), "%s", jr->new_id[0] ? jr->new_id :
	    jr->new_name);
	switch (state) {
	case SWAPSM_HEALTHY:		/* health passed: finish */
		if (recon_finish(rc, jr, newid) != 0)
			return;
		snprintf(why, sizeof(why), "ferry-agent restarted after "
		    "revision %llu of %s passed its health check; swap "
		    "finished", (unsigned long long)jr->revision, jr->service);
		res.outcome = FERRY__SWAP_RESULT__OUTCOME__SWAPPED;
		res.revision = jr->revision;
		res.container_id = (char *)jr->new_id;
		r.status = FERRY__REPORT__STATUS__SUCCEEDED;
		outcome = "succeeded";
		break;
	case SWAPSM_BEGIN:		/* anything short of it: revert */
	case SWAPSM_CREATED:
	case SWAPSM_STOPPED:
	case SWAPSM_STARTED:
		if (recon_revert(rc, jr, kind, newid) != 0)
			return;
		if (recorded) {
			if (recon_forget(rc, jr) != 0)
				return;
			rc->settled++;	/* its result may not be acked yet */
			log_info("command %.12s: ferry-agent was restarted "
			    "while tidying after the failed %s of %s to "
			    "revision %llu; tidied, its result stands", idhex,
			    jr->kind, jr->service,
			    (unsigned long long)jr->revision);
			return;
		}
		snprintf(why, sizeof(why), "ferry-agent was restarted during "
		    "the %s of %s to revision %llu (step %s); reverted",
		    jr->kind, jr->service, (unsigned long long)jr->revision,
		    jr->step);
		res.outcome = jr->old_id[0] ?
		    FERRY__SWAP_RESULT__OUTCOME__REVERTED :
		    FERRY__SWAP_RESULT__OUTCOME__FAILED;
		res.container_id = (char *)jr->old_id;
		r.status = FERRY__REPORT__STATUS__FAILED;
		outcome = "failed";
		break;
	case SWAPSM_DONE:		/* never journalled */
	case SWAPSM_REVERTED:
		recon_failed(rc, jr, "not a step the journal holds");
		return;
	}
	res.service = (char *)jr->service;
	res.reason = why;
	res.exit_code = -1;
	r.command_id.data = (uint8_t *)jr->command_id;
	r.command_id.len = jr->id_len;
	r.sequence = seq;
	r.message = why;
	r.sent_at_ms = clock_wall_ms();
	r.result_case = FERRY__REPORT__RESULT_SWAP;
	r.swap = &res;
	n = ferry__report__get_packed_size(&r);
	if ((buf = malloc(n + 1)) == NULL) {
		recon_failed(rc, jr, "out of memory");
		return;
	}
	ferry__report__pack(&r, buf);
	if (records_finish(rc->rec, jr->command_id, jr->id_len, outcome, buf,
	    n) != 0 && jr->id_len > 0) {
		free(buf);
		recon_failed(rc, jr, "cannot record the result");
		return;
	}
	free(buf);
	rc->settled++;
	log_info("command %.12s: %s", idhex, why);
	recon_forget(rc, jr);
}

/* An interrupted command without a journal row: it changed nothing that
 * needs undoing, so it ends as failed, saying why. */
#define INTERRUPTED_MAX 64
struct interrupted {
	uint8_t id[16];
	size_t id_len;
	uint64_t seq;
	char kind[16];
};

struct interrupted_list {
	struct interrupted it[INTERRUPTED_MAX];
	size_t n;
};

static void
on_interrupted(void *arg, const uint8_t *id, size_t id_len, uint64_t seq,
    const char *kind)
{
	struct interrupted_list *l = arg;
	struct interrupted *it;

	if (l->n >= INTERRUPTED_MAX || id_len > sizeof(it->id))
		return;
	it = &l->it[l->n++];
	memcpy(it->id, id, id_len);
	it->id_len = id_len;
	it->seq = seq;
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
}

static void
recon_interrupted(struct recon *rc)
{
	struct interrupted_list l;
	size_t i, n;
	char why[300], idhex[33];
	uint8_t *buf;

	l.n = 0;
	if (records_interrupted(rc->rec, rc->j->start_seq, on_interrupted,
	    &l) != 0)
		return;
	for (i = 0; i < l.n; i++) {
		const struct interrupted *it = &l.it[i];
		Ferry__Report r = FERRY__REPORT__INIT;
		Ferry__SwapResult res = FERRY__SWAP_RESULT__INIT;
		int changes = strcmp(it->kind, "swap") == 0 ||
		    strcmp(it->kind, "rollback") == 0;

		sodium_bin2hex(idhex, sizeof(idhex), it->id, it->id_len < 16 ?
		    it->id_len : 16);
		snprintf(why, sizeof(why), "ferry-agent was restarted before "
		    "the %s command finished%s; run it again", it->kind,
		    changes ? ", before it changed anything" : "");
		r.command_id.data = (uint8_t *)it->id;
		r.command_id.len = it->id_len;
		r.sequence = it->seq;
		r.status = FERRY__REPORT__STATUS__FAILED;
		r.message = why;
		r.sent_at_ms = clock_wall_ms();
		if (changes || strcmp(it->kind, "remove") == 0) {
			res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
			res.reason = why;
			res.exit_code = -1;
			r.result_case = FERRY__REPORT__RESULT_SWAP;
			r.swap = &res;
		}
		n = ferry__report__get_packed_size(&r);
		if ((buf = malloc(n + 1)) == NULL)
			return;
		ferry__report__pack(&r, buf);
		if (records_finish(rc->rec, it->id, it->id_len, "failed", buf,
		    n) == 0) {
			rc->settled++;
			log_info("command %.12s seq %llu: %s", idhex,
			    (unsigned long long)it->seq, why);
		}
		free(buf);
	}
}

/* The journal's rows, read before any is settled. */
struct journal_rows {
	struct journal *rows;
	size_t n;
	int failed;
};

static void
journal_collect(void *arg, const struct journal *jr)
{
	struct journal_rows *l = arg;
	struct journal *p;

	if ((p = realloc(l->rows, (l->n + 1) * sizeof(*p))) == NULL) {
		l->failed = 1;
		return;
	}
	l->rows = p;
	l->rows[l->n++] = *jr;
}

/* route_is: 1 when route r (one of v's host ports) sends to exactly the
 * containers to[0..nt) (their ip), at that port's container port. */
static int
route_is(const struct via *v, const struct proxyctl_route *r,
    const struct via_to *to, size_t nt)
{
	size_t i, k, live = 0, same = 0;
	uint32_t listen, port = 0, p;

	for (k = 0; k < via_nports(v); k++) {
		via_port(v, k, &listen, &p);
		if (listen == r->listen_port) {
			port = p;
			if (r->mode != via_mode(v, k))
				return 0;
		}
	}
	for (i = 0; i < r->ntargets; i++) {
		if (r->targets[i].draining)
			continue;
		live++;
		for (k = 0; k < nt; k++)
			if (strcmp(r->targets[i].address, to[k].ip) == 0 &&
			    r->targets[i].port == port)
				same++;
	}
	return live == nt && same == nt;
}

/*
 * recon_routes makes every route of this host's proxy match what runs,
 * once the journal is settled: for each service whose running containers
 * are served by the proxy (their labels say so), the route points at
 * them (two, weighted, after a weighted swap), holding nothing.  A route
 * already right is left as it is (a proxy restarted from its routes file
 * is).  A failure is logged, never fatal: the swaps that need the proxy
 * fail by themselves, with the proxy's error.
 */
static void
recon_routes(struct recon *rc)
{
	struct docker_state *cs = NULL;
	char err[400];
	size_t n = 0, i, k;

	if (rc->j->proxy_ctl[0] == '\0')
		return;
	if (docker_list_host(rc->d, rc->j->host, &cs, &n, err,
	    sizeof(err)) != 0) {
		log_warnx("ferry-proxy routes: %s", err);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct docker_state *a = &cs[i], *b = NULL;
		struct proxyctl_route rs[PROXYCTL_PORTS_MAX];
		const struct proxyctl_route *rp;
		struct via via;
		struct via_to to[2];
		size_t nt = 0, t, nr, r;
		int first = 1, have;

		if (!a->running || via_from_label(&via, rc->j, a) != 0)
			continue;
		/* One pass per service: at its first running container. */
		for (k = 0; k < i; k++)
			if (cs[k].running && strcmp(cs[k].service,
			    a->service) == 0)
				first = 0;
		if (!first)
			continue;
		for (k = i + 1; k < n; k++)
			if (cs[k].running && strcmp(cs[k].service,
			    a->service) == 0 && cs[k].port != 0 &&
			    cs[k].published == 0)
				b = &cs[k];
		if (b != NULL && rev_of(b) > rev_of(a)) {
			const struct docker_state *x = a;

			a = b;
			b = x;
		}
		/* a: the newest; b: the one beside it, if any. */
		to[nt++] = (struct via_to){ a->id, rev_of(a), 100, a->ip };
		if (b != NULL) {
			/* The weights the route had are kept (below); from
			 * the labels only when the proxy lost the route. */
			to[0].weight = a->weighted ? a->weight : 50;
			to[nt++] = (struct via_to){ b->id, rev_of(b),
			    100 - to[0].weight, b->ip };
		}
		/* The newest one's ports (and settings) are the routes'. */
		via_from_label(&via, rc->j, a);
		have = via_get(rc->j, &via, rs, &nr, &rp, err, sizeof(err));
		if (have != 0) {
			log_warnx("ferry-proxy routes: %s", err);
			break;
		}
		if (rp != NULL && via_ports_are(&via, rs, nr)) {
			int right = 1;

			for (r = 0; r < nr; r++)
				right &= route_is(&via, &rs[r], to, nt);
			/* Keep the weights it has. */
			for (t = 0; t < rp->ntargets; t++)
				for (k = 0; k < nt; k++)
					if (!rp->targets[t].draining &&
					    strcmp(rp->targets[t].address,
					    to[k].ip) == 0)
						to[k].weight =
						    rp->targets[t].weight;
			if (right)
				continue;	/* already right */
		}
		if (via_route(rc->j, rc->d, &via, 0, to, nt, err,
		    sizeof(err)) != 0)
			log_warnx("ferry-proxy routes: %s", err);
		else
			log_info("%s: route set to r%llu%s on port %u%s (it "
			    "was %s)", a->service,
			    (unsigned long long)rev_of(a), b != NULL ?
			    " and the revision beside it" : "", via.listen,
			    via.nmore > 0 ? " and its other ports" : "",
			    rp != NULL ? "not what runs" : "missing");
	}
	free(cs);
}

static void
reconcile(struct job *j)
{
	struct recon rc = { j, NULL, NULL, 0, 0, "" };
	struct journal_rows jl = { NULL, 0, 0 };
	char version[64], err[400];
	size_t i;

	j->ok = 0;
	snprintf(j->why, sizeof(j->why), "cannot open the records or the "
	    "Docker client");
	if (docker_open(&rc.d, j->socket) != 0 ||
	    records_open(&rc.rec, j->db) != 0)
		goto out;
	/* Commands an earlier run accepted and never finished, outside any
	 * swap's journal, need no Docker to get their result. */
	recon_interrupted(&rc);
	if (docker_check(rc.d, version, sizeof(version), err,
	    sizeof(err)) != 0) {
		snprintf(j->why, sizeof(j->why), "Docker does not answer: "
		    "%.350s", err);
		goto out;
	}
	/* Read whole before any is settled: a write made while the journal
	 * is still being read can fail (seen: the row's delete, once the
	 * loop's connection had written since the read began). */
	snprintf(j->why, sizeof(j->why), "cannot read the swap journal");
	if (records_journal_list(rc.rec, journal_collect, &jl) != 0 ||
	    jl.failed)
		goto out;
	for (i = 0; i < jl.n; i++)
		recon_one(&rc, &jl.rows[i]);
	/* Whatever state each swap was in, the routes end pointing at what
	 * runs now. */
	recon_routes(&rc);
	/* Secret files of containers removed while the agent was away. */
	sweep_secrets(j, rc.d);
	j->ok = !rc.failed;
	snprintf(j->why, sizeof(j->why), "%s", rc.err);
out:
	free(jl.rows);
	j->settled = rc.settled;
	records_close(rc.rec);
	docker_close(rc.d);
}

/* pull_sealed opens the registry login sealed to this host and pulls
 * with it; the opened login is wiped. */
static int
pull_sealed(struct job *j, struct docker *d, const Ferry__Pull *p,
    char *err, size_t errlen)
{
	Ferry__RegistryAuth *a;
	uint8_t *v;
	size_t n;
	int rc;

	if (p->sealed_auth.len < crypto_box_SEALBYTES) {
		snprintf(err, errlen, "pull %s: the registry login is "
		    "malformed", p->image);
		return FERR_MALFORMED;
	}
	n = p->sealed_auth.len - crypto_box_SEALBYTES;
	if ((v = sodium_malloc(n + 1)) == NULL)
		return FERR_NOMEM;
	if (crypto_box_seal_open(v, p->sealed_auth.data, p->sealed_auth.len,
	    j->xpk, j->xsk) != 0 ||
	    (a = ferry__registry_auth__unpack(NULL, n, v)) == NULL) {
		sodium_free(v);
		snprintf(err, errlen, "pull %s: the registry login does not "
		    "open with this host's key", p->image);
		return FERR_MALFORMED;
	}
	sodium_free(v);
	rc = docker_pull(d, p->image, a->username, a->password, err, errlen);
	if (a->password != NULL)
		sodium_memzero(a->password, strlen(a->password));
	ferry__registry_auth__free_unpacked(a, NULL);
	return rc;
}

static void
job_run(uv_work_t *w)
{
	struct job *j = w->data;
	const Ferry__Command *c = j->cmd;
	Ferry__Report r = FERRY__REPORT__INIT;
	Ferry__PullResult pr = FERRY__PULL_RESULT__INIT;
	Ferry__InventoryResult ir = FERRY__INVENTORY_RESULT__INIT;
	struct swap_out o;
	struct docker *d = NULL;
	struct records *rec = NULL;
	Ferry__Container **list = NULL;
	char err[400], digest[300];
	size_t nlist = 0;
	int rc;

	if (j->reconcile) {
		reconcile(j);
		return;
	}
	memset(&o, 0, sizeof(o));
	ferry__swap_result__init(&o.res);
	o.res.exit_code = -1;
	r.command_id = c->id;
	r.sequence = c->sequence;
	if ((rc = docker_open(&d, j->socket)) != 0 ||
	    (rc = records_open(&rec, j->db)) != 0) {
		snprintf(o.why, sizeof(o.why), "cannot start: %s",
		    ferr_str(rc));
		j->ok = 0;
		goto report;
	}
	switch (c->payload_case) {
	case FERRY__COMMAND__PAYLOAD_PULL:
		/* A digest names its content: when the image is here by
		 * that digest there is nothing to fetch (the pre-pull after
		 * the tag was resolved, on the host that resolved it or one
		 * that ran it before). */
		if (digest_ref(c->pull->image) && docker_image_digest(d,
		    c->pull->image, digest, sizeof(digest), err,
		    sizeof(err)) == 0 && strcmp(digest, c->pull->image) == 0) {
			j->ok = 1;
			pr.image = c->pull->image;
			pr.digest = digest;
			r.result_case = FERRY__REPORT__RESULT_PULL;
			r.pull = &pr;
			snprintf(o.why, sizeof(o.why), "%s is here already",
			    digest);
			break;
		}
		if (c->pull->sealed_auth.len > 0) {
			/* A registry login, sealed to this host. */
			j->ok = pull_sealed(j, d, c->pull, err,
			    sizeof(err)) == 0;
		} else {
			j->ok = docker_pull(d, c->pull->image, c->pull->auth ?
			    c->pull->auth->username : NULL, c->pull->auth ?
			    c->pull->auth->password : NULL, err,
			    sizeof(err)) == 0;
		}
		j->ok = j->ok && docker_image_digest(d, c->pull->image, digest,
		    sizeof(digest), err, sizeof(err)) == 0;
		if (j->ok) {
			pr.image = c->pull->image;
			pr.digest = digest;
			r.result_case = FERRY__REPORT__RESULT_PULL;
			r.pull = &pr;
			snprintf(o.why, sizeof(o.why), "pulled %s", digest);
		} else {
			snprintf(o.why, sizeof(o.why), "%s", err);
		}
		break;
	case FERRY__COMMAND__PAYLOAD_INVENTORY:
		j->ok = docker_list(d, j->host, &list, &nlist, err,
		    sizeof(err)) == 0;
		if (j->ok) {
			ir.containers = list;
			ir.n_containers = nlist;
			r.result_case = FERRY__REPORT__RESULT_INVENTORY;
			r.inventory = &ir;
		} else {
			snprintf(o.why, sizeof(o.why), "%s", err);
		}
		break;
	case FERRY__COMMAND__PAYLOAD_DRAIN:
		j->ok = do_drain(j, c->drain, o.why, sizeof(o.why));
		break;
	case FERRY__COMMAND__PAYLOAD_LIFECYCLE:
		j->ok = do_stop(j, d, c->lifecycle, &o);
		goto swapres;
	case FERRY__COMMAND__PAYLOAD_SWAP:
		j->ok = do_swap(j, d, rec, c->swap, &o);
		goto swapres;
	case FERRY__COMMAND__PAYLOAD_ROLLBACK:
		j->ok = do_rollback(j, d, rec, c->rollback, &o);
		goto swapres;
	case FERRY__COMMAND__PAYLOAD_REMOVE:
		j->ok = do_remove(j, d, c->remove, &o);
	swapres:
		if (o.res.outcome == FERRY__SWAP_RESULT__OUTCOME__SWAPPED) {
			j->verdict_rev = o.res.revision;
			snprintf(j->verdict, sizeof(j->verdict), "healthy%s%.150s",
			    o.out[0] ? ": " : "", o.out);
		}
		swap_result(&r, &o);
		break;
	default:
		snprintf(o.why, sizeof(o.why), "command not supported by this "
		    "agent");
		j->ok = 0;
		break;
	}
report:
	if (!j->aborted && !j->recorded) {
		r.status = j->ok ? FERRY__REPORT__STATUS__SUCCEEDED :
		    FERRY__REPORT__STATUS__FAILED;
		r.message = o.why;
		r.sent_at_ms = clock_wall_ms();
		pack_final(j, &r);
	}
	/* The secret files of containers that went (a swap's pruning, a
	 * removal, a failed new one) go with them. */
	if (d != NULL && (c->payload_case == FERRY__COMMAND__PAYLOAD_SWAP ||
	    c->payload_case == FERRY__COMMAND__PAYLOAD_ROLLBACK ||
	    c->payload_case == FERRY__COMMAND__PAYLOAD_REMOVE))
		sweep_secrets(j, d);
	docker_list_free(list, nlist);
	free(o.logs);
	records_close(rec);
	docker_close(d);
}

static void job_start_ready(struct agent *a);

/* swap_note_health remembers what the last swap's health check said of the
 * revision that runs, for the heartbeats (rev 0: nothing known). */
static void
swap_note_health(struct agent *a, const char *service, uint64_t rev,
    const char *verdict)
{
	size_t i, free_slot = SVC_HEALTH_MAX;

	for (i = 0; i < SVC_HEALTH_MAX; i++) {
		if (strcmp(a->svc_health[i].service, service) == 0)
			break;
		if (a->svc_health[i].service[0] == '\0' &&
		    free_slot == SVC_HEALTH_MAX)
			free_slot = i;
	}
	if (i == SVC_HEALTH_MAX)
		i = free_slot;
	if (i == SVC_HEALTH_MAX)
		return;
	snprintf(a->svc_health[i].service, sizeof(a->svc_health[i].service),
	    "%s", rev ? service : "");
	a->svc_health[i].revision = rev;
	snprintf(a->svc_health[i].health, sizeof(a->svc_health[i].health),
	    "%s", verdict);
}

void
swap_fill_health(struct agent *a, Ferry__Container **cs, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		Ferry__Container *c = cs[i];
		char *h;

		if ((c->health && c->health[0]) || strcmp(c->state,
		    "running") != 0)
			continue;
		for (k = 0; k < SVC_HEALTH_MAX; k++)
			if (a->svc_health[k].service[0] &&
			    strcmp(a->svc_health[k].service, c->service) == 0 &&
			    a->svc_health[k].revision == strtoull(c->revision,
			    NULL, 10) && (h = strdup(a->svc_health[k].health))) {
				free(c->health);
				c->health = h;
			}
	}
}

static void
job_free(struct job *j)
{
	if (j->cmd != NULL)
		ferry__command__free_unpacked(j->cmd, NULL);
	free(j->report);
	sodium_memzero(j->xsk, sizeof(j->xsk));
	free(j);
}

static void
job_unlink(struct agent *a, struct job *j)
{
	struct job **pp;

	for (pp = &a->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
}

/*
 * fail_queued ends every job waiting for a reconciliation that failed:
 * nothing may run over a swap left half done, and with Docker away nothing
 * could; each gets a failed result saying why, at once, instead of waiting
 * for Docker for as long as ferryd would wait for it.
 */
static void
fail_queued(struct agent *a, const char *why)
{
	struct job *j, *next;
	char msg[512];
	uint8_t *buf;
	size_t n;
	int rc;

	for (j = a->jobs; j != NULL; j = next) {
		Ferry__Report r = FERRY__REPORT__INIT;
		Ferry__SwapResult res = FERRY__SWAP_RESULT__INIT;

		next = j->next;
		if (j->running || j->reconcile)
			continue;
		snprintf(msg, sizeof(msg), "not run: %s", why);
		r.command_id = j->cmd->id;
		r.sequence = j->cmd->sequence;
		r.status = FERRY__REPORT__STATUS__FAILED;
		r.message = msg;
		r.sent_at_ms = clock_wall_ms();
		if (j->service[0]) {
			res.outcome = FERRY__SWAP_RESULT__OUTCOME__FAILED;
			res.service = j->service;
			res.reason = msg;
			res.exit_code = -1;
			r.result_case = FERRY__REPORT__RESULT_SWAP;
			r.swap = &res;
		}
		n = ferry__report__get_packed_size(&r);
		if ((buf = malloc(n + 1)) != NULL) {
			ferry__report__pack(&r, buf);
			log_warnx("command %.12s (%s): failed: %s", j->idhex,
			    j->service[0] ? j->service : "-", msg);
			if ((rc = records_finish(a->records, j->cmd->id.data,
			    j->cmd->id.len, "failed", buf, n)) != 0)
				log_warnx("command %.12s: cannot record the "
				    "result: %s", j->idhex, ferr_str(rc));
			free(buf);
		}
		job_unlink(a, j);
		job_free(j);
	}
}

static void
job_after(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct agent *a = j->a;
	int rc;

	(void)status;
	job_unlink(a, j);
	if (j->reconcile || j->service[0])
		livehealth_busy(j->reconcile ? "" : j->service, 0);
	if (j->reconcile) {
		a->reconciled = j->ok;
		if (!j->ok) {
			log_warnx("reconciling with Docker failed: %s; again "
			    "when Docker answers", j->why);
			fail_queued(a, j->why);
		}
		/* Results it recorded go to ferryd now. */
		if (j->settled > 0 || !j->ok)
			report_kick(a);
	} else if (j->aborted || j->report == NULL) {
		log_info("command %.12s: left for the next start to finish "
		    "or revert", j->idhex);
	} else {
		log_info("command %.12s (%s): %s", j->idhex, j->service[0] ?
		    j->service : "-", j->ok ? "succeeded" : "failed");
		if (j->service[0])
			swap_note_health(a, j->service, j->verdict_rev,
			    j->verdict);
		/* Recorded (and sent) already by the worker, before its
		 * tidying: see report_early. */
		if (!j->recorded && (rc = records_finish(a->records,
		    j->cmd->id.data, j->cmd->id.len, j->ok ? "succeeded" :
		    "failed", j->report, j->report_len)) != 0)
			log_warnx("command %.12s: cannot record the result: %s",
			    j->idhex, ferr_str(rc));
		report_kick(a);
	}
	job_free(j);
	job_start_ready(a);
}

static int
job_running(struct agent *a, const char *service)
{
	struct job *j;

	for (j = a->jobs; j != NULL; j = j->next)
		if (j->running && (j->reconcile || service == NULL ||
		    (service[0] && strcmp(j->service, service) == 0)))
			return 1;
	return 0;
}

/* job_start_ready starts every queued job whose service is free; nothing
 * starts while the reconciliation runs or is still owed. */
static void
job_start_ready(struct agent *a)
{
	struct job *j;

	if (atomic_load(&stopping))
		return;
	for (j = a->jobs; j != NULL; j = j->next) {
		if (j->running)
			continue;
		if (j->reconcile ? job_running(a, NULL) :
		    (!a->reconciled || job_running(a, j->service)))
			continue;
		j->work.data = j;
		j->running = 1;
		if (uv_queue_work(a->loop, &j->work, job_run, job_after) !=
		    0) {
			j->running = 0;
			continue;
		}
		/* No live probe of what it changes while it runs. */
		if (j->reconcile || j->service[0])
			livehealth_busy(j->reconcile ? "" : j->service, 1);
	}
}

static struct job *
job_new(struct agent *a)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->a = a;
	snprintf(j->host, sizeof(j->host), "%s", a->conf.name);
	snprintf(j->publish, sizeof(j->publish), "%s",
	    a->conf.publish_address);
	snprintf(j->probe_ip, sizeof(j->probe_ip), "%s",
	    strcmp(a->conf.publish_address, "0.0.0.0") == 0 ? "127.0.0.1" :
	    a->conf.publish_address);
	snprintf(j->socket, sizeof(j->socket), "%s", a->conf.docker_socket);
	snprintf(j->proxy_ctl, sizeof(j->proxy_ctl), "%s",
	    a->conf.proxy_control);
	snprintf(j->db, sizeof(j->db), "%s/agent.db", a->conf.state_dir);
	snprintf(j->allowed_binds, sizeof(j->allowed_binds), "%s",
	    a->conf.allowed_bind_paths);
	snprintf(j->secrets_dir, sizeof(j->secrets_dir), "%s",
	    a->conf.secrets_dir);
	if (crypto_sign_ed25519_pk_to_curve25519(j->xpk, a->kp.pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(j->xsk, a->kp.sk) != 0) {
		/* No sealed secret opens; a swap that has some says so. */
		memset(j->xpk, 0, sizeof(j->xpk));
		memset(j->xsk, 0, sizeof(j->xsk));
	}
	j->keep = a->conf.keep_revisions;
	j->start_seq = a->start_seq;
	return j;
}

static void
job_append(struct agent *a, struct job *j)
{
	struct job **pp = &a->jobs;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = j;
}

int
swap_submit(struct agent *a, Ferry__Command *cmd)
{
	struct job *j = job_new(a);
	const char *svc = "";

	if (j == NULL)
		return FERR_NOMEM;
	j->cmd = cmd;
	sodium_bin2hex(j->idhex, sizeof(j->idhex), cmd->id.data,
	    cmd->id.len < 16 ? cmd->id.len : 16);
	switch (cmd->payload_case) {
	case FERRY__COMMAND__PAYLOAD_SWAP:
		svc = cmd->swap->service;
		break;
	case FERRY__COMMAND__PAYLOAD_ROLLBACK:
		svc = cmd->rollback->service;
		break;
	case FERRY__COMMAND__PAYLOAD_REMOVE:
		svc = cmd->remove->service;
		break;
	case FERRY__COMMAND__PAYLOAD_LIFECYCLE:
		svc = cmd->lifecycle->service;
		break;
	default:
		break;
	}
	snprintf(j->service, sizeof(j->service), "%s", svc ? svc : "");
	job_append(a, j);
	/* Docker was away at the last try: try again now rather than leave
	 * the command waiting for the inventory to see Docker back. */
	if (!a->reconciled)
		swap_reconcile(a);
	job_start_ready(a);
	return 0;
}

void
swap_reconcile(struct agent *a)
{
	struct job *j;

	for (j = a->jobs; j != NULL; j = j->next)
		if (j->reconcile)
			return;		/* already owed */
	if ((j = job_new(a)) == NULL)
		return;
	j->reconcile = 1;
	snprintf(j->idhex, sizeof(j->idhex), "reconcile");
	/* First in line: nothing else starts before it has run. */
	j->next = a->jobs;
	a->jobs = j;
	job_start_ready(a);
}

void
swap_stop(struct agent *a)
{
	struct job *j, *next;

	atomic_store(&stopping, 1);
	/* Jobs not yet handed to a worker are dropped: their commands stay
	 * accepted without a result until the next start's reconciliation
	 * reports them failed, never run (ferryd does not send a command
	 * again once the agent's sequence passed it). */
	for (j = a->jobs; j != NULL; j = next) {
		next = j->next;
		if (!j->running) {
			job_unlink(a, j);
			job_free(j);
		}
	}
}
