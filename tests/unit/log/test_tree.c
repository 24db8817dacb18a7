/*
 * test_tree.c - tree.c's roots and proofs against the RFC 6962 test
 * vectors and against the recursive definitions in tree_ref.h.
 *
 * (a) the 8-leaf RFC 6962 reference tree: every root, every inclusion
 *     proof, every consistency proof, hash for hash;
 * (b) random trees of 1100 leaves built with batches of 1, 7, 256, 1000
 *     and a random mix: every node, every root, sampled proofs; the level
 *     files of every build are identical;
 * (c) negative cases: each proof with any bit flipped, a wrong index, a
 *     wrong size, truncated, extended; the verifier must answer exactly
 *     what the recursive RFC 6962 verifier answers, and fail on flips.
 */
#include "common/codec.h"
#include "common/util.h"
#include "log/tree.h"
#include "test.h"
#include "tree_ref.h"

#define NRAND 1100u

static void hex32(const char *s, uint8_t out[HASH_SIZE])
{
	if (!hex_decode(s, strlen(s), out, HASH_SIZE)) {
		fprintf(stderr, "bad hex %s\n", s);
		exit(2);
	}
}

static struct tree *open_fresh(char **dir)
{
	struct tree *t = NULL;
	*dir = ref_tmpdir();
	int r = tree_open(&t, *dir);
	CHECK(r == 0);
	if (r != 0)
		exit(1);
	return t;
}

/* Inclusion proof of (i, s) equals PATH and verifies; mutations fail
 * exactly when the recursive verifier fails. full: try every bit flip. */
static void check_inclusion(struct tree *t, const hash_t *d, uint64_t i, uint64_t s,
			    bool full)
{
	hash_t proof[PROOF_MAX_HASHES + 1], ref[PROOF_MAX_HASHES], root;
	size_t n = 0, rn = 0;

	CHECK(tree_inclusion_proof(t, i, s, proof, &n) == 0);
	ref_path(i, d, s, ref, &rn);
	CHECK_MSG(n == rn && memcmp(proof, ref, n * HASH_SIZE) == 0,
		  "inclusion proof (%llu, %llu)", (unsigned long long)i,
		  (unsigned long long)s);
	ref_mth(d, s, root);
	CHECK_MSG(merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n, root),
		  "verify inclusion (%llu, %llu)", (unsigned long long)i,
		  (unsigned long long)s);
	if (!full)
		return;

	/* Every bit of every proof hash, and of the leaf and root. */
	for (size_t k = 0; k < n; k++)
		for (unsigned bit = 0; bit < 256; bit += full ? 1 : 37) {
			proof[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			CHECK(!merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n, root));
			proof[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	for (unsigned bit = 0; bit < 256; bit += 17) {
		hash_t leaf, r2;
		memcpy(leaf, d[i], HASH_SIZE);
		memcpy(r2, root, HASH_SIZE);
		leaf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK(!merkle_verify_inclusion(leaf, i, s, (const hash_t *)proof, n, root));
		CHECK(!merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n, r2));
	}
	/* Truncated and extended. */
	if (n > 0)
		CHECK(!merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n - 1, root));
	memcpy(proof[n], root, HASH_SIZE);
	CHECK(!merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n + 1, root));
	memset(proof[n], 0, HASH_SIZE);
	CHECK(!merkle_verify_inclusion(d[i], i, s, (const hash_t *)proof, n + 1, root));
	/* Any other index or size: same answer as the recursive verifier
	 * (some sizes share a proof shape, e.g. (0, 3) and (0, 4), so they
	 * are not all failures); counted to show the test can fail. */
	for (uint64_t j = 0; j < s + 2; j++) {
		if (j == i)
			continue;
		bool want = ref_verify_inclusion(d[i], j, s, (const hash_t *)proof, n, root);
		CHECK_MSG(merkle_verify_inclusion(d[i], j, s, (const hash_t *)proof, n, root) == want,
			  "index %llu for (%llu, %llu)", (unsigned long long)j,
			  (unsigned long long)i, (unsigned long long)s);
		CHECK(!want);
	}
	for (uint64_t s2 = 0; s2 < s + 3; s2++) {
		if (s2 == s)
			continue;
		bool want = ref_verify_inclusion(d[i], i, s2, (const hash_t *)proof, n, root);
		CHECK_MSG(merkle_verify_inclusion(d[i], i, s2, (const hash_t *)proof, n, root) == want,
			  "size %llu for (%llu, %llu)", (unsigned long long)s2,
			  (unsigned long long)i, (unsigned long long)s);
	}
}

static void cons_same_as_ref(uint64_t m, uint64_t s, const uint8_t rm[HASH_SIZE],
			     const uint8_t rs[HASH_SIZE], hash_t *proof, size_t n)
{
	bool want = ref_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n);
	CHECK_MSG(merkle_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n) == want,
		  "sizes (%llu, %llu) give %d", (unsigned long long)m,
		  (unsigned long long)s, want);
}

static void check_consistency(struct tree *t, const hash_t *d, uint64_t m, uint64_t s,
			      bool full)
{
	hash_t proof[PROOF_MAX_HASHES + 1], ref[PROOF_MAX_HASHES], rm, rs;
	size_t n = 0, rn = 0;

	CHECK(tree_consistency_proof(t, m, s, proof, &n) == 0);
	ref_subproof(m, d, s, true, ref, &rn);
	CHECK_MSG(n == rn && memcmp(proof, ref, n * HASH_SIZE) == 0,
		  "consistency proof (%llu, %llu)", (unsigned long long)m,
		  (unsigned long long)s);
	ref_mth(d, m, rm);
	ref_mth(d, s, rs);
	CHECK_MSG(merkle_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n),
		  "verify consistency (%llu, %llu)", (unsigned long long)m,
		  (unsigned long long)s);
	CHECK(ref_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n));
	if (!full)
		return;

	for (size_t k = 0; k < n; k++)
		for (unsigned bit = 0; bit < 256; bit++) {
			proof[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			CHECK(!merkle_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n));
			proof[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	for (unsigned bit = 0; bit < 256; bit += 17) {
		hash_t x;
		memcpy(x, rm, HASH_SIZE);
		x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK(!merkle_verify_consistency(m, s, x, rs, (const hash_t *)proof, n));
		memcpy(x, rs, HASH_SIZE);
		x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK(!merkle_verify_consistency(m, s, rm, x, (const hash_t *)proof, n));
	}
	if (n > 0)
		CHECK(!merkle_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n - 1));
	memcpy(proof[n], rs, HASH_SIZE);
	CHECK(!merkle_verify_consistency(m, s, rm, rs, (const hash_t *)proof, n + 1));
	/* Other sizes with the same proof and roots: all of them for small
	 * trees, a window around (m, s) and random pairs for large ones. */
	if (s <= 16) {
		for (uint64_t m2 = 0; m2 < s + 2; m2++)
			for (uint64_t s2 = 0; s2 < s + 3; s2++)
				if (m2 != m || s2 != s)
					cons_same_as_ref(m2, s2, rm, rs, proof, n);
	} else {
		for (uint64_t m2 = m > 3 ? m - 3 : 0; m2 < m + 4; m2++)
			for (uint64_t s2 = s - 3; s2 < s + 4; s2++)
				if (m2 != m || s2 != s)
					cons_same_as_ref(m2, s2, rm, rs, proof, n);
		for (int k = 0; k < 300; k++) {
			uint64_t m2 = ref_rand() % (s + 2), s2 = ref_rand() % (s + 3);
			if (m2 != m || s2 != s)
				cons_same_as_ref(m2, s2, rm, rs, proof, n);
		}
	}
}

/* (a) RFC 6962's reference tree. */
static void test_rfc6962_vectors(void)
{
	static const char *data[8] = {
		"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
		"606162636465666768696a6b6c6d6e6f",
	};
	/* Roots of sizes 1..8 from the RFC 6962 reference test data. */
	static const char *roots[8] = {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	hash_t d[8], got, want, golden;
	char *dir;
	struct tree *t = open_fresh(&dir);

	for (int i = 0; i < 8; i++) {
		uint8_t raw[16];
		size_t len = strlen(data[i]) / 2;
		CHECK(hex_decode(data[i], 2 * len, raw, len));
		hash_leaf(raw, len, d[i]);
		CHECK(tree_append(t, (const hash_t *)&d[i], 1) == 0);
		CHECK(tree_size(t) == (uint64_t)i + 1);
	}
	hash_empty(want);
	CHECK(tree_root(t, 0, got) == 0);
	CHECK_MEM(got, want, HASH_SIZE);
	CHECK(tree_root(t, 9, got) == ST_ERANGE);
	for (uint64_t s = 1; s <= 8; s++) {
		CHECK(tree_root(t, s, got) == 0);
		ref_mth(d, s, want);
		hex32(roots[s - 1], golden);
		CHECK_MSG(memcmp(got, want, HASH_SIZE) == 0, "root %llu vs MTH",
			  (unsigned long long)s);
		CHECK_MSG(memcmp(got, golden, HASH_SIZE) == 0, "root %llu vs RFC 6962 data",
			  (unsigned long long)s);
	}
	for (uint64_t s = 1; s <= 8; s++)
		for (uint64_t i = 0; i < s; i++)
			check_inclusion(t, d, i, s, true);
	for (uint64_t s = 1; s <= 8; s++)
		for (uint64_t m = 1; m <= s; m++)
			check_consistency(t, d, m, s, true);

	/* Range errors. */
	hash_t p[PROOF_MAX_HASHES];
	size_t n = 99;
	CHECK(tree_inclusion_proof(t, 8, 8, p, &n) == ST_ERANGE);
	CHECK(tree_inclusion_proof(t, 0, 9, p, &n) == ST_ERANGE);
	CHECK(tree_inclusion_proof(t, 0, 0, p, &n) == ST_ERANGE);
	CHECK(tree_consistency_proof(t, 0, 8, p, &n) == ST_ERANGE);
	CHECK(tree_consistency_proof(t, 5, 4, p, &n) == ST_ERANGE);
	CHECK(tree_consistency_proof(t, 1, 9, p, &n) == ST_ERANGE);
	CHECK(n == 99);
	CHECK(tree_consistency_proof(t, 8, 8, p, &n) == 0 && n == 0);
	CHECK(tree_node(t, 0, 8, got) == ST_ERANGE);
	CHECK(tree_node(t, 3, 1, got) == ST_ERANGE);
	CHECK(tree_node(t, 64, 0, got) == ST_ERANGE);
	CHECK(tree_node(t, 3, 0, got) == 0);
	CHECK_MEM(got, golden, HASH_SIZE);
	ref_mth(d, 8, want);
	CHECK(!merkle_verify_consistency(0, 8, want, want, (const hash_t *)p, 0));
	CHECK(!merkle_verify_inclusion(d[0], 0, 0, (const hash_t *)p, 0, want));

	tree_free(t);
	ref_rmdir(dir);
}

static bool same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	bool same = fa && fb;
	int ca, cb;

	while (same) {
		ca = fgetc(fa);
		cb = fgetc(fb);
		if (ca != cb)
			same = false;
		if (ca == EOF)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

/* (b) random trees, several batch sizes. */
static void test_random_trees(void)
{
	static const size_t batches[] = { 1, 7, 256, 1000, 0 /* random */ };
	hash_t *d = malloc(NRAND * sizeof(*d));
	char *dirs[ARRAY_SIZE(batches)];
	hash_t got, want;

	ref_random_leaves(d, NRAND);
	for (size_t b = 0; b < ARRAY_SIZE(batches); b++) {
		struct tree *t = open_fresh(&dirs[b]);
		size_t done = 0;
		while (done < NRAND) {
			size_t k = batches[b] ? batches[b] : 1 + (size_t)(ref_rand() % 300);
			if (k > NRAND - done)
				k = NRAND - done;
			CHECK(tree_append(t, (const hash_t *)d + done, k) == 0);
			done += k;
			CHECK(tree_size(t) == done);
			CHECK(tree_root(t, done, got) == 0);
			ref_mth(d, done, want);
			CHECK_MSG(memcmp(got, want, HASH_SIZE) == 0, "batch %zu root %zu",
				  batches[b], done);
		}
		if (b == 0) {
			/* Every stored node and every root of the first build. */
			for (unsigned l = 0; l < 11; l++)
				for (uint64_t i = 0; i < (NRAND >> l); i++) {
					CHECK(tree_node(t, l, i, got) == 0);
					ref_mth(d + (i << l), (uint64_t)1 << l, want);
					CHECK_MSG(memcmp(got, want, HASH_SIZE) == 0,
						  "node %u/%llu", l, (unsigned long long)i);
				}
			for (uint64_t s = 0; s <= NRAND; s++) {
				CHECK(tree_root(t, s, got) == 0);
				ref_mth(d, s, want);
				CHECK_MSG(memcmp(got, want, HASH_SIZE) == 0, "root %llu",
					  (unsigned long long)s);
			}
			/* Sampled proofs, the edges of powers of two included. */
			static const uint64_t sizes[] = { 1, 2, 3, 5, 255, 256, 257, 511,
							  512, 513, 777, 1023, 1024, 1025, 1099, 1100 };
			for (size_t si = 0; si < ARRAY_SIZE(sizes); si++) {
				uint64_t s = sizes[si];
				for (int k = 0; k < 12; k++) {
					uint64_t i = k < 3 ? (uint64_t)k % s : ref_rand() % s;
					if (k == 3)
						i = s - 1;
					check_inclusion(t, d, i, s, false);
					check_consistency(t, d, 1 + ref_rand() % s, s, false);
				}
				check_consistency(t, d, 1, s, false);
				check_consistency(t, d, s, s, false);
			}
			check_inclusion(t, d, 700, 1025, true);
			check_inclusion(t, d, 1024, 1025, true);
			check_consistency(t, d, 700, 1025, true);
			check_consistency(t, d, 512, 1100, true);
		}
		tree_free(t);
	}
	for (size_t b = 1; b < ARRAY_SIZE(batches); b++)
		for (unsigned l = 0; l < 12; l++) {
			char pa[4200], pb[4200];
			snprintf(pa, sizeof(pa), "%s/level-%02u", dirs[0], l);
			snprintf(pb, sizeof(pb), "%s/level-%02u", dirs[b], l);
			if (l <= 10)
				CHECK_MSG(same_file(pa, pb), "level %u of batch %zu", l, batches[b]);
			else
				CHECK(access(pb, F_OK) != 0);
		}
	for (size_t b = 0; b < ARRAY_SIZE(batches); b++)
		ref_rmdir(dirs[b]);
	free(d);
}

/* Verifiers on hostile arguments: no crash, no acceptance. */
static void test_verifier_edges(void)
{
	hash_t p[PROOF_MAX_HASHES + 2], h;

	memset(p, 0, sizeof(p));
	memset(h, 7, sizeof(h));
	CHECK(!merkle_verify_inclusion(h, UINT64_MAX, UINT64_MAX, (const hash_t *)p, 3, h));
	CHECK(!merkle_verify_inclusion(h, 0, UINT64_MAX, (const hash_t *)p, 64, h));
	CHECK(!merkle_verify_inclusion(h, 0, 1, (const hash_t *)p, PROOF_MAX_HASHES + 1, h));
	CHECK(merkle_verify_inclusion(h, 0, 1, (const hash_t *)p, 0, h));
	CHECK(!merkle_verify_consistency(UINT64_MAX - 1, UINT64_MAX, h, h, (const hash_t *)p, 64));
	CHECK(!merkle_verify_consistency(1, UINT64_MAX, h, h, (const hash_t *)p, 128));
	CHECK(merkle_verify_consistency(5, 5, h, h, (const hash_t *)p, 0));
	CHECK(!merkle_verify_consistency(5, 5, h, h, (const hash_t *)p, 1));
	CHECK(!merkle_verify_consistency(5, 6, h, h, (const hash_t *)p, 0));
	CHECK(!merkle_verify_consistency(6, 5, h, h, (const hash_t *)p, 1));
}

int main(void)
{
	test_rfc6962_vectors();
	test_random_trees();
	test_verifier_edges();
	return test_report("test_tree");
}
