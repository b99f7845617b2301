/* SPDX-License-Identifier: Apache-2.0 */
/* linkfloor.c: the floor of ferry's link on this machine: the message
 * pattern of `ferry ping` to N hosts, with NNG and nothing else.
 *
 *   linkfloor N ROUNDS [sign]
 *
 * One process listens with REP on 127.0.0.1 and holds one request from each
 * of N processes (REQ, one per host, as agents poll): a round answers every
 * held request (the command), and ends when every process has sent its next
 * request (the answer, riding on its next poll).  No record, no protobuf,
 * no libuv: what ferry's link costs at the least with NNG, over loopback,
 * on this machine.  With "sign", each command is signed and verified, and
 * each answer too (Ed25519, libsodium), as in ferry.  Prints
 *   {"n": N, "sign": 0|1, "rounds_s": [ ... ]}
 * Every wait is bounded: a round that takes over 60 s ends the run, and
 * children exit when their parent's socket closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#define BODY_LEN	160	/* a Ping command's body, give or take */
#define MSG_LEN		(1 + crypto_sign_PUBLICKEYBYTES + BODY_LEN + \
			    crypto_sign_BYTES)
#define ROUND_MAX_S	60
#define N_MAX		5000
#define ROUNDS_MAX	100

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A message: kind byte, signer's key, body, signature (zero unsigned). */
static void
seal(uint8_t *m, char kind, const uint8_t *pk, const uint8_t *sk, int sign)
{
	m[0] = (uint8_t)kind;
	memcpy(m + 1, pk, crypto_sign_PUBLICKEYBYTES);
	randombytes_buf(m + 1 + crypto_sign_PUBLICKEYBYTES, 8);
	if (sign)
		crypto_sign_detached(m + MSG_LEN - crypto_sign_BYTES, NULL, m,
		    MSG_LEN - crypto_sign_BYTES, sk);
}

static int
opens(const uint8_t *m, size_t len, int sign)
{
	if (len != MSG_LEN)
		return 0;
	return !sign || crypto_sign_verify_detached(m + MSG_LEN -
	    crypto_sign_BYTES, m, MSG_LEN - crypto_sign_BYTES, m + 1) == 0;
}

/* ---- one host: poll, take the command, answer on the next poll -------- */

static int
child(const char *url, int sign)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t m[MSG_LEN] = { 0 };
	nng_socket s;
	size_t len;
	void *buf;
	int rv, i;

	crypto_sign_keypair(pk, sk);
	if (nng_req0_open(&s) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)
	    != 0 || nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 600000) != 0)
		return 1;
	for (i = 0; (rv = nng_dial(s, url, NULL, 0)) != 0 && i < 100; i++)
		usleep(50000);
	if (rv != 0)
		return 1;
	for (;;) {
		seal(m, 'P', pk, sk, sign);
		if (nng_send(s, m, MSG_LEN, 0) != 0 ||
		    nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
			return 1;
		rv = len > 0 && ((uint8_t *)buf)[0] == 'S' ? 2 :
		    opens(buf, len, sign) ? 0 : 1;
		nng_free(buf, len);
		if (rv == 2)
			return 0;
		if (rv != 0)
			return 1;
	}
}

/* ---- ferryd's side: N held polls, answered together -------------------- */

struct slot {
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
};

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int remaining, failed, signing;

static void
slot_cb(void *arg)
{
	struct slot *sl = arg;
	nng_msg *msg;
	int ok;

	if (sl->sending) {
		sl->sending = 0;
		if (nng_aio_result(sl->aio) != 0) {
			nng_msg_free(nng_aio_get_msg(sl->aio));
			ok = 0;
			goto done;
		}
		nng_ctx_recv(sl->ctx, sl->aio);
		return;
	}
	if (nng_aio_result(sl->aio) != 0) {
		ok = 0;
		goto done;
	}
	msg = nng_aio_get_msg(sl->aio);
	ok = opens(nng_msg_body(msg), nng_msg_len(msg), signing);
	nng_msg_free(msg);
done:
	pthread_mutex_lock(&mtx);
	failed += !ok;
	if (--remaining == 0)
		pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mtx);
}

static int
wait_all(void)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ROUND_MAX_S;
	pthread_mutex_lock(&mtx);
	while (remaining > 0 && rc == 0)
		rc = pthread_cond_timedwait(&cv, &mtx, &dl);
	rc = remaining == 0 && failed == 0 ? 0 : -1;
	pthread_mutex_unlock(&mtx);
	return rc;
}

static void
answer(struct slot *sl, char kind, const uint8_t *pk, const uint8_t *sk)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, MSG_LEN) != 0)
		abort();
	seal(nng_msg_body(m), kind, pk, sk, signing);
	sl->sending = 1;
	nng_aio_set_msg(sl->aio, m);
	nng_ctx_send(sl->ctx, sl->aio);
}

int
main(int argc, char **argv)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	static struct slot slots[N_MAX];
	double rounds_s[ROUNDS_MAX];
	nng_socket s;
	nng_listener l;
	nng_sockaddr sa;
	char url[64], signarg[4];
	pid_t *kids;
	int n, rounds, i, r, status, bad = 0;

	if (argc == 4 && strcmp(argv[1], "--child") == 0) {
		if (sodium_init() < 0)
			return 1;
		return child(argv[2], atoi(argv[3]));
	}
	if (argc < 3 || argc > 4 || (n = atoi(argv[1])) < 1 || n > N_MAX ||
	    (rounds = atoi(argv[2])) < 1 || rounds > ROUNDS_MAX ||
	    (argc == 4 && strcmp(argv[3], "sign") != 0)) {
		fprintf(stderr, "usage: linkfloor N ROUNDS [sign]  "
		    "(1 <= N <= %d, 1 <= ROUNDS <= %d)\n", N_MAX, ROUNDS_MAX);
		return 2;
	}
	signing = argc == 4;
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	if (nng_rep0_open(&s) != 0 ||
	    nng_listen(s, "tcp://127.0.0.1:0", &l, 0) != 0 ||
	    nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0) {
		fprintf(stderr, "linkfloor: cannot listen on 127.0.0.1\n");
		return 1;
	}
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u",
	    (unsigned)ntohs(sa.s_in.sa_port));
	snprintf(signarg, sizeof(signarg), "%d", signing);
	if ((kids = calloc((size_t)n, sizeof(*kids))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if ((kids[i] = fork()) == 0) {
			execl("/proc/self/exe", argv[0], "--child", url, signarg,
			    (char *)NULL);
			_exit(127);
		}
		if (kids[i] < 0) {
			fprintf(stderr, "linkfloor: fork: %s\n",
			    strerror(errno));
			n = i;
			bad = 1;
			break;
		}
	}
	/* Every host's first poll, held. */
	remaining = n;
	for (i = 0; i < n; i++) {
		if (nng_ctx_open(&slots[i].ctx, s) != 0 ||
		    nng_aio_alloc(&slots[i].aio, slot_cb, &slots[i]) != 0)
			abort();
		nng_aio_set_timeout(slots[i].aio, ROUND_MAX_S * 1000);
		nng_ctx_recv(slots[i].ctx, slots[i].aio);
	}
	if (!bad && wait_all() != 0) {
		fprintf(stderr, "linkfloor: not every host polled\n");
		bad = 1;
	}
	for (r = 0; r < rounds && !bad; r++) {
		double t0 = now_s();

		remaining = n;
		for (i = 0; i < n; i++)
			answer(&slots[i], 'C', pk, sk);
		if (wait_all() != 0) {
			fprintf(stderr, "linkfloor: round %d: %d of %d "
			    "answers missing or bad\n", r + 1, remaining +
			    failed, n);
			bad = 1;
		}
		rounds_s[r] = now_s() - t0;
	}
	if (!bad) {
		/* Stop: the children exit on it. */
		remaining = n;
		for (i = 0; i < n; i++)
			answer(&slots[i], 'S', pk, sk);
		usleep(200000);
	}
	nng_close(s);
	for (i = 0; i < n; i++) {
		kill(kids[i], bad ? SIGKILL : SIGTERM);
		waitpid(kids[i], &status, 0);
	}
	for (i = 0; i < n; i++)
		nng_aio_free(slots[i].aio);
	free(kids);
	if (bad)
		return 1;
	printf("{\"n\": %d, \"sign\": %d, \"rounds_s\": [", n, signing);
	for (r = 0; r < rounds; r++)
		printf("%s%.4f", r ? ", " : "", rounds_s[r]);
	printf("]}\n");
	return 0;
}
