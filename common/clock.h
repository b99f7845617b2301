/* clock.h: the two clocks ferry reads. */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

/* clock_wall_ms returns milliseconds since the Unix epoch (CLOCK_REALTIME):
 * for timestamps that cross machines (issued-at, expires-at, last seen). */
uint64_t
clock_wall_ms(void);

/* clock_mono_us returns a monotonic microsecond count (CLOCK_MONOTONIC): for
 * durations measured on one machine (latency, timeouts). */
uint64_t
clock_mono_us(void);

#endif
