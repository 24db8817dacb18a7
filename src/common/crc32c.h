/*
 * crc32c.h - CRC-32C (Castagnoli), as used in every stored frame.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
 * crc32c(0, p, n) is the standard CRC-32C of p (init ~0, final xor ~0);
 * pass a previous result as crc to continue over more bytes.
 */
#ifndef SEALTRAIL_COMMON_CRC32C_H
#define SEALTRAIL_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
