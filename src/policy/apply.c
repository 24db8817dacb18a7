/*
 * apply.c - the redaction step (apply.h).
 *
 * One rewrite_json pass: the callback decides each value from the field
 * rules, else the detectors, and builds replacements in the scratch
 * buffers. Nothing is allocated per event once the scratch buffers have
 * grown; the only I/O is the vault's, for a tokenize of a value it has not
 * seen.
 *
 * Invariants:
 *   1. A value is replaced only by text computed from it by mask, hash or
 *      tokenize (or dropped); the original never reaches s->out, the
 *      `redacted` list, res->err or any counter.
 *   2. An error anywhere (a vault failure, a subject too long) fails the
 *      event: apply_event never returns 0 with a rule left unapplied.
 */
#include "policy/apply.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/util.h"
#include "policy/rewrite.h"
#include "policy/vault.h"

#define HITS_MAX 32

struct red {
	char path[JW_PATH_MAX + 1];
	uint8_t action;
	int8_t det;          /* -1: an explicit rule */
	uint32_t count;
};

/* The views of the last (policy, tenant, action) seen: a request's events
 * are mostly one tenant and a few actions, and a view costs a tenant
 * lookup and a glob per section. Keyed by policy_serial, never by the
 * pointer, so a policy freed and another allocated at its address cannot
 * hit. Longer keys are not cached. */
#define VIEW_CACHE 8
#define VIEW_KEY_MAX 64

struct vslot {
	uint64_t serial;                 /* 0: empty */
	uint8_t tl, al;
	char tenant[VIEW_KEY_MAX];
	char action[VIEW_KEY_MAX];
	struct policy_view v;
};

struct actx {
	const struct apply_env *env;
	char tenant[VAULT_TENANT_MAX + 1];
	size_t tl;
	const uint8_t *in;
	size_t n;
	/* the tenant's HMAC state, derived on the first hash and kept for
	 * the next events of the same tenant (the scratch lives for one
	 * request; a batch is usually one tenant) */
	struct hmac_sha256 hk;
	char hk_tenant[VAULT_TENANT_MAX + 1];
	bool hk_ready;
	const struct policy_view *view;  /* in vc[] or in own_view */
	struct policy_view own_view;
	struct vslot vc[VIEW_CACHE];
	unsigned vc_next;
	bool k8s_secret;
	struct apply_scratch *s;
	struct apply_result *res;
	int err;
	/* a rule on an object or array, applied to the strings inside it */
	const struct policy_rule *inherit;
	int inherit_depth;
	struct red red[APPLY_REDACTED_MAX];
	size_t nred;
	uint64_t more;
};

static void note(struct actx *a, const struct jw_leaf *lf, enum policy_action act, int det)
{
	for (size_t i = 0; i < a->nred; i++) {
		struct red *r = &a->red[i];
		if (r->action == act && r->det == det && strlen(r->path) == lf->path_len &&
		    !memcmp(r->path, lf->path, lf->path_len)) {
			r->count++;
			return;
		}
	}
	if (a->nred == APPLY_REDACTED_MAX) {
		a->more++;
		return;
	}
	struct red *r = &a->red[a->nred++];
	memcpy(r->path, lf->path, lf->path_len);
	r->path[lf->path_len] = 0;
	r->action = (uint8_t)act;
	r->det = (int8_t)det;
	r->count = 1;
}

static void fail(struct actx *a, const struct jw_leaf *lf, int err, const char *what)
{
	if (a->err)
		return;
	a->err = err < 0 ? err : ST_EINVAL;
	/* the path is cut to leave room for why */
	int pl = lf->path_len > 64 ? 64 : (int)lf->path_len;
	snprintf(a->res->err, sizeof(a->res->err), "field %.*s: %.120s", pl, lf->path, what);
}

static const struct policy_view *view_of(struct actx *a, const struct policy *p,
					 const char *tenant, size_t tl, const char *action, size_t al)
{
	uint64_t serial = policy_serial(p);
	if (tl > VIEW_KEY_MAX || al > VIEW_KEY_MAX || !action || !tenant) {
		policy_view(p, tenant, tl, action, al, &a->own_view);
		return &a->own_view;
	}
	for (unsigned i = 0; i < VIEW_CACHE; i++) {
		const struct vslot *e = &a->vc[i];
		if (e->serial == serial && e->tl == tl && e->al == al &&
		    !memcmp(e->tenant, tenant, tl) && !memcmp(e->action, action, al))
			return &e->v;
	}
	struct vslot *e = &a->vc[a->vc_next];
	a->vc_next = (a->vc_next + 1) % VIEW_CACHE;
	policy_view(p, tenant, tl, action, al, &e->v);
	e->serial = serial;
	e->tl = (uint8_t)tl;
	e->al = (uint8_t)al;
	memcpy(e->tenant, tenant, tl);
	memcpy(e->action, action, al);
	return &e->v;
}

/* ---- the transformations ----------------------------------------------- */

/* The tenant's HMAC key: BLAKE2b(policy key; "hash\0" tenant). */
static void tenant_key(const uint8_t key[APPLY_KEY_BYTES], const char *tenant, size_t tl,
		       struct hmac_sha256 *hk)
{
	uint8_t tkey[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, APPLY_KEY_BYTES, sizeof(tkey));
	crypto_generichash_update(&st, (const uint8_t *)"hash", 5);
	crypto_generichash_update(&st, (const uint8_t *)tenant, tl);
	crypto_generichash_final(&st, tkey, sizeof(tkey));
	hmac_sha256_key(hk, tkey, sizeof(tkey));
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(tkey, sizeof(tkey));
}

static int hash_with(const struct hmac_sha256 *hk, const char *value, size_t n, struct buf *out)
{
	uint8_t mac[HASH_SIZE];
	char b64[BASE64_LEN(16) + 1];
	int r;

	hmac_sha256(hk, value, n, mac);
	base64_encode(mac, 16, b64);
	/* base64url, no padding */
	for (char *p = b64; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	if ((r = buf_append(out, APPLY_HASH_PREFIX, sizeof(APPLY_HASH_PREFIX) - 1)) < 0)
		return r;
	return buf_append(out, b64, APPLY_HASH_CHARS);
}

int apply_hash(const uint8_t key[APPLY_KEY_BYTES], const char *tenant, size_t tl,
	       const char *value, size_t n, struct buf *out)
{
	struct hmac_sha256 hk;
	tenant_key(key, tenant, tl, &hk);
	int r = hash_with(&hk, value, n, out);
	sodium_memzero(&hk, sizeof(hk));
	return r;
}

static bool is_cont(uint8_t c)
{
	return (c & 0xC0) == 0x80;
}

int apply_mask(const char *value, size_t n, unsigned keep_prefix, unsigned keep_suffix,
	       struct buf *out)
{
	const uint8_t *v = (const uint8_t *)value;
	size_t cps = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		cps += !is_cont(v[i]);
	/* Never more kept than masked: a short value is masked whole. */
	if ((size_t)keep_prefix + keep_suffix >= cps)
		keep_prefix = keep_suffix = 0;
	/* at most n bytes out (a '*' is never longer than what it hides) */
	if ((r = buf_reserve(out, n)) < 0)
		return r;
	uint8_t *o = out->data + out->len;
	size_t cp = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && is_cont(v[j]))
			j++;
		if (cp < keep_prefix || cp >= cps - keep_suffix) {
			memcpy(o, v + i, j - i);
			o += j - i;
		} else {
			*o++ = '*';
		}
		cp++;
		i = j;
	}
	out->len = (size_t)(o - out->data);
	return 0;
}

/* The first string value at the dotted path (a tokenize rule's subject). */
struct find {
	const char *path;
	size_t len;
	const char *val;
	size_t val_len;
	char copy[VAULT_SUBJECT_MAX];
};

static int find_leaf(void *arg, const struct jw_leaf *lf)
{
	struct find *f = arg;
	if (lf->type != JW_STRING || lf->path_len != f->len || memcmp(lf->path, f->path, f->len))
		return 0;
	if (lf->val_len > sizeof(f->copy))
		return ST_ELIMIT;
	memcpy(f->copy, lf->val, lf->val_len);
	f->val = f->copy;
	f->val_len = lf->val_len;
	return 1;
}

static int transform(struct actx *a, const struct jw_leaf *lf, const struct policy_rule *rule,
		     enum policy_action act, const char *v, size_t n, struct buf *out)
{
	int r;

	switch (act) {
	case POLICY_MASK:
		return apply_mask(v, n, rule ? rule->keep_prefix : 0, rule ? rule->keep_suffix : 0, out);
	case POLICY_HASH:
		if (!a->hk_ready || strcmp(a->hk_tenant, a->tenant)) {
			tenant_key(a->env->key, a->tenant, a->tl, &a->hk);
			memcpy(a->hk_tenant, a->tenant, a->tl + 1);
			a->hk_ready = true;
		}
		return hash_with(&a->hk, v, n, out);
	case POLICY_TOKENIZE: {
		char tok[VAULT_TOKEN_LEN + 1], why[160];
		struct find f = { 0 };
		if (n == 0)
			return 0;     /* nothing to hide: stays "" */
		if (!a->env->vault) {
			fail(a, lf, ST_EINVAL, "tokenize needs the token vault, which is not open");
			return ST_EINVAL;
		}
		if (rule && rule->subject) {
			f.path = rule->subject;
			f.len = rule->subject_len;
			r = jwalk(a->in, a->n, find_leaf, &f);
			if (r == ST_ELIMIT) {
				fail(a, lf, ST_ELIMIT, "the tokenize subject's value is longer than 1024 bytes");
				return ST_ELIMIT;
			}
		}
		/* staged: the caller waits once for every token of its request
		 * (vault_wait on res->vault_batch) before the event is stored */
		uint64_t batch = 0;
		r = vault_tokenize_staged(a->env->vault, a->tenant, f.val, f.val_len, v, n, tok, &batch,
					  why, sizeof(why));
		if (r >= 0 && batch > a->res->vault_batch)
			a->res->vault_batch = batch;
		sodium_memzero(f.copy, sizeof(f.copy));
		if (r < 0) {
			char msg[200];
			snprintf(msg, sizeof(msg), "tokenize: %.150s", why);
			fail(a, lf, r, msg);
			return r;
		}
		return buf_append(out, tok, VAULT_TOKEN_LEN);
	}
	default:
		return ST_EINVAL;
	}
}

/* ---- the walk ------------------------------------------------------------ */

/* Detectors on a string; returns the action on the whole value. */
static enum rw_action detect(struct actx *a, const struct jw_leaf *lf, bool keep_only,
			     struct buf *repl)
{
	struct det_hit hits[HITS_MAX];
	uint32_t on = a->view->det_on;
	size_t nh = 0;

	if (a->k8s_secret && (on & DET_BIT(DET_K8S_SECRET)) &&
	    detect_k8s_secret_path(lf->path, lf->path_len)) {
		hits[0] = (struct det_hit){ 0, (uint32_t)lf->val_len, DET_K8S_SECRET };
		nh = 1;
	} else {
		nh = detect_scan(lf->val, lf->val_len, on & ~DET_BIT(DET_K8S_SECRET), hits, HITS_MAX);
	}
	if (nh == 0)
		return RW_KEEP;
	if (keep_only) {
		for (size_t i = 0; i < nh && i < HITS_MAX; i++)
			a->res->counts.misses[hits[i].det]++;
		return RW_KEEP;
	}
	if (nh > HITS_MAX) {
		/* More hits than we track: the whole value goes the first one's way. */
		hits[0] = (struct det_hit){ 0, (uint32_t)lf->val_len, hits[0].det };
		nh = 1;
	}
	/* A drop anywhere drops the value. */
	for (size_t i = 0; i < nh; i++) {
		const struct policy_rule *d = policy_detector(a->view, (enum detector)hits[i].det);
		if (d && d->action == POLICY_DROP) {
			a->res->counts.by_det[hits[i].det][POLICY_DROP]++;
			note(a, lf, POLICY_DROP, hits[i].det);
			return RW_DROP;
		}
	}
	size_t at = 0;
	bool changed = false;
	for (size_t i = 0; i < nh; i++) {
		const struct det_hit *h = &hits[i];
		const struct policy_rule *d = policy_detector(a->view, (enum detector)h->det);
		enum policy_action act = d ? d->action : POLICY_MASK;
		if (act == POLICY_KEEP) {
			a->res->counts.misses[h->det]++;
			continue;
		}
		if (buf_append(repl, lf->val + at, h->off - at) < 0 ||
		    transform(a, lf, d, act, lf->val + h->off, h->len, repl) < 0) {
			fail(a, lf, -ENOMEM, "the redacted value could not be built");
			return RW_KEEP;
		}
		at = h->off + h->len;
		a->res->counts.by_det[h->det][act]++;
		note(a, lf, act, h->det);
		changed = true;
	}
	if (!changed)
		return RW_KEEP;
	if (buf_append(repl, lf->val + at, lf->val_len - at) < 0) {
		fail(a, lf, -ENOMEM, "the redacted value could not be built");
		return RW_KEEP;
	}
	return RW_REPLACE;
}

static enum rw_action on_value(void *arg, const struct jw_leaf *lf, struct buf *repl)
{
	struct actx *a = arg;
	bool container = lf->type == JW_OBJECT || lf->type == JW_ARRAY;

	if (a->err)
		return RW_KEEP;
	/* The event's identity is never rewritten: the log keys idempotency
	 * on id, scopes by tenant, orders by time, and the view is the
	 * action's. */
	if (lf->depth == 1 && ((lf->path_len == 2 && !memcmp(lf->path, "id", 2)) ||
			       (lf->path_len == 4 && !memcmp(lf->path, "time", 4)) ||
			       (lf->path_len == 6 && (!memcmp(lf->path, "tenant", 6) ||
						      !memcmp(lf->path, "action", 6)))))
		return RW_KEEP;
	if (a->inherit && lf->depth <= a->inherit_depth)
		a->inherit = NULL;
	/* the path's key, made once for both lookups */
	struct policy_key key;
	bool crit_q = a->view->has_crit_fields && !container;
	bool field_q = !a->inherit && a->view->has_fields && !lf->path_cut;
	if (crit_q || field_q)
		policy_key(&key, lf->path, lf->path_len);
	if (crit_q)
		a->res->crit = policy_crit_field_key(a->view, &key, lf->val, lf->val_len, a->res->crit);

	const struct policy_rule *rule = a->inherit;
	if (field_q)
		rule = policy_field_key(a->view, &key, container ? NULL : lf->val,
					container ? 0 : lf->val_len);
	if (!rule)
		return lf->type == JW_STRING ? detect(a, lf, false, repl) : RW_KEEP;

	if (rule->action == POLICY_DROP) {
		a->res->counts.by_rule[POLICY_DROP]++;
		note(a, lf, POLICY_DROP, -1);
		return RW_DROP;
	}
	if (container) {
		/* keep, mask, hash, tokenize: for what is inside */
		if (!a->inherit) {
			a->inherit = rule;
			a->inherit_depth = lf->depth;
		}
		return RW_KEEP;
	}
	if (rule->action == POLICY_KEEP)
		return lf->type == JW_STRING ? detect(a, lf, true, repl) : RW_KEEP;
	if (transform(a, lf, rule, rule->action, lf->val, lf->val_len, repl) < 0) {
		if (!a->err)
			fail(a, lf, -ENOMEM, "the redacted value could not be built");
		return RW_KEEP;
	}
	a->res->counts.by_rule[rule->action]++;
	note(a, lf, rule->action, -1);
	return RW_REPLACE;
}

static int put_lit(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static int put_redacted(const struct actx *a, struct buf *b)
{
	char num[24];
	int r = put_lit(b, ",\"redacted\":[");
	for (size_t i = 0; r == 0 && i < a->nred; i++) {
		const struct red *e = &a->red[i];
		if ((r = put_lit(b, i ? ",{\"path\":" : "{\"path\":")) < 0 ||
		    (r = json_put_str(b, e->path, strlen(e->path))) < 0 ||
		    (r = put_lit(b, ",\"action\":\"")) < 0 ||
		    (r = put_lit(b, policy_action_name((enum policy_action)e->action))) < 0 ||
		    (r = buf_putc(b, '"')) < 0)
			break;
		if (e->det >= 0 &&
		    ((r = put_lit(b, ",\"detector\":\"")) < 0 ||
		     (r = put_lit(b, detector_name((enum detector)e->det))) < 0 ||
		     (r = buf_putc(b, '"')) < 0))
			break;
		if (e->count > 1) {
			snprintf(num, sizeof(num), "%u", e->count);
			if ((r = put_lit(b, ",\"count\":")) < 0 || (r = put_lit(b, num)) < 0)
				break;
		}
		r = buf_putc(b, '}');
	}
	if (r == 0 && a->more) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)a->more);
		if ((r = put_lit(b, a->nred ? ",{\"more\":" : "{\"more\":")) == 0 &&
		    (r = put_lit(b, num)) == 0)
			r = buf_putc(b, '}');
	}
	if (r == 0)
		r = buf_putc(b, ']');
	return r;
}

void apply_scratch_init(struct apply_scratch *s)
{
	s->out = (struct buf)BUF_INIT(1 << 20);
	s->repl = (struct buf)BUF_INIT(1 << 20);
	s->redacted = (struct buf)BUF_INIT(1 << 16);
	s->a = NULL;
}

void apply_scratch_release(struct apply_scratch *s)
{
	buf_release(&s->out);
	buf_release(&s->repl);
	buf_release(&s->redacted);
	if (s->a)
		sodium_memzero(&s->a->hk, sizeof(s->a->hk));
	free(s->a);
	s->a = NULL;
}

int apply_event(const struct apply_env *env, const char *tenant, size_t tl,
		const struct event_info *info, const uint8_t *in, size_t n,
		struct apply_scratch *s, struct apply_result *res)
{
	struct actx *a;
	int r;

	/* all but err's bytes after the first (a 200-byte memset per event
	 * showed in profiles) */
	res->crit = POLICY_CRIT_UNSET;
	res->sample = NULL;
	res->schema = NULL;
	res->changed = 0;
	res->vault_batch = 0;
	memset(&res->counts, 0, sizeof(res->counts));
	res->err[0] = 0;
	buf_reset(&s->out);
	buf_reset(&s->redacted);
	if (tl > VAULT_TENANT_MAX) {
		snprintf(res->err, sizeof(res->err), "tenant longer than %d bytes", VAULT_TENANT_MAX);
		return ST_ELIMIT;
	}
	if (!s->a) {
		if (!(s->a = malloc(sizeof(*s->a))))
			return -ENOMEM;
		s->a->hk_ready = false;
		for (unsigned i = 0; i < VIEW_CACHE; i++)
			s->a->vc[i].serial = 0;
		s->a->vc_next = 0;
	}
	a = s->a;
	/* Only the fields an event starts from; red[] is written before it
	 * is read (nred), view by policy_view. */
	a->err = 0;
	a->inherit = NULL;
	a->inherit_depth = 0;
	a->nred = 0;
	a->more = 0;
	a->env = env;
	memcpy(a->tenant, tenant, tl);
	a->tenant[tl] = 0;
	a->tl = tl;
	a->in = in;
	a->n = n;
	a->s = s;
	a->res = res;
	a->view = view_of(a, env->policy, tenant, tl, info->action, info->action_len);
	a->k8s_secret = detect_k8s_secret_event(info->resource_type, info->resource_type_len, NULL, 0);
	res->crit = a->view->crit;

	r = rewrite_json(in, n, on_value, a, &s->repl, &s->out, &res->changed);
	if (r == 0 && a->err)
		r = a->err;
	if (r == 0 && (a->nred || a->more))
		r = put_redacted(a, &s->redacted);
	if (r < 0 && !res->err[0])
		snprintf(res->err, sizeof(res->err), "the event could not be rewritten: %s",
			 st_strerror(r));
	res->crit = policy_crit_final(res->crit);
	if (r == 0) {
		res->sample = policy_sample(a->view, info->outcome, info->outcome_len, res->crit);
		res->schema = policy_view_schema(a->view);
	}
	return r;
}
