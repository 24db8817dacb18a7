/*
 * test_rverify.c - remote verification (log/rverify.h) against a real log
 * served through a fetch callback that reads with log_read_tile and
 * log_read_checkpoint, as the HTTP server will, and can lie.
 *
 * (a) Honest server, sizes 0, 1, 255, 256, 257 and 70,000 (level-1 tiles
 *     tile/1/000 full and tile/1/001.p/17, level 2 tile/2/000.p/1): each
 *     verifies, every tile is fetched exactly once, every entry hashed,
 *     and with one state file each run is consistent with the previous.
 *     Partial tiles deleted by the server are read from the full tile.
 * (b) Lies, each detected and located: a flipped byte in a level-0 tile
 *     (full and partial), in a level-1 and a level-2 tile, in an entry; two
 *     entries swapped; a short tile, a bundle with trailing bytes, a
 *     missing tile; a checkpoint signed by another key; an origin that is
 *     not the key's name; a forked log signed with the real key against
 *     the saved state; an older checkpoint than the saved one (rollback).
 *     After a fork or rollback the state file is unchanged.
 * (c) Sampling checks the requested number of bundles plus the last one.
 */
#include "test.h"

#include "common/fileio.h"
#include "common/util.h"
#include "event/event.h"
#include "log/log.h"
#include "log/rverify.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG 70000

/* ---- building logs ------------------------------------------------------------- */

static struct log *open_log(const char *dir)
{
	char err[1024] = "";
	struct log *l = NULL;
	int r = log_open(&l, dir, err, sizeof(err));
	CHECK_MSG(r == 0, "log_open: %s (%s)", err, st_strerror(r));
	return l;
}

/* Appends entries until the log holds size; salt makes logs differ. */
static void grow(struct log *l, uint64_t size, const char *salt)
{
	enum { BATCH = 1000 };
	static char src[BATCH][256];
	static struct buf compact[BATCH];
	static struct log_event ev[BATCH];
	static struct log_ack acks[BATCH];
	struct event_limits lim;

	event_limits_default(&lim);
	while (log_size(l) < size) {
		uint64_t have = log_size(l), n = size - have < BATCH ? size - have : BATCH;
		for (uint64_t i = 0; i < n; i++) {
			struct event_error ee;
			snprintf(src[i], sizeof(src[i]),
				 "{\"time\":\"2026-01-01T00:00:00Z\",\"action\":\"a.%s\","
				 "\"actor\":{\"id\":\"u%llu\"},\"resource\":{\"type\":\"t\"}}",
				 salt, (unsigned long long)(have + i));
			buf_init(&compact[i], 4096);
			memset(&ev[i], 0, sizeof(ev[i]));
			CHECK(event_parse((const uint8_t *)src[i], strlen(src[i]), &lim,
					  &compact[i], &ev[i].info, &ee) == 0);
			ev[i].compact = compact[i].data;
			ev[i].len = compact[i].len;
		}
		int r = log_append(l, ev, (size_t)n, acks);
		CHECK_MSG(r == 0, "log_append: %s", st_strerror(r));
		for (uint64_t i = 0; i < n; i++)
			buf_release(&compact[i]);
		if (r < 0)
			return;
	}
}

static void checkpoint(struct log *l, struct buf *out)
{
	buf_init(out, NOTE_MAX_SIZE);
	CHECK(log_checkpoint(l, true, out) == 0);
}

/* Re-signs the text of a signed note with k. */
static void resign(const struct buf *note, const struct note_key *k, struct buf *out)
{
	size_t split = 0;
	for (size_t i = 0; i + 1 < note->len; i++)
		if (note->data[i] == '\n' && note->data[i + 1] == '\n')
			split = i + 1;
	buf_init(out, NOTE_MAX_SIZE);
	CHECK(note_sign(k, (const char *)note->data, split, out) == 0);
}

/* ---- the server ---------------------------------------------------------------- */

struct server {
	struct log *l;
	const struct buf *note;      /* the checkpoint it serves */
	const char *flip;            /* flip a bit of byte flip_off of this path */
	size_t flip_off;
	const char *swap;            /* swap entries swap_a and swap_a+1 of this bundle */
	unsigned swap_a;
	const char *shorten;         /* drop the last byte of this path */
	const char *extend;          /* append a byte to this path */
	const char *missing;         /* 404 for this path */
	bool no_partials;            /* 404 for a partial tile whose full tile exists */
	/* What was asked. */
	unsigned fetches, partial_404s, bad_caps;
	char seen[1024][64];         /* hash-tile paths fetched (duplicates are a bug) */
	unsigned nseen, dups;
};

static void swap_entries(struct buf *b, unsigned a)
{
	size_t off = 0, oa = 0, la = 0, lb = 0;
	for (unsigned j = 0; j <= a + 1 && off + 2 <= b->len; j++) {
		size_t len = get_be16(b->data + off);
		if (j == a) {
			oa = off;
			la = 2 + len;
		} else if (j == a + 1) {
			lb = 2 + len;
		}
		off += 2 + len;
	}
	uint8_t *tmp = malloc(la + lb);
	if (!tmp || !la || !lb || oa + la + lb > b->len) {
		free(tmp);
		CHECK_MSG(false, "swap_entries: bundle too short");
		return;
	}
	memcpy(tmp, b->data + oa + la, lb);
	memcpy(tmp + lb, b->data + oa, la);
	memcpy(b->data + oa, tmp, la + lb);
	free(tmp);
}

static int serve(void *arg, const char *path, struct buf *out)
{
	struct server *s = arg;
	struct tile_ref t;
	int r;

	s->fetches++;
	CHECK(out->len == 0);
	if (!strcmp(path, "checkpoint"))
		return buf_append(out, s->note->data, s->note->len);
	if (!tile_path_parse(path, strlen(path), &t))
		return ST_ENOTFOUND;
	if (out->max != (t.level < 0 ? RVERIFY_BUNDLE_MAX : RVERIFY_TILE_MAX))
		s->bad_caps++;
	if (s->missing && !strcmp(path, s->missing))
		return ST_ENOTFOUND;
	if (s->no_partials && t.width < TILE_WIDTH) {
		struct tile_ref full = t;
		struct buf probe = BUF_INIT(RVERIFY_BUNDLE_MAX);
		full.width = TILE_WIDTH;
		r = log_read_tile(s->l, &full, &probe);
		buf_release(&probe);
		if (r == 0) {
			s->partial_404s++;
			return ST_ENOTFOUND;
		}
	}
	r = log_read_tile(s->l, &t, out);
	if (r == ST_ERANGE)
		return ST_ENOTFOUND;
	if (r < 0)
		return r;
	if (t.level >= 0) {
		for (unsigned i = 0; i < s->nseen; i++)
			if (!strcmp(s->seen[i], path))
				s->dups++;
		if (s->nseen < ARRAY_SIZE(s->seen))
			snprintf(s->seen[s->nseen++], sizeof(s->seen[0]), "%s", path);
	}
	if (s->flip && !strcmp(path, s->flip) && s->flip_off < out->len)
		out->data[s->flip_off] ^= 0x20;
	if (s->swap && !strcmp(path, s->swap))
		swap_entries(out, s->swap_a);
	if (s->shorten && !strcmp(path, s->shorten) && out->len)
		out->len--;
	if (s->extend && !strcmp(path, s->extend))
		return buf_putc(out, '\n');
	return 0;
}

/* ---- running the verifier --------------------------------------------------------- */

static struct buf findings = BUF_INIT(1 << 20);

static void collect(void *arg, const char *line)
{
	(void)arg;
	buf_puts(&findings, line);
	buf_putc(&findings, '\n');
	buf_cstr(&findings);
}

static bool said(const char *what)
{
	return findings.data && strstr((const char *)findings.data, what);
}

static int run(struct server *s, const struct note_key *keys, size_t nkeys,
	       const char *state, uint64_t sample, struct rverify_result *res)
{
	struct rverify_options o = {
		.fetch = serve, .fetch_arg = s, .keys = keys, .nkeys = nkeys,
		.state_path = state, .sample = sample, .seed = 42,
		.report = collect, .max_reports = 50,
	};
	buf_reset(&findings);
	buf_cstr(&findings);
	s->fetches = s->partial_404s = s->bad_caps = s->nseen = s->dups = 0;
	return rverify_run(&o, res);
}

/* Hash tiles of a tree of n leaves: ceil((n >> 8k) / 256) per level k. */
static uint64_t tiles_of(uint64_t n)
{
	uint64_t t = 0;
	for (unsigned k = 0; k < 8; k++) {
		uint64_t c = n >> (8 * k);
		t += c / 256 + (c % 256 != 0);
	}
	return t;
}

static bool same_file(const char *path, const struct buf *want)
{
	struct buf b = BUF_INIT(NOTE_MAX_SIZE);
	bool ok = read_file(path, NOTE_MAX_SIZE, &b) == 0 && b.len == want->len &&
		  !memcmp(b.data, want->data, b.len);
	buf_release(&b);
	return ok;
}

/* Runs a lie against checkpoint note, expects exactly the kinds in want
 * (and the failure code), and a finding mentioning each string in says. */
static void expect_lie(const char *what, struct server *s, const struct note_key *k,
		       unsigned want, int code, const char *say1, const char *say2)
{
	struct rverify_result res;
	int r = run(s, k, 1, NULL, RVERIFY_ALL, &res);
	CHECK_MSG(r == code, "%s: rverify_run returned %d (%s), expected %d", what, r,
		  st_strerror(r), code);
	CHECK_MSG(res.found == want, "%s: found 0x%x, expected 0x%x; findings:\n%s", what,
		  res.found, want, findings.data ? (char *)findings.data : "");
	CHECK_MSG(!say1 || said(say1), "%s: no finding mentions \"%s\":\n%s", what, say1,
		  findings.data ? (char *)findings.data : "");
	CHECK_MSG(!say2 || said(say2), "%s: no finding mentions \"%s\":\n%s", what, say2,
		  findings.data ? (char *)findings.data : "");
	CHECK_MSG(!res.saved, "%s: state saved", what);
}

int main(void)
{
	char tmpl[] = "/tmp/sealtrail-test-rv.XXXXXX", a_dir[300], b_dir[300], state[300],
	     err[512], path[400];
	static const uint64_t sizes[] = { 0, 1, 255, 256, 257, BIG };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	struct log_init_options oa = { .origin = "example.com/rv" };
	struct buf vk = BUF_INIT(4096), notes[NS], sk = BUF_INIT(4096);
	struct note_key key, other, wrong_name, signer;
	struct rverify_result res;
	struct server s;
	char *base = mkdtemp(tmpl);
	int r;

	if (!base)
		return 2;
	snprintf(a_dir, sizeof(a_dir), "%s/a", base);
	snprintf(b_dir, sizeof(b_dir), "%s/b", base);
	snprintf(state, sizeof(state), "%s/st/deeper/verify.checkpoint", base);
	CHECK(log_init(a_dir, &oa, &vk, err, sizeof(err)) == 0);
	CHECK(note_vkey_parse((const char *)vk.data, vk.len, &key) == 0);
	struct log *l = open_log(a_dir);
	if (!l)
		return test_report("log/rverify");

	/* (a) Honest, growing, one state file. */
	memset(&s, 0, sizeof(s));
	s.l = l;
	for (int i = 0; i < NS; i++) {
		if (sizes[i] == 0) {
			buf_init(&notes[i], NOTE_MAX_SIZE);
			CHECK(log_read_checkpoint_at(l, 0, &notes[i]) == 0);
		} else {
			grow(l, sizes[i], "x");
			checkpoint(l, &notes[i]);
		}
		s.note = &notes[i];
		r = run(&s, &key, 1, state, RVERIFY_ALL, &res);
		CHECK_MSG(r == 0 && res.findings == 0, "size %llu: %s\n%s",
			  (unsigned long long)sizes[i], st_strerror(r),
			  findings.data ? (char *)findings.data : "");
		CHECK(res.size == sizes[i]);
		CHECK_MSG(res.tiles == tiles_of(sizes[i]), "size %llu: %llu tiles, expected %llu",
			  (unsigned long long)sizes[i], (unsigned long long)res.tiles,
			  (unsigned long long)tiles_of(sizes[i]));
		CHECK(res.entries == sizes[i] && !res.sampled);
		CHECK(s.dups == 0 && s.bad_caps == 0);
		CHECK(res.saved && same_file(state, &notes[i]));
		CHECK(res.had_state == (i > 0));
		if (i > 0)
			CHECK(res.old_size == sizes[i - 1]);
	}
	{
		struct stat st;
		CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
	/* The same size again: consistent with itself. */
	r = run(&s, &key, 1, state, RVERIFY_ALL, &res);
	CHECK(r == 0 && res.had_state && res.old_size == BIG);
	/* Older checkpoints served from the grown log (every partial tile
	 * exists in it, as the server serves them) and with partial tiles
	 * deleted: read from the full tiles. */
	for (int i = 1; i < NS - 1; i++) {
		s.note = &notes[i];
		r = run(&s, &key, 1, NULL, RVERIFY_ALL, &res);
		CHECK_MSG(r == 0, "old size %llu: %s", (unsigned long long)sizes[i], findings.data ? (char *)findings.data : "");
		s.no_partials = true;
		r = run(&s, &key, 1, NULL, RVERIFY_ALL, &res);
		CHECK_MSG(r == 0 && res.entries == sizes[i],
			  "old size %llu without partials: %s", (unsigned long long)sizes[i],
			  findings.data ? (char *)findings.data : "");
		CHECK(sizes[i] % 256 == 0 || s.partial_404s >= 1);
		s.no_partials = false;
	}

	/* (b) Lies, against the checkpoint of BIG (274 level-0 tiles, the last
	 * tile/0/273.p/112). */
	s.note = &notes[NS - 1];
	s.flip = "tile/0/005";
	s.flip_off = 32 + 7;            /* hash 1: entry 1281 */
	expect_lie("flipped level-0 tile", &s, &key, RV_TILE | RV_ROOT | RV_ENTRY,
		   ST_ECORRUPT, "tile/1/000: hash 5 ", "tile/entries/005: entry 1 ");
	/* A difference past the first 8 bytes still shows in the prefixes. */
	s.flip = "tile/0/006";
	s.flip_off = 32 + 20;
	expect_lie("flipped level-0 tile, late byte", &s, &key, RV_TILE | RV_ROOT | RV_ENTRY,
		   ST_ECORRUPT, "tile/entries/006: entry 1 ", NULL);
	{
		const char *e = findings.data ? strstr((char *)findings.data, "tile/entries/006: entry 1 ") : NULL;
		char x[70] = "", y[70] = "";
		CHECK(e && sscanf(e, "tile/entries/006: entry 1 (seq %*u, byte %*u) hashes to %69[0-9a-f]..., "
				  "but tile/0/006 has %69[0-9a-f]", x, y) == 2);
		CHECK_MSG(strlen(x) == 42 && strlen(y) == 42 && strcmp(x, y) != 0,
			  "prefixes \"%s\" and \"%s\"", x, y);
	}
	s.flip = "tile/0/273.p/112";
	s.flip_off = 111 * 32;          /* the very last leaf hash */
	expect_lie("flipped partial level-0 tile", &s, &key, RV_ROOT | RV_ENTRY,
		   ST_ECORRUPT, "tile/entries/273.p/112: entry 111 ", "checkpoint: root");
	s.flip = "tile/1/000";
	s.flip_off = 2 * 32;
	expect_lie("flipped level-1 tile", &s, &key, RV_TILE, ST_ECORRUPT,
		   "tile/1/000: hash 2 (subtree of entries [512, 768))", NULL);
	s.flip = "tile/1/001.p/17";
	s.flip_off = 16 * 32 + 31;
	expect_lie("flipped partial level-1 tile", &s, &key, RV_TILE, ST_ECORRUPT,
		   "tile/1/001.p/17: hash 16 ", NULL);
	s.flip = "tile/2/000.p/1";
	s.flip_off = 0;
	expect_lie("flipped level-2 tile", &s, &key, RV_TILE, ST_ECORRUPT,
		   "tile/2/000.p/1: hash 0 (subtree of entries [0, 65536))", NULL);
	s.flip = "tile/entries/003";
	s.flip_off = 100;
	expect_lie("flipped entry byte", &s, &key, RV_ENTRY, ST_ECORRUPT,
		   "tile/entries/003: entry 0 (seq 768", "tile/0/003 has");
	s.flip = NULL;
	s.swap = "tile/entries/004";
	s.swap_a = 10;
	expect_lie("swapped entries", &s, &key, RV_ENTRY, ST_ECORRUPT,
		   "tile/entries/004: entry 10 (seq 1034", "tile/entries/004: entry 11 (seq 1035");
	s.swap = NULL;
	s.shorten = "tile/0/010";
	expect_lie("short tile", &s, &key, RV_FETCH, ST_ECORRUPT,
		   "tile/0/010: 8191 bytes, expected 8192", NULL);
	s.shorten = "tile/entries/007";
	expect_lie("short bundle", &s, &key, RV_ENTRY, ST_ECORRUPT,
		   "tile/entries/007: ends at byte", NULL);
	s.shorten = NULL;
	s.extend = "tile/entries/273.p/112";
	expect_lie("bundle with trailing bytes", &s, &key, RV_ENTRY, ST_ECORRUPT,
		   "tile/entries/273.p/112: 1 bytes after its 112 entries", NULL);
	s.extend = NULL;
	s.missing = "tile/1/001.p/17";
	expect_lie("missing tile", &s, &key, RV_FETCH, ST_ENOTFOUND,
		   "tile/1/001.p/17: cannot fetch", NULL);
	s.missing = NULL;

	/* Another key with the same name; a key whose name is not the origin. */
	struct buf forged, renamed;
	CHECK(note_key_generate("example.com/rv", &other) == 0);
	resign(&notes[4], &other, &forged);
	s.note = &forged;
	expect_lie("checkpoint signed by another key", &s, &key, RV_SIG, ST_ECORRUPT,
		   "checkpoint: not signed by any given key", NULL);
	CHECK(note_key_generate("example.com/other", &wrong_name) == 0);
	resign(&notes[4], &wrong_name, &renamed);
	s.note = &renamed;
	expect_lie("origin is not the key's name", &s, &wrong_name, RV_ORIGIN, ST_ECORRUPT,
		   "origin \"example.com/rv\" is not the name", NULL);

	/* Rollback: the state holds BIG; serve 257. */
	s.note = &notes[4];
	r = run(&s, &key, 1, state, RVERIFY_ALL, &res);
	CHECK(r == ST_ECORRUPT && res.found == RV_ROLLBACK && !res.saved);
	CHECK(said("rollback") && said("size 257") && said("size 70000"));
	CHECK(same_file(state, &notes[NS - 1]));

	/* Fork: log B has the same origin, 300 other entries, and its
	 * checkpoint is signed with A's key (a compromised or equivocating
	 * log). Against state at 257 from A it must be named a fork. */
	snprintf(path, sizeof(path), "%s/keys/signer", a_dir);
	CHECK(read_file(path, 4096, &sk) == 0);
	while (sk.len && sk.data[sk.len - 1] == '\n')
		sk.len--;
	CHECK(note_skey_parse((const char *)sk.data, sk.len, &signer) == 0);
	CHECK(log_init(b_dir, &oa, NULL, err, sizeof(err)) == 0);
	struct log *lb = open_log(b_dir);
	struct buf b_note, b_forked;
	if (lb) {
		grow(lb, 300, "y");
		checkpoint(lb, &b_note);
		resign(&b_note, &signer, &b_forked);
		struct server sb;
		memset(&sb, 0, sizeof(sb));
		sb.l = lb;
		sb.note = &b_forked;
		/* On its own, B verifies with A's key. */
		r = run(&sb, &key, 1, NULL, RVERIFY_ALL, &res);
		CHECK_MSG(r == 0, "forked log alone: %s", findings.data ? (char *)findings.data : "");
		/* With A's state of size 257 it is a fork. */
		char st2[400];
		snprintf(st2, sizeof(st2), "%s/fork.checkpoint", base);
		s.note = &notes[4];
		CHECK(run(&s, &key, 1, st2, RVERIFY_ALL, &res) == 0);
		r = run(&sb, &key, 1, st2, RVERIFY_ALL, &res);
		CHECK_MSG(r == ST_ECORRUPT && res.found == RV_FORK, "fork: %d 0x%x", r, res.found);
		CHECK(said("fork") && said("size 257") && said("size 300") && !res.saved);
		CHECK(same_file(st2, &notes[4]));
		/* Same size, different root: also a fork. */
		s.note = &notes[NS - 1];
		grow(lb, BIG, "y");
		struct buf b_big, b_big_forked;
		checkpoint(lb, &b_big);
		resign(&b_big, &signer, &b_big_forked);
		sb.note = &b_big_forked;
		r = run(&sb, &key, 1, state, RVERIFY_ALL, &res);
		CHECK(r == ST_ECORRUPT && res.found == RV_FORK && said("size 70000"));
		buf_release(&b_big);
		buf_release(&b_big_forked);
		buf_release(&b_note);
		buf_release(&b_forked);
		log_close(lb);
	}

	/* A state file for another origin, and one that is not a note. */
	{
		char st3[400];
		struct buf junk = BUF_INIT(64);
		snprintf(st3, sizeof(st3), "%s/other.checkpoint", base);
		static const char other_cp[] =
			"example.com/x\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x AAAA\n";
		CHECK(write_file_atomic(st3, other_cp, strlen(other_cp), 0600) == 0);
		s.note = &notes[NS - 1];
		r = run(&s, &key, 1, st3, RVERIFY_ALL, &res);
		CHECK(r == ST_ECORRUPT && res.found == RV_STATE && said("saved for origin"));
		buf_puts(&junk, "garbage\n");
		CHECK(write_file_atomic(st3, junk.data, junk.len, 0600) == 0);
		r = run(&s, &key, 1, st3, RVERIFY_ALL, &res);
		CHECK(r == ST_EINVAL && res.found == RV_STATE);
		buf_release(&junk);
	}

	/* (c) Sampling: 2 bundles of 274 plus the last (112 entries). */
	s.note = &notes[NS - 1];
	r = run(&s, &key, 1, NULL, 2, &res);
	CHECK(r == 0 && res.sampled && res.bundles == 3 && res.entries == 2 * 256 + 112);
	CHECK(res.tiles == tiles_of(BIG));
	r = run(&s, &key, 1, NULL, 0, &res);
	CHECK(r == 0 && res.sampled && res.bundles == 1 && res.entries == 112);
	s.flip = "tile/entries/273.p/112";
	s.flip_off = 5;
	r = run(&s, &key, 1, NULL, 0, &res);
	CHECK(r == ST_ECORRUPT && res.found == RV_ENTRY);   /* the last one is always checked */
	s.flip = NULL;
	r = run(&s, &key, 1, NULL, 1000, &res);
	CHECK(r == 0 && !res.sampled && res.entries == BIG);

	{
		struct buf name = BUF_INIT(128);
		CHECK(rverify_state_name("https://log.example", 19, &name) == 0 &&
		      name.len == strlen("verify-0123456789abcdef.checkpoint") &&
		      !memcmp(name.data, "verify-", 7));
		buf_release(&name);
	}

	log_close(l);
	for (int i = 0; i < NS; i++)
		buf_release(&notes[i]);
	buf_release(&forged);
	buf_release(&renamed);
	buf_release(&vk);
	st_wipe(sk.data, sk.len);
	buf_release(&sk);
	note_key_clear(&signer);
	note_key_clear(&other);
	note_key_clear(&wrong_name);
	buf_release(&findings);
	snprintf(path, sizeof(path), "rm -rf '%s'", base);
	if (system(path) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return test_report("log/rverify");
}
