/* SPDX-License-Identifier: Apache-2.0 */
/* envelope.c: the signed frame every ferry message travels in. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "ferr.h"
#include "ferry.pb-c.h"

/*
 * The frame is the protobuf encoding of ferry.Envelope, fields in number
 * order, exactly as protobuf-c packs it:
 *
 *	08 <varint version>
 *	12 20 <32 bytes signer>
 *	18 <varint kind>
 *	[22 <varint n> <n bytes body>]		absent when the body is empty
 *	2a 40 <64 bytes signature>
 *
 * Anything else is malformed.  Reading this one layout by hand, instead of
 * handing unverified bytes to a general protobuf parser, keeps the parser
 * away from anything an unauthenticated peer controls.
 */

#define TAG_VERSION	ENVELOPE_FIRST_BYTE
#define TAG_SIGNER	0x12
#define TAG_KIND	0x18
#define TAG_BODY	0x22
#define TAG_SIGNATURE	0x2a

const char *
envelope_tag(uint32_t kind)
{
	switch (kind) {
	case FERRY__KIND__KIND_JOIN_REQUEST: return "ferry/1/join-request";
	case FERRY__KIND__KIND_JOIN_ANSWER: return "ferry/1/join-answer";
	case FERRY__KIND__KIND_POLL: return "ferry/1/poll";
	case FERRY__KIND__KIND_COMMAND: return "ferry/1/command";
	case FERRY__KIND__KIND_IDLE: return "ferry/1/idle";
	case FERRY__KIND__KIND_REPORT: return "ferry/1/report";
	case FERRY__KIND__KIND_REPORT_ACK: return "ferry/1/report-ack";
	case FERRY__KIND__KIND_REFUSAL: return "ferry/1/refusal";
	default: return NULL;
	}
}

/* signed_input builds tag || 0x00 || body, the bytes the signature covers. */
static int
signed_input(const char *tag, const uint8_t *body, size_t body_len,
    uint8_t **out, size_t *out_len)
{
	size_t tlen = strlen(tag);
	uint8_t *m;

	m = malloc(tlen + 1 + body_len + 1);
	if (m == NULL)
		return FERR_NOMEM;
	memcpy(m, tag, tlen);
	m[tlen] = 0;
	if (body_len > 0)
		memcpy(m + tlen + 1, body, body_len);
	*out = m;
	*out_len = tlen + 1 + body_len;
	return 0;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* get_varint32 reads a varint of at most 5 bytes (a uint32) from [*p, end). */
static int
get_varint32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint64_t acc = 0;
	int shift = 0;

	while (*p < end && shift < 35) {
		uint8_t b = *(*p)++;
		acc |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			/* A last byte of 0 after the first is a padded,
			 * non-canonical varint: not the one layout. */
			if (acc > UINT32_MAX || (b == 0 && shift > 0))
				return FERR_MALFORMED;
			*v = (uint32_t)acc;
			return 0;
		}
		shift += 7;
	}
	return FERR_MALFORMED;
}

int
envelope_seal(uint32_t kind, const uint8_t *body, size_t body_len,
    const struct keypair *kp, uint8_t **out, size_t *out_len)
{
	const char *tag = envelope_tag(kind);
	uint8_t sig[ENVELOPE_SIG_LEN];
	uint8_t *m = NULL, *buf = NULL, *p;
	size_t mlen;
	int rc;

	*out = NULL;
	if (tag == NULL)
		return FERR_KIND;
	if (body_len > ENVELOPE_MAX_SIZE)
		return FERR_TOOBIG;
	if ((rc = signed_input(tag, body, body_len, &m, &mlen)) != 0)
		return rc;
	crypto_sign_detached(sig, NULL, m, mlen, kp->sk);
	free(m);

	buf = malloc(body_len + 128);
	if (buf == NULL)
		return FERR_NOMEM;
	p = buf;
	*p++ = TAG_VERSION;
	p += put_varint(p, ENVELOPE_VERSION);
	*p++ = TAG_SIGNER;
	*p++ = KEY_PUBLIC_LEN;
	memcpy(p, kp->pk, KEY_PUBLIC_LEN);
	p += KEY_PUBLIC_LEN;
	*p++ = TAG_KIND;
	p += put_varint(p, kind);
	if (body_len > 0) {
		*p++ = TAG_BODY;
		p += put_varint(p, body_len);
		memcpy(p, body, body_len);
		p += body_len;
	}
	*p++ = TAG_SIGNATURE;
	*p++ = ENVELOPE_SIG_LEN;
	memcpy(p, sig, ENVELOPE_SIG_LEN);
	p += ENVELOPE_SIG_LEN;
	if ((size_t)(p - buf) > ENVELOPE_MAX_SIZE) {
		free(buf);
		return FERR_TOOBIG;
	}
	*out = buf;
	*out_len = (size_t)(p - buf);
	return 0;
}

int
envelope_seal_msg(uint32_t kind, const ProtobufCMessage *msg,
    const struct keypair *kp, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *body;
	int rc;

	*out = NULL;
	if (n > ENVELOPE_MAX_SIZE)
		return FERR_TOOBIG;
	body = malloc(n + 1);
	if (body == NULL)
		return FERR_NOMEM;
	protobuf_c_message_pack(msg, body);
	rc = envelope_seal(kind, body, n, kp, out, out_len);
	free(body);
	return rc;
}

int
envelope_open(const uint8_t *buf, size_t len, const uint8_t *expect,
    struct envelope *ev)
{
	const uint8_t *p = buf, *end = buf + len;
	struct envelope e;
	uint8_t *m = NULL;
	size_t mlen;
	uint32_t n;
	const char *tag;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (len > ENVELOPE_MAX_SIZE)
		return FERR_TOOBIG;
	memset(&e, 0, sizeof(e));

	if (p == end || *p++ != TAG_VERSION)
		return FERR_MALFORMED;
	if ((rc = get_varint32(&p, end, &e.version)) != 0)
		return rc;
	if (e.version != ENVELOPE_VERSION)
		return FERR_VERSION;

	if (end - p < 2 + KEY_PUBLIC_LEN || p[0] != TAG_SIGNER ||
	    p[1] != KEY_PUBLIC_LEN)
		return FERR_MALFORMED;
	e.signer = p + 2;
	p += 2 + KEY_PUBLIC_LEN;

	if (p == end || *p++ != TAG_KIND)
		return FERR_MALFORMED;
	if ((rc = get_varint32(&p, end, &e.kind)) != 0)
		return rc;

	if (p < end && *p == TAG_BODY) {
		p++;
		if ((rc = get_varint32(&p, end, &n)) != 0)
			return rc;
		/* An empty body is written by leaving the field out. */
		if (n == 0 || n > (size_t)(end - p))
			return FERR_MALFORMED;
		e.body = p;
		e.body_len = n;
		p += n;
	}

	if (end - p != 2 + ENVELOPE_SIG_LEN || p[0] != TAG_SIGNATURE ||
	    p[1] != ENVELOPE_SIG_LEN)
		return FERR_MALFORMED;
	e.signature = p + 2;

	if ((tag = envelope_tag(e.kind)) == NULL)
		return FERR_KIND;
	if (expect != NULL && sodium_memcmp(expect, e.signer,
	    KEY_PUBLIC_LEN) != 0)
		return FERR_SIGNER;
	if ((rc = signed_input(tag, e.body, e.body_len, &m, &mlen)) != 0)
		return rc;
	rc = crypto_sign_verify_detached(e.signature, m, mlen, e.signer) == 0 ?
	    0 : FERR_SIGNATURE;
	free(m);
	if (rc == 0)
		*ev = e;
	return rc;
}

int
envelope_unpack(const struct envelope *ev,
    const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
	static const uint8_t empty[1];

	*out = protobuf_c_message_unpack(d, NULL, ev->body_len,
	    ev->body_len ? ev->body : empty);
	return *out == NULL ? FERR_UNPACK : 0;
}

void
envelope_digest(const uint8_t *body, size_t len,
    uint8_t out[ENVELOPE_DIGEST_LEN])
{
	static const char key[] = "ferry/1/report-digest";

	crypto_generichash(out, ENVELOPE_DIGEST_LEN, body, len,
	    (const uint8_t *)key, sizeof(key) - 1);
}
