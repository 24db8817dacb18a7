/*
 * index_sqlite: the SQLite side of the search benchmark (issue 4, the
 * measured alternatives of DECISIONS.md 21). SQLite does the job of
 * Sealtrail's index (src/index/, docs/INDEX.md) on the same events and
 * the same query set, in process, as bench/search_bench.c does for
 * Sealtrail:
 *
 *   index_sqlite --db FILE --events EVENTS.ndjson --queries QUERIES.tsv
 *                [--runs R] [--extract c|sql] [--cache-mib M] [--out FILE.tsv]
 *                [--hits FILE.tsv]
 *
 * FILE must not exist: the database is created fresh. The run is:
 *
 *   1. schema, one database, journal_mode=WAL, synchronous=NORMAL,
 *      page_size 4096 (the default), cache_size M MiB (default 256; the
 *      library default of 2 MiB would make every index insert a read):
 *        events(seq INTEGER PRIMARY KEY, tenant, time INTEGER, action,
 *               actor_id, request_id, body TEXT)
 *      time is nanoseconds since 1970 (event times carry Z or +hh:mm, so
 *      the text does not sort); body is the NDJSON line, byte for byte;
 *      B-tree indexes on (actor_id, time), (action), (request_id), (time);
 *      fts, an FTS5 table with content='' (contentless: the index only,
 *      the text lives in body, as Sealtrail's index points into the log)
 *      and tokenize='ascii', rowid = seq, whose one column is the event's
 *      string values (not keys) joined by single spaces. The ascii
 *      tokenizer is Sealtrail's: runs of ASCII letters and digits and
 *      bytes >= 0x80, ASCII lower-cased; unicode61 would split on
 *      non-ASCII punctuation and fold diacritics.
 *   2. load: every line inserted into events and fts with prepared
 *      statements, the indexes present (the incremental case, as an
 *      indexer sees it), one transaction per 10,000 lines. seq is the
 *      1-based line number. --extract says who pulls the fields out:
 *        c    (default) a small JSON scanner here, one pass per line, that
 *             also writes the fts text;
 *        sql  json_extract ("->>") in the INSERT and
 *             group_concat(value, ' ') over json_tree(?) WHERE type='text'
 *             for fts; the time text goes through st_time_ns(), the same
 *             C conversion registered as an SQL function (SQLite's own
 *             date functions keep only milliseconds).
 *      The load rate is lines over the wall time from the first BEGIN to
 *      the last COMMIT. Then, each timed: PRAGMA wal_checkpoint(TRUNCATE)
 *      and ANALYZE. Sizes: the database file (the WAL is empty after the
 *      checkpoint) against the NDJSON, and per table and index from the
 *      dbstat virtual table when the library has it.
 *   3. queries, from QUERIES.tsv (lines class<TAB>sealtrail_query<TAB>sql,
 *      bench/search_queries.py; the PostgreSQL sql column is not used).
 *      The parameters are taken from the sealtrail column and bound to one
 *      prepared statement per class:
 *        selective        actor.id:A action:P.* time:YYYY-MM-DD
 *                         WHERE actor_id = A AND action LIKE 'P.%'
 *                         AND time >= day AND time < day + 1 day
 *                         ORDER BY time DESC LIMIT 100
 *        word             W: fts MATCH '"W"' joined to events on seq,
 *                         ORDER BY time DESC LIMIT 100
 *        count_by_action  SELECT action, count(*) ... GROUP BY action
 *        timeline         ID: WHERE request_id = ID ORDER BY time
 *      selective, word and timeline read every row's body (the bytes are
 *      touched); count_by_action reads the groups. Classes run in the
 *      order they first appear: a warm-up pass (each query once), then
 *      each query R times (default 3), its figure the median; p50/p95/max
 *      over the queries, nearest rank, as bench/pg_query.c and
 *      bench/search_bench.c. Timed with CLOCK_MONOTONIC from the first
 *      bind to the reset after the last row.
 *
 * stdout: settings, load, sizes, each class's EXPLAIN QUERY PLAN, then a
 * line per class "class n p50 p95 max hits min/mean/max", and the peak RSS
 * (VmHWM). --out FILE gets "class p50_ms p95_ms n" (header, then one
 * tab-separated line per class); --hits FILE "line class hits" per query,
 * to compare answers with bench/index_lmdb.c. The JSON scanner, the query
 * file and the timing loop are bench/bench_util.h's. Exit status 0; 1 when SQLite or the data
 * refused something (the message names the line); 2 on bad usage. Only
 * libc and libsqlite3: no project code is measured here.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define BENCH_PROG "index_sqlite"
#include "bench_util.h"

#define BATCH_ROWS 10000         /* rows per load transaction */
#define PROGRESS_ROWS 100000     /* a load rate line every this many rows */

static const char *const kind_sql[K_NKINDS] = {
	[K_SELECTIVE] = "SELECT body FROM events WHERE actor_id = ?1 AND action LIKE ?2 ESCAPE '\\'"
			" AND time >= ?3 AND time < ?4 ORDER BY time DESC LIMIT 100",
	[K_WORD] = "SELECT e.body FROM fts JOIN events e ON e.seq = fts.rowid WHERE fts MATCH ?1"
		   " ORDER BY e.time DESC LIMIT 100",
	[K_COUNT_BY_ACTION] = "SELECT action, count(*) FROM events GROUP BY action",
	[K_TIMELINE] = "SELECT body FROM events WHERE request_id = ?1 ORDER BY time",
};

/* ------------------------------------------------------------ time */

/* SQL st_time_ns(text): parse_time, NULL for NULL or a bad time. */
static void sql_st_time_ns(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *s = sqlite3_value_text(argv[0]);
	int64_t ns;
	(void)argc;
	if (s && parse_time((const char *)s, (size_t)sqlite3_value_bytes(argv[0]), &ns) == 0)
		sqlite3_result_int64(ctx, ns);
	else
		sqlite3_result_null(ctx);
}

/* ------------------------------------------------------------ SQLite */

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: preparing %s: %s\n", sql, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* The one text value of a one-row statement (a PRAGMA's answer), or "". */
static void pragma_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *s;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static const char *const schema[] = {
	("CREATE TABLE events (seq INTEGER PRIMARY KEY, tenant TEXT, time INTEGER, action TEXT,"
	 " actor_id TEXT, request_id TEXT, body TEXT NOT NULL)"),
	"CREATE INDEX events_actor_time ON events (actor_id, time)",
	"CREATE INDEX events_action ON events (action)",
	"CREATE INDEX events_request_id ON events (request_id)",
	"CREATE INDEX events_time ON events (time)",
	"CREATE VIRTUAL TABLE fts USING fts5(content, content='', tokenize='ascii')",
};

#define INSERT_C "INSERT INTO events (seq, tenant, time, action, actor_id, request_id, body)" \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
#define INSERT_SQL "INSERT INTO events (seq, tenant, time, action, actor_id, request_id, body)" \
	" VALUES (?1, ?2 ->> '$.tenant', st_time_ns(?2 ->> '$.time'), ?2 ->> '$.action'," \
	" ?2 ->> '$.actor.id', ?2 ->> '$.request_id', ?2)"
#define FTS_C "INSERT INTO fts (rowid, content) VALUES (?1, ?2)"
#define FTS_SQL "INSERT INTO fts (rowid, content)" \
	" SELECT ?1, group_concat(value, ' ') FROM json_tree(?2) WHERE type = 'text'"

static void bind_span(sqlite3_stmt *s, int i, const struct scan *sc, enum field f)
{
	if (sc->len[f] < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, sc->out + sc->off[f], (int)sc->len[f], SQLITE_STATIC);
}

static int step_done(sqlite3 *db, sqlite3_stmt *s, const char *what, long long seq)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "index_sqlite: %s of line %lld: %s\n", what, seq, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Load every line of path; the count in *ret_rows. 0 or -1. */
static int load(sqlite3 *db, const char *path, bool extract_c, long long *ret_rows, double *ret_s)
{
	sqlite3_stmt *ins = NULL, *fts = NULL;
	struct ndjson r;
	int got, rc = -1;

	if (ndjson_open(&r, path) < 0)
		return -1;
	if (prepare(db, extract_c ? INSERT_C : INSERT_SQL, &ins) < 0 ||
	    prepare(db, extract_c ? FTS_C : FTS_SQL, &fts) < 0)
		goto out;
	r.t0 = r.tw = now_ms();
	if (exec(db, "BEGIN") < 0)
		goto out;
	while ((got = ndjson_next(&r, extract_c)) > 0) {
		const struct scan *sc = &r.sc;
		long long seq = r.seq;
		if (r.n > INT32_MAX / 2) {
			fprintf(stderr, "index_sqlite: %s:%lld: line of %zu bytes\n", path, seq, r.n);
			goto out;
		}
		sqlite3_bind_int64(ins, 1, seq);
		sqlite3_bind_int64(fts, 1, seq);
		if (extract_c) {
			int64_t ns;
			bind_span(ins, 2, sc, F_TENANT);
			if (sc->len[F_TIME] >= 0 && parse_time(r.out + sc->off[F_TIME], (size_t)sc->len[F_TIME], &ns) == 0)
				sqlite3_bind_int64(ins, 3, ns);
			else
				sqlite3_bind_null(ins, 3);
			bind_span(ins, 4, sc, F_ACTION);
			bind_span(ins, 5, sc, F_ACTOR_ID);
			bind_span(ins, 6, sc, F_REQUEST_ID);
			sqlite3_bind_text(ins, 7, r.line, (int)r.n, SQLITE_STATIC);
			sqlite3_bind_text(fts, 2, r.out, (int)sc->olen, SQLITE_STATIC);
		} else {
			sqlite3_bind_text(ins, 2, r.line, (int)r.n, SQLITE_STATIC);
			sqlite3_bind_text(fts, 2, r.line, (int)r.n, SQLITE_STATIC);
		}
		if (step_done(db, ins, "insert into events", seq) < 0 ||
		    step_done(db, fts, "insert into fts", seq) < 0)
			goto out;
		if (seq % BATCH_ROWS == 0 && (exec(db, "COMMIT") < 0 || exec(db, "BEGIN") < 0))
			goto out;
		ndjson_progress(&r, PROGRESS_ROWS);
	}
	if (got < 0 || exec(db, "COMMIT") < 0)
		goto out;
	*ret_s = (now_ms() - r.t0) / 1e3;
	*ret_rows = r.seq;
	rc = 0;
out:
	if (rc < 0 && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);
	ndjson_close(&r);
	return rc;
}

/* ------------------------------------------------------------ queries */

/*
 * The bound forms of q's parameters: selective p1 = LIKE 'P%' with \
 * escaping P's % _ and \ (P ends in its dot); word p1 = an FTS5 string
 * "W" with " doubled. 0 or -1.
 */
static int sqlite_params(struct bq *q)
{
	const char *s = q->kind == K_SELECTIVE ? q->prefix : q->kind == K_WORD ? q->value : NULL;
	if (!s)
		return 0;
	char *m = malloc(2 * strlen(s) + 3), *o = m;
	if (!m)
		return -1;
	if (q->kind == K_SELECTIVE) {
		for (; *s; s++) {
			if (*s == '%' || *s == '_' || *s == '\\')
				*o++ = '\\';
			*o++ = *s;
		}
		*o++ = '%';
	} else {
		*o++ = '"';
		for (; *s; s++) {
			if (*s == '"')
				*o++ = '"';
			*o++ = *s;
		}
		*o++ = '"';
	}
	*o = '\0';
	q->p1 = m;
	return 0;
}

/* Where run_query's touched bytes go, so that reading them is not optimized away. */
static volatile size_t sink;

struct runner {
	sqlite3 *db;
	sqlite3_stmt *st[K_NKINDS];
};

/* bench_run_fn: q once on its class's statement, reading every row. */
static int run_query(void *ctx, const struct bq *q, long *ret_hits)
{
	struct runner *rn = ctx;
	sqlite3_stmt *s = rn->st[q->kind];
	long hits = 0;
	size_t touched = 0;
	int rc;

	switch (q->kind) {
	case K_SELECTIVE:
		sqlite3_bind_text(s, 1, q->actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, q->p1, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, q->t0);
		sqlite3_bind_int64(s, 4, q->t1);
		break;
	case K_WORD:
		sqlite3_bind_text(s, 1, q->p1, -1, SQLITE_STATIC);
		break;
	case K_TIMELINE:
		sqlite3_bind_text(s, 1, q->value, -1, SQLITE_STATIC);
		break;
	case K_COUNT_BY_ACTION:
	case K_NKINDS:
		break;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		if (t && n > 0)
			touched += t[0] + t[n - 1];
		hits++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "index_sqlite: %s query at line %zu: %s\n", q->cls, q->line,
			sqlite3_errmsg(rn->db));
		return -1;
	}
	sink += touched;
	*ret_hits = hits;
	return 0;
}

/* EXPLAIN QUERY PLAN of a class's statement, indented, on stdout. */
static void explain(sqlite3 *db, enum kind k)
{
	char sql[512];
	sqlite3_stmt *s;
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", kind_sql[k]);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(s) == SQLITE_ROW)
		printf("      %s\n", (const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
}

static int run_queries(sqlite3 *db, struct bq *q, long n, int runs, FILE *sum, FILE *hits)
{
	struct runner rn = { .db = db };
	int rc = -1;

	for (int k = 0; k < K_NKINDS; k++)
		if (prepare(db, kind_sql[k], &rn.st[k]) < 0)
			goto out;
	printf("  plans (EXPLAIN QUERY PLAN):\n");
	for (int k = 0; k < K_NKINDS; k++) {
		printf("    %s\n", kind_sql[k]);
		explain(db, (enum kind)k);
	}
	rc = run_classes(q, n, runs, sum, hits, run_query, &rn);
out:
	for (int k = 0; k < K_NKINDS; k++)
		sqlite3_finalize(rn.st[k]);
	return rc;
}

/* ------------------------------------------------------------ main */

static void sizes(sqlite3 *db, const char *db_path, const char *events_path)
{
	char wal[4096], buf[64];
	sqlite3_stmt *s;
	long long dbsz = file_size(db_path), nd = file_size(events_path);

	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	pragma_text(db, "PRAGMA page_count", buf, sizeof(buf));
	printf("  size: database %lld bytes (%.1f MiB, %s pages of 4096), WAL %lld bytes; NDJSON %lld bytes"
	       " (%.1f MiB); database / NDJSON = %.3f\n",
	       dbsz, (double)dbsz / 1048576.0, buf, file_size(wal), nd, (double)nd / 1048576.0,
	       nd > 0 ? (double)dbsz / (double)nd : 0.0);
	if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC",
			       -1, &s, NULL) != SQLITE_OK) {
		printf("  (no dbstat in this SQLite: no per-object sizes)\n");
		return;
	}
	printf("  per object (dbstat):\n");
	while (sqlite3_step(s) == SQLITE_ROW)
		printf("    %-22s %12lld bytes %8.1f MiB\n", (const char *)sqlite3_column_text(s, 0),
		       (long long)sqlite3_column_int64(s, 1), (double)sqlite3_column_int64(s, 1) / 1048576.0);
	sqlite3_finalize(s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_OPTIONS,
		{ "extract", required_argument, NULL, 'x' },
		{ "cache-mib", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_args a = { .runs = 3 };
	long cache_mib = 256;
	bool extract_c = true;
	struct bench_files bf = { 0 };
	sqlite3 *db = NULL;
	int c, rc = 1;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int known = bench_arg(&a, c, optarg);
		if (known < 0)
			goto usage;
		if (known)
			continue;
		switch (c) {
		case 'c':
			cache_mib = strtol(optarg, &end, 10);
			if (*end || cache_mib < 1 || cache_mib > 1 << 20)
				goto usage;
			break;
		case 'x':
			if (!strcmp(optarg, "c"))
				extract_c = true;
			else if (!strcmp(optarg, "sql"))
				extract_c = false;
			else
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || !a.db || !a.events || !a.queries)
		goto usage;
	const char *db_path = a.db, *events = a.events;
	if (file_size(db_path) > 0 || access(db_path, F_OK) == 0) {
		fprintf(stderr, "index_sqlite: %s exists: want a new database file\n", db_path);
		return 1;
	}

	if (bench_files_open(&bf, a.queries, a.out, a.hits) < 0)
		goto out;
	for (long i = 0; i < bf.n; i++)
		if (sqlite_params(&bf.q[i]) < 0) {
			fputs("index_sqlite: out of memory\n", stderr);
			goto out;
		}

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: opening %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	char jm[32], sync[32], cache[64], pagesz[32];
	char cache_sql[64];
	snprintf(cache_sql, sizeof(cache_sql), "PRAGMA cache_size = -%ld", cache_mib * 1024);
	pragma_text(db, "PRAGMA journal_mode = WAL", jm, sizeof(jm));
	if (strcmp(jm, "wal")) {
		fprintf(stderr, "index_sqlite: journal_mode = WAL refused (got '%s')\n", jm);
		goto out;
	}
	if (exec(db, "PRAGMA synchronous = NORMAL") < 0 || exec(db, cache_sql) < 0)
		goto out;
	pragma_text(db, "PRAGMA synchronous", sync, sizeof(sync));
	pragma_text(db, "PRAGMA cache_size", cache, sizeof(cache));
	pragma_text(db, "PRAGMA page_size", pagesz, sizeof(pagesz));
	if (sqlite3_create_function(db, "st_time_ns", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
				    NULL, sql_st_time_ns, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: st_time_ns: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	printf("  sqlite %s; journal_mode=%s, synchronous=%s (1 = NORMAL), page_size=%s, cache_size=%s"
	       " (KiB when negative), wal_autocheckpoint default (1000 pages)\n",
	       sqlite3_libversion(), jm, sync, pagesz, cache);
	printf("  fts: FTS5 content='' (contentless), tokenize='ascii', one column: the string values"
	       " joined by spaces\n");
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
		printf("  %s\n", schema[i]);
		if (exec(db, schema[i]) < 0)
			goto out;
	}

	long long rows = 0;
	double load_s = 0, t0;
	printf("  load: %s, extract in %s, %d rows per transaction, indexes and fts present\n", events,
	       extract_c ? "C (one JSON pass per line)" : "SQL (->> and json_tree)", BATCH_ROWS);
	fflush(stdout);
	if (load(db, events, extract_c, &rows, &load_s) < 0)
		goto out;
	printf("  load: %lld rows in %.2f s, %.0f rows/s (%.1f MB/s of NDJSON)\n", rows, load_s,
	       load_s > 0 ? (double)rows / load_s : 0.0,
	       load_s > 0 ? (double)file_size(events) / 1e6 / load_s : 0.0);
	t0 = now_ms();
	if (exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") < 0)
		goto out;
	printf("  wal_checkpoint(TRUNCATE) %.2f s", (now_ms() - t0) / 1e3);
	t0 = now_ms();
	if (exec(db, "ANALYZE") < 0)
		goto out;
	printf(", ANALYZE %.2f s\n", (now_ms() - t0) / 1e3);
	sizes(db, db_path, events);
	printf("  queries: per class a warm-up pass, then each query %ld times (median kept); wall from bind to"
	       " reset after the last row;\n    selective/word: LIMIT 100 newest first, body of each row read;"
	       " timeline: all rows oldest first;\n    count_by_action: every group; hits = rows (count_by_action:"
	       " groups); p50/p95/max nearest rank over the queries\n", a.runs);
	fflush(stdout);
	if (run_queries(db, bf.q, bf.n, (int)a.runs, bf.sum, bf.hits) < 0)
		goto out;
	printf("  rss: peak %.1f MiB (VmHWM)\n", (double)vm_hwm_kib() / 1024.0);
	rc = 0;
out:
	if (db && sqlite3_close(db) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: closing: %s\n", sqlite3_errmsg(db));
		rc = 1;
	}
	if (bench_files_close(&bf) < 0)
		rc = 1;
	return rc;

usage:
	fputs("usage: index_sqlite --db FILE --events EVENTS.ndjson --queries QUERIES.tsv [--runs R]"
	      " [--extract c|sql] [--cache-mib M] [--out FILE.tsv] [--hits FILE.tsv]\n", stderr);
	return 2;
}
