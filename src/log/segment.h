/*
 * segment.h - segment files of framed records, and their seq-to-offset
 * indexes. See docs/FORMAT.md for every byte.
 *
 * A segment is named by its first seq (20 decimal digits) + ".seg"; its
 * index, + ".idx", holds one little-endian u64 file offset per record and
 * is derived data (rebuilt by recovery, never trusted by verify).
 *
 * Header (SEG_HDR_FIXED + origin_len + 4 bytes):
 *   0  8  magic "SEALSEG\0"
 *   8  4  format version (1)
 *  12  4  incompatible feature flags (0: none defined)
 *  16  4  compatible feature flags (0: none defined)
 *  20  8  first seq
 *  28  8  creation time, Unix ns
 *  36  2  origin length (1..255)
 *  38  n  origin bytes
 *  38+n 4 CRC-32C of bytes [0, 38+n)
 * Frame: u32 length L, u32 CRC-32C over (the 4 length bytes || data), L data bytes.
 */
#ifndef SEALTRAIL_LOG_SEGMENT_H
#define SEALTRAIL_LOG_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/util.h"

#define SEG_MAGIC "SEALSEG"          /* 7 chars + NUL = 8 bytes */
#define SEG_VERSION 1
#define SEG_HDR_FIXED 38
#define SEG_FRAME_HDR 8
#define SEG_FRAME_MAX (1u << 20)     /* a frame longer than this is corrupt */
#define SEG_NAME_DIGITS 20

struct seg_header {
	uint32_t version;
	uint32_t incompat;
	uint32_t compat;
	uint64_t first_seq;
	int64_t created_ns;
	char origin[256];
	size_t origin_len;
	size_t size;                 /* header bytes: where frame 0 starts */
};

/* Appends the encoded header to out. */
int seg_header_encode(const struct seg_header *h, struct buf *out);
/* Decodes a header from p[0..n); ST_ECORRUPT with a reason in why. */
int seg_header_decode(const uint8_t *p, size_t n, struct seg_header *ret,
		      const char **why);

/* Appends one frame around data. */
int seg_frame_encode(const uint8_t *data, size_t len, struct buf *out);

/* Checks the frame at p[0..avail). Returns:
 *   1 and *ret_len = data length when a whole valid frame is there,
 *   0 when the frame runs past avail (torn/incomplete),
 *   ST_ECORRUPT when the length is over SEG_FRAME_MAX or the CRC fails. */
int seg_frame_check(const uint8_t *p, size_t avail, uint32_t *ret_len);

/* True when the bytes after a bad frame at p[off..n) are a valid chain of
 * frames to the end: damage in the middle of the file, not a torn tail. */
bool seg_damage_follows(const uint8_t *p, size_t n, size_t off);

/* Scans the frames of segment bytes p[start..n). Stores the offset of each
 * whole valid frame in offs (up to cap), their number in *ret_count and the
 * end of the last one in *ret_end. Returns 0 when everything after *ret_end
 * (if anything) can be a torn tail, ST_ECORRUPT when a bad frame is
 * followed by valid ones (seg_damage_follows). */
int seg_scan(const uint8_t *p, size_t n, size_t start, uint64_t *offs,
	     size_t cap, uint64_t *ret_count, size_t *ret_end);

/* "DIR/segments/<20 digits>.seg" or ".idx" */
int seg_path(char *out, size_t cap, const char *dir, uint64_t first_seq,
	     const char *ext);

/* The segments of a log, sorted by first seq. */
struct seg_list {
	uint64_t *first;
	size_t n;
};
int seg_list_load(const char *dir, struct seg_list *ret);
void seg_list_release(struct seg_list *l);

/* Writes the 8-byte frame header for data into hdr. */
static inline void seg_frame_put(uint8_t *hdr, const uint8_t *data, size_t len)
{
	put_le32(hdr, (uint32_t)len);
	put_le32(hdr + 4, crc32c(crc32c(0, hdr, 4), data, len));
}

#endif
