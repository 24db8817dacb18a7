/*
 * test_quarantine.c - the quarantine file (quarantine.h): entries added
 * and read back, a reopen that finds them with their states, one state
 * change per entry, filters and paging of the list, a torn tail cut off
 * (a half record, then a whole last record with a bad CRC), damage in the
 * middle refused with its byte offset, and the size bound.
 */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/util.h"
#include "policy/quarantine.h"

struct mk {
	const char *tenant, *what;
};

static int make(void *arg, uint64_t id, struct buf *out)
{
	const struct mk *m = arg;
	return buf_printf(out, "{\"k\":\"e\",\"id\":%llu,\"tenant\":\"%s\",\"what\":\"%s\"}",
			  (unsigned long long)id, m->tenant, m->what);
}

static int collect(void *arg, uint64_t id, enum q_state st, const uint8_t *p, size_t n)
{
	struct buf *b = arg;
	(void)p;
	(void)n;
	return buf_printf(b, "%llu:%s ", (unsigned long long)id, q_state_name(st));
}

static int64_t add(struct quarantine *q, const char *t, const char *w)
{
	struct mk m = { t, w };
	return quarantine_add(q, t, make, &m);
}

int main(void)
{
	char dir[] = "/tmp/sealtrail-quar.XXXXXX", err[512] = "", path[512];
	struct quarantine *q = NULL;
	struct quarantine_open_report rep;
	enum q_state was, st;
	char tenant[QUARANTINE_TENANT_MAX + 1];
	struct buf b = BUF_INIT(1 << 20);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/quarantine/quarantine.log", dir);
	CHECK_MSG(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0, "%s", err);
	CHECK(add(q, "acme", "one") == 1 && add(q, "globex", "two") == 2 && add(q, "acme", "three") == 3);
	CHECK(quarantine_sync(q) == 0);
	CHECK(quarantine_get(q, 2, &b, tenant, &st) == 0 && !strcmp(tenant, "globex") && st == Q_PENDING);
	CHECK(memmem(b.data, b.len, "\"what\":\"two\"", 12) != NULL);
	CHECK(quarantine_get(q, 4, &b, tenant, &st) == ST_ENOTFOUND);
	CHECK(quarantine_set_state(q, 1, Q_DISCARDED, "admin-x", &was) == 0);
	CHECK(quarantine_set_state(q, 1, Q_RESUBMITTED, "admin-x", &was) == ST_EEXIST && was == Q_DISCARDED);
	CHECK(quarantine_set_state(q, 9, Q_DISCARDED, "admin-x", &was) == ST_ENOTFOUND);
	quarantine_free(q);

	/* reopen: the states are there; list filters and pages */
	q = NULL;
	CHECK_MSG(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0, "%s", err);
	CHECK(rep.truncated_bytes == 0);
	buf_reset(&b);
	CHECK(quarantine_list(q, 0, NULL, -1, 10, collect, &b) == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "1:discarded 2:pending 3:pending "));
	buf_reset(&b);
	CHECK(quarantine_list(q, 0, "acme", Q_PENDING, 10, collect, &b) == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "3:pending "));
	buf_reset(&b);
	CHECK(quarantine_list(q, 1, NULL, -1, 1, collect, &b) == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "2:pending "));
	uint64_t counts[3], bytes;
	quarantine_counts(q, counts, &bytes);
	CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 0 && bytes > 8);
	CHECK(add(q, "acme", "four") == 4 && quarantine_sync(q) == 0);
	quarantine_free(q);

	/* a torn tail: half a record, then a whole last record with a bad CRC */
	struct buf f = BUF_INIT(1 << 20);
	CHECK(read_file(path, 1 << 20, &f) == 0);
	size_t whole = f.len;
	CHECK(write_file_atomic(path, f.data, whole - 5, 0600) == 0);
	q = NULL;
	CHECK(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0 && rep.truncated_bytes > 0);
	CHECK(quarantine_get(q, 4, &b, tenant, &st) == ST_ENOTFOUND);
	CHECK(quarantine_get(q, 3, &b, tenant, &st) == 0);
	quarantine_free(q);
	f.data[whole - 3] ^= 1;   /* the last record (4) whole but damaged */
	CHECK(write_file_atomic(path, f.data, whole, 0600) == 0);
	q = NULL;
	CHECK(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0 && rep.truncated_bytes > 0);
	quarantine_free(q);

	/* damage in the middle: refused with the offset */
	f.data[whole - 3] ^= 1;
	f.data[20] ^= 1;
	CHECK(write_file_atomic(path, f.data, whole, 0600) == 0);
	q = NULL;
	CHECK(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == ST_ECORRUPT && !q);
	CHECK_MSG(strstr(err, "byte 8: a record whose CRC does not match") != NULL, "%s", err);

	/* the bound */
	unlink(path);
	q = NULL;
	CHECK(quarantine_open(&q, dir, 200, &rep, err, sizeof(err)) == 0);
	CHECK(add(q, "acme", "x") == 1);
	CHECK(add(q, "acme", "a much longer payload that goes over the two hundred bytes allowed here, surely, yes, it does, absolutely, positively, without a doubt") == ST_ELIMIT);
	quarantine_free(q);

	buf_release(&b);
	buf_release(&f);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return test_report("test_quarantine");
}
