/*
 * httputil.h - the small pieces of HTTP that are ours rather than the HTTP
 * library's: query parameters, path routing, the bearer token, and JSON
 * string escaping for response bodies.
 *
 * Nothing here allocates except json_put_str (through the caller's buf).
 * Every pointer a function returns points into the caller's input, which
 * must outlive it. Error messages go to caller-provided err/errcap
 * (NUL-terminated, truncated to fit); client-supplied text in them is
 * shown with non-printable bytes escaped and at most ~40 bytes long.
 * Outputs are left untouched on failure.
 */
#ifndef SEALTRAIL_SERVER_HTTPUTIL_H
#define SEALTRAIL_SERVER_HTTPUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/codec.h"

/* Limits of query_check (a client controls the query string). */
#define QUERY_MAX_PARAMS 32
#define QUERY_MAX_LEN 4096

/*
 * Finds key in a raw query string qs ("a=1&b=x%20y", without '?'; NULL is
 * the empty string) and percent-decodes its value ('+' as a space) into
 * out, NUL-terminated. Keys are compared after decoding; a parameter
 * without '=' has the empty value; empty parts ("a=1&&b=2") are skipped.
 * Returns the value's length, ST_ENOTFOUND when absent, ST_EINVAL when the
 * key appears twice or the value has a malformed %-escape or decodes to a
 * NUL byte, ST_ELIMIT when value and NUL do not fit in cap.
 */
int query_get(const char *qs, const char *key, char *out, size_t cap);

/*
 * query_get, then a decimal u64 (digits only, no sign, no leading zero)
 * within [min, max]. Returns 0 with *present = true and *ret set; 0 with
 * *present = false and *ret untouched when the key is absent; ST_EINVAL
 * with err "parameter X: expected an integer in [min,max], found ..." (or
 * "parameter X given twice", or a malformed escape) otherwise. present
 * may be NULL.
 */
int query_u64(const char *qs, const char *key, uint64_t min, uint64_t max,
	      uint64_t *ret, bool *present, char *err, size_t errcap);

/*
 * Checks the whole query string: at most QUERY_MAX_LEN bytes and
 * QUERY_MAX_PARAMS parameters (else ST_ELIMIT), every key one of
 * allowed[] (NULL-terminated), none twice, every key and value a valid
 * percent-encoding without NUL (else ST_EINVAL). err names the parameter.
 */
int query_check(const char *qs, const char *const *allowed, char *err, size_t errcap);

/*
 * Path routing: path[0..n) (without the query string) against a pattern
 * such as "/v1/events/{}". Literal bytes must match exactly; each "{}"
 * captures one non-empty segment (up to the next '/' or the end) and must
 * itself be a whole segment (followed by '/' or the pattern's end; a
 * pattern breaking that rule never matches). At most 4 captures. Captures
 * are raw (not percent-decoded); see path_decode. On a match fills *ret
 * (may be NULL) and returns true; otherwise *ret is untouched.
 */
struct path_match {
	const char *seg[4];
	size_t len[4];
	size_t n;
};
bool path_match(const char *path, size_t n, const char *pattern, struct path_match *ret);

/* Percent-decodes a path segment s[0..n) into out, NUL-terminated ('+' is
 * kept as '+'). Returns the length, ST_EINVAL on a malformed escape or a
 * raw or decoded '/' or NUL, ST_ELIMIT when it doesn't fit in cap. */
int path_decode(const char *s, size_t n, char *out, size_t cap);
/* The same for a segment that carries a value (an event id) rather than a
 * name: %2F decodes to '/'. NUL is still refused. */
int path_decode_value(const char *s, size_t n, char *out, size_t cap);

/* Authorization header value hdr[0..n): "Bearer" (any case), one or more
 * spaces, then a token68 (RFC 9110 11.2: [A-Za-z0-9-._~+/]+ then '='*),
 * with optional surrounding SP/HTAB. Returns true with *tok and *tok_len set to
 * the token inside hdr, false otherwise (outputs untouched). */
bool http_bearer(const char *hdr, size_t n, const char **tok, size_t *tok_len);

/* json_put_str (the JSON string writer) lives in common/codec.h. */

#endif
