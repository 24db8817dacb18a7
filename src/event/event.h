/*
 * event.h - the audit event as the log sees it: a validating JSON reader
 * that checks a producer's event and writes its compact form, and the
 * reader of stored entries.
 *
 * Producer events (event_parse): one JSON object (RFC 8259), valid UTF-8,
 * no duplicate keys at any depth, within the limits below, with the fields
 * of shared/DESIGN.md: `time` (RFC 3339 string), `action` (non-empty
 * string), `actor.id` (non-empty string) and `resource.type` (non-empty
 * string) required; optional fields checked for type when present:
 *   id, tenant, reason, request_id, trace_id, parent_id, schema: string
 *   actor, resource, source, metadata: object
 *   outcome: one of "success" "failure" "denied" "unknown"
 *   before, after: any JSON value
 *   actor.{type,name,ip,user_agent,on_behalf_of}, resource.{id,name,parent}:
 *     string when present; actor.auth: any value
 * Unknown top-level members are refused (they belong in `metadata`) so that
 * a typo never silently passes. Server-owned names (`seq`, `received_at`,
 * `tseq`, `tprev`, `producer`, and what enrichment and policy add:
 * `client_ip`, `context`, `redacted`, `criticality`, `sampled`) are
 * refused in producer input.
 * `tenant`, when present, must match [A-Za-z0-9_.-]{1,64} as written (no
 * escapes, so the returned slice is the value); `id` must be 1..128 bytes
 * with no control characters or DEL; `time` must fall in 1678..2261 (what
 * int64 nanoseconds hold).
 *
 * The compact form written to `out` is the same object with insignificant
 * whitespace removed, member order kept, strings and numbers byte-for-byte
 * as the producer wrote them (escapes are kept, not re-encoded).
 *
 * Stored entries (event_parse_stored): the log's own compact JSON, whose
 * first members are the server fields in this order:
 *   {"seq":N,"received_at":"...","tseq":N,"tprev":"<base64 32 bytes>",...}
 * followed by "tenant" and "id" when the server added them, then the
 * producer's members. event_parse_stored checks well-formedness and the
 * server fields and returns them; the producer part is checked for JSON
 * well-formedness, UTF-8 and duplicate keys, with the limits given.
 */
#ifndef SEALTRAIL_EVENT_EVENT_H
#define SEALTRAIL_EVENT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Bytes of max_entry kept for the server fields the log puts in front of
 * the producer's members: seq, received_at, tseq, tprev, tenant and id
 * when the server adds them (at most 219 bytes), and producer (at most
 * 14 + LOG_PRODUCER_MAX = 142). event_parse refuses a compact form longer
 * than max_entry - EVENT_SERVER_RESERVE, so every accepted event fits. */
#define EVENT_SERVER_RESERVE 400

/* Limits a producer controls; each refusal names the limit. */
struct event_limits {
	size_t max_entry;      /* stored entry bytes; default 65535 (tlog-tiles bundles use 16-bit lengths) */
	uint32_t max_depth;    /* nesting of objects/arrays; default 32 */
	uint32_t max_members;  /* members + array elements in the whole event; default 1024 */
	size_t max_string;     /* bytes of one string (raw, as written) ; default 32768 */
};

void event_limits_default(struct event_limits *lim);

/* Error detail: code is ST_EINVAL or ST_ELIMIT. */
struct event_error {
	int code;
	size_t offset;        /* byte offset in the input where the problem is */
	char path[128];       /* JSON path of the field, e.g. "actor.id" or "metadata.tags[3]"; "" for the root */
	char msg[160];        /* what was expected and what was found */
};

/* Formats "byte N, field P: MSG" (field omitted when path is empty). */
void event_error_format(const struct event_error *e, char *out, size_t cap);

/* What the log needs from a validated producer event. Slices point into
 * the input buffer `in` (not the compact output, which may move as the
 * caller's buffer grows) and stay valid as long as it does; a caller that
 * reuses its input before the event is appended copies them (cmd_append.c
 * keeps tenant and id in its batch arena). */
struct event_info {
	const char *tenant;    /* NULL when absent */
	size_t tenant_len;
	bool has_id;
	/* The "id" string's body as written, between its quotes, with any
	 * JSON escapes kept (event_id_decode gives its value); NULL when
	 * has_id is false. The idempotency key is (tenant, decoded id). */
	const char *id;
	size_t id_len;
	int64_t time_ns;       /* the event's `time`, UTC nanoseconds */
	/* Whether the producer set them (the server fills them from the
	 * request's X-Request-Id and traceparent headers otherwise). */
	bool has_request_id, has_trace_id;
	/* Slices into the input, as written (escapes kept): `action`,
	 * `outcome` and `schema` (NULL when absent) and `resource.type`, for
	 * the policy pipeline. */
	const char *action, *outcome, *resource_type, *schema;
	size_t action_len, outcome_len, resource_type_len, schema_len;
	/* source.producer_id (NULL when absent; [A-Za-z0-9._:-], so as
	 * written is as decoded) and source.producer_seq (0 when absent),
	 * for capture-rate accounting (docs/CAPTURE.md). */
	const char *producer_id;
	size_t producer_id_len;
	uint64_t producer_seq;
	/* source.client_cert is present: a member only the server writes
	 * (DECISIONS.md 31), which the ingest refuses from producers. */
	bool has_client_cert;
};

/* Most bytes of source.producer_id. */
#define EVENT_PRODUCER_ID_MAX 64

/* Most bytes of a decoded producer id. */
#define EVENT_ID_MAX 128

/* Validates one producer event in[0..len) and appends its compact form to
 * out (out is restored to its old length on error). lim == NULL means the
 * defaults. Returns 0, or ST_EINVAL / ST_ELIMIT with *err filled, or
 * -ENOMEM when out cannot grow. Never allocates beyond growing out.
 * Thread-safe (no shared state). */
int event_parse(const uint8_t *in, size_t len, const struct event_limits *lim,
		struct buf *out, struct event_info *ret_info,
		struct event_error *err);

/* Server fields read back from a stored entry. */
struct stored_info {
	uint64_t seq;
	uint64_t tseq;
	uint8_t tprev[32];
	int64_t received_ns;
	const char *tenant;    /* slice into the entry; the effective tenant */
	size_t tenant_len;
	/* Slice into the entry: the top-level "id" string's body as stored
	 * (escapes kept), the producer's or the one the server assigned;
	 * NULL when the entry has no string "id". */
	const char *id;
	size_t id_len;
};

/* Checks a stored entry (see above) and extracts its server fields.
 * Returns 0 or ST_EINVAL/ST_ELIMIT with *err filled. */
int event_parse_stored(const uint8_t *in, size_t len,
		       const struct event_limits *lim,
		       struct stored_info *ret, struct event_error *err);

/* Decodes the JSON escapes of a string body the reader validated
 * (event_info.id or stored_info.id; anything else is undefined) into
 * out[0..cap). Returns the decoded length, which may exceed cap: bytes
 * past cap are counted, not written. A body without a backslash decodes
 * to itself. */
size_t event_id_decode(const char *raw, size_t n, char *out, size_t cap);

#endif
