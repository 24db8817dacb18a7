/*
 * codec.c - strict base64 and hex, and the JSON string writer.
 */
#include "common/codec.h"

#include <string.h>

#include "common/buf.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

/* Decoding table holding value + 1 (1..64 for the alphabet, 65 for '='),
 * 0 for every other byte; dv() turns it back into 0..64, or 255. */
static const uint8_t dec1[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64, ['='] = 65,
};
#define dv(c) ((uint32_t)(uint8_t)(dec1[(c)] - 1))

long base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t o = 0, i = 0;

	if (n % 4)
		return -1;
	/* Whole quads without padding: every character must be < 64. */
	for (; i + 4 < n || (i + 4 == n && s[n - 1] != '='); i += 4) {
		uint32_t a = dv(s[i]), b = dv(s[i + 1]), c = dv(s[i + 2]), d = dv(s[i + 3]);
		if ((a | b | c | d) >= 64 || o + 3 > cap)
			return -1;
		uint32_t w = a << 18 | b << 12 | c << 6 | d;
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	if (i == n)
		return (long)o;
	/* The last quad ends in '=': "xx==" or "xxx=", with zero trailing bits. */
	uint32_t a = dv(s[i]), b = dv(s[i + 1]), c = dv(s[i + 2]);
	if (a >= 64 || b >= 64)
		return -1;
	if (c == 64) {
		if ((b & 15) || o + 1 > cap)
			return -1;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
	} else {
		if (c >= 64 || (c & 3) || o + 2 > cap)
			return -1;
		uint32_t w = a << 18 | b << 12 | c << 6;
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
	}
	return (long)o;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

bool hex_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n != 2 * cap)
		return false;
	for (size_t i = 0; i < cap; i++) {
		int a = hv(in[2 * i]), b = hv(in[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return true;
}

/* --- JSON strings ------------------------------------------------------- */

/*
 * Length of the UTF-8 sequence at p[0..n) when valid (1..4, *ok = true),
 * else the length of its maximal invalid subpart (1..3, *ok = false).
 */
static size_t utf8_seq(const uint8_t *p, size_t n, bool *ok)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t need;

	*ok = false;
	if (c < 0x80) {
		*ok = true;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;   /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;   /* nothing above U+10FFFF */
	} else {
		return 1;   /* continuation, C0, C1, F5..FF */
	}
	for (size_t j = 1; j <= need; j++) {
		if (j >= n || p[j] < lo || p[j] > hi)
			return j;
		lo = 0x80;
		hi = 0xBF;
	}
	*ok = true;
	return need + 1;
}

int json_put_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	size_t old = b->len, i = 0, run = 0;
	int rc;

	if ((rc = buf_putc(b, '"')) < 0)
		goto restore;
	while (i < n) {
		uint8_t c = p[i];
		char esc[6];
		size_t elen;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			bool ok;
			size_t k = utf8_seq(p + i, n - i, &ok);
			if (ok) {
				i += k;
				continue;
			}
			if ((rc = buf_append(b, p + run, i - run)) < 0 ||
			    (rc = buf_append(b, "\\ufffd", 6)) < 0)
				goto restore;
			i += k;
			run = i;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			elen = 2;
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if ((rc = buf_append(b, p + run, i - run)) < 0 ||
		    (rc = buf_append(b, esc, elen)) < 0)
			goto restore;
		i++;
		run = i;
	}
	if ((n && (rc = buf_append(b, p + run, n - run)) < 0) ||
	    (rc = buf_putc(b, '"')) < 0)
		goto restore;
	return 0;
restore:
	b->len = old;
	return rc;
}
