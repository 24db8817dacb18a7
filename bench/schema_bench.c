/*
 * schema_bench.c - what schema validation costs per event on the ingest
 * path (src/policy/schema.c), beside the event reader it runs after.
 *
 *   schema_bench [N]      N validations per measurement (default 1,000,000)
 *   schema_bench N jit    only schema_validate with JIT, N times (for perf)
 *
 * One realistic audit event (~600 bytes of compact JSON: actor, resource,
 * request id, source, metadata, before/after) against a realistic schema
 * (27 subschemas: 2 patterns, 4 formats, enums, bounds, required members,
 * additionalProperties false). Prints ns per event, median of 5 runs, for:
 * event_parse alone (for scale); jdoc_parse of the event alone (the tree
 * the validator walks); schema_validate with JIT-compiled patterns; the
 * same with interpreted patterns (SCHEMA_NO_JIT); and the time one
 * hostile pattern takes to hit its match limit. Every validation's result
 * is checked, so a wrong number cannot come from a validator that gave up.
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that
 * being descheduled on a shared machine does not count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "event/event.h"
#include "policy/jdoc.h"
#include "policy/schema.h"

static const char schema_text[] =
	"{\"$comment\":\"iam role events\",\"type\":\"object\","
	"\"required\":[\"time\",\"action\",\"actor\",\"resource\",\"outcome\"],"
	"\"properties\":{"
	"\"id\":{\"type\":\"string\",\"maxLength\":128},"
	"\"time\":{\"type\":\"string\",\"format\":\"date-time\"},"
	"\"tenant\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_.-]{1,64}$\"},"
	"\"action\":{\"type\":\"string\",\"pattern\":\"^iam\\\\.[a-z]+\\\\.[a-z_]+$\"},"
	"\"outcome\":{\"enum\":[\"success\",\"failure\",\"denied\",\"unknown\"]},"
	"\"reason\":{\"type\":\"string\",\"maxLength\":1024},"
	"\"actor\":{\"type\":\"object\",\"required\":[\"id\",\"type\"],\"properties\":{"
	"\"id\":{\"type\":\"string\",\"format\":\"email\"},"
	"\"type\":{\"enum\":[\"user\",\"service\"]},"
	"\"ip\":{\"type\":\"string\",\"format\":\"ipv4\"},"
	"\"user_agent\":{\"type\":\"string\",\"maxLength\":512}}},"
	"\"resource\":{\"type\":\"object\",\"required\":[\"type\",\"id\"],\"properties\":{"
	"\"type\":{\"const\":\"role\"},\"id\":{\"type\":\"string\",\"minLength\":1},"
	"\"name\":{\"type\":\"string\"}}},"
	"\"request_id\":{\"type\":\"string\",\"format\":\"uuid\"},"
	"\"source\":{\"type\":\"object\",\"properties\":{\"service\":{\"type\":\"string\"},"
	"\"host\":{\"type\":\"string\"},\"producer_seq\":{\"type\":\"integer\",\"minimum\":0}}},"
	"\"before\":{\"type\":\"object\"},\"after\":{\"type\":\"object\"},"
	"\"metadata\":{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	"\"attempt\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}}}"
	"},\"additionalProperties\":false}";

static const char event[] =
	"{\"id\":\"evt-7f3a9c2e-0001\",\"time\":\"2026-11-28T01:00:00.123456Z\",\"tenant\":\"acme-prod\","
	"\"action\":\"iam.role.update\",\"actor\":{\"id\":\"alice.martin@example.com\",\"type\":\"user\","
	"\"ip\":\"10.20.30.40\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\"},"
	"\"resource\":{\"type\":\"role\",\"id\":\"role-8842\",\"name\":\"billing-admins\"},"
	"\"outcome\":\"success\",\"reason\":\"quarterly access review\","
	"\"request_id\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\","
	"\"source\":{\"service\":\"iam-api\",\"host\":\"iam-api-7d9f-x2\",\"producer_seq\":184467},"
	"\"before\":{\"members\":[\"bob\",\"carol\"],\"max_session\":3600},"
	"\"after\":{\"members\":[\"bob\",\"carol\",\"dave\"],\"max_session\":3600},"
	"\"metadata\":{\"tags\":[\"sox\",\"review\"],\"attempt\":1}}";

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum what { EVENT_PARSE, JDOC_PARSE, VALIDATE };

static double run(enum what w, const struct schema *s, long n)
{
	struct buf out = BUF_INIT(1 << 20);
	struct jdoc_arena a;
	jdoc_arena_init(&a, 1 << 20);
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int r;
		if (w == EVENT_PARSE) {
			struct event_info info;
			struct event_error err;
			out.len = 0;
			r = event_parse((const uint8_t *)event, sizeof(event) - 1, NULL, &out, &info, &err);
		} else if (w == JDOC_PARSE) {
			const struct jdoc_value *v;
			r = jdoc_parse(&a, event, sizeof(event) - 1, NULL, JDOC_BORROW, &v, NULL);
			jdoc_arena_reset(&a);
		} else {
			r = schema_validate(s, event, sizeof(event) - 1, NULL, 0);
		}
		if (r != 0) {
			fprintf(stderr, "unexpected result %d\n", r);
			exit(1);
		}
	}
	double dt = now_ns() - t0;
	buf_release(&out);
	jdoc_arena_release(&a);
	return dt / (double)n;
}

static double median5(enum what w, const struct schema *s, long n)
{
	double x[5];
	for (int i = 0; i < 5; i++)
		x[i] = run(w, s, n);
	qsort(x, 5, sizeof(x[0]), dcmp);
	return x[2];
}

static void limit_hit(unsigned flags, const char *label)
{
	static const char hostile[] = "{\"pattern\":\"^(a+)+$\"}";
	char inst[66];
	struct schema *s = NULL;
	struct schema_error err;
	struct schema_violation v[1];
	if (schema_compile_flags(hostile, sizeof(hostile) - 1, flags, &s, &err) != 0)
		exit(1);
	inst[0] = '"';
	memset(inst + 1, 'a', 62);
	inst[63] = 'b';
	inst[64] = '"';
	double t0 = now_ns();
	int rounds = 20;
	for (int i = 0; i < rounds; i++)
		if (schema_validate(s, inst, 65, v, 1) != 1 || strcmp(v[0].rule, "pattern-limit") != 0)
			exit(1);
	printf("  ^(a+)+$ on 62 a's + b, %s: %.1f us to hit the match limit (%d)\n", label,
	       (now_ns() - t0) / rounds / 1e3, SCHEMA_MATCH_LIMIT);
	schema_free(s);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct schema *jit = NULL, *interp = NULL;
	struct schema_error err;
	if (schema_compile(schema_text, sizeof(schema_text) - 1, &jit, &err) != 0 ||
	    schema_compile_flags(schema_text, sizeof(schema_text) - 1, SCHEMA_NO_JIT, &interp, &err) != 0) {
		fprintf(stderr, "schema: %s: %s\n", err.pointer, err.msg);
		return 1;
	}
	if (argc > 2 && strcmp(argv[2], "jit") == 0) {
		printf("schema_validate, JIT: %.0f ns/event\n", run(VALIDATE, jit, n));
		schema_free(jit);
		schema_free(interp);
		schema_thread_release();
		return 0;
	}
	printf("event %zu bytes, schema %zu bytes, %ld validations per run, median of 5\n",
	       sizeof(event) - 1, sizeof(schema_text) - 1, n);
	printf("  event_parse (for scale):      %6.0f ns/event\n", median5(EVENT_PARSE, NULL, n));
	printf("  jdoc_parse (the tree alone):  %6.0f ns/event\n", median5(JDOC_PARSE, NULL, n));
	printf("  schema_validate, JIT:         %6.0f ns/event\n", median5(VALIDATE, jit, n));
	printf("  schema_validate, interpreted: %6.0f ns/event\n", median5(VALIDATE, interp, n));
	limit_hit(0, "JIT");
	limit_hit(SCHEMA_NO_JIT, "interpreted");
	schema_free(jit);
	schema_free(interp);
	schema_thread_release();
	return 0;
}
