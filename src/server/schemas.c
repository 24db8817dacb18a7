/*
 * schemas.c - the schema-validation metric (docs/OPERATIONS.md,
 * docs/QUARANTINE.md): validations counted by schema, producer and result,
 * so a pass rate per schema and per producer can be computed.
 *
 * Label cardinality is bounded: at most SCHEMA_STATS_MAX (schema,
 * producer) pairs get their own series; later pairs are counted together
 * under schema="_other",producer="_other" so a producer inventing schema
 * names (or an operator minting thousands of tokens) cannot grow the
 * scrape without bound. Schema refs and token names are both from
 * restricted alphabets (registry.h, token.h), so they are label-safe.
 *
 * The HTTP handlers of the registry and the quarantine live beside the
 * ingest path in api.c, since the quarantine's entries and its resubmit
 * use the ingest request's internals (see DECISIONS 28).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/server.h"

#define SCHEMA_STATS_MAX 256
#define SLOTS 512                 /* open addressing, at most half full */
#define REF_MAX 80
#define PRODUCER_MAX 80

struct sstat {
	char ref[REF_MAX];
	char producer[PRODUCER_MAX];
	uint64_t n[3];                /* enum schema_result */
};

struct schema_stats {
	pthread_mutex_t mu;
	struct sstat *slot[SLOTS];
	struct sstat *order[SCHEMA_STATS_MAX];   /* first-seen order, for rendering */
	size_t n;
	uint64_t other[3];
};

int schema_stats_new(struct schema_stats **ret)
{
	struct schema_stats *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	*ret = t;
	return 0;
}

void schema_stats_free(struct schema_stats *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->order[i]);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static uint32_t fnv(const char *a, const char *b)
{
	uint32_t h = 2166136261u;
	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (; *b; b++)
		h = (h ^ (uint8_t)*b) * 16777619u;
	return h;
}

void schema_stats_count(struct schema_stats *t, const char *ref, const char *producer,
			enum schema_result res)
{
	schema_stats_add(t, ref, producer, res, 1);
}

void schema_stats_add(struct schema_stats *t, const char *ref, const char *producer,
		      enum schema_result res, uint64_t n)
{
	if (!t || res > SCHEMA_UNKNOWN)
		return;
	pthread_mutex_lock(&t->mu);
	uint32_t h = fnv(ref, producer) % SLOTS;
	struct sstat *e = NULL;
	for (uint32_t i = 0; i < SLOTS; i++, h = (h + 1) % SLOTS) {
		struct sstat *s = t->slot[h];
		if (!s)
			break;
		if (!strcmp(s->ref, ref) && !strcmp(s->producer, producer)) {
			e = s;
			break;
		}
	}
	if (!e && t->n < SCHEMA_STATS_MAX && strlen(ref) < REF_MAX && strlen(producer) < PRODUCER_MAX &&
	    (e = calloc(1, sizeof(*e)))) {
		snprintf(e->ref, sizeof(e->ref), "%s", ref);
		snprintf(e->producer, sizeof(e->producer), "%s", producer);
		t->slot[h] = e;     /* h is the empty slot the probe stopped at */
		t->order[t->n++] = e;
	}
	if (e)
		e->n[res] += n;
	else
		t->other[res] += n;
	pthread_mutex_unlock(&t->mu);
}

int schema_stats_render(struct schema_stats *t, struct buf *b)
{
	static const char *const names[3] = { "pass", "fail", "unknown" };
	int r = 0;

	if (!t)
		return 0;
	if ((r = buf_puts(b, "# HELP sealtrail_schema_checks_total Events validated against a schema, by "
			     "schema (name/version), producer (token name) and result (pass, fail, unknown: "
			     "not registered); at most 256 (schema, producer) pairs, the rest under _other.\n"
			     "# TYPE sealtrail_schema_checks_total counter\n")) < 0)
		return r;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n && r >= 0; i++)
		for (int k = 0; k < 3 && r >= 0; k++)
			if (t->order[i]->n[k] || k < 2)
				r = buf_printf(b, "sealtrail_schema_checks_total{schema=\"%s\",producer=\"%s\",result=\"%s\"} %llu\n",
					       t->order[i]->ref, t->order[i]->producer, names[k],
					       (unsigned long long)t->order[i]->n[k]);
	for (int k = 0; k < 3 && r >= 0; k++)
		if (t->other[k])
			r = buf_printf(b, "sealtrail_schema_checks_total{schema=\"_other\",producer=\"_other\",result=\"%s\"} %llu\n",
				       names[k], (unsigned long long)t->other[k]);
	pthread_mutex_unlock(&t->mu);
	return r < 0 ? r : 0;
}
