/*
 * fuzz_record.c - the record reader: arbitrary bytes as a segment file.
 * Decodes the header, scans the frames as recovery does, checks the
 * torn-tail/damage decision, and reads every whole frame as a stored
 * entry. Must never crash, read out of bounds, or disagree with itself:
 * seg_scan's frames must each pass seg_frame_check and tile the bytes from
 * the header to the end it reports; a re-encoded header must decode to the
 * same fields.
 */
#include "event/event.h"
#include "log/segment.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seg_header h, h2;
	struct event_limits lim;
	const char *why = NULL;
	uint64_t offs[512], count = 0;
	size_t end = 0, start = 0;

	event_limits_default(&lim);
	if (seg_header_decode(data, size, &h, &why) == 0) {
		struct buf b = BUF_INIT(1024);
		if (seg_header_encode(&h, &b) != 0 || b.len != h.size ||
		    memcmp(b.data, data, b.len) != 0)
			abort();
		if (seg_header_decode(b.data, b.len, &h2, &why) != 0 ||
		    h2.first_seq != h.first_seq || h2.origin_len != h.origin_len)
			abort();
		buf_release(&b);
		start = h.size;
	}
	int r = seg_scan(data, size, start, offs, 512, &count, &end);
	if (end < start || end > size)
		abort();
	if (r == 0 && end < size && seg_damage_follows(data, size, end))
		abort();
	size_t off = start;
	for (uint64_t i = 0; i < count && i < 512; i++) {
		uint32_t len;
		if (offs[i] != off || seg_frame_check(data + off, size - off, &len) != 1)
			abort();
		struct stored_info si;
		struct event_error ee;
		(void)event_parse_stored(data + off + SEG_FRAME_HDR, len, &lim, &si, &ee);
		off += SEG_FRAME_HDR + len;
	}
	if (count <= 512 && off != end)
		abort();
	return 0;
}
