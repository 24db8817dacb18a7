/*
 * jwalk.h - walking a stored entry's JSON value by value, and the word
 * tokenizer of full-text search.
 *
 * Both the indexer and the brute-force query evaluator (query.h) see an
 * event only through these two functions, so an index and a scan always
 * agree on what a path, a value and a word are.
 *
 * Neither function allocates, keeps state between calls or touches
 * anything but its arguments and the C stack (jwalk uses about 66 KiB of
 * it): both are thread-safe and reentrant.
 */
#ifndef SEALTRAIL_INDEX_JWALK_H
#define SEALTRAIL_INDEX_JWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_PATH_MAX 255      /* bytes of a reported dotted path */
#define JW_VALUE_MAX 65535   /* bytes of a reported decoded string */
#define JW_TOKEN_MAX 64      /* bytes of one full-text token */
#define JW_DEPTH_MAX 64      /* nesting of objects/arrays jwalk follows */

/* JW_END: the end of an object or array, reported only by jwalk_ends. */
enum jw_type { JW_STRING, JW_NUMBER, JW_TRUE, JW_FALSE, JW_NULL, JW_OBJECT, JW_ARRAY, JW_END };

/* One value, as reported to a jw_fn. Every pointer points into jwalk's
 * input or its stack and is valid only during the callback: copy what you
 * keep. */
struct jw_leaf {
	/* Dotted path of decoded member names, e.g. "actor.id",
	 * "metadata.tags"; an array element carries the array's own path (no
	 * index), so {"a":[{"b":1}]} reports "a" (array), "a" (object), "a.b".
	 * NUL-terminated (path[path_len] == 0); path_len <= JW_PATH_MAX. */
	const char *path;
	size_t path_len;
	enum jw_type type;
	/* Strings: the decoded value (escapes resolved, UTF-8), not
	 * NUL-terminated; a string whose decoded value is longer than
	 * JW_VALUE_MAX (stored entries never hold one) is reported cut to its
	 * first JW_VALUE_MAX bytes. Numbers, true, false, null: the raw text.
	 * Objects and arrays: "" (val_len 0). */
	const char *val;
	size_t val_len;
	/* 1 for a member of the root object, +1 per enclosing object or array. */
	int depth;
	/* The bytes as written, for a rewriter (policy/rewrite.c): raw is the
	 * value's text (a string with its quotes and escapes; an object or
	 * array only its opening bracket; JW_END its closing one), key the
	 * member's name with its quotes, NULL for an array element (and for
	 * JW_END). */
	const char *raw;
	size_t raw_len;
	const char *key;
	size_t key_len;
	/* jwalk_ends only: the path was longer than JW_PATH_MAX and is given
	 * cut to its first JW_PATH_MAX bytes (jwalk skips such values). */
	bool path_cut;
	/* The path holds a 0x00 byte (a member name with "\u0000"), so
	 * path_len, not strlen, is its length. Not set on JW_END. */
	bool path_nul;
};

/* Non-zero return stops the walk; jwalk returns that value. */
typedef int (*jw_fn)(void *ctx, const struct jw_leaf *leaf);

/*
 * Calls fn once for every value in the JSON object json[0..len), in
 * document order, parents before children: an object or array value is
 * reported with type JW_OBJECT / JW_ARRAY, then its members. The root
 * object itself is not reported. Member names are decoded. A value whose
 * path is longer than JW_PATH_MAX bytes is skipped with all its children
 * (their paths are longer still); the walk goes on after it.
 *
 * Input is meant to be a stored entry (compact, validated), but any bytes
 * are safe: the walk never reads outside json[0..len) and returns
 * ST_EINVAL for anything that is not one JSON object (whitespace between
 * tokens is tolerated; UTF-8 inside strings is passed through unchecked;
 * an escape must be valid, surrogates paired), and ST_ELIMIT for nesting
 * deeper than JW_DEPTH_MAX. Values before the error have been reported by
 * then. Returns 0 after a complete walk.
 */
int jwalk(const uint8_t *json, size_t len, jw_fn fn, void *ctx);

/* jwalk for rewriters: every value is reported, one whose path is too
 * long with the path cut (path_cut), and after the last member of each
 * object or array a JW_END leaf with the container's path and depth (its
 * members' depth less one). */
int jwalk_ends(const uint8_t *json, size_t len, jw_fn fn, void *ctx);

/* True when the string value at this path contributes words to full-text
 * search: every string value except the top-level server and identity
 * fields "tprev", "received_at", "id" and "time", and what the policy
 * writes: "criticality", "redacted.*" and "sampled.*" (docs/QUERY.md). */
bool jw_text_path(const char *path, size_t len);

/*
 * Word tokenizer for full-text search. A token is a maximal run of ASCII
 * letters and digits and bytes >= 0x80 (so UTF-8 letters stay inside
 * words; everything else - spaces, punctuation, '@', '.', '-', '_', '*',
 * control bytes - separates). ASCII letters are lowercased; other bytes
 * are kept as they are (no Unicode case folding). A run longer than
 * JW_TOKEN_MAX bytes is cut to its first JW_TOKEN_MAX bytes - plain byte
 * cut, even inside a UTF-8 sequence - and the rest of the run is dropped.
 *
 * Calls fn(ctx, tok, len, pos) for each token, pos counting from 0 within
 * this string; tok points to a stack copy valid during the call. A
 * non-zero return stops and is returned; 0 otherwise.
 */
typedef int (*jw_tok_fn)(void *ctx, const char *tok, size_t len, uint32_t pos);
int jw_tokens(const char *s, size_t n, jw_tok_fn fn, void *ctx);

#endif
