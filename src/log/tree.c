/*
 * tree.c - the log's Merkle tree stored level by level (see tree.h and
 * docs/TREE.md): append, recovery, roots, RFC 9162 proofs and their
 * verifiers, tlog-tiles reads and tile paths.
 *
 * Invariants (between calls, for a tree of size n = t->size):
 *  T1. level-L holds exactly floor(n / 2^L) 32-byte hashes, for every L;
 *      fds[L] is open whenever floor(n / 2^L) > 0. tree_open() leaves
 *      the files of empty levels closed; an fd once opened by an append
 *      stays open until tree_free() (a truncate may empty its file).
 *  T2. edge[L] is the last hash of level-L whenever floor(n / 2^L) is odd
 *      (it waits for its right sibling); otherwise its value is unused.
 *  T3. t->size is published with a release store only after every byte
 *      of the call that grew it was written, so a reader that loads it
 *      with acquire semantics may pread any node within it.
 *  T4. An I/O failure in append, sync or truncate is sticky: every later
 *      write returns ST_ESTICKY until the tree is reopened. Reads go on.
 *
 * tree_open() repairs the shape of the files (T1) but never checks a hash:
 * that is `verify`'s job, which recomputes the levels from the entries.
 *
 * Proof nodes of the tree of size s are the RFC 6962 subtrees
 * [k*2^j, min((k+1)*2^j, s)). A complete one is one stored node (one
 * pread); the at most one incomplete one per proof is folded from the
 * <= 64 complete subtrees of its binary decomposition. So every proof costs
 * O(log s) preads and hashes.
 */
#include "log/tree.h"

#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tree {
	int dirfd;
	int fds[TREE_MAX_LEVELS];
	uint64_t size;                  /* atomic: __atomic_* only (T3) */
	uint64_t dirty;                 /* bit L: level-L written since sync */
	bool dir_dirty;                 /* a level file was created */
	int err;                        /* sticky error (T4), 0 if none */
	uint8_t edge[TREE_MAX_LEVELS][HASH_SIZE];
	uint8_t (*scratch)[HASH_SIZE];  /* append's parent buffers */
	size_t scratch_cap;             /* in hashes */
};

static uint64_t level_count(uint64_t size, unsigned level)
{
	return level >= 64 ? 0 : size >> level;
}

static int level_name(unsigned level, char name[24])
{
	snprintf(name, 24, "level-%02u", level);
	return 0;
}

static int open_level(struct tree *t, unsigned level)
{
	char name[24];
	int fd;

	if (t->fds[level] >= 0)
		return 0;
	level_name(level, name);
	fd = openat(t->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	t->fds[level] = fd;
	t->dir_dirty = true;
	return 0;
}

uint64_t tree_size(const struct tree *t)
{
	return __atomic_load_n(&t->size, __ATOMIC_ACQUIRE);
}

static void publish_size(struct tree *t, uint64_t size)
{
	__atomic_store_n(&t->size, size, __ATOMIC_RELEASE);
}

static int read_node(const struct tree *t, unsigned level, uint64_t index,
		     uint8_t out[HASH_SIZE])
{
	if (t->fds[level] < 0)
		return ST_ERANGE;
	return pread_all(t->fds[level], out, HASH_SIZE,
			 (off_t)(index * HASH_SIZE));
}

/* Fills edge[] from the files for a tree of the given size (T2). */
static int load_edge(struct tree *t, uint64_t size)
{
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		uint64_t c = level_count(size, l);
		if (c & 1) {
			int r = read_node(t, l, c - 1, t->edge[l]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int open_tree(struct tree **ret, const char *dir, bool rdonly)
{
	struct tree *t;
	uint64_t count[TREE_MAX_LEVELS];
	uint64_t size;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->dirfd = -1;
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++)
		t->fds[l] = -1;
	r = rdonly ? 0 : mkdir_p(dir, 0755);
	if (r < 0)
		goto fail;
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		r = -errno;
		goto fail;
	}

	/* Pass 1: open what exists and count whole hashes. */
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		char name[24];
		struct stat st;

		count[l] = 0;
		level_name(l, name);
		int fd = openat(t->dirfd, name, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			goto fail;
		}
		t->fds[l] = fd;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto fail;
		}
		count[l] = (uint64_t)st.st_size / HASH_SIZE;
	}

	/* Pass 2: the largest size every level supports. Level L holds
	 * count[L] hashes, enough for any size < (count[L] + 1) * 2^L. */
	size = count[0];
	for (unsigned l = 1; l < TREE_MAX_LEVELS; l++) {
		if (count[l] >= (size >> l))
			continue;
		size = ((count[l] + 1) << l) - 1;
	}

	/* Pass 3: cut every level to exactly floor(size / 2^L) hashes,
	 * dropping torn partial hashes and hashes past the size; close the
	 * files of levels that are empty at this size. */
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		struct stat st;
		uint64_t want = level_count(size, l);
		int fd = t->fds[l];

		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto fail;
		}
		if (!rdonly && (uint64_t)st.st_size != want * HASH_SIZE) {
			if (ftruncate(fd, (off_t)(want * HASH_SIZE)) < 0) {
				r = -errno;
				goto fail;
			}
			t->dirty |= (uint64_t)1 << l;
		}
		if (want == 0) {
			close(fd);
			t->fds[l] = -1;
			t->dirty &= ~((uint64_t)1 << l);
		}
	}

	r = load_edge(t, size);
	if (r < 0)
		goto fail;
	publish_size(t, size);
	/* A read-only tree refuses every write as if it had failed (T4). */
	if (rdonly)
		t->err = -EROFS;
	*ret = t;
	return 0;
fail:
	tree_free(t);
	return r;
}

int tree_open(struct tree **ret, const char *dir)
{
	return open_tree(ret, dir, false);
}

int tree_open_rdonly(struct tree **ret, const char *dir)
{
	return open_tree(ret, dir, true);
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++)
		if (t->fds[l] >= 0)
			close(t->fds[l]);
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->scratch);
	free(t);
}

int tree_append(struct tree *t, const uint8_t (*leaves)[HASH_SIZE], size_t n)
{
	uint64_t old = t->size, new_size;
	uint8_t edge[TREE_MAX_LEVELS][HASH_SIZE];
	uint64_t written = 0;
	size_t need = 0;
	int r = 0;

	if (t->err)
		return ST_ESTICKY;
	if (n == 0)
		return 0;
	if (n > UINT64_MAX - old)
		return ST_ERANGE;
	new_size = old + n;

	/* Level L >= 1 gains at most n / 2^L + 1 hashes: < n + 64 in all. */
	for (unsigned l = 1; l < TREE_MAX_LEVELS; l++)
		need += (size_t)(level_count(new_size, l) - level_count(old, l));
	if (need < TREE_MAX_LEVELS)
		need = TREE_MAX_LEVELS; /* never a NULL scratch */
	if (need > t->scratch_cap) {
		void *p = realloc(t->scratch, need * HASH_SIZE);
		if (!p)
			return -ENOMEM;
		t->scratch = p;
		t->scratch_cap = need;
	}
	memcpy(edge, t->edge, sizeof(edge));

	/* Level by level: the new hashes of level L are cur[0..cnt), at
	 * level positions [c_old, c_old + cnt). A new parent whose left
	 * child is at c_old - 1 (c_old odd) takes it from the right edge. */
	const uint8_t (*cur)[HASH_SIZE] = leaves;
	uint8_t (*next)[HASH_SIZE] = t->scratch;
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		uint64_t c_old = level_count(old, l);
		uint64_t c_new = level_count(new_size, l);
		uint64_t cnt = c_new - c_old;

		if (cnt == 0)
			break; /* no higher level can change either */
		r = open_level(t, l);
		if (r < 0)
			goto fail;
		r = pwrite_all(t->fds[l], cur, (size_t)cnt * HASH_SIZE,
			       (off_t)(c_old * HASH_SIZE));
		if (r < 0)
			goto fail;
		written |= (uint64_t)1 << l;

		if (l + 1 < TREE_MAX_LEVELS) {
			uint64_t p_old = level_count(old, l + 1);
			uint64_t p_new = level_count(new_size, l + 1);
			for (uint64_t j = p_old; j < p_new; j++) {
				uint64_t li = 2 * j;
				const uint8_t *left = li < c_old ? edge[l] : cur[li - c_old];
				hash_node(left, cur[li + 1 - c_old], next[j - p_old]);
			}
		}
		if (c_new & 1)
			memcpy(edge[l], cur[cnt - 1], HASH_SIZE);
		cur = (const uint8_t (*)[HASH_SIZE])next;
		next += level_count(new_size, l + 1) - level_count(old, l + 1);
	}

	memcpy(t->edge, edge, sizeof(edge));
	t->dirty |= written;
	publish_size(t, new_size);
	return 0;
fail:
	t->err = r;
	t->dirty |= written;
	return r;
}

int tree_sync(struct tree *t)
{
	int r = 0;

	if (t->err)
		return ST_ESTICKY;
	for (unsigned l = 0; l < TREE_MAX_LEVELS && t->dirty; l++) {
		if (!(t->dirty & ((uint64_t)1 << l)) || t->fds[l] < 0)
			continue;
		if (fdatasync(t->fds[l]) < 0) {
			r = -errno;
			goto fail;
		}
		t->dirty &= ~((uint64_t)1 << l);
	}
	t->dirty = 0;
	if (t->dir_dirty) {
		if (fsync(t->dirfd) < 0) {
			r = -errno;
			goto fail;
		}
		t->dir_dirty = false;
	}
	return 0;
fail:
	t->err = r;
	return r;
}

int tree_truncate(struct tree *t, uint64_t size)
{
	uint64_t cur = t->size;
	int r;

	if (t->err)
		return ST_ESTICKY;
	if (size > cur)
		return ST_ERANGE;
	if (size == cur)
		return 0;
	/* Readers must not go past the new size before the bytes go. */
	publish_size(t, size);
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		if (t->fds[l] < 0 || level_count(cur, l) == level_count(size, l))
			continue;
		if (ftruncate(t->fds[l], (off_t)(level_count(size, l) * HASH_SIZE)) < 0) {
			r = -errno;
			goto fail;
		}
		t->dirty |= (uint64_t)1 << l;
	}
	r = load_edge(t, size);
	if (r < 0)
		goto fail;
	return 0;
fail:
	t->err = r;
	return r;
}

int tree_node(struct tree *t, unsigned level, uint64_t index, uint8_t out[HASH_SIZE])
{
	if (level >= TREE_MAX_LEVELS || index >= level_count(tree_size(t), level))
		return ST_ERANGE;
	return read_node(t, level, index, out);
}

/*
 * Hash of the RFC 6962 subtree of leaves [start, end), where start is a
 * multiple of a power of two >= end - start (every subtree RFC 6962's
 * recursive split produces is one). It is the right-to-left fold of the
 * complete subtrees of the binary decomposition of end - start.
 */
static int range_hash(struct tree *t, uint64_t start, uint64_t end,
		      uint8_t out[HASH_SIZE])
{
	uint8_t parts[TREE_MAX_LEVELS][HASH_SIZE];
	uint64_t len = end - start, pos = start;
	int n = 0, r;

	for (int l = TREE_MAX_LEVELS - 1; l >= 0; l--) {
		if (!(len & ((uint64_t)1 << l)))
			continue;
		r = read_node(t, (unsigned)l, pos >> l, parts[n]);
		if (r < 0)
			return r;
		n++;
		pos += (uint64_t)1 << l;
	}
	if (n == 0)
		return ST_ERANGE;
	memcpy(out, parts[n - 1], HASH_SIZE);
	for (int i = n - 2; i >= 0; i--)
		hash_node(parts[i], out, out);
	return 0;
}

int tree_root(struct tree *t, uint64_t size, uint8_t out[HASH_SIZE])
{
	if (size > tree_size(t))
		return ST_ERANGE;
	if (size == 0) {
		hash_empty(out);
		return 0;
	}
	return range_hash(t, 0, size, out);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/*
 * PATH(m, D[n]) of RFC 9162 2.1.3.1, bottom up: at each level the sibling
 * of the node above the leaf, if any part of it lies within size. A
 * sibling past the end means the node is promoted unchanged (the RFC's
 * split never separates it from anything).
 */
int tree_inclusion_proof(struct tree *t, uint64_t index, uint64_t size,
			 uint8_t out[][HASH_SIZE], size_t *ret_n)
{
	size_t n = 0;
	int r;

	if (index >= size || size > tree_size(t))
		return ST_ERANGE;
	for (unsigned l = 0; l < TREE_MAX_LEVELS && ((size - 1) >> l) != 0; l++) {
		uint64_t sib = (index >> l) ^ 1;
		uint64_t start = sib << l;

		if (start >= size)
			continue;
		if (size - start >= ((uint64_t)1 << l))
			r = read_node(t, l, sib, out[n]);
		else
			r = range_hash(t, start, size, out[n]);
		if (r < 0)
			return r;
		n++;
	}
	*ret_n = n;
	return 0;
}

/*
 * SUBPROOF(m, D[n], true) of RFC 9162 2.1.4.1, unrolled: walking down,
 * each step adds one hash that the recursion appends after the deeper
 * part, so they are collected and emitted in reverse.
 */
int tree_consistency_proof(struct tree *t, uint64_t m, uint64_t n,
			   uint8_t out[][HASH_SIZE], size_t *ret_n)
{
	uint64_t stack[PROOF_MAX_HASHES][2];
	uint64_t off = 0, len = n, mm = m;
	size_t depth = 0, k = 0;
	bool b = true;
	int r;

	if (m == 0 || m > n || n > tree_size(t))
		return ST_ERANGE;
	while (mm != len) {
		uint64_t s = split_point(len);
		if (mm <= s) {
			stack[depth][0] = off + s;
			stack[depth][1] = off + len;
			len = s;
		} else {
			stack[depth][0] = off;
			stack[depth][1] = off + s;
			off += s;
			mm -= s;
			len -= s;
			b = false;
		}
		depth++;
	}
	if (!b) {
		r = range_hash(t, off, off + len, out[k++]);
		if (r < 0)
			return r;
	}
	while (depth > 0) {
		depth--;
		r = range_hash(t, stack[depth][0], stack[depth][1], out[k++]);
		if (r < 0)
			return r;
	}
	*ret_n = k;
	return 0;
}

int tree_read_tile(struct tree *t, unsigned level, uint64_t index,
		   unsigned width, struct buf *out)
{
	unsigned tl = level * TILE_HEIGHT;
	uint64_t have, first;
	size_t bytes;
	int r;

	if (level >= TREE_MAX_LEVELS / TILE_HEIGHT || width == 0 || width > TILE_WIDTH)
		return ST_ERANGE;
	have = level_count(tree_size(t), tl);
	if (index > (UINT64_MAX - width) / TILE_WIDTH)
		return ST_ERANGE;
	first = index * TILE_WIDTH;
	if (first + width > have)
		return ST_ERANGE;
	bytes = (size_t)width * HASH_SIZE;
	r = buf_reserve(out, bytes);
	if (r < 0)
		return r;
	r = pread_all(t->fds[tl], out->data + out->len, bytes,
		      (off_t)(first * HASH_SIZE));
	if (r < 0)
		return r;
	out->len += bytes;
	return 0;
}

bool merkle_verify_inclusion(const uint8_t leaf[HASH_SIZE], uint64_t index,
			     uint64_t size, const uint8_t proof[][HASH_SIZE],
			     size_t n, const uint8_t root[HASH_SIZE])
{
	uint8_t r[HASH_SIZE];
	uint64_t fn = index, sn;

	if (index >= size || n > PROOF_MAX_HASHES)
		return false;
	sn = size - 1;
	memcpy(r, leaf, HASH_SIZE);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			hash_node(proof[i], r, r);
			if (!(fn & 1)) {
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			hash_node(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, HASH_SIZE) == 0;
}

bool merkle_verify_consistency(uint64_t m, uint64_t n,
			       const uint8_t root_m[HASH_SIZE],
			       const uint8_t root_n[HASH_SIZE],
			       const uint8_t proof[][HASH_SIZE], size_t count)
{
	uint8_t fr[HASH_SIZE], sr[HASH_SIZE];
	uint64_t fn, sn;
	size_t i = 0;

	if (m == 0 || m > n || count > PROOF_MAX_HASHES)
		return false;
	if (m == n)
		return count == 0 && memcmp(root_m, root_n, HASH_SIZE) == 0;
	if (count == 0)
		return false;
	/* A power-of-two m is itself the first node of the path. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, HASH_SIZE);
	} else {
		memcpy(fr, proof[0], HASH_SIZE);
		i = 1;
	}
	memcpy(sr, fr, HASH_SIZE);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < count; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			hash_node(proof[i], fr, fr);
			hash_node(proof[i], sr, sr);
			if (!(fn & 1)) {
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			hash_node(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, root_m, HASH_SIZE) == 0 &&
	       memcmp(sr, root_n, HASH_SIZE) == 0;
}

/* ---- tlog-tiles paths ---- */

/* Writes the x-prefixed 3-digit groups of v; returns chars or -1. */
static int format_index(uint64_t v, char *out, size_t cap)
{
	unsigned groups[7];
	int n = 0, len = 0;

	do {
		groups[n++] = (unsigned)(v % 1000);
		v /= 1000;
	} while (v);
	for (int i = n - 1; i >= 0; i--) {
		int w = snprintf(out + len, cap - (size_t)len, i ? "x%03u/" : "%03u",
				 groups[i]);
		if (w < 0 || (size_t)w >= cap - (size_t)len)
			return -1;
		len += w;
	}
	return len;
}

int tile_path_format(const struct tile_ref *t, char *out, size_t cap)
{
	int len, w;

	if (!cap || t->level < -1 || t->level >= TREE_MAX_LEVELS ||
	    t->width == 0 || t->width > TILE_WIDTH)
		return -1;
	if (t->level < 0)
		len = snprintf(out, cap, "tile/entries/");
	else
		len = snprintf(out, cap, "tile/%d/", t->level);
	if (len < 0 || (size_t)len >= cap)
		return -1;
	w = format_index(t->index, out + len, cap - (size_t)len);
	if (w < 0)
		return -1;
	len += w;
	if (t->width < TILE_WIDTH) {
		w = snprintf(out + len, cap - (size_t)len, ".p/%u", t->width);
		if (w < 0 || (size_t)w >= cap - (size_t)len)
			return -1;
		len += w;
	}
	return len;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Reads the groups loosely (3 digits each, 'x' on all but the last,
 * no overflow), then demands that formatting the result gives back the
 * input byte for byte: the canonical-encoding check is the formatter.
 */
bool tile_path_parse(const char *path, size_t len, struct tile_ref *ret)
{
	struct tile_ref ref;
	char canon[80];
	size_t i, j;
	uint64_t v = 0, w = TILE_WIDTH;

	/* Longest canonical path: "tile/entries/" + 7 groups + ".p/255". */
	if (len < 8 || len >= sizeof(canon) || memcmp(path, "tile/", 5) != 0)
		return false;
	i = 5;
	if (len - i >= 8 && memcmp(path + i, "entries/", 8) == 0) {
		ref.level = -1;
		i += 8;
	} else {
		uint64_t l;
		for (j = i; j < len && is_digit(path[j]); j++)
			;
		if (j == len || path[j] != '/' || !st_parse_u64(path + i, j - i, &l) ||
		    l >= TREE_MAX_LEVELS)
			return false;
		ref.level = (int)l;
		i = j + 1;
	}
	for (;;) {
		bool more = i < len && path[i] == 'x';
		unsigned g;

		if (more)
			i++;
		if (len - i < 3 || !is_digit(path[i]) || !is_digit(path[i + 1]) ||
		    !is_digit(path[i + 2]))
			return false;
		g = (unsigned)(path[i] - '0') * 100 + (unsigned)(path[i + 1] - '0') * 10 +
		    (unsigned)(path[i + 2] - '0');
		if (v > (UINT64_MAX - g) / 1000)
			return false;
		v = v * 1000 + g;
		i += 3;
		if (!more)
			break;
		if (i == len || path[i] != '/')
			return false;
		i++;
	}
	if (i < len) {
		if (len - i < 4 || memcmp(path + i, ".p/", 3) != 0 ||
		    !st_parse_u64(path + i + 3, len - i - 3, &w) || w == 0 ||
		    w >= TILE_WIDTH)
			return false;
	}
	ref.index = v;
	ref.width = (unsigned)w;
	if (tile_path_format(&ref, canon, sizeof(canon)) != (int)len ||
	    memcmp(canon, path, len) != 0)
		return false;
	*ret = ref;
	return true;
}
