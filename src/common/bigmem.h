/*
 * bigmem.h - large anonymous regions, pre-faulted, on huge pages where the
 * kernel gives them.
 *
 * For tables that are read and written at random (hash tables, filters,
 * arenas of hash-table entries): with 4 KiB pages every probe of a table
 * larger than the TLB's reach also walks the page tables. Regions of
 * 2 MiB or more are aligned to 2 MiB and asked for transparent huge pages
 * (madvise: Debian's default THP mode honours it). The memory is zeroed.
 */
#ifndef SEALTRAIL_COMMON_BIGMEM_H
#define SEALTRAIL_COMMON_BIGMEM_H

#include <stddef.h>

#define BIGMEM_HUGE ((size_t)2 << 20)

/* The size big_alloc(n) maps: n, rounded up to 2 MiB from 2 MiB on. */
size_t big_size(size_t n);

/* n zeroed bytes, pre-faulted; NULL when out of memory. */
void *big_alloc(size_t n);

/* Frees what big_alloc(n) returned (NULL is fine). */
void big_free(void *p, size_t n);

#endif
