/*
 * sealtrail/client.h - libsealtrail, the producer library (docs/CLIENT.md).
 *
 * A producer hands events to the library and goes on; the library keeps
 * them in an on-disk spool, sends them to the server in batches, retries
 * what the server asks to retry, and forgets an event only once the
 * server has acknowledged it as durable. It survives the producer's
 * restarts and the server's outages, and drains in order when the server
 * comes back.
 *
 *   struct sealtrail_options o = SEALTRAIL_OPTIONS_INIT;
 *   o.url = "https://audit.example:8443"; o.token = tok; o.spool_dir = "/var/spool/myapp-audit";
 *   struct sealtrail_client *c;
 *   char err[256];
 *   if (sealtrail_client_new(&o, &c, err, sizeof(err)) != 0) ...;
 *   sealtrail_emit(c, json, len);          // copies; returns at once
 *   sealtrail_flush(c, 5000);              // optional: wait for the acks
 *   sealtrail_client_free(c);              // flushes what it can, then stops
 *
 * Each event gets, when the spool writes it, the instance's next
 * source.producer_seq (1, 2, 3, ... for the life of the spool), its
 * source.producer_id, and an id "<producer_id>-<seq>" unless it has one:
 * a retry is then a duplicate the server recognizes, never a copy. Every
 * heartbeat_interval_ms a heartbeat event states the last seq written,
 * so the server can tell a lost event from a quiet producer
 * (docs/CAPTURE.md).
 *
 * Thread safety: every function may be called from any thread, except
 * that sealtrail_client_free must be the last call on a client. Only
 * symbols starting with sealtrail_ are exported. Depends on libcurl and
 * zlib, nothing of the server.
 */
#ifndef SEALTRAIL_CLIENT_H
#define SEALTRAIL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What emit does when the spool is at spool_max_bytes (or the memory
 * queue at its bound). */
enum sealtrail_full {
	SEALTRAIL_FULL_BLOCK,        /* wait for room (the default: nothing is lost) */
	SEALTRAIL_FULL_DROP_LOW,     /* drop events below SEALTRAIL_CRIT_CRITICAL (counted, and said in the next heartbeat); block for critical ones */
	SEALTRAIL_FULL_FAIL,         /* return -ENOSPC */
};

/* When the spool is fsync'd. */
enum sealtrail_sync {
	SEALTRAIL_SYNC_BATCH,        /* after each write of a batch to the spool, before it is sent (the default) */
	SEALTRAIL_SYNC_NONE,         /* never: survives the process's crash, not the machine's */
};

enum sealtrail_crit {
	SEALTRAIL_CRIT_LOW, SEALTRAIL_CRIT_NORMAL, SEALTRAIL_CRIT_HIGH, SEALTRAIL_CRIT_CRITICAL,
};

struct sealtrail_options {
	const char *url;                 /* the server: http(s)://host:port */
	const char *token;               /* a producer token (copied; wiped on free) */
	const char *cacert;              /* CA file for https; NULL: the system's */
	const char *spool_dir;           /* required; created (0700) when missing; one client at a time */
	const char *producer_id;         /* NULL: the spool's own, made once ([A-Za-z0-9._:-]{1,64}) */
	uint64_t spool_max_bytes;        /* 256 MiB: unacknowledged bytes on disk */
	size_t queue_max_bytes;          /* 64 MiB: emitted, not yet in the spool */
	uint32_t batch_max_events;       /* 1000 a request */
	uint32_t batch_max_bytes;        /* 4 MiB a request */
	uint32_t flush_interval_ms;      /* 100: how long an event may wait in memory */
	uint32_t heartbeat_interval_ms;  /* 30000; 0: none */
	uint32_t timeout_ms;             /* 30000: one request */
	uint32_t retry_max_ms;           /* 30000: the backoff's ceiling */
	enum sealtrail_full on_full;
	enum sealtrail_sync sync;
	/* Called (from the library's thread) for each event the server
	 * refused on its own merits (not retried: bad input, policy), with
	 * its seq and the server's message. May be NULL. */
	void (*on_refused)(void *arg, uint64_t seq, const char *message);
	void *arg;
	/* Receipts: each request waits for the server's next signed
	 * checkpoint (POST /v1/events?wait=checkpoint; slower: one checkpoint
	 * interval a batch) and on_receipt is called (from the library's
	 * thread) for every event stored, with its producer seq, its log
	 * seq, its leaf hash (base64) and a C2SP tlog-proof@v1 that embeds
	 * the signed checkpoint: proof of inclusion anyone can check offline
	 * with the log's verifier key. An event the server already had (a
	 * retry after a lost answer) is reported with proof NULL: fetch its
	 * proof from GET /v1/proof/inclusion?seq= with a reader token. */
	bool wait_checkpoint;
	void (*on_receipt)(void *arg, uint64_t producer_seq, uint64_t log_seq, const char *leaf_hash,
			   const char *proof, size_t proof_len);
};

#define SEALTRAIL_OPTIONS_INIT { NULL, NULL, NULL, NULL, NULL, 256u << 20, 64u << 20, 1000, 4u << 20, \
				 100, 30000, 30000, 30000, SEALTRAIL_FULL_BLOCK, SEALTRAIL_SYNC_BATCH, NULL, NULL, \
				 false, NULL }

struct sealtrail_client;

/* Opens the spool (replaying what an earlier run left unacknowledged)
 * and starts the library's thread. 0, or a negative errno with err
 * (may be NULL) saying which option or file. */
int sealtrail_client_new(const struct sealtrail_options *opts, struct sealtrail_client **ret,
			 char *err, size_t errcap);

/* Queues one event (a JSON object, len bytes, copied). 0; -EINVAL (it
 * does not start with '{' and end with '}'; an object that turns out
 * malformed, or that sets source.producer_seq / producer_id itself, is
 * refused when the spool writes it: on_refused with seq 0);
 * -E2BIG (larger than 1 MiB); -ENOSPC (full, SEALTRAIL_FULL_FAIL);
 * -ECANCELED (dropped: full, SEALTRAIL_FULL_DROP_LOW); -EIO (the spool
 * cannot be read back, or the client is being freed: nothing more is
 * taken). Non-blocking unless full with SEALTRAIL_FULL_BLOCK. While the
 * spool's disk refuses writes (full, I/O errors) the library retries
 * every second and emit keeps filling the memory queue; once that is at
 * queue_max_bytes, on_full applies. */
int sealtrail_emit(struct sealtrail_client *c, const char *json, size_t len);
int sealtrail_emit_crit(struct sealtrail_client *c, const char *json, size_t len, enum sealtrail_crit crit);

/* Waits until everything emitted before the call is acknowledged by the
 * server, or timeout_ms passes (-ETIMEDOUT, or the spool's write error,
 * e.g. -ENOSPC, when that is why nothing moved), or the spool cannot be
 * read back (-EIO). */
int sealtrail_flush(struct sealtrail_client *c, int timeout_ms);

struct sealtrail_stats {
	uint64_t emitted, dropped, spooled, acked, duplicates, refused;
	uint64_t lost;                   /* emitted but never spooled: the spool failed until free (or for good) */
	uint64_t spool_write_errors;     /* failed spool writes (each retried a second later) */
	uint64_t requests, retries, heartbeats;
	uint64_t last_seq;               /* the last producer_seq written to the spool */
	uint64_t spool_bytes;            /* unacknowledged, on disk */
	int spool_error;                 /* 0, or the errno of the spool's last failed write (retried) */
	char producer_id[65];
};
void sealtrail_client_stats(struct sealtrail_client *c, struct sealtrail_stats *st);

/* Waits up to 2 s for the acknowledgements (as sealtrail_flush), writes a
 * last heartbeat, lets a request in flight finish (at most timeout_ms),
 * stops the threads and frees everything; what is not acknowledged stays
 * in the spool for the next run. NULL is a no-op. */
void sealtrail_client_free(struct sealtrail_client *c);

#ifdef __cplusplus
}
#endif

#endif
