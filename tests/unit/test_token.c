/* SPDX-License-Identifier: Apache-2.0 */
/* test_token.c: join tokens as text, and the proof an agent gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "ferr.h"
#include "ferry.pb-c.h"
#include "keys.h"
#include "token.h"

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
}

TestSuite(token, .init = setup, .timeout = 20);

static void
sample(struct join_token *t)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->address, "tcp://10.0.0.1:7400");
	for (int i = 0; i < KEY_FPR_LEN; i++)
		t->fingerprint[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < TOKEN_ID_LEN; i++)
		t->id[i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		t->secret[i] = (uint8_t)(0x80 + i);
}

static void
assert_same(const struct join_token *a, const struct join_token *b)
{
	cr_assert_str_eq(a->address, b->address);
	cr_assert_eq(memcmp(a->fingerprint, b->fingerprint, KEY_FPR_LEN), 0);
	cr_assert_eq(memcmp(a->id, b->id, TOKEN_ID_LEN), 0);
	cr_assert_eq(memcmp(a->secret, b->secret, TOKEN_SECRET_LEN), 0);
}

/* Text for a JoinToken message built field by field, so tests can write
 * tokens token_encode never would. */
static char *
raw_token(const char *address, size_t fpr_len, size_t id_len,
    size_t secret_len)
{
	Ferry__JoinToken m = FERRY__JOIN_TOKEN__INIT;
	static uint8_t bytes[64];
	uint8_t buf[2048];
	size_t n, tlen;
	char *text;

	memset(bytes, 0x33, sizeof(bytes));
	m.address = (char *)address;
	m.fingerprint.data = bytes;
	m.fingerprint.len = fpr_len;
	m.id.data = bytes;
	m.id.len = id_len;
	m.secret.data = bytes;
	m.secret.len = secret_len;
	n = ferry__join_token__get_packed_size(&m);
	cr_assert_leq(n, sizeof(buf));
	ferry__join_token__pack(&m, buf);
	tlen = sodium_base64_encoded_len(n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	text = malloc(strlen(TOKEN_PREFIX) + tlen);
	cr_assert_not_null(text);
	strcpy(text, TOKEN_PREFIX);
	sodium_bin2base64(text + strlen(TOKEN_PREFIX), tlen, buf, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return text;
}

Test(token, round_trip)
{
	static const char *addrs[] = {
		"tcp://10.0.0.1:7400", "ipc:///run/ferry/agents.sock",
		"tls+tcp://ferry.example.net:7400", "tcp://[::1]:7400",
	};
	struct join_token t, back;
	char *text;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		sample(&t);
		strcpy(t.address, addrs[i]);
		cr_assert_eq(token_encode(&t, &text), 0);
		cr_assert_eq(strncmp(text, "ferry1_", 7), 0);
		/* Text an operator can paste: URL-safe base64, no padding. */
		cr_assert_eq(strspn(text + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"),
		    strlen(text + 7));
		memset(&back, 0xff, sizeof(back));
		cr_assert_eq(token_decode(text, &back), 0, "%s", addrs[i]);
		assert_same(&t, &back);
		free(text);
	}
}

Test(token, longest_address_round_trip)
{
	struct join_token t, back;
	char *text;

	sample(&t);
	strcpy(t.address, "tcp://");
	memset(t.address + 6, 'a', sizeof(t.address) - 7);
	t.address[sizeof(t.address) - 1] = '\0';
	cr_assert_eq(token_encode(&t, &text), 0);
	cr_assert_eq(token_decode(text, &back), 0);
	assert_same(&t, &back);
	free(text);

	/* One longer cannot be held: refused, not cut short. */
	char addr[sizeof(t.address) + 1];
	strcpy(addr, "tcp://");
	memset(addr + 6, 'a', sizeof(addr) - 7);
	addr[sizeof(addr) - 1] = '\0';
	text = raw_token(addr, KEY_FPR_LEN, TOKEN_ID_LEN, TOKEN_SECRET_LEN);
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	free(text);
}

Test(token, different_tokens_differ)
{
	struct join_token a, b;
	char *ta, *tb;

	sample(&a);
	sample(&b);
	b.secret[31] ^= 1;
	cr_assert_eq(token_encode(&a, &ta), 0);
	cr_assert_eq(token_encode(&b, &tb), 0);
	cr_assert_str_neq(ta, tb);
	free(ta);
	free(tb);
}

Test(token, wrong_prefix)
{
	struct join_token t, back;
	char *text;

	sample(&t);
	cr_assert_eq(token_encode(&t, &text), 0);
	cr_assert_eq(token_decode(text, &back), 0);
	text[5] = '2';				/* ferry2_ */
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	text[5] = '1';
	text[0] = 'F';				/* Ferry1_ */
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	/* No prefix at all. */
	cr_assert_eq(token_decode(text + 7, &back), FERR_MALFORMED);
	free(text);
	cr_assert_eq(token_decode("", &back), FERR_MALFORMED);
	cr_assert_eq(token_decode("ferry1_", &back), FERR_MALFORMED);
	cr_assert_eq(token_decode("ferry1", &back), FERR_MALFORMED);
}

Test(token, bad_base64)
{
	static const char bad[] = "+/=!. \n";
	struct join_token t, back;
	char *text;
	size_t n;

	sample(&t);
	cr_assert_eq(token_encode(&t, &text), 0);
	n = strlen(text);
	for (size_t at = 7; at < n; at += 5) {
		for (size_t k = 0; k < sizeof(bad) - 1; k++) {
			char was = text[at];
			text[at] = bad[k];
			cr_assert_eq(token_decode(text, &back),
			    FERR_MALFORMED, "'%c' at %zu", bad[k], at);
			text[at] = was;
		}
	}
	cr_assert_eq(token_decode(text, &back), 0);
	free(text);
}

Test(token, trailing_characters)
{
	struct join_token t, back;
	char *text, *more;
	size_t n;

	sample(&t);
	cr_assert_eq(token_encode(&t, &text), 0);
	n = strlen(text);
	more = malloc(n + 3);
	cr_assert_not_null(more);
	static const char *tails[] = { "=", " ", "\n", "==", "A!" };
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(more, n + 3, "%s%s", text, tails[i]);
		cr_assert_neq(token_decode(more, &back), 0, "tail %zu", i);
	}
	free(more);
	free(text);
}

Test(token, every_truncation_refused)
{
	struct join_token t, back;
	char *text;
	size_t n;

	sample(&t);
	cr_assert_eq(token_encode(&t, &text), 0);
	n = strlen(text);
	for (size_t cut = 0; cut < n; cut++) {
		char was = text[cut];
		text[cut] = '\0';
		cr_assert_eq(token_decode(text, &back), FERR_MALFORMED,
		    "cut at %zu of %zu", cut, n);
		text[cut] = was;
	}
	cr_assert_eq(token_decode(text, &back), 0);
	free(text);
}

Test(token, address_must_be_nng_url)
{
	static const char *bad[] = {
		"", "10.0.0.1:7400", "http://10.0.0.1", "tcp:/10.0.0.1:7400",
		"TCP://10.0.0.1:7400", "tls://x:1", "ws://x:1", " tcp://x:1",
		"ipc:/x", "inproc://x", "udp://x:1",
	};
	struct join_token t, back;
	char *text;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sample(&t);
		strcpy(t.address, bad[i]);
		cr_assert_eq(token_encode(&t, &text), 0);
		cr_assert_eq(token_decode(text, &back), FERR_MALFORMED,
		    "address \"%s\"", bad[i]);
		free(text);
	}
}

Test(token, wrong_field_sizes)
{
	struct join_token back;
	char *text;
	struct { size_t f, i, s; } cases[] = {
		{ KEY_FPR_LEN, TOKEN_ID_LEN, TOKEN_SECRET_LEN },	/* good */
		{ KEY_FPR_LEN - 1, TOKEN_ID_LEN, TOKEN_SECRET_LEN },
		{ KEY_FPR_LEN + 1, TOKEN_ID_LEN, TOKEN_SECRET_LEN },
		{ 0, TOKEN_ID_LEN, TOKEN_SECRET_LEN },
		{ KEY_FPR_LEN, TOKEN_ID_LEN - 1, TOKEN_SECRET_LEN },
		{ KEY_FPR_LEN, 0, TOKEN_SECRET_LEN },
		{ KEY_FPR_LEN, TOKEN_ID_LEN, TOKEN_SECRET_LEN - 1 },
		{ KEY_FPR_LEN, TOKEN_ID_LEN, TOKEN_SECRET_LEN + 1 },
		{ KEY_FPR_LEN, TOKEN_ID_LEN, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = raw_token("tcp://h:1", cases[i].f, cases[i].i,
		    cases[i].s);
		cr_assert_eq(token_decode(text, &back), i == 0 ? 0 :
		    FERR_MALFORMED, "case %zu", i);
		free(text);
	}
	/* No address field at all. */
	text = raw_token("", KEY_FPR_LEN, TOKEN_ID_LEN, TOKEN_SECRET_LEN);
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	free(text);
	/* Not a JoinToken: base64 of bytes protobuf-c refuses. */
	cr_assert_eq(token_decode("ferry1_Cv8", &back), FERR_MALFORMED);
}

Test(token, oversized_text)
{
	struct join_token back;
	char *text = malloc(TOKEN_MAX_TEXT + 64);

	cr_assert_not_null(text);
	strcpy(text, TOKEN_PREFIX);
	memset(text + 7, 'A', TOKEN_MAX_TEXT + 56);
	text[TOKEN_MAX_TEXT + 63] = '\0';
	cr_assert_eq(token_decode(text, &back), FERR_TOOBIG);
	text[TOKEN_MAX_TEXT + 1] = '\0';
	cr_assert_eq(token_decode(text, &back), FERR_TOOBIG);
	/* At the limit it is read, and refused for what it says. */
	text[TOKEN_MAX_TEXT] = '\0';
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	free(text);
}

Test(token, decode_failure_leaves_no_secret)
{
	struct join_token back;
	char *text;

	text = raw_token("http://x", KEY_FPR_LEN, TOKEN_ID_LEN,
	    TOKEN_SECRET_LEN);
	memset(&back, 0x77, sizeof(back));
	cr_assert_eq(token_decode(text, &back), FERR_MALFORMED);
	for (size_t i = 0; i < TOKEN_SECRET_LEN; i++)
		cr_assert_eq(back.secret[i], 0);
	cr_assert_str_eq(back.address, "");
	free(text);
}

/* ---- proofs -------------------------------------------------------- */

struct proof_fixture {
	uint8_t secret[TOKEN_SECRET_LEN];
	uint8_t verifier[TOKEN_VERIFIER_LEN];
	struct keypair host, other;
	uint8_t proof[TOKEN_PROOF_LEN];
};

static void
proof_fixture(struct proof_fixture *f)
{
	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		f->secret[i] = (uint8_t)(7 * i + 1);
	cr_assert_eq(keys_generate(&f->host), 0);
	cr_assert_eq(keys_generate(&f->other), 0);
	token_proof(f->secret, f->host.pk, "web-1", f->proof);
	token_verifier(f->secret, f->verifier);
}

Test(token, proof_passes_for_right_inputs)
{
	struct proof_fixture f;
	uint8_t again[TOKEN_PROOF_LEN];

	proof_fixture(&f);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1", f.proof,
	    TOKEN_PROOF_LEN), 0);
	token_proof(f.secret, f.host.pk, "web-1", again);
	cr_assert_eq(memcmp(again, f.proof, TOKEN_PROOF_LEN), 0);
}

Test(token, proof_fails_for_other_key_name_secret)
{
	struct proof_fixture f;
	uint8_t secret2[TOKEN_SECRET_LEN], v2[TOKEN_VERIFIER_LEN];

	proof_fixture(&f);
	cr_assert_eq(token_proof_check(f.verifier, f.other.pk, "web-1", f.proof,
	    TOKEN_PROOF_LEN), FERR_TOKEN);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-2", f.proof,
	    TOKEN_PROOF_LEN), FERR_TOKEN);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1 ",
	    f.proof, TOKEN_PROOF_LEN), FERR_TOKEN);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "", f.proof,
	    TOKEN_PROOF_LEN), FERR_TOKEN);
	memcpy(secret2, f.secret, sizeof(secret2));
	secret2[0] ^= 1;
	token_verifier(secret2, v2);
	cr_assert_eq(token_proof_check(v2, f.host.pk, "web-1", f.proof,
	    TOKEN_PROOF_LEN), FERR_TOKEN);
}

Test(token, proof_wrong_length_or_bits)
{
	struct proof_fixture f;
	uint8_t longer[TOKEN_PROOF_LEN + 1];

	proof_fixture(&f);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1", f.proof,
	    TOKEN_PROOF_LEN - 1), FERR_TOKEN);
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1", f.proof,
	    0), FERR_TOKEN);
	memcpy(longer, f.proof, TOKEN_PROOF_LEN);
	longer[TOKEN_PROOF_LEN] = 0;
	cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1", longer,
	    sizeof(longer)), FERR_TOKEN);
	for (int i = 0; i < TOKEN_PROOF_LEN * 8; i++) {
		f.proof[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(token_proof_check(f.verifier, f.host.pk, "web-1",
		    f.proof, TOKEN_PROOF_LEN), FERR_TOKEN, "bit %d", i);
		f.proof[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

/* The construction is part of the join protocol: an agent and a ferryd
 * of different builds must agree on it.  Known answer computed apart from
 * libsodium (Python's cryptography: Ed25519PrivateKey.from_private_bytes(
 * secret).sign(b"ferry-join-proof\0" + pk + b"web-1"), and its public
 * key, the verifier). */
Test(token, proof_known_answer)
{
	uint8_t secret[TOKEN_SECRET_LEN], pk[KEY_PUBLIC_LEN];
	uint8_t proof[TOKEN_PROOF_LEN], verifier[TOKEN_VERIFIER_LEN];
	char hex[2 * TOKEN_PROOF_LEN + 1];

	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		secret[i] = (uint8_t)(7 * i + 1);
	for (int i = 0; i < KEY_PUBLIC_LEN; i++)
		pk[i] = (uint8_t)i;
	token_proof(secret, pk, "web-1", proof);
	sodium_bin2hex(hex, sizeof(hex), proof, sizeof(proof));
	cr_assert_str_eq(hex, "a704d88f174e1a5ef8ee96c3b3cd355f"
	    "704df1d8dd6bec1231ac6d195c07322c"
	    "0a47505fbf5a434c983cb1eaf123ef17"
	    "94a5b3b4e27209a78d2827fac52f240c");
	token_verifier(secret, verifier);
	sodium_bin2hex(hex, sizeof(hex), verifier, sizeof(verifier));
	cr_assert_str_eq(hex, "e4030998cfd5ad1723c169f956aa0b9e"
	    "b8619b5992bd612c2af428ebc79f8df0");
	cr_assert_eq(token_proof_check(verifier, pk, "web-1", proof,
	    sizeof(proof)), 0);
	/* The secret itself is no verifier: it proves nothing. */
	cr_assert_eq(token_proof_check(secret, pk, "web-1", proof,
	    sizeof(proof)), FERR_TOKEN);
}
