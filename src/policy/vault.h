/*
 * vault.h - the token vault: reversible tokens for PII, encrypted at rest
 * under a key of its own, with crypto-shredding per data subject
 * (docs/VAULT.md; the file format is in docs/FORMAT.md, "The token vault").
 *
 * A vault is a directory (normally DATA/vault/) holding
 *   vault.log   the append-only record file (header, subject keys,
 *               entries, erasures, tombstones), every record CRC-framed;
 *   lock        flock'd while a process has the vault open;
 *   vault.key   the 32-byte master key, mode 0600, unless the operator
 *               keeps it elsewhere (vault_options.key_path).
 * Nothing in vault.log is plaintext: values are sealed with XChaCha20-
 * Poly1305 under their subject's random data key, subject keys are
 * wrapped under the master key, and subjects and tenants appear only as
 * keyed BLAKE2b hashes.
 *
 * Tokens. vault_tokenize gives "tok_" + 32 base32 characters (RFC 4648
 * alphabet, lower case, no padding) of a 20-byte BLAKE2b MAC of (tenant,
 * value) keyed by the subject's data key. So a token is deterministic per
 * (tenant, subject, value): tokenizing the same value for the same subject
 * again returns the same token without writing anything. When the caller
 * passes no subject, the value is its own subject, and the token is then
 * deterministic per (tenant, value).
 *
 * Crypto-shredding. vault_erase_subject destroys the subject's data key
 * (journaled, then overwritten in place and fsync'd). Its tokens then give
 * ST_EERASED forever, and since the token MACs were keyed by the destroyed
 * key, not even the master key links a token in the log to its value any
 * more. Tokenizing a value of an erased subject again creates a new
 * subject key and so a new, different token: an old token never comes
 * back to life.
 *
 * Durability. A tokenize that writes returns only after its records are
 * fdatasync'd (group commit: concurrent callers share one write and one
 * fdatasync), so a token that reached the log always resolves unless
 * erased. A failed write or fdatasync is sticky: every later call that
 * would write returns ST_ESTICKY until the vault is reopened.
 *
 * Access control is the caller's. This library checks nothing about who
 * asks: the server must require the legal or admin role for detokenize,
 * audit every detokenize and erase as an event, and refuse bulk
 * detokenization without an explicit export request.
 *
 * Threads: every function taking a struct vault * is safe to call
 * concurrently, except vault_free. Library code: nothing here logs or
 * prints; error texts go to the caller's err buffer (may be NULL).
 */
#ifndef SEALTRAIL_POLICY_VAULT_H
#define SEALTRAIL_POLICY_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits, each refused with ST_ELIMIT and a text naming it. A value is at
 * most one page of text: a field worth tokenizing is an identifier, an
 * address or a name, never a document. */
#define VAULT_VALUE_MAX 4096
#define VAULT_SUBJECT_MAX 1024
#define VAULT_TENANT_MAX 64        /* the log's TENANT_NAME_MAX */
#define VAULT_BATCH_MAX 4096       /* values in one vault_tokenize_batch */

#define VAULT_KEY_LEN 32
#define VAULT_MAC_LEN 20
#define VAULT_TOKEN_PREFIX "tok_"
#define VAULT_TOKEN_LEN (4 + 32)   /* "tok_" + base32(20 bytes) */

#define VAULT_FILE "vault.log"
#define VAULT_KEY_FILE "vault.key"

/* vault_options.flags */
#define VAULT_CREATE 1u   /* create DIR, the key file and vault.log when missing */

struct vault_options {
	const char *key_path;   /* NULL: DIR/vault.key; borrowed for the call */
	unsigned flags;
};

/* What vault_open had to repair (the caller logs it: library code does not). */
struct vault_open_report {
	bool created;               /* a new vault.log was written */
	bool key_created;           /* a new master key file was written */
	uint64_t truncated_at;      /* byte offset of a torn tail cut off, when truncated_bytes */
	uint64_t truncated_bytes;   /* 0: nothing truncated */
	char truncated_why[96];     /* what was wrong with the first torn record */
	uint64_t erasures_finished; /* erasures journaled but not yet overwritten before a crash */
};

struct vault_stats {
	uint64_t subjects;        /* live subject keys */
	uint64_t subjects_erased; /* erased since the last compaction */
	uint64_t entries;         /* resolvable tokens */
	uint64_t entries_erased;  /* tokens that give ST_EERASED (tombstones included) */
	uint64_t file_bytes;      /* size of vault.log, pending group included */
	uint64_t dead_bytes;      /* what vault_compact would remove */
	uint64_t commits;         /* group commits (fdatasync calls) since open */
};

struct vault;

/*
 * Opens (with VAULT_CREATE, creates) the vault in dir. The master key file
 * must be a regular file of exactly 32 bytes owned by the effective user
 * and not readable or writable by group or others (like ssh's private
 * keys). With VAULT_CREATE a missing key file is created (random, 0600)
 * only when vault.log is missing too: an existing vault never gets a new
 * key. A torn tail (the last group write cut short by a crash) is
 * truncated and described in *rep (may be NULL). Anything else that fails
 * a check refuses the open with ST_ECORRUPT and a text naming the byte
 * offset. Errors: ST_ESIG (the master key is not this vault's),
 * ST_ECORRUPT, ST_EINVAL (key file mode, owner or size; bad header
 * version), ST_ENOTFOUND (no vault.log or no key file, without
 * VAULT_CREATE), -EWOULDBLOCK (another process has the vault open),
 * -errno. *ret is set only on success.
 */
int vault_open(struct vault **ret, const char *dir, const struct vault_options *opt,
	       struct vault_open_report *rep, char *err, size_t errcap);
/* Wipes every key and frees; accepts NULL. No call may be running. */
void vault_free(struct vault *v);

/*
 * Writes the token of (tenant, subject, value) and a NUL to ret_token.
 * subject NULL (subject_len ignored) means the value is its own subject.
 * tenant: 1..VAULT_TENANT_MAX bytes, NUL-terminated; subject 1..
 * VAULT_SUBJECT_MAX bytes; value 1..VAULT_VALUE_MAX bytes (both may hold
 * any bytes, NUL included). Returns 1 when a new entry was written (and is
 * durable), 0 when the token already existed. Errors: ST_EINVAL,
 * ST_ELIMIT, ST_ESTICKY, -errno; ret_token is then untouched and err
 * (may be NULL) says which argument or limit.
 */
int vault_tokenize(struct vault *v, const char *tenant, const void *subject,
		   size_t subject_len, const void *value, size_t value_len,
		   char ret_token[VAULT_TOKEN_LEN + 1], char *err, size_t errcap);

/* One item of a batch: subject NULL means the value is its own subject. */
struct vault_item {
	const void *subject;
	size_t subject_len;
	const void *value;
	size_t value_len;
};
/*
 * vault_tokenize for n items of one tenant with a single group commit.
 * ret_tokens[i] gets item i's token. Returns how many new entries were
 * written, or the first item's error (nothing is then returned: items
 * staged before the failing one may still be written and resolvable,
 * but their tokens are not handed out). n <= VAULT_BATCH_MAX.
 */
int vault_tokenize_batch(struct vault *v, const char *tenant, const struct vault_item *items,
			 size_t n, char (*ret_tokens)[VAULT_TOKEN_LEN + 1], char *err,
			 size_t errcap);

/*
 * vault_tokenize without the wait: the entry is staged (the token is
 * final) and *ret_batch is the group commit it needs; the caller must
 * vault_wait(v, batch) before the token is used anywhere durable (the
 * log, the quarantine). Many staged tokens then share one fdatasync: an
 * NDJSON request of 1,000 new values waits once, not 1,000 times.
 * Returns as vault_tokenize (1 new, 0 existing, <0 error).
 */
int vault_tokenize_staged(struct vault *v, const char *tenant, const void *subject,
			  size_t subject_len, const void *value, size_t value_len,
			  char ret_token[VAULT_TOKEN_LEN + 1], uint64_t *ret_batch, char *err,
			  size_t errcap);
/* Until group batch (and every one before it) is durable: 0, or
 * ST_ESTICKY once a write or fdatasync failed. Batch 0 returns at once. */
int vault_wait(struct vault *v, uint64_t batch);

/*
 * Resolves a token of tenant into buf (cap bytes; VAULT_VALUE_MAX always
 * suffices) and sets *ret_len. Returns 0, or ST_EERASED (the subject was
 * erased: the API answers 410 Gone), ST_ENOTFOUND (no such token in this
 * tenant, including another tenant's token), ST_EINVAL (not a token),
 * ST_ELIMIT (cap too small), ST_ECORRUPT (the record does not decrypt),
 * -errno. The CALLER must check the role (legal or admin), audit the call
 * and forbid bulk use without an export request; buf holds a secret the
 * caller should wipe.
 */
int vault_detokenize(struct vault *v, const char *tenant, const char *token, size_t token_len,
		     void *buf, size_t cap, size_t *ret_len);

/*
 * Crypto-shreds the subject's data key: the subject's tokens give
 * ST_EERASED from the moment this returns (and after any crash once it
 * has returned). Returns how many tokens were erased; 0 when the subject
 * is unknown or already erased (idempotent). Errors: ST_EINVAL,
 * ST_ELIMIT, ST_ESTICKY, -errno. The ciphertexts stay in vault.log, useless
 * without the key, until vault_compact.
 */
long vault_erase_subject(struct vault *v, const char *tenant, const void *subject,
			 size_t subject_len, char *err, size_t errcap);

/*
 * Rewrites vault.log without erased subjects' keys and ciphertexts (their
 * tokens keep answering ST_EERASED through 37-byte tombstones): written to
 * vault.log.compact, fsync'd, renamed over vault.log, directory fsync'd.
 * A crash leaves either the old file or the new one. Blocks every other
 * call while it runs. Errors: ST_ESTICKY, -errno (the vault is then
 * sticky if the rename happened but reloading failed).
 */
int vault_compact(struct vault *v, char *err, size_t errcap);

void vault_stats(struct vault *v, struct vault_stats *ret);

/* True when s is "tok_" and 32 characters of the base32 alphabet. */
bool vault_token_valid(const char *s, size_t n);

#endif
