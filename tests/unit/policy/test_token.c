/*
 * test_token.c - API tokens (src/policy/token.c): the role matrix cell by
 * cell, scopes, create/list/revoke through DIR/tokens, every
 * authentication result, the constant-time full-hash confirmation, store
 * reloads (also from a writer thread while four threads authenticate; run
 * this under TSan too), and a parser that names the line and field of each
 * bad record.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "policy/token.h"
#include "test.h"

#define SEC 1000000000LL

static char tmproot[] = "/tmp/st-token-XXXXXX";
static int ndirs;

/* A fresh data directory under tmproot. */
static const char *new_dir(char *out, size_t cap)
{
	snprintf(out, cap, "%s/d%d", tmproot, ndirs++);
	if (mkdir(out, 0700) < 0) {
		perror(out);
		exit(1);
	}
	return out;
}

static void remove_dir(const char *dir)
{
	static const char *const names[] = { "tokens", "tokens.lock", "tokens.tmp" };
	char p[512];
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void write_str(const char *dir, const char *name, const char *s)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (write_file_atomic(p, s, strlen(s), 0600) < 0) {
		perror(p);
		exit(1);
	}
}

static int create(const char *dir, enum role role, const char *tenant, bool all,
		  const char *name, int64_t expires, char *secret, struct token *ret)
{
	const char *ts[1] = { tenant };
	struct token_spec spec = { role, all, ts, tenant ? 1 : 0, name, expires, NULL };
	char err[512] = "";
	return token_create(dir, &spec, secret, TOKEN_SECRET_LEN + 1, ret, err, sizeof(err));
}

static enum auth_result auth(struct token_store *s, const char *secret, int64_t now)
{
	const struct token *t = NULL;
	enum auth_result a = token_authenticate(s, secret, strlen(secret), now, &t);
	CHECK((a == AUTH_OK) == (t != NULL));
	token_put(t);
	return a;
}

/* ---- the role matrix --------------------------------------------------- */

static void test_roles(void)
{
	/* Rows: producer reader auditor legal admin operator.
	 * Columns: ingest read_log read_events proof read_entries admin metrics vault. */
	static const bool want[ROLE_COUNT][PERM_COUNT] = {
		[ROLE_PRODUCER] = { 1, 1, 0, 0, 0, 0, 0, 0 },
		[ROLE_READER]   = { 0, 1, 1, 0, 0, 0, 0, 0 },
		[ROLE_AUDITOR]  = { 0, 1, 1, 1, 1, 0, 0, 0 },
		[ROLE_LEGAL]    = { 0, 1, 1, 1, 0, 0, 0, 1 },
		[ROLE_ADMIN]    = { 0, 1, 0, 0, 0, 1, 1, 1 },
		[ROLE_OPERATOR] = { 0, 0, 0, 0, 0, 0, 1, 0 },
	};
	static const char *const names[ROLE_COUNT] = {
		"producer", "reader", "auditor", "legal", "admin", "operator",
	};
	enum role r;

	for (int i = 0; i < ROLE_COUNT; i++)
		for (int p = 0; p < PERM_COUNT; p++)
			CHECK_MSG(role_allows((enum role)i, (enum perm)p) == want[i][p],
				  "role %s perm %d", names[i], p);
	CHECK(!role_allows((enum role)ROLE_COUNT, PERM_READ_LOG));
	CHECK(!role_allows(ROLE_ADMIN, (enum perm)PERM_COUNT));
	CHECK(!role_allows((enum role)-1, PERM_METRICS));

	for (int i = 0; i < ROLE_COUNT; i++) {
		CHECK(!strcmp(role_name((enum role)i), names[i]));
		CHECK(role_parse(names[i], &r) == 0 && r == (enum role)i);
	}
	CHECK(!strcmp(role_name((enum role)ROLE_COUNT), "invalid"));
	CHECK(role_parse("Producer", &r) == ST_EINVAL);
	CHECK(role_parse("", &r) == ST_EINVAL);
	CHECK(role_parse("admin ", &r) == ST_EINVAL);
	CHECK(role_parse(NULL, &r) == ST_EINVAL);

	CHECK(!strcmp(auth_result_name(AUTH_OK), "ok"));
	CHECK(!strcmp(auth_result_name(AUTH_MISSING), "missing"));
	CHECK(!strcmp(auth_result_name(AUTH_MALFORMED), "malformed"));
	CHECK(!strcmp(auth_result_name(AUTH_UNKNOWN), "unknown"));
	CHECK(!strcmp(auth_result_name(AUTH_EXPIRED), "expired"));
	CHECK(!strcmp(auth_result_name(AUTH_REVOKED), "revoked"));
}

/* ---- scopes ------------------------------------------------------------ */

static void test_scopes(void)
{
	struct token t;

	memset(&t, 0, sizeof(t));
	t.role = ROLE_READER;
	t.ntenants = 2;
	strcpy(t.tenants[0], "acme");
	strcpy(t.tenants[1], "globex");
	CHECK(token_tenant_allowed(&t, "acme", 4));
	CHECK(token_tenant_allowed(&t, "globex", 6));
	CHECK(token_tenant_allowed(&t, "acme-2", 4));     /* length given, not NUL */
	CHECK(!token_tenant_allowed(&t, "acm", 3));
	CHECK(!token_tenant_allowed(&t, "acmex", 5));
	CHECK(!token_tenant_allowed(&t, "ACME", 4));
	CHECK(!token_tenant_allowed(&t, "", 0));
	CHECK(!token_tenant_allowed(&t, NULL, 0));
	CHECK(!token_tenant_allowed(&t, "_sealtrail", 10));
	CHECK(token_default_tenant(&t) == NULL);
	t.ntenants = 1;
	CHECK(token_default_tenant(&t) == t.tenants[0]);
	CHECK(!token_tenant_allowed(&t, "globex", 6));
	t.ntenants = 0;
	CHECK(token_default_tenant(&t) == NULL);
	CHECK(!token_tenant_allowed(&t, "acme", 4));
	t.all_tenants = true;
	CHECK(token_default_tenant(&t) == NULL);
	CHECK(token_tenant_allowed(&t, "anything", 8));
	CHECK(!token_tenant_allowed(&t, "", 0));

	/* Raw entries hold every tenant: auditor with all-tenant scope only. */
	t.role = ROLE_AUDITOR;
	CHECK(token_allows(&t, PERM_READ_ENTRIES));
	CHECK(token_allows(&t, PERM_PROOF));
	t.all_tenants = false;
	t.ntenants = 1;
	CHECK(!token_allows(&t, PERM_READ_ENTRIES));
	CHECK(token_allows(&t, PERM_PROOF));
	t.role = ROLE_ADMIN;
	t.all_tenants = true;
	CHECK(!token_allows(&t, PERM_READ_ENTRIES));
	CHECK(token_allows(&t, PERM_ADMIN));
}

/* ---- create, list, revoke --------------------------------------------- */

struct seen {
	int n;
	char ids[8][TOKEN_ID_LEN + 1];
	int64_t revoked[8];
	bool all[8];
};

static int collect(const struct token *t, void *arg)
{
	struct seen *s = arg;
	if (s->n < 8) {
		strcpy(s->ids[s->n], t->id);
		s->revoked[s->n] = t->revoked_ns;
		s->all[s->n] = t->all_tenants;
	}
	s->n++;
	return 0;
}

static int stop_at_first(const struct token *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 7;
}

static bool file_contains(const char *path, const char *needle)
{
	struct buf b = BUF_INIT(1 << 24);
	bool found = false;
	if (read_file(path, 1 << 24, &b) == 0 && buf_cstr(&b) == 0)
		found = strstr((char *)b.data, needle) != NULL;
	buf_release(&b);
	return found;
}

static void test_create_list_revoke(void)
{
	char dir[256], path[300], s1[TOKEN_SECRET_LEN + 1], s2[TOKEN_SECRET_LEN + 1];
	char s3[TOKEN_SECRET_LEN + 1], err[512], want[TOKEN_ID_LEN + 1];
	uint8_t h[HASH_SIZE];
	struct token t1, t2, t3;
	struct seen seen = { 0 };
	struct stat st;
	int64_t before = now_realtime_ns();
	int calls = 0;

	new_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/tokens", dir);
	CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == 0 && seen.n == 0);

	CHECK(create(dir, ROLE_PRODUCER, "acme", false, "ci-bot@example.com", 0, s1, &t1) == 0);
	CHECK(strlen(s1) == TOKEN_SECRET_LEN && !strncmp(s1, "st1_", 4));
	for (size_t i = 4; i < TOKEN_SECRET_LEN; i++)
		CHECK_MSG(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s1[i]),
			  "secret char %zu", i);
	sha256(s1, TOKEN_SECRET_LEN, h);
	hex_encode(h, TOKEN_ID_LEN / 2, want);
	CHECK(!strcmp(t1.id, want));
	CHECK(!strcmp(t1.name, "ci-bot@example.com"));
	CHECK(t1.role == ROLE_PRODUCER && !t1.all_tenants && t1.ntenants == 1);
	CHECK(!strcmp(t1.tenants[0], "acme"));
	CHECK(t1.created_ns >= before && t1.created_ns <= now_realtime_ns());
	CHECK(t1.expires_ns == 0 && t1.revoked_ns == 0);

	/* Default name: role-id. Admin without a scope gets all tenants. */
	CHECK(create(dir, ROLE_ADMIN, NULL, false, NULL, 0, s2, &t2) == 0);
	{
		char dn[64];
		snprintf(dn, sizeof(dn), "admin-%s", t2.id);
		CHECK(!strcmp(t2.name, dn));
	}
	CHECK(t2.all_tenants && t2.ntenants == 0);
	CHECK(strcmp(s1, s2) != 0 && strcmp(t1.id, t2.id) != 0);

	/* The file: mode 0600, no secret, in any form. */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(!file_contains(path, s1) && !file_contains(path, s1 + 4));
	CHECK(!file_contains(path, s2 + 4));
	{
		char s1b[24];
		memcpy(s1b, s1 + 4, 20);
		s1b[20] = 0;
		CHECK(!file_contains(path, s1b));   /* not even a prefix of it */
	}
	CHECK(file_contains(path, t1.id));

	/* Refusals. */
	CHECK(create(dir, ROLE_READER, "globex", false, "ci-bot@example.com", 0, s3, NULL) == ST_EEXIST);
	CHECK(create(dir, ROLE_READER, NULL, false, "r1", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_LEGAL, NULL, false, "l1", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_READER, "bad tenant", false, "r1", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_READER, "acme", true, "r1", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_READER, "acme", false, "has space", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_READER, "acme", false, "0123456789ab", 0, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, ROLE_READER, "acme", false, "r1", before, s3, NULL) == ST_EINVAL);
	CHECK(create(dir, (enum role)42, "acme", false, "r1", 0, s3, NULL) == ST_EINVAL);
	{
		char longt[TENANT_NAME_MAX + 2];
		memset(longt, 'a', sizeof(longt) - 1);
		longt[sizeof(longt) - 1] = 0;
		CHECK(create(dir, ROLE_READER, longt, false, "r1", 0, s3, NULL) == ST_EINVAL);
		longt[TENANT_NAME_MAX] = 0;
		CHECK(create(dir, ROLE_READER, longt, false, "r-long", 0, s3, &t3) == 0);
		CHECK(strlen(t3.tenants[0]) == TENANT_NAME_MAX);
	}
	{
		const char *dup[2] = { "acme", "acme" };
		struct token_spec spec = { ROLE_READER, false, dup, 2, "r2", 0, NULL };
		CHECK(token_create(dir, &spec, s3, sizeof(s3), NULL, err, sizeof(err)) == ST_EINVAL);
		CHECK(token_create(dir, &spec, s3, TOKEN_SECRET_LEN, NULL, err, sizeof(err)) == ST_EINVAL);
	}
	{
		char nodir[300];
		snprintf(nodir, sizeof(nodir), "%s/missing", dir);
		CHECK(create(nodir, ROLE_ADMIN, NULL, false, NULL, 0, s3, NULL) == -ENOENT);
	}

	/* List: oldest first, stops at the first non-zero return. */
	seen.n = 0;
	CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == 0);
	CHECK(seen.n == 3);
	CHECK(!strcmp(seen.ids[0], t1.id) && !strcmp(seen.ids[1], t2.id) &&
	      !strcmp(seen.ids[2], t3.id));
	CHECK(!seen.all[0] && seen.all[1]);
	CHECK(token_list(dir, stop_at_first, &calls, err, sizeof(err)) == 7 && calls == 1);

	/* Revoke by name, then by id; the records stay. */
	CHECK(token_revoke(dir, "ci-bot@example.com", err, sizeof(err)) == 0);
	CHECK(token_revoke(dir, "ci-bot@example.com", err, sizeof(err)) == 1);
	CHECK(token_revoke(dir, t1.id, err, sizeof(err)) == 1);
	CHECK(token_revoke(dir, t2.id, err, sizeof(err)) == 0);
	CHECK(token_revoke(dir, "nobody", err, sizeof(err)) == ST_ENOTFOUND);
	CHECK(strstr(err, "nobody") != NULL);
	CHECK(token_revoke(dir, "0123456789ab", err, sizeof(err)) == ST_ENOTFOUND);
	CHECK(token_revoke(dir, "", err, sizeof(err)) == ST_EINVAL);
	seen.n = 0;
	CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == 0 && seen.n == 3);
	CHECK(seen.revoked[0] > 0 && seen.revoked[1] > 0 && seen.revoked[2] == 0);
	{
		/* A second revoke keeps the first revocation time. */
		int64_t first = seen.revoked[0];
		CHECK(token_revoke(dir, t1.id, err, sizeof(err)) == 1);
		seen.n = 0;
		token_list(dir, collect, &seen, err, sizeof(err));
		CHECK(seen.revoked[0] == first);
	}

	/* A revoked token's name can be reused. */
	CHECK(create(dir, ROLE_PRODUCER, "acme", false, "ci-bot@example.com", 0, s3, NULL) == 0);
	CHECK(token_revoke(dir, "ci-bot@example.com", err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	st_wipe(s1, sizeof(s1));
	st_wipe(s2, sizeof(s2));
	st_wipe(s3, sizeof(s3));
	remove_dir(dir);
}

/* ---- authentication ---------------------------------------------------- */

static atomic_int ct_calls;
static bool counting_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == HASH_SIZE)
		atomic_fetch_add(&ct_calls, 1);
	return st_ct_equal(a, b, n);
}

static void test_authenticate(void)
{
	char dir[256], ok[TOKEN_SECRET_LEN + 1], sexp[TOKEN_SECRET_LEN + 1];
	char rev[TOKEN_SECRET_LEN + 1], bad[TOKEN_SECRET_LEN + 8], err[512];
	struct token tok, texp;
	struct token_store *s = NULL;
	const struct token *t = NULL;
	int64_t now = now_realtime_ns();

	new_dir(dir, sizeof(dir));
	CHECK(create(dir, ROLE_READER, "acme", false, "ok", 0, ok, &tok) == 0);
	CHECK(create(dir, ROLE_READER, "acme", false, "exp", now + 3600 * SEC, sexp, &texp) == 0);
	CHECK(create(dir, ROLE_READER, "acme", false, "rev", 0, rev, NULL) == 0);
	CHECK(token_revoke(dir, "rev", err, sizeof(err)) == 0);
	CHECK(token_store_open(&s, dir, err, sizeof(err)) == 0);
	if (!s)
		return;
	CHECK(token_store_count(s) == 3);

	atomic_store(&ct_calls, 0);
	token_ct_equal = counting_ct_equal;
	CHECK(token_authenticate(s, ok, strlen(ok), now, &t) == AUTH_OK);
	CHECK(atomic_load(&ct_calls) >= 1);   /* confirmed through the constant-time compare */
	CHECK(t && !strcmp(t->id, tok.id) && !strcmp(t->name, "ok") && t->role == ROLE_READER);
	CHECK(t && token_default_tenant(t) && !strcmp(token_default_tenant(t), "acme"));

	/* A reference outlives the store. */
	token_store_free(s);
	CHECK(t && !strcmp(t->name, "ok"));
	token_put(t);
	token_put(NULL);
	CHECK(token_store_open(&s, dir, err, sizeof(err)) == 0);

	t = NULL;
	CHECK(token_authenticate(s, "", 0, now, &t) == AUTH_MISSING && !t);
	CHECK(token_authenticate(s, NULL, 0, now, &t) == AUTH_MISSING && !t);
	CHECK(auth(s, "st1_", now) == AUTH_MALFORMED);
	CHECK(auth(s, "Bearer", now) == AUTH_MALFORMED);
	memcpy(bad, ok, sizeof(ok));
	bad[0] = 'S';                                          /* prefix */
	CHECK(auth(s, bad, now) == AUTH_MALFORMED);
	memcpy(bad, ok, sizeof(ok));
	bad[10] = '+';                                         /* standard base64, not url */
	CHECK(auth(s, bad, now) == AUTH_MALFORMED);
	memcpy(bad, ok, sizeof(ok));
	bad[TOKEN_SECRET_LEN - 1] = 0;                         /* one short */
	CHECK(auth(s, bad, now) == AUTH_MALFORMED);
	snprintf(bad, sizeof(bad), "%s=", ok);                 /* padded */
	CHECK(auth(s, bad, now) == AUTH_MALFORMED);
	/* The length given counts, not a NUL. */
	CHECK(token_authenticate(s, ok, TOKEN_SECRET_LEN - 1, now, &t) == AUTH_MALFORMED);

	memcpy(bad, ok, sizeof(ok));
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	CHECK(auth(s, bad, now) == AUTH_UNKNOWN);
	CHECK(auth(s, sexp, now) == AUTH_OK);
	CHECK(auth(s, sexp, texp.expires_ns - 1) == AUTH_OK);
	CHECK(auth(s, sexp, texp.expires_ns) == AUTH_EXPIRED);
	CHECK(auth(s, rev, now) == AUTH_REVOKED);
	CHECK(auth(s, rev, 1) == AUTH_REVOKED);   /* revocation wins at any time */
	token_ct_equal = st_ct_equal;
	token_store_free(s);
	s = NULL;

	/* The full 32-byte hash decides: a record whose hash differs from the
	 * secret's only in its last byte (same id, same table slot) must not
	 * match, and the comparison goes through token_ct_equal. */
	{
		uint8_t h[HASH_SIZE];
		char hex[2 * HASH_SIZE + 1], id[TOKEN_ID_LEN + 1], file[512];
		char d2[256];

		new_dir(d2, sizeof(d2));
		sha256(ok, TOKEN_SECRET_LEN, h);
		h[HASH_SIZE - 1] ^= 1;
		hex_encode(h, HASH_SIZE, hex);
		hex_encode(h, TOKEN_ID_LEN / 2, id);
		snprintf(file, sizeof(file), "1 %s %s reader acme 1 0 0 near\n", hex, id);
		write_str(d2, "tokens", file);
		CHECK(token_store_open(&s, d2, err, sizeof(err)) == 0);
		atomic_store(&ct_calls, 0);
		token_ct_equal = counting_ct_equal;
		CHECK(s && auth(s, ok, now) == AUTH_UNKNOWN);
		CHECK(atomic_load(&ct_calls) == 1);
		h[HASH_SIZE - 1] ^= 1;
		hex_encode(h, HASH_SIZE, hex);
		snprintf(file, sizeof(file), "1 %s %s reader acme 1 0 0 exact\n", hex, id);
		write_str(d2, "tokens", file);
		CHECK(s && token_store_reload(s) == 1);
		CHECK(s && auth(s, ok, now) == AUTH_OK);
		CHECK(atomic_load(&ct_calls) == 2);
		token_ct_equal = st_ct_equal;
		token_store_free(s);
		s = NULL;
		remove_dir(d2);
	}

	st_wipe(ok, sizeof(ok));
	st_wipe(sexp, sizeof(sexp));
	st_wipe(rev, sizeof(rev));
	remove_dir(dir);
}

/* ---- reload ------------------------------------------------------------ */

static void test_reload(void)
{
	char dir[256], s1[TOKEN_SECRET_LEN + 1], s2[TOKEN_SECRET_LEN + 1], err[512], msg[512];
	struct token_store *s = NULL;
	int64_t now = now_realtime_ns();

	new_dir(dir, sizeof(dir));
	/* A missing file is an empty store, and stays unchanged. */
	CHECK(token_store_open(&s, dir, err, sizeof(err)) == 0);
	if (!s)
		return;
	CHECK(token_store_count(s) == 0);
	CHECK(token_store_reload(s) == 0);

	CHECK(create(dir, ROLE_PRODUCER, "acme", false, "p1", 0, s1, NULL) == 0);
	CHECK(auth(s, s1, now) == AUTH_UNKNOWN);   /* not yet reloaded */
	CHECK(token_store_reload(s) == 1);
	CHECK(auth(s, s1, now) == AUTH_OK);
	CHECK(token_store_reload(s) == 0);
	CHECK(token_store_reload(s) == 0);

	CHECK(create(dir, ROLE_PRODUCER, "acme", false, "p2", 0, s2, NULL) == 0);
	CHECK(token_store_reload(s) == 1);
	CHECK(auth(s, s2, now) == AUTH_OK && token_store_count(s) == 2);
	CHECK(token_revoke(dir, "p1", err, sizeof(err)) == 0);
	CHECK(token_store_reload(s) == 1);
	CHECK(auth(s, s1, now) == AUTH_REVOKED);

	/* A bad file is refused with the old view kept. */
	write_str(dir, "tokens", "1 nothex 0123456789ab reader acme 1 0 0 x\n");
	CHECK(token_store_reload(s) == ST_ECORRUPT);
	token_store_error(s, msg, sizeof(msg));
	CHECK_MSG(strstr(msg, "line 1: field 2 (sha256)") != NULL, "%s", msg);
	CHECK(auth(s, s2, now) == AUTH_OK && token_store_count(s) == 2);
	CHECK(token_store_reload(s) == ST_ECORRUPT);
	/* ... and a writer refuses to build on it. */
	CHECK(create(dir, ROLE_PRODUCER, "acme", false, "p3", 0, s1, NULL) == ST_ECORRUPT);
	CHECK(token_revoke(dir, "p2", err, sizeof(err)) == ST_ECORRUPT);

	/* A deleted file is an empty store. */
	{
		char p[300];
		snprintf(p, sizeof(p), "%s/tokens", dir);
		unlink(p);
	}
	CHECK(token_store_reload(s) == 1);
	CHECK(token_store_count(s) == 0 && auth(s, s2, now) == AUTH_UNKNOWN);
	token_store_error(s, msg, sizeof(msg));
	CHECK(msg[0] == 0);
	token_store_free(s);
	token_store_free(NULL);

	/* Opening a bad file fails and names it. */
	write_str(dir, "tokens", "# comment\n\n1 x\n");
	s = NULL;
	CHECK(token_store_open(&s, dir, err, sizeof(err)) == ST_ECORRUPT && !s);
	CHECK_MSG(strstr(err, "/tokens line 3: expected 9 fields") != NULL, "%s", err);
	st_wipe(s1, sizeof(s1));
	st_wipe(s2, sizeof(s2));
	remove_dir(dir);
}

/* ---- the parser -------------------------------------------------------- */

#define H64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define ID  "9f86d081884c"

static void test_parser(void)
{
	static const struct {
		const char *line;
		const char *want;   /* in the error text */
	} cases[] = {
		{ "3 " H64 " " ID " reader acme 1 0 0 n\n", "line 2: field 1 (version)" },
		{ "2 " H64 " " ID " reader acme 1 0 0 n\n", "line 2: expected 10 fields (version 2)" },
		{ "2 " H64 " " ID " reader acme 1 0 0 n service=x,region\n", "line 2: field 10 (context)" },
		{ "1 " H64 "0 " ID " reader acme 1 0 0 n\n", "line 2: field 2 (sha256)" },
		{ "1 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 " ID
		  " reader acme 1 0 0 n\n", "line 2: field 2 (sha256)" },
		{ "1 " H64 " 9f86d081884d reader acme 1 0 0 n\n", "line 2: field 3 (id)" },
		{ "1 " H64 " 9f86d08188 reader acme 1 0 0 n\n", "line 2: field 3 (id)" },
		{ "1 " H64 " " ID " root acme 1 0 0 n\n", "line 2: field 4 (role)" },
		{ "1 " H64 " " ID " Reader acme 1 0 0 n\n", "line 2: field 4 (role)" },
		{ "1 " H64 " " ID " readerreaderreader acme 1 0 0 n\n", "line 2: field 4 (role)" },
		{ "1 " H64 " " ID " reader acme,,b 1 0 0 n\n", "line 2: field 5 (tenants)" },
		{ "1 " H64 " " ID " reader acme,acme 1 0 0 n\n", "line 2: field 5 (tenants)" },
		{ "1 " H64 " " ID " reader a*b 1 0 0 n\n", "line 2: field 5 (tenants)" },
		{ "1 " H64 " " ID " reader acme, 1 0 0 n\n", "line 2: field 5 (tenants)" },
		{ "1 " H64 " " ID " reader acme 0 0 0 n\n", "line 2: field 6 (created_ns)" },
		{ "1 " H64 " " ID " reader acme -1 0 0 n\n", "line 2: field 6 (created_ns)" },
		{ "1 " H64 " " ID " reader acme 01 0 0 n\n", "line 2: field 6 (created_ns)" },
		{ "1 " H64 " " ID " reader acme 1 9223372036854775808 0 n\n", "line 2: field 7 (expires_ns)" },
		{ "1 " H64 " " ID " reader acme 1 0 x n\n", "line 2: field 8 (revoked_ns)" },
		{ "1 " H64 " " ID " reader acme 1 0 0 has\"quote\n", "line 2: field 9 (name)" },
		{ "1 " H64 " " ID " reader acme 1 0 0 0123456789ab\n", "line 2: field 9 (name)" },
		{ "1 " H64 " " ID " reader acme 1 0 0 n extra\n", "line 2: expected 9 fields" },
		{ "1 " H64 " " ID "  reader acme 1 0 0 n\n", "line 2: " },
		{ "1 " H64 " " ID " reader acme 1 0 0\n", "line 2: expected 9 fields" },
		{ "1 " H64 " " ID " reader acme 1 0 0 n", "line 2: no newline" },
		{ "1 " H64 " " ID " reader acme 1 0 0 n\r\n", "line 2: field 9 (name)" },
	};
	char dir[256], err[512], file[1024];
	struct token_store *s = NULL;
	struct seen seen = { 0 };

	new_dir(dir, sizeof(dir));
	/* The baseline parses. */
	snprintf(file, sizeof(file), "# c\n1 " H64 " " ID " reader acme,globex 1 0 0 n\n");
	write_str(dir, "tokens", file);
	CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == 0 && seen.n == 1);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(file, sizeof(file), "# c\n%s", cases[i].line);
		write_str(dir, "tokens", file);
		err[0] = 0;
		seen.n = 0;
		CHECK_MSG(token_list(dir, collect, &seen, err, sizeof(err)) == ST_ECORRUPT && seen.n == 0,
			  "case %zu accepted", i);
		CHECK_MSG(strstr(err, cases[i].want) != NULL, "case %zu: want \"%s\", got \"%s\"",
			  i, cases[i].want, err);
		CHECK_MSG(token_store_open(&s, dir, err, sizeof(err)) == ST_ECORRUPT, "case %zu", i);
	}

	/* Duplicate id. */
	snprintf(file, sizeof(file), "1 " H64 " " ID " reader acme 1 0 0 a\n"
		 "1 " H64 " " ID " reader acme 1 0 0 b\n");
	write_str(dir, "tokens", file);
	CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == ST_ECORRUPT);
	CHECK_MSG(strstr(err, "line 2: field 3 (id)") != NULL, "%s", err);

	/* Lines are at most 8 KiB. */
	{
		struct buf b = BUF_INIT(1 << 20);
		buf_puts(&b, "# ");
		for (int i = 0; i < TOKEN_LINE_MAX; i++)
			buf_putc(&b, 'x');
		buf_puts(&b, "\n");
		buf_cstr(&b);
		write_str(dir, "tokens", (char *)b.data);
		CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == ST_ECORRUPT);
		CHECK_MSG(strstr(err, "line 1: longer than 8192 bytes") != NULL, "%s", err);
		buf_release(&b);
	}
	/* At most TOKEN_RECORDS_MAX records, refused before parsing them. */
	{
		struct buf b = BUF_INIT(1 << 24);
		for (int i = 0; i <= TOKEN_RECORDS_MAX; i++)
			buf_puts(&b, "x\n");
		buf_cstr(&b);
		write_str(dir, "tokens", (char *)b.data);
		CHECK(token_list(dir, collect, &seen, err, sizeof(err)) == ST_ELIMIT);
		char want[32];
		snprintf(want, sizeof(want), "%d records", TOKEN_RECORDS_MAX + 1);
		CHECK_MSG(strstr(err, want) != NULL, "%s", err);
		buf_release(&b);
	}
	remove_dir(dir);
}

/* ---- concurrency ------------------------------------------------------- */

#define NCREATE 40
#define NREADERS 4

static struct {
	struct token_store *s;
	char secrets[NCREATE][TOKEN_SECRET_LEN + 1];
	atomic_int published;     /* secrets[0..published) are in the store */
	atomic_bool done;
	atomic_int failures, auths;
} conc;

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	char bogus[TOKEN_SECRET_LEN + 1];

	memset(bogus, 'A', TOKEN_SECRET_LEN);
	memcpy(bogus, "st1_", 4);
	bogus[TOKEN_SECRET_LEN] = 0;
	while (!atomic_load(&conc.done)) {
		int n = atomic_load_explicit(&conc.published, memory_order_acquire);
		const struct token *t = NULL;
		char want[32];
		if (n == 0) {
			if (token_authenticate(conc.s, bogus, TOKEN_SECRET_LEN, now_realtime_ns(), &t) != AUTH_UNKNOWN)
				atomic_fetch_add(&conc.failures, 1);
			continue;
		}
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % (unsigned)n);
		if (token_authenticate(conc.s, conc.secrets[i], TOKEN_SECRET_LEN, now_realtime_ns(), &t) != AUTH_OK) {
			atomic_fetch_add(&conc.failures, 1);
			continue;
		}
		snprintf(want, sizeof(want), "c-%d", i);
		if (strcmp(t->name, want) || t->role != ROLE_PRODUCER)
			atomic_fetch_add(&conc.failures, 1);
		token_put(t);
		atomic_fetch_add(&conc.auths, 1);
	}
	return NULL;
}

static void test_concurrent(void)
{
	char dir[256], err[512], name[32];
	pthread_t th[NREADERS];
	int bad = 0;

	new_dir(dir, sizeof(dir));
	memset(&conc, 0, sizeof(conc));
	CHECK(token_store_open(&conc.s, dir, err, sizeof(err)) == 0);
	if (!conc.s)
		return;
	for (int i = 0; i < NREADERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < NCREATE; i++) {
		snprintf(name, sizeof(name), "c-%d", i);
		if (create(dir, ROLE_PRODUCER, "acme", false, name, 0, conc.secrets[i], NULL) < 0 ||
		    token_store_reload(conc.s) != 1)
			bad++;
		atomic_store_explicit(&conc.published, i + 1, memory_order_release);
		token_store_reload(conc.s);    /* usually unchanged */
	}
	/* Let the readers see the final view for a moment. */
	while (atomic_load(&conc.auths) < 2000)
		sched_yield();
	atomic_store(&conc.done, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	CHECK(bad == 0);
	CHECK_MSG(atomic_load(&conc.failures) == 0, "%d failures", atomic_load(&conc.failures));
	CHECK(atomic_load(&conc.auths) >= 2000);
	CHECK(token_store_count(conc.s) == NCREATE);
	token_store_free(conc.s);
	st_wipe(conc.secrets, sizeof(conc.secrets));
	remove_dir(dir);
}

/* A token with a context: written as a version 2 record, read back, and
 * a version 1 file with a hand-written version 2 line is read too; bad
 * contexts are refused naming field 10. */
static void test_context(void)
{
	char dir[] = "/tmp/sealtrail-tokctx.XXXXXX", path[256], err[512] = "";
	char secret[TOKEN_SECRET_LEN + 1];
	struct ev_context ctx = { 0 };
	struct token made;
	const char *ts[1] = { "acme" };
	CHECK(mkdtemp(dir) != NULL);
	strcpy(ctx.v[CTX_REGION], "eu-west-1");
	strcpy(ctx.v[CTX_SERVICE], "payments");
	struct token_spec spec = { ROLE_PRODUCER, false, ts, 1, "pay", 0, &ctx };
	CHECK(token_create(dir, &spec, secret, sizeof(secret), &made, err, sizeof(err)) == 0);
	struct token_spec plain = { ROLE_PRODUCER, false, ts, 1, "plain", 0, NULL };
	CHECK(token_create(dir, &plain, secret, sizeof(secret), NULL, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "%s/tokens", dir);
	struct buf b = BUF_INIT(1 << 20);
	CHECK(read_file(path, 1 << 20, &b) == 0);
	CHECK(buf_cstr(&b) == 0);
	CHECK_MSG(strstr((char *)b.data, " pay region=eu-west-1,service=payments\n") != NULL, "%s", (char *)b.data);
	CHECK(strstr((char *)b.data, "\n2 ") != NULL && strstr((char *)b.data, "\n1 ") != NULL);
	/* read back through the store */
	struct token_store *st = NULL;
	CHECK(token_store_open(&st, dir, err, sizeof(err)) == 0);
	const struct token *t = NULL;
	/* authenticate needs the secret of "pay": recreate and look it up */
	char s2[TOKEN_SECRET_LEN + 1];
	struct token_spec spec2 = { ROLE_PRODUCER, false, ts, 1, "pay2", 0, &ctx };
	CHECK(token_create(dir, &spec2, s2, sizeof(s2), NULL, err, sizeof(err)) == 0);
	token_store_reload(st);
	CHECK(token_authenticate(st, s2, strlen(s2), now_realtime_ns(), &t) == AUTH_OK);
	CHECK(t && !strcmp(t->context.v[CTX_REGION], "eu-west-1") &&
	      !strcmp(t->context.v[CTX_SERVICE], "payments") && !t->context.v[CTX_CLUSTER][0]);
	token_put(t);
	token_store_free(st);
	/* refusals */
	static const char *const bad[] = { "colour=red", "region=", "region=a\"b", "region" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[512];
		snprintf(line, sizeof(line),
			 "2 9f83c4132019750f8010bf7cc971d7f7d0c64996888fea02a7b582fbb12d08de 9f83c4132019 reader acme 1 0 0 r %s\n",
			 bad[i]);
		CHECK(write_file_atomic(path, line, strlen(line), 0600) == 0);
		st = NULL;
		CHECK(token_store_open(&st, dir, err, sizeof(err)) == ST_ECORRUPT);
		CHECK_MSG(strstr(err, "field 10 (context)") != NULL, "%s", err);
		token_store_free(st);
	}
	/* a version 1 line with 10 fields, a version 2 line with 9 */
	const char *v1x = "1 9f83c4132019750f8010bf7cc971d7f7d0c64996888fea02a7b582fbb12d08de 9f83c4132019 reader acme 1 0 0 r region=x\n";
	CHECK(write_file_atomic(path, v1x, strlen(v1x), 0600) == 0);
	st = NULL;
	CHECK(token_store_open(&st, dir, err, sizeof(err)) == ST_ECORRUPT);
	token_store_free(st);
	buf_release(&b);
	unlink(path);
	char lock[256];
	snprintf(lock, sizeof(lock), "%s/tokens.lock", dir);
	unlink(lock);
	rmdir(dir);
}

int main(void)
{
	test_context();
	if (!mkdtemp(tmproot)) {
		perror("mkdtemp");
		return 1;
	}
	test_roles();
	test_scopes();
	test_create_list_revoke();
	test_authenticate();
	test_reload();
	test_parser();
	test_concurrent();
	rmdir(tmproot);
	return test_report("policy/test_token");
}
