/*
 * hash.c - SHA-256 through OpenSSL's low-level SHA256_* functions.
 *
 * OpenSSL 3 marks SHA256_Init/Update/Final deprecated in favour of EVP,
 * but on this hot path (a leaf hash per entry, a node hash per entry) the
 * EVP dispatch costs 10-25%: 0.508 us against 0.457 us for a 740-byte leaf
 * and 0.122 us against 0.092 us for a 65-byte node, on the project's
 * 2-core AMD EPYC machine (docs/DECISIONS.md). Both use SHA-NI when the
 * CPU has it. The context lives on the stack: no allocation, no state
 * shared between threads.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/hash.h"

#include <openssl/sha.h>
#include <string.h>

#include "common/util.h"

void sha256_3(const void *a, size_t alen, const void *b, size_t blen,
	      const void *c, size_t clen, uint8_t out[HASH_SIZE])
{
	SHA256_CTX x;

	SHA256_Init(&x);
	if (alen)
		SHA256_Update(&x, a, alen);
	if (blen)
		SHA256_Update(&x, b, blen);
	if (clen)
		SHA256_Update(&x, c, clen);
	SHA256_Final(out, &x);
}

void sha256(const void *data, size_t len, uint8_t out[HASH_SIZE])
{
	sha256_3(data, len, NULL, 0, NULL, 0, out);
}

void hash_leaf(const void *entry, size_t len, uint8_t out[HASH_SIZE])
{
	static const uint8_t zero = 0x00;
	sha256_3(&zero, 1, entry, len, NULL, 0, out);
}

void hash_node(const uint8_t left[HASH_SIZE], const uint8_t right[HASH_SIZE],
	       uint8_t out[HASH_SIZE])
{
	uint8_t blk[1 + 2 * HASH_SIZE];
	blk[0] = 0x01;
	memcpy(blk + 1, left, HASH_SIZE);
	memcpy(blk + 1 + HASH_SIZE, right, HASH_SIZE);
	sha256_3(blk, sizeof(blk), NULL, 0, NULL, 0, out);
}

void hash_empty(uint8_t out[HASH_SIZE])
{
	sha256_3(NULL, 0, NULL, 0, NULL, 0, out);
}

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct hmac_sha256 *)0)->in),
	       "struct hmac_sha256 holds an OpenSSL SHA256_CTX");

int hmac_sha256_key(struct hmac_sha256 *k, const void *key, size_t len)
{
	uint8_t pad[64];
	SHA256_CTX x;

	if (len > sizeof(pad))
		return ST_EINVAL;
	for (int which = 0; which < 2; which++) {
		memset(pad, which ? 0x5c : 0x36, sizeof(pad));
		for (size_t i = 0; i < len; i++)
			pad[i] ^= ((const uint8_t *)key)[i];
		SHA256_Init(&x);
		SHA256_Update(&x, pad, sizeof(pad));
		memcpy(which ? k->out : k->in, &x, sizeof(x));
	}
	st_wipe(pad, sizeof(pad));
	st_wipe(&x, sizeof(x));
	return 0;
}

void hmac_sha256(const struct hmac_sha256 *k, const void *msg, size_t len,
		 uint8_t out[HASH_SIZE])
{
	SHA256_CTX x;
	uint8_t inner[HASH_SIZE];

	memcpy(&x, k->in, sizeof(x));
	SHA256_Update(&x, msg, len);
	SHA256_Final(inner, &x);
	memcpy(&x, k->out, sizeof(x));
	SHA256_Update(&x, inner, sizeof(inner));
	SHA256_Final(out, &x);
	st_wipe(&x, sizeof(x));
}
