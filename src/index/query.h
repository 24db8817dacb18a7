/*
 * query.h - the search language of docs/QUERY.md: a parser to an AST, a
 * canonical formatter, and a brute-force evaluator over one stored entry.
 *
 * The evaluator sees the entry only through jwalk() and jw_tokens()
 * (jwalk.h), the same functions the indexer uses, so a scan and an index
 * lookup give the same answer for the same query.
 *
 * Ownership: query_parse() returns a struct query that owns every node and
 * string reachable from it (one arena); query_free() releases all of it.
 * A parsed query is read-only: query_match(), query_format() and
 * query_glob_match() may be called on it from many threads at once.
 */
#ifndef SEALTRAIL_INDEX_QUERY_H
#define SEALTRAIL_INDEX_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Limits on what a client may send; each refusal (ST_ELIMIT) names the limit. */
#define QUERY_MAX_LEN 4096     /* bytes of query text */
#define QUERY_MAX_NODES 256    /* AST nodes (terms and operators) */
#define QUERY_MAX_DEPTH 32     /* nesting of parentheses and NOT */
#define QUERY_MAX_VALUE 1024   /* bytes of one decoded value */
#define QUERY_MAX_PHRASE 32    /* tokens of one phrase */

enum q_op { Q_AND, Q_OR, Q_NOT, Q_TERM };
enum q_term { QT_WORD, QT_WORD_PREFIX, QT_PHRASE, QT_FIELD_EQ, QT_FIELD_PREFIX,
	      QT_FIELD_GLOB, QT_HAS, QT_RANGE };
enum q_range_field { QR_TIME, QR_RECEIVED, QR_SEQ };

struct qnode {
	enum q_op op;
	/* Q_AND / Q_OR: >= 2 kids, never a kid of the same op (nested ones
	 * are flattened); Q_NOT: 1 kid; Q_TERM: none. */
	struct qnode **kids;
	size_t nkids;
	enum q_term term;              /* Q_TERM only */
	/* QT_FIELD_*, QT_HAS: the dotted path, NUL-terminated. */
	char *field;
	size_t field_len;
	/*
	 * NUL-terminated too (but may hold NUL bytes; use value_len):
	 *   QT_FIELD_EQ: the value, exact bytes.
	 *   QT_FIELD_PREFIX: the prefix, exact bytes (without the '*').
	 *   QT_FIELD_GLOB: the pattern in escaped form: '*' is the wildcard,
	 *     "\*" a literal star, "\\" a literal backslash; no other
	 *     backslash occurs. Match it with query_glob_match().
	 *   QT_WORD: the lowercased token; QT_WORD_PREFIX: the lowercased
	 *     prefix token (without the '*').
	 */
	char *value;
	size_t value_len;
	char **tokens;                 /* QT_PHRASE: >= 2 lowercased tokens, NUL-terminated */
	size_t ntokens;
	/* QT_RANGE: inclusive bounds; INT64_MIN / INT64_MAX for an open
	 * end; lo > hi is an empty range. time/received in UTC ns since the
	 * epoch, seq as a number. */
	enum q_range_field rfield;
	int64_t lo, hi;
	uint32_t column;               /* 1-based byte column where this node starts */
};

struct query_arena;

struct query {
	struct qnode *root;            /* NULL: matches everything */
	/* Private: the terms in depth-first order (query_match's slots) and
	 * the arena owning all of the above. */
	struct qnode **terms;
	size_t nterms;
	struct query_arena *arena;
};

struct query_error {
	size_t column;                 /* 1-based byte column of the problem */
	char msg[256];                 /* "column N: expected ..., found ..." */
};

/*
 * Parses s[0..n) (any bytes; need not be NUL-terminated). now_ns resolves
 * relative times ("now-15m"). On success stores a new query in *ret and
 * returns 0. On failure *ret is untouched and returns ST_EINVAL (syntax) or
 * ST_ELIMIT (a limit above) with *err filled (err may be NULL), or -ENOMEM.
 */
int query_parse(const char *s, size_t n, int64_t now_ns, struct query **ret,
		struct query_error *err);

/* Frees q and everything it owns; NULL is fine. */
void query_free(struct query *q);

/*
 * Brute-force evaluation against one stored entry (the log's compact JSON,
 * "seq" and "received_at" first): one jwalk() pass that records which
 * terms hold, then the boolean tree. A malformed entry never matches (not
 * even the empty query) and never crashes. q == NULL matches every
 * well-formed entry.
 */
bool query_match(const struct query *q, const uint8_t *entry, size_t len);

/*
 * Appends the canonical text of q to out: single spaces, explicit AND /
 * OR / NOT, parentheses around every nested AND or OR, quoted phrases,
 * ranges as "lo..hi" with nanosecond RFC 3339 times and '*' for open ends.
 * The empty query formats as "". The text parses back to the same tree
 * (query_format of that is the same text). Returns 0, -ENOMEM or
 * ST_ELIMIT from out; out may hold a partial text then.
 */
int query_format(const struct query *q, struct buf *out);

/* True when s[0..len) matches the QT_FIELD_GLOB node n's pattern: '*'
 * matches any byte sequence (including none and '.'), everything else
 * itself. Exported so that the index matches exactly the same way. */
bool query_glob_match(const struct qnode *n, const char *s, size_t len);

/* The length k of the glob's leading literal run: n->value[0..k) holds no
 * wildcard and no escape, so every match starts with exactly those bytes
 * (an index narrows its scan with them). 0 when the pattern starts with
 * '*' or an escaped star or backslash. */
size_t query_glob_literal_prefix(const struct qnode *n);

#endif
