/*
 * test_common.c - known answers for the common helpers: CRC-32C, SHA-256
 * and the RFC 6962 hashes, base64/hex strictness, RFC 3339, UUIDv7, the
 * bounded buffer and read_file's limit.
 */
#include "test.h"

#include "common/buf.h"
#include "common/codec.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "common/uuid.h"

#include <stdlib.h>
#include <unistd.h>

static void test_crc(void)
{
	/* RFC 3720 appendix B.4 and the usual check value. */
	CHECK(crc32c(0, "123456789", 9) == 0xE3069283u);
	uint8_t zeros[32] = {0}, ones[32];
	memset(ones, 0xff, sizeof(ones));
	CHECK(crc32c(0, zeros, 32) == 0x8A9136AAu);
	CHECK(crc32c(0, ones, 32) == 0x62A8AB43u);
	/* Continuation equals one pass. */
	CHECK(crc32c(crc32c(0, "12345", 5), "6789", 4) == 0xE3069283u);
}

static void test_sha(void)
{
	uint8_t h[HASH_SIZE];
	char hex[65];
	hash_empty(h);
	hex_encode(h, HASH_SIZE, hex);
	CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	sha256("abc", 3, h);
	hex_encode(h, HASH_SIZE, hex);
	CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	/* RFC 6962 leaf of the empty entry: SHA-256(0x00). */
	hash_leaf("", 0, h);
	hex_encode(h, HASH_SIZE, hex);
	CHECK(!strcmp(hex, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
}

static void test_base64(void)
{
	static const struct { const char *raw, *enc; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char out[32];
		uint8_t dec[32];
		base64_encode((const uint8_t *)v[i].raw, strlen(v[i].raw), out);
		CHECK_MSG(!strcmp(out, v[i].enc), "encode %s", v[i].raw);
		long n = base64_decode(v[i].enc, strlen(v[i].enc), dec, sizeof(dec));
		CHECK(n == (long)strlen(v[i].raw) && !memcmp(dec, v[i].raw, (size_t)n));
	}
	static const char *bad[] = { "Zg=", "Zh==", "Zm9=", "Z===", "Zm 9", "Zm9v\n",
				     "=Zm9", "Zm=v", "Zg==Zg==", "Zm9-", "Zm9_" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t dec[32];
		CHECK_MSG(base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)) < 0,
			  "accepted bad base64 \"%s\"", bad[i]);
	}
	uint8_t small[2];
	CHECK(base64_decode("Zm9v", 4, small, sizeof(small)) < 0);
	uint8_t hx[2];
	CHECK(hex_decode("aB0f", 4, hx, 2) && hx[0] == 0xab && hx[1] == 0x0f);
	CHECK(!hex_decode("ag00", 4, hx, 2));
	CHECK(!hex_decode("abc", 3, hx, 2));
}

static void test_time(void)
{
	int64_t ns;
	char out[RFC3339_US_LEN + 1];
	CHECK(rfc3339_parse("1970-01-01T00:00:00Z", 20, &ns) && ns == 0);
	CHECK(rfc3339_parse("2026-11-27T22:10:17.123456789Z", 30, &ns) &&
	      ns == 1795817417123456789LL);
	CHECK(rfc3339_parse("2026-11-28T00:10:17.123456789+02:00", 35, &ns) &&
	      ns == 1795817417123456789LL);
	CHECK(rfc3339_parse("2026-11-27t22:10:17z", 20, &ns));
	CHECK(rfc3339_parse("2024-02-29T00:00:00Z", 20, &ns));
	CHECK(rfc3339_parse("2016-12-31T23:59:60Z", 20, &ns)); /* leap second */
	CHECK(rfc3339_parse("2262-04-11T00:00:00Z", 20, &ns) && ns > 0);
	CHECK(rfc3339_parse("1678-01-01T00:00:00Z", 20, &ns) && ns < 0);
	static const char *bad[] = {
		"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z",
		"2026-11-27 22:10:17Z", "2026-11-27T24:00:00Z", "2026-11-27T22:10:17",
		"2026-11-27T22:10:17.Z", "2026-11-27T22:10:17+0200", "2026-11-27T22:10:17+24:00",
		"26-11-27T22:10:17Z", "2026-11-27T22:10:17Zjunk", "",
		"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2262-04-12T00:00:00Z",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_MSG(!rfc3339_parse(bad[i], strlen(bad[i]), &ns), "accepted \"%s\"", bad[i]);
	rfc3339_format_us(1795817417123456789LL, out);
	CHECK(!strcmp(out, "2026-11-27T22:10:17.123456Z"));
	rfc3339_format_us(0, out);
	CHECK(!strcmp(out, "1970-01-01T00:00:00.000000Z"));
}

static void test_uuid(void)
{
	char a[UUID_STR_LEN + 1], b[UUID_STR_LEN + 1];
	CHECK(uuidv7_format(0x0123456789abull, a) == 0);
	CHECK(uuidv7_format(0x0123456789abull, b) == 0);
	CHECK(strlen(a) == 36 && a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(!strncmp(a, "01234567-89ab-7", 15));
	CHECK(strchr("89ab", a[19]) != NULL);
	CHECK(strcmp(a, b) != 0);
}

static void test_buf(void)
{
	struct buf b = BUF_INIT(10);
	CHECK(buf_append(&b, "0123456789", 10) == 0);
	CHECK(buf_putc(&b, 'x') == ST_ELIMIT && b.len == 10);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "0123456789"));
	buf_release(&b);
	buf_release(&b); /* twice is fine */

	char path[] = "/tmp/st-common-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write_all(fd, "hello world", 11) == 0);
	close(fd);
	struct buf r = BUF_INIT(100);
	CHECK(read_file(path, 11, &r) == 0 && r.len == 11);
	buf_reset(&r);
	CHECK(read_file(path, 10, &r) == ST_ELIMIT && r.len == 0);
	struct buf tiny = BUF_INIT(11);
	CHECK(read_file(path, 11, &tiny) == 0 && tiny.len == 11);
	buf_release(&tiny);
	buf_release(&r);
	unlink(path);
	uint64_t v;
	CHECK(st_parse_u64("18446744073709551615", 20, &v) && v == UINT64_MAX);
	CHECK(!st_parse_u64("18446744073709551616", 20, &v));
	CHECK(!st_parse_u64("012", 3, &v) && st_parse_u64("0", 1, &v) && v == 0);
	CHECK(!st_parse_u64("", 0, &v) && !st_parse_u64("+1", 2, &v));
	char d[21];
	CHECK(st_fmt_u64(d, 0) == 1 && d[0] == '0');
	CHECK(st_fmt_u64(d, UINT64_MAX) == 20 && !memcmp(d, "18446744073709551615", 20));
	CHECK(st_fmt_u64(d, 1000) == 4 && !memcmp(d, "1000", 4));
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than 64 bytes is refused
 * here), and agreement with libsodium's HMAC on a 32-byte key. */
static void test_hmac(void)
{
	static const struct { const char *key_hex, *msg, *mac_hex; } t[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t key[64], mac[HASH_SIZE], want[HASH_SIZE];
		size_t kl = strlen(t[i].key_hex) / 2;
		struct hmac_sha256 k;
		CHECK(hex_decode(t[i].key_hex, 2 * kl, key, kl));
		CHECK(hex_decode(t[i].mac_hex, 64, want, HASH_SIZE));
		CHECK(hmac_sha256_key(&k, key, kl) == 0);
		hmac_sha256(&k, t[i].msg, strlen(t[i].msg), mac);
		CHECK_MSG(!memcmp(mac, want, HASH_SIZE), "RFC 4231 case %zu", i);
		/* the precomputed state is reusable */
		hmac_sha256(&k, t[i].msg, strlen(t[i].msg), mac);
		CHECK(!memcmp(mac, want, HASH_SIZE));
	}
	uint8_t big[65] = { 0 };
	struct hmac_sha256 k;
	CHECK(hmac_sha256_key(&k, big, sizeof(big)) == ST_EINVAL);
}

int main(void)
{
	test_hmac();
	test_crc();
	test_sha();
	test_base64();
	test_time();
	test_uuid();
	test_buf();
	return test_report("common");
}
