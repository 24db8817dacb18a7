/*
 * test_schema.c - the schema compiler, validator and compatibility checker
 * (src/policy/schema.c) and the JSON tree under them (src/policy/jdoc.c).
 *
 * Table-driven: every keyword passes and fails with the exact pointer and
 * rule of the violation; every format with valid values and near misses;
 * every compile error with its pointer; every compatibility rule in both
 * directions. A case that expects a violation names it exactly, so a
 * validator that became lax or misplaced its pointers fails here.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "policy/jdoc.h"
#include "policy/schema.h"
#include "test.h"

static struct schema *compile_str(const char *text, unsigned flags)
{
	struct schema *s = NULL;
	struct schema_error err;
	int r = schema_compile_flags(text, strlen(text), flags, &s, &err);
	CHECK_MSG(r == 0, "compile %s: %d at byte %zu %s: %s", text, r, err.offset, err.pointer, err.msg);
	return s;
}

/* ---- jdoc ---- */

struct jcase {
	const char *json;
	int code;              /* 0, ST_EINVAL, ST_ELIMIT */
	size_t offset;
	const char *pointer;
};

static void test_jdoc(void)
{
	static const struct jcase cases[] = {
		{ "{\"a\":[1,2,{\"b\":true}]}", 0, 0, "" },
		{ " [ ] ", 0, 0, "" },
		{ "\"x\"", 0, 0, "" },
		{ "-0.5e+3", 0, 0, "" },
		{ "{\"a\":1,\"a\":2}", ST_EINVAL, 7, "" },
		{ "{\"a\":1,\"\\u0061\":2}", ST_EINVAL, 7, "" },
		{ "{\"x\":{\"a\":1,\"b\":2,\"a\":3}}", ST_EINVAL, 18, "/x" },
		{ "{\"a\":[1,2,01]}", ST_EINVAL, 10, "/a/2" },
		{ "{\"a\":[1,2,1.]}", ST_EINVAL, 12, "/a/2" },
		{ "{\"a/b\":{\"c~d\":tru}}", ST_EINVAL, 14, "/a~1b/c~0d" },
		{ "{\"a\":\"\xc0\xaf\"}", ST_EINVAL, 6, "/a" },          /* overlong */
		{ "{\"a\":\"\xed\xa0\x80\"}", ST_EINVAL, 6, "/a" },      /* surrogate in UTF-8 */
		{ "{\"a\":\"\\ud800x\"}", ST_EINVAL, 6, "/a" },          /* lone high surrogate */
		{ "{\"a\":\"\\udc00\"}", ST_EINVAL, 6, "/a" },           /* lone low surrogate */
		{ "{\"a\":\"x\ty\"}", ST_EINVAL, 7, "/a" },              /* raw control byte */
		{ "{\"a\":1}x", ST_EINVAL, 7, "" },
		{ "{\"a\":1", ST_EINVAL, 6, "/a" },
		{ "", ST_EINVAL, 0, "" },
		{ "\xef\xbb\xbf{}", ST_EINVAL, 0, "" },                  /* BOM */
		{ "{\"a\":\f1}", ST_EINVAL, 5, "/a" },                   /* form feed is not whitespace */
	};
	struct jdoc_arena a;
	jdoc_arena_init(&a, 1 << 20);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct jcase *c = &cases[i];
		const struct jdoc_value *v = NULL;
		struct jdoc_error e;
		memset(&e, 0, sizeof(e));
		int r = jdoc_parse(&a, c->json, strlen(c->json), NULL, i % 2 ? JDOC_BORROW : 0, &v, &e);
		CHECK_MSG(r == c->code, "jdoc case %zu: rc %d want %d (%s)", i, r, c->code, e.msg);
		if (c->code && r == c->code) {
			CHECK_MSG(e.offset == c->offset, "jdoc case %zu: offset %zu want %zu (%s)", i, e.offset,
				  c->offset, e.msg);
			CHECK_MSG(strcmp(e.pointer, c->pointer) == 0, "jdoc case %zu: pointer '%s' want '%s'", i,
				  e.pointer, c->pointer);
		}
		jdoc_arena_reset(&a);
	}

	/* Decoding: escapes, surrogate pairs, keys. */
	const struct jdoc_value *v;
	struct jdoc_error e;
	const char *j = "{\"k\\u00e9\":\"a\\n\\u00e9\\ud83d\\ude00\\/\"}";
	CHECK(jdoc_parse(&a, j, strlen(j), NULL, JDOC_BORROW, &v, NULL) == 0);
	const struct jdoc_value *x = jdoc_get(v, "k\xc3\xa9", 3);
	CHECK(x && x->type == JDOC_STRING && x->len == 9 &&
	      memcmp(x->u.s, "a\n\xc3\xa9\xf0\x9f\x98\x80/", 9) == 0);
	CHECK(x && jdoc_utf8_count(x->u.s, x->len) == 5);
	jdoc_arena_reset(&a);

	/* Messages name what was found. */
	CHECK(jdoc_parse(&a, "[1 x]", 5, NULL, 0, &v, &e) == ST_EINVAL && e.offset == 3 &&
	      strcmp(e.msg, "expected ',' or ']', found 'x'") == 0);
	jdoc_arena_reset(&a);

	/* Limits: depth, values, string, input, arena. */
	struct jdoc_limits lim;
	jdoc_limits_default(&lim);
	lim.max_depth = 3;
	CHECK(jdoc_parse(&a, "[[[1]]]", 7, &lim, 0, &v, &e) == 0);
	CHECK(jdoc_parse(&a, "[[[[1]]]]", 9, &lim, 0, &v, &e) == ST_ELIMIT && e.offset == 3 &&
	      strcmp(e.pointer, "/0/0/0") == 0);
	jdoc_limits_default(&lim);
	lim.max_values = 3;
	CHECK(jdoc_parse(&a, "[1,2]", 5, &lim, 0, &v, &e) == 0);
	CHECK(jdoc_parse(&a, "[1,2,3]", 7, &lim, 0, &v, &e) == ST_ELIMIT && e.offset == 5);
	jdoc_limits_default(&lim);
	lim.max_string = 3;
	CHECK(jdoc_parse(&a, "\"abc\"", 5, &lim, 0, &v, &e) == 0);
	CHECK(jdoc_parse(&a, "\"abcd\"", 6, &lim, 0, &v, &e) == ST_ELIMIT);
	lim.max_input = 4;
	CHECK(jdoc_parse(&a, "\"abc\"", 5, &lim, 0, &v, &e) == ST_ELIMIT);
	jdoc_arena_release(&a);
	struct jdoc_arena tiny;
	jdoc_arena_init(&tiny, 256);
	CHECK(jdoc_parse(&tiny, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]", 40, NULL, 0, &v, &e) == ST_ELIMIT);
	jdoc_arena_release(&tiny);

	/* A big object takes the sorted duplicate check. */
	char big[4096];
	size_t n = 0;
	big[n++] = '{';
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"k%d\":%d", i ? "," : "", i % 60 == 59 ? 3 : i, i);
	big[n++] = '}';
	jdoc_arena_init(&a, 1 << 20);
	CHECK(jdoc_parse(&a, big, n, NULL, 0, &v, &e) == ST_EINVAL && strstr(e.msg, "\"k3\"") &&
	      e.offset == (size_t)(strstr(big, "\"k59\"") ? 0 : (strstr(strstr(big, "\"k3\"") + 1, "\"k3\"") - big)));
	jdoc_arena_release(&a);

	/* Exact decimal comparison and integers. */
	static const struct { const char *a, *b; int c; } nums[] = {
		{ "1", "1.0", 0 }, { "10e-1", "1", 0 }, { "-0", "0", 0 }, { "0.0e5", "-0.000", 0 },
		{ "9007199254740993", "9007199254740992", 1 }, { "1e2", "99.9999", 1 },
		{ "-1e2", "-99", -1 }, { "0.001", "1e-3", 0 }, { "12.5", "125e-1", 0 },
		{ "-5", "3", -1 }, { "3", "-5", 1 }, { "0", "1e-400", -1 }, { "1e400", "1e399", 1 },
		{ "123.456", "123.4560001", -1 }, { "100", "1e2", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		int c = jdoc_num_cmp(nums[i].a, strlen(nums[i].a), nums[i].b, strlen(nums[i].b));
		int r = jdoc_num_cmp(nums[i].b, strlen(nums[i].b), nums[i].a, strlen(nums[i].a));
		CHECK_MSG((c > 0) - (c < 0) == nums[i].c && (r > 0) - (r < 0) == -nums[i].c,
			  "num_cmp %s %s = %d", nums[i].a, nums[i].b, c);
	}
	CHECK(jdoc_num_is_integer("1.0", 3));
	CHECK(jdoc_num_is_integer("1e3", 3));
	CHECK(jdoc_num_is_integer("-0", 2));
	CHECK(jdoc_num_is_integer("12.50e1", 7));
	CHECK(!jdoc_num_is_integer("12.55e1", 7));
	CHECK(!jdoc_num_is_integer("1.5", 3));
	CHECK(!jdoc_num_is_integer("1e-1", 4));

	/* Pointers. */
	char p[16] = "";
	size_t l = jdoc_pointer_push(p, 0, sizeof(p), "a/b~", 4);
	CHECK(l == 7 && strcmp(p, "/a~1b~0") == 0);
	l = jdoc_pointer_push(p, l, sizeof(p), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8);
	CHECK(l == 14 && strcmp(p, "/a~1b~0/\xc3\xa9\xc3\xa9\xc3\xa9") == 0);   /* cut at a character */
}

/* ---- keywords ---- */

struct vcase {
	const char *schema;
	const char *inst;
	int count;             /* violations expected */
	const char *pointer;   /* of the first */
	const char *rule;
};

static void run_vcases(const struct vcase *cases, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const struct vcase *c = &cases[i];
		struct schema *s = compile_str(c->schema, 0);
		if (!s)
			continue;
		struct schema_violation v[8];
		memset(v, 0, sizeof(v));
		int r = schema_validate(s, c->inst, strlen(c->inst), v, ARRAY_SIZE(v));
		CHECK_MSG(r == c->count, "%s %zu: %s on %s: %d violations, want %d (first %s %s: %s)",
			  what, i, c->schema, c->inst, r, c->count, v[0].pointer, v[0].rule, v[0].msg);
		if (r == c->count && r > 0) {
			CHECK_MSG(strcmp(v[0].pointer, c->pointer) == 0 && strcmp(v[0].rule, c->rule) == 0,
				  "%s %zu: %s on %s: got '%s' %s, want '%s' %s (%s)", what, i, c->schema,
				  c->inst, v[0].pointer, v[0].rule, c->pointer, c->rule, v[0].msg);
			CHECK(v[0].msg[0] != 0);
		}
		schema_free(s);
	}
}

static void test_keywords(void)
{
	static const struct vcase cases[] = {
		/* type */
		{ "{\"type\":\"string\"}", "\"x\"", 0, NULL, NULL },
		{ "{\"type\":\"string\"}", "1", 1, "", "type" },
		{ "{\"type\":\"object\"}", "{}", 0, NULL, NULL },
		{ "{\"type\":\"object\"}", "[]", 1, "", "type" },
		{ "{\"type\":\"array\"}", "[]", 0, NULL, NULL },
		{ "{\"type\":\"array\"}", "{}", 1, "", "type" },
		{ "{\"type\":\"boolean\"}", "false", 0, NULL, NULL },
		{ "{\"type\":\"boolean\"}", "0", 1, "", "type" },
		{ "{\"type\":\"null\"}", "null", 0, NULL, NULL },
		{ "{\"type\":\"null\"}", "false", 1, "", "type" },
		{ "{\"type\":\"number\"}", "1.5", 0, NULL, NULL },
		{ "{\"type\":\"number\"}", "\"1.5\"", 1, "", "type" },
		{ "{\"type\":\"integer\"}", "15", 0, NULL, NULL },
		{ "{\"type\":\"integer\"}", "1.0", 0, NULL, NULL },
		{ "{\"type\":\"integer\"}", "1e3", 0, NULL, NULL },
		{ "{\"type\":\"integer\"}", "1.5", 1, "", "type" },
		{ "{\"type\":[\"string\",\"null\"]}", "null", 0, NULL, NULL },
		{ "{\"type\":[\"string\",\"null\"]}", "true", 1, "", "type" },
		{ "{\"type\":\"string\",\"minLength\":5}", "1", 1, "", "type" },  /* type stops the rest */
		/* properties, required, additionalProperties */
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":\"x\",\"b\":1}", 0, NULL, NULL },
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":1}", 1, "/a", "type" },
		{ "{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"string\"}}}}}",
		  "{\"a/b\":{\"c~d\":1}}", 1, "/a~1b/c~0d", "type" },
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "[1]", 0, NULL, NULL },  /* applies to objects only */
		{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1,\"b\":null}", 0, NULL, NULL },
		{ "{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", 1, "/b", "required" },
		{ "{\"required\":[\"a\",\"b\"]}", "{}", 2, "/a", "required" },
		{ "{\"properties\":{\"x\":{\"required\":[\"id\"]}}}", "{\"x\":{\"i\":1}}", 1, "/x/id", "required" },
		{ "{\"required\":[\"\\u00e9\"]}", "{\"\xc3\xa9\":1}", 0, NULL, NULL },
		{ "{\"additionalProperties\":false,\"properties\":{\"a\":{}}}", "{\"a\":1}", 0, NULL, NULL },
		{ "{\"additionalProperties\":false,\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2}", 1, "/b", "additionalProperties" },
		{ "{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":2}", 0, NULL, NULL },
		{ "{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":\"2\"}", 1, "/b", "type" },
		{ "{\"additionalProperties\":true}", "{\"a\":1}", 0, NULL, NULL },
		{ "{\"properties\":{\"a\":false}}", "{\"a\":1}", 1, "/a", "false" },
		{ "{\"properties\":{\"a\":false}}", "{}", 0, NULL, NULL },
		{ "{\"required\":[\"a\"],\"additionalProperties\":false}", "{\"a\":1}", 1, "/a", "additionalProperties" },
		/* enum, const */
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "\"a\"", 0, NULL, NULL },
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "1.0", 0, NULL, NULL },
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "{\"x\":[1.0]}", 0, NULL, NULL },
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "\"b\"", 1, "", "enum" },
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "{\"x\":[1],\"y\":2}", 1, "", "enum" },
		{ "{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "true", 1, "", "enum" },
		{ "{\"const\":\"\\u00e9\"}", "\"\xc3\xa9\"", 0, NULL, NULL },
		{ "{\"const\":\"\\u00e9\"}", "\"e\"", 1, "", "const" },
		{ "{\"const\":{\"a\":1,\"b\":[true]}}", "{\"b\":[true],\"a\":1}", 0, NULL, NULL },
		{ "{\"const\":{\"a\":1,\"b\":[true]}}", "{\"b\":[false],\"a\":1}", 1, "", "const" },
		{ "{\"const\":false}", "0", 1, "", "const" },
		/* pattern (search semantics, not anchored) */
		{ "{\"pattern\":\"^[a-z]+\\\\.[a-z]+$\"}", "\"iam.update\"", 0, NULL, NULL },
		{ "{\"pattern\":\"^[a-z]+\\\\.[a-z]+$\"}", "\"iam.Update\"", 1, "", "pattern" },
		{ "{\"pattern\":\"b\"}", "\"abc\"", 0, NULL, NULL },
		{ "{\"pattern\":\"^x$\"}", "\"x\\n\"", 1, "", "pattern" },     /* $ is end only */
		{ "{\"pattern\":\"^.$\"}", "\"\xc3\xa9\"", 0, NULL, NULL },     /* UTF-8 mode */
		{ "{\"pattern\":\"^\\\\u00e9$\"}", "\"\xc3\xa9\"", 0, NULL, NULL },
		{ "{\"pattern\":\"x\"}", "5", 0, NULL, NULL },
		/* lengths in code points */
		{ "{\"minLength\":2}", "\"ab\"", 0, NULL, NULL },
		{ "{\"minLength\":2}", "\"a\"", 1, "", "minLength" },
		{ "{\"minLength\":2}", "\"\xf0\x9f\x98\x80\"", 1, "", "minLength" },   /* 4 bytes, 1 code point */
		{ "{\"maxLength\":1}", "\"\xf0\x9f\x98\x80\"", 0, NULL, NULL },
		{ "{\"maxLength\":1}", "\"\\ud83d\\ude00\"", 0, NULL, NULL },           /* escaped pair, 1 code point */
		{ "{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", 1, "", "maxLength" },
		{ "{\"maxLength\":3}", "\"\\u00e9\\u00e9\\u00e9\"", 0, NULL, NULL },
		{ "{\"maxLength\":0}", "\"\"", 0, NULL, NULL },
		{ "{\"minLength\":1}", "\"\\u0000\"", 0, NULL, NULL },
		{ "{\"minLength\":1}", "[]", 0, NULL, NULL },
		/* numbers */
		{ "{\"minimum\":0}", "0", 0, NULL, NULL },
		{ "{\"minimum\":0}", "-0.0001", 1, "", "minimum" },
		{ "{\"maximum\":9007199254740992}", "9007199254740993", 1, "", "maximum" },
		{ "{\"maximum\":9007199254740992}", "9007199254740992.0", 0, NULL, NULL },
		{ "{\"maximum\":1.5}", "15e-1", 0, NULL, NULL },
		{ "{\"exclusiveMinimum\":0}", "0", 1, "", "exclusiveMinimum" },
		{ "{\"exclusiveMinimum\":0}", "1e-300", 0, NULL, NULL },
		{ "{\"exclusiveMaximum\":10}", "10.0", 1, "", "exclusiveMaximum" },
		{ "{\"exclusiveMaximum\":10}", "9.99", 0, NULL, NULL },
		{ "{\"minimum\":1,\"maximum\":1}", "1", 0, NULL, NULL },
		{ "{\"minimum\":5}", "\"1\"", 0, NULL, NULL },
		/* items */
		{ "{\"items\":{\"type\":\"integer\"}}", "[1,2,3]", 0, NULL, NULL },
		{ "{\"items\":{\"type\":\"integer\"}}", "[1,\"2\",3.5]", 2, "/1", "type" },
		{ "{\"items\":{\"properties\":{\"id\":{\"format\":\"uuid\"}}}}", "[{},{\"id\":\"x\"}]", 1, "/1/id", "format" },
		{ "{\"items\":false}", "[]", 0, NULL, NULL },
		{ "{\"items\":false}", "[0]", 1, "/0", "false" },
		/* boolean schemas, annotations */
		{ "true", "{\"a\":1}", 0, NULL, NULL },
		{ "false", "{}", 1, "", "false" },
		{ "{\"$comment\":\"c\",\"title\":\"t\",\"description\":\"d\",\"$schema\":\"x\"}", "1", 0, NULL, NULL },
		/* several at once, in document order */
		{ "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"maxLength\":1}},\"required\":[\"c\"]}",
		  "{\"b\":\"xy\",\"a\":1}", 3, "/b", "maxLength" },
	};
	run_vcases(cases, ARRAY_SIZE(cases), "keyword");

	/* All violations of one instance, pointers and rules in order, and
	 * the cap: the total is returned, only cap are written. */
	struct schema *s = compile_str("{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"maxLength\":1}},"
				       "\"required\":[\"c\",\"d\"]}", 0);
	struct schema_violation v[2];
	const char *inst = "{\"b\":\"xy\",\"a\":1}";
	CHECK(schema_validate(s, inst, strlen(inst), v, 2) == 4);
	CHECK(strcmp(v[0].pointer, "/b") == 0 && strcmp(v[0].rule, "maxLength") == 0);
	CHECK(strcmp(v[1].pointer, "/a") == 0 && strcmp(v[1].rule, "type") == 0);
	CHECK(schema_validate(s, inst, strlen(inst), NULL, 0) == 4);
	/* The same over a tree the caller parsed. */
	{
		struct jdoc_arena a;
		const struct jdoc_value *root;
		jdoc_arena_init(&a, 1 << 20);
		CHECK(jdoc_parse(&a, inst, strlen(inst), NULL, 0, &root, NULL) == 0);
		CHECK(schema_validate_value(s, root, v, 2) == 4 && strcmp(v[0].pointer, "/b") == 0);
		jdoc_arena_release(&a);
	}
	/* Malformed instance. */
	CHECK(schema_validate(s, "{\"a\":", 5, v, 2) == ST_EINVAL && strcmp(v[0].rule, "json") == 0);
	CHECK(schema_validate(s, "{\"a\":1,\"a\":2}", 13, v, 2) == ST_EINVAL);
	/* Messages do not quote instance values. */
	const char *secret = "{\"a\":\"hunter2-secret\",\"b\":\"hunter2-secret\"}";
	s = (schema_free(s), compile_str("{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"pattern\":\"^x\","
					 "\"format\":\"email\",\"enum\":[\"y\"]}}}", 0));
	struct schema_violation w[8];
	int r = schema_validate(s, secret, strlen(secret), w, 8);
	CHECK(r == 4);
	for (int i = 0; i < r && i < 8; i++)
		CHECK_MSG(!strstr(w[i].msg, "hunter2"), "value quoted: %s", w[i].msg);
	schema_free(s);
}

/* ---- formats ---- */

struct fcase {
	const char *format;
	const char *json;      /* the instance, a JSON string */
	bool ok;
};

static void test_formats(void)
{
	static const struct fcase cases[] = {
		{ "date-time", "\"2026-11-28T01:00:00Z\"", true },
		{ "date-time", "\"2026-11-28T01:00:00.123456789+05:30\"", true },
		{ "date-time", "\"2026-11-28t01:00:00z\"", true },
		{ "date-time", "\"1998-12-31T23:59:60Z\"", true },            /* leap second */
		{ "date-time", "\"1998-12-31T15:59:60.123-08:00\"", true },   /* leap second, offset */
		{ "date-time", "\"1998-12-31T23:59:61Z\"", false },
		{ "date-time", "\"1998-12-31T23:58:60Z\"", false },           /* leap second, wrong minute */
		{ "date-time", "\"1998-12-31T22:59:60Z\"", false },           /* wrong hour */
		{ "date-time", "\"1998-12-31T23:59:60+01:00\"", false },      /* 22:59:60 UTC */
		{ "date-time", "\"2024-02-29T00:00:00Z\"", true },
		{ "date-time", "\"2023-02-29T00:00:00Z\"", false },
		{ "date-time", "\"1900-02-29T00:00:00Z\"", false },
		{ "date-time", "\"2000-02-29T00:00:00Z\"", true },
		{ "date-time", "\"2026-04-31T00:00:00Z\"", false },
		{ "date-time", "\"2026-11-28T24:00:00Z\"", false },
		{ "date-time", "\"2026-11-28T01:00:00\"", false },            /* no offset */
		{ "date-time", "\"2026-11-28T01:00:00+0100\"", false },       /* offset without colon */
		{ "date-time", "\"2026-11-28T01:00:00+24:00\"", false },
		{ "date-time", "\"2026-11-28T01:00:00+01:60\"", false },
		{ "date-time", "\"2026-11-28T01:00:00.Z\"", false },
		{ "date-time", "\"2026-11-28 01:00:00Z\"", false },
		{ "date-time", "\"2026-11-28\"", false },
		{ "date-time", "\"2026-11-28T01:00:00Z \"", false },
		{ "date-time", "\"\xd9\xa2" "026-11-28T01:00:00Z\"", false },  /* non-ASCII digit */
		{ "email", "\"joe.bloggs@example.com\"", true },
		{ "email", "\"te~st@example.com\"", true },
		{ "email", "\"~test@example.com\"", true },
		{ "email", "\"test~@example.com\"", true },
		{ "email", "\"te.s.t@example.com\"", true },
		{ "email", "\"\\\"joe bloggs\\\"@example.com\"", true },
		{ "email", "\"\\\"joe..bloggs\\\"@example.com\"", true },
		{ "email", "\"\\\"joe@bloggs\\\"@example.com\"", true },
		{ "email", "\"joe.bloggs@[127.0.0.1]\"", true },
		{ "email", "\"joe.bloggs@[IPv6:::1]\"", true },
		{ "email", "\"root@localhost\"", true },
		{ "email", "\"2962\"", false },
		{ "email", "\".test@example.com\"", false },
		{ "email", "\"test.@example.com\"", false },
		{ "email", "\"te..st@example.com\"", false },
		{ "email", "\"joe.bloggs@invalid=domain.com\"", false },
		{ "email", "\"joe.bloggs@[127.0.0.300]\"", false },
		{ "email", "\"joe@-example.com\"", false },
		{ "email", "\"joe@example.com.\"", false },
		{ "email", "\"@example.com\"", false },
		{ "email", "\"joe@\"", false },
		{ "email", "\"a@b@c.com\"", false },
		{ "email", "\"j\xc3\xb6rg@example.com\"", false },
		{ "ipv4", "\"192.168.0.1\"", true },
		{ "ipv4", "\"0.0.0.0\"", true },
		{ "ipv4", "\"255.255.255.255\"", true },
		{ "ipv4", "\"256.0.0.1\"", false },
		{ "ipv4", "\"087.10.0.1\"", false },        /* leading zero */
		{ "ipv4", "\"10.00.0.1\"", false },
		{ "ipv4", "\"1.2.3\"", false },
		{ "ipv4", "\"1.2.3.4.5\"", false },
		{ "ipv4", "\"1.2.3.4 \"", false },
		{ "ipv4", "\"0x7f.0.0.1\"", false },
		{ "ipv4", "\"1.2.3.\"", false },
		{ "ipv4", "\"1..3.4\"", false },
		{ "ipv6", "\"::1\"", true },
		{ "ipv6", "\"::\"", true },
		{ "ipv6", "\"fe80::1\"", true },
		{ "ipv6", "\"2001:db8:85a3:0:0:8a2e:370:7334\"", true },
		{ "ipv6", "\"2001:DB8::8A2E:370:7334\"", true },
		{ "ipv6", "\"1::\"", true },
		{ "ipv6", "\"1:2:3:4:5:6:7::\"", true },
		{ "ipv6", "\"::ffff:192.168.0.1\"", true },
		{ "ipv6", "\"1:2:3:4:5:6:1.2.3.4\"", true },
		{ "ipv6", "\"1:2:3:4:5:6:7:8:9\"", false },
		{ "ipv6", "\"1:2:3:4:5:6:7\"", false },
		{ "ipv6", "\"1::2::3\"", false },           /* two :: */
		{ "ipv6", "\":::\"", false },
		{ "ipv6", "\"1:2:3:4:5:6:7:8::\"", false },  /* :: with 8 groups */
		{ "ipv6", "\"12345::\"", false },
		{ "ipv6", "\"g::1\"", false },
		{ "ipv6", "\":1:2:3:4:5:6:7\"", false },
		{ "ipv6", "\"1:2:3:4:5:6:7:\"", false },
		{ "ipv6", "\"fe80::1%eth0\"", false },      /* zone id */
		{ "ipv6", "\"::ffff:192.168.0.01\"", false },
		{ "ipv6", "\"1:2:3:4:5:6:7:1.2.3.4\"", false },
		{ "ipv6", "\"[::1]\"", false },
		{ "uuid", "\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\"", true },
		{ "uuid", "\"2EB8AA08-AA98-11EA-B4AA-73B441D16380\"", true },   /* upper case */
		{ "uuid", "\"2eb8aa08-AA98-11ea-B4Aa-73B441D16380\"", true },   /* mixed case */
		{ "uuid", "\"00000000-0000-0000-0000-000000000000\"", true },
		{ "uuid", "\"2eb8aa08-aa98-11ea-b4aa-73b441d1638\"", false },
		{ "uuid", "\"2eb8aa08aa98-11ea-b4aa-73b441d163800\"", false },
		{ "uuid", "\"2eb8aa08aa9811eab4aa73b441d16380\"", false },
		{ "uuid", "\"{2eb8aa08-aa98-11ea-b4aa-73b441d16380}\"", false },
		{ "uuid", "\"urn:uuid:2eb8aa08-aa98-11ea-b4aa-73b441d16380\"", false },
		{ "uuid", "\"2eb8aa08-aa98-11ea-b4aa-73b441d1638g\"", false },
		{ "uuid", "\"2eb8aa0-8aa98-11ea-b4aa-73b441d16380\"", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct fcase *c = &cases[i];
		char sch[64];
		snprintf(sch, sizeof(sch), "{\"format\":\"%s\"}", c->format);
		struct schema *s = compile_str(sch, 0);
		if (!s)
			continue;
		struct schema_violation v[2];
		int r = schema_validate(s, c->json, strlen(c->json), v, 2);
		CHECK_MSG(r == (c->ok ? 0 : 1), "format %s %s: %d violations, want %s", c->format, c->json, r,
			  c->ok ? "valid" : "invalid");
		if (r == 1)
			CHECK(strcmp(v[0].rule, "format") == 0 && strcmp(v[0].pointer, "") == 0);
		schema_free(s);
	}
	/* Formats apply to strings only. */
	struct schema *s = compile_str("{\"format\":\"ipv4\"}", 0);
	CHECK(schema_validate(s, "12", 2, NULL, 0) == 0);
	schema_free(s);
}

/* ---- compile errors ---- */

struct ccase {
	const char *schema;
	int code;
	const char *pointer;
	const char *msg;       /* a substring of the message */
	long offset;           /* -1: not checked */
};

static void test_compile_errors(void)
{
	static const struct ccase cases[] = {
		{ "{\"type\":\"string\",\"minLenght\":3}", ST_EINVAL, "/minLenght", "unsupported keyword \"minLenght\"", 17 },
		{ "{\"properties\":{\"a\":{\"oneOf\":[]}}}", ST_EINVAL, "/properties/a/oneOf", "\"oneOf\"", 20 },
		{ "{\"properties\":{\"a/b\":{\"$ref\":\"#\"}}}", ST_EINVAL, "/properties/a~1b/$ref", "\"$ref\"", -1 },
		{ "{\"items\":{\"multipleOf\":2}}", ST_EINVAL, "/items/multipleOf", "multipleOf", -1 },
		{ "{\"default\":1}", ST_EINVAL, "/default", "default", -1 },
		{ "{\"type\":\"str\"}", ST_EINVAL, "/type", "unknown type \"str\"", 8 },
		{ "{\"type\":[\"string\",\"float\"]}", ST_EINVAL, "/type/1", "\"float\"", -1 },
		{ "{\"type\":[\"string\",\"string\"]}", ST_EINVAL, "/type/1", "twice", -1 },
		{ "{\"type\":[]}", ST_EINVAL, "/type", "at least one", -1 },
		{ "{\"type\":3}", ST_EINVAL, "/type", "type name", -1 },
		{ "{\"pattern\":\"a(b\"}", ST_EINVAL, "/pattern", "invalid pattern at pattern byte 3", 11 },
		{ "{\"pattern\":\"[z-a]\"}", ST_EINVAL, "/pattern", "invalid pattern", -1 },
		{ "{\"pattern\":\"\\\\C\"}", ST_EINVAL, "/pattern", "invalid pattern", -1 },
		{ "{\"pattern\":5}", ST_EINVAL, "/pattern", "regular expression", -1 },
		{ "{\"minLength\":-1}", ST_EINVAL, "/minLength", "non-negative integer", -1 },
		{ "{\"maxLength\":1.5}", ST_EINVAL, "/maxLength", "non-negative integer", -1 },
		{ "{\"maxLength\":4294967296}", ST_EINVAL, "/maxLength", "non-negative integer", -1 },
		{ "{\"minLength\":3,\"maxLength\":2}", ST_EINVAL, "", "greater than maxLength", -1 },
		{ "{\"minimum\":3,\"maximum\":2.5}", ST_EINVAL, "", "greater than maximum", -1 },
		{ "{\"minimum\":\"3\"}", ST_EINVAL, "/minimum", "expected a number", -1 },
		{ "{\"required\":\"a\"}", ST_EINVAL, "/required", "array of property names", -1 },
		{ "{\"required\":[\"a\",1]}", ST_EINVAL, "/required/1", "property name", -1 },
		{ "{\"required\":[\"a\",\"a\"]}", ST_EINVAL, "/required/1", "twice", -1 },
		{ "{\"enum\":[]}", ST_EINVAL, "/enum", "non-empty", -1 },
		{ "{\"enum\":[1,\"a\",1.0]}", ST_EINVAL, "/enum", "repeats", 15 },
		{ "{\"items\":[{}]}", ST_EINVAL, "/items", "tuple", -1 },
		{ "{\"items\":3}", ST_EINVAL, "/items", "an object or a boolean", -1 },
		{ "{\"additionalProperties\":\"no\"}", ST_EINVAL, "/additionalProperties", "an object or a boolean", -1 },
		{ "{\"properties\":[]}", ST_EINVAL, "/properties", "object of schemas", -1 },
		{ "{\"format\":\"hostname\"}", ST_EINVAL, "/format", "unsupported format \"hostname\"", -1 },
		{ "{\"format\":\"Date-Time\"}", ST_EINVAL, "/format", "unsupported format", -1 },
		{ "{\"title\":1}", ST_EINVAL, "/title", "expected a string", -1 },
		{ "[]", ST_EINVAL, "", "an object or a boolean", 0 },
		{ "{\"a\":1,\"a\":1}", ST_EINVAL, "", "duplicate key", 7 },
		{ "{\"type\":\"string\"", ST_EINVAL, "/type", "expected ','", 16 },
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}trailing", ST_EINVAL, "", "end of input", 38 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct ccase *c = &cases[i];
		struct schema *s = NULL;
		struct schema_error e;
		int r = schema_compile(c->schema, strlen(c->schema), &s, &e);
		CHECK_MSG(r == c->code && s == NULL, "compile %zu %s: rc %d want %d", i, c->schema, r, c->code);
		if (r != c->code) {
			schema_free(s);
			continue;
		}
		CHECK_MSG(strcmp(e.pointer, c->pointer) == 0 && strstr(e.msg, c->msg),
			  "compile %zu %s: '%s' %s, want '%s' ...%s...", i, c->schema, e.pointer, e.msg,
			  c->pointer, c->msg);
		CHECK_MSG(c->offset < 0 || e.offset == (size_t)c->offset, "compile %zu: offset %zu want %ld",
			  i, e.offset, c->offset);
	}

	/* Limits. */
	char *buf = malloc(SCHEMA_MAX_BYTES + 64);
	struct schema *s = NULL;
	struct schema_error e;
	size_t n;
	/* depth: nested "items" */
	n = 0;
	for (int i = 0; i < SCHEMA_MAX_DEPTH + 1; i++)
		n += (size_t)sprintf(buf + n, "{\"items\":");
	n += (size_t)sprintf(buf + n, "true");
	for (int i = 0; i < SCHEMA_MAX_DEPTH + 1; i++)
		buf[n++] = '}';
	CHECK(schema_compile(buf, n, &s, &e) == ST_ELIMIT && strstr(e.msg, "nested"));
	/* exactly at the depth limit compiles */
	n = 0;
	for (int i = 0; i < SCHEMA_MAX_DEPTH - 1; i++)
		n += (size_t)sprintf(buf + n, "{\"items\":");
	n += (size_t)sprintf(buf + n, "true");
	for (int i = 0; i < SCHEMA_MAX_DEPTH - 1; i++)
		buf[n++] = '}';
	CHECK(schema_compile(buf, n, &s, &e) == 0);
	schema_free(s);
	/* patterns */
	n = (size_t)sprintf(buf, "{\"properties\":{");
	for (int i = 0; i <= SCHEMA_MAX_PATTERNS; i++)
		n += (size_t)sprintf(buf + n, "%s\"p%d\":{\"pattern\":\"^a\"}", i ? "," : "", i);
	n += (size_t)sprintf(buf + n, "}}");
	CHECK(schema_compile(buf, n, &s, &e) == ST_ELIMIT && strstr(e.msg, "patterns") &&
	      strcmp(e.pointer, "/properties/p64/pattern") == 0);
	/* pattern length */
	n = (size_t)sprintf(buf, "{\"pattern\":\"");
	memset(buf + n, 'a', SCHEMA_MAX_PATTERN_LEN + 1);
	n += SCHEMA_MAX_PATTERN_LEN + 1;
	n += (size_t)sprintf(buf + n, "\"}");
	CHECK(schema_compile(buf, n, &s, &e) == ST_ELIMIT && strcmp(e.pointer, "/pattern") == 0);
	/* enum size */
	n = (size_t)sprintf(buf, "{\"enum\":[");
	for (int i = 0; i <= SCHEMA_MAX_ENUM; i++)
		n += (size_t)sprintf(buf + n, "%s%d", i ? "," : "", i);
	n += (size_t)sprintf(buf + n, "]}");
	CHECK(schema_compile(buf, n, &s, &e) == ST_ELIMIT && strcmp(e.pointer, "/enum") == 0);
	/* size */
	memset(buf, ' ', SCHEMA_MAX_BYTES + 1);
	buf[0] = '{';
	buf[SCHEMA_MAX_BYTES] = '}';
	CHECK(schema_compile(buf, SCHEMA_MAX_BYTES + 1, &s, &e) == ST_ELIMIT && strstr(e.msg, "limit"));
	CHECK(schema_compile(buf, SCHEMA_MAX_BYTES - 1, &s, &e) == ST_EINVAL);  /* unterminated, but read */
	/* nodes */
	n = (size_t)sprintf(buf, "{\"properties\":{");
	for (int i = 0; i < 4; i++) {
		n += (size_t)sprintf(buf + n, "%s\"g%d\":{\"properties\":{", i ? "," : "", i);
		for (int j = 0; j < 512; j++)
			n += (size_t)sprintf(buf + n, "%s\"p%d\":true", j ? "," : "", j);
		n += (size_t)sprintf(buf + n, "}}");
	}
	n += (size_t)sprintf(buf + n, "}}");
	CHECK(schema_compile(buf, n, &s, &e) == ST_ELIMIT && strstr(e.msg, "subschemas"));
	free(buf);
}

/* ---- pattern limits ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_pattern_limits(void)
{
	char inst[128];
	size_t n = 0;
	inst[n++] = '"';
	for (int i = 0; i < 60; i++)
		inst[n++] = 'a';
	inst[n++] = 'b';
	inst[n++] = '"';
	inst[n] = 0;
	static const char *const hostile[] = {
		"{\"pattern\":\"^(a+)+$\"}",
		"{\"pattern\":\"^(a|a)*$\"}",
		"{\"pattern\":\"^(a|aa)+$\"}",
		"{\"pattern\":\"(x+x+)+y\"}",
	};
	for (unsigned flags = 0; flags < 2; flags++) {
		for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
			struct schema *s = compile_str(hostile[i], flags ? SCHEMA_NO_JIT : 0);
			if (!s)
				continue;
			struct schema_violation v[1];
			/* (x+x+)+y needs a 'y' somewhere, or PCRE2's required-character
			 * check refuses the subject before backtracking at all. */
			const char *x = i == 3 ? "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-y\"" : inst;
			double t0 = now_s();
			int r = schema_validate(s, x, strlen(x), v, 1);
			double dt = now_s() - t0;
			CHECK_MSG(r == 1 && strcmp(v[0].rule, "pattern-limit") == 0,
				  "%s (%s): %d %s", hostile[i], flags ? "interpreted" : "jit", r, r ? v[0].rule : "");
			CHECK_MSG(dt < 0.5, "%s took %.3f s", hostile[i], dt);
			/* The same pattern still decides an easy value. */
			CHECK(schema_validate(s, "\"aaa\"", 5, v, 1) == (i == 3 ? 1 : 0));
			schema_free(s);
		}
	}
	/* One event pays for at most SCHEMA_MAX_LIMIT_HITS limit runs: 40
	 * hostile values cost 4 runs, and all 40 are refused. */
	{
		struct schema *h = compile_str("{\"items\":{\"pattern\":\"^(a+)+$\"}}", SCHEMA_NO_JIT);
		char arr[4096];
		size_t k = 0;
		arr[k++] = '[';
		for (int i = 0; i < 40; i++) {
			if (i)
				arr[k++] = ',';
			memcpy(arr + k, inst, n);
			k += n;
		}
		arr[k++] = ']';
		struct schema_violation hv[40];
		double t0 = now_s();
		int r = schema_validate(h, arr, k, hv, 40);
		double dt = now_s() - t0;
		CHECK_MSG(r == 40, "40 hostile values: %d violations", r);
		int ran = 0, skipped = 0;
		for (int i = 0; i < r && i < 40; i++) {
			CHECK(strcmp(hv[i].rule, "pattern-limit") == 0);
			ran += strstr(hv[i].msg, "could not be decided") != NULL;
			skipped += strstr(hv[i].msg, "not run") != NULL;
		}
		CHECK_MSG(ran == SCHEMA_MAX_LIMIT_HITS && skipped == 40 - SCHEMA_MAX_LIMIT_HITS,
			  "ran %d, skipped %d", ran, skipped);
		CHECK_MSG(dt < 0.5, "40 hostile values took %.3f s", dt);
		/* The budget is per validation, not per thread. */
		CHECK(schema_validate(h, "[\"aaa\"]", 7, hv, 1) == 0);
		schema_free(h);
	}

	/* A long but linear match is not a limit hit. */
	struct schema *s = compile_str("{\"pattern\":\"^[a-z]*$\"}", SCHEMA_NO_JIT);
	size_t big = 60000;
	char *b = malloc(big + 3);
	b[0] = '"';
	memset(b + 1, 'q', big);
	b[big + 1] = '"';
	CHECK(schema_validate(s, b, big + 2, NULL, 0) == 0);
	free(b);
	schema_free(s);
}

/* ---- compatibility ---- */

struct kcase {
	const char *prev, *next;
	int count;             /* breaking changes prev -> next */
	const char *pointer;   /* of the first */
	const char *rule;
	int back;              /* breaking changes next -> prev; -1: not checked */
};

static void test_compat(void)
{
	static const struct kcase cases[] = {
		/* identical, trivial */
		{ "{\"type\":\"object\",\"required\":[\"a\"]}", "{\"type\":\"object\",\"required\":[\"a\"]}", 0, NULL, NULL, 0 },
		{ "true", "{\"type\":\"string\"}", 1, "/type", "type", 0 },
		{ "false", "{\"type\":\"string\"}", 0, NULL, NULL, 1 },
		/* required */
		{ "{\"required\":[\"a\"]}", "{\"required\":[\"a\",\"b\"]}", 1, "/required", "required", 0 },
		{ "{\"properties\":{\"x\":{\"required\":[]}}}", "{\"properties\":{\"x\":{\"required\":[\"id\"]}}}",
		  1, "/properties/x/required", "required", 0 },
		/* type */
		{ "{\"type\":[\"string\",\"null\"]}", "{\"type\":\"string\"}", 1, "/type", "type", 0 },
		{ "{\"type\":\"number\"}", "{\"type\":\"integer\"}", 1, "/type", "type", 0 },
		{ "{\"type\":\"integer\"}", "{\"type\":[\"number\"]}", 0, NULL, NULL, 1 },
		{ "{\"type\":\"integer\"}", "{\"type\":\"string\"}", 1, "/type", "type", 1 },
		/* enum, const */
		{ "{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\"]}", 1, "/enum", "enum", 0 },
		{ "{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"b\",\"a\",\"c\"]}", 0, NULL, NULL, 1 },
		{ "{\"enum\":[1,2]}", "{\"enum\":[1.0,2e0]}", 0, NULL, NULL, 0 },
		{ "{\"type\":\"string\"}", "{\"type\":\"string\",\"enum\":[\"a\"]}", 1, "/enum", "enum", 0 },
		{ "{\"type\":\"string\"}", "{\"const\":\"a\"}", 1, "/const", "const", 0 },
		{ "{\"const\":\"a\"}", "{\"enum\":[\"a\",\"b\"]}", 0, NULL, NULL, 1 },
		{ "{\"const\":\"a\"}", "{\"const\":\"b\"}", 1, "/const", "const", 1 },
		{ "{\"enum\":[\"ab\",\"abc\"]}", "{\"maxLength\":2}", 1, "/maxLength", "maxLength", 1 },
		{ "{\"enum\":[\"ab\",\"abc\"]}", "{\"pattern\":\"^a\"}", 0, NULL, NULL, 1 },   /* every old value matches */
		{ "{\"enum\":[\"x\",5],\"type\":\"string\"}", "{\"enum\":[\"x\"]}", 0, NULL, NULL, 0 },   /* 5 never was valid */
		/* strings */
		{ "{\"minLength\":1}", "{\"minLength\":2}", 1, "/minLength", "minLength", 0 },
		{ "{\"maxLength\":10}", "{\"maxLength\":9}", 1, "/maxLength", "maxLength", 0 },
		{ "{\"type\":\"string\"}", "{\"type\":\"string\",\"maxLength\":9}", 1, "/maxLength", "maxLength", 0 },
		{ "{\"type\":\"string\"}", "{\"type\":\"string\",\"pattern\":\".\"}", 1, "/pattern", "pattern", 0 },
		{ "{\"pattern\":\"^a\"}", "{\"pattern\":\"^(a)\"}", 1, "/pattern", "pattern", 1 },
		{ "{\"pattern\":\"^a\"}", "{\"pattern\":\"^a\",\"title\":\"t\"}", 0, NULL, NULL, 0 },
		{ "{\"type\":\"string\"}", "{\"type\":\"string\",\"format\":\"uuid\"}", 1, "/format", "format", 0 },
		{ "{\"format\":\"ipv4\"}", "{\"format\":\"ipv6\"}", 1, "/format", "format", 1 },
		{ "{\"type\":\"integer\"}", "{\"type\":\"integer\",\"maxLength\":1,\"format\":\"uuid\"}", 0, NULL, NULL, 0 },
		/* numbers */
		{ "{\"minimum\":0}", "{\"minimum\":1}", 1, "/minimum", "minimum", 0 },
		{ "{\"minimum\":0}", "{\"exclusiveMinimum\":0}", 1, "/exclusiveMinimum", "exclusiveMinimum", 0 },
		{ "{\"minimum\":0}", "{\"exclusiveMinimum\":-1}", 0, NULL, NULL, 1 },
		{ "{\"maximum\":10}", "{\"maximum\":10.0}", 0, NULL, NULL, 0 },
		{ "{\"maximum\":10}", "{\"exclusiveMaximum\":10}", 1, "/exclusiveMaximum", "exclusiveMaximum", 0 },
		{ "{\"maximum\":10,\"exclusiveMaximum\":5}", "{\"maximum\":5}", 0, NULL, NULL, 1 },
		{ "{\"type\":\"number\"}", "{\"type\":\"number\",\"maximum\":1e9}", 1, "/maximum", "maximum", 0 },
		/* properties and additionalProperties */
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}",
		  "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}}}",
		  1, "/properties/b/type", "type", 0 },   /* b was any value before */
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}",
		  "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
		  0, NULL, NULL, 1 },                     /* adding an optional property */
		{ "{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
		  1, "/additionalProperties", "additionalProperties", 0 },
		{ "{\"additionalProperties\":{\"type\":\"string\"}}", "{\"additionalProperties\":{\"type\":[\"string\",\"null\"]}}",
		  0, NULL, NULL, 1 },
		{ "{\"additionalProperties\":{\"type\":\"string\"}}",
		  "{\"properties\":{\"a\":{\"maxLength\":3}},\"additionalProperties\":{\"type\":\"string\"}}",
		  1, "/properties/a/maxLength", "maxLength", 1 },  /* back: a could be a number */
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{}", 0, NULL, NULL, 1 },
		{ "{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"string\"}}",
		  "{\"additionalProperties\":{\"type\":\"string\"}}", 0, NULL, NULL, 0 },
		{ "{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}",
		  "{\"additionalProperties\":{\"type\":\"string\"}}", 1, "/additionalProperties/type", "type", 1 },
		{ "{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":false}}", 1, "/properties/a", "false", 0 },
		{ "{\"type\":\"string\"}", "{\"type\":\"string\",\"required\":[\"a\"],\"additionalProperties\":false}",
		  0, NULL, NULL, 0 },                     /* object rules do not matter to strings */
		/* items */
		{ "{\"items\":{\"type\":\"string\"}}", "{\"items\":{\"type\":[\"string\",\"integer\"]}}", 0, NULL, NULL, 1 },
		{ "{\"type\":\"array\"}", "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", 1, "/items/type", "type", 0 },
		{ "{\"items\":{\"enum\":[1,2]}}", "{\"items\":{\"enum\":[1]}}", 1, "/items/enum", "enum", 0 },
		/* several at once, nested */
		{ "{\"type\":\"object\",\"properties\":{\"actor\":{\"type\":\"object\",\"properties\":{\"ip\":{\"format\":\"ipv4\"}}}}}",
		  "{\"type\":\"object\",\"required\":[\"actor\"],\"properties\":{\"actor\":{\"type\":\"object\",\"properties\":{\"ip\":{\"format\":\"ipv6\"}}}}}",
		  2, "/required", "required", 1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct kcase *c = &cases[i];
		struct schema *p = compile_str(c->prev, 0), *n = compile_str(c->next, 0);
		if (!p || !n) {
			schema_free(p);
			schema_free(n);
			continue;
		}
		struct schema_violation v[8];
		memset(v, 0, sizeof(v));
		int r = schema_compat(p, n, v, ARRAY_SIZE(v));
		CHECK_MSG(r == c->count, "compat %zu %s -> %s: %d breaking, want %d (first '%s' %s: %s)",
			  i, c->prev, c->next, r, c->count, v[0].pointer, v[0].rule, v[0].msg);
		if (r == c->count && r > 0)
			CHECK_MSG(strcmp(v[0].pointer, c->pointer) == 0 && strcmp(v[0].rule, c->rule) == 0 && v[0].msg[0],
				  "compat %zu %s -> %s: got '%s' %s, want '%s' %s (%s)", i, c->prev, c->next,
				  v[0].pointer, v[0].rule, c->pointer, c->rule, v[0].msg);
		if (c->back >= 0) {
			r = schema_compat(n, p, v, ARRAY_SIZE(v));
			CHECK_MSG(r == c->back, "compat %zu back %s -> %s: %d breaking, want %d (first '%s' %s: %s)",
				  i, c->next, c->prev, r, c->back, v[0].pointer, v[0].rule, v[0].msg);
		}
		/* Every schema is compatible with itself. */
		CHECK(schema_compat(p, p, NULL, 0) == 0);
		CHECK(schema_compat(n, n, NULL, 0) == 0);
		schema_free(p);
		schema_free(n);
	}
}

/* ---- a realistic event schema, and threads ---- */

static const char event_schema[] =
	"{\"$comment\":\"iam events\",\"type\":\"object\","
	"\"required\":[\"time\",\"action\",\"actor\",\"resource\",\"outcome\"],"
	"\"properties\":{"
	"\"id\":{\"type\":\"string\",\"maxLength\":128},"
	"\"time\":{\"type\":\"string\",\"format\":\"date-time\"},"
	"\"tenant\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_.-]{1,64}$\"},"
	"\"action\":{\"type\":\"string\",\"pattern\":\"^iam\\\\.[a-z]+\\\\.[a-z_]+$\"},"
	"\"outcome\":{\"enum\":[\"success\",\"failure\",\"denied\",\"unknown\"]},"
	"\"actor\":{\"type\":\"object\",\"required\":[\"id\",\"type\"],\"properties\":{"
	"  \"id\":{\"type\":\"string\",\"format\":\"email\"},"
	"  \"type\":{\"enum\":[\"user\",\"service\"]},"
	"  \"ip\":{\"type\":\"string\",\"format\":\"ipv4\"},"
	"  \"user_agent\":{\"type\":\"string\",\"maxLength\":512}}},"
	"\"resource\":{\"type\":\"object\",\"required\":[\"type\",\"id\"],\"properties\":{"
	"  \"type\":{\"const\":\"role\"},\"id\":{\"type\":\"string\",\"minLength\":1},"
	"  \"name\":{\"type\":\"string\"}}},"
	"\"request_id\":{\"type\":\"string\",\"format\":\"uuid\"},"
	"\"reason\":{\"type\":\"string\",\"maxLength\":1024},"
	"\"source\":{\"type\":\"object\",\"properties\":{\"service\":{\"type\":\"string\"},"
	"  \"producer_seq\":{\"type\":\"integer\",\"minimum\":0}}},"
	"\"metadata\":{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	"  \"attempt\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}}}"
	"},\"additionalProperties\":false}";

static const char event_ok[] =
	"{\"id\":\"evt-00000001\",\"time\":\"2026-11-28T01:00:00.123456Z\",\"tenant\":\"acme\","
	"\"action\":\"iam.role.update\",\"actor\":{\"id\":\"alice@example.com\",\"type\":\"user\","
	"\"ip\":\"10.0.0.1\",\"user_agent\":\"Mozilla/5.0\"},\"resource\":{\"type\":\"role\",\"id\":\"r-42\"},"
	"\"outcome\":\"success\",\"request_id\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\","
	"\"metadata\":{\"tags\":[\"a\",\"b\"],\"attempt\":1}}";

static const char event_bad[] =
	"{\"time\":\"2026-11-28T25:00:00Z\",\"action\":\"iam.Role.update\","
	"\"actor\":{\"id\":\"alice\",\"ip\":\"10.0.0.01\"},\"resource\":{\"type\":\"group\",\"id\":\"\"},"
	"\"outcome\":\"ok\",\"metadata\":{\"tags\":[1],\"attempt\":11},\"extra\":1}";

static void test_event(void)
{
	struct schema *s = compile_str(event_schema, 0);
	if (!s)
		return;
	struct schema_violation v[16];
	CHECK(schema_validate(s, event_ok, sizeof(event_ok) - 1, v, 16) == 0);
	static const char *const want[][2] = {
		{ "/time", "format" }, { "/action", "pattern" }, { "/actor/id", "format" },
		{ "/actor/ip", "format" }, { "/actor/type", "required" }, { "/resource/type", "const" },
		{ "/resource/id", "minLength" }, { "/outcome", "enum" }, { "/metadata/tags/0", "type" },
		{ "/metadata/attempt", "maximum" }, { "/extra", "additionalProperties" },
	};
	int r = schema_validate(s, event_bad, sizeof(event_bad) - 1, v, 16);
	CHECK_MSG(r == (int)ARRAY_SIZE(want), "bad event: %d violations", r);
	for (size_t i = 0; i < ARRAY_SIZE(want) && (int)i < r; i++)
		CHECK_MSG(strcmp(v[i].pointer, want[i][0]) == 0 && strcmp(v[i].rule, want[i][1]) == 0,
			  "bad event %zu: '%s' %s, want '%s' %s", i, v[i].pointer, v[i].rule, want[i][0], want[i][1]);
	schema_free(s);
}

struct tharg {
	const struct schema *s;
	int bad;
};

static void *thread_main(void *p)
{
	struct tharg *a = p;
	struct schema_violation v[4];
	for (int i = 0; i < 2000; i++) {
		if (schema_validate(a->s, event_ok, sizeof(event_ok) - 1, v, 4) != 0)
			a->bad++;
		if (schema_validate(a->s, event_bad, sizeof(event_bad) - 1, v, 4) != 11)
			a->bad++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct schema *s = compile_str(event_schema, 0);
	if (!s)
		return;
	pthread_t t[3];
	struct tharg a[3];
	for (int i = 0; i < 3; i++) {
		a[i] = (struct tharg){ s, 0 };
		CHECK(pthread_create(&t[i], NULL, thread_main, &a[i]) == 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].bad == 0);
	}
	schema_free(s);
}

int main(void)
{
	test_jdoc();
	test_keywords();
	test_formats();
	test_compile_errors();
	test_pattern_limits();
	test_compat();
	test_event();
	test_threads();
	schema_thread_release();
	return test_report("test_schema");
}
