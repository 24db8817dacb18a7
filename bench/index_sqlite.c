/*
 * index_sqlite: the SQLite side of the search benchmark (issue 4, the
 * measured alternatives of DECISIONS.md 21). SQLite does the job of
 * Sealtrail's index (src/index/, docs/INDEX.md) on the same events and
 * the same query set, in process, as bench/search_bench.c does for
 * Sealtrail:
 *
 *   index_sqlite --db FILE --events EVENTS.ndjson --queries QUERIES.tsv
 *                [--runs R] [--extract c|sql] [--cache-mib M] [--out FILE.tsv]
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
 * tab-separated line per class). Exit status 0; 1 when SQLite or the data
 * refused something (the message names the line); 2 on bad usage. Only
 * libc and libsqlite3: no project code is measured here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define MAX_QUERIES 100000
#define MAX_RUNS 100
#define MAX_DEPTH 64             /* JSON nesting the scanner follows */
#define BATCH_ROWS 10000         /* rows per load transaction */
#define PROGRESS_ROWS 100000     /* a load rate line every this many rows */
#define SEARCH_LIMIT 100
#define NS_PER_DAY (86400LL * 1000000000LL)

enum kind { K_SELECTIVE, K_WORD, K_COUNT_BY_ACTION, K_TIMELINE, K_NKINDS };

static const char *const kind_sql[K_NKINDS] = {
	[K_SELECTIVE] = "SELECT body FROM events WHERE actor_id = ?1 AND action LIKE ?2 ESCAPE '\\'"
			" AND time >= ?3 AND time < ?4 ORDER BY time DESC LIMIT 100",
	[K_WORD] = "SELECT e.body FROM fts JOIN events e ON e.seq = fts.rowid WHERE fts MATCH ?1"
		   " ORDER BY e.time DESC LIMIT 100",
	[K_COUNT_BY_ACTION] = "SELECT action, count(*) FROM events GROUP BY action",
	[K_TIMELINE] = "SELECT body FROM events WHERE request_id = ?1 ORDER BY time",
};

struct bq {
	char *cls;
	char *st;            /* the Sealtrail column */
	size_t line;         /* 1-based line in the file */
	enum kind kind;
	/* bound parameters, parsed from st */
	char *p1, *p2;       /* selective: actor id, LIKE pattern; word: MATCH; timeline: id */
	int64_t t0, t1;      /* selective: [t0, t1) */
	double ms;           /* median of the measured runs */
	long hits;           /* rows read (count_by_action: groups) */
};

/* ------------------------------------------------------------ helpers */

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
	size_t r = (size_t)((double)n * p);
	if ((double)r < (double)n * p - 1e-9)
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

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* ------------------------------------------------------------ time */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* k decimal digits at s, or -1. */
static int digits(const char *s, int k)
{
	int v = 0;
	for (int i = 0; i < k; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* YYYY-MM-DD at s[0..10): days since 1970 in *ret_days; 0 or -1. */
static int parse_day(const char *s, size_t n, int64_t *ret_days)
{
	int y, mo, d;
	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	*ret_days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	return 0;
}

/*
 * RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" of length n at s:
 * nanoseconds since 1970 (fraction digits past nine ignored) in *ret_ns.
 * 0, or -1 with *ret_ns untouched.
 */
static int parse_time(const char *s, size_t n, int64_t *ret_ns)
{
	int64_t days, ns = 0;
	int h, mi, se, scale = 100000000;
	size_t i = 19;

	if (n < 20 || parse_day(s, n, &days) < 0 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
		return -1;
	if (s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -1;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			ns += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	int64_t off = 0;
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		off = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60LL + om) * 60LL;
		if (s[i] == '-')
			off = -off;
	} else {
		return -1;
	}
	*ret_ns = ((days * 86400 + h * 3600LL + mi * 60LL + se) - off) * 1000000000LL + ns;
	return 0;
}

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

/* ------------------------------------------------------------ the JSON scanner */

/*
 * One pass over an NDJSON line: every string value (not keys) is decoded
 * (escapes resolved, \u to UTF-8, a lone surrogate to U+FFFD) and appended
 * to out, single spaces between them -- the fts text. The values of the
 * top-level keys time, tenant, action, request_id and of actor.id are
 * remembered as spans of out (the first string seen; absent: len -1).
 * Decoded text is never longer than its JSON, so out needs the line's
 * length plus one. Numbers, true, false, null are skipped without being
 * checked; a key with an escape never names a field.
 */
enum field { F_TIME, F_TENANT, F_ACTION, F_ACTOR_ID, F_REQUEST_ID, F_N };

struct scan {
	const char *p, *end;
	char *out;
	size_t olen;
	size_t off[F_N];
	long len[F_N];           /* -1: absent */
};

static void ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\r' || *sc->p == '\n'))
		sc->p++;
}

static int hex4(const char *s, const char *end, unsigned *ret)
{
	unsigned v = 0;
	if (end - s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static void put_utf8(struct scan *sc, unsigned cp)
{
	char *o = sc->out + sc->olen;
	if (cp < 0x80) {
		o[0] = (char)cp;
		sc->olen += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		sc->olen += 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		sc->olen += 3;
	} else {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		sc->olen += 4;
	}
}

/* A string value at sc->p (on the quote), decoded onto out; its span. */
static int scan_string_value(struct scan *sc, size_t *ret_off, size_t *ret_len)
{
	if (sc->olen > 0)
		sc->out[sc->olen++] = ' ';
	size_t start = sc->olen;
	sc->p++;
	while (sc->p < sc->end) {
		char c = *sc->p++;
		if (c == '"') {
			*ret_off = start;
			*ret_len = sc->olen - start;
			return 0;
		}
		if (c != '\\') {
			sc->out[sc->olen++] = c;
			continue;
		}
		if (sc->p >= sc->end)
			return -1;
		c = *sc->p++;
		switch (c) {
		case '"': case '\\': case '/':
			sc->out[sc->olen++] = c;
			break;
		case 'b': sc->out[sc->olen++] = '\b'; break;
		case 'f': sc->out[sc->olen++] = '\f'; break;
		case 'n': sc->out[sc->olen++] = '\n'; break;
		case 'r': sc->out[sc->olen++] = '\r'; break;
		case 't': sc->out[sc->olen++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(sc->p, sc->end, &cp) < 0)
				return -1;
			sc->p += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && sc->end - sc->p >= 6 && sc->p[0] == '\\' &&
			    sc->p[1] == 'u' && hex4(sc->p + 2, sc->end, &lo) == 0 && lo >= 0xdc00 &&
			    lo <= 0xdfff) {
				sc->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = 0xfffd;
			}
			put_utf8(sc, cp);
			break;
		}
		default:
			return -1;
		}
	}
	return -1;
}

/* A key at sc->p (on the quote): its raw bytes; *ret_esc when escaped. */
static int scan_key(struct scan *sc, const char **ret_k, size_t *ret_n, bool *ret_esc)
{
	const char *k = ++sc->p;
	bool esc = false;
	while (sc->p < sc->end && *sc->p != '"') {
		if (*sc->p == '\\') {
			esc = true;
			sc->p++;
		}
		sc->p++;
	}
	if (sc->p >= sc->end)
		return -1;
	*ret_k = k;
	*ret_n = (size_t)(sc->p - k);
	*ret_esc = esc;
	sc->p++;
	return 0;
}

static bool key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* One value; field >= 0: a string here is that field; actor: an object here is actor. */
static int scan_value(struct scan *sc, int depth, int field, bool actor)
{
	if (depth > MAX_DEPTH)
		return -1;
	ws(sc);
	if (sc->p >= sc->end)
		return -1;
	char c = *sc->p;
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		sc->p++;
		ws(sc);
		if (sc->p < sc->end && *sc->p == close) {
			sc->p++;
			return 0;
		}
		for (;;) {
			int child_field = -1;
			bool child_actor = false;
			if (c == '{') {
				const char *k;
				size_t kn;
				bool esc;
				ws(sc);
				if (sc->p >= sc->end || *sc->p != '"' || scan_key(sc, &k, &kn, &esc) < 0)
					return -1;
				ws(sc);
				if (sc->p >= sc->end || *sc->p != ':')
					return -1;
				sc->p++;
				if (!esc && depth == 0) {
					if (key_is(k, kn, "time"))
						child_field = F_TIME;
					else if (key_is(k, kn, "tenant"))
						child_field = F_TENANT;
					else if (key_is(k, kn, "action"))
						child_field = F_ACTION;
					else if (key_is(k, kn, "request_id"))
						child_field = F_REQUEST_ID;
					else if (key_is(k, kn, "actor"))
						child_actor = true;
				} else if (!esc && actor && key_is(k, kn, "id")) {
					child_field = F_ACTOR_ID;
				}
			}
			if (scan_value(sc, depth + 1, child_field, child_actor) < 0)
				return -1;
			ws(sc);
			if (sc->p >= sc->end)
				return -1;
			if (*sc->p == ',') {
				sc->p++;
				continue;
			}
			if (*sc->p != close)
				return -1;
			sc->p++;
			return 0;
		}
	}
	if (c == '"') {
		size_t off, len;
		if (scan_string_value(sc, &off, &len) < 0)
			return -1;
		if (field >= 0 && sc->len[field] < 0) {
			sc->off[field] = off;
			sc->len[field] = (long)len;
		}
		return 0;
	}
	const char *s = sc->p;
	while (sc->p < sc->end && !strchr(",}] \t\r\n", *sc->p))
		sc->p++;
	return sc->p > s ? 0 : -1;
}

/* Scan line[0..n) into out (n + 1 bytes). 0, or -1 when it is not JSON. */
static int scan_line(struct scan *sc, const char *line, size_t n, char *out)
{
	sc->p = line;
	sc->end = line + n;
	sc->out = out;
	sc->olen = 0;
	for (int i = 0; i < F_N; i++)
		sc->len[i] = -1;
	if (scan_value(sc, 0, -1, false) < 0)
		return -1;
	ws(sc);
	return sc->p == sc->end ? 0 : -1;
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
	FILE *f = fopen(path, "r");
	sqlite3_stmt *ins = NULL, *fts = NULL;
	char *line = NULL, *out = NULL;
	size_t cap = 0, out_cap = 0;
	ssize_t got;
	long long seq = 0;
	struct scan sc;
	int rc = -1;
	double t0, tw;

	if (!f) {
		fprintf(stderr, "index_sqlite: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (prepare(db, extract_c ? INSERT_C : INSERT_SQL, &ins) < 0 ||
	    prepare(db, extract_c ? FTS_C : FTS_SQL, &fts) < 0)
		goto out;
	t0 = tw = now_ms();
	if (exec(db, "BEGIN") < 0)
		goto out;
	while ((got = getline(&line, &cap, f)) >= 0) {
		size_t n = (size_t)got;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		seq++;
		if (n > INT32_MAX / 2) {
			fprintf(stderr, "index_sqlite: %s:%lld: line of %zu bytes\n", path, seq, n);
			goto out;
		}
		sqlite3_bind_int64(ins, 1, seq);
		sqlite3_bind_int64(fts, 1, seq);
		if (extract_c) {
			int64_t ns;
			if (out_cap < n + 1) {
				free(out);
				out_cap = n + 1 > 4096 ? n + 1 : 4096;
				if (!(out = malloc(out_cap))) {
					fputs("index_sqlite: out of memory\n", stderr);
					goto out;
				}
			}
			if (scan_line(&sc, line, n, out) < 0) {
				fprintf(stderr, "index_sqlite: %s:%lld: not a JSON value\n", path, seq);
				goto out;
			}
			bind_span(ins, 2, &sc, F_TENANT);
			if (sc.len[F_TIME] >= 0 && parse_time(out + sc.off[F_TIME], (size_t)sc.len[F_TIME], &ns) == 0)
				sqlite3_bind_int64(ins, 3, ns);
			else
				sqlite3_bind_null(ins, 3);
			bind_span(ins, 4, &sc, F_ACTION);
			bind_span(ins, 5, &sc, F_ACTOR_ID);
			bind_span(ins, 6, &sc, F_REQUEST_ID);
			sqlite3_bind_text(ins, 7, line, (int)n, SQLITE_STATIC);
			sqlite3_bind_text(fts, 2, out, (int)sc.olen, SQLITE_STATIC);
		} else {
			sqlite3_bind_text(ins, 2, line, (int)n, SQLITE_STATIC);
			sqlite3_bind_text(fts, 2, line, (int)n, SQLITE_STATIC);
		}
		if (step_done(db, ins, "insert into events", seq) < 0 ||
		    step_done(db, fts, "insert into fts", seq) < 0)
			goto out;
		if (seq % BATCH_ROWS == 0 && (exec(db, "COMMIT") < 0 || exec(db, "BEGIN") < 0))
			goto out;
		if (seq % PROGRESS_ROWS == 0) {
			double t = now_ms();
			printf("  rows %9lld: %8.0f rows/s over the last %d, %8.0f rows/s so far\n", seq,
			       PROGRESS_ROWS / ((t - tw) / 1e3), PROGRESS_ROWS, (double)seq / ((t - t0) / 1e3));
			fflush(stdout);
			tw = t;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "index_sqlite: reading %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (exec(db, "COMMIT") < 0)
		goto out;
	*ret_s = (now_ms() - t0) / 1e3;
	*ret_rows = seq;
	rc = 0;
out:
	if (rc < 0 && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);
	free(line);
	free(out);
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------ queries */

/* A term value at *p: "quoted" (\\ and \" escaped) or bare up to a space. */
static char *term_value(const char **p)
{
	const char *s = *p;
	size_t n = strlen(s);
	char *v = malloc(n + 1), *o = v;
	if (!v)
		return NULL;
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			*o++ = *s;
		}
		if (*s != '"') {
			free(v);
			return NULL;
		}
		s++;
	} else {
		while (*s && *s != ' ')
			*o++ = *s++;
	}
	*o = '\0';
	*p = s;
	return v;
}

/* "actor.id:A action:P.* time:YYYY-MM-DD" into q's parameters. 0 or -1. */
static int parse_selective(struct bq *q)
{
	const char *p = q->st;
	char *actor = NULL, *prefix = NULL, *day = NULL;
	int rc = -1;
	while (*p) {
		char **dst;
		if (!strncmp(p, "actor.id:", 9)) {
			dst = &actor;
			p += 9;
		} else if (!strncmp(p, "action:", 7)) {
			dst = &prefix;
			p += 7;
		} else if (!strncmp(p, "time:", 5)) {
			dst = &day;
			p += 5;
		} else {
			goto out;
		}
		if (*dst)
			goto out;
		if (!(*dst = term_value(&p)))
			goto out;
		while (*p == ' ')
			p++;
	}
	size_t pn = prefix ? strlen(prefix) : 0;
	int64_t days;
	if (!actor || pn < 3 || strcmp(prefix + pn - 2, ".*") || !day || strlen(day) != 10 ||
	    parse_day(day, 10, &days) < 0)
		goto out;
	/* LIKE 'P.%' with \ escaping P's % _ and \ */
	char *like = malloc(2 * pn + 2), *o = like;
	if (!like)
		goto out;
	for (size_t i = 0; i < pn - 1; i++) {
		if (prefix[i] == '%' || prefix[i] == '_' || prefix[i] == '\\')
			*o++ = '\\';
		*o++ = prefix[i];
	}
	*o++ = '%';
	*o = '\0';
	q->p1 = actor;
	q->p2 = like;
	actor = NULL;
	q->t0 = days * NS_PER_DAY;
	q->t1 = q->t0 + NS_PER_DAY;
	rc = 0;
out:
	free(actor);
	free(prefix);
	free(day);
	return rc;
}

/* The class and parameters of q from its columns. 0 or -1 (message printed). */
static int parse_query(struct bq *q)
{
	if (!strcmp(q->cls, "selective")) {
		q->kind = K_SELECTIVE;
		if (parse_selective(q) == 0)
			return 0;
		fprintf(stderr, "index_sqlite: line %zu: want actor.id:A action:P.* time:YYYY-MM-DD, found %s\n",
			q->line, q->st);
		return -1;
	}
	if (!strcmp(q->cls, "word")) {
		/* an FTS5 string: "W", with " doubled */
		size_t n = strlen(q->st);
		char *m = malloc(2 * n + 3), *o = m;
		if (!m)
			return -1;
		*o++ = '"';
		for (const char *s = q->st; *s; s++) {
			if (*s == '"')
				*o++ = '"';
			*o++ = *s;
		}
		*o++ = '"';
		*o = '\0';
		q->kind = K_WORD;
		q->p1 = m;
		return 0;
	}
	if (!strcmp(q->cls, "count_by_action")) {
		q->kind = K_COUNT_BY_ACTION;
		return 0;
	}
	if (!strcmp(q->cls, "timeline")) {
		q->kind = K_TIMELINE;
		q->p1 = strdup(q->st);
		return q->p1 ? 0 : -1;
	}
	fprintf(stderr, "index_sqlite: line %zu: unknown class %s\n", q->line, q->cls);
	return -1;
}

/* Read the TSV: three fields, tab-separated; returns the count or -1. */
static long read_queries(const char *path, struct bq *q, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t len = 0, n = 0, lineno = 0;
	ssize_t got;

	if (!f) {
		fprintf(stderr, "index_sqlite: cannot open %s: %s\n", path, strerror(errno));
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
		if (!t1 || !t2 || t1 == line || t2 == t1 + 1) {
			fprintf(stderr, "index_sqlite: %s:%zu: want class<TAB>sealtrail_query<TAB>sql\n",
				path, lineno);
			goto fail;
		}
		if (n == cap) {
			fprintf(stderr, "index_sqlite: %s: more than %zu queries\n", path, cap);
			goto fail;
		}
		*t1 = *t2 = '\0';
		q[n].cls = strdup(line);
		q[n].st = strdup(t1 + 1);
		q[n].line = lineno;
		if (!q[n].cls || !q[n].st) {
			fputs("index_sqlite: out of memory\n", stderr);
			goto fail;
		}
		if (parse_query(&q[n]) < 0)
			goto fail;
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

/* Where run_query's touched bytes go, so that reading them is not optimized away. */
static volatile size_t sink;

/* Run q once on its class's statement, reading every row: rows in *ret_hits. */
static int run_query(sqlite3 *db, sqlite3_stmt *s, const struct bq *q, long *ret_hits)
{
	long hits = 0;
	size_t touched = 0;
	int rc;

	switch (q->kind) {
	case K_SELECTIVE:
		sqlite3_bind_text(s, 1, q->p1, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, q->p2, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, q->t0);
		sqlite3_bind_int64(s, 4, q->t1);
		break;
	case K_WORD:
	case K_TIMELINE:
		sqlite3_bind_text(s, 1, q->p1, -1, SQLITE_STATIC);
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
		fprintf(stderr, "index_sqlite: %s query at line %zu: %s\n", q->cls, q->line, sqlite3_errmsg(db));
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

static int run_queries(sqlite3 *db, struct bq *q, long n, int runs, FILE *sum)
{
	sqlite3_stmt *st[K_NKINDS] = { 0 };
	bool *done = calloc((size_t)n, sizeof(bool));
	size_t *idx = malloc((size_t)n * sizeof(size_t));
	double *v = malloc((size_t)n * sizeof(double));
	double r[MAX_RUNS];
	int rc = -1;

	if (!done || !idx || !v) {
		fputs("index_sqlite: out of memory\n", stderr);
		goto out;
	}
	for (int k = 0; k < K_NKINDS; k++)
		if (prepare(db, kind_sql[k], &st[k]) < 0)
			goto out;
	printf("  plans (EXPLAIN QUERY PLAN):\n");
	for (int k = 0; k < K_NKINDS; k++) {
		printf("    %s\n", kind_sql[k]);
		explain(db, (enum kind)k);
	}
	printf("  %-16s %4s %9s %9s %9s  %s\n", "class", "n", "p50_ms", "p95_ms", "max_ms", "hits min/mean/max");
	if (sum)
		fputs("class\tp50_ms\tp95_ms\tn\n", sum);
	for (long first = 0; first < n; first++) {
		if (done[first])
			continue;
		const char *cls = q[first].cls;
		size_t k = 0;
		for (long i = first; i < n; i++)
			if (!done[i] && !strcmp(q[i].cls, cls)) {
				done[i] = true;
				idx[k++] = (size_t)i;
			}
		for (size_t j = 0; j < k; j++) {   /* warm-up */
			long hits;
			if (run_query(db, st[q[idx[j]].kind], &q[idx[j]], &hits) < 0)
				goto out;
		}
		long hmin = -1, hmax = 0;
		double hsum = 0;
		for (size_t j = 0; j < k; j++) {
			struct bq *x = &q[idx[j]];
			for (int i = 0; i < runs; i++) {
				double t0 = now_ms();
				if (run_query(db, st[x->kind], x, &x->hits) < 0)
					goto out;
				r[i] = now_ms() - t0;
			}
			qsort(r, (size_t)runs, sizeof(double), cmp_double);
			x->ms = r[(runs - 1) / 2];
			v[j] = x->ms;
			if (hmin < 0 || x->hits < hmin)
				hmin = x->hits;
			if (x->hits > hmax)
				hmax = x->hits;
			hsum += (double)x->hits;
		}
		qsort(v, k, sizeof(double), cmp_double);
		double p50 = pct(v, k, 0.50), p95 = pct(v, k, 0.95);
		printf("  %-16s %4zu %9.3f %9.3f %9.3f  %ld/%.1f/%ld\n", cls, k, p50, p95, v[k - 1], hmin,
		       hsum / (double)k, hmax);
		fflush(stdout);
		if (sum)
			fprintf(sum, "%s\t%.3f\t%.3f\t%zu\n", cls, p50, p95, k);
	}
	rc = 0;
out:
	for (int k = 0; k < K_NKINDS; k++)
		sqlite3_finalize(st[k]);
	free(done);
	free(idx);
	free(v);
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
		{ "db", required_argument, NULL, 'd' },
		{ "events", required_argument, NULL, 'e' },
		{ "queries", required_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "extract", required_argument, NULL, 'x' },
		{ "cache-mib", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db_path = NULL, *events = NULL, *qpath = NULL, *out_path = NULL;
	long runs = 3, cache_mib = 256;
	bool extract_c = true;
	struct bq *q = NULL;
	sqlite3 *db = NULL;
	FILE *sum = NULL;
	long n = 0;
	int c, rc = 1;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db_path = optarg; break;
		case 'e': events = optarg; break;
		case 'q': qpath = optarg; break;
		case 'o': out_path = optarg; break;
		case 'r':
			runs = strtol(optarg, &end, 10);
			if (*end || runs < 1 || runs > MAX_RUNS)
				goto usage;
			break;
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
	if (optind != argc || !db_path || !events || !qpath)
		goto usage;
	if (file_size(db_path) > 0 || access(db_path, F_OK) == 0) {
		fprintf(stderr, "index_sqlite: %s exists: want a new database file\n", db_path);
		return 1;
	}

	if (!(q = calloc(MAX_QUERIES, sizeof(*q)))) {
		fputs("index_sqlite: out of memory\n", stderr);
		return 1;
	}
	n = read_queries(qpath, q, MAX_QUERIES);
	if (n <= 0) {
		if (n == 0)
			fprintf(stderr, "index_sqlite: %s has no queries\n", qpath);
		goto out;
	}
	if (out_path && !(sum = fopen(out_path, "w"))) {
		fprintf(stderr, "index_sqlite: cannot write %s: %s\n", out_path, strerror(errno));
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
	       " groups); p50/p95/max nearest rank over the queries\n", runs);
	fflush(stdout);
	if (run_queries(db, q, n, (int)runs, sum) < 0)
		goto out;
	printf("  rss: peak %.1f MiB (VmHWM)\n", (double)vm_hwm_kib() / 1024.0);
	rc = 0;
out:
	if (db && sqlite3_close(db) != SQLITE_OK) {
		fprintf(stderr, "index_sqlite: closing: %s\n", sqlite3_errmsg(db));
		rc = 1;
	}
	if (sum && fclose(sum) != 0) {
		fprintf(stderr, "index_sqlite: writing %s: %s\n", out_path, strerror(errno));
		rc = 1;
	}
	for (long i = 0; q && i < MAX_QUERIES && q[i].cls; i++) {
		free(q[i].cls);
		free(q[i].st);
		free(q[i].p1);
		free(q[i].p2);
	}
	free(q);
	return rc;

usage:
	fputs("usage: index_sqlite --db FILE --events EVENTS.ndjson --queries QUERIES.tsv [--runs R]"
	      " [--extract c|sql] [--cache-mib M] [--out FILE.tsv]\n", stderr);
	return 2;
}
