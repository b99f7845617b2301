/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_clock.c: the steady clock and a peer's clock as learnt from it. */
#include <stdint.h>
#include <time.h>

#include <criterion/criterion.h>

#include "clock.h"

Test(clock, a_peer_clock_is_its_reading_plus_our_elapsed_time)
{
	struct clock_peer p = { 0 };

	/* Nothing learnt: our own fallback. */
	cr_assert_eq(clock_peer_now(&p, 5000000, 42), 42);
	/* Learnt at our monotonic 10 s: 1000 ms of theirs. */
	clock_peer_learn(&p, 1000, 10000000);
	cr_assert_eq(clock_peer_now(&p, 10000000, 42), 1000);
	cr_assert_eq(clock_peer_now(&p, 12500000, 42), 3500);
	/* A later reading replaces the earlier, backwards or forwards. */
	clock_peer_learn(&p, 900, 13000000);
	cr_assert_eq(clock_peer_now(&p, 13000000, 42), 900);
}

Test(clock, steady_reads_like_the_wall_clock_and_never_goes_back)
{
	uint64_t a = clock_steady_ms(), wall = clock_wall_ms(), b;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	/* Close to the wall clock when the process started it... */
	cr_assert_lt(a > wall ? a - wall : wall - a, 2000);
	nanosleep(&ts, NULL);
	b = clock_steady_ms();
	/* ... and moved by the time elapsed. */
	cr_assert_geq(b, a + 19);
	cr_assert_lt(b, a + 5000);
}
