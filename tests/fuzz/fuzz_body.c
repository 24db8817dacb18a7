/*
 * fuzz_body.c - libFuzzer target for the POST /v1/events body framing
 * (src/ingest/body.c) and body_kind_parse.
 *
 * Every input is split as BODY_JSON and as BODY_NDJSON, without an event
 * limit and with a small one. Checked on every run:
 *  - body_count equals the number of items the iterator returns, or is the
 *    very error (code, offset, line, message) the iterator ends with;
 *  - items lie inside the body, in order, do not overlap, have sequential
 *    indexes, offset == p - body, and line == 1 + LFs before offset; an
 *    error's line is right for its offset too, and its message non-empty;
 *  - NDJSON: no error without a limit; an item holds no LF, is not blank,
 *    and every non-blank line is an item;
 *  - JSON: an item is a balanced '{'...'}' by an independent scan with a
 *    real bracket stack that ignores mismatches the same way (counted
 *    only), and the bytes outside the items are exactly the skeleton
 *    ws [ ws item (ws , ws item)* ws ] ws, or ws item ws;
 *  - a limit of L gives the unlimited result when that has at most L
 *    events (or ST_ELIMIT where the unlimited run failed inside event L),
 *    else the same first L items and ST_ELIMIT at item L's offset;
 *  - errors are sticky.
 * The input is also parsed as a Content-Type value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ingest/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
	while (i < n && ws(p[i]))
		i++;
	return i;
}

/* Lines before offset, counted the slow way. */
static size_t line_of(const uint8_t *p, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += p[i] == '\n';
	return line;
}

/* An item of a JSON body: '{', then bytes where depth (strings skipped)
 * stays > 0 until the last byte '}', and depth never passes the limit. */
static void check_json_item(const uint8_t *p, size_t n)
{
	size_t depth = 0;
	bool str = false;

	if (n < 2 || p[0] != '{' || p[n - 1] != '}')
		abort();
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
			continue;
		}
		if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > BODY_MAX_DEPTH)
				abort();
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				abort();
			if (--depth == 0 && i != n - 1)
				abort();
		}
	}
	if (depth != 0 || str)
		abort();
}

struct result {
	long rc;
	size_t n;
	struct body_error err;
};

static void split(const uint8_t *data, size_t size, enum body_kind k, size_t max,
		  struct result *res, struct body_item *items, size_t cap)
{
	struct body_iter it;
	struct body_item item;
	struct body_error err, cerr;
	size_t end = 0, line = 1, lpos = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	body_iter_init(&it, data, size, k, max);
	while ((rc = body_iter_next(&it, &item, &err)) == 1) {
		if (item.index != res->n || item.offset < end || item.offset > size ||
		    item.len > size - item.offset || item.p != data + item.offset)
			abort();
		for (; lpos < item.offset; lpos++)
			line += data[lpos] == '\n';
		if (item.line != line)
			abort();
		end = item.offset + item.len;
		if (res->n < cap)
			items[res->n] = item;
		res->n++;
	}
	if (rc < 0) {
		if ((rc != ST_EINVAL && rc != ST_ELIMIT) || err.offset > size || !err.msg[0] ||
		    !memchr(err.msg, 0, sizeof(err.msg)) || err.line != line_of(data, err.offset))
			abort();
		if (rc == ST_ELIMIT && !max && strstr(err.msg, "events in one request"))
			abort();
		res->err = err;
	} else if (rc != 0) {
		abort();
	}
	res->rc = rc < 0 ? rc : (long)res->n;

	/* body_count agrees. */
	long c = body_count(data, size, k, max, &cerr);
	if (c != res->rc)
		abort();
	if (c < 0 && (cerr.offset != err.offset || cerr.line != err.line ||
		      strcmp(cerr.msg, err.msg) != 0))
		abort();
	/* Sticky. */
	struct body_error again;
	if (body_iter_next(&it, &item, &again) != (rc < 0 ? rc : 0))
		abort();
	if (rc < 0 && (again.offset != err.offset || strcmp(again.msg, err.msg) != 0))
		abort();
}

static void check_ndjson(const uint8_t *data, size_t size, const struct result *r,
			 const struct body_item *items)
{
	size_t k = 0, start = 0;

	if (r->rc < 0)
		abort();
	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size, len = end - start, j;
		if (len && data[end - 1] == '\r')
			len--;
		for (j = 0; j < len && (data[start + j] == ' ' || data[start + j] == '\t' ||
					data[start + j] == '\r'); j++)
			;
		if (j < len) {
			if (k >= r->n || items[k].offset != start || items[k].len != len)
				abort();
			k++;
		}
		start = nl ? end + 1 : size;
	}
	if (k != r->n)
		abort();
}

static void check_json(const uint8_t *data, size_t size, const struct result *r,
		       const struct body_item *items)
{
	size_t i;

	if (r->rc < 0)
		return;
	for (size_t k = 0; k < r->n; k++)
		check_json_item(items[k].p, items[k].len);
	i = skip_ws(data, 0, size);
	if (i < size && data[i] == '{') {
		if (r->n != 1 || items[0].offset != i)
			abort();
		i += items[0].len;
	} else {
		if (i >= size || data[i] != '[')
			abort();
		i = skip_ws(data, i + 1, size);
		for (size_t k = 0; k < r->n; k++) {
			if (k) {
				if (i >= size || data[i] != ',')
					abort();
				i = skip_ws(data, i + 1, size);
			}
			if (items[k].offset != i)
				abort();
			i = skip_ws(data, i + items[k].len, size);
		}
		if (i >= size || data[i] != ']')
			abort();
		i++;
	}
	if (skip_ws(data, i, size) != size)
		abort();
}

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct body_item items[CAP], litems[CAP];
	struct result r, lr;
	enum body_kind kind;
	char err[128];

	for (int k = 0; k < 2; k++) {
		enum body_kind bk = k ? BODY_NDJSON : BODY_JSON;
		split(data, size, bk, 0, &r, items, CAP);
		if (r.n > CAP)
			continue;   /* cannot happen below 8 KiB inputs */
		if (bk == BODY_NDJSON)
			check_ndjson(data, size, &r, items);
		else
			check_json(data, size, &r, items);

		size_t max = 1 + size % 4;
		split(data, size, bk, max, &lr, litems, CAP);
		if (lr.n > max || memcmp(litems, items, (lr.n < r.n ? lr.n : r.n) * sizeof(items[0])))
			abort();
		if (r.n <= max) {
			/* An unlimited run that failed inside event max may stop
			 * at the limit first. */
			if (lr.rc != r.rc && !(r.rc < 0 && r.n == max && lr.rc == ST_ELIMIT))
				abort();
		} else if (lr.rc != ST_ELIMIT || lr.n != max || lr.err.offset != items[max].offset) {
			abort();
		}
	}

	memset(err, 0x55, sizeof(err));
	kind = (enum body_kind)77;
	int rc = body_kind_parse((const char *)data, size, &kind, err, sizeof(err));
	if (rc == 0) {
		if (kind != BODY_JSON && kind != BODY_NDJSON)
			abort();
	} else if (rc != ST_EINVAL || kind != (enum body_kind)77 || !memchr(err, 0, sizeof(err))) {
		abort();
	}
	return 0;
}
