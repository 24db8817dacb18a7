/*
 * bench_util.h: what the index alternatives (bench/index_sqlite.c,
 * bench/index_lmdb.c) share, so that both read the same events and the
 * same queries the same way and time them alike. Header only, every
 * function static inline; a tool defines BENCH_PROG (its name, for
 * messages) before including it. Only libc.
 *
 *   - now_ms, pct (nearest rank), vm_hwm_kib, file_size;
 *   - parse_day, parse_time: RFC 3339 to nanoseconds since 1970;
 *   - scan_line: one pass over an NDJSON line that decodes every string
 *     value into one space-joined text (the word index's input) and
 *     remembers the spans of time, tenant, action, request_id, actor.id;
 *   - struct ndjson: the events file line by line, each with its seq,
 *     scanned on request, and the load's progress lines;
 *   - read_queries: QUERIES.tsv of bench/search_queries.py into struct bq,
 *     the Sealtrail column parsed into the class's parameters;
 *     bench_files_open/close: the queries with the --out and --hits files;
 *   - run_classes: per class a warm-up pass, then each query R times
 *     (median kept), p50/p95/max nearest rank over the queries, the
 *     summary TSV and, when asked, every query's hit count.
 *
 * Ownership: struct bq's strings are malloc'd by read_queries (p1 and p2
 * by the tool) and freed by bq_free_all.
 */
#ifndef SEALTRAIL_BENCH_UTIL_H
#define SEALTRAIL_BENCH_UTIL_H

#ifndef BENCH_PROG
#error "define BENCH_PROG (the tool's name) before including bench_util.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define MAX_QUERIES 100000
#define MAX_RUNS 100
#define MAX_DEPTH 64             /* JSON nesting the scanner follows */
#define NS_PER_DAY (86400LL * 1000000000LL)

enum kind { K_SELECTIVE, K_WORD, K_COUNT_BY_ACTION, K_TIMELINE, K_NKINDS };

struct bq {
	char *cls;
	char *st;            /* the Sealtrail column */
	size_t line;         /* 1-based line in the file */
	enum kind kind;
	/* parameters, parsed from st */
	char *actor;         /* selective: the actor id */
	char *prefix;        /* selective: the action prefix with its dot ("iam.role."), no star */
	char *value;         /* word: the word; timeline: the request id */
	int64_t t0, t1;      /* selective: the day, [t0, t1) in ns since 1970 */
	char *p1, *p2;       /* the tool's own forms of the parameters (owned, may be NULL) */
	double ms;           /* median of the measured runs */
	long hits;           /* rows read (count_by_action: groups) */
};

/* ------------------------------------------------------------ helpers */

static inline double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the ceil(p * n)-th smallest of sorted v[0..n). */
static inline double pct(const double *v, size_t n, double p)
{
	size_t r = (size_t)((double)n * p);
	if ((double)r < (double)n * p - 1e-9)
		r++;
	if (r < 1)
		r = 1;
	return v[r - 1];
}

/* Peak resident set size in KiB (VmHWM), or 0 when unreadable. */
static inline unsigned long long vm_hwm_kib(void)
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

static inline long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* ------------------------------------------------------------ time */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* k decimal digits at s, or -1. */
static inline int digits(const char *s, int k)
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
static inline int parse_day(const char *s, size_t n, int64_t *ret_days)
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
static inline int parse_time(const char *s, size_t n, int64_t *ret_ns)
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


/* ------------------------------------------------------------ the JSON scanner */

/*
 * One pass over an NDJSON line: every string value (not keys) is decoded
 * (escapes resolved, \u to UTF-8, a lone surrogate to U+FFFD) and appended
 * to out, single spaces between them -- the text the word index is built
 * from (SQLite's fts column, LMDB's word terms). The values of the
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

static inline void ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\r' || *sc->p == '\n'))
		sc->p++;
}

static inline int hex4(const char *s, const char *end, unsigned *ret)
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

static inline void put_utf8(struct scan *sc, unsigned cp)
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
static inline int scan_string_value(struct scan *sc, size_t *ret_off, size_t *ret_len)
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
static inline int scan_key(struct scan *sc, const char **ret_k, size_t *ret_n, bool *ret_esc)
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

static inline bool key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* One value; field >= 0: a string here is that field; actor: an object here is actor. */
static inline int scan_value(struct scan *sc, int depth, int field, bool actor)
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
static inline int scan_line(struct scan *sc, const char *line, size_t n, char *out)
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

/* ------------------------------------------------------------ the events file */

/*
 * NDJSON lines in order, each given its seq (the 1-based count of
 * non-empty lines) and, when asked, scanned. The reader owns line, out
 * and the file; ndjson_close releases them (NULL-safe on a zeroed one).
 */
struct ndjson {
	FILE *f;
	const char *path;        /* borrowed, for messages */
	char *line;              /* the current line, its newline cut off */
	size_t n, cap;
	char *out;               /* scan_line's text, out_cap >= n + 1 */
	size_t out_cap;
	long long seq;
	struct scan sc;          /* the current line's fields, when scanned */
	double t0, tw;           /* ndjson_progress's clock */
};

static inline int ndjson_open(struct ndjson *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	if (!(r->f = fopen(path, "r"))) {
		fprintf(stderr, BENCH_PROG ": cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	r->t0 = r->tw = now_ms();
	return 0;
}

/* The next non-empty line into r->line/r->n (scanned into r->sc when scan): 1, 0 at the end, -1. */
static inline int ndjson_next(struct ndjson *r, bool scan)
{
	ssize_t got;
	for (;;) {
		if ((got = getline(&r->line, &r->cap, r->f)) < 0) {
			if (ferror(r->f)) {
				fprintf(stderr, BENCH_PROG ": reading %s: %s\n", r->path, strerror(errno));
				return -1;
			}
			return 0;
		}
		r->n = (size_t)got;
		while (r->n > 0 && (r->line[r->n - 1] == '\n' || r->line[r->n - 1] == '\r'))
			r->n--;
		if (r->n > 0)
			break;
	}
	r->seq++;
	if (!scan)
		return 1;
	if (r->out_cap < r->n + 1) {
		free(r->out);
		r->out_cap = r->n + 1 > 4096 ? r->n + 1 : 4096;
		if (!(r->out = malloc(r->out_cap))) {
			r->out_cap = 0;
			fputs(BENCH_PROG ": out of memory\n", stderr);
			return -1;
		}
	}
	if (scan_line(&r->sc, r->line, r->n, r->out) < 0) {
		fprintf(stderr, BENCH_PROG ": %s:%lld: not a JSON value\n", r->path, r->seq);
		return -1;
	}
	return 1;
}

/* A load rate line every `every` lines (since the last one and since open). */
static inline void ndjson_progress(struct ndjson *r, long long every)
{
	if (r->seq % every)
		return;
	double t = now_ms();
	printf("  rows %9lld: %8.0f rows/s over the last %lld, %8.0f rows/s so far\n", r->seq,
	       (double)every / ((t - r->tw) / 1e3), every, (double)r->seq / ((t - r->t0) / 1e3));
	fflush(stdout);
	r->tw = t;
}

static inline void ndjson_close(struct ndjson *r)
{
	free(r->line);
	free(r->out);
	if (r->f)
		fclose(r->f);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ queries */

/* A term value at *p: "quoted" (\\ and \" escaped) or bare up to a space. */
static inline char *term_value(const char **p)
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
static inline int parse_selective(struct bq *q)
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
	prefix[pn - 1] = '\0';   /* "P.*" -> "P." */
	q->actor = actor;
	q->prefix = prefix;
	actor = prefix = NULL;
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
static inline int parse_query(struct bq *q)
{
	if (!strcmp(q->cls, "selective")) {
		q->kind = K_SELECTIVE;
		if (parse_selective(q) == 0)
			return 0;
		fprintf(stderr, BENCH_PROG ": line %zu: want actor.id:A action:P.* time:YYYY-MM-DD, found %s\n",
			q->line, q->st);
		return -1;
	}
	if (!strcmp(q->cls, "count_by_action")) {
		q->kind = K_COUNT_BY_ACTION;
		return 0;
	}
	if (!strcmp(q->cls, "word"))
		q->kind = K_WORD;
	else if (!strcmp(q->cls, "timeline"))
		q->kind = K_TIMELINE;
	else {
		fprintf(stderr, BENCH_PROG ": line %zu: unknown class %s\n", q->line, q->cls);
		return -1;
	}
	q->value = strdup(q->st);
	return q->value ? 0 : -1;
}

/* Read the TSV: three fields, tab-separated; returns the count or -1. */
static inline long read_queries(const char *path, struct bq *q, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t len = 0, n = 0, lineno = 0;
	ssize_t got;

	if (!f) {
		fprintf(stderr, BENCH_PROG ": cannot open %s: %s\n", path, strerror(errno));
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
			fprintf(stderr, BENCH_PROG ": %s:%zu: want class<TAB>sealtrail_query<TAB>sql\n",
				path, lineno);
			goto fail;
		}
		if (n == cap) {
			fprintf(stderr, BENCH_PROG ": %s: more than %zu queries\n", path, cap);
			goto fail;
		}
		*t1 = *t2 = '\0';
		q[n].cls = strdup(line);
		q[n].st = strdup(t1 + 1);
		q[n].line = lineno;
		if (!q[n].cls || !q[n].st) {
			fputs(BENCH_PROG ": out of memory\n", stderr);
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

/* Free the strings of q[0..cap) (the first with no class ends them) and q itself. */
static inline void bq_free_all(struct bq *q, size_t cap)
{
	for (size_t i = 0; q && i < cap && q[i].cls; i++) {
		free(q[i].cls);
		free(q[i].st);
		free(q[i].actor);
		free(q[i].prefix);
		free(q[i].value);
		free(q[i].p1);
		free(q[i].p2);
	}
	free(q);
}

/* ------------------------------------------------------------ a run's files */

/*
 * The options every tool takes: --db --events --queries --runs --out
 * --hits. BENCH_OPTIONS goes first in a tool's getopt_long table;
 * bench_arg takes one getopt result: 1 when it was one of these, 0 when
 * it is the tool's own, -1 for a bad value.
 */
struct bench_args {
	const char *db, *events, *queries, *out, *hits;   /* borrowed from argv */
	long runs;                                        /* default 3 */
};

#define BENCH_OPTIONS \
	{ "db", required_argument, NULL, 'd' }, \
	{ "events", required_argument, NULL, 'e' }, \
	{ "queries", required_argument, NULL, 'q' }, \
	{ "runs", required_argument, NULL, 'r' }, \
	{ "out", required_argument, NULL, 'o' }, \
	{ "hits", required_argument, NULL, 'h' }

static inline int bench_arg(struct bench_args *a, int c, const char *arg)
{
	char *end;
	switch (c) {
	case 'd': a->db = arg; return 1;
	case 'e': a->events = arg; return 1;
	case 'q': a->queries = arg; return 1;
	case 'o': a->out = arg; return 1;
	case 'h': a->hits = arg; return 1;
	case 'r':
		a->runs = strtol(arg, &end, 10);
		return *end || a->runs < 1 || a->runs > MAX_RUNS ? -1 : 1;
	default:
		return 0;
	}
}

/*
 * What a tool's main opens before it loads: the queries (*ret_q, MAX_QUERIES
 * slots, *ret_n of them used) and the optional --out and --hits files.
 * 0, or -1 with a message; bench_files_close releases whatever was opened
 * either way.
 */
struct bench_files {
	struct bq *q;
	long n;
	FILE *sum, *hits;
	const char *sum_path, *hits_path;   /* borrowed */
};

static inline int bench_files_open(struct bench_files *bf, const char *qpath, const char *sum_path,
				   const char *hits_path)
{
	memset(bf, 0, sizeof(*bf));
	bf->sum_path = sum_path;
	bf->hits_path = hits_path;
	if (!(bf->q = calloc(MAX_QUERIES, sizeof(*bf->q)))) {
		fputs(BENCH_PROG ": out of memory\n", stderr);
		return -1;
	}
	bf->n = read_queries(qpath, bf->q, MAX_QUERIES);
	if (bf->n <= 0) {
		if (bf->n == 0)
			fprintf(stderr, BENCH_PROG ": %s has no queries\n", qpath);
		return -1;
	}
	if (sum_path && !(bf->sum = fopen(sum_path, "w"))) {
		fprintf(stderr, BENCH_PROG ": cannot write %s: %s\n", sum_path, strerror(errno));
		return -1;
	}
	if (hits_path && !(bf->hits = fopen(hits_path, "w"))) {
		fprintf(stderr, BENCH_PROG ": cannot write %s: %s\n", hits_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Close and free what bench_files_open opened: 0, or -1 when a file's write failed. */
static inline int bench_files_close(struct bench_files *bf)
{
	int rc = 0;
	if (bf->sum && fclose(bf->sum) != 0) {
		fprintf(stderr, BENCH_PROG ": writing %s: %s\n", bf->sum_path, strerror(errno));
		rc = -1;
	}
	if (bf->hits && fclose(bf->hits) != 0) {
		fprintf(stderr, BENCH_PROG ": writing %s: %s\n", bf->hits_path, strerror(errno));
		rc = -1;
	}
	bq_free_all(bf->q, MAX_QUERIES);
	memset(bf, 0, sizeof(*bf));
	return rc;
}

/* ------------------------------------------------------------ timing */

/* Run q once, reading every hit's bytes: the hit count in *ret_hits. 0 or -1 (message printed). */
typedef int bench_run_fn(void *ctx, const struct bq *q, long *ret_hits);

/*
 * Classes in the order they first appear: a warm-up pass (each query
 * once), then each query runs times, its figure the median; a line per
 * class "class n p50 p95 max hits min/mean/max" on stdout, nearest rank.
 * sum (may be NULL) gets "class p50_ms p95_ms n"; hits (may be NULL)
 * "line class hits" a query, so two tools' answers can be compared.
 */
static inline int run_classes(struct bq *q, long n, int runs, FILE *sum, FILE *hits_out,
			      bench_run_fn *run, void *ctx)
{
	bool *done = calloc((size_t)n, sizeof(bool));
	size_t *idx = malloc((size_t)n * sizeof(size_t));
	double *v = malloc((size_t)n * sizeof(double));
	double r[MAX_RUNS];
	int rc = -1;

	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, BENCH_PROG ": %d runs: want 1 to %d\n", runs, MAX_RUNS);
		goto out;
	}
	if (!done || !idx || !v) {
		fputs(BENCH_PROG ": out of memory\n", stderr);
		goto out;
	}
	printf("  %-16s %4s %9s %9s %9s  %s\n", "class", "n", "p50_ms", "p95_ms", "max_ms", "hits min/mean/max");
	if (sum)
		fputs("class\tp50_ms\tp95_ms\tn\n", sum);
	if (hits_out)
		fputs("line\tclass\thits\n", hits_out);
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
			if (run(ctx, &q[idx[j]], &hits) < 0)
				goto out;
		}
		long hmin = -1, hmax = 0;
		double hsum = 0;
		for (size_t j = 0; j < k; j++) {
			struct bq *x = &q[idx[j]];
			for (int i = 0; i < runs; i++) {
				double t0 = now_ms();
				if (run(ctx, x, &x->hits) < 0)
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
			if (hits_out)
				fprintf(hits_out, "%zu\t%s\t%ld\n", x->line, x->cls, x->hits);
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
	free(done);
	free(idx);
	free(v);
	return rc;
}

#endif /* SEALTRAIL_BENCH_UTIL_H */
