/*
 * test_event.c - event_parse and event_parse_stored: the compact form byte
 * for byte, results, limits at and over their boundaries, the error text,
 * the stored-entry rules, and a mutation loop that checks the "nothing
 * half-written" rule and compares the compact form with a naive reference.
 */
#include "test.h"

#include "common/buf.h"
#include "common/codec.h"
#include "common/util.h"
#include "event/event.h"

#define EV(...) "{\"time\":\"2026-11-27T22:10:17.123Z\",\"action\":\"a.b\"," \
	"\"actor\":{\"id\":\"u1\"},\"resource\":{\"type\":\"t\"}" __VA_ARGS__ "}"

static int parse(const char *s, struct buf *out, struct event_info *info,
		 struct event_error *err)
{
	return event_parse((const uint8_t *)s, strlen(s), NULL, out, info, err);
}

static void test_compact(void)
{
	struct buf out = BUF_INIT(1 << 16);
	struct event_info info;
	struct event_error err;
	const char *in =
		" {\n  \"time\" : \"2026-11-27T23:10:17.5+01:00\",\r\n\t\"action\": \"iam.role.update\" ,"
		" \"actor\": { \"id\": \"alice\", \"name\": \"A  l i c e\\u0020\\n\" },"
		" \"resource\": {\"type\" :\"role\"}, \"tenant\": \"acme\","
		" \"after\": [ 1.50 , -0e+00, 1E5, true ,false, null, { } , [ ] ],"
		" \"metadata\": { \"s\": \"caf\xC3\xA9 \\\"q\\\" \\/ \\uD834\\uDD1E\" } } \n";
	const char *want =
		"{\"time\":\"2026-11-27T23:10:17.5+01:00\",\"action\":\"iam.role.update\","
		"\"actor\":{\"id\":\"alice\",\"name\":\"A  l i c e\\u0020\\n\"},"
		"\"resource\":{\"type\":\"role\"},\"tenant\":\"acme\","
		"\"after\":[1.50,-0e+00,1E5,true,false,null,{},[]],"
		"\"metadata\":{\"s\":\"caf\xC3\xA9 \\\"q\\\" \\/ \\uD834\\uDD1E\"}}";

	buf_puts(&out, "XY");
	CHECK(parse(in, &out, &info, &err) == 0);
	CHECK(out.len == 2 + strlen(want));
	CHECK_MEM(out.data, "XY", 2);
	CHECK(out.len == 2 + strlen(want) && memcmp(out.data + 2, want, strlen(want)) == 0);
	CHECK(info.tenant && info.tenant_len == 4 && memcmp(info.tenant, "acme", 4) == 0);
	CHECK(info.tenant == strstr(in, "acme"));   /* a slice of the input */
	CHECK(!info.has_id);
	/* the slices the policy reads */
	CHECK(info.action == strstr(in, "iam.role.update") && info.action_len == 15);
	CHECK(info.resource_type == strstr(in, "role\"}") && info.resource_type_len == 4);
	CHECK(info.outcome == NULL && info.outcome_len == 0);
	CHECK(!info.has_request_id && !info.has_trace_id);
	/* 2026-11-27T22:10:17.5Z */
	CHECK(info.time_ns == 1795817417500000000LL);

	/* Already compact: copied as is; id present; no tenant. */
	buf_reset(&out);
	const char *c = EV(",\"id\":\"0193a5f0-aaaa\"");
	CHECK(parse(c, &out, &info, &err) == 0);
	CHECK(out.len == strlen(c) && memcmp(out.data, c, out.len) == 0);
	CHECK(info.has_id && info.tenant == NULL && info.tenant_len == 0);
	/* outcome in its canonical spelling even when escaped; the ids seen */
	buf_reset(&out);
	CHECK(parse(EV(",\"outcome\":\"d\\u0065nied\",\"request_id\":\"r\",\"trace_id\":\"t\""),
		    &out, &info, &err) == 0);
	CHECK(info.outcome && info.outcome_len == 6 && !memcmp(info.outcome, "denied", 6));
	CHECK(info.has_request_id && info.has_trace_id);
	buf_release(&out);
}

static void test_errors(void)
{
	struct buf out = BUF_INIT(1 << 16);
	struct event_error err;
	struct event_info info = { .tenant = "untouched", .tenant_len = 9, .has_id = true, .time_ns = 42 };
	char s[512];

	buf_puts(&out, "keep");
	CHECK(parse(EV(",\"metadata\":{\"a\":1,\"a\":2}"), &out, &info, &err) == ST_EINVAL);
	CHECK(out.len == 4 && memcmp(out.data, "keep", 4) == 0);
	CHECK(info.tenant_len == 9 && info.time_ns == 42);   /* untouched on failure */
	event_error_format(&err, s, sizeof(s));
	CHECK_MSG(strcmp(s, "byte 112, field metadata.a: duplicate key \"a\" (first at byte 106)") == 0, "%s", s);

	CHECK(parse("[1]", &out, NULL, &err) == ST_EINVAL);
	event_error_format(&err, s, sizeof(s));
	CHECK_MSG(strcmp(s, "byte 0: expected object, found array") == 0, "%s", s);

	CHECK(parse(EV(",\"metadata\":{\"n\":\"\xC0\xAF\"}"), &out, NULL, &err) == ST_EINVAL);
	CHECK_MSG(strcmp(err.msg, "invalid UTF-8 byte 0xC0 (overlong encoding)") == 0, "%s", err.msg);
	CHECK(strcmp(err.path, "metadata.n") == 0 && err.offset == 111);

	CHECK(parse(EV(",\"reason\":5"), &out, NULL, &err) == ST_EINVAL);
	CHECK(strcmp(err.msg, "expected string, found number") == 0 && strcmp(err.path, "reason") == 0);

	CHECK(parse(EV(",\"metadata\":{\"x\":[{\"y\":[0,{\"z\":\"\\uDC00\"}]}]}"), &out, NULL, &err) == ST_EINVAL);
	CHECK_MSG(strcmp(err.path, "metadata.x[0].y[1].z") == 0, "%s", err.path);
	CHECK(strcmp(err.msg, "lone low surrogate \\uDC00") == 0);

	/* source.producer_id and producer_seq (docs/CAPTURE.md): read into
	 * info when valid, refused by name when not; other source members free */
	buf_reset(&out);
	CHECK(parse(EV(",\"source\":{\"producer_id\":\"web-1.a:b_c\",\"producer_seq\":18446744073709551615,\"host\":\"h\"}"),
		    &out, &info, &err) == 0);
	CHECK(info.producer_id && info.producer_id_len == 11 && !memcmp(info.producer_id, "web-1.a:b_c", 11) &&
	      info.producer_seq == UINT64_MAX);
	CHECK(parse(EV(",\"source\":{\"host\":\"h\"}"), &out, &info, &err) == 0 && !info.producer_id &&
	      info.producer_seq == 0);
	CHECK(parse(EV(",\"source\":{\"producer_seq\":0}"), &out, NULL, &err) == ST_EINVAL &&
	      strcmp(err.path, "source.producer_seq") == 0 && strstr(err.msg, "from 1"));
	CHECK(parse(EV(",\"source\":{\"producer_seq\":1.5}"), &out, NULL, &err) == ST_EINVAL);
	CHECK(parse(EV(",\"source\":{\"producer_seq\":\"7\"}"), &out, NULL, &err) == ST_EINVAL &&
	      strcmp(err.msg, "expected number, found string") == 0);
	CHECK(parse(EV(",\"source\":{\"producer_id\":\"a b\"}"), &out, NULL, &err) == ST_EINVAL &&
	      strcmp(err.path, "source.producer_id") == 0 && strstr(err.msg, "producer id"));
	CHECK(parse(EV(",\"source\":{\"producer_id\":\"\"}"), &out, NULL, &err) == ST_EINVAL);
	CHECK(parse(EV(",\"source\":{\"producer_id\":\"\\u0061\"}"), &out, NULL, &err) == ST_EINVAL);
	buf_reset(&out);
	buf_puts(&out, "keep");

	/* Truncated format output stays NUL-terminated. */
	event_error_format(&err, s, 8);
	CHECK(strlen(s) == 7);
	CHECK(out.len == 4);
	buf_release(&out);
}

/* A valid event whose metadata.s string is n bytes long. */
static void event_with_string(struct buf *b, size_t n)
{
	buf_reset(b);
	buf_puts(b, EV(",\"metadata\":{\"s\":\""));
	b->len--;   /* drop EV's closing brace */
	buf_reserve(b, n + 8);
	memset(b->data + b->len, 'x', n);
	b->len += n;
	buf_puts(b, "\"}}");
}

static void test_limits(void)
{
	struct buf in = BUF_INIT(1 << 22), out = BUF_INIT(1 << 22);
	struct event_limits lim;
	struct event_error err;
	size_t base;

	event_limits_default(&lim);
	CHECK(lim.max_entry == 65535 && lim.max_depth == 32 && lim.max_members == 1024 &&
	      lim.max_string == 32768);
	lim.max_entry = 1 << 20;

	/* max_string: raw bytes, at and over. */
	event_with_string(&in, 32768);
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == 0);
	event_with_string(&in, 32769);
	buf_reset(&out);
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == ST_ELIMIT);
	CHECK(out.len == 0);
	CHECK_MSG(strcmp(err.msg, "string is 32769 bytes, limit max_string is 32768") == 0, "%s", err.msg);
	CHECK(strcmp(err.path, "metadata.s") == 0);
	CHECK(err.offset == strlen(EV(",\"metadata\":{\"s\":")) - 1);

	/* max_entry: the compact form may use max_entry - EVENT_SERVER_RESERVE bytes. */
	event_limits_default(&lim);
	lim.max_string = 1 << 20;
	event_with_string(&in, 0);
	base = in.len;
	event_with_string(&in, 65535 - EVENT_SERVER_RESERVE - base);
	CHECK(in.len == 65535 - EVENT_SERVER_RESERVE);
	buf_reset(&out);
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == 0);
	CHECK(out.len == 65535 - EVENT_SERVER_RESERVE);
	event_with_string(&in, 65535 - EVENT_SERVER_RESERVE - base + 1);
	buf_reset(&out);
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == ST_ELIMIT);
	CHECK(out.len == 0 && err.offset == 65535 - EVENT_SERVER_RESERVE && err.path[0] == 0);
	CHECK_MSG(strstr(err.msg, "compact event is 65136 bytes, limit is 65135") != NULL, "%s", err.msg);
	/* Whitespace does not count: a 70000-byte input whose compact form fits. */
	event_with_string(&in, 1000);
	buf_reset(&out);
	{
		struct buf pretty = BUF_INIT(1 << 20);
		buf_append(&pretty, in.data, 1);
		for (int i = 0; i < 69000; i++)
			buf_putc(&pretty, ' ');
		buf_append(&pretty, in.data + 1, in.len - 1);
		CHECK(event_parse(pretty.data, pretty.len, &lim, &out, NULL, &err) == 0);
		CHECK(out.len == in.len && memcmp(out.data, in.data, in.len) == 0);
		buf_release(&pretty);
	}

	/* A fresh (never allocated) output buffer and an empty input. */
	{
		struct buf fresh = BUF_INIT(1 << 16);
		CHECK(event_parse((const uint8_t *)"", 0, NULL, &fresh, NULL, &err) == ST_EINVAL);
		CHECK(fresh.len == 0 && err.offset == 0);
		CHECK(parse(EV(""), &fresh, NULL, &err) == 0 && fresh.len == strlen(EV("")));
		buf_release(&fresh);
	}

	/* The output buffer's own maximum is respected. */
	{
		struct buf small = BUF_INIT(64);
		const char *e = EV("");
		CHECK(strlen(e) > 64);
		CHECK(parse(e, &small, NULL, &err) == ST_ELIMIT);
		CHECK(small.len == 0);
		buf_release(&small);
	}

	/* max_members: members plus array elements of the whole event. The
	 * base event has 7 (time action actor id resource type metadata). */
	event_limits_default(&lim);
	lim.max_members = 10;
	CHECK(event_parse((const uint8_t *)EV(",\"metadata\":{\"a\":[1,2]}"),
			  strlen(EV(",\"metadata\":{\"a\":[1,2]}")), &lim, &out, NULL, &err) == 0);
	const char *over = EV(",\"metadata\":{\"a\":[1,2,3]}");
	CHECK(event_parse((const uint8_t *)over, strlen(over), &lim, &out, NULL, &err) == ST_ELIMIT);
	CHECK(err.offset == strlen(over) - 4 && strcmp(err.path, "metadata.a[2]") == 0);
	CHECK_MSG(strcmp(err.msg, "more than 10 members and elements, limit max_members is 10") == 0, "%s", err.msg);

	/* max_depth, configured. */
	lim.max_members = 1024;
	lim.max_depth = 3;
	const char *d3 = EV(",\"metadata\":{\"a\":[]}");
	const char *d4 = EV(",\"metadata\":{\"a\":[{}]}");
	CHECK(event_parse((const uint8_t *)d3, strlen(d3), &lim, &out, NULL, &err) == 0);
	CHECK(event_parse((const uint8_t *)d4, strlen(d4), &lim, &out, NULL, &err) == ST_ELIMIT);
	CHECK_MSG(strcmp(err.msg, "nesting depth 4, limit max_depth is 3") == 0, "%s", err.msg);
	CHECK(strcmp(err.path, "metadata.a[0]") == 0);

	/* A big object (hash table path) of 1000 unique keys, then one dup. */
	event_limits_default(&lim);
	lim.max_members = 5000;
	buf_reset(&in);
	buf_puts(&in, "{\"time\":\"2026-11-27T22:10:17Z\",\"action\":\"a\",\"actor\":{\"id\":\"u\"},"
		 "\"resource\":{\"type\":\"t\"},\"metadata\":{");
	for (int i = 0; i < 1000; i++)
		buf_printf(&in, "%s\"key%d\":{\"a\":%d,\"b\":%d}", i ? "," : "", i, i, i);
	size_t mark = in.len;
	buf_puts(&in, "}}");
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == 0);
	in.len = mark;
	buf_puts(&in, ",\"key\\u0037\\u00377\":0}}");
	CHECK(event_parse(in.data, in.len, &lim, &out, NULL, &err) == ST_EINVAL);
	CHECK_MSG(strstr(err.msg, "duplicate key \"key\\u0037\\u00377\"") != NULL, "%s", err.msg);
	CHECK(err.offset == mark + 1);

	buf_release(&in);
	buf_release(&out);
}

static const char TPREV[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/* Copies tmpl to e with "%s" replaced by TPREV. */
static void subst(char *e, size_t cap, const char *tmpl)
{
	const char *m = strstr(tmpl, "%s");
	if (!m) {
		snprintf(e, cap, "%s", tmpl);
		return;
	}
	snprintf(e, cap, "%.*s%s%s", (int)(m - tmpl), tmpl, TPREV, m + 2);
}

static int stored(const char *s, struct stored_info *si, struct event_error *err)
{
	return event_parse_stored((const uint8_t *)s, strlen(s), NULL, si, err);
}

static void test_stored(void)
{
	struct stored_info si;
	struct event_error err;
	char e[1024];

	snprintf(e, sizeof(e), "{\"seq\":18446744073709551615,\"received_at\":\"2026-11-27T22:10:17.123456Z\","
		 "\"tseq\":1,\"tprev\":\"%s\",\"tenant\":\"default\",\"id\":\"0193\","
		 "\"time\":\"x\",\"action\":[1,{\"a\":\"\xF0\x9F\x98\x80\"}]}", TPREV);
	memset(&si, 0, sizeof(si));
	CHECK(stored(e, &si, &err) == 0);
	CHECK(si.seq == UINT64_MAX && si.tseq == 1);
	CHECK(si.received_ns == 1795817417123456000LL);
	for (int i = 0; i < 32; i++)
		CHECK(si.tprev[i] == i);
	CHECK(si.tenant == strstr(e, "default") && si.tenant_len == 7);

	/* tenant anywhere at the top level (not nested). */
	snprintf(e, sizeof(e), "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,"
		 "\"tprev\":\"%s\",\"x\":{\"tenant\":\"no\"},\"tenant\":\"t-2\"}", TPREV);
	CHECK(stored(e, &si, &err) == 0);
	CHECK(si.tenant_len == 3 && memcmp(si.tenant, "t-2", 3) == 0);

	static const struct {
		const char *name;
		const char *in;    /* %s is the tprev */
		size_t off;
		const char *path;
		const char *msg;
	} bad[] = {
		{ "order", "{\"received_at\":\"2026-11-27T22:10:17Z\",\"seq\":0,\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  1, "received_at", "expected server field \"seq\" as member 1, found \"received_at\"" },
		{ "seq_string", "{\"seq\":\"0\",\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "expected number, found string" },
		{ "seq_negative", "{\"seq\":-1,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "expected unsigned 64-bit integer, found \"-1\"" },
		{ "seq_fraction", "{\"seq\":1.0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "unsigned 64-bit" },
		{ "seq_exp", "{\"seq\":1e3,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "unsigned 64-bit" },
		{ "seq_overflow", "{\"seq\":18446744073709551616,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "unsigned 64-bit" },
		{ "seq_leading_zero", "{\"seq\":01,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  7, "seq", "leading zero" },
		{ "seq_escaped_key", "{\"s\\u0065q\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  1, "s\\u0065q", "expected server field \"seq\"" },
		{ "received_bad", "{\"seq\":0,\"received_at\":\"yesterday\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  23, "received_at", "RFC 3339" },
		{ "tseq_missing", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tprev\":\"%s\",\"tenant\":\"a\"}",
		  46, "tprev", "expected server field \"tseq\" as member 3" },
		{ "tprev_short", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"AAAA\",\"tenant\":\"a\"}",
		  63, "tprev", "expected base64 of 32 bytes" },
		{ "tprev_long", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%sAAAA\",\"tenant\":\"a\"}",
		  63, "tprev", "expected base64 of 32 bytes" },
		{ "tprev_bad_pad", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\",\"tenant\":\"a\"}",
		  63, "tprev", "base64" },
		{ "only_three", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0}",
		  54, "", "expected server field \"tprev\" as member 4, found '}'" },
		{ "no_tenant", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"id\":\"x\"}",
		  118, "tenant", "required field is missing" },
		{ "tenant_number", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":1}",
		  119, "tenant", "expected string, found number" },
		{ "dup_tenant", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\",\"tenant\":\"b\"}",
		  123, "tenant", "duplicate key" },
		{ "dup_seq_later", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\",\"seq\":1}",
		  123, "seq", "duplicate key" },
		{ "trailing", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\"}x",
		  123, "", "unexpected data" },
		{ "bad_utf8", "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,\"tprev\":\"%s\",\"tenant\":\"a\",\"m\":\"\xED\xA0\x80\"}",
		  129, "m", "surrogate" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char msg[400];
		subst(e, sizeof(e), bad[i].in);
		memset(&si, 0x5A, sizeof(si));
		int rc = stored(e, &si, &err);
		event_error_format(&err, msg, sizeof(msg));
		CHECK_MSG(rc == ST_EINVAL, "%s: rc %d", bad[i].name, rc);
		CHECK_MSG(err.offset == bad[i].off, "%s: offset %zu, expected %zu (%s)", bad[i].name,
			  err.offset, bad[i].off, msg);
		CHECK_MSG(strcmp(err.path, bad[i].path) == 0, "%s: path %s", bad[i].name, err.path);
		CHECK_MSG(strstr(err.msg, bad[i].msg) != NULL, "%s: %s", bad[i].name, err.msg);
		CHECK(si.seq == 0x5A5A5A5A5A5A5A5AULL);   /* untouched */
	}

	/* Limits apply to stored entries too (the whole entry against max_entry). */
	struct event_limits lim;
	event_limits_default(&lim);
	snprintf(e, sizeof(e), "{\"seq\":0,\"received_at\":\"2026-11-27T22:10:17Z\",\"tseq\":0,"
		 "\"tprev\":\"%s\",\"tenant\":\"a\"}", TPREV);
	lim.max_entry = strlen(e);
	CHECK(event_parse_stored((const uint8_t *)e, strlen(e), &lim, &si, &err) == 0);
	lim.max_entry--;
	CHECK(event_parse_stored((const uint8_t *)e, strlen(e), &lim, &si, &err) == ST_ELIMIT);

	/* What event_parse writes, prefixed with server fields, reads back. */
	{
		struct buf out = BUF_INIT(1 << 16);
		struct event_error er;
		buf_printf(&out, "{\"seq\":7,\"received_at\":\"2026-11-27T22:10:17.000001Z\",\"tseq\":3,"
			   "\"tprev\":\"%s\",", TPREV);
		size_t mark = out.len;
		CHECK(parse(EV(",\"tenant\":\"acme\""), &out, NULL, &er) == 0);
		/* splice: drop the producer's '{' */
		memmove(out.data + mark, out.data + mark + 1, out.len - mark - 1);
		out.len--;
		CHECK(event_parse_stored(out.data, out.len, NULL, &si, &er) == 0);
		CHECK(si.seq == 7 && si.tseq == 3 && si.tenant_len == 4);
		buf_release(&out);
	}
}

/* Reference compact form: drop whitespace outside strings. */
static size_t naive_compact(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;
	int instr = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (instr) {
			out[o++] = c;
			if (c == '\\')
				out[o++] = in[++i];
			else if (c == '"')
				instr = 0;
		} else if (c == '"') {
			instr = 1;
			out[o++] = c;
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			out[o++] = c;
		}
	}
	return o;
}

static void test_mutations(void)
{
	const char *seed =
		" { \"time\": \"2026-11-27T22:10:17.123Z\", \"action\": \"iam.role.update\",\n"
		"  \"actor\": {\"id\": \"alice\", \"ip\": \"10.1.2.3\"}, \"resource\": {\"type\": \"role\", \"id\": \"r1\"},\n"
		"  \"outcome\": \"success\", \"tenant\": \"acme\", \"id\": \"e1\",\n"
		"  \"before\": {\"perms\": [\"read\", \"write\"], \"n\": -1.5e3},\n"
		"  \"metadata\": {\"note\": \"caf\xC3\xA9 \\u00e9 \\uD834\\uDD1E \xF0\x9F\x98\x80\", \"ok\": true, \"z\": null}\n}\n";
	size_t n = strlen(seed);
	uint8_t in[1024], ref[1024];
	struct buf out = BUF_INIT(4096);
	uint64_t x = 0x2545F4914F6CDD1DULL;
	int ok = 0, refused = 0;

	for (int iter = 0; iter < 200000; iter++) {
		struct event_error err;
		memcpy(in, seed, n);
		size_t len = n;
		int muts = 1 + (int)(x % 3);
		for (int m = 0; m < muts && len > 0; m++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			size_t pos = (size_t)(x >> 8) % len;
			switch ((x >> 40) % 4) {
			case 0: in[pos] = (uint8_t)(x >> 48); break;
			case 1: in[pos] ^= (uint8_t)(1u << ((x >> 52) % 8)); break;
			case 2: len = pos; break;   /* truncate */
			default: in[pos] = " {}[],:\"\\0a-.eu"[(x >> 56) % 16]; break;
			}
		}
		buf_reset(&out);
		buf_puts(&out, "P");
		int rc = event_parse(in, len, NULL, &out, NULL, &err);
		if (rc == 0) {
			size_t r = naive_compact(in, len, ref);
			CHECK_MSG(out.len == 1 + r && memcmp(out.data + 1, ref, r) == 0, "iter %d", iter);
			ok++;
		} else {
			CHECK_MSG(out.len == 1 && (rc == ST_EINVAL || rc == ST_ELIMIT), "iter %d rc %d", iter, rc);
			CHECK_MSG(err.offset <= len && err.msg[0], "iter %d", iter);
			refused++;
		}
	}
	printf("mutations: %d accepted, %d refused\n", ok, refused);
	CHECK(ok > 1000 && refused > 1000);
	buf_release(&out);
}

int main(void)
{
	test_compact();
	test_errors();
	test_limits();
	test_stored();
	test_mutations();
	return test_report("test_event");
}
