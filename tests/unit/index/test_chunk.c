/*
 * test_chunk.c - index chunks (src/index/chunk.h):
 *
 *  - random chunks (seeded) against a brute-force model: every term's
 *    postings and df, absent terms, prefix iteration order and completeness
 *    (empty prefix, prefixes matching none, some, all), or_into, columns
 *    and their ranges;
 *  - dense terms take the roaring encoding and read back the same;
 *  - terms with long shared prefixes, zero bytes and trailing zeros come
 *    out in memcmp order (the builder's radix sort);
 *  - duplicates in one doc, 0-doc refusal, term length limits, add_term
 *    before add_doc;
 *  - merges of 2 and 3 chunks are byte-identical to building one chunk from
 *    all docs (and equal term by term), bad merge inputs are refused;
 *  - corrupt files: a flipped byte in each section and every truncation
 *    give ST_ECORRUPT; bytes changed under recomputed CRCs (a crafted file)
 *    are read end to end without a crash;
 *  - measured (printed): builder rate per term occurrence, write time,
 *    bytes per doc for an audit-like mix, open (CRC) speed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/util.h"
#include "index/chunk.h"
#include "test.h"

static char dir[] = "/tmp/test_chunk.XXXXXX";
static char errbuf[256];

static uint64_t rng = 0x1234567;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *path_of(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

/* CRoaring 0.2.66's roaring_bitmap_free() does not accept NULL. */
static void rfree(roaring_bitmap_t *rb)
{
	if (rb)
		roaring_bitmap_free(rb);
}

/* ---- the model: a list of (term, sorted docs) ---- */

struct mterm {
	uint8_t bytes[64];
	size_t len;
	uint32_t *docs;
	size_t n;
};

struct model {
	struct mterm *t;
	size_t n;
	int64_t *time, *recv;
	uint32_t ndocs;
};

static int mterm_cmp(const void *a, const void *b)
{
	const struct mterm *x = a, *y = b;
	int d = memcmp(x->bytes, y->bytes, x->len < y->len ? x->len : y->len);
	if (d)
		return d;
	return x->len < y->len ? -1 : x->len > y->len;
}

static struct mterm *model_find(struct model *m, const uint8_t *t, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->t[i].len == len && memcmp(m->t[i].bytes, t, len) == 0)
			return &m->t[i];
	return NULL;
}

/* Random term from a small alphabet so prefixes share a lot. */
static size_t rand_term(uint8_t *out, unsigned vocab)
{
	unsigned k = (unsigned)(rnd() % vocab);
	size_t len = 1 + k % 13;
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)("ab\0zq"[(k >> (i % 5)) % 5] + (i == len - 1 ? k % 7 : 0));
	return len;
}

/* Fills builder b and model m with ndocs random docs (doc ids offset by
 * base in the model, so merged ranges can share one model). */
static void fill(struct chunk_builder *b, struct model *m, uint32_t ndocs,
		 unsigned vocab, unsigned per_doc)
{
	for (uint32_t d = 0; d < ndocs; d++) {
		uint32_t doc = m->ndocs++;
		int64_t t = (int64_t)(rnd() % 1000000) - 500000, rv = (int64_t)doc * 1000;
		m->time = realloc(m->time, m->ndocs * sizeof(int64_t));
		m->recv = realloc(m->recv, m->ndocs * sizeof(int64_t));
		m->time[doc] = t;
		m->recv[doc] = rv;
		CHECK(chunk_builder_add_doc(b, t, rv) == 0);
		unsigned nt = (unsigned)(rnd() % per_doc);
		for (unsigned j = 0; j < nt; j++) {
			uint8_t tb[64];
			size_t len = rand_term(tb, vocab);
			CHECK(chunk_builder_add_term(b, tb, len) == 0);
			struct mterm *mt = model_find(m, tb, len);
			if (!mt) {
				m->t = realloc(m->t, (m->n + 1) * sizeof(*m->t));
				mt = &m->t[m->n++];
				memset(mt, 0, sizeof(*mt));
				memcpy(mt->bytes, tb, len);
				mt->len = len;
			}
			if (mt->n == 0 || mt->docs[mt->n - 1] != doc) {
				mt->docs = realloc(mt->docs, (mt->n + 1) * sizeof(uint32_t));
				mt->docs[mt->n++] = doc;
			}
		}
	}
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->t[i].docs);
	free(m->t);
	free(m->time);
	free(m->recv);
	memset(m, 0, sizeof(*m));
}

static bool bitmap_equals(const roaring_bitmap_t *rb, const uint32_t *docs,
			  size_t n)
{
	if (!rb || roaring_bitmap_get_cardinality(rb) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!roaring_bitmap_contains(rb, docs[i]))
			return false;
	return true;
}

/* Prefix iteration against the model: order, completeness, or_into. */
static void check_prefix(const struct chunk *c, struct model *m,
			 const uint8_t *pre, size_t plen)
{
	struct chunk_iter it;
	size_t want = 0, got = 0, k = 0;
	roaring_bitmap_t *u = roaring_bitmap_create(), *mu = roaring_bitmap_create();

	for (size_t i = 0; i < m->n; i++)
		if (m->t[i].len >= plen && memcmp(m->t[i].bytes, pre, plen) == 0)
			want++;
	chunk_iter_init(&it, c, pre, plen);
	while (chunk_iter_next(&it)) {
		size_t len;
		const uint8_t *t = chunk_iter_term(&it, &len);
		/* the model is sorted: find the next matching model term */
		while (k < m->n && !(m->t[k].len >= plen && memcmp(m->t[k].bytes, pre, plen) == 0))
			k++;
		CHECK(k < m->n);
		if (k >= m->n)
			break;
		CHECK(len == m->t[k].len && memcmp(t, m->t[k].bytes, len) == 0);
		CHECK(chunk_iter_df(&it) == m->t[k].n);
		CHECK(chunk_iter_or_into(&it, u) == 0);
		roaring_bitmap_add_many(mu, m->t[k].n, m->t[k].docs);
		got++;
		k++;
	}
	CHECK(chunk_iter_error(&it) == 0);
	CHECK_MSG(got == want, "prefix len %zu: %zu terms, expected %zu", plen, got, want);
	CHECK(roaring_bitmap_equals(u, mu));
	rfree(u);
	rfree(mu);
}

/* chunk_iter_filter of every term against candidate sets of several
 * densities (and the term's own docs, and every doc) is exactly the
 * postings intersected with the candidates. */
static void check_filter(const struct chunk *c)
{
	uint32_t n = chunk_ndocs(c);
	uint32_t *cand = malloc((size_t)n * sizeof(*cand));
	struct chunk_iter it;
	size_t terms = 0;

	if (!cand)
		return;
	chunk_iter_init(&it, c, "", 0);
	while (chunk_iter_next(&it) && terms++ < 400) {
		roaring_bitmap_t *post = chunk_iter_postings(&it);
		CHECK(post != NULL);
		if (!post)
			break;
		for (int round = 0; round < 6; round++) {
			size_t nc = 0;
			uint32_t every = round == 0 ? 1 : round == 1 ? 2 : round == 2 ? 37 :
					 round == 3 ? 1000 : 0;
			if (round == 4) {        /* the term's own docs */
				nc = (size_t)roaring_bitmap_get_cardinality(post);
				roaring_bitmap_to_uint32_array(post, cand);
			} else if (round == 5) { /* a random sparse subset */
				for (uint32_t d = 0; d < n; d++)
					if (rnd() % 64 == 0)
						cand[nc++] = d;
			} else {
				for (uint32_t d = (uint32_t)(rnd() % every); d < n; d += every)
					cand[nc++] = d;
			}
			roaring_bitmap_t *want = roaring_bitmap_of_ptr(nc, cand);
			roaring_bitmap_and_inplace(want, post);
			roaring_bitmap_t *got = roaring_bitmap_create();
			CHECK(chunk_iter_filter(&it, cand, nc, got) == 0);
			CHECK_MSG(roaring_bitmap_equals(want, got), "term %zu (df %u), round %d: %llu docs, want %llu",
				  terms, chunk_iter_df(&it), round,
				  (unsigned long long)roaring_bitmap_get_cardinality(got),
				  (unsigned long long)roaring_bitmap_get_cardinality(want));
			rfree(want);
			rfree(got);
		}
		rfree(post);
	}
	CHECK(chunk_iter_error(&it) == 0);
	free(cand);
}

static void check_chunk(const struct chunk *c, struct model *m, uint64_t first_seq)
{
	int64_t lo, hi, tlo = INT64_MAX, thi = INT64_MIN;

	CHECK(chunk_first_seq(c) == first_seq);
	CHECK(chunk_ndocs(c) == m->ndocs);
	CHECK(chunk_nterms(c) == m->n);
	for (uint32_t d = 0; d < m->ndocs; d++) {
		CHECK(chunk_time(c, d) == m->time[d]);
		CHECK(chunk_received(c, d) == m->recv[d]);
		tlo = m->time[d] < tlo ? m->time[d] : tlo;
		thi = m->time[d] > thi ? m->time[d] : thi;
	}
	chunk_time_range(c, &lo, &hi);
	CHECK(lo == tlo && hi == thi);
	chunk_received_range(c, &lo, &hi);
	CHECK(lo == m->recv[0] && hi == m->recv[m->ndocs - 1]);
	CHECK(chunk_time(c, m->ndocs) == 0);

	for (size_t i = 0; i < m->n; i++) {
		struct mterm *t = &m->t[i];
		roaring_bitmap_t *rb = chunk_postings(c, t->bytes, t->len);
		CHECK_MSG(bitmap_equals(rb, t->docs, t->n), "term %zu (len %zu, df %zu)", i, t->len, t->n);
		rfree(rb);
		CHECK(chunk_df(c, t->bytes, t->len) == t->n);
	}
	/* absent terms: longer than any, between terms, before all, after all */
	CHECK(chunk_postings(c, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 32) == NULL);
	CHECK(chunk_df(c, "\xff\xff", 2) == 0);
	CHECK(chunk_df(c, "\x00", 1) == 0 || model_find(m, (const uint8_t *)"\x00", 1));
	CHECK(chunk_df(c, "", 0) == 0);
	for (size_t i = 0; i + 1 < m->n && i < 50; i++) {
		uint8_t between[65];
		memcpy(between, m->t[i].bytes, m->t[i].len);
		between[m->t[i].len] = 0;   /* t + "\0" sorts right after t */
		if (!model_find(m, between, m->t[i].len + 1))
			CHECK(chunk_df(c, between, m->t[i].len + 1) == 0);
	}

	check_prefix(c, m, (const uint8_t *)"", 0);
	check_prefix(c, m, (const uint8_t *)"\xff", 1);
	check_prefix(c, m, (const uint8_t *)"~", 1);
	check_prefix(c, m, (const uint8_t *)"a", 1);
	check_prefix(c, m, (const uint8_t *)"ab", 2);
	check_prefix(c, m, (const uint8_t *)"b\0", 2);
	for (size_t i = 0; i < m->n && i < 30; i++)
		check_prefix(c, m, m->t[i * 7 % m->n].bytes, m->t[i * 7 % m->n].len);
	check_filter(c);
}

static void sort_model(struct model *m)
{
	if (m->n)
		qsort(m->t, m->n, sizeof(*m->t), mterm_cmp);
}

static void test_roundtrip(uint32_t ndocs, unsigned vocab, unsigned per_doc)
{
	struct chunk_builder *b;
	struct chunk *c;
	struct model m = { 0 };
	const char *p = path_of("rt.idx");

	CHECK(chunk_builder_new(&b, 1000) == 0);
	fill(b, &m, ndocs, vocab, per_doc);
	CHECK(chunk_builder_docs(b) == ndocs);
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == 0);
	chunk_builder_free(b);
	sort_model(&m);
	int r = chunk_open(&c, p, errbuf, sizeof(errbuf));
	CHECK_MSG(r == 0, "open: %s", errbuf);
	if (r == 0) {
		check_chunk(c, &m, 1000);
		chunk_close(c);
	}
	model_free(&m);
}

/* A term in every doc, one in every other doc, one in a dense run: these
 * must take the roaring encoding (smaller than delta) and read back. */
static void test_dense(void)
{
	struct chunk_builder *b;
	struct chunk *c;
	const char *p = path_of("dense.idx");
	const uint32_t n = 100000;

	CHECK(chunk_builder_new(&b, 0) == 0);
	for (uint32_t d = 0; d < n; d++) {
		CHECK(chunk_builder_add_doc(b, d, d) == 0);
		CHECK(chunk_builder_add_term(b, "all", 3) == 0);
		if (d % 2 == 0)
			CHECK(chunk_builder_add_term(b, "even", 4) == 0);
		if (d >= 5000 && d < 9000)
			CHECK(chunk_builder_add_term(b, "run", 3) == 0);
		/* runs, then an array container: both kinds in one list */
		if (d < 60000 || (d >= 65536 && d % 50 == 0))
			CHECK(chunk_builder_add_term(b, "mix", 3) == 0);
	}
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == 0);
	chunk_builder_free(b);
	CHECK(chunk_open(&c, p, errbuf, sizeof(errbuf)) == 0);
	/* delta would cost 100000 + 50000 + 4000 bytes; roaring far less */
	CHECK_MSG(chunk_file_size(c) < CHUNK_HDR_SIZE + 16 * n + 20000,
		  "file %llu bytes", (unsigned long long)chunk_file_size(c));
	roaring_bitmap_t *rb = chunk_postings(c, "all", 3);
	CHECK(rb && roaring_bitmap_get_cardinality(rb) == n);
	rfree(rb);
	rb = chunk_postings(c, "even", 4);
	CHECK(rb && roaring_bitmap_get_cardinality(rb) == n / 2 &&
	      roaring_bitmap_contains(rb, 99998) && !roaring_bitmap_contains(rb, 99999));
	rfree(rb);
	rb = chunk_postings(c, "run", 3);
	CHECK(rb && roaring_bitmap_get_cardinality(rb) == 4000 &&
	      roaring_bitmap_minimum(rb) == 5000 && roaring_bitmap_maximum(rb) == 8999);
	rfree(rb);
	CHECK(chunk_df(c, "even", 4) == n / 2);
	roaring_bitmap_t *u = roaring_bitmap_create();
	struct chunk_iter it;
	chunk_iter_init(&it, c, "", 0);
	while (chunk_iter_next(&it))
		CHECK(chunk_iter_or_into(&it, u) == 0);
	CHECK(roaring_bitmap_get_cardinality(u) == n);
	rfree(u);
	check_filter(c);
	chunk_close(c);
}

static void test_limits(void)
{
	struct chunk_builder *b;
	struct chunk *c;
	static uint8_t big[CHUNK_TERM_MAX + 1];
	const char *p = path_of("limits.idx");

	memset(big, 'x', sizeof(big));
	CHECK(chunk_builder_new(&b, 7) == 0);
	CHECK(chunk_builder_add_term(b, "a", 1) == ST_EINVAL);   /* no doc yet */
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == ST_EINVAL);
	CHECK(access(p, F_OK) != 0);
	CHECK(chunk_builder_add_doc(b, 1, 2) == 0);
	CHECK(chunk_builder_add_term(b, "a", 0) == ST_EINVAL);
	CHECK(chunk_builder_add_term(b, big, CHUNK_TERM_MAX + 1) == ST_EINVAL);
	CHECK(chunk_builder_add_term(b, big, CHUNK_TERM_MAX) == 0);
	CHECK(chunk_builder_add_term(b, big, CHUNK_TERM_MAX - 1) == 0);
	CHECK(chunk_builder_add_term(b, "dup", 3) == 0);
	CHECK(chunk_builder_add_term(b, "dup", 3) == 0);
	CHECK(chunk_builder_add_doc(b, 3, 4) == 0);
	CHECK(chunk_builder_add_term(b, "dup", 3) == 0);
	CHECK(chunk_builder_add_term(b, "dup", 3) == 0);
	CHECK(chunk_builder_add_term(b, "\0", 1) == 0);
	CHECK(chunk_builder_add_doc(b, 5, 6) == 0);    /* a doc with no terms */
	CHECK(chunk_builder_mem(b) > 0);
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == 0);
	chunk_builder_free(b);
	chunk_builder_free(NULL);
	CHECK(chunk_open(&c, p, errbuf, sizeof(errbuf)) == 0);
	CHECK(chunk_nterms(c) == 4);
	CHECK(chunk_df(c, "dup", 3) == 2);
	CHECK(chunk_df(c, big, CHUNK_TERM_MAX) == 1);
	CHECK(chunk_df(c, big, CHUNK_TERM_MAX - 1) == 1);
	CHECK(chunk_df(c, big, CHUNK_TERM_MAX + 1) == 0);
	CHECK(chunk_df(c, "\0", 1) == 1);
	roaring_bitmap_t *rb = chunk_postings(c, "dup", 3);
	CHECK(rb && roaring_bitmap_get_cardinality(rb) == 2 && roaring_bitmap_contains(rb, 1));
	rfree(rb);
	CHECK(chunk_ndocs(c) == 3 && chunk_received(c, 2) == 6);
	chunk_close(c);
	chunk_close(NULL);
	CHECK(chunk_open(&c, path_of("missing.idx"), errbuf, sizeof(errbuf)) == -ENOENT);
}

static bool files_equal(const char *a, const char *b)
{
	struct buf x = BUF_INIT(1u << 30), y = BUF_INIT(1u << 30);
	bool eq = read_file(a, 1u << 30, &x) == 0 && read_file(b, 1u << 30, &y) == 0 &&
		  x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	buf_release(&x);
	buf_release(&y);
	return eq;
}

/* Term-by-term equality of two open chunks. */
static void check_same(const struct chunk *a, const struct chunk *b)
{
	struct chunk_iter x, y;
	uint64_t n = 0;

	chunk_iter_init(&x, a, "", 0);
	chunk_iter_init(&y, b, "", 0);
	for (;;) {
		bool hx = chunk_iter_next(&x), hy = chunk_iter_next(&y);
		CHECK(hx == hy);
		if (!hx || !hy)
			break;
		size_t lx, ly;
		const uint8_t *tx = chunk_iter_term(&x, &lx), *ty = chunk_iter_term(&y, &ly);
		CHECK(lx == ly && memcmp(tx, ty, lx) == 0);
		roaring_bitmap_t *px = chunk_iter_postings(&x), *py = chunk_iter_postings(&y);
		CHECK(px && py && roaring_bitmap_equals(px, py));
		rfree(px);
		rfree(py);
		n++;
	}
	CHECK(n == chunk_nterms(a));
}

/* Builds parts adjacent chunks and one chunk of all their docs; the merge
 * must be byte-identical to the single build. */
static void test_merge_equal(unsigned parts, const uint32_t *sizes, unsigned vocab)
{
	struct chunk_builder *all, *b;
	struct chunk *in[3], *one, *merged;
	struct model m = { 0 }, m2 = { 0 };
	char name[32];
	uint64_t seq = 42;

	CHECK(chunk_builder_new(&all, seq) == 0);
	for (unsigned i = 0; i < parts; i++) {
		uint64_t seed = rng;
		CHECK(chunk_builder_new(&b, seq) == 0);
		fill(b, &m, sizes[i], vocab, 12);
		rng = seed;
		fill(all, &m2, sizes[i], vocab, 12);
		seq += sizes[i];
		snprintf(name, sizeof(name), "part%u.idx", i);
		CHECK(chunk_builder_write(b, path_of(name), errbuf, sizeof(errbuf)) == 0);
		chunk_builder_free(b);
		CHECK(chunk_open(&in[i], path_of(name), errbuf, sizeof(errbuf)) == 0);
	}
	CHECK(chunk_builder_write(all, path_of("all.idx"), errbuf, sizeof(errbuf)) == 0);
	chunk_builder_free(all);
	model_free(&m2);
	int r = chunk_merge(in, parts, path_of("merged.idx"), NULL, errbuf, sizeof(errbuf));
	CHECK_MSG(r == 0, "merge: %s", errbuf);
	CHECK(files_equal(path_of("all.idx"), path_of("merged.idx")));
	CHECK(chunk_open(&one, path_of("all.idx"), errbuf, sizeof(errbuf)) == 0);
	CHECK(chunk_open(&merged, path_of("merged.idx"), errbuf, sizeof(errbuf)) == 0);
	check_same(one, merged);
	sort_model(&m);
	check_chunk(merged, &m, 42);
	chunk_close(one);
	chunk_close(merged);

	/* refusals: one input, out of order, not adjacent */
	CHECK(chunk_merge(in, 1, path_of("bad.idx"), NULL, errbuf, sizeof(errbuf)) == ST_EINVAL);
	struct chunk *rev[2] = { in[1], in[0] };
	CHECK(chunk_merge(rev, 2, path_of("bad.idx"), NULL, errbuf, sizeof(errbuf)) == ST_EINVAL);
	if (parts == 3) {
		struct chunk *gap[2] = { in[0], in[2] };
		CHECK(chunk_merge(gap, 2, path_of("bad.idx"), NULL, errbuf, sizeof(errbuf)) == ST_EINVAL);
	}
	CHECK(access(path_of("bad.idx"), F_OK) != 0);
	for (unsigned i = 0; i < parts; i++)
		chunk_close(in[i]);
	model_free(&m);
}

/* Reads everything an open chunk offers; must not crash whatever it holds. */
static void walk_all(const struct chunk *c)
{
	struct chunk_iter it;
	roaring_bitmap_t *u = roaring_bitmap_create();
	int64_t lo, hi;

	for (uint32_t d = 0; d < chunk_ndocs(c); d++)
		(void)(chunk_time(c, d) + chunk_received(c, d));
	chunk_time_range(c, &lo, &hi);
	chunk_iter_init(&it, c, "", 0);
	while (chunk_iter_next(&it)) {
		size_t len;
		const uint8_t *t = chunk_iter_term(&it, &len);
		roaring_bitmap_t *rb = chunk_iter_postings(&it);
		rfree(rb);
		(void)chunk_iter_or_into(&it, u);
		rb = chunk_postings(c, t, len);
		rfree(rb);
		(void)chunk_df(c, t, len);
	}
	rfree(u);
}

static uint8_t hdr_crc_fix(uint8_t *p, size_t n)
{
	/* recompute the three section CRCs and the header CRC */
	uint32_t ndocs = get_le32(p + 20);
	uint64_t toff = get_le64(p + 80), tsize = get_le64(p + 88), boff = get_le64(p + 96);
	if (toff > n || tsize > n - toff || boff > n)
		return 0;
	put_le32(p + 112, crc32c(0, p + 128, 16 * (size_t)ndocs));
	put_le32(p + 116, crc32c(0, p + toff, tsize));
	put_le32(p + 120, crc32c(0, p + boff, n - boff));
	put_le32(p + 124, crc32c(0, p, 124));
	return 1;
}

static void test_corrupt(void)
{
	struct chunk_builder *b;
	struct chunk *c;
	struct buf f = BUF_INIT(1u << 26);
	const char *p = path_of("corrupt.idx");

	CHECK(chunk_builder_new(&b, 9) == 0);
	for (uint32_t d = 0; d < 3000; d++) {
		uint8_t tb[64];
		CHECK(chunk_builder_add_doc(b, d, d) == 0);
		for (int j = 0; j < 8; j++)
			CHECK(chunk_builder_add_term(b, tb, rand_term(tb, 3000)) == 0);
		if (d % 3 == 0)
			CHECK(chunk_builder_add_term(b, "dense", 5) == 0);
		if (d >= 100 && d < 2100)   /* a run: a roaring entry */
			CHECK(chunk_builder_add_term(b, "run", 3) == 0);
	}
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == 0);
	chunk_builder_free(b);
	CHECK(read_file(p, 1u << 26, &f) == 0);
	size_t n = f.len;
	uint8_t *orig = malloc(n), *mut = malloc(n);
	memcpy(orig, f.data, n);
	uint64_t toff = get_le64(orig + 80), boff = get_le64(orig + 96);
	size_t spots[] = { 0, 8, 20, 40, 90, 124, 128, 128 + 8 * 3000, (size_t)toff,
			   (size_t)toff + 1, (size_t)(toff + boff) / 2, (size_t)boff - 1,
			   (size_t)boff, n - 1 };
	for (size_t i = 0; i < ARRAY_SIZE(spots); i++) {
		memcpy(mut, orig, n);
		mut[spots[i]] ^= 0x10;
		errbuf[0] = 0;
		int r = chunk_open_mem(&c, mut, n, errbuf, sizeof(errbuf));
		CHECK_MSG(r == ST_ECORRUPT, "flip at %zu: %d", spots[i], r);
		CHECK(strstr(errbuf, "offset") != NULL);
		if (i == 0)
			printf("  e.g. flip at %zu: %s\n", spots[i], errbuf);
		if (r == 0)
			chunk_close(c);
	}
	for (size_t cut = 0; cut < n; cut += (cut < 300 ? 1 : 97)) {
		int r = chunk_open_mem(&c, orig, cut, errbuf, sizeof(errbuf));
		CHECK_MSG(r == ST_ECORRUPT, "truncated to %zu: %d", cut, r);
		if (r == 0)
			chunk_close(c);
	}
	/* a file appended to */
	CHECK(buf_append(&f, "x", 1) == 0);
	CHECK(chunk_open_mem(&c, f.data, f.len, errbuf, sizeof(errbuf)) == ST_ECORRUPT);

	/* crafted: change bytes, then fix every CRC: must never crash */
	unsigned opened = 0, walked_bad = 0;
	for (unsigned k = 0; k < 3000; k++) {
		memcpy(mut, orig, n);
		size_t at = (size_t)toff + rnd() % (n - (size_t)toff);
		unsigned flips = 1 + (unsigned)(rnd() % 3);
		for (unsigned j = 0; j < flips; j++)
			mut[(at + j * (rnd() % 64)) % n] ^= (uint8_t)(1 + rnd() % 255);
		if (!hdr_crc_fix(mut, n))
			continue;
		if (chunk_open_mem(&c, mut, n, errbuf, sizeof(errbuf)) == 0) {
			opened++;
			struct chunk_iter it;
			chunk_iter_init(&it, c, "", 0);
			while (chunk_iter_next(&it))
				;
			walked_bad += chunk_iter_error(&it) != 0;
			walk_all(c);
			chunk_close(c);
		}
	}
	/* every byte of the roaring posting changed, CRCs fixed: refused or
	 * exactly df docs below ndocs, never a crash */
	struct chunk_iter it;
	CHECK(chunk_open_mem(&c, orig, n, errbuf, sizeof(errbuf)) == 0);
	chunk_iter_init(&it, c, "run", 3);
	CHECK(chunk_iter_next(&it) && it.df == 2000 && it.kind == CHUNK_POST_ROARING);
	size_t roff = (size_t)toff + (size_t)it.post_off, rlen = it.post_len;
	chunk_close(c);
	unsigned refused = 0;
	for (size_t i = 0; i < rlen; i++) {
		for (unsigned v = 1; v < 256; v += 37) {
			memcpy(mut, orig, n);
			mut[roff + i] ^= (uint8_t)v;
			hdr_crc_fix(mut, n);
			CHECK(chunk_open_mem(&c, mut, n, errbuf, sizeof(errbuf)) == 0);
			roaring_bitmap_t *rb = chunk_postings(c, "run", 3);
			if (!rb)
				refused++;
			else
				CHECK(roaring_bitmap_get_cardinality(rb) == 2000 &&
				      roaring_bitmap_maximum(rb) < 3000);
			rfree(rb);
			walk_all(c);
			chunk_close(c);
		}
	}
	printf("  roaring posting of %zu bytes: %u of %zu mutations refused\n",
	       rlen, refused, rlen * 7);
	CHECK(refused > 0);
	printf("  crafted: %u of 3000 opened, %u of them stopped at a bad entry\n",
	       opened, walked_bad);
	CHECK(opened > 0 && walked_bad > 0);
	free(orig);
	free(mut);
	buf_release(&f);
}

/* Terms that defeat an 8-byte key: long shared prefixes (7, 8, 9, 16, 17
 * and 24 bytes, with zero bytes), suffixes of zeros and 0xff, and terms
 * that differ from another only by trailing zeros ("ab" < "ab\0"), in runs
 * long enough for the builder's radix sort to recurse several levels. The
 * writer refuses unsorted terms; the iteration must also match memcmp order
 * exactly, every term present once. */
static void test_sort_order(void)
{
	static const struct { const char *p; size_t len; } pre[] = {
		{ "", 0 }, { "F", 1 }, { "Factor.", 7 }, { "Factor.i", 8 },
		{ "Factor.id", 9 }, { "Fresource.id\0s3:", 16 },
		{ "Fresource.id\0s3:/", 17 }, { "Fsource.producer\0\0\0\0\0\0\0\0", 24 },
		{ "\0\0\0\0\0\0\0\0", 8 }, { "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9 },
	};
	static const uint8_t alpha[4] = { 0x00, 0x01, 'a', 0xff };
	const size_t n = 40000, per_doc = 64;
	struct mterm *t = calloc(n, sizeof(*t));
	struct chunk_builder *b;
	struct chunk *c;
	const char *p = path_of("sort.idx");

	for (size_t i = 0; i < n; i++) {
		unsigned k = (unsigned)(rnd() % ARRAY_SIZE(pre));
		size_t suf = (size_t)(rnd() % 25);
		bool zeros = rnd() % 4 == 0;
		memcpy(t[i].bytes, pre[k].p, pre[k].len);
		for (size_t j = 0; j < suf; j++)
			t[i].bytes[pre[k].len + j] = zeros ? 0 : alpha[rnd() % 4];
		t[i].len = pre[k].len + suf;
		if (t[i].len == 0)
			t[i].bytes[t[i].len++] = 'a';
	}
	qsort(t, n, sizeof(*t), mterm_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || mterm_cmp(&t[m - 1], &t[i]) != 0)
			t[m++] = t[i];
	CHECK(chunk_builder_new(&b, 0) == 0);
	for (size_t i = 0; i < m; i++) {
		/* added in an order unrelated to the sorted one */
		size_t j = (i * 7919) % m;
		if (i % per_doc == 0)
			CHECK(chunk_builder_add_doc(b, (int64_t)i, (int64_t)i) == 0);
		CHECK(chunk_builder_add_term(b, t[j].bytes, t[j].len) == 0);
	}
	int r = chunk_builder_write(b, p, errbuf, sizeof(errbuf));
	CHECK_MSG(r == 0, "write: %s", errbuf);
	chunk_builder_free(b);
	if (r == 0 && chunk_open(&c, p, errbuf, sizeof(errbuf)) == 0) {
		struct chunk_iter it;
		size_t k = 0, bad = 0;
		chunk_iter_init(&it, c, "", 0);
		for (; chunk_iter_next(&it); k++) {
			size_t len;
			const uint8_t *x = chunk_iter_term(&it, &len);
			if (k >= m || len != t[k].len || memcmp(x, t[k].bytes, len) != 0 ||
			    chunk_iter_df(&it) != 1)
				bad++;
		}
		CHECK(chunk_iter_error(&it) == 0);
		CHECK_MSG(k == m && bad == 0, "%zu terms read, %zu expected, %zu differ",
			  k, m, bad);
		chunk_close(c);
	} else {
		CHECK_MSG(false, "open: %s", errbuf);
	}
	free(t);
}

/* ---- measurement: an audit-like mix ---- */

static void test_measure(uint32_t ndocs)
{
	struct chunk_builder *b;
	struct chunk *c;
	char term[96];
	static const char *fields[20] = {
		"Faction", "Factor.type", "Factor.id", "Ftarget.type", "Ftarget.id",
		"Foutcome", "Fsource.ip", "Fsource.service", "Ftenant", "Fregion",
		"Fmethod", "Fstatus", "Fseverity", "Fkind", "Fapp", "Fenv",
		"Fhost", "Fversion", "Fzone", "Frole",
	};
	static const unsigned card[20] = { 200, 5, 5000, 50, 20000, 3, 30000, 100,
		300, 12, 8, 20, 5, 10, 40, 4, 500, 30, 16, 25 };
	uint64_t occ = 0;
	const char *p = path_of("measure.idx");

	/* The terms are generated first: only the builder is timed. */
	struct buf gen = BUF_INIT((size_t)ndocs * 50 * 64);
	for (uint32_t d = 0; d < ndocs; d++) {
		for (int f = 0; f < 20; f++) {
			/* skewed within the vocabulary */
			unsigned v = (unsigned)(rnd() % card[f]);
			v = (unsigned)(rnd() % (v + 1));
			int n = snprintf(term + 1, sizeof(term) - 1, "%s%c%s-%u", fields[f], 0,
					 f == 2 ? "user@example.com" : "value", v);
			term[0] = (char)n;
			CHECK(buf_append(&gen, term, (size_t)n + 1) == 0);
		}
		for (int u = 0; u < 5; u++) {          /* ids unique to the doc */
			int n = snprintf(term + 1, sizeof(term) - 1, "Fid%c%016llx%08x", 0,
					 (unsigned long long)rnd(), (unsigned)u);
			term[0] = (char)n;
			CHECK(buf_append(&gen, term, (size_t)n + 1) == 0);
		}
		for (int w = 0; w < 25; w++) {         /* Zipf-ish words */
			double x = (double)(rnd() % 1000000) / 1e6;
			unsigned rank = (unsigned)(1.0 / (1.0 - x * 0.99999)) - 1;
			int n = snprintf(term + 1, sizeof(term) - 1, "W%s%u", "word", rank);
			term[0] = (char)n;
			CHECK(buf_append(&gen, term, (size_t)n + 1) == 0);
		}
	}
	CHECK(chunk_builder_new(&b, 1) == 0);
	const uint8_t *g = gen.data;
	double t0 = now();
	for (uint32_t d = 0; d < ndocs; d++) {
		chunk_builder_add_doc(b, 1700000000000000000ll + d * 1000ll,
				      1700000000000000000ll + d * 1000ll + 5);
		for (int k = 0; k < 50; k++) {
			chunk_builder_add_term(b, g + 1, g[0]);
			g += 1 + g[0];
		}
		occ += 50;
	}
	double t1 = now();
	size_t mem = chunk_builder_mem(b);
	CHECK(chunk_builder_write(b, p, errbuf, sizeof(errbuf)) == 0);
	double t2 = now();
	chunk_builder_free(b);
	buf_release(&gen);
	CHECK(chunk_open(&c, p, errbuf, sizeof(errbuf)) == 0);
	double t3 = now();
	uint64_t size = chunk_file_size(c), nterms = chunk_nterms(c);
	chunk_close(c);
	/* open again, warm: the CRC cost */
	double t4 = now();
	CHECK(chunk_open(&c, p, errbuf, sizeof(errbuf)) == 0);
	double t5 = now();
	chunk_close(c);
	printf("  measure: %u docs, %llu occurrences, %llu terms\n", ndocs,
	       (unsigned long long)occ, (unsigned long long)nterms);
	printf("  add: %.1f ns/occurrence; write: %.1f ns/occurrence (%.3f s); total %.0f docs/s\n",
	       (t1 - t0) * 1e9 / (double)occ, (t2 - t1) * 1e9 / (double)occ, t2 - t1,
	       ndocs / (t2 - t0));
	printf("  builder memory %.1f MB (%.1f B/occurrence); file %.1f MB = %.1f B/doc"
	       " (%.0f%% of 450-byte events; columns 16 B/doc)\n",
	       (double)mem / 1e6, (double)mem / (double)occ, (double)size / 1e6,
	       (double)size / ndocs, 100.0 * (double)size / (450.0 * ndocs));
	printf("  open (CRC of all sections): cold-ish %.2f ms, warm %.2f ms = %.1f ms per 100 MB\n",
	       (t3 - t2) * 1e3, (t5 - t4) * 1e3, (t5 - t4) * 1e3 * 1e8 / (double)size);
	(void)t3;
}

/* chunk_builder_derive: a chunk whose 'H' path terms are derived from its
 * 'F' path 0x00 value terms is byte for byte the chunk with those 'H'
 * terms added per doc. The paths include prefixes of one another ("a",
 * "a.b", "ab"), a dense path (every doc), sparse ones (the sorted-vector
 * way), a path with one value only, 'H' terms added as such both for a
 * path that also has 'F' terms (the union) and for one that has none, and
 * terms before 'F' and after 'H'. */
static void test_derive(uint32_t ndocs)
{
	static const char *paths[] = { "a", "a.b", "a.b.c", "ab", "actor.id", "z", "one", "rare" };
	enum { NP = sizeof(paths) / sizeof(paths[0]) };
	struct chunk_builder *d, *x;
	uint8_t t[64];

	CHECK(chunk_builder_new(&d, 7) == 0 && chunk_builder_new(&x, 7) == 0);
	chunk_builder_derive(d, 'F', 'H');
	for (uint32_t doc = 0; doc < ndocs; doc++) {
		CHECK(chunk_builder_add_doc(d, doc, doc) == 0 && chunk_builder_add_doc(x, doc, doc) == 0);
		for (unsigned p = 0; p < NP; p++) {
			size_t pl = strlen(paths[p]);
			/* "a" in every doc (the bitmap way); "one" in every 7th with
			 * one value (a single posting list); "rare" in 1 doc of 500
			 * (the sorted-vector way); the rest in 1 doc of 3, 6, 11 ...
			 * with up to 3 values each */
			bool in = p == 0 || (p == 6 ? doc % 7 == 0 :
					     rnd() % (p == 7 ? 500 : p * p + 2) == 0);
			unsigned nv = p == 6 ? 1 : 1 + (unsigned)(rnd() % 3);
			for (unsigned v = 0; in && v < nv; v++) {
				t[0] = 'F';
				memcpy(t + 1, paths[p], pl);
				t[1 + pl] = 0;
				int vl = snprintf((char *)t + 2 + pl, sizeof(t) - 2 - pl, "v%u",
						  p == 6 ? 0u : (unsigned)(rnd() % (p == 0 ? 3 : 50)));
				CHECK(chunk_builder_add_term(d, t, 2 + pl + (size_t)vl) == 0);
				CHECK(chunk_builder_add_term(x, t, 2 + pl + (size_t)vl) == 0);
			}
			if (in) {
				t[0] = 'H';
				memcpy(t + 1, paths[p], pl);
				CHECK(chunk_builder_add_term(x, t, 1 + pl) == 0);
			}
			/* some 'H' added as such to the derived builder as well */
			if (in && p == 1 && doc % 2 == 0) {
				CHECK(chunk_builder_add_term(d, t, 1 + pl) == 0);
			}
		}
		/* a container: 'H' only, never an 'F' */
		if (doc % 4 == 1) {
			CHECK(chunk_builder_add_term(d, "Hactor", 6) == 0 && chunk_builder_add_term(x, "Hactor", 6) == 0);
			/* a 'H' path that is also the derived "a.b" path's twin in
			 * another doc (a container there, a value here) */
			CHECK(chunk_builder_add_term(d, "Ha.b", 4) == 0 && chunk_builder_add_term(x, "Ha.b", 4) == 0);
		}
		CHECK(chunk_builder_add_term(d, "Aearly", 6) == 0 && chunk_builder_add_term(x, "Aearly", 6) == 0);
		snprintf((char *)t, sizeof(t), "Ww%u", (unsigned)(rnd() % 20));
		CHECK(chunk_builder_add_term(d, t, strlen((char *)t)) == 0);
		CHECK(chunk_builder_add_term(x, t, strlen((char *)t)) == 0);
	}
	char pd[512], px[512];
	snprintf(pd, sizeof(pd), "%s", path_of("derived.idx"));
	snprintf(px, sizeof(px), "%s", path_of("explicit.idx"));
	CHECK(chunk_builder_write(d, pd, errbuf, sizeof(errbuf)) == 0);
	CHECK(chunk_builder_write(x, px, errbuf, sizeof(errbuf)) == 0);
	CHECK_MSG(files_equal(pd, px), "%u docs: the derived chunk differs from the explicit one", ndocs);
	/* and it reads: "Ha" holds every doc */
	struct chunk *c;
	CHECK(chunk_open(&c, pd, errbuf, sizeof(errbuf)) == 0);
	CHECK(chunk_df(c, "Ha", 2) == ndocs);
	chunk_close(c);
	chunk_builder_free(d);
	chunk_builder_free(x);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_limits();
	test_roundtrip(1, 10, 5);
	test_roundtrip(50, 40, 8);
	test_roundtrip(2000, 300, 20);
	test_roundtrip(5000, 5000, 12);
	test_dense();
	test_sort_order();
	uint32_t s2[2] = { 700, 1300 }, s3[3] = { 1000, 1, 2500 };
	test_merge_equal(2, s2, 400);
	test_merge_equal(3, s3, 3000);
	test_corrupt();
	test_derive(1);
	test_derive(100);
	test_derive(5000);
	test_measure(getenv("CHUNK_MEASURE_DOCS") ? (uint32_t)atoi(getenv("CHUNK_MEASURE_DOCS")) : 100000);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return test_report("test_chunk");
}
