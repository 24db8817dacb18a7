/*
 * log.c - the writer: init, open with recovery, group commit, checkpoints,
 * key rotation, and the read paths.
 *
 * Invariants (numbered so comments can cite them):
 *  L1. Every entry with seq < l->size is fdatasync'd in its segment; the
 *      tree, the .idx files and the state snapshot never run ahead of it.
 *  L2. Only the leader (the thread holding l->leader) writes segments, the
 *      tree, the tenant table, the checkpoint history or the state file.
 *  L3. After a failed write or fdatasync l->failed is set and never
 *      cleared; appends and checkpoints then fail with ST_ESTICKY.
 *  L4. A checkpoint is appended to the history (and fdatasync'd) only
 *      after the tree files it commits to are fdatasync'd; the state file
 *      records how many checkpoints exist and the hash of the last one, so
 *      a history that lost its tail is detected at open and by verify.
 *  L5. Recovery keeps exactly the frames that pass their CRC, in order, up
 *      to the first torn one; a bad frame followed by a valid chain of
 *      frames is corruption, not a torn tail, and refuses to open.
 *  L6. Idempotency: no two entries appended since the id index existed
 *      carry the same (tenant, decoded id). Before an event with an id is
 *      composed, the index (DIR/ids.d, idindex.h) is asked for it, every
 *      candidate confirmed against the entry itself or, for a seq of the
 *      group being composed, the group's own keys (l->gkeys); a match is
 *      acknowledged as a duplicate of the first entry and not appended.
 *      Every appended entry's key (the server's UUIDv7 when the producer
 *      gave none) is inserted as it is composed. After log_open the
 *      index holds every entry < l->size.
 */
#include "log/log.h"
#include "log/idindex.h"
#include "log/segment.h"
#include "log/tenants.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "common/uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "SEALSTAT"
#define STATE_VERSION 1
#define STATE_FIXED 88                /* bytes before the tenant records */
#define CP_PREV_LEN HASH_SIZE
#define GROUP_MAX_BYTES (32u << 20)
#define TREE_CHUNK 4096
#define PREFETCH 8                   /* events whose index slot loads ahead */
#define SPILL_BYTES (256u << 10)     /* write composed frames while cache-hot */
#define DIRECT_ALIGN 4096u           /* O_DIRECT offset, length and memory alignment */
/* A group's final write with fewer whole blocks than this goes through the
 * page cache, whole: an O_DIRECT write waits for the device by itself, and
 * the fdatasync that follows waits again (docs/DECISIONS.md, 3a). */
#define DIRECT_MIN ((size_t)64 << 10)
/* wbuf holds at most the partial last block, a spill's worth, one more
 * frame (bounded by max_entry <= 65535) and the padding of a final write. */
#define WBUF_CAP ((size_t)512 << 10)

/* ---- I/O hooks (tests inject failures here) ---------------------------- */

static ssize_t real_pwrite(int fd, const void *p, size_t n, off_t off)
{
	return pwrite(fd, p, n, off);
}
static int real_fdatasync(int fd)
{
	return fdatasync(fd);
}
static struct log_io io = { real_pwrite, real_fdatasync };

void log_set_io(const struct log_io *n)
{
	if (n) {
		io = *n;
	} else {
		io.pwrite = real_pwrite;
		io.fdatasync = real_fdatasync;
	}
}

static int io_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return pwrite_all_with(io.pwrite, fd, p, n, off);
}

static int io_sync(int fd)
{
	return io.fdatasync(fd) < 0 ? -errno : 0;
}

/* Closes *fd if open and marks it closed. */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the log object ---------------------------------------------------- */

struct seg_reader {
	uint64_t first;
	int fd;
	int idx_fd;
};

struct batch {
	const struct log_event *ev;
	size_t n;
	struct log_ack *acks;
	int result;
	bool done;
	struct batch *next;
};

/* An event of the group being committed, with its idempotency key (L6),
 * prepared ahead of composing (key_prepare). Pointers are into the
 * caller's events, or sid; valid while the group is committed. */
enum { GK_NONE, GK_PRODUCER, GK_SERVER, GK_SERVER_UNINDEXED };
struct gkey {
	const struct log_event *ev;
	struct log_ack *ack;
	const char *tenant;
	const char *id;              /* as written: escapes kept */
	uint64_t fp;
	uint16_t tenant_len, id_len;
	uint8_t kind;                /* GK_*: GK_PRODUCER and GK_SERVER are indexed */
	char sid[UUID_STR_LEN];      /* the id the server assigned */
};

struct log {
	char dir[PATH_MAX];
	struct log_meta meta;
	int lock_fd;
	bool opened;                 /* log_open completed: close may write state */
	uint64_t state_size;         /* size and checkpoint count the state file */
	uint64_t state_cp_count;     /* on disk records (set by state_write) */

	/* segments */
	pthread_rwlock_t segs_lock;  /* guards readers[] growth */
	struct seg_reader *readers;  /* every segment, by first seq */
	size_t nsegs, segs_cap;
	int seg_fd, idx_fd;          /* the active (last) segment */
	uint64_t seg_first;
	uint64_t seg_off;            /* end of the last durable frame */
	int seg_dfd;                 /* the active segment opened O_DIRECT, or -1
				      * where the file system refuses it or
				      * SEALTRAIL_DIRECT_IO=0 */
	bool direct_io;
	uint64_t wbase;              /* file offset of wbuf.data[0]; block-aligned
				      * when seg_dfd >= 0 (wbuf then starts with the
				      * partial last block, already on disk) */
	uint64_t torn_bytes;         /* recovery: bytes after seg_off to drop, once
				      * the open has proven no acked entry is there */
	uint64_t size;               /* durable entries; atomic for readers */

	struct tree *tree;
	struct tenants tenants;
	int64_t last_received_ns;

	/* checkpoints */
	int cp_fd;
	int cpi_fd;                  /* checkpoints.idx: u64 offset per record (derived) */
	uint64_t cp_off;
	uint64_t cp_count;
	uint8_t cp_last[HASH_SIZE];  /* SHA-256 of the last history record's data */
	uint64_t cp_size;            /* tree size of the last checkpoint */
	uint64_t cp_last_off;        /* byte offset of the last history record */
	struct buf cp_note;          /* the last signed note */
	struct note_key signer;
	struct note_key *pubkeys;
	size_t npub;

	/* group commit */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *qhead, *qtail;
	bool leader;
	int failed;
	struct buf wbuf;
	uint8_t (*leaves)[HASH_SIZE];
	size_t leaves_cap;           /* entries leaves, offs and gkeys hold */
	uint64_t *offs;
	size_t *gpos;                /* the gkeys index of each composed entry */
	struct gkey *gkeys;          /* the group's events, in order */

	/* idempotency (L6) */
	struct idindex *ids;
	struct buf cbuf;             /* an entry read to confirm a candidate */
};


static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- meta -------------------------------------------------------------- */

static int meta_write(const char *dir, const struct log_meta *m)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(4096);
	int r;

	if ((r = path_in(path, sizeof(path), dir, "meta")) < 0)
		return r;
	r = buf_printf(&b,
		       "sealtrail-log 1\norigin %s\nsegment_max %llu\nmax_tenants %llu\n"
		       "max_entry %zu\nmax_depth %u\nmax_members %u\nmax_string %zu\n",
		       m->origin, (unsigned long long)m->segment_max,
		       (unsigned long long)m->max_tenants, m->limits.max_entry,
		       m->limits.max_depth, m->limits.max_members,
		       m->limits.max_string);
	if (r == 0)
		r = write_file_atomic(path, b.data, b.len, 0644);
	buf_release(&b);
	return r;
}

int log_meta_read(const char *dir, struct log_meta *m, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(16384);
	int r, lineno = 0;
	bool have_origin = false;

	memset(m, 0, sizeof(*m));
	event_limits_default(&m->limits);
	m->segment_max = LOG_DEFAULT_SEGMENT_MAX;
	m->max_tenants = LOG_DEFAULT_MAX_TENANTS;
	if ((r = path_in(path, sizeof(path), dir, "meta")) < 0)
		return r;
	r = read_file(path, 16384, &b);
	if (r < 0) {
		st_fail(err, errcap, "%s: %s", path,
		       r == -ENOENT ? "no log here (run sealtrail init)" : st_strerror(r));
		goto out;
	}
	char *p = (char *)b.data, *end = p + b.len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			st_fail(err, errcap, "%s: line %d: no final newline", path, lineno + 1);
			r = ST_ECORRUPT;
			goto out;
		}
		*nl = 0;
		lineno++;
		char *sp = strchr(p, ' ');
		if (!sp) {
			st_fail(err, errcap, "%s: line %d: expected 'key value'", path, lineno);
			r = ST_ECORRUPT;
			goto out;
		}
		*sp = 0;
		const char *k = p, *v = sp + 1;
		uint64_t u = 0;
		bool num = st_parse_u64(v, strlen(v), &u);
		if (lineno == 1) {
			if (strcmp(k, "sealtrail-log") || strcmp(v, "1")) {
				st_fail(err, errcap, "%s: line 1: expected 'sealtrail-log 1'", path);
				r = ST_ECORRUPT;
				goto out;
			}
		} else if (!strcmp(k, "origin")) {
			if (strlen(v) == 0 || strlen(v) > LOG_ORIGIN_MAX) {
				st_fail(err, errcap, "%s: line %d: bad origin", path, lineno);
				r = ST_ECORRUPT;
				goto out;
			}
			strcpy(m->origin, v);
			have_origin = true;
		} else if (!num) {
			st_fail(err, errcap, "%s: line %d: %s: expected a number", path, lineno, k);
			r = ST_ECORRUPT;
			goto out;
		} else if (!strcmp(k, "segment_max")) {
			m->segment_max = u;
		} else if (!strcmp(k, "max_tenants")) {
			m->max_tenants = u;
		} else if (!strcmp(k, "max_entry")) {
			m->limits.max_entry = u;
		} else if (!strcmp(k, "max_depth")) {
			m->limits.max_depth = (uint32_t)u;
		} else if (!strcmp(k, "max_members")) {
			m->limits.max_members = (uint32_t)u;
		} else if (!strcmp(k, "max_string")) {
			m->limits.max_string = u;
		} /* unknown keys: written by a newer version; ignored */
		p = nl + 1;
	}
	if (!have_origin) {
		st_fail(err, errcap, "%s: no origin line", path);
		r = ST_ECORRUPT;
	}
out:
	buf_release(&b);
	return r;
}

/* ---- keys -------------------------------------------------------------- */

static int keys_load(struct log *l, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(1 << 20);
	int r;

	if ((r = path_in(path, sizeof(path), l->dir, "keys/signer")) < 0)
		return r;
	r = read_file(path, 4096, &b);
	if (r == 0) {
		size_t n = b.len;
		while (n && (b.data[n - 1] == '\n'))
			n--;
		r = note_skey_parse((const char *)b.data, n, &l->signer);
	}
	st_wipe(b.data, b.cap);
	buf_reset(&b);
	if (r < 0) {
		st_fail(err, errcap, "%s: cannot load the signing key: %s", path, st_strerror(r));
		goto out;
	}
	r = log_public_keys(l->dir, &b);
	if (r < 0) {
		st_fail(err, errcap, "%s/keys/public: %s", l->dir, st_strerror(r));
		goto out;
	}
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	l->pubkeys = calloc(lines ? lines : 1, sizeof(*l->pubkeys));
	if (!l->pubkeys) {
		r = -ENOMEM;
		goto out;
	}
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		r = note_vkey_parse(p, (size_t)(nl - p), &l->pubkeys[l->npub]);
		if (r < 0) {
			st_fail(err, errcap, "%s/keys/public: line %zu: bad verifier key",
			       l->dir, l->npub + 1);
			goto out;
		}
		l->npub++;
		p = nl + 1;
	}
out:
	buf_release(&b);
	return r;
}

int log_public_keys(const char *dir, struct buf *out)
{
	char path[PATH_MAX];
	int r = path_in(path, sizeof(path), dir, "keys/public");
	return r < 0 ? r : read_file(path, 1 << 20, out);
}

static int append_public_key(const char *dir, const struct note_key *k)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(4096);
	int fd, r;

	if ((r = path_in(path, sizeof(path), dir, "keys/public")) < 0)
		return r;
	if ((r = note_vkey_format(k, &b)) < 0 || (r = buf_putc(&b, '\n')) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, b.data, b.len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		r = fsync_parent(path);
out:
	buf_release(&b);
	return r;
}

static int write_signer(const char *dir, const struct note_key *k)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(4096);
	int r;

	if ((r = path_in(path, sizeof(path), dir, "keys/signer")) < 0)
		return r;
	if ((r = note_skey_format(k, &b)) == 0 && (r = buf_putc(&b, '\n')) == 0)
		r = write_file_atomic(path, b.data, b.len, 0600);
	st_wipe(b.data, b.cap);
	buf_release(&b);
	return r;
}

/* ---- state snapshot ------------------------------------------------------ */

/*
 * state: "SEALSTAT" u32 version, u64 size, u64 cp_count, 32 cp_last,
 * u64 cp_size, i64 last_received_ns, u64 cp_last_off, u32 ntenants, then
 * per tenant u8 len, name, u64 tseq, 32 last; finally u32 CRC-32C of all
 * before (docs/FORMAT.md).
 */
static int state_write(struct log *l)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT((size_t)1 << 30);
	uint8_t tmp[8];
	int r;

	if ((r = path_in(path, sizeof(path), l->dir, "state")) < 0)
		return r;
	r = buf_append(&b, STATE_MAGIC, 8);
	put_le32(tmp, STATE_VERSION);
	if (!r) r = buf_append(&b, tmp, 4);
	put_le64(tmp, l->size);
	if (!r) r = buf_append(&b, tmp, 8);
	put_le64(tmp, l->cp_count);
	if (!r) r = buf_append(&b, tmp, 8);
	if (!r) r = buf_append(&b, l->cp_last, HASH_SIZE);
	put_le64(tmp, l->cp_size);
	if (!r) r = buf_append(&b, tmp, 8);
	put_le64(tmp, (uint64_t)l->last_received_ns);
	if (!r) r = buf_append(&b, tmp, 8);
	put_le64(tmp, l->cp_last_off);
	if (!r) r = buf_append(&b, tmp, 8);
	put_le32(tmp, (uint32_t)l->tenants.count);
	if (!r) r = buf_append(&b, tmp, 4);
	tenants_foreach(&l->tenants, t) {
		if (r)
			break;
		r = buf_putc(&b, t->len);
		if (!r) r = buf_append(&b, t->name, t->len);
		put_le64(tmp, t->tseq);
		if (!r) r = buf_append(&b, tmp, 8);
		if (!r) r = buf_append(&b, t->last, HASH_SIZE);
	}
	if (!r) {
		put_le32(tmp, crc32c(0, b.data, b.len));
		r = buf_append(&b, tmp, 4);
	}
	if (!r)
		r = write_file_atomic(path, b.data, b.len, 0644);
	if (!r) {
		l->state_size = l->size;
		l->state_cp_count = l->cp_count;
	}
	buf_release(&b);
	return r;
}

struct state {
	bool present;
	uint64_t size, cp_count, cp_size, cp_last_off;
	uint8_t cp_last[HASH_SIZE];
	int64_t last_received_ns;
};

/* Checks the snapshot's magic, version and CRC and reads its fixed part.
 * Layout: 0 magic, 8 version, 12 size, 20 cp_count, 28 cp_last,
 * 60 cp_size, 68 last_received, 76 cp_last_off, 84 ntenants, 88 tenants,
 * CRC last (docs/FORMAT.md). */
static bool state_head_parse(const uint8_t *p, size_t n, struct state *s)
{
	if (n < STATE_FIXED + 4 || memcmp(p, STATE_MAGIC, 8) ||
	    get_le32(p + 8) != STATE_VERSION || crc32c(0, p, n - 4) != get_le32(p + n - 4))
		return false;
	s->size = get_le64(p + 12);
	s->cp_count = get_le64(p + 20);
	memcpy(s->cp_last, p + 28, HASH_SIZE);
	s->cp_size = get_le64(p + 60);
	s->last_received_ns = (int64_t)get_le64(p + 68);
	s->cp_last_off = get_le64(p + 76);
	return true;
}

/* Loads the snapshot into *s and the tenant table. A missing or damaged
 * state is not an error: it is derived data and recovery rebuilds it
 * (present = false), except that then rollback detection falls back on
 * verify's comparison with trusted checkpoints. */
static int state_read(struct log *l, struct state *s)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT((size_t)1 << 30);
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = path_in(path, sizeof(path), l->dir, "state")) < 0)
		return r;
	r = read_file(path, (size_t)1 << 30, &b);
	if (r < 0) {
		buf_release(&b);
		return r == -ENOENT ? 0 : r;
	}
	const uint8_t *p = b.data;
	size_t n = b.len, off = STATE_FIXED;
	if (!state_head_parse(p, n, s))
		goto bad;
	uint32_t nt = get_le32(p + 84);
	for (uint32_t i = 0; i < nt; i++) {
		if (off + 1 > n - 4)
			goto bad;
		size_t len = p[off];
		if (off + 1 + len + 8 + HASH_SIZE > n - 4)
			goto bad;
		int err = 0;
		struct tenant *t = tenants_get(&l->tenants, (const char *)p + off + 1, len, &err);
		if (!t)
			goto bad;
		t->tseq = get_le64(p + off + 1 + len);
		memcpy(t->last, p + off + 1 + len + 8, HASH_SIZE);
		off += 1 + len + 8 + HASH_SIZE;
	}
	if (off != n - 4)
		goto bad;
	s->present = true;
	buf_release(&b);
	return 0;
bad:
	/* Damaged snapshot: forget it entirely and rebuild. */
	tenants_release(&l->tenants);
	tenants_init(&l->tenants, l->meta.max_tenants);
	memset(s, 0, sizeof(*s));
	buf_release(&b);
	return 0;
}

/* ---- segments ------------------------------------------------------------ */

static int readers_add(struct log *l, uint64_t first)
{
	if (l->nsegs == l->segs_cap) {
		size_t ncap = l->segs_cap ? l->segs_cap * 2 : 16;
		struct seg_reader *nr = realloc(l->readers, ncap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		l->readers = nr;
		l->segs_cap = ncap;
	}
	l->readers[l->nsegs].first = first;
	l->readers[l->nsegs].fd = -1;
	l->readers[l->nsegs].idx_fd = -1;
	l->nsegs++;
	return 0;
}

/* Encodes the header of segment first_seq of this log into out. */
static int make_header(struct log *l, uint64_t first_seq, struct buf *out)
{
	struct seg_header h;

	memset(&h, 0, sizeof(h));
	h.version = SEG_VERSION;
	h.first_seq = first_seq;
	h.created_ns = now_realtime_ns();
	h.origin_len = strlen(l->meta.origin);
	memcpy(h.origin, l->meta.origin, h.origin_len);
	return seg_header_encode(&h, out);
}

/* Makes (fd, ifd) the active segment, taking ownership of both, and sets
 * up its writer: an O_DIRECT descriptor when the file system allows one,
 * so that group commits skip the copy into the page cache, and the
 * partial last block in wbuf, since direct writes cover whole blocks. */
static int adopt_active(struct log *l, int *fd, int *ifd, uint64_t first,
			uint64_t end, uint64_t size)
{
	char path[PATH_MAX];
	int r;

	close_fd(&l->seg_fd);
	close_fd(&l->idx_fd);
	close_fd(&l->seg_dfd);
	l->seg_fd = *fd;
	l->idx_fd = *ifd;
	*fd = *ifd = -1;
	l->seg_first = first;
	l->seg_off = end;
	__atomic_store_n(&l->size, size, __ATOMIC_RELEASE);
	l->seg_dfd = -1;
	if ((r = seg_path(path, sizeof(path), l->dir, first, "seg")) < 0)
		return r;
	if (l->direct_io)
		l->seg_dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	l->wbuf.len = 0;
	l->wbase = end;
	if (l->seg_dfd >= 0) {
		size_t tail = (size_t)(end % DIRECT_ALIGN);
		l->wbase = end - tail;
		if ((r = pread_all(l->seg_fd, l->wbuf.data, tail, (off_t)l->wbase)) < 0)
			return r;
		l->wbuf.len = tail;
	}
	return 0;
}

/* Creates segment first_seq with its header; fsyncs file and directory. */
static int segment_create(struct log *l, uint64_t first_seq)
{
	char path[PATH_MAX], ipath[PATH_MAX];
	struct buf b = BUF_INIT(1024);
	int fd = -1, ifd = -1, r;

	if ((r = seg_path(path, sizeof(path), l->dir, first_seq, "seg")) < 0 ||
	    (r = seg_path(ipath, sizeof(ipath), l->dir, first_seq, "idx")) < 0 ||
	    (r = make_header(l, first_seq, &b)) < 0)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	ifd = open(ipath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ifd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = io_pwrite_all(fd, b.data, b.len, 0)) < 0 || (r = io_sync(fd)) < 0)
		goto out;
	if ((r = fsync_parent(path)) < 0)
		goto out;
	pthread_rwlock_wrlock(&l->segs_lock);
	r = readers_add(l, first_seq);
	pthread_rwlock_unlock(&l->segs_lock);
	if (r < 0)
		goto out;
	r = adopt_active(l, &fd, &ifd, first_seq, b.len, first_seq);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (ifd >= 0)
		close(ifd);
	buf_release(&b);
	return r;
}

/* Seals the active segment: its frames are already durable (L1); the index
 * is synced so that recovery can trust sealed indexes, and the file is
 * made read-only as a guard against accidents. */
static int segment_seal(struct log *l)
{
	char path[PATH_MAX];
	int r = io_sync(l->idx_fd);
	if (r < 0)
		return r;
	if (seg_path(path, sizeof(path), l->dir, l->seg_first, "seg") == 0)
		chmod(path, 0444);
	return 0;
}

/* ---- group commit ---------------------------------------------------------- */

static int ensure_scratch(struct log *l, size_t n)
{
	if (n > l->leaves_cap) {
		size_t ncap = n < 1024 ? 1024 : n;
		void *a = realloc(l->leaves, ncap * sizeof(*l->leaves));
		if (!a)
			return -ENOMEM;
		l->leaves = a;
		void *o = realloc(l->offs, ncap * sizeof(*l->offs));
		if (!o)
			return -ENOMEM;
		l->offs = o;
		void *g = realloc(l->gkeys, ncap * sizeof(*l->gkeys));
		if (!g)
			return -ENOMEM;
		l->gkeys = g;
		void *gp = realloc(l->gpos, ncap * sizeof(*l->gpos));
		if (!gp)
			return -ENOMEM;
		l->gpos = gp;
		l->leaves_cap = ncap;
	}
	return 0;
}

/* Writes wbuf to the active segment at wbase. Buffered: everything.
 * Direct: the whole blocks through the O_DIRECT descriptor; when final,
 * the partial last block through the buffered one (no padding, no
 * truncation: the file ends at its logical end), and that block stays in
 * wbuf as the start of the next write. A final write of fewer than
 * DIRECT_MIN bytes of whole blocks (a small group) goes through the
 * buffered descriptor in one piece: the O_DIRECT write would be one more
 * device round trip before the fdatasync, which writes the pages back
 * in one go (the next O_DIRECT write over those pages drops them from the
 * cache). A failure poisons the log (L3). Stores the logical end in
 * *ret_end. */
static int write_out(struct log *l, bool final, uint64_t *ret_end)
{
	size_t len = l->wbuf.len, whole = len, keep = 0;
	uint64_t end = l->wbase + len;
	int r = 0;

	if (l->seg_dfd >= 0) {
		whole = len / DIRECT_ALIGN * DIRECT_ALIGN;
		keep = len - whole;
	}
	if (final && l->seg_dfd >= 0 && whole < DIRECT_MIN)
		r = io_pwrite_all(l->seg_fd, l->wbuf.data, len, (off_t)l->wbase);
	else if (whole)
		r = io_pwrite_all(l->seg_dfd >= 0 ? l->seg_dfd : l->seg_fd, l->wbuf.data,
				  whole, (off_t)l->wbase);
	if (r == 0 && final && keep && !(l->seg_dfd >= 0 && whole < DIRECT_MIN))
		r = io_pwrite_all(l->seg_fd, l->wbuf.data + whole, keep,
				  (off_t)(l->wbase + whole));
	if (r < 0) {
		l->failed = r;
		return r;
	}
	memmove(l->wbuf.data, l->wbuf.data + whole, keep);
	l->wbuf.len = keep;
	l->wbase += whole;
	if (ret_end)
		*ret_end = end;
	return 0;
}

/* Writes the frames composed for entries [l->size, l->size+n) that are not
 * yet written and syncs the segment (L1). On failure the log is poisoned
 * (L3). Then appends their leaves to the tree and their offsets to the
 * index; failures there also poison the log, but the entries are durable
 * and their acks stand. */
static int flush_group(struct log *l, size_t n)
{
	uint64_t end = 0;
	int r;

	if (n == 0)
		return 0;
	r = write_out(l, true, &end);
	if (r == 0)
		r = io_sync(l->seg_fd);
	if (r < 0) {
		l->failed = r;
		return r;
	}
	uint64_t idx_pos = (l->size - l->seg_first) * 8;
	l->seg_off = end;
	__atomic_store_n(&l->size, l->size + n, __ATOMIC_RELEASE);
	/* The offsets become the index bytes in place (8 bytes each). */
	for (size_t i = 0; i < n; i++)
		put_le64((uint8_t *)&l->offs[i], l->offs[i]);
	r = pwrite_all(l->idx_fd, l->offs, 8 * n, (off_t)idx_pos);
	if (r == 0)
		r = tree_append(l->tree, (const uint8_t(*)[HASH_SIZE])l->leaves, n);
	if (r < 0)
		l->failed = r;
	return 0; /* the entries are durable: acknowledge them */
}

/* Writes what is composed so far while it is still in the CPU cache (no
 * sync); flush_group() writes the rest and syncs. */
static int spill(struct log *l)
{
	return write_out(l, false, NULL);
}

/* ---- idempotency (L6) ------------------------------------------------------ */

static uint64_t ids_memtable_bytes, ids_filter_bytes;  /* 0: the defaults */

/* The index's configuration: the defaults, with memtable and filter
 * bytes (0: keep) rounded down to what the index takes. The test knob
 * SEALTRAIL_TEST_IDS_SLOTS wins over memtable. */
static void ids_config_with(struct idindex_config *c, uint64_t memtable, uint64_t filter)
{
	uint64_t slots = 1;

	idindex_config_default(c);
	if (memtable && !getenv("SEALTRAIL_TEST_IDS_SLOTS")) {
		while (slots <= memtable / 16 / 2)
			slots *= 2;
		c->memtable_slots = slots;
	}
	if (filter)
		c->filter_bytes = filter / 64 * 64;
}

int log_set_ids_memory(uint64_t memtable_bytes, uint64_t filter_bytes)
{
	struct idindex_config c;

	ids_config_with(&c, memtable_bytes, filter_bytes);
	if (!idindex_config_valid(&c))
		return ST_EINVAL;
	ids_memtable_bytes = memtable_bytes;
	ids_filter_bytes = filter_bytes;
	return 0;
}

static int reader_for(struct log *l, uint64_t seq, int *ret_fd, int *ret_idx,
		      uint64_t *ret_first);

/* Makes k the key (tenant, id as written): decodes the id into dec when it
 * has escapes. False when the id is longer than any producer id may be
 * (a stored entry not written by event_parse): such an id is not indexed. */
static bool key_make(struct idkey *k, const char *tenant, size_t tl, const char *id,
		     size_t il, char dec[EVENT_ID_MAX])
{
	k->tenant = tenant;
	k->tenant_len = tl;
	if (memchr(id, '\\', il)) {
		k->id_len = event_id_decode(id, il, dec, EVENT_ID_MAX);
		k->id = dec;
	} else {
		k->id = id;
		k->id_len = il;
	}
	return tl <= TENANT_NAME_MAX && k->id_len >= 1 && k->id_len <= EVENT_ID_MAX;
}

/* Whether (tenant, raw id) is the key k. */
static bool key_is(const struct idkey *k, const char *tenant, size_t tl, const char *id,
		   size_t il)
{
	char dec[EVENT_ID_MAX];
	struct idkey o;

	if (tl != k->tenant_len || memcmp(tenant, k->tenant, tl) ||
	    !key_make(&o, tenant, tl, id, il, dec))
		return false;
	return o.id_len == k->id_len && memcmp(o.id, k->id, o.id_len) == 0;
}

struct confirm {
	struct log *l;
	size_t pending;              /* entries of the group composed so far */
	uint8_t leaf[HASH_SIZE];     /* of the entry confirmed */
};

/* idindex_confirm_fn: does entry seq carry k? Durable entries are read
 * back and parsed; entries of the group being composed are compared with
 * its keys; any other seq (a stale slot) is not a match. */
static int confirm_key(void *ctx, uint64_t seq, const struct idkey *k)
{
	struct confirm *c = ctx;
	struct log *l = c->l;
	struct stored_info si;
	struct event_error ee;
	int r;

	if (seq >= l->size) {
		if (seq - l->size >= c->pending)
			return 0;
		const struct gkey *g = &l->gkeys[l->gpos[seq - l->size]];
		if (!key_is(k, g->tenant, g->tenant_len, g->id, g->id_len))
			return 0;
		memcpy(c->leaf, l->leaves[seq - l->size], HASH_SIZE);
		return 1;
	}
	buf_reset(&l->cbuf);
	if ((r = log_read_entry(l, seq, &l->cbuf)) < 0)
		return r;
	if (event_parse_stored(l->cbuf.data, l->cbuf.len, &l->meta.limits, &si, &ee) < 0)
		return ST_ECORRUPT;
	if (!si.id || !key_is(k, si.tenant, si.tenant_len, si.id, si.id_len))
		return 0;
	hash_leaf(l->cbuf.data, l->cbuf.len, c->leaf);
	return 1;
}

/* The leaf hash of entry n-1 (zeros for n == 0): what DIR/ids.d records
 * with `covered` so that open can tell the index is this log's. */
static int leaf_before(struct log *l, uint64_t n, uint8_t out[HASH_SIZE])
{
	if (n == 0) {
		memset(out, 0, HASH_SIZE);
		return 0;
	}
	return tree_node(l->tree, 0, n - 1, out);
}

/* Records in DIR/ids.d/manifest how far the index is durable
 * (idindex_persist): the boundary of its last written run, which a
 * checkpoint records as soon as the run is done (a manifest write, only
 * when something changed). force (close): the memtables are written out
 * first, so that the next open replays nothing. Derived data: a failure
 * only means the next open replays more. */
static void ids_persist(struct log *l, bool force)
{
	uint8_t leaf[HASH_SIZE];
	uint64_t c;

	if (!l->ids || l->failed)
		return;
	if (force)
		(void)idindex_flush(l->ids, l->size);
	if (!idindex_dirty(l->ids))
		return;
	c = idindex_persistable(l->ids);
	if (c > l->size)       /* a boundary inside a group that failed */
		return;
	if (leaf_before(l, c, leaf) == 0)
		(void)idindex_persist(l->ids, c, leaf);
}

/* Inserts the key of entry seq (its bytes p[0..n)) unless the index has
 * it. */
static int ids_add_entry(struct log *l, uint64_t seq, const uint8_t *p, size_t n,
			 char *err, size_t errcap)
{
	struct confirm cf = { l, 0, {0} };
	struct stored_info si;
	struct event_error ee;
	struct idkey k;
	char dec[EVENT_ID_MAX];
	uint64_t first;
	int r;

	if ((r = event_parse_stored(p, n, &l->meta.limits, &si, &ee)) < 0) {
		char m[400];
		event_error_format(&ee, m, sizeof(m));
		st_fail(err, errcap, "ids: seq %llu: stored entry: %s", (unsigned long long)seq, m);
		return r;
	}
	if (!si.id || !key_make(&k, si.tenant, si.tenant_len, si.id, si.id_len, dec))
		return 0;
	idindex_fp(l->ids, &k);
	if ((r = idindex_add(l->ids, &k, seq, confirm_key, &cf, &first)) < 0)
		st_fail(err, errcap, "ids: seq %llu: %s", (unsigned long long)seq, st_strerror(r));
	return r < 0 ? r : 0;
}

/* Inserts the keys of entries [from, l->size) that the index lacks,
 * walking each segment's mapping frame by frame (a rebuild reads the
 * whole log: one pread per entry would cost more than the parse). */
static int ids_replay(struct log *l, uint64_t from, char *err, size_t errcap)
{
	char path[PATH_MAX];
	int r = 0;

	for (size_t i = 0; i < l->nsegs && from < l->size && r == 0; i++) {
		uint64_t first = l->readers[i].first;
		uint64_t end = i + 1 < l->nsegs ? l->readers[i + 1].first : l->size;
		const uint8_t *p = NULL;
		size_t n = 0, off;
		int fd, ifd;
		uint64_t f2;

		if (end <= from)
			continue;
		if ((r = seg_path(path, sizeof(path), l->dir, first, "seg")) < 0 ||
		    (r = reader_for(l, from, &fd, &ifd, &f2)) < 0 ||
		    (r = map_file(path, &p, &n)) < 0) {
			st_fail(err, errcap, "ids: %s: %s", path, st_strerror(r));
			break;
		}
		uint8_t ob[8];
		if ((r = pread_all(ifd, ob, 8, (off_t)((from - first) * 8))) < 0) {
			st_fail(err, errcap, "ids: %s: index entry of seq %llu: %s", path,
			       (unsigned long long)from, st_strerror(r));
			unmap_file(p, n);
			break;
		}
		off = (size_t)get_le64(ob);
		for (; from < end; from++) {
			uint32_t len;
			if (off > n || seg_frame_check(p + off, n - off, &len) != 1) {
				st_fail(err, errcap, "ids: %s: byte %zu: no valid frame for seq %llu",
				       path, off, (unsigned long long)from);
				r = ST_ECORRUPT;
				break;
			}
			if ((r = ids_add_entry(l, from, p + off + SEG_FRAME_HDR, len, err, errcap)) < 0)
				break;
			off += SEG_FRAME_HDR + len;
		}
		unmap_file(p, n);
	}
	return r;
}

/* Opens DIR/ids.d and brings it up to l->size: entries from its
 * `covered` are replayed into it. It is rebuilt from the whole log when it
 * is missing or damaged, claims more entries than the log holds, or its
 * leaf at `covered` is not this log's (an index from another log, or from
 * before a restore). A DIR/ids of the format before (one mmap'd table)
 * is deleted: the index is derived, so the rebuild is its migration. */
static int ids_open(struct log *l, char *err, size_t errcap)
{
	static const char *const old[] = { "ids", "ids.new", "ids.grow" };
	struct idindex_config cfg;
	char path[PATH_MAX];
	uint8_t leaf[HASH_SIZE];
	struct idindex *x = NULL;
	uint64_t from = 0;
	int r;

	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
		if (path_in(path, sizeof(path), l->dir, old[i]) == 0)
			(void)unlink(path);
	if ((r = path_in(path, sizeof(path), l->dir, "ids.d")) < 0)
		return r;
	ids_config_with(&cfg, ids_memtable_bytes, ids_filter_bytes);
	r = idindex_open(&x, path, &cfg);
	if (r == 0) {
		from = idindex_covered(x);
		if (from > l->size || leaf_before(l, from, leaf) < 0 ||
		    memcmp(leaf, idindex_covered_leaf(x), HASH_SIZE)) {
			idindex_free(x);
			x = NULL;
			r = ST_ECORRUPT;
		}
	}
	if (r == ST_ENOTFOUND || r == ST_ECORRUPT) {
		from = 0;
		r = idindex_create(&x, path, &cfg);
	}
	if (r < 0) {
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	l->ids = x;
	if ((r = ids_replay(l, from, err, errcap)) < 0)
		return r;
	ids_persist(l, false);
	return 0;
}

/* Fills g (whose ev is set) with its event's key and fingerprint, and
 * starts loading the key's home slot into the cache: commit_group runs
 * this PREFETCH events ahead of composing, so that the index lookup finds
 * its cache line there instead of waiting on memory. An event without an
 * id gets the server's UUIDv7 here (it is written into the entry too). */
static int key_prepare(struct log *l, struct gkey *g, uint64_t ms)
{
	const struct log_event *e = g->ev;
	struct idkey k;
	char dec[EVENT_ID_MAX], sid[UUID_STR_LEN + 1];
	int r;

	g->tenant = e->info.tenant ? e->info.tenant : LOG_DEFAULT_TENANT;
	g->tenant_len = (uint16_t)(e->info.tenant ? e->info.tenant_len
						  : strlen(LOG_DEFAULT_TENANT));
	g->kind = GK_NONE;
	if (e->info.has_id) {
		if (!e->info.id || e->info.id_len > 6 * EVENT_ID_MAX)
			return 0;      /* no slice (see event_info): not indexed */
		g->id = e->info.id;
		g->id_len = (uint16_t)e->info.id_len;
		g->kind = GK_PRODUCER;
	} else {
		if ((r = uuidv7_format(ms, sid)) < 0)
			return r;
		memcpy(g->sid, sid, UUID_STR_LEN);
		g->id = g->sid;
		g->id_len = UUID_STR_LEN;
		g->kind = GK_SERVER;
	}
	if (!key_make(&k, g->tenant, g->tenant_len, g->id, g->id_len, dec)) {
		g->kind = g->kind == GK_SERVER ? GK_SERVER_UNINDEXED : GK_NONE;
		return 0;
	}
	idindex_fp(l->ids, &k);
	g->fp = k.fp;
	idindex_prefetch(l->ids, g->fp);
	return 0;
}

static int commit_group(struct log *l, struct batch *group)
{
	char recv[RFC3339_US_LEN + 1];
	size_t pending = 0, total = 0, nprep = 0;
	int r = 0;

	if (l->failed)
		return ST_ESTICKY;
	for (struct batch *b = group; b; b = b->next)
		total += b->n;
	if ((r = ensure_scratch(l, total)) < 0)
		return r;
	/* One array over the group's batches, so the keys can be prepared
	 * ahead of the event being composed. */
	for (struct batch *b = group; b; b = b->next) {
		for (size_t i = 0; i < b->n; i++, nprep++) {
			l->gkeys[nprep].ev = &b->ev[i];
			l->gkeys[nprep].ack = &b->acks[i];
		}
	}

	struct confirm cf = { l, 0, {0} };
	int64_t now = now_realtime_ns();
	if (now < l->last_received_ns)
		now = l->last_received_ns;
	l->last_received_ns = now;
	rfc3339_format_us(now, recv);
	const uint64_t ms = (uint64_t)(now / 1000000);

	for (size_t j = 0; j < total && j < PREFETCH; j++)
		if ((r = key_prepare(l, &l->gkeys[j], ms)) < 0)
			return r;
	for (size_t j = 0; j < total; j++) {
		struct gkey *g = &l->gkeys[j];
		const struct log_event *e = g->ev;
		struct log_ack *a = g->ack;
		const char *tn = g->tenant;
		size_t tl = g->tenant_len;
		int terr = 0;
		struct tenant *t;
		struct idkey k;
		struct idprobe pr;
		char dec[EVENT_ID_MAX];
		bool found = false;

		if (j + PREFETCH < total && (r = key_prepare(l, &l->gkeys[j + PREFETCH], ms)) < 0)
			return r;
		a->result = 0;
		a->duplicate = false;
		if (e->len < 2 || e->compact[0] != '{') {
			a->result = ST_EINVAL;
			continue;
		}
		t = tenants_get(&l->tenants, tn, tl, &terr);
		if (!t) {
			a->result = terr;
			continue;
		}
		size_t need = SEG_FRAME_HDR + EVENT_SERVER_RESERVE + e->len;
		/* Roll to a new segment when this frame would pass the limit. */
		if (e->len > l->meta.limits.max_entry) {
			a->result = ST_ELIMIT;
			continue;
		}
		if (e->producer && !log_producer_valid(e->producer, e->producer_len)) {
			a->result = ST_EINVAL;
			continue;
		}
		/* L6: an event whose key is in the log is acknowledged with the
		 * first entry that carried it. */
		if (g->kind == GK_PRODUCER) {
			uint64_t first;
			key_make(&k, tn, tl, g->id, g->id_len, dec);
			k.fp = g->fp;
			cf.pending = pending;
			int fres = idindex_find(l->ids, &k, confirm_key, &cf, &pr, &first);
			if (fres < 0) {
				a->result = fres;
				continue;
			}
			if (fres == 1) {
				a->duplicate = true;
				a->seq = first;
				memcpy(a->leaf, cf.leaf, HASH_SIZE);
				continue;
			}
			found = true;  /* pr: where the probe ended */
		}
		if (l->wbase + l->wbuf.len + need > l->meta.segment_max &&
		    (l->size + pending) > l->seg_first) {
			if ((r = flush_group(l, pending)) < 0)
				return r;
			pending = 0;
			if ((r = segment_seal(l)) < 0 ||
			    (r = segment_create(l, l->size)) < 0) {
				l->failed = r;
				return r;
			}
		}
		if ((r = buf_reserve(&l->wbuf, need)) < 0)
			return r;
		uint8_t *fr = l->wbuf.data + l->wbuf.len;
		char *o = (char *)fr + SEG_FRAME_HDR;
		uint64_t seq = l->size + pending;
		char tprev[BASE64_LEN(HASH_SIZE) + 1];

		base64_encode(t->last, HASH_SIZE, tprev);
		memcpy(o, "{\"seq\":", 7); o += 7;
		o += st_fmt_u64(o, seq);
		memcpy(o, ",\"received_at\":\"", 16); o += 16;
		memcpy(o, recv, RFC3339_US_LEN); o += RFC3339_US_LEN;
		memcpy(o, "\",\"tseq\":", 9); o += 9;
		o += st_fmt_u64(o, t->tseq + 1);
		memcpy(o, ",\"tprev\":\"", 10); o += 10;
		memcpy(o, tprev, BASE64_LEN(HASH_SIZE)); o += BASE64_LEN(HASH_SIZE);
		*o++ = '"';
		*o++ = ',';
		if (e->producer) {
			memcpy(o, "\"producer\":\"", 12); o += 12;
			memcpy(o, e->producer, e->producer_len); o += e->producer_len;
			*o++ = '"';
			*o++ = ',';
		}
		if (!e->info.tenant) {
			memcpy(o, "\"tenant\":\"" LOG_DEFAULT_TENANT "\",", 19);
			o += 19;
		}
		if (!e->info.has_id) {
			memcpy(o, "\"id\":\"", 6); o += 6;
			memcpy(o, g->sid, UUID_STR_LEN); o += UUID_STR_LEN;
			*o++ = '"';
			*o++ = ',';
		}
		memcpy(o, e->compact + 1, e->len - 1);
		o += e->len - 1;
		size_t elen = (size_t)(o - (char *)fr) - SEG_FRAME_HDR;
		if (elen > l->meta.limits.max_entry) {
			a->result = ST_ELIMIT;
			continue;
		}
		/* Index the key before the entry counts: an insert that fails
		 * (no room, and the table cannot grow) refuses the event, never
		 * leaves it unindexed. */
		if (g->kind == GK_PRODUCER || g->kind == GK_SERVER) {
			int ir = idindex_insert(l->ids, g->fp, found ? &pr : NULL, seq);
			if (ir < 0) {
				a->result = ir;
				continue;
			}
		}
		seg_frame_put(fr, fr + SEG_FRAME_HDR, elen);
		l->offs[pending] = l->wbase + l->wbuf.len;
		l->gpos[pending] = j;
		hash_leaf(fr + SEG_FRAME_HDR, elen, l->leaves[pending]);
		t->tseq++;
		memcpy(t->last, l->leaves[pending], HASH_SIZE);
		a->seq = seq;
		memcpy(a->leaf, l->leaves[pending], HASH_SIZE);
		l->wbuf.len += SEG_FRAME_HDR + elen;
		pending++;
		if (l->wbuf.len >= SPILL_BYTES && (r = spill(l)) < 0)
			return r;
	}
	return flush_group(l, pending);
}

bool log_producer_valid(const char *s, size_t n)
{
	if (n == 0 || n > LOG_PRODUCER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr("_.:@/+-", c))))
			return false;
	}
	return true;
}

static void become_leader(struct log *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->leader)
		pthread_cond_wait(&l->cv, &l->mu);
	l->leader = true;
	pthread_mutex_unlock(&l->mu);
}

static void resign_leader(struct log *l)
{
	pthread_mutex_lock(&l->mu);
	l->leader = false;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

int log_append(struct log *l, const struct log_event *ev, size_t n,
	       struct log_ack *acks)
{
	struct batch self = { ev, n, acks, 0, false, NULL };
	struct batch *group, *b, *last;
	size_t bytes = 0;
	int r;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&l->mu);
	if (l->qtail)
		l->qtail->next = &self;
	else
		l->qhead = &self;
	l->qtail = &self;
	while (!self.done && (l->leader || l->qhead != &self))
		pthread_cond_wait(&l->cv, &l->mu);
	if (self.done) {
		pthread_mutex_unlock(&l->mu);
		return self.result;
	}
	/* Lead: take queued batches up to GROUP_MAX_BYTES (at least one). */
	l->leader = true;
	group = last = l->qhead;
	bytes = 0;
	for (b = l->qhead; b; b = b->next) {
		for (size_t i = 0; i < b->n; i++)
			bytes += b->ev[i].len;
		last = b;
		if (bytes >= GROUP_MAX_BYTES)
			break;
	}
	l->qhead = last->next;
	if (!l->qhead)
		l->qtail = NULL;
	last->next = NULL;
	pthread_mutex_unlock(&l->mu);

	r = commit_group(l, group);

	pthread_mutex_lock(&l->mu);
	for (b = group; b; b = b->next) {
		b->result = r;
		b->done = true;
	}
	l->leader = false;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return r;
}

int log_find_id(struct log *l, const char *tenant, size_t tenant_len,
		const char *id, size_t id_len, uint64_t *ret_seq)
{
	struct confirm cf = { l, 0, {0} };
	struct idkey k = { tenant, tenant_len, id, id_len, 0 };
	uint64_t seq;
	int r;

	if (tenant_len == 0 || tenant_len > TENANT_NAME_MAX || id_len == 0 ||
	    id_len > EVENT_ID_MAX)
		return ST_ENOTFOUND;
	become_leader(l);
	idindex_fp(l->ids, &k);
	r = idindex_find(l->ids, &k, confirm_key, &cf, NULL, &seq);
	resign_leader(l);
	if (r == 1)
		*ret_seq = seq;
	return r == 1 ? 0 : r == 0 ? ST_ENOTFOUND : r;
}

/* ---- checkpoints ------------------------------------------------------------ */

static int checkpoint_issue(struct log *l, bool force)
{
	struct buf body = BUF_INIT(4096), note = BUF_INIT(NOTE_MAX_SIZE),
		   rec = BUF_INIT(NOTE_MAX_SIZE + 64), fr = BUF_INIT(NOTE_MAX_SIZE + 128);
	uint8_t root[HASH_SIZE], h[HASH_SIZE];
	char path[PATH_MAX];
	uint64_t size = l->size;
	int r;

	if (l->failed)
		return ST_ESTICKY;
	if (!force && l->cp_count && size == l->cp_size)
		return 0;
	/* L4: the tree files must be durable before anything commits to them. */
	if ((r = tree_sync(l->tree)) < 0) {
		l->failed = r;
		goto out;
	}
	if ((r = tree_root(l->tree, size, root)) < 0 ||
	    (r = checkpoint_format(l->meta.origin, size, root, &body)) < 0 ||
	    (r = note_sign(&l->signer, (const char *)body.data, body.len, &note)) < 0)
		goto out;
	if ((r = buf_append(&rec, l->cp_last, HASH_SIZE)) < 0 ||
	    (r = buf_append(&rec, note.data, note.len)) < 0 ||
	    (r = seg_frame_encode(rec.data, rec.len, &fr)) < 0)
		goto out;
	r = io_pwrite_all(l->cp_fd, fr.data, fr.len, (off_t)l->cp_off);
	if (r == 0)
		r = io_sync(l->cp_fd);
	if (r < 0) {
		l->failed = r;
		goto out;
	}
	sha256(rec.data, rec.len, h);
	l->cp_last_off = l->cp_off;
	l->cp_off += fr.len;
	l->cp_count++;
	{
		/* Derived: a failure here is repaired by the next open. */
		uint8_t ob[8];
		put_le64(ob, l->cp_last_off);
		(void)pwrite_all(l->cpi_fd, ob, 8, (off_t)((l->cp_count - 1) * 8));
	}
	memcpy(l->cp_last, h, HASH_SIZE);
	l->cp_size = size;
	buf_reset(&l->cp_note);
	if ((r = buf_append(&l->cp_note, note.data, note.len)) < 0)
		goto out;
	if ((r = path_in(path, sizeof(path), l->dir, "checkpoint")) < 0 ||
	    (r = write_file_atomic(path, note.data, note.len, 0644)) < 0 ||
	    (r = state_write(l)) < 0)
		goto out;
	ids_persist(l, false);
out:
	buf_release(&body);
	buf_release(&note);
	buf_release(&rec);
	buf_release(&fr);
	return r;
}

int log_checkpoint(struct log *l, bool force, struct buf *out)
{
	int r;
	become_leader(l);
	r = checkpoint_issue(l, force);
	if (r == 0 && out)
		r = buf_append(out, l->cp_note.data, l->cp_note.len);
	resign_leader(l);
	return r;
}

/* Reads history record i through the index: appends its note to out (if
 * not NULL) and stores its tree size. ST_ECORRUPT when the index does not
 * lead to a whole record. */
static int cp_record(struct log *l, uint64_t i, struct buf *out, uint64_t *ret_size)
{
	uint8_t ob[8], hdr[SEG_FRAME_HDR];
	struct buf rec = BUF_INIT(NOTE_MAX_SIZE + CP_PREV_LEN);
	struct checkpoint cp;
	uint64_t off;
	uint32_t len;
	int r;

	if ((r = pread_all(l->cpi_fd, ob, 8, (off_t)(i * 8))) < 0)
		return ST_ECORRUPT;
	off = get_le64(ob);
	if (pread_all(l->cp_fd, hdr, sizeof(hdr), (off_t)off) < 0)
		return ST_ECORRUPT;
	len = get_le32(hdr);
	if (len < CP_PREV_LEN || len > NOTE_MAX_SIZE + CP_PREV_LEN ||
	    buf_reserve(&rec, len) < 0 ||
	    pread_all(l->cp_fd, rec.data, len, (off_t)(off + SEG_FRAME_HDR)) < 0 ||
	    crc32c(crc32c(0, hdr, 4), rec.data, len) != get_le32(hdr + 4)) {
		r = ST_ECORRUPT;
		goto out;
	}
	/* Our own history: the body is the text before the blank line. */
	const char *t = (const char *)rec.data + CP_PREV_LEN;
	const char *sep = memmem(t, len - CP_PREV_LEN, "\n\n", 2);
	if (!sep || checkpoint_parse(t, (size_t)(sep - t) + 1, &cp) < 0) {
		r = ST_ECORRUPT;
		goto out;
	}
	*ret_size = cp.size;
	r = out ? buf_append(out, t, len - CP_PREV_LEN) : 0;
out:
	buf_release(&rec);
	return r;
}

uint64_t log_checkpoint_count(struct log *l)
{
	uint64_t n;
	become_leader(l);
	n = l->cp_count;
	resign_leader(l);
	return n;
}

int log_read_checkpoint_at(struct log *l, uint64_t i, struct buf *out)
{
	uint64_t size;
	int r;

	become_leader(l);
	r = i >= l->cp_count ? ST_ERANGE : cp_record(l, i, out, &size);
	resign_leader(l);
	return r;
}

int log_read_checkpoint(struct log *l, uint64_t size, struct buf *out)
{
	int r = 0;

	become_leader(l);
	if (size == 0 || size == l->cp_size) {
		r = l->cp_count ? buf_append(out, l->cp_note.data, l->cp_note.len)
				: ST_ENOTFOUND;
		goto out;
	}
	/* Sizes never decrease along the history: binary search for the last
	 * record whose size is <= size, then check it is exactly size. */
	uint64_t lo = 0, hi = l->cp_count, got;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((r = cp_record(l, mid, NULL, &got)) < 0)
			goto out;
		if (got <= size)
			lo = mid + 1;
		else
			hi = mid;
	}
	r = ST_ENOTFOUND;
	if (lo > 0 && cp_record(l, lo - 1, NULL, &got) == 0 && got == size)
		r = cp_record(l, lo - 1, out, &got);
out:
	resign_leader(l);
	return r;
}

/* ---- reads ----------------------------------------------------------------- */

uint64_t log_size(struct log *l)
{
	return __atomic_load_n(&l->size, __ATOMIC_ACQUIRE);
}

const char *log_origin(struct log *l)
{
	return l->meta.origin;
}

const struct event_limits *log_limits(struct log *l)
{
	return &l->meta.limits;
}

struct tree *log_tree(struct log *l)
{
	return l->tree;
}

/* Finds the segment holding seq and makes sure its fds are open. */
static int reader_for(struct log *l, uint64_t seq, int *ret_fd, int *ret_idx,
		      uint64_t *ret_first)
{
	int r = 0;
	pthread_rwlock_rdlock(&l->segs_lock);
	size_t lo = 0, hi = l->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->readers[mid].first <= seq)
			lo = mid;
		else
			hi = mid;
	}
	struct seg_reader *s = &l->readers[lo];
	if (__atomic_load_n(&s->fd, __ATOMIC_ACQUIRE) < 0 ||
	    __atomic_load_n(&s->idx_fd, __ATOMIC_ACQUIRE) < 0) {
		/* Opening is idempotent; a racing reader may open twice, the
		 * compare-and-swap keeps one and closes the other. */
		char path[PATH_MAX];
		int fd = -1, ifd = -1, expect = -1;
		if (seg_path(path, sizeof(path), l->dir, s->first, "seg") == 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (seg_path(path, sizeof(path), l->dir, s->first, "idx") == 0)
			ifd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || ifd < 0) {
			r = -errno;
			if (fd >= 0) close(fd);
			if (ifd >= 0) close(ifd);
			goto out;
		}
		if (!__atomic_compare_exchange_n(&s->fd, &expect, fd, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			close(fd);
		expect = -1;
		if (!__atomic_compare_exchange_n(&s->idx_fd, &expect, ifd, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			close(ifd);
	}
	*ret_fd = __atomic_load_n(&s->fd, __ATOMIC_ACQUIRE);
	*ret_idx = __atomic_load_n(&s->idx_fd, __ATOMIC_ACQUIRE);
	*ret_first = s->first;
out:
	pthread_rwlock_unlock(&l->segs_lock);
	return r;
}

int log_read_entry(struct log *l, uint64_t seq, struct buf *out)
{
	uint8_t ob[8], hdr[SEG_FRAME_HDR];
	uint64_t first, off;
	uint32_t len;
	int fd, ifd, r;

	if (seq >= log_size(l))
		return ST_ERANGE;
	if ((r = reader_for(l, seq, &fd, &ifd, &first)) < 0)
		return r;
	if ((r = pread_all(ifd, ob, 8, (off_t)((seq - first) * 8))) < 0)
		return r == -ENODATA ? ST_ECORRUPT : r;
	off = get_le64(ob);
	if ((r = pread_all(fd, hdr, SEG_FRAME_HDR, (off_t)off)) < 0)
		return r == -ENODATA ? ST_ECORRUPT : r;
	len = get_le32(hdr);
	if (len > SEG_FRAME_MAX)
		return ST_ECORRUPT;
	size_t start = out->len;
	if ((r = buf_reserve(out, len)) < 0)
		return r;
	if ((r = pread_all(fd, out->data + start, len, (off_t)(off + SEG_FRAME_HDR))) < 0)
		return r == -ENODATA ? ST_ECORRUPT : r;
	if (crc32c(crc32c(0, hdr, 4), out->data + start, len) != get_le32(hdr + 4))
		return ST_ECORRUPT;
	out->len += len;
	return 0;
}

int64_t log_read_run(struct log *l, uint64_t seq, uint64_t max, size_t window,
		     struct buf *scratch, log_entry_fn fn, void *ctx)
{
	uint8_t ob[8];
	uint64_t first, off, size = log_size(l);
	int fd, ifd, r;
	int64_t done = 0;

	if (seq >= size)
		return ST_ERANGE;
	if (max > size - seq)
		max = size - seq;
	if ((r = reader_for(l, seq, &fd, &ifd, &first)) < 0)
		return r;
	if ((r = pread_all(ifd, ob, 8, (off_t)((seq - first) * 8))) < 0)
		return r == -ENODATA ? ST_ECORRUPT : r;
	off = get_le64(ob);
	if (window < SEG_FRAME_HDR + 4096)
		window = SEG_FRAME_HDR + 4096;
	buf_reset(scratch);
	if ((r = buf_reserve(scratch, window)) < 0)
		return r;
	/* Bytes past the segment's end or past log_size are never passed on:
	 * a short read ends the run, and max counts only durable entries. */
	ssize_t got = pread(fd, scratch->data, window, (off_t)off);
	if (got < 0)
		return -errno;
	size_t have = (size_t)got, pos = 0;
	while ((uint64_t)done < max) {
		uint32_t len;
		int c = seg_frame_check(scratch->data + pos, have - pos, &len);
		if (c < 0)
			return c;
		if (c == 0) {
			if (done > 0)
				break;
			/* The first entry is bigger than the window: read it alone. */
			if (have - pos < SEG_FRAME_HDR)
				return ST_ECORRUPT;
			uint32_t need = get_le32(scratch->data + pos);
			if (need > SEG_FRAME_MAX)
				return ST_ECORRUPT;
			if ((r = buf_reserve(scratch, SEG_FRAME_HDR + need)) < 0)
				return r;
			if ((r = pread_all(fd, scratch->data, SEG_FRAME_HDR + need, (off_t)off)) < 0)
				return r == -ENODATA ? ST_ECORRUPT : r;
			have = SEG_FRAME_HDR + need;
			pos = 0;
			continue;
		}
		if ((r = fn(ctx, seq + (uint64_t)done, scratch->data + pos + SEG_FRAME_HDR, len)) != 0)
			return r;
		pos += SEG_FRAME_HDR + len;
		done++;
	}
	return done;
}

int log_read_tile(struct log *l, const struct tile_ref *t, struct buf *out)
{
	if (t->level >= 0)
		return tree_read_tile(l->tree, (unsigned)t->level, t->index, t->width, out);
	/* Entry bundle: big-endian u16 length + entry, for each entry. */
	uint64_t first = t->index * TILE_WIDTH, size = log_size(l);
	if (first + t->width > size || t->width == 0 || t->width > TILE_WIDTH)
		return ST_ERANGE;
	size_t start = out->len;
	struct buf e = BUF_INIT(SEG_FRAME_MAX);
	int r = 0;
	for (unsigned i = 0; i < t->width && r == 0; i++) {
		buf_reset(&e);
		r = log_read_entry(l, first + i, &e);
		if (r == 0 && e.len > 0xffff)
			r = ST_ELIMIT;
		if (r == 0) {
			uint8_t lb[2];
			put_be16(lb, (uint16_t)e.len);
			r = buf_append(out, lb, 2);
			if (r == 0)
				r = buf_append(out, e.data, e.len);
		}
	}
	buf_release(&e);
	if (r < 0)
		out->len = start;
	return r;
}

/* ---- key rotation ------------------------------------------------------------ */

int log_key_rotate(struct log *l, struct buf *ret_vkey)
{
	struct note_key k;
	int r;

	become_leader(l);
	if (l->failed) {
		r = ST_ESTICKY;
		goto out;
	}
	if ((r = note_key_generate(l->meta.origin, &k)) < 0)
		goto out;
	/* Publish the verifier key before signing anything with it. */
	if ((r = append_public_key(l->dir, &k)) < 0 || (r = write_signer(l->dir, &k)) < 0)
		goto wipe;
	struct note_key *np = realloc(l->pubkeys, (l->npub + 1) * sizeof(*np));
	if (!np) {
		r = -ENOMEM;
		goto wipe;
	}
	l->pubkeys = np;
	l->pubkeys[l->npub] = k;
	st_wipe(l->pubkeys[l->npub].sec, sizeof(k.sec));
	l->pubkeys[l->npub].has_secret = false;
	l->npub++;
	note_key_clear(&l->signer);
	l->signer = k;
	if (ret_vkey)
		r = note_vkey_format(&k, ret_vkey);
wipe:
	note_key_clear(&k);
out:
	resign_leader(l);
	return r;
}

/* ---- init ------------------------------------------------------------------ */

int log_init(const char *dir, const struct log_init_options *opt,
	     struct buf *ret_vkey, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct log_meta m;
	struct note_key k;
	struct log *l = NULL;
	struct stat st;
	int r, fd;

	memset(&m, 0, sizeof(m));
	memset(&k, 0, sizeof(k));
	if (opt && opt->origin) {
		size_t n = strlen(opt->origin);
		if (!note_name_valid(opt->origin, n) || n > LOG_ORIGIN_MAX) {
			st_fail(err, errcap, "origin \"%s\" is not a valid key name "
			       "(1-255 bytes, no spaces or '+')", opt->origin);
			return ST_EINVAL;
		}
		memcpy(m.origin, opt->origin, n + 1);
	} else {
		char host[64] = "localhost";
		uint8_t rnd[4];
		char hex[9];
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = 0;
		for (char *c = host; *c; c++)
			if (*c == ' ' || *c == '+' || (unsigned char)*c < 0x21)
				*c = '-';
		if ((r = random_bytes(rnd, sizeof(rnd))) < 0)
			return r;
		hex_encode(rnd, sizeof(rnd), hex);
		snprintf(m.origin, sizeof(m.origin), "sealtrail/%s/%s", host, hex);
	}
	m.segment_max = opt && opt->segment_max ? opt->segment_max : LOG_DEFAULT_SEGMENT_MAX;
	m.max_tenants = opt && opt->max_tenants ? opt->max_tenants : LOG_DEFAULT_MAX_TENANTS;
	if (opt && opt->limits)
		m.limits = *opt->limits;
	else
		event_limits_default(&m.limits);
	if (m.limits.max_entry > 0xffff) {
		st_fail(err, errcap, "max_entry %zu is over 65535, the largest entry "
		       "a tlog-tiles entry bundle can carry", m.limits.max_entry);
		return ST_EINVAL;
	}
	if (m.segment_max < 4096) {
		st_fail(err, errcap, "segment size %llu is under the 4096-byte minimum",
		       (unsigned long long)m.segment_max);
		return ST_EINVAL;
	}

	if ((r = mkdir_p(dir, 0755)) < 0) {
		st_fail(err, errcap, "%s: %s", dir, st_strerror(r));
		return r;
	}
	if ((r = path_in(path, sizeof(path), dir, "meta")) < 0)
		return r;
	if (stat(path, &st) == 0) {
		st_fail(err, errcap, "%s already holds a log", dir);
		return ST_EEXIST;
	}
	const char *sub[] = { "segments", "tree", "keys" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		if ((r = path_in(path, sizeof(path), dir, sub[i])) < 0 ||
		    (r = mkdir_p(path, i == 2 ? 0700 : 0755)) < 0) {
			st_fail(err, errcap, "%s: %s", path, st_strerror(r));
			return r;
		}
	}
	if ((r = note_key_generate(m.origin, &k)) < 0 ||
	    (r = write_signer(dir, &k)) < 0 ||
	    (r = append_public_key(dir, &k)) < 0) {
		st_fail(err, errcap, "cannot create the signing key: %s", st_strerror(r));
		goto out;
	}
	/* Empty history and first segment, then meta last: meta marks a
	 * complete init. */
	if ((r = path_in(path, sizeof(path), dir, "checkpoints")) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	close(fd);
	if ((r = meta_write(dir, &m)) < 0) {
		st_fail(err, errcap, "cannot write meta: %s", st_strerror(r));
		goto out;
	}
	if ((r = log_open(&l, dir, err, errcap)) < 0)
		goto out;
	if ((r = log_checkpoint(l, true, NULL)) < 0) {
		st_fail(err, errcap, "cannot issue the first checkpoint: %s", st_strerror(r));
		goto out;
	}
	if (ret_vkey)
		r = note_vkey_format(&k, ret_vkey);
out:
	log_close(l);
	note_key_clear(&k);
	return r;
}

/* ---- open and recovery ---------------------------------------------------------- */

/* Maps segment `first`, checks its header against this log, and scans its
 * frames (seg_scan). On success *ret_offs holds the count frame offsets,
 * already encoded as the index's little-endian u64s, *ret_end the end of
 * the last whole frame and *ret_size the file size. ST_ECORRUPT (with err
 * set) when the header is wrong or a damaged frame is followed by valid
 * ones. */
static int scan_segment(struct log *l, const char *path, uint64_t first,
			uint64_t **ret_offs, uint64_t *ret_count, size_t *ret_end,
			size_t *ret_size, char *err, size_t errcap)
{
	const uint8_t *p = NULL;
	struct seg_header h;
	const char *why = NULL;
	uint64_t *offs = NULL, count = 0;
	size_t n = 0, end = 0;
	int r;

	if ((r = map_file(path, &p, &n)) < 0) {
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	if ((r = seg_header_decode(p, n, &h, &why)) < 0) {
		st_fail(err, errcap, "%s: %s", path, why);
		goto out;
	}
	if (h.first_seq != first || strcmp(h.origin, l->meta.origin)) {
		st_fail(err, errcap, "%s: header names seq %llu of origin \"%s\"; "
		       "this log is \"%s\"", path, (unsigned long long)h.first_seq,
		       h.origin, l->meta.origin);
		r = ST_ECORRUPT;
		goto out;
	}
	offs = malloc((n / SEG_FRAME_HDR + 1) * sizeof(uint64_t));
	if (!offs) {
		r = -ENOMEM;
		goto out;
	}
	r = seg_scan(p, n, h.size, offs, n / SEG_FRAME_HDR + 1, &count, &end);
	if (r < 0) {
		st_fail(err, errcap, "%s: byte %zu: a damaged frame is followed by valid "
		       "frames; refusing to truncate (run sealtrail verify)", path, end);
		goto out;
	}
	for (uint64_t k = 0; k < count; k++)
		put_le64((uint8_t *)&offs[k], offs[k]);
	*ret_offs = offs;
	offs = NULL;
	*ret_count = count;
	*ret_end = end;
	*ret_size = n;
out:
	free(offs);
	unmap_file(p, n);
	return r;
}

static int open_sealed(struct log *l, size_t i, uint64_t expect_first,
		       uint64_t *ret_count, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t first = l->readers[i].first;

	if (first != expect_first) {
		st_fail(err, errcap, "segment %020llu.seg: expected it to start at seq %llu",
		       (unsigned long long)first, (unsigned long long)expect_first);
		return ST_ECORRUPT;
	}
	if (seg_path(path, sizeof(path), l->dir, first, "idx") == 0 &&
	    stat(path, &st) == 0 && st.st_size % 8 == 0 && st.st_size > 0) {
		*ret_count = (uint64_t)st.st_size / 8;
		return 0;
	}
	/* Index missing or damaged: rebuild it from the frames. */
	uint64_t *offs = NULL, count = 0;
	size_t end = 0, size = 0;
	int r;

	seg_path(path, sizeof(path), l->dir, first, "seg");
	if ((r = scan_segment(l, path, first, &offs, &count, &end, &size, err, errcap)) < 0)
		return r;
	if (end != size) {
		st_fail(err, errcap, "%s: byte %zu: sealed segment ends in a damaged frame",
		       path, end);
		free(offs);
		return ST_ECORRUPT;
	}
	seg_path(path, sizeof(path), l->dir, first, "idx");
	r = write_file_atomic(path, offs, (size_t)count * 8, 0644);
	free(offs);
	*ret_count = count;
	return r;
}

/* Fast path of open_active after a clean close: the state says `clean`
 * entries exist, the index holds exactly the active segment's share, and
 * the last indexed frame is whole, passes its CRC and ends the file. Then
 * nothing can be torn and the segment need not be scanned (a damaged
 * middle is verify's business, not a crash's). Returns true when it
 * adopted the segment. */
static bool open_active_fast(struct log *l, uint64_t first, uint64_t clean,
			     const char *path, const char *ipath)
{
	uint8_t hb[SEG_HDR_FIXED + 256 + 4], ob[8], fh[SEG_FRAME_HDR];
	struct seg_header h;
	const char *why;
	struct stat st, ist;
	struct buf e = BUF_INIT(SEG_FRAME_MAX);
	int fd = -1, ifd = -1;
	bool ok = false;

	if (clean == UINT64_MAX || clean < first)
		return false;
	fd = open(path, O_RDWR | O_CLOEXEC);
	ifd = open(ipath, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ifd < 0 || fstat(fd, &st) < 0 || fstat(ifd, &ist) < 0)
		goto out;
	if ((uint64_t)ist.st_size != (clean - first) * 8)
		goto out;
	size_t hn = (size_t)st.st_size < sizeof(hb) ? (size_t)st.st_size : sizeof(hb);
	if (pread_all(fd, hb, hn, 0) < 0 || seg_header_decode(hb, hn, &h, &why) < 0 ||
	    h.first_seq != first || strcmp(h.origin, l->meta.origin))
		goto out;
	uint64_t end = h.size;
	if (clean > first) {
		uint64_t off;
		uint32_t len;
		if (pread_all(ifd, ob, 8, (off_t)((clean - first - 1) * 8)) < 0)
			goto out;
		off = get_le64(ob);
		if (pread_all(fd, fh, SEG_FRAME_HDR, (off_t)off) < 0)
			goto out;
		len = get_le32(fh);
		if (len > SEG_FRAME_MAX || buf_reserve(&e, len) < 0 ||
		    pread_all(fd, e.data, len, (off_t)(off + SEG_FRAME_HDR)) < 0 ||
		    crc32c(crc32c(0, fh, 4), e.data, len) != get_le32(fh + 4))
			goto out;
		end = off + SEG_FRAME_HDR + len;
	}
	if (end != (uint64_t)st.st_size)
		goto out;
	ok = adopt_active(l, &fd, &ifd, first, end, clean) == 0;
out:
	if (fd >= 0)
		close(fd);
	if (ifd >= 0)
		close(ifd);
	buf_release(&e);
	return ok;
}

static int open_active(struct log *l, uint64_t expect_first, uint64_t clean,
		       char *err, size_t errcap)
{
	char path[PATH_MAX], ipath[PATH_MAX];
	struct seg_header h;
	const char *why = NULL;
	uint64_t first = l->readers[l->nsegs - 1].first, count = 0;
	uint64_t *offs = NULL;
	size_t end = 0;
	int r, fd = -1, ifd = -1;

	seg_path(path, sizeof(path), l->dir, first, "seg");
	seg_path(ipath, sizeof(ipath), l->dir, first, "idx");
	if (first != expect_first) {
		st_fail(err, errcap, "%s: expected it to start at seq %llu", path,
		       (unsigned long long)expect_first);
		return ST_ECORRUPT;
	}
	if (open_active_fast(l, first, clean, path, ipath))
		return 0;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		goto out;
	}
	/* Whatever the page cache holds must be on disk before we trust it
	 * (a crash may have left written-but-unsynced frames). */
	if (fdatasync(fd) < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: fdatasync: %s", path, st_strerror(r));
		goto out;
	}
	struct stat st;
	uint8_t hb0[SEG_HDR_FIXED + LOG_ORIGIN_MAX + 4];
	size_t hlen = SEG_HDR_FIXED + strlen(l->meta.origin) + 4, size = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)st.st_size <= hlen &&
	    (pread_all(fd, hb0, (size_t)st.st_size, 0) < 0 ||
	     seg_header_decode(hb0, (size_t)st.st_size, &h, &why) < 0)) {
		/* A crash inside segment_create(), before its header was synced:
		 * no frame can be there. Write the header again. */
		struct buf hb = BUF_INIT(1024);
		r = make_header(l, first, &hb);
		if (r == 0 && (ftruncate(fd, 0) < 0 || pwrite_all(fd, hb.data, hb.len, 0) < 0 ||
			       fdatasync(fd) < 0))
			r = -errno;
		buf_release(&hb);
		if (r < 0) {
			st_fail(err, errcap, "%s: rewriting an unfinished header: %s", path,
			       st_strerror(r));
			goto out;
		}
	}
	if ((r = scan_segment(l, path, first, &offs, &count, &end, &size, err, errcap)) < 0)
		goto out;
	/* A torn tail is dropped only at the end of log_open, after the state
	 * and the checkpoints have shown that no acknowledged entry is in it
	 * (a damaged last frame that was acknowledged must stop the open,
	 * never be truncated away). */
	if (clean != UINT64_MAX && first + count < clean) {
		st_fail(err, errcap, "%s: byte %zu: damaged frame at seq %llu, but the "
		       "state records %llu acknowledged entries; refusing to truncate "
		       "(run sealtrail verify)", path, end,
		       (unsigned long long)(first + count), (unsigned long long)clean);
		r = ST_ECORRUPT;
		goto out;
	}
	l->torn_bytes = size - end;
	/* Rewrite the index of the active segment from the scan. */
	ifd = open(ipath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ifd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = pwrite_all(ifd, offs, (size_t)count * 8, 0)) < 0)
		goto out;
	r = adopt_active(l, &fd, &ifd, first, end, first + count);
out:
	free(offs);
	if (fd >= 0)
		close(fd);
	if (ifd >= 0)
		close(ifd);
	return r;
}

/* Replays entries [from, l->size): checks each stored entry, updates the
 * tenant chains for seq >= tenants_from and the tree for seq >= tree_from. */
static int replay(struct log *l, uint64_t from, uint64_t tenants_from,
		  uint64_t tree_from, char *err, size_t errcap)
{
	struct buf e = BUF_INIT(SEG_FRAME_MAX);
	uint8_t (*leaves)[HASH_SIZE] = malloc(TREE_CHUNK * HASH_SIZE);
	size_t nl = 0;
	int r = 0;

	if (!leaves)
		return -ENOMEM;
	for (uint64_t seq = from; seq < l->size; seq++) {
		struct stored_info si;
		struct event_error ee;
		uint8_t leaf[HASH_SIZE];

		buf_reset(&e);
		if ((r = log_read_entry(l, seq, &e)) < 0) {
			st_fail(err, errcap, "seq %llu: cannot read entry: %s",
			       (unsigned long long)seq, st_strerror(r));
			goto out;
		}
		r = event_parse_stored(e.data, e.len, &l->meta.limits, &si, &ee);
		if (r < 0) {
			char m[400];
			event_error_format(&ee, m, sizeof(m));
			st_fail(err, errcap, "seq %llu: stored entry: %s", (unsigned long long)seq, m);
			goto out;
		}
		if (si.seq != seq) {
			st_fail(err, errcap, "seq %llu: entry says seq %llu",
			       (unsigned long long)seq, (unsigned long long)si.seq);
			r = ST_ECORRUPT;
			goto out;
		}
		hash_leaf(e.data, e.len, leaf);
		if (seq >= tenants_from) {
			int terr = 0;
			struct tenant *t = tenants_get(&l->tenants, si.tenant, si.tenant_len, &terr);
			if (!t) {
				st_fail(err, errcap, "seq %llu: tenant table: %s",
				       (unsigned long long)seq, st_strerror(terr));
				r = terr;
				goto out;
			}
			if (si.tseq != t->tseq + 1 || memcmp(si.tprev, t->last, HASH_SIZE)) {
				st_fail(err, errcap, "seq %llu: tenant \"%.*s\" chain broken "
				       "(tseq %llu after %llu)", (unsigned long long)seq,
				       (int)si.tenant_len, si.tenant,
				       (unsigned long long)si.tseq, (unsigned long long)t->tseq);
				r = ST_ECORRUPT;
				goto out;
			}
			t->tseq = si.tseq;
			memcpy(t->last, leaf, HASH_SIZE);
		}
		if (si.received_ns > l->last_received_ns)
			l->last_received_ns = si.received_ns;
		if (seq >= tree_from) {
			memcpy(leaves[nl++], leaf, HASH_SIZE);
			if (nl == TREE_CHUNK) {
				if ((r = tree_append(l->tree, (const uint8_t(*)[HASH_SIZE])leaves, nl)) < 0)
					goto out;
				nl = 0;
			}
		}
	}
	if (nl)
		r = tree_append(l->tree, (const uint8_t(*)[HASH_SIZE])leaves, nl);
out:
	free(leaves);
	buf_release(&e);
	return r;
}

/* Scans the checkpoint history; truncates a torn tail; checks it against
 * the state snapshot (L4); loads the last note. */
/* Brings checkpoints.idx (one u64 offset per history record; derived) in
 * line with the history's count records whose last starts at last_off:
 * trusted when its length and last entry agree, completed when only the
 * last entry is missing (a crash after the history append), rebuilt from
 * the mapped history p[0..n) otherwise. */
static int open_history_index(struct log *l, const uint8_t *p, size_t n,
			      uint64_t count, uint64_t last_off, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t ob[8];
	int r = 0;

	path_in(path, sizeof(path), l->dir, "checkpoints.idx");
	l->cpi_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->cpi_fd < 0 || fstat(l->cpi_fd, &st) < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	uint64_t have = (uint64_t)st.st_size / 8;
	if (count == 0)
		return ftruncate(l->cpi_fd, 0) < 0 ? -errno : 0;
	if (have >= count && pread_all(l->cpi_fd, ob, 8, (off_t)((count - 1) * 8)) == 0 &&
	    get_le64(ob) == last_off)
		return (uint64_t)st.st_size == count * 8 ? 0 :
		       (ftruncate(l->cpi_fd, (off_t)(count * 8)) < 0 ? -errno : 0);
	if (have == count - 1 && (count == 1 ||
	    (pread_all(l->cpi_fd, ob, 8, (off_t)((count - 2) * 8)) == 0 &&
	     get_le64(ob) < last_off))) {
		put_le64(ob, last_off);
		return pwrite_all(l->cpi_fd, ob, 8, (off_t)((count - 1) * 8));
	}
	/* Rebuild: walk every frame of the history. */
	size_t cap = (size_t)count * 8, off = 0;
	uint8_t *all = malloc(cap ? cap : 8);
	uint64_t k = 0;
	uint32_t len;
	if (!all)
		return -ENOMEM;
	while (off < n && k < count && seg_frame_check(p + off, n - off, &len) == 1) {
		put_le64(all + 8 * k++, off);
		off += SEG_FRAME_HDR + len;
	}
	if (k != count) {
		r = ST_ECORRUPT;
		st_fail(err, errcap, "%s: rebuilding: found %llu records, expected %llu",
		       path, (unsigned long long)k, (unsigned long long)count);
	} else if ((r = pwrite_all(l->cpi_fd, all, cap, 0)) == 0 &&
		   ftruncate(l->cpi_fd, (off_t)cap) < 0) {
		r = -errno;
	}
	free(all);
	return r;
}

static int open_history(struct log *l, const struct state *s, char *err, size_t errcap)
{
	char path[PATH_MAX];
	const uint8_t *p = NULL;
	size_t n = 0;
	uint8_t prev[HASH_SIZE] = {0}, at_state[HASH_SIZE] = {0};
	size_t off = 0, last_off = 0;
	uint64_t count = 0;
	uint32_t len;
	int r;

	path_in(path, sizeof(path), l->dir, "checkpoints");
	l->cp_fd = open(path, O_RDWR | O_CLOEXEC);
	if (l->cp_fd < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	if ((r = map_file(path, &p, &n)) < 0)
		goto out;
	/* Start at the last record the state knows, if it is there and is the
	 * one the state names: the history grows by a record a second, and an
	 * open must not read years of it. Otherwise scan from the start. */
	if (s->present && s->cp_count && s->cp_last_off < n &&
	    seg_frame_check(p + s->cp_last_off, n - s->cp_last_off, &len) == 1 &&
	    len >= CP_PREV_LEN) {
		uint8_t h[HASH_SIZE];
		sha256(p + s->cp_last_off + SEG_FRAME_HDR, len, h);
		if (!memcmp(h, s->cp_last, HASH_SIZE)) {
			memcpy(prev, s->cp_last, HASH_SIZE);
			memcpy(at_state, s->cp_last, HASH_SIZE);
			count = s->cp_count;
			last_off = s->cp_last_off;
			off = s->cp_last_off + SEG_FRAME_HDR + len;
			buf_reset(&l->cp_note);
			if ((r = buf_append(&l->cp_note, p + last_off + SEG_FRAME_HDR + CP_PREV_LEN,
					    len - CP_PREV_LEN)) < 0)
				goto out;
		}
	}
	while (off < n) {
		int c = seg_frame_check(p + off, n - off, &len);
		if (c <= 0 || len < CP_PREV_LEN)
			break;
		const uint8_t *rec = p + off + SEG_FRAME_HDR;
		if (memcmp(rec, prev, HASH_SIZE)) {
			st_fail(err, errcap, "%s: checkpoint %llu (byte %zu) does not chain "
			       "to the one before it", path, (unsigned long long)count, off);
			r = ST_ECORRUPT;
			goto out;
		}
		sha256(rec, len, prev);
		count++;
		if (count == s->cp_count)
			memcpy(at_state, prev, HASH_SIZE);
		buf_reset(&l->cp_note);
		if ((r = buf_append(&l->cp_note, rec + CP_PREV_LEN, len - CP_PREV_LEN)) < 0)
			goto out;
		last_off = off;
		off += SEG_FRAME_HDR + len;
	}
	if (off < n) {
		/* torn tail of an unfinished checkpoint: never returned to anyone */
		if (ftruncate(l->cp_fd, (off_t)off) < 0 || fdatasync(l->cp_fd) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (s->present && (count < s->cp_count ||
			   (s->cp_count && memcmp(at_state, s->cp_last, HASH_SIZE)))) {
		st_fail(err, errcap, "%s: checkpoint history rolled back: the state "
		       "records %llu checkpoints, the history holds %llu%s", path,
		       (unsigned long long)s->cp_count, (unsigned long long)count,
		       count >= s->cp_count ? " with a different last one" : "");
		r = ST_ECORRUPT;
		goto out;
	}
	l->cp_last_off = last_off;
	if ((r = open_history_index(l, p, n, count, last_off, err, errcap)) < 0)
		goto out;
	l->cp_off = off;
	l->cp_count = count;
	memcpy(l->cp_last, prev, HASH_SIZE);
	if (count) {
		struct note_opened no;
		struct checkpoint cp;
		uint8_t root[HASH_SIZE];
		r = note_open(l->cp_note.data, l->cp_note.len, l->pubkeys, l->npub, &no);
		if (r == 0)
			r = checkpoint_parse(no.text, no.text_len, &cp);
		if (r < 0) {
			st_fail(err, errcap, "%s: last checkpoint does not verify: %s", path,
			       st_strerror(r));
			goto out;
		}
		if (cp.origin_len != strlen(l->meta.origin) ||
		    memcmp(cp.origin, l->meta.origin, cp.origin_len)) {
			st_fail(err, errcap, "%s: last checkpoint is for another origin", path);
			r = ST_ECORRUPT;
			goto out;
		}
		if (cp.size > l->size) {
			st_fail(err, errcap, "last checkpoint covers %llu entries but the log "
			       "holds %llu: acknowledged entries are missing",
			       (unsigned long long)cp.size, (unsigned long long)l->size);
			r = ST_ECORRUPT;
			goto out;
		}
		l->cp_size = cp.size;
		/* A crash between the history append and the copy leaves an old
		 * `checkpoint`: bring it up to date. */
		struct buf cur = BUF_INIT(NOTE_MAX_SIZE);
		char cpath[PATH_MAX];
		path_in(cpath, sizeof(cpath), l->dir, "checkpoint");
		if (read_file(cpath, NOTE_MAX_SIZE, &cur) < 0 || cur.len != l->cp_note.len ||
		    memcmp(cur.data, l->cp_note.data, cur.len))
			r = write_file_atomic(cpath, l->cp_note.data, l->cp_note.len, 0644);
		buf_release(&cur);
		if (r < 0) {
			st_fail(err, errcap, "%s: %s", cpath, st_strerror(r));
			goto out;
		}
		if ((r = tree_root(l->tree, cp.size, root)) < 0)
			goto out;
		if (memcmp(root, cp.root, HASH_SIZE)) {
			/* The derived tree disagrees: rebuild it from the entries. */
			if ((r = tree_truncate(l->tree, 0)) < 0 ||
			    (r = replay(l, 0, UINT64_MAX, 0, err, errcap)) < 0 ||
			    (r = tree_root(l->tree, cp.size, root)) < 0)
				goto out;
			if (memcmp(root, cp.root, HASH_SIZE)) {
				st_fail(err, errcap, "the entries do not match the last checkpoint "
				       "(size %llu); run sealtrail verify",
				       (unsigned long long)cp.size);
				r = ST_ECORRUPT;
				goto out;
			}
		}
	}
out:
	unmap_file(p, n);
	return r;
}

int log_open(struct log **ret, const char *dir, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct seg_list sl = { NULL, 0 };
	struct state st;
	struct log *l;
	int r;

	if (strlen(dir) >= sizeof(l->dir) - 64)
		return -ENAMETOOLONG;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	strcpy(l->dir, dir);
	l->lock_fd = l->seg_fd = l->idx_fd = l->cp_fd = l->seg_dfd = l->cpi_fd = -1;
	/* Segment writes bypass the page cache unless the operator says not
	 * to (docs/DECISIONS.md); the test suite runs both ways. */
	const char *dio = getenv("SEALTRAIL_DIRECT_IO");
	l->direct_io = !(dio && !strcmp(dio, "0"));
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_rwlock_init(&l->segs_lock, NULL);
	{
		void *wb = NULL;
		if (posix_memalign(&wb, DIRECT_ALIGN, WBUF_CAP) != 0) {
			free(l);
			return -ENOMEM;
		}
		l->wbuf.data = wb;
		l->wbuf.len = 0;
		l->wbuf.cap = l->wbuf.max = WBUF_CAP;
	}
	buf_init(&l->cp_note, NOTE_MAX_SIZE);
	buf_init(&l->cbuf, SEG_FRAME_MAX);

	if ((r = log_meta_read(dir, &l->meta, err, errcap)) < 0)
		goto fail;
	tenants_init(&l->tenants, l->meta.max_tenants);
	path_in(path, sizeof(path), dir, "lock");
	l->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->lock_fd < 0 || flock(l->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, r == -EWOULDBLOCK ?
		       "the log is open in another process" : st_strerror(r));
		goto fail;
	}
	if ((r = keys_load(l, err, errcap)) < 0)
		goto fail;
	if ((r = state_read(l, &st)) < 0)
		goto fail;
	if ((r = seg_list_load(dir, &sl)) < 0) {
		st_fail(err, errcap, "%s/segments: %s", dir, st_strerror(r));
		goto fail;
	}
	for (size_t i = 0; i < sl.n; i++)
		if ((r = readers_add(l, sl.first[i])) < 0)
			goto fail;
	if (sl.n == 0) {
		if ((r = segment_create(l, 0)) < 0) {
			st_fail(err, errcap, "cannot create the first segment: %s", st_strerror(r));
			goto fail;
		}
	} else {
		uint64_t next = 0, count;
		for (size_t i = 0; i + 1 < l->nsegs; i++) {
			if ((r = open_sealed(l, i, next, &count, err, errcap)) < 0)
				goto fail;
			next += count;
		}
		if ((r = open_active(l, next, st.present ? st.size : UINT64_MAX,
				       err, errcap)) < 0)
			goto fail;
	}

	if (st.size > l->size) {
		st_fail(err, errcap, "the state records %llu entries but the segments "
		       "hold %llu: acknowledged entries are missing",
		       (unsigned long long)st.size, (unsigned long long)l->size);
		r = ST_ECORRUPT;
		goto fail;
	}
	if (!st.present)
		st.size = 0;
	l->last_received_ns = st.last_received_ns;

	path_in(path, sizeof(path), dir, "tree");
	if ((r = tree_open(&l->tree, path)) < 0) {
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		goto fail;
	}
	uint64_t tsize = tree_size(l->tree);
	if (tsize > l->size) {
		if ((r = tree_truncate(l->tree, l->size)) < 0)
			goto fail;
		tsize = l->size;
	}
	/* The tree is trusted only up to the state's size, which is written
	 * only after a tree_sync(); past it, level files may hold whatever a
	 * crash left, so those hashes are recomputed from the entries. */
	uint64_t from = st.size < tsize ? st.size : tsize;
	if (from < tsize && (r = tree_truncate(l->tree, from)) < 0)
		goto fail;
	if ((r = replay(l, from, st.size, from, err, errcap)) < 0)
		goto fail;
	if ((r = open_history(l, &st, err, errcap)) < 0)
		goto fail;
	if (l->torn_bytes) {
		if (ftruncate(l->seg_fd, (off_t)l->seg_off) < 0 || fdatasync(l->seg_fd) < 0) {
			r = -errno;
			st_fail(err, errcap, "segment %020llu: truncating a torn tail of %llu "
			       "bytes: %s", (unsigned long long)l->seg_first,
			       (unsigned long long)l->torn_bytes, st_strerror(r));
			goto fail;
		}
		l->torn_bytes = 0;
	}
	if ((r = ids_open(l, err, errcap)) < 0)
		goto fail;
	/* Rewrite the snapshot only when recovery changed what it records, so
	 * that opening a log to read it writes nothing. */
	if (!st.present || st.size != l->size || st.cp_count != l->cp_count ||
	    st.cp_last_off != l->cp_last_off) {
		if ((r = tree_sync(l->tree)) < 0 || (r = state_write(l)) < 0) {
			st_fail(err, errcap, "%s/state: %s", dir, st_strerror(r));
			goto fail;
		}
	} else {
		l->state_size = l->size;
		l->state_cp_count = l->cp_count;
	}
	seg_list_release(&sl);
	l->opened = true;
	*ret = l;
	return 0;
fail:
	seg_list_release(&sl);
	log_close(l);
	return r;
}

void log_close(struct log *l)
{
	if (!l)
		return;
	if (l->opened && !l->failed) {
		/* Best effort: a fresh snapshot makes the next open fast. Never
		 * after a failed open: the state is evidence (of a rollback, of
		 * missing entries) that must survive until someone looks. */
		if ((l->size != l->state_size || l->cp_count != l->state_cp_count) &&
		    tree_sync(l->tree) == 0)
			state_write(l);
		ids_persist(l, true);
	}
	idindex_free(l->ids);
	buf_release(&l->cbuf);
	free(l->gkeys);
	free(l->gpos);
	for (size_t i = 0; i < l->nsegs; i++) {
		close_fd(&l->readers[i].fd);
		close_fd(&l->readers[i].idx_fd);
	}
	free(l->readers);
	close_fd(&l->seg_fd);
	close_fd(&l->seg_dfd);
	close_fd(&l->idx_fd);
	close_fd(&l->cp_fd);
	close_fd(&l->cpi_fd);
	close_fd(&l->lock_fd);
	tree_free(l->tree);
	tenants_release(&l->tenants);
	note_key_clear(&l->signer);
	free(l->pubkeys);
	buf_release(&l->wbuf);
	buf_release(&l->cp_note);
	free(l->leaves);
	free(l->offs);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	pthread_rwlock_destroy(&l->segs_lock);
	free(l);
}

int log_state_head(const char *dir, struct log_state_head *ret)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT((size_t)1 << 30);
	int r;

	if ((r = path_in(path, sizeof(path), dir, "state")) < 0)
		return r;
	r = read_file(path, (size_t)1 << 30, &b);
	if (r < 0) {
		buf_release(&b);
		return r == -ENOENT ? ST_ENOTFOUND : r;
	}
	struct state st;
	if (!state_head_parse(b.data, b.len, &st)) {
		r = ST_ECORRUPT;
	} else {
		ret->size = st.size;
		ret->cp_count = st.cp_count;
		memcpy(ret->cp_last, st.cp_last, HASH_SIZE);
		ret->cp_size = st.cp_size;
	}
	buf_release(&b);
	return r;
}
