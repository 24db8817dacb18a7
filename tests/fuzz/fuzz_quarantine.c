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

static int check(void *arg, uint64_t id, enum q_state st, const uint8_t *p, size_t n)
{
	(void)st;
	uint64_t *last = arg;
	if (id <= *last || n == 0 || !p)
		abort();
	*last = id;
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
	if (quarantine_list(q, 0, NULL, -1, 1u << 20, check, &last) != 0)
		abort();
	int64_t id = quarantine_add(q, "fz", entry, NULL);
	if (id != (int64_t)last + 1 || quarantine_sync(q) != 0)
		abort();
	if (quarantine_set_state(q, (uint64_t)id, Q_DISCARDED, "fuzz", &was) != 0 ||
	    quarantine_set_state(q, (uint64_t)id, Q_DISCARDED, "fuzz", &was) != ST_EEXIST)
		abort();
	quarantine_free(q);
	q = NULL;
	if (quarantine_open(&q, dir, 1 << 24, &rep, err, sizeof(err)) != 0 || rep.truncated_bytes)
		abort();
	quarantine_free(q);
	return 0;
}
