/*
 * fuzz_syslog.c - the syslog framer, parser and mapping
 * (src/ingest/syslog.c, syslog_map.c): arbitrary bytes as a TCP stream
 * to a syslog listener, octet-counted and newline-framed frames mixed.
 *
 * Checked on every run:
 *  - nothing crashes or reads out of bounds;
 *  - the stream is framed the same whatever the read sizes (whole, then
 *    in pieces of the size the first byte picks): the same frames, the
 *    same refusals, at the same stream offsets;
 *  - every frame and refusal lies inside the stream; offsets grow;
 *  - every message that parses maps to one line that event_parse accepts
 *    under the default limits, the same bytes twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/syslog.h"
#include "ingest/syslog_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME 600
#define NOW_NS (1795924800LL * 1000000000LL)

struct rec {
	uint64_t offset;
	size_t len;
	int error;
	uint32_t hash;
};

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Frames data in pieces of chunk bytes; records up to cap frames. */
static size_t run(const uint8_t *data, size_t size, size_t chunk, struct rec *out, size_t cap,
		  void (*each)(const struct syslog_frame *f))
{
	struct syslog_framer fr;
	uint8_t *buf = malloc(MAX_FRAME + 16 + chunk);
	size_t have = 0, fed = 0, n = 0;
	uint64_t last = 0;
	struct syslog_frame f;

	syslog_framer_init(&fr, MAX_FRAME);
	for (;;) {
		size_t k = size - fed < chunk ? size - fed : chunk;
		if (k)
			memcpy(buf + have, data + fed, k);
		have += k;
		fed += k;
		for (;;) {
			size_t used = 0;
			int r = syslog_frame_next(&fr, buf, have, &used, &f);
			if (used > have)
				abort();
			if (r == 1) {
				if (f.offset < last || f.offset > size)
					abort();
				last = f.offset;
				if (!f.error && (f.p < buf || f.p + f.len > buf + have || f.len > MAX_FRAME))
					abort();
				if (n < cap)
					out[n] = (struct rec){ f.offset, f.len, f.error,
							       f.error ? 0 : fnv(f.p, f.len) };
				n++;
				if (each)
					each(&f);
			}
			if (used) {
				memmove(buf, buf + used, have - used);
				have -= used;
			}
			if (r == 0)
				break;
		}
		if (have > MAX_FRAME + 12)
			abort();   /* the framer must make progress with max_frame + 12 buffered */
		if (fed == size) {
			if (syslog_frame_last(&fr, buf, have, &f) == 1) {
				if (n < cap)
					out[n] = (struct rec){ f.offset, f.len, f.error,
							       f.error ? 0 : fnv(f.p, f.len) };
				n++;
				if (each)
					each(&f);
			}
			break;
		}
	}
	free(buf);
	return n;
}

static struct syslog_map_rules rules;
static struct event_limits lim;

static void map_one(const struct syslog_frame *f)
{
	struct syslog_msg m;
	struct syslog_error pe;
	struct buf out = BUF_INIT(1u << 20), again = BUF_INIT(1u << 20), scratch = BUF_INIT(1u << 20),
		   ev = BUF_INIT(1u << 20);
	if (f->error)
		return;
	if (syslog_parse(f->p, f->len, NOW_NS, &m, &pe) < 0) {
		if (pe.offset > f->len || !pe.msg[0])
			abort();
		return;
	}
	struct syslog_map_error me;
	int r = syslog_map(&m, f->p, &rules, NULL, NOW_NS, 64000, &out, &scratch, &me);
	if (r < 0) {
		if (out.len != 0)
			abort();
		goto done;
	}
	if (out.len < 2 || out.data[out.len - 1] != '\n' || memchr(out.data, '\n', out.len - 1))
		abort();
	struct event_info info;
	struct event_error perr;
	if (event_parse(out.data, out.len - 1, &lim, &ev, &info, &perr) != 0)
		abort();
	if (syslog_map(&m, f->p, &rules, NULL, NOW_NS, 64000, &again, &scratch, &me) != 0 ||
	    again.len != out.len || memcmp(again.data, out.data, out.len))
		abort();
done:
	buf_release(&out);
	buf_release(&again);
	buf_release(&scratch);
	buf_release(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rec a[512], b[512];
	char why[128];
	if (!rules.n) {
		syslog_map_rule_add(&rules, "x@1 u actor.id", why, sizeof(why));
		syslog_map_rule_add(&rules, "x@1 t time", why, sizeof(why));
		syslog_map_rule_add(&rules, "x@1 i id", why, sizeof(why));
		syslog_map_rules_default(&rules);
		event_limits_default(&lim);
	}
	size_t chunk = size ? (size_t)data[0] % 97 + 1 : 1;
	size_t na = run(data, size, size ? size : 1, a, 512, map_one);
	size_t nb = run(data, size, chunk, b, 512, NULL);
	if (na != nb)
		abort();
	for (size_t i = 0; i < na && i < 512; i++)
		if (a[i].offset != b[i].offset || a[i].error != b[i].error ||
		    (!a[i].error && (a[i].len != b[i].len || a[i].hash != b[i].hash)))
			abort();
	return 0;
}
