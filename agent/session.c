/* SPDX-License-Identifier: Apache-2.0 */
/* session.c: the agent's side of the link: join, heartbeat/poll, reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "agent.h"
#include "clock.h"
#include "envelope.h"
#include "ferr.h"
#include "log.h"
#include "logs.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define REPORT_TIMEOUT_MS 10000
#define ADHOC_MAX	32
/* What the reports riding on one poll may weigh together. */
#define RIDE_BYTES	(64u * 1024u)
/* A refused agent (revoked, bad request) asks again this rarely. */
#define REFUSED_RETRY_MS 5000

struct adhoc {
	struct adhoc *next;
	uint8_t *report;
	size_t len;
	struct logstream *stream;	/* a log chunk's (report_log) */
};

static void poll_send(struct agent *a);

/* ---- exchanges: one request and its reply on one context -------------- */

static void exchange_finish(struct exchange *x, int rv, nng_msg *msg);
static int exchange_go(struct exchange *x);
static void exchange_forget(struct exchange *x);

/* welcome: the answer to our Hello came (or did not); the exchanges
 * waiting on it go on. */
static void
welcome(struct exchange *x, int rv, nng_msg *msg)
{
	struct agent *a = x->a;
	struct exchange *other = x == &a->poll ? &a->report : &a->poll;
	int rc = rv == 0 ? 0 : FERR_IO, i;

	x->hello = 0;
	a->hello_by = NULL;
	if (rv == 0 && (rc = chan_welcome(&a->chan, nng_msg_body(msg),
	    nng_msg_len(msg), a->have_pinned ? a->pinned : NULL,
	    a->want_fpr)) != 0) {
		log_warnx("refused ferryd's answer to a hello: %s",
		    rc == FERR_SIGNER ? "signed by another key than ferryd's"
		    : ferr_str(rc));
		chan_client_reset(&a->chan);
		rv = rc == FERR_SIGNER || rc == FERR_SIGNATURE ?
		    NNG_EPEERAUTH : NNG_EPROTO;
	}
	if (msg != NULL)
		nng_msg_free(msg);
	for (i = 0; i < 2; i++) {
		struct exchange *e = i == 0 ? x : other;

		if (e != x && !e->waiting)
			continue;
		e->waiting = 0;
		if (rv == 0 && (rc = exchange_go(e)) == 0)
			continue;
		exchange_finish(e, rv ? rv : NNG_ENOMEM, NULL);
	}
}

/* exchange_finish hands the answer over to the exchange's done. */
static void
exchange_finish(struct exchange *x, int rv, nng_msg *msg)
{
	exchange_forget(x);
	x->stage = 0;
	x->done(x->a, rv, msg);
}

static void
exchange_handoff(void *arg)
{
	struct exchange *x = arg;
	struct agent *a = x->a;
	nng_msg *msg = x->msg;
	const uint8_t *plain;
	size_t plen;
	int rc;

	x->msg = NULL;
	if (x->hello) {
		welcome(x, x->rv, msg);
		return;
	}
	if (x->rv != 0 || a->conf.insecure_cleartext_link) {
		exchange_finish(x, x->rv, msg);
		return;
	}
	rc = chan_client_open(&a->chan, x->counter, nng_msg_body(msg),
	    nng_msg_len(msg), &plain, &plen);
	if ((rc == FERR_SESSION || (rc == FERR_MALFORMED && chan_frame_kind(
	    nng_msg_body(msg), nng_msg_len(msg)) == CHAN_UNKNOWN)) &&
	    x->retries++ < 2) {
		/* ferryd restarted: a new session (unless the other exchange
		 * made one already: this request went in the one before),
		 * and the same envelope. */
		log_debug("ferryd no longer knows our session; saying hello");
		nng_msg_free(msg);
		if (rc == FERR_SESSION)
			chan_client_reset(&a->chan);
		if ((rc = exchange_go(x)) != 0)
			exchange_finish(x, NNG_ENOMEM, NULL);
		return;
	}
	if (rc != 0) {
		log_warnx("refused message from ferryd at %s: %s",
		    a->conf.coordinator, rc == FERR_SIGNATURE ? "does not open"
		    " with the session's key, or answers another request" :
		    ferr_str(rc));
		nng_msg_free(msg);
		exchange_finish(x, NNG_ECRYPTO, NULL);
		return;
	}
	/* The envelope, opened in place, is what the message now holds. */
	nng_msg_trim(msg, (size_t)(plain - (const uint8_t *)nng_msg_body(msg)));
	nng_msg_chop(msg, nng_msg_len(msg) - plen);
	exchange_finish(x, 0, msg);
}

/* exchange_cb runs on an NNG thread and touches only its exchange. */
static void
exchange_cb(void *arg)
{
	struct exchange *x = arg;
	int rv = nng_aio_result(x->aio);

	if (x->stage == 1) {
		if (rv == 0) {
			x->stage = 2;
			nng_ctx_recv(x->ctx, x->aio);
			return;
		}
		nng_msg_free(nng_aio_get_msg(x->aio));
		x->msg = NULL;
	} else {
		x->msg = rv == 0 ? nng_aio_get_msg(x->aio) : NULL;
	}
	x->rv = rv;
	if (mailbox_post(&x->a->mb, exchange_handoff, x) != 0 &&
	    x->msg != NULL) {
		nng_msg_free(x->msg);
		x->msg = NULL;
	}
}

/* wire_send puts len bytes on the wire as this exchange's request. */
static int
wire_send(struct exchange *x, const uint8_t *buf, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0)
		return FERR_NOMEM;
	x->stage = 1;
	nng_aio_set_msg(x->aio, m);
	nng_aio_set_timeout(x->aio, x->timeout);
	nng_ctx_send(x->ctx, x->aio);
	return 0;
}

static void
exchange_forget(struct exchange *x)
{
	free(x->env);
	x->env = NULL;
	x->hello = x->waiting = x->retries = 0;
}

/*
 * exchange_go sends the exchange's envelope sealed in the channel; with no
 * session yet it says Hello first (or waits for the other exchange's Hello
 * to be answered).
 */
static int
exchange_go(struct exchange *x)
{
	struct agent *a = x->a;
	uint8_t hello[CHAN_HELLO_LEN], *frame;
	size_t flen;
	int rc;

	if (a->conf.insecure_cleartext_link)
		return wire_send(x, x->env, x->env_len);
	if (!a->chan.ready) {
		if (a->hello_by != NULL && a->hello_by != x) {
			x->waiting = 1;
			x->stage = 1;
			return 0;
		}
		chan_hello(&a->chan, hello);
		a->hello_by = x;
		x->hello = 1;
		return wire_send(x, hello, sizeof(hello));
	}
	if ((rc = chan_client_seal(&a->chan, x->env, x->env_len, &frame, &flen,
	    &x->counter)) != 0)
		return rc;
	rc = wire_send(x, frame, flen);
	free(frame);
	return rc;
}

/* exchange_send sends a signed envelope and, through done, hands over
 * ferryd's answer opened (or a failure). */
static int
exchange_send(struct exchange *x, const uint8_t *buf, size_t len,
    nng_duration timeout)
{
	int rc;

	exchange_forget(x);
	if ((x->env = malloc(len + 1)) == NULL)
		return FERR_NOMEM;
	memcpy(x->env, buf, len);
	x->env_len = len;
	x->timeout = timeout;
	if ((rc = exchange_go(x)) != 0) {
		exchange_forget(x);
		x->stage = 0;
	}
	return rc;
}

static int
exchange_init(struct agent *a, struct exchange *x,
    void (*done)(struct agent *, int, nng_msg *))
{
	x->a = a;
	x->done = done;
	x->backoff_ms = BACKOFF_MIN_MS;
	if (nng_ctx_open(&x->ctx, a->sock) != 0)
		return FERR_IO;
	if (nng_aio_alloc(&x->aio, exchange_cb, x) != 0)
		return FERR_NOMEM;
	uv_timer_init(a->loop, &x->timer);
	x->timer.data = a;
	return 0;
}

static uint32_t
backoff_next(struct exchange *x)
{
	uint32_t d = x->backoff_ms;

	x->backoff_ms = x->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    x->backoff_ms * 2;
	/* Jitter keeps a fleet from reconnecting in lockstep. */
	return d / 2 + randombytes_uniform(d / 2 + 1);
}

/* problem logs a link problem once, not on every retry. */
static void
problem(struct agent *a, const char *what)
{
	if (a->link_up || strcmp(a->last_problem, what) != 0)
		log_warnx("ferryd at %s: %s; retrying", a->conf.coordinator,
		    what);
	a->link_up = 0;
	snprintf(a->last_problem, sizeof(a->last_problem), "%s", what);
}

static void
link_ok(struct agent *a)
{
	if (!a->link_up)
		log_info("connected to ferryd at %s as %s", a->conf.coordinator,
		    a->conf.name);
	a->link_up = 1;
	a->last_problem[0] = '\0';
}

/* ---- verifying what ferryd sends -------------------------------------- */

/*
 * open_reply verifies a reply: signed by the pinned ferryd key or, before
 * the first pin, by a key with the configured fingerprint (then pinned).
 */
static int
open_reply(struct agent *a, nng_msg *msg, struct envelope *ev)
{
	uint8_t fpr[KEY_FPR_LEN];
	char path[600], got[KEY_FPR_STRLEN];
	int rc;

	if (a->have_pinned)
		return envelope_open(nng_msg_body(msg), nng_msg_len(msg),
		    a->pinned, ev);
	if ((rc = envelope_open(nng_msg_body(msg), nng_msg_len(msg), NULL,
	    ev)) != 0)
		return rc;
	keys_fingerprint(ev->signer, fpr);
	if (sodium_memcmp(fpr, a->want_fpr, KEY_FPR_LEN) != 0) {
		keys_fingerprint_str(fpr, got);
		log_warnx("ferryd at %s presented key %s, not the configured "
		    "fingerprint %s", a->conf.coordinator, got,
		    a->conf.coordinator_fingerprint);
		return FERR_SIGNER;
	}
	memcpy(a->pinned, ev->signer, KEY_PUBLIC_LEN);
	a->have_pinned = 1;
	snprintf(path, sizeof(path), "%s/coordinator.pub", a->conf.state_dir);
	if ((rc = keys_save_public(path, a->pinned)) != 0)
		log_warnx("cannot save the pinned key %s: %s", path,
		    ferr_str(rc));
	log_info("pinned ferryd key %s", a->conf.coordinator_fingerprint);
	return 0;
}

/* ---- polls ------------------------------------------------------------ */

static void
on_poll_timer(uv_timer_t *t)
{
	poll_send(t->data);
}

static void
poll_later(struct agent *a, uint64_t ms)
{
	if (a->stopping)
		return;
	if (ms == 0) {
		poll_send(a);
		return;
	}
	uv_timer_start(&a->poll.timer, on_poll_timer, ms, 0);
}

static int
seal_join(struct agent *a, uint8_t **buf, size_t *len)
{
	Ferry__JoinRequest r = FERRY__JOIN_REQUEST__INIT;

	r.name = a->conf.name;
	r.sent_at_ms = clock_wall_ms();
	r.publish_address = a->conf.publish_address;
	return envelope_seal_msg(FERRY__KIND__KIND_JOIN_REQUEST, &r.base,
	    &a->kp, buf, len);
}

/* ---- reports riding on polls ------------------------------------------ */

static int in_set(const struct ride *set, size_t n, const uint8_t *id,
    size_t id_len);

static int
riding(const struct agent *a, const uint8_t *id, size_t id_len)
{
	return in_set(a->riding, a->nriding, id, id_len);
}

struct ride_pick {
	struct agent *a;
	ProtobufCBinaryData body[RIDE_MAX];
	size_t n, bytes;
};

static int
on_ride(void *arg, const uint8_t *id, size_t id_len, const uint8_t *rep,
    size_t len, uint64_t number)
{
	struct ride_pick *p = arg;
	struct agent *a = p->a;
	struct ride *r;

	if (p->n >= RIDE_MAX || a->nriding >= RIDE_INFLIGHT)
		return 1;
	if (id_len > sizeof(r->id) || p->bytes + len > RIDE_BYTES ||
	    riding(a, id, id_len) || in_set(a->alone, a->nalone <
	    RIDE_INFLIGHT ? a->nalone : RIDE_INFLIGHT, id, id_len))
		return 0;
	/* Not the one already on its way by itself. */
	if (a->report.stage != 0 && !a->report_is_adhoc &&
	    id_len == a->report_id_len && memcmp(id, a->report_id,
	    id_len) == 0)
		return 0;
	if ((p->body[p->n].data = malloc(len + 1)) == NULL)
		return 1;
	memcpy(p->body[p->n].data, rep, len);
	p->body[p->n].len = len;
	r = &a->riding[a->nriding++];
	memcpy(r->id, id, id_len);
	r->id_len = id_len;
	envelope_digest(rep, len, r->hash);
	if (number > a->ride_since)
		a->ride_since = number;
	p->n++;
	p->bytes += len;
	return 0;
}

static int
in_set(const struct ride *set, size_t n, const uint8_t *id, size_t id_len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i].id_len == id_len && memcmp(set[i].id, id,
		    id_len) == 0)
			return 1;
	return 0;
}

/* named: the Idle names the report that rode, by its command id and by
 * its hash (an acknowledgement holds for that very report). */
static int
named(const Ferry__Idle *idle, const struct ride *r)
{
	size_t i;

	for (i = 0; idle != NULL && i < idle->n_read_reports &&
	    i < idle->n_read_hashes; i++)
		if (idle->read_reports[i].len == r->id_len &&
		    memcmp(idle->read_reports[i].data, r->id, r->id_len) == 0 &&
		    idle->read_hashes[i].len == ENVELOPE_DIGEST_LEN &&
		    sodium_memcmp(idle->read_hashes[i].data, r->hash,
		    ENVELOPE_DIGEST_LEN) == 0)
			return 1;
	return 0;
}

/* ride_settle: an Idle that answers the poll in flight names the reports
 * ferryd read (acknowledged now); idle NULL: the link failed or ferryd
 * refused.  A report that rode and was not named goes again by itself,
 * with an acknowledgement of its own: a ferryd that does not read reports
 * on heartbeats (an older one) still hears it. */
static void
ride_settle(struct agent *a, const Ferry__Idle *idle)
{
	size_t i;
	int rc;

	for (i = 0; i < a->nriding; i++) {
		if (!named(idle, &a->riding[i])) {
			a->alone[a->nalone++ % RIDE_INFLIGHT] = a->riding[i];
			continue;
		}
		if ((rc = records_acked(a->records, a->riding[i].id,
		    a->riding[i].id_len)) != 0 && rc != FERR_NOTFOUND)
			log_warnx("cannot record an acknowledgement: %s",
			    ferr_str(rc));
	}
	a->nriding = 0;
	a->ride_since = 0;
}

static int
seal_poll(struct agent *a, uint8_t **buf, size_t *len)
{
	Ferry__Poll p = FERRY__POLL__INIT;
	struct ride_pick pick = { .a = a };
	uint64_t now = clock_wall_ms();
	size_t i, before = a->nriding;
	uint64_t since = a->ride_since;
	int rc;

	/* ferryd refuses a heartbeat it heard before: within this session
	 * the counter grows, whatever the wall clock does. */
	p.sent_at_ms = now;
	a->last_poll_sent_ms = p.sent_at_ms;
	p.session.data = a->session;
	p.session.len = sizeof(a->session);
	p.counter = ++a->poll_counter;
	p.last_sequence = a->last_seq;
	p.wait_ms = (uint32_t)a->conf.heartbeat_interval_ms;
	p.status = "ready";
	p.docker_ok = a->docker_ok;
	p.docker_error = a->docker_error;
	p.containers = a->containers;
	p.n_containers = a->ncontainers;
	p.publish_address = a->conf.publish_address;
	p.version = AGENT_VERSION;
	p.allowed_bind_paths = a->conf.allowed_bind_paths;
	p.traffic = agent_traffic(a);
	p.drain_state = agent_drain_state(a);
	/* What ferryd has not acknowledged, and was not sent on an earlier
	 * poll still unsettled, rides along, oldest first.  Those riding
	 * already were recorded at or before ride_since; the rest that
	 * came before (passed over for their size) go by themselves. */
	if (a->have_pinned) {
		records_unacked(a->records, since, on_ride, &pick);
		if (a->answer.report != NULL)
			on_ride(&pick, a->answer.id, a->answer.id_len,
			    a->answer.report, a->answer.len, 0);
	}
	p.reports = pick.body;
	p.n_reports = pick.n;
	rc = envelope_seal_msg(FERRY__KIND__KIND_POLL, &p.base, &a->kp, buf,
	    len);
	for (i = 0; i < pick.n; i++)
		free(pick.body[i].data);
	if (rc != 0) {
		a->nriding = before;
		a->ride_since = since;
	}
	return rc;
}

static void
poll_send(struct agent *a)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (a->stopping || a->poll.stage != 0)
		return;
	/* The first heartbeat says what runs, so it waits for the first
	 * look at Docker (bounded by the Docker client's timeouts). */
	if (!a->inv_done_once && a->phase == PHASE_POLLING)
		return;
	uv_timer_stop(&a->poll.timer);
	rc = a->phase == PHASE_JOINING ? seal_join(a, &buf, &len) :
	    seal_poll(a, &buf, &len);
	if (rc == 0)
		rc = exchange_send(&a->poll, buf, len, (nng_duration)
		    (a->conf.heartbeat_interval_ms + 5000));
	free(buf);
	answer_record(a);
	if (rc != 0) {
		log_warnx("cannot send a heartbeat: %s", ferr_str(rc));
		poll_later(a, backoff_next(&a->poll));
	}
}

void
answer_keep(struct agent *a, const uint8_t *id, size_t id_len, uint64_t seq,
    const char *kind, const char *state, uint8_t *report, size_t len)
{
	answer_record(a);
	memcpy(a->answer.id, id, id_len);
	a->answer.id_len = id_len;
	a->answer.seq = seq;
	a->answer.kind = kind;
	a->answer.state = state;
	a->answer.report = report;
	a->answer.len = len;
}

void
answer_record(struct agent *a)
{
	char idhex[33];
	int rc;

	if (a->answer.report == NULL)
		return;
	if ((rc = records_answered(a->records, a->answer.id,
	    a->answer.id_len, a->answer.seq, a->answer.kind, a->answer.state,
	    a->answer.report, a->answer.len)) != 0) {
		sodium_bin2hex(idhex, sizeof(idhex), a->answer.id,
		    a->answer.id_len);
		log_warnx("command %s seq %llu: answered but not recorded: %s",
		    idhex, (unsigned long long)a->answer.seq, ferr_str(rc));
	}
	free(a->answer.report);
	a->answer.report = NULL;
}

static uint64_t
on_join_answer(struct agent *a, const struct envelope *ev)
{
	Ferry__JoinAnswer *ans;

	if (envelope_unpack(ev, &ferry__join_answer__descriptor,
	    (ProtobufCMessage **)&ans) != 0) {
		log_warnx("refused join answer from ferryd: malformed");
		return backoff_next(&a->poll);
	}
	if (ans->status == FERRY__JOIN_ANSWER__STATUS__ACCEPTED) {
		log_info("accepted by ferryd as %s", a->conf.name);
		a->phase = PHASE_POLLING;
		a->pending_logged = 0;
		ferry__join_answer__free_unpacked(ans, NULL);
		return 0;
	}
	if (!a->pending_logged)
		log_info("waiting for an operator to run `ferry hosts accept "
		    "%s` on ferryd", a->conf.name);
	a->pending_logged = 1;
	ferry__join_answer__free_unpacked(ans, NULL);
	return a->conf.heartbeat_interval_ms;
}

static uint64_t
on_refusal(struct agent *a, const struct envelope *ev)
{
	Ferry__Refusal *r;
	uint64_t delay = REFUSED_RETRY_MS;

	if (envelope_unpack(ev, &ferry__refusal__descriptor,
	    (ProtobufCMessage **)&r) != 0) {
		log_warnx("refused refusal from ferryd: malformed");
		return backoff_next(&a->poll);
	}
	switch (r->reason) {
	case FERRY__REFUSAL__REASON__UNKNOWN_HOST:
		log_warnx("ferryd does not know this host's key; asking to "
		    "join as %s", a->conf.name);
		a->phase = PHASE_JOINING;
		delay = a->conf.heartbeat_interval_ms;
		break;
	case FERRY__REFUSAL__REASON__PENDING:
		if (!a->pending_logged)
			log_info("waiting for an operator to run `ferry hosts "
			    "accept %s` on ferryd", a->conf.name);
		a->pending_logged = 1;
		delay = a->conf.heartbeat_interval_ms;
		break;
	case FERRY__REFUSAL__REASON__REVOKED:
		if (!a->revoked_logged)
			log_warnx("ferryd refuses this host: revoked");
		a->revoked_logged = 1;
		break;
	default:
		log_warnx("ferryd refused this host: %s", r->message ?
		    r->message : "no reason given");
		break;
	}
	if (r->reason != FERRY__REFUSAL__REASON__REVOKED)
		a->revoked_logged = 0;
	ferry__refusal__free_unpacked(r, NULL);
	return delay;
}

/* on_idle settles the reports riding on polls with an Idle: it names
 * those ferryd read, when it answers the poll in flight. */
static void
on_idle(struct agent *a, const struct envelope *ev)
{
	Ferry__Idle *idle;

	if (envelope_unpack(ev, &ferry__idle__descriptor,
	    (ProtobufCMessage **)&idle) != 0) {
		log_warnx("refused idle answer from ferryd: malformed");
		ride_settle(a, NULL);
		return;
	}
	/* Only an Idle bound to the poll in flight counts: an old one
	 * replayed would acknowledge reports ferryd never read, or wind
	 * ferryd's clock back so that expired commands looked alive. */
	if (idle->poll_counter != 0 ? idle->poll_counter == a->poll_counter :
	    idle->poll_sent_at_ms == a->last_poll_sent_ms) {
		clock_peer_learn(&a->coordinator_clock, idle->server_time_ms,
		    clock_mono_us());
		ride_settle(a, idle);
	} else {
		ride_settle(a, NULL);
	}
	ferry__idle__free_unpacked(idle, NULL);
}

static void
poll_done(struct agent *a, int rv, nng_msg *msg)
{
	struct envelope ev;
	uint64_t delay = 0;
	char what[200];
	int rc;

	if (a->stopping) {
		if (msg != NULL)
			nng_msg_free(msg);
		return;
	}
	if (rv != 0) {
		ride_settle(a, NULL);
		snprintf(what, sizeof(what), "%s", nng_strerror(rv));
		problem(a, what);
		poll_later(a, backoff_next(&a->poll));
		report_kick(a);
		return;
	}
	/* Size, frame, version, signer, signature, before anything else. */
	if ((rc = open_reply(a, msg, &ev)) != 0) {
		ride_settle(a, NULL);
		log_warnx("refused message from ferryd at %s: %s",
		    a->conf.coordinator, ferr_str(rc));
		if (a->phase == PHASE_POLLING)
			execute_refused_unreadable(a, ferr_str(rc));
		nng_msg_free(msg);
		poll_later(a, backoff_next(&a->poll));
		report_kick(a);
		return;
	}
	link_ok(a);
	/* Reports riding on polls are settled by an Idle that answers the
	 * poll in flight.  A command (signed once, for whichever poll it
	 * answers) leaves them waiting for the Idle to come; any other
	 * answer sends them again. */
	if (ev.kind == FERRY__KIND__KIND_IDLE)
		on_idle(a, &ev);
	else if (ev.kind != FERRY__KIND__KIND_COMMAND)
		ride_settle(a, NULL);
	/* A report the command below produces rides on the next poll when
	 * that goes at once. */
	a->reports_held = 1;
	a->poll.backoff_ms = BACKOFF_MIN_MS;
	switch (ev.kind) {
	case FERRY__KIND__KIND_JOIN_ANSWER:
		if (a->phase == PHASE_JOINING) {
			delay = on_join_answer(a, &ev);
			break;
		}
		log_warnx("refused join answer from ferryd: not asked for");
		break;
	case FERRY__KIND__KIND_REFUSAL:
		delay = on_refusal(a, &ev);
		break;
	case FERRY__KIND__KIND_IDLE:
		a->revoked_logged = a->pending_logged = 0;
		break;
	case FERRY__KIND__KIND_COMMAND:
		if (a->phase == PHASE_POLLING) {
			execute_command(a, &ev);
			break;
		}
		log_warnx("refused command from ferryd: not yet joined");
		break;
	default:
		log_warnx("refused message from ferryd: kind %u is not an "
		    "answer to a heartbeat", ev.kind);
		delay = backoff_next(&a->poll);
		break;
	}
	nng_msg_free(msg);
	poll_later(a, delay);
	answer_record(a);	/* when no poll went at once */
	a->reports_held = 0;
	report_kick(a);
}

/* ---- reports ---------------------------------------------------------- */

void
report_adhoc(struct agent *a, uint8_t *report, size_t len)
{
	struct adhoc *h;

	if (a->adhoc_n >= ADHOC_MAX || (h = calloc(1, sizeof(*h))) == NULL) {
		free(report);
		return;
	}
	h->report = report;
	h->len = len;
	if (a->adhoc_tail != NULL)
		a->adhoc_tail->next = h;
	else
		a->adhoc_head = h;
	a->adhoc_tail = h;
	a->adhoc_n++;
	report_kick(a);
}

void
report_log(struct agent *a, struct logstream *st, uint8_t *report,
    size_t len)
{
	struct adhoc *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		free(report);
		logs_acked(a, st, -1);
		return;
	}
	h->report = report;
	h->len = len;
	h->stream = st;
	if (a->logq_tail != NULL)
		a->logq_tail->next = h;
	else
		a->logq_head = h;
	a->logq_tail = h;
	report_kick(a);
}

/* logq_pop takes the chunk sent off the queue and tells its stream how
 * ferryd answered (live: see logs_acked). */
static void
logq_pop(struct agent *a, int live)
{
	struct adhoc *h = a->logq_head;

	if (h == NULL)
		return;
	a->logq_head = h->next;
	if (a->logq_head == NULL)
		a->logq_tail = NULL;
	logs_acked(a, h->stream, live);
	free(h->report);
	free(h);
}

static void
adhoc_pop(struct agent *a)
{
	struct adhoc *h = a->adhoc_head;

	if (h == NULL)
		return;
	a->adhoc_head = h->next;
	if (a->adhoc_head == NULL)
		a->adhoc_tail = NULL;
	a->adhoc_n--;
	free(h->report);
	free(h);
}

struct first_unacked {
	struct agent *a;
	uint8_t *report;
	size_t len;
	uint8_t id[16];
	size_t id_len;
};

static int
on_unacked(void *arg, const uint8_t *id, size_t id_len, const uint8_t *rep,
    size_t len, uint64_t number)
{
	struct first_unacked *f = arg;

	(void)number;
	if (id_len > sizeof(f->id) || riding(f->a, id, id_len))
		return 0;
	if ((f->report = malloc(len + 1)) == NULL)
		return 1;
	memcpy(f->report, rep, len);
	f->len = len;
	memcpy(f->id, id, id_len);
	f->id_len = id_len;
	return 1;
}

static void
on_report_timer(uv_timer_t *t)
{
	report_kick(t->data);
}

void
report_kick(struct agent *a)
{
	struct first_unacked f = { .a = a };
	const uint8_t *body;
	uint8_t *buf = NULL;
	size_t blen, len;
	int rc;

	if (a->stopping || a->report.stage != 0 || !a->have_pinned ||
	    a->phase != PHASE_POLLING || a->reports_held ||
	    uv_is_active((uv_handle_t *)
	    &a->report.timer))
		return;
	if (a->adhoc_head != NULL) {
		a->report_is_adhoc = 1;
		body = a->adhoc_head->report;
		blen = a->adhoc_head->len;
	} else if (records_unacked(a->records, 0, on_unacked, &f),
	    f.report == NULL) {
		/* Log chunks last: they never hold up a command's result. */
		if (a->logq_head == NULL)
			return;
		a->report_is_adhoc = REPORT_LOG;
		body = a->logq_head->report;
		blen = a->logq_head->len;
	} else {
		a->report_is_adhoc = 0;
		memcpy(a->report_id, f.id, f.id_len);
		a->report_id_len = f.id_len;
		body = f.report;
		blen = f.len;
	}
	envelope_digest(body, blen, a->report_hash);
	rc = envelope_seal(FERRY__KIND__KIND_REPORT, body, blen, &a->kp, &buf,
	    &len);
	free(f.report);
	if (rc == 0)
		rc = exchange_send(&a->report, buf, len, REPORT_TIMEOUT_MS);
	free(buf);
	if (rc != 0) {
		log_warnx("cannot send a report: %s", ferr_str(rc));
		if (a->report_is_adhoc == REPORT_LOG)
			logq_pop(a, -1);
		else if (a->report_is_adhoc)
			adhoc_pop(a);
		uv_timer_start(&a->report.timer, on_report_timer,
		    backoff_next(&a->report), 0);
	}
}

/* ack_answers says whether an acknowledgement names the recorded report
 * in flight (an ad hoc one has no record to keep). */
static int
ack_answers(struct agent *a, const struct envelope *ev)
{
	Ferry__ReportAck *ack;
	int ok;

	if (a->report_is_adhoc)
		return 1;
	if (envelope_unpack(ev, &ferry__report_ack__descriptor,
	    (ProtobufCMessage **)&ack) != 0)
		return 0;
	ok = ack->command_id.len == a->report_id_len &&
	    memcmp(ack->command_id.data, a->report_id, a->report_id_len) == 0 &&
	    ack->report_hash.len == ENVELOPE_DIGEST_LEN &&
	    sodium_memcmp(ack->report_hash.data, a->report_hash,
	    ENVELOPE_DIGEST_LEN) == 0;
	ferry__report_ack__free_unpacked(ack, NULL);
	return ok;
}

/* chunk_read says whether ferryd's acknowledgement of a log chunk names
 * the chunk's command (somebody reads the stream: 1) or nothing (0). */
static int
chunk_read(struct agent *a, const struct envelope *ev)
{
	Ferry__ReportAck *ack;
	Ferry__Report *r;
	int live = 0;

	if (envelope_unpack(ev, &ferry__report_ack__descriptor,
	    (ProtobufCMessage **)&ack) != 0)
		return -1;
	r = ferry__report__unpack(NULL, a->logq_head->len,
	    a->logq_head->report);
	if (r != NULL && ack->command_id.len == r->command_id.len &&
	    ack->command_id.len > 0 && memcmp(ack->command_id.data,
	    r->command_id.data, r->command_id.len) == 0)
		live = 1;
	if (r != NULL)
		ferry__report__free_unpacked(r, NULL);
	ferry__report_ack__free_unpacked(ack, NULL);
	return live;
}

static void
report_done(struct agent *a, int rv, nng_msg *msg)
{
	struct envelope ev;
	int rc;

	if (a->stopping) {
		if (msg != NULL)
			nng_msg_free(msg);
		return;
	}
	if (rv != 0) {
		log_debug("report not delivered: %s", nng_strerror(rv));
		if (a->report_is_adhoc == REPORT_LOG)
			logq_pop(a, -1);	/* a chunk is never sent again */
		uv_timer_start(&a->report.timer, on_report_timer,
		    backoff_next(&a->report), 0);
		return;
	}
	if (a->report_is_adhoc == REPORT_LOG) {
		int live = -1;

		if ((rc = open_reply(a, msg, &ev)) == 0 &&
		    ev.kind == FERRY__KIND__KIND_REPORT_ACK)
			live = chunk_read(a, &ev);
		nng_msg_free(msg);
		logq_pop(a, live);
		if (live < 0) {
			log_warnx("refused answer to a log chunk from ferryd: "
			    "%s", rc ? ferr_str(rc) : "not an acknowledgement");
			uv_timer_start(&a->report.timer, on_report_timer,
			    backoff_next(&a->report), 0);
			return;
		}
		a->report.backoff_ms = BACKOFF_MIN_MS;
		report_kick(a);
		return;
	}
	if ((rc = open_reply(a, msg, &ev)) != 0 ||
	    ev.kind != FERRY__KIND__KIND_REPORT_ACK || !ack_answers(a, &ev)) {
		log_warnx("refused answer to a report from ferryd: %s",
		    rc ? ferr_str(rc) : ev.kind != FERRY__KIND__KIND_REPORT_ACK
		    ? "not an acknowledgement" : "acknowledges another report");
		nng_msg_free(msg);
		uv_timer_start(&a->report.timer, on_report_timer,
		    backoff_next(&a->report), 0);
		return;
	}
	nng_msg_free(msg);
	a->report.backoff_ms = BACKOFF_MIN_MS;
	if (a->report_is_adhoc)
		adhoc_pop(a);
	else if ((rc = records_acked(a->records, a->report_id,
	    a->report_id_len)) != 0)
		log_warnx("cannot record an acknowledgement: %s",
		    ferr_str(rc));
	report_kick(a);
}

void
session_kick(struct agent *a)
{
	if (!uv_is_active((uv_handle_t *)&a->poll.timer))
		poll_send(a);
}

/* ---- start and stop --------------------------------------------------- */

int
session_start(struct agent *a)
{
	int rv;

	if ((rv = nng_req0_open(&a->sock)) != 0) {
		log_warnx("cannot open a socket: %s", nng_strerror(rv));
		return FERR_IO;
	}
	/* The agent retries by itself; NNG must not send a request twice. */
	nng_socket_set_ms(a->sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	nng_socket_set_size(a->sock, NNG_OPT_RECVMAXSZ, ENVELOPE_MAX_SIZE +
	    CHAN_OVERHEAD);
	nng_socket_set_ms(a->sock, NNG_OPT_RECONNMINT, BACKOFF_MIN_MS);
	nng_socket_set_ms(a->sock, NNG_OPT_RECONNMAXT, BACKOFF_MAX_MS);
	if (exchange_init(a, &a->poll, poll_done) != 0 ||
	    exchange_init(a, &a->report, report_done) != 0)
		return FERR_IO;
	if ((rv = nng_dialer_create(&a->dialer, a->sock,
	    a->conf.coordinator)) != 0) {
		log_warnx("ferryd address %s: %s", a->conf.coordinator,
		    nng_strerror(rv));
		return FERR_ARG;
	}
	/* Non-blocking: NNG keeps dialling, with backoff, until it gets
	 * through, and again whenever the connection drops. */
	if ((rv = nng_dialer_start(a->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("dial %s: %s", a->conf.coordinator, nng_strerror(rv));
		return FERR_IO;
	}
	a->phase = a->have_pinned ? PHASE_POLLING : PHASE_JOINING;
	poll_send(a);
	report_kick(a);
	return 0;
}

void
session_stop(struct agent *a)
{
	a->stopping = 1;
	uv_timer_stop(&a->poll.timer);
	uv_timer_stop(&a->report.timer);
	uv_close((uv_handle_t *)&a->poll.timer, NULL);
	uv_close((uv_handle_t *)&a->report.timer, NULL);
	nng_close(a->sock);
	if (a->poll.aio != NULL)
		nng_aio_stop(a->poll.aio);
	if (a->report.aio != NULL)
		nng_aio_stop(a->report.aio);
	/* Hand-offs already queued run now and see a->stopping. */
	mailbox_drain(&a->mb);
	nng_aio_free(a->poll.aio);
	nng_aio_free(a->report.aio);
	a->poll.aio = a->report.aio = NULL;
	exchange_forget(&a->poll);
	exchange_forget(&a->report);
	chan_client_reset(&a->chan);
	while (a->adhoc_head != NULL)
		adhoc_pop(a);
	/* Log chunks go with their streams (logs_stop, next). */
	while (a->logq_head != NULL) {
		struct adhoc *h = a->logq_head;

		a->logq_head = h->next;
		free(h->report);
		free(h);
	}
	a->logq_tail = NULL;
}
