/*
 * test_jwalk.c - jwalk() paths, types and decoded values on hand-written
 * entries, malformed inputs, and the jw_tokens() word rules.
 */
#include "test.h"

#include "common/util.h"
#include "index/jwalk.h"

#include <stdint.h>

/* Each leaf as "path|type|value|depth\n". */
struct rec {
	char out[8192];
	size_t n;
	int stop_after;
	int seen;
};

static int rec_leaf(void *ctx, const struct jw_leaf *lf)
{
	static const char tn[] = "SNTFzOA";
	struct rec *r = ctx;
	if (r->n + lf->path_len + lf->val_len + 16 < sizeof(r->out)) {
		memcpy(r->out + r->n, lf->path, lf->path_len);
		r->n += lf->path_len;
		r->n += (size_t)snprintf(r->out + r->n, sizeof(r->out) - r->n, "|%c|", tn[lf->type]);
		memcpy(r->out + r->n, lf->val, lf->val_len);
		r->n += lf->val_len;
		r->n += (size_t)snprintf(r->out + r->n, sizeof(r->out) - r->n, "|%d\n", lf->depth);
	}
	CHECK(lf->path[lf->path_len] == 0);
	if (++r->seen == r->stop_after)
		return 77;
	return 0;
}

static const char *walk(const char *json, int *rc)
{
	static struct rec r;
	memset(&r, 0, sizeof(r));
	*rc = jwalk((const uint8_t *)json, strlen(json), rec_leaf, &r);
	r.out[r.n] = 0;
	return r.out;
}

static void test_paths(void)
{
	int rc;
	const char *o = walk("{\"seq\":5,\"received_at\":\"2026-11-28T01:02:03.000004Z\","
			     "\"actor\":{\"id\":\"alice@example.com\",\"ip\":\"10.0.0.1\"},"
			     "\"metadata\":{\"tags\":[\"a\",\"b\"],\"n\":-4.2e1,\"ok\":true,\"no\":false,\"z\":null,"
			     "\"e\":{},\"ea\":[]},\"before\":{\"x\":1}}", &rc);
	CHECK(rc == 0);
	CHECK_MSG(!strcmp(o,
		"seq|N|5|1\n"
		"received_at|S|2026-11-28T01:02:03.000004Z|1\n"
		"actor|O||1\n"
		"actor.id|S|alice@example.com|2\n"
		"actor.ip|S|10.0.0.1|2\n"
		"metadata|O||1\n"
		"metadata.tags|A||2\n"
		"metadata.tags|S|a|3\n"
		"metadata.tags|S|b|3\n"
		"metadata.n|N|-4.2e1|2\n"
		"metadata.ok|T|true|2\n"
		"metadata.no|F|false|2\n"
		"metadata.z|z|null|2\n"
		"metadata.e|O||2\n"
		"metadata.ea|A||2\n"
		"before|O||1\n"
		"before.x|N|1|2\n"), "got:\n%s", o);

	o = walk("{\"a\":[{\"b\":1},[2,{\"c\":\"d\"}]],\"e\":3}", &rc);
	CHECK(rc == 0);
	CHECK_MSG(!strcmp(o, "a|A||1\na|O||2\na.b|N|1|3\na|A||2\na|N|2|3\na|O||3\na.c|S|d|4\ne|N|3|1\n"),
		  "got:\n%s", o);

	o = walk("{}", &rc);
	CHECK(rc == 0 && !strcmp(o, ""));
	/* Whitespace between tokens is tolerated. */
	o = walk(" { \"a\" : [ 1 , \"x\" ] } \n", &rc);
	CHECK(rc == 0 && !strcmp(o, "a|A||1\na|N|1|2\na|S|x|2\n"));
}

struct nul_rec {
	char path[16][32];
	size_t len[16];
	bool nul[16];
	size_t n;
};

static int nul_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct nul_rec *r = ctx;
	if (r->n < 16 && lf->path_len < 32) {
		memcpy(r->path[r->n], lf->path, lf->path_len);
		r->len[r->n] = lf->path_len;
		r->nul[r->n] = lf->path_nul;
	}
	r->n++;
	return 0;
}

static void test_escapes(void)
{
	int rc;
	const char *o = walk("{\"caf\\u00e9\":\"a\\nb\\\"c\\\\d\\/\",\"k\\\"q\":{\"x\\ty\":\"\\ud83d\\ude00!\"}}", &rc);
	CHECK(rc == 0);
	CHECK_MSG(!strcmp(o, "caf\xc3\xa9|S|a\nb\"c\\d/|1\n"
			     "k\"q|O||1\n"
			     "k\"q.x\ty|S|\xf0\x9f\x98\x80!|2\n"), "got:\n%s", o);
	/* Raw UTF-8 passes through. */
	o = walk("{\"n\":\"Zo\xc3\xab\"}", &rc);
	CHECK(rc == 0 && !strcmp(o, "n|S|Zo\xc3\xab|1\n"));
	/* A "\u0000" in a member name: path_nul on it and below it, not
	 * beside it (the indexer gives such a path no F term). */
	const char *nj = "{\"a\\u0000b\":{\"c\":1,\"d\":[2]},\"e\":{\"f\":3},\"x\\ty\":4}";
	static const struct { const char *path; size_t len; bool nul; } want[] = {
		{ "a\0b", 3, true }, { "a\0b.c", 5, true }, { "a\0b.d", 5, true }, { "a\0b.d", 5, true },
		{ "e", 1, false }, { "e.f", 3, false }, { "x\ty", 3, false },
	};
	struct nul_rec nr = { 0 };
	CHECK(jwalk((const uint8_t *)nj, strlen(nj), nul_leaf, &nr) == 0);
	CHECK_MSG(nr.n == sizeof(want) / sizeof(want[0]), "%zu leaves", nr.n);
	for (size_t i = 0; i < nr.n && i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_MSG(nr.len[i] == want[i].len && !memcmp(nr.path[i], want[i].path, want[i].len) &&
			  nr.nul[i] == want[i].nul, "leaf %zu", i);
}

static void test_stop_and_limits(void)
{
	struct rec r;
	const char *j = "{\"a\":1,\"b\":2,\"c\":3}";
	memset(&r, 0, sizeof(r));
	r.stop_after = 2;
	CHECK(jwalk((const uint8_t *)j, strlen(j), rec_leaf, &r) == 77);
	CHECK(r.seen == 2);

	/* A path longer than JW_PATH_MAX: the value and its children are
	 * skipped, the walk goes on. */
	char big[2048], key[300];
	memset(key, 'k', sizeof(key));
	key[250] = 0;
	snprintf(big, sizeof(big), "{\"%s\":{\"abcdef\":{\"x\":1},\"a\":2,\"bcd\":3},\"z\":[%s]}", key, "4");
	int rc;
	const char *o = walk(big, &rc);
	char want[1024];
	snprintf(want, sizeof(want), "%s|O||1\n%s.a|N|2|2\n%s.bcd|N|3|2\nz|A||1\nz|N|4|2\n", key, key, key);
	CHECK(rc == 0);
	CHECK_MSG(!strcmp(o, want), "got:\n%s", o);
	/* Exactly 255 bytes is reported, 256 is not. */
	memset(key, 'k', sizeof(key));
	key[255] = 0;
	snprintf(big, sizeof(big), "{\"%s\":1}", key);
	o = walk(big, &rc);
	CHECK(rc == 0 && strlen(o) == 255 + 7);
	key[255] = 'k';
	key[256] = 0;
	snprintf(big, sizeof(big), "{\"%s\":1,\"b\":2}", key);
	o = walk(big, &rc);
	CHECK(rc == 0 && !strcmp(o, "b|N|2|1\n"));

	/* Deep nesting: ST_ELIMIT, never a crash. */
	char deep[400];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"a\":");
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = 0;
	walk(deep, &rc);
	CHECK(rc == ST_ELIMIT);

	/* A string longer than JW_VALUE_MAX with escapes: cut, not broken. */
	size_t blen = 70000 * 2 + 16;
	char *huge = malloc(blen);
	CHECK(huge != NULL);
	if (huge) {
		size_t m = 0;
		memcpy(huge, "{\"s\":\"", 6);
		m = 6;
		for (int i = 0; i < 70000; i++) {
			huge[m++] = '\\';
			huge[m++] = 'n';
		}
		memcpy(huge + m, "\"}", 2);
		m += 2;
		struct rec big_r;
		memset(&big_r, 0, sizeof(big_r));
		/* rec_leaf skips values that do not fit its buffer */
		CHECK(jwalk((const uint8_t *)huge, m, rec_leaf, &big_r) == 0 && big_r.seen == 1);
		free(huge);
	}
}

static int count_leaf(void *ctx, const struct jw_leaf *lf)
{
	(void)lf;
	(*(int *)ctx)++;
	return 0;
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"", "[]", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,\"a\":1}",
		"{\"a\":1 \"b\":2}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"x\"}x", "{\"a\":1}{",
		"{\"a\":\"\x01\"}", "{\"a\":[1}", "{\"a\":{\"b\":1]}", "{\"a\":\\}", "{a:1}",
		"{\"a\":\"\\", "{\"a\":-}", "{\"a\"::1}", "{\"a\":1}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int n = 0;
		int rc = jwalk((const uint8_t *)bad[i], strlen(bad[i]), count_leaf, &n);
		CHECK_MSG(rc == ST_EINVAL, "accepted \"%s\" (rc %d)", bad[i], rc);
	}
	/* Every prefix of a good entry is refused and read within bounds. */
	const char *good = "{\"a\":{\"b\":[1,\"x\\u00e9\",true,null]},\"c\":\"d\"}";
	size_t gl = strlen(good);
	for (size_t k = 0; k < gl; k++) {
		char *cp = malloc(k ? k : 1);
		memcpy(cp, good, k);
		int n = 0;
		CHECK(jwalk((const uint8_t *)cp, k, count_leaf, &n) == ST_EINVAL);
		free(cp);
	}
	int n = 0;
	CHECK(jwalk((const uint8_t *)good, gl, count_leaf, &n) == 0 && n == 7);
	CHECK(jwalk(NULL, 0, count_leaf, &n) == ST_EINVAL);
}

struct toks {
	char out[1024];
	size_t n;
	uint32_t lastpos;
	int stop;
};

static int rec_tok(void *ctx, const char *tok, size_t len, uint32_t pos)
{
	struct toks *t = ctx;
	t->n += (size_t)snprintf(t->out + t->n, sizeof(t->out) - t->n, "%u:%.*s ", pos, (int)len, tok);
	t->lastpos = pos;
	return t->stop && (int)pos + 1 == t->stop ? 9 : 0;
}

static const char *toks(const char *s)
{
	static struct toks t;
	memset(&t, 0, sizeof(t));
	jw_tokens(s, strlen(s), rec_tok, &t);
	return t.out;
}

static void test_tokens(void)
{
	CHECK(!strcmp(toks("IAM.Role.Update"), "0:iam 1:role 2:update "));
	CHECK(!strcmp(toks("alice@Example.com"), "0:alice 1:example 2:com "));
	CHECK(!strcmp(toks("  res 42--x_y  "), "0:res 1:42 2:x 3:y "));
	CHECK(!strcmp(toks(""), ""));
	CHECK(!strcmp(toks("--- ... !!"), ""));
	/* UTF-8 stays inside words and is not case-folded. */
	CHECK(!strcmp(toks("Caf\xc3\xa9 \xc3\x89T\xc3\x89"), "0:caf\xc3\xa9 1:\xc3\x89t\xc3\x89 "));
	/* Cut at 64 bytes; the rest of the run is dropped; positions go on. */
	char longw[200];
	memset(longw, 'A', 100);
	memcpy(longw + 100, " b", 3);
	char want[200];
	memcpy(want, "0:", 2);
	memset(want + 2, 'a', 64);
	memcpy(want + 66, " 1:b ", 6);
	CHECK_MSG(!strcmp(toks(longw), want), "got %s", toks(longw));
	/* Stop early. */
	struct toks t;
	memset(&t, 0, sizeof(t));
	t.stop = 2;
	CHECK(jw_tokens("a b c d", 7, rec_tok, &t) == 9 && t.lastpos == 1);
	/* Embedded NUL separates. */
	t.stop = 0;
	CHECK(jw_tokens("a\0b", 3, rec_tok, &t) == 0);

	CHECK(!jw_text_path("id", 2));
	CHECK(!jw_text_path("time", 4));
	CHECK(!jw_text_path("tprev", 5));
	CHECK(!jw_text_path("received_at", 11));
	CHECK(jw_text_path("actor.id", 8));
	CHECK(jw_text_path("action", 6));
	CHECK(jw_text_path("tenant", 6));
	CHECK(jw_text_path("ids", 3));
	CHECK(jw_text_path("metadata.time", 13));
	/* the policy's own members */
	CHECK(!jw_text_path("redacted.path", 13));
	CHECK(!jw_text_path("redacted.detector", 17));
	CHECK(!jw_text_path("sampled.class", 13));
	CHECK(!jw_text_path("criticality", 11));
	CHECK(jw_text_path("redacted", 8));
	CHECK(jw_text_path("metadata.redacted.x", 19));
	CHECK(jw_text_path("criticality2", 12));
}

int main(void)
{
	test_paths();
	test_escapes();
	test_stop_and_limits();
	test_malformed();
	test_tokens();
	return test_report("test_jwalk");
}
