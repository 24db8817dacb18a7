/*
 * hash.h - SHA-256 and the RFC 6962 / RFC 9162 tree hashes.
 *
 * Leaf hash:  SHA-256(0x00 || entry)
 * Node hash:  SHA-256(0x01 || left || right)
 *
 * Backed by OpenSSL's SHA-256 (SHA-NI when the CPU has it), called through
 * its low-level interface with the context on the stack: thread-safe,
 * no allocation, never fails.
 */
#ifndef SEALTRAIL_COMMON_HASH_H
#define SEALTRAIL_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SIZE 32

void sha256(const void *data, size_t len, uint8_t out[HASH_SIZE]);
/* SHA-256 over the concatenation of up to three pieces (NULL/0 allowed). */
void sha256_3(const void *a, size_t alen, const void *b, size_t blen,
	      const void *c, size_t clen, uint8_t out[HASH_SIZE]);
void hash_leaf(const void *entry, size_t len, uint8_t out[HASH_SIZE]);
void hash_node(const uint8_t left[HASH_SIZE], const uint8_t right[HASH_SIZE],
	       uint8_t out[HASH_SIZE]);
/* SHA-256 of the empty string: the root of the empty tree. */
void hash_empty(uint8_t out[HASH_SIZE]);

/* HMAC-SHA-256 (RFC 2104) with the key's inner and outer pad blocks
 * absorbed once: a MAC of a short message then costs two compression
 * functions (with SHA-NI when the CPU has it). The state is plain bytes
 * (OpenSSL's context, opaque here); wipe it with st_wipe when done. */
struct hmac_sha256 {
	_Alignas(16) uint8_t in[128];
	_Alignas(16) uint8_t out[128];
};
/* key: at most 64 bytes (longer keys are not needed here: ST_EINVAL). */
int hmac_sha256_key(struct hmac_sha256 *k, const void *key, size_t len);
void hmac_sha256(const struct hmac_sha256 *k, const void *msg, size_t len,
		 uint8_t out[HASH_SIZE]);

#endif
