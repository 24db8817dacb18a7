/*
 * fuzz_chunk.c - chunk_open_mem() and every reader of an index chunk over
 * arbitrary bytes (src/index/chunk.h).
 *
 * The input is the whole chunk file. A refused input must be refused with
 * ST_ECORRUPT (never another code, never a crash); an accepted one is
 * walked completely: the columns, every term by prefix iteration, its df,
 * its postings (new bitmap, OR into one, a filter of candidates through
 * it), an exact lookup of it and of
 * each of its prefixes. A walk may stop at a corrupt entry (the section
 * CRCs can be forged) but must not read outside the input.
 *
 * The input is copied into its own allocation so that ASan sees a read
 * one byte past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "index/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rfree(roaring_bitmap_t *rb)
{
	if (rb)   /* CRoaring 0.2.66 does not accept NULL */
		roaring_bitmap_free(rb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk *c;
	struct chunk_iter it;
	char err[256];
	uint8_t *copy = malloc(size ? size : 1);
	roaring_bitmap_t *u;
	int64_t lo, hi;
	uint64_t nterms = 0;
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	r = chunk_open_mem(&c, copy, size, err, sizeof(err));
	if (r < 0) {
		if (r != ST_ECORRUPT)
			abort();
		free(copy);
		return 0;
	}
	for (uint32_t d = 0; d <= chunk_ndocs(c); d++)
		(void)(chunk_time(c, d) ^ chunk_received(c, d));
	chunk_time_range(c, &lo, &hi);
	chunk_received_range(c, &lo, &hi);
	u = roaring_bitmap_create();
	size_t ncand = 0;
	uint32_t *cand = malloc(((size_t)chunk_ndocs(c) / 3 + 1) * sizeof(*cand));
	for (uint32_t d = 0; cand && d < chunk_ndocs(c); d += 3)
		cand[ncand++] = d;
	chunk_iter_init(&it, c, NULL, 0);
	while (chunk_iter_next(&it)) {
		size_t len;
		const uint8_t *t = chunk_iter_term(&it, &len);
		uint8_t term[CHUNK_TERM_MAX];
		roaring_bitmap_t *rb = chunk_iter_postings(&it);
		if (rb && roaring_bitmap_get_cardinality(rb) != chunk_iter_df(&it))
			abort();
		if (rb && roaring_bitmap_get_cardinality(rb) &&
		    roaring_bitmap_maximum(rb) >= chunk_ndocs(c))
			abort();
		rfree(rb);
		(void)chunk_iter_or_into(&it, u);
		/* filtering every third doc (a forged list may give any docs,
		 * but only candidates, and no read outside the input) */
		if (cand) {
			roaring_bitmap_t *f = roaring_bitmap_create();
			(void)chunk_iter_filter(&it, cand, ncand, f);
			if (roaring_bitmap_get_cardinality(f) &&
			    roaring_bitmap_maximum(f) >= chunk_ndocs(c))
				abort();
			rfree(f);
		}
		memcpy(term, t, len);
		for (size_t k = 1; k <= len && k <= 4; k++) {
			rfree(chunk_postings(c, term, k));
			(void)chunk_df(c, term, k);
		}
		rfree(chunk_postings(c, term, len));
		(void)chunk_df(c, term, len);
		if (len) {
			struct chunk_iter p;
			chunk_iter_init(&p, c, term, 1);
			for (int k = 0; k < 3 && chunk_iter_next(&p); k++)
				;
		}
		nterms++;
	}
	if (!chunk_iter_error(&it) && nterms != chunk_nterms(c))
		abort();
	if (roaring_bitmap_get_cardinality(u) &&
	    roaring_bitmap_maximum(u) >= chunk_ndocs(c))
		abort();
	roaring_bitmap_free(u);
	free(cand);
	chunk_close(c);
	free(copy);
	return 0;
}
