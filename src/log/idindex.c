/*
 * idindex.c - DIR/ids.d: the idempotency index as a small LSM of
 * fingerprints (idindex.h has the shape; docs/FORMAT.md, "ids", the
 * bytes; docs/DECISIONS.md §20 the why and the measurements).
 *
 * Invariants:
 *  I1. A run file is never changed once written. The manifest lists a run
 *      only after the run is complete, fdatasync'd and its directory
 *      entry synced (write_run()); a run is deleted only after a manifest
 *      that does not list it is durable (idindex_persist()), or at open
 *      when the manifest does not list it (a crash between a write and a
 *      persist), or by idindex_create(), which deletes the manifest first.
 *      So a crash at any point leaves the manifest's runs intact.
 *  I2. `covered`: every entry with seq < covered that carries a key is in
 *      a run the manifest lists. A memtable is frozen at a boundary b (the
 *      seq of the insert that found it full, or the caller's upto in
 *      idindex_flush()); seqs are inserted in increasing order, so every
 *      insert below b is in that table or an older one. durable_upto, the
 *      most a persist may record, is the boundary of the newest memtable
 *      whose run is installed; merges keep every entry of their inputs.
 *  I3. The filter holds every fingerprint of the memtables and of every
 *      run in use: a bit is set when its entry is inserted (before it
 *      reaches the memtable), or read from a run at open, and is never
 *      cleared (a merge's output holds its inputs' entries). So a filter
 *      miss proves absence, and only a hit reads anything more.
 *  I4. Nothing here decides that two events are the same: a fingerprint
 *      match is only a candidate, confirmed by the caller against the
 *      entry itself (idindex_confirm_fn). Stale entries (inserted for a
 *      group whose write failed) and collisions are therefore harmless,
 *      and runs need not be disjoint or in any order among themselves.
 *  I5. Memory is fixed at open: two memtables, the filter, the flush sort
 *      buffer and the merge buffers are allocated (and pre-faulted) then.
 *      Only the sparse indexes (8 bytes per 256 entries) and the run list
 *      grow with the log.
 *  I6. Threads. The leader (the only caller) owns the memtables, the
 *      filter, the run list and the manifest. The flush thread reads only
 *      the frozen memtable handed to it, which nobody writes until its run
 *      is installed; the merge thread reads only its input runs, which
 *      stay in use (and on disk) until its output is installed. Each
 *      writes only its own new file. Jobs and results pass under x->mu;
 *      the leader installs results only inside its own calls (a safe
 *      point: no lookup is walking the run list then).
 */
#include "log/idindex.h"
#include "common/bigmem.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Manifest layout (docs/FORMAT.md). */
#define M_MAGIC 0
#define M_VERSION 8
#define M_FLAGS 12
#define M_KEY 16
#define M_COVERED 32
#define M_LEAF 40
#define M_NEXT_ID 72
#define M_NRUNS 80
#define M_RUNS 88
#define M_RUN_REC 24

/* Run header layout. */
#define R_MAGIC 0
#define R_VERSION 8
#define R_FLAGS 12
#define R_COUNT 16
#define R_ID 24
#define R_CRC 32
#define R_HCRC 36
#define R_USED 40

#define KEY_BYTES crypto_shorthash_KEYBYTES   /* 16 */
#define PER_BLOCK (IDINDEX_BLOCK / IDINDEX_ENTRY)
#define IO_BUF ((size_t)256 << 10)            /* run writes and the open scan */
#define MERGE_IN_BUF ((size_t)64 << 10)       /* each merge input */
#define FLUSH_RETRY_NS (1000 * 1000000LL)     /* after a failed flush */
#define MERGE_RETRY_NS (10 * 1000000000LL)    /* after a failed merge */

struct ent {
	uint64_t fp;
	uint64_t seq;
};

struct slot {
	uint64_t fp;
	uint64_t seq1;               /* seq + 1; 0: empty */
};

struct memtable {
	struct slot *slots;
	uint64_t nslots, mask, count;
	unsigned shift;              /* home = mix(fp) >> shift */
};

struct run {
	uint64_t id;
	uint64_t count;
	uint32_t crc;                /* of the entries */
	int fd;
	uint64_t *fence;             /* first fp of each block */
	uint64_t nblocks;
	bool merging;                /* an input of the merge in flight */
};

struct flush_job {
	bool pending, running, done;
	const struct slot *slots;    /* the frozen memtable */
	uint64_t nslots;
	uint64_t id;
	int err;
	struct run *out;
};

struct merge_job {
	bool pending, running, done;
	uint64_t in_id[IDINDEX_MERGE_FANIN];
	uint64_t in_count[IDINDEX_MERGE_FANIN];
	size_t nin;
	uint64_t id;
	int err;
	struct run *out;
};

struct idindex {
	char dir[PATH_MAX];          /* DIR/ids.d */
	struct idindex_config cfg;
	uint8_t key[KEY_BYTES];
	uint64_t fp_mask;
	uint64_t covered;            /* as in the manifest on disk */
	uint8_t leaf[HASH_SIZE];

	/* leader state */
	struct memtable tab[2];
	int act;                     /* tab[act] takes inserts */
	bool frozen;                 /* tab[!act] is being written as a run */
	uint64_t frozen_upto;        /* its boundary (I2) */
	uint64_t gen;                /* bumped when tab[act] changes */
	uint64_t cap;                /* a memtable flushes at this count (0.7) */
	uint64_t hard;               /* and refuses inserts past this (0.9) */
	uint64_t durable_upto;       /* I2 */
	int flush_err;               /* the last flush failed; retried */
	int64_t flush_err_ns;
	int64_t merge_err_ns;
	struct run **runs;
	size_t nruns, runs_cap;
	uint64_t *doomed;            /* ids of runs replaced by merges (I1) */
	size_t ndoomed, doomed_cap;
	bool runs_changed;           /* since the last manifest */
	uint64_t next_id;
	uint64_t *filter;            /* 8-word blocks */
	uint64_t filter_blocks;
	uint8_t blk[IDINDEX_BLOCK];  /* a run block read by a lookup */
	bool broken;                 /* a manifest write failed: never write again */

	/* threads (I6) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t flusher, merger;
	bool threads;
	bool stop;                   /* under mu; also read atomically */
	bool ready;                  /* a job is done: read atomically */
	struct flush_job fj;
	struct merge_job mj;
	struct ent *sortbuf;         /* the flush thread's (cap entries) */
	uint8_t *wbuf, *mwbuf;       /* flush and merge output buffers */
	uint8_t *mibuf;              /* merge input buffers */
};

static unsigned test_fp_bits;

void idindex_set_test_fp_bits(unsigned bits)
{
	test_fp_bits = bits;
}

static uint64_t fp_mask_now(void)
{
	return test_fp_bits && test_fp_bits < 64 ? (UINT64_C(1) << test_fp_bits) - 1 : UINT64_MAX;
}

void idindex_config_default(struct idindex_config *c)
{
	const char *s = getenv("SEALTRAIL_TEST_IDS_SLOTS");
	uint64_t v;

	c->memtable_slots = IDINDEX_DEFAULT_SLOTS;
	c->filter_bytes = IDINDEX_DEFAULT_FILTER;
	if (s && st_parse_u64(s, strlen(s), &v) && v >= IDINDEX_MIN_SLOTS &&
	    v <= IDINDEX_MAX_SLOTS && (v & (v - 1)) == 0)
		c->memtable_slots = v;
}

bool idindex_config_valid(const struct idindex_config *c)
{
	uint64_t s = c->memtable_slots, f = c->filter_bytes;
	return s >= IDINDEX_MIN_SLOTS && s <= IDINDEX_MAX_SLOTS && (s & (s - 1)) == 0 &&
	       f >= IDINDEX_MIN_FILTER && f <= IDINDEX_MAX_FILTER && f % 64 == 0;
}

/* ---- hashing ------------------------------------------------------------- */

/* The splitmix64 finaliser: spreads fingerprints that the test hook cut
 * to a few low bits over the whole word (the memtable's home slot), and
 * gives the filter's bit positions independent of its block. */
static inline uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The block is chosen by the fingerprint's high bits (a keyed hash:
 * uniform), so that the filter is filled in address order from a sorted
 * run at open: streaming instead of a cache miss per entry (10M ids:
 * 1.0 s -> 0.17 s). Fingerprints cut by the test hook all land in block
 * 0: more false positives, never a wrong answer. */
static inline uint64_t *filter_block(const struct idindex *x, uint64_t fp)
{
	return x->filter + 8 * (uint64_t)(((unsigned __int128)fp * x->filter_blocks) >> 64);
}

/* One bit in each of the block's eight words, from 48 bits of mix(fp). */
static inline void filter_add(struct idindex *x, uint64_t fp)
{
	uint64_t *b = filter_block(x, fp), m = mix(fp);
	for (int i = 0; i < 8; i++)
		b[i] |= UINT64_C(1) << ((m >> (6 * i)) & 63);
}

static inline bool filter_maybe(const struct idindex *x, uint64_t fp)
{
	const uint64_t *b = filter_block(x, fp);
	uint64_t m = mix(fp), miss = 0;
	for (int i = 0; i < 8; i++)
		miss |= ~b[i] & (UINT64_C(1) << ((m >> (6 * i)) & 63));
	return miss == 0;
}

/* ---- memory -------------------------------------------------------------- */

/* Anonymous memory, pre-faulted (I5), from common/bigmem.h: the
 * process's RSS is what it will be from the start, instead of creeping up
 * as the pages are touched. Regions of 2 MiB or more are on huge pages:
 * every lookup lands on a random line of the filter and of the memtable,
 * and with 4 KiB pages each one also walked the page tables (the
 * prefetch of both took 8% of an append's CPU; see DECISIONS §20). */

/* ---- names --------------------------------------------------------------- */

static int run_path(char *out, const char *dir, uint64_t id)
{
	int n = snprintf(out, PATH_MAX, "%s/%016" PRIx64 ".run", dir, id);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int manifest_path(char *out, const char *dir)
{
	int n = snprintf(out, PATH_MAX, "%s/manifest", dir);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* ---- runs: reading ------------------------------------------------------- */

static void run_free(struct run *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->fence);
	free(r);
}

static int entry_cmp(uint64_t afp, uint64_t aseq, uint64_t bfp, uint64_t bseq)
{
	if (afp != bfp)
		return afp < bfp ? -1 : 1;
	return aseq < bseq ? -1 : aseq > bseq;
}

/* Encodes a run header for count entries whose CRC is crc. */
static void run_header(uint8_t h[R_USED], uint64_t id, uint64_t count, uint32_t crc)
{
	memset(h, 0, R_USED);
	memcpy(h + R_MAGIC, IDINDEX_RUN_MAGIC, 8);
	put_le32(h + R_VERSION, IDINDEX_VERSION);
	put_le32(h + R_FLAGS, 0);
	put_le64(h + R_COUNT, count);
	put_le64(h + R_ID, id);
	put_le32(h + R_CRC, crc);
	put_le32(h + R_HCRC, crc32c(0, h, R_HCRC));
}

/* Opens run id (as the manifest lists it: count entries with CRC crc) and
 * checks all of it while feeding the filter and building its sparse
 * index: header, size, strict (fp, seq) order, CRC. buf: IO_BUF bytes. */
static int run_load(struct idindex *x, uint64_t id, uint64_t count, uint32_t crc,
		    uint8_t *buf, struct run **ret)
{
	char path[PATH_MAX];
	uint8_t h[R_USED], want[R_USED];
	struct stat st;
	struct run *r = calloc(1, sizeof(*r));
	uint64_t done = 0, pfp = 0, pseq = 0;
	uint32_t c = 0;
	int e;

	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->id = id;
	r->count = count;
	r->crc = crc;
	r->nblocks = (count + PER_BLOCK - 1) / PER_BLOCK;
	if ((e = run_path(path, x->dir, id)) < 0)
		goto fail;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		e = errno == ENOENT ? ST_ECORRUPT : -errno;   /* listed, so it must be there */
		goto fail;
	}
	e = ST_ECORRUPT;
	run_header(want, id, count, crc);
	if (fstat(r->fd, &st) < 0 || count > (UINT64_C(1) << 40) ||
	    (uint64_t)st.st_size != IDINDEX_RUN_HEADER + count * IDINDEX_ENTRY ||
	    pread_all(r->fd, h, sizeof(h), 0) < 0 || memcmp(h, want, R_USED))
		goto fail;
	if (r->nblocks && !(r->fence = malloc(r->nblocks * sizeof(*r->fence)))) {
		e = -ENOMEM;
		goto fail;
	}
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (done < count) {
		size_t n = count - done < IO_BUF / IDINDEX_ENTRY ? (size_t)(count - done)
								  : IO_BUF / IDINDEX_ENTRY;
		int pr = pread_all(r->fd, buf, n * IDINDEX_ENTRY,
				   (off_t)(IDINDEX_RUN_HEADER + done * IDINDEX_ENTRY));
		if (pr < 0) {
			e = pr == -ENODATA ? ST_ECORRUPT : pr;
			goto fail;
		}
		c = crc32c(c, buf, n * IDINDEX_ENTRY);
		for (size_t i = 0; i < n; i++, done++) {
			uint64_t fp = get_le64(buf + i * IDINDEX_ENTRY);
			uint64_t seq = get_le64(buf + i * IDINDEX_ENTRY + 8);
			if (done && entry_cmp(pfp, pseq, fp, seq) >= 0)
				goto fail;
			if (done % PER_BLOCK == 0)
				r->fence[done / PER_BLOCK] = fp;
			filter_add(x, fp);
			pfp = fp;
			pseq = seq;
		}
	}
	if (c != crc)
		goto fail;
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_RANDOM);
	*ret = r;
	return 0;
fail:
	run_free(r);
	return e;
}

/* Walks run r for fp: the blocks whose fence range can hold it, one pread
 * each (normally one block). */
static int run_find(struct idindex *x, struct run *r, const struct idkey *k,
		    idindex_confirm_fn confirm, void *ctx, uint64_t *ret_seq)
{
	uint64_t fp = k->fp, lo = 0, hi = r->nblocks;

	/* The first block whose fence is >= fp; entries equal to fp may start
	 * in the block before it. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (r->fence[mid] < fp)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t b = lo ? lo - 1 : 0; b < r->nblocks; b++) {
		if (r->fence[b] > fp)
			return 0;
		uint64_t first = b * PER_BLOCK;
		size_t n = r->count - first < PER_BLOCK ? (size_t)(r->count - first) : PER_BLOCK;
		int e = pread_all(r->fd, x->blk, n * IDINDEX_ENTRY,
				  (off_t)(IDINDEX_RUN_HEADER + first * IDINDEX_ENTRY));
		if (e < 0)
			return e == -ENODATA ? ST_ECORRUPT : e;
		size_t l = 0, h = n;
		while (l < h) {
			size_t m = l + (h - l) / 2;
			if (get_le64(x->blk + m * IDINDEX_ENTRY) < fp)
				l = m + 1;
			else
				h = m;
		}
		for (; l < n; l++) {
			const uint8_t *p = x->blk + l * IDINDEX_ENTRY;
			if (get_le64(p) != fp)
				return 0;
			uint64_t seq = get_le64(p + 8);
			int c = confirm(ctx, seq, k);
			if (c < 0)
				return c;
			if (c) {
				*ret_seq = seq;
				return 1;
			}
		}
	}
	return 0;
}

/* ---- runs: writing (the threads) ------------------------------------------ */

struct rwriter {
	char path[PATH_MAX];
	const char *dir;
	int fd;
	uint8_t *buf;                /* IO_BUF bytes */
	size_t len;
	uint64_t id, count, written;
	uint32_t crc;
	uint64_t *fence;
	uint64_t nfence, fence_cap;
};

static int rw_begin(struct rwriter *w, const char *dir, uint64_t id, uint8_t *buf,
		    uint64_t expect)
{
	int e;

	memset(w, 0, sizeof(*w));
	w->dir = dir;
	w->id = id;
	w->buf = buf;
	w->fd = -1;
	if ((e = run_path(w->path, dir, id)) < 0)
		return e;
	w->fence_cap = (expect + PER_BLOCK - 1) / PER_BLOCK + 1;
	if (!(w->fence = malloc(w->fence_cap * sizeof(*w->fence))))
		return -ENOMEM;
	w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -errno;
	return 0;
}

static int rw_drain(struct rwriter *w)
{
	int e;
	if (!w->len)
		return 0;
	w->crc = crc32c(w->crc, w->buf, w->len);
	e = pwrite_all(w->fd, w->buf, w->len, (off_t)(IDINDEX_RUN_HEADER + w->written));
	w->written += w->len;
	w->len = 0;
	return e;
}

static int rw_put(struct rwriter *w, uint64_t fp, uint64_t seq)
{
	int e;
	if (w->count % PER_BLOCK == 0) {
		if (w->nfence == w->fence_cap) {
			uint64_t *f = realloc(w->fence, 2 * w->fence_cap * sizeof(*f));
			if (!f)
				return -ENOMEM;
			w->fence = f;
			w->fence_cap *= 2;
		}
		w->fence[w->nfence++] = fp;
	}
	put_le64(w->buf + w->len, fp);
	put_le64(w->buf + w->len + 8, seq);
	w->len += IDINDEX_ENTRY;
	w->count++;
	if (w->len == IO_BUF && (e = rw_drain(w)) < 0)
		return e;
	return 0;
}

/* Writes the header, syncs the file and the directory (I1), and makes
 * the run the leader will use (the descriptor moves into it). */
static int rw_end(struct rwriter *w, struct run **ret)
{
	uint8_t h[R_USED];
	struct run *r;
	int e;

	if ((e = rw_drain(w)) < 0)
		return e;
	run_header(h, w->id, w->count, w->crc);
	if ((e = pwrite_all(w->fd, h, sizeof(h), 0)) < 0)
		return e;
	if (w->count == 0 && ftruncate(w->fd, IDINDEX_RUN_HEADER) < 0)
		return -errno;
	if (fdatasync(w->fd) < 0)
		return -errno;
	if ((e = fsync_dir(w->dir)) < 0)
		return e;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	posix_fadvise(w->fd, 0, 0, POSIX_FADV_RANDOM);
	r->id = w->id;
	r->count = w->count;
	r->crc = w->crc;
	r->fd = w->fd;
	r->fence = w->fence;
	r->nblocks = w->nfence;
	w->fd = -1;
	w->fence = NULL;
	*ret = r;
	return 0;
}

/* Undoes a writer that did not end: the file is deleted (nothing lists it). */
static void rw_abandon(struct rwriter *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlink(w->path);
	}
	free(w->fence);
	w->fd = -1;
	w->fence = NULL;
}

/* Sorts e[0..n) by (fp, seq): quicksort (median of three, the smaller
 * side first), insertion sort for short ranges, heapsort past a depth
 * limit, in place (the flush thread has no room for a radix pass). */
static void ent_swap(struct ent *a, struct ent *b)
{
	struct ent t = *a;
	*a = *b;
	*b = t;
}

static bool ent_less(const struct ent *a, const struct ent *b)
{
	return a->fp < b->fp || (a->fp == b->fp && a->seq < b->seq);
}

static void sift_down(struct ent *e, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && ent_less(&e[c], &e[c + 1]))
			c++;
		if (!ent_less(&e[i], &e[c]))
			return;
		ent_swap(&e[i], &e[c]);
		i = c;
	}
}

static void heap_sort(struct ent *e, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(e, i, n);
	for (size_t i = n; i-- > 1;) {
		ent_swap(&e[0], &e[i]);
		sift_down(e, 0, i);
	}
}

static void ent_sort(struct ent *e, size_t n, unsigned depth)
{
	while (n > 16) {
		if (depth-- == 0) {
			heap_sort(e, n);
			return;
		}
		size_t m = n / 2;
		if (ent_less(&e[m], &e[0]))
			ent_swap(&e[m], &e[0]);
		if (ent_less(&e[n - 1], &e[0]))
			ent_swap(&e[n - 1], &e[0]);
		if (ent_less(&e[n - 1], &e[m]))
			ent_swap(&e[n - 1], &e[m]);
		struct ent p = e[m];
		size_t i = 0, j = n - 1;
		for (;;) {
			while (ent_less(&e[i], &p))
				i++;
			while (ent_less(&p, &e[j]))
				j--;
			if (i >= j)
				break;
			ent_swap(&e[i], &e[j]);
			i++;
			j--;
		}
		/* [0, j] <= p <= [j+1, n) */
		size_t left = j + 1;
		if (left < n - left) {
			ent_sort(e, left, depth);
			e += left;
			n -= left;
		} else {
			ent_sort(e + left, n - left, depth);
			n = left;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct ent t = e[i];
		size_t j = i;
		while (j > 0 && ent_less(&t, &e[j - 1])) {
			e[j] = e[j - 1];
			j--;
		}
		e[j] = t;
	}
}

/* The flush thread's work: the frozen memtable, sorted, as run id. */
static int write_frozen(struct idindex *x, const struct flush_job *j, struct run **ret)
{
	struct rwriter w;
	size_t n = 0;
	unsigned depth = 2;
	int e;

	for (uint64_t i = 0; i < j->nslots; i++) {
		if (j->slots[i].seq1) {
			if (n == x->hard)
				return -EOVERFLOW;  /* cannot happen: inserts stop at hard */
			x->sortbuf[n].fp = j->slots[i].fp;
			x->sortbuf[n].seq = j->slots[i].seq1 - 1;
			n++;
		}
	}
	for (size_t m = n; m > 1; m >>= 1)
		depth += 2;
	ent_sort(x->sortbuf, n, depth);
	if ((e = rw_begin(&w, x->dir, j->id, x->wbuf, n)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if ((e = rw_put(&w, x->sortbuf[i].fp, x->sortbuf[i].seq)) < 0)
			goto fail;
	if ((e = rw_end(&w, ret)) < 0)
		goto fail;
	return 0;
fail:
	rw_abandon(&w);
	return e;
}

struct rreader {
	int fd;
	uint8_t *buf;                /* MERGE_IN_BUF bytes */
	size_t len, pos;
	uint64_t left;               /* entries not yet read into buf */
	uint64_t off;
	uint64_t fp, seq;            /* the head entry */
	bool has;
};

static int rr_next(struct rreader *r)
{
	if (r->pos == r->len) {
		if (r->left == 0) {
			r->has = false;
			return 0;
		}
		size_t n = r->left < MERGE_IN_BUF / IDINDEX_ENTRY ? (size_t)r->left
								  : MERGE_IN_BUF / IDINDEX_ENTRY;
		int e = pread_all(r->fd, r->buf, n * IDINDEX_ENTRY, (off_t)r->off);
		if (e < 0)
			return e;
		r->off += n * IDINDEX_ENTRY;
		r->left -= n;
		r->len = n * IDINDEX_ENTRY;
		r->pos = 0;
	}
	r->fp = get_le64(r->buf + r->pos);
	r->seq = get_le64(r->buf + r->pos + 8);
	r->pos += IDINDEX_ENTRY;
	r->has = true;
	return 0;
}

static bool stopping(struct idindex *x)
{
	return __atomic_load_n(&x->stop, __ATOMIC_RELAXED);
}

/* The merge thread's work: its inputs, merged by (fp, seq), as run id.
 * Exact duplicates (none are expected) are written once. */
static int write_merged(struct idindex *x, const struct merge_job *j, struct run **ret)
{
	struct rreader in[IDINDEX_MERGE_FANIN];
	struct rwriter w;
	uint64_t total = 0, pfp = 0, pseq = 0;
	bool any = false;
	int e = 0;

	w.fd = -1;
	w.fence = NULL;
	for (size_t i = 0; i < j->nin; i++)
		in[i].fd = -1;
	for (size_t i = 0; i < j->nin; i++) {
		char path[PATH_MAX];
		if ((e = run_path(path, x->dir, j->in_id[i])) < 0)
			goto out;
		in[i] = (struct rreader){ open(path, O_RDONLY | O_CLOEXEC),
					  x->mibuf + i * MERGE_IN_BUF, 0, 0, j->in_count[i],
					  IDINDEX_RUN_HEADER, 0, 0, false };
		if (in[i].fd < 0) {
			e = -errno;
			goto out;
		}
		posix_fadvise(in[i].fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		if ((e = rr_next(&in[i])) < 0)
			goto out;
		total += j->in_count[i];
	}
	if ((e = rw_begin(&w, x->dir, j->id, x->mwbuf, total)) < 0)
		goto out;
	for (;;) {
		struct rreader *m = NULL;
		for (size_t i = 0; i < j->nin; i++)
			if (in[i].has && (!m || entry_cmp(in[i].fp, in[i].seq, m->fp, m->seq) < 0))
				m = &in[i];
		if (!m)
			break;
		if (!any || entry_cmp(pfp, pseq, m->fp, m->seq) != 0) {
			if ((e = rw_put(&w, m->fp, m->seq)) < 0)
				goto out;
			if (w.len == 0 && stopping(x)) {
				e = -ECANCELED;
				goto out;
			}
		}
		any = true;
		pfp = m->fp;
		pseq = m->seq;
		if ((e = rr_next(m)) < 0)
			goto out;
	}
	e = rw_end(&w, ret);
out:
	if (e < 0)
		rw_abandon(&w);
	for (size_t i = 0; i < j->nin; i++)
		if (in[i].fd >= 0)
			close(in[i].fd);
	return e;
}

static void post_ready(struct idindex *x)
{
	__atomic_store_n(&x->ready, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&x->cv);
}

static void *flusher_main(void *arg)
{
	struct idindex *x = arg;

	pthread_mutex_lock(&x->mu);
	for (;;) {
		while (!x->stop && !x->fj.pending)
			pthread_cond_wait(&x->cv, &x->mu);
		if (x->stop)
			break;
		struct flush_job j = x->fj;
		struct run *out = NULL;
		x->fj.pending = false;
		x->fj.running = true;
		pthread_mutex_unlock(&x->mu);
		int e = write_frozen(x, &j, &out);
		pthread_mutex_lock(&x->mu);
		x->fj.running = false;
		x->fj.done = true;
		x->fj.err = e;
		x->fj.out = out;
		post_ready(x);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

static void *merger_main(void *arg)
{
	struct idindex *x = arg;

	pthread_mutex_lock(&x->mu);
	for (;;) {
		while (!x->stop && !x->mj.pending)
			pthread_cond_wait(&x->cv, &x->mu);
		if (x->stop)
			break;
		struct merge_job j = x->mj;
		struct run *out = NULL;
		x->mj.pending = false;
		x->mj.running = true;
		pthread_mutex_unlock(&x->mu);
		int e = write_merged(x, &j, &out);
		pthread_mutex_lock(&x->mu);
		x->mj.running = false;
		x->mj.done = true;
		x->mj.err = e;
		x->mj.out = out;
		post_ready(x);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* ---- the leader's side ---------------------------------------------------- */

static int runs_push(struct idindex *x, struct run *r)
{
	if (x->nruns == x->runs_cap) {
		size_t cap = x->runs_cap ? 2 * x->runs_cap : 16;
		struct run **n = realloc(x->runs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		x->runs = n;
		x->runs_cap = cap;
	}
	x->runs[x->nruns++] = r;
	return 0;
}

static int doom(struct idindex *x, uint64_t id)
{
	if (x->ndoomed == x->doomed_cap) {
		size_t cap = x->doomed_cap ? 2 * x->doomed_cap : 16;
		uint64_t *n = realloc(x->doomed, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		x->doomed = n;
		x->doomed_cap = cap;
	}
	x->doomed[x->ndoomed++] = id;
	return 0;
}

/* The size tier of a run of n entries: 0 up to one memtable, then one
 * more for each factor of the fan-in. */
static unsigned tier(const struct idindex *x, uint64_t n)
{
	unsigned t = 0;
	for (uint64_t c = x->cap; n > c && t < 40; c *= IDINDEX_MERGE_FANIN)
		t++;
	return t;
}

/* Hands the merge thread IDINDEX_MERGE_FANIN runs of the lowest tier that
 * has that many (size-tiered), unless a merge is already in flight. */
static void maybe_merge(struct idindex *x)
{
	size_t pick[IDINDEX_MERGE_FANIN];
	bool busy;

	if (x->broken || x->nruns < IDINDEX_MERGE_FANIN ||
	    (x->merge_err_ns && now_monotonic_ns() - x->merge_err_ns < MERGE_RETRY_NS))
		return;
	pthread_mutex_lock(&x->mu);
	busy = x->mj.pending || x->mj.running || x->mj.done;
	pthread_mutex_unlock(&x->mu);
	if (busy)
		return;
	for (unsigned t = 0; t <= 40; t++) {
		size_t n = 0;
		for (size_t i = 0; i < x->nruns && n < IDINDEX_MERGE_FANIN; i++)
			if (!x->runs[i]->merging && tier(x, x->runs[i]->count) == t)
				pick[n++] = i;
		if (n < IDINDEX_MERGE_FANIN)
			continue;
		pthread_mutex_lock(&x->mu);
		x->mj.nin = n;
		for (size_t i = 0; i < n; i++) {
			x->runs[pick[i]]->merging = true;
			x->mj.in_id[i] = x->runs[pick[i]]->id;
			x->mj.in_count[i] = x->runs[pick[i]]->count;
		}
		x->mj.id = x->next_id++;
		x->mj.err = 0;
		x->mj.out = NULL;
		x->mj.pending = true;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		return;
	}
}

static void install_flush(struct idindex *x, int err, struct run *out)
{
	if (err == 0 && runs_push(x, out) < 0) {
		/* Drop it: the frozen table stays and is written again. */
		char path[PATH_MAX];
		if (run_path(path, x->dir, out->id) == 0)
			unlink(path);
		run_free(out);
		err = -ENOMEM;
	}
	if (err < 0) {
		x->flush_err = err;
		x->flush_err_ns = now_monotonic_ns();
		return;
	}
	struct memtable *f = &x->tab[!x->act];
	memset(f->slots, 0, f->nslots * sizeof(*f->slots));
	f->count = 0;
	x->frozen = false;
	x->flush_err = 0;
	x->durable_upto = x->frozen_upto;
	x->runs_changed = true;
}

static void install_merge(struct idindex *x, int err, struct run *out, const struct merge_job *j)
{
	if (err == 0) {
		size_t k = 0;
		for (size_t i = 0; i < x->nruns; i++) {
			struct run *r = x->runs[i];
			bool input = false;
			for (size_t n = 0; n < j->nin; n++)
				input |= r->id == j->in_id[n];
			if (input && doom(x, r->id) == 0) {
				run_free(r);
				continue;
			}
			r->merging = false;    /* (an input we could not doom stays) */
			x->runs[k++] = r;
		}
		x->nruns = k;
		if (runs_push(x, out) < 0) {
			/* Only when no input was dropped (each one dropped
			 * frees a slot of x->runs): they hold every entry. */
			char path[PATH_MAX];
			if (run_path(path, x->dir, out->id) == 0)
				unlink(path);
			run_free(out);
		}
		x->runs_changed = true;
		x->merge_err_ns = 0;
		return;
	}
	for (size_t i = 0; i < x->nruns; i++)
		x->runs[i]->merging = false;
	if (err != -ECANCELED)
		x->merge_err_ns = now_monotonic_ns();
}

/* Installs whatever the threads have finished (a safe point, I6). */
static void poll_bg(struct idindex *x)
{
	struct flush_job f = { 0 };
	struct merge_job m = { 0 };

	if (!__atomic_load_n(&x->ready, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&x->mu);
	__atomic_store_n(&x->ready, false, __ATOMIC_RELAXED);
	if (x->fj.done) {
		f = x->fj;
		x->fj.done = false;
		x->fj.out = NULL;
	}
	if (x->mj.done) {
		m = x->mj;
		x->mj.done = false;
		x->mj.out = NULL;
	}
	pthread_mutex_unlock(&x->mu);
	if (f.done)
		install_flush(x, f.err, f.out);
	if (m.done)
		install_merge(x, m.err, m.out, &m);
	if (f.done || m.done)
		maybe_merge(x);
}

static void submit_flush(struct idindex *x)
{
	struct memtable *f = &x->tab[!x->act];
	pthread_mutex_lock(&x->mu);
	x->fj.slots = f->slots;
	x->fj.nslots = f->nslots;
	x->fj.id = x->next_id++;
	x->fj.err = 0;
	x->fj.out = NULL;
	x->fj.pending = true;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

static bool flush_in_flight(struct idindex *x)
{
	bool b;
	pthread_mutex_lock(&x->mu);
	b = x->fj.pending || x->fj.running || x->fj.done;
	pthread_mutex_unlock(&x->mu);
	return b;
}

/* Waits for the flush in flight, if any, and installs it. */
static void wait_flush(struct idindex *x)
{
	pthread_mutex_lock(&x->mu);
	while (x->fj.pending || x->fj.running)
		pthread_cond_wait(&x->cv, &x->mu);
	pthread_mutex_unlock(&x->mu);
	poll_bg(x);
}

/* The active memtable becomes the frozen one, at boundary upto (I2). */
static void freeze(struct idindex *x, uint64_t upto)
{
	x->act = !x->act;
	x->frozen = true;
	x->frozen_upto = upto;
	x->gen++;
	submit_flush(x);
}

/* The active memtable is full (at cap): freeze it when the frozen one is
 * gone; else go on to `hard`, and there wait for the flush in flight. A
 * failed flush is tried again every FLUSH_RETRY_NS. */
static int make_room(struct idindex *x, uint64_t seq)
{
	struct memtable *t = &x->tab[x->act];

	if (!x->frozen) {
		freeze(x, seq);
		return 0;
	}
	if (x->flush_err && !flush_in_flight(x) &&
	    now_monotonic_ns() - x->flush_err_ns >= FLUSH_RETRY_NS) {
		x->flush_err = 0;
		submit_flush(x);
	}
	if (t->count < x->hard)
		return 0;
	wait_flush(x);
	if (!x->frozen) {
		freeze(x, seq);
		return 0;
	}
	return x->flush_err ? x->flush_err : -ENOSPC;
}

static int tab_find(struct memtable *t, const struct idkey *k, idindex_confirm_fn confirm,
		    void *ctx, uint64_t *ret_pos, uint64_t *ret_seq)
{
	uint64_t i = mix(k->fp) >> t->shift;

	for (uint64_t n = 0; n < t->nslots; n++, i = (i + 1) & t->mask) {
		const struct slot *s = &t->slots[i];
		if (!s->seq1) {
			*ret_pos = i;
			return 0;
		}
		if (s->fp == k->fp) {
			int r = confirm(ctx, s->seq1 - 1, k);
			if (r < 0)
				return r;
			if (r) {
				*ret_seq = s->seq1 - 1;
				return 1;
			}
		}
	}
	*ret_pos = UINT64_MAX;
	return 0;
}

/* ---- open, create, free ----------------------------------------------------- */

static void stop_threads(struct idindex *x)
{
	if (!x->threads)
		return;
	pthread_mutex_lock(&x->mu);
	__atomic_store_n(&x->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	pthread_join(x->flusher, NULL);
	pthread_join(x->merger, NULL);
	x->threads = false;
	/* Outputs never installed: nothing lists them (I1). */
	struct run *outs[2] = { x->fj.done ? x->fj.out : NULL, x->mj.done ? x->mj.out : NULL };
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX];
		if (outs[i] && run_path(path, x->dir, outs[i]->id) == 0)
			unlink(path);
		run_free(outs[i]);
	}
	x->fj.out = x->mj.out = NULL;
}

void idindex_free(struct idindex *x)
{
	if (!x)
		return;
	stop_threads(x);
	for (size_t i = 0; i < x->nruns; i++)
		run_free(x->runs[i]);
	free(x->runs);
	free(x->doomed);
	for (int i = 0; i < 2; i++)
		big_free(x->tab[i].slots, x->tab[i].nslots * sizeof(struct slot));
	big_free(x->filter, x->cfg.filter_bytes);
	big_free(x->sortbuf, x->hard * sizeof(struct ent));
	big_free(x->wbuf, IO_BUF);
	big_free(x->mwbuf, IO_BUF);
	big_free(x->mibuf, IDINDEX_MERGE_FANIN * MERGE_IN_BUF);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	st_wipe(x->key, sizeof(x->key));
	free(x);
}

/* The index's memory (I5), before anything is read into it. */
static int idx_new(struct idindex **ret, const char *dir, const struct idindex_config *c)
{
	struct idindex *x;
	struct idindex_config def;

	if (!c) {
		idindex_config_default(&def);
		c = &def;
	}
	if (!idindex_config_valid(c))
		return ST_EINVAL;
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	x->cfg = *c;
	x->fp_mask = fp_mask_now();
	x->next_id = 1;
	x->cap = c->memtable_slots * 7 / 10;
	x->hard = c->memtable_slots * 9 / 10;
	x->filter_blocks = c->filter_bytes / 64;
	if (strlen(dir) >= sizeof(x->dir)) {
		idindex_free(x);
		return -ENAMETOOLONG;
	}
	strcpy(x->dir, dir);
	for (int i = 0; i < 2; i++) {
		struct memtable *t = &x->tab[i];
		t->nslots = c->memtable_slots;
		t->mask = t->nslots - 1;
		t->shift = 64;
		for (uint64_t s = t->nslots; s > 1; s >>= 1)
			t->shift--;
		t->slots = big_alloc(t->nslots * sizeof(struct slot));
	}
	x->filter = big_alloc(c->filter_bytes);
	x->sortbuf = big_alloc(x->hard * sizeof(struct ent));
	x->wbuf = big_alloc(IO_BUF);
	x->mwbuf = big_alloc(IO_BUF);
	x->mibuf = big_alloc(IDINDEX_MERGE_FANIN * MERGE_IN_BUF);
	if (!x->tab[0].slots || !x->tab[1].slots || !x->filter || !x->sortbuf || !x->wbuf ||
	    !x->mwbuf || !x->mibuf) {
		idindex_free(x);
		return -ENOMEM;
	}
	*ret = x;
	return 0;
}

static int start_threads(struct idindex *x)
{
	int e = pthread_create(&x->flusher, NULL, flusher_main, x);
	if (e)
		return -e;
	if ((e = pthread_create(&x->merger, NULL, merger_main, x)) != 0) {
		pthread_mutex_lock(&x->mu);
		__atomic_store_n(&x->stop, true, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->flusher, NULL);
		return -e;
	}
	x->threads = true;
	return 0;
}

/* Deletes the files of dir that are ours and that keep() refuses: runs
 * no manifest lists and leftovers of an interrupted manifest write. */
static int sweep(const char *dir, const uint64_t *keep, size_t nkeep)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		bool ours = !strcmp(n, "manifest.tmp");
		if (len == 20 && !strcmp(n + 16, ".run")) {
			char *end;
			uint64_t id = strtoull(n, &end, 16);
			ours = end == n + 16;
			for (size_t i = 0; ours && i < nkeep; i++)
				if (keep[i] == id)
					ours = false;
		}
		if (ours && unlinkat(dirfd(d), n, 0) == 0)
			any = true;
	}
	closedir(d);
	return any ? fsync_dir(dir) : 0;
}

int idindex_open(struct idindex **ret, const char *dir, const struct idindex_config *c)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT((size_t)M_RUNS + M_RUN_REC * IDINDEX_MAX_RUNS + 4);
	struct idindex *x = NULL;
	uint64_t *keep = NULL;
	uint32_t nruns;
	int r;

	if ((r = manifest_path(path, dir)) < 0)
		return r;
	r = read_file(path, b.max, &b);
	if (r < 0) {
		buf_release(&b);
		return r == -ENOENT ? ST_ENOTFOUND : r == ST_ELIMIT ? ST_ECORRUPT : r;
	}
	const uint8_t *m = b.data;
	r = ST_ECORRUPT;
	if (b.len < M_RUNS + 4 || memcmp(m + M_MAGIC, IDINDEX_MANIFEST_MAGIC, 8) ||
	    get_le32(m + M_VERSION) != IDINDEX_VERSION || get_le32(m + M_FLAGS) != 0 ||
	    crc32c(0, m, b.len - 4) != get_le32(m + b.len - 4))
		goto fail;
	nruns = get_le32(m + M_NRUNS);
	if (nruns > IDINDEX_MAX_RUNS || get_le32(m + M_NRUNS + 4) != 0 ||
	    b.len != M_RUNS + (size_t)nruns * M_RUN_REC + 4)
		goto fail;
	if ((r = idx_new(&x, dir, c)) < 0)
		goto fail;
	memcpy(x->key, m + M_KEY, KEY_BYTES);
	x->covered = x->durable_upto = get_le64(m + M_COVERED);
	memcpy(x->leaf, m + M_LEAF, HASH_SIZE);
	x->next_id = get_le64(m + M_NEXT_ID);
	if (!(keep = calloc(nruns + 1, sizeof(*keep)))) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *rec = m + M_RUNS + (size_t)i * M_RUN_REC;
		keep[i] = get_le64(rec);
		r = ST_ECORRUPT;
		if (keep[i] == 0 || keep[i] >= x->next_id || get_le32(rec + 20) != 0)
			goto fail;
		for (uint32_t k = 0; k < i; k++)
			if (keep[k] == keep[i])
				goto fail;
	}
	if ((r = sweep(dir, keep, nruns)) < 0)
		goto fail;
	for (uint32_t i = 0; i < nruns; i++) {
		const uint8_t *rec = m + M_RUNS + (size_t)i * M_RUN_REC;
		struct run *run = NULL;
		/* The flush thread's output buffer: it is not started yet. */
		if ((r = run_load(x, keep[i], get_le64(rec + 8), get_le32(rec + 16),
				  x->wbuf, &run)) < 0)
			goto fail;
		if ((r = runs_push(x, run)) < 0) {
			run_free(run);
			goto fail;
		}
	}
	if ((r = start_threads(x)) < 0)
		goto fail;
	maybe_merge(x);
	free(keep);
	buf_release(&b);
	*ret = x;
	return 0;
fail:
	free(keep);
	st_wipe(b.data, b.len);
	buf_release(&b);
	idindex_free(x);
	return r;
}

int idindex_create(struct idindex **ret, const char *dir, const struct idindex_config *c)
{
	char path[PATH_MAX];
	struct idindex *x = NULL;
	int r;

	if ((r = manifest_path(path, dir)) < 0)
		return r;
	if ((r = mkdir_p(dir, 0755)) < 0)
		return r;
	/* The manifest first: runs it lists must outlive it (I1). */
	if (unlink(path) == 0 && (r = fsync_dir(dir)) < 0)
		return r;
	if ((r = sweep(dir, NULL, 0)) < 0 || (r = idx_new(&x, dir, c)) < 0)
		return r;
	if ((r = random_bytes(x->key, sizeof(x->key))) < 0 || (r = start_threads(x)) < 0) {
		idindex_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

/* ---- queries and updates ------------------------------------------------------ */

uint64_t idindex_covered(const struct idindex *x)
{
	return x->covered;
}

const uint8_t *idindex_covered_leaf(const struct idindex *x)
{
	return x->leaf;
}

uint64_t idindex_count(const struct idindex *x)
{
	uint64_t n = x->tab[0].count + x->tab[1].count;
	for (size_t i = 0; i < x->nruns; i++)
		n += x->runs[i]->count;
	return n;
}

size_t idindex_runs(const struct idindex *x)
{
	return x->nruns;
}

void idindex_fp(const struct idindex *x, struct idkey *k)
{
	uint8_t m[IDINDEX_KEY_MAX], out[crypto_shorthash_BYTES];
	size_t tl = k->tenant_len < 64 ? k->tenant_len : 64;
	size_t il = k->id_len < EVENT_ID_MAX ? k->id_len : EVENT_ID_MAX;

	memcpy(m, k->tenant, tl);
	m[tl] = 0;
	memcpy(m + tl + 1, k->id, il);
	crypto_shorthash(out, m, tl + 1 + il, x->key);
	k->fp = get_le64(out) & x->fp_mask;
}

void idindex_prefetch(const struct idindex *x, uint64_t fp)
{
	const struct memtable *t = &x->tab[x->act];
	__builtin_prefetch(filter_block(x, fp), 0, 3);
	__builtin_prefetch(&t->slots[mix(fp) >> t->shift], 1, 3);
}

int idindex_find(struct idindex *x, const struct idkey *k, idindex_confirm_fn confirm,
		 void *ctx, struct idprobe *p, uint64_t *ret_seq)
{
	uint64_t pos = UINT64_MAX;
	int r;

	if (p) {
		p->fp = k->fp;
		p->pos = UINT64_MAX;
		p->gen = x->gen;
	}
	if (!filter_maybe(x, k->fp))
		return 0;                      /* I3 */
	poll_bg(x);
	if (p)
		p->gen = x->gen;
	if ((r = tab_find(&x->tab[x->act], k, confirm, ctx, &pos, ret_seq)) != 0)
		return r;
	if (p)
		p->pos = pos;
	if (x->frozen && (r = tab_find(&x->tab[!x->act], k, confirm, ctx, &pos, ret_seq)) != 0)
		return r;
	for (size_t i = x->nruns; i-- > 0;)
		if ((r = run_find(x, x->runs[i], k, confirm, ctx, ret_seq)) != 0)
			return r;
	return 0;
}

int idindex_insert(struct idindex *x, uint64_t fp, const struct idprobe *p, uint64_t seq)
{
	struct memtable *t;
	int r;

	poll_bg(x);
	t = &x->tab[x->act];
	if (t->count >= x->cap) {
		if ((r = make_room(x, seq)) < 0)
			return r;
		t = &x->tab[x->act];
	}
	filter_add(x, fp);                     /* before the table: I3 */
	if (p && p->fp == fp && p->gen == x->gen && p->pos < t->nslots &&
	    !t->slots[p->pos].seq1) {
		t->slots[p->pos].fp = fp;
		t->slots[p->pos].seq1 = seq + 1;
	} else {
		uint64_t i = mix(fp) >> t->shift;
		while (t->slots[i].seq1)       /* ends: count < hard < nslots */
			i = (i + 1) & t->mask;
		t->slots[i].fp = fp;
		t->slots[i].seq1 = seq + 1;
	}
	t->count++;
	return 0;
}

int idindex_add(struct idindex *x, const struct idkey *k, uint64_t seq,
		idindex_confirm_fn confirm, void *ctx, uint64_t *ret_first)
{
	struct idprobe p;
	uint64_t first;
	int r = idindex_find(x, k, confirm, ctx, &p, &first);

	if (r < 0)
		return r;
	if (r == 1) {
		*ret_first = first;
		return 1;
	}
	return idindex_insert(x, k->fp, &p, seq);
}

uint64_t idindex_persistable(struct idindex *x)
{
	poll_bg(x);
	return x->durable_upto;
}

bool idindex_dirty(struct idindex *x)
{
	poll_bg(x);
	return x->durable_upto > x->covered || x->runs_changed;
}

int idindex_flush(struct idindex *x, uint64_t upto)
{
	if (x->broken)
		return -EIO;
	poll_bg(x);
	if (x->frozen) {
		if (x->flush_err && !flush_in_flight(x))
			submit_flush(x);
		wait_flush(x);
		if (x->frozen)
			return x->flush_err ? x->flush_err : -EIO;
	}
	if (x->tab[x->act].count) {
		freeze(x, upto);
		wait_flush(x);
		if (x->frozen)
			return x->flush_err ? x->flush_err : -EIO;
	}
	if (upto > x->durable_upto)
		x->durable_upto = upto;    /* both tables are empty */
	return 0;
}

int idindex_persist(struct idindex *x, uint64_t covered, const uint8_t leaf[HASH_SIZE])
{
	char path[PATH_MAX];
	uint8_t *m;
	size_t len;
	int r;

	if (x->broken)
		return -EIO;
	poll_bg(x);
	if (covered > x->durable_upto || x->nruns > IDINDEX_MAX_RUNS)
		return ST_EINVAL;
	if ((r = manifest_path(path, x->dir)) < 0)
		return r;
	len = M_RUNS + x->nruns * M_RUN_REC + 4;
	if (!(m = calloc(1, len)))
		return -ENOMEM;
	memcpy(m + M_MAGIC, IDINDEX_MANIFEST_MAGIC, 8);
	put_le32(m + M_VERSION, IDINDEX_VERSION);
	put_le32(m + M_FLAGS, 0);
	memcpy(m + M_KEY, x->key, KEY_BYTES);
	put_le64(m + M_COVERED, covered);
	memcpy(m + M_LEAF, leaf, HASH_SIZE);
	put_le64(m + M_NEXT_ID, x->next_id);
	put_le32(m + M_NRUNS, (uint32_t)x->nruns);
	for (size_t i = 0; i < x->nruns; i++) {
		uint8_t *rec = m + M_RUNS + i * M_RUN_REC;
		put_le64(rec, x->runs[i]->id);
		put_le64(rec + 8, x->runs[i]->count);
		put_le32(rec + 16, x->runs[i]->crc);
	}
	put_le32(m + len - 4, crc32c(0, m, len - 4));
	r = write_file_atomic(path, m, len, 0644);
	st_wipe(m, len);
	free(m);
	if (r < 0) {
		/* The manifest on disk is the last good one (rename is atomic),
		 * and every run it lists is still there. Write nothing more. */
		x->broken = true;
		return r;
	}
	x->covered = covered;
	memcpy(x->leaf, leaf, HASH_SIZE);
	x->runs_changed = false;
	/* No manifest lists the replaced runs any more (I1). */
	for (size_t i = 0; i < x->ndoomed; i++)
		if (run_path(path, x->dir, x->doomed[i]) == 0)
			unlink(path);
	x->ndoomed = 0;
	return 0;
}

void idindex_test_quiesce(struct idindex *x)
{
	for (;;) {
		pthread_mutex_lock(&x->mu);
		while (x->fj.pending || x->fj.running || x->mj.pending || x->mj.running)
			pthread_cond_wait(&x->cv, &x->mu);
		pthread_mutex_unlock(&x->mu);
		poll_bg(x);
		pthread_mutex_lock(&x->mu);
		bool idle = !(x->fj.pending || x->fj.running || x->fj.done || x->mj.pending ||
			      x->mj.running || x->mj.done);
		pthread_mutex_unlock(&x->mu);
		if (idle)
			return;
	}
}
