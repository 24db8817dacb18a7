/*
 * stats.h - lock-free counters and fixed-bucket histograms, updated on hot
 * paths from any thread and read by the metrics endpoint.
 *
 * Invariants: every update is one relaxed atomic add per field; a reader
 * may see a histogram whose count and bucket sums disagree by the updates
 * in flight, which Prometheus tolerates (each series is monotonic).
 * Rendering lives in the server (server/metrics.c); this header holds no
 * text format, so every room can count without depending on the server.
 */
#ifndef SEALTRAIL_COMMON_STATS_H
#define SEALTRAIL_COMMON_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct stat_counter {
	_Atomic uint64_t v;
};

static inline void stat_add(struct stat_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline uint64_t stat_get(const struct stat_counter *c)
{
	return atomic_load_explicit(&c->v, memory_order_relaxed);
}

struct stat_gauge {
	_Atomic int64_t v;
};
static inline void stat_set(struct stat_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->v, v, memory_order_relaxed);
}
static inline void stat_gauge_add(struct stat_gauge *g, int64_t d)
{
	atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}
static inline int64_t stat_gauge_get(const struct stat_gauge *g)
{
	return atomic_load_explicit(&g->v, memory_order_relaxed);
}

#define STAT_HIST_MAX 24

/* Cumulative rendering ("le" buckets) is done by the reader; here each
 * bucket counts the observations v with bounds[i-1] < v <= bounds[i], and
 * the last slot counts v > bounds[n-1] (+Inf). */
struct stat_hist {
	const double *bounds;        /* ascending, n entries, static storage */
	size_t n;                    /* <= STAT_HIST_MAX - 1 */
	double scale;                /* observed integer units per rendered unit */
	_Atomic uint64_t bucket[STAT_HIST_MAX];
	_Atomic uint64_t count;
	_Atomic uint64_t sum;        /* in observed units */
};

/* scale: e.g. 1e9 when observations are nanoseconds and the bounds are
 * seconds (Prometheus base units). */
void stat_hist_init(struct stat_hist *h, const double *bounds, size_t n, double scale);
void stat_hist_observe(struct stat_hist *h, uint64_t v);

/* Common bucket layouts. */
extern const double stat_latency_bounds[];   /* seconds, 50 us .. 10 s */
extern const size_t stat_latency_nbounds;
extern const double stat_size_bounds[];      /* counts, 1 .. 100,000 */
extern const size_t stat_size_nbounds;

#endif
