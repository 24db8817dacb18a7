/*
 * ingest.c - the queue, the committer and the checkpointer (see ingest.h).
 *
 * Invariants:
 *  1. Every job accepted by ingest_submit() gets exactly one done() call,
 *     even when the log fails or the server drains.
 *  2. The queue never holds more than queue_max_events events or
 *     queue_max_bytes bytes: a submit past either bound is refused at once
 *     (the HTTP layer answers 429/503 with Retry-After), so a burst cannot
 *     grow memory and the event loop never blocks on the log.
 *  3. An ack is only filled after log_append() returned, i.e. after the
 *     group's fdatasync (the log's durability contract).
 *  4. A group is refused whole, before anything is written, when the free
 *     space minus the group's bytes would fall under disk_full, so the log
 *     never meets ENOSPC in the ordinary course (an ENOSPC would poison it;
 *     see log.h). When space returns, the next group is written: ingest
 *     resumes without intervention.
 *  5. No done() is called with the ingest mutex held.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "log/proof.h"

#define DISK_SAMPLE_NS 100000000LL   /* re-read free space at most every 100 ms */

struct ingest {
	struct log *log;
	struct ingest_options opt;
	pthread_mutex_t mu;
	pthread_cond_t cv_commit;        /* jobs queued, or stopping */
	pthread_cond_t cv_cp;            /* waiters, kicks, or stopping */
	struct ingest_job *qhead, *qtail;
	size_t q_events, q_bytes;
	struct ingest_job *whead, *wtail; /* waiting for a checkpoint */
	bool stopping;                   /* no new jobs */
	bool committer_done;             /* the queue is drained for good */
	bool kick;
	int failed;
	pthread_t committer, checkpointer;
	bool started_c, started_p;

	/* committer scratch: the group's events and acks, contiguous */
	struct log_event *gev;
	struct log_ack *gack;
	size_t gcap;

	_Atomic int64_t disk_sampled_ns;
	struct ingest_stats st;
};

const char *disk_level_name(enum disk_level d)
{
	switch (d) {
	case DISK_OK: return "ok";
	case DISK_SPACE_LEFT: return "space_left";
	case DISK_ADMIN_SPACE_LEFT: return "admin_space_left";
	case DISK_FULL: return "disk_full";
	}
	return "?";
}

static uint64_t free_bytes(struct ingest *g)
{
	struct statvfs sv;

	if (g->opt.free_bytes)
		return g->opt.free_bytes(g->opt.free_arg);
	if (statvfs(g->opt.dir, &sv) < 0)
		return UINT64_MAX;   /* unknown: do not refuse on a failed stat */
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static enum disk_level level_for(struct ingest *g, uint64_t fb)
{
	if (g->opt.disk_full && fb < g->opt.disk_full)
		return DISK_FULL;
	if (g->opt.admin_space_left && fb < g->opt.admin_space_left)
		return DISK_ADMIN_SPACE_LEFT;
	if (g->opt.space_left && fb < g->opt.space_left)
		return DISK_SPACE_LEFT;
	return DISK_OK;
}

/* Samples the free space (rate-limited unless force) and updates the gauges. */
static uint64_t sample_disk(struct ingest *g, bool force)
{
	int64_t now = now_monotonic_ns();
	int64_t last = atomic_load(&g->disk_sampled_ns);

	if (!force && now - last < DISK_SAMPLE_NS)
		return (uint64_t)stat_gauge_get(&g->st.free_bytes);
	atomic_store(&g->disk_sampled_ns, now);
	uint64_t fb = free_bytes(g);
	stat_set(&g->st.free_bytes, fb > INT64_MAX ? INT64_MAX : (int64_t)fb);
	stat_set(&g->st.disk_level, (int64_t)level_for(g, fb));
	return fb;
}

enum disk_level ingest_disk_level(struct ingest *g)
{
	sample_disk(g, false);
	return (enum disk_level)stat_gauge_get(&g->st.disk_level);
}

void ingest_set_thresholds(struct ingest *g, uint64_t space_left,
			   uint64_t admin_space_left, uint64_t disk_full)
{
	pthread_mutex_lock(&g->mu);
	g->opt.space_left = space_left;
	g->opt.admin_space_left = admin_space_left;
	g->opt.disk_full = disk_full;
	pthread_mutex_unlock(&g->mu);
	sample_disk(g, true);
}

int ingest_submit(struct ingest *g, struct ingest_job *j)
{
	int r = 0;

	j->next = NULL;
	j->result = 0;
	j->any = false;
	j->last_seq = 0;
	pthread_mutex_lock(&g->mu);
	if (g->stopping)
		r = -ESHUTDOWN;
	else if (g->failed)
		r = ST_ESTICKY;
	else if (g->q_events + j->n > g->opt.queue_max_events ||
		 g->q_bytes + j->bytes > g->opt.queue_max_bytes)
		r = ST_ELIMIT;
	if (r == 0) {
		if (g->qtail)
			g->qtail->next = j;
		else
			g->qhead = j;
		g->qtail = j;
		g->q_events += j->n;
		g->q_bytes += j->bytes;
		stat_set(&g->st.queue_events, (int64_t)g->q_events);
		stat_set(&g->st.queue_bytes, (int64_t)g->q_bytes);
		pthread_cond_signal(&g->cv_commit);
	}
	pthread_mutex_unlock(&g->mu);
	return r;
}

void ingest_kick_checkpoint(struct ingest *g)
{
	pthread_mutex_lock(&g->mu);
	g->kick = true;
	pthread_cond_signal(&g->cv_cp);
	pthread_mutex_unlock(&g->mu);
}

static int grow_scratch(struct ingest *g, size_t n)
{
	if (n <= g->gcap)
		return 0;
	size_t cap = g->gcap ? g->gcap : 1024;
	while (cap < n)
		cap *= 2;
	struct log_event *ev = realloc(g->gev, cap * sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	g->gev = ev;
	struct log_ack *ak = realloc(g->gack, cap * sizeof(*ak));
	if (!ak)
		return -ENOMEM;
	g->gack = ak;
	g->gcap = cap;
	return 0;
}

/* Counts a committed job's acks and notes its last seq. */
static void account(struct ingest *g, struct ingest_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct log_ack *a = &j->acks[i];
		if (a->result < 0)
			continue;
		if (a->duplicate) {
			stat_add(&g->st.events_duplicate, 1);
		} else {
			stat_add(&g->st.events_committed, 1);
			stat_add(&g->st.bytes_committed, j->ev[i].len);
		}
		if (!j->any || a->seq > j->last_seq)
			j->last_seq = a->seq;
		j->any = true;
	}
}

bool ingest_reserve_ok(struct ingest *g, size_t bytes)
{
	uint64_t fb = sample_disk(g, false);
	return !g->opt.disk_full || (fb > bytes * 2 && fb - bytes * 2 >= g->opt.disk_full / 2);
}

/* Appends one group; fills the jobs' acks and results. */
static void commit(struct ingest *g, struct ingest_job *group)
{
	size_t n = 0, bytes = 0;
	int r;

	for (struct ingest_job *j = group; j; j = j->next) {
		n += j->n;
		bytes += j->bytes;
	}
	uint64_t fb = sample_disk(g, true);
	if (g->opt.disk_full && (fb < bytes * 2 || fb - bytes * 2 < g->opt.disk_full)) {
		/* Refuse the producers' jobs; the reserve jobs may go on down to
		 * disk_full / 2 (invariant 4 holds: the reserve is above zero). */
		struct ingest_job *keep = NULL, **kt = &keep;
		size_t rbytes = 0;
		for (struct ingest_job *j = group; j; j = j->next)
			if (j->reserve)
				rbytes += j->bytes;
		if (rbytes == 0 || fb < rbytes * 2 || fb - rbytes * 2 < g->opt.disk_full / 2) {
			r = -ENOSPC;
			goto fail;
		}
		n = 0;
		for (struct ingest_job *j = group; j; j = j->next) {
			if (j->reserve) {
				*kt = j;
				kt = &j->next_kept;
				n += j->n;
			} else {
				j->result = -ENOSPC;
			}
		}
		*kt = NULL;
		if ((r = grow_scratch(g, n)) < 0)
			goto fail;
		size_t k = 0;
		for (struct ingest_job *j = keep; j; j = j->next_kept) {
			memcpy(g->gev + k, j->ev, j->n * sizeof(*j->ev));
			k += j->n;
		}
		r = log_append(g->log, g->gev, n, g->gack);
		k = 0;
		for (struct ingest_job *j = keep; j; j = j->next_kept) {
			if (r == 0) {
				memcpy(j->acks, g->gack + k, j->n * sizeof(*j->acks));
				account(g, j);
			}
			j->result = r;
			k += j->n;
		}
		if (r < 0)
			stat_add(&g->st.commit_errors, 1);
		return;
	}
	if ((r = grow_scratch(g, n)) < 0)
		goto fail;
	size_t k = 0;
	for (struct ingest_job *j = group; j; j = j->next) {
		memcpy(g->gev + k, j->ev, j->n * sizeof(*j->ev));
		k += j->n;
	}
	int64_t t0 = now_monotonic_ns();
	r = log_append(g->log, g->gev, n, g->gack);
	stat_hist_observe(&g->st.commit_seconds, (uint64_t)(now_monotonic_ns() - t0));
	if (r < 0)
		goto fail;
	stat_add(&g->st.groups, 1);
	stat_hist_observe(&g->st.group_events, n);
	k = 0;
	for (struct ingest_job *j = group; j; j = j->next) {
		memcpy(j->acks, g->gack + k, j->n * sizeof(*j->acks));
		k += j->n;
		account(g, j);
		j->result = 0;
	}
	return;
fail:
	stat_add(&g->st.commit_errors, 1);
	if (r == ST_ESTICKY || (r < 0 && r > -4096 && r != -ENOMEM && r != -ENOSPC)) {
		pthread_mutex_lock(&g->mu);
		g->failed = r;
		pthread_mutex_unlock(&g->mu);
	}
	for (struct ingest_job *j = group; j; j = j->next)
		j->result = r;
}

static void *committer_main(void *arg)
{
	struct ingest *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->qhead && !g->stopping)
			pthread_cond_wait(&g->cv_commit, &g->mu);
		if (!g->qhead)
			break;
		/* Take queued jobs up to group_max_events (at least one). */
		struct ingest_job *group = g->qhead, *last = g->qhead;
		size_t n = last->n, bytes = last->bytes;
		while (last->next && n + last->next->n <= g->opt.group_max_events) {
			last = last->next;
			n += last->n;
			bytes += last->bytes;
		}
		g->qhead = last->next;
		if (!g->qhead)
			g->qtail = NULL;
		last->next = NULL;
		g->q_events -= n;
		g->q_bytes -= bytes;
		stat_set(&g->st.queue_events, (int64_t)g->q_events);
		stat_set(&g->st.queue_bytes, (int64_t)g->q_bytes);
		pthread_mutex_unlock(&g->mu);

		commit(g, group);

		/* Complete, or park the jobs that wait for a checkpoint. */
		struct ingest_job *park = NULL, **ptail = &park;
		int64_t now = now_monotonic_ns();
		for (struct ingest_job *j = group, *next; j; j = next) {
			next = j->next;
			j->next = NULL;
			if (j->result == 0 && j->wait_checkpoint && j->any) {
				*ptail = j;
				ptail = &j->next;
				continue;
			}
			stat_hist_observe(&g->st.ack_seconds, (uint64_t)(now - j->t_received));
			j->done(j);
		}
		pthread_mutex_lock(&g->mu);
		if (park) {
			if (g->wtail)
				g->wtail->next = park;
			else
				g->whead = park;
			for (g->wtail = park; g->wtail->next; g->wtail = g->wtail->next)
				stat_gauge_add(&g->st.cp_waiters, 1);
			stat_gauge_add(&g->st.cp_waiters, 1);
			pthread_cond_signal(&g->cv_cp);
		}
	}
	g->committer_done = true;
	pthread_cond_signal(&g->cv_cp);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Signs a checkpoint if the tree grew, then completes the waiters it covers
 * (all of them when final: their result is then an error if none covers). */
static void checkpoint_once(struct ingest *g, bool final)
{
	struct buf note = BUF_INIT(NOTE_MAX_SIZE);
	uint64_t size = 0;
	int r;

	r = log_checkpoint(g->log, false, &note);
	if (r == 0)
		r = log_note_size(note.data, note.len, &size);
	if (r < 0) {
		stat_add(&g->st.checkpoint_errors, 1);
	} else {
		stat_add(&g->st.checkpoints, 1);
		stat_set(&g->st.checkpoint_size, (int64_t)size);
		stat_set(&g->st.last_checkpoint_ns, now_realtime_ns());
	}

	struct ingest_job *ready = NULL, **rt = &ready;
	pthread_mutex_lock(&g->mu);
	struct ingest_job **pp = &g->whead, *prev = NULL;
	while (*pp) {
		struct ingest_job *j = *pp;
		if ((r == 0 && j->last_seq < size) || final) {
			*pp = j->next;
			j->next = NULL;
			*rt = j;
			rt = &j->next;
			stat_gauge_add(&g->st.cp_waiters, -1);
		} else {
			prev = j;
			pp = &j->next;
		}
	}
	g->wtail = prev;
	if (g->wtail)
		while (g->wtail->next)
			g->wtail = g->wtail->next;
	pthread_mutex_unlock(&g->mu);

	int64_t now = now_monotonic_ns();
	for (struct ingest_job *j = ready, *next; j; j = next) {
		next = j->next;
		if (r < 0 || j->last_seq >= size) {
			j->result = r < 0 ? r : ST_ERANGE;
		} else {
			j->cp_size = size;
			buf_reset(j->cp_note);
			if (buf_append(j->cp_note, note.data, note.len) < 0)
				j->result = -ENOMEM;
		}
		stat_hist_observe(&g->st.ack_seconds, (uint64_t)(now - j->t_received));
		j->done(j);
	}
	buf_release(&note);
}

static void *checkpointer_main(void *arg)
{
	struct ingest *g = arg;
	int64_t period = (int64_t)g->opt.checkpoint_ms * 1000000;
	int64_t soon = (int64_t)g->opt.checkpoint_wait_ms * 1000000;
	int64_t next_periodic = now_monotonic_ns() + period;
	int64_t first_wait = 0;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (g->committer_done)
			break;
		int64_t now = now_monotonic_ns();
		bool due = now >= next_periodic || g->kick;
		if (g->whead) {
			if (!first_wait)
				first_wait = now;
			if (now - first_wait >= soon)
				due = true;
		} else {
			first_wait = 0;
		}
		if (due) {
			g->kick = false;
			pthread_mutex_unlock(&g->mu);
			checkpoint_once(g, false);
			sample_disk(g, true);
			pthread_mutex_lock(&g->mu);
			next_periodic = now_monotonic_ns() + period;
			first_wait = 0;
			continue;
		}
		int64_t until = next_periodic;
		if (g->whead && first_wait + soon < until)
			until = first_wait + soon;
		if (until > now + DISK_SAMPLE_NS)
			until = now + DISK_SAMPLE_NS;
		pthread_mutex_unlock(&g->mu);
		sample_disk(g, false);
		pthread_mutex_lock(&g->mu);
		if (!g->committer_done && !g->kick) {
			struct timespec ts;
			int64_t wake = now_realtime_ns() + (until - now_monotonic_ns());
			ts.tv_sec = wake / 1000000000;
			ts.tv_nsec = wake % 1000000000;
			pthread_cond_timedwait(&g->cv_cp, &g->mu, &ts);
		}
	}
	pthread_mutex_unlock(&g->mu);
	/* Drained: the final checkpoint, and nobody is left waiting. */
	checkpoint_once(g, true);
	return NULL;
}

int ingest_start(struct ingest **ret, struct log *l, const struct ingest_options *opt)
{
	struct ingest *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->log = l;
	g->opt = *opt;
	if (!g->opt.queue_max_events)
		g->opt.queue_max_events = 200000;
	if (!g->opt.queue_max_bytes)
		g->opt.queue_max_bytes = (size_t)256 << 20;
	if (!g->opt.group_max_events)
		g->opt.group_max_events = 100000;
	if (!g->opt.checkpoint_ms)
		g->opt.checkpoint_ms = 1000;
	if (!g->opt.checkpoint_wait_ms)
		g->opt.checkpoint_wait_ms = 20;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv_commit, NULL);
	pthread_cond_init(&g->cv_cp, NULL);
	stat_hist_init(&g->st.group_events, stat_size_bounds, stat_size_nbounds, 1);
	stat_hist_init(&g->st.commit_seconds, stat_latency_bounds, stat_latency_nbounds, 1e9);
	stat_hist_init(&g->st.ack_seconds, stat_latency_bounds, stat_latency_nbounds, 1e9);
	atomic_init(&g->disk_sampled_ns, 0);
	sample_disk(g, true);
	/* Sign (or confirm) the latest checkpoint now, so the checkpoint age
	 * is known from the first request (/readyz). */
	checkpoint_once(g, false);
	if ((r = -pthread_create(&g->committer, NULL, committer_main, g)) < 0)
		goto fail;
	g->started_c = true;
	if ((r = -pthread_create(&g->checkpointer, NULL, checkpointer_main, g)) < 0)
		goto fail;
	g->started_p = true;
	*ret = g;
	return 0;
fail:
	ingest_stop(g);
	return r;
}

void ingest_stop(struct ingest *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	pthread_cond_broadcast(&g->cv_commit);
	pthread_mutex_unlock(&g->mu);
	if (g->started_c)
		pthread_join(g->committer, NULL);
	pthread_mutex_lock(&g->mu);
	g->committer_done = true;
	pthread_cond_broadcast(&g->cv_cp);
	pthread_mutex_unlock(&g->mu);
	if (g->started_p)
		pthread_join(g->checkpointer, NULL);
	pthread_cond_destroy(&g->cv_commit);
	pthread_cond_destroy(&g->cv_cp);
	pthread_mutex_destroy(&g->mu);
	free(g->gev);
	free(g->gack);
	free(g);
}

struct ingest_stats *ingest_stats(struct ingest *g)
{
	return &g->st;
}

int ingest_failed(struct ingest *g)
{
	pthread_mutex_lock(&g->mu);
	int r = g->failed;
	pthread_mutex_unlock(&g->mu);
	return r;
}
