/*
 * registry.h - the schema registry: named, versioned, immutable schemas
 * (docs/SCHEMAS.md, "The registry"), kept in DIR/schemas/NAME/VERSION.json
 * and compiled once (schema.h).
 *
 * Rules:
 *   - a name is [a-z0-9][a-z0-9._-]{0,63}; a version is 1..REGISTRY_VERSION_MAX;
 *   - a published version never changes: the same bytes again are
 *     accepted as a no-op, other bytes are refused (ST_EEXIST);
 *   - versions of a name are published in increasing order, and a new one
 *     must be backward compatible with the highest one before it
 *     (schema_compat), unless published as breaking;
 *   - at most REGISTRY_MAX schemas, and REGISTRY_MAX_BYTES of schema text
 *     in all (each compiled schema costs a few times its text in memory,
 *     so this bounds the registry's memory; docs/SCHEMAS.md).
 * Files are written with write_file_atomic and the directory fsync'd
 * before registry_put returns. Entries are never removed, so a schema
 * pointer from registry_get stays valid until registry_free. Thread-safe.
 */
#ifndef SEALTRAIL_POLICY_REGISTRY_H
#define SEALTRAIL_POLICY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"
#include "policy/schema.h"

#define REGISTRY_MAX 1024
#define REGISTRY_NAME_MAX 64
#define REGISTRY_VERSION_MAX 999999u
#define REGISTRY_MAX_BYTES (16u << 20)

struct registry;

/* Loads every DIR/schemas/NAME/VERSION.json (creating DIR/schemas when
 * missing). A file that does not compile or is misnamed refuses the open,
 * naming it. */
int registry_open(struct registry **ret, const char *dir, char *err, size_t errcap);
void registry_free(struct registry *r);

bool registry_name_valid(const char *s, size_t n);

enum registry_put_result {
	REG_CREATED,      /* a new version */
	REG_SAME,         /* already published with these bytes */
};

/*
 * Publishes json[0..n) as name/version. Returns REG_CREATED or REG_SAME,
 * or: ST_EINVAL (bad name/version, or the schema does not compile:
 * *cerr says where), ST_EEXIST (published with other bytes), ST_ERANGE
 * (not above the highest published version), ST_ELIMIT (REGISTRY_MAX or
 * the schema's size, or REGISTRY_MAX_BYTES in all), -errno. A new version that is not backward
 * compatible with the highest one before it is refused with
 * REGISTRY_BREAKING and up to cap of the breaking changes in v (*nv the
 * total), unless breaking is set (then recorded beside the file).
 */
#define REGISTRY_BREAKING 1000
int registry_put(struct registry *r, const char *name, uint32_t version, const char *json,
		 size_t n, bool breaking, struct schema_error *cerr, struct schema_violation *v,
		 size_t cap, size_t *nv, uint8_t ret_digest[HASH_SIZE]);

/* The compiled schema, or NULL. Valid until registry_free. */
const struct schema *registry_get(struct registry *r, const char *name, size_t nl,
				  uint32_t version);
/* The highest published version of name (0 when none) and its schema
 * (NULL when none); a quarantined event is re-validated against it. */
const struct schema *registry_latest(struct registry *r, const char *name, size_t nl,
				     uint32_t *ret_version);

/* Appends the schema's text to out: 0, ST_ENOTFOUND, or a buf error. */
int registry_text(struct registry *r, const char *name, uint32_t version, struct buf *out);

/* Calls fn for each (name, version, breaking, digest) in name then version
 * order; a non-zero return stops and is returned. */
int registry_list(struct registry *r,
		  int (*fn)(void *arg, const char *name, uint32_t version, bool breaking,
			    const uint8_t digest[HASH_SIZE]),
		  void *arg);

/* "name/version" (as an event's `schema` member or a policy binding) into
 * name and version; false when malformed. */
bool registry_parse_ref(const char *s, size_t n, char name[REGISTRY_NAME_MAX + 1],
			uint32_t *version);

#endif
