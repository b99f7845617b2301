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

void
token_proof(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    uint8_t proof[TOKEN_PROOF_LEN])
{
	crypto_auth_hmacsha512256_state st;
	static const char label[] = "ferry-join";

	crypto_auth_hmacsha512256_init(&st, secret, TOKEN_SECRET_LEN);
	crypto_auth_hmacsha512256_update(&st, (const uint8_t *)label,
	    sizeof(label));
	crypto_auth_hmacsha512256_update(&st, pk, KEY_PUBLIC_LEN);
	crypto_auth_hmacsha512256_update(&st, (const uint8_t *)name,
	    strlen(name));
	crypto_auth_hmacsha512256_final(&st, proof);
}

int
token_proof_check(const uint8_t secret[TOKEN_SECRET_LEN],
    const uint8_t pk[KEY_PUBLIC_LEN], const char *name,
    const uint8_t *proof, size_t proof_len)
{
	uint8_t want[TOKEN_PROOF_LEN];
	int rc;

	if (proof_len != TOKEN_PROOF_LEN)
		return FERR_TOKEN;
	token_proof(secret, pk, name, want);
	rc = sodium_memcmp(want, proof, TOKEN_PROOF_LEN) == 0 ? 0 : FERR_TOKEN;
	sodium_memzero(want, sizeof(want));
	return rc;
}
