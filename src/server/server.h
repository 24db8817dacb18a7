/*
 * server.h - `sealtrail serve`: the pieces of one running server and how
 * they meet. The glue (httpd.c) owns sockets and threads; api.c answers
 * requests; audit.c writes the meta-audit events; metrics.c renders
 * /metrics; ratelimit.c holds the per-token buckets.
 *
 * Lifetime: server_run() opens the log, starts ingest and the I/O
 * threads, and returns after SIGTERM/SIGINT once the drain is complete
 * (in-flight requests answered, everything committed, a final checkpoint
 * signed). SIGHUP reloads tokens, limits and thresholds and reopens the
 * log file.
 */
#ifndef SEALTRAIL_SERVER_SERVER_H
#define SEALTRAIL_SERVER_SERVER_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/stats.h"
#include "index/index.h"
#include "ingest/body.h"
#include "ingest/ingest.h"
#include "log/log.h"
#include "policy/apply.h"
#include "policy/token.h"
#include "server/config.h"
#include "server/http.h"

#define META_TENANT "_sealtrail"

/* Why an event was refused; the metric label and the error code. */
enum reject_reason {
	REJ_INVALID,        /* the event parser refused it */
	REJ_LIMIT,          /* an event limit */
	REJ_TENANT,         /* tenant outside the token's scope or reserved */
	REJ_DISK,           /* admin_space_left or disk_full */
	REJ_QUEUE,          /* ingest queue full (whole request) */
	REJ_LOG,            /* the log refused or failed */
	REJ_POLICY,         /* the policy could not be applied (e.g. the vault failed) */
	REJ_SCHEMA,         /* the event fails its schema, or names an unknown one */
	REJ_COUNT
};
const char *reject_reason_name(enum reject_reason r);

struct server_stats {
	struct stat_counter events_accepted;
	struct stat_counter bytes_accepted;
	struct stat_counter events_rejected[REJ_COUNT];
	struct stat_counter bytes_rejected[REJ_COUNT];
	struct stat_counter requests[6];          /* by status class 1xx..5xx, [0] other */
	struct stat_counter auth_failures[6];     /* by enum auth_result (AUTH_OK unused) */
	struct stat_counter denials;              /* 403 */
	struct stat_counter rate_limited;         /* 429 by token rate */
	struct stat_counter overloaded;           /* 429/503 by queue */
	struct stat_counter audit_events;
	struct stat_counter audit_refused;
	struct stat_counter audit_lost;           /* queued, then refused by the log */
	struct stat_counter slow_clients_cut;
	struct stat_counter traceparent_ignored;  /* invalid traceparent headers on ingest */
	/* the policy pipeline: values changed by explicit rules (by action),
	 * detector hits (by detector and action), redaction misses (a hit
	 * under `keep`), events by criticality */
	struct stat_counter redact_rule[POLICY_KEEP + 1];
	struct stat_counter redact_det[DET_COUNT][POLICY_KEEP + 1];
	struct stat_counter redact_miss[DET_COUNT];
	struct stat_counter events_by_crit[POLICY_CRIT_CRITICAL + 1];
	struct stat_counter events_sampled_out;   /* not written: counted in summaries */
	struct stat_counter schema_checks[3];     /* pass, fail, unknown schema */
	struct stat_counter events_quarantined;   /* failed their schema, kept in the quarantine */
	struct stat_counter sample_summaries;     /* summary events written */
	struct stat_counter sample_summaries_lost; /* summaries the log refused */
	struct stat_counter connections_refused;
	struct stat_gauge connections;
	struct stat_hist request_seconds;
};

struct ratelimit;
struct syslogd;

struct server {
	struct server_config cfg;
	pthread_rwlock_t cfg_lock;     /* SIGHUP replaces the reloadable parts */
	char dir[PATH_MAX];
	char config_path[PATH_MAX];
	/* Readers: every request handler (api.c) and every posted ingest
	 * completion; writer: the main thread when it reopens a failed log.
	 * log, ingest and index are NULL only while a reopen has failed. */
	pthread_rwlock_t log_lock;
	struct log *log;
	struct ingest *ingest;
	struct index *index;           /* the search index of log; NULL with it */
	struct ingest_options ingest_opt;
	struct token_store *tokens;
	struct ratelimit *rl;
	struct server_stats st;
	int64_t started_ns;
	atomic_bool draining;
	atomic_int last_disk_level;    /* for the space_left warning event */
	pthread_mutex_t logf_mu;
	FILE *logf;
	/* The policy pipeline (pipeline.c): the policy in force (NULL: none;
	 * swapped under cfg_lock), the token vault and the policy key. */
	struct apply_env *penv;
	struct vault *vault;
	struct capture *capture;         /* capture-rate accounting (capture.c) */
	uint8_t policy_key[APPLY_KEY_BYTES];
	struct sampler *sampler;       /* with a policy: counts for the summaries */
	struct registry *registry;     /* the schema registry (DIR/schemas) */
	struct quarantine *quarantine; /* events that failed their schema (DIR/quarantine) */
	struct schema_stats *schema_stats; /* schemas.c: validations by schema, producer, result */
	struct stat_counter resubmits[3];  /* quarantine resubmits: committed, refused again, failed */
	struct syslogd *syslogd;       /* the syslog listeners (syslogd.c); NULL: none */
};

/* schemas.c (issue 5, DECISIONS 28): the schema-validation metric by
 * (schema, producer, result), at most 256 pairs, the rest under _other. */
enum schema_result { SCHEMA_PASS, SCHEMA_FAIL, SCHEMA_UNKNOWN };
struct schema_stats;
int schema_stats_new(struct schema_stats **ret);
void schema_stats_free(struct schema_stats *t);   /* NULL is a no-op */
void schema_stats_count(struct schema_stats *t, const char *ref, const char *producer,
			enum schema_result res);
/* schema_stats_count n times over (a request's passes, counted once). */
void schema_stats_add(struct schema_stats *t, const char *ref, const char *producer,
		      enum schema_result res, uint64_t n);
int schema_stats_render(struct schema_stats *t, struct buf *out);

/* pipeline.c: opens the policy, its key and the vault when policy_file
 * is set (errors name the file and line); swaps in the policy of path on
 * SIGHUP ("" removes it), auditing each load; closes them; sums each
 * event's redaction and criticality counts into a request's
 * pipeline_counts (pipeline_count) and adds those to the metrics
 * (pipeline_flush, once per request; it zeroes pc). */
struct pipeline_counts {
	struct apply_counts c;
	uint64_t by_crit[POLICY_CRIT_CRITICAL + 1];
	bool any;
};
int pipeline_open(struct server *s, char *err, size_t cap);
void pipeline_reload(struct server *s, const char *path);
void pipeline_close(struct server *s);
void pipeline_count(struct pipeline_counts *pc, const struct apply_result *res);
void pipeline_flush(struct server *s, struct pipeline_counts *pc);

/* sampling.c (docs/SAMPLING.md): the keyed decision for (tenant, id) at
 * rate (a fair coin without an id), the count of each decision per
 * (tenant, class, producer), and the summary events: written when the
 * interval has passed since the last (or always with final, at the
 * drain). */
struct sampler;
int sampler_new(struct sampler **ret, const uint8_t policy_key[APPLY_KEY_BYTES]);
void sampler_free(struct sampler *sm);
bool sampler_keep(const struct sampler *sm, const char *tenant, size_t tl, const char *id,
		  size_t idl, double rate);
void sampler_count(struct server *s, struct sampler *sm, const char *tenant, size_t tl,
		   const struct policy_sample *cls, const char *producer, bool kept);
void sampler_tick(struct server *s, struct sampler *sm, int64_t interval_ms, bool final);

/*
 * The ingest core (api.c), the same for every transport (HTTP, syslog):
 * a body of events, each through the policy, schemas, sampling and
 * enrichment, then one durable job. The transport says who sent it:
 *
 *   tok          the principal: its name is the events' producer, its
 *                tenant scope decides their tenant, its context is the
 *                first enrichment layer (a syslog listener makes one)
 *   listener     the listener's context (the second layer), or NULL
 *   request_id, traceparent   header values, or NULL
 *   peer         the client address (client_ip), or NULL
 *
 * Flow: ingest_req_build (the caller holds log_lock for reading), then
 * ingest_req_submit; when done(q, arg) runs (on an ingest thread), the
 * transport takes log_lock again, calls ingest_req_settle, reads each
 * item's ingest_req_result and frees q. The caller owns q throughout.
 */
struct ingest_origin {
	const struct token *tok;
	const struct ev_context *listener;
	const char *request_id;
	const char *traceparent;
	const char *peer;
	/* The events were composed by the server itself (a syslog listener's
	 * mapping), so source.client_cert is its own record of a verified
	 * client certificate; from any other origin that member is refused
	 * (DECISIONS.md 31). */
	bool server_composed;
};
struct ingest_req;
enum ingest_outcome {
	INGEST_COMMITTED, INGEST_DUPLICATE, INGEST_REFUSED, INGEST_SAMPLED_OUT, INGEST_QUARANTINED,
};
struct ingest_result {
	enum ingest_outcome kind;
	enum reject_reason reason;   /* INGEST_REFUSED, INGEST_QUARANTINED */
	const char *msg;             /* why (not NUL-terminated), in q */
	size_t msg_len;
	const char *path;            /* the field, in q */
	size_t path_len;
	size_t at;                   /* byte of the body where the problem is */
	uint64_t seq;                /* committed or duplicate: the seq; quarantined: its id */
};
/* n: the events body_count found. 0 and *ret; -ENOMEM; ST_EINVAL (a
 * malformed request id: err says so). */
int ingest_req_build(struct server *s, const struct ingest_origin *o, const uint8_t *body,
		     size_t blen, enum body_kind kind, size_t n, struct buf *mapped,
		     struct ingest_req **ret, char *err, size_t errcap);
/* 0 queued (done will run), 1 nothing to commit, else ingest_submit's
 * refusal (done will not run; q may be submitted again later). */
int ingest_req_submit(struct ingest_req *q, bool wait_cp,
		      void (*done)(struct ingest_req *q, void *arg), void *arg);
/* After done: the accounting (accepted, duplicates, capture); the job's
 * result (negative: the log refused it whole; counted as refused only with
 * count_failure). */
int ingest_req_settle(struct ingest_req *q, bool count_failure);
size_t ingest_req_items(const struct ingest_req *q);
size_t ingest_req_pending(const struct ingest_req *q);   /* events in the job */
void ingest_req_result(const struct ingest_req *q, size_t i, struct ingest_result *ret);
void ingest_req_free(struct ingest_req *q);   /* NULL is a no-op */

/* Answers one complete request (called by the glue on an I/O thread). */
void api_handle(struct server *s, struct hreq *r);

/* Server diagnostics to the log file (never secrets). */
void server_logf(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Meta-audit: one event of tenant _sealtrail per request. */
struct audit_rec {
	const char *action;          /* "sealtrail.events.read", ... */
	const char *outcome;         /* success, denied, failure */
	const struct token *tok;     /* NULL: unauthenticated */
	struct hreq *req;            /* method, path, query, peer */
	int status;
	const char *tenant;          /* the tenant the request was about, or NULL */
	const char *resource_type;
	const char *resource_id;
	const char *reason;          /* NULL or a short why (never a secret) */
};
/* Queues the event (it is committed with the next group; not waited for).
 * 0, or the ingest refusal (the caller then answers 503: no read is
 * served unaudited). */
int audit_record(struct server *s, const struct audit_rec *a);
/* Queues one event the server writes itself (a meta-audit event, a
 * sampling summary): json is a producer-form event of that tenant,
 * validated like any; "producer" is "sealtrail". Uses the ingest reserve
 * (still written under admin_space_left). 0 or a negative error. */
int server_event_submit(struct server *s, const uint8_t *json, size_t n, const char *tenant);

/* Renders /metrics. */
int metrics_render(struct server *s, struct buf *out);

/* Per-token request rate. Returns 0 when allowed, else the seconds to wait. */
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);
unsigned ratelimit_take(struct ratelimit *rl, const char *key, double rate, double burst,
			int64_t now_ns);

/* The glue: binds listeners, runs I/O threads until drain. */
struct httpd;
int httpd_start(struct httpd **ret, struct server *s, char *err, size_t errcap);
/* Stops accepting, waits until no request is in flight (bounded by
 * timeout_ms), then stops the loops. */
void httpd_drain(struct httpd *h, unsigned timeout_ms);
void httpd_free(struct httpd *h);
/* SIGHUP: reload TLS certificate and limits. */
int httpd_reload(struct httpd *h, char *err, size_t errcap);

struct serve_options {
	const char *dir;
	const char *config;          /* NULL: defaults */
	const char *listen;          /* NULL: from config or 127.0.0.1:7465 */
	bool init_if_missing;        /* make run: create the log and an admin token */
};
/* Runs the server until SIGTERM/SIGINT; 0 after a clean drain. */
int server_run(const struct serve_options *o);

#endif
