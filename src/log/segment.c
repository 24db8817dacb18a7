/*
 * segment.c - segment headers, frames and the segment directory listing.
 *
 * Invariants: a frame's CRC covers its length field too, so a flipped
 * length bit is caught by the CRC and never sends a reader astray before
 * the check; a reader never trusts a length over SEG_FRAME_MAX.
 */
#include "log/segment.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int seg_header_encode(const struct seg_header *h, struct buf *out)
{
	uint8_t fixed[SEG_HDR_FIXED];
	uint8_t crcb[4];
	size_t start = out->len;
	int r;

	if (h->origin_len == 0 || h->origin_len > 255)
		return ST_EINVAL;
	memset(fixed, 0, sizeof(fixed));
	memcpy(fixed, SEG_MAGIC, 8);
	put_le32(fixed + 8, h->version);
	put_le32(fixed + 12, h->incompat);
	put_le32(fixed + 16, h->compat);
	put_le64(fixed + 20, h->first_seq);
	put_le64(fixed + 28, (uint64_t)h->created_ns);
	put_le16(fixed + 36, (uint16_t)h->origin_len);
	if ((r = buf_append(out, fixed, sizeof(fixed))) < 0 ||
	    (r = buf_append(out, h->origin, h->origin_len)) < 0)
		goto fail;
	put_le32(crcb, crc32c(0, out->data + start, out->len - start));
	if ((r = buf_append(out, crcb, 4)) < 0)
		goto fail;
	return 0;
fail:
	out->len = start;
	return r;
}

int seg_header_decode(const uint8_t *p, size_t n, struct seg_header *ret,
		      const char **why)
{
	size_t olen;

	if (n < SEG_HDR_FIXED) {
		*why = "file shorter than a segment header";
		return ST_ECORRUPT;
	}
	if (memcmp(p, SEG_MAGIC, 8) != 0) {
		*why = "bad magic (not a Sealtrail segment)";
		return ST_ECORRUPT;
	}
	olen = get_le16(p + 36);
	if (olen == 0 || olen > 255 || n < SEG_HDR_FIXED + olen + 4) {
		*why = "bad origin length in header";
		return ST_ECORRUPT;
	}
	if (crc32c(0, p, SEG_HDR_FIXED + olen) != get_le32(p + SEG_HDR_FIXED + olen)) {
		*why = "header CRC mismatch";
		return ST_ECORRUPT;
	}
	ret->version = get_le32(p + 8);
	ret->incompat = get_le32(p + 12);
	ret->compat = get_le32(p + 16);
	if (ret->version != SEG_VERSION) {
		*why = "unsupported segment format version";
		return ST_ECORRUPT;
	}
	if (ret->incompat != 0) {
		*why = "unknown incompatible feature flags";
		return ST_ECORRUPT;
	}
	ret->first_seq = get_le64(p + 20);
	ret->created_ns = (int64_t)get_le64(p + 28);
	ret->origin_len = olen;
	memcpy(ret->origin, p + SEG_HDR_FIXED, olen);
	ret->origin[olen] = 0;
	ret->size = SEG_HDR_FIXED + olen + 4;
	return 0;
}

int seg_frame_encode(const uint8_t *data, size_t len, struct buf *out)
{
	int r;
	if (len > SEG_FRAME_MAX)
		return ST_ELIMIT;
	r = buf_reserve(out, SEG_FRAME_HDR + len);
	if (r < 0)
		return r;
	seg_frame_put(out->data + out->len, data, len);
	memcpy(out->data + out->len + SEG_FRAME_HDR, data, len);
	out->len += SEG_FRAME_HDR + len;
	return 0;
}

int seg_frame_check(const uint8_t *p, size_t avail, uint32_t *ret_len)
{
	uint32_t len;

	if (avail < SEG_FRAME_HDR)
		return 0;
	len = get_le32(p);
	if (len > SEG_FRAME_MAX) {
		/* A length this large can only be torn garbage or corruption; the
		 * CRC decides which when the bytes are there. */
		return ST_ECORRUPT;
	}
	if ((size_t)len > avail - SEG_FRAME_HDR)
		return 0;
	if (crc32c(crc32c(0, p, 4), p + SEG_FRAME_HDR, len) != get_le32(p + 4))
		return ST_ECORRUPT;
	*ret_len = len;
	return 1;
}

bool seg_damage_follows(const uint8_t *p, size_t n, size_t off)
{
	uint32_t blen, len;
	size_t o;

	if (n - off < SEG_FRAME_HDR)
		return false;
	blen = get_le32(p + off);
	if (blen > SEG_FRAME_MAX || blen >= n - off - SEG_FRAME_HDR)
		return false;
	o = off + SEG_FRAME_HDR + blen;
	while (o < n) {
		if (seg_frame_check(p + o, n - o, &len) <= 0)
			return false;
		o += SEG_FRAME_HDR + len;
	}
	return true;
}

int seg_scan(const uint8_t *p, size_t n, size_t start, uint64_t *offs,
	     size_t cap, uint64_t *ret_count, size_t *ret_end)
{
	size_t off = start;
	uint64_t count = 0;
	uint32_t len;

	while (off < n && seg_frame_check(p + off, n - off, &len) > 0) {
		if (offs && count < cap)
			offs[count] = off;
		count++;
		off += SEG_FRAME_HDR + len;
	}
	*ret_count = count;
	*ret_end = off;
	return off < n && seg_damage_follows(p, n, off) ? ST_ECORRUPT : 0;
}

int seg_path(char *out, size_t cap, const char *dir, uint64_t first_seq,
	     const char *ext)
{
	int n = snprintf(out, cap, "%s/segments/%020llu.%s", dir,
			 (unsigned long long)first_seq, ext);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int seg_list_load(const char *dir, struct seg_list *ret)
{
	char path[4096];
	struct dirent *e;
	size_t cap = 0;
	DIR *d;

	ret->first = NULL;
	ret->n = 0;
	if (snprintf(path, sizeof(path), "%s/segments", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		uint64_t v;
		if (len != SEG_NAME_DIGITS + 4 || strcmp(e->d_name + SEG_NAME_DIGITS, ".seg"))
			continue;
		/* Names are zero-padded, so parse digit by digit. */
		v = 0;
		bool ok = true;
		for (size_t i = 0; i < SEG_NAME_DIGITS; i++) {
			char c = e->d_name[i];
			if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) {
				ok = false;
				break;
			}
			v = v * 10 + (uint64_t)(c - '0');
		}
		if (!ok)
			continue;
		if (ret->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nf = realloc(ret->first, ncap * sizeof(*nf));
			if (!nf) {
				closedir(d);
				seg_list_release(ret);
				return -ENOMEM;
			}
			ret->first = nf;
			cap = ncap;
		}
		ret->first[ret->n++] = v;
	}
	closedir(d);
	if (ret->n)
		qsort(ret->first, ret->n, sizeof(uint64_t), cmp_u64);
	return 0;
}

void seg_list_release(struct seg_list *l)
{
	free(l->first);
	l->first = NULL;
	l->n = 0;
}
