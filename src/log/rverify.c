/*
 * rverify.c - verify a remote log through its tlog-tiles read API.
 *
 * One pass over the level-0 tiles, left to right. Each leaf hash is pushed
 * onto a compact-range accumulator (RFC 6962 style): after c leaves the
 * stack holds one complete subtree hash per set bit of c, highest first,
 * so it never holds more than 64 hashes. A push that completes a subtree
 * of height 8k (k >= 1) has just computed, from level-0 hashes only, the
 * hash that tile level k must hold at that index: it is compared with the
 * served tile there and then. Since every hash of every tile of the tree
 * of size n is the hash of a complete subtree within n, every byte of
 * every needed tile is checked, and each tile is fetched once (one cached
 * tile per level). When the count reaches the saved size m, the stack
 * folded right to left is the root of the tree of size m: that is the
 * consistency check, with no proof to trust because the hashes it folds
 * are the ones the new root is then checked against. At the end the fold
 * of the whole stack must equal the checkpoint's root.
 *
 * Invariants:
 *   - c->depth == popcount(c->count) after every push;
 *   - lv[k] caches the tile of level k that holds node index >> 8; nodes of
 *     a level are produced in increasing index order, so a tile is never
 *     fetched twice;
 *   - a fetch failure or a resource of the wrong size stops the walk
 *     (c->err): nothing after it can be computed; hash mismatches are
 *     findings and the walk goes on, so one run names every bad tile;
 *   - the state file is written only when there were no findings.
 */
#include "log/rverify.h"
#include "log/tree.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TILE_LEVELS (TREE_MAX_LEVELS / TILE_HEIGHT)   /* 8: tile levels 0..7 */
#define PATH_CAP 80

struct level_tile {
	bool have;
	uint64_t index;
	unsigned width;               /* hashes in data that are checked */
	char path[PATH_CAP];          /* the path it was read from */
	uint8_t data[RVERIFY_TILE_MAX];
};

struct ctx {
	const struct rverify_options *o;
	struct rverify_result *res;
	uint64_t n;                   /* the served checkpoint's size */
	bool want_m;                  /* fold the root at the saved size m */
	uint64_t m;
	bool have_root_m;
	uint8_t root_m[HASH_SIZE];
	/* The accumulator. */
	uint8_t stack[TREE_MAX_LEVELS][HASH_SIZE];
	unsigned depth;
	uint64_t count;
	/* Higher-level tiles, levels 1..7. */
	struct level_tile lv[TILE_LEVELS];
	struct buf tile;              /* the current level-0 tile */
	struct buf scratch;           /* a higher tile, before it is cached */
	struct buf bundle;            /* the current entry bundle */
	char tile_path[PATH_CAP];
	/* Sampling (Knuth's algorithm S over bundles [0, nb-1)). */
	uint64_t rng;
	uint64_t need;
	unsigned reported;
	int err;                      /* first fetch or state failure */
};

static void finding(struct ctx *c, unsigned kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finding(struct ctx *c, unsigned kind, const char *fmt, ...)
{
	unsigned max = c->o->max_reports ? c->o->max_reports : 100;
	char line[1024];
	va_list ap;

	c->res->found |= kind;
	c->res->findings++;
	if (!c->o->report || c->reported > max)
		return;
	if (c->reported++ == max) {
		c->o->report(c->o->report_arg,
			     "(further findings are counted but not shown)");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->o->report(c->o->report_arg, line);
}

/* Two hashes that differ, in hex, as prefixes just long enough to show
 * the first differing byte (at least 8 bytes). */
struct hexp { char s[2 * HASH_SIZE + 1]; };
static size_t show_len(const uint8_t a[HASH_SIZE], const uint8_t b[HASH_SIZE])
{
	size_t d = 0;
	while (d < HASH_SIZE && a[d] == b[d])
		d++;
	return d < 8 ? 8 : d + 1 > HASH_SIZE ? HASH_SIZE : d + 1;
}
static struct hexp hp(const uint8_t h[HASH_SIZE], size_t n)
{
	struct hexp x;
	hex_encode(h, n, x.s);
	return x;
}

struct b64 { char s[BASE64_LEN(HASH_SIZE) + 1]; };
static struct b64 b64(const uint8_t h[HASH_SIZE])
{
	struct b64 x;
	base64_encode(h, HASH_SIZE, x.s);
	return x;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, bound), bound > 0, without modulo bias. */
static uint64_t rand_below(struct ctx *c, uint64_t bound)
{
	uint64_t lim = UINT64_MAX - UINT64_MAX % bound, v;
	for (int i = 0; i < 64; i++) {
		v = splitmix64(&c->rng);
		if (v < lim)
			return v % bound;
	}
	return splitmix64(&c->rng) % bound;   /* 2^-64 odds; bias irrelevant */
}

static void fmt_path(const struct tile_ref *t, char out[PATH_CAP])
{
	if (tile_path_format(t, out, PATH_CAP) < 0)
		snprintf(out, PATH_CAP, "tile/?");
}

/* Reads tile t into b. A missing partial tile is read as the full tile
 * (a server may delete partial tiles once the full one exists); *ret_full
 * tells which, and path is the one that answered (or failed). */
static int fetch_tile(struct ctx *c, const struct tile_ref *t, struct buf *b,
		      char path[PATH_CAP], bool *ret_full)
{
	int r;

	buf_reset(b);
	fmt_path(t, path);
	*ret_full = t->width == TILE_WIDTH;
	r = c->o->fetch(c->o->fetch_arg, path, b);
	if (r == ST_ENOTFOUND && t->width < TILE_WIDTH) {
		struct tile_ref full = *t;
		full.width = TILE_WIDTH;
		buf_reset(b);
		fmt_path(&full, path);
		*ret_full = true;
		r = c->o->fetch(c->o->fetch_arg, path, b);
		if (r == ST_ENOTFOUND) {
			fmt_path(t, path);   /* name the one that should exist */
			*ret_full = false;
		}
	}
	if (r < 0) {
		finding(c, RV_FETCH, "%s: cannot fetch: %s%s", path, st_strerror(r),
			r == ST_ENOTFOUND && t->width < TILE_WIDTH ? " (nor the full tile)" : "");
		c->err = r;
	}
	return r;
}

/* Reads a hash tile and checks its length. */
static int fetch_hash_tile(struct ctx *c, const struct tile_ref *t, struct buf *b,
			   char path[PATH_CAP])
{
	bool full;
	int r = fetch_tile(c, t, b, path, &full);
	if (r < 0)
		return r;
	size_t want = (size_t)(full ? TILE_WIDTH : t->width) * HASH_SIZE;
	if (b->len != want) {
		finding(c, RV_FETCH, "%s: %zu bytes, expected %zu (%u hashes)", path,
			b->len, want, full ? TILE_WIDTH : t->width);
		c->err = ST_ECORRUPT;
		return c->err;
	}
	c->res->tiles++;
	return 0;
}

/* Node j of tile level k has just been recomputed as h: compare it with
 * the served tile. */
static void check_node(struct ctx *c, unsigned k, uint64_t j, const uint8_t h[HASH_SIZE])
{
	struct level_tile *lt = &c->lv[k];
	uint64_t ti = j / TILE_WIDTH, have = c->n >> (k * TILE_HEIGHT);
	unsigned pos = (unsigned)(j % TILE_WIDTH);

	if (c->err)
		return;
	if (!lt->have || lt->index != ti) {
		uint64_t left = have - ti * TILE_WIDTH;
		struct tile_ref t = { (int)k, ti, left >= TILE_WIDTH ? TILE_WIDTH : (unsigned)left };
		lt->have = false;
		if (fetch_hash_tile(c, &t, &c->scratch, lt->path) < 0)
			return;
		memcpy(lt->data, c->scratch.data, c->scratch.len);
		lt->have = true;
		lt->index = ti;
		lt->width = t.width;
	}
	const uint8_t *got = lt->data + (size_t)pos * HASH_SIZE;
	if (memcmp(got, h, HASH_SIZE) != 0) {
		unsigned sh = k * TILE_HEIGHT;
		size_t sl = show_len(got, h);
		finding(c, RV_TILE, "%s: hash %u (subtree of entries [%llu, %llu)) is %s..., "
			"but the level-0 hashes below it fold to %s...",
			lt->path, pos, (unsigned long long)(j << sh),
			(unsigned long long)((j + 1) << sh),
			hp(got, sl).s, hp(h, sl).s);
	}
}

static void fold(const struct ctx *c, uint8_t out[HASH_SIZE])
{
	if (c->depth == 0) {
		hash_empty(out);
		return;
	}
	memcpy(out, c->stack[c->depth - 1], HASH_SIZE);
	for (unsigned i = c->depth - 1; i-- > 0;)
		hash_node(c->stack[i], out, out);
}

static void push(struct ctx *c, const uint8_t leaf[HASH_SIZE])
{
	uint8_t cur[HASH_SIZE];
	uint64_t cnt = c->count;
	unsigned height = 0;

	memcpy(cur, leaf, HASH_SIZE);
	while ((cnt >> height) & 1) {
		hash_node(c->stack[--c->depth], cur, cur);
		height++;
		if (height % TILE_HEIGHT == 0)
			check_node(c, height / TILE_HEIGHT, cnt >> height, cur);
	}
	memcpy(c->stack[c->depth++], cur, HASH_SIZE);
	c->count++;
	if (c->want_m && c->count == c->m) {
		fold(c, c->root_m);
		c->have_root_m = true;
	}
}

static bool bundle_selected(struct ctx *c, uint64_t i, uint64_t nb)
{
	if (c->o->sample == RVERIFY_ALL || i == nb - 1)
		return true;
	if (c->need == 0)
		return false;
	if (rand_below(c, nb - 1 - i) < c->need) {
		c->need--;
		return true;
	}
	return false;
}

/* Checks entry bundle i (width w) against the w leaf hashes of its tile. */
static void check_bundle(struct ctx *c, uint64_t i, unsigned w, const uint8_t *leaves)
{
	struct tile_ref t = { -1, i, w };
	char path[PATH_CAP];
	bool full;
	size_t off = 0;
	unsigned j;

	if (fetch_tile(c, &t, &c->bundle, path, &full) < 0)
		return;
	c->res->bundles++;
	for (j = 0; j < w; j++) {
		const uint8_t *p = c->bundle.data + off;
		uint8_t h[HASH_SIZE];
		size_t len;

		if (c->bundle.len - off < 2) {
			finding(c, RV_ENTRY, "%s: ends at byte %zu, inside entry %u of %u "
				"(seq %llu): no length", path, c->bundle.len, j, w,
				(unsigned long long)(i * TILE_WIDTH + j));
			return;
		}
		len = get_be16(p);
		if (c->bundle.len - off - 2 < len) {
			finding(c, RV_ENTRY, "%s: ends at byte %zu, inside entry %u of %u "
				"(seq %llu): %zu bytes announced at byte %zu", path, c->bundle.len,
				j, w, (unsigned long long)(i * TILE_WIDTH + j), len, off);
			return;
		}
		hash_leaf(p + 2, len, h);
		c->res->entries++;
		const uint8_t *want = leaves + (size_t)j * HASH_SIZE;
		if (memcmp(h, want, HASH_SIZE) != 0) {
			size_t sl = show_len(h, want);
			finding(c, RV_ENTRY, "%s: entry %u (seq %llu, byte %zu) hashes to %s..., "
				"but %s has %s... for it", path, j,
				(unsigned long long)(i * TILE_WIDTH + j), off, hp(h, sl).s,
				c->tile_path, hp(want, sl).s);
		}
		off += 2 + len;
	}
	if (!full && off != c->bundle.len)
		finding(c, RV_ENTRY, "%s: %zu bytes after its %u entries", path,
			c->bundle.len - off, w);
}

/* The tree walk: every level-0 tile, its entries, and (through push) every
 * higher tile. */
static void walk(struct ctx *c)
{
	uint64_t nt = c->n / TILE_WIDTH + (c->n % TILE_WIDTH != 0);
	bool progressed = false;

	for (uint64_t i = 0; i < nt && !c->err; i++) {
		uint64_t left = c->n - i * TILE_WIDTH;
		struct tile_ref t = { 0, i, left >= TILE_WIDTH ? TILE_WIDTH : (unsigned)left };

		if (fetch_hash_tile(c, &t, &c->tile, c->tile_path) < 0)
			break;
		if (bundle_selected(c, i, nt)) {
			check_bundle(c, i, t.width, c->tile.data);
			if (c->err)
				break;
		}
		for (unsigned j = 0; j < t.width && !c->err; j++)
			push(c, c->tile.data + (size_t)j * HASH_SIZE);
		if (c->o->progress && (i % 256 == 255 || i + 1 == nt)) {
			fprintf(c->o->progress, "\rverify: %llu/%llu entries",
				(unsigned long long)c->count, (unsigned long long)c->n);
			progressed = true;
		}
	}
	if (progressed)
		fputc('\n', c->o->progress);
}

/* The saved checkpoint: the last successful run's note. Its signature was
 * checked when it was saved; only its body is read back. 1 when there is
 * one, 0 when there is none. */
static int load_state(struct ctx *c, struct buf *sb, struct checkpoint *ret)
{
	const char *path = c->o->state_path;
	size_t split = 0;
	int r = read_file(path, NOTE_MAX_SIZE, sb);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		finding(c, RV_STATE, "state %s: cannot read: %s", path, st_strerror(r));
		return c->err = r;
	}
	/* The text ends at the last empty line (no signature line is empty). */
	for (size_t i = 0; i + 1 < sb->len; i++)
		if (sb->data[i] == '\n' && sb->data[i + 1] == '\n')
			split = i + 1;
	if (split == 0 || checkpoint_parse((const char *)sb->data, split, ret) < 0) {
		finding(c, RV_STATE, "state %s: not a signed checkpoint (remove it to "
			"start over, giving up the comparison with the past)", path);
		return c->err = ST_EINVAL;
	}
	return 1;
}

static int save_state(struct ctx *c, const struct buf *note)
{
	const char *path = c->o->state_path;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int r = 0;

	if (slash && slash != path) {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			r = -ENAMETOOLONG;
		else {
			memcpy(dir, path, n);
			dir[n] = 0;
			r = mkdir_p(dir, 0700);
		}
	}
	if (r == 0)
		r = write_file_atomic(path, note->data, note->len, 0600);
	if (r < 0) {
		finding(c, RV_STATE, "state %s: cannot save the verified checkpoint: %s",
			path, st_strerror(r));
		c->err = r;
		return r;
	}
	c->res->saved = true;
	return 0;
}

int rverify_run(const struct rverify_options *o, struct rverify_result *res)
{
	struct buf note = BUF_INIT(NOTE_MAX_SIZE), sb = BUF_INIT(NOTE_MAX_SIZE);
	struct note_opened op;
	struct checkpoint cp, old;
	struct ctx *c;
	int r, have_old = 0;

	memset(res, 0, sizeof(*res));
	if (!o->fetch || !o->keys || o->nkeys == 0)
		return ST_EINVAL;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->o = o;
	c->res = res;
	buf_init(&c->tile, RVERIFY_TILE_MAX);
	buf_init(&c->scratch, RVERIFY_TILE_MAX);
	buf_init(&c->bundle, RVERIFY_BUNDLE_MAX);
	c->rng = o->seed;
	if (c->rng == 0 && (r = random_bytes(&c->rng, sizeof(c->rng))) < 0) {
		c->err = r;
		goto out;
	}

	/* 1. The checkpoint and its signature. */
	r = o->fetch(o->fetch_arg, "checkpoint", &note);
	if (r < 0) {
		finding(c, RV_FETCH, "checkpoint: cannot fetch: %s", st_strerror(r));
		c->err = r;
		goto out;
	}
	r = note_open(note.data, note.len, o->keys, o->nkeys, &op);
	if (r < 0) {
		finding(c, RV_SIG, r == ST_ESIG ?
			"checkpoint: not signed by any given key (or a given key's signature "
			"does not verify)" : "checkpoint: not a well-formed signed note");
		goto out;
	}
	if (checkpoint_parse(op.text, op.text_len, &cp) < 0) {
		finding(c, RV_SIG, "checkpoint: signed, but not a tlog-checkpoint body "
			"(origin, size, base64 root)");
		goto out;
	}
	res->size = c->n = cp.size;
	memcpy(res->root, cp.root, HASH_SIZE);
	{
		const char *kn = o->keys[op.verified].name;
		if (strlen(kn) != cp.origin_len || memcmp(kn, cp.origin, cp.origin_len) != 0)
			finding(c, RV_ORIGIN, "checkpoint: origin \"%.*s\" is not the name of "
				"the key that signed it (\"%s\")", (int)cp.origin_len, cp.origin, kn);
	}

	/* 4a. The saved checkpoint: rollback, and which root to fold. */
	if (o->state_path && (have_old = load_state(c, &sb, &old)) < 0)
		goto out;
	if (have_old) {
		if (old.origin_len != cp.origin_len ||
		    memcmp(old.origin, cp.origin, cp.origin_len) != 0) {
			finding(c, RV_STATE, "state %s: saved for origin \"%.*s\", but the "
				"server's checkpoint is for \"%.*s\"", o->state_path,
				(int)old.origin_len, old.origin, (int)cp.origin_len, cp.origin);
		} else if (old.size > cp.size) {
			res->had_state = true;
			res->old_size = old.size;
			memcpy(res->old_root, old.root, HASH_SIZE);
			finding(c, RV_ROLLBACK, "checkpoint: rollback: the server's tree has "
				"size %llu (root %s), smaller than the saved checkpoint's size "
				"%llu (root %s) in %s", (unsigned long long)cp.size,
				b64(cp.root).s, (unsigned long long)old.size, b64(old.root).s,
				o->state_path);
		} else {
			res->had_state = true;
			res->old_size = old.size;
			memcpy(res->old_root, old.root, HASH_SIZE);
			c->want_m = true;
			c->m = old.size;
			if (c->m == 0) {
				hash_empty(c->root_m);
				c->have_root_m = true;
			}
		}
	}

	/* 2 and 3. Every tile, the sampled entries, the root. */
	{
		uint64_t nb = c->n / TILE_WIDTH + (c->n % TILE_WIDTH != 0);
		c->need = o->sample;
		res->sampled = o->sample != RVERIFY_ALL && nb > 0 && o->sample < nb - 1;
	}
	walk(c);
	if (c->err)
		goto out;
	{
		uint8_t root[HASH_SIZE];
		fold(c, root);
		if (memcmp(root, cp.root, HASH_SIZE) != 0)
			finding(c, RV_ROOT, "checkpoint: root %s (size %llu), but the "
				"%llu level-0 hashes of the tiles fold to %s", b64(cp.root).s,
				(unsigned long long)cp.size, (unsigned long long)c->n, b64(root).s);
	}

	/* 4b. Consistency with the saved checkpoint. */
	if (c->want_m && c->have_root_m && memcmp(c->root_m, old.root, HASH_SIZE) != 0)
		finding(c, RV_FORK, "checkpoint: fork: the saved checkpoint (size %llu, "
			"root %s) is not a prefix of the server's tree (size %llu, root %s): "
			"its first %llu entries fold to %s", (unsigned long long)old.size,
			b64(old.root).s, (unsigned long long)cp.size, b64(cp.root).s,
			(unsigned long long)old.size, b64(c->root_m).s);

	if (res->findings == 0 && o->state_path)
		save_state(c, &note);
out:
	r = c->err ? c->err : res->findings ? ST_ECORRUPT : 0;
	buf_release(&c->tile);
	buf_release(&c->scratch);
	buf_release(&c->bundle);
	free(c);
	buf_release(&note);
	buf_release(&sb);
	return r;
}

int rverify_state_name(const char *url, size_t len, struct buf *out)
{
	uint8_t h[HASH_SIZE];
	char hex[17];

	sha256(url, len, h);
	hex_encode(h, 8, hex);
	return buf_printf(out, "verify-%s.checkpoint", hex);
}
