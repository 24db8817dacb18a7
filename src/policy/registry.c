/*
 * registry.c - the schema registry (registry.h).
 *
 * In memory: an array of entries sorted by (name, version), each holding
 * the compiled schema and the text's SHA-256; a rwlock guards the array
 * (readers: registry_get on every validated event; writers: a publish).
 * Entries are allocated one by one and never freed before registry_free,
 * so a schema pointer outlives the lock.
 *
 * A published (name, version) never changes and is never removed, so each
 * thread remembers the last few registry_get hits (keyed by the
 * registry's serial, never by its address) and answers them again without
 * the lock: on ingest every validated event asks, and the read lock's
 * counter is a cache line both workers write. Misses are not remembered
 * (the schema may be published a moment later).
 */
#include "policy/registry.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/util.h"

struct rentry {
	char name[REGISTRY_NAME_MAX + 1];
	uint32_t version;
	bool breaking;
	uint8_t digest[HASH_SIZE];
	size_t len;                 /* of the text */
	struct schema *s;
};

struct registry {
	pthread_rwlock_t lock;
	pthread_mutex_t put_mu;     /* one publish at a time */
	char dir[PATH_MAX];         /* DIR/schemas */
	struct rentry **v;          /* sorted by name, then version */
	size_t n;
	size_t bytes;               /* schema text in all, <= REGISTRY_MAX_BYTES */
	uint64_t serial;            /* never 0, never reused within a process */
};

static _Atomic uint64_t last_serial;

#define MEMO_N 4
struct memo {
	uint64_t serial;            /* 0: empty */
	uint32_t version;
	size_t nl;
	char name[REGISTRY_NAME_MAX];
	const struct schema *s;
};
static _Thread_local struct memo memo[MEMO_N];
static _Thread_local unsigned memo_next;

bool registry_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > REGISTRY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool parse_version(const char *s, size_t n, uint32_t *ret)
{
	uint64_t v = 0;
	if (n == 0 || n > 6 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = (uint32_t)v;
	return v >= 1 && v <= REGISTRY_VERSION_MAX;
}

bool registry_parse_ref(const char *s, size_t n, char name[REGISTRY_NAME_MAX + 1],
			uint32_t *version)
{
	const char *slash = memchr(s, '/', n);
	if (!slash)
		return false;
	size_t nl = (size_t)(slash - s);
	if (!registry_name_valid(s, nl) || !parse_version(slash + 1, n - nl - 1, version))
		return false;
	memcpy(name, s, nl);
	name[nl] = 0;
	return true;
}

static int cmp(const char *name, size_t nl, uint32_t version, const struct rentry *e)
{
	size_t el = strlen(e->name);
	int c = memcmp(name, e->name, nl < el ? nl : el);
	if (c)
		return c;
	if (nl != el)
		return nl < el ? -1 : 1;
	return version < e->version ? -1 : version > e->version ? 1 : 0;
}

/* Index of the first entry >= (name, version). */
static size_t lower(const struct registry *r, const char *name, size_t nl, uint32_t version)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp(name, nl, version, r->v[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int insert(struct registry *r, struct rentry *e)
{
	if (r->n == REGISTRY_MAX || e->len > REGISTRY_MAX_BYTES - r->bytes)
		return ST_ELIMIT;
	struct rentry **nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	r->v = nv;
	size_t at = lower(r, e->name, strlen(e->name), e->version);
	memmove(r->v + at + 1, r->v + at, (r->n - at) * sizeof(*nv));
	r->v[at] = e;
	r->n++;
	r->bytes += e->len;
	return 0;
}

static int path_of(char *out, const struct registry *r, const char *name, uint32_t version,
		   const char *ext)
{
	int k = snprintf(out, PATH_MAX, "%s/%s/%u.%s", r->dir, name, version, ext);
	return k > 0 && k < PATH_MAX ? 0 : ST_ELIMIT;
}

static void entry_free(struct rentry *e)
{
	if (e) {
		schema_free(e->s);
		free(e);
	}
}

/* Loads one file into a new entry. */
static int load_one(struct registry *r, const char *name, uint32_t version, char *err,
		    size_t errcap)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(SCHEMA_MAX_BYTES);
	struct schema_error se;
	struct rentry *e = calloc(1, sizeof(*e));
	struct stat st;
	int rc;

	if (!e)
		return -ENOMEM;
	if ((rc = path_of(path, r, name, version, "json")) < 0 ||
	    (rc = read_file(path, SCHEMA_MAX_BYTES, &b)) < 0) {
		st_fail(err, errcap, "%s/%s/%u.json: %s", r->dir, name, version, st_strerror(rc));
		goto fail;
	}
	if ((rc = schema_compile((const char *)b.data, b.len, &e->s, &se)) < 0) {
		st_fail(err, errcap, "%s: does not compile: byte %zu, %s: %s", path, se.offset,
			se.pointer[0] ? se.pointer : "(root)", se.msg);
		goto fail;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->version = version;
	e->len = b.len;
	sha256(b.data, b.len, e->digest);
	if (path_of(path, r, name, version, "breaking") == 0 && stat(path, &st) == 0)
		e->breaking = true;
	if ((rc = insert(r, e)) < 0) {
		st_fail(err, errcap, "%s/%s: %s", r->dir, name,
			rc == ST_ELIMIT ? "more than REGISTRY_MAX schemas or REGISTRY_MAX_BYTES of them" :
			st_strerror(rc));
		goto fail;
	}
	buf_release(&b);
	return 0;
fail:
	buf_release(&b);
	entry_free(e);
	return rc;
}

int registry_open(struct registry **ret, const char *dir, char *err, size_t errcap)
{
	struct registry *r = calloc(1, sizeof(*r));
	DIR *d = NULL;
	int rc = 0;

	if (!r)
		return -ENOMEM;
	pthread_rwlock_init(&r->lock, NULL);
	pthread_mutex_init(&r->put_mu, NULL);
	r->serial = ++last_serial;
	if (snprintf(r->dir, sizeof(r->dir), "%s/schemas", dir) >= (int)sizeof(r->dir)) {
		rc = ST_ELIMIT;
		goto fail;
	}
	if ((rc = mkdir_p(r->dir, 0755)) < 0) {
		st_fail(err, errcap, "%s: %s", r->dir, st_strerror(rc));
		goto fail;
	}
	if (!(d = opendir(r->dir))) {
		rc = -errno;
		st_fail(err, errcap, "%s: %s", r->dir, st_strerror(rc));
		goto fail;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		if (!registry_name_valid(de->d_name, strlen(de->d_name))) {
			st_fail(err, errcap, "%s/%s: not a schema name ([a-z0-9][a-z0-9._-]{0,63})",
				r->dir, de->d_name);
			rc = ST_ECORRUPT;
			goto fail;
		}
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", r->dir, de->d_name) >= (int)sizeof(sub)) {
			rc = ST_ELIMIT;
			goto fail;
		}
		DIR *vd = opendir(sub);
		if (!vd) {
			rc = -errno;
			st_fail(err, errcap, "%s: %s", sub, st_strerror(rc));
			goto fail;
		}
		for (struct dirent *ve; (ve = readdir(vd));) {
			size_t l = strlen(ve->d_name);
			uint32_t ver;
			if (ve->d_name[0] == '.' || (l > 9 && !strcmp(ve->d_name + l - 9, ".breaking")))
				continue;
			if (l < 6 || strcmp(ve->d_name + l - 5, ".json") ||
			    !parse_version(ve->d_name, l - 5, &ver)) {
				/* a write_file_atomic temp left by a crash is not ours to judge */
				if (strstr(ve->d_name, ".tmp"))
					continue;
				st_fail(err, errcap, "%s/%s: expected VERSION.json", sub, ve->d_name);
				rc = ST_ECORRUPT;
				closedir(vd);
				goto fail;
			}
			if ((rc = load_one(r, de->d_name, ver, err, errcap)) < 0) {
				closedir(vd);
				goto fail;
			}
		}
		closedir(vd);
	}
	closedir(d);
	*ret = r;
	return 0;
fail:
	if (d)
		closedir(d);
	registry_free(r);
	return rc;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		entry_free(r->v[i]);
	free(r->v);
	pthread_rwlock_destroy(&r->lock);
	pthread_mutex_destroy(&r->put_mu);
	free(r);
}

static struct rentry *find(struct registry *r, const char *name, size_t nl, uint32_t version)
{
	size_t at = lower(r, name, nl, version);
	return at < r->n && cmp(name, nl, version, r->v[at]) == 0 ? r->v[at] : NULL;
}

int registry_put(struct registry *r, const char *name, uint32_t version, const char *json,
		 size_t n, bool breaking, struct schema_error *cerr, struct schema_violation *v,
		 size_t cap, size_t *nv, uint8_t ret_digest[HASH_SIZE])
{
	size_t nl = strlen(name);
	struct rentry *e = NULL;
	char path[PATH_MAX], sub[PATH_MAX];
	int rc;

	*nv = 0;
	memset(cerr, 0, sizeof(*cerr));
	if (!registry_name_valid(name, nl) || version < 1 || version > REGISTRY_VERSION_MAX)
		return ST_EINVAL;
	if (n > SCHEMA_MAX_BYTES)
		return ST_ELIMIT;
	sha256(json, n, ret_digest);
	pthread_mutex_lock(&r->put_mu);
	pthread_rwlock_rdlock(&r->lock);
	struct rentry *same = find(r, name, nl, version);
	/* the highest version of this name below the new one */
	size_t at = lower(r, name, nl, version);
	struct rentry *prev = at > 0 && strcmp(r->v[at - 1]->name, name) == 0 ? r->v[at - 1] : NULL;
	bool higher = at < r->n && !strcmp(r->v[at]->name, name) && r->v[at]->version > version;
	pthread_rwlock_unlock(&r->lock);
	if (same) {
		rc = memcmp(same->digest, ret_digest, HASH_SIZE) ? ST_EEXIST : REG_SAME;
		goto out;
	}
	if (higher) {
		rc = ST_ERANGE;
		goto out;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = schema_compile(json, n, &e->s, cerr)) < 0)
		goto out;
	if (prev) {
		int k = schema_compat(prev->s, e->s, v, cap);
		if (k < 0) {
			rc = k;
			goto out;
		}
		if (k > 0 && !breaking) {
			*nv = (size_t)k;
			rc = REGISTRY_BREAKING;
			goto out;
		}
		*nv = (size_t)k;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->version = version;
	e->breaking = breaking && *nv > 0;
	e->len = n;
	pthread_rwlock_rdlock(&r->lock);
	bool full = r->n == REGISTRY_MAX || n > REGISTRY_MAX_BYTES - r->bytes;
	pthread_rwlock_unlock(&r->lock);
	if (full) {
		/* checked before anything is written; insert checks again */
		rc = ST_ELIMIT;
		goto out;
	}
	memcpy(e->digest, ret_digest, HASH_SIZE);
	if (snprintf(sub, sizeof(sub), "%s/%s", r->dir, name) >= (int)sizeof(sub) ||
	    (rc = path_of(path, r, name, version, "json")) < 0) {
		rc = ST_ELIMIT;
		goto out;
	}
	if ((rc = mkdir_p(sub, 0755)) < 0 || (rc = fsync_dir(r->dir)) < 0)
		goto out;
	/* The marker goes first, so a crash never leaves a breaking version
	 * looking compatible. A crash between the two leaves a marker with
	 * no schema: a later put of that version replaces or removes it. */
	char bp[PATH_MAX];
	if ((rc = path_of(bp, r, name, version, "breaking")) < 0)
		goto out;
	if (e->breaking) {
		if ((rc = write_file_atomic(bp, "", 0, 0644)) < 0)
			goto out;
	} else if (unlink(bp) < 0 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_file_atomic(path, json, n, 0644)) < 0)
		goto out;
	pthread_rwlock_wrlock(&r->lock);
	rc = insert(r, e);
	pthread_rwlock_unlock(&r->lock);
	if (rc < 0) {
		unlink(path);
		goto out;
	}
	e = NULL;
	rc = REG_CREATED;
out:
	pthread_mutex_unlock(&r->put_mu);
	entry_free(e);
	return rc;
}

const struct schema *registry_get(struct registry *r, const char *name, size_t nl,
				  uint32_t version)
{
	for (unsigned i = 0; i < MEMO_N; i++) {
		const struct memo *m = &memo[i];
		if (m->serial == r->serial && m->version == version && m->nl == nl &&
		    !memcmp(m->name, name, nl))
			return m->s;
	}
	pthread_rwlock_rdlock(&r->lock);
	struct rentry *e = find(r, name, nl, version);
	const struct schema *s = e ? e->s : NULL;
	pthread_rwlock_unlock(&r->lock);
	if (s && nl <= REGISTRY_NAME_MAX) {
		struct memo *m = &memo[memo_next];
		memo_next = (memo_next + 1) % MEMO_N;
		m->serial = r->serial;
		m->version = version;
		m->nl = nl;
		memcpy(m->name, name, nl);
		m->s = s;
	}
	return s;
}

const struct schema *registry_latest(struct registry *r, const char *name, size_t nl,
				     uint32_t *ret_version)
{
	pthread_rwlock_rdlock(&r->lock);
	/* the entry before the first one above (name, VERSION_MAX) */
	size_t at = lower(r, name, nl, REGISTRY_VERSION_MAX + 1);
	struct rentry *e = at > 0 && strlen(r->v[at - 1]->name) == nl &&
			   !memcmp(r->v[at - 1]->name, name, nl) ? r->v[at - 1] : NULL;
	*ret_version = e ? e->version : 0;
	const struct schema *s = e ? e->s : NULL;
	pthread_rwlock_unlock(&r->lock);
	return s;
}

int registry_text(struct registry *r, const char *name, uint32_t version, struct buf *out)
{
	char path[PATH_MAX];
	if (!registry_get(r, name, strlen(name), version))
		return ST_ENOTFOUND;
	int rc = path_of(path, r, name, version, "json");
	return rc < 0 ? rc : read_file(path, SCHEMA_MAX_BYTES, out);
}

int registry_list(struct registry *r,
		  int (*fn)(void *arg, const char *name, uint32_t version, bool breaking,
			    const uint8_t digest[HASH_SIZE]),
		  void *arg)
{
	int rc = 0;
	pthread_rwlock_rdlock(&r->lock);
	for (size_t i = 0; i < r->n && rc == 0; i++)
		rc = fn(arg, r->v[i]->name, r->v[i]->version, r->v[i]->breaking, r->v[i]->digest);
	pthread_rwlock_unlock(&r->lock);
	return rc;
}
