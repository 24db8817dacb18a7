/*
 * capture.h - capture-rate accounting (docs/CAPTURE.md): which events a
 * producer says it sent against which ones reached the log.
 *
 * A producer instance is (token name, source.producer_id). It numbers its
 * events 1, 2, 3, ... in source.producer_seq, and from time to time sends
 * a heartbeat (action "sealtrail.heartbeat") whose producer_seq is the
 * last number it has sent. Per instance the tracker keeps:
 *   next   every seq below it has arrived or been reported missing;
 *   high   the highest seq seen in an event or declared by a heartbeat;
 *   a bitmap of the CAPTURE_WINDOW seqs from next: which have arrived.
 * A hole (a seq in [next, high] that has not arrived) is given a grace
 * period: when it is still open between one and two grace periods after
 * it became visible, it is reported once as a gap (a range), counted as
 * missing, and the server writes a `sealtrail.capture.gap` event. An
 * event that comes after its seq was reported (or a seq used twice) is
 * counted as late, never as received twice. A seq more than the window
 * above next reports the holes it pushes out of the window at once.
 *
 * The ratio of received to expected seqs is kept per minute for the last
 * hour: expected grows by how much `high` grows. It is what /metrics and
 * GET /v1/capture serve for 1, 5 and 60 minutes.
 *
 * Durability: capture_save writes the state and the log's size at that
 * moment to a file (write, fsync, rename); capture_load reads it back and
 * says from which log seq the server must replay entries through
 * capture_replay (everything after a clean save; a margin before a crash's
 * last save, since events are counted after their commit). Replayed events
 * already counted are ignored, so a replay never makes a false gap or a
 * false late.
 *
 * Thread-safe (one mutex).
 */
#ifndef SEALTRAIL_SERVER_CAPTURE_H
#define SEALTRAIL_SERVER_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "event/event.h"
#include "policy/token.h"

#define CAPTURE_WINDOW 4096          /* seqs tracked above next (bits) */
#define CAPTURE_PRODUCERS_MAX 10000  /* instances tracked; more are counted as untracked */
#define CAPTURE_MINUTES 60           /* the ratio's history */
#define CAPTURE_REPLAY_MARGIN 1000000 /* entries replayed before a crash's last save */
#define CAPTURE_HEARTBEAT "sealtrail.heartbeat"

struct capture;

/* A gap to report: seqs from..to (inclusive) of one instance never came. */
struct capture_gap {
	char producer[TOKEN_NAME_MAX + 1];
	char producer_id[EVENT_PRODUCER_ID_MAX + 1];
	uint64_t from, to;
};

int capture_new(struct capture **ret, int64_t grace_ns);
void capture_free(struct capture *c);
void capture_set_grace(struct capture *c, int64_t grace_ns);

/*
 * An event of token tok with info's producer fields was committed (not a
 * duplicate) at now_ns (realtime). Events without source.producer_seq are
 * ignored. A heartbeat (action CAPTURE_HEARTBEAT) declares the last seq
 * sent instead of being counted.
 */
void capture_event(struct capture *c, const char *tok, const struct event_info *info, int64_t now_ns);

/* Every gap due at now_ns (realtime), appended to out (up to cap; the
 * rest stay due for the next call). Returns how many. */
size_t capture_tick(struct capture *c, int64_t now_ns, struct capture_gap *out, size_t cap);

/* The per-instance table as JSON ({"grace_seconds":..,"producers":[..]}) */
int capture_json(struct capture *c, int64_t now_ns, struct buf *out);
/* Prometheus lines; at most max_series instances by name (the rest in
 * producer="_other"). */
int capture_metrics(struct capture *c, int64_t now_ns, size_t max_series, struct buf *out);

/* The state to path (atomically), with the log size `tree` it covers;
 * clean: every committed event was counted (the drain). */
int capture_save(struct capture *c, const char *path, uint64_t tree, bool clean);
/* Loads path when it exists; *ret_replay_from: the first log seq to
 * replay through capture_replay (0 with no file: the whole log). Errors
 * name the line. */
int capture_load(struct capture *c, const char *path, uint64_t *ret_replay_from, char *err, size_t errcap);
/* One stored entry of the log, while replaying: counted unless already. */
void capture_replay(struct capture *c, const uint8_t *entry, size_t n, int64_t now_ns);

#endif
