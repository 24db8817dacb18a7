/*
 * verify.h - recompute everything from the bytes on disk and name the
 * first place that does not match.
 *
 * verify never writes and never repairs; it needs no lock and may run
 * while a writer appends (it then checks the prefix it saw).
 */
#ifndef SEALTRAIL_LOG_VERIFY_H
#define SEALTRAIL_LOG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct verify_options {
	/* Verifier keys the caller trusts (key texts). When none are given
	 * the log's own keys/public is used, which proves the log consistent
	 * with itself but not that an attacker did not re-sign it. */
	const char *const *keys;
	size_t nkeys;
	/* Signed checkpoints the caller holds (file paths): each must verify
	 * and match the recomputed tree at its size. */
	const char *const *trusted;
	size_t ntrusted;
	FILE *progress;              /* NULL: quiet */
};

struct verify_result {
	uint64_t entries;
	uint64_t bytes;              /* segment bytes read */
	uint64_t segments;
	uint64_t checkpoints;
	uint64_t tenants;
	uint64_t warnings;
	char warning[512];           /* the first warning */
	char error[1024];            /* the first mismatch: file, byte, seq */
};

/* Returns 0 when everything verifies, ST_ECORRUPT (or another negative
 * code for an I/O failure) with res->error naming the first problem. */
int log_verify(const char *dir, const struct verify_options *opt,
	       struct verify_result *res);

#endif
