/*
 * test_log_io.c - the writer's durability contract under injected I/O
 * failures (log.h: "Durability contract", log.c: L1, L3), and group
 * commit under concurrent appenders.
 *
 * (a) Sticky failures. Through log_set_io() one of these is injected once
 *     a log holds some acknowledged entries: fdatasync failing with EIO
 *     on the Nth call, pwrite failing with ENOSPC, pwrite writing half of
 *     a group and then failing. The append that meets the failure must
 *     return an error and acknowledge nothing; every later append and
 *     checkpoint must return ST_ESTICKY. After close, real I/O and reopen
 *     (recovery), every acknowledged entry is there with its leaf hash,
 *     appends resume at log_size(), and log_verify() passes.
 * (b) Group commit. Four threads append 2,000 events each in batches of
 *     1..50 at once: the acks are exactly seqs 0..7999, every entry reads
 *     back with its ack's leaf hash, the log verifies, and fdatasync is
 *     called far fewer times than there were log_append() calls (a slowed
 *     fdatasync makes the appenders queue up, so groups must form).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/util.h"
#include "event/event.h"
#include "log/log.h"
#include "log/verify.h"
#include "test.h"

/* ---- events ------------------------------------------------------------------ */

/* A pool of parsed events; event_info slices point into src[]. */
struct pool {
	char **src;
	struct buf *compact;
	struct log_event *ev;
	size_t n;
};

static void pool_make(struct pool *p, size_t n, unsigned salt)
{
	struct event_limits lim;
	event_limits_default(&lim);
	p->n = n;
	p->src = calloc(n, sizeof(*p->src));
	p->compact = calloc(n, sizeof(*p->compact));
	p->ev = calloc(n, sizeof(*p->ev));
	if (!p->src || !p->compact || !p->ev) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		struct event_error ee;
		char tenant[40] = "";
		p->src[i] = malloc(256);
		if (i % 3)
			snprintf(tenant, sizeof(tenant), ",\"tenant\":\"t%zu\"", i % 5);
		snprintf(p->src[i], 256,
			 "{\"time\":\"2026-01-01T00:00:00Z\",\"action\":\"a.b\","
			 "\"actor\":{\"id\":\"u%u-%zu\"},\"resource\":{\"type\":\"t\"}%s}",
			 salt, i, tenant);
		buf_init(&p->compact[i], 4096);
		int r = event_parse((const uint8_t *)p->src[i], strlen(p->src[i]), &lim,
				    &p->compact[i], &p->ev[i].info, &ee);
		if (r < 0) {
			fprintf(stderr, "event_parse(%s): %s\n", p->src[i], ee.msg);
			exit(2);
		}
		p->ev[i].compact = p->compact[i].data;
		p->ev[i].len = p->compact[i].len;
	}
}

static void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->src[i]);
		buf_release(&p->compact[i]);
	}
	free(p->src);
	free(p->compact);
	free(p->ev);
}

/* ---- injected I/O ------------------------------------------------------------ */

enum fail_mode { FAIL_NONE, FAIL_FSYNC_EIO, FAIL_PWRITE_ENOSPC, FAIL_PWRITE_HALF };

static _Atomic int mode = FAIL_NONE;
static _Atomic long fsync_calls, pwrite_calls;
static _Atomic long fsync_fail_at;       /* fail the fsync call with this number */
static _Atomic int injected;             /* failures injected so far */
static _Atomic int half_done;
static _Atomic long fsync_delay_us;

static ssize_t test_pwrite(int fd, const void *p, size_t n, off_t off)
{
	atomic_fetch_add(&pwrite_calls, 1);
	switch (atomic_load(&mode)) {
	case FAIL_PWRITE_ENOSPC:
		atomic_fetch_add(&injected, 1);
		errno = ENOSPC;
		return -1;
	case FAIL_PWRITE_HALF:
		if (!atomic_exchange(&half_done, 1) && n >= 2)
			return pwrite(fd, p, n / 2, off);
		atomic_fetch_add(&injected, 1);
		errno = ENOSPC;
		return -1;
	default:
		return pwrite(fd, p, n, off);
	}
}

static int test_fdatasync(int fd)
{
	long k = atomic_fetch_add(&fsync_calls, 1) + 1;
	long d = atomic_load(&fsync_delay_us);
	if (atomic_load(&mode) == FAIL_FSYNC_EIO && k >= atomic_load(&fsync_fail_at)) {
		atomic_fetch_add(&injected, 1);
		errno = EIO;
		return -1;
	}
	if (d > 0) {
		struct timespec ts = { 0, d * 1000 };
		nanosleep(&ts, NULL);
	}
	return fdatasync(fd);
}

static const struct log_io test_io = { test_pwrite, test_fdatasync };

static void io_reset(void)
{
	atomic_store(&mode, FAIL_NONE);
	atomic_store(&fsync_calls, 0);
	atomic_store(&pwrite_calls, 0);
	atomic_store(&fsync_fail_at, 0);
	atomic_store(&injected, 0);
	atomic_store(&half_done, 0);
	atomic_store(&fsync_delay_us, 0);
}

/* ---- helpers ----------------------------------------------------------------- */

struct acked {
	uint64_t seq;
	uint8_t leaf[HASH_SIZE];
};

static char *make_log(const char *tag)
{
	char tmpl[] = "/tmp/sealtrail-test-log-io.XXXXXX";
	char err[512] = "";
	struct buf vk = BUF_INIT(4096);
	struct log_init_options o = { .origin = "example.com/test-log-io" };
	char *base = mkdtemp(tmpl);
	if (!base) {
		perror("mkdtemp");
		exit(2);
	}
	char *dir = malloc(strlen(base) + 64);
	sprintf(dir, "%s/%s", base, tag);
	int r = log_init(dir, &o, &vk, err, sizeof(err));
	CHECK_MSG(r == 0, "log_init: %s", err);
	buf_release(&vk);
	return dir;
}

static void remove_log(char *dir)
{
	char cmd[4200];
	char *slash = strrchr(dir, '/');
	*slash = 0;                             /* the mkdtemp directory */
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
	return r == 0 ? l : NULL;
}

/* Appends ev[0..n) as one call; on success records the acks. */
static int append_rec(struct log *l, const struct log_event *ev, size_t n,
		      struct acked *rec, size_t *nrec)
{
	struct log_ack acks[64];
	int r = log_append(l, ev, n, acks);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		CHECK(acks[i].result == 0);
		rec[*nrec].seq = acks[i].seq;
		memcpy(rec[*nrec].leaf, acks[i].leaf, HASH_SIZE);
		(*nrec)++;
	}
	return 0;
}

/* Every recorded ack has its entry, with the ack's leaf hash. */
static void check_acked(struct log *l, const struct acked *rec, size_t nrec)
{
	struct buf e = BUF_INIT(1 << 20);
	size_t bad = 0;
	for (size_t i = 0; i < nrec; i++) {
		uint8_t leaf[HASH_SIZE];
		buf_reset(&e);
		int r = log_read_entry(l, rec[i].seq, &e);
		if (r < 0) {
			if (bad++ < 5)
				fprintf(stderr, "seq %llu: log_read_entry: %s\n",
					(unsigned long long)rec[i].seq, st_strerror(r));
			continue;
		}
		hash_leaf(e.data, e.len, leaf);
		if (memcmp(leaf, rec[i].leaf, HASH_SIZE) && bad++ < 5)
			fprintf(stderr, "seq %llu: leaf differs from the ack\n",
				(unsigned long long)rec[i].seq);
	}
	CHECK_MSG(bad == 0, "%zu of %zu acknowledged entries missing or different", bad, nrec);
	buf_release(&e);
}

static void check_verify(const char *dir, const char *what)
{
	struct verify_result res;
	int r = log_verify(dir, NULL, &res);
	CHECK_MSG(r == 0, "%s: log_verify: %s", what, res.error);
}

/* ---- (a) sticky failures ------------------------------------------------------ */

static void sticky_case(enum fail_mode m, long fsync_nth, const char *name)
{
	struct pool p;
	struct acked rec[512];
	size_t nrec = 0, next = 0;
	char *dir = make_log(name);
	struct log *l;
	int r;

	pool_make(&p, 300, (unsigned)m);
	io_reset();
	log_set_io(&test_io);
	if (!(l = open_log(dir)))
		goto out;
	/* Some acknowledged entries, and a checkpoint over them. */
	for (int k = 0; k < 5; k++, next += 10)
		CHECK(append_rec(l, p.ev + next, 10, rec, &nrec) == 0);
	CHECK(log_checkpoint(l, false, NULL) == 0);
	CHECK(append_rec(l, p.ev + next, 7, rec, &nrec) == 0);
	next += 7;

	/* Arm the failure; append until it bites (at most 20 calls). */
	atomic_store(&fsync_fail_at, atomic_load(&fsync_calls) + fsync_nth);
	atomic_store(&mode, m);
	size_t before = nrec;
	int failed_with = 0;
	for (int k = 0; k < 20 && !failed_with; k++, next += 5) {
		r = append_rec(l, p.ev + next, 5, rec, &nrec);
		if (r < 0)
			failed_with = r;
	}
	CHECK_MSG(failed_with < 0, "%s: no append failed", name);
	CHECK_MSG(failed_with != ST_ESTICKY, "%s: the first failure is already ST_ESTICKY", name);
	if (m == FAIL_FSYNC_EIO)
		CHECK_MSG(failed_with == -EIO, "%s: failed with %s, want EIO", name,
			  st_strerror(failed_with));
	else
		CHECK_MSG(failed_with == -ENOSPC, "%s: failed with %s, want ENOSPC", name,
			  st_strerror(failed_with));
	CHECK(atomic_load(&injected) >= 1);
	if (m == FAIL_FSYNC_EIO)
		CHECK_MSG(nrec - before == (size_t)(fsync_nth - 1) * 5,
			  "%s: %zu acks before the failing fsync, want %ld", name,
			  nrec - before, (fsync_nth - 1) * 5);

	/* From now on, even with healthy I/O, the log refuses work (L3). */
	atomic_store(&mode, FAIL_NONE);
	long fs = atomic_load(&fsync_calls), pw = atomic_load(&pwrite_calls);
	for (int k = 0; k < 3; k++, next += 3) {
		struct log_ack acks[3];
		r = log_append(l, p.ev + next, 3, acks);
		CHECK_MSG(r == ST_ESTICKY, "%s: append after the failure: %s", name,
			  st_strerror(r));
		r = log_checkpoint(l, false, NULL);
		CHECK_MSG(r == ST_ESTICKY, "%s: checkpoint after the failure: %s", name,
			  st_strerror(r));
		r = log_checkpoint(l, true, NULL);
		CHECK_MSG(r == ST_ESTICKY, "%s: forced checkpoint after the failure: %s",
			  name, st_strerror(r));
	}
	/* "never retries an fsync and carries on" */
	CHECK_MSG(atomic_load(&fsync_calls) == fs && atomic_load(&pwrite_calls) == pw,
		  "%s: the poisoned log still wrote or synced", name);
	log_close(l);

	/* Recovery with real I/O. */
	log_set_io(NULL);
	if (!(l = open_log(dir)))
		goto out;
	uint64_t size = log_size(l);
	CHECK_MSG(size >= nrec, "%s: %llu entries after recovery, %zu acknowledged", name,
		  (unsigned long long)size, nrec);
	for (size_t i = 0; i < nrec; i++)
		CHECK(rec[i].seq == i);
	check_acked(l, rec, nrec);
	size_t mark = nrec;
	for (int k = 0; k < 4; k++, next += 6)
		CHECK(append_rec(l, p.ev + next, 6, rec, &nrec) == 0);
	CHECK_MSG(nrec > mark && rec[mark].seq == size,
		  "%s: appends resume at seq %llu, want %llu", name,
		  nrec > mark ? (unsigned long long)rec[mark].seq : 0ull,
		  (unsigned long long)size);
	CHECK(log_checkpoint(l, false, NULL) == 0);
	check_acked(l, rec, nrec);
	log_close(l);
	check_verify(dir, name);
out:
	log_set_io(NULL);
	pool_free(&p);
	remove_log(dir);
}

/* ---- (b) group commit ---------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 2000

struct worker {
	struct log *l;
	const struct pool *p;
	size_t first;             /* its events: p->ev[first .. first+PER_THREAD) */
	unsigned seed;
	struct acked rec[PER_THREAD];
	size_t nrec;
	long calls;
	int err;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct log_ack acks[50];
	size_t done = 0;
	while (done < PER_THREAD && !w->err) {
		size_t n = 1 + (size_t)rand_r(&w->seed) % 50;
		if (n > PER_THREAD - done)
			n = PER_THREAD - done;
		int r = log_append(w->l, w->p->ev + w->first + done, n, acks);
		w->calls++;
		if (r < 0) {
			w->err = r;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			if (acks[i].result < 0) {
				w->err = acks[i].result;
				break;
			}
			w->rec[w->nrec].seq = acks[i].seq;
			memcpy(w->rec[w->nrec].leaf, acks[i].leaf, HASH_SIZE);
			w->nrec++;
		}
		done += n;
	}
	return NULL;
}

static void group_commit(void)
{
	static struct worker w[THREADS];
	struct pool p;
	pthread_t th[THREADS];
	char *dir = make_log("group");
	struct log *l;
	long calls = 0;

	pool_make(&p, THREADS * PER_THREAD, 77);
	io_reset();
	/* A slower fdatasync (as on a real disk) keeps appenders queued
	 * behind the leader, which is when groups form. */
	atomic_store(&fsync_delay_us, 1000);
	log_set_io(&test_io);
	if (!(l = open_log(dir)))
		goto out;
	long fs0 = atomic_load(&fsync_calls);
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].l = l;
		w[i].p = &p;
		w[i].first = (size_t)i * PER_THREAD;
		w[i].seed = 1234u + (unsigned)i;
		CHECK(pthread_create(&th[i], NULL, worker_run, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	long fsyncs = atomic_load(&fsync_calls) - fs0;

	static uint8_t seen[THREADS * PER_THREAD];
	size_t dup = 0, out_of_range = 0;
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < THREADS; i++) {
		CHECK_MSG(w[i].err == 0, "thread %d: %s", i, st_strerror(w[i].err));
		CHECK(w[i].nrec == PER_THREAD);
		calls += w[i].calls;
		for (size_t k = 0; k < w[i].nrec; k++) {
			uint64_t s = w[i].rec[k].seq;
			if (s >= THREADS * PER_THREAD)
				out_of_range++;
			else if (seen[s]++)
				dup++;
			/* Within one thread, acks come in increasing seq order. */
			if (k && s <= w[i].rec[k - 1].seq)
				dup++;
		}
	}
	CHECK_MSG(dup == 0 && out_of_range == 0, "%zu duplicate, %zu out-of-range seqs",
		  dup, out_of_range);
	CHECK(log_size(l) == THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++)
		check_acked(l, w[i].rec, w[i].nrec);
	printf("group commit: %d events in %ld log_append calls from %d threads, "
	       "%ld fdatasync calls\n", THREADS * PER_THREAD, calls, THREADS, fsyncs);
	CHECK_MSG(fsyncs < THREADS * PER_THREAD / 10, "%ld fdatasync calls", fsyncs);
	CHECK_MSG(fsyncs * 3 < calls * 2,
		  "%ld fdatasync calls for %ld appends: groups did not form", fsyncs, calls);
	CHECK(log_checkpoint(l, false, NULL) == 0);
	log_close(l);
	log_set_io(NULL);
	check_verify(dir, "group commit");
out:
	log_set_io(NULL);
	pool_free(&p);
	remove_log(dir);
}

int main(void)
{
	sticky_case(FAIL_FSYNC_EIO, 1, "fdatasync-eio-1st");
	sticky_case(FAIL_FSYNC_EIO, 3, "fdatasync-eio-3rd");
	sticky_case(FAIL_PWRITE_ENOSPC, 0, "pwrite-enospc");
	sticky_case(FAIL_PWRITE_HALF, 0, "pwrite-half");
	group_commit();
	return test_report("test_log_io");
}
