/* SPDX-License-Identifier: Apache-2.0 */
/* clock.c: wall, monotonic and steady time, and a peer's clock. */
#include <pthread.h>
#include <time.h>

#include "clock.h"

uint64_t
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

static pthread_once_t steady_once = PTHREAD_ONCE_INIT;
static uint64_t steady_wall_ms, steady_mono_ms;

static void
steady_init(void)
{
	steady_mono_ms = clock_mono_ms();
	steady_wall_ms = clock_wall_ms();
}

uint64_t
clock_steady_ms(void)
{
	pthread_once(&steady_once, steady_init);
	return steady_wall_ms + (clock_mono_ms() - steady_mono_ms);
}

void
clock_peer_learn(struct clock_peer *p, uint64_t remote_ms, uint64_t now_us)
{
	p->remote_ms = remote_ms;
	p->at_us = now_us;
	p->known = 1;
}

uint64_t
clock_peer_now(const struct clock_peer *p, uint64_t now_us,
    uint64_t fallback_ms)
{
	if (!p->known)
		return fallback_ms;
	return p->remote_ms + (now_us - p->at_us) / 1000u;
}
