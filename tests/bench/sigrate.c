/* SPDX-License-Identifier: Apache-2.0 */
/* sigrate.c: Ed25519 sign and verify rates on one core, measured with
 * libsodium the way ferry uses it (detached signatures over a body the size
 * of a command envelope), for the bench's CPU floor of a signed round trip.
 *
 *   sigrate [SECONDS]    prints {"sign_per_s": N, "verify_per_s": N}
 *
 * Each rate runs for SECONDS (default 1, at most 10) of wall time on the
 * calling thread. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#define BODY_LEN	160	/* a Ping command's body, give or take */
#define BATCH		256	/* operations between two looks at the clock */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char body[BODY_LEN], sig[crypto_sign_BYTES];
	double secs = argc > 1 ? atof(argv[1]) : 1.0, t0, el;
	unsigned long long n, bad = 0;
	double sign_rate, verify_rate;
	int i;

	if (secs <= 0 || secs > 10) {
		fprintf(stderr, "usage: sigrate [SECONDS]  (0 < SECONDS <= 10)\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "sigrate: sodium_init failed\n");
		return 1;
	}
	crypto_sign_keypair(pk, sk);
	randombytes_buf(body, sizeof(body));

	n = 0;
	t0 = now_s();
	do {
		for (i = 0; i < BATCH; i++) {
			body[0] = (unsigned char)i;
			crypto_sign_detached(sig, NULL, body, sizeof(body), sk);
		}
		n += BATCH;
	} while ((el = now_s() - t0) < secs);
	sign_rate = (double)n / el;

	body[0] = 0;
	crypto_sign_detached(sig, NULL, body, sizeof(body), sk);
	n = 0;
	t0 = now_s();
	do {
		for (i = 0; i < BATCH; i++)
			bad += crypto_sign_verify_detached(sig, body,
			    sizeof(body), pk) != 0;
		n += BATCH;
	} while ((el = now_s() - t0) < secs);
	verify_rate = (double)n / el;

	if (bad != 0) {
		fprintf(stderr, "sigrate: %llu verifications failed\n", bad);
		return 1;
	}
	printf("{\"sign_per_s\": %.0f, \"verify_per_s\": %.0f}\n", sign_rate,
	    verify_rate);
	return 0;
}
