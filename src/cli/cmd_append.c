/*
 * cmd_append.c - sealtrail append: NDJSON in, one ack line per durable
 * event out.
 *
 * Each line is validated and compacted by event_parse(); a bad line is
 * reported on stderr with its line number and reason and is skipped, the
 * rest go on. Valid events are appended in batches of --batch (default
 * 1000): one group commit, so one fdatasync, per batch. Once a batch is
 * durable an ack is printed for each of its events:
 *   {"line":L,"seq":S,"leaf_hash":"<base64>"}
 * A checkpoint is issued at least once a second while appending, and at
 * the end. Blank lines are skipped. Exit status 1 if any line was refused.
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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINE (1u << 20)
#define MAX_BATCH 100000u
#define INBUF ((size_t)96 << 20)

struct pending {
	struct log_event *ev;
	uint64_t *line;
	struct log_ack *acks;
	size_t n;
	struct buf arena;            /* compact events of the batch */
	size_t *off;                 /* offsets into arena */
};

struct app {
	struct log *log;
	struct pending p;
	size_t batch;
	uint64_t refused, appended;
	int64_t last_cp;
	struct buf out;
	bool fatal;
};

static bool flush_batch(struct app *a)
{
	struct pending *p = &a->p;
	int r;

	if (p->n == 0)
		return true;
	/* The arena may have moved while growing: fix the event pointers. */
	for (size_t i = 0; i < p->n; i++)
		p->ev[i].compact = p->arena.data + p->off[i];
	r = log_append(a->log, p->ev, p->n, p->acks);
	if (r < 0) {
		cli_err("append failed after line %llu: %s; %zu events in this batch "
			"were not acknowledged", (unsigned long long)p->line[0],
			st_strerror(r), p->n);
		a->fatal = true;
		return false;
	}
	buf_reset(&a->out);
	for (size_t i = 0; i < p->n; i++) {
		char h[BASE64_LEN(HASH_SIZE) + 1];
		if (p->acks[i].result < 0) {
			fprintf(stderr, "line %llu: refused by the log: %s\n",
				(unsigned long long)p->line[i], st_strerror(p->acks[i].result));
			a->refused++;
			continue;
		}
		base64_encode(p->acks[i].leaf, HASH_SIZE, h);
		buf_printf(&a->out, "{\"line\":%llu,\"seq\":%llu,\"leaf_hash\":\"%s\"}\n",
			   (unsigned long long)p->line[i],
			   (unsigned long long)p->acks[i].seq, h);
		a->appended++;
	}
	cli_write(a->out.data, a->out.len);
	fflush(stdout);
	p->n = 0;
	buf_reset(&p->arena);
	int64_t now = now_monotonic_ns();
	if (now - a->last_cp >= 1000000000) {
		a->last_cp = now;
		if ((r = log_checkpoint(a->log, false, NULL)) < 0) {
			cli_err("checkpoint: %s", st_strerror(r));
			a->fatal = true;
			return false;
		}
	}
	return true;
}

static bool blank(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void one_line(struct app *a, const uint8_t *s, size_t n, uint64_t lineno)
{
	struct pending *p = &a->p;
	struct event_error ee;
	struct event_info info;
	char msg[512];
	size_t start = p->arena.len;
	int r;

	if (n && s[n - 1] == '\r')
		n--;
	if (blank(s, n))
		return;
	r = event_parse(s, n, log_limits(a->log), &p->arena, &info, &ee);
	if (r < 0) {
		event_error_format(&ee, msg, sizeof(msg));
		fprintf(stderr, "line %llu: %s\n", (unsigned long long)lineno, msg);
		a->refused++;
		return;
	}
	p->ev[p->n].len = p->arena.len - start;
	p->ev[p->n].info = info;
	p->off[p->n] = start;
	p->line[p->n] = lineno;
	p->n++;
}

int cmd_append(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct app a;
	const char *dir = NULL, *file = "-";
	uint64_t batch = 1000, lineno = 0;
	uint8_t *in = NULL;
	size_t have = 0, pos = 0, mapped = 0;
	bool skipping = false, eof = false;
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
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind + 1 < argc) {
		cli_err("usage: sealtrail append --data DIR [--batch N] [FILE|-]");
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
	if (!(a.log = cli_open(dir)))
		goto out;
	a.batch = (size_t)batch;
	a.last_cp = now_monotonic_ns();
	a.p.ev = calloc(a.batch, sizeof(*a.p.ev));
	a.p.line = calloc(a.batch, sizeof(*a.p.line));
	a.p.acks = calloc(a.batch, sizeof(*a.p.acks));
	a.p.off = calloc(a.batch, sizeof(*a.p.off));
	buf_init(&a.p.arena, a.batch * (MAX_LINE + 1));
	buf_init(&a.out, (size_t)1 << 30);
	/* A regular file is mapped whole: no copy, and event_info slices stay
	 * valid for the whole run. Pipes are read into one large buffer. */
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
	if (!in)
		in = malloc(INBUF);
	if (!a.p.ev || !a.p.line || !a.p.acks || !a.p.off || !in) {
		cli_err("out of memory");
		goto out;
	}
	/* Lines are parsed in place from one large buffer; event_info slices
	 * point into it, so a pending batch is flushed before the buffer is
	 * compacted and refilled. */
	for (;;) {
		uint8_t *nl = pos < have ? memchr(in + pos, '\n', have - pos) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - (in + pos));
			lineno++;
			if (skipping) {
				skipping = false;
			} else if (len > MAX_LINE) {
				fprintf(stderr, "line %llu: byte %u: line is longer than the "
					"%u-byte limit\n", (unsigned long long)lineno,
					MAX_LINE, MAX_LINE);
				a.refused++;
			} else {
				one_line(&a, in + pos, len, lineno);
				if (a.p.n == a.batch && !flush_batch(&a))
					goto out;
			}
			pos += len + 1;
			continue;
		}
		if (eof) {
			if (pos < have && !skipping) {
				lineno++;
				if (have - pos > MAX_LINE) {
					fprintf(stderr, "line %llu: line is longer than the "
						"%u-byte limit\n", (unsigned long long)lineno, MAX_LINE);
					a.refused++;
				} else {
					one_line(&a, in + pos, have - pos, lineno);
				}
			}
			break;
		}
		/* Need more input. */
		if (!flush_batch(&a))
			goto out;
		if (have - pos > MAX_LINE) {
			/* An over-long line: report it once, drop what we have of it. */
			fprintf(stderr, "line %llu: line is longer than the %u-byte limit\n",
				(unsigned long long)lineno + 1, MAX_LINE);
			a.refused++;
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
	if (!flush_batch(&a))
		goto out;
	{
		int r = log_checkpoint(a.log, false, NULL);
		if (r < 0) {
			cli_err("checkpoint: %s", st_strerror(r));
			goto out;
		}
	}
	rc = a.refused ? 1 : 0;
	fprintf(stderr, "sealtrail: appended %llu events, refused %llu lines\n",
		(unsigned long long)a.appended, (unsigned long long)a.refused);
out:
	if (a.fatal)
		rc = 1;
	log_close(a.log);
	if (fd > 0)
		close(fd);
	if (mapped)
		munmap(in, mapped);
	else
		free(in);
	free(a.p.ev);
	free(a.p.line);
	free(a.p.acks);
	free(a.p.off);
	buf_release(&a.p.arena);
	buf_release(&a.out);
	return rc;
}
