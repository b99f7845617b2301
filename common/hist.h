/* SPDX-License-Identifier: Apache-2.0 */
/* hist.h: the latency histogram every ferry-proxy counts into and ferryd
 * reads, with the same fixed, log-spaced buckets everywhere so that counts
 * from any host add up.
 *
 * Bucket k (k < HIST_BUCKETS - 1) counts what took at most
 * hist_bound_us(k) microseconds and more than the bucket before it: 50 us,
 * 100 us, 200 us, ... doubling to 50 us * 2^21 (about 105 s).  The last
 * bucket counts everything slower.  Pure; no allocation. */
#ifndef FERRY_HIST_H
#define FERRY_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_BUCKETS 23
#define HIST_FIRST_US 50

/* hist_bound_us returns the upper bound of bucket k in microseconds, or
 * UINT64_MAX for the last bucket (and beyond). */
uint64_t
hist_bound_us(size_t k);

/* hist_bucket returns the bucket a duration of us microseconds goes in. */
size_t
hist_bucket(uint64_t us);

/* hist_quantile_us reads quantile q (0 < q <= 1) off n bucket counts (n at
 * most HIST_BUCKETS; missing buckets count 0), interpolating linearly
 * inside the bucket it falls in, as Prometheus' histogram_quantile does;
 * one in the last bucket reads as that bucket's lower bound.  Returns -1
 * when the counts are all zero. */
double
hist_quantile_us(const uint64_t *counts, size_t n, double q);

#endif
