/* SPDX-License-Identifier: Apache-2.0 */
/* refusals.c: refusals counted by source and reason, one line and one
 * event per key and interval; pure (handed the time). */
#include <stdio.h>
#include <string.h>

#include "refusals.h"

void
refusals_init(struct refusals *rf, uint64_t interval_ms)
{
	memset(rf, 0, sizeof(*rf));
	rf->interval_ms = interval_ms;
}

static struct refusal *
find(struct refusals *rf, const char *source, const char *reason)
{
	size_t i;

	for (i = 0; i < REFUSALS_MAX - 1; i++) {
		struct refusal *r = &rf->keys[i];

		if (r->used && strcmp(r->source, source) == 0 &&
		    strcmp(r->reason, reason) == 0)
			return r;
	}
	return NULL;
}

static struct refusal *
take(struct refusals *rf)
{
	size_t i;

	for (i = 0; i < REFUSALS_MAX - 1; i++)
		if (!rf->keys[i].used)
			return &rf->keys[i];
	return NULL;
}

enum refusal_verdict
refusals_note(struct refusals *rf, const char *source, const char *reason,
    const char *host, uint64_t mono_ms, uint64_t wall_ms)
{
	char src[REFUSAL_SOURCE_MAX + 1], why[REFUSAL_REASON_MAX + 1];
	struct refusal *r;

	/* Compared as stored: cut the same way. */
	snprintf(src, sizeof(src), "%s", source ? source : "");
	snprintf(why, sizeof(why), "%s", reason ? reason : "");
	if ((r = find(rf, src, why)) == NULL && (r = take(rf)) == NULL) {
		r = &rf->keys[REFUSALS_MAX - 1];
		snprintf(src, sizeof(src), "%s", REFUSALS_OVERFLOW_SOURCE);
		snprintf(why, sizeof(why), "%s", REFUSALS_OVERFLOW_REASON);
		host = NULL;
	}
	if (r->used) {
		if (r->count == 0)
			r->first_ms = wall_ms;
		r->count++;
		r->last_ms = wall_ms;
		return REFUSAL_COUNTED;
	}
	memset(r, 0, sizeof(*r));
	r->used = 1;
	memcpy(r->source, src, sizeof(src));
	memcpy(r->reason, why, sizeof(why));
	snprintf(r->host, sizeof(r->host), "%s", host ? host : "");
	r->until_ms = mono_ms + rf->interval_ms;
	rf->used++;
	return REFUSAL_FIRST;
}

void
refusals_due(struct refusals *rf, uint64_t mono_ms, refusal_fn fn,
    void *arg)
{
	size_t i;

	for (i = 0; i < REFUSALS_MAX; i++) {
		struct refusal *r = &rf->keys[i];

		if (!r->used || mono_ms < r->until_ms)
			continue;
		if (r->count == 0) {
			r->used = 0;
			rf->used--;
			continue;
		}
		fn(arg, r);
		r->count = 0;
		r->first_ms = r->last_ms = 0;
		r->until_ms = mono_ms == UINT64_MAX ? UINT64_MAX :
		    mono_ms + rf->interval_ms;
	}
}
