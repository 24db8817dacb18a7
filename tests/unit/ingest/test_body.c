/*
 * test_body.c - the framing of POST /v1/events bodies: JSON objects and
 * arrays (strings with brackets and escapes, nesting, the depth limit,
 * truncation, trailing data, non-object elements), NDJSON (blank lines,
 * CRLF, no final newline), max_events, exact offsets and lines, sticky
 * errors, the Content-Type table, and a generated round trip that compares
 * the split with the offsets the generator recorded.
 */
#include "test.h"

#include "common/buf.h"
#include "common/util.h"
#include "event/event.h"
#include "ingest/body.h"

#define MAXI 64

struct split {
	long rc;                   /* count, or the error */
	size_t n;                  /* items returned before the end or the error */
	struct body_item it[MAXI];
	struct body_error err;
};

/* Iterates body s fully and checks body_count agrees with the iterator. */
static void run(const char *s, size_t len, enum body_kind k, size_t max, struct split *r)
{
	struct body_iter it;
	struct body_error cerr;
	struct body_item item;
	int rc;

	memset(r, 0, sizeof(*r));
	body_iter_init(&it, (const uint8_t *)s, len, k, max);
	while ((rc = body_iter_next(&it, &item, &r->err)) == 1) {
		if (r->n < MAXI)
			r->it[r->n] = item;
		r->n++;
	}
	r->rc = rc < 0 ? rc : (long)r->n;
	long c = body_count((const uint8_t *)s, len, k, max, &cerr);
	CHECK_MSG(c == r->rc, "body_count %ld, iterator %ld for [%.*s]", c, r->rc, (int)len, s);
	if (c < 0)
		CHECK(cerr.offset == r->err.offset && cerr.line == r->err.line &&
		      strcmp(cerr.msg, r->err.msg) == 0);
	/* Sticky: one more call gives the same error or the end again. */
	struct body_error again;
	memset(&item, 0xAB, sizeof(item));
	rc = body_iter_next(&it, &item, &again);
	CHECK(rc == (r->rc < 0 ? r->rc : 0));
	CHECK(item.len == (size_t)0xABABABABABABABABull);   /* untouched */
	if (rc < 0)
		CHECK(again.offset == r->err.offset && strcmp(again.msg, r->err.msg) == 0);
}

static void runs(const char *s, enum body_kind k, size_t max, struct split *r)
{
	run(s, strlen(s), k, max, r);
}

/* Item i is s[off..off+len) starting on line. */
static void item_is(const char *s, const struct split *r, size_t i, size_t off, const char *text,
		    size_t line)
{
	CHECK_MSG(i < r->n, "item %zu of %zu", i, r->n);
	if (i >= r->n)
		return;
	const struct body_item *it = &r->it[i];
	CHECK_MSG(it->offset == off && it->p == (const uint8_t *)s + off && it->index == i &&
		  it->line == line && it->len == strlen(text) && memcmp(it->p, text, it->len) == 0,
		  "item %zu: offset %zu line %zu [%.*s], want %zu line %zu [%s]", i, it->offset,
		  it->line, (int)it->len, it->p, off, line, text);
}

static void err_is(const struct split *r, long code, size_t off, size_t line, const char *msg)
{
	CHECK_MSG(r->rc == code && r->err.offset == off && r->err.line == line &&
		  strcmp(r->err.msg, msg) == 0,
		  "rc %ld offset %zu line %zu msg [%s]; want %ld %zu %zu [%s]", r->rc, r->err.offset,
		  r->err.line, r->err.msg, code, off, line, msg);
}

#define EV "{\"time\":\"2026-11-27T22:10:17.123Z\",\"action\":\"a.b\"," \
	"\"actor\":{\"id\":\"u1\"},\"resource\":{\"type\":\"t\"}}"

static void test_single(void)
{
	static struct split r;
	const char *s = " \r\n\t" EV " \n";

	runs(s, BODY_JSON, 10, &r);
	CHECK(r.rc == 1);
	item_is(s, &r, 0, 4, EV, 2);
	/* The item is exactly what event_parse takes. */
	struct buf out = BUF_INIT(1 << 16);
	struct event_error e;
	CHECK(event_parse(r.it[0].p, r.it[0].len, NULL, &out, NULL, &e) == 0);
	buf_release(&out);

	runs("{}", BODY_JSON, 1, &r);
	CHECK(r.rc == 1);
	item_is("{}", &r, 0, 0, "{}", 1);
	/* Contents are not validated beyond framing. */
	s = "{\"a\" 1 2 : , tru}";
	runs(s, BODY_JSON, 0, &r);
	CHECK(r.rc == 1);
	item_is(s, &r, 0, 0, s, 1);
}

static void test_array(void)
{
	static struct split r;
	const char *s = "[{\"a\":1},\n {\"b\":[1,2]} ,\r\n\t{\"c\":{}}]\n";

	runs(s, BODY_JSON, 10, &r);
	CHECK(r.rc == 3);
	item_is(s, &r, 0, 1, "{\"a\":1}", 1);
	item_is(s, &r, 1, 11, "{\"b\":[1,2]}", 2);
	item_is(s, &r, 2, 27, "{\"c\":{}}", 3);

	runs("[]", BODY_JSON, 10, &r);
	CHECK(r.rc == 0 && r.n == 0);
	runs(" [ \n\t] \r\n", BODY_JSON, 10, &r);
	CHECK(r.rc == 0);
	runs("[]", BODY_JSON, 1, &r);
	CHECK(r.rc == 0);

	/* Brackets, braces, quotes and backslashes inside strings. */
	s = "[{\"s\":\"]}\\\"{[\"},{\"t\":\"\\\\\"},{\"u\":[[{}]],\"v\":\"\\\\\\\"}\"}]";
	runs(s, BODY_JSON, 10, &r);
	CHECK(r.rc == 3);
	item_is(s, &r, 0, 1, "{\"s\":\"]}\\\"{[\"}", 1);
	item_is(s, &r, 1, 16, "{\"t\":\"\\\\\"}", 1);
	item_is(s, &r, 2, 27, "{\"u\":[[{}]],\"v\":\"\\\\\\\"}\"}", 1);

	/* Keys with brackets; arrays of objects of arrays. */
	s = "[{\"[\":{\"}\":[{\"x\":[]}]}}]";
	runs(s, BODY_JSON, 10, &r);
	CHECK(r.rc == 1);
	item_is(s, &r, 0, 1, "{\"[\":{\"}\":[{\"x\":[]}]}}", 1);

	/* A raw LF inside a string, and one after a backslash, still count
	 * as lines (event_parse refuses them later; the numbers stay right). */
	s = "[{\"a\":\"x\ny\"},\n{\"b\":\"\\\n\"},\n{}]";
	runs(s, BODY_JSON, 10, &r);
	CHECK(r.rc == 3);
	item_is(s, &r, 1, 14, "{\"b\":\"\\\n\"}", 3);
	item_is(s, &r, 2, 26, "{}", 5);

	/* Non-UTF-8 and NUL bytes are event_parse's business. */
	const char bin[] = "[{\"a\":\"\xff\0\"}]";
	run(bin, sizeof(bin) - 1, BODY_JSON, 10, &r);
	CHECK(r.rc == 1 && r.it[0].len == 10);
}

static void test_json_errors(void)
{
	static struct split r;

	runs("", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 0, 1,
	       "unexpected end of body, expected a JSON object or an array of objects");
	runs(" \n \n", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 4, 3,
	       "unexpected end of body, expected a JSON object or an array of objects");
	runs("\"x\"", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 0, 1, "expected a JSON object or an array of objects, found '\"'");
	runs("\xEF\xBB\xBF{}", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 0, 1, "expected a JSON object or an array of objects, found "
	       "byte 0xEF (a byte order mark?)");

	/* Non-object elements name the event index and point at it. */
	runs("[{\"a\":1}, 2]", BODY_JSON, 10, &r);
	CHECK(r.n == 1);
	err_is(&r, ST_EINVAL, 10, 1, "event 1: expected a JSON object, found '2'");
	runs("[\n[{}]]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 2, 2, "event 0: expected a JSON object, found '['");
	runs("[{},\"x\"]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 4, 1, "event 1: expected a JSON object, found '\"'");
	runs("[{},]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 4, 1,
	       "expected event 1 (an object) after ',', found ']' (a trailing comma)");
	runs("[,{}]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 1, 1, "event 0: expected a JSON object, found ','");

	/* Truncation. */
	runs("[", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 1, 1, "unexpected end of body, expected event 0 (an object) or ']'");
	runs("[{\"a\":1}", BODY_JSON, 10, &r);
	CHECK(r.n == 1);
	err_is(&r, ST_EINVAL, 8, 1, "unexpected end of body, expected ',' or ']' after event 0 "
	       "(the array starts at byte 0)");
	runs("[{},\n", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 5, 2, "unexpected end of body, expected event 1 (an object) after ','");
	runs("[{\"a\":{}\n", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 9, 2, "unexpected end of body, expected '}' to close event 0 "
	       "(starts at byte 1, line 1)");
	runs("\n[{\"a\":\"x\\\"}]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 13, 2, "unexpected end of body, expected '\"' to close the string "
	       "that starts at byte 7 (line 2) in event 0");
	runs("{\"a\":\"x\\", BODY_JSON, 10, &r);
	CHECK(r.rc == ST_EINVAL && r.err.offset == 8);
	runs("{", BODY_JSON, 10, &r);
	CHECK(r.rc == ST_EINVAL && r.err.offset == 1 && r.n == 0);

	/* Trailing data after the top-level value. */
	runs("[{}] x", BODY_JSON, 10, &r);
	CHECK(r.n == 1);
	err_is(&r, ST_EINVAL, 5, 1, "expected the end of the body after the JSON value, found 'x'");
	runs("{}\n{}", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 3, 2, "expected the end of the body after the JSON value, found '{'");
	runs("[]]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 2, 1, "expected the end of the body after the JSON value, found ']'");
	const char nul[] = "{} \0";
	run(nul, 4, BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 3, 1, "expected the end of the body after the JSON value, found "
	       "byte 0x00");
	runs("[{} {}]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 4, 1, "expected ',' or ']' after event 0, found '{'");

	/* The bracket that closes an event must be '}'. */
	runs("[{\"a\":]}]", BODY_JSON, 10, &r);
	err_is(&r, ST_EINVAL, 6, 1, "expected '}' to close event 0 (starts at byte 1), found ']'");
	runs("[{}, {\"a\":[1}]", BODY_JSON, 10, &r);
	CHECK(r.n == 1);
	err_is(&r, ST_EINVAL, 13, 1, "expected '}' to close event 1 (starts at byte 5), found ']'");
}

static void test_depth(void)
{
	static struct split r;
	struct buf b = BUF_INIT(4096);

	/* The event object is depth 1: 255 more levels are allowed. */
	buf_puts(&b, "[{\"a\":");
	for (int i = 0; i < BODY_MAX_DEPTH - 1; i++)
		buf_putc(&b, i % 2 ? '{' : '[');
	for (int i = BODY_MAX_DEPTH - 2; i >= 0; i--)
		buf_putc(&b, i % 2 ? '}' : ']');
	buf_puts(&b, "}]");
	run((const char *)b.data, b.len, BODY_JSON, 10, &r);
	CHECK(r.rc == 1 && r.it[0].len == b.len - 2);

	buf_reset(&b);
	buf_puts(&b, "[{},\n{\"a\":");
	for (int i = 0; i < BODY_MAX_DEPTH; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < BODY_MAX_DEPTH; i++)
		buf_putc(&b, ']');
	buf_puts(&b, "}]");
	run((const char *)b.data, b.len, BODY_JSON, 10, &r);
	err_is(&r, ST_ELIMIT, 10 + BODY_MAX_DEPTH - 1, 2,
	       "event 1 nests deeper than 256 levels (the framing limit)");
	CHECK(r.n == 1);
	/* Brackets inside strings do not count. */
	buf_reset(&b);
	buf_puts(&b, "{\"a\":\"");
	for (int i = 0; i < 1000; i++)
		buf_putc(&b, '[');
	buf_puts(&b, "\"}");
	run((const char *)b.data, b.len, BODY_JSON, 10, &r);
	CHECK(r.rc == 1);
	buf_release(&b);
}

static void test_max_events(void)
{
	static struct split r;

	runs("[{},{},{}]", BODY_JSON, 3, &r);
	CHECK(r.rc == 3);
	runs("[{},{},{}]", BODY_JSON, 2, &r);
	CHECK(r.n == 2);
	err_is(&r, ST_ELIMIT, 7, 1, "more than 2 events in one request (the limit is 2)");
	runs("[{},{},{}]", BODY_JSON, 0, &r);   /* 0: no limit */
	CHECK(r.rc == 3);
	runs(" {}", BODY_JSON, 1, &r);
	CHECK(r.rc == 1);

	runs("{}\n{}\n\n{}\n", BODY_NDJSON, 3, &r);
	CHECK(r.rc == 3);
	runs("{}\n{}\n\n{}\n", BODY_NDJSON, 2, &r);
	CHECK(r.n == 2);
	err_is(&r, ST_ELIMIT, 7, 4, "more than 2 events in one request (the limit is 2)");
	/* Blank lines do not count as events. */
	runs("{}\n\n\n  \n\r\n", BODY_NDJSON, 1, &r);
	CHECK(r.rc == 1);
}

static void test_ndjson(void)
{
	static struct split r;
	const char *s = "{\"a\":1}\n\n  \t\n{\"b\":2}\r\n\r\n {\"c\":3} \r\n\r{\"d\":4}";

	runs(s, BODY_NDJSON, 10, &r);
	CHECK(r.rc == 4);
	item_is(s, &r, 0, 0, "{\"a\":1}", 1);
	item_is(s, &r, 1, 13, "{\"b\":2}", 4);
	item_is(s, &r, 2, 24, " {\"c\":3} ", 6);   /* inner whitespace kept */
	item_is(s, &r, 3, 35, "\r{\"d\":4}", 7);   /* only a trailing CR is dropped */

	runs("", BODY_NDJSON, 10, &r);
	CHECK(r.rc == 0);
	runs("\n\n \r\n\t\n", BODY_NDJSON, 10, &r);
	CHECK(r.rc == 0);
	runs("x", BODY_NDJSON, 10, &r);
	CHECK(r.rc == 1);
	item_is("x", &r, 0, 0, "x", 1);
	s = "{}\r\n";
	runs(s, BODY_NDJSON, 10, &r);
	CHECK(r.rc == 1);
	item_is(s, &r, 0, 0, "{}", 1);
	s = "a\r\r\nb";   /* one CR dropped, the other kept */
	runs(s, BODY_NDJSON, 10, &r);
	item_is(s, &r, 0, 0, "a\r", 1);
	item_is(s, &r, 1, 4, "b", 2);

	/* Bad lines are still items: event_parse will report them. */
	const char bad[] = "[1,2]\n{\0}\n\xff\n";
	run(bad, sizeof(bad) - 1, BODY_NDJSON, 10, &r);
	CHECK(r.rc == 3);
	item_is(bad, &r, 0, 0, "[1,2]", 1);
	CHECK(r.it[1].len == 3 && r.it[1].line == 2 && r.it[2].len == 1 && r.it[2].line == 3);

	/* A pretty-printed object is several (bad) lines in NDJSON. */
	runs("{\n\"a\":1\n}\n", BODY_NDJSON, 10, &r);
	CHECK(r.rc == 3);

	/* A NULL body with n = 0 is empty. */
	CHECK(body_count(NULL, 0, BODY_NDJSON, 10, NULL) == 0);
	CHECK(body_count(NULL, 0, BODY_JSON, 10, NULL) == ST_EINVAL);
}

static void test_format(void)
{
	struct body_error e = { 17, 3, "boom" };
	char s[64];

	body_error_format(&e, s, sizeof(s));
	CHECK(strcmp(s, "line 3, byte 17: boom") == 0);
	body_error_format(&e, s, 6);
	CHECK(strcmp(s, "line ") == 0);
}

static void test_content_type(void)
{
	static const struct {
		const char *ct;
		int rc;
		enum body_kind kind;
		const char *msg_has;
	} t[] = {
		{ "application/json", 0, BODY_JSON, NULL },
		{ "Application/JSON; charset=UTF-8", 0, BODY_JSON, NULL },
		{ "application/json;charset=\"utf-8\"", 0, BODY_JSON, NULL },
		{ "application/json ; charset=utf-8 ; foo=bar", 0, BODY_JSON, NULL },
		{ "application/json;", 0, BODY_JSON, NULL },
		{ "application/json;;foo=\"a;b\\\"c\"", 0, BODY_JSON, NULL },
		{ " \tapplication/x-ndjson \t", 0, BODY_NDJSON, NULL },
		{ "application/X-NDJSON;CHARSET=utf-8", 0, BODY_NDJSON, NULL },
		{ "application/ndjson", 0, BODY_NDJSON, NULL },
		{ "application/jsonl", 0, BODY_NDJSON, NULL },
		{ "application/json; charset=latin1", ST_EINVAL, 0, "unsupported charset \"latin1\"" },
		{ "application/json; charset=utf8", ST_EINVAL, 0, "\"utf8\"" },
		{ "application/json; charset=\"\"", ST_EINVAL, 0, "unsupported charset \"\"" },
		{ "text/plain", ST_EINVAL, 0,
		  "unsupported Content-Type \"text/plain\"; expected application/json, or one event "
		  "per line: application/x-ndjson (also application/ndjson, application/jsonl)" },
		{ "application/x-www-form-urlencoded", ST_EINVAL, 0, "x-www-form-urlencoded" },
		{ "application/json-seq", ST_EINVAL, 0, "RFC 7464" },
		{ "application/jsonx", ST_EINVAL, 0, "\"application/jsonx\"" },
		{ "application/vnd.api+json", ST_EINVAL, 0, "vnd.api+json" },
		{ "application/ json", ST_EINVAL, 0, "unsupported Content-Type \"application/\"" },
		{ "", ST_EINVAL, 0, "unsupported Content-Type \"\"" },
		{ "application/json charset=utf-8", ST_EINVAL, 0, "expected ';'" },
		{ "application/json; charset", ST_EINVAL, 0, "name=value" },
		{ "application/json; =utf-8", ST_EINVAL, 0, "name=value" },
		{ "application/json; charset=", ST_EINVAL, 0, "empty parameter value" },
		{ "application/json; charset=\"utf-8", ST_EINVAL, 0, "unterminated" },
		{ "application/json\x01", ST_EINVAL, 0, "\"application/json?\"" },
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		enum body_kind k = (enum body_kind)77;
		err[0] = 0;
		int rc = body_kind_parse(t[i].ct, strlen(t[i].ct), &k, err, sizeof(err));
		CHECK_MSG(rc == t[i].rc, "[%s]: rc %d (%s)", t[i].ct, rc, err);
		if (rc == 0)
			CHECK_MSG(k == t[i].kind, "[%s]", t[i].ct);
		else
			CHECK_MSG(k == (enum body_kind)77 && strstr(err, t[i].msg_has),
				  "[%s]: %s", t[i].ct, err);
	}

	enum body_kind k = (enum body_kind)77;
	CHECK(body_kind_parse(NULL, 0, &k, err, sizeof(err)) == ST_EINVAL);
	CHECK(k == (enum body_kind)77 && strncmp(err, "missing Content-Type; expected application/json", 47) == 0);
	/* Not NUL-terminated: only n bytes count. */
	CHECK(body_kind_parse("application/jsonl", 16, &k, err, sizeof(err)) == 0 && k == BODY_JSON);
	CHECK(body_kind_parse("application/json; charset=latin1", 16, &k, err, sizeof(err)) == 0);
	/* A long type is shortened in the message; a tiny errcap truncates. */
	char lng[300];
	memset(lng, 'x', sizeof(lng));
	CHECK(body_kind_parse(lng, sizeof(lng), &k, err, sizeof(err)) == ST_EINVAL);
	CHECK(strstr(err, "xxx...\"") != NULL && strlen(err) < 250);
	CHECK(body_kind_parse("text/plain", 10, &k, err, 5) == ST_EINVAL && strlen(err) == 4);
	CHECK(body_kind_parse("text/plain", 10, &k, NULL, 0) == ST_EINVAL);
}

/* --- Generated bodies: the split must give back what the generator made. */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* A random object (no raw LF, so that it is also one NDJSON line). */
static void gen_value(struct buf *b, int depth, bool object)
{
	static const char *const atoms[] = { "1", "-2.5e3", "true", "null", "\"\"",
		"\"}\"", "\"]\"", "\"\\\"\"", "\"\\\\\"", "\"{[\"", "\"a\\\\\\\"]\"", "\"\xc3\xa9\"" };
	if (!object && (depth > 4 || rnd(3) == 0)) {
		buf_puts(b, atoms[rnd(ARRAY_SIZE(atoms))]);
		return;
	}
	bool obj = object || rnd(2);
	buf_putc(b, obj ? '{' : '[');
	uint32_t n = rnd(4);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			buf_puts(b, rnd(2) ? "," : " , ");
		if (obj) {
			buf_puts(b, atoms[4 + rnd(ARRAY_SIZE(atoms) - 4)]);
			buf_puts(b, rnd(2) ? ":" : " :\t");
		}
		gen_value(b, depth + 1, false);
	}
	buf_putc(b, obj ? '}' : ']');
}

static void ws(struct buf *b)
{
	static const char *const w[] = { "", "", " ", "\n", "\r\n", "\t \n " };
	buf_puts(b, w[rnd(ARRAY_SIZE(w))]);
}

static size_t line_at(const struct buf *b, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += b->data[i] == '\n';
	return line;
}

static void test_generated(void)
{
	struct buf arr = BUF_INIT(1 << 20), nd = BUF_INIT(1 << 20);
	size_t aoff[40], alen[40], noff[40], nlen[40];
	static struct split r;
	int bad = 0;

	for (int round = 0; round < 300; round++) {
		uint32_t n = rnd(40);
		buf_reset(&arr);
		buf_reset(&nd);
		ws(&arr);
		buf_putc(&arr, '[');
		for (uint32_t i = 0; i < n; i++) {
			ws(&arr);
			if (i) {
				buf_putc(&arr, ',');
				ws(&arr);
			}
			aoff[i] = arr.len;
			gen_value(&arr, 0, true);
			alen[i] = arr.len - aoff[i];
			/* The same event as an NDJSON line, maybe after blank ones. */
			if (rnd(4) == 0)
				buf_puts(&nd, rnd(2) ? "\n" : " \r\n");
			noff[i] = nd.len;
			buf_append(&nd, arr.data + aoff[i], alen[i]);
			nlen[i] = alen[i];
			if (i + 1 < n || rnd(2))
				buf_puts(&nd, rnd(2) ? "\n" : "\r\n");
		}
		ws(&arr);
		buf_putc(&arr, ']');
		ws(&arr);

		run((const char *)arr.data, arr.len, BODY_JSON, 40, &r);
		if (r.rc != (long)n) {
			bad++;
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			if (r.it[i].offset != aoff[i] || r.it[i].len != alen[i] ||
			    r.it[i].line != line_at(&arr, aoff[i]))
				bad++;
		run((const char *)nd.data, nd.len, BODY_NDJSON, 40, &r);
		if (r.rc != (long)n) {
			bad++;
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			if (r.it[i].offset != noff[i] || r.it[i].len != nlen[i] ||
			    r.it[i].line != line_at(&nd, noff[i]))
				bad++;
		/* Every proper prefix of a non-empty array body is refused. */
		if (n && round < 40) {
			size_t end = arr.len;
			while (arr.data[end - 1] != ']')
				end--;
			for (size_t cut = 0; cut < end; cut++)
				if (body_count(arr.data, cut, BODY_JSON, 40, NULL) >= 0)
					bad++;
		}
	}
	CHECK_MSG(bad == 0, "%d mismatches", bad);
	buf_release(&arr);
	buf_release(&nd);
}

int main(void)
{
	test_single();
	test_array();
	test_json_errors();
	test_depth();
	test_max_events();
	test_ndjson();
	test_format();
	test_content_type();
	test_generated();
	return test_report("test_body");
}
