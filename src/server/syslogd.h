/*
 * syslogd.h - the syslog listeners of `sealtrail serve` (docs/SYSLOG.md).
 *
 * syslogd_start binds every `syslog_listen` of the configuration and runs
 * one thread for them; it returns with *ret NULL when none is configured.
 * Events go through the same ingest core as HTTP (server.h), as the
 * listener's producer and tenant. syslogd_drain (SIGTERM) stops accepting
 * and reading, commits every message already read and returns when they
 * are durable; call it before ingest_stop. The server owns the syslogd.
 */
#ifndef SEALTRAIL_SERVER_SYSLOGD_H
#define SEALTRAIL_SERVER_SYSLOGD_H

#include "server/server.h"

enum syslogd_reject { SR_OVERSIZED, SR_TRUNCATED, SR_MALFORMED, SR_UNMAPPABLE, SR_COUNT };
const char *syslogd_reject_name(enum syslogd_reject r);

struct syslogd_stats {
	struct stat_counter accepted;          /* connections */
	struct stat_counter refused;           /* connections over syslog_max_connections */
	struct stat_counter idle_closed;
	struct stat_counter tls_failures;      /* handshakes */
	struct stat_counter tls_client_cert_rejected; /* of them: no or an invalid client certificate */
	struct stat_gauge connections;
	struct stat_counter bytes;
	struct stat_counter frames[2];         /* by enum syslog_framing: octet, newline */
	struct stat_counter frames_rejected[SR_COUNT];
	struct stat_counter events[5];         /* by enum ingest_outcome */
	struct stat_counter batches;
	struct stat_counter batch_retries;     /* a batch held: queue full, log failed, low disk */
};

struct syslogd;
int syslogd_start(struct syslogd **ret, struct server *s, char *err, size_t errcap);
void syslogd_drain(struct syslogd *d);   /* NULL: no-op */
void syslogd_free(struct syslogd *d);    /* drains first; NULL: no-op */
struct syslogd_stats *syslogd_stats(struct syslogd *d);   /* NULL for NULL */

#endif
