/* SPDX-License-Identifier: Apache-2.0 */
/* chan.c: the agent link's confidential channel (see chan.h). */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "ferr.h"

#define WELCOME_TAG	"ferry/1/welcome"
/* Sessions no verified message bound to a host go after this long. */
#define UNBOUND_TTL_MS	(30u * 1000u)
/* Bound sessions unused this long go; the agent says Hello again. */
#define BOUND_TTL_MS	(15u * 60u * 1000u)
#define SWEEP_EVERY_MS	1000u
#define NBUCKETS	4096u

static const uint8_t magic[4] = { 'F', 'R', 'Y', 'C' };

struct session {
	struct session *next;		/* in its bucket */
	uint8_t id[CHAN_ID_LEN];
	uint8_t rx[CHAN_KEY_LEN], tx[CHAN_KEY_LEN];
	uint8_t host[KEY_PUBLIC_LEN];
	int bound;
	uint64_t top;			/* highest counter taken */
	uint64_t seen;			/* bit i: counter top - i taken */
	uint64_t made_ms, used_ms;
};

struct chan_server {
	struct keypair kp;
	size_t max_unbound, nunbound, nsessions;
	uint64_t last_sweep_ms;
	struct session *bucket[NBUCKETS];
};

int
chan_frame_kind(const uint8_t *buf, size_t len)
{
	if (len == 0 || buf[0] != magic[0])
		return CHAN_NONE;
	if (len < CHAN_HEAD_LEN || memcmp(buf, magic, sizeof(magic)) != 0)
		return -1;
	switch (buf[4]) {
	case CHAN_HELLO:
		return len == CHAN_HELLO_LEN ? CHAN_HELLO : -1;
	case CHAN_WELCOME:
		return len == CHAN_WELCOME_LEN ? CHAN_WELCOME : -1;
	case CHAN_SEALED:
		return len >= CHAN_OVERHEAD ? CHAN_SEALED : -1;
	case CHAN_UNKNOWN:
		return len == CHAN_UNKNOWN_LEN ? CHAN_UNKNOWN : -1;
	default:
		return -1;
	}
}

const uint8_t *
chan_frame_id(const uint8_t *buf, size_t len)
{
	return chan_frame_kind(buf, len) == CHAN_SEALED ? buf + CHAN_HEAD_LEN :
	    NULL;
}

static void
put_head(uint8_t *p, enum chan_frame kind)
{
	memcpy(p, magic, sizeof(magic));
	p[4] = (uint8_t)kind;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
nonce_of(uint64_t counter, uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES])
{
	memset(n, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	put_u64(n, counter);
}

/* seal writes a Sealed frame of in under key, numbered counter. */
static int
seal(const uint8_t id[CHAN_ID_LEN], const uint8_t key[CHAN_KEY_LEN],
    uint64_t counter, const uint8_t *in, size_t len, uint8_t **out,
    size_t *out_len)
{
	uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], *f;
	unsigned long long clen;

	*out = NULL;
	if ((f = malloc(len + CHAN_OVERHEAD)) == NULL)
		return FERR_NOMEM;
	put_head(f, CHAN_SEALED);
	memcpy(f + CHAN_HEAD_LEN, id, CHAN_ID_LEN);
	put_u64(f + CHAN_HEAD_LEN + CHAN_ID_LEN, counter);
	nonce_of(counter, n);
	crypto_aead_xchacha20poly1305_ietf_encrypt(f + CHAN_SEALED_HEAD, &clen,
	    in, len, f, CHAN_SEALED_HEAD, NULL, n, key);
	*out = f;
	*out_len = CHAN_SEALED_HEAD + (size_t)clen;
	return 0;
}

/* unseal opens a Sealed frame in place under key. */
static int
unseal(const uint8_t key[CHAN_KEY_LEN], uint64_t counter, uint8_t *buf,
    size_t len, const uint8_t **plain, size_t *plain_len)
{
	uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned long long mlen;

	nonce_of(counter, n);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf + CHAN_SEALED_HEAD,
	    &mlen, NULL, buf + CHAN_SEALED_HEAD, len - CHAN_SEALED_HEAD, buf,
	    CHAN_SEALED_HEAD, n, key) != 0)
		return FERR_SIGNATURE;
	*plain = buf + CHAN_SEALED_HEAD;
	*plain_len = (size_t)mlen;
	return 0;
}

/* welcome_input: what ferryd signs in a Welcome. */
static void
welcome_input(uint8_t *m, const uint8_t *agent_key, const uint8_t *id,
    const uint8_t *server_key)
{
	size_t t = sizeof(WELCOME_TAG);		/* with its 0 */

	memcpy(m, WELCOME_TAG, t);
	memcpy(m + t, agent_key, crypto_kx_PUBLICKEYBYTES);
	memcpy(m + t + crypto_kx_PUBLICKEYBYTES, id, CHAN_ID_LEN);
	memcpy(m + t + crypto_kx_PUBLICKEYBYTES + CHAN_ID_LEN, server_key,
	    crypto_kx_PUBLICKEYBYTES);
}

#define WELCOME_INPUT_LEN (sizeof(WELCOME_TAG) + 2 * crypto_kx_PUBLICKEYBYTES \
	+ CHAN_ID_LEN)

/* ---- the agent's end -------------------------------------------------- */

void
chan_client_reset(struct chan_client *c)
{
	sodium_memzero(c, sizeof(*c));
}

void
chan_hello(struct chan_client *c, uint8_t out[CHAN_HELLO_LEN])
{
	chan_client_reset(c);
	crypto_kx_keypair(c->epk, c->esk);
	c->hello_sent = 1;
	put_head(out, CHAN_HELLO);
	memcpy(out + CHAN_HEAD_LEN, c->epk, sizeof(c->epk));
}

int
chan_welcome(struct chan_client *c, const uint8_t *buf, size_t len,
    const uint8_t *pinned, const uint8_t *want_fpr)
{
	const uint8_t *id, *fresh, *signer, *sig;
	uint8_t m[WELCOME_INPUT_LEN], fpr[KEY_FPR_LEN];
	int rc = 0;

	if (!c->hello_sent || c->ready)
		return FERR_STATE;
	if (chan_frame_kind(buf, len) != CHAN_WELCOME)
		return FERR_MALFORMED;
	id = buf + CHAN_HEAD_LEN;
	fresh = id + CHAN_ID_LEN;
	signer = fresh + crypto_kx_PUBLICKEYBYTES;
	sig = signer + KEY_PUBLIC_LEN;
	if (pinned != NULL) {
		if (sodium_memcmp(pinned, signer, KEY_PUBLIC_LEN) != 0)
			return FERR_SIGNER;
	} else {
		keys_fingerprint(signer, fpr);
		if (want_fpr == NULL ||
		    sodium_memcmp(fpr, want_fpr, KEY_FPR_LEN) != 0)
			return FERR_SIGNER;
	}
	welcome_input(m, c->epk, id, fresh);
	if (crypto_sign_verify_detached(sig, m, sizeof(m), signer) != 0)
		return FERR_SIGNATURE;
	if (crypto_kx_client_session_keys(c->rx, c->tx, c->epk, c->esk,
	    fresh) != 0)
		rc = FERR_SIGNATURE;	/* a degenerate key */
	sodium_memzero(c->esk, sizeof(c->esk));
	if (rc != 0)
		return rc;
	memcpy(c->id, id, CHAN_ID_LEN);
	memcpy(c->server, signer, KEY_PUBLIC_LEN);
	c->counter = 0;
	c->ready = 1;
	return 0;
}

int
chan_client_seal(struct chan_client *c, const uint8_t *in, size_t len,
    uint8_t **out, size_t *out_len, uint64_t *counter)
{
	int rc;

	*out = NULL;
	if (!c->ready)
		return FERR_STATE;
	rc = seal(c->id, c->tx, c->counter + 1, in, len, out, out_len);
	if (rc == 0)
		*counter = ++c->counter;
	return rc;
}

int
chan_client_open(const struct chan_client *c, uint64_t counter, uint8_t *buf,
    size_t len, const uint8_t **plain, size_t *plain_len)
{
	switch (chan_frame_kind(buf, len)) {
	case CHAN_UNKNOWN:
		/* Not authenticated: at worst it costs a new Hello, which
		 * whoever can drop our packets could force anyway. */
		if (c->ready && memcmp(buf + CHAN_HEAD_LEN, c->id,
		    CHAN_ID_LEN) == 0)
			return FERR_SESSION;
		return FERR_MALFORMED;
	case CHAN_SEALED:
		break;
	default:
		return FERR_MALFORMED;
	}
	if (!c->ready)
		return FERR_STATE;
	if (memcmp(buf + CHAN_HEAD_LEN, c->id, CHAN_ID_LEN) != 0 ||
	    get_u64(buf + CHAN_HEAD_LEN + CHAN_ID_LEN) != counter)
		return FERR_SIGNATURE;
	return unseal(c->rx, counter, buf, len, plain, plain_len);
}

/* ---- ferryd's end ----------------------------------------------------- */

struct chan_server *
chan_server_new(const struct keypair *kp, size_t max_unbound)
{
	struct chan_server *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->kp = *kp;
	s->max_unbound = max_unbound ? max_unbound : 1;
	return s;
}

static struct session **
slot_of(struct chan_server *s, const uint8_t *id)
{
	struct session **pp;
	uint32_t h;

	memcpy(&h, id, sizeof(h));
	for (pp = &s->bucket[h % NBUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->id, id, CHAN_ID_LEN) == 0)
			break;
	return pp;
}

static void
unlink_session(struct chan_server *s, struct session **pp)
{
	struct session *x = *pp;

	*pp = x->next;
	if (!x->bound)
		s->nunbound--;
	s->nsessions--;
	sodium_memzero(x, sizeof(*x));
	free(x);
}

/* drop_where removes every session that pred chooses. */
static void
drop_where(struct chan_server *s, int (*pred)(const struct session *,
    const void *), const void *arg)
{
	struct session **pp;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		for (pp = &s->bucket[b]; *pp != NULL;)
			if (pred(*pp, arg))
				unlink_session(s, pp);
			else
				pp = &(*pp)->next;
}

void
chan_server_free(struct chan_server *s)
{
	struct session *x, *next;
	size_t b;

	if (s == NULL)
		return;
	for (b = 0; b < NBUCKETS; b++)
		for (x = s->bucket[b]; x != NULL; x = next) {
			next = x->next;
			sodium_memzero(x, sizeof(*x));
			free(x);
		}
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* evict_oldest_unbound makes room for one more unbound session. */
static void
evict_oldest_unbound(struct chan_server *s)
{
	struct session **pp, **oldest = NULL;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		for (pp = &s->bucket[b]; *pp != NULL; pp = &(*pp)->next)
			if (!(*pp)->bound && (oldest == NULL ||
			    (*pp)->made_ms < (*oldest)->made_ms))
				oldest = pp;
	if (oldest != NULL)
		unlink_session(s, oldest);
}

int
chan_server_hello(struct chan_server *s, const uint8_t *buf, size_t len,
    uint64_t now_ms, uint8_t out[CHAN_WELCOME_LEN])
{
	uint8_t fpk[crypto_kx_PUBLICKEYBYTES], fsk[crypto_kx_SECRETKEYBYTES];
	uint8_t m[WELCOME_INPUT_LEN];
	const uint8_t *agent_key = buf + CHAN_HEAD_LEN;
	struct session *x;
	int rc;

	if (chan_frame_kind(buf, len) != CHAN_HELLO)
		return FERR_MALFORMED;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return FERR_NOMEM;
	crypto_kx_keypair(fpk, fsk);
	rc = crypto_kx_server_session_keys(x->rx, x->tx, fpk, fsk, agent_key);
	sodium_memzero(fsk, sizeof(fsk));
	if (rc != 0) {
		free(x);
		return FERR_MALFORMED;	/* a degenerate key */
	}
	do
		randombytes_buf(x->id, CHAN_ID_LEN);
	while (*slot_of(s, x->id) != NULL);
	x->made_ms = x->used_ms = now_ms;
	while (s->nunbound >= s->max_unbound)
		evict_oldest_unbound(s);
	*slot_of(s, x->id) = x;
	s->nunbound++;
	s->nsessions++;

	put_head(out, CHAN_WELCOME);
	memcpy(out + CHAN_HEAD_LEN, x->id, CHAN_ID_LEN);
	memcpy(out + CHAN_HEAD_LEN + CHAN_ID_LEN, fpk, sizeof(fpk));
	memcpy(out + CHAN_HEAD_LEN + CHAN_ID_LEN + sizeof(fpk), s->kp.pk,
	    KEY_PUBLIC_LEN);
	welcome_input(m, agent_key, x->id, fpk);
	crypto_sign_detached(out + CHAN_HEAD_LEN + CHAN_ID_LEN + sizeof(fpk) +
	    KEY_PUBLIC_LEN, NULL, m, sizeof(m), s->kp.sk);
	return 0;
}

/* window_take takes counter n once: above the highest so far, or within
 * the window below it and not taken before. */
static int
window_take(struct session *x, uint64_t n)
{
	uint64_t back;

	if (n == 0)
		return 0;
	if (n > x->top) {
		back = n - x->top;
		x->seen = back >= 64 ? 0 : x->seen << back;
		x->seen |= 1;
		x->top = n;
		return 1;
	}
	back = x->top - n;
	if (back >= CHAN_WINDOW || back >= 64 || (x->seen >> back & 1))
		return 0;
	x->seen |= (uint64_t)1 << back;
	return 1;
}

int
chan_server_open(struct chan_server *s, uint8_t *buf, size_t len,
    uint64_t now_ms, struct chan_reply *r, const uint8_t **plain,
    size_t *plain_len)
{
	struct session *x;
	uint64_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	if (chan_frame_kind(buf, len) != CHAN_SEALED)
		return FERR_MALFORMED;
	if ((x = *slot_of(s, buf + CHAN_HEAD_LEN)) == NULL)
		return FERR_SESSION;
	n = get_u64(buf + CHAN_HEAD_LEN + CHAN_ID_LEN);
	/* Cheap refusal first; the counter is taken only once the frame
	 * proved to come from the session's holder. */
	if (n == 0 || (n <= x->top && (x->top - n >= CHAN_WINDOW ||
	    (x->seen >> (x->top - n) & 1))))
		return FERR_REPLAY;
	if ((rc = unseal(x->rx, n, buf, len, plain, plain_len)) != 0)
		return rc;
	window_take(x, n);
	x->used_ms = now_ms;
	r->sealed = 1;
	memcpy(r->id, x->id, CHAN_ID_LEN);
	memcpy(r->tx, x->tx, CHAN_KEY_LEN);
	r->counter = n;
	return 0;
}

struct bound_to {
	const uint8_t *host;
	const struct session *keep;
};

static int
other_session_of(const struct session *x, const void *arg)
{
	const struct bound_to *b = arg;

	return x != b->keep && x->bound &&
	    memcmp(x->host, b->host, KEY_PUBLIC_LEN) == 0;
}

int
chan_server_bind(struct chan_server *s, const struct chan_reply *r,
    const uint8_t signer[KEY_PUBLIC_LEN], int known)
{
	struct session *x;
	struct bound_to b;

	if (!r->sealed)
		return 0;
	if ((x = *slot_of(s, r->id)) == NULL)
		return FERR_SESSION;
	if (x->bound)
		return sodium_memcmp(x->host, signer, KEY_PUBLIC_LEN) == 0 ?
		    0 : FERR_SIGNER;
	/* Anyone can make a key and sign with it: only a host's key takes
	 * a session out of the capped, swept pool of unbound ones. */
	if (!known)
		return 0;
	memcpy(x->host, signer, KEY_PUBLIC_LEN);
	x->bound = 1;
	s->nunbound--;
	/* One session per host: the agent said Hello again (it restarted),
	 * so its sessions before are dead. */
	b.host = signer;
	b.keep = x;
	drop_where(s, other_session_of, &b);
	return 0;
}

static int
stale(const struct session *x, const void *arg)
{
	uint64_t now = *(const uint64_t *)arg;

	return now - x->used_ms > (x->bound ? BOUND_TTL_MS : UNBOUND_TTL_MS);
}

void
chan_server_sweep(struct chan_server *s, uint64_t now_ms)
{
	if (now_ms - s->last_sweep_ms < SWEEP_EVERY_MS)
		return;
	s->last_sweep_ms = now_ms;
	drop_where(s, stale, &now_ms);
}

size_t
chan_server_count(const struct chan_server *s, size_t *unbound)
{
	if (unbound != NULL)
		*unbound = s->nunbound;
	return s->nsessions;
}

int
chan_reply_seal(const struct chan_reply *r, const uint8_t *in, size_t len,
    uint8_t **out, size_t *out_len)
{
	if (!r->sealed) {
		*out = malloc(len ? len : 1);
		if (*out == NULL)
			return FERR_NOMEM;
		memcpy(*out, in, len);
		*out_len = len;
		return 0;
	}
	return seal(r->id, r->tx, r->counter, in, len, out, out_len);
}

void
chan_unknown(const uint8_t id[CHAN_ID_LEN], uint8_t out[CHAN_UNKNOWN_LEN])
{
	put_head(out, CHAN_UNKNOWN);
	memcpy(out + CHAN_HEAD_LEN, id, CHAN_ID_LEN);
}
