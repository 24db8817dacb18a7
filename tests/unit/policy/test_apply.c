/*
 * test_apply.c - the redaction step (apply.h) on parsed policies: mask in
 * code points (short values masked whole), hash determinism and tenant
 * separation, rules on objects (drop whole; hash applied to every string
 * inside), numbers under hash become strings, detectors on spans only,
 * drop-by-detector drops the value, keep counts misses and changes
 * nothing, the identity fields are immune, the redacted list's cap and
 * "more", an unchanged event comes out identical with no list, a
 * tokenize rule without a vault refuses the event naming the field, and
 * one scratch reused across tenants, actions and policies (its cache of
 * views) gives what a fresh scratch gives.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"
#include "event/event.h"
#include "policy/apply.h"
#include "policy/policy.h"

static struct policy *parse(const char *text)
{
	struct policy *p = NULL;
	struct policy_error pe;
	int r = policy_parse(text, strlen(text), "test.conf", &p, &pe);
	CHECK_MSG(r == 0, "policy: %s:%u:%u: %s", pe.file, pe.line, pe.col, pe.msg);
	return p;
}

/* Runs the step; out gets the rewritten event + the redacted member. */
static int run(const struct apply_env *env, const char *tenant, const char *ev, struct buf *out,
	       struct apply_result *res)
{
	struct buf c = BUF_INIT(1 << 16);
	struct event_info info;
	struct event_error err;
	struct apply_scratch s;
	int r = event_parse((const uint8_t *)ev, strlen(ev), NULL, &c, &info, &err);
	CHECK_MSG(r == 0, "event: %s", err.msg);
	apply_scratch_init(&s);
	r = apply_event(env, tenant, strlen(tenant), &info, c.data, c.len, &s, res);
	buf_reset(out);
	if (r == 0) {
		CHECK(buf_append(out, s.out.data, s.out.len) == 0);
		CHECK(buf_append(out, s.redacted.data, s.redacted.len) == 0);
	}
	apply_scratch_release(&s);
	buf_release(&c);
	return r;
}

static bool has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

#define EV(...) "{\"time\":\"2026-11-28T10:00:00Z\",\"action\":\"a.b\",\"actor\":{\"id\":\"u\"}," \
	"\"resource\":{\"type\":\"t\"}" __VA_ARGS__ "}"

static void test_mask_hash(void)
{
	struct buf b = BUF_INIT(4096);
	CHECK(apply_mask("4111111111111111", 16, 0, 4, &b) == 0);
	CHECK(b.len == 16 && !memcmp(b.data, "************1111", 16));
	buf_reset(&b);
	CHECK(apply_mask("h\xc3\xa9llo w\xc3\xb6rld", 13, 2, 2, &b) == 0);   /* code points */
	CHECK(b.len == 12 && !memcmp(b.data, "h\xc3\xa9*******ld", 12));
	buf_reset(&b);
	CHECK(apply_mask("abc", 3, 2, 2, &b) == 0);   /* too short to keep anything */
	CHECK(b.len == 3 && !memcmp(b.data, "***", 3));
	buf_reset(&b);
	CHECK(apply_mask("", 0, 1, 1, &b) == 0 && b.len == 0);

	uint8_t key[APPLY_KEY_BYTES] = { 1, 2, 3 };
	struct buf h1 = BUF_INIT(64), h2 = BUF_INIT(64), h3 = BUF_INIT(64), h4 = BUF_INIT(64);
	CHECK(apply_hash(key, "acme", 4, "v", 1, &h1) == 0);
	CHECK(apply_hash(key, "acme", 4, "v", 1, &h2) == 0);
	CHECK(apply_hash(key, "globex", 6, "v", 1, &h3) == 0);
	key[0] = 9;
	CHECK(apply_hash(key, "acme", 4, "v", 1, &h4) == 0);
	CHECK(h1.len == 5 + APPLY_HASH_CHARS && !memcmp(h1.data, "hmac:", 5));
	CHECK(h1.len == h2.len && !memcmp(h1.data, h2.data, h1.len));
	CHECK(memcmp(h1.data, h3.data, h1.len) != 0);   /* tenant-separated */
	CHECK(memcmp(h1.data, h4.data, h1.len) != 0);   /* keyed */
	for (size_t i = 5; i < h1.len; i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", h1.data[i]));
	buf_release(&b);
	buf_release(&h1);
	buf_release(&h2);
	buf_release(&h3);
	buf_release(&h4);
}

static void test_event(void)
{
	struct apply_env env = { 0 };
	struct buf out = BUF_INIT(1 << 16);
	struct apply_result res;

	env.policy = parse("field metadata.secret drop\n"
			   "field metadata.person hash\n"
			   "field metadata.n hash\n"
			   "field metadata.ua keep\n"
			   "field metadata.vaulted tokenize\n"
			   "detector * on\n"
			   "detector aws_key_id drop\n"
			   "[action crit.*]\n"
			   "criticality critical\n");

	/* nothing to do: the same bytes, no list, normal criticality */
	const char *plain = EV(",\"metadata\":{\"k\":\"nothing here\"}");
	CHECK(run(&env, "acme", plain, &out, &res) == 0);
	CHECK(out.len == strlen(plain) && !memcmp(out.data, plain, out.len));
	CHECK(res.changed == 0 && res.crit == POLICY_CRIT_NORMAL);

	/* an object dropped whole; hash into an object's strings; a number
	 * hashed becomes a string */
	CHECK(run(&env, "acme", EV(",\"metadata\":{\"secret\":{\"a\":\"x\",\"b\":[1]},\"person\":{\"name\":\"Jo\",\"age\":7},\"n\":42}"),
		  &out, &res) == 0);
	CHECK(!has(&out, "secret") || has(&out, "\"path\":\"metadata.secret\""));
	CHECK(!has(&out, "\"secret\":{"));
	CHECK(has(&out, "\"person\":{\"name\":\"hmac:"));
	CHECK(has(&out, "\"n\":\"hmac:"));
	CHECK(!has(&out, "\"Jo\""));
	CHECK(has(&out, "{\"path\":\"metadata.secret\",\"action\":\"drop\"}"));
	CHECK(res.counts.by_rule[POLICY_DROP] == 1 && res.counts.by_rule[POLICY_HASH] == 3);

	/* detectors on the span only; a drop detector drops the whole value */
	CHECK(run(&env, "acme", EV(",\"reason\":\"mail a.b@example.com now\",\"metadata\":{\"k\":\"AKIAIOSFODNN7EXAMPLE\"}"),
		  &out, &res) == 0);
	CHECK(has(&out, "\"reason\":\"mail *************** now\""));
	CHECK(!has(&out, "AKIA") && !has(&out, "\"k\":"));
	CHECK(has(&out, "{\"path\":\"reason\",\"action\":\"mask\",\"detector\":\"email\"}"));
	CHECK(has(&out, "{\"path\":\"metadata.k\",\"action\":\"drop\",\"detector\":\"aws_key_id\"}"));
	CHECK(res.counts.by_det[DET_EMAIL][POLICY_MASK] == 1 && res.counts.by_det[DET_AWS_KEY_ID][POLICY_DROP] == 1);

	/* keep: a miss, nothing changed */
	const char *kept = EV(",\"metadata\":{\"ua\":\"x a.b@example.com\"}");
	CHECK(run(&env, "acme", kept, &out, &res) == 0);
	CHECK(out.len == strlen(kept) && !memcmp(out.data, kept, out.len));
	CHECK(res.counts.misses[DET_EMAIL] == 1 && res.changed == 0);

	/* identity fields are immune, even to detectors */
	const char *idev = "{\"id\":\"o-1@shop.example.com\",\"time\":\"2026-11-28T10:00:00Z\",\"action\":\"crit.x\","
			   "\"actor\":{\"id\":\"u\"},\"resource\":{\"type\":\"t\"}}";
	CHECK(run(&env, "acme", idev, &out, &res) == 0);
	CHECK(out.len == strlen(idev) && !memcmp(out.data, idev, out.len));
	CHECK(res.crit == POLICY_CRIT_CRITICAL);

	/* many distinct paths: the list stops at its cap and says how many more */
	struct buf big = BUF_INIT(1 << 16);
	CHECK(buf_puts(&big, "{\"time\":\"2026-11-28T10:00:00Z\",\"action\":\"a.b\",\"actor\":{\"id\":\"u\"},"
			     "\"resource\":{\"type\":\"t\"},\"metadata\":{") == 0);
	for (int i = 0; i < APPLY_REDACTED_MAX + 5; i++)
		CHECK(buf_printf(&big, "%s\"f%d\":\"x%d@example.com\"", i ? "," : "", i, i) == 0);
	CHECK(buf_puts(&big, "}}") == 0);
	CHECK(buf_putc(&big, 0) == 0);
	CHECK(run(&env, "acme", (const char *)big.data, &out, &res) == 0);
	CHECK(has(&out, "{\"more\":5}]"));
	CHECK(res.counts.by_det[DET_EMAIL][POLICY_MASK] == APPLY_REDACTED_MAX + 5);
	buf_release(&big);

	/* tokenize without a vault: refused, naming the field */
	CHECK(run(&env, "acme", EV(",\"metadata\":{\"vaulted\":\"v\"}"), &out, &res) == ST_EINVAL);
	CHECK_MSG(strstr(res.err, "field metadata.vaulted: tokenize needs the token vault") != NULL, "%s", res.err);

	policy_free((struct policy *)env.policy);
	buf_release(&out);
}

/* The same event through one scratch and through a fresh one: the same
 * bytes, list, criticality, sample class and schema binding. */
static void same_as_fresh(const struct apply_env *env, struct apply_scratch *s, const char *tenant,
			  const char *ev, const char *why)
{
	struct buf c = BUF_INIT(1 << 16), fresh = BUF_INIT(1 << 16);
	struct event_info info;
	struct event_error err;
	struct apply_result r1, r2;
	CHECK_MSG(event_parse((const uint8_t *)ev, strlen(ev), NULL, &c, &info, &err) == 0, "%s", err.msg);
	int k1 = apply_event(env, tenant, strlen(tenant), &info, c.data, c.len, s, &r1);
	int k2 = run(env, tenant, ev, &fresh, &r2);
	CHECK_MSG(k1 == k2 && k1 == 0, "%s: %d / %d", why, k1, k2);
	CHECK_MSG(s->out.len + s->redacted.len == fresh.len &&
		  !memcmp(s->out.data, fresh.data, s->out.len) &&
		  !memcmp(s->redacted.data, fresh.data + s->out.len, s->redacted.len),
		  "%s: tenant %s: %.*s%.*s, fresh %.*s", why, tenant, (int)s->out.len, (const char *)s->out.data,
		  (int)s->redacted.len, (const char *)s->redacted.data, (int)fresh.len, (const char *)fresh.data);
	CHECK_MSG(r1.crit == r2.crit && r1.sample == r2.sample && r1.schema == r2.schema &&
		  r1.changed == r2.changed && !memcmp(&r1.counts, &r2.counts, sizeof(r1.counts)),
		  "%s: tenant %s: results differ", why, tenant);
	buf_release(&c);
	buf_release(&fresh);
}

static void test_reuse(void)
{
	struct apply_env env = { 0 };
	struct apply_scratch s;
	static const char *const tenants[] = {
		"acme", "globex", "t3", "initech",
		"a-tenant-name-of-64-bytes-0123456789012345678901234567890123456x",
	};
	static const char *const actions[] = {
		"k8s.secrets.get", "iam.role.update", "auth.login", "x",
		"iam.an-action-longer-than-a-cached-key.0123456789012345678901234567890123456789",
	};
	char ev[512];

	apply_scratch_init(&s);
	/* more (tenant, action) pairs than the scratch keeps views of, in
	 * turn, and an action longer than a cached key */
	env.policy = parse("field actor.id hash\n"
			   "[tenant acme]\nfield actor.id drop\ndetector email off\n"
			   "[action k8s.secrets.*]\ncriticality critical\nfield metadata.m mask\n"
			   "[tenant globex action iam.**]\nfield metadata.m drop\nsample s 0.5\n"
			   "[action auth.**]\nschema auth-event/2\n");
	for (int round = 0; round < 3; round++)
		for (size_t t = 0; t < ARRAY_SIZE(tenants); t++)
			for (size_t a = 0; a < ARRAY_SIZE(actions); a++) {
				snprintf(ev, sizeof(ev), "{\"time\":\"2026-11-28T10:00:00Z\",\"action\":\"%s\","
					 "\"actor\":{\"id\":\"bob@example.com\"},\"resource\":{\"type\":\"r\"},"
					 "\"outcome\":\"success\",\"metadata\":{\"m\":\"v a@b.co\"}}", actions[a]);
				same_as_fresh(&env, &s, tenants[t], ev, "reuse");
			}
	/* A new policy, very likely at the freed one's address: the scratch
	 * must not answer with the old one's views. */
	for (int i = 0; i < 4; i++) {
		policy_free((struct policy *)env.policy);
		env.policy = parse(i % 2 ? "field actor.id drop\n" : "field actor.id keep\n");
		same_as_fresh(&env, &s, "acme", EV(""), "new policy");
	}
	policy_free((struct policy *)env.policy);
	apply_scratch_release(&s);
}

/* SEALTRAIL_APPLY_BENCH=N: N events like bench/loadgen's through
 * event_parse alone and through event_parse + apply_event with
 * docs/examples/policy.conf; prints ns per event for both. */
static void bench(void)
{
	const char *n_s = getenv("SEALTRAIL_APPLY_BENCH"), *src = getenv("SEALTRAIL_SRC");
	if (!n_s || !src)
		return;
	long n = atol(n_s);
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/examples/policy.conf", src);
	struct apply_env env = { 0 };
	struct policy_error pe;
	struct policy *p = NULL;
	CHECK(policy_load(path, &p, &pe) == 0);
	env.policy = p;
	const char *ev = "{\"id\":\"lg1-000-000000000001\",\"time\":\"2026-11-27T10:00:01.000001Z\",\"action\":\"auth.login\","
			 "\"actor\":{\"id\":\"alice@example.com\",\"type\":\"user\",\"ip\":\"10.1.0.1\"},"
			 "\"resource\":{\"type\":\"role\",\"id\":\"role-1\"},\"outcome\":\"success\","
			 "\"source\":{\"service\":\"iam\",\"host\":\"h1\"},"
			 "\"metadata\":{\"request_id\":\"req-9e3779b1\",\"reason\":\"quarterly access review\",\"ticket\":\"SEC-1001\"}}";
	struct buf c = BUF_INIT(1 << 16);
	struct event_info info;
	struct event_error err;
	struct apply_scratch s;
	struct apply_result res;
	apply_scratch_init(&s);
	for (int pass = 0; pass < 2; pass++) {
		/* thread CPU time: this machine is shared */
		struct timespec c0, c1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		for (long i = 0; i < n; i++) {
			buf_reset(&c);
			event_parse((const uint8_t *)ev, strlen(ev), NULL, &c, &info, &err);
			if (pass)
				apply_event(&env, "bench", 5, &info, c.data, c.len, &s, &res);
		}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		double ns = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
		printf("bench %s: %.0f ns/event CPU (%ld events)\n", pass ? "parse+apply" : "parse", ns / (double)n, n);
	}
	printf("bench out: %.*s%.*s\n", (int)s.out.len, (const char *)s.out.data, (int)s.redacted.len, (const char *)s.redacted.data);
	apply_scratch_release(&s);
	buf_release(&c);
	policy_free(p);
}

int main(void)
{
	bench();
	test_mask_hash();
	test_event();
	test_reuse();
	return test_report("test_apply");
}
