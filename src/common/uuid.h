/*
 * uuid.h - UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7,
 * variant 10, 74 random bits. Formatted lower case, 36 characters.
 */
#ifndef SEALTRAIL_COMMON_UUID_H
#define SEALTRAIL_COMMON_UUID_H

#include <stdint.h>

#define UUID_STR_LEN 36
/* ms: Unix time in milliseconds. Returns 0 or -errno (no randomness). */
int uuidv7_format(uint64_t ms, char out[UUID_STR_LEN + 1]);

#endif
