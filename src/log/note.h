/*
 * note.h - C2SP signed notes with Ed25519, C2SP tlog-checkpoint bodies,
 * and C2SP tlog-proof@v1 files.
 *
 * Keys (signed-note): the key id of an Ed25519 key is the first 4 bytes
 * (big endian) of SHA-256(name || 0x0A || 0x01 || pubkey). The verifier
 * key text is "<name>+<8 hex key id>+<base64(0x01 || pubkey)>"; the signer
 * key text, as in Go's sumdb/note, is
 * "PRIVATE+KEY+<name>+<8 hex>+<base64(0x01 || 32-byte seed)>".
 * A note is its text (which ends in '\n'), an empty line, and signature
 * lines "— <name> <base64(keyid(4, big endian) || signature(64))>\n", the
 * dash being U+2014 EM DASH.
 *
 * Secrets are wiped by note_key_clear(); nothing here logs or allocates
 * except into the caller's buffers.
 */
#ifndef SEALTRAIL_LOG_NOTE_H
#define SEALTRAIL_LOG_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"

#define NOTE_NAME_MAX 255
#define NOTE_MAX_SIGS 100      /* signature lines accepted in one note */
#define NOTE_MAX_SIZE 1000000  /* bytes of a whole note */

struct note_key {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[32];
	bool has_secret;
	uint8_t sec[64];        /* libsodium Ed25519 secret key (seed||pub) */
};

/* Key names: non-empty, no Unicode spaces, no '+', at most 255 bytes. */
bool note_name_valid(const char *name, size_t len);
uint32_t note_key_id(const char *name, const uint8_t pub[32]);

int note_key_generate(const char *name, struct note_key *ret);
void note_key_clear(struct note_key *k);
/* Appends the verifier / signer key text (no newline). */
int note_vkey_format(const struct note_key *k, struct buf *out);
int note_skey_format(const struct note_key *k, struct buf *out);
/* Parses key texts; ST_EINVAL on any defect, including a key id that does
 * not match the key. */
int note_vkey_parse(const char *s, size_t len, struct note_key *ret);
int note_skey_parse(const char *s, size_t len, struct note_key *ret);

/* Appends text, "\n" and one signature line by k to out. text must be
 * non-empty, valid UTF-8, end in '\n', and contain no ASCII control
 * character other than '\n' (note_text_valid); it MAY contain empty lines
 * (the signed-note spec allows them: a reader splits text from signatures
 * at the last empty line, and no signature line can be empty).
 * ST_EINVAL for such a text or a key without a secret or with an invalid
 * name; ST_ELIMIT if the note would exceed NOTE_MAX_SIZE. The signature is
 * verified with k->pub before it is appended. The buffer is unchanged on
 * failure. */
int note_sign(const struct note_key *k, const char *text, size_t len,
	      struct buf *out);

/* Result of opening a note. */
struct note_opened {
	const char *text;   /* slice of msg: the text including its final '\n' */
	size_t text_len;
	size_t verified;    /* lowest index into keys[] of a key that verified */
	size_t nsigs;       /* signature lines present */
};

/* Verifies msg against keys: the note must be well-formed, and at least
 * one signature must be by a known key (name and id match) and verify.
 * Lines by unknown keys are ignored; a line by a known key that does not
 * verify is an error (ST_ESIG). ST_EINVAL for a malformed note (including
 * one over NOTE_MAX_SIZE bytes or with more than NOTE_MAX_SIGS signature
 * lines); ST_ESIG also when no line is by a known key. Every line by a
 * known key is verified, duplicates included. If several keys[] share a
 * name and id, the first one is used. ret is written only on success and
 * its slices point into msg. */
int note_open(const uint8_t *msg, size_t len, const struct note_key *keys,
	      size_t nkeys, struct note_opened *ret);

/* C2SP tlog-checkpoint body: "<origin>\n<size>\n<base64 root>\n" followed
 * by optional extension lines. */
struct checkpoint {
	const char *origin;  /* slice into the parsed text */
	size_t origin_len;
	uint64_t size;
	uint8_t root[HASH_SIZE];
};
int checkpoint_format(const char *origin, uint64_t size,
		      const uint8_t root[HASH_SIZE], struct buf *out);
/* Strict: decimal size without sign or leading zeros, base64 of exactly
 * 32 bytes, origin non-empty and without control characters. */
int checkpoint_parse(const char *text, size_t len, struct checkpoint *ret);

/* C2SP tlog-proof@v1:
 *   "c2sp.org/tlog-proof@v1\n" ["extra <base64>\n"] "index <N>\n"
 *   <one base64 hash per line> "\n" <signed checkpoint note>
 */
int tlog_proof_format(uint64_t index, const uint8_t hashes[][HASH_SIZE],
		      size_t n, const uint8_t *extra, size_t extra_len,
		      const uint8_t *checkpoint_note, size_t note_len,
		      struct buf *out);
struct tlog_proof {
	uint64_t index;
	size_t nhashes;
	uint8_t hashes[128][HASH_SIZE];
	const uint8_t *extra;        /* NULL when absent; decoded into extra_buf */
	size_t extra_len;
	uint8_t extra_buf[4096];
	const uint8_t *note;         /* slice of the input: the signed checkpoint */
	size_t note_len;
};
int tlog_proof_parse(const uint8_t *in, size_t len, struct tlog_proof *ret);

/* Additions below the original interface. */

/* True if s is valid UTF-8 (RFC 3629) without ASCII control characters
 * other than '\n': the rule for a whole signed note and for note texts. */
bool note_text_valid(const uint8_t *s, size_t n);

#endif
