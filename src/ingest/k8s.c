/*
 * k8s.c - audit.k8s.io/v1 Events as Sealtrail events; the mapping is in
 * k8s.h and docs/K8S.md.
 *
 * Each item is composed up to three times, from the most to the least it
 * keeps, until event_parse accepts it under the log's limits: everything;
 * without requestObject/responseObject; without annotations and groups.
 * The last form holds only bounded strings, so every Event that is an
 * object becomes an event: an audit trail that drops what does not fit
 * has a hole nobody sees.
 */
#include "ingest/k8s.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "ingest/mapjson.h"
#include "policy/jdoc.h"

#define STR_CAP 4096          /* bytes kept of a free-text string (URI, agent, message) */
#define NAME_CAP 253          /* a Kubernetes name or namespace at most */
#define SEG_CAP 63            /* one segment of the action */
#define LIST_CAP 64           /* sourceIPs, groups */
#define ANNOT_CAP 32          /* annotations kept */
#define ANNOT_VAL_CAP 1024
#define VALUE_DEPTH 30        /* an object copied deeper than this is left out */

enum tier { FULL, NO_OBJECTS, MINIMAL };

static const struct jdoc_value *str_of(const struct jdoc_value *obj, const char *key)
{
	return mj_str(obj, key);
}

static const struct jdoc_value *obj_of(const struct jdoc_value *obj, const char *key)
{
	return mj_obj(obj, key);
}

/* ,"key":"value" cut to cap bytes; unlike mj_kv_v an empty string is
 * written (Kubernetes' "" says something). */
static int put_kv_v(struct buf *b, const char *key, const struct jdoc_value *v, size_t cap)
{
	return v ? mj_kv(b, key, v->u.s, v->len, cap) : 0;
}

/* An action segment, lower-cased; empty or absent is "unknown". */
static int put_seg(struct buf *b, const struct jdoc_value *v)
{
	return v ? mj_seg(b, v->u.s, v->len, SEG_CAP, true) : mj_seg(b, NULL, 0, SEG_CAP, true);
}

/* The time of one stage: stageTimestamp, else requestReceivedTimestamp,
 * else now (and the event says the time was missing). */
static int put_time(struct buf *b, const struct jdoc_value *e, int64_t now_ns, bool *missing)
{
	static const char *const keys[] = { "stageTimestamp", "requestReceivedTimestamp" };
	int64_t ns;
	char t[RFC3339_US_LEN + 1];
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct jdoc_value *v = str_of(e, keys[i]);
		if (v && rfc3339_parse(v->u.s, v->len, &ns)) {
			*missing = false;
			return mj_kv(b, "time", v->u.s, v->len, 64);
		}
	}
	*missing = true;
	rfc3339_format_us(now_ns, t);
	return mj_kv(b, "time", t, strlen(t), 64);
}

static const char *user_type(const struct jdoc_value *name)
{
	static const struct { const char *prefix, *type; } t[] = {
		{ "system:serviceaccount:", "serviceaccount" }, { "system:node:", "node" },
		{ "system:", "system" },
	};
	for (size_t i = 0; name && i < ARRAY_SIZE(t); i++) {
		size_t pl = strlen(t[i].prefix);
		if (name->len >= pl && !memcmp(name->u.s, t[i].prefix, pl))
			return t[i].type;
	}
	return "user";
}

/* A JSON array of at most LIST_CAP strings of an array member. */
static int put_strings(struct buf *b, const char *key, const struct jdoc_value *arr)
{
	int r;
	if (!arr || arr->type != JDOC_ARRAY)
		return 0;
	if ((r = buf_printf(b, ",\"%s\":[", key)) < 0)
		return r;
	uint32_t k = 0;
	for (uint32_t i = 0; i < arr->len && k < LIST_CAP; i++) {
		const struct jdoc_value *x = &arr->u.items[i];
		if (x->type != JDOC_STRING)
			continue;
		if ((k++ && (r = buf_putc(b, ',')) < 0) ||
		    (r = json_put_str(b, x->u.s, x->len < NAME_CAP ? x->len : NAME_CAP)) < 0)
			return r;
	}
	return buf_putc(b, ']');
}

static bool is_status(const struct jdoc_value *o)
{
	const struct jdoc_value *k = o ? str_of(o, "kind") : NULL;
	return k && k->len == 6 && !memcmp(k->u.s, "Status", 6);
}

static bool verb_is(const struct jdoc_value *verb, const char *w)
{
	return verb && verb->len == strlen(w) && !memcmp(verb->u.s, w, verb->len);
}

/* One Event as one event line (without the newline) at the given tier. */
static int compose(struct buf *b, const struct jdoc_value *e, enum tier tier, int64_t now_ns,
		   const char *omitted)
{
	const struct jdoc_value *audit_id = str_of(e, "auditID"), *stage = str_of(e, "stage");
	const struct jdoc_value *verb = str_of(e, "verb"), *user = obj_of(e, "user");
	const struct jdoc_value *imp = obj_of(e, "impersonatedUser"), *ref = obj_of(e, "objectRef");
	const struct jdoc_value *rs = obj_of(e, "responseStatus"), *ann = obj_of(e, "annotations");
	const struct jdoc_value *ips = jdoc_get(e, "sourceIPs", 9);
	const struct jdoc_value *uname = user ? str_of(user, "username") : NULL;
	const struct jdoc_value *req = jdoc_get(e, "requestObject", 13), *resp = jdoc_get(e, "responseObject", 14);
	bool time_missing;
	int r;

	/* id: stable across the apiserver's retries */
	if ((r = buf_puts(b, "{\"id\":\"k8s-")) < 0)
		return r;
	if (mj_id_safe(audit_id, 100)) {
		r = buf_append(b, audit_id->u.s, audit_id->len);
	} else {
		/* no usable auditID: the hash of the whole item */
		struct buf t = BUF_INIT(64u << 20);
		uint8_t h[HASH_SIZE];
		char hex[33];
		if ((r = mj_value(&t, e, 0, VALUE_DEPTH)) == 0) {
			sha256(t.data, t.len, h);
			hex_encode(h, 16, hex);
			r = buf_printf(b, "h%s", hex);
		}
		buf_release(&t);
	}
	if (r < 0 || (r = buf_putc(b, '-')) < 0 || (r = put_seg(b, stage)) < 0 || (r = buf_putc(b, '"')) < 0 ||
	    (r = put_time(b, e, now_ns, &time_missing)) < 0)
		return r;

	/* action */
	if ((r = buf_puts(b, ",\"action\":\"k8s.")) < 0)
		return r;
	if (ref) {
		const struct jdoc_value *sub = str_of(ref, "subresource");
		if ((r = put_seg(b, str_of(ref, "resource"))) < 0 ||
		    (sub && sub->len && ((r = buf_putc(b, '.')) < 0 || (r = put_seg(b, sub)) < 0)))
			return r;
	} else if ((r = buf_puts(b, "nonresource")) < 0) {
		return r;
	}
	if ((r = buf_putc(b, '.')) < 0 || (r = put_seg(b, verb)) < 0 || (r = buf_putc(b, '"')) < 0)
		return r;

	/* actor */
	if ((r = buf_puts(b, ",\"actor\":{\"id\":")) < 0 ||
	    (r = uname && uname->len ? json_put_str(b, uname->u.s, uname->len < STR_CAP ? uname->len : STR_CAP) :
				       buf_puts(b, "\"system:anonymous\"")) < 0 ||
	    (r = buf_printf(b, ",\"type\":\"%s\"", user_type(uname))) < 0 ||
	    (user && (r = put_kv_v(b, "uid", str_of(user, "uid"), NAME_CAP)) < 0))
		return r;
	if (ips && ips->type == JDOC_ARRAY && ips->len && ips->u.items[0].type == JDOC_STRING &&
	    (r = mj_kv(b, "ip", ips->u.items[0].u.s, ips->u.items[0].len, 64)) < 0)
		return r;
	if ((r = put_kv_v(b, "user_agent", str_of(e, "userAgent"), STR_CAP)) < 0 ||
	    (imp && (r = put_kv_v(b, "on_behalf_of", str_of(imp, "username"), STR_CAP)) < 0) ||
	    (tier != MINIMAL && user && (r = put_strings(b, "groups", jdoc_get(user, "groups", 6))) < 0) ||
	    (tier != MINIMAL && imp && (r = put_strings(b, "on_behalf_of_groups", jdoc_get(imp, "groups", 6))) < 0) ||
	    (r = buf_putc(b, '}')) < 0)
		return r;

	/* resource */
	if (ref) {
		const struct jdoc_value *res = str_of(ref, "resource"), *ns = str_of(ref, "namespace");
		const struct jdoc_value *name = str_of(ref, "name");
		if ((r = buf_puts(b, ",\"resource\":{\"type\":")) < 0 ||
		    (r = res && res->len ? json_put_str(b, res->u.s, res->len < NAME_CAP ? res->len : NAME_CAP) :
					  buf_puts(b, "\"unknown\"")) < 0)
			return r;
		if (name && name->len) {
			struct buf id = BUF_INIT(2 * NAME_CAP + 2);
			if (ns && ns->len)
				buf_printf(&id, "%.*s/", (int)(ns->len < NAME_CAP ? ns->len : NAME_CAP), ns->u.s);
			buf_append(&id, name->u.s, name->len < NAME_CAP ? name->len : NAME_CAP);
			r = mj_kv(b, "id", (const char *)id.data, id.len, id.len);
			buf_release(&id);
			if (r < 0)
				return r;
		}
		if ((r = put_kv_v(b, "name", name, NAME_CAP)) < 0 || (r = put_kv_v(b, "namespace", ns, NAME_CAP)) < 0 ||
		    (r = put_kv_v(b, "api_group", str_of(ref, "apiGroup"), NAME_CAP)) < 0 ||
		    (r = put_kv_v(b, "api_version", str_of(ref, "apiVersion"), NAME_CAP)) < 0 ||
		    (r = put_kv_v(b, "uid", str_of(ref, "uid"), NAME_CAP)) < 0 ||
		    (r = put_kv_v(b, "subresource", str_of(ref, "subresource"), NAME_CAP)) < 0 ||
		    (r = put_kv_v(b, "resource_version", str_of(ref, "resourceVersion"), NAME_CAP)) < 0 ||
		    (r = buf_putc(b, '}')) < 0)
			return r;
	} else {
		const struct jdoc_value *uri = str_of(e, "requestURI");
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"nonresource\"")) < 0 ||
		    (r = put_kv_v(b, "id", uri, STR_CAP)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	}

	/* outcome, and the authorizer's reason */
	const struct jdoc_value *code = rs ? jdoc_get(rs, "code", 4) : NULL;
	const struct jdoc_value *decision = ann ? str_of(ann, "authorization.k8s.io/decision") : NULL;
	const char *outcome = "unknown";
	if (code && code->type == JDOC_NUMBER && code->len == 3) {
		int c = (code->u.s[0] - '0') * 100 + (code->u.s[1] - '0') * 10 + (code->u.s[2] - '0');
		outcome = c >= 200 && c < 400 ? "success" : c == 401 || c == 403 ? "denied" : "failure";
	}
	if (decision && decision->len == 6 && !memcmp(decision->u.s, "forbid", 6))
		outcome = "denied";
	if ((r = buf_printf(b, ",\"outcome\":\"%s\"", outcome)) < 0 ||
	    (ann && (r = put_kv_v(b, "reason", str_of(ann, "authorization.k8s.io/reason"), STR_CAP)) < 0) ||
	    (audit_id && (r = mj_kv(b, "request_id", audit_id->u.s, audit_id->len, 128)) < 0) ||
	    (r = buf_puts(b, ",\"source\":{\"service\":\"kube-apiserver\",\"format\":\"audit.k8s.io/v1\"}")) < 0)
		return r;

	/* before/after: the objects where they say what changed */
	bool create = verb_is(verb, "create"), update = verb_is(verb, "update"), patch = verb_is(verb, "patch");
	bool del = verb_is(verb, "delete") || verb_is(verb, "deletecollection");
	bool resp_obj = resp && resp->type == JDOC_OBJECT && !is_status(resp);
	bool req_obj = req && req->type == JDOC_OBJECT;
	if (tier == FULL) {
		if ((create || update || patch) && (resp_obj || ((create || update) && req_obj))) {
			if ((r = buf_puts(b, ",\"after\":")) < 0 || (r = mj_value(b, resp_obj ? resp : req, 1, VALUE_DEPTH)) < 0)
				return r;
		} else if (del && resp_obj) {
			if ((r = buf_puts(b, ",\"before\":")) < 0 || (r = mj_value(b, resp, 1, VALUE_DEPTH)) < 0)
				return r;
		}
	}

	/* metadata: the rest of the Event, as it was */
	if ((r = buf_puts(b, ",\"metadata\":{\"format\":\"k8s-audit\"")) < 0 ||
	    (r = put_kv_v(b, "stage", stage, SEG_CAP)) < 0 || (r = put_kv_v(b, "level", str_of(e, "level"), SEG_CAP)) < 0 ||
	    (r = put_kv_v(b, "verb", verb, SEG_CAP)) < 0 ||
	    (r = put_kv_v(b, "request_uri", str_of(e, "requestURI"), STR_CAP)) < 0 ||
	    (r = put_strings(b, "source_ips", ips)) < 0 ||
	    (r = put_kv_v(b, "request_received_at", str_of(e, "requestReceivedTimestamp"), 64)) < 0 ||
	    (r = put_kv_v(b, "stage_at", str_of(e, "stageTimestamp"), 64)) < 0)
		return r;
	if (time_missing && (r = buf_puts(b, ",\"time_missing\":true")) < 0)
		return r;
	if (rs) {
		const struct jdoc_value *st = str_of(rs, "status"), *rsn = str_of(rs, "reason"), *msg = str_of(rs, "message");
		bool num = code && code->type == JDOC_NUMBER && code->len <= 16;
		if ((r = buf_puts(b, ",\"response_status\":{\"code\":")) < 0 ||
		    (r = num ? buf_append(b, code->u.s, code->len) : buf_puts(b, "null")) < 0 ||
		    (r = put_kv_v(b, "status", st, SEG_CAP)) < 0 || (r = put_kv_v(b, "reason", rsn, SEG_CAP)) < 0 ||
		    (r = put_kv_v(b, "message", msg, STR_CAP)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	}
	if (tier != MINIMAL && ann && ann->len) {
		if ((r = buf_puts(b, ",\"annotations\":{")) < 0)
			return r;
		for (uint32_t i = 0, k = 0; i < ann->len && k < ANNOT_CAP; i++) {
			const struct jdoc_member *m = &ann->u.members[i];
			if (m->value.type != JDOC_STRING)
				continue;
			if ((k++ && (r = buf_putc(b, ',')) < 0) ||
			    (r = json_put_str(b, m->key, m->key_len < NAME_CAP ? m->key_len : NAME_CAP)) < 0 ||
			    (r = buf_putc(b, ':')) < 0 ||
			    (r = json_put_str(b, m->value.u.s, m->value.len < ANNOT_VAL_CAP ? m->value.len : ANNOT_VAL_CAP)) < 0)
				return r;
		}
		if ((r = buf_putc(b, '}')) < 0)
			return r;
	}
	if (tier == FULL) {
		/* what before/after does not hold: a patch, delete options, a read's answer */
		if (patch && req_obj && ((r = buf_puts(b, ",\"patch\":")) < 0 || (r = mj_value(b, req, 1, VALUE_DEPTH)) < 0))
			return r;
		if (del && req_obj && ((r = buf_puts(b, ",\"delete_options\":")) < 0 || (r = mj_value(b, req, 1, VALUE_DEPTH)) < 0))
			return r;
		if (!create && !update && !patch && !del) {
			if (req_obj && ((r = buf_puts(b, ",\"request_object\":")) < 0 || (r = mj_value(b, req, 1, VALUE_DEPTH)) < 0))
				return r;
			if (resp_obj && ((r = buf_puts(b, ",\"response_object\":")) < 0 || (r = mj_value(b, resp, 1, VALUE_DEPTH)) < 0))
				return r;
		}
	}
	if (omitted && (r = mj_kv(b, "objects_omitted", omitted, strlen(omitted), 200)) < 0)
		return r;
	return buf_puts(b, "}}");
}

/* One item: the richest tier event_parse accepts. */
static int map_item(const struct jdoc_value *e, const struct event_limits *lim, int64_t now_ns,
		    struct buf *out, struct buf *line, struct buf *scratch)
{
	char why[160] = "";
	struct event_info info;
	struct event_error perr;
	int r = 0;

	for (int t = FULL; t <= MINIMAL; t++) {
		buf_reset(line);
		r = compose(line, e, (enum tier)t, now_ns, t == FULL ? NULL : why);
		if (r == 0) {
			buf_reset(scratch);
			r = event_parse(line->data, line->len, lim, scratch, &info, &perr);
			if (r == 0)
				return buf_append(out, line->data, line->len) < 0 || buf_putc(out, '\n') < 0 ?
				       ST_ELIMIT : 0;
			if (t == FULL)
				snprintf(why, sizeof(why), "the objects made the event too large for the log: %.100s",
					 perr.msg);
		} else if (t == FULL) {
			snprintf(why, sizeof(why), "the objects could not be copied: %s",
				 r == ST_ELIMIT ? "nested too deep or too large" : st_strerror(r));
		}
	}
	return r < 0 ? r : ST_EINVAL;
}

long k8s_map(const uint8_t *json, size_t n, const struct event_limits *lim, struct buf *out,
	     struct k8s_error *err)
{
	struct jdoc_arena a;
	struct jdoc_limits jl;
	struct jdoc_error je;
	const struct jdoc_value *root, *items;
	size_t start = out->len;
	long count = 0;
	int r;

	memset(err, 0, sizeof(*err));
	jdoc_limits_default(&jl);
	jl.max_input = n;
	jl.max_depth = JDOC_DEPTH_HARD;
	jl.max_values = 0xFFFFFFFFu;
	jl.max_string = (uint32_t)(n < 0xFFFFFFFFu ? n : 0xFFFFFFFFu);
	jdoc_arena_init(&a, 8 * n + (1u << 20));
	if ((r = jdoc_parse(&a, (const char *)json, n, &jl, JDOC_BORROW, &root, &je)) < 0) {
		err->offset = je.offset;
		snprintf(err->msg, sizeof(err->msg), "%.60s%s%.130s", je.pointer[0] ? je.pointer : "",
			 je.pointer[0] ? ": " : "", je.msg);
		goto out;
	}
	const struct jdoc_value *kind = root->type == JDOC_OBJECT ? str_of(root, "kind") : NULL;
	if (!kind || !((kind->len == 9 && !memcmp(kind->u.s, "EventList", 9)) ||
		       (kind->len == 5 && !memcmp(kind->u.s, "Event", 5)))) {
		r = ST_EINVAL;
		err->offset = root->offset;
		snprintf(err->msg, sizeof(err->msg), "expected an audit.k8s.io/v1 EventList or Event object "
			 "(\"kind\":\"EventList\")");
		goto out;
	}
	bool list = kind->len == 9;
	items = list ? jdoc_get(root, "items", 5) : NULL;
	if (list && (!items || (items->type != JDOC_ARRAY && items->type != JDOC_NULL))) {
		r = ST_EINVAL;
		err->offset = items ? items->offset : root->offset;
		snprintf(err->msg, sizeof(err->msg), "items: expected an array of Events");
		goto out;
	}
	uint32_t ni = list ? (items->type == JDOC_ARRAY ? items->len : 0) : 1;
	if (ni > K8S_ITEMS_MAX) {
		r = ST_ELIMIT;
		snprintf(err->msg, sizeof(err->msg), "items: %u Events, at most %d in one request", ni, K8S_ITEMS_MAX);
		goto out;
	}
	struct buf line = BUF_INIT(8 * (size_t)(lim ? lim->max_entry : 65535) + 4096);
	struct buf scratch = BUF_INIT(lim ? lim->max_entry : 65535);
	int64_t now_ns = now_realtime_ns();
	for (uint32_t i = 0; i < ni; i++) {
		const struct jdoc_value *e = list ? &items->u.items[i] : root;
		if (e->type != JDOC_OBJECT) {
			r = ST_EINVAL;
			err->offset = e->offset;
			snprintf(err->msg, sizeof(err->msg), "items[%u]: expected an Event object, found %s", i,
				 jdoc_type_name(e));
			break;
		}
		if ((r = map_item(e, lim, now_ns, out, &line, &scratch)) < 0) {
			err->offset = e->offset;
			snprintf(err->msg, sizeof(err->msg), "items[%u]: %s", i,
				 r == ST_ELIMIT ? "the mapped events are larger than the request may grow" :
				 "could not be mapped to an event");
			break;
		}
		count++;
	}
	buf_release(&line);
	buf_release(&scratch);
out:
	jdoc_arena_release(&a);
	if (r < 0) {
		out->len = start;
		return r;
	}
	return count;
}
