/*
 * rewrite.h - rewriting a compact JSON object value by value: the
 * mechanism under redaction (the policy decides, this applies).
 *
 * rewrite_json walks the object with jwalk_ends and asks fn about every
 * value, parents before children. fn answers:
 *   RW_KEEP     the value stays (its children are still asked about);
 *   RW_DROP     the member (or array element) goes, with its children and
 *               one adjacent comma;
 *   RW_REPLACE  the value becomes the JSON string fn appended to repl
 *               (decoded UTF-8; rewrite_json escapes it); a container is
 *               replaced whole, children unasked.
 * Everything else is copied byte for byte, so an object nobody changes
 * comes out identical, and only the changed values differ.
 *
 * The input must be one JSON object as event_parse or the log writes it
 * (compact); anything else gives ST_EINVAL. Paths are jwalk's (arrays
 * carry the array's own path), cut at JW_PATH_MAX with leaf->path_cut set:
 * fn still sees such values, so a detector still runs on them.
 *
 * Allocation: only by growing out and the caller's repl. Thread-safe.
 */
#ifndef SEALTRAIL_POLICY_REWRITE_H
#define SEALTRAIL_POLICY_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "index/jwalk.h"

enum rw_action { RW_KEEP, RW_DROP, RW_REPLACE };

/* repl is empty at each call. A negative return from a callback is not
 * possible; to stop, the callback records its error and answers RW_KEEP
 * until done (rewrite_json runs to the end). */
typedef enum rw_action (*rw_fn)(void *ctx, const struct jw_leaf *leaf, struct buf *repl);

/* Appends the rewritten object to out. *nchanged (may be NULL) counts the
 * values dropped or replaced. Returns 0, ST_EINVAL for input that is not a
 * JSON object, ST_ELIMIT beyond JW_DEPTH_MAX, -ENOMEM; out is restored to
 * its old length on error. */
int rewrite_json(const uint8_t *in, size_t n, rw_fn fn, void *ctx, struct buf *repl,
		 struct buf *out, size_t *nchanged);

#endif
