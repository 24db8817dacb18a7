/*
 * ingest.h - the bounded queue between the HTTP threads and the log, the
 * committer that turns everything queued into one group commit, and the
 * checkpointer that signs checkpoints on a timer or when a producer waits
 * for one.
 *
 * Flow: an I/O thread parses a request's events into a job and calls
 * ingest_submit(); it either gets the job queued (done() will be called
 * exactly once, later, from an ingest thread) or an immediate refusal
 * (queue full, draining, log failed, disk full), in which case done() is
 * never called. The committer takes every queued job, appends their events
 * with one log_append() (one write + one fdatasync), fills each job's acks
 * and calls done(). A job that asked for a checkpoint waits until the
 * checkpointer has signed one covering its last seq.
 *
 * Ownership: the job and every array it points to belong to the submitter
 * and must stay valid until done() runs. Nothing here allocates per job.
 */
#ifndef SEALTRAIL_INGEST_INGEST_H
#define SEALTRAIL_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/stats.h"
#include "log/log.h"

struct ingest;

struct ingest_job {
	/* set by the submitter */
	const struct log_event *ev;
	struct log_ack *acks;        /* n entries, filled by the committer */
	size_t n;
	size_t bytes;                /* sum of ev[i].len, for the queue bound */
	bool wait_checkpoint;
	/* May use the reserve below disk_full (down to disk_full / 2): the
	 * server's own meta-audit events, so reads stay audited while
	 * producers are refused. */
	bool reserve;
	struct buf *cp_note;         /* wait_checkpoint: receives the signed note */
	int64_t t_received;          /* now_monotonic_ns() when the request arrived */
	void (*done)(struct ingest_job *j);
	void *arg;
	/* set by ingest before done() */
	int result;                  /* 0, or why the whole job failed */
	uint64_t cp_size;            /* wait_checkpoint: the note's tree size */
	/* private */
	struct ingest_job *next;
	struct ingest_job *next_kept;
	uint64_t last_seq;
	bool any;
};

enum disk_level {
	DISK_OK,
	DISK_SPACE_LEFT,             /* warn: metric and a _sealtrail event */
	DISK_ADMIN_SPACE_LEFT,       /* refuse events below the configured criticality */
	DISK_FULL,                   /* refuse every event: 507 */
};
const char *disk_level_name(enum disk_level d);

struct ingest_options {
	const char *dir;             /* the data directory, for free space */
	size_t queue_max_events;     /* 0: 200,000 */
	size_t queue_max_bytes;      /* 0: 256 MiB */
	size_t group_max_events;     /* events per log_append; 0: 100,000 */
	uint64_t checkpoint_ms;      /* checkpoint period while the log grows; 0: 1000 */
	uint64_t checkpoint_wait_ms; /* how soon a waited-for checkpoint is signed; 0: 20 */
	/* free-space thresholds in bytes on the data directory's file system
	 * (0 disables one) */
	uint64_t space_left;
	uint64_t admin_space_left;
	uint64_t disk_full;
	/* test hook: when non-NULL, read instead of statvfs (bytes free) */
	uint64_t (*free_bytes)(void *arg);
	void *free_arg;
};

struct ingest_stats {
	struct stat_counter events_committed;
	struct stat_counter events_duplicate;
	struct stat_counter bytes_committed;
	struct stat_counter groups;
	struct stat_counter commit_errors;
	struct stat_counter checkpoints;
	struct stat_counter checkpoint_errors;
	struct stat_gauge queue_events;
	struct stat_gauge queue_bytes;
	struct stat_gauge cp_waiters;
	struct stat_gauge free_bytes;
	struct stat_gauge disk_level;
	struct stat_gauge last_checkpoint_ns; /* realtime of the last signed checkpoint */
	struct stat_gauge checkpoint_size;
	struct stat_hist group_events;        /* events per group commit */
	struct stat_hist commit_seconds;      /* write + fdatasync of one group */
	struct stat_hist ack_seconds;         /* receipt to durable, per job */
};

/* Starts the committer and checkpointer threads on an open log. The log
 * must outlive the ingest. */
int ingest_start(struct ingest **ret, struct log *l, const struct ingest_options *opt);

/* Queues a job. 0: queued (done() will run). Otherwise done() will not
 * run and the result says why: ST_ELIMIT the queue is full (retry later),
 * -ESHUTDOWN draining, ST_ESTICKY the log failed, -ENOSPC disk_full. */
int ingest_submit(struct ingest *g, struct ingest_job *j);

/* The current disk level (sampled at most every 100 ms and before every
 * group). */
enum disk_level ingest_disk_level(struct ingest *g);

/* True when a reserve job of n bytes may still be queued: free space is
 * above disk_full / 2 plus its bytes. */
bool ingest_reserve_ok(struct ingest *g, size_t bytes);

/* Asks for a checkpoint soon (a meta-audit or API caller wants one). */
void ingest_kick_checkpoint(struct ingest *g);

/* Updates the thresholds (SIGHUP reload). */
void ingest_set_thresholds(struct ingest *g, uint64_t space_left,
			   uint64_t admin_space_left, uint64_t disk_full);

/* Refuses new jobs, commits everything queued, signs a final checkpoint,
 * completes every waiter and joins the threads. Accepts NULL. */
void ingest_stop(struct ingest *g);

struct ingest_stats *ingest_stats(struct ingest *g);
/* Nonzero when the log refused a group: the sticky error. */
int ingest_failed(struct ingest *g);

#endif
