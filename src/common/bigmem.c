/*
 * bigmem.c - large anonymous regions on huge pages (see bigmem.h).
 */
#include "common/bigmem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

size_t big_size(size_t n)
{
	return n >= BIGMEM_HUGE ? (n + BIGMEM_HUGE - 1) & ~(BIGMEM_HUGE - 1) : n;
}

void *big_alloc(size_t n)
{
	size_t len = big_size(n), extra = len >= BIGMEM_HUGE ? BIGMEM_HUGE : 0;
	uint8_t *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (extra) {
		uintptr_t a = ((uintptr_t)p + BIGMEM_HUGE - 1) & ~(uintptr_t)(BIGMEM_HUGE - 1);
		size_t head = (size_t)(a - (uintptr_t)p);
		if (head)
			munmap(p, head);
		if (extra - head)
			munmap((uint8_t *)a + len, extra - head);
		p = (uint8_t *)a;
#ifdef MADV_HUGEPAGE
		(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	}
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return p;
#endif
	memset(p, 0, len);      /* older kernels: touch every page */
	return p;
}

void big_free(void *p, size_t n)
{
	if (p)
		munmap(p, big_size(n));
}
