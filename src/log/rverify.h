/*
 * rverify.h - verify a remote log through its C2SP tlog-tiles read API,
 * trusting nothing the server says that a signature or a hash does not
 * bind.
 *
 * What is checked (docs/VERIFY.md explains what that proves):
 *   1. "checkpoint": a signed note that verifies with one of the caller's
 *      keys; its origin line should equal that key's name.
 *   2. every hash tile of the tree of the checkpoint's size: the leaf
 *      hashes of the level-0 tiles fold to the checkpoint's root, and every
 *      hash of every higher tile equals the subtree hash recomputed from
 *      the level-0 hashes below it;
 *   3. entry bundles (all, or a random sample plus the last one): each
 *      entry's SHA-256(0x00 || entry) equals its level-0 hash;
 *   4. across runs: the checkpoint saved by the previous successful run
 *      (a state file) has a size <= the new size, and the root of the tree
 *      of that size, folded from the new level-0 hashes in the same pass,
 *      equals the saved root. Otherwise it is a rollback or a fork.
 *
 * Memory is bounded whatever the log's size: one pass, left to right,
 * keeps a stack of at most 64 subtree hashes, one cached tile per tree
 * level, and one entry bundle.
 *
 * The transport is the caller's: every resource is read through
 * opt->fetch with a path relative to the log's base URL ("checkpoint",
 * "tile/0/x001/234.p/5", "tile/entries/000"). Like the rest of the log
 * room, this code never prints: each finding goes to opt->report.
 */
#ifndef SEALTRAIL_LOG_RVERIFY_H
#define SEALTRAIL_LOG_RVERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/hash.h"
#include "log/note.h"

/* Reads one resource into out, which is empty on entry and whose max is
 * the most that resource may hold: the callback must fail rather than
 * exceed it (buf_append does that). Returns 0 on success (HTTP 200),
 * ST_ENOTFOUND when the server has no such resource (HTTP 404: a partial
 * tile is then retried as the full tile, as tlog-tiles clients do),
 * ST_ELIMIT when the response is larger than out->max, or another
 * negative code (-EACCES for 401/403, -EPROTO, -ETIMEDOUT, ...). */
typedef int (*rverify_fetch_fn)(void *arg, const char *path, struct buf *out);

/* One finding: a whole line of text without the newline. */
typedef void (*rverify_report_fn)(void *arg, const char *line);

#define RVERIFY_ALL UINT64_MAX           /* sample: check every entry bundle */
#define RVERIFY_BUNDLE_MAX (256u * (2u + 65535u))
#define RVERIFY_TILE_MAX (256u * HASH_SIZE)

/* What a finding was about; rverify_result.found is their union. */
enum {
	RV_FETCH = 1 << 0,    /* a resource could not be read, or had the wrong size */
	RV_SIG = 1 << 1,      /* the checkpoint is malformed or not signed by a given key */
	RV_ORIGIN = 1 << 2,   /* origin line differs from the key's name */
	RV_TILE = 1 << 3,     /* a higher-level tile hash differs from its subtree */
	RV_ROOT = 1 << 4,     /* the level-0 hashes do not fold to the checkpoint's root */
	RV_ENTRY = 1 << 5,    /* an entry does not hash to its level-0 hash, or a bundle is malformed */
	RV_ROLLBACK = 1 << 6, /* the served size is smaller than the saved one */
	RV_FORK = 1 << 7,     /* the served tree does not extend the saved one */
	RV_STATE = 1 << 8,    /* the state file is unreadable, of another origin, or not writable */
};

struct rverify_options {
	rverify_fetch_fn fetch;              /* required */
	void *fetch_arg;
	const struct note_key *keys;         /* verifier keys the caller trusts (>= 1) */
	size_t nkeys;
	/* The checkpoint of the last successful run is read from and saved to
	 * this file (created 0600, replaced atomically; its directory is
	 * created 0700). NULL: no cross-run consistency check. */
	const char *state_path;
	/* Entry bundles to check besides the last one: RVERIFY_ALL for every
	 * bundle, else this many, chosen uniformly at random. */
	uint64_t sample;
	uint64_t seed;                       /* 0: from the kernel CSPRNG */
	rverify_report_fn report;            /* NULL: findings only counted */
	void *report_arg;
	unsigned max_reports;                /* 0: 100; further findings are counted only */
	FILE *progress;                      /* NULL: quiet */
};

struct rverify_result {
	uint64_t size;                       /* the served checkpoint's, once it verified */
	uint8_t root[HASH_SIZE];
	uint64_t tiles;                      /* hash tiles fetched and checked */
	uint64_t entries;                    /* entries hashed */
	uint64_t bundles;                    /* entry bundles checked */
	bool sampled;                        /* some bundles were not checked */
	bool had_state;                      /* a saved checkpoint was compared */
	uint64_t old_size;                   /* ... of this size and root */
	uint8_t old_root[HASH_SIZE];
	bool saved;                          /* the state file was written */
	unsigned found;                      /* union of RV_* */
	uint64_t findings;                   /* number of findings, reported or not */
};

/* Runs every check. Returns 0 when everything verified (and the state
 * file, if any, was updated), ST_ECORRUPT when there were findings, or
 * another negative code when a resource or the state file could not be
 * read (also reported as a finding). The state file is written only
 * when everything verified. res is always filled. */
int rverify_run(const struct rverify_options *opt, struct rverify_result *res);

/* The state file name for a log URL: "verify-<16 hex>.checkpoint", the
 * hex being the first 8 bytes of SHA-256(url). Appended to out. */
int rverify_state_name(const char *url, size_t len, struct buf *out);

#endif
