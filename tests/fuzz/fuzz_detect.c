/*
 * fuzz_detect.c - detect_scan() and the Kubernetes Secret rules over
 * arbitrary bytes.
 *
 * The first two bytes are the detector mask (little endian), the rest is
 * the value. Beyond "no crash, no sanitizer report, no read past n" it
 * checks detect_scan's promises: hits in order, inside the value, never
 * overlapping, never empty, only of enabled detectors (never
 * k8s_secret); the count independent of cap, and a capped array a prefix
 * of the full one; the same answer twice (no hidden state); every
 * prefix of the value scanned too (values cut anywhere must not make
 * the scanner read past their end).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 256

static void check(const char *v, size_t n, uint32_t mask)
{
	static struct det_hit a[CAP], b[CAP];
	size_t na = detect_scan(v, n, mask, a, CAP);
	size_t nb = detect_scan(v, n, mask, b, 3);
	size_t end = 0;

	if (na != nb || detect_scan(v, n, mask, NULL, 0) != na)
		abort();
	if (memcmp(a, b, (na < 3 ? na : 3) * sizeof(a[0])) != 0)
		abort();
	for (size_t x = 0; x < na && x < CAP; x++) {
		if (a[x].det >= DET_K8S_SECRET || !(mask & DET_BIT(a[x].det)))
			abort();
		if (a[x].len == 0 || a[x].off < end || (size_t)a[x].off + a[x].len > n)
			abort();
		end = (size_t)a[x].off + a[x].len;
	}
	if (detect_scan(v, n, mask, b, CAP) != na || memcmp(a, b, (na < CAP ? na : CAP) * sizeof(a[0])) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t mask;
	const char *v;
	size_t n;

	if (size < 2)
		return 0;
	mask = (uint32_t)data[0] | (uint32_t)data[1] << 8;
	v = (const char *)data + 2;
	n = size - 2;
	/* An exact copy, so ASan sees the value's real end. */
	char *copy = malloc(n ? n : 1);
	if (!copy)
		abort();
	memcpy(copy, v, n);
	check(copy, n, mask);
	check(copy, n, DET_ALL);
	if (n <= 512)
		for (size_t k = 0; k < n; k++)
			check(copy, k, mask);
	(void)detect_k8s_secret_path(copy, n);
	(void)detect_k8s_secret_event(copy, n, copy, n);
	(void)detector_by_name(copy, n);
	free(copy);
	return 0;
}
