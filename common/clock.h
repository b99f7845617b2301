/* SPDX-License-Identifier: Apache-2.0 */
/* clock.h: the clocks ferry reads, and a peer's clock as learnt from it.
 *
 * Decisions run on elapsed time: liveness, deadlines, holds, min_healthy
 * read the monotonic clock, which no NTP correction or resumed VM moves.
 * The wall clock is for people (event times, "last seen").  Times that
 * another machine judges against ours (a command's expiry) are on the
 * steady clock: the wall clock as it read when the process started, plus
 * the monotonic time elapsed since, so a step of the wall clock while the
 * process runs moves none of them. */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

/* clock_wall_ms returns milliseconds since the Unix epoch (CLOCK_REALTIME):
 * for what people read. */
uint64_t
clock_wall_ms(void);

/* clock_mono_us returns a monotonic microsecond count (CLOCK_MONOTONIC): for
 * durations measured on one machine (latency, timeouts, deadlines). */
uint64_t
clock_mono_us(void);

/* clock_mono_ms is clock_mono_us in milliseconds. */
uint64_t
clock_mono_ms(void);

/* clock_steady_ms returns the wall clock's reading at the first call in
 * this process plus the monotonic milliseconds elapsed since: it reads
 * like the wall clock and never steps.  Safe from any thread. */
uint64_t
clock_steady_ms(void);

/*
 * A peer's steady clock, as learnt from a fresh, signed message of its
 * own (one bound to a request of ours, so that nobody can replay an old
 * reading into it): the reading and when, on our monotonic clock, it
 * came.  Zeroed: nothing learnt yet.
 */
struct clock_peer {
	uint64_t remote_ms;		/* the peer's reading */
	uint64_t at_us;			/* our monotonic time then */
	int known;
};

/* clock_peer_learn takes the peer's reading remote_ms, received at our
 * monotonic now_us. */
void
clock_peer_learn(struct clock_peer *p, uint64_t remote_ms, uint64_t now_us);

/* clock_peer_now estimates the peer's clock at our monotonic now_us from
 * its last reading and the time elapsed since; fallback_ms (our own wall
 * clock, say) while nothing is learnt. */
uint64_t
clock_peer_now(const struct clock_peer *p, uint64_t now_us,
    uint64_t fallback_ms);

#endif
