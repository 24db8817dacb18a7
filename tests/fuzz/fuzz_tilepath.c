/*
 * fuzz_tilepath.c - tlog-tiles paths and the Merkle proof verifiers of
 * src/log/tree.c over arbitrary bytes.
 *
 * Every input is used four ways; each must hold or the target aborts:
 *  1. as a path: if tile_path_parse() accepts it, tile_path_format() gives
 *     back the very same bytes (one encoding per tile) and a parse of
 *     that gives the same ref; a refused parse leaves *ret untouched;
 *  2. as a struct tile_ref: if tile_path_format() accepts it, the path
 *     parses back to the same ref;
 *  3. as verifier arguments (leaf, root, index, sizes, proof hashes, all
 *     from the input): merkle_verify_inclusion/consistency must return
 *     without reading past the proof (the proof is copied into a buffer of
 *     exactly its size so ASan sees any over-read);
 *  4. against a real 300-leaf tree built once: a proof tree.c generates for
 *     input-chosen (index, size) or (m, n) must verify, and the same proof
 *     with one input-chosen bit flipped must not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/util.h"
#include "log/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TREE_LEAVES 300

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct reader *r, size_t bytes)
{
	uint64_t v = 0;
	for (size_t i = 0; i < bytes; i++) {
		v = v << 8 | (r->n ? *r->p : 0);
		if (r->n) {
			r->p++;
			r->n--;
		}
	}
	return v;
}

static void take_hash(struct reader *r, uint8_t out[HASH_SIZE])
{
	for (size_t i = 0; i < HASH_SIZE; i++)
		out[i] = (uint8_t)take(r, 1);
}

/* A size from 8 input bytes: mostly small, sometimes anything. */
static uint64_t take_size(struct reader *r, uint8_t mode)
{
	uint64_t v = take(r, 8);
	switch (mode & 3) {
	case 0: return v % 64;
	case 1: return v % 100000;
	case 2: return UINT64_MAX - v % 64;
	default: return v;
	}
}

static void path_round_trip(const uint8_t *data, size_t size)
{
	struct tile_ref a, b, keep;
	char out[128];
	int n;

	memset(&a, 0xa5, sizeof(a));
	keep = a;
	if (!tile_path_parse((const char *)data, size, &a)) {
		if (memcmp(&a, &keep, sizeof(a)) != 0)
			abort();
		return;
	}
	if (a.level < -1 || a.level > 63 || a.width < 1 || a.width > 256)
		abort();
	n = tile_path_format(&a, out, sizeof(out));
	if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
		abort();
	if (!tile_path_parse(out, (size_t)n, &b) || b.level != a.level ||
	    b.index != a.index || b.width != a.width)
		abort();
}

static void ref_round_trip(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct tile_ref a, b;
	char out[128];
	int n;

	a.level = (int)(int8_t)take(&r, 1);
	a.width = (unsigned)take(&r, 2);
	a.index = take(&r, 8);
	if (a.index & 1)
		a.index >>= (a.index >> 1) & 63;
	n = tile_path_format(&a, out, (size_t)(take(&r, 1) % 130));
	if (n < 0)
		return;
	if (strlen(out) != (size_t)n || !tile_path_parse(out, (size_t)n, &b) ||
	    b.level != a.level || b.index != a.index || b.width != a.width)
		abort();
}

static void verify_arbitrary(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	uint8_t mode = (uint8_t)take(&r, 1);
	uint8_t leaf[HASH_SIZE], root[HASH_SIZE];
	uint64_t a = take_size(&r, mode), b = take_size(&r, (uint8_t)(mode >> 2));
	size_t count;
	uint8_t (*proof)[HASH_SIZE];

	take_hash(&r, leaf);
	take_hash(&r, root);
	count = r.n / HASH_SIZE;
	proof = malloc(count ? count * HASH_SIZE : 1);
	if (!proof)
		abort();
	memcpy(proof, r.p, count * HASH_SIZE);
	(void)merkle_verify_inclusion(leaf, a, b, (const uint8_t (*)[HASH_SIZE])proof,
				      count, root);
	(void)merkle_verify_consistency(a, b, leaf, root,
					(const uint8_t (*)[HASH_SIZE])proof, count);
	free(proof);
}

static struct tree *tree;
static char tree_dir[64];
static uint8_t leaves[TREE_LEAVES][HASH_SIZE];

static void remove_tree(void)
{
	char p[128];
	tree_free(tree);
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		snprintf(p, sizeof(p), "%s/level-%02u", tree_dir, l);
		unlink(p);
	}
	rmdir(tree_dir);
}

static void build_tree(void)
{
	snprintf(tree_dir, sizeof(tree_dir), "/tmp/fuzz-tilepath-XXXXXX");
	if (!mkdtemp(tree_dir) || tree_open(&tree, tree_dir) != 0)
		abort();
	atexit(remove_tree);
	for (uint32_t i = 0; i < TREE_LEAVES; i++)
		hash_leaf(&i, sizeof(i), leaves[i]);
	for (size_t done = 0; done < TREE_LEAVES; done += 37)
		if (tree_append(tree, (const uint8_t (*)[HASH_SIZE])leaves + done,
				TREE_LEAVES - done < 37 ? TREE_LEAVES - done : 37) != 0)
			abort();
}

static void verify_real(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	uint8_t proof[PROOF_MAX_HASHES][HASH_SIZE], ra[HASH_SIZE], rb[HASH_SIZE];
	uint64_t a = take(&r, 2), b = take(&r, 2);
	unsigned flip = (unsigned)take(&r, 2);
	size_t n = 0;

	if (!tree)
		build_tree();
	b = 1 + b % TREE_LEAVES;
	if (tree_root(tree, b, rb) != 0)
		abort();
	/* Inclusion of leaf a % b in the tree of size b. */
	a %= b;
	if (tree_inclusion_proof(tree, a, b, proof, &n) != 0 || n > 9)
		abort();
	if (!merkle_verify_inclusion(leaves[a], a, b, (const uint8_t (*)[HASH_SIZE])proof, n, rb))
		abort();
	if (n) {
		proof[(flip / 256) % n][(flip % 256) / 8] ^= (uint8_t)(1u << (flip % 8));
		if (merkle_verify_inclusion(leaves[a], a, b, (const uint8_t (*)[HASH_SIZE])proof, n, rb))
			abort();
	}
	/* Consistency of size a + 1 with size b. */
	a += 1;
	if (tree_root(tree, a, ra) != 0 || tree_consistency_proof(tree, a, b, proof, &n) != 0)
		abort();
	if (!merkle_verify_consistency(a, b, ra, rb, (const uint8_t (*)[HASH_SIZE])proof, n))
		abort();
	if (n) {
		proof[(flip / 256) % n][(flip % 256) / 8] ^= (uint8_t)(1u << (flip % 8));
		if (merkle_verify_consistency(a, b, ra, rb, (const uint8_t (*)[HASH_SIZE])proof, n))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	path_round_trip(data, size);
	ref_round_trip(data, size);
	verify_arbitrary(data, size);
	verify_real(data, size);
	return 0;
}
