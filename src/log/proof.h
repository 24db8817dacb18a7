/*
 * proof.h - proofs as the API and the command line hand them out, built
 * from a log: one place that pairs a tree proof with the signed
 * checkpoint it is relative to.
 */
#ifndef SEALTRAIL_LOG_PROOF_H
#define SEALTRAIL_LOG_PROOF_H

#include <stdint.h>

#include "common/buf.h"
#include "log/log.h"

/* Appends to out the C2SP tlog-proof@v1 of entry seq against the latest
 * checkpoint (size == 0) or the checkpoint of that size. Returns 0;
 * ST_ENOTFOUND when no checkpoint has that size; ST_ERANGE when the
 * checkpoint does not cover seq (*ret_cp_size then tells its size, so the
 * caller can say so). ret_cp_size may be NULL. */
int log_proof_inclusion(struct log *l, uint64_t seq, uint64_t size,
			struct buf *out, uint64_t *ret_cp_size);

/* Appends the RFC 9162 consistency proof from size m to size n as base64
 * hashes, one per line. ST_ERANGE unless 0 < m <= n <= the tree size. */
int log_proof_consistency(struct log *l, uint64_t m, uint64_t n, struct buf *out);

/* The size of a signed checkpoint note of this log (our own notes, so
 * only parsed, not verified). ST_ECORRUPT when it does not parse. */
int log_note_size(const uint8_t *note, size_t len, uint64_t *ret);

#endif
