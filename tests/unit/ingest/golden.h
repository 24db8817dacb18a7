/*
 * golden.h - golden files for the importers' tests: a vector from
 * tests/vectors/ and the exact bytes expected from it. With
 * SEALTRAIL_REGEN=1 in the environment the expected file is written
 * instead (then read it, line by line, before committing it).
 */
#ifndef SEALTRAIL_TEST_GOLDEN_H
#define SEALTRAIL_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"

static inline void golden_path(char *out, size_t cap, const char *rel)
{
	const char *src = getenv("SEALTRAIL_SRC");
	snprintf(out, cap, "%s/tests/vectors/%s", src ? src : ".", rel);
}

static inline int golden_read(const char *rel, struct buf *b)
{
	char p[4096];
	golden_path(p, sizeof(p), rel);
	buf_reset(b);
	int r = read_file(p, b->max, b);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", p, st_strerror(r));
	return r;
}

/* True when got equals the file rel byte for byte; names the first
 * difference (line and byte) when not. */
static inline bool golden_match(const char *rel, const struct buf *got)
{
	char p[4096];
	struct buf want = BUF_INIT(64u << 20);
	bool ok;
	golden_path(p, sizeof(p), rel);
	if (getenv("SEALTRAIL_REGEN")) {
		write_file_atomic(p, got->data, got->len, 0644);
		fprintf(stderr, "%s: written\n", p);
	}
	if (read_file(p, want.max, &want) < 0) {
		fprintf(stderr, "%s: cannot read\n", p);
		return false;
	}
	ok = want.len == got->len && (want.len == 0 || !memcmp(want.data, got->data, want.len));
	if (!ok) {
		size_t i = 0, line = 1;
		while (i < want.len && i < got->len && want.data[i] == got->data[i])
			line += want.data[i++] == '\n';
		fprintf(stderr, "%s: differs at line %zu, byte %zu (%zu bytes expected, %zu got)\n", p, line, i,
			want.len, got->len);
	}
	buf_release(&want);
	return ok;
}

#endif
