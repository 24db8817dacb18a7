/*
 * vault.c - the token vault (vault.h, docs/VAULT.md): keys, the record
 * file, group commit, crypto-shredding and compaction.
 *
 * Keys. The master key file gives KEK = KDF(master, 1, "stvaultM"); the
 * master key itself is wiped as soon as KEK is derived. The header holds
 * a random 32-byte index secret wrapped under KEK; from it come the
 * subject-hash key and the tenant-tag key (KDF ids 1, 2, "stvaultI"), so
 * a future re-key only re-wraps, and every hash in the file stays valid.
 * Each subject has a random data key, wrapped under KEK in its KEY record;
 * from it come its value key and its token-MAC key (ids 1, 2, "stvaultS").
 *
 * Invariants:
 *  V1. Nothing written to vault.log is plaintext: values are sealed,
 *      subject keys wrapped, subjects and tenants only keyed hashes.
 *  V2. Records are appended only through the pending buffer by the one
 *      flusher (v->flushing), at v->written; a token is handed out only
 *      once the batch holding its records is durable (v->durable).
 *  V3. The only in-place write is an erased subject's KEY record turning
 *      into a KEY_ERASED record of the same length, and only after the
 *      ERASE record naming it is durable; so a record torn by that write
 *      is always named by an ERASE record, which open accepts and repairs.
 *  V4. A failed write or fdatasync sets v->failed; nothing is written
 *      after it (sticky), and calls that would write return ST_ESTICKY.
 *  V5. Every secret (master key, KEK, index secret and its subkeys, data
 *      keys, value and MAC keys, plaintext copies) is wiped on every path;
 *      arrays that hold data keys grow by copy + wipe, never realloc.
 *  V6. v->mu guards all in-memory state; it is released only by the
 *      flusher for its write + fdatasync and by waiters on v->cv.
 *      vault_compact holds it throughout, so offsets never change under a
 *      reader.
 */
#include "policy/vault.h"

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the format (docs/FORMAT.md, "The token vault") ------------------- */

#define MAGIC "STVAULT1"
#define VERSION 1u
#define HDR_SIZE 108
#define HDR_AD 32          /* magic, version, flags, vault id: the wrap's AD */
#define HDR_NONCE 32
#define HDR_WRAPPED 56
#define HDR_CRC 104
#define FRAME_HDR 8        /* u32 body length, u32 crc32c(length || body) */

enum rec_type { REC_KEY = 1, REC_KEY_ERASED = 2, REC_ERASE = 3, REC_ENTRY = 4, REC_TOMB = 5 };

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  /* 24 */
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES       /* 16 */
#define SID_LEN 32
#define TTAG_LEN 8
#define WRAPPED (VAULT_KEY_LEN + TAG)
/* KEY: type, sid, nonce, wrapped data key. */
#define KEY_BODY (1 + SID_LEN + NONCE + WRAPPED)                    /* 105 */
#define ERASE_BODY (1 + 8)                                          /* 9 */
/* ENTRY: type, ttag, mac, key offset, nonce, sealed value. */
#define ENT_TTAG 1
#define ENT_MAC (ENT_TTAG + TTAG_LEN)
#define ENT_KEYOFF (ENT_MAC + VAULT_MAC_LEN)
#define ENT_NONCE (ENT_KEYOFF + 8)
#define ENT_CT (ENT_NONCE + NONCE)                                  /* 61 */
#define ENT_MIN (ENT_CT + 1 + TAG)
#define BODY_MAX (ENT_CT + VAULT_VALUE_MAX + TAG)                   /* 4173 */
#define TOMB_BODY (1 + TTAG_LEN + VAULT_MAC_LEN)                    /* 29 */

/* The pending group never exceeds this, so neither does a torn tail. */
#define PENDING_MAX ((size_t)4 << 20)
#define TAIL_MAX PENDING_MAX
/* The most one tokenize appends: a new KEY and an ENTRY. */
#define TOKENIZE_MAX (2 * FRAME_HDR + KEY_BODY + BODY_MAX)

#define NO_SUBJ UINT32_MAX

/* ---- in-memory state ------------------------------------------------- */

enum subj_state { S_LIVE, S_ERASED, S_HOLE };

struct subj {
	uint8_t sid[SID_LEN];
	uint8_t dkey[VAULT_KEY_LEN];   /* zero unless S_LIVE */
	uint64_t off;                  /* of its KEY record */
	uint64_t batch;                /* durable when <= v->durable */
	uint32_t nentries;
	uint8_t state;
	bool overwrite;                /* open: ERASE seen, KEY bytes still there */
};

struct ent {
	uint8_t mac[VAULT_MAC_LEN];
	uint8_t ttag[TTAG_LEN];
	uint32_t len;                  /* frame bytes */
	uint32_t subj;                 /* NO_SUBJ: a tombstone */
	uint64_t off;
	uint64_t batch;
};

/* Open addressing, linear probing; a slot holds index + 1 (0 = empty).
 * Slots are chosen by keyed-hash bytes, which nobody can aim without the
 * key. Nothing is ever deleted (an erased subject's slot is reassigned). */
struct htab {
	uint32_t *slot;
	size_t mask;
	size_t n;
};

struct vault {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd, lockfd;
	char path[PATH_MAX];          /* DIR/vault.log */
	uint8_t hdr[HDR_SIZE];
	uint8_t kek[VAULT_KEY_LEN];
	uint8_t sid_key[32], ttag_key[32];

	struct subj *subj;
	size_t nsubj, capsubj;
	struct ent *ent;
	size_t nent, capent;
	struct htab by_sid, by_mac;

	struct buf pending, spare;
	uint64_t written;             /* bytes of vault.log on disk */
	uint64_t end;                 /* written + the group in flight + pending */
	uint64_t next_batch;          /* the batch pending is filling */
	uint64_t durable;             /* every batch <= durable is fdatasync'd */
	bool flushing;
	int failed;                   /* sticky error, 0 when none */
	uint64_t commits;
	uint64_t gen;                 /* compactions: offsets and indexes changed */
};

static int fail(char *err, size_t cap, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
	va_list ap;
	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ---- hash tables ----------------------------------------------------- */

static int htab_init(struct htab *t, size_t want)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->mask = cap - 1;
	t->n = 0;
	return 0;
}

static void htab_release(struct htab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->n = 0;
}

/* The slot of key (the first 8 bytes pick the start), or the empty slot
 * where it belongs. eq(ctx, index, key) compares the full key. */
static size_t htab_probe(const struct htab *t, const uint8_t *key,
			 bool (*eq)(const struct vault *, uint32_t, const uint8_t *),
			 const struct vault *v)
{
	size_t i = (size_t)get_le64(key) & t->mask;
	while (t->slot[i] && !eq(v, t->slot[i] - 1, key))
		i = (i + 1) & t->mask;
	return i;
}

static bool sid_eq(const struct vault *v, uint32_t i, const uint8_t *key)
{
	return !memcmp(v->subj[i].sid, key, SID_LEN);
}

static bool mac_eq(const struct vault *v, uint32_t i, const uint8_t *key)
{
	return !memcmp(v->ent[i].mac, key, VAULT_MAC_LEN);
}

static const uint8_t *sid_of(const struct vault *v, uint32_t i) { return v->subj[i].sid; }
static const uint8_t *mac_of(const struct vault *v, uint32_t i) { return v->ent[i].mac; }

/* Room for one more key; doubles at half full. */
static int htab_grow(struct vault *v, struct htab *t,
		     bool (*eq)(const struct vault *, uint32_t, const uint8_t *),
		     const uint8_t *(*key_of)(const struct vault *, uint32_t))
{
	struct htab nt;
	if ((t->n + 1) * 2 <= t->mask + 1)
		return 0;
	if (htab_init(&nt, t->n + 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++)
		if (t->slot[i]) {
			size_t j = htab_probe(&nt, key_of(v, t->slot[i] - 1), eq, v);
			nt.slot[j] = t->slot[i];
		}
	nt.n = t->n;
	htab_release(t);
	*t = nt;
	return 0;
}

static uint32_t sid_find(const struct vault *v, const uint8_t sid[SID_LEN])
{
	size_t i = htab_probe(&v->by_sid, sid, sid_eq, v);
	return v->by_sid.slot[i] ? v->by_sid.slot[i] - 1 : NO_SUBJ;
}

static uint32_t mac_find(const struct vault *v, const uint8_t mac[VAULT_MAC_LEN])
{
	size_t i = htab_probe(&v->by_mac, mac, mac_eq, v);
	return v->by_mac.slot[i] ? v->by_mac.slot[i] - 1 : NO_SUBJ;
}

/* Points sid's slot at subject index (inserting or reassigning). */
static int sid_set(struct vault *v, uint32_t index)
{
	int r = htab_grow(v, &v->by_sid, sid_eq, sid_of);
	if (r < 0)
		return r;
	size_t i = htab_probe(&v->by_sid, v->subj[index].sid, sid_eq, v);
	if (!v->by_sid.slot[i])
		v->by_sid.n++;
	v->by_sid.slot[i] = index + 1;
	return 0;
}

static int mac_add(struct vault *v, uint32_t index)
{
	int r = htab_grow(v, &v->by_mac, mac_eq, mac_of);
	if (r < 0)
		return r;
	size_t i = htab_probe(&v->by_mac, v->ent[index].mac, mac_eq, v);
	v->by_mac.slot[i] = index + 1;
	v->by_mac.n++;
	return 0;
}

/* ---- arrays ---------------------------------------------------------- */

/* Grows the subject array by copy and wipe: it holds data keys (V5). */
static int subj_push(struct vault *v, struct subj **ret)
{
	if (v->nsubj == v->capsubj) {
		size_t cap = v->capsubj ? v->capsubj * 2 : 256;
		struct subj *n;
		if (cap >= NO_SUBJ)
			return ST_ELIMIT;
		n = calloc(cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		if (v->subj) {
			memcpy(n, v->subj, v->nsubj * sizeof(*n));
			st_wipe(v->subj, v->capsubj * sizeof(*n));
			free(v->subj);
		}
		v->subj = n;
		v->capsubj = cap;
	}
	*ret = &v->subj[v->nsubj++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

static int ent_push(struct vault *v, struct ent **ret)
{
	if (v->nent == v->capent) {
		size_t cap = v->capent ? v->capent * 2 : 1024;
		struct ent *n;
		if (cap >= NO_SUBJ)
			return ST_ELIMIT;
		n = realloc(v->ent, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		v->ent = n;
		v->capent = cap;
	}
	*ret = &v->ent[v->nent++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

/* Index of the subject whose KEY record starts at off (the array is in
 * file order), or NO_SUBJ. */
static uint32_t subj_at(const struct vault *v, uint64_t off)
{
	size_t lo = 0, hi = v->nsubj;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->subj[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nsubj && v->subj[lo].off == off ? (uint32_t)lo : NO_SUBJ;
}

static void state_release(struct vault *v)
{
	if (v->subj) {
		st_wipe(v->subj, v->capsubj * sizeof(*v->subj));
		free(v->subj);
	}
	free(v->ent);
	v->subj = NULL;
	v->ent = NULL;
	v->nsubj = v->capsubj = v->nent = v->capent = 0;
	htab_release(&v->by_sid);
	htab_release(&v->by_mac);
}

/* ---- crypto ---------------------------------------------------------- */

static void subject_hash(const struct vault *v, const char *tenant, size_t tlen,
			 const void *subject, size_t slen, uint8_t out[SID_LEN])
{
	crypto_generichash_state st;
	uint8_t pre[1] = { (uint8_t)tlen }, sl[2];
	put_le16(sl, (uint16_t)slen);
	crypto_generichash_init(&st, v->sid_key, sizeof(v->sid_key), SID_LEN);
	crypto_generichash_update(&st, pre, 1);
	crypto_generichash_update(&st, (const uint8_t *)tenant, tlen);
	crypto_generichash_update(&st, sl, 2);
	crypto_generichash_update(&st, subject, slen);
	crypto_generichash_final(&st, out, SID_LEN);
	st_wipe(&st, sizeof(st));
}

static void tenant_tag(const struct vault *v, const char *tenant, size_t tlen,
		       uint8_t out[TTAG_LEN])
{
	uint8_t h[crypto_generichash_BYTES_MIN];
	crypto_generichash(h, sizeof(h), (const uint8_t *)tenant, tlen, v->ttag_key,
			   sizeof(v->ttag_key));
	memcpy(out, h, TTAG_LEN);
}

/* Subkey id of a subject's data key: 1 seals values, 2 keys token MACs. */
static void subkey(uint8_t out[32], uint64_t id, const uint8_t dkey[VAULT_KEY_LEN])
{
	crypto_kdf_derive_from_key(out, 32, id, "stvaultS", dkey);
}

static void token_mac(const uint8_t dkey[VAULT_KEY_LEN], const char *tenant, size_t tlen,
		      const void *value, size_t vlen, uint8_t out[VAULT_MAC_LEN])
{
	crypto_generichash_state st;
	uint8_t k[32], pre[1] = { (uint8_t)tlen };
	subkey(k, 2, dkey);
	crypto_generichash_init(&st, k, sizeof(k), VAULT_MAC_LEN);
	crypto_generichash_update(&st, pre, 1);
	crypto_generichash_update(&st, (const uint8_t *)tenant, tlen);
	crypto_generichash_update(&st, value, vlen);
	crypto_generichash_final(&st, out, VAULT_MAC_LEN);
	st_wipe(&st, sizeof(st));
	st_wipe(k, sizeof(k));
}

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void token_format(const uint8_t mac[VAULT_MAC_LEN], char out[VAULT_TOKEN_LEN + 1])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 4;
	memcpy(out, VAULT_TOKEN_PREFIX, 4);
	for (size_t i = 0; i < VAULT_MAC_LEN; i++) {
		acc = (acc << 8) | mac[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32[(acc >> bits) & 31];
		}
	}
	out[o] = 0;
}

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

bool vault_token_valid(const char *s, size_t n)
{
	if (!s || n != VAULT_TOKEN_LEN || memcmp(s, VAULT_TOKEN_PREFIX, 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++)
		if (b32_value(s[i]) < 0)
			return false;
	return true;
}

/* 32 characters of 5 bits are exactly 160: no spare bits to check. */
static void token_parse(const char *s, uint8_t mac[VAULT_MAC_LEN])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 4; i < VAULT_TOKEN_LEN; i++) {
		acc = (acc << 5) | (uint32_t)b32_value(s[i]);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			mac[o++] = (uint8_t)(acc >> bits);
		}
	}
}

/* ---- frames ---------------------------------------------------------- */

static uint32_t frame_crc(const uint8_t lenle[4], const uint8_t *body, size_t n)
{
	return crc32c(crc32c(0, lenle, 4), body, n);
}

static void frame_put(uint8_t *out, const uint8_t *body, size_t n)
{
	put_le32(out, (uint32_t)n);
	put_le32(out + 4, frame_crc(out, body, n));
	if (out + FRAME_HDR != body)
		memmove(out + FRAME_HDR, body, n);
}

/* Appends a frame to the pending group; returns its file offset. The
 * caller made room (ensure_room), so this cannot fail. */
static uint64_t stage(struct vault *v, const uint8_t *body, size_t n)
{
	uint8_t h[FRAME_HDR];
	uint64_t off = v->end;
	put_le32(h, (uint32_t)n);
	put_le32(h + 4, frame_crc(h, body, n));
	if (buf_append(&v->pending, h, FRAME_HDR) < 0 || buf_append(&v->pending, body, n) < 0)
		abort();   /* ensure_room reserved the space */
	v->end += FRAME_HDR + n;
	return off;
}

/* ---- group commit ---------------------------------------------------- */

/* Writes the pending group as the flusher. mu held on entry and exit;
 * released around the write and fdatasync. */
static void flush_locked(struct vault *v)
{
	struct buf tmp = v->pending;
	uint64_t batch = v->next_batch++, off = v->written;
	int r;

	v->pending = v->spare;
	v->spare = tmp;
	v->flushing = true;
	pthread_mutex_unlock(&v->mu);
	r = pwrite_all(v->fd, v->spare.data, v->spare.len, (off_t)off);
	if (r == 0 && fdatasync(v->fd) < 0)
		r = -errno;
	pthread_mutex_lock(&v->mu);
	v->flushing = false;
	if (r < 0) {
		v->failed = r;
	} else {
		v->written += v->spare.len;
		v->durable = batch;
		v->commits++;
	}
	v->spare.len = 0;
	pthread_cond_broadcast(&v->cv);
}

/* Waits until batch is durable, flushing when nobody is. mu held. */
static int wait_durable(struct vault *v, uint64_t batch)
{
	while (v->durable < batch) {
		if (v->failed)
			return ST_ESTICKY;
		if (!v->flushing)
			flush_locked(v);
		else
			pthread_cond_wait(&v->cv, &v->mu);
	}
	return 0;
}

/* Makes room for n more pending bytes; may release mu. */
static int ensure_room(struct vault *v, size_t n)
{
	while (!v->failed && v->pending.len + n > PENDING_MAX) {
		if (!v->flushing)
			flush_locked(v);
		else
			pthread_cond_wait(&v->cv, &v->mu);
	}
	if (v->failed)
		return ST_ESTICKY;
	return buf_reserve(&v->pending, n);
}

/* Waits until nothing is pending or being written. mu held. */
static int drain(struct vault *v)
{
	while (!v->failed && (v->flushing || v->pending.len)) {
		if (!v->flushing)
			flush_locked(v);
		else
			pthread_cond_wait(&v->cv, &v->mu);
	}
	return v->failed ? ST_ESTICKY : 0;
}

/* ---- tokenize -------------------------------------------------------- */

static int check_tenant(const char *tenant, size_t *ret_len, char *err, size_t cap)
{
	size_t n = tenant ? strnlen(tenant, VAULT_TENANT_MAX + 1) : 0;
	if (n == 0)
		return fail(err, cap, ST_EINVAL, "tenant: expected 1..%d bytes, found none",
			    VAULT_TENANT_MAX);
	if (n > VAULT_TENANT_MAX)
		return fail(err, cap, ST_ELIMIT, "tenant: longer than VAULT_TENANT_MAX (%d bytes)",
			    VAULT_TENANT_MAX);
	*ret_len = n;
	return 0;
}

static int check_item(const struct vault_item *it, char *err, size_t cap)
{
	if (!it->value || it->value_len == 0)
		return fail(err, cap, ST_EINVAL, "value: expected 1..%d bytes, found none",
			    VAULT_VALUE_MAX);
	if (it->value_len > VAULT_VALUE_MAX)
		return fail(err, cap, ST_ELIMIT,
			    "value: %zu bytes exceeds VAULT_VALUE_MAX (%d bytes)", it->value_len,
			    VAULT_VALUE_MAX);
	if (it->subject && it->subject_len == 0)
		return fail(err, cap, ST_EINVAL, "subject: expected 1..%d bytes, found none",
			    VAULT_SUBJECT_MAX);
	if (it->subject && it->subject_len > VAULT_SUBJECT_MAX)
		return fail(err, cap, ST_ELIMIT,
			    "subject: %zu bytes exceeds VAULT_SUBJECT_MAX (%d bytes)",
			    it->subject_len, VAULT_SUBJECT_MAX);
	return 0;
}

/* A new subject: random data key, wrapped into a staged KEY record. */
static int subject_create(struct vault *v, const uint8_t sid[SID_LEN], uint32_t *ret)
{
	uint8_t body[KEY_BODY], ad[16 + 1 + SID_LEN];
	struct subj *s;
	int r = subj_push(v, &s);
	if (r < 0)
		return r;
	memcpy(s->sid, sid, SID_LEN);
	randombytes_buf(s->dkey, sizeof(s->dkey));
	body[0] = REC_KEY;
	memcpy(body + 1, sid, SID_LEN);
	randombytes_buf(body + 1 + SID_LEN, NONCE);
	memcpy(ad, v->hdr + 16, 16);
	ad[16] = REC_KEY;
	memcpy(ad + 17, sid, SID_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(body + 1 + SID_LEN + NONCE, NULL, s->dkey,
						   VAULT_KEY_LEN, ad, sizeof(ad), NULL,
						   body + 1 + SID_LEN, v->kek);
	s->off = stage(v, body, KEY_BODY);
	s->batch = v->next_batch;
	s->state = S_LIVE;
	*ret = (uint32_t)(v->nsubj - 1);
	return sid_set(v, *ret);
}

static void entry_ad(const struct vault *v, const uint8_t *body, uint8_t ad[16 + 1 + TTAG_LEN + VAULT_MAC_LEN])
{
	memcpy(ad, v->hdr + 16, 16);
	ad[16] = REC_ENTRY;
	memcpy(ad + 17, body + ENT_TTAG, TTAG_LEN + VAULT_MAC_LEN);
}

/*
 * Finds or stages the entry of one item; sets *ret_batch to the batch its
 * records are in and writes the token. mu held (released only inside
 * ensure_room, before any lookup). 1 new, 0 existing, <0 error.
 */
static int tokenize_locked(struct vault *v, const char *tenant, size_t tlen,
			   const uint8_t ttag[TTAG_LEN], const uint8_t sid[SID_LEN],
			   const struct vault_item *it, char token[VAULT_TOKEN_LEN + 1],
			   uint64_t *ret_batch)
{
	uint8_t mac[VAULT_MAC_LEN], k[32], body[BODY_MAX], ad[16 + 1 + TTAG_LEN + VAULT_MAC_LEN];
	uint32_t si, ei;
	struct ent *e;
	int r = ensure_room(v, TOKENIZE_MAX);
	if (r < 0)
		return r;
	si = sid_find(v, sid);
	if (si == NO_SUBJ || v->subj[si].state != S_LIVE) {
		r = subject_create(v, sid, &si);
		if (r < 0)
			return r;
	}
	token_mac(v->subj[si].dkey, tenant, tlen, it->value, it->value_len, mac);
	ei = mac_find(v, mac);
	if (ei != NO_SUBJ) {
		/* A 160-bit MAC collision between subjects or tenants would
		 * land here; it is refused rather than aliased. */
		if (v->ent[ei].subj != si || memcmp(v->ent[ei].ttag, ttag, TTAG_LEN))
			return ST_EEXIST;
		*ret_batch = v->ent[ei].batch > v->subj[si].batch ? v->ent[ei].batch
								   : v->subj[si].batch;
		token_format(mac, token);
		return 0;
	}
	body[0] = REC_ENTRY;
	memcpy(body + ENT_TTAG, ttag, TTAG_LEN);
	memcpy(body + ENT_MAC, mac, VAULT_MAC_LEN);
	put_le64(body + ENT_KEYOFF, v->subj[si].off);
	randombytes_buf(body + ENT_NONCE, NONCE);
	entry_ad(v, body, ad);
	subkey(k, 1, v->subj[si].dkey);
	crypto_aead_xchacha20poly1305_ietf_encrypt(body + ENT_CT, NULL, it->value, it->value_len,
						   ad, sizeof(ad), NULL, body + ENT_NONCE, k);
	st_wipe(k, sizeof(k));
	r = ent_push(v, &e);
	if (r < 0)
		return r;
	memcpy(e->mac, mac, VAULT_MAC_LEN);
	memcpy(e->ttag, ttag, TTAG_LEN);
	e->subj = si;
	e->len = (uint32_t)(FRAME_HDR + ENT_CT + it->value_len + TAG);
	e->off = stage(v, body, ENT_CT + it->value_len + TAG);
	e->batch = v->next_batch;
	r = mac_add(v, (uint32_t)(v->nent - 1));
	if (r < 0) {
		v->failed = r;   /* staged but not indexed: stop writing */
		return r;
	}
	v->subj[si].nentries++;
	*ret_batch = e->batch;
	token_format(mac, token);
	return 1;
}

/* The batch entry points: stage every item, then (wait) make the group
 * durable; *ret_batch (may be NULL) is the group the tokens need. */
static int tokenize_items(struct vault *v, const char *tenant, const struct vault_item *items,
			  size_t n, char (*ret_tokens)[VAULT_TOKEN_LEN + 1], bool wait,
			  uint64_t *ret_batch, char *err, size_t errcap)
{
	uint8_t ttag[TTAG_LEN], (*sids)[SID_LEN];
	char (*tok)[VAULT_TOKEN_LEN + 1];
	uint64_t batch = 0, b = 0;
	size_t tlen;
	int r, created = 0;

	r = check_tenant(tenant, &tlen, err, errcap);
	if (r < 0)
		return r;
	if (n > VAULT_BATCH_MAX)
		return fail(err, errcap, ST_ELIMIT,
			    "batch: %zu values exceeds VAULT_BATCH_MAX (%d)", n, VAULT_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		r = check_item(&items[i], err, errcap);
		if (r < 0)
			return r;
	}
	if (n == 0)
		return 0;
	sids = malloc(n * (SID_LEN + VAULT_TOKEN_LEN + 1));
	if (!sids)
		return -ENOMEM;
	tok = (char (*)[VAULT_TOKEN_LEN + 1])(sids + n);
	/* The keyed hashes need no lock: their keys never change. */
	tenant_tag(v, tenant, tlen, ttag);
	for (size_t i = 0; i < n; i++) {
		const struct vault_item *it = &items[i];
		if (it->subject)
			subject_hash(v, tenant, tlen, it->subject, it->subject_len, sids[i]);
		else
			subject_hash(v, tenant, tlen, it->value, it->value_len, sids[i]);
	}
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = tokenize_locked(v, tenant, tlen, ttag, sids[i], &items[i], tok[i], &b);
		if (r > 0)
			created++;
		if (b > batch)
			batch = b;
	}
	if (r >= 0 && wait)
		r = wait_durable(v, batch);
	int failed = v->failed;
	pthread_mutex_unlock(&v->mu);
	if (r >= 0) {
		memcpy(ret_tokens, tok, n * sizeof(*tok));
		if (ret_batch)
			*ret_batch = batch;
		r = created;
	} else if (r == ST_ESTICKY) {
		fail(err, errcap, r, "vault: writes stopped after an earlier I/O failure: %s",
		     st_strerror(failed));
	} else if (r == ST_EEXIST) {
		fail(err, errcap, r, "token MAC collision (refused, not aliased)");
	} else {
		fail(err, errcap, r, "vault: %s", st_strerror(r));
	}
	free(sids);
	return r;
}

int vault_tokenize_batch(struct vault *v, const char *tenant, const struct vault_item *items,
			 size_t n, char (*ret_tokens)[VAULT_TOKEN_LEN + 1], char *err,
			 size_t errcap)
{
	return tokenize_items(v, tenant, items, n, ret_tokens, true, NULL, err, errcap);
}

int vault_tokenize(struct vault *v, const char *tenant, const void *subject,
		   size_t subject_len, const void *value, size_t value_len,
		   char ret_token[VAULT_TOKEN_LEN + 1], char *err, size_t errcap)
{
	struct vault_item it = { subject, subject ? subject_len : 0, value, value_len };
	return tokenize_items(v, tenant, &it, 1, (char (*)[VAULT_TOKEN_LEN + 1])ret_token, true,
			      NULL, err, errcap);
}

int vault_tokenize_staged(struct vault *v, const char *tenant, const void *subject,
			  size_t subject_len, const void *value, size_t value_len,
			  char ret_token[VAULT_TOKEN_LEN + 1], uint64_t *ret_batch, char *err,
			  size_t errcap)
{
	struct vault_item it = { subject, subject ? subject_len : 0, value, value_len };
	return tokenize_items(v, tenant, &it, 1, (char (*)[VAULT_TOKEN_LEN + 1])ret_token, false,
			      ret_batch, err, errcap);
}

int vault_wait(struct vault *v, uint64_t batch)
{
	pthread_mutex_lock(&v->mu);
	int r = wait_durable(v, batch);
	pthread_mutex_unlock(&v->mu);
	return r;
}

/* ---- detokenize ------------------------------------------------------ */

int vault_detokenize(struct vault *v, const char *tenant, const char *token, size_t token_len,
		     void *buf, size_t cap, size_t *ret_len)
{
	uint8_t mac[VAULT_MAC_LEN], ttag[TTAG_LEN], dkey[VAULT_KEY_LEN], k[32];
	uint8_t frame[FRAME_HDR + BODY_MAX], ad[16 + 1 + TTAG_LEN + VAULT_MAC_LEN];
	uint8_t plain[VAULT_VALUE_MAX];
	unsigned long long plen;
	size_t tlen, blen;
	uint32_t ei, flen = 0;
	uint64_t off = 0;
	int r;

	if (check_tenant(tenant, &tlen, NULL, 0) < 0 || !vault_token_valid(token, token_len))
		return ST_EINVAL;
	token_parse(token, mac);
	tenant_tag(v, tenant, tlen, ttag);

	pthread_mutex_lock(&v->mu);
	for (;;) {
		ei = mac_find(v, mac);
		if (ei == NO_SUBJ || !st_ct_equal(v->ent[ei].ttag, ttag, TTAG_LEN)) {
			r = ST_ENOTFOUND;
			break;
		}
		if (v->ent[ei].subj == NO_SUBJ || v->subj[v->ent[ei].subj].state != S_LIVE) {
			r = ST_EERASED;
			break;
		}
		if (v->ent[ei].batch > v->durable) {
			/* Only a guess can name a token not yet handed out;
			 * wait, then look again (an erase may have run). */
			r = wait_durable(v, v->ent[ei].batch);
			if (r < 0)
				break;
			continue;
		}
		off = v->ent[ei].off;
		flen = v->ent[ei].len;
		memcpy(dkey, v->subj[v->ent[ei].subj].dkey, sizeof(dkey));
		/* Read under mu: compaction cannot move the record meanwhile. */
		r = v->fd < 0 ? ST_ESTICKY : pread_all(v->fd, frame, flen, (off_t)off);
		break;
	}
	pthread_mutex_unlock(&v->mu);
	if (r < 0)
		goto out_wipe;

	blen = flen - FRAME_HDR;
	if (get_le32(frame) != blen || get_le32(frame + 4) != frame_crc(frame, frame + FRAME_HDR, blen) ||
	    frame[FRAME_HDR] != REC_ENTRY || memcmp(frame + FRAME_HDR + ENT_MAC, mac, VAULT_MAC_LEN)) {
		r = ST_ECORRUPT;
		goto out_wipe;
	}
	entry_ad(v, frame + FRAME_HDR, ad);
	subkey(k, 1, dkey);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, frame + FRAME_HDR + ENT_CT,
						       blen - ENT_CT, ad, sizeof(ad),
						       frame + FRAME_HDR + ENT_NONCE, k) != 0) {
		r = ST_ECORRUPT;
		goto out_wipe;
	}
	if (plen > cap) {
		r = ST_ELIMIT;
		goto out_wipe;
	}
	memcpy(buf, plain, (size_t)plen);
	*ret_len = (size_t)plen;
	r = 0;
out_wipe:
	st_wipe(dkey, sizeof(dkey));
	st_wipe(k, sizeof(k));
	st_wipe(plain, sizeof(plain));
	return r;
}

/* ---- erase ----------------------------------------------------------- */

/* Turns the KEY record at off into KEY_ERASED (same length) and syncs. */
static int overwrite_key(int fd, uint64_t off)
{
	uint8_t f[FRAME_HDR + KEY_BODY];
	memset(f, 0, sizeof(f));
	f[FRAME_HDR] = REC_KEY_ERASED;
	frame_put(f, f + FRAME_HDR, KEY_BODY);
	int r = pwrite_all(fd, f, sizeof(f), (off_t)off);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	return r;
}

long vault_erase_subject(struct vault *v, const char *tenant, const void *subject,
			 size_t subject_len, char *err, size_t errcap)
{
	uint8_t sid[SID_LEN], body[ERASE_BODY];
	size_t tlen;
	uint64_t gen;
	uint32_t si;
	long n = 0;
	int r, failed = 0;

	r = check_tenant(tenant, &tlen, err, errcap);
	if (r < 0)
		return r;
	/* A value that was its own subject can be up to VAULT_VALUE_MAX. */
	if (!subject || subject_len == 0)
		return fail(err, errcap, ST_EINVAL, "subject: expected 1..%d bytes, found none",
			    VAULT_VALUE_MAX);
	if (subject_len > VAULT_VALUE_MAX)
		return fail(err, errcap, ST_ELIMIT,
			    "subject: %zu bytes exceeds VAULT_VALUE_MAX (%d bytes)", subject_len,
			    VAULT_VALUE_MAX);
	subject_hash(v, tenant, tlen, subject, subject_len, sid);

	pthread_mutex_lock(&v->mu);
	r = ensure_room(v, FRAME_HDR + ERASE_BODY);
	if (r < 0)
		goto out_unlock;
	si = sid_find(v, sid);
	if (si == NO_SUBJ || v->subj[si].state != S_LIVE)
		goto out_unlock;   /* unknown or already erased: nothing to do */
	/* From here on new tokenizes of this subject get a new key. */
	v->subj[si].state = S_ERASED;
	n = v->subj[si].nentries;
	body[0] = REC_ERASE;
	put_le64(body + 1, v->subj[si].off);
	stage(v, body, ERASE_BODY);
	st_wipe(v->subj[si].dkey, VAULT_KEY_LEN);
	gen = v->gen;
	r = wait_durable(v, v->next_batch);   /* the ERASE, and the KEY before it */
	if (r < 0)
		goto out_unlock;
	/* The journaled erase is durable: now the in-place overwrite (V3),
	 * unless a compaction ran meanwhile and already dropped the key. */
	if (v->gen == gen) {
		r = overwrite_key(v->fd, v->subj[si].off);
		if (r < 0)
			v->failed = r;
	}
out_unlock:
	failed = v->failed;
	pthread_mutex_unlock(&v->mu);
	if (r < 0)
		return fail(err, errcap, r, "erase: %s", st_strerror(failed ? failed : r));
	return n;
}

/* ---- open: header, key file, scan ------------------------------------ */

static int read_key_file(const char *path, uint8_t key[VAULT_KEY_LEN], char *err, size_t cap)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r = 0;
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return fail(err, cap, ST_ENOTFOUND, "%s: no master key file", path);
		return fail(err, cap, r, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = fail(err, cap, -errno, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		r = fail(err, cap, ST_EINVAL, "%s: master key is not a regular file", path);
	} else if (st.st_uid != geteuid()) {
		r = fail(err, cap, ST_EINVAL, "%s: master key is owned by uid %u, expected %u",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if (st.st_mode & 077) {
		r = fail(err, cap, ST_EINVAL,
			 "%s: master key has mode %04o: group or others can access it "
			 "(expected 0600 or stricter: chmod 600)", path,
			 (unsigned)(st.st_mode & 07777));
	} else if (st.st_size != VAULT_KEY_LEN) {
		r = fail(err, cap, ST_EINVAL, "%s: master key has %lld bytes, expected %d", path,
			 (long long)st.st_size, VAULT_KEY_LEN);
	} else if ((r = pread_all(fd, key, VAULT_KEY_LEN, 0)) < 0) {
		r = fail(err, cap, r, "%s: %s", path, st_strerror(r));
	}
	close(fd);
	return r;
}

/* A new key file, 0600, never over an existing one: tmp + link. */
static int create_key_file(const char *path, char *err, size_t cap)
{
	char tmp[PATH_MAX];
	uint8_t key[VAULT_KEY_LEN];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fail(err, cap, -ENAMETOOLONG, "%s: path too long", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(err, cap, -errno, "%s: %s", tmp, strerror(errno));
	randombytes_buf(key, sizeof(key));
	r = write_all(fd, key, sizeof(key));
	st_wipe(key, sizeof(key));
	if (r == 0 && fchmod(fd, 0600) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	/* link() fails with EEXIST rather than replace a key. */
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	if (r == 0)
		r = fsync_parent(path);
	if (r < 0)
		return fail(err, cap, r, "%s: cannot create master key: %s", path, st_strerror(r));
	return 0;
}

static void derive_kek(const uint8_t master[VAULT_KEY_LEN], uint8_t kek[VAULT_KEY_LEN])
{
	crypto_kdf_derive_from_key(kek, VAULT_KEY_LEN, 1, "stvaultM", master);
}

static int create_vault_file(const char *path, const uint8_t kek[VAULT_KEY_LEN], char *err,
			     size_t cap)
{
	uint8_t h[HDR_SIZE], secret[32];
	int r;

	memset(h, 0, sizeof(h));
	memcpy(h, MAGIC, 8);
	put_le32(h + 8, VERSION);
	put_le32(h + 12, 0);
	randombytes_buf(h + 16, 16);
	randombytes_buf(h + HDR_NONCE, NONCE);
	randombytes_buf(secret, sizeof(secret));
	crypto_aead_xchacha20poly1305_ietf_encrypt(h + HDR_WRAPPED, NULL, secret, sizeof(secret),
						   h, HDR_AD, NULL, h + HDR_NONCE, kek);
	st_wipe(secret, sizeof(secret));
	put_le32(h + HDR_CRC, crc32c(0, h, HDR_CRC));
	r = write_file_atomic(path, h, sizeof(h), 0600);
	if (r < 0)
		return fail(err, cap, r, "%s: cannot create: %s", path, st_strerror(r));
	return 0;
}

/* Checks the header and derives the index keys. */
static int header_open(struct vault *v, const uint8_t *p, size_t n, char *err, size_t cap)
{
	uint8_t secret[32];
	if (n < HDR_SIZE)
		return fail(err, cap, ST_ECORRUPT,
			    "%s: header at byte offset 0: file has %zu bytes, expected at least %d",
			    v->path, n, HDR_SIZE);
	if (memcmp(p, MAGIC, 8) != 0)
		return fail(err, cap, ST_ECORRUPT,
			    "%s: not a token vault (bad magic at byte offset 0)", v->path);
	if (get_le32(p + HDR_CRC) != crc32c(0, p, HDR_CRC))
		return fail(err, cap, ST_ECORRUPT,
			    "%s: header CRC mismatch at byte offset %d", v->path, HDR_CRC);
	if (get_le32(p + 8) != VERSION)
		return fail(err, cap, ST_EINVAL,
			    "%s: format version %u at byte offset 8, expected %u", v->path,
			    get_le32(p + 8), VERSION);
	if (get_le32(p + 12) != 0)
		return fail(err, cap, ST_EINVAL,
			    "%s: unknown incompatible feature flags 0x%x at byte offset 12",
			    v->path, get_le32(p + 12));
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, NULL, NULL, p + HDR_WRAPPED, WRAPPED,
						       p, HDR_AD, p + HDR_NONCE, v->kek) != 0)
		return fail(err, cap, ST_ESIG,
			    "%s: the master key does not open this vault (wrapped index key at "
			    "byte offset %d)", v->path, HDR_WRAPPED);
	memcpy(v->hdr, p, HDR_SIZE);
	crypto_kdf_derive_from_key(v->sid_key, 32, 1, "stvaultI", secret);
	crypto_kdf_derive_from_key(v->ttag_key, 32, 2, "stvaultI", secret);
	st_wipe(secret, sizeof(secret));
	return 0;
}

/* A CRC-valid frame of a known type starts at off. */
static bool valid_frame_at(const uint8_t *p, size_t n, size_t off)
{
	uint32_t len;
	if (n - off < FRAME_HDR + 1)
		return false;
	len = get_le32(p + off);
	if (len == 0 || len > BODY_MAX || len > n - off - FRAME_HDR)
		return false;
	if (p[off + FRAME_HDR] < REC_KEY || p[off + FRAME_HDR] > REC_TOMB)
		return false;
	return get_le32(p + off + 4) == frame_crc(p + off, p + off + FRAME_HDR, len);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

#define CORRUPT(off, ...) do { \
	char m_[160]; \
	snprintf(m_, sizeof(m_), __VA_ARGS__); \
	r = fail(err, cap, ST_ECORRUPT, "%s: record at byte offset %llu: %s", v->path, \
		 (unsigned long long)(off), m_); \
	goto out; \
	} while (0)

/* One CRC-valid record. Bodies that fail a check are corruption, never a
 * torn write: their CRC matched. */
static int load_record(struct vault *v, const uint8_t *b, size_t n, uint64_t off,
		       char *err, size_t cap)
{
	uint8_t ad[16 + 1 + SID_LEN];
	struct subj *s;
	struct ent *e;
	uint32_t si;
	int r = 0;

	switch (b[0]) {
	case REC_KEY:
	case REC_KEY_ERASED:
		if (n != KEY_BODY)
			CORRUPT(off, "subject key record of %zu bytes, expected %d", n, KEY_BODY);
		if (b[0] == REC_KEY_ERASED && !all_zero(b + 1, n - 1))
			CORRUPT(off, "erased subject key record is not all zeros");
		if ((r = subj_push(v, &s)) < 0)
			goto out;
		s->off = off;
		if (b[0] == REC_KEY_ERASED) {
			s->state = S_ERASED;
			break;
		}
		memcpy(s->sid, b + 1, SID_LEN);
		memcpy(ad, v->hdr + 16, 16);
		ad[16] = REC_KEY;
		memcpy(ad + 17, b + 1, SID_LEN);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->dkey, NULL, NULL,
							       b + 1 + SID_LEN + NONCE, WRAPPED,
							       ad, sizeof(ad), b + 1 + SID_LEN,
							       v->kek) != 0)
			CORRUPT(off, "subject key does not decrypt under the master key");
		s->state = S_LIVE;
		si = sid_find(v, s->sid);
		if (si != NO_SUBJ && v->subj[si].state == S_LIVE)
			CORRUPT(off, "second live key for the subject of the key at byte offset %llu",
				(unsigned long long)v->subj[si].off);
		r = sid_set(v, (uint32_t)(v->nsubj - 1));
		break;
	case REC_ERASE:
		if (n != ERASE_BODY)
			CORRUPT(off, "erase record of %zu bytes, expected %d", n, ERASE_BODY);
		si = subj_at(v, get_le64(b + 1));
		if (si == NO_SUBJ)
			CORRUPT(off, "erase names byte offset %llu, where no subject key starts",
				(unsigned long long)get_le64(b + 1));
		s = &v->subj[si];
		if (s->state != S_ERASED)
			s->overwrite = true;   /* a crash came between journal and overwrite */
		s->state = S_ERASED;
		st_wipe(s->dkey, VAULT_KEY_LEN);
		break;
	case REC_ENTRY:
	case REC_TOMB:
		if (b[0] == REC_ENTRY ? (n < ENT_MIN || n > BODY_MAX) : n != TOMB_BODY)
			CORRUPT(off, "%s record of %zu bytes", b[0] == REC_ENTRY ? "entry" : "tombstone", n);
		si = NO_SUBJ;
		if (b[0] == REC_ENTRY) {
			si = subj_at(v, get_le64(b + ENT_KEYOFF));
			if (si == NO_SUBJ)
				CORRUPT(off, "entry names byte offset %llu, where no subject key starts",
					(unsigned long long)get_le64(b + ENT_KEYOFF));
		}
		if (mac_find(v, b + ENT_MAC) != NO_SUBJ)
			CORRUPT(off, "token MAC already stored");
		if ((r = ent_push(v, &e)) < 0)
			goto out;
		memcpy(e->ttag, b + ENT_TTAG, TTAG_LEN);
		memcpy(e->mac, b + ENT_MAC, VAULT_MAC_LEN);
		e->off = off;
		e->len = (uint32_t)(FRAME_HDR + n);
		e->subj = si;
		if (si != NO_SUBJ)
			v->subj[si].nentries++;
		r = mac_add(v, (uint32_t)(v->nent - 1));
		break;
	default:
		CORRUPT(off, "unknown record type %u", b[0]);
	}
out:
	return r;
}

/*
 * Reads vault.log (header already checked) into memory. Walk rules
 * (docs/VAULT.md, "Crash safety"): whole frames with a bad CRC are holes;
 * a hole of a KEY record's size named by a later ERASE is a torn
 * overwrite (V3) and accepted. The walk stops at a frame that is not
 * whole. From the first unnamed hole or the stop, whichever comes first,
 * to the end is a torn tail if no valid record follows and it is no longer
 * than one group write; it is truncated. Anything else is ST_ECORRUPT.
 */
static int load(struct vault *v, const uint8_t *p, size_t n, struct vault_open_report *rep,
		char *err, size_t cap)
{
	uint64_t off = HDR_SIZE, brk = n, first_hole = n, last_valid = 0;
	char why[96] = "", brk_why[96] = "";
	int r;

	if ((r = htab_init(&v->by_sid, 1024)) < 0 || (r = htab_init(&v->by_mac, 1024)) < 0)
		return r;
	while (off < n) {
		uint32_t len;
		if (n - off < FRAME_HDR) {
			snprintf(brk_why, sizeof(brk_why), "incomplete frame header (%llu bytes)",
				 (unsigned long long)(n - off));
			brk = off;
			break;
		}
		len = get_le32(p + off);
		if (len == 0 || len > BODY_MAX) {
			snprintf(brk_why, sizeof(brk_why), "frame length %u out of range 1..%d", len,
				 BODY_MAX);
			brk = off;
			break;
		}
		if (len > n - off - FRAME_HDR) {
			snprintf(brk_why, sizeof(brk_why),
				 "frame of %u bytes runs past the end of the file", len);
			brk = off;
			break;
		}
		if (get_le32(p + off + 4) != frame_crc(p + off, p + off + FRAME_HDR, len)) {
			struct subj *s;
			/* Maybe a torn KEY overwrite: keep its place for an ERASE. */
			if (len == KEY_BODY) {
				if ((r = subj_push(v, &s)) < 0)
					return r;
				s->off = off;
				s->state = S_HOLE;
			} else if (first_hole == n) {
				first_hole = off;
				snprintf(why, sizeof(why), "CRC mismatch");
			}
		} else {
			r = load_record(v, p + off + FRAME_HDR, len, off, err, cap);
			if (r < 0)
				return r;
			last_valid = off;
		}
		off += FRAME_HDR + len;
	}
	/* Holes no ERASE named (subjects still S_HOLE). */
	for (size_t i = 0; i < v->nsubj; i++)
		if (v->subj[i].state == S_HOLE && v->subj[i].off < first_hole) {
			first_hole = v->subj[i].off;
			snprintf(why, sizeof(why), "CRC mismatch");
			break;
		}
	uint64_t t = first_hole < brk ? first_hole : brk;
	if (t == brk)
		memcpy(why, brk_why, sizeof(why));
	if (t < n && n - t <= TAIL_MAX) {
		/* A length broken in the middle stops the walk as a torn
		 * write would: look for a valid record after the stop, byte by
		 * byte (at most one group write's bytes). */
		for (size_t o = (size_t)brk + 1; o < n; o++)
			if (valid_frame_at(p, n, o)) {
				if (o > last_valid)
					last_valid = o;
				break;
			}
	}
	if (t < n) {
		if (last_valid > t)
			return fail(err, cap, ST_ECORRUPT,
				    "%s: record at byte offset %llu: %s, followed by valid records "
				    "(damage, not a torn tail)", v->path, (unsigned long long)t, why);
		if (n - t > TAIL_MAX)
			return fail(err, cap, ST_ECORRUPT,
				    "%s: record at byte offset %llu: %s, and the %llu bytes after it "
				    "are more than one group write (%zu)", v->path,
				    (unsigned long long)t, why, (unsigned long long)(n - t), TAIL_MAX);
		if (ftruncate(v->fd, (off_t)t) < 0 || fdatasync(v->fd) < 0)
			return fail(err, cap, -errno, "%s: truncating a torn tail at byte offset %llu: %s",
				    v->path, (unsigned long long)t, strerror(errno));
		/* Holes inside the tail are gone with it (they are last). */
		while (v->nsubj && v->subj[v->nsubj - 1].off >= t)
			v->nsubj--;
		if (rep) {
			rep->truncated_at = t;
			rep->truncated_bytes = n - t;
			snprintf(rep->truncated_why, sizeof(rep->truncated_why), "%s", why);
		}
		n = (size_t)t;
	}
	/* Finish erasures a crash interrupted (V3). */
	for (size_t i = 0; i < v->nsubj; i++) {
		if (!v->subj[i].overwrite)
			continue;
		r = overwrite_key(v->fd, v->subj[i].off);
		if (r < 0)
			return fail(err, cap, r, "%s: finishing the erasure of the key at byte offset "
				    "%llu: %s", v->path, (unsigned long long)v->subj[i].off,
				    st_strerror(r));
		v->subj[i].overwrite = false;
		if (rep)
			rep->erasures_finished++;
	}
	v->written = v->end = n;
	return 0;
}

int vault_open(struct vault **ret, const char *dir, const struct vault_options *opt,
	       struct vault_open_report *rep, char *err, size_t cap)
{
	struct vault_options none = { NULL, 0 };
	char keypath[PATH_MAX], lockpath[PATH_MAX], tmp[PATH_MAX];
	uint8_t master[VAULT_KEY_LEN];
	const uint8_t *map = NULL;
	size_t mapn = 0;
	struct vault *v;
	struct stat st;
	bool exists;
	int r;

	if (!opt)
		opt = &none;
	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (sodium_init() < 0)
		return fail(err, cap, -EIO, "libsodium failed to initialize");
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = v->lockfd = -1;
	v->next_batch = 1;
	buf_init(&v->pending, PENDING_MAX);
	buf_init(&v->spare, PENDING_MAX);
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);

	if (snprintf(v->path, sizeof(v->path), "%s/" VAULT_FILE, dir) >= (int)sizeof(v->path) ||
	    snprintf(lockpath, sizeof(lockpath), "%s/lock", dir) >= (int)sizeof(lockpath) ||
	    snprintf(tmp, sizeof(tmp), "%s.compact", v->path) >= (int)sizeof(tmp) ||
	    (opt->key_path ? snprintf(keypath, sizeof(keypath), "%s", opt->key_path)
			   : snprintf(keypath, sizeof(keypath), "%s/" VAULT_KEY_FILE, dir)) >=
		    (int)sizeof(keypath)) {
		r = fail(err, cap, -ENAMETOOLONG, "%s: path too long", dir);
		goto out_free;
	}
	if (opt->flags & VAULT_CREATE) {
		r = mkdir_p(dir, 0700);
		if (r < 0) {
			r = fail(err, cap, r, "%s: %s", dir, st_strerror(r));
			goto out_free;
		}
	}
	v->lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (v->lockfd < 0) {
		r = -errno;
		r = fail(err, cap, r == -ENOENT ? ST_ENOTFOUND : r, "%s: %s", lockpath, strerror(errno));
		goto out_free;
	}
	if (flock(v->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = fail(err, cap, -errno, "%s: the vault is open in another process (%s)", dir,
			 strerror(errno));
		goto out_free;
	}
	unlink(tmp);   /* an interrupted compaction; vault.log is intact */

	exists = stat(v->path, &st) == 0;
	if (!exists && errno != ENOENT) {
		r = fail(err, cap, -errno, "%s: %s", v->path, strerror(errno));
		goto out_free;
	}
	if (!exists && !(opt->flags & VAULT_CREATE)) {
		r = fail(err, cap, ST_ENOTFOUND, "%s: no token vault here", v->path);
		goto out_free;
	}
	if (!exists && access(keypath, F_OK) < 0) {
		r = create_key_file(keypath, err, cap);
		if (r < 0)
			goto out_free;
		if (rep)
			rep->key_created = true;
	}
	r = read_key_file(keypath, master, err, cap);
	if (r < 0)
		goto out_free;
	derive_kek(master, v->kek);
	st_wipe(master, sizeof(master));
	if (!exists) {
		r = create_vault_file(v->path, v->kek, err, cap);
		if (r < 0)
			goto out_free;
		if (rep)
			rep->created = true;
	}
	v->fd = open(v->path, O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		r = fail(err, cap, -errno, "%s: %s", v->path, strerror(errno));
		goto out_free;
	}
	r = map_file(v->path, &map, &mapn);
	if (r < 0) {
		r = fail(err, cap, r, "%s: %s", v->path, st_strerror(r));
		goto out_free;
	}
	r = header_open(v, map, mapn, err, cap);
	if (r == 0)
		r = load(v, map, mapn, rep, err, cap);
	unmap_file(map, mapn);
	if (r < 0)
		goto out_free;
	*ret = v;
	return 0;

out_free:
	vault_free(v);
	return r;
}

void vault_free(struct vault *v)
{
	if (!v)
		return;
	state_release(v);
	if (v->fd >= 0)
		close(v->fd);
	if (v->lockfd >= 0)
		close(v->lockfd);   /* releases the flock */
	buf_release(&v->pending);
	buf_release(&v->spare);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	st_wipe(v, sizeof(*v));
	free(v);
}

/* ---- compaction ------------------------------------------------------ */

static int out_frame(int fd, struct buf *b, uint64_t *pos, const uint8_t *frame, size_t n)
{
	int r = 0;
	if (b->len + n > b->max) {
		r = write_all(fd, b->data, b->len);
		b->len = 0;
		if (r < 0)
			return r;
	}
	*pos += n;
	return buf_append(b, frame, n);
}

int vault_compact(struct vault *v, char *err, size_t cap)
{
	char tmp[PATH_MAX];
	uint8_t f[FRAME_HDR + BODY_MAX];
	struct buf out = BUF_INIT((size_t)1 << 20);
	struct subj *ns = NULL;
	struct ent *ne = NULL;
	uint32_t *map = NULL;
	size_t nns = 0, nne = 0;
	uint64_t pos = 0;
	int fd = -1, r;

	if (snprintf(tmp, sizeof(tmp), "%s.compact", v->path) >= (int)sizeof(tmp))
		return fail(err, cap, -ENAMETOOLONG, "compact: %s: path too long", v->path);
	pthread_mutex_lock(&v->mu);
	r = drain(v);
	if (r < 0 || v->fd < 0) {
		r = fail(err, cap, ST_ESTICKY, "compact: writes stopped after an earlier I/O failure");
		goto out_unlock;
	}
	ns = calloc(v->nsubj + 1, sizeof(*ns));
	ne = calloc(v->nent + 1, sizeof(*ne));
	map = calloc(v->nsubj + 1, sizeof(*map));
	if (!ns || !ne || !map) {
		r = -ENOMEM;
		goto out_fail;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out_fail;
	}
	if ((r = out_frame(fd, &out, &pos, v->hdr, HDR_SIZE)) < 0)
		goto out_fail;
	/* Live keys first, so every entry follows the key it names. */
	for (size_t i = 0; i < v->nsubj; i++) {
		map[i] = NO_SUBJ;
		if (v->subj[i].state != S_LIVE)
			continue;
		if ((r = pread_all(v->fd, f, FRAME_HDR + KEY_BODY, (off_t)v->subj[i].off)) < 0)
			goto out_fail;
		ns[nns] = v->subj[i];
		ns[nns].off = pos;
		ns[nns].batch = 0;
		ns[nns].nentries = 0;
		map[i] = (uint32_t)nns++;
		if ((r = out_frame(fd, &out, &pos, f, FRAME_HDR + KEY_BODY)) < 0)
			goto out_fail;
	}
	for (size_t i = 0; i < v->nent; i++) {
		const struct ent *e = &v->ent[i];
		uint32_t si = e->subj == NO_SUBJ ? NO_SUBJ : map[e->subj];
		size_t fl;
		ne[nne] = *e;
		ne[nne].off = pos;
		ne[nne].batch = 0;
		ne[nne].subj = si;
		if (si != NO_SUBJ) {
			fl = e->len;
			if ((r = pread_all(v->fd, f, fl, (off_t)e->off)) < 0)
				goto out_fail;
			put_le64(f + FRAME_HDR + ENT_KEYOFF, ns[si].off);
			ns[si].nentries++;
		} else {
			fl = FRAME_HDR + TOMB_BODY;
			f[FRAME_HDR] = REC_TOMB;
			memcpy(f + FRAME_HDR + ENT_TTAG, e->ttag, TTAG_LEN);
			memcpy(f + FRAME_HDR + ENT_MAC, e->mac, VAULT_MAC_LEN);
		}
		frame_put(f, f + FRAME_HDR, fl - FRAME_HDR);
		ne[nne++].len = (uint32_t)fl;
		if ((r = out_frame(fd, &out, &pos, f, fl)) < 0)
			goto out_fail;
	}
	if ((r = write_all(fd, out.data, out.len)) < 0)
		goto out_fail;
	if (fsync(fd) < 0 || rename(tmp, v->path) < 0) {
		r = -errno;
		goto out_fail;
	}
	/* Renamed: the new file is the vault now, whatever follows. */
	v->gen++;
	close(v->fd);
	v->fd = fd;
	fd = -1;
	v->written = v->end = pos;
	r = fsync_parent(v->path);
	if (r < 0)
		v->failed = r;   /* the rename may not be durable: stop writing */
	state_release(v);
	v->subj = ns;
	v->nsubj = nns;
	v->capsubj = v->nsubj + 1;
	v->ent = ne;
	v->nent = nne;
	v->capent = v->nent + 1;
	ns = NULL;
	ne = NULL;
	if (htab_init(&v->by_sid, nns) < 0 || htab_init(&v->by_mac, nne) < 0) {
		v->failed = -ENOMEM;
		r = fail(err, cap, -ENOMEM, "compact: out of memory rebuilding the index");
		goto out_unlock;
	}
	for (size_t i = 0; i < nns; i++)
		sid_set(v, (uint32_t)i);
	for (size_t i = 0; i < nne; i++)
		mac_add(v, (uint32_t)i);
	if (r < 0)
		r = fail(err, cap, r, "compact: %s: fsync of the directory: %s", v->path,
			 st_strerror(r));
	goto out_unlock;

out_fail:
	r = fail(err, cap, r, "compact: %s: %s", tmp, st_strerror(r));
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
out_unlock:
	pthread_mutex_unlock(&v->mu);
	if (ns) {
		st_wipe(ns, (v->nsubj + 1) * sizeof(*ns));
		free(ns);
	}
	free(ne);
	free(map);
	buf_release(&out);
	return r;
}

void vault_stats(struct vault *v, struct vault_stats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < v->nsubj; i++) {
		if (v->subj[i].state == S_LIVE) {
			s->subjects++;
		} else {
			s->subjects_erased++;
			s->dead_bytes += FRAME_HDR + KEY_BODY + FRAME_HDR + ERASE_BODY;
		}
	}
	for (size_t i = 0; i < v->nent; i++) {
		const struct ent *e = &v->ent[i];
		if (e->subj != NO_SUBJ && v->subj[e->subj].state == S_LIVE) {
			s->entries++;
		} else {
			s->entries_erased++;
			s->dead_bytes += e->len - (FRAME_HDR + TOMB_BODY);
		}
	}
	s->file_bytes = v->end;
	s->commits = v->commits;
	pthread_mutex_unlock(&v->mu);
}
