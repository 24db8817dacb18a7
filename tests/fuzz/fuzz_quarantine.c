/*
 * fuzz_quarantine.c - the quarantine file's reader (src/policy/quarantine.c):
 * arbitrary bytes as DIR/quarantine/quarantine.log.
 *
 * Checked on every run:
 *  - quarantine_open never crashes or reads out of bounds;
 *  - a refusal is ST_ECORRUPT with a text that names a byte;
 *  - an accepted file works: every listed entry reads back, an entry
 *    added now gets the next id and survives a reopen with nothing left
 *    to cut off, and a discard of it is refused the second time;
 *  - a torn tail reported lies inside the input.
 * The file lives in /dev/shm when it exists (fdatasync is cheap there).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>

#include "common/util.h"
#include "policy/quarantine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[128], qdir[192], path[224];

static void put(const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

static int entry(void *arg, uint64_t id, struct buf *out)
{
	(void)arg;
	return buf_printf(out, "{\"k\":\"e\",\"id\":%llu,\"tenant\":\"fz\"}", (unsigned long long)id);
}

static int check(void *arg, const struct q_meta *m, const uint8_t *p, size_t n)
{
	uint64_t *last = arg;
	if (m->id <= *last || n == 0 || !p || (m->state != Q_RESUBMITTED && m->seq))
		abort();
	*last = m->id;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quarantine *q = NULL;
	struct quarantine_open_report rep;
	char err[512] = "";
	enum q_state was;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/st-fuzz-quar-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
		snprintf(path, sizeof(path), "%s/quarantine.log", qdir);
		if (mkdir(qdir, 0700) != 0)
			abort();
	}
	put(data, size);
	int r = quarantine_open(&q, dir, 1 << 24, &rep, err, sizeof(err));
	if (r < 0) {
		if (r == ST_ECORRUPT && !strstr(err, "byte"))
			abort();
		return 0;
	}
	if (rep.truncated_bytes && rep.truncated_at + rep.truncated_bytes != size)
		abort();
	uint64_t last = 0;
	uint64_t next = 1;
	if (quarantine_list(q, 0, NULL, -1, 1u << 20, 1u << 20, check, &last, &next) != 0 || next != 0)
		abort();
	int64_t id = quarantine_add(q, "fz", entry, NULL);
	if (id != (int64_t)last + 1 || quarantine_sync(q) != 0)
		abort();
	int64_t id2 = quarantine_add(q, "fz", entry, NULL);
	if (id2 != id + 1 || quarantine_sync(q) != 0)
		abort();
	if (quarantine_set_state(q, (uint64_t)id, Q_DISCARDED, "fuzz", 0, &was) != 0 ||
	    quarantine_set_state(q, (uint64_t)id, Q_DISCARDED, "fuzz", 0, &was) != ST_EEXIST)
		abort();
	if (quarantine_claim(q, (uint64_t)id2, &was) != 0 ||
	    quarantine_set_state(q, (uint64_t)id2, Q_DISCARDED, "fuzz", 0, &was) != -EBUSY ||
	    quarantine_set_state(q, (uint64_t)id2, Q_RESUBMITTED, "fuzz", 7, &was) != 0)
		abort();
	quarantine_free(q);
	q = NULL;
	if (quarantine_open(&q, dir, 1 << 24, &rep, err, sizeof(err)) != 0 || rep.truncated_bytes)
		abort();
	enum q_state st;
	uint64_t seq = 0;
	struct buf b = BUF_INIT(1 << 20);
	if (quarantine_get(q, (uint64_t)id2, &b, err, &st, &seq) != 0 || st != Q_RESUBMITTED || seq != 7)
		abort();
	buf_release(&b);
	quarantine_free(q);
	return 0;
}
