/*
 * codec.h - standard base64 (RFC 4648 section 4, with padding),
 * lowercase hex, and JSON string output.
 *
 * Decoders are strict: they refuse bad characters, bad padding, non-zero
 * trailing bits and whitespace, so that every value has exactly one
 * accepted encoding (checkpoints and proofs depend on that).
 */
#ifndef SEALTRAIL_COMMON_CODEC_H
#define SEALTRAIL_COMMON_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes BASE64_LEN(n) characters and a NUL; returns the length. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes into out (at most cap bytes); returns bytes written or -1. */
long base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Writes 2n lowercase hex digits and a NUL. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*cap hex digits (either case) into cap bytes. */
bool hex_decode(const char *in, size_t n, uint8_t *out, size_t cap);

struct buf;
/*
 * Appends s[0..n) to b as a quoted JSON string: '"' and '\' escaped with a
 * backslash, bytes below 0x20 and DEL as \u00XX, each maximal invalid
 * UTF-8 subpart (Unicode 15, 3.9) as \ufffd; valid UTF-8 copied as is. The
 * output is always valid JSON. Returns 0, or -ENOMEM/ST_ELIMIT from buf
 * with b unchanged (nothing partial is left).
 */
int json_put_str(struct buf *b, const char *s, size_t n);

#endif
