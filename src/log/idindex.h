/*
 * idindex.h - the idempotency index: DIR/ids, a persistent, mmap'd
 * open-addressing hash table from an event's (tenant, id) to the seq of
 * the first entry that carried it (docs/FORMAT.md has every byte).
 *
 * It is derived from the log, rebuildable, and never trusted over it: a
 * slot holds only a 64-bit keyed fingerprint and a seq, and the caller
 * confirms every fingerprint match against the entry at that seq (the
 * confirm callback of idindex_find). A collision or a stale slot (one
 * written for a group whose write failed, or that a crash cut short) then
 * costs one extra read and never hides or drops an event.
 *
 * Persistence: slots are written into the shared mapping as events are
 * composed (the kernel writes them back whenever it likes);
 * idindex_persist() msyncs them and then records in the header `covered`:
 * every entry with seq < covered is in the table, durably. The file may
 * hold more than that (slots for seqs >= covered, current or stale); the
 * opener replays entries [covered, size) into it (idindex_add), so those
 * are never trusted without confirmation either. A rebuilt or grown table
 * is a new file that replaces DIR/ids at its first persist.
 *
 * Ownership: struct idindex owns its descriptor and mapping. Not
 * thread-safe: the log's leader is its only user (log.c, L2).
 */
#ifndef SEALTRAIL_LOG_IDINDEX_H
#define SEALTRAIL_LOG_IDINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "event/event.h"

#define IDINDEX_MAGIC "SEALIDS"          /* 7 chars + NUL = 8 bytes */
#define IDINDEX_VERSION 1
#define IDINDEX_HEADER 4096              /* the header page; slots follow */
#define IDINDEX_SLOT 16
#define IDINDEX_MIN_SLOTS 16
#define IDINDEX_INITIAL_SLOTS (1ull << 20)   /* 16 MiB file, sparse */
/* The fingerprinted key: tenant (<= 64 bytes) || 0x00 || decoded id. */
#define IDINDEX_KEY_MAX (64 + 1 + EVENT_ID_MAX)

struct idindex;

/* An event's idempotency key. id is the decoded value (event_id_decode),
 * at most EVENT_ID_MAX bytes; fp is idindex_fp() of the pair. */
struct idkey {
	const char *tenant;
	size_t tenant_len;
	const char *id;
	size_t id_len;
	uint64_t fp;
};

/* 1 when the entry at seq carries key k, 0 when it does not or there is
 * no such entry, or a negative error (which idindex_find returns). */
typedef int (*idindex_confirm_fn)(void *ctx, uint64_t seq, const struct idkey *k);

/* Where a probe ended: the empty slot a following idindex_insert() may
 * take without walking again. */
struct idprobe {
	uint64_t fp;
	uint64_t pos;
};

/* Opens an existing DIR/ids at path. ST_ENOTFOUND when there is none;
 * ST_ECORRUPT when the magic, version, CRC, slot count or file size is
 * wrong (the caller rebuilds). */
int idindex_open(struct idindex **ret, const char *path);
/* Starts a new, empty table with a fresh random key and nslots slots (a
 * power of two >= IDINDEX_MIN_SLOTS; 0: IDINDEX_INITIAL_SLOTS, or the
 * test knob below), built at path + ".new" and renamed over path by the
 * first idindex_persist(). */
int idindex_create(struct idindex **ret, const char *path, uint64_t nslots);
/* Unmaps and closes without persisting. Accepts NULL. */
void idindex_free(struct idindex *x);

uint64_t idindex_covered(const struct idindex *x);
/* Leaf hash of entry covered-1 as recorded at the last persist (zeros
 * when covered is 0): lets the opener check the table belongs to this
 * log's history. */
const uint8_t *idindex_covered_leaf(const struct idindex *x);
uint64_t idindex_count(const struct idindex *x);
uint64_t idindex_slots(const struct idindex *x);
/* Slots for n entries at a load under 0.7 (at least the initial size). */
uint64_t idindex_slots_for(uint64_t n);

/* Fills k->fp: SipHash-2-4 (crypto_shorthash) under the table's key of
 * tenant || 0x00 || id. */
void idindex_fp(const struct idindex *x, struct idkey *k);

/* Starts loading fp's home slot into the cache (a hint; no effect on
 * the table). */
void idindex_prefetch(const struct idindex *x, uint64_t fp);

/* Walks k->fp's probe sequence. For each slot with the same fingerprint,
 * asks confirm; returns 1 with *ret_seq at the first confirmed one, 0 at
 * the first empty slot (p, if not NULL, remembers it), or confirm's
 * error. */
int idindex_find(struct idindex *x, const struct idkey *k, idindex_confirm_fn confirm,
		 void *ctx, struct idprobe *p, uint64_t *ret_seq);
/* Records (fp, seq). With p from an idindex_find of the same fp and no
 * insert in between, takes the slot the probe ended at. Grows the table
 * first when it is over 0.7 full: every slot is copied into a new file of
 * twice the size, which the next idindex_persist() renames over the path
 * (no sync here). If growing fails, the insert still succeeds while the
 * table has room. 0 or -errno (-ENOSPC: full and cannot grow). */
int idindex_insert(struct idindex *x, uint64_t fp, const struct idprobe *p, uint64_t seq);
/* Find, then insert when not found: recovery's replay of entry seq.
 * Returns 1 (already present, *ret_first = its first seq) or 0 (inserted),
 * or a negative error. */
int idindex_add(struct idindex *x, const struct idkey *k, uint64_t seq,
		idindex_confirm_fn confirm, void *ctx, uint64_t *ret_first);

/* Makes every slot written so far durable (msync), then records covered
 * and its leaf in the header (msync). A table that is not the path's file
 * yet (new or grown) is then fsync'd and renamed over the path, and the
 * directory fsync'd. After a failure the header on disk is the last good
 * one (or torn, which fails its CRC: the next open rebuilds); later calls
 * then fail without writing. 0 or -errno. */
int idindex_persist(struct idindex *x, uint64_t covered, const uint8_t leaf[HASH_SIZE]);
/* True when slots were written since the last persist. */
bool idindex_dirty(const struct idindex *x);

/* Test hooks, not for production: keep only the low `bits` bits of every
 * fingerprint (0: all 64), so that tests can force collisions; and the
 * SEALTRAIL_TEST_IDS_SLOTS environment variable (a power of two >= 16)
 * sets the initial size of new tables, so that tests can cross the
 * growth threshold cheaply. Set the mask before opening a log and keep it
 * for the life of its ids file. */
void idindex_set_test_fp_bits(unsigned bits);

#endif
