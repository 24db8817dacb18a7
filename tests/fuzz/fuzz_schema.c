/*
 * fuzz_schema.c - schema_compile() over arbitrary bytes; when a schema
 * compiles, schema_validate() of fixed instances and schema_compat()
 * against fixed schemas.
 *
 * Beyond "no crash, no sanitizer report, no hang" it checks the
 * promises of schema.h: a refusal is ST_EINVAL or ST_ELIMIT with a
 * message and an offset within the input; a violation has a rule, a
 * message and a pointer that is "" or starts with '/'; every schema is
 * compatible with itself; and compat is sound on the fixed instances:
 * when compat(A, B) finds nothing, every instance valid under A is valid
 * under B. Odd-sized inputs compile without JIT, so both matchers run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const instances[] = {
	("{\"time\":\"2026-11-28T01:00:00Z\",\"action\":\"iam.role.update\",\"actor\":{\"id\":\"alice@example.com\","
	 "\"ip\":\"10.0.0.1\"},\"resource\":{\"type\":\"role\",\"id\":\"r1\"},\"outcome\":\"denied\","
	 "\"request_id\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\",\"metadata\":{\"tags\":[\"a\",1,null],\"n\":1.5}}"),
	"{}", "[]", "[1,\"a\",{\"b\":[true]}]", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"", "\"\\u00e9\\ud83d\\ude00\"",
	"0", "-1e400", "9007199254740993", "null", "true", "\"::1\"", "\"1998-12-31T23:59:60Z\"",
	"{\"a\":{\"a\":{\"a\":{\"a\":\"x\"}}},\"b\":[[[]]],\"c~/\":\"\"}",
};

static const char *const others[] = {
	"true",
	"false",
	("{\"type\":\"object\",\"required\":[\"action\"],\"properties\":{\"action\":{\"type\":\"string\","
	 "\"pattern\":\"^[a-z.]+$\"},\"actor\":{\"properties\":{\"ip\":{\"format\":\"ipv4\"}}}}}"),
	"{\"enum\":[0,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\",null,[]]}",
	"{\"items\":{\"type\":[\"string\",\"integer\"],\"maxLength\":3,\"minimum\":0}}",
	"{\"additionalProperties\":{\"type\":\"object\",\"additionalProperties\":false}}",
};

static void check_violations(const struct schema_violation *v, int r, size_t cap)
{
	for (int i = 0; i < r && (size_t)i < cap; i++) {
		if (!v[i].rule[0] || !v[i].msg[0] || (v[i].pointer[0] && v[i].pointer[0] != '/') ||
		    strlen(v[i].pointer) >= sizeof(v[i].pointer))
			abort();
	}
}

/* compat(a, b) == 0 must mean: valid under a implies valid under b. */
static void check_sound(const struct schema *a, const struct schema *b)
{
	struct schema_violation v[4];
	int r = schema_compat(a, b, v, 4);
	if (r < 0)
		abort();
	check_violations(v, r, 4);
	if (r != 0)
		return;
	for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++) {
		const char *x = instances[i];
		if (schema_validate(a, x, strlen(x), NULL, 0) == 0 &&
		    schema_validate(b, x, strlen(x), v, 1) != 0) {
			fprintf(stderr, "compat found nothing, yet %s is refused: %s %s %s\n", x,
				v[0].pointer, v[0].rule, v[0].msg);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct schema *fixed[sizeof(others) / sizeof(others[0])];
	struct schema *s = NULL;
	struct schema_error err;
	struct schema_violation v[8];

	if (!fixed[0]) {
		for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			if (schema_compile(others[i], strlen(others[i]), &fixed[i], &err) != 0)
				abort();
	}
	int r = schema_compile_flags((const char *)data, size, (size & 1) ? SCHEMA_NO_JIT : 0, &s, &err);
	if (r != 0) {
		if ((r != ST_EINVAL && r != ST_ELIMIT) || s || err.code != r || !err.msg[0] ||
		    (err.offset > size && r != ST_ELIMIT) || strlen(err.pointer) >= sizeof(err.pointer) ||
		    (err.pointer[0] && err.pointer[0] != '/'))
			abort();
		return 0;
	}
	for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++) {
		r = schema_validate(s, instances[i], strlen(instances[i]), v, 8);
		if (r < 0)
			abort();
		check_violations(v, r, 8);
	}
	/* The schema's own text is JSON too. */
	r = schema_validate(s, (const char *)data, size, v, 8);
	if (r < 0)
		abort();
	check_violations(v, r, 8);
	if (schema_compat(s, s, v, 8) != 0) {
		fprintf(stderr, "not compatible with itself: %s %s %s\n", v[0].pointer, v[0].rule, v[0].msg);
		abort();
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		check_sound(s, fixed[i]);
		check_sound(fixed[i], s);
	}
	schema_free(s);
	return 0;
}
