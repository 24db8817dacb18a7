/*
 * gen_events: a fast, deterministic generator of realistic audit events,
 * written as NDJSON on stdout, for the benchmarks and load tests.
 *
 *   gen_events COUNT [SEED]        (SEED defaults to 1)
 *
 * Invariants this file keeps:
 *  - Same COUNT and SEED, same bytes, on every machine: one splitmix64
 *    stream, integer arithmetic only (no floating point, locale or clock).
 *  - Prefix property: the first K lines of `gen_events N S` are the lines of
 *    `gen_events K S` (K <= N), so subsets are just `head -n K`.
 *  - Every line is one JSON object of MIN_EVENT..MAX_EVENT bytes (without
 *    its newline): valid UTF-8, no duplicate keys, top-level keys only from
 *    DESIGN.md "The event"; time, action, actor.id and resource.type are
 *    always present.
 *  - Event time never decreases; it is rendered in UTC ("Z") or at +02:00.
 *  - "id" (on about half the events) is unique within one data set.
 *
 * Only libc is used: the generator must not depend on the code it measures.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_EVENT 300
#define MAX_EVENT 700
#define SCRATCH_SIZE 16384
#define OUT_SIZE (4u << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- PRNG */

struct rng {
	uint64_t s;
};

/* splitmix64 (Steele, Lea, Flood 2014): one add and two multiplies. */
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n < 2^32, by multiply-shift (bias < 2^-32). */
static uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Skewed towards 0 (popular tenants, active users): min of two draws. */
static uint32_t skewed(struct rng *r, uint32_t n)
{
	uint32_t a = below(r, n), b = below(r, n);
	return a < b ? a : b;
}

static bool chance(struct rng *r, uint32_t percent)
{
	return below(r, 100) < percent;
}

#define PICK(r, pool) ((pool)[below((r), (uint32_t)ARRAY_LEN(pool))])

/* -------------------------------------------------------------- output */

/* A cursor into a fixed buffer; overflowing it is a bug in this file. */
struct sb {
	char *cur;
	char *end;
};

static void need(struct sb *b, size_t n)
{
	if ((size_t)(b->end - b->cur) < n) {
		fputs("gen_events: scratch buffer overflow (bug)\n", stderr);
		exit(1);
	}
}

static void put_mem(struct sb *b, const char *s, size_t n)
{
	need(b, n);
	memcpy(b->cur, s, n);
	b->cur += n;
}

static void put(struct sb *b, const char *s)
{
	put_mem(b, s, strlen(s));
}

static void put_ch(struct sb *b, char c)
{
	need(b, 1);
	*b->cur++ = c;
}

static void put_u64(struct sb *b, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	need(b, n);
	while (n)
		*b->cur++ = tmp[--n];
}

static void put_i64(struct sb *b, int64_t v)
{
	if (v < 0) {
		put_ch(b, '-');
		put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(b, (uint64_t)v);
	}
}

/* Zero-padded decimal of exactly `width` digits (v < 10^width). */
static void put_dec(struct sb *b, uint64_t v, unsigned width)
{
	need(b, width);
	for (unsigned i = width; i > 0; i--) {
		b->cur[i - 1] = (char)('0' + (int)(v % 10));
		v /= 10;
	}
	b->cur += width;
}

static void put_hex(struct sb *b, uint64_t v, unsigned digits)
{
	static const char hx[] = "0123456789abcdef";
	need(b, digits);
	for (unsigned i = digits; i > 0; i--) {
		b->cur[i - 1] = hx[v & 15];
		v >>= 4;
	}
	b->cur += digits;
}

/* Lower-case hex without leading zeros, as in IPv6 groups. */
static void put_hex_short(struct sb *b, uint64_t v)
{
	unsigned digits = 1;
	while (digits < 16 && (v >> (4 * digits)))
		digits++;
	put_hex(b, v, digits);
}

/* `m / 10^places` as a JSON decimal: put_fixed(-1275, 2) is "-12.75". */
static void put_fixed(struct sb *b, int64_t m, unsigned places)
{
	uint64_t p = 1;
	for (unsigned i = 0; i < places; i++)
		p *= 10;
	uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	if (m < 0)
		put_ch(b, '-');
	put_u64(b, a / p);
	put_ch(b, '.');
	put_dec(b, a % p, places);
}

/* A JSON string whose content is already escaped (all pools below are). */
static void str(struct sb *b, const char *s)
{
	put_ch(b, '"');
	put(b, s);
	put_ch(b, '"');
}

/* Object member: a comma unless first, then "k":. `*n` counts members. */
static void key(struct sb *b, int *n, const char *k)
{
	if ((*n)++)
		put_ch(b, ',');
	put_ch(b, '"');
	put(b, k);
	put(b, "\":");
}

static void kv_str(struct sb *b, int *n, const char *k, const char *v)
{
	key(b, n, k);
	str(b, v);
}

/* ----------------------------------------------------------- the pools */

enum svc {
	SVC_IAM, SVC_AUTH, SVC_K8S, SVC_DB, SVC_CI, SVC_S3, SVC_VM, SVC_NET,
	SVC_BILLING, SVC_KMS, SVC_COUNT
};

static const char *const svc_name[SVC_COUNT] = {
	"iam-api", "auth-service", "kube-apiserver", "pg-audit", "gitlab-ci",
	"s3-gateway", "compute-api", "netctl", "billing-api", "kms",
};

/* Services whose producers number their events (source.producer_seq). */
static const bool svc_seq[SVC_COUNT] = {
	true, true, false, true, false, true, false, false, true, true,
};

static const char *const svc_schema[SVC_COUNT] = {
	"iam.change/2", "auth.event/1", "k8s.audit/1", "db.audit/1",
	"ci.event/1", "s3.access/3", "compute.op/1", "net.change/1",
	"billing.event/1", "kms.op/2",
};

enum kind {
	R_SESSION, R_USER, R_TOKEN, R_ROLE, R_BINDING, R_POLICY, R_GROUP,
	R_POD, R_SECRET, R_DEPLOYMENT, R_CONFIGMAP, R_NAMESPACE, R_TABLE,
	R_QUERY, R_GRANT, R_BACKUP, R_PIPELINE, R_JOB, R_CISECRET, R_OBJECT,
	R_BUCKET, R_INSTANCE, R_FIREWALL, R_INVOICE, R_SUBSCRIPTION, R_KEY,
};

static const char *const kind_name[] = {
	"session", "user", "api_token", "role", "role_binding", "policy",
	"group", "pod", "secret", "deployment", "configmap", "namespace",
	"table", "query", "db_grant", "backup", "pipeline", "job",
	"ci_variable", "object", "bucket", "instance", "firewall_rule",
	"invoice", "subscription", "kms_key",
};

/* Snapshot templates for before/after. */
enum snap { S_NONE, S_IAM, S_K8S, S_DB, S_INFRA, S_BILLING, S_HASH };

struct action {
	const char *name;
	enum kind kind;
	enum svc svc;
	enum snap snap;
	unsigned weight; /* relative frequency */
};

static const struct action actions[] = {
	{ "auth.login", R_SESSION, SVC_AUTH, S_NONE, 90 },
	{ "auth.logout", R_SESSION, SVC_AUTH, S_NONE, 40 },
	{ "auth.mfa.challenge", R_SESSION, SVC_AUTH, S_NONE, 50 },
	{ "auth.password.reset", R_USER, SVC_AUTH, S_HASH, 8 },
	{ "auth.token.create", R_TOKEN, SVC_AUTH, S_NONE, 8 },
	{ "auth.token.revoke", R_TOKEN, SVC_AUTH, S_NONE, 4 },
	{ "iam.user.create", R_USER, SVC_IAM, S_IAM, 8 },
	{ "iam.user.update", R_USER, SVC_IAM, S_IAM, 20 },
	{ "iam.user.delete", R_USER, SVC_IAM, S_NONE, 2 },
	{ "iam.role.create", R_ROLE, SVC_IAM, S_IAM, 5 },
	{ "iam.role.update", R_ROLE, SVC_IAM, S_IAM, 30 },
	{ "iam.role.assign", R_BINDING, SVC_IAM, S_IAM, 16 },
	{ "iam.policy.attach", R_POLICY, SVC_IAM, S_IAM, 12 },
	{ "iam.group.member.add", R_GROUP, SVC_IAM, S_IAM, 12 },
	{ "k8s.pods.create", R_POD, SVC_K8S, S_K8S, 30 },
	{ "k8s.pods.delete", R_POD, SVC_K8S, S_NONE, 25 },
	{ "k8s.pods.exec", R_POD, SVC_K8S, S_NONE, 10 },
	{ "k8s.secrets.get", R_SECRET, SVC_K8S, S_NONE, 60 },
	{ "k8s.secrets.update", R_SECRET, SVC_K8S, S_HASH, 12 },
	{ "k8s.deployments.patch", R_DEPLOYMENT, SVC_K8S, S_K8S, 40 },
	{ "k8s.configmaps.update", R_CONFIGMAP, SVC_K8S, S_K8S, 25 },
	{ "k8s.namespaces.delete", R_NAMESPACE, SVC_K8S, S_NONE, 1 },
	{ "db.table.create", R_TABLE, SVC_DB, S_DB, 5 },
	{ "db.table.alter", R_TABLE, SVC_DB, S_DB, 12 },
	{ "db.table.drop", R_TABLE, SVC_DB, S_NONE, 1 },
	{ "db.query.execute", R_QUERY, SVC_DB, S_NONE, 50 },
	{ "db.user.grant", R_GRANT, SVC_DB, S_IAM, 4 },
	{ "db.backup.restore", R_BACKUP, SVC_DB, S_NONE, 1 },
	{ "ci.pipeline.run", R_PIPELINE, SVC_CI, S_NONE, 40 },
	{ "ci.pipeline.cancel", R_PIPELINE, SVC_CI, S_NONE, 5 },
	{ "ci.job.retry", R_JOB, SVC_CI, S_NONE, 10 },
	{ "ci.variable.read", R_CISECRET, SVC_CI, S_NONE, 15 },
	{ "ci.deploy.approve", R_DEPLOYMENT, SVC_CI, S_NONE, 6 },
	{ "s3.object.put", R_OBJECT, SVC_S3, S_NONE, 80 },
	{ "s3.object.get", R_OBJECT, SVC_S3, S_NONE, 70 },
	{ "s3.object.delete", R_OBJECT, SVC_S3, S_NONE, 15 },
	{ "s3.bucket.create", R_BUCKET, SVC_S3, S_INFRA, 2 },
	{ "s3.bucket.policy.update", R_BUCKET, SVC_S3, S_IAM, 8 },
	{ "vm.instance.start", R_INSTANCE, SVC_VM, S_NONE, 12 },
	{ "vm.instance.stop", R_INSTANCE, SVC_VM, S_NONE, 12 },
	{ "vm.instance.resize", R_INSTANCE, SVC_VM, S_INFRA, 10 },
	{ "net.firewall.rule.update", R_FIREWALL, SVC_NET, S_INFRA, 12 },
	{ "billing.invoice.view", R_INVOICE, SVC_BILLING, S_NONE, 10 },
	{ "billing.plan.change", R_SUBSCRIPTION, SVC_BILLING, S_BILLING, 5 },
	{ "kms.key.rotate", R_KEY, SVC_KMS, S_HASH, 4 },
	{ "kms.key.decrypt", R_KEY, SVC_KMS, S_NONE, 40 },
};

static const char *const tenants[] = {
	"acme", "globex", "initech", "umbrella", "hooli", "stark-industries",
	"wayne-enterprises", "wonka", "tyrell", "cyberdyne", "soylent",
	"massive-dynamic", "oscorp", "aperture", "black-mesa", "vandelay",
	"pied-piper", "dunder-mifflin", "monarch", "nakatomi",
};

static const char *const first_names[] = {
	"Alice", "Bob", "Chloé", "Dmitri", "Émilie", "François", "Grace",
	"Hiroshi", "Inès", "Jürgen", "Kenji", "Léa", "Mateo", "Nadia",
	"Øyvind", "Priya", "Quentin", "Raúl", "Søren", "Tomasz", "Ugo",
	"Valentina", "Wei", "Xavier", "Yuki", "Zoë", "Amara", "Björn",
	"Carlos", "Deepa", "Eitan", "Fatima",
};

static const char *const last_names[] = {
	"Martin", "Dubois", "Müller", "García", "Nguyen", "Smith", "Kowalski",
	"Tanaka", "Rossi", "Ødegaard", "Johansson", "Okafor", "Silva", "Novák",
	"Ivanova", "Haddad", "Kim", "Patel", "O'Brien", "Schmidt", "Łukasik",
	"Yılmaz", "Andersen",
};

static const char *const cjk_names[] = {
	"田中 太郎", "山田 花子", "李 娜", "김 민준", "王 伟", "佐藤 健",
};

#define USER_COUNT 800u

static const char *const service_actors[] = {
	"deploy-bot", "terraform", "backup-agent", "argocd", "gitlab-runner",
	"billing-worker", "ingest-etl", "cert-manager", "vault-agent",
	"autoscaler", "support-console", "data-exporter",
};

static const char *const system_actors[] = {
	"kube-controller-manager", "kube-scheduler", "cron", "retention",
	"kms-rotator", "node-problem-detector",
};

static const char *const browser_agents[] = {
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
	"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12",
	"psql/15.6 (Debian 15.6-0+deb12u1)",
	"curl/7.88.1",
};

static const char *const tool_agents[] = {
	"Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0",
	"argocd-application-controller/v2.10.2",
	"GitLab-Runner 16.9.1 (16-9-stable; go1.21.7; linux/amd64)",
	"python-requests/2.31.0",
	"Go-http-client/1.1",
	"kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819",
	"sealtrail-go/0.3.1",
};

static const char *const auth_methods[] = {
	"password", "sso", "oidc", "mfa", "api_token", "mtls", "kerberos",
};

static const char *const regions[] = {
	"eu-west-1", "us-east-1", "eu-central-1", "us-west-2", "ap-northeast-1",
	"sa-east-1",
};

static const char *const namespaces[] = {
	"payments", "checkout", "auth", "data", "monitoring", "kube-system",
	"default", "ml-training", "search",
};

static const char *const apps[] = {
	"payments-api", "checkout-web", "auth-service", "ledger",
	"search-indexer", "notifier", "pricing", "fraud-scorer",
};

static const char *const roles[] = {
	"admin", "viewer", "billing-admin", "db-readonly", "deployer",
	"security-auditor", "support-tier2", "oncall-sre", "data-scientist",
};

static const char *const groups[] = {
	"sre", "data-eng", "finance", "contractors", "security", "platform",
};

static const char *const databases[] = {
	"orders", "customers", "ledger", "analytics", "inventory",
};

static const char *const tables[] = {
	"invoices", "payments", "users", "sessions", "line_items", "refunds",
	"audit_shadow", "feature_flags",
};

static const char *const queries[] = {
	"SELECT * FROM customers WHERE email = $1",
	"UPDATE invoices SET status = 'void' WHERE id = $1",
	"DELETE FROM sessions WHERE expires_at < now()",
	"COPY payments TO STDOUT WITH (FORMAT csv)",
	"SELECT count(*) FROM refunds WHERE amount > 1000",
};

static const char *const buckets[] = {
	"prod-logs", "backups", "ml-datasets", "invoices-pdf", "static-assets",
};

static const char *const secrets[] = {
	"db-credentials", "stripe-api-key", "tls-wildcard", "smtp-password",
	"oauth-client-secret", "registry-pull-secret",
};

static const char *const plans[] = {
	"free", "team", "business", "enterprise",
};

static const char *const file_ext[] = {
	".log.gz", ".parquet", ".pdf", ".json", ".tar.zst", ".csv",
};

/* Reasons, by outcome (content already JSON-escaped). */
static const char *const reasons_denied[] = {
	"policy \\\"deny-prod-delete\\\" matched",
	"missing permission iam.roles.update",
	"MFA required for this action",
	"source address outside the allowed range",
	"tenant scope violation",
	"RBAC: forbidden: User cannot get resource \\\"secrets\\\" in API group \\\"\\\" in the namespace \\\"payments\\\"",
	"token expired",
};

static const char *const reasons_failure[] = {
	"timeout after 30s",
	"upstream returned 503 Service Unavailable",
	"invalid password",
	"quota exceeded: 100 of 100 instances",
	"lock wait timeout exceeded; try restarting transaction",
	"conflict: resourceVersion mismatch",
	"ERROR:  relation \\\"line_items_old\\\" does not exist",
};

static const char *const reasons_success[] = {
	"change ticket approved",
	"break-glass access, incident INC-4412",
	"scheduled rotation",
	"requested by support case",
};

static const char *const reasons_unknown[] = {
	"producer lost the connection before the result",
	"result not reported",
};

/* Free text for metadata: raw UTF-8, \u escapes with surrogate pairs,
 * escaped quotes, backslashes and control characters. */
static const char *const notes[] = {
	"Changement validé par l'équipe sécurité",
	"本番環境のロールを更新しました",
	"deploy ok 😀 ship it",
	"Grüße aus München — Freigabe erteilt",
	"r\\u00e9sum\\u00e9 updated by the caf\\u00e9 bot",
	"approved \\ud83d\\ude00 by on-call",
	"user said \\\"please revert\\\" at standup",
	"path C:\\\\Program Files\\\\agent\\\\cfg.ini",
	"line one\\nline two\\n\\tindented",
	"emoji 🔐🚀 and escaped \\ud83c\\udf89 mixed",
	"ключ ротирован по расписанию",
	"مراجعة الوصول الفصلية",
	"tab\\tseparated\\tvalues\\r\\n",
	"日本語テキスト with \\u65e5\\u672c escapes",
	"control \\u0001 char, slash \\/ and \\b\\f kept",
	"naïve façade coöperation ½ € ™",
};

static const char *const cities[] = {
	"Besançon", "Zürich", "東京", "São Paulo", "Kraków", "Reykjavík",
	"Paris", "Berlin", "Austin", "Seoul",
};

static const char *const countries[] = {
	"FR", "CH", "JP", "BR", "PL", "IS", "FR", "DE", "US", "KR",
};

static const char *const labels[] = {
	"pci", "sox", "gdpr", "hipaa", "iso27001", "internal", "break-glass",
};

static const char *const permissions[] = {
	"iam.roles.get", "iam.roles.update", "k8s.pods.*", "db.tables.read",
	"s3:GetObject", "s3:PutObject", "kms:Decrypt", "billing.invoices.read",
	"ci.pipelines.run", "*",
};

static const char *const images[] = {
	"ghcr.io/acme/payments-api", "ghcr.io/acme/ledger", "nginx",
	"ghcr.io/acme/fraud-scorer",
};

static const char *const col_types[] = {
	"bigint", "text", "timestamptz", "numeric(12,2)", "jsonb", "boolean",
	"uuid",
};

static const char *const col_names[] = {
	"id", "customer_id", "amount", "currency", "created_at", "status",
	"metadata", "is_test",
};

static const char *const filler_words[] = {
	"rollout", "canary", "window", "approved", "staged", "verified",
	"emergency", "maintenance", "quarterly", "review", "migration",
	"cleanup",
};

/* ------------------------------------------------------------- helpers */

#define TZ_OFFSET_S 7200

/* Days since 1970-01-01 to a civil date (proleptic Gregorian); the
 * well-known days_from_civil inverse, for non-negative day counts. */
static void civil_from_days(uint64_t z, unsigned *y, unsigned *m, unsigned *d)
{
	z += 719468;
	uint64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400 + (*m <= 2));
}

/* RFC 3339 with microseconds; `offset` renders the same instant at +02:00. */
static void put_time(struct sb *b, uint64_t t_us, bool offset)
{
	uint64_t secs = t_us / 1000000 + (offset ? TZ_OFFSET_S : 0);
	unsigned y, mo, d;
	civil_from_days(secs / 86400, &y, &mo, &d);
	uint64_t sod = secs % 86400;
	put_ch(b, '"');
	put_dec(b, y, 4);
	put_ch(b, '-');
	put_dec(b, mo, 2);
	put_ch(b, '-');
	put_dec(b, d, 2);
	put_ch(b, 'T');
	put_dec(b, sod / 3600, 2);
	put_ch(b, ':');
	put_dec(b, sod / 60 % 60, 2);
	put_ch(b, ':');
	put_dec(b, sod % 60, 2);
	put_ch(b, '.');
	put_dec(b, t_us % 1000000, 6);
	put(b, offset ? "+02:00\"" : "Z\"");
}

static void put_uuid4(struct sb *b, struct rng *r)
{
	uint64_t hi = rng_next(r), lo = rng_next(r);
	put_hex(b, hi >> 32, 8);
	put_ch(b, '-');
	put_hex(b, (hi >> 16) & 0xffff, 4);
	put_ch(b, '-');
	put_hex(b, 0x4000 | (hi & 0x0fff), 4);
	put_ch(b, '-');
	put_hex(b, 0x8000 | ((lo >> 48) & 0x3fff), 4);
	put_ch(b, '-');
	put_hex(b, lo & UINT64_C(0xffffffffffff), 12);
}

/* ULID-style: 48-bit milliseconds then 80 random bits, Crockford base32. */
static void put_ulid(struct sb *b, struct rng *r, uint64_t t_us)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t ms = t_us / 1000, hi = rng_next(r), lo = rng_next(r);
	need(b, 26);
	for (int i = 9; i >= 0; i--) {
		b->cur[i] = b32[ms & 31];
		ms >>= 5;
	}
	for (int i = 0; i < 16; i++) {
		uint64_t v = i < 8 ? hi >> (5 * i) : lo >> (5 * (i - 8));
		b->cur[10 + i] = b32[v & 31];
	}
	b->cur += 26;
}

static void put_user_name(struct sb *b, unsigned u)
{
	if (u % 53 == 7) {
		put(b, cjk_names[u % ARRAY_LEN(cjk_names)]);
		return;
	}
	put(b, first_names[u % ARRAY_LEN(first_names)]);
	put_ch(b, ' ');
	put(b, last_names[(u / ARRAY_LEN(first_names) + u * 7) % ARRAY_LEN(last_names)]);
}

static void put_user_id(struct sb *b, unsigned u)
{
	put(b, "u_");
	put_dec(b, (u * 7919u + 1031u) % 100000u, 5);
}

static void put_ipv4(struct sb *b, struct rng *r)
{
	uint64_t v = rng_next(r);
	switch (v % 4) {
	case 0:
		put(b, "10.");
		put_u64(b, (v >> 8) & 255);
		break;
	case 1:
		put(b, "192.0.2");
		break;
	case 2:
		put(b, "198.51.100");
		break;
	default:
		put(b, "203.0.113");
		break;
	}
	if (v % 4 == 0) {
		put_ch(b, '.');
		put_u64(b, (v >> 16) & 255);
	}
	put_ch(b, '.');
	put_u64(b, 1 + ((v >> 24) % 254));
}

static void put_ipv6(struct sb *b, struct rng *r)
{
	uint64_t v = rng_next(r);
	put(b, "2001:db8:");
	put_hex_short(b, v & 0xffff);
	put_ch(b, ':');
	put_hex_short(b, (v >> 16) & 0xffff);
	put(b, "::");
	put_hex_short(b, (v >> 32) & 0xffff);
	put_ch(b, ':');
	put_hex_short(b, (v >> 48) & 0xffff);
}

/* A JSON number in one of the shapes parsers must handle. */
static void put_number(struct sb *b, uint64_t v)
{
	switch (v % 6) {
	case 0:
		put_i64(b, (int64_t)((v >> 8) % 100000));
		break;
	case 1:
		put_i64(b, -(int64_t)((v >> 8) % 5000));
		break;
	case 2:
		put_fixed(b, (int64_t)((v >> 8) % 200001) - 100000, 2);
		break;
	case 3:
		put_fixed(b, (int64_t)((v >> 8) % 1000), 3);
		break;
	case 4: /* 1.5e-7, 6.02E+23, -2.5e3 */
		if ((v >> 40) & 1)
			put_ch(b, '-');
		put_u64(b, 1 + (v >> 8) % 9);
		put_ch(b, '.');
		put_u64(b, (v >> 12) % 100);
		put(b, ((v >> 41) & 1) ? "E" : "e");
		put(b, ((v >> 42) & 1) ? "-" : ((v >> 43) & 1) ? "+" : "");
		put_u64(b, (v >> 20) % 25);
		break;
	default:
		put_ch(b, '0');
		break;
	}
}

/* ----------------------------------------------------------- snapshots */

/* before and after are rendered from the same sub-seed, so they share
 * every value except the fields whose bit is set in `mut`: a plausible
 * diff. Each field draws the same numbers whether mutated or not. */
static void put_snapshot(struct sb *b, enum snap s, uint64_t seed, unsigned mut,
			 enum kind kind)
{
	struct rng r = { seed };
	int n = 0;
	uint64_t v, alt;
	/* Which optional fields this object has; never mutated. */
	uint64_t shape = rng_next(&r);
#define FIELD(i) (v = rng_next(&r), alt = rng_next(&r), ((mut >> (i)) & 1) ? alt : v)
	put_ch(b, '{');
	switch (s) {
	case S_IAM: {
		uint64_t f = FIELD(0);
		key(b, &n, "name");
		str(b, kind == R_ROLE ? roles[f % ARRAY_LEN(roles)] : groups[f % ARRAY_LEN(groups)]);
		f = FIELD(1);
		key(b, &n, "permissions");
		put_ch(b, '[');
		for (unsigned i = 0, c = 1 + (unsigned)(f % 3); i < c; i++) {
			if (i)
				put_ch(b, ',');
			str(b, permissions[(f >> (8 + 4 * i)) % ARRAY_LEN(permissions)]);
		}
		put_ch(b, ']');
		f = FIELD(2);
		key(b, &n, "mfa_required");
		put(b, (f & 1) ? "true" : "false");
		f = FIELD(3);
		key(b, &n, "max_session_s");
		put_u64(b, 900 * (1 + f % 16));
		f = FIELD(4);
		if (!(shape & 1))
			break;
		key(b, &n, "conditions");
		if (f % 3 == 0) {
			put(b, "null");
		} else {
			put(b, (f >> 8) & 1 ? "{\"source_ip\":[\"10.0.0.0/8\"],\"not_after\":"
					    : "{\"source_ip\":[\"2001:db8::/32\"],\"not_after\":");
			put_i64(b, 1735689600 + (int64_t)(f % 86400));
			put_ch(b, '}');
		}
		break;
	}
	case S_K8S: {
		uint64_t f = FIELD(0);
		key(b, &n, "replicas");
		put_u64(b, f % 12);
		f = FIELD(1);
		key(b, &n, "image");
		put_ch(b, '"');
		put(b, images[f % ARRAY_LEN(images)]);
		put(b, ":v1.");
		put_u64(b, (f >> 8) % 40);
		put_ch(b, '.');
		put_u64(b, (f >> 16) % 10);
		put_ch(b, '"');
		f = FIELD(2);
		if (shape & 1) {
		key(b, &n, "resources");
		put(b, "{\"cpu\":\"");
		put_u64(b, 100 * (1 + f % 20));
		put(b, "m\",\"memory_mb\":");
		put_u64(b, 128u << ((f >> 8) % 5));
		put(b, ",\"ratio\":");
		put_fixed(b, (int64_t)((f >> 16) % 100), 2);
		put_ch(b, '}');
		}
		f = FIELD(3);
		if (shape & 2) {
		key(b, &n, "labels");
		put(b, "{\"app\":\"");
		put(b, apps[f % ARRAY_LEN(apps)]);
		put(b, "\",\"tier\":\"");
		put(b, (f >> 8) & 1 ? "backend" : "frontend");
		put(b, "\"}");
		}
		f = FIELD(4);
		key(b, &n, "paused");
		put(b, f % 5 == 0 ? "true" : "false");
		break;
	}
	case S_DB: {
		uint64_t f = FIELD(0);
		key(b, &n, "columns");
		put_ch(b, '[');
		for (unsigned i = 0, c = 1 + (unsigned)(f % 3); i < c; i++) {
			if (i)
				put_ch(b, ',');
			put(b, "{\"name\":\"");
			put(b, col_names[(i + (f >> 4)) % ARRAY_LEN(col_names)]);
			put(b, "\",\"type\":\"");
			put(b, col_types[(f >> (8 + 3 * i)) % ARRAY_LEN(col_types)]);
			put(b, "\",\"nullable\":");
			put(b, (f >> (30 + i)) & 1 ? "true" : "false");
			put_ch(b, '}');
		}
		put_ch(b, ']');
		f = FIELD(1);
		key(b, &n, "row_estimate");
		put_u64(b, 1 + f % 9);
		put_ch(b, '.');
		put_u64(b, (f >> 8) % 10);
		put_ch(b, 'e');
		put_u64(b, 3 + (f >> 16) % 6);
		f = FIELD(2);
		key(b, &n, "owner");
		str(b, (f & 1) ? "app_rw" : "postgres");
		break;
	}
	case S_INFRA: {
		uint64_t f = FIELD(0);
		key(b, &n, "enabled");
		put(b, f % 7 ? "true" : "false");
		f = FIELD(1);
		key(b, &n, "ports");
		put_ch(b, '[');
		for (unsigned i = 0, c = (unsigned)(f % 4); i < c; i++) {
			if (i)
				put_ch(b, ',');
			put_u64(b, 1 + (f >> (8 + 12 * i)) % 65535);
		}
		put_ch(b, ']');
		f = FIELD(2);
		key(b, &n, "size");
		str(b, (f % 3 == 0) ? "m6i.large" : (f % 3 == 1) ? "c7g.xlarge" : "r6a.2xlarge");
		f = FIELD(3);
		key(b, &n, "priority");
		put_number(b, f);
		f = FIELD(4);
		key(b, &n, "description");
		if (f % 4 == 0)
			put(b, "null");
		else
			str(b, notes[f % ARRAY_LEN(notes)]);
		break;
	}
	case S_BILLING: {
		uint64_t f = FIELD(0);
		key(b, &n, "plan");
		str(b, plans[f % ARRAY_LEN(plans)]);
		f = FIELD(1);
		key(b, &n, "seats");
		put_u64(b, 1 + f % 500);
		f = FIELD(2);
		key(b, &n, "monthly_eur");
		put_fixed(b, (int64_t)(f % 1000000), 2);
		f = FIELD(3);
		key(b, &n, "discount");
		put_fixed(b, -(int64_t)(f % 30), 2);
		f = FIELD(4);
		key(b, &n, "trial");
		put(b, f & 1 ? "true" : "false");
		break;
	}
	case S_HASH: {
		uint64_t f = FIELD(0);
		struct rng h = { f };
		key(b, &n, "sha256");
		put_ch(b, '"');
		for (int i = 0; i < 4; i++)
			put_hex(b, rng_next(&h), 16);
		put_ch(b, '"');
		break;
	}
	case S_NONE:
		break;
	}
#undef FIELD
	put_ch(b, '}');
}

/* -------------------------------------------------------------- events */

/* Top-level members in DESIGN.md order; each is rendered as "key":value
 * into its own slice of the scratch buffer, then the line is assembled. */
enum top {
	T_ID, T_TIME, T_TENANT, T_ACTION, T_ACTOR, T_RESOURCE, T_OUTCOME,
	T_REASON, T_REQUEST_ID, T_TRACE_ID, T_PARENT_ID, T_SOURCE, T_BEFORE,
	T_AFTER, T_METADATA, T_SCHEMA, T_COUNT
};

static const char *const top_name[T_COUNT] = {
	"id", "time", "tenant", "action", "actor", "resource", "outcome",
	"reason", "request_id", "trace_id", "parent_id", "source", "before",
	"after", "metadata", "schema",
};

/* Some producers sort their keys; the server must not care. */
static const enum top sorted_order[T_COUNT] = {
	T_ACTION, T_ACTOR, T_AFTER, T_BEFORE, T_ID, T_METADATA, T_OUTCOME,
	T_PARENT_ID, T_REASON, T_REQUEST_ID, T_RESOURCE, T_SCHEMA, T_SOURCE,
	T_TENANT, T_TIME, T_TRACE_ID,
};

#define RING 64

struct gen {
	struct rng r;
	uint64_t seed;
	uint64_t index;     /* events generated so far */
	uint64_t t_us;      /* current event time, microseconds since 1970 */
	unsigned weight_total;
	uint64_t producer_seq[SVC_COUNT];
	/* Recent correlation ids, reused so timelines have several events. */
	char req[RING][48];
	char trace[RING][40];
	unsigned corr_n;
	char ids[RING][48];
	unsigned ids_n;
	char scratch[SCRATCH_SIZE];
	char *piece[T_COUNT];
	size_t piece_len[T_COUNT];
};

static void gen_init(struct gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->seed = seed;
	g->r.s = seed ^ UINT64_C(0x5ea17a11);
	/* 2024-03-01T00:00:00Z plus up to a day, depending on the seed. */
	g->t_us = (UINT64_C(1709251200) + below(&g->r, 86400)) * 1000000u;
	for (size_t i = 0; i < ARRAY_LEN(actions); i++)
		g->weight_total += actions[i].weight;
	for (unsigned i = 0; i < SVC_COUNT; i++)
		g->producer_seq[i] = 1 + below(&g->r, 1000000);
}

static const struct action *pick_action(struct gen *g)
{
	unsigned w = below(&g->r, g->weight_total);
	size_t i = 0;
	while (w >= actions[i].weight) {
		w -= actions[i].weight;
		i++;
	}
	return &actions[i];
}

static void advance_time(struct gen *g)
{
	/* Bursts of close events, otherwise ~85 ms apart on average: a
	 * million events span about a day. */
	if (chance(&g->r, 25))
		g->t_us += 1 + below(&g->r, 2000);
	else
		g->t_us += 1 + below(&g->r, 226000);
}

/* Copy what was written since `start` into a NUL-terminated string. */
static void save(char *dst, size_t cap, const char *start, const char *end)
{
	size_t n = (size_t)(end - start);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, start, n);
	dst[n] = '\0';
}

static void gen_actor(struct gen *g, struct sb *b, const struct action *a,
		      unsigned *user_out)
{
	struct rng *r = &g->r;
	unsigned t = below(r, 100);
	int n = 0;
	put_ch(b, '{');
	if (t < 65 || a->svc == SVC_AUTH) {
		unsigned u = skewed(r, USER_COUNT);
		*user_out = u;
		key(b, &n, "id");
		put_ch(b, '"');
		put_user_id(b, u);
		put_ch(b, '"');
		kv_str(b, &n, "type", "user");
		key(b, &n, "name");
		put_ch(b, '"');
		put_user_name(b, u);
		put_ch(b, '"');
		key(b, &n, "ip");
		put_ch(b, '"');
		if (chance(r, 15))
			put_ipv6(b, r);
		else
			put_ipv4(b, r);
		put_ch(b, '"');
		if (chance(r, 45))
			kv_str(b, &n, "user_agent", PICK(r, browser_agents));
		if (chance(r, 50))
			kv_str(b, &n, "auth", PICK(r, auth_methods));
	} else if (t < 95) {
		const char *s = PICK(r, service_actors);
		key(b, &n, "id");
		put(b, "\"svc:");
		put(b, s);
		put_ch(b, '"');
		kv_str(b, &n, "type", "service");
		kv_str(b, &n, "name", s);
		key(b, &n, "ip");
		put_ch(b, '"');
		if (chance(r, 20))
			put_ipv6(b, r);
		else
			put_ipv4(b, r);
		put_ch(b, '"');
		if (chance(r, 60))
			kv_str(b, &n, "user_agent", PICK(r, tool_agents));
		if (chance(r, 25)) {
			key(b, &n, "on_behalf_of");
			put_ch(b, '"');
			put_user_id(b, skewed(r, USER_COUNT));
			put_ch(b, '"');
		}
	} else {
		const char *s = PICK(r, system_actors);
		key(b, &n, "id");
		put(b, "\"system:");
		put(b, s);
		put_ch(b, '"');
		kv_str(b, &n, "type", "system");
		kv_str(b, &n, "name", s);
	}
	put_ch(b, '}');
}

static void gen_resource(struct gen *g, struct sb *b, const struct action *a,
			 const char *tenant, unsigned user)
{
	struct rng *r = &g->r;
	uint64_t v = rng_next(r);
	int n = 0;
	put_ch(b, '{');
	kv_str(b, &n, "type", kind_name[a->kind]);
	key(b, &n, "id");
	put_ch(b, '"');
	switch (a->kind) {
	case R_SESSION:
		put(b, "sess_");
		put_hex(b, v, 16);
		put(b, "\",\"name\":\"");
		put(b, (v >> 60) & 1 ? "web" : "cli");
		break;
	case R_USER: {
		unsigned u = (unsigned)(v % USER_COUNT);
		put_user_id(b, u);
		put(b, "\",\"name\":\"");
		put_user_name(b, u);
		break;
	}
	case R_TOKEN:
		put(b, "tok_");
		put_hex(b, v, 12);
		put(b, "\",\"name\":\"ci-token-");
		put_u64(b, (v >> 50) % 20);
		break;
	case R_ROLE:
	case R_BINDING: {
		const char *role = roles[v % ARRAY_LEN(roles)];
		put(b, a->kind == R_ROLE ? "role/" : "rb-");
		if (a->kind == R_ROLE)
			put(b, role);
		else
			put_hex(b, v >> 16, 8);
		put(b, "\",\"name\":\"");
		put(b, role);
		if (a->kind == R_BINDING) {
			put_ch(b, '@');
			put_user_id(b, user);
		}
		break;
	}
	case R_POLICY:
		put(b, "arn:aws:iam::");
		put_dec(b, (v >> 8) % 1000000000000u, 12);
		put(b, ":policy/");
		put(b, roles[v % ARRAY_LEN(roles)]);
		put(b, "-access\",\"name\":\"");
		put(b, roles[v % ARRAY_LEN(roles)]);
		put(b, "-access");
		break;
	case R_GROUP:
		put(b, "grp_");
		put_dec(b, v % 10000, 4);
		put(b, "\",\"name\":\"");
		put(b, groups[(v >> 20) % ARRAY_LEN(groups)]);
		break;
	case R_POD:
	case R_DEPLOYMENT:
	case R_CONFIGMAP:
	case R_SECRET: {
		struct rng sub = { v };
		put_uuid4(b, &sub);
		put(b, "\",\"name\":\"");
		if (a->kind == R_SECRET) {
			put(b, secrets[(v >> 8) % ARRAY_LEN(secrets)]);
		} else {
			put(b, apps[(v >> 8) % ARRAY_LEN(apps)]);
			if (a->kind == R_POD) {
				put_ch(b, '-');
				put_hex(b, v >> 20, 9);
				put_ch(b, '-');
				put_hex(b, v >> 40, 5);
			} else if (a->kind == R_CONFIGMAP) {
				put(b, "-config");
			}
		}
		put(b, "\",\"parent\":\"namespace/");
		put(b, namespaces[(v >> 56) % ARRAY_LEN(namespaces)]);
		break;
	}
	case R_NAMESPACE:
		put(b, "ns/");
		put(b, namespaces[v % ARRAY_LEN(namespaces)]);
		put(b, "\",\"name\":\"");
		put(b, namespaces[v % ARRAY_LEN(namespaces)]);
		break;
	case R_TABLE:
		put(b, databases[v % ARRAY_LEN(databases)]);
		put(b, ".public.");
		put(b, tables[(v >> 8) % ARRAY_LEN(tables)]);
		put(b, "\",\"name\":\"");
		put(b, tables[(v >> 8) % ARRAY_LEN(tables)]);
		put(b, "\",\"parent\":\"database/");
		put(b, databases[v % ARRAY_LEN(databases)]);
		break;
	case R_QUERY:
		put(b, "q_");
		put_hex(b, v, 12);
		put(b, "\",\"name\":\"");
		put(b, queries[(v >> 50) % ARRAY_LEN(queries)]);
		put(b, "\",\"parent\":\"database/");
		put(b, databases[(v >> 56) % ARRAY_LEN(databases)]);
		break;
	case R_GRANT:
		put(b, "grant-");
		put_hex(b, v, 8);
		put(b, "\",\"name\":\"SELECT ON ");
		put(b, tables[(v >> 40) % ARRAY_LEN(tables)]);
		put(b, " TO app_ro");
		break;
	case R_BACKUP:
		put(b, "bkp-2024-");
		put_dec(b, 1 + v % 12, 2);
		put_ch(b, '-');
		put_dec(b, 1 + (v >> 8) % 28, 2);
		put(b, "\",\"name\":\"nightly");
		break;
	case R_PIPELINE:
	case R_JOB:
		put(b, a->kind == R_PIPELINE ? "pipeline/" : "job/");
		put_u64(b, 100000 + v % 900000);
		put(b, "\",\"name\":\"");
		put(b, apps[(v >> 40) % ARRAY_LEN(apps)]);
		put(b, (v >> 50) & 1 ? " / main" : " / release-2024.03");
		put(b, "\",\"parent\":\"project/");
		put(b, apps[(v >> 40) % ARRAY_LEN(apps)]);
		break;
	case R_CISECRET:
		put(b, "var-");
		put_hex(b, v, 6);
		put(b, "\",\"name\":\"");
		put(b, (v >> 30) & 1 ? "AWS_SECRET_ACCESS_KEY" : "DEPLOY_TOKEN");
		break;
	case R_OBJECT: {
		const char *bk = buckets[v % ARRAY_LEN(buckets)];
		put(b, "s3://");
		put(b, tenant ? tenant : "shared");
		put_ch(b, '-');
		put(b, bk);
		put(b, "/2024/03/");
		put_dec(b, 1 + (v >> 8) % 28, 2);
		put(b, "/part-");
		put_dec(b, (v >> 16) % 100000, 5);
		put(b, file_ext[(v >> 40) % ARRAY_LEN(file_ext)]);
		put(b, "\",\"parent\":\"bucket/");
		put(b, tenant ? tenant : "shared");
		put_ch(b, '-');
		put(b, bk);
		break;
	}
	case R_BUCKET:
		put(b, "bucket/");
		put(b, tenant ? tenant : "shared");
		put_ch(b, '-');
		put(b, buckets[v % ARRAY_LEN(buckets)]);
		break;
	case R_INSTANCE:
		put(b, "i-0");
		put_hex(b, v, 16);
		put(b, "\",\"name\":\"");
		put(b, apps[(v >> 8) % ARRAY_LEN(apps)]);
		put_ch(b, '-');
		put_u64(b, (v >> 30) % 40);
		break;
	case R_FIREWALL:
		put(b, "fw-");
		put_hex(b, v, 8);
		put(b, "\",\"name\":\"allow-");
		put(b, apps[(v >> 40) % ARRAY_LEN(apps)]);
		put(b, "\",\"parent\":\"vpc/vpc-0");
		put_hex(b, v >> 20, 8);
		break;
	case R_INVOICE:
		put(b, "in_");
		put_hex(b, v, 14);
		break;
	case R_SUBSCRIPTION:
		put(b, "sub_");
		put_hex(b, v, 14);
		break;
	case R_KEY: {
		struct rng sub = { v };
		put(b, "kms-key/");
		put_uuid4(b, &sub);
		put(b, "\",\"name\":\"");
		put(b, (v >> 8) & 1 ? "prod-data-key" : "backup-key");
		break;
	}
	}
	put(b, "\"}");
}

static void gen_metadata(struct gen *g, struct sb *b)
{
	struct rng *r = &g->r;
	uint64_t m = rng_next(r);
	int n = 0;
	put_ch(b, '{');
	if (m & 1 || (m & 0x1e) == 0)
		kv_str(b, &n, "note", PICK(r, notes));
	if (m & 2) {
		key(b, &n, "ticket");
		put(b, "\"CHG-");
		put_u64(b, 10000 + below(r, 90000));
		put_ch(b, '"');
	}
	if (m & 4) {
		unsigned c = below(r, (uint32_t)ARRAY_LEN(cities));
		key(b, &n, "geo");
		put(b, "{\"country\":\"");
		put(b, countries[c]);
		put(b, "\",\"city\":\"");
		put(b, cities[c]);
		put(b, "\",\"lat\":");
		put_fixed(b, (int64_t)below(r, 180000) - 90000, 3);
		put(b, ",\"lon\":");
		put_fixed(b, (int64_t)below(r, 360000) - 180000, 3);
		put_ch(b, '}');
	}
	if (m & 8) {
		key(b, &n, "labels");
		put_ch(b, '[');
		for (unsigned i = 0, c = below(r, 4); i < c; i++) {
			if (i)
				put_ch(b, ',');
			str(b, PICK(r, labels));
		}
		put_ch(b, ']');
	}
	if (m & 16) {
		key(b, &n, "latency_ms");
		put_fixed(b, (int64_t)below(r, 500000), 3);
		key(b, &n, "retries");
		put_u64(b, below(r, 4));
		key(b, &n, "dry_run");
		put(b, chance(r, 10) ? "true" : "false");
		key(b, &n, "score");
		put_number(b, rng_next(r));
	}
	put_ch(b, '}');
}

/* Metadata that pads a short event to at least `want` bytes. */
static void gen_filler(struct gen *g, struct sb *b, size_t want)
{
	char *start = b->cur;
	put(b, "{\"comment\":\"");
	do {
		put(b, PICK(&g->r, filler_words));
		put_ch(b, ' ');
	} while ((size_t)(b->cur - start) + 2 < want);
	put(b, "ok\"}");
}

/* Begin piece `t`: "name": at the cursor. */
static void piece_begin(struct gen *g, struct sb *b, enum top t)
{
	g->piece[t] = b->cur;
	put_ch(b, '"');
	put(b, top_name[t]);
	put(b, "\":");
}

static void piece_end(struct gen *g, struct sb *b, enum top t)
{
	g->piece_len[t] = (size_t)(b->cur - g->piece[t]);
}

static size_t line_size(const struct gen *g)
{
	size_t n = 2, k = 0;
	for (int t = 0; t < T_COUNT; t++)
		if (g->piece_len[t]) {
			n += g->piece_len[t];
			k++;
		}
	return n + (k ? k - 1 : 0);
}

/* Render one event and append it, with its newline, at `out`. */
static void gen_event(struct gen *g, struct sb *out)
{
	struct rng *r = &g->r;
	struct sb b = { g->scratch, g->scratch + sizeof(g->scratch) };
	const struct action *a;
	const char *tenant = NULL;
	unsigned user = 0;
	uint32_t outcome;
	char *start;

	memset(g->piece_len, 0, sizeof(g->piece_len));
	advance_time(g);
	a = pick_action(g);

	if (chance(r, 90))
		tenant = tenants[skewed(r, (uint32_t)ARRAY_LEN(tenants))];

	if (chance(r, 58)) {
		uint32_t form = below(r, 3);
		piece_begin(g, &b, T_ID);
		put_ch(&b, '"');
		start = b.cur;
		if (form == 0) {
			put_uuid4(&b, r);
		} else if (form == 1) {
			put(&b, "evt_");
			put_ulid(&b, r, g->t_us);
		} else {
			put(&b, svc_name[a->svc]);
			put_ch(&b, '-');
			put_hex(&b, g->seed, 4);
			put_ch(&b, '-');
			put_u64(&b, g->index);
		}
		save(g->ids[g->ids_n++ % RING], sizeof(g->ids[0]), start, b.cur);
		put_ch(&b, '"');
		piece_end(g, &b, T_ID);
	}

	piece_begin(g, &b, T_TIME);
	put_time(&b, g->t_us, chance(r, 12));
	piece_end(g, &b, T_TIME);

	if (tenant) {
		piece_begin(g, &b, T_TENANT);
		str(&b, tenant);
		piece_end(g, &b, T_TENANT);
	}

	piece_begin(g, &b, T_ACTION);
	str(&b, a->name);
	piece_end(g, &b, T_ACTION);

	piece_begin(g, &b, T_ACTOR);
	gen_actor(g, &b, a, &user);
	piece_end(g, &b, T_ACTOR);

	piece_begin(g, &b, T_RESOURCE);
	gen_resource(g, &b, a, tenant, user);
	piece_end(g, &b, T_RESOURCE);

	outcome = below(r, 1000);
	piece_begin(g, &b, T_OUTCOME);
	str(&b, outcome < 860 ? "success" : outcome < 930 ? "failure"
		: outcome < 990 ? "denied" : "unknown");
	piece_end(g, &b, T_OUTCOME);

	if (outcome >= 860 || chance(r, 5)) {
		piece_begin(g, &b, T_REASON);
		str(&b, outcome < 860 ? PICK(r, reasons_success)
			: outcome < 930 ? PICK(r, reasons_failure)
			: outcome < 990 ? PICK(r, reasons_denied)
			: PICK(r, reasons_unknown));
		piece_end(g, &b, T_REASON);
	}

	if (chance(r, 75)) {
		/* A third reuse a recent request (and its trace). */
		bool reuse = g->corr_n > 0 && chance(r, 33);
		unsigned slot = reuse ? (g->corr_n - 1 - below(r, g->corr_n < 8 ? g->corr_n : 8)) % RING
				      : g->corr_n++ % RING;
		if (!reuse) {
			struct sb s = { g->req[slot], g->req[slot] + sizeof(g->req[0]) - 1 };
			if (chance(r, 50)) {
				put(&s, "req_");
				put_hex(&s, rng_next(r), 16);
			} else {
				put_uuid4(&s, r);
			}
			*s.cur = '\0';
			s = (struct sb){ g->trace[slot], g->trace[slot] + sizeof(g->trace[0]) - 1 };
			if (chance(r, 70)) {
				put_hex(&s, rng_next(r), 16);
				put_hex(&s, rng_next(r), 16);
			}
			*s.cur = '\0';
		}
		piece_begin(g, &b, T_REQUEST_ID);
		str(&b, g->req[slot]);
		piece_end(g, &b, T_REQUEST_ID);
		if (g->trace[slot][0]) {
			piece_begin(g, &b, T_TRACE_ID);
			str(&b, g->trace[slot]);
			piece_end(g, &b, T_TRACE_ID);
		}
	}

	if (g->ids_n > 1 && chance(r, 6)) {
		/* Refers to an earlier event (never the one just made). */
		unsigned back = 2 + below(r, 6);
		if (back <= g->ids_n && (back > 1 || !g->piece_len[T_ID])) {
			piece_begin(g, &b, T_PARENT_ID);
			str(&b, g->ids[(g->ids_n - back) % RING]);
			piece_end(g, &b, T_PARENT_ID);
		}
	}

	{
		int n = 0;
		const char *region = regions[skewed(r, (uint32_t)ARRAY_LEN(regions))];
		uint32_t env = below(r, 100);
		piece_begin(g, &b, T_SOURCE);
		put_ch(&b, '{');
		kv_str(&b, &n, "service", svc_name[a->svc]);
		key(&b, &n, "host");
		put_ch(&b, '"');
		if (a->svc == SVC_K8S) {
			put(&b, "ip-10-");
			put_u64(&b, below(r, 256));
			put_ch(&b, '-');
			put_u64(&b, below(r, 256));
			put_ch(&b, '-');
			put_u64(&b, 1 + below(r, 254));
		} else {
			put(&b, svc_name[a->svc]);
			put_ch(&b, '-');
			put_u64(&b, below(r, 12));
		}
		put_ch(&b, '"');
		kv_str(&b, &n, "region", region);
		kv_str(&b, &n, "env", env < 75 ? "prod" : env < 93 ? "staging" : "dev");
		if (svc_seq[a->svc]) {
			key(&b, &n, "producer_seq");
			put_u64(&b, g->producer_seq[a->svc]++);
		}
		put_ch(&b, '}');
		piece_end(g, &b, T_SOURCE);
	}

	if (a->snap != S_NONE && chance(r, 85)) {
		uint64_t seed = rng_next(r);
		unsigned mut = 1u << below(r, 5);
		if (chance(r, 30))
			mut |= 1u << below(r, 5);
		if (a->snap == S_HASH)
			mut = 1;
		/* Creations have no before. */
		if (!strstr(a->name, ".create")) {
			piece_begin(g, &b, T_BEFORE);
			put_snapshot(&b, a->snap, seed, 0, a->kind);
			piece_end(g, &b, T_BEFORE);
		}
		piece_begin(g, &b, T_AFTER);
		put_snapshot(&b, a->snap, seed, mut, a->kind);
		piece_end(g, &b, T_AFTER);
	}

	if (chance(r, 35)) {
		piece_begin(g, &b, T_METADATA);
		gen_metadata(g, &b);
		piece_end(g, &b, T_METADATA);
	}

	if (chance(r, 10)) {
		piece_begin(g, &b, T_SCHEMA);
		str(&b, svc_schema[a->svc]);
		piece_end(g, &b, T_SCHEMA);
	}

	/* Hold the size to MIN_EVENT..MAX_EVENT: shed optional members, in
	 * this order, while too long; pad with metadata while too short. */
	{
		static const enum top shed[] = {
			T_METADATA, T_PARENT_ID, T_SCHEMA, T_TRACE_ID, T_ID,
			T_REQUEST_ID, T_BEFORE, T_AFTER, T_REASON,
		};
		for (size_t i = 0; i < ARRAY_LEN(shed) && line_size(g) > MAX_EVENT; i++)
			g->piece_len[shed[i]] = 0;
		if (line_size(g) > MAX_EVENT) {
			fputs("gen_events: event too long even when trimmed (bug)\n", stderr);
			exit(1);
		}
		if (line_size(g) < MIN_EVENT) {
			/* The new member replaces any metadata: its value must make
			 * up the shortfall, less the "metadata": name and comma. */
			size_t short_by = MIN_EVENT - line_size(g);
			size_t want = g->piece_len[T_METADATA]
				? g->piece_len[T_METADATA] - 11 + short_by
				: (short_by > 12 ? short_by - 12 : 1);
			piece_begin(g, &b, T_METADATA);
			gen_filler(g, &b, want);
			piece_end(g, &b, T_METADATA);
		}
	}

	{
		bool sorted = chance(r, 20);
		int k = 0;
		need(out, MAX_EVENT + 64);
		put_ch(out, '{');
		for (int i = 0; i < T_COUNT; i++) {
			enum top t = sorted ? sorted_order[i] : (enum top)i;
			if (!g->piece_len[t])
				continue;
			if (k++)
				put_ch(out, ',');
			put_mem(out, g->piece[t], g->piece_len[t]);
		}
		put(out, "}\n");
	}
	g->index++;
}

/* ---------------------------------------------------------------- main */

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t count, seed = 1;
	struct gen *g;
	char *buf;
	struct sb out;

	if (argc < 2 || argc > 3 || parse_u64(argv[1], &count) < 0 ||
	    (argc == 3 && parse_u64(argv[2], &seed) < 0)) {
		fputs("usage: gen_events COUNT [SEED]\n"
		      "  writes COUNT audit events as NDJSON on stdout;\n"
		      "  the same COUNT and SEED always give the same bytes\n", stderr);
		return 2;
	}
	g = malloc(sizeof(*g));
	buf = malloc(OUT_SIZE);
	if (!g || !buf) {
		fputs("gen_events: out of memory\n", stderr);
		return 1;
	}
	gen_init(g, seed);
	out = (struct sb){ buf, buf + OUT_SIZE };
	for (uint64_t i = 0; i < count; i++) {
		gen_event(g, &out);
		if ((size_t)(out.end - out.cur) < 4096) {
			size_t n = (size_t)(out.cur - buf);
			if (fwrite(buf, 1, n, stdout) != n)
				goto write_failed;
			out.cur = buf;
		}
	}
	{
		size_t n = (size_t)(out.cur - buf);
		if (fwrite(buf, 1, n, stdout) != n || fflush(stdout) != 0)
			goto write_failed;
	}
	free(buf);
	free(g);
	return 0;

write_failed:
	fprintf(stderr, "gen_events: writing stdout: %s\n", strerror(errno));
	free(buf);
	free(g);
	return 1;
}
