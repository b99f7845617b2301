/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/refusals.c
/* test_refusals.c: refusals counted by source and reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "refusals.h"

struct seen {
	struct refusal r[REFUSALS_MAX * 2];
	size_t n;
};

static void
on_due(void *arg, const struct refusal *r)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, REFUSALS_MAX * 2);
	s->r[s->n++] = *r;
}

static struct refusals *
fresh(uint64_t interval)
{
	struct refusals *rf = malloc(sizeof(*rf));

	cr_assert_not_null(rf);
	refusals_init(rf, interval);
	return rf;
}

Test(refusals, a_flood_is_one_first_and_one_sum_per_interval)
{
	struct refusals *rf = fresh(10000);
	struct seen s = { .n = 0 };
	int i, firsts = 0;

	for (i = 0; i < 2000; i++)
		firsts += refusals_note(rf, "127.0.0.9", "malformed message",
		    NULL, 1000 + (uint64_t)i, 5000 + (uint64_t)i) ==
		    REFUSAL_FIRST;
	cr_assert_eq(firsts, 1);
	/* Not due before the interval ends. */
	refusals_due(rf, 10999, on_due, &s);
	cr_assert_eq(s.n, 0);
	refusals_due(rf, 11000, on_due, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.r[0].count, 1999);
	cr_assert_str_eq(s.r[0].source, "127.0.0.9");
	cr_assert_str_eq(s.r[0].reason, "malformed message");
	cr_assert_eq(s.r[0].first_ms, 5001);
	cr_assert_eq(s.r[0].last_ms, 6999);
	/* The flood goes on: counted, summed once more an interval later. */
	cr_assert_eq(refusals_note(rf, "127.0.0.9", "malformed message", NULL,
	    12000, 20000), REFUSAL_COUNTED);
	refusals_due(rf, 20999, on_due, &s);
	cr_assert_eq(s.n, 1);
	refusals_due(rf, 21000, on_due, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.r[1].count, 1);
	/* A quiet interval forgets the key: the next one is a first. */
	refusals_due(rf, 31000, on_due, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(rf->used, 0);
	cr_assert_eq(refusals_note(rf, "127.0.0.9", "malformed message", NULL,
	    40000, 40000), REFUSAL_FIRST);
	free(rf);
}

Test(refusals, a_lone_refusal_has_nothing_to_sum)
{
	struct refusals *rf = fresh(10000);
	struct seen s = { .n = 0 };

	cr_assert_eq(refusals_note(rf, "127.0.0.2", "unknown key", "", 0, 0),
	    REFUSAL_FIRST);
	refusals_due(rf, 50000, on_due, &s);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(rf->used, 0);
	free(rf);
}

Test(refusals, keys_are_source_and_reason)
{
	struct refusals *rf = fresh(1000);
	struct seen s = { .n = 0 };

	cr_assert_eq(refusals_note(rf, "127.0.0.1", "bad signature", NULL, 0,
	    0), REFUSAL_FIRST);
	cr_assert_eq(refusals_note(rf, "127.0.0.2", "bad signature", NULL, 0,
	    0), REFUSAL_FIRST);
	cr_assert_eq(refusals_note(rf, "127.0.0.1", "unknown key", NULL, 0,
	    0), REFUSAL_FIRST);
	cr_assert_eq(refusals_note(rf, "127.0.0.1", "bad signature", NULL, 1,
	    1), REFUSAL_COUNTED);
	cr_assert_eq(refusals_note(rf, "127.0.0.2", "bad signature", "web-2",
	    1, 1), REFUSAL_COUNTED);
	refusals_due(rf, 1000, on_due, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.r[0].count + s.r[1].count, 2);
	free(rf);
}

Test(refusals, memory_is_bounded_and_overflow_is_counted)
{
	struct refusals *rf = fresh(1000);
	struct seen s = { .n = 0 };
	char src[32];
	uint64_t total = 0;
	size_t i;
	int firsts = 0;

	/* Ten times more sources than keys. */
	for (i = 0; i < REFUSALS_MAX * 10; i++) {
		snprintf(src, sizeof(src), "10.%zu.%zu.1", i / 256, i % 256);
		firsts += refusals_note(rf, src, "bad signature", NULL, 5, 5) ==
		    REFUSAL_FIRST;
	}
	/* Every key's first, and the overflow key's first. */
	cr_assert_eq(firsts, REFUSALS_MAX);
	cr_assert_eq(rf->used, REFUSALS_MAX);
	refusals_due(rf, 1005, on_due, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.r[0].source, REFUSALS_OVERFLOW_SOURCE);
	cr_assert_str_eq(s.r[0].reason, REFUSALS_OVERFLOW_REASON);
	for (i = 0; i < s.n; i++)
		total += s.r[i].count;
	/* Each refusal counted once: firsts, plus the sums. */
	cr_assert_eq(total + (uint64_t)firsts, REFUSALS_MAX * 10);
	free(rf);
}

Test(refusals, shutdown_hands_over_every_count)
{
	struct refusals *rf = fresh(10000);
	struct seen s = { .n = 0 };

	refusals_note(rf, "127.0.0.1", "replayed heartbeat", "web-1", 0, 0);
	refusals_note(rf, "127.0.0.1", "replayed heartbeat", "web-1", 1, 1);
	refusals_due(rf, UINT64_MAX, on_due, &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.r[0].host, "web-1");
	free(rf);
}

Test(refusals, long_text_is_cut_and_still_one_key)
{
	struct refusals *rf = fresh(10000);
	char longr[300];

	memset(longr, 'r', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	cr_assert_eq(refusals_note(rf, "127.0.0.1", longr, NULL, 0, 0),
	    REFUSAL_FIRST);
	cr_assert_eq(refusals_note(rf, "127.0.0.1", longr, NULL, 0, 0),
	    REFUSAL_COUNTED);
	cr_assert_eq(strlen(rf->keys[0].reason), REFUSAL_REASON_MAX);
	free(rf);
}
