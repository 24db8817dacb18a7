/*
 * quarantine.h - where events that fail their schema go instead of the
 * log (docs/QUARANTINE.md): a durable, append-only file of records, each
 * framed by its length and CRC-32C, read back by admins.
 *
 * DIR/quarantine/quarantine.log:
 *   "STQUAR1\n", then records: u32 LE payload length, u32 LE CRC-32C of the
 *   payload, the payload (a JSON object):
 *     {"k":"e","id":N,"tenant":...,...}          an entry (built by the caller)
 *     {"k":"s","id":N,"state":"discarded","by":...,"at":...}   a state change
 * Recovery: a record cut short at the end of the file, or a last record
 * whose CRC does not match, is a torn append and is cut off; any other
 * damage refuses the open with its byte offset.
 *
 * Entries are numbered from 1 in file order. An entry is `pending` until
 * one state record makes it `discarded` (or `resubmitted`); a second
 * change is refused. Thread-safe (one mutex).
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

/* Appends a state change of entry id, durably. ST_ENOTFOUND, or ST_EEXIST
 * when the entry is not pending (its state is in *was). */
int quarantine_set_state(struct quarantine *q, uint64_t id, enum q_state to, const char *by,
			 enum q_state *was);

/* The entry's payload appended to out, its tenant and state. */
int quarantine_get(struct quarantine *q, uint64_t id, struct buf *out,
		   char tenant[QUARANTINE_TENANT_MAX + 1], enum q_state *state);

/* Entries with id > after, of tenant (NULL: any) and state (-1: any), in
 * id order, at most limit: fn(arg, id, state, payload, n) each; a non-zero
 * return stops. */
int quarantine_list(struct quarantine *q, uint64_t after, const char *tenant, int state,
		    size_t limit,
		    int (*fn)(void *arg, uint64_t id, enum q_state st, const uint8_t *p, size_t n),
		    void *arg);

/* Entries by state, for the metrics. */
void quarantine_counts(struct quarantine *q, uint64_t counts[3], uint64_t *bytes);

#endif
