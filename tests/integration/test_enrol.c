/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/fake.c
/* test_enrol.c: enrolment that cannot be abused, against a real ferryd
 * (and real agents) on loopback: joins without a token are off unless
 * allowed, then capped and rate-limited; a token wins a pending name; a
 * new key for an enrolled name is a claim shown with its source and taken
 * only by its fingerprint; tokens are not in the database; join reads its
 * token from a file or stdin. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>
#include <sodium.h>

#include "clock.h"
#include "envelope.h"
#include "fake.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "harness.h"
#include "keys.h"
#include "token.h"

static struct h_fleet F;
static struct h_run R;

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
	h_init(&F);
}

static void
teardown(void)
{
	h_fini(&F);
}

TestSuite(enrol, .init = setup, .fini = teardown, .timeout = 240);

/* fake_main: this binary runs its own fake agents (fake_ask). */
static void
no_script(struct fake_link *l)
{
	fake_fail(l, "test_enrol runs no fake ferryd");
}

FAKE_MAIN(no_script)

/* ---- a join as any peer can send it ----------------------------------- */

/* What ferryd answered a join: a JoinAnswer (status) or a Refusal
 * (reason). */
struct answer {
	int answered;			/* anything signed by ferryd came */
	uint32_t kind;
	int status;			/* JoinAnswer */
	int reason;			/* Refusal */
	char message[256];
};

/*
 * join_raw sends one join request signed by kp, for name, with the token
 * tok (its proof made for kp and name) or none (tok NULL), from a fresh
 * connection, and reads ferryd's answer.  The one place that puts a
 * hand-built join on the wire.
 */
static struct answer
join_raw(const struct keypair *kp, const char *name,
    const struct join_token *tok)
{
	Ferry__JoinRequest jr = FERRY__JOIN_REQUEST__INIT;
	uint8_t proof[TOKEN_PROOF_LEN], *buf = NULL, *m = NULL;
	size_t len, mlen;
	struct answer a;
	struct envelope ev;
	int rv;

	memset(&a, 0, sizeof(a));
	jr.name = (char *)name;
	jr.sent_at_ms = clock_wall_ms();
	if (tok != NULL) {
		token_proof(tok->secret, kp->pk, name, proof);
		jr.token_id.data = (uint8_t *)tok->id;
		jr.token_id.len = TOKEN_ID_LEN;
		jr.token_proof.data = proof;
		jr.token_proof.len = TOKEN_PROOF_LEN;
	}
	cr_assert_eq(envelope_seal_msg(FERRY__KIND__KIND_JOIN_REQUEST,
	    &jr.base, kp, &buf, &len), 0);
	rv = fake_ask(&F, F.listen, buf, len, 3000, &m, &mlen);
	free(buf);
	cr_assert_eq(rv, 0, "join of %s: no answer: %s", name,
	    nng_strerror(rv));
	cr_assert_eq(envelope_open(m, mlen, NULL, &ev), 0);
	a.answered = 1;
	a.kind = ev.kind;
	if (ev.kind == FERRY__KIND__KIND_REFUSAL) {
		Ferry__Refusal *r = NULL;
		cr_assert_eq(envelope_unpack(&ev, &ferry__refusal__descriptor,
		    (ProtobufCMessage **)&r), 0);
		a.reason = r->reason;
		snprintf(a.message, sizeof(a.message), "%s", r->message ?
		    r->message : "");
		ferry__refusal__free_unpacked(r, NULL);
	} else {
		Ferry__JoinAnswer *j = NULL;
		cr_assert_eq(ev.kind, FERRY__KIND__KIND_JOIN_ANSWER);
		cr_assert_eq(envelope_unpack(&ev, &ferry__join_answer__descriptor,
		    (ProtobufCMessage **)&j), 0);
		a.status = j->status;
		ferry__join_answer__free_unpacked(j, NULL);
	}
	free(m);
	return a;
}

static int
refused(struct answer a, Ferry__Refusal__Reason why)
{
	return a.kind == FERRY__KIND__KIND_REFUSAL && a.reason == (int)why;
}

static int
pending(struct answer a)
{
	return a.kind == FERRY__KIND__KIND_JOIN_ANSWER &&
	    a.status == FERRY__JOIN_ANSWER__STATUS__PENDING;
}

/* ---- reading what ferryd shows and keeps ------------------------------- */

static long long
db_int(const char *sql, const char *text)
{
	return h_db_int(&F, "ferryd/ferryd.db", sql, NULL, 0, text);
}

/*
 * refusals_counted waits (bounded by ms) until ferryd's events account
 * for want refusals of one kind: the first of each interval recorded as
 * it is (its line holds first), the others summed up with their count at
 * the interval's end (reason).  Returns how many it saw.
 */
static long long
refusals_counted(const char *first, const char *reason, long long want,
    int ms)
{
	char sql[512];
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	long long n;

	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(times), 0) FROM "
	    "events WHERE kind = 'refused' AND (detail LIKE '%%%s%%' OR "
	    "detail LIKE '%% more refused from %%: %s (first %%')", first,
	    reason);
	do {
		if ((n = db_int(sql, NULL)) >= want)
			return n;
		h_sleep_ms(100);
	} while (h_mono_ms() < end);
	return n;
}


static const char *
str(cJSON *o, const char *k)
{
	cJSON *v = o != NULL ? cJSON_GetObjectItem(o, k) : NULL;

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* token_new creates a token with `ferry token create` and decodes it. */
static void
token_new(struct join_token *tok, char *text, size_t len)
{
	h_token(&F, text, len, NULL);
	cr_assert_eq(token_decode(text, tok), 0, "token: %s", text);
}

/* fpr_of writes the fingerprint of pk as ferry shows it. */
static void
fpr_of(const uint8_t *pk, char out[KEY_FPR_STRLEN])
{
	keys_pk_fingerprint_str(pk, out);
}

/* rss_kb reads the resident set of pid, in KiB. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	cr_assert_not_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

/* ---- the tests ---------------------------------------------------------- */

Test(enrol, tokenless_joins_are_refused_by_default)
{
	struct keypair kp;
	struct answer a;
	char fpr[64], bin[512], path[600];
	struct h_proc *agent;

	h_start_ferryd(&F, NULL);
	cr_assert(h_log_has(F.ferryd, "hosts join only with a token"));
	cr_assert_eq(keys_generate(&kp), 0);
	a = join_raw(&kp, "sneaky", NULL);
	cr_assert(refused(a, FERRY__REFUSAL__REASON__TOKEN_REQUIRED),
	    "a join without a token got kind %u reason %d", a.kind, a.reason);
	cr_assert(strstr(a.message, "token") != NULL, "%s", a.message);
	cr_assert(h_wait_log(F.ferryd, "refused join of sneaky", 2000));
	cr_assert(h_log_has(F.ferryd, "joins without a token are off"));
	/* Nothing recorded: no host, no event. */
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), 0);
	cr_assert_eq(db_int("SELECT count(*) FROM events WHERE host = ?",
	    "sneaky"), 0);

	/* A real agent set up to join without a token is refused too, and
	 * says why. */
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "--state-dir", h_path(&F, "ferryd", path, sizeof(path)), NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert_not_null(strstr(R.out, "key fingerprint "), "%s", R.out);
	snprintf(fpr, sizeof(fpr), "%.32s", strstr(R.out,
	    "key fingerprint ") + 16);
	agent = h_start_agent(&F, "p1", (const char *[]){ "--coordinator",
	    F.listen, "--coordinator-fingerprint", fpr, "--name", "p1",
	    NULL });
	cr_assert(h_wait_log(agent, "join token", 5000),
	    "the agent does not say that a token is needed");
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), 0);
	h_kill(agent, SIGTERM);

	/* The setting is read from the file as well, and a bad value is
	 * named. */
	h_write(&F, "bad.conf", "allow_tokenless_joins = maybe\n");
	h_run(&R, (const char *[]){ bin, "-n", "-f", h_path(&F, "bad.conf",
	    path, sizeof(path)), NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "allow_tokenless_joins") != NULL, "%s", R.err);
}

/* What ferryd's RSS may grow by over the flood.  Under `make asan` the
 * sanitizer's allocator maps memory a size class's region at a time, so
 * the figure is looser there; LeakSanitizer, at ferryd's exit, is the
 * check for leaks in that build. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_KB	4096
#else
#define RSS_SLACK_KB	1024
#endif

Test(enrol, tokenless_flood_is_capped_logged_and_costs_no_memory)
{
	enum { CAP = 16, FLOOD = 500, CLAIMS = 60 };
	struct keypair kp, last;
	struct answer a;
	char name[32], fpr[KEY_FPR_STRLEN];
	int i, npending = 0, ntoo = 0;
	long rss_early = 0, rss_late;
	cJSON *arr, *h;
	char asan[512], saved[512];
	const char *old;
	uint64_t t0;
	long secs;
	int lines;

	/* Under `make asan` freed memory waits in the sanitizer's quarantine
	 * (256 MB by default) and shows in the RSS as if kept: ferryd runs
	 * without one here, so that what it keeps is what is measured. */
	old = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=0", old ? old :
	    "", old && old[0] ? ":" : "");
	snprintf(saved, sizeof(saved), "%s", old ? old : "");
	setenv("ASAN_OPTIONS", asan, 1);
	h_start_ferryd(&F, (const char *[]){ "--allow-tokenless-joins",
	    "--pending-hosts-max", "16", "--tokenless-join-rate", "100000",
	    "--refusal-interval", "1s", NULL });
	if (old != NULL)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	h_add_agent(&F, "web-1", NULL);
	t0 = h_mono_ms();
	for (i = 0; i < FLOOD; i++) {
		cr_assert_eq(keys_generate(&kp), 0);
		snprintf(name, sizeof(name), "flood-%d", i);
		a = join_raw(&kp, name, NULL);
		if (pending(a))
			npending++;
		else if (refused(a, FERRY__REFUSAL__REASON__TOO_MANY))
			ntoo++;
		else
			cr_assert_fail("join %d: kind %u reason %d", i, a.kind,
			    a.reason);
		if (i == 100)
			rss_early = rss_kb(F.ferryd->pid);
	}
	rss_late = rss_kb(F.ferryd->pid);
	cr_log_info("ferryd's RSS: %ld KiB after 100 joins, %ld after %d",
	    rss_early, rss_late, FLOOD);
	cr_assert_eq(npending, CAP, "%d pending of %d", npending, FLOOD);
	cr_assert_eq(ntoo, FLOOD - CAP);
	cr_assert_eq(db_int("SELECT count(*) FROM hosts WHERE state = "
	    "'pending'", NULL), CAP);
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), CAP + 1);
	/* Every refusal is counted, with why: the first of each interval
	 * logged and recorded as it is, the others summed up, so the flood
	 * buries neither the log nor the events. */
	cr_assert_eq(refusals_counted("(pending_hosts_max)", "too many "
	    "pending hosts", FLOOD - CAP, 5000), FLOOD - CAP);
	/* One line at once, then at most one a refusal_interval (1 s) while
	 * the flood lasts: never one a refusal. */
	lines = h_log_count(F.ferryd, "pending hosts");
	secs = (long)((h_mono_ms() - t0) / 1000);
	cr_assert_leq(lines, secs + 3, "%d lines over %ld s", lines, secs);
	cr_assert_lt(lines, (FLOOD - CAP) / 4, "%d lines for %d refusals",
	    lines, FLOOD - CAP);
	/* 400 refused joins cost ferryd no memory that stays. */
	cr_assert_lt(rss_late - rss_early, RSS_SLACK_KB, "ferryd grew from "
	    "%ld to %ld KiB over 400 refused joins", rss_early, rss_late);

	/* Claims on an enrolled name by ever new keys: one claim is kept,
	 * the latest, and one event is written, however many come. */
	for (i = 0; i < CLAIMS; i++) {
		cr_assert_eq(keys_generate(&last), 0);
		a = join_raw(&last, "web-1", NULL);
		cr_assert(refused(a, FERRY__REFUSAL__REASON__NAME_TAKEN),
		    "claim %d: kind %u reason %d", i, a.kind, a.reason);
	}
	fpr_of(last.pk, fpr);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "new_key_fingerprint"), fpr);
	cr_assert_str_eq(str(h, "new_key_from"), "127.0.0.1");
	cJSON_Delete(arr);
	cr_assert_eq(db_int("SELECT count(*) FROM events WHERE kind = "
	    "'host-key-claimed'", NULL), 1);
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), CAP + 1);
	cr_assert(h_wait_state(&F, "web-1", "online", 5000),
	    "the enrolled host was knocked offline");
}

Test(enrol, tokenless_joins_are_rate_limited)
{
	struct keypair kp;
	struct answer a;
	char name[32];
	int i, npending = 0, ntoo = 0;

	h_start_ferryd(&F, (const char *[]){ "--allow-tokenless-joins",
	    "--tokenless-join-rate", "5", "--refusal-interval", "1s", NULL });
	for (i = 0; i < 30; i++) {
		cr_assert_eq(keys_generate(&kp), 0);
		snprintf(name, sizeof(name), "burst-%d", i);
		a = join_raw(&kp, name, NULL);
		npending += pending(a);
		ntoo += refused(a, FERRY__REFUSAL__REASON__TOO_MANY);
	}
	/* A burst of 5, then 5 a minute: the 30 asks take a few seconds at
	 * most, so one more may have come in. */
	cr_assert(npending >= 5 && npending <= 6, "%d pending", npending);
	cr_assert_eq(npending + ntoo, 30);
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), npending);
	cr_assert_eq(refusals_counted("(tokenless_join_rate)", "joins without "
	    "a token too fast", ntoo, 5000), ntoo);
}

Test(enrol, a_token_join_wins_a_pending_name)
{
	struct keypair squat, real;
	struct answer a;
	char text[1100], sfpr[KEY_FPR_STRLEN], rfpr[KEY_FPR_STRLEN];
	char detail[400];
	cJSON *arr, *h;

	h_start_ferryd(&F, (const char *[]){ "--allow-tokenless-joins",
	    NULL });
	cr_assert_eq(keys_generate(&squat), 0);
	fpr_of(squat.pk, sfpr);
	a = join_raw(&squat, "web-1", NULL);
	cr_assert(pending(a), "the squatter is not pending");
	/* Another claim without a token does not take the pending name. */
	{
		struct keypair other;
		cr_assert_eq(keys_generate(&other), 0);
		a = join_raw(&other, "web-1", NULL);
		cr_assert(refused(a, FERRY__REFUSAL__REASON__NAME_TAKEN));
	}

	/* The real host joins with its token: it wins the name. */
	h_token(&F, text, sizeof(text), (const char *[]){ "--label",
	    "role=web", NULL });
	h_join(&F, &R, text, "web-1", "127.0.0.2");
	cr_assert_eq(R.status, 0, "the real host's token join: %s", R.err);
	h_load_key(&F, "web-1/host.key", &real);
	fpr_of(real.pk, rfpr);
	cr_assert(strstr(R.out, rfpr) != NULL, "join does not print the "
	    "host's key: %s", R.out);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_not_null(h);
	cr_assert_str_eq(str(h, "fingerprint"), rfpr);
	cr_assert_str_neq(str(h, "state"), "pending");
	cr_assert_str_eq(str(cJSON_GetObjectItem(h, "labels"), "role"), "web");
	cJSON_Delete(arr);
	cr_assert_eq(db_int("SELECT count(*) FROM hosts", NULL), 1);
	/* The displacement is in the audit log, naming the squatter's key. */
	cr_assert_eq(h_db_row(&F, "ferryd/ferryd.db", "SELECT detail FROM "
	    "events WHERE kind = 'host-pending-displaced' AND host = ?", NULL,
	    0, "web-1", detail, sizeof(detail), NULL, NULL), 1);
	cr_assert(strstr(detail, sfpr) != NULL, "%s", detail);
	cr_assert(strstr(detail, rfpr) != NULL, "%s", detail);
	cr_assert(h_log_has(F.ferryd, "displaced by key"));

	/* The real host runs; the squatter's key is nobody's now. */
	h_start_agent(&F, "web-1", NULL);
	cr_assert(h_wait_state(&F, "web-1", "online", 10000));
	h_ferry(&F, &R, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
}

Test(enrol, a_new_key_for_an_enrolled_name_is_a_claim_taken_only_by_name)
{
	struct keypair old, imp, imp2;
	struct join_token tok;
	struct answer a;
	char text[1100], ofpr[KEY_FPR_STRLEN], ifpr[KEY_FPR_STRLEN];
	char i2fpr[KEY_FPR_STRLEN];
	cJSON *arr, *h;
	struct h_proc *agent;

	h_start_ferryd(&F, NULL);
	agent = h_add_agent(&F, "web-1", NULL);
	h_load_key(&F, "web-1/host.key", &old);
	fpr_of(old.pk, ofpr);

	/* Tokenless joins are off: a key without a token records nothing. */
	cr_assert_eq(keys_generate(&imp), 0);
	fpr_of(imp.pk, ifpr);
	a = join_raw(&imp, "web-1", NULL);
	cr_assert(refused(a, FERRY__REFUSAL__REASON__TOKEN_REQUIRED));
	cr_assert_eq(db_int("SELECT count(*) FROM hosts WHERE new_pubkey IS "
	    "NOT NULL", NULL), 0);

	/* With a valid token, the new key is refused and kept as a claim,
	 * with where and when it came from. */
	token_new(&tok, text, sizeof(text));
	a = join_raw(&imp, "web-1", &tok);
	cr_assert(refused(a, FERRY__REFUSAL__REASON__NAME_TAKEN),
	    "kind %u reason %d", a.kind, a.reason);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "fingerprint"), ofpr);
	cr_assert_str_eq(str(h, "new_key_fingerprint"), ifpr);
	cr_assert_str_eq(str(h, "new_key_from"), "127.0.0.1");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "new_key_with_token")));
	cr_assert_gt(cJSON_GetObjectItem(h, "new_key_at_ms")->valuedouble,
	    (double)(clock_wall_ms() - 60000));
	cJSON_Delete(arr);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, ifpr) && strstr(R.out, "127.0.0.1") &&
	    strstr(R.out, "with a valid join token") && strstr(R.out, ofpr),
	    "ferry hosts does not show the claim: %s", R.out);
	/* Neither the log nor the table hands out the command that would
	 * take that key. */
	cr_assert(h_wait_log(F.ferryd, "host web-1: refused key", 2000));
	cr_assert(!h_log_has(F.ferryd, "--key"), "ferryd's log steers "
	    "toward the claiming key");
	{
		char steer[128];
		snprintf(steer, sizeof(steer), "--key %s", ifpr);
		cr_assert(strstr(R.out, steer) == NULL, "%s", R.out);
	}
	cr_assert_eq(db_int("SELECT count(*) FROM events WHERE kind = "
	    "'host-key-claimed'", NULL), 1);

	/* accept NAME alone never replaces the key; a wrong --key neither. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", NULL });
	cr_assert_eq(R.status, 1, "accept without --key: %s", R.out);
	cr_assert(strstr(R.err, "Nothing changed") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    ofpr, NULL });
	cr_assert_eq(R.status, 1);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    "0123456789abcdef0123456789abcdef", NULL });
	cr_assert_eq(R.status, 1);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "fingerprint"), ofpr);
	cJSON_Delete(arr);
	h_ferry(&F, &R, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(R.status, 0, "the enrolled host stopped working: %s",
	    R.out);

	/* A later claim replaces the earlier one: one per host. */
	cr_assert_eq(keys_generate(&imp2), 0);
	fpr_of(imp2.pk, i2fpr);
	a = join_raw(&imp2, "web-1", &tok);
	cr_assert(refused(a, FERRY__REFUSAL__REASON__NAME_TAKEN));
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "new_key_fingerprint"), i2fpr);
	cJSON_Delete(arr);
	cr_assert_eq(db_int("SELECT count(*) FROM events WHERE kind = "
	    "'host-key-claimed'", NULL), 1);
	/* The earlier key is no longer the one to name. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    ifpr, NULL });
	cr_assert_eq(R.status, 1);

	/* The operator names the claiming key: it is taken, and the CLI
	 * showed where it came from first. */
	h_kill(agent, SIGTERM);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    i2fpr, NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "127.0.0.1") && strstr(R.out, i2fpr),
	    "accept --key does not show where the key came from: %s", R.out);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "fingerprint"), i2fpr);
	cr_assert_str_eq(str(h, "new_key_fingerprint"), "");
	cJSON_Delete(arr);
	cr_assert_eq(db_int("SELECT count(*) FROM events WHERE kind = "
	    "'host-key-replaced'", NULL), 1);
	/* --help says what --key does and where to check. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "--help", NULL });
	cr_assert(strstr(R.out, "--key") && strstr(R.out, "new_key_from"),
	    "%s", R.out);
}

/* file_has says whether the file at rel under the test's folder holds the
 * n bytes of b. */
static int
file_has(const char *rel, const uint8_t *b, size_t n)
{
	char path[600];
	uint8_t *buf;
	size_t len, i;
	long size;
	FILE *fp = fopen(h_path(&F, rel, path, sizeof(path)), "rb");
	int found = 0;

	if (fp == NULL)
		return 0;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)size + 1);
	cr_assert_not_null(buf);
	len = fread(buf, 1, (size_t)size, fp);
	fclose(fp);
	for (i = 0; i + n <= len && !found; i++)
		found = memcmp(buf + i, b, n) == 0;
	free(buf);
	return found;
}

Test(enrol, the_database_holds_no_token_secret)
{
	struct join_token tok[3];
	uint8_t v[TOKEN_VERIFIER_LEN];
	char text[3][1100];
	int i;

	h_start_ferryd(&F, NULL);
	for (i = 0; i < 3; i++)
		token_new(&tok[i], text[i], sizeof(text[i]));
	/* ferryd keeps running: look at the file and its log as they are,
	 * then after a clean stop. */
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < 3; i++) {
			cr_assert(!file_has("ferryd/ferryd.db", tok[i].secret,
			    TOKEN_SECRET_LEN), "token %d's secret is in "
			    "ferryd.db", i);
			cr_assert(!file_has("ferryd/ferryd.db-wal",
			    tok[i].secret, TOKEN_SECRET_LEN), "token %d's "
			    "secret is in ferryd.db-wal", i);
			token_verifier(tok[i].secret, v);
			cr_assert_eq(h_db_int(&F, "ferryd/ferryd.db", "SELECT "
			    "count(*) FROM tokens WHERE verifier = ?", v,
			    sizeof(v), NULL), 1, "token %d has no verifier", i);
			cr_assert(!h_log_has(F.ferryd, text[i] + 7));
		}
		if (pass == 0) {
			h_kill(F.ferryd, SIGTERM);
			h_sleep_ms(300);
		}
	}
	/* And the stored verifier still admits the host with the token. */
	h_start_ferryd(&F, NULL);
	h_join(&F, &R, text[1], "t1", NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
	h_join(&F, &R, text[2], "t2", NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
}

Test(enrol, join_reads_the_token_from_a_file_or_stdin)
{
	char text[1100], bin[512], file[600], state[600], cmd[2400];
	cJSON *arr;

	h_start_ferryd(&F, NULL);
	h_bin("ferry-agent", bin, sizeof(bin));

	/* --token-file FILE */
	h_token(&F, text, sizeof(text), NULL);
	h_write(&F, "tok1.txt", "%s\n", text);
	h_run(&R, (const char *[]){ bin, "join", "--token-file",
	    h_path(&F, "tok1.txt", file, sizeof(file)), "--name", "f1",
	    "--state-dir", h_path(&F, "f1", state, sizeof(state)), NULL });
	cr_assert_eq(R.status, 0, "--token-file: %s", R.err);
	cr_assert_not_null(h_host_json(&F, "f1", &arr));
	cJSON_Delete(arr);

	/* "-": standard input */
	h_token(&F, text, sizeof(text), NULL);
	h_write(&F, "tok2.txt", "  %s  \n", text);
	snprintf(cmd, sizeof(cmd), "exec '%s' join - --name s1 --state-dir "
	    "'%s' < '%s'", bin, h_path(&F, "s1", state, sizeof(state)),
	    h_path(&F, "tok2.txt", file, sizeof(file)));
	h_run(&R, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
	cr_assert_eq(R.status, 0, "join -: %s", R.err);
	cr_assert_not_null(h_host_json(&F, "s1", &arr));
	cJSON_Delete(arr);

	/* no token argument while stdin is not a terminal: stdin */
	h_token(&F, text, sizeof(text), NULL);
	h_write(&F, "tok3.txt", "%s\n", text);
	snprintf(cmd, sizeof(cmd), "exec '%s' join --name s2 --state-dir "
	    "'%s' < '%s'", bin, h_path(&F, "s2", state, sizeof(state)),
	    h_path(&F, "tok3.txt", file, sizeof(file)));
	h_run(&R, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
	cr_assert_eq(R.status, 0, "join < file: %s", R.err);
	cr_assert_not_null(h_host_json(&F, "s2", &arr));
	cJSON_Delete(arr);

	/* Bad input is named and changes nothing. */
	h_run(&R, (const char *[]){ bin, "join", "--token-file",
	    "/nonexistent/tok", "--name", "x1", NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "/nonexistent/tok") != NULL, "%s", R.err);
	snprintf(cmd, sizeof(cmd), "exec '%s' join - --name x2 --state-dir "
	    "'%s' < /dev/null", bin, h_path(&F, "x2", state, sizeof(state)));
	h_run(&R, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "no token in standard input") != NULL, "%s",
	    R.err);
	h_run(&R, (const char *[]){ bin, "join", text, "--token-file",
	    file, "--name", "x3", NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "two tokens") != NULL, "%s", R.err);
	cr_assert_null(h_host_json(&F, "x1", &arr));
	cJSON_Delete(arr);
	/* --help tells the forms. */
	h_run(&R, (const char *[]){ bin, "join", "--help", NULL });
	cr_assert(strstr(R.out, "--token-file") != NULL, "%s", R.out);
}
