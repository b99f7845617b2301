/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/accept.c
/* test_accept.c: the rules a command passes before an agent runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "accept.h"
#include "envelope.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "keys.h"

#define NOW	1700000000000ULL

static struct keypair coord, rogue, host, other_host;
static struct accept_self self;

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
	seeded_keypair(&coord, 0x01);
	seeded_keypair(&rogue, 0x02);
	seeded_keypair(&host, 0x03);
	seeded_keypair(&other_host, 0x04);
	self.name = "web-1";
	keys_fingerprint(host.pk, self.fingerprint);
	self.last_sequence = 10;
}

TestSuite(accept, .init = setup, .timeout = 20);

/* The fields of a command the tests vary; a ping for self by default. */
struct spec {
	const char *target;
	const struct keypair *target_key;
	size_t id_len;
	uint64_t sequence;
	uint64_t issued_at;
	uint64_t expires_at;
	int no_payload;
};

static struct spec
good(void)
{
	struct spec s = {
		.target = "web-1", .target_key = &host, .id_len = 16,
		.sequence = 11, .issued_at = NOW - 1000,
		.expires_at = NOW + 60000,
	};
	return s;
}

static void
seal_spec(const struct spec *s, uint32_t kind, const struct keypair *signer,
    uint8_t **out, size_t *out_len)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Ping ping = FERRY__PING__INIT;
	uint8_t id[32], fpr[KEY_FPR_LEN];

	memset(id, 0x5a, sizeof(id));
	keys_fingerprint(s->target_key->pk, fpr);
	ping.sent_at_ms = NOW;
	cmd.id.data = id;
	cmd.id.len = s->id_len;
	cmd.target_host = (char *)s->target;
	cmd.target_fingerprint.data = fpr;
	cmd.target_fingerprint.len = sizeof(fpr);
	cmd.sequence = s->sequence;
	cmd.issued_at_ms = s->issued_at;
	cmd.expires_at_ms = s->expires_at;
	if (!s->no_payload) {
		cmd.payload_case = FERRY__COMMAND__PAYLOAD_PING;
		cmd.ping = &ping;
	}
	cr_assert_eq(envelope_seal_msg(kind, &cmd.base, signer, out, out_len),
	    0);
}

/* Seal s with the coordinator key, open it against the pinned key and
 * check it; returns the first rule broken. */
static int
run(const struct spec *s)
{
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd;
	int rc;

	seal_spec(s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	rc = accept_open(buf, len, coord.pk, &cmd);
	free(buf);
	cr_assert_eq(rc, 0, "accept_open: %s", ferr_str(rc));
	cr_assert_not_null(cmd);
	rc = accept_check(cmd, &self, NOW);
	ferry__command__free_unpacked(cmd, NULL);
	return rc;
}

Test(accept, valid_command_passes)
{
	struct spec s = good();
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd;

	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), 0);
	cr_assert_str_eq(cmd->target_host, "web-1");
	cr_assert_eq(cmd->sequence, 11);
	cr_assert_eq(cmd->payload_case, FERRY__COMMAND__PAYLOAD_PING);
	cr_assert_eq(cmd->ping->sent_at_ms, NOW);
	cr_assert_eq(accept_check(cmd, &self, NOW), 0);
	ferry__command__free_unpacked(cmd, NULL);
	free(buf);
}

Test(accept, wrong_pinned_key_refused)
{
	struct spec s = good();
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd = (Ferry__Command *)&cmd;

	/* Signed by a key that is not the pinned one. */
	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &rogue, &buf, &len);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), FERR_SIGNER);
	cr_assert_null(cmd);
	/* Claiming the pinned key as signer does not help. */
	memcpy(buf + 4, coord.pk, KEY_PUBLIC_LEN);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), FERR_SIGNATURE);
	cr_assert_null(cmd);
	free(buf);

	/* A genuine command, but the agent pinned another key. */
	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	cr_assert_eq(accept_open(buf, len, rogue.pk, &cmd), FERR_SIGNER);
	cr_assert_null(cmd);
	free(buf);
}

Test(accept, damaged_envelope_refused)
{
	struct spec s = good();
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd = (Ferry__Command *)&cmd;

	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	buf[len / 2] ^= 0x01;
	cr_assert_neq(accept_open(buf, len, coord.pk, &cmd), 0);
	cr_assert_null(cmd);
	buf[len / 2] ^= 0x01;
	cr_assert_eq(accept_open(buf, len - 1, coord.pk, &cmd),
	    FERR_MALFORMED);
	cr_assert_null(cmd);
	free(buf);
}

Test(accept, wrong_target_name)
{
	struct spec s = good();

	s.target = "web-2";
	cr_assert_eq(run(&s), FERR_TARGET);
	s.target = "web-10";
	cr_assert_eq(run(&s), FERR_TARGET);
	s.target = "web-";
	cr_assert_eq(run(&s), FERR_TARGET);
	s.target = "";
	cr_assert_eq(run(&s), FERR_TARGET);
}

Test(accept, wrong_target_fingerprint)
{
	struct spec s = good();
	Ferry__Command *cmd;
	uint8_t *buf;
	size_t len;

	s.target_key = &other_host;
	cr_assert_eq(run(&s), FERR_TARGET);

	/* A fingerprint of the wrong length, even a matching prefix. */
	s = good();
	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), 0);
	free(buf);
	cr_assert_eq(accept_check(cmd, &self, NOW), 0);
	cmd->target_fingerprint.len = KEY_FPR_LEN - 1;
	cr_assert_eq(accept_check(cmd, &self, NOW), FERR_TARGET);
	cmd->target_fingerprint.len = 0;
	cr_assert_eq(accept_check(cmd, &self, NOW), FERR_TARGET);
	cmd->target_fingerprint.len = KEY_FPR_LEN;
	cmd->target_fingerprint.data[KEY_FPR_LEN - 1] ^= 0x80;
	cr_assert_eq(accept_check(cmd, &self, NOW), FERR_TARGET);
	ferry__command__free_unpacked(cmd, NULL);
}

Test(accept, expiry)
{
	struct spec s = good();

	s.expires_at = NOW;
	cr_assert_eq(run(&s), FERR_EXPIRED);
	s.expires_at = NOW - 1;
	cr_assert_eq(run(&s), FERR_EXPIRED);
	s.expires_at = 0;
	cr_assert_eq(run(&s), FERR_EXPIRED);
	s.expires_at = NOW + 1;
	cr_assert_eq(run(&s), 0);
}

Test(accept, issued_in_the_future)
{
	struct spec s = good();

	s.issued_at = NOW + ACCEPT_SKEW_MS + 1;
	s.expires_at = NOW + ACCEPT_SKEW_MS + 60000;
	cr_assert_eq(run(&s), FERR_FUTURE);
	s.issued_at = NOW + 24ULL * 3600 * 1000;
	cr_assert_eq(run(&s), FERR_FUTURE);
	/* Within the tolerance: accepted. */
	s.issued_at = NOW + ACCEPT_SKEW_MS;
	cr_assert_eq(run(&s), 0);
	s.issued_at = NOW + 1;
	cr_assert_eq(run(&s), 0);
}

Test(accept, sequence_must_rise)
{
	struct spec s = good();

	s.sequence = self.last_sequence - 1;
	cr_assert_eq(run(&s), FERR_SEQUENCE);
	s.sequence = self.last_sequence;
	cr_assert_eq(run(&s), FERR_SEQUENCE);
	s.sequence = 0;
	cr_assert_eq(run(&s), FERR_SEQUENCE);
	s.sequence = self.last_sequence + 1;
	cr_assert_eq(run(&s), 0);
	s.sequence = UINT64_MAX;
	cr_assert_eq(run(&s), 0);
}

Test(accept, malformed_fields)
{
	struct spec s = good();

	s.no_payload = 1;
	cr_assert_eq(run(&s), FERR_MALFORMED);
	s = good();
	s.id_len = 15;
	cr_assert_eq(run(&s), FERR_MALFORMED);
	s.id_len = 17;
	cr_assert_eq(run(&s), FERR_MALFORMED);
	s.id_len = 0;
	cr_assert_eq(run(&s), FERR_MALFORMED);
	/* Malformed is reported before every other rule. */
	s.target = "elsewhere";
	s.sequence = 1;
	s.expires_at = 1;
	cr_assert_eq(run(&s), FERR_MALFORMED);
}

Test(accept, empty_command_is_malformed_not_crash)
{
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd;

	/* A verified command with no fields at all: target_host is "". */
	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_COMMAND, NULL, 0, &coord,
	    &buf, &len), 0);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), 0);
	cr_assert_eq(accept_check(cmd, &self, NOW), FERR_MALFORMED);
	ferry__command__free_unpacked(cmd, NULL);
	free(buf);
}

Test(accept, rule_order)
{
	struct spec s = good();

	/* Wrong target and expired: target is checked first. */
	s.target = "web-2";
	s.expires_at = NOW - 1;
	cr_assert_eq(run(&s), FERR_TARGET);
	/* Future and stale sequence: future first. */
	s = good();
	s.issued_at = NOW + ACCEPT_SKEW_MS + 1;
	s.sequence = 1;
	cr_assert_eq(run(&s), FERR_FUTURE);
	/* Expired and stale sequence: expiry first. */
	s = good();
	s.expires_at = NOW;
	s.sequence = 1;
	cr_assert_eq(run(&s), FERR_EXPIRED);
}

Test(accept, other_kind_refused)
{
	struct spec s = good();
	static const uint32_t kinds[] = {
		FERRY__KIND__KIND_REPORT, FERRY__KIND__KIND_POLL,
		FERRY__KIND__KIND_JOIN_ANSWER, FERRY__KIND__KIND_IDLE,
	};
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd;

	/* A perfectly good command body, signed by the pinned key, but as
	 * another kind of message. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		cmd = (Ferry__Command *)&cmd;
		seal_spec(&s, kinds[i], &coord, &buf, &len);
		cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), FERR_KIND,
		    "kind %u", kinds[i]);
		cr_assert_null(cmd);
		/* Relabelled as a command it fails the signature. */
		buf[37] = FERRY__KIND__KIND_COMMAND;
		cr_assert_eq(accept_open(buf, len, coord.pk, &cmd),
		    FERR_SIGNATURE);
		cr_assert_null(cmd);
		free(buf);
	}
}

Test(accept, undecodable_body_refused)
{
	static const uint8_t bad[] = { 0x0a, 0x7f, 0x00 };
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd = (Ferry__Command *)&cmd;

	cr_assert_eq(envelope_seal(FERRY__KIND__KIND_COMMAND, bad, sizeof(bad),
	    &coord, &buf, &len), 0);
	cr_assert_eq(accept_open(buf, len, coord.pk, &cmd), FERR_UNPACK);
	cr_assert_null(cmd);
	free(buf);
}

Test(accept, unpack_after_open)
{
	struct spec s = good();
	struct envelope ev;
	uint8_t *buf;
	size_t len;
	Ferry__Command *cmd = (Ferry__Command *)&cmd;

	/* A verified command envelope unpacks to the command. */
	seal_spec(&s, FERRY__KIND__KIND_COMMAND, &coord, &buf, &len);
	cr_assert_eq(envelope_open(buf, len, coord.pk, &ev), 0);
	cr_assert_eq(accept_unpack(&ev, &cmd), 0);
	cr_assert_not_null(cmd);
	cr_assert_eq(cmd->sequence, 11);
	cr_assert_eq(accept_check(cmd, &self, NOW), 0);
	ferry__command__free_unpacked(cmd, NULL);
	free(buf);

	/* Any other kind is refused before protobuf-c sees it. */
	seal_spec(&s, FERRY__KIND__KIND_REPORT, &coord, &buf, &len);
	cr_assert_eq(envelope_open(buf, len, coord.pk, &ev), 0);
	cmd = (Ferry__Command *)&cmd;
	cr_assert_eq(accept_unpack(&ev, &cmd), FERR_KIND);
	cr_assert_null(cmd);
	free(buf);
}
