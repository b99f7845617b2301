/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_key.h: the fixed, public key pair the receive-path fuzzer trusts.
 * Shared with mkseeds.c so that seed envelopes verify.  Not a secret. */
#ifndef FERRY_FUZZ_KEY_H
#define FERRY_FUZZ_KEY_H

#include <stdint.h>

#include <sodium.h>

#include "keys.h"

/* What the fuzzed agent believes about itself. */
#define FUZZ_HOST_NAME		"web-1"
#define FUZZ_NOW_MS		1700000000000ULL
#define FUZZ_LAST_SEQUENCE	10u

/* fuzz_keypair fills kp with the coordinator key (seed byte 0x5a ^ i) or,
 * with host set, the host's own key (seed byte 0xa5 ^ i). */
static inline void
fuzz_keypair(struct keypair *kp, int host)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	for (unsigned i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)((host ? 0xa5 : 0x5a) ^ i);
	crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
}

#endif
