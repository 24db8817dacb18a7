/*
 * client.c - libsealtrail (include/sealtrail/client.h, docs/CLIENT.md).
 *
 * Two threads besides the callers':
 *   the writer moves emitted events from the memory queue into the spool:
 *     it gives each its producer_seq, producer_id and id, appends a record,
 *     fsyncs (SEALTRAIL_SYNC_BATCH), then publishes the new end;
 *   the sender reads records from the acknowledged position up to that
 *     end, POSTs them as NDJSON, and on the server's answer moves the
 *     acknowledged position (persisted in `acked`) and deletes segments
 *     that are wholly behind it.
 *
 * The spool (a directory, one client at a time: `lock`):
 *   meta       "sealtrail-spool v1\n" "producer_id P\n"
 *   acked      "SEG OFF SEQ\n": every record before (SEG, OFF) is acknowledged;
 *              SEQ the last producer_seq among them (rewritten in place,
 *              padded to ACKED_LEN bytes)
 *   NNNN.seg   records: u32 LE payload length, u32 LE CRC-32 (zlib) of the
 *              payload, u64 LE producer_seq (0: a heartbeat), the payload
 *              (one event, JSON, no newline). A segment ends at SEG_MAX.
 *
 * Invariants:
 *   1. A record is sent only after it is wholly written (and fsync'd under
 *      SYNC_BATCH): the writer publishes (wseg, woff) after the write.
 *   2. `acked` only moves forward, and only over records the server
 *      answered for (stored, duplicate, or refused on their own merits).
 *   3. After a crash, a record cut short (or whose CRC fails) at the end of
 *      the last segment is a torn append and is cut off; anywhere else the
 *      open fails naming the segment and offset.
 *   4. A write error in the spool (ENOSPC, EIO) is not the end: the
 *      segment is cut back to the end of the last whole record, which is
 *      synced and published (so a disk that fills mid-batch holds what
 *      fits; if that sync fails too, back to the published end), the
 *      rest of the batch goes back to the front of the memory queue, and
 *      the writer tries again every second; emit meanwhile fills the memory queue and then does what
 *      on_full says. Nothing half-written is ever sent. Only a spool that
 *      cannot be read back (or memory for the sender) is fatal (dead):
 *      emit then refuses with -EIO.
 *   5. Producer seqs are dense over the spool: the writer assigns them in
 *      record order, starting after the highest one the spool ever held.
 */
#include "sealtrail/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define API __attribute__((visibility("default")))

#define EVENT_MAX (1u << 20)        /* one event as emitted */
#define SEG_MAX (16u << 20)         /* a segment's size before the next */
#define HDR 16                      /* record header */
#define ACKED_LEN 64
#define PID_MAX 64
#define INJECT_MAX 200              /* what the writer adds to an event */

/* ---- small helpers --------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_reserve(struct sbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int sb_add(struct sbuf *b, const void *p, size_t n)
{
	int r = n ? sb_reserve(b, n) : 0;
	if (r == 0 && n) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
	return r;
}

static int sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_reserve(b, (size_t)n + 1) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A short write goes on; the next one says why it stopped (ENOSPC). */
static int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = pwrite(fd, b, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		b += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

static int pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = pread(fd, b, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ENODATA;
		b += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

static void fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t cap, const char *fmt, ...)
{
	if (!err || !cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- the client ------------------------------------------------------------- */

struct sealtrail_client {
	struct sealtrail_options o;
	char *url, *token, *cacert, *dir;
	char pid[PID_MAX + 1];
	int lock_fd, seg_fd, acked_fd;

	pthread_mutex_t mu;
	pthread_cond_t cv_writer;        /* the queue has work, or stop */
	pthread_cond_t cv_room;          /* room in queue or spool, or done moved */
	pthread_cond_t cv_sender;        /* new records, or stop */
	pthread_t writer, sender;
	bool stopping, writer_done, started_w, started_s;

	/* the memory queue: u32 len, u8 crit, bytes */
	struct sbuf q;
	size_t q_events;
	bool flush_now;

	/* the spool, under mu */
	uint64_t wseg, woff;             /* the published end (invariant 1) */
	uint64_t aseg, aoff, aseq;       /* acknowledged up to here */
	uint64_t next_seq;               /* the writer's next producer_seq */
	uint64_t spool_bytes;            /* from (aseg, aoff) to (wseg, woff) */
	int spool_error;                 /* the last write error, 0 once a write succeeds */
	bool dead;                       /* a fatal error: nothing more is taken */
	uint64_t fd_seg;                 /* the segment seg_fd is open on */

	/* fates, for flush: events emitted, and those settled for good */
	uint64_t emitted, settled;
	struct sealtrail_stats st;
	int64_t last_hb_ms;
};

static bool valid_pid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-'))
			return false;
	return true;
}

static int path_of(const struct sealtrail_client *c, char *out, size_t cap, const char *name)
{
	return snprintf(out, cap, "%s/%s", c->dir, name) >= (int)cap ? -ENAMETOOLONG : 0;
}

static int seg_path(const struct sealtrail_client *c, char *out, size_t cap, uint64_t seg)
{
	char name[32];
	snprintf(name, sizeof(name), "%020" PRIu64 ".seg", seg);
	return path_of(c, out, cap, name);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* meta: made once with a random producer id, or read back. */
static int meta_open(struct sealtrail_client *c, char *err, size_t cap)
{
	char path[4096], tmp[4200], buf[256];
	int r;
	if ((r = path_of(c, path, sizeof(path), "meta")) < 0)
		return r;
	FILE *f = fopen(path, "re");
	if (f) {
		char id[PID_MAX + 2] = "";
		bool ok = fgets(buf, sizeof(buf), f) && !strcmp(buf, "sealtrail-spool v1\n") &&
			  fgets(buf, sizeof(buf), f) && sscanf(buf, "producer_id %65s", id) == 1 && valid_pid(id);
		fclose(f);
		if (!ok) {
			fail(err, cap, "%s: not a sealtrail spool's meta file", path);
			return -EINVAL;
		}
		if (c->o.producer_id && strcmp(c->o.producer_id, id)) {
			fail(err, cap, "%s: this spool belongs to producer_id %s, not %s", path, id, c->o.producer_id);
			return -EINVAL;
		}
		snprintf(c->pid, sizeof(c->pid), "%s", id);
		return 0;
	}
	if (errno != ENOENT) {
		fail(err, cap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (c->o.producer_id) {
		snprintf(c->pid, sizeof(c->pid), "%s", c->o.producer_id);
	} else {
		uint8_t rnd[8];
		char host[40] = "";
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		gethostname(host, sizeof(host) - 1);
		for (char *h = host; *h; h++)
			if (!(isalnum((unsigned char)*h) || *h == '-' || *h == '.'))
				*h = '-';
		snprintf(c->pid, sizeof(c->pid), "%.40s-%02x%02x%02x%02x%02x%02x%02x%02x", host[0] ? host : "p",
			 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int n = snprintf(buf, sizeof(buf), "sealtrail-spool v1\nproducer_id %s\n", c->pid);
	r = write_all(fd, buf, (size_t)n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_dir(c->dir);
	if (r < 0)
		fail(err, cap, "%s: %s", path, strerror(-r));
	return r;
}

static int acked_write(struct sealtrail_client *c, uint64_t seg, uint64_t off, uint64_t seq)
{
	char line[ACKED_LEN + 1];
	memset(line, ' ', ACKED_LEN);
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %" PRIu64, seg, off, seq);
	line[n] = ' ';
	line[ACKED_LEN - 1] = '\n';
	if (pwrite(c->acked_fd, line, ACKED_LEN, 0) != ACKED_LEN)
		return errno ? -errno : -EIO;
	if (c->o.sync == SEALTRAIL_SYNC_BATCH && fdatasync(c->acked_fd) < 0)
		return -errno;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segments present, sorted. */
static int list_segments(struct sealtrail_client *c, uint64_t **ret, size_t *ret_n)
{
	DIR *d = opendir(c->dir);
	uint64_t *v = NULL;
	size_t n = 0;
	struct dirent *e;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg"))
			continue;
		unsigned long long s = strtoull(e->d_name, &end, 10);
		if (end != e->d_name + 20)
			continue;
		uint64_t *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = s;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Recovery (invariants 3 and 5): scans every segment from the
 * acknowledged one, cuts a torn tail of the last, finds the highest seq
 * and the bytes not acknowledged; opens the last segment for appending. */
static int spool_open(struct sealtrail_client *c, char *err, size_t cap)
{
	char path[4096], line[ACKED_LEN + 1] = "";
	uint64_t *segs = NULL;
	size_t nsegs = 0;
	int r;

	if ((r = path_of(c, path, sizeof(path), "acked")) < 0)
		return r;
	c->acked_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->acked_fd < 0) {
		fail(err, cap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	ssize_t k = pread(c->acked_fd, line, ACKED_LEN, 0);
	if (k > 0) {
		unsigned long long s, o, q;
		line[k] = 0;
		if (sscanf(line, "%llu %llu %llu", &s, &o, &q) != 3) {
			fail(err, cap, "%s: not a position (SEG OFF SEQ)", path);
			return -EINVAL;
		}
		c->aseg = s;
		c->aoff = o;
		c->aseq = q;
	}
	if ((r = list_segments(c, &segs, &nsegs)) < 0) {
		fail(err, cap, "%s: %s", c->dir, strerror(-r));
		return r;
	}
	uint64_t last_seq = c->aseq, bytes = 0, pending = 0;
	uint8_t hdr[HDR];
	char *payload = malloc(EVENT_MAX + INJECT_MAX);
	if (!payload) {
		free(segs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nsegs && r == 0; i++) {
		if (segs[i] < c->aseg) {
			/* wholly acknowledged: what a crash left before deleting it */
			if (seg_path(c, path, sizeof(path), segs[i]) == 0)
				unlink(path);
			continue;
		}
		if ((r = seg_path(c, path, sizeof(path), segs[i])) < 0)
			break;
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			fail(err, cap, "%s: %s", path, strerror(errno));
			break;
		}
		struct stat sb;
		fstat(fd, &sb);
		uint64_t off = 0, size = (uint64_t)sb.st_size;
		bool last = i + 1 == nsegs;
		while (off < size) {
			bool bad = size - off < HDR || pread_all(fd, hdr, HDR, (off_t)off) < 0;
			uint32_t len = bad ? 0 : get32(hdr);
			bad = bad || len > EVENT_MAX + INJECT_MAX || size - off - HDR < len ||
			      pread_all(fd, payload, len, (off_t)(off + HDR)) < 0 ||
			      (uint32_t)crc32(0, (const Bytef *)payload, len) != get32(hdr + 4);
			if (bad) {
				if (last) {
					/* invariant 3: a torn append */
					if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0)
						r = -errno;
					size = off;
					break;
				}
				fail(err, cap, "%s: damaged record at byte %" PRIu64 " (not the last segment)", path, off);
				r = -EIO;
				break;
			}
			uint64_t seq = get64(hdr + 8);
			if (seq > last_seq)
				last_seq = seq;
			if (segs[i] > c->aseg || off >= c->aoff) {
				bytes += HDR + len;
				pending += seq != 0;
			}
			off += HDR + len;
		}
		if (last && r == 0) {
			c->wseg = segs[i];
			c->woff = size;
			c->seg_fd = fd;
			c->fd_seg = segs[i];
		} else {
			close(fd);
		}
	}
	free(payload);
	free(segs);
	if (r < 0)
		return r;
	if (c->seg_fd < 0) {
		/* an empty spool: the first segment */
		c->wseg = c->aseg;
		c->woff = 0;
		if ((r = seg_path(c, path, sizeof(path), c->wseg)) < 0)
			return r;
		c->seg_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		c->fd_seg = c->wseg;
		if (c->seg_fd < 0 || fsync_dir(c->dir) < 0) {
			fail(err, cap, "%s: %s", path, strerror(errno));
			return -errno;
		}
		if (c->aoff) {   /* acked points past an empty segment: start it over */
			c->aoff = 0;
			if ((r = acked_write(c, c->aseg, 0, c->aseq)) < 0)
				return r;
		}
	}
	c->next_seq = last_seq + 1;
	c->spool_bytes = bytes;
	/* an earlier run's events still to send count for flush like new ones */
	c->emitted = pending;
	c->st.last_seq = last_seq;
	return 0;
}

/* ---- the writer -------------------------------------------------------------- */

/* Skips one JSON value at p[i..n) (structure only: strings with escapes,
 * brackets); returns the index after it, or 0 when it is cut short. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
	int depth = 0;
	bool str = false;
	for (; i < n; i++) {
		char ch = p[i];
		if (str) {
			if (ch == '\\')
				i++;
			else if (ch == '"') {
				str = false;
				if (depth == 0)
					return i + 1;
			}
			continue;
		}
		if (ch == '"')
			str = true;
		else if (ch == '{' || ch == '[')
			depth++;
		else if (ch == '}' || ch == ']') {
			if (--depth == 0)
				return i + 1;
			if (depth < 0)
				return 0;
		} else if (depth == 0 && (ch == ',' || ch == '}' || ch == ']'))
			return i;
	}
	return depth == 0 && !str ? i : 0;
}

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* The members of the object at p[0..n) that the writer cares about: a
 * top-level "id"; "source" (the index just after its '{', and whether it
 * already has producer members). -1 when it is not an object. */
struct shape {
	bool has_id, has_source, source_empty, source_taken;
	size_t source_in;                /* after the source object's '{' */
	size_t open;                     /* after the root '{' */
	bool empty;
};

static bool key_is(const char *p, size_t k, size_t e, const char *lit)
{
	size_t n = strlen(lit);
	return e - k == n + 2 && !memcmp(p + k + 1, lit, n);
}

static int shape_of(const char *p, size_t n, struct shape *s)
{
	memset(s, 0, sizeof(*s));
	size_t i = skip_ws(p, 0, n);
	if (i >= n || p[i] != '{')
		return -1;
	s->open = i + 1;
	i = skip_ws(p, i + 1, n);
	if (i < n && p[i] == '}') {
		s->empty = true;
		return skip_ws(p, i + 1, n) == n ? 0 : -1;
	}
	for (;;) {
		if (i >= n || p[i] != '"')
			return -1;
		size_t k = i, e = skip_value(p, i, n);
		if (!e)
			return -1;
		i = skip_ws(p, e, n);
		if (i >= n || p[i] != ':')
			return -1;
		i = skip_ws(p, i + 1, n);
		size_t v = i, ve = skip_value(p, i, n);
		if (!ve)
			return -1;
		if (key_is(p, k, e, "id"))
			s->has_id = true;
		else if (key_is(p, k, e, "source") && p[v] == '{') {
			s->has_source = true;
			s->source_in = v + 1;
			size_t j = skip_ws(p, v + 1, n);
			s->source_empty = p[j] == '}';
			/* its members, one level down */
			while (!s->source_empty && j < ve && p[j] == '"') {
				size_t kk = j, ke = skip_value(p, j, ve);
				if (!ke)
					return -1;
				if (key_is(p, kk, ke, "producer_seq") || key_is(p, kk, ke, "producer_id"))
					s->source_taken = true;
				j = skip_ws(p, ke, ve);
				if (j >= ve || p[j] != ':')
					return -1;
				j = skip_value(p, skip_ws(p, j + 1, ve), ve);
				if (!j)
					return -1;
				j = skip_ws(p, j, ve);
				if (j < ve && p[j] == ',')
					j = skip_ws(p, j + 1, ve);
				else
					break;
			}
		}
		i = skip_ws(p, ve, n);
		if (i < n && p[i] == ',') {
			i = skip_ws(p, i + 1, n);
			continue;
		}
		if (i < n && p[i] == '}')
			return skip_ws(p, i + 1, n) == n ? 0 : -1;
		return -1;
	}
}

/* The event with its producer members, into out. */
static int compose(const struct sealtrail_client *c, const char *p, size_t n, uint64_t seq, struct sbuf *out)
{
	struct shape s;
	char src[160];
	int r;
	if (shape_of(p, n, &s) < 0 || s.source_taken)
		return -EINVAL;
	int sl = snprintf(src, sizeof(src), "\"producer_id\":\"%s\",\"producer_seq\":%" PRIu64, c->pid, seq);
	if ((r = sb_add(out, "{", 1)) < 0)
		return r;
	if (!s.has_id && (r = sb_printf(out, "\"id\":\"%s-%" PRIu64 "\"%s", c->pid, seq, s.empty && !s.has_source ? "" : ",")) < 0)
		return r;
	if (!s.has_source) {
		if ((r = sb_printf(out, "\"source\":{%s}%s", src, s.empty ? "" : ",")) < 0)
			return r;
		return s.empty ? sb_add(out, "}", 1) : sb_add(out, p + s.open, n - s.open);
	}
	/* inside the producer's own source object */
	if ((r = sb_add(out, p + s.open, s.source_in - s.open)) < 0 || (r = sb_add(out, src, (size_t)sl)) < 0 ||
	    (!s.source_empty && (r = sb_add(out, ",", 1)) < 0))
		return r;
	return sb_add(out, p + s.source_in, n - s.source_in);
}

/* Appends one record to the open segment (moving to the next when full).
 * *seg and *off move only when the record is whole on disk: after a
 * failure they are the end of the last whole record, where spool_rewind
 * cuts back to (c->fd_seg says whether a new segment was begun).
 * mu not held: only the writer writes; the end is published after. */
static int append_record(struct sealtrail_client *c, const char *payload, size_t len, uint64_t seq,
			 uint64_t *seg, uint64_t *off)
{
	uint8_t hdr[HDR];
	uint64_t s = *seg, o = *off;
	int r;
	if (o > 0 && o + HDR + len > SEG_MAX) {
		char path[4096];
		if (c->o.sync == SEALTRAIL_SYNC_BATCH && fsync(c->seg_fd) < 0)
			return -errno;
		if ((r = seg_path(c, path, sizeof(path), s + 1)) < 0)
			return r;
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if ((r = fsync_dir(c->dir)) < 0) {
			close(fd);
			return r;
		}
		close(c->seg_fd);
		c->seg_fd = fd;
		c->fd_seg = ++s;
		o = 0;
	}
	put32(hdr, (uint32_t)len);
	put32(hdr + 4, (uint32_t)crc32(0, (const Bytef *)payload, (uInt)len));
	put64(hdr + 8, seq);
	if ((r = pwrite_all(c->seg_fd, hdr, HDR, (off_t)o)) < 0 ||
	    (r = pwrite_all(c->seg_fd, payload, len, (off_t)(o + HDR))) < 0)
		return r;
	*seg = s;
	*off = o + HDR + len;
	return 0;
}

static void heartbeat(struct sealtrail_client *c, uint64_t last_seq, uint64_t dropped, struct sbuf *out)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + k, sizeof(t) - k, ".%06ldZ", ts.tv_nsec / 1000);
	sb_printf(out, "{\"id\":\"%s-hb-%lld%09ld\",\"time\":\"%s\",\"action\":\"sealtrail.heartbeat\","
		       "\"actor\":{\"id\":\"%s\",\"type\":\"producer\"},\"resource\":{\"type\":\"producer\",\"id\":\"%s\"},"
		       "\"source\":{\"producer_id\":\"%s\",\"producer_seq\":%" PRIu64 "},"
		       "\"metadata\":{\"dropped_since_start\":%" PRIu64 "}}",
		  c->pid, (long long)ts.tv_sec, ts.tv_nsec, t, c->pid, c->pid, c->pid, last_seq, dropped);
}

/* After a failed write: cut the open segment back to (seg, off), the end
 * of the last whole record (a segment begun after it is removed), so that
 * a retry, or a restart, finds nothing beyond it. Returns 0, or the error
 * that makes the spool unusable (then dead). mu not held. */
static int spool_rewind(struct sealtrail_client *c, uint64_t seg, uint64_t off)
{
	char path[4096];
	if (c->fd_seg != seg) {
		if (seg_path(c, path, sizeof(path), c->fd_seg) == 0)
			unlink(path);
		close(c->seg_fd);
		c->seg_fd = -1;
		if (seg_path(c, path, sizeof(path), seg) == 0)
			c->seg_fd = open(path, O_RDWR | O_CLOEXEC);
		c->fd_seg = seg;
	}
	if (c->seg_fd < 0 || ftruncate(c->seg_fd, (off_t)off) < 0) {
		int r = c->seg_fd < 0 ? -EIO : -errno;
		pthread_mutex_lock(&c->mu);
		c->dead = true;
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct sealtrail_client *c = arg;
	struct sbuf batch = { 0 }, one = { 0 };
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->spool_error && !c->stopping) {
			/* invariant 4: the last write failed; try again in a second */
			struct timespec ts;
			deadline_in(&ts, 1000);
			while (!c->stopping && pthread_cond_timedwait(&c->cv_writer, &c->mu, &ts) != ETIMEDOUT)
				;
		}
		while (!c->stopping && !c->flush_now && c->q_events < c->o.batch_max_events &&
		       !(c->o.heartbeat_interval_ms && mono_ms() - c->last_hb_ms >= c->o.heartbeat_interval_ms)) {
			struct timespec ts;
			deadline_in(&ts, c->q_events ? c->o.flush_interval_ms : 200);
			if (pthread_cond_timedwait(&c->cv_writer, &c->mu, &ts) == ETIMEDOUT && c->q_events)
				break;
		}
		bool stop = c->stopping;
		bool hb = c->o.heartbeat_interval_ms && (stop || mono_ms() - c->last_hb_ms >= c->o.heartbeat_interval_ms);
		/* take the whole queue */
		struct sbuf q = c->q;
		size_t nq = c->q_events;
		c->q = batch;
		c->q.len = 0;
		c->q_events = 0;
		c->flush_now = false;
		uint64_t seg = c->wseg, off = c->woff, seq = c->next_seq, dropped = c->st.dropped;
		bool dead = c->dead;
		int err = dead ? -EIO : 0;
		pthread_cond_broadcast(&c->cv_room);
		pthread_mutex_unlock(&c->mu);

		/* what is whole on disk so far: a failure keeps it (below) */
		uint64_t written = 0, refused = 0, bytes = 0, pseg = seg, poff = off;
		size_t at = 0, taken = 0;   /* queue bytes and events consumed */
		while (at < q.len && !err) {
			uint32_t len = get32((const uint8_t *)q.p + at);
			const char *ev = q.p + at + 5;
			one.len = 0;
			if (compose(c, ev, len, seq, &one) < 0) {
				/* not an object, or it sets its own producer members */
				refused++;
				if (c->o.on_refused)
					c->o.on_refused(c->o.arg, 0, "not a JSON object, or it sets source.producer_seq/producer_id");
			} else {
				if ((err = append_record(c, one.p, one.len, seq, &seg, &off)) < 0)
					break;
				bytes += HDR + one.len;
				seq++;
				written++;
			}
			at += 5 + len;
			taken++;
		}
		if (!err && hb && seq > 1) {
			one.len = 0;
			heartbeat(c, seq - 1, dropped, &one);
			if ((err = append_record(c, one.p, one.len, 0, &seg, &off)) == 0)
				bytes += HDR + one.len;
		}
		/* A failure keeps the whole records before it: a disk that
		 * fills mid-batch holds what fits, and a backlog larger than the
		 * room left still uses it. They are published only once synced;
		 * otherwise the batch goes back to the published end, whole. */
		bool keep = !dead;
		if (err && !dead) {
			int r = spool_rewind(c, seg, off);
			if (r < 0) {
				err = r;
				dead = true;
				keep = false;
			}
		}
		if (keep && (written || (hb && !err)) && c->o.sync == SEALTRAIL_SYNC_BATCH && fdatasync(c->seg_fd) < 0) {
			err = -errno;
			keep = false;
			int r = spool_rewind(c, pseg, poff);
			if (r < 0) {
				err = r;
				dead = true;
			}
		}

		pthread_mutex_lock(&c->mu);
		if (keep) {
			c->wseg = seg;
			c->woff = off;
			c->next_seq = seq;
			c->spool_bytes += bytes;
			c->st.spooled += written;
			if (written)
				c->st.last_seq = seq - 1;
			c->st.refused += refused;
			c->settled += refused;
		} else {
			/* nothing of the batch counts: it is taken again whole */
			at = 0;
			taken = 0;
		}
		if (err) {
			/* invariant 4: the published end stays past the last whole
			 * record, and the rest goes back in front of what was
			 * emitted meanwhile */
			size_t rest = nq - taken;
			c->spool_error = -err;
			c->st.spool_error = -err;
			c->st.spool_write_errors++;
			memmove(q.p, q.p + at, q.len - at);
			q.len -= at;
			if (dead || c->dead || (stop && c->stopping) || sb_add(&q, c->q.p, c->q.len) < 0) {
				c->st.lost += rest;
				c->settled += rest;   /* flush must not wait for them */
				batch = q;
			} else {
				batch = c->q;
				c->q = q;
				c->q_events += rest;
			}
			batch.len = 0;
		} else {
			batch = q;
			c->spool_error = 0;
			c->st.spool_error = 0;
			if (hb) {
				c->last_hb_ms = mono_ms();
				if (seq > 1)
					c->st.heartbeats++;
			}
		}
		pthread_cond_broadcast(&c->cv_sender);
		pthread_cond_broadcast(&c->cv_room);
		if (stop && c->q_events == 0)
			break;
	}
	c->writer_done = true;
	pthread_cond_broadcast(&c->cv_sender);
	pthread_mutex_unlock(&c->mu);
	free(batch.p);
	free(c->q.p);
	c->q.p = NULL;
	free(one.p);
	return NULL;
}

/* ---- the sender ----------------------------------------------------------- */

struct req {
	struct sbuf body, resp;
	uint64_t end_seg, end_off, last_seq;   /* where the batch ends */
	uint64_t *seqs;                        /* each line's producer_seq (0: heartbeat) */
	size_t n;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sbuf *b = arg;
	if (b->len + size * n > (64u << 20) || sb_add(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/* Reads records from (seg, off) up to the published end into r, at most
 * the batch limits. mu not held; the end is a snapshot. */
static int read_batch(struct sealtrail_client *c, uint64_t seg, uint64_t off, uint64_t eseg, uint64_t eoff,
		      size_t max_events, struct req *r, char *payload)
{
	char path[4096];
	int fd = -1;
	uint64_t open_seg = UINT64_MAX;
	int rc = 0;
	r->body.len = 0;
	r->n = 0;
	while ((seg < eseg || (seg == eseg && off < eoff)) && r->n < max_events &&
	       r->body.len < c->o.batch_max_bytes) {
		if (open_seg != seg) {
			if (fd >= 0)
				close(fd);
			if ((rc = seg_path(c, path, sizeof(path), seg)) < 0 ||
			    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
				rc = rc < 0 ? rc : -errno;
				break;
			}
			open_seg = seg;
		}
		uint8_t hdr[HDR];
		int k = pread_all(fd, hdr, HDR, (off_t)off);
		if (k == -ENODATA && seg < eseg) {
			seg++;
			off = 0;
			continue;
		}
		if (k < 0) {
			rc = k;
			break;
		}
		uint32_t len = get32(hdr);
		if (len > EVENT_MAX + INJECT_MAX || (rc = pread_all(fd, payload, len, (off_t)(off + HDR))) < 0 ||
		    (uint32_t)crc32(0, (const Bytef *)payload, len) != get32(hdr + 4)) {
			rc = rc < 0 ? rc : -EIO;
			break;
		}
		if ((rc = sb_add(&r->body, payload, len)) < 0 || (rc = sb_add(&r->body, "\n", 1)) < 0)
			break;
		r->seqs[r->n++] = get64(hdr + 8);
		if (get64(hdr + 8))
			r->last_seq = get64(hdr + 8);
		off += HDR + len;
		r->end_seg = seg;
		r->end_off = off;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Counts the server's per-event answers; refusals are reported. The
 * server's results are {"index":I,...} objects in input order. */
/* The string member whose key (with its quotes, colon and opening quote)
 * is key, first in [p, lim), unescaped as far as quotes go, into out.
 * False when there is none. */
static bool str_member(const char *p, const char *lim, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *m = memmem(p, (size_t)(lim - p), key, kl);
	out[0] = 0;
	if (!m)
		return false;
	m += kl;
	size_t k = 0;
	while (m < lim && *m != '"' && k < cap - 1) {
		if (*m == '\\' && m + 1 < lim)
			m++;
		out[k++] = *m++;
	}
	out[k] = 0;
	return true;
}

/* As str_member, for a value that may hold any JSON escape (a proof's
 * newlines): into a growing sbuf, NUL-terminated. */
static bool str_member_sb(const char *p, const char *lim, const char *key, struct sbuf *out)
{
	size_t kl = strlen(key);
	const char *m = memmem(p, (size_t)(lim - p), key, kl);
	out->len = 0;
	if (!m)
		return false;
	for (m += kl; m < lim && *m != '"'; m++) {
		char ch = *m;
		if (ch == '\\' && m + 1 < lim) {
			ch = *++m;
			unsigned cp;
			if (ch == 'u' && lim - m > 4 && sscanf(m + 1, "%4x", &cp) == 1) {
				/* a BMP code point as UTF-8 (the server escapes controls) */
				char u[3];
				size_t k = 0;
				if (cp < 0x80) {
					u[k++] = (char)cp;
				} else if (cp < 0x800) {
					u[k++] = (char)(0xc0 | (cp >> 6));
					u[k++] = (char)(0x80 | (cp & 0x3f));
				} else {
					u[k++] = (char)(0xe0 | (cp >> 12));
					u[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
					u[k++] = (char)(0x80 | (cp & 0x3f));
				}
				if (sb_add(out, u, k) < 0)
					return false;
				m += 4;
				continue;
			}
			ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch == 'b' ? '\b' : ch == 'f' ? '\f' : ch;
		}
		if (sb_add(out, &ch, 1) < 0)
			return false;
	}
	return sb_add(out, "", 1) == 0;
}

static uint64_t u64_member(const char *p, const char *lim, const char *key)
{
	size_t kl = strlen(key);
	const char *m = memmem(p, (size_t)(lim - p), key, kl);
	uint64_t v = 0;
	if (m)
		for (m += kl; m < lim && *m >= '0' && *m <= '9'; m++)
			v = v * 10 + (uint64_t)(*m - '0');
	return v;
}

static void tally(struct sealtrail_client *c, const struct req *r, uint64_t *dup, uint64_t *refused)
{
	struct sbuf proof = { 0 };
	const char *p = r->resp.p, *end = p + r->resp.len;
	for (size_t i = 0; i < r->n; i++) {
		char pat[40];
		snprintf(pat, sizeof(pat), "{\"index\":%zu,", i);
		const char *at = memmem(p, (size_t)(end - p), pat, strlen(pat));
		if (!at)
			break;
		snprintf(pat, sizeof(pat), "{\"index\":%zu,", i + 1);
		const char *next = memmem(at, (size_t)(end - at), pat, strlen(pat));
		const char *lim = next ? next : end;
		const char *e = memmem(at, (size_t)(lim - at), "\"error\":", 8);
		if (e) {
			(*refused)++;
			if (c->o.on_refused) {
				char msg[512] = "", field[200] = "";
				str_member(e, lim, "\"message\":\"", msg, sizeof(msg));
				if (str_member(e, lim, "\"field\":\"", field, sizeof(field))) {
					size_t fl = strlen(field);
					if (fl + 2 < sizeof(field)) {
						snprintf(field + fl, sizeof(field) - fl, ": ");
						fl += 2;
						snprintf(field + fl, sizeof(field) - fl, "%s", msg);
						snprintf(msg, sizeof(msg), "%s", field);
					}
				}
				c->o.on_refused(c->o.arg, r->seqs[i], msg);
			}
		} else {
			bool is_dup = memmem(at, (size_t)(lim - at), "\"duplicate\":true", 16) != NULL;
			*dup += is_dup;
			if (c->o.on_receipt && r->seqs[i]) {
				char leaf[64];
				str_member(at, lim, "\"leaf_hash\":\"", leaf, sizeof(leaf));
				bool has = !is_dup && str_member_sb(at, lim, "\"proof\":\"", &proof);
				c->o.on_receipt(c->o.arg, r->seqs[i], u64_member(at, lim, "\"seq\":"), leaf,
						has ? proof.p : NULL, has ? proof.len - 1 : 0);
			}
		}
		p = at + 1;
	}
	free(proof.p);
}

static void *sender_main(void *arg)
{
	struct sealtrail_client *c = arg;
	struct req r = { 0 };
	char *payload = malloc(EVENT_MAX + INJECT_MAX), urlbuf[4200], auth[4200];
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();
	size_t max_events = c->o.batch_max_events;
	uint32_t backoff = 250;

	r.seqs = calloc(c->o.batch_max_events, sizeof(*r.seqs));
	snprintf(urlbuf, sizeof(urlbuf), "%s/v1/events%s", c->url, c->o.wait_checkpoint ? "?wait=checkpoint" : "");
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-ndjson");
	hdrs = curl_slist_append(hdrs, "Expect:");   /* no 100-continue round trip before each batch */
	explicit_bzero(auth, sizeof(auth));
	if (!payload || !r.seqs || !h || !hdrs) {
		pthread_mutex_lock(&c->mu);
		c->spool_error = ENOMEM;
		c->st.spool_error = ENOMEM;
		c->dead = true;
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, urlbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.resp);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->o.timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "libsealtrail/1");
	if (c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!(c->aseg < c->wseg || (c->aseg == c->wseg && c->aoff < c->woff)) && !c->writer_done)
			pthread_cond_wait(&c->cv_sender, &c->mu);
		if (!(c->aseg < c->wseg || (c->aseg == c->wseg && c->aoff < c->woff)))
			break;   /* the writer stopped and everything is sent */
		uint64_t seg = c->aseg, off = c->aoff, eseg = c->wseg, eoff = c->woff;
		bool stopping = c->stopping;
		pthread_mutex_unlock(&c->mu);

		r.last_seq = 0;
		int rc = read_batch(c, seg, off, eseg, eoff, max_events, &r, payload);
		long code = 0;
		double retry_after = 0;
		if (rc == 0) {
			r.resp.len = 0;
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.p);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r.body.len);
			CURLcode cc = curl_easy_perform(h);
			if (cc == CURLE_OK) {
				curl_off_t ra = 0;
				curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
				if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
					retry_after = (double)ra;
			}
		}
		bool answered = code == 200 || code == 207 ||
				((code == 400 || code == 403 || code == 413 || code == 422) &&
				 memmem(r.resp.p, r.resp.len, "\"results\"", 9));
		/* the callbacks run without the lock: they may call emit */
		uint64_t dup = 0, refused = 0;
		if (rc == 0 && answered)
			tally(c, &r, &dup, &refused);
		pthread_mutex_lock(&c->mu);
		c->st.requests += rc == 0;
		if (rc < 0) {
			/* the spool itself cannot be read back: stop (invariant 4) */
			c->spool_error = -rc;
			c->st.spool_error = -rc;
			c->dead = true;
			c->settled = c->emitted;
			pthread_cond_broadcast(&c->cv_room);
			break;
		}
		if (answered) {
			uint64_t events = 0;
			for (size_t i = 0; i < r.n; i++)
				events += r.seqs[i] != 0;
			c->st.acked += events - dup - refused;
			c->st.duplicates += dup;
			c->st.refused += refused;
			c->settled += events;
			uint64_t gone = 0, prev = c->aseg;
			/* invariant 2 */
			gone = r.end_seg == c->aseg ? r.end_off - c->aoff : 0;
			c->aseg = r.end_seg;
			c->aoff = r.end_off;
			if (r.last_seq > c->aseq)
				c->aseq = r.last_seq;
			int w = acked_write(c, c->aseg, c->aoff, c->aseq);
			(void)gone;
			/* bytes: recomputed from the body (records = lines + headers) */
			uint64_t used = r.body.len - r.n + (uint64_t)r.n * HDR;
			c->spool_bytes = c->spool_bytes > used ? c->spool_bytes - used : 0;
			pthread_cond_broadcast(&c->cv_room);
			pthread_mutex_unlock(&c->mu);
			for (uint64_t s = prev; s < r.end_seg; s++) {
				char path[4096];
				if (seg_path(c, path, sizeof(path), s) == 0)
					unlink(path);
			}
			pthread_mutex_lock(&c->mu);
			if (w < 0 && !c->spool_error) {
				c->spool_error = -w;
				c->st.spool_error = -w;
			}
			backoff = 250;
			max_events = c->o.batch_max_events;
			continue;
		}
		if ((code == 400 || code == 413) && max_events > 1) {
			/* refused whole without per-event results: smaller batches */
			max_events = max_events / 2;
			continue;
		}
		/* 429, 503, 507, 5xx, 401/403 (a token to fix), or no answer:
		 * wait and send the same again (a duplicate if it got in) */
		c->st.retries++;
		uint32_t wait_ms = retry_after > 0 ? (uint32_t)(retry_after * 1000) : backoff;
		if (wait_ms > c->o.retry_max_ms)
			wait_ms = c->o.retry_max_ms;
		wait_ms = wait_ms / 2 + (uint32_t)(random() % (wait_ms / 2 + 1));
		backoff = backoff * 2 > c->o.retry_max_ms ? c->o.retry_max_ms : backoff * 2;
		if (stopping)
			break;   /* free() gave us its grace; what is left stays in the spool */
		struct timespec ts;
		deadline_in(&ts, wait_ms);
		while (!c->stopping && pthread_cond_timedwait(&c->cv_sender, &c->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&c->mu);
out:
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	free(payload);
	free(r.body.p);
	free(r.resp.p);
	free(r.seqs);
	return NULL;
}

/* ---- the API -------------------------------------------------------------- */

API int sealtrail_client_new(const struct sealtrail_options *opts, struct sealtrail_client **ret,
			     char *err, size_t errcap)
{
	struct sealtrail_client *c;
	int r;

	if (!opts || !ret || !opts->url || !opts->token || !opts->spool_dir) {
		fail(err, errcap, "url, token and spool_dir are required");
		return -EINVAL;
	}
	if (strncmp(opts->url, "http://", 7) && strncmp(opts->url, "https://", 8)) {
		fail(err, errcap, "url: expected http:// or https://, found \"%.60s\"", opts->url);
		return -EINVAL;
	}
	if (opts->producer_id && !valid_pid(opts->producer_id)) {
		fail(err, errcap, "producer_id: expected [A-Za-z0-9._:-]{1,64}");
		return -EINVAL;
	}
	if (!opts->batch_max_events || opts->batch_max_events > 10000 || opts->batch_max_bytes < 65536 ||
	    !opts->flush_interval_ms || opts->queue_max_bytes < EVENT_MAX + 16 ||
	    opts->spool_max_bytes < 2 * (uint64_t)EVENT_MAX) {
		fail(err, errcap, "batch_max_events 1..10000, batch_max_bytes >= 64 KiB, flush_interval_ms >= 1, "
			    "queue_max_bytes >= 1 MiB, spool_max_bytes >= 2 MiB");
		return -EINVAL;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->o = *opts;
	c->lock_fd = c->seg_fd = c->acked_fd = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv_writer, &ca);
	pthread_cond_init(&c->cv_room, &ca);
	pthread_cond_init(&c->cv_sender, &ca);
	pthread_condattr_destroy(&ca);
	size_t ul = strlen(opts->url);
	while (ul > 8 && opts->url[ul - 1] == '/')
		ul--;
	c->url = strndup(opts->url, ul);
	c->token = strdup(opts->token);
	c->cacert = opts->cacert ? strdup(opts->cacert) : NULL;
	c->dir = strdup(opts->spool_dir);
	if (!c->url || !c->token || !c->dir || (opts->cacert && !c->cacert)) {
		r = -ENOMEM;
		goto fail;
	}
	c->o.url = c->o.token = c->o.cacert = c->o.spool_dir = c->o.producer_id = NULL;
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		fail(err, errcap, "spool_dir %s: %s", c->dir, strerror(errno));
		goto fail;
	}
	char path[4096];
	if ((r = path_of(c, path, sizeof(path), "lock")) < 0)
		goto fail;
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		fail(err, errcap, "spool_dir %s: %s", c->dir, r == -EBUSY ? "in use by another client" : strerror(-r));
		goto fail;
	}
	c->o.producer_id = opts->producer_id;
	if ((r = meta_open(c, err, errcap)) < 0 || (r = spool_open(c, err, errcap)) < 0)
		goto fail;
	c->o.producer_id = NULL;
	snprintf(c->st.producer_id, sizeof(c->st.producer_id), "%s", c->pid);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		r = -EIO;
		fail(err, errcap, "libcurl could not be initialized");
		goto fail;
	}
	c->last_hb_ms = mono_ms();
	/* what an earlier run left is sent first, and counted for flush */
	if ((r = -pthread_create(&c->writer, NULL, writer_main, c)) < 0)
		goto fail;
	c->started_w = true;
	if ((r = -pthread_create(&c->sender, NULL, sender_main, c)) < 0) {
		fail(err, errcap, "thread: %s", strerror(-r));
		sealtrail_client_free(c);
		return r;
	}
	c->started_s = true;
	*ret = c;
	return 0;
fail:
	if (c->seg_fd >= 0)
		close(c->seg_fd);
	if (c->acked_fd >= 0)
		close(c->acked_fd);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->url);
	free(c->token);
	free(c->cacert);
	free(c->dir);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv_writer);
	pthread_cond_destroy(&c->cv_room);
	pthread_cond_destroy(&c->cv_sender);
	free(c);
	return r;
}

API int sealtrail_emit_crit(struct sealtrail_client *c, const char *json, size_t len, enum sealtrail_crit crit)
{
	if (!c || !json)
		return -EINVAL;
	if (len > EVENT_MAX)
		return -E2BIG;
	size_t i = 0;
	while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r'))
		i++;
	size_t e = len;
	while (e > i && (json[e - 1] == ' ' || json[e - 1] == '\n' || json[e - 1] == '\t' || json[e - 1] == '\r'))
		e--;
	if (e - i < 2 || json[i] != '{' || json[e - 1] != '}')
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->dead || c->stopping) {
			pthread_mutex_unlock(&c->mu);
			return -EIO;
		}
		bool room = c->q.len + 5 + (e - i) <= c->o.queue_max_bytes && c->spool_bytes < c->o.spool_max_bytes;
		if (room)
			break;
		if (c->o.on_full == SEALTRAIL_FULL_FAIL) {
			pthread_mutex_unlock(&c->mu);
			return -ENOSPC;
		}
		if (c->o.on_full == SEALTRAIL_FULL_DROP_LOW && crit < SEALTRAIL_CRIT_CRITICAL) {
			c->st.dropped++;
			pthread_mutex_unlock(&c->mu);
			return -ECANCELED;
		}
		c->flush_now = true;
		pthread_cond_signal(&c->cv_writer);
		pthread_cond_wait(&c->cv_room, &c->mu);
	}
	int r = sb_reserve(&c->q, 5 + (e - i));
	if (r == 0) {
		uint8_t h[5];
		put32(h, (uint32_t)(e - i));
		h[4] = (uint8_t)crit;
		memcpy(c->q.p + c->q.len, h, 5);
		memcpy(c->q.p + c->q.len + 5, json + i, e - i);
		c->q.len += 5 + (e - i);
		c->q_events++;
		c->emitted++;
		c->st.emitted++;
		if (c->q_events >= c->o.batch_max_events)
			pthread_cond_signal(&c->cv_writer);
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

API int sealtrail_emit(struct sealtrail_client *c, const char *json, size_t len)
{
	return sealtrail_emit_crit(c, json, len, SEALTRAIL_CRIT_NORMAL);
}

API int sealtrail_flush(struct sealtrail_client *c, int timeout_ms)
{
	struct timespec ts;
	int r = 0;
	if (!c)
		return -EINVAL;
	deadline_in(&ts, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&c->mu);
	uint64_t target = c->emitted;
	c->flush_now = true;
	pthread_cond_signal(&c->cv_writer);
	while (c->settled + c->st.dropped < target && !c->dead) {
		if (pthread_cond_timedwait(&c->cv_room, &c->mu, &ts) == ETIMEDOUT) {
			/* a failing spool says why nothing moved */
			r = c->spool_error ? -c->spool_error : -ETIMEDOUT;
			break;
		}
	}
	if (c->dead && r == 0)
		r = -EIO;
	pthread_mutex_unlock(&c->mu);
	return r;
}

API void sealtrail_client_stats(struct sealtrail_client *c, struct sealtrail_stats *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	st->spool_bytes = c->spool_bytes;
	pthread_mutex_unlock(&c->mu);
}

API void sealtrail_client_free(struct sealtrail_client *c)
{
	if (!c)
		return;
	if (c->started_w) {
		/* a last heartbeat, then up to 2 s for the sender */
		sealtrail_flush(c, 2000);
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		pthread_cond_broadcast(&c->cv_writer);
		pthread_cond_broadcast(&c->cv_sender);
		pthread_cond_broadcast(&c->cv_room);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->writer, NULL);
	}
	if (c->started_s)
		pthread_join(c->sender, NULL);
	curl_global_cleanup();
	if (c->seg_fd >= 0)
		close(c->seg_fd);
	if (c->acked_fd >= 0)
		close(c->acked_fd);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	explicit_bzero(c->token, strlen(c->token));
	free(c->url);
	free(c->token);
	free(c->cacert);
	free(c->dir);
	free(c->q.p);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv_writer);
	pthread_cond_destroy(&c->cv_room);
	pthread_cond_destroy(&c->cv_sender);
	free(c);
}
