/*
 * config.h - the server's configuration: defaults, the --config file, and
 * which settings a SIGHUP may change.
 *
 * File format (docs/CONFIG.md): one "key = value" per line; '#' starts a
 * comment line; blank lines ignored; unknown keys and malformed values are
 * errors naming the line. Sizes take a K, M or G suffix (powers of 1024);
 * durations take ms, s, m or h.
 */
#ifndef SEALTRAIL_SERVER_CONFIG_H
#define SEALTRAIL_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/syslog_map.h"
#include "policy/context.h"

#define CONFIG_MAX_LISTENERS 8
#define CONFIG_ADDR_MAX 128
#define CONFIG_MAX_CRITICAL 32
#define CONFIG_PREFIX_MAX 64

/* Static context (policy/context.h): the file's defaults and each
 * listener's; a listener's value wins over the global one. */

struct config_listener {
	char addr[CONFIG_ADDR_MAX];  /* host:port; [v6]:port */
	bool tls;
	struct ev_context context;  /* `listen = ADDR key=value...` */
};

/* A syslog listener (docs/SYSLOG.md): `syslog_listen = ADDR tenant=T
 * producer=P [tls] [key=value...]`. Its events belong to tenant, are
 * produced by producer, and get its context. */
#define CONFIG_MAX_SYSLOG 8
#define CONFIG_NAME_MAX 64
struct config_syslog {
	char addr[CONFIG_ADDR_MAX];
	bool tls;
	char tenant[CONFIG_NAME_MAX + 1];
	char producer[CONFIG_NAME_MAX + 1];
	struct ev_context context;
};

struct server_config {
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;           /* 0: one plain listener on 127.0.0.1:7465 */
	char tls_cert[PATH_MAX];     /* PEM chain; needed by any tls listener */
	char tls_key[PATH_MAX];
	char log_file[PATH_MAX];     /* "" = stderr; reopened on SIGHUP */
	unsigned io_threads;         /* 2 */

	/* limits a client controls */
	size_t max_body;             /* 16 MiB: 413 beyond */
	size_t max_header;           /* 16 KiB: 431 beyond */
	unsigned read_timeout_s;     /* 10: a request's headers and body */
	unsigned idle_timeout_s;     /* 60: keep-alive idle */
	size_t max_connections;      /* 4096 */
	size_t max_connections_per_ip; /* 512; 0 = no per-address limit */
	size_t max_batch_events;     /* 10000 events per request */
	double rate_per_token;       /* requests/s per token; 0 = unlimited */
	double rate_burst;           /* bucket size; 0 = 2 x rate */

	/* ingest */
	size_t queue_max_events;     /* 200000 */
	size_t queue_max_bytes;      /* 256 MiB */
	uint64_t checkpoint_ms;      /* 1000 */
	uint64_t ids_memtable;       /* 16 MiB: each of the id index's two memtables */
	uint64_t ids_filter;         /* 32 MiB: the id index's Bloom filter */
	uint64_t checkpoint_max_age_ms; /* /readyz: 10 x checkpoint_ms */
	unsigned retry_after_s;      /* 1 */

	/* disk thresholds, bytes free (auditd vocabulary); 0 = off */
	uint64_t space_left;         /* 1 GiB */
	uint64_t admin_space_left;   /* 256 MiB */
	uint64_t disk_full;          /* 64 MiB */
	/* Events whose action starts with one of these prefixes are critical:
	 * still accepted under admin_space_left. (Issue 5 replaces this with
	 * policy-set criticality.) */
	char critical[CONFIG_MAX_CRITICAL][CONFIG_PREFIX_MAX];
	size_t ncritical;

	/* enrichment: the keys region, environment, cluster, service */
	struct ev_context context;

	/* the policy pipeline (docs/REDACTION.md) */
	char policy_file[PATH_MAX];  /* "" = no policy: events are stored as sent */
	char vault_key[PATH_MAX];    /* "" = DIR/vault/vault.key */
	uint64_t quarantine_max;     /* 1 GiB: the quarantine file's bound */
	uint64_t sample_summary_ms;  /* 60 s: how often sampling counts become summary events */
	uint64_t capture_grace_ms;   /* 60 s: how long a producer seq may be late before it is a gap */

	/* syslog (docs/SYSLOG.md); listeners need a restart */
	struct config_syslog syslog[CONFIG_MAX_SYSLOG];
	size_t nsyslog;
	size_t syslog_max_frame;     /* 64 KiB: a longer frame is refused and skipped */
	size_t syslog_max_connections; /* 1024, over all syslog listeners */
	uint64_t syslog_idle_ms;     /* 300 s: a connection silent this long is closed */
	size_t syslog_batch_events;  /* 1000: a connection's batch is committed at this many */
	uint64_t syslog_batch_ms;    /* 50 ms: or this long after its first message */
	/* PEM CA bundle; "" = no client certificates. Set: every tls syslog
	 * listener requires a client certificate that chains to it (RFC 5425
	 * section 5). */
	char syslog_tls_client_ca[PATH_MAX];
	struct syslog_map_rules syslog_rules; /* `syslog_map` lines; the defaults follow at start */
};

void config_defaults(struct server_config *c);
/* Loads path over the defaults already in c. err names the line. */
int config_load(struct server_config *c, const char *path, char *err, size_t errcap);
/* Parses "host:port" (host may be [v6]); ST_EINVAL otherwise. */
int config_parse_addr(const char *s, char *host, size_t hcap, unsigned *port);
/* Parses a size with optional K/M/G suffix. */
int config_parse_size(const char *s, uint64_t *ret);
/* Parses a duration with ms/s/m/h suffix (a bare number is seconds). */
int config_parse_ms(const char *s, uint64_t *ret);
/* Does the action start with a configured critical prefix? */
bool config_is_critical(const struct server_config *c, const char *action, size_t n);

#endif
