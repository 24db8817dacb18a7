/*
 * buf.c - bounded growable buffer. Invariant: len <= cap, cap <= max
 * (except that cap may exceed max by one for buf_cstr's terminator).
 */
#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int grow(struct buf *b, size_t need, size_t limit)
{
	size_t ncap = b->cap ? b->cap : 256;
	uint8_t *p;

	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > limit)
		ncap = limit;
	p = realloc(b->data, ncap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return ST_ELIMIT;
	if (b->len + n <= b->cap)
		return 0;
	return grow(b, b->len + n, b->max + 1);
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_putc(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(tmp))
		return buf_append(b, tmp, (size_t)n);
	int r = buf_reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_cstr(struct buf *b)
{
	if (b->len + 1 > b->cap) {
		int r = grow(b, b->len + 1, b->max + 1);
		if (r < 0)
			return r;
	}
	b->data[b->len] = 0;
	return 0;
}
