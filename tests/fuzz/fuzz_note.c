/*
 * fuzz_note.c - note_open(), note_vkey_parse(), note_skey_parse() and
 * checkpoint_parse() over arbitrary bytes.
 *
 * Beyond "no crash, no sanitizer report" it checks the parsers' promises:
 * an accepted key text re-formats to the same bytes (one encoding per
 * key), an opened note's text is a prefix of the input ending in '\n',
 * and an accepted checkpoint re-formats to its first three lines.
 * The known keys are the C2SP example key and a fixed test key whose
 * signer text is public (below), so the corpus can hold notes that
 * really verify and mutations of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "log/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test-only keys; never used outside tests. */
static const char ex_vkey[] =
	"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char fuzz_skey[] =
	"PRIVATE+KEY+fuzz.sealtrail.test/log+53d3fc92+AQShOnuN/jbEixWBdwLFWCJQ20FLUSjSB5+Sh/fkIy5l";

static struct note_key keys[2];
static int have_keys;

static void roundtrip_key(const uint8_t *data, size_t size, bool secret)
{
	struct note_key k;
	struct buf b = BUF_INIT(1024);
	int r = secret ? note_skey_parse((const char *)data, size, &k)
		       : note_vkey_parse((const char *)data, size, &k);
	if (r < 0) {
		if (r != ST_EINVAL)
			abort();
		return;
	}
	r = secret ? note_skey_format(&k, &b) : note_vkey_format(&k, &b);
	if (r != 0 || b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	st_wipe(b.data, b.len);
	buf_release(&b);
	note_key_clear(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct note_opened o;
	struct checkpoint c;
	int r;

	if (!have_keys) {
		if (note_vkey_parse(ex_vkey, strlen(ex_vkey), &keys[0]) != 0 ||
		    note_skey_parse(fuzz_skey, strlen(fuzz_skey), &keys[1]) != 0)
			abort();
		have_keys = 1;
	}

	r = note_open(data, size, keys, 2, &o);
	if (r == 0) {
		if ((const uint8_t *)o.text != data || o.text_len == 0 ||
		    o.text_len >= size || o.text[o.text_len - 1] != '\n' ||
		    o.verified >= 2 || o.nsigs == 0 || o.nsigs > NOTE_MAX_SIGS)
			abort();
		if (checkpoint_parse(o.text, o.text_len, &c) == 0) {
			struct buf b = BUF_INIT(NOTE_MAX_SIZE);
			char *origin = malloc(c.origin_len + 1);
			if (!origin)
				abort();
			memcpy(origin, c.origin, c.origin_len);
			origin[c.origin_len] = 0;
			if (checkpoint_format(origin, c.size, c.root, &b) != 0 ||
			    b.len > o.text_len ||
			    memcmp(b.data, o.text, b.len) != 0)
				abort();
			free(origin);
			buf_release(&b);
		}
	} else if (r != ST_EINVAL && r != ST_ESIG) {
		abort();
	}

	if (checkpoint_parse((const char *)data, size, &c) == 0 &&
	    (c.origin != (const char *)data || c.origin_len == 0))
		abort();

	roundtrip_key(data, size, false);
	roundtrip_key(data, size, true);
	return 0;
}
