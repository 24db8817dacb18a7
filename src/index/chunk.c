/*
 * chunk.c - index chunks: the in-memory builder, the file writer shared by
 * the builder and the merge, and the mmap'd reader. docs/INDEX-FORMAT.md
 * has every byte.
 *
 * Invariants:
 *  1. Builder: every distinct term lives once in the arena (struct bterm +
 *     its bytes); the hash table holds (hash, index) pairs, so one probe per
 *     add and no malloc per term. A term's postings are a delta-varint byte
 *     stream in arena blocks linked backwards; df == 1 keeps the doc in
 *     bterm.last and allocates nothing more.
 *  2. Writer: terms arrive strictly increasing (memcmp, shorter first); a
 *     term that does not is refused with ST_ECORRUPT (a merge of a crafted
 *     input), so a written chunk is always sorted. The header is written
 *     last, then fdatasync, rename, fsync of the directory: a chunk file
 *     under its final name is always complete.
 *  3. Reader: chunk_open() checks the header, the bounds of every section,
 *     every section's CRC-32C and the block index. Entries are decoded with
 *     every length checked against the section end, and a roaring posting
 *     is fully validated (validate_roaring) before CRoaring sees it: the
 *     library's "safe" deserializer checks lengths only, and a run past
 *     65535 would later write out of bounds.
 */
#include "index/chunk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bigmem.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/util.h"

/* Header field offsets (docs/INDEX-FORMAT.md). */
enum {
	H_MAGIC = 0, H_VERSION = 8, H_INCOMPAT = 12, H_COMPAT = 16,
	H_NDOCS = 20, H_FIRST_SEQ = 24, H_NTERMS = 32, H_NBLOCKS = 40,
	H_TIME_MIN = 48, H_TIME_MAX = 56, H_RECV_MIN = 64, H_RECV_MAX = 72,
	H_TERMS_OFF = 80, H_TERMS_SIZE = 88, H_BIDX_OFF = 96,
	H_RESERVED = 104, H_CRC_COLS = 112, H_CRC_TERMS = 116,
	H_CRC_BIDX = 120, H_CRC_HDR = 124,
};

#define ROARING_MIN_DF 16       /* below this, delta varints always win */
#define SKIP_EVERY 128          /* a delta list's skip table: one entry per this many postings */
#define WBUF_SIZE (1u << 20)    /* writer's output buffer */
#define ARENA_BLOCK BIGMEM_HUGE  /* one huge page: the adds touch it at random */
#define PBLOCK_FIRST 8          /* first posting block's data bytes */
#define PBLOCK_MAX 4096

static int corrupt(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int corrupt(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return ST_ECORRUPT;
}

static int failmsg(int r, char *err, size_t cap, const char *what)
{
	if (err && cap)
		snprintf(err, cap, "%s: %s", what, st_strerror(r));
	return r;
}

/* ---- varints (LEB128) ---- */

static inline size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint from p[*pos..end); false when it runs past end or is
 * longer than 10 bytes. */
static inline bool varint_get(const uint8_t *p, uint64_t end, uint64_t *pos,
			      uint64_t *ret)
{
	uint64_t v = 0, i = *pos;
	unsigned shift = 0;

	while (i < end && shift < 64) {
		uint8_t b = p[i++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pos = i;
			*ret = v;
			return true;
		}
		shift += 7;
	}
	return false;
}

static inline int term_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
			   size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);
	if (d)
		return d;
	return alen < blen ? -1 : alen > blen;
}

/* A merge lets go of its inputs' mapped pages after every this many bytes
 * of output, so its resident set stays bounded whatever the inputs' sizes. */
#define MERGE_TRIM_BYTES (64u << 20)

/* ---- the writer (builder and merge) ---- */

struct cwriter {
	int fd;
	const char *path;
	char tmp[PATH_MAX];
	struct buf out;             /* pending bytes at file offset `off` */
	uint64_t off;
	uint32_t *crc;              /* the current section's CRC */
	uint32_t crc_cols, crc_terms, crc_bidx;
	uint64_t terms_off, nterms;
	uint64_t *blocks;           /* block start offsets, relative to terms */
	size_t nblocks, cap_blocks;
	uint8_t prev[CHUNK_TERM_MAX];
	size_t prev_len;
	char *rbuf;                 /* roaring serialization scratch */
	size_t rcap;
};

static int cw_flush(struct cwriter *w)
{
	int r;

	if (!w->out.len)
		return 0;
	if (w->crc)
		*w->crc = crc32c(*w->crc, w->out.data, w->out.len);
	r = write_all(w->fd, w->out.data, w->out.len);
	w->off += w->out.len;
	w->out.len = 0;
	return r;
}

static int cw_put(struct cwriter *w, const void *p, size_t n)
{
	int r;

	if (w->out.len + n > WBUF_SIZE && (r = cw_flush(w)) < 0)
		return r;
	if (n > WBUF_SIZE) {
		if (w->crc)
			*w->crc = crc32c(*w->crc, p, n);
		w->off += n;
		return write_all(w->fd, p, n);
	}
	memcpy(w->out.data + w->out.len, p, n);
	w->out.len += n;
	return 0;
}

static inline uint64_t cw_pos(const struct cwriter *w)
{
	return w->off + w->out.len;
}

static int cw_open(struct cwriter *w, const char *path)
{
	static const uint8_t zero[CHUNK_HDR_SIZE];
	int r;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->path = path;
	if (snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", path) >= (int)sizeof(w->tmp))
		return -ENAMETOOLONG;
	buf_init(&w->out, WBUF_SIZE);
	if ((r = buf_reserve(&w->out, WBUF_SIZE)) < 0)
		return r;
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -errno;
	w->crc = NULL;
	if ((r = cw_put(w, zero, sizeof(zero))) < 0 || (r = cw_flush(w)) < 0)
		return r;
	w->crc = &w->crc_cols;
	return 0;
}

/* Columns done: the terms section starts. */
static int cw_begin_terms(struct cwriter *w)
{
	int r = cw_flush(w);
	w->crc = &w->crc_terms;
	w->terms_off = cw_pos(w);
	return r;
}

static void cw_abort(struct cwriter *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlink(w->tmp);
	}
	w->fd = -1;
	buf_release(&w->out);
	free(w->blocks);
	free(w->rbuf);
}

/* Bytes of a delta list's skip table: one 8-byte entry per SKIP_EVERY
 * postings after the first SKIP_EVERY (INDEX.md, "Postings"). */
static inline size_t skip_bytes(uint32_t df)
{
	return df > SKIP_EVERY ? 8 * (size_t)((df - 1) / SKIP_EVERY) : 0;
}

/* The bytes of docs[0..df) as delta varints. */
static size_t delta_size(const uint32_t *docs, uint32_t df)
{
	size_t n = varint_size(docs[0]);
	for (uint32_t i = 1; i < df; i++)
		n += varint_size(docs[i] - docs[i - 1] - 1);
	return n;
}

/* Appends one dictionary entry: term and its postings docs[0..df), sorted
 * and distinct. */
static int cw_term(struct cwriter *w, const uint8_t *term, size_t len,
		   const uint32_t *docs, uint32_t df)
{
	uint8_t tmp[32];
	size_t n = 0, shared = 0;
	int r;

	if (w->nterms && term_cmp(w->prev, w->prev_len, term, len) >= 0)
		return ST_ECORRUPT;           /* invariant 2 */
	if (w->nterms % CHUNK_BLOCK_TERMS == 0) {
		if (w->nblocks == w->cap_blocks) {
			size_t cap = w->cap_blocks ? w->cap_blocks * 2 : 1024;
			uint64_t *nb = realloc(w->blocks, cap * sizeof(*nb));
			if (!nb)
				return -ENOMEM;
			w->blocks = nb;
			w->cap_blocks = cap;
		}
		w->blocks[w->nblocks++] = cw_pos(w) - w->terms_off;
		n += varint_put(tmp + n, len);
	} else {
		size_t m = len < w->prev_len ? len : w->prev_len;
		while (shared < m && w->prev[shared] == term[shared])
			shared++;
		n += varint_put(tmp + n, shared);
		n += varint_put(tmp + n, len - shared);
	}
	if ((r = cw_put(w, tmp, n)) < 0 ||
	    (r = cw_put(w, term + shared, len - shared)) < 0)
		return r;
	memcpy(w->prev + shared, term + shared, len - shared);
	w->prev_len = len;
	w->nterms++;

	n = varint_put(tmp, df);
	if (df == 1) {
		n += varint_put(tmp + n, docs[0]);
		return cw_put(w, tmp, n);
	}
	size_t dsize = delta_size(docs, df), ssize = skip_bytes(df);
	if (df >= ROARING_MIN_DF &&
	    (uint64_t)(docs[df - 1] - docs[0]) + 1 < (uint64_t)df * 16) {
		/* Dense enough for bitset or run containers to beat one byte
		 * per doc: measure roaring and keep the smaller. */
		roaring_bitmap_t *rb = roaring_bitmap_of_ptr(df, docs);
		if (!rb)
			return -ENOMEM;
		roaring_bitmap_run_optimize(rb);
		size_t rsize = roaring_bitmap_portable_size_in_bytes(rb);
		if (rsize < dsize + ssize) {
			if (rsize > w->rcap) {
				char *nb = realloc(w->rbuf, rsize);
				if (!nb) {
					roaring_bitmap_free(rb);
					return -ENOMEM;
				}
				w->rbuf = nb;
				w->rcap = rsize;
			}
			roaring_bitmap_portable_serialize(rb, w->rbuf);
			roaring_bitmap_free(rb);
			n += varint_put(tmp + n, (uint64_t)rsize << 1 | CHUNK_POST_ROARING);
			if ((r = cw_put(w, tmp, n)) < 0)
				return r;
			return cw_put(w, w->rbuf, rsize);
		}
		roaring_bitmap_free(rb);
	}
	n += varint_put(tmp + n, (uint64_t)(ssize + dsize) << 1 | CHUNK_POST_DELTA);
	if ((r = cw_put(w, tmp, n)) < 0)
		return r;
	if (ssize) {
		/* The skip table: for posting i = k * SKIP_EVERY (k >= 1),
		 * its doc and the offset of its varint in the stream. */
		uint64_t off = varint_size(docs[0]);
		for (uint32_t i = 1; i < df; i++) {
			if (i % SKIP_EVERY == 0) {
				uint8_t e[8];
				put_le32(e, docs[i]);
				put_le32(e + 4, (uint32_t)off);
				if ((r = cw_put(w, e, 8)) < 0)
					return r;
			}
			off += varint_size(docs[i] - docs[i - 1] - 1);
		}
	}
	n = varint_put(tmp, docs[0]);
	for (uint32_t i = 1; i < df; i++) {
		if (n > sizeof(tmp) - 10) {
			if ((r = cw_put(w, tmp, n)) < 0)
				return r;
			n = 0;
		}
		n += varint_put(tmp + n, docs[i] - docs[i - 1] - 1);
	}
	return cw_put(w, tmp, n);
}

struct col_stats {
	int64_t tmin, tmax, rmin, rmax;
};

/* Pads the terms section, writes the block index and the header, and makes
 * the file durable under its final name. */
static int cw_finish(struct cwriter *w, uint64_t first_seq, uint32_t ndocs,
		     const struct col_stats *st)
{
	static const uint8_t zero[8];
	uint8_t h[CHUNK_HDR_SIZE], le[8];
	uint64_t terms_size;
	int r;

	if ((r = cw_flush(w)) < 0)
		return r;
	terms_size = cw_pos(w) - w->terms_off;
	w->crc = NULL;
	if ((r = cw_put(w, zero, (8 - cw_pos(w) % 8) % 8)) < 0 ||
	    (r = cw_flush(w)) < 0)
		return r;
	uint64_t bidx_off = cw_pos(w);
	w->crc = &w->crc_bidx;
	for (size_t i = 0; i < w->nblocks; i++) {
		put_le64(le, w->blocks[i]);
		if ((r = cw_put(w, le, 8)) < 0)
			return r;
	}
	if ((r = cw_flush(w)) < 0)
		return r;

	memset(h, 0, sizeof(h));
	memcpy(h + H_MAGIC, CHUNK_MAGIC, 8);
	put_le32(h + H_VERSION, CHUNK_VERSION);
	put_le32(h + H_NDOCS, ndocs);
	put_le64(h + H_FIRST_SEQ, first_seq);
	put_le64(h + H_NTERMS, w->nterms);
	put_le64(h + H_NBLOCKS, w->nblocks);
	put_le64(h + H_TIME_MIN, (uint64_t)st->tmin);
	put_le64(h + H_TIME_MAX, (uint64_t)st->tmax);
	put_le64(h + H_RECV_MIN, (uint64_t)st->rmin);
	put_le64(h + H_RECV_MAX, (uint64_t)st->rmax);
	put_le64(h + H_TERMS_OFF, w->terms_off);
	put_le64(h + H_TERMS_SIZE, terms_size);
	put_le64(h + H_BIDX_OFF, bidx_off);
	put_le32(h + H_CRC_COLS, w->crc_cols);
	put_le32(h + H_CRC_TERMS, w->crc_terms);
	put_le32(h + H_CRC_BIDX, w->crc_bidx);
	put_le32(h + H_CRC_HDR, crc32c(0, h, H_CRC_HDR));
	if ((r = pwrite_all(w->fd, h, sizeof(h), 0)) < 0)
		return r;
	if (fdatasync(w->fd) < 0)
		return -errno;
	r = close(w->fd);
	w->fd = -1;
	if (r < 0) {
		r = -errno;
		unlink(w->tmp);
		return r;
	}
	if (rename(w->tmp, w->path) < 0) {
		r = -errno;
		unlink(w->tmp);
		return r;
	}
	return fsync_parent(w->path);
}

/* ---- the builder ---- */

/* One distinct term (invariant 1). 24 bytes + the term. */
struct bterm {
	uint32_t last;              /* the last doc that has the term */
	uint32_t df;
	uint8_t *blk;               /* current posting block; NULL while df == 1 */
	uint16_t len;
	uint16_t pos;               /* bytes used in blk's data */
	uint16_t cap;               /* blk's data bytes */
	uint16_t nblk;              /* blocks in the chain */
	uint8_t bytes[];
};

/* A posting block: the previous block's address, then cap data bytes. */
#define PBLOCK_HDR sizeof(uint8_t *)

/* A hash table slot: the term and its full hash (t == NULL: empty), so a
 * probe touches the slot and, on a hash match, the term: two cache misses
 * at most. */
struct slot {
	struct bterm *t;
	uint64_t hash;
};

struct arena_blk {
	struct arena_blk *next;
	size_t size;
};

struct chunk_builder {
	uint64_t first_seq;
	uint32_t ndocs;
	/* arena; spare: blocks kept by chunk_builder_reset, used first */
	struct arena_blk *arena, *spare;
	uint8_t *acur, *aend;
	size_t arena_bytes;
	/* terms: open addressing, linear probing, load <= 1/2 */
	struct slot *slots;
	size_t nterms, mask;
	/* columns */
	int64_t *time, *recv;
	size_t cap_docs;
	/* chunk_builder_derive: from 0 means none */
	uint8_t dfrom, dto;
};

static void *arena_alloc(struct chunk_builder *b, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if ((size_t)(b->aend - b->acur) < n) {
		size_t size = n + sizeof(struct arena_blk) > ARENA_BLOCK ?
			n + sizeof(struct arena_blk) : ARENA_BLOCK;
		struct arena_blk *a = b->spare;
		if (a && a->size >= size) {
			b->spare = a->next;   /* already faulted in: no page to clear */
		} else {
			if (!(a = big_alloc(size)))
				return NULL;
			a->size = size;
			b->arena_bytes += size;
		}
		a->next = b->arena;
		b->arena = a;
		b->acur = (uint8_t *)(a + 1);
		b->aend = (uint8_t *)a + a->size;
	}
	void *p = b->acur;
	b->acur += n;
	return p;
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ull;
	uint64_t h = 0x243f6a8885a308d3ull ^ (n * k), v;

	while (n >= 8) {
		memcpy(&v, p, 8);
		h = (h ^ v) * k;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	if (n) {
		v = 0;
		memcpy(&v, p, n);
		h = (h ^ v) * k;
	}
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

int chunk_builder_new(struct chunk_builder **ret, uint64_t first_seq)
{
	struct chunk_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->first_seq = first_seq;
	b->mask = 4096 - 1;
	b->slots = big_alloc((b->mask + 1) * sizeof(*b->slots));
	if (!b->slots) {
		free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

static void free_blocks(struct arena_blk *a)
{
	while (a) {
		struct arena_blk *next = a->next;
		big_free(a, a->size);
		a = next;
	}
}

void chunk_builder_reset(struct chunk_builder *b, uint64_t first_seq)
{
	while (b->arena) {
		struct arena_blk *a = b->arena;
		b->arena = a->next;
		a->next = b->spare;
		b->spare = a;
	}
	b->acur = b->aend = NULL;
	memset(b->slots, 0, (b->mask + 1) * sizeof(*b->slots));
	b->nterms = 0;
	b->ndocs = 0;
	b->first_seq = first_seq;
}

void chunk_builder_free(struct chunk_builder *b)
{
	if (!b)
		return;
	free_blocks(b->arena);
	free_blocks(b->spare);
	big_free(b->slots, (b->mask + 1) * sizeof(*b->slots));
	free(b->time);
	free(b->recv);
	free(b);
}

void chunk_builder_derive(struct chunk_builder *b, uint8_t from, uint8_t to)
{
	if (to > from) {
		b->dfrom = from;
		b->dto = to;
	}
}

uint32_t chunk_builder_docs(const struct chunk_builder *b)
{
	return b->ndocs;
}

size_t chunk_builder_mem(const struct chunk_builder *b)
{
	return sizeof(*b) + b->arena_bytes + (b->mask + 1) * sizeof(*b->slots) +
	       b->cap_docs * 2 * sizeof(int64_t);
}

int chunk_builder_add_doc(struct chunk_builder *b, int64_t time_ns,
			  int64_t received_ns)
{
	if (b->ndocs >= CHUNK_DOCS_MAX)
		return ST_ELIMIT;
	if (b->ndocs == b->cap_docs) {
		size_t cap = b->cap_docs ? b->cap_docs * 2 : 1024;
		int64_t *t = realloc(b->time, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		b->time = t;
		int64_t *rv = realloc(b->recv, cap * sizeof(*rv));
		if (!rv)
			return -ENOMEM;
		b->recv = rv;
		b->cap_docs = cap;
	}
	b->time[b->ndocs] = time_ns;
	b->recv[b->ndocs] = received_ns;
	b->ndocs++;
	return 0;
}

void chunk_builder_set_times(struct chunk_builder *b, int64_t time_ns, int64_t received_ns)
{
	if (b->ndocs) {
		b->time[b->ndocs - 1] = time_ns;
		b->recv[b->ndocs - 1] = received_ns;
	}
}

static int grow_table(struct chunk_builder *b)
{
	size_t nmask = b->mask * 2 + 1;
	struct slot *ns = big_alloc((nmask + 1) * sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i <= b->mask; i++) {
		if (!b->slots[i].t)
			continue;
		size_t j = b->slots[i].hash & nmask;
		while (ns[j].t)
			j = (j + 1) & nmask;
		ns[j] = b->slots[i];
	}
	big_free(b->slots, (b->mask + 1) * sizeof(*b->slots));
	b->slots = ns;
	b->mask = nmask;
	return 0;
}

/* Appends one byte to t's posting stream, growing the block chain. */
static inline int post_byte(struct chunk_builder *b, struct bterm *t,
			    uint8_t byte)
{
	if (t->pos == t->cap) {
		uint16_t cap = t->cap ? (uint16_t)(t->cap * 2) : PBLOCK_FIRST;
		if (cap > PBLOCK_MAX)
			cap = PBLOCK_MAX;
		uint8_t *nb = arena_alloc(b, PBLOCK_HDR + cap);
		if (!nb)
			return -ENOMEM;
		memcpy(nb, &t->blk, PBLOCK_HDR);
		t->blk = nb;
		t->cap = cap;
		t->pos = 0;
		t->nblk++;
	}
	t->blk[PBLOCK_HDR + t->pos++] = byte;
	return 0;
}

static inline int post_varint(struct chunk_builder *b, struct bterm *t,
			      uint32_t v)
{
	int r;
	while (v >= 0x80) {
		if ((r = post_byte(b, t, (uint8_t)(v | 0x80))) < 0)
			return r;
		v >>= 7;
	}
	return post_byte(b, t, (uint8_t)v);
}

/* a == b over n >= 1 bytes, inline: a probe whose hash matched compares
 * a short term (~10-30 bytes) that is nearly always equal. The libc
 * memcmp took 6 % of a reindex's samples; inline, the build took 2-3 %
 * less CPU (measured side by side). */
static inline bool term_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t x, y;
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return false;
		return true;
	}
	for (size_t i = 0; i + 8 <= n; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return false;
	}
	memcpy(&x, a + n - 8, 8);   /* the tail, overlapping */
	memcpy(&y, b + n - 8, 8);
	return x == y;
}

static int add_term_h(struct chunk_builder *b, const uint8_t *p, size_t len, uint64_t h)
{
	uint32_t doc;
	size_t i;
	int r;

	if (len == 0 || len > CHUNK_TERM_MAX || b->ndocs == 0)
		return ST_EINVAL;
	doc = b->ndocs - 1;
	for (i = h & b->mask; b->slots[i].t; i = (i + 1) & b->mask) {
		struct bterm *t = b->slots[i].t;
		if (b->slots[i].hash != h || t->len != len || !term_eq(t->bytes, p, len))
			continue;
		if (t->last == doc)
			return 0;
		if (t->df == 1 && (r = post_varint(b, t, t->last)) < 0)
			return r;
		if ((r = post_varint(b, t, doc - t->last - 1)) < 0)
			return r;
		t->last = doc;
		t->df++;
		return 0;
	}
	struct bterm *t = arena_alloc(b, sizeof(*t) + len);
	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->last = doc;
	t->df = 1;
	t->len = (uint16_t)len;
	memcpy(t->bytes, p, len);
	b->slots[i].t = t;
	b->slots[i].hash = h;
	b->nterms++;
	if (b->nterms * 2 > b->mask + 1)
		return grow_table(b);
	return 0;
}

int chunk_builder_add_term(struct chunk_builder *b, const void *term, size_t len)
{
	if (len == 0 || len > CHUNK_TERM_MAX)
		return ST_EINVAL;
	return add_term_h(b, term, len, hash_bytes(term, len));
}

/* The same as chunk_builder_add_term for each term, with the memory the
 * adds will touch fetched ahead in passes: the hash slots, then the terms
 * they hold, then the posting blocks those append to. Adding is bound by
 * these cache misses once the table outgrows the cache (measured: 42% of
 * the build's time stalled on the slot load alone); in batches they
 * overlap instead of queueing one behind the other. */
int chunk_builder_add_terms(struct chunk_builder *b, const struct chunk_term *t, size_t n)
{
	enum { BATCH = 64 };
	uint64_t hs[BATCH];

	for (size_t base = 0; base < n; base += BATCH) {
		size_t m = n - base < BATCH ? n - base : BATCH;
		for (size_t j = 0; j < m; j++) {
			const struct chunk_term *x = &t[base + j];
			if (x->len == 0 || x->len > CHUNK_TERM_MAX)
				return ST_EINVAL;
			hs[j] = hash_bytes(x->p, x->len);
			__builtin_prefetch(&b->slots[hs[j] & b->mask]);
		}
		for (size_t j = 0; j < m; j++) {
			const struct slot *sl = &b->slots[hs[j] & b->mask];
			if (sl->t && sl->hash == hs[j])
				__builtin_prefetch(sl->t);
		}
		for (size_t j = 0; j < m; j++) {
			const struct slot *sl = &b->slots[hs[j] & b->mask];
			if (sl->t && sl->hash == hs[j] && sl->t->blk)
				__builtin_prefetch(sl->t->blk + PBLOCK_HDR + sl->t->pos, 1);
		}
		for (size_t j = 0; j < m; j++) {
			int r = add_term_h(b, t[base + j].p, t[base + j].len, hs[j]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- sorting the builder's terms ----
 *
 * The terms are sorted by an MSD radix sort over 8-byte big-endian keys:
 * at depth d an entry's key is the term's bytes [d, d+8), zero-padded. The
 * keys sit in the entry array, so a radix pass streams through it without
 * touching the terms; only a run of equal keys reads its terms, once per
 * level, to take the next 8 bytes. Terms share long prefixes ("Fresource.id\0",
 * "Fsource.producer\0"), which made a comparison sort chase both terms'
 * pointers in nearly every comparison (27% of a build).
 *
 * Within a run of equal keys at depth d, a term of at most d+8 bytes is a
 * prefix of every longer one (its padding zeros equal their bytes there),
 * and no two such terms have the same length (the terms are distinct): they
 * go first, by length, and the rest recurse at d+8. The order is memcmp
 * order, shorter first: what the writer demands (invariant 2).
 */

struct sort_ent {
	uint64_t key;               /* bytes [depth, depth+8), big endian, 0-padded */
	struct bterm *t;
};

#define SORT_SMALL 32           /* runs below this: insertion sort */
#define SORT_AHEAD 8            /* entries whose term is fetched ahead */

static inline uint64_t term_key(const struct bterm *t, size_t depth)
{
	uint8_t k[8] = { 0 };
	size_t rem = t->len - depth;      /* callers keep depth < len */

	memcpy(k, t->bytes + depth, rem < 8 ? rem : 8);
	return (uint64_t)k[0] << 56 | (uint64_t)k[1] << 48 |
	       (uint64_t)k[2] << 40 | (uint64_t)k[3] << 32 |
	       (uint64_t)k[4] << 24 | (uint64_t)k[5] << 16 |
	       (uint64_t)k[6] << 8 | k[7];
}

/* Entries sharing bytes [0, depth), keys loaded: the full order. */
static void sort_insertion(struct sort_ent *a, size_t n, size_t depth)
{
	for (size_t i = 1; i < n; i++) {
		struct sort_ent x = a[i];
		size_t j = i;
		while (j > 0) {
			const struct sort_ent *y = &a[j - 1];
			if (y->key < x.key)
				break;
			if (y->key == x.key &&
			    term_cmp(y->t->bytes + depth, y->t->len - depth,
				     x.t->bytes + depth, x.t->len - depth) < 0)
				break;
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

/* Sorts a[0..n) by key alone: LSD byte radix, stable, through tmp (room
 * for n). A byte that every key has the same skips its pass. */
static void sort_keys(struct sort_ent *a, struct sort_ent *tmp, size_t n)
{
	size_t cnt[8][256];
	struct sort_ent *src = a, *dst = tmp;

	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = a[i].key;
		for (unsigned b = 0; b < 8; b++)
			cnt[b][k >> (8 * b) & 0xff]++;
	}
	for (unsigned b = 0; b < 8; b++) {
		size_t *c = cnt[b], sum = 0;
		unsigned shift = 8 * b;
		if (c[a[0].key >> shift & 0xff] == n)
			continue;
		for (unsigned v = 0; v < 256; v++) {
			size_t m = c[v];
			c[v] = sum;
			sum += m;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[src[i].key >> shift & 0xff]++] = src[i];
		struct sort_ent *s = src;
		src = dst;
		dst = s;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Sorts a[0..n): terms that share bytes [0, depth) and are longer than
 * depth, keys loaded for depth. tmp has room for n. */
static void sort_terms(struct sort_ent *a, struct sort_ent *tmp, size_t n,
		       size_t depth)
{
	if (n < SORT_SMALL) {
		sort_insertion(a, n, depth);
		return;
	}
	sort_keys(a, tmp, n);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && a[j].key == a[i].key; j++)
			;
		if (j - i < 2)
			continue;
		/* The run's terms of at most depth+8 bytes first, by length;
		 * the rest take their next key. */
		struct sort_ent *g = a + i;
		size_t m = j - i, k = 0;
		for (size_t x = 0; x < m; x++) {
			if (x + SORT_AHEAD < m)
				__builtin_prefetch(g[x + SORT_AHEAD].t);
			struct bterm *t = g[x].t;
			if (t->len > depth + 8) {
				g[x].key = term_key(t, depth + 8);
				continue;
			}
			struct sort_ent e = g[x];
			g[x] = g[k];
			size_t y = k++;
			while (y > 0 && g[y - 1].t->len > t->len) {
				g[y] = g[y - 1];
				y--;
			}
			g[y] = e;
		}
		if (m - k >= 2)
			sort_terms(g + k, tmp, m - k, depth + 8);
	}
}

/* Decodes t's postings into docs (room for t->df). */
static int bterm_docs(const struct bterm *t, uint32_t *docs,
		      uint8_t ***chain, size_t *chain_cap)
{
	if (t->df == 1) {
		docs[0] = t->last;
		return 0;
	}
	if (t->nblk > *chain_cap) {
		uint8_t **nc = realloc(*chain, t->nblk * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		*chain = nc;
		*chain_cap = t->nblk;
	}
	uint8_t *blk = t->blk;
	for (size_t k = t->nblk; k-- > 0;) {
		(*chain)[k] = blk;
		memcpy(&blk, blk, PBLOCK_HDR);
	}
	uint32_t n = 0, v = 0, prev = 0;
	unsigned shift = 0;
	size_t cap = PBLOCK_FIRST;
	for (size_t k = 0; k < t->nblk; k++) {
		const uint8_t *d = (*chain)[k] + PBLOCK_HDR;
		size_t used = k + 1 == t->nblk ? t->pos : cap;
		for (size_t j = 0; j < used; j++) {
			v |= (uint32_t)(d[j] & 0x7f) << shift;
			if (d[j] & 0x80) {
				shift += 7;
				continue;
			}
			prev = n ? prev + v + 1 : v;
			docs[n++] = prev;
			v = 0;
			shift = 0;
		}
		cap = cap * 2 > PBLOCK_MAX ? PBLOCK_MAX : cap * 2;
	}
	return n == t->df ? 0 : ST_ECORRUPT;
}

/* ---- derived terms (chunk_builder_derive) ----
 *
 * The from-terms come sorted, and those of one P are adjacent: from·P·0x00
 * sorts before from·P·x for any other byte x, so no other P falls between
 * them; and P-order is to·P order, so the derived terms come out sorted
 * too. Each P's docs are gathered while its from-terms are written (a
 * bitmap over the chunk's docs, or a sorted vector when they are few), and
 * the finished terms wait in a list until the writer reaches the
 * to-section, where they are merged in (a to·P added as such is united
 * with its derived twin). */
struct dterm {
	const uint8_t *p;   /* P, inside a builder term */
	uint16_t len;
	uint32_t n;         /* docs, at docs[off..off+n) */
	size_t off;
};

struct derive {
	uint8_t from, to;
	uint64_t *bits;              /* ndocs bits */
	uint32_t *acc;               /* the current P's docs, unsorted */
	size_t nacc, cap_acc;
	uint32_t nterms;             /* from-terms of the current P */
	const uint8_t *cur;          /* the current P */
	uint16_t cur_len;
	struct dterm *v;             /* finished, in order */
	size_t n, cap, next;         /* next: the first not yet written */
	uint32_t *docs;
	size_t ndocs, cap_docs;
	uint32_t *u;                 /* a union's output */
	size_t cap_u;
	uint8_t term[1 + CHUNK_TERM_MAX];
};

static int grow_u32(uint32_t **v, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	uint32_t *nv = realloc(*v, c * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Closes the current P: its docs, sorted and distinct, become a dterm. */
static int derive_close(struct derive *d, uint32_t ndocs)
{
	if (!d->cur)
		return 0;
	int r;
	if ((r = grow_u32(&d->docs, &d->cap_docs, d->ndocs + d->nacc)) < 0)
		return r;
	uint32_t *out = d->docs + d->ndocs, n = 0;
	if (d->nterms == 1) {
		memcpy(out, d->acc, d->nacc * sizeof(*out));   /* one posting list: sorted */
		n = (uint32_t)d->nacc;
	} else if (d->nacc * 32 >= ndocs) {
		for (size_t i = 0; i < d->nacc; i++)
			d->bits[d->acc[i] >> 6] |= 1ull << (d->acc[i] & 63);
		for (size_t w = 0; w < ((size_t)ndocs + 63) / 64; w++) {
			for (uint64_t x = d->bits[w]; x; x &= x - 1)
				out[n++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(x));
			d->bits[w] = 0;
		}
	} else {
		qsort(d->acc, d->nacc, sizeof(*d->acc), u32_cmp);
		for (size_t i = 0; i < d->nacc; i++)
			if (n == 0 || out[n - 1] != d->acc[i])
				out[n++] = d->acc[i];
	}
	if (d->n == d->cap) {
		size_t c = d->cap ? d->cap * 2 : 64;
		struct dterm *nv = realloc(d->v, c * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = c;
	}
	d->v[d->n++] = (struct dterm){d->cur, d->cur_len, n, d->ndocs};
	d->ndocs += n;
	d->cur = NULL;
	d->nacc = 0;
	d->nterms = 0;
	return 0;
}

/* A written term: when it is a from-term, its docs go to its P. */
static int derive_note(struct derive *d, const uint8_t *t, size_t len, const uint32_t *docs,
		       uint32_t df, uint32_t ndocs)
{
	if (len < 2 || t[0] != d->from)
		return t[0] > d->from ? derive_close(d, ndocs) : 0;
	const uint8_t *z = memchr(t + 1, 0, len - 1);
	if (!z)
		return 0;
	uint16_t pl = (uint16_t)(z - (t + 1));
	if (d->cur && (d->cur_len != pl || memcmp(d->cur, t + 1, pl) != 0)) {
		int r = derive_close(d, ndocs);
		if (r < 0)
			return r;
	}
	if (!d->cur) {
		d->cur = t + 1;
		d->cur_len = pl;
	}
	int r = grow_u32(&d->acc, &d->cap_acc, d->nacc + df);
	if (r < 0)
		return r;
	memcpy(d->acc + d->nacc, docs, df * sizeof(*docs));
	d->nacc += df;
	d->nterms++;
	return 0;
}

/* Compares the next derived term, to·P, with term t. */
static int derive_cmp(const struct derive *d, const uint8_t *t, size_t len)
{
	const struct dterm *x = &d->v[d->next];
	if (t[0] != d->to)
		return d->to < t[0] ? -1 : 1;
	size_t m = x->len < len - 1 ? x->len : len - 1;
	int c = memcmp(x->p, t + 1, m);
	if (c)
		return c;
	size_t xl = (size_t)x->len + 1;
	return xl < len ? -1 : xl > len;
}

/* Writes the derived terms that sort before term t (NULL: all that are
 * left); one equal to t is united with t's docs and written in its place
 * (*ret_done). */
static int derive_flush(struct derive *d, struct cwriter *w, const uint8_t *t, size_t len,
			const uint32_t *docs, uint32_t df, bool *ret_done)
{
	int r;
	*ret_done = false;
	while (d->next < d->n) {
		const struct dterm *x = &d->v[d->next];
		int c = t ? derive_cmp(d, t, len) : -1;
		if (c > 0)
			return 0;
		const uint32_t *out = d->docs + x->off;
		uint32_t n = x->n;
		if (c == 0) {
			/* the union of two sorted lists */
			if ((r = grow_u32(&d->u, &d->cap_u, (size_t)n + df)) < 0)
				return r;
			uint32_t *u = d->u;
			size_t i = 0, j = 0, k = 0;
			while (i < n || j < df) {
				uint32_t a = i < n ? out[i] : UINT32_MAX, bb = j < df ? docs[j] : UINT32_MAX;
				u[k++] = a < bb ? a : bb;
				i += a <= bb;
				j += bb <= a;
			}
			out = u;
			n = (uint32_t)k;
			*ret_done = true;
		}
		d->term[0] = d->to;
		memcpy(d->term + 1, x->p, x->len);
		if ((r = cw_term(w, d->term, 1 + (size_t)x->len, out, n)) < 0)
			return r;
		d->next++;
		if (c == 0)
			return 0;
	}
	return 0;
}

static void derive_release(struct derive *d)
{
	free(d->bits);
	free(d->acc);
	free(d->v);
	free(d->docs);
	free(d->u);
}

int chunk_builder_write(struct chunk_builder *b, const char *path, char *err,
			size_t errcap)
{
	struct cwriter w;
	struct sort_ent *ents = NULL, *tmp = NULL;
	uint32_t *docs = NULL;
	uint8_t **chain = NULL;
	size_t chain_cap = 0;
	struct col_stats st;
	struct derive dv = {.from = b->dfrom, .to = b->dto};
	uint8_t le[8];
	int r;

	if (b->ndocs == 0)
		return st_fail(err, errcap, "a chunk needs at least one doc");
	if ((r = cw_open(&w, path)) < 0) {
		failmsg(r, err, errcap, path);
		goto out;
	}
	st.tmin = st.tmax = b->time[0];
	st.rmin = st.rmax = b->recv[0];
	for (uint32_t i = 0; i < b->ndocs; i++) {
		int64_t v = b->time[i];
		st.tmin = v < st.tmin ? v : st.tmin;
		st.tmax = v > st.tmax ? v : st.tmax;
		put_le64(le, (uint64_t)v);
		if ((r = cw_put(&w, le, 8)) < 0)
			goto io;
	}
	for (uint32_t i = 0; i < b->ndocs; i++) {
		int64_t v = b->recv[i];
		st.rmin = v < st.rmin ? v : st.rmin;
		st.rmax = v > st.rmax ? v : st.rmax;
		put_le64(le, (uint64_t)v);
		if ((r = cw_put(&w, le, 8)) < 0)
			goto io;
	}
	if ((r = cw_begin_terms(&w)) < 0)
		goto io;

	ents = malloc((b->nterms ? b->nterms : 1) * sizeof(*ents));
	tmp = malloc((b->nterms ? b->nterms : 1) * sizeof(*tmp));
	docs = malloc(b->ndocs * sizeof(*docs));
	if (b->dfrom)
		dv.bits = calloc(((size_t)b->ndocs + 63) / 64, sizeof(*dv.bits));
	if (!ents || !tmp || !docs || (b->dfrom && !dv.bits)) {
		r = failmsg(-ENOMEM, err, errcap, "sorting terms");
		goto out;
	}
	for (size_t i = 0, j = 0; i <= b->mask; i++)
		if (b->slots[i].t)
			ents[j++].t = b->slots[i].t;
	for (size_t i = 0; i < b->nterms; i++) {
		if (i + SORT_AHEAD < b->nterms)
			__builtin_prefetch(ents[i + SORT_AHEAD].t);
		ents[i].key = term_key(ents[i].t, 0);
	}
	sort_terms(ents, tmp, b->nterms, 0);
	free(tmp);
	tmp = NULL;
	/* The terms are read in sorted order, scattered over the arena: each
	 * is fetched ahead, and its last posting block a little later. */
	for (size_t i = 0; i < b->nterms; i++) {
		struct bterm *t = ents[i].t;
		if (i + 2 * SORT_AHEAD < b->nterms)
			__builtin_prefetch(ents[i + 2 * SORT_AHEAD].t);
		if (i + SORT_AHEAD < b->nterms && ents[i + SORT_AHEAD].t->blk)
			__builtin_prefetch(ents[i + SORT_AHEAD].t->blk);
		if ((r = bterm_docs(t, docs, &chain, &chain_cap)) < 0) {
			failmsg(r, err, errcap, "decoding postings");
			goto out;
		}
		if (!b->dfrom) {
			if ((r = cw_term(&w, t->bytes, t->len, docs, t->df)) < 0)
				goto io;
			continue;
		}
		bool done;
		if ((r = derive_note(&dv, t->bytes, t->len, docs, t->df, b->ndocs)) < 0) {
			failmsg(r, err, errcap, "deriving terms");
			goto out;
		}
		if ((r = derive_flush(&dv, &w, t->bytes, t->len, docs, t->df, &done)) < 0)
			goto io;
		if (!done && (r = cw_term(&w, t->bytes, t->len, docs, t->df)) < 0)
			goto io;
	}
	if (b->dfrom) {
		bool done;
		if ((r = derive_close(&dv, b->ndocs)) < 0) {
			failmsg(r, err, errcap, "deriving terms");
			goto out;
		}
		if ((r = derive_flush(&dv, &w, NULL, 0, NULL, 0, &done)) < 0)
			goto io;
	}
	if ((r = cw_finish(&w, b->first_seq, b->ndocs, &st)) < 0)
		goto io;
	goto out;
io:
	failmsg(r, err, errcap, w.tmp);
out:
	cw_abort(&w);
	free(ents);
	free(tmp);
	free(docs);
	free(chain);
	derive_release(&dv);
	return r;
}

/* ---- the reader ---- */

struct chunk {
	const uint8_t *p;
	size_t n;
	bool mapped;
	uint64_t first_seq, nterms, nblocks;
	uint32_t ndocs;
	int64_t tmin, tmax, rmin, rmax;
	const uint8_t *tcol, *rcol;  /* columns */
	const uint8_t *terms;        /* terms section */
	uint64_t terms_size;
	const uint8_t *bidx;         /* block index */
};

/* CRC-32C of p[0..n) inside chunk c. A mapped chunk's pages are let go
 * slice by slice as they are summed, so that validating a large chunk
 * never makes it resident in this process (chunk_trim). */
static uint32_t crc_span(const struct chunk *c, const uint8_t *p, size_t n)
{
	const size_t slice = 32u << 20;
	const uintptr_t pg = 4096;
	uint32_t crc = 0;

	for (size_t o = 0; o < n; o += slice) {
		size_t k = n - o < slice ? n - o : slice;
		crc = crc32c(crc, p + o, k);
		if (c->mapped) {
			uintptr_t a = (uintptr_t)(p + o) & ~(pg - 1);
			(void)madvise((void *)a, (uintptr_t)(p + o + k) - a, MADV_DONTNEED);
		}
	}
	return crc;
}

static int validate(struct chunk *c, char *err, size_t errcap)
{
	const uint8_t *p = c->p;
	size_t n = c->n;
	uint64_t terms_off, bidx_off, prev = 0;

	if (n < CHUNK_HDR_SIZE)
		return corrupt(err, errcap, "offset 0: file of %zu bytes is shorter than the %d-byte header",
			       n, CHUNK_HDR_SIZE);
	if (memcmp(p, CHUNK_MAGIC, 8) != 0)
		return corrupt(err, errcap, "offset 0: magic is not \"SEALIDX\\0\"");
	if (crc32c(0, p, H_CRC_HDR) != get_le32(p + H_CRC_HDR))
		return corrupt(err, errcap, "offset %d: header CRC-32C mismatch", H_CRC_HDR);
	if (get_le32(p + H_VERSION) != CHUNK_VERSION)
		return corrupt(err, errcap, "offset %d: format version %u, expected %d",
			       H_VERSION, get_le32(p + H_VERSION), CHUNK_VERSION);
	if (get_le32(p + H_INCOMPAT) != 0)
		return corrupt(err, errcap, "offset %d: unknown incompatible features 0x%x",
			       H_INCOMPAT, get_le32(p + H_INCOMPAT));
	c->ndocs = get_le32(p + H_NDOCS);
	c->first_seq = get_le64(p + H_FIRST_SEQ);
	c->nterms = get_le64(p + H_NTERMS);
	c->nblocks = get_le64(p + H_NBLOCKS);
	c->tmin = (int64_t)get_le64(p + H_TIME_MIN);
	c->tmax = (int64_t)get_le64(p + H_TIME_MAX);
	c->rmin = (int64_t)get_le64(p + H_RECV_MIN);
	c->rmax = (int64_t)get_le64(p + H_RECV_MAX);
	terms_off = get_le64(p + H_TERMS_OFF);
	c->terms_size = get_le64(p + H_TERMS_SIZE);
	bidx_off = get_le64(p + H_BIDX_OFF);
	if (c->ndocs == 0 || c->ndocs > CHUNK_DOCS_MAX)
		return corrupt(err, errcap, "offset %d: ndocs %u not in 1..%u",
			       H_NDOCS, c->ndocs, CHUNK_DOCS_MAX);
	if (c->first_seq > UINT64_MAX - c->ndocs)
		return corrupt(err, errcap, "offset %d: first seq overflows", H_FIRST_SEQ);
	if (c->tmin > c->tmax || c->rmin > c->rmax)
		return corrupt(err, errcap, "offset %d: a column's min is over its max", H_TIME_MIN);
	if (c->nblocks != (c->nterms + CHUNK_BLOCK_TERMS - 1) / CHUNK_BLOCK_TERMS ||
	    c->nterms > UINT64_MAX - CHUNK_BLOCK_TERMS)
		return corrupt(err, errcap, "offset %d: %" PRIu64 " blocks for %" PRIu64 " terms",
			       H_NBLOCKS, c->nblocks, c->nterms);
	if (terms_off != CHUNK_HDR_SIZE + 16 * (uint64_t)c->ndocs || terms_off > n)
		return corrupt(err, errcap, "offset %d: terms section at %" PRIu64 ", expected %" PRIu64,
			       H_TERMS_OFF, terms_off, CHUNK_HDR_SIZE + 16 * (uint64_t)c->ndocs);
	if (c->terms_size > n - terms_off ||
	    bidx_off != ((terms_off + c->terms_size + 7) & ~(uint64_t)7) ||
	    c->nblocks > n / 8 || bidx_off > n || n - bidx_off != c->nblocks * 8)
		return corrupt(err, errcap, "offset %d: sections (terms %" PRIu64 "+%" PRIu64
			       ", block index %" PRIu64 "+%" PRIu64 "*8) do not fill the %zu-byte file",
			       H_TERMS_SIZE, terms_off, c->terms_size, bidx_off, c->nblocks, n);
	if (c->nterms > c->terms_size)
		return corrupt(err, errcap, "offset %d: %" PRIu64 " terms in %" PRIu64 " bytes",
			       H_NTERMS, c->nterms, c->terms_size);
	for (uint64_t i = terms_off + c->terms_size; i < bidx_off; i++)
		if (p[i])
			return corrupt(err, errcap, "offset %" PRIu64 ": padding byte is not 0", i);
	c->tcol = p + CHUNK_HDR_SIZE;
	c->rcol = c->tcol + 8 * (size_t)c->ndocs;
	c->terms = p + terms_off;
	c->bidx = p + bidx_off;
	if (crc_span(c, c->tcol, 16 * (size_t)c->ndocs) != get_le32(p + H_CRC_COLS))
		return corrupt(err, errcap, "offset %d: columns section [%d, %" PRIu64 ") CRC-32C mismatch",
			       H_CRC_COLS, CHUNK_HDR_SIZE, terms_off);
	if (crc_span(c, c->terms, c->terms_size) != get_le32(p + H_CRC_TERMS))
		return corrupt(err, errcap, "offset %d: terms section [%" PRIu64 ", %" PRIu64 ") CRC-32C mismatch",
			       H_CRC_TERMS, terms_off, terms_off + c->terms_size);
	if (crc32c(0, c->bidx, c->nblocks * 8) != get_le32(p + H_CRC_BIDX))
		return corrupt(err, errcap, "offset %d: block index [%" PRIu64 ", %zu) CRC-32C mismatch",
			       H_CRC_BIDX, bidx_off, n);
	for (uint64_t i = 0; i < c->nblocks; i++) {
		uint64_t o = get_le64(c->bidx + 8 * i);
		if ((i == 0 && o != 0) || (i > 0 && o <= prev) || o >= c->terms_size)
			return corrupt(err, errcap, "offset %" PRIu64 ": block %" PRIu64
				       " starts at %" PRIu64 ", out of order or past the terms section",
				       bidx_off + 8 * i, i, o);
		prev = o;
	}
	return 0;
}

static int open_at(struct chunk **ret, const uint8_t *data, size_t size, bool mapped,
		   char *err, size_t errcap)
{
	struct chunk *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->p = data;
	c->n = size;
	c->mapped = mapped;
	if ((r = validate(c, err, errcap)) < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int chunk_open_mem(struct chunk **ret, const uint8_t *data, size_t size,
		   char *err, size_t errcap)
{
	return open_at(ret, data, size, false, err, errcap);
}

int chunk_open(struct chunk **ret, const char *path, char *err, size_t errcap)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	struct chunk *c;
	int r;

	if ((r = map_file(path, &p, &n)) < 0)
		return failmsg(r, err, errcap, path);
	if ((r = open_at(&c, p, n, true, err, errcap)) < 0) {
		unmap_file(p, n);
		return r;
	}
	/* validate() read every byte for the CRCs through the mapping; let
	 * those pages go (they stay in the page cache) so that opening an
	 * index does not make it resident in this process (INDEX.md,
	 * "Memory"). */
	chunk_trim(c);
	/* map_file asked for sequential reads (for the CRCs); queries read
	 * here and there */
	(void)madvise((void *)c->p, c->n, MADV_NORMAL);
	*ret = c;
	return 0;
}

void chunk_trim(const struct chunk *c)
{
	/* A private, read-only file mapping: dropping its pages loses
	 * nothing; the next access faults them back in from the page cache.
	 * Safe while other threads read the chunk (they only re-fault). */
	if (c && c->mapped && c->n)
		(void)madvise((void *)c->p, c->n, MADV_DONTNEED);
}

void chunk_close(struct chunk *c)
{
	if (!c)
		return;
	if (c->mapped)
		unmap_file(c->p, c->n);
	free(c);
}

uint64_t chunk_first_seq(const struct chunk *c) { return c->first_seq; }
uint32_t chunk_ndocs(const struct chunk *c) { return c->ndocs; }
uint64_t chunk_nterms(const struct chunk *c) { return c->nterms; }
uint64_t chunk_file_size(const struct chunk *c) { return c->n; }

int64_t chunk_time(const struct chunk *c, uint32_t doc)
{
	return doc < c->ndocs ? (int64_t)get_le64(c->tcol + 8 * (size_t)doc) : 0;
}

int64_t chunk_received(const struct chunk *c, uint32_t doc)
{
	return doc < c->ndocs ? (int64_t)get_le64(c->rcol + 8 * (size_t)doc) : 0;
}

void chunk_time_range(const struct chunk *c, int64_t *ret_min, int64_t *ret_max)
{
	*ret_min = c->tmin;
	*ret_max = c->tmax;
}

void chunk_received_range(const struct chunk *c, int64_t *ret_min,
			  int64_t *ret_max)
{
	*ret_min = c->rmin;
	*ret_max = c->rmax;
}

/* Block b's extent in the terms section. */
static void block_bounds(const struct chunk *c, uint64_t b, uint64_t *start,
			 uint64_t *end)
{
	*start = get_le64(c->bidx + 8 * b);
	*end = b + 1 < c->nblocks ? get_le64(c->bidx + 8 * (b + 1)) : c->terms_size;
}

static uint64_t block_count(const struct chunk *c, uint64_t b)
{
	return b + 1 < c->nblocks ? CHUNK_BLOCK_TERMS :
	       c->nterms - (c->nblocks - 1) * CHUNK_BLOCK_TERMS;
}

/* The last block whose first term is <= key (0 when none is). A block whose
 * first term cannot be read compares as greater: the scan then reports it. */
static uint64_t find_block(const struct chunk *c, const uint8_t *key,
			   size_t len)
{
	uint64_t lo = 0, hi = c->nblocks;   /* answer in [lo, hi) */

	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2, pos, end, tl;
		block_bounds(c, mid, &pos, &end);
		if (varint_get(c->terms, end, &pos, &tl) && tl >= 1 &&
		    tl <= CHUNK_TERM_MAX && tl <= end - pos &&
		    term_cmp(c->terms + pos, tl, key, len) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void iter_enter_block(struct chunk_iter *it, uint64_t b)
{
	it->block = b;
	it->idx = 0;
	block_bounds(it->c, b, &it->pos, &it->end);
}

/* Decodes the entry at it->pos into the iterator; false when corrupt. */
static bool iter_read_entry(struct chunk_iter *it)
{
	const struct chunk *c = it->c;
	const uint8_t *p = c->terms;
	uint64_t shared = 0, suf, df, v;

	if (it->idx == 0) {
		if (!varint_get(p, it->end, &it->pos, &suf))
			return false;
	} else if (!varint_get(p, it->end, &it->pos, &shared) ||
		   shared > it->term_len ||
		   !varint_get(p, it->end, &it->pos, &suf)) {
		return false;
	}
	if (suf > CHUNK_TERM_MAX || shared + suf == 0 ||
	    shared + suf > CHUNK_TERM_MAX || suf > it->end - it->pos)
		return false;
	memcpy(it->term + shared, p + it->pos, suf);
	it->term_len = shared + suf;
	it->pos += suf;
	if (!varint_get(p, it->end, &it->pos, &df) || df == 0 || df > c->ndocs)
		return false;
	it->df = (uint32_t)df;
	if (df == 1) {
		if (!varint_get(p, it->end, &it->pos, &v) || v >= c->ndocs)
			return false;
		it->doc = (uint32_t)v;
		return true;
	}
	if (!varint_get(p, it->end, &it->pos, &v) || (v >> 1) > it->end - it->pos ||
	    (v >> 1) > UINT32_MAX)
		return false;
	it->kind = (uint8_t)(v & 1);
	it->post_len = (uint32_t)(v >> 1);
	it->post_off = it->pos;
	it->pos += it->post_len;
	it->nskip = 0;
	if (it->kind == CHUNK_POST_DELTA && df > SKIP_EVERY) {
		/* The skip table comes first; the varints after it. */
		size_t sb = skip_bytes((uint32_t)df);
		if (sb >= it->post_len)
			return false;
		it->skip_off = it->post_off;
		it->nskip = (uint32_t)(sb / 8);
		it->post_off += sb;
		it->post_len -= (uint32_t)sb;
	}
	return true;
}

void chunk_iter_init(struct chunk_iter *it, const struct chunk *c,
		     const void *prefix, size_t len)
{
	memset(it, 0, offsetof(struct chunk_iter, term));
	it->c = c;
	it->prefix = prefix;
	it->prefix_len = len;
	if (c->nblocks == 0 || len > CHUNK_TERM_MAX) {
		it->done = true;
		return;
	}
	iter_enter_block(it, len ? find_block(c, prefix, len) : 0);
}

bool chunk_iter_next(struct chunk_iter *it)
{
	while (!it->done) {
		if (it->idx == block_count(it->c, it->block)) {
			if (it->pos != it->end) {
				it->err = ST_ECORRUPT;
				it->done = true;
				break;
			}
			if (it->block + 1 >= it->c->nblocks) {
				it->done = true;
				break;
			}
			iter_enter_block(it, it->block + 1);
		}
		if (!iter_read_entry(it)) {
			it->err = ST_ECORRUPT;
			it->done = true;
			break;
		}
		it->idx++;
		if (!it->prefix_len)
			return true;
		int d = memcmp(it->term, it->prefix,
			       it->term_len < it->prefix_len ? it->term_len : it->prefix_len);
		if (d < 0 || (d == 0 && it->term_len < it->prefix_len))
			continue;          /* before the prefix: keep scanning */
		if (d == 0)
			return true;
		it->done = true;           /* past every term with the prefix */
	}
	return false;
}

int chunk_iter_error(const struct chunk_iter *it)
{
	return it->err;
}

const uint8_t *chunk_iter_term(const struct chunk_iter *it, size_t *ret_len)
{
	*ret_len = it->term_len;
	return it->term;
}

uint32_t chunk_iter_df(const struct chunk_iter *it)
{
	return it->df;
}

/* Checks a CRoaring portable serialization p[0..n) completely: structure,
 * sorted keys and values, runs inside their container, cardinalities that
 * match, exactly n bytes, df values in total, all below ndocs. */
static bool validate_roaring(const uint8_t *p, size_t n, uint32_t ndocs,
			     uint32_t df)
{
	size_t pos, size, keys_at, i;
	const uint8_t *runbits = NULL;
	uint64_t total = 0;
	int prev_key = -1;

	if (n < 8)
		return false;
	uint32_t cookie = get_le32(p);
	if ((cookie & 0xffff) == 12347) {           /* SERIAL_COOKIE */
		size = (cookie >> 16) + 1;
		runbits = p + 4;
		pos = 4 + (size + 7) / 8;
	} else if (cookie == 12346) {               /* ..._NO_RUNCONTAINER */
		size = get_le32(p + 4);
		pos = 8;
	} else {
		return false;
	}
	if (size == 0 || size > 65536 || pos > n || 4 * size > n - pos)
		return false;
	keys_at = pos;
	pos += 4 * size;
	if (!runbits || size >= 4) {                /* NO_OFFSET_THRESHOLD */
		if (4 * size > n - pos)
			return false;
		pos += 4 * size;
	}
	for (i = 0; i < size; i++) {
		int key = get_le16(p + keys_at + 4 * i);
		uint32_t card = (uint32_t)get_le16(p + keys_at + 4 * i + 2) + 1;
		uint32_t maxv;
		if (key <= prev_key)
			return false;
		prev_key = key;
		if (runbits && (runbits[i / 8] >> (i % 8) & 1)) {
			if (n - pos < 2)
				return false;
			size_t nruns = get_le16(p + pos);
			pos += 2;
			if (nruns == 0 || 4 * nruns > n - pos)
				return false;
			uint32_t sum = 0;
			long prev_end = -2;
			for (size_t k = 0; k < nruns; k++) {
				uint32_t s = get_le16(p + pos + 4 * k);
				uint32_t l = get_le16(p + pos + 4 * k + 2);
				if (s + l > 65535 || (long)s <= prev_end + 1)
					return false;
				prev_end = (long)(s + l);
				sum += l + 1;
			}
			if (sum != card)
				return false;
			maxv = (uint32_t)prev_end;
			pos += 4 * nruns;
		} else if (card > 4096) {           /* DEFAULT_MAX_SIZE: bitset */
			uint32_t pop = 0;
			if (n - pos < 8192)
				return false;
			maxv = 0;
			for (size_t w = 0; w < 1024; w++) {
				uint64_t word = get_le64(p + pos + 8 * w);
				pop += (uint32_t)__builtin_popcountll(word);
				if (word)
					maxv = (uint32_t)(w * 64 + 63 - (size_t)__builtin_clzll(word));
			}
			if (pop != card)
				return false;
			pos += 8192;
		} else {
			if (2 * (size_t)card > n - pos)
				return false;
			for (size_t k = 1; k < card; k++)
				if (get_le16(p + pos + 2 * k) <= get_le16(p + pos + 2 * (k - 1)))
					return false;
			maxv = get_le16(p + pos + 2 * (card - 1));
			pos += 2 * (size_t)card;
		}
		if (((uint32_t)key << 16 | maxv) >= ndocs)
			return false;
		total += card;
	}
	return pos == n && total == df;
}

#define DECODE_BATCH 256

/* Adds the current entry's docs to rb. */
static int iter_add_to(const struct chunk_iter *it, roaring_bitmap_t *rb)
{
	const struct chunk *c = it->c;

	if (it->df == 1) {
		roaring_bitmap_add(rb, it->doc);
		return 0;
	}
	const uint8_t *p = c->terms + it->post_off;
	if (it->kind == CHUNK_POST_ROARING) {
		if (!validate_roaring(p, it->post_len, c->ndocs, it->df))
			return ST_ECORRUPT;
		roaring_bitmap_t *t = roaring_bitmap_portable_deserialize_safe(
			(const char *)p, it->post_len);
		if (!t)
			return ST_ECORRUPT;
		roaring_bitmap_or_inplace(rb, t);
		roaring_bitmap_free(t);
		return 0;
	}
	uint32_t batch[DECODE_BATCH];
	uint64_t pos = 0, v, doc = 0;
	size_t nb = 0;
	for (uint32_t i = 0; i < it->df; i++) {
		if (!varint_get(p, it->post_len, &pos, &v))
			return ST_ECORRUPT;
		doc = i ? doc + v + 1 : v;
		if (doc >= c->ndocs)
			return ST_ECORRUPT;
		batch[nb++] = (uint32_t)doc;
		if (nb == DECODE_BATCH) {
			roaring_bitmap_add_many(rb, nb, batch);
			nb = 0;
		}
	}
	if (pos != it->post_len)
		return ST_ECORRUPT;
	roaring_bitmap_add_many(rb, nb, batch);
	return 0;
}

int chunk_iter_or_into(const struct chunk_iter *it, roaring_bitmap_t *into)
{
	return iter_add_to(it, into);
}

/* ---- filtering candidates through one posting list ---- */

/* Index of the first of cand[lo..n) that is >= x. */
static size_t lower_bound(const uint32_t *cand, size_t lo, size_t n, uint32_t x)
{
	size_t hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cand[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Is low in the container at p[0..n) (kind: 0 array of card values,
 * 1 bitset, 2 runs)? -1 when the container runs past n. */
static int container_has(const uint8_t *p, size_t n, int kind, uint32_t card, uint16_t low)
{
	if (kind == 1) {
		if (n < 8192)
			return -1;
		return (int)(get_le64(p + 8 * (low >> 6)) >> (low & 63) & 1);
	}
	if (kind == 2) {
		if (n < 2)
			return -1;
		size_t nruns = get_le16(p), lo = 0, hi;
		if (4 * nruns > n - 2)
			return -1;
		/* the last run starting at or before low */
		hi = nruns;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (get_le16(p + 2 + 4 * mid) <= low)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0)
			return 0;
		uint32_t start = get_le16(p + 2 + 4 * (lo - 1));
		return low <= start + get_le16(p + 2 + 4 * (lo - 1) + 2);
	}
	if (2 * (size_t)card > n)
		return -1;
	size_t lo = 0, hi = card;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t v = get_le16(p + 2 * mid);
		if (v == low)
			return 1;
		if (v < low)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* chunk_iter_filter on a CRoaring portable serialization p[0..n), read in
 * place: the header says where each container is (its offsets, or, with
 * fewer than 4 containers and runs, the sizes of the ones before). Every
 * read is bounds-checked; the CRC at open vouches for the content. */
static int roaring_filter(const uint8_t *p, size_t n, const uint32_t *cand, size_t nc,
			  roaring_bitmap_t *out)
{
	size_t size, keys_at, offs_at = 0, pos;
	const uint8_t *runbits = NULL;
	size_t walk_off[4];

	if (n < 8)
		return ST_ECORRUPT;
	uint32_t cookie = get_le32(p);
	if ((cookie & 0xffff) == 12347) {
		size = (cookie >> 16) + 1;
		runbits = p + 4;
		pos = 4 + (size + 7) / 8;
	} else if (cookie == 12346) {
		size = get_le32(p + 4);
		pos = 8;
	} else {
		return ST_ECORRUPT;
	}
	if (size == 0 || size > 65536 || pos > n || 4 * size > n - pos)
		return ST_ECORRUPT;
	keys_at = pos;
	pos += 4 * size;
	bool have_offsets = !runbits || size >= 4;
	if (have_offsets) {
		if (4 * size > n - pos)
			return ST_ECORRUPT;
		offs_at = pos;
	} else {
		/* at most 3 containers: walk their sizes */
		for (size_t i = 0; i < size; i++) {
			walk_off[i] = pos;
			uint32_t card = (uint32_t)get_le16(p + keys_at + 4 * i + 2) + 1;
			if (runbits[i / 8] >> (i % 8) & 1) {
				if (n - pos < 2)
					return ST_ECORRUPT;
				pos += 2 + 4 * (size_t)get_le16(p + pos);
			} else {
				pos += card > 4096 ? 8192 : 2 * (size_t)card;
			}
			if (pos > n)
				return ST_ECORRUPT;
		}
	}
	size_t ci = 0, k = 0;
	while (ci < nc && k < size) {
		uint32_t key = get_le16(p + keys_at + 4 * k);
		uint32_t ck = cand[ci] >> 16;
		if (ck > key) {
			k++;
			continue;
		}
		if (ck < key) {
			ci = lower_bound(cand, ci, nc, key << 16);
			continue;
		}
		uint32_t card = (uint32_t)get_le16(p + keys_at + 4 * k + 2) + 1;
		size_t off = have_offsets ? get_le32(p + offs_at + 4 * k) : walk_off[k];
		int kind = runbits && (runbits[k / 8] >> (k % 8) & 1) ? 2 : card > 4096 ? 1 : 0;
		if (off > n)
			return ST_ECORRUPT;
		for (; ci < nc && cand[ci] >> 16 == key; ci++) {
			int h = container_has(p + off, n - off, kind, card, (uint16_t)cand[ci]);
			if (h < 0)
				return ST_ECORRUPT;
			if (h)
				roaring_bitmap_add(out, cand[ci]);
		}
		k++;
	}
	return 0;
}

/* chunk_iter_filter on a delta list: jumps through the skip table to the
 * last entry at or before each candidate, then decodes forward. */
static int delta_filter(const struct chunk_iter *it, const uint32_t *cand, size_t nc,
			roaring_bitmap_t *out)
{
	const struct chunk *c = it->c;
	const uint8_t *p = c->terms + it->post_off;
	const uint8_t *skip = c->terms + it->skip_off;
	uint64_t pos = 0, v, doc;
	uint32_t i = 0;                 /* index of the posting `doc` is */

	if (!varint_get(p, it->post_len, &pos, &doc) || doc >= c->ndocs)
		return ST_ECORRUPT;
	for (size_t ci = 0; ci < nc; ci++) {
		uint32_t x = cand[ci];
		if (doc < x && it->nskip) {
			/* the last skip entry with doc <= x */
			size_t lo = 0, hi = it->nskip;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (get_le32(skip + 8 * mid) <= x)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo > 0 && (uint64_t)lo * SKIP_EVERY > i) {
				uint64_t sdoc = get_le32(skip + 8 * (lo - 1));
				uint64_t soff = get_le32(skip + 8 * (lo - 1) + 4);
				if (sdoc >= c->ndocs || soff >= it->post_len ||
				    !varint_get(p, it->post_len, &soff, &v))
					return ST_ECORRUPT;
				i = (uint32_t)(lo * SKIP_EVERY);
				doc = sdoc;
				pos = soff;
			}
		}
		while (doc < x && i + 1 < it->df) {
			if (!varint_get(p, it->post_len, &pos, &v))
				return ST_ECORRUPT;
			doc += v + 1;
			i++;
			if (doc >= c->ndocs)
				return ST_ECORRUPT;
		}
		if (doc == x)
			roaring_bitmap_add(out, x);
		else if (doc < x)
			break;          /* past the list's last doc */
	}
	return 0;
}

int chunk_iter_filter(const struct chunk_iter *it, const uint32_t *cand, size_t n,
		      roaring_bitmap_t *out)
{
	if (n == 0)
		return 0;
	if (it->df == 1) {
		size_t i = lower_bound(cand, 0, n, it->doc);
		if (i < n && cand[i] == it->doc)
			roaring_bitmap_add(out, it->doc);
		return 0;
	}
	if (it->kind == CHUNK_POST_ROARING)
		return roaring_filter(it->c->terms + it->post_off, it->post_len, cand, n, out);
	return delta_filter(it, cand, n, out);
}

roaring_bitmap_t *chunk_iter_postings(const struct chunk_iter *it)
{
	const uint8_t *p = it->c->terms + it->post_off;

	if (it->df > 1 && it->kind == CHUNK_POST_ROARING) {
		if (!validate_roaring(p, it->post_len, it->c->ndocs, it->df))
			return NULL;
		return roaring_bitmap_portable_deserialize_safe((const char *)p,
								it->post_len);
	}
	roaring_bitmap_t *rb = roaring_bitmap_create();
	if (rb && iter_add_to(it, rb) < 0) {
		roaring_bitmap_free(rb);
		rb = NULL;
	}
	return rb;
}

/* Positions it on the exact term; false when absent or corrupt. */
static bool seek_exact(struct chunk_iter *it, const struct chunk *c,
		       const void *term, size_t len)
{
	if (len == 0 || len > CHUNK_TERM_MAX)
		return false;
	chunk_iter_init(it, c, term, len);
	return chunk_iter_next(it) && it->term_len == len;
}

roaring_bitmap_t *chunk_postings(const struct chunk *c, const void *term,
				 size_t len)
{
	struct chunk_iter it;
	return seek_exact(&it, c, term, len) ? chunk_iter_postings(&it) : NULL;
}

uint32_t chunk_df(const struct chunk *c, const void *term, size_t len)
{
	struct chunk_iter it;
	return seek_exact(&it, c, term, len) ? it.df : 0;
}

/* ---- merging ---- */

struct docvec {
	uint32_t *v;
	size_t n, cap;
};

static int docvec_reserve(struct docvec *d, size_t more)
{
	if (d->n + more <= d->cap)
		return 0;
	size_t cap = d->cap ? d->cap : 1024;
	while (cap < d->n + more)
		cap *= 2;
	uint32_t *nv = realloc(d->v, cap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	d->v = nv;
	d->cap = cap;
	return 0;
}

/* Appends the current entry's docs + base to d. */
static int iter_append(const struct chunk_iter *it, uint32_t base,
		       struct docvec *d)
{
	const uint8_t *p = it->c->terms + it->post_off;
	int r;

	if ((r = docvec_reserve(d, it->df)) < 0)
		return r;
	if (it->df == 1) {
		d->v[d->n++] = base + it->doc;
		return 0;
	}
	if (it->kind == CHUNK_POST_ROARING) {
		roaring_bitmap_t *rb = chunk_iter_postings(it);
		if (!rb)
			return ST_ECORRUPT;
		roaring_bitmap_to_uint32_array(rb, d->v + d->n);
		roaring_bitmap_free(rb);
		for (uint32_t i = 0; i < it->df; i++)
			d->v[d->n + i] += base;
		d->n += it->df;
		return 0;
	}
	uint64_t pos = 0, v, doc = 0;
	for (uint32_t i = 0; i < it->df; i++) {
		if (!varint_get(p, it->post_len, &pos, &v))
			return ST_ECORRUPT;
		doc = i ? doc + v + 1 : v;
		if (doc >= it->c->ndocs)
			return ST_ECORRUPT;
		d->v[d->n++] = base + (uint32_t)doc;
	}
	return pos == it->post_len ? 0 : ST_ECORRUPT;
}

int chunk_merge(struct chunk *const *in, size_t n, const char *path, const bool *cancel,
		char *err, size_t errcap)
{
	struct cwriter w;
	struct chunk_iter *its = NULL;
	uint32_t *base = NULL;
	bool *cur = NULL;
	struct docvec d = { 0 };
	struct col_stats st;
	uint64_t total = 0, trim_at = MERGE_TRIM_BYTES, nterm = 0;
	int r;

	if (n < 2)
		return st_fail(err, errcap, "a merge needs at least 2 chunks, got %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (i && in[i]->first_seq != in[i - 1]->first_seq + in[i - 1]->ndocs)
			return st_fail(err, errcap, "chunk %zu starts at seq %" PRIu64
				       ", expected %" PRIu64, i, in[i]->first_seq,
				       in[i - 1]->first_seq + in[i - 1]->ndocs);
		total += in[i]->ndocs;
	}
	if (total > CHUNK_DOCS_MAX) {
		if (err && errcap)
			snprintf(err, errcap, "merged chunk would hold %" PRIu64
				 " docs, over %u", total, CHUNK_DOCS_MAX);
		return ST_ELIMIT;
	}
	if ((r = cw_open(&w, path)) < 0) {
		failmsg(r, err, errcap, path);
		goto out;
	}
	st.tmin = in[0]->tmin; st.tmax = in[0]->tmax;
	st.rmin = in[0]->rmin; st.rmax = in[0]->rmax;
	for (size_t i = 0; i < n; i++) {
		st.tmin = in[i]->tmin < st.tmin ? in[i]->tmin : st.tmin;
		st.tmax = in[i]->tmax > st.tmax ? in[i]->tmax : st.tmax;
		st.rmin = in[i]->rmin < st.rmin ? in[i]->rmin : st.rmin;
		st.rmax = in[i]->rmax > st.rmax ? in[i]->rmax : st.rmax;
		if ((r = cw_put(&w, in[i]->tcol, 8 * (size_t)in[i]->ndocs)) < 0)
			goto io;
	}
	for (size_t i = 0; i < n; i++)
		if ((r = cw_put(&w, in[i]->rcol, 8 * (size_t)in[i]->ndocs)) < 0)
			goto io;
	if ((r = cw_begin_terms(&w)) < 0)
		goto io;

	its = malloc(n * sizeof(*its));
	base = malloc(n * sizeof(*base));
	cur = malloc(n * sizeof(*cur));
	if (!its || !base || !cur) {
		r = failmsg(-ENOMEM, err, errcap, "merge");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		base[i] = i ? base[i - 1] + in[i - 1]->ndocs : 0;
		chunk_iter_init(&its[i], in[i], NULL, 0);
		chunk_iter_next(&its[i]);
	}
	for (;;) {
		const struct chunk_iter *min = NULL;
		for (size_t i = 0; i < n; i++) {
			if (its[i].err) {
				r = corrupt(err, errcap, "input %zu (seq %" PRIu64 "): corrupt entry in block %" PRIu64,
					    i, in[i]->first_seq, its[i].block);
				goto out;
			}
			if (its[i].done)
				continue;
			int c = min ? term_cmp(its[i].term, its[i].term_len,
					       min->term, min->term_len) : -1;
			if (c < 0)
				min = &its[i];
		}
		if (!min)
			break;
		for (size_t i = 0; i < n; i++)
			cur[i] = !its[i].done && (&its[i] == min ||
				 term_cmp(its[i].term, its[i].term_len,
					  min->term, min->term_len) == 0);
		d.n = 0;
		for (size_t i = 0; i < n; i++) {
			if (cur[i] && (r = iter_append(&its[i], base[i], &d)) < 0) {
				if (r == ST_ECORRUPT)
					corrupt(err, errcap, "input %zu (seq %" PRIu64 "): corrupt postings in block %" PRIu64,
						i, in[i]->first_seq, its[i].block);
				else
					failmsg(r, err, errcap, "merge");
				goto out;
			}
		}
		if ((r = cw_term(&w, min->term, min->term_len, d.v, (uint32_t)d.n)) < 0) {
			if (r == ST_ECORRUPT)
				corrupt(err, errcap, "an input's terms are out of order");
			else
				failmsg(r, err, errcap, w.tmp);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (cur[i])
				chunk_iter_next(&its[i]);
		if (cancel && ++nterm % 4096 == 0 && __atomic_load_n(cancel, __ATOMIC_RELAXED)) {
			r = failmsg(-ECANCELED, err, errcap, "merge");
			goto out;
		}
		if (cw_pos(&w) >= trim_at) {
			/* The inputs are read once, in order: what is behind
			 * the iterators is not needed again. */
			for (size_t i = 0; i < n; i++)
				chunk_trim(in[i]);
			trim_at = cw_pos(&w) + MERGE_TRIM_BYTES;
		}
	}
	for (size_t i = 0; i < n; i++)
		chunk_trim(in[i]);
	if ((r = cw_finish(&w, in[0]->first_seq, (uint32_t)total, &st)) < 0)
		goto io;
	goto out;
io:
	failmsg(r, err, errcap, w.tmp);
out:
	cw_abort(&w);
	free(its);
	free(base);
	free(cur);
	free(d.v);
	return r;
}
