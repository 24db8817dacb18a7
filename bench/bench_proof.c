/*
 * bench_proof.c - how fast the level-file Merkle tree (src/log/tree.c)
 * appends, computes roots and serves proofs.
 *
 *   bench_proof [N [BATCH]]     N leaves (default 1,000,000), appended
 *                               BATCH at a time (default 256)
 *
 * Builds a tree of N pseudo-random leaf hashes in a fresh directory under
 * $TMPDIR (or /tmp), removed at the end, then times: tree_append
 * throughput; tree_root(N); 10,000 inclusion proofs (random index, size
 * N) and 10,000 consistency proofs (random m in [1, N], n = N), each
 * generation alone and generation followed by merkle_verify_*. Every
 * generated proof is verified at least once, so a wrong number cannot come
 * from a wrong proof. The level files stay in the page cache: the figures
 * are CPU and syscall cost, not disk latency. tree_sync is timed once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "log/tree.h"

#define ROUNDS 10000

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	printf("%-34s %10.2f %10.2f %10.2f\n", what, t[n / 2], t[n * 99 / 100], t[n - 1]);
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_proof: %s failed: %d\n", what, r);
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t batch = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 256;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[4096], path[4200];
	uint8_t (*leaves)[HASH_SIZE], (*proof)[HASH_SIZE], root[HASH_SIZE], r2[HASH_SIZE];
	uint8_t (*roots_m)[HASH_SIZE];
	uint64_t *ms, *idx;
	double *gen, *full, t0, t1;
	struct tree *t = NULL;
	size_t plen;
	int r;

	if (n < 2 || batch == 0) {
		fprintf(stderr, "usage: %s [N>=2 [BATCH>=1]]\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/bench-proof-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	leaves = malloc(n * HASH_SIZE);
	proof = malloc(PROOF_MAX_HASHES * HASH_SIZE);
	roots_m = malloc(ROUNDS * HASH_SIZE);
	ms = malloc(ROUNDS * sizeof(*ms));
	idx = malloc(ROUNDS * sizeof(*idx));
	gen = malloc(ROUNDS * sizeof(*gen));
	full = malloc(ROUNDS * sizeof(*full));
	if (!leaves || !proof || !roots_m || !ms || !idx || !gen || !full)
		die("malloc", -ENOMEM);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = rnd();
		hash_leaf(&v, sizeof(v), leaves[i]);
	}

	if ((r = tree_open(&t, dir)) < 0)
		die("tree_open", r);
	t0 = now_us();
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < batch ? (size_t)(n - done) : batch;
		if ((r = tree_append(t, (const uint8_t (*)[HASH_SIZE])leaves + done, k)) < 0)
			die("tree_append", r);
		done += k;
	}
	t1 = now_us();
	double append_s = (t1 - t0) / 1e6;
	t0 = now_us();
	if ((r = tree_sync(t)) < 0)
		die("tree_sync", r);
	double sync_ms = (now_us() - t0) / 1e3;

	/* tree_root(N), and roots of random sizes. */
	for (int i = 0; i < ROUNDS; i++) {
		t0 = now_us();
		if ((r = tree_root(t, n, root)) < 0)
			die("tree_root", r);
		gen[i] = now_us() - t0;
	}
	printf("sealtrail bench_proof: N=%llu leaves, batch %zu, dir %s\n",
	       (unsigned long long)n, batch, tmp);
	printf("tree_append  %.0f leaves/s (%.2f s for N)\n",
	       (double)n / append_s, append_s);
	printf("tree_sync    %.2f ms (first fdatasync of every level)\n\n", sync_ms);
	printf("%-34s %10s %10s %10s\n", "operation (us)", "median", "p99", "max");
	report("tree_root(N)", gen, ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t s = 1 + rnd() % n;
		t0 = now_us();
		if ((r = tree_root(t, s, r2)) < 0)
			die("tree_root", r);
		gen[i] = now_us() - t0;
	}
	report("tree_root(random size)", gen, ROUNDS);

	/* Inclusion proofs at size N. */
	for (int i = 0; i < ROUNDS; i++)
		idx[i] = rnd() % n;
	for (int i = 0; i < ROUNDS; i++) {
		t0 = now_us();
		if ((r = tree_inclusion_proof(t, idx[i], n, proof, &plen)) < 0)
			die("tree_inclusion_proof", r);
		gen[i] = now_us() - t0;
		if (!merkle_verify_inclusion(leaves[idx[i]], idx[i], n,
					     (const uint8_t (*)[HASH_SIZE])proof, plen, root))
			die("merkle_verify_inclusion", -1);
	}
	report("inclusion proof", gen, ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		t0 = now_us();
		if ((r = tree_inclusion_proof(t, idx[i], n, proof, &plen)) < 0)
			die("tree_inclusion_proof", r);
		if (!merkle_verify_inclusion(leaves[idx[i]], idx[i], n,
					     (const uint8_t (*)[HASH_SIZE])proof, plen, root))
			die("merkle_verify_inclusion", -1);
		full[i] = now_us() - t0;
	}
	report("inclusion proof + verify", full, ROUNDS);

	/* Consistency proofs m -> N; the old roots are computed beforehand. */
	for (int i = 0; i < ROUNDS; i++) {
		ms[i] = 1 + rnd() % n;
		if ((r = tree_root(t, ms[i], roots_m[i])) < 0)
			die("tree_root", r);
	}
	for (int i = 0; i < ROUNDS; i++) {
		t0 = now_us();
		if ((r = tree_consistency_proof(t, ms[i], n, proof, &plen)) < 0)
			die("tree_consistency_proof", r);
		gen[i] = now_us() - t0;
		if (!merkle_verify_consistency(ms[i], n, roots_m[i], root,
					       (const uint8_t (*)[HASH_SIZE])proof, plen))
			die("merkle_verify_consistency", -1);
	}
	report("consistency proof", gen, ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		t0 = now_us();
		if ((r = tree_consistency_proof(t, ms[i], n, proof, &plen)) < 0)
			die("tree_consistency_proof", r);
		if (!merkle_verify_consistency(ms[i], n, roots_m[i], root,
					       (const uint8_t (*)[HASH_SIZE])proof, plen))
			die("merkle_verify_consistency", -1);
		full[i] = now_us() - t0;
	}
	report("consistency proof + verify", full, ROUNDS);

	/* The two costs a proof is made of: one stored node (one pread) and
	 * one hash_node, as means over 100,000 calls. */
	t0 = now_us();
	for (int i = 0; i < 100000; i++) {
		unsigned l = (unsigned)(rnd() % (uint64_t)(64 - __builtin_clzll(n)));
		if ((r = tree_node(t, l, rnd() % (n >> l), r2)) < 0)
			die("tree_node", r);
	}
	t1 = now_us();
	for (int i = 0; i < 100000; i++)
		hash_node(root, r2, r2);
	printf("\nmean tree_node (one pread) %.3f us, hash_node %.3f us\n",
	       (t1 - t0) / 100000, (now_us() - t1) / 100000);

	tree_free(t);
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		snprintf(path, sizeof(path), "%s/level-%02u", dir, l);
		unlink(path);
	}
	rmdir(dir);
	free(leaves);
	free(proof);
	free(roots_m);
	free(ms);
	free(idx);
	free(gen);
	free(full);
	return 0;
}
