/*
 * fuzz_auditd.c - the audit record parser and reassembler
 * (src/ingest/auditd.c): arbitrary bytes as an audit.log.
 *
 * Checked on every run:
 *  - nothing crashes or reads out of bounds; a refused line names a
 *    byte inside the line;
 *  - every output line is an event event_parse accepts under the default
 *    limits, with an id "auditd-...", and there are as many as said;
 *  - the same input maps to the same bytes twice;
 *  - fed line by line as the importer does, the oldest open event never
 *    begins after the line being fed, and resuming there (a new
 *    reassembler, the rest of the input, then a flush) yields every id
 *    the whole run yields after that point: nothing is lost by resuming.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/auditd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	size_t size;
};

static void on_refused(void *p, uint64_t ln, const struct auditd_error *e)
{
	const struct ctx *c = p;
	if (ln == 0 || e->offset > c->size || !e->msg[0])
		abort();
}

/* Feeds data[from..size) line by line, then flushes; out gets the events. */
static long run(const uint8_t *data, size_t size, size_t from, const struct event_limits *lim, struct buf *out,
		uint64_t *ret_oldest_mid)
{
	struct auditd_asm a;
	struct auditd_error err;
	long count = 0, k;
	auditd_asm_init(&a, lim);
	*ret_oldest_mid = size;
	for (size_t at = from; at < size;) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t e = nl ? (size_t)(nl - data) : size;
		k = e > at ? auditd_asm_feed(&a, data + at, e - at, at, 1, out, &err) : 0;
		if (k == ST_EINVAL && err.offset > e - at)
			abort();
		if (k < 0 && k != ST_EINVAL)
			abort();
		if (k > 0)
			count += k;
		uint64_t off, ln;
		if (auditd_asm_oldest(&a, &off, &ln) && off > at)
			abort();
		if (at <= size / 2 && e >= size / 2)
			*ret_oldest_mid = auditd_asm_oldest(&a, &off, &ln) ? off : e + 1;
		at = e + 1;
	}
	k = auditd_asm_flush(&a, out);
	if (k < 0)
		abort();
	auditd_asm_release(&a);
	return count + k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_limits lim;
	struct ctx c = { size };
	struct buf out = BUF_INIT(1u << 30), again = BUF_INIT(1u << 30), scratch = BUF_INIT(1u << 20);
	struct buf tail = BUF_INIT(1u << 30);
	uint64_t mid;

	event_limits_default(&lim);
	long n = auditd_map(data, size, &lim, &out, on_refused, &c);
	if (n < 0)
		abort();
	long lines = 0;
	for (size_t at = 0; at < out.len;) {
		const uint8_t *nl = memchr(out.data + at, '\n', out.len - at);
		struct event_info info;
		struct event_error perr;
		if (!nl || out.len - at < 15 || memcmp(out.data + at, "{\"id\":\"auditd-", 14))
			abort();
		buf_reset(&scratch);
		if (event_parse(out.data + at, (size_t)(nl - (out.data + at)), &lim, &scratch, &info, &perr) != 0)
			abort();
		lines++;
		at = (size_t)(nl - out.data) + 1;
	}
	if (lines != n)
		abort();
	if (auditd_map(data, size, &lim, &again, NULL, NULL) != n || again.len != out.len ||
	    (out.len && memcmp(again.data, out.data, out.len)))
		abort();
	/* streamed as the importer streams it, and resumed from the middle */
	buf_reset(&again);
	run(data, size, 0, &lim, &again, &mid);
	if (mid < size) {
		run(data, size, (size_t)mid, &lim, &tail, &mid);
		/* every event of the resumed run has an id the whole run has */
		for (size_t at = 0; at < tail.len;) {
			const uint8_t *q = memchr(tail.data + at + 7, '"', tail.len - at - 7);
			const uint8_t *nl = memchr(tail.data + at, '\n', tail.len - at);
			if (!q || !nl)
				abort();
			size_t idn = (size_t)(q - tail.data) - at + 1;
			if (!again.len || !memmem(again.data, again.len, tail.data + at, idn))
				abort();
			at = (size_t)(nl - tail.data) + 1;
		}
	}
	buf_release(&out);
	buf_release(&again);
	buf_release(&scratch);
	buf_release(&tail);
	return 0;
}
