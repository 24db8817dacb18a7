/*
 * index.h - the search index: derived from the log, asynchronous,
 * crash-safe and rebuildable; and the query side (search, stats,
 * timeline) that runs on it. docs/INDEX.md has the design and its
 * measured alternatives, docs/QUERY.md the language, docs/FORMAT.md the
 * chunk files.
 *
 * Directory DIR/index/:
 *   <first seq, 20 digits>-<docs, 10 digits>.chunk   immutable chunk files
 *                                                    (chunk.h); together
 *                                                    they cover [0, indexed)
 *   *.tmp                                            a chunk being written
 *                                                    (removed at open)
 *
 * Invariants:
 *  1. A chunk holds only entries that were durable in the log when it was
 *     built (the indexer never reads past log_size), so no query returns
 *     an event that is not durable.
 *  2. The live chunk set covers [0, indexed) exactly once, in seq order.
 *     A merge writes its output (durably, by rename) before the inputs are
 *     deleted; at open, a chunk whose range lies inside another's is
 *     stale (a merge that crashed before its deletes) and removed; any gap
 *     or overlap that is not containment makes open rebuild the index from
 *     the first uncovered seq. Nothing in DIR/index is trusted beyond
 *     what its CRCs and this check allow; `sealtrail reindex` rebuilds all.
 *  3. After a crash the indexer resumes from `indexed`; entries between it
 *     and log_size are read again from the log.
 *  4. Every query is tenant-scoped by the index itself (the scope's tenant
 *     postings are intersected before anything is counted or returned), so
 *     no result, count, bucket or cursor tells about another tenant.
 *
 * Threads: index_start starts an indexer thread that builds and a merger
 * thread that merges (catch-up does both in the caller); queries
 * run concurrently from any thread on a reference-counted snapshot of the
 * chunk set, so a merge never pulls a chunk from under a query.
 */
#ifndef SEALTRAIL_INDEX_INDEX_H
#define SEALTRAIL_INDEX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "index/query.h"
#include "log/log.h"

struct index;

struct index_options {
	uint32_t flush_ms;        /* build a chunk at least this often while entries arrive; default 250 */
	uint32_t flush_docs;      /* or when this many entries are pending; default 262144 */
	uint32_t live_docs;       /* the indexer thread's chunks while it keeps up (fewer
				   * than 2 * flush_docs pending): at most this many, so
				   * that each is searchable sooner; default 65536 */
	uint32_t merge_fanin;     /* merge this many chunks of one size class; default 4 */
	uint32_t max_chunk_docs;  /* never merge beyond this many docs per chunk; default 8388608 */
};
void index_options_default(struct index_options *o);

/* Opens (creating if needed) DIR/index of the open log l, removing
 * temporary and stale files (invariant 2). The index keeps l borrowed. */
int index_open(struct index **ret, struct log *l, const char *dir,
	       const struct index_options *opt, char *err, size_t errcap);
/* Stops the indexer (if started) and closes. NULL ok. */
void index_close(struct index *ix);
/* Deletes every chunk and starts from seq 0 (sealtrail reindex). */
int index_reset(struct index *ix);

/* Indexes every entry durable now, in chunks of at most flush_docs, and
 * runs due merges, in the calling thread. For the CLI and tests; the
 * server uses index_start. Returns 0 or a negative error. */
int index_catch_up(struct index *ix);
/* Starts the background indexer: it polls the log every few ms, builds a
 * chunk when flush_ms have passed or flush_docs entries are pending, and
 * merges. index_kick wakes it at once (the committer calls it after a
 * group). */
int index_start(struct index *ix);
void index_kick(struct index *ix);

/* Waits until entries [0, upto) are searchable, at most timeout_ns, asking
 * the indexer to build at once. True when they are. For reads that must
 * see what the caller just wrote (?fresh=1). */
bool index_wait(struct index *ix, uint64_t upto, int64_t timeout_ns);

struct index_status {
	uint64_t indexed;         /* entries [0, indexed) are searchable */
	uint64_t log_size;
	int64_t lag_ns;           /* received_at of the oldest unindexed entry to now; 0 when caught up */
	uint64_t chunks;
	uint64_t bytes;           /* sum of chunk file sizes */
	uint64_t built;           /* chunks built since open */
	uint64_t merged;          /* merges since open */
	int last_error;           /* 0, or the indexer's last error (it retries) */
};
void index_status(struct index *ix, struct index_status *ret);

/* Which tenants a caller may see. all: every tenant; else tenants[0..n). */
struct index_scope {
	bool all;
	size_t n;
	const char *const *tenants;
};

enum index_sort { IX_SORT_TIME_DESC, IX_SORT_TIME_ASC, IX_SORT_SEQ_DESC, IX_SORT_SEQ_ASC };
/* "-time" "time" "-seq" "seq" -> *ret; false when none. */
bool index_sort_parse(const char *s, size_t n, enum index_sort *ret);

/* The state a search resumes from. Opaque to clients: encoded, and MACed
 * with the index's key together with the query text and the scope, by
 * index_cursor_encode; a cursor that was altered, or that is presented
 * with another query, sort or scope, is refused. */
struct index_cursor {
	enum index_sort sort;
	uint64_t upto;            /* results are drawn from seq < upto (0: unpinned, seq-ascending only) */
	int64_t last_time;
	uint64_t last_seq;
	bool started;             /* false: the first page */
};

struct index_hit {
	uint64_t seq;
	int64_t time_ns;
	int64_t received_ns;
};

struct index_search {
	/* in */
	const struct query *q;
	const char *qtext;        /* the query as written, for the cursor's MAC */
	size_t qtext_len;
	const struct index_scope *scope;
	enum index_sort sort;
	size_t limit;             /* 1..INDEX_LIMIT_MAX */
	uint64_t upto;            /* 0: everything indexed now; else pin (proofs) */
	struct index_cursor cursor;   /* from index_cursor_decode, or zeroed for the first page */
	/* out */
	struct index_hit *hits;   /* caller-provided, limit entries */
	size_t nhits;
	bool more;                /* a next page exists (then next is the cursor for it) */
	struct index_cursor next;
	uint64_t scanned;         /* candidate entries read and checked against the query */
};
#define INDEX_LIMIT_MAX 1000

/* Runs one page of a search. Returns 0, or a negative error (ST_ELIMIT
 * when a query the index cannot answer exactly would need more than
 * INDEX_VERIFY_MAX entries read back from the log). */
int index_search(struct index *ix, struct index_search *s);
#define INDEX_VERIFY_MAX 2000000

/* Cursors: base64url text of at most INDEX_CURSOR_MAX bytes. */
#define INDEX_CURSOR_MAX 128
int index_cursor_encode(struct index *ix, const struct index_cursor *c,
			const char *qtext, size_t qlen, const struct index_scope *scope,
			char out[INDEX_CURSOR_MAX + 1]);
/* ST_EINVAL with a reason in err when the cursor is malformed, forged, or
 * belongs to another query, sort or scope. */
int index_cursor_decode(struct index *ix, const char *s, size_t n,
			const char *qtext, size_t qlen, const struct index_scope *scope,
			enum index_sort sort, struct index_cursor *ret, char *err, size_t errcap);

/* Counts by field value and/or a time histogram over the matches. */
struct index_bucket {
	char *value;              /* by-value (owned by the result); NULL for histogram buckets */
	size_t value_len;
	int64_t start_ns;         /* histogram bucket start */
	uint64_t count;
	/* by + interval: this value's count in each histogram bucket (the
	 * histogram's buckets, same order); owned by the result. */
	uint64_t *series;
	size_t nseries;
};
struct index_stats {
	/* in */
	const struct query *q;
	const struct index_scope *scope;
	const char *by;           /* dotted field path, or NULL */
	size_t top;               /* top K values (1..INDEX_TOP_MAX), by count desc then value */
	int64_t interval_ns;      /* 0: no histogram; else bucket width (>= 1 s) */
	bool by_received;         /* histogram on received time instead of event time */
	/* out */
	uint64_t total;           /* matching events */
	uint64_t other;           /* matching events with a value of `by` outside the top K */
	uint64_t distinct;        /* distinct values of `by` among the matches */
	struct index_bucket *values;     size_t nvalues;
	struct index_bucket *histogram;  size_t nhistogram;
	int64_t series_start_ns;  /* start of the first histogram bucket */
};
#define INDEX_TOP_MAX 1000
#define INDEX_BUCKETS_MAX 10000
int index_stats(struct index *ix, struct index_stats *s);
void index_stats_release(struct index_stats *s);

/* Appends the query text that finds every event of one request, trace or
 * parent id: key:"id" with the id's quotes and backslashes escaped. */
int index_timeline_query(const char *key, const char *id, size_t n, struct buf *out);

#endif
