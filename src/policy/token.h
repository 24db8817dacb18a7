/*
 * token.h - API tokens: roles, permissions, tenant scopes, the DIR/tokens
 * file, and the server's in-memory view of it (docs/TOKENS.md).
 *
 * A token is "st1_" + base64url(32 random bytes), shown once at creation
 * and never stored: DIR/tokens keeps SHA-256 of the whole secret string.
 * Its public id is the first 12 hex digits of that hash. Tokens are 256-bit
 * random, so a fast hash is enough (no password hashing): nobody can
 * guess a preimage, and the server checks one with a single SHA-256.
 *
 * Writers (token_create, token_revoke: the offline command and the
 * server's API) serialize on flock(DIR/tokens.lock) and replace
 * DIR/tokens with write_file_atomic, so a reader always sees a whole
 * version of the file and needs no lock. None of this touches the log or
 * its DIR/lock: tokens can be managed while the server runs.
 *
 * Library code: nothing here logs or prints. Error texts go to the
 * caller's err buffer (may be NULL) and say what was expected and found,
 * with the line and field for a bad DIR/tokens.
 */
#ifndef SEALTRAIL_POLICY_TOKEN_H
#define SEALTRAIL_POLICY_TOKEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "log/tenants.h"
#include "policy/context.h"

enum role { ROLE_PRODUCER, ROLE_READER, ROLE_AUDITOR, ROLE_LEGAL, ROLE_ADMIN, ROLE_OPERATOR };
#define ROLE_COUNT 6

/* "producer", "reader", "auditor", "legal", "admin", "operator";
 * "invalid" for a value outside the enum. Never NULL. */
const char *role_name(enum role r);
/* 0 or ST_EINVAL (s is not one of the names above; exact, lower case). */
int role_parse(const char *s, enum role *ret);

enum perm {
	PERM_INGEST,        /* POST events: producer */
	PERM_READ_LOG,      /* /checkpoint, hash tiles, /v1/keys, /v1/checkpoints: every role except operator */
	PERM_READ_EVENTS,   /* read events of scoped tenants: reader, auditor, legal */
	PERM_PROOF,         /* inclusion/consistency proofs, ?proof=1: auditor, legal */
	PERM_READ_ENTRIES,  /* /tile/entries/...: the raw log, all tenants' data: auditor only, and only with all-tenant scope */
	PERM_ADMIN,         /* token management over the API, config reload: admin */
	PERM_METRICS,       /* /metrics, /readyz: operator, admin */
	PERM_VAULT,         /* detokenize one token, erase a data subject: legal, admin */
};
#define PERM_COUNT 8

/* The role x permission matrix of docs/TOKENS.md. By role only: for
 * PERM_READ_ENTRIES the token must also have all-tenant scope, which
 * token_allows() checks. False for values outside the enums. */
bool role_allows(enum role r, enum perm p);

/* Names become the event's `producer` field: 1..TOKEN_NAME_MAX bytes of
 * [A-Za-z0-9_.:@/+-] (log_producer_valid). A name of exactly 12 lowercase
 * hex digits is refused, so an argument to token_revoke is never both an
 * id and a name. */
#define TOKEN_NAME_MAX 64
#define TOKEN_TENANTS_MAX 64
/* Tenant names follow the log's rule: [A-Za-z0-9_.-]{1,TENANT_NAME_MAX}. */
#define TOKEN_TENANT_MAX TENANT_NAME_MAX
#define TOKEN_SECRET_PREFIX "st1_"
#define TOKEN_SECRET_LEN (4 + 43)   /* "st1_" + base64url(32 bytes), no padding */
#define TOKEN_ID_LEN 12             /* first 12 hex digits of SHA-256(secret) */
/* DIR/tokens limits: a reload or write refuses a file beyond them. */
#define TOKEN_RECORDS_MAX 10000     /* ~4.3 KiB each in memory (64 inline tenant slots) */
#define TOKEN_LINE_MAX 8192

/* A token record. Tokens handed out by token_authenticate() are immutable
 * and reference-counted (release with token_put); those passed to
 * token_list()'s callback live until the callback returns; token_create()
 * fills a caller-owned copy. The tk_ fields are private. */
struct token {
	char id[TOKEN_ID_LEN + 1];
	char name[TOKEN_NAME_MAX + 1];
	enum role role;
	bool all_tenants;           /* scope "*" */
	size_t ntenants;            /* 0 when all_tenants */
	char tenants[TOKEN_TENANTS_MAX][TOKEN_TENANT_MAX + 1];
	int64_t created_ns;
	int64_t expires_ns;         /* 0 = never */
	int64_t revoked_ns;         /* 0 = not revoked */
	struct ev_context context;  /* static context stamped on its events ("" = unset) */
	uint8_t tk_hash[HASH_SIZE]; /* SHA-256 of the secret string */
	atomic_uint tk_refs;        /* references held; the store holds one */
};

/* True when t's scope includes the tenant [tenant, tenant+n). False for
 * n == 0 or NULL. */
bool token_tenant_allowed(const struct token *t, const char *tenant, size_t n);
/* The tenant an event defaults to: the token's single tenant, or NULL when
 * it has zero, several, or all. Points into t. */
const char *token_default_tenant(const struct token *t);
/* role_allows(t->role, p), and for PERM_READ_ENTRIES also all-tenant scope. */
bool token_allows(const struct token *t, enum perm p);

/* tenants: ntenants names, borrowed for the call. A producer, reader,
 * auditor or legal token needs at least one tenant or all_tenants; an
 * admin or operator token given neither gets all tenants. expires_ns: 0
 * for never, else a time after now. name: NULL for role + "-" + id. */
struct token_spec {
	enum role role;
	bool all_tenants;
	const char *const *tenants;
	size_t ntenants;
	const char *name;
	int64_t expires_ns;
	const struct ev_context *context;   /* NULL: none */
};

/* Creates a token in DIR/tokens (DIR must exist; the file is created mode
 * 0600 when missing). Writes the secret and a NUL to ret_secret (cap >=
 * TOKEN_SECRET_LEN + 1); fills ret when not NULL. Errors: ST_EINVAL (bad
 * spec, cap too small), ST_EEXIST (a non-revoked token has that name),
 * ST_ELIMIT (TOKEN_RECORDS_MAX records), ST_ECORRUPT (DIR/tokens does not
 * parse), -errno. On failure ret_secret and ret are left as they were. */
int token_create(const char *dir, const struct token_spec *spec, char *ret_secret,
		 size_t cap, struct token *ret, char *err, size_t errcap);
/* Revokes by id (12 hex digits) or name: sets revoked_ns to now; the record
 * stays for the audit trail. A name selects the non-revoked token with that
 * name. Returns 0 when revoked now, 1 when it was already revoked (its
 * revocation time is kept), ST_ENOTFOUND when no record matches,
 * ST_EEXIST when a name is shared by several non-revoked tokens (only a
 * hand-edited file can hold that; revoke by id), ST_EINVAL for "". */
int token_revoke(const char *dir, const char *id_or_name, char *err, size_t errcap);
/* Calls fn for each record, oldest first (revoked and expired included);
 * stops at and returns the first non-zero value fn returns. A missing
 * DIR/tokens has no records. */
int token_list(const char *dir, int (*fn)(const struct token *t, void *arg),
	       void *arg, char *err, size_t errcap);

/* The server's in-memory view of DIR/tokens: an immutable snapshot
 * (records + a hash table keyed by the secret's hash) swapped under a
 * rwlock that authenticate holds only for the lookup. */
struct token_store;

/* A missing DIR/tokens is an empty store. ST_ECORRUPT when it does not parse. */
int token_store_open(struct token_store **ret, const char *dir, char *err, size_t errcap);
/* Re-reads DIR/tokens if it changed (device, inode, size, mtime, ctime;
 * a file modified within the last two seconds is re-read and compared by
 * content, since a timestamp tick can hide a second write). Safe to call
 * from any thread, concurrently with token_authenticate. Returns 1
 * reloaded, 0 unchanged, <0 on error with the old view kept (the text is
 * in token_store_error). Tokens already handed out stay valid. */
int token_store_reload(struct token_store *s);
/* Copies the text of the last failed open/reload (or "") into buf. */
void token_store_error(struct token_store *s, char *buf, size_t cap);
/* Number of records in the current view. */
size_t token_store_count(struct token_store *s);
/* Accepts NULL. Tokens still referenced by callers stay valid. */
void token_store_free(struct token_store *s);

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_MALFORMED, AUTH_UNKNOWN, AUTH_EXPIRED, AUTH_REVOKED };
/* "ok", "missing", "malformed", "unknown", "expired", "revoked". */
const char *auth_result_name(enum auth_result r);

/* Looks up the presented secret (the bytes after "Bearer "; n == 0 gives
 * AUTH_MISSING; wrong length, prefix or alphabet gives AUTH_MALFORMED).
 * SHA-256 of the secret selects a hash-table slot, and the full 32-byte
 * hash is confirmed with st_ct_equal. AUTH_EXPIRED when expires_ns <=
 * now_ns, AUTH_REVOKED when revoked (checked first). Only on AUTH_OK is
 * *ret set, to a reference the caller releases with token_put(). The
 * caller owns secret and should wipe it. Thread-safe. */
enum auth_result token_authenticate(struct token_store *s, const char *secret, size_t n,
				    int64_t now_ns, const struct token **ret);
/* Takes another reference to t (from token_authenticate). */
const struct token *token_get(const struct token *t);
/* Releases a reference; accepts NULL. */
void token_put(const struct token *t);

/* Testing hook: the constant-time comparison token_authenticate uses
 * (st_ct_equal). A test may wrap it before starting threads, to prove the
 * full-hash confirmation runs through it. */
extern bool (*token_ct_equal)(const void *a, const void *b, size_t n);

#endif
