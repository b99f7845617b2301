/* SPDX-License-Identifier: Apache-2.0 */
/* livehealth.c: health between deployments (livehealth.h): the ferry.health
 * label, the table of containers judged live, and the threads that probe
 * them. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent.h"
#include "clock.h"
#include "ferr.h"
#include "livehealth.h"
#include "log.h"
#include "probe.h"

#define B64	sodium_base64_VARIANT_ORIGINAL_NO_PADDING

/* live_kind: whether h is a check the agent probes live. */
static int
live_kind(const Ferry__HealthSpec *h)
{
	if (h == NULL)
		return 0;
	switch (h->check_case) {
	case FERRY__HEALTH_SPEC__CHECK_HTTP:
		return h->http != NULL;
	case FERRY__HEALTH_SPEC__CHECK_TCP_PORT:
		return 1;
	case FERRY__HEALTH_SPEC__CHECK_EXEC:
		return h->exec != NULL && h->exec->n_argv > 0;
	default:
		return 0;	/* none, or Docker's own: Docker judges */
	}
}

int
livehealth_label(const Ferry__HealthSpec *h, uint32_t host_port, char *buf,
    size_t len)
{
	uint8_t *packed;
	size_t n, need;
	int off;

	if (!live_kind(h))
		return FERR_NOTFOUND;
	n = ferry__health_spec__get_packed_size(h);
	need = sodium_base64_encoded_len(n, B64);
	off = snprintf(buf, len, "%u ", host_port);
	if (off < 0 || (size_t)off + need > len)
		return FERR_ARG;
	if ((packed = malloc(n + 1)) == NULL)
		return FERR_NOMEM;
	ferry__health_spec__pack(h, packed);
	sodium_bin2base64(buf + off, len - (size_t)off, packed, n, B64);
	free(packed);
	return 0;
}

int
livehealth_label_parse(const char *text, Ferry__HealthSpec **h,
    uint32_t *host_port)
{
	const char *sp = strchr(text, ' '), *end;
	size_t tl, n = 0;
	uint8_t *bin;
	char *e;
	unsigned long port;

	*h = NULL;
	*host_port = 0;
	if (sp == NULL || sp == text)
		return FERR_MALFORMED;
	port = strtoul(text, &e, 10);
	if (e != sp || port > 65535)
		return FERR_MALFORMED;
	tl = strlen(sp + 1);
	if (tl == 0 || (bin = malloc(tl)) == NULL)
		return tl == 0 ? FERR_MALFORMED : FERR_NOMEM;
	if (sodium_base642bin(bin, tl, sp + 1, tl, NULL, &n, &end, B64) != 0 ||
	    *end != '\0') {
		free(bin);
		return FERR_MALFORMED;
	}
	*h = ferry__health_spec__unpack(NULL, n, bin);
	free(bin);
	if (*h == NULL)
		return FERR_MALFORMED;
	if (!live_kind(*h)) {
		ferry__health_spec__free_unpacked(*h, NULL);
		*h = NULL;
		return FERR_NOTFOUND;
	}
	*host_port = (uint32_t)port;
	return 0;
}

/* ---- the table ---------------------------------------------------------- */

void
live_table_init(struct live_table *t, uint64_t interval_ms,
    unsigned max_inflight)
{
	memset(t, 0, sizeof(*t));
	t->interval_ms = interval_ms;
	t->max_inflight = max_inflight ? max_inflight : 1;
}

static void
entry_free(struct live_entry *e)
{
	if (e == NULL)
		return;
	if (e->spec != NULL)
		ferry__health_spec__free_unpacked(e->spec, NULL);
	free(e);
}

void
live_table_fini(struct live_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		entry_free(t->e[i]);
	free(t->e);
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* policy_of: the spec's thresholds and interval, with the defaults a swap
 * uses (swap.c). */
static void
policy_of(const Ferry__HealthSpec *h, struct health_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->interval_ms = h->interval_ms ? h->interval_ms : 1000;
	p->timeout_ms = h->timeout_ms ? h->timeout_ms : 1000;
	p->healthy_threshold = h->healthy_threshold ? h->healthy_threshold :
	    1;
	p->unhealthy_threshold = h->unhealthy_threshold ?
	    h->unhealthy_threshold : 3;
}

static struct live_entry *
find(const struct live_table *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!t->e[i]->gone && strcmp(t->e[i]->id, id) == 0)
			return t->e[i];
	return NULL;
}

/* drop takes entry i out of the list (freed unless a probe holds it). */
static void
drop(struct live_table *t, size_t i)
{
	struct live_entry *e = t->e[i];

	t->e[i] = t->e[--t->n];
	if (e->probing)
		e->gone = 1;	/* live_table_done frees it */
	else
		entry_free(e);
}

int
live_table_sync(struct live_table *t, const struct docker_state *cs,
    size_t n, uint64_t now_ms)
{
	struct live_entry *e;
	Ferry__HealthSpec *h;
	uint32_t port;
	size_t i;
	int rc = 0;

	for (i = 0; i < t->n; i++)
		t->e[i]->mark = 0;
	for (i = 0; i < n; i++) {
		const struct docker_state *c = &cs[i];

		if (!c->running || c->health_check[0] == '\0')
			continue;
		if ((e = find(t, c->id)) != NULL) {
			e->mark = 1;
			continue;
		}
		if (livehealth_label_parse(c->health_check, &h, &port) != 0)
			continue;
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct live_entry **ne = realloc(t->e, cap *
			    sizeof(*ne));

			if (ne == NULL) {
				ferry__health_spec__free_unpacked(h, NULL);
				rc = FERR_NOMEM;
				continue;
			}
			t->e = ne;
			t->cap = cap;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			ferry__health_spec__free_unpacked(h, NULL);
			rc = FERR_NOMEM;
			continue;
		}
		snprintf(e->id, sizeof(e->id), "%s", c->id);
		snprintf(e->name, sizeof(e->name), "%s", c->name);
		snprintf(e->service, sizeof(e->service), "%s", c->service);
		e->revision = strtoull(c->revision, NULL, 10);
		e->spec = h;
		e->host_port = port;
		policy_of(h, &e->pol);
		health_live_start(&e->judge, &e->pol);
		e->period_ms = e->pol.interval_ms > t->interval_ms ?
		    e->pol.interval_ms : t->interval_ms;
		e->next_ms = now_ms;
		e->mark = 1;
		t->e[t->n++] = e;
	}
	for (i = t->n; i-- > 0; )
		if (!t->e[i]->mark)
			drop(t, i);
	return rc;
}

static struct live_busy *
busy_of(const struct live_table *t, const char *service)
{
	size_t i;

	for (i = 0; i < t->nb; i++)
		if (strcmp(t->b[i].service, service) == 0)
			return &t->b[i];
	return NULL;
}

int
live_table_busy(struct live_table *t, const char *service, int on)
{
	struct live_busy *b = busy_of(t, service);

	if (b == NULL) {
		if (t->nb == t->capb) {
			size_t cap = t->capb ? t->capb * 2 : 8;
			struct live_busy *nb = realloc(t->b, cap *
			    sizeof(*nb));

			if (nb == NULL)
				return FERR_NOMEM;
			t->b = nb;
			t->capb = cap;
		}
		b = &t->b[t->nb++];
		memset(b, 0, sizeof(*b));
		snprintf(b->service, sizeof(b->service), "%s", service);
	}
	if (on)
		b->n++;
	else if (b->n > 0)
		b->n--;
	b->epoch++;
	return 0;
}

/* epoch_of: what moves when a job of e's service (or of every service)
 * begins or ends. */
static uint64_t
epoch_of(const struct live_table *t, const struct live_entry *e)
{
	const struct live_busy *s = busy_of(t, e->service);
	const struct live_busy *all = busy_of(t, "");

	return (s ? s->epoch : 0) + (all ? all->epoch : 0);
}

static int
busy(const struct live_table *t, const struct live_entry *e)
{
	const struct live_busy *s = busy_of(t, e->service);
	const struct live_busy *all = busy_of(t, "");

	return (s != NULL && s->n > 0) || (all != NULL && all->n > 0);
}

struct live_entry *
live_table_pick(struct live_table *t, uint64_t now_ms, uint64_t *wake_ms)
{
	struct live_entry *best = NULL;
	size_t i;

	*wake_ms = UINT64_MAX;
	for (i = 0; i < t->n; i++) {
		struct live_entry *e = t->e[i];

		if (e->probing || busy(t, e))
			continue;
		if (e->next_ms > now_ms) {
			if (e->next_ms < *wake_ms)
				*wake_ms = e->next_ms;
			continue;
		}
		/* The one overdue longest first. */
		if (best == NULL || e->next_ms < best->next_ms)
			best = e;
	}
	/* All slots taken: a probe that ends wakes the caller. */
	if (best == NULL || t->inflight >= t->max_inflight)
		return NULL;
	best->probing = 1;
	best->epoch = epoch_of(t, best);
	t->inflight++;
	return best;
}

int
live_table_done(struct live_table *t, struct live_entry *e, uint64_t now_ms,
    int ok, const char *output)
{
	int changed = 0;

	if (t->inflight > 0)
		t->inflight--;
	e->probing = 0;
	if (e->gone) {
		entry_free(e);
		return 0;
	}
	e->next_ms = now_ms + e->period_ms;
	/* A swap began or ended while it ran: it probed what the swap was
	 * changing; it counts for nothing. */
	if (ok < 0 || e->epoch != epoch_of(t, e) || busy(t, e))
		return 0;
	changed = health_live_observe(&e->judge, now_ms, ok, output);
	return changed;
}

void
live_table_text(const struct live_table *t, const char *id, char *buf,
    size_t len)
{
	const struct live_entry *e = find(t, id);

	buf[0] = '\0';
	if (e != NULL)
		health_live_text(&e->judge, buf, len);
}

/* ---- the shell: threads of their own, never the loop's nor a swap's --- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int on;			/* threads started */
	int stop;
	int listing;		/* a thread lists the host's containers */
	uint64_t list_due;
	struct live_table t;
	pthread_t th[LIVE_PROBES_MAX];
	int nth;
	char host[64], probe_ip[64], socket[512];
} L = { .mu = PTHREAD_MUTEX_INITIALIZER };	/* cv: livehealth_start */

/* wait_until waits on the condition until mono ms (the lock held), at
 * most a second; the condition runs on the monotonic clock, so a step of
 * the wall clock neither stretches nor cuts a wait. */
static void
wait_until(uint64_t ms)
{
	uint64_t now = clock_mono_ms(), d;
	struct timespec ts;

	if (ms <= now)
		return;
	d = ms - now;
	if (d > 1000)
		d = 1000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(d / 1000);
	ts.tv_nsec += (long)(d % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&L.cv, &L.mu, &ts);
}

/* list lists the host's containers into the table (the lock held on
 * entry and on return, not while Docker answers). */
static void
list(struct docker *d)
{
	struct docker_state *cs = NULL;
	char err[300];
	size_t n = 0;
	int rc;

	L.listing = 1;
	pthread_mutex_unlock(&L.mu);
	rc = docker_list_host(d, L.host, &cs, &n, err, sizeof(err));
	pthread_mutex_lock(&L.mu);
	L.listing = 0;
	L.list_due = clock_mono_ms() + L.t.interval_ms;
	if (rc == 0)
		live_table_sync(&L.t, cs, n, clock_mono_ms());
	else
		log_debug("live health: cannot list containers: %s", err);
	free(cs);
	pthread_cond_broadcast(&L.cv);
}

/* probe runs one probe of e (the lock held on entry and on return, not
 * while it runs; e stays while probing). */
static void
probe(struct docker *d, struct live_entry *e)
{
	struct docker_state st;
	char out[512], err[300], text[300];
	int ok;

	pthread_mutex_unlock(&L.mu);
	if (docker_inspect(d, e->id, &st, err, sizeof(err)) != 0 ||
	    !st.running)
		ok = -1;	/* gone or stopped: the listing drops it */
	else
		ok = probe_run(d, e->id, L.probe_ip, e->spec, e->host_port,
		    e->pol.timeout_ms, &st, out, sizeof(out));
	pthread_mutex_lock(&L.mu);
	if (ok < 0) {
		live_table_done(&L.t, e, clock_mono_ms(), -1, NULL);
		return;
	}
	if (live_table_done(&L.t, e, clock_mono_ms(), ok, out)) {
		health_live_text(&e->judge, text, sizeof(text));
		if (e->judge.state == HEALTH_LIVE_UNHEALTHY)
			log_warnx("%s r%llu: %s: live health: %s (%u checks "
			    "in a row)", e->service,
			    (unsigned long long)e->revision, e->name, text,
			    e->judge.fails);
		else
			log_info("%s r%llu: %s: live health: %s", e->service,
			    (unsigned long long)e->revision, e->name, text);
	}
}

static void *
run(void *arg)
{
	struct docker *d = NULL;
	struct live_entry *e;
	uint64_t wake;

	(void)arg;
	if (docker_open(&d, L.socket) != 0) {
		log_warnx("live health: cannot open a Docker client: no live "
		    "probes from this thread");
		return NULL;
	}
	pthread_mutex_lock(&L.mu);
	while (!L.stop) {
		uint64_t now = clock_mono_ms();

		if (now >= L.list_due && !L.listing) {
			list(d);
			continue;
		}
		if ((e = live_table_pick(&L.t, now, &wake)) != NULL) {
			probe(d, e);
			pthread_cond_broadcast(&L.cv);
			continue;
		}
		if (!L.listing && L.list_due < wake)
			wake = L.list_due;
		wait_until(wake == UINT64_MAX ? now + 1000 : wake);
	}
	pthread_mutex_unlock(&L.mu);
	docker_close(d);
	return NULL;
}

int
livehealth_start(struct agent *a)
{
	const struct agent_conf *c = &a->conf;
	pthread_condattr_t ca;
	int i;

	if (c->live_health_interval_ms == 0) {
		log_info("live health: off (live_health_interval 0): health "
		    "between deployments is the last swap's and Docker's");
		return 0;
	}
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&L.cv, &ca) != 0) {
		log_warnx("live health: cannot make its condition variable: "
		    "off");
		return FERR_NOMEM;
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&L.mu);
	live_table_init(&L.t, c->live_health_interval_ms, LIVE_PROBES_MAX);
	snprintf(L.host, sizeof(L.host), "%s", c->name);
	snprintf(L.socket, sizeof(L.socket), "%s", c->docker_socket);
	snprintf(L.probe_ip, sizeof(L.probe_ip), "%s",
	    strcmp(c->publish_address, "0.0.0.0") == 0 ? "127.0.0.1" :
	    c->publish_address);
	L.stop = 0;
	L.list_due = 0;
	L.on = 1;
	for (i = 0; i < LIVE_PROBES_MAX; i++)
		if (pthread_create(&L.th[L.nth], NULL, run, NULL) == 0)
			L.nth++;
	pthread_mutex_unlock(&L.mu);
	if (L.nth > 0)
		log_info("live health: probing running containers with their "
		    "spec's check every health interval, %llu ms at the most "
		    "often, %d at a time", (unsigned long long)
		    c->live_health_interval_ms, L.nth);
	if (L.nth == 0) {
		log_warnx("live health: cannot start its threads: %s",
		    strerror(errno));
		return FERR_NOMEM;
	}
	return 0;
}

void
livehealth_stop(struct agent *a)
{
	int i, n;

	(void)a;
	pthread_mutex_lock(&L.mu);
	if (!L.on) {
		pthread_mutex_unlock(&L.mu);
		return;
	}
	L.stop = 1;
	n = L.nth;
	pthread_cond_broadcast(&L.cv);
	pthread_mutex_unlock(&L.mu);
	/* A probe in flight ends within its timeout. */
	for (i = 0; i < n; i++)
		pthread_join(L.th[i], NULL);
	pthread_mutex_lock(&L.mu);
	live_table_fini(&L.t);
	L.nth = 0;
	L.on = 0;
	pthread_mutex_unlock(&L.mu);
	pthread_cond_destroy(&L.cv);
}

void
livehealth_busy(const char *service, int on)
{
	pthread_mutex_lock(&L.mu);
	if (L.on && live_table_busy(&L.t, service, on) != 0)
		log_warnx("live health: out of memory");
	pthread_mutex_unlock(&L.mu);
}

void
livehealth_fill(Ferry__Container **cs, size_t n)
{
	char text[300];
	size_t i;
	char *h;

	pthread_mutex_lock(&L.mu);
	for (i = 0; L.on && i < n; i++) {
		Ferry__Container *c = cs[i];

		/* Over the image's own HEALTHCHECK too, when it has one: the
		 * spec's check is the one ferry was told to judge by (a spec
		 * that says health: docker has no live probe). */
		if (c->id == NULL || c->state == NULL ||
		    strcmp(c->state, "running") != 0)
			continue;
		live_table_text(&L.t, c->id, text, sizeof(text));
		if (text[0] != '\0' && (h = strdup(text)) != NULL) {
			free(c->health);
			c->health = h;
		}
	}
	pthread_mutex_unlock(&L.mu);
}
