/*
 * quarantine.c - the quarantine file (quarantine.h).
 *
 * In memory, one small record per entry (offset, length, tenant, state);
 * payloads are read back with pread. Appends go through one descriptor
 * opened O_APPEND under the mutex; quarantine_sync is one fdatasync.
 *
 * Invariants:
 *   1. An entry becomes visible in memory only after its record is
 *      written whole (a failed write truncates back to the old size).
 *   2. A state record is fdatasync'd before the change is visible.
 *   3. A claimed entry (a resubmit in flight) is never discarded; the
 *      claim ends with the change to resubmitted or with unclaim.
 *   4. After a failed write, truncate or fdatasync, q->failed is set and
 *      every later write is refused (ST_ESTICKY): never retry an fsync.
 */
#include "policy/quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/util.h"

#define MAGIC "STQUAR1\n"
#define MAGIC_LEN 8
#define HDR 8

struct qent {
	uint64_t off;            /* of the payload */
	uint32_t len;
	uint8_t state;
	bool busy;               /* claimed by a resubmit in flight */
	uint64_t seq;            /* resubmitted: the event's log seq */
	char tenant[QUARANTINE_TENANT_MAX + 1];
};

struct quarantine {
	pthread_mutex_t mu;
	int fd;
	uint64_t size, max;
	int failed;              /* sticky write error, invariant 4 */
	struct qent *v;          /* v[id - 1] */
	size_t n, cap;
};

const char *q_state_name(enum q_state s)
{
	return s == Q_PENDING ? "pending" : s == Q_DISCARDED ? "discarded" :
	       s == Q_RESUBMITTED ? "resubmitted" : "invalid";
}

/* A string member's value in a flat JSON payload we wrote ourselves. */
static bool member(const uint8_t *p, size_t n, const char *key, char *out, size_t cap)
{
	char pat[48];
	int k = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const uint8_t *at = memmem(p, n, pat, (size_t)k);
	if (!at)
		return false;
	at += k;
	const uint8_t *e = memchr(at, '"', n - (size_t)(at - p));
	if (!e || (size_t)(e - at) >= cap)
		return false;
	memcpy(out, at, (size_t)(e - at));
	out[e - at] = 0;
	return true;
}

static bool member_u64(const uint8_t *p, size_t n, const char *key, uint64_t *ret)
{
	char pat[48];
	int k = snprintf(pat, sizeof(pat), "\"%s\":", key);
	const uint8_t *at = memmem(p, n, pat, (size_t)k);
	if (!at)
		return false;
	at += k;
	uint64_t v = 0;
	size_t i = 0;
	for (; at + i < p + n && at[i] >= '0' && at[i] <= '9' && i < 20; i++)
		v = v * 10 + (uint64_t)(at[i] - '0');
	*ret = v;
	return i > 0;
}

static int push(struct quarantine *q, const struct qent *e)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 256;
		struct qent *nv = realloc(q->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		q->v = nv;
		q->cap = cap;
	}
	q->v[q->n++] = *e;
	return 0;
}

/* Applies one record read from the file at payload offset off. */
static int replay(struct quarantine *q, const uint8_t *p, uint32_t len, uint64_t off, char *err,
		  size_t errcap)
{
	char kind[4] = "", tenant[QUARANTINE_TENANT_MAX + 1] = "", state[16] = "";
	uint64_t id = 0;

	if (!member(p, len, "k", kind, sizeof(kind)) || !member_u64(p, len, "id", &id))
		goto bad;
	if (!strcmp(kind, "e")) {
		if (id != q->n + 1 || !member(p, len, "tenant", tenant, sizeof(tenant)))
			goto bad;
		struct qent e = { .off = off, .len = len, .state = Q_PENDING };
		memcpy(e.tenant, tenant, sizeof(tenant));
		return push(q, &e);
	}
	if (!strcmp(kind, "s") && id >= 1 && id <= q->n && member(p, len, "state", state, sizeof(state)) &&
	    q->v[id - 1].state == Q_PENDING) {
		q->v[id - 1].state = !strcmp(state, "discarded") ? Q_DISCARDED :
				     !strcmp(state, "resubmitted") ? Q_RESUBMITTED : Q_PENDING;
		if (q->v[id - 1].state == Q_RESUBMITTED &&
		    (!member_u64(p, len, "seq", &q->v[id - 1].seq)))
			goto bad;
		if (q->v[id - 1].state != Q_PENDING)
			return 0;
	}
bad:
	st_fail(err, errcap, "quarantine.log: byte %llu: a record that is not an entry or a state change in order",
		(unsigned long long)(off - HDR));
	return ST_ECORRUPT;
}

int quarantine_open(struct quarantine **ret, const char *dir, uint64_t max_bytes,
		    struct quarantine_open_report *rep, char *err, size_t errcap)
{
	char qdir[PATH_MAX], path[PATH_MAX];
	struct quarantine *q = calloc(1, sizeof(*q));
	uint8_t *data = NULL;
	struct stat st;
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (!q)
		return -ENOMEM;
	q->fd = -1;
	q->max = max_bytes;
	pthread_mutex_init(&q->mu, NULL);
	if (snprintf(qdir, sizeof(qdir), "%s/quarantine", dir) >= (int)sizeof(qdir) ||
	    snprintf(path, sizeof(path), "%s/quarantine.log", qdir) >= (int)sizeof(path)) {
		rc = ST_ELIMIT;
		goto fail;
	}
	if ((rc = mkdir_p(qdir, 0700)) < 0) {
		st_fail(err, errcap, "%s: %s", qdir, st_strerror(rc));
		goto fail;
	}
	if ((q->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0 ||
	    fstat(q->fd, &st) < 0) {
		rc = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(rc));
		goto fail;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size == 0) {
		if ((rc = write_all(q->fd, MAGIC, MAGIC_LEN)) < 0 || fdatasync(q->fd) < 0 ||
		    (rc = fsync_dir(qdir)) < 0) {
			rc = rc < 0 ? rc : -errno;
			st_fail(err, errcap, "%s: %s", path, st_strerror(rc));
			goto fail;
		}
		size = MAGIC_LEN;
	} else {
		if (!(data = malloc(size))) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = pread_all(q->fd, data, size, 0)) < 0) {
			st_fail(err, errcap, "%s: %s", path, st_strerror(rc));
			goto fail;
		}
		if (size < MAGIC_LEN || memcmp(data, MAGIC, MAGIC_LEN)) {
			st_fail(err, errcap, "%s: byte 0: expected the quarantine file magic", path);
			rc = ST_ECORRUPT;
			goto fail;
		}
		uint64_t at = MAGIC_LEN;
		while (at < size) {
			bool last_possible = true;
			uint32_t len = size - at >= HDR ? get_le32(data + at) : 0;
			bool whole = size - at >= HDR && len <= QUARANTINE_RECORD_MAX && size - at - HDR >= len;
			bool crc_ok = whole && crc32c(0, data + at + HDR, len) == get_le32(data + at + 4);
			if (whole)
				last_possible = at + HDR + len == size;
			if (!whole || (!crc_ok && last_possible)) {
				/* a torn append: cut it off */
				rep->truncated_at = at;
				rep->truncated_bytes = size - at;
				if (ftruncate(q->fd, (off_t)at) < 0 || fdatasync(q->fd) < 0) {
					rc = -errno;
					goto fail;
				}
				size = at;
				break;
			}
			if (!crc_ok) {
				st_fail(err, errcap, "%s: byte %llu: a record whose CRC does not match", path,
					(unsigned long long)at);
				rc = ST_ECORRUPT;
				goto fail;
			}
			if ((rc = replay(q, data + at + HDR, len, at + HDR, err, errcap)) < 0)
				goto fail;
			at += HDR + len;
		}
	}
	q->size = size;
	free(data);
	*ret = q;
	return 0;
fail:
	free(data);
	quarantine_free(q);
	return rc;
}

void quarantine_free(struct quarantine *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	pthread_mutex_destroy(&q->mu);
	free(q->v);
	free(q);
}

/* Writes one record; mu held. */
static int append(struct quarantine *q, const struct buf *payload)
{
	uint8_t hdr[HDR];
	int rc;

	if (q->failed)
		return ST_ESTICKY;
	if (payload->len > QUARANTINE_RECORD_MAX)
		return ST_ELIMIT;
	if (q->size + HDR + payload->len > q->max)
		return ST_ELIMIT;
	put_le32(hdr, (uint32_t)payload->len);
	put_le32(hdr + 4, crc32c(0, payload->data, payload->len));
	if ((rc = write_all(q->fd, hdr, HDR)) < 0 || (rc = write_all(q->fd, payload->data, payload->len)) < 0) {
		/* invariant 1: nothing half-written stays; invariant 4 */
		q->failed = rc;
		if (ftruncate(q->fd, (off_t)q->size) < 0)
			return -errno;
		return rc;
	}
	q->size += HDR + payload->len;
	return 0;
}

int64_t quarantine_add(struct quarantine *q, const char *tenant,
		       int (*fn)(void *arg, uint64_t id, struct buf *out), void *arg)
{
	struct buf b = BUF_INIT(QUARANTINE_RECORD_MAX);
	int64_t rc;

	if (strlen(tenant) > QUARANTINE_TENANT_MAX)
		return ST_EINVAL;
	pthread_mutex_lock(&q->mu);
	uint64_t id = q->n + 1;
	if ((rc = fn(arg, id, &b)) >= 0 && (rc = append(q, &b)) >= 0) {
		struct qent e = { .off = q->size - b.len, .len = (uint32_t)b.len, .state = Q_PENDING };
		snprintf(e.tenant, sizeof(e.tenant), "%s", tenant);
		if ((rc = push(q, &e)) >= 0)
			rc = (int64_t)id;
	}
	pthread_mutex_unlock(&q->mu);
	if (b.data)
		st_wipe(b.data, b.cap);
	buf_release(&b);
	return rc;
}

int quarantine_sync(struct quarantine *q)
{
	/* not under mu: adds from other requests go on during the flush */
	pthread_mutex_lock(&q->mu);
	int rc = q->failed ? ST_ESTICKY : 0;
	pthread_mutex_unlock(&q->mu);
	if (rc == 0 && fdatasync(q->fd) < 0) {
		rc = -errno;
		pthread_mutex_lock(&q->mu);
		q->failed = rc;
		pthread_mutex_unlock(&q->mu);
	}
	return rc;
}

int quarantine_claim(struct quarantine *q, uint64_t id, enum q_state *was)
{
	int rc = 0;
	pthread_mutex_lock(&q->mu);
	if (id < 1 || id > q->n) {
		rc = ST_ENOTFOUND;
	} else if ((*was = (enum q_state)q->v[id - 1].state) != Q_PENDING) {
		rc = ST_EEXIST;
	} else if (q->v[id - 1].busy) {
		rc = -EBUSY;
	} else {
		q->v[id - 1].busy = true;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void quarantine_unclaim(struct quarantine *q, uint64_t id)
{
	pthread_mutex_lock(&q->mu);
	if (id >= 1 && id <= q->n)
		q->v[id - 1].busy = false;
	pthread_mutex_unlock(&q->mu);
}

int quarantine_set_state(struct quarantine *q, uint64_t id, enum q_state to, const char *by,
			 uint64_t seq, enum q_state *was)
{
	struct buf b = BUF_INIT(1024);
	int rc;

	pthread_mutex_lock(&q->mu);
	if (id < 1 || id > q->n) {
		rc = ST_ENOTFOUND;
		goto out;
	}
	*was = (enum q_state)q->v[id - 1].state;
	if (*was != Q_PENDING || to == Q_PENDING) {
		rc = ST_EEXIST;
		goto out;
	}
	if (to == Q_DISCARDED && q->v[id - 1].busy) {
		rc = -EBUSY;   /* invariant 3 */
		goto out;
	}
	if ((rc = buf_printf(&b, "{\"k\":\"s\",\"id\":%llu,\"state\":\"%s\",\"by\":\"%s\"",
			     (unsigned long long)id, q_state_name(to), by)) < 0 ||
	    (to == Q_RESUBMITTED &&
	     (rc = buf_printf(&b, ",\"seq\":%llu", (unsigned long long)seq)) < 0) ||
	    (rc = buf_putc(&b, '}')) < 0 || (rc = append(q, &b)) < 0)
		goto out;
	if (fdatasync(q->fd) < 0) {
		rc = q->failed = -errno;
		goto out;
	}
	q->v[id - 1].state = (uint8_t)to;
	q->v[id - 1].seq = to == Q_RESUBMITTED ? seq : 0;
	q->v[id - 1].busy = false;
	rc = 0;
out:
	pthread_mutex_unlock(&q->mu);
	buf_release(&b);
	return rc;
}

int quarantine_get(struct quarantine *q, uint64_t id, struct buf *out,
		   char tenant[QUARANTINE_TENANT_MAX + 1], enum q_state *state, uint64_t *seq)
{
	int rc;
	pthread_mutex_lock(&q->mu);
	if (id < 1 || id > q->n) {
		pthread_mutex_unlock(&q->mu);
		return ST_ENOTFOUND;
	}
	struct qent e = q->v[id - 1];
	pthread_mutex_unlock(&q->mu);
	memcpy(tenant, e.tenant, sizeof(e.tenant));
	*state = (enum q_state)e.state;
	if (seq)
		*seq = e.seq;
	if ((rc = buf_reserve(out, e.len)) < 0)
		return rc;
	if ((rc = pread_all(q->fd, out->data + out->len, e.len, (off_t)e.off)) < 0)
		return rc;
	out->len += e.len;
	return 0;
}

int quarantine_list(struct quarantine *q, uint64_t after, const char *tenant, int state,
		    size_t limit, size_t max_scan,
		    int (*fn)(void *arg, const struct q_meta *m, const uint8_t *p, size_t n),
		    void *arg, uint64_t *ret_next)
{
	struct buf b = BUF_INIT(QUARANTINE_RECORD_MAX);
	int rc = 0;
	size_t shown = 0, scanned = 0;
	uint64_t id = after + 1, next = 0;

	for (;; id++) {
		pthread_mutex_lock(&q->mu);
		bool end = id > q->n;
		struct qent e;
		if (!end)
			e = q->v[id - 1];
		pthread_mutex_unlock(&q->mu);
		if (end)
			break;
		if (shown >= limit || scanned >= max_scan) {
			next = id - 1;   /* more may follow: resume after the last examined */
			break;
		}
		scanned++;
		if ((tenant && strcmp(tenant, e.tenant)) || (state >= 0 && state != e.state))
			continue;
		buf_reset(&b);
		if ((rc = buf_reserve(&b, e.len)) < 0 || (rc = pread_all(q->fd, b.data, e.len, (off_t)e.off)) < 0)
			break;
		struct q_meta m = { id, (enum q_state)e.state, e.seq };
		if ((rc = fn(arg, &m, b.data, e.len)) < 0)
			break;
		if (rc == 0)
			shown++;
		rc = 0;
	}
	if (ret_next)
		*ret_next = rc < 0 ? 0 : next;
	buf_release(&b);
	return rc;
}

void quarantine_counts(struct quarantine *q, uint64_t counts[3], uint64_t *bytes)
{
	counts[0] = counts[1] = counts[2] = 0;
	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < q->n; i++)
		counts[q->v[i].state]++;
	*bytes = q->size;
	pthread_mutex_unlock(&q->mu);
}
