/*
 * idindex.c - DIR/ids: a memory-mapped open-addressing table (linear
 * probing) of 16-byte slots {u64 fingerprint, u64 seq+1}, behind a
 * one-page header (docs/FORMAT.md, "DIR/ids").
 *
 * Invariants:
 *  I1. Slots are only ever filled, never emptied or moved, in a file that
 *      is in use: so a probe chain, once it reaches a key, always does,
 *      and a slot the kernel wrote back early (or a crash cut short) can
 *      only add candidates, never hide one. Growing builds a new file.
 *  I2. At least one slot is always empty, so every probe ends.
 *  I3. The header's `covered` is written only after every slot written
 *      before it is msync'd: all entries with seq < covered are durably
 *      in the table. A new file (a rebuild or a growth) is written as
 *      DIR/ids.new or DIR/ids.grow and renamed over DIR/ids only by a
 *      persist, once it is complete and fsync'd; until then DIR/ids on
 *      disk is the last persisted table, valid for its own covered.
 *  I4. Nothing here decides that two events are the same: a fingerprint
 *      match is only a candidate, confirmed by the caller against the
 *      entry itself (idindex_confirm_fn).
 *  I5. `count` is the number of filled slots this process knows of; after
 *      a crash, slots that reached the file after the last persist and
 *      belong to no entry (stale) are not counted until the next growth,
 *      which recounts. They are harmless (I4) and bounded by what one
 *      crash can leave: the events of the groups in flight.
 */
#include "log/idindex.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Header layout (docs/FORMAT.md). */
#define H_MAGIC 0
#define H_VERSION 8
#define H_FLAGS 12
#define H_KEY 16
#define H_NSLOTS 32
#define H_COUNT 40
#define H_COVERED 48
#define H_LEAF 56
#define H_CRC 88
#define H_USED 92

#define KEY_BYTES crypto_shorthash_KEYBYTES   /* 16 */

struct slot {
	uint64_t fp;    /* little endian on disk */
	uint64_t seq1;  /* seq + 1; 0: empty */
};

struct idindex {
	char path[PATH_MAX];         /* DIR/ids */
	int fd;
	uint8_t *map;                /* header page + slots, MAP_SHARED */
	size_t maplen;
	struct slot *slots;
	uint64_t nslots, mask, count;
	uint64_t covered;
	uint8_t leaf[HASH_SIZE];
	uint8_t key[KEY_BYTES];
	uint64_t fp_mask;
	uint64_t grow_retry_at;      /* after a failed growth, try again at this count */
	const char *tmp;             /* NULL: the file is DIR/ids; else it is DIR/ids
				      * + tmp (".new" for a rebuild, ".grow" or ".new"
				      * after a growth) until the next persist */
	bool dirty;                  /* slots written since the last persist */
	bool broken;                 /* a persist failed: never write the header again */
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

static uint64_t initial_slots(void)
{
	const char *s = getenv("SEALTRAIL_TEST_IDS_SLOTS");
	uint64_t v;

	if (s && st_parse_u64(s, strlen(s), &v) && v >= IDINDEX_MIN_SLOTS &&
	    v <= IDINDEX_INITIAL_SLOTS && (v & (v - 1)) == 0)
		return v;
	return IDINDEX_INITIAL_SLOTS;
}

uint64_t idindex_slots_for(uint64_t n)
{
	uint64_t s = initial_slots();
	while (s < (UINT64_C(1) << 62) && (n + 1) * 10 > s * 7)
		s *= 2;
	return s;
}

static int path_with(char *out, const char *path, const char *suffix)
{
	int n = snprintf(out, PATH_MAX, "%s%s", path, suffix);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void header_encode(struct idindex *x)
{
	uint8_t *h = x->map;
	memcpy(h + H_MAGIC, IDINDEX_MAGIC, 8);
	put_le32(h + H_VERSION, IDINDEX_VERSION);
	put_le32(h + H_FLAGS, 0);
	memcpy(h + H_KEY, x->key, KEY_BYTES);
	put_le64(h + H_NSLOTS, x->nslots);
	put_le64(h + H_COUNT, x->count);
	put_le64(h + H_COVERED, x->covered);
	memcpy(h + H_LEAF, x->leaf, HASH_SIZE);
	put_le32(h + H_CRC, crc32c(0, h, H_CRC));
}

static void table_free(struct idindex *x, bool unlink_tmp)
{
	if (!x)
		return;
	if (x->map)
		munmap(x->map, x->maplen);
	if (x->fd >= 0)
		close(x->fd);
	if (unlink_tmp && x->tmp) {
		char tmp[PATH_MAX];
		if (path_with(tmp, x->path, x->tmp) == 0)
			unlink(tmp);
	}
	free(x);
}

void idindex_free(struct idindex *x)
{
	table_free(x, true);
}

static int map_table(struct idindex *x)
{
	void *m = mmap(NULL, x->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	x->map = m;
	x->slots = (struct slot *)(void *)(x->map + IDINDEX_HEADER);
	x->mask = x->nslots - 1;
	/* Probes land anywhere: read-ahead around a fault is wasted I/O.
	 * (MADV_HUGEPAGE, which ext4 on Linux 6.18 honours for this shared
	 * mapping, cut the TLB misses but cost more in kernel time than it
	 * saved: an append of 1M events took 0.3-0.5 s more.) */
	madvise(x->map + IDINDEX_HEADER, x->maplen - IDINDEX_HEADER, MADV_RANDOM);
	return 0;
}

/* A new, zeroed table file at file (created or replaced) with nslots
 * slots and key. Blocks are reserved up front: a store into a hole of a
 * shared mapping on a full disk is a SIGBUS, not an error. */
static int table_new(struct idindex **ret, const char *path, const char *file,
		     uint64_t nslots, const uint8_t key[KEY_BYTES])
{
	struct idindex *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	x->fd = -1;
	if (strlen(path) >= sizeof(x->path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	strcpy(x->path, path);
	x->nslots = nslots;
	x->maplen = IDINDEX_HEADER + (size_t)nslots * IDINDEX_SLOT;
	x->fp_mask = fp_mask_now();
	memcpy(x->key, key, KEY_BYTES);
	x->fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (x->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (ftruncate(x->fd, (off_t)x->maplen) < 0) {
		r = -errno;
		goto fail;
	}
	r = posix_fallocate(x->fd, 0, (off_t)x->maplen);
	if (r != 0 && r != EOPNOTSUPP && r != EINVAL) {
		r = -r;
		goto fail;
	}
	if ((r = map_table(x)) < 0)
		goto fail;
	header_encode(x);
	*ret = x;
	return 0;
fail:
	if (x->fd >= 0)
		unlink(file);
	table_free(x, false);
	return r;
}

int idindex_create(struct idindex **ret, const char *path, uint64_t nslots)
{
	char tmp[PATH_MAX];
	uint8_t key[KEY_BYTES];
	struct idindex *x = NULL;
	int r;

	if (nslots == 0)
		nslots = initial_slots();
	if (nslots < IDINDEX_MIN_SLOTS || (nslots & (nslots - 1)) || nslots > (UINT64_C(1) << 40))
		return ST_EINVAL;
	if ((r = path_with(tmp, path, ".new")) < 0 || (r = random_bytes(key, sizeof(key))) < 0)
		return r;
	r = table_new(&x, path, tmp, nslots, key);
	st_wipe(key, sizeof(key));
	if (r < 0)
		return r;
	x->tmp = ".new";
	x->dirty = true;
	*ret = x;
	return 0;
}

int idindex_open(struct idindex **ret, const char *path)
{
	char tmp[PATH_MAX];
	uint8_t h[H_USED];
	struct stat st;
	struct idindex *x;
	int r;

	/* Leftovers of a rebuild or growth that a crash interrupted. */
	if (path_with(tmp, path, ".new") == 0)
		unlink(tmp);
	if (path_with(tmp, path, ".grow") == 0)
		unlink(tmp);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	if (strlen(path) >= sizeof(x->path)) {
		free(x);
		return -ENAMETOOLONG;
	}
	strcpy(x->path, path);
	x->fp_mask = fp_mask_now();
	x->fd = open(path, O_RDWR | O_CLOEXEC);
	if (x->fd < 0) {
		r = errno == ENOENT ? ST_ENOTFOUND : -errno;
		goto fail;
	}
	if (fstat(x->fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = ST_ECORRUPT;
	if (st.st_size < IDINDEX_HEADER || pread_all(x->fd, h, sizeof(h), 0) < 0)
		goto fail;
	if (memcmp(h + H_MAGIC, IDINDEX_MAGIC, 8) || get_le32(h + H_VERSION) != IDINDEX_VERSION ||
	    get_le32(h + H_FLAGS) != 0 || crc32c(0, h, H_CRC) != get_le32(h + H_CRC))
		goto fail;
	x->nslots = get_le64(h + H_NSLOTS);
	x->count = get_le64(h + H_COUNT);
	x->covered = get_le64(h + H_COVERED);
	if (x->nslots < IDINDEX_MIN_SLOTS || (x->nslots & (x->nslots - 1)) ||
	    x->nslots > (UINT64_C(1) << 40) || x->count >= x->nslots ||
	    (uint64_t)st.st_size != IDINDEX_HEADER + x->nslots * IDINDEX_SLOT)
		goto fail;
	memcpy(x->key, h + H_KEY, KEY_BYTES);
	memcpy(x->leaf, h + H_LEAF, HASH_SIZE);
	x->maplen = (size_t)st.st_size;
	if ((r = map_table(x)) < 0)
		goto fail;
	st_wipe(h, sizeof(h));
	*ret = x;
	return 0;
fail:
	st_wipe(h, sizeof(h));
	table_free(x, false);
	return r;
}

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
	return x->count;
}

uint64_t idindex_slots(const struct idindex *x)
{
	return x->nslots;
}

bool idindex_dirty(const struct idindex *x)
{
	return x->dirty;
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
	__builtin_prefetch(&x->slots[fp & x->mask], 1, 3);
}

int idindex_find(struct idindex *x, const struct idkey *k, idindex_confirm_fn confirm,
		 void *ctx, struct idprobe *p, uint64_t *ret_seq)
{
	const uint64_t fp = htole64(k->fp);
	uint64_t i = k->fp & x->mask;

	for (uint64_t n = 0; n < x->nslots; n++, i = (i + 1) & x->mask) {
		const struct slot *s = &x->slots[i];
		uint64_t seq1 = s->seq1;
		if (!seq1) {
			if (p) {
				p->fp = k->fp;
				p->pos = i;
			}
			return 0;
		}
		if (s->fp == fp) {
			uint64_t seq = le64toh(seq1) - 1;
			int r = confirm(ctx, seq, k);
			if (r < 0)
				return r;
			if (r) {
				*ret_seq = seq;
				return 1;
			}
		}
	}
	if (p) {
		p->fp = k->fp;
		p->pos = UINT64_MAX;
	}
	return 0;
}

/* Stores (fp, seq1) in the first empty slot of fp's chain. False when
 * there is none: uncounted stale slots (I5) filled the table. */
static bool put_slot(struct idindex *x, uint64_t fp, uint64_t seq1_le)
{
	uint64_t i = fp & x->mask;
	for (uint64_t n = 0; n < x->nslots; n++, i = (i + 1) & x->mask) {
		if (!x->slots[i].seq1) {
			x->slots[i].fp = htole64(fp);
			x->slots[i].seq1 = seq1_le;
			return true;
		}
	}
	return false;
}

/* msyncs the slots, writes the header, msyncs it, and for a file that is
 * not DIR/ids yet fsyncs it and renames it over DIR/ids (I3). */
static int publish(struct idindex *x)
{
	char tmp[PATH_MAX];
	int r;

	if (msync(x->map + IDINDEX_HEADER, x->maplen - IDINDEX_HEADER, MS_SYNC) < 0)
		return -errno;
	header_encode(x);
	if (msync(x->map, IDINDEX_HEADER, MS_SYNC) < 0)
		return -errno;
	if (!x->tmp)
		return 0;
	if ((r = path_with(tmp, x->path, x->tmp)) < 0)
		return r;
	if (fsync(x->fd) < 0 || rename(tmp, x->path) < 0)
		return -errno;
	x->tmp = NULL;
	return fsync_parent(x->path);
}

/* Doubles the table into a new file and maps it in its place. The new
 * file becomes DIR/ids at the next persist; until then DIR/ids on disk is
 * the last persisted table, still valid for its `covered` (a crash in
 * between deletes the new file at open and replays from there). Slots
 * are copied as they are (stale ones too: only an entry can tell them
 * apart, I4); the count becomes exact (I5). No sync here: growth costs
 * the append path a rehash, not a write of the whole table. */
static int grow(struct idindex *x)
{
	char file[PATH_MAX], old[PATH_MAX];
	const char *suffix = x->tmp && !strcmp(x->tmp, ".grow") ? ".new" : ".grow";
	struct idindex *n = NULL;
	uint64_t copied = 0;
	int r;

	if (x->nslots >= (UINT64_C(1) << 40))
		return -EFBIG;
	if ((r = path_with(file, x->path, suffix)) < 0 ||
	    (x->tmp && (r = path_with(old, x->path, x->tmp)) < 0))
		return r;
	if ((r = table_new(&n, x->path, file, x->nslots * 2, x->key)) < 0)
		return r;
#ifdef MADV_POPULATE_WRITE
	/* The copy writes into every page of the new table: map them all
	 * writable in one call rather than taking a fault per page. Only a
	 * speed-up (a third fewer page faults in a 1M-event append); older
	 * kernels refuse it. Not for new empty tables: a process that only
	 * reads would leave every page dirty for nothing. */
	(void)madvise(n->map, n->maplen, MADV_POPULATE_WRITE);
#endif
	for (uint64_t i = 0; i < x->nslots; i++) {
		const struct slot *s = &x->slots[i];
		if (s->seq1) {
			(void)put_slot(n, le64toh(s->fp), s->seq1); /* twice the room */
			copied++;
		}
	}
	munmap(x->map, x->maplen);
	close(x->fd);
	if (x->tmp)
		unlink(old);           /* a table never published: superseded */
	x->fd = n->fd;
	x->map = n->map;
	x->maplen = n->maplen;
	x->slots = n->slots;
	x->nslots = n->nslots;
	x->mask = n->mask;
	x->count = copied;
	x->tmp = suffix;
	x->dirty = true;
	free(n);
	return 0;
}

int idindex_insert(struct idindex *x, uint64_t fp, const struct idprobe *p, uint64_t seq)
{
	uint64_t seq1 = htole64(seq + 1);

	if ((x->count + 1) * 10 > x->nslots * 7 && x->count >= x->grow_retry_at) {
		if (grow(x) == 0) {
			p = NULL;              /* its slot was in the old table */
		} else {
			/* Carry on in this table while it has room (I2); try
			 * again after another 1/32 of it has filled. */
			x->grow_retry_at = x->count + x->nslots / 32;
		}
	}
	if (x->count + 2 > x->nslots)
		return -ENOSPC;
	if (p && p->fp == fp && p->pos < x->nslots && !x->slots[p->pos].seq1) {
		x->slots[p->pos].fp = htole64(fp);
		x->slots[p->pos].seq1 = seq1;
	} else if (!put_slot(x, fp, seq1) && (grow(x) < 0 || !put_slot(x, fp, seq1))) {
		return -ENOSPC;
	}
	x->count++;
	x->dirty = true;
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
		/* This very entry's slot reached the file after the last
		 * persist: count it now (I5). */
		if (first == seq && seq >= x->covered)
			x->count++;
		*ret_first = first;
		return 1;
	}
	return idindex_insert(x, k->fp, &p, seq);
}

int idindex_persist(struct idindex *x, uint64_t covered, const uint8_t leaf[HASH_SIZE])
{
	int r;

	if (x->broken)
		return -EIO;
	x->covered = covered;
	memcpy(x->leaf, leaf, HASH_SIZE);
	r = publish(x);
	/* Whatever failed, the header of DIR/ids on disk is the last good one
	 * or torn (its CRC then fails and the next open rebuilds), and the
	 * slots it covers were durable before it was written. Write nothing
	 * more. */
	if (r < 0)
		x->broken = true;
	else
		x->dirty = false;
	return r;
}
