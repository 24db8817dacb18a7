/*
 * test_tree_store.c - tree.c's files: recovery after torn writes,
 * truncate, reopen, hash tiles, and tlog-tiles path encoding.
 *
 * (d) level files cut by hand to odd byte lengths, upper levels missing
 *     hashes, stale hashes past the size, a missing level file: tree_open
 *     must recover to the size tree.h promises, leave every level at
 *     exactly floor(size / 2^L) hashes, and re-appending must reproduce
 *     the roots of the recursive MTH;
 * (f) a reader thread racing the appender sees, at every size it loads
 *     from tree_size(), the root and proofs of exactly that size (T3);
 * (e) tiles are byte for byte the tree_node(8L, ...) hashes; partial
 *     tiles; the path table, with the encodings that must be refused.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "log/tree.h"
#include "test.h"
#include "tree_ref.h"

#define N 1000u

static hash_t *leaves;

static void path_of(const char *dir, unsigned level, char *out, size_t cap)
{
	snprintf(out, cap, "%s/level-%02u", dir, level);
}

/* Byte length of level-L, or -1 if missing. */
static long long file_len(const char *dir, unsigned level)
{
	char p[4200];
	struct stat st;
	path_of(dir, level, p, sizeof(p));
	return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static void cut(const char *dir, unsigned level, long long len)
{
	char p[4200];
	path_of(dir, level, p, sizeof(p));
	CHECK(truncate(p, (off_t)len) == 0);
}

static void append_bytes(const char *dir, unsigned level, size_t n, uint8_t byte)
{
	char p[4200];
	uint8_t b[4096];
	path_of(dir, level, p, sizeof(p));
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
	CHECK(fd >= 0);
	memset(b, byte, sizeof(b));
	CHECK(n <= sizeof(b) && write(fd, b, n) == (ssize_t)n);
	close(fd);
}

/* Every level has exactly floor(size / 2^L) hashes (missing or empty
 * files for levels above the top). */
static void check_shape(const char *dir, uint64_t size)
{
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		long long len = file_len(dir, l);
		long long want = (long long)(size >> l) * HASH_SIZE;
		if (want == 0)
			CHECK_MSG(len <= 0, "level %u has %lld bytes at size %llu", l, len,
				  (unsigned long long)size);
		else
			CHECK_MSG(len == want, "level %u has %lld bytes, want %lld", l, len,
				  want);
	}
}

static void check_roots(struct tree *t, uint64_t upto)
{
	hash_t got, want;
	for (uint64_t s = 0; s <= upto; s += 1 + s / 8) {
		CHECK(tree_root(t, s, got) == 0);
		ref_mth(leaves, s, want);
		CHECK_MSG(memcmp(got, want, HASH_SIZE) == 0, "root %llu",
			  (unsigned long long)s);
	}
	CHECK(tree_root(t, upto, got) == 0);
	ref_mth(leaves, upto, want);
	CHECK_MEM(got, want, HASH_SIZE);
}

static struct tree *reopen(struct tree *t, const char *dir)
{
	struct tree *n = NULL;
	tree_free(t);
	CHECK(tree_open(&n, dir) == 0);
	if (!n)
		exit(1);
	return n;
}

/* Appends leaves [size, upto) in batches of 7 and checks the roots. */
static void regrow(struct tree *t, uint64_t upto)
{
	while (tree_size(t) < upto) {
		uint64_t s = tree_size(t), k = upto - s < 7 ? upto - s : 7;
		CHECK(tree_append(t, (const hash_t *)leaves + s, (size_t)k) == 0);
	}
	check_roots(t, upto);
}

/* Opens dir after damage and checks the recovered size, the shape, the
 * roots, then regrows to N. */
static struct tree *recover(struct tree *t, const char *dir, uint64_t want, const char *what)
{
	t = reopen(t, dir);
	CHECK_MSG(tree_size(t) == want, "%s: recovered %llu, want %llu", what,
		  (unsigned long long)tree_size(t), (unsigned long long)want);
	check_shape(dir, tree_size(t));
	check_roots(t, tree_size(t));
	regrow(t, N);
	check_shape(dir, N);
	CHECK(tree_sync(t) == 0);
	return t;
}

static void test_recovery(void)
{
	char *dir = ref_tmpdir();
	struct tree *t = NULL;

	CHECK(tree_open(&t, dir) == 0);
	CHECK(tree_size(t) == 0);
	check_roots(t, 0);
	CHECK(file_len(dir, 0) == -1); /* no level exists yet */
	regrow(t, N);
	CHECK(tree_sync(t) == 0);
	check_shape(dir, N);
	t = reopen(t, dir);
	CHECK(tree_size(t) == N);
	check_roots(t, N);

	/* A torn leaf: 5 bytes short of 1000 hashes -> 999. */
	tree_free(t);
	t = NULL;
	cut(dir, 0, N * HASH_SIZE - 5);
	t = recover(t, dir, N - 1, "torn leaf");

	/* Torn partial hashes in several levels at once. */
	tree_free(t);
	t = NULL;
	cut(dir, 0, 998 * HASH_SIZE + 31); /* 998 */
	cut(dir, 2, 249 * HASH_SIZE + 1);  /* 249: size <= 999 */
	cut(dir, 5, 31 * HASH_SIZE - 1);   /* 30: size <= 991 */
	t = recover(t, dir, 991, "torn levels");

	/* An upper level lost hashes: level-03 keeps 100 of 125, so the
	 * tree goes back to 807 leaves and level-00 is cut to match. */
	tree_free(t);
	t = NULL;
	cut(dir, 3, 100 * HASH_SIZE);
	t = recover(t, dir, 807, "short level-03");

	/* The top level lost its only hash: level-09 (1 hash at 1000). */
	tree_free(t);
	t = NULL;
	cut(dir, 9, 0);
	t = recover(t, dir, 511, "empty level-09");

	/* A level file is gone altogether. */
	tree_free(t);
	t = NULL;
	{
		char p[4200];
		path_of(dir, 4, p, sizeof(p));
		CHECK(unlink(p) == 0);
	}
	t = recover(t, dir, 15, "missing level-04");

	/* Stale hashes past the size in upper levels, and levels that
	 * should not exist at all: cut away, size kept. */
	tree_free(t);
	t = NULL;
	append_bytes(dir, 1, 3 * HASH_SIZE, 0xaa);
	append_bytes(dir, 9, HASH_SIZE + 3, 0xbb);
	append_bytes(dir, 10, 2 * HASH_SIZE, 0xcc);
	append_bytes(dir, 40, HASH_SIZE, 0xdd);
	t = recover(t, dir, N, "stale hashes");

	/* Leaves only: everything above level 0 lost. */
	tree_free(t);
	t = NULL;
	for (unsigned l = 1; l < 10; l++)
		cut(dir, l, 0);
	t = recover(t, dir, 1, "leaves only");

	/* tree_truncate, then regrow; then to 0. */
	CHECK(tree_truncate(t, N + 1) == ST_ERANGE);
	CHECK(tree_truncate(t, 333) == 0);
	CHECK(tree_size(t) == 333);
	check_shape(dir, 333);
	check_roots(t, 333);
	regrow(t, N);
	CHECK(tree_truncate(t, 0) == 0);
	check_shape(dir, 0);
	check_roots(t, 0);
	regrow(t, N);
	t = reopen(t, dir);
	CHECK(tree_size(t) == N);
	check_roots(t, N);

	tree_free(t);
	ref_rmdir(dir);
}

/* (f) One appender, one reader: whatever size the reader sees, every
 * node within it is already on disk (the size is published last). */
#define CN 20000u
struct race {
	struct tree *t;
	hash_t *leaves, *roots;
	int done, bad, checks;
};

static void *race_reader(void *arg)
{
	struct race *x = arg;
	hash_t got, proof[PROOF_MAX_HASHES];
	uint64_t rng = 88172645463325252ull; /* ref_rand is the appender's */
	size_t n;

	while (!__atomic_load_n(&x->done, __ATOMIC_ACQUIRE)) {
		uint64_t s = tree_size(x->t);
		if (s == 0)
			continue;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint64_t i = rng % s;
		if (tree_root(x->t, s, got) != 0 || memcmp(got, x->roots[s], HASH_SIZE) != 0)
			x->bad++;
		if (tree_inclusion_proof(x->t, i, s, proof, &n) != 0 ||
		    !merkle_verify_inclusion(x->leaves[i], i, s, (const hash_t *)proof, n,
					     x->roots[s]))
			x->bad++;
		x->checks++;
	}
	return NULL;
}

static void test_concurrent_reader(void)
{
	char *da = ref_tmpdir(), *db = ref_tmpdir();
	struct tree *a = NULL;
	struct race x = { NULL, NULL, NULL, 0, 0, 0 };
	pthread_t th;

	x.leaves = malloc(CN * sizeof(*x.leaves));
	x.roots = malloc((CN + 1) * sizeof(*x.roots));
	ref_random_leaves(x.leaves, CN);
	/* Expected roots from a separate tree (its roots are checked
	 * against the recursive MTH by the tests above). */
	CHECK(tree_open(&a, da) == 0);
	CHECK(tree_append(a, (const hash_t *)x.leaves, CN) == 0);
	for (uint64_t s = 0; s <= CN; s++)
		CHECK(tree_root(a, s, x.roots[s]) == 0);
	tree_free(a);

	CHECK(tree_open(&x.t, db) == 0);
	CHECK(pthread_create(&th, NULL, race_reader, &x) == 0);
	for (uint64_t done = 0; done < CN;) {
		size_t k = 1 + (size_t)(ref_rand() % 40);
		if (k > CN - done)
			k = CN - done;
		CHECK(tree_append(x.t, (const hash_t *)x.leaves + done, k) == 0);
		done += k;
	}
	__atomic_store_n(&x.done, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_MSG(x.bad == 0, "%d of %d concurrent reads saw unwritten nodes", x.bad, x.checks);
	CHECK(x.checks > 0);
	tree_free(x.t);
	free(x.leaves);
	free(x.roots);
	ref_rmdir(da);
	ref_rmdir(db);
}

/* (e) hash tiles. */
static void test_tiles(void)
{
	char *dir = ref_tmpdir();
	struct tree *t = NULL;
	const uint64_t size = 256 * 256 + 256 * 17 + 112; /* 70000 */
	hash_t *big = malloc(size * sizeof(*big));
	struct buf b = BUF_INIT(1 << 20);
	hash_t h;

	ref_random_leaves(big, size);
	CHECK(tree_open(&t, dir) == 0);
	for (uint64_t done = 0; done < size; done += 1000)
		CHECK(tree_append(t, (const hash_t *)big + done,
				  (size_t)(size - done < 1000 ? size - done : 1000)) == 0);
	CHECK(tree_size(t) == size);

	/* Level 0: every full tile, then the partial one of 112. */
	for (uint64_t n = 0; n < size / 256; n++) {
		buf_reset(&b);
		CHECK(tree_read_tile(t, 0, n, 256, &b) == 0);
		CHECK(b.len == 256 * HASH_SIZE &&
		      memcmp(b.data, big + n * 256, b.len) == 0);
	}
	buf_reset(&b);
	CHECK(tree_read_tile(t, 0, 273, 256, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 0, 273, 113, &b) == ST_ERANGE);
	CHECK(b.len == 0);
	CHECK(tree_read_tile(t, 0, 273, 112, &b) == 0);
	CHECK(b.len == 112 * HASH_SIZE && memcmp(b.data, big + 273 * 256, b.len) == 0);
	/* Appends after what the buffer holds. */
	CHECK(tree_read_tile(t, 0, 273, 1, &b) == 0);
	CHECK(b.len == 113 * HASH_SIZE && memcmp(b.data + 112 * HASH_SIZE, big[273 * 256], HASH_SIZE) == 0);

	/* Level 1 = tree level 8: 273 hashes: tile 1/0 full, 1/1.p/17. */
	buf_reset(&b);
	CHECK(tree_read_tile(t, 1, 0, 256, &b) == 0);
	for (uint64_t i = 0; i < 256; i++) {
		CHECK(tree_node(t, 8, i, h) == 0);
		CHECK(memcmp(b.data + i * HASH_SIZE, h, HASH_SIZE) == 0);
	}
	ref_mth(big + 255 * 256, 256, h);
	CHECK_MEM(b.data + 255 * HASH_SIZE, h, HASH_SIZE);
	buf_reset(&b);
	CHECK(tree_read_tile(t, 1, 1, 17, &b) == 0);
	for (uint64_t i = 0; i < 17; i++) {
		CHECK(tree_node(t, 8, 256 + i, h) == 0);
		CHECK(memcmp(b.data + i * HASH_SIZE, h, HASH_SIZE) == 0);
	}
	CHECK(tree_read_tile(t, 1, 1, 18, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 1, 1, 256, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 1, 2, 1, &b) == ST_ERANGE);
	/* Level 2 = tree level 16: one hash, the first 65536 leaves. */
	buf_reset(&b);
	CHECK(tree_read_tile(t, 2, 0, 1, &b) == 0);
	ref_mth(big, 65536, h);
	CHECK(b.len == HASH_SIZE && memcmp(b.data, h, HASH_SIZE) == 0);
	CHECK(tree_read_tile(t, 2, 0, 2, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 3, 0, 1, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 8, 0, 1, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 0, 0, 0, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 0, 0, 257, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 0, UINT64_MAX, 256, &b) == ST_ERANGE);
	CHECK(tree_read_tile(t, 0, UINT64_MAX / 256, 256, &b) == ST_ERANGE);
	/* A buffer too small to take the tile is left unchanged. */
	struct buf small = BUF_INIT(100);
	CHECK(tree_read_tile(t, 0, 0, 4, &small) == ST_ELIMIT);
	CHECK(small.len == 0);
	CHECK(tree_read_tile(t, 0, 0, 3, &small) == 0 && small.len == 96);
	buf_release(&small);

	buf_release(&b);
	free(big);
	tree_free(t);
	ref_rmdir(dir);
}

static void test_tile_paths(void)
{
	static const struct {
		int level;
		uint64_t index;
		unsigned width;
		const char *path;
	} good[] = {
		{ 0, 0, 256, "tile/0/000" },
		{ 0, 7, 256, "tile/0/007" },
		{ 0, 999, 256, "tile/0/999" },
		{ 0, 1000, 256, "tile/0/x001/000" },
		{ 3, 1234067, 256, "tile/3/x001/x234/067" },
		{ 1, 1000000, 1, "tile/1/x001/x000/000.p/1" },
		{ 63, 5, 255, "tile/63/005.p/255" },
		{ 10, 12, 100, "tile/10/012.p/100" },
		{ -1, 0, 256, "tile/entries/000" },
		{ -1, 1234067, 7, "tile/entries/x001/x234/067.p/7" },
		{ -1, UINT64_MAX, 256, "tile/entries/x018/x446/x744/x073/x709/x551/615" },
		{ 2, UINT64_MAX, 42, "tile/2/x018/x446/x744/x073/x709/x551/615.p/42" },
	};
	static const char *bad[] = {
		"", "tile", "tile/", "tile/0", "tile/0/", "tile/0/0", "tile/0/00",
		"tile/0/0000", "tile/0/+00", "tile/0/+000", "tile/+0/000", "tile/00/000",
		"tile/01/000", "tile/64/000", "tile/99999999999999999999/000", "tile/-1/000",
		"tile/0/x000/001", "tile/0/x000/000", "tile/0/x001", "tile/0/x001/",
		"tile/0/001/000", "tile/0/x1/000", "tile/0/x0001/000", "tile/0/xx01/000",
		"tile/0/x001/x234", "tile/0/x001//234", "tile/0/000.p/0", "tile/0/000.p/256",
		"tile/0/000.p/007", "tile/0/000.p/", "tile/0/000.p", "tile/0/000.", "tile/0/000/",
		"tile/0/000.p/1/", "tile/0/000.p/+1", "tile/0/000.p/-1", "tile/0/000.P/1",
		"tile/0/000.p/1x", "tile/entries/x018/x446/x744/x073/x709/x551/616",
		"tile/entries/x001/x018/x446/x744/x073/x709/x551/615", "tile/entries",
		"tile/entries/", "tile/entries//000", "tile/entry/000", "Tile/0/000",
		"/tile/0/000", "tile//0/000", "tile/0/000 ", " tile/0/000", "tile/0/0a0",
		"tile/0/x00a/000", "tile/a/000", "tile/entries/000.p/256",
	};
	char out[128];
	struct tile_ref r;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct tile_ref in = { good[i].level, good[i].index, good[i].width };
		size_t len = strlen(good[i].path);
		int n = tile_path_format(&in, out, sizeof(out));
		CHECK_MSG(n == (int)len && memcmp(out, good[i].path, len) == 0 && out[len] == 0,
			  "format %s", good[i].path);
		memset(&r, 0x55, sizeof(r));
		CHECK_MSG(tile_path_parse(good[i].path, len, &r) && r.level == in.level &&
			  r.index == in.index && r.width == in.width,
			  "parse %s", good[i].path);
		/* Every strict prefix is refused (a cut path is never valid
		 * except where it still ends in a complete group). */
		for (size_t k = 0; k < len; k++) {
			if (tile_path_parse(good[i].path, k, &r)) {
				char c = good[i].path[k];
				CHECK_MSG(c == '.' || (c >= '0' && c <= '9'), "prefix %zu of %s", k,
					  good[i].path);
			}
		}
		/* Exact capacity: len + 1 works, len does not. */
		CHECK(tile_path_format(&in, out, len + 1) == (int)len);
		CHECK(tile_path_format(&in, out, len) == -1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct tile_ref keep = { 5, 5, 5 };
		r = keep;
		CHECK_MSG(!tile_path_parse(bad[i], strlen(bad[i]), &r), "accepted %s", bad[i]);
		CHECK(r.level == 5 && r.index == 5 && r.width == 5);
	}
	/* An embedded NUL is refused; the length bounds the read. */
	CHECK(!tile_path_parse("tile/0/000\0", 11, &r));
	CHECK(!tile_path_parse("tile/0\0/000", 11, &r));
	CHECK(tile_path_parse("tile/0/000XYZ", 10, &r) && r.index == 0 && r.width == 256);
	/* Refused refs. */
	struct tile_ref no[] = { { -2, 0, 256 }, { 64, 0, 256 }, { 0, 0, 0 }, { 0, 0, 257 } };
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		CHECK(tile_path_format(&no[i], out, sizeof(out)) == -1);
	struct tile_ref z = { 0, 0, 256 };
	CHECK(tile_path_format(&z, out, 0) == -1);
}

int main(void)
{
	leaves = malloc(N * sizeof(*leaves));
	ref_random_leaves(leaves, N);
	test_recovery();
	test_concurrent_reader();
	test_tiles();
	test_tile_paths();
	free(leaves);
	return test_report("test_tree_store");
}
