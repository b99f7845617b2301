/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_hist.c: the latency buckets and quantiles read off them. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "hist.h"

Test(hist, bounds_double_from_50us_and_end_open)
{
	cr_assert_eq(hist_bound_us(0), 50);
	cr_assert_eq(hist_bound_us(1), 100);
	cr_assert_eq(hist_bound_us(HIST_BUCKETS - 2), 50ULL << 21);
	cr_assert_eq(hist_bound_us(HIST_BUCKETS - 1), UINT64_MAX);
}

Test(hist, each_duration_lands_in_the_first_bucket_that_holds_it)
{
	cr_assert_eq(hist_bucket(0), 0);
	cr_assert_eq(hist_bucket(50), 0);
	cr_assert_eq(hist_bucket(51), 1);
	cr_assert_eq(hist_bucket(100), 1);
	cr_assert_eq(hist_bucket(150000), 12);	/* 102.4 ms < 150 ms <= 204.8 ms */
	cr_assert_eq(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
}

Test(hist, quantiles_interpolate_inside_their_bucket)
{
	uint64_t c[HIST_BUCKETS] = { 0 };

	cr_assert(hist_quantile_us(c, HIST_BUCKETS, 0.95) < 0);
	/* 100 requests between 100 and 200 us: the median reads 150. */
	c[2] = 100;
	cr_assert_float_eq(hist_quantile_us(c, HIST_BUCKETS, 0.5), 150.0,
	    1e-9);
	/* 95 fast, 5 slow (between 409.6 and 819.2 ms): p95 stays fast,
	 * p99 is slow. */
	c[2] = 95;
	c[14] = 5;
	cr_assert(hist_quantile_us(c, HIST_BUCKETS, 0.95) <= 200.0);
	cr_assert(hist_quantile_us(c, HIST_BUCKETS, 0.99) > 409600.0);
	cr_assert(hist_quantile_us(c, HIST_BUCKETS, 0.99) <= 819200.0);
}

Test(hist, the_open_bucket_reads_as_its_lower_bound)
{
	uint64_t c[HIST_BUCKETS] = { 0 };

	c[HIST_BUCKETS - 1] = 3;
	cr_assert_float_eq(hist_quantile_us(c, HIST_BUCKETS, 0.5),
	    (double)(50ULL << 21), 1e-9);
}
