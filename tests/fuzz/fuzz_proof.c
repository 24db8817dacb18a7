/*
 * fuzz_proof.c - tlog_proof_parse() over arbitrary bytes.
 *
 * The invariant it enforces is canonicity: every input the parser
 * accepts is re-formatted by tlog_proof_format() to the very same bytes,
 * so a proof has one encoding and parse/format lose nothing. The embedded
 * checkpoint note is also fed to note_open() and checkpoint_parse(), so
 * the whole path a verifier takes over an untrusted proof file is fuzzed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "log/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ex_vkey[] =
	"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tlog_proof p; /* 8 KiB: keep it off the stack */
	static struct note_key key;
	static int have_key;
	struct buf b = BUF_INIT(2 * NOTE_MAX_SIZE);
	struct note_opened o;
	struct checkpoint c;
	int r;

	if (!have_key) {
		if (note_vkey_parse(ex_vkey, strlen(ex_vkey), &key) != 0)
			abort();
		have_key = 1;
	}
	r = tlog_proof_parse(data, size, &p);
	if (r != 0) {
		if (r != ST_EINVAL)
			abort();
		return 0;
	}
	if (p.nhashes > 128 || p.note < data || p.note + p.note_len != data + size ||
	    (p.extra && (p.extra != p.extra_buf || p.extra_len == 0)))
		abort();
	if (tlog_proof_format(p.index, (const uint8_t (*)[HASH_SIZE])p.hashes,
			      p.nhashes, p.extra, p.extra_len, p.note,
			      p.note_len, &b) != 0)
		abort();
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	buf_release(&b);
	if (note_open(p.note, p.note_len, &key, 1, &o) == 0)
		(void)checkpoint_parse(o.text, o.text_len, &c);
	return 0;
}
