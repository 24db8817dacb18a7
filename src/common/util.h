/*
 * util.h - small helpers every room uses: error codes, byte order,
 * constant-time compare, secure wipe.
 *
 * Error convention: functions return 0 (or a non-negative count) on success
 * and a negative value on failure: -errno for system errors, or one of the
 * ST_E* codes below. The codes only grow; never renumber one.
 */
#ifndef SEALTRAIL_COMMON_UTIL_H
#define SEALTRAIL_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
	ST_EBASE = 10000,
	ST_EINVAL = -(ST_EBASE + 1),   /* malformed input */
	ST_ELIMIT = -(ST_EBASE + 2),   /* a configured limit was exceeded */
	ST_ECORRUPT = -(ST_EBASE + 3), /* stored data failed a check */
	ST_ESTICKY = -(ST_EBASE + 4),  /* an earlier I/O failure poisoned the log */
	ST_ESIG = -(ST_EBASE + 5),     /* a signature did not verify */
	ST_ENOTFOUND = -(ST_EBASE + 6),
	ST_EEXIST = -(ST_EBASE + 7),
	ST_ERANGE = -(ST_EBASE + 8),   /* seq or size out of range */
	ST_ETENANTS = -(ST_EBASE + 9), /* the log's max_tenants is reached */
	ST_EERASED = -(ST_EBASE + 10), /* crypto-shredded: existed, never resolves again (HTTP 410) */
};

/* Text for an error code (ST_E* or -errno). Never NULL. */
const char *st_strerror(int err);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v;
}
static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Writes a message into err[0..cap) (when err and cap are non-zero) and
 * returns ST_EINVAL: the one error-message helper of every parser. */
int st_fail(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Constant-time equality of two n-byte strings. */
bool st_ct_equal(const void *a, const void *b, size_t n);

/* Wipe a secret; the compiler may not elide it. */
void st_wipe(void *p, size_t n);

/* Writes v in decimal (at most 20 digits, no NUL) and returns the count;
 * the hot paths use it instead of printf. */
size_t st_fmt_u64(char *out, uint64_t v);

/* Parse a decimal uint64 that fills [s, s+n) exactly: no sign, no leading
 * zero unless the value is 0, no overflow. */
bool st_parse_u64(const char *s, size_t n, uint64_t *ret);

#endif
