/*
 * util.c - error texts, constant-time compare, wipe, strict integers.
 */
#include "common/util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *st_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case ST_EINVAL: return "invalid input";
	case ST_ELIMIT: return "limit exceeded";
	case ST_ECORRUPT: return "stored data is corrupt";
	case ST_ESTICKY: return "log refuses writes after an earlier I/O failure; reopen to recover";
	case ST_ESIG: return "signature does not verify";
	case ST_ENOTFOUND: return "not found";
	case ST_EEXIST: return "already exists";
	case ST_ERANGE: return "out of range";
	case ST_ETENANTS: return "too many tenants (the log's max_tenants is reached)";
	case ST_EERASED: return "erased (its data subject was crypto-shredded)";
	default: break;
	}
	if (err < 0 && err > -ST_EBASE)
		return strerror(-err);
	return "unknown error";
}

bool st_ct_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void st_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

size_t st_fmt_u64(char *out, uint64_t v)
{
	char t[20];
	size_t n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	return n;
}

bool st_parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

int st_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return ST_EINVAL;
}
