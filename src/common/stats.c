/*
 * stats.c - histogram bucketing for stats.h. A binary search over at most
 * 23 bounds: cheap enough for one observation per request.
 */
#include "common/stats.h"

const double stat_latency_bounds[] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t stat_latency_nbounds = sizeof(stat_latency_bounds) / sizeof(double);

const double stat_size_bounds[] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000,
	50000, 100000,
};
const size_t stat_size_nbounds = sizeof(stat_size_bounds) / sizeof(double);

void stat_hist_init(struct stat_hist *h, const double *bounds, size_t n, double scale)
{
	h->bounds = bounds;
	h->n = n < STAT_HIST_MAX - 1 ? n : STAT_HIST_MAX - 1;
	h->scale = scale > 0 ? scale : 1;
	for (size_t i = 0; i < STAT_HIST_MAX; i++)
		atomic_init(&h->bucket[i], 0);
	atomic_init(&h->count, 0);
	atomic_init(&h->sum, 0);
}

void stat_hist_observe(struct stat_hist *h, uint64_t v)
{
	double x = (double)v / h->scale;
	size_t lo = 0, hi = h->n;    /* first bound >= x, or n for +Inf */

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->bounds[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	atomic_fetch_add_explicit(&h->bucket[lo], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}
