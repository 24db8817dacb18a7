/*
 * cmd_append.c - sealtrail append: NDJSON in, one ack line per durable
 * event out.
 *
 * Each line is validated and compacted by event_parse(); a bad line is
 * reported on stderr with its line number and reason and is skipped, the
 * rest go on. Valid events are appended in batches of --batch (default
 * 1000): one group commit, so one fdatasync, per batch. Once a batch is
 * durable an ack is printed for each of its events, in input order:
 *   {"line":L,"seq":S,"leaf_hash":"<base64>"}
 * An event whose (tenant, id) the log already holds is not appended
 * again: its ack names the first entry that carried it and ends with
 * ,"duplicate":true (log.h, log_ack).
 * A checkpoint is issued at least once a second while appending, and at
 * the end. Blank lines are skipped. Exit status 1 if any line was refused
 * or the log failed.
 *
 * Pipeline: the main thread parses the next batches while a committer
 * thread appends batch k (write, fdatasync, hashing) and prints its acks,
 * in order. NSLOT batch slots form a ring; a slot is refilled only after
 * the committer has finished with it. Each batch owns copies of everything its events point
 * to (compact JSON, tenant and id), so the input buffer may be refilled at
 * any time.
 *
 * Limits: a line may hold at most MAX_LINE bytes (the event itself is held
 * to the log's max_entry after compaction); --batch at most MAX_BATCH.
 */
#include "cli/cli.h"
#include "common/codec.h"
#include "common/timeutil.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINE (1u << 20)
#define MAX_BATCH 100000u
#define INBUF ((size_t)16 << 20)
#define NO_TENANT SIZE_MAX
/* Batch slots: one being parsed, the rest queued for or in the committer.
 * Three let the parser fill one slot while the committer syncs another and
 * a third waits (with PARSER_NICE; without it a third slot did not help). */
#define NSLOT 3
#define PARSER_NICE 10

struct batch {
	struct log_event *ev;
	uint64_t *line;
	struct log_ack *acks;
	size_t *off;                 /* compact event offsets in arena */
	size_t *toff;                /* tenant offsets in arena, or NO_TENANT */
	size_t *ioff;                /* id offsets in arena, or NO_TENANT */
	size_t n;
	struct buf arena;
	size_t in_start;             /* input offset of its first line (mapped input) */
};

struct app {
	struct log *log;
	struct batch b[NSLOT];
	int cur;                     /* slot the parser fills */
	size_t batch;

	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int head;                    /* oldest slot queued for the committer */
	int queued;                  /* slots queued or being committed */
	bool quit;

	uint64_t refused_parse;      /* main thread only */
	uint64_t refused_log, appended; /* committer only (read after join) */
	bool fatal;                  /* under mu */
	const char *producer;        /* --producer, stored in every entry */
	int64_t last_cp;
	struct buf out;
};

static int batch_init(struct batch *b, size_t n)
{
	b->ev = calloc(n, sizeof(*b->ev));
	b->line = calloc(n, sizeof(*b->line));
	b->acks = calloc(n, sizeof(*b->acks));
	b->off = calloc(n, sizeof(*b->off));
	b->toff = calloc(n, sizeof(*b->toff));
	b->ioff = calloc(n, sizeof(*b->ioff));
	buf_init(&b->arena, n * (MAX_LINE + 128));
	return b->ev && b->line && b->acks && b->off && b->toff && b->ioff ? 0 : -ENOMEM;
}

static void batch_release(struct batch *b)
{
	free(b->ev);
	free(b->line);
	free(b->acks);
	free(b->off);
	free(b->toff);
	free(b->ioff);
	buf_release(&b->arena);
}

/* {"line":20d,"seq":20d,"leaf_hash":"44c","duplicate":true}\n */
#define ACK_MAX (9 + 20 + 7 + 20 + 14 + 44 + 17 + 3)

/* Formats one ack line (no printf: this runs once per event). */
static size_t format_ack(uint64_t line, const struct log_ack *k, char *o)
{
	char *s = o;
	memcpy(o, "{\"line\":", 8);
	o += 8;
	o += st_fmt_u64(o, line);
	memcpy(o, ",\"seq\":", 7);
	o += 7;
	o += st_fmt_u64(o, k->seq);
	memcpy(o, ",\"leaf_hash\":\"", 14);
	o += 14;
	o += base64_encode(k->leaf, HASH_SIZE, o);
	*o++ = '"';
	if (k->duplicate) {
		memcpy(o, ",\"duplicate\":true", 17);
		o += 17;
	}
	memcpy(o, "}\n", 2);
	o += 2;
	return (size_t)(o - s);
}

/* Committer side: append one batch, print its acks, checkpoint each second. */
static bool commit_batch(struct app *a, struct batch *b)
{
	int r = log_append(a->log, b->ev, b->n, b->acks);
	if (r < 0) {
		cli_err("append failed at line %llu: %s; the %zu events of this batch "
			"were not acknowledged", (unsigned long long)b->line[0],
			st_strerror(r), b->n);
		return false;
	}
	buf_reset(&a->out);
	if (buf_reserve(&a->out, b->n * ACK_MAX) < 0)
		return false;
	for (size_t i = 0; i < b->n; i++) {
		if (b->acks[i].result < 0) {
			fprintf(stderr, "line %llu: refused by the log: %s\n",
				(unsigned long long)b->line[i], st_strerror(b->acks[i].result));
			a->refused_log++;
			continue;
		}
		a->out.len += format_ack(b->line[i], &b->acks[i],
					 (char *)a->out.data + a->out.len);
		a->appended++;
	}
	if (!cli_write(a->out.data, a->out.len) || fflush(stdout) != 0)
		return false;
	int64_t now = now_monotonic_ns();
	if (now - a->last_cp >= 1000000000) {
		a->last_cp = now;
		if ((r = log_checkpoint(a->log, false, NULL)) < 0) {
			cli_err("checkpoint: %s", st_strerror(r));
			return false;
		}
	}
	return true;
}

static void *committer(void *arg)
{
	struct app *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (a->queued == 0 && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->queued == 0) {
			pthread_mutex_unlock(&a->mu);
			return NULL;
		}
		struct batch *b = &a->b[a->head];
		bool skip = a->fatal;
		pthread_mutex_unlock(&a->mu);

		/* After a failure nothing more is appended: acks stay in order. */
		bool ok = skip || commit_batch(a, b);

		pthread_mutex_lock(&a->mu);
		if (!ok)
			a->fatal = true;
		a->head = (a->head + 1) % NSLOT;
		a->queued--;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
}

/* Waits until at most `left` slots are queued; false if the committer
 * failed. */
static bool wait_queued(struct app *a, int left)
{
	bool ok;
	pthread_mutex_lock(&a->mu);
	while (a->queued > left)
		pthread_cond_wait(&a->cv, &a->mu);
	ok = !a->fatal;
	pthread_mutex_unlock(&a->mu);
	return ok;
}

/* Queues the current slot for the committer and moves to the next free
 * one. *ret_done is the input offset before which every line belongs to a
 * committed batch. */
static bool submit(struct app *a, size_t *ret_done)
{
	struct batch *b = &a->b[a->cur];
	if (b->n == 0)
		return true;
	/* The arena may have moved while growing: fix the pointers. */
	for (size_t i = 0; i < b->n; i++) {
		b->ev[i].compact = b->arena.data + b->off[i];
		if (b->toff[i] != NO_TENANT)
			b->ev[i].info.tenant = (const char *)b->arena.data + b->toff[i];
		if (b->ioff[i] != NO_TENANT)
			b->ev[i].info.id = (const char *)b->arena.data + b->ioff[i];
	}
	/* The next slot must be free: room for this one and the next. */
	if (!wait_queued(a, NSLOT - 2))
		return false;
	pthread_mutex_lock(&a->mu);
	a->queued++;
	*ret_done = a->b[a->head].in_start;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	a->cur = (a->cur + 1) % NSLOT;
	a->b[a->cur].n = 0;
	buf_reset(&a->b[a->cur].arena);
	return true;
}

static bool blank(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void one_line(struct app *a, const uint8_t *s, size_t n, uint64_t lineno,
		     size_t in_off)
{
	struct batch *b = &a->b[a->cur];
	struct event_error ee;
	struct event_info info;
	char msg[512];
	size_t start = b->arena.len;
	int r;

	if (n && s[n - 1] == '\r')
		n--;
	if (blank(s, n))
		return;
	r = event_parse(s, n, log_limits(a->log), &b->arena, &info, &ee);
	size_t end = b->arena.len;
	b->toff[b->n] = b->ioff[b->n] = NO_TENANT;
	if (r == 0) {
		/* Keep the tenant and id with the batch, not in the input buffer. */
		if (info.tenant) {
			b->toff[b->n] = b->arena.len;
			r = buf_append(&b->arena, info.tenant, info.tenant_len);
		}
		if (r == 0 && info.id) {
			b->ioff[b->n] = b->arena.len;
			r = buf_append(&b->arena, info.id, info.id_len);
		}
		if (r < 0) {
			b->arena.len = start;
			snprintf(ee.msg, sizeof(ee.msg), "batch arena full");
			ee.offset = 0;
			ee.path[0] = 0;
		}
	}
	if (r < 0) {
		event_error_format(&ee, msg, sizeof(msg));
		fprintf(stderr, "line %llu: %s\n", (unsigned long long)lineno, msg);
		a->refused_parse++;
		return;
	}
	if (b->n == 0)
		b->in_start = in_off;
	b->ev[b->n].len = end - start;
	b->ev[b->n].info = info;
	b->ev[b->n].producer = a->producer;
	b->ev[b->n].producer_len = a->producer ? strlen(a->producer) : 0;
	b->off[b->n] = start;
	b->line[b->n] = lineno;
	b->n++;
}

static void too_long(struct app *a, uint64_t lineno)
{
	fprintf(stderr, "line %llu: byte %u: line is longer than the %u-byte limit\n",
		(unsigned long long)lineno, MAX_LINE, MAX_LINE);
	a->refused_parse++;
}

/* Drops the pages of a mapped input that every committed batch is done
 * with, so resident memory does not grow with the input file. */
static void release_input(uint8_t *in, size_t mapped, size_t upto, size_t *released)
{
	size_t end = upto & ~(size_t)4095;
	if (!mapped || end <= *released)
		return;
	madvise(in + *released, end - *released, MADV_DONTNEED);
	*released = end;
}

int cmd_append(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "producer", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct app a;
	const char *dir = NULL, *file = "-", *producer = NULL;
	uint64_t batch = 1000, lineno = 0;
	uint8_t *in = NULL;
	size_t have = 0, pos = 0, mapped = 0, released = 0;
	bool skipping = false, eof = false, started = false;
	int c, fd = 0, rc = 1;

	memset(&a, 0, sizeof(a));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b':
			if (!cli_u64(optarg, "--batch", &batch))
				return EXIT_USAGE;
			if (batch == 0 || batch > MAX_BATCH) {
				cli_err("--batch: must be 1..%u, found %llu", MAX_BATCH,
					(unsigned long long)batch);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			if (!log_producer_valid(optarg, strlen(optarg))) {
				cli_err("--producer: 1-%d bytes of [A-Za-z0-9_.:@/+-], found \"%s\"",
					LOG_PRODUCER_MAX, optarg);
				return EXIT_USAGE;
			}
			producer = optarg;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind + 1 < argc) {
		cli_err("usage: sealtrail append --data DIR [--batch N] [--producer NAME] [FILE|-]");
		return EXIT_USAGE;
	}
	if (optind < argc)
		file = argv[optind];
	if (strcmp(file, "-")) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_err("%s: %s", file, strerror(errno));
			return 1;
		}
	}
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	buf_init(&a.out, (size_t)1 << 30);
	a.batch = (size_t)batch;
	a.producer = producer;
	for (int i = 0; i < NSLOT; i++) {
		if (batch_init(&a.b[i], a.batch) < 0) {
			cli_err("out of memory for batches of %zu", a.batch);
			goto out;
		}
	}
	if (!(a.log = cli_open(dir)))
		goto out;
	a.last_cp = now_monotonic_ns();

	/* A regular file is mapped whole (no copy); pipes are read into a
	 * buffer that is compacted as lines are consumed. */
	struct stat st;
	if (fd > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
			in = m;
			mapped = (size_t)st.st_size;
			have = mapped;
			eof = true;
		}
	}
	if (!in && !(in = malloc(INBUF))) {
		cli_err("out of memory");
		goto out;
	}
	if (pthread_create(&a.th, NULL, committer, &a) != 0) {
		cli_err("cannot start the committer thread");
		goto out;
	}
	started = true;
	/* The parser is faster than the committer; at equal priority it runs
	 * while the committer computes, then sits blocked on a full ring while
	 * the committer waits for fdatasync, and the core idles. A lower
	 * priority for the parser (this thread) makes it run mostly inside
	 * those waits: a pinned 1M-event append went from 2.25 s with 0.37 s of
	 * iowait to 2.0 s with 0.05-0.1 s (docs/BENCHMARKS.md). Lowering one's
	 * own priority needs no privilege; failure changes only speed. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), PARSER_NICE);

	for (;;) {
		uint8_t *nl = pos < have ? memchr(in + pos, '\n', have - pos) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - (in + pos));
			lineno++;
			if (len > MAX_LINE)
				too_long(&a, lineno);
			else
				one_line(&a, in + pos, len, lineno, pos);
			pos += len + 1;
			if (a.b[a.cur].n == a.batch) {
				size_t done = 0;
				if (!submit(&a, &done))
					goto out;
				release_input(in, mapped, done, &released);
			}
			continue;
		}
		if (eof) {
			if (pos < have) {
				lineno++;
				if (have - pos > MAX_LINE)
					too_long(&a, lineno);
				else
					one_line(&a, in + pos, have - pos, lineno, pos);
			}
			break;
		}
		/* Need more input: keep the partial line, read after it. */
		if (have - pos > MAX_LINE) {
			too_long(&a, lineno + 1);
			skipping = true;
			pos = have;
		}
		memmove(in, in + pos, have - pos);
		have -= pos;
		pos = 0;
		ssize_t got = read(fd, in + have, INBUF - have);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			cli_err("%s: read: %s", file, strerror(errno));
			goto out;
		}
		if (got == 0)
			eof = true;
		have += (size_t)got;
		if (skipping) {
			/* Drop the rest of the over-long line, up to its newline. */
			uint8_t *e = memchr(in, '\n', have);
			if (e) {
				pos = (size_t)(e - in) + 1;
				skipping = false;
				lineno++;
			} else {
				pos = have;
			}
		}
	}
	size_t done;
	if (!submit(&a, &done) || !wait_queued(&a, 0))
		goto out;
	rc = 0;
out:
	if (started) {
		pthread_mutex_lock(&a.mu);
		a.quit = true;
		pthread_cond_broadcast(&a.cv);
		pthread_mutex_unlock(&a.mu);
		pthread_join(a.th, NULL);
	}
	if (rc == 0 && a.fatal)
		rc = 1;
	if (rc == 0) {
		int r = log_checkpoint(a.log, false, NULL);
		if (r < 0) {
			cli_err("checkpoint: %s", st_strerror(r));
			rc = 1;
		}
	}
	if (a.log) {
		fprintf(stderr, "sealtrail: appended %llu events, refused %llu lines\n",
			(unsigned long long)a.appended,
			(unsigned long long)(a.refused_parse + a.refused_log));
		if (rc == 0 && a.refused_parse + a.refused_log)
			rc = 1;
	}
	log_close(a.log);
	if (fd > 0)
		close(fd);
	if (mapped)
		munmap(in, mapped);
	else
		free(in);
	for (int i = 0; i < NSLOT; i++)
		batch_release(&a.b[i]);
	buf_release(&a.out);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	return rc;
}
