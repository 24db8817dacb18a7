/*
 * test_note.c - keys, signed notes, checkpoint bodies and tlog-proof files
 * (src/log/note.c, src/log/checkpoint.c).
 *
 * Known answers come from the C2SP specs (the signed-note example key and
 * signature, the tlog-checkpoint example body); every negative case names
 * the exact error it expects, so a parser that became lax fails here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/hash.h"
#include "common/util.h"
#include "log/note.h"
#include "test.h"

#define EX_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define EX_TEXT "This is an example message.\n"
#define EX_SIG  "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
#define EM "\xe2\x80\x94"
#define EX_NOTE EX_TEXT "\n" EM " example.com/foo " EX_SIG "\n"

static struct note_key ex_key;

static int open_str(const char *msg, const struct note_key *keys, size_t n,
		    struct note_opened *o)
{
	struct note_opened tmp;
	return note_open((const uint8_t *)msg, strlen(msg), keys, n, o ? o : &tmp);
}

static int vkey_parse_str(const char *s, struct note_key *k)
{
	return note_vkey_parse(s, strlen(s), k);
}

/* Builds "name+%08x+base64(raw)" with the id Go would compute over raw. */
static void key_text(char *out, size_t cap, const char *name,
		     const uint8_t *raw, size_t n)
{
	uint8_t h[HASH_SIZE];
	char b64[128];
	sha256_3(name, strlen(name), "\n", 1, raw, n, h);
	base64_encode(raw, n, b64);
	snprintf(out, cap, "%s+%02x%02x%02x%02x+%s", name, h[0], h[1], h[2],
		 h[3], b64);
}

static void test_names(void)
{
	char long_name[300];

	CHECK(note_name_valid("example.com/foo", 15));
	CHECK(note_name_valid("\xc3\xbc" "n\xc3\xaf" "code", 9));
	CHECK(!note_name_valid("", 0));
	CHECK(!note_name_valid("a+b", 3));
	CHECK(!note_name_valid("a b", 3));
	CHECK(!note_name_valid("a\tb", 3));
	CHECK(!note_name_valid("a\xc2\xa0" "b", 4));      /* U+00A0 NBSP */
	CHECK(!note_name_valid("a\xe2\x80\x83" "b", 5));  /* U+2003 EM SPACE */
	CHECK(!note_name_valid("a\xe3\x80\x80" "b", 5));  /* U+3000 */
	CHECK(!note_name_valid("a\x01" "b", 3));
	CHECK(!note_name_valid("a\0b", 3));
	CHECK(!note_name_valid("a\xff" "b", 3));          /* not UTF-8 */
	CHECK(!note_name_valid("a\xc0\xaf", 3));          /* overlong */
	CHECK(!note_name_valid("a\xed\xa0\x80", 4));      /* surrogate */
	memset(long_name, 'a', sizeof(long_name));
	CHECK(note_name_valid(long_name, 255));
	CHECK(!note_name_valid(long_name, 256));
}

static void test_keys(void)
{
	struct note_key k, k2;
	struct buf b = BUF_INIT(4096);
	char txt[256];
	uint8_t raw[40];
	size_t n;

	/* Known answer: the C2SP example key. */
	CHECK(vkey_parse_str(EX_VKEY, &ex_key) == 0);
	CHECK(strcmp(ex_key.name, "example.com/foo") == 0);
	CHECK(ex_key.id == 0x530d903a);
	CHECK(!ex_key.has_secret);
	CHECK(note_key_id("example.com/foo", ex_key.pub) == 0x530d903a);
	CHECK(note_vkey_format(&ex_key, &b) == 0);
	CHECK(b.len == strlen(EX_VKEY) && memcmp(b.data, EX_VKEY, b.len) == 0);
	CHECK(note_skey_format(&ex_key, &b) == ST_EINVAL); /* no secret */

	/* Refusals, each with one defect. */
	CHECK(vkey_parse_str("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", &k) == ST_EINVAL); /* id */
	CHECK(vkey_parse_str("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", &k) == ST_EINVAL); /* upper hex */
	CHECK(vkey_parse_str("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", &k) == ST_EINVAL);  /* 7 digits */
	CHECK(vkey_parse_str("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2!", &k) == ST_EINVAL); /* base64 */
	CHECK(vkey_parse_str("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k\n", &k) == ST_EINVAL);
	CHECK(vkey_parse_str("example.com/foo+530d903a", &k) == ST_EINVAL);
	CHECK(vkey_parse_str("example.com/foo", &k) == ST_EINVAL);
	CHECK(vkey_parse_str("", &k) == ST_EINVAL);
	CHECK(vkey_parse_str("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", &k) == ST_EINVAL);
	/* wrong algorithm byte, with an id that matches those bytes */
	n = (size_t)base64_decode("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", 44, raw, sizeof(raw));
	CHECK(n == 33);
	raw[0] = 0x02;
	key_text(txt, sizeof(txt), "example.com/foo", raw, 33);
	CHECK(vkey_parse_str(txt, &k) == ST_EINVAL);
	raw[0] = 0x01;
	key_text(txt, sizeof(txt), "example.com/foo", raw, 33);
	CHECK(vkey_parse_str(txt, &k) == 0); /* the control case */
	key_text(txt, sizeof(txt), "example.com/foo", raw, 32); /* short */
	CHECK(vkey_parse_str(txt, &k) == ST_EINVAL);
	raw[33] = 7;
	key_text(txt, sizeof(txt), "example.com/foo", raw, 34); /* long */
	CHECK(vkey_parse_str(txt, &k) == ST_EINVAL);
	key_text(txt, sizeof(txt), "example com", raw, 33); /* name */
	CHECK(vkey_parse_str(txt, &k) == ST_EINVAL);

	/* Generated keys: the signer key text round-trips. */
	CHECK(note_key_generate("log.example/a", &k) == 0);
	CHECK(k.has_secret);
	CHECK(k.id == note_key_id("log.example/a", k.pub));
	CHECK(memcmp(k.sec + 32, k.pub, 32) == 0);
	buf_reset(&b);
	CHECK(note_skey_format(&k, &b) == 0);
	CHECK(b.len > 12 && memcmp(b.data, "PRIVATE+KEY+log.example/a+", 26) == 0);
	CHECK(note_skey_parse((const char *)b.data, b.len, &k2) == 0);
	CHECK(k2.has_secret && k2.id == k.id);
	CHECK(memcmp(k2.pub, k.pub, 32) == 0 && memcmp(k2.sec, k.sec, 64) == 0);
	/* a signer key text with a wrong id */
	b.data[26] = b.data[26] == '0' ? '1' : '0';
	CHECK(note_skey_parse((const char *)b.data, b.len, &k2) == ST_EINVAL);
	st_wipe(b.data, b.len);
	buf_reset(&b);
	CHECK(note_vkey_format(&k, &b) == 0);
	CHECK(note_skey_parse((const char *)b.data, b.len, &k2) == ST_EINVAL);
	CHECK(note_vkey_parse((const char *)b.data, b.len, &k2) == 0);
	CHECK(!k2.has_secret && k2.id == k.id);
	CHECK(note_key_generate("bad name", &k2) == ST_EINVAL);
	CHECK(note_key_generate("", &k2) == ST_EINVAL);

	/* A full buffer: refused and unchanged. */
	{
		struct buf small = BUF_INIT(10);
		CHECK(note_vkey_format(&k, &small) == ST_ELIMIT && small.len == 0);
		buf_release(&small);
	}

	/* note_key_clear wipes everything, and accepts NULL. */
	note_key_clear(&k);
	{
		static const struct note_key zero;
		CHECK(memcmp(&k, &zero, sizeof(k)) == 0);
	}
	note_key_clear(NULL);
	note_key_clear(&k2);
	buf_release(&b);
}

/* Rewrites the key id bytes of the base64 signature in a note line. */
static void make_note_with_sig(char *out, size_t cap, const char *name,
			       const char *sig_b64, int flip_byte, int flip_bit)
{
	uint8_t raw[128];
	char b64[200];
	long n = base64_decode(sig_b64, strlen(sig_b64), raw, sizeof(raw));
	if (n < 0)
		abort();
	if (flip_byte >= 0)
		raw[flip_byte] ^= (uint8_t)(1u << flip_bit);
	base64_encode(raw, (size_t)n, b64);
	snprintf(out, cap, EX_TEXT "\n" EM " %s %s\n", name, b64);
}

static void test_note_kat(void)
{
	struct note_opened o;
	struct note_key keys[2];
	char msg[1024];

	memset(&o, 0, sizeof(o));
	CHECK(open_str(EX_NOTE, &ex_key, 1, &o) == 0);
	CHECK(o.text_len == strlen(EX_TEXT));
	CHECK(memcmp(o.text, EX_TEXT, o.text_len) == 0);
	CHECK(o.verified == 0 && o.nsigs == 1);

	/* With another, unrelated key first: verified names the right one. */
	CHECK(note_key_generate("example.com/foo", &keys[0]) == 0);
	keys[1] = ex_key;
	CHECK(open_str(EX_NOTE, keys, 2, &o) == 0 && o.verified == 1);
	note_key_clear(&keys[0]);

	/* hyphen-minus instead of the em dash */
	CHECK(open_str(EX_TEXT "\n- example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* en dash U+2013 */
	CHECK(open_str(EX_TEXT "\n\xe2\x80\x93 example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* no space after the dash, two spaces before the signature */
	CHECK(open_str(EX_TEXT "\n" EM "example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo  " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* missing final newline */
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo " EX_SIG, &ex_key, 1, NULL) == ST_EINVAL);
	/* CRLF line ending */
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo " EX_SIG "\r\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* no blank line between text and signature */
	CHECK(open_str(EX_TEXT EM " example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* no signature lines at all */
	CHECK(open_str(EX_TEXT "\n", &ex_key, 1, NULL) == ST_EINVAL);
	CHECK(open_str("", &ex_key, 1, NULL) == ST_EINVAL);
	/* signature too short (4 bytes: an id and nothing else), empty, bad */
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo Uw2QOg==\n", &ex_key, 1, NULL) == ST_EINVAL);
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo \n", &ex_key, 1, NULL) == ST_EINVAL);
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo Uw2QOkn8!\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* 5 bytes by an unknown key is well-formed but verifies nothing */
	CHECK(open_str(EX_TEXT "\n" EM " other.example Uw2QOkk=\n", &ex_key, 1, NULL) == ST_ESIG);
	/* 5 bytes by the known key: a wrong-length signature */
	CHECK(open_str(EX_TEXT "\n" EM " example.com/foo Uw2QOkk=\n", &ex_key, 1, NULL) == ST_ESIG);
	/* a control character or invalid UTF-8 anywhere */
	CHECK(open_str("This is an\texample message.\n\n" EM " example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	CHECK(open_str("This is an \xff" "example message.\n\n" EM " example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_EINVAL);
	/* no known keys given */
	CHECK(open_str(EX_NOTE, NULL, 0, NULL) == ST_ESIG);

	/* wrong key id in the signature line: an unknown key */
	make_note_with_sig(msg, sizeof(msg), "example.com/foo", EX_SIG, 3, 0);
	CHECK(open_str(msg, &ex_key, 1, NULL) == ST_ESIG);
	/* same id, other name: an unknown key */
	make_note_with_sig(msg, sizeof(msg), "example.com/bar", EX_SIG, -1, 0);
	CHECK(open_str(msg, &ex_key, 1, NULL) == ST_ESIG);
	/* a flipped signature bit, in R and in S */
	make_note_with_sig(msg, sizeof(msg), "example.com/foo", EX_SIG, 10, 2);
	CHECK(open_str(msg, &ex_key, 1, NULL) == ST_ESIG);
	make_note_with_sig(msg, sizeof(msg), "example.com/foo", EX_SIG, 60, 7);
	CHECK(open_str(msg, &ex_key, 1, NULL) == ST_ESIG);
	/* control: unmodified re-encoding still verifies */
	make_note_with_sig(msg, sizeof(msg), "example.com/foo", EX_SIG, -1, 0);
	CHECK(open_str(msg, &ex_key, 1, NULL) == 0);
	/* a changed text */
	CHECK(open_str("This is an example messagf.\n\n" EM " example.com/foo " EX_SIG "\n", &ex_key, 1, NULL) == ST_ESIG);
	/* a valid signature plus an unknown key's line: fine */
	CHECK(open_str(EX_NOTE EM " witness.example Uw2QOkk=\n", &ex_key, 1, NULL) == 0);
	/* an empty line among the signature lines moves the text boundary:
	 * the known signature is now part of the text, and nothing verifies */
	CHECK(open_str(EX_NOTE "\n" EM " witness.example Uw2QOkk=\n", &ex_key, 1, NULL) == ST_ESIG);
	/* a blank line and nothing after it */
	CHECK(open_str(EX_NOTE "\n", &ex_key, 1, NULL) == ST_EINVAL);
}

static void test_note_sign(void)
{
	struct note_key a, b, bad;
	struct note_opened o;
	struct buf n1 = BUF_INIT(2 * NOTE_MAX_SIZE), n2 = BUF_INIT(NOTE_MAX_SIZE);
	const char *text = "log.example/a\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	size_t tlen = strlen(text);
	struct note_key both[2];

	CHECK(note_key_generate("log.example/a", &a) == 0);
	CHECK(note_key_generate("witness.example/w", &b) == 0);
	CHECK(note_sign(&a, text, tlen, &n1) == 0);
	CHECK(n1.len > tlen + 1 && memcmp(n1.data, text, tlen) == 0 && n1.data[tlen] == '\n');
	CHECK(memcmp(n1.data + tlen + 1, EM " log.example/a ", 4 + 14) == 0);
	CHECK(n1.data[n1.len - 1] == '\n');
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0);
	CHECK(o.text_len == tlen && o.nsigs == 1 && o.verified == 0);
	CHECK(note_open(n1.data, n1.len, &b, 1, &o) == ST_ESIG);

	/* Cosign: append b's signature line over the same text. */
	CHECK(note_sign(&b, text, tlen, &n2) == 0);
	CHECK(buf_append(&n1, n2.data + tlen + 1, n2.len - tlen - 1) == 0);
	CHECK(note_open(n1.data, n1.len, &b, 1, &o) == 0 && o.nsigs == 2);
	both[0] = b;
	both[1] = a;
	CHECK(note_open(n1.data, n1.len, both, 2, &o) == 0 && o.verified == 0);
	both[0] = a;
	both[1] = b;
	CHECK(note_open(n1.data, n1.len, both, 2, &o) == 0 && o.verified == 0);
	both[0] = ex_key;
	CHECK(note_open(n1.data, n1.len, both, 2, &o) == 0 && o.verified == 1);
	/* a duplicated valid line is accepted */
	buf_reset(&n2);
	CHECK(note_sign(&a, text, tlen, &n2) == 0);
	{
		char line[512];
		size_t ll = n2.len - tlen - 1;
		CHECK(ll < sizeof(line));
		memcpy(line, n2.data + tlen + 1, ll);
		CHECK(buf_append(&n2, line, ll) == 0);
	}
	CHECK(note_open(n2.data, n2.len, &a, 1, &o) == 0 && o.nsigs == 2);
	/* a known key's bad line next to a good one rejects the whole note */
	/* Change one base64 digit of b's signature to another valid digit
	 * (flipping a bit could make it an invalid character, and then the
	 * note is malformed rather than badly signed: the test was flaky). */
	n1.data[n1.len - 10] = n1.data[n1.len - 10] == 'A' ? 'B' : 'A';
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0); /* b unknown: ignored */
	CHECK(note_open(n1.data, n1.len, both, 2, &o) == ST_ESIG);

	/* Texts that may and may not be signed. */
	buf_reset(&n1);
	CHECK(note_sign(&a, "a\n\nb\n", 5, &n1) == 0); /* empty line: allowed */
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0 && o.text_len == 5);
	buf_reset(&n1);
	CHECK(note_sign(&a, "a\n\n", 3, &n1) == 0);    /* ends in an empty line */
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0 && o.text_len == 3);
	buf_reset(&n1);
	CHECK(note_sign(&a, "\n", 1, &n1) == 0);
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0 && o.text_len == 1);
	buf_reset(&n1);
	CHECK(note_sign(&a, "no newline", 10, &n1) == ST_EINVAL);
	CHECK(note_sign(&a, "", 0, &n1) == ST_EINVAL);
	CHECK(note_sign(&a, "tab\there\n", 9, &n1) == ST_EINVAL);
	CHECK(note_sign(&a, "cr\r\n", 4, &n1) == ST_EINVAL);
	CHECK(note_sign(&a, "nul\0\n", 5, &n1) == ST_EINVAL);
	CHECK(note_sign(&a, "bad \xc3\n", 6, &n1) == ST_EINVAL);
	CHECK(note_sign(&ex_key, EX_TEXT, strlen(EX_TEXT), &n1) == ST_EINVAL); /* no secret */
	CHECK(n1.len == 0);
	/* a key whose public half does not match its secret */
	bad = a;
	bad.pub[0] ^= 1;
	CHECK(note_sign(&bad, text, tlen, &n1) == ST_ESIG && n1.len == 0);
	/* too big */
	{
		size_t big = NOTE_MAX_SIZE;
		char *t = malloc(big);
		CHECK(t != NULL);
		if (t) {
			memset(t, 'x', big);
			t[big - 1] = '\n';
			CHECK(note_sign(&a, t, big, &n1) == ST_ELIMIT && n1.len == 0);
			/* just under the limit: accepted ... */
			t[big - 301] = '\n';
			CHECK(note_sign(&a, t, big - 300, &n1) == 0);
			CHECK(n1.len <= NOTE_MAX_SIZE);
			CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0);
			/* ... and one more (unknown) signature line makes it too big */
			CHECK(buf_puts(&n1, EM " w ") == 0);
			for (int i = 0; i < 100; i++)
				CHECK(buf_puts(&n1, "AAAA") == 0);
			CHECK(buf_puts(&n1, "\n") == 0);
			CHECK(n1.len > NOTE_MAX_SIZE);
			CHECK(note_open(n1.data, n1.len, &a, 1, &o) == ST_EINVAL);
			free(t);
		}
	}

	/* NOTE_MAX_SIGS lines are accepted, one more is not. */
	buf_reset(&n1);
	CHECK(note_sign(&a, text, tlen, &n1) == 0);
	for (int i = 1; i < NOTE_MAX_SIGS; i++)
		CHECK(buf_puts(&n1, EM " witness.example Uw2QOkk=\n") == 0);
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == 0 && o.nsigs == NOTE_MAX_SIGS);
	CHECK(buf_puts(&n1, EM " witness.example Uw2QOkk=\n") == 0);
	CHECK(note_open(n1.data, n1.len, &a, 1, &o) == ST_EINVAL);

	/* A text over a buffer's limit: refused, buffer unchanged. */
	{
		struct buf small = BUF_INIT(100);
		CHECK(buf_puts(&small, "keep") == 0);
		CHECK(note_sign(&a, text, tlen, &small) == ST_ELIMIT);
		CHECK(small.len == 4);
		buf_release(&small);
	}

	note_key_clear(&a);
	note_key_clear(&b);
	note_key_clear(&bad);
	st_wipe(both, sizeof(both));
	buf_release(&n1);
	buf_release(&n2);
}

static int cp_str(const char *s, struct checkpoint *c)
{
	struct checkpoint tmp;
	return checkpoint_parse(s, strlen(s), c ? c : &tmp);
}

#define ROOT_B64 "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="

static void test_checkpoint(void)
{
	struct buf b = BUF_INIT(4096);
	struct checkpoint c;
	uint8_t root[HASH_SIZE];
	const char *want;

	for (int i = 0; i < HASH_SIZE; i++)
		root[i] = (uint8_t)(i * 7 + 1);
	CHECK(checkpoint_format("example.com/foo", 123, root, &b) == 0);
	want = "example.com/foo\n123\nAQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=\n";
	CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
	memset(&c, 0, sizeof(c));
	CHECK(checkpoint_parse((const char *)b.data, b.len, &c) == 0);
	CHECK(c.origin == (const char *)b.data && c.origin_len == 15);
	CHECK(c.size == 123 && memcmp(c.root, root, HASH_SIZE) == 0);

	/* The C2SP tlog-checkpoint example body. */
	CHECK(cp_str("example.com/behind-the-sofa\n20852163\n" ROOT_B64 "\n", &c) == 0);
	CHECK(c.size == 20852163 && c.origin_len == 27);
	CHECK(c.root[0] == 0x0a && c.root[31] == 0x62);
	/* extremes and extension lines */
	CHECK(cp_str("o\n0\n" ROOT_B64 "\n", &c) == 0 && c.size == 0);
	CHECK(cp_str("o\n18446744073709551615\n" ROOT_B64 "\n", &c) == 0 && c.size == UINT64_MAX);
	CHECK(cp_str("o\n1\n" ROOT_B64 "\next one\next two\n", &c) == 0);
	buf_reset(&b);
	CHECK(checkpoint_format("o", UINT64_MAX, root, &b) == 0);
	CHECK(checkpoint_parse((const char *)b.data, b.len, &c) == 0 && c.size == UINT64_MAX);

	/* non-canonical sizes */
	CHECK(cp_str("o\n0123\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n00\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n+1\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n-1\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n1e3\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n 1\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n18446744073709551616\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\n0x10\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	/* roots that are not 32 bytes, or not canonical base64 */
	CHECK(cp_str("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", NULL) == ST_EINVAL); /* 31 */
	CHECK(cp_str("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2Ji\n", NULL) == ST_EINVAL); /* 33 */
	CHECK(cp_str("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", NULL) == ST_EINVAL);  /* unpadded */
	CHECK(cp_str("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", NULL) == ST_EINVAL); /* trailing bits */
	CHECK(cp_str("o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n", NULL) == ST_EINVAL); /* url alphabet */
	/* structure */
	CHECK(cp_str("o\n1\n" ROOT_B64, NULL) == ST_EINVAL);          /* no final newline */
	CHECK(cp_str("\n1\n" ROOT_B64 "\n", NULL) == ST_EINVAL);      /* empty origin */
	CHECK(cp_str("o\n1\n", NULL) == ST_EINVAL);                   /* no root */
	CHECK(cp_str("o\n1\n" ROOT_B64 "\n\n", NULL) == ST_EINVAL);   /* empty extension */
	CHECK(cp_str("o\n1\n" ROOT_B64 "\next\n\n", NULL) == ST_EINVAL);
	CHECK(cp_str("o\x01\n1\n" ROOT_B64 "\n", NULL) == ST_EINVAL); /* control */
	CHECK(cp_str("o\r\n1\n" ROOT_B64 "\n", NULL) == ST_EINVAL);
	CHECK(cp_str("", NULL) == ST_EINVAL);
	/* formatting refuses what parsing would refuse */
	buf_reset(&b);
	CHECK(checkpoint_format("", 1, root, &b) == ST_EINVAL);
	CHECK(checkpoint_format("a\nb", 1, root, &b) == ST_EINVAL);
	CHECK(checkpoint_format("a\tb", 1, root, &b) == ST_EINVAL);
	CHECK(b.len == 0);
	buf_release(&b);
}

static void test_proof(void)
{
	static const char note[] = "example.com/foo\n2\n" ROOT_B64 "\n\n" EM " example.com/foo Uw2QOkk=\n";
	uint8_t hashes[5][HASH_SIZE];
	static struct tlog_proof p;
	struct buf b = BUF_INIT(1 << 20), b2 = BUF_INIT(1 << 20);
	const uint8_t extra[] = "age-v1.2.1-darwin-arm64.tar.gz";
	char want[1024];
	size_t nl = strlen(note);
	char h0[48];

	for (int i = 0; i < 5; i++)
		for (int j = 0; j < HASH_SIZE; j++)
			hashes[i][j] = (uint8_t)(i * 31 + j);
	CHECK(tlog_proof_format(73894, (const uint8_t (*)[HASH_SIZE])hashes, 5,
				extra, sizeof(extra) - 1, (const uint8_t *)note, nl, &b) == 0);
	base64_encode(hashes[0], HASH_SIZE, h0);
	snprintf(want, sizeof(want), "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\nindex 73894\n%s\n", h0);
	CHECK(b.len > strlen(want) && memcmp(b.data, want, strlen(want)) == 0);
	CHECK(memcmp(b.data + b.len - nl - 1, "\n", 1) == 0 && memcmp(b.data + b.len - nl, note, nl) == 0);
	CHECK(tlog_proof_parse(b.data, b.len, &p) == 0);
	CHECK(p.index == 73894 && p.nhashes == 5);
	CHECK(memcmp(p.hashes, hashes, sizeof(hashes)) == 0);
	CHECK(p.extra == p.extra_buf && p.extra_len == sizeof(extra) - 1);
	CHECK(memcmp(p.extra, extra, p.extra_len) == 0);
	CHECK(p.note == b.data + b.len - nl && p.note_len == nl);
	CHECK(tlog_proof_format(p.index, (const uint8_t (*)[HASH_SIZE])p.hashes, p.nhashes,
				p.extra, p.extra_len, p.note, p.note_len, &b2) == 0);
	CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);

	/* no extra, no hashes (a tree of one entry) */
	buf_reset(&b);
	CHECK(tlog_proof_format(0, NULL, 0, NULL, 0, (const uint8_t *)note, nl, &b) == 0);
	snprintf(want, sizeof(want), "c2sp.org/tlog-proof@v1\nindex 0\n\n%s", note);
	CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
	CHECK(tlog_proof_parse(b.data, b.len, &p) == 0);
	CHECK(p.index == 0 && p.nhashes == 0 && p.extra == NULL && p.note_len == nl);

	/* refusals */
#define PROOF_BAD(s) CHECK(tlog_proof_parse((const uint8_t *)(s), strlen(s), &p) == ST_EINVAL)
	PROOF_BAD("c2sp.org/tlog-proof@v2\nindex 0\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1 \nindex 0\n\nnote\n");
	PROOF_BAD("C2SP.org/tlog-proof@v1\nindex 0\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1");
	PROOF_BAD("");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 01\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex -1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex +1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex \n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex  1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nIndex 1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\n\nnote\n");                       /* no index */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" "AAAA\n\nnote\n");      /* 3-byte hash */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2Ji\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" ROOT_B64 " \n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" ROOT_B64 "\n");        /* no blank line */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" ROOT_B64 "\nnote\n");  /* no blank line */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" ROOT_B64);
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\n" ROOT_B64 "\n\n");      /* no note */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nextra \nindex 1\n\nnote\n");     /* empty extra */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nextra YWJj!\nindex 1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nextra YQ\nindex 1\n\nnote\n");    /* unpadded */
	PROOF_BAD("c2sp.org/tlog-proof@v1\nextra YWJj\nextra YWJj\nindex 1\n\nnote\n");
	PROOF_BAD("c2sp.org/tlog-proof@v1\nindex 1\nextra YWJj\n\nnote\n");
	/* the hash limit: 128 accepted, 129 refused */
	{
		struct buf big = BUF_INIT(1 << 20);
		CHECK(buf_puts(&big, "c2sp.org/tlog-proof@v1\nindex 5\n") == 0);
		for (int i = 0; i < 128; i++)
			CHECK(buf_puts(&big, ROOT_B64 "\n") == 0);
		CHECK(buf_puts(&big, "\nnote\n") == 0);
		CHECK(tlog_proof_parse(big.data, big.len, &p) == 0 && p.nhashes == 128);
		buf_reset(&big);
		CHECK(buf_puts(&big, "c2sp.org/tlog-proof@v1\nindex 5\n") == 0);
		for (int i = 0; i < 129; i++)
			CHECK(buf_puts(&big, ROOT_B64 "\n") == 0);
		CHECK(buf_puts(&big, "\nnote\n") == 0);
		CHECK(tlog_proof_parse(big.data, big.len, &p) == ST_EINVAL);
		buf_release(&big);
	}
	/* formatting refuses what parsing would refuse */
	buf_reset(&b);
	CHECK(tlog_proof_format(1, NULL, 0, extra, 0, (const uint8_t *)note, nl, &b) == ST_EINVAL);
	CHECK(tlog_proof_format(1, NULL, 0, NULL, 0, (const uint8_t *)note, 0, &b) == ST_EINVAL);
	CHECK(tlog_proof_format(1, NULL, 129, NULL, 0, (const uint8_t *)note, nl, &b) == ST_EINVAL);
	CHECK(tlog_proof_format(1, NULL, 0, extra, 4097, (const uint8_t *)note, nl, &b) == ST_EINVAL);
	CHECK(b.len == 0);
	buf_release(&b);
	buf_release(&b2);
}

int main(void)
{
	test_names();
	test_keys();
	test_note_kat();
	test_note_sign();
	test_checkpoint();
	test_proof();
	return test_report("log/test_note");
}
