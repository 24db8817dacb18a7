/*
 * sampling.c - sampling of low-value event classes, and the signed
 * summaries that keep the capture rate computable (docs/SAMPLING.md).
 *
 * The policy names a class and a rate for some (tenant, action, outcome)
 * (policy_sample; critical events are never sampled). The decision is a
 * keyed hash of the event's (tenant, id) against the rate: a producer's
 * retry of a sampled-out event is sampled out again, never half kept.
 * Every decision is counted per (tenant, class, producer); at each
 * sample_summary_interval, and at the drain, every non-zero count becomes
 * one event in its tenant, `sealtrail.sampling.summary`, committed like
 * any (so signed by the next checkpoint): kept + sampled_out is what the
 * producer sent, and nobody can take sampling for loss.
 *
 * The table is bounded (SAMPLER_MAX entries); when it is full a summary
 * is written early and the table starts again.
 */
#include "server/server.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/util.h"

#define SAMPLER_MAX 4096
#define NAME_MAX_ 64

struct sample_ent {
	char tenant[NAME_MAX_ + 1], cls[NAME_MAX_ + 1], producer[LOG_PRODUCER_MAX + 1];
	double rate;
	uint64_t kept, out;
};

struct sampler {
	pthread_mutex_t mu;
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct sample_ent *v;
	size_t n;
	int64_t window_start_ns;     /* realtime */
};

int sampler_new(struct sampler **ret, const uint8_t policy_key[APPLY_KEY_BYTES])
{
	struct sampler *sm = calloc(1, sizeof(*sm));
	if (!sm || !(sm->v = calloc(SAMPLER_MAX, sizeof(*sm->v)))) {
		free(sm);
		return -ENOMEM;
	}
	/* the decision key: BLAKE2b(policy key; "sample") */
	crypto_generichash(sm->key, sizeof(sm->key), (const uint8_t *)"sample", 6, policy_key,
			   APPLY_KEY_BYTES);
	pthread_mutex_init(&sm->mu, NULL);
	sm->window_start_ns = now_realtime_ns();
	*ret = sm;
	return 0;
}

void sampler_free(struct sampler *sm)
{
	if (!sm)
		return;
	sodium_memzero(sm->key, sizeof(sm->key));
	pthread_mutex_destroy(&sm->mu);
	free(sm->v);
	free(sm);
}

bool sampler_keep(const struct sampler *sm, const char *tenant, size_t tl, const char *id,
		  size_t idl, double rate)
{
	uint8_t h[crypto_shorthash_BYTES], in[NAME_MAX_ + 1 + 256];
	uint64_t x;

	if (rate >= 1.0)
		return true;
	if (!id || idl == 0 || tl > NAME_MAX_ || idl > 256) {
		/* no id to be stable on (the server makes one): a fair coin */
		return (double)randombytes_random() / 4294967296.0 < rate;
	}
	memcpy(in, tenant, tl);
	in[tl] = 0;
	memcpy(in + tl + 1, id, idl);
	crypto_shorthash(h, in, tl + 1 + idl, sm->key);
	memcpy(&x, h, sizeof(x));
	/* x / 2^64 < rate, without floating the whole 64 bits */
	return (double)(x >> 11) * 0x1.0p-53 < rate;
}

static void put_name(char *dst, const char *s, size_t n, size_t cap)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* Writes every count as a summary event and empties the table; mu held. */
static void flush_locked(struct server *s, struct sampler *sm)
{
	char t0[RFC3339_US_LEN + 1], t1[RFC3339_US_LEN + 1], now[RFC3339_US_LEN + 1];
	int64_t end = now_realtime_ns();
	struct buf ev = BUF_INIT(4096);

	rfc3339_format_us(sm->window_start_ns, t0);
	rfc3339_format_us(end, t1);
	rfc3339_format_us(end, now);
	for (size_t i = 0; i < sm->n; i++) {
		const struct sample_ent *e = &sm->v[i];
		buf_reset(&ev);
		/* every name was checked when it was counted: tenant and class
		 * by their grammars, producer by log_producer_valid */
		if (buf_printf(&ev,
			       "{\"time\":\"%s\",\"tenant\":\"%s\",\"action\":\"sealtrail.sampling.summary\","
			       "\"actor\":{\"id\":\"sealtrail\",\"type\":\"server\"},"
			       "\"resource\":{\"type\":\"sample_class\",\"id\":\"%s\"},\"outcome\":\"success\","
			       "\"metadata\":{\"class\":\"%s\",\"producer\":\"%s\",\"rate\":%.6g,"
			       "\"kept\":%llu,\"sampled_out\":%llu,\"window_start\":\"%s\",\"window_end\":\"%s\"}}",
			       now, e->tenant, e->cls, e->cls, e->producer, e->rate,
			       (unsigned long long)e->kept, (unsigned long long)e->out, t0, t1) < 0 ||
		    server_event_submit(s, ev.data, ev.len, e->tenant) < 0) {
			stat_add(&s->st.sample_summaries_lost, 1);
			continue;
		}
		stat_add(&s->st.sample_summaries, 1);
	}
	buf_release(&ev);
	sm->n = 0;
	sm->window_start_ns = end;
}

void sampler_count(struct server *s, struct sampler *sm, const char *tenant, size_t tl,
		   const struct policy_sample *cls, const char *producer, bool kept)
{
	size_t cl = strlen(cls->cls), pl = strlen(producer);
	struct sample_ent *e = NULL;

	pthread_mutex_lock(&sm->mu);
	for (size_t i = 0; i < sm->n && !e; i++) {
		struct sample_ent *x = &sm->v[i];
		if (strlen(x->tenant) == tl && !memcmp(x->tenant, tenant, tl) && !strcmp(x->cls, cls->cls) &&
		    strlen(x->producer) == pl && !strcmp(x->producer, producer))
			e = x;
	}
	if (!e) {
		if (sm->n == SAMPLER_MAX)
			flush_locked(s, sm);
		e = &sm->v[sm->n++];
		put_name(e->tenant, tenant, tl, sizeof(e->tenant));
		put_name(e->cls, cls->cls, cl, sizeof(e->cls));
		put_name(e->producer, producer, pl, sizeof(e->producer));
		e->kept = e->out = 0;
	}
	e->rate = cls->rate;
	if (kept)
		e->kept++;
	else
		e->out++;
	pthread_mutex_unlock(&sm->mu);
}

void sampler_tick(struct server *s, struct sampler *sm, int64_t interval_ms, bool final)
{
	pthread_mutex_lock(&sm->mu);
	if (sm->n && (final || now_realtime_ns() - sm->window_start_ns >= interval_ms * 1000000LL))
		flush_locked(s, sm);
	pthread_mutex_unlock(&sm->mu);
}
