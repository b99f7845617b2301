/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/fake.c
/* test_forgery.c: forged, replayed and rule-breaking messages on the signed
 * link: a fake ferryd against a real agent, a fake agent against a real
 * ferryd, and a revoked host.  Nothing forged may execute or be recorded;
 * both daemons must stay up and keep serving the genuine peers. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cJSON.h>
#include <criterion/criterion.h>
#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "envelope.h"
#include "fake.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "harness.h"
#include "keys.h"
#include "token.h"

#define ID_LEN		16
#define OVERSIZE	(ENVELOPE_MAX_SIZE + 44u * 1024u)	/* 300 KiB */

static struct h_fleet fleet;

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
	h_init(&fleet);
}

static void
teardown(void)
{
	h_fini(&fleet);
}

/*
 * wait_refused_twice waits (bounded by ms) until two refusals more than
 * when had_first and had_sum were counted are in the log: each logged at
 * once as first (a line with first), or counted after a first and summed
 * up at the interval's end (a line with sum).
 */
static int
wait_refused_twice(const struct h_proc *p, const char *first,
    const char *sum, int had_first, int had_sum, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;

	do {
		if (h_log_count(p, first) - had_first +
		    h_log_count(p, sum) - had_sum >= 2)
			return 1;
		h_sleep_ms(50);
	} while (h_mono_ms() < end);
	return 0;
}

/* ---- files the test owns: keys, databases, logs ------------------------ */

/* wait_count waits (bounded by ms) until text is in more than had lines. */
static int
wait_count(const struct h_proc *p, const char *text, int had, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;

	do {
		if (h_log_count(p, text) > had)
			return 1;
		h_sleep_ms(50);
	} while (h_mono_ms() < end);
	return 0;
}

/* hosts_json is `ferry hosts --json`, parsed; the caller deletes it. */
static cJSON *
hosts_json(struct h_fleet *f)
{
	struct h_run *r = malloc(sizeof(*r));
	cJSON *arr;

	cr_assert_not_null(r);
	h_ferry(f, r, (const char *[]){ "hosts", "--json", NULL });
	cr_assert_eq(r->status, 0, "hosts --json: %s", r->err);
	arr = cJSON_Parse(r->out);
	cr_assert(cJSON_IsArray(arr), "hosts --json: not an array: %s",
	    r->out);
	free(r);
	return arr;
}

/* expect_hosts: `ferry hosts --json` lists exactly these hosts, in any
 * order, each in the state given. */
static void
expect_hosts(struct h_fleet *f, const char *const *names,
    const char *const *states, int n)
{
	cJSON *arr = hosts_json(f), *it;
	int i, seen = 0;

	cr_assert_eq(cJSON_GetArraySize(arr), n, "expected %d hosts, got %d",
	    n, cJSON_GetArraySize(arr));
	cJSON_ArrayForEach(it, arr) {
		cJSON *nm = cJSON_GetObjectItem(it, "name");
		cJSON *st = cJSON_GetObjectItem(it, "state");
		cr_assert(cJSON_IsString(nm) && cJSON_IsString(st));
		for (i = 0; i < n; i++)
			if (strcmp(nm->valuestring, names[i]) == 0)
				break;
		cr_assert(i < n, "unexpected host %s", nm->valuestring);
		cr_assert_str_eq(st->valuestring, states[i], "host %s is %s, "
		    "not %s", names[i], st->valuestring, states[i]);
		seen++;
	}
	cr_assert_eq(seen, n);
	cJSON_Delete(arr);
}

/* ---- building what the wire carries ------------------------------------ */

static void
seal(uint32_t kind, const ProtobufCMessage *m, const struct keypair *kp,
    uint8_t **buf, size_t *len)
{
	int rc = envelope_seal_msg(kind, m, kp, buf, len);

	cr_assert_eq(rc, 0, "seal: %s", ferr_str(rc));
}

/* make_command seals a Ping command with a fresh id (into id); in the
 * fake ferryd. */
static void
make_command(struct fake_link *l, const struct keypair *signer,
    const char *host,
    const uint8_t fpr[KEY_FPR_LEN], uint64_t seq, uint64_t issued_ms,
    uint64_t expires_ms, uint8_t id[ID_LEN], uint8_t **buf, size_t *len)
{
	Ferry__Command c = FERRY__COMMAND__INIT;
	Ferry__Ping p = FERRY__PING__INIT;

	randombytes_buf(id, ID_LEN);
	c.id.data = id;
	c.id.len = ID_LEN;
	c.target_host = (char *)host;
	c.target_fingerprint.data = (uint8_t *)fpr;
	c.target_fingerprint.len = KEY_FPR_LEN;
	c.sequence = seq;
	c.issued_at_ms = issued_ms;
	c.expires_at_ms = expires_ms;
	p.sent_at_ms = issued_ms;
	c.payload_case = FERRY__COMMAND__PAYLOAD_PING;
	c.ping = &p;
	fake_seal(l, FERRY__KIND__KIND_COMMAND, &c.base, signer, buf, len);
}

static void
make_report(const struct keypair *kp, const uint8_t *id, size_t id_len,
    uint64_t seq, Ferry__Report__Status status, const char *message,
    uint8_t **buf, size_t *len)
{
	Ferry__Report r = FERRY__REPORT__INIT;

	r.command_id.data = (uint8_t *)id;
	r.command_id.len = id_len;
	r.sequence = seq;
	r.status = status;
	r.message = (char *)message;
	r.sent_at_ms = clock_wall_ms();
	seal(FERRY__KIND__KIND_REPORT, &r.base, kp, buf, len);
}

/* make_poll_in seals a heartbeat of kp's host in session (16 bytes; NULL:
 * none, as an older agent sends) with counter. */
static void
make_poll_in(const struct keypair *kp, const uint8_t *session,
    uint64_t counter, uint64_t sent_at_ms, uint64_t last_seq, uint8_t **buf,
    size_t *len)
{
	Ferry__Poll p = FERRY__POLL__INIT;

	if (session != NULL) {
		p.session.data = (uint8_t *)session;
		p.session.len = 16;
		p.counter = counter;
	}
	p.sent_at_ms = sent_at_ms;
	p.last_sequence = last_seq;
	p.wait_ms = 200;
	p.status = "ready";
	p.publish_address = "127.0.0.9";
	p.version = "forged";
	seal(FERRY__KIND__KIND_POLL, &p.base, kp, buf, len);
}

static void
make_poll(const struct keypair *kp, uint64_t sent_at_ms, uint64_t last_seq,
    uint8_t **buf, size_t *len)
{
	make_poll_in(kp, NULL, 0, sent_at_ms, last_seq, buf, len);
}

static void
random_fill(uint8_t *b, size_t n)
{
	randombytes_buf(b, n);
	/* Not even the first byte of an envelope frame (0x08). */
	b[0] = 0xff;
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *b = malloc(n);

	cr_assert_not_null(b);
	random_fill(b, n);
	return b;
}

/* open_signed opens an answer that must be signed by pk as kind and
 * unpacks it as d. */
static ProtobufCMessage *
open_signed(const uint8_t *m, size_t mlen, const uint8_t pk[KEY_PUBLIC_LEN],
    uint32_t kind, const ProtobufCMessageDescriptor *d)
{
	struct envelope ev;
	ProtobufCMessage *out = NULL;
	int rc;

	rc = envelope_open(m, mlen, pk, &ev);
	cr_assert_eq(rc, 0, "answer does not verify with ferryd's key: %s",
	    ferr_str(rc));
	cr_assert_eq(ev.kind, kind, "answer of kind %u, expected %u",
	    ev.kind, kind);
	cr_assert_eq(envelope_unpack(&ev, d, &out), 0, "answer does not "
	    "unpack");
	return out;
}

/* ---- a fake ferryd: a REP socket on ferryd's port ---------------------- */

/*
 * The fake runs in a process of its own (fake.h: nng_close of Debian's NNG
 * 1.5.2 may hang for good, and a test process left so can never report or
 * exit), and reports through a file both map.  Its script is the whole
 * sequence of answers; the test checks what it saw once it is done.
 * Nothing in it may use Criterion's asserts: a failed check writes the
 * link's error and ends the process.
 */

#define MAX_IDS 16
#define ENV_MAX 8192

/* A command that breaks exactly one acceptance rule. */
struct bad_cmd {
	const char *what;
	const char *host;
	int wrong_fpr;
	uint64_t seq;
	int64_t issued_off_ms, expires_off_ms;	/* from now */
	int why;				/* FERR_* expected */
};

#define NBAD 5

static const struct bad_cmd bad[NBAD] = {
	{ "expired", "web-1", 0, 102, -120000, -60000, FERR_EXPIRED },
	{ "issued 5 min ahead", "web-1", 0, 103, 300000, 600000,
	    FERR_FUTURE },
	{ "for another host", "web-2", 0, 104, 0, 60000, FERR_TARGET },
	{ "for another key", "web-1", 1, 105, 0, 60000, FERR_TARGET },
	{ "lower sequence", "web-1", 0, 1, 0, 60000, FERR_SEQUENCE },
};

#define FORGED_ACK_LOG \
	"refused answer to a report from ferryd: unexpected signer"

struct fake_ferryd {
	struct fake_link link;		/* the real key: Idle and acks */
	/* set before the fake starts */
	struct keypair rogue;		/* what a fake really has */
	uint8_t fpr[KEY_FPR_LEN];	/* the agent's */
	uint8_t other_fpr[KEY_FPR_LEN];
	uint8_t replay[ENV_MAX];	/* ferryd's seq 1 command */
	size_t replay_len;
	uint8_t replay_id[ID_LEN];
	char agent_db[600];		/* web-1/agent.db */
	char agent_log[512];
	/* results */
	uint8_t bad_ids[NBAD][ID_LEN];	/* ids of the bad[] commands */
	uint8_t forge_ack_id[ID_LEN];	/* its report: a forged ack */
	int forged_acks;
	int forged_idles;		/* ... riding on a poll: a forged Idle */
	int reports;
	int refused_unreadable;		/* REFUSED, no command id */
	char unreadable_msgs[512];
	int repeats;			/* repeat answers for replay_id */
	int repeat_ok;			/* ... carrying SUCCEEDED */
	uint8_t refused_ids[MAX_IDS][ID_LEN];
	char refused_msgs[MAX_IDS][128];
	int nrefused;			/* distinct ids REFUSED */
	int others;
};

/* count_report counts one verified report; says whether it is the one
 * whose acknowledgement the fake forges. */
static int
count_report(struct fake_ferryd *fk, const Ferry__Report *r)
{
	int i;

	fk->reports++;
	if (r->status == FERRY__REPORT__STATUS__REFUSED &&
	    r->command_id.len == 0) {
		fk->refused_unreadable++;
		strncat(fk->unreadable_msgs, r->message ? r->message : "",
		    sizeof(fk->unreadable_msgs) -
		    strlen(fk->unreadable_msgs) - 2);
		strcat(fk->unreadable_msgs, ";");
	} else if (r->command_id.len == ID_LEN && r->repeat &&
	    memcmp(r->command_id.data, fk->replay_id, ID_LEN) == 0) {
		fk->repeats++;
		fk->repeat_ok += r->status ==
		    FERRY__REPORT__STATUS__SUCCEEDED;
	} else if (r->status == FERRY__REPORT__STATUS__REFUSED &&
	    r->command_id.len == ID_LEN) {
		for (i = 0; i < fk->nrefused; i++)
			if (memcmp(fk->refused_ids[i], r->command_id.data,
			    ID_LEN) == 0)
				break;
		if (i == fk->nrefused && i < MAX_IDS) {
			memcpy(fk->refused_ids[i], r->command_id.data, ID_LEN);
			snprintf(fk->refused_msgs[i],
			    sizeof(fk->refused_msgs[i]), "%s",
			    r->message ? r->message : "");
			fk->nrefused++;
		}
	} else {
		fk->others++;
	}
	return r->command_id.len == ID_LEN && memcmp(r->command_id.data,
	    fk->forge_ack_id, ID_LEN) == 0;
}

/* fake_report counts one verified report of its own and acknowledges it
 * with the real key, as ferryd would, but for the one whose
 * acknowledgement it forges. */
static void
fake_report(struct fake_link *l, const struct envelope *ev)
{
	struct fake_ferryd *fk = (struct fake_ferryd *)l;
	Ferry__Report *r = NULL;
	int forged;

	FAKE_CHECK(l, envelope_unpack(ev, &ferry__report__descriptor,
	    (ProtobufCMessage **)&r) == 0, "the agent's report does not "
	    "unpack");
	/* What a fake without ferryd's key can answer: the report stays
	 * unacknowledged and goes to the real ferryd later. */
	if ((forged = count_report(fk, r)))
		fk->forged_acks++;
	fake_acknowledge(l, r, forged);
	ferry__report__free_unpacked(r, NULL);
}

/* fake_riding counts a report that rode on a poll.  The Idle that names
 * the one whose acknowledgement is forged is sealed with the fake's own
 * key, and must not acknowledge it either. */
static int
fake_riding(struct fake_link *l, const Ferry__Report *r)
{
	struct fake_ferryd *fk = (struct fake_ferryd *)l;
	int forged;

	if ((forged = count_report(fk, r)))
		fk->forged_idles++;
	return forged;
}

/* fake_unacked: unacked(), read by the fake. */
static long long
fake_unacked(struct fake_ferryd *fk)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long n = -1;

	FAKE_CHECK(&fk->link, sqlite3_open_v2(fk->agent_db, &db,
	    SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK, "open %s",
	    fk->agent_db);
	sqlite3_busy_timeout(db, 5000);
	FAKE_CHECK(&fk->link, sqlite3_prepare_v2(db, "SELECT count(*) FROM "
	    "commands WHERE acked = 0 AND report IS NOT NULL", -1, &s, NULL) ==
	    SQLITE_OK, "%s: %s", fk->agent_db, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* fake_log_has: h_log_has(), read by the fake. */
static int
fake_log_has(const char *path, const char *text)
{
	struct h_proc p;

	memset(&p, 0, sizeof(p));
	snprintf(p.log, sizeof(p.log), "%s", path);
	return h_log_has(&p, text);
}

/*
 * forgery_script: the fake ferryd's answers, in order.  The agent's own
 * heartbeat first (signed by its key, last sequence 1), then (a) garbage,
 * (b) a well-addressed command signed by a key of its own, (b') the same
 * claiming ferryd's key, (c) ferryd's own seq 1 command replayed byte for
 * byte, (d) the real key with one rule broken each (bad[]), the last one's
 * report getting a forged acknowledgement (alone) and an Idle that names it
 * with another report's hash (when it rode on a poll), (e) more than the
 * agent reads;
 * then genuine Idles until every refusal has been reported, and every
 * report but the one with the forged ack is acknowledged (or 20 s passed).
 */
static void
forgery_script(struct fake_link *l)
{
	struct fake_ferryd *fk = (struct fake_ferryd *)l;
	uint8_t junk[200], *big, *buf, id[ID_LEN];
	size_t len;
	uint64_t now;
	uint32_t pipe_before;
	int i;

	l->on_report = fake_report;
	l->on_riding = fake_riding;
	/* The Idle naming the held report is signed with ferryd's real key
	 * but names another report's hash: acknowledgements hold for the
	 * very report they name. */
	l->idle_wrong_hash = 1;
	l->deadline = fake_mono_ms() + 20000;

	fake_idle(l);
	FAKE_CHECK(l, l->poll_last_seq == 1, "agent says it executed up to "
	    "%llu", (unsigned long long)l->poll_last_seq);

	/* (a) garbage */
	random_fill(junk, sizeof(junk));
	fake_answer(l, junk, sizeof(junk));

	/* (b) a well-addressed command signed by a key of our own */
	now = clock_wall_ms();
	make_command(l, &fk->rogue, "web-1", fk->fpr, 100, now, now + 60000,
	    id, &buf, &len);
	fake_answer(l, buf, len);
	free(buf);

	/* (b') the same, claiming to be signed by ferryd's key */
	make_command(l, &fk->rogue, "web-1", fk->fpr, 101, now, now + 60000,
	    id, &buf, &len);
	FAKE_CHECK(l, buf[0] == 0x08 && buf[1] == ENVELOPE_VERSION &&
	    buf[2] == 0x12 && buf[3] == KEY_PUBLIC_LEN, "envelope layout");
	memcpy(buf + 4, l->coord.pk, KEY_PUBLIC_LEN);
	fake_answer(l, buf, len);
	free(buf);

	/* (c) ferryd's own seq 1 command, replayed byte for byte */
	fake_answer(l, fk->replay, fk->replay_len);

	/* (d) the real key, one rule broken each */
	for (i = 0; i < NBAD; i++) {
		now = clock_wall_ms();
		make_command(l, &l->coord, bad[i].host, bad[i].wrong_fpr ?
		    fk->other_fpr : fk->fpr, bad[i].seq,
		    (uint64_t)((int64_t)now + bad[i].issued_off_ms),
		    (uint64_t)((int64_t)now + bad[i].expires_off_ms),
		    fk->bad_ids[i], &buf, &len);
		fake_answer(l, buf, len);
		free(buf);
	}
	/* The last refusal's report gets a forged acknowledgement: the Idle
	 * answering the poll it rides on names it with another report's
	 * hash, and alone it gets one signed by a key of our own. */
	memcpy(fk->forge_ack_id, fk->bad_ids[NBAD - 1], ID_LEN);
	fake_idle(l);

	/* (e) more than the agent reads: NNG drops the connection at its
	 * size limit, the agent dials again and repeats its poll. */
	big = malloc(OVERSIZE);
	FAKE_CHECK(l, big != NULL, "malloc");
	random_fill(big, OVERSIZE);
	fake_answer(l, big, OVERSIZE);
	free(big);
	pipe_before = l->poll_pipe;
	fake_idle(l);
	FAKE_CHECK(l, l->poll_pipe != pipe_before, "an oversized answer did "
	    "not cost the connection: was it read?");

	/* Genuine Idles until every refusal has been reported, and every
	 * report but the one with the forged ack is acknowledged. */
	while (fake_mono_ms() < l->deadline && (fk->refused_unreadable < 3 ||
	    fk->nrefused < NBAD || fk->repeats < 1 || fk->forged_acks < 1 ||
	    fk->forged_idles < 1 || fake_unacked(fk) != 1 || !fake_log_has(fk->agent_log,
	    FORGED_ACK_LOG)))
		fake_idle(l);
}

FAKE_MAIN(forgery_script)

/* unacked counts the agent's reports that ferryd has not acknowledged. */
static long long
unacked(struct h_fleet *f, const char *host)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "%s/agent.db", host);
	return h_db_int(f, rel, "SELECT count(*) FROM commands WHERE acked = 0 "
	    "AND report IS NOT NULL", NULL, 0, NULL);
}

/* refused_line: what the agent logs when an answer does not open. */
static void
refused_line(char *out, size_t len, const char *url, int err)
{
	snprintf(out, len, "refused message from ferryd at %.200s: %.200s",
	    url, ferr_str(err));
}

Test(forgery, fake_ferryd_without_the_key, .init = setup, .fini = teardown,
    .timeout = 60)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *agent;
	struct fake_ferryd *fk;
	struct keypair coord, host, rogue;
	uint8_t fpr[KEY_FPR_LEN], other_fpr[KEY_FPR_LEN], *replay = NULL;
	size_t replay_len;
	char line[512], idhex[ID_LEN * 2 + 1], state[32];
	const int nbad = NBAD;
	int i, j, had_refused;

	cr_assert_not_null(r);
	h_start_ferryd(f, NULL);
	agent = h_add_agent(f, "web-1", NULL);
	fk = fake_new(f, "fake-ferryd", sizeof(*fk));
	/* One genuine command, seq 1, valid for a minute: a replay of it
	 * breaks no rule but "seen before". */
	h_ferry(f, r, (const char *[]){ "ping", "--timeout", "60s", "web-1",
	    NULL });
	cr_assert_eq(r->status, 0, "first ping: %s%s", r->out, r->err);

	h_load_key(f, "ferryd/ferryd.key", &coord);
	h_load_key(f, "web-1/host.key", &host);
	cr_assert_eq(keys_generate(&rogue), 0);
	keys_fingerprint(host.pk, fpr);
	randombytes_buf(other_fpr, sizeof(other_fpr));
	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT hex(id), envelope "
	    "FROM commands WHERE host = ? AND seq = 1", NULL, 0, "web-1",
	    idhex, sizeof(idhex), &replay, &replay_len),
	    "no seq 1 command for web-1 in ferryd.db");
	cr_assert_eq(strlen(idhex), ID_LEN * 2);
	for (i = 0; i < ID_LEN; i++) {
		unsigned v;
		sscanf(idhex + 2 * i, "%2x", &v);
		fk->replay_id[i] = (uint8_t)v;
	}
	for (i = 0; idhex[i]; i++)	/* the agent logs lowercase */
		if (idhex[i] >= 'A' && idhex[i] <= 'F')
			idhex[i] = (char)(idhex[i] - 'A' + 'a');
	had_refused = h_log_count(agent, "refused");

	/* What the fake has and knows (its script: forgery_script). */
	fk->link.mode = FAKE_SCRIPT;
	fk->link.coord = coord;
	fk->rogue = rogue;
	fk->link.forger = rogue;
	memcpy(fk->link.agent_pk, host.pk, KEY_PUBLIC_LEN);
	memcpy(fk->fpr, fpr, KEY_FPR_LEN);
	memcpy(fk->other_fpr, other_fpr, KEY_FPR_LEN);
	cr_assert_leq(replay_len, sizeof(fk->replay));
	memcpy(fk->replay, replay, replay_len);
	fk->replay_len = replay_len;
	h_path(f, "web-1/agent.db", fk->agent_db, sizeof(fk->agent_db));
	snprintf(fk->agent_log, sizeof(fk->agent_log), "%s", agent->log);

	/* ferryd dies; a fake without its key takes over the port (5 s to
	 * listen, then 20 s for its script). */
	h_kill(f->ferryd, SIGKILL);
	fk->link.deadline = h_mono_ms() + 25000;
	fake_run(f, &fk->link, "fake-ferryd", 25000);

	cr_log_info("fake ferryd: %d polls, %d reports (%d unreadable, %d "
	    "refused, %d repeats, %d forged acks, %d forged idles, %d others);"
	    " unreadable: %s", fk->link.polls, fk->reports,
	    fk->refused_unreadable, fk->nrefused, fk->repeats,
	    fk->forged_acks, fk->forged_idles, fk->others, fk->unreadable_msgs);
	cr_assert(h_alive(agent), "the agent died");
	cr_assert_eq(fk->link.poll_last_seq, 1, "agent's last sequence "
	    "moved to %llu", (unsigned long long)fk->link.poll_last_seq);

	/* Every refusal reported, signed by the agent. */
	cr_assert_geq(fk->refused_unreadable, 3, "unreadable answers "
	    "reported: %d", fk->refused_unreadable);
	cr_assert(strstr(fk->unreadable_msgs, ferr_str(FERR_MALFORMED)) &&
	    strstr(fk->unreadable_msgs, ferr_str(FERR_SIGNER)) &&
	    strstr(fk->unreadable_msgs, ferr_str(FERR_SIGNATURE)),
	    "unreadable refusals: %s", fk->unreadable_msgs);
	cr_assert_geq(fk->repeats, 1, "the replay was not answered as a "
	    "repeat");
	cr_assert_eq(fk->repeat_ok, fk->repeats, "a repeat changed the "
	    "stored result");
	cr_assert_eq(fk->nrefused, nbad, "REFUSED reports for %d of %d "
	    "rule-breaking commands", fk->nrefused, nbad);
	for (i = 0; i < nbad; i++) {
		for (j = 0; j < fk->nrefused; j++)
			if (memcmp(fk->refused_ids[j], fk->bad_ids[i],
			    ID_LEN) == 0)
				break;
		cr_assert(j < fk->nrefused, "no REFUSED report for the %s "
		    "command", bad[i].what);
		snprintf(line, sizeof(line), "refused: %s",
		    ferr_str(bad[i].why));
		cr_assert_str_eq(fk->refused_msgs[j], line, "%s: reported "
		    "\"%s\"", bad[i].what, fk->refused_msgs[j]);
	}

	/* Every refusal logged, naming its reason. */
	cr_assert_gt(h_log_count(agent, "refused"), had_refused);
	refused_line(line, sizeof(line), f->listen, FERR_MALFORMED);
	cr_assert(h_log_has(agent, line), "not logged: %s", line);
	refused_line(line, sizeof(line), f->listen, FERR_SIGNER);
	cr_assert(h_log_has(agent, line), "not logged: %s", line);
	refused_line(line, sizeof(line), f->listen, FERR_SIGNATURE);
	cr_assert(h_log_has(agent, line), "not logged: %s", line);
	snprintf(line, sizeof(line), "command %s seq 1: already succeeded; "
	    "answering from the records", idhex);
	cr_assert(h_log_has(agent, line), "not logged: %s", line);
	for (i = 0; i < nbad; i++) {
		char bhex[ID_LEN * 2 + 1];
		h_hex(fk->bad_ids[i], ID_LEN, bhex, sizeof(bhex));
		snprintf(line, sizeof(line), "command %s seq %llu (ping) for "
		    "%s: refused: %s", bhex, (unsigned long long)bad[i].seq,
		    bad[i].host, ferr_str(bad[i].why));
		cr_assert(h_log_has(agent, line), "%s: not logged: %s",
		    bad[i].what, line);
	}

	/* Nothing forged, replayed or refused ran: one command succeeded,
	 * the mark did not move, the refused ones are recorded as such. */
	cr_assert_eq(h_db_int(f, "web-1/agent.db", "SELECT count(*) FROM "
	    "commands WHERE state = ?", NULL, 0, "succeeded"), 1);
	cr_assert(h_db_row(f, "web-1/agent.db", "SELECT state FROM commands "
	    "WHERE id = ?", fk->replay_id, ID_LEN, NULL, state, sizeof(state),
	    NULL, NULL), "the genuine command is not recorded");
	cr_assert_str_eq(state, "succeeded");
	cr_assert_eq(h_db_int(f, "web-1/agent.db", "SELECT count(*) FROM "
	    "commands WHERE state = ?", NULL, 0, "refused"), nbad);
	cr_assert_eq(h_db_int(f, "web-1/agent.db", "SELECT count(*) FROM "
	    "commands", NULL, 0, NULL), 1 + nbad);
	cr_assert_eq(h_db_int(f, "web-1/agent.db", "SELECT last_seq FROM mark",
	    NULL, 0, NULL), 1);
	/* The forged acknowledgements were refused too, the one to the report
	 * alone and the Idle to the poll it rode on, signed by ferryd's key
	 * but naming another report's hash: that report waits. */
	cr_assert(h_log_has(agent, FORGED_ACK_LOG));
	cr_assert_geq(fk->forged_idles, 1, "the report never rode on a poll");
	cr_assert_eq(unacked(f, "web-1"), 1);

	/* The real ferryd comes back on the same port and state. */
	h_start_ferryd(f, NULL);
	cr_assert(h_wait_state(f, "web-1", "online", 10000),
	    "web-1 not online again in 10 s");
	/* The report that waited reaches it: a refusal of a command ferryd
	 * never issued.  It is refused and logged, and it must not stay in
	 * the agent's queue, where it would hold up every later report. */
	{
		char bhex[ID_LEN * 2 + 1];
		uint64_t end = h_mono_ms() + 5000;

		h_hex(fk->bad_ids[nbad - 1], ID_LEN, bhex, sizeof(bhex));
		snprintf(line, sizeof(line), "host web-1: refused report on "
		    "command %s: not a command for this host", bhex);
		cr_assert(h_wait_log(f->ferryd, line, 5000), "not logged: %s",
		    line);
		while (unacked(f, "web-1") != 0 && h_mono_ms() < end)
			h_sleep_ms(50);
		cr_assert_eq(unacked(f, "web-1"), 0, "the agent still holds "
		    "the refusal report that ferryd dropped");
	}
	h_ferry(f, r, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(r->status, 0, "ping after the fake: %s%s", r->out,
	    r->err);
	cr_assert(h_alive(agent) && h_alive(f->ferryd));
	cr_assert_eq(h_db_int(f, "web-1/agent.db", "SELECT last_seq FROM mark",
	    NULL, 0, NULL), 2);
	munmap(fk, sizeof(*fk));
	free(replay);
	free(r);
}

/* ---- a fake agent: a REQ socket to ferryd ----------------------------- */

/* ask sends one request from a fresh REQ socket and waits up to ms for the
 * answer; returns 0 with *reply (caller frees) and *reply_len, or the NNG
 * error.  The socket lives in a process of its own (fake_ask): no NNG
 * socket is ever closed in the test process (see fake.h). */
static int
ask(struct h_fleet *f, const void *buf, size_t len, int ms, uint8_t **reply,
    size_t *reply_len)
{
	return fake_ask(f, f->listen, buf, len, ms, reply, reply_len);
}

/* ask_refused: the request gets a REFUSAL signed by ferryd, for why. */
static void
ask_refused(struct h_fleet *f, const uint8_t ferryd_pk[KEY_PUBLIC_LEN],
    const void *buf, size_t len, Ferry__Refusal__Reason why,
    const char *what)
{
	Ferry__Refusal *ref;
	uint8_t *m;
	size_t mlen;
	int rv = ask(f, buf, len, 3000, &m, &mlen);

	cr_assert_eq(rv, 0, "%s: no answer: %s", what, nng_strerror(rv));
	ref = (Ferry__Refusal *)open_signed(m, mlen, ferryd_pk,
	    FERRY__KIND__KIND_REFUSAL, &ferry__refusal__descriptor);
	cr_assert_eq(ref->reason, why, "%s: refused for reason %d (%s), "
	    "expected %d", what, ref->reason, ref->message, why);
	ferry__refusal__free_unpacked(ref, NULL);
	free(m);
}

/* ask_dropped: the request gets no answer at all within ms. */
static void
ask_dropped(struct h_fleet *f, const void *buf, size_t len, int ms,
    const char *what)
{
	uint8_t *m;
	size_t mlen;
	int rv = ask(f, buf, len, ms, &m, &mlen);

	free(m);
	cr_assert_eq(rv, NNG_ETIMEDOUT, "%s: expected no answer, got %s", what,
	    rv == 0 ? "one" : nng_strerror(rv));
}

/* command_of reads the id (raw and hex) and state of HOST's newest
 * command from ferryd.db. */
static void
command_of(struct h_fleet *f, const char *host, uint8_t id[ID_LEN],
    char idhex[ID_LEN * 2 + 1])
{
	uint8_t *raw;
	size_t n;

	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT hex(id), id FROM "
	    "commands WHERE host = ? ORDER BY seq DESC LIMIT 1", NULL, 0,
	    host, idhex, ID_LEN * 2 + 1, &raw, &n), "no command for %s", host);
	cr_assert_eq(n, ID_LEN);
	memcpy(id, raw, ID_LEN);
	free(raw);
	h_hex(id, ID_LEN, idhex, ID_LEN * 2 + 1);
}

/* command_state: "state|result|updated_ms" of a command in ferryd.db. */
static void
command_state(struct h_fleet *f, const uint8_t id[ID_LEN], char *buf,
    size_t len)
{
	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT state || '|' || "
	    "result || '|' || updated_ms FROM commands WHERE id = ?", id,
	    ID_LEN, NULL, buf, len, NULL, NULL));
}

Test(forgery, fake_agent_against_ferryd, .init = setup, .fini = teardown,
    .timeout = 60)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *a1, *a2, *fd;
	struct keypair coord, web1, stranger;
	uint8_t *buf, id1[ID_LEN], id2[ID_LEN];
	char hex1[ID_LEN * 2 + 1], hex2[ID_LEN * 2 + 1], line[512];
	char before[128], after[128];
	size_t len, mlen;
	uint8_t *m;
	int had, had2, rv;

	cr_assert_not_null(r);
	/* Refusals of one source and reason after the first are summed up
	 * once per interval: a short one here, to see them soon. */
	fd = h_start_ferryd(f, (const char *[]){ "--refusal-interval",
	    "500ms", NULL });
	a1 = h_add_agent(f, "web-1", "127.0.0.1");
	a2 = h_add_agent(f, "web-2", "127.0.0.2");
	h_load_key(f, "ferryd/ferryd.key", &coord);
	h_load_key(f, "web-1/host.key", &web1);
	cr_assert_eq(keys_generate(&stranger), 0);
	h_ferry(f, r, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(r->status, 0, "ping web-1: %s%s", r->out, r->err);
	h_ferry(f, r, (const char *[]){ "ping", "web-2", NULL });
	cr_assert_eq(r->status, 0, "ping web-2: %s%s", r->out, r->err);
	command_of(f, "web-1", id1, hex1);
	command_of(f, "web-2", id2, hex2);

	/* (a) garbage: dropped unanswered, logged. */
	had = h_log_count(fd, "refused message: malformed");
	buf = random_bytes(512);
	ask_dropped(f, buf, 512, 1000, "garbage");
	free(buf);
	cr_assert(wait_count(fd, "refused message: malformed", had, 2000),
	    "garbage not logged as refused");

	/* (b) a poll from a key ferryd never saw */
	make_poll(&stranger, clock_wall_ms(), 0, &buf, &len);
	ask_refused(f, coord.pk, buf, len,
	    FERRY__REFUSAL__REASON__UNKNOWN_HOST, "poll, unknown key");
	free(buf);
	cr_assert(h_log_has(fd, "refused heartbeat: unknown key"));

	/* (c) a report from a key ferryd never saw */
	make_report(&stranger, id1, ID_LEN, 1, FERRY__REPORT__STATUS__FAILED,
	    "forged", &buf, &len);
	ask_refused(f, coord.pk, buf, len,
	    FERRY__REFUSAL__REASON__UNKNOWN_HOST, "report, unknown key");
	free(buf);
	cr_assert(h_log_has(fd, "refused report: unknown key"));

	/* (d) web-1's real key reporting on web-2's command */
	command_state(f, id2, before, sizeof(before));
	cr_assert(strncmp(before, "succeeded|", 10) == 0, "web-2's ping: %s",
	    before);
	snprintf(line, sizeof(line), "host web-1: refused report on command "
	    "%s: not a command for this host", hex2);
	had = h_log_count(fd, line);
	make_report(&web1, id2, ID_LEN, 1, FERRY__REPORT__STATUS__FAILED,
	    "forged by web-1", &buf, &len);
	rv = ask(f, buf, len, 3000, &m, &mlen);
	free(buf);
	/* Acknowledged, so that a real agent stops resending it, and
	 * nothing recorded (see below). */
	cr_assert_eq(rv, 0, "report on web-2's command: no answer: %s",
	    nng_strerror(rv));
	{
		Ferry__ReportAck *ack = (Ferry__ReportAck *)open_signed(m,
		    mlen, coord.pk, FERRY__KIND__KIND_REPORT_ACK,
		    &ferry__report_ack__descriptor);
		cr_assert(ack->command_id.len == ID_LEN &&
		    memcmp(ack->command_id.data, id2, ID_LEN) == 0);
		ferry__report_ack__free_unpacked(ack, NULL);
		free(m);
	}
	cr_assert(wait_count(fd, line, had, 2000), "not logged: %s", line);
	command_state(f, id2, after, sizeof(after));
	cr_assert_str_eq(after, before, "web-2's command changed by web-1's "
	    "report");

	/* (e) an old report replayed: web-1's finished ping, now "failed" */
	command_state(f, id1, before, sizeof(before));
	cr_assert(strncmp(before, "succeeded|", 10) == 0, "web-1's ping: %s",
	    before);
	make_report(&web1, id1, ID_LEN, 1, FERRY__REPORT__STATUS__FAILED,
	    "replayed", &buf, &len);
	rv = ask(f, buf, len, 1000, &m, &mlen);
	free(buf);
	if (m != NULL) {
		Ferry__ReportAck *ack = (Ferry__ReportAck *)open_signed(m,
		    mlen, coord.pk, FERRY__KIND__KIND_REPORT_ACK,
		    &ferry__report_ack__descriptor);
		ferry__report_ack__free_unpacked(ack, NULL);
		free(m);
	}
	h_sleep_ms(200);
	command_state(f, id1, after, sizeof(after));
	cr_assert_str_eq(after, before, "a replayed report changed a "
	    "finished command");

	/* (f) envelope versions 2 and 0, otherwise well signed: each logged
	 * at once, or the second summed up at the interval's end. */
	had = h_log_count(fd, "refused message: unsupported envelope version");
	had2 = h_log_count(fd, "more refused from 127.0.0.1: unsupported "
	    "envelope version");
	make_poll(&web1, clock_wall_ms(), 1, &buf, &len);
	cr_assert(buf[0] == 0x08 && buf[1] == ENVELOPE_VERSION);
	buf[1] = 2;
	ask_dropped(f, buf, len, 1000, "version 2");
	buf[1] = 0;
	ask_dropped(f, buf, len, 1000, "version 0");
	free(buf);
	cr_assert(wait_refused_twice(fd, "refused message: unsupported "
	    "envelope version", "more refused from 127.0.0.1: unsupported "
	    "envelope version", had, had2, 3000), "versions 2 and 0 not both "
	    "refused");

	/* (g) 300 KiB: NNG drops it at ferryd's size limit */
	buf = random_bytes(OVERSIZE);
	rv = ask(f, buf, OVERSIZE, 1000, &m, &mlen);
	free(buf);
	cr_assert_null(m, "an oversized request was answered");
	/* The size limit costs the sender its connection. */
	cr_assert(rv == NNG_ECONNRESET || rv == NNG_ETIMEDOUT, "oversized: "
	    "%s", nng_strerror(rv));
	cr_assert(h_alive(fd), "ferryd died of an oversized message");

	/* (h) a join with a made-up token */
	{
		Ferry__JoinRequest jr = FERRY__JOIN_REQUEST__INIT;
		uint8_t tid[TOKEN_ID_LEN], proof[TOKEN_PROOF_LEN];

		randombytes_buf(tid, sizeof(tid));
		randombytes_buf(proof, sizeof(proof));
		jr.name = "intruder";
		jr.token_id.data = tid;
		jr.token_id.len = sizeof(tid);
		jr.token_proof.data = proof;
		jr.token_proof.len = sizeof(proof);
		jr.sent_at_ms = clock_wall_ms();
		jr.publish_address = "127.0.0.66";
		seal(FERRY__KIND__KIND_JOIN_REQUEST, &jr.base, &stranger,
		    &buf, &len);
		ask_refused(f, coord.pk, buf, len,
		    FERRY__REFUSAL__REASON__BAD_TOKEN, "join, made-up token");
		free(buf);
	}
	cr_assert_eq(h_db_int(f, "ferryd/ferryd.db", "SELECT count(*) FROM "
	    "hosts WHERE name = ?", NULL, 0, "intruder"), 0);

	/* (i) a made-up token claiming a known name: refused as a bad token,
	 * and no new key is put up for an operator to accept. */
	{
		Ferry__JoinRequest jr = FERRY__JOIN_REQUEST__INIT;
		uint8_t tid[TOKEN_ID_LEN], proof[TOKEN_PROOF_LEN];

		randombytes_buf(tid, sizeof(tid));
		randombytes_buf(proof, sizeof(proof));
		jr.name = "web-2";
		jr.token_id.data = tid;
		jr.token_id.len = sizeof(tid);
		jr.token_proof.data = proof;
		jr.token_proof.len = sizeof(proof);
		jr.sent_at_ms = clock_wall_ms();
		seal(FERRY__KIND__KIND_JOIN_REQUEST, &jr.base, &stranger,
		    &buf, &len);
		ask_refused(f, coord.pk, buf, len,
		    FERRY__REFUSAL__REASON__BAD_TOKEN, "join as web-2, made-up "
		    "token");
		free(buf);
	}
	cr_assert_eq(h_db_int(f, "ferryd/ferryd.db", "SELECT count(*) FROM "
	    "hosts WHERE name = ? AND new_pubkey IS NOT NULL", NULL, 0,
	    "web-2"), 0, "a made-up token put up a new key for web-2");

	/* (j) web-1's heartbeat replayed a minute late: refused, so a dead
	 * host cannot be made to look alive. */
	had = h_log_count(fd, "host web-1: refused heartbeat: not newer");
	make_poll(&web1, clock_wall_ms() - 60000, 1, &buf, &len);
	ask_dropped(f, buf, len, 1000, "replayed heartbeat");
	free(buf);
	cr_assert(wait_count(fd, "host web-1: refused heartbeat: not newer",
	    had, 2000), "a replayed heartbeat was not refused");

	/* Nothing of that hurt the fleet. */
	cr_assert(h_alive(fd) && h_alive(a1) && h_alive(a2));
	cr_assert(h_wait_state(f, "web-1", "online", 5000));
	cr_assert(h_wait_state(f, "web-2", "online", 5000));
	expect_hosts(f, (const char *[]){ "web-1", "web-2" },
	    (const char *[]){ "online", "online" }, 2);
	h_ferry(f, r, (const char *[]){ "ping", NULL });
	cr_assert_eq(r->status, 0, "ping all: %s%s", r->out, r->err);
	cr_assert(strstr(r->out, "web-1") && strstr(r->out, "web-2"),
	    "ping all: %s", r->out);

	/* (k) Heartbeats are ordered by their session's counter, not by a
	 * wall clock that can step: a poll of a new session, an hour off our
	 * clock, is heard, since it came sealed (fresh by its channel: web-1's
	 * key signs it, as a restarted agent would); heard again it is
	 * refused, however new its sent_at; and the session it replaced,
	 * web-1's running agent's, is left for good: its next poll is
	 * refused.  (In cleartext the clock decides: test_core.) */
	{
		uint8_t session[16];

		randombytes_buf(session, sizeof(session));
		make_poll_in(&web1, session, 5, clock_wall_ms() - 3600000, 1,
		    &buf, &len);
		cr_assert_eq(ask(f, buf, len, 3000, &m, &mlen), 0,
		    "a sealed new session an hour off was not answered");
		free(m);
		cr_assert_not(h_log_has(fd, "its clock is"));
		had = h_log_count(fd, "poll 5 of its session is not newer");
		had2 = h_log_count(fd, "more refused from 127.0.0.1: heartbeat "
		    "not newer in its session");
		ask_dropped(f, buf, len, 1000, "the same poll again");
		free(buf);
		make_poll_in(&web1, session, 5, clock_wall_ms() + 7200000, 1,
		    &buf, &len);
		ask_dropped(f, buf, len, 1000, "same counter, later clock");
		free(buf);
		cr_assert(wait_refused_twice(fd, "poll 5 of its session is "
		    "not newer", "more refused from 127.0.0.1: heartbeat not "
		    "newer in its session", had, had2, 3000), "a repeated poll "
		    "was not refused");
		cr_assert(wait_count(fd, "host web-1: refused heartbeat: from "
		    "a session the agent has left", 0, 3000), "the session "
		    "left was heard again");
	}
	free(r);
}

Test(forgery, revoked_host, .init = setup, .fini = teardown, .timeout = 60)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *fd, *a2;
	struct keypair coord, web2;
	uint8_t *buf, id[ID_LEN];
	size_t len;

	cr_assert_not_null(r);
	fd = h_start_ferryd(f, NULL);
	h_add_agent(f, "web-1", "127.0.0.1");
	a2 = h_add_agent(f, "web-2", "127.0.0.2");
	h_load_key(f, "ferryd/ferryd.key", &coord);
	h_load_key(f, "web-2/host.key", &web2);

	h_ferry(f, r, (const char *[]){ "hosts", "revoke", "web-2", NULL });
	cr_assert_eq(r->status, 0, "revoke: %s%s", r->out, r->err);

	h_ferry(f, r, (const char *[]){ "ping", "web-2", NULL });
	cr_assert_neq(r->status, 0, "ping of a revoked host succeeded: %s",
	    r->out);
	cr_assert(strstr(r->out, "revoked") || strstr(r->err, "revoked"),
	    "ping web-2: %s%s", r->out, r->err);

	h_ferry(f, r, (const char *[]){ "ping", NULL });
	cr_assert_eq(r->status, 0, "ping all: %s%s", r->out, r->err);
	cr_assert(strstr(r->out, "web-1") != NULL, "ping all: %s", r->out);
	cr_assert(strstr(r->out, "web-2") == NULL, "ping all pinged the "
	    "revoked host: %s", r->out);

	cr_assert(h_wait_log(a2, "revoked", 5000), "web-2's agent did not "
	    "learn it is revoked");
	cr_assert(h_wait_log(fd, "host web-2: refused heartbeat: host revoked",
	    5000));

	/* The revoked host's real key no longer gets a report heard. */
	randombytes_buf(id, sizeof(id));
	make_report(&web2, id, ID_LEN, 1, FERRY__REPORT__STATUS__SUCCEEDED,
	    "", &buf, &len);
	ask_refused(f, coord.pk, buf, len, FERRY__REFUSAL__REASON__REVOKED,
	    "report from a revoked host");
	free(buf);
	cr_assert(h_log_has(fd, "host web-2: refused report: host revoked"));

	expect_hosts(f, (const char *[]){ "web-1", "web-2" },
	    (const char *[]){ "online", "revoked" }, 2);
	cr_assert(h_alive(fd) && h_alive(a2));
	free(r);
}
