/* SPDX-License-Identifier: Apache-2.0 */
/* link.c: ferryd's side of the signed link with its agents. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chan.h"
#include "clock.h"
#include "envelope.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "logs.h"
#include "metrics.h"
#include "refusals.h"
#include "text.h"
#include "token.h"

/* How long a poll may be held, whatever the agent asks. */
#define HOLD_MIN_MS	100
#define HOLD_MAX_MS	30000
/* How many reports read riding on polls one Idle may name. */
#define READ_MAX	64
/* Reports read and not named yet, past which a poll that no command
 * answers gets its Idle at once instead of being held: a stream of
 * commands to one host leaves no hold to end, and the agent keeps only so
 * many reports in flight. */
#define READ_NAME_SOON	(READ_MAX / 2)
/* How far the first poll of a session may be from our wall clock before
 * it is refused (later polls of the session are ordered by their counter,
 * which no clock step moves). */
#define POLL_SKEW_MS	300000
/* Channel sessions said Hello to that no verified message has bound to a
 * host yet: past this many (and twice the hosts known at start) the
 * oldest goes. */
#define CHAN_UNBOUND_MAX 1024

/* A ping's answer, noted after it was handed over. */
struct ping_note {
	uint8_t id[COMMAND_ID_LEN];
	char state[16];
	char message[200];
};

/* flush_notes writes the answers of this turn of the loop in one commit
 * that does not wait for the disk. */
static void
flush_notes(uv_check_t *ck)
{
	struct ferryd *fd = ck->data;
	size_t i;
	int batch;

	uv_check_stop(ck);
	if (fd->nnotes == 0)
		return;
	batch = store_batch_begin(fd->store, 0);
	for (i = 0; i < fd->nnotes; i++)
		store_command_note(fd->store, fd->notes[i].id,
		    fd->notes[i].state, fd->notes[i].message);
	if (batch == 0 && (batch = store_batch_end(fd->store, 0)) != 0)
		log_warnx("agent link: cannot note %zu ping answers: %s",
		    fd->nnotes, ferr_str(batch));
	fd->nnotes = 0;
}

static void
note_later(struct ferryd *fd, const uint8_t *id, const char *state,
    const char *message)
{
	struct ping_note *n;

	if (fd->nnotes == fd->notes_cap) {
		size_t cap = fd->notes_cap ? fd->notes_cap * 2 : 64;

		if ((n = realloc(fd->notes, cap * sizeof(*n))) == NULL) {
			store_command_note(fd->store, id, state, message);
			return;
		}
		fd->notes = n;
		fd->notes_cap = cap;
	}
	n = &fd->notes[fd->nnotes++];
	memcpy(n->id, id, COMMAND_ID_LEN);
	snprintf(n->state, sizeof(n->state), "%s", state);
	snprintf(n->message, sizeof(n->message), "%s", message ? message :
	    "");
	if (fd->nnotes == 1)
		uv_check_start(&fd->notes_check, flush_notes);
}

/* answer sends a signed envelope as the slot's answer: sealed in the
 * channel its request came in, or as it is when that came in cleartext. */
static void
answer(struct rep_slot *slot, const uint8_t *env, size_t len)
{
	struct chan_reply *cr = repsrv_chan(slot);
	uint8_t *frame;
	size_t flen;

	if (!cr->sealed) {
		repsrv_reply(slot, env, len);
		return;
	}
	if (chan_reply_seal(cr, env, len, &frame, &flen) != 0) {
		log_warnx("agent link: cannot seal an answer");
		sodium_memzero(cr, sizeof(*cr));
		repsrv_drop(slot);
		return;
	}
	sodium_memzero(cr, sizeof(*cr));
	repsrv_reply(slot, frame, flen);
	free(frame);
}

/* reply signs msg as kind with ferryd's key and answers the slot. */
static void
reply(struct ferryd *fd, struct rep_slot *slot, uint32_t kind,
    const ProtobufCMessage *msg)
{
	uint8_t *buf = NULL;
	size_t len;

	if (envelope_seal_msg(kind, msg, &fd->kp, &buf, &len) != 0) {
		log_warnx("agent link: cannot seal reply");
		repsrv_drop(slot);
		return;
	}
	answer(slot, buf, len);
	free(buf);
}

static void
refuse(struct ferryd *fd, struct rep_slot *slot, Ferry__Refusal__Reason why,
    const char *text)
{
	Ferry__Refusal r = FERRY__REFUSAL__INIT;

	r.reason = why;
	r.message = (char *)text;
	reply(fd, slot, FERRY__KIND__KIND_REFUSAL, &r.base);
}

static void
answer_join(struct ferryd *fd, struct rep_slot *slot, const struct host *h)
{
	Ferry__JoinAnswer a = FERRY__JOIN_ANSWER__INIT;

	a.status = h->rec.state == HOST_ACCEPTED ?
	    FERRY__JOIN_ANSWER__STATUS__ACCEPTED :
	    FERRY__JOIN_ANSWER__STATUS__PENDING;
	a.name = (char *)h->rec.name;
	reply(fd, slot, FERRY__KIND__KIND_JOIN_ANSWER, &a.base);
}

void
link_release(struct ferryd *fd, struct host *h)
{
	Ferry__Idle idle = FERRY__IDLE__INIT;
	ProtobufCBinaryData read[READ_MAX], hashes[READ_MAX];
	size_t i;

	if (h->held == NULL)
		return;
	idle.server_time_ms = clock_steady_ms();
	idle.poll_sent_at_ms = h->last_poll_sent_ms;	/* the poll held */
	idle.poll_counter = h->poll_counter;
	for (i = 0; i < h->nread; i++) {
		read[i].data = h->read[i].id;
		read[i].len = COMMAND_ID_LEN;
		hashes[i].data = h->read[i].hash;
		hashes[i].len = ENVELOPE_DIGEST_LEN;
	}
	idle.read_reports = read;
	idle.n_read_reports = h->nread;
	idle.read_hashes = hashes;
	idle.n_read_hashes = h->nread;
	reply(fd, h->held, FERRY__KIND__KIND_IDLE, &idle.base);
	h->nread = 0;
	h->held = NULL;
}

/* read_note: a report that rode on a poll was read; the next Idle says
 * so.  Past READ_MAX it is not named, and the agent sends it again. */
static void
read_note(struct host *h, const uint8_t *id, const uint8_t *body, size_t len)
{
	struct report_read *grown;
	size_t cap;

	if (h->nread == READ_MAX)
		return;
	if (h->nread == h->capread) {
		cap = h->capread ? h->capread * 2 : 8;
		if ((grown = realloc(h->read, cap * sizeof(*grown))) == NULL)
			return;
		h->read = grown;
		h->capread = cap;
	}
	memcpy(h->read[h->nread].id, id, COMMAND_ID_LEN);
	envelope_digest(body, len, h->read[h->nread].hash);
	h->nread++;
}

/*
 * refused: one refusal on the agent link, from peer (h: the host, when
 * known), counted under reason: short and fixed, the key it is summed up
 * under with the source (refusals.c).  The first of its key in an interval
 * is logged at once as "agent link: " and fmt, and recorded as a "refused"
 * event; the rest are counted and summed up at the interval's end
 * (refusal_sum), so a flood can bury neither the log nor the events.  The
 * line is escaped: it may quote what the peer sent.
 */
static void refused(struct ferryd *fd, const char *peer, const struct host *h,
    const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
refused(struct ferryd *fd, const char *peer, const struct host *h,
    const char *reason, const char *fmt, ...)
{
	char line[512], safe[1024];
	va_list ap;

	if (fd->refusals != NULL && refusals_note(fd->refusals, peer, reason,
	    h != NULL ? h->rec.name : NULL, clock_mono_ms(),
	    clock_wall_ms()) != REFUSAL_FIRST)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	text_escape(safe, sizeof(safe), line);
	log_warnx("agent link: %s", safe);
	store_event_n(fd->store, "ferryd", "refused", h != NULL ?
	    h->rec.name : "", safe, 1);
}

static void
wall_str(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03lluZ", s, (unsigned long long)(ms % 1000));
}

/* refusal_sum: the refusals of one key counted after its first, summed up
 * at its interval's end in one line and one event. */
static void
refusal_sum(void *arg, const struct refusal *r)
{
	struct ferryd *fd = arg;
	char first[40], last[40], detail[400];

	wall_str(r->first_ms, first, sizeof(first));
	wall_str(r->last_ms, last, sizeof(last));
	snprintf(detail, sizeof(detail), "%llu more refused from %s: %s "
	    "(first %s, last %s)", (unsigned long long)r->count, r->source,
	    r->reason, first, last);
	log_warnx("agent link: %s", detail);
	store_event_n(fd->store, "ferryd", "refused", r->host, detail,
	    r->count);
}

/* escape_field makes one string of a message from an agent safe to log,
 * record and show (text.c), in place; lines keeps its newlines.  Out of
 * memory, the string is emptied: never left raw. */
static void
escape_field(char **s, int lines)
{
	char *e;

	if (*s == NULL || text_is_clean(*s))
		return;
	e = lines ? text_escape_lines_dup(*s) : text_escape_dup(*s);
	if (e == NULL) {
		(*s)[0] = '\0';
		return;
	}
	/* Not clean, so not protobuf-c's shared empty string: the default
	 * allocator's, freed with free(). */
	free(*s);
	*s = e;
}

static void
container_escape(Ferry__Container *c)
{
	escape_field(&c->id, 0);
	escape_field(&c->name, 0);
	escape_field(&c->image, 0);
	escape_field(&c->service, 0);
	escape_field(&c->revision, 0);
	escape_field(&c->state, 0);
	escape_field(&c->digest, 0);
	escape_field(&c->health, 0);
	escape_field(&c->deployment, 0);
}

/* report_escape: every text of a report, before anything reads it. */
static void
report_escape(Ferry__Report *r)
{
	size_t i;

	escape_field(&r->message, 0);
	if (r->health != NULL) {
		escape_field(&r->health->service, 0);
		escape_field(&r->health->output, 0);
		escape_field(&r->health->phase, 0);
	}
	switch (r->result_case) {
	case FERRY__REPORT__RESULT_PULL:
		escape_field(&r->pull->image, 0);
		escape_field(&r->pull->digest, 0);
		break;
	case FERRY__REPORT__RESULT_SWAP:
		escape_field(&r->swap->service, 0);
		escape_field(&r->swap->container_id, 0);
		escape_field(&r->swap->image, 0);
		escape_field(&r->swap->reason, 0);
		escape_field(&r->swap->health_output, 0);
		escape_field(&r->swap->logs, 1);
		break;
	case FERRY__REPORT__RESULT_INVENTORY:
		for (i = 0; i < r->inventory->n_containers; i++)
			container_escape(r->inventory->containers[i]);
		break;
	default:
		break;
	}
}

/* poll_escape: every text of a heartbeat, before it is kept for `ferry
 * hosts`. */
static void
poll_escape(Ferry__Poll *p)
{
	size_t i;

	escape_field(&p->status, 0);
	escape_field(&p->docker_error, 0);
	escape_field(&p->publish_address, 0);
	escape_field(&p->version, 0);
	for (i = 0; i < p->n_containers; i++)
		container_escape(p->containers[i]);
	if (p->traffic != NULL) {
		escape_field(&p->traffic->version, 0);
		escape_field(&p->traffic->error, 0);
		for (i = 0; i < p->traffic->n_revisions; i++)
			escape_field(&p->traffic->revisions[i]->service, 0);
		for (i = 0; i < p->traffic->n_refusals; i++)
			escape_field(&p->traffic->refusals[i]->service, 0);
	}
}

struct proof_arg {
	const uint8_t *pk;
	const char *name;
	const uint8_t *proof;
	size_t proof_len;
};

static int
check_proof(void *arg, const uint8_t *verifier)
{
	struct proof_arg *p = arg;

	return token_proof_check(verifier, p->pk, p->name, p->proof,
	    p->proof_len);
}

/*
 * claim_allowed takes one from the bucket of what joins without a valid
 * token may record (a pending host, a new key's claim on a name): at most
 * tokenless_join_rate a minute, in bursts of as many.  Elapsed time on the
 * monotonic clock refills it.  The bucket counts in 1/60000ths of a join,
 * so that each millisecond adds exactly tokenless_join_rate of them and a
 * flood of asks, however close together, loses no refill to rounding.
 * Returns 1 when the join may record.
 */
#define CLAIM_UNIT	60000u
static int
claim_allowed(struct ferryd *fd, uint64_t mono_ms)
{
	uint64_t rate = fd->conf.tokenless_join_rate;
	uint64_t cap = rate * CLAIM_UNIT, dt;

	if (fd->claim_bucket_mono_ms == 0) {
		fd->claim_bucket = cap;
	} else {
		dt = mono_ms - fd->claim_bucket_mono_ms;
		if (dt > 60000)		/* a minute fills it anyway */
			dt = 60000;
		fd->claim_bucket += dt * rate;
		if (fd->claim_bucket > cap)
			fd->claim_bucket = cap;
	}
	fd->claim_bucket_mono_ms = mono_ms;
	if (fd->claim_bucket < CLAIM_UNIT)
		return 0;
	fd->claim_bucket -= CLAIM_UNIT;
	return 1;
}

/* token_check checks the request's token without spending it: 0, or a
 * refusal already sent and logged. */
static int
token_check(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__JoinRequest *req, const struct envelope *ev,
    const char *peer, const char *fpr)
{
	struct proof_arg pa = { ev->signer, req->name, req->token_proof.data,
	    req->token_proof.len };
	const char *why = "malformed token id";
	int rc = FERR_TOKEN;

	if (req->token_id.len == TOKEN_ID_LEN)
		rc = store_token_join(fd->store, req->token_id.data,
		    clock_wall_ms(), check_proof, &pa, NULL, NULL, &why);
	if (rc == 0)
		return 0;
	refused(fd, peer, NULL, "join with a bad token", "%s: refused join "
	    "of %s (key %s): %s", peer, req->name, fpr, why[0] ? why :
	    ferr_str(rc));
	refuse(fd, slot, FERRY__REFUSAL__REASON__BAD_TOKEN, why[0] ? why :
	    ferr_str(rc));
	return rc;
}

/*
 * claim_name: a key ferryd does not know asks for the name of an accepted
 * (or revoked) host.  It never replaces the host's key by itself: the
 * claim is kept on the host (the latest one only, with its peer address,
 * time and whether a valid token came with it) for `ferry hosts` to show,
 * and only `ferry hosts accept NAME --key FPR` naming this key takes it.
 * The first claim since an operator last decided is an event; later ones
 * replace it quietly but for the log, so no stream of claims grows the
 * database.  A claim without a token records only within the rate of
 * joins without a token.
 */
static void
claim_name(struct ferryd *fd, struct rep_slot *slot, struct host *byname,
    const struct envelope *ev, const char *peer, const char *fpr,
    int with_token)
{
	struct host_rec claim;
	char detail[256], oldfpr[KEY_FPR_STRLEN];
	const char *how = with_token ? "with a valid token" :
	    "without a token";
	int had = byname->rec.has_new_pk, rc;

	keys_pk_fingerprint_str(byname->rec.pk, oldfpr);
	if (had && sodium_memcmp(byname->rec.new_pk, ev->signer,
	    KEY_PUBLIC_LEN) == 0 && byname->rec.new_key_token >= with_token &&
	    strcmp(byname->rec.new_key_from, peer) == 0) {
		/* The same claim again: nothing new to record. */
		refused(fd, peer, byname, "enrolled name with a new key",
		    "host %s: refused key %s from %s (%s): the host is "
		    "enrolled with key %s; the claim waits for an operator",
		    byname->rec.name, fpr, peer, how, oldfpr);
		goto refused;
	}
	if (!with_token && !claim_allowed(fd, clock_mono_ms())) {
		refused(fd, peer, byname, "joins without a token too fast",
		    "host %s: refused key %s from %s (%s): the host is "
		    "enrolled with key %s; not recorded: more than %u joins "
		    "without a token a minute", byname->rec.name, fpr, peer,
		    how, oldfpr, fd->conf.tokenless_join_rate);
		goto refused;
	}
	claim = byname->rec;
	claim.has_new_pk = 1;
	memcpy(claim.new_pk, ev->signer, KEY_PUBLIC_LEN);
	snprintf(claim.new_key_from, sizeof(claim.new_key_from), "%s", peer);
	claim.new_key_at_ms = clock_wall_ms();
	claim.new_key_token = with_token;
	if ((rc = store_host_set_new_key(fd->store, byname->rec.name,
	    &claim)) != 0) {
		log_warnx("agent link: host %s: refused key %s from %s: cannot "
		    "record the claim: %s", byname->rec.name, fpr, peer,
		    ferr_str(rc));
		goto refused;
	}
	byname->rec = claim;
	if (!had) {
		snprintf(detail, sizeof(detail), "key %s from %s (%s) claims "
		    "the name; enrolled key %s", fpr, peer, how, oldfpr);
		store_event(fd->store, "ferryd", "host-key-claimed",
		    byname->rec.name, detail);
	}
	refused(fd, peer, byname, "enrolled name with a new key", "host %s: "
	    "refused key %s from %s (%s): the host is enrolled with key %s; "
	    "the claim is recorded for an operator to examine (`ferry "
	    "hosts`), and changes nothing unless an operator names this key",
	    byname->rec.name, fpr, peer, how, oldfpr);
refused:
	refuse(fd, slot, FERRY__REFUSAL__REASON__NAME_TAKEN,
	    "host name enrolled with another key; nothing changes unless an "
	    "operator names this key's fingerprint");
}

static void
handle_join(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const struct envelope *ev, const char *peer)
{
	Ferry__JoinRequest *req = NULL;
	struct host_rec *rec = NULL;
	struct host *byname;
	char fpr[KEY_FPR_STRLEN], sqfpr[KEY_FPR_STRLEN], detail[300];
	size_t i, npending;
	int with_token;

	keys_pk_fingerprint_str(ev->signer, fpr);
	if (envelope_unpack(ev, &ferry__join_request__descriptor,
	    (ProtobufCMessage **)&req) != 0 || !host_name_ok(req->name) ||
	    req->n_labels > LABELS_MAX) {
		refused(fd, peer, NULL, "malformed join request",
		    "%s: refused join from key %s: malformed request", peer,
		    fpr);
		refuse(fd, slot, FERRY__REFUSAL__REASON__BAD_REQUEST,
		    "malformed join request");
		goto out;
	}
	for (i = 0; i < req->n_labels; i++) {
		if (!label_ok(req->labels[i]->key, req->labels[i]->value)) {
			refused(fd, peer, NULL, "join with a bad label",
			    "%s: refused join of %s: bad label", peer,
			    req->name);
			refuse(fd, slot, FERRY__REFUSAL__REASON__BAD_REQUEST,
			    "bad label");
			goto out;
		}
	}

	if (h != NULL) {
		/* A known key: a rejoin.  Its name is the one on record. */
		if (strcmp(h->rec.name, req->name) != 0) {
			refused(fd, peer, h, "join under another name",
			    "%s: refused join as %s: key %s is enrolled as %s",
			    peer, req->name, fpr, h->rec.name);
			refuse(fd, slot, FERRY__REFUSAL__REASON__NAME_TAKEN,
			    "this key is enrolled under another name");
		} else if (h->rec.state == HOST_REVOKED) {
			refused(fd, peer, h, "host revoked", "host %s: "
			    "refused join: revoked", h->rec.name);
			refuse(fd, slot, FERRY__REFUSAL__REASON__REVOKED,
			    "host revoked");
		} else {
			answer_join(fd, slot, h);
		}
		goto out;
	}

	/* A new key.  A token, when there is one, must hold before anything
	 * else happens; without one, the join records nothing unless ferryd
	 * allows joins without a token, and then within the cap and rate. */
	with_token = req->token_id.len > 0;
	if (with_token) {
		if (token_check(fd, slot, req, ev, peer, fpr) != 0)
			goto out;
	} else if (!fd->conf.allow_tokenless_joins) {
		refused(fd, peer, NULL, "join without a token", "%s: refused "
		    "join of %s (key %s): no token, and joins without a token "
		    "are off (allow_tokenless_joins)", peer, req->name, fpr);
		refuse(fd, slot, FERRY__REFUSAL__REASON__TOKEN_REQUIRED,
		    "this ferryd admits hosts only with a join token (`ferry "
		    "token create`)");
		goto out;
	}

	byname = fleet_find(fd, req->name);
	if (byname != NULL && byname->rec.state != HOST_PENDING) {
		claim_name(fd, slot, byname, ev, peer, fpr, with_token);
		goto out;
	}
	if (byname != NULL && !with_token) {
		/* First come keeps a pending name, until a token comes. */
		refused(fd, peer, NULL, "join as a pending name", "%s: refused "
		    "join of %s (key %s): the name waits as pending for another "
		    "key", peer, req->name, fpr);
		refuse(fd, slot, FERRY__REFUSAL__REASON__NAME_TAKEN,
		    "host name waits as pending for another key");
		goto out;
	}
	if (!with_token) {
		npending = fleet_pending(fd);
		if (npending >= fd->conf.pending_hosts_max) {
			refused(fd, peer, NULL, "too many pending hosts",
			    "%s: refused join of %s (key %s) without a token: "
			    "%zu pending hosts, the most kept "
			    "(pending_hosts_max)", peer, req->name, fpr,
			    npending);
			refuse(fd, slot, FERRY__REFUSAL__REASON__TOO_MANY,
			    "too many hosts wait as pending; join with a token");
			goto out;
		}
		if (!claim_allowed(fd, clock_mono_ms())) {
			refused(fd, peer, NULL, "joins without a token too "
			    "fast", "%s: refused join of %s (key %s) without a "
			    "token: more than %u a minute (tokenless_join_rate)",
			    peer, req->name, fpr, fd->conf.tokenless_join_rate);
			refuse(fd, slot, FERRY__REFUSAL__REASON__TOO_MANY,
			    "too many joins without a token just now; try "
			    "later or join with a token");
			goto out;
		}
	}

	rec = calloc(1, sizeof(*rec));
	if (rec == NULL) {
		repsrv_drop(slot);
		goto out;
	}
	snprintf(rec->name, sizeof(rec->name), "%s", req->name);
	memcpy(rec->pk, ev->signer, KEY_PUBLIC_LEN);
	text_escape(rec->address, sizeof(rec->address),
	    req->publish_address && req->publish_address[0] &&
	    strcmp(req->publish_address, "0.0.0.0") != 0 ?
	    req->publish_address : peer);
	rec->created_ms = clock_wall_ms();
	for (i = 0; i < req->n_labels; i++) {
		snprintf(rec->labels[i].key, sizeof(rec->labels[i].key), "%s",
		    req->labels[i]->key);
		snprintf(rec->labels[i].value, sizeof(rec->labels[i].value),
		    "%s", req->labels[i]->value);
	}
	rec->nlabels = req->n_labels;

	if (with_token) {
		struct proof_arg pa = { ev->signer, req->name,
		    req->token_proof.data, req->token_proof.len };
		const char *why = "";
		int rc;

		rec->state = HOST_ACCEPTED;
		rc = store_token_join(fd->store, req->token_id.data,
		    rec->created_ms, check_proof, &pa, rec,
		    byname != NULL ? req->name : NULL, &why);
		if (rc != 0) {
			refused(fd, peer, NULL, "join with a bad token",
			    "%s: refused join of %s (key %s): %s", peer,
			    req->name, fpr, why[0] ? why : ferr_str(rc));
			refuse(fd, slot, FERRY__REFUSAL__REASON__BAD_TOKEN,
			    why[0] ? why : ferr_str(rc));
			goto out;
		}
		if (byname != NULL) {
			/* The pending claim lost its name to the token. */
			keys_pk_fingerprint_str(byname->rec.pk, sqfpr);
			/* (Where the pending key came from is in its
			 * host-pending event; its address is what it said.) */
			snprintf(detail, sizeof(detail), "pending key %s "
			    "(address %s) displaced by key %s from %s joining "
			    "by token", sqfpr, byname->rec.address, fpr, peer);
			log_warnx("host %s: %s", rec->name, detail);
			store_event(fd->store, "ferryd", "host-pending-displaced",
			    rec->name, detail);
			fleet_remove(fd, byname);
		}
		log_info("host %s: joined by token (key %s, %s)", rec->name,
		    fpr, peer);
		store_event(fd->store, "ferryd", "host-joined", rec->name,
		    "by token");
	} else {
		rec->state = HOST_PENDING;
		if (store_host_insert(fd->store, rec) != 0) {
			log_warnx("agent link: host %s: cannot record", rec->name);
			repsrv_drop(slot);
			goto out;
		}
		log_info("host %s: pending: asked to join without a token "
		    "(key %s, %s); `ferry hosts` shows it, `ferry hosts accept "
		    "%s` admits it", rec->name, fpr, peer, rec->name);
		snprintf(detail, sizeof(detail), "key %s from %s", fpr, peer);
		store_event(fd->store, "ferryd", "host-pending", rec->name,
		    detail);
	}
	if (fleet_add(fd, rec, &h) != 0) {
		repsrv_drop(slot);
		goto out;
	}
	answer_join(fd, slot, h);
out:
	free(rec);
	if (req != NULL)
		ferry__join_request__free_unpacked(req, NULL);
}

/* known_host checks that a signed message comes from an accepted host and
 * refuses it otherwise; returns 1 when the host may be heard. */
static int
known_host(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const struct envelope *ev, const char *peer, const char *what)
{
	char fpr[KEY_FPR_STRLEN], why[64];

	if (h == NULL) {
		keys_pk_fingerprint_str(ev->signer, fpr);
		snprintf(why, sizeof(why), "%s from an unknown key", what);
		refused(fd, peer, NULL, why, "%s: refused %s: unknown key %s",
		    peer, what, fpr);
		refuse(fd, slot, FERRY__REFUSAL__REASON__UNKNOWN_HOST,
		    "unknown host key");
		return 0;
	}
	if (h->rec.state == HOST_REVOKED) {
		snprintf(why, sizeof(why), "%s from a revoked host", what);
		refused(fd, peer, h, why, "host %s: refused %s: host revoked",
		    h->rec.name, what);
		refuse(fd, slot, FERRY__REFUSAL__REASON__REVOKED,
		    "host revoked");
		return 0;
	}
	if (h->rec.state == HOST_PENDING) {
		log_debug("agent link: host %s: %s while pending", h->rec.name,
		    what);
		refuse(fd, slot, FERRY__REFUSAL__REASON__PENDING,
		    "host waits for `ferry hosts accept`");
		return 0;
	}
	return 1;
}

/* next_command is the first unanswered command above the agent's last
 * executed sequence. */
static struct cmd *
next_command(struct host *h)
{
	struct cmd *c;

	for (c = h->outbox; c != NULL; c = c->next)
		if (c->rec.seq > h->agent_last_seq &&
		    strcmp(c->rec.state, "accepted") != 0)
			return c;
	return NULL;
}

static void
send_command(struct ferryd *fd, struct host *h, struct cmd *c)
{
	struct rep_slot *slot = h->held;

	h->held = NULL;
	log_debug("host %s: sending %s command seq %llu", h->rec.name,
	    c->rec.kind, (unsigned long long)c->rec.seq);
	answer(slot, c->rec.envelope, c->rec.envelope_len);
	/* Noted once it is on its way: the command was recorded before, or
	 * is recorded next with this state. */
	if (!c->sent) {
		c->sent = 1;
		metrics_inc(M_COMMANDS_SENT);
		snprintf(c->rec.state, sizeof(c->rec.state), "sent");
		if (!c->unrecorded)
			store_command_note(fd->store, c->rec.id, "sent", NULL);
	}
}

static void riding_reports(struct ferryd *fd, struct host *h,
    const Ferry__Poll *p, const char *peer);

static int
session_retired(const struct host *h, const uint8_t *session)
{
	size_t i;

	for (i = 0; i < h->nretired && i < POLL_RETIRED; i++)
		if (memcmp(h->retired[i], session, POLL_SESSION_LEN) == 0)
			return 1;
	return 0;
}

/*
 * poll_fresh: a heartbeat is never one heard before, so that a captured
 * poll replayed later cannot make a dead host look alive; no step of
 * either wall clock may refuse a live agent.  Within an agent's session
 * the counter must grow.  A new session must never be one the host had
 * left and, when it came in cleartext, be near our wall clock (the agent
 * just started, or ferryd did);
 * the one it replaces is remembered as left.  A poll without a session
 * (an older agent) must be newer than the last by its sent_at_ms, and is
 * refused once the host has spoken with sessions.  Logs each refusal.
 */
static int
poll_fresh(struct ferryd *fd, const char *peer, struct host *h,
    const Ferry__Poll *p, uint64_t now, int sealed)
{
	int newsession;

	if (p->session.len == 0) {
		if (h->has_session || p->sent_at_ms <= h->last_poll_sent_ms) {
			refused(fd, peer, h, "heartbeat not newer than the "
			    "last", "host %s: refused heartbeat: not newer "
			    "than the last one (replayed?)", h->rec.name);
			return 0;
		}
	} else if (p->session.len != POLL_SESSION_LEN) {
		refused(fd, peer, h, "heartbeat with a bad session id",
		    "host %s: refused heartbeat: session id of %zu bytes",
		    h->rec.name, p->session.len);
		return 0;
	}
	newsession = p->session.len != 0 && (!h->has_session ||
	    memcmp(h->session, p->session.data, POLL_SESSION_LEN) != 0);
	if (p->session.len != 0 && !newsession &&
	    p->counter <= h->poll_counter) {
		refused(fd, peer, h, "heartbeat not newer in its session",
		    "host %s: refused heartbeat: poll %llu of its session is "
		    "not newer than %llu (replayed?)", h->rec.name,
		    (unsigned long long)p->counter,
		    (unsigned long long)h->poll_counter);
		return 0;
	}
	if (newsession && session_retired(h, p->session.data)) {
		refused(fd, peer, h, "heartbeat from a session left",
		    "host %s: refused heartbeat: from a session the agent has "
		    "left (replayed?)", h->rec.name);
		return 0;
	}
	/* A sealed poll is fresh by its channel (a session ferryd opened
	 * since it started, each number taken once): only a cleartext one
	 * needs the wall clock's word for it. */
	if (!sealed && (newsession || p->session.len == 0) &&
	    (p->sent_at_ms + POLL_SKEW_MS < now ||
	    p->sent_at_ms > now + POLL_SKEW_MS)) {
		refused(fd, peer, h, "heartbeat from a clock far off ours",
		    "host %s: refused heartbeat: its clock is %lld ms off ours",
		    h->rec.name, (long long)(p->sent_at_ms - now));
		return 0;
	}
	if (newsession) {
		if (h->has_session) {
			memcpy(h->retired[h->nretired % POLL_RETIRED],
			    h->session, POLL_SESSION_LEN);
			h->nretired++;
		}
		memcpy(h->session, p->session.data, POLL_SESSION_LEN);
		h->has_session = 1;
	}
	h->poll_counter = p->counter;
	return 1;
}

static void
handle_poll(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const struct envelope *ev, const char *peer)
{
	Ferry__Poll *p = NULL;
	uint64_t now = clock_wall_ms();
	struct cmd *c;
	uint32_t wait;

	if (!known_host(fd, slot, h, ev, peer, "heartbeat"))
		return;
	if (envelope_unpack(ev, &ferry__poll__descriptor,
	    (ProtobufCMessage **)&p) != 0) {
		refused(fd, peer, h, "heartbeat that does not unpack",
		    "host %s: refused heartbeat: body does not unpack",
		    h->rec.name);
		repsrv_drop(slot);
		return;
	}
	if (!poll_fresh(fd, peer, h, p, now, repsrv_chan(slot)->sealed)) {
		ferry__poll__free_unpacked(p, NULL);
		repsrv_drop(slot);
		return;
	}
	poll_escape(p);
	/* A newer poll replaces one still held (the agent gave up on it). */
	link_release(fd, h);
	h->last_poll_sent_ms = p->sent_at_ms;
	if (h->status != NULL)
		ferry__poll__free_unpacked(h->status, NULL);
	h->status = p;
	h->cleartext = !repsrv_chan(slot)->sealed;
	h->agent_last_seq = p->last_sequence;
	wait = p->wait_ms < HOLD_MIN_MS ? HOLD_MIN_MS :
	    p->wait_ms > HOLD_MAX_MS ? HOLD_MAX_MS : p->wait_ms;
	h->interval_ms = wait;
	text_escape(h->rec.address, sizeof(h->rec.address),
	    p->publish_address && p->publish_address[0] &&
	    strcmp(p->publish_address, "0.0.0.0") != 0 ?
	    p->publish_address : peer);
	fleet_beat(fd, h, now, clock_mono_ms());
	fleet_traffic(fd, h, p->traffic, clock_mono_ms());
	/* Its reports first: what they finish may queue this host's next
	 * command, which then answers this very poll. */
	riding_reports(fd, h, p, peer);

	h->held = slot;
	h->held_until_us = clock_mono_us() + (uint64_t)wait * 1000u;
	if ((c = next_command(h)) != NULL)
		send_command(fd, h, c);
	else if (h->nread >= READ_NAME_SOON)
		link_release(fd, h);
}

/* cmd_unlink takes c out of h's outbox (if there) without freeing it. */
static void
cmd_unlink(struct host *h, struct cmd *c)
{
	struct cmd **pp;

	for (pp = &h->outbox; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static void
cmd_remove(struct host *h, struct cmd *c)
{
	cmd_unlink(h, c);
	free(c->rec.envelope);
	free(c);
}

static const char *
report_state(Ferry__Report__Status s)
{
	switch (s) {
	case FERRY__REPORT__STATUS__ACCEPTED:
	case FERRY__REPORT__STATUS__PROGRESS:
		return "accepted";
	case FERRY__REPORT__STATUS__SUCCEEDED:
		return "succeeded";
	case FERRY__REPORT__STATUS__FAILED:
		return "failed";
	case FERRY__REPORT__STATUS__REFUSED:
		return "refused";
	default:
		return NULL;
	}
}

/*
 * late_result: a command whose deadline passed without an answer (the
 * host was cut off, say), or that a restart recorded expired, is answered
 * after all: the agent had taken it before.  The agent's signed report is
 * the truth about what the host runs: a deployment's command's deployment
 * hears of it, and then it is recorded (any command's).  In that order,
 * ferryd dying in between leaves the command expired, so the agent's
 * report (not yet acknowledged, sent again) is a late answer again after
 * the restart; the deployment takes the same answer twice as once.
 */
static int
late_result(struct ferryd *fd, struct host *h, const struct command_rec *old,
    const Ferry__Report *r, const char *state)
{
	struct cmd c;

	if (strcmp(old->state, "expired") != 0 ||
	    (r->status != FERRY__REPORT__STATUS__SUCCEEDED &&
	    r->status != FERRY__REPORT__STATUS__FAILED))
		return 0;
	log_info("host %s: %s command seq %llu answered after its deadline: "
	    "%s", h->rec.name, old->kind, (unsigned long long)old->seq,
	    state);
	memset(&c, 0, sizeof(c));
	c.rec = *old;
	snprintf(c.rec.state, sizeof(c.rec.state), "%s", state);
	if (old->deployment != 0 && fd->up.reloaded_done != NULL)
		fd->up.reloaded_done(fd->up.arg, h, &c, r, NULL);
	return store_command_set_state(fd->store, old->id, state, r->message);
}

/*
 * apply_report: one report from host h, verified with the message that
 * carried it (a report of its own, or a heartbeat it rode on).  Whatever
 * it says, it is heard once: a repeat, or a report on a command that is not
 * this host's, records nothing.  Returns 0 when the report may be
 * acknowledged: what it says is recorded (or there was nothing to record);
 * an error when its record failed (disk full, say): then nothing in memory
 * moved either, and the agent, unacknowledged, sends it again.  Its text is
 * escaped first (report_escape), in place: what is logged, recorded and
 * handed on is the escaped form.
 */
static int
apply_report(struct ferryd *fd, struct host *h, Ferry__Report *r,
    const char *peer)
{
	const char *state;
	struct cmd *c;
	char idhex[COMMAND_ID_LEN * 2 + 1];
	int ping, rc;

	report_escape(r);
	if ((state = report_state(r->status)) == NULL) {
		refused(fd, peer, h, "report with an unknown status", "host "
		    "%s: refused report: unknown status %d", h->rec.name,
		    (int)r->status);
		return 0;
	}
	if (r->command_id.len != COMMAND_ID_LEN) {
		/* The agent refused something it could not even read. */
		log_warnx("agent link: host %s: agent refused a message: %s",
		    h->rec.name, r->message ? r->message : "");
		store_event(fd->store, h->rec.name, "agent-refused",
		    h->rec.name, r->message);
		return 0;
	}
	sodium_bin2hex(idhex, sizeof(idhex), r->command_id.data,
	    COMMAND_ID_LEN);
	for (c = h->outbox; c != NULL; c = c->next)
		if (memcmp(c->rec.id, r->command_id.data, COMMAND_ID_LEN) == 0)
			break;
	if (c == NULL) {
		struct command_rec old;
		/* Answered before, or not this host's: a host reports only
		 * on its own commands. */
		if (store_command_get(fd->store, r->command_id.data,
		    &old) != 0 || strcmp(old.host, h->rec.name) != 0) {
			refused(fd, peer, h, "report on a command not the "
			    "host's", "host %s: refused report on command %s: "
			    "not a command for this host", h->rec.name, idhex);
			return 0;
		}
		if ((rc = late_result(fd, h, &old, r, state)) != 0)
			log_warnx("host %s: late answer to command %s not "
			    "recorded: %s; not acknowledged, it comes again",
			    h->rec.name, idhex, ferr_str(rc));
		return rc;
	}
	/* What recovery reads waits for the disk: a command's state when it
	 * changes, recorded before anything else moves; when that fails the
	 * report is not acknowledged, and comes again.  Progress that leaves
	 * the state as it was (every health check of a swap) does not wait,
	 * nor a ping's answer, which goes to whoever waits for it before it
	 * is noted. */
	/* A failed swap's last lines go with its command, before its state:
	 * `ferry status` shows them for the failed host. */
	if (r->status == FERRY__REPORT__STATUS__FAILED &&
	    r->result_case == FERRY__REPORT__RESULT_SWAP &&
	    r->swap->logs != NULL && r->swap->logs[0] != '\0' &&
	    (rc = store_command_logs_set(fd->store, &c->rec,
	    text_tail_lines(r->swap->logs, FAILED_LOG_LINES,
	    FAILED_LOG_BYTES))) != 0) {
		log_warnx("host %s: %s command seq %llu: its last log lines "
		    "are not recorded: %s; not acknowledged, the agent sends "
		    "it again", h->rec.name, c->rec.kind,
		    (unsigned long long)c->rec.seq, ferr_str(rc));
		return rc;
	}
	if ((ping = strcmp(c->rec.kind, "ping") == 0))
		;	/* noted below, once handed over */
	else if (strcmp(c->rec.state, state) == 0)
		store_command_note(fd->store, c->rec.id, state, r->message);
	else if ((rc = store_command_set_state(fd->store, c->rec.id, state,
	    r->message)) != 0) {
		log_warnx("host %s: %s command seq %llu: its %s report is not "
		    "recorded: %s; not acknowledged, the agent sends it again",
		    h->rec.name, c->rec.kind, (unsigned long long)c->rec.seq,
		    state, ferr_str(rc));
		return rc;
	}
	if (r->status == FERRY__REPORT__STATUS__PROGRESS && r->health != NULL)
		metrics_inc(r->health->ok ? M_HEALTH_PASS : M_HEALTH_FAIL);
	if (r->status == FERRY__REPORT__STATUS__REFUSED)
		metrics_inc(M_COMMANDS_REFUSED);
	if (r->status == FERRY__REPORT__STATUS__REFUSED)
		log_warnx("host %s: command %s seq %llu refused by the agent: "
		    "%s", h->rec.name, idhex, (unsigned long long)c->rec.seq,
		    r->message ? r->message : "");
	else if (r->status == FERRY__REPORT__STATUS__PROGRESS) {
		log_info("host %s: %s command seq %llu: %s", h->rec.name,
		    c->rec.kind, (unsigned long long)c->rec.seq,
		    r->message ? r->message : "");
		/* A swap's steps (created, health passed, switched traffic,
		 * drained, stopped; not each health check) go in the events,
		 * in the order they came. */
		if (r->health == NULL && r->message != NULL &&
		    r->message[0] != '\0')
			store_deploy_event(fd->store, c->rec.deployment,
			    h->rec.name, "swap-step", h->rec.name, r->message);
	}
	else
		log_debug("host %s: command %s seq %llu: %s%s", h->rec.name,
		    idhex, (unsigned long long)c->rec.seq, state,
		    r->repeat ? " (repeat)" : "");
	snprintf(c->rec.state, sizeof(c->rec.state), "%s", state);
	if (strcmp(state, "accepted") != 0) {
		metrics_inc(M_COMMANDS_ACKED);
		if (strcmp(c->rec.kind, "swap") == 0) {
			metrics_inc(r->status == FERRY__REPORT__STATUS__SUCCEEDED ?
			    M_SWAPS_OK : M_SWAPS_FAILED);
			metrics_swap_seconds(r->result_case ==
			    FERRY__REPORT__RESULT_SWAP ? r->swap->service :
			    "", h->rec.name, r->status ==
			    FERRY__REPORT__STATUS__SUCCEEDED,
			    (double)(clock_mono_us() - c->created_us) / 1e6);
		}
		if (c->done != NULL)
			c->done(c->done_arg, h, c, r, NULL);
	}
	if (ping)
		note_later(fd, c->rec.id, state, r->message);
	if (strcmp(state, "accepted") != 0)
		cmd_remove(h, c);
	return 0;
}

/* handle_report: a report in a signed message of its own, answered with
 * an acknowledgement whatever it said.  The agent resends a report until it
 * is acknowledged, oldest first, so one left unanswered (a malformed one,
 * or its refusal of another host's replayed command) would hold up all its
 * later reports for good. */
static void
handle_report(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const struct envelope *ev, const char *peer)
{
	Ferry__Report *r = NULL;
	Ferry__ReportAck ack = FERRY__REPORT_ACK__INIT;
	uint8_t hash[ENVELOPE_DIGEST_LEN];

	if (!known_host(fd, slot, h, ev, peer, "report"))
		return;
	metrics_inc(M_REPORTS_ALONE);
	if (envelope_unpack(ev, &ferry__report__descriptor,
	    (ProtobufCMessage **)&r) != 0) {
		refused(fd, peer, h, "malformed report", "host %s: refused "
		    "report: malformed", h->rec.name);
	} else if (r->result_case == FERRY__REPORT__RESULT_LOG_CHUNK &&
	    r->status == FERRY__REPORT__STATUS__PROGRESS) {
		/* A log chunk (logs.c): never recorded; acknowledged naming
		 * its command while someone reads its stream, else naming
		 * nothing, which ends the stream on the host. */
		if (logs_chunk(fd, h, r))
			ack.command_id = r->command_id;
		envelope_digest(ev->body, ev->body_len, hash);
		ack.report_hash.data = hash;
		ack.report_hash.len = sizeof(hash);
	} else if (apply_report(fd, h, r, peer) == 0 &&
	    r->command_id.len == COMMAND_ID_LEN) {
		/* Acknowledged once recorded; an acknowledgement that names
		 * nothing makes the agent send it again. */
		ack.command_id = r->command_id;
		envelope_digest(ev->body, ev->body_len, hash);
		ack.report_hash.data = hash;
		ack.report_hash.len = sizeof(hash);
	}
	reply(fd, slot, FERRY__KIND__KIND_REPORT_ACK, &ack.base);
	if (r != NULL)
		ferry__report__free_unpacked(r, NULL);
}

/* riding_reports: the reports a heartbeat carried, verified with it. */
static void
riding_reports(struct ferryd *fd, struct host *h, const Ferry__Poll *p,
    const char *peer)
{
	Ferry__Report *r;
	size_t i;

	for (i = 0; i < p->n_reports; i++) {
		metrics_inc(M_REPORTS_RIDING);
		r = ferry__report__unpack(NULL, p->reports[i].len,
		    p->reports[i].data);
		if (r == NULL) {
			refused(fd, peer, h, "malformed report", "host %s: "
			    "refused report %zu of a heartbeat: malformed",
			    h->rec.name, i + 1);
			continue;
		}
		/* Named in the next Idle (acknowledged) only once
		 * recorded: else the agent sends it again. */
		if (apply_report(fd, h, r, peer) == 0 &&
		    r->command_id.len == COMMAND_ID_LEN)
			read_note(h, r->command_id.data,
			    p->reports[i].data, p->reports[i].len);
		ferry__report__free_unpacked(r, NULL);
	}
}

/*
 * unframe takes a request off the channel: a Hello is answered with a
 * Welcome here; a sealed request is opened in place (*body, *len then
 * hold its envelope, and the slot how to answer it); a cleartext envelope
 * passes only when ferryd runs with insecure_cleartext_link.  Returns 1
 * when there is an envelope to read, 0 when the request was answered or
 * dropped (each refusal logged).
 */
static int
unframe(struct ferryd *fd, struct rep_slot *slot, const char *peer,
    uint8_t **body, size_t *len)
{
	struct chan_reply *cr = repsrv_chan(slot);
	uint8_t frame[CHAN_WELCOME_LEN];
	const uint8_t *plain;
	size_t plen;
	int kind = chan_frame_kind(*body, *len), rc;

	memset(cr, 0, sizeof(*cr));
	switch (kind) {
	case CHAN_NONE:
		if (fd->conf.insecure_cleartext_link)
			return 1;
		/* Only what starts as an envelope hears why: garbage gets
		 * nothing back, so it cannot be used to make ferryd talk. */
		if (*len == 0 || (*body)[0] != ENVELOPE_FIRST_BYTE) {
			refused(fd, peer, NULL, "malformed", "%s: refused "
			    "message: %s", peer, ferr_str(FERR_MALFORMED));
			metrics_inc(M_MESSAGES_REFUSED);
			repsrv_drop(slot);
			return 0;
		}
		refused(fd, peer, NULL, "cleartext message", "%s: refused "
		    "message: %s (the agent runs with insecure_cleartext_link;"
		    " ferryd does not)", peer, ferr_str(FERR_CLEARTEXT));
		metrics_inc(M_MESSAGES_REFUSED);
		if (fd->cleartext_refusal != NULL)
			repsrv_reply(slot, fd->cleartext_refusal,
			    fd->cleartext_refusal_len);
		else
			repsrv_drop(slot);
		return 0;
	case CHAN_HELLO:
		if ((rc = chan_server_hello(fd->chan, *body, *len,
		    clock_mono_ms(), frame)) != 0) {
			refused(fd, peer, NULL, "bad hello", "%s: refused "
			    "hello: %s", peer, ferr_str(rc));
			metrics_inc(M_MESSAGES_REFUSED);
			repsrv_drop(slot);
			return 0;
		}
		repsrv_reply(slot, frame, CHAN_WELCOME_LEN);
		return 0;
	case CHAN_SEALED:
		rc = chan_server_open(fd->chan, *body, *len, clock_mono_ms(),
		    cr, &plain, &plen);
		if (rc == FERR_SESSION) {
			/* ferryd restarted, or the session went idle: the
			 * agent says Hello again. */
			log_debug("agent link: %s: unknown session", peer);
			chan_unknown(*body + CHAN_HEAD_LEN, frame);
			repsrv_reply(slot, frame, CHAN_UNKNOWN_LEN);
			return 0;
		}
		if (rc != 0) {
			refused(fd, peer, NULL, rc == FERR_REPLAY ?
			    "replayed sealed message" : "sealed message that "
			    "does not open", "%s: refused sealed message: %s",
			    peer, rc == FERR_REPLAY ? "its number was taken "
			    "before (replayed?)" : rc == FERR_SIGNATURE ?
			    "does not open with its session's key" :
			    ferr_str(rc));
			metrics_inc(M_MESSAGES_REFUSED);
			repsrv_drop(slot);
			return 0;
		}
		*body = (uint8_t *)plain;
		*len = plen;
		return 1;
	default:
		refused(fd, peer, NULL, kind < 0 ? "malformed frame" :
		    "not a frame agents send", "%s: refused message: %s", peer,
		    kind < 0 ? "malformed frame" : "not a frame agents send");
		metrics_inc(M_MESSAGES_REFUSED);
		repsrv_drop(slot);
		return 0;
	}
}

/* on_agent: one request from the agents' socket (loop thread). */
static void
on_agent(void *arg, struct rep_slot *slot, nng_msg *msg)
{
	struct ferryd *fd = arg;
	struct envelope ev;
	struct host *h;
	char peer[64];
	uint8_t *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	int rc;

	repsrv_peer(msg, peer, sizeof(peer));
	if (!unframe(fd, slot, peer, &body, &len))
		goto out;
	/* Size, frame, version, kind, signature: in that order, before any
	 * byte is parsed as a message. */
	rc = envelope_open(body, len, NULL, &ev);
	if (rc != 0) {
		refused(fd, peer, NULL, ferr_str(rc), "%s: refused message: "
		    "%s", peer, ferr_str(rc));
		metrics_inc(M_MESSAGES_REFUSED);
		repsrv_drop(slot);
		goto out;
	}
	/* Identity is the verified key, never a name the peer wrote. */
	h = fleet_find_key(fd, ev.signer);
	/* A session speaks for one host: the first whose key signs in it. */
	if ((rc = chan_server_bind(fd->chan, repsrv_chan(slot), ev.signer,
	    h != NULL)) != 0) {
		refused(fd, peer, NULL, "signed by another key than the "
		    "session's", "%s: refused message: %s", peer,
		    rc == FERR_SIGNER ? "signed by another key than the "
		    "session's" : ferr_str(rc));
		metrics_inc(M_MESSAGES_REFUSED);
		repsrv_drop(slot);
		goto out;
	}
	if (h != NULL && h->rec.state != HOST_REVOKED)
		repsrv_trust(fd->agents, msg);
	switch (ev.kind) {
	case FERRY__KIND__KIND_JOIN_REQUEST:
		handle_join(fd, slot, h, &ev, peer);
		break;
	case FERRY__KIND__KIND_POLL:
		handle_poll(fd, slot, h, &ev, peer);
		break;
	case FERRY__KIND__KIND_REPORT:
		handle_report(fd, slot, h, &ev, peer);
		break;
	default:
		refused(fd, peer, NULL, "kind not sent by agents", "%s: "
		    "refused message: kind %u is not sent by agents", peer,
		    ev.kind);
		repsrv_drop(slot);
		break;
	}
out:
	nng_msg_free(msg);
}

static void
outbox_append(struct host *h, struct cmd *c)
{
	struct cmd **pp = &h->outbox;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c;
}

struct cmd *
link_prepare(struct ferryd *fd, struct host *h, Ferry__Command *cmd,
    const char *kind, uint64_t ttl_ms, uint64_t result_ms, cmd_done_fn done,
    void *arg)
{
	struct cmd *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	randombytes_buf(c->rec.id, COMMAND_ID_LEN);
	snprintf(c->rec.host, sizeof(c->rec.host), "%s", h->rec.name);
	snprintf(c->rec.kind, sizeof(c->rec.kind), "%s", kind);
	snprintf(c->rec.state, sizeof(c->rec.state), "queued");
	/* The sequence is taken now, so that commands prepared together for
	 * one host are numbered apart; a gap left by one never stored is
	 * harmless. */
	if (h->agent_last_seq > h->rec.next_seq)
		h->rec.next_seq = h->agent_last_seq;	/* a record lost */
	c->rec.seq = ++h->rec.next_seq;
	/* The agent judges the expiry on our steady clock; we judge both
	 * allowances from created_us, on the monotonic one (allowance). */
	c->rec.created_ms = clock_steady_ms();
	c->rec.expires_ms = c->rec.created_ms + ttl_ms;
	c->rec.deadline_ms = c->rec.expires_ms + result_ms;
	c->created_us = clock_mono_us();
	c->done = done;
	c->done_arg = arg;

	cmd->id.data = c->rec.id;
	cmd->id.len = COMMAND_ID_LEN;
	cmd->target_host = h->rec.name;
	cmd->target_fingerprint.data = h->fpr;
	cmd->target_fingerprint.len = KEY_FPR_LEN;
	cmd->sequence = c->rec.seq;
	cmd->issued_at_ms = c->rec.created_ms;
	cmd->expires_at_ms = c->rec.expires_ms;
	if (envelope_seal_msg(FERRY__KIND__KIND_COMMAND, &cmd->base, &fd->kp,
	    &c->rec.envelope, &c->rec.envelope_len) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
link_discard(struct cmd *c)
{
	if (c == NULL)
		return;
	free(c->rec.envelope);
	free(c);
}

void
link_outbox_free(struct host *h)
{
	struct cmd *c, *next;

	for (c = h->outbox; c != NULL; c = next) {
		next = c->next;
		link_discard(c);
	}
	h->outbox = NULL;
}

void
link_enqueue(struct ferryd *fd, struct host *h, struct cmd *c)
{
	outbox_append(h, c);
	if (h->held != NULL && next_command(h) == c)
		send_command(fd, h, c);
}

void
link_withdraw(struct ferryd *fd, uint64_t deployment, const char *why,
    link_withdrawn_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		struct cmd *c, *next;

		for (c = h->outbox; c != NULL; c = next) {
			next = c->next;
			/* Only what no agent took: not accepted, nor the one
			 * whose final answer is being handed over now. */
			if (c->rec.deployment != deployment ||
			    (strcmp(c->rec.state, "queued") != 0 &&
			    strcmp(c->rec.state, "sent") != 0))
				continue;
			log_info("host %s: %s command seq %llu withdrawn: %s",
			    h->rec.name, c->rec.purpose[0] ? c->rec.purpose :
			    c->rec.kind, (unsigned long long)c->rec.seq, why);
			/* Should this not reach the disk, a restart expires
			 * it all the same (store_commands_open). */
			store_command_set_state(fd->store, c->rec.id,
			    "expired", why);
			if (fn != NULL)
				fn(arg, h);
			cmd_remove(h, c);
		}
	}
}

int
link_withdraw_one(struct ferryd *fd, struct host *h, const uint8_t *id,
    const char *why)
{
	struct cmd *c;

	for (c = h->outbox; c != NULL; c = c->next)
		if (memcmp(c->rec.id, id, COMMAND_ID_LEN) == 0)
			break;
	if (c == NULL || (strcmp(c->rec.state, "queued") != 0 &&
	    strcmp(c->rec.state, "sent") != 0))
		return 0;
	log_debug("host %s: %s command seq %llu withdrawn: %s", h->rec.name,
	    c->rec.kind, (unsigned long long)c->rec.seq, why);
	store_command_set_state(fd->store, c->rec.id, "expired", why);
	cmd_remove(h, c);
	return 1;
}

int
link_command_long(struct ferryd *fd, struct host *h, Ferry__Command *cmd,
    const char *kind, uint64_t ttl_ms, uint64_t result_ms, cmd_done_fn done,
    void *arg)
{
	struct cmd *c;
	int rc;

	c = link_prepare(fd, h, cmd, kind, ttl_ms, result_ms, done, arg);
	if (c == NULL)
		return FERR_NOMEM;
	/* Durable before it is sent. */
	if ((rc = store_command_insert(fd->store, &c->rec)) != 0) {
		link_discard(c);
		return rc;
	}
	link_enqueue(fd, h, c);
	return 0;
}

/* allowance: how long, in ms from its creation, c may wait to be accepted
 * or, once accepted, for its result (0 for a record whose times make no
 * sense). */
static uint64_t
allowance(const struct cmd *c, int accepted)
{
	uint64_t until = accepted ? c->rec.deadline_ms : c->rec.expires_ms;

	return until > c->rec.created_ms ? until - c->rec.created_ms : 0;
}

void
link_sweep(struct ferryd *fd)
{
	uint64_t now_us = clock_mono_us();
	size_t i;

	chan_server_sweep(fd->chan, now_us / 1000);
	if (fd->refusals != NULL)
		refusals_due(fd->refusals, now_us / 1000, refusal_sum, fd);
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		struct cmd *c, *next;

		if (h->held != NULL && now_us >= h->held_until_us)
			link_release(fd, h);
		for (c = h->outbox; c != NULL; c = next) {
			int accepted = strcmp(c->rec.state, "accepted") == 0;

			next = c->next;
			/* Accepted work has until its deadline to finish;
			 * the rest must be accepted before it expires. */
			if ((now_us - c->created_us) / 1000 <
			    allowance(c, accepted))
				continue;
			metrics_inc(M_COMMANDS_EXPIRED);
			store_command_set_state(fd->store, c->rec.id,
			    "expired", accepted ? "no result before the "
			    "deadline" : "no answer before expiry");
			log_warnx("host %s: %s command seq %llu %s",
			    h->rec.name, c->rec.kind,
			    (unsigned long long)c->rec.seq, accepted ?
			    "accepted but no result before the deadline" :
			    "expired unanswered");
			/* Out of the outbox before its done callback: that
			 * may end a deployment, whose withdrawal frees the
			 * commands still in the outbox (this one too, were
			 * it there, and maybe the next); the walk starts
			 * again from the head. */
			cmd_unlink(h, c);
			if (c->done != NULL)
				c->done(c->done_arg, h, c, NULL,
				    !h->online ? "host offline" : accepted ?
				    "no result before the deadline" :
				    "timed out");
			free(c->rec.envelope);
			free(c);
			next = h->outbox;
		}
	}
}

/*
 * rearm gives a command reloaded at start its whole allowances again, from
 * now (created_us): how long it waited before the restart cannot be told
 * from a clock that may have stepped since.  One not accepted yet is
 * signed again with the new times (same id, sequence and payload: an agent
 * that had taken it answers the repeat from its records), since the agent
 * judges its expiry on our steady clock, which starts afresh with us; the
 * new envelope is recorded before it can be sent.  Returns 0, or an error
 * and c's record unchanged.
 */
static int
rearm(struct ferryd *fd, struct cmd *c)
{
	uint64_t ttl = allowance(c, 0), all = allowance(c, 1);
	uint64_t result = all > ttl ? all - ttl : 0, now = clock_steady_ms();
	Ferry__Command *cmd = NULL;
	struct envelope ev;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (strcmp(c->rec.state, "accepted") == 0)
		return 0;
	if ((rc = envelope_open(c->rec.envelope, c->rec.envelope_len,
	    fd->kp.pk, &ev)) != 0 || (rc = envelope_unpack(&ev,
	    &ferry__command__descriptor, (ProtobufCMessage **)&cmd)) != 0)
		return rc;
	cmd->issued_at_ms = now;
	cmd->expires_at_ms = now + ttl;
	rc = envelope_seal_msg(FERRY__KIND__KIND_COMMAND, &cmd->base, &fd->kp,
	    &buf, &len);
	ferry__command__free_unpacked(cmd, NULL);
	if (rc != 0)
		return rc;
	if ((rc = store_command_rearm(fd->store, c->rec.id, buf, len,
	    now + ttl, now + ttl + result)) != 0) {
		free(buf);
		return rc;
	}
	free(c->rec.envelope);
	c->rec.envelope = buf;
	c->rec.envelope_len = len;
	c->rec.created_ms = now;
	c->rec.expires_ms = now + ttl;
	c->rec.deadline_ms = now + ttl + result;
	return 0;
}

/* Commands of unfinished deployments recorded before a restart go out
 * again with their original ids (re-armed); the agents answer repeats from
 * their records. */
static void
on_open_command(void *arg, const struct command_rec *rec)
{
	struct ferryd *fd = arg;
	struct host *h = fleet_find(fd, rec->host);
	struct cmd *c;
	int rc;

	if (h == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->rec = *rec;
	c->rec.envelope = malloc(rec->envelope_len);
	if (c->rec.envelope == NULL) {
		free(c);
		return;
	}
	memcpy(c->rec.envelope, rec->envelope, rec->envelope_len);
	c->created_us = clock_mono_us();
	if ((rc = rearm(fd, c)) != 0)
		log_warnx("host %s: %s command seq %llu: cannot sign it again "
		    "with new times (%s): it goes as it was",
		    h->rec.name, c->rec.kind, (unsigned long long)c->rec.seq,
		    ferr_str(rc));
	/* A deployment's commands report back to its engine. */
	c->done = fd->up.reloaded_done;
	c->done_arg = fd->up.arg;
	outbox_append(h, c);
}

int
link_start(struct ferryd *fd)
{
	Ferry__Refusal r = FERRY__REFUSAL__INIT;
	int rc;

	if ((rc = store_commands_open(fd->store, on_open_command, fd)) != 0)
		return rc;
	/* Every known host may say Hello at once (after our restart), and
	 * strangers must not crowd them out before they bind. */
	if ((fd->chan = chan_server_new(&fd->kp, CHAN_UNBOUND_MAX +
	    2 * fd->nhosts)) == NULL)
		return FERR_NOMEM;
	/* What an agent that speaks in cleartext hears from a ferryd that
	 * does not: signed once, here. */
	r.reason = FERRY__REFUSAL__REASON__BAD_REQUEST;
	r.message = "ferryd takes sealed messages only: the agent runs with "
	    "insecure_cleartext_link = yes and ferryd does not";
	if (!fd->conf.insecure_cleartext_link &&
	    envelope_seal_msg(FERRY__KIND__KIND_REFUSAL, &r.base, &fd->kp,
	    &fd->cleartext_refusal, &fd->cleartext_refusal_len) != 0)
		fd->cleartext_refusal = NULL;
	if ((fd->refusals = malloc(sizeof(*fd->refusals))) == NULL)
		return FERR_NOMEM;
	refusals_init(fd->refusals, fd->conf.refusal_interval_ms);
	uv_check_init(fd->loop, &fd->notes_check);
	fd->notes_check.data = fd;
	struct repsrv_limits lim = { fd->conf.agent_connections,
	    fd->conf.agent_auth_timeout_ms };

	return repsrv_open_limited(&fd->agents, fd->conf.listen,
	    ENVELOPE_MAX_SIZE + CHAN_OVERHEAD, 0, &lim, &fd->mb, on_agent, fd);
}

void
link_stop(struct ferryd *fd)
{
	size_t i;

	/* Held polls need no answer: the agents retry. */
	for (i = 0; i < fd->nhosts; i++)
		fd->hosts[i]->held = NULL;
	repsrv_close(fd->agents);
	fd->agents = NULL;
	chan_server_free(fd->chan);
	fd->chan = NULL;
	free(fd->cleartext_refusal);
	fd->cleartext_refusal = NULL;
	flush_notes(&fd->notes_check);
	uv_close((uv_handle_t *)&fd->notes_check, NULL);
	/* What was counted and not summed up yet is, now. */
	if (fd->refusals != NULL)
		refusals_due(fd->refusals, UINT64_MAX, refusal_sum, fd);
	free(fd->refusals);
	fd->refusals = NULL;
}
