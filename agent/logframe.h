/* SPDX-License-Identifier: Apache-2.0 */
/* logframe.h: the pure parts of `ferry logs` on the agent: Docker's log
 * stream cut into lines (its multiplexed framing when the container has no
 * TTY, and the timestamps it puts before each line), and the token bucket
 * that bounds how many bytes of lines a host sends per second. */
#ifndef FERRY_LOGFRAME_H
#define FERRY_LOGFRAME_H

#include <stddef.h>
#include <stdint.h>

/* The longest line passed on whole; a longer one comes in pieces. */
#define LOGLINE_MAX	8192

/* Called once per line: stream 1 (stdout) or 2 (stderr), Docker's
 * timestamp (unix ns, 0 when the line had none), the text without its
 * newline (not NUL-terminated).  A non-zero return stops the feed, which
 * returns it. */
typedef int (*logframe_line_fn)(void *arg, int stream, uint64_t ts_ns,
    const char *text, size_t len);

struct logframe {
	int raw;			/* a TTY: no framing, all stdout */
	uint8_t hdr[8];
	size_t nhdr;
	uint32_t left;			/* payload bytes left in the frame */
	int stream;			/* of the frame being read */
	struct {
		char buf[LOGLINE_MAX];
		size_t len;
	} part[3];			/* a line not ended yet, per stream */
};

/* logframe_init prepares f for one answer of Docker's logs call; raw when
 * the container was created with a TTY. */
void logframe_init(struct logframe *f, int raw);

/* logframe_feed takes the next n bytes of the answer and calls fn for
 * every line they end.  Frames and lines may be cut anywhere between two
 * feeds.  A frame of a stream Docker does not use (0, stdin) is skipped. */
int logframe_feed(struct logframe *f, const char *p, size_t n,
    logframe_line_fn fn, void *arg);

/* logframe_flush passes on what is left of unended lines (the answer
 * ended without a newline). */
int logframe_flush(struct logframe *f, logframe_line_fn fn, void *arg);

/* logframe_ts reads an RFC 3339 UTC time with up to nine decimals
 * ("2026-12-05T10:04:49.123456789Z") into unix ns; 0 when s does not
 * start with one.  *used gets how many bytes it took (the space after it
 * included). */
uint64_t logframe_ts(const char *s, size_t n, size_t *used);

/* A token bucket of bytes: rate per second, at most burst kept. */
struct logbucket {
	uint64_t rate, burst;
	uint64_t tokens;	/* in millionths of a byte */
	uint64_t last_us;
};

void logbucket_init(struct logbucket *b, uint64_t rate, uint64_t burst,
    uint64_t now_us);

/* logbucket_take takes n bytes when the bucket holds them (returns 1),
 * and nothing otherwise (returns 0); refilled for the time since the last
 * call. */
int logbucket_take(struct logbucket *b, uint64_t n, uint64_t now_us);

#endif
