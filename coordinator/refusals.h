/* SPDX-License-Identifier: Apache-2.0 */
/* refusals.h: refusals on the agent link, counted by source and reason so
 * that a flood of bad messages can bury neither the log nor the events. */
#ifndef FERRY_REFUSALS_H
#define FERRY_REFUSALS_H

#include <stddef.h>
#include <stdint.h>

/* Keys counted at once; past that, refusals are counted under one
 * overflow key (source "*"), so memory stays bounded whoever sends. */
#define REFUSALS_MAX		256
#define REFUSAL_SOURCE_MAX	63
#define REFUSAL_REASON_MAX	95
#define REFUSAL_HOST_MAX	63
#define REFUSALS_OVERFLOW_SOURCE	"*"
#define REFUSALS_OVERFLOW_REASON	"refusals past the number of sources " \
					"and reasons tracked"

/* One key: a source address and a short, fixed reason. */
struct refusal {
	char source[REFUSAL_SOURCE_MAX + 1];
	char reason[REFUSAL_REASON_MAX + 1];
	char host[REFUSAL_HOST_MAX + 1];	/* the host, when known */
	uint64_t count;		/* counted since the interval's first */
	uint64_t first_ms, last_ms;	/* wall clock (for people) of those */
	uint64_t until_ms;	/* monotonic: the interval's end */
	int used;
};

struct refusals {
	uint64_t interval_ms;
	struct refusal keys[REFUSALS_MAX];	/* the last: overflow */
	size_t used;
};

enum refusal_verdict {
	REFUSAL_FIRST = 1,	/* first of its key in its interval: log and
				 * record it now, as it is */
	REFUSAL_COUNTED,	/* counted, summed up at the interval's end */
};

/* refusals_init empties rf; each key's interval lasts interval_ms. */
void refusals_init(struct refusals *rf, uint64_t interval_ms);

/*
 * refusals_note counts one refusal from source for reason (cut to fit;
 * host may be NULL) at mono_ms (monotonic, decides intervals) and wall_ms
 * (shown).  The first of a key opens its interval and is REFUSAL_FIRST;
 * the others until the interval ends are REFUSAL_COUNTED.  When every key
 * is taken, a new one is counted under the overflow key.
 */
enum refusal_verdict refusals_note(struct refusals *rf, const char *source,
    const char *reason, const char *host, uint64_t mono_ms,
    uint64_t wall_ms);

/*
 * refusals_due hands fn every key whose interval ended by mono_ms with
 * refusals counted after its first (r->count of them); that key starts a
 * new interval, so a flood that goes on is summed up once per interval.
 * A key whose interval ended quiet is forgotten: the next refusal of it is
 * a first again.  With mono_ms UINT64_MAX (at shutdown) every key with a
 * count is handed over.
 */
typedef void (*refusal_fn)(void *arg, const struct refusal *r);
void refusals_due(struct refusals *rf, uint64_t mono_ms, refusal_fn fn,
    void *arg);

#endif
