/* token.h: join tokens as text, and the proof an agent gives of one. */
#ifndef FERRY_TOKEN_H
#define FERRY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define TOKEN_ID_LEN		16
#define TOKEN_SECRET_LEN	32
#define TOKEN_PROOF_LEN		32
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

/* token_proof computes HMAC-SHA512/256 keyed by the token secret over the
 * joining host's public key and name: it proves the token without sending
 * the secret, and binds it to that key and name. */
void
token_proof(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    uint8_t proof[TOKEN_PROOF_LEN]);

/* token_proof_check compares in constant time; 0 when proof is right. */
int
token_proof_check(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    const uint8_t *proof, size_t proof_len);

#endif
