/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/logframe.c
/* test_logframe.c: Docker's log stream cut into lines (its multiplexed
 * framing, cut anywhere between reads; its timestamps), and the bucket
 * that bounds a host's log bytes per second. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "logframe.h"

struct got {
	int n;
	int stream[16];
	uint64_t ts[16];
	char text[16][LOGLINE_MAX + 1];
};

static int
on_line(void *arg, int stream, uint64_t ts, const char *text, size_t len)
{
	struct got *g = arg;

	cr_assert_lt(g->n, 16);
	g->stream[g->n] = stream;
	g->ts[g->n] = ts;
	memcpy(g->text[g->n], text, len);
	g->text[g->n][len] = '\0';
	g->n++;
	return 0;
}

/* frame appends one multiplexed frame of stream s to out. */
static size_t
frame(uint8_t *out, int s, const char *payload)
{
	size_t n = strlen(payload);

	out[0] = (uint8_t)s;
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(n >> 24);
	out[5] = (uint8_t)(n >> 16);
	out[6] = (uint8_t)(n >> 8);
	out[7] = (uint8_t)n;
	memcpy(out + 8, payload, n);
	return n + 8;
}

Test(logframe, timestamps_are_read_to_the_nanosecond)
{
	size_t used;
	const char *s = "2026-12-05T10:04:49.123456789Z hello";

	cr_assert_eq(logframe_ts(s, strlen(s), &used),
	    1796465089ull * 1000000000ull + 123456789ull);
	cr_assert_eq(used, 31);
	cr_assert_eq(logframe_ts("2026-12-05T10:04:49Z x", 22, &used),
	    1796465089ull * 1000000000ull);
	cr_assert_eq(logframe_ts("2026-12-05T10:04:49.5Z", 22, &used),
	    1796465089ull * 1000000000ull + 500000000ull);
	cr_assert_eq(logframe_ts("not a time at all here", 22, &used), 0);
	cr_assert_eq(used, 0);
	cr_assert_eq(logframe_ts("2026-13-05T10:04:49Z x", 22, &used), 0);
}

Test(logframe, frames_cut_anywhere_give_the_same_lines)
{
	uint8_t buf[512];
	size_t n = 0, cut;

	n += frame(buf + n, 1, "2026-12-05T10:04:49.000000001Z one\n");
	n += frame(buf + n, 2, "2026-12-05T10:04:49.000000002Z two on "
	    "stderr\n");
	n += frame(buf + n, 1, "2026-12-05T10:04:49.000000003Z thr");
	n += frame(buf + n, 1, "ee\n");
	for (cut = 0; cut <= n; cut++) {
		struct logframe f;
		struct got g = { 0 };

		logframe_init(&f, 0);
		cr_assert_eq(logframe_feed(&f, (char *)buf, cut, on_line, &g),
		    0);
		cr_assert_eq(logframe_feed(&f, (char *)buf + cut, n - cut,
		    on_line, &g), 0);
		cr_assert_eq(g.n, 3, "cut at %zu: %d lines", cut, g.n);
		cr_assert_str_eq(g.text[0], "one");
		cr_assert_eq(g.stream[0], 1);
		cr_assert_str_eq(g.text[1], "two on stderr");
		cr_assert_eq(g.stream[1], 2);
		cr_assert_eq(g.ts[1], 1796465089ull * 1000000000ull + 2);
		cr_assert_str_eq(g.text[2], "three");
	}
}

Test(logframe, a_tty_stream_has_no_frames)
{
	struct logframe f;
	struct got g = { 0 };
	const char *s = "2026-12-05T10:04:49Z a\r\nb\n";

	logframe_init(&f, 1);
	logframe_feed(&f, s, strlen(s), on_line, &g);
	cr_assert_eq(g.n, 2);
	cr_assert_str_eq(g.text[0], "a");
	cr_assert_str_eq(g.text[1], "b");
	cr_assert_eq(g.ts[1], 0);
}

Test(logframe, long_lines_come_in_pieces_and_the_rest_on_flush)
{
	static char big[LOGLINE_MAX * 2 + 10];
	struct logframe f;
	struct got g = { 0 };

	memset(big, 'x', sizeof(big) - 1);
	logframe_init(&f, 1);
	logframe_feed(&f, big, sizeof(big) - 1, on_line, &g);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(strlen(g.text[0]), LOGLINE_MAX);
	logframe_flush(&f, on_line, &g);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(strlen(g.text[2]), 9);
}

Test(logframe, frames_of_stdin_are_skipped)
{
	uint8_t buf[128];
	size_t n = 0;
	struct logframe f;
	struct got g = { 0 };

	n += frame(buf + n, 0, "ignored\n");
	n += frame(buf + n, 1, "kept\n");
	logframe_init(&f, 0);
	logframe_feed(&f, (char *)buf, n, on_line, &g);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.text[0], "kept");
}

Test(logbucket, holds_the_rate_and_the_burst)
{
	struct logbucket b;
	uint64_t t = 1000000, sent = 0;
	int i;

	logbucket_init(&b, 65536, 65536, t);
	/* The burst at once, then nothing more. */
	cr_assert(logbucket_take(&b, 65536, t));
	cr_assert_not(logbucket_take(&b, 1, t));
	/* Ten seconds of 100-byte lines offered every millisecond: the
	 * rate holds (within one line). */
	for (i = 0; i < 10000; i++) {
		t += 1000;
		while (logbucket_take(&b, 100, t))
			sent += 100;
	}
	cr_assert_leq(sent, 10 * 65536 + 100, "sent %llu", (unsigned long long)sent);
	cr_assert_geq(sent, 10 * 65536 - 200);
	/* Idle for a minute: no more than the burst is kept. */
	t += 60000000;
	cr_assert(logbucket_take(&b, 65536, t));
	cr_assert_not(logbucket_take(&b, 100, t));
}
