/*
 * api.c - the HTTP API: routing, authentication, roles and tenant scope,
 * ingest, reads, proofs, tokens, health and metrics (docs/API.md).
 *
 * Invariants:
 *  1. Every request except /healthz is authenticated before anything else
 *     is looked at; no token gives 401, the wrong role or tenant 403, and
 *     both are recorded (a metric and a meta-audit event).
 *  2. Tenant scope is checked on the data itself: an event is returned
 *     only if its stored tenant is in the token's scope; a lookup by id is
 *     made within one tenant, so an id of another tenant is "not found",
 *     never "forbidden" (its existence is not revealed).
 *  3. Ingest answers only after log_append() returned for the request's
 *     events, i.e. after their fdatasync; results are listed per input
 *     event, in input order.
 *  4. A read, proof, token or admin request is answered only after its
 *     meta-audit event was queued (audit.c); if it cannot be, 503.
 *  5. Every size a client controls is bounded: the body by the glue
 *     (max_body), the events per request (max_batch_events), each event by
 *     the event limits, query strings by httputil, pages by LIMIT_MAX and
 *     RESPONSE_MAX.
 */
#include "server/server.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "common/uuid.h"
#include "ingest/body.h"
#include "ingest/k8s.h"
#include "server/capture.h"
#include "log/proof.h"
#include "policy/jdoc.h"
#include "policy/quarantine.h"
#include "policy/registry.h"
#include "policy/vault.h"
#include "server/enrich.h"
#include "server/httputil.h"

#define PAGE_DEFAULT 100
#define LIMIT_MAX 1000
#define RESPONSE_MAX ((size_t)16 << 20)
#define ERR_MAX 512

/* ---- replies ------------------------------------------------------------- */

static int status_class(int status)
{
	return status >= 100 && status < 600 ? status / 100 : 0;
}

static void reply(struct server *s, struct hreq *r, int status, const char *ctype,
		  const struct http_hdr *h, size_t nh, const void *body, size_t n)
{
	stat_add(&s->st.requests[status_class(status)], 1);
	hreq_reply(r, status, ctype, h, nh, body, n);
}

static void reply_buf(struct server *s, struct hreq *r, int status, struct buf *b)
{
	reply(s, r, status, "application/json", NULL, 0, b->data, b->len);
}

/* {"error":{"code":C,"message":M}} with an optional Retry-After. */
static void reply_error(struct server *s, struct hreq *r, int status, const char *code,
			const char *msg, unsigned retry_after)
{
	struct buf b = BUF_INIT(4096);
	char ra[16];
	struct http_hdr h[2];
	size_t nh = 0;

	buf_puts(&b, "{\"error\":{\"code\":");
	json_put_str(&b, code, strlen(code));
	buf_puts(&b, ",\"message\":");
	json_put_str(&b, msg, strlen(msg));
	buf_puts(&b, "}}\n");
	if (retry_after) {
		snprintf(ra, sizeof(ra), "%u", retry_after);
		h[nh++] = (struct http_hdr){ "Retry-After", ra };
	}
	if (status == 401)
		h[nh++] = (struct http_hdr){ "WWW-Authenticate", "Bearer realm=\"sealtrail\"" };
	reply(s, r, status, "application/json", h, nh, b.data, b.len);
	buf_release(&b);
}

static unsigned retry_after(struct server *s)
{
	pthread_rwlock_rdlock(&s->cfg_lock);
	unsigned ra = s->cfg.retry_after_s;
	pthread_rwlock_unlock(&s->cfg_lock);
	return ra ? ra : 1;
}

/* ---- authentication and authorization ------------------------------------ */

struct ctx {
	struct server *s;
	struct hreq *r;
	const struct token *tok;     /* a reference, released at the end */
	const char *action;          /* meta-audit action, NULL: not audited */
	const char *tenant;          /* for the audit record */
	char resource_id[160];
	const char *resource_type;
};

static void audit_denial(struct ctx *c, int status, const char *why)
{
	struct audit_rec a = {
		.action = "sealtrail.access.denied", .outcome = "denied", .tok = c->tok,
		.req = c->r, .status = status, .tenant = c->tenant,
		.resource_type = c->resource_type, .resource_id = c->resource_id[0] ? c->resource_id : NULL,
		.reason = why,
	};
	audit_record(c->s, &a);
}

static void deny(struct ctx *c, const char *why)
{
	stat_add(&c->s->st.denials, 1);
	audit_denial(c, 403, why);
	reply_error(c->s, c->r, 403, "forbidden", why, 0);
}

/* Authenticates and checks the role; on failure answers and returns false. */
static bool authorize(struct ctx *c, enum perm p)
{
	const char *hdr = hreq_header(c->r, "Authorization");
	const char *tok = NULL;
	size_t tl = 0;
	enum auth_result ar;

	if (!hdr)
		ar = AUTH_MISSING;
	else if (!http_bearer(hdr, strlen(hdr), &tok, &tl))
		ar = AUTH_MALFORMED;
	else
		ar = token_authenticate(c->s->tokens, tok, tl, now_realtime_ns(), &c->tok);
	if (ar != AUTH_OK) {
		char why[96];
		c->tok = NULL;
		stat_add(&c->s->st.auth_failures[ar], 1);
		snprintf(why, sizeof(why), "authentication failed: %s token", auth_result_name(ar));
		audit_denial(c, 401, why);
		reply_error(c->s, c->r, 401, "unauthorized", ar == AUTH_MISSING ?
			    "this endpoint needs \"Authorization: Bearer <token>\"" : why, 0);
		return false;
	}
	if (!role_allows(c->tok->role, p)) {
		char why[128];
		snprintf(why, sizeof(why), "role %s may not do this", role_name(c->tok->role));
		deny(c, why);
		return false;
	}
	pthread_rwlock_rdlock(&c->s->cfg_lock);
	double rate = c->s->cfg.rate_per_token, burst = c->s->cfg.rate_burst;
	pthread_rwlock_unlock(&c->s->cfg_lock);
	unsigned wait = ratelimit_take(c->s->rl, c->tok->id, rate, burst, now_monotonic_ns());
	if (wait) {
		stat_add(&c->s->st.rate_limited, 1);
		reply_error(c->s, c->r, 429, "rate_limited",
			    "this token's request rate is over its limit", wait);
		return false;
	}
	return true;
}

/* Checks the tenant against the scope; on failure answers 403. */
static bool tenant_ok(struct ctx *c, const char *t)
{
	c->tenant = t;
	if (token_tenant_allowed(c->tok, t, strlen(t)))
		return true;
	char why[160];
	snprintf(why, sizeof(why), "tenant \"%.64s\" is not in this token's scope", t);
	deny(c, why);
	return false;
}

/* Queues the meta-audit event of a successful read; false (and 503
 * answered) when it cannot be queued. */
static bool audit_ok(struct ctx *c, int status)
{
	struct audit_rec a = {
		.action = c->action, .outcome = "success", .tok = c->tok, .req = c->r,
		.status = status, .tenant = c->tenant, .resource_type = c->resource_type,
		.resource_id = c->resource_id[0] ? c->resource_id : NULL,
	};
	if (!c->action || audit_record(c->s, &a) == 0)
		return true;
	stat_add(&c->s->st.overloaded, 1);
	reply_error(c->s, c->r, 503, "unavailable",
		    "the request could not be recorded in the audit trail; retry later",
		    retry_after(c->s));
	return false;
}

/* Answers a read with its meta-audit event queued first. */
static void reply_audited(struct ctx *c, int status, const char *ctype,
			  const struct http_hdr *h, size_t nh, const void *body, size_t n)
{
	if (audit_ok(c, status))
		reply(c->s, c->r, status, ctype, h, nh, body, n);
}

static bool check_query(struct ctx *c, const char *const *allowed)
{
	char err[ERR_MAX];
	if (query_check(hreq_query(c->r), allowed, err, sizeof(err)) == 0)
		return true;
	reply_error(c->s, c->r, 400, "bad_parameter", err, 0);
	return false;
}

static bool get_u64(struct ctx *c, const char *key, uint64_t min, uint64_t max,
		    uint64_t *ret, bool *present)
{
	char err[ERR_MAX];
	if (query_u64(hreq_query(c->r), key, min, max, ret, present, err, sizeof(err)) == 0)
		return true;
	reply_error(c->s, c->r, 400, "bad_parameter", err, 0);
	return false;
}

/* The tenant a read is about: ?tenant=, else the token's single tenant. */
static bool read_tenant(struct ctx *c, char *out, size_t cap)
{
	int n = query_get(hreq_query(c->r), "tenant", out, cap);

	if (n == ST_ENOTFOUND) {
		const char *d = token_default_tenant(c->tok);
		if (!d) {
			reply_error(c->s, c->r, 400, "bad_parameter",
				    "parameter tenant is required: this token's scope has several tenants", 0);
			return false;
		}
		snprintf(out, cap, "%s", d);
		n = (int)strlen(out);
	}
	if (n <= 0) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter tenant: expected a tenant name", 0);
		return false;
	}
	return tenant_ok(c, out);
}

/* ---- ingest ----------------------------------------------------------------- */

enum { RES_OK, RES_ERR, RES_SAMPLED, RES_QUARANTINED };

struct item {
	uint8_t kind;                /* RES_OK, RES_ERR, RES_SAMPLED (class name in errs),
				      * RES_QUARANTINED (qid; violations in errs) */
	uint8_t reason;              /* enum reject_reason */
	uint32_t ev;                 /* index into ev[] when RES_OK */
	size_t line, offset;         /* where the event starts in the body */
	size_t err_off, err_len;     /* message in errs */
	size_t path_off, path_len;   /* field path in errs */
	size_t at;                   /* byte offset of the error in the body */
	uint64_t qid;                /* RES_QUARANTINED: the quarantine entry */
	uint64_t vbatch;             /* the vault group its tokens need durable, or 0 */
	size_t viol_off, viol_len;   /* RES_QUARANTINED: its violations, a JSON array in errs */
};

/* A schema a request's events named or were bound to, found once per
 * request, and its passes, added to the metrics once (schema_flush). The
 * key is the policy's binding (a pointer, stable while the request holds
 * cfg_lock) or the event's own "schema" text. */
#define SCHEMA_HITS 4
struct schema_hit {
	const struct policy_schema *bound;
	char raw[REGISTRY_NAME_MAX + 24];     /* the event's text, when bound is NULL */
	size_t raw_len;
	const struct schema *sc;
	char ref[REGISTRY_NAME_MAX + 24];     /* name/version */
	uint64_t pass;
};

struct ingest_req {
	struct server *s;
	struct hreq *r;
	const struct token *tok;
	bool server_composed;        /* ingest_origin's: source.client_cert allowed */
	struct ingest_job job;
	size_t nitems, nev;
	struct item *items;
	struct log_event *ev;
	struct log_ack *acks;
	size_t *ev_off;              /* compact offsets, pointers fixed after parsing */
	size_t *id_off;              /* offset of a server-made id in compact, or SIZE_MAX */
	struct buf compact;
	struct buf scratch;
	struct buf errs;
	struct buf cp_note;
	int64_t t0;
	bool packed;                 /* the arrays live in this allocation */
	struct enrich en;            /* what each event gets from the request */
	const struct apply_env *penv;   /* the policy for this request (cfg_lock held) */
	struct apply_scratch apply;  /* its buffers, set up on first use */
	bool apply_ready;
	struct pipeline_counts pcounts; /* the policy's counts, added to the metrics once */
	struct schema_hit sch[SCHEMA_HITS]; /* schema_check's recent schemas, passes counted */
	unsigned nsch;
	size_t nquarantined;         /* appended to the quarantine, to sync */
	struct buf mapped;           /* a body made by the server (k8s, syslog): the events point into it */
	void (*done)(struct ingest_req *q, void *arg);   /* ingest_req_submit's completion */
	void *done_arg;
	bool settled;                /* ingest_req_settle has run */
};

_Static_assert(sizeof(struct log_event) % 8 == 0 && sizeof(struct item) % 8 == 0 &&
	       sizeof(struct log_ack) % 8 == 0 && sizeof(struct ingest_req) % 8 == 0,
	       "ingest_req_new packs these arrays back to back");

/* A request of at most PACK_MAX events gets its five per-event arrays in
 * the same allocation (the single-event path makes one of these per
 * request); a batch gets them separately, as large blocks of their own. */
#define PACK_MAX 16

static struct ingest_req *ingest_req_new(size_t n)
{
	size_t per = sizeof(struct item) + sizeof(struct log_event) + sizeof(struct log_ack) +
		     2 * sizeof(size_t);
	struct ingest_req *q;

	if (n > PACK_MAX) {
		if (!(q = calloc(1, sizeof(*q))) || !(q->items = calloc(n, sizeof(*q->items))) ||
		    !(q->ev = calloc(n, sizeof(*q->ev))) || !(q->acks = calloc(n, sizeof(*q->acks))) ||
		    !(q->ev_off = calloc(n, sizeof(size_t))) ||
		    !(q->id_off = calloc(n, sizeof(size_t)))) {
			ingest_req_free(q);
			return NULL;
		}
		return q;
	}
	if (!(q = calloc(1, sizeof(*q) + n * per)))
		return NULL;
	q->packed = true;
	/* Each array's element size is a multiple of 8 and q is max-aligned,
	 * so every array is aligned for its type. */
	uint8_t *p = (uint8_t *)(q + 1);
	q->ev = (struct log_event *)(void *)p;
	p += n * sizeof(struct log_event);
	q->items = (struct item *)(void *)p;
	p += n * sizeof(struct item);
	q->acks = (struct log_ack *)(void *)p;
	p += n * sizeof(struct log_ack);
	q->ev_off = (size_t *)(void *)p;
	p += n * sizeof(size_t);
	q->id_off = (size_t *)(void *)p;
	return q;
}

void ingest_req_free(struct ingest_req *q)
{
	if (!q)
		return;
	if (q->tok)
		token_put(q->tok);
	if (!q->packed) {
		free(q->items);
		free(q->ev);
		free(q->acks);
		free(q->ev_off);
		free(q->id_off);
	}
	buf_release(&q->compact);
	buf_release(&q->scratch);
	if (q->apply_ready)
		apply_scratch_release(&q->apply);
	buf_release(&q->errs);
	buf_release(&q->cp_note);
	buf_release(&q->mapped);
	free(q);
}

/* Records an item's message and field in q->errs. */
static void item_note(struct ingest_req *q, struct item *it, const char *msg, const char *path,
		      size_t at)
{
	it->err_off = q->errs.len;
	it->err_len = strlen(msg);
	if (buf_append(&q->errs, msg, it->err_len) < 0)
		it->err_len = 0;
	it->path_off = q->errs.len;
	it->path_len = path ? strlen(path) : 0;
	if (it->path_len && buf_append(&q->errs, path, it->path_len) < 0)
		it->path_len = 0;
	it->at = at;
}

static void item_error(struct ingest_req *q, struct item *it, enum reject_reason why,
		       const char *msg, const char *path, size_t at)
{
	it->kind = RES_ERR;
	it->reason = (uint8_t)why;
	item_note(q, it, msg, path, at);
	stat_add(&q->s->st.events_rejected[why], 1);
}

static const char *reason_code(enum reject_reason r)
{
	switch (r) {
	case REJ_INVALID: return "invalid";
	case REJ_LIMIT: return "limit";
	case REJ_TENANT: return "forbidden_tenant";
	case REJ_DISK: return "insufficient_storage";
	case REJ_QUEUE: return "overloaded";
	case REJ_LOG: return "log_failed";
	case REJ_POLICY: return "policy_failed";
	case REJ_SCHEMA: return "schema_violation";
	default: return "error";
	}
}

/* Does the compact event's top-level "action" start with a critical prefix?
 * Top-level keys of our compact form are at depth 1; scan for the key at
 * depth 1 only. */
static bool event_critical(const struct server *s, const uint8_t *p, size_t n)
{
	int depth = 0;
	bool in_str = false;

	if (s->cfg.ncritical == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		} else if (ch == '"') {
			if (depth == 1 && n - i > 10 && !memcmp(p + i, "\"action\":\"", 10)) {
				const uint8_t *v = p + i + 10;
				const uint8_t *e = memchr(v, '"', n - i - 10);
				return e && config_is_critical(&s->cfg, (const char *)v, (size_t)(e - v));
			}
			in_str = true;
		}
	}
	return false;
}

#define SCHEMA_VIOLATIONS_SHOWN 8

/* ---- schemas and the quarantine on ingest (issue 5, docs/QUARANTINE.md) ----
 * Owned by the quarantine branch; the one call is in ingest_item. */

/* The quarantine entry of one event (quarantine_add's payload). */
struct qctx {
	struct ingest_req *q;
	const char *tenant, *ref;
	const struct schema_violation *v;
	int nv;
	const uint8_t *body;
	size_t blen;
	const char *pre;             /* server_prefix: the members ingest_item puts first */
	size_t pre_len;
	const struct buf *suf;       /* server_suffix: the members it puts last */
};

static int put_violations(struct buf *b, const struct schema_violation *v, int nv)
{
	int r;
	if ((r = buf_putc(b, '[')) < 0)
		return r;
	for (int i = 0; i < nv && i < SCHEMA_VIOLATIONS_SHOWN; i++) {
		if ((r = buf_puts(b, i ? ",{\"pointer\":" : "{\"pointer\":")) < 0 ||
		    (r = json_put_str(b, v[i].pointer, strlen(v[i].pointer))) < 0 ||
		    (r = buf_puts(b, ",\"rule\":")) < 0 ||
		    (r = json_put_str(b, v[i].rule, strlen(v[i].rule))) < 0 ||
		    (r = buf_puts(b, ",\"message\":")) < 0 ||
		    (r = json_put_str(b, v[i].msg, strlen(v[i].msg))) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	}
	return buf_putc(b, ']');
}

static int q_payload(void *arg, uint64_t id, struct buf *b)
{
	const struct qctx *c = arg;
	char now[RFC3339_US_LEN + 1];
	int r;

	rfc3339_format_us(now_realtime_ns(), now);
	if ((r = buf_printf(b, "{\"k\":\"e\",\"id\":%llu,\"tenant\":\"%s\",\"producer\":\"%s\","
			       "\"received_at\":\"%s\",\"schema\":\"%s\",\"violations\":",
			    (unsigned long long)id, c->tenant, c->q->tok->name, now, c->ref)) < 0 ||
	    (r = put_violations(b, c->v, c->nv)) < 0)
		return r;
	/* "event" stays last: resubmit finds it by its offset to the end */
	if ((r = buf_printf(b, ",\"violation_count\":%d,\"server_prefix\":", c->nv)) < 0 ||
	    (r = json_put_str(b, c->pre, c->pre_len)) < 0 ||
	    (r = buf_puts(b, ",\"server_suffix\":")) < 0 ||
	    (r = json_put_str(b, (const char *)c->suf->data, c->suf->len)) < 0 ||
	    (r = buf_puts(b, ",\"event\":")) < 0 || (r = buf_append(b, c->body, c->blen)) < 0)
		return r;
	return buf_putc(b, '}');
}

/* What ingest_item would add around the producer's members: the prefix
 * (a server-made id, made now so a resubmit is idempotent; the tenant;
 * request_id and trace_id) and the suffix (client_ip and context, the
 * redacted list, the criticality). A resubmit commits exactly these. */
static int q_server_parts(struct ingest_req *q, const struct event_info *info, const char *tenant,
			  size_t tl, const struct apply_result *ar, char *pre, size_t *pre_len,
			  struct buf *suf)
{
	uint8_t *o = (uint8_t *)pre;
	int r;
	if (!info->has_id) {
		char id[UUID_STR_LEN + 1];
		if ((r = uuidv7_format((uint64_t)(now_realtime_ns() / 1000000), id)) < 0)
			return r;
		o += sprintf((char *)o, "\"id\":\"%s\",", id);
	}
	if (!info->tenant)
		o += sprintf((char *)o, "\"tenant\":\"%.*s\",", (int)tl, tenant);
	o += enrich_prefix(&q->en, info, o);
	*pre_len = (size_t)(o - (uint8_t *)pre);
	if ((r = buf_append(suf, q->en.suffix, q->en.suffix_len)) < 0 ||
	    (q->penv && q->apply.redacted.len &&
	     (r = buf_append(suf, q->apply.redacted.data, q->apply.redacted.len)) < 0) ||
	    (ar && ar->crit != POLICY_CRIT_NORMAL &&
	     (r = buf_printf(suf, ",\"criticality\":\"%s\"", policy_crit_name(ar->crit))) < 0))
		return r;
	return 0;
}

/* A schema's passes in this request, to the metrics. */
static void schema_count_pass(struct ingest_req *q, const struct schema_hit *h)
{
	if (!h->pass)
		return;
	stat_add(&q->s->st.schema_checks[0], h->pass);
	schema_stats_add(q->s->schema_stats, h->ref, q->tok->name, SCHEMA_PASS, h->pass);
}

/*
 * Validates the producer's parsed event (q->scratch, before redaction, so
 * formats see real values) against the schema it names or the policy
 * binds. Returns true when there is none or it passes. Otherwise the
 * event (body[0..blen), redacted) goes to the quarantine with its
 * violations and the item says so, or, when it cannot be kept, the item
 * is refused; false either way. A schema that is not registered is a
 * violation of its own (rule "unknown-schema"): kept, so it can be
 * resubmitted once the schema is published. Values never appear: the
 * validator's messages do not quote them.
 */
static bool schema_check(struct ingest_req *q, struct item *it, const struct event_info *info,
			 const struct apply_result *ar, const struct body_item *bi,
			 const char *tenant, size_t tl, const uint8_t *body, size_t blen)
{
	struct server *s = q->s;
	const struct policy_schema *bound = ar ? ar->schema : NULL;
	char name[REGISTRY_NAME_MAX + 1], ref[REGISTRY_NAME_MAX + 24], msg[ERR_MAX];
	uint32_t ver;
	struct schema_violation v[SCHEMA_VIOLATIONS_SHOWN];
	int k;

	if (!info->schema && !bound)
		return true;
	/* the request's earlier events' schema: no formatting, no lookup */
	struct schema_hit one, *hit = NULL;
	for (unsigned i = 0; i < q->nsch && !hit; i++) {
		struct schema_hit *h = &q->sch[i];
		if (info->schema ? !h->bound && h->raw_len == info->schema_len &&
					   !memcmp(h->raw, info->schema, h->raw_len)
				 : h->bound == bound)
			hit = h;
	}
	if (!hit) {
		if (info->schema) {
			size_t n = info->schema_len < sizeof(ref) - 1 ? info->schema_len : sizeof(ref) - 1;
			memcpy(ref, info->schema, n);
			ref[n] = 0;
		} else {
			snprintf(ref, sizeof(ref), "%s/%s", bound->name, bound->version);
		}
		if (!registry_parse_ref(ref, strlen(ref), name, &ver)) {
			/* can never be registered: the producer's error, refused at once */
			stat_add(&s->st.schema_checks[2], 1);
			snprintf(msg, sizeof(msg), "schema: expected name/version (name [a-z0-9][a-z0-9._-]{0,63}, version 1..999999)");
			item_error(q, it, REJ_SCHEMA, msg, "schema", bi->offset);
			return false;
		}
		snprintf(ref, sizeof(ref), "%s/%u", name, ver);
		const struct schema *sc = registry_get(s->registry, name, strlen(name), ver);
		if (!sc) {
			stat_add(&s->st.schema_checks[2], 1);
			schema_stats_count(s->schema_stats, ref, q->tok->name, SCHEMA_UNKNOWN);
			memset(v, 0, sizeof(v[0]));
			snprintf(v[0].pointer, sizeof(v[0].pointer), "%s", info->schema ? "/schema" : "");
			snprintf(v[0].rule, sizeof(v[0].rule), "unknown-schema");
			snprintf(v[0].msg, sizeof(v[0].msg), "schema %s is not registered (PUT /v1/schemas/%s/%u)",
				 ref, name, ver);
			k = 1;
			goto violated;
		}
		/* kept for the request's next events; with no room, for this one */
		bool keep = q->nsch < SCHEMA_HITS && (!info->schema || info->schema_len < sizeof(one.raw));
		hit = keep ? &q->sch[q->nsch++] : &one;
		hit->bound = info->schema ? NULL : bound;
		hit->raw_len = keep && info->schema ? info->schema_len : 0;
		if (hit->raw_len)
			memcpy(hit->raw, info->schema, hit->raw_len);
		hit->sc = sc;
		memcpy(hit->ref, ref, sizeof(ref));
		hit->pass = 0;
	}
	k = schema_validate(hit->sc, (const char *)q->scratch.data, q->scratch.len, v, ARRAY_SIZE(v));
	if (k == 0) {
		hit->pass++;
		if (hit == &one)
			schema_count_pass(q, &one);
		return true;
	}
	memcpy(ref, hit->ref, sizeof(ref));
	stat_add(&s->st.schema_checks[1], 1);
	schema_stats_count(s->schema_stats, ref, q->tok->name, SCHEMA_FAIL);
violated:;
	size_t at = (size_t)snprintf(msg, sizeof(msg), "%d violation(s) of schema %s:", k < 0 ? 1 : k, ref);
	for (int i = 0; i < k && i < (int)ARRAY_SIZE(v) && at < sizeof(msg); i++)
		at += (size_t)snprintf(msg + at, sizeof(msg) - at, "%s %s (%s): %s", i ? ";" : "",
				       v[i].pointer[0] ? v[i].pointer : "/", v[i].rule, v[i].msg);
	/* Into the quarantine, as it would have been stored (redacted): not
	 * the log, and not lost. */
	char tn[TOKEN_TENANT_MAX + 1], pre[UUID_STR_LEN + TOKEN_TENANT_MAX + ENRICH_PREFIX_MAX + 32];
	size_t pre_len = 0;
	struct buf suf = BUF_INIT(QUARANTINE_RECORD_MAX);
	snprintf(tn, sizeof(tn), "%.*s", (int)tl, tenant);
	int64_t qid = q_server_parts(q, info, tenant, tl, ar, pre, &pre_len, &suf);
	struct qctx qc = { q, tn, ref, v, k < 0 ? 0 : k, body, blen, pre, pre_len, &suf };
	if (qid >= 0)
		qid = s->quarantine ? quarantine_add(s->quarantine, tn, q_payload, &qc) : ST_EINVAL;
	buf_release(&suf);
	if (qid < 0) {
		if (qid == ST_ELIMIT) {
			/* full: storage, like the log's disk_full (507, Retry-After) */
			snprintf(msg, sizeof(msg), "the event fails schema %s and the quarantine is full "
				 "(quarantine_max); nothing was stored; retry after an admin resolves entries", ref);
			item_error(q, it, REJ_DISK, msg, k > 0 ? v[0].pointer : NULL, bi->offset);
			return false;
		}
		if (at < sizeof(msg))
			snprintf(msg + at, sizeof(msg) - at, "; and it could not be quarantined (%s)",
				 st_strerror((int)qid));
		item_error(q, it, REJ_SCHEMA, msg, k > 0 ? v[0].pointer : NULL, bi->offset);
		return false;
	}
	item_note(q, it, msg, k > 0 ? v[0].pointer : NULL, bi->offset);
	it->viol_off = q->errs.len;
	if (put_violations(&q->errs, v, k < 0 ? 0 : k) < 0)
		q->errs.len = it->viol_off;
	it->viol_len = q->errs.len - it->viol_off;
	it->reason = (uint8_t)REJ_SCHEMA;
	stat_add(&s->st.events_quarantined, 1);
	it->kind = RES_QUARANTINED;
	it->qid = (uint64_t)qid;
	q->nquarantined++;
	return false;
}

/* schema_check's passes, to the metrics; the cache is the request's. */
static void schema_flush(struct ingest_req *q)
{
	for (unsigned i = 0; i < q->nsch; i++)
		schema_count_pass(q, &q->sch[i]);
	q->nsch = 0;
}

/* Parses one item into compact (with tenant and id added when absent). */
static void ingest_item(struct ingest_req *q, struct item *it, const struct body_item *bi,
			enum disk_level disk)
{
	struct server *s = q->s;
	struct event_info info;
	struct event_error perr;
	char msg[ERR_MAX];
	int r;

	buf_reset(&q->scratch);
	r = event_parse(bi->p, bi->len, log_limits(s->log), &q->scratch, &info, &perr);
	if (r < 0) {
		if (r != ST_EINVAL && r != ST_ELIMIT) {
			item_error(q, it, REJ_LIMIT, "the event could not be buffered", NULL, bi->offset);
			return;
		}
		snprintf(msg, sizeof(msg), "%s", perr.msg);
		item_error(q, it, r == ST_ELIMIT ? REJ_LIMIT : REJ_INVALID, msg, perr.path,
			   bi->offset + perr.offset);
		return;
	}
	if (info.has_client_cert && !q->server_composed) {
		item_error(q, it, REJ_INVALID,
			   "source.client_cert is written by the server from a verified TLS client "
			   "certificate (a syslog listener's); a producer may not set it",
			   "source.client_cert", bi->offset);
		return;
	}
	const char *tenant;
	size_t tlen;
	bool add_tenant = false;
	if (info.tenant) {
		tenant = info.tenant;
		tlen = info.tenant_len;
	} else if ((tenant = token_default_tenant(q->tok))) {
		tlen = strlen(tenant);
		add_tenant = true;
	} else {
		item_error(q, it, REJ_TENANT,
			   "tenant is required: this token's scope is not a single tenant",
			   "tenant", bi->offset);
		return;
	}
	if (tenant[0] == '_' || !token_tenant_allowed(q->tok, tenant, tlen)) {
		snprintf(msg, sizeof(msg), "tenant \"%.*s\" is %s", (int)tlen, tenant,
			 tenant[0] == '_' ? "reserved for the server" : "not in this token's scope");
		item_error(q, it, REJ_TENANT, msg, "tenant", bi->offset);
		return;
	}
	/* The policy: redaction, criticality (docs/REDACTION.md). The event
	 * from here on is body[0..blen). */
	const uint8_t *body = q->scratch.data;
	size_t blen = q->scratch.len;
	struct apply_result ar;
	ar.crit = POLICY_CRIT_NORMAL;
	if (q->penv) {
		if (!q->apply_ready) {
			apply_scratch_init(&q->apply);
			q->apply_ready = true;
		}
		r = apply_event(q->penv, tenant, tlen, &info, q->scratch.data, q->scratch.len,
				&q->apply, &ar);
		if (r < 0) {
			item_error(q, it, REJ_POLICY, ar.err, NULL, bi->offset);
			return;
		}
		body = q->apply.out.data;
		blen = q->apply.out.len;
		it->vbatch = ar.vault_batch;
		pipeline_count(&q->pcounts, &ar);
	}
	/* Schemas (docs/SCHEMAS.md): the event's own "schema", else the
	 * policy's binding for its action; the producer's event (before
	 * redaction) is what is checked. */
	if (!schema_check(q, it, &info, q->penv ? &ar : NULL, bi, tenant, tlen, body, blen))
		return;
	/* Sampling (docs/SAMPLING.md): a sampled-out event is counted for
	 * its class's summary and not written; a kept one says so. */
	bool sampled = false;
	if (q->penv && ar.sample && ar.sample->rate < 1.0 && s->sampler) {
		bool keep = sampler_keep(s->sampler, tenant, tlen, info.has_id ? info.id : NULL,
					 info.has_id ? info.id_len : 0, ar.sample->rate);
		sampler_count(s, s->sampler, tenant, tlen, ar.sample, q->tok->name, keep);
		if (!keep) {
			it->kind = RES_SAMPLED;
			it->err_off = q->errs.len;
			it->err_len = strlen(ar.sample->cls);
			if (buf_append(&q->errs, ar.sample->cls, it->err_len) < 0)
				it->err_len = 0;
			stat_add(&s->st.events_sampled_out, 1);
			return;
		}
		sampled = true;
	}
	/* criticality matters only below admin_space_left: not looked for above */
	if (disk >= DISK_FULL || (disk == DISK_ADMIN_SPACE_LEFT && ar.crit != POLICY_CRIT_CRITICAL &&
				  !event_critical(s, body, blen))) {
		item_error(q, it, REJ_DISK, disk >= DISK_FULL ?
			   "the log's disk is full (disk_full); retry later" :
			   "the log's disk is below admin_space_left: only critical events are accepted; retry later",
			   NULL, bi->offset);
		return;
	}
	/* Compose: '{' [id] [tenant] rest-of-object. */
	size_t redacted_len = q->penv ? q->apply.redacted.len : 0;
	const char *crit_name = ar.crit != POLICY_CRIT_NORMAL ? policy_crit_name(ar.crit) : NULL;
	size_t need = blen + UUID_STR_LEN + 16 + tlen + 16 + ENRICH_PREFIX_MAX + q->en.suffix_len +
		      redacted_len + (crit_name ? 32 : 0) + (sampled ? 128 : 0);
	if ((r = buf_reserve(&q->compact, need)) < 0) {
		item_error(q, it, REJ_LIMIT, "the request's events exceed the server's buffer", NULL,
			   bi->offset);
		return;
	}
	size_t start = q->compact.len;
	uint8_t *o = q->compact.data + start;
	size_t idoff = SIZE_MAX;
	*o++ = '{';
	if (!info.has_id) {
		char id[UUID_STR_LEN + 1];
		if (uuidv7_format((uint64_t)(now_realtime_ns() / 1000000), id) < 0) {
			item_error(q, it, REJ_LOG, "could not make an id", NULL, bi->offset);
			return;
		}
		memcpy(o, "\"id\":\"", 6); o += 6;
		idoff = (size_t)(o - q->compact.data);
		memcpy(o, id, UUID_STR_LEN); o += UUID_STR_LEN;
		memcpy(o, "\",", 2); o += 2;
	}
	if (add_tenant) {
		memcpy(o, "\"tenant\":\"", 10); o += 10;
		memcpy(o, tenant, tlen); o += tlen;
		memcpy(o, "\",", 2); o += 2;
	}
	o += enrich_prefix(&q->en, &info, o);
	/* the producer's members, then the server's, then the closing brace */
	memcpy(o, body + 1, blen - 2);
	o += blen - 2;
	memcpy(o, q->en.suffix, q->en.suffix_len);
	o += q->en.suffix_len;
	if (redacted_len) {
		memcpy(o, q->apply.redacted.data, redacted_len);
		o += redacted_len;
	}
	if (crit_name) {
		size_t cn = strlen(crit_name);
		memcpy(o, ",\"criticality\":\"", 16); o += 16;
		memcpy(o, crit_name, cn); o += cn;
		*o++ = '"';
	}
	if (sampled)
		o += sprintf((char *)o, ",\"sampled\":{\"class\":\"%s\",\"rate\":%.6g}",
			     ar.sample->cls, ar.sample->rate);
	*o++ = '}';
	size_t len = (size_t)(o - (q->compact.data + start));
	if (len > log_limits(s->log)->max_entry - EVENT_SERVER_RESERVE) {
		item_error(q, it, REJ_LIMIT,
			   "the event is too large once its id, tenant and enrichment (client_ip, context, request_id, trace_id) are added",
			   NULL, bi->offset);
		return;
	}
	q->compact.len += len;

	struct log_event *e = &q->ev[q->nev];
	memset(e, 0, sizeof(*e));
	e->len = len;
	e->info = info;
	/* Slices that must outlive the body: the tenant and a server-made id.
	 * A producer's id and tenant point into the body, which lives until the
	 * reply. */
	e->info.tenant = tenant;
	e->info.tenant_len = tlen;
	if (!info.has_id) {
		e->info.has_id = true;
		e->info.id_len = UUID_STR_LEN;
	}
	e->producer = q->tok->name;
	e->producer_len = strlen(q->tok->name);
	q->ev_off[q->nev] = start;
	q->id_off[q->nev] = idoff;
	it->kind = RES_OK;
	it->ev = (uint32_t)q->nev;
	q->nev++;
}

/*
 * The tokens of the request's events were staged in the vault (apply.c):
 * one wait makes them all durable before any event that holds one goes to
 * the log or stays in the quarantine, so 1,000 new values cost one
 * fdatasync, not 1,000. If the vault cannot (a sticky write error), every
 * event holding a token is refused (policy_failed) and taken out of the
 * job: a token in the log always resolves. Under cfg_lock (penv's vault).
 */
static void vault_settle(struct ingest_req *q, size_t n)
{
	uint64_t want = 0;
	for (size_t i = 0; i < n; i++)
		if (q->items[i].vbatch > want && (q->items[i].kind == RES_OK || q->items[i].kind == RES_QUARANTINED))
			want = q->items[i].vbatch;
	if (want == 0 || !q->penv || !q->penv->vault)
		return;
	int r = vault_wait(q->penv->vault, want);
	if (r == 0)
		return;
	char msg[160];
	snprintf(msg, sizeof(msg), "the token vault could not make this event's tokens durable (%s); retry later",
		 st_strerror(r));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct item *it = &q->items[i];
		bool held = it->vbatch && (it->kind == RES_OK || it->kind == RES_QUARANTINED);
		if (held && it->kind == RES_QUARANTINED)
			q->nquarantined--;
		if (held) {
			item_error(q, it, REJ_POLICY, msg, NULL, it->offset);
			continue;
		}
		if (it->kind != RES_OK)
			continue;
		/* keep the event, moved down over the refused ones (order kept) */
		q->ev[k] = q->ev[it->ev];
		q->ev_off[k] = q->ev_off[it->ev];
		q->id_off[k] = q->id_off[it->ev];
		it->ev = (uint32_t)k++;
	}
	q->nev = k;
}

/* The hot path of a 1000-event response: no printf. */
static void put_lit_u64(struct buf *b, const char *lit, size_t litlen, uint64_t v)
{
	if (buf_reserve(b, litlen + 20) < 0)
		return;
	memcpy(b->data + b->len, lit, litlen);
	b->len += litlen;
	b->len += st_fmt_u64((char *)b->data + b->len, v);
}

static void put_item_head(struct buf *b, const struct item *it, size_t index)
{
	put_lit_u64(b, "{\"index\":", 9, index);
	put_lit_u64(b, ",\"line\":", 8, it->line);
	buf_putc(b, ',');
}

static int ingest_status(struct ingest_req *q, size_t ok, size_t bad)
{
	if (bad == 0)
		return 200;
	if (ok)
		return 207;
	bool all_disk = true, all_tenant = true;
	for (size_t i = 0; i < q->nitems; i++) {
		all_disk &= q->items[i].reason == REJ_DISK;
		all_tenant &= q->items[i].reason == REJ_TENANT;
	}
	return all_disk ? 507 : all_tenant ? 403 : q->nitems == 1 &&
	       q->items[0].reason == REJ_LIMIT ? 413 : 400;
}

/*
 * Once the job is done (or there was none): the accounting of every
 * event, the same for every transport. A job the log refused whole counts
 * its events as refused only when count_failure (a transport that will
 * submit them again does not). An event the log refused on its own
 * becomes an error item; a committed one counts as accepted and for the
 * capture rate. Runs once; returns the job's result.
 */
int ingest_req_settle(struct ingest_req *q, bool count_failure)
{
	struct server *s = q->s;
	int jr = q->nev ? q->job.result : 0;
	int64_t now_ns = now_realtime_ns();

	if (q->settled)
		return jr;
	if (jr < 0) {
		if (!count_failure)
			return jr;
		enum reject_reason why = jr == -ENOSPC ? REJ_DISK : REJ_LOG;
		for (size_t i = 0; i < q->nev; i++) {
			stat_add(&s->st.events_rejected[why], 1);
			stat_add(&s->st.bytes_rejected[why], q->ev[i].len);
		}
		q->settled = true;
		return jr;
	}
	for (size_t i = 0; i < q->nitems; i++) {
		struct item *it = &q->items[i];
		if (it->kind != RES_OK)
			continue;
		if (q->acks[it->ev].result < 0) {
			item_error(q, it, REJ_LOG, st_strerror(q->acks[it->ev].result), NULL, it->offset);
			continue;
		}
		const struct log_event *e = &q->ev[it->ev];
		if (!q->acks[it->ev].duplicate) {
			stat_add(&s->st.events_accepted, 1);
			stat_add(&s->st.bytes_accepted, e->len);
			if (e->info.producer_seq && s->capture)
				capture_event(s->capture, q->tok->name, &e->info, now_ns);
		}
	}
	q->settled = true;
	return jr;
}

size_t ingest_req_items(const struct ingest_req *q)
{
	return q->nitems;
}

size_t ingest_req_pending(const struct ingest_req *q)
{
	return q->nev;
}

void ingest_req_result(const struct ingest_req *q, size_t i, struct ingest_result *ret)
{
	const struct item *it = &q->items[i];
	memset(ret, 0, sizeof(*ret));
	switch (it->kind) {
	case RES_OK:
		ret->kind = q->acks[it->ev].duplicate ? INGEST_DUPLICATE : INGEST_COMMITTED;
		ret->seq = q->acks[it->ev].seq;
		return;
	case RES_SAMPLED:
		ret->kind = INGEST_SAMPLED_OUT;
		return;
	case RES_QUARANTINED:
		ret->kind = INGEST_QUARANTINED;
		ret->seq = it->qid;
		break;
	default:
		ret->kind = INGEST_REFUSED;
		break;
	}
	ret->reason = (enum reject_reason)it->reason;
	ret->msg = (const char *)q->errs.data + it->err_off;
	ret->msg_len = it->err_len;
	ret->path = (const char *)q->errs.data + it->path_off;
	ret->path_len = it->path_len;
	ret->at = it->at;
}

/* On the request's I/O thread: the results, in input order. */
static void ingest_finish(struct hreq *r, void *arg)
{
	struct ingest_req *q = arg;
	struct server *s = q->s;
	struct buf b = BUF_INIT(RESPONSE_MAX + (64u << 20));
	size_t ok = 0, dup = 0, bad = 0, out_n = 0, qn = 0;
	int jr = ingest_req_settle(q, true);

	if (jr < 0) {
		if (jr == -ENOSPC)
			reply_error(s, r, 507, "insufficient_storage",
				    "the log's disk is below disk_full; nothing was written; retry later",
				    retry_after(s));
		else
			reply_error(s, r, 503, "log_failed", st_strerror(jr), retry_after(s));
		goto out;
	}
	buf_puts(&b, "{\"results\":[");
	for (size_t i = 0; i < q->nitems; i++) {
		struct item *it = &q->items[i];
		if (i)
			buf_putc(&b, ',');
		put_item_head(&b, it, i);
		if (it->kind == RES_OK) {
			const struct log_ack *a = &q->acks[it->ev];
			const struct log_event *e = &q->ev[it->ev];
			char leaf[BASE64_LEN(HASH_SIZE) + 1];
			base64_encode(a->leaf, HASH_SIZE, leaf);
			put_lit_u64(&b, "\"seq\":", 6, a->seq);
			/* The id as written: a validated JSON string body, escapes kept. */
			buf_append(&b, ",\"id\":\"", 7);
			buf_append(&b, e->info.id, e->info.id_len);
			buf_putc(&b, '"');
			buf_append(&b, ",\"leaf_hash\":\"", 14);
			buf_append(&b, leaf, BASE64_LEN(HASH_SIZE));
			buf_putc(&b, '"');
			if (a->duplicate) {
				buf_puts(&b, ",\"duplicate\":true");
				dup++;
			}
			if (q->job.wait_checkpoint && q->cp_note.len) {
				uint8_t hashes[PROOF_MAX_HASHES][HASH_SIZE];
				struct buf pf = BUF_INIT(2 * NOTE_MAX_SIZE + PROOF_MAX_HASHES * 48);
				size_t nh = 0;
				if (tree_inclusion_proof(log_tree(s->log), a->seq, q->job.cp_size,
							 hashes, &nh) == 0 &&
				    tlog_proof_format(a->seq, (const uint8_t(*)[HASH_SIZE])hashes, nh,
						      NULL, 0, q->cp_note.data, q->cp_note.len, &pf) == 0) {
					buf_puts(&b, ",\"proof\":");
					json_put_str(&b, (const char *)pf.data, pf.len);
				}
				buf_release(&pf);
			}
			ok++;
		} else if (it->kind == RES_QUARANTINED) {
			static const char ql[] = "\"quarantined\":true,\"quarantine_id\":";
			put_lit_u64(&b, ql, sizeof(ql) - 1, it->qid);
			buf_puts(&b, ",\"error\":{\"code\":\"schema_violation\",\"message\":");
			json_put_str(&b, (const char *)q->errs.data + it->err_off, it->err_len);
			if (it->path_len) {
				buf_puts(&b, ",\"field\":");
				json_put_str(&b, (const char *)q->errs.data + it->path_off, it->path_len);
			}
			if (it->viol_len) {
				buf_puts(&b, ",\"violations\":");
				buf_append(&b, q->errs.data + it->viol_off, it->viol_len);
			}
			buf_putc(&b, '}');
			qn++;
		} else if (it->kind == RES_SAMPLED) {
			buf_puts(&b, "\"sampled_out\":true,\"class\":");
			json_put_str(&b, (const char *)q->errs.data + it->err_off, it->err_len);
			out_n++;
		} else {
			buf_printf(&b, "\"error\":{\"code\":\"%s\",\"message\":",
				   reason_code((enum reject_reason)it->reason));
			json_put_str(&b, (const char *)q->errs.data + it->err_off, it->err_len);
			if (it->path_len) {
				buf_puts(&b, ",\"field\":");
				json_put_str(&b, (const char *)q->errs.data + it->path_off, it->path_len);
			}
			buf_printf(&b, ",\"offset\":%zu}", it->at);
			bad++;
		}
		buf_putc(&b, '}');
	}
	put_lit_u64(&b, "],\"accepted\":", 13, ok - dup);
	put_lit_u64(&b, ",\"duplicates\":", 14, dup);
	put_lit_u64(&b, ",\"rejected\":", 12, bad);
	if (out_n)
		put_lit_u64(&b, ",\"sampled_out\":", 15, out_n);
	if (qn)
		put_lit_u64(&b, ",\"quarantined\":", 15, qn);
	if (q->job.wait_checkpoint && q->cp_note.len) {
		buf_printf(&b, ",\"checkpoint_size\":%llu,\"checkpoint\":",
			   (unsigned long long)q->job.cp_size);
		json_put_str(&b, (const char *)q->cp_note.data, q->cp_note.len);
	}
	if (buf_puts(&b, "}\n") < 0) {
		reply_error(s, r, 500, "internal", "the response did not fit its buffer", 0);
		goto out;
	}
	{
		int status = ingest_status(q, ok + out_n + qn, bad);
		char ra[16];
		struct http_hdr h = { "Retry-After", ra };
		if (status == 507)
			snprintf(ra, sizeof(ra), "%u", retry_after(s));
		reply(s, r, status, "application/json", &h, status == 507 ? 1 : 0, b.data, b.len);
	}
	stat_hist_observe(&s->st.request_seconds, (uint64_t)(now_monotonic_ns() - q->t0));
out:
	buf_release(&b);
	ingest_req_free(q);
}

/* ingest_finish from a posted completion: under the log lock, like every
 * handler, so a reopen never swaps the log under it. */
static void ingest_finish_posted(struct hreq *r, void *arg)
{
	struct ingest_req *q = arg;
	struct server *s = q->s;

	pthread_rwlock_rdlock(&s->log_lock);
	ingest_finish(r, q);
	pthread_rwlock_unlock(&s->log_lock);
}

static void ingest_done(struct ingest_job *j)
{
	struct ingest_req *q = j->arg;
	q->done(q, q->done_arg);
}

static void http_done(struct ingest_req *q, void *arg)
{
	(void)arg;
	hreq_post(q->r, ingest_finish_posted, q);
}

static void ingest_body(struct ctx *c, const uint8_t *body, size_t blen, enum body_kind kind,
			bool wait_cp, struct buf *mapped);

static void handle_ingest(struct ctx *c)
{
	static const char *const allowed[] = { "wait", NULL };
	struct server *s = c->s;
	struct hreq *r = c->r;
	const uint8_t *body;
	size_t blen;
	enum body_kind kind;
	char err[ERR_MAX], wait[32];
	bool wait_cp = false;
	const char *ct = hreq_header(r, "Content-Type");

	if (!check_query(c, allowed))
		return;
	int wr = query_get(hreq_query(r), "wait", wait, sizeof(wait));
	if (wr >= 0) {
		if (strcmp(wait, "checkpoint")) {
			reply_error(s, r, 400, "bad_parameter",
				    "parameter wait: expected \"checkpoint\"", 0);
			return;
		}
		wait_cp = true;
	}
	if (body_kind_parse(ct, ct ? strlen(ct) : 0, &kind, err, sizeof(err)) < 0) {
		reply_error(s, r, 415, "unsupported_media_type", err, 0);
		return;
	}
	hreq_body(r, &body, &blen);
	ingest_body(c, body, blen, kind, wait_cp, NULL);
}

/*
 * The transport-neutral core (server.h): the events of body[0..blen)
 * (kind, n of them as body_count found) each through the policy, the
 * schemas and sampling, composed with the server's members, ready to be
 * one job. The caller holds log_lock (read). mapped (may be NULL): a
 * buffer the body lives in that the request takes over.
 */
int ingest_req_build(struct server *s, const struct ingest_origin *o, const uint8_t *body,
		     size_t blen, enum body_kind kind, size_t n, struct buf *mapped,
		     struct ingest_req **ret, char *err, size_t errcap)
{
	struct ingest_req *q = NULL;

	if (!(q = ingest_req_new(n))) {
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	if (mapped) {
		q->mapped = *mapped;
		*mapped = (struct buf)BUF_INIT(0);
	}
	q->s = s;
	pthread_rwlock_rdlock(&s->cfg_lock);
	size_t max_events = s->cfg.max_batch_events;
	/* the principal's context, then the listener's, then the defaults */
	const struct ev_context *ctx[3] = { &o->tok->context, o->listener, &s->cfg.context };
	int er = enrich_prepare(&q->en, o->request_id, o->traceparent, o->peer, ctx, 3, err, errcap);
	if (er < 0) {
		pthread_rwlock_unlock(&s->cfg_lock);
		ingest_req_free(q);
		return ST_EINVAL;
	}
	/* Held through the events: one policy for the whole request, never
	 * freed under it by a reload. */
	q->penv = s->penv;
	if (q->en.traceparent_ignored)
		stat_add(&s->st.traceparent_ignored, 1);
	q->tok = token_get(o->tok);
	q->server_composed = o->server_composed;
	q->t0 = now_monotonic_ns();
	q->nitems = n;
	/* A policy may lengthen an event (hashes, tokens, the redacted
	 * list) up to max_entry; only what is used is allocated. */
	buf_init(&q->compact, blen + n * (128 + (q->penv ? log_limits(s->log)->max_entry : 0)) + 4096);
	/* what the events usually come to, at once: growing by doubling
	 * copied the whole batch about once more (1.5% of the worker's time) */
	(void)buf_reserve(&q->compact, blen + n * (q->penv ? 256 : 128) + 4096);
	buf_init(&q->scratch, log_limits(s->log)->max_entry);
	buf_init(&q->errs, (size_t)1 << 24);
	buf_init(&q->cp_note, NOTE_MAX_SIZE);

	enum disk_level disk = ingest_disk_level(s->ingest);
	struct body_iter it;
	struct body_item bi;
	body_iter_init(&it, body, blen, kind, max_events > n ? max_events : n);
	for (size_t i = 0; i < n && body_iter_next(&it, &bi, NULL) == 1; i++) {
		q->items[i].line = bi.line;
		q->items[i].offset = bi.offset;
		ingest_item(q, &q->items[i], &bi, disk);
	}
	pipeline_flush(s, &q->pcounts);
	schema_flush(q);
	vault_settle(q, n);
	q->penv = NULL;
	pthread_rwlock_unlock(&s->cfg_lock);
	if (q->nquarantined && quarantine_sync(s->quarantine) < 0) {
		/* not durable: say so, per event, instead of claiming it */
		for (size_t i = 0; i < n; i++)
			if (q->items[i].kind == RES_QUARANTINED) {
				q->items[i].kind = RES_ERR;
				stat_add(&s->st.events_rejected[REJ_SCHEMA], 1);
			}
		q->nquarantined = 0;
	}
	for (size_t i = 0; i < q->nev; i++) {
		q->ev[i].compact = q->compact.data + q->ev_off[i];
		q->job.bytes += q->ev[i].len;
		if (q->id_off[i] != SIZE_MAX)
			q->ev[i].info.id = (const char *)q->compact.data + q->id_off[i];
	}
	*ret = q;
	return 0;
}

/*
 * Queues the request's events as one job. 0: queued, done(q, arg) will
 * run once on an ingest thread when they are durable (or the log refused
 * them); 1: nothing to commit (done will not run); otherwise the refusal
 * of ingest_submit (nothing queued, done will not run, q stays the
 * caller's and may be submitted again). The caller holds log_lock (read).
 */
int ingest_req_submit(struct ingest_req *q, bool wait_cp, void (*done)(struct ingest_req *q, void *arg),
		      void *arg)
{
	if (q->nev == 0)
		return 1;
	memset(&q->job, 0, sizeof(q->job));
	for (size_t i = 0; i < q->nev; i++)
		q->job.bytes += q->ev[i].len;
	q->job.ev = q->ev;
	q->job.acks = q->acks;
	q->job.n = q->nev;
	q->job.wait_checkpoint = wait_cp;
	q->job.cp_note = &q->cp_note;
	q->job.t_received = q->t0;
	q->job.done = ingest_done;
	q->job.arg = q;
	q->done = done;
	q->done_arg = arg;
	q->settled = false;
	return ingest_submit(q->s->ingest, &q->job);
}

/*
 * HTTP: the body's framing is checked whole first (400/413 before any
 * event is processed), then the core; answered when durable
 * (ingest_finish).
 */
static void ingest_body(struct ctx *c, const uint8_t *body, size_t blen, enum body_kind kind,
			bool wait_cp, struct buf *mapped)
{
	struct server *s = c->s;
	struct hreq *r = c->r;
	struct ingest_req *q = NULL;
	struct body_error berr;
	char err[ERR_MAX];

	pthread_rwlock_rdlock(&s->cfg_lock);
	size_t max_events = s->cfg.max_batch_events;
	unsigned lix = hreq_listener(r);
	const struct ev_context *lctx = lix < s->cfg.nlisteners ? &s->cfg.listeners[lix].context : NULL;
	pthread_rwlock_unlock(&s->cfg_lock);
	long count = body_count(body, blen, kind, max_events, &berr);
	if (count < 0) {
		body_error_format(&berr, err, sizeof(err));
		/* ST_ELIMIT is either max_events or the framing depth; only the
		 * first is the request's size (413), the second is the event's. */
		bool too_many = count == ST_ELIMIT && body_count(body, blen, kind, 0, NULL) >= 0;
		reply_error(s, r, too_many ? 413 : 400,
			    too_many ? "too_many_events" : count == ST_ELIMIT ? "limit" : "malformed_body",
			    err, 0);
		return;
	}
	if (count == 0) {
		reply_error(s, r, 400, "malformed_body", "the body holds no event", 0);
		return;
	}
	size_t n = (size_t)count;
	struct ingest_origin o = {
		.tok = c->tok, .listener = lctx, .request_id = hreq_header(r, "X-Request-Id"),
		.traceparent = hreq_header(r, "traceparent"), .peer = hreq_peer(r),
	};
	int br = ingest_req_build(s, &o, body, blen, kind, n, mapped, &q, err, sizeof(err));
	if (br == -ENOMEM) {
		reply_error(s, r, 503, "unavailable", "out of memory", retry_after(s));
		return;
	}
	if (br < 0) {
		reply_error(s, r, 400, "bad_header", err, 0);
		return;
	}
	q->r = r;
	size_t denied = 0;
	for (size_t i = 0; i < n; i++)
		denied += q->items[i].kind == RES_ERR && q->items[i].reason == REJ_TENANT;
	if (denied) {
		char why[128];
		snprintf(why, sizeof(why), "%zu of %zu events name a tenant outside this token's scope",
			 denied, n);
		c->resource_type = "tenant";
		stat_add(&s->st.denials, 1);
		audit_denial(c, q->nev ? 207 : 403, why);
	}
	if (q->nev == 0) {
		ingest_finish(r, q);
		return;
	}
	hreq_hold(r);
	int sr = ingest_req_submit(q, wait_cp, http_done, NULL);
	if (sr == 0)
		return;
	/* Refused whole: nothing was queued. */
	enum reject_reason why = sr == -ENOSPC ? REJ_DISK : sr == ST_ESTICKY ? REJ_LOG : REJ_QUEUE;
	for (size_t i = 0; i < q->nev; i++) {
		stat_add(&s->st.events_rejected[why], 1);
		stat_add(&s->st.bytes_rejected[why], q->ev[i].len);
	}
	if (sr == ST_ELIMIT) {
		stat_add(&s->st.overloaded, 1);
		reply_error(s, r, 429, "overloaded", "the ingest queue is full; retry later",
			    retry_after(s));
	} else if (sr == -ENOSPC) {
		reply_error(s, r, 507, "insufficient_storage", "the log's disk is full; retry later",
			    retry_after(s));
	} else {
		stat_add(&s->st.overloaded, 1);
		reply_error(s, r, 503, sr == -ESHUTDOWN ? "shutting_down" : "log_failed",
			    sr == -ESHUTDOWN ? "the server is shutting down; retry later" :
			    "the log refused writes after an I/O error; an operator must restart it",
			    retry_after(s));
	}
	ingest_req_free(q);
}

/*
 * POST /v1/ingest/k8s: kube-apiserver's audit webhook backend posts an
 * audit.k8s.io/v1 EventList (docs/K8S.md). Each Event is mapped to an
 * event (ingest/k8s.c) and the lot goes through ingest_body like an
 * NDJSON request: policy (a Secret's data never stored), schemas, one
 * durable group, then the answer. The apiserver retries every non-2xx
 * with backoff, so: 2xx only once durable; 429 when the queue is full
 * (before memory grows); a retry is a duplicate by id, never a copy; an
 * event refused on its own (e.g. by policy) is named in a 207, not a
 * reason to refuse its batch.
 */
static void handle_k8s(struct ctx *c)
{
	static const char *const none[] = { NULL };
	struct server *s = c->s;
	const uint8_t *body;
	size_t blen;
	struct k8s_error ke;
	char err[ERR_MAX];
	const char *ct = hreq_header(c->r, "Content-Type");

	if (!check_query(c, none))
		return;
	if (!ct || strncasecmp(ct, "application/json", 16) || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
		reply_error(s, c->r, 415, "unsupported_media_type",
			    "expected Content-Type: application/json (an audit.k8s.io/v1 EventList)", 0);
		return;
	}
	hreq_body(c->r, &body, &blen);
	struct buf mapped = BUF_INIT(4 * blen + (1u << 20));
	long n = k8s_map(body, blen, log_limits(s->log), &mapped, &ke);
	if (n < 0) {
		snprintf(err, sizeof(err), "byte %zu: %s", ke.offset, ke.msg);
		reply_error(s, c->r, n == ST_ELIMIT ? 413 : 400, n == ST_ELIMIT ? "limit" : "malformed_body", err, 0);
	} else if (n == 0) {
		static const char empty[] = "{\"results\":[],\"accepted\":0}\n";
		reply(s, c->r, 200, "application/json", NULL, 0, empty, sizeof(empty) - 1);
	} else {
		ingest_body(c, mapped.data, mapped.len, BODY_NDJSON, false, &mapped);
	}
	buf_release(&mapped);
}

/* ---- the tlog-tiles read API -------------------------------------------- */

static void handle_checkpoint(struct ctx *c)
{
	struct buf b = BUF_INIT(NOTE_MAX_SIZE);
	static const struct http_hdr h[] = { { "Cache-Control", "no-cache" } };

	if (log_read_checkpoint(c->s->log, 0, &b) < 0)
		reply_error(c->s, c->r, 500, "internal", "no checkpoint could be read", 0);
	else
		reply(c->s, c->r, 200, "text/plain; charset=utf-8", h, 1, b.data, b.len);
	buf_release(&b);
}

static void handle_tile(struct ctx *c, const char *path)
{
	static const struct http_hdr h[] = {
		{ "Cache-Control", "public, max-age=31536000, immutable" },
	};
	struct tile_ref t;
	struct buf b = BUF_INIT((size_t)256 * 65537 + 64);

	if (!tile_path_parse(path + 1, strlen(path + 1), &t)) {
		reply_error(c->s, c->r, 404, "not_found", "not a tlog-tiles path", 0);
		return;
	}
	if (t.level < 0) {
		/* Entry bundles hold every tenant's data. */
		c->action = "sealtrail.tiles.entries.read";
		c->resource_type = "tile";
		snprintf(c->resource_id, sizeof(c->resource_id), "%s", path);
		if (!token_allows(c->tok, PERM_READ_ENTRIES)) {
			deny(c, "entry bundles hold every tenant's events: an auditor token scoped to all tenants is needed");
			return;
		}
	}
	int r = log_read_tile(c->s->log, &t, &b);
	if (r == ST_ERANGE)
		reply_error(c->s, c->r, 404, "not_found", "the tree does not hold that tile (yet)", 0);
	else if (r < 0)
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
	else if (t.level < 0)
		reply_audited(c, 200, "application/octet-stream", h, 1, b.data, b.len);
	else
		reply(c->s, c->r, 200, "application/octet-stream", h, 1, b.data, b.len);
	buf_release(&b);
}

/* ---- /v1 reads ------------------------------------------------------------ */

static void handle_checkpoints(struct ctx *c)
{
	static const char *const allowed[] = { "after", "limit", "size", NULL };
	struct buf b = BUF_INIT(RESPONSE_MAX), note = BUF_INIT(NOTE_MAX_SIZE);
	uint64_t after = 0, limit = PAGE_DEFAULT, size = 0;
	bool has_after = false, has_size = false;

	c->action = "sealtrail.checkpoints.read";
	c->resource_type = "checkpoint";
	if (!check_query(c, allowed) || !get_u64(c, "after", 0, UINT64_MAX - 1, &after, &has_after) ||
	    !get_u64(c, "limit", 1, LIMIT_MAX, &limit, NULL) ||
	    !get_u64(c, "size", 0, UINT64_MAX, &size, &has_size))
		goto out;
	if (has_size) {
		int r = log_read_checkpoint(c->s->log, size, &note);
		if (r == ST_ENOTFOUND) {
			reply_error(c->s, c->r, 404, "not_found", "no checkpoint has that size", 0);
			goto out;
		}
		buf_printf(&b, "{\"size\":%llu,\"note\":", (unsigned long long)size);
		json_put_str(&b, (const char *)note.data, note.len);
		buf_puts(&b, "}\n");
		reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
		goto out;
	}
	uint64_t total = log_checkpoint_count(c->s->log);
	uint64_t i = has_after ? after + 1 : 0, end = i + limit;
	if (end > total)
		end = total;
	buf_printf(&b, "{\"total\":%llu,\"checkpoints\":[", (unsigned long long)total);
	for (uint64_t k = i; k < end; k++) {
		uint64_t sz = 0;
		buf_reset(&note);
		if (log_read_checkpoint_at(c->s->log, k, &note) < 0 ||
		    log_note_size(note.data, note.len, &sz) < 0) {
			reply_error(c->s, c->r, 500, "internal", "the checkpoint history could not be read", 0);
			goto out;
		}
		buf_printf(&b, "%s{\"index\":%llu,\"size\":%llu,\"note\":", k > i ? "," : "",
			   (unsigned long long)k, (unsigned long long)sz);
		json_put_str(&b, (const char *)note.data, note.len);
		buf_putc(&b, '}');
	}
	buf_puts(&b, "]");
	if (end < total)
		buf_printf(&b, ",\"next\":\"after=%llu\"", (unsigned long long)(end - 1));
	if (buf_puts(&b, "}\n") < 0) {
		reply_error(c->s, c->r, 500, "internal", "the page did not fit its buffer", 0);
		goto out;
	}
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	buf_release(&b);
	buf_release(&note);
}

/* The key id of a note's first signature ("— name base64(id||sig)"), or
 * 0 when it has none (our notes always have one). */
static uint32_t note_signer(const uint8_t *note, size_t n)
{
	const uint8_t *sep = memmem(note, n, "\n\n", 2);
	uint8_t raw[4 + 64 + 8];

	if (!sep || (size_t)(note + n - sep) < 6 || memcmp(sep + 2, "\xe2\x80\x94 ", 4))
		return 0;
	const uint8_t *line = sep + 6, *end = memchr(line, '\n', (size_t)(note + n - line));
	const uint8_t *sp = end ? memrchr(line, ' ', (size_t)(end - line)) : NULL;
	if (!sp || base64_decode((const char *)sp + 1, (size_t)(end - sp - 1), raw, sizeof(raw)) < 4)
		return 0;
	return (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
}

/* The position in ids[] of checkpoint i's signer, or -1. */
static long signer_order(struct log *l, uint64_t i, const uint32_t *ids, size_t nids,
			 uint64_t *ret_size)
{
	struct buf note = BUF_INIT(NOTE_MAX_SIZE);
	long k = -1;

	if (log_read_checkpoint_at(l, i, &note) == 0) {
		uint32_t id = note_signer(note.data, note.len);
		for (size_t j = 0; j < nids; j++)
			if (ids[j] == id)
				k = (long)j;
		if (log_note_size(note.data, note.len, ret_size) < 0)
			*ret_size = 0;
	}
	buf_release(&note);
	return k;
}

/* Every verifier key, oldest first, with the checkpoints it signed: keys
 * sign contiguous runs of the history (rotation only moves forward), so
 * each run's start is found by a binary search over the history. */
static void handle_keys(struct ctx *c)
{
	static const char *const allowed[] = { NULL };
	struct buf keys = BUF_INIT(1 << 20), b = BUF_INIT(2 << 20);
	uint32_t ids[256];
	size_t off[256], len[256], nkeys = 0;

	c->action = "sealtrail.keys.read";
	c->resource_type = "key";
	if (!check_query(c, allowed))
		goto out;
	if (log_public_keys(c->s->dir, &keys) < 0) {
		reply_error(c->s, c->r, 500, "internal", "the public keys could not be read", 0);
		goto out;
	}
	for (size_t i = 0; i < keys.len && nkeys < ARRAY_SIZE(ids);) {
		const uint8_t *nl = memchr(keys.data + i, '\n', keys.len - i);
		size_t n = nl ? (size_t)(nl - keys.data) - i : keys.len - i;
		struct note_key k;
		if (n && note_vkey_parse((const char *)keys.data + i, n, &k) == 0) {
			ids[nkeys] = k.id;
			off[nkeys] = i;
			len[nkeys++] = n;
		}
		i += n + 1;
	}
	uint64_t count = log_checkpoint_count(c->s->log);
	buf_printf(&b, "{\"origin\":");
	json_put_str(&b, log_origin(c->s->log), strlen(log_origin(c->s->log)));
	buf_printf(&b, ",\"checkpoints\":%llu,\"keys\":[", (unsigned long long)count);
	uint64_t from = 0;
	for (size_t k = 0; k < nkeys; k++) {
		/* First index at or after `from` whose signer is a later key. */
		uint64_t lo = from, hi = count, size = 0, from_size = 0, last_size = 0;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (signer_order(c->s->log, mid, ids, nkeys, &size) > (long)k)
				hi = mid;
			else
				lo = mid + 1;
		}
		bool signed_any = lo > from && signer_order(c->s->log, from, ids, nkeys, &from_size) == (long)k;
		if (signed_any)
			signer_order(c->s->log, lo - 1, ids, nkeys, &last_size);
		buf_printf(&b, "%s{\"vkey\":", k ? "," : "");
		json_put_str(&b, (const char *)keys.data + off[k], len[k]);
		buf_printf(&b, ",\"key_id\":\"%08x\",\"status\":\"%s\"", ids[k],
			   k + 1 == nkeys ? "active" : "retired");
		if (signed_any)
			buf_printf(&b, ",\"valid_from\":{\"checkpoint\":%llu,\"size\":%llu},"
				   "\"valid_until\":{\"checkpoint\":%llu,\"size\":%llu}",
				   (unsigned long long)from, (unsigned long long)from_size,
				   (unsigned long long)(lo - 1), (unsigned long long)last_size);
		buf_putc(&b, '}');
		if (signed_any)
			from = lo;
	}
	buf_puts(&b, "]}\n");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	buf_release(&keys);
	buf_release(&b);
}

/* Reads entry seq and its tenant; 404/500 answered on failure. */
static bool read_entry(struct ctx *c, uint64_t seq, struct buf *e, char *tn, size_t tcap)
{
	struct stored_info si;
	struct event_error perr;

	if (seq >= log_size(c->s->log)) {
		reply_error(c->s, c->r, 404, "not_found", "no entry has that seq", 0);
		return false;
	}
	buf_reset(e);
	if (log_read_entry(c->s->log, seq, e) < 0 ||
	    event_parse_stored(e->data, e->len, log_limits(c->s->log), &si, &perr) < 0) {
		reply_error(c->s, c->r, 500, "internal", "the entry could not be read", 0);
		return false;
	}
	snprintf(tn, tcap, "%.*s", (int)si.tenant_len, si.tenant);
	return true;
}

static void handle_proof_inclusion(struct ctx *c)
{
	static const char *const allowed[] = { "seq", "size", NULL };
	struct buf b = BUF_INIT(4 * NOTE_MAX_SIZE), e = BUF_INIT(1 << 17);
	uint64_t seq = 0, size = 0, cps = 0;
	bool has_seq = false;
	char tn[TENANT_NAME_MAX + 1];

	c->action = "sealtrail.proof.inclusion";
	c->resource_type = "event";
	if (!check_query(c, allowed) || !get_u64(c, "seq", 0, UINT64_MAX - 1, &seq, &has_seq) ||
	    !get_u64(c, "size", 1, UINT64_MAX, &size, NULL))
		goto out;
	if (!has_seq) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter seq is required", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%llu", (unsigned long long)seq);
	if (!read_entry(c, seq, &e, tn, sizeof(tn)) || !tenant_ok(c, tn))
		goto out;
	int r = log_proof_inclusion(c->s->log, seq, size, &b, &cps);
	if (r == ST_ENOTFOUND) {
		reply_error(c->s, c->r, 404, "not_found", "no checkpoint has that size", 0);
	} else if (r == ST_ERANGE) {
		ingest_kick_checkpoint(c->s->ingest);
		reply_error(c->s, c->r, 409, "not_in_checkpoint",
			    "the entry is not covered by that checkpoint yet; retry after the next one", 1);
	} else if (r < 0) {
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
	} else {
		reply_audited(c, 200, "text/plain; charset=utf-8", NULL, 0, b.data, b.len);
	}
out:
	buf_release(&b);
	buf_release(&e);
}

static void handle_proof_consistency(struct ctx *c)
{
	static const char *const allowed[] = { "old", "new", NULL };
	struct buf p = BUF_INIT(PROOF_MAX_HASHES * 48), b = BUF_INIT(PROOF_MAX_HASHES * 64);
	uint64_t m = 0, n = 0;
	bool hm = false, hn = false;

	c->action = "sealtrail.proof.consistency";
	c->resource_type = "log";
	if (!check_query(c, allowed) || !get_u64(c, "old", 1, UINT64_MAX, &m, &hm) ||
	    !get_u64(c, "new", 1, UINT64_MAX, &n, &hn))
		goto out;
	if (!hm || !hn) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameters old and new are required", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%llu..%llu",
		 (unsigned long long)m, (unsigned long long)n);
	int r = log_proof_consistency(c->s->log, m, n, &p);
	if (r == ST_ERANGE) {
		char msg[160];
		snprintf(msg, sizeof(msg), "need 0 < old <= new <= %llu (the tree size)",
			 (unsigned long long)log_size(c->s->log));
		reply_error(c->s, c->r, 400, "bad_parameter", msg, 0);
		goto out;
	}
	if (r < 0) {
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
		goto out;
	}
	buf_printf(&b, "{\"old\":%llu,\"new\":%llu,\"proof\":[", (unsigned long long)m,
		   (unsigned long long)n);
	for (size_t i = 0, k = 0; i < p.len; k++) {
		const uint8_t *nl = memchr(p.data + i, '\n', p.len - i);
		size_t len = (size_t)(nl - p.data) - i;
		buf_printf(&b, "%s\"%.*s\"", k ? "," : "", (int)len, (const char *)p.data + i);
		i += len + 1;
	}
	buf_puts(&b, "]}\n");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	buf_release(&p);
	buf_release(&b);
}

/* Appends {"seq":..,"leaf_hash":..,"entry":<entry>[,"proof":..]} for one
 * entry whose bytes are e. */
static void put_event(struct ctx *c, struct buf *b, uint64_t seq, const struct buf *e, bool proof)
{
	uint8_t leaf[HASH_SIZE];
	char l64[BASE64_LEN(HASH_SIZE) + 1];

	hash_leaf(e->data, e->len, leaf);
	base64_encode(leaf, HASH_SIZE, l64);
	buf_printf(b, "{\"seq\":%llu,\"leaf_hash\":\"%s\",\"entry\":", (unsigned long long)seq, l64);
	buf_append(b, e->data, e->len);
	if (proof) {
		struct buf p = BUF_INIT(4 * NOTE_MAX_SIZE);
		int r = log_proof_inclusion(c->s->log, seq, 0, &p, NULL);
		if (r == 0) {
			buf_puts(b, ",\"proof\":");
			json_put_str(b, (const char *)p.data, p.len);
		} else {
			ingest_kick_checkpoint(c->s->ingest);
			buf_puts(b, ",\"proof\":null,\"proof_pending\":\"not yet in a checkpoint; retry after the next one\"");
		}
		buf_release(&p);
	}
	buf_putc(b, '}');
}

/* Answers one event (and its proof), audited. */
static void reply_event(struct ctx *c, uint64_t seq, const struct buf *e, bool proof)
{
	struct buf b = BUF_INIT(4 * NOTE_MAX_SIZE + (1 << 18));

	put_event(c, &b, seq, e, proof);
	buf_puts(&b, "\n");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
	buf_release(&b);
}

static bool want_proof(struct ctx *c, bool *ret)
{
	uint64_t v = 0;
	bool present = false;
	if (!get_u64(c, "proof", 0, 1, &v, &present))
		return false;
	*ret = present && v == 1;
	if (*ret && !role_allows(c->tok->role, PERM_PROOF)) {
		deny(c, "proofs need the auditor or legal role");
		return false;
	}
	return true;
}


static void handle_event_seq(struct ctx *c, const struct path_match *m)
{
	static const char *const allowed[] = { "proof", NULL };
	struct buf e = BUF_INIT(1 << 17);
	char tn[TENANT_NAME_MAX + 1];
	uint64_t seq;
	bool proof = false;

	c->action = "sealtrail.events.read";
	c->resource_type = "event";
	snprintf(c->resource_id, sizeof(c->resource_id), "%.*s", (int)m->len[0], m->seg[0]);
	if (!check_query(c, allowed) || !want_proof(c, &proof))
		goto out;
	if (!st_parse_u64(m->seg[0], m->len[0], &seq)) {
		reply_error(c->s, c->r, 400, "bad_parameter", "expected /v1/events/{seq} with a decimal seq", 0);
		goto out;
	}
	if (!read_entry(c, seq, &e, tn, sizeof(tn)) || !tenant_ok(c, tn))
		goto out;
	reply_event(c, seq, &e, proof);
out:
	buf_release(&e);
}

static void handle_event_id(struct ctx *c, const struct path_match *m)
{
	static const char *const allowed[] = { "proof", "tenant", NULL };
	struct buf e = BUF_INIT(1 << 17);
	char tn[TENANT_NAME_MAX + 1], etn[TENANT_NAME_MAX + 1], id[EVENT_ID_MAX + 1];
	uint64_t seq;
	bool proof = false;
	int n;

	c->action = "sealtrail.events.read";
	c->resource_type = "event";
	if (!check_query(c, allowed) || !want_proof(c, &proof))
		goto out;
	if ((n = path_decode_value(m->seg[0], m->len[0], id, sizeof(id))) <= 0) {
		reply_error(c->s, c->r, 400, "bad_parameter",
			    "expected /v1/events/by-id/{id}: a percent-encoded id of 1..128 bytes", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%s", id);
	if (!read_tenant(c, tn, sizeof(tn)))
		goto out;
	int r = log_find_id(c->s->log, tn, strlen(tn), id, (size_t)n, &seq);
	if (r == ST_ENOTFOUND) {
		if (audit_ok(c, 404)) {
			c->action = NULL;
			reply_error(c->s, c->r, 404, "not_found", "no event of this tenant has that id", 0);
		}
		goto out;
	}
	if (r < 0) {
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
		goto out;
	}
	if (!read_entry(c, seq, &e, etn, sizeof(etn)))
		goto out;
	if (strcmp(tn, etn)) {   /* the index is derived: never trust it across tenants */
		reply_error(c->s, c->r, 404, "not_found", "no event of this tenant has that id", 0);
		goto out;
	}
	reply_event(c, seq, &e, proof);
out:
	buf_release(&e);
}

/* ---- search, stats, timeline (the index) ---------------------------------- */

/* The token's tenant scope as the index takes it; with ?tenant= narrowed
 * to that one tenant (which must be in scope: 403 otherwise). */
struct scope {
	struct index_scope sc;
	const char *names[TOKEN_TENANTS_MAX];
	char one[TENANT_NAME_MAX + 1];
};

static bool read_scope(struct ctx *c, struct scope *out)
{
	int n = query_get(hreq_query(c->r), "tenant", out->one, sizeof(out->one));
	memset(&out->sc, 0, sizeof(out->sc));
	if (n == ST_ENOTFOUND) {
		if (c->tok->all_tenants) {
			out->sc.all = true;
			return true;
		}
		for (size_t i = 0; i < c->tok->ntenants; i++)
			out->names[i] = c->tok->tenants[i];
		out->sc.n = c->tok->ntenants;
		out->sc.tenants = out->names;
		if (c->tok->ntenants == 1)
			c->tenant = c->tok->tenants[0];
		return true;
	}
	if (n <= 0) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter tenant: expected a tenant name", 0);
		return false;
	}
	if (!tenant_ok(c, out->one))
		return false;
	out->names[0] = out->one;
	out->sc.n = 1;
	out->sc.tenants = out->names;
	return true;
}

/* Parses ?q= (absent: everything); on error answers 400 naming the column. */
static bool read_query(struct ctx *c, char *qtext, size_t cap, size_t *ret_len, struct query **ret)
{
	struct query_error qe;
	int n = query_get(hreq_query(c->r), "q", qtext, cap);
	if (n == ST_ENOTFOUND)
		n = 0;
	if (n < 0) {
		reply_error(c->s, c->r, 400, "bad_query", "parameter q: too long or badly encoded", 0);
		return false;
	}
	qtext[n] = 0;
	*ret_len = (size_t)n;
	snprintf(c->resource_id, sizeof(c->resource_id), "%.159s", qtext);
	int r = query_parse(qtext, (size_t)n, now_realtime_ns(), ret, &qe);
	if (r == -ENOMEM) {
		reply_error(c->s, c->r, 503, "unavailable", "out of memory", retry_after(c->s));
		return false;
	}
	if (r < 0) {
		reply_error(c->s, c->r, 400, "bad_query", qe.msg, 0);
		return false;
	}
	return true;
}

static void index_error(struct ctx *c, int r)
{
	if (r == ST_ELIMIT)
		reply_error(c->s, c->r, 422, "query_too_broad",
			    "this query needs more than 2,000,000 events checked one by one "
			    "(a phrase or a field the index does not hold); narrow it with a field or a time range", 0);
	else if (r == -ENOMEM)
		reply_error(c->s, c->r, 503, "unavailable", "out of memory", retry_after(c->s));
	else
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
}

/* Reads hit seq and checks, on the stored data itself, that its tenant is
 * in scope (invariant 2); the index is derived data and not trusted for
 * that. */
static bool read_hit(struct ctx *c, const struct index_scope *sc, uint64_t seq, struct buf *e)
{
	struct stored_info si;
	struct event_error perr;
	buf_reset(e);
	if (log_read_entry(c->s->log, seq, e) < 0 ||
	    event_parse_stored(e->data, e->len, log_limits(c->s->log), &si, &perr) < 0) {
		reply_error(c->s, c->r, 500, "internal", "an entry could not be read", 0);
		return false;
	}
	bool in = sc->all;
	for (size_t i = 0; !in && i < sc->n; i++)
		in = strlen(sc->tenants[i]) == si.tenant_len &&
		     memcmp(sc->tenants[i], si.tenant, si.tenant_len) == 0;
	if (!in)
		reply_error(c->s, c->r, 500, "internal", "the index disagrees with the log", 0);
	return in;
}

static void handle_search(struct ctx *c)
{
	static const char *const allowed[] = { "q", "sort", "limit", "cursor", "after_seq", "proofs",
					       "tenant", "fresh", NULL };
	struct buf e = BUF_INIT(1 << 17), b = BUF_INIT(RESPONSE_MAX + (1 << 18));
	char qtext[QUERY_MAX_LEN + 1], sort[8], cur[INDEX_CURSOR_MAX + 2], err[ERR_MAX];
	struct query *q = NULL;
	struct scope sc;
	struct index_hit *hits = NULL;
	size_t qlen;
	uint64_t limit = PAGE_DEFAULT, proofs = 0;
	bool has_proofs = false;

	c->action = "sealtrail.events.search";
	c->resource_type = "query";
	if (!check_query(c, allowed) || !read_scope(c, &sc) ||
	    !get_u64(c, "limit", 1, LIMIT_MAX, &limit, NULL) ||
	    !get_u64(c, "proofs", 0, 1, &proofs, &has_proofs) ||
	    !read_query(c, qtext, sizeof(qtext), &qlen, &q))
		goto out;
	if (proofs && !role_allows(c->tok->role, PERM_PROOF)) {
		deny(c, "proofs need the auditor or legal role");
		goto out;
	}
	struct index_search s = { .q = q, .qtext = qtext, .qtext_len = qlen, .scope = &sc.sc,
				  .sort = IX_SORT_TIME_DESC, .limit = limit };
	uint64_t after = 0, fresh = 0;
	bool has_after = false;
	if (!get_u64(c, "after_seq", 0, UINT64_MAX - 1, &after, &has_after) ||
	    !get_u64(c, "fresh", 0, 1, &fresh, NULL))
		goto out;
	if (has_after)
		s.sort = IX_SORT_SEQ_ASC;   /* the default with after_seq */
	int n = query_get(hreq_query(c->r), "sort", sort, sizeof(sort));
	if (n >= 0 && !index_sort_parse(sort, (size_t)n, &s.sort)) {
		reply_error(c->s, c->r, 400, "bad_parameter",
			    "parameter sort: expected one of -time, time, -seq, seq", 0);
		goto out;
	}
	if (n < 0 && n != ST_ENOTFOUND) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter sort: expected one of -time, time, -seq, seq", 0);
		goto out;
	}
	n = query_get(hreq_query(c->r), "cursor", cur, sizeof(cur));
	if (n >= 0 && index_cursor_decode(c->s->index, cur, (size_t)n, qtext, qlen, &sc.sc, s.sort,
					  &s.cursor, err, sizeof(err)) < 0) {
		reply_error(c->s, c->r, 400, "bad_cursor", err, 0);
		goto out;
	}
	if (n < 0 && n != ST_ENOTFOUND) {
		reply_error(c->s, c->r, 400, "bad_cursor", "parameter cursor: too long or badly encoded", 0);
		goto out;
	}
	if (fresh && !index_wait(c->s->index, log_size(c->s->log), 5000000000LL)) {
		reply_error(c->s, c->r, 503, "index_lagging",
			    "fresh=1: the index did not catch up with the log within 5 s; retry later",
			    retry_after(c->s));
		goto out;
	}
	if (has_after) {
		/* Where `tail -f` starts following: only with sort=seq. */
		if (s.sort != IX_SORT_SEQ_ASC || s.cursor.started) {
			reply_error(c->s, c->r, 400, "bad_parameter",
				    "parameter after_seq: only with sort=seq and without cursor", 0);
			goto out;
		}
		s.cursor = (struct index_cursor){ .sort = IX_SORT_SEQ_ASC, .started = true, .last_seq = after };
	}
	uint64_t cp_size = 0;
	if (proofs) {
		/* Every hit must be provable against one checkpoint: the search
		 * is pinned to the latest checkpoint's size. */
		struct buf note = BUF_INIT(NOTE_MAX_SIZE);
		if (log_read_checkpoint(c->s->log, 0, &note) == 0)
			log_note_size(note.data, note.len, &cp_size);
		buf_release(&note);
		if (s.cursor.started && s.cursor.upto)
			cp_size = s.cursor.upto;
		s.upto = cp_size;   /* 0: no checkpoint yet, nothing is provable */
	}
	if (!(hits = calloc(limit, sizeof(*hits)))) {
		index_error(c, -ENOMEM);
		goto out;
	}
	s.hits = hits;
	int r = 0;
	if (!proofs || cp_size)
		r = index_search(c->s->index, &s);
	if (r < 0) {
		index_error(c, r);
		goto out;
	}
	buf_puts(&b, "{\"events\":[");
	for (size_t i = 0; i < s.nhits; i++) {
		if (!read_hit(c, &sc.sc, hits[i].seq, &e))
			goto out;
		if (i)
			buf_putc(&b, ',');
		uint8_t leaf[HASH_SIZE];
		char l64[BASE64_LEN(HASH_SIZE) + 1];
		hash_leaf(e.data, e.len, leaf);
		base64_encode(leaf, HASH_SIZE, l64);
		buf_printf(&b, "{\"seq\":%llu,\"leaf_hash\":\"%s\",\"entry\":",
			   (unsigned long long)hits[i].seq, l64);
		buf_append(&b, e.data, e.len);
		if (proofs) {
			struct buf p = BUF_INIT(4 * NOTE_MAX_SIZE);
			if (log_proof_inclusion(c->s->log, hits[i].seq, cp_size, &p, NULL) == 0) {
				buf_puts(&b, ",\"proof\":");
				json_put_str(&b, (const char *)p.data, p.len);
			} else {
				buf_puts(&b, ",\"proof\":null");
			}
			buf_release(&p);
		}
		buf_putc(&b, '}');
		if (b.len > RESPONSE_MAX) {
			reply_error(c->s, c->r, 413, "response_too_large",
				    "the page is over 16 MiB; ask for a smaller limit", 0);
			goto out;
		}
	}
	buf_puts(&b, "],\"next_cursor\":");
	if (s.more) {
		char next[INDEX_CURSOR_MAX + 1];
		index_cursor_encode(c->s->index, &s.next, qtext, qlen, &sc.sc, next);
		buf_printf(&b, "\"%s\"", next);
	} else if (s.sort == IX_SORT_SEQ_ASC && !proofs) {
		/* Ascending seq: the cursor also resumes past the last event
		 * once more arrive (what `tail -f` follows). */
		char next[INDEX_CURSOR_MAX + 1];
		index_cursor_encode(c->s->index, &s.next, qtext, qlen, &sc.sc, next);
		buf_printf(&b, "\"%s\"", next);
	} else {
		buf_puts(&b, "null");
	}
	struct index_status st;
	index_status(c->s->index, &st);
	buf_printf(&b, ",\"more\":%s,\"indexed\":%llu,\"tree_size\":%llu,\"scanned\":%llu",
		   s.more ? "true" : "false", (unsigned long long)st.indexed,
		   (unsigned long long)st.log_size, (unsigned long long)s.scanned);
	if (proofs)
		buf_printf(&b, ",\"checkpoint_size\":%llu", (unsigned long long)cp_size);
	if (s.more && s.sort == IX_SORT_SEQ_ASC)   /* paging by after_seq, as before cursors */
		buf_printf(&b, ",\"next_after_seq\":%llu", (unsigned long long)s.next.last_seq);
	buf_puts(&b, "}\n");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	free(hits);
	query_free(q);
	buf_release(&e);
	buf_release(&b);
}

/* "30s", "5m", "1h", "1d", "1w" -> ns; 0 when malformed. */
static int64_t parse_interval(const char *s)
{
	uint64_t v = 0;
	size_t n = strlen(s);
	if (n < 2 || !st_parse_u64(s, n - 1, &v) || v == 0 || v > 1000000)
		return 0;
	switch (s[n - 1]) {
	case 's': return (int64_t)v * 1000000000LL;
	case 'm': return (int64_t)v * 60000000000LL;
	case 'h': return (int64_t)v * 3600000000000LL;
	case 'd': return (int64_t)v * 86400000000000LL;
	case 'w': return (int64_t)v * 604800000000000LL;
	default: return 0;
	}
}

static void put_time(struct buf *b, int64_t ns)
{
	char ts[RFC3339_US_LEN + 1];
	rfc3339_format_us(ns, ts);
	buf_printf(b, "\"%s\"", ts);
}

static void handle_stats(struct ctx *c)
{
	static const char *const allowed[] = { "q", "by", "top", "interval", "on", "tenant", NULL };
	struct buf b = BUF_INIT(RESPONSE_MAX);
	char qtext[QUERY_MAX_LEN + 1], by[256], iv[16], on[16];
	struct query *q = NULL;
	struct scope sc;
	size_t qlen;
	uint64_t top = 10;
	struct index_stats st = {0};

	c->action = "sealtrail.events.stats";
	c->resource_type = "query";
	if (!check_query(c, allowed) || !read_scope(c, &sc) ||
	    !get_u64(c, "top", 1, INDEX_TOP_MAX, &top, NULL) ||
	    !read_query(c, qtext, sizeof(qtext), &qlen, &q))
		goto out;
	st.q = q;
	st.scope = &sc.sc;
	st.top = top;
	int n = query_get(hreq_query(c->r), "by", by, sizeof(by));
	if (n > 0) {
		st.by = by;
	} else if (n != ST_ENOTFOUND) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter by: expected a dotted field path", 0);
		goto out;
	}
	n = query_get(hreq_query(c->r), "interval", iv, sizeof(iv));
	if (n != ST_ENOTFOUND && (n <= 0 || !(st.interval_ns = parse_interval(iv)))) {
		reply_error(c->s, c->r, 400, "bad_parameter",
			    "parameter interval: expected a number and a unit s, m, h, d or w (e.g. 5m)", 0);
		goto out;
	}
	n = query_get(hreq_query(c->r), "on", on, sizeof(on));
	if (n != ST_ENOTFOUND) {
		if (n > 0 && !strcmp(on, "received")) {
			st.by_received = true;
		} else if (!(n > 0 && !strcmp(on, "time"))) {
			reply_error(c->s, c->r, 400, "bad_parameter", "parameter on: expected time or received", 0);
			goto out;
		}
	}
	if (!st.by && !st.interval_ns) {
		reply_error(c->s, c->r, 400, "bad_parameter", "expected by=FIELD, interval=DURATION, or both", 0);
		goto out;
	}
	int r = index_stats(c->s->index, &st);
	if (r == ST_EINVAL) {
		reply_error(c->s, c->r, 400, "bad_parameter",
			    "parameter by: time, received_at, seq, tseq and tprev cannot be grouped by; use interval", 0);
		goto out;
	}
	if (r == ST_ELIMIT && st.interval_ns) {
		reply_error(c->s, c->r, 422, "too_many_buckets",
			    "the interval is too small for the time span (at most 10,000 buckets)", 0);
		goto out;
	}
	if (r < 0) {
		index_error(c, r);
		goto out;
	}
	buf_printf(&b, "{\"total\":%llu", (unsigned long long)st.total);
	if (st.by) {
		buf_puts(&b, ",\"by\":");
		json_put_str(&b, by, strlen(by));
		buf_printf(&b, ",\"distinct\":%llu,\"other\":%llu,\"values\":[",
			   (unsigned long long)st.distinct, (unsigned long long)st.other);
		for (size_t i = 0; i < st.nvalues; i++) {
			buf_puts(&b, i ? ",{\"value\":" : "{\"value\":");
			json_put_str(&b, st.values[i].value, st.values[i].value_len);
			buf_printf(&b, ",\"count\":%llu", (unsigned long long)st.values[i].count);
			if (st.values[i].series) {
				buf_puts(&b, ",\"series\":[");
				for (size_t j = 0; j < st.values[i].nseries; j++)
					buf_printf(&b, j ? ",%llu" : "%llu", (unsigned long long)st.values[i].series[j]);
				buf_putc(&b, ']');
			}
			buf_putc(&b, '}');
		}
		buf_putc(&b, ']');
	}
	if (st.interval_ns) {
		buf_printf(&b, ",\"interval\":\"%s\",\"on\":\"%s\",\"histogram\":[", iv,
			   st.by_received ? "received" : "time");
		for (size_t i = 0; i < st.nhistogram; i++) {
			buf_puts(&b, i ? ",{\"start\":" : "{\"start\":");
			put_time(&b, st.histogram[i].start_ns);
			buf_printf(&b, ",\"count\":%llu}", (unsigned long long)st.histogram[i].count);
		}
		buf_putc(&b, ']');
	}
	buf_puts(&b, "}\n");
	if (b.len > RESPONSE_MAX) {
		reply_error(c->s, c->r, 413, "response_too_large", "ask for fewer values or buckets", 0);
		goto out;
	}
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	index_stats_release(&st);
	query_free(q);
	buf_release(&b);
}

#define TIMELINE_MAX 10000
#define SKEW_DEFAULT_NS (5 * 60000000000LL)

static void handle_timeline(struct ctx *c)
{
	static const char *const allowed[] = { "request_id", "trace_id", "parent_id", "skew",
					       "limit", "tenant", NULL };
	static const char *const keys[] = { "request_id", "trace_id", "parent_id" };
	struct buf e = BUF_INIT(1 << 17), b = BUF_INIT(RESPONSE_MAX + (1 << 18)), qt = BUF_INIT(4200);
	char id[1025], skew[16];
	struct query *q = NULL;
	struct query_error qe;
	struct scope sc;
	struct index_hit *hits = NULL;
	const char *key = NULL;
	uint64_t limit = 1000;
	int64_t skew_ns = SKEW_DEFAULT_NS;
	int idn = 0;

	c->action = "sealtrail.events.timeline";
	c->resource_type = "request";
	if (!check_query(c, allowed) || !read_scope(c, &sc) ||
	    !get_u64(c, "limit", 1, TIMELINE_MAX, &limit, NULL))
		goto out;
	for (size_t i = 0; i < 3; i++) {
		int n = query_get(hreq_query(c->r), keys[i], id, sizeof(id));
		if (n == ST_ENOTFOUND)
			continue;
		if (key || n <= 0) {
			reply_error(c->s, c->r, 400, "bad_parameter",
				    "expected exactly one of request_id, trace_id, parent_id (1..1024 bytes)", 0);
			goto out;
		}
		key = keys[i];
		idn = n;
	}
	if (!key) {
		reply_error(c->s, c->r, 400, "bad_parameter", "expected one of request_id, trace_id, parent_id", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%.159s", id);
	int n = query_get(hreq_query(c->r), "skew", skew, sizeof(skew));
	if (n != ST_ENOTFOUND && (n <= 0 || !(skew_ns = parse_interval(skew)))) {
		reply_error(c->s, c->r, 400, "bad_parameter", "parameter skew: expected a duration such as 30s or 5m", 0);
		goto out;
	}
	index_timeline_query(key, id, (size_t)idn, &qt);
	if (query_parse((const char *)qt.data, qt.len, now_realtime_ns(), &q, &qe) < 0) {
		reply_error(c->s, c->r, 400, "bad_parameter", qe.msg, 0);
		goto out;
	}
	if (!(hits = calloc(INDEX_LIMIT_MAX, sizeof(*hits)))) {
		index_error(c, -ENOMEM);
		goto out;
	}
	struct index_search s = { .q = q, .qtext = (const char *)qt.data, .qtext_len = qt.len,
				  .scope = &sc.sc, .sort = IX_SORT_TIME_ASC, .hits = hits };
	uint64_t got = 0;
	buf_puts(&b, "{\"");
	buf_puts(&b, key);
	buf_puts(&b, "\":");
	json_put_str(&b, id, (size_t)idn);
	buf_printf(&b, ",\"skew_threshold_ms\":%lld,\"events\":[", (long long)(skew_ns / 1000000));
	bool more = true;
	while (more && got < limit) {
		s.limit = limit - got < INDEX_LIMIT_MAX ? (size_t)(limit - got) : INDEX_LIMIT_MAX;
		int r = index_search(c->s->index, &s);
		if (r < 0) {
			index_error(c, r);
			goto out;
		}
		for (size_t i = 0; i < s.nhits; i++, got++) {
			if (!read_hit(c, &sc.sc, hits[i].seq, &e))
				goto out;
			int64_t d = hits[i].received_ns - hits[i].time_ns;
			int64_t ad = d < 0 ? -d : d;
			buf_printf(&b, "%s{\"seq\":%llu,\"time\":", got ? "," : "",
				   (unsigned long long)hits[i].seq);
			put_time(&b, hits[i].time_ns);
			buf_puts(&b, ",\"received_at\":");
			put_time(&b, hits[i].received_ns);
			buf_printf(&b, ",\"skew_ms\":%lld,\"skewed\":%s,\"entry\":", (long long)(d / 1000000),
				   ad > skew_ns ? "true" : "false");
			buf_append(&b, e.data, e.len);
			buf_putc(&b, '}');
		}
		more = s.more;
		s.cursor = s.next;
		if (b.len > RESPONSE_MAX) {
			reply_error(c->s, c->r, 413, "response_too_large", "the timeline is over 16 MiB; ask for a smaller limit", 0);
			goto out;
		}
	}
	buf_printf(&b, "],\"count\":%llu,\"truncated\":%s}\n", (unsigned long long)got,
		   more ? "true" : "false");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	free(hits);
	query_free(q);
	buf_release(&qt);
	buf_release(&e);
	buf_release(&b);
}

/* ---- tokens over the API (admin) ----------------------------------------- */

static int list_one(const struct token *t, void *arg)
{
	struct buf *b = arg;
	int64_t now = now_realtime_ns();
	char ts[RFC3339_US_LEN + 1];

	if (b->len && b->data[b->len - 1] == '}')
		buf_putc(b, ',');
	buf_puts(b, "{\"id\":");
	json_put_str(b, t->id, strlen(t->id));
	buf_puts(b, ",\"name\":");
	json_put_str(b, t->name, strlen(t->name));
	buf_printf(b, ",\"role\":\"%s\",\"tenants\":", role_name(t->role));
	if (t->all_tenants) {
		buf_puts(b, "\"*\"");
	} else {
		buf_putc(b, '[');
		for (size_t i = 0; i < t->ntenants; i++) {
			if (i)
				buf_putc(b, ',');
			json_put_str(b, t->tenants[i], strlen(t->tenants[i]));
		}
		buf_putc(b, ']');
	}
	rfc3339_format_us(t->created_ns, ts);
	buf_printf(b, ",\"created\":\"%s\"", ts);
	if (t->expires_ns) {
		rfc3339_format_us(t->expires_ns, ts);
		buf_printf(b, ",\"expires\":\"%s\"", ts);
	}
	for (int k = 0, n = 0; k < CTX_COUNT; k++)
		if (t->context.v[k][0])
			buf_printf(b, "%s\"%s\":\"%s\"", n++ ? "," : ",\"context\":{", context_name(k),
				   t->context.v[k]);
	if (!context_empty(&t->context))
		buf_putc(b, '}');
	buf_printf(b, ",\"status\":\"%s\"}", t->revoked_ns ? "revoked" :
		   t->expires_ns && t->expires_ns <= now ? "expired" : "active");
	return 0;
}

static void handle_tokens(struct ctx *c, const struct path_match *m)
{
	struct buf b = BUF_INIT(64 << 20);
	char err[ERR_MAX];
	enum http_method meth = hreq_method(c->r);

	c->resource_type = "token";
	static const char *const none[] = { NULL };

	if ((meth == HTTP_GET || meth == HTTP_DELETE) && !check_query(c, none))
		goto out;
	if (meth == HTTP_GET && !m) {
		c->action = "sealtrail.tokens.list";
		buf_puts(&b, "{\"tokens\":[");
		if (token_list(c->s->dir, list_one, &b, err, sizeof(err)) < 0) {
			reply_error(c->s, c->r, 500, "internal", err, 0);
			goto out;
		}
		buf_puts(&b, "]}\n");
		reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
	} else if (meth == HTTP_DELETE && m) {
		char id[TOKEN_NAME_MAX + 1];
		c->action = "sealtrail.tokens.revoke";
		if (path_decode(m->seg[0], m->len[0], id, sizeof(id)) <= 0) {
			reply_error(c->s, c->r, 400, "bad_parameter", "expected /v1/tokens/{id or name}", 0);
			goto out;
		}
		snprintf(c->resource_id, sizeof(c->resource_id), "%s", id);
		int r = token_revoke(c->s->dir, id, err, sizeof(err));
		if (r == ST_ENOTFOUND) {
			reply_error(c->s, c->r, 404, "not_found", err, 0);
			goto out;
		}
		if (r < 0) {
			reply_error(c->s, c->r, 400, "bad_request", err, 0);
			goto out;
		}
		token_store_reload(c->s->tokens);
		buf_puts(&b, "{\"revoked\":");
		json_put_str(&b, id, strlen(id));
		buf_puts(&b, "}\n");
		reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
	} else if (meth == HTTP_POST && !m) {
		static const char *const allowed[] = { "role", "tenants", "name", "expires_in", "context", NULL };
		struct ev_context tctx = { 0 };
		char cbuf[CTX_COUNT * (CONTEXT_VALUE_MAX + 16)];
		char role[32], tenants[TOKEN_TENANTS_MAX * (TOKEN_TENANT_MAX + 1)], name[TOKEN_NAME_MAX + 1];
		char secret[TOKEN_SECRET_LEN + 1];
		const char *tl[TOKEN_TENANTS_MAX];
		struct token_spec spec = { 0 };
		struct token made;
		uint64_t exp_s = 0;

		c->action = "sealtrail.tokens.create";
		if (!check_query(c, allowed) || !get_u64(c, "expires_in", 1, 100ull * 365 * 86400, &exp_s, NULL))
			goto out;
		if (query_get(hreq_query(c->r), "role", role, sizeof(role)) <= 0 ||
		    role_parse(role, &spec.role) < 0) {
			reply_error(c->s, c->r, 400, "bad_parameter",
				    "parameter role: expected producer, reader, auditor, legal, admin or operator", 0);
			goto out;
		}
		int tn = query_get(hreq_query(c->r), "tenants", tenants, sizeof(tenants));
		if (tn > 0 && !strcmp(tenants, "*")) {
			spec.all_tenants = true;
		} else if (tn > 0) {
			char *save = NULL;
			for (char *t = strtok_r(tenants, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (spec.ntenants == TOKEN_TENANTS_MAX) {
					reply_error(c->s, c->r, 400, "bad_parameter", "parameter tenants: too many", 0);
					goto out;
				}
				tl[spec.ntenants++] = t;
			}
			spec.tenants = tl;
		} else if (spec.role == ROLE_ADMIN || spec.role == ROLE_OPERATOR) {
			spec.all_tenants = true;
		} else {
			reply_error(c->s, c->r, 400, "bad_parameter",
				    "parameter tenants is required for this role (a comma list, or *)", 0);
			goto out;
		}
		if (query_get(hreq_query(c->r), "name", name, sizeof(name)) > 0)
			spec.name = name;
		int cl = query_get(hreq_query(c->r), "context", cbuf, sizeof(cbuf));
		if (cl == ST_ELIMIT || cl == 0 ||
		    (cl > 0 && context_parse(&tctx, cbuf, ",", "parameter context", "", err, sizeof(err)) < 0)) {
			if (cl <= 0)
				snprintf(err, sizeof(err), "parameter context: expected key=value[,key=value]");
			reply_error(c->s, c->r, 400, "bad_parameter", err, 0);
			goto out;
		}
		if (cl > 0)
			spec.context = &tctx;
		if (exp_s)
			spec.expires_ns = now_realtime_ns() + (int64_t)exp_s * 1000000000;
		if (token_create(c->s->dir, &spec, secret, sizeof(secret), &made, err, sizeof(err)) < 0) {
			reply_error(c->s, c->r, 400, "bad_request", err, 0);
			goto out;
		}
		token_store_reload(c->s->tokens);
		snprintf(c->resource_id, sizeof(c->resource_id), "%s", made.id);
		buf_puts(&b, "{\"token\":");
		json_put_str(&b, secret, strlen(secret));
		st_wipe(secret, sizeof(secret));
		buf_puts(&b, ",\"shown_once\":true,\"info\":");
		list_one(&made, &b);
		buf_puts(&b, "}\n");
		static const struct http_hdr h[] = { { "Cache-Control", "no-store" } };
		reply_audited(c, 201, "application/json", h, 1, b.data, b.len);
		st_wipe(b.data, b.len);
	} else {
		reply_error(c->s, c->r, 405, "method_not_allowed", "GET, POST /v1/tokens; DELETE /v1/tokens/{id}", 0);
	}
out:
	buf_release(&b);
}

/* ---- health ------------------------------------------------------------------ */

/* ---- the quarantine (docs/QUARANTINE.md) --------------------------------------- */

/* A list's or read's filters, and its output. */
struct qlist {
	struct buf *b;
	const char *schema, *producer;   /* NULL: any */
};

/* A string member of an entry we wrote: the first occurrence is ours,
 * since tenant, producer and schema come before anything quoted. */
static bool q_member_is(const uint8_t *p, size_t n, const char *key, const char *want)
{
	char pat[REGISTRY_NAME_MAX + TOKEN_NAME_MAX + 32];
	int k = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const uint8_t *at = memmem(p, n, pat, (size_t)k);
	size_t wl = strlen(want);
	return at && (size_t)(p + n - at) > (size_t)k + wl && !memcmp(at + k, want, wl) && at[k + wl] == '"';
}

static int list_q(void *arg, const struct q_meta *m, const uint8_t *p, size_t n)
{
	struct qlist *l = arg;
	struct buf *b = l->b;
	int r;
	if ((l->schema && !q_member_is(p, n, "schema", l->schema)) ||
	    (l->producer && !q_member_is(p, n, "producer", l->producer)))
		return 1;
	if (b->len && b->data[b->len - 1] == '}' && (r = buf_putc(b, ',')) < 0)
		return r;
	/* the stored entry, with its current state (and seq) in front */
	if ((r = buf_printf(b, "{\"state\":\"%s\",", q_state_name(m->state))) < 0 ||
	    (m->state == Q_RESUBMITTED && (r = buf_printf(b, "\"seq\":%llu,", (unsigned long long)m->seq)) < 0))
		return r;
	return n > 1 ? buf_append(b, p + 1, n - 1) : buf_putc(b, '}');
}

/* The meta-audit event of a quarantine change with its outcome; false
 * (503 answered) when it cannot be queued. */
static bool audit_change(struct ctx *c, int status, const char *outcome, const char *reason)
{
	struct audit_rec a = {
		.action = c->action, .outcome = outcome, .tok = c->tok, .req = c->r,
		.status = status, .tenant = c->tenant, .resource_type = c->resource_type,
		.resource_id = c->resource_id[0] ? c->resource_id : NULL, .reason = reason,
	};
	if (audit_record(c->s, &a) == 0)
		return true;
	stat_add(&c->s->st.overloaded, 1);
	reply_error(c->s, c->r, 503, "unavailable",
		    "the request could not be recorded in the audit trail; retry later",
		    retry_after(c->s));
	return false;
}

/* An entry taken apart for a resubmit or a discard (jdoc over the
 * payload, which must outlive it). */
struct qparts {
	const char *producer, *schema, *pre, *suf;
	size_t pre_len, suf_len;
	const uint8_t *event;        /* the redacted producer event, raw */
	size_t event_len;
	const char *event_id;        /* decoded: the producer's, or the one in pre */
	size_t event_id_len;
	char sid[UUID_STR_LEN + 1];  /* a server-made id found in pre */
};

static int q_parts(struct jdoc_arena *a, const uint8_t *p, size_t n, struct qparts *ret)
{
	const struct jdoc_value *root, *v;
	struct jdoc_limits lim;
	jdoc_limits_default(&lim);
	lim.max_input = QUARANTINE_RECORD_MAX;
	memset(ret, 0, sizeof(*ret));
	if (jdoc_parse(a, (const char *)p, n, &lim, 0, &root, NULL) < 0)
		return ST_ECORRUPT;
	const struct jdoc_value *pr = jdoc_get(root, "producer", 8), *sc = jdoc_get(root, "schema", 6);
	const struct jdoc_value *ev = jdoc_get(root, "event", 5);
	if (!pr || pr->type != JDOC_STRING || !sc || sc->type != JDOC_STRING || !ev ||
	    ev->type != JDOC_OBJECT || n < 2 || ev->offset >= n - 1)
		return ST_ECORRUPT;
	ret->producer = pr->u.s;
	ret->schema = sc->u.s;
	/* "event" is the last member: its text runs to the closing brace */
	ret->event = p + ev->offset;
	ret->event_len = n - 1 - ev->offset;
	if ((v = jdoc_get(root, "server_prefix", 13)) && v->type == JDOC_STRING) {
		ret->pre = v->u.s;
		ret->pre_len = v->len;
	}
	if ((v = jdoc_get(root, "server_suffix", 13)) && v->type == JDOC_STRING) {
		ret->suf = v->u.s;
		ret->suf_len = v->len;
	}
	if ((v = jdoc_get(ev, "id", 2)) && v->type == JDOC_STRING) {
		ret->event_id = v->u.s;
		ret->event_id_len = v->len;
	} else if (ret->pre_len >= 6 + UUID_STR_LEN && !memcmp(ret->pre, "\"id\":\"", 6)) {
		memcpy(ret->sid, ret->pre + 6, UUID_STR_LEN);
		ret->event_id = ret->sid;
		ret->event_id_len = UUID_STR_LEN;
	}
	return 0;
}

/* A resubmit on its way to the log: owns everything the job points to. */
struct resub {
	struct server *s;
	struct hreq *r;
	const struct token *tok;     /* a reference */
	uint64_t qid;
	char tenant[QUARANTINE_TENANT_MAX + 1];
	char producer[TOKEN_NAME_MAX + 1];
	char ref[REGISTRY_NAME_MAX + 24];   /* the version it passed */
	char event_id[EVENT_ID_MAX + 1];
	struct buf compact;
	struct buf excused;          /* JSON array of violations excused as redacted */
	struct log_event ev;
	struct log_ack ack;
	struct ingest_job job;
};

static void resub_free(struct resub *rs)
{
	if (!rs)
		return;
	if (rs->tok)
		token_put(rs->tok);
	buf_release(&rs->compact);
	buf_release(&rs->excused);
	free(rs);
}

/* On the request's I/O thread, under log_lock: record and answer. */
static void resub_finish(struct hreq *r, void *arg)
{
	struct resub *rs = arg;
	struct server *s = rs->s;
	struct ctx c = { .s = s, .r = r, .tok = rs->tok, .action = "sealtrail.quarantine.resubmit",
			 .tenant = rs->tenant, .resource_type = "quarantine" };
	struct buf b = BUF_INIT(1u << 20);
	char why[200];
	enum q_state was;
	int jr = rs->job.result < 0 ? rs->job.result : rs->ack.result;

	snprintf(c.resource_id, sizeof(c.resource_id), "%llu", (unsigned long long)rs->qid);
	pthread_rwlock_rdlock(&s->log_lock);
	if (jr < 0) {
		quarantine_unclaim(s->quarantine, rs->qid);
		stat_add(&s->resubmits[2], 1);
		snprintf(why, sizeof(why), "the log refused the event (%s); the entry stays pending", st_strerror(jr));
		if (audit_change(&c, 503, "failure", why))
			reply_error(s, r, jr == -ENOSPC ? 507 : 503, "log_failed", why, retry_after(s));
		goto out;
	}
	/* the claim is ours: only a write error can refuse this */
	int sr = quarantine_set_state(s->quarantine, rs->qid, Q_RESUBMITTED, rs->tok->name, rs->ack.seq, &was);
	if (sr < 0) {
		quarantine_unclaim(s->quarantine, rs->qid);
		stat_add(&s->resubmits[2], 1);
		snprintf(why, sizeof(why), "the event is in the log at seq %llu but the quarantine could not record it (%s); "
			 "a later resubmit finds it there", (unsigned long long)rs->ack.seq, st_strerror(sr));
		if (audit_change(&c, 500, "failure", why))
			reply_error(s, r, 500, "quarantine_failed", why, 0);
		goto out;
	}
	stat_add(&s->resubmits[0], 1);
	char leaf[BASE64_LEN(HASH_SIZE) + 1];
	base64_encode(rs->ack.leaf, HASH_SIZE, leaf);
	snprintf(why, sizeof(why), "committed at seq %llu against schema %s%s", (unsigned long long)rs->ack.seq,
		 rs->ref, rs->ack.duplicate ? " (already in the log: a duplicate)" : "");
	buf_printf(&b, "{\"id\":%llu,\"state\":\"resubmitted\",\"seq\":%llu,\"leaf_hash\":\"%s\",\"event_id\":",
		   (unsigned long long)rs->qid, (unsigned long long)rs->ack.seq, leaf);
	json_put_str(&b, rs->event_id, strlen(rs->event_id));
	buf_printf(&b, ",\"schema\":\"%s\",\"duplicate\":%s,\"excused\":", rs->ref,
		   rs->ack.duplicate ? "true" : "false");
	if (rs->excused.len)
		buf_append(&b, rs->excused.data, rs->excused.len);
	else
		buf_puts(&b, "[]");
	buf_puts(&b, "}\n");
	if (audit_change(&c, 200, "success", why))
		reply(s, r, 200, "application/json", NULL, 0, b.data, b.len);
out:
	pthread_rwlock_unlock(&s->log_lock);
	buf_release(&b);
	resub_free(rs);
}

static void resub_done(struct ingest_job *j)
{
	struct resub *rs = j->arg;
	hreq_post(rs->r, resub_finish, rs);
}

/* Is the violation's pointer at or under a path the policy redacted (a
 * dotted path of the `redacted` list in suf)? There the stored value is
 * not the producer's, so it cannot be judged again (docs/QUARANTINE.md). */
static bool q_redacted_at(const char *suf, size_t sl, const char *ptr)
{
	static const char key[] = "\"path\":\"";
	const char *p = suf, *end = suf + sl;
	while (p < end) {
		const char *at = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
		if (!at)
			return false;
		at += sizeof(key) - 1;
		const char *e = memchr(at, '"', (size_t)(end - at));
		if (!e)
			return false;
		/* "a.b.c" as the pointer "/a/b/c" */
		char want[SCHEMA_PTR_MAX];
		size_t n = 0;
		want[n++] = '/';
		for (const char *x = at; x < e && n < sizeof(want) - 1; x++)
			want[n++] = *x == '.' ? '/' : *x;
		want[n] = 0;
		size_t pl = strlen(ptr);
		if (pl >= n && !memcmp(ptr, want, n) && (ptr[n] == 0 || ptr[n] == '/'))
			return true;
		p = e + 1;
	}
	return false;
}

/* The entry a resubmit or discard acts on, into e (its tenant, state and
 * seq too), for the request's action; false once it has answered (a bad
 * query, 404, 500, or a tenant outside the token's scope). */
static bool q_load(struct ctx *c, uint64_t id, const char *action, struct buf *e,
		   char qt[QUARANTINE_TENANT_MAX + 1], enum q_state *cur, uint64_t *seq)
{
	static const char *const none[] = { NULL };
	c->action = action;
	if (!check_query(c, none))
		return false;
	int r = quarantine_get(c->s->quarantine, id, e, qt, cur, seq);
	if (r < 0) {
		reply_error(c->s, c->r, r == ST_ENOTFOUND ? 404 : 500, r == ST_ENOTFOUND ? "not_found" : "internal",
			    r == ST_ENOTFOUND ? "no such quarantine entry" : st_strerror(r), 0);
		return false;
	}
	return tenant_ok(c, qt);
}

/* POST /v1/quarantine/{id}/resubmit: re-validated against the highest
 * published version of the entry's schema name, then committed through
 * the ingest queue as its producer's event; answered when durable. */
static void handle_resubmit(struct ctx *c, uint64_t id)
{
	struct server *s = c->s;
	struct buf e = BUF_INIT(QUARANTINE_RECORD_MAX), b = BUF_INIT(1u << 20);
	struct buf scratch = BUF_INIT(0);
	struct jdoc_arena a;
	struct resub *rs = NULL;
	struct qparts qp;
	char qt[QUARANTINE_TENANT_MAX + 1], name[REGISTRY_NAME_MAX + 1], why[ERR_MAX];
	enum q_state cur, was;
	uint64_t seq = 0;
	bool claimed = false;
	int r;

	jdoc_arena_init(&a, 4u * QUARANTINE_RECORD_MAX);
	if (!q_load(c, id, "sealtrail.quarantine.resubmit", &e, qt, &cur, &seq))
		goto out;
	if ((r = quarantine_claim(s->quarantine, id, &was)) < 0) {
		if (r == ST_EEXIST && was == Q_RESUBMITTED)
			snprintf(why, sizeof(why), "the entry is already resubmitted (seq %llu)", (unsigned long long)seq);
		else
			snprintf(why, sizeof(why), r == -EBUSY ? "a resubmit of this entry is in progress" :
				 "the entry is already %s", q_state_name(was));
		reply_error(s, c->r, r == ST_ENOTFOUND ? 404 : 409, "conflict", why, 0);
		goto out;
	}
	claimed = true;
	if (q_parts(&a, e.data, e.len, &qp) < 0 || !registry_parse_ref(qp.schema, strlen(qp.schema), name, &(uint32_t){0})) {
		reply_error(s, c->r, 500, "internal", "the quarantine entry could not be read back", 0);
		goto out;
	}
	/* the schema as it is now: versions never change, so only a newer
	 * version of the name can judge the event differently */
	uint32_t ver = 0;
	const struct schema *sc = registry_latest(s->registry, name, strlen(name), &ver);
	if (!(rs = calloc(1, sizeof(*rs)))) {
		reply_error(s, c->r, 503, "unavailable", "out of memory", retry_after(s));
		goto out;
	}
	buf_init(&rs->excused, 1u << 16);
	buf_init(&rs->compact, log_limits(s->log)->max_entry);
	buf_init(&scratch, log_limits(s->log)->max_entry);
	snprintf(rs->ref, sizeof(rs->ref), "%s/%u", name, ver);
	struct event_info info;
	struct event_error perr;
	if ((r = event_parse(qp.event, qp.event_len, log_limits(s->log), &scratch, &info, &perr)) < 0) {
		snprintf(why, sizeof(why), "the stored event no longer parses: %s", perr.msg);
		stat_add(&s->resubmits[1], 1);
		if (audit_change(c, 422, "failure", why))
			reply_error(s, c->r, 422, "invalid", why, 0);
		goto out;
	}
	struct schema_violation v[SCHEMA_VIOLATIONS_SHOWN];
	int k = 0, kept = 0, nex = 0;
	if (!sc) {
		memset(v, 0, sizeof(v[0]));
		snprintf(v[0].rule, sizeof(v[0].rule), "unknown-schema");
		snprintf(v[0].msg, sizeof(v[0].msg), "no version of schema %s is registered", name);
		k = kept = 1;
	} else {
		k = schema_validate(sc, (const char *)scratch.data, scratch.len, v, ARRAY_SIZE(v));
		/* a violation where the policy redacted is excused: not the
		 * producer's value (the first SCHEMA_VIOLATIONS_SHOWN are judged;
		 * more than that refuses) */
		buf_putc(&rs->excused, '[');
		for (int i = 0; i < k && i < (int)ARRAY_SIZE(v); i++) {
			if (qp.suf && q_redacted_at(qp.suf, qp.suf_len, v[i].pointer)) {
				put_violations(&b, &v[i], 1);
				/* drop the brackets of the one-element array */
				buf_append(&rs->excused, nex ? "," : "", nex ? 1 : 0);
				buf_append(&rs->excused, b.data + 1, b.len - 2);
				buf_reset(&b);
				nex++;
			} else {
				v[kept++] = v[i];
			}
		}
		buf_putc(&rs->excused, ']');
		if (k > (int)ARRAY_SIZE(v) || k < 0)
			kept = kept ? kept : 1;
	}
	if (kept) {
		stat_add(&s->resubmits[1], 1);
		buf_printf(&b, "{\"error\":{\"code\":\"schema_violation\",\"message\":\"the event still fails schema %s; "
			   "the entry stays pending\",\"schema\":\"%s\",\"violations\":", rs->ref, rs->ref);
		put_violations(&b, v, kept);
		buf_puts(&b, "}}\n");
		snprintf(why, sizeof(why), "refused again by schema %s: %d violation(s)", rs->ref, kept);
		if (audit_change(c, 422, "failure", why))
			reply(s, c->r, 422, "application/json", NULL, 0, b.data, b.len);
		goto out;
	}
	/* Compose as ingest_item would have: '{' prefix members suffix '}'.
	 * Entries from before server_prefix existed get a new id now. */
	char pre[UUID_STR_LEN + TOKEN_TENANT_MAX + 32];
	const char *pp = qp.pre;
	size_t pl = qp.pre_len;
	if (!pp) {
		char nid[UUID_STR_LEN + 1];
		pl = 0;
		if (!info.has_id && uuidv7_format((uint64_t)(now_realtime_ns() / 1000000), nid) == 0) {
			pl += (size_t)sprintf(pre + pl, "\"id\":\"%s\",", nid);
			memcpy(qp.sid, nid, sizeof(nid));
			qp.event_id = qp.sid;
			qp.event_id_len = UUID_STR_LEN;
		}
		if (!info.tenant)
			pl += (size_t)sprintf(pre + pl, "\"tenant\":\"%s\",", qt);
		pp = pre;
	}
	size_t len = 1 + pl + (scratch.len - 2) + qp.suf_len + 1;
	if (!qp.event_id || len > log_limits(s->log)->max_entry - EVENT_SERVER_RESERVE ||
	    buf_putc(&rs->compact, '{') < 0 || buf_append(&rs->compact, pp, pl) < 0 ||
	    buf_append(&rs->compact, scratch.data + 1, scratch.len - 2) < 0 ||
	    buf_append(&rs->compact, qp.suf, qp.suf_len) < 0 || buf_putc(&rs->compact, '}') < 0) {
		reply_error(s, c->r, 413, "limit", "the event with its server members is over the log's entry limit", 0);
		goto out;
	}
	snprintf(rs->tenant, sizeof(rs->tenant), "%s", qt);
	snprintf(rs->producer, sizeof(rs->producer), "%s", qp.producer);
	snprintf(rs->event_id, sizeof(rs->event_id), "%.*s", (int)qp.event_id_len, qp.event_id);
	rs->s = s;
	rs->r = c->r;
	rs->qid = id;
	rs->tok = token_get(c->tok);
	rs->ev.compact = rs->compact.data;
	rs->ev.len = rs->compact.len;
	rs->ev.info = info;
	/* slices into the body we parsed: point them at our copies */
	rs->ev.info.tenant = rs->tenant;
	rs->ev.info.tenant_len = strlen(rs->tenant);
	rs->ev.info.has_id = true;
	rs->ev.info.id = rs->event_id;
	rs->ev.info.id_len = strlen(rs->event_id);
	rs->ev.info.action = rs->ev.info.outcome = rs->ev.info.resource_type = NULL;
	rs->ev.info.schema = NULL;
	rs->ev.producer = rs->producer;
	rs->ev.producer_len = strlen(rs->producer);
	rs->job.ev = &rs->ev;
	rs->job.acks = &rs->ack;
	rs->job.n = 1;
	rs->job.bytes = rs->ev.len;
	rs->job.t_received = now_monotonic_ns();
	rs->job.done = resub_done;
	rs->job.arg = rs;
	hreq_hold(c->r);
	if ((r = ingest_submit(s->ingest, &rs->job)) < 0) {
		/* the hold stands: answer now, as handle_ingest does */
		stat_add(&s->resubmits[2], 1);
		reply_error(s, c->r, r == -ENOSPC ? 507 : r == ST_ELIMIT ? 429 : 503,
			    r == -ENOSPC ? "insufficient_storage" : "overloaded",
			    "the log did not take the event; the entry stays pending; retry later", retry_after(s));
		goto out;
	}
	rs = NULL;        /* resub_finish answers, records and frees */
	claimed = false;  /* ... and ends the claim */
out:
	if (claimed)
		quarantine_unclaim(s->quarantine, id);
	resub_free(rs);
	jdoc_arena_release(&a);
	buf_release(&scratch);
	buf_release(&e);
	buf_release(&b);
}

/* POST /v1/quarantine/{id}/discard. Refused while a resubmit is in
 * flight, and when the entry's event is in the log already (a resubmit
 * that crashed before it could record itself): never both. */
static void handle_discard(struct ctx *c, uint64_t id)
{
	struct server *s = c->s;
	struct buf e = BUF_INIT(QUARANTINE_RECORD_MAX), b = BUF_INIT(256);
	struct jdoc_arena a;
	struct qparts qp;
	char qt[QUARANTINE_TENANT_MAX + 1], why[160];
	enum q_state cur, was;
	uint64_t seq = 0;

	jdoc_arena_init(&a, 4u * QUARANTINE_RECORD_MAX);
	if (!q_load(c, id, "sealtrail.quarantine.discard", &e, qt, &cur, &seq))
		goto out;
	int r;
	if (cur == Q_PENDING && q_parts(&a, e.data, e.len, &qp) == 0 && qp.event_id &&
	    log_find_id(s->log, qt, strlen(qt), qp.event_id, qp.event_id_len, &seq) == 0) {
		snprintf(why, sizeof(why), "the entry's event is in the log at seq %llu (an interrupted resubmit): "
			 "resubmit it to record that", (unsigned long long)seq);
		reply_error(s, c->r, 409, "conflict", why, 0);
		goto out;
	}
	r = quarantine_set_state(s->quarantine, id, Q_DISCARDED, c->tok->name, 0, &was);
	if (r == ST_EEXIST || r == -EBUSY) {
		snprintf(why, sizeof(why), r == -EBUSY ? "a resubmit of this entry is in progress" :
			 "the entry is already %s", q_state_name(was));
		reply_error(s, c->r, 409, "conflict", why, 0);
		goto out;
	}
	if (r < 0) {
		reply_error(s, c->r, 500, "internal", st_strerror(r), 0);
		goto out;
	}
	buf_printf(&b, "{\"id\":%llu,\"state\":\"discarded\"}\n", (unsigned long long)id);
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	jdoc_arena_release(&a);
	buf_release(&e);
	buf_release(&b);
}

#define QUARANTINE_SCAN_MAX 10000   /* entries one list page examines */

/* GET /v1/quarantine?tenant=&state=&schema=&producer=&cursor=&limit=;
 * GET /v1/quarantine/{id}; POST /v1/quarantine/{id}/discard|resubmit.
 * Admin; each use audited. */
static void handle_quarantine(struct ctx *c, const struct path_match *m, int op)
{
	struct server *s = c->s;
	struct buf b = BUF_INIT(64u << 20);
	char tenant[TOKEN_TENANT_MAX + 1], st[16], idbuf[24], sch[REGISTRY_NAME_MAX + 24],
		prod[TOKEN_NAME_MAX + 2];
	uint64_t id = 0, after = 0, limit = 100, next = 0;
	bool have, have_c;

	c->resource_type = "quarantine";
	if (m && (path_decode(m->seg[0], m->len[0], idbuf, sizeof(idbuf)) <= 0 ||
		  !st_parse_u64(idbuf, strlen(idbuf), &id) || id == 0)) {
		reply_error(s, c->r, 400, "bad_parameter", "expected /v1/quarantine/{id}, a positive integer", 0);
		goto out;
	}
	if (m)
		snprintf(c->resource_id, sizeof(c->resource_id), "%llu", (unsigned long long)id);
	if (m && op == 1) {
		handle_discard(c, id);
		goto out;
	}
	if (m && op == 2) {
		handle_resubmit(c, id);
		goto out;
	}
	if (m) {
		static const char *const none[] = { NULL };
		char qt[QUARANTINE_TENANT_MAX + 1];
		enum q_state cur;
		uint64_t seq = 0;
		struct buf e = BUF_INIT(QUARANTINE_RECORD_MAX);
		struct qlist l = { &b, NULL, NULL };
		c->action = "sealtrail.quarantine.read";
		if (!check_query(c, none) || quarantine_get(s->quarantine, id, &e, qt, &cur, &seq) < 0) {
			if (!e.len)
				reply_error(s, c->r, 404, "not_found", "no such quarantine entry", 0);
			buf_release(&e);
			goto out;
		}
		if (tenant_ok(c, qt)) {
			struct q_meta qm = { id, cur, seq };
			list_q(&l, &qm, e.data, e.len);
			buf_putc(&b, '\n');
			reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
		}
		buf_release(&e);
		goto out;
	}
	static const char *const allowed[] = { "tenant", "state", "schema", "producer", "cursor",
					       "after", "limit", NULL };
	struct qlist l = { &b, NULL, NULL };
	c->action = "sealtrail.quarantine.list";
	if (!check_query(c, allowed) || !read_tenant(c, tenant, sizeof(tenant)) ||
	    !get_u64(c, "after", 0, UINT64_MAX, &after, &have) ||
	    !get_u64(c, "cursor", 0, UINT64_MAX, &next, &have_c) ||
	    !get_u64(c, "limit", 1, 1000, &limit, &have))
		goto out;
	if (have_c)   /* the cursor is the id to resume after; `after` is its older name */
		after = next;
	if (query_get(hreq_query(c->r), "schema", sch, sizeof(sch)) > 0) {
		char nm[REGISTRY_NAME_MAX + 1];
		uint32_t v;
		if (!registry_parse_ref(sch, strlen(sch), nm, &v)) {
			reply_error(s, c->r, 400, "bad_parameter", "parameter schema: expected name/version", 0);
			goto out;
		}
		l.schema = sch;
	}
	if (query_get(hreq_query(c->r), "producer", prod, sizeof(prod)) > 0) {
		if (strchr(prod, '"') || strchr(prod, '\\') || strlen(prod) > TOKEN_NAME_MAX) {
			reply_error(s, c->r, 400, "bad_parameter", "parameter producer: expected a token name", 0);
			goto out;
		}
		l.producer = prod;
	}
	int state = Q_PENDING;
	if (query_get(hreq_query(c->r), "state", st, sizeof(st)) > 0) {
		state = !strcmp(st, "pending") ? Q_PENDING : !strcmp(st, "discarded") ? Q_DISCARDED :
			!strcmp(st, "resubmitted") ? Q_RESUBMITTED : !strcmp(st, "all") ? -1 : -2;
		if (state == -2) {
			reply_error(s, c->r, 400, "bad_parameter",
				    "parameter state: expected pending, discarded, resubmitted or all", 0);
			goto out;
		}
	}
	buf_puts(&b, "{\"entries\":[");
	quarantine_list(s->quarantine, after, tenant, state, (size_t)limit, QUARANTINE_SCAN_MAX, list_q, &l,
			&next);
	if (next)
		buf_printf(&b, "],\"next_cursor\":\"%llu\"}\n", (unsigned long long)next);
	else
		buf_puts(&b, "]}\n");
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	buf_release(&b);
}

/* ---- the schema registry (docs/SCHEMAS.md) ------------------------------------- */

struct slist {
	struct buf *b;
	const char *only;            /* one name's versions, or NULL: all */
};

static int list_schema(void *arg, const char *name, uint32_t version, bool breaking,
		       const uint8_t digest[HASH_SIZE])
{
	struct slist *l = arg;
	struct buf *b = l->b;
	char hex[2 * HASH_SIZE + 1];
	if (l->only && strcmp(l->only, name))
		return 0;
	hex_encode(digest, HASH_SIZE, hex);
	if (b->len && b->data[b->len - 1] == '}')
		buf_putc(b, ',');
	return buf_printf(b, "{\"name\":\"%s\",\"version\":%u,\"ref\":\"%s/%u\",\"sha256\":\"%s\"%s}",
			  name, version, name, version, hex, breaking ? ",\"breaking\":true" : "");
}

/* GET /v1/schemas; GET and PUT /v1/schemas/{name}/{version}. */
static void handle_schemas(struct ctx *c, const struct path_match *m)
{
	struct server *s = c->s;
	struct buf b = BUF_INIT(SCHEMA_MAX_BYTES + 65536);
	char name[REGISTRY_NAME_MAX + 2], vs[16], err[ERR_MAX];
	uint32_t ver = 0;
	enum http_method meth = hreq_method(c->r);

	c->resource_type = "schema";
	if (!m || m->n == 1) {
		/* every (name, version), or one name's versions (issue 5) */
		static const char *const none[] = { NULL };
		struct slist l = { &b, NULL };
		if (!check_query(c, none))
			goto out;
		if (m) {
			int nl = path_decode(m->seg[0], m->len[0], name, sizeof(name));
			if (nl <= 0 || !registry_name_valid(name, (size_t)nl)) {
				reply_error(s, c->r, 400, "bad_parameter",
					    "expected /v1/schemas/{name}: name [a-z0-9][a-z0-9._-]{0,63}", 0);
				goto out;
			}
			l.only = name;
		}
		buf_puts(&b, "{\"schemas\":[");
		registry_list(s->registry, list_schema, &l);
		buf_puts(&b, "]}\n");
		if (m && b.len == strlen("{\"schemas\":[]}\n"))
			reply_error(s, c->r, 404, "not_found", "no version of this schema is published", 0);
		else
			reply(s, c->r, 200, "application/json", NULL, 0, b.data, b.len);
		goto out;
	}
	/* the same rule as an event's "schema":"name/version" */
	char ref[REGISTRY_NAME_MAX + 20];
	if (path_decode(m->seg[0], m->len[0], name, sizeof(name)) <= 0 ||
	    path_decode(m->seg[1], m->len[1], vs, sizeof(vs)) <= 0 ||
	    snprintf(ref, sizeof(ref), "%s/%s", name, vs) >= (int)sizeof(ref) ||
	    !registry_parse_ref(ref, strlen(ref), name, &ver)) {
		reply_error(s, c->r, 400, "bad_parameter",
			    "expected /v1/schemas/{name}/{version}: name [a-z0-9][a-z0-9._-]{0,63}, version 1..999999", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%s/%u", name, ver);
	if (meth == HTTP_GET || meth == HTTP_HEAD) {
		static const char *const none[] = { NULL };
		if (!check_query(c, none))
			goto out;
		if (registry_text(s->registry, name, ver, &b) < 0) {
			reply_error(s, c->r, 404, "not_found", "no such schema version", 0);
			goto out;
		}
		reply(s, c->r, 200, "application/schema+json", NULL, 0, b.data, b.len);
		goto out;
	}
	if (meth != HTTP_PUT) {
		reply_error(s, c->r, 405, "method_not_allowed", "GET or PUT", 0);
		goto out;
	}
	static const char *const allowed[] = { "breaking", NULL };
	char bv[8];
	if (!check_query(c, allowed))
		goto out;
	bool breaking = query_get(hreq_query(c->r), "breaking", bv, sizeof(bv)) > 0 && !strcmp(bv, "true");
	const uint8_t *body;
	size_t blen;
	hreq_body(c->r, &body, &blen);
	struct schema_error se;
	struct schema_violation v[32];
	size_t nv = 0;
	uint8_t digest[HASH_SIZE];
	char hex[2 * HASH_SIZE + 1];
	int rc = registry_put(s->registry, name, ver, (const char *)body, blen, breaking, &se, v,
			      ARRAY_SIZE(v), &nv, digest);
	hex_encode(digest, HASH_SIZE, hex);
	if (rc == REGISTRY_BREAKING) {
		buf_printf(&b, "{\"error\":{\"code\":\"breaking_change\",\"message\":"
			   "\"%zu change(s) could refuse events the previous version accepts; "
			   "publish with ?breaking=true to mean it\",\"changes\":[", nv);
		for (size_t i = 0; i < nv && i < ARRAY_SIZE(v); i++) {
			buf_puts(&b, i ? ",{\"pointer\":" : "{\"pointer\":");
			json_put_str(&b, v[i].pointer, strlen(v[i].pointer));
			buf_puts(&b, ",\"rule\":");
			json_put_str(&b, v[i].rule, strlen(v[i].rule));
			buf_puts(&b, ",\"message\":");
			json_put_str(&b, v[i].msg, strlen(v[i].msg));
			buf_putc(&b, '}');
		}
		buf_puts(&b, "]}}\n");
		reply(s, c->r, 409, "application/json", NULL, 0, b.data, b.len);
		goto out;
	}
	if (rc == ST_EINVAL && se.msg[0]) {
		snprintf(err, sizeof(err), "the schema does not compile: byte %zu, %s: %s", se.offset,
			 se.pointer[0] ? se.pointer : "(root)", se.msg);
		reply_error(s, c->r, 400, "bad_schema", err, 0);
		goto out;
	}
	if (rc == ST_EEXIST || rc == ST_ERANGE) {
		reply_error(s, c->r, 409, "conflict", rc == ST_EEXIST ?
			    "this version is published with other content; versions never change" :
			    "a higher version of this schema is published; versions only go up", 0);
		goto out;
	}
	if (rc == ST_ELIMIT) {
		reply_error(s, c->r, 413, "limit", "over the registry's limits (256 KiB a schema, 1024 schemas, 16 MiB in all)", 0);
		goto out;
	}
	if (rc < 0) {
		reply_error(s, c->r, 500, "internal", st_strerror(rc), 0);
		goto out;
	}
	c->action = breaking && nv ? "sealtrail.schemas.publish_breaking" : "sealtrail.schemas.publish";
	buf_printf(&b, "{\"name\":\"%s\",\"version\":%u,\"sha256\":\"%s\",\"created\":%s%s}\n", name,
		   ver, hex, rc == REG_CREATED ? "true" : "false",
		   breaking && nv ? ",\"breaking\":true" : "");
	if (rc == REG_CREATED)
		reply_audited(c, 201, "application/json", NULL, 0, b.data, b.len);
	else
		reply(s, c->r, 200, "application/json", NULL, 0, b.data, b.len);
out:
	buf_release(&b);
}

/* ---- the token vault: detokenize and erase (docs/REDACTION.md) --------------- */

static bool have_vault(struct ctx *c)
{
	if (c->s->vault)
		return true;
	reply_error(c->s, c->r, 404, "not_found",
		    "this server has no token vault (it runs without a policy_file)", 0);
	return false;
}

/* GET /v1/detokenize?tenant=T&token=tok_...: one token, never a list (a
 * bulk export is its own, explicit request). legal or admin; audited
 * with the token, never the value; 410 once its subject was erased. */
static void handle_detokenize(struct ctx *c)
{
	static const char *const allowed[] = { "tenant", "token", NULL };
	char tenant[TOKEN_TENANT_MAX + 1], tok[VAULT_TOKEN_LEN + 2];
	uint8_t val[VAULT_VALUE_MAX];
	size_t vlen = 0;
	struct buf b = BUF_INIT(4 * VAULT_VALUE_MAX + 256);

	c->action = "sealtrail.vault.detokenize";
	c->resource_type = "token";
	if (!check_query(c, allowed) || !have_vault(c) || !read_tenant(c, tenant, sizeof(tenant)))
		goto out;
	int n = query_get(hreq_query(c->r), "token", tok, sizeof(tok));
	if (n <= 0 || n > VAULT_TOKEN_LEN) {
		reply_error(c->s, c->r, 400, "bad_parameter",
			    "parameter token: expected tok_ and 32 base32 characters", 0);
		goto out;
	}
	snprintf(c->resource_id, sizeof(c->resource_id), "%s", tok);
	int r = vault_detokenize(c->s->vault, tenant, tok, (size_t)n, val, sizeof(val), &vlen);
	if (r == ST_EERASED || r == ST_ENOTFOUND || r == ST_EINVAL) {
		int st = r == ST_EERASED ? 410 : r == ST_ENOTFOUND ? 404 : 400;
		if (audit_ok(c, st))
			reply_error(c->s, c->r, st, r == ST_EERASED ? "erased" : r == ST_ENOTFOUND ? "not_found" : "bad_parameter",
				    r == ST_EERASED ? "this token's data subject was erased: it never resolves again" :
				    r == ST_ENOTFOUND ? "no such token in this tenant" :
				    "parameter token: expected tok_ and 32 base32 characters", 0);
		goto out;
	}
	if (r < 0) {
		reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
		goto out;
	}
	static const struct http_hdr nostore[] = { { "Cache-Control", "no-store" } };
	buf_puts(&b, "{\"tenant\":");
	json_put_str(&b, tenant, strlen(tenant));
	buf_puts(&b, ",\"token\":");
	json_put_str(&b, tok, (size_t)n);
	buf_puts(&b, ",\"value\":");
	json_put_str(&b, (const char *)val, vlen);
	buf_puts(&b, "}\n");
	reply_audited(c, 200, "application/json", nostore, 1, b.data, b.len);
out:
	sodium_memzero(val, sizeof(val));
	if (b.data)
		sodium_memzero(b.data, b.cap);
	buf_release(&b);
}

#define EXPORT_TOKENS_MAX 1000
#define EXPORT_REASON_MAX 200

/*
 * POST /v1/detokenize/export {"tenant":T,"reason":R,"tokens":[...]}: the
 * one way to resolve more than one token in a request (docs/VAULT.md).
 * Explicit: its own path and action, a reason (a case or ticket, kept in
 * the audit event) and at most EXPORT_TOKENS_MAX tokens. Each token is
 * answered by itself (a value, or "erased" / "not_found"); the audit event
 * counts them and never holds a value.
 */
static void handle_export(struct ctx *c)
{
	static const char *const none[] = { NULL };
	const uint8_t *body;
	size_t blen, nres = 0, nerased = 0, nmiss = 0;
	struct jdoc_arena a;
	const struct jdoc_value *root = NULL, *t, *why, *toks;
	struct jdoc_error je;
	char tenant[TOKEN_TENANT_MAX + 1], reason[EXPORT_REASON_MAX + 96], msg[ERR_MAX];
	uint8_t val[VAULT_VALUE_MAX];
	size_t vlen = 0;
	struct buf b = BUF_INIT(EXPORT_TOKENS_MAX * (6 * VAULT_VALUE_MAX + 96) + 512);

	c->action = "sealtrail.vault.export";
	c->resource_type = "token";
	jdoc_arena_init(&a, 1 << 20);
	if (!check_query(c, none) || !have_vault(c))
		goto out;
	hreq_body(c->r, &body, &blen);
	if (jdoc_parse(&a, (const char *)body, blen, NULL, 0, &root, &je) < 0 || root->type != JDOC_OBJECT ||
	    !(t = jdoc_get(root, "tenant", 6)) || t->type != JDOC_STRING || t->len == 0 ||
	    t->len > TOKEN_TENANT_MAX || !(why = jdoc_get(root, "reason", 6)) || why->type != JDOC_STRING ||
	    !(toks = jdoc_get(root, "tokens", 6)) || toks->type != JDOC_ARRAY || root->len != 3) {
		reply_error(c->s, c->r, 400, "bad_body",
			    "expected {\"tenant\":\"T\",\"reason\":\"why\",\"tokens\":[\"tok_...\",...]}, nothing else", 0);
		goto out;
	}
	if (why->len == 0 || why->len > EXPORT_REASON_MAX || memchr(why->u.s, 0, why->len)) {
		snprintf(msg, sizeof(msg), "reason: expected 1..%d bytes saying why (a case or ticket): an export "
			 "is an explicit, recorded request", EXPORT_REASON_MAX);
		reply_error(c->s, c->r, 400, "bad_body", msg, 0);
		goto out;
	}
	if (toks->len == 0 || toks->len > EXPORT_TOKENS_MAX) {
		snprintf(msg, sizeof(msg), "tokens: expected 1..%d tokens, found %u", EXPORT_TOKENS_MAX, toks->len);
		reply_error(c->s, c->r, 400, "bad_body", msg, 0);
		goto out;
	}
	for (uint32_t i = 0; i < toks->len; i++) {
		const struct jdoc_value *x = &toks->u.items[i];
		if (x->type != JDOC_STRING || x->len != VAULT_TOKEN_LEN ||
		    memcmp(x->u.s, VAULT_TOKEN_PREFIX, strlen(VAULT_TOKEN_PREFIX))) {
			snprintf(msg, sizeof(msg), "tokens[%u] (byte %u): expected tok_ and 32 base32 characters", i,
				 x->offset);
			reply_error(c->s, c->r, 400, "bad_body", msg, 0);
			goto out;
		}
	}
	memcpy(tenant, t->u.s, t->len);
	tenant[t->len] = 0;
	if (!tenant_ok(c, tenant))
		goto out;
	snprintf(c->resource_id, sizeof(c->resource_id), "%u tokens", toks->len);
	buf_puts(&b, "{\"tenant\":");
	json_put_str(&b, tenant, strlen(tenant));
	buf_puts(&b, ",\"values\":[");
	for (uint32_t i = 0; i < toks->len; i++) {
		const struct jdoc_value *x = &toks->u.items[i];
		int r = vault_detokenize(c->s->vault, tenant, x->u.s, x->len, val, sizeof(val), &vlen);
		if (r < 0 && r != ST_EERASED && r != ST_ENOTFOUND && r != ST_EINVAL) {
			reply_error(c->s, c->r, 500, "internal", st_strerror(r), 0);
			goto out;
		}
		buf_puts(&b, i ? ",{\"token\":" : "{\"token\":");
		json_put_str(&b, x->u.s, x->len);
		if (r == 0) {
			buf_puts(&b, ",\"value\":");
			json_put_str(&b, (const char *)val, vlen);
			nres++;
		} else {
			buf_puts(&b, r == ST_EERASED ? ",\"error\":\"erased\"" : ",\"error\":\"not_found\"");
			*(r == ST_EERASED ? &nerased : &nmiss) += 1;
		}
		buf_putc(&b, '}');
		sodium_memzero(val, vlen);
	}
	buf_printf(&b, "],\"resolved\":%zu,\"erased\":%zu,\"not_found\":%zu}\n", nres, nerased, nmiss);
	/* the reason and the counts in the audit event; never a value */
	snprintf(reason, sizeof(reason), "%.*s (%zu resolved, %zu erased, %zu not found)", (int)why->len, why->u.s,
		 nres, nerased, nmiss);
	static const struct http_hdr nostore[] = { { "Cache-Control", "no-store" } };
	if (audit_change(c, 200, "success", reason))
		reply(c->s, c->r, 200, "application/json", nostore, 1, b.data, b.len);
out:
	sodium_memzero(val, sizeof(val));
	if (b.data)
		sodium_memzero(b.data, b.len);
	jdoc_arena_release(&a);
	buf_release(&b);
}

/* POST /v1/erase {"tenant":T,"subject":S}: crypto-shreds the subject's
 * vault entries. The subject travels in the body so it is never in the
 * audit event (which records the request's query); the event names it by
 * its keyed hash, the same the hash action would give, so an erasure can
 * be shown to have happened without keeping what was erased. */
static void handle_erase(struct ctx *c)
{
	static const char *const none[] = { NULL };
	const uint8_t *body;
	size_t blen;
	struct jdoc_arena a;
	const struct jdoc_value *root = NULL, *t, *sub;
	struct jdoc_error je;
	char err[ERR_MAX], tenant[TOKEN_TENANT_MAX + 1];
	struct buf h = BUF_INIT(64), b = BUF_INIT(256);

	c->action = "sealtrail.vault.erase";
	c->resource_type = "data_subject";
	jdoc_arena_init(&a, 1 << 16);
	if (!check_query(c, none) || !have_vault(c))
		goto out;
	hreq_body(c->r, &body, &blen);
	if (jdoc_parse(&a, (const char *)body, blen, NULL, 0, &root, &je) < 0 ||
	    root->type != JDOC_OBJECT || !(t = jdoc_get(root, "tenant", 6)) ||
	    t->type != JDOC_STRING || t->len == 0 || t->len > TOKEN_TENANT_MAX ||
	    !(sub = jdoc_get(root, "subject", 7)) || sub->type != JDOC_STRING || sub->len == 0 ||
	    sub->len > VAULT_SUBJECT_MAX || root->len != 2) {
		reply_error(c->s, c->r, 400, "bad_body",
			    "expected {\"tenant\":\"T\",\"subject\":\"S\"} (subject 1..1024 bytes), nothing else", 0);
		goto out;
	}
	memcpy(tenant, t->u.s, t->len);
	tenant[t->len] = 0;
	if (!tenant_ok(c, tenant))
		goto out;
	apply_hash(c->s->policy_key, tenant, t->len, sub->u.s, sub->len, &h);
	snprintf(c->resource_id, sizeof(c->resource_id), "%.*s", (int)h.len, (const char *)h.data);
	long n = vault_erase_subject(c->s->vault, tenant, sub->u.s, sub->len, err, sizeof(err));
	if (n < 0) {
		reply_error(c->s, c->r, n == ST_EINVAL || n == ST_ELIMIT ? 400 : 500,
			    n == ST_EINVAL || n == ST_ELIMIT ? "bad_body" : "internal", err, 0);
		goto out;
	}
	buf_printf(&b, "{\"tenant\":\"%s\",\"subject_hash\":\"%.*s\",\"tokens_erased\":%ld}\n",
		   tenant, (int)h.len, (const char *)h.data, n);
	reply_audited(c, 200, "application/json", NULL, 0, b.data, b.len);
out:
	if (root && root->type == JDOC_OBJECT && (sub = jdoc_get(root, "subject", 7)) &&
	    sub->type == JDOC_STRING)
		sodium_memzero((void *)(uintptr_t)sub->u.s, sub->len);
	jdoc_arena_release(&a);
	buf_release(&h);
	buf_release(&b);
}

/* GET /v1/capture: per producer instance, what it sent against what
 * reached the log (docs/CAPTURE.md). */
static void handle_capture(struct ctx *c)
{
	static const char *const none[] = { NULL };
	struct buf b = BUF_INIT(64u << 20);
	if (!check_query(c, none))
		return;
	if (!c->s->capture || capture_json(c->s->capture, now_realtime_ns(), &b) < 0)
		reply_error(c->s, c->r, 500, "internal", "the capture table did not fit its buffer", 0);
	else
		reply(c->s, c->r, 200, "application/json", NULL, 0, b.data, b.len);
	buf_release(&b);
}

static void handle_readyz(struct ctx *c)
{
	struct server *s = c->s;
	struct ingest_stats *is = ingest_stats(s->ingest);
	struct buf b = BUF_INIT(4096);
	enum disk_level d = ingest_disk_level(s->ingest);
	int64_t last = stat_gauge_get(&is->last_checkpoint_ns);
	pthread_rwlock_rdlock(&s->cfg_lock);
	uint64_t max_age = s->cfg.checkpoint_max_age_ms;
	pthread_rwlock_unlock(&s->cfg_lock);
	double age = last ? (double)(now_realtime_ns() - last) / 1e9 : -1;
	bool writable = !ingest_failed(s->ingest) && !atomic_load(&s->draining);
	bool disk_ok = d < DISK_ADMIN_SPACE_LEFT;
	bool fresh = last && age * 1000 <= (double)max_age;
	bool ok = writable && disk_ok && fresh;

	buf_printf(&b, "{\"ready\":%s,\"log_writable\":%s,\"disk\":\"%s\",\"checkpoint_age_seconds\":%.3f,"
		   "\"checkpoint_fresh\":%s}\n", ok ? "true" : "false", writable ? "true" : "false",
		   disk_level_name(d), age, fresh ? "true" : "false");
	reply_buf(s, c->r, ok ? 200 : 503, &b);
	buf_release(&b);
}

static void handle_metrics(struct ctx *c)
{
	struct buf b = BUF_INIT(1 << 20);
	if (metrics_render(c->s, &b) < 0)
		reply_error(c->s, c->r, 500, "internal", "metrics did not fit their buffer", 0);
	else
		reply(c->s, c->r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, b.data, b.len);
	buf_release(&b);
}

/* ---- routing ------------------------------------------------------------------- */

static void route(struct server *s, struct hreq *r);

void api_handle(struct server *s, struct hreq *r)
{
	pthread_rwlock_rdlock(&s->log_lock);
	if (!s->log || !s->ingest || !s->index) {
		/* A reopen after a log failure did not succeed (yet). */
		static const char body[] = "{\"error\":{\"code\":\"log_failed\",\"message\":"
			"\"the log is being recovered after an I/O error; retry later\"}}\n";
		static const struct http_hdr h[] = { { "Retry-After", "5" } };
		if (!strcmp(hreq_path(r), "/healthz"))
			reply(s, r, 200, "application/json", NULL, 0, "{\"alive\":true}\n", 15);
		else
			reply(s, r, 503, "application/json", h, 1, body, sizeof(body) - 1);
	} else {
		route(s, r);
	}
	pthread_rwlock_unlock(&s->log_lock);
}

static void route(struct server *s, struct hreq *r)
{
	struct ctx c = { .s = s, .r = r };
	const char *path = hreq_path(r);
	size_t plen = strlen(path);
	enum http_method m = hreq_method(r);
	struct path_match pm;
	bool get = m == HTTP_GET || m == HTTP_HEAD;

	if (get && !strcmp(path, "/healthz")) {
		static const char ok[] = "{\"alive\":true}\n";
		reply(s, r, 200, "application/json", NULL, 0, ok, sizeof(ok) - 1);
		return;
	}
	if (!strcmp(path, "/v1/events") && m == HTTP_POST) {
		if (authorize(&c, PERM_INGEST))
			handle_ingest(&c);
	} else if (!strcmp(path, "/v1/ingest/k8s") && m == HTTP_POST) {
		if (authorize(&c, PERM_INGEST))
			handle_k8s(&c);
	} else if (get && !strcmp(path, "/checkpoint")) {
		if (authorize(&c, PERM_READ_LOG))
			handle_checkpoint(&c);
	} else if (get && plen > 6 && !memcmp(path, "/tile/", 6)) {
		if (authorize(&c, PERM_READ_LOG))
			handle_tile(&c, path);
	} else if (get && !strcmp(path, "/v1/checkpoints")) {
		if (authorize(&c, PERM_READ_LOG))
			handle_checkpoints(&c);
	} else if (get && !strcmp(path, "/v1/keys")) {
		if (authorize(&c, PERM_READ_LOG))
			handle_keys(&c);
	} else if (get && !strcmp(path, "/v1/proof/inclusion")) {
		if (authorize(&c, PERM_PROOF))
			handle_proof_inclusion(&c);
	} else if (get && !strcmp(path, "/v1/proof/consistency")) {
		if (authorize(&c, PERM_PROOF))
			handle_proof_consistency(&c);
	} else if (get && path_match(path, plen, "/v1/events/by-id/{}", &pm)) {
		if (authorize(&c, PERM_READ_EVENTS))
			handle_event_id(&c, &pm);
	} else if (get && path_match(path, plen, "/v1/events/{}", &pm)) {
		if (authorize(&c, PERM_READ_EVENTS))
			handle_event_seq(&c, &pm);
	} else if (get && !strcmp(path, "/v1/events")) {
		if (authorize(&c, PERM_READ_EVENTS))
			handle_search(&c);
	} else if (get && !strcmp(path, "/v1/stats")) {
		if (authorize(&c, PERM_READ_EVENTS))
			handle_stats(&c);
	} else if (get && !strcmp(path, "/v1/timeline")) {
		if (authorize(&c, PERM_READ_EVENTS))
			handle_timeline(&c);
	} else if (!strcmp(path, "/v1/tokens")) {
		if (authorize(&c, PERM_ADMIN))
			handle_tokens(&c, NULL);
	} else if (path_match(path, plen, "/v1/tokens/{}", &pm)) {
		if (authorize(&c, PERM_ADMIN))
			handle_tokens(&c, &pm);
	} else if (get && !strcmp(path, "/v1/quarantine")) {
		if (authorize(&c, PERM_ADMIN))
			handle_quarantine(&c, NULL, 0);
	} else if (get && path_match(path, plen, "/v1/quarantine/{}", &pm)) {
		if (authorize(&c, PERM_ADMIN))
			handle_quarantine(&c, &pm, 0);
	} else if (m == HTTP_POST && path_match(path, plen, "/v1/quarantine/{}/discard", &pm)) {
		if (authorize(&c, PERM_ADMIN))
			handle_quarantine(&c, &pm, 1);
	} else if (m == HTTP_POST && path_match(path, plen, "/v1/quarantine/{}/resubmit", &pm)) {
		/* issue 5: re-validated, then committed through the ingest queue */
		if (authorize(&c, PERM_ADMIN))
			handle_quarantine(&c, &pm, 2);
	} else if (get && !strcmp(path, "/v1/schemas")) {
		if (authorize(&c, PERM_READ_LOG))
			handle_schemas(&c, NULL);
	} else if (get && path_match(path, plen, "/v1/schemas/{}", &pm)) {
		/* issue 5: the versions of one name */
		if (authorize(&c, PERM_READ_LOG))
			handle_schemas(&c, &pm);
	} else if (path_match(path, plen, "/v1/schemas/{}/{}", &pm)) {
		/* reads for any role that reads the log; a publish needs admin */
		if (authorize(&c, m == HTTP_PUT ? PERM_ADMIN : PERM_READ_LOG))
			handle_schemas(&c, &pm);
	} else if (get && !strcmp(path, "/v1/detokenize")) {
		if (authorize(&c, PERM_VAULT))
			handle_detokenize(&c);
	} else if (m == HTTP_POST && !strcmp(path, "/v1/detokenize/export")) {
		if (authorize(&c, PERM_VAULT))
			handle_export(&c);
	} else if (m == HTTP_POST && !strcmp(path, "/v1/erase")) {
		if (authorize(&c, PERM_VAULT))
			handle_erase(&c);
	} else if (get && !strcmp(path, "/v1/capture")) {
		if (authorize(&c, PERM_METRICS))
			handle_capture(&c);
	} else if (get && !strcmp(path, "/readyz")) {
		if (authorize(&c, PERM_METRICS))
			handle_readyz(&c);
	} else if (get && !strcmp(path, "/metrics")) {
		if (authorize(&c, PERM_METRICS))
			handle_metrics(&c);
	} else if (!strcmp(path, "/v1/events") || !strcmp(path, "/checkpoint") ||
		   !strcmp(path, "/metrics") || !strcmp(path, "/healthz")) {
		reply_error(s, r, 405, "method_not_allowed", "this path does not take that method", 0);
	} else {
		reply_error(s, r, 404, "not_found", "no such endpoint (see docs/API.md)", 0);
	}
	if (c.tok)
		token_put(c.tok);
}
