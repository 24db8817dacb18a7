/*
 * body.h - splitting a POST /v1/events body into events.
 *
 * The HTTP library parses HTTP; this file parses the framing of the body:
 * where each event's bytes start and end. It never validates an event's
 * content (event_parse does that, per event); it only finds boundaries, so
 * that the server can refuse a badly framed body whole (400) before any
 * event of it is processed, and report a bad event by index and line.
 *
 * Media types (body_kind_parse):
 *   BODY_JSON    application/json
 *   BODY_NDJSON  application/x-ndjson, application/ndjson, application/jsonl
 * with optional parameters; charset, when given, must be utf-8 (any case,
 * quoted or not); other parameters are ignored (RFC 9110 8.3.1). Types are
 * case-insensitive. application/json-seq (RFC 7464) is refused on purpose:
 * its records start with a 0x1E separator, which this framing does not
 * speak, and it should not be mistaken for NDJSON. A missing Content-Type
 * is refused too, so that nothing is guessed.
 *
 * BODY_JSON: one top-level value with optional JSON whitespace (SP, HTAB,
 * LF, CR) around it: either one object (one event) or an array of objects
 * (an empty array is 0 events). Each event's extent is found by one
 * structural pass: strings (with backslash escapes) are skipped, and { [
 * and } ] are counted without a stack, so a mismatched bracket inside an
 * event is left to event_parse; only the bracket that closes the event
 * must be '}'. Nesting deeper than BODY_MAX_DEPTH inside one event (the
 * event object is depth 1) is a framing error (ST_ELIMIT): it bounds the
 * work a hostile body causes and is far above event_parse's own limit.
 * Anything after the top-level value other than whitespace is an error.
 *
 * BODY_NDJSON: every line that is not blank (only SP, HTAB, CR) is one
 * event; the item excludes the LF and one CR before it. A last line
 * without LF is accepted. Blank lines are skipped but counted for line
 * numbers. The framing of NDJSON never fails except for max_events; a
 * malformed line (bad JSON, NUL byte, invalid UTF-8) is event_parse's
 * finding for that event.
 *
 * max_events is the server's batch limit: one event more is ST_ELIMIT at
 * that event's offset. 0 means no limit beyond the body's size.
 *
 * Ownership: items and the iterator point into the caller's body, which
 * must outlive them. Nothing allocates; everything is thread-compatible
 * (one iterator per thread).
 */
#ifndef SEALTRAIL_INGEST_BODY_H
#define SEALTRAIL_INGEST_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting limit of the framing scan, within one event (object = 1). */
#define BODY_MAX_DEPTH 256

enum body_kind { BODY_JSON, BODY_NDJSON };

/* Content-Type header value content_type[0..n) (need not be NUL-terminated;
 * NULL means the header is missing) to a body kind. Returns 0 with *ret
 * set, or ST_EINVAL with err (NUL-terminated, truncated to errcap) naming
 * the type received and the types accepted; *ret is untouched then. */
int body_kind_parse(const char *content_type, size_t n, enum body_kind *ret,
		    char *err, size_t errcap);

/* One event's bytes: p[0..len) inside the body. */
struct body_item {
	const uint8_t *p;
	size_t len;
	size_t index;   /* 0-based event index in the body */
	size_t line;    /* 1-based line where the event starts */
	size_t offset;  /* byte offset of p in the body */
};

/* A framing error. msg says what was expected and what was found; it does
 * not repeat offset or line (body_error_format puts them in front). */
struct body_error {
	size_t offset;  /* byte offset in the body where the problem is */
	size_t line;    /* 1-based line of offset */
	char msg[160];
};

/* Private: read only through body_iter_next. */
struct body_iter {
	const uint8_t *bi_p;
	size_t bi_n;
	size_t bi_pos;       /* next byte to look at */
	size_t bi_line;      /* line of bi_pos */
	size_t bi_index;     /* events returned so far */
	size_t bi_max;       /* max_events, 0 = none */
	size_t bi_open;      /* offset of the top-level '[' */
	enum body_kind bi_kind;
	int bi_state;
	int bi_code;         /* sticky error code once bi_state is the error state */
	struct body_error bi_err;
};

void body_iter_init(struct body_iter *it, const uint8_t *p, size_t n,
		    enum body_kind k, size_t max_events);

/* Returns 1 with *ret filled, 0 at the end, or ST_EINVAL/ST_ELIMIT with
 * *err filled (err may be NULL). Errors are sticky: every later call
 * returns the same error. *ret is untouched unless 1 is returned. */
int body_iter_next(struct body_iter *it, struct body_item *ret,
		   struct body_error *err);

/* Validates the whole framing (one pass, no event content checked) and
 * returns the number of events, or ST_EINVAL/ST_ELIMIT with *err filled
 * (err may be NULL). Call it before processing any event so that a badly
 * framed body is refused whole. */
long body_count(const uint8_t *p, size_t n, enum body_kind k, size_t max_events,
		struct body_error *err);

/* "line L, byte O: MSG", NUL-terminated, truncated to cap. */
void body_error_format(const struct body_error *e, char *out, size_t cap);

#endif
