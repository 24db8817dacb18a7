/*
 * syslog_map.c - syslog message to event (contract in syslog_map.h).
 *
 * Invariants:
 *  1. Every line written is an event event_parse accepts: required members
 *     are always present and non-empty, strings go through json_put_str
 *     (invalid UTF-8 becomes U+FFFD), `time` is a stamp rfc3339_parse
 *     accepted, `outcome` one of the four words, `id` 1..128 printable
 *     bytes, and no object holds a key twice (repeated SD-IDs and CEF keys
 *     keep their first, repeated PARAM-NAMEs become an array).
 *  2. The same message and receipt time map to the same bytes.
 *  3. Nothing is lost for its size: three passes, each dropping more of the
 *     bulk (cut values; no msg; no sd or extension), until the line fits.
 */
#include "ingest/syslog_map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "ingest/cef.h"

static const char *const field_names[SF_COUNT] = {
	"id", "time", "action", "actor.id", "actor.type", "actor.name", "actor.ip",
	"actor.user_agent", "resource.id", "resource.type", "resource.name", "outcome", "reason",
	"request_id", "trace_id",
};

int syslog_field_parse(const char *name)
{
	for (int i = 0; i < SF_COUNT; i++)
		if (!strcmp(name, field_names[i]))
			return i;
	return -1;
}

const char *syslog_field_name(enum syslog_field f)
{
	return (unsigned)f < SF_COUNT ? field_names[f] : "?";
}

void syslog_map_rules_default(struct syslog_map_rules *r)
{
	static const struct { const char *param; enum syslog_field f; } d[] = {
		{ "id", SF_ID }, { "time", SF_TIME }, { "action", SF_ACTION },
		{ "actor", SF_ACTOR_ID }, { "actor_type", SF_ACTOR_TYPE },
		{ "actor_name", SF_ACTOR_NAME }, { "actor_ip", SF_ACTOR_IP },
		{ "user_agent", SF_ACTOR_UA }, { "resource", SF_RESOURCE_ID },
		{ "resource_type", SF_RESOURCE_TYPE }, { "resource_name", SF_RESOURCE_NAME },
		{ "outcome", SF_OUTCOME }, { "reason", SF_REASON },
		{ "request_id", SF_REQUEST_ID }, { "trace_id", SF_TRACE_ID },
	};
	for (size_t i = 0; i < ARRAY_SIZE(d) && r->n < SYSLOG_MAP_RULES_MAX; i++) {
		struct syslog_map_rule *x = &r->r[r->n++];
		snprintf(x->sd_id, sizeof(x->sd_id), "audit@32473");
		snprintf(x->param, sizeof(x->param), "%s", d[i].param);
		x->field = d[i].f;
	}
}

static bool sd_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SYSLOG_MAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c < 33 || c > 126 || c == '=' || c == ']' || c == '"')
			return false;
	}
	return true;
}

int syslog_map_rule_add(struct syslog_map_rules *r, const char *text, char *why, size_t cap)
{
	const char *w[4];
	size_t wl[4], nw = 0;
	const char *p = text;

	while (*p && nw < 4) {
		p += strspn(p, " \t");
		if (!*p)
			break;
		w[nw] = p;
		wl[nw] = strcspn(p, " \t");
		p += wl[nw++];
	}
	if (nw != 3 || *p) {
		snprintf(why, cap, "syslog_map: expected \"SD-ID PARAM FIELD\", found \"%s\"", text);
		return ST_EINVAL;
	}
	if (!sd_name_ok(w[0], wl[0]) || !sd_name_ok(w[1], wl[1])) {
		snprintf(why, cap, "syslog_map: SD-ID and PARAM are 1..32 printable characters other than = ] \"");
		return ST_EINVAL;
	}
	char f[32];
	snprintf(f, sizeof(f), "%.*s", (int)(wl[2] < 31 ? wl[2] : 31), w[2]);
	int fi = wl[2] < 31 ? syslog_field_parse(f) : -1;
	if (fi < 0) {
		snprintf(why, cap, "syslog_map: unknown field \"%.*s\" (id, time, action, actor.id, actor.type, "
			 "actor.name, actor.ip, actor.user_agent, resource.id, resource.type, resource.name, "
			 "outcome, reason, request_id, trace_id)", (int)(wl[2] < 64 ? wl[2] : 64), w[2]);
		return ST_EINVAL;
	}
	if (r->n == SYSLOG_MAP_RULES_MAX) {
		snprintf(why, cap, "syslog_map: at most %d rules", SYSLOG_MAP_RULES_MAX);
		return ST_ELIMIT;
	}
	struct syslog_map_rule *x = &r->r[r->n++];
	snprintf(x->sd_id, sizeof(x->sd_id), "%.*s", (int)wl[0], w[0]);
	snprintf(x->param, sizeof(x->param), "%.*s", (int)wl[1], w[1]);
	x->field = (enum syslog_field)fi;
	return 0;
}

/* ---- values ---------------------------------------------------------------- */

enum dec { DEC_RAW, DEC_SD, DEC_CEF_HDR, DEC_CEF_EXT };

struct fv {
	const uint8_t *p;            /* NULL: unset */
	size_t len;
	enum dec dec;
};

/* The sizes of one pass (invariant 3). */
struct caps {
	size_t msg;                  /* bytes of MSG kept; 0: left out */
	size_t value;                /* bytes of each SD or extension value */
	bool sd;                     /* sd and the CEF extension in metadata */
};

struct mctx {
	const struct syslog_msg *m;
	struct buf *out;
	struct buf *scratch;
	bool truncated;
	const char *client_cert;     /* the connection's verified subject DN, or NULL */
};

static int decode(struct mctx *c, const struct fv *v, const uint8_t **p, size_t *n)
{
	if (v->dec == DEC_RAW) {
		*p = v->p;
		*n = v->len;
		return 0;
	}
	buf_reset(c->scratch);
	int r = buf_reserve(c->scratch, v->len + 1);
	if (r < 0)
		return r;
	if (v->dec == DEC_SD) {
		*n = syslog_param_decode((struct syslog_slice){ v->p, v->len }, c->scratch->data);
	} else {
		struct cef_str s = { v->p, v->len, true };
		*n = cef_decode(&s, v->dec == DEC_CEF_EXT, c->scratch->data);
	}
	*p = c->scratch->data;
	return 0;
}

/* Below event_parse's default max_string (32768), with room. */
#define STRING_MAX 30000

/* At most cap bytes, cut at a UTF-8 boundary. */
static size_t cut(const uint8_t *p, size_t n, size_t cap)
{
	if (n <= cap)
		return n;
	size_t k = cap;
	while (k > 0 && (p[k] & 0xC0) == 0x80)
		k--;
	return k;
}

static int put_val(struct mctx *c, const struct fv *v, size_t cap)
{
	const uint8_t *p;
	size_t n;
	int r = decode(c, v, &p, &n);
	if (r < 0)
		return r;
	size_t k = cut(p, n, cap), before = c->out->len;
	if (k < n)
		c->truncated = true;
	/* event_parse's max_string counts the string as written: escapes make
	 * it up to 6 times the bytes, so cut further until it fits */
	for (;;) {
		if ((r = json_put_str(c->out, (const char *)p, k)) < 0)
			return r;
		if (c->out->len - before <= STRING_MAX || k == 0)
			return 0;
		c->out->len = before;
		k = cut(p, k, k / 2);
		c->truncated = true;
	}
}

static int put_raw(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static int put_key(struct mctx *c, bool *first, const char *key)
{
	int r;
	if (!*first && (r = buf_putc(c->out, ',')) < 0)
		return r;
	*first = false;
	if ((r = json_put_str(c->out, key, strlen(key))) < 0)
		return r;
	return buf_putc(c->out, ':');
}

static int put_slice_member(struct mctx *c, bool *first, const char *key, struct syslog_slice s)
{
	int r;
	if (!s.p)
		return 0;
	if ((r = put_key(c, first, key)) < 0)
		return r;
	return json_put_str(c->out, (const char *)s.p, s.len);
}

static bool eq(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	return n == k && !memcmp(p, s, k);
}

static bool eq_ci(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	if (n != k)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t a = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];
		if (a != (uint8_t)s[i])
			return false;
	}
	return true;
}

/* An outcome word to one of the four, or NULL. */
static const char *outcome_word(const uint8_t *p, size_t n)
{
	static const char *const succ[] = { "success", "succeeded", "successful", "ok", "allow",
					    "allowed", "accept", "accepted", "permit", "permitted", "pass" };
	static const char *const fail_w[] = { "failure", "failed", "fail", "error", "err" };
	static const char *const deny[] = { "denied", "deny", "block", "blocked", "reject",
					    "rejected", "drop", "dropped", "forbidden", "refused" };
	for (size_t i = 0; i < ARRAY_SIZE(succ); i++)
		if (eq_ci(p, n, succ[i]))
			return "success";
	for (size_t i = 0; i < ARRAY_SIZE(fail_w); i++)
		if (eq_ci(p, n, fail_w[i]))
			return "failure";
	for (size_t i = 0; i < ARRAY_SIZE(deny); i++)
		if (eq_ci(p, n, deny[i]))
			return "denied";
	if (eq_ci(p, n, "unknown"))
		return "unknown";
	return NULL;
}

/* Appends one action segment: lower case, [a-z0-9_-], others '_', at
 * most 63 bytes; "unknown" when empty. */
static size_t segment(char *o, const uint8_t *p, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < 63; i++) {
		uint8_t ch = p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch + 32);
		o[k++] = (char)((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
				ch == '_' ? ch : '_');
	}
	if (k == 0) {
		memcpy(o, "unknown", 7);
		k = 7;
	}
	return k;
}

/* An id: 1..128 bytes of printable ASCII other than '"' and '\'. */
static bool id_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
			return false;
	return true;
}

/* ---- the passes --------------------------------------------------------------- */

struct fields {
	struct fv v[SF_COUNT];
	const char *actor_type;          /* a literal, when v[SF_ACTOR_TYPE] is unset */
	const char *resource_type;
	const char *outcome;             /* a literal, when v[SF_OUTCOME] is unset or no word */
	char action[200];
	char rid[200];
	char id[200];
	char time[RFC3339_US_LEN + 1];
	bool time_missing;
};

static void set(struct fields *f, enum syslog_field k, const uint8_t *p, size_t n, enum dec d)
{
	if (!f->v[k].p && p && n)
		f->v[k] = (struct fv){ p, n, d };
}

static void set_cef(struct fields *f, enum syslog_field k, const struct cef_msg *cm, const char *key)
{
	const struct cef_str *s = cef_get(cm, key);
	if (s && s->len)
		set(f, k, s->p, s->len, cm->kind == CEF_CEF ? DEC_CEF_EXT : DEC_RAW);
}

static void from_cef(struct fields *f, const struct cef_msg *cm)
{
	bool cef = cm->kind == CEF_CEF;
	bool had_actor = f->v[SF_ACTOR_ID].p != NULL;
	set_cef(f, SF_ACTOR_ID, cm, cef ? "suser" : "usrName");
	if (!had_actor && f->v[SF_ACTOR_ID].p)
		f->actor_type = "user";
	if (!f->v[SF_ACTOR_ID].p) {
		set_cef(f, SF_ACTOR_ID, cm, "src");
		if (!cef)
			set_cef(f, SF_ACTOR_ID, cm, "srcName");
		set_cef(f, SF_ACTOR_ID, cm, "shost");
		if (!had_actor && f->v[SF_ACTOR_ID].p)
			f->actor_type = "host";
	}
	set_cef(f, SF_ACTOR_IP, cm, "src");
	set_cef(f, SF_ACTOR_UA, cm, "requestClientApplication");
	static const struct { const char *key; const char *type; } res[] = {
		{ "duser", "user" }, { "usrName2", "user" }, { "fname", "file" }, { "filePath", "file" },
		{ "request", "url" }, { "url", "url" }, { "dhost", "host" }, { "dstName", "host" },
		{ "dst", "host" },
	};
	if (!f->v[SF_RESOURCE_ID].p) {
		for (size_t i = 0; i < ARRAY_SIZE(res) && !f->v[SF_RESOURCE_ID].p; i++) {
			set_cef(f, SF_RESOURCE_ID, cm, res[i].key);
			if (f->v[SF_RESOURCE_ID].p)
				f->resource_type = res[i].type;
		}
	}
	if (!f->v[SF_ACTION].p) {
		const struct cef_str *act = cef ? cef_get(cm, "act") : NULL;
		size_t k = 0;
		k += (size_t)snprintf(f->action, 6, "%s", cef ? "cef." : "leef.");
		k += segment(f->action + k, cm->vendor.p, cm->vendor.len);
		f->action[k++] = '.';
		k += segment(f->action + k, cm->product.p, cm->product.len);
		f->action[k++] = '.';
		if (act && act->len)
			k += segment(f->action + k, act->p, act->len);
		else
			k += segment(f->action + k, cm->sig_id.p, cm->sig_id.len);
		f->v[SF_ACTION] = (struct fv){ (const uint8_t *)f->action, k, DEC_RAW };
	}
	if (!f->v[SF_OUTCOME].p && !f->outcome) {
		const struct cef_str *o = cef_get(cm, "outcome");
		const struct cef_str *act = cef_get(cm, cef ? "act" : "action");
		const char *w = o ? outcome_word(o->p, o->len) : NULL;
		if (!w && act)
			w = outcome_word(act->p, act->len);
		if (!w && cef && cm->severity.len) {
			const uint8_t *s = cm->severity.p;
			size_t n = cm->severity.len;
			bool high = eq_ci(s, n, "high") || eq_ci(s, n, "very-high") ||
				    (n == 1 && s[0] >= '7' && s[0] <= '9') || eq(s, n, "10");
			if (high)
				w = "failure";
		}
		if (w)
			f->outcome = w;
	}
	if (cef && cm->name.len)
		set(f, SF_REASON, cm->name.p, cm->name.len, DEC_CEF_HDR);
	const struct cef_str *xid = cef_get(cm, "externalId");
	if (!f->v[SF_ID].p && xid && id_ok(xid->p, xid->len) && !xid->escaped) {
		size_t k = (size_t)snprintf(f->id, 6, "%s", cef ? "cef-" : "leef-");
		k += segment(f->id + k, cm->vendor.p, cm->vendor.len < 24 ? cm->vendor.len : 24);
		f->id[k++] = '-';
		k += segment(f->id + k, cm->product.p, cm->product.len < 24 ? cm->product.len : 24);
		f->id[k++] = '-';
		size_t room = 128 - k;
		if (xid->len <= room) {
			memcpy(f->id + k, xid->p, xid->len);
			k += xid->len;
			f->v[SF_ID] = (struct fv){ (const uint8_t *)f->id, k, DEC_RAW };
		}
	}
}

/* metadata.sd: {"SD-ID":{"PARAM":value or [values]}}; a repeated SD-ID
 * keeps its first element. */
static int put_sd(struct mctx *c, const struct caps *cp)
{
	const struct syslog_msg *m = c->m;
	int r;
	if ((r = buf_puts(c->out, ",\"sd\":{")) < 0)
		return r;
	bool first_e = true;
	for (size_t e = 0; e < m->nsd; e++) {
		const struct syslog_sd *el = &m->sd[e];
		bool dup = false;
		for (size_t k = 0; k < e && !dup; k++)
			dup = m->sd[k].id.len == el->id.len && !memcmp(m->sd[k].id.p, el->id.p, el->id.len);
		if (dup)
			continue;
		if (!first_e && (r = buf_putc(c->out, ',')) < 0)
			return r;
		first_e = false;
		if ((r = json_put_str(c->out, (const char *)el->id.p, el->id.len)) < 0 ||
		    (r = buf_puts(c->out, ":{")) < 0)
			return r;
		bool first_p = true;
		for (size_t i = el->first; i < (size_t)el->first + el->count; i++) {
			const struct syslog_param *pa = &m->params[i];
			bool seen = false;
			size_t nsame = 0;
			for (size_t k = el->first; k < i && !seen; k++)
				seen = m->params[k].name.len == pa->name.len &&
				       !memcmp(m->params[k].name.p, pa->name.p, pa->name.len);
			if (seen)
				continue;
			for (size_t k = i; k < (size_t)el->first + el->count; k++)
				nsame += m->params[k].name.len == pa->name.len &&
					 !memcmp(m->params[k].name.p, pa->name.p, pa->name.len);
			if (!first_p && (r = buf_putc(c->out, ',')) < 0)
				return r;
			first_p = false;
			if ((r = json_put_str(c->out, (const char *)pa->name.p, pa->name.len)) < 0 ||
			    (r = buf_putc(c->out, ':')) < 0)
				return r;
			if (nsame > 1 && (r = buf_putc(c->out, '[')) < 0)
				return r;
			bool first_v = true;
			for (size_t k = i; k < (size_t)el->first + el->count; k++) {
				const struct syslog_param *q = &m->params[k];
				if (q->name.len != pa->name.len || memcmp(q->name.p, pa->name.p, pa->name.len))
					continue;
				if (!first_v && (r = buf_putc(c->out, ',')) < 0)
					return r;
				first_v = false;
				struct fv v = { q->value.p, q->value.len, q->escaped ? DEC_SD : DEC_RAW };
				if ((r = put_val(c, &v, cp->value)) < 0)
					return r;
			}
			if (nsame > 1 && (r = buf_putc(c->out, ']')) < 0)
				return r;
		}
		if ((r = buf_putc(c->out, '}')) < 0)
			return r;
	}
	return buf_putc(c->out, '}');
}

static int put_cef(struct mctx *c, const struct cef_msg *cm, const struct caps *cp)
{
	bool cef = cm->kind == CEF_CEF;
	bool first = true;
	int r;
	enum dec hd = cef ? DEC_CEF_HDR : DEC_RAW;
	struct { const char *k; const struct cef_str *s; } h[] = {
		{ "version", &cm->version }, { "vendor", &cm->vendor }, { "product", &cm->product },
		{ "device_version", &cm->dev_version },
		{ cef ? "signature_id" : "event_id", &cm->sig_id },
		{ "name", &cm->name }, { "severity", &cm->severity },
	};
	if ((r = buf_puts(c->out, cef ? ",\"cef\":{" : ",\"leef\":{")) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
		if (!h[i].s->p)
			continue;
		struct fv v = { h[i].s->p, h[i].s->len, hd };
		if ((r = put_key(c, &first, h[i].k)) < 0 || (r = put_val(c, &v, 1024)) < 0)
			return r;
	}
	if (cp->sd && cm->next) {
		if ((r = put_key(c, &first, "ext")) < 0 || (r = buf_putc(c->out, '{')) < 0)
			return r;
		bool fe = true;
		for (size_t i = 0; i < cm->next; i++) {
			const struct cef_pair *pr = &cm->ext[i];
			bool dup = false;
			for (size_t k = 0; k < i && !dup; k++)
				dup = cm->ext[k].key.len == pr->key.len &&
				      !memcmp(cm->ext[k].key.p, pr->key.p, pr->key.len);
			if (dup)
				continue;
			struct fv v = { pr->value.p, pr->value.len, cef ? DEC_CEF_EXT : DEC_RAW };
			if (!fe && (r = buf_putc(c->out, ',')) < 0)
				return r;
			fe = false;
			if ((r = json_put_str(c->out, (const char *)pr->key.p, pr->key.len)) < 0 ||
			    (r = buf_putc(c->out, ':')) < 0 || (r = put_val(c, &v, cp->value)) < 0)
				return r;
		}
		if ((r = buf_putc(c->out, '}')) < 0)
			return r;
	}
	return buf_putc(c->out, '}');
}

static int put_field(struct mctx *c, bool *first, const char *key, const struct fv *v)
{
	int r;
	if (!v->p)
		return 0;
	if ((r = put_key(c, first, key)) < 0)
		return r;
	return put_val(c, v, 4096);
}

static int one_pass(struct mctx *c, const struct fields *f, const struct cef_msg *cm,
		    const struct caps *cp)
{
	const struct syslog_msg *m = c->m;
	bool first = true;
	int r;

	if ((r = buf_putc(c->out, '{')) < 0)
		return r;
	if ((r = put_field(c, &first, "id", &f->v[SF_ID])) < 0 ||
	    (r = put_key(c, &first, "time")) < 0)
		return r;
	if (f->v[SF_TIME].p)
		r = put_val(c, &f->v[SF_TIME], 64);
	else
		r = json_put_str(c->out, f->time, strlen(f->time));
	if (r < 0 || (r = put_field(c, &first, "action", &f->v[SF_ACTION])) < 0)
		return r;
	/* actor */
	bool fa = true;
	if ((r = put_raw(c->out, ",\"actor\":{")) < 0 ||
	    (r = put_field(c, &fa, "id", &f->v[SF_ACTOR_ID])) < 0)
		return r;
	if (f->v[SF_ACTOR_TYPE].p)
		r = put_field(c, &fa, "type", &f->v[SF_ACTOR_TYPE]);
	else if (f->actor_type && (r = put_key(c, &fa, "type")) == 0)
		r = json_put_str(c->out, f->actor_type, strlen(f->actor_type));
	if (r < 0 || (r = put_field(c, &fa, "name", &f->v[SF_ACTOR_NAME])) < 0 ||
	    (r = put_field(c, &fa, "ip", &f->v[SF_ACTOR_IP])) < 0 ||
	    (r = put_field(c, &fa, "user_agent", &f->v[SF_ACTOR_UA])) < 0 ||
	    (r = buf_putc(c->out, '}')) < 0)
		return r;
	/* resource */
	bool fr = true;
	if ((r = put_raw(c->out, ",\"resource\":{")) < 0)
		return r;
	if (f->v[SF_RESOURCE_TYPE].p)
		r = put_field(c, &fr, "type", &f->v[SF_RESOURCE_TYPE]);
	else if ((r = put_key(c, &fr, "type")) == 0)
		r = json_put_str(c->out, f->resource_type, strlen(f->resource_type));
	if (r < 0 || (r = put_field(c, &fr, "id", &f->v[SF_RESOURCE_ID])) < 0 ||
	    (r = put_field(c, &fr, "name", &f->v[SF_RESOURCE_NAME])) < 0 ||
	    (r = buf_putc(c->out, '}')) < 0)
		return r;
	if ((r = put_raw(c->out, ",\"outcome\":")) < 0 ||
	    (r = json_put_str(c->out, f->outcome, strlen(f->outcome))) < 0)
		return r;
	if ((r = put_field(c, &first, "reason", &f->v[SF_REASON])) < 0 ||
	    (r = put_field(c, &first, "request_id", &f->v[SF_REQUEST_ID])) < 0 ||
	    (r = put_field(c, &first, "trace_id", &f->v[SF_TRACE_ID])) < 0)
		return r;
	if (m->hostname.p || m->app.p || c->client_cert) {
		bool fs = true;
		if ((r = put_raw(c->out, ",\"source\":{")) < 0 ||
		    (r = put_slice_member(c, &fs, "host", m->hostname)) < 0 ||
		    (r = put_slice_member(c, &fs, "service", m->app)) < 0)
			return r;
		/* written by the server from the TLS handshake, never from the
		 * message: the mapping composes `source` alone */
		if (c->client_cert && ((r = put_key(c, &fs, "client_cert")) < 0 ||
				       (r = json_put_str(c->out, c->client_cert,
							 strlen(c->client_cert))) < 0))
			return r;
		if ((r = buf_putc(c->out, '}')) < 0)
			return r;
	}
	/* metadata: what the message said */
	bool fm = true;
	if ((r = put_raw(c->out, ",\"metadata\":{")) < 0 || (r = put_key(c, &fm, "format")) < 0 ||
	    (r = put_raw(c->out, m->format == SYSLOG_5424 ? "\"rfc5424\"" : "\"rfc3164\"")) < 0 ||
	    (r = buf_printf(c->out, ",\"facility\":\"%s\",\"severity\":\"%s\"",
			    syslog_facility_name(m->facility), syslog_severity_name(m->severity))) < 0 ||
	    (r = put_slice_member(c, &fm, "hostname", m->hostname)) < 0 ||
	    (r = put_slice_member(c, &fm, "app", m->app)) < 0 ||
	    (r = put_slice_member(c, &fm, "procid", m->procid)) < 0 ||
	    (r = put_slice_member(c, &fm, "msgid", m->msgid)) < 0 ||
	    (r = put_slice_member(c, &fm, "timestamp", m->timestamp)) < 0)
		return r;
	if (f->time_missing && (r = put_raw(c->out, ",\"time_missing\":true")) < 0)
		return r;
	if (m->nsd && cp->sd && (r = put_sd(c, cp)) < 0)
		return r;
	if (m->sd_dropped && (r = buf_printf(c->out, ",\"sd_dropped\":%zu", m->sd_dropped)) < 0)
		return r;
	if (cm && (r = put_cef(c, cm, cp)) < 0)
		return r;
	if (m->msg.p && cp->msg && !cm) {
		struct fv v = { m->msg.p, m->msg.len, DEC_RAW };
		if ((r = put_key(c, &fm, "msg")) < 0 || (r = put_val(c, &v, cp->msg)) < 0)
			return r;
	}
	if (m->bom && (r = put_raw(c->out, ",\"bom\":true")) < 0)
		return r;
	bool left_out = (m->msg.p && !cp->msg && !cm) || (!cp->sd && (m->nsd || (cm && cm->next)));
	if ((c->truncated || left_out) && (r = put_raw(c->out, ",\"truncated\":true")) < 0)
		return r;
	return put_raw(c->out, "}}\n");
}

int syslog_map(const struct syslog_msg *m, const uint8_t *frame, const struct syslog_map_rules *rules,
	       const char *client_cert, int64_t now_ns, size_t max_line, struct buf *out,
	       struct buf *scratch, struct syslog_map_error *err)
{
	struct fields f;
	struct cef_msg *cm = NULL, cmsg;
	int r;

	memset(&f, 0, sizeof(f));
	f.resource_type = "syslog";
	/* 1. the rules */
	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct syslog_map_rule *ru = &rules->r[i];
		for (size_t e = 0; e < m->nsd; e++) {
			if (!eq(m->sd[e].id.p, m->sd[e].id.len, ru->sd_id))
				continue;
			for (size_t k = m->sd[e].first; k < (size_t)m->sd[e].first + m->sd[e].count; k++)
				if (eq(m->params[k].name.p, m->params[k].name.len, ru->param))
					set(&f, ru->field, m->params[k].value.p, m->params[k].value.len,
					    m->params[k].escaped ? DEC_SD : DEC_RAW);
		}
	}
	/* values a rule set that the event cannot carry are unset again (they
	 * stay in metadata.sd) */
	if (client_cert && (!*client_cert || strlen(client_cert) > SYSLOG_CLIENT_CERT_MAX))
		client_cert = NULL;   /* the caller's cap; never a half DN */
	struct mctx c = { m, out, scratch, false, client_cert };
	if (f.v[SF_TIME].p) {
		const uint8_t *p;
		size_t n;
		int64_t t;
		if ((r = decode(&c, &f.v[SF_TIME], &p, &n)) < 0)
			return r;
		if (n > 64 || !rfc3339_parse((const char *)p, n, &t))
			f.v[SF_TIME].p = NULL;
	}
	if (f.v[SF_ID].p) {
		const uint8_t *p;
		size_t n;
		if ((r = decode(&c, &f.v[SF_ID], &p, &n)) < 0)
			return r;
		if (!id_ok(p, n))
			f.v[SF_ID].p = NULL;
	}
	if (f.v[SF_OUTCOME].p) {
		const uint8_t *p;
		size_t n;
		if ((r = decode(&c, &f.v[SF_OUTCOME], &p, &n)) < 0)
			return r;
		f.outcome = outcome_word(p, n);
		f.v[SF_OUTCOME].p = NULL;
		if (!f.outcome)
			f.outcome = "unknown";
	}
	/* 2. CEF / LEEF */
	if (m->msg.p && cef_detect(m->msg.p, m->msg.len)) {
		struct cef_error ce;
		if (cef_parse(m->msg.p, m->msg.len, &cmsg, &ce) < 0) {
			if (err) {
				err->offset = (size_t)(m->msg.p - frame) + ce.offset;
				snprintf(err->msg, sizeof(err->msg), "%s", ce.msg);
			}
			return ST_EINVAL;
		}
		cm = &cmsg;
		from_cef(&f, cm);
	}
	/* 3. the header */
	if (!f.v[SF_ACTION].p) {
		size_t k = (size_t)snprintf(f.action, 8, "syslog.");
		if (m->app.p)
			k += segment(f.action + k, m->app.p, m->app.len);
		else
			k += segment(f.action + k, NULL, 0);
		f.v[SF_ACTION] = (struct fv){ (const uint8_t *)f.action, k, DEC_RAW };
	}
	if (!f.v[SF_ACTOR_ID].p) {
		if (m->hostname.p)
			f.v[SF_ACTOR_ID] = (struct fv){ m->hostname.p, m->hostname.len, DEC_RAW };
		else
			f.v[SF_ACTOR_ID] = (struct fv){ (const uint8_t *)"unknown", 7, DEC_RAW };
		f.actor_type = "host";
	}
	if (!f.v[SF_RESOURCE_ID].p && !f.v[SF_RESOURCE_TYPE].p && m->app.p && !cm)
		f.v[SF_RESOURCE_ID] = (struct fv){ m->app.p, m->app.len, DEC_RAW };
	if (!f.v[SF_RESOURCE_ID].p && cm) {
		size_t k = 0;
		k += segment(f.rid, cm->vendor.p, cm->vendor.len);
		f.rid[k++] = '/';
		k += segment(f.rid + k, cm->product.p, cm->product.len);
		f.v[SF_RESOURCE_ID] = (struct fv){ (const uint8_t *)f.rid, k, DEC_RAW };
		f.resource_type = "device";
	}
	if (!f.outcome)
		f.outcome = "unknown";
	if (!f.v[SF_TIME].p) {
		bool have = m->time_valid && m->timestamp.p;
		if (have && !m->ts_3164) {
			f.v[SF_TIME] = (struct fv){ m->timestamp.p, m->timestamp.len, DEC_RAW };
		} else {
			rfc3339_format_us(have ? m->time_ns : now_ns, f.time);
			f.time_missing = !have;
		}
	}
	/* the passes (invariant 3) */
	static const struct caps passes[] = {
		{ 16384, 2048, true }, { 2048, 256, true }, { 0, 256, false },
	};
	size_t old = out->len;
	for (size_t pass = 0; pass < ARRAY_SIZE(passes); pass++) {
		out->len = old;
		c.truncated = false;
		r = one_pass(&c, &f, cm, &passes[pass]);
		if (r == 0 && out->len - old - 1 <= max_line)
			return 0;
		if (r < 0 && r != ST_ELIMIT)
			break;
	}
	out->len = old;
	if (err) {
		err->offset = 0;
		snprintf(err->msg, sizeof(err->msg), "the event is larger than %zu bytes even without msg and sd",
			 max_line);
	}
	return r < 0 ? r : ST_ELIMIT;
}
