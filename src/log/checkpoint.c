/*
 * checkpoint.c - C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint)
 * and C2SP tlog-proof@v1 files (c2sp.org/tlog-proof).
 *
 * Invariants:
 *  - One value, one encoding: sizes and indexes are decimal without sign
 *    or leading zeros, hashes are canonical padded base64 of exactly 32
 *    bytes, so parse(format(x)) == x and, for every accepted input,
 *    format(parse(in)) == in byte for byte (fuzz_proof checks this).
 *  - Parsers never read past len and write ret only on success; formatters
 *    either append the whole result or leave the buffer unchanged.
 *  - A checkpoint body is a valid signed-note text (note_text_valid, ends
 *    in '\n'); its lines after the root are extension lines, accepted
 *    when non-empty and otherwise uninterpreted.
 *  - A proof's checkpoint note is carried verbatim and not verified here:
 *    the caller opens it with note_open() and checkpoint_parse().
 */
#include "log/note.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/util.h"

#define PROOF_HEADER "c2sp.org/tlog-proof@v1"
#define PROOF_MAX_HASHES_PARSED \
	(sizeof(((struct tlog_proof *)0)->hashes) / HASH_SIZE)
#define PROOF_MAX_EXTRA (sizeof(((struct tlog_proof *)0)->extra_buf))
#define HASH_B64_LEN BASE64_LEN(HASH_SIZE) /* 44 */

/* Decodes exactly one canonical base64 hash of 44 characters. */
static bool hash_decode(const char *s, size_t n, uint8_t out[HASH_SIZE])
{
	return n == HASH_B64_LEN &&
	       base64_decode(s, n, out, HASH_SIZE) == HASH_SIZE;
}

/* Returns the length of the line at s[0..n) (without its '\n'), or -1 if
 * there is no '\n'. */
static long line_len(const char *s, size_t n)
{
	const char *nl = memchr(s, '\n', n);
	return nl ? (long)(nl - s) : -1;
}

int checkpoint_format(const char *origin, uint64_t size,
		      const uint8_t root[HASH_SIZE], struct buf *out)
{
	size_t olen = strnlen(origin, NOTE_MAX_SIZE + 1);
	char num[24], b64[HASH_B64_LEN + 1];
	int nlen, r;

	if (olen == 0 || olen > NOTE_MAX_SIZE || memchr(origin, '\n', olen) ||
	    !note_text_valid((const uint8_t *)origin, olen))
		return ST_EINVAL;
	nlen = snprintf(num, sizeof(num), "%" PRIu64, size);
	base64_encode(root, HASH_SIZE, b64);
	r = buf_reserve(out, olen + 1 + (size_t)nlen + 1 + HASH_B64_LEN + 1);
	if (r < 0)
		return r;
	buf_append(out, origin, olen);
	buf_putc(out, '\n');
	buf_append(out, num, (size_t)nlen);
	buf_putc(out, '\n');
	buf_append(out, b64, HASH_B64_LEN);
	buf_putc(out, '\n');
	return 0;
}

int checkpoint_parse(const char *text, size_t len, struct checkpoint *ret)
{
	struct checkpoint c;
	size_t pos = 0;
	long l;

	if (len == 0 || len > NOTE_MAX_SIZE || text[len - 1] != '\n' ||
	    !note_text_valid((const uint8_t *)text, len))
		return ST_EINVAL;
	/* origin */
	l = line_len(text, len);
	if (l <= 0)
		return ST_EINVAL;
	c.origin = text;
	c.origin_len = (size_t)l;
	pos = (size_t)l + 1;
	/* tree size */
	l = line_len(text + pos, len - pos);
	if (l < 0 || !st_parse_u64(text + pos, (size_t)l, &c.size))
		return ST_EINVAL;
	pos += (size_t)l + 1;
	/* root hash */
	l = line_len(text + pos, len - pos);
	if (l < 0 || !hash_decode(text + pos, (size_t)l, c.root))
		return ST_EINVAL;
	pos += (size_t)l + 1;
	/* extension lines: opaque, but each non-empty */
	while (pos < len) {
		l = line_len(text + pos, len - pos);
		if (l <= 0)
			return ST_EINVAL;
		pos += (size_t)l + 1;
	}
	*ret = c;
	return 0;
}

int tlog_proof_format(uint64_t index, const uint8_t hashes[][HASH_SIZE],
		      size_t n, const uint8_t *extra, size_t extra_len,
		      const uint8_t *checkpoint_note, size_t note_len,
		      struct buf *out)
{
	static const char header[] = PROOF_HEADER "\n";
	char num[24], b64[HASH_B64_LEN + 1];
	char xb64[BASE64_LEN(PROOF_MAX_EXTRA) + 1];
	size_t total, xlen = 0;
	int nlen, r;

	/* Refuse what tlog_proof_parse() would refuse, so that every
	 * formatted proof parses back to the same value. */
	if (n > PROOF_MAX_HASHES_PARSED || note_len == 0 ||
	    note_len > NOTE_MAX_SIZE || extra_len > PROOF_MAX_EXTRA ||
	    (extra && extra_len == 0))
		return ST_EINVAL;
	nlen = snprintf(num, sizeof(num), "%" PRIu64, index);
	if (extra)
		xlen = base64_encode(extra, extra_len, xb64);
	total = sizeof(header) - 1 + (extra ? 6 + xlen + 1 : 0) + 6 +
		(size_t)nlen + 1 + n * (HASH_B64_LEN + 1) + 1 + note_len;
	r = buf_reserve(out, total);
	if (r < 0)
		return r;
	buf_append(out, header, sizeof(header) - 1);
	if (extra) {
		buf_append(out, "extra ", 6);
		buf_append(out, xb64, xlen);
		buf_putc(out, '\n');
	}
	buf_append(out, "index ", 6);
	buf_append(out, num, (size_t)nlen);
	buf_putc(out, '\n');
	for (size_t i = 0; i < n; i++) {
		base64_encode(hashes[i], HASH_SIZE, b64);
		buf_append(out, b64, HASH_B64_LEN);
		buf_putc(out, '\n');
	}
	buf_putc(out, '\n');
	buf_append(out, checkpoint_note, note_len);
	return 0;
}

int tlog_proof_parse(const uint8_t *in, size_t len, struct tlog_proof *ret)
{
	static const char header[] = PROOF_HEADER;
	const char *s = (const char *)in;
	struct tlog_proof p;
	size_t pos;
	long l;

	memset(&p, 0, sizeof(p));
	/* header */
	l = line_len(s, len);
	if (l != (long)sizeof(header) - 1 || memcmp(s, header, (size_t)l) != 0)
		return ST_EINVAL;
	pos = (size_t)l + 1;
	/* optional extra */
	l = line_len(s + pos, len - pos);
	if (l < 0)
		return ST_EINVAL;
	if (l >= 6 && memcmp(s + pos, "extra ", 6) == 0) {
		long x = base64_decode(s + pos + 6, (size_t)l - 6, p.extra_buf,
				       sizeof(p.extra_buf));
		if (x <= 0)
			return ST_EINVAL;
		p.extra_len = (size_t)x;
		pos += (size_t)l + 1;
		l = line_len(s + pos, len - pos);
	}
	/* index */
	if (l < 6 || memcmp(s + pos, "index ", 6) != 0 ||
	    !st_parse_u64(s + pos + 6, (size_t)l - 6, &p.index))
		return ST_EINVAL;
	pos += (size_t)l + 1;
	/* hashes, up to the empty line */
	for (;;) {
		l = line_len(s + pos, len - pos);
		if (l < 0)
			return ST_EINVAL; /* no empty line before the note */
		if (l == 0)
			break;
		if (p.nhashes == PROOF_MAX_HASHES_PARSED ||
		    !hash_decode(s + pos, (size_t)l, p.hashes[p.nhashes]))
			return ST_EINVAL;
		p.nhashes++;
		pos += (size_t)l + 1;
	}
	pos++;
	/* the signed checkpoint, verbatim */
	if (pos == len || len - pos > NOTE_MAX_SIZE)
		return ST_EINVAL;
	p.note_len = len - pos;
	memcpy(ret, &p, sizeof(p));
	ret->extra = ret->extra_len ? ret->extra_buf : NULL;
	ret->note = in + pos;
	return 0;
}
