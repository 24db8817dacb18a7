/*
 * index_lmdb: the LMDB side of the search benchmark (issue 4, the measured
 * alternatives of DECISIONS.md 21). LMDB does the job of Sealtrail's index
 * (src/index/, docs/INDEX.md) on the same events and the same query set as
 * bench/index_sqlite.c, in process, timed the same way:
 *
 *   index_lmdb --db DIR --events EVENTS.ndjson --queries QUERIES.tsv
 *              [--runs R] [--map-gib G] [--writemap] [--out FILE.tsv]
 *              [--hits FILE.tsv]
 *
 * DIR must not exist: it is created and holds a fresh environment
 * (data.mdb, lock.mdb). The run is:
 *
 *   1. schema: one environment, map size G GiB (default 64; sparse, the
 *      file grows only as pages are written), page size the OS's, five
 *      named databases. t8 is the event's time in nanoseconds since 1970
 *      as 8 bytes big-endian with the sign bit flipped (so memcmp orders
 *      it; an event without a time gets 0, first, as SQLite's NULL),
 *      s8 the seq (the 1-based line number) 8 bytes big-endian:
 *        events         s8 -> the NDJSON line, byte for byte
 *        terms          DUPSORT|DUPFIXED: term -> t8 s8, a term's postings
 *                       a sorted list of 16-byte dups, oldest first. The
 *                       terms: every word of the event's string values
 *                       (not keys), tokenized as SQLite's fts ascii
 *                       tokenizer and Sealtrail: runs of ASCII letters and
 *                       digits and bytes >= 0x80, ASCII lower-cased, once
 *                       per event; and "action=" + the action. A word
 *                       never has '=', so the two kinds cannot collide.
 *        by_actor_time  actor.id \0 t8 s8 -> the action (checked against
 *                       the prefix without reading the event)
 *        by_request     DUPSORT|DUPFIXED: request_id -> t8 s8
 *        by_time        t8 s8 -> empty (SQLite's events_time: no query
 *                       here uses it, but an index keeps it, and it costs
 *                       on load)
 *      A key longer than mdb_env_get_maxkeysize (511) is not stored and
 *      counted ("skipped"): no query of the set asks for one.
 *   2. load: one write transaction per 10,000 lines, the environment
 *      MDB_NOSYNC while loading (commits are written, not fsynced: as
 *      SQLite's synchronous=NORMAL in WAL mode), then MDB_NOSYNC off and
 *      mdb_env_sync(force): the load rate is lines over the wall time from
 *      the first begin to the end of that sync, so it is durable.
 *      --writemap opens the environment MDB_WRITEMAP (pages are written in
 *      the map, a commit copies nothing; the sync is an msync): LMDB's bulk
 *      load setting, at the price that a stray pointer can scribble on it. Fields
 *      come from bench_util.h's JSON scanner (the one index_sqlite uses).
 *      Sizes: the pages in use ((last page + 1) * page size), the file,
 *      and per database (branch + leaf + overflow pages) against the
 *      NDJSON.
 *   3. queries, from QUERIES.tsv (bench/search_queries.py), the
 *      parameters from the Sealtrail column; each run is one read
 *      transaction (renewed, reset after) and its cursors:
 *        selective        actor.id:A action:P.* time:YYYY-MM-DD: by_actor_time
 *                         from A \0 t8(day + 1) backwards while the key is
 *                         A's and its time >= day; a key whose action starts
 *                         with "P." (memcmp: LIKE in SQLite ignores ASCII
 *                         case) is a hit and its event read; newest 100.
 *        word             W (lower-cased; must be one token): its postings
 *                         from the last dup backwards (newest time first),
 *                         100 events read.
 *        count_by_action  terms from "action=" while the key has that
 *                         prefix: mdb_cursor_count a key; hits = keys
 *                         (groups; events without an action are in no
 *                         group, SQLite would count a NULL group).
 *        timeline         ID: by_request's dups for ID in order (oldest
 *                         first), every event read.
 *      "Read" is as SQLite's: the first and last byte of the body are
 *      touched. Warm-up, runs, median and nearest-rank percentiles are
 *      bench_util.h's run_classes, the same code index_sqlite times with.
 *
 * stdout: settings, load, sizes, then a line per class "class n p50 p95
 * max hits min/mean/max" and the peak RSS (VmHWM; it counts the touched
 * pages of the map, which are page cache, not heap). --out FILE gets
 * "class p50_ms p95_ms n"; --hits FILE "line class hits" per query, to
 * compare answers with index_sqlite --hits. Exit status 0; 1 when LMDB or
 * the data refused something (the message names the line); 2 on bad
 * usage. Only libc and liblmdb: no project code is measured here.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#define BENCH_PROG "index_lmdb"
#include "bench_util.h"

#define BATCH_ROWS 10000         /* lines per write transaction */
#define PROGRESS_ROWS 100000     /* a load rate line every this many lines */
#define SEARCH_LIMIT 100         /* selective and word: newest 100 */
#define ACTION_TERM "action="
#define ACTION_TERM_LEN (sizeof(ACTION_TERM) - 1)

enum db { DB_EVENTS, DB_TERMS, DB_ACTOR_TIME, DB_REQUEST, DB_TIME, DB_N };

static const char *const db_name[DB_N] = {
	[DB_EVENTS] = "events",
	[DB_TERMS] = "terms",
	[DB_ACTOR_TIME] = "by_actor_time",
	[DB_REQUEST] = "by_request",
	[DB_TIME] = "by_time",
};

static const unsigned db_flags[DB_N] = {
	[DB_TERMS] = MDB_DUPSORT | MDB_DUPFIXED,
	[DB_REQUEST] = MDB_DUPSORT | MDB_DUPFIXED,
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_N];
	size_t maxkey;           /* mdb_env_get_maxkeysize */
	long long skipped;       /* keys over maxkey, not stored */
};

/* ------------------------------------------------------------ keys */

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* t8: nanoseconds with the sign bit flipped, so unsigned order is time order. */
static uint64_t time_key(int64_t ns)
{
	return (uint64_t)ns ^ 0x8000000000000000ULL;
}

static bool token_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int lmdb_fail(const char *what, int err, long long seq)
{
	if (seq > 0)
		fprintf(stderr, "index_lmdb: %s at line %lld: %s\n", what, seq, mdb_strerror(err));
	else
		fprintf(stderr, "index_lmdb: %s: %s\n", what, mdb_strerror(err));
	return -1;
}

/* ------------------------------------------------------------ load */

struct tok {
	const char *p;
	size_t n;
};

static int cmp_tok(const void *a, const void *b)
{
	const struct tok *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Store key -> val in d unless the key is too long (then count it). */
static int put(struct store *s, MDB_txn *txn, enum db d, const void *k, size_t kn, const void *v, size_t vn,
	       unsigned flags, long long seq)
{
	MDB_val key = { kn, (void *)k }, val = { vn, (void *)v };
	int err;
	if (kn == 0 || kn > s->maxkey) {
		s->skipped++;
		return 0;
	}
	err = mdb_put(txn, s->dbi[d], &key, &val, flags);
	return err ? lmdb_fail(db_name[d], err, seq) : 0;
}

/*
 * One event's keys. sc holds its fields and decoded string values (the
 * values are lower-cased and tokenized here, in place, after the fields
 * have been stored); toks is grown as needed.
 */
static int index_event(struct store *s, MDB_txn *txn, long long seq, const char *line, size_t n,
		       struct scan *sc, struct tok **toks, size_t *tok_cap, char *kbuf)
{
	unsigned char ts[16];
	int64_t ns;
	bool has_time = sc->len[F_TIME] >= 0 &&
			parse_time(sc->out + sc->off[F_TIME], (size_t)sc->len[F_TIME], &ns) == 0;

	put_be64(ts, has_time ? time_key(ns) : 0);
	put_be64(ts + 8, (uint64_t)seq);
	if (put(s, txn, DB_EVENTS, ts + 8, 8, line, n, MDB_APPEND, seq) < 0 ||
	    put(s, txn, DB_TIME, ts, 16, "", 0, 0, seq) < 0)
		return -1;
	if (has_time && sc->len[F_ACTOR_ID] >= 0) {
		size_t an = (size_t)sc->len[F_ACTOR_ID];
		const char *act = sc->len[F_ACTION] >= 0 ? sc->out + sc->off[F_ACTION] : "";
		size_t actn = sc->len[F_ACTION] >= 0 ? (size_t)sc->len[F_ACTION] : 0;
		if (an + 17 <= s->maxkey) {
			memcpy(kbuf, sc->out + sc->off[F_ACTOR_ID], an);
			kbuf[an] = '\0';
			memcpy(kbuf + an + 1, ts, 16);
			if (put(s, txn, DB_ACTOR_TIME, kbuf, an + 17, act, actn, 0, seq) < 0)
				return -1;
		} else {
			s->skipped++;
		}
	}
	if (sc->len[F_REQUEST_ID] >= 0 &&
	    put(s, txn, DB_REQUEST, sc->out + sc->off[F_REQUEST_ID], (size_t)sc->len[F_REQUEST_ID], ts, 16, 0,
		seq) < 0)
		return -1;
	if (sc->len[F_ACTION] >= 0) {
		size_t an = (size_t)sc->len[F_ACTION];
		if (ACTION_TERM_LEN + an <= s->maxkey) {
			memcpy(kbuf, ACTION_TERM, ACTION_TERM_LEN);
			memcpy(kbuf + ACTION_TERM_LEN, sc->out + sc->off[F_ACTION], an);
			if (put(s, txn, DB_TERMS, kbuf, ACTION_TERM_LEN + an, ts, 16, 0, seq) < 0)
				return -1;
		} else {
			s->skipped++;
		}
	}

	/* words: lower-case in place, cut into tokens, each once, in key order */
	size_t nt = 0;
	char *w = sc->out, *end = sc->out + sc->olen;
	while (w < end) {
		while (w < end && !token_byte((unsigned char)*w))
			w++;
		char *t = w;
		for (; w < end && token_byte((unsigned char)*w); w++)
			if (*w >= 'A' && *w <= 'Z')
				*w = (char)(*w - 'A' + 'a');
		if (w == t)
			break;
		if (nt == *tok_cap) {
			size_t cap = *tok_cap ? 2 * *tok_cap : 256;
			struct tok *g = realloc(*toks, cap * sizeof(*g));
			if (!g) {
				fputs("index_lmdb: out of memory\n", stderr);
				return -1;
			}
			*toks = g;
			*tok_cap = cap;
		}
		(*toks)[nt++] = (struct tok){ t, (size_t)(w - t) };
	}
	qsort(*toks, nt, sizeof(**toks), cmp_tok);
	for (size_t i = 0; i < nt; i++) {
		if (i > 0 && cmp_tok(&(*toks)[i - 1], &(*toks)[i]) == 0)
			continue;
		if (put(s, txn, DB_TERMS, (*toks)[i].p, (*toks)[i].n, ts, 16, 0, seq) < 0)
			return -1;
	}
	return 0;
}

/* Load every line of path; lines in *ret_rows, seconds to the durable end in *ret_s. 0 or -1. */
static int load(struct store *s, const char *path, long long *ret_rows, double *ret_s, double *ret_sync_s)
{
	MDB_txn *txn = NULL;
	char *kbuf = NULL;
	struct tok *toks = NULL;
	size_t tok_cap = 0;
	struct ndjson r;
	int got, err, rc = -1;
	double ts;

	if (ndjson_open(&r, path) < 0)
		return -1;
	if (!(kbuf = malloc(s->maxkey + 1))) {
		fputs("index_lmdb: out of memory\n", stderr);
		goto out;
	}
	r.t0 = r.tw = now_ms();
	if ((err = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		lmdb_fail("mdb_txn_begin", err, 0);
		goto out;
	}
	while ((got = ndjson_next(&r, true)) > 0) {
		if (index_event(s, txn, r.seq, r.line, r.n, &r.sc, &toks, &tok_cap, kbuf) < 0)
			goto out;
		if (r.seq % BATCH_ROWS == 0) {
			err = mdb_txn_commit(txn);
			txn = NULL;
			if (err) {
				lmdb_fail("mdb_txn_commit", err, r.seq);
				goto out;
			}
			if ((err = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
				lmdb_fail("mdb_txn_begin", err, r.seq);
				goto out;
			}
		}
		ndjson_progress(&r, PROGRESS_ROWS);
	}
	if (got < 0)
		goto out;
	err = mdb_txn_commit(txn);
	txn = NULL;
	if (err) {
		lmdb_fail("mdb_txn_commit", err, r.seq);
		goto out;
	}
	ts = now_ms();
	if ((err = mdb_env_set_flags(s->env, MDB_NOSYNC, 0)) != 0 || (err = mdb_env_sync(s->env, 1)) != 0) {
		lmdb_fail("mdb_env_sync", err, 0);
		goto out;
	}
	*ret_sync_s = (now_ms() - ts) / 1e3;
	*ret_s = (now_ms() - r.t0) / 1e3;
	*ret_rows = r.seq;
	rc = 0;
out:
	if (txn)
		mdb_txn_abort(txn);
	free(toks);
	free(kbuf);
	ndjson_close(&r);
	return rc;
}

/* ------------------------------------------------------------ queries */

/* The word as a term: lower-cased, one token. 0, or -1 (message printed). */
static int lmdb_params(struct bq *q)
{
	if (q->kind != K_WORD)
		return 0;
	size_t n = strlen(q->value);
	if (!(q->p1 = strdup(q->value)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)q->p1[i];
		if (!token_byte(c)) {
			fprintf(stderr, "index_lmdb: line %zu: word '%s' is not one token\n", q->line, q->value);
			return -1;
		}
		if (c >= 'A' && c <= 'Z')
			q->p1[i] = (char)(c - 'A' + 'a');
	}
	return n > 0 ? 0 : -1;
}

/* Where run_query's touched bytes go, so that reading them is not optimized away. */
static volatile size_t sink;

struct runner {
	struct store *s;
	MDB_txn *txn;            /* a read transaction, reset between runs */
	char *kbuf;              /* maxkey + 1 bytes */
};

/* The event of the s8 at p: its first and last byte into *touched. */
static int read_event(struct runner *rn, const unsigned char *s8, size_t *touched)
{
	MDB_val k = { 8, (void *)s8 }, v;
	int err = mdb_get(rn->txn, rn->s->dbi[DB_EVENTS], &k, &v);
	if (err)
		return lmdb_fail("events", err, (long long)get_be64(s8));
	if (v.mv_size > 0)
		*touched += ((const unsigned char *)v.mv_data)[0] + ((const unsigned char *)v.mv_data)[v.mv_size - 1];
	return 0;
}

static int q_selective(struct runner *rn, MDB_cursor *c, const struct bq *q, long *hits, size_t *touched)
{
	size_t an = strlen(q->actor), pn = strlen(q->prefix);
	unsigned char lo[8];
	MDB_val k, v;
	int err;

	if (an + 17 > rn->s->maxkey)
		return 0;
	memcpy(rn->kbuf, q->actor, an + 1);
	put_be64((unsigned char *)rn->kbuf + an + 1, time_key(q->t1));
	memset(rn->kbuf + an + 9, 0, 8);
	put_be64(lo, time_key(q->t0));
	k = (MDB_val){ an + 17, rn->kbuf };
	err = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (err == 0)
		err = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (err == MDB_NOTFOUND)
		err = mdb_cursor_get(c, &k, &v, MDB_LAST);
	for (; err == 0 && *hits < SEARCH_LIMIT; err = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		const unsigned char *kp = k.mv_data;
		if (k.mv_size != an + 17 || memcmp(kp, q->actor, an + 1) || memcmp(kp + an + 1, lo, 8) < 0)
			break;
		if (v.mv_size < pn || memcmp(v.mv_data, q->prefix, pn))
			continue;
		if (read_event(rn, kp + an + 9, touched) < 0)
			return -1;
		(*hits)++;
	}
	return err == 0 || err == MDB_NOTFOUND ? 0 : lmdb_fail("by_actor_time", err, 0);
}

/* Walk the dups of key from the last backwards (word) or from the first on (timeline). */
static int q_postings(struct runner *rn, MDB_cursor *c, const char *key, bool newest_first, long limit,
		      long *hits, size_t *touched)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int err;

	if (k.mv_size == 0 || k.mv_size > rn->s->maxkey)
		return 0;
	err = mdb_cursor_get(c, &k, &v, MDB_SET);
	if (err == 0)
		err = mdb_cursor_get(c, &k, &v, newest_first ? MDB_LAST_DUP : MDB_FIRST_DUP);
	for (; err == 0 && (limit < 0 || *hits < limit);
	     err = mdb_cursor_get(c, &k, &v, newest_first ? MDB_PREV_DUP : MDB_NEXT_DUP)) {
		if (v.mv_size != 16)
			return lmdb_fail("a posting of the wrong size", MDB_CORRUPTED, 0);
		if (read_event(rn, (const unsigned char *)v.mv_data + 8, touched) < 0)
			return -1;
		(*hits)++;
	}
	return err == 0 || err == MDB_NOTFOUND ? 0 : lmdb_fail("postings", err, 0);
}

static int q_count_by_action(MDB_cursor *c, long *hits, size_t *touched)
{
	MDB_val k = { ACTION_TERM_LEN, (void *)ACTION_TERM }, v;
	int err = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; err == 0; err = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
		size_t count;
		if (k.mv_size < ACTION_TERM_LEN || memcmp(k.mv_data, ACTION_TERM, ACTION_TERM_LEN))
			break;
		if ((err = mdb_cursor_count(c, &count)) != 0)
			break;
		*touched += (size_t)count + ((const unsigned char *)k.mv_data)[k.mv_size - 1];
		(*hits)++;
	}
	return err == 0 || err == MDB_NOTFOUND ? 0 : lmdb_fail("terms", err, 0);
}

/* bench_run_fn: q once in a renewed read transaction, reading every hit's event. */
static int run_query(void *ctx, const struct bq *q, long *ret_hits)
{
	static const enum db cursor_db[K_NKINDS] = {
		[K_SELECTIVE] = DB_ACTOR_TIME, [K_WORD] = DB_TERMS,
		[K_COUNT_BY_ACTION] = DB_TERMS, [K_TIMELINE] = DB_REQUEST,
	};
	struct runner *rn = ctx;
	MDB_cursor *c = NULL;
	long hits = 0;
	size_t touched = 0;
	int err, rc = -1;

	if ((err = mdb_txn_renew(rn->txn)) != 0)
		return lmdb_fail("mdb_txn_renew", err, 0);
	if ((err = mdb_cursor_open(rn->txn, rn->s->dbi[cursor_db[q->kind]], &c)) != 0) {
		lmdb_fail("mdb_cursor_open", err, 0);
		goto out;
	}
	switch (q->kind) {
	case K_SELECTIVE:
		rc = q_selective(rn, c, q, &hits, &touched);
		break;
	case K_WORD:
		rc = q_postings(rn, c, q->p1, true, SEARCH_LIMIT, &hits, &touched);
		break;
	case K_COUNT_BY_ACTION:
		rc = q_count_by_action(c, &hits, &touched);
		break;
	case K_TIMELINE:
		rc = q_postings(rn, c, q->value, false, -1, &hits, &touched);
		break;
	case K_NKINDS:
		break;
	}
	mdb_cursor_close(c);
out:
	mdb_txn_reset(rn->txn);
	if (rc < 0) {
		fprintf(stderr, "index_lmdb: %s query at line %zu failed\n", q->cls, q->line);
		return -1;
	}
	sink += touched;
	*ret_hits = hits;
	return 0;
}

/* ------------------------------------------------------------ main */

static void sizes(struct store *s, const char *dir, const char *events_path)
{
	char path[4096];
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	long long nd = file_size(events_path), file, used, in_dbs = 0;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	file = file_size(path);
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
	    mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
		printf("  size: (mdb_env_info/stat failed)\n");
		return;
	}
	used = (long long)(info.me_last_pgno + 1) * st.ms_psize;
	printf("  size: pages in use %lld bytes (%.1f MiB, %llu pages of %u), data.mdb %lld bytes; NDJSON %lld"
	       " bytes (%.1f MiB); used / NDJSON = %.3f\n",
	       used, (double)used / 1048576.0, (unsigned long long)info.me_last_pgno + 1, st.ms_psize, file, nd,
	       (double)nd / 1048576.0, nd > 0 ? (double)used / (double)nd : 0.0);
	printf("  per database (mdb_stat: branch + leaf + overflow pages):\n");
	for (int d = 0; d < DB_N; d++) {
		MDB_stat ds;
		if (mdb_stat(txn, s->dbi[d], &ds) != 0)
			continue;
		long long b = (long long)(ds.ms_branch_pages + ds.ms_leaf_pages + ds.ms_overflow_pages) * ds.ms_psize;
		in_dbs += b;
		printf("    %-14s %12lld bytes %8.1f MiB  %11llu entries, depth %u\n", db_name[d], b,
		       (double)b / 1048576.0, (unsigned long long)ds.ms_entries, ds.ms_depth);
	}
	printf("    %-14s %12lld bytes %8.1f MiB  (free list, free pages, the main DB, 2 meta pages)\n", "other",
	       used - in_dbs, (double)(used - in_dbs) / 1048576.0);
	mdb_txn_abort(txn);
}

/* Create dir and an environment in it with the five databases. 0 or -1. */
static int store_open(struct store *s, const char *dir, long map_gib, bool writemap)
{
	MDB_txn *txn = NULL;
	int err;

	if (mkdir(dir, 0700) < 0) {
		fprintf(stderr, "index_lmdb: mkdir %s: %s (want a new directory)\n", dir, strerror(errno));
		return -1;
	}
	if ((err = mdb_env_create(&s->env)) != 0)
		return lmdb_fail("mdb_env_create", err, 0);
	if ((err = mdb_env_set_mapsize(s->env, (size_t)map_gib << 30)) != 0 ||
	    (err = mdb_env_set_maxdbs(s->env, DB_N)) != 0)
		return lmdb_fail("mdb_env_set_mapsize/maxdbs", err, 0);
	if ((err = mdb_env_open(s->env, dir, MDB_NOSYNC | (writemap ? MDB_WRITEMAP : 0), 0600)) != 0)
		return lmdb_fail(dir, err, 0);
	s->maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
	if ((err = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return lmdb_fail("mdb_txn_begin", err, 0);
	for (int d = 0; d < DB_N; d++)
		if ((err = mdb_dbi_open(txn, db_name[d], MDB_CREATE | db_flags[d], &s->dbi[d])) != 0) {
			mdb_txn_abort(txn);
			return lmdb_fail(db_name[d], err, 0);
		}
	if ((err = mdb_txn_commit(txn)) != 0)
		return lmdb_fail("mdb_txn_commit", err, 0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_OPTIONS,
		{ "map-gib", required_argument, NULL, 'm' },
		{ "writemap", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_args a = { .runs = 3 };
	long map_gib = 64;
	bool writemap = false;
	struct store s = { 0 };
	struct runner rn = { .s = &s };
	struct bench_files bf = { 0 };
	int c, err, rc = 1;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int known = bench_arg(&a, c, optarg);
		if (known < 0)
			goto usage;
		if (known)
			continue;
		switch (c) {
		case 'w': writemap = true; break;
		case 'm':
			map_gib = strtol(optarg, &end, 10);
			if (*end || map_gib < 1 || map_gib > 1 << 16)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || !a.db || !a.events || !a.queries)
		goto usage;
	const char *dir = a.db, *events = a.events;

	if (bench_files_open(&bf, a.queries, a.out, a.hits) < 0)
		goto out;
	for (long i = 0; i < bf.n; i++)
		if (lmdb_params(&bf.q[i]) < 0)
			goto out;
	if (store_open(&s, dir, map_gib, writemap) < 0)
		goto out;
	{
		int major, minor, patch;
		MDB_stat st;
		mdb_version(&major, &minor, &patch);
		mdb_env_stat(s.env, &st);
		printf("  lmdb %d.%d.%d; map size %ld GiB, page size %u, max key %zu bytes; MDB_NOSYNC%s while"
		       " loading, then synced\n", major, minor, patch, map_gib, st.ms_psize, s.maxkey,
		       writemap ? " | MDB_WRITEMAP" : "");
	}
	printf("  events         s8 -> line\n"
	       "  terms          DUPSORT|DUPFIXED: word (ascii tokenizer, lower-cased) or action=A -> t8 s8\n"
	       "  by_actor_time  actor.id \\0 t8 s8 -> action\n"
	       "  by_request     DUPSORT|DUPFIXED: request_id -> t8 s8\n"
	       "  by_time        t8 s8 -> (empty)\n");

	long long rows = 0;
	double load_s = 0, sync_s = 0;
	printf("  load: %s, one JSON pass per line (bench_util.h), %d lines per write transaction\n", events,
	       BATCH_ROWS);
	fflush(stdout);
	if (load(&s, events, &rows, &load_s, &sync_s) < 0)
		goto out;
	printf("  load: %lld rows in %.2f s, %.0f rows/s (%.1f MB/s of NDJSON), the final sync %.2f s of it;"
	       " %lld keys over %zu bytes skipped\n",
	       rows, load_s, load_s > 0 ? (double)rows / load_s : 0.0,
	       load_s > 0 ? (double)file_size(events) / 1e6 / load_s : 0.0, sync_s, s.skipped, s.maxkey);
	sizes(&s, dir, events);
	printf("  queries: per class a warm-up pass, then each query %ld times (median kept); wall from the"
	       " read transaction's renew to its reset;\n    selective/word: 100 newest first, each event read;"
	       " timeline: all events oldest first;\n    count_by_action: every action key, mdb_cursor_count;"
	       " hits = events (count_by_action: groups); p50/p95/max nearest rank over the queries\n", a.runs);
	fflush(stdout);
	if (!(rn.kbuf = malloc(s.maxkey + 1))) {
		fputs("index_lmdb: out of memory\n", stderr);
		goto out;
	}
	if ((err = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &rn.txn)) != 0) {
		lmdb_fail("mdb_txn_begin", err, 0);
		goto out;
	}
	mdb_txn_reset(rn.txn);
	if (run_classes(bf.q, bf.n, (int)a.runs, bf.sum, bf.hits, run_query, &rn) < 0)
		goto out;
	printf("  rss: peak %.1f MiB (VmHWM; counts the map's touched pages)\n", (double)vm_hwm_kib() / 1024.0);
	rc = 0;
out:
	if (rn.txn)
		mdb_txn_abort(rn.txn);
	free(rn.kbuf);
	if (s.env)
		mdb_env_close(s.env);
	if (bench_files_close(&bf) < 0)
		rc = 1;
	return rc;

usage:
	fputs("usage: index_lmdb --db DIR --events EVENTS.ndjson --queries QUERIES.tsv [--runs R]"
	      " [--map-gib G] [--writemap] [--out FILE.tsv] [--hits FILE.tsv]\n", stderr);
	return 2;
}
