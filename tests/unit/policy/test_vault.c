/*
 * test_vault.c - the token vault (src/policy/vault.h, docs/VAULT.md).
 *
 * Round trips, determinism, tenant separation, crypto-shredding (erase,
 * idempotence, reopen, re-tokenize), compaction, crash cases (torn tail,
 * torn or missing erase overwrite, damage in the middle), key handling
 * (wrong key, file mode, missing key), limits, the lock, group commit
 * under four threads, and a scan proving that no plaintext value, subject
 * or tenant reaches the vault directory's bytes.
 *
 * The record walk below (frames()) is written from docs/FORMAT.md, not
 * from vault.c, so the format document is checked too.
 *
 * Environment:
 *   SEALTRAIL_VAULT_BENCH=1      larger timing runs (printed, not checked)
 *   SEALTRAIL_VAULT_CORPUS=DIR   also writes the fuzz seed corpus
 *                                (tests/fuzz/corpus/vault) into DIR
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "policy/vault.h"
#include "test.h"

#define HDR 108   /* docs/FORMAT.md: the vault header */

static char base[256];
static int ndirs;

static void make_dir(char *out, size_t cap)
{
	snprintf(out, cap, "%s/v%d", base, ndirs++);
}

static struct vault *open_ok(const char *dir, const char *key_path, unsigned flags,
			     struct vault_open_report *rep)
{
	struct vault_options o = { key_path, flags };
	struct vault *v = NULL;
	char err[512] = "";
	int r = vault_open(&v, dir, &o, rep, err, sizeof(err));
	CHECK_MSG(r == 0, "vault_open(%s): %d %s", dir, r, err);
	if (r)
		exit(1);
	return v;
}

static int open_err(const char *dir, const char *key_path, char *err, size_t cap)
{
	struct vault_options o = { key_path, 0 };
	struct vault *v = NULL;
	err[0] = 0;
	int r = vault_open(&v, dir, &o, NULL, err, cap);
	if (r == 0)
		vault_free(v);
	return r;
}

static int tok(struct vault *v, const char *tenant, const char *subject, const char *value,
	       char out[VAULT_TOKEN_LEN + 1])
{
	char err[256] = "";
	int r = vault_tokenize(v, tenant, subject, subject ? strlen(subject) : 0, value,
			       strlen(value), out, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "  vault_tokenize(%s): %s\n", value, err);
	return r;
}

/* 0 and the value, or the error. */
static int detok(struct vault *v, const char *tenant, const char *token, char *out, size_t cap)
{
	size_t n = 0;
	int r = vault_detokenize(v, tenant, token, strlen(token), out, cap - 1, &n);
	out[r == 0 ? n : 0] = 0;
	return r;
}

static bool resolves_to(struct vault *v, const char *tenant, const char *token, const char *want)
{
	char buf[VAULT_VALUE_MAX + 1];
	int r = detok(v, tenant, token, buf, sizeof(buf));
	if (r != 0 || strcmp(buf, want) != 0) {
		fprintf(stderr, "  detokenize(%s) = %d (%s), want %s\n", token, r, r ? "" : buf, want);
		return false;
	}
	return true;
}

static int detok_rc(struct vault *v, const char *tenant, const char *token)
{
	char buf[VAULT_VALUE_MAX + 1];
	return detok(v, tenant, token, buf, sizeof(buf));
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)len + 1);
	if (fread(p, 1, (size_t)len, f) != (size_t)len)
		len = 0;
	fclose(f);
	*n = (size_t)len;
	return p;
}

static void spew(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(2);
	}
	fclose(f);
}

static void file_path(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record offsets and types of a vault.log, walked from docs/FORMAT.md:
 * a 108-byte header, then frames of u32 length, u32 CRC, body (type
 * first). Returns the count. */
static size_t frames(const uint8_t *p, size_t n, size_t *offs, uint8_t *types, size_t cap)
{
	size_t off = HDR, k = 0;
	while (off + 8 <= n && k < cap) {
		uint32_t len = le32(p + off);
		if (len == 0 || off + 8 + len > n)
			break;
		offs[k] = off;
		types[k++] = p[off + 8];
		off += 8 + len;
	}
	return k;
}

/* ---- round trips, determinism, tenants ------------------------------- */

static void test_round_trip(void)
{
	char dir[300], t1[VAULT_TOKEN_LEN + 1], t2[VAULT_TOKEN_LEN + 1], t3[VAULT_TOKEN_LEN + 1];
	char t4[VAULT_TOKEN_LEN + 1], t5[VAULT_TOKEN_LEN + 1], kp[400];
	struct vault_open_report rep;
	struct stat st;
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, &rep);
	CHECK(rep.created && rep.key_created);
	file_path(kp, sizeof(kp), dir, VAULT_KEY_FILE);
	CHECK(stat(kp, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);

	CHECK(tok(v, "acme", NULL, "alice@example.com", t1) == 1);
	CHECK(strlen(t1) == VAULT_TOKEN_LEN && !strncmp(t1, "tok_", 4));
	CHECK(vault_token_valid(t1, strlen(t1)));
	CHECK(resolves_to(v, "acme", t1, "alice@example.com"));
	/* Deterministic: the same token, nothing new written. */
	CHECK(tok(v, "acme", NULL, "alice@example.com", t2) == 0);
	CHECK(!strcmp(t1, t2));
	/* Another value, another token. */
	CHECK(tok(v, "acme", NULL, "bob@example.com", t3) == 1);
	CHECK(strcmp(t1, t3) != 0);
	/* Tenants: same value, different token; no cross-tenant resolution. */
	CHECK(tok(v, "globex", NULL, "alice@example.com", t4) == 1);
	CHECK(strcmp(t1, t4) != 0);
	CHECK(detok_rc(v, "globex", t1) == ST_ENOTFOUND);
	CHECK(detok_rc(v, "acme", t4) == ST_ENOTFOUND);
	CHECK(resolves_to(v, "globex", t4, "alice@example.com"));
	/* Per subject: the same value under a named subject is another token. */
	CHECK(tok(v, "acme", "user-7", "alice@example.com", t5) == 1);
	CHECK(strcmp(t1, t5) != 0);
	CHECK(resolves_to(v, "acme", t5, "alice@example.com"));

	/* Values are bytes: a NUL inside, and the longest allowed. */
	{
		static char big[VAULT_VALUE_MAX];
		char tb[VAULT_TOKEN_LEN + 1], buf[VAULT_VALUE_MAX];
		size_t n = 0;
		memset(big, 'x', sizeof(big));
		big[10] = 0;
		CHECK(vault_tokenize(v, "acme", NULL, 0, big, sizeof(big), tb, NULL, 0) == 1);
		CHECK(vault_detokenize(v, "acme", tb, strlen(tb), buf, sizeof(buf), &n) == 0);
		CHECK(n == sizeof(big) && !memcmp(buf, big, n));
		CHECK(vault_detokenize(v, "acme", tb, strlen(tb), buf, 100, &n) == ST_ELIMIT);
	}
	/* Not tokens. */
	CHECK(detok_rc(v, "acme", "tok_") == ST_EINVAL);
	CHECK(detok_rc(v, "acme", "tok_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1") == ST_EINVAL);
	CHECK(detok_rc(v, "acme", "tok_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == ST_ENOTFOUND);
	CHECK(detok_rc(v, "acme", "TOK_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == ST_EINVAL);

	/* Reopen: same tokens, still resolving, still deterministic. */
	vault_free(v);
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(!rep.created && !rep.key_created && rep.truncated_bytes == 0);
	CHECK(resolves_to(v, "acme", t1, "alice@example.com"));
	CHECK(resolves_to(v, "acme", t3, "bob@example.com"));
	CHECK(tok(v, "acme", NULL, "alice@example.com", t2) == 0 && !strcmp(t1, t2));
	CHECK(tok(v, "acme", "user-7", "alice@example.com", t2) == 0 && !strcmp(t5, t2));
	vault_free(v);
}

static void test_limits(void)
{
	char dir[300], t[VAULT_TOKEN_LEN + 1], err[256];
	static char big[VAULT_VALUE_MAX + 2];
	char tenant[VAULT_TENANT_MAX + 2];
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	memset(big, 'v', sizeof(big));
	memset(tenant, 't', sizeof(tenant) - 1);
	tenant[sizeof(tenant) - 1] = 0;

	err[0] = 0;
	CHECK(vault_tokenize(v, "a", NULL, 0, big, VAULT_VALUE_MAX + 1, t, err, sizeof(err)) == ST_ELIMIT);
	CHECK_MSG(strstr(err, "VAULT_VALUE_MAX"), "%s", err);
	err[0] = 0;
	CHECK(vault_tokenize(v, "a", big, VAULT_SUBJECT_MAX + 1, "x", 1, t, err, sizeof(err)) == ST_ELIMIT);
	CHECK_MSG(strstr(err, "VAULT_SUBJECT_MAX"), "%s", err);
	err[0] = 0;
	CHECK(vault_tokenize(v, tenant, NULL, 0, "x", 1, t, err, sizeof(err)) == ST_ELIMIT);
	CHECK_MSG(strstr(err, "VAULT_TENANT_MAX"), "%s", err);
	CHECK(vault_tokenize(v, "", NULL, 0, "x", 1, t, NULL, 0) == ST_EINVAL);
	CHECK(vault_tokenize(v, "a", NULL, 0, "", 0, t, NULL, 0) == ST_EINVAL);
	CHECK(vault_tokenize(v, "a", "", 0, "x", 1, t, NULL, 0) == ST_EINVAL);
	CHECK(vault_erase_subject(v, "a", big, VAULT_VALUE_MAX + 1, err, sizeof(err)) == ST_ELIMIT);
	/* The limits themselves are allowed. */
	CHECK(vault_tokenize(v, tenant + 1, big, VAULT_SUBJECT_MAX, big, VAULT_VALUE_MAX, t, NULL, 0) == 1);
	{
		struct vault_item items[1] = { { NULL, 0, "x", 1 } };
		static char toks[VAULT_BATCH_MAX + 1][VAULT_TOKEN_LEN + 1];
		struct vault_item *many = calloc(VAULT_BATCH_MAX + 1, sizeof(*many));
		for (size_t i = 0; i <= VAULT_BATCH_MAX; i++)
			many[i] = items[0];
		err[0] = 0;
		CHECK(vault_tokenize_batch(v, "a", many, VAULT_BATCH_MAX + 1, toks, err, sizeof(err)) == ST_ELIMIT);
		CHECK_MSG(strstr(err, "VAULT_BATCH_MAX"), "%s", err);
		free(many);
	}
	vault_free(v);
}

static void test_batch(void)
{
	char dir[300], one[VAULT_TOKEN_LEN + 1];
	struct vault_item items[100];
	char vals[100][16], toks[100][VAULT_TOKEN_LEN + 1];
	struct vault_stats st;
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	CHECK(tok(v, "acme", NULL, "v7", one) == 1);
	for (int i = 0; i < 100; i++) {
		snprintf(vals[i], sizeof(vals[i]), "v%d", i % 50);   /* each value twice */
		items[i] = (struct vault_item){ NULL, 0, vals[i], strlen(vals[i]) };
	}
	vault_stats(v, &st);
	uint64_t commits = st.commits;
	CHECK(vault_tokenize_batch(v, "acme", items, 100, toks, NULL, 0) == 49);
	vault_stats(v, &st);
	CHECK(st.commits == commits + 1);   /* one group commit for the batch */
	CHECK(st.entries == 50);
	for (int i = 0; i < 50; i++)
		CHECK(!strcmp(toks[i], toks[i + 50]));
	CHECK(!strcmp(toks[7], one));
	for (int i = 0; i < 100; i += 13)
		CHECK(resolves_to(v, "acme", toks[i], vals[i]));
	vault_free(v);
}

/* Staged tokenizes share the one wait that follows: 200 new values, one
 * group commit; the tokens equal vault_tokenize's; a staged token waits
 * for its group when detokenized; a reopen finds them all. */
static void test_staged(void)
{
	char dir[300], vals[200][24], toks[200][VAULT_TOKEN_LEN + 1], t2[VAULT_TOKEN_LEN + 1];
	struct vault_stats st;
	uint64_t want = 0, b;
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	vault_stats(v, &st);
	uint64_t commits = st.commits;
	int created = 0;
	for (int i = 0; i < 200; i++) {
		snprintf(vals[i], sizeof(vals[i]), "staged-%d@example.org", i);
		b = 0;
		int r = vault_tokenize_staged(v, "acme", "subj", 4, vals[i], strlen(vals[i]), toks[i], &b, NULL, 0);
		created += r == 1;
		CHECK(b > 0);
		if (b > want)
			want = b;
	}
	CHECK(created == 200);
	vault_stats(v, &st);
	CHECK(st.commits == commits);          /* nothing waited yet */
	CHECK(vault_wait(v, want) == 0);
	vault_stats(v, &st);
	CHECK_MSG(st.commits == commits + 1, "%llu group commits for 200 staged values",
		  (unsigned long long)(st.commits - commits));
	CHECK(vault_wait(v, 0) == 0 && vault_wait(v, want) == 0);
	/* the same token as the waiting call, which now finds it */
	CHECK(vault_tokenize(v, "acme", "subj", 4, vals[5], strlen(vals[5]), t2, NULL, 0) == 0);
	CHECK(!strcmp(t2, toks[5]));
	/* staged, never waited for: detokenize waits for its group */
	CHECK(vault_tokenize_staged(v, "acme", "subj", 4, "late", 4, t2, &b, NULL, 0) == 1);
	CHECK(resolves_to(v, "acme", t2, "late"));
	vault_free(v);
	v = open_ok(dir, NULL, 0, NULL);
	for (int i = 0; i < 200; i += 17)
		CHECK(resolves_to(v, "acme", toks[i], vals[i]));
	vault_free(v);
}

/* ---- crypto-shredding ------------------------------------------------ */

static void test_erase(void)
{
	char dir[300], a1[VAULT_TOKEN_LEN + 1], a2[VAULT_TOKEN_LEN + 1], a3[VAULT_TOKEN_LEN + 1];
	char b1[VAULT_TOKEN_LEN + 1], self[VAULT_TOKEN_LEN + 1], again[VAULT_TOKEN_LEN + 1];
	char other[VAULT_TOKEN_LEN + 1], err[256];
	struct vault_stats st;
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);

	CHECK(tok(v, "acme", "user-1", "alice@example.com", a1) == 1);
	CHECK(tok(v, "acme", "user-1", "+1 555 0100", a2) == 1);
	CHECK(tok(v, "acme", "user-1", "10.0.0.1", a3) == 1);
	CHECK(tok(v, "acme", "user-2", "bob@example.com", b1) == 1);
	CHECK(tok(v, "acme", NULL, "carol@example.com", self) == 1);
	CHECK(tok(v, "globex", "user-1", "alice@example.com", other) == 1);

	CHECK(vault_erase_subject(v, "acme", "user-1", 6, err, sizeof(err)) == 3);
	CHECK(detok_rc(v, "acme", a1) == ST_EERASED);
	CHECK(detok_rc(v, "acme", a2) == ST_EERASED);
	CHECK(detok_rc(v, "acme", a3) == ST_EERASED);
	/* Erased answers stay tenant-scoped: another tenant learns nothing. */
	CHECK(detok_rc(v, "globex", a1) == ST_ENOTFOUND);
	CHECK(resolves_to(v, "acme", b1, "bob@example.com"));
	CHECK(resolves_to(v, "acme", self, "carol@example.com"));
	/* The same subject name in another tenant is another subject. */
	CHECK(resolves_to(v, "globex", other, "alice@example.com"));
	/* Idempotent, and unknown subjects are a no-op. */
	CHECK(vault_erase_subject(v, "acme", "user-1", 6, err, sizeof(err)) == 0);
	CHECK(vault_erase_subject(v, "acme", "nobody", 6, err, sizeof(err)) == 0);
	/* A value that is its own subject is erased by its value. */
	CHECK(vault_erase_subject(v, "acme", "carol@example.com", 17, err, sizeof(err)) == 1);
	CHECK(detok_rc(v, "acme", self) == ST_EERASED);

	/* Survives reopen. */
	vault_free(v);
	v = open_ok(dir, NULL, 0, NULL);
	CHECK(detok_rc(v, "acme", a1) == ST_EERASED);
	CHECK(detok_rc(v, "acme", self) == ST_EERASED);
	CHECK(resolves_to(v, "acme", b1, "bob@example.com"));
	CHECK(resolves_to(v, "globex", other, "alice@example.com"));
	CHECK(vault_erase_subject(v, "acme", "user-1", 6, err, sizeof(err)) == 0);

	/* Re-tokenizing after erase: a new key, a new token; the old one
	 * stays erased. */
	CHECK(tok(v, "acme", "user-1", "alice@example.com", again) == 1);
	CHECK(strcmp(again, a1) != 0);
	CHECK(resolves_to(v, "acme", again, "alice@example.com"));
	CHECK(detok_rc(v, "acme", a1) == ST_EERASED);
	vault_stats(v, &st);
	CHECK(st.subjects_erased == 2 && st.entries_erased == 4 && st.dead_bytes > 0);
	vault_free(v);
	v = open_ok(dir, NULL, 0, NULL);
	CHECK(resolves_to(v, "acme", again, "alice@example.com"));
	CHECK(detok_rc(v, "acme", a1) == ST_EERASED);
	/* Erase the new generation too. */
	CHECK(vault_erase_subject(v, "acme", "user-1", 6, err, sizeof(err)) == 1);
	CHECK(detok_rc(v, "acme", again) == ST_EERASED);
	vault_free(v);
}

/* A crash between the durable ERASE record and the in-place overwrite:
 * the KEY record is back as it was, or torn half way. Open finishes the
 * erasure; the tokens stay erased. */
static void test_erase_crash(void)
{
	char dir[300], path[400], a[VAULT_TOKEN_LEN + 1], b[VAULT_TOKEN_LEN + 1], err[256];
	size_t n0, n1, offs[64];
	uint8_t types[64];
	struct vault_open_report rep;
	make_dir(dir, sizeof(dir));
	file_path(path, sizeof(path), dir, VAULT_FILE);
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	CHECK(tok(v, "acme", "u1", "alice", a) == 1);
	CHECK(tok(v, "acme", "u2", "bob", b) == 1);
	uint8_t *before = slurp(path, &n0);
	CHECK(vault_erase_subject(v, "acme", "u1", 2, err, sizeof(err)) == 1);
	vault_free(v);
	uint8_t *after = slurp(path, &n1);
	size_t k = frames(after, n1, offs, types, 64);
	/* KEY(1) ENTRY(4) KEY ENTRY, then ERASE(3); the first KEY is now KEY_ERASED(2). */
	CHECK(k == 5 && types[0] == 2 && types[1] == 4 && types[4] == 3);
	CHECK(k == 5 && before[offs[0] + 8] == 1);

	for (int torn = 0; torn < 2; torn++) {
		uint8_t *img = malloc(n1);
		memcpy(img, after, n1);
		/* Whole old KEY record back, or only its first 60 bytes. */
		memcpy(img + offs[0], before + offs[0], torn ? 60 : 8 + 105);
		spew(path, img, n1);
		free(img);
		v = open_ok(dir, NULL, 0, &rep);
		CHECK(rep.erasures_finished == 1 && rep.truncated_bytes == 0);
		CHECK(detok_rc(v, "acme", a) == ST_EERASED);
		CHECK(resolves_to(v, "acme", b, "bob"));
		vault_free(v);
		uint8_t *fixed = slurp(path, &n0);
		CHECK(n0 == n1 && !memcmp(fixed, after, n1));   /* repaired to KEY_ERASED */
		free(fixed);
	}
	free(before);
	free(after);
}

/* ---- compaction ------------------------------------------------------ */

static void test_compact(void)
{
	char dir[300], path[400], err[256], live[20][VAULT_TOKEN_LEN + 1], gone[20][VAULT_TOKEN_LEN + 1];
	char val[256], t[VAULT_TOKEN_LEN + 1];
	struct vault_stats st0, st1;
	struct stat s0, s1;
	make_dir(dir, sizeof(dir));
	file_path(path, sizeof(path), dir, VAULT_FILE);
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	for (int i = 0; i < 20; i++) {
		snprintf(val, sizeof(val), "live-value-%d-%0200d", i, 0);
		CHECK(tok(v, "acme", i % 2 ? "keep-a" : "keep-b", val, live[i]) == 1);
		snprintf(val, sizeof(val), "gone-value-%d-%0200d", i, 0);
		CHECK(tok(v, "acme", i % 2 ? "gone-a" : "gone-b", val, gone[i]) == 1);
	}
	CHECK(vault_erase_subject(v, "acme", "gone-a", 6, err, sizeof(err)) == 10);
	CHECK(vault_erase_subject(v, "acme", "gone-b", 6, err, sizeof(err)) == 10);
	vault_stats(v, &st0);
	stat(path, &s0);
	CHECK(vault_compact(v, err, sizeof(err)) == 0);
	vault_stats(v, &st1);
	stat(path, &s1);
	CHECK_MSG(s1.st_size < s0.st_size && (uint64_t)(s0.st_size - s1.st_size) == st0.dead_bytes,
		  "%lld -> %lld, dead %llu", (long long)s0.st_size, (long long)s1.st_size,
		  (unsigned long long)st0.dead_bytes);
	CHECK(st1.entries == 20 && st1.entries_erased == 20 && st1.subjects == 2 &&
	      st1.subjects_erased == 0 && st1.dead_bytes == 0);
	CHECK((uint64_t)s1.st_size == st1.file_bytes);
	for (int i = 0; i < 20; i++) {
		snprintf(val, sizeof(val), "live-value-%d-%0200d", i, 0);
		CHECK(resolves_to(v, "acme", live[i], val));
		CHECK(detok_rc(v, "acme", gone[i]) == ST_EERASED);
	}
	/* The compacted vault keeps working and reopens the same. */
	snprintf(val, sizeof(val), "live-value-%d-%0200d", 3, 0);
	CHECK(tok(v, "acme", "keep-a", val, t) == 0 && !strcmp(t, live[3]));
	CHECK(tok(v, "acme", "keep-a", "new after compaction", t) == 1);
	CHECK(vault_erase_subject(v, "acme", "keep-b", 6, err, sizeof(err)) == 10);
	vault_free(v);
	v = open_ok(dir, NULL, 0, NULL);
	for (int i = 0; i < 20; i++) {
		snprintf(val, sizeof(val), "live-value-%d-%0200d", i, 0);
		if (i % 2)
			CHECK(resolves_to(v, "acme", live[i], val));
		else
			CHECK(detok_rc(v, "acme", live[i]) == ST_EERASED);
		CHECK(detok_rc(v, "acme", gone[i]) == ST_EERASED);
	}
	CHECK(resolves_to(v, "acme", t, "new after compaction"));
	/* The erased ciphertexts are gone from the file. */
	CHECK(vault_compact(v, err, sizeof(err)) == 0);
	vault_stats(v, &st1);
	CHECK(st1.entries == 11 && st1.entries_erased == 30);
	vault_free(v);
	/* A compaction interrupted before its rename leaves vault.log as it was. */
	char tmp[450];
	snprintf(tmp, sizeof(tmp), "%s.compact", path);
	spew(tmp, "half", 4);
	v = open_ok(dir, NULL, 0, NULL);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(resolves_to(v, "acme", t, "new after compaction"));
	vault_free(v);
}

/* ---- crash and damage ------------------------------------------------ */

static void test_torn_tail(void)
{
	char dir[300], path[400], t[5][VAULT_TOKEN_LEN + 1], val[32];
	struct vault_open_report rep;
	size_t n, m;
	make_dir(dir, sizeof(dir));
	file_path(path, sizeof(path), dir, VAULT_FILE);
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	for (int i = 0; i < 5; i++) {
		snprintf(val, sizeof(val), "value-%d", i);
		CHECK(tok(v, "acme", NULL, val, t[i]) == 1);
	}
	vault_free(v);
	uint8_t *img = slurp(path, &n);

	/* The last record cut short: dropped, with a report; the rest stays. */
	spew(path, img, n - 10);
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(rep.truncated_bytes > 0 && rep.truncated_at + rep.truncated_bytes == n - 10);
	CHECK_MSG(strstr(rep.truncated_why, "past the end"), "%s", rep.truncated_why);
	CHECK(detok_rc(v, "acme", t[4]) == ST_ENOTFOUND);
	for (int i = 0; i < 4; i++) {
		snprintf(val, sizeof(val), "value-%d", i);
		CHECK(resolves_to(v, "acme", t[i], val));
	}
	/* Tokenizing it again appends after the cut (the subject key
	 * was cut too, so this is a new key and a new token). */
	char again[VAULT_TOKEN_LEN + 1];
	CHECK(tok(v, "acme", NULL, "value-4", again) == 1);
	CHECK(resolves_to(v, "acme", again, "value-4"));
	vault_free(v);
	free(slurp(path, &m));
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(rep.truncated_bytes == 0);
	vault_free(v);

	/* A whole last frame with a bad CRC, and zeros after a record
	 * (a size extended before its data reached the disk). */
	uint8_t *bad = malloc(n + 64);
	memcpy(bad, img, n);
	bad[n - 3] ^= 0x40;
	spew(path, bad, n);
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(rep.truncated_bytes > 0 && rep.truncated_at + rep.truncated_bytes == n);
	CHECK(strstr(rep.truncated_why, "CRC") != NULL);
	vault_free(v);
	memcpy(bad, img, n);
	memset(bad + n, 0, 64);
	spew(path, bad, n + 64);
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(rep.truncated_at == n && rep.truncated_bytes == 64);
	CHECK(resolves_to(v, "acme", t[4], "value-4"));
	vault_free(v);
	free(bad);
	free(img);
}

static void test_damage(void)
{
	char dir[300], path[400], t[6][VAULT_TOKEN_LEN + 1], val[32], err[512], want[64];
	size_t n, offs[64];
	uint8_t types[64];
	make_dir(dir, sizeof(dir));
	file_path(path, sizeof(path), dir, VAULT_FILE);
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(val, sizeof(val), "value-%d", i);
		CHECK(tok(v, "acme", "s", val, t[i]) == 1);
	}
	vault_free(v);
	uint8_t *img = slurp(path, &n);
	size_t k = frames(img, n, offs, types, 64);
	CHECK(k == 7 && types[0] == 1 && types[3] == 4);

	/* A flipped byte in a middle record: refused, naming its offset. */
	uint8_t *bad = malloc(n);
	memcpy(bad, img, n);
	bad[offs[3] + 40] ^= 1;
	spew(path, bad, n);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_ECORRUPT);
	snprintf(want, sizeof(want), "byte offset %zu", offs[3]);
	CHECK_MSG(strstr(err, want) != NULL, "%s (want %s)", err, want);
	/* A broken length in the middle: also refused, not truncated. */
	memcpy(bad, img, n);
	bad[offs[2] + 1] = 0x7f;
	spew(path, bad, n);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_ECORRUPT);
	snprintf(want, sizeof(want), "byte offset %zu", offs[2]);
	CHECK_MSG(strstr(err, want) != NULL, "%s (want %s)", err, want);
	/* The header. */
	memcpy(bad, img, n);
	bad[20] ^= 1;
	spew(path, bad, n);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_ECORRUPT);
	CHECK_MSG(strstr(err, "byte offset") != NULL, "%s", err);
	spew(path, img, 50);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_ECORRUPT);
	CHECK_MSG(strstr(err, "byte offset 0") != NULL, "%s", err);
	/* A record whose CRC holds but whose content was forged: a subject
	 * key that does not decrypt. */
	memcpy(bad, img, n);
	bad[offs[0] + 8 + 60] ^= 1;
	{
		uint32_t len = le32(bad + offs[0]);
		uint32_t c = crc32c(crc32c(0, bad + offs[0], 4), bad + offs[0] + 8, len);
		bad[offs[0] + 4] = (uint8_t)c;
		bad[offs[0] + 5] = (uint8_t)(c >> 8);
		bad[offs[0] + 6] = (uint8_t)(c >> 16);
		bad[offs[0] + 7] = (uint8_t)(c >> 24);
	}
	spew(path, bad, n);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_ECORRUPT);
	snprintf(want, sizeof(want), "byte offset %zu", offs[0]);
	CHECK_MSG(strstr(err, want) && strstr(err, "decrypt"), "%s", err);
	/* Intact again: opens. */
	spew(path, img, n);
	v = open_ok(dir, NULL, 0, NULL);
	CHECK(resolves_to(v, "acme", t[5], "value-5"));
	vault_free(v);
	free(bad);
	free(img);
}

/* ---- keys ------------------------------------------------------------ */

static void test_keys(void)
{
	char dir[300], kp[400], other[400], err[512], t[VAULT_TOKEN_LEN + 1];
	struct vault_open_report rep;
	make_dir(dir, sizeof(dir));
	file_path(kp, sizeof(kp), dir, VAULT_KEY_FILE);
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	CHECK(tok(v, "acme", NULL, "alice", t) == 1);
	/* Locked while open. */
	CHECK(open_err(dir, NULL, err, sizeof(err)) == -EWOULDBLOCK);
	vault_free(v);

	/* Group or world access to the key: refused, like ssh. */
	chmod(kp, 0644);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "mode 0644") != NULL, "%s", err);
	chmod(kp, 0640);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == ST_EINVAL);
	chmod(kp, 0400);
	CHECK(open_err(dir, NULL, err, sizeof(err)) == 0);
	chmod(kp, 0600);

	/* A key kept elsewhere, given by path; the wrong key is refused. */
	char dir2[300];
	make_dir(dir2, sizeof(dir2));
	mkdir(dir2, 0700);
	snprintf(other, sizeof(other), "%s/elsewhere.key", dir2);
	v = open_ok(dir2, other, VAULT_CREATE, &rep);
	CHECK(rep.key_created);
	vault_free(v);
	char dflt[400];
	file_path(dflt, sizeof(dflt), dir2, VAULT_KEY_FILE);
	CHECK(access(dflt, F_OK) != 0);   /* nothing written at the default place */
	CHECK(open_err(dir, other, err, sizeof(err)) == ST_ESIG);
	CHECK_MSG(strstr(err, "master key") && strstr(err, "byte offset"), "%s", err);
	CHECK(open_err(dir2, NULL, err, sizeof(err)) == ST_ENOTFOUND);   /* no key there */
	/* An existing vault never gets a new key, even with VAULT_CREATE. */
	{
		struct vault_options o = { NULL, VAULT_CREATE };
		struct vault *w = NULL;
		CHECK(vault_open(&w, dir2, &o, NULL, err, sizeof(err)) == ST_ENOTFOUND);
		CHECK(access(dflt, F_OK) != 0);
	}
	/* A truncated key file. */
	spew(other, "short", 5);
	chmod(other, 0600);
	CHECK(open_err(dir2, other, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "expected 32") != NULL, "%s", err);
	/* No vault, no create. */
	char dir3[300];
	make_dir(dir3, sizeof(dir3));
	mkdir(dir3, 0700);
	CHECK(open_err(dir3, NULL, err, sizeof(err)) == ST_ENOTFOUND);
}

/* ---- no plaintext on disk -------------------------------------------- */

static bool contains(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(p + i, s, k))
			return true;
	return false;
}

/* True when some file in dir holds s. */
static bool dir_contains(const char *dir, const char *s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d))) {
		char p[600];
		size_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		uint8_t *b = slurp(p, &n);
		if (b && contains(b, n, s))
			found = true;
		free(b);
	}
	if (d)
		closedir(d);
	return found;
}

static void test_no_plaintext(void)
{
	static const char *secrets[] = {
		"alice.plaintext@example.com", "user-alice-plaintext-42",
		"tenant-plaintext-acme", "4111111111111111", "+1-555-0100-plain",
	};
	char dir[300], t[VAULT_TOKEN_LEN + 1], err[256];
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	CHECK(tok(v, secrets[2], secrets[1], secrets[0], t) == 1);
	CHECK(tok(v, secrets[2], secrets[1], secrets[3], t) == 1);
	CHECK(tok(v, secrets[2], NULL, secrets[4], t) == 1);
	CHECK(tok(v, secrets[2], secrets[1], secrets[4], t) == 1);
	/* The test can fail: a string that is written (the magic) is found. */
	CHECK(dir_contains(dir, "STVAULT1"));
	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
		CHECK_MSG(!dir_contains(dir, secrets[i]), "%s is in %s", secrets[i], dir);
	CHECK(vault_erase_subject(v, secrets[2], secrets[1], strlen(secrets[1]), err, sizeof(err)) == 3);
	CHECK(vault_compact(v, err, sizeof(err)) == 0);
	vault_free(v);
	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
		CHECK_MSG(!dir_contains(dir, secrets[i]), "%s is in %s", secrets[i], dir);
}

/* ---- threads --------------------------------------------------------- */

#define NTHREADS 4
#define NVALUES 400

struct worker {
	struct vault *v;
	int id;
	int created;
	int errors;
	char tokens[NVALUES][VAULT_TOKEN_LEN + 1];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char val[32], subj[32];
	for (int k = 0; k < NVALUES; k++) {
		/* Each thread walks the values in its own order. */
		int i = (k * 7 + w->id * 101) % NVALUES;
		snprintf(val, sizeof(val), "shared-%d", i);
		snprintf(subj, sizeof(subj), "subject-%d", i % 37);
		int r = vault_tokenize(w->v, i % 3 ? "acme" : "globex", subj, strlen(subj), val,
				       strlen(val), w->tokens[i], NULL, 0);
		if (r < 0)
			w->errors++;
		else
			w->created += r;
		if (k % 50 == 0) {
			char buf[64];
			size_t n;
			if (vault_detokenize(w->v, i % 3 ? "acme" : "globex", w->tokens[i],
					     VAULT_TOKEN_LEN, buf, sizeof(buf), &n) != 0)
				w->errors++;
		}
	}
	return NULL;
}

static void test_threads(void)
{
	char dir[300], val[32], buf[64];
	static struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct vault_stats st;
	int created = 0;
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].v = v;
		w[i].id = i;
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].errors == 0);
		created += w[i].created;
	}
	CHECK_MSG(created == NVALUES, "%d entries created, want %d", created, NVALUES);
	for (int i = 0; i < NVALUES; i++)
		for (int j = 1; j < NTHREADS; j++)
			CHECK(!strcmp(w[0].tokens[i], w[j].tokens[i]));
	vault_stats(v, &st);
	CHECK(st.entries == NVALUES);
	printf("threads: %d tokenize calls, %llu group commits\n", NTHREADS * NVALUES,
	       (unsigned long long)st.commits);
	vault_free(v);
	v = open_ok(dir, NULL, 0, NULL);
	for (int i = 0; i < NVALUES; i++) {
		size_t n;
		snprintf(val, sizeof(val), "shared-%d", i);
		int r = vault_detokenize(v, i % 3 ? "acme" : "globex", w[0].tokens[i], VAULT_TOKEN_LEN,
					 buf, sizeof(buf), &n);
		CHECK(r == 0 && n == strlen(val) && !memcmp(buf, val, n));
	}
	vault_free(v);
}

/* Erase and compaction racing tokenizers and readers. */
struct racer {
	struct vault *v;
	int id;
	int errors;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char val[32], subj[32], t[VAULT_TOKEN_LEN + 1], buf[64], err[256];
	for (int k = 0; k < 300; k++) {
		snprintf(val, sizeof(val), "race-%d", k % 60);
		snprintf(subj, sizeof(subj), "rs-%d", k % 6);
		if (r->id == 0 && k % 40 == 39) {
			if (vault_compact(r->v, err, sizeof(err)) != 0)
				r->errors++;
		} else if (r->id == 1 && k % 25 == 0) {
			if (vault_erase_subject(r->v, "acme", subj, strlen(subj), err, sizeof(err)) < 0)
				r->errors++;
		} else {
			size_t n;
			if (vault_tokenize(r->v, "acme", subj, strlen(subj), val, strlen(val), t, err,
					   sizeof(err)) < 0) {
				r->errors++;
				continue;
			}
			int rc = vault_detokenize(r->v, "acme", t, VAULT_TOKEN_LEN, buf, sizeof(buf), &n);
			if (rc == 0 ? n != strlen(val) || memcmp(buf, val, n) : rc != ST_EERASED)
				r->errors++;
		}
	}
	return NULL;
}

static void test_race(void)
{
	char dir[300];
	static struct racer rc[NTHREADS];
	pthread_t th[NTHREADS];
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	for (int i = 0; i < NTHREADS; i++) {
		rc[i].v = v;
		rc[i].id = i;
		pthread_create(&th[i], NULL, race, &rc[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_MSG(rc[i].errors == 0, "racer %d: %d errors", i, rc[i].errors);
	}
	vault_free(v);
	struct vault_open_report rep;
	v = open_ok(dir, NULL, 0, &rep);
	CHECK(rep.truncated_bytes == 0 && rep.erasures_finished == 0);
	vault_free(v);
}

/* ---- timing (printed, not checked) ------------------------------------ */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench(void)
{
	bool big = getenv("SEALTRAIL_VAULT_BENCH") != NULL;
	int nnew = big ? 2000 : 200, nrep = big ? 1000000 : 20000, nbatch = big ? 100000 : 4096;
	char dir[300], val[64], t[VAULT_TOKEN_LEN + 1];
	make_dir(dir, sizeof(dir));
	struct vault *v = open_ok(dir, NULL, VAULT_CREATE, NULL);
	double t0 = now_ns();
	for (int i = 0; i < nnew; i++) {
		snprintf(val, sizeof(val), "user%d@example.com", i);
		vault_tokenize(v, "acme", NULL, 0, val, strlen(val), t, NULL, 0);
	}
	double t1 = now_ns();
	for (int i = 0; i < nrep; i++) {
		snprintf(val, sizeof(val), "user%d@example.com", i % nnew);
		vault_tokenize(v, "acme", NULL, 0, val, strlen(val), t, NULL, 0);
	}
	double t2 = now_ns();
	static struct vault_item items[VAULT_BATCH_MAX];
	static char vals[VAULT_BATCH_MAX][48];
	static char toks[VAULT_BATCH_MAX][VAULT_TOKEN_LEN + 1];
	int done = 0;
	double t3 = now_ns();
	while (done < nbatch) {
		int n = nbatch - done < 1000 ? nbatch - done : 1000;
		for (int i = 0; i < n; i++) {
			snprintf(vals[i], sizeof(vals[i]), "batch%d@example.com", done + i);
			items[i] = (struct vault_item){ NULL, 0, vals[i], strlen(vals[i]) };
		}
		vault_tokenize_batch(v, "acme", items, (size_t)n, toks, NULL, 0);
		done += n;
	}
	double t4 = now_ns();
	char buf[64];
	size_t n;
	snprintf(val, sizeof(val), "user%d@example.com", 1);
	vault_tokenize(v, "acme", NULL, 0, val, strlen(val), t, NULL, 0);
	double t5 = now_ns();
	for (int i = 0; i < nrep; i++)
		vault_detokenize(v, "acme", t, VAULT_TOKEN_LEN, buf, sizeof(buf), &n);
	double t6 = now_ns();
	printf("bench: tokenize new (one fdatasync each) %.0f ns/op over %d; repeated %.0f ns/op "
	       "over %d; new in batches of 1000 %.0f ns/value over %d; detokenize %.0f ns/op\n",
	       (t1 - t0) / nnew, nnew, (t2 - t1) / nrep, nrep, (t4 - t3) / nbatch, nbatch,
	       (t6 - t5) / nrep);
	vault_free(v);
}

/* ---- the fuzz corpus ------------------------------------------------- */

/* tests/fuzz/fuzz_vault.c opens its inputs with this key: bytes 0..31. */
static void write_corpus(const char *out)
{
	char dir[300], kp[400], path[400], p[600], t[VAULT_TOKEN_LEN + 1], err[256];
	uint8_t key[32];
	size_t n;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	make_dir(dir, sizeof(dir));
	mkdir(dir, 0700);
	snprintf(kp, sizeof(kp), "%s/fuzz.key", dir);
	spew(kp, key, 32);
	chmod(kp, 0600);
	file_path(path, sizeof(path), dir, VAULT_FILE);
	mkdir(out, 0755);

	struct vault *v = open_ok(dir, kp, VAULT_CREATE, NULL);
	vault_free(v);
	uint8_t *img = slurp(path, &n);
	snprintf(p, sizeof(p), "%s/header-only", out);
	spew(p, img, n);
	free(img);

	v = open_ok(dir, kp, 0, NULL);
	tok(v, "acme", "s1", "alice@example.com", t);
	tok(v, "acme", "s1", "10.1.2.3", t);
	tok(v, "acme", NULL, "bob@example.com", t);
	tok(v, "globex", "s2", "carol", t);
	vault_free(v);
	img = slurp(path, &n);
	snprintf(p, sizeof(p), "%s/four-entries", out);
	spew(p, img, n);
	snprintf(p, sizeof(p), "%s/torn-tail", out);
	spew(p, img, n - 7);
	img[n / 2] ^= 4;
	snprintf(p, sizeof(p), "%s/flipped-middle", out);
	spew(p, img, n);
	free(img);

	v = open_ok(dir, kp, 0, NULL);
	vault_erase_subject(v, "acme", "s1", 2, err, sizeof(err));
	vault_free(v);
	img = slurp(path, &n);
	snprintf(p, sizeof(p), "%s/erased", out);
	spew(p, img, n);
	free(img);

	v = open_ok(dir, kp, 0, NULL);
	vault_compact(v, err, sizeof(err));
	tok(v, "acme", NULL, "after compaction", t);
	vault_free(v);
	img = slurp(path, &n);
	snprintf(p, sizeof(p), "%s/compacted", out);
	spew(p, img, n);
	free(img);
	printf("fuzz corpus written to %s\n", out);
}

int main(void)
{
	char cmd[300];
	snprintf(base, sizeof(base), "/tmp/st-vault-XXXXXX");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 2;
	}
	test_round_trip();
	test_limits();
	test_batch();
	test_staged();
	test_erase();
	test_erase_crash();
	test_compact();
	test_torn_tail();
	test_damage();
	test_keys();
	test_no_plaintext();
	test_threads();
	test_race();
	bench();
	if (getenv("SEALTRAIL_VAULT_CORPUS"))
		write_corpus(getenv("SEALTRAIL_VAULT_CORPUS"));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
	return test_report("test_vault");
}
