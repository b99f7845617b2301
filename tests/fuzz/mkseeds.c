/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkseeds.c: writes the seed corpus of fuzz_receive into a folder.
 *
 * Each seed starts with fuzz_receive's mode byte: 0x00 and a sealed frame
 * (valid, signed by the fuzzer's fixed key), or 0x01, a kind byte and a
 * packed body.  The seeds in tests/fuzz/seeds were written by:
 *
 *	make build/libferry.a
 *	cc -std=c11 -D_DEFAULT_SOURCE -Ibuild/gen -Icommon -o build/mkseeds \
 *	    tests/fuzz/mkseeds.c build/libferry.a -lprotobuf-c -lsodium
 *	build/mkseeds tests/fuzz/seeds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ferry.pb-c.h"
#include "fuzz_key.h"
#include "keys.h"

static const char *folder;
static struct keypair coord, host;

static void
write_seed(const char *name, uint8_t mode, int kind_byte, const uint8_t *p,
    size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", folder, name);
	f = fopen(path, "wb");
	if (f == NULL || fputc(mode, f) == EOF ||
	    (kind_byte >= 0 && fputc(kind_byte, f) == EOF) ||
	    fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* seed writes msg twice: sealed as kind (mode 0) and bare (mode 1). */
static void
seed(const char *name, uint32_t kind, const ProtobufCMessage *msg)
{
	char fname[256];
	uint8_t *buf, *body;
	size_t n;

	if (envelope_seal_msg(kind, msg, &coord, &buf, &n) != 0)
		exit(1);
	snprintf(fname, sizeof(fname), "wire-%s", name);
	write_seed(fname, 0x00, -1, buf, n);
	free(buf);

	n = protobuf_c_message_get_packed_size(msg);
	body = malloc(n + 1);
	if (body == NULL)
		exit(1);
	protobuf_c_message_pack(msg, body);
	snprintf(fname, sizeof(fname), "body-%s", name);
	/* fuzz_receive picks kinds[b % 8]; kinds run 1..8 in order. */
	write_seed(fname, 0x01, (int)kind - 1, body, n);
	free(body);
}

int
main(int argc, char **argv)
{
	uint8_t id[16], fpr[KEY_FPR_LEN], *buf;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds FOLDER\n");
		return 2;
	}
	folder = argv[1];
	if (crypto_init() != 0)
		return 1;
	fuzz_keypair(&coord, 0);
	fuzz_keypair(&host, 1);
	keys_fingerprint(host.pk, fpr);
	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(0xc0 + i);

	/* A command the fuzzed agent accepts. */
	Ferry__Ping ping = FERRY__PING__INIT;
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	ping.sent_at_ms = FUZZ_NOW_MS;
	cmd.id.data = id;
	cmd.id.len = sizeof(id);
	cmd.target_host = FUZZ_HOST_NAME;
	cmd.target_fingerprint.data = fpr;
	cmd.target_fingerprint.len = sizeof(fpr);
	cmd.sequence = FUZZ_LAST_SEQUENCE + 1;
	cmd.issued_at_ms = FUZZ_NOW_MS - 1000;
	cmd.expires_at_ms = FUZZ_NOW_MS + 60000;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_PING;
	cmd.ping = &ping;
	seed("command", FERRY__KIND__KIND_COMMAND, &cmd.base);

	Ferry__Label l1 = FERRY__LABEL__INIT, l2 = FERRY__LABEL__INIT;
	Ferry__Label *labels[] = { &l1, &l2 };
	Ferry__JoinRequest jr = FERRY__JOIN_REQUEST__INIT;
	l1.key = "role";
	l1.value = "web";
	l2.key = "zone";
	l2.value = "eu-1";
	jr.name = FUZZ_HOST_NAME;
	jr.n_labels = 2;
	jr.labels = labels;
	jr.token_id.data = id;
	jr.token_id.len = sizeof(id);
	jr.token_proof.data = host.pk;
	jr.token_proof.len = 32;
	jr.sent_at_ms = FUZZ_NOW_MS;
	jr.publish_address = "127.0.0.2";
	seed("join-request", FERRY__KIND__KIND_JOIN_REQUEST, &jr.base);

	Ferry__Container c1 = FERRY__CONTAINER__INIT;
	Ferry__Container *cs[] = { &c1 };
	Ferry__Poll poll = FERRY__POLL__INIT;
	c1.id = "0123456789abcdef";
	c1.name = "web";
	c1.image = "127.0.0.1:5000/web@sha256:00ff";
	c1.service = "web";
	c1.revision = "11";
	c1.state = "running";
	poll.sent_at_ms = FUZZ_NOW_MS;
	poll.last_sequence = FUZZ_LAST_SEQUENCE;
	poll.wait_ms = 25000;
	poll.status = "ready";
	poll.docker_ok = 1;
	poll.n_containers = 1;
	poll.containers = cs;
	poll.version = "0.1";
	seed("poll", FERRY__KIND__KIND_POLL, &poll.base);

	Ferry__Pong pong = FERRY__PONG__INIT;
	Ferry__Report rep = FERRY__REPORT__INIT;
	pong.agent_time_ms = FUZZ_NOW_MS;
	rep.command_id.data = id;
	rep.command_id.len = sizeof(id);
	rep.sequence = FUZZ_LAST_SEQUENCE + 1;
	rep.status = FERRY__REPORT__STATUS__SUCCEEDED;
	rep.message = "ok";
	rep.sent_at_ms = FUZZ_NOW_MS;
	rep.result_case = FERRY__REPORT__RESULT_PONG;
	rep.pong = &pong;
	seed("report", FERRY__KIND__KIND_REPORT, &rep.base);

	Ferry__Refusal ref = FERRY__REFUSAL__INIT;
	ref.reason = FERRY__REFUSAL__REASON__NAME_TAKEN;
	ref.message = "name web-1 is taken by another key";
	seed("refusal", FERRY__KIND__KIND_REFUSAL, &ref.base);

	Ferry__JoinAnswer ja = FERRY__JOIN_ANSWER__INIT;
	ja.status = FERRY__JOIN_ANSWER__STATUS__ACCEPTED;
	ja.name = FUZZ_HOST_NAME;
	ja.next_sequence_floor = 7;
	seed("join-answer", FERRY__KIND__KIND_JOIN_ANSWER, &ja.base);

	Ferry__ReportAck ack = FERRY__REPORT_ACK__INIT;
	ack.command_id.data = id;
	ack.command_id.len = sizeof(id);
	seed("report-ack", FERRY__KIND__KIND_REPORT_ACK, &ack.base);

	/* An empty body: no body field in the frame at all. */
	if (envelope_seal(FERRY__KIND__KIND_IDLE, NULL, 0, &coord, &buf,
	    &n) != 0)
		return 1;
	write_seed("wire-idle-empty", 0x00, -1, buf, n);
	free(buf);
	return 0;
}
