/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_receive.c: libFuzzer target for everything a peer's bytes reach.
 *
 * The first input byte picks a mode:
 *
 *   even  The rest is a frame off the wire.  It goes through the agent's
 *         whole command path (accept_open against a pinned key, then
 *         accept_check), and through envelope_open with no expected signer;
 *         whatever verifies is unpacked as every body type.  It goes to the
 *         channel's readers too (chan.h), as ferryd meets a request and an
 *         agent an answer: none may open it, since it was sealed by no one
 *         who holds a session's keys.
 *   odd   The next byte picks a kind; the rest is a body.  It is sealed as
 *         that kind with the fixed key, opened again (which must succeed and
 *         give back the same body) and unpacked as every body type: this
 *         drives arbitrary *verified* bodies into protobuf-c, which the
 *         first mode can only reach through a forged signature.
 *
 * Everything allocated is freed, so the leak checker keeps us honest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "chan.h"
#include "envelope.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "fuzz_key.h"
#include "keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const bodies[] = {
	&ferry__join_request__descriptor,
	&ferry__join_answer__descriptor,
	&ferry__poll__descriptor,
	&ferry__command__descriptor,
	&ferry__report__descriptor,
	&ferry__report_ack__descriptor,
	&ferry__refusal__descriptor,
	&ferry__idle__descriptor,
};

static const uint32_t kinds[] = {
	FERRY__KIND__KIND_JOIN_REQUEST, FERRY__KIND__KIND_JOIN_ANSWER,
	FERRY__KIND__KIND_POLL, FERRY__KIND__KIND_COMMAND,
	FERRY__KIND__KIND_IDLE, FERRY__KIND__KIND_REPORT,
	FERRY__KIND__KIND_REPORT_ACK, FERRY__KIND__KIND_REFUSAL,
};

static struct keypair coord;
static struct accept_self self;
/* A ferryd's end with one session, and the agent's end of it. */
static struct chan_server *server;
static struct chan_client client, hello_sent;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct keypair host;

	(void)argc;
	(void)argv;
	if (crypto_init() != 0)
		abort();
	fuzz_keypair(&coord, 0);
	fuzz_keypair(&host, 1);
	self.name = FUZZ_HOST_NAME;
	keys_fingerprint(host.pk, self.fingerprint);
	self.last_sequence = FUZZ_LAST_SEQUENCE;
	{
		uint8_t hello[CHAN_HELLO_LEN], welcome[CHAN_WELCOME_LEN];

		if ((server = chan_server_new(&coord, 8)) == NULL)
			abort();
		chan_hello(&client, hello);
		if (chan_server_hello(server, hello, sizeof(hello), 0,
		    welcome) != 0 || chan_welcome(&client, welcome,
		    sizeof(welcome), coord.pk, NULL) != 0)
			abort();
		chan_hello(&hello_sent, hello);
	}
	return 0;
}

/* channel: a peer's bytes at the channel's readers; none may open. */
static void
channel(const uint8_t *buf, size_t len)
{
	uint8_t welcome[CHAN_WELCOME_LEN], *copy = malloc(len + 1);
	struct chan_client fresh = hello_sent;
	struct chan_reply r;
	const uint8_t *plain;
	size_t plen;
	int kind = chan_frame_kind(buf, len);

	if (copy == NULL)
		abort();
	if (kind == CHAN_HELLO)
		(void)chan_server_hello(server, buf, len, 0, welcome);
	memcpy(copy, buf, len);
	if (chan_server_open(server, copy, len, 0, &r, &plain, &plen) == 0)
		__builtin_trap();
	memcpy(copy, buf, len);
	if (chan_client_open(&client, 1, copy, len, &plain, &plen) == 0)
		__builtin_trap();
	if (chan_welcome(&fresh, buf, len, coord.pk, NULL) == 0)
		__builtin_trap();
	chan_client_reset(&fresh);
	free(copy);
}

/* The pointers of a verified envelope lie inside the buffer it came from. */
static void
check_inside(const struct envelope *ev, const uint8_t *buf, size_t len)
{
	const uint8_t *end = buf + len;

	if (ev->signer < buf || ev->signer + KEY_PUBLIC_LEN > end ||
	    ev->signature < buf || ev->signature + ENVELOPE_SIG_LEN != end ||
	    (ev->body_len > 0 && (ev->body < buf ||
	    ev->body + ev->body_len > end)))
		__builtin_trap();
}

/* Unpack the verified body as every body type; pack what unpacks again. */
static void
unpack_all(const struct envelope *ev)
{
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ProtobufCMessage *m = NULL;
		uint8_t *out;
		size_t n;

		if (envelope_unpack(ev, bodies[i], &m) != 0) {
			if (m != NULL)
				__builtin_trap();
			continue;
		}
		n = protobuf_c_message_get_packed_size(m);
		out = malloc(n + 1);
		if (out == NULL)
			abort();
		if (protobuf_c_message_pack(m, out) != n)
			__builtin_trap();
		free(out);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
from_wire(const uint8_t *buf, size_t len)
{
	Ferry__Command *cmd = NULL;
	struct envelope ev;
	int rc;

	rc = accept_open(buf, len, coord.pk, &cmd);
	if (rc == 0) {
		(void)accept_check(cmd, &self, FUZZ_NOW_MS);
		ferry__command__free_unpacked(cmd, NULL);
	} else if (cmd != NULL) {
		__builtin_trap();
	}

	if (envelope_open(buf, len, NULL, &ev) == 0) {
		check_inside(&ev, buf, len);
		unpack_all(&ev);
		rc = accept_unpack(&ev, &cmd);
		if (rc == 0) {
			(void)accept_check(cmd, &self, FUZZ_NOW_MS);
			ferry__command__free_unpacked(cmd, NULL);
		} else if (cmd != NULL) {
			__builtin_trap();
		}
	}
}

static void
sealed_body(uint32_t kind, const uint8_t *body, size_t len)
{
	uint8_t *buf = NULL;
	size_t n;
	struct envelope ev;
	Ferry__Command *cmd = NULL;
	int rc;

	/* Room for the frame around the body: anything smaller seals. */
	if (len > ENVELOPE_MAX_SIZE - 128)
		return;
	if (envelope_seal(kind, body, len, &coord, &buf, &n) != 0)
		__builtin_trap();
	/* What we seal, we open, byte for byte. */
	if (envelope_open(buf, n, coord.pk, &ev) != 0 || ev.kind != kind ||
	    ev.body_len != len || (len > 0 && memcmp(ev.body, body, len) != 0))
		__builtin_trap();
	check_inside(&ev, buf, n);
	unpack_all(&ev);

	/* The agent takes only commands, whatever the body says. */
	rc = accept_open(buf, n, coord.pk, &cmd);
	if (kind != FERRY__KIND__KIND_COMMAND && rc != FERR_KIND)
		__builtin_trap();
	if (rc == 0) {
		(void)accept_check(cmd, &self, FUZZ_NOW_MS);
		ferry__command__free_unpacked(cmd, NULL);
	} else if (cmd != NULL) {
		__builtin_trap();
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		from_wire(data + 1, size - 1);
		channel(data + 1, size - 1);
		return 0;
	}
	if (size < 2)
		return 0;
	sealed_body(kinds[data[1] % (sizeof(kinds) / sizeof(kinds[0]))],
	    data + 2, size - 2);
	return 0;
}
