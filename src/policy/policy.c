/*
 * policy.c - the policy file's parser, its compiled form and the lookups
 * of the ingest hot path (policy.h, docs/POLICY.md).
 *
 * Shape of the compiled policy:
 *   - sections in file order; sec[0] is the implicit top scope (every
 *     tenant, every action). Duplicate headers are refused, so a section's
 *     directives are exactly the lines under its one header.
 *   - each section keeps its field rules in file order, with a parallel
 *     array of small filters (a constant-time key and the length of the
 *     last path segment, or "wild" when that segment holds a '*'; the
 *     glob's literal prefix), a 64-bit Bloom word of its rules' keys and
 *     the list of its wild rules: a lookup whose key misses the Bloom word
 *     tries only the wild rules, most others fail on one compare, and
 *     nothing allocates;
 *   - literal tenants sit in an open-addressing table, each with the
 *     sections that name it; sections with a tenant glob or "*" sit in one
 *     short list. Both are kept in precedence order (tenant rank, then
 *     sections with an action glob before sections for every action, then
 *     file order), so a view is their concatenation filtered by the action
 *     glob, and the first match in it wins.
 *
 * Invariants:
 *   - after policy_parse() returns, nothing in struct policy is written
 *     again until policy_free(): every lookup is read-only, so sharing one
 *     policy between threads needs no lock;
 *   - policy_format(parse(policy_format(p))) == policy_format(p) byte for
 *     byte (tests/fuzz/fuzz_policy.c checks it), so the digest is stable;
 *   - no error leaves a half-built policy behind: *ret is set only on
 *     success.
 */
#include "policy/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/util.h"

#define TAIL_WILD 0xFFFFu
/* 256 bits: with the example's 11 literal last segments in one section,
 * about 1 lookup in 25 of another segment passes the filter. */
#define TAIL_BLOOM_WORDS 4
#define MAX_TOKENS 64
#define NONE ((size_t)-1)

static const char *const action_names[] = {
	NULL, "drop", "mask", "hash", "tokenize", "keep",
};
static const char *const crit_names[] = {
	"unset", "low", "normal", "high", "critical",
};
static const char *const outcome_names[] = { "success", "failure", "denied", "unknown" };

/* A detector nobody configured: on, masking the whole match. */
static const struct policy_rule default_detector = { .action = POLICY_MASK };

const char *policy_action_name(enum policy_action a)
{
	return a >= POLICY_DROP && a <= POLICY_KEEP ? action_names[a] : "invalid";
}

const char *policy_crit_name(enum policy_crit c)
{
	return (unsigned)c <= POLICY_CRIT_CRITICAL ? crit_names[c] : "invalid";
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !memcmp(s, w, n);
}

/* ---- glob matching: no allocation, no recursion ---- */

bool policy_glob_flat(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star = NONE, mark = 0;

	/* Greedy with one backtrack point: the last '*' seen absorbs one more
	 * byte when the rest fails. Correct because a later '*' can absorb
	 * anything an earlier one could. */
	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			star = ++pi;
			mark = si;
		} else if (pi < pl && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != NONE) {
			pi = star;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

/* End of the segment that starts at i: the next '.' or n. A loop, not
 * memchr: segments are a few bytes, and the call costs more than the scan. */
static inline size_t seg_end(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] != '.')
		i++;
	return i;
}

static bool is_dstar(const char *s, size_t n)
{
	return n == 2 && s[0] == '*' && s[1] == '*';
}

bool policy_glob_path(const char *p, size_t pl, const char *s, size_t sl)
{
	/* Segment positions; pos == len + 1 means "no segment left" (a
	 * string of length n has segments starting at 0 and after each '.').
	 * The same one-backtrack-point walk as policy_glob_flat, over
	 * segments: "**" is the star, every other pattern segment matches
	 * exactly one string segment (byte for byte when it has no '*'). */
	size_t pi = 0, si = 0, bp = NONE, bs = 0;

	for (;;) {
		if (si > sl) {
			while (pi <= pl) {
				size_t pe = seg_end(p, pl, pi);
				if (!is_dstar(p + pi, pe - pi))
					return false;
				pi = pe + 1;
			}
			return true;
		}
		size_t se = seg_end(s, sl, si);
		if (pi <= pl) {
			size_t pe = pi;
			bool star = false;
			while (pe < pl && p[pe] != '.')
				star |= p[pe++] == '*';
			if (star && is_dstar(p + pi, pe - pi)) {
				pi = pe + 1;
				bp = pi;
				bs = si;
				continue;
			}
			if (star ? policy_glob_flat(p + pi, pe - pi, s + si, se - si) :
				   pe - pi == se - si && !memcmp(p + pi, s + si, se - si)) {
				pi = pe + 1;
				si = se + 1;
				continue;
			}
		}
		if (bp == NONE)
			return false;
		pi = bp;
		bs = seg_end(s, sl, bs) + 1;
		si = bs;
	}
}

/* ---- the compiled form ---- */

/* One compare rejects most rules: a rule whose last path segment is
 * literal can only match a path with that last segment. The bytes before
 * the first '*' must start the path too. */
enum { PF_EXACT, PF_GLOB, PF_ANY };
struct pfilter {
	uint32_t tail_hash;
	uint16_t tail_len;     /* TAIL_WILD: the last segment holds a '*' */
	uint8_t kind;          /* PF_EXACT: no '*', compare bytes; PF_ANY: "**" */
	uint8_t has_value;
	/* has_value and the value glob starts with a literal byte: a value
	 * must start with vfirst (most values are refused without a call) */
	uint8_t vlit, vfirst;
	uint16_t prefix_len;   /* PF_GLOB: literal bytes before the first '*' */
	uint16_t skip;         /* PF_GLOB: whole literal segments in the prefix (bytes, with their '.') */
};

struct prule {
	struct policy_rule pub;
	size_t plen, vlen;
	bool from_value;       /* written as `value GLOB ...` (kept for counts) */
};

struct pcrit {
	enum policy_crit level;
	const char *path;      /* NULL: no field condition */
	size_t plen;
	const char *value;     /* NULL: any value */
	size_t vlen;
	struct pfilter flt;
	unsigned line;
};

struct psamp {
	struct policy_sample pub;
	int outcome;           /* index in outcome_names, or -1 for any */
	uint32_t ppb;          /* the rate in parts per billion: the canonical form */
};

enum tenant_kind { T_LITERAL, T_GLOB, T_ANY };

struct psection {
	unsigned line;               /* the header's line; 0 for the top */
	enum tenant_kind tkind;
	const char *tenant;          /* "*" for T_ANY */
	size_t tlen;
	const char *action;          /* path glob; "**" when the header names none */
	size_t alen;
	bool action_all;
	struct pfilter aflt;         /* the action glob's filter */

	struct prule *rules;
	struct pfilter *flt;
	unsigned nrules, caprules;
	/* A lookup whose last segment's key misses tail_bloom (bloom_bit)
	 * can only match the rules listed in wild (last segment with a '*'),
	 * in file order. */
	uint64_t tail_bloom[TAIL_BLOOM_WORDS];
	/* the same for the criticality rules with a field: a literal last
	 * segment's bit in crit_bloom, else crit_wild */
	uint64_t crit_bloom[TAIL_BLOOM_WORDS];
	bool crit_wild;
	unsigned *wild;
	unsigned nwild;

	struct pcrit *crit;
	unsigned ncrit, capcrit;
	enum policy_crit crit_base;  /* highest level of the rules without a field */
	bool crit_cond;              /* has rules with a field */

	struct psamp *samp;
	unsigned nsamp, capsamp;

	/* Detector settings: as written (named, and the `detector *` line),
	 * then det_set/det_on with '*' applied to the unnamed ones. */
	uint16_t named_set, named_on;
	bool star_set, star_on;
	struct policy_rule star;
	unsigned star_line;
	uint16_t det_set, det_on;
	struct policy_rule det[DET_COUNT];

	bool has_schema;
	struct policy_schema schema;

	unsigned ndirectives;
};

struct ptenant {
	const char *name;            /* NULL: empty slot */
	size_t len;
	uint32_t hash;
	unsigned nsec;
	const struct psection *sec[POLICY_TENANT_SCOPES_MAX];
};

struct ablock {
	struct ablock *next;
	size_t used, cap;
	char data[];
};

struct policy {
	struct psection **sec;       /* file order; sec[0] is the top */
	unsigned nsec, capsec;
	const struct psection *shared[POLICY_SHARED_SCOPES_MAX];
	unsigned nshared;
	struct ptenant *tenants;     /* open addressing, tcap a power of two */
	unsigned tcap, ntenants;
	struct ablock *arena;
	uint8_t digest[HASH_SIZE], src_digest[HASH_SIZE];
	unsigned lines;
	unsigned nsections, nfield, nvalue, ndet, ncrit, nsamp, nschema;
	uint64_t serial;             /* policy_serial() */
};

_Static_assert(TAIL_BLOOM_WORDS == sizeof(((struct policy_view *)0)->tail_bloom) / sizeof(uint64_t),
	       "the view's blooms are the sections' blooms merged");
_Static_assert(POLICY_VIEW_MAX <= UINT8_MAX && POLICY_RULES_MAX <= UINT16_MAX,
	       "a view's wild rule is a scope index and a rule index");

/* The serials: never 0, never reused within a process. */
static _Atomic uint64_t last_serial;

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static char *arena_dup(struct policy *p, const char *s, size_t n)
{
	struct ablock *b = p->arena;
	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > 16384 ? n + 1 : 16384;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = p->arena;
		p->arena = b;
	}
	char *d = b->data + b->used;
	memcpy(d, s, n);
	d[n] = 0;
	b->used += n + 1;
	return d;
}

/* Makes room for one more element in *arr (n used of *cap). */
static int grow(void *arr, unsigned *cap, unsigned n, size_t elem)
{
	void **a = arr;
	if (n < *cap)
		return 0;
	unsigned nc = *cap ? *cap * 2 : 4;
	void *na = realloc(*a, (size_t)nc * elem);
	if (!na)
		return -ENOMEM;
	*a = na;
	*cap = nc;
	return 0;
}

/* A cheap key of a last segment for the filters: constant time whatever
 * its length, since a match is confirmed byte for byte anyway. */
static inline uint32_t tail_key(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return (uint32_t)n ^ (uint32_t)(uint8_t)s[0] << 8 ^ (uint32_t)(uint8_t)s[n / 2] << 16 ^
	       (uint32_t)(uint8_t)s[n - 1] << 24;
}

/* A key's bit in a section's tail_bloom. Multiplied first: the key's low
 * bits are the length alone (a bit taken from them let every segment of
 * a rule's length through: `outcome` and `service` with `api_key`). */
static inline unsigned bloom_bit(uint32_t key)
{
	return (key * 2654435761u) >> (32 - 8);
}

static inline bool bloom_has(const uint64_t *bloom, unsigned bit)
{
	return (bloom[bit / 64] >> (bit % 64)) & 1;
}

static void filter_init(struct pfilter *f, const char *path, size_t n, bool has_value)
{
	size_t t = n;
	while (t > 0 && path[t - 1] != '.')
		t--;
	const char *star = memchr(path, '*', n);
	f->kind = !star ? PF_EXACT : is_dstar(path, n) ? PF_ANY : PF_GLOB;
	f->prefix_len = star ? (uint16_t)(star - path) : 0;
	f->skip = f->prefix_len;
	while (f->skip > 0 && path[f->skip - 1] != '.')
		f->skip--;
	f->has_value = has_value;
	f->vlit = 0;     /* set by the caller that knows the value glob */
	f->vfirst = 0;
	if (memchr(path + t, '*', n - t)) {
		f->tail_len = TAIL_WILD;
		f->tail_hash = 0;
	} else {
		f->tail_len = (uint16_t)(n - t);
		f->tail_hash = tail_key(path + t, n - t);
	}
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nsec; i++) {
		struct psection *s = p->sec[i];
		free(s->rules);
		free(s->flt);
		free(s->wild);
		free(s->crit);
		free(s->samp);
		free(s);
	}
	free(p->sec);
	free(p->tenants);
	while (p->arena) {
		struct ablock *b = p->arena;
		p->arena = b->next;
		free(b);
	}
	free(p);
}

/* ---- the parser ---- */

struct tok {
	char *s;          /* unquoted text, NUL-terminated, in the line scratch */
	size_t n;
	unsigned col;     /* 1-based column of its first byte */
	size_t eq;        /* index in s of the first unquoted '=', or NONE */
	unsigned eqcol;
	bool endq;        /* its last byte came from inside quotes */
};

struct pstate {
	struct policy *p;
	struct psection *cur;
	unsigned line;
	struct policy_error *err;
	unsigned ndirectives;
	unsigned nshared_headers;
	bool seen_version;
	char scratch[2 * POLICY_LINE_MAX + 2];
	struct tok t[MAX_TOKENS];
	unsigned nt;
};

static int fail(struct pstate *st, int code, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct pstate *st, int code, unsigned col, const char *fmt, ...)
{
	va_list ap;
	st->err->line = st->line;
	st->err->col = col;
	va_start(ap, fmt);
	vsnprintf(st->err->msg, sizeof(st->err->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Splits line[0..n) into tokens: runs of non-blank bytes, where "..."
 * quotes blanks and '#' (inside quotes only \" and \\ are escapes); a
 * token that starts with '#' starts a comment. */
static int tokenize(struct pstate *st, const char *line, size_t n)
{
	char *o = st->scratch;
	size_t i = 0;

	st->nt = 0;
	for (;;) {
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == n || line[i] == '#')
			return 0;
		if (st->nt == MAX_TOKENS)
			return fail(st, ST_ELIMIT, (unsigned)i + 1,
				    "more than %d words on a line (the parser's limit)", MAX_TOKENS);
		struct tok *t = &st->t[st->nt++];
		t->s = o;
		t->col = (unsigned)i + 1;
		t->eq = NONE;
		t->endq = false;
		while (i < n && line[i] != ' ' && line[i] != '\t') {
			unsigned char c = (unsigned char)line[i];
			if (c == '"') {
				size_t q = i++;
				for (;;) {
					if (i == n)
						return fail(st, ST_EINVAL, (unsigned)q + 1,
							    "expected a closing '\"' for the quote opened here");
					c = (unsigned char)line[i];
					if (c == '"')
						break;
					if (c == '\\') {
						if (i + 1 == n || (line[i + 1] != '"' && line[i + 1] != '\\'))
							return fail(st, ST_EINVAL, (unsigned)i + 1,
								    "expected \\\" or \\\\ inside quotes");
						c = (unsigned char)line[++i];
					} else if (c < 0x20 || c == 0x7f) {
						return fail(st, ST_EINVAL, (unsigned)i + 1,
							    "expected text, found control byte 0x%02x", c);
					}
					*o++ = (char)c;
					i++;
				}
				i++;
				t->endq = true;
				continue;
			}
			if (c < 0x20 || c == 0x7f)
				return fail(st, ST_EINVAL, (unsigned)i + 1,
					    "expected text, found control byte 0x%02x", c);
			if (c == '=' && t->eq == NONE) {
				t->eq = (size_t)(o - t->s);
				t->eqcol = (unsigned)i + 1;
			}
			*o++ = (char)c;
			t->endq = false;
			i++;
		}
		t->n = (size_t)(o - t->s);
		*o++ = 0;
	}
}

/* Checks a path or action glob; 0, or fails at col naming what is wrong. */
static int check_path_glob(struct pstate *st, const char *what, const char *s, size_t n,
			   unsigned col, bool allow_star)
{
	if (n == 0)
		return fail(st, ST_EINVAL, col, "expected %s, found an empty word", what);
	if (n > POLICY_GLOB_MAX)
		return fail(st, ST_ELIMIT, col, "%s is %zu bytes; POLICY_GLOB_MAX is %d",
			    what, n, POLICY_GLOB_MAX);
	for (size_t i = 0; i < n;) {
		size_t e = seg_end(s, n, i);
		if (e == i)
			return fail(st, ST_EINVAL, col + (unsigned)i,
				    "%s: expected a segment name, found %s", what,
				    i == n ? "the end (a trailing '.')" : "'.' (empty segment)");
		const char *star = memchr(s + i, '*', e - i);
		if (star && !allow_star)
			return fail(st, ST_EINVAL, col + (unsigned)(star - s),
				    "%s must be a plain dotted path, found '*'", what);
		if (star && memmem(s + i, e - i, "**", 2) && !is_dstar(s + i, e - i))
			return fail(st, ST_EINVAL, col + (unsigned)i,
				    "%s: \"**\" must be a whole segment (like a.**.b), found \"%.*s\"",
				    what, (int)(e - i), s + i);
		if (e == n)
			break;
		i = e + 1;
		if (i == n)
			return fail(st, ST_EINVAL, col + (unsigned)e,
				    "%s: expected a segment name, found the end (a trailing '.')", what);
	}
	return 0;
}

/* [A-Za-z0-9_.-]{1,64}, plus '*' when glob: tenants, classes, schemas. */
static int check_name(struct pstate *st, const char *what, const char *s, size_t n,
		      unsigned col, bool glob)
{
	if (n == 0)
		return fail(st, ST_EINVAL, col, "expected %s, found an empty word", what);
	if (n > POLICY_NAME_MAX)
		return fail(st, ST_ELIMIT, col, "%s is %zu bytes; POLICY_NAME_MAX is %d",
			    what, n, POLICY_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-' || (glob && c == '*')))
			return fail(st, ST_EINVAL, col + (unsigned)i,
				    "%s: expected [A-Za-z0-9_.-]%s, found '%c'", what,
				    glob ? " or '*'" : "", c);
	}
	return 0;
}

static bool same(const char *a, size_t an, const char *b, size_t bn)
{
	if (!a || !b)
		return a == b;
	return an == bn && !memcmp(a, b, an);
}

static int new_section(struct pstate *st, unsigned line, enum tenant_kind k,
		       const char *tenant, size_t tl, const char *action, size_t al)
{
	struct policy *p = st->p;
	struct psection *s;

	if (grow(&p->sec, &p->capsec, p->nsec, sizeof(*p->sec)) < 0)
		return -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	p->sec[p->nsec++] = s;
	s->line = line;
	s->tkind = k;
	s->tenant = arena_dup(p, tenant, tl);
	s->tlen = tl;
	s->action = arena_dup(p, action, al);
	s->alen = al;
	s->action_all = is_dstar(action, al);
	filter_init(&s->aflt, action, al, false);
	if (!s->tenant || !s->action)
		return -ENOMEM;
	st->cur = s;
	return 0;
}

/* "[tenant T action A]", either part optional, in either order. */
static int parse_header(struct pstate *st)
{
	struct tok *t = st->t;
	unsigned nt = st->nt;
	const char *tenant = "*", *action = "**";
	size_t tl = 1, al = 2;
	unsigned tcol = 0, acol = 0;

	/* Peel '[' off the first token and ']' off the last; nothing but a
	 * comment may follow the ']'. */
	for (unsigned i = 0; i + 1 < nt; i++)
		if (!t[i].endq && t[i].n && t[i].s[t[i].n - 1] == ']')
			return fail(st, ST_EINVAL, t[i + 1].col,
				    "expected the end of the line after ']', found \"%s\"", t[i + 1].s);
	t[0].s++;
	t[0].n--;
	t[0].col++;
	if (t[0].n == 0) {
		t++;
		nt--;
	}
	if (nt == 0 || t[nt - 1].endq || t[nt - 1].n == 0 || t[nt - 1].s[t[nt - 1].n - 1] != ']')
		return fail(st, ST_EINVAL, nt ? t[nt - 1].col + (unsigned)t[nt - 1].n : 2,
			    "expected a section header ending in ']', like [tenant acme action k8s.**]");
	t[nt - 1].s[--t[nt - 1].n] = 0;
	if (t[nt - 1].n == 0)
		nt--;
	if (nt == 0)
		return fail(st, ST_EINVAL, 2,
			    "expected \"tenant NAME\" and/or \"action GLOB\" inside [ ]");
	for (unsigned i = 0; i < nt; i += 2) {
		bool is_t = word_is(t[i].s, t[i].n, "tenant");
		if (!is_t && !word_is(t[i].s, t[i].n, "action"))
			return fail(st, ST_EINVAL, t[i].col,
				    "expected \"tenant\" or \"action\" in a section header, found \"%s\"",
				    t[i].s);
		if (is_t ? tcol : acol)
			return fail(st, ST_EINVAL, t[i].col, "%s given twice in one header", t[i].s);
		if (i + 1 == nt)
			return fail(st, ST_EINVAL, t[i].col + (unsigned)t[i].n,
				    "expected a %s after \"%s\"", is_t ? "tenant name or glob" : "action glob",
				    t[i].s);
		if (is_t) {
			tenant = t[i + 1].s;
			tl = t[i + 1].n;
			tcol = t[i + 1].col;
		} else {
			action = t[i + 1].s;
			al = t[i + 1].n;
			acol = t[i + 1].col;
		}
	}
	enum tenant_kind k = T_LITERAL;
	int r;
	if (tcol) {
		if ((r = check_name(st, "tenant", tenant, tl, tcol, true)) < 0)
			return r;
		if (memchr(tenant, '*', tl))
			k = tl == 1 ? T_ANY : T_GLOB;
	} else {
		k = T_ANY;
	}
	if (acol && (r = check_path_glob(st, "action glob", action, al, acol, true)) < 0)
		return r;
	if (k == T_GLOB && memmem(tenant, tl, "**", 2))
		return fail(st, ST_EINVAL, tcol, "tenant glob: '*' already matches any run of bytes; write one '*'");

	/* The same scope twice would make file order across two places
	 * decide, which nobody reading one of them would see. */
	struct policy *p = st->p;
	unsigned same_tenant = 0;
	for (unsigned i = 1; i < p->nsec; i++) {
		const struct psection *o = p->sec[i];
		if (same(o->tenant, o->tlen, tenant, tl) && same(o->action, o->alen, action, al))
			return fail(st, ST_EINVAL, 1, "duplicate section: [tenant %s action %s] is already at line %u",
				    tenant, action, o->line);
		same_tenant += k == T_LITERAL && same(o->tenant, o->tlen, tenant, tl);
	}
	if (k == T_LITERAL && same_tenant >= POLICY_TENANT_SCOPES_MAX)
		return fail(st, ST_ELIMIT, tcol, "more than POLICY_TENANT_SCOPES_MAX (%d) sections name tenant %s",
			    POLICY_TENANT_SCOPES_MAX, tenant);
	if (k != T_LITERAL && ++st->nshared_headers >= POLICY_SHARED_SCOPES_MAX)
		return fail(st, ST_ELIMIT, 1,
			    "more than POLICY_SHARED_SCOPES_MAX (%d) sections for a tenant glob or every tenant (the top of the file counts)",
			    POLICY_SHARED_SCOPES_MAX);
	if (p->nsec - 1 >= POLICY_SECTIONS_MAX)
		return fail(st, ST_ELIMIT, 1, "more than POLICY_SECTIONS_MAX (%d) sections", POLICY_SECTIONS_MAX);
	return new_section(st, st->line, k, tenant, tl, action, al);
}

/* Options: key=value words after the positional ones. */
struct opts {
	bool has_prefix, has_suffix;
	unsigned prefix, suffix;
	const char *subject, *value, *field, *outcome;
	size_t subject_len, value_len, field_len, outcome_len;
	unsigned subject_col, value_col, field_col, outcome_col, prefix_col, suffix_col;
};

/* Parses words t[from..nt) as options; `allowed` lists the keys this
 * directive takes, for the message too. */
static int parse_opts(struct pstate *st, unsigned from, const char *allowed, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (unsigned i = from; i < st->nt; i++) {
		struct tok *t = &st->t[i];
		if (t->eq == NONE || t->eq == 0)
			return fail(st, ST_EINVAL, t->col, "expected an option key=value (%s), found \"%s\"",
				    allowed, t->s);
		const char *k = t->s, *v = t->s + t->eq + 1;
		size_t kl = t->eq, vl = t->n - t->eq - 1;
		unsigned vcol = t->eqcol + 1;
		char key[32];
		snprintf(key, sizeof(key), "%.*s", (int)(kl < 31 ? kl : 31), k);
		bool known = false;
		for (const char *a = allowed; *a;) {
			const char *e = strchr(a, ',');
			size_t al = e ? (size_t)(e - a) : strlen(a);
			if (al == kl && !memcmp(a, k, kl))
				known = true;
			a += al + (e ? 2 : 0);   /* ", " */
		}
		if (!known)
			return fail(st, ST_EINVAL, t->col, "unknown option \"%s\"; this directive takes %s",
				    key, allowed);
		bool dup = false;
		if (word_is(k, kl, "keep_prefix") || word_is(k, kl, "keep_suffix")) {
			bool pre = k[5] == 'p';
			uint64_t u;
			dup = pre ? o->has_prefix : o->has_suffix;
			if (!dup && (!st_parse_u64(v, vl, &u) || u > POLICY_MASK_KEEP_MAX))
				return fail(st, ST_EINVAL, vcol,
					    "%s: expected a number of characters in [0, %d], found \"%s\"",
					    key, POLICY_MASK_KEEP_MAX, v);
			if (!dup && pre)
				o->has_prefix = true, o->prefix = (unsigned)u, o->prefix_col = t->col;
			else if (!dup)
				o->has_suffix = true, o->suffix = (unsigned)u, o->suffix_col = t->col;
		} else {
			const char **dst = word_is(k, kl, "subject") ? &o->subject :
					   word_is(k, kl, "value") ? &o->value :
					   word_is(k, kl, "field") ? &o->field : &o->outcome;
			size_t *dl = dst == &o->subject ? &o->subject_len : dst == &o->value ? &o->value_len :
				     dst == &o->field ? &o->field_len : &o->outcome_len;
			unsigned *dc = dst == &o->subject ? &o->subject_col : dst == &o->value ? &o->value_col :
				       dst == &o->field ? &o->field_col : &o->outcome_col;
			dup = *dst != NULL;
			*dst = v;
			*dl = vl;
			*dc = vcol;
		}
		if (dup)
			return fail(st, ST_EINVAL, t->col, "option %s given twice", key);
	}
	return 0;
}

static int check_value_glob(struct pstate *st, size_t n, unsigned col)
{
	if (n == 0)
		return fail(st, ST_EINVAL, col, "value: expected a glob, found an empty word (a glob of \"*\" matches any value)");
	if (n > POLICY_VALUE_GLOB_MAX)
		return fail(st, ST_ELIMIT, col, "value glob is %zu bytes; POLICY_VALUE_GLOB_MAX is %d",
			    n, POLICY_VALUE_GLOB_MAX);
	return 0;
}

static int parse_action(struct pstate *st, const struct tok *t, bool detector, int *ret)
{
	for (int a = POLICY_DROP; a <= POLICY_KEEP; a++)
		if (word_is(t->s, t->n, action_names[a])) {
			if (detector && a == POLICY_KEEP)
				break;
			*ret = a;
			return 0;
		}
	if (detector && word_is(t->s, t->n, "on")) {
		*ret = POLICY_MASK;
		return 0;
	}
	if (detector && word_is(t->s, t->n, "off")) {
		*ret = 0;
		return 0;
	}
	if (detector)
		return fail(st, ST_EINVAL, t->col,
			    "expected on, off, drop, mask, hash or tokenize, found \"%s\"%s", t->s,
			    word_is(t->s, t->n, "keep") ? " (keep is for field rules; a detector you do not want is off)" : "");
	return fail(st, ST_EINVAL, t->col,
		    "expected an action (drop, mask, hash, tokenize or keep), found \"%s\"", t->s);
}

/* Fills r from action a and options o; opts that do not apply fail. */
static int make_rule(struct pstate *st, int a, const struct opts *o, struct policy_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->action = (enum policy_action)a;
	r->line = st->line;
	if ((o->has_prefix || o->has_suffix) && a != POLICY_MASK)
		return fail(st, ST_EINVAL, o->has_prefix ? o->prefix_col : o->suffix_col,
			    "keep_prefix and keep_suffix apply to mask only, not %s", action_names[a]);
	if (o->subject && a != POLICY_TOKENIZE)
		return fail(st, ST_EINVAL, o->subject_col - (unsigned)strlen("subject="),
			    "subject applies to tokenize only, not %s", action_names[a]);
	r->keep_prefix = (uint8_t)o->prefix;
	r->keep_suffix = (uint8_t)o->suffix;
	if (o->subject) {
		int e = check_path_glob(st, "subject", o->subject, o->subject_len, o->subject_col, false);
		if (e < 0)
			return e;
		if (!(r->subject = arena_dup(st->p, o->subject, o->subject_len)))
			return -ENOMEM;
		r->subject_len = o->subject_len;
	}
	return 0;
}

static int expect_words(struct pstate *st, unsigned min, const char *usage)
{
	if (st->nt >= min)
		return 0;
	const struct tok *l = &st->t[st->nt - 1];
	return fail(st, ST_EINVAL, l->col + (unsigned)l->n, "expected \"%s\"", usage);
}

/* field PATH ACTION [opts] / value GLOB ACTION [opts] */
static int parse_field(struct pstate *st, bool value_form)
{
	struct psection *s = st->cur;
	struct opts o;
	int r, a;
	const char *path = "**", *value = NULL;
	size_t plen = 2, vlen = 0;

	if ((r = expect_words(st, 3, value_form ? "value GLOB ACTION [options]" :
				    "field PATH ACTION [options]")) < 0)
		return r;
	if ((r = parse_action(st, &st->t[2], false, &a)) < 0)
		return r;
	if ((r = parse_opts(st, 3, value_form ? "keep_prefix, keep_suffix, subject" :
					      "value, keep_prefix, keep_suffix, subject", &o)) < 0)
		return r;
	if (value_form) {
		value = st->t[1].s;
		vlen = st->t[1].n;
		if ((r = check_value_glob(st, vlen, st->t[1].col)) < 0)
			return r;
	} else {
		path = st->t[1].s;
		plen = st->t[1].n;
		if ((r = check_path_glob(st, "field path", path, plen, st->t[1].col, true)) < 0)
			return r;
		if (o.value) {
			value = o.value;
			vlen = o.value_len;
			if ((r = check_value_glob(st, vlen, o.value_col)) < 0)
				return r;
		}
	}
	for (unsigned i = 0; i < s->nrules; i++) {
		const struct prule *q = &s->rules[i];
		if (same(q->pub.path, q->plen, path, plen) && same(q->pub.value, q->vlen, value, vlen))
			return fail(st, ST_EINVAL, st->t[1].col,
				    "duplicate rule: line %u already has this path%s in this section, and the first one wins",
				    q->pub.line, value ? " and value" : "");
	}
	if (s->nrules == s->caprules) {
		/* rules and flt grow in step: flt[k] is rules[k]'s filter. */
		unsigned nc = s->caprules ? 2 * s->caprules : 4;
		struct prule *nr = realloc(s->rules, nc * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		s->rules = nr;
		struct pfilter *nf = realloc(s->flt, nc * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		s->flt = nf;
		s->caprules = nc;
	}
	struct prule *q = &s->rules[s->nrules];
	memset(q, 0, sizeof(*q));
	if ((r = make_rule(st, a, &o, &q->pub)) < 0)
		return r;
	if (!(q->pub.path = arena_dup(st->p, path, plen)))
		return -ENOMEM;
	if (value && !(q->pub.value = arena_dup(st->p, value, vlen)))
		return -ENOMEM;
	q->plen = plen;
	q->vlen = vlen;
	q->from_value = value_form;
	filter_init(&s->flt[s->nrules], path, plen, value != NULL);
	if (value && vlen && value[0] != '*') {
		s->flt[s->nrules].vlit = 1;
		s->flt[s->nrules].vfirst = (uint8_t)value[0];
	}
	s->nrules++;
	return 0;
}

/* detector NAME|* on|off|ACTION [opts] */
static int parse_detector(struct pstate *st)
{
	struct psection *s = st->cur;
	struct opts o;
	struct policy_rule rule;
	int r, a, d = -1;
	bool star;

	if ((r = expect_words(st, 3, "detector NAME on|off|ACTION [options]")) < 0)
		return r;
	star = word_is(st->t[1].s, st->t[1].n, "*");
	if (!star && (d = detector_by_name(st->t[1].s, st->t[1].n)) < 0) {
		char names[256] = "";
		for (int i = 0; i < DET_COUNT; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", detector_name((enum detector)(i)));
		return fail(st, ST_EINVAL, st->t[1].col, "unknown detector \"%s\"; expected * or one of %s",
			    st->t[1].s, names);
	}
	if ((r = parse_action(st, &st->t[2], true, &a)) < 0)
		return r;
	if ((r = parse_opts(st, 3, "keep_prefix, keep_suffix, subject", &o)) < 0)
		return r;
	if (a == 0 && st->nt > 3)
		return fail(st, ST_EINVAL, st->t[3].col, "off takes no options");
	if (a == 0)
		memset(&rule, 0, sizeof(rule));
	else if ((r = make_rule(st, a, &o, &rule)) < 0)
		return r;
	rule.line = st->line;
	if (star) {
		if (s->star_set)
			return fail(st, ST_EINVAL, st->t[1].col, "detector * is already set at line %u in this section",
				    s->star_line);
		s->star_set = true;
		s->star_on = a != 0;
		s->star = rule;
		s->star_line = st->line;
		return 0;
	}
	uint16_t bit = (uint16_t)(1u << d);
	if (s->named_set & bit)
		return fail(st, ST_EINVAL, st->t[1].col, "detector %s is already set at line %u in this section",
			    detector_name((enum detector)(d)), s->det[d].line);
	s->named_set |= bit;
	if (a)
		s->named_on |= bit;
	s->det[d] = rule;
	return 0;
}

/* criticality LEVEL [field=GLOB] [value=GLOB] */
static int parse_crit(struct pstate *st)
{
	struct psection *s = st->cur;
	struct opts o;
	int r, level = 0;

	if ((r = expect_words(st, 2, "criticality critical|high|normal|low [field=GLOB] [value=GLOB]")) < 0)
		return r;
	for (int c = POLICY_CRIT_LOW; c <= POLICY_CRIT_CRITICAL; c++)
		if (word_is(st->t[1].s, st->t[1].n, crit_names[c]))
			level = c;
	if (!level)
		return fail(st, ST_EINVAL, st->t[1].col,
			    "expected critical, high, normal or low, found \"%s\"", st->t[1].s);
	if ((r = parse_opts(st, 2, "field, value", &o)) < 0)
		return r;
	if (o.field && (r = check_path_glob(st, "field", o.field, o.field_len, o.field_col, true)) < 0)
		return r;
	if (o.value && (r = check_value_glob(st, o.value_len, o.value_col)) < 0)
		return r;
	const char *path = o.field ? o.field : o.value ? "**" : NULL;
	size_t plen = o.field ? o.field_len : o.value ? 2 : 0;
	for (unsigned i = 0; i < s->ncrit; i++) {
		const struct pcrit *c = &s->crit[i];
		if (same(c->path, c->plen, path, plen) && same(c->value, c->vlen, o.value, o.value_len))
			return fail(st, ST_EINVAL, st->t[1].col,
				    "duplicate criticality: line %u already sets it for %s in this section",
				    c->line, path ? "this field" : "every event");
	}
	if (grow(&s->crit, &s->capcrit, s->ncrit, sizeof(*s->crit)) < 0)
		return -ENOMEM;
	struct pcrit *c = &s->crit[s->ncrit];
	memset(c, 0, sizeof(*c));
	c->level = (enum policy_crit)level;
	c->line = st->line;
	if (path) {
		if (!(c->path = arena_dup(st->p, path, plen)))
			return -ENOMEM;
		c->plen = plen;
		filter_init(&c->flt, path, plen, o.value != NULL);
	}
	if (o.value) {
		if (!(c->value = arena_dup(st->p, o.value, o.value_len)))
			return -ENOMEM;
		c->vlen = o.value_len;
	}
	s->ncrit++;
	return 0;
}

/* A rate: "1", "1.0…", or "0.d…" with at most 9 decimals, > 0. */
static bool parse_rate(const char *s, size_t n, uint32_t *ppb)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return false;
	v = (uint64_t)(s[0] - '0') * 1000000000u;
	if (n > 1) {
		if (s[1] != '.' || n == 2 || n > 11)
			return false;
		uint64_t scale = 100000000u;
		for (i = 2; i < n; i++, scale /= 10) {
			if (s[i] < '0' || s[i] > '9')
				return false;
			v += (uint64_t)(s[i] - '0') * scale;
		}
	}
	if (v == 0 || v > 1000000000u)
		return false;
	*ppb = (uint32_t)v;
	return true;
}

/* sample CLASS RATE [outcome=O] */
static int parse_sample(struct pstate *st)
{
	struct psection *s = st->cur;
	struct opts o;
	uint32_t ppb;
	int r, outcome = -1;

	if ((r = expect_words(st, 3, "sample CLASS RATE [outcome=OUTCOME]")) < 0)
		return r;
	if ((r = check_name(st, "sample class", st->t[1].s, st->t[1].n, st->t[1].col, false)) < 0)
		return r;
	if (!parse_rate(st->t[2].s, st->t[2].n, &ppb))
		return fail(st, ST_EINVAL, st->t[2].col,
			    "expected a rate with 0 < rate <= 1 (like 0.1, at most 9 decimals), found \"%s\"",
			    st->t[2].s);
	if ((r = parse_opts(st, 3, "outcome", &o)) < 0)
		return r;
	if (o.outcome) {
		for (int i = 0; i < 4; i++)
			if (word_is(o.outcome, o.outcome_len, outcome_names[i]))
				outcome = i;
		if (outcome < 0)
			return fail(st, ST_EINVAL, o.outcome_col,
				    "outcome: expected success, failure, denied or unknown, found \"%s\"", o.outcome);
	}
	for (unsigned i = 0; i < s->nsamp; i++)
		if (s->samp[i].outcome == outcome || s->samp[i].outcome == -1)
			return fail(st, ST_EINVAL, st->t[1].col,
				    "sample rule can never apply: line %u in this section already matches %s",
				    s->samp[i].pub.line, outcome < 0 ? "some of these events" : "these events");
	if (grow(&s->samp, &s->capsamp, s->nsamp, sizeof(*s->samp)) < 0)
		return -ENOMEM;
	struct psamp *q = &s->samp[s->nsamp];
	if (!(q->pub.cls = arena_dup(st->p, st->t[1].s, st->t[1].n)))
		return -ENOMEM;
	q->pub.rate = ppb / 1e9;
	q->pub.line = st->line;
	q->ppb = ppb;
	q->outcome = outcome;
	s->nsamp++;
	return 0;
}

/* schema NAME/VERSION | schema none */
static int parse_schema(struct pstate *st)
{
	struct psection *s = st->cur;
	int r;

	if ((r = expect_words(st, 2, "schema NAME/VERSION or schema none")) < 0)
		return r;
	if (st->nt > 2)
		return fail(st, ST_EINVAL, st->t[2].col, "expected the end of the line after the schema, found \"%s\"",
			    st->t[2].s);
	if (s->has_schema)
		return fail(st, ST_EINVAL, st->t[0].col, "schema is already bound at line %u in this section",
			    s->schema.line);
	const struct tok *t = &st->t[1];
	memset(&s->schema, 0, sizeof(s->schema));
	s->schema.line = st->line;
	if (!word_is(t->s, t->n, "none")) {
		const char *slash = memchr(t->s, '/', t->n);
		if (!slash)
			return fail(st, ST_EINVAL, t->col, "expected NAME/VERSION (or none), found \"%s\"", t->s);
		size_t nl = (size_t)(slash - t->s);
		if ((r = check_name(st, "schema name", t->s, nl, t->col, false)) < 0 ||
		    (r = check_name(st, "schema version", slash + 1, t->n - nl - 1,
				    t->col + (unsigned)nl + 1, false)) < 0)
			return r;
		s->schema.name = arena_dup(st->p, t->s, nl);
		s->schema.version = arena_dup(st->p, slash + 1, t->n - nl - 1);
		if (!s->schema.name || !s->schema.version)
			return -ENOMEM;
	}
	s->has_schema = true;
	return 0;
}

static int parse_line(struct pstate *st, const char *line, size_t n)
{
	int r = tokenize(st, line, n);
	if (r < 0 || st->nt == 0)
		return r;
	struct tok *t = &st->t[0];
	if (line[t->col - 1] == '[')
		return parse_header(st);
	if (word_is(t->s, t->n, "version")) {
		if (st->ndirectives || st->p->nsec > 1 || st->seen_version)
			return fail(st, ST_EINVAL, t->col, "version must come once, before every other directive");
		if (st->nt != 2 || !word_is(st->t[1].s, st->t[1].n, "1"))
			return fail(st, ST_EINVAL, st->nt > 1 ? st->t[1].col : t->col + 7,
				    "expected \"version 1\" (the only version this server reads)");
		st->seen_version = true;
		return 0;
	}
	if (++st->ndirectives > POLICY_RULES_MAX)
		return fail(st, ST_ELIMIT, t->col, "more than POLICY_RULES_MAX (%d) directives", POLICY_RULES_MAX);
	st->cur->ndirectives++;
	if (word_is(t->s, t->n, "field"))
		return parse_field(st, false);
	if (word_is(t->s, t->n, "value"))
		return parse_field(st, true);
	if (word_is(t->s, t->n, "detector"))
		return parse_detector(st);
	if (word_is(t->s, t->n, "criticality"))
		return parse_crit(st);
	if (word_is(t->s, t->n, "sample"))
		return parse_sample(st);
	if (word_is(t->s, t->n, "schema"))
		return parse_schema(st);
	return fail(st, ST_EINVAL, t->col,
		    "unknown directive \"%s\"; expected field, value, detector, criticality, sample, schema or a [section]",
		    t->s);
}

/* ---- finishing: sample/critical overlap, indexes, canonical text ---- */

/* Does path glob b match every string path glob a matches? A sound
 * check (true only when certain); it may miss exotic cases like "a*"
 * covering "ab*", which then fall back to the runtime guarantee. */
static bool seg_covers(const char *b, size_t bl, const char *a, size_t al)
{
	if (!memchr(a, '*', al))
		return policy_glob_flat(b, bl, a, al);
	return (bl == 1 && b[0] == '*' && !is_dstar(a, al)) || same(b, bl, a, al);
}

#define SEGS_MAX (POLICY_GLOB_MAX / 2 + 1)

static unsigned split_segs(const char *s, size_t n, size_t *off, size_t *len)
{
	unsigned k = 0;
	for (size_t i = 0; k < SEGS_MAX;) {
		size_t e = seg_end(s, n, i);
		off[k] = i;
		len[k++] = e - i;
		if (e == n)
			break;
		i = e + 1;
	}
	return k;
}

static bool glob_covers(const char *b, size_t bl, const char *a, size_t al)
{
	size_t bo[SEGS_MAX], bn[SEGS_MAX], ao[SEGS_MAX], an[SEGS_MAX];
	unsigned m = split_segs(b, bl, bo, bn), n = split_segs(a, al, ao, an);
	/* cov[i][j]: b's segments from i cover a's from j. Bottom-up. */
	static _Thread_local unsigned char cov[SEGS_MAX + 1][SEGS_MAX + 1];

	for (unsigned i = m + 1; i-- > 0;)
		for (unsigned j = n + 1; j-- > 0;) {
			bool v;
			if (i == m)
				v = j == n;
			else if (is_dstar(b + bo[i], bn[i]))
				v = cov[i + 1][j] || (j < n && cov[i][j + 1]);
			else
				v = j < n && !is_dstar(a + ao[j], an[j]) &&
				    seg_covers(b + bo[i], bn[i], a + ao[j], an[j]) && cov[i + 1][j + 1];
			cov[i][j] = v;
		}
	return cov[0][0];
}

static bool tenant_covers(const struct psection *b, const struct psection *a)
{
	if (b->tkind == T_ANY)
		return true;
	if (a->tkind == T_ANY)
		return false;
	if (a->tkind == T_LITERAL)
		return b->tkind == T_LITERAL ? same(b->tenant, b->tlen, a->tenant, a->tlen) :
					       policy_glob_flat(b->tenant, b->tlen, a->tenant, a->tlen);
	return same(b->tenant, b->tlen, a->tenant, a->tlen);
}

/* A sample rule whose every event is certainly critical is an error: it
 * would read as if those events were sampled, and they never are. */
static int check_samples(struct pstate *st)
{
	struct policy *p = st->p;
	for (unsigned i = 0; i < p->nsec; i++) {
		const struct psection *a = p->sec[i];
		if (!a->nsamp)
			continue;
		for (unsigned j = 0; j < p->nsec; j++) {
			const struct psection *b = p->sec[j];
			for (unsigned k = 0; k < b->ncrit; k++) {
				const struct pcrit *c = &b->crit[k];
				if (c->level != POLICY_CRIT_CRITICAL || c->path || !tenant_covers(b, a) ||
				    !glob_covers(b->action, b->alen, a->action, a->alen))
					continue;
				st->line = a->samp[0].pub.line;
				return fail(st, ST_EINVAL, 1,
					    "sample rule can never apply: every event it matches is critical (line %u), and critical events are never sampled",
					    c->line);
			}
		}
	}
	return 0;
}

static struct ptenant *tenant_slot(const struct policy *p, const char *t, size_t n, uint32_t h)
{
	unsigned mask = p->tcap - 1;
	for (unsigned i = h & mask;; i = (i + 1) & mask) {
		struct ptenant *e = &p->tenants[i];
		if (!e->name || (e->hash == h && e->len == n && !memcmp(e->name, t, n)))
			return e;
	}
}

static int build_index(struct policy *p)
{
	unsigned nlit = 0;
	for (unsigned i = 0; i < p->nsec; i++) {
		struct psection *s = p->sec[i];
		/* '*' fills the detectors this section does not name. */
		s->det_set = s->named_set;
		s->det_on = s->named_on;
		if (s->star_set)
			for (int d = 0; d < DET_COUNT; d++) {
				uint16_t bit = (uint16_t)(1u << d);
				if (s->named_set & bit)
					continue;
				s->det_set |= bit;
				s->det[d] = s->star;
				if (s->star_on)
					s->det_on |= bit;
			}
		for (unsigned k = 0; k < s->ncrit; k++) {
			if (s->crit[k].path) {
				s->crit_cond = true;
				if (s->crit[k].flt.tail_len == TAIL_WILD) {
					s->crit_wild = true;
				} else {
					unsigned bit = bloom_bit(s->crit[k].flt.tail_hash);
					s->crit_bloom[bit / 64] |= 1ull << (bit % 64);
				}
			} else if (s->crit[k].level > s->crit_base) {
				s->crit_base = s->crit[k].level;
			}
		}
		if (s->nrules && !(s->wild = malloc(s->nrules * sizeof(*s->wild))))
			return -ENOMEM;
		for (unsigned k = 0; k < s->nrules; k++) {
			if (s->flt[k].tail_len == TAIL_WILD)
				s->wild[s->nwild++] = k;
			else {
				unsigned bit = bloom_bit(s->flt[k].tail_hash);
				s->tail_bloom[bit / 64] |= 1ull << (bit % 64);
			}
		}
		if (!s->ndirectives)
			continue;
		p->nsections++;
		p->nfield += s->nrules;
		for (unsigned k = 0; k < s->nrules; k++)
			p->nvalue += s->rules[k].pub.value != NULL;
		p->ndet += (unsigned)__builtin_popcount(s->named_set) + s->star_set;
		p->ncrit += s->ncrit;
		p->nsamp += s->nsamp;
		p->nschema += s->has_schema;
		if (s->tkind == T_LITERAL)
			nlit++;
	}
	/* Precedence: tenant rank first (literal, glob, "*"), then sections
	 * with an action glob before those for every action, then file order. */
	for (int pass = 0; pass < 4; pass++)
		for (unsigned i = 0; i < p->nsec; i++) {
			const struct psection *s = p->sec[i];
			if (s->ndirectives && s->tkind == (pass < 2 ? T_GLOB : T_ANY) &&
			    s->action_all == (pass & 1))
				p->shared[p->nshared++] = s;
		}
	p->tcap = 4;
	while (p->tcap < 2 * nlit)
		p->tcap *= 2;
	p->tenants = calloc(p->tcap, sizeof(*p->tenants));
	if (!p->tenants)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < p->nsec; i++) {
			const struct psection *s = p->sec[i];
			if (!s->ndirectives || s->tkind != T_LITERAL || s->action_all != pass)
				continue;
			uint32_t h = fnv1a(s->tenant, s->tlen);
			struct ptenant *e = tenant_slot(p, s->tenant, s->tlen, h);
			if (!e->name) {
				e->name = s->tenant;
				e->len = s->tlen;
				e->hash = h;
				p->ntenants++;
			}
			e->sec[e->nsec++] = s;
		}
	return 0;
}

int policy_parse(const char *text, size_t n, const char *file_name,
		 struct policy **ret, struct policy_error *err)
{
	struct pstate *st = NULL;
	struct policy *p = NULL;
	int r;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", file_name ? file_name : "(policy)");
	if (n > POLICY_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "file is %zu bytes; POLICY_FILE_MAX is %u",
			 n, POLICY_FILE_MAX);
		return ST_ELIMIT;
	}
	st = calloc(1, sizeof(*st));
	p = calloc(1, sizeof(*p));
	if (!st || !p) {
		r = -ENOMEM;
		goto fail_free;
	}
	st->p = p;
	st->err = err;
	p->serial = ++last_serial;
	if ((r = new_section(st, 0, T_ANY, "*", 1, "**", 2)) < 0)
		goto fail_free;
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(text + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - text) : n, len = e - i;
		st->line++;
		if (len && text[i + len - 1] == '\r')
			len--;
		if (len > POLICY_LINE_MAX) {
			r = fail(st, ST_ELIMIT, POLICY_LINE_MAX + 1,
				 "line is %zu bytes; POLICY_LINE_MAX is %d", len, POLICY_LINE_MAX);
			goto fail_free;
		}
		if ((r = parse_line(st, text + i, len)) < 0)
			goto fail_free;
		if (!nl)
			break;
		i = e + 1;
	}
	p->lines = st->line;
	if ((r = check_samples(st)) < 0 || (r = build_index(p)) < 0)
		goto fail_free;

	struct buf canon = BUF_INIT(64u << 20);
	if ((r = policy_format(p, &canon)) < 0) {
		buf_release(&canon);
		goto fail_free;
	}
	sha256(canon.data, canon.len, p->digest);
	buf_release(&canon);
	sha256(n ? text : "", n, p->src_digest);
	free(st);
	*ret = p;
	return 0;

fail_free:
	if (r == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	free(st);
	policy_free(p);
	return r;
}

int policy_load(const char *path, struct policy **ret, struct policy_error *err)
{
	struct buf b = BUF_INIT(POLICY_FILE_MAX);
	int r = read_file(path, POLICY_FILE_MAX, &b);

	if (r < 0) {
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "%s", path);
		if (r == ST_ELIMIT)
			snprintf(err->msg, sizeof(err->msg), "file is larger than POLICY_FILE_MAX (%u bytes)",
				 POLICY_FILE_MAX);
		else
			snprintf(err->msg, sizeof(err->msg), "cannot read: %s", st_strerror(r));
		buf_release(&b);
		return r;
	}
	r = policy_parse((const char *)b.data, b.len, path, ret, err);
	buf_release(&b);
	return r;
}

void policy_error_format(const struct policy_error *e, char *out, size_t cap)
{
	if (e->line)
		snprintf(out, cap, "%s:%u:%u: %s", e->file, e->line, e->col, e->msg);
	else
		snprintf(out, cap, "%s: %s", e->file, e->msg);
}

/* ---- the canonical text ---- */

static bool needs_quotes(const char *s, size_t n)
{
	if (n == 0 || s[0] == '#' || s[0] == '[')
		return true;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '"' || s[i] == '\\' || s[i] == '=' ||
		    s[i] == ']')
			return true;
	return false;
}

/* s[0..n), quoted when the tokenizer would not read it back as one word. */
static int put_raw(struct buf *b, const char *s, size_t n)
{
	int r;
	if (!needs_quotes(s, n))
		return buf_append(b, s, n);
	if ((r = buf_putc(b, '"')) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '"' || s[i] == '\\') && (r = buf_putc(b, '\\')) < 0)
			return r;
		if ((r = buf_putc(b, (uint8_t)s[i])) < 0)
			return r;
	}
	return buf_putc(b, '"');
}

static int put_word(struct buf *b, const char *s, size_t n)
{
	int r = buf_putc(b, ' ');
	return r < 0 ? r : put_raw(b, s, n);
}

static int put_opt(struct buf *b, const char *key, const char *s, size_t n)
{
	int r = buf_printf(b, " %s=", key);
	return r < 0 ? r : put_raw(b, s, n);
}

static int put_rule_opts(struct buf *b, const struct policy_rule *r)
{
	int e = 0;
	if (r->action == POLICY_MASK && r->keep_prefix)
		e = buf_printf(b, " keep_prefix=%u", r->keep_prefix);
	if (!e && r->action == POLICY_MASK && r->keep_suffix)
		e = buf_printf(b, " keep_suffix=%u", r->keep_suffix);
	if (!e && r->subject)
		e = put_opt(b, "subject", r->subject, r->subject_len);
	return e;
}

static int put_detector(struct buf *b, const char *name, bool on, const struct policy_rule *r)
{
	int e = buf_printf(b, "detector %s %s", name, on ? action_names[r->action] : "off");
	if (!e && on)
		e = put_rule_opts(b, r);
	return e ? e : buf_putc(b, '\n');
}

static int format_section(const struct psection *s, struct buf *b)
{
	int e = 0;

	if (s->line) {
		e = buf_puts(b, "[tenant");
		if (!e)
			e = put_word(b, s->tenant, s->tlen);
		if (!e)
			e = buf_puts(b, " action");
		if (!e)
			e = put_word(b, s->action, s->alen);
		if (!e)
			e = buf_puts(b, "]\n");
	}
	for (unsigned i = 0; !e && i < s->nrules; i++) {
		const struct prule *q = &s->rules[i];
		e = buf_puts(b, "field");
		if (!e)
			e = put_word(b, q->pub.path, q->plen);
		if (!e)
			e = buf_printf(b, " %s", action_names[q->pub.action]);
		if (!e)
			e = put_rule_opts(b, &q->pub);
		if (!e && q->pub.value)
			e = put_opt(b, "value", q->pub.value, q->vlen);
		if (!e)
			e = buf_putc(b, '\n');
	}
	if (!e && s->star_set)
		e = put_detector(b, "*", s->star_on, &s->star);
	for (int d = 0; !e && d < DET_COUNT; d++)
		if (s->named_set & (1u << d))
			e = put_detector(b, detector_name((enum detector)(d)), s->named_on & (1u << d), &s->det[d]);
	for (unsigned i = 0; !e && i < s->ncrit; i++) {
		const struct pcrit *c = &s->crit[i];
		e = buf_printf(b, "criticality %s", crit_names[c->level]);
		if (!e && c->path)
			e = put_opt(b, "field", c->path, c->plen);
		if (!e && c->value)
			e = put_opt(b, "value", c->value, c->vlen);
		if (!e)
			e = buf_putc(b, '\n');
	}
	for (unsigned i = 0; !e && i < s->nsamp; i++) {
		const struct psamp *q = &s->samp[i];
		char rate[16];
		uint32_t frac = q->ppb % 1000000000u;
		if (!frac) {
			snprintf(rate, sizeof(rate), "%u", q->ppb / 1000000000u);
		} else {
			snprintf(rate, sizeof(rate), "0.%09u", frac);
			for (size_t k = strlen(rate); rate[k - 1] == '0'; k--)
				rate[k - 1] = 0;
		}
		e = buf_printf(b, "sample %s %s", q->pub.cls, rate);
		if (!e && q->outcome >= 0)
			e = buf_printf(b, " outcome=%s", outcome_names[q->outcome]);
		if (!e)
			e = buf_putc(b, '\n');
	}
	if (!e && s->has_schema)
		e = s->schema.name ? buf_printf(b, "schema %s/%s\n", s->schema.name, s->schema.version) :
				     buf_puts(b, "schema none\n");
	return e;
}

int policy_format(const struct policy *p, struct buf *out)
{
	int e = buf_puts(out, "version 1\n");
	for (unsigned i = 0; !e && i < p->nsec; i++)
		if (p->sec[i]->ndirectives)
			e = format_section(p->sec[i], out);
	return e;
}

void policy_digest(const struct policy *p, uint8_t out[HASH_SIZE])
{
	memcpy(out, p->digest, HASH_SIZE);
}

uint64_t policy_serial(const struct policy *p)
{
	return p->serial;
}

void policy_source_digest(const struct policy *p, uint8_t out[HASH_SIZE])
{
	memcpy(out, p->src_digest, HASH_SIZE);
}

void policy_describe(const struct policy *p, char *out, size_t cap)
{
	char hex[2 * HASH_SIZE + 1];
	hex_encode(p->digest, HASH_SIZE, hex);
	snprintf(out, cap,
		 "policy sha256:%s sections=%u tenants=%u field_rules=%u value_rules=%u "
		 "detector_settings=%u crit_rules=%u sample_rules=%u schema_bindings=%u lines=%u",
		 hex, p->nsections, p->ntenants, p->nfield, p->nvalue, p->ndet, p->ncrit,
		 p->nsamp, p->nschema, p->lines);
}

/* ---- the lookups ---- */

static inline bool path_match(const struct pfilter *f, const char *pat, size_t patl,
			      const char *path, size_t pl);
static inline void tail_of(const char *path, size_t pl, uint32_t *h, size_t *tl);
static inline bool filter_pass(const struct pfilter *f, uint32_t th, size_t tl);

static void view_add(struct policy_view *v, const struct psection *s, const char *action, size_t al,
		     uint32_t th, size_t tl)
{
	if (filter_pass(&s->aflt, th, tl) && path_match(&s->aflt, s->action, s->alen, action, al))
		v->sec[v->nsec++] = s;
}

void policy_view(const struct policy *p, const char *tenant, size_t tl,
		 const char *action, size_t al, struct policy_view *v)
{
	uint32_t ath;
	size_t atl;

	v->p = p;
	v->nsec = 0;
	if (!tenant)
		tl = 0;
	tail_of(action, al, &ath, &atl);
	if (tl) {
		const struct ptenant *e = tenant_slot(p, tenant, tl, fnv1a(tenant, tl));
		if (e->name)
			for (unsigned i = 0; i < e->nsec; i++)
				view_add(v, e->sec[i], action, al, ath, atl);
	}
	for (unsigned i = 0; i < p->nshared; i++) {
		const struct psection *s = p->shared[i];
		if (s->tkind == T_GLOB && (!tl || !policy_glob_flat(s->tenant, s->tlen, tenant, tl)))
			continue;
		view_add(v, s, action, al, ath, atl);
	}

	/* Locals, written once at the end. Only the detectors' on/off mask
	 * is resolved here (bit operations); policy_detector() finds a
	 * setting when a detector hits, which is rare. */
	uint16_t open = (uint16_t)((1u << DET_COUNT) - 1), on = 0;
	bool has_fields = false, has_crit_fields = false;
	enum policy_crit crit = POLICY_CRIT_UNSET;
	const struct policy_schema *schema = NULL;
	unsigned nwild = 0;
	bool crit_wild = false;
	for (unsigned w = 0; w < TAIL_BLOOM_WORDS; w++)
		v->tail_bloom[w] = v->crit_bloom[w] = 0;
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		for (unsigned w = 0; w < TAIL_BLOOM_WORDS; w++) {
			v->tail_bloom[w] |= s->tail_bloom[w];
			if (s->crit_cond)
				v->crit_bloom[w] |= s->crit_bloom[w];
		}
		crit_wild |= s->crit_cond && s->crit_wild;
		for (unsigned k = 0; k < s->nwild && nwild <= POLICY_VIEW_WILD_MAX; k++, nwild++)
			if (nwild < POLICY_VIEW_WILD_MAX) {
				v->wild[nwild].sec = (uint8_t)i;
				v->wild[nwild].rule = (uint16_t)s->wild[k];
			}
		has_fields |= s->nrules != 0;
		has_crit_fields |= s->crit_cond;
		if (s->crit_base > crit)
			crit = s->crit_base;
		if (!schema && s->has_schema)
			schema = &s->schema;
		on |= s->det_on & open;
		open &= (uint16_t)~s->det_set;
	}
	on |= open;
	v->det_on = on;
	v->nwild = (uint8_t)nwild;
	v->crit_wild = crit_wild;
	v->has_fields = has_fields;
	v->has_crit_fields = has_crit_fields;
	v->crit = crit;
	v->schema = schema;
}

/* The last segment of a path: its hash and length, for the filters. */
static inline void tail_of(const char *path, size_t pl, uint32_t *h, size_t *tl)
{
	size_t t = pl;
	while (t > 0 && path[t - 1] != '.')
		t--;
	*tl = pl - t;
	*h = tail_key(path + t, pl - t);
}

static inline bool filter_pass(const struct pfilter *f, uint32_t th, size_t tl)
{
	return f->tail_len == TAIL_WILD || (f->tail_len == tl && f->tail_hash == th);
}

/* Paths and prefixes are a few bytes: a loop beats a call to memcmp. */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static inline bool path_match(const struct pfilter *f, const char *pat, size_t patl,
			      const char *path, size_t pl)
{
	if (f->kind == PF_EXACT)
		return patl == pl && bytes_eq(pat, path, pl);
	if (f->kind == PF_ANY)
		return true;
	/* The prefix's whole segments matched byte for byte: the glob goes
	 * on from the segment after them. */
	return pl >= f->prefix_len && bytes_eq(pat, path, f->prefix_len) &&
	       policy_glob_path(pat + f->skip, patl - f->skip, path + f->skip, pl - f->skip);
}

static inline bool rule_match(const struct psection *s, unsigned k, uint32_t th, size_t tl,
			      const char *path, size_t pl, const char *value, size_t vl)
{
	const struct pfilter *f = &s->flt[k];
	const struct prule *q = &s->rules[k];
	if (!filter_pass(f, th, tl))
		return false;
	/* the value's first byte before the path: `value "sk_live_*"` is a
	 * rule on `**`, asked about every value */
	if (f->has_value && (!value || (f->vlit && (vl == 0 || (uint8_t)value[0] != f->vfirst))))
		return false;
	if (!path_match(f, q->pub.path, q->plen, path, pl))
		return false;
	return !f->has_value || policy_glob_flat(q->pub.value, q->vlen, value, vl);
}

const struct policy_rule *policy_detector(const struct policy_view *v, enum detector d)
{
	if ((unsigned)d >= DET_COUNT || !(v->det_on & (1u << d)))
		return NULL;
	for (unsigned i = 0; i < v->nsec; i++)
		if (v->sec[i]->det_set & (1u << d))
			return &v->sec[i]->det[d];
	return &default_detector;
}

void policy_key(struct policy_key *k, const char *path, size_t pl)
{
	k->path = path;
	k->pl = pl;
	tail_of(path, pl, &k->th, &k->tl);
}

const struct policy_rule *policy_field(const struct policy_view *v,
				       const char *path, size_t pl,
				       const char *value, size_t vl)
{
	struct policy_key k;

	if (!v->has_fields)
		return NULL;
	policy_key(&k, path, pl);
	return policy_field_key(v, &k, value, vl);
}

const struct policy_rule *policy_field_key(const struct policy_view *v, const struct policy_key *key,
					   const char *value, size_t vl)
{
	const char *path = key->path;
	size_t pl = key->pl, tl = key->tl;
	uint32_t th = key->th;

	if (!v->has_fields)
		return NULL;
	unsigned bit = bloom_bit(th);
	if (v->nwild <= POLICY_VIEW_WILD_MAX && !bloom_has(v->tail_bloom, bit)) {
		/* no scope's filter passes: what the loop below would try */
		for (unsigned w = 0; w < v->nwild; w++) {
			const struct psection *s = v->sec[v->wild[w].sec];
			if (rule_match(s, v->wild[w].rule, th, tl, path, pl, value, vl))
				return &s->rules[v->wild[w].rule].pub;
		}
		return NULL;
	}
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		if (bloom_has(s->tail_bloom, bit)) {
			for (unsigned k = 0; k < s->nrules; k++)
				if (rule_match(s, k, th, tl, path, pl, value, vl))
					return &s->rules[k].pub;
		} else {
			for (unsigned w = 0; w < s->nwild; w++)
				if (rule_match(s, s->wild[w], th, tl, path, pl, value, vl))
					return &s->rules[s->wild[w]].pub;
		}
	}
	return NULL;
}

enum policy_crit policy_crit_field(const struct policy_view *v,
				   const char *path, size_t pl,
				   const char *value, size_t vl,
				   enum policy_crit so_far)
{
	struct policy_key k;

	if (!v->has_crit_fields || so_far == POLICY_CRIT_CRITICAL)
		return so_far;
	policy_key(&k, path, pl);
	return policy_crit_field_key(v, &k, value, vl, so_far);
}

enum policy_crit policy_crit_field_key(const struct policy_view *v, const struct policy_key *key,
				       const char *value, size_t vl, enum policy_crit so_far)
{
	const char *path = key->path;
	size_t pl = key->pl, tl = key->tl;
	uint32_t th = key->th;

	if (!v->has_crit_fields || so_far == POLICY_CRIT_CRITICAL)
		return so_far;
	if (!v->crit_wild && !bloom_has(v->crit_bloom, bloom_bit(th)))
		return so_far;     /* no rule's filter passes */
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		for (unsigned k = 0; s->crit_cond && k < s->ncrit; k++) {
			const struct pcrit *c = &s->crit[k];
			if (!c->path || c->level <= so_far || !filter_pass(&c->flt, th, tl) ||
			    !path_match(&c->flt, c->path, c->plen, path, pl))
				continue;
			if (c->value && (!value || !policy_glob_flat(c->value, c->vlen, value, vl)))
				continue;
			so_far = c->level;
		}
	}
	return so_far;
}

const struct policy_rule *policy_field_ref(const struct policy_view *v,
					   const char *path, size_t pl,
					   const char *value, size_t vl)
{
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		for (unsigned k = 0; k < s->nrules; k++) {
			const struct prule *q = &s->rules[k];
			if (policy_glob_path(q->pub.path, q->plen, path, pl) &&
			    (!q->pub.value || (value && policy_glob_flat(q->pub.value, q->vlen, value, vl))))
				return &q->pub;
		}
	}
	return NULL;
}

enum policy_crit policy_crit_field_ref(const struct policy_view *v,
				       const char *path, size_t pl,
				       const char *value, size_t vl,
				       enum policy_crit so_far)
{
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		for (unsigned k = 0; k < s->ncrit; k++) {
			const struct pcrit *c = &s->crit[k];
			if (c->path && c->level > so_far && policy_glob_path(c->path, c->plen, path, pl) &&
			    (!c->value || (value && policy_glob_flat(c->value, c->vlen, value, vl))))
				so_far = c->level;
		}
	}
	return so_far;
}

const struct policy_sample *policy_sample(const struct policy_view *v,
					  const char *outcome, size_t ol,
					  enum policy_crit crit)
{
	int oc = -2;   /* -2: not known yet; -1: none of the four */

	if (crit == POLICY_CRIT_CRITICAL)
		return NULL;
	for (unsigned i = 0; i < v->nsec; i++) {
		const struct psection *s = v->sec[i];
		for (unsigned k = 0; k < s->nsamp; k++) {
			const struct psamp *q = &s->samp[k];
			if (q->outcome >= 0) {
				if (oc == -2) {
					oc = -1;
					for (int o = 0; outcome && o < 4; o++)
						if (word_is(outcome, ol, outcome_names[o]))
							oc = o;
				}
				if (q->outcome != oc)
					continue;
			}
			return &q->pub;
		}
	}
	return NULL;
}
