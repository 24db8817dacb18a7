/*
 * test_idindex.c - idempotency by event id (log.c L6, idindex.h):
 *
 *  - a duplicate in the same batch, across batches, across close/open;
 *  - ids compare by decoded value ("a\/b" is "a/b");
 *  - the same id in two tenants is not a duplicate; the default tenant is
 *    the tenant named "default";
 *  - an id the server assigned dedupes a later producer event using it;
 *  - DIR/ids.d's manifest deleted, with a bad CRC, truncated, claiming more
 *    entries than the log, from another log, or behind the log (a copy
 *    from an earlier close, as a crash leaves it), a run with a flipped
 *    byte, truncated or missing, an unlisted run, and a DIR/ids of the old
 *    format: each open repairs it and every earlier event is still a
 *    duplicate;
 *  - the index itself against a brute-force set: memtable flushes, many
 *    runs, merges, reopen after a clean close and after a crash (no
 *    persist: replay), forced fingerprint collisions, a saturated filter,
 *    a corrupt run refused at open;
 *  - tiny memtables (SEALTRAIL_TEST_IDS_SLOTS) through the log: flushes
 *    and merges inside a batch, across batches, across reopen and after a
 *    crash copy taken while runs were not yet in the manifest;
 *  - forced fingerprint collisions (idindex_set_test_fp_bits) never lose
 *    or merge an event, before and after a rebuild;
 *  - a write failure (log_set_io) mid-append, then reopen: the events of
 *    the failed call are appended exactly once on retry;
 *  - four threads appending the same events at once: each stored once;
 *  - log_find_id; and log_verify passes on every log at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/hash.h"
#include "common/util.h"
#include "event/event.h"
#include "log/idindex.h"
#include "log/log.h"
#include "log/verify.h"
#include "test.h"

/* ---- events ------------------------------------------------------------------ */

/* Parsed events whose slices point into their own copies of the source. */
struct evs {
	char **src;
	struct buf *compact;
	struct log_event *ev;
	size_t n, cap;
};

static void evs_add(struct evs *v, const char *json)
{
	struct event_limits lim;
	struct event_error ee;

	event_limits_default(&lim);
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->src = realloc(v->src, v->cap * sizeof(*v->src));
		v->compact = realloc(v->compact, v->cap * sizeof(*v->compact));
		v->ev = realloc(v->ev, v->cap * sizeof(*v->ev));
		if (!v->src || !v->compact || !v->ev) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
	}
	size_t i = v->n++;
	v->src[i] = strdup(json);
	buf_init(&v->compact[i], 4096);
	memset(&v->ev[i], 0, sizeof(v->ev[i]));
	if (event_parse((const uint8_t *)v->src[i], strlen(v->src[i]), &lim, &v->compact[i],
			&v->ev[i].info, &ee) < 0) {
		fprintf(stderr, "event_parse(%s): %s\n", json, ee.msg);
		exit(2);
	}
	v->ev[i].compact = v->compact[i].data;
	v->ev[i].len = v->compact[i].len;
}

/* An event with id (NULL: none) in tenant (NULL: none) and a marker. */
static void evs_addf(struct evs *v, const char *tenant, const char *id, const char *mark)
{
	char j[1024], t[128] = "", i[300] = "";
	if (tenant)
		snprintf(t, sizeof(t), ",\"tenant\":\"%s\"", tenant);
	if (id)
		snprintf(i, sizeof(i), ",\"id\":\"%s\"", id);
	snprintf(j, sizeof(j),
		 "{\"time\":\"2026-01-01T00:00:00Z\",\"action\":\"a.b\",\"actor\":{\"id\":\"%s\"},"
		 "\"resource\":{\"type\":\"t\"}%s%s}", mark, t, i);
	evs_add(v, j);
}

static void evs_free(struct evs *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->src[i]);
		buf_release(&v->compact[i]);
	}
	free(v->src);
	free(v->compact);
	free(v->ev);
	memset(v, 0, sizeof(*v));
}

/* ---- logs -------------------------------------------------------------------- */

static char *make_log(const char *tag)
{
	char tmpl[] = "/tmp/sealtrail-test-idindex.XXXXXX";
	char err[512] = "";
	struct log_init_options o = { .origin = "example.com/test-idindex" };
	char *base = mkdtemp(tmpl);
	if (!base) {
		perror("mkdtemp");
		exit(2);
	}
	char *dir = malloc(strlen(base) + 64);
	sprintf(dir, "%s/%s", base, tag);
	int r = log_init(dir, &o, NULL, err, sizeof(err));
	CHECK_MSG(r == 0, "log_init: %s", err);
	return dir;
}

static void check_verify(const char *dir, const char *what)
{
	struct verify_result res;
	int r = log_verify(dir, NULL, &res);
	CHECK_MSG(r == 0, "%s: log_verify: %s", what, res.error);
}

static void remove_log(char *dir)
{
	char cmd[4200];
	char *slash = strrchr(dir, '/');
	check_verify(dir, "before removal");
	*slash = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(dir);
}

static struct log *open_log(const char *dir)
{
	char err[1024] = "";
	struct log *l = NULL;
	int r = log_open(&l, dir, err, sizeof(err));
	CHECK_MSG(r == 0, "log_open %s: %s (%s)", dir, err, st_strerror(r));
	if (r < 0) {
		fprintf(stderr, "cannot go on\n");
		exit(1);
	}
	return l;
}

static void ids_path(const char *dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/ids.d", dir);
}

static void manifest_path(const char *dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/ids.d/manifest", dir);
}

/* The path of the first (by name) run file of the log at dir; false when
 * there is none. */
static bool first_run(const char *dir, char *out, size_t cap)
{
	char d[4200], best[64] = "";
	struct dirent *de;
	ids_path(dir, d, sizeof(d));
	DIR *dd = opendir(d);
	if (!dd)
		return false;
	while ((de = readdir(dd)))
		if (strlen(de->d_name) == 20 && !strcmp(de->d_name + 16, ".run") &&
		    (!best[0] || strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(dd);
	if (!best[0])
		return false;
	snprintf(out, cap, "%s/%s", d, best);
	return true;
}

static size_t count_runs(const char *dir)
{
	char d[4200];
	struct dirent *de;
	size_t n = 0;
	ids_path(dir, d, sizeof(d));
	DIR *dd = opendir(d);
	if (!dd)
		return 0;
	while ((de = readdir(dd)))
		n += strlen(de->d_name) == 20 && !strcmp(de->d_name + 16, ".run");
	closedir(dd);
	return n;
}

/* Appends ev[from, from+n) in calls of at most `batch`; acks to acks[from..]. */
static int append_all(struct log *l, struct evs *v, size_t from, size_t n, size_t batch,
		      struct log_ack *acks)
{
	for (size_t i = from; i < from + n; i += batch) {
		size_t k = from + n - i < batch ? from + n - i : batch;
		int r = log_append(l, v->ev + i, k, acks + i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Appends every event of v again and checks each is a duplicate of its
 * first ack (first[i]), and that the log did not grow. */
static void check_all_dup(struct log *l, struct evs *v, const struct log_ack *first,
			  size_t batch, const char *what)
{
	struct log_ack *a = calloc(v->n, sizeof(*a));
	uint64_t size = log_size(l);
	size_t bad = 0;

	CHECK_MSG(append_all(l, v, 0, v->n, batch, a) == 0, "%s: append", what);
	for (size_t i = 0; i < v->n; i++) {
		if (a[i].result != 0 || !a[i].duplicate || a[i].seq != first[i].seq ||
		    memcmp(a[i].leaf, first[i].leaf, HASH_SIZE)) {
			if (bad++ < 5)
				fprintf(stderr, "%s: event %zu: result %d dup %d seq %llu, want dup of %llu\n",
					what, i, a[i].result, a[i].duplicate,
					(unsigned long long)a[i].seq,
					(unsigned long long)first[i].seq);
		}
	}
	CHECK_MSG(bad == 0, "%s: %zu of %zu events not acknowledged as duplicates", what, bad,
		  v->n);
	CHECK_MSG(log_size(l) == size, "%s: the log grew from %llu to %llu", what,
		  (unsigned long long)size, (unsigned long long)log_size(l));
	free(a);
}

/* Checks acks as fresh appends: results 0, not duplicates, distinct and
 * consecutive seqs from `start`. */
static void check_fresh(const struct log_ack *a, size_t n, uint64_t start, const char *what)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i].result != 0 || a[i].duplicate || a[i].seq != start + i)
			if (bad++ < 5)
				fprintf(stderr, "%s: event %zu: result %d dup %d seq %llu, want %llu\n",
					what, i, a[i].result, a[i].duplicate,
					(unsigned long long)a[i].seq,
					(unsigned long long)(start + i));
	CHECK_MSG(bad == 0, "%s: %zu of %zu events not appended as new", what, bad, n);
}

/* DIR/ids.d after a clean close: covered is the log size, count as given. */
static void check_header(const char *dir, uint64_t size, uint64_t count)
{
	char path[4200];
	struct idindex *x = NULL;
	ids_path(dir, path, sizeof(path));
	CHECK(idindex_open(&x, path, NULL) == 0);
	if (!x)
		return;
	CHECK_MSG(idindex_covered(x) == size, "ids covers %llu, the log holds %llu",
		  (unsigned long long)idindex_covered(x), (unsigned long long)size);
	CHECK_MSG(idindex_count(x) == count, "ids counts %llu, want %llu",
		  (unsigned long long)idindex_count(x), (unsigned long long)count);
	idindex_free(x);
}

/* ---- the cases --------------------------------------------------------------- */

static void test_basic(void)
{
	char *dir = make_log("basic");
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack a[8];
	uint64_t seq = 99;

	evs_addf(&v, NULL, "x-1", "first");           /* 0 */
	evs_addf(&v, NULL, NULL, "no id");            /* 1 */
	evs_addf(&v, NULL, "x-1", "second");          /* 2: same key, other content */
	evs_addf(&v, "default", "x-1", "third");      /* 3: the default tenant by name */
	evs_addf(&v, NULL, "a\\/b", "escaped");       /* 4 */
	evs_addf(&v, NULL, "a/b", "plain");           /* 5: the same id decoded */
	evs_addf(&v, NULL, "x-2", "other");           /* 6 */

	CHECK(log_append(l, v.ev, 7, a) == 0);
	CHECK(a[0].result == 0 && !a[0].duplicate && a[0].seq == 0);
	CHECK(a[1].result == 0 && !a[1].duplicate && a[1].seq == 1);
	CHECK(a[2].result == 0 && a[2].duplicate && a[2].seq == 0);
	CHECK_MEM(a[2].leaf, a[0].leaf, HASH_SIZE);
	CHECK(a[3].duplicate && a[3].seq == 0);
	CHECK(a[4].result == 0 && !a[4].duplicate && a[4].seq == 2);
	CHECK(a[5].result == 0 && a[5].duplicate && a[5].seq == 2);
	CHECK_MEM(a[5].leaf, a[4].leaf, HASH_SIZE);
	CHECK(a[6].result == 0 && !a[6].duplicate && a[6].seq == 3);
	CHECK(log_size(l) == 4);

	/* Across batches: each event alone. */
	struct log_ack b;
	CHECK(log_append(l, &v.ev[2], 1, &b) == 0);
	CHECK(b.duplicate && b.seq == 0 && !memcmp(b.leaf, a[0].leaf, HASH_SIZE));
	CHECK(log_append(l, &v.ev[5], 1, &b) == 0);
	CHECK(b.duplicate && b.seq == 2);
	CHECK(log_append(l, &v.ev[1], 1, &b) == 0);   /* no id: always appended */
	CHECK(!b.duplicate && b.seq == 4);

	CHECK(log_find_id(l, "default", 7, "x-1", 3, &seq) == 0 && seq == 0);
	CHECK(log_find_id(l, "default", 7, "a/b", 3, &seq) == 0 && seq == 2);
	CHECK(log_find_id(l, "default", 7, "x-9", 3, &seq) == ST_ENOTFOUND);
	CHECK(log_find_id(l, "other", 5, "x-1", 3, &seq) == ST_ENOTFOUND);

	/* Across close/open, with and without a checkpoint in between. */
	log_close(l);
	l = open_log(dir);
	CHECK(log_append(l, &v.ev[3], 1, &b) == 0);
	CHECK(b.duplicate && b.seq == 0 && !memcmp(b.leaf, a[0].leaf, HASH_SIZE));
	CHECK(log_checkpoint(l, false, NULL) == 0);
	log_close(l);
	l = open_log(dir);
	CHECK(log_append(l, &v.ev[6], 1, &b) == 0);
	CHECK(b.duplicate && b.seq == 3 && !memcmp(b.leaf, a[6].leaf, HASH_SIZE));
	CHECK(log_size(l) == 5);
	log_close(l);
	check_header(dir, 5, 5);
	evs_free(&v);
	remove_log(dir);
}

static void test_tenants_and_server_ids(void)
{
	char *dir = make_log("tenants");
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack a[4], b[4];
	struct buf e = BUF_INIT(1 << 20);
	struct stored_info si;
	struct event_error ee;

	evs_addf(&v, "t1", "same", "one");
	evs_addf(&v, "t2", "same", "two");
	evs_addf(&v, "t1", NULL, "server id");
	CHECK(log_append(l, v.ev, 3, a) == 0);
	check_fresh(a, 3, 0, "two tenants");
	CHECK(log_append(l, v.ev, 2, b) == 0);
	CHECK(b[0].duplicate && b[0].seq == 0 && b[1].duplicate && b[1].seq == 1);

	/* The id the server gave entry 2, sent back by a producer of t1. */
	CHECK(log_read_entry(l, 2, &e) == 0);
	CHECK(event_parse_stored(e.data, e.len, NULL, &si, &ee) == 0);
	CHECK(si.id != NULL && si.id_len == 36);
	if (si.id && si.id_len == 36) {
		char id[37];
		memcpy(id, si.id, 36);
		id[36] = 0;
		evs_addf(&v, "t1", id, "replayed");     /* 3 */
		evs_addf(&v, "t2", id, "other tenant"); /* 4 */
		log_close(l);
		l = open_log(dir);
		CHECK(log_append(l, v.ev + 3, 2, b) == 0);
		CHECK(b[0].duplicate && b[0].seq == 2 && !memcmp(b[0].leaf, a[2].leaf, HASH_SIZE));
		CHECK(!b[1].duplicate && b[1].seq == 3);
	}
	buf_release(&e);
	log_close(l);
	evs_free(&v);
	remove_log(dir);
}

/* Reads a whole small file into buf (at most cap bytes); its length. */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap) : -1;
	if (fd >= 0)
		close(fd);
	CHECK_MSG(n > 0, "read %s", path);
	return n > 0 ? (size_t)n : 0;
}

static void spit(const char *path, const uint8_t *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
	if (fd >= 0)
		close(fd);
}

/* Rewrites the manifest with covered set to c and a valid CRC. */
static void set_covered(const char *dir, uint64_t c)
{
	char path[4200];
	uint8_t m[65536];
	manifest_path(dir, path, sizeof(path));
	size_t n = slurp(path, m, sizeof(m));
	if (n < 92)
		return;
	put_le64(m + 32, c);
	put_le32(m + n - 4, crc32c(0, m, n - 4));
	spit(path, m, n);
}

static void flip_byte(const char *path, off_t off)
{
	uint8_t c = 0;
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0 && pread(fd, &c, 1, off) == 1);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

static int copy_file(const char *from, const char *to)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	return system(cmd);
}

static int remove_tree(const char *path)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

/* Every way DIR/ids.d can be lost, damaged, stale or foreign: the next open
 * repairs it and every event is still a duplicate. Memtables of 64 slots
 * (44 ids), so that the log's 300 ids are in several runs. */
static void test_damage(void)
{
	enum { N = 300 };
	setenv("SEALTRAIL_TEST_IDS_SLOTS", "64", 1);
	char *dir = make_log("damage");
	char *other = make_log("other");
	char path[4200], saved[4300], opath[4200], mpath[4200], run[4300];
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack *first = calloc(N, sizeof(*first));
	struct stat st;

	for (size_t i = 0; i < N; i++) {
		char id[32], t[8];
		snprintf(id, sizeof(id), "dmg-%zu", i);
		snprintf(t, sizeof(t), "t%zu", i % 3);
		evs_addf(&v, i % 4 ? t : NULL, id, "d");
	}
	ids_path(dir, path, sizeof(path));
	manifest_path(dir, mpath, sizeof(mpath));
	snprintf(saved, sizeof(saved), "%s.saved", path);
	CHECK(append_all(l, &v, 0, N / 2, 20, first) == 0);
	log_close(l);
	CHECK(copy_file(path, saved) == 0);     /* covers N/2 entries */
	l = open_log(dir);
	CHECK(append_all(l, &v, N / 2, N - N / 2, 20, first) == 0);
	check_fresh(first, N, 0, "damage: first appends");
	log_close(l);
	check_header(dir, N, N);

	const char *modes[] = { "deleted", "manifest deleted", "manifest bad CRC",
				"manifest truncated", "covered past the log", "behind the log",
				"from another log", "manifest empty", "a run's byte flipped",
				"a run truncated", "a run deleted", "an unlisted run",
				"an old-format DIR/ids" };
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		bool have_run = first_run(dir, run, sizeof(run));
		CHECK_MSG(have_run, "mode %zu: no run file", m);
		switch (m) {
		case 0: CHECK(remove_tree(path) == 0); break;
		case 1: CHECK(unlink(mpath) == 0); break;
		case 2: flip_byte(mpath, 20); break;
		case 3: CHECK(truncate(mpath, 60) == 0); break;
		case 4: set_covered(dir, N + 5); break;
		case 5: CHECK(remove_tree(path) == 0 && copy_file(saved, path) == 0); break;
		case 6: {
			/* An index that covers N entries of another log. */
			struct log *o = open_log(other);
			struct evs w = { 0 };
			struct log_ack *wa = calloc(N, sizeof(*wa));
			for (size_t i = 0; i < N; i++)
				evs_addf(&w, NULL, NULL, "other log");
			CHECK(append_all(o, &w, 0, N, 50, wa) == 0);
			log_close(o);
			ids_path(other, opath, sizeof(opath));
			CHECK(remove_tree(path) == 0 && copy_file(opath, path) == 0);
			evs_free(&w);
			free(wa);
			break;
		}
		case 7: CHECK(truncate(mpath, 0) == 0); break;
		case 8: if (have_run) flip_byte(run, 4096 + 21); break;
		case 9: if (have_run) CHECK(truncate(run, 4096 + 16 * 3) == 0); break;
		case 10: if (have_run) CHECK(unlink(run) == 0); break;
		case 11: {
			/* A run a crash left before the manifest listed it: swept. */
			char extra[4300];
			snprintf(extra, sizeof(extra), "%s/%016x.run", path, 0xffffffu);
			if (have_run)
				CHECK(copy_file(run, extra) == 0);
			break;
		}
		case 12: {
			char old[4200];
			snprintf(old, sizeof(old), "%s/ids", dir);
			int fd = open(old, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			CHECK(fd >= 0 && write(fd, "SEALIDS", 8) == 8);
			close(fd);
			break;
		}
		}
		l = open_log(dir);
		char what[128];
		snprintf(what, sizeof(what), "ids %s", modes[m]);
		check_all_dup(l, &v, first, 37, what);
		log_close(l);
		CHECK_MSG(stat(mpath, &st) == 0 && st.st_size > 92, "%s: no manifest after close",
			  what);
		check_header(dir, N, N);
		if (m == 11)
			CHECK_MSG(count_runs(dir) < 20, "%s: %zu runs", what, count_runs(dir));
		if (m == 12) {
			char old[4200];
			snprintf(old, sizeof(old), "%s/ids", dir);
			CHECK_MSG(stat(old, &st) < 0, "%s: the old file is still there", what);
		}
	}
	CHECK(remove_tree(saved) == 0);
	unsetenv("SEALTRAIL_TEST_IDS_SLOTS");
	free(first);
	evs_free(&v);
	remove_log(other);
	remove_log(dir);
}

/* Tiny memtables (64 slots: a run every 44 ids, a merge every 4 runs):
 * flushes inside one batch, across batches, across reopen, and a crash
 * copy taken while the newest runs were not yet in the manifest. */
static void test_flushes(void)
{
	enum { N = 1400 };
	setenv("SEALTRAIL_TEST_IDS_SLOTS", "64", 1);
	char *dir = make_log("flush");
	char cmd[9000], copy[4300];
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack *first = calloc(N, sizeof(*first));

	for (size_t i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "flush-%zu", i);
		evs_addf(&v, i % 2 ? "g" : NULL, i % 5 == 4 ? NULL : id, "g");
	}
	/* 0..399 in one call: nine memtables fill inside it. */
	CHECK(append_all(l, &v, 0, 400, 400, first) == 0);
	/* A crash now: what a copy of the directory holds (runs the manifest
	 * may not list yet; open must drop them and replay). */
	snprintf(copy, sizeof(copy), "%s-crash", dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", dir, copy);
	CHECK(system(cmd) == 0);
	CHECK(append_all(l, &v, 400, 600, 7, first) == 0);
	log_close(l);
	{
		struct log *c = open_log(copy);
		struct evs cv = { 0 };
		for (size_t i = 0; i < 400; i++)
			if (i % 5 != 4)
				evs_add(&cv, v.src[i]);
		struct log_ack *cf = calloc(cv.n, sizeof(*cf));
		for (size_t i = 0, k = 0; i < 400; i++)
			if (i % 5 != 4)
				cf[k++] = first[i];
		CHECK(log_size(c) == 400);
		check_all_dup(c, &cv, cf, 13, "flushes, crash copy");
		log_close(c);
		free(cf);
		evs_free(&cv);
		check_verify(copy, "the crash copy");
		CHECK(remove_tree(copy) == 0);
	}
	l = open_log(dir);
	CHECK(append_all(l, &v, 1000, N - 1000, 64, first) == 0);
	check_fresh(first, N, 0, "flushes");
	/* Events without an id get a new one each time: leave them out. */
	struct evs d = { 0 };
	struct log_ack *df = calloc(N, sizeof(*df));
	size_t nd = 0;
	for (size_t i = 0; i < N; i++) {
		if (i % 5 == 4)
			continue;
		evs_add(&d, v.src[i]);
		df[nd++] = first[i];
	}
	check_all_dup(l, &d, df, 100, "flushes, same process");
	log_close(l);
	/* Merges keep the run count logarithmic: 1400 ids in 44-id runs would
	 * be 32 runs without them. */
	size_t nr = count_runs(dir);
	CHECK_MSG(nr >= 1 && nr <= 16, "%zu runs after close", nr);
	check_header(dir, N, N);
	l = open_log(dir);
	check_all_dup(l, &d, df, 3, "flushes, after reopen");
	log_close(l);
	/* A rebuild (the index deleted) flushes as it replays. */
	char path[4200];
	ids_path(dir, path, sizeof(path));
	CHECK(remove_tree(path) == 0);
	l = open_log(dir);
	check_all_dup(l, &d, df, 50, "flushes, after rebuild");
	log_close(l);
	check_header(dir, N, N);
	unsetenv("SEALTRAIL_TEST_IDS_SLOTS");
	free(df);
	free(first);
	evs_free(&d);
	evs_free(&v);
	remove_log(dir);
}

/* ---- the index alone, against a brute-force set -------------------------------- */

/* A log of keys: key[seq] is the key number of entry seq ("k<number>" in
 * tenant "t"); first[number] is the first seq holding it. */
struct brute {
	uint32_t *key;
	uint64_t size;
	uint64_t *first;
	uint64_t confirms;
};

static int brute_confirm(void *ctx, uint64_t seq, const struct idkey *k)
{
	struct brute *b = ctx;
	char id[32];
	int n;
	b->confirms++;
	if (seq >= b->size)
		return 0;
	n = snprintf(id, sizeof(id), "k%u", b->key[seq]);
	return k->id_len == (size_t)n && memcmp(k->id, id, (size_t)n) == 0;
}

static void brute_key(struct idindex *x, uint32_t num, char id[32], struct idkey *k)
{
	int n = snprintf(id, 32, "k%u", num);
	k->tenant = "t";
	k->tenant_len = 1;
	k->id = id;
	k->id_len = (size_t)n;
	idindex_fp(x, k);
}

/* Replays entries [from, size) as log.c does at open. */
static void brute_replay(struct idindex *x, struct brute *b, uint64_t from)
{
	for (uint64_t s = from; s < b->size; s++) {
		char id[32];
		struct idkey k;
		uint64_t f;
		brute_key(x, b->key[s], id, &k);
		int r = idindex_add(x, &k, s, brute_confirm, b, &f);
		CHECK_MSG(r == 0, "replay of seq %llu: %d", (unsigned long long)s, r);
	}
}

static void test_bruteforce_with(unsigned fp_bits, uint64_t slots, uint64_t filter,
				 uint32_t nsteps, uint32_t universe, const char *what)
{
	char tmpl[] = "/tmp/sealtrail-test-ids-brute.XXXXXX";
	char *base = mkdtemp(tmpl), dir[4200];
	struct idindex_config cfg = { slots, filter };
	struct brute b = { calloc(nsteps, sizeof(uint32_t)), 0,
			   malloc(universe * sizeof(uint64_t)), 0 };
	struct idindex *x = NULL;
	uint8_t zero[HASH_SIZE] = { 0 };
	uint64_t rng = 0x1234567 + fp_bits, lookups = 0, wrong = 0, max_runs = 0;
	size_t crashes = 0, reopens = 0;

	if (!base) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(dir, sizeof(dir), "%s/ids.d", base);
	for (uint32_t i = 0; i < universe; i++)
		b.first[i] = UINT64_MAX;
	idindex_set_test_fp_bits(fp_bits);
	CHECK(idindex_create(&x, dir, &cfg) == 0);
	for (uint32_t step = 0; step < nsteps && x; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t num = (uint32_t)((rng >> 33) % universe);
		char id[32];
		struct idkey k;
		struct idprobe p;
		uint64_t seq = 0;
		brute_key(x, num, id, &k);
		int r = idindex_find(x, &k, brute_confirm, &b, &p, &seq);
		lookups++;
		if (r < 0 || (r == 1) != (b.first[num] != UINT64_MAX) ||
		    (r == 1 && seq != b.first[num])) {
			if (wrong++ < 5)
				fprintf(stderr, "%s: step %u key %u: find %d seq %llu, want %llu\n",
					what, step, num, r, (unsigned long long)seq,
					(unsigned long long)b.first[num]);
		}
		if (r == 0) {
			CHECK(idindex_insert(x, k.fp, &p, b.size) == 0);
			b.key[b.size] = num;
			b.first[num] = b.size;
			b.size++;
		}
		if (idindex_runs(x) > max_runs)
			max_runs = idindex_runs(x);
		/* Now and then: persist what is durable, close cleanly, or crash. */
		if (step % 97 == 0 && idindex_dirty(x))
			CHECK(idindex_persist(x, idindex_persistable(x), zero) == 0);
		if (step % 1999 == 1998) {
			bool crash = (step / 1999) % 2;
			if (crash) {
				crashes++;
			} else {
				reopens++;
				CHECK(idindex_flush(x, b.size) == 0);
				CHECK(idindex_persist(x, b.size, zero) == 0);
			}
			idindex_free(x);
			x = NULL;
			CHECK(idindex_open(&x, dir, &cfg) == 0);
			if (!x)
				break;
			uint64_t from = idindex_covered(x);
			CHECK(from <= b.size);
			if (!crash)
				CHECK_MSG(from == b.size, "%s: clean reopen covers %llu of %llu", what,
					  (unsigned long long)from, (unsigned long long)b.size);
			brute_replay(x, &b, from);
		}
	}
	CHECK_MSG(wrong == 0, "%s: %llu of %llu lookups disagree with the brute force", what,
		  (unsigned long long)wrong, (unsigned long long)lookups);
	if (x) {
		/* Everything is found once more, after the merges settle. */
		idindex_test_quiesce(x);
		size_t nr = idindex_runs(x);
		CHECK_MSG(b.size < 8 * slots || nr >= 2, "%s: %zu runs", what, nr);
		CHECK_MSG(nr <= 3 * 12 + 2, "%s: %zu runs: merges fall behind", what, nr);
		size_t missing = 0;
		for (uint32_t num = 0; num < universe; num++) {
			char id[32];
			struct idkey k;
			uint64_t seq = 0;
			brute_key(x, num, id, &k);
			int r = idindex_find(x, &k, brute_confirm, &b, NULL, &seq);
			if ((r == 1) != (b.first[num] != UINT64_MAX) || (r == 1 && seq != b.first[num]))
				missing++;
		}
		CHECK_MSG(missing == 0, "%s: %zu keys wrong at the end", what, missing);
		CHECK(idindex_count(x) == b.size);
		CHECK(idindex_flush(x, b.size) == 0);
		CHECK(idindex_persist(x, b.size, zero) == 0);
		idindex_free(x);
		x = NULL;
		/* A flipped byte in any run: the open refuses (the log rebuilds). */
		char run[4300];
		if (first_run(base, run, sizeof(run))) {
			flip_byte(run, 4096 + 3);
			CHECK(idindex_open(&x, dir, &cfg) == ST_ECORRUPT && x == NULL);
			idindex_free(x);
			x = NULL;
		}
		/* And idindex_create starts over: no runs, nothing found. */
		CHECK(idindex_create(&x, dir, &cfg) == 0);
		if (x) {
			CHECK(idindex_runs(x) == 0 && idindex_count(x) == 0);
			idindex_free(x);
		}
	}
	fprintf(stderr, "# %s: %llu entries, %zu clean reopens, %zu crashes, up to %llu runs, "
		"%llu confirms for %llu lookups\n", what, (unsigned long long)b.size, reopens,
		crashes, (unsigned long long)max_runs, (unsigned long long)b.confirms,
		(unsigned long long)lookups);
	idindex_set_test_fp_bits(0);
	free(b.key);
	free(b.first);
	remove_tree(base);
}

static void test_bruteforce(void)
{
	/* 64-slot memtables (44 ids a run), a filter of 4 KiB: a few hundred
	 * runs' worth of flushes, merges of merges, and the filter saturates. */
	test_bruteforce_with(0, 64, 4096, 12000, 9000, "brute force");
	/* Forced collisions: 6-bit fingerprints, a larger filter. */
	test_bruteforce_with(6, 64, 65536, 4000, 3000, "brute force, 6-bit fingerprints");
	/* The smallest memtable. */
	test_bruteforce_with(0, 16, 4096, 3000, 2500, "brute force, 16 slots");
}

/* Fingerprints cut to 3 bits: almost every probe meets other keys with
 * the same fingerprint, and only confirmation tells them apart. */
static void test_collisions(void)
{
	enum { N = 400 };
	idindex_set_test_fp_bits(3);
	setenv("SEALTRAIL_TEST_IDS_SLOTS", "128", 1);
	char *dir = make_log("collide");
	char path[4200];
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack *first = calloc(N, sizeof(*first));

	for (size_t i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "c-%zu", i);
		evs_addf(&v, i % 3 ? "ct" : NULL, id, "c");
	}
	CHECK(append_all(l, &v, 0, N / 2, 50, first) == 0);
	CHECK(log_checkpoint(l, false, NULL) == 0);
	CHECK(append_all(l, &v, N / 2, N - N / 2, 33, first) == 0);
	check_fresh(first, N, 0, "collisions: nothing lost or merged");
	check_all_dup(l, &v, first, 61, "collisions, same process");
	log_close(l);
	l = open_log(dir);
	check_all_dup(l, &v, first, N, "collisions, after reopen");
	log_close(l);
	ids_path(dir, path, sizeof(path));
	CHECK(remove_tree(path) == 0);
	l = open_log(dir);
	check_all_dup(l, &v, first, 9, "collisions, after rebuild");
	log_close(l);
	idindex_set_test_fp_bits(0);
	unsetenv("SEALTRAIL_TEST_IDS_SLOTS");
	free(first);
	evs_free(&v);
	remove_log(dir);
}

/* ---- a write failure --------------------------------------------------------- */

static int fail_pwrites;

static ssize_t failing_pwrite(int fd, const void *p, size_t n, off_t off)
{
	if (fail_pwrites) {
		errno = ENOSPC;
		return -1;
	}
	return pwrite(fd, p, n, off);
}

static int real_fdatasync(int fd)
{
	return fdatasync(fd);
}

static void test_write_failure(void)
{
	enum { N = 120 };
	static const struct log_io fio = { failing_pwrite, real_fdatasync };
	char *dir = make_log("wfail");
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct log_ack *first = calloc(N, sizeof(*first));
	struct log_ack *a = calloc(N, sizeof(*a));

	for (size_t i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "w-%zu", i);
		evs_addf(&v, NULL, id, "w");
	}
	CHECK(append_all(l, &v, 0, 40, 40, first) == 0);
	log_set_io(&fio);
	fail_pwrites = 1;
	/* 40..79 fail: their slots are in the table, their entries nowhere. */
	CHECK(log_append(l, v.ev + 40, 40, a + 40) < 0);
	fail_pwrites = 0;
	log_set_io(NULL);
	CHECK(log_append(l, v.ev + 80, 1, a + 80) == ST_ESTICKY);
	log_close(l);

	l = open_log(dir);
	CHECK(log_size(l) == 40);
	/* The failed ones are new; their seqs are the stale slots' seqs. */
	CHECK(append_all(l, &v, 40, N - 40, 40, first) == 0);
	check_fresh(first, N, 0, "after a write failure");
	check_all_dup(l, &v, first, 25, "after a write failure");
	log_close(l);
	l = open_log(dir);
	check_all_dup(l, &v, first, N, "after a write failure and reopen");
	log_close(l);
	/* The stale slots are still in the file, uncounted; the count is the
	 * entries' (the recovery counted the slots that reached the file). */
	check_header(dir, N, N);
	free(first);
	free(a);
	evs_free(&v);
	remove_log(dir);
}

/* ---- concurrent appenders of the same events ---------------------------------- */

struct racer {
	struct log *l;
	struct evs *v;
	struct log_ack *acks;
	size_t batch;
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	r->rc = append_all(r->l, r->v, 0, r->v->n, r->batch, r->acks);
	return NULL;
}

/* Four threads append the same 500 events at once (batches of 1, 7, 50
 * and 500): group commit puts copies of one event in one group and in
 * successive groups. Each event is stored once; every thread's ack for it
 * names that entry; exactly one ack per event is not a duplicate. */
static void test_concurrent(void)
{
	enum { N = 500, T = 4 };
	static const size_t batches[T] = { 1, 7, 50, 500 };
	char *dir = make_log("race");
	struct log *l = open_log(dir);
	struct evs v = { 0 };
	struct racer rs[T];
	pthread_t th[T];

	for (size_t i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "race-%zu", i);
		evs_addf(&v, i % 2 ? "r" : NULL, id, "r");
	}
	for (int t = 0; t < T; t++) {
		rs[t] = (struct racer){ l, &v, calloc(N, sizeof(struct log_ack)), batches[t], 0 };
		CHECK(pthread_create(&th[t], NULL, race, &rs[t]) == 0);
	}
	for (int t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		CHECK(rs[t].rc == 0);
	}
	CHECK_MSG(log_size(l) == N, "%llu entries for %d distinct events",
		  (unsigned long long)log_size(l), N);
	size_t bad = 0;
	for (size_t i = 0; i < N; i++) {
		int fresh = 0;
		for (int t = 0; t < T; t++) {
			fresh += !rs[t].acks[i].duplicate;
			if (rs[t].acks[i].result != 0 || rs[t].acks[i].seq != rs[0].acks[i].seq ||
			    memcmp(rs[t].acks[i].leaf, rs[0].acks[i].leaf, HASH_SIZE))
				bad++;
		}
		if (fresh != 1)
			bad++;
	}
	CHECK_MSG(bad == 0, "%zu disagreements between the threads' acks", bad);
	log_close(l);
	for (int t = 0; t < T; t++)
		free(rs[t].acks);
	evs_free(&v);
	remove_log(dir);
}

int main(void)
{
	test_basic();
	test_tenants_and_server_ids();
	test_damage();
	test_flushes();
	test_bruteforce();
	test_collisions();
	test_write_failure();
	test_concurrent();
	return test_report("test_idindex");
}
