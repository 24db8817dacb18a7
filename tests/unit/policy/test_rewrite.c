/*
 * test_rewrite.c - rewrite_json, the mechanism under redaction: a table of
 * (input, rules) -> exact output, covering drops of the first, a middle,
 * the last and the only member, consecutive drops, array elements,
 * nested containers dropped and replaced whole, replacements that need
 * escaping, escaped names and values (the callback sees decoded ones),
 * paths longer than JW_PATH_MAX (still asked, with path_cut), identity
 * (nothing asked to change gives the same bytes), bad input, and that
 * every output is one JSON object again.
 */
#include "test.h"

#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "index/jwalk.h"
#include "policy/rewrite.h"

/* A rule: a path and what happens there; "=TEXT" replaces with TEXT. */
struct rule {
	const char *path;
	const char *what;   /* "drop" or "=..." */
};

struct ctx {
	const struct rule *rules;
	size_t n;
	int calls;
	bool saw_cut;
};

static enum rw_action decide(void *arg, const struct jw_leaf *lf, struct buf *repl)
{
	struct ctx *c = arg;
	c->calls++;
	if (lf->path_cut)
		c->saw_cut = true;
	for (size_t i = 0; i < c->n; i++) {
		const struct rule *r = &c->rules[i];
		if (strlen(r->path) != lf->path_len || memcmp(r->path, lf->path, lf->path_len))
			continue;
		if (!strcmp(r->what, "drop"))
			return RW_DROP;
		if (!strcmp(r->what, "dropstr") && lf->type == JW_STRING)
			return RW_DROP;
		if (r->what[0] == '=') {
			CHECK(buf_append(repl, r->what + 1, strlen(r->what + 1)) == 0);
			return RW_REPLACE;
		}
		if (!strcmp(r->what, "upper") && lf->type == JW_STRING) {
			/* the decoded value, upper-cased: proves decoding */
			for (size_t k = 0; k < lf->val_len; k++) {
				char ch = lf->val[k];
				CHECK(buf_putc(repl, (uint8_t)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch)) == 0);
			}
			return RW_REPLACE;
		}
	}
	return RW_KEEP;
}

static int ok_leaf(void *ctx, const struct jw_leaf *lf)
{
	(void)ctx;
	(void)lf;
	return 0;
}

static void run(const char *in, const struct rule *rules, size_t n, const char *want,
		size_t want_changed, int line)
{
	struct buf out = BUF_INIT(1 << 16), repl = BUF_INIT(1 << 16);
	struct ctx c = { rules, n, 0, false };
	size_t changed = 99;
	int r = rewrite_json((const uint8_t *)in, strlen(in), decide, &c, &repl, &out, &changed);
	CHECK_MSG(r == 0, "line %d: r=%d", line, r);
	CHECK_MSG(out.len == strlen(want) && !memcmp(out.data, want, out.len),
		  "line %d:\n  got  %.*s\n  want %s", line, (int)out.len, (const char *)out.data, want);
	CHECK_MSG(changed == want_changed, "line %d: changed %zu, want %zu", line, changed,
		  want_changed);
	CHECK_MSG(jwalk(out.data, out.len, ok_leaf, NULL) == 0, "line %d: output is not one object", line);
	buf_release(&out);
	buf_release(&repl);
}

#define RUN(in, want, changed, ...) do { \
	static const struct rule rs_[] = { __VA_ARGS__ }; \
	run(in, rs_, ARRAY_SIZE(rs_), want, changed, __LINE__); } while (0)

static void test_table(void)
{
	const char *ev = "{\"a\":1,\"b\":\"x\",\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}";

	/* identity */
	RUN(ev, ev, 0, { "zz", "drop" });
	/* drops: first, middle, last, nested, consecutive, all */
	RUN(ev, "{\"b\":\"x\",\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}", 1, { "a", "drop" });
	RUN(ev, "{\"a\":1,\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}", 1, { "b", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"c\":{\"d\":[1,2],\"e\":\"y\"}}", 1, { "f", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"f\":true}", 1, { "c", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"c\":{\"e\":\"y\"},\"f\":true}", 1, { "c.d", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"c\":{\"d\":[1,2]},\"f\":true}", 1, { "c.e", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"c\":{},\"f\":true}", 2, { "c.d", "drop" }, { "c.e", "drop" });
	RUN(ev, "{\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}", 2, { "a", "drop" }, { "b", "drop" });
	RUN(ev, "{\"a\":1,\"b\":\"x\"}", 2, { "c", "drop" }, { "f", "drop" });
	RUN(ev, "{}", 4, { "a", "drop" }, { "b", "drop" }, { "c", "drop" }, { "f", "drop" });
	RUN("{\"only\":\"v\"}", "{}", 1, { "only", "drop" });
	/* array elements carry the array's path: the array is asked, then
	 * every element */
	RUN("{\"t\":[\"a\",1,\"b\",\"c\"]}", "{\"t\":[1]}", 3, { "t", "dropstr" });
	RUN("{\"t\":[\"a\",1,\"b\",\"c\"]}", "{\"t\":\"all\"}", 1, { "t", "=all" });
	/* replacement of scalars, keeping the name; of a container, whole */
	RUN(ev, "{\"a\":\"[hidden]\",\"b\":\"x\",\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}", 1,
	    { "a", "=[hidden]" });
	RUN(ev, "{\"a\":1,\"b\":\"x\",\"c\":\"gone\",\"f\":true}", 1, { "c", "=gone" });
	RUN(ev, "{\"a\":1,\"b\":\"say \\\"hi\\\"\\\\\\u000a\",\"c\":{\"d\":[1,2],\"e\":\"y\"},\"f\":true}", 1,
	    { "b", "=say \"hi\"\\\n" });
	/* escaped names and values: decoded for the callback, kept otherwise */
	RUN("{\"k\\u0065y\":\"caf\\u00e9 \\\"q\\\"\",\"z\":1}",
	    "{\"k\\u0065y\":\"CAF\xc3\xa9 \\\"Q\\\"\",\"z\":1}", 1, { "key", "upper" });
	RUN("{\"k\\u0065y\":\"v\",\"z\":1}", "{\"z\":1}", 1, { "key", "drop" });
	/* nested arrays of objects */
	RUN("{\"a\":[{\"p\":\"s1\",\"q\":1},{\"p\":\"s2\"}]}", "{\"a\":[{\"q\":1},{}]}", 2, { "a.p", "drop" });
	RUN("{\"a\":[{\"p\":\"s1\",\"q\":1},{\"p\":\"s2\"}]}", "{\"a\":[{\"p\":\"S1\",\"q\":1},{\"p\":\"S2\"}]}", 2,
	    { "a.p", "upper" });
}

static void test_long_path(void)
{
	/* {"kkk...(300)":{"x":"secret"}}: x's path is over JW_PATH_MAX; it is
	 * still asked about (cut), so a detector would still see it. */
	struct buf in = BUF_INIT(1024), out = BUF_INIT(1024), repl = BUF_INIT(1024);
	CHECK(buf_append(&in, "{\"", 2) == 0);
	for (int i = 0; i < 300; i++)
		CHECK(buf_putc(&in, 'k') == 0);
	CHECK(buf_append(&in, "\":{\"x\":\"secret\"}}", 17) == 0);
	static const struct rule none[] = { { "-", "drop" } };
	struct ctx c = { none, 1, 0, false };
	CHECK(rewrite_json(in.data, in.len, decide, &c, &repl, &out, NULL) == 0);
	CHECK(out.len == in.len && !memcmp(out.data, in.data, in.len));
	CHECK(c.calls == 2 && c.saw_cut);
	buf_release(&in);
	buf_release(&out);
	buf_release(&repl);
}

static void test_bad_input(void)
{
	struct buf out = BUF_INIT(1024), repl = BUF_INIT(1024);
	struct ctx c = { NULL, 0, 0, false };
	static const char *const bad[] = { "", "[1]", "{\"a\":", "{\"a\":1,}", "{\"a\":1}x", "\"s\"" };
	CHECK(buf_append(&out, "keep", 4) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = rewrite_json((const uint8_t *)bad[i], strlen(bad[i]), decide, &c, &repl, &out, NULL);
		CHECK_MSG(r == ST_EINVAL, "case %zu: r=%d", i, r);
		CHECK(out.len == 4);   /* restored */
	}
	buf_release(&out);
	buf_release(&repl);
}

int main(void)
{
	test_table();
	test_long_path();
	test_bad_input();
	return test_report("test_rewrite");
}
