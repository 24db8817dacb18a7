/*
 * test_search.c - the differential test of the search index: thousands of
 * random queries (fields, prefixes, wildcards, words, phrases, negations,
 * ranges, OR, parentheses) over a generated log, each compared with a
 * brute-force scan of every entry (query_match), in order and across
 * cursor pages, under random tenant scopes and sort orders; stats counts
 * compared the same way; forged and replayed cursors refused.
 *
 * The log is built in batches with the index caught up between them, so
 * the index is many chunks of several sizes, some merged; it is then
 * closed and reopened, and the same queries must give the same answers.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "event/event.h"
#include "index/index.h"
#include "index/jwalk.h"
#include "index/query.h"
#include "log/log.h"

#define NEV 3000
#define NQUERIES 1200

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

static const char *const tenants[] = { "t0", "t1", "t2", "t3" };
static const char *const actions[] = { "iam.role.update", "iam.role.delete", "iam.user.create",
				       "k8s.pods.get", "k8s.secrets.get", "auth.login" };
static const char *const prefixes[] = { "iam", "iam.role", "k8s", "auth", "iam.user.create" };
static const char *const actors[] = { "alice@example.com", "bob@example.com", "svc:deploy",
				      "u_1", "u_2", "u_3", "u_17", "u_29" };
static const char *const outcomes[] = { "success", "failure", "denied", "unknown" };
static const char *const words[] = { "disk", "full", "role", "update", "forbidden", "token",
				     "expired", "Deny", "network", "quota", "Émile" };
static const char *const tags[] = { "x", "y", "break-glass", "pci" };

struct ev {
	char *src;
	struct buf compact;
	struct event_info info;
};

static char longval[8][400];

static void gen_event(char *out, size_t cap, unsigned i)
{
	char reason[200] = "", meta[900] = "", before[64] = "", ts[64];
	int64_t t = 1793491200LL + (int64_t)i * 37 + (int64_t)pick(1200) - 600;   /* 2026-11-01 */
	unsigned nw = pick(6);
	for (unsigned w = 0; w < nw; w++) {
		size_t l = strlen(reason);
		snprintf(reason + l, sizeof(reason) - l, "%s%s", w ? (pick(2) ? " " : ", ") : "",
			 words[pick(11)]);
	}
	size_t ml = (size_t)snprintf(meta, sizeof(meta), "\"tags\":[\"%s\",\"%s\"],\"n\":%u,\"ok\":%s",
				     tags[pick(4)], tags[pick(4)], pick(20), pick(2) ? "true" : "false");
	if (pick(5) == 0)
		snprintf(meta + ml, sizeof(meta) - ml, ",\"long\":\"%s\"", longval[pick(8)]);
	if (pick(4) == 0)
		snprintf(before, sizeof(before), ",\"before\":{\"role\":\"r%u\"}", pick(3));
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	if (pick(4) == 0) {
		tt += 7200;
		gmtime_r(&tt, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.123+02:00", &tm);
	} else {
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	snprintf(out, cap,
		 "{\"time\":\"%s\",\"tenant\":\"%s\",\"action\":\"%s\",\"actor\":{\"id\":\"%s\","
		 "\"ip\":\"10.0.0.%u\"},\"resource\":{\"type\":\"role\",\"id\":\"res %u\"},"
		 "\"outcome\":\"%s\",\"reason\":\"%s\",\"request_id\":\"req-%u\",\"metadata\":{%s}%s}",
		 ts, tenants[pick(4)], actions[pick(6)], actors[pick(8)], pick(255), pick(100),
		 outcomes[pick(4)], reason, pick(400), meta, before);
}

/* ---- random queries ---------------------------------------------------------- */

static void atom(char *q, size_t cap)
{
	size_t l = strlen(q);
	char *p = q + l;
	size_t c = cap - l;
	switch (pick(25)) {
	case 0: snprintf(p, c, "actor.id:%s", actors[pick(8)]); break;
	case 1: snprintf(p, c, "tenant:%s", tenants[pick(4)]); break;
	case 2: snprintf(p, c, "outcome:%s", outcomes[pick(4)]); break;
	case 3: snprintf(p, c, "action:%s", actions[pick(6)]); break;
	case 4: snprintf(p, c, "action:%s.*", prefixes[pick(5)]); break;
	case 5: snprintf(p, c, "resource.id:\"res %u\"", pick(100)); break;
	case 6: snprintf(p, c, "resource.id:res*"); break;
	case 7: snprintf(p, c, "resource.id:*%u*", pick(10)); break;
	case 8: snprintf(p, c, "metadata.n:%u", pick(20)); break;
	case 9: snprintf(p, c, "metadata.ok:%s", pick(2) ? "true" : "false"); break;
	case 10: snprintf(p, c, "metadata.tags:%s", tags[pick(4)]); break;
	case 11: snprintf(p, c, "metadata.long:%s", longval[pick(8)]); break;
	case 12: snprintf(p, c, "has:%s", pick(2) ? "before" : "metadata.long"); break;
	case 13: snprintf(p, c, "%s", words[pick(11)]); break;
	case 14: snprintf(p, c, "%s", pick(2) ? "for*" : "ex*"); break;
	case 15: snprintf(p, c, "\"%s %s\"", words[pick(11)], words[pick(11)]); break;
	case 16: snprintf(p, c, "time:>=2026-11-%02u", 1 + pick(3)); break;
	case 17: snprintf(p, c, "time:2026-11-%02u..2026-11-%02uT12:00Z", 1 + pick(2), 2 + pick(2)); break;
	case 18: { unsigned a = pick(NEV); snprintf(p, c, "seq:%u..%u", a, a + pick(800)); break; }
	case 19: snprintf(p, c, "received:>now-1h"); break;
	case 20: snprintf(p, c, "request_id:req-%u", pick(400)); break;
	case 21: snprintf(p, c, "tseq:%u", pick(50)); break;
	case 22: snprintf(p, c, "before.role:r%u", pick(3)); break;
	case 23: {
		/* a glob whose match is decided past the index's 256-byte cut:
		 * the cut values are only candidates, checked against the entry */
		const char *v = longval[pick(8)];
		size_t vl = strlen(v);
		snprintf(p, c, "metadata.long:%.12s*%s", v, pick(2) ? v + vl - 6 : "zzz");
		break;
	}
	default: snprintf(p, c, "seq:<%u", pick(NEV)); break;
	}
}

static void expr(char *q, size_t cap, int depth)
{
	unsigned n = 1 + pick(depth > 0 ? 3 : 2);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			strncat(q, pick(3) == 0 ? " OR " : " ", cap - strlen(q) - 1);
		if (pick(5) == 0)
			strncat(q, "-", cap - strlen(q) - 1);
		if (depth > 0 && pick(4) == 0) {
			strncat(q, "(", cap - strlen(q) - 1);
			expr(q, cap, depth - 1);
			strncat(q, ")", cap - strlen(q) - 1);
		} else {
			atom(q, cap);
		}
	}
}

/* ---- brute force --------------------------------------------------------------- */

static struct buf entries[NEV];
static int64_t etime[NEV];
static char etenant[NEV][8];

struct tk { int64_t t; uint64_t seq; };
static enum index_sort cur_sort;

static int tk_cmp(const void *a, const void *b)
{
	const struct tk *x = a, *y = b;
	int c;
	if (cur_sort == IX_SORT_SEQ_ASC || cur_sort == IX_SORT_SEQ_DESC)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	else
		c = x->t != y->t ? (x->t < y->t ? -1 : 1) : (x->seq < y->seq ? -1 : x->seq > y->seq);
	return cur_sort == IX_SORT_TIME_ASC || cur_sort == IX_SORT_SEQ_ASC ? c : -c;
}

static bool in_scope(const struct index_scope *sc, unsigned i)
{
	if (sc->all)
		return true;
	for (size_t k = 0; k < sc->n; k++)
		if (!strcmp(sc->tenants[k], etenant[i]))
			return true;
	return false;
}

struct meta_ctx { int64_t *t; char *tenant; };
static int time_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct meta_ctx *m = ctx;
	if (lf->depth == 1 && lf->type == JW_STRING && lf->path_len == 4 && !memcmp(lf->path, "time", 4))
		rfc3339_parse(lf->val, lf->val_len, m->t);
	if (lf->depth == 1 && lf->type == JW_STRING && lf->path_len == 6 && !memcmp(lf->path, "tenant", 6))
		snprintf(m->tenant, 8, "%.*s", (int)lf->val_len, lf->val);
	return 0;
}

struct count_ctx { const char *path; uint64_t counts[8]; const char *const *vals; size_t nvals; bool seen[8]; };
static int count_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct count_ctx *c = ctx;
	if (lf->type != JW_STRING || strlen(c->path) != lf->path_len || memcmp(lf->path, c->path, lf->path_len))
		return 0;
	for (size_t i = 0; i < c->nvals; i++)
		if (strlen(c->vals[i]) == lf->val_len && !memcmp(c->vals[i], lf->val, lf->val_len))
			c->seen[i] = true;
	return 0;
}

static int run_queries(struct index *ix, int nq, uint64_t seed, int *ret_checked)
{
	int bad = 0;
	rs = seed;
	struct tk *want = malloc(NEV * sizeof(*want));
	struct index_hit *hits = malloc(INDEX_LIMIT_MAX * sizeof(*hits));
	for (int qi = 0; qi < nq; qi++) {
		char q[2048] = "";
		expr(q, sizeof(q), 2);
		struct query *qq = NULL;
		struct query_error qe;
		if (query_parse(q, strlen(q), now_realtime_ns(), &qq, &qe) < 0) {
			CHECK_MSG(0, "generated query does not parse: %s: %s", q, qe.msg);
			continue;
		}
		const char *one[] = { tenants[pick(4)] };
		const char *two[] = { "t0", "t2" };
		struct index_scope sc = { .all = true };
		switch (pick(3)) {
		case 1: sc = (struct index_scope){ .n = 1, .tenants = one }; break;
		case 2: sc = (struct index_scope){ .n = 2, .tenants = two }; break;
		default: break;
		}
		cur_sort = (enum index_sort)pick(4);
		size_t nw = 0;
		for (unsigned i = 0; i < NEV; i++)
			if (in_scope(&sc, i) && query_match(qq, entries[i].data, entries[i].len))
				want[nw++] = (struct tk){ etime[i], i };
		qsort(want, nw, sizeof(*want), tk_cmp);
		/* Paged through the index with cursors that go out and back in
		 * as text, as a client would hold them. */
		struct index_search s = { .q = qq, .qtext = q, .qtext_len = strlen(q), .scope = &sc,
					  .sort = cur_sort, .limit = 1 + pick(60), .hits = hits };
		size_t got = 0;
		bool ok = true;
		for (int page = 0; page < NEV + 2; page++) {
			int r = index_search(ix, &s);
			if (r < 0) {
				CHECK_MSG(0, "index_search(%s): %s", q, st_strerror(r));
				ok = false;
				break;
			}
			for (size_t k = 0; k < s.nhits && ok; k++, got++)
				if (got >= nw || hits[k].seq != want[got].seq) {
					CHECK_MSG(0, "query [%s] sort %d scope %s page %d: hit %zu is seq %llu, brute force says %lld",
						  q, (int)cur_sort, sc.all ? "*" : sc.tenants[0], page, got,
						  (unsigned long long)hits[k].seq, got < nw ? (long long)want[got].seq : -1LL);
					ok = false;
				}
			if (!ok || !s.more)
				break;
			char text[INDEX_CURSOR_MAX + 1], err[256];
			index_cursor_encode(ix, &s.next, q, strlen(q), &sc, text);
			r = index_cursor_decode(ix, text, strlen(text), q, strlen(q), &sc, cur_sort, &s.cursor,
						err, sizeof(err));
			CHECK_MSG(r == 0, "cursor round trip: %s", err);
			if (r < 0) {
				ok = false;
				break;
			}
		}
		if (ok && got != nw) {
			CHECK_MSG(0, "query [%s] sort %d: index gave %zu hits, brute force %zu", q, (int)cur_sort, got, nw);
			ok = false;
		}
		if (!ok && ++bad > 5) {
			query_free(qq);
			break;
		}
		/* Stats: counts by outcome, against the brute force. */
		if (qi % 4 == 0) {
			struct index_stats st = { .q = qq, .scope = &sc, .by = "outcome", .top = 10 };
			int r = index_stats(ix, &st);
			CHECK_MSG(r == 0, "index_stats(%s): %s", q, st_strerror(r));
			struct count_ctx cc = { .path = "outcome", .vals = outcomes, .nvals = 4 };
			uint64_t total = 0;
			for (size_t k = 0; k < nw; k++) {
				memset(cc.seen, 0, sizeof(cc.seen));
				jwalk(entries[want[k].seq].data, entries[want[k].seq].len, count_leaf, &cc);
				for (size_t v = 0; v < 4; v++)
					cc.counts[v] += cc.seen[v];
				total++;
			}
			CHECK_MSG(r != 0 || st.total == total, "stats [%s]: total %llu, brute force %llu", q,
				  (unsigned long long)st.total, (unsigned long long)total);
			for (size_t v = 0; r == 0 && v < st.nvalues; v++) {
				size_t w = 0;
				while (w < 4 && strcmp(outcomes[w], st.values[v].value))
					w++;
				CHECK_MSG(w < 4 && st.values[v].count == cc.counts[w], "stats [%s] %s: %llu, brute force %llu",
					  q, st.values[v].value, (unsigned long long)st.values[v].count,
					  (unsigned long long)(w < 4 ? cc.counts[w] : 0));
			}
			index_stats_release(&st);
		}
		query_free(qq);
		(*ret_checked)++;
	}
	free(want);
	free(hits);
	return bad;
}

static void check_cursors(struct index *ix)
{
	const char *a[] = { "t1" }, *b[] = { "t2" };
	struct index_scope sa = { .n = 1, .tenants = a }, sb = { .n = 1, .tenants = b };
	struct index_cursor c = { .sort = IX_SORT_TIME_DESC, .upto = 100, .last_time = 5, .last_seq = 7,
				  .started = true }, d;
	char text[INDEX_CURSOR_MAX + 1], err[256];
	index_cursor_encode(ix, &c, "outcome:denied", 14, &sa, text);
	CHECK(index_cursor_decode(ix, text, strlen(text), "outcome:denied", 14, &sa, IX_SORT_TIME_DESC,
				  &d, err, sizeof(err)) == 0);
	CHECK(d.upto == 100 && d.last_time == 5 && d.last_seq == 7 && d.started);
	/* Replayed under another scope, query or sort: refused. */
	CHECK(index_cursor_decode(ix, text, strlen(text), "outcome:denied", 14, &sb, IX_SORT_TIME_DESC,
				  &d, err, sizeof(err)) == ST_EINVAL);
	CHECK(index_cursor_decode(ix, text, strlen(text), "outcome:success", 15, &sa, IX_SORT_TIME_DESC,
				  &d, err, sizeof(err)) == ST_EINVAL);
	CHECK(index_cursor_decode(ix, text, strlen(text), "outcome:denied", 14, &sa, IX_SORT_SEQ_ASC,
				  &d, err, sizeof(err)) == ST_EINVAL);
	/* Forged: every single hex digit changed is caught. */
	size_t n = strlen(text);
	for (size_t i = 0; i < n; i++) {
		char f[INDEX_CURSOR_MAX + 1];
		memcpy(f, text, n + 1);
		f[i] = f[i] == '0' ? '1' : '0';
		CHECK_MSG(index_cursor_decode(ix, f, n, "outcome:denied", 14, &sa, IX_SORT_TIME_DESC, &d,
					      err, sizeof(err)) == ST_EINVAL, "forged cursor digit %zu accepted", i);
	}
	CHECK(index_cursor_decode(ix, "zz", 2, "", 0, &sa, IX_SORT_TIME_DESC, &d, err, sizeof(err)) == ST_EINVAL);
}

/* While the indexer and merger threads work: searches see a consistent
 * prefix of the log (every hit is an indexed entry that matches), never
 * an error, however the set changes under them. */
static void search_while_live(struct index *ix)
{
	static const char *const qs[] = { "action:iam.* outcome:success", "role -denied",
					  "actor.id:alice@example.com OR has:before" };
	struct index_hit *hits = malloc(100 * sizeof(*hits));
	struct index_scope sc = { .all = true };
	int rounds = 0;
	while (hits && !index_wait(ix, NEV, 1000000) && rounds++ < 20000) {
		const char *q = qs[rounds % 3];
		struct query *qq = NULL;
		struct query_error qe;
		CHECK(query_parse(q, strlen(q), now_realtime_ns(), &qq, &qe) == 0);
		if (!qq)
			break;
		struct index_search s = { .q = qq, .qtext = q, .qtext_len = strlen(q), .scope = &sc,
					  .sort = (enum index_sort)(rounds % 4), .limit = 100, .hits = hits };
		CHECK(index_search(ix, &s) == 0);
		for (size_t k = 0; k < s.nhits; k++)
			CHECK(s.hits[k].seq < NEV &&
			      query_match(qq, entries[s.hits[k].seq].data, entries[s.hits[k].seq].len));
		query_free(qq);
	}
	free(hits);
}

int main(void)
{
	char tmpl[] = "/tmp/sealtrail-test-search.XXXXXX", err[512] = "";
	char *base = mkdtemp(tmpl);
	char dir[4200];
	struct log_init_options lo = { .origin = "example.com/test-search" };
	struct log *l = NULL;
	struct index *ix = NULL;
	struct index_options io;

	if (!base)
		return 2;
	for (int i = 0; i < 8; i++) {
		for (int k = 0; k < 300; k++)
			longval[i][k] = (char)('a' + (k * 7 + i) % 26);
		longval[i][290 + i] = 0;     /* values past the index's 256-byte cut */
		if (i >= 4)
			memcpy(longval[i], longval[0], 260);   /* sharing the first 260 bytes */
	}
	snprintf(dir, sizeof(dir), "%s/log", base);
	CHECK_MSG(log_init(dir, &lo, NULL, err, sizeof(err)) == 0, "log_init: %s", err);
	CHECK(log_open(&l, dir, err, sizeof(err)) == 0);
	index_options_default(&io);
	io.flush_docs = 170;
	io.merge_fanin = 3;
	CHECK_MSG(index_open(&ix, l, dir, &io, err, sizeof(err)) == 0, "index_open: %s", err);

	/* The log, in batches, the index caught up between them. */
	struct ev *evs = calloc(NEV, sizeof(*evs));
	struct log_event *le = calloc(NEV, sizeof(*le));
	struct log_ack *acks = calloc(NEV, sizeof(*acks));
	for (unsigned i = 0; i < NEV; i++) {
		char src[2048];
		struct event_error ee;
		gen_event(src, sizeof(src), i);
		evs[i].src = strdup(src);
		buf_init(&evs[i].compact, 1 << 16);
		int r = event_parse((const uint8_t *)evs[i].src, strlen(src), NULL, &evs[i].compact,
				    &evs[i].info, &ee);
		CHECK_MSG(r == 0, "event %u: %s: %s", i, ee.msg, src);
		le[i] = (struct log_event){ evs[i].compact.data, evs[i].compact.len, evs[i].info, NULL, 0 };
	}
	for (unsigned i = 0; i < NEV;) {
		unsigned k = 1 + pick(500);
		if (k > NEV - i)
			k = NEV - i;
		CHECK(log_append(l, le + i, k, acks + i) == 0);
		i += k;
		if (pick(2))
			CHECK(index_catch_up(ix) == 0);
	}
	CHECK(index_catch_up(ix) == 0);
	struct index_status st;
	index_status(ix, &st);
	CHECK(st.indexed == NEV && st.log_size == NEV);
	CHECK_MSG(st.merged > 0 && st.chunks > 1, "chunks %llu merged %llu", (unsigned long long)st.chunks,
		  (unsigned long long)st.merged);
	printf("index: %llu chunks (%llu merges), %llu bytes\n", (unsigned long long)st.chunks,
	       (unsigned long long)st.merged, (unsigned long long)st.bytes);
	for (unsigned i = 0; i < NEV; i++) {
		buf_init(&entries[i], 1 << 17);
		CHECK(log_read_entry(l, i, &entries[i]) == 0);
		struct meta_ctx m = { &etime[i], etenant[i] };
		jwalk(entries[i].data, entries[i].len, time_leaf, &m);
	}

	int checked = 0;
	int bad = run_queries(ix, NQUERIES, 42, &checked);
	printf("differential: %d queries checked\n", checked);
	CHECK(bad == 0);
	check_cursors(ix);

	/* Reopened: the same chunks, the same answers. */
	index_close(ix);
	ix = NULL;
	CHECK_MSG(index_open(&ix, l, dir, &io, err, sizeof(err)) == 0, "index reopen: %s", err);
	struct index_status st2;
	index_status(ix, &st2);
	CHECK(st2.indexed == NEV && st2.chunks == st.chunks);
	checked = 0;
	CHECK(run_queries(ix, 100, 7, &checked) == 0);

	/* Rebuilt from nothing (reindex): the same answers again. */
	CHECK(index_reset(ix) == 0);
	index_status(ix, &st2);
	CHECK(st2.indexed == 0 && st2.chunks == 0);
	CHECK(index_catch_up(ix) == 0);
	checked = 0;
	CHECK(run_queries(ix, 100, 9, &checked) == 0);

	/* Rebuilt live: the indexer thread builds, the merger thread merges,
	 * searches run meanwhile; then the same answers. */
	index_status(ix, &st2);
	uint64_t merged_before = st2.merged;
	CHECK(index_reset(ix) == 0);
	CHECK(index_start(ix) == 0);
	search_while_live(ix);
	CHECK(index_wait(ix, NEV, 60LL * 1000000000));
	for (int i = 0; i < 500; i++) {       /* the merges settle */
		index_status(ix, &st2);
		if (st2.merged > merged_before && st2.chunks < NEV / io.flush_docs)
			break;
		usleep(10000);
	}
	CHECK_MSG(st2.merged > merged_before, "live: %llu chunks, no merge by the merger thread",
		  (unsigned long long)st2.chunks);
	checked = 0;
	CHECK(run_queries(ix, 100, 11, &checked) == 0);

	index_close(ix);
	log_close(l);
	for (unsigned i = 0; i < NEV; i++) {
		free(evs[i].src);
		buf_release(&evs[i].compact);
		buf_release(&entries[i]);
	}
	free(evs);
	free(le);
	free(acks);
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
	return test_report("index/search");
}
