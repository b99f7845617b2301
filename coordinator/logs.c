/* SPDX-License-Identifier: Apache-2.0 */
/* logs.c: `ferry logs` in ferryd (logs.h).
 *
 * A stream holds, per host, where it stands and the command that asked
 * it, and two lists of lines: those come from the hosts and not yet
 * released (pending), and those released to the reader in time order
 * (out, numbered from 1: the reader's cursor is the last number it got).
 * Lines are released once every host asked has sent its first chunk (or
 * ended, or 3 s passed), and then when they have waited 500 ms, so that
 * lines of several hosts written at about the same time come out in the
 * order they were written.  A reader that stops reading for
 * LOGS_READER_LEASE_MS closes the stream: commands no agent took are
 * withdrawn, and the hosts that stream hear at their next chunk that
 * nobody reads it (logs_chunk returns 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "logs.h"
#include "text.h"

#define HOLD_US		(500u * 1000u)
#define FIRST_WAIT_US	(3000u * 1000u)
#define CHUNK_BYTES	(32u * 1024u)
#define RATE_BYTES	(64u * 1024u)
#define ASK_TTL_MS	10000u
#define DONE_KEEP_US	(30u * 1000u * 1000u)

struct lhost {
	char name[HOST_NAME_MAX_LEN + 1];
	char state[16];		/* LogsHost.state */
	char note[256];
	uint8_t cmd[COMMAND_ID_LEN];
	int asked;		/* a command went */
	int heard;		/* a chunk came */
	int ended;
	uint64_t dropped;
};

struct pline {
	Ferry__LogLine *l;	/* owned; text and host heap */
	uint64_t arrived_us;
	uint64_t order;		/* arrival order: ties keep it */
};

struct lstream {
	uint8_t id[16];
	char service[128];
	int follow, revisions;
	struct lhost *hosts;
	size_t nhosts;
	struct pline *pend;
	size_t npend, cappend;
	Ferry__LogLine **out;
	size_t nout, capout;
	uint64_t first_seq;	/* number of out[0] */
	uint64_t order, dropped;
	size_t bytes;		/* text held, pending and out */
	uint64_t opened_us, read_us, done_us;
	struct lstream *next;
};

static struct lstream *streams;
static size_t nstreams;

static void
line_free(Ferry__LogLine *l)
{
	if (l == NULL)
		return;
	free(l->text);
	free(l->host);
	free(l);
}

static void
stream_free(struct lstream *s)
{
	size_t i;

	for (i = 0; i < s->npend; i++)
		line_free(s->pend[i].l);
	for (i = 0; i < s->nout; i++)
		line_free(s->out[i]);
	free(s->pend);
	free(s->out);
	free(s->hosts);
	free(s);
}

static struct lstream *
find(const uint8_t *id, size_t len)
{
	struct lstream *s;

	if (len != 16)
		return NULL;
	for (s = streams; s != NULL; s = s->next)
		if (memcmp(s->id, id, 16) == 0)
			return s;
	return NULL;
}

static struct lhost *
host_of(struct lstream *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].name, name) == 0)
			return &s->hosts[i];
	return NULL;
}

/* close_stream withdraws what no agent took and forgets the stream. */
static void
close_stream(struct ferryd *fd, struct lstream *s, const char *why)
{
	struct lstream **pp;
	size_t i;

	for (i = 0; i < s->nhosts; i++) {
		struct host *h;

		if (s->hosts[i].asked && !s->hosts[i].ended &&
		    (h = fleet_find(fd, s->hosts[i].name)) != NULL)
			link_withdraw_one(fd, h, s->hosts[i].cmd, why);
	}
	for (pp = &streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	nstreams--;
	log_debug("logs of %s: stream closed: %s", s->service, why);
	stream_free(s);
}

/* host_end marks a host of whichever stream asked command id as done. */
static void
on_done(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *r, const char *err)
{
	struct lstream *s;
	struct lhost *lh;

	(void)arg;
	for (s = streams; s != NULL; s = s->next) {
		if ((lh = host_of(s, h->rec.name)) == NULL || !lh->asked ||
		    memcmp(lh->cmd, c->rec.id, COMMAND_ID_LEN) != 0)
			continue;
		lh->ended = 1;
		if (r == NULL) {
			snprintf(lh->state, sizeof(lh->state), "failed");
			snprintf(lh->note, sizeof(lh->note), "%s", err ? err :
			    "no answer");
		} else if (r->status != FERRY__REPORT__STATUS__SUCCEEDED) {
			snprintf(lh->state, sizeof(lh->state), "failed");
			text_escape(lh->note, sizeof(lh->note), r->message ?
			    r->message : "failed");
		} else if (r->result_case ==
		    FERRY__REPORT__RESULT_LOG_CHUNK &&
		    r->log_chunk->containers == 0) {
			snprintf(lh->state, sizeof(lh->state), "no container");
			text_escape(lh->note, sizeof(lh->note),
			    r->log_chunk->note ? r->log_chunk->note : "");
		} else {
			snprintf(lh->state, sizeof(lh->state), "ended");
			if (r->log_chunk != NULL && r->log_chunk->note)
				text_escape(lh->note, sizeof(lh->note),
				    r->log_chunk->note);
		}
		return;
	}
}

static int
pend_add(struct lstream *s, Ferry__LogLine *l)
{
	if (s->npend == s->cappend) {
		size_t cap = s->cappend ? s->cappend * 2 : 256;
		struct pline *np = realloc(s->pend, cap * sizeof(*np));

		if (np == NULL)
			return FERR_NOMEM;
		s->pend = np;
		s->cappend = cap;
	}
	s->pend[s->npend].l = l;
	s->pend[s->npend].arrived_us = clock_mono_us();
	s->pend[s->npend].order = s->order++;
	s->npend++;
	return 0;
}

static Ferry__LogLine *
line_new(const char *host, uint64_t ts, uint32_t stream, const char *text,
    uint64_t revision)
{
	Ferry__LogLine *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	ferry__log_line__init(l);
	l->ts_ns = ts;
	l->stream = stream;
	l->revision = revision;
	l->text = text_escape_dup(text);
	l->host = strdup(host);
	if (l->text == NULL || l->host == NULL) {
		line_free(l);
		return NULL;
	}
	return l;
}

int
logs_chunk(struct ferryd *fd, struct host *h, Ferry__Report *r)
{
	const Ferry__LogChunk *c = r->log_chunk;
	struct lstream *s = find(c->stream.data, c->stream.len);
	struct lhost *lh;
	uint64_t last = 0;
	size_t i;

	(void)fd;
	if (s == NULL)
		return 0;	/* closed: nobody reads it any more */
	if ((lh = host_of(s, h->rec.name)) == NULL || !lh->asked ||
	    r->command_id.len != COMMAND_ID_LEN ||
	    memcmp(lh->cmd, r->command_id.data, COMMAND_ID_LEN) != 0) {
		log_warnx("host %s: refused a log chunk: not of a stream "
		    "asked of this host by that command", h->rec.name);
		return 0;
	}
	lh->heard = 1;
	if (!lh->ended)
		snprintf(lh->state, sizeof(lh->state), "reading");
	for (i = 0; i < c->n_lines; i++) {
		const Ferry__LogLine *in = c->lines[i];
		Ferry__LogLine *l;

		if (s->npend + s->nout >= LOGS_BUF_LINES ||
		    s->bytes >= LOGS_BUF_BYTES) {
			s->dropped++;
			continue;
		}
		l = line_new(h->rec.name, in->ts_ns, in->stream == 2 ? 2 : 1,
		    in->text ? in->text : "", in->revision);
		if (l == NULL || pend_add(s, l) != 0) {
			line_free(l);
			s->dropped++;
			continue;
		}
		s->bytes += strlen(l->text);
		last = in->ts_ns;
	}
	if (c->dropped > 0) {
		char note[96];
		Ferry__LogLine *l;

		lh->dropped += c->dropped;
		snprintf(note, sizeof(note), "[%llu lines dropped]",
		    (unsigned long long)c->dropped);
		l = line_new(h->rec.name, last, 0, note, 0);
		if (l != NULL) {
			l->dropped = c->dropped;
			if (pend_add(s, l) != 0)
				line_free(l);
		}
	}
	return 1;
}

static int
by_time(const void *a, const void *b)
{
	const struct pline *x = a, *y = b;

	if (x->l->ts_ns != y->l->ts_ns)
		return x->l->ts_ns < y->l->ts_ns ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* all_ended: every host of s ended (or was never asked). */
static int
all_ended(struct ferryd *fd, struct lstream *s)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++) {
		struct lhost *lh = &s->hosts[i];
		struct host *h;

		if (!lh->asked || lh->ended)
			continue;
		/* A host that went away ends its part. */
		if ((h = fleet_find(fd, lh->name)) == NULL || !h->online) {
			lh->ended = 1;
			snprintf(lh->state, sizeof(lh->state), "offline");
			snprintf(lh->note, sizeof(lh->note), "went offline");
			continue;
		}
		return 0;
	}
	return 1;
}

/* release moves the pending lines that may go out into out, in time
 * order. */
static void
release(struct ferryd *fd, struct lstream *s)
{
	uint64_t now = clock_mono_us();
	int ended = all_ended(fd, s), ready = 1;
	size_t i, k = 0, n;

	for (i = 0; i < s->nhosts; i++)
		if (s->hosts[i].asked && !s->hosts[i].heard &&
		    !s->hosts[i].ended)
			ready = 0;
	if (!ready && !ended && now - s->opened_us < FIRST_WAIT_US)
		return;
	qsort(s->pend, s->npend, sizeof(*s->pend), by_time);
	/* What arrived long enough ago, and everything before it in time. */
	for (i = 0; i < s->npend; i++)
		if (ended || s->pend[i].arrived_us + HOLD_US <= now)
			k = i + 1;
	if (k == 0)
		return;
	if (s->nout + k > s->capout) {
		size_t cap = s->nout + k + 256;
		Ferry__LogLine **no = realloc(s->out, cap * sizeof(*no));

		if (no == NULL)
			return;
		s->out = no;
		s->capout = cap;
	}
	for (i = 0; i < k; i++)
		s->out[s->nout++] = s->pend[i].l;
	n = s->npend - k;
	memmove(s->pend, s->pend + k, n * sizeof(*s->pend));
	s->npend = n;
}

/* forget drops the lines the reader has (numbered up to cursor). */
static void
forget(struct lstream *s, uint64_t cursor)
{
	size_t k = 0, i;

	if (cursor >= s->first_seq)
		k = cursor - s->first_seq + 1;
	if (k > s->nout)
		k = s->nout;
	if (k == 0)
		return;
	for (i = 0; i < k; i++) {
		s->bytes -= s->bytes >= strlen(s->out[i]->text) ?
		    strlen(s->out[i]->text) : s->bytes;
		line_free(s->out[i]);
	}
	memmove(s->out, s->out + k, (s->nout - k) * sizeof(*s->out));
	s->nout -= k;
	s->first_seq += k;
}

static void
reply(struct ferryd *fd, struct rep_slot *slot, struct lstream *s,
    uint64_t after)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	Ferry__LogsReply lr = FERRY__LOGS_REPLY__INIT;
	Ferry__LogsHost *hs = NULL, **hp = NULL;
	size_t i, n = 0, bytes = 0, skip;

	forget(s, after);
	release(fd, s);
	skip = after + 1 > s->first_seq ? after + 1 - s->first_seq : 0;
	while (skip + n < s->nout && n < LOGS_REPLY_LINES &&
	    bytes < LOGS_REPLY_BYTES) {
		bytes += strlen(s->out[skip + n]->text) + 32;
		n++;
	}
	lr.stream.data = s->id;
	lr.stream.len = sizeof(s->id);
	lr.lines = s->out + (skip < s->nout ? skip : s->nout);
	lr.n_lines = n;
	lr.cursor = s->first_seq + skip + n - 1;
	if (skip + n == 0)
		lr.cursor = s->first_seq - 1;
	lr.dropped = s->dropped;
	lr.revisions = s->revisions;
	lr.done = all_ended(fd, s) && s->npend == 0 &&
	    skip + n >= s->nout;
	hs = calloc(s->nhosts + 1, sizeof(*hs));
	hp = calloc(s->nhosts + 1, sizeof(*hp));
	if (hs == NULL || hp == NULL) {
		free(hs);
		free(hp);
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	for (i = 0; i < s->nhosts; i++) {
		ferry__logs_host__init(&hs[i]);
		hs[i].name = s->hosts[i].name;
		hs[i].state = s->hosts[i].state;
		hs[i].note = s->hosts[i].note;
		hs[i].dropped = s->hosts[i].dropped;
		hp[i] = &hs[i];
	}
	lr.hosts = hp;
	lr.n_hosts = s->nhosts;
	r.ok = 1;
	r.logs = &lr;
	ctl_reply(slot, &r);
	free(hs);
	free(hp);
	if (lr.done && s->done_us == 0)
		s->done_us = clock_mono_us();
}

/* runs_service: h's last heartbeat lists a container of service (of
 * revision, when not 0); *revs gets the revisions seen running. */
static int
runs_service(const struct host *h, const char *service, uint64_t revision,
    uint64_t *revs, size_t *nrevs)
{
	size_t i, j;
	int found = 0;

	if (h->status == NULL)
		return 0;
	for (i = 0; i < h->status->n_containers; i++) {
		const Ferry__Container *c = h->status->containers[i];
		uint64_t rev;

		if (c->service == NULL || strcmp(c->service, service) != 0)
			continue;
		rev = strtoull(c->revision ? c->revision : "0", NULL, 10);
		if (revision != 0 && rev != revision)
			continue;
		found = 1;
		if (c->state == NULL || strcmp(c->state, "running") != 0)
			continue;
		for (j = 0; j < *nrevs && revs[j] != rev; j++)
			;
		if (j == *nrevs && *nrevs < 8)
			revs[(*nrevs)++] = rev;
	}
	return found;
}

static int
ask(struct ferryd *fd, struct lstream *s, struct lhost *lh, struct host *h,
    const Ferry__LogsRequest *q)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Logs lg = FERRY__LOGS__INIT;
	struct cmd *c;
	int rc;

	lg.stream.data = s->id;
	lg.stream.len = sizeof(s->id);
	lg.service = s->service;
	lg.revision = q->revision;
	lg.since_ms = q->since_ms;
	lg.tail = q->tail;
	lg.follow = q->follow;
	lg.lease_ms = LOGS_HOST_LEASE_MS;
	lg.chunk_bytes = CHUNK_BYTES;
	lg.rate_bytes = fd->conf.log_rate ? (uint32_t)fd->conf.log_rate :
	    RATE_BYTES;
	lg.max_ms = q->follow ? LOGS_FOLLOW_MAX_MS : 120000;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_LOGS;
	cmd.logs = &lg;
	/* Accepted within ASK_TTL_MS, done within its time and a lease. */
	c = link_prepare(fd, h, &cmd, "logs", ASK_TTL_MS, lg.max_ms +
	    2 * LOGS_HOST_LEASE_MS, on_done, NULL);
	if (c == NULL)
		return FERR_NOMEM;
	/* Recorded as every command (no deployment: a restart expires it,
	 * never sends it again). */
	if ((rc = store_command_insert(fd->store, &c->rec)) != 0) {
		link_discard(c);
		return rc;
	}
	memcpy(lh->cmd, c->rec.id, COMMAND_ID_LEN);
	lh->asked = 1;
	snprintf(lh->state, sizeof(lh->state), "asked");
	link_enqueue(fd, h, c);
	return 0;
}

static void
open_stream(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__LogsRequest *q, const char *actor)
{
	struct lstream *s;
	uint64_t revs[8];
	size_t nrevs = 0, i, j, n;
	int rc;

	if (q->service == NULL || q->service[0] == '\0' ||
	    strlen(q->service) >= sizeof(s->service)) {
		ctl_error(slot, "logs: a SERVICE is needed");
		return;
	}
	if (q->tail < -1 || q->tail > LOGS_TAIL_MAX) {
		ctl_error(slot, "logs: --tail must be from 0 to %d",
		    LOGS_TAIL_MAX);
		return;
	}
	for (i = 0; i < q->n_hosts; i++) {
		if (fleet_find(fd, q->hosts[i]) == NULL) {
			ctl_error(slot, "logs: unknown host \"%s\"",
			    q->hosts[i]);
			return;
		}
		for (j = 0; j < i; j++)
			if (strcmp(q->hosts[i], q->hosts[j]) == 0) {
				ctl_error(slot, "logs: host \"%s\" named "
				    "twice", q->hosts[i]);
				return;
			}
	}
	if (nstreams >= LOGS_OPEN_MAX) {
		ctl_error(slot, "logs: %d log streams are open already; try "
		    "again when one ends", LOGS_OPEN_MAX);
		log_warnx("control: refused logs of %s for %s: %d streams "
		    "open", q->service, actor, LOGS_OPEN_MAX);
		return;
	}
	n = q->n_hosts ? q->n_hosts : fd->nhosts;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->hosts = calloc(n + 1, sizeof(*s->hosts))) == NULL) {
		free(s);
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	randombytes_buf(s->id, sizeof(s->id));
	snprintf(s->service, sizeof(s->service), "%s", q->service);
	s->follow = q->follow;
	s->first_seq = 1;
	s->opened_us = s->read_us = clock_mono_us();
	for (i = 0; i < n; i++) {
		struct host *h = q->n_hosts ? fleet_find(fd, q->hosts[i]) :
		    fd->hosts[i];
		int runs = runs_service(h, q->service, q->revision, revs,
		    &nrevs);
		struct lhost *lh;

		/* Unnamed, a host counts when it ran the service when last
		 * heard from. */
		if (!q->n_hosts && (!runs || h->rec.state != HOST_ACCEPTED))
			continue;
		lh = &s->hosts[s->nhosts++];
		snprintf(lh->name, sizeof(lh->name), "%s", h->rec.name);
		if (h->rec.state != HOST_ACCEPTED) {
			lh->ended = 1;
			snprintf(lh->state, sizeof(lh->state), "failed");
			snprintf(lh->note, sizeof(lh->note), "host %s",
			    h->rec.state == HOST_PENDING ? "pending" :
			    "revoked");
		} else if (!h->online) {
			lh->ended = 1;
			snprintf(lh->state, sizeof(lh->state), "offline");
			snprintf(lh->note, sizeof(lh->note), "offline");
		} else if ((rc = ask(fd, s, lh, h, q)) != 0) {
			lh->ended = 1;
			snprintf(lh->state, sizeof(lh->state), "failed");
			snprintf(lh->note, sizeof(lh->note), "cannot ask it: "
			    "%s", ferr_str(rc));
		}
	}
	if (s->nhosts == 0) {
		stream_free(s);
		if (q->revision)
			ctl_error(slot, "logs: no host runs %s revision %llu "
			    "(ferry hosts shows what runs where)", q->service,
			    (unsigned long long)q->revision);
		else
			ctl_error(slot, "logs: no host runs %s (ferry hosts "
			    "shows what runs where)", q->service);
		return;
	}
	s->revisions = nrevs > 1;
	s->next = streams;
	streams = s;
	nstreams++;
	log_info("control: %s reads the logs of %s on %zu host(s)%s", actor,
	    s->service, s->nhosts, s->follow ? ", following" : "");
	reply(fd, slot, s, 0);
}

void
logs_request(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__LogsRequest *q, const char *actor)
{
	struct lstream *s;

	if (q->stream.len == 0) {
		open_stream(fd, slot, q, actor);
		return;
	}
	if ((s = find(q->stream.data, q->stream.len)) == NULL) {
		ctl_error(slot, "logs: the stream is closed (not read for "
		    "%d s, or ferryd restarted)", LOGS_READER_LEASE_MS / 1000);
		return;
	}
	s->read_us = clock_mono_us();
	if (q->close) {
		Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;

		close_stream(fd, s, "its reader closed it");
		r.ok = 1;
		ctl_reply(slot, &r);
		return;
	}
	reply(fd, slot, s, q->after);
}

void
logs_sweep(struct ferryd *fd)
{
	struct lstream *s, *next;
	uint64_t now = clock_mono_us();

	for (s = streams; s != NULL; s = next) {
		next = s->next;
		if ((now - s->read_us) / 1000 >= LOGS_READER_LEASE_MS)
			close_stream(fd, s, "not read for a while");
		else if (s->done_us != 0 && now - s->done_us >= DONE_KEEP_US)
			close_stream(fd, s, "done");
	}
}
