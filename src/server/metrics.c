/*
 * metrics.c - /metrics in the Prometheus text exposition format 0.0.4.
 * Everything is read from lock-free counters (common/stats.h), so a scrape
 * never stalls ingest. Names follow Prometheus conventions: base units
 * (seconds, bytes), _total for counters.
 */
#include "server/server.h"
#include "server/capture.h"
#include "server/syslogd.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "policy/quarantine.h"

const char *reject_reason_name(enum reject_reason r)
{
	static const char *const names[REJ_COUNT] = {
		"invalid", "limit", "tenant", "disk", "queue", "log", "policy", "schema",
	};
	return r < REJ_COUNT ? names[r] : "?";
}

static int head(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	int r = head(b, name, "counter", help);
	return r < 0 ? r : buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static int gauge(struct buf *b, const char *name, const char *help, double v)
{
	int r = head(b, name, "gauge", help);
	return r < 0 ? r : buf_printf(b, "%s %.17g\n", name, v);
}

static int hist(struct buf *b, const char *name, const char *help, struct stat_hist *h)
{
	uint64_t cum = 0;
	int r = head(b, name, "histogram", help);

	for (size_t i = 0; r == 0 && i < h->n; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		r = buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
			       (unsigned long long)cum);
	}
	if (r == 0) {
		cum += atomic_load_explicit(&h->bucket[h->n], memory_order_relaxed);
		r = buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n",
			       name, (unsigned long long)cum, name,
			       (double)atomic_load(&h->sum) / h->scale, name,
			       (unsigned long long)cum);
	}
	return r;
}

/* The syslog listeners' metrics (docs/SYSLOG.md); none without one. */
static int syslog_metrics(struct buf *b, struct syslogd_stats *t)
{
	static const char *const framing[2] = { "octet_counted", "newline" };
	static const char *const outcome[5] = { "committed", "duplicate", "refused", "sampled_out",
						 "quarantined" };
	int r;
	if (!t)
		return 0;
	if ((r = gauge(b, "sealtrail_syslog_connections", "Open syslog connections.",
		       (double)stat_gauge_get(&t->connections))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_connections_total", "Syslog connections accepted.",
			 stat_get(&t->accepted))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_connections_refused_total",
			 "Syslog connections closed at accept: over syslog_max_connections.",
			 stat_get(&t->refused))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_connections_idle_closed_total",
			 "Syslog connections closed after syslog_idle_timeout without a byte.",
			 stat_get(&t->idle_closed))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_tls_handshake_failures_total",
			 "Syslog TLS handshakes that failed.", stat_get(&t->tls_failures))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_tls_client_cert_rejected_total",
			 "Syslog TLS handshakes failed for a missing or invalid client certificate "
			 "(syslog_tls_client_ca); also in the handshake failures.",
			 stat_get(&t->tls_client_cert_rejected))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_bytes_total", "Bytes read from syslog connections.",
			 stat_get(&t->bytes))) < 0 ||
	    (r = head(b, "sealtrail_syslog_frames_total", "counter",
		      "Syslog frames read, by framing (RFC 6587).")) < 0)
		return r;
	for (int i = 0; i < 2; i++)
		if ((r = buf_printf(b, "sealtrail_syslog_frames_total{framing=\"%s\"} %llu\n", framing[i],
				    (unsigned long long)stat_get(&t->frames[i]))) < 0)
			return r;
	if ((r = head(b, "sealtrail_syslog_frames_rejected_total", "counter",
		      "Syslog frames rejected and skipped, by reason (each is logged, rate-limited).")) < 0)
		return r;
	for (int i = 0; i < SR_COUNT; i++)
		if ((r = buf_printf(b, "sealtrail_syslog_frames_rejected_total{reason=\"%s\"} %llu\n",
				    syslogd_reject_name((enum syslogd_reject)i),
				    (unsigned long long)stat_get(&t->frames_rejected[i]))) < 0)
			return r;
	if ((r = head(b, "sealtrail_syslog_events_total", "counter",
		      "Syslog messages through the ingest pipeline, by outcome.")) < 0)
		return r;
	for (int i = 0; i < 5; i++)
		if ((r = buf_printf(b, "sealtrail_syslog_events_total{outcome=\"%s\"} %llu\n", outcome[i],
				    (unsigned long long)stat_get(&t->events[i]))) < 0)
			return r;
	if ((r = counter(b, "sealtrail_syslog_batches_total", "Syslog batches submitted.",
			 stat_get(&t->batches))) < 0 ||
	    (r = counter(b, "sealtrail_syslog_batch_retries_total",
			 "Syslog batches held and submitted again (queue full, log failed, low disk): "
			 "their connections were not read meanwhile.", stat_get(&t->batch_retries))) < 0)
		return r;
	return 0;
}

/* utime+stime and RSS from /proc/self (Linux). */
static void process_usage(double *cpu_s, double *rss_bytes)
{
	char buf[1024];
	FILE *f;

	*cpu_s = 0;
	*rss_bytes = 0;
	if ((f = fopen("/proc/self/stat", "re"))) {
		if (fgets(buf, sizeof(buf), f)) {
			const char *p = strrchr(buf, ')');
			unsigned long ut = 0, st = 0;
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		fclose(f);
	}
	if ((f = fopen("/proc/self/statm", "re"))) {
		unsigned long size, res;
		if (fscanf(f, "%lu %lu", &size, &res) == 2)
			*rss_bytes = (double)res * (double)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

int metrics_render(struct server *s, struct buf *b)
{
	struct ingest_stats *is = ingest_stats(s->ingest);
	static const char *const classes[6] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	double cpu, rss;
	int r = 0;

#define TRY(x) do { if ((r = (x)) < 0) return r; } while (0)
	TRY(counter(b, "sealtrail_events_accepted_total",
		    "Producer events durably committed and acknowledged (duplicates excluded).",
		    stat_get(&s->st.events_accepted)));
	TRY(counter(b, "sealtrail_event_bytes_accepted_total",
		    "Compact bytes of the producer events accepted.", stat_get(&s->st.bytes_accepted)));
	TRY(counter(b, "sealtrail_log_entries_committed_total",
		    "Entries committed to the log: producer events and meta-audit events.",
		    stat_get(&is->events_committed)));
	TRY(counter(b, "sealtrail_log_bytes_committed_total",
		    "Compact bytes of every committed entry's producer part.",
		    stat_get(&is->bytes_committed)));
	TRY(counter(b, "sealtrail_events_duplicate_total",
		    "Events not appended again because their id was already in the log.",
		    stat_get(&is->events_duplicate)));
	TRY(head(b, "sealtrail_events_rejected_total", "counter", "Events refused, by reason."));
	for (int i = 0; i < REJ_COUNT; i++)
		TRY(buf_printf(b, "sealtrail_events_rejected_total{reason=\"%s\"} %llu\n",
			       reject_reason_name((enum reject_reason)i),
			       (unsigned long long)stat_get(&s->st.events_rejected[i])));
	TRY(head(b, "sealtrail_event_bytes_rejected_total", "counter", "Bytes of refused events, by reason."));
	for (int i = 0; i < REJ_COUNT; i++)
		TRY(buf_printf(b, "sealtrail_event_bytes_rejected_total{reason=\"%s\"} %llu\n",
			       reject_reason_name((enum reject_reason)i),
			       (unsigned long long)stat_get(&s->st.bytes_rejected[i])));
	/* The policy pipeline (docs/REDACTION.md): only the series that
	 * happened, so a quiet server does not list 72 zeros. */
	TRY(head(b, "sealtrail_redactions_total", "counter",
		 "Values changed by the policy: by an explicit rule (detector=\"rule\") or a detector hit, by action."));
	for (int a = POLICY_DROP; a <= POLICY_KEEP; a++)
		if (stat_get(&s->st.redact_rule[a]))
			TRY(buf_printf(b, "sealtrail_redactions_total{detector=\"rule\",action=\"%s\"} %llu\n",
				       policy_action_name((enum policy_action)a),
				       (unsigned long long)stat_get(&s->st.redact_rule[a])));
	for (int d = 0; d < DET_COUNT; d++)
		for (int a = POLICY_DROP; a <= POLICY_KEEP; a++)
			if (stat_get(&s->st.redact_det[d][a]))
				TRY(buf_printf(b, "sealtrail_redactions_total{detector=\"%s\",action=\"%s\"} %llu\n",
					       detector_name((enum detector)d),
					       policy_action_name((enum policy_action)a),
					       (unsigned long long)stat_get(&s->st.redact_det[d][a])));
	TRY(head(b, "sealtrail_redaction_misses_total", "counter",
		 "Detector hits in values whose policy says keep (the value is never reported)."));
	for (int d = 0; d < DET_COUNT; d++)
		TRY(buf_printf(b, "sealtrail_redaction_misses_total{detector=\"%s\"} %llu\n",
			       detector_name((enum detector)d),
			       (unsigned long long)stat_get(&s->st.redact_miss[d])));
	TRY(head(b, "sealtrail_schema_validations_total", "counter",
		 "Events checked against a schema, by result (pass, fail, unknown: the schema named is not registered)."));
	for (int i = 0; i < 3; i++)
		TRY(buf_printf(b, "sealtrail_schema_validations_total{result=\"%s\"} %llu\n",
			       i == 0 ? "pass" : i == 1 ? "fail" : "unknown",
			       (unsigned long long)stat_get(&s->st.schema_checks[i])));
	TRY(counter(b, "sealtrail_events_quarantined_total",
		    "Events that failed their schema and went to the quarantine instead of the log.",
		    stat_get(&s->st.events_quarantined)));
	if (s->quarantine) {
		uint64_t qc[3], qb;
		quarantine_counts(s->quarantine, qc, &qb);
		TRY(head(b, "sealtrail_quarantine_entries", "gauge", "Quarantine entries by state."));
		for (int i = 0; i < 3; i++)
			TRY(buf_printf(b, "sealtrail_quarantine_entries{state=\"%s\"} %llu\n",
				       q_state_name((enum q_state)i), (unsigned long long)qc[i]));
		TRY(head(b, "sealtrail_quarantine_bytes", "gauge", "Size of the quarantine file (quarantine_max bounds it)."));
		TRY(buf_printf(b, "sealtrail_quarantine_bytes %llu\n", (unsigned long long)qb));
	}
	/* issue 6: capture rate per producer instance (capture.c) */
	if (s->capture)
		TRY(capture_metrics(s->capture, now_realtime_ns(), 256, b));
	/* issue 5: pass rate per schema and producer (schemas.c), resubmits */
	TRY(schema_stats_render(s->schema_stats, b));
	TRY(head(b, "sealtrail_quarantine_resubmits_total", "counter",
		 "Quarantine resubmits: committed to the log, refused again by the schema, failed (log or file)."));
	for (int i = 0; i < 3; i++)
		TRY(buf_printf(b, "sealtrail_quarantine_resubmits_total{result=\"%s\"} %llu\n",
			       i == 0 ? "committed" : i == 1 ? "refused" : "failed",
			       (unsigned long long)stat_get(&s->resubmits[i])));
	TRY(counter(b, "sealtrail_events_sampled_out_total",
		    "Events not written because their class is sampled (each counted in a summary event).",
		    stat_get(&s->st.events_sampled_out)));
	TRY(counter(b, "sealtrail_sample_summaries_total",
		    "Sampling summary events written (sealtrail.sampling.summary).",
		    stat_get(&s->st.sample_summaries)));
	TRY(counter(b, "sealtrail_sample_summaries_lost_total",
		    "Sampling summary events the log refused (their counts are lost; an alert).",
		    stat_get(&s->st.sample_summaries_lost)));
	TRY(head(b, "sealtrail_events_by_criticality_total", "counter",
		 "Events the policy classified, by criticality."));
	for (int c = POLICY_CRIT_LOW; c <= POLICY_CRIT_CRITICAL; c++)
		TRY(buf_printf(b, "sealtrail_events_by_criticality_total{criticality=\"%s\"} %llu\n",
			       policy_crit_name((enum policy_crit)c),
			       (unsigned long long)stat_get(&s->st.events_by_crit[c])));
	TRY(head(b, "sealtrail_http_requests_total", "counter", "HTTP responses, by status class."));
	for (int i = 0; i < 6; i++)
		TRY(buf_printf(b, "sealtrail_http_requests_total{code=\"%s\"} %llu\n", classes[i],
			       (unsigned long long)stat_get(&s->st.requests[i])));
	TRY(head(b, "sealtrail_auth_failures_total", "counter", "Requests refused with 401, by reason."));
	for (int i = 1; i < 6; i++)
		TRY(buf_printf(b, "sealtrail_auth_failures_total{reason=\"%s\"} %llu\n",
			       auth_result_name((enum auth_result)i),
			       (unsigned long long)stat_get(&s->st.auth_failures[i])));
	TRY(counter(b, "sealtrail_denials_total", "Requests refused with 403 (role or tenant).",
		    stat_get(&s->st.denials)));
	TRY(counter(b, "sealtrail_rate_limited_total", "Requests refused with 429 by a token's rate.",
		    stat_get(&s->st.rate_limited)));
	TRY(counter(b, "sealtrail_overloaded_total",
		    "Requests refused with 429/503 because the ingest queue was full or draining.",
		    stat_get(&s->st.overloaded)));
	TRY(counter(b, "sealtrail_audit_events_total", "Meta-audit events queued (tenant _sealtrail).",
		    stat_get(&s->st.audit_events)));
	TRY(counter(b, "sealtrail_audit_refused_total",
		    "Requests answered 503 because their meta-audit event could not be queued.",
		    stat_get(&s->st.audit_refused)));
	TRY(counter(b, "sealtrail_audit_lost_total",
		    "Meta-audit events queued but then refused by the log (disk below the reserve, or a log failure).",
		    stat_get(&s->st.audit_lost)));
	TRY(counter(b, "sealtrail_slow_clients_cut_total",
		    "Connections closed because a request was not received within read_timeout.",
		    stat_get(&s->st.slow_clients_cut)));
	TRY(counter(b, "sealtrail_traceparent_ignored_total",
		    "Ingest requests whose traceparent header was invalid and ignored (W3C Trace Context).",
		    stat_get(&s->st.traceparent_ignored)));
	TRY(counter(b, "sealtrail_connections_refused_total",
		    "Connections refused at max_connections.", stat_get(&s->st.connections_refused)));
	TRY(syslog_metrics(b, syslogd_stats(s->syslogd)));
	TRY(gauge(b, "sealtrail_connections", "Open client connections.",
		  (double)stat_gauge_get(&s->st.connections)));
	TRY(hist(b, "sealtrail_ack_latency_seconds",
		 "From receipt of a request to its events being durable (or its checkpoint signed).",
		 &is->ack_seconds));
	TRY(hist(b, "sealtrail_group_commit_events", "Events per group commit (one write + fdatasync).",
		 &is->group_events));
	TRY(hist(b, "sealtrail_group_commit_seconds", "Duration of one group commit.",
		 &is->commit_seconds));
	TRY(hist(b, "sealtrail_http_request_seconds", "Request handling time, receipt to reply.",
		 &s->st.request_seconds));
	TRY(counter(b, "sealtrail_group_commits_total", "Group commits.", stat_get(&is->groups)));
	TRY(counter(b, "sealtrail_commit_errors_total", "Groups refused or failed.",
		    stat_get(&is->commit_errors)));
	TRY(gauge(b, "sealtrail_ingest_queue_events", "Events queued for the committer.",
		  (double)stat_gauge_get(&is->queue_events)));
	TRY(gauge(b, "sealtrail_ingest_queue_bytes", "Bytes queued for the committer.",
		  (double)stat_gauge_get(&is->queue_bytes)));
	TRY(gauge(b, "sealtrail_checkpoint_waiters", "Requests waiting for a checkpoint.",
		  (double)stat_gauge_get(&is->cp_waiters)));
	TRY(gauge(b, "sealtrail_tree_size", "Entries in the log.", (double)log_size(s->log)));
	TRY(gauge(b, "sealtrail_checkpoint_size", "Tree size of the latest signed checkpoint.",
		  (double)stat_gauge_get(&is->checkpoint_size)));
	int64_t last = stat_gauge_get(&is->last_checkpoint_ns);
	TRY(gauge(b, "sealtrail_checkpoint_age_seconds", "Seconds since the latest checkpoint was signed.",
		  last ? (double)(now_realtime_ns() - last) / 1e9 : -1));
	TRY(counter(b, "sealtrail_checkpoints_total", "Checkpoints signed or confirmed by the server.",
		    stat_get(&is->checkpoints)));
	TRY(gauge(b, "sealtrail_disk_free_bytes", "Free bytes on the data directory's file system.",
		  (double)stat_gauge_get(&is->free_bytes)));
	TRY(head(b, "sealtrail_disk_threshold_bytes", "gauge", "Configured free-space thresholds."));
	pthread_rwlock_rdlock(&s->cfg_lock);
	TRY(buf_printf(b, "sealtrail_disk_threshold_bytes{level=\"space_left\"} %llu\n"
		       "sealtrail_disk_threshold_bytes{level=\"admin_space_left\"} %llu\n"
		       "sealtrail_disk_threshold_bytes{level=\"disk_full\"} %llu\n",
		       (unsigned long long)s->cfg.space_left,
		       (unsigned long long)s->cfg.admin_space_left,
		       (unsigned long long)s->cfg.disk_full));
	pthread_rwlock_unlock(&s->cfg_lock);
	TRY(gauge(b, "sealtrail_disk_level",
		  "0 ok, 1 below space_left, 2 below admin_space_left, 3 below disk_full.",
		  (double)stat_gauge_get(&is->disk_level)));
	TRY(gauge(b, "sealtrail_log_failed", "1 when the log refused a write and is read-only.",
		  ingest_failed(s->ingest) ? 1 : 0));
	struct index_status ixs;
	index_status(s->index, &ixs);
	TRY(gauge(b, "sealtrail_index_entries", "Entries searchable in the index.", (double)ixs.indexed));
	TRY(gauge(b, "sealtrail_index_lag_entries", "Durable entries not yet searchable.",
		  (double)(ixs.log_size - ixs.indexed)));
	TRY(gauge(b, "sealtrail_index_lag_seconds",
		  "Age (by received time) of the oldest durable entry not yet searchable; 0 when caught up.",
		  (double)ixs.lag_ns / 1e9));
	TRY(gauge(b, "sealtrail_index_chunks", "Index chunk files.", (double)ixs.chunks));
	TRY(gauge(b, "sealtrail_index_bytes", "Bytes of the index chunk files.", (double)ixs.bytes));
	TRY(counter(b, "sealtrail_index_chunks_built_total", "Chunks built since start.", ixs.built));
	TRY(counter(b, "sealtrail_index_merges_total", "Chunk merges since start.", ixs.merged));
	TRY(gauge(b, "sealtrail_index_failed", "1 while the indexer's last step failed (it retries).",
		  ixs.last_error ? 1 : 0));
	process_usage(&cpu, &rss);
	TRY(head(b, "process_cpu_seconds_total", "counter", "User and system CPU time."));
	TRY(buf_printf(b, "process_cpu_seconds_total %.2f\n", cpu));
	TRY(gauge(b, "process_resident_memory_bytes", "Resident set size.", rss));
	TRY(gauge(b, "process_start_time_seconds", "Start time since the Unix epoch.",
		  (double)s->started_ns / 1e9));
#undef TRY
	return r;
}
