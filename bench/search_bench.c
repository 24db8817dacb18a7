/*
 * search_bench: Sealtrail's side of the search benchmark (issue 4). Runs
 * the query set that bench/search_queries.py writes against a data
 * directory's log and index, in process, and reports wall latency per
 * class in the same shape as bench/pg_query.c:
 *
 *   search_bench --data DIR --queries QUERIES.tsv [--runs R] [--out FILE.tsv]
 *
 * QUERIES.tsv has lines "class<TAB>sealtrail_query<TAB>sql"; the SQL is
 * not used here. Classes run in the order they first appear, each class's
 * queries in file order:
 *
 *   1. warm-up: every query of the class once, result discarded;
 *   2. measured: every query R times (default 3); a query's figure is the
 *      median of its R runs, and the class's percentiles are over those
 *      per-query figures, so n is the number of queries, as in pg_query.
 *
 * One operation, timed with CLOCK_MONOTONIC from before query_parse to
 * after the last entry was read back with log_read_entry (what an API
 * request costs before the response is written):
 *
 *   selective, word   index_search, limit 100, sort -time, all tenants,
 *                     then read the hits' entries;
 *   count_by_action   index_stats by "action", empty query, top
 *                     INDEX_TOP_MAX (every group, as the SQL GROUP BY);
 *                     the sealtrail column ("*") is not a query;
 *   timeline          request_id:"ID" (index_timeline_query), sort time
 *                     ascending, pages of INDEX_LIMIT_MAX until !more,
 *                     reading every entry;
 *   anything else     as selective, the column taken as a query.
 *
 * A query that does not parse, or that the index refuses, is a failure:
 * its message is printed with the line, it is left out of the
 * percentiles, counted in the class's "failed" column, and the exit
 * status is 1 (the report and --out are still written).
 *
 * Opens the log with log_open (it takes the data directory's lock: the
 * server must not be running on DIR) and the index with index_open, then
 * index_catch_up; the time catch-up took is reported when entries were
 * pending. The last line reports peak RSS (VmHWM).
 *
 * stdout: a line per class "class n p50 p95 max hits min/mean/max failed";
 * --out FILE gets "class p50_ms p95_ms n" (header, then one tab-separated
 * line per class). Percentiles are nearest-rank, as in pg_query.
 * Exit status: 0, 1 (a failure above, or setup failed), 2 (bad usage).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "index/index.h"
#include "index/query.h"
#include "log/log.h"
#include "log/segment.h"

#define MAX_QUERIES 100000
#define MAX_RUNS 100
#define SEARCH_LIMIT 100

enum kind { K_SEARCH, K_COUNT_BY_ACTION, K_TIMELINE };

struct bq {
	char *cls;
	char *st;            /* the Sealtrail column */
	size_t line;         /* 1-based line in the file */
	enum kind kind;
	double ms;           /* median of the measured runs */
	uint64_t hits;       /* entries read (stats: groups) */
	bool failed;
};

struct bench {
	struct log *log;
	struct index *ix;
	struct index_hit *hits;   /* INDEX_LIMIT_MAX */
	struct buf entry;         /* one stored entry */
	struct buf qt;            /* timeline query text */
};

static const struct index_scope all_scope = { .all = true };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the ceil(p * n)-th smallest of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	double t = p * (double)n - 1e-9;
	size_t r = (size_t)t;
	if ((double)r < t)
		r++;
	if (r < 1)
		r = 1;
	return v[r - 1];
}

/* Peak resident set size in KiB (VmHWM), or 0 when unreadable. */
static unsigned long long vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kib = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Reads the TSV: three tab-separated fields; returns the count or -1. */
static long read_queries(const char *path, struct bq *q, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t len = 0, n = 0, lineno = 0;
	ssize_t got;

	if (!f) {
		fprintf(stderr, "search_bench: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &len, f)) >= 0) {
		lineno++;
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		if (got == 0)
			continue;
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t1 || !t2 || strchr(t2 + 1, '\t') || t1 == line) {
			fprintf(stderr, "search_bench: %s:%zu: want class<TAB>sealtrail_query<TAB>sql\n",
				path, lineno);
			goto fail;
		}
		if (n == cap) {
			fprintf(stderr, "search_bench: %s: more than %zu queries\n", path, cap);
			goto fail;
		}
		*t1 = *t2 = '\0';
		q[n].cls = strdup(line);
		q[n].st = strdup(t1 + 1);
		q[n].line = lineno;
		if (!q[n].cls || !q[n].st) {
			fputs("search_bench: out of memory\n", stderr);
			goto fail;
		}
		q[n].kind = !strcmp(line, "count_by_action") ? K_COUNT_BY_ACTION
			  : !strcmp(line, "timeline") ? K_TIMELINE : K_SEARCH;
		n++;
	}
	free(line);
	fclose(f);
	return (long)n;
fail:
	free(line);
	fclose(f);
	return -1;
}

static struct query *parse(const struct bq *x, const char *text, size_t n)
{
	struct query *q = NULL;
	struct query_error qe;
	int r = query_parse(text, n, now_realtime_ns(), &q, &qe);
	if (r < 0) {
		fprintf(stderr, "search_bench: %s query at line %zu does not parse: %s  query: %.*s\n",
			x->cls, x->line, r == -ENOMEM ? "out of memory" : qe.msg, (int)n, text);
		return NULL;
	}
	return q;
}

/* Reads the stored entries of hits[0..n). */
static int read_hits(struct bench *b, const struct bq *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_reset(&b->entry);
		int r = log_read_entry(b->log, b->hits[i].seq, &b->entry);
		if (r < 0) {
			fprintf(stderr, "search_bench: %s query at line %zu: entry %llu: %s\n", x->cls,
				x->line, (unsigned long long)b->hits[i].seq, st_strerror(r));
			return r;
		}
	}
	return 0;
}

/* One page, or all pages (timeline), of a search, entries read back. */
static int run_search(struct bench *b, const struct bq *x, uint64_t *ret_hits)
{
	const char *text = x->st;
	size_t tlen = strlen(x->st);
	enum index_sort sort = IX_SORT_TIME_DESC;
	size_t limit = SEARCH_LIMIT;
	int r;

	if (x->kind == K_TIMELINE) {
		buf_reset(&b->qt);
		if ((r = index_timeline_query("request_id", x->st, strlen(x->st), &b->qt)) < 0) {
			fprintf(stderr, "search_bench: timeline query at line %zu: %s\n", x->line,
				st_strerror(r));
			return r;
		}
		text = (const char *)b->qt.data;
		tlen = b->qt.len;
		sort = IX_SORT_TIME_ASC;
		limit = INDEX_LIMIT_MAX;
	}
	struct query *q = parse(x, text, tlen);
	if (!q)
		return ST_EINVAL;
	struct index_search se = { .q = q, .qtext = text, .qtext_len = tlen, .scope = &all_scope,
				   .sort = sort, .limit = limit, .hits = b->hits };
	uint64_t total = 0;
	do {
		if ((r = index_search(b->ix, &se)) < 0) {
			fprintf(stderr, "search_bench: %s query at line %zu: index_search: %s  query: %.*s\n",
				x->cls, x->line, st_strerror(r), (int)tlen, text);
			goto out;
		}
		if ((r = read_hits(b, x, se.nhits)) < 0)
			goto out;
		total += se.nhits;
		se.cursor = se.next;
	} while (x->kind == K_TIMELINE && se.more);
	*ret_hits = total;
out:
	query_free(q);
	return r;
}

static int run_stats(struct bench *b, const struct bq *x, uint64_t *ret_groups)
{
	struct query *q = parse(x, "", 0);
	int r;
	if (!q)
		return ST_EINVAL;
	struct index_stats st = { .q = q, .scope = &all_scope, .by = "action", .top = INDEX_TOP_MAX };
	if ((r = index_stats(b->ix, &st)) < 0)
		fprintf(stderr, "search_bench: %s query at line %zu: index_stats: %s\n", x->cls, x->line,
			st_strerror(r));
	else
		*ret_groups = st.nvalues;
	index_stats_release(&st);
	query_free(q);
	return r;
}

/* Runs x once; its wall time in *ret_ms. */
static int run_one(struct bench *b, const struct bq *x, double *ret_ms, uint64_t *ret_hits)
{
	double t0 = now_ms();
	int r = x->kind == K_COUNT_BY_ACTION ? run_stats(b, x, ret_hits) : run_search(b, x, ret_hits);
	*ret_ms = now_ms() - t0;
	return r;
}

static int usage(void)
{
	fputs("usage: search_bench --data DIR --queries QUERIES.tsv [--runs R] [--out FILE.tsv]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "queries", required_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' }, { "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *qpath = NULL, *out_path = NULL;
	long runs = 3;
	struct bench b = { .entry = BUF_INIT(SEG_FRAME_MAX + 64), .qt = BUF_INIT(8192) };
	struct bq *q = NULL;
	FILE *out = NULL;
	bool *done = NULL;
	size_t *idx = NULL;
	double *v = NULL, *rv = NULL;
	long n = 0;
	int c, rc = 1, nfailed = 0;
	char err[512];
	/* SEARCH_BENCH_VERBOSE=1: each query's median, hits and text on stderr */
	const char *ve = getenv("SEARCH_BENCH_VERBOSE");
	bool verbose = ve && *ve == '1';

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'd': dir = optarg; break;
		case 'q': qpath = optarg; break;
		case 'o': out_path = optarg; break;
		case 'r':
			runs = strtol(optarg, &end, 10);
			if (*end || runs < 1 || runs > MAX_RUNS) {
				fprintf(stderr, "search_bench: --runs wants 1..%d, got \"%s\"\n", MAX_RUNS, optarg);
				return 2;
			}
			break;
		default: return usage();
		}
	}
	if (!dir || !qpath || optind != argc)
		return usage();

	if (!(q = calloc(MAX_QUERIES, sizeof(*q)))) {
		fputs("search_bench: out of memory\n", stderr);
		return 1;
	}
	if ((n = read_queries(qpath, q, MAX_QUERIES)) <= 0) {
		if (n == 0)
			fprintf(stderr, "search_bench: %s has no queries\n", qpath);
		goto out;
	}
	done = calloc((size_t)n, sizeof(*done));
	idx = malloc((size_t)n * sizeof(*idx));
	v = malloc((size_t)n * sizeof(*v));
	rv = malloc((size_t)runs * sizeof(*rv));
	b.hits = calloc(INDEX_LIMIT_MAX, sizeof(*b.hits));
	if (!done || !idx || !v || !rv || !b.hits) {
		fputs("search_bench: out of memory\n", stderr);
		goto out;
	}

	double t0 = now_ms();
	if (log_open(&b.log, dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "search_bench: log_open %s: %s\n", dir, err);
		goto out;
	}
	double t1 = now_ms();
	if (index_open(&b.ix, b.log, dir, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "search_bench: index_open %s: %s\n", dir, err);
		goto out;
	}
	double t2 = now_ms();
	struct index_status st0, st1;
	index_status(b.ix, &st0);
	int r = index_catch_up(b.ix);
	double t3 = now_ms();
	if (r < 0) {
		fprintf(stderr, "search_bench: index_catch_up: %s\n", st_strerror(r));
		goto out;
	}
	index_status(b.ix, &st1);
	printf("open: log %.1f ms, index %.1f ms; %llu entries, index %llu chunks, %llu bytes\n",
	       t1 - t0, t2 - t1, (unsigned long long)st1.log_size, (unsigned long long)st1.chunks,
	       (unsigned long long)st1.bytes);
	if (st1.indexed > st0.indexed)
		printf("catch-up: %llu entries were pending, indexed in %.1f ms (%.0f entries/s)\n",
		       (unsigned long long)(st1.indexed - st0.indexed), t3 - t2,
		       (double)(st1.indexed - st0.indexed) / ((t3 - t2) / 1e3));
	else
		printf("catch-up: nothing pending (%.1f ms)\n", t3 - t2);

	if (out_path && !(out = fopen(out_path, "w"))) {
		fprintf(stderr, "search_bench: cannot write %s: %s\n", out_path, strerror(errno));
		goto out;
	}
	if (out)
		fputs("class\tp50_ms\tp95_ms\tn\n", out);
	printf("%-16s %4s %9s %9s %9s  %-20s %s\n", "class", "n", "p50_ms", "p95_ms", "max_ms",
	       "hits min/mean/max", "failed");
	fflush(stdout);

	for (long first = 0; first < n; first++) {
		if (done[first])
			continue;
		const char *cls = q[first].cls;
		size_t k = 0, nok = 0, cfail = 0;
		for (long i = first; i < n; i++)
			if (!done[i] && !strcmp(q[i].cls, cls)) {
				done[i] = true;
				idx[k++] = (size_t)i;
			}
		/* 1. warm-up: each once; a failure here is reported once, below */
		for (size_t j = 0; j < k; j++) {
			struct bq *x = &q[idx[j]];
			double ms;
			uint64_t h = 0;
			if (run_one(&b, x, &ms, &h) < 0)
				x->failed = true;
		}
		/* 2. measured: each `runs` times, the median kept */
		for (size_t j = 0; j < k; j++) {
			struct bq *x = &q[idx[j]];
			if (x->failed)
				continue;
			for (long t = 0; t < runs; t++) {
				uint64_t h = 0;
				if (run_one(&b, x, &rv[t], &h) < 0) {
					x->failed = true;
					break;
				}
				x->hits = h;
			}
			if (x->failed)
				continue;
			qsort(rv, (size_t)runs, sizeof(*rv), cmp_double);
			x->ms = pct(rv, (size_t)runs, 0.50);
			if (verbose)
				fprintf(stderr, "%s\t%.3f\t%llu\t%s\n", cls, x->ms,
					(unsigned long long)x->hits, x->st);
		}
		uint64_t hmin = UINT64_MAX, hmax = 0;
		double hsum = 0;
		for (size_t j = 0; j < k; j++) {
			struct bq *x = &q[idx[j]];
			if (x->failed) {
				cfail++;
				continue;
			}
			v[nok++] = x->ms;
			hsum += (double)x->hits;
			hmin = x->hits < hmin ? x->hits : hmin;
			hmax = x->hits > hmax ? x->hits : hmax;
		}
		nfailed += (int)cfail;
		if (nok == 0) {
			printf("%-16s %4zu %9s %9s %9s  %-20s %zu\n", cls, k, "-", "-", "-", "-", cfail);
			if (out)
				fprintf(out, "%s\t-\t-\t0\n", cls);
			continue;
		}
		qsort(v, nok, sizeof(*v), cmp_double);
		char hits[64];
		snprintf(hits, sizeof(hits), "%llu/%.1f/%llu", (unsigned long long)hmin,
			 hsum / (double)nok, (unsigned long long)hmax);
		printf("%-16s %4zu %9.3f %9.3f %9.3f  %-20s %zu\n", cls, nok, pct(v, nok, 0.50),
		       pct(v, nok, 0.95), v[nok - 1], hits, cfail);
		fflush(stdout);
		if (out)
			fprintf(out, "%s\t%.3f\t%.3f\t%zu\n", cls, pct(v, nok, 0.50), pct(v, nok, 0.95), nok);
	}
	printf("rss: peak %.1f MiB (VmHWM)\n", (double)vm_hwm_kib() / 1024.0);
	if (nfailed)
		fprintf(stderr, "search_bench: %d queries failed (above); they are not in the percentiles\n",
			nfailed);
	rc = nfailed ? 1 : 0;
out:
	if (out && fclose(out) != 0) {
		fprintf(stderr, "search_bench: writing %s: %s\n", out_path, strerror(errno));
		rc = 1;
	}
	index_close(b.ix);
	log_close(b.log);
	buf_release(&b.entry);
	buf_release(&b.qt);
	free(b.hits);
	free(done);
	free(idx);
	free(v);
	free(rv);
	for (long i = 0; i < n; i++) {
		free(q[i].cls);
		free(q[i].st);
	}
	free(q);
	return rc;
}
