/*
 * fuzz_k8s.c - the Kubernetes EventList mapper (src/ingest/k8s.c):
 * arbitrary bytes as the body of POST /v1/ingest/k8s.
 *
 * Checked on every run:
 *  - k8s_map never crashes or reads out of bounds;
 *  - a refusal leaves the output as it was and names a byte inside the
 *    input;
 *  - an accepted body gives exactly as many NDJSON lines as it says, and
 *    every line is an event event_parse accepts under the default limits
 *    (so the server never builds an event its own parser refuses);
 *  - the same input maps to the same bytes twice (ids are stable, so the
 *    apiserver's retries are duplicates), except for a missing timestamp
 *    (then "now").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_limits lim;
	struct k8s_error err;
	struct buf out = BUF_INIT(8 * size + (1u << 20)), again = BUF_INIT(8 * size + (1u << 20));
	struct buf scratch = BUF_INIT(1u << 20);

	event_limits_default(&lim);
	buf_putc(&out, 'x');   /* a refusal must leave this as it is */
	long n = k8s_map(data, size, &lim, &out, &err);
	if (n < 0) {
		if (out.len != 1 || err.offset > size || !err.msg[0])
			abort();
		goto done;
	}
	long lines = 0;
	for (size_t at = 1; at < out.len;) {
		const uint8_t *nl = memchr(out.data + at, '\n', out.len - at);
		if (!nl)
			abort();   /* every line ends in a newline */
		struct event_info info;
		struct event_error perr;
		buf_reset(&scratch);
		if (event_parse(out.data + at, (size_t)(nl - (out.data + at)), &lim, &scratch, &info, &perr) != 0)
			abort();
		lines++;
		at = (size_t)(nl - out.data) + 1;
	}
	if (lines != n)
		abort();
	if (k8s_map(data, size, &lim, &again, &err) != n)
		abort();
	if (out.len && !memmem(out.data, out.len, "\"time_missing\":true", 19) &&
	    (again.len != out.len - 1 || (again.len && memcmp(again.data, out.data + 1, again.len))))
		abort();
done:
	buf_release(&out);
	buf_release(&again);
	buf_release(&scratch);
	return 0;
}
