/*
 * policy.h - the policy file (docs/POLICY.md): what must happen to an
 * event's fields, which detectors run and how, how critical an event is,
 * which low-value classes are sampled, and which schema an action is bound
 * to by default.
 *
 * policy_parse() compiles a file into an immutable struct policy. Nothing
 * in it changes after policy_parse() returns, so any number of threads may
 * call the lookups on one policy at once; a reload parses a new policy and
 * the server swaps the pointer, freeing the old one when no thread holds
 * it any more (the server's business, not this file's).
 *
 * The lookups are made for the ingest hot path:
 *   - policy_view() once per event resolves (tenant, action) into the
 *     ordered list of scopes that apply, on the caller's stack;
 *   - policy_field() once per value gives the explicit field rule, if any;
 *   - policy_detector() gives a detector's setting for the view.
 * None of them allocates, locks or writes anything but the caller's view.
 *
 * Precedence (docs/POLICY.md has examples): the scopes that apply to an
 * event are ordered by tenant first (a literal tenant, then tenant globs,
 * then every tenant), then by action (sections with an action glob before
 * sections for every action, so the top of the file is the default), then
 * by file order; within a scope, directives keep file order. The first field rule, detector setting, sample rule or
 * schema binding met in that order wins. Criticality is the exception: the
 * highest level any matching rule gives wins, so no scope can demote an
 * event another scope calls critical.
 *
 * Library code: nothing here logs. Errors go to struct policy_error.
 */
#ifndef SEALTRAIL_POLICY_POLICY_H
#define SEALTRAIL_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"
#include "policy/detect.h"

/* Limits; a refusal names the limit. */
#define POLICY_FILE_MAX (1u << 20)     /* bytes of a policy file */
#define POLICY_LINE_MAX 4096           /* bytes of one line, without its newline */
#define POLICY_SECTIONS_MAX 1024       /* [sections] in a file */
#define POLICY_RULES_MAX 4096          /* directives of all kinds in a file */
#define POLICY_GLOB_MAX 255            /* bytes of a path or action glob (= JW_PATH_MAX) */
#define POLICY_VALUE_GLOB_MAX 255      /* bytes of a value glob */
#define POLICY_NAME_MAX 64             /* tenant, class and schema names, schema versions */
#define POLICY_TENANT_SCOPES_MAX 32    /* sections naming one literal tenant */
#define POLICY_SHARED_SCOPES_MAX 32    /* sections with a tenant glob or "*" (the top counts) */
#define POLICY_VIEW_MAX (POLICY_TENANT_SCOPES_MAX + POLICY_SHARED_SCOPES_MAX)
#define POLICY_MASK_KEEP_MAX 64        /* keep_prefix / keep_suffix, in characters */

/* What happens to a value. POLICY_KEEP: explicitly allowed; detectors do
 * not transform it, but a detector hit there is a "redaction miss". */
enum policy_action {
	POLICY_DROP = 1,
	POLICY_MASK,
	POLICY_HASH,
	POLICY_TOKENIZE,
	POLICY_KEEP,
};

/* The detectors are detect.h's (enum detector, detector_name,
 * detector_by_name): one list, whose names appear in policy files and in
 * stored events' `redacted` lists. */

/* Ordered: a higher value is more critical. POLICY_CRIT_UNSET is what no
 * matching rule gives; policy_crit_final() turns it into NORMAL. */
enum policy_crit {
	POLICY_CRIT_UNSET = 0,
	POLICY_CRIT_LOW,
	POLICY_CRIT_NORMAL,
	POLICY_CRIT_HIGH,
	POLICY_CRIT_CRITICAL,
};

/* "drop", "mask", ...; "email", "card", ...; "low", ... "critical"
 * ("unset" for POLICY_CRIT_UNSET). "invalid" outside the enums. Never NULL. */
const char *policy_action_name(enum policy_action a);
const char *policy_crit_name(enum policy_crit c);

/*
 * A field rule or a detector setting: the action and its options. Owned
 * by the policy, read-only, valid until policy_free().
 */
struct policy_rule {
	enum policy_action action;
	uint8_t keep_prefix;     /* mask: characters kept at the start (0..64) */
	uint8_t keep_suffix;     /* mask: characters kept at the end (0..64) */
	/* tokenize: the dotted path of the event field whose value names the
	 * data subject (e.g. "actor.id"), NUL-terminated; NULL when the value
	 * itself is the subject. */
	const char *subject;
	size_t subject_len;
	/* Field rules: the path glob and the value glob (NULL when none), as
	 * written after unquoting, NUL-terminated. Detector settings: both
	 * NULL. For diagnostics; the lookups use compiled forms. */
	const char *path;
	const char *value;
	unsigned line;           /* line in the file; 0 for the built-in default */
};

struct policy_sample {
	const char *cls;         /* class name, NUL-terminated */
	double rate;             /* 0 < rate <= 1: the share of events kept */
	unsigned line;
};

struct policy_schema {
	/* NUL-terminated; both NULL for `schema none` (no default binding). */
	const char *name;
	const char *version;
	unsigned line;
};

struct policy;
struct psection;   /* a compiled [section]; private to policy.c */

/* The rules of a view whose last path segment holds a '*', listed in
 * the view for policy_field (more than this: its per-scope loop). */
#define POLICY_VIEW_WILD_MAX 16

/*
 * The policy as it applies to one (tenant, action): filled by
 * policy_view() on the caller's stack (about 700 bytes), read by the
 * functions below. Valid while the policy is. Treat as opaque except for
 * the documented read-only fields.
 */
struct policy_view {
	const struct policy *p;
	unsigned nsec;                                  /* scopes that apply */
	const struct psection *sec[POLICY_VIEW_MAX];    /* in precedence order */
	bool has_fields;                                /* any field rule to look up */
	bool has_crit_fields;                           /* any criticality rule with a field */
	enum policy_crit crit;                          /* from rules without a field condition */
	uint16_t det_on;                                /* bit d set: detector d runs */
	const struct policy_schema *schema;             /* NULL: no binding */
	/* Private to policy.c: the scopes' filters merged, so that a path no
	 * literal last segment of the view matches is decided by the wild
	 * rules alone (field) or at once (criticality). */
	uint64_t tail_bloom[4], crit_bloom[4];
	bool crit_wild;                                 /* a criticality path ends in a '*' */
	uint8_t nwild;                                  /* POLICY_VIEW_WILD_MAX + 1: too many */
	struct { uint8_t sec; uint16_t rule; } wild[POLICY_VIEW_WILD_MAX];
};

struct policy_error {
	char file[128];          /* as given to policy_parse (cut to fit) */
	unsigned line, col;      /* 1-based; 0 when the error is not at a place (file size, I/O) */
	char msg[200];           /* what was expected and what was found, or the limit */
};

/* "FILE:LINE:COL: MSG" (or "FILE: MSG" without a place) into out[0..cap). */
void policy_error_format(const struct policy_error *e, char *out, size_t cap);

/*
 * Compiles text[0..n) (the bytes of file file_name, used in errors only).
 * Returns 0 and *ret (free with policy_free), or ST_EINVAL / ST_ELIMIT with
 * *err filled and *ret untouched, or -ENOMEM. text need not be
 * NUL-terminated; it is not referenced after the call.
 */
int policy_parse(const char *text, size_t n, const char *file_name,
		 struct policy **ret, struct policy_error *err);

/* Reads path (at most POLICY_FILE_MAX bytes) and compiles it. -errno when
 * it cannot be read, with err->msg saying so. */
int policy_load(const char *path, struct policy **ret, struct policy_error *err);

/* Accepts NULL. */
void policy_free(struct policy *p);

/*
 * The canonical text of the policy (docs/POLICY.md, "Canonical form"):
 * comments and spacing gone, every token in one spelling, every section
 * header with both tenant and action. Parsing it gives a policy whose
 * canonical text is the same bytes. Appends to out: 0, -ENOMEM or
 * ST_ELIMIT.
 */
int policy_format(const struct policy *p, struct buf *out);

/* SHA-256 of the canonical text: stable under comments, spacing, quoting
 * and spelling; changes with any rule, its order or its scope. */
void policy_digest(const struct policy *p, uint8_t out[HASH_SIZE]);

/* A number that names this policy object for the life of the process:
 * two policies never share one, even when one is freed and the other
 * allocated at its address (a key for caches of policy_view results). */
uint64_t policy_serial(const struct policy *p);

/* SHA-256 of the file's bytes as parsed. */
void policy_source_digest(const struct policy *p, uint8_t out[HASH_SIZE]);

/*
 * One line for an audit event or a log line: the canonical digest and
 * counts only, never a path, value or name from the file, e.g.
 * "policy sha256:3f2a...(64) sections=5 tenants=2 field_rules=14
 *  value_rules=2 detector_settings=4 crit_rules=3 sample_rules=2
 *  schema_bindings=1 lines=88". NUL-terminated, cut to cap.
 */
void policy_describe(const struct policy *p, char *out, size_t cap);

/*
 * Resolves the scopes that apply to tenant[0..tl) and action[0..al) into
 * *v, and the view-wide settings: detectors, base criticality, schema.
 * action[0..al) must be readable (not NULL). tenant may be NULL or empty
 * (an event without a tenant matches only "*" scopes). Never fails; cost
 * grows with the sections that name this tenant or a tenant glob, not
 * with the file.
 */
void policy_view(const struct policy *p, const char *tenant, size_t tl,
		 const char *action, size_t al, struct policy_view *v);

/*
 * The explicit rule for the value at dotted path[0..pl) (jwalk's form:
 * an array element carries the array's path), or NULL when none applies
 * and detectors decide. value[0..vl) is the decoded string (or raw text
 * of a non-string); value == NULL matches only rules without a value glob.
 * The first matching rule in precedence order wins.
 */
const struct policy_rule *policy_field(const struct policy_view *v,
				       const char *path, size_t pl,
				       const char *value, size_t vl);

/* A detector's setting in this view (its action and options), or NULL
 * when it is off. v->det_on says which detectors run without a call; ask
 * this when one hits. The first scope in precedence order that names the
 * detector (or says `detector *`) decides; none: on, mask. */
const struct policy_rule *policy_detector(const struct policy_view *v, enum detector d);

/*
 * Criticality. The level is the highest that any matching criticality
 * rule gives: v->crit covers the rules without a field condition; for
 * rules with one (`criticality high field=objectRef.resource value=secrets`),
 * call policy_crit_field() on each value when v->has_crit_fields, passing
 * the level so far; policy_crit_final() at the end maps "no rule" to
 * NORMAL.
 */
enum policy_crit policy_crit_field(const struct policy_view *v,
				   const char *path, size_t pl,
				   const char *value, size_t vl,
				   enum policy_crit so_far);

/* The same two lookups with the work on the path done once
 * (policy_key), for a caller that asks both about each value. k->path
 * must stay valid while k is used. */
struct policy_key {
	const char *path;
	size_t pl;
	uint32_t th;   /* the last segment's filter key and length */
	size_t tl;
};
void policy_key(struct policy_key *k, const char *path, size_t pl);
const struct policy_rule *policy_field_key(const struct policy_view *v, const struct policy_key *k,
					   const char *value, size_t vl);
enum policy_crit policy_crit_field_key(const struct policy_view *v, const struct policy_key *k,
				       const char *value, size_t vl, enum policy_crit so_far);

/* For the tests and the fuzz target: policy_field and policy_crit_field
 * by their definition, every rule of every scope of the view matched with
 * policy_glob_path / policy_glob_flat, none of the filters that make the
 * real ones fast. Both must give the same answers. */
const struct policy_rule *policy_field_ref(const struct policy_view *v,
					   const char *path, size_t pl,
					   const char *value, size_t vl);
enum policy_crit policy_crit_field_ref(const struct policy_view *v,
				       const char *path, size_t pl,
				       const char *value, size_t vl,
				       enum policy_crit so_far);
static inline enum policy_crit policy_crit_final(enum policy_crit c)
{
	return c == POLICY_CRIT_UNSET ? POLICY_CRIT_NORMAL : c;
}

/*
 * The sample class for an event of this view with this outcome (NULL /
 * 0 when absent) and final criticality: the first matching sample rule,
 * or NULL when none matches or crit is POLICY_CRIT_CRITICAL (critical
 * events are never sampled, whatever the file says).
 */
const struct policy_sample *policy_sample(const struct policy_view *v,
					  const char *outcome, size_t ol,
					  enum policy_crit crit);

/* The default schema binding of this view, or NULL (also for `schema none`). */
static inline const struct policy_schema *policy_view_schema(const struct policy_view *v)
{
	return v->schema && v->schema->name ? v->schema : NULL;
}

/*
 * The glob matchers, exposed for tests and for callers that keep their
 * own patterns. Paths and actions: '.' separates segments; '*' matches
 * any run of bytes within one segment; a segment that is exactly "**"
 * matches zero or more whole segments. Flat (tenants, values): '*'
 * matches any run of bytes. No other byte is special. Neither allocates;
 * both are O(len(pattern) * len(s)) at worst.
 */
bool policy_glob_path(const char *pat, size_t pl, const char *s, size_t sl);
bool policy_glob_flat(const char *pat, size_t pl, const char *s, size_t sl);

#endif
