/*
 * test.h - the smallest possible unit-test harness. CHECK records a failure
 * with its place and carries on; TEST_MAIN prints "N passed, N failed" and
 * exits non-zero when anything failed.
 */
#ifndef SEALTRAIL_TEST_H
#define SEALTRAIL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond) do { \
	if (cond) { test_passed++; } else { test_failed++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
	} while (0)
#define CHECK_MSG(cond, ...) do { \
	if (cond) { test_passed++; } else { test_failed++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
	} while (0)
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline int test_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
