/*
 * fuzz_cloudtrail.c - the CloudTrail mapper (src/ingest/cloudtrail.c):
 * arbitrary bytes as a CloudTrail log file.
 *
 * Checked on every run:
 *  - ct_map never crashes or reads out of bounds;
 *  - a refusal of the file leaves the output as it was and names a byte
 *    inside the input; a refused record names its index and a byte inside;
 *  - every output line is an event event_parse accepts under the default
 *    limits (the server never gets an event its parser refuses), and
 *    there are as many as ct_map says;
 *  - the same input maps to the same bytes twice (stable ids: a re-import
 *    is all duplicates).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/cloudtrail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	size_t size;
	long refused;
};

static void on_refused(void *p, const struct ct_error *e)
{
	struct ctx *c = p;
	if (e->record < 0 || e->offset > c->size || !e->msg[0])
		abort();
	c->refused++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_limits lim;
	struct ct_error err;
	struct ctx c = { size, 0 };
	struct buf out = BUF_INIT(1u << 30), again = BUF_INIT(1u << 30), scratch = BUF_INIT(1u << 20);

	event_limits_default(&lim);
	buf_putc(&out, 'x');   /* a refusal must leave this as it is */
	long n = ct_map(data, size, &lim, &out, on_refused, &c, &err);
	if (n < 0) {
		if (out.len != 1 || err.offset > size || !err.msg[0])
			abort();
		goto done;
	}
	long lines = 0;
	for (size_t at = 1; at < out.len;) {
		const uint8_t *nl = memchr(out.data + at, '\n', out.len - at);
		struct event_info info;
		struct event_error perr;
		if (!nl)
			abort();
		buf_reset(&scratch);
		if (event_parse(out.data + at, (size_t)(nl - (out.data + at)), &lim, &scratch, &info, &perr) != 0 ||
		    !info.has_id)
			abort();
		lines++;
		at = (size_t)(nl - out.data) + 1;
	}
	if (lines != n)
		abort();
	if (ct_map(data, size, &lim, &again, NULL, NULL, &err) != n || again.len != out.len - 1 ||
	    (again.len && memcmp(again.data, out.data + 1, again.len)))
		abort();
done:
	buf_release(&out);
	buf_release(&again);
	buf_release(&scratch);
	return 0;
}
