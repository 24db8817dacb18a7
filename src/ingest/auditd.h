/*
 * auditd.h - Linux audit logs (auditd's /var/log/audit/audit.log) as
 * Sealtrail events (docs/IMPORT.md, "auditd").
 *
 * A line is one record:
 *
 *   [node=HOST ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...[\x1dKEY=value ...]
 *
 * values quoted ("..."), unquoted, or, for the fields the kernel escapes
 * when they hold unsafe bytes (the audit field dictionary's "encoded"
 * fields: proctitle, cmd, comm, exe, cwd, name, path, acct, key, addr,
 * EXECVE's aN, ...), hex-encoded; user-space
 * records carry their own fields in msg='...'; auditd >= 3 in ENRICHED
 * format appends, after a 0x1D byte, the numbers translated (UID="root",
 * SYSCALL=openat, ...). The records of one kernel event share
 * audit(SECONDS.MILLIS:SERIAL) and may interleave with other events'.
 *
 * The reassembler (struct auditd_asm) groups records by node, time and
 * serial into events. An event ends
 *   - at its EOE record;
 *   - at once when its first record is a user-space message (USER_*,
 *     CRED_*, DAEMON_*, SERVICE_*, ...: those are always one record);
 *   - when records of AUDITD_WINDOW later events have begun since its
 *     last record (the EOE was lost or never written);
 *   - at auditd_asm_flush (the end of a file that will not grow);
 *   - when AUDITD_PENDING_MAX events are open: the oldest.
 * Each ended event is mapped to one event line (the mapping is in
 * docs/IMPORT.md); its id is "auditd-" [node "-"] SECONDS.MILLIS ":"
 * SERIAL, so a re-read record set is a duplicate, never a copy.
 *
 * Resuming: auditd_asm_oldest says where the oldest open event began;
 * every byte before it belongs to ended events. An importer that saves
 * that offset and re-reads from it never loses a record of an open
 * event; records of ended events read again come out as events whose
 * ids the log already has.
 *
 * Limits: AUDITD_LINE_MAX bytes a line, AUDITD_FIELDS_MAX fields a
 * record, AUDITD_EVENT_BYTES of records kept a event (later records are
 * counted in metadata.records_dropped), AUDITD_PENDING_MAX open events.
 *
 * Thread safety: an auditd_asm is used by one thread at a time.
 */
#ifndef SEALTRAIL_INGEST_AUDITD_H
#define SEALTRAIL_INGEST_AUDITD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "event/event.h"

#define AUDITD_LINE_MAX (64u << 10)    /* one record; the kernel's are < 9 KiB */
#define AUDITD_FIELDS_MAX 256          /* fields in one record */
#define AUDITD_EVENT_BYTES (256u << 10) /* record bytes kept for one event */
#define AUDITD_WINDOW 32               /* later events that end an event without EOE */
#define AUDITD_PENDING_MAX 256         /* events open at once */

struct auditd_error {
	size_t offset;               /* byte in the line */
	char msg[200];
};

struct auditd_pending;

/* The reassembler. Owns its open events; init/release. */
struct auditd_asm {
	struct event_limits lim;
	struct auditd_pending *p;    /* open events, by their first record */
	size_t np;
	uint64_t started;            /* events begun: the window's clock */
	/* the first line of each event the last feed/flush appended */
	uint64_t emitted_lines[AUDITD_PENDING_MAX + 1];
	size_t nemitted;
	/* reused between events: the line being composed, event_parse's output */
	struct buf line, scratch;
};

/* lim NULL: the defaults. */
void auditd_asm_init(struct auditd_asm *a, const struct event_limits *lim);
/* Frees the open events; safe on a zeroed or released struct. */
void auditd_asm_release(struct auditd_asm *a);

/*
 * Feeds line[0..n) (no newline), which began at byte offset of the
 * stream and is line number lineno. Events it ends are appended to out
 * as NDJSON lines. Returns how many (>= 0); ST_EINVAL when the line is
 * not a record (err: the byte in the line and what was expected; nothing
 * else changes), ST_ELIMIT / -ENOMEM when out or memory ran out.
 */
long auditd_asm_feed(struct auditd_asm *a, const uint8_t *line, size_t n, uint64_t offset, uint64_t lineno,
		     struct buf *out, struct auditd_error *err);
/* Ends every open event (oldest first) into out; the count, or an error. */
long auditd_asm_flush(struct auditd_asm *a, struct buf *out);
/* The offset and line number of the oldest open event's first record;
 * false when none is open. */
bool auditd_asm_oldest(const struct auditd_asm *a, uint64_t *ret_offset, uint64_t *ret_line);

/* The whole text at once (tests, fuzzing): every line fed, then a flush.
 * Bad lines are passed to refused (may be NULL) with their line number
 * and skipped. Returns the number of events or a negative error. */
long auditd_map(const uint8_t *text, size_t n, const struct event_limits *lim, struct buf *out,
		void (*refused)(void *ctx, uint64_t lineno, const struct auditd_error *err), void *ctx);

#endif
