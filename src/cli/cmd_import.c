/*
 * cmd_import.c - `sealtrail import`: audit records from files, through a
 * running server (docs/IMPORT.md).
 *
 *   sealtrail import --url URL --format ndjson|k8s [--state FILE]
 *                    [--batch N] [--retries N] [--token-file F] [--cacert F] FILE...
 *
 * Each file (gzip or plain: zlib reads both) is read line by line, each
 * line mapped to events, and the events sent in NDJSON batches to
 * POST /v1/events, so the policy, the schemas and the audit trail apply as
 * to any producer. Resumable, never duplicating:
 *   - every event has a stable id (the format's own: k8s-<auditID>-<stage>;
 *     an NDJSON line without one gets imp-<hash of the line>), so sending
 *     an event again is a duplicate the log answers as such, never a copy;
 *   - the state file records, per file (path, device, inode and a hash of
 *     its first 4 KiB, so a rotated or replaced file starts over), the
 *     byte offset up to which every line's events were acknowledged. It
 *     is rewritten (atomically) after each acknowledged batch, so a run
 *     cut off anywhere resumes at the first unacknowledged line, and a
 *     file that grew is read from where the last run stopped.
 * A line is imported only once it ends in a newline (a log being written
 * may hold half a line), except at the end of a gzip file, which is whole.
 *
 * Exit status: 0 every event is in the log; 1 some were refused (each
 * named by FILE:LINE on stderr) or a file could not be finished (its
 * progress is kept); 2 usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/util.h"
#include "event/event.h"
#include "ingest/k8s.h"
#include "policy/jdoc.h"

#define BATCH_DEFAULT 1000
#define BATCH_MAX 10000
#define LINE_MAX_BYTES (4u << 20)     /* one input line (a k8s Event with its objects) */
#define STATE_MAX (16u << 20)
#define HEAD_BYTES 4096

enum format { F_NDJSON, F_K8S };

static const char usage_text[] =
	"usage: sealtrail import --url URL --format ndjson|k8s [--state FILE] [--batch N]\n"
	"                        [--retries N] [--token-file F] [--cacert F] FILE...\n"
	"Sends the audit records of each FILE (plain or gzip) to the server as events, resumably:\n"
	"the state file (default .sealtrail-import.state) says how far each file got.\n";

/* One file's line in the state file. */
struct fstate {
	char *path;
	uint64_t dev, ino, offset, lines;
	uint64_t head_len;           /* bytes hashed: min(HEAD_BYTES, offset) when saved */
	char head[2 * HASH_SIZE + 1];
};

struct imp {
	enum format fmt;
	const char *state_path;
	size_t batch_max;
	unsigned retries;
	struct cli_http h;
	struct buf tok;
	struct event_limits lim;
	struct fstate *st;
	size_t nst;
	/* the batch being built */
	struct buf batch, scratch, mapped, resp;
	uint64_t *lines;             /* the input line of each event in the batch */
	size_t nbatch;
	/* totals */
	uint64_t sent, dup, refused;
};

/* ---- the state file: "v2 DEV INO OFFSET LINES HEADLEN HEADHASH PATH\n" a line ---- */

static int state_load(struct imp *im)
{
	struct buf b = BUF_INIT(STATE_MAX);
	int r = read_file(im->state_path, STATE_MAX, &b);
	if (r == -ENOENT) {
		buf_release(&b);
		return 0;
	}
	if (r < 0) {
		cli_err("%s: %s", im->state_path, st_strerror(r));
		buf_release(&b);
		return r;
	}
	size_t line = 0;
	for (size_t at = 0; at < b.len;) {
		const uint8_t *nl = memchr(b.data + at, '\n', b.len - at);
		size_t e = nl ? (size_t)(nl - b.data) : b.len;
		char rec[PATH_MAX + 200], head[2 * HASH_SIZE + 1];
		unsigned long long dev, ino, off, lines, hl;
		int pos = 0;
		line++;
		snprintf(rec, sizeof(rec), "%.*s", (int)(e - at), (const char *)b.data + at);
		at = e + 1;
		if (!rec[0])
			continue;
		if (sscanf(rec, "v2 %llu %llu %llu %llu %llu %64s %n", &dev, &ino, &off, &lines, &hl, head, &pos) != 6 ||
		    !pos || !rec[pos] || strlen(head) != 2 * HASH_SIZE || hl > HEAD_BYTES) {
			cli_err("%s:%zu: not a state line (v2 DEV INO OFFSET LINES HEADLEN HEAD PATH); remove the file to start over",
				im->state_path, line);
			buf_release(&b);
			return ST_EINVAL;
		}
		struct fstate *nv = realloc(im->st, (im->nst + 1) * sizeof(*nv));
		if (!nv || !(nv[im->nst].path = strdup(rec + pos))) {
			if (nv)
				im->st = nv;
			buf_release(&b);
			return -ENOMEM;
		}
		im->st = nv;
		nv[im->nst].dev = dev;
		nv[im->nst].ino = ino;
		nv[im->nst].offset = off;
		nv[im->nst].lines = lines;
		nv[im->nst].head_len = hl;
		memcpy(nv[im->nst].head, head, sizeof(head));
		im->nst++;
	}
	buf_release(&b);
	return 0;
}

static int state_save(struct imp *im)
{
	struct buf b = BUF_INIT(STATE_MAX);
	int r = 0;
	for (size_t i = 0; i < im->nst && r == 0; i++)
		r = buf_printf(&b, "v2 %llu %llu %llu %llu %llu %s %s\n", (unsigned long long)im->st[i].dev,
			       (unsigned long long)im->st[i].ino, (unsigned long long)im->st[i].offset,
			       (unsigned long long)im->st[i].lines, (unsigned long long)im->st[i].head_len,
			       im->st[i].head, im->st[i].path);
	if (r == 0)
		r = write_file_atomic(im->state_path, b.data, b.len, 0600);
	if (r < 0)
		cli_err("%s: the progress could not be saved: %s", im->state_path, st_strerror(r));
	buf_release(&b);
	return r;
}

static void head_hash(const uint8_t *head, size_t n, char out[2 * HASH_SIZE + 1])
{
	uint8_t h[HASH_SIZE];
	sha256(head, n, h);
	hex_encode(h, HASH_SIZE, out);
}

/* The state of path (head[0..hn): its first bytes), made when missing. A
 * file that is not the one the state knew (other device or inode, or its
 * first head_len bytes differ: replaced or rotated) starts over. */
static struct fstate *state_of(struct imp *im, const char *path, const struct stat *sb,
			       const uint8_t *head, size_t hn)
{
	char hx[2 * HASH_SIZE + 1];
	for (size_t i = 0; i < im->nst; i++) {
		struct fstate *f = &im->st[i];
		if (strcmp(f->path, path))
			continue;
		head_hash(head, f->head_len <= hn ? f->head_len : hn, hx);
		if (f->dev != (uint64_t)sb->st_dev || f->ino != (uint64_t)sb->st_ino || f->head_len > hn ||
		    strcmp(f->head, hx)) {
			fprintf(stderr, "sealtrail: %s: not the file imported before (replaced or rotated): from the start\n",
				path);
			f->dev = (uint64_t)sb->st_dev;
			f->ino = (uint64_t)sb->st_ino;
			f->offset = f->lines = f->head_len = 0;
			head_hash(head, 0, f->head);
		}
		return f;
	}
	struct fstate *nv = realloc(im->st, (im->nst + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	im->st = nv;
	struct fstate *f = &nv[im->nst];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return NULL;
	f->dev = (uint64_t)sb->st_dev;
	f->ino = (uint64_t)sb->st_ino;
	head_hash(head, 0, f->head);
	im->nst++;
	return f;
}

/* Records progress: every line before byte pos (line number ln) is in. */
static int state_advance(struct imp *im, struct fstate *f, uint64_t pos, uint64_t ln, const uint8_t *head,
			 size_t hn)
{
	f->offset = pos;
	f->lines = ln;
	f->head_len = pos < HEAD_BYTES ? pos : HEAD_BYTES;
	if (f->head_len > hn)
		f->head_len = hn;
	head_hash(head, (size_t)f->head_len, f->head);
	return state_save(im);
}

/* ---- sending ---- */

/* Counts the batch's answer: duplicates, and refusals named by line. */
static void tally(struct imp *im, const char *file)
{
	struct jdoc_arena a;
	const struct jdoc_value *root, *res;
	jdoc_arena_init(&a, 64u << 20);
	if (jdoc_parse(&a, (const char *)im->resp.data, im->resp.len, NULL, JDOC_BORROW, &root, NULL) < 0 ||
	    !(res = jdoc_get(root, "results", 7)) || res->type != JDOC_ARRAY) {
		cli_err("%s: the server's answer could not be read; counted as sent", file);
		im->sent += im->nbatch;
		jdoc_arena_release(&a);
		return;
	}
	for (uint32_t i = 0; i < res->len; i++) {
		const struct jdoc_value *it = &res->u.items[i], *e = jdoc_get(it, "error", 5), *d;
		uint64_t line = i < im->nbatch ? im->lines[i] : 0;
		if (e) {
			const struct jdoc_value *m = jdoc_get(e, "message", 7);
			im->refused++;
			fprintf(stderr, "sealtrail: %s:%llu: refused: %.*s\n", file, (unsigned long long)line,
				m && m->type == JDOC_STRING ? (int)m->len : 0, m && m->type == JDOC_STRING ? m->u.s : "");
		} else if ((d = jdoc_get(it, "duplicate", 9)) && d->type == JDOC_TRUE) {
			im->dup++;
		} else {
			im->sent++;
		}
	}
	jdoc_arena_release(&a);
}

/* Sends the batch, retrying what the server asks to retry; 0 when it was
 * answered (each event in the log, a duplicate or refused on its own). */
static int send_batch(struct imp *im, const char *file)
{
	long code = 0;
	unsigned delay_ms = 500;
	if (im->nbatch == 0)
		return 0;
	for (unsigned attempt = 0;; attempt++) {
		buf_reset(&im->resp);
		int r = cli_http_send(&im->h, "POST", "v1/events", "application/x-ndjson", im->batch.data,
				      im->batch.len, &im->resp, &code);
		if (r == 0 && (code == 200 || code == 207 || code == 400 || code == 403 || code == 413)) {
			if (code == 200 || code == 207) {
				tally(im, file);
				break;
			}
			/* every event refused: each names its reason */
			if (memmem(im->resp.data, im->resp.len, "\"results\"", 9)) {
				tally(im, file);
				break;
			}
			cli_err("%s: the server refused the batch (%ld): %.*s", file, code, (int)im->resp.len,
				(const char *)im->resp.data);
			return ST_EINVAL;
		}
		bool again = r < 0 || code == 429 || code == 503 || code == 507 || code >= 500;
		if (!again || attempt >= im->retries) {
			if (r == 0)
				cli_err("%s: the server answered %ld: %.*s", file, code, (int)im->resp.len,
					(const char *)im->resp.data);
			return r < 0 ? r : ST_EINVAL;
		}
		/* exponential backoff with jitter, up to 30 s */
		unsigned j = delay_ms / 2 + (unsigned)(rand() % (int)(delay_ms / 2 + 1));
		struct timespec ts = { j / 1000, (long)(j % 1000) * 1000000L };
		fprintf(stderr, "sealtrail: %s: %s; retrying in %u ms\n", file,
			r < 0 ? "the server did not answer" : code == 507 ? "the server's disk is full" : "the server is busy", j);
		nanosleep(&ts, NULL);
		delay_ms = delay_ms < 15000 ? delay_ms * 2 : 30000;
	}
	buf_reset(&im->batch);
	im->nbatch = 0;
	return 0;
}

/* ---- mapping one line ---- */

/* Appends the events of line[0..n) (input line number ln) to the batch;
 * a line that is no event is reported and counted as refused. */
static int map_line(struct imp *im, const char *file, uint64_t ln, const uint8_t *line, size_t n)
{
	struct event_info info;
	struct event_error perr;
	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	if (im->fmt == F_K8S) {
		struct k8s_error ke;
		buf_reset(&im->mapped);
		long k = k8s_map(line, n, &im->lim, &im->mapped, &ke);
		if (k < 0) {
			fprintf(stderr, "sealtrail: %s:%llu: byte %zu: %s\n", file, (unsigned long long)ln, ke.offset, ke.msg);
			im->refused++;
			return 0;
		}
		for (long i = 0; i < k; i++)
			im->lines[im->nbatch + (size_t)i] = ln;
		im->nbatch += (size_t)k;
		return buf_append(&im->batch, im->mapped.data, im->mapped.len);
	}
	/* NDJSON: checked here (so a bad line is named by its line), and
	 * given a stable id when it has none */
	buf_reset(&im->scratch);
	if (event_parse(line, n, &im->lim, &im->scratch, &info, &perr) < 0) {
		fprintf(stderr, "sealtrail: %s:%llu: byte %zu: %s%s%s\n", file, (unsigned long long)ln, perr.offset,
			perr.path[0] ? perr.path : "", perr.path[0] ? ": " : "", perr.msg);
		im->refused++;
		return 0;
	}
	int r;
	if (info.has_id) {
		r = buf_append(&im->batch, im->scratch.data, im->scratch.len);
	} else {
		uint8_t h[HASH_SIZE];
		char hex[33];
		sha256(im->scratch.data, im->scratch.len, h);
		hex_encode(h, 16, hex);
		if ((r = buf_printf(&im->batch, "{\"id\":\"imp-%s\"%s", hex, im->scratch.len > 2 ? "," : "")) == 0)
			r = buf_append(&im->batch, im->scratch.data + 1, im->scratch.len - 1);
	}
	if (r == 0)
		r = buf_putc(&im->batch, '\n');
	im->lines[im->nbatch++] = ln;
	return r;
}

/* ---- one file ---- */

static int import_file(struct imp *im, const char *path)
{
	struct stat sb;
	uint8_t headbuf[HEAD_BYTES];
	gzFile gz = NULL;
	struct buf carry = BUF_INIT(LINE_MAX_BYTES + 65536);
	uint64_t sent0 = im->sent, dup0 = im->dup, ref0 = im->refused;
	int rc = 0;

	if (stat(path, &sb) < 0 || !(gz = gzopen(path, "rb"))) {
		cli_err("%s: %s", path, strerror(errno ? errno : EIO));
		return -EIO;
	}
	gzbuffer(gz, 256 * 1024);
	bool whole = !gzdirect(gz);      /* a gzip file is complete */
	int hn = gzread(gz, headbuf, sizeof(headbuf));
	if (hn < 0) {
		cli_err("%s: %s", path, gzerror(gz, NULL));
		gzclose(gz);
		return -EIO;
	}
	struct fstate *fs = state_of(im, path, &sb, headbuf, (size_t)hn);
	if (!fs) {
		gzclose(gz);
		return -ENOMEM;
	}
	uint64_t start = fs->offset, ln = fs->lines;
	if ((whole ? false : (uint64_t)sb.st_size < start) || gzrewind(gz) < 0 ||
	    (start && gzseek(gz, (z_off_t)start, SEEK_SET) != (z_off_t)start)) {
		cli_err("%s: cannot resume at byte %llu (the file is shorter now): from the start", path,
			(unsigned long long)start);
		gzrewind(gz);
		start = ln = 0;
	}
	uint64_t pos = start, acked = start;
	uint8_t chunk[65536];
	for (;;) {
		int k = gzread(gz, chunk, sizeof(chunk));
		if (k < 0) {
			cli_err("%s: %s", path, gzerror(gz, NULL));
			rc = -EIO;
			break;
		}
		bool eof = k == 0;
		if (buf_append(&carry, chunk, (size_t)k) < 0) {
			cli_err("%s: a line longer than %u bytes at byte %llu", path, LINE_MAX_BYTES,
				(unsigned long long)pos);
			rc = ST_ELIMIT;
			break;
		}
		size_t at = 0;
		while (carry.len > at) {
			const uint8_t *nl = memchr(carry.data + at, '\n', carry.len - at);
			size_t e = nl ? (size_t)(nl - carry.data) : carry.len;
			if (!nl && !(eof && whole && e > at))
				break;
			ln++;
			if ((rc = map_line(im, path, ln, carry.data + at, e - at)) < 0)
				break;
			pos += e - at + (nl ? 1 : 0);
			at = e + (nl ? 1 : 0);
			if (im->nbatch >= im->batch_max) {
				if ((rc = send_batch(im, path)) < 0 ||
				    (rc = state_advance(im, fs, pos, ln, headbuf, (size_t)hn)) < 0)
					break;
				acked = pos;
			}
			if (!nl)
				break;
		}
		if (rc < 0)
			break;
		if (at) {
			memmove(carry.data, carry.data + at, carry.len - at);
			carry.len -= at;
		}
		if (carry.len > LINE_MAX_BYTES) {
			cli_err("%s: a line longer than %u bytes at byte %llu", path, LINE_MAX_BYTES,
				(unsigned long long)pos);
			rc = ST_ELIMIT;
			break;
		}
		if (eof)
			break;
	}
	if (rc == 0 && (rc = send_batch(im, path)) == 0 &&
	    (rc = state_advance(im, fs, pos, ln, headbuf, (size_t)hn)) == 0)
		acked = pos;
	gzclose(gz);
	bool partial = carry.len > 0;
	buf_release(&carry);
	if (partial && rc == 0 && !whole)
		fprintf(stderr, "sealtrail: %s: a last line without a newline is left for the next run\n", path);
	printf("%s: %llu events new, %llu already in the log, %llu refused; bytes %llu..%llu%s\n", path,
	       (unsigned long long)(im->sent - sent0), (unsigned long long)(im->dup - dup0),
	       (unsigned long long)(im->refused - ref0), (unsigned long long)start, (unsigned long long)acked,
	       rc < 0 ? " (stopped: run again to resume)" : "");
	fflush(stdout);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "token-file", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'c' }, { "format", required_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 's' }, { "batch", required_argument, NULL, 'b' },
		{ "retries", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token_file = NULL, *cacert = NULL, *format = NULL;
	struct imp im = { .state_path = ".sealtrail-import.state", .batch_max = BATCH_DEFAULT, .retries = 10 };
	uint64_t v;
	int c, rc = EXIT_USAGE;

	im.tok = (struct buf)BUF_INIT(CLI_TOKEN_MAX);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 't': token_file = optarg; break;
		case 'c': cacert = optarg; break;
		case 'f': format = optarg; break;
		case 's': im.state_path = optarg; break;
		case 'b':
			if (!cli_u64(optarg, "--batch", &v) || v < 1 || v > BATCH_MAX) {
				cli_err("--batch: expected 1..%d", BATCH_MAX);
				return EXIT_USAGE;
			}
			im.batch_max = (size_t)v;
			break;
		case 'r':
			if (!cli_u64(optarg, "--retries", &v) || v > 1000) {
				cli_err("--retries: expected 0..1000");
				return EXIT_USAGE;
			}
			im.retries = (unsigned)v;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (!url || !format || optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(format, "ndjson")) {
		im.fmt = F_NDJSON;
	} else if (!strcmp(format, "k8s")) {
		im.fmt = F_K8S;
	} else {
		cli_err("--format: expected ndjson or k8s, found \"%.40s\"", format);
		return EXIT_USAGE;
	}
	rc = 1;
	event_limits_default(&im.lim);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	im.batch = (struct buf)BUF_INIT((size_t)BATCH_MAX * 70000 + LINE_MAX_BYTES * 8);
	im.scratch = (struct buf)BUF_INIT(im.lim.max_entry);
	im.mapped = (struct buf)BUF_INIT((size_t)LINE_MAX_BYTES * 8);
	im.resp = (struct buf)BUF_INIT(64u << 20);
	/* a k8s line may hold an EventList: room for its events past batch_max */
	if (!(im.lines = calloc(im.batch_max + K8S_ITEMS_MAX, sizeof(*im.lines)))) {
		cli_err("out of memory");
		goto out;
	}
	if (state_load(&im) < 0 || !cli_http_open(&im.h, &im.tok, url, token_file, cacert, "sealtrail-import"))
		goto out;
	int failed = 0;
	for (int i = optind; i < argc; i++)
		if (import_file(&im, argv[i]) < 0)
			failed++;
	printf("total: %llu events new, %llu already in the log, %llu refused\n", (unsigned long long)im.sent,
	       (unsigned long long)im.dup, (unsigned long long)im.refused);
	rc = failed || im.refused ? 1 : 0;
out:
	if (im.h.h)
		cli_http_close(&im.h, &im.tok);
	buf_release(&im.tok);
	buf_release(&im.batch);
	buf_release(&im.scratch);
	buf_release(&im.mapped);
	buf_release(&im.resp);
	for (size_t i = 0; i < im.nst; i++)
		free(im.st[i].path);
	free(im.st);
	free(im.lines);
	return rc;
}
