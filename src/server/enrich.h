/*
 * enrich.h - what the server adds to every event it accepts, from the
 * request that carried it (docs/ENRICHMENT.md):
 *
 *  - request_id, from the X-Request-Id header, when the event has none;
 *  - trace_id, the trace-id of a W3C traceparent header, when the event
 *    has none;
 *  - client_ip, the address of the HTTP connection, beside (never instead
 *    of) the producer's actor.ip;
 *  - context, the static {region, environment, cluster, service} of the
 *    token, over the listener that took the request, over the
 *    configuration's defaults.
 *
 * client_ip and context are server-owned members (event_parse refuses
 * them from a producer). Everything here is computed once per request
 * (enrich_prepare) and copied into each event; nothing allocates.
 */
#ifndef SEALTRAIL_SERVER_ENRICH_H
#define SEALTRAIL_SERVER_ENRICH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event/event.h"
#include "server/config.h"

#define ENRICH_REQUEST_ID_MAX 128
#define ENRICH_TRACE_ID_LEN 32
/* ,"client_ip":"<46>","context":{4 x "name":"<64>"} */
#define ENRICH_SUFFIX_MAX 512
/* "request_id":"<128>","trace_id":"<32>", */
#define ENRICH_PREFIX_MAX (ENRICH_REQUEST_ID_MAX + ENRICH_TRACE_ID_LEN + 40)

struct enrich {
	char request_id[ENRICH_REQUEST_ID_MAX + 1];  /* "" = none */
	char trace_id[ENRICH_TRACE_ID_LEN + 1];      /* "" = none */
	bool traceparent_ignored;   /* a traceparent header was there and invalid */
	uint8_t suffix[ENRICH_SUFFIX_MAX];
	size_t suffix_len;
};

/* The trace-id of a W3C Trace Context traceparent header value: version
 * "00" exactly 55 bytes, a later version at least 55 with '-' after them;
 * version "ff", upper-case hex and all-zero ids are invalid (the
 * specification's rules). 0 and the 32 hex digits in out, or ST_EINVAL. */
int enrich_traceparent(const char *v, char out[ENRICH_TRACE_ID_LEN + 1]);

/* X-Request-Id: 1..ENRICH_REQUEST_ID_MAX bytes of printable ASCII other
 * than '"' and '\\' (so the value is its own JSON string body). */
bool enrich_request_id_valid(const char *v);

/* Prepares a request's enrichment. xrid, traceparent: the header values or
 * NULL. client_ip: text, or NULL for none. ctx: the layers of static
 * context, first wins per key (the token's, the listener's, then the
 * defaults); each may be NULL. Returns 0, or ST_EINVAL with err naming the header when
 * X-Request-Id is malformed (an invalid traceparent is ignored, as the
 * W3C specification asks, and flagged in traceparent_ignored). */
int enrich_prepare(struct enrich *e, const char *xrid, const char *traceparent,
		   const char *client_ip, const struct ev_context *const *ctx,
		   size_t nctx, char *err, size_t errcap);

/* Writes the members the event lacks ("request_id":"...", and
 * "trace_id":"...", each followed by a comma) to o, which has room for
 * ENRICH_PREFIX_MAX bytes. Returns the bytes written. */
size_t enrich_prefix(const struct enrich *e, const struct event_info *info, uint8_t *o);

#endif
