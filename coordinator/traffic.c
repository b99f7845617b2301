/* SPDX-License-Identifier: Apache-2.0 */
/* traffic.c: ferry-proxy's counts in rolling windows and totals
 * (traffic.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferr.h"
#include "traffic.h"

/* One series: a (service, revision) of a host, or a service's refusals.
 * slot_epoch[i] is the slot number + 1 that slot i holds (0: empty);
 * slot n covers [n * TRAFFIC_SLOT_MS, (n + 1) * TRAFFIC_SLOT_MS). */
struct series {
	char service[TRAFFIC_NAME_MAX + 1];
	uint64_t revision;
	int refusals;
	uint64_t slot_epoch[TRAFFIC_SLOTS];
	struct traffic_counts slot[TRAFFIC_SLOTS];
	struct traffic_counts total;	/* since ferryd started */
	struct traffic_counts last;	/* the last reading, cumulative */
	int have_last;			/* ... of the host's current boot */
	uint64_t active;
	uint64_t since_ms;		/* counting began: the window's
					 * figures cover no more than this */
	int counting;			/* ... since_ms is set */
	uint64_t seen_gen;		/* the host's reading that had it */
};

struct thost {
	char name[TRAFFIC_NAME_MAX + 1];
	struct traffic_host info;
	uint8_t boot[TRAFFIC_BOOT_LEN];
	int have_reading;		/* a good reading of boot */
	uint64_t last_ms;		/* ... heard at */
	int current;			/* ... and it was taken when it came */
	uint64_t gen;			/* readings taken */
	struct series *series[TRAFFIC_SERIES_MAX + TRAFFIC_SERVICES_MAX];
	size_t nseries;
};

struct traffic {
	struct thost **hosts;
	size_t nhosts, cap;
};

static const char *const reason_names[TR_WIDTH] = {
	"no_target", "held_expired", "bad_request", "header_timeout",
	"body_too_large", "header_too_large", "client_aborted",
	"drain_closed",
};

const char *
traffic_reason_name(size_t r)
{
	return r < TR_WIDTH ? reason_names[r] : "unknown";
}

int
traffic_alloc(struct traffic **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return FERR_NOMEM;
	return 0;
}

void
traffic_free(struct traffic *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < t->nhosts; i++) {
		for (j = 0; j < t->hosts[i]->nseries; j++)
			free(t->hosts[i]->series[j]);
		free(t->hosts[i]);
	}
	free(t->hosts);
	free(t);
}

static int
name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= TRAFFIC_NAME_MAX;
}

int
traffic_check(const Ferry__Traffic *tr, char *err, size_t errlen)
{
	size_t i, j;

	if (tr->error != NULL && tr->error[0] != '\0')
		return 0;
	if (tr->boot.len != TRAFFIC_BOOT_LEN) {
		snprintf(err, errlen, "proxy boot id of %zu bytes, not %d",
		    tr->boot.len, TRAFFIC_BOOT_LEN);
		return FERR_MALFORMED;
	}
	if (tr->n_revisions > TRAFFIC_SERIES_MAX) {
		snprintf(err, errlen, "%zu revisions counted, more than the "
		    "%d taken", tr->n_revisions, TRAFFIC_SERIES_MAX);
		return FERR_MALFORMED;
	}
	if (tr->n_refusals > TRAFFIC_SERVICES_MAX) {
		snprintf(err, errlen, "refusals of %zu services, more than "
		    "the %d taken", tr->n_refusals, TRAFFIC_SERVICES_MAX);
		return FERR_MALFORMED;
	}
	for (i = 0; i < tr->n_revisions; i++) {
		const Ferry__RevisionTraffic *r = tr->revisions[i];

		if (!name_ok(r->service)) {
			snprintf(err, errlen, "revision traffic %zu: service "
			    "name empty or longer than %d bytes", i,
			    TRAFFIC_NAME_MAX);
			return FERR_MALFORMED;
		}
		if (r->n_status_class > TRAFFIC_CLASSES ||
		    r->n_latency > HIST_BUCKETS) {
			snprintf(err, errlen, "%s revision %llu: %zu status "
			    "classes and %zu latency buckets (at most %d and "
			    "%d)", r->service, (unsigned long long)r->revision,
			    r->n_status_class, r->n_latency, TRAFFIC_CLASSES,
			    HIST_BUCKETS);
			return FERR_MALFORMED;
		}
		for (j = 0; j < i; j++)
			if (tr->revisions[j]->revision == r->revision &&
			    strcmp(tr->revisions[j]->service, r->service) ==
			    0) {
				snprintf(err, errlen, "%s revision %llu "
				    "counted twice", r->service,
				    (unsigned long long)r->revision);
				return FERR_MALFORMED;
			}
	}
	for (i = 0; i < tr->n_refusals; i++) {
		if (!name_ok(tr->refusals[i]->service)) {
			snprintf(err, errlen, "refusals %zu: service name "
			    "empty or longer than %d bytes", i,
			    TRAFFIC_NAME_MAX);
			return FERR_MALFORMED;
		}
		for (j = 0; j < i; j++)
			if (strcmp(tr->refusals[j]->service,
			    tr->refusals[i]->service) == 0) {
				snprintf(err, errlen, "refusals of %s twice",
				    tr->refusals[i]->service);
				return FERR_MALFORMED;
			}
	}
	return 0;
}

static struct thost *
host_find(const struct traffic *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nhosts; i++)
		if (strcmp(t->hosts[i]->name, name) == 0)
			return t->hosts[i];
	return NULL;
}

static struct thost *
host_get(struct traffic *t, const char *name)
{
	struct thost *h, **nh;
	size_t cap;

	if ((h = host_find(t, name)) != NULL)
		return h;
	if (t->nhosts == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if ((nh = realloc(t->hosts, cap * sizeof(*nh))) == NULL)
			return NULL;
		t->hosts = nh;
		t->cap = cap;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	snprintf(h->name, sizeof(h->name), "%s", name);
	t->hosts[t->nhosts++] = h;
	return h;
}

static struct series *
series_find(const struct thost *h, const char *service, uint64_t revision,
    int refusals)
{
	size_t i;

	for (i = 0; i < h->nseries; i++)
		if (h->series[i]->refusals == refusals &&
		    h->series[i]->revision == revision &&
		    strcmp(h->series[i]->service, service) == 0)
			return h->series[i];
	return NULL;
}

/* series_make adds a series to h, making room, when h holds its kind's
 * maximum, by dropping the one of that kind seen longest ago (never one
 * of the reading being taken, which check() bounded). */
static struct series *
series_make(struct thost *h, const char *service, uint64_t revision,
    int refusals)
{
	size_t i, n = 0, old = SIZE_MAX, max = refusals ?
	    TRAFFIC_SERVICES_MAX : TRAFFIC_SERIES_MAX;
	struct series *s;

	for (i = 0; i < h->nseries; i++) {
		if (h->series[i]->refusals != refusals)
			continue;
		n++;
		if (h->series[i]->seen_gen != h->gen && (old == SIZE_MAX ||
		    h->series[i]->seen_gen < h->series[old]->seen_gen))
			old = i;
	}
	if (n >= (size_t)max) {
		if (old == SIZE_MAX)
			return NULL;
		free(h->series[old]);
		memmove(&h->series[old], &h->series[old + 1],
		    (h->nseries - old - 1) * sizeof(h->series[0]));
		h->nseries--;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->service, sizeof(s->service), "%s", service);
	s->revision = revision;
	s->refusals = refusals;
	h->series[h->nseries++] = s;
	return s;
}

static void
revision_vector(const Ferry__RevisionTraffic *r, struct traffic_counts *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->v[TC_REQUESTS] = r->requests;
	for (i = 0; i < r->n_status_class && i < TRAFFIC_CLASSES; i++)
		c->v[TC_CLASS + i] = r->status_class[i];
	c->v[TC_FAILED + 0] = r->failed_refused;
	c->v[TC_FAILED + 1] = r->failed_reset;
	c->v[TC_FAILED + 2] = r->failed_timeout;
	c->v[TC_UNANSWERED] = r->failed_unanswered;
	for (i = 0; i < r->n_latency && i < HIST_BUCKETS; i++)
		c->v[TC_LATENCY + i] = r->latency[i];
	c->v[TC_LATENCY_SUM] = r->latency_sum_us;
}

static void
refusal_vector(const Ferry__ServiceRefusals *r, struct traffic_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->v[TR_NO_TARGET] = r->no_target;
	c->v[TR_HELD_EXPIRED] = r->held_expired;
	c->v[TR_BAD_REQUEST] = r->bad_request;
	c->v[TR_HEADER_TIMEOUT] = r->header_timeout;
	c->v[TR_BODY_TOO_LARGE] = r->body_too_large;
	c->v[TR_HEADER_TOO_LARGE] = r->header_too_large;
	c->v[TR_CLIENT_ABORTED] = r->client_aborted;
	c->v[TR_DRAIN_CLOSED] = r->drain_closed;
}

/* slot_at returns the window's storage for slot number e, emptied when it
 * held an older one. */
static struct traffic_counts *
slot_at(struct series *s, uint64_t e)
{
	size_t i = (size_t)(e % TRAFFIC_SLOTS);

	if (s->slot_epoch[i] != e + 1) {
		memset(&s->slot[i], 0, sizeof(s->slot[i]));
		s->slot_epoch[i] = e + 1;
	}
	return &s->slot[i];
}

/* spread lays d, counted between from_ms and to_ms, over the slots that
 * interval covers, each its share of the time (rounded down); the part
 * before the window is dropped and the remainder goes to the newest slot,
 * so the window holds exactly d less the dropped part. */
static void
spread(struct series *s, const struct traffic_counts *d, uint64_t from_ms,
    uint64_t to_ms)
{
	uint64_t now_e = to_ms / TRAFFIC_SLOT_MS, first_e, e, lo, hi, span;
	uint64_t used[TC_WIDTH] = { 0 }, share;
	struct traffic_counts *c;
	size_t k;

	first_e = now_e >= TRAFFIC_SLOTS - 1 ? now_e - (TRAFFIC_SLOTS - 1) :
	    0;
	if (from_ms < to_ms) {
		span = to_ms - from_ms;
		/* Before the window: counted as used, laid nowhere. */
		if (from_ms < first_e * TRAFFIC_SLOT_MS) {
			hi = first_e * TRAFFIC_SLOT_MS;
			for (k = 0; k < TC_WIDTH; k++)
				used[k] = (uint64_t)((unsigned __int128)
				    d->v[k] * (hi - from_ms) / span);
		}
		for (e = first_e; e < now_e; e++) {
			lo = e * TRAFFIC_SLOT_MS;
			hi = lo + TRAFFIC_SLOT_MS;
			if (hi <= from_ms)
				continue;
			if (lo < from_ms)
				lo = from_ms;
			c = slot_at(s, e);
			for (k = 0; k < TC_WIDTH; k++) {
				share = (uint64_t)((unsigned __int128)
				    d->v[k] * (hi - lo) / span);
				c->v[k] += share;
				used[k] += share;
			}
		}
	}
	c = slot_at(s, now_e);
	for (k = 0; k < TC_WIDTH; k++)
		c->v[k] += d->v[k] - used[k];
}

/* take: one series' new cumulative reading cur.  fresh: the first
 * reading of a boot (counts whole); base: a baseline (counts nothing). */
static void
take(struct series *s, const struct traffic_counts *cur, uint64_t active,
    int fresh, int base, uint64_t from_ms, uint64_t now_ms)
{
	struct traffic_counts d;
	size_t k;
	int down = 0;

	if (base) {
		s->last = *cur;
		s->have_last = 1;
		s->active = active;
		if (!s->counting)
			s->since_ms = now_ms;
		s->counting = 1;
		return;
	}
	if (!fresh && s->have_last)
		for (k = 0; k < TC_WIDTH; k++)
			if (cur->v[k] < s->last.v[k])
				down = 1;
	for (k = 0; k < TC_WIDTH; k++) {
		d.v[k] = fresh || !s->have_last || down ? cur->v[k] :
		    cur->v[k] - s->last.v[k];
		s->total.v[k] += d.v[k];
	}
	if (!s->counting)
		s->since_ms = from_ms;
	s->counting = 1;
	spread(s, &d, from_ms, now_ms);
	s->last = *cur;
	s->have_last = 1;
	s->active = active;
}

int
traffic_observe(struct traffic *t, const char *host,
    const Ferry__Traffic *tr, uint64_t now_ms, char *err, size_t errlen)
{
	struct series *ss[TRAFFIC_SERIES_MAX + TRAFFIC_SERVICES_MAX];
	struct traffic_counts cur;
	struct thost *h;
	uint64_t from;
	size_t i, n = 0;
	int rc, fresh, base;

	if (!name_ok(host)) {
		snprintf(err, errlen, "host name empty or longer than %d "
		    "bytes", TRAFFIC_NAME_MAX);
		return FERR_MALFORMED;
	}
	if (tr != NULL && (rc = traffic_check(tr, err, errlen)) != 0)
		return rc;
	if ((h = host_get(t, host)) == NULL)
		goto nomem;
	if (tr == NULL || (tr->error != NULL && tr->error[0] != '\0')) {
		h->info.state = tr == NULL ? TRAFFIC_NONE : TRAFFIC_UNANSWERED;
		snprintf(h->info.error, sizeof(h->info.error), "%s",
		    tr != NULL ? tr->error : "");
		for (i = 0; i < h->nseries; i++)
			h->series[i]->active = 0;
		return 0;
	}
	h->gen++;
	/* Find or make every series first, so that nothing changes when
	 * memory runs out. */
	for (i = 0; i < tr->n_revisions; i++)
		if ((ss[n] = series_find(h, tr->revisions[i]->service,
		    tr->revisions[i]->revision, 0)) != NULL)
			ss[n++]->seen_gen = h->gen;
		else
			ss[n++] = NULL;
	for (i = 0; i < tr->n_refusals; i++)
		if ((ss[n] = series_find(h, tr->refusals[i]->service, 0, 1)) !=
		    NULL)
			ss[n++]->seen_gen = h->gen;
		else
			ss[n++] = NULL;
	for (i = 0; i < n; i++) {
		if (ss[i] != NULL)
			continue;
		ss[i] = i < tr->n_revisions ?
		    series_make(h, tr->revisions[i]->service,
		    tr->revisions[i]->revision, 0) :
		    series_make(h, tr->refusals[i - tr->n_revisions]->service,
		    0, 1);
		if (ss[i] == NULL)
			goto nomem;
		ss[i]->seen_gen = h->gen;
	}

	fresh = !h->have_reading || memcmp(h->boot, tr->boot.data,
	    TRAFFIC_BOOT_LEN) != 0;
	/* The first reading ever of a proxy up for long is a baseline. */
	base = !h->have_reading && tr->uptime_ms > TRAFFIC_FRESH_MS;
	if (!fresh)
		from = h->last_ms;
	else {
		from = tr->uptime_ms < now_ms ? now_ms - tr->uptime_ms : 0;
		if (h->have_reading && from < h->last_ms)
			from = h->last_ms;
	}
	if (fresh)
		for (i = 0; i < h->nseries; i++)
			h->series[i]->have_last = 0;
	for (i = 0; i < tr->n_revisions; i++) {
		revision_vector(tr->revisions[i], &cur);
		take(ss[i], &cur, tr->revisions[i]->active, fresh, base, from,
		    now_ms);
	}
	for (i = 0; i < tr->n_refusals; i++) {
		refusal_vector(tr->refusals[i], &cur);
		take(ss[tr->n_revisions + i], &cur, 0, fresh, base, from,
		    now_ms);
	}
	/* Series the proxy no longer counts have nothing in flight. */
	for (i = 0; i < h->nseries; i++)
		if (h->series[i]->seen_gen != h->gen)
			h->series[i]->active = 0;
	/* A reading is current when the proxy's clock moved on since the
	 * one before at least as much as ferryd's did between their
	 * arrivals (give or take TRAFFIC_CURRENT_SLACK_MS): a heartbeat
	 * built before ferryd restarted, or held up on the way, says less
	 * than time says. */
	h->current = h->have_reading && !fresh ? tr->uptime_ms +
	    TRAFFIC_CURRENT_SLACK_MS >= h->info.uptime_ms + (now_ms -
	    h->last_ms) : h->have_reading && tr->uptime_ms < now_ms -
	    h->last_ms + TRAFFIC_CURRENT_SLACK_MS;
	memcpy(h->boot, tr->boot.data, TRAFFIC_BOOT_LEN);
	h->have_reading = 1;
	h->last_ms = now_ms;
	h->info.state = TRAFFIC_OK;
	h->info.error[0] = '\0';
	snprintf(h->info.version, sizeof(h->info.version), "%s",
	    tr->version != NULL ? tr->version : "");
	h->info.uptime_ms = tr->uptime_ms;
	h->info.read_ms = now_ms;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return FERR_NOMEM;
}

void
traffic_host_get(const struct traffic *t, const char *host,
    struct traffic_host *out)
{
	const struct thost *h = host_find(t, host);

	if (h == NULL)
		memset(out, 0, sizeof(*out));
	else
		*out = h->info;
}

int
traffic_last(const struct traffic *t, const char *host, const char *service,
    uint64_t revision, uint8_t boot[TRAFFIC_BOOT_LEN],
    struct traffic_counts *out)
{
	const struct thost *h = host_find(t, host);
	const struct series *s;

	memset(boot, 0, TRAFFIC_BOOT_LEN);
	memset(out, 0, sizeof(*out));
	if (h == NULL || !h->have_reading)
		return 0;
	memcpy(boot, h->boot, TRAFFIC_BOOT_LEN);
	/* have_last is cleared when the boot changes: a series of an older
	 * boot has counted nothing of this one. */
	if ((s = series_find(h, service, revision, 0)) != NULL &&
	    s->have_last)
		*out = s->last;
	return 1;
}

int
traffic_heard_since(const struct traffic *t, const char *host,
    uint64_t since_ms)
{
	const struct thost *h = host_find(t, host);

	return h != NULL && h->have_reading && h->current &&
	    h->last_ms >= since_ms;
}

static int
host_named(const char *name, const char *const *hosts, size_t nhosts)
{
	size_t i;

	if (nhosts == 0)
		return 1;
	for (i = 0; i < nhosts; i++)
		if (strcmp(hosts[i], name) == 0)
			return 1;
	return 0;
}

/* window_sum adds s's slots of the last n (newest now_e) into out. */
static void
window_sum(const struct series *s, uint64_t first_e, uint64_t now_e,
    struct traffic_counts *out)
{
	uint64_t e;
	size_t k, v;

	for (e = first_e; e <= now_e; e++) {
		k = (size_t)(e % TRAFFIC_SLOTS);
		if (s->slot_epoch[k] != e + 1)
			continue;
		for (v = 0; v < TC_WIDTH; v++)
			out->v[v] += s->slot[k].v[v];
	}
}

/* first_slot: the oldest slot number of a window of window_ms ending in
 * slot now_e. */
static uint64_t
first_slot(uint64_t window_ms, uint64_t now_e)
{
	uint64_t n = (window_ms + TRAFFIC_SLOT_MS - 1) / TRAFFIC_SLOT_MS;

	if (n == 0)
		n = 1;
	if (n > TRAFFIC_SLOTS)
		n = TRAFFIC_SLOTS;
	return now_e + 1 >= n ? now_e + 1 - n : 0;
}

size_t
traffic_read_refusals(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t window_ms, uint64_t now_ms,
    struct traffic_counts *out)
{
	uint64_t now_e = now_ms / TRAFFIC_SLOT_MS;
	const struct series *s;
	size_t i, j, n = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < t->nhosts; i++) {
		if (!host_named(t->hosts[i]->name, hosts, nhosts))
			continue;
		for (j = 0; j < t->hosts[i]->nseries; j++) {
			s = t->hosts[i]->series[j];
			if (!s->refusals || strcmp(s->service, service) != 0)
				continue;
			window_sum(s, first_slot(window_ms, now_e), now_e,
			    out);
			n++;
		}
	}
	return n;
}

size_t
traffic_read(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t revision, int any_revision,
    uint64_t window_ms, uint64_t now_ms, struct traffic_figures *out)
{
	uint64_t now_e = now_ms / TRAFFIC_SLOT_MS, first_e, start;
	uint64_t errors, cover;
	const struct series *s;
	size_t i, j;
	int have = 0;

	memset(out, 0, sizeof(*out));
	out->p50_ms = out->p95_ms = out->p99_ms = -1.0;
	first_e = first_slot(window_ms, now_e);
	start = first_e * TRAFFIC_SLOT_MS;
	for (i = 0; i < t->nhosts; i++) {
		if (!host_named(t->hosts[i]->name, hosts, nhosts))
			continue;
		for (j = 0; j < t->hosts[i]->nseries; j++) {
			s = t->hosts[i]->series[j];
			if (s->refusals || strcmp(s->service, service) != 0 ||
			    (!any_revision && s->revision != revision))
				continue;
			out->series++;
			out->active += s->active;
			window_sum(s, first_e, now_e, &out->c);
			/* The longest any summed series has been counted,
			 * within the window. */
			cover = now_ms - (s->since_ms > start ? s->since_ms :
			    start);
			if (s->since_ms > now_ms)
				cover = 0;
			if (!have || cover > out->span_ms)
				out->span_ms = cover;
			have = 1;
		}
	}
	if (out->span_ms > 0)
		out->rate = (double)out->c.v[TC_REQUESTS] * 1000.0 /
		    (double)out->span_ms;
	errors = out->c.v[TC_CLASS + 4] + out->c.v[TC_UNANSWERED];
	if (out->c.v[TC_REQUESTS] > 0) {
		out->error_rate = (double)errors /
		    (double)out->c.v[TC_REQUESTS];
		if (out->error_rate > 1.0)
			out->error_rate = 1.0;
	}
	if ((out->p50_ms = hist_quantile_us(&out->c.v[TC_LATENCY],
	    HIST_BUCKETS, 0.50)) >= 0) {
		out->p50_ms /= 1000.0;
		out->p95_ms = hist_quantile_us(&out->c.v[TC_LATENCY],
		    HIST_BUCKETS, 0.95) / 1000.0;
		out->p99_ms = hist_quantile_us(&out->c.v[TC_LATENCY],
		    HIST_BUCKETS, 0.99) / 1000.0;
	}
	return out->series;
}

void
traffic_each(const struct traffic *t, const char *host,
    void (*fn)(void *arg, const struct traffic_series *s), void *arg)
{
	struct traffic_series ts;
	const struct series *s;
	size_t i, j;
	int pass;

	for (i = 0; i < t->nhosts; i++) {
		if (host != NULL && strcmp(host, t->hosts[i]->name) != 0)
			continue;
		for (pass = 0; pass < 2; pass++)
			for (j = 0; j < t->hosts[i]->nseries; j++) {
				s = t->hosts[i]->series[j];
				if (s->refusals != pass)
					continue;
				ts.host = t->hosts[i]->name;
				ts.service = s->service;
				ts.revision = s->revision;
				ts.refusals = s->refusals;
				ts.total = &s->total;
				ts.active = s->active;
				fn(arg, &ts);
			}
	}
}

size_t
traffic_revisions(const struct traffic *t, const char *const *hosts,
    size_t nhosts, const char *service, uint64_t *out, size_t max)
{
	const struct series *s;
	size_t i, j, k, n = 0;

	for (i = 0; i < t->nhosts; i++) {
		if (!host_named(t->hosts[i]->name, hosts, nhosts))
			continue;
		for (j = 0; j < t->hosts[i]->nseries; j++) {
			s = t->hosts[i]->series[j];
			if (s->refusals || strcmp(s->service, service) != 0)
				continue;
			for (k = 0; k < n && out[k] != s->revision; k++)
				;
			if (k < n || n == max)
				continue;
			/* Insert, newest first. */
			for (k = n; k > 0 && out[k - 1] < s->revision; k--)
				out[k] = out[k - 1];
			out[k] = s->revision;
			n++;
		}
	}
	return n;
}
