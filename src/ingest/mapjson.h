/*
 * mapjson.h - small JSON writers the importers' mappers share
 * (cloudtrail.c, auditd.c, k8s.c): a member with a capped string, a jdoc value
 * copied back as JSON, a safe action segment, "is this an IP address".
 *
 * Every writer appends to a struct buf (which has its own hard maximum)
 * and returns 0 or a negative error from buf (ST_ELIMIT, -ENOMEM);
 * json_put_str keeps the output valid JSON whatever the bytes.
 */
#ifndef SEALTRAIL_INGEST_MAPJSON_H
#define SEALTRAIL_INGEST_MAPJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "policy/jdoc.h"

/* ,"key":"s" with s cut to cap bytes (a cut UTF-8 sequence becomes
 * U+FFFD). key is written as is: the callers pass literals. */
int mj_kv(struct buf *b, const char *key, const char *s, size_t n, size_t cap);
/* mj_kv of a jdoc string value; nothing when v is NULL, not a string or
 * empty (CloudTrail writes "" for what it does not know). */
int mj_kv_v(struct buf *b, const char *key, const struct jdoc_value *v, size_t cap);
/* The value v as JSON (strings re-escaped, numbers as written). Deeper
 * than max_depth below depth is ST_ELIMIT (and b holds a partial value:
 * the callers compose into a scratch line they discard on error). */
int mj_value(struct buf *b, const struct jdoc_value *v, int depth, int max_depth);
/* An action segment: ASCII letters (lower-cased when lower), digits,
 * '-' and '_'; anything else as '_'; at most cap bytes; empty is
 * "unknown". */
int mj_seg(struct buf *b, const char *s, size_t n, size_t cap, bool lower);
/* A string member of an object, or NULL. */
const struct jdoc_value *mj_str(const struct jdoc_value *obj, const char *key);
/* An object member of an object, or NULL. */
const struct jdoc_value *mj_obj(const struct jdoc_value *obj, const char *key);
/* True when v is a string of 1..cap bytes of [A-Za-z0-9._:-]: safe to
 * keep as an event's id. */
bool mj_id_safe(const struct jdoc_value *v, size_t cap);
/* True when s[0..n) is an IPv4 or IPv6 address in text form. */
bool mj_is_ip(const char *s, size_t n);

#endif
