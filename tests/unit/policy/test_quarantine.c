/*
 * test_quarantine.c - the quarantine file (quarantine.h): entries added
 * and read back, a reopen that finds them with their states, one state
 * change per entry, a resubmit's claim (no discard while it holds, the
 * seq kept across a reopen), filters, skips and paging of the list with
 * its bounded scan, a torn tail cut off
 * (a half record, then a whole last record with a bad CRC), damage in the
 * middle refused with its byte offset, and the size bound.
 */
#include "test.h"

#include <errno.h>
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

static int collect(void *arg, const struct q_meta *m, const uint8_t *p, size_t n)
{
	struct buf *b = arg;
	(void)p;
	(void)n;
	if (m->seq)
		return buf_printf(b, "%llu:%s@%llu ", (unsigned long long)m->id, q_state_name(m->state),
				  (unsigned long long)m->seq);
	return buf_printf(b, "%llu:%s ", (unsigned long long)m->id, q_state_name(m->state));
}

/* shows only entries whose payload says "what":"three" or "four" (1: skipped) */
static int only_34(void *arg, const struct q_meta *m, const uint8_t *p, size_t n)
{
	if (!memmem(p, n, "\"three\"", 7) && !memmem(p, n, "\"four\"", 6))
		return 1;
	return collect(arg, m, p, n);
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
	CHECK(quarantine_get(q, 2, &b, tenant, &st, NULL) == 0 && !strcmp(tenant, "globex") && st == Q_PENDING);
	CHECK(memmem(b.data, b.len, "\"what\":\"two\"", 12) != NULL);
	CHECK(quarantine_get(q, 4, &b, tenant, &st, NULL) == ST_ENOTFOUND);
	CHECK(quarantine_set_state(q, 1, Q_DISCARDED, "admin-x", 0, &was) == 0);
	CHECK(quarantine_set_state(q, 1, Q_RESUBMITTED, "admin-x", 5, &was) == ST_EEXIST && was == Q_DISCARDED);
	CHECK(quarantine_set_state(q, 1, Q_DISCARDED, "admin-x", 0, &was) == ST_EEXIST && was == Q_DISCARDED);
	CHECK(quarantine_set_state(q, 9, Q_DISCARDED, "admin-x", 0, &was) == ST_ENOTFOUND);
	CHECK(quarantine_set_state(q, 2, Q_PENDING, "admin-x", 0, &was) == ST_EEXIST);

	/* a resubmit's claim: no second claim, no discard while it holds;
	 * unclaim gives the entry back; resubmitted records the seq */
	CHECK(quarantine_claim(q, 1, &was) == ST_EEXIST && was == Q_DISCARDED);
	CHECK(quarantine_claim(q, 9, &was) == ST_ENOTFOUND);
	CHECK(quarantine_claim(q, 2, &was) == 0);
	CHECK(quarantine_claim(q, 2, &was) == -EBUSY);
	CHECK(quarantine_set_state(q, 2, Q_DISCARDED, "admin-x", 0, &was) == -EBUSY);
	quarantine_unclaim(q, 2);
	CHECK(quarantine_claim(q, 2, &was) == 0);
	CHECK(quarantine_set_state(q, 2, Q_RESUBMITTED, "admin-y", 42, &was) == 0 && was == Q_PENDING);
	CHECK(quarantine_claim(q, 2, &was) == ST_EEXIST && was == Q_RESUBMITTED);
	CHECK(quarantine_set_state(q, 2, Q_DISCARDED, "admin-x", 0, &was) == ST_EEXIST && was == Q_RESUBMITTED);
	uint64_t seq = 0;
	CHECK(quarantine_get(q, 2, &b, tenant, &st, &seq) == 0 && st == Q_RESUBMITTED && seq == 42);
	quarantine_free(q);

	/* reopen: the states are there; list filters and pages */
	q = NULL;
	CHECK_MSG(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0, "%s", err);
	CHECK(rep.truncated_bytes == 0);
	buf_reset(&b);
	uint64_t next = 99;
	CHECK(quarantine_list(q, 0, NULL, -1, 10, 100, collect, &b, &next) == 0 && next == 0);
	CHECK_MSG(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "1:discarded 2:resubmitted@42 3:pending "),
		  "%s", (char *)b.data);
	seq = 0;
	CHECK(quarantine_get(q, 2, &b, tenant, &st, &seq) == 0 && st == Q_RESUBMITTED && seq == 42);
	buf_reset(&b);
	CHECK(quarantine_list(q, 0, "acme", Q_PENDING, 10, 100, collect, &b, NULL) == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "3:pending "));
	buf_reset(&b);
	CHECK(quarantine_list(q, 1, NULL, -1, 1, 100, collect, &b, &next) == 0 && next == 2);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "2:resubmitted@42 "));
	CHECK(add(q, "acme", "four") == 4 && quarantine_sync(q) == 0);
	/* skipped entries do not count toward the limit; the scan is bounded */
	buf_reset(&b);
	CHECK(quarantine_list(q, 0, NULL, -1, 10, 100, only_34, &b, &next) == 0 && next == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "3:pending 4:pending "));
	buf_reset(&b);
	CHECK(quarantine_list(q, 0, NULL, -1, 10, 2, only_34, &b, &next) == 0 && next == 2);
	CHECK(buf_cstr(&b) == 0 && b.len == 0);
	CHECK(quarantine_list(q, next, NULL, -1, 10, 2, only_34, &b, &next) == 0 && next == 0);
	CHECK(buf_cstr(&b) == 0 && !strcmp((char *)b.data, "3:pending 4:pending "));
	uint64_t counts[3], bytes;
	quarantine_counts(q, counts, &bytes);
	CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 1 && bytes > 8);
	quarantine_free(q);

	/* a torn tail: half a record, then a whole last record with a bad CRC */
	struct buf f = BUF_INIT(1 << 20);
	CHECK(read_file(path, 1 << 20, &f) == 0);
	size_t whole = f.len;
	CHECK(write_file_atomic(path, f.data, whole - 5, 0600) == 0);
	q = NULL;
	CHECK(quarantine_open(&q, dir, 1 << 20, &rep, err, sizeof(err)) == 0 && rep.truncated_bytes > 0);
	CHECK(quarantine_get(q, 4, &b, tenant, &st, NULL) == ST_ENOTFOUND);
	CHECK(quarantine_get(q, 3, &b, tenant, &st, NULL) == 0);
	CHECK(quarantine_get(q, 2, &b, tenant, &st, &seq) == 0 && st == Q_RESUBMITTED && seq == 42);
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
