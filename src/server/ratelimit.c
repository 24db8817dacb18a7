/*
 * ratelimit.c - a token bucket per API token (keyed by its public id).
 *
 * Invariants: the table holds at most RL_MAX buckets (tokens are bounded
 * by TOKEN_RECORDS_MAX, so this only bites if ids churn); a full table is
 * cleared rather than grown, which can only grant a burst, never deny one.
 * One mutex: a take is a hash, a probe and a few flops.
 */
#include "server/server.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096          /* power of two */
#define RL_MAX (RL_SLOTS * 3 / 4)
#define RL_KEY_MAX 32

struct bucket {
	char key[RL_KEY_MAX];
	double level;          /* tokens available */
	int64_t last_ns;
};

struct ratelimit {
	pthread_mutex_t mu;
	size_t count;
	struct bucket slot[RL_SLOTS];
};

struct ratelimit *ratelimit_new(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl)
		pthread_mutex_init(&rl->mu, NULL);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static size_t hash_key(const char *k)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a: keys are server-made ids */
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ull;
	return (size_t)h & (RL_SLOTS - 1);
}

unsigned ratelimit_take(struct ratelimit *rl, const char *key, double rate, double burst,
			int64_t now_ns)
{
	unsigned wait = 0;

	if (rate <= 0)
		return 0;
	if (burst < 1)
		burst = rate * 2 < 1 ? 1 : rate * 2;
	pthread_mutex_lock(&rl->mu);
	size_t i = hash_key(key);
	while (rl->slot[i].key[0] && strncmp(rl->slot[i].key, key, RL_KEY_MAX - 1))
		i = (i + 1) & (RL_SLOTS - 1);
	struct bucket *b = &rl->slot[i];
	if (!b->key[0]) {
		if (rl->count >= RL_MAX) {
			memset(rl->slot, 0, sizeof(rl->slot));
			rl->count = 0;
			i = hash_key(key);
			b = &rl->slot[i];
		}
		snprintf(b->key, RL_KEY_MAX, "%s", key);
		b->level = burst;
		b->last_ns = now_ns;
		rl->count++;
	}
	double dt = (double)(now_ns - b->last_ns) / 1e9;
	if (dt > 0) {
		b->level += dt * rate;
		if (b->level > burst)
			b->level = burst;
		b->last_ns = now_ns;
	}
	if (b->level >= 1) {
		b->level -= 1;
	} else {
		double need = (1 - b->level) / rate;
		wait = (unsigned)ceil(need);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&rl->mu);
	return wait;
}
