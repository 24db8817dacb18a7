/*
 * fuzz_policy.c - policy_parse(), policy_format() and the lookups over
 * arbitrary bytes, and the two glob matchers against naive recursive
 * references.
 *
 * Beyond "no crash, no sanitizer report" it checks the parser's promises:
 * a refusal is ST_EINVAL or ST_ELIMIT with a message, *ret untouched, and
 * a place inside the input (line <= lines + 1, col >= 1); an accepted
 * policy's canonical text parses back to the same canonical text and the
 * same digest; lookups on it never crash and return rules of the policy,
 * the same rules and levels as policy_field_ref / policy_crit_field_ref
 * (the lookups by definition, without the filters that make them fast).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* '*' within one string, recursively: the obvious definition. */
static bool ref_flat(const char *p, size_t pl, const char *s, size_t sl)
{
	if (pl == 0)
		return sl == 0;
	if (p[0] == '*') {
		for (size_t k = 0; k <= sl; k++)
			if (ref_flat(p + 1, pl - 1, s + k, sl - k))
				return true;
		return false;
	}
	return sl > 0 && p[0] == s[0] && ref_flat(p + 1, pl - 1, s + 1, sl - 1);
}

/* Segments: "**" eats zero or more whole segments, others exactly one.
 * done_p / done_s: no segment left (a string always has at least one). */
static bool ref_path(const char *p, size_t pl, bool done_p, const char *s, size_t sl, bool done_s)
{
	if (done_p)
		return done_s;
	const char *pd = memchr(p, '.', pl);
	size_t pe = pd ? (size_t)(pd - p) : pl;
	const char *np = pd ? pd + 1 : p + pl;
	size_t npl = pd ? pl - pe - 1 : 0;
	if (pe == 2 && p[0] == '*' && p[1] == '*') {
		if (ref_path(np, npl, !pd, s, sl, done_s))
			return true;
		if (done_s)
			return false;
		const char *sd = memchr(s, '.', sl);
		return ref_path(p, pl, false, sd ? sd + 1 : s + sl, sd ? sl - (size_t)(sd - s) - 1 : 0, !sd);
	}
	if (done_s)
		return false;
	const char *sd = memchr(s, '.', sl);
	size_t se = sd ? (size_t)(sd - s) : sl;
	return ref_flat(p, pe, s, se) &&
	       ref_path(np, npl, !pd, sd ? sd + 1 : s + sl, sd ? sl - se - 1 : 0, !sd);
}

static void check_globs(const uint8_t *data, size_t size)
{
	/* pattern NUL subject, each short enough for the references. */
	const uint8_t *z = memchr(data, 0, size);
	if (!z)
		return;
	const char *p = (const char *)data, *s = (const char *)z + 1;
	size_t pl = (size_t)(z - data), sl = size - pl - 1;
	if (pl > 24 || sl > 48)
		return;
	if (policy_glob_flat(p, pl, s, sl) != ref_flat(p, pl, s, sl))
		abort();
	if (policy_glob_path(p, pl, s, sl) != ref_path(p, pl, false, s, sl, false))
		abort();
}

static void lookups(const struct policy *p, const uint8_t *data, size_t size)
{
	static const char *const tenants[] = { "acme", "acme-eu", "other", "", NULL };
	static const char *const actions[] = { "k8s.secrets.get", "auth.login", "a", "iam.role.update" };
	static const char *const paths[] = {
		"actor.id", "metadata.db.password", "a.b.c", "data", "", "token", "x.token",
		"actor.type", "type", "host", "metadata.customer.email", "a..b", ".", "k8s.x.y.z",
	};
	struct policy_view v;

	for (size_t t = 0; t < sizeof(tenants) / sizeof(tenants[0]); t++)
		for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
			const char *tn = tenants[t];
			policy_view(p, tn, tn ? strlen(tn) : 0, actions[a], strlen(actions[a]), &v);
			if (v.nsec > POLICY_VIEW_MAX)
				abort();
			enum policy_crit c = v.crit;
			for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
				size_t pl = strlen(paths[k]);
				const struct policy_rule *r = policy_field(&v, paths[k], pl, (const char *)data, size);
				if (r && (r->action < POLICY_DROP || r->action > POLICY_KEEP || !r->path))
					abort();
				if (r != policy_field_ref(&v, paths[k], pl, (const char *)data, size) ||
				    policy_field(&v, paths[k], pl, NULL, 0) != policy_field_ref(&v, paths[k], pl, NULL, 0))
					abort();
				enum policy_crit c2 = policy_crit_field(&v, paths[k], pl, (const char *)data, size, c);
				if (c2 != policy_crit_field_ref(&v, paths[k], pl, (const char *)data, size, c))
					abort();
				c = c2;
			}
			if (c < v.crit || c > POLICY_CRIT_CRITICAL)
				abort();
			for (int d = 0; d < DET_COUNT; d++) {
				const struct policy_rule *r = policy_detector(&v, (enum detector)d);
				if (!r != !(v.det_on & (1u << d)))
					abort();
			}
			const struct policy_sample *s = policy_sample(&v, "success", 7, policy_crit_final(c));
			if (s && (!(s->rate > 0 && s->rate <= 1) || c == POLICY_CRIT_CRITICAL))
				abort();
			policy_view_schema(&v);
		}
	/* the input's own bytes as tenant, action and path */
	size_t h = size / 2;
	policy_view(p, (const char *)data, h, (const char *)data + h, size - h, &v);
	if (policy_field(&v, (const char *)data, size, NULL, 0) !=
	    policy_field_ref(&v, (const char *)data, size, NULL, 0))
		abort();
	/* the bytes as a path (to the first NUL) and a value (after it) */
	const uint8_t *z = memchr(data, 0, size);
	if (z) {
		size_t pl = (size_t)(z - data);
		const char *val = (const char *)z + 1;
		size_t vl = size - pl - 1;
		for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
			policy_view(p, "acme", 4, actions[a], strlen(actions[a]), &v);
			if (policy_field(&v, (const char *)data, pl, val, vl) !=
			    policy_field_ref(&v, (const char *)data, pl, val, vl) ||
			    policy_crit_field(&v, (const char *)data, pl, val, vl, POLICY_CRIT_UNSET) !=
			    policy_crit_field_ref(&v, (const char *)data, pl, val, vl, POLICY_CRIT_UNSET))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = (struct policy *)(uintptr_t)1, *q = NULL;
	struct policy_error err;
	size_t lines = 1;
	int r;

	check_globs(data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = policy_parse((const char *)data, size, "fuzz.conf", &p, &err);
	if (r != 0) {
		if ((r != ST_EINVAL && r != ST_ELIMIT) || p != (struct policy *)(uintptr_t)1 ||
		    !err.msg[0] || err.line > lines || (err.line && err.col == 0) ||
		    strcmp(err.file, "fuzz.conf") != 0)
			abort();
		return 0;
	}

	struct buf a = BUF_INIT(64u << 20), b = BUF_INIT(64u << 20);
	uint8_t d1[HASH_SIZE], d2[HASH_SIZE];
	char desc[512];
	if (policy_format(p, &a) != 0)
		abort();
	r = policy_parse((const char *)a.data, a.len, "canon", &q, &err);
	if (r != 0) {
		fprintf(stderr, "canonical text refused: %u:%u: %s\n%.*s\n", err.line, err.col, err.msg,
			(int)a.len, (const char *)a.data);
		abort();
	}
	if (policy_format(q, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	policy_digest(p, d1);
	policy_digest(q, d2);
	if (memcmp(d1, d2, HASH_SIZE) != 0)
		abort();
	policy_describe(p, desc, sizeof(desc));
	if (strncmp(desc, "policy sha256:", 14) != 0)
		abort();
	lookups(p, data, size);
	buf_release(&a);
	buf_release(&b);
	policy_free(q);
	policy_free(p);
	return 0;
}
