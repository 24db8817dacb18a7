/*
 * note.c - Ed25519 keys and C2SP signed notes (c2sp.org/signed-note).
 *
 * Invariants:
 *  - Every note this file signs is accepted by note_open() with the same
 *    key and by Go's golang.org/x/mod/sumdb/note.Open (the conformance
 *    test checks both directions).
 *  - Parsers are strict and total: any byte string either parses into
 *    exactly one value or is refused with ST_EINVAL, without reading past
 *    len. Key ids are always recomputed from name and public key and must
 *    match the id written in the text.
 *  - A signer key's seed never outlives the call that needed it outside
 *    struct note_key: every temporary that held a seed or secret key is
 *    wiped with st_wipe() on every path, and note_key_clear() wipes the
 *    whole key.
 *  - note_open() verifies every signature line by a known key (name and
 *    id both match), not just the first, and fails with ST_ESIG if any of
 *    them does not verify or if no known key signed.
 *  - Output parameters (ret) are written only on success; appends to a
 *    struct buf either append everything or leave the buffer unchanged.
 */
#include "log/note.h"

#include <sodium.h>
#include <string.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/util.h"

#define ALG_ED25519 0x01
#define ED25519_SIG 64
/* "— " : U+2014 EM DASH in UTF-8, then a space. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4
/* base64 of 4-byte id || 64-byte Ed25519 signature */
#define SIG_B64_LEN BASE64_LEN(4 + ED25519_SIG)

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- UTF-8 and names ------------------------------------------------ */

/*
 * Decodes one UTF-8 sequence at s[*i] (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), advances *i and returns the code
 * point, or -1 for an invalid or truncated sequence. Matches Go's
 * utf8.DecodeRune on every input that Go does not map to RuneError.
 */
static long utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	size_t p = *i;
	uint8_t c = s[p];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t need;
	long cp;

	if (c < 0x80) {
		*i = p + 1;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		return -1;
	}
	if (n - p - 1 < need)
		return -1;
	for (size_t k = 1; k <= need; k++) {
		uint8_t b = s[p + k];
		if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			return -1;
		cp = cp << 6 | (b & 0x3f);
	}
	*i = p + 1 + need;
	return cp;
}

/* Unicode White_Space, as Go's unicode.IsSpace sees it. */
static bool is_space(long cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 ||
	       cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
	       cp == 0x3000;
}

bool note_text_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		long cp = utf8_next(s, n, &i);
		if (cp < 0 || (cp < 0x20 && cp != '\n'))
			return false;
	}
	return true;
}

/*
 * A key name as the spec defines it (non-empty, UTF-8, no Unicode space,
 * no '+'), and additionally no ASCII control character (so no NUL, which
 * a C string could not carry). No length limit: signature lines by
 * unknown keys may carry longer names than struct note_key can hold.
 */
static bool name_ok(const char *name, size_t len)
{
	const uint8_t *s = (const uint8_t *)name;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len;) {
		long cp = utf8_next(s, len, &i);
		if (cp < 0x20 || cp == '+' || is_space(cp))
			return false;
	}
	return true;
}

bool note_name_valid(const char *name, size_t len)
{
	return len <= NOTE_NAME_MAX && name_ok(name, len);
}

static size_t key_name_len(const struct note_key *k)
{
	return strnlen(k->name, sizeof(k->name));
}

/* ---- keys ----------------------------------------------------------- */

uint32_t note_key_id(const char *name, const uint8_t pub[32])
{
	static const uint8_t sep[2] = { '\n', ALG_ED25519 };
	uint8_t h[HASH_SIZE];

	sha256_3(name, strlen(name), sep, sizeof(sep), pub, 32, h);
	return get_be32(h);
}

/* Fills *k from a name and a 32-byte seed. The caller wipes seed. */
static void key_from_seed(struct note_key *k, const char *name, size_t len,
			  const uint8_t seed[32])
{
	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, len);
	crypto_sign_ed25519_seed_keypair(k->pub, k->sec, seed);
	k->has_secret = true;
	k->id = note_key_id(k->name, k->pub);
}

int note_key_generate(const char *name, struct note_key *ret)
{
	size_t len = strnlen(name, NOTE_NAME_MAX + 1);
	uint8_t seed[32];
	struct note_key k;
	int r;

	if (!note_name_valid(name, len))
		return ST_EINVAL;
	r = random_bytes(seed, sizeof(seed));
	if (r < 0)
		goto out_wipe;
	key_from_seed(&k, name, len, seed);
	*ret = k;
	r = 0;
	st_wipe(&k, sizeof(k));
out_wipe:
	st_wipe(seed, sizeof(seed));
	return r;
}

void note_key_clear(struct note_key *k)
{
	if (k)
		st_wipe(k, sizeof(*k));
}

/*
 * Appends prefix, name, "+", 8 hex digits, "+", base64(0x01 || key32).
 * Reserves the whole length first so that the buffer never reallocates
 * while it holds key material (a realloc would leave a copy of a seed in
 * freed memory) and so that a failure leaves it unchanged.
 */
static int key_text_format(const char *prefix, const struct note_key *k,
			   const uint8_t key32[32], struct buf *out)
{
	uint8_t raw[33];
	char b64[BASE64_LEN(33) + 1];
	char hex[9];
	size_t nlen = key_name_len(k), plen = strlen(prefix);
	int r;

	if (!note_name_valid(k->name, nlen))
		return ST_EINVAL;
	r = buf_reserve(out, plen + nlen + 1 + 8 + 1 + BASE64_LEN(33));
	if (r < 0)
		return r;
	raw[0] = ALG_ED25519;
	memcpy(raw + 1, key32, 32);
	base64_encode(raw, sizeof(raw), b64);
	for (int i = 0; i < 8; i++)
		hex[i] = "0123456789abcdef"[(k->id >> (28 - 4 * i)) & 15];
	hex[8] = 0;
	/* Cannot fail: the room is reserved. */
	buf_append(out, prefix, plen);
	buf_append(out, k->name, nlen);
	buf_putc(out, '+');
	buf_append(out, hex, 8);
	buf_putc(out, '+');
	buf_append(out, b64, BASE64_LEN(33));
	st_wipe(raw, sizeof(raw));
	st_wipe(b64, sizeof(b64));
	return 0;
}

int note_vkey_format(const struct note_key *k, struct buf *out)
{
	return key_text_format("", k, k->pub, out);
}

int note_skey_format(const struct note_key *k, struct buf *out)
{
	if (!k->has_secret)
		return ST_EINVAL;
	/* libsodium's secret key is seed || pub: the seed is its first half. */
	return key_text_format("PRIVATE+KEY+", k, k->sec, out);
}

/*
 * Splits "name+hhhhhhhh+base64" and decodes it: name valid, exactly 8
 * lowercase hex digits, base64 of exactly 33 bytes starting with 0x01.
 * The caller wipes key33 (it may hold a seed).
 */
static int key_text_split(const char *s, size_t len, size_t *ret_nlen,
			  uint32_t *ret_id, uint8_t key33[33])
{
	const char *p1 = memchr(s, '+', len), *p2;
	uint32_t id = 0;
	size_t nlen;

	if (!p1)
		return ST_EINVAL;
	nlen = (size_t)(p1 - s);
	if (!note_name_valid(s, nlen))
		return ST_EINVAL;
	if (len - nlen - 1 < 9)
		return ST_EINVAL;
	p1++;
	p2 = p1 + 8;
	if (*p2 != '+')
		return ST_EINVAL;
	for (int i = 0; i < 8; i++) {
		char c = p1[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return ST_EINVAL;
		id = id << 4 | d;
	}
	p2++;
	if (base64_decode(p2, len - (size_t)(p2 - s), key33, 33) != 33 ||
	    key33[0] != ALG_ED25519)
		return ST_EINVAL;
	*ret_nlen = nlen;
	*ret_id = id;
	return 0;
}

int note_vkey_parse(const char *s, size_t len, struct note_key *ret)
{
	struct note_key k;
	uint8_t raw[33];
	uint32_t id;
	size_t nlen;
	int r;

	r = key_text_split(s, len, &nlen, &id, raw);
	if (r < 0)
		return r;
	memset(&k, 0, sizeof(k));
	memcpy(k.name, s, nlen);
	memcpy(k.pub, raw + 1, 32);
	k.id = note_key_id(k.name, k.pub);
	if (k.id != id)
		return ST_EINVAL;
	*ret = k;
	return 0;
}

int note_skey_parse(const char *s, size_t len, struct note_key *ret)
{
	static const char prefix[] = "PRIVATE+KEY+";
	const size_t plen = sizeof(prefix) - 1;
	struct note_key k;
	uint8_t raw[33];
	uint32_t id;
	size_t nlen;
	int r;

	if (len < plen || memcmp(s, prefix, plen) != 0)
		return ST_EINVAL;
	r = key_text_split(s + plen, len - plen, &nlen, &id, raw);
	if (r < 0)
		goto out_wipe;
	key_from_seed(&k, s + plen, nlen, raw + 1);
	if (k.id != id) {
		r = ST_EINVAL;
		goto out_wipe_key;
	}
	*ret = k;
	r = 0;
out_wipe_key:
	st_wipe(&k, sizeof(k));
out_wipe:
	st_wipe(raw, sizeof(raw));
	return r;
}

/* ---- signing -------------------------------------------------------- */

int note_sign(const struct note_key *k, const char *text, size_t len,
	      struct buf *out)
{
	uint8_t raw[4 + ED25519_SIG];
	char b64[SIG_B64_LEN + 1];
	size_t nlen = key_name_len(k), total;
	int r;

	if (!k->has_secret || !note_name_valid(k->name, nlen))
		return ST_EINVAL;
	if (len == 0 || text[len - 1] != '\n' ||
	    !note_text_valid((const uint8_t *)text, len))
		return ST_EINVAL;
	total = len + 1 + SIG_PREFIX_LEN + nlen + 1 + SIG_B64_LEN + 1;
	if (len > NOTE_MAX_SIZE || total > NOTE_MAX_SIZE)
		return ST_ELIMIT;
	put_be32(raw, k->id);
	crypto_sign_ed25519_detached(raw + 4, NULL, (const uint8_t *)text, len,
				     k->sec);
	/*
	 * Verify before releasing: catches a key whose pub does not match
	 * its secret half (the id is computed from pub), and faults.
	 */
	if (crypto_sign_ed25519_verify_detached(raw + 4, (const uint8_t *)text,
						len, k->pub) != 0)
		return ST_ESIG;
	r = buf_reserve(out, total);
	if (r < 0)
		return r;
	base64_encode(raw, sizeof(raw), b64);
	buf_append(out, text, len);
	buf_putc(out, '\n');
	buf_append(out, sig_prefix, SIG_PREFIX_LEN);
	buf_append(out, k->name, nlen);
	buf_putc(out, ' ');
	buf_append(out, b64, SIG_B64_LEN);
	buf_putc(out, '\n');
	return 0;
}

/* ---- opening -------------------------------------------------------- */

/*
 * Validates a base64 string of any length without allocating, keeping
 * the first cap decoded bytes in head. Returns the decoded length or -1.
 * Same acceptance as base64_decode(): padding only at the very end,
 * zero trailing bits.
 */
static long b64_scan(const char *s, size_t n, uint8_t *head, size_t cap)
{
	size_t total = 0;

	if (n == 0 || n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint8_t q[3];
		bool last = i + 4 == n;
		long m;

		if (!last && memchr(s + i, '=', 4))
			return -1;
		m = base64_decode(s + i, 4, q, sizeof(q));
		if (m < 0)
			return -1;
		for (long j = 0; j < m; j++, total++)
			if (total < cap)
				head[total] = q[j];
	}
	return (long)total;
}

/* Index of the first key with this name and id, or nkeys. */
static size_t find_key(const struct note_key *keys, size_t nkeys,
		       const char *name, size_t nlen, uint32_t id)
{
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].id == id && key_name_len(&keys[i]) == nlen &&
		    memcmp(keys[i].name, name, nlen) == 0)
			return i;
	return nkeys;
}

int note_open(const uint8_t *msg, size_t len, const struct note_key *keys,
	      size_t nkeys, struct note_opened *ret)
{
	size_t split, pos, nsigs = 0, verified = nkeys;
	bool bad = false;

	if (len > NOTE_MAX_SIZE || !note_text_valid(msg, len))
		return ST_EINVAL;
	/* The text ends at the last empty line: find the last "\n\n". */
	for (split = len; split >= 2; split--)
		if (msg[split - 1] == '\n' && msg[split - 2] == '\n')
			break;
	if (split < 2)
		return ST_EINVAL;
	/* msg[split-2] ends the text, msg[split-1] is the empty line. */
	pos = split;
	if (pos == len || msg[len - 1] != '\n')
		return ST_EINVAL;
	while (pos < len) {
		const uint8_t *line = msg + pos;
		const uint8_t *nl = memchr(line, '\n', len - pos);
		size_t llen = (size_t)(nl - line), nlen;
		const char *name, *sp, *b64;
		uint8_t head[4 + ED25519_SIG];
		long slen;
		uint32_t id;
		size_t ki;

		pos += llen + 1;
		if (++nsigs > NOTE_MAX_SIGS)
			return ST_EINVAL;
		if (llen < SIG_PREFIX_LEN ||
		    memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
			return ST_EINVAL;
		name = (const char *)line + SIG_PREFIX_LEN;
		sp = memchr(name, ' ', llen - SIG_PREFIX_LEN);
		if (!sp)
			return ST_EINVAL;
		nlen = (size_t)(sp - name);
		b64 = sp + 1;
		if (!name_ok(name, nlen))
			return ST_EINVAL;
		slen = b64_scan(b64, (size_t)((const char *)nl - b64), head,
				sizeof(head));
		if (slen < 5)
			return ST_EINVAL;
		id = get_be32(head);
		ki = find_key(keys, nkeys, name, nlen, id);
		if (ki == nkeys || bad)
			continue; /* unknown key, or already failed */
		if (slen != 4 + ED25519_SIG ||
		    crypto_sign_ed25519_verify_detached(head + 4, msg, split - 1,
							keys[ki].pub) != 0) {
			bad = true;
			continue;
		}
		if (ki < verified)
			verified = ki;
	}
	if (bad || verified == nkeys)
		return ST_ESIG;
	ret->text = (const char *)msg;
	ret->text_len = split - 1;
	ret->verified = verified;
	ret->nsigs = nsigs;
	return 0;
}
