/*
 * fuzz_httputil.c - libFuzzer target for src/server/httputil.c.
 *
 * The input (up to its first NUL) is a query string, a path and an
 * Authorization value; the whole input is a string for json_put_str.
 * Checked on every run:
 *  - query_check/query_get/query_u64 agree: when query_check accepts, no
 *    allowed key fails with ST_EINVAL and a big enough out never gives
 *    ST_ELIMIT; a decoded value has no NUL and is no longer than the query;
 *    query_u64 equals st_parse_u64 of query_get's value; messages are
 *    NUL-terminated; ST_ELIMIT leaves out untouched;
 *  - path_match captures are non-empty, hold no '/', lie inside the path,
 *    and substituting them into the pattern gives the path back;
 *    path_decode output has no '/' or NUL;
 *  - http_bearer's token lies inside the header and is token68;
 *  - json_put_str's output is a valid JSON string by an independent strict
 *    checker (escapes, no control bytes, UTF-8 without overlongs,
 *    surrogates or values above U+10FFFF) and, when the input is valid
 *    UTF-8, decodes back to the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "server/httputil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex4(const uint8_t *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d;
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			d = (p[i] | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Decodes one UTF-8 scalar at p[0..n); returns its length or 0. */
static size_t utf8_one(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		len = 2;
		v = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		v = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4;
		v = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
	uint32_t cp;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_one(p + i, n - i, &cp);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* Strict RFC 8259 string check of j[0..n); decodes into out (UTF-8). */
static bool json_string_ok(const uint8_t *j, size_t n, uint8_t *out, size_t *outlen)
{
	size_t i = 1, o = 0;
	uint32_t cp;

	if (n < 2 || j[0] != '"')
		return false;
	while (i < n) {
		uint8_t c = j[i];
		if (c == '"') {
			*outlen = o;
			return i == n - 1;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (i + 1 >= n)
				return false;
			uint8_t e = j[i + 1];
			const char *m = strchr("\"\\/bfnrt", e);
			if (e && m) {
				out[o++] = (uint8_t)("\"\\/\b\f\n\r\t"[m - "\"\\/bfnrt"]);
				i += 2;
				continue;
			}
			if (e != 'u' || i + 6 > n)
				return false;
			int v = hex4(j + i + 2);
			if (v < 0 || (v >= 0xD800 && v <= 0xDFFF))
				return false;   /* json_put_str never writes surrogate escapes */
			cp = (uint32_t)v;
			i += 6;
		} else {
			size_t k = utf8_one(j + i, n - i, &cp);
			if (!k)
				return false;
			i += k;
		}
		/* Re-encode the scalar. */
		if (cp < 0x80) {
			out[o++] = (uint8_t)cp;
		} else if (cp < 0x800) {
			out[o++] = (uint8_t)(0xC0 | cp >> 6);
			out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[o++] = (uint8_t)(0xE0 | cp >> 12);
			out[o++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
			out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
		} else {
			out[o++] = (uint8_t)(0xF0 | cp >> 18);
			out[o++] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
			out[o++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
			out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
		}
	}
	return false;
}

static void check_json(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT(16 * size + 64);
	uint8_t *dec;
	size_t dlen = 0;

	if (json_put_str(&b, (const char *)data, size) != 0)
		abort();
	dec = malloc(b.len + 1);
	if (!dec || !json_string_ok(b.data, b.len, dec, &dlen))
		abort();
	if (valid_utf8(data, size) && (dlen != size || memcmp(dec, data, size) != 0))
		abort();
	/* A buffer too small by one fails whole. */
	struct buf small = BUF_INIT(b.len);
	buf_putc(&small, 'x');   /* room for all but the last byte */
	if (json_put_str(&small, (const char *)data, size) != ST_ELIMIT || small.len != 1)
		abort();
	free(dec);
	buf_release(&small);
	buf_release(&b);
}

static bool is_token68(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static void check_query(const char *qs, size_t qlen)
{
	static const char *const allowed[] = { "a", "limit", "after", "b c", NULL };
	char err[96], out[64], big[4200];
	uint64_t v;
	bool present;

	memset(err, 0x55, sizeof(err));
	int crc = query_check(qs, allowed, err, sizeof(err));
	if (crc != 0 && crc != ST_EINVAL && crc != ST_ELIMIT)
		abort();
	if (crc < 0 && !memchr(err, 0, sizeof(err)))
		abort();
	for (size_t i = 0; allowed[i]; i++) {
		int rc = query_get(qs, allowed[i], big, sizeof(big));
		if (rc >= 0) {
			if ((size_t)rc > qlen || strlen(big) != (size_t)rc)
				abort();
		} else if (rc != ST_ENOTFOUND && rc != ST_EINVAL && rc != ST_ELIMIT) {
			abort();
		}
		if (crc == 0 && (rc == ST_EINVAL || rc == ST_ELIMIT))
			abort();
		/* A small out: the same answer, or ST_ELIMIT untouched. */
		memset(out, '#', sizeof(out));
		int src = query_get(qs, allowed[i], out, sizeof(out));
		if (src != rc && !(rc >= (int)sizeof(out) && src == ST_ELIMIT && out[0] == '#'))
			abort();
		memset(err, 0x55, sizeof(err));
		v = 12345;
		present = false;
		int urc = query_u64(qs, allowed[i], 0, 1000, &v, &present, err, sizeof(err));
		uint64_t pv;
		if (rc == ST_ENOTFOUND) {
			if (urc != 0 || present || v != 12345)
				abort();
		} else if (rc >= 0 && st_parse_u64(big, (size_t)rc, &pv) && pv <= 1000) {
			if (urc != 0 || !present || v != pv)
				abort();
		} else if (urc != ST_EINVAL || v != 12345 || !memchr(err, 0, sizeof(err))) {
			abort();
		}
	}
}

static void check_path(const char *path, size_t n)
{
	static const char *const patterns[] = {
		"/v1/events/{}", "/v1/tenants/{}/events/{}", "/{}/{}/{}/{}", "/{}", "/v1/health", "{}",
	};
	char out[256];

	for (size_t p = 0; p < ARRAY_SIZE(patterns); p++) {
		struct path_match m;
		if (!path_match(path, n, patterns[p], &m))
			continue;
		/* Rebuild the path from the pattern and the captures. */
		char *re = malloc(n + 64);
		size_t o = 0, c = 0;
		if (!re)
			abort();
		for (const char *q = patterns[p]; *q;) {
			if (q[0] == '{' && q[1] == '}') {
				if (c >= m.n || m.len[c] == 0 || m.seg[c] < path ||
				    m.seg[c] + m.len[c] > path + n || memchr(m.seg[c], '/', m.len[c]))
					abort();
				if (o + m.len[c] > n)
					abort();
				memcpy(re + o, m.seg[c], m.len[c]);
				o += m.len[c];
				c++;
				q += 2;
			} else {
				if (o >= n + 63)
					abort();
				re[o++] = *q++;
			}
		}
		if (c != m.n || o != n || memcmp(re, path, n) != 0)
			abort();
		free(re);
		for (size_t k = 0; k < m.n; k++) {
			int rc = path_decode(m.seg[k], m.len[k], out, sizeof(out));
			if (rc >= 0 && ((size_t)rc > m.len[k] || strlen(out) != (size_t)rc ||
					memchr(out, '/', (size_t)rc)))
				abort();
			if (rc < 0 && rc != ST_EINVAL && rc != ST_ELIMIT)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = 0;
	check_query(s, n);
	check_path(s, n);

	const char *tok;
	size_t tlen;
	if (http_bearer(s, n, &tok, &tlen)) {
		if (tok < s || tok + tlen > s + n || tlen == 0)
			abort();
		for (size_t i = 0; i < tlen; i++)
			if (!is_token68(tok[i]))
				abort();
	}
	/* The raw bytes too, NUL included. */
	if (http_bearer((const char *)data, size, &tok, &tlen) && memchr(tok, 0, tlen))
		abort();
	free(s);

	check_json(data, size);
	return 0;
}
