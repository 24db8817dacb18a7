/*
 * hash.c - SHA-256 through a reused per-thread OpenSSL EVP context.
 *
 * OpenSSL 3's one-shot SHA256() fetches the algorithm on every call; for a
 * 500-byte leaf that lookup is a large fraction of the work. A context is
 * created once per thread with the digest fetched once per process, and
 * EVP_DigestInit_ex2 resets it per hash. OpenSSL uses SHA-NI when present.
 */
#include "common/hash.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_MD *md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;        /* frees a thread's context at its exit */
static _Thread_local EVP_MD_CTX *tctx;

static void ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void md_init(void)
{
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&ctx_key, ctx_free) != 0)
		md = NULL;
}

static EVP_MD_CTX *ctx(void)
{
	if (tctx)
		return tctx;
	pthread_once(&md_once, md_init);
	tctx = EVP_MD_CTX_new();
	if (md && tctx)
		pthread_setspecific(ctx_key, tctx);
	if (!md || !tctx) {
		fputs("sealtrail: cannot initialise SHA-256\n", stderr);
		abort();
	}
	return tctx;
}

void sha256_3(const void *a, size_t alen, const void *b, size_t blen,
	      const void *c, size_t clen, uint8_t out[HASH_SIZE])
{
	EVP_MD_CTX *x = ctx();
	unsigned int n = 0;

	if (EVP_DigestInit_ex2(x, md, NULL) != 1)
		abort();
	if (alen)
		EVP_DigestUpdate(x, a, alen);
	if (blen)
		EVP_DigestUpdate(x, b, blen);
	if (clen)
		EVP_DigestUpdate(x, c, clen);
	if (EVP_DigestFinal_ex(x, out, &n) != 1 || n != HASH_SIZE)
		abort();
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
