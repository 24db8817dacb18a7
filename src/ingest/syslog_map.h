/*
 * syslog_map.h - a parsed syslog message (syslog.h) as a Sealtrail event:
 * one NDJSON line that event_parse accepts (docs/SYSLOG.md, "Mapping").
 *
 * Three sources fill the event's fields, the first that sets a field
 * wins:
 *  1. rules: an SD-PARAM (SD-ID, PARAM-NAME) gives a field. The defaults
 *     read the SD-ID "audit@32473" (id, time, action, actor, actor_type,
 *     actor_name, actor_ip, user_agent, resource, resource_type,
 *     resource_name, outcome, reason, request_id, trace_id); the
 *     configuration adds its own in front (`syslog_map = SD-ID PARAM
 *     FIELD`);
 *  2. a CEF or LEEF payload in MSG (cef.h): actor from suser / usrName /
 *     src / shost, resource from duser / fname / request / dhost / dst,
 *     action "cef.<vendor>.<product>.<act or signature id>", outcome
 *     from outcome or act words, else "failure" for severity 7..10, reason
 *     the CEF Name, id from externalId;
 *  3. the header: action "syslog.<app-name or tag>", actor the hostname
 *     (type host), resource {type: syslog, id: app-name}, outcome
 *     unknown, time the header's timestamp (the time of receipt with
 *     metadata.time_missing when it has none).
 * metadata keeps what the message said: format, facility, severity,
 * hostname, app, procid, msgid, sd {SD-ID: {PARAM: value or [values]}},
 * msg, cef {...}. Values too long are cut (metadata.truncated); if the
 * event would still exceed max_line, msg, then sd and the CEF extension
 * are left out, so a message is never lost for its size.
 *
 * Ownership: rules are the caller's; out receives the line; scratch is
 * the caller's working buffer (any size limit of at least the frame).
 * Thread-compatible.
 */
#ifndef SEALTRAIL_INGEST_SYSLOG_MAP_H
#define SEALTRAIL_INGEST_SYSLOG_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ingest/syslog.h"

#define SYSLOG_MAP_RULES_MAX 64
#define SYSLOG_MAP_NAME_MAX 32           /* SD-NAME: 1..32 bytes */

enum syslog_field {
	SF_ID, SF_TIME, SF_ACTION, SF_ACTOR_ID, SF_ACTOR_TYPE, SF_ACTOR_NAME, SF_ACTOR_IP,
	SF_ACTOR_UA, SF_RESOURCE_ID, SF_RESOURCE_TYPE, SF_RESOURCE_NAME, SF_OUTCOME, SF_REASON,
	SF_REQUEST_ID, SF_TRACE_ID, SF_COUNT
};

struct syslog_map_rule {
	char sd_id[SYSLOG_MAP_NAME_MAX + 1];
	char param[SYSLOG_MAP_NAME_MAX + 1];
	enum syslog_field field;
};

struct syslog_map_rules {
	struct syslog_map_rule r[SYSLOG_MAP_RULES_MAX];
	size_t n;
};

/* "id", "time", "action", "actor.id", ... "trace_id"; -1 when unknown. */
int syslog_field_parse(const char *name);
const char *syslog_field_name(enum syslog_field f);

/* The default rules (audit@32473), appended after those already in r. */
void syslog_map_rules_default(struct syslog_map_rules *r);

/* Adds "SD-ID PARAM FIELD" (words separated by spaces or tabs). 0, or
 * ST_EINVAL / ST_ELIMIT with why naming the word. */
int syslog_map_rule_add(struct syslog_map_rules *r, const char *text, char *why, size_t cap);

struct syslog_map_error {
	size_t offset;                   /* byte in the frame */
	char msg[160];
};

/* Most bytes of a client certificate's subject DN in source.client_cert. */
#define SYSLOG_CLIENT_CERT_MAX 256

/*
 * Appends the event of m (parsed from frame[0..n)) and a '\n' to out.
 * client_cert: the subject DN (RFC 4514) of the connection's verified TLS
 * client certificate, 1..SYSLOG_CLIENT_CERT_MAX bytes, written as
 * source.client_cert; NULL (or anything longer) for none. now_ns: the time of receipt. max_line: the largest line to make (the
 * log's max_entry less what the server adds). 0, or ST_EINVAL (a CEF or
 * LEEF payload whose header is broken: err says where), ST_ELIMIT (out
 * is full, or even the smallest form exceeds max_line), -ENOMEM. On error
 * out is left as it was.
 */
int syslog_map(const struct syslog_msg *m, const uint8_t *frame, const struct syslog_map_rules *rules,
	       const char *client_cert, int64_t now_ns, size_t max_line, struct buf *out,
	       struct buf *scratch, struct syslog_map_error *err);

#endif
