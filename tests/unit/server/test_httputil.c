/*
 * test_httputil.c - tables for query_get, query_u64, query_check,
 * path_match, path_decode and http_bearer (malformed escapes, duplicates,
 * limits at and over, unknown parameters, bearer variants, outputs left
 * untouched on failure), and json_put_str byte for byte plus a check that
 * its output of random bytes is always accepted by event_parse inside an
 * event and decodes back to the input when the input was valid UTF-8.
 */
#include "test.h"

#include <errno.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/util.h"
#include "event/event.h"
#include "server/httputil.h"

static void test_query_get(void)
{
	static const struct {
		const char *qs, *key;
		int rc;
		const char *want;
	} t[] = {
		{ "a=1&b=x%20y", "b", 3, "x y" },
		{ "a=1&b=x+y", "b", 3, "x y" },
		{ "a=1&b=x%2By", "b", 3, "x+y" },
		{ "a=1&b=x%2by", "b", 3, "x+y" },
		{ "a", "a", 0, "" },
		{ "a=", "a", 0, "" },
		{ "&&a=1&&", "a", 1, "1" },
		{ "a=b=c", "a", 3, "b=c" },
		{ "a=%e2%82%AC", "a", 3, "\xe2\x82\xac" },
		{ "%61=5", "a", 1, "5" },
		{ "a+b=5", "a b", 1, "5" },
		{ "x=1&b=%zz&a=2", "a", 1, "2" },   /* another value's bad escape is not ours */
		{ "a=1", "b", ST_ENOTFOUND, NULL },
		{ "", "a", ST_ENOTFOUND, NULL },
		{ "ab=1", "a", ST_ENOTFOUND, NULL },
		{ "a=1", "ab", ST_ENOTFOUND, NULL },
		{ "a%=5", "a", ST_ENOTFOUND, NULL },
		{ "a%6=5", "a", ST_ENOTFOUND, NULL },
		{ "%00a=5", "a", ST_ENOTFOUND, NULL },
		{ "A=1", "a", ST_ENOTFOUND, NULL },
		{ "a=1&a=2", "a", ST_EINVAL, NULL },
		{ "a=1&%61=1", "a", ST_EINVAL, NULL },
		{ "a&a", "a", ST_EINVAL, NULL },
		{ "a=%", "a", ST_EINVAL, NULL },
		{ "a=%4", "a", ST_EINVAL, NULL },
		{ "a=x%4", "a", ST_EINVAL, NULL },
		{ "a=%zz", "a", ST_EINVAL, NULL },
		{ "a=%4g", "a", ST_EINVAL, NULL },
		{ "a=%g4", "a", ST_EINVAL, NULL },
		{ "a=%00", "a", ST_EINVAL, NULL },
		{ "a=x%00y", "a", ST_EINVAL, NULL },
	};
	char out[16];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memset(out, '#', sizeof(out));
		int rc = query_get(t[i].qs, t[i].key, out, sizeof(out));
		CHECK_MSG(rc == t[i].rc, "[%s] %s: %d", t[i].qs, t[i].key, rc);
		if (rc >= 0 && t[i].want)
			CHECK_MSG(strlen(t[i].want) == (size_t)rc && memcmp(out, t[i].want, (size_t)rc + 1) == 0,
				  "[%s]: [%s]", t[i].qs, out);
		else
			CHECK(out[0] == '#');
	}
	CHECK(query_get(NULL, "a", out, sizeof(out)) == ST_ENOTFOUND);

	/* cap counts the NUL; out untouched when it doesn't fit. */
	memset(out, '#', sizeof(out));
	CHECK(query_get("a=abcd", "a", out, 4) == ST_ELIMIT && out[0] == '#');
	CHECK(query_get("a=abcd", "a", out, 5) == 4 && strcmp(out, "abcd") == 0);
	CHECK(query_get("a=a%20d", "a", out, 4) == 3 && strcmp(out, "a d") == 0);
	CHECK(query_get("a=", "a", out, 0) == ST_ELIMIT);
	CHECK(query_get("a=", "a", out, 1) == 0 && out[0] == 0);
}

static void test_query_u64(void)
{
	static const struct {
		const char *qs;
		uint64_t min, max;
		int rc;
		uint64_t want;
		const char *msg;
	} t[] = {
		{ "limit=10", 1, 100, 0, 10, NULL },
		{ "x=5&limit=1", 1, 100, 0, 1, NULL },
		{ "limit=100", 1, 100, 0, 100, NULL },
		{ "limit=0", 0, 0, 0, 0, NULL },
		{ "limit=%31%30", 1, 100, 0, 10, NULL },
		{ "limit=18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX, NULL },
		{ "limit=0", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"0\"" },
		{ "limit=101", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"101\"" },
		{ "limit=abc", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"abc\"" },
		{ "limit=", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"\"" },
		{ "limit", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"\"" },
		{ "limit=-1", 0, 100, ST_EINVAL, 0, NULL },
		{ "limit=+1", 0, 100, ST_EINVAL, 0, NULL },
		{ "limit=1.5", 0, 100, ST_EINVAL, 0, NULL },
		{ "limit=1e3", 0, 10000, ST_EINVAL, 0, NULL },
		{ "limit=%201", 0, 100, ST_EINVAL, 0, NULL },
		{ "limit=007", 0, 100, ST_EINVAL, 0, NULL },
		{ "limit=18446744073709551616", 0, UINT64_MAX, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [0,18446744073709551615], found "
		  "\"18446744073709551616\"" },
		{ "limit=1&limit=2", 1, 100, ST_EINVAL, 0, "parameter limit given twice" },
		{ "limit=%zz", 1, 100, ST_EINVAL, 0, "parameter limit: malformed percent-escape" },
		{ "limit=%00", 1, 100, ST_EINVAL, 0, "parameter limit: the value decodes to a NUL byte" },
		{ "limit=%0a\"", 1, 100, ST_EINVAL, 0,
		  "parameter limit: expected an integer in [1,100], found \"\\x0A\\x22\"" },
		{ "limit=0123456789012345678901234567890123456789012345678901234567890", 1, 100,
		  ST_EINVAL, 0, "parameter limit: expected an integer in [1,100], found "
		  "\"0123456789012345678901234567890123456789...\"" },
	};
	char err[200];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		uint64_t v = 424242;
		bool present = false;
		err[0] = 0;
		int rc = query_u64(t[i].qs, "limit", t[i].min, t[i].max, &v, &present, err, sizeof(err));
		CHECK_MSG(rc == t[i].rc, "[%s]: %d %s", t[i].qs, rc, err);
		if (rc == 0) {
			CHECK_MSG(present && v == t[i].want, "[%s]", t[i].qs);
		} else {
			CHECK(v == 424242);
			if (t[i].msg)
				CHECK_MSG(strcmp(err, t[i].msg) == 0, "[%s]: [%s]", t[i].qs, err);
			else
				CHECK(strncmp(err, "parameter limit: expected an integer", 36) == 0);
		}
	}
	uint64_t v = 7;
	bool present = true;
	CHECK(query_u64("other=1", "limit", 1, 100, &v, &present, err, sizeof(err)) == 0);
	CHECK(!present && v == 7);
	CHECK(query_u64(NULL, "limit", 1, 100, &v, NULL, err, sizeof(err)) == 0 && v == 7);
	CHECK(query_u64("limit=5", "limit", 1, 100, &v, NULL, NULL, 0) == 0 && v == 5);
	CHECK(query_u64("limit=x", "limit", 1, 100, &v, NULL, NULL, 0) == ST_EINVAL && v == 5);
	CHECK(query_u64("limit=x", "limit", 1, 100, &v, NULL, err, 10) == ST_EINVAL &&
	      strcmp(err, "parameter") == 0);
}

static void test_query_check(void)
{
	static const char *const allowed[] = { "limit", "after", "tenant", NULL };
	static const char *const nothing[] = { NULL };
	static const struct {
		const char *qs;
		int rc;
		const char *msg;
	} t[] = {
		{ "limit=1&after=5", 0, NULL },
		{ "", 0, NULL },
		{ "&&&", 0, NULL },
		{ "tenant=a%20b&limit", 0, NULL },
		{ "%6cimit=1", 0, NULL },
		{ "limit=1&foo=2", ST_EINVAL,
		  "unknown query parameter \"foo\" (allowed: limit, after, tenant)" },
		{ "Limit=1", ST_EINVAL, "unknown query parameter \"Limit\" (allowed: limit, after, tenant)" },
		{ "a%0Ab%22=1", ST_EINVAL,
		  "unknown query parameter \"a\\x0Ab\\x22\" (allowed: limit, after, tenant)" },
		{ "limit=1&limit=2", ST_EINVAL, "parameter limit given twice" },
		{ "limit=1&%6cimit=2", ST_EINVAL, "parameter limit given twice" },
		{ "=5", ST_EINVAL, "a query parameter has an empty name" },
		{ "lim%zzit=1", ST_EINVAL, "query parameter name \"lim%zzit\": malformed percent-escape" },
		{ "%00=1", ST_EINVAL, "query parameter name \"%00\": decodes to a NUL byte" },
		{ "limit=%zz", ST_EINVAL, "parameter limit: malformed percent-escape" },
		{ "limit=%2", ST_EINVAL, "parameter limit: malformed percent-escape" },
		{ "after=%00", ST_EINVAL, "parameter after: the value decodes to a NUL byte" },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1",
		  ST_EINVAL, "unknown query parameter \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"" },
	};
	char err[300];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		err[0] = 0;
		int rc = query_check(t[i].qs, allowed, err, sizeof(err));
		CHECK_MSG(rc == t[i].rc, "[%s]: %d %s", t[i].qs, rc, err);
		if (rc < 0)
			CHECK_MSG(strncmp(err, t[i].msg, strlen(t[i].msg)) == 0, "[%s]: [%s]", t[i].qs, err);
	}
	CHECK(query_check(NULL, allowed, err, sizeof(err)) == 0);
	CHECK(query_check("x=1", nothing, err, sizeof(err)) == ST_EINVAL);
	CHECK(strcmp(err, "unknown query parameter \"x\" (this resource takes none)") == 0);
	CHECK(query_check("", nothing, err, sizeof(err)) == 0);

	/* At most 32 parameters. */
	char names[40][16];
	const char *many[41];
	struct buf q = BUF_INIT(8192);
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "p%d", i);
		many[i] = names[i];
	}
	many[40] = NULL;
	for (int i = 0; i < 32; i++)
		buf_printf(&q, "%sp%d=%d", i ? "&" : "", i, i);
	buf_cstr(&q);
	CHECK(query_check((const char *)q.data, many, err, sizeof(err)) == 0);
	buf_puts(&q, "&p32=1");
	buf_cstr(&q);
	CHECK(query_check((const char *)q.data, many, err, sizeof(err)) == ST_ELIMIT);
	CHECK(strcmp(err, "more than 32 query parameters") == 0);

	/* At most 4096 bytes. */
	buf_reset(&q);
	buf_puts(&q, "limit=");
	while (q.len < QUERY_MAX_LEN)
		buf_putc(&q, '9');
	buf_cstr(&q);
	CHECK(query_check((const char *)q.data, allowed, err, sizeof(err)) == 0);
	buf_putc(&q, '9');
	buf_cstr(&q);
	CHECK(query_check((const char *)q.data, allowed, err, sizeof(err)) == ST_ELIMIT);
	CHECK(strcmp(err, "query string longer than 4096 bytes") == 0);
	buf_release(&q);

	/* A small errcap truncates; NULL err is fine. */
	CHECK(query_check("foo=1", allowed, err, 8) == ST_EINVAL && strlen(err) == 7);
	CHECK(query_check("foo=1", allowed, NULL, 0) == ST_EINVAL);
}

static void test_path(void)
{
	struct path_match m;

	CHECK(path_match("/v1/events/123", 14, "/v1/events/{}", &m));
	CHECK(m.n == 1 && m.len[0] == 3 && memcmp(m.seg[0], "123", 3) == 0);
	const char *p = "/v1/tenants/acme/events/9";
	CHECK(path_match(p, strlen(p), "/v1/tenants/{}/events/{}", &m));
	CHECK(m.n == 2 && m.seg[0] == p + 12 && m.len[0] == 4 && m.seg[1] == p + 24 && m.len[1] == 1);
	CHECK(path_match("/v1/x", 5, "/v1/x", &m) && m.n == 0);
	CHECK(path_match("/a/b/c/d", 8, "/{}/{}/{}/{}", &m) && m.n == 4 && m.seg[3][0] == 'd');
	CHECK(path_match("/a%2Fb", 6, "/{}", &m) && m.len[0] == 5);   /* raw */
	/* Only n bytes count. */
	CHECK(path_match("/v1/events/123?x=1", 14, "/v1/events/{}", &m) && m.len[0] == 3);
	CHECK(path_match(NULL, 0, "/", NULL) == false);
	CHECK(path_match("/", 1, "/", NULL));

	static const struct {
		const char *path, *pattern;
	} no[] = {
		{ "/v1/events/", "/v1/events/{}" },
		{ "/v1/events", "/v1/events/{}" },
		{ "/v1/events/1/2", "/v1/events/{}" },
		{ "/v1/events/123/", "/v1/events/{}" },
		{ "/v1/events//", "/v1/events/{}/" },
		{ "/v1/xy", "/v1/x" },
		{ "/v1/x", "/v1/xy" },
		{ "/V1/x", "/v1/x" },
		{ "", "/" },
		{ "/a/b/c/d/e", "/{}/{}/{}/{}/{}" },   /* more than 4 captures */
		{ "/ax", "/{}x" },                     /* {} not a whole segment */
		{ "/a.json", "/{}.json" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		memset(&m, 0x5A, sizeof(m));
		CHECK_MSG(!path_match(no[i].path, strlen(no[i].path), no[i].pattern, &m),
			  "%s ~ %s", no[i].path, no[i].pattern);
		CHECK(m.n == 0x5A5A5A5A5A5A5A5Aull);   /* untouched */
	}

	static const struct {
		const char *s;
		int rc;
		const char *want;
	} d[] = {
		{ "abc", 3, "abc" },
		{ "a%20b", 3, "a b" },
		{ "a+b", 3, "a+b" },
		{ "caf%C3%a9", 5, "caf\xc3\xa9" },
		{ "", 0, "" },
		{ "%2F", ST_EINVAL, NULL },
		{ "%2f", ST_EINVAL, NULL },
		{ "a/b", ST_EINVAL, NULL },
		{ "%00", ST_EINVAL, NULL },
		{ "%", ST_EINVAL, NULL },
		{ "%4", ST_EINVAL, NULL },
		{ "%G0", ST_EINVAL, NULL },
		{ "abcdefgh", ST_ELIMIT, NULL },   /* cap 8: 7 bytes and the NUL */
		{ "abcdefg", 7, "abcdefg" },
		{ "abcdefg%41", ST_ELIMIT, NULL },
		{ "abcdef%41", 7, "abcdefA" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(d); i++) {
		char out[8];
		memset(out, '#', sizeof(out));
		int rc = path_decode(d[i].s, strlen(d[i].s), out, sizeof(out));
		CHECK_MSG(rc == d[i].rc, "%s: %d", d[i].s, rc);
		if (rc >= 0)
			CHECK(memcmp(out, d[i].want, strlen(d[i].want) + 1) == 0);
		else
			CHECK(out[0] == '#');
	}
	char out[8];
	CHECK(path_decode("a\0b", 3, out, sizeof(out)) == ST_EINVAL);   /* raw NUL */
	CHECK(path_decode("a%2Fb", 1, out, sizeof(out)) == 1);          /* only n bytes */
}

static void test_bearer(void)
{
	static const struct {
		const char *hdr;
		const char *tok;   /* NULL: refused */
	} t[] = {
		{ "Bearer abc", "abc" },
		{ "bearer abc", "abc" },
		{ "BEARER abc", "abc" },
		{ "bEaReR abc", "abc" },
		{ "Bearer    abc", "abc" },
		{ "  Bearer abc \t", "abc" },
		{ "Bearer abc==", "abc==" },
		{ "Bearer a-._~+/9Z", "a-._~+/9Z" },
		{ "Bearer st_live_0123456789abcdef", "st_live_0123456789abcdef" },
		{ "Bearer", NULL },
		{ "Bearer ", NULL },
		{ "Bearer   ", NULL },
		{ "Bearerabc", NULL },
		{ "Bearer\tabc", NULL },
		{ "Bearerx abc", NULL },
		{ "Basic abc", NULL },
		{ "Bear abc", NULL },
		{ "", NULL },
		{ "Bearer a b", NULL },
		{ "Bearer =abc", NULL },
		{ "Bearer ==", NULL },
		{ "Bearer ab=c", NULL },
		{ "Bearer abc,def", NULL },
		{ "Bearer abc\"", NULL },
		{ "Bearer ab\xc3\xa9", NULL },
		{ "Bearer abc\r\n", NULL },
		{ "Token abc", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		const char *tok = "untouched";
		size_t len = 99;
		bool ok = http_bearer(t[i].hdr, strlen(t[i].hdr), &tok, &len);
		if (t[i].tok)
			CHECK_MSG(ok && len == strlen(t[i].tok) && memcmp(tok, t[i].tok, len) == 0 &&
				  tok >= t[i].hdr && tok + len <= t[i].hdr + strlen(t[i].hdr),
				  "[%s]", t[i].hdr);
		else
			CHECK_MSG(!ok && len == 99 && strcmp(tok, "untouched") == 0, "[%s]", t[i].hdr);
	}
	const char *tok;
	size_t len;
	CHECK(http_bearer("Bearer abcdef", 10, &tok, &len) && len == 3);
	CHECK(!http_bearer(NULL, 0, &tok, &len));
	CHECK(!http_bearer("Bearer a\0b", 10, &tok, &len));
}

/* --- json_put_str ------------------------------------------------------ */

#define EVS "{\"time\":\"2026-11-27T22:10:17.123Z\",\"action\":\"a.b\"," \
	"\"actor\":{\"id\":\"u1\"},\"resource\":{\"type\":\"t\"},\"metadata\":{\"s\":"

/* Is the quoted JSON string j[0..n) accepted by event_parse? */
static bool valid_json_string(const uint8_t *j, size_t n)
{
	struct buf ev = BUF_INIT(1 << 20), out = BUF_INIT(1 << 20);
	struct event_error e;

	buf_puts(&ev, EVS);
	buf_append(&ev, j, n);
	buf_puts(&ev, "}}");
	bool ok = event_parse(ev.data, ev.len, NULL, &out, NULL, &e) == 0;
	if (!ok)
		fprintf(stderr, "event_parse: %s at %zu\n", e.msg, e.offset);
	buf_release(&ev);
	buf_release(&out);
	return ok;
}

/* A decoder of exactly what json_put_str writes: returns the decoded
 * length, or -1 when j is not in that shape. */
static long decode_put(const uint8_t *j, size_t n, uint8_t *out)
{
	size_t i = 1, o = 0;

	if (n < 2 || j[0] != '"' || j[n - 1] != '"')
		return -1;
	for (; i < n - 1; i++) {
		if (j[i] != '\\') {
			out[o++] = j[i];
			continue;
		}
		if (j[i + 1] == '"' || j[i + 1] == '\\') {
			out[o++] = j[++i];
		} else if (j[i + 1] == 'u' && i + 5 < n) {
			unsigned v;
			char hx[5] = { (char)j[i + 2], (char)j[i + 3], (char)j[i + 4], (char)j[i + 5], 0 };
			if (sscanf(hx, "%4x", &v) != 1)
				return -1;
			if (v == 0xfffd) {
				memcpy(out + o, "\xef\xbf\xbd", 3);
				o += 3;
			} else if (v < 0x80) {
				out[o++] = (uint8_t)v;
			} else {
				return -1;
			}
			i += 5;
		} else {
			return -1;
		}
	}
	return (long)o;
}

static void test_json_put_str(void)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want;
	} t[] = {
		{ "", 0, "\"\"" },
		{ "abc", 3, "\"abc\"" },
		{ "a\"b\\c/", 6, "\"a\\\"b\\\\c/\"" },
		{ "\n\t\x01\x1f\x7f ~", 7, "\"\\u000a\\u0009\\u0001\\u001f\\u007f ~\"" },
		{ "a\0b", 3, "\"a\\u0000b\"" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
		{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
		{ "\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7, "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"" },
		{ "\xff", 1, "\"\\ufffd\"" },
		{ "\x80x", 2, "\"\\ufffdx\"" },
		{ "\xc3", 1, "\"\\ufffd\"" },
		{ "\xe2\x82" "A", 3, "\"\\ufffdA\"" },          /* one maximal subpart */
		{ "\xf0\x9f\x98x", 4, "\"\\ufffdx\"" },
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },   /* surrogate */
		{ "\xc0\xaf", 2, "\"\\ufffd\\ufffd\"" },        /* overlong */
		{ "\xe0\x80\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },   /* > U+10FFFF */
		{ "\xf5\x80", 2, "\"\\ufffd\\ufffd\"" },
		{ "a\xc3\"", 3, "\"a\\ufffd\\\"\"" },
	};
	struct buf b = BUF_INIT(1 << 16);

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		buf_reset(&b);
		buf_puts(&b, "K");
		CHECK(json_put_str(&b, t[i].in, t[i].n) == 0);
		size_t wl = strlen(t[i].want);
		CHECK_MSG(b.len == wl + 1 && memcmp(b.data + 1, t[i].want, wl) == 0,
			  "case %zu: [%.*s]", i, (int)b.len, b.data);
		CHECK_MSG(valid_json_string(b.data + 1, b.len - 1), "case %zu", i);
	}
	buf_reset(&b);
	CHECK(json_put_str(&b, NULL, 0) == 0 && b.len == 2);

	/* The buffer's maximum: nothing partial is left. */
	struct buf small = BUF_INIT(8);
	buf_puts(&small, "xy");
	CHECK(json_put_str(&small, "abcd", 4) == 0 && small.len == 8);
	small.len = 2;
	CHECK(json_put_str(&small, "abcde", 5) == ST_ELIMIT && small.len == 2);
	CHECK(json_put_str(&small, "\n", 1) == ST_ELIMIT && small.len == 2);
	CHECK(json_put_str(&small, "\xff", 1) == ST_ELIMIT && small.len == 2);
	CHECK(json_put_str(&small, "", 0) == 0 && small.len == 4);
	buf_release(&small);

	/* Random bytes, biased toward the interesting ones. */
	static const uint8_t pick[] = { 'a', '"', '\\', 0, '\n', 0x1f, 0x7f, 0x80, 0xbf, 0xc0,
		0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90 };
	uint64_t r = 88172645463325252ull;
	uint8_t in[48], dec[48 * 3];
	int bad = 0;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 40);
		for (size_t i = 0; i < n; i++) {
			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			in[i] = (r >> 32) % 3 ? pick[(r >> 8) % sizeof(pick)] : (uint8_t)r;
		}
		buf_reset(&b);
		if (json_put_str(&b, (const char *)in, n) != 0) {
			bad++;
			continue;
		}
		if (round % 10 == 0 && !valid_json_string(b.data, b.len))
			bad++;
		long dl = decode_put(b.data, b.len, dec);
		if (dl < 0)
			bad++;
		/* Valid UTF-8 in (no U+FFFD), the same bytes out. */
		bool has_fffd = memmem(b.data, b.len, "\\ufffd", 6) != NULL;
		if (!has_fffd && (dl != (long)n || memcmp(dec, in, n) != 0))
			bad++;
	}
	CHECK_MSG(bad == 0, "%d bad outputs", bad);
	buf_release(&b);
}

int main(void)
{
	test_query_get();
	test_query_u64();
	test_query_check();
	test_path();
	test_bearer();
	test_json_put_str();
	return test_report("test_httputil");
}
