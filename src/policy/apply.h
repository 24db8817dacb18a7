/*
 * apply.h - the redaction step of the policy pipeline: one event in, the
 * event as it will be committed out (docs/REDACTION.md).
 *
 * For every value of the event (rewrite.h walks it), in this order:
 *   1. an explicit field rule of the policy (policy_field) decides:
 *      drop, mask, hash, tokenize, or keep;
 *   2. otherwise, for a string, the detectors enabled in the view run on
 *      the decoded value (detect_scan), and each hit gets its detector's
 *      action - on the hit's span only (mask, hash, tokenize) or on the
 *      whole value (drop); the data of a Kubernetes Secret is a hit on the
 *      whole value;
 *   3. under a `keep` rule the detectors still run, and a hit there is a
 *      *redaction miss*: counted (never the value), nothing changed.
 * A rule on an object or array drops it whole, or applies its mask, hash
 * or tokenize to every string inside it.
 *
 *   mask      the characters between keep_prefix and keep_suffix become
 *             '*' (counted in code points, so the length stays visible,
 *             like a card's **** **** **** 1234);
 *   hash      "hmac:" + base64url(HMAC-SHA-256(tenant key, value))[:22],
 *             the tenant key derived from the server's policy key, so equal
 *             values correlate inside a tenant and nowhere else;
 *   tokenize  the vault's token (vault.h), the subject being the value of
 *             the rule's subject field when the event has one.
 * Numbers and booleans under a mask, hash or tokenize rule are treated as
 * their text and become strings.
 *
 * What changed is listed in the event as the server-owned member
 * `"redacted":[{"path":P,"action":A,"detector":D,"count":N}]` (detector
 * only for detector hits; count only above 1), one entry per distinct
 * (path, action, detector), at most APPLY_REDACTED_MAX entries, then
 * {"more":N}. Never the original value.
 *
 * Criticality: the policy's level (policy_crit_field per value) is given
 * back; the caller stores it and uses it for disk-space decisions.
 */
#ifndef SEALTRAIL_POLICY_APPLY_H
#define SEALTRAIL_POLICY_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "event/event.h"
#include "policy/detect.h"
#include "policy/policy.h"

struct vault;

#define APPLY_KEY_BYTES 32
#define APPLY_REDACTED_MAX 32
#define APPLY_HASH_PREFIX "hmac:"
#define APPLY_HASH_CHARS 22          /* base64url of 16 bytes */

/* What the step needs, shared by every ingest thread (read-only). */
struct apply_env {
	const struct policy *policy;
	struct vault *vault;             /* NULL: a tokenize rule refuses the event */
	uint8_t key[APPLY_KEY_BYTES];    /* the policy key: hash keys derive from it */
};

/* Counts from one event, for the metrics. */
struct apply_counts {
	uint32_t by_rule[POLICY_KEEP + 1];                  /* explicit rules by action */
	uint32_t by_det[DET_COUNT][POLICY_KEEP + 1];        /* detector hits by action */
	uint32_t misses[DET_COUNT];                         /* hits under `keep` */
};

struct apply_result {
	enum policy_crit crit;           /* final (never UNSET) */
	const struct policy_sample *sample;  /* the sample class, or NULL */
	const struct policy_schema *schema;  /* the policy's default schema binding, or NULL */
	size_t changed;                  /* values dropped or replaced */
	uint64_t vault_batch;            /* 0, or the vault group its tokens need durable:
					  * vault_wait before the event is stored */
	struct apply_counts counts;
	char err[200];                   /* when apply_event fails: why, naming the path */
};

/* Per-thread scratch (reused across events; release with apply_scratch_release). */
struct apply_scratch {
	struct buf out, repl, redacted;
	struct actx *a;              /* the walk's state (about 15 KiB, with its cache of views), made once */
};
void apply_scratch_init(struct apply_scratch *s);
void apply_scratch_release(struct apply_scratch *s);

/*
 * Applies the policy to the compact event in[0..n) of tenant[0..tl), whose
 * parse gave info (action, outcome, resource type). On success (0) the
 * rewritten event is in s->out (the same bytes when nothing changed) and,
 * when something was, the `,"redacted":[...]` member to add is in
 * s->redacted (else it is empty). Errors: ST_EINVAL / ST_ELIMIT / a vault
 * error with res->err saying which path and why; the event must then be
 * refused (never stored unredacted).
 */
int apply_event(const struct apply_env *env, const char *tenant, size_t tl,
		const struct event_info *info, const uint8_t *in, size_t n,
		struct apply_scratch *s, struct apply_result *res);

/* "hmac:..." of value[0..n) for tenant[0..tl) into out (appended). */
int apply_hash(const uint8_t key[APPLY_KEY_BYTES], const char *tenant, size_t tl,
	       const char *value, size_t n, struct buf *out);

/* value[0..n) masked: code points after the first keep_prefix and before
 * the last keep_suffix become '*' (appended to out). */
int apply_mask(const char *value, size_t n, unsigned keep_prefix, unsigned keep_suffix,
	       struct buf *out);

#endif
