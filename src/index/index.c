/*
 * index.c - the search index over the log: chunk set management, the
 * indexer (build + merge), and query execution (search pages with
 * cursors, stats, histograms). See index.h for the invariants and
 * docs/INDEX.md for the design.
 *
 * Terms (byte strings in the chunks):
 *   'F' path 0x00 value   a string/number/true/false/null value at that
 *                         path (arrays: each element), value cut at
 *                         IX_VALUE_MAX bytes; not for the server's seq,
 *                         tseq, tprev, received_at nor the event's time
 *                         (those are columns or ranges)
 *   'W' token             a word of a text string value (jw_text_path)
 *   'H' path              some value (any type) is present at path
 *
 * Query evaluation gives, per chunk, a bitmap of candidate docs and
 * whether it is exact. Inexact answers (phrases, values at the cut,
 * fields the index does not hold) are a superset; every candidate is
 * then read from the log and checked with query_match, the same
 * evaluator the brute-force tests use. So the index can only ever be
 * slower than exact, never wrong, as long as it never drops a match.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <roaring/roaring.h>
#include <sodium.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "index/chunk.h"
#include "index/index.h"
#include "index/jwalk.h"
#include "log/segment.h"

#define IX_VALUE_MAX 256
#define IX_TERM_MAX (2 + JW_PATH_MAX + IX_VALUE_MAX)
#define IX_READ_WINDOW (4u << 20)
#define CURSOR_VERSION 1
#define CURSOR_BODY 27
#define CURSOR_TAG 16

/* CRoaring 0.2 does not take NULL in roaring_bitmap_free. */
static void bfree(roaring_bitmap_t *b)
{
	if (b)
		roaring_bitmap_free(b);
}

/* ---- chunk set ---------------------------------------------------------- */

struct ichunk {
	struct chunk *c;
	uint64_t first;
	uint32_t ndocs;
	int refs;                 /* sets holding it; atomic */
	bool dead;                /* merged away: unlink when the last set lets go */
	char path[PATH_MAX];
};

struct cset {
	int refs;                 /* atomic */
	size_t n;
	struct ichunk *v[];
};

struct index {
	struct log *log;
	char dir[PATH_MAX];
	struct index_options opt;
	uint8_t key[32];          /* cursor MAC key */

	pthread_mutex_t mu;       /* set, indexed, counters */
	struct cset *set;
	uint64_t indexed;
	uint64_t built, merged;
	int last_error;

	pthread_mutex_t build_mu; /* one builder at a time (thread or catch_up) */
	pthread_mutex_t merge_mu; /* one merge at a time (merger thread or catch_up) */
	pthread_mutex_t set_mu;   /* one writer of the set at a time (publish, a
				   * merge's commit); order: build_mu, merge_mu,
				   * set_mu, mu */
	pthread_t thread, merger;
	bool running;
	bool stop;                /* atomic reads: a merge in flight polls it */
	bool merge_due;           /* the merger has work: a chunk was published */
	pthread_cond_t merge_cond;
	bool kicked;
	pthread_cond_t cond;
	pthread_cond_t built_cond;   /* broadcast when indexed grows */
	struct buf scratch;       /* the builder's read window */
	/* Builders kept between chunks (chunk_builder_reset), one per build
	 * thread: their pages stay faulted in (7 % of a reindex's CPU went to
	 * clearing fresh ones). Under build_mu; let go after IX_SPARE_IDLE_NS
	 * without a build, and at close. */
	struct chunk_builder *spare[2];
	int64_t trimmed_ns;       /* CLOCK_MONOTONIC of the last trim; atomic */
};

/* Readers let go of the chunks' mapped pages at most this often (INDEX.md,
 * "Memory"): the resident set is what the queries of the last second
 * touched, not the whole index; the page cache keeps the rest warm. */
#define IX_TRIM_NS 1000000000LL
#define IX_SPARE_IDLE_NS 2000000000LL

static void trim_maybe(struct index *ix, const struct cset *set)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	int64_t last = __atomic_load_n(&ix->trimmed_ns, __ATOMIC_RELAXED);
	if (now - last < IX_TRIM_NS ||
	    !__atomic_compare_exchange_n(&ix->trimmed_ns, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	for (size_t i = 0; i < set->n; i++)
		chunk_trim(set->v[i]->c);
}

static void ichunk_put(struct ichunk *k)
{
	if (__atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	chunk_close(k->c);
	if (k->dead)
		unlink(k->path);
	free(k);
}

static void cset_put(struct cset *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < s->n; i++)
		ichunk_put(s->v[i]);
	free(s);
}

static struct cset *cset_get(struct index *ix)
{
	pthread_mutex_lock(&ix->mu);
	struct cset *s = ix->set;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&ix->mu);
	return s;
}

/* A new set: old[0..from) + add[0..nadd) + old[to..n). */
static struct cset *cset_splice(const struct cset *old, size_t from, size_t to,
				struct ichunk *const *add, size_t nadd)
{
	size_t n = old->n - (to - from) + nadd;
	struct cset *s = calloc(1, sizeof(*s) + n * sizeof(s->v[0]));
	if (!s)
		return NULL;
	s->refs = 1;
	for (size_t i = 0; i < from; i++)
		s->v[s->n++] = old->v[i];
	for (size_t i = 0; i < nadd; i++)
		s->v[s->n++] = add[i];
	for (size_t i = to; i < old->n; i++)
		s->v[s->n++] = old->v[i];
	for (size_t i = 0; i < s->n; i++)
		__atomic_add_fetch(&s->v[i]->refs, 1, __ATOMIC_ACQ_REL);
	return s;
}

static void set_replace(struct index *ix, struct cset *s, uint64_t indexed)
{
	pthread_mutex_lock(&ix->mu);
	struct cset *old = ix->set;
	ix->set = s;
	ix->indexed = indexed;
	pthread_cond_broadcast(&ix->built_cond);
	pthread_mutex_unlock(&ix->mu);
	cset_put(old);
}

static int chunk_name(char *out, size_t cap, const char *dir, uint64_t first, uint32_t n,
		      const char *ext)
{
	struct buf b = BUF_INIT(cap);
	int r = buf_printf(&b, "%s/%020llu-%010u.%s", dir, (unsigned long long)first, n, ext);
	if (r == 0 && (r = buf_cstr(&b)) == 0)
		memcpy(out, b.data, b.len + 1);
	buf_release(&b);
	return r < 0 ? -ENAMETOOLONG : 0;
}

static struct ichunk *ichunk_open(const char *path, uint64_t first, uint32_t n,
				  char *err, size_t errcap, int *ret_r)
{
	struct ichunk *k = calloc(1, sizeof(*k));
	if (!k) {
		*ret_r = -ENOMEM;
		return NULL;
	}
	snprintf(k->path, sizeof(k->path), "%s", path);
	*ret_r = chunk_open(&k->c, path, err, errcap);
	if (*ret_r < 0) {
		free(k);
		return NULL;
	}
	if (chunk_first_seq(k->c) != first || chunk_ndocs(k->c) != n) {
		st_fail(err, errcap, "%s: header says %llu+%u, name says %llu+%u", path,
			(unsigned long long)chunk_first_seq(k->c), chunk_ndocs(k->c),
			(unsigned long long)first, n);
		chunk_close(k->c);
		free(k);
		*ret_r = ST_ECORRUPT;
		return NULL;
	}
	k->first = first;
	k->ndocs = n;
	return k;
}

/* ---- open: the directory scan of invariant 2 ----------------------------- */

struct found { uint64_t first; uint32_t n; };

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->n > y->n ? -1 : x->n < y->n;   /* containers first */
}

static int load_key(struct index *ix)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(64);
	int r;

	if (strlen(ix->dir) + 12 >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, ix->dir, strlen(ix->dir));
	memcpy(path + strlen(ix->dir), "/cursor.key", 12);
	r = read_file(path, 64, &b);
	if (r == 0 && b.len == sizeof(ix->key)) {
		memcpy(ix->key, b.data, sizeof(ix->key));
	} else if (r == -ENOENT || r == 0) {
		if ((r = random_bytes(ix->key, sizeof(ix->key))) == 0)
			r = write_file_atomic(path, ix->key, sizeof(ix->key), 0600);
	}
	st_wipe(b.data, b.len);
	buf_release(&b);
	return r < 0 ? r : 0;
}

static int scan_dir(struct index *ix, char *err, size_t errcap)
{
	DIR *d = opendir(ix->dir);
	struct found *f = NULL;
	size_t nf = 0, cap = 0;
	struct dirent *de;
	int r = 0;
	uint64_t lsize = log_size(ix->log);

	if (!d) {
		int e = errno;
		st_fail(err, errcap, "%s: %s", ix->dir, strerror(e));
		return -e;
	}
	while ((de = readdir(d))) {
		unsigned long long first;
		unsigned n;
		int end = 0;
		size_t len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (sscanf(de->d_name, "%20llu-%10u.chunk%n", &first, &n, &end) != 2 ||
		    (size_t)end != len)
			continue;
		if (nf == cap) {
			cap = cap ? cap * 2 : 64;
			struct found *nfp = realloc(f, cap * sizeof(*f));
			if (!nfp) {
				r = -ENOMEM;
				goto out;
			}
			f = nfp;
		}
		f[nf++] = (struct found){first, n};
	}
	if (nf)
		qsort(f, nf, sizeof(*f), found_cmp);
	struct cset *s = calloc(1, sizeof(*s) + (nf ? nf : 1) * sizeof(s->v[0]));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	s->refs = 1;
	uint64_t next = 0;
	bool broken = false;
	for (size_t i = 0; i < nf; i++) {
		char path[PATH_MAX];
		chunk_name(path, sizeof(path), ix->dir, f[i].first, f[i].n, "chunk");
		uint64_t end = f[i].first + f[i].n;
		if (!broken && f[i].first == next && f[i].n > 0 && end <= lsize) {
			char e2[256];
			int rr;
			struct ichunk *k = ichunk_open(path, f[i].first, f[i].n, e2, sizeof(e2), &rr);
			if (k) {
				k->refs = 1;
				s->v[s->n++] = k;
				next = end;
				continue;
			}
			broken = true;  /* unreadable: rebuild from here */
		}
		/* Contained in a kept chunk (a merge's leftover), after a gap
		 * or a bad chunk, or past the log: derived data, removed. */
		unlink(path);
	}
	ix->set = s;
	ix->indexed = next;
	fsync_dir(ix->dir);
out:
	free(f);
	closedir(d);
	return r;
}

void index_options_default(struct index_options *o)
{
	o->flush_ms = 250;
	o->flush_docs = 262144;
	o->live_docs = 65536;
	o->merge_fanin = 4;
	o->max_chunk_docs = 8u << 20;
	/* For measurements only (docs/BENCHMARKS.md): not a configuration. */
	const char *e = getenv("SEALTRAIL_INDEX_FLUSH_DOCS");
	if (e && atoi(e) > 0)
		o->flush_docs = (uint32_t)atoi(e);
	e = getenv("SEALTRAIL_INDEX_LIVE_DOCS");
	if (e && atoi(e) > 0)
		o->live_docs = (uint32_t)atoi(e);
}

int index_open(struct index **ret, struct log *l, const char *dir,
	       const struct index_options *opt, char *err, size_t errcap)
{
	struct index *ix = calloc(1, sizeof(*ix));
	int r;

	if (!ix)
		return -ENOMEM;
	ix->log = l;
	if (opt)
		ix->opt = *opt;
	else
		index_options_default(&ix->opt);
	if (ix->opt.merge_fanin < 2)
		ix->opt.merge_fanin = 2;
	if (ix->opt.flush_docs == 0 || ix->opt.flush_docs > CHUNK_DOCS_MAX)
		ix->opt.flush_docs = 262144;
	if (ix->opt.max_chunk_docs == 0 || ix->opt.max_chunk_docs > CHUNK_DOCS_MAX)
		ix->opt.max_chunk_docs = CHUNK_DOCS_MAX;
	if (snprintf(ix->dir, sizeof(ix->dir), "%s/index", dir) >= (int)sizeof(ix->dir)) {
		free(ix);
		return -ENAMETOOLONG;
	}
	pthread_mutex_init(&ix->mu, NULL);
	pthread_mutex_init(&ix->build_mu, NULL);
	pthread_mutex_init(&ix->merge_mu, NULL);
	pthread_mutex_init(&ix->set_mu, NULL);
	pthread_cond_init(&ix->cond, NULL);
	pthread_cond_init(&ix->merge_cond, NULL);
	pthread_cond_init(&ix->built_cond, NULL);
	buf_init(&ix->scratch, IX_READ_WINDOW + SEG_FRAME_MAX + 64);
	if ((r = mkdir_p(ix->dir, 0700)) < 0) {
		st_fail(err, errcap, "%s: %s", ix->dir, strerror(-r));
		goto fail;
	}
	if ((r = load_key(ix)) < 0) {
		st_fail(err, errcap, "%s/cursor.key: %s", ix->dir, strerror(-r));
		goto fail;
	}
	if ((r = scan_dir(ix, err, errcap)) < 0)
		goto fail;
	*ret = ix;
	return 0;
fail:
	buf_release(&ix->scratch);
	free(ix);
	return r;
}

/* Frees the kept builders; wait: block on build_mu (else skip when a build
 * holds it). */
static void spare_release(struct index *ix, bool wait)
{
	if (wait)
		pthread_mutex_lock(&ix->build_mu);
	else if (pthread_mutex_trylock(&ix->build_mu) != 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		chunk_builder_free(ix->spare[i]);
		ix->spare[i] = NULL;
	}
	pthread_mutex_unlock(&ix->build_mu);
}

void index_close(struct index *ix)
{
	if (!ix)
		return;
	if (ix->running) {
		pthread_mutex_lock(&ix->mu);
		__atomic_store_n(&ix->stop, true, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&ix->cond);
		pthread_cond_broadcast(&ix->merge_cond);
		pthread_mutex_unlock(&ix->mu);
		pthread_join(ix->thread, NULL);
		pthread_join(ix->merger, NULL);   /* a merge in flight is cancelled */
	}
	cset_put(ix->set);
	spare_release(ix, true);
	buf_release(&ix->scratch);
	sodium_memzero(ix->key, sizeof(ix->key));
	pthread_mutex_destroy(&ix->mu);
	pthread_mutex_destroy(&ix->build_mu);
	pthread_mutex_destroy(&ix->merge_mu);
	pthread_mutex_destroy(&ix->set_mu);
	pthread_cond_destroy(&ix->merge_cond);
	pthread_cond_destroy(&ix->cond);
	pthread_cond_destroy(&ix->built_cond);
	free(ix);
}

int index_reset(struct index *ix)
{
	pthread_mutex_lock(&ix->build_mu);
	pthread_mutex_lock(&ix->merge_mu);
	pthread_mutex_lock(&ix->set_mu);
	struct cset *s = calloc(1, sizeof(*s) + sizeof(s->v[0]));
	if (!s) {
		pthread_mutex_unlock(&ix->set_mu);
		pthread_mutex_unlock(&ix->merge_mu);
		pthread_mutex_unlock(&ix->build_mu);
		return -ENOMEM;
	}
	s->refs = 1;
	pthread_mutex_lock(&ix->mu);
	struct cset *old = ix->set;
	for (size_t i = 0; i < old->n; i++)
		old->v[i]->dead = true;
	ix->set = s;
	ix->indexed = 0;
	pthread_mutex_unlock(&ix->mu);
	pthread_mutex_unlock(&ix->set_mu);
	cset_put(old);
	fsync_dir(ix->dir);
	pthread_mutex_unlock(&ix->merge_mu);
	pthread_mutex_unlock(&ix->build_mu);
	return 0;
}

/* ---- building ------------------------------------------------------------ */

/* The terms of one doc are gathered here and added in one batch
 * (chunk_builder_add_terms), so the builder can fetch its table ahead. */
#define DOC_TERMS 512
#define DOC_BYTES (64u << 10)

struct doc_ctx {
	struct chunk_builder *b;
	int64_t time_ns, received_ns;
	int r;
	size_t nterms, nbytes;
	struct chunk_term terms[DOC_TERMS];
	uint8_t bytes[DOC_BYTES];
};

static int flush_terms(struct doc_ctx *d)
{
	int r = chunk_builder_add_terms(d->b, d->terms, d->nterms);
	d->nterms = d->nbytes = 0;
	return r;
}

/* Room for a term of up to n bytes: a pointer into d->bytes. */
static uint8_t *term_room(struct doc_ctx *d, size_t n, int *ret_r)
{
	*ret_r = 0;
	if (d->nterms == DOC_TERMS || DOC_BYTES - d->nbytes < n)
		if ((*ret_r = flush_terms(d)) < 0)
			return NULL;
	return d->bytes + d->nbytes;
}

static void term_done(struct doc_ctx *d, size_t n)
{
	d->terms[d->nterms++] = (struct chunk_term){d->bytes + d->nbytes, (uint32_t)n};
	d->nbytes += n;
}

static bool is_column(const struct jw_leaf *lf)
{
	if (lf->depth != 1)
		return false;
	switch (lf->path_len) {
	case 3: return memcmp(lf->path, "seq", 3) == 0;
	case 4: return memcmp(lf->path, "tseq", 4) == 0 || memcmp(lf->path, "time", 4) == 0;
	case 5: return memcmp(lf->path, "tprev", 5) == 0;
	case 11: return memcmp(lf->path, "received_at", 11) == 0;
	default: return false;
	}
}

/* Whether the index holds F terms for this path (see the file comment). */
static bool field_indexed(const char *path, size_t n)
{
	struct jw_leaf lf = {.path = path, .path_len = n, .depth = memchr(path, '.', n) ? 2 : 1};
	return !is_column(&lf);
}

static int word_term(void *ctx, const char *tok, size_t len, uint32_t pos)
{
	struct doc_ctx *d = ctx;
	int r;
	uint8_t *t = term_room(d, len + 1, &r);
	(void)pos;
	if (!t)
		return r;
	t[0] = 'W';
	memcpy(t + 1, tok, len);
	term_done(d, len + 1);
	return 0;
}

/* The columns come from the top-level strings, caught in the same walk as
 * the terms. */
static int column_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct doc_ctx *d = ctx;
	if (lf->depth != 1 || lf->type != JW_STRING)
		return 0;
	if (lf->path_len == 4 && memcmp(lf->path, "time", 4) == 0)
		rfc3339_parse(lf->val, lf->val_len, &d->time_ns);
	else if (lf->path_len == 11 && memcmp(lf->path, "received_at", 11) == 0)
		rfc3339_parse(lf->val, lf->val_len, &d->received_ns);
	return 0;
}

/* A leaf's 'H' term is added here only where no 'F' term stands for it:
 * containers, columns, and a path with a 0x00 in it (a decoded "\u0000"
 * member name, which would make the F term's path ambiguous: it gets no F
 * term). For the rest the chunk writer derives 'H' path from the 'F' path
 * 0x00 value terms (chunk_builder_derive), so the ~20 fields of an event
 * cost no table probe each for their presence. */
static int leaf_terms(void *ctx, const struct jw_leaf *lf)
{
	struct doc_ctx *d = ctx;
	int r;
	uint8_t *t;
	bool container = lf->type == JW_OBJECT || lf->type == JW_ARRAY, column = is_column(lf);

	if (container || column || lf->path_nul) {
		if (!(t = term_room(d, lf->path_len + 1, &r)))
			return r;
		t[0] = 'H';
		memcpy(t + 1, lf->path, lf->path_len);
		term_done(d, lf->path_len + 1);
		if (container)
			return 0;
		if (column)
			return column_leaf(d, lf);
	} else {
		size_t vl = lf->val_len < IX_VALUE_MAX ? lf->val_len : IX_VALUE_MAX;
		if (!(t = term_room(d, 2 + lf->path_len + vl, &r)))
			return r;
		t[0] = 'F';
		memcpy(t + 1, lf->path, lf->path_len);
		t[1 + lf->path_len] = 0;
		memcpy(t + 2 + lf->path_len, lf->val, vl);
		term_done(d, 2 + lf->path_len + vl);
	}
	if (lf->type == JW_STRING && jw_text_path(lf->path, lf->path_len))
		return jw_tokens(lf->val, lf->val_len, word_term, d);
	return 0;
}

static int add_entry(void *ctx, uint64_t seq, const uint8_t *e, size_t len)
{
	struct doc_ctx *d = ctx;
	int r;
	(void)seq;
	d->time_ns = d->received_ns = 0;
	d->nterms = d->nbytes = 0;
	/* One walk for the terms and the columns; the columns, caught on the
	 * way, are set once it is done (a large entry's terms may be flushed
	 * before). */
	if ((r = chunk_builder_add_doc(d->b, 0, 0)) < 0 ||
	    (r = jwalk(e, len, leaf_terms, d)) < 0)
		return r;
	chunk_builder_set_times(d->b, d->time_ns, d->received_ns);
	return flush_terms(d);
}

/* Builds one chunk of the durable entries [from, from + at most max). */
/* Builds and writes the chunk of the durable entries [from, from + at most
 * max), reading through scratch; *ret_k is the opened chunk (not yet
 * published) or NULL when there was nothing to index. */
static int build_chunk(struct index *ix, uint64_t from, uint64_t max, struct buf *scratch,
		       struct chunk_builder **spare, struct ichunk **ret_k)
{
	struct doc_ctx *d = calloc(1, sizeof(*d));   /* ~70 KiB: not on the stack */
	char path[PATH_MAX], err[256];
	uint64_t seq = from;
	int r;

	*ret_k = NULL;
	if (!d)
		return -ENOMEM;
	if (*spare) {
		d->b = *spare;
		*spare = NULL;
		chunk_builder_reset(d->b, from);
	} else if ((r = chunk_builder_new(&d->b, from)) < 0) {
		free(d);
		return r;
	} else {
		chunk_builder_derive(d->b, 'F', 'H');   /* presence, see leaf_terms */
	}
	while (seq - from < max) {
		/* Closing (a drain) does not wait for a whole build: it stops
		 * here, between read windows, and nothing is published. */
		if (__atomic_load_n(&ix->stop, __ATOMIC_RELAXED)) {
			r = -ECANCELED;
			goto out;
		}
		int64_t n = log_read_run(ix->log, seq, max - (seq - from), IX_READ_WINDOW,
					 scratch, add_entry, d);
		if (n == ST_ERANGE)
			break;
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		seq += (uint64_t)n;
	}
	if (seq == from)
		goto out;
	uint32_t n = (uint32_t)(seq - from);
	if ((r = chunk_name(path, sizeof(path), ix->dir, from, n, "chunk")) < 0 ||
	    (r = chunk_builder_write(d->b, path, err, sizeof(err))) < 0)
		goto out;
	*ret_k = ichunk_open(path, from, n, err, sizeof(err), &r);
out:
	if (r == -ENOMEM)
		chunk_builder_free(d->b);
	else
		*spare = d->b;
	free(d);
	return r;
}

/* Appends chunk k (which starts at indexed) to the set. */
static int publish(struct index *ix, struct ichunk *k)
{
	pthread_mutex_lock(&ix->set_mu);
	struct cset *cur = cset_get(ix);
	struct cset *s = cset_splice(cur, cur->n, cur->n, &k, 1);
	cset_put(cur);
	if (!s) {
		pthread_mutex_unlock(&ix->set_mu);
		k->refs = 1;
		ichunk_put(k);
		return -ENOMEM;
	}
	set_replace(ix, s, k->first + k->ndocs);
	pthread_mutex_unlock(&ix->set_mu);
	pthread_mutex_lock(&ix->mu);
	ix->built++;
	pthread_mutex_unlock(&ix->mu);
	return 0;
}

/* The second half of a parallel build (step). */
struct half {
	struct index *ix;
	uint64_t from, max;
	struct ichunk *k;
	int r;
};

static void *build_half(void *arg)
{
	struct half *h = arg;
	struct buf scratch = BUF_INIT(IX_READ_WINDOW + SEG_FRAME_MAX + 64);
	h->r = build_chunk(h->ix, h->from, h->max, &scratch, &h->ix->spare[1], &h->k);
	buf_release(&scratch);
	return NULL;
}

/* Indexes the next chunk's worth of durable entries: with a full chunk
 * pending, its two halves are built on two threads (the build is bound by
 * memory latency, one core each), then published in order. *ret_progress
 * says whether anything was indexed. */
static int build_next(struct index *ix, uint64_t from, bool live, bool *ret_progress)
{
	uint64_t f = ix->opt.flush_docs, pending = log_size(ix->log) - from;
	/* Following the log (the indexer thread, not far behind): smaller
	 * chunks, each searchable sooner; the merger joins them later. */
	if (live && pending < 2 * f && ix->opt.live_docs && ix->opt.live_docs < f)
		f = ix->opt.live_docs;
	struct ichunk *k = NULL;
	pthread_t t;
	int r;

	*ret_progress = false;
	if (pending >= f && f >= 64) {
		struct half h = { .ix = ix, .from = from + f / 2, .max = f - f / 2 };
		bool threaded = pthread_create(&t, NULL, build_half, &h) == 0;
		r = build_chunk(ix, from, f / 2, &ix->scratch, &ix->spare[0], &k);
		if (threaded)
			pthread_join(t, NULL);
		else
			build_half(&h);
		if (r == 0 && k)
			r = publish(ix, k);
		else if (k)
			k->refs = 1, k->dead = true, ichunk_put(k);
		if (r == 0 && h.r == 0 && h.k) {
			*ret_progress = true;
			return publish(ix, h.k);
		}
		if (h.k) {
			h.k->refs = 1;
			h.k->dead = true;   /* not published: its file goes too */
			ichunk_put(h.k);
		}
		*ret_progress = r == 0 && k;
		return r < 0 ? r : h.r;
	}
	if ((r = build_chunk(ix, from, f, &ix->scratch, &ix->spare[0], &k)) < 0 || !k)
		return r;
	*ret_progress = true;
	return publish(ix, k);
}

static unsigned size_class(uint32_t ndocs, uint32_t fanin)
{
	unsigned c = 0;
	while (ndocs >= fanin) {
		ndocs /= fanin;
		c++;
	}
	return c;
}

/* One due merge, if any: the oldest run of merge_fanin adjacent chunks of
 * one size class whose sum stays within max_chunk_docs. 1 when merged.
 * Builds may publish while it runs (the merger thread): the set it
 * commits into is the one current then, where its inputs still sit, in
 * order, since only merges remove chunks and merges are serialized. */
static int merge_one(struct index *ix)
{
	pthread_mutex_lock(&ix->merge_mu);
	struct cset *cur = cset_get(ix);
	uint32_t fan = ix->opt.merge_fanin < 16 ? ix->opt.merge_fanin : 16;
	int r = 0;

	for (size_t i = 0; i + fan <= cur->n; i++) {
		unsigned cls = size_class(cur->v[i]->ndocs, fan);
		uint64_t sum = 0;
		size_t j;
		for (j = i; j < i + fan; j++) {
			if (size_class(cur->v[j]->ndocs, fan) != cls)
				break;
			sum += cur->v[j]->ndocs;
		}
		if (j < i + fan || sum > ix->opt.max_chunk_docs)
			continue;
		struct chunk *in[16];
		for (j = 0; j < fan; j++)
			in[j] = cur->v[i + j]->c;
		char path[PATH_MAX], err[256];
		uint64_t first = cur->v[i]->first;
		if ((r = chunk_name(path, sizeof(path), ix->dir, first, (uint32_t)sum, "chunk")) < 0 ||
		    (r = chunk_merge(in, fan, path, &ix->stop, err, sizeof(err))) < 0)
			goto out;
		struct ichunk *k = ichunk_open(path, first, (uint32_t)sum, err, sizeof(err), &r);
		if (!k)
			goto out;
		pthread_mutex_lock(&ix->set_mu);
		struct cset *now = cset_get(ix);
		size_t at = 0;
		while (at < now->n && now->v[at] != cur->v[i])
			at++;
		struct cset *s = NULL;
		if (at + fan <= now->n && memcmp(&now->v[at], &cur->v[i], fan * sizeof(now->v[0])) == 0)
			s = cset_splice(now, at, at + fan, &k, 1);
		else
			r = ST_ECORRUPT;   /* cannot happen: only merges remove chunks */
		if (!s) {
			pthread_mutex_unlock(&ix->set_mu);
			cset_put(now);
			k->refs = 1;
			k->dead = true;
			ichunk_put(k);
			if (r == 0)
				r = -ENOMEM;
			goto out;
		}
		for (j = at; j < at + fan; j++)
			now->v[j]->dead = true;
		pthread_mutex_lock(&ix->mu);
		uint64_t indexed = ix->indexed;
		pthread_mutex_unlock(&ix->mu);
		set_replace(ix, s, indexed);
		pthread_mutex_unlock(&ix->set_mu);
		cset_put(now);
		pthread_mutex_lock(&ix->mu);
		ix->merged++;
		pthread_mutex_unlock(&ix->mu);
		r = 1;
		goto out;
	}
out:
	cset_put(cur);
	pthread_mutex_unlock(&ix->merge_mu);
	return r;
}

/* The merger thread: merges while any is due, after each publish. A merge
 * of large chunks takes seconds; on this thread it no longer holds back
 * the next build (the index lag under ingest showed those seconds). */
static void *merger_main(void *arg)
{
	struct index *ix = arg;
	pthread_mutex_lock(&ix->mu);
	while (!ix->stop) {
		if (!ix->merge_due) {
			pthread_cond_wait(&ix->merge_cond, &ix->mu);
			continue;
		}
		ix->merge_due = false;
		pthread_mutex_unlock(&ix->mu);
		int r;
		while ((r = merge_one(ix)) == 1 && !__atomic_load_n(&ix->stop, __ATOMIC_RELAXED))
			;
		pthread_mutex_lock(&ix->mu);
		if (r < 0 && r != -ECANCELED)
			ix->last_error = r;
	}
	pthread_mutex_unlock(&ix->mu);
	return NULL;
}

/* A catch-up's merges, on a thread of their own beside the builds. */
struct merge_along {
	struct index *ix;
	pthread_t t;
	bool on;
	bool done;    /* atomic */
	int r;
};

static void *merge_along_main(void *arg)
{
	struct merge_along *m = arg;
	while ((m->r = merge_one(m->ix)) == 1)
		;
	__atomic_store_n(&m->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Joins the merge thread when it is done (wait: in any case); its error,
 * else 0. */
static int merge_along_join(struct merge_along *m, bool wait)
{
	if (!m->on || (!wait && !__atomic_load_n(&m->done, __ATOMIC_ACQUIRE)))
		return 0;
	pthread_join(m->t, NULL);
	m->on = false;
	return m->r < 0 ? m->r : 0;
}

static int step(struct index *ix, bool all)
{
	struct merge_along ma = { .ix = ix };
	int r = 0;
	pthread_mutex_lock(&ix->build_mu);
	for (;;) {
		pthread_mutex_lock(&ix->mu);
		uint64_t from = ix->indexed;
		pthread_mutex_unlock(&ix->mu);
		if (from >= log_size(ix->log))
			break;
		bool progress;
		if ((r = build_next(ix, from, !all && ix->running, &progress)) < 0 || !progress)
			break;
		if (!all && ix->running) {
			/* the indexer thread: merges go to the merger */
			pthread_mutex_lock(&ix->mu);
			ix->merge_due = true;
			pthread_cond_signal(&ix->merge_cond);
			pthread_mutex_unlock(&ix->mu);
			break;
		}
		if (!all) {
			while ((r = merge_one(ix)) == 1)
				;
			break;
		}
		/* A catch-up (reindex, or a restart far behind): the merges run
		 * beside the next builds instead of between them, where they
		 * left a core idle (one merge thread at a time). */
		if ((r = merge_along_join(&ma, false)) < 0)
			break;
		if (!ma.on) {
			ma.done = false;
			ma.on = pthread_create(&ma.t, NULL, merge_along_main, &ma) == 0;
			if (!ma.on) {
				while ((r = merge_one(ix)) == 1)
					;
				if (r < 0)
					break;
			}
		}
	}
	int mr = merge_along_join(&ma, true);
	if (r >= 0 && mr < 0)
		r = mr;
	if (all && r >= 0)
		while ((r = merge_one(ix)) == 1)
			;
	pthread_mutex_unlock(&ix->build_mu);
	pthread_mutex_lock(&ix->mu);
	ix->last_error = r < 0 ? r : 0;
	pthread_mutex_unlock(&ix->mu);
	return r < 0 ? r : 0;
}

int index_catch_up(struct index *ix)
{
	return step(ix, true);
}

static void *indexer_main(void *arg)
{
	struct index *ix = arg;
	int64_t last_build = now_monotonic_ns();

	pthread_mutex_lock(&ix->mu);
	while (!ix->stop) {
		uint64_t pending = log_size(ix->log) - ix->indexed;
		int64_t now = now_monotonic_ns();
		bool due = pending > 0 &&
			   (pending >= ix->opt.flush_docs ||
			    (ix->opt.live_docs && pending >= ix->opt.live_docs) || ix->kicked ||
			    now - last_build >= (int64_t)ix->opt.flush_ms * 1000000);
		ix->kicked = false;
		if (due) {
			pthread_mutex_unlock(&ix->mu);
			int r = step(ix, false);
			last_build = now_monotonic_ns();
			pthread_mutex_lock(&ix->mu);
			if (r < 0 && !ix->stop) {
				/* Retried after a pause; the error is in the status
				 * and the metrics meanwhile. */
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 1;
				pthread_cond_timedwait(&ix->cond, &ix->mu, &ts);
			}
			continue;
		}
		if (now - last_build >= IX_SPARE_IDLE_NS) {
			/* idle: the kept builders' memory goes back */
			pthread_mutex_unlock(&ix->mu);
			spare_release(ix, false);
			pthread_mutex_lock(&ix->mu);
		}
		/* Poll: the log has no change notification for readers; 10 ms
		 * is well inside the lag budget and costs nothing when idle. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!ix->kicked)
			pthread_cond_timedwait(&ix->cond, &ix->mu, &ts);
		ix->kicked = false;
	}
	pthread_mutex_unlock(&ix->mu);
	return NULL;
}

int index_start(struct index *ix)
{
	int r = pthread_create(&ix->merger, NULL, merger_main, ix);
	if (r != 0)
		return -r;
	ix->running = true;   /* before the indexer: step() reads it */
	if ((r = pthread_create(&ix->thread, NULL, indexer_main, ix)) != 0) {
		pthread_mutex_lock(&ix->mu);
		__atomic_store_n(&ix->stop, true, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&ix->merge_cond);
		pthread_mutex_unlock(&ix->mu);
		pthread_join(ix->merger, NULL);
		ix->running = false;
		ix->stop = false;
		return -r;
	}
	/* merges that were due at open (a crash between a build and its
	 * merge) */
	pthread_mutex_lock(&ix->mu);
	ix->merge_due = true;
	pthread_cond_signal(&ix->merge_cond);
	pthread_mutex_unlock(&ix->mu);
	return 0;
}

void index_kick(struct index *ix)
{
	pthread_mutex_lock(&ix->mu);
	ix->kicked = true;
	pthread_cond_signal(&ix->cond);
	pthread_mutex_unlock(&ix->mu);
}

bool index_wait(struct index *ix, uint64_t upto, int64_t timeout_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t end = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + timeout_ns;
	ts.tv_sec = (time_t)(end / 1000000000LL);
	ts.tv_nsec = (long)(end % 1000000000LL);
	pthread_mutex_lock(&ix->mu);
	if (ix->indexed < upto) {
		ix->kicked = true;
		pthread_cond_signal(&ix->cond);
	}
	while (ix->indexed < upto && !ix->stop)
		if (pthread_cond_timedwait(&ix->built_cond, &ix->mu, &ts) != 0)
			break;
	bool ok = ix->indexed >= upto;
	pthread_mutex_unlock(&ix->mu);
	return ok;
}

struct first_received { int64_t ns; };

static int received_of(void *ctx, uint64_t seq, const uint8_t *e, size_t len)
{
	struct doc_ctx d = {0};
	(void)seq;
	jwalk(e, len, column_leaf, &d);
	((struct first_received *)ctx)->ns = d.received_ns;
	return 1;
}

void index_status(struct index *ix, struct index_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	struct cset *s = cset_get(ix);
	pthread_mutex_lock(&ix->mu);
	ret->indexed = ix->indexed;
	ret->built = ix->built;
	ret->merged = ix->merged;
	ret->last_error = ix->last_error;
	pthread_mutex_unlock(&ix->mu);
	ret->log_size = log_size(ix->log);
	ret->chunks = s->n;
	for (size_t i = 0; i < s->n; i++)
		ret->bytes += chunk_file_size(s->v[i]->c);
	cset_put(s);
	if (ret->indexed < ret->log_size) {
		struct first_received fr = {0};
		struct buf b = BUF_INIT(SEG_FRAME_MAX + 64);
		if (log_read_run(ix->log, ret->indexed, 1, 0, &b, received_of, &fr) == 1 && fr.ns)
			ret->lag_ns = now_realtime_ns() - fr.ns;
		if (ret->lag_ns < 0)
			ret->lag_ns = 0;
		buf_release(&b);
	}
}

/* ---- query evaluation on one chunk --------------------------------------- */

struct eval {
	const struct chunk *c;
	uint32_t ndocs;
	uint64_t first;
	uint8_t term[IX_TERM_MAX + 1100];
};

static roaring_bitmap_t *all_docs(uint32_t n)
{
	return roaring_bitmap_from_range(0, n, 1);
}

static roaring_bitmap_t *postings_or_empty(const struct chunk *c, const uint8_t *t, size_t n)
{
	roaring_bitmap_t *b = chunk_postings(c, t, n);
	return b ? b : roaring_bitmap_create();
}

static roaring_bitmap_t *range_docs(const struct eval *ev, const struct qnode *n)
{
	int64_t lo = n->lo, hi = n->hi;
	if (n->rfield == QR_SEQ) {
		uint64_t a = lo < 0 ? 0 : (uint64_t)lo, z = hi < 0 ? 0 : (uint64_t)hi;
		if (hi < 0 || a > z || z < ev->first || a >= ev->first + ev->ndocs)
			return roaring_bitmap_create();
		uint64_t from = a > ev->first ? a - ev->first : 0;
		uint64_t to = z - ev->first + 1 < ev->ndocs ? z - ev->first + 1 : ev->ndocs;
		return roaring_bitmap_from_range(from, to, 1);
	}
	int64_t mn, mx;
	bool rcv = n->rfield == QR_RECEIVED;
	if (rcv)
		chunk_received_range(ev->c, &mn, &mx);
	else
		chunk_time_range(ev->c, &mn, &mx);
	if (lo > hi || mx < lo || mn > hi)
		return roaring_bitmap_create();
	if (mn >= lo && mx <= hi)
		return all_docs(ev->ndocs);
	roaring_bitmap_t *b = roaring_bitmap_create();
	uint32_t run = 0;
	bool in = false;
	for (uint32_t d = 0; d < ev->ndocs; d++) {
		int64_t t = rcv ? chunk_received(ev->c, d) : chunk_time(ev->c, d);
		bool m = t >= lo && t <= hi;
		if (m && !in) {
			run = d;
			in = true;
		} else if (!m && in) {
			roaring_bitmap_add_range(b, run, d);
			in = false;
		}
	}
	if (in)
		roaring_bitmap_add_range(b, run, ev->ndocs);
	return b;
}

/* Which terms of the dictionary a single-term node reads (term_span). */
enum tspan {
	TS_NONE,        /* not a term lookup: a range, a phrase, an unindexed field */
	TS_EXACT,       /* the one term ev->term[0..len) */
	TS_PREFIX,      /* every term starting with ev->term[0..len), through glob if set */
};

struct span {
	size_t len;
	const struct qnode *glob;  /* TS_PREFIX: match the value after vskip bytes */
	size_t vskip;
	bool inexact;              /* a value cut at IX_VALUE_MAX: the docs are a superset */
};

/* Writes into ev->term the term (or prefix) node n looks up. */
static enum tspan term_span(struct eval *ev, const struct qnode *n, struct span *sp)
{
	uint8_t *t = ev->term;
	memset(sp, 0, sizeof(*sp));
	if (n->op != Q_TERM)
		return TS_NONE;
	switch (n->term) {
	case QT_WORD:
	case QT_WORD_PREFIX:
		t[0] = 'W';
		memcpy(t + 1, n->value, n->value_len);
		sp->len = n->value_len + 1;
		return n->term == QT_WORD ? TS_EXACT : TS_PREFIX;
	case QT_HAS:
		t[0] = 'H';
		memcpy(t + 1, n->field, n->field_len);
		sp->len = n->field_len + 1;
		return TS_EXACT;
	case QT_FIELD_EQ:
	case QT_FIELD_PREFIX:
	case QT_FIELD_GLOB:
		break;
	default:
		return TS_NONE;
	}
	if (!field_indexed(n->field, n->field_len) || n->field_len > JW_PATH_MAX)
		return TS_NONE;
	t[0] = 'F';
	memcpy(t + 1, n->field, n->field_len);
	t[1 + n->field_len] = 0;
	size_t base = 2 + n->field_len, vl;
	if (n->term == QT_FIELD_EQ) {
		vl = n->value_len;
		if (vl >= IX_VALUE_MAX) {
			sp->inexact = true;
			vl = IX_VALUE_MAX;
		}
		memcpy(t + base, n->value, vl);
		sp->len = base + vl;
		return TS_EXACT;
	}
	if (n->term == QT_FIELD_PREFIX) {
		vl = n->value_len < IX_VALUE_MAX ? n->value_len : IX_VALUE_MAX;
		if (n->value_len > IX_VALUE_MAX)
			sp->inexact = true;
		memcpy(t + base, n->value, vl);
		sp->len = base + vl;
		return TS_PREFIX;
	}
	/* Glob: the literal bytes before the first wildcard narrow the scan. */
	vl = query_glob_literal_prefix(n);
	if (vl > IX_VALUE_MAX)
		vl = IX_VALUE_MAX;
	memcpy(t + base, n->value, vl);
	sp->len = base + vl;
	sp->glob = n;
	sp->vskip = base;
	return TS_PREFIX;
}

/* Steps it to the next term of the span; false at its end. Sets
 * sp->inexact when a cut value had to be taken on trust. */
static bool span_next(struct chunk_iter *it, enum tspan kind, struct span *sp)
{
	while (chunk_iter_next(it)) {
		size_t tl;
		const uint8_t *t = chunk_iter_term(it, &tl);
		if (kind == TS_EXACT)
			return tl == sp->len;   /* the exact term sorts first */
		if (!sp->glob)
			return true;
		if (tl < sp->vskip)
			continue;
		if (tl - sp->vskip >= IX_VALUE_MAX) {
			sp->inexact = true;
			return true;
		}
		if (query_glob_match(sp->glob, (const char *)t + sp->vskip, tl - sp->vskip))
			return true;
	}
	return false;
}

/* What reading the span's postings whole would cost: their total df, and
 * how many lists. */
static uint64_t span_df(const struct eval *ev, enum tspan kind, struct span *sp,
			uint64_t *ret_lists)
{
	struct chunk_iter it;
	uint64_t df = 0, lists = 0;
	bool inexact = sp->inexact;
	chunk_iter_init(&it, ev->c, ev->term, sp->len);
	while (span_next(&it, kind, sp)) {
		df += chunk_iter_df(&it);
		lists++;
	}
	sp->inexact = inexact;
	*ret_lists = lists;
	return df;
}

/* cand ∩ the span's docs, reading only what cand's docs need
 * (chunk_iter_filter): a new bitmap. */
static roaring_bitmap_t *span_filter(const struct eval *ev, enum tspan kind, struct span *sp,
				     const roaring_bitmap_t *cand)
{
	uint64_t nc = roaring_bitmap_get_cardinality(cand);
	uint32_t *v = malloc((nc ? nc : 1) * sizeof(*v));
	roaring_bitmap_t *out = v ? roaring_bitmap_create() : NULL;
	if (!out) {
		free(v);
		return NULL;
	}
	roaring_bitmap_to_uint32_array(cand, v);
	struct chunk_iter it;
	chunk_iter_init(&it, ev->c, ev->term, sp->len);
	while (span_next(&it, kind, sp))
		chunk_iter_filter(&it, v, (size_t)nc, out);
	free(v);
	return out;
}

/* Filtering beats reading the lists whole when they hold this many times
 * more docs than there are candidates per list (a filter costs a skip
 * search and a few decodes per candidate and list; a whole read costs a
 * decode and an insert per doc, the insert a memmove when lists
 * interleave). Measured at 3M events: selective p95 3.3-3.7 ms at 32,
 * 1.05-1.33 ms at 4 (INDEX.md). */
#define IX_FILTER_RATIO 4
/* An AND orders at most this many of its single-lookup children. */
#define IX_AND_ORDER 32

static roaring_bitmap_t *eval_node(struct eval *ev, const struct qnode *n, bool *exact);

static bool is_time_range(const struct qnode *n)
{
	return n->op == Q_TERM && n->term == QT_RANGE && n->rfield != QR_SEQ;
}

/* Keeps the docs of b whose time (or received time) lies in n's range. */
static void filter_range(const struct eval *ev, const struct qnode *n, roaring_bitmap_t *b)
{
	roaring_bitmap_t *drop = roaring_bitmap_create();
	roaring_uint32_iterator_t *it = roaring_create_iterator(b);
	for (; it->has_value; roaring_advance_uint32_iterator(it)) {
		uint32_t d = it->current_value;
		int64_t t = n->rfield == QR_RECEIVED ? chunk_received(ev->c, d) : chunk_time(ev->c, d);
		if (t < n->lo || t > n->hi)
			roaring_bitmap_add(drop, d);
	}
	roaring_free_uint32_iterator(it);
	roaring_bitmap_andnot_inplace(b, drop);
	bfree(drop);
}

/* AND. Children that are single lookups (a term, a prefix, a glob) are
 * ordered by what their postings hold in this chunk, and the smallest is
 * read first; a later one is then read whole only when that is cheaper
 * than filtering the candidates so far through it (span_filter: a
 * selective actor narrows a broad action prefix without decoding it).
 * Other children (OR, NOT, phrases) are read whole. Time ranges come
 * last, filtering doc by doc when few candidates are left. */
static roaring_bitmap_t *eval_and(struct eval *ev, const struct qnode *n, bool *exact)
{
	roaring_bitmap_t *b = NULL;
	*exact = true;
	/* A time range that misses the chunk's span: nothing here matches,
	 * and no posting list needs reading (a day's range over months). */
	for (size_t i = 0; i < n->nkids; i++) {
		const struct qnode *kid = n->kids[i];
		if (!is_time_range(kid))
			continue;
		int64_t mn, mx;
		if (kid->rfield == QR_RECEIVED)
			chunk_received_range(ev->c, &mn, &mx);
		else
			chunk_time_range(ev->c, &mn, &mx);
		if (kid->lo > kid->hi || mx < kid->lo || mn > kid->hi)
			return roaring_bitmap_create();
	}
	/* The single-lookup children, cheapest first. */
	struct ord { size_t kid; uint64_t df, lists; } ord[IX_AND_ORDER];
	size_t nord = 0;
	bool looked[IX_AND_ORDER] = { false };
	for (size_t i = 0; i < n->nkids && i < IX_AND_ORDER; i++) {
		struct span sp;
		enum tspan kind = term_span(ev, n->kids[i], &sp);
		if (kind == TS_NONE)
			continue;
		size_t j = nord++;
		ord[j].kid = i;
		ord[j].df = span_df(ev, kind, &sp, &ord[j].lists);
		for (; j > 0 && ord[j - 1].df > ord[j].df; j--) {
			struct ord t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
		looked[i] = true;
		if (ord[0].df == 0 && j == 0)
			break;   /* a child with no docs here: the AND is empty */
	}
	if (nord && ord[0].df == 0)
		return roaring_bitmap_create();
	for (size_t o = 0; o < nord; o++) {
		const struct qnode *kid = n->kids[ord[o].kid];
		struct span sp;
		enum tspan kind = term_span(ev, kid, &sp);
		roaring_bitmap_t *k;
		if (b && ord[o].df > IX_FILTER_RATIO * roaring_bitmap_get_cardinality(b) *
					  (ord[o].lists ? ord[o].lists : 1)) {
			k = span_filter(ev, kind, &sp, b);
			if (!k) {
				bfree(b);
				return NULL;
			}
			*exact = *exact && !sp.inexact;
			bfree(b);
			b = k;
		} else {
			bool e;

			if (!(k = eval_node(ev, kid, &e))) {
				bfree(b);
				return NULL;
			}
			*exact = *exact && e;
			if (!b) {
				b = k;
			} else {
				roaring_bitmap_and_inplace(b, k);
				bfree(k);
			}
		}
		if (roaring_bitmap_is_empty(b)) {
			*exact = true;   /* nothing can match, whatever the rest is */
			return b;
		}
		if (o > 0)
			continue;
		/* After the smallest lookup, the time ranges: a column read
		 * per candidate is cheaper than any posting list. */
		for (size_t i = 0; i < n->nkids && i < IX_AND_ORDER; i++) {
			if (!is_time_range(n->kids[i]) ||
			    roaring_bitmap_get_cardinality(b) >= ev->ndocs / 16)
				continue;
			filter_range(ev, n->kids[i], b);
			looked[i] = true;
		}
		if (roaring_bitmap_is_empty(b))
			return b;
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n->nkids; i++) {
			const struct qnode *kid = n->kids[i];
			if ((i < IX_AND_ORDER && looked[i]) || is_time_range(kid) != (pass == 1))
				continue;
			if (pass == 1 && b && roaring_bitmap_get_cardinality(b) < ev->ndocs / 16) {
				filter_range(ev, kid, b);
				continue;
			}
			bool e;
			roaring_bitmap_t *k = eval_node(ev, kid, &e);
			if (!k) {
				bfree(b);
				return NULL;
			}
			*exact = *exact && e;
			if (!b) {
				b = k;
				continue;
			}
			roaring_bitmap_and_inplace(b, k);
			bfree(k);
			if (roaring_bitmap_is_empty(b)) {
				/* Nothing can match: exact, whatever the rest is. */
				*exact = true;
				return b;
			}
		}
	return b;
}

/* Returns a new bitmap; *exact says whether it is exactly the matches
 * (else a superset). */
static roaring_bitmap_t *eval_node(struct eval *ev, const struct qnode *n, bool *exact)
{
	roaring_bitmap_t *b = NULL;
	*exact = true;
	switch (n->op) {
	case Q_AND:
		return eval_and(ev, n, exact);
	case Q_OR:
		for (size_t i = 0; i < n->nkids; i++) {
			bool e;
			roaring_bitmap_t *k = eval_node(ev, n->kids[i], &e);
			if (!k) {
				bfree(b);
				return NULL;
			}
			*exact = *exact && e;
			if (!b) {
				b = k;
				continue;
			}
			roaring_bitmap_or_inplace(b, k);
			bfree(k);
		}
		return b;
	case Q_NOT: {
		bool e;
		roaring_bitmap_t *k = eval_node(ev, n->kids[0], &e);
		if (!k)
			return NULL;
		b = all_docs(ev->ndocs);
		if (e)
			roaring_bitmap_andnot_inplace(b, k);
		else
			*exact = false;
		bfree(k);
		return b;
	}
	case Q_TERM:
		break;
	}
	struct span sp;
	switch (term_span(ev, n, &sp)) {
	case TS_EXACT:
		*exact = !sp.inexact;
		return postings_or_empty(ev->c, ev->term, sp.len);
	case TS_PREFIX:
		b = roaring_bitmap_create();
		struct chunk_iter it;
		chunk_iter_init(&it, ev->c, ev->term, sp.len);
		while (b && span_next(&it, TS_PREFIX, &sp))
			chunk_iter_or_into(&it, b);
		*exact = !sp.inexact;
		return b;
	case TS_NONE:
		break;
	}
	uint8_t *t = ev->term;
	switch (n->term) {
	case QT_PHRASE:
		*exact = false;
		for (size_t i = 0; i < n->ntokens; i++) {
			size_t tl = strlen(n->tokens[i]);
			t[0] = 'W';
			memcpy(t + 1, n->tokens[i], tl);
			roaring_bitmap_t *k = postings_or_empty(ev->c, t, tl + 1);
			if (!b) {
				b = k;
			} else {
				roaring_bitmap_and_inplace(b, k);
				bfree(k);
			}
		}
		return b ? b : all_docs(ev->ndocs);
	case QT_RANGE:
		return range_docs(ev, n);
	default:
		/* a field that is not indexed: every doc, verified */
		*exact = false;
		return all_docs(ev->ndocs);
	}
}

/* The tenant scope's docs in this chunk; NULL means every doc. */
static roaring_bitmap_t *scope_docs(struct eval *ev, const struct index_scope *sc)
{
	if (sc->all)
		return NULL;
	roaring_bitmap_t *b = roaring_bitmap_create();
	for (size_t i = 0; i < sc->n; i++) {
		size_t tl = strlen(sc->tenants[i]);
		if (tl > 64)
			continue;
		memcpy(ev->term, "Ftenant", 8);   /* 'F' "tenant" 0x00 */
		memcpy(ev->term + 8, sc->tenants[i], tl);
		roaring_bitmap_t *k = chunk_postings(ev->c, ev->term, 8 + tl);
		if (k) {
			roaring_bitmap_or_inplace(b, k);
			bfree(k);
		}
	}
	return b;
}

/* Candidates of the query within the scope, in chunk k: a new bitmap. */
static roaring_bitmap_t *candidates(struct ichunk *k, const struct query *q,
				    const struct index_scope *sc, bool *exact)
{
	struct eval *ev = malloc(sizeof(*ev));
	if (!ev)
		return NULL;
	ev->c = k->c;
	ev->ndocs = k->ndocs;
	ev->first = k->first;
	roaring_bitmap_t *b = q && q->root ? eval_node(ev, q->root, exact) : all_docs(k->ndocs);
	if (!q || !q->root)
		*exact = true;
	if (b && !sc->all) {
		/* The scope narrows the candidates like an AND of its tenants'
		 * lists, filtered through when they are few (span_filter). */
		uint64_t nc = roaring_bitmap_get_cardinality(b), df = 0;
		roaring_bitmap_t *s = NULL;
		for (size_t i = 0; i < sc->n; i++) {
			size_t tl = strlen(sc->tenants[i]);
			if (tl <= 64) {
				memcpy(ev->term, "Ftenant", 8);   /* 'F' "tenant" 0x00 */
				memcpy(ev->term + 8, sc->tenants[i], tl);
				df += chunk_df(ev->c, ev->term, 8 + tl);
			}
		}
		if (df > IX_FILTER_RATIO * nc * (sc->n ? sc->n : 1)) {
			s = roaring_bitmap_create();
			for (size_t i = 0; s && i < sc->n; i++) {
				size_t tl = strlen(sc->tenants[i]);
				if (tl > 64)
					continue;
				struct span sp = { .len = 8 + tl };
				memcpy(ev->term, "Ftenant", 8);
				memcpy(ev->term + 8, sc->tenants[i], tl);
				roaring_bitmap_t *f = span_filter(ev, TS_EXACT, &sp, b);
				if (!f) {
					bfree(s);
					s = NULL;
					break;
				}
				roaring_bitmap_or_inplace(s, f);
				bfree(f);
			}
			bfree(b);
			b = s;
		} else if ((s = scope_docs(ev, sc))) {
			roaring_bitmap_and_inplace(b, s);
			bfree(s);
		}
	}
	free(ev);
	return b;
}

/* Reads entry seq and checks it against q. */
static int verify_seq(struct index *ix, const struct query *q, uint64_t seq, struct buf *e)
{
	buf_reset(e);
	int r = log_read_entry(ix->log, seq, e);
	if (r < 0)
		return r;
	return query_match(q, e->data, e->len) ? 1 : 0;
}

/* ---- search -------------------------------------------------------------- */

bool index_sort_parse(const char *s, size_t n, enum index_sort *ret)
{
	static const struct { const char *name; enum index_sort v; } t[] = {
		{"-time", IX_SORT_TIME_DESC}, {"time", IX_SORT_TIME_ASC},
		{"-seq", IX_SORT_SEQ_DESC}, {"seq", IX_SORT_SEQ_ASC},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == n && memcmp(t[i].name, s, n) == 0) {
			*ret = t[i].v;
			return true;
		}
	return false;
}

struct key { int64_t t; uint64_t seq; };

static int key_cmp(const struct key *a, const struct key *b)
{
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* "a comes before b" in the result order. */
static bool key_before(enum index_sort s, const struct key *a, const struct key *b)
{
	int c = key_cmp(a, b);
	return s == IX_SORT_TIME_ASC ? c < 0 : c > 0;
}

/* A bounded heap keeping the first `cap` keys in result order; the root
 * is the last of them (the first to be evicted). */
struct heap {
	struct key *v;
	size_t n, cap;
	enum index_sort sort;
};

static void heap_push(struct heap *h, struct key k)
{
	if (h->n == h->cap) {
		if (!key_before(h->sort, &k, &h->v[0]))
			return;
		h->v[0] = k;
		size_t i = 0;
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, m = i;
			if (l < h->n && key_before(h->sort, &h->v[m], &h->v[l]))
				m = l;
			if (r < h->n && key_before(h->sort, &h->v[m], &h->v[r]))
				m = r;
			if (m == i)
				break;
			struct key tmp = h->v[i];
			h->v[i] = h->v[m];
			h->v[m] = tmp;
			i = m;
		}
		return;
	}
	size_t i = h->n++;
	h->v[i] = k;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!key_before(h->sort, &h->v[p], &h->v[i]))
			break;
		struct key tmp = h->v[i];
		h->v[i] = h->v[p];
		h->v[p] = tmp;
		i = p;
	}
}

static enum index_sort sort_of_qsort;
static int key_qsort(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (key_before(sort_of_qsort, x, y))
		return -1;
	return key_before(sort_of_qsort, y, x);
}

static void sort_keys(struct key *v, size_t n, enum index_sort s)
{
	/* qsort has no context argument in C11; the sort order is set under
	 * a lock so concurrent searches do not race on it. */
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&mu);
	sort_of_qsort = s;
	qsort(v, n, sizeof(*v), key_qsort);
	pthread_mutex_unlock(&mu);
}

struct chunk_order { struct ichunk *k; int64_t best; };

static int order_desc(const void *a, const void *b)
{
	const struct chunk_order *x = a, *y = b;
	return x->best > y->best ? -1 : x->best < y->best;
}

/* Restricts b to docs whose seq is below upto. */
static void clip_upto(roaring_bitmap_t *b, const struct ichunk *k, uint64_t upto)
{
	if (upto >= k->first + k->ndocs)
		return;
	uint64_t from = upto > k->first ? upto - k->first : 0;
	roaring_bitmap_remove_range(b, from, k->ndocs);
}

static int search_seq(struct index *ix, struct cset *set, struct index_search *s,
		      uint64_t upto, struct buf *e)
{
	bool asc = s->sort == IX_SORT_SEQ_ASC;
	size_t want = s->limit + 1, got = 0;
	uint64_t last = s->cursor.last_seq;
	int r = 0;

	for (size_t ii = 0; ii < set->n && got < want; ii++) {
		struct ichunk *k = set->v[asc ? ii : set->n - 1 - ii];
		if (k->first >= upto)
			continue;
		if (s->cursor.started && (asc ? k->first + k->ndocs <= last + 1 : k->first >= last))
			continue;
		bool exact;
		roaring_bitmap_t *b = candidates(k, s->q, s->scope, &exact);
		if (!b)
			return -ENOMEM;
		clip_upto(b, k, upto);
		if (s->cursor.started) {
			if (asc && last + 1 > k->first)
				roaring_bitmap_remove_range(b, 0, last + 1 - k->first);
			if (!asc && last < k->first + k->ndocs)
				roaring_bitmap_remove_range(b, last - k->first, k->ndocs);
		}
		uint64_t card = roaring_bitmap_get_cardinality(b);
		for (uint64_t i = 0; i < card && got < want; i++) {
			uint32_t doc;
			roaring_bitmap_select(b, (uint32_t)(asc ? i : card - 1 - i), &doc);
			uint64_t seq = k->first + doc;
			if (!exact) {
				if (++s->scanned > INDEX_VERIFY_MAX) {
					r = ST_ELIMIT;
					break;
				}
				if ((r = verify_seq(ix, s->q, seq, e)) < 0)
					break;
				if (r == 0)
					continue;
				r = 0;
			}
			if (got < s->limit)
				s->hits[got] = (struct index_hit){seq, chunk_time(k->c, doc),
								  chunk_received(k->c, doc)};
			got++;
		}
		bfree(b);
		if (r < 0)
			return r;
	}
	s->nhits = got < s->limit ? got : s->limit;
	s->more = got > s->limit;
	return 0;
}

static int search_time(struct index *ix, struct cset *set, struct index_search *s,
		       uint64_t upto, struct buf *e)
{
	bool desc = s->sort == IX_SORT_TIME_DESC;
	struct key last = {s->cursor.last_time, s->cursor.last_seq};
	struct chunk_order *ord = calloc(set->n ? set->n : 1, sizeof(*ord));
	struct heap h = {.cap = s->limit + 1, .sort = s->sort};
	struct key *pend = NULL;     /* inexact candidates, verified in order at the end */
	size_t npend = 0, pcap = 0;
	int r = 0;

	h.v = calloc(h.cap, sizeof(*h.v));
	if (!ord || !h.v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < set->n; i++) {
		int64_t mn, mx;
		chunk_time_range(set->v[i]->c, &mn, &mx);
		ord[i] = (struct chunk_order){set->v[i], desc ? mx : -mn};
	}
	qsort(ord, set->n, sizeof(*ord), order_desc);
	for (size_t i = 0; i < set->n; i++) {
		struct ichunk *k = ord[i].k;
		if (k->first >= upto)
			continue;
		int64_t mn, mx;
		chunk_time_range(k->c, &mn, &mx);
		/* Pruning: a chunk none of whose times can enter a full heap. */
		if (h.n == h.cap && npend == 0) {
			struct key best = {desc ? mx : mn, desc ? UINT64_MAX : 0};
			if (!key_before(s->sort, &best, &h.v[0]))
				continue;
		}
		if (s->cursor.started) {
			/* Skip a chunk whose every key is at or before the cursor. */
			struct key worst = {desc ? mn : mx, desc ? 0 : UINT64_MAX};
			if (!key_before(s->sort, &last, &worst))
				continue;
		}
		bool exact;
		roaring_bitmap_t *b = candidates(k, s->q, s->scope, &exact);
		if (!b) {
			r = -ENOMEM;
			goto out;
		}
		clip_upto(b, k, upto);
		roaring_uint32_iterator_t *it = roaring_create_iterator(b);
		for (; it->has_value; roaring_advance_uint32_iterator(it)) {
			uint32_t doc = it->current_value;
			struct key kk = {chunk_time(k->c, doc), k->first + doc};
			if (s->cursor.started && !key_before(s->sort, &last, &kk))
				continue;
			if (exact) {
				heap_push(&h, kk);
				continue;
			}
			if (npend == pcap) {
				if (npend >= INDEX_VERIFY_MAX) {
					r = ST_ELIMIT;
					break;
				}
				pcap = pcap ? pcap * 2 : 1024;
				struct key *np = realloc(pend, pcap * sizeof(*pend));
				if (!np) {
					r = -ENOMEM;
					break;
				}
				pend = np;
			}
			pend[npend++] = kk;
		}
		roaring_free_uint32_iterator(it);
		bfree(b);
		if (r < 0)
			goto out;
	}
	/* The exact heap's keys and the verified pending ones, merged in order. */
	sort_keys(h.v, h.n, s->sort);
	if (npend)
		sort_keys(pend, npend, s->sort);
	size_t hi = 0, pi = 0, got = 0, want = s->limit + 1;
	while (got < want && (hi < h.n || pi < npend)) {
		struct key kk;
		if (pi < npend && (hi >= h.n || key_before(s->sort, &pend[pi], &h.v[hi]))) {
			kk = pend[pi++];
			s->scanned++;
			if ((r = verify_seq(ix, s->q, kk.seq, e)) < 0)
				goto out;
			if (r == 0)
				continue;
			r = 0;
		} else {
			kk = h.v[hi++];
		}
		if (got < s->limit)
			s->hits[got] = (struct index_hit){kk.seq, kk.t, 0};
		got++;
	}
	s->nhits = got < s->limit ? got : s->limit;
	s->more = got > s->limit;
	/* The received column of each hit, from its chunk. */
	for (size_t i = 0; i < s->nhits; i++)
		for (size_t j = 0; j < set->n; j++) {
			struct ichunk *k = set->v[j];
			if (s->hits[i].seq >= k->first && s->hits[i].seq < k->first + k->ndocs) {
				s->hits[i].received_ns = chunk_received(k->c, (uint32_t)(s->hits[i].seq - k->first));
				break;
			}
		}
out:
	free(ord);
	free(h.v);
	free(pend);
	return r;
}

int index_search(struct index *ix, struct index_search *s)
{
	if (s->limit == 0 || s->limit > INDEX_LIMIT_MAX)
		return ST_EINVAL;
	struct cset *set = cset_get(ix);
	pthread_mutex_lock(&ix->mu);
	uint64_t indexed = ix->indexed;
	pthread_mutex_unlock(&ix->mu);
	uint64_t upto;
	if (s->cursor.started)
		upto = s->cursor.upto ? s->cursor.upto : indexed;
	else
		upto = s->upto && s->upto < indexed ? s->upto : indexed;
	if (upto > indexed)
		upto = indexed;
	struct buf e = BUF_INIT(SEG_FRAME_MAX + 64);
	s->nhits = 0;
	s->more = false;
	s->scanned = 0;
	int r;
	if (s->sort == IX_SORT_SEQ_ASC || s->sort == IX_SORT_SEQ_DESC)
		r = search_seq(ix, set, s, upto, &e);
	else
		r = search_time(ix, set, s, upto, &e);
	buf_release(&e);
	trim_maybe(ix, set);
	cset_put(set);
	if (r < 0)
		return r;
	s->next = (struct index_cursor){
		.sort = s->sort,
		/* Ascending seq needs no pin: new entries come after the cursor,
		 * which is what `tail` follows. Every other order is pinned to
		 * the snapshot of the first page, so pages never shift. */
		.upto = s->sort == IX_SORT_SEQ_ASC && !s->upto ? 0 : upto,
		.started = true,
	};
	if (s->nhits) {
		s->next.last_time = s->hits[s->nhits - 1].time_ns;
		s->next.last_seq = s->hits[s->nhits - 1].seq;
	} else {
		s->next.last_time = s->cursor.last_time;
		s->next.last_seq = s->cursor.last_seq;
		s->next.started = s->cursor.started;
	}
	return 0;
}

/* ---- cursors ------------------------------------------------------------- */

static void cursor_tag(struct index *ix, const uint8_t body[CURSOR_BODY],
		       const char *qtext, size_t qlen, const struct index_scope *sc,
		       uint8_t tag[CURSOR_TAG])
{
	crypto_auth_hmacsha256_state st;
	uint8_t full[32], qh[32];
	crypto_auth_hmacsha256_init(&st, ix->key, sizeof(ix->key));
	crypto_auth_hmacsha256_update(&st, body, CURSOR_BODY);
	sha256(qtext, qlen, qh);
	crypto_auth_hmacsha256_update(&st, qh, sizeof(qh));
	if (sc->all) {
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)"*", 2);
	} else {
		for (size_t i = 0; i < sc->n; i++)
			crypto_auth_hmacsha256_update(&st, (const uint8_t *)sc->tenants[i],
						      strlen(sc->tenants[i]) + 1);
	}
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(tag, full, CURSOR_TAG);
}

int index_cursor_encode(struct index *ix, const struct index_cursor *c,
			const char *qtext, size_t qlen, const struct index_scope *scope,
			char out[INDEX_CURSOR_MAX + 1])
{
	uint8_t raw[CURSOR_BODY + CURSOR_TAG];
	raw[0] = CURSOR_VERSION;
	raw[1] = (uint8_t)c->sort;
	raw[2] = c->started;
	put_le64(raw + 3, c->upto);
	put_le64(raw + 11, (uint64_t)c->last_time);
	put_le64(raw + 19, c->last_seq);
	cursor_tag(ix, raw, qtext, qlen, scope, raw + CURSOR_BODY);
	hex_encode(raw, sizeof(raw), out);
	out[2 * sizeof(raw)] = 0;
	return 0;
}

int index_cursor_decode(struct index *ix, const char *s, size_t n,
			const char *qtext, size_t qlen, const struct index_scope *scope,
			enum index_sort sort, struct index_cursor *ret, char *err, size_t errcap)
{
	uint8_t raw[CURSOR_BODY + CURSOR_TAG], tag[CURSOR_TAG];
	if (n != 2 * sizeof(raw) || !hex_decode(s, n, raw, sizeof(raw)))
		return st_fail(err, errcap, "cursor: expected %zu hex digits, found %zu characters",
			       2 * sizeof(raw), n);
	if (raw[0] != CURSOR_VERSION)
		return st_fail(err, errcap, "cursor: unknown version %u", raw[0]);
	cursor_tag(ix, raw, qtext, qlen, scope, tag);
	if (!st_ct_equal(tag, raw + CURSOR_BODY, CURSOR_TAG))
		return st_fail(err, errcap, "cursor: not issued for this query, sort and token scope");
	if (raw[1] != (uint8_t)sort)
		return st_fail(err, errcap, "cursor: issued for another sort order");
	ret->sort = sort;
	ret->started = raw[2] != 0;
	ret->upto = get_le64(raw + 3);
	ret->last_time = (int64_t)get_le64(raw + 11);
	ret->last_seq = get_le64(raw + 19);
	return 0;
}

/* ---- stats --------------------------------------------------------------- */

struct vcount {
	char *value;
	size_t len;
	uint64_t count;
	uint64_t hash;
};

struct vmap {
	struct vcount *v;
	size_t n, cap;    /* cap is a power of two */
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1;
}

static int vmap_add(struct vmap *m, const uint8_t *val, size_t len, uint64_t c)
{
	if ((m->n + 1) * 10 >= m->cap * 7) {
		size_t ncap = m->cap ? m->cap * 2 : 1024;
		struct vcount *nv = calloc(ncap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->v[i].hash)
				continue;
			size_t j = m->v[i].hash & (ncap - 1);
			while (nv[j].hash)
				j = (j + 1) & (ncap - 1);
			nv[j] = m->v[i];
		}
		free(m->v);
		m->v = nv;
		m->cap = ncap;
	}
	uint64_t h = fnv(val, len);
	size_t j = h & (m->cap - 1);
	while (m->v[j].hash) {
		if (m->v[j].hash == h && m->v[j].len == len && memcmp(m->v[j].value, val, len) == 0) {
			m->v[j].count += c;
			return 0;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->v[j].value = malloc(len + 1);
	if (!m->v[j].value)
		return -ENOMEM;
	memcpy(m->v[j].value, val, len);
	m->v[j].value[len] = 0;
	m->v[j].len = len;
	m->v[j].count = c;
	m->v[j].hash = h;
	m->n++;
	return 0;
}

static void vmap_release(struct vmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].value);
	free(m->v);
}

static int vcount_cmp(const void *a, const void *b)
{
	const struct vcount *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->value, y->value, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The exact matches of s->q in chunk k, within the scope: verified from
 * the log when the index alone is not exact. */
static roaring_bitmap_t *exact_matches(struct index *ix, struct ichunk *k,
				       const struct query *q, const struct index_scope *sc,
				       uint64_t *budget, struct buf *e, int *ret_r)
{
	bool exact;
	roaring_bitmap_t *b = candidates(k, q, sc, &exact);
	*ret_r = 0;
	if (!b) {
		*ret_r = -ENOMEM;
		return NULL;
	}
	if (exact)
		return b;
	roaring_bitmap_t *x = roaring_bitmap_create();
	roaring_uint32_iterator_t *it = roaring_create_iterator(b);
	for (; it->has_value; roaring_advance_uint32_iterator(it)) {
		if (*budget == 0) {
			*ret_r = ST_ELIMIT;
			break;
		}
		(*budget)--;
		int r = verify_seq(ix, q, k->first + it->current_value, e);
		if (r < 0) {
			*ret_r = r;
			break;
		}
		if (r)
			roaring_bitmap_add(x, it->current_value);
	}
	roaring_free_uint32_iterator(it);
	bfree(b);
	if (*ret_r < 0) {
		bfree(x);
		return NULL;
	}
	return x;
}

int index_stats(struct index *ix, struct index_stats *s)
{
	struct cset *set = cset_get(ix);
	pthread_mutex_lock(&ix->mu);
	uint64_t upto = ix->indexed;
	pthread_mutex_unlock(&ix->mu);
	roaring_bitmap_t **m = calloc(set->n ? set->n : 1, sizeof(*m));
	struct vmap vm = {0};
	struct buf e = BUF_INIT(SEG_FRAME_MAX + 64);
	uint8_t prefix[2 + JW_PATH_MAX];
	size_t plen = 0;
	uint64_t budget = INDEX_VERIFY_MAX;
	int64_t bmin = INT64_MAX, bmax = INT64_MIN;
	int r = 0;

	s->total = s->other = s->distinct = 0;
	s->values = s->histogram = NULL;
	s->nvalues = s->nhistogram = 0;
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	if (s->by) {
		plen = strlen(s->by);
		if (plen == 0 || plen > JW_PATH_MAX) {
			r = ST_EINVAL;
			goto out;
		}
		prefix[0] = 'F';
		memcpy(prefix + 1, s->by, plen);
		prefix[1 + plen] = 0;
		plen += 2;
		if (!field_indexed(s->by, plen - 2)) {
			r = ST_EINVAL;   /* time, received_at, seq...: use interval */
			goto out;
		}
	}
	if (s->top == 0 || s->top > INDEX_TOP_MAX)
		s->top = s->top ? INDEX_TOP_MAX : 10;
	if (s->interval_ns != 0 && s->interval_ns < 1000000000)
		s->interval_ns = 1000000000;
	/* Pass 1: the matches per chunk, the total, the values. */
	for (size_t i = 0; i < set->n; i++) {
		struct ichunk *k = set->v[i];
		bool none = !s->q || !s->q->root;
		if (none && s->scope->all) {
			m[i] = NULL;      /* every doc: counts are document frequencies */
		} else {
			m[i] = exact_matches(ix, k, s->q, s->scope, &budget, &e, &r);
			if (!m[i])
				goto out;
			clip_upto(m[i], k, upto);
		}
		s->total += m[i] ? roaring_bitmap_get_cardinality(m[i]) : k->ndocs;
		if (s->by) {
			struct chunk_iter it;
			chunk_iter_init(&it, k->c, prefix, plen);
			while (chunk_iter_next(&it)) {
				uint64_t c;
				if (m[i]) {
					roaring_bitmap_t *p = chunk_iter_postings(&it);
					if (!p) {
						r = ST_ECORRUPT;
						goto out;
					}
					c = roaring_bitmap_and_cardinality(p, m[i]);
					bfree(p);
				} else {
					c = chunk_iter_df(&it);
				}
				if (c == 0)
					continue;
				size_t tl;
				const uint8_t *t = chunk_iter_term(&it, &tl);
				if ((r = vmap_add(&vm, t + plen, tl - plen, c)) < 0)
					goto out;
			}
		}
		if (s->interval_ns) {
			int64_t mn, mx;
			if (m[i] && roaring_bitmap_is_empty(m[i]))
				continue;
			if (s->by_received)
				chunk_received_range(k->c, &mn, &mx);
			else
				chunk_time_range(k->c, &mn, &mx);
			int64_t a = floor_div(mn, s->interval_ns), z = floor_div(mx, s->interval_ns);
			if (a < bmin) bmin = a;
			if (z > bmax) bmax = z;
		}
	}
	/* Top K values. */
	if (s->by) {
		struct vcount *all = malloc((vm.n ? vm.n : 1) * sizeof(*all));
		size_t n = 0;
		if (!all) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < vm.cap; i++)
			if (vm.v[i].hash)
				all[n++] = vm.v[i];
		qsort(all, n, sizeof(*all), vcount_cmp);
		s->distinct = n;
		size_t keep = n < s->top ? n : s->top;
		s->values = calloc(keep ? keep : 1, sizeof(*s->values));
		if (!s->values) {
			free(all);
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (i >= keep) {
				s->other += all[i].count;
				continue;
			}
			s->values[i].value = malloc(all[i].len + 1);
			if (!s->values[i].value) {
				free(all);
				r = -ENOMEM;
				goto out;
			}
			memcpy(s->values[i].value, all[i].value, all[i].len + 1);
			s->values[i].value_len = all[i].len;
			s->values[i].count = all[i].count;
			s->nvalues++;
		}
		free(all);
	}
	/* Pass 2: the histogram (and one series per top value). */
	if (s->interval_ns && bmin <= bmax) {
		uint64_t nb = (uint64_t)(bmax - bmin) + 1;
		if (nb > INDEX_BUCKETS_MAX || (s->by && nb * (s->nvalues + 1) > 4000000)) {
			r = ST_ELIMIT;
			goto out;
		}
		uint64_t *cnt = calloc(nb, sizeof(*cnt));
		if (!cnt) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t v = 0; v < s->nvalues; v++) {
			s->values[v].series = calloc(nb, sizeof(uint64_t));
			if (!s->values[v].series) {
				free(cnt);
				r = -ENOMEM;
				goto out;
			}
		}
		for (size_t i = 0; i < set->n; i++) {
			struct ichunk *k = set->v[i];
			roaring_bitmap_t *b = m[i] ? m[i] : all_docs(k->ndocs);
			roaring_uint32_iterator_t *it = roaring_create_iterator(b);
			for (; it->has_value; roaring_advance_uint32_iterator(it)) {
				int64_t t = s->by_received ? chunk_received(k->c, it->current_value)
							   : chunk_time(k->c, it->current_value);
				cnt[floor_div(t, s->interval_ns) - bmin]++;
			}
			roaring_free_uint32_iterator(it);
			for (size_t v = 0; v < s->nvalues; v++) {
				uint8_t term[2 + JW_PATH_MAX + IX_VALUE_MAX];
				memcpy(term, prefix, plen);
				memcpy(term + plen, s->values[v].value, s->values[v].value_len);
				roaring_bitmap_t *p = chunk_postings(k->c, term, plen + s->values[v].value_len);
				if (!p)
					continue;
				roaring_bitmap_and_inplace(p, b);
				it = roaring_create_iterator(p);
				for (; it->has_value; roaring_advance_uint32_iterator(it)) {
					int64_t t = s->by_received ? chunk_received(k->c, it->current_value)
								   : chunk_time(k->c, it->current_value);
					s->values[v].series[floor_div(t, s->interval_ns) - bmin]++;
				}
				roaring_free_uint32_iterator(it);
				bfree(p);
			}
			if (!m[i])
				bfree(b);
		}
		/* Trim empty buckets at both ends (chunk ranges are wider than
		 * the matches); keep the empty ones between. */
		uint64_t a = 0, z = nb;
		while (a < z && cnt[a] == 0)
			a++;
		while (z > a && cnt[z - 1] == 0)
			z--;
		s->histogram = calloc(z > a ? z - a : 1, sizeof(*s->histogram));
		if (!s->histogram) {
			free(cnt);
			r = -ENOMEM;
			goto out;
		}
		for (uint64_t b = a; b < z; b++)
			s->histogram[s->nhistogram++] = (struct index_bucket){
				.start_ns = (bmin + (int64_t)b) * s->interval_ns, .count = cnt[b]};
		for (size_t v = 0; v < s->nvalues; v++) {
			if (a > 0)
				memmove(s->values[v].series, s->values[v].series + a, (z - a) * sizeof(uint64_t));
			s->values[v].nseries = z - a;
		}
		s->series_start_ns = (bmin + (int64_t)a) * s->interval_ns;
		free(cnt);
	}
out:
	if (m)
		for (size_t i = 0; i < set->n; i++)
			bfree(m[i]);
	free(m);
	vmap_release(&vm);
	buf_release(&e);
	trim_maybe(ix, set);
	cset_put(set);
	if (r < 0)
		index_stats_release(s);
	return r;
}

void index_stats_release(struct index_stats *s)
{
	for (size_t i = 0; i < s->nvalues; i++) {
		free(s->values[i].value);
		free(s->values[i].series);
	}
	free(s->values);
	free(s->histogram);
	s->values = s->histogram = NULL;
	s->nvalues = s->nhistogram = 0;
}

int index_timeline_query(const char *key, const char *id, size_t n, struct buf *out)
{
	int r = buf_printf(out, "%s:\"", key);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (id[i] == '"' || id[i] == '\\')
			r = buf_putc(out, '\\');
		if (r == 0)
			r = buf_putc(out, (uint8_t)id[i]);
	}
	return r ? r : buf_putc(out, '"');
}
