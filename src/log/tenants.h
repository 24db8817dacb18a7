/*
 * tenants.h - the per-tenant hash chains: for each tenant, its last tseq
 * and the leaf hash of its last entry. An open-addressing table with
 * inline keys; used by the writer (to stamp tseq/tprev), by recovery and
 * by verify (to check every chain).
 */
#ifndef SEALTRAIL_LOG_TENANTS_H
#define SEALTRAIL_LOG_TENANTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"

#define TENANT_NAME_MAX 64

struct tenant {
	uint8_t len;                 /* 0: empty slot */
	char name[TENANT_NAME_MAX];
	uint64_t tseq;               /* of the tenant's last entry (first entry has tseq 1) */
	uint8_t last[HASH_SIZE];     /* leaf hash of the last entry; zeros before the first */
};

struct tenants {
	struct tenant *slots;
	size_t cap;                  /* power of two */
	size_t count;
	size_t max;                  /* most tenants allowed */
};

void tenants_init(struct tenants *t, size_t max);
void tenants_release(struct tenants *t);
/* Finds or inserts name. NULL with *err = ST_ETENANTS (too many tenants),
 * ST_ELIMIT (name too long) or -ENOMEM. A new tenant has tseq 0 and zero hash. */
struct tenant *tenants_get(struct tenants *t, const char *name, size_t len,
			   int *err);
/* Visits every tenant (order unspecified). */
#define tenants_foreach(t, it) \
	for (struct tenant *it = (t)->slots; it && it < (t)->slots + (t)->cap; it++) \
		if (it->len)

#endif
