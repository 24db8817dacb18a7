/*
 * tree_ref.h - the test oracle for tree.c: RFC 6962 section 2.1 written
 * down as its recursive definitions (MTH, PATH, PROOF/SUBPROOF) over an
 * in-memory array of leaf hashes, plus recursive verifiers derived from
 * the same definitions (not from RFC 9162's bit-twiddling), and scratch
 * directory helpers. Deliberately slow and obvious: O(n) per call.
 */
#ifndef SEALTRAIL_TEST_TREE_REF_H
#define SEALTRAIL_TEST_TREE_REF_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"

typedef uint8_t hash_t[HASH_SIZE];

/* Largest power of two strictly less than n (n >= 2). */
static inline uint64_t ref_k(uint64_t n)
{
	uint64_t k = 1;
	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[n]) over leaf hashes d[0..n). */
static inline void ref_mth(const hash_t *d, uint64_t n, uint8_t out[HASH_SIZE])
{
	if (n == 0) {
		hash_empty(out);
		return;
	}
	if (n == 1) {
		memcpy(out, d[0], HASH_SIZE);
		return;
	}
	uint64_t k = ref_k(n);
	uint8_t l[HASH_SIZE], r[HASH_SIZE];
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	hash_node(l, r, out);
}

/* PATH(m, D[n]); appends to out[*len]. */
static inline void ref_path(uint64_t m, const hash_t *d, uint64_t n,
			    hash_t *out, size_t *len)
{
	if (n <= 1)
		return;
	uint64_t k = ref_k(n);
	if (m < k) {
		ref_path(m, d, k, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_path(m - k, d + k, n - k, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* SUBPROOF(m, D[n], b); appends to out[*len]. */
static inline void ref_subproof(uint64_t m, const hash_t *d, uint64_t n, bool b,
				hash_t *out, size_t *len)
{
	if (m == n) {
		if (!b)
			ref_mth(d, m, out[(*len)++]);
		return;
	}
	uint64_t k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(m - k, d + k, n - k, false, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* Root implied by a PATH-shaped proof p[0..len) for leaf m of n, or
 * false if the proof has the wrong length for that shape. */
static inline bool ref_path_root(const uint8_t leaf[HASH_SIZE], uint64_t m,
				 uint64_t n, const hash_t *p, size_t len,
				 uint8_t out[HASH_SIZE])
{
	if (n == 1) {
		if (len != 0)
			return false;
		memcpy(out, leaf, HASH_SIZE);
		return true;
	}
	if (len == 0)
		return false;
	uint64_t k = ref_k(n);
	uint8_t h[HASH_SIZE];
	if (m < k) {
		if (!ref_path_root(leaf, m, k, p, len - 1, h))
			return false;
		hash_node(h, p[len - 1], out);
	} else {
		if (!ref_path_root(leaf, m - k, n - k, p, len - 1, h))
			return false;
		hash_node(p[len - 1], h, out);
	}
	return true;
}

static inline bool ref_verify_inclusion(const uint8_t leaf[HASH_SIZE], uint64_t m,
					uint64_t n, const hash_t *p, size_t len,
					const uint8_t root[HASH_SIZE])
{
	uint8_t r[HASH_SIZE];
	if (m >= n)
		return false;
	return ref_path_root(leaf, m, n, p, len, r) && memcmp(r, root, HASH_SIZE) == 0;
}

/* The (old, new) subtree hashes a SUBPROOF-shaped proof implies; the
 * known old root stands for D[0:m] when b is still true at m == n. */
static inline bool ref_sub_roots(uint64_t m, uint64_t n, bool b,
				 const uint8_t root_m[HASH_SIZE], const hash_t *p,
				 size_t len, uint8_t hm[HASH_SIZE], uint8_t hn[HASH_SIZE])
{
	if (m == n) {
		if (b) {
			if (len != 0)
				return false;
			memcpy(hm, root_m, HASH_SIZE);
		} else {
			if (len != 1)
				return false;
			memcpy(hm, p[0], HASH_SIZE);
		}
		memcpy(hn, hm, HASH_SIZE);
		return true;
	}
	if (len == 0)
		return false;
	uint64_t k = ref_k(n);
	uint8_t a[HASH_SIZE], c[HASH_SIZE];
	if (m <= k) {
		if (!ref_sub_roots(m, k, b, root_m, p, len - 1, a, c))
			return false;
		memcpy(hm, a, HASH_SIZE);
		hash_node(c, p[len - 1], hn);
	} else {
		if (!ref_sub_roots(m - k, n - k, false, root_m, p, len - 1, a, c))
			return false;
		hash_node(p[len - 1], a, hm);
		hash_node(p[len - 1], c, hn);
	}
	return true;
}

static inline bool ref_verify_consistency(uint64_t m, uint64_t n,
					  const uint8_t root_m[HASH_SIZE],
					  const uint8_t root_n[HASH_SIZE],
					  const hash_t *p, size_t len)
{
	uint8_t hm[HASH_SIZE], hn[HASH_SIZE];
	if (m == 0 || m > n)
		return false;
	return ref_sub_roots(m, n, true, root_m, p, len, hm, hn) &&
	       memcmp(hm, root_m, HASH_SIZE) == 0 && memcmp(hn, root_n, HASH_SIZE) == 0;
}

/* Deterministic xorshift64* for reproducible random trees. */
static uint64_t ref_rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t ref_rand(void)
{
	uint64_t x = ref_rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ref_rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline void ref_random_leaves(hash_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v[2] = { ref_rand(), i };
		hash_leaf(v, sizeof(v), d[i]);
	}
}

/* A fresh scratch directory under /tmp; caller frees the string. */
static inline char *ref_tmpdir(void)
{
	char *p = strdup("/tmp/st-tree-XXXXXX");
	if (!p || !mkdtemp(p)) {
		perror("mkdtemp");
		exit(2);
	}
	return p;
}

/* Removes the directory and the files in it (no subdirectories). */
static inline void ref_rmdir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (d) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

#endif
