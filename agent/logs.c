/* SPDX-License-Identifier: Apache-2.0 */
/* logs.c: `ferry logs` on the agent (logs.h).
 *
 * A Logs command runs on a thread of its own (never a swap worker, so it
 * neither waits for a swap of its service nor holds one up): it lists the
 * service's containers, then reads each one's log on a reader thread
 * (docker_logs_read, cut into lines by logframe.c).  Lines go into the
 * stream's pending chunk under the agent-wide lock, escaped, each costing
 * its bytes against the host's bucket: a follow drops (and counts) what
 * does not fit in the bucket or the chunk, a one-off read waits for room.
 * The loop's tick (every 100 ms) sends a stream's pending chunk when none
 * of it is on its way, or an empty one every LOGS_KEEPALIVE_MS; each
 * acknowledgement that names the command renews a follow's lease.  A
 * stream ends when its readers are done and everything went (its final
 * report, recorded as every command's), or when its lease ran out or
 * ferryd said nobody reads it (readers cancelled, the rest dropped).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent.h"
#include "clock.h"
#include "docker.h"
#include "ferr.h"
#include "log.h"
#include "logframe.h"
#include "logs.h"
#include "text.h"

#define TICK_MS		100
#define LINE_COST	16	/* per line beside its text: the framing */

struct reader {
	struct logstream *s;
	pthread_t th;
	int started;
	char id[80];
	uint64_t revision;
	uint64_t since_ns;
	int tail;
	int tty, framing_known;
	struct logframe f;
	char line[LOGLINE_MAX + 1];
	char esc[LOGS_CHUNK_MAX / 2];
};

struct logstream {
	struct agent *a;
	Ferry__Command *cmd;
	char idhex[33];
	pthread_t th;
	atomic_int stop;	/* readers give up */
	atomic_int done;	/* the stream's thread ended */
	struct reader *r[LOGS_READERS_MAX];
	size_t nr;
	uint32_t chunk_bytes;
	int follow;
	/* Under logs_mu: */
	Ferry__LogLine **lines;
	size_t n, cap, bytes;
	uint64_t dropped;
	char note[320];
	int failed;
	/* The loop's: */
	int inflight, unread;
	uint64_t start_us, sent_us, renewed_us, total_dropped;
	struct logstream *next;
};

struct logs {
	pthread_mutex_t mu;
	struct logbucket bucket;
	uv_timer_t tick;
	struct logstream *streams;
	size_t n;
};

static struct logs logs_of_agent;	/* one agent per process */

static uint64_t
now_us(void)
{
	return clock_mono_us();
}

static void
line_free(Ferry__LogLine *l)
{
	if (l == NULL)
		return;
	free(l->text);
	free(l);
}

/* take_room waits (a one-off read) or gives up (a follow, counting a
 * dropped line) until cost bytes fit in the pending chunk and the bucket;
 * returns with logs_mu held and 1 when they do, without it and 0 when
 * not. */
static int
take_room(struct logstream *s, size_t cost)
{
	struct logs *L = &logs_of_agent;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	for (;;) {
		pthread_mutex_lock(&L->mu);
		if (s->bytes + cost <= s->chunk_bytes &&
		    logbucket_take(&L->bucket, cost, now_us()))
			return 1;
		if (s->follow) {
			s->dropped++;
			pthread_mutex_unlock(&L->mu);
			return 0;
		}
		pthread_mutex_unlock(&L->mu);
		if (atomic_load(&s->stop))
			return 0;
		nanosleep(&pause, NULL);
	}
}

static int
on_line(void *arg, int stream, uint64_t ts, const char *text, size_t len)
{
	struct reader *r = arg;
	struct logstream *s = r->s;
	Ferry__LogLine *l, **nl;
	char *esc;
	size_t cost;

	if (atomic_load(&s->stop))
		return FERR_CLOSED;
	memcpy(r->line, text, len);
	r->line[len] = '\0';
	/* A NUL in the line ends it here: protobuf strings are C strings.
	 * Escaped, a line takes at most half a chunk (cut between two
	 * characters), so that it always fits in one. */
	text_escape(r->esc, s->chunk_bytes / 2, r->line);
	if ((esc = strdup(r->esc)) == NULL)
		return FERR_NOMEM;
	cost = strlen(esc) + LINE_COST;
	if (!take_room(s, cost)) {
		free(esc);
		return atomic_load(&s->stop) ? FERR_CLOSED : 0;
	}
	/* logs_mu held */
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;

		if ((nl = realloc(s->lines, cap * sizeof(*nl))) == NULL)
			goto drop;
		s->lines = nl;
		s->cap = cap;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto drop;
	ferry__log_line__init(l);
	l->ts_ns = ts;
	l->stream = (uint32_t)stream;
	l->text = esc;
	l->revision = r->revision;
	s->lines[s->n++] = l;
	s->bytes += cost;
	pthread_mutex_unlock(&logs_of_agent.mu);
	return 0;
drop:
	s->dropped++;
	pthread_mutex_unlock(&logs_of_agent.mu);
	free(esc);
	return 0;
}

static int
on_data(void *arg, const char *p, size_t n)
{
	struct reader *r = arg;

	if (!r->framing_known) {
		r->f.raw = r->tty;
		r->framing_known = 1;
	}
	return logframe_feed(&r->f, p, n, on_line, r);
}

static void *
reader_run(void *arg)
{
	struct reader *r = arg;
	struct logstream *s = r->s;
	const Ferry__Logs *lg = s->cmd->logs;
	struct docker_logs_opts o = {
		.since_ns = r->since_ns,
		.tail = r->tail,
		.follow = lg->follow,
		.timeout_ms = lg->max_ms,
		.cancel = &s->stop,
	};
	struct docker *d = NULL;
	char err[256];
	int rc;

	if ((rc = docker_open(&d, s->a->conf.docker_socket)) != 0) {
		snprintf(err, sizeof(err), "docker client: %s", ferr_str(rc));
		goto out;
	}
	/* The framing is known once Docker said whether it has a TTY:
	 * docker_logs_read sets tty before the first byte. */
	logframe_init(&r->f, 0);
	rc = docker_logs_read(d, r->id, &o, on_data, r, &r->tty, err,
	    sizeof(err));
	if (rc == 0)
		logframe_flush(&r->f, on_line, r);
out:
	if (rc != 0 && rc != FERR_CLOSED && !atomic_load(&s->stop)) {
		pthread_mutex_lock(&logs_of_agent.mu);
		snprintf(s->note, sizeof(s->note), "%s", err);
		pthread_mutex_unlock(&logs_of_agent.mu);
	}
	docker_close(d);
	return NULL;
}

/* add_reader starts reading container st (from since_ns, its last tail
 * lines first) unless s reads it already; 1 when it did. */
static int
add_reader(struct logstream *s, const struct docker_state *st,
    uint64_t since_ns, int tail)
{
	struct reader *r;
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (strcmp(s->r[i]->id, st->id) == 0)
			return 0;
	if (s->nr >= LOGS_READERS_MAX || (r = calloc(1, sizeof(*r))) == NULL)
		return 0;
	r->s = s;
	snprintf(r->id, sizeof(r->id), "%s", st->id);
	r->revision = strtoull(st->revision, NULL, 10);
	r->since_ns = since_ns;
	r->tail = tail;
	pthread_mutex_lock(&logs_of_agent.mu);	/* send_chunk reads nr */
	s->r[s->nr++] = r;
	pthread_mutex_unlock(&logs_of_agent.mu);
	r->started = pthread_create(&r->th, NULL, reader_run, r) == 0;
	return r->started;
}

/* pause_ms sleeps ms, or less once the stream is told to stop. */
static void
pause_ms(struct logstream *s, unsigned ms)
{
	struct timespec step = { 0, 100 * 1000 * 1000 };

	for (; ms >= 100 && !atomic_load(&s->stop); ms -= 100)
		nanosleep(&step, NULL);
}

/*
 * stream_run lists the service's containers and reads them: what runs of
 * it (of the revision asked for: in any state); when nothing runs, the
 * newest revision's container, so that a crashed one's last words can be
 * read.  A follow lists them again every second and reads each new one
 * that runs from its start (a swap's new container), up to
 * LOGS_READERS_MAX in the stream's life.
 */
static void *
stream_run(void *arg)
{
	struct logstream *s = arg;
	const Ferry__Logs *lg = s->cmd->logs;
	struct docker *d = NULL;
	struct docker_state *st = NULL;
	size_t n = 0, i, running, newest;
	uint64_t best, started_ns = (uint64_t)clock_wall_ms() * 1000000u;
	char err[256];
	int rc, first = 1;

	if ((rc = docker_open(&d, s->a->conf.docker_socket)) != 0) {
		snprintf(err, sizeof(err), "%s", ferr_str(rc));
		goto fail;
	}
	do {
		if ((rc = docker_list_host(d, s->a->conf.name, &st, &n, err,
		    sizeof(err))) != 0) {
			if (first)
				goto fail;
			pause_ms(s, 1000);
			continue;	/* tried again */
		}
		running = newest = 0;
		best = 0;
		for (i = 0; i < n; i++) {
			uint64_t rev = strtoull(st[i].revision, NULL, 10);

			if (strcmp(st[i].service, lg->service) != 0)
				continue;
			if (lg->revision == 0 && st[i].running)
				running++;
			if (lg->revision == 0 && rev >= best) {
				best = rev;
				newest = i;
			}
		}
		for (i = 0; i < n; i++) {
			uint64_t rev = strtoull(st[i].revision, NULL, 10);

			if (strcmp(st[i].service, lg->service) != 0 ||
			    (lg->revision != 0 && rev != lg->revision) ||
			    (lg->revision == 0 && running > 0 &&
			    !st[i].running) ||
			    (lg->revision == 0 && running == 0 &&
			    i != newest) || (!first && !st[i].running))
				continue;
			/* A container that came after the stream began is
			 * read from its start. */
			add_reader(s, &st[i], first ? lg->since_ms * 1000000u :
			    started_ns, first ? lg->tail : -1);
		}
		free(st);
		st = NULL;
		if (first && s->nr == 0) {
			pthread_mutex_lock(&logs_of_agent.mu);
			if (lg->revision != 0)
				snprintf(s->note, sizeof(s->note), "no "
				    "container of %s revision %llu",
				    lg->service,
				    (unsigned long long)lg->revision);
			else
				snprintf(s->note, sizeof(s->note), "no "
				    "container of %s", lg->service);
			pthread_mutex_unlock(&logs_of_agent.mu);
			break;
		}
		first = 0;
		if (lg->follow)
			pause_ms(s, 1000);
	} while (lg->follow && !atomic_load(&s->stop));
	for (i = 0; i < s->nr; i++)
		if (s->r[i]->started)
			pthread_join(s->r[i]->th, NULL);
	docker_close(d);
	atomic_store(&s->done, 1);
	return NULL;
fail:
	pthread_mutex_lock(&logs_of_agent.mu);
	snprintf(s->note, sizeof(s->note), "cannot list containers: %s", err);
	s->failed = 1;
	pthread_mutex_unlock(&logs_of_agent.mu);
	docker_close(d);
	atomic_store(&s->done, 1);
	return NULL;
}

static int
pack(const Ferry__Report *r, uint8_t **out, size_t *len)
{
	size_t n = ferry__report__get_packed_size(r);

	if ((*out = malloc(n + 1)) == NULL)
		return FERR_NOMEM;
	ferry__report__pack(r, *out);
	*len = n;
	return 0;
}

/* send_chunk sends what is pending of s (lines, the count of those
 * dropped), or an empty chunk that keeps its lease. */
static void
send_chunk(struct logstream *s)
{
	struct logs *L = &logs_of_agent;
	Ferry__Report r = FERRY__REPORT__INIT;
	Ferry__LogChunk c = FERRY__LOG_CHUNK__INIT;
	Ferry__LogLine **lines;
	size_t n, i;
	uint8_t *buf;
	size_t len;

	pthread_mutex_lock(&L->mu);
	lines = s->lines;
	n = s->n;
	c.dropped = s->dropped;
	s->lines = NULL;
	s->n = s->cap = s->bytes = 0;
	s->dropped = 0;
	c.containers = (uint32_t)s->nr;
	pthread_mutex_unlock(&L->mu);
	s->total_dropped += c.dropped;
	c.stream = s->cmd->logs->stream;
	c.lines = lines;
	c.n_lines = n;
	r.command_id = s->cmd->id;
	r.sequence = s->cmd->sequence;
	r.status = FERRY__REPORT__STATUS__PROGRESS;
	r.sent_at_ms = clock_wall_ms();
	r.result_case = FERRY__REPORT__RESULT_LOG_CHUNK;
	r.log_chunk = &c;
	if (pack(&r, &buf, &len) == 0) {
		s->inflight = 1;
		s->sent_us = now_us();
		report_log(s->a, s, buf, len);
	}
	for (i = 0; i < n; i++)
		line_free(lines[i]);
	free(lines);
}

/* finish records the stream's end as its command's result. */
static void
finish(struct logstream *s)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	Ferry__LogChunk c = FERRY__LOG_CHUNK__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	c.stream = s->cmd->logs->stream;
	c.end = 1;
	c.note = s->note;
	c.containers = (uint32_t)s->nr;
	c.dropped = s->total_dropped;
	r.command_id = s->cmd->id;
	r.sequence = s->cmd->sequence;
	r.status = s->failed ? FERRY__REPORT__STATUS__FAILED :
	    FERRY__REPORT__STATUS__SUCCEEDED;
	r.message = s->note;
	r.sent_at_ms = clock_wall_ms();
	r.result_case = FERRY__REPORT__RESULT_LOG_CHUNK;
	r.log_chunk = &c;
	log_info("command %.12s (logs of %s): ended%s%s (%llu lines dropped)",
	    s->idhex, s->cmd->logs->service, s->note[0] ? ": " : "",
	    s->note, (unsigned long long)s->total_dropped);
	if (pack(&r, &buf, &len) != 0)
		return;
	if ((rc = records_finish(s->a->records, s->cmd->id.data,
	    s->cmd->id.len, s->failed ? "failed" : "succeeded", buf,
	    len)) != 0)
		log_warnx("command %.12s: cannot record the result: %s",
		    s->idhex, ferr_str(rc));
	free(buf);
	report_kick(s->a);
}

static void
stream_free(struct logstream *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		line_free(s->lines[i]);
	free(s->lines);
	for (i = 0; i < s->nr; i++)
		free(s->r[i]);
	ferry__command__free_unpacked(s->cmd, NULL);
	free(s);
}

static void
stop(struct logstream *s, const char *why)
{
	if (atomic_exchange(&s->stop, 1))
		return;
	pthread_mutex_lock(&logs_of_agent.mu);
	if (s->note[0] == '\0')
		snprintf(s->note, sizeof(s->note), "%s", why);
	pthread_mutex_unlock(&logs_of_agent.mu);
}

static void
on_tick(uv_timer_t *t)
{
	struct logs *L = &logs_of_agent;
	struct logstream **pp = &L->streams, *s;
	uint64_t now = now_us();
	int pending;

	(void)t;
	while ((s = *pp) != NULL) {
		const Ferry__Logs *lg = s->cmd->logs;

		if (s->follow && (now - s->renewed_us) / 1000 >= lg->lease_ms)
			stop(s, "no reader: the stream's lease ran out");
		if ((now - s->start_us) / 1000 >= lg->max_ms)
			stop(s, "the stream's time is up");
		if (s->inflight) {
			pp = &s->next;
			continue;
		}
		pthread_mutex_lock(&L->mu);
		pending = s->n > 0 || s->dropped > 0;
		pthread_mutex_unlock(&L->mu);
		if (s->unread)
			pending = 0;	/* nobody reads it: nothing more goes */
		if (pending || (!atomic_load(&s->done) &&
		    (now - s->sent_us) / 1000 >= LOGS_KEEPALIVE_MS)) {
			send_chunk(s);
			pp = &s->next;
			continue;
		}
		if (!atomic_load(&s->done)) {
			pp = &s->next;
			continue;
		}
		pthread_join(s->th, NULL);
		finish(s);
		*pp = s->next;
		L->n--;
		stream_free(s);
	}
}

void
logs_acked(struct agent *a, struct logstream *s, int live)
{
	(void)a;
	s->inflight = 0;
	if (live > 0)
		s->renewed_us = now_us();
	else if (live == 0) {
		s->unread = 1;
		stop(s, "nobody reads the stream any more");
	}
}

int
logs_submit(struct agent *a, Ferry__Command *cmd, char *err, size_t errlen)
{
	struct logs *L = &logs_of_agent;
	const Ferry__Logs *lg = cmd->logs;
	struct logstream *s;
	uint32_t rate;

	if (lg == NULL || lg->service == NULL || lg->service[0] == '\0' ||
	    lg->stream.len != 16) {
		snprintf(err, errlen, "a logs command without a service or "
		    "stream");
		return FERR_ARG;
	}
	if (L->n >= LOGS_STREAMS_MAX) {
		snprintf(err, errlen, "%d log streams run on this host "
		    "already", LOGS_STREAMS_MAX);
		return FERR_STATE;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return FERR_NOMEM;
	}
	/* Bounds whatever was asked. */
	cmd->logs->lease_ms = lg->lease_ms < LOGS_LEASE_MIN_MS ?
	    LOGS_LEASE_MIN_MS : lg->lease_ms > LOGS_LEASE_MAX_MS ?
	    LOGS_LEASE_MAX_MS : lg->lease_ms;
	if (lg->max_ms == 0)
		cmd->logs->max_ms = 3600u * 1000u;
	s->chunk_bytes = lg->chunk_bytes == 0 || lg->chunk_bytes >
	    LOGS_CHUNK_MAX ? LOGS_CHUNK_MAX : lg->chunk_bytes;
	if (s->chunk_bytes < 1024)
		s->chunk_bytes = 1024;
	rate = lg->rate_bytes == 0 || lg->rate_bytes > LOGS_RATE_MAX ?
	    LOGS_RATE_MAX : lg->rate_bytes;
	/* The host's bucket takes the newest command's rate; its burst is
	 * one chunk. */
	pthread_mutex_lock(&L->mu);
	L->bucket.rate = rate;
	L->bucket.burst = s->chunk_bytes > rate ? rate : s->chunk_bytes;
	pthread_mutex_unlock(&L->mu);
	s->a = a;
	s->cmd = cmd;
	s->follow = lg->follow;
	sodium_bin2hex(s->idhex, sizeof(s->idhex), cmd->id.data,
	    cmd->id.len < 16 ? cmd->id.len : 16);
	s->start_us = s->sent_us = s->renewed_us = now_us();
	if (pthread_create(&s->th, NULL, stream_run, s) != 0) {
		free(s);
		snprintf(err, errlen, "cannot start a thread");
		return FERR_NOMEM;
	}
	s->next = L->streams;
	L->streams = s;
	L->n++;
	log_info("command %.12s: logs of %s%s", s->idhex, lg->service,
	    lg->follow ? ", following" : "");
	return 0;
}

int
logs_start(struct agent *a)
{
	struct logs *L = &logs_of_agent;

	memset(L, 0, sizeof(*L));
	pthread_mutex_init(&L->mu, NULL);
	logbucket_init(&L->bucket, 64 * 1024, 32 * 1024, now_us());
	uv_timer_init(a->loop, &L->tick);
	L->tick.data = a;
	uv_timer_start(&L->tick, on_tick, TICK_MS, TICK_MS);
	return 0;
}

void
logs_stop(struct agent *a)
{
	struct logs *L = &logs_of_agent;
	struct logstream *s, *next;

	(void)a;
	uv_timer_stop(&L->tick);
	uv_close((uv_handle_t *)&L->tick, NULL);
	for (s = L->streams; s != NULL; s = s->next)
		stop(s, "the agent stops");
	for (s = L->streams; s != NULL; s = next) {
		next = s->next;
		pthread_join(s->th, NULL);
		stream_free(s);
	}
	L->streams = NULL;
	L->n = 0;
}
