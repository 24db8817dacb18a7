/*
 * fuzz_cef.c - the CEF / LEEF parser (src/ingest/cef.c) and its mapping
 * (src/ingest/syslog_map.c): arbitrary bytes as the MSG of an RFC 5424
 * message, with "CEF:" or "LEEF:" put in front when the first byte says.
 *
 * Checked on every run:
 *  - nothing crashes or reads out of bounds;
 *  - every header field and extension pair lies inside the input, a
 *    decoded value is never longer than it is written;
 *  - a refusal names a byte inside the input;
 *  - a message that maps gives one line event_parse accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/cef.h"
#include "ingest/syslog.h"
#include "ingest/syslog_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const struct cef_str *s, const uint8_t *p, size_t n)
{
	if (s->p && (s->p < p || s->p + s->len > p + n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pre[] = { "", "CEF:", "LEEF:1.0|", "LEEF:2.0|", "CEF:0|" };
	struct buf in = BUF_INIT(size + 64), out = BUF_INIT(1u << 20), scratch = BUF_INIT(1u << 20),
		   ev = BUF_INIT(1u << 20);
	struct cef_msg *m = malloc(sizeof(*m));
	struct cef_error err;
	struct event_limits lim;
	static struct syslog_map_rules rules;

	if (!rules.n)
		syslog_map_rules_default(&rules);
	event_limits_default(&lim);
	size_t pick = size ? data[0] % 5 : 0;
	buf_puts(&in, pre[pick]);
	if (size > 1)
		buf_append(&in, data + 1, size - 1);
	const uint8_t *p = in.data ? in.data : (const uint8_t *)"";
	size_t n = in.len;
	if (cef_parse(p, n, m, &err) < 0) {
		if (err.offset > n || !err.msg[0])
			abort();
	} else {
		uint8_t *dec = malloc(n + 1);
		const struct cef_str *h[] = { &m->version, &m->vendor, &m->product, &m->dev_version,
					      &m->sig_id, &m->name, &m->severity };
		for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
			inside(h[i], p, n);
			if (h[i]->p && cef_decode(h[i], false, dec) > h[i]->len)
				abort();
		}
		for (size_t i = 0; i < m->next; i++) {
			inside(&m->ext[i].key, p, n);
			inside(&m->ext[i].value, p, n);
			if (m->ext[i].key.len == 0 || cef_decode(&m->ext[i].value, true, dec) > m->ext[i].value.len)
				abort();
		}
		free(dec);
	}
	/* as a syslog message */
	struct buf frame = BUF_INIT(n + 64);
	buf_puts(&frame, "<13>1 2026-11-28T10:00:00Z host app - - - ");
	if (n)
		buf_append(&frame, p, n);
	struct syslog_msg sm;
	if (syslog_parse(frame.data, frame.len, 0, &sm, NULL) == 0 &&
	    syslog_map(&sm, frame.data, &rules, NULL, 0, 64000, &out, &scratch, NULL) == 0) {
		struct event_info info;
		struct event_error perr;
		if (event_parse(out.data, out.len - 1, &lim, &ev, &info, &perr) != 0)
			abort();
	}
	buf_release(&frame);
	buf_release(&in);
	buf_release(&out);
	buf_release(&scratch);
	buf_release(&ev);
	free(m);
	return 0;
}
