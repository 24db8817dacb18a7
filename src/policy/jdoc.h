/*
 * jdoc.h - a small JSON document tree for the policy room: schemas, the
 * policy file, and instances validated against a schema.
 *
 * What it reads: one JSON text (RFC 8259), strictly, as event_parse does
 * (docs/EVENT.md): any value at the root; whitespace is space, tab, LF,
 * CR only; UTF-8 validated per Unicode table 3-7 (no overlongs, no
 * surrogates, nothing above U+10FFFF); escapes `\" \\ \/ \b \f \n \r \t
 * \uXXXX` with surrogate escapes paired; raw bytes below 0x20 refused in
 * strings; numbers `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`;
 * duplicate keys refused in every object, compared by decoded value.
 *
 * The tree lives in a jdoc_arena the caller owns: every node, member array
 * and decoded string of a parse is allocated there, and nothing else is,
 * so jdoc_arena_reset() forgets a whole tree at once. An arena has a hard
 * maximum of bytes; a parse that would pass it fails with ST_ELIMIT.
 *
 * Limits (struct jdoc_limits) bound every client-controlled size: input
 * bytes, nesting depth (clamped to JDOC_DEPTH_HARD), values in the tree,
 * bytes of one string as written. Refusals fill struct jdoc_error with the
 * byte offset in the input, the RFC 6901 JSON pointer of the value being
 * read, and what was expected and found.
 *
 * Numbers are kept as their text, never converted; jdoc_num_cmp() compares
 * two number texts exactly as decimals, so 1, 1.0 and 10e-1 are equal and
 * 9007199254740993 > 9007199254740992.
 *
 * Thread safety: no global state. A tree is read-only once parsed and can
 * be read from any number of threads; an arena is used by one thread at a
 * time.
 */
#ifndef SEALTRAIL_POLICY_JDOC_H
#define SEALTRAIL_POLICY_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JDOC_DEPTH_HARD 128        /* nesting the parser ever follows (recursion on the C stack) */
#define JDOC_INPUT_HARD 0xFFFFFFFFu /* offsets are 32-bit */

enum jdoc_type {
	JDOC_NULL, JDOC_FALSE, JDOC_TRUE, JDOC_NUMBER, JDOC_STRING, JDOC_ARRAY, JDOC_OBJECT
};

struct jdoc_member;

/* One value. For JDOC_STRING, s[0..len) is the decoded value (UTF-8, may
 * contain NUL from \u0000); for JDOC_NUMBER, s[0..len) is the number's
 * text as written. Without JDOC_BORROW both are copies in the arena and
 * NUL-terminated; with it, strings without escapes and numbers point into
 * the caller's input and are not terminated. Arrays: items[0..len);
 * objects: members[0..len) in document order. offset: byte of the value's
 * first character in the input. */
struct jdoc_value {
	union {
		const char *s;
		const struct jdoc_value *items;
		const struct jdoc_member *members;
	} u;
	uint32_t len;
	uint32_t offset;
	uint8_t type;               /* enum jdoc_type */
};

struct jdoc_member {
	const char *key;            /* decoded; same ownership rule as strings */
	uint32_t key_len;
	uint32_t key_offset;        /* byte of the key's opening quote */
	struct jdoc_value value;
};

/* A chunked bump allocator with a hard maximum. Owns its chunks and a
 * scratch vector the parser reuses; both are freed by jdoc_arena_release.
 * A zeroed struct is not usable: call jdoc_arena_init. */
struct jdoc_arena {
	struct jdoc_chunk *head;    /* newest chunk first */
	size_t used;                /* bytes handed out since the last reset, counted against max */
	size_t max;
	struct jdoc_member *scratch; /* parser's stack of open containers' children */
	size_t scratch_cap;
};

void jdoc_arena_init(struct jdoc_arena *a, size_t max);
/* n bytes aligned to 8, or NULL when max would be passed or malloc fails. */
void *jdoc_arena_alloc(struct jdoc_arena *a, size_t n);
/* Forgets everything allocated; keeps the first chunk (and the scratch
 * vector when it is at most 64 KiB) for the next use. */
void jdoc_arena_reset(struct jdoc_arena *a);
/* Frees everything; the arena may be re-initialized. NULL is a no-op. */
void jdoc_arena_release(struct jdoc_arena *a);

struct jdoc_limits {
	size_t max_input;           /* bytes of the JSON text; clamped to JDOC_INPUT_HARD */
	uint32_t max_depth;         /* nesting of arrays/objects, root container = 1; clamped to JDOC_DEPTH_HARD */
	uint32_t max_values;        /* values in the tree, the root included */
	uint32_t max_string;        /* bytes of one string or key as written, quotes excluded */
};

/* 1 MiB input, depth 64, 65536 values, 65536-byte strings. */
void jdoc_limits_default(struct jdoc_limits *lim);

#define JDOC_BORROW 1u  /* let strings without escapes and numbers point into the input */

struct jdoc_error {
	int code;                   /* ST_EINVAL (malformed), ST_ELIMIT (a limit), -ENOMEM */
	size_t offset;              /* byte offset in the input */
	char pointer[256];          /* RFC 6901 pointer of the value being read ("" = root) */
	char msg[160];              /* what was expected and what was found */
};

/*
 * Parses json[0..n) into a tree allocated in a. lim == NULL means the
 * defaults. Returns 0 and sets *ret (valid until a is reset), or
 * ST_EINVAL / ST_ELIMIT / -ENOMEM with *err filled (err may be NULL) and
 * *ret untouched; on failure the arena may hold garbage until reset. With
 * JDOC_BORROW the tree points into json, which must outlive it.
 */
int jdoc_parse(struct jdoc_arena *a, const char *json, size_t n,
	       const struct jdoc_limits *lim, unsigned flags,
	       const struct jdoc_value **ret, struct jdoc_error *err);

/* The member value of an object with that decoded key, or NULL (also when
 * obj is not an object). Linear. */
const struct jdoc_value *jdoc_get(const struct jdoc_value *obj, const char *key,
				  size_t key_len);

/* JSON equality as JSON Schema defines it: same type (integer and number
 * being one type), numbers equal as decimals, strings byte-equal after
 * decoding, arrays element-wise, objects with the same keys and equal
 * values in any order. */
bool jdoc_equal(const struct jdoc_value *a, const struct jdoc_value *b);

/* Exact comparison of two valid JSON number texts: <0, 0, >0. Exponents
 * beyond +-10^15 saturate (such numbers compare equal to each other). */
int jdoc_num_cmp(const char *a, size_t an, const char *b, size_t bn);
/* True when a valid number text has no fractional part (1.0, 1e3, -0). */
bool jdoc_num_is_integer(const char *s, size_t n);

/* Code points in valid UTF-8 s[0..n). */
size_t jdoc_utf8_count(const char *s, size_t n);

/* Appends "/" and seg (escaped: ~ as ~0, / as ~1) to the NUL-terminated
 * pointer in buf[0..cap), at its length len; returns the new length. A
 * segment that does not fit is cut at the last whole character that
 * does (never in the middle of an escape or a UTF-8 sequence). */
size_t jdoc_pointer_push(char *buf, size_t len, size_t cap, const char *seg, size_t seg_len);
/* Same for an array index. */
size_t jdoc_pointer_push_index(char *buf, size_t len, size_t cap, size_t index);

/* "null", "boolean", "number", "string", "array", "object". */
const char *jdoc_type_name(const struct jdoc_value *v);

#endif
