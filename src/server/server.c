/*
 * server.c - `sealtrail serve`: start-up, signals, reload and drain.
 *
 * Order of start: config, log (recovery), tokens, ingest threads, HTTP
 * listeners. Order of stop (SIGTERM/SIGINT): refuse new connections,
 * answer everything in flight, commit what is queued, sign a final
 * checkpoint, close the log, exit 0. Signals are blocked in every thread
 * and taken synchronously by the main thread (sigtimedwait), so no work
 * runs in a signal handler.
 */
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "policy/quarantine.h"
#include "server/capture.h"
#include "server/syslogd.h"
#include "policy/registry.h"

void server_logf(struct server *s, const char *fmt, ...)
{
	char ts[RFC3339_US_LEN + 1];
	va_list ap;

	rfc3339_format_us(now_realtime_ns(), ts);
	pthread_mutex_lock(&s->logf_mu);
	FILE *f = s->logf ? s->logf : stderr;
	fprintf(f, "%s sealtrail: ", ts);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	pthread_mutex_unlock(&s->logf_mu);
}

static int open_logfile(struct server *s)
{
	FILE *f = NULL;

	if (s->cfg.log_file[0] && !(f = fopen(s->cfg.log_file, "ae")))
		return -errno;
	pthread_mutex_lock(&s->logf_mu);
	if (s->logf)
		fclose(s->logf);
	s->logf = f;
	pthread_mutex_unlock(&s->logf_mu);
	return 0;
}

/* SIGHUP: the settings that are safe to change live. */
static void reload(struct server *s, struct httpd *h)
{
	struct server_config nc;
	char err[512];

	config_defaults(&nc);
	if (s->config_path[0] && config_load(&nc, s->config_path, err, sizeof(err)) < 0) {
		server_logf(s, "reload refused, the old settings stay: %s", err);
		return;
	}
	pthread_rwlock_wrlock(&s->cfg_lock);
	/* Listeners, threads and TLS files need a restart; everything a
	 * request reads is swapped. */
	s->cfg.max_body = nc.max_body;
	s->cfg.read_timeout_s = nc.read_timeout_s;
	s->cfg.max_connections = nc.max_connections;
	s->cfg.max_batch_events = nc.max_batch_events;
	s->cfg.rate_per_token = nc.rate_per_token;
	s->cfg.rate_burst = nc.rate_burst;
	s->cfg.retry_after_s = nc.retry_after_s;
	s->cfg.checkpoint_max_age_ms = nc.checkpoint_max_age_ms;
	s->cfg.space_left = nc.space_left;
	s->cfg.admin_space_left = nc.admin_space_left;
	s->cfg.disk_full = nc.disk_full;
	memcpy(s->cfg.critical, nc.critical, sizeof(nc.critical));
	s->cfg.context = nc.context;
	s->cfg.sample_summary_ms = nc.sample_summary_ms;
	s->cfg.capture_grace_ms = nc.capture_grace_ms;
	s->cfg.ncritical = nc.ncritical;
	snprintf(s->cfg.log_file, sizeof(s->cfg.log_file), "%s", nc.log_file);
	pthread_rwlock_unlock(&s->cfg_lock);
	ingest_set_thresholds(s->ingest, nc.space_left, nc.admin_space_left, nc.disk_full);
	if (s->capture)
		capture_set_grace(s->capture, (int64_t)nc.capture_grace_ms * 1000000LL);
	if (open_logfile(s) < 0)
		server_logf(s, "reload: cannot open log file %s", nc.log_file);
	int r = token_store_reload(s->tokens);
	httpd_reload(h, err, sizeof(err));
	pipeline_reload(s, nc.policy_file);
	pthread_rwlock_wrlock(&s->cfg_lock);
	snprintf(s->cfg.policy_file, sizeof(s->cfg.policy_file), "%s", nc.policy_file);
	pthread_rwlock_unlock(&s->cfg_lock);
	server_logf(s, "reloaded settings%s", r > 0 ? " and tokens" : "");
}

/* A disk level change becomes a log line and, at space_left and worse, a
 * meta-audit event. */
static void watch_disk(struct server *s)
{
	enum disk_level d = ingest_disk_level(s->ingest);
	int old = atomic_exchange(&s->last_disk_level, (int)d);

	if ((int)d == old)
		return;
	server_logf(s, "disk level %s -> %s (%lld bytes free)", disk_level_name((enum disk_level)old),
		    disk_level_name(d), (long long)stat_gauge_get(&ingest_stats(s->ingest)->free_bytes));
	if (d > (enum disk_level)old && d >= DISK_SPACE_LEFT) {
		char action[64];
		snprintf(action, sizeof(action), "sealtrail.disk.%s", disk_level_name(d));
		struct audit_rec a = { .action = action, .outcome = "failure",
				       .status = 0, .resource_type = "disk",
				       .resource_id = s->dir, .reason = "free space below a threshold" };
		audit_record(s, &a);
	}
}

/* After a write or fdatasync error the log refuses every append until it
 * is closed and opened again (recovery). Once the disk is above disk_full
 * again, do that here, with every request handler held off by the log
 * lock: stop ingest (its queued jobs are answered with the failure), close,
 * open (recovery keeps exactly the acknowledged prefix), start ingest. If
 * the open fails, requests get 503 and the next attempt comes later. */
/* Opens the search index of s->log and starts its indexer. */
/* ---- capture-rate accounting (capture.c, docs/CAPTURE.md) ---- */

struct replay_ctx {
	struct capture *c;
	int64_t now;
};

static int replay_one(void *arg, uint64_t seq, const uint8_t *entry, size_t len)
{
	struct replay_ctx *x = arg;
	(void)seq;
	capture_replay(x->c, entry, len, x->now);
	return 0;
}

static void capture_path(const struct server *s, char *path, size_t cap)
{
	if (snprintf(path, cap, "%s/capture.state", s->dir) >= (int)cap)
		path[0] = 0;   /* a data dir this long failed to open before */
}

/* The saved state, then the log entries it may not have counted. */
static int capture_start(struct server *s)
{
	char path[PATH_MAX], err[512];
	uint64_t from = 0, n = 0;
	int r;
	if ((r = capture_new(&s->capture, (int64_t)s->cfg.capture_grace_ms * 1000000LL)) < 0)
		return r;
	capture_path(s, path, sizeof(path));
	if ((r = capture_load(s->capture, path, &from, err, sizeof(err))) < 0) {
		server_logf(s, "capture: %s (remove the file to rebuild it from the log)", err);
		return r;
	}
	uint64_t size = log_size(s->log);
	int64_t t0 = now_monotonic_ns();
	struct replay_ctx x = { s->capture, now_realtime_ns() };
	struct buf scratch = BUF_INIT(64u << 20);
	for (uint64_t seq = from; seq < size;) {
		int64_t k = log_read_run(s->log, seq, size - seq, 1u << 20, &scratch, replay_one, &x);
		if (k <= 0) {
			server_logf(s, "capture: reading the log at seq %llu: %s", (unsigned long long)seq,
				    st_strerror(k < 0 ? (int)k : ST_ECORRUPT));
			buf_release(&scratch);
			return k < 0 ? (int)k : ST_ECORRUPT;
		}
		seq += (uint64_t)k;
		n += (uint64_t)k;
	}
	buf_release(&scratch);
	if (n)
		server_logf(s, "capture: counted %llu log entries from seq %llu in %lld ms", (unsigned long long)n,
			    (unsigned long long)from, (long long)((now_monotonic_ns() - t0) / 1000000));
	return 0;
}

/* Each second: due gaps become sealtrail.capture.gap events; every 10 s
 * the state is saved (a crash then replays from there). */
static void capture_periodic(struct server *s, int64_t *last_save)
{
	struct capture_gap g[64];
	char now[RFC3339_US_LEN + 1];
	int64_t t = now_realtime_ns();
	size_t k = capture_tick(s->capture, t, g, ARRAY_SIZE(g));
	pthread_rwlock_rdlock(&s->cfg_lock);
	double grace = (double)s->cfg.capture_grace_ms / 1000.0;
	pthread_rwlock_unlock(&s->cfg_lock);
	rfc3339_format_us(t, now);
	for (size_t i = 0; i < k; i++) {
		struct buf ev = BUF_INIT(2048);
		/* names are from charsets with nothing to escape (token names,
		 * producer ids: event.c) */
		if (buf_printf(&ev, "{\"time\":\"%s\",\"tenant\":\"_sealtrail\",\"action\":\"sealtrail.capture.gap\","
				    "\"actor\":{\"id\":\"sealtrail\",\"type\":\"server\"},"
				    "\"resource\":{\"type\":\"producer\",\"id\":\"%s/%s\"},\"outcome\":\"failure\","
				    "\"reason\":\"producer seqs %llu..%llu did not arrive within the grace period\","
				    "\"metadata\":{\"producer\":\"%s\",\"producer_id\":\"%s\",\"from\":%llu,\"to\":%llu,"
				    "\"count\":%llu,\"grace_seconds\":%.3f}}",
			       now, g[i].producer, g[i].producer_id, (unsigned long long)g[i].from,
			       (unsigned long long)g[i].to, g[i].producer, g[i].producer_id,
			       (unsigned long long)g[i].from, (unsigned long long)g[i].to,
			       (unsigned long long)(g[i].to - g[i].from + 1), grace) < 0 ||
		    server_event_submit(s, ev.data, ev.len, "_sealtrail") < 0)
			server_logf(s, "capture: the gap %s/%s %llu..%llu could not be recorded", g[i].producer,
				    g[i].producer_id, (unsigned long long)g[i].from, (unsigned long long)g[i].to);
		else
			server_logf(s, "capture: gap %s/%s %llu..%llu", g[i].producer, g[i].producer_id,
				    (unsigned long long)g[i].from, (unsigned long long)g[i].to);
		buf_release(&ev);
	}
	int64_t m = now_monotonic_ns();
	if (m - *last_save >= 10000000000LL) {
		char path[PATH_MAX];
		*last_save = m;
		capture_path(s, path, sizeof(path));
		int r = capture_save(s->capture, path, log_size(s->log), false);
		if (r < 0)
			server_logf(s, "capture: saving %s: %s", path, st_strerror(r));
	}
}

static int start_index(struct server *s)
{
	char err[512];
	struct index_options io;
	int r;

	index_options_default(&io);
	if ((r = index_open(&s->index, s->log, s->dir, &io, err, sizeof(err))) < 0) {
		server_logf(s, "index: %s", err);
		return r;
	}
	if ((r = index_start(s->index)) < 0) {
		server_logf(s, "index: %s", st_strerror(r));
		index_close(s->index);
		s->index = NULL;
	}
	return r;
}

static void recover_log(struct server *s)
{
	char err[512];
	int r;

	pthread_rwlock_wrlock(&s->log_lock);
	if (s->ingest) {
		server_logf(s, "the log refused a write (%s): reopening it to run recovery",
			    st_strerror(ingest_failed(s->ingest)));
		ingest_stop(s->ingest);
		s->ingest = NULL;
	}
	index_close(s->index);
	s->index = NULL;
	log_close(s->log);
	s->log = NULL;
	if ((r = log_open(&s->log, s->dir, err, sizeof(err))) < 0) {
		s->log = NULL;
		server_logf(s, "recovery: open %s: %s (next attempt in 5 s)", s->dir, err);
	} else if ((r = ingest_start(&s->ingest, s->log, &s->ingest_opt)) < 0) {
		server_logf(s, "recovery: ingest: %s", st_strerror(r));
		log_close(s->log);
		s->log = NULL;
	} else if ((r = start_index(s)) < 0) {
		ingest_stop(s->ingest);
		s->ingest = NULL;
		log_close(s->log);
		s->log = NULL;
	} else {
		server_logf(s, "recovered: tree size %llu; ingest resumed",
			    (unsigned long long)log_size(s->log));
	}
	pthread_rwlock_unlock(&s->log_lock);
}

/* Free space above disk_full and above 4 MiB (disk_full may be 0). With
 * no ingest (an earlier reopen failed) the space is unknown: try. */
static bool room_to_recover(struct server *s)
{
	uint64_t need = s->cfg.disk_full > (4u << 20) ? s->cfg.disk_full : (4u << 20);

	if (!s->ingest)
		return true;
	ingest_disk_level(s->ingest);   /* samples the free space */
	return (uint64_t)stat_gauge_get(&ingest_stats(s->ingest)->free_bytes) > need;
}

/* make run: a fresh data directory gets a log and one admin token, shown once. */
static int init_if_missing(const struct serve_options *o, struct server *s)
{
	char meta[PATH_MAX + 8];
	struct stat st;
	struct buf vkey = BUF_INIT(4096);
	char err[512], secret[TOKEN_SECRET_LEN + 1];
	struct token_spec spec = { .role = ROLE_ADMIN, .all_tenants = true, .name = "admin" };
	int r;

	snprintf(meta, sizeof(meta), "%s/meta", o->dir);
	if (stat(meta, &st) == 0)
		return 0;
	if ((r = log_init(o->dir, NULL, &vkey, err, sizeof(err))) < 0) {
		server_logf(s, "init %s: %s", o->dir, err);
		goto out;
	}
	if ((r = token_create(o->dir, &spec, secret, sizeof(secret), NULL, err, sizeof(err))) < 0) {
		server_logf(s, "init: admin token: %s", err);
		goto out;
	}
	printf("Created a new log in %s.\n"
	       "Admin token (shown once; keep it secret, make more with `sealtrail token create`):\n"
	       "  %s\n"
	       "A producer token for tenant \"default\":\n"
	       "  curl -s -X POST -H 'Authorization: Bearer <admin token>' "
	       "'http://<address>/v1/tokens?role=producer&tenants=default'\n",
	       o->dir, secret);
	st_wipe(secret, sizeof(secret));
out:
	buf_release(&vkey);
	return r;
}

int server_run(const struct serve_options *o)
{
	struct server *s = calloc(1, sizeof(*s));
	struct httpd *h = NULL;
	char err[512];
	sigset_t sigs;
	int r = -1;

	if (!s)
		return -ENOMEM;
	pthread_rwlock_init(&s->cfg_lock, NULL);
	/* Writer-preferring, so a recovery is not starved by a stream of
	 * requests; no handler takes it twice (that would deadlock then). */
	pthread_rwlockattr_t la;
	pthread_rwlockattr_init(&la);
	pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->log_lock, &la);
	pthread_rwlockattr_destroy(&la);
	pthread_mutex_init(&s->logf_mu, NULL);
	stat_hist_init(&s->st.request_seconds, stat_latency_bounds, stat_latency_nbounds, 1e9);
	s->started_ns = now_realtime_ns();
	snprintf(s->dir, sizeof(s->dir), "%s", o->dir);
	config_defaults(&s->cfg);
	if (o->config) {
		snprintf(s->config_path, sizeof(s->config_path), "%s", o->config);
		if ((r = config_load(&s->cfg, o->config, err, sizeof(err))) < 0) {
			server_logf(s, "%s", err);
			goto out;
		}
	}
	if (s->cfg.checkpoint_max_age_ms == 0)
		s->cfg.checkpoint_max_age_ms = 10 * s->cfg.checkpoint_ms;
	if (o->listen) {
		/* --listen replaces the plain listeners; TLS ones stay. */
		size_t k = 0;
		for (size_t i = 0; i < s->cfg.nlisteners; i++)
			if (s->cfg.listeners[i].tls)
				s->cfg.listeners[k++] = s->cfg.listeners[i];
		s->cfg.nlisteners = k;
		for (const char *p = o->listen; *p && s->cfg.nlisteners < CONFIG_MAX_LISTENERS;) {
			size_t n = strcspn(p, ",");
			snprintf(s->cfg.listeners[s->cfg.nlisteners].addr, CONFIG_ADDR_MAX, "%.*s",
				 (int)n, p);
			s->cfg.listeners[s->cfg.nlisteners++].tls = false;
			p += n + (p[n] == ',');
		}
	}
	if (s->cfg.nlisteners == 0) {
		snprintf(s->cfg.listeners[0].addr, CONFIG_ADDR_MAX, "127.0.0.1:7465");
		s->cfg.nlisteners = 1;
	}
	if ((r = open_logfile(s)) < 0) {
		fprintf(stderr, "sealtrail: cannot open log file %s: %s\n", s->cfg.log_file,
			strerror(-r));
		goto out;
	}
	/* Every thread inherits the mask; only the main thread takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o->init_if_missing && (r = init_if_missing(o, s)) < 0)
		goto out;
	if ((r = log_set_ids_memory(s->cfg.ids_memtable, s->cfg.ids_filter)) < 0) {
		server_logf(s, "ids_memtable %llu, ids_filter %llu: out of range",
			    (unsigned long long)s->cfg.ids_memtable,
			    (unsigned long long)s->cfg.ids_filter);
		goto out;
	}
	if ((r = log_open(&s->log, o->dir, err, sizeof(err))) < 0) {
		server_logf(s, "open %s: %s", o->dir, err);
		goto out;
	}
	if ((r = token_store_open(&s->tokens, o->dir, err, sizeof(err))) < 0) {
		server_logf(s, "tokens: %s", err);
		goto out;
	}
	if (!(s->rl = ratelimit_new())) {
		r = -ENOMEM;
		goto out;
	}
	s->ingest_opt = (struct ingest_options){
		.dir = s->dir,
		.queue_max_events = s->cfg.queue_max_events,
		.queue_max_bytes = s->cfg.queue_max_bytes,
		.checkpoint_ms = s->cfg.checkpoint_ms,
		.space_left = s->cfg.space_left,
		.admin_space_left = s->cfg.admin_space_left,
		.disk_full = s->cfg.disk_full,
	};
	if ((r = ingest_start(&s->ingest, s->log, &s->ingest_opt)) < 0) {
		server_logf(s, "ingest: %s", st_strerror(r));
		goto out;
	}
	if ((r = start_index(s)) < 0)
		goto out;
	if ((r = registry_open(&s->registry, o->dir, err, sizeof(err))) < 0) {
		server_logf(s, "schemas: %s", err);
		goto out;
	}
	{
		struct quarantine_open_report qr;
		if ((r = quarantine_open(&s->quarantine, o->dir, s->cfg.quarantine_max, &qr, err,
					 sizeof(err))) < 0) {
			server_logf(s, "quarantine: %s", err);
			goto out;
		}
		if (qr.truncated_bytes)
			server_logf(s, "quarantine: a torn tail of %llu bytes at offset %llu was cut off",
				    (unsigned long long)qr.truncated_bytes, (unsigned long long)qr.truncated_at);
	}
	/* schemas.c: the validation metric by schema and producer */
	if ((r = schema_stats_new(&s->schema_stats)) < 0)
		goto out;
	if ((r = pipeline_open(s, err, sizeof(err))) < 0) {
		server_logf(s, "policy: %s", err);
		goto out;
	}
	if ((r = capture_start(s)) < 0)
		goto out;
	/* syslog before HTTP: s->syslogd is written here and read by every
	 * request thread (GET /metrics), so it is set before the first one */
	if ((r = syslogd_start(&s->syslogd, s, err, sizeof(err))) < 0) {
		server_logf(s, "%s", err);
		goto out;
	}
	if ((r = httpd_start(&h, s, err, sizeof(err))) < 0) {
		server_logf(s, "%s", err);
		goto out;
	}
	{
		struct buf keys = BUF_INIT(1 << 20);
		log_public_keys(o->dir, &keys);
		buf_cstr(&keys);
		const char *last = (const char *)keys.data;
		for (const char *p = last; p && *p; p = strchr(p, '\n')) {
			if (*p == '\n')
				p++;
			if (*p)
				last = p;
		}
		printf("Log origin: %s\nVerifier key: %.*s\n", log_origin(s->log),
		       last ? (int)strcspn(last, "\n") : 0, last ? last : "");
		for (size_t i = 0; i < s->cfg.nsyslog; i++)
			printf("Syslog on %s%s (tenant %s, producer %s)\n", s->cfg.syslog[i].addr,
			       s->cfg.syslog[i].tls ? " TLS" : "", s->cfg.syslog[i].tenant,
			       s->cfg.syslog[i].producer);
		for (size_t i = 0; i < s->cfg.nlisteners; i++)
			printf("Serving on %s://%s/\n", s->cfg.listeners[i].tls ? "https" : "http",
			       s->cfg.listeners[i].addr);
		fflush(stdout);
		buf_release(&keys);
	}
	server_logf(s, "serving %s (tree size %llu)", o->dir, (unsigned long long)log_size(s->log));
	atomic_store(&s->last_disk_level, (int)ingest_disk_level(s->ingest));
	int64_t last_recover = 0, last_capture_save = now_monotonic_ns();

	for (;;) {
		struct timespec ts = { 1, 0 };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			reload(s, h);
		token_store_reload(s->tokens);   /* tokens made offline by the CLI */
		int64_t now = now_monotonic_ns();
		if (!s->ingest || ingest_failed(s->ingest)) {
			/* at most every 5 s, and only with room to write again */
			if (now - last_recover >= 5000000000LL && room_to_recover(s)) {
				last_recover = now;
				recover_log(s);
			}
		}
		if (s->ingest)
			watch_disk(s);
		if (s->sampler && s->ingest) {
			pthread_rwlock_rdlock(&s->cfg_lock);
			int64_t every = (int64_t)s->cfg.sample_summary_ms;
			pthread_rwlock_unlock(&s->cfg_lock);
			sampler_tick(s, s->sampler, every, false);
		}
		if (s->capture && s->ingest)
			capture_periodic(s, &last_capture_save);
	}
	server_logf(s, "draining");
	atomic_store(&s->draining, true);
	int64_t t0 = now_monotonic_ns();
	httpd_drain(h, 30000);
	/* syslog: stop reading, commit what was read (before the queue stops) */
	syslogd_drain(s->syslogd);
	int64_t t1 = now_monotonic_ns();
	/* the last window's counts, before the queue is committed */
	if (s->sampler && s->ingest)
		sampler_tick(s, s->sampler, 0, true);
	pthread_rwlock_wrlock(&s->log_lock);
	ingest_stop(s->ingest);
	s->ingest = NULL;
	pthread_rwlock_unlock(&s->log_lock);
	server_logf(s, "drain: requests answered in %lld ms, queue committed and checkpoint signed in %lld ms",
		    (long long)((t1 - t0) / 1000000), (long long)((now_monotonic_ns() - t1) / 1000000));
	if (s->log)
		server_logf(s, "drained: tree size %llu, final checkpoint signed",
			    (unsigned long long)log_size(s->log));
	if (s->capture && s->log) {
		/* every committed event was counted: the next start replays nothing */
		char path[PATH_MAX];
		capture_path(s, path, sizeof(path));
		int cr = capture_save(s->capture, path, log_size(s->log), true);
		if (cr < 0)
			server_logf(s, "capture: saving %s: %s", path, st_strerror(cr));
	}
	r = 0;
out:
	if (s->ingest)
		ingest_stop(s->ingest);
	/* Each step of the teardown is timed: a shutdown that takes long
	 * says where (a service manager's stop timeout is then easy to set). */
	int64_t ts0 = now_monotonic_ns();
	httpd_free(h); /* the request threads read s->syslogd: they stop first */
	syslogd_free(s->syslogd);
	s->syslogd = NULL;
	int64_t ts1 = now_monotonic_ns();
	pipeline_close(s);
	registry_free(s->registry);
	quarantine_free(s->quarantine);
	schema_stats_free(s->schema_stats);
	capture_free(s->capture);
	index_close(s->index);
	int64_t ts2 = now_monotonic_ns();
	log_close(s->log);
	if (r == 0)
		server_logf(s, "stopped: http closed in %lld ms, index in %lld ms, log in %lld ms",
			    (long long)((ts1 - ts0) / 1000000), (long long)((ts2 - ts1) / 1000000),
			    (long long)((now_monotonic_ns() - ts2) / 1000000));
	token_store_free(s->tokens);
	ratelimit_free(s->rl);
	if (s->logf)
		fclose(s->logf);
	pthread_mutex_destroy(&s->logf_mu);
	pthread_rwlock_destroy(&s->cfg_lock);
	pthread_rwlock_destroy(&s->log_lock);
	free(s);
	return r;
}
