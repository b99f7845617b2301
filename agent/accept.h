/* SPDX-License-Identifier: Apache-2.0 */
/* accept.h: the rules a command must pass before an agent executes it. */
#ifndef FERRY_ACCEPT_H
#define FERRY_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "keys.h"

/* How far ahead of the agent's clock a command may say it was issued. */
#define ACCEPT_SKEW_MS	30000u

/* Who the agent is and what it executed last. */
struct accept_self {
	const char *name;
	uint8_t fingerprint[KEY_FPR_LEN];	/* of the host's own key */
	uint64_t last_sequence;			/* highest executed */
};

/*
 * accept_open is the agent's whole receive path for a command envelope:
 * envelope_open against the pinned ferryd key (size, frame, version,
 * signer, signature), the kind must be KIND_COMMAND, then the body is
 * unpacked into *out (caller frees with ferry__command__free_unpacked).
 * Returns 0 or the FERR_* of the first rule broken; *out is NULL then.
 */
int
accept_open(const uint8_t *buf, size_t len,
    const uint8_t pinned[KEY_PUBLIC_LEN], Ferry__Command **out);

struct envelope;

/* accept_unpack is accept_open after envelope_open: the kind must be
 * KIND_COMMAND, then the verified body is unpacked. */
int
accept_unpack(const struct envelope *ev, Ferry__Command **out);

/*
 * accept_check applies the field rules to a verified, unpacked command, in
 * this order: well formed (id of 16 bytes, a payload) (FERR_MALFORMED),
 * addressed to this host's name and key (FERR_TARGET), not issued beyond
 * the clock-skew tolerance (FERR_FUTURE), not expired (FERR_EXPIRED),
 * sequence above the last executed (FERR_SEQUENCE).  A command id already
 * recorded is the caller's to answer from its records before calling this.
 * Pure: no I/O, the clock is an argument.
 */
int
accept_check(const Ferry__Command *cmd, const struct accept_self *self,
    uint64_t now_ms);

#endif
