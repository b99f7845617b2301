/* SPDX-License-Identifier: Apache-2.0 */
/* test_chan.c: the link's confidential channel: a session opens only with
 * ferryd's key, what it seals opens only at the other end, once, and an
 * answer only as the answer to its own request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "chan.h"
#include "ferr.h"
#include "keys.h"

static struct keypair coord, other, host_a, host_b;

/* has says whether text occurs in the len bytes at p. */
static int
has(const uint8_t *p, size_t len, const char *text)
{
	size_t n = strlen(text), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(p + i, text, n) == 0)
			return 1;
	return 0;
}

static void
seeded(struct keypair *k, uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	cr_assert_eq(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
}

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	seeded(&coord, 1);
	seeded(&other, 2);
	seeded(&host_a, 3);
	seeded(&host_b, 4);
}

TestSuite(chan, .init = setup);

/* open_session runs Hello and Welcome between c and s. */
static void
open_session(struct chan_server *s, struct chan_client *c, uint64_t now)
{
	uint8_t hello[CHAN_HELLO_LEN], welcome[CHAN_WELCOME_LEN];

	memset(c, 0, sizeof(*c));
	chan_hello(c, hello);
	cr_assert_eq(chan_frame_kind(hello, sizeof(hello)), CHAN_HELLO);
	cr_assert_eq(chan_server_hello(s, hello, sizeof(hello), now, welcome),
	    0);
	cr_assert_eq(chan_welcome(c, welcome, sizeof(welcome), coord.pk,
	    NULL), 0);
	cr_assert(c->ready);
}

/* request seals msg from c; the frame goes to *frame (heap). */
static uint64_t
request(struct chan_client *c, const char *msg, uint8_t **frame,
    size_t *flen)
{
	uint64_t n;

	cr_assert_eq(chan_client_seal(c, (const uint8_t *)msg, strlen(msg),
	    frame, flen, &n), 0);
	return n;
}

Test(chan, a_request_and_its_answer_open_only_at_the_other_end)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c;
	struct chan_reply r;
	const char *secret = "DB_PASSWORD=hunter2";
	uint8_t *frame, *ans;
	const uint8_t *plain;
	size_t flen, alen, plen;
	uint64_t n;

	open_session(s, &c, 1000);
	n = request(&c, secret, &frame, &flen);
	cr_assert_eq(flen, strlen(secret) + CHAN_OVERHEAD);
	/* Nothing of it readable on the wire. */
	cr_assert_not(has(frame, flen, "hunter2"));
	cr_assert_eq(chan_server_open(s, frame, flen, 1001, &r, &plain, &plen),
	    0);
	cr_assert_eq(plen, strlen(secret));
	cr_assert_eq(memcmp(plain, secret, plen), 0);
	cr_assert(r.sealed);
	cr_assert_eq(r.counter, n);

	cr_assert_eq(chan_reply_seal(&r, (const uint8_t *)"ok hunter2", 10,
	    &ans, &alen), 0);
	cr_assert_not(has(ans, alen, "hunter2"));
	cr_assert_eq(chan_client_open(&c, n, ans, alen, &plain, &plen), 0);
	cr_assert_eq(plen, 10);
	cr_assert_eq(memcmp(plain, "ok hunter2", 10), 0);
	free(frame);
	free(ans);
	chan_server_free(s);
}

Test(chan, a_welcome_signed_by_another_key_is_refused)
{
	struct chan_server *imposter = chan_server_new(&other, 8);
	struct chan_client c;
	uint8_t hello[CHAN_HELLO_LEN], welcome[CHAN_WELCOME_LEN];
	uint8_t fpr[KEY_FPR_LEN];

	memset(&c, 0, sizeof(c));
	chan_hello(&c, hello);
	cr_assert_eq(chan_server_hello(imposter, hello, sizeof(hello), 1,
	    welcome), 0);
	cr_assert_eq(chan_welcome(&c, welcome, sizeof(welcome), coord.pk,
	    NULL), FERR_SIGNER);
	keys_fingerprint(coord.pk, fpr);
	cr_assert_eq(chan_welcome(&c, welcome, sizeof(welcome), NULL, fpr),
	    FERR_SIGNER);
	cr_assert_not(c.ready);
	/* Its own key in place of ferryd's, over ferryd's signature: */
	chan_server_free(imposter);
}

Test(chan, a_welcome_for_another_hello_or_altered_is_refused)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c, d;
	uint8_t hello[CHAN_HELLO_LEN], hello2[CHAN_HELLO_LEN];
	uint8_t welcome[CHAN_WELCOME_LEN], bad[CHAN_WELCOME_LEN];
	size_t i;

	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	chan_hello(&c, hello);
	chan_hello(&d, hello2);
	cr_assert_eq(chan_server_hello(s, hello, sizeof(hello), 1, welcome),
	    0);
	/* Bound to c's fresh key: d cannot take it. */
	cr_assert_eq(chan_welcome(&d, welcome, sizeof(welcome), coord.pk,
	    NULL), FERR_SIGNATURE);
	/* Any byte changed after the header: refused. */
	for (i = CHAN_HEAD_LEN; i < sizeof(welcome); i++) {
		memcpy(bad, welcome, sizeof(bad));
		bad[i] ^= 0x20;
		cr_assert_neq(chan_welcome(&c, bad, sizeof(bad), coord.pk,
		    NULL), 0, "byte %zu", i);
	}
	cr_assert_eq(chan_welcome(&c, welcome, sizeof(welcome), coord.pk,
	    NULL), 0);
	chan_server_free(s);
}

Test(chan, each_request_number_is_taken_once)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c;
	struct chan_reply r;
	uint8_t *f[3], copy[256];
	const uint8_t *plain;
	size_t fl[3], plen;
	int i;

	open_session(s, &c, 1);
	for (i = 0; i < 3; i++)
		request(&c, "poll", &f[i], &fl[i]);
	/* Out of order within the window: taken, each once. */
	memcpy(copy, f[2], fl[2]);
	cr_assert_eq(chan_server_open(s, f[2], fl[2], 2, &r, &plain, &plen),
	    0);
	cr_assert_eq(chan_server_open(s, copy, fl[2], 2, &r, &plain, &plen),
	    FERR_REPLAY);
	memcpy(copy, f[0], fl[0]);
	cr_assert_eq(chan_server_open(s, f[0], fl[0], 2, &r, &plain, &plen),
	    0);
	cr_assert_eq(chan_server_open(s, copy, fl[0], 2, &r, &plain, &plen),
	    FERR_REPLAY);
	cr_assert_eq(chan_server_open(s, f[1], fl[1], 2, &r, &plain, &plen),
	    0);
	for (i = 0; i < 3; i++)
		free(f[i]);
	chan_server_free(s);
}

Test(chan, a_request_older_than_the_window_is_refused)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c;
	struct chan_reply r;
	uint8_t *old, *f;
	const uint8_t *plain;
	size_t oldlen, fl, plen;
	int i;

	open_session(s, &c, 1);
	request(&c, "first", &old, &oldlen);
	for (i = 0; i < CHAN_WINDOW; i++) {
		request(&c, "next", &f, &fl);
		cr_assert_eq(chan_server_open(s, f, fl, 2, &r, &plain, &plen),
		    0);
		free(f);
	}
	cr_assert_eq(chan_server_open(s, old, oldlen, 2, &r, &plain, &plen),
	    FERR_REPLAY);
	free(old);
	chan_server_free(s);
}

Test(chan, an_altered_frame_does_not_open_and_takes_no_number)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c;
	struct chan_reply r;
	uint8_t *f, bad[256];
	const uint8_t *plain;
	size_t fl, plen, i;

	open_session(s, &c, 1);
	request(&c, "a poll", &f, &fl);
	for (i = CHAN_HEAD_LEN + CHAN_ID_LEN; i < fl; i++) {
		memcpy(bad, f, fl);
		bad[i] ^= 1;
		cr_assert_neq(chan_server_open(s, bad, fl, 2, &r, &plain,
		    &plen), 0, "byte %zu", i);
	}
	/* The genuine one still opens: a forgery did not burn its number. */
	cr_assert_eq(chan_server_open(s, f, fl, 2, &r, &plain, &plen), 0);
	free(f);
	chan_server_free(s);
}

Test(chan, an_answer_opens_only_as_the_answer_to_its_request)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c;
	struct chan_reply r1, r2;
	uint8_t *f1, *f2, *a1, *a2;
	const uint8_t *plain;
	size_t l1, l2, al1, al2, plen;
	uint64_t n1, n2;

	open_session(s, &c, 1);
	n1 = request(&c, "poll 1", &f1, &l1);
	n2 = request(&c, "poll 2", &f2, &l2);
	cr_assert_eq(chan_server_open(s, f1, l1, 2, &r1, &plain, &plen), 0);
	cr_assert_eq(chan_server_open(s, f2, l2, 2, &r2, &plain, &plen), 0);
	cr_assert_eq(chan_reply_seal(&r1, (const uint8_t *)"idle 1", 6, &a1,
	    &al1), 0);
	cr_assert_eq(chan_reply_seal(&r2, (const uint8_t *)"idle 2", 6, &a2,
	    &al2), 0);
	/* The answer to poll 1 handed over as the answer to poll 2. */
	cr_assert_eq(chan_client_open(&c, n2, a1, al1, &plain, &plen),
	    FERR_SIGNATURE);
	cr_assert_eq(chan_client_open(&c, n1, a1, al1, &plain, &plen), 0);
	cr_assert_eq(chan_client_open(&c, n2, a2, al2, &plain, &plen), 0);
	free(f1);
	free(f2);
	free(a1);
	free(a2);
	chan_server_free(s);
}

Test(chan, a_restarted_ferryd_knows_no_session_and_reads_nothing_recorded)
{
	struct chan_server *s = chan_server_new(&coord, 8), *s2;
	struct chan_client c;
	struct chan_reply r;
	uint8_t *f, unknown[CHAN_UNKNOWN_LEN];
	const uint8_t *plain;
	size_t fl, plen;
	uint64_t n;

	open_session(s, &c, 1);
	n = request(&c, "poll", &f, &fl);
	chan_server_free(s);
	s2 = chan_server_new(&coord, 8);	/* same key, after a restart */
	cr_assert_eq(chan_server_open(s2, f, fl, 2, &r, &plain, &plen),
	    FERR_SESSION);
	chan_unknown(chan_frame_id(f, fl), unknown);
	cr_assert_eq(chan_client_open(&c, n, unknown, sizeof(unknown), &plain,
	    &plen), FERR_SESSION);
	free(f);
	chan_server_free(s2);
}

Test(chan, a_session_speaks_for_the_first_key_that_signs_in_it)
{
	struct chan_server *s = chan_server_new(&coord, 8);
	struct chan_client c, again;
	struct chan_reply r, r2;
	uint8_t *f;
	const uint8_t *plain;
	size_t fl, plen, unbound;

	open_session(s, &c, 1);
	request(&c, "join", &f, &fl);
	cr_assert_eq(chan_server_open(s, f, fl, 2, &r, &plain, &plen), 0);
	free(f);
	cr_assert_eq(chan_server_count(s, &unbound), 1);
	cr_assert_eq(unbound, 1);
	/* A key of no host (a join, say) leaves it unbound: capped, swept. */
	cr_assert_eq(chan_server_bind(s, &r, host_b.pk, 0), 0);
	cr_assert_eq(chan_server_count(s, &unbound), 1);
	cr_assert_eq(unbound, 1);
	cr_assert_eq(chan_server_bind(s, &r, host_a.pk, 1), 0);
	cr_assert_eq(chan_server_count(s, &unbound), 1);
	cr_assert_eq(unbound, 0);
	cr_assert_eq(chan_server_bind(s, &r, host_a.pk, 1), 0);
	cr_assert_eq(chan_server_bind(s, &r, host_b.pk, 1), FERR_SIGNER);

	/* The same host says Hello again (it restarted): its old session
	 * goes. */
	open_session(s, &again, 3);
	request(&again, "poll", &f, &fl);
	cr_assert_eq(chan_server_open(s, f, fl, 4, &r2, &plain, &plen), 0);
	free(f);
	cr_assert_eq(chan_server_bind(s, &r2, host_a.pk, 1), 0);
	cr_assert_eq(chan_server_count(s, NULL), 1);
	request(&c, "old session", &f, &fl);
	cr_assert_eq(chan_server_open(s, f, fl, 5, &r, &plain, &plen),
	    FERR_SESSION);
	free(f);
	chan_server_free(s);
}

Test(chan, hellos_without_a_word_after_are_capped_and_swept)
{
	struct chan_server *s = chan_server_new(&coord, 4);
	struct chan_client c[10];
	struct chan_reply r;
	uint8_t *f;
	const uint8_t *plain;
	size_t fl, plen, unbound;
	int i;

	for (i = 0; i < 10; i++)
		open_session(s, &c[i], 100 + (uint64_t)i);
	cr_assert_eq(chan_server_count(s, &unbound), 4);
	cr_assert_eq(unbound, 4);
	/* The oldest went first. */
	request(&c[0], "x", &f, &fl);
	cr_assert_eq(chan_server_open(s, f, fl, 200, &r, &plain, &plen),
	    FERR_SESSION);
	free(f);
	request(&c[9], "x", &f, &fl);
	cr_assert_eq(chan_server_open(s, f, fl, 200, &r, &plain, &plen), 0);
	free(f);
	cr_assert_eq(chan_server_bind(s, &r, host_a.pk, 1), 0);
	/* Unbound ones go after seconds; the bound one stays. */
	chan_server_sweep(s, 200 + 60 * 1000);
	cr_assert_eq(chan_server_count(s, &unbound), 1);
	cr_assert_eq(unbound, 0);
	/* ... for minutes without a word. */
	chan_server_sweep(s, 200 + 60 * 60 * 1000);
	cr_assert_eq(chan_server_count(s, NULL), 0);
	chan_server_free(s);
}

Test(chan, frames_are_told_from_cleartext_envelopes_and_from_garbage)
{
	uint8_t env[] = { 0x08, 0x01, 0x12, 0x20 };
	uint8_t hello[CHAN_HELLO_LEN];
	struct chan_client c;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(chan_frame_kind(env, sizeof(env)), CHAN_NONE);
	cr_assert_eq(chan_frame_kind((const uint8_t *)"FRYX", 4), -1);
	chan_hello(&c, hello);
	cr_assert_eq(chan_frame_kind(hello, sizeof(hello) - 1), -1);
	hello[4] = 9;
	cr_assert_eq(chan_frame_kind(hello, sizeof(hello)), -1);
	cr_assert_eq(chan_frame_kind((const uint8_t *)"FRYC\3", 5), -1);
}
