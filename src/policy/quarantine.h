/*
 * quarantine.h - where events that fail their schema go instead of the
 * log (docs/QUARANTINE.md): a durable, append-only file of records, each
 * framed by its length and CRC-32C, read back by admins.
 *
 * DIR/quarantine/quarantine.log:
 *   "STQUAR1\n", then records: u32 LE payload length, u32 LE CRC-32C of the
 *   payload, the payload (a JSON object):
 *     {"k":"e","id":N,"tenant":...,...}          an entry (built by the caller)
 *     {"k":"s","id":N,"state":"discarded","by":...}            a state change
 *     {"k":"s","id":N,"state":"resubmitted","by":...,"seq":S}  (S: its log seq)
 * Recovery: a record cut short at the end of the file, or a last record
 * whose CRC does not match, is a torn append and is cut off; any other
 * damage refuses the open with its byte offset.
 *
 * Entries are numbered from 1 in file order. An entry is `pending` until
 * one state record makes it `discarded` (or `resubmitted`); a second
 * change is refused. A resubmit claims its entry first (in memory only)
 * so that no discard or second resubmit runs while its event is on the
 * way to the log: an entry is never both resubmitted and discarded.
 *
 * Write errors are sticky (SQLite's pager, LMDB): after a failed write,
 * truncate or fdatasync every later write returns ST_ESTICKY until the
 * file is reopened, since what is on disk is no longer known. Reads go on.
 * Thread-safe (one mutex).
 */
#ifndef SEALTRAIL_POLICY_QUARANTINE_H
#define SEALTRAIL_POLICY_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define QUARANTINE_RECORD_MAX (1u << 20)   /* one payload */
#define QUARANTINE_TENANT_MAX 64

enum q_state { Q_PENDING, Q_DISCARDED, Q_RESUBMITTED };
const char *q_state_name(enum q_state s);   /* "pending", "discarded", "resubmitted" */

struct quarantine;

struct quarantine_open_report {
	uint64_t truncated_at, truncated_bytes;   /* a torn tail cut off */
};

/* Opens (creating) DIR/quarantine/quarantine.log. max_bytes bounds the
 * file: an add beyond it is refused with ST_ELIMIT. */
int quarantine_open(struct quarantine **ret, const char *dir, uint64_t max_bytes,
		    struct quarantine_open_report *rep, char *err, size_t errcap);
void quarantine_free(struct quarantine *q);

/* Appends an entry whose payload the caller built around "id":ID — the
 * payload is made by fn(arg, id, out), which appends a JSON object to out.
 * Returns the id (> 0) or a negative error. Not yet durable: call
 * quarantine_sync before telling anyone. */
int64_t quarantine_add(struct quarantine *q, const char *tenant,
		       int (*fn)(void *arg, uint64_t id, struct buf *out), void *arg);
/* fdatasync of everything appended so far. */
int quarantine_sync(struct quarantine *q);

/* Appends a state change of entry id, durably (fdatasync'd before it is
 * visible). seq: the log seq of a resubmitted entry's event (written in
 * the record), else 0. Returns 0; ST_ENOTFOUND; ST_EEXIST when the entry
 * is not pending (its state in *was); -EBUSY for a discard of an entry a
 * resubmit has claimed; ST_ESTICKY after an earlier write error. A
 * change to resubmitted releases the claim. by: a token name (no '"'). */
int quarantine_set_state(struct quarantine *q, uint64_t id, enum q_state to, const char *by,
			 uint64_t seq, enum q_state *was);

/* Claims a pending entry for a resubmit: 0; ST_ENOTFOUND; ST_EEXIST (not
 * pending, its state in *was); -EBUSY (claimed already). Memory only: a
 * crash forgets it (docs/QUARANTINE.md says why that is safe).
 * quarantine_unclaim gives it back when the resubmit does not happen. */
int quarantine_claim(struct quarantine *q, uint64_t id, enum q_state *was);
void quarantine_unclaim(struct quarantine *q, uint64_t id);

/* The entry's payload appended to out, its tenant, state and (when
 * resubmitted) seq; seq may be NULL. */
int quarantine_get(struct quarantine *q, uint64_t id, struct buf *out,
		   char tenant[QUARANTINE_TENANT_MAX + 1], enum q_state *state, uint64_t *seq);

/* What a list callback learns of each entry besides its payload. */
struct q_meta {
	uint64_t id;
	enum q_state state;
	uint64_t seq;            /* resubmitted: the log seq, else 0 */
};

/*
 * Entries with id > after, of tenant (NULL: any) and state (-1: any), in
 * id order: fn(arg, meta, payload, n) for each, which returns 0 (shown:
 * counts toward limit), 1 (filtered out by the caller: not counted) or a
 * negative error (stops, returned). At most max_scan entries are examined,
 * so a page with a narrow filter costs a bounded number of reads. *ret_next
 * (may be NULL) is the id to pass as `after` for the next page, or 0 when
 * the end of the file was reached.
 */
int quarantine_list(struct quarantine *q, uint64_t after, const char *tenant, int state,
		    size_t limit, size_t max_scan,
		    int (*fn)(void *arg, const struct q_meta *m, const uint8_t *p, size_t n),
		    void *arg, uint64_t *ret_next);

/* Entries by state, for the metrics. */
void quarantine_counts(struct quarantine *q, uint64_t counts[3], uint64_t *bytes);

#endif
