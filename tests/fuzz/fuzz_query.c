/*
 * fuzz_query.c - query_parse(), query_format(), query_match() and jwalk()
 * over arbitrary bytes.
 *
 * Beyond "no crash, no sanitizer report" it checks the parser's promises:
 * a refusal is ST_EINVAL or ST_ELIMIT with a "column N: " message whose
 * column is within the input (+1 for "end of query"); an accepted query's
 * canonical text parses back and formats to the same text; matching never
 * crashes. The same bytes are also walked as a stored entry, with a fixed
 * query evaluated on them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "index/jwalk.h"
#include "index/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1795827600000000000LL   /* 2026-11-28T01:00:00Z */

static const char entry[] =
	"{\"seq\":5,\"received_at\":\"2026-11-28T00:50:00.000004Z\",\"tseq\":1,"
	"\"tprev\":\"AAAA=\",\"tenant\":\"acme\",\"id\":\"x1\",\"time\":\"2026-11-01T10:00:00Z\","
	"\"action\":\"iam.role.update\",\"actor\":{\"id\":\"alice@example.com\",\"ip\":\"10.0.0.1\"},"
	"\"resource\":{\"type\":\"role\",\"id\":\"res 42\"},\"outcome\":\"denied\","
	"\"metadata\":{\"tags\":[\"a\",\"b\"],\"n\":42,\"ok\":true,\"z\":null,\"s\":\"caf\\u00e9 *x\"},"
	"\"before\":{\"x\":1}}";

static int count_leaf(void *ctx, const struct jw_leaf *lf)
{
	if (lf->path_len > JW_PATH_MAX || lf->path[lf->path_len] != 0 || lf->depth < 1 ||
	    (lf->type >= JW_OBJECT && lf->val_len != 0))
		abort();
	(*(size_t *)ctx)++;
	return 0;
}

static int check_tok(void *ctx, const char *tok, size_t len, uint32_t pos)
{
	(void)ctx;
	(void)pos;
	if (len == 0 || len > JW_TOKEN_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		if (tok[i] >= 'A' && tok[i] <= 'Z')
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query *q = NULL, *q2 = NULL;
	struct query_error err;
	int r;

	r = query_parse((const char *)data, size, NOW, &q, &err);
	if (r != 0) {
		if ((r != ST_EINVAL && r != ST_ELIMIT) || q ||
		    strncmp(err.msg, "column ", 7) != 0 || err.column == 0 ||
		    (r == ST_EINVAL && err.column > size + 1))
			abort();
	} else {
		struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
		if (query_format(q, &a) != 0)
			abort();
		if (a.len <= QUERY_MAX_LEN) {
			r = query_parse((const char *)a.data, a.len, NOW, &q2, &err);
			if (r != 0) {
				fprintf(stderr, "canonical text refused: %.*s: %s\n",
					(int)a.len, (const char *)a.data, err.msg);
				abort();
			}
			if (query_format(q2, &b) != 0 || b.len != a.len ||
			    (a.len && memcmp(a.data, b.data, a.len) != 0))
				abort();
			if (query_match(q, (const uint8_t *)entry, sizeof(entry) - 1) !=
			    query_match(q2, (const uint8_t *)entry, sizeof(entry) - 1))
				abort();
		}
		query_match(q, data, size);
		buf_release(&a);
		buf_release(&b);
		query_free(q2);
		query_free(q);
	}

	/* The same bytes as a stored entry. */
	size_t n = 0;
	r = jwalk(data, size, count_leaf, &n);
	if (r != 0 && r != ST_EINVAL && r != ST_ELIMIT)
		abort();
	jw_tokens((const char *)data, size, check_tok, NULL);
	static struct query *fixed;
	if (!fixed) {
		static const char fq[] = "a OR actor.id:*x* -has:b.c time:>=2026-01-01 \"x y\" seq:1..*";
		if (query_parse(fq, sizeof(fq) - 1, NOW, &fixed, &err) != 0)
			abort();
	}
	if (query_match(fixed, data, size) && r != 0)
		abort();
	return 0;
}
