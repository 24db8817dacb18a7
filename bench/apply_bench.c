/*
 * apply_bench.c - the ingest worker's per-event policy work, in process:
 * what `bash bench/policy.sh` pays per event on the server's worker
 * threads with docs/examples/policy.conf, without HTTP, the log or the
 * index, so that a change to the policy path can be timed to a few ns.
 *
 *   apply_bench SRC_DIR [N] [ROUNDS]
 *
 * N events (default 200,000) built like bench/loadgen's --mode ndjson
 * events (the same six actions, four actors, 3 of 4 with an email in
 * actor.id, an IP under a hash rule), parsed once into compact form. Then,
 * for each of ROUNDS rounds (default 5), the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: descheduling on a shared machine does not
 * count) of:
 *   parse     event_parse alone (for scale)
 *   apply     apply_event with the example policy
 *   schema    schema_validate of the events the policy binds to a schema
 *             (auth.** and k8s.**), with docs/examples/schemas/
 *   all       parse + apply + schema, as the ingest handler does them
 * and prints the best round and the median per phase, in ns per event, and
 * a digest of every output byte (the rewritten events, their `redacted`
 * members, criticality and sample class), so that two builds can be
 * checked to give the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evgen.h"

#include "common/buf.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/util.h"
#include "event/event.h"
#include "policy/apply.h"
#include "policy/policy.h"
#include "policy/schema.h"

#define ROUNDS_MAX 31

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* bench/loadgen.c's event, with a fixed run id. */
static int put_event(char *o, size_t cap, unsigned i)
{
	int n = snprintf(o, cap, "{\"id\":\"lg1a2b3c4d-%03u-%012u", i % 8, i);
	if (n < 0 || (size_t)n >= cap)
		return n;
	int m = evgen_tail(o + n, cap - (size_t)n, i);
	return m < 0 ? m : n + m;
}

static struct schema *load_schema(const char *src, const char *file)
{
	char path[4096];
	struct buf b = BUF_INIT(1 << 20);
	struct schema *s = NULL;
	struct schema_error err;
	snprintf(path, sizeof(path), "%s/docs/examples/schemas/%s", src, file);
	if (read_file(path, 1 << 20, &b) < 0 || schema_compile((const char *)b.data, b.len, &s, &err) < 0) {
		fprintf(stderr, "apply_bench: cannot load %s\n", path);
		exit(1);
	}
	buf_release(&b);
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: apply_bench SRC_DIR [N] [ROUNDS]\n");
		return 2;
	}
	const char *src = argv[1];
	unsigned n = argc > 2 ? (unsigned)atol(argv[2]) : 200000;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	if (rounds < 1 || rounds > ROUNDS_MAX || n == 0) {
		fprintf(stderr, "apply_bench: N >= 1, 1 <= ROUNDS <= %d\n", ROUNDS_MAX);
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/examples/policy.conf", src);
	struct policy *pol = NULL;
	struct policy_error pe;
	if (policy_load(path, &pol, &pe) < 0) {
		char e[512];
		policy_error_format(&pe, e, sizeof(e));
		fprintf(stderr, "apply_bench: %s\n", e);
		return 1;
	}
	struct apply_env env = { .policy = pol };
	for (int i = 0; i < APPLY_KEY_BYTES; i++)
		env.key[i] = (uint8_t)i;
	struct schema *auth = load_schema(src, "auth-event-2.json");
	struct schema *k8s = load_schema(src, "k8s-audit-1.json");

	/* the producer's bytes, and their compact form with its info (whose
	 * slices point into the producer's bytes, which stay put) */
	struct buf raw = BUF_INIT(1u << 30), comp = BUF_INIT(1u << 30);
	size_t *roff = malloc((n + 1) * sizeof(*roff)), *coff = malloc((n + 1) * sizeof(*coff));
	struct event_info *info = malloc(n * sizeof(*info));
	if (!roff || !coff || !info)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		char ev[1024];
		int l = put_event(ev, sizeof(ev), i);
		roff[i] = raw.len;
		if (buf_append(&raw, ev, (size_t)l) < 0)
			return 1;
	}
	roff[n] = raw.len;
	struct buf c = BUF_INIT(1 << 20);
	struct event_error perr;
	for (unsigned i = 0; i < n; i++) {
		buf_reset(&c);
		if (event_parse(raw.data + roff[i], roff[i + 1] - roff[i], NULL, &c, &info[i], &perr) < 0) {
			fprintf(stderr, "apply_bench: event %u: %s\n", i, perr.msg);
			return 1;
		}
		coff[i] = comp.len;
		if (buf_append(&comp, c.data, c.len) < 0)
			return 1;
	}
	coff[n] = comp.len;
	static const char *const names[] = { "parse", "apply", "schema", "all" };
	double t[4][ROUNDS_MAX];
	struct apply_scratch s;
	struct apply_result res;
	struct event_info pinfo;
	struct schema_violation v[8];
	uint8_t digest[HASH_SIZE] = { 0 };
	apply_scratch_init(&s);
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (unsigned i = 0; i < n; i++) {
			buf_reset(&c);
			event_parse(raw.data + roff[i], roff[i + 1] - roff[i], NULL, &c, &pinfo, &perr);
		}
		double t1 = now_ns();
		for (unsigned i = 0; i < n; i++) {
			if (apply_event(&env, "bench", 5, &info[i], comp.data + coff[i], coff[i + 1] - coff[i],
					&s, &res) < 0) {
				fprintf(stderr, "apply_bench: apply: %s\n", res.err);
				return 1;
			}
			if (r == 0) {
				/* chained: digest = SHA-256(digest || out || redacted crit sample) */
				size_t at = s.redacted.len;
				if (buf_putc(&s.redacted, (uint8_t)('0' + res.crit)) < 0 ||
				    buf_putc(&s.redacted, res.sample ? 's' : '-') < 0)
					return 1;
				sha256_3(digest, HASH_SIZE, s.out.data, s.out.len, s.redacted.data,
					 s.redacted.len, digest);
				s.redacted.len = at;
			}
		}
		double t2 = now_ns();
		for (unsigned i = 0; i < n; i++) {
			unsigned a = i % 6;
			if (a == 1 || a == 2) {
				int k = schema_validate(a == 1 ? auth : k8s, (const char *)comp.data + coff[i],
							coff[i + 1] - coff[i], v, 8);
				if (k != 0) {
					fprintf(stderr, "apply_bench: event %u fails its schema: %s %s\n", i,
						v[0].pointer, v[0].msg);
					return 1;
				}
			}
		}
		double t3 = now_ns();
		for (unsigned i = 0; i < n; i++) {
			buf_reset(&c);
			event_parse(raw.data + roff[i], roff[i + 1] - roff[i], NULL, &c, &pinfo, &perr);
			apply_event(&env, "bench", 5, &pinfo, c.data, c.len, &s, &res);
			const struct policy_schema *b = res.schema;
			if (b)
				schema_validate(b->name[0] == 'a' ? auth : k8s, (const char *)c.data, c.len, v, 8);
		}
		double t4 = now_ns();
		t[0][r] = (t1 - t0) / n;
		t[1][r] = (t2 - t1) / n;
		t[2][r] = (t3 - t2) / n;
		t[3][r] = (t4 - t3) / n;
	}
	printf("apply_bench: %u events, %.0f bytes each, %d rounds; ns per event (thread CPU)\n", n,
	       (double)raw.len / n, rounds);
	for (int p = 0; p < 4; p++) {
		double best = t[p][0];
		for (int r = 1; r < rounds; r++)
			best = t[p][r] < best ? t[p][r] : best;
		qsort(t[p], (size_t)rounds, sizeof(double), cmp_d);
		printf("  %-7s best %7.1f  median %7.1f\n", names[p], best, t[p][rounds / 2]);
	}
	printf("  output sha256 ");
	for (int i = 0; i < HASH_SIZE; i++)
		printf("%02x", digest[i]);
	printf("\n");
	apply_scratch_release(&s);
	schema_free(auth);
	schema_free(k8s);
	policy_free(pol);
	buf_release(&raw);
	buf_release(&comp);
	buf_release(&c);
	free(roff);
	free(coff);
	free(info);
	return 0;
}
