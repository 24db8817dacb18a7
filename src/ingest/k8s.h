/*
 * k8s.h - Kubernetes audit events (audit.k8s.io/v1) as Sealtrail events
 * (docs/K8S.md).
 *
 * kube-apiserver's webhook backend POSTs an EventList; its log backend
 * writes one Event per line. Each Event maps to one Sealtrail event:
 *
 *   id          "k8s-" auditID "-" stage: the apiserver retries a batch
 *               after any error, and the log keys idempotency on id, so a
 *               retry is a duplicate, never a second event
 *   time        stageTimestamp, else requestReceivedTimestamp
 *   action      k8s.<resource>[.<subresource>].<verb>; a request without
 *               objectRef (/healthz, /metrics) is k8s.nonresource.<verb>
 *   actor       user.username (type serviceaccount / node / user from
 *               its form), uid, groups; impersonatedUser as on_behalf_of;
 *               ip = sourceIPs[0]; user_agent
 *   resource    objectRef: type = resource, id = namespace/name (or
 *               name), name, namespace, api_group, api_version, uid,
 *               subresource
 *   outcome     responseStatus.code 2xx/3xx success, 401/403 denied,
 *               other failure; annotation authorization.k8s.io/decision
 *               "forbid" is denied; no status yet (RequestReceived) unknown
 *   request_id  auditID, so every stage of one request shares it and a
 *               timeline shows them together
 *   before/after requestObject / responseObject where they apply (docs)
 *   metadata    stage, level, verb, request_uri, source_ips,
 *               request_received_at, stage_at, annotations,
 *               response_status {code, reason, message}
 *
 * The policy runs on the mapped event as on any other, so a Secret's data
 * is redacted before anything is stored. An object that would make the
 * event too large for the log (or too deep) is left out and the event
 * says so (metadata.objects_omitted), so the event itself is never lost.
 *
 * Thread safety: none needed; all state is in the caller's arguments.
 */
#ifndef SEALTRAIL_INGEST_K8S_H
#define SEALTRAIL_INGEST_K8S_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "event/event.h"

#define K8S_ITEMS_MAX 100000       /* Events in one EventList */

struct k8s_error {
	size_t offset;               /* byte in the input */
	char msg[200];               /* names the item and the member */
};

/*
 * Maps an EventList (or, for the importer, one Event object) in
 * json[0..n) to NDJSON appended to out: one line per item, each an event
 * event_parse accepts under lim. Returns the number of events, or
 * ST_EINVAL (not an EventList of objects: err says where), ST_ELIMIT
 * (more than K8S_ITEMS_MAX items, or out is full), -ENOMEM. On error out
 * is left as it was.
 */
long k8s_map(const uint8_t *json, size_t n, const struct event_limits *lim, struct buf *out,
	     struct k8s_error *err);

#endif
