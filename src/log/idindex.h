/*
 * idindex.h - the idempotency index: DIR/ids.d, from an event's
 * (tenant, id) to the seq of the first entry that carried it
 * (docs/FORMAT.md, "ids", has every byte; docs/DECISIONS.md §20 the why).
 *
 * Shape: a small LSM whose memory is fixed when it is opened, whatever the
 * number of ids in the log:
 *  - a memtable: an in-memory open-addressing table of {fingerprint, seq}
 *    for the ids inserted since its last flush (preallocated; a second
 *    one takes inserts while the first is written out);
 *  - runs: immutable files DIR/ids.d/<id>.run of {fingerprint, seq}
 *    sorted by fingerprint, written by a background thread when a
 *    memtable fills and merged in fours by another, so that neither the
 *    write nor a merge of tens of millions of ids stalls the caller;
 *  - a blocked Bloom filter over everything (fixed size, rebuilt from the
 *    runs at open): a new id, the common case, is answered by one cache
 *    line; only a filter hit probes the memtables and reads the runs
 *    (one pread of 4 KiB per run, located through an in-memory sparse
 *    index of one fingerprint per block);
 *  - DIR/ids.d/manifest: the runs, the key, and `covered`.
 *
 * It is derived from the log, rebuildable, and never trusted over it: an
 * entry holds only a 64-bit keyed fingerprint and a seq, and the caller
 * confirms every fingerprint match against the entry at that seq (the
 * confirm callback of idindex_find). A collision or a stale entry (one
 * inserted for a group whose write failed) then costs one extra read and
 * never hides or drops an event.
 *
 * Persistence: inserts reach the disk only as runs. idindex_persist()
 * records in the manifest `covered`: every entry with seq < covered is in
 * a run the manifest lists, durably. The opener replays entries
 * [covered, size) into the memtable (idindex_add). How far a persist may
 * go is idindex_persistable(): the boundary of the last memtable whose
 * run is durable; idindex_flush() writes the memtables out and waits
 * (close).
 *
 * Ownership: struct idindex owns its descriptors, memory and two threads.
 * Not thread-safe: the log's leader is its only user (log.c, L2); the
 * threads work only on what is handed to them (idindex.c, I6).
 */
#ifndef SEALTRAIL_LOG_IDINDEX_H
#define SEALTRAIL_LOG_IDINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "event/event.h"

#define IDINDEX_MANIFEST_MAGIC "SEALIDM"  /* 7 chars + NUL = 8 bytes */
#define IDINDEX_RUN_MAGIC "SEALIDR"       /* 7 chars + NUL = 8 bytes */
#define IDINDEX_VERSION 1
#define IDINDEX_RUN_HEADER 4096          /* a run's header page; entries follow */
#define IDINDEX_ENTRY 16
#define IDINDEX_BLOCK 4096               /* the sparse index: one fp per block */
#define IDINDEX_MERGE_FANIN 4
#define IDINDEX_MAX_RUNS 1024            /* a manifest listing more is corrupt */
#define IDINDEX_MIN_SLOTS 16
/* Defaults (docs/CONFIG.md, ids_memtable_slots and ids_filter_mb): a
 * memtable of 2^20 slots (16 MiB, two of them) flushes at 0.7 load, every
 * 734,003 ids; the filter is 32 MiB, about 1% false positives up to 27M
 * ids (10 bits an id). */
#define IDINDEX_DEFAULT_SLOTS (UINT64_C(1) << 20)
#define IDINDEX_MAX_SLOTS (UINT64_C(1) << 28)
#define IDINDEX_DEFAULT_FILTER (UINT64_C(32) << 20)
#define IDINDEX_MIN_FILTER UINT64_C(4096)
#define IDINDEX_MAX_FILTER (UINT64_C(16) << 30)
/* The fingerprinted key: tenant (<= 64 bytes) || 0x00 || decoded id. */
#define IDINDEX_KEY_MAX (64 + 1 + EVENT_ID_MAX)

struct idindex;

/* The memory an index takes, fixed at open. */
struct idindex_config {
	uint64_t memtable_slots;     /* a power of two in [IDINDEX_MIN_SLOTS,
				      * IDINDEX_MAX_SLOTS]; 16 bytes each, two tables */
	uint64_t filter_bytes;       /* a multiple of 64 in [IDINDEX_MIN_FILTER,
				      * IDINDEX_MAX_FILTER] */
};

/* The defaults above, with memtable_slots from the test knob
 * SEALTRAIL_TEST_IDS_SLOTS (a power of two >= 16) when it is set, so
 * that tests cross flushes and merges cheaply. */
void idindex_config_default(struct idindex_config *c);
/* True when c is within the ranges above. */
bool idindex_config_valid(const struct idindex_config *c);

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

/* Where a find ended in the memtable: the empty slot a following
 * idindex_insert() may take without walking again. */
struct idprobe {
	uint64_t fp;
	uint64_t pos;                /* UINT64_MAX: none */
	uint64_t gen;                /* the memtable it belongs to */
};

/* Opens the index in directory dir (DIR/ids.d): reads the manifest,
 * deletes files it does not list (what a crash between a write and a
 * persist leaves), checks every run (header, size, order, CRC) while
 * building the filter and sparse indexes from it, and starts the
 * threads. ST_ENOTFOUND when there is no manifest; ST_ECORRUPT when the
 * manifest or a run fails a check (the caller rebuilds with
 * idindex_create). c: NULL for the defaults. */
int idindex_open(struct idindex **ret, const char *dir, const struct idindex_config *c);
/* Starts a new, empty index with a fresh random key in dir (created if
 * needed): the manifest and every run there are deleted first. Nothing is
 * durable until the first idindex_persist(). */
int idindex_create(struct idindex **ret, const char *dir, const struct idindex_config *c);
/* Stops the threads (a merge in flight is abandoned, its output deleted)
 * and frees everything, without persisting. Accepts NULL. */
void idindex_free(struct idindex *x);

uint64_t idindex_covered(const struct idindex *x);
/* Leaf hash of entry covered-1 as recorded at the last persist (zeros
 * when covered is 0): lets the opener check the index belongs to this
 * log's history. */
const uint8_t *idindex_covered_leaf(const struct idindex *x);
/* Entries in the memtables and the runs (stale ones included). */
uint64_t idindex_count(const struct idindex *x);
/* Runs in use (a merge's output counts once it is installed). */
size_t idindex_runs(const struct idindex *x);

/* Fills k->fp: SipHash-2-4 (crypto_shorthash) under the index's key of
 * tenant || 0x00 || id. */
void idindex_fp(const struct idindex *x, struct idkey *k);

/* Starts loading fp's filter block and memtable home slot into the cache
 * (a hint; no effect on the index). */
void idindex_prefetch(const struct idindex *x, uint64_t fp);

/* Looks k->fp up: the filter, then (on a hit) the memtables and every run.
 * For each entry with the same fingerprint, asks confirm; returns 1 with
 * *ret_seq at the first confirmed one, 0 when none is (p, if not NULL,
 * remembers where the memtable probe ended), or a negative error
 * (confirm's, or a failed read of a run). */
int idindex_find(struct idindex *x, const struct idkey *k, idindex_confirm_fn confirm,
		 void *ctx, struct idprobe *p, uint64_t *ret_seq);
/* Records (fp, seq); seqs must be inserted in increasing order. With p
 * from an idindex_find of the same fp and no insert in between, takes the
 * slot the probe ended at. When the memtable is full it is handed to the
 * flush thread and a second one takes over (seq is then the boundary:
 * every insert before it is in the flushed table); when that one fills
 * too before the flush is done, waits for it. 0 or a negative error (the
 * memtable is full and its predecessor could not be written: the event
 * must be refused, never left unindexed). */
int idindex_insert(struct idindex *x, uint64_t fp, const struct idprobe *p, uint64_t seq);
/* Find, then insert when not found: recovery's replay of entry seq.
 * Returns 1 (already present, *ret_first = its first seq) or 0 (inserted),
 * or a negative error. */
int idindex_add(struct idindex *x, const struct idkey *k, uint64_t seq,
		idindex_confirm_fn confirm, void *ctx, uint64_t *ret_first);

/* The largest covered a persist may record now: every entry inserted
 * below it is in a durable run. Installs what the threads have finished. */
uint64_t idindex_persistable(struct idindex *x);
/* True when a persist would record something new (a larger covered, or a
 * changed set of runs whose old files wait for it to be deleted). */
bool idindex_dirty(struct idindex *x);
/* Writes the memtables out as runs and waits for them: afterwards
 * idindex_persistable() is upto. The caller guarantees that every entry
 * below upto that carries a key has been inserted. 0 or a negative
 * error. */
int idindex_flush(struct idindex *x, uint64_t upto);
/* Writes the manifest (tmp file, fsync, rename, directory fsync): the
 * runs in use, covered (<= idindex_persistable()) and its leaf; then
 * deletes the runs that merges replaced. After a failure the manifest on
 * disk is the last good one, and later calls fail without writing (-EIO).
 * 0 or a negative error. */
int idindex_persist(struct idindex *x, uint64_t covered, const uint8_t leaf[HASH_SIZE]);

/* Test hooks, not for production: keep only the low `bits` bits of every
 * fingerprint (0: all 64), so that tests can force collisions. Set it
 * before opening a log and keep it for the life of its index. */
void idindex_set_test_fp_bits(unsigned bits);
/* Waits until no flush or merge is pending or running, and installs the
 * results (tests use it to make the set of runs deterministic). */
void idindex_test_quiesce(struct idindex *x);

#endif
