/*
 * cmd_query.c - the search commands: query, stats, timeline, tail, and
 * reindex. docs/QUERY.md has the language, docs/API.md the endpoints.
 *
 *   sealtrail query    [SOURCE] [--sort S] [--limit N] [--all] [FORMAT] 'Q'
 *   sealtrail stats    [SOURCE] --by FIELD [--top K] [--interval 5m] [FORMAT] ['Q']
 *   sealtrail timeline [SOURCE] [--trace|--parent] [--skew 5m] [FORMAT] ID
 *   sealtrail tail     [SOURCE] [-f] [-n N] [FORMAT] ['Q']
 *   sealtrail reindex  --data DIR
 * SOURCE: --url URL [--token-file F] [--cacert F] [--tenant T]  (a server;
 *         the token from the file or SEALTRAIL_TOKEN), or --data DIR (an
 *         operator on the data directory, with the server stopped: the
 *         index is brought up to date first).
 * FORMAT: a table on a terminal, JSON lines (--json: one stored entry a
 *         line; stats and timeline rows as objects), or CSV (--csv).
 *
 * Both sources yield the same rows: server responses are read with the
 * same JSON walker the index uses (index/jwalk.h).
 */
#include "cli/cli.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "index/index.h"
#include "index/jwalk.h"
#include "log/segment.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX ((size_t)64 << 20)

enum fmt { FMT_TABLE, FMT_JSON, FMT_CSV };

struct opts {
	const char *url, *data, *token_file, *cacert, *tenant;
	const char *sort, *by, *interval, *skew;
	const char *idkey;
	uint64_t limit, top;
	bool all, follow;
	enum fmt fmt;
};

struct src {
	struct opts *o;
	struct cli_http h;
	struct buf token;
	bool http;
	struct log *log;
	struct index *ix;
};

static const char usage_text[] =
	"usage: sealtrail query    [SOURCE] [--sort -time|time|-seq|seq] [--limit N] [--all] [FORMAT] 'QUERY'\n"
	"       sealtrail stats    [SOURCE] [--by FIELD] [--top K] [--interval 5m] [FORMAT] ['QUERY']\n"
	"       sealtrail timeline [SOURCE] [--trace|--parent] [--skew 5m] [FORMAT] ID\n"
	"       sealtrail tail     [SOURCE] [-f] [-n N] [FORMAT] ['QUERY']\n"
	"       sealtrail reindex  --data DIR\n"
	"SOURCE: --url URL [--token-file F] [--cacert F] [--tenant T]  or  --data DIR\n"
	"FORMAT: a table (default), --json (JSON lines) or --csv\n"
	"The token comes from --token-file or SEALTRAIL_TOKEN. The language: docs/QUERY.md.\n"
	"A query that starts with - (a negation) goes after --: sealtrail query --url U -- '-outcome:success'\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* ---- sources ------------------------------------------------------------- */

static bool src_open(struct src *s, struct opts *o)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	buf_init(&s->token, CLI_TOKEN_MAX);
	if (!!o->url == !!o->data) {
		cli_err("expected one of --url URL (a server) or --data DIR (the data directory)");
		return false;
	}
	if (o->data) {
		char err[512];
		if (o->tenant) {
			cli_err("--tenant is for --url; with --data, put tenant:NAME in the query");
			return false;
		}
		if (!(s->log = cli_open(o->data)))
			return false;
		int r = index_open(&s->ix, s->log, o->data, NULL, err, sizeof(err));
		if (r < 0) {
			cli_err("index: %s", err);
			return false;
		}
		if ((r = index_catch_up(s->ix)) < 0) {
			cli_err("index: bringing it up to date: %s", st_strerror(r));
			return false;
		}
		return true;
	}
	s->http = true;
	return cli_http_open(&s->h, &s->token, o->url, o->token_file, o->cacert, "sealtrail-query");
}

static void src_close(struct src *s)
{
	if (s->http)
		cli_http_close(&s->h, &s->token);
	index_close(s->ix);
	log_close(s->log);
	if (s->token.data)
		st_wipe(s->token.data, s->token.cap);
	buf_release(&s->token);
}

/* Percent-encodes v as a query parameter value into b. */
/* GETs path (a C string) into out; non-200 prints the server's error. */
static int src_get(struct src *s, struct buf *path, struct buf *out)
{
	long code = 0;
	if (s->o->tenant)
		cli_put_param(path, "tenant", s->o->tenant);
	buf_cstr(path);
	buf_reset(out);
	int r = cli_http_get(&s->h, (const char *)path->data, out, &code);
	if (r < 0)
		return r;
	if (code != 200) {
		cli_err("HTTP %ld: %.*s", code, (int)(out->len > 1000 ? 1000 : out->len),
			out->len ? (const char *)out->data : "");
		return code == 401 || code == 403 ? -EACCES : -EPROTO;
	}
	return 0;
}

/* ---- a minimal reader of our own JSON responses -------------------------- */

/* End of the JSON value starting at p (strings, objects, arrays, scalars),
 * or NULL when it runs past end. The server's output is well-formed; this
 * only has to be safe, not validating. */
static const char *value_end(const char *p, const char *end)
{
	int depth = 0;
	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return NULL;
			p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (*p == ',' || *p == ':') {
			p++;
		} else {
			while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ':')
				p++;
		}
	} while (depth > 0);
	return p;
}

struct member { const char *key; size_t klen; const char *v; size_t vlen; };

/* Calls fn for each object of the top-level array named key. */
static int each_object(const char *body, size_t n, const char *key,
		       int (*fn)(void *, const struct member *, size_t), void *ctx)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":[", key);
	const char *end = body + n, *p = memmem(body, n, pat, strlen(pat));
	if (!p)
		return 0;
	p += strlen(pat);
	while (p < end && *p == '{') {
		struct member m[16];
		size_t nm = 0;
		p++;
		while (p < end && *p == '"') {
			const char *k = p + 1, *ke = value_end(p, end);
			if (!ke || ke >= end || *ke != ':')
				return ST_EINVAL;
			const char *v = ke + 1, *ve = value_end(v, end);
			if (!ve)
				return ST_EINVAL;
			if (nm < 16)
				m[nm++] = (struct member){k, (size_t)(ke - 1 - k), v, (size_t)(ve - v)};
			p = ve;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end || *p != '}')
			return ST_EINVAL;
		p++;
		int r = fn(ctx, m, nm);
		if (r)
			return r;
		if (p < end && *p == ',')
			p++;
	}
	return 0;
}

static const struct member *member(const struct member *m, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].klen == strlen(k) && memcmp(m[i].key, k, m[i].klen) == 0)
			return &m[i];
	return NULL;
}

/* The string value (without quotes, escapes kept) of a top-level member. */
static bool top_string(const struct buf *b, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = memmem(b->data, b->len, pat, strlen(pat));
	if (!p)
		return false;
	p += strlen(pat);
	const char *e = memchr(p, '"', (size_t)((const char *)b->data + b->len - p));
	if (!e || (size_t)(e - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
	return true;
}

/* ---- rows ---------------------------------------------------------------- */

#define NCOLS 7
static const char *const col_name[NCOLS] = { "TIME", "SEQ", "TENANT", "ACTOR", "ACTION", "RESOURCE", "OUTCOME" };
static const int col_width[NCOLS] = { 24, 8, 12, 26, 28, 30, 8 };

struct row {
	char col[NCOLS][160];
	char extra[64];          /* timeline: skew */
};

static void set_col(struct row *r, int i, const char *v, size_t n)
{
	if (r->col[i][0] && i == 5) {   /* resource: type:id */
		size_t l = strlen(r->col[i]);
		snprintf(r->col[i] + l, sizeof(r->col[i]) - l, ":%.*s", (int)n, v);
		return;
	}
	snprintf(r->col[i], sizeof(r->col[i]), "%.*s", (int)n, v);
}

static int row_leaf(void *ctx, const struct jw_leaf *lf)
{
	static const struct { const char *path; int col; } map[] = {
		{"time", 0}, {"seq", 1}, {"tenant", 2}, {"actor.id", 3}, {"action", 4},
		{"resource.type", 5}, {"resource.id", 5}, {"outcome", 6},
	};
	struct row *r = ctx;
	if (lf->type == JW_OBJECT || lf->type == JW_ARRAY)
		return 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].path) == lf->path_len && !memcmp(map[i].path, lf->path, lf->path_len))
			set_col(r, map[i].col, lf->val, lf->val_len);
	return 0;
}

static void csv_field(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

struct printer {
	enum fmt fmt;
	bool header_done;
	bool timeline;
	uint64_t rows;
};

static void print_header(struct printer *pr)
{
	if (pr->header_done || pr->fmt == FMT_JSON)
		return;
	pr->header_done = true;
	for (int i = 0; i < NCOLS; i++) {
		if (pr->fmt == FMT_CSV)
			printf("%s%s", i ? "," : "", col_name[i]);
		else
			printf("%-*s ", col_width[i], col_name[i]);
	}
	if (pr->timeline)
		printf(pr->fmt == FMT_CSV ? ",SKEW" : "SKEW");
	putchar('\n');
}

/* One stored entry (and the timeline's skew text) as a row. */
static void print_entry(struct printer *pr, const uint8_t *e, size_t n, const char *extra)
{
	if (pr->fmt == FMT_JSON) {
		fwrite(e, 1, n, stdout);
		putchar('\n');
		pr->rows++;
		return;
	}
	struct row r;
	memset(&r, 0, sizeof(r));
	jwalk(e, n, row_leaf, &r);
	print_header(pr);
	for (int i = 0; i < NCOLS; i++) {
		if (pr->fmt == FMT_CSV) {
			if (i)
				putchar(',');
			csv_field(r.col[i]);
		} else {
			int w = col_width[i];
			printf("%-*.*s ", w, w, r.col[i]);
		}
	}
	if (pr->timeline)
		printf(pr->fmt == FMT_CSV ? ",%s" : "%s", extra ? extra : "");
	putchar('\n');
	pr->rows++;
}

/* ---- query --------------------------------------------------------------- */

struct page_ctx {
	struct printer *pr;
	uint64_t last_seq;
	bool any;
	bool reverse;               /* tail: the newest page, printed oldest first */
	struct buf held;            /* entries held for reverse printing, NUL-separated lengths */
};

static int print_member_entry(void *ctx, const struct member *m, size_t n)
{
	struct page_ctx *pc = ctx;
	const struct member *e = member(m, n, "entry"), *sq = member(m, n, "seq");
	if (!e)
		return 0;
	if (sq) {
		uint64_t v;
		if (st_parse_u64(sq->v, sq->vlen, &v) && (!pc->any || v > pc->last_seq))
			pc->last_seq = v;   /* the newest seen, in either order */
	}
	pc->any = true;
	if (pc->reverse) {
		uint32_t l = (uint32_t)e->vlen;
		buf_append(&pc->held, &l, 4);
		buf_append(&pc->held, e->v, e->vlen);
		return 0;
	}
	print_entry(pc->pr, (const uint8_t *)e->v, e->vlen, NULL);
	return 0;
}

static void print_held_reversed(struct page_ctx *pc)
{
	size_t n = 0, *offs = NULL;
	for (size_t p = 0; p + 4 <= pc->held.len;) {
		uint32_t l;
		memcpy(&l, pc->held.data + p, 4);
		size_t *no = realloc(offs, (n + 1) * sizeof(*offs));
		if (!no)
			break;
		offs = no;
		offs[n++] = p;
		p += 4 + l;
	}
	while (n--) {
		uint32_t l;
		memcpy(&l, pc->held.data + offs[n], 4);
		print_entry(pc->pr, pc->held.data + offs[n] + 4, l, NULL);
	}
	free(offs);
	buf_reset(&pc->held);
}

static const struct index_scope all_scope = { .all = true };

/* One page from the data directory; *more and the cursor advanced. */
static int local_page(struct src *s, const char *qtext, enum index_sort sort, size_t limit,
		      struct index_cursor *cur, struct page_ctx *pc, bool *more)
{
	struct query *q = NULL;
	struct query_error qe;
	struct index_hit *hits = calloc(limit, sizeof(*hits));
	struct buf e = BUF_INIT(SEG_FRAME_MAX + 64);
	int r;

	if (!hits)
		return -ENOMEM;
	if ((r = query_parse(qtext, strlen(qtext), now_realtime_ns(), &q, &qe)) < 0) {
		cli_err("query: %s", qe.msg);
		goto out;
	}
	struct index_search se = { .q = q, .qtext = qtext, .qtext_len = strlen(qtext),
				   .scope = &all_scope, .sort = sort, .limit = limit,
				   .cursor = *cur, .hits = hits };
	if ((r = index_search(s->ix, &se)) < 0) {
		cli_err("search: %s", r == ST_ELIMIT ? "the query is too broad to check one by one; narrow it"
						      : st_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < se.nhits; i++) {
		buf_reset(&e);
		if ((r = log_read_entry(s->log, hits[i].seq, &e)) < 0) {
			cli_err("entry %llu: %s", (unsigned long long)hits[i].seq, st_strerror(r));
			goto out;
		}
		if (!pc->any || hits[i].seq > pc->last_seq)
			pc->last_seq = hits[i].seq;
		pc->any = true;
		if (pc->reverse) {
			uint32_t l = (uint32_t)e.len;
			buf_append(&pc->held, &l, 4);
			buf_append(&pc->held, e.data, e.len);
		} else {
			print_entry(pc->pr, e.data, e.len, NULL);
		}
	}
	*more = se.more;
	*cur = se.next;
out:
	query_free(q);
	free(hits);
	buf_release(&e);
	return r;
}

/* One page from the server. */
static int remote_page(struct src *s, const char *qtext, const char *sort, size_t limit,
		       char *cursor, uint64_t after_seq, struct page_ctx *pc, bool *more)
{
	struct buf path = BUF_INIT(16384), body = BUF_INIT(RESP_MAX);
	char lim[24];
	int r;

	/* fresh=1: what was acknowledged before the command ran is in the
	 * answer (the server waits for its index, at most 5 s). */
	buf_puts(&path, "v1/events?fresh=1");
	cli_put_param(&path, "q", qtext);
	cli_put_param(&path, "sort", sort);
	snprintf(lim, sizeof(lim), "%zu", limit);
	cli_put_param(&path, "limit", lim);
	if (cursor[0]) {
		cli_put_param(&path, "cursor", cursor);
	} else if (after_seq != UINT64_MAX) {
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)after_seq);
		cli_put_param(&path, "after_seq", lim);
	}
	if ((r = src_get(s, &path, &body)) < 0)
		goto out;
	if ((r = each_object((const char *)body.data, body.len, "events", print_member_entry, pc)) < 0) {
		cli_err("the server's answer could not be read");
		goto out;
	}
	*more = memmem(body.data, body.len, "\"more\":true", 11) != NULL;
	if (!top_string(&body, "next_cursor", cursor, INDEX_CURSOR_MAX + 1))
		cursor[0] = 0;
out:
	buf_release(&path);
	buf_release(&body);
	return r;
}

static int run_query(struct src *s, const char *qtext)
{
	struct opts *o = s->o;
	struct printer pr = { .fmt = o->fmt };
	struct page_ctx pc = { .pr = &pr, .held = BUF_INIT(RESP_MAX) };
	enum index_sort sort = IX_SORT_TIME_DESC;
	const char *sortname = o->sort ? o->sort : "-time";
	char cursor[INDEX_CURSOR_MAX + 2] = "";
	struct index_cursor cur = {0};
	uint64_t left = o->all ? UINT64_MAX : o->limit;
	bool more = true;
	int r = 0;

	if (!index_sort_parse(sortname, strlen(sortname), &sort)) {
		cli_err("--sort: expected -time, time, -seq or seq, found \"%s\"", sortname);
		return EXIT_USAGE;
	}
	while (more && left > 0) {
		size_t lim = left < INDEX_LIMIT_MAX ? (size_t)left : INDEX_LIMIT_MAX;
		uint64_t before = pr.rows;
		if (s->http)
			r = remote_page(s, qtext, sortname, lim, cursor, UINT64_MAX, &pc, &more);
		else
			r = local_page(s, qtext, sort, lim, &cur, &pc, &more);
		if (r < 0)
			break;
		left -= pr.rows - before < left ? pr.rows - before : left;
		if (!o->all)
			break;
	}
	if (r == 0 && pr.fmt == FMT_TABLE && isatty(1) && more && !o->all)
		fprintf(stderr, "(more: --limit N or --all)\n");
	buf_release(&pc.held);
	return r < 0 ? 1 : 0;
}

/* ---- tail ---------------------------------------------------------------- */

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int run_tail(struct src *s, const char *qtext)
{
	struct opts *o = s->o;
	struct printer pr = { .fmt = o->fmt };
	struct page_ctx pc = { .pr = &pr, .reverse = true, .held = BUF_INIT(RESP_MAX) };
	char cursor[INDEX_CURSOR_MAX + 2] = "";
	struct index_cursor cur = {0};
	bool more;
	int r;
	size_t n = o->limit ? (size_t)(o->limit < INDEX_LIMIT_MAX ? o->limit : INDEX_LIMIT_MAX) : 10;

	if (o->follow && !s->http) {
		cli_err("tail -f follows a running server: use --url (with --data the server must be stopped, so nothing arrives)");
		return EXIT_USAGE;
	}
	/* The newest n, printed oldest first. */
	if (s->http)
		r = remote_page(s, qtext, "-seq", n, cursor, UINT64_MAX, &pc, &more);
	else
		r = local_page(s, qtext, IX_SORT_SEQ_DESC, n, &cur, &pc, &more);
	print_held_reversed(&pc);
	fflush(stdout);
	if (r < 0 || !o->follow)
		goto out;
	pc.reverse = false;
	uint64_t after = pc.any ? pc.last_seq : UINT64_MAX;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	cursor[0] = 0;
	if (after == UINT64_MAX) {
		/* Nothing yet: start from the current end of the matches. */
		after = 0;
		pc.last_seq = 0;
	}
	while (!stop) {
		more = true;
		while (more && !stop) {
			pc.any = false;
			r = remote_page(s, qtext, "seq", INDEX_LIMIT_MAX, cursor,
					cursor[0] ? UINT64_MAX : after, &pc, &more);
			if (r < 0)
				goto out;
		}
		fflush(stdout);
		struct timespec ts = { 0, 500 * 1000000 };
		nanosleep(&ts, NULL);
	}
out:
	buf_release(&pc.held);
	return r < 0 ? 1 : 0;
}

/* ---- stats --------------------------------------------------------------- */

static void print_stat_row(struct printer *pr, const char *a, size_t an, const char *b, size_t bn)
{
	if (pr->fmt == FMT_JSON)
		printf("{\"key\":\"%.*s\",\"count\":%.*s}\n", (int)an, a, (int)bn, b);
	else if (pr->fmt == FMT_CSV)
		printf("\"%.*s\",%.*s\n", (int)an, a, (int)bn, b);
	else
		printf("%-40.*s %.*s\n", (int)an, a, (int)bn, b);
}

static int stat_member(void *ctx, const struct member *m, size_t n)
{
	struct printer *pr = ctx;
	const struct member *k = member(m, n, "value"), *c = member(m, n, "count");
	if (!k)
		k = member(m, n, "start");
	if (!k || !c)
		return 0;
	/* Values are JSON strings as the server wrote them: shown without
	 * their quotes (escapes kept). */
	print_stat_row(pr, k->v + 1, k->vlen - 2, c->v, c->vlen);
	return 0;
}

static int run_stats(struct src *s, const char *qtext)
{
	struct opts *o = s->o;
	struct printer pr = { .fmt = o->fmt };
	int64_t iv = 0;
	int r = 0;

	if (!o->by && !o->interval) {
		cli_err("stats: expected --by FIELD, --interval DURATION, or both");
		return EXIT_USAGE;
	}
	if (o->fmt == FMT_CSV)
		printf("key,count\n");
	if (s->http) {
		struct buf path = BUF_INIT(16384), body = BUF_INIT(RESP_MAX);
		char top[24];
		buf_puts(&path, "v1/stats?");
		cli_put_param(&path, "q", qtext);
		if (o->by)
			cli_put_param(&path, "by", o->by);
		if (o->interval)
			cli_put_param(&path, "interval", o->interval);
		snprintf(top, sizeof(top), "%llu", (unsigned long long)o->top);
		cli_put_param(&path, "top", top);
		if ((r = src_get(s, &path, &body)) == 0) {
			const char *t = memmem(body.data, body.len, "\"total\":", 8);
			if (pr.fmt == FMT_TABLE && t)
				printf("%-40s %.*s\n", "(total)", (int)strspn(t + 8, "0123456789"), t + 8);
			each_object((const char *)body.data, body.len, "values", stat_member, &pr);
			each_object((const char *)body.data, body.len, "histogram", stat_member, &pr);
		}
		buf_release(&path);
		buf_release(&body);
		return r < 0 ? 1 : 0;
	}
	if (o->interval) {
		/* The same units the server takes. */
		size_t n = strlen(o->interval);
		uint64_t v;
		static const char units[] = "smhdw";
		static const int64_t mul[] = { 1, 60, 3600, 86400, 604800 };
		const char *u = n >= 2 ? strchr(units, o->interval[n - 1]) : NULL;
		if (!u || !*u || !st_parse_u64(o->interval, n - 1, &v) || v == 0 || v > 1000000) {
			cli_err("--interval: expected a number and a unit s, m, h, d or w, found \"%s\"", o->interval);
			return EXIT_USAGE;
		}
		iv = (int64_t)v * mul[u - units] * 1000000000LL;
	}
	struct query *q = NULL;
	struct query_error qe;
	if (query_parse(qtext, strlen(qtext), now_realtime_ns(), &q, &qe) < 0) {
		cli_err("query: %s", qe.msg);
		return 1;
	}
	struct index_stats st = { .q = q, .scope = &all_scope, .by = o->by, .top = o->top,
				  .interval_ns = iv };
	if ((r = index_stats(s->ix, &st)) < 0) {
		cli_err("stats: %s", r == ST_EINVAL ? "--by: that field cannot be grouped by" :
			r == ST_ELIMIT ? "too many buckets or events to check; narrow the query or widen --interval" :
			st_strerror(r));
	} else {
		char num[24];
		if (pr.fmt == FMT_TABLE)
			printf("%-40s %llu\n", "(total)", (unsigned long long)st.total);
		for (size_t i = 0; i < st.nvalues; i++) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)st.values[i].count);
			print_stat_row(&pr, st.values[i].value, st.values[i].value_len, num, strlen(num));
		}
		for (size_t i = 0; i < st.nhistogram; i++) {
			char ts[RFC3339_US_LEN + 1];
			rfc3339_format_us(st.histogram[i].start_ns, ts);
			snprintf(num, sizeof(num), "%llu", (unsigned long long)st.histogram[i].count);
			print_stat_row(&pr, ts, strlen(ts), num, strlen(num));
		}
	}
	index_stats_release(&st);
	query_free(q);
	return r < 0 ? 1 : 0;
}

/* ---- timeline ------------------------------------------------------------ */

static int timeline_member(void *ctx, const struct member *m, size_t n)
{
	struct printer *pr = ctx;
	const struct member *e = member(m, n, "entry"), *sk = member(m, n, "skew_ms"),
			    *f = member(m, n, "skewed");
	char extra[64] = "";
	if (!e)
		return 0;
	if (pr->fmt == FMT_JSON) {
		/* One object a line: the skew beside the stored entry. */
		printf("{\"skew_ms\":%.*s,\"skewed\":%.*s,\"entry\":%.*s}\n", sk ? (int)sk->vlen : 1,
		       sk ? sk->v : "0", f ? (int)f->vlen : 5, f ? f->v : "false", (int)e->vlen, e->v);
		pr->rows++;
		return 0;
	}
	if (sk)
		snprintf(extra, sizeof(extra), "%.*s ms%s", (int)sk->vlen, sk->v,
			 f && f->vlen == 4 ? " SKEWED" : "");
	print_entry(pr, (const uint8_t *)e->v, e->vlen, extra);
	return 0;
}

static int run_timeline(struct src *s, const char *id)
{
	struct opts *o = s->o;
	struct printer pr = { .fmt = o->fmt, .timeline = true };
	int r = 0;

	if (s->http) {
		struct buf path = BUF_INIT(16384), body = BUF_INIT(RESP_MAX);
		buf_puts(&path, "v1/timeline?");
		cli_put_param(&path, o->idkey, id);
		if (o->skew)
			cli_put_param(&path, "skew", o->skew);
		if ((r = src_get(s, &path, &body)) == 0)
			each_object((const char *)body.data, body.len, "events", timeline_member, &pr);
		buf_release(&path);
		buf_release(&body);
		if (r == 0 && pr.rows == 0)
			fprintf(stderr, "no events with %s %s\n", o->idkey, id);
		return r < 0 ? 1 : 0;
	}
	int64_t skew = 5 * 60000000000LL;
	if (o->skew) {
		size_t n = strlen(o->skew);
		uint64_t v;
		if (n < 2 || !st_parse_u64(o->skew, n - 1, &v) || !strchr("smh", o->skew[n - 1]) || v == 0) {
			cli_err("--skew: expected a duration such as 30s, 5m or 1h");
			return EXIT_USAGE;
		}
		skew = (int64_t)v * 1000000000LL * (o->skew[n - 1] == 's' ? 1 : o->skew[n - 1] == 'm' ? 60 : 3600);
	}
	struct buf qt = BUF_INIT(4200), e = BUF_INIT(SEG_FRAME_MAX + 64);
	index_timeline_query(o->idkey, id, strlen(id), &qt);
	buf_cstr(&qt);
	struct query *q = NULL;
	struct query_error qe;
	struct index_hit *hits = calloc(INDEX_LIMIT_MAX, sizeof(*hits));
	if (!hits || query_parse((const char *)qt.data, qt.len, now_realtime_ns(), &q, &qe) < 0) {
		cli_err("timeline: %s", hits ? qe.msg : "out of memory");
		r = -1;
		goto out;
	}
	struct index_search se = { .q = q, .qtext = (const char *)qt.data, .qtext_len = qt.len,
				   .scope = &all_scope, .sort = IX_SORT_TIME_ASC,
				   .limit = INDEX_LIMIT_MAX, .hits = hits };
	do {
		if ((r = index_search(s->ix, &se)) < 0) {
			cli_err("timeline: %s", st_strerror(r));
			goto out;
		}
		for (size_t i = 0; i < se.nhits; i++) {
			char extra[64];
			int64_t d = hits[i].received_ns - hits[i].time_ns;
			buf_reset(&e);
			if ((r = log_read_entry(s->log, hits[i].seq, &e)) < 0)
				goto out;
			snprintf(extra, sizeof(extra), "%lld ms%s", (long long)(d / 1000000),
				 (d < 0 ? -d : d) > skew ? " SKEWED" : "");
			if (pr.fmt == FMT_JSON) {
				printf("{\"skew_ms\":%lld,\"skewed\":%s,\"entry\":%.*s}\n", (long long)(d / 1000000),
				       (d < 0 ? -d : d) > skew ? "true" : "false", (int)e.len, (const char *)e.data);
				pr.rows++;
			} else {
				print_entry(&pr, e.data, e.len, extra);
			}
		}
		se.cursor = se.next;
	} while (se.more);
	if (pr.rows == 0)
		fprintf(stderr, "no events with %s %s\n", o->idkey, id);
out:
	free(hits);
	query_free(q);
	buf_release(&qt);
	buf_release(&e);
	return r < 0 ? 1 : 0;
}

/* ---- entry points -------------------------------------------------------- */

enum which { W_QUERY, W_STATS, W_TIMELINE, W_TAIL };

static int run(int argc, char **argv, enum which w)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' }, { "data", required_argument, NULL, 'd' },
		{ "token-file", required_argument, NULL, 't' }, { "cacert", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 'T' }, { "sort", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' }, { "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' }, { "csv", no_argument, NULL, 'C' },
		{ "by", required_argument, NULL, 'b' }, { "top", required_argument, NULL, 'k' },
		{ "interval", required_argument, NULL, 'i' }, { "skew", required_argument, NULL, 'S' },
		{ "trace", no_argument, NULL, 'R' }, { "parent", no_argument, NULL, 'P' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .limit = w == W_TAIL ? 10 : 100, .top = 10, .idkey = "request_id" };
	struct src s;
	int c, rc;

	while ((c = getopt_long(argc, argv, "fn:", opts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 'd': o.data = optarg; break;
		case 't': o.token_file = optarg; break;
		case 'c': o.cacert = optarg; break;
		case 'T': o.tenant = optarg; break;
		case 's': o.sort = optarg; break;
		case 'n': if (!cli_u64(optarg, "--limit", &o.limit) || o.limit == 0) return EXIT_USAGE; break;
		case 'a': o.all = true; break;
		case 'j': o.fmt = FMT_JSON; break;
		case 'C': o.fmt = FMT_CSV; break;
		case 'b': o.by = optarg; break;
		case 'k': if (!cli_u64(optarg, "--top", &o.top) || o.top == 0 || o.top > INDEX_TOP_MAX) return EXIT_USAGE; break;
		case 'i': o.interval = optarg; break;
		case 'S': o.skew = optarg; break;
		case 'R': o.idkey = "trace_id"; break;
		case 'P': o.idkey = "parent_id"; break;
		case 'f': o.follow = true; break;
		default: return usage();
		}
	}
	int npos = argc - optind;
	if ((w == W_TIMELINE && npos != 1) || npos > 1 || (w == W_QUERY && npos != 1))
		return usage();
	const char *arg = npos ? argv[optind] : "";
	if (!src_open(&s, &o)) {
		src_close(&s);
		return 1;
	}
	switch (w) {
	case W_QUERY: rc = run_query(&s, arg); break;
	case W_STATS: rc = run_stats(&s, arg); break;
	case W_TIMELINE: rc = run_timeline(&s, arg); break;
	default: rc = run_tail(&s, arg); break;
	}
	fflush(stdout);
	src_close(&s);
	return rc;
}

int cmd_query(int argc, char **argv) { return run(argc, argv, W_QUERY); }
int cmd_stats(int argc, char **argv) { return run(argc, argv, W_STATS); }
int cmd_timeline(int argc, char **argv) { return run(argc, argv, W_TIMELINE); }
int cmd_tail(int argc, char **argv) { return run(argc, argv, W_TAIL); }

int cmd_reindex(int argc, char **argv)
{
	const char *dir;
	char err[512];
	struct index *ix = NULL;
	int r;

	if (!cli_data_only(argc, argv, &dir) || optind != argc)
		return usage();
	struct log *l = cli_open(dir);
	if (!l)
		return 1;
	int64_t t0 = now_monotonic_ns();
	if ((r = index_open(&ix, l, dir, NULL, err, sizeof(err))) < 0) {
		cli_err("index: %s", err);
	} else if ((r = index_reset(ix)) < 0 || (r = index_catch_up(ix)) < 0) {
		cli_err("reindex: %s", st_strerror(r));
	} else {
		struct index_status st;
		index_status(ix, &st);
		double secs = (double)(now_monotonic_ns() - t0) / 1e9;
		printf("indexed %llu entries in %.2f s (%.0f entries/s): %llu chunks, %llu bytes\n",
		       (unsigned long long)st.indexed, secs, secs > 0 ? (double)st.indexed / secs : 0,
		       (unsigned long long)st.chunks, (unsigned long long)st.bytes);
	}
	index_close(ix);
	log_close(l);
	return r < 0 ? 1 : 0;
}
