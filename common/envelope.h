/* SPDX-License-Identifier: Apache-2.0 */
/* envelope.h: sealing and opening signed envelopes. */
#ifndef FERRY_ENVELOPE_H
#define FERRY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "keys.h"

#define ENVELOPE_VERSION	1
/* Largest envelope either side accepts; checked before anything is read. */
#define ENVELOPE_MAX_SIZE	(256u * 1024u)
#define ENVELOPE_SIG_LEN	64
#define ENVELOPE_DIGEST_LEN	32
/* Every envelope starts with this byte (the version field's tag). */
#define ENVELOPE_FIRST_BYTE	0x08

/*
 * An opened envelope.  Its pointers point into the buffer it was opened
 * from and live as long as that buffer.
 */
struct envelope {
	uint32_t version;
	uint32_t kind;		/* FERRY__KIND__* */
	const uint8_t *signer;	/* KEY_PUBLIC_LEN bytes */
	const uint8_t *body;
	size_t body_len;
	const uint8_t *signature;
};

/* envelope_tag returns the domain-separation tag signed with a body of
 * kind, or NULL for a kind ferry does not know. */
const char *
envelope_tag(uint32_t kind);

/*
 * envelope_seal signs body as kind with kp and returns the packed envelope
 * in *out (heap; caller frees) and its length in *out_len.
 */
int
envelope_seal(uint32_t kind, const uint8_t *body, size_t body_len,
    const struct keypair *kp, uint8_t **out, size_t *out_len);

/* envelope_seal_msg packs msg and seals it as kind. */
int
envelope_seal_msg(uint32_t kind, const ProtobufCMessage *msg,
    const struct keypair *kp, uint8_t **out, size_t *out_len);

/*
 * envelope_open checks, in this order: the size limit (FERR_TOOBIG), the
 * frame (FERR_MALFORMED), the version (FERR_VERSION), the kind (FERR_KIND),
 * that the signer is expect when expect is not NULL (FERR_SIGNER), and the
 * signature by the signer's key (FERR_SIGNATURE).  Only a verified envelope
 * is returned in *ev.  Nothing here calls protobuf-c: the frame is read by
 * a strict reader of the one canonical layout seal produces.
 */
int
envelope_open(const uint8_t *buf, size_t len, const uint8_t *expect,
    struct envelope *ev);

/*
 * envelope_unpack unpacks the verified body of ev as descriptor d.  Returns
 * FERR_UNPACK when it does not unpack; the caller frees *out with
 * protobuf_c_message_free_unpacked.
 */
int
envelope_unpack(const struct envelope *ev,
    const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

/* envelope_digest hashes a packed body (BLAKE2b-256 under ferry's own
 * tag): what an acknowledgement names besides a report's command id. */
void
envelope_digest(const uint8_t *body, size_t len,
    uint8_t out[ENVELOPE_DIGEST_LEN]);

#endif
