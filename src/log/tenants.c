/*
 * tenants.c - open addressing with linear probing; load factor <= 1/2.
 */
#include "log/tenants.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tenants_init(struct tenants *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

void tenants_release(struct tenants *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static struct tenant *probe(struct tenant *slots, size_t cap, const char *name,
			    size_t len)
{
	size_t i = (size_t)fnv(name, len) & (cap - 1);
	for (;;) {
		struct tenant *s = &slots[i];
		if (!s->len || (s->len == len && memcmp(s->name, name, len) == 0))
			return s;
		i = (i + 1) & (cap - 1);
	}
}

static int grow(struct tenants *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	struct tenant *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct tenant *o = &t->slots[i];
		if (o->len)
			*probe(ns, ncap, o->name, o->len) = *o;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

struct tenant *tenants_get(struct tenants *t, const char *name, size_t len,
			   int *err)
{
	struct tenant *s;

	if (len == 0 || len > TENANT_NAME_MAX) {
		*err = ST_ELIMIT;
		return NULL;
	}
	if (t->cap) {
		s = probe(t->slots, t->cap, name, len);
		if (s->len)
			return s;
	}
	if (t->count >= t->max) {
		*err = ST_ETENANTS;
		return NULL;
	}
	if ((t->count + 1) * 2 > t->cap) {
		int r = grow(t);
		if (r < 0) {
			*err = r;
			return NULL;
		}
	}
	s = probe(t->slots, t->cap, name, len);
	memset(s, 0, sizeof(*s));
	s->len = (uint8_t)len;
	memcpy(s->name, name, len);
	t->count++;
	return s;
}
