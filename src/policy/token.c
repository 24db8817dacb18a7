/*
 * token.c - API tokens: the role matrix, the DIR/tokens file (parse,
 * format, locked read-modify-write), and the server's snapshot store.
 *
 * Invariants:
 *  1. No secret is ever written to a file, an error text or a struct
 *     token; every buffer that held one (raw bytes, base64 text) is wiped
 *     with st_wipe on every path.
 *  2. DIR/tokens changes only by write_file_atomic while flock(DIR/
 *     tokens.lock) is held exclusively, after re-reading the file under
 *     that lock; readers (token_list, the store) never lock.
 *  3. Every record that parses has id == the first 12 hex digits of its
 *     hash, and no two records share an id (so none share a hash, and a
 *     revoke by id selects one record).
 *  4. A store snapshot is immutable once published. token_authenticate
 *     reads s->cur under the read lock and takes its token reference
 *     before unlocking; a reload swaps s->cur under the write lock and only
 *     then drops the old snapshot's references. A token lives until its
 *     last reference is put.
 *  5. Authentication does one SHA-256 and compares full 32-byte hashes
 *     with token_ct_equal (st_ct_equal). The hash-table slot is chosen
 *     from the hash, not from the secret, so the time a lookup takes says
 *     nothing about the stored secrets.
 */
#include "policy/token.h"

#include "common/codec.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_VERSION "1"
#define NFIELDS 10          /* version 1 records have the first 9 */
#define RAW_LEN 32
/* The largest DIR/tokens read: every record at the line limit. */
#define FILE_MAX ((size_t)TOKEN_RECORDS_MAX * TOKEN_LINE_MAX)
/* A file modified this close to when it was read may change again within
 * the same timestamp tick; the store re-reads it and compares contents. */
#define RACY_NS (2 * (int64_t)1000000000)

static const char file_header[] =
	"# sealtrail tokens " FORMAT_VERSION " (docs/TOKENS.md): version sha256 id role "
	"tenants created_ns expires_ns revoked_ns name [context, version 2]\n";

bool (*token_ct_equal)(const void *a, const void *b, size_t n) = st_ct_equal;


/* ---- roles and scopes ------------------------------------------------ */

static const char *const role_names[ROLE_COUNT] = {
	[ROLE_PRODUCER] = "producer", [ROLE_READER] = "reader",
	[ROLE_AUDITOR] = "auditor", [ROLE_LEGAL] = "legal",
	[ROLE_ADMIN] = "admin", [ROLE_OPERATOR] = "operator",
};

const char *role_name(enum role r)
{
	if ((unsigned)r >= ROLE_COUNT)
		return "invalid";
	return role_names[r];
}

int role_parse(const char *s, enum role *ret)
{
	for (unsigned i = 0; s && i < ROLE_COUNT; i++)
		if (!strcmp(s, role_names[i])) {
			*ret = (enum role)i;
			return 0;
		}
	return ST_EINVAL;
}

#define R(x) (1u << (x))
/* For each permission, the roles that hold it (docs/TOKENS.md). */
static const unsigned perm_roles[PERM_COUNT] = {
	[PERM_INGEST] = R(ROLE_PRODUCER),
	[PERM_READ_LOG] = R(ROLE_PRODUCER) | R(ROLE_READER) | R(ROLE_AUDITOR) |
			  R(ROLE_LEGAL) | R(ROLE_ADMIN),
	[PERM_READ_EVENTS] = R(ROLE_READER) | R(ROLE_AUDITOR) | R(ROLE_LEGAL),
	[PERM_PROOF] = R(ROLE_AUDITOR) | R(ROLE_LEGAL),
	[PERM_READ_ENTRIES] = R(ROLE_AUDITOR),
	[PERM_ADMIN] = R(ROLE_ADMIN),
	[PERM_METRICS] = R(ROLE_OPERATOR) | R(ROLE_ADMIN),
	[PERM_VAULT] = R(ROLE_LEGAL) | R(ROLE_ADMIN),
};
#undef R

bool role_allows(enum role r, enum perm p)
{
	if ((unsigned)r >= ROLE_COUNT || (unsigned)p >= PERM_COUNT)
		return false;
	return (perm_roles[p] >> r) & 1u;
}

bool token_allows(const struct token *t, enum perm p)
{
	if (!role_allows(t->role, p))
		return false;
	/* The raw entries hold every tenant's events. */
	return p != PERM_READ_ENTRIES || t->all_tenants;
}

bool token_tenant_allowed(const struct token *t, const char *tenant, size_t n)
{
	if (!tenant || n == 0)
		return false;
	if (t->all_tenants)
		return true;
	for (size_t i = 0; i < t->ntenants; i++)
		if (strlen(t->tenants[i]) == n && !memcmp(t->tenants[i], tenant, n))
			return true;
	return false;
}

const char *token_default_tenant(const struct token *t)
{
	return !t->all_tenants && t->ntenants == 1 ? t->tenants[0] : NULL;
}

/* The log's tenant rule, [A-Za-z0-9_.-]{1,TENANT_NAME_MAX}: the same test
 * event_parse applies to an event's `tenant` (event.c keeps its checker
 * file-local), so every tenant a token names is one an event can carry. */
static bool tenant_valid(const char *s, size_t n)
{
	if (n < 1 || n > TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Exactly want lowercase hex digits. */
static bool lower_hex(const char *s, size_t n, size_t want)
{
	if (!s || n != want)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_id(const char *s, size_t n)
{
	return lower_hex(s, n, TOKEN_ID_LEN);
}

static bool name_valid(const char *s, size_t n)
{
	return n <= TOKEN_NAME_MAX && log_producer_valid(s, n) && !is_id(s, n);
}

/* ---- tokens ---------------------------------------------------------- */

static struct token *token_new(void)
{
	struct token *t = calloc(1, sizeof(*t));
	if (t)
		atomic_init(&t->tk_refs, 1);
	return t;
}

const struct token *token_get(const struct token *t)
{
	struct token *m = (struct token *)t;
	atomic_fetch_add_explicit(&m->tk_refs, 1, memory_order_relaxed);
	return t;
}

void token_put(const struct token *t)
{
	struct token *m = (struct token *)t;
	if (!m)
		return;
	if (atomic_fetch_sub_explicit(&m->tk_refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

static void id_of(const uint8_t hash[HASH_SIZE], char out[TOKEN_ID_LEN + 1])
{
	hex_encode(hash, TOKEN_ID_LEN / 2, out);
}

/* A growable array of owned token references, in file order. */
struct tvec {
	struct token **v;
	size_t n, cap;
};

static void tvec_release(struct tvec *tv)
{
	for (size_t i = 0; i < tv->n; i++)
		token_put(tv->v[i]);
	free(tv->v);
	memset(tv, 0, sizeof(*tv));
}

static int tvec_push(struct tvec *tv, struct token *t)
{
	if (tv->n == tv->cap) {
		size_t ncap = tv->cap ? tv->cap * 2 : 16;
		struct token **nv = realloc(tv->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		tv->v = nv;
		tv->cap = ncap;
	}
	tv->v[tv->n++] = t;
	return 0;
}

/* ---- id table -------------------------------------------------------- */

/* Open addressing over indexes into a tvec (slot value i + 1; 0 empty),
 * load factor <= 1/2, keyed by the first 8 bytes of the hash. Records that
 * share an id share those first 6 bytes, but may differ in bytes 6..7, so
 * the slot is taken from the first 6 bytes only: equal ids then probe the
 * same chain, which is how the parser finds duplicates. */
struct idtab {
	uint32_t *slots;
	size_t mask;
};

static size_t slot_of(const uint8_t *hash, size_t mask)
{
	uint64_t v = 0;
	for (int i = 0; i < TOKEN_ID_LEN / 2; i++)
		v = v << 8 | hash[i];
	v *= 0x9e3779b97f4a7c15ull;
	return (size_t)(v >> 16) & mask;
}

static int idtab_init(struct idtab *it, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	it->slots = calloc(cap, sizeof(*it->slots));
	it->mask = cap - 1;
	return it->slots ? 0 : -ENOMEM;
}

/* Inserts tv->v[i]; returns the index of a record with the same id instead
 * when there is one, else -1. */
static long idtab_insert(struct idtab *it, const struct tvec *tv, size_t i)
{
	const uint8_t *h = tv->v[i]->tk_hash;
	for (size_t s = slot_of(h, it->mask);; s = (s + 1) & it->mask) {
		uint32_t x = it->slots[s];
		if (!x) {
			it->slots[s] = (uint32_t)(i + 1);
			return -1;
		}
		if (!memcmp(tv->v[x - 1]->tk_hash, h, TOKEN_ID_LEN / 2))
			return (long)(x - 1);
	}
}

/* ---- the file -------------------------------------------------------- */

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Quotes at most 40 bytes of a found value for an error text, printable
 * ASCII only. */
static void quote(char out[48], const char *s, size_t n)
{
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < n && i < 40; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (n > 40) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = 0;
}

static bool parse_i64(const char *s, size_t n, int64_t *ret)
{
	uint64_t v;
	if (!st_parse_u64(s, n, &v) || v > INT64_MAX)
		return false;
	*ret = (int64_t)v;
	return true;
}

static int parse_tenants(struct token *t, const char *s, size_t n, const char **why)
{
	if (n == 1 && s[0] == '*') {
		t->all_tenants = true;
		return 0;
	}
	for (size_t i = 0; i <= n;) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		if (!tenant_valid(s + i, j - i)) {
			*why = "expected \"*\" or a comma list of tenants matching [A-Za-z0-9_.-]{1,64}";
			return ST_EINVAL;
		}
		if (t->ntenants == TOKEN_TENANTS_MAX) {
			*why = "expected at most 64 tenants";
			return ST_EINVAL;
		}
		for (size_t k = 0; k < t->ntenants; k++)
			if (strlen(t->tenants[k]) == j - i && !memcmp(t->tenants[k], s + i, j - i)) {
				*why = "expected distinct tenants";
				return ST_EINVAL;
			}
		memcpy(t->tenants[t->ntenants], s + i, j - i);
		t->tenants[t->ntenants++][j - i] = 0;
		i = j + 1;
	}
	return 0;
}

static const char *const field_names[NFIELDS] = {
	"version", "sha256", "id", "role", "tenants", "created_ns", "expires_ns",
	"revoked_ns", "name", "context",
};

/* Parses one record line (without its newline) into t. On failure *fi is
 * the bad field (or -1 for the line as a whole) and *why says what was
 * expected. */
static int parse_line(struct token *t, const char *s, size_t n, int *fi, const char **why,
		      const char **fs, size_t *fn)
{
	const char *f[NFIELDS];
	size_t fl[NFIELDS], nf = 0, i = 0;

	*fi = -1;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ' ')
			j++;
		if (nf == NFIELDS) {
			*why = "expected 9 fields (version 1) or 10 (version 2) separated by single spaces, found more";
			*fs = s + i;
			*fn = n - i;
			return ST_EINVAL;
		}
		f[nf] = s + i;
		fl[nf++] = j - i;
		i = j + 1;
	}
	/* version 1: 9 fields; version 2 adds the context */
	bool v_ok = nf && fl[0] == 1 && (f[0][0] == '1' || f[0][0] == '2');
	size_t nwant = !v_ok ? nf : f[0][0] == '2' ? NFIELDS : NFIELDS - 1;   /* a bad version: field 1 says so */
	if (nf != nwant) {
		*why = nwant == NFIELDS ? "expected 10 fields (version 2) separated by single spaces" :
					 "expected 9 fields (version 1) separated by single spaces";
		*fs = s;
		*fn = n;
		return ST_EINVAL;
	}
	memset(&t->context, 0, sizeof(t->context));
	for (int k = 0; k < (int)nwant; k++) {
		*fi = k;
		*fs = f[k];
		*fn = fl[k];
		switch (k) {
		case 0:
			if (fl[k] != 1 || (f[k][0] != '1' && f[k][0] != '2')) {
				*why = "expected record version 1 or 2";
				return ST_EINVAL;
			}
			break;
		case 1:
			if (!lower_hex(f[k], fl[k], 2 * HASH_SIZE) ||
			    !hex_decode(f[k], fl[k], t->tk_hash, HASH_SIZE)) {
				*why = "expected 64 lowercase hex digits";
				return ST_EINVAL;
			}
			break;
		case 2: {
			char want[TOKEN_ID_LEN + 1];
			if (!is_id(f[k], fl[k])) {
				*why = "expected 12 lowercase hex digits";
				return ST_EINVAL;
			}
			id_of(t->tk_hash, want);
			if (memcmp(want, f[k], TOKEN_ID_LEN)) {
				*why = "expected the first 12 digits of the sha256 field";
				return ST_EINVAL;
			}
			memcpy(t->id, f[k], TOKEN_ID_LEN);
			t->id[TOKEN_ID_LEN] = 0;
			break;
		}
		case 3: {
			char r[16] = "";
			if (fl[k] < sizeof(r))
				memcpy(r, f[k], fl[k]);
			if (fl[k] >= sizeof(r) || role_parse(r, &t->role) < 0) {
				*why = "expected producer, reader, auditor, legal, admin or operator";
				return ST_EINVAL;
			}
			break;
		}
		case 4:
			if (parse_tenants(t, f[k], fl[k], why) < 0)
				return ST_EINVAL;
			break;
		case 5:
			if (!parse_i64(f[k], fl[k], &t->created_ns) || t->created_ns == 0) {
				*why = "expected nanoseconds since the epoch, 1..2^63-1";
				return ST_EINVAL;
			}
			break;
		case 6:
		case 7:
			if (!parse_i64(f[k], fl[k], k == 6 ? &t->expires_ns : &t->revoked_ns)) {
				*why = "expected 0 or nanoseconds since the epoch";
				return ST_EINVAL;
			}
			break;
		case 8:
			if (!name_valid(f[k], fl[k])) {
				*why = "expected 1..64 bytes of [A-Za-z0-9_.:@/+-], not 12 hex digits";
				return ST_EINVAL;
			}
			memcpy(t->name, f[k], fl[k]);
			t->name[fl[k]] = 0;
			break;
		case 9: {
			/* k=v[,k=v]... (at most the four keys) */
			char copy[CTX_COUNT * (CONTEXT_VALUE_MAX + 16)], msg[200];
			if (fl[k] == 0 || fl[k] >= sizeof(copy)) {
				*why = "expected key=value[,key=value] with keys region, environment, cluster, service";
				return ST_EINVAL;
			}
			memcpy(copy, f[k], fl[k]);
			copy[fl[k]] = 0;
			if (context_parse(&t->context, copy, ",", "context", "", msg, sizeof(msg)) < 0 ||
			    context_empty(&t->context)) {
				*why = "expected key=value[,key=value] with keys region, environment, cluster, service and values of 1..64 [A-Za-z0-9_.:/@+-]";
				return ST_EINVAL;
			}
			break;
		}
		}
	}
	return 0;
}

/* Parses a whole DIR/tokens image into tv (appending) and, when it is not
 * NULL, an id table over it. Errors are ST_ECORRUPT or ST_ELIMIT, with
 * the line and field in err. */
static int parse_file(const char *path, const char *data, size_t len, struct tvec *tv,
		      struct idtab *ret_tab, char *err, size_t errcap)
{
	struct idtab tab = { NULL, 0 };
	size_t line = 0, off = 0, nrec = 0;
	int r = 0;

	/* Count records first so the id table is sized once. */
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n' && i + 1 < len && data[i + 1] != '#' && data[i + 1] != '\n')
			nrec++;
	if (len && data[0] != '#' && data[0] != '\n')
		nrec++;
	if (nrec > TOKEN_RECORDS_MAX) {
		st_fail(err, errcap, "%s: %zu records, expected at most %d", path, nrec,
		       TOKEN_RECORDS_MAX);
		return ST_ELIMIT;
	}
	if ((r = idtab_init(&tab, nrec)) < 0)
		return r;

	while (off < len) {
		const char *s = data + off, *nl;
		size_t n, avail = len - off;
		struct token *t;
		int fi;
		const char *why = "", *fs = NULL;
		size_t fn = 0;
		char q[48];

		line++;
		nl = memchr(s, '\n', avail > TOKEN_LINE_MAX ? TOKEN_LINE_MAX : avail);
		if (!nl) {
			if (avail >= TOKEN_LINE_MAX)
				st_fail(err, errcap, "%s line %zu: longer than %d bytes", path,
				       line, TOKEN_LINE_MAX);
			else
				st_fail(err, errcap, "%s line %zu: no newline at the end (truncated?)",
				       path, line);
			r = ST_ECORRUPT;
			goto fail;
		}
		n = (size_t)(nl - s);
		off += n + 1;
		if (n == 0 || s[0] == '#')
			continue;
		if (!(t = token_new())) {
			r = -ENOMEM;
			goto fail;
		}
		if (parse_line(t, s, n, &fi, &why, &fs, &fn) < 0) {
			quote(q, fs, fn);
			if (fi < 0)
				st_fail(err, errcap, "%s line %zu: %s", path, line, why);
			else
				st_fail(err, errcap, "%s line %zu: field %d (%s): %s, found %s", path,
				       line, fi + 1, field_names[fi], why, q);
			token_put(t);
			r = ST_ECORRUPT;
			goto fail;
		}
		if ((r = tvec_push(tv, t)) < 0) {
			token_put(t);
			goto fail;
		}
		long dup = idtab_insert(&tab, tv, tv->n - 1);
		if (dup >= 0) {
			st_fail(err, errcap, "%s line %zu: field 3 (id): expected a unique id, found \"%s\" again",
			       path, line, t->id);
			r = ST_ECORRUPT;
			goto fail;
		}
	}
	if (ret_tab)
		*ret_tab = tab;
	else
		free(tab.slots);
	return 0;
fail:
	free(tab.slots);
	return r;
}

static void format_record(struct buf *b, const struct token *t, int *r)
{
	char hex[2 * HASH_SIZE + 1];

	if (*r < 0)
		return;
	hex_encode(t->tk_hash, HASH_SIZE, hex);
	*r = buf_printf(b, "%s %s %s %s ", context_empty(&t->context) ? "1" : "2", hex, t->id,
			role_name(t->role));
	if (*r < 0)
		return;
	if (t->all_tenants)
		*r = buf_putc(b, '*');
	for (size_t i = 0; *r >= 0 && i < t->ntenants; i++)
		*r = buf_printf(b, "%s%s", i ? "," : "", t->tenants[i]);
	if (*r >= 0)
		*r = buf_printf(b, " %lld %lld %lld %s", (long long)t->created_ns,
				(long long)t->expires_ns, (long long)t->revoked_ns, t->name);
	/* a context makes the record version 2; without one it stays 1, so
	 * older readers keep reading files that use none */
	bool sep = false;
	for (int k = 0; *r >= 0 && k < CTX_COUNT; k++)
		if (t->context.v[k][0]) {
			*r = buf_printf(b, "%s%s=%s", sep ? "," : " ", context_name(k), t->context.v[k]);
			sep = true;
		}
	if (*r >= 0)
		*r = buf_putc(b, '\n');
}

/* Reads path into a malloc'd buffer. -ENOENT when missing. */
static int slurp_fd(int fd, const char *path, char **ret, size_t *ret_n, char *err, size_t errcap)
{
	struct stat st;
	char *p;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	if ((uint64_t)st.st_size > FILE_MAX) {
		st_fail(err, errcap, "%s: %lld bytes, expected at most %zu", path,
		       (long long)st.st_size, FILE_MAX);
		return ST_ELIMIT;
	}
	if (!(p = malloc((size_t)st.st_size + 1)))
		return -ENOMEM;
	if ((r = pread_all(fd, p, (size_t)st.st_size, 0)) < 0) {
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		free(p);
		return r;
	}
	p[st.st_size] = 0;
	*ret = p;
	*ret_n = (size_t)st.st_size;
	return 0;
}

/* Loads DIR/tokens into tv; a missing file gives no records. */
static int load(const char *path, struct tvec *tv, char *err, size_t errcap)
{
	char *data = NULL;
	size_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return 0;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	r = slurp_fd(fd, path, &data, &n, err, errcap);
	close(fd);
	if (r < 0)
		return r;
	r = parse_file(path, data, n, tv, NULL, err, errcap);
	free(data);
	return r;
}

/* Holds flock(DIR/tokens.lock) for a read-modify-write of DIR/tokens. */
static int lock_tokens(const char *dir, int *ret_fd, char *err, size_t errcap)
{
	char path[PATH_MAX];
	int fd, r;

	if ((r = path_in(path, sizeof(path), dir, "tokens.lock")) < 0) {
		st_fail(err, errcap, "%s: path too long", dir);
		return r;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
		return r;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		st_fail(err, errcap, "%s: flock: %s", path, st_strerror(r));
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static void unlock_tokens(int fd)
{
	flock(fd, LOCK_UN);
	close(fd);
}

static int store_file(const char *path, const struct tvec *tv, char *err, size_t errcap)
{
	struct buf b = BUF_INIT(FILE_MAX);
	char tmp[PATH_MAX];
	int r = buf_puts(&b, file_header);

	for (size_t i = 0; i < tv->n; i++)
		format_record(&b, tv->v[i], &r);
	if (r < 0) {
		st_fail(err, errcap, "%s: formatting: %s", path, st_strerror(r));
		goto out;
	}
	/* write_file_atomic truncates a leftover temp file, keeping its mode;
	 * remove it so the new file is created 0600. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) < (int)sizeof(tmp))
		unlink(tmp);
	if ((r = write_file_atomic(path, b.data, b.len, 0600)) < 0)
		st_fail(err, errcap, "%s: %s", path, st_strerror(r));
out:
	buf_release(&b);
	return r;
}

/* base64url without padding of n bytes, into out (NUL-terminated). */
static void b64url(const uint8_t *in, size_t n, char *out)
{
	char tmp[BASE64_LEN(RAW_LEN) + 1];
	size_t len = base64_encode(in, n, tmp);

	while (len && tmp[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++)
		out[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	out[len] = 0;
	st_wipe(tmp, sizeof(tmp));
}

static int check_spec(const struct token_spec *spec, int64_t now, struct token *t,
		      char *err, size_t errcap)
{
	if ((unsigned)spec->role >= ROLE_COUNT) {
		st_fail(err, errcap, "role: expected one of producer, reader, auditor, legal, admin, operator");
		return ST_EINVAL;
	}
	t->role = spec->role;
	if (spec->all_tenants && spec->ntenants) {
		st_fail(err, errcap, "scope: expected either all tenants or a list, found both");
		return ST_EINVAL;
	}
	if (spec->ntenants > TOKEN_TENANTS_MAX) {
		st_fail(err, errcap, "scope: %zu tenants, expected at most %d", spec->ntenants,
		       TOKEN_TENANTS_MAX);
		return ST_ELIMIT;
	}
	t->all_tenants = spec->all_tenants;
	if (!spec->all_tenants && !spec->ntenants) {
		if (spec->role != ROLE_ADMIN && spec->role != ROLE_OPERATOR) {
			st_fail(err, errcap, "scope: a %s token needs at least one tenant or all tenants",
			       role_name(spec->role));
			return ST_EINVAL;
		}
		t->all_tenants = true;
	}
	for (size_t i = 0; i < spec->ntenants; i++) {
		const char *s = spec->tenants[i];
		size_t n = s ? strlen(s) : 0;
		char q[48];
		if (!tenant_valid(s, n)) {
			quote(q, s ? s : "", n);
			st_fail(err, errcap, "tenant: expected [A-Za-z0-9_.-]{1,%d}, found %s",
			       TENANT_NAME_MAX, q);
			return ST_EINVAL;
		}
		for (size_t k = 0; k < t->ntenants; k++)
			if (!strcmp(t->tenants[k], s)) {
				st_fail(err, errcap, "tenant: \"%s\" given twice", s);
				return ST_EINVAL;
			}
		memcpy(t->tenants[t->ntenants++], s, n + 1);
	}
	if (spec->name) {
		size_t n = strlen(spec->name);
		char q[48];
		if (!name_valid(spec->name, n)) {
			quote(q, spec->name, n);
			st_fail(err, errcap, "name: expected 1..%d bytes of [A-Za-z0-9_.:@/+-] "
			       "that are not 12 hex digits (those are ids), found %s",
			       TOKEN_NAME_MAX, q);
			return ST_EINVAL;
		}
		memcpy(t->name, spec->name, n + 1);
	}
	if (spec->expires_ns < 0 || (spec->expires_ns && spec->expires_ns <= now)) {
		st_fail(err, errcap, "expires: expected a time in the future");
		return ST_EINVAL;
	}
	t->expires_ns = spec->expires_ns;
	memset(&t->context, 0, sizeof(t->context));
	if (spec->context) {
		for (int k = 0; k < CTX_COUNT; k++)
			if (spec->context->v[k][0] && !context_valid(spec->context->v[k])) {
				st_fail(err, errcap, "context: %s: expected 1..%d bytes of [A-Za-z0-9_.:/@+-]",
					context_name(k), CONTEXT_VALUE_MAX);
				return ST_EINVAL;
			}
		t->context = *spec->context;
	}
	t->created_ns = now;
	return 0;
}

static bool name_taken(const struct tvec *tv, const char *name)
{
	for (size_t i = 0; i < tv->n; i++)
		if (!tv->v[i]->revoked_ns && !strcmp(tv->v[i]->name, name))
			return true;
	return false;
}

static bool id_taken(const struct tvec *tv, const char *id)
{
	for (size_t i = 0; i < tv->n; i++)
		if (!strcmp(tv->v[i]->id, id))
			return true;
	return false;
}

int token_create(const char *dir, const struct token_spec *spec, char *ret_secret,
		 size_t cap, struct token *ret, char *err, size_t errcap)
{
	struct tvec tv = { NULL, 0, 0 };
	char path[PATH_MAX], secret[TOKEN_SECRET_LEN + 1];
	uint8_t raw[RAW_LEN];
	struct token *t;
	int lock_fd = -1, r, tries;

	if (!ret_secret || cap < TOKEN_SECRET_LEN + 1) {
		st_fail(err, errcap, "secret buffer: expected at least %d bytes", TOKEN_SECRET_LEN + 1);
		return ST_EINVAL;
	}
	if ((r = path_in(path, sizeof(path), dir, "tokens")) < 0) {
		st_fail(err, errcap, "%s: path too long", dir);
		return r;
	}
	if (!(t = token_new()))
		return -ENOMEM;
	if ((r = check_spec(spec, now_realtime_ns(), t, err, errcap)) < 0)
		goto out_token;
	if ((r = lock_tokens(dir, &lock_fd, err, errcap)) < 0)
		goto out_token;
	if ((r = load(path, &tv, err, errcap)) < 0)
		goto out_unlock;
	if (tv.n >= TOKEN_RECORDS_MAX) {
		st_fail(err, errcap, "%s: already holds %d records, the most allowed", path,
		       TOKEN_RECORDS_MAX);
		r = ST_ELIMIT;
		goto out_unlock;
	}
	if (t->name[0] && name_taken(&tv, t->name)) {
		st_fail(err, errcap, "name: a token named \"%s\" exists and is not revoked", t->name);
		r = ST_EEXIST;
		goto out_unlock;
	}
	/* A 48-bit id collides once in ~2^24 tokens; draw again if it does. */
	for (tries = 0;; tries++) {
		if ((r = random_bytes(raw, sizeof(raw))) < 0) {
			st_fail(err, errcap, "random: %s", st_strerror(r));
			goto out_unlock;
		}
		memcpy(secret, TOKEN_SECRET_PREFIX, 4);
		b64url(raw, sizeof(raw), secret + 4);
		sha256(secret, TOKEN_SECRET_LEN, t->tk_hash);
		id_of(t->tk_hash, t->id);
		if (!id_taken(&tv, t->id))
			break;
		if (tries == 8) {
			st_fail(err, errcap, "could not draw an unused token id");
			r = -EAGAIN;
			goto out_unlock;
		}
	}
	if (!t->name[0]) {
		snprintf(t->name, sizeof(t->name), "%s-%s", role_name(t->role), t->id);
		if (name_taken(&tv, t->name)) {
			st_fail(err, errcap, "name: a token named \"%s\" exists and is not revoked", t->name);
			r = ST_EEXIST;
			goto out_unlock;
		}
	}
	if ((r = tvec_push(&tv, t)) < 0)
		goto out_unlock;
	token_get(t);   /* tv owns one reference, this function the other */
	if ((r = store_file(path, &tv, err, errcap)) < 0)
		goto out_unlock;
	memcpy(ret_secret, secret, TOKEN_SECRET_LEN + 1);
	if (ret) {
		*ret = *t;
		atomic_init(&ret->tk_refs, 1);
	}
out_unlock:
	unlock_tokens(lock_fd);
	tvec_release(&tv);
out_token:
	token_put(t);
	st_wipe(raw, sizeof(raw));
	st_wipe(secret, sizeof(secret));
	return r;
}

int token_revoke(const char *dir, const char *id_or_name, char *err, size_t errcap)
{
	struct tvec tv = { NULL, 0, 0 };
	char path[PATH_MAX];
	struct token *hit = NULL, *revoked = NULL;
	size_t n = id_or_name ? strlen(id_or_name) : 0, active = 0;
	int lock_fd = -1, r;

	if (!n) {
		st_fail(err, errcap, "expected a token id or name, found nothing");
		return ST_EINVAL;
	}
	if ((r = path_in(path, sizeof(path), dir, "tokens")) < 0) {
		st_fail(err, errcap, "%s: path too long", dir);
		return r;
	}
	if ((r = lock_tokens(dir, &lock_fd, err, errcap)) < 0)
		return r;
	if ((r = load(path, &tv, err, errcap)) < 0)
		goto out;
	for (size_t i = 0; i < tv.n; i++) {
		struct token *t = tv.v[i];
		if (is_id(id_or_name, n)) {
			if (!strcmp(t->id, id_or_name))
				hit = t;
		} else if (!strcmp(t->name, id_or_name)) {
			if (t->revoked_ns) {
				revoked = t;
			} else {
				hit = t;
				active++;
			}
		}
	}
	if (active > 1) {
		st_fail(err, errcap, "name \"%s\": %zu active tokens have it; revoke by id", id_or_name,
		       active);
		r = ST_EEXIST;
		goto out;
	}
	if (!hit && revoked)
		hit = revoked;
	if (!hit) {
		st_fail(err, errcap, "no token has the %s \"%s\"",
		       is_id(id_or_name, n) ? "id" : "name", id_or_name);
		r = ST_ENOTFOUND;
		goto out;
	}
	if (hit->revoked_ns) {
		st_fail(err, errcap, "token %s (%s) was already revoked", hit->id, hit->name);
		r = 1;
		goto out;
	}
	hit->revoked_ns = now_realtime_ns();
	r = store_file(path, &tv, err, errcap);
out:
	unlock_tokens(lock_fd);
	tvec_release(&tv);
	return r;
}

int token_list(const char *dir, int (*fn)(const struct token *t, void *arg), void *arg,
	       char *err, size_t errcap)
{
	struct tvec tv = { NULL, 0, 0 };
	char path[PATH_MAX];
	int r;

	if ((r = path_in(path, sizeof(path), dir, "tokens")) < 0) {
		st_fail(err, errcap, "%s: path too long", dir);
		return r;
	}
	if ((r = load(path, &tv, err, errcap)) < 0)
		goto out;
	for (size_t i = 0; i < tv.n && r == 0; i++)
		r = fn(tv.v[i], arg);
out:
	tvec_release(&tv);
	return r;
}

/* ---- the store ------------------------------------------------------- */

struct snap {
	struct tvec tv;
	struct idtab tab;
	uint8_t content[HASH_SIZE];  /* SHA-256 of the file it came from */
	bool exists;
};

struct file_key {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

struct token_store {
	pthread_rwlock_t lock;       /* guards cur */
	struct snap *cur;
	pthread_mutex_t reload_mu;   /* serializes reloads; guards the fields below */
	struct file_key seen;        /* of the file cur was read from */
	int64_t read_ns;             /* realtime when it was read */
	char error[512];
	char path[PATH_MAX];
};

static void snap_free(struct snap *sn)
{
	if (!sn)
		return;
	tvec_release(&sn->tv);
	free(sn->tab.slots);
	free(sn);
}

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool key_equal(const struct file_key *a, const struct file_key *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       ts_ns(a->mtim) == ts_ns(b->mtim) && ts_ns(a->ctim) == ts_ns(b->ctim);
}

/* Reads and parses the file, or reports it unchanged. Called with
 * reload_mu held. 1 swapped in a new snapshot, 0 unchanged. */
static int reload_locked(struct token_store *s, bool force)
{
	struct file_key key;
	struct stat st;
	struct snap *sn = NULL, *old;
	char *data = NULL;
	size_t n = 0;
	uint8_t content[HASH_SIZE];
	int64_t now = now_realtime_ns();
	int fd, r;

	memset(&key, 0, sizeof(key));
	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT) {
			st_fail(s->error, sizeof(s->error), "%s: %s", s->path, st_strerror(r));
			return r;
		}
	} else {
		if (fstat(fd, &st) < 0) {
			r = -errno;
			st_fail(s->error, sizeof(s->error), "%s: %s", s->path, st_strerror(r));
			close(fd);
			return r;
		}
		key.exists = true;
		key.dev = st.st_dev;
		key.ino = st.st_ino;
		key.size = st.st_size;
		key.mtim = st.st_mtim;
		key.ctim = st.st_ctim;
	}
	/* Unchanged unless the file was written so close to our last read
	 * that a later write could share its timestamps. */
	if (!force && key_equal(&key, &s->seen) &&
	    (!key.exists || ts_ns(key.mtim) + RACY_NS < s->read_ns)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (fd >= 0) {
		r = slurp_fd(fd, s->path, &data, &n, s->error, sizeof(s->error));
		close(fd);
		if (r < 0)
			return r;
	}
	sha256(data ? data : "", n, content);
	if (!force && s->cur->exists == key.exists && !memcmp(s->cur->content, content, HASH_SIZE)) {
		s->seen = key;
		s->read_ns = now;
		free(data);
		return 0;
	}
	if (!(sn = calloc(1, sizeof(*sn)))) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(sn->content, content, HASH_SIZE);
	sn->exists = key.exists;
	if ((r = parse_file(s->path, data ? data : "", n, &sn->tv, &sn->tab, s->error,
			    sizeof(s->error))) < 0)
		goto fail;
	free(data);

	pthread_rwlock_wrlock(&s->lock);
	old = s->cur;
	s->cur = sn;
	pthread_rwlock_unlock(&s->lock);
	snap_free(old);
	s->seen = key;
	s->read_ns = now;
	s->error[0] = 0;
	return 1;
fail:
	if (r == -ENOMEM)
		st_fail(s->error, sizeof(s->error), "%s: out of memory", s->path);
	free(data);
	snap_free(sn);
	return r;
}

int token_store_open(struct token_store **ret, const char *dir, char *err, size_t errcap)
{
	struct token_store *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = path_in(s->path, sizeof(s->path), dir, "tokens")) < 0) {
		st_fail(err, errcap, "%s: path too long", dir);
		free(s);
		return r;
	}
	if (!(s->cur = calloc(1, sizeof(*s->cur))) || idtab_init(&s->cur->tab, 0) < 0) {
		snap_free(s->cur);
		free(s);
		return -ENOMEM;
	}
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->reload_mu, NULL);
	if ((r = reload_locked(s, true)) < 0) {
		st_fail(err, errcap, "%s", s->error);
		token_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int token_store_reload(struct token_store *s)
{
	pthread_mutex_lock(&s->reload_mu);
	int r = reload_locked(s, false);
	pthread_mutex_unlock(&s->reload_mu);
	return r;
}

void token_store_error(struct token_store *s, char *buf, size_t cap)
{
	pthread_mutex_lock(&s->reload_mu);
	st_fail(buf, cap, "%s", s->error);
	pthread_mutex_unlock(&s->reload_mu);
}

size_t token_store_count(struct token_store *s)
{
	pthread_rwlock_rdlock(&s->lock);
	size_t n = s->cur->tv.n;
	pthread_rwlock_unlock(&s->lock);
	return n;
}

void token_store_free(struct token_store *s)
{
	if (!s)
		return;
	snap_free(s->cur);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->reload_mu);
	free(s);
}

const char *auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK: return "ok";
	case AUTH_MISSING: return "missing";
	case AUTH_MALFORMED: return "malformed";
	case AUTH_UNKNOWN: return "unknown";
	case AUTH_EXPIRED: return "expired";
	case AUTH_REVOKED: return "revoked";
	}
	return "invalid";
}

static bool well_formed(const char *s, size_t n)
{
	if (n != TOKEN_SECRET_LEN || memcmp(s, TOKEN_SECRET_PREFIX, 4))
		return false;
	for (size_t i = 4; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

enum auth_result token_authenticate(struct token_store *s, const char *secret, size_t n,
				    int64_t now_ns, const struct token **ret)
{
	enum auth_result res = AUTH_UNKNOWN;
	uint8_t h[HASH_SIZE];

	if (!secret || n == 0)
		return AUTH_MISSING;
	if (!well_formed(secret, n))
		return AUTH_MALFORMED;
	sha256(secret, n, h);

	pthread_rwlock_rdlock(&s->lock);
	const struct snap *sn = s->cur;
	for (size_t i = slot_of(h, sn->tab.mask);; i = (i + 1) & sn->tab.mask) {
		uint32_t x = sn->tab.slots[i];
		if (!x)
			break;
		const struct token *t = sn->tv.v[x - 1];
		if (!token_ct_equal(t->tk_hash, h, HASH_SIZE))
			continue;
		if (t->revoked_ns) {
			res = AUTH_REVOKED;
		} else if (t->expires_ns && now_ns >= t->expires_ns) {
			res = AUTH_EXPIRED;
		} else {
			*ret = token_get(t);
			res = AUTH_OK;
		}
		break;
	}
	pthread_rwlock_unlock(&s->lock);
	st_wipe(h, sizeof(h));
	return res;
}
