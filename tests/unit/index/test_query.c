/*
 * test_query.c - the query language: every form parsed (checked through
 * its canonical text), matched against hand-written stored entries, and
 * every error message with its column.
 */
#include "test.h"

#include "common/buf.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "index/query.h"

#include <stdint.h>

static int64_t NOW;   /* 2026-11-28T01:00:00Z */

static const char E1[] =
	"{\"seq\":5,\"received_at\":\"2026-11-28T00:50:00.000004Z\",\"tseq\":1,"
	"\"tprev\":\"AAAAqqqq=\",\"tenant\":\"acme\",\"id\":\"x1\",\"time\":\"2026-11-01T10:00:00Z\","
	"\"action\":\"iam.role.update\",\"actor\":{\"id\":\"alice@example.com\",\"ip\":\"10.0.0.1\"},"
	"\"resource\":{\"type\":\"role\",\"id\":\"res 42\"},\"outcome\":\"denied\","
	"\"metadata\":{\"tags\":[\"a\",\"b\"],\"n\":42,\"ok\":true,\"z\":null,"
	"\"note\":\"Role Update requested\",\"items\":[{\"k\":\"v\"}]},\"before\":{\"x\":1}}";

static const char E2[] =
	"{\"seq\":1000,\"received_at\":\"2026-11-20T00:00:00Z\",\"tseq\":7,"
	"\"tprev\":\"BBBB=\",\"tenant\":\"beta\",\"id\":\"y2\",\"time\":\"2026-11-02T00:00:00Z\","
	"\"action\":\"iam*\",\"actor\":{\"id\":\"b\\\"ob\",\"name\":\"caf\\u00e9 Z\\u00d6E\"},"
	"\"resource\":{\"type\":\"key\"},\"outcome\":\"success\"}";

static struct query *parse(const char *s)
{
	struct query *q = NULL;
	struct query_error err;
	int r = query_parse(s, strlen(s), NOW, &q, &err);
	CHECK_MSG(r == 0, "parse \"%s\": %d %s", s, r, err.msg);
	return r == 0 ? q : NULL;
}

/* Parses s and checks its canonical text and that the text re-parses to
 * itself. */
static void fmt(const char *s, const char *want)
{
	struct query *q = parse(s), *q2 = NULL;
	struct buf b = BUF_INIT(1 << 16), b2 = BUF_INIT(1 << 16);
	struct query_error err;
	if (!q)
		return;
	CHECK(query_format(q, &b) == 0 && buf_cstr(&b) == 0);
	CHECK_MSG(b.data && !strcmp((char *)b.data, want), "format \"%s\": got \"%s\" want \"%s\"",
		  s, b.data ? (char *)b.data : "", want);
	CHECK(query_parse((char *)b.data, b.len, NOW, &q2, &err) == 0);
	if (q2) {
		CHECK(query_format(q2, &b2) == 0 && buf_cstr(&b2) == 0);
		CHECK_MSG(b2.len == b.len && !memcmp(b.data, b2.data, b.len),
			  "reformat \"%s\" -> \"%s\"", (char *)b.data, b2.data ? (char *)b2.data : "");
	}
	buf_release(&b);
	buf_release(&b2);
	query_free(q);
	query_free(q2);
}

static void err(const char *s, int code, size_t col, const char *want)
{
	struct query *q = NULL;
	struct query_error e;
	memset(&e, 0, sizeof(e));
	int r = query_parse(s, strlen(s), NOW, &q, &e);
	CHECK_MSG(r == code && q == NULL, "\"%.60s\": rc %d", s, r);
	CHECK_MSG(e.column == col, "\"%.60s\": column %zu want %zu", s, e.column, col);
	CHECK_MSG(!strcmp(e.msg, want), "\"%.60s\":\n  got  %s\n  want %s", s, e.msg, want);
}

static bool match(const char *s, const char *entry)
{
	struct query *q = parse(s);
	bool m = q && query_match(q, (const uint8_t *)entry, strlen(entry));
	query_free(q);
	return m;
}

#define YES(s, e) CHECK_MSG(match(s, e), "\"%s\" should match %s", s, #e)
#define NO(s, e) CHECK_MSG(!match(s, e), "\"%s\" should not match %s", s, #e)

static void test_format(void)
{
	fmt("", "");
	fmt("   \t\n ", "");
	fmt("actor.id:alice@example.com", "actor.id:alice@example.com");
	fmt("action:iam.role.*", "action:iam.role.*");
	fmt("resource.id:\"res 42\"", "resource.id:\"res 42\"");
	fmt("outcome:denied", "outcome:denied");
	fmt("-outcome:success", "NOT outcome:success");
	fmt("NOT   outcome:success", "NOT outcome:success");
	fmt("a b OR c", "a AND b OR c");
	fmt("a AND b OR c AND d", "a AND b OR c AND d");
	fmt("a (b OR c)", "a AND (b OR c)");
	fmt("(a OR b) OR (c OR d)", "a OR b OR c OR d");
	fmt("a (b (c d))", "a AND b AND c AND d");
	fmt("((((a))))", "a");
	fmt("NOT (a OR b)", "NOT (a OR b)");
	fmt("-(a b)", "NOT (a AND b)");
	fmt("NOT -a", "NOT NOT a");
	fmt("-a -b", "NOT a AND NOT b");
	fmt("a -b OR -c d", "a AND NOT b OR NOT c AND d");
	fmt("or and not", "or AND and AND not");
	fmt("Denied", "denied");
	fmt("deni*", "deni*");
	fmt("DENI*", "deni*");
	fmt("\"Role  Update\"", "\"role update\"");
	fmt("\"one\"", "one");
	fmt("alice@example.com", "\"alice example com\"");
	fmt("has:before", "has:before");
	fmt("metadata.z:*", "has:metadata.z");
	fmt("time:*", "has:time");
	fmt("actor.id:a*e*", "actor.id:a*e*");
	fmt("actor.id:*@example.com", "actor.id:*@example.com");
	fmt("actor.id:a\\*b", "actor.id:\"a*b\"");
	fmt("actor.id:a\\**", "actor.id:a\\**");
	fmt("actor.id:a\\*b*c", "actor.id:a\\*b*c");
	fmt("actor.id:\"a*\"", "actor.id:\"a*\"");
	fmt("actor.id:\"\"", "actor.id:\"\"");
	fmt("actor.id:\"q\\\"x\\\\y\"", "actor.id:\"q\\\"x\\\\y\"");
	fmt("f:\">x\"", "f:\">x\"");
	fmt("metadata.tags:a OR metadata.tags:b", "metadata.tags:a OR metadata.tags:b");
	fmt("time:2026-11-01", "time:2026-11-01T00:00:00.000000000Z..2026-11-01T23:59:59.999999999Z");
	fmt("time:>2026-11-01", "time:2026-11-02T00:00:00.000000000Z..*");
	fmt("time:>=2026-11-01", "time:2026-11-01T00:00:00.000000000Z..*");
	fmt("time:<2026-11-01", "time:*..2026-10-31T23:59:59.999999999Z");
	fmt("time:<=2026-11-01", "time:*..2026-11-01T23:59:59.999999999Z");
	fmt("time:2026-11-01..2026-11-02T12:00Z",
	    "time:2026-11-01T00:00:00.000000000Z..2026-11-02T12:00:00.000000000Z");
	fmt("time:2026-11-01T12:00+02:00..2026-11-02",
	    "time:2026-11-01T10:00:00.000000000Z..2026-11-02T23:59:59.999999999Z");
	fmt("time:2026-11-01T12:00:30.5Z", "time:2026-11-01T12:00:30.500000000Z..2026-11-01T12:00:30.500000000Z");
	fmt("time:>2026-11-01T12:00:00.123456789-01:00", "time:2026-11-01T13:00:00.123456790Z..*");
	fmt("time:*..*", "time:*..*");
	fmt("received:>now-15m", "received:2026-11-28T00:45:00.000000001Z..*");
	fmt("received:now-2h..now", "received:2026-11-27T23:00:00.000000000Z..2026-11-28T01:00:00.000000000Z");
	fmt("time:>=now-7d", "time:2026-11-21T01:00:00.000000000Z..*");
	fmt("time:>=now-1w time:<now-30s",
	    "time:2026-11-21T01:00:00.000000000Z..* AND time:*..2026-11-28T00:59:29.999999999Z");
	fmt("seq:100..*", "seq:100..*");
	fmt("seq:42", "seq:42..42");
	fmt("seq:<=5", "seq:*..5");
	fmt("seq:>5", "seq:6..*");
	fmt("seq:<0", "seq:1..0");
	fmt("seq:5..3", "seq:1..0");
	fmt("time:2026-11-02..2026-11-01", "time:1970-01-01T00:00:00.000000001Z..1970-01-01T00:00:00.000000000Z");
	fmt("seq:9223372036854775807", "seq:9223372036854775807..*");
	fmt("seq:>9223372036854775807", "seq:1..0");
	fmt("  a   AND   ( b OR c )  ", "a AND (b OR c)");
	fmt("a:b(c", "a:b(c");
	fmt("na\xc3\xafve caf\xc3\xa9:\xc3\xa9t\xc3\xa9", "na\xc3\xafve AND caf\xc3\xa9:\xc3\xa9t\xc3\xa9");

	/* The node fields themselves. */
	struct query *q = parse("actor.id:x\\*y*z");
	if (q && q->root) {
		CHECK(q->root->op == Q_TERM && q->root->term == QT_FIELD_GLOB);
		CHECK(!strcmp(q->root->field, "actor.id") && q->root->field_len == 8);
		CHECK(q->root->value_len == 6 && !memcmp(q->root->value, "x\\*y*z", 6));
		CHECK(query_glob_literal_prefix(q->root) == 1);
		CHECK(q->root->column == 1);
	}
	query_free(q);
	q = parse("a OR  -b c");
	if (q && q->root) {
		CHECK(q->root->op == Q_OR && q->root->nkids == 2 && q->root->column == 1);
		struct qnode *and = q->root->kids[1];
		CHECK(and->op == Q_AND && and->nkids == 2 && and->column == 7);
		CHECK(and->kids[0]->op == Q_NOT && and->kids[0]->column == 7);
		CHECK(and->kids[0]->kids[0]->column == 8 && and->kids[1]->column == 10);
	}
	query_free(q);
	q = parse("seq:10..20");
	if (q && q->root)
		CHECK(q->root->term == QT_RANGE && q->root->rfield == QR_SEQ &&
		      q->root->lo == 10 && q->root->hi == 20);
	query_free(q);
	q = parse("time:*..2026-11-01");
	if (q && q->root)
		CHECK(q->root->lo == INT64_MIN && q->root->rfield == QR_TIME);
	query_free(q);
	q = parse("\"Role Update\"");
	if (q && q->root)
		CHECK(q->root->term == QT_PHRASE && q->root->ntokens == 2 &&
		      !strcmp(q->root->tokens[0], "role") && !strcmp(q->root->tokens[1], "update"));
	query_free(q);
	query_free(NULL);
}

static void test_match(void)
{
	/* Fields: exact, case-sensitive, any array element, scalars as text. */
	YES("actor.id:alice@example.com", E1);
	NO("actor.id:Alice@example.com", E1);
	NO("actor.id:alice", E1);
	YES("resource.id:\"res 42\"", E1);
	YES("outcome:denied", E1);
	NO("outcome:denied", E2);
	YES("metadata.tags:b", E1);
	NO("metadata.tags:c", E1);
	YES("metadata.n:42", E1);
	YES("metadata.ok:true", E1);
	YES("metadata.z:null", E1);
	NO("metadata.z:\"\"", E1);
	YES("seq:5 tseq:1", E1);
	YES("metadata.items.k:v", E1);
	NO("before:x", E1);
	NO("before.x:2", E1);
	YES("tenant:acme", E1);
	YES("id:x1", E1);
	YES("actor.id:\"b\\\"ob\"", E2);
	YES("actor.name:\"caf\xc3\xa9 Z\xc3\x96" "E\"", E2);
	/* Prefix and glob; escaped stars are literal. */
	YES("action:iam.role.*", E1);
	YES("action:iam*", E1);
	NO("action:iam.user.*", E1);
	YES("actor.id:*@example.com", E1);
	YES("actor.id:a*e*.com", E1);
	NO("actor.id:a*e*.org", E1);
	YES("action:i*.*.update", E1);
	YES("action:*", E1);
	NO("action:iam\\*", E1);
	YES("action:iam\\*", E2);
	YES("action:\"iam*\"", E2);
	NO("action:\"iam*\"", E1);
	YES("action:iam\\**", E2);
	NO("action:iam\\**", E1);
	YES("action:i*\\*", E2);
	NO("action:i*\\*", E1);
	/* has: any type, including objects and null. */
	YES("has:before", E1);
	YES("has:metadata.z", E1);
	YES("has:actor", E1);
	YES("metadata.z:*", E1);
	NO("has:after", E1);
	YES("-has:after", E1);
	NO("has:metadata", E2);
	/* Full text: text fields only, lowercase, UTF-8. */
	YES("denied", E1);
	YES("DENIED", E1);
	YES("acme", E1);
	YES("42", E1);
	YES("requested", E1);
	NO("x1", E1);
	NO("aaaaqqqq", E1);
	NO("2026", E1);
	NO("alice", E2);
	YES("caf\xc3\xa9", E2);
	YES("z\xc3\x96" "e", E2);
	NO("z\xc3\xb6" "e", E2);
	YES("deni*", E1);
	YES("upd*", E1);
	NO("updx*", E1);
	YES("or", "{\"a\":\"this or that\"}");
	/* Phrases: consecutive, within one string value. */
	YES("\"role update\"", E1);
	YES("\"ROLE UPDATE requested\"", E1);
	YES("alice@example.com", E1);
	YES("iam.role.update", E1);
	NO("\"update role\"", E1);
	NO("\"update alice\"", E1);       /* end of action, start of actor.id */
	NO("\"denied role\"", E1);
	NO("\"res 42 role\"", E1);
	YES("\"a a b\"", "{\"m\":\"x a a a b\"}");
	NO("\"a a b\"", "{\"m\":\"x a a\",\"n\":\"b\"}");
	/* Negation, OR, precedence. */
	NO("-outcome:denied", E1);
	YES("-outcome:success", E1);
	YES("NOT outcome:success", E1);
	YES("NOT NOT acme", E1);
	YES("outcome:denied OR outcome:success seq:99", E1);
	NO("(outcome:denied OR outcome:success) seq:99", E1);
	YES("outcome:success OR acme", E1);
	YES("outcome:success OR acme", E2);
	NO("outcome:success acme", E2);
	YES("outcome:success AND beta", E2);
	NO("-(denied OR success)", E1);
	YES("-(denied success)", E1);
	/* Ranges. */
	YES("time:2026-11-01", E1);
	NO("time:2026-11-01", E2);
	NO("time:2026-10-31", E1);
	NO("time:>2026-11-01", E1);
	YES("time:>2026-11-01", E2);
	YES("time:>=2026-11-01", E1);
	NO("time:<2026-11-01", E1);
	YES("time:<=2026-11-01", E1);
	YES("time:<2026-11-02", E1);
	NO("time:<2026-11-02", E2);
	YES("time:2026-11-01T10:00Z", E1);
	YES("time:2026-11-01T11:00+01:00", E1);
	NO("time:2026-11-01T10:00:00.000000001Z..*", E1);
	YES("time:*..2026-11-01T10:00Z", E1);
	YES("time:2026-11-01..2026-11-02T00:00Z", E2);
	YES("received:>now-15m", E1);
	NO("received:>now-5m", E1);
	NO("received:>now-15m", E2);
	YES("received:<now", E1);
	YES("received:2026-11-20", E2);
	YES("seq:5", E1);
	NO("seq:6..*", E1);
	YES("seq:<=5", E1);
	NO("seq:3..4", E1);
	NO("seq:5..3", E1);
	YES("seq:100..*", E2);
	YES("seq:1000", E2);
	/* Empty query matches every well-formed entry; malformed never. */
	YES("", E1);
	YES("  ", E2);
	NO("", "{\"a\":");
	NO("a", "{\"m\":\"a\"");
	NO("-zzz", "not json");
	CHECK(query_match(NULL, (const uint8_t *)E1, strlen(E1)));
	CHECK(!query_match(NULL, (const uint8_t *)"{", 1));
}

static void test_glob(void)
{
	static const struct { const char *pat, *s; bool m; } v[] = {
		{ "a*b*c", "axxbyyc", true }, { "a*b*c", "abx", false }, { "*", "", true },
		{ "a*", "a", true }, { "*a", "ba", true }, { "*a", "ab", false },
		{ "a\\*b", "a*b", true }, { "a\\*b", "axb", false }, { "a\\\\*", "a\\zz", true },
		{ "**x", "yyx", true }, { "*.*", "iam.role", true }, { "*.*", "iamrole", false },
		{ "a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct qnode n;
		memset(&n, 0, sizeof(n));
		n.op = Q_TERM;
		n.term = QT_FIELD_GLOB;
		n.value = (char *)v[i].pat;
		n.value_len = strlen(v[i].pat);
		CHECK_MSG(query_glob_match(&n, v[i].s, strlen(v[i].s)) == v[i].m, "glob %s on %s",
			  v[i].pat, v[i].s);
	}
}

static void test_errors(void)
{
	err("actor.id:", ST_EINVAL, 10, "column 10: expected a value after 'actor.id:', found end of query");
	err("actor.id: x", ST_EINVAL, 10, "column 10: expected a value after 'actor.id:', found whitespace");
	err("(actor.id:)", ST_EINVAL, 11, "column 11: expected a value after 'actor.id:', found ')'");
	err("(a b", ST_EINVAL, 5, "column 5: expected ')' to close the '(' at column 1, found end of query");
	err("(a b c:d", ST_EINVAL, 9, "column 9: expected ')' to close the '(' at column 1, found end of query");
	err("a ) b", ST_EINVAL, 3, "column 3: unexpected ')'");
	err(")", ST_EINVAL, 1, "column 1: unexpected ')'");
	err("()", ST_EINVAL, 2, "column 2: expected a term after '(', found ')'");
	err("time:foo", ST_EINVAL, 6, "column 6: expected a date, time or range after 'time:', found 'foo'");
	err("time:>=2026-13-01", ST_EINVAL, 8,
	    "column 8: expected a date, time or range after 'time:', found '2026-13-01'");
	err("time:2026-11-01..x", ST_EINVAL, 18,
	    "column 18: expected a date, time or range after 'time:', found 'x'");
	err("time:2026-11-01..", ST_EINVAL, 18,
	    "column 18: expected a date, time or range after 'time:', found nothing");
	err("received:now-15x", ST_EINVAL, 10,
	    "column 10: expected a date, time or range after 'received:', found 'now-15x'");
	err("time:now-99999999w", ST_EINVAL, 6,
	    "column 6: expected a date, time or range after 'time:', found 'now-99999999w'");
	err("time:2026-11-01T10Z", ST_EINVAL, 6,
	    "column 6: expected a date, time or range after 'time:', found '2026-11-01T10Z'");
	err("seq:1..x", ST_EINVAL, 8, "column 8: expected a number or range after 'seq:', found 'x'");
	err("seq:-1", ST_EINVAL, 5, "column 5: expected a number or range after 'seq:', found '-1'");
	err("seq:>now", ST_EINVAL, 6, "column 6: expected a number or range after 'seq:', found 'now'");
	err("seq:9223372036854775808", ST_EINVAL, 5,
	    "column 5: expected a number or range after 'seq:', found '9223372036854775808'");
	err("actor.id:>5", ST_EINVAL, 10,
	    "column 10: range comparisons are supported on time, received and seq, not on 'actor.id'");
	err("metadata.n:<=5", ST_EINVAL, 12,
	    "column 12: range comparisons are supported on time, received and seq, not on 'metadata.n'");
	err("a ---", ST_EINVAL, 3, "column 3: expected a search term with letters or digits, found '---'");
	err("\"-- --\"", ST_EINVAL, 1, "column 1: expected a search term with letters or digits, found '\"-- --\"'");
	err("foo.bar*", ST_EINVAL, 1, "column 1: expected a single word before '*' (prefix search), found 'foo.bar*'");
	err("OR a", ST_EINVAL, 1, "column 1: expected a term, found 'OR'");
	err("a OR", ST_EINVAL, 5, "column 5: expected a term after 'OR', found end of query");
	err("a OR OR b", ST_EINVAL, 6, "column 6: expected a term after 'OR', found 'OR'");
	err("a AND )", ST_EINVAL, 7, "column 7: expected a term after 'AND', found ')'");
	err("NOT", ST_EINVAL, 4, "column 4: expected a term after 'NOT', found end of query");
	err("a -(", ST_EINVAL, 5, "column 5: expected a term after '(', found end of query");
	err("\"abc", ST_EINVAL, 5, "column 5: expected '\"' to close the quote at column 1, found end of query");
	err("x:\"abc\\\"", ST_EINVAL, 9, "column 9: expected '\"' to close the quote at column 3, found end of query");
	err("has:*", ST_EINVAL, 5, "column 5: expected a field name after 'has:', found '*'");
	err("has:a:b", ST_EINVAL, 5, "column 5: expected a field name after 'has:', found 'a:b'");
	err("has:", ST_EINVAL, 5, "column 5: expected a value after 'has:', found end of query");

	/* Limits, each named. */
	char big[8192];
	memset(big, 'a', 4097);
	big[4097] = 0;
	err(big, ST_ELIMIT, 4097, "column 4097: the query is 4097 bytes, more than the limit of 4096");
	memset(big, ' ', 4096);
	memcpy(big, "a:", 2);
	memset(big + 2, 'v', 1024);
	big[4095] = 'w';
	big[4096] = 0;
	struct query *q = parse(big);
	query_free(q);

	size_t n = 0;
	for (int i = 0; i < 33; i++)
		big[n++] = '(';
	big[n++] = 'a';
	for (int i = 0; i < 33; i++)
		big[n++] = ')';
	big[n] = 0;
	err(big, ST_ELIMIT, 33, "column 33: nesting of parentheses and NOT is deeper than the limit of 32");
	memmove(big, big + 1, n - 2);   /* 32 levels are fine */
	big[n - 2] = 0;
	q = parse(big);
	query_free(q);
	n = 0;
	for (int i = 0; i < 33; i++) {
		memcpy(big + n, "NOT ", 4);
		n += 4;
	}
	memcpy(big + n, "x", 2);
	err(big, ST_ELIMIT, 129, "column 129: nesting of parentheses and NOT is deeper than the limit of 32");

	n = 0;
	for (int i = 0; i < 300; i++) {
		big[n++] = 'a';
		big[n++] = ' ';
	}
	big[n] = 0;
	err(big, ST_ELIMIT, 513, "column 513: the query has more than 256 terms and operators (the limit)");

	n = 0;
	big[n++] = '"';
	for (int i = 0; i < 33; i++) {
		big[n++] = 'w';
		big[n++] = ' ';
	}
	big[n++] = '"';
	big[n] = 0;
	err(big, ST_ELIMIT, 1, "column 1: a phrase has more than 32 words (the limit)");
	big[64] = '"';   /* 32 words are fine */
	big[65] = 0;
	q = parse(big);
	if (q && q->root)
		CHECK(q->root->term == QT_PHRASE && q->root->ntokens == 32);
	query_free(q);

	memcpy(big, "a:", 2);
	memset(big + 2, 'v', 1025);
	big[1027] = 0;
	err(big, ST_ELIMIT, 3, "column 3: a value is 1025 bytes, more than the limit of 1024");
	big[1026] = 0;
	q = parse(big);
	query_free(q);
	memset(big, 'f', 256);
	memcpy(big + 256, ":v", 3);
	err(big, ST_ELIMIT, 1, "column 1: a field name is 256 bytes, more than the limit of 255");

	/* err may be NULL; ret untouched on failure. */
	struct query *keep = (struct query *)&n;
	CHECK(query_parse("(", 1, NOW, &keep, NULL) == ST_EINVAL && keep == (struct query *)&n);
}

int main(void)
{
	CHECK(rfc3339_parse("2026-11-28T01:00:00Z", 20, &NOW));
	test_format();
	test_match();
	test_glob();
	test_errors();
	return test_report("test_query");
}
