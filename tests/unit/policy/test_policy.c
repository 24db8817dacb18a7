/*
 * test_policy.c - the policy file (src/policy/policy.c): glob semantics,
 * every directive, precedence across scopes, detector, criticality,
 * sampling and schema resolution, every refusal with its exact line and
 * column, each limit, the canonical text and digest, the example policy
 * of docs/examples/policy.conf, and lookups from several threads.
 *
 * With -v (or SEALTRAIL_BENCH=1) it also measures policy_view and
 * policy_field on the example policy and prints ns per call
 * (docs/POLICY.md quotes the numbers).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/util.h"
#include "policy/policy.h"
#include "test.h"

static struct policy *parse(const char *text)
{
	struct policy *p = NULL;
	struct policy_error err;
	int r = policy_parse(text, strlen(text), "t.conf", &p, &err);
	CHECK_MSG(r == 0, "refused: %u:%u: %s", err.line, err.col, err.msg);
	return p;
}

/* ---- globs ---- */

static const struct {
	const char *pat, *s;
	bool path, flat;
} globs[] = {
	{ "actor.id", "actor.id", true, true },
	{ "actor.id", "actor.ip", false, false },
	{ "actor.id", "actor.id.x", false, false },
	{ "actor.*", "actor.id", true, true },
	{ "actor.*", "actor.id.x", false, true },      /* '*' stays in its segment */
	{ "actor.*", "actor", false, false },
	{ "actor.*", "actor.", true, true },           /* an empty member name */
	{ "metadata.*.password", "metadata.db.password", true, true },
	{ "metadata.*.password", "metadata.password", false, false },
	{ "metadata.*.password", "metadata.a.b.password", false, true },
	{ "*.token", "x.token", true, true },
	{ "*.token", "a.b.token", false, true },
	{ "*.token", "token", false, false },
	{ "**.token", "token", true, false },          /* ** is zero or more segments */
	{ "**.token", "a.b.token", true, true },
	{ "**.token", "a.b.tokens", false, false },
	{ "**.token", "a.token.b", false, false },
	{ "a.**", "a", true, false },
	{ "a.**", "a.b.c", true, true },
	{ "a.**", "ab.c", false, false },
	{ "a.**.z", "a.z", true, false },
	{ "a.**.z", "a.b.c.z", true, true },
	{ "a.**.z", "a.b.c.z.y", false, false },
	{ "a.**.b.**.c", "a.x.b.y.b.c", true, true },
	{ "a.**.b.**.c", "a.x.c.b", false, false },
	{ "**", "", true, true },
	{ "**", "anything.at.all", true, true },
	{ "*_token", "refresh_token", true, true },
	{ "*_token", "a.refresh_token", false, true },
	{ "k8s.*", "k8s.secrets.get", false, true },   /* the trap docs/POLICY.md warns of */
	{ "k8s.**", "k8s.secrets.get", true, false },
	{ "k8s.*.get", "k8s.pods.get", true, true },
	{ "k8s.*.get", "k8s.get", false, false },
	{ "a*b*c", "aXbYc", true, true },
	{ "a*b*c", "aXbY", false, false },
	{ "a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false },
	{ "*", "", true, true },
	{ "", "", true, true },
	{ "x", "", false, false },
};

static void test_globs(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(globs); i++) {
		const char *p = globs[i].pat, *s = globs[i].s;
		CHECK_MSG(policy_glob_path(p, strlen(p), s, strlen(s)) == globs[i].path,
			  "path glob %s vs %s", p, s);
		if (!strstr(p, "**"))
			CHECK_MSG(policy_glob_flat(p, strlen(p), s, strlen(s)) == globs[i].flat,
				  "flat glob %s vs %s", p, s);
	}
}

/* ---- field rules and precedence ---- */

static const char fields_policy[] =
	"version 1\n"                                        /* 1 */
	"field **.password drop\n"                           /* 2 */
	"field metadata.*.secret mask keep_suffix=4\n"       /* 3 */
	"field *.token hash\n"                               /* 4 */
	"field actor.email tokenize subject=actor.id\n"      /* 5 */
	"field metadata.note keep\n"                         /* 6 */
	"value \"sk_live_*\" mask keep_prefix=8\n"           /* 7 */
	"field metadata.key drop value=AKIA*\n"              /* 8 */
	"[tenant acme]\n"                                    /* 9 */
	"field actor.email mask keep_prefix=2\n"             /* 10 */
	"field metadata.note drop\n"                         /* 11 */
	"[tenant acme action k8s.secrets.*]\n"               /* 12 */
	"field data drop\n"                                  /* 13 */
	"field metadata.note hash   # shadows line 11\n"     /* 14 */
	"[tenant acme-*]\n"                                  /* 15 */
	"field actor.email drop\n"                           /* 16 */
	"[action k8s.**]\n"                                  /* 17 */
	"field data keep\n"                                  /* 18 */
	"field actor.email keep\n"                           /* 19 */
	"[ action \"pay.*\"  tenant * ]\n"                   /* 20 */
	"field **.password keep\n"                           /* 21 */
	"field **.pass*rd hash\n";                           /* 22 */

static const struct {
	const char *tenant, *action, *path, *value;
	unsigned line;   /* of the winning rule; 0: none */
} field_cases[] = {
	/* the top scope alone */
	{ "other", "iam.x", "a.b.password", NULL, 2 },
	{ "other", "iam.x", "password", NULL, 2 },
	{ "other", "iam.x", "a.password.x", NULL, 0 },
	{ "other", "iam.x", "metadata.db.secret", NULL, 3 },
	{ "other", "iam.x", "metadata.secret", NULL, 0 },
	{ "other", "iam.x", "metadata.a.b.secret", NULL, 0 },
	{ "other", "iam.x", "x.token", NULL, 4 },
	{ "other", "iam.x", "a.b.token", NULL, 0 },
	{ "other", "iam.x", "token", NULL, 0 },
	{ "other", "iam.x", "actor.email", NULL, 5 },
	{ "other", "iam.x", "metadata.foo", "sk_live_abc", 7 },
	{ "other", "iam.x", "metadata.foo", "sk_test_abc", 0 },
	{ "other", "iam.x", "metadata.foo", NULL, 0 },
	{ "other", "iam.x", "metadata.key", "AKIA1234", 8 },
	{ "other", "iam.x", "metadata.key", "xyz", 0 },
	{ "other", "iam.x", "metadata.key", "sk_live_1", 7 },
	{ NULL, "iam.x", "actor.email", NULL, 5 },
	{ "", "iam.x", "actor.email", NULL, 5 },
	/* a literal tenant beats every other scope */
	{ "acme", "iam.x", "actor.email", NULL, 10 },
	{ "acme", "iam.x", "metadata.note", NULL, 11 },
	{ "acme", "iam.x", "a.password", NULL, 2 },
	/* within a tenant, the section with an action glob comes first */
	{ "acme", "k8s.secrets.get", "metadata.note", NULL, 14 },
	{ "acme", "k8s.secrets.get", "data", NULL, 13 },
	{ "acme", "k8s.pods.get", "data", NULL, 18 },
	{ "acme", "k8s.secrets.get.x", "data", NULL, 18 },
	/* tenant globs beat "*" even with a more specific action */
	{ "acme-eu", "iam.x", "actor.email", NULL, 16 },
	{ "acme-eu", "k8s.pods.list", "actor.email", NULL, 16 },
	{ "acmex", "k8s.pods.list", "actor.email", NULL, 19 },
	/* an action section beats the top of the file */
	{ "other", "k8s.secrets.get", "data", NULL, 18 },
	{ "other", "k8s.pods.list", "actor.email", NULL, 19 },
	{ NULL, "k8s.pods.list", "actor.email", NULL, 19 },
	/* two action sections: file order */
	{ "other", "pay.charge", "a.password", NULL, 21 },
	{ "other", "pay.charge", "a.passwooord", NULL, 22 },
	{ "other", "pay.charge.x", "a.password", NULL, 2 },
	{ "acme", "pay.charge", "a.password", NULL, 21 },
};

static void test_fields(void)
{
	struct policy *p = parse(fields_policy);
	struct policy_view v;
	if (!p)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(field_cases); i++) {
		const char *t = field_cases[i].tenant, *a = field_cases[i].action;
		const char *path = field_cases[i].path, *val = field_cases[i].value;
		policy_view(p, t, t ? strlen(t) : 0, a, strlen(a), &v);
		const struct policy_rule *r = policy_field(&v, path, strlen(path), val, val ? strlen(val) : 0);
		unsigned got = r ? r->line : 0;
		CHECK_MSG(got == field_cases[i].line, "case %zu: tenant %s action %s path %s: line %u, want %u",
			  i, t ? t : "(none)", a, path, got, field_cases[i].line);
	}
	/* the rule carries its action and options */
	policy_view(p, "other", 5, "iam.x", 5, &v);
	const struct policy_rule *r = policy_field(&v, "metadata.db.secret", 18, NULL, 0);
	CHECK(r && r->action == POLICY_MASK && r->keep_suffix == 4 && r->keep_prefix == 0 &&
	      !strcmp(r->path, "metadata.*.secret") && !r->value && !r->subject);
	r = policy_field(&v, "actor.email", 11, NULL, 0);
	CHECK(r && r->action == POLICY_TOKENIZE && r->subject && !strcmp(r->subject, "actor.id") &&
	      r->subject_len == 8);
	r = policy_field(&v, "metadata.foo", 12, "sk_live_x", 9);
	CHECK(r && r->action == POLICY_MASK && r->keep_prefix == 8 && !strcmp(r->path, "**") &&
	      !strcmp(r->value, "sk_live_*"));
	r = policy_field(&v, "metadata.note", 13, NULL, 0);
	CHECK(r && r->action == POLICY_KEEP);
	policy_view(p, "acme", 4, "k8s.secrets.get", 15, &v);
	CHECK(v.nsec == 4);
	policy_free(p);

	/* no field rule at all: has_fields is false and lookups say NULL */
	p = parse("detector email off\n");
	if (p) {
		policy_view(p, "a", 1, "b", 1, &v);
		CHECK(!v.has_fields && !policy_field(&v, "a", 1, "x", 1));
		policy_free(p);
	}
}

/* policy_field and policy_crit_field (their tail filters, the view's
 * merged blooms, its list of wild rules, the value's first byte) give
 * what the rules say by definition (policy_field_ref and
 * policy_crit_field_ref), over every path of depth 1 to 3 made of
 * segments the policies name, for several tenants, actions and values. */
static void check_against_ref(const struct policy *p, const char *what, bool sparse)
{
	static const char *const segs[] = {
		"password", "passwd", "token", "id", "type", "ip", "data", "email", "note", "key",
		"metadata", "actor", "customer", "secret", "host", "policy_document", "x", "",
		"pan", "card", "phone", "request_object", "w7", "authorization", "a", "t5",
	};
	static const char *const tenants[] = { "acme", "acme-eu", "other", NULL };
	static const char *const actions[] = {
		"k8s.secrets.get", "k8s.pods.get", "iam.x", "pay.charge", "payments.refund", "auth.login",
		"health.check",
	};
	static const char *const values[] = { NULL, "", "sk_live_1", "root", "AKIA1", "s", "x" };
	const size_t ns = ARRAY_SIZE(segs);
	struct policy_view v;
	unsigned bad = 0, hits = 0, n = 0;

	for (size_t t = 0; t < ARRAY_SIZE(tenants); t++)
		for (size_t a = 0; a < ARRAY_SIZE(actions); a += sparse ? 3 : 1) {
			const char *tn = tenants[t];
			policy_view(p, tn, tn ? strlen(tn) : 0, actions[a], strlen(actions[a]), &v);
			for (size_t k = 0; k < ns + ns * ns + ns * ns * ns; k++) {
				char path[200];
				size_t x = k < ns ? k : k < ns + ns * ns ? k - ns : k - ns - ns * ns;
				int depth = k < ns ? 1 : k < ns + ns * ns ? 2 : 3;
				if (depth == 3 && (sparse || x % 7))
					continue;   /* a seventh of depth 3 */
				path[0] = 0;
				for (int d = 0; d < depth; d++, x /= ns)
					snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s",
						 d ? "." : "", segs[x % ns]);
				size_t pl = strlen(path);
				for (size_t vi = 0; vi < ARRAY_SIZE(values); vi++) {
					const char *val = values[vi];
					size_t vl = val ? strlen(val) : 0;
					const struct policy_rule *r = policy_field(&v, path, pl, val, vl);
					struct policy_key key;
					policy_key(&key, path, pl);
					n++;
					if (r != policy_field_key(&v, &key, val, vl) && bad++ < 5)
						CHECK_MSG(0, "%s: path %s: policy_field_key differs", what, path);
					hits += r != NULL;
					if (r != policy_field_ref(&v, path, pl, val, vl) && bad++ < 5)
						CHECK_MSG(0, "%s: tenant %s action %s path %s value %s: policy_field differs from the reference",
							  what, tn ? tn : "(none)", actions[a], path, val ? val : "(null)");
					for (int so = POLICY_CRIT_UNSET; so <= POLICY_CRIT_CRITICAL; so++)
						if ((policy_crit_field(&v, path, pl, val, vl, (enum policy_crit)so) !=
						     policy_crit_field_ref(&v, path, pl, val, vl, (enum policy_crit)so) ||
						     policy_crit_field_key(&v, &key, val, vl, (enum policy_crit)so) !=
						     policy_crit_field_ref(&v, path, pl, val, vl, (enum policy_crit)so)) &&
						    bad++ < 5)
							CHECK_MSG(0, "%s: tenant %s action %s path %s: policy_crit_field differs from the reference",
								  what, tn ? tn : "(none)", actions[a], path);
				}
			}
		}
	CHECK_MSG(bad == 0, "%s: %u lookups differ from the reference", what, bad);
	/* the sample reaches both answers */
	CHECK_MSG(hits > 0 && hits < n, "%s: %u of %u lookups found a rule", what, hits, n);
}

static struct policy *load_example(void);

static void test_fields_ref(void)
{
	struct policy *p = parse(fields_policy);
	if (p) {
		check_against_ref(p, "fields_policy", false);
		policy_free(p);
	}
	if ((p = load_example())) {
		check_against_ref(p, "docs/examples/policy.conf", false);
		policy_free(p);
	}
	/* More wild rules than a view lists (POLICY_VIEW_WILD_MAX), and more
	 * literal last segments than a section's bloom holds apart. */
	struct buf b = BUF_INIT(1 << 20);
	CHECK(buf_puts(&b, "version 1\ncriticality high field=**.key value=s\n") == 0);
	for (int i = 0; i < POLICY_VIEW_WILD_MAX + 4; i++)
		CHECK(buf_printf(&b, "field metadata.w%d.* hash\n", i) == 0);
	for (int i = 0; i < 100; i++)
		CHECK(buf_printf(&b, "field a.t%d drop\n", i) == 0);
	CHECK(buf_puts(&b, "field **.x* keep\nvalue \"s*\" drop\n[action k8s.**]\nfield **.ty* mask\n"
		       "criticality critical field=a.*\n") == 0);
	CHECK(buf_putc(&b, 0) == 0);
	if ((p = parse((const char *)b.data))) {
		check_against_ref(p, "wild and literal rules", true);
		policy_free(p);
	}
	buf_release(&b);
}

/* ---- detectors ---- */

static void test_detectors(void)
{
	struct policy_view v;
	struct policy *p = parse("");
	CHECK(p != NULL);
	if (p) {
		/* nothing said: every detector on, masking */
		policy_view(p, "a", 1, "b", 1, &v);
		CHECK(v.det_on == (1u << DET_COUNT) - 1);
		for (int d = 0; d < DET_COUNT; d++) {
			const struct policy_rule *r = policy_detector(&v, (enum detector)d);
			CHECK(r && r->action == POLICY_MASK && r->line == 0);
		}
		CHECK(policy_detector(&v, (enum detector)DET_COUNT) == NULL);
		policy_free(p);
	}

	p = parse("detector * off\n"                                 /* 1 */
		  "detector email on\n"                              /* 2 */
		  "[tenant acme]\n"                                  /* 3 */
		  "detector email hash\n"                            /* 4 */
		  "detector card tokenize subject=actor.id\n"        /* 5 */
		  "[action k8s.**]\n"                                /* 6 */
		  "detector k8s_secret drop\n"                       /* 7 */
		  "detector email off\n"                             /* 8 */
		  "detector card mask keep_suffix=4\n");             /* 9 */
	if (!p)
		return;
	const struct policy_rule *r;
	policy_view(p, "other", 5, "iam.x", 5, &v);
	r = policy_detector(&v, DET_EMAIL);
	CHECK(r && r->action == POLICY_MASK && r->line == 2);
	CHECK(!policy_detector(&v, DET_CARD) && !policy_detector(&v, DET_K8S_SECRET));
	CHECK(v.det_on == 1u << DET_EMAIL);

	policy_view(p, "other", 5, "k8s.secrets.get", 15, &v);
	r = policy_detector(&v, DET_K8S_SECRET);
	CHECK(r && r->action == POLICY_DROP && r->line == 7);
	CHECK(!policy_detector(&v, DET_EMAIL));
	r = policy_detector(&v, DET_CARD);
	CHECK(r && r->action == POLICY_MASK && r->keep_suffix == 4);
	CHECK(!policy_detector(&v, DET_PHONE));

	policy_view(p, "acme", 4, "iam.x", 5, &v);
	r = policy_detector(&v, DET_EMAIL);
	CHECK(r && r->action == POLICY_HASH && r->line == 4);
	r = policy_detector(&v, DET_CARD);
	CHECK(r && r->action == POLICY_TOKENIZE && r->subject && !strcmp(r->subject, "actor.id"));
	CHECK(!policy_detector(&v, DET_PHONE));

	policy_view(p, "acme", 4, "k8s.x", 5, &v);
	r = policy_detector(&v, DET_EMAIL);
	CHECK(r && r->action == POLICY_HASH);
	r = policy_detector(&v, DET_K8S_SECRET);
	CHECK(r && r->action == POLICY_DROP);
	policy_free(p);

	/* names */
	CHECK(DET_COUNT == 12);
	static const char *const names[] = { "email", "card", "iban", "ssn", "phone", "jwt", "bearer",
		"aws_key_id", "secret", "pem_key", "url_password", "k8s_secret" };
	for (int d = 0; d < DET_COUNT; d++) {
		CHECK(!strcmp(detector_name((enum detector)d), names[d]));
		CHECK(detector_by_name(names[d], strlen(names[d])) == d);
	}
	CHECK(detector_by_name("Email", 5) == -1 && detector_by_name("emai", 4) == -1);
	CHECK(!strcmp(detector_name((enum detector)99), "invalid"));
	CHECK(!strcmp(policy_action_name(POLICY_TOKENIZE), "tokenize"));
	CHECK(!strcmp(policy_action_name((enum policy_action)0), "invalid"));
}

/* ---- criticality, sampling, schema ---- */

static const char crit_policy[] =
	"criticality critical field=actor.type value=root\n"  /* 1 */
	"[action auth.**]\n"                                  /* 2 */
	"criticality critical\n"                              /* 3 */
	"schema auth-event/2\n"                               /* 4 */
	"[action k8s.*.get]\n"                                /* 5 */
	"criticality low\n"                                   /* 6 */
	"sample k8s_reads 0.1 outcome=success\n"              /* 7 */
	"sample k8s_fail 0.5\n"                               /* 8 */
	"[action k8s.secrets.*]\n"                            /* 9 */
	"criticality high\n"                                  /* 10 */
	"criticality critical field=objectRef.name value=kube-*\n" /* 11 */
	"[action k8s.**]\n"                                   /* 12 */
	"schema k8s-audit/1.2\n"                              /* 13 */
	"[tenant lab action k8s.**]\n"                        /* 14 */
	"schema none\n"                                       /* 15 */
	"sample lab_all 1\n"                                  /* 16 */
	"[tenant lab]\n"                                      /* 17 */
	"criticality low\n";                                  /* 18 */

static void test_crit_sample_schema(void)
{
	struct policy *p = parse(crit_policy);
	struct policy_view v;
	const struct policy_sample *s;
	const struct policy_schema *sc;
	enum policy_crit c;

	if (!p)
		return;
	/* nothing matches: normal */
	policy_view(p, "t", 1, "db.query", 8, &v);
	CHECK(v.crit == POLICY_CRIT_UNSET && policy_crit_final(v.crit) == POLICY_CRIT_NORMAL);
	CHECK(v.has_crit_fields);
	c = policy_crit_field(&v, "actor.type", 10, "user", 4, v.crit);
	CHECK(c == POLICY_CRIT_UNSET);
	c = policy_crit_field(&v, "actor.type", 10, "root", 4, c);
	CHECK(c == POLICY_CRIT_CRITICAL);
	CHECK(!policy_sample(&v, "success", 7, POLICY_CRIT_NORMAL));
	CHECK(!policy_view_schema(&v));

	policy_view(p, "t", 1, "auth.login", 10, &v);
	CHECK(v.crit == POLICY_CRIT_CRITICAL);
	sc = policy_view_schema(&v);
	CHECK(sc && !strcmp(sc->name, "auth-event") && !strcmp(sc->version, "2") && sc->line == 4);

	/* k8s.pods.get: low, sampled by outcome */
	policy_view(p, "t", 1, "k8s.pods.get", 12, &v);
	CHECK(v.crit == POLICY_CRIT_LOW);
	s = policy_sample(&v, "success", 7, policy_crit_final(v.crit));
	CHECK(s && !strcmp(s->cls, "k8s_reads") && s->rate == 0.1 && s->line == 7);
	s = policy_sample(&v, "denied", 6, POLICY_CRIT_LOW);
	CHECK(s && !strcmp(s->cls, "k8s_fail") && s->rate == 0.5);
	s = policy_sample(&v, NULL, 0, POLICY_CRIT_LOW);
	CHECK(s && !strcmp(s->cls, "k8s_fail"));
	CHECK(!policy_sample(&v, "success", 7, POLICY_CRIT_CRITICAL));
	sc = policy_view_schema(&v);
	CHECK(sc && !strcmp(sc->name, "k8s-audit") && !strcmp(sc->version, "1.2"));

	/* k8s.secrets.get: low and high match, the highest wins; a field
	 * can raise it to critical, and then nothing samples it */
	policy_view(p, "t", 1, "k8s.secrets.get", 15, &v);
	CHECK(v.crit == POLICY_CRIT_HIGH);
	c = policy_crit_field(&v, "objectRef.name", 14, "kube-root-ca", 12, v.crit);
	CHECK(c == POLICY_CRIT_CRITICAL);
	c = policy_crit_field(&v, "objectRef.name", 14, "app", 3, v.crit);
	CHECK(c == POLICY_CRIT_HIGH);
	s = policy_sample(&v, "success", 7, POLICY_CRIT_HIGH);
	CHECK(s && !strcmp(s->cls, "k8s_reads"));
	CHECK(!policy_sample(&v, "success", 7, POLICY_CRIT_CRITICAL));

	/* tenant lab: `schema none` unbinds; its low does not demote auth */
	policy_view(p, "lab", 3, "k8s.pods.get", 12, &v);
	CHECK(!policy_view_schema(&v) && v.schema && v.schema->line == 15);
	s = policy_sample(&v, "success", 7, POLICY_CRIT_LOW);
	CHECK(s && !strcmp(s->cls, "lab_all") && s->rate == 1.0);
	policy_view(p, "lab", 3, "auth.login", 10, &v);
	CHECK(v.crit == POLICY_CRIT_CRITICAL);
	policy_view(p, "lab", 3, "db.x", 4, &v);
	CHECK(v.crit == POLICY_CRIT_LOW && policy_crit_final(v.crit) == POLICY_CRIT_LOW);
	policy_free(p);

	CHECK(!strcmp(policy_crit_name(POLICY_CRIT_HIGH), "high"));
	CHECK(!strcmp(policy_crit_name(POLICY_CRIT_UNSET), "unset"));
}

/* ---- refusals ---- */

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * times + tl + 1);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, tail, tl + 1);
	return s;
}

static const struct {
	const char *text;
	int code;
	unsigned line, col;
	const char *msg;   /* a substring of the message */
} errors[] = {
	{ "frobnicate x\n", ST_EINVAL, 1, 1, "unknown directive \"frobnicate\"" },
	{ "# c\n\n  field\n", ST_EINVAL, 3, 8, "expected \"field PATH ACTION" },
	{ "field a.b\n", ST_EINVAL, 1, 10, "expected \"field PATH ACTION" },
	{ "field a.b erase\n", ST_EINVAL, 1, 11, "expected an action (drop, mask, hash, tokenize or keep), found \"erase\"" },
	{ "field a..b drop\n", ST_EINVAL, 1, 9, "empty segment" },
	{ "field .a drop\n", ST_EINVAL, 1, 7, "empty segment" },
	{ "field a. drop\n", ST_EINVAL, 1, 8, "trailing '.'" },
	{ "field a.b**.c drop\n", ST_EINVAL, 1, 9, "\"**\" must be a whole segment" },
	{ "field a.*** drop\n", ST_EINVAL, 1, 9, "\"**\" must be a whole segment" },
	{ "field \"\" drop\n", ST_EINVAL, 1, 7, "empty word" },
	{ "field a mask keep_suffix=65\n", ST_EINVAL, 1, 26, "keep_suffix: expected a number of characters in [0, 64]" },
	{ "field a mask keep_suffix=-1\n", ST_EINVAL, 1, 26, "keep_suffix" },
	{ "field a mask keep_suffix=04\n", ST_EINVAL, 1, 26, "keep_suffix" },
	{ "field a hash keep_suffix=4\n", ST_EINVAL, 1, 14, "apply to mask only, not hash" },
	{ "field a mask subject=actor.id\n", ST_EINVAL, 1, 14, "subject applies to tokenize only" },
	{ "field a tokenize subject=actor.*\n", ST_EINVAL, 1, 32, "plain dotted path, found '*'" },
	{ "field a drop colour=red\n", ST_EINVAL, 1, 14, "unknown option \"colour\"" },
	{ "field a drop extra\n", ST_EINVAL, 1, 14, "expected an option key=value" },
	{ "field a mask keep_prefix=1 keep_prefix=2\n", ST_EINVAL, 1, 28, "option keep_prefix given twice" },
	{ "field a drop value=\n", ST_EINVAL, 1, 20, "value: expected a glob" },
	{ "value x drop value=y\n", ST_EINVAL, 1, 14, "unknown option \"value\"" },
	{ "field a drop\nfield a hash\n", ST_EINVAL, 2, 7, "duplicate rule: line 1" },
	{ "field a drop value=x\nfield a hash value=x\n", ST_EINVAL, 2, 7, "duplicate rule: line 1" },
	{ "field \"a b drop\n", ST_EINVAL, 1, 7, "closing '\"'" },
	{ "field \"a\\nb\" drop\n", ST_EINVAL, 1, 9, "expected \\\" or \\\\" },
	{ "field a\001 drop\n", ST_EINVAL, 1, 8, "control byte 0x01" },
	{ "field a drop\0\n", ST_EINVAL, 1, 13, "control byte 0x00" },
	{ "detector emial on\n", ST_EINVAL, 1, 10, "unknown detector \"emial\"; expected * or one of email, card" },
	{ "detector email keep\n", ST_EINVAL, 1, 16, "keep is for field rules" },
	{ "detector email maybe\n", ST_EINVAL, 1, 16, "expected on, off, drop, mask, hash or tokenize" },
	{ "detector email off keep_prefix=1\n", ST_EINVAL, 1, 20, "off takes no options" },
	{ "detector email on\ndetector email off\n", ST_EINVAL, 2, 10, "detector email is already set at line 1" },
	{ "detector * on\ndetector * off\n", ST_EINVAL, 2, 10, "detector * is already set at line 1" },
	{ "detector email mask value=x\n", ST_EINVAL, 1, 21, "unknown option \"value\"" },
	{ "criticality urgent\n", ST_EINVAL, 1, 13, "expected critical, high, normal or low, found \"urgent\"" },
	{ "criticality high\ncriticality low\n", ST_EINVAL, 2, 13, "duplicate criticality: line 1" },
	{ "criticality high field=a..b\n", ST_EINVAL, 1, 26, "empty segment" },
	{ "sample c 0\n", ST_EINVAL, 1, 10, "expected a rate with 0 < rate <= 1" },
	{ "sample c 1.5\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c 0.1e1\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c .5\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c 0.\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c 0.0000000001\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c 1.0000000001\n", ST_EINVAL, 1, 10, "expected a rate" },
	{ "sample c 0.1 outcome=ok\n", ST_EINVAL, 1, 22, "outcome: expected success, failure, denied or unknown" },
	{ "sample c/d 0.1\n", ST_EINVAL, 1, 9, "sample class: expected [A-Za-z0-9_.-], found '/'" },
	{ "sample a 0.1\nsample b 0.2\n", ST_EINVAL, 2, 8, "sample rule can never apply: line 1" },
	{ "sample a 0.1 outcome=success\nsample b 0.2 outcome=success\n", ST_EINVAL, 2, 8, "line 1" },
	{ "[action iam.**]\ncriticality critical\n[action iam.role.*]\nsample r 0.5\n", ST_EINVAL, 4, 1,
	  "every event it matches is critical (line 2)" },
	{ "criticality critical\n[tenant a action x]\nsample r 0.5\n", ST_EINVAL, 3, 1, "critical (line 1)" },
	{ "[tenant a-*]\ncriticality critical\n[tenant a-b]\nsample r 0.5\n", ST_EINVAL, 4, 1, "critical (line 2)" },
	{ "schema auth\n", ST_EINVAL, 1, 8, "expected NAME/VERSION (or none)" },
	{ "schema auth/\n", ST_EINVAL, 1, 13, "expected schema version, found an empty word" },
	{ "schema a/1 b\n", ST_EINVAL, 1, 12, "expected the end of the line" },
	{ "schema a/1\nschema b/1\n", ST_EINVAL, 2, 1, "schema is already bound at line 1" },
	{ "field a drop\nversion 1\n", ST_EINVAL, 2, 1, "version must come once" },
	{ "version 2\n", ST_EINVAL, 1, 9, "expected \"version 1\"" },
	{ "version 1\nversion 1\n", ST_EINVAL, 2, 1, "version must come once" },
	{ "[tenant acme\n", ST_EINVAL, 1, 13, "ending in ']'" },
	{ "[]\n", ST_EINVAL, 1, 2, "expected \"tenant NAME\" and/or \"action GLOB\"" },
	{ "[owner acme]\n", ST_EINVAL, 1, 2, "expected \"tenant\" or \"action\" in a section header, found \"owner\"" },
	{ "[tenant]\n", ST_EINVAL, 1, 8, "expected a tenant name or glob" },
	{ "[tenant a tenant b]\n", ST_EINVAL, 1, 11, "tenant given twice" },
	{ "[tenant ac/me]\n", ST_EINVAL, 1, 11, "tenant: expected [A-Za-z0-9_.-] or '*', found '/'" },
	{ "[tenant a**]\n", ST_EINVAL, 1, 9, "write one '*'" },
	{ "[action k8s..x]\n", ST_EINVAL, 1, 13, "empty segment" },
	{ "[tenant a action x]\n[action x tenant a]\n", ST_EINVAL, 2, 1, "duplicate section: [tenant a action x] is already at line 1" },
	{ "[tenant a]\n[tenant a action **]\n", ST_EINVAL, 2, 1, "duplicate section" },
	{ "[tenant a] field x drop\n", ST_EINVAL, 1, 12, "expected the end of the line after ']'" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
		struct policy *p = (struct policy *)(uintptr_t)1;
		struct policy_error err;
		/* the case with a NUL byte needs its real length */
		size_t n = strlen(errors[i].text);
		if (strstr(errors[i].msg, "0x00"))
			n = strlen("field a drop") + 2;
		int r = policy_parse(errors[i].text, n, "bad.conf", &p, &err);
		CHECK_MSG(r == errors[i].code && p == (struct policy *)(uintptr_t)1 &&
			  err.line == errors[i].line && err.col == errors[i].col &&
			  strstr(err.msg, errors[i].msg) && !strcmp(err.file, "bad.conf"),
			  "case %zu: %s: got %d %u:%u: %s", i, errors[i].text, r, err.line, err.col, err.msg);
	}

	char out[512];
	struct policy *p = NULL;
	struct policy_error err;
	CHECK(policy_parse("field a oops\n", 13, "x.conf", &p, &err) == ST_EINVAL);
	policy_error_format(&err, out, sizeof(out));
	CHECK(!strncmp(out, "x.conf:1:9: expected an action", 30));
	CHECK(policy_load("/nonexistent/policy.conf", &p, &err) < 0 && p == NULL);
	policy_error_format(&err, out, sizeof(out));
	CHECK(!strncmp(out, "/nonexistent/policy.conf: cannot read", 37));
}

/* ---- limits ---- */

static void expect_limit(const char *text, size_t n, unsigned line, const char *limit)
{
	struct policy *p = NULL;
	struct policy_error err;
	int r = policy_parse(text, n, "big.conf", &p, &err);
	CHECK_MSG(r == ST_ELIMIT && !p && err.line == line && strstr(err.msg, limit),
		  "limit %s: got %d at line %u: %s", limit, r, err.line, err.msg);
	policy_free(p);
}

static void test_limits(void)
{
	char *s, buf[1024];

	s = repeat("#", POLICY_FILE_MAX + 1, "");
	expect_limit(s, POLICY_FILE_MAX + 1, 0, "POLICY_FILE_MAX");
	free(s);
	s = repeat("#", POLICY_LINE_MAX, "");
	struct policy *p = parse(s);   /* exactly the limit is fine */
	policy_free(p);
	free(s);
	s = repeat("#", POLICY_LINE_MAX + 1, "\r\n");
	expect_limit(s, strlen(s), 1, "POLICY_LINE_MAX");
	free(s);

	/* one glob byte over */
	snprintf(buf, sizeof(buf), "field %0*d drop\n", POLICY_GLOB_MAX + 1, 0);
	expect_limit(buf, strlen(buf), 1, "POLICY_GLOB_MAX");
	snprintf(buf, sizeof(buf), "field %0*d drop\n", POLICY_GLOB_MAX, 0);
	policy_free(parse(buf));
	snprintf(buf, sizeof(buf), "value %0*d drop\n", POLICY_VALUE_GLOB_MAX + 1, 0);
	expect_limit(buf, strlen(buf), 1, "POLICY_VALUE_GLOB_MAX");
	snprintf(buf, sizeof(buf), "[tenant %0*d]\n", POLICY_NAME_MAX + 1, 0);
	expect_limit(buf, strlen(buf), 1, "POLICY_NAME_MAX");
	snprintf(buf, sizeof(buf), "sample %0*d 0.5\n", POLICY_NAME_MAX + 1, 0);
	expect_limit(buf, strlen(buf), 1, "POLICY_NAME_MAX");

	/* directives: POLICY_RULES_MAX is fine, one more is not */
	struct buf b = BUF_INIT(1 << 24);
	for (int i = 0; i < POLICY_RULES_MAX; i++)
		buf_printf(&b, "field f%d drop\n", i);
	buf_cstr(&b);
	p = parse((const char *)b.data);
	CHECK(p != NULL);
	policy_free(p);
	buf_printf(&b, "field g drop\n");
	expect_limit((const char *)b.data, b.len, POLICY_RULES_MAX + 1, "POLICY_RULES_MAX");

	/* sections */
	buf_reset(&b);
	for (int i = 0; i <= POLICY_SECTIONS_MAX; i++)
		buf_printf(&b, "[tenant t%d]\n", i);
	expect_limit((const char *)b.data, b.len, POLICY_SECTIONS_MAX + 1, "POLICY_SECTIONS_MAX");
	buf_reset(&b);
	for (int i = 0; i < POLICY_TENANT_SCOPES_MAX + 1; i++)
		buf_printf(&b, "[tenant acme action a%d]\nfield x drop\n", i);
	expect_limit((const char *)b.data, b.len, 2 * POLICY_TENANT_SCOPES_MAX + 1,
		     "POLICY_TENANT_SCOPES_MAX");
	buf_reset(&b);
	for (int i = 0; i < POLICY_SHARED_SCOPES_MAX; i++)
		buf_printf(&b, "[action a%d]\n", i);
	expect_limit((const char *)b.data, b.len, POLICY_SHARED_SCOPES_MAX, "POLICY_SHARED_SCOPES_MAX");

	/* words on a line */
	buf_reset(&b);
	buf_puts(&b, "field a mask");
	for (int i = 0; i < 70; i++)
		buf_puts(&b, " k=v");
	expect_limit((const char *)b.data, b.len, 1, "words on a line");

	/* a full view: 32 literal + 32 shared scopes (the top counts), all
	 * matching; "**", "**.**", ... are distinct globs that match anything */
	buf_reset(&b);
	buf_puts(&b, "field top drop\n");
	char glob[256] = "**";
	for (int i = 0; i < POLICY_TENANT_SCOPES_MAX; i++, strcat(glob, ".**"))
		buf_printf(&b, "[tenant acme action %s]\nfield l%d drop\n", glob, i);
	strcpy(glob, "**.**");
	for (int i = 1; i < POLICY_SHARED_SCOPES_MAX; i++, strcat(glob, ".**"))
		buf_printf(&b, "[tenant %s action %s]\nfield s%d drop\n", i & 1 ? "*" : "ac*", glob, i);
	buf_cstr(&b);
	p = parse((const char *)b.data);
	if (p) {
		struct policy_view v;
		policy_view(p, "acme", 4, "a.b", 3, &v);
		CHECK(v.nsec == POLICY_VIEW_MAX);
		const struct policy_rule *r = policy_field(&v, "top", 3, NULL, 0);
		CHECK(r && r->line == 1);
		r = policy_field(&v, "l31", 3, NULL, 0);
		CHECK(r && r->line == 65);
		r = policy_field(&v, "s2", 2, NULL, 0);   /* a tenant glob's section */
		CHECK(r && r->line == 69);
		policy_view(p, "other", 5, "a.b", 3, &v);
		CHECK(v.nsec == 1 + POLICY_SHARED_SCOPES_MAX / 2);
		policy_free(p);
	}
	buf_release(&b);
}

/* ---- canonical text and digest ---- */

static void canon(const struct policy *p, struct buf *b)
{
	buf_reset(b);
	CHECK(policy_format(p, b) == 0);
	buf_cstr(b);
}

static void test_canonical(void)
{
	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	uint8_t d1[HASH_SIZE], d2[HASH_SIZE], s1[HASH_SIZE], s2[HASH_SIZE];
	struct policy *p = parse(fields_policy), *q;

	if (!p)
		return;
	canon(p, &a);
	q = parse((const char *)a.data);
	if (q) {
		canon(q, &b);
		CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
		policy_digest(p, d1);
		policy_digest(q, d2);
		CHECK_MEM(d1, d2, HASH_SIZE);
		policy_source_digest(p, s1);
		policy_source_digest(q, s2);
		CHECK(memcmp(s1, s2, HASH_SIZE) != 0);
		policy_free(q);
	}
	/* the exact canonical text of a small file */
	q = parse("  # comment\n"
		  "field   \"a b\"   mask   keep_suffix=4 keep_prefix=2 value=\"x=y\"\r\n"
		  "value sk_* hash\n"
		  "detector email on\n"
		  "detector * off\n"
		  "[action x.** tenant acme]  # trailing\n"
		  "sample s 0.250 outcome=denied\n"
		  "sample t 1.0\n"
		  "criticality high value=\"#x\"\n"
		  "schema none\n"
		  "[tenant unused]\n"
		  "[tenant *]\n"
		  "field \"q\\\"\\\\\" tokenize subject=actor.id\n"
		  "schema s/1\n");
	if (q) {
		canon(q, &b);
		const char *want =
			"version 1\n"
			"field \"a b\" mask keep_prefix=2 keep_suffix=4 value=\"x=y\"\n"
			"field ** hash value=sk_*\n"
			"detector * off\n"
			"detector email mask\n"
			"[tenant acme action x.**]\n"
			"criticality high field=** value=\"#x\"\n"
			"sample s 0.25 outcome=denied\n"
			"sample t 1\n"
			"schema none\n"
			"[tenant * action **]\n"
			"field \"q\\\"\\\\\" tokenize subject=actor.id\n"
			"schema s/1\n";
		CHECK_MSG(!strcmp((const char *)b.data, want), "canonical:\n%s", (const char *)b.data);
		policy_free(q);
	}
	/* comments, spacing and header word order do not change the digest;
	 * rule order, scope and options do */
	static const char *const same_as_base[] = {
		"field a drop\nfield b hash\n[tenant t action x]\nfield c keep\n",
		"# hi\n  field   a   drop  # why\n\nfield \"b\" hash\r\n[ action x tenant t ]\nfield c keep\n",
		"version 1\nfield a drop\nfield b hash\n[tenant t action x]\nfield c keep\n",
	};
	static const char *const differs[] = {
		"field b hash\nfield a drop\n[tenant t action x]\nfield c keep\n",
		"field a drop\nfield b hash\n[tenant u action x]\nfield c keep\n",
		"field a drop\nfield b hash\n[tenant t action x]\nfield c mask\n",
		"field a drop\nfield b hash\n[tenant t action x.*]\nfield c keep\n",
		"field a drop\nfield b hash\n[tenant t action x]\nfield c keep\ndetector email off\n",
	};
	uint8_t base[HASH_SIZE], d[HASH_SIZE];
	q = parse(same_as_base[0]);
	if (!q)
		return;
	policy_digest(q, base);
	policy_free(q);
	for (size_t i = 1; i < ARRAY_SIZE(same_as_base); i++) {
		if (!(q = parse(same_as_base[i])))
			continue;
		policy_digest(q, d);
		CHECK_MSG(!memcmp(d, base, HASH_SIZE), "same_as_base[%zu] digest differs", i);
		policy_free(q);
	}
	for (size_t i = 0; i < ARRAY_SIZE(differs); i++) {
		if (!(q = parse(differs[i])))
			continue;
		policy_digest(q, d);
		CHECK_MSG(memcmp(d, base, HASH_SIZE) != 0, "differs[%zu] digest is the same", i);
		policy_free(q);
	}
	policy_free(p);
	buf_release(&a);
	buf_release(&b);
}

/* ---- the example policy ---- */

static struct policy *load_example(void)
{
	char path[4096];
	const char *src = getenv("SEALTRAIL_SRC");
	struct policy *p = NULL;
	struct policy_error err;

	snprintf(path, sizeof(path), "%s/docs/examples/policy.conf", src ? src : ".");
	int r = policy_load(path, &p, &err);
	CHECK_MSG(r == 0, "%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	return p;
}

static void test_example(void)
{
	struct policy *p = load_example();
	struct policy_view v;
	const struct policy_rule *r;
	char desc[512];

	if (!p)
		return;
	policy_describe(p, desc, sizeof(desc));
	CHECK_MSG(strstr(desc, " sections=9 tenants=1 field_rules=20 value_rules=1 detector_settings=6 "
			       "crit_rules=7 sample_rules=2 schema_bindings=2 lines=69"), "%s", desc);
	/* describe names no path, value, class or tenant of the file */
	CHECK(!strstr(desc, "password") && !strstr(desc, "acme") && !strstr(desc, "sk_live") &&
	      !strstr(desc, "k8s"));
	uint8_t d[HASH_SIZE];
	char hex[2 * HASH_SIZE + 1];
	policy_digest(p, d);
	hex_encode(d, HASH_SIZE, hex);
	CHECK(!strncmp(desc, "policy sha256:", 14) && !strncmp(desc + 14, hex, 64));

	policy_view(p, "acme", 4, "k8s.secrets.get", 15, &v);
	CHECK(v.crit == POLICY_CRIT_CRITICAL);
	CHECK(!policy_sample(&v, "success", 7, v.crit));
	r = policy_field(&v, "request_object.data", 19, NULL, 0);
	CHECK(r && r->action == POLICY_DROP && r->line == 44);
	r = policy_field(&v, "actor.id", 8, "alice", 5);
	CHECK(r && r->action == POLICY_TOKENIZE && r->line == 58);
	r = policy_detector(&v, DET_K8S_SECRET);
	CHECK(r && r->action == POLICY_DROP);
	r = policy_detector(&v, DET_EMAIL);
	CHECK(r && r->action == POLICY_HASH);
	CHECK(!policy_detector(&v, DET_PHONE));
	CHECK(policy_view_schema(&v) && !strcmp(policy_view_schema(&v)->name, "k8s-audit"));

	policy_view(p, "globex", 6, "k8s.pods.get", 12, &v);
	CHECK(v.crit == POLICY_CRIT_LOW);
	const struct policy_sample *s = policy_sample(&v, "success", 7, policy_crit_final(v.crit));
	CHECK(s && !strcmp(s->cls, "k8s_reads"));
	CHECK(policy_crit_field(&v, "actor.type", 10, "root", 4, v.crit) == POLICY_CRIT_CRITICAL);
	r = policy_field(&v, "metadata.db.password", 20, "hunter2", 7);
	CHECK(r && r->action == POLICY_DROP && r->line == 8);
	r = policy_field(&v, "metadata.customer.email", 23, "a@b.c", 5);
	CHECK(r && r->action == POLICY_TOKENIZE && r->subject && !strcmp(r->subject, "actor.id"));
	r = policy_field(&v, "metadata.note", 13, "sk_live_abcdef", 14);
	CHECK(r && r->action == POLICY_MASK && r->keep_prefix == 8);
	CHECK(!policy_field(&v, "metadata.note", 13, "hello", 5));
	r = policy_detector(&v, DET_CARD);
	CHECK(r && r->action == POLICY_MASK && r->keep_suffix == 4);
	r = policy_detector(&v, DET_EMAIL);
	CHECK(r && r->action == POLICY_MASK && r->line == 24);

	policy_view(p, "acme", 4, "payments.charge", 15, &v);
	CHECK(v.crit == POLICY_CRIT_HIGH);
	r = policy_field(&v, "metadata.card.pan", 17, "4111111111111111", 16);
	CHECK(r && r->keep_suffix == 4 && r->line == 63);
	policy_view(p, "acme", 4, "iam.role.update", 15, &v);
	CHECK(v.crit == POLICY_CRIT_CRITICAL && !policy_view_schema(&v));
	policy_free(p);
}

/* ---- threads: lookups share one policy ---- */

struct thr {
	const struct policy *p;
	int bad;
};

static void *lookup_thread(void *arg)
{
	struct thr *t = arg;
	struct policy_view v;
	for (int i = 0; i < 20000; i++) {
		policy_view(t->p, "acme", 4, "k8s.secrets.get", 15, &v);
		const struct policy_rule *r = policy_field(&v, "actor.id", 8, "x", 1);
		if (!r || r->line != 58 || v.crit != POLICY_CRIT_CRITICAL)
			t->bad++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct policy *p = load_example();
	pthread_t th[4];
	struct thr t[4];
	if (!p)
		return;
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ p, 0 };
		pthread_create(&th[i], NULL, lookup_thread, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(t[i].bad == 0);
	}
	policy_free(p);
}

/* ---- the lookup benchmark (-v) ---- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench(void)
{
	/* The string fields of a typical Kubernetes or IAM event, as jwalk
	 * reports them: most have no rule, a few do. */
	static const char *const paths[] = {
		"time", "action", "actor.id", "actor.type", "actor.name", "actor.ip",
		"actor.user_agent", "resource.type", "resource.id", "resource.name",
		"outcome", "reason", "request_id", "source.service", "source.host",
		"metadata.verb", "metadata.user.groups", "metadata.headers.authorization",
		"metadata.db.password", "metadata.note",
	};
	enum { N = ARRAY_SIZE(paths), ROUNDS = 200000 };
	size_t plen[N];
	struct policy *p = load_example();
	struct policy_view v;
	volatile uintptr_t sink = 0;
	if (!p)
		return;
	for (size_t i = 0; i < N; i++)
		plen[i] = strlen(paths[i]);

	for (int rep = 0; rep < 3; rep++) {
		double t0 = now_ns();
		for (int i = 0; i < ROUNDS; i++) {
			policy_view(p, "acme", 4, "k8s.secrets.get", 15, &v);
			sink += v.nsec;
		}
		double t1 = now_ns();
		policy_view(p, "globex", 6, "k8s.pods.get", 12, &v);
		for (int i = 0; i < ROUNDS; i++)
			for (size_t k = 0; k < N; k++)
				sink += (uintptr_t)policy_field(&v, paths[k], plen[k], "some value", 10);
		double t2 = now_ns();
		policy_view(p, "acme", 4, "k8s.secrets.get", 15, &v);
		for (int i = 0; i < ROUNDS; i++)
			for (size_t k = 0; k < N; k++)
				sink += (uintptr_t)policy_field(&v, paths[k], plen[k], "some value", 10);
		double t3 = now_ns();
		printf("bench: policy_view %.1f ns; policy_field %.1f ns (tenant globex: 3 scopes, 12 field rules), "
		       "%.1f ns (tenant acme, k8s.secrets.get: 5 scopes, 17 field rules); %d paths x %d rounds\n",
		       (t1 - t0) / ROUNDS, (t2 - t1) / ((double)ROUNDS * N),
		       (t3 - t2) / ((double)ROUNDS * N), (int)N, ROUNDS);
	}
	(void)sink;
	policy_free(p);
}

int main(int argc, char **argv)
{
	bool verbose = (argc > 1 && !strcmp(argv[1], "-v")) || getenv("SEALTRAIL_BENCH");

	test_globs();
	test_fields();
	test_fields_ref();
	test_detectors();
	test_crit_sample_schema();
	test_errors();
	test_limits();
	test_canonical();
	test_example();
	test_threads();
	if (verbose)
		bench();
	return test_report("test_policy");
}
