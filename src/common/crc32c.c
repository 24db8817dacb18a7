/*
 * crc32c.c - CRC-32C with the SSE4.2 instruction, 8 bytes per step, and a
 * portable table fallback chosen once at first use.
 */
#include "common/crc32c.h"

#include <nmmintrin.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static uint32_t table[256];
static int mode; /* 1 hardware, 2 table */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
	__builtin_cpu_init();
	mode = __builtin_cpu_supports("sse4.2") ? 1 : 2;
}

__attribute__((target("sse4.2")))
static uint32_t hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

static uint32_t sw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	uint32_t c = ~crc;
	pthread_once(&once, init);
	c = mode == 1 ? hw(c, data, len) : sw(c, data, len);
	return ~c;
}
