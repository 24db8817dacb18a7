/*
 * buf.h - a growable byte buffer with a hard maximum.
 *
 * Every buffer is created with the largest size it may ever reach; an
 * append past it fails with ST_ELIMIT and leaves the buffer unchanged.
 * The buffer owns its memory; buf_release() frees it and may be called on
 * a zeroed or already released buffer.
 */
#ifndef SEALTRAIL_COMMON_BUF_H
#define SEALTRAIL_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define BUF_INIT(maxsize) { NULL, 0, 0, (maxsize) }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Make room for n more bytes; 0, -ENOMEM or ST_ELIMIT. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, uint8_t c);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void buf_reset(struct buf *b) { b->len = 0; }
/* NUL-terminate without counting the NUL in len. */
int buf_cstr(struct buf *b);

#endif
