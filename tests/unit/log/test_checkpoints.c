/*
 * test_checkpoints.c - the checkpoint history as readers see it: every
 * checkpoint ever issued can be read back by its size and by its position,
 * through checkpoints.idx, and the index is repaired by open when it is
 * missing, short by the last record, or wrong.
 */
#include "test.h"

#include "common/codec.h"
#include "common/util.h"
#include "event/event.h"
#include "log/log.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUNDS 40

static struct log *open_log(const char *dir)
{
	char err[1024] = "";
	struct log *l = NULL;
	int r = log_open(&l, dir, err, sizeof(err));
	CHECK_MSG(r == 0, "log_open: %s (%s)", err, st_strerror(r));
	return l;
}

static void append_one(struct log *l, int i)
{
	char src[256];
	struct event_limits lim;
	struct event_error ee;
	struct log_event ev;
	struct log_ack ack;

	memset(&ev, 0, sizeof(ev));
	struct buf c = BUF_INIT(4096);

	event_limits_default(&lim);
	snprintf(src, sizeof(src), "{\"time\":\"2026-01-01T00:00:%02dZ\",\"action\":\"a.b\","
		 "\"actor\":{\"id\":\"u%d\"},\"resource\":{\"type\":\"t\"}}", i % 60, i);
	CHECK(event_parse((const uint8_t *)src, strlen(src), &lim, &c, &ev.info, &ee) == 0);
	ev.compact = c.data;
	ev.len = c.len;
	CHECK(log_append(l, &ev, 1, &ack) == 0 && ack.result == 0);
	buf_release(&c);
}

/* Every recorded note, by size and by position, must read back exactly. */
static void check_all(struct log *l, struct buf *notes, const uint64_t *sizes)
{
	CHECK(log_checkpoint_count(l) == ROUNDS + 1);
	for (int i = 0; i <= ROUNDS; i++) {
		struct buf got = BUF_INIT(1 << 20);
		CHECK(log_read_checkpoint_at(l, (uint64_t)i, &got) == 0);
		CHECK_MSG(got.len == notes[i].len && !memcmp(got.data, notes[i].data, got.len),
			  "checkpoint #%d by position", i);
		buf_reset(&got);
		if (sizes[i]) {
			CHECK(log_read_checkpoint(l, sizes[i], &got) == 0);
			CHECK_MSG(got.len == notes[i].len && !memcmp(got.data, notes[i].data, got.len),
				  "checkpoint of size %llu by size", (unsigned long long)sizes[i]);
		}
		buf_release(&got);
	}
	struct buf none = BUF_INIT(1 << 20);
	CHECK(log_read_checkpoint_at(l, ROUNDS + 1, &none) == ST_ERANGE);
	/* Sizes that no checkpoint has. */
	CHECK(log_read_checkpoint(l, 2, &none) == ST_ENOTFOUND);
	CHECK(log_read_checkpoint(l, 100000, &none) == ST_ENOTFOUND);
	buf_release(&none);
}

int main(void)
{
	char tmpl[] = "/tmp/sealtrail-test-cp.XXXXXX", dir[256], path[300], err[512];
	struct buf notes[ROUNDS + 1];
	uint64_t sizes[ROUNDS + 1];
	struct log_init_options o = { .origin = "example.com/test-cp" };
	struct buf vk = BUF_INIT(4096);
	char *base = mkdtemp(tmpl);

	if (!base)
		return 2;
	snprintf(dir, sizeof(dir), "%s/log", base);
	CHECK(log_init(dir, &o, &vk, err, sizeof(err)) == 0);
	buf_release(&vk);

	struct log *l = open_log(dir);
	if (!l)
		return test_report("log/checkpoints");
	/* init issued checkpoint #0 (size 0); then sizes 1, 3, 6, 10, ... */
	buf_init(&notes[0], 1 << 20);
	CHECK(log_read_checkpoint_at(l, 0, &notes[0]) == 0);
	sizes[0] = 0;
	int n = 0;
	for (int i = 1; i <= ROUNDS; i++) {
		for (int k = 0; k < i; k++)
			append_one(l, n++);
		buf_init(&notes[i], 1 << 20);
		CHECK(log_checkpoint(l, false, &notes[i]) == 0);
		sizes[i] = (uint64_t)n;
	}
	check_all(l, notes, sizes);
	log_close(l);

	/* Missing index: rebuilt by open. */
	snprintf(path, sizeof(path), "%s/checkpoints.idx", dir);
	CHECK(unlink(path) == 0);
	if ((l = open_log(dir))) {
		check_all(l, notes, sizes);
		log_close(l);
	}
	/* Short by the last record (a crash after the history append). */
	CHECK(truncate(path, (off_t)(ROUNDS * 8)) == 0);
	if ((l = open_log(dir))) {
		check_all(l, notes, sizes);
		log_close(l);
	}
	/* Garbage: the last entry does not point at the last record. */
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (f) {
		uint8_t junk[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
		fseek(f, (long)((ROUNDS - 1) * 8), SEEK_SET);
		fwrite(junk, 1, sizeof(junk), f);
		fclose(f);
	}
	if ((l = open_log(dir))) {
		check_all(l, notes, sizes);
		log_close(l);
	}
	/* The read-only tree verify uses: same root, no writes. */
	{
		char tdir[300], lvl[340];
		struct stat before, after;
		struct tree *t = NULL;
		uint8_t root[HASH_SIZE], leaf[HASH_SIZE] = {0};
		snprintf(tdir, sizeof(tdir), "%s/tree", dir);
		snprintf(lvl, sizeof(lvl), "%s/level-00", tdir);
		CHECK(stat(lvl, &before) == 0);
		CHECK(tree_open_rdonly(&t, tdir) == 0);
		if (t) {
			CHECK(tree_size(t) == sizes[ROUNDS]);
			CHECK(tree_root(t, sizes[ROUNDS], root) == 0);
			CHECK(tree_append(t, (const uint8_t(*)[HASH_SIZE])&leaf, 1) == ST_ESTICKY);
			CHECK(tree_truncate(t, 1) == ST_ESTICKY);
			tree_free(t);
		}
		CHECK(stat(lvl, &after) == 0 && after.st_size == before.st_size);
		/* the root is the one the last checkpoint signed (line 3, base64) */
		const char *nb = (const char *)notes[ROUNDS].data, *ne = nb + notes[ROUNDS].len;
		const char *nl1 = memchr(nb, '\n', (size_t)(ne - nb));
		const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(ne - nl1 - 1)) : NULL;
		uint8_t signed_root[HASH_SIZE];
		CHECK(nl2 && base64_decode(nl2 + 1, 44, signed_root, HASH_SIZE) == HASH_SIZE &&
		      !memcmp(signed_root, root, HASH_SIZE));
	}
	for (int i = 0; i <= ROUNDS; i++)
		buf_release(&notes[i]);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		return 2;
	return test_report("log/checkpoints");
}
