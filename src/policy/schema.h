/*
 * schema.h - event schemas: a JSON Schema subset compiled once, validated
 * against on the ingest path, and compared for backward compatibility
 * (docs/SCHEMAS.md is the contract: keywords, formats, limits, rules).
 *
 * The subset: type, properties, required, enum, const, pattern,
 * minLength, maxLength, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, items (one schema), additionalProperties (boolean or
 * schema), format (date-time, email, ipv4, ipv6, uuid), and the ignored
 * annotations $comment, $schema, title, description. Boolean schemas
 * (true, false) are accepted wherever a schema is. Any other keyword, and
 * any other format, is a compile error naming it and its JSON pointer, so
 * that no author believes an unsupported keyword is enforced.
 *
 * Ownership and threads: a compiled struct schema owns all its memory
 * (an arena holding the schema document and its nodes, and the compiled
 * PCRE2 patterns). It is immutable after schema_compile returns, so any
 * number of threads may validate with it at once. Each validating thread
 * keeps its own state (an arena for the instance's tree and PCRE2 match
 * data), created on first use and freed when the thread exits, or
 * earlier by schema_thread_release().
 *
 * Library code: nothing here logs. Violation messages never quote the
 * instance's values (they may hold personal data): they name the rule,
 * the schema's side of it (the pattern, the bound, the format) and at most
 * the instance's type or length.
 */
#ifndef SEALTRAIL_POLICY_SCHEMA_H
#define SEALTRAIL_POLICY_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/jdoc.h"

/* Limits of a schema document, each a compile error naming it. */
#define SCHEMA_MAX_BYTES (256 * 1024) /* bytes of the schema text */
#define SCHEMA_MAX_DEPTH 16           /* nesting of subschemas, the root is 1 */
#define SCHEMA_MAX_NODES 2048         /* subschemas in one document */
#define SCHEMA_MAX_PATTERNS 64        /* "pattern" keywords in one document */
#define SCHEMA_MAX_PATTERN_LEN 1024   /* bytes of one pattern (decoded) */
#define SCHEMA_MAX_ENUM 256           /* values of one "enum" */
#define SCHEMA_MAX_PROPERTIES 512     /* members of one "properties" */
#define SCHEMA_MAX_REQUIRED 256       /* names of one "required" */

/* PCRE2 limits applied to every match (docs/SCHEMAS.md "Patterns"). */
#define SCHEMA_MATCH_LIMIT 100000     /* pcre2_set_match_limit */
#define SCHEMA_DEPTH_LIMIT 10000      /* pcre2_set_depth_limit (backtracking frames) */
#define SCHEMA_HEAP_LIMIT_KIB 4096    /* pcre2_set_heap_limit */
/* Matches of one validation that may end at a limit; the patterns after
 * that are not run and are reported as pattern-limit violations. */
#define SCHEMA_MAX_LIMIT_HITS 4

/* Largest instance schema_validate reads (events are at most 64 KiB). */
#define SCHEMA_INSTANCE_MAX (1u << 20)

#define SCHEMA_PTR_MAX 256

struct schema;

/* A compile error. code is ST_EINVAL (the text is not a schema of the
 * subset: malformed JSON, unknown keyword, wrong value), ST_ELIMIT (a
 * limit above) or -ENOMEM. offset is the byte in the schema text (of the
 * offending key or value); pointer the RFC 6901 pointer into the schema
 * document of the keyword or value ("" = root); msg what was expected and
 * what was found. */
struct schema_error {
	int code;
	size_t offset;
	char pointer[SCHEMA_PTR_MAX];
	char msg[200];
};

/* One violation (schema_validate) or one breaking change (schema_compat).
 * pointer: for a violation, the RFC 6901 pointer of the offending value in
 * the instance ("" = the whole event; for "required", the pointer of the
 * missing member; for "additionalProperties", of the extra member); for a
 * breaking change, the pointer of the keyword in the newer schema that
 * breaks. Pointers longer than 255 bytes are cut at a character boundary.
 * rule: the keyword ("type", "required", "pattern", "enum", "format",
 * "minLength", ...), "pattern-limit" when a pattern could not be decided
 * within the PCRE2 limits (a failure, never a pass), or "false" for a
 * value where the schema is `false`. msg: a sentence for a human. */
struct schema_violation {
	char pointer[SCHEMA_PTR_MAX];
	char rule[32];
	char msg[160];
};

#define SCHEMA_NO_JIT 1u  /* schema_compile_flags: interpret patterns, never JIT them */

/* Compiles json[0..n). Returns 0 and sets *ret (caller frees with
 * schema_free), or a negative code with *err filled (err may be NULL) and
 * *ret untouched. Patterns are compiled here, JIT-compiled when PCRE2 has
 * a JIT for this machine (unless SCHEMA_NO_JIT). */
int schema_compile(const char *json, size_t n, struct schema **ret, struct schema_error *err);
int schema_compile_flags(const char *json, size_t n, unsigned flags,
			 struct schema **ret, struct schema_error *err);

/* NULL is a no-op. */
void schema_free(struct schema *s);

/*
 * Validates one JSON instance json[0..n) (an event's compact JSON, or any
 * JSON text). Writes the first cap violations to v[0..cap) in document
 * order and returns how many there are in all (0 = valid). Returns
 * ST_EINVAL when json is not one valid JSON text (v[0], when cap > 0, then
 * has rule "json", the byte offset in msg), ST_ELIMIT when it passes the
 * reader's limits (SCHEMA_INSTANCE_MAX bytes, depth 64, 65536 values), or
 * -ENOMEM. Thread-safe; allocates nothing after a thread's first call unless
 * the instance's tree outgrows the thread arena's first 16 KiB chunk (a
 * 600-byte event needs about 3 KiB).
 */
int schema_validate(const struct schema *s, const char *json, size_t n,
		    struct schema_violation *v, size_t cap);

/* The same over an already parsed tree (pointers are relative to it). */
int schema_validate_value(const struct schema *s, const struct jdoc_value *root,
			  struct schema_violation *v, size_t cap);

/*
 * Backward compatibility of next against prev: may every instance valid
 * under prev still be valid under next? Returns 0 when that is proven
 * under the rules of docs/SCHEMAS.md, else the number of breaking changes
 * found (the first cap described in v), or -ENOMEM. Conservative: a
 * change that might reject a previously valid instance is breaking.
 */
int schema_compat(const struct schema *prev, const struct schema *next,
		  struct schema_violation *v, size_t cap);

/* Frees the calling thread's validation state now (it is also freed at
 * thread exit). The next validation on this thread recreates it. */
void schema_thread_release(void);

#endif
