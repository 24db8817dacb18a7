/*
 * verify.c - the independent check of a log directory.
 *
 * Everything is recomputed from the segment bytes: frames and CRCs, JSON
 * well-formedness and the server fields of every entry, seq continuity,
 * every tenant's hash chain, received_at monotonicity, every leaf hash,
 * every stored tree hash (and so every tile byte), every checkpoint's
 * signature and root at its size, the checkpoint history's hash chain,
 * and the state snapshot's record of that history (rollback).
 *
 * Consistency between successive checkpoints follows from recomputing
 * each root from the same entries (two roots recomputed from one leaf
 * sequence at sizes m <= n are consistent by construction); verify also
 * requires sizes never to decrease and equal sizes to have equal roots,
 * and proves each successive pair with an RFC 9162 consistency proof from
 * the read-only stored tree (check_consistency).
 *
 * Derived data that lags (a tree or index shorter than the entries, a
 * torn, unacknowledged tail on the last segment) is a warning: recovery
 * repairs it. Anything else that does not match is an error, and the
 * first one is reported with its file, byte offset and seq.
 *
 * The per-entry work (frame, parse, leaf hash) runs on a worker thread
 * per chunk while the main thread checks order-dependent facts (chains,
 * tree, checkpoints); see check_chunk().
 */
#include "log/verify.h"
#include "log/log.h"
#include "log/note.h"
#include "log/segment.h"
#include "log/tenants.h"
#include "log/tree.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEVEL_BUF 2048            /* hashes buffered per stored level */
#define CHUNK 2048                /* entries per worker chunk */

struct cp {
	uint64_t size;
	uint8_t root[HASH_SIZE];
	char label[160];          /* where it came from, for messages */
};

struct level {
	int fd;
	uint64_t n;               /* hashes in the file */
	uint8_t *buf;
	uint64_t first;           /* index of buf[0] */
	size_t have;
};

/* What a worker extracts from one entry. */
struct item {
	int status;               /* 0, or the error */
	char msg[400];
	size_t off;               /* frame offset in the segment */
	uint32_t len;
	struct stored_info si;
	uint8_t leaf[HASH_SIZE];
};

struct ctx {
	const char *dir;
	struct log_meta meta;
	struct note_key *keys;
	size_t nkeys;
	struct cp *cps;
	size_t ncps, next_cp;
	size_t nhist;             /* cps[0..nhist) came from the history */
	struct cp *hist;          /* the history's checkpoints in history order */
	struct { unsigned level; uint8_t h[HASH_SIZE]; } stack[TREE_MAX_LEVELS + 1];
	size_t depth;
	struct level lv[TREE_MAX_LEVELS];
	struct tenants tenants;
	uint64_t seq;
	int64_t last_recv;
	struct verify_result *res;
	FILE *progress;
};

static int fail(struct ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	if (!c->res->error[0]) {
		va_start(ap, fmt);
		vsnprintf(c->res->error, sizeof(c->res->error), fmt, ap);
		va_end(ap);
	}
	return code;
}

static void warn(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	if (!c->res->warnings++) {
		va_start(ap, fmt);
		vsnprintf(c->res->warning, sizeof(c->res->warning), fmt, ap);
		va_end(ap);
	}
}

/* ---- keys and checkpoints ------------------------------------------------ */

static int add_key(struct ctx *c, const char *s, size_t n)
{
	struct note_key *nk = realloc(c->keys, (c->nkeys + 1) * sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	c->keys = nk;
	if (note_vkey_parse(s, n, &c->keys[c->nkeys]) < 0)
		return fail(c, ST_EINVAL, "verifier key \"%.*s\" is malformed", (int)n, s);
	c->nkeys++;
	return 0;
}

static int load_keys(struct ctx *c, const struct verify_options *o)
{
	struct buf b = BUF_INIT(1 << 20);
	int r = 0;

	if (o && o->nkeys) {
		for (size_t i = 0; i < o->nkeys && r == 0; i++)
			r = add_key(c, o->keys[i], strlen(o->keys[i]));
		return r;
	}
	r = log_public_keys(c->dir, &b);
	if (r < 0) {
		buf_release(&b);
		return fail(c, r, "%s/keys/public: %s", c->dir, st_strerror(r));
	}
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end && r == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl > p)
			r = add_key(c, p, (size_t)(nl - p));
		p = nl + 1;
	}
	buf_release(&b);
	return r;
}

static int add_cp(struct ctx *c, uint64_t size, const uint8_t root[HASH_SIZE],
		  const char *label)
{
	struct cp *n = realloc(c->cps, (c->ncps + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->cps = n;
	n[c->ncps].size = size;
	memcpy(n[c->ncps].root, root, HASH_SIZE);
	snprintf(n[c->ncps].label, sizeof(n[c->ncps].label), "%s", label);
	c->ncps++;
	return 0;
}

/* Opens a signed checkpoint note with the trusted keys and checks its
 * origin. */
static int open_cp(struct ctx *c, const uint8_t *note, size_t len,
		   struct checkpoint *ret, const char *label)
{
	struct note_opened no;
	int r = note_open(note, len, c->keys, c->nkeys, &no);
	if (r < 0)
		return fail(c, ST_ECORRUPT, "%s: signature does not verify with any "
			    "trusted key (%s)", label, st_strerror(r));
	r = checkpoint_parse(no.text, no.text_len, ret);
	if (r < 0)
		return fail(c, ST_ECORRUPT, "%s: malformed checkpoint body", label);
	if (ret->origin_len != strlen(c->meta.origin) ||
	    memcmp(ret->origin, c->meta.origin, ret->origin_len))
		return fail(c, ST_ECORRUPT, "%s: origin \"%.*s\" is not this log's \"%s\"",
			    label, (int)ret->origin_len, ret->origin, c->meta.origin);
	return 0;
}

static int load_history(struct ctx *c, struct buf *last_note, struct buf *prev_note)
{
	char path[PATH_MAX], label[160];
	const uint8_t *p = NULL;
	size_t n = 0;
	uint8_t prev[HASH_SIZE] = {0};
	struct log_state_head sh;
	uint64_t count = 0, last_size = 0;
	uint8_t last_root[HASH_SIZE] = {0}, at_state[HASH_SIZE] = {0};
	size_t off = 0;
	int r, sr;

	snprintf(path, sizeof(path), "%s/checkpoints", c->dir);
	if ((r = map_file(path, &p, &n)) < 0)
		return fail(c, r, "%s: %s", path, st_strerror(r));
	sr = log_state_head(c->dir, &sh);
	while (off < n) {
		uint32_t len;
		struct checkpoint cp;
		int fc = seg_frame_check(p + off, n - off, &len);

		snprintf(label, sizeof(label), "checkpoints: byte %zu: checkpoint #%llu",
			 off, (unsigned long long)count);
		if (fc == 0) {
			warn(c, "checkpoints: byte %zu: torn, unfinished record at the end "
			     "(recovery drops it)", off);
			break;
		}
		if (fc < 0 || len < HASH_SIZE) {
			r = fail(c, ST_ECORRUPT, "%s: frame CRC mismatch", label);
			goto out;
		}
		const uint8_t *rec = p + off + SEG_FRAME_HDR;
		if (memcmp(rec, prev, HASH_SIZE)) {
			r = fail(c, ST_ECORRUPT, "%s: does not chain to the checkpoint before "
				 "it (records deleted, inserted or reordered)", label);
			goto out;
		}
		if ((r = open_cp(c, rec + HASH_SIZE, len - HASH_SIZE, &cp, label)) < 0)
			goto out;
		if (count && cp.size < last_size) {
			r = fail(c, ST_ECORRUPT, "%s: tree size %llu is smaller than the "
				 "previous checkpoint's %llu (rollback)", label,
				 (unsigned long long)cp.size, (unsigned long long)last_size);
			goto out;
		}
		if (count && cp.size == last_size && memcmp(cp.root, last_root, HASH_SIZE)) {
			r = fail(c, ST_ECORRUPT, "%s: same size %llu as the previous checkpoint "
				 "with a different root (fork)", label, (unsigned long long)cp.size);
			goto out;
		}
		if ((r = add_cp(c, cp.size, cp.root, label)) < 0)
			goto out;
		last_size = cp.size;
		memcpy(last_root, cp.root, HASH_SIZE);
		sha256(rec, len, prev);
		count++;
		if (sr == 0 && count == sh.cp_count)
			memcpy(at_state, prev, HASH_SIZE);
		buf_reset(prev_note);
		if ((r = buf_append(prev_note, last_note->data ? last_note->data : (const uint8_t *)"",
				    last_note->len)) < 0)
			goto out;
		buf_reset(last_note);
		if ((r = buf_append(last_note, rec + HASH_SIZE, len - HASH_SIZE)) < 0)
			goto out;
		off += SEG_FRAME_HDR + len;
	}
	c->res->checkpoints = count;
	c->nhist = c->ncps;
	if (count == 0) {
		r = fail(c, ST_ECORRUPT, "checkpoints: the history is empty (init issues "
			 "the first checkpoint)");
		goto out;
	}
	if (sr == 0 && (count < sh.cp_count ||
			memcmp(at_state, sh.cp_last, HASH_SIZE))) {
		r = fail(c, ST_ECORRUPT, "checkpoints: history rolled back: the state "
			 "records %llu checkpoints ending in a different one than the %llu "
			 "the history holds", (unsigned long long)sh.cp_count,
			 (unsigned long long)count);
		goto out;
	}
	if (sr == ST_ECORRUPT)
		warn(c, "state: fails its CRC (derived data; recovery rewrites it)");
	r = 0;
out:
	unmap_file(p, n);
	return r;
}

static int load_trusted(struct ctx *c, const struct verify_options *o)
{
	for (size_t i = 0; o && i < o->ntrusted; i++) {
		struct buf b = BUF_INIT(NOTE_MAX_SIZE);
		struct checkpoint cp;
		char label[160];
		int r = read_file(o->trusted[i], NOTE_MAX_SIZE, &b);

		snprintf(label, sizeof(label), "trusted checkpoint %s", o->trusted[i]);
		if (r < 0) {
			buf_release(&b);
			return fail(c, r, "%s: %s", label, st_strerror(r));
		}
		r = open_cp(c, b.data, b.len, &cp, label);
		/* Every checkpoint ever issued is in the history; one the caller
		 * holds that is not there means the history lost records. */
		bool found = false;
		for (size_t k = 0; r == 0 && k < c->nhist && !found; k++)
			found = c->cps[k].size == cp.size &&
				!memcmp(c->cps[k].root, cp.root, HASH_SIZE);
		if (r == 0 && !found)
			r = fail(c, ST_ECORRUPT, "%s: size %llu is not in the checkpoint "
				 "history (history rolled back or rewritten)", label,
				 (unsigned long long)cp.size);
		if (r == 0)
			r = add_cp(c, cp.size, cp.root, label);
		buf_release(&b);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_cp(const void *a, const void *b)
{
	const struct cp *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* ---- the recomputed tree ---------------------------------------------------- */

static int open_levels(struct ctx *c)
{
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		char path[PATH_MAX];
		struct stat st;
		c->lv[l].fd = -1;
		snprintf(path, sizeof(path), "%s/tree/level-%02u", c->dir, l);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0) {
			close(fd);
			continue;
		}
		c->lv[l].fd = fd;
		c->lv[l].n = (uint64_t)st.st_size / HASH_SIZE;
		c->lv[l].buf = malloc(LEVEL_BUF * HASH_SIZE);
		if (!c->lv[l].buf)
			return -ENOMEM;
	}
	return 0;
}

static void tile_name(unsigned level, uint64_t i, char *out, size_t cap)
{
	if (level % TILE_HEIGHT == 0) {
		struct tile_ref t = { (int)(level / TILE_HEIGHT), i / TILE_WIDTH, TILE_WIDTH };
		char p[128];
		if (tile_path_format(&t, p, sizeof(p)) < 0)
			snprintf(p, sizeof(p), "tile/%u/?", level / TILE_HEIGHT);
		snprintf(out, cap, "%s byte %llu", p,
			 (unsigned long long)(i % TILE_WIDTH) * HASH_SIZE);
	} else {
		snprintf(out, cap, "interior level %u", level);
	}
}

/* Compares a recomputed node with the stored one, if stored. */
static int check_node(struct ctx *c, unsigned level, uint64_t i,
		      const uint8_t h[HASH_SIZE])
{
	struct level *L = &c->lv[level];
	if (L->fd < 0 || i >= L->n)
		return 0; /* lagging derived data: reported at the end */
	if (i < L->first || i >= L->first + L->have) {
		uint64_t want = L->n - i < LEVEL_BUF ? L->n - i : LEVEL_BUF;
		int r = pread_all(L->fd, L->buf, (size_t)want * HASH_SIZE,
				  (off_t)(i * HASH_SIZE));
		if (r < 0)
			return fail(c, r, "tree/level-%02u: read: %s", level, st_strerror(r));
		L->first = i;
		L->have = (size_t)want;
	}
	if (memcmp(L->buf + (i - L->first) * HASH_SIZE, h, HASH_SIZE)) {
		char where[160];
		tile_name(level, i, where, sizeof(where));
		return fail(c, ST_ECORRUPT, "tree/level-%02u: hash %llu (%s) does not match "
			    "the hash recomputed from the entries (leaves %llu..%llu)",
			    level, (unsigned long long)i, where,
			    (unsigned long long)(i << level),
			    (unsigned long long)(((i + 1) << level) - 1));
	}
	return 0;
}

static void root_of_stack(struct ctx *c, uint8_t out[HASH_SIZE])
{
	if (c->depth == 0) {
		hash_empty(out);
		return;
	}
	memcpy(out, c->stack[c->depth - 1].h, HASH_SIZE);
	for (size_t k = c->depth - 1; k-- > 0;)
		hash_node(c->stack[k].h, out, out);
}

static int push_leaf(struct ctx *c, uint64_t seq, const uint8_t leaf[HASH_SIZE])
{
	int r = check_node(c, 0, seq, leaf);
	if (r < 0)
		return r;
	c->stack[c->depth].level = 0;
	memcpy(c->stack[c->depth].h, leaf, HASH_SIZE);
	c->depth++;
	uint64_t n = seq + 1;
	while (c->depth >= 2 && c->stack[c->depth - 1].level == c->stack[c->depth - 2].level) {
		unsigned lvl = c->stack[c->depth - 1].level + 1;
		hash_node(c->stack[c->depth - 2].h, c->stack[c->depth - 1].h,
			  c->stack[c->depth - 2].h);
		c->stack[c->depth - 2].level = lvl;
		c->depth--;
		if ((r = check_node(c, lvl, (n >> lvl) - 1, c->stack[c->depth - 1].h)) < 0)
			return r;
	}
	return 0;
}

static int check_cps_at(struct ctx *c, uint64_t size)
{
	while (c->next_cp < c->ncps && c->cps[c->next_cp].size == size) {
		uint8_t root[HASH_SIZE];
		root_of_stack(c, root);
		if (memcmp(root, c->cps[c->next_cp].root, HASH_SIZE))
			return fail(c, ST_ECORRUPT, "%s: root at size %llu does not match "
				    "the tree recomputed from the entries",
				    c->cps[c->next_cp].label, (unsigned long long)size);
		c->next_cp++;
	}
	return 0;
}

/* ---- entries ---------------------------------------------------------------- */

/* Worker part: frame, stored-entry parse and leaf hash of each item. */
struct chunk_job {
	const uint8_t *seg;
	size_t seg_len;
	struct item *items;
	size_t n;
	const struct event_limits *lim;
};

static void check_chunk(struct chunk_job *j)
{
	for (size_t k = 0; k < j->n; k++) {
		struct item *it = &j->items[k];
		const uint8_t *e = j->seg + it->off + SEG_FRAME_HDR;
		struct event_error ee;
		int r = event_parse_stored(e, it->len, j->lim, &it->si, &ee);
		if (r < 0) {
			it->status = r;
			event_error_format(&ee, it->msg, sizeof(it->msg));
			continue;
		}
		hash_leaf(e, it->len, it->leaf);
		it->status = 0;
	}
}

static void *chunk_thread(void *arg)
{
	check_chunk(arg);
	return NULL;
}

/* Splits the frames at *off into up to CHUNK items; stops at the first
 * frame that is torn or fails its CRC, recording it in *bad. */
static size_t fill(const uint8_t *p, size_t n, size_t *off, struct item *arr,
		   const char **bad, size_t *bad_off)
{
	size_t k = 0;
	while (k < CHUNK && *off < n) {
		uint32_t len;
		int fc = seg_frame_check(p + *off, n - *off, &len);
		if (fc <= 0) {
			*bad = fc == 0 ? "torn frame" : "frame CRC mismatch";
			*bad_off = *off;
			break;
		}
		arr[k].off = *off;
		arr[k].len = len;
		*off += SEG_FRAME_HDR + len;
		k++;
	}
	return k;
}

/* Main-thread part: order-dependent checks of one item. */
static int check_item(struct ctx *c, const char *seg, const struct item *it)
{
	uint64_t seq = c->seq;
	int r;

	if (it->status < 0)
		return fail(c, ST_ECORRUPT, "%s: byte %zu: seq %llu: stored entry: %s",
			    seg, it->off, (unsigned long long)seq, it->msg);
	if (it->si.seq != seq)
		return fail(c, ST_ECORRUPT, "%s: byte %zu: entry says seq %llu where seq "
			    "%llu belongs (entry deleted, inserted, duplicated or moved)",
			    seg, it->off, (unsigned long long)it->si.seq,
			    (unsigned long long)seq);
	int terr = 0;
	struct tenant *t = tenants_get(&c->tenants, it->si.tenant, it->si.tenant_len, &terr);
	if (!t)
		return fail(c, terr, "%s: seq %llu: tenant table: %s", seg,
			    (unsigned long long)seq, st_strerror(terr));
	if (it->si.tseq != t->tseq + 1)
		return fail(c, ST_ECORRUPT, "%s: byte %zu: seq %llu: tenant \"%.*s\" tseq %llu "
			    "does not follow %llu", seg, it->off, (unsigned long long)seq,
			    (int)it->si.tenant_len, it->si.tenant,
			    (unsigned long long)it->si.tseq, (unsigned long long)t->tseq);
	if (memcmp(it->si.tprev, t->last, HASH_SIZE))
		return fail(c, ST_ECORRUPT, "%s: byte %zu: seq %llu: tenant \"%.*s\" tprev is "
			    "not the leaf hash of its previous entry", seg, it->off,
			    (unsigned long long)seq, (int)it->si.tenant_len, it->si.tenant);
	if (it->si.received_ns < c->last_recv)
		return fail(c, ST_ECORRUPT, "%s: byte %zu: seq %llu: received_at goes "
			    "backwards", seg, it->off, (unsigned long long)seq);
	c->last_recv = it->si.received_ns;
	t->tseq = it->si.tseq;
	memcpy(t->last, it->leaf, HASH_SIZE);
	if ((r = push_leaf(c, seq, it->leaf)) < 0)
		return r;
	c->seq++;
	return check_cps_at(c, c->seq);
}

static int verify_segment(struct ctx *c, uint64_t first, bool last)
{
	char path[PATH_MAX], name[64], ipath[PATH_MAX];
	struct seg_header h;
	const char *why = NULL;
	struct stat st;
	struct item *items = NULL;
	uint8_t *idx = NULL;
	size_t idx_n = 0;
	int fd, r = 0;

	snprintf(name, sizeof(name), "segments/%020llu.seg", (unsigned long long)first);
	seg_path(path, sizeof(path), c->dir, first, "seg");
	seg_path(ipath, sizeof(ipath), c->dir, first, "idx");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return fail(c, r, "%s: %s", name, st_strerror(r));
	}
	size_t n = (size_t)st.st_size;
	const uint8_t *p = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (n && p == MAP_FAILED)
		return fail(c, -errno, "%s: mmap: %s", name, strerror(errno));
	if (n)
		madvise((void *)p, n, MADV_SEQUENTIAL);
	c->res->bytes += n;
	c->res->segments++;

	if ((r = seg_header_decode(p, n, &h, &why)) < 0) {
		if (last && n <= SEG_HDR_FIXED + strlen(c->meta.origin) + 4) {
			/* A crash while creating the segment: nothing can be in it
			 * and recovery rewrites its header. */
			warn(c, "%s: unfinished header (%zu bytes; recovery rewrites it)",
			     name, n);
			r = 0;
			goto out;
		}
		r = fail(c, ST_ECORRUPT, "%s: byte 0: %s", name, why);
		goto out;
	}
	if (strcmp(h.origin, c->meta.origin)) {
		r = fail(c, ST_ECORRUPT, "%s: byte %d: origin \"%s\" is not this log's \"%s\" "
			 "(segment from another log)", name, SEG_HDR_FIXED, h.origin,
			 c->meta.origin);
		goto out;
	}
	if (h.first_seq != first || first != c->seq) {
		r = fail(c, ST_ECORRUPT, "%s: byte 20: header says first seq %llu, the "
			 "log continues at seq %llu", name, (unsigned long long)h.first_seq,
			 (unsigned long long)c->seq);
		goto out;
	}
	{
		struct buf ib = BUF_INIT((size_t)1 << 34);
		if (read_file(ipath, (size_t)1 << 34, &ib) == 0) {
			idx = ib.data;
			idx_n = ib.len / 8;
		} else {
			buf_release(&ib);
		}
	}

	items = malloc(2 * CHUNK * sizeof(*items));
	if (!items) {
		r = -ENOMEM;
		goto out;
	}
	size_t off = h.size;
	uint64_t local = 0;
	bool idx_warned = false;
	/* Double buffering: a worker parses and hashes chunk k+1 while this
	 * thread checks chunk k. */
	struct item *cur = items, *nxt = items + CHUNK;
	size_t ncur = 0;
	struct chunk_job job = { p, n, cur, 0, &c->meta.limits };
	const char *bad_frame = NULL;
	size_t bad_off = 0;

	ncur = fill(p, n, &off, cur, &bad_frame, &bad_off);
	job.items = cur;
	job.n = ncur;
	check_chunk(&job);
	while (ncur) {
		pthread_t th;
		struct chunk_job nj = { p, n, nxt, 0, &c->meta.limits };
		bool threaded = false;
		if (!bad_frame && off < n) {
			nj.n = fill(p, n, &off, nxt, &bad_frame, &bad_off);
			if (nj.n)
				threaded = pthread_create(&th, NULL, chunk_thread, &nj) == 0;
			if (nj.n && !threaded)
				check_chunk(&nj);
		}
		for (size_t k = 0; k < ncur && r == 0; k++) {
			if (!idx_warned && (local >= idx_n || get_le64(idx + 8 * local) != cur[k].off)) {
				warn(c, "segments/%020llu.idx: entry %llu does not give the "
				     "frame's offset (derived index; recovery rebuilds it)",
				     (unsigned long long)first, (unsigned long long)local);
				idx_warned = true;
			}
			r = check_item(c, name, &cur[k]);
			local++;
		}
		if (threaded)
			pthread_join(th, NULL);
		if (r < 0)
			goto out;
		struct item *t = cur;
		cur = nxt;
		nxt = t;
		ncur = nj.n;
		if (c->progress && (c->seq & 0xfffff) < CHUNK)
			fprintf(c->progress, "verified %llu entries\r", (unsigned long long)c->seq);
	}
	if (bad_frame || off < n) {
		if (!bad_frame)
			bad_frame = "trailing bytes";
		if (!last) {
			r = fail(c, ST_ECORRUPT, "%s: byte %zu: %s after seq %llu in a sealed "
				 "segment", name, bad_off ? bad_off : off, bad_frame,
				 c->seq ? (unsigned long long)c->seq - 1 : 0ull);
			goto out;
		}
		/* Only a torn tail is tolerated: nothing valid may follow it. */
		if (seg_damage_follows(p, n, bad_off)) {
			r = fail(c, ST_ECORRUPT, "%s: byte %zu: %s at seq %llu, followed by "
				 "valid frames", name, bad_off, bad_frame,
				 (unsigned long long)c->seq);
			goto out;
		}
		warn(c, "%s: byte %zu: torn tail after seq %llu (never acknowledged; "
		     "recovery truncates it)", name, bad_off,
		     c->seq ? (unsigned long long)c->seq - 1 : 0ull);
	}
	if (!idx_warned && idx_n != local)
		warn(c, "segments/%020llu.idx: holds %zu offsets for %llu entries "
		     "(derived index; recovery rebuilds it)", (unsigned long long)first,
		     idx_n, (unsigned long long)local);
out:
	free(items);
	free(idx);
	if (n)
		munmap((void *)p, n);
	return r;
}

/* Every checkpoint's root was recomputed from the entries, which already
 * makes successive checkpoints consistent; this also proves it the way a
 * client would: an RFC 9162 consistency proof between each pair of
 * successive history checkpoints, built from the stored tree (whose every
 * hash was just compared with the recomputation) and verified against the
 * two signed roots. */
static int check_consistency(struct ctx *c)
{
	static uint8_t proof[PROOF_MAX_HASHES][HASH_SIZE];
	char path[PATH_MAX];
	struct tree *t = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/tree", c->dir);
	if ((r = tree_open_rdonly(&t, path)) < 0)
		return fail(c, r, "tree: %s", st_strerror(r));
	for (size_t i = 1; i < c->nhist && r == 0; i++) {
		uint64_t m = c->hist[i - 1].size, n = c->hist[i].size;
		size_t k = 0;
		if (m == 0 || m == n)
			continue;
		if (n > tree_size(t)) {
			warn(c, "tree: holds %llu leaves, so the consistency of %s with the "
			     "checkpoint before it was not proved (derived data lagging)",
			     (unsigned long long)tree_size(t), c->hist[i].label);
			break;
		}
		r = tree_consistency_proof(t, m, n, proof, &k);
		if (r < 0) {
			r = fail(c, r, "%s: consistency proof from size %llu: %s", c->hist[i].label,
				 (unsigned long long)m, st_strerror(r));
		} else if (!merkle_verify_consistency(m, n, c->hist[i - 1].root, c->hist[i].root,
						      (const uint8_t(*)[HASH_SIZE])proof, k)) {
			r = fail(c, ST_ECORRUPT, "%s: not consistent with the checkpoint before "
				 "it (size %llu)", c->hist[i].label, (unsigned long long)m);
		}
	}
	tree_free(t);
	return r;
}

int log_verify(const char *dir, const struct verify_options *opt,
	       struct verify_result *res)
{
	struct ctx c;
	struct seg_list sl = { NULL, 0 };
	struct buf last_note = BUF_INIT(NOTE_MAX_SIZE), latest = BUF_INIT(NOTE_MAX_SIZE);
	struct buf prev_note = BUF_INIT(NOTE_MAX_SIZE);
	char err[512], path[PATH_MAX];
	int r;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.dir = dir;
	c.res = res;
	c.progress = opt ? opt->progress : NULL;
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++)
		c.lv[l].fd = -1;
	if ((r = log_meta_read(dir, &c.meta, err, sizeof(err))) < 0) {
		r = fail(&c, r, "%s", err);
		goto out;
	}
	tenants_init(&c.tenants, SIZE_MAX);
	if ((r = load_keys(&c, opt)) < 0 || (r = load_history(&c, &last_note, &prev_note)) < 0 ||
	    (r = load_trusted(&c, opt)) < 0 || (r = open_levels(&c)) < 0)
		goto out;
	c.hist = malloc((c.nhist ? c.nhist : 1) * sizeof(*c.hist));
	if (!c.hist) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(c.hist, c.cps, c.nhist * sizeof(*c.hist));
	qsort(c.cps, c.ncps, sizeof(*c.cps), cmp_cp);

	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if (read_file(path, NOTE_MAX_SIZE, &latest) < 0 || latest.len != last_note.len ||
	    memcmp(latest.data, last_note.data, latest.len)) {
		/* The copy is written after the history record: a crash between
		 * the two leaves the previous checkpoint in it, which the next
		 * open repairs. The history is authoritative, so that is only
		 * a warning; anything else is a mismatch. */
		if (latest.len && latest.len == prev_note.len &&
		    !memcmp(latest.data, prev_note.data, latest.len)) {
			warn(&c, "checkpoint: the copy is the checkpoint before the history's "
			     "last (a crash between the two writes; the next open repairs it)");
		} else {
			r = fail(&c, ST_ECORRUPT, "checkpoint: is not the last checkpoint of the "
				 "history");
			goto out;
		}
	}
	if ((r = check_cps_at(&c, 0)) < 0)
		goto out;
	if ((r = seg_list_load(dir, &sl)) < 0) {
		r = fail(&c, r, "%s/segments: %s", dir, st_strerror(r));
		goto out;
	}
	if (sl.n == 0) {
		r = fail(&c, ST_ECORRUPT, "segments: no segment files");
		goto out;
	}
	for (size_t i = 0; i < sl.n; i++)
		if ((r = verify_segment(&c, sl.first[i], i + 1 == sl.n)) < 0)
			goto out;
	res->entries = c.seq;
	res->tenants = c.tenants.count;
	if (c.next_cp < c.ncps) {
		r = fail(&c, ST_ECORRUPT, "%s: covers %llu entries but the log holds only "
			 "%llu (entries deleted or truncated)", c.cps[c.next_cp].label,
			 (unsigned long long)c.cps[c.next_cp].size, (unsigned long long)c.seq);
		goto out;
	}
	struct log_state_head sh;
	if (log_state_head(dir, &sh) == 0 && sh.size > c.seq) {
		r = fail(&c, ST_ECORRUPT, "state: records %llu entries but the log holds only "
			 "%llu (entries deleted or truncated)", (unsigned long long)sh.size,
			 (unsigned long long)c.seq);
		goto out;
	}
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		uint64_t want = c.seq >> l;
		if (c.lv[l].fd < 0 && want == 0)
			continue;
		uint64_t have = c.lv[l].fd < 0 ? 0 : c.lv[l].n;
		if (have > want) {
			r = fail(&c, ST_ECORRUPT, "tree/level-%02u: holds %llu hashes but the "
				 "entries make only %llu (entries deleted or truncated)", l,
				 (unsigned long long)have, (unsigned long long)want);
			goto out;
		}
		if (have < want)
			warn(&c, "tree/level-%02u: holds %llu of %llu hashes (derived data "
			     "lagging; recovery completes it)", l, (unsigned long long)have,
			     (unsigned long long)want);
	}
	if ((r = check_consistency(&c)) < 0)
		goto out;
	r = 0;
out:
	if (c.progress)
		fputs("\n", c.progress);
	for (unsigned l = 0; l < TREE_MAX_LEVELS; l++) {
		if (c.lv[l].fd >= 0)
			close(c.lv[l].fd);
		free(c.lv[l].buf);
	}
	tenants_release(&c.tenants);
	free(c.keys);
	free(c.cps);
	free(c.hist);
	seg_list_release(&sl);
	buf_release(&last_note);
	buf_release(&prev_note);
	buf_release(&latest);
	return r;
}
