/*
 * chunk.h - immutable index chunks: the files of the search index's LSM.
 *
 * A chunk covers the log positions [first_seq, first_seq + ndocs); doc i is
 * seq first_seq + i. It maps terms (opaque byte strings of 1..CHUNK_TERM_MAX
 * bytes) to posting lists (sorted sets of doc numbers) and holds two int64
 * columns per doc: event time and received time (Unix ns). See
 * docs/INDEX-FORMAT.md for every byte.
 *
 * Life cycle: the indexer fills a chunk_builder from new log entries, writes
 * it (chunk_builder_write), and later merges adjacent chunks into bigger ones
 * (chunk_merge). Queries open chunks (chunk_open: mmap + validation) and read
 * postings as CRoaring bitmaps.
 *
 * Errors: negative errno or ST_E* (common/util.h). Nothing here logs. A
 * chunk that fails a check gives ST_ECORRUPT with a message naming the byte
 * offset; every read is bounds-checked against the mapping, so a corrupt
 * file never crashes a reader.
 *
 * Threads: a builder belongs to one thread. An open chunk is read-only and
 * may be shared by any number of threads; each iterator belongs to one.
 */
#ifndef SEALTRAIL_INDEX_CHUNK_H
#define SEALTRAIL_INDEX_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#define CHUNK_MAGIC "SEALIDX"          /* 7 chars + NUL = 8 bytes */
#define CHUNK_VERSION 2
#define CHUNK_HDR_SIZE 128
#define CHUNK_DOCS_MAX (1u << 24)      /* doc numbers fit in 24 bits */
#define CHUNK_TERM_MAX 1024            /* longest term, bytes */
#define CHUNK_BLOCK_TERMS 32           /* terms per front-coded block */

/* ---- building ---- */

struct chunk_builder;

/* A new, empty builder for a chunk whose doc 0 is first_seq. 0 or -ENOMEM;
 * *ret is set only on success. */
int chunk_builder_new(struct chunk_builder **ret, uint64_t first_seq);

/* Starts the next doc (numbered 0, 1, 2 ...) with its two column values.
 * 0, -ENOMEM, or ST_ELIMIT when the chunk already has CHUNK_DOCS_MAX docs. */
int chunk_builder_add_doc(struct chunk_builder *b, int64_t time_ns,
			  int64_t received_ns);
/* Sets the current doc's two column values (when they are known only
 * after its terms were added). No doc yet: nothing. */
void chunk_builder_set_times(struct chunk_builder *b, int64_t time_ns, int64_t received_ns);

/* Adds a term (copied) to the current doc; the same term twice in one doc
 * is recorded once. ST_EINVAL when len is 0 or over CHUNK_TERM_MAX or when
 * no doc was started, -ENOMEM. One hash probe, no malloc per term (arena). */
int chunk_builder_add_term(struct chunk_builder *b, const void *term,
			   size_t len);
/* One term of a batch: len 1..CHUNK_TERM_MAX bytes at p. */
struct chunk_term {
	const void *p;
	uint32_t len;
};
/* Adds n terms to the current doc, as n calls of chunk_builder_add_term
 * would (stopping at the first error), with the table's memory fetched
 * ahead: the indexer's hot path. */
int chunk_builder_add_terms(struct chunk_builder *b, const struct chunk_term *t, size_t n);

/* Derived terms: from now on, every term from·P·0x00·V (P the bytes
 * before its first 0x00) also counts, when the chunk is written, as the
 * term to·P, with the union of the docs of all such terms (and of a to·P
 * term added as such). The index's presence terms ('H' path) are made
 * this way from its value terms ('F' path 0x00 value) instead of being
 * added once per doc per field. to must be greater than from. */
void chunk_builder_derive(struct chunk_builder *b, uint8_t from, uint8_t to);

/* Docs added so far. */
uint32_t chunk_builder_docs(const struct chunk_builder *b);

/* Bytes of memory the builder holds (arena, hash table, columns), so the
 * caller can bound it and write the chunk early. */
size_t chunk_builder_mem(const struct chunk_builder *b);

/* Sorts the terms and writes the chunk to path durably: PATH.tmp in the
 * same directory, write, fdatasync, rename, fsync the directory. ST_EINVAL
 * for a builder with 0 docs; -errno for I/O (the tmp file is removed). The
 * builder is left intact (it may be written again or freed). A message goes
 * to err[0..errcap) (NULL/0 allowed). */
int chunk_builder_write(struct chunk_builder *b, const char *path, char *err,
			size_t errcap);

/* Empties the builder for a new chunk whose doc 0 is first_seq, keeping
 * its memory (the table at its size, the arena's blocks, the columns): the
 * next chunk's adds find their pages already faulted in. The derive
 * setting stays. */
void chunk_builder_reset(struct chunk_builder *b, uint64_t first_seq);

/* Frees the builder and everything it holds. NULL is fine. */
void chunk_builder_free(struct chunk_builder *b);

/* ---- reading ---- */

struct chunk;

/* Maps path read-only and validates it: magic, version, feature flags,
 * header CRC, section bounds, the CRC-32C of every section, the block
 * index. ST_ECORRUPT with err naming the byte offset and the failed check,
 * or -errno. *ret is set only on success; chunk_close() releases it. */
int chunk_open(struct chunk **ret, const char *path, char *err,
	       size_t errcap);

/* Like chunk_open() over bytes the caller owns: data[0..size) must stay
 * valid and unchanged until chunk_close(). Used by the fuzzer and by tools
 * that already hold the file. */
int chunk_open_mem(struct chunk **ret, const uint8_t *data, size_t size,
		   char *err, size_t errcap);

void chunk_close(struct chunk *c);  /* NULL ok */
/* Drops the chunk's mapped pages from this process (they stay in the page
 * cache and fault back in when read): bounds the resident set of a reader
 * that has touched much of the index. Any thread, any time; no-op for
 * chunk_open_mem. */
void chunk_trim(const struct chunk *c);

uint64_t chunk_first_seq(const struct chunk *c);
uint32_t chunk_ndocs(const struct chunk *c);
uint64_t chunk_nterms(const struct chunk *c);
uint64_t chunk_file_size(const struct chunk *c);

/* Column values of doc (0 when doc >= ndocs). O(1). */
int64_t chunk_time(const struct chunk *c, uint32_t doc);
int64_t chunk_received(const struct chunk *c, uint32_t doc);
/* Smallest and largest value of a column over all docs (from the header). */
void chunk_time_range(const struct chunk *c, int64_t *ret_min,
		      int64_t *ret_max);
void chunk_received_range(const struct chunk *c, int64_t *ret_min,
			  int64_t *ret_max);

/* Exact-term lookup: a new bitmap of doc numbers that the caller frees with
 * roaring_bitmap_free(), or NULL when the term is absent, the entry is
 * corrupt or memory ran out. */
roaring_bitmap_t *chunk_postings(const struct chunk *c, const void *term,
				 size_t len);

/* Document frequency of a term without decoding its postings (0 when
 * absent or corrupt). */
uint32_t chunk_df(const struct chunk *c, const void *term, size_t len);

/* Iterates, in byte-sorted order (memcmp, shorter first), the terms that
 * start with a prefix. The caller allocates it (on the stack is fine) and
 * keeps the prefix bytes and the chunk alive while iterating. The fields
 * are private. */
struct chunk_iter {
	const struct chunk *c;
	const uint8_t *prefix;
	size_t prefix_len;
	uint64_t block;            /* current block */
	uint64_t idx;              /* entry index within the block */
	uint64_t pos;              /* next entry's offset in the terms section */
	uint64_t end;              /* end of the current block */
	int err;                   /* 0, or ST_ECORRUPT once a bad entry is met */
	bool started, done;
	/* the current entry */
	uint32_t df;
	uint32_t doc;              /* df == 1: the doc */
	uint8_t kind;              /* CHUNK_POST_* */
	uint64_t post_off;         /* df > 1: offset of the encoded postings */
	uint32_t post_len;         /* (for delta lists, after the skip table) */
	uint64_t skip_off;         /* delta lists with nskip > 0: the skip table */
	uint32_t nskip;
	size_t term_len;
	uint8_t term[CHUNK_TERM_MAX];
};

/* Positions it before the first term >= prefix (len 0: all terms). */
void chunk_iter_init(struct chunk_iter *it, const struct chunk *c,
		     const void *prefix, size_t len);
/* Moves to the next matching term; false at the end or on a corrupt entry
 * (then chunk_iter_error() says ST_ECORRUPT). */
bool chunk_iter_next(struct chunk_iter *it);
/* 0, or ST_ECORRUPT when iteration stopped at a corrupt entry. */
int chunk_iter_error(const struct chunk_iter *it);
/* The current term; valid until the next chunk_iter_next(). */
const uint8_t *chunk_iter_term(const struct chunk_iter *it, size_t *ret_len);
uint32_t chunk_iter_df(const struct chunk_iter *it);
/* The current term's postings as a new bitmap (caller frees), NULL when
 * corrupt or out of memory. */
roaring_bitmap_t *chunk_iter_postings(const struct chunk_iter *it);
/* ORs the current term's postings into `into`, adding the docs directly
 * when the list is inline or delta-coded (no temporary bitmap). 0,
 * ST_ECORRUPT or -ENOMEM (into may then hold part of the list). */
int chunk_iter_or_into(const struct chunk_iter *it, roaring_bitmap_t *into);
/* Adds to out each of cand[0..n) (ascending, distinct) that is in the
 * current term's postings, reading only what those docs need: the skip
 * table of a delta list, the containers they fall in of a roaring one
 * (never the whole list). 0 or ST_ECORRUPT (out may then hold part). */
int chunk_iter_filter(const struct chunk_iter *it, const uint32_t *cand, size_t n,
		      roaring_bitmap_t *out);

/* ---- merging ---- */

/* Merges n >= 2 open chunks of adjacent ranges, in order (in[i+1]'s
 * first_seq == in[i]'s first_seq + ndocs), into one new chunk at path,
 * durably as chunk_builder_write(). Streams: a k-way merge of the sorted
 * term dictionaries, postings shifted by each input's doc offset. Memory:
 * one term's postings plus 8 bytes per 32 output terms (the block index).
 * ST_EINVAL when the inputs are not adjacent or n < 2, ST_ELIMIT when the
 * total passes CHUNK_DOCS_MAX, ST_ECORRUPT when an input entry is bad,
 * -ECANCELED when *cancel (read now and then; NULL: never) became true
 * (nothing is left behind but the removed temporary file). */
int chunk_merge(struct chunk *const *in, size_t n, const char *path, const bool *cancel,
		char *err, size_t errcap);

/* Posting encodings (docs/INDEX-FORMAT.md). */
enum {
	CHUNK_POST_DELTA = 0,      /* a skip table when df > 128, then df varints:
				    * first doc, then gaps - 1 */
	CHUNK_POST_ROARING = 1,    /* CRoaring portable serialization */
};

#endif
