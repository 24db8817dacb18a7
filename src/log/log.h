/*
 * log.h - the tamper-evident log: segments + Merkle tree + signed
 * checkpoints, with group commit and crash recovery.
 *
 * Data directory (docs/FORMAT.md has every byte):
 *   meta                 the log's identity and limits (text, written once at init)
 *   lock                 flock'd by the one process that may write
 *   segments/<seq>.seg   framed entries; <seq>.idx their offsets (derived)
 *   tree/level-NN        the Merkle tree, level by level (derived; see tree.h)
 *   checkpoints          history of every signed checkpoint (framed, hash-chained)
 *   checkpoints.idx      offset of each history record (derived)
 *   checkpoint           the latest signed checkpoint (a copy, for readers)
 *   keys/signer          the current signing key (0600)
 *   keys/public          every verifier key the log ever used, one per line
 *   state                snapshot of derived state (tenant chains, checkpoint count)
 *   ids.d/               the idempotency index: (tenant, id) -> first seq (derived;
 *                        idindex.h)
 *
 * Durability contract: log_append() returns only after every entry it
 * acknowledges is written and fdatasync'd. If a write or fdatasync fails,
 * the log is poisoned: that call and every later append or checkpoint
 * fails with ST_ESTICKY until the log is closed and opened again (which
 * runs recovery). Nothing is ever acknowledged that was not synced.
 *
 * Threads: log_append() and log_checkpoint() may be called from many
 * threads; appends that arrive while one group is being synced are
 * committed together in the next group (one write + one fdatasync).
 * Reads (entry, proofs, tiles) may run concurrently with appends.
 */
#ifndef SEALTRAIL_LOG_LOG_H
#define SEALTRAIL_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/hash.h"
#include "event/event.h"
#include "log/note.h"
#include "log/tree.h"

#define LOG_DEFAULT_SEGMENT_MAX (256ull << 20)
#define LOG_DEFAULT_MAX_TENANTS 100000
#define LOG_ORIGIN_MAX 255
#define LOG_DEFAULT_TENANT "default"

struct log;

/* The log's identity and limits, from DIR/meta. */
struct log_meta {
	char origin[LOG_ORIGIN_MAX + 1];
	uint64_t segment_max;
	uint64_t max_tenants;
	struct event_limits limits;
};
int log_meta_read(const char *dir, struct log_meta *ret, char *err, size_t errcap);

/* The parts of DIR/state that verify cross-checks (see FORMAT.md). */
struct log_state_head {
	uint64_t size;
	uint64_t cp_count;
	uint8_t cp_last[HASH_SIZE];
	uint64_t cp_size;
};
/* 0 and *ret filled; ST_ENOTFOUND when there is no state file;
 * ST_ECORRUPT when it fails its CRC. */
int log_state_head(const char *dir, struct log_state_head *ret);

struct log_init_options {
	const char *origin;          /* NULL: "sealtrail/<host>/<random>" */
	uint64_t segment_max;        /* 0: LOG_DEFAULT_SEGMENT_MAX */
	const struct event_limits *limits; /* NULL: defaults */
	uint64_t max_tenants;        /* 0: LOG_DEFAULT_MAX_TENANTS */
};

/* Creates a new log in dir (created if missing; must not hold a log).
 * Issues the checkpoint of the empty tree. Appends the verifier key text
 * to ret_vkey. */
int log_init(const char *dir, const struct log_init_options *opt,
	     struct buf *ret_vkey, char *err, size_t errcap);

/* Opens a log for writing, running recovery (see log.c). On failure err
 * says what and where. */
int log_open(struct log **ret, const char *dir, char *err, size_t errcap);
/* Writes the state snapshot and closes. Accepts NULL. */
void log_close(struct log *l);

/* One event to append: the compact producer JSON from event_parse() and
 * the info it returned. */
struct log_event {
	const uint8_t *compact;
	size_t len;
	struct event_info info;
	/* The authenticated principal that submitted the event, stored as the
	 * server field "producer"; NULL for none. 1..LOG_PRODUCER_MAX bytes of
	 * [A-Za-z0-9_.:@/+-] (log_producer_valid), else the event is refused
	 * with ST_EINVAL. */
	const char *producer;
	size_t producer_len;
};
#define LOG_PRODUCER_MAX 128
bool log_producer_valid(const char *s, size_t n);
struct log_ack {
	int result;                  /* 0, or why this event was refused (ST_ELIMIT) */
	/* The event's (tenant, id) was already in the log (or earlier in the
	 * same call or group): it was not appended again, and seq and leaf
	 * are those of the first entry that carried the key. result is 0. */
	bool duplicate;
	uint64_t seq;
	uint8_t leaf[HASH_SIZE];
};
/* Appends n events durably. Returns 0 when the batch was committed (each
 * ack says whether its event was: an event refused by a log-side limit,
 * e.g. too many tenants, has a negative result and no seq), or a negative
 * error when nothing in the batch is acknowledged.
 *
 * Idempotency: an event with an id whose (tenant, id) an entry already
 * carries, across restarts and crashes, is acknowledged with duplicate
 * set instead of being appended; ids compare by their decoded JSON value,
 * the tenant is LOG_DEFAULT_TENANT when the event names none. Ids the
 * server assigns are indexed too. ev[i].info.id must be valid (has_id
 * implies it; see event_info) for the duration of the call. */
int log_append(struct log *l, const struct log_event *ev, size_t n,
	       struct log_ack *acks);

/* Finds the entry that carries (tenant, id), id being the decoded value
 * (1..EVENT_ID_MAX bytes): 0 and *ret_seq, or ST_ENOTFOUND. Confirmed
 * against the entry itself, like the appender's check. Waits for a
 * group commit in progress (the index is the leader's). */
int log_find_id(struct log *l, const char *tenant, size_t tenant_len,
		const char *id, size_t id_len, uint64_t *ret_seq);

/* Issues a checkpoint if the tree grew since the last one (or force), and
 * appends the latest signed checkpoint note to out (if out != NULL). */
int log_checkpoint(struct log *l, bool force, struct buf *out);

uint64_t log_size(struct log *l);
const char *log_origin(struct log *l);
const struct event_limits *log_limits(struct log *l);
struct tree *log_tree(struct log *l);

/* Appends the stored bytes of entry seq to out. */
int log_read_entry(struct log *l, uint64_t seq, struct buf *out);
/* Reads durable entries from seq on, in order, calling fn(ctx, seq, entry,
 * len) for each, with one pread of the entries' offset and one of up to
 * `window` bytes of the segment (a single entry larger than the window is
 * still read whole). Stops at the end of seq's segment, at log_size, after
 * max entries, or when fn returns non-zero (returned). The entry bytes are
 * valid during the call only; scratch holds them and is reused. Returns
 * the number of entries passed to fn (>= 1 when seq < log_size and max > 0),
 * or a negative error: ST_ERANGE when seq >= log_size, ST_ECORRUPT when a
 * frame's length or CRC is wrong. For the indexer and other sequential
 * readers: ~one syscall per window instead of three per entry. */
typedef int (*log_entry_fn)(void *ctx, uint64_t seq, const uint8_t *entry, size_t len);
int64_t log_read_run(struct log *l, uint64_t seq, uint64_t max, size_t window,
		     struct buf *scratch, log_entry_fn fn, void *ctx);
/* Appends the latest signed checkpoint note (or the newest one whose size
 * equals size, when size != 0) to out. ST_ENOTFOUND when none matches. */
int log_read_checkpoint(struct log *l, uint64_t size, struct buf *out);
/* The number of checkpoints in the history, and the i-th (oldest first),
 * for paging through the history. ST_ERANGE past the end. */
uint64_t log_checkpoint_count(struct log *l);
int log_read_checkpoint_at(struct log *l, uint64_t i, struct buf *out);
/* Appends the bytes of a tlog-tiles resource (hash tile or entry bundle). */
int log_read_tile(struct log *l, const struct tile_ref *t, struct buf *out);

/* Starts signing with a new key; the old verifier key stays published. */
int log_key_rotate(struct log *l, struct buf *ret_vkey);
/* Appends the verifier keys, one per line, oldest first. */
int log_public_keys(const char *dir, struct buf *out);

/* The memory of the idempotency index (DIR/ids.d, idindex.h) of logs
 * opened from now on: two memtables of memtable_bytes each (rounded down
 * to a power of two of 16-byte slots) and a filter of filter_bytes
 * (rounded down to 64 bytes); 0 keeps a default (16 MiB, 32 MiB). Out of
 * range: ST_EINVAL, nothing changed. Process-wide, like log_set_io: the
 * server sets it from its configuration before log_open. */
int log_set_ids_memory(uint64_t memtable_bytes, uint64_t filter_bytes);

/* Test hook: the I/O calls the writer makes, so tests can inject write and
 * fsync failures. NULL restores the real ones. Not for production use. */
struct log_io {
	ssize_t (*pwrite)(int fd, const void *p, size_t n, off_t off);
	int (*fdatasync)(int fd);
};
void log_set_io(const struct log_io *io);

#endif
