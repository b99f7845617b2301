/* SPDX-License-Identifier: Apache-2.0 */
/* hist.c: fixed log-spaced latency buckets (hist.h). */
#include "hist.h"

uint64_t
hist_bound_us(size_t k)
{
	if (k >= HIST_BUCKETS - 1)
		return UINT64_MAX;
	return (uint64_t)HIST_FIRST_US << k;
}

size_t
hist_bucket(uint64_t us)
{
	size_t k;

	for (k = 0; k < HIST_BUCKETS - 1; k++)
		if (us <= hist_bound_us(k))
			return k;
	return HIST_BUCKETS - 1;
}

double
hist_quantile_us(const uint64_t *counts, size_t n, double q)
{
	uint64_t total = 0, below = 0;
	double rank, lo, hi;
	size_t k;

	if (n > HIST_BUCKETS)
		n = HIST_BUCKETS;
	for (k = 0; k < n; k++)
		total += counts[k];
	if (total == 0 || !(q > 0.0))
		return -1.0;
	if (q > 1.0)
		q = 1.0;
	rank = q * (double)total;
	for (k = 0; k < n; k++) {
		if (counts[k] == 0 || (double)(below + counts[k]) < rank) {
			below += counts[k];
			continue;
		}
		lo = k == 0 ? 0.0 : (double)hist_bound_us(k - 1);
		if (k == HIST_BUCKETS - 1)
			return lo;
		hi = (double)hist_bound_us(k);
		return lo + (hi - lo) * ((rank - (double)below) /
		    (double)counts[k]);
	}
	return (double)hist_bound_us(n - 1);
}
