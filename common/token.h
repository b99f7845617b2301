/* SPDX-License-Identifier: Apache-2.0 */
/* token.h: join tokens as text, and the proof an agent gives of one. */
#ifndef FERRY_TOKEN_H
#define FERRY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define TOKEN_ID_LEN		16
#define TOKEN_SECRET_LEN	32
#define TOKEN_PROOF_LEN		64	/* an Ed25519 signature */
#define TOKEN_VERIFIER_LEN	32	/* an Ed25519 public key */
#define TOKEN_MAX_TEXT		1024
#define TOKEN_PREFIX		"ferry1_"

struct join_token {
	char address[256];
	uint8_t fingerprint[KEY_FPR_LEN];
	uint8_t id[TOKEN_ID_LEN];
	uint8_t secret[TOKEN_SECRET_LEN];
};

/* token_encode writes tok as text ("ferry1_" + base64url) into a heap
 * string the caller frees. */
int
token_encode(const struct join_token *tok, char **out);

/*
 * token_decode parses text written by token_encode.  FERR_MALFORMED names
 * any text that is not a whole, well-formed token (wrong prefix, bad
 * base64, wrong field sizes, an address that is not an NNG URL).
 */
int
token_decode(const char *text, struct join_token *tok);

/*
 * The token's secret is the seed of an Ed25519 key pair of its own.  ferryd
 * keeps only the public half, the verifier (token_verifier): reading the
 * database gives nobody a token that joins.  The agent proves the token by
 * signing "ferry-join-proof" || the joining host's public key || its name
 * with the secret key (token_proof), which binds the proof to that key and
 * name without sending the secret.
 */

/* token_verifier writes the public key that checks proofs of secret. */
void
token_verifier(const uint8_t secret[TOKEN_SECRET_LEN],
    uint8_t verifier[TOKEN_VERIFIER_LEN]);

/* token_proof signs the joining host's public key and name with the
 * token's secret. */
void
token_proof(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    uint8_t proof[TOKEN_PROOF_LEN]);

/* token_proof_check verifies proof against the token's verifier: 0 when it
 * proves the token for pk and name, FERR_TOKEN otherwise (any other
 * length, key or name). */
int
token_proof_check(const uint8_t verifier[TOKEN_VERIFIER_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    const uint8_t *proof, size_t proof_len);

#endif
