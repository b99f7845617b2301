/* SPDX-License-Identifier: Apache-2.0 */
/* chan.h: the agent link's confidential channel. */
#ifndef FERRY_CHAN_H
#define FERRY_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "keys.h"

/*
 * Every message between an agent and ferryd is a signed envelope
 * (envelope.h); on the wire, the envelope travels inside a channel frame
 * that only the two ends can read.  A channel is one session: the agent
 * sends a Hello with a fresh X25519 key; ferryd answers with a Welcome
 * holding a fresh X25519 key of its own, a session id, and its Ed25519
 * signature over both keys and the id, which the agent checks against the
 * key it pinned at enrolment.  crypto_kx turns the two fresh keys into one
 * key per direction; neither side keeps the fresh secret keys, so what is
 * recorded from the wire stays unreadable even to whoever later steals
 * either side's long-term key (forward secrecy per session).
 *
 * Sealed frames carry a counter: the agent numbers its requests, ferryd's
 * answer carries the number of the request it answers (a reply is bound to
 * its request), and ferryd takes each number of a session once, within a
 * window of the last CHAN_WINDOW.  A session lives in ferryd's memory only:
 * after ferryd restarts, every captured frame is unreadable to it, and the
 * agent, told its session is unknown, says Hello again.
 *
 * Layouts (counter big-endian):
 *
 *	Hello	"FRY" 'C' 01 | agent key (32)
 *	Welcome	"FRY" 'C' 02 | id (16) | ferryd fresh key (32) |
 *		ferryd Ed25519 key (32) | signature (64)
 *	Sealed	"FRY" 'C' 03 | id (16) | counter (8) | XChaCha20-Poly1305
 *		ciphertext of the envelope, the 29 bytes before it as
 *		associated data
 *	Unknown	"FRY" 'C' 04 | id (16)
 *
 * A signed envelope starts with byte 0x08, never 'F': a receiver tells a
 * cleartext envelope from a frame by its first byte.
 */

#define CHAN_ID_LEN		16
#define CHAN_KEY_LEN		crypto_kx_SESSIONKEYBYTES
#define CHAN_HEAD_LEN		5
#define CHAN_HELLO_LEN		(CHAN_HEAD_LEN + crypto_kx_PUBLICKEYBYTES)
#define CHAN_WELCOME_LEN	(CHAN_HEAD_LEN + CHAN_ID_LEN + \
				crypto_kx_PUBLICKEYBYTES + KEY_PUBLIC_LEN + 64)
#define CHAN_SEALED_HEAD	(CHAN_HEAD_LEN + CHAN_ID_LEN + 8)
#define CHAN_OVERHEAD		(CHAN_SEALED_HEAD + \
				crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define CHAN_UNKNOWN_LEN	(CHAN_HEAD_LEN + CHAN_ID_LEN)
/* How far behind the highest counter of a session a request may arrive
 * (two exchanges share one session). */
#define CHAN_WINDOW		64

enum chan_frame {
	CHAN_NONE = 0,		/* not a channel frame (a cleartext envelope) */
	CHAN_HELLO = 1,
	CHAN_WELCOME = 2,
	CHAN_SEALED = 3,
	CHAN_UNKNOWN = 4,
};

/* chan_frame_kind tells what buf holds: a channel frame of some kind, or
 * CHAN_NONE; -1 when it says it is a frame and is not one. */
int
chan_frame_kind(const uint8_t *buf, size_t len);

/* ---- the agent's end -------------------------------------------------- */

struct chan_client {
	uint8_t epk[crypto_kx_PUBLICKEYBYTES];
	uint8_t esk[crypto_kx_SECRETKEYBYTES];
	int hello_sent;
	int ready;
	uint8_t id[CHAN_ID_LEN];
	uint8_t rx[CHAN_KEY_LEN], tx[CHAN_KEY_LEN];
	uint64_t counter;		/* of the last request sealed */
	uint8_t server[KEY_PUBLIC_LEN];	/* the key that signed the Welcome */
};

/* chan_client_reset forgets the session and wipes its keys. */
void
chan_client_reset(struct chan_client *c);

/* chan_hello draws a fresh key pair and writes the Hello into out. */
void
chan_hello(struct chan_client *c, uint8_t out[CHAN_HELLO_LEN]);

/*
 * chan_welcome opens a Welcome answering our Hello: signed by pinned when
 * pinned is not NULL, else by a key whose fingerprint is want_fpr
 * (FERR_SIGNER otherwise; FERR_SIGNATURE, FERR_MALFORMED).  On success the
 * session is ready and the fresh secret key is wiped.
 */
int
chan_welcome(struct chan_client *c, const uint8_t *buf, size_t len,
    const uint8_t *pinned, const uint8_t *want_fpr);

/* chan_client_seal seals in as the session's next request; *counter gets
 * its number, which the answer must carry. */
int
chan_client_seal(struct chan_client *c, const uint8_t *in, size_t len,
    uint8_t **out, size_t *out_len, uint64_t *counter);

/*
 * chan_client_open opens ferryd's answer to request number counter, in
 * place: *plain points into buf.  FERR_SESSION when ferryd said it does not
 * know the session (then say Hello again), FERR_SIGNATURE when it does not
 * open (forged, or the answer to another request), FERR_MALFORMED.
 */
int
chan_client_open(const struct chan_client *c, uint64_t counter, uint8_t *buf,
    size_t len, const uint8_t **plain, size_t *plain_len);

/* ---- ferryd's end ----------------------------------------------------- */

struct chan_server;

/* What answering one request needs, copied out of its session so that the
 * session may go before the answer does. */
struct chan_reply {
	int sealed;			/* 0: the request came in cleartext */
	uint8_t id[CHAN_ID_LEN];
	uint8_t tx[CHAN_KEY_LEN];
	uint64_t counter;
};

/* chan_server_new: sessions signed for by kp; at most max_unbound sessions
 * that no verified message has bound to a host yet (the oldest goes). */
struct chan_server *
chan_server_new(const struct keypair *kp, size_t max_unbound);

void
chan_server_free(struct chan_server *s);

/* chan_server_hello opens a session for a Hello and writes the Welcome. */
int
chan_server_hello(struct chan_server *s, const uint8_t *buf, size_t len,
    uint64_t now_ms, uint8_t out[CHAN_WELCOME_LEN]);

/*
 * chan_server_open opens a sealed request in place (*plain points into
 * buf) and fills r for its answer.  FERR_SESSION: no such session (answer
 * with chan_unknown); FERR_SIGNATURE: it does not open; FERR_REPLAY: its
 * number was taken already or is too old; FERR_MALFORMED.
 */
int
chan_server_open(struct chan_server *s, uint8_t *buf, size_t len,
    uint64_t now_ms, struct chan_reply *r, const uint8_t **plain,
    size_t *plain_len);

/*
 * chan_server_bind ties the session of r to the key that signed what came
 * in it, when known says that key is a host's: the first such message
 * binds it, and drops any older session bound to the same key; once bound,
 * a message signed by another key is refused (FERR_SIGNER).  A session
 * that only keys of no host signed in stays unbound (capped, swept after
 * seconds).  FERR_SESSION when the session went meanwhile.
 */
int
chan_server_bind(struct chan_server *s, const struct chan_reply *r,
    const uint8_t signer[KEY_PUBLIC_LEN], int known);

/* chan_server_sweep drops sessions unused for too long (unbound ones after
 * seconds, bound ones after minutes). */
void
chan_server_sweep(struct chan_server *s, uint64_t now_ms);

/* chan_server_count: sessions held, and how many of them are unbound. */
size_t
chan_server_count(const struct chan_server *s, size_t *unbound);

/* chan_reply_seal seals an answer for r (a copy of in when r came in
 * cleartext). */
int
chan_reply_seal(const struct chan_reply *r, const uint8_t *in, size_t len,
    uint8_t **out, size_t *out_len);

/* chan_unknown writes the frame telling an agent its session id is not
 * known (any more). */
void
chan_unknown(const uint8_t id[CHAN_ID_LEN], uint8_t out[CHAN_UNKNOWN_LEN]);

/* chan_frame_id: the session id of a Sealed frame (NULL otherwise). */
const uint8_t *
chan_frame_id(const uint8_t *buf, size_t len);

#endif
