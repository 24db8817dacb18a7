/*
 * enrich.c - request-derived members of an accepted event (enrich.h).
 */
#include "server/enrich.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

static bool lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0')
			return false;
	return true;
}

int enrich_traceparent(const char *v, char out[ENRICH_TRACE_ID_LEN + 1])
{
	/* vv-<32 trace-id>-<16 parent-id>-ff */
	size_t n = strlen(v);

	out[0] = 0;
	if (n < 55 || !lower_hex(v, 2) || !memcmp(v, "ff", 2) || v[2] != '-' ||
	    !lower_hex(v + 3, 32) || v[35] != '-' || !lower_hex(v + 36, 16) || v[52] != '-' ||
	    !lower_hex(v + 53, 2))
		return ST_EINVAL;
	if (!memcmp(v, "00", 2) ? n != 55 : (n > 55 && v[55] != '-'))
		return ST_EINVAL;
	if (all_zero(v + 3, 32) || all_zero(v + 36, 16))
		return ST_EINVAL;
	memcpy(out, v + 3, 32);
	out[32] = 0;
	return 0;
}

bool enrich_request_id_valid(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > ENRICH_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' || v[i] == '\\')
			return false;
	return true;
}

static size_t put(uint8_t *o, size_t at, const char *s)
{
	size_t n = strlen(s);
	memcpy(o + at, s, n);
	return at + n;
}

int enrich_prepare(struct enrich *e, const char *xrid, const char *traceparent,
		   const char *client_ip, const struct ev_context *const *ctx,
		   size_t nctx, char *err, size_t errcap)
{
	memset(e, 0, offsetof(struct enrich, suffix));
	e->suffix_len = 0;
	if (xrid) {
		if (!enrich_request_id_valid(xrid)) {
			snprintf(err, errcap,
				 "header X-Request-Id: expected 1..%d printable ASCII characters other than '\"' and '\\', found %zu bytes",
				 ENRICH_REQUEST_ID_MAX, strlen(xrid));
			return ST_EINVAL;
		}
		memcpy(e->request_id, xrid, strlen(xrid) + 1);
	}
	if (traceparent && enrich_traceparent(traceparent, e->trace_id) < 0)
		e->traceparent_ignored = true;

	/* The suffix: every piece is bounded (an address of at most 45
	 * characters, four context values of checked charset and length). */
	size_t at = 0;
	if (client_ip && strlen(client_ip) < 64) {
		at = put(e->suffix, at, ",\"client_ip\":\"");
		at = put(e->suffix, at, client_ip);
		at = put(e->suffix, at, "\"");
	}
	bool any = false;
	for (int k = 0; k < CTX_COUNT; k++) {
		const char *v = NULL;
		for (size_t i = 0; i < nctx && !v; i++)
			if (ctx[i] && ctx[i]->v[k][0])
				v = ctx[i]->v[k];
		if (!v)
			continue;
		at = put(e->suffix, at, any ? ",\"" : ",\"context\":{\"");
		at = put(e->suffix, at, context_name(k));
		at = put(e->suffix, at, "\":\"");
		at = put(e->suffix, at, v);
		at = put(e->suffix, at, "\"");
		any = true;
	}
	if (any)
		at = put(e->suffix, at, "}");
	e->suffix_len = at;
	return 0;
}

size_t enrich_prefix(const struct enrich *e, const struct event_info *info, uint8_t *o)
{
	size_t at = 0;
	if (e->request_id[0] && !info->has_request_id) {
		at = put(o, at, "\"request_id\":\"");
		at = put(o, at, e->request_id);
		at = put(o, at, "\",");
	}
	if (e->trace_id[0] && !info->has_trace_id) {
		at = put(o, at, "\"trace_id\":\"");
		at = put(o, at, e->trace_id);
		at = put(o, at, "\",");
	}
	return at;
}
