/*
 * fuzz_event.c - libFuzzer target for event_parse and event_parse_stored.
 *
 * Every input goes through both readers, with the default limits and with
 * tight ones (so that each limit is reached often). Checked on every run:
 * no crash or sanitizer report; a refusal leaves out->len unchanged and
 * fills the error (code, offset within the input, message); an accepted
 * event's compact form is never longer than the input, reads back through
 * event_parse unchanged (the compact form is a fixed point), and reads back
 * as a stored entry once server fields are put in front of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "event/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int rc, const struct event_error *err, size_t size)
{
	if (rc == 0)
		return;
	if ((rc != ST_EINVAL && rc != ST_ELIMIT) || err->code != rc || err->offset > size ||
	    !err->msg[0] || strlen(err->path) >= sizeof(err->path))
		abort();
}

static void one(const uint8_t *data, size_t size, const struct event_limits *lim)
{
	struct buf out = BUF_INIT(1 << 20), again = BUF_INIT(1 << 20);
	struct event_info info;
	struct event_error err;
	struct stored_info si;
	char text[512];
	int rc;

	buf_putc(&out, '{');
	rc = event_parse(data, size, lim, &out, &info, &err);
	check_error(rc, &err, size);
	if (rc == 0) {
		size_t n = out.len - 1;
		if (n > size || out.data[1] != '{' || out.data[out.len - 1] != '}')
			abort();
		if (info.tenant && (info.tenant < (const char *)data ||
				    info.tenant + info.tenant_len > (const char *)data + size))
			abort();
		/* The compact form is a fixed point. */
		if (event_parse(out.data + 1, n, lim, &again, NULL, &err) != 0 ||
		    again.len != n || memcmp(again.data, out.data + 1, n) != 0)
			abort();
		/* With server fields in front it is a stored entry (tenant
		 * added when the producer gave none). */
		buf_reset(&again);
		buf_puts(&again, "{\"seq\":1,\"received_at\":\"2026-11-27T22:10:17.123456Z\",\"tseq\":0,"
			 "\"tprev\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",");
		if (!info.tenant)
			buf_puts(&again, "\"tenant\":\"default\",");
		buf_append(&again, out.data + 2, n - 1);
		struct event_limits big = *lim;
		big.max_entry = again.len;
		big.max_members = lim->max_members + 8;
		if (big.max_string < 64)   /* room for received_at */
			big.max_string = 64;
		if (event_parse_stored(again.data, again.len, &big, &si, &err) != 0)
			abort();
		if (si.seq != 1 || si.tseq != 0)
			abort();
	} else if (out.len != 1) {
		abort();
	}
	event_error_format(&err, text, sizeof(text));

	rc = event_parse_stored(data, size, lim, &si, &err);
	check_error(rc, &err, size);
	buf_release(&out);
	buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_limits lim;

	event_limits_default(&lim);
	one(data, size, &lim);
	lim.max_depth = 4;
	lim.max_members = 24;
	lim.max_string = 20;
	lim.max_entry = 256 + 300;
	one(data, size, &lim);
	return 0;
}
