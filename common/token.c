/* SPDX-License-Identifier: Apache-2.0 */
/* token.c: join tokens and their proofs. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferr.h"
#include "ferry.pb-c.h"
#include "token.h"

int
token_encode(const struct join_token *tok, char **out)
{
	Ferry__JoinToken m = FERRY__JOIN_TOKEN__INIT;
	uint8_t buf[512];
	size_t n, plen = strlen(TOKEN_PREFIX), tlen;
	char *text;

	*out = NULL;
	m.address = (char *)tok->address;
	m.fingerprint.data = (uint8_t *)tok->fingerprint;
	m.fingerprint.len = KEY_FPR_LEN;
	m.id.data = (uint8_t *)tok->id;
	m.id.len = TOKEN_ID_LEN;
	m.secret.data = (uint8_t *)tok->secret;
	m.secret.len = TOKEN_SECRET_LEN;
	n = ferry__join_token__get_packed_size(&m);
	if (n > sizeof(buf))
		return FERR_TOOBIG;
	ferry__join_token__pack(&m, buf);
	tlen = sodium_base64_encoded_len(n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	text = malloc(plen + tlen);
	if (text == NULL)
		return FERR_NOMEM;
	memcpy(text, TOKEN_PREFIX, plen);
	sodium_bin2base64(text + plen, tlen, buf, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(buf, sizeof(buf));
	*out = text;
	return 0;
}

static int
address_ok(const char *a)
{
	return strncmp(a, "tcp://", 6) == 0 || strncmp(a, "tls+tcp://", 10) == 0
	    || strncmp(a, "ipc://", 6) == 0;
}

int
token_decode(const char *text, struct join_token *tok)
{
	size_t plen = strlen(TOKEN_PREFIX), len, n = 0;
	uint8_t buf[TOKEN_MAX_TEXT];
	Ferry__JoinToken *m = NULL;
	int rc = FERR_MALFORMED;

	memset(tok, 0, sizeof(*tok));
	len = strnlen(text, TOKEN_MAX_TEXT + 1);
	if (len > TOKEN_MAX_TEXT)
		return FERR_TOOBIG;
	if (len <= plen || strncmp(text, TOKEN_PREFIX, plen) != 0)
		return FERR_MALFORMED;
	if (sodium_base642bin(buf, sizeof(buf), text + plen, len - plen, NULL,
	    &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return FERR_MALFORMED;
	m = ferry__join_token__unpack(NULL, n, buf);
	if (m == NULL)
		goto out;
	if (m->fingerprint.len != KEY_FPR_LEN || m->id.len != TOKEN_ID_LEN ||
	    m->secret.len != TOKEN_SECRET_LEN || m->address == NULL ||
	    strlen(m->address) >= sizeof(tok->address) ||
	    !address_ok(m->address))
		goto out;
	strcpy(tok->address, m->address);
	memcpy(tok->fingerprint, m->fingerprint.data, KEY_FPR_LEN);
	memcpy(tok->id, m->id.data, TOKEN_ID_LEN);
	memcpy(tok->secret, m->secret.data, TOKEN_SECRET_LEN);
	rc = 0;
out:
	if (m != NULL)
		ferry__join_token__free_unpacked(m, NULL);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static const char proof_label[] = "ferry-join-proof";

/* proof_message writes what a proof signs into buf (at least
 * sizeof(proof_label) + KEY_PUBLIC_LEN + 256 bytes); returns its length, or
 * 0 when name is too long to be a host name. */
static size_t
proof_message(const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    uint8_t *buf, size_t cap)
{
	size_t n = strlen(name), off = sizeof(proof_label);

	if (off + KEY_PUBLIC_LEN + n > cap)
		return 0;
	memcpy(buf, proof_label, off);
	memcpy(buf + off, pk, KEY_PUBLIC_LEN);
	memcpy(buf + off + KEY_PUBLIC_LEN, name, n);
	return off + KEY_PUBLIC_LEN + n;
}

void
token_verifier(const uint8_t secret[TOKEN_SECRET_LEN],
    uint8_t verifier[TOKEN_VERIFIER_LEN])
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_seed_keypair(verifier, sk, secret);
	sodium_memzero(sk, sizeof(sk));
}

void
token_proof(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    uint8_t proof[TOKEN_PROOF_LEN])
{
	uint8_t tpk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t msg[sizeof(proof_label) + KEY_PUBLIC_LEN + 256];
	size_t n = proof_message(pk, name, msg, sizeof(msg));

	memset(proof, 0, TOKEN_PROOF_LEN);
	if (n == 0)
		return;		/* no name that long joins: a proof of nothing */
	crypto_sign_seed_keypair(tpk, sk, secret);
	crypto_sign_detached(proof, NULL, msg, n, sk);
	sodium_memzero(sk, sizeof(sk));
}

int
token_proof_check(const uint8_t verifier[TOKEN_VERIFIER_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    const uint8_t *proof, size_t proof_len)
{
	uint8_t msg[sizeof(proof_label) + KEY_PUBLIC_LEN + 256];
	size_t n = proof_message(pk, name, msg, sizeof(msg));

	if (proof_len != TOKEN_PROOF_LEN || n == 0)
		return FERR_TOKEN;
	return crypto_sign_verify_detached(proof, msg, n, verifier) == 0 ?
	    0 : FERR_TOKEN;
}
