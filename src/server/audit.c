/*
 * audit.c - the meta-audit trail: every read, proof request, token or
 * config change and every denial becomes one event of tenant _sealtrail.
 *
 * Invariants:
 *  1. One request makes at most one event, whatever it read, so reading
 *     the _sealtrail stream produces one event per read request and never
 *     feeds back on itself.
 *  2. The event carries the request's method, path and query and the
 *     token's public id and name, never the secret (the Authorization
 *     header is not copied anywhere).
 *  3. The event is validated by the same parser as a producer's, so it
 *     obeys the same limits; over-long request fields are cut, not refused.
 *  4. The event is queued before the response is sent; if the queue
 *     refuses it, the caller answers 503 instead of serving unaudited.
 */
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "server/httputil.h"

#define AUDIT_FIELD_MAX 1024         /* longest request field copied */
#define AUDIT_EVENT_MAX 8192

struct audit_job {
	struct server *server;
	struct ingest_job job;
	struct log_event ev;
	struct log_ack ack;
	struct buf compact;
	char tenant[TENANT_NAME_MAX + 1];   /* the event's, outliving the text it came from */
};

static void audit_done(struct ingest_job *j)
{
	struct audit_job *a = j->arg;

	/* the job, or the log on this one event: either way it is not in the
	 * trail, which the metric and the server log must say */
	int r = j->result < 0 ? j->result : a->ack.result;
	if (r < 0 && a->server) {
		stat_add(&a->server->st.audit_lost, 1);
		server_logf(a->server, "a server event for tenant %s was not written: %s", a->tenant, st_strerror(r));
	}

	buf_release(&a->compact);
	free(a);
}

static int put_kv(struct buf *b, const char *k, const char *v, bool comma)
{
	int r;
	size_t n = strlen(v);

	if (n > AUDIT_FIELD_MAX)
		n = AUDIT_FIELD_MAX;
	if ((comma && (r = buf_putc(b, ',')) < 0) || (r = json_put_str(b, k, strlen(k))) < 0 ||
	    (r = buf_putc(b, ':')) < 0 || (r = json_put_str(b, v, n)) < 0)
		return r;
	return 0;
}

static const char *method_name(enum http_method m)
{
	static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OTHER" };
	return names[m];
}

int audit_record(struct server *s, const struct audit_rec *a)
{
	struct buf ev = BUF_INIT(AUDIT_EVENT_MAX);
	char now[RFC3339_US_LEN + 1], status[16];
	int r;

	rfc3339_format_us(now_realtime_ns(), now);
	snprintf(status, sizeof(status), "%d", a->status);
	if ((r = buf_puts(&ev, "{")) < 0 ||
	    (r = put_kv(&ev, "time", now, false)) < 0 ||
	    (r = put_kv(&ev, "tenant", META_TENANT, true)) < 0 ||
	    (r = put_kv(&ev, "action", a->action, true)) < 0 ||
	    (r = buf_puts(&ev, ",\"actor\":{")) < 0 ||
	    (r = put_kv(&ev, "id", a->tok ? a->tok->name : "anonymous", false)) < 0 ||
	    (r = put_kv(&ev, "type", a->tok ? "token" : "anonymous", true)) < 0 ||
	    (a->tok && (r = put_kv(&ev, "auth", a->tok->id, true)) < 0) ||
	    (a->req && (r = put_kv(&ev, "ip", hreq_peer(a->req), true)) < 0) ||
	    (r = buf_puts(&ev, "},\"resource\":{")) < 0 ||
	    (r = put_kv(&ev, "type", a->resource_type ? a->resource_type : "api", false)) < 0 ||
	    (a->resource_id && (r = put_kv(&ev, "id", a->resource_id, true)) < 0) ||
	    (r = buf_puts(&ev, "}")) < 0 ||
	    (r = put_kv(&ev, "outcome", a->outcome, true)) < 0 ||
	    (a->reason && (r = put_kv(&ev, "reason", a->reason, true)) < 0) ||
	    (r = buf_puts(&ev, ",\"metadata\":{")) < 0 ||
	    (r = put_kv(&ev, "status", status, false)) < 0 ||
	    (a->req && (r = put_kv(&ev, "method", method_name(hreq_method(a->req)), true)) < 0) ||
	    (a->req && (r = put_kv(&ev, "path", hreq_path(a->req), true)) < 0) ||
	    (a->req && (r = put_kv(&ev, "query", hreq_query(a->req), true)) < 0) ||
	    (a->tok && (r = put_kv(&ev, "role", role_name(a->tok->role), true)) < 0) ||
	    (a->tenant && (r = put_kv(&ev, "tenant", a->tenant, true)) < 0) ||
	    (r = buf_puts(&ev, "}}")) < 0)
		goto out;
	r = server_event_submit(s, ev.data, ev.len, META_TENANT);
out:
	stat_add(r < 0 ? &s->st.audit_refused : &s->st.audit_events, 1);
	buf_release(&ev);
	return r;
}

int server_event_submit(struct server *s, const uint8_t *json, size_t n, const char *tenant)
{
	struct audit_job *aj = calloc(1, sizeof(*aj));
	struct event_info info;
	struct event_error perr;
	int r;

	if (!aj)
		return -ENOMEM;
	aj->server = s;
	buf_init(&aj->compact, AUDIT_EVENT_MAX);
	snprintf(aj->tenant, sizeof(aj->tenant), "%s", tenant);
	if ((r = event_parse(json, n, log_limits(s->log), &aj->compact, &info, &perr)) < 0)
		goto out;
	/* The info's slices point into json, which the caller releases:
	 * point the tenant at our copy; the server makes the id. */
	info.tenant = aj->tenant;
	info.tenant_len = strlen(aj->tenant);
	info.id = NULL;
	info.id_len = 0;
	info.action = info.outcome = info.resource_type = NULL;
	aj->ev.compact = aj->compact.data;
	aj->ev.len = aj->compact.len;
	aj->ev.info = info;
	aj->ev.producer = "sealtrail";
	aj->ev.producer_len = 9;
	aj->job.ev = &aj->ev;
	aj->job.acks = &aj->ack;
	aj->job.n = 1;
	aj->job.bytes = aj->compact.len;
	aj->job.t_received = now_monotonic_ns();
	aj->job.done = audit_done;
	aj->job.arg = aj;
	aj->job.reserve = true;
	if (!ingest_reserve_ok(s->ingest, aj->compact.len)) {
		r = -ENOSPC;
		goto out;
	}
	if ((r = ingest_submit(s->ingest, &aj->job)) < 0)
		goto out;
	aj = NULL;
out:
	if (aj) {
		buf_release(&aj->compact);
		free(aj);
	}
	return r;
}
