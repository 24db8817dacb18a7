/*
 * uuid.c - UUIDv7 generation. Random bits come from a per-thread pool
 * refilled from getrandom() 64 KiB at a time: one syscall per ~6,500 ids.
 */
#include "common/uuid.h"
#include "common/codec.h"
#include "common/fileio.h"

#include <string.h>

static _Thread_local uint8_t pool[65536];
static _Thread_local size_t pool_left;

int uuidv7_format(uint64_t ms, char out[UUID_STR_LEN + 1])
{
	uint8_t u[16];
	char hex[33];

	if (pool_left < 10) {
		int r = random_bytes(pool, sizeof(pool));
		if (r < 0)
			return r;
		pool_left = sizeof(pool);
	}
	memcpy(u + 6, pool + sizeof(pool) - pool_left, 10);
	pool_left -= 10;
	for (int i = 0; i < 6; i++)
		u[i] = (uint8_t)(ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | (u[6] & 0x0f));
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
	hex_encode(u, 16, hex);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = 0;
	return 0;
}
