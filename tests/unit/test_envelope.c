/* SPDX-License-Identifier: Apache-2.0 */
/* test_envelope.c: sealing and opening signed envelopes, and refusing every
 * frame that is not exactly what envelope_seal writes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "envelope.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "keys.h"

/* Offsets in a sealed frame (see the layout in common/envelope.c). */
#define OFF_VERSION	1
#define OFF_SIGNER	4
#define OFF_KIND	37
#define OFF_BODYTAG	38

static const uint32_t all_kinds[] = {
	FERRY__KIND__KIND_JOIN_REQUEST, FERRY__KIND__KIND_JOIN_ANSWER,
	FERRY__KIND__KIND_POLL, FERRY__KIND__KIND_COMMAND,
	FERRY__KIND__KIND_IDLE, FERRY__KIND__KIND_REPORT,
	FERRY__KIND__KIND_REPORT_ACK, FERRY__KIND__KIND_REFUSAL,
};
#define NKINDS (sizeof(all_kinds) / sizeof(all_kinds[0]))

static struct keypair kp, other;

/* A deterministic key pair, so failures reproduce. */
static void
seeded_keypair(struct keypair *k, uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	cr_assert_eq(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
}

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
	seeded_keypair(&kp, 0x11);
	seeded_keypair(&other, 0x22);
}

TestSuite(envelope, .init = setup, .timeout = 20);

/* xorshift64*: a small deterministic PRNG for the garbage tests. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void
rnd_fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(s) >> 56);
}

/* A realistic command: a ping for web-1 with every field set. */
static void
seal_command(const struct keypair *k, uint8_t **out, size_t *out_len)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Ping ping = FERRY__PING__INIT;
	uint8_t id[16], fpr[KEY_FPR_LEN];

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(0xa0 + i);
	keys_fingerprint(other.pk, fpr);
	ping.sent_at_ms = 1700000000123ULL;
	cmd.id.data = id;
	cmd.id.len = sizeof(id);
	cmd.target_host = "web-1";
	cmd.target_fingerprint.data = fpr;
	cmd.target_fingerprint.len = sizeof(fpr);
	cmd.sequence = 42;
	cmd.issued_at_ms = 1700000000000ULL;
	cmd.expires_at_ms = 1700000060000ULL;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_PING;
	cmd.ping = &ping;
	cr_assert_eq(envelope_seal_msg(FERRY__KIND__KIND_COMMAND,
	    &cmd.base, k, out, out_len), 0);
}

Test(envelope, tags_known_and_distinct)
{
	for (size_t i = 0; i < NKINDS; i++) {
		const char *t = envelope_tag(all_kinds[i]);
		cr_assert_not_null(t, "kind %u has no tag", all_kinds[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(t, envelope_tag(all_kinds[j]));
	}
	cr_assert_null(envelope_tag(FERRY__KIND__KIND_UNSPECIFIED));
	cr_assert_null(envelope_tag(9));
	cr_assert_null(envelope_tag(UINT32_MAX));
}

Test(envelope, round_trip_every_kind)
{
	for (size_t i = 0; i < NKINDS; i++) {
		char body[64];
		uint8_t *buf;
		size_t len;
		struct envelope ev;

		snprintf(body, sizeof(body), "body of kind %u", all_kinds[i]);
		cr_assert_eq(envelope_seal(all_kinds[i], (uint8_t *)body,
		    strlen(body), &kp, &buf, &len), 0);
		cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0,
		    "kind %u", all_kinds[i]);
		cr_assert_eq(ev.version, ENVELOPE_VERSION);
		cr_assert_eq(ev.kind, all_kinds[i]);
		cr_assert_eq(memcmp(ev.signer, kp.pk, KEY_PUBLIC_LEN), 0);
		cr_assert_eq(ev.body_len, strlen(body));
		cr_assert_eq(memcmp(ev.body, body, ev.body_len), 0);
		cr_assert_eq(ev.signature, buf + len - ENVELOPE_SIG_LEN);
		/* Without an expected signer it verifies by its own key. */
		cr_assert_eq(envelope_open(buf, len, NULL, &ev), 0);
		cr_assert_eq(ev.kind, all_kinds[i]);
		free(buf);
	}
}

Test(envelope, empty_body_round_trip)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;
	ProtobufCMessage *m;

	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_IDLE, NULL, 0, &kp, &buf,
	    &len), 0);
	/* version, signer, kind, signature; no body field at all. */
	cr_assert_eq(len, 2 + 2 + KEY_PUBLIC_LEN + 2 + 2 + ENVELOPE_SIG_LEN);
	cr_assert_eq(buf[OFF_BODYTAG], 0x2a);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	cr_assert_eq(ev.body_len, 0);
	cr_assert_eq(ev.kind, FERRY__KIND__KIND_IDLE);
	cr_assert_eq(envelope_unpack(&ev, &ferry__idle__descriptor, &m), 0);
	cr_assert_eq(((Ferry__Idle *)m)->server_time_ms, 0);
	protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
}

Test(envelope, seal_msg_unpacks_to_equal_command)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;
	ProtobufCMessage *m;
	Ferry__Command *c;

	seal_command(&kp, &buf, &len);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	cr_assert_eq(ev.kind, FERRY__KIND__KIND_COMMAND);
	cr_assert_eq(envelope_unpack(&ev, &ferry__command__descriptor, &m), 0);
	c = (Ferry__Command *)m;
	cr_assert_str_eq(c->target_host, "web-1");
	cr_assert_eq(c->sequence, 42);
	cr_assert_eq(c->id.len, 16);
	cr_assert_eq(c->id.data[0], 0xa0);
	cr_assert_eq(c->expires_at_ms, 1700000060000ULL);
	cr_assert_eq(c->payload_case, FERRY__COMMAND__PAYLOAD_PING);
	cr_assert_eq(c->ping->sent_at_ms, 1700000000123ULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
}

Test(envelope, unpack_refuses_bad_body)
{
	static const uint8_t bad[] = { 0x0a, 0x40, 0x01 };	/* len past end */
	uint8_t *buf;
	size_t len;
	struct envelope ev;
	ProtobufCMessage *m = (ProtobufCMessage *)&m;

	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_COMMAND, bad, sizeof(bad),
	    &kp, &buf, &len), 0);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	cr_assert_eq(envelope_unpack(&ev, &ferry__command__descriptor, &m),
	    FERR_UNPACK);
	cr_assert_null(m);
	free(buf);
}

/* The hand-written reader and protobuf-c agree on the frame, both ways. */
static void
check_matches_proto(const uint8_t *buf, size_t len)
{
	struct envelope ev;
	Ferry__Envelope *pe;
	Ferry__Envelope again = FERRY__ENVELOPE__INIT;
	uint8_t *packed;
	size_t n;

	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	pe = ferry__envelope__unpack(NULL, len, buf);
	cr_assert_not_null(pe);
	cr_assert_eq(pe->version, ev.version);
	cr_assert_eq((uint32_t)pe->kind, ev.kind);
	cr_assert_eq(pe->signer.len, KEY_PUBLIC_LEN);
	cr_assert_eq(memcmp(pe->signer.data, ev.signer, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(pe->body.len, ev.body_len);
	if (ev.body_len > 0)
		cr_assert_eq(memcmp(pe->body.data, ev.body, ev.body_len), 0);
	cr_assert_eq(pe->signature.len, ENVELOPE_SIG_LEN);
	cr_assert_eq(memcmp(pe->signature.data, ev.signature,
	    ENVELOPE_SIG_LEN), 0);

	/* protobuf-c packs those fields into exactly the sealed bytes. */
	again.version = ev.version;
	again.kind = (Ferry__Kind)ev.kind;
	again.signer.data = (uint8_t *)ev.signer;
	again.signer.len = KEY_PUBLIC_LEN;
	again.body.data = (uint8_t *)ev.body;
	again.body.len = ev.body_len;
	again.signature.data = (uint8_t *)ev.signature;
	again.signature.len = ENVELOPE_SIG_LEN;
	n = ferry__envelope__get_packed_size(&again);
	cr_assert_eq(n, len);
	packed = malloc(n);
	cr_assert_not_null(packed);
	ferry__envelope__pack(&again, packed);
	cr_assert_eq(memcmp(packed, buf, len), 0);
	free(packed);
	ferry__envelope__free_unpacked(pe, NULL);
}

Test(envelope, frame_is_the_proto_envelope)
{
	static const size_t sizes[] = { 0, 1, 127, 128, 300, 16383, 16384,
	    70000 };
	uint8_t *body, *buf;
	size_t len;
	uint64_t s = 7;

	seal_command(&kp, &buf, &len);
	check_matches_proto(buf, len);
	free(buf);

	/* Body lengths around the varint boundaries. */
	body = malloc(70000);
	cr_assert_not_null(body);
	rnd_fill(&s, body, 70000);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(envelope_seal(FERRY__KIND__KIND_REPORT, body,
		    sizes[i], &kp, &buf, &len), 0);
		check_matches_proto(buf, len);
		free(buf);
	}
	free(body);
}

Test(envelope, every_bit_flip_refused)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;
	int rc;

	seal_command(&kp, &buf, &len);
	cr_assert_gt(len, 150);
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			buf[i] ^= (uint8_t)(1u << b);
			rc = envelope_open(buf, len, kp.pk, &ev);
			cr_assert_neq(rc, 0, "flip of byte %zu bit %d "
			    "accepted", i, b);
			cr_assert_null(ev.body);
			/* Nor by the key written in the frame. */
			rc = envelope_open(buf, len, NULL, &ev);
			cr_assert_neq(rc, 0, "flip of byte %zu bit %d "
			    "accepted without expect", i, b);
			buf[i] ^= (uint8_t)(1u << b);
		}
	}
	/* Restored: still good, so the flips were what broke it. */
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	free(buf);
}

Test(envelope, wrong_expected_signer)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	cr_assert_eq(envelope_open(buf, len, other.pk, &ev), FERR_SIGNER);
	cr_assert_null(ev.signer);
	free(buf);
}

Test(envelope, signer_field_swapped)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;

	/* Signed by other, but claims to come from kp. */
	seal_command(&other, &buf, &len);
	cr_assert_eq(memcmp(buf + OFF_SIGNER, other.pk, KEY_PUBLIC_LEN), 0);
	memcpy(buf + OFF_SIGNER, kp.pk, KEY_PUBLIC_LEN);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_SIGNATURE);
	cr_assert_eq(envelope_open(buf, len, NULL, &ev), FERR_SIGNATURE);
	free(buf);
}

Test(envelope, version_refused)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	cr_assert_eq(buf[OFF_VERSION], ENVELOPE_VERSION);
	buf[OFF_VERSION] = 2;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_VERSION);
	buf[OFF_VERSION] = 0;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_VERSION);
	free(buf);
}

Test(envelope, unknown_kind_refused)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	cr_assert_eq(buf[OFF_KIND], FERRY__KIND__KIND_COMMAND);
	buf[OFF_KIND] = 9;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_KIND);
	buf[OFF_KIND] = FERRY__KIND__KIND_UNSPECIFIED;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_KIND);
	buf[OFF_KIND] = 0x7f;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_KIND);
	free(buf);

	cr_assert_eq(envelope_seal(9, (const uint8_t *)"x", 1, &kp, &buf,
	    &len), FERR_KIND);
	cr_assert_null(buf);
	cr_assert_eq(envelope_seal(0, (const uint8_t *)"x", 1, &kp, &buf,
	    &len), FERR_KIND);
}

Test(envelope, kind_confusion_fails_signature)
{
	uint8_t *buf;
	size_t len;
	struct envelope ev;
	ProtobufCMessage *m;

	/* A report body that also unpacks fine as a Command... */
	Ferry__Report rep = FERRY__REPORT__INIT;
	uint8_t cid[16] = { 1, 2, 3 };
	rep.command_id.data = cid;
	rep.command_id.len = sizeof(cid);
	cr_assert_eq(envelope_seal_msg(FERRY__KIND__KIND_REPORT, &rep.base,
	    &kp, &buf, &len), 0);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	cr_assert_eq(envelope_unpack(&ev, &ferry__command__descriptor, &m), 0);
	protobuf_c_message_free_unpacked(m, NULL);

	/* ...relabelled as one does not verify: the tag differs. */
	cr_assert_eq(buf[OFF_KIND], FERRY__KIND__KIND_REPORT);
	buf[OFF_KIND] = FERRY__KIND__KIND_COMMAND;
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), FERR_SIGNATURE);
	cr_assert_eq(envelope_open(buf, len, NULL, &ev), FERR_SIGNATURE);
	/* And no other kind either. */
	for (size_t i = 0; i < NKINDS; i++) {
		if (all_kinds[i] == FERRY__KIND__KIND_REPORT)
			continue;
		buf[OFF_KIND] = (uint8_t)all_kinds[i];
		cr_assert_eq(envelope_open(buf, len, kp.pk, &ev),
		    FERR_SIGNATURE, "kind %u", all_kinds[i]);
	}
	free(buf);
}

Test(envelope, every_truncation_refused)
{
	uint8_t *buf, *copy;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so ASan sees any overread. */
		copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, buf, n);
		cr_assert_neq(envelope_open(copy, n, kp.pk, &ev), 0,
		    "truncated to %zu accepted", n);
		cr_assert_neq(envelope_open(copy, n, NULL, &ev), 0);
		free(copy);
	}
	free(buf);

	/* Also the empty-body layout. */
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_IDLE, NULL, 0, &kp, &buf,
	    &len), 0);
	for (size_t n = 0; n < len; n++)
		cr_assert_neq(envelope_open(buf, n, NULL, &ev), 0, "%zu", n);
	free(buf);
}

Test(envelope, trailing_bytes_refused)
{
	uint8_t *buf, *big;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	big = malloc(len + 16);
	cr_assert_not_null(big);
	memcpy(big, buf, len);
	memset(big + len, 0, 16);
	for (size_t extra = 1; extra <= 16; extra++)
		cr_assert_eq(envelope_open(big, len + extra, kp.pk, &ev),
		    FERR_MALFORMED, "%zu trailing bytes", extra);
	/* The untouched prefix still opens: the tail was the fault. */
	cr_assert_eq(envelope_open(big, len, kp.pk, &ev), 0);
	free(big);

	/* A second signature field appended. */
	big = malloc(len + 2 + ENVELOPE_SIG_LEN);
	cr_assert_not_null(big);
	memcpy(big, buf, len);
	memcpy(big + len, buf + len - 2 - ENVELOPE_SIG_LEN,
	    2 + ENVELOPE_SIG_LEN);
	cr_assert_eq(envelope_open(big, len + 2 + ENVELOPE_SIG_LEN, kp.pk,
	    &ev), FERR_MALFORMED);
	free(big);
	free(buf);
}

Test(envelope, oversized_refused)
{
	uint8_t *buf, *body;
	size_t len;
	struct envelope ev;

	buf = calloc(1, ENVELOPE_MAX_SIZE + 1);
	cr_assert_not_null(buf);
	/* Checked before the frame: even a well-started frame. */
	buf[0] = 0x08;
	buf[1] = 0x01;
	cr_assert_eq(envelope_open(buf, ENVELOPE_MAX_SIZE + 1, kp.pk, &ev),
	    FERR_TOOBIG);
	cr_assert_eq(envelope_open(buf, SIZE_MAX, kp.pk, &ev), FERR_TOOBIG);
	free(buf);

	/* seal refuses a body that cannot fit, and a frame that does not. */
	body = calloc(1, ENVELOPE_MAX_SIZE + 1);
	cr_assert_not_null(body);
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_REPORT, body,
	    ENVELOPE_MAX_SIZE + 1, &kp, &buf, &len), FERR_TOOBIG);
	cr_assert_null(buf);
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_REPORT, body,
	    ENVELOPE_MAX_SIZE, &kp, &buf, &len), FERR_TOOBIG);
	cr_assert_null(buf);
	/* The largest body that fits seals and opens. */
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_REPORT, body,
	    ENVELOPE_MAX_SIZE - 200, &kp, &buf, &len), 0);
	cr_assert_leq(len, ENVELOPE_MAX_SIZE);
	cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
	cr_assert_eq(ev.body_len, ENVELOPE_MAX_SIZE - 200);
	free(buf);
	free(body);
}

/* A varint written in more bytes than it needs is not the canonical
 * layout: one signed message must have exactly one frame. */
Test(envelope, non_canonical_varints_refused)
{
	uint8_t *buf, *alt;
	size_t len;
	struct envelope ev;

	seal_command(&kp, &buf, &len);
	alt = malloc(len + 1);
	cr_assert_not_null(alt);

	/* version 1 as 81 00 */
	memcpy(alt, buf, OFF_VERSION);
	alt[OFF_VERSION] = 0x81;
	alt[OFF_VERSION + 1] = 0x00;
	memcpy(alt + OFF_VERSION + 2, buf + OFF_VERSION + 1,
	    len - OFF_VERSION - 1);
	cr_assert_neq(envelope_open(alt, len + 1, kp.pk, &ev), 0);

	/* kind 4 as 84 00 */
	memcpy(alt, buf, OFF_KIND);
	alt[OFF_KIND] = 0x84;
	alt[OFF_KIND + 1] = 0x00;
	memcpy(alt + OFF_KIND + 2, buf + OFF_KIND + 1, len - OFF_KIND - 1);
	cr_assert_neq(envelope_open(alt, len + 1, kp.pk, &ev), 0);

	/* body length n (< 128 here) as (n|0x80) 00 */
	cr_assert_eq(buf[OFF_BODYTAG], 0x22);
	cr_assert_lt(buf[OFF_BODYTAG + 1], 0x80);
	memcpy(alt, buf, OFF_BODYTAG + 1);
	alt[OFF_BODYTAG + 1] = buf[OFF_BODYTAG + 1] | 0x80;
	alt[OFF_BODYTAG + 2] = 0x00;
	memcpy(alt + OFF_BODYTAG + 3, buf + OFF_BODYTAG + 2,
	    len - OFF_BODYTAG - 2);
	cr_assert_neq(envelope_open(alt, len + 1, kp.pk, &ev), 0);

	/* An explicit empty body (22 00) is not how seal writes one. */
	free(buf);
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_IDLE, NULL, 0, &kp, &buf,
	    &len), 0);
	memcpy(alt, buf, OFF_BODYTAG);
	alt[OFF_BODYTAG] = 0x22;
	alt[OFF_BODYTAG + 1] = 0x00;
	memcpy(alt + OFF_BODYTAG + 2, buf + OFF_BODYTAG, len - OFF_BODYTAG);
	cr_assert_eq(envelope_open(alt, len + 2, kp.pk, &ev), FERR_MALFORMED);
	free(alt);
	free(buf);
}

Test(envelope, random_garbage_refused)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	uint8_t buf[600];
	struct envelope ev;

	for (int i = 0; i < 4000; i++) {
		size_t n = (size_t)(rnd(&s) % sizeof(buf));
		rnd_fill(&s, buf, n);
		cr_assert_neq(envelope_open(buf, n, kp.pk, &ev), 0,
		    "garbage %d accepted", i);
		cr_assert_neq(envelope_open(buf, n, NULL, &ev), 0);
		cr_assert_null(ev.signer);
	}
}

/* Random content inside a frame that reads well: everything reaches the
 * signature check and fails there. */
Test(envelope, random_in_valid_frame_refused)
{
	uint64_t s = 12345;
	uint8_t buf[512];
	struct envelope ev;

	for (int i = 0; i < 2000; i++) {
		size_t body = (size_t)(rnd(&s) % 120), n = 0;
		uint32_t kind = all_kinds[rnd(&s) % NKINDS];

		buf[n++] = 0x08;
		buf[n++] = 0x01;
		buf[n++] = 0x12;
		buf[n++] = KEY_PUBLIC_LEN;
		if (i % 2)
			memcpy(buf + n, kp.pk, KEY_PUBLIC_LEN);
		else
			rnd_fill(&s, buf + n, KEY_PUBLIC_LEN);
		n += KEY_PUBLIC_LEN;
		buf[n++] = 0x18;
		buf[n++] = (uint8_t)kind;
		if (body > 0) {
			buf[n++] = 0x22;
			buf[n++] = (uint8_t)body;
			rnd_fill(&s, buf + n, body);
			n += body;
		}
		buf[n++] = 0x2a;
		buf[n++] = ENVELOPE_SIG_LEN;
		rnd_fill(&s, buf + n, ENVELOPE_SIG_LEN);
		n += ENVELOPE_SIG_LEN;

		cr_assert_eq(envelope_open(buf, n, NULL, &ev), FERR_SIGNATURE,
		    "frame %d", i);
		cr_assert_eq(envelope_open(buf, n, kp.pk, &ev),
		    i % 2 ? FERR_SIGNATURE : FERR_SIGNER, "frame %d", i);

		/* The same frame with random bytes after a random cut. */
		size_t cut = (size_t)(rnd(&s) % n);
		size_t more = (size_t)(rnd(&s) % (sizeof(buf) - cut));
		rnd_fill(&s, buf + cut, more);
		cr_assert_neq(envelope_open(buf, cut + more, NULL, &ev), 0);
	}
}

/* The signature is Ed25519 over tag || 0x00 || body, with these tags: both
 * are wire protocol, shared by builds that must talk to each other. */
Test(envelope, signature_covers_tag_and_body)
{
	static const char *tags[] = {
		"ferry/1/join-request", "ferry/1/join-answer", "ferry/1/poll",
		"ferry/1/command", "ferry/1/idle", "ferry/1/report",
		"ferry/1/report-ack", "ferry/1/refusal",
	};
	static const uint8_t body[] = "some body";
	uint8_t m[64], *buf;
	size_t len, tlen;
	struct envelope ev;

	for (size_t i = 0; i < NKINDS; i++) {
		cr_assert_str_eq(envelope_tag(all_kinds[i]), tags[i]);
		cr_assert_eq(envelope_seal(all_kinds[i], body, sizeof(body),
		    &kp, &buf, &len), 0);
		cr_assert_eq(envelope_open(buf, len, kp.pk, &ev), 0);
		tlen = strlen(tags[i]);
		memcpy(m, tags[i], tlen);
		m[tlen] = 0;
		memcpy(m + tlen + 1, body, sizeof(body));
		cr_assert_eq(crypto_sign_verify_detached(ev.signature, m,
		    tlen + 1 + sizeof(body), kp.pk), 0, "%s", tags[i]);
		/* Without the separator it does not verify. */
		memmove(m + tlen, m + tlen + 1, sizeof(body));
		cr_assert_neq(crypto_sign_verify_detached(ev.signature, m,
		    tlen + sizeof(body), kp.pk), 0);
		free(buf);
	}
}
