/*
 * tree.h - the log's Merkle tree (RFC 6962 / RFC 9162, SHA-256), stored
 * level by level, with inclusion and consistency proofs and C2SP
 * tlog-tiles reads.
 *
 * Storage: DIR holds one file per tree level, "level-00" .. "level-63".
 * File level-L is the array of the hashes of every complete subtree of
 * height L, left to right, 32 bytes each: level-00 holds the leaf hashes,
 * level-01 hash(0x01||l||r) of leaf pairs, and so on. For a tree of n
 * leaves, level-L holds exactly floor(n / 2^L) hashes. A tlog-tiles hash
 * tile L/N is bytes [N*256*32, (N+1)*256*32) of level-(8L): tiles are
 * stored as the concatenation of the tiles of their level, byte for byte
 * what the tlog-tiles HTTP paths serve, and a partial tile .p/W is the
 * first W hashes of that slice. Storing every level (2n hashes in all)
 * makes every node of every proof one pread: see docs/DECISIONS.md.
 *
 * The level files are derived data: written after the entries are
 * durable, fsync'd by tree_sync() before a checkpoint is signed, and
 * rebuilt from the entries by recovery.
 *
 * Concurrency: one appender; readers may run concurrently with it and see
 * any size up to tree_size() read with acquire semantics.
 */
#ifndef SEALTRAIL_LOG_TREE_H
#define SEALTRAIL_LOG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"

#define TREE_MAX_LEVELS 64
#define TILE_HEIGHT 8
#define TILE_WIDTH 256
/* Most hashes in any proof of a tree of < 2^64 leaves. */
#define PROOF_MAX_HASHES 128

struct tree;

/* Opens (creating DIR and its files if needed) a tree. The size is the
 * number of complete leaf hashes in level-00; higher levels are checked to
 * hold exactly floor(size/2^L) hashes, and any hashes a torn write left
 * past that are truncated away; if a level is missing hashes, the tree is
 * truncated to the largest size all levels support. Returns 0 or -errno. */
int tree_open(struct tree **ret, const char *dir);
/* Opens an existing tree without changing anything: no file is created or
 * truncated, the size is the largest every level supports, and append,
 * sync and truncate fail. For verify, which must never write. */
int tree_open_rdonly(struct tree **ret, const char *dir);
/* Closes; accepts NULL. Does not sync. */
void tree_free(struct tree *t);

uint64_t tree_size(const struct tree *t);

/* Appends n leaf hashes, computing and writing every new parent.
 * One pwrite per level per call. -errno on I/O failure, after which the
 * tree must be reopened (the caller treats it as sticky). */
int tree_append(struct tree *t, const uint8_t (*leaves)[HASH_SIZE], size_t n);
/* fdatasync of every level file that changed since the last sync. */
int tree_sync(struct tree *t);
/* Shrinks the tree to size leaves (size <= tree_size). */
int tree_truncate(struct tree *t, uint64_t size);

/* Hash of the complete subtree at (level, index): leaves
 * [index*2^level, (index+1)*2^level), which must be within tree_size. */
int tree_node(struct tree *t, unsigned level, uint64_t index, uint8_t out[HASH_SIZE]);
/* Root of the tree of the first size leaves (size <= tree_size);
 * the root of size 0 is SHA-256(""). */
int tree_root(struct tree *t, uint64_t size, uint8_t out[HASH_SIZE]);

/* RFC 9162 section 2.1.3.1 inclusion proof of leaf index in the tree of
 * size leaves; writes *ret_n hashes (<= PROOF_MAX_HASHES). ST_ERANGE when
 * index >= size or size > tree_size. */
int tree_inclusion_proof(struct tree *t, uint64_t index, uint64_t size,
			 uint8_t out[][HASH_SIZE], size_t *ret_n);
/* RFC 9162 section 2.1.4.1 consistency proof from size m to size n
 * (0 < m <= n <= tree_size; m == n gives an empty proof). */
int tree_consistency_proof(struct tree *t, uint64_t m, uint64_t n,
			   uint8_t out[][HASH_SIZE], size_t *ret_n);

/* Appends to out the bytes of hash tile (level, index), width hashes wide
 * (1..256; 256 is the full tile). ST_ERANGE if the tree does not hold
 * them. */
int tree_read_tile(struct tree *t, unsigned level, uint64_t index,
		   unsigned width, struct buf *out);

/* Pure verifiers, RFC 9162 sections 2.1.3.2 and 2.1.4.2; used by tests,
 * `verify` and any client. */
bool merkle_verify_inclusion(const uint8_t leaf[HASH_SIZE], uint64_t index,
			     uint64_t size, const uint8_t proof[][HASH_SIZE],
			     size_t n, const uint8_t root[HASH_SIZE]);
bool merkle_verify_consistency(uint64_t m, uint64_t n,
			       const uint8_t root_m[HASH_SIZE],
			       const uint8_t root_n[HASH_SIZE],
			       const uint8_t proof[][HASH_SIZE], size_t count);

/* tlog-tiles paths. A parsed path: level -1 means an entry bundle
 * ("tile/entries/..."), otherwise a hash tile level 0..63; width 256
 * means a full tile, else a partial ".p/W" with W in 1..255. */
struct tile_ref {
	int level;
	uint64_t index;
	unsigned width;
};
/* Parses "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]" where N is
 * the x-prefixed 3-digit path encoding (e.g. x001/x234/067). Strict:
 * refuses non-canonical encodings. */
bool tile_path_parse(const char *path, size_t len, struct tile_ref *ret);
/* Formats the canonical path; returns its length (< cap) or -1. */
int tile_path_format(const struct tile_ref *t, char *out, size_t cap);

#endif
