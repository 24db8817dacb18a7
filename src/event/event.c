/*
 * event.c - the validating JSON reader behind event_parse() and
 * event_parse_stored(): one pass over the input, no allocation (beyond
 * growing the caller's output buffer once), no recursion.
 *
 * How it is built:
 *   - One state machine (run()) with an explicit stack of containers whose
 *     depth is bounded by max_depth (and by DEPTH_HARD, the size of the
 *     array on the C stack).
 *   - String bodies are scanned 16 bytes at a time (SSE2) for '"', '\\',
 *     bytes < 0x20 and bytes >= 0x80; only those stop the scan, so ASCII
 *     text costs one compare per 16 bytes and UTF-8 is validated only where
 *     a non-ASCII byte is.
 *   - The compact form is the input minus its whitespace: the reader keeps
 *     the start of the not-yet-copied run ("span") and copies it with one
 *     memcpy whenever whitespace interrupts it, so input that is already
 *     compact is copied exactly once, at the end.
 *   - Keys of every open object live on a key stack (KEYS_HARD entries)
 *     with a hash of their decoded value. Objects with up to BIG_OBJECT
 *     keys are checked for duplicates by a linear scan of hashes; larger
 *     ones are linked into a chained table that is unwound in LIFO order
 *     when the object closes. A hash match is confirmed by comparing the
 *     decoded keys, so "a" and "\u0061" are the same key.
 *   - Field rules (event.h) are applied to members of the root object and
 *     of `actor` / `resource` as they are read, by a "want" describing the
 *     next value (allowed types, content rule, child context).
 *
 * Invariants:
 *   1. out->len changes only on success; on failure the bytes after
 *      out->len may have been scribbled on, nothing more.
 *   2. ret_info / ret are written only on success.
 *   3. Every read of the input is bounds-checked against ps->end; vector
 *      loads happen only when 16 bytes remain.
 *   4. ps->top is the innermost open container and ps->ktop the key-stack
 *      height whenever fail() is called, so the error path is exact.
 */
#include "event/event.h"

#include "common/codec.h"
#include "common/timeutil.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DEPTH_HARD 256       /* containers on the C stack; max_depth is clamped to it */
#define KEYS_HARD 2048       /* keys of all open objects at once */
#define BIG_OBJECT 16        /* objects with more keys use the hash table */
#define TABLE_BITS 12
#define NO_KEY 0xFFFFu
#define HASH_PREFIX 512      /* decoded key bytes that enter the hash */

/* Types a value may have, as a mask. */
enum {
	T_OBJ = 1, T_ARR = 2, T_STR = 4, T_NUM = 8, T_BOOL = 16, T_NULL = 32,
	T_ANY = 63,
};

/* Content rules for a value, checked after it has been read. */
enum {
	R_NONE, R_NONEMPTY, R_TIME, R_TENANT, R_ID, R_OUTCOME, R_ACTION, R_RES_TYPE, R_SCHEMA,
	R_U64, R_RTIME, R_B64_32, R_SID, R_PSEQ, R_PID, R_CCERT,
};

/* Contexts: objects whose members have field rules. */
enum { C_NONE, C_ROOT, C_ACTOR, C_RESOURCE, C_STORED, C_SOURCE };

/* Fields seen, for required-field checks and results. */
enum {
	S_TIME = 1u << 0, S_ACTION = 1u << 1, S_ACTOR = 1u << 2,
	S_RESOURCE = 1u << 3, S_ID = 1u << 4, S_TENANT = 1u << 5,
	S_ACTOR_ID = 1u << 6, S_RES_TYPE = 1u << 7,
	S_SEQ = 1u << 8, S_RECV = 1u << 9, S_TSEQ = 1u << 10, S_TPREV = 1u << 11,
	S_REQUEST_ID = 1u << 12, S_TRACE_ID = 1u << 13,
};

struct want {
	uint8_t types;   /* 0: anything, no rule */
	uint8_t rule;
	uint8_t ctx;     /* context of the object this value opens */
	uint16_t bit;    /* S_* recorded when the value passes */
};

struct frame {
	uint32_t kbase;  /* first key of this object on the key stack */
	uint32_t count;  /* members or elements read so far */
	uint64_t bloom;  /* one bit per key fingerprint, small objects only */
	uint8_t obj;
	uint8_t big;     /* keys are linked into the table */
	uint8_t ctx;
};

struct key {
	uint64_t fp;     /* fingerprint: first 8 decoded bytes and the decoded length */
	uint32_t hash;   /* full hash of the decoded key; set in big objects only */
	uint32_t off;    /* first byte after the opening quote */
	uint32_t len;    /* raw length, as written */
	uint16_t next;   /* table chain (big objects only) */
	uint8_t esc;     /* contains a backslash escape */
};

struct parser {
	const uint8_t *in, *end;
	struct event_error *err;
	struct frame *top;       /* innermost open container, NULL before the root */
	bool key_phase;          /* reading a key: the path stops at its object */
	int rc;                  /* the code of the last failure */
	uint32_t ktop;
	uint32_t members;
	uint32_t max_depth, max_members;
	size_t max_string;
	/* compact output */
	bool out_on;
	const uint8_t *span;     /* start of the run not yet copied */
	uint8_t *dst;
	size_t room;             /* bytes dst can take */
	size_t clen;             /* compact length so far (counted even past room) */
	size_t entry_limit;      /* refuse a compact form longer than this */
	size_t over_at;          /* input offset where clen crossed entry_limit */
	bool over;
	/* field results */
	uint32_t seen;
	int64_t time_ns, recv_ns;
	uint64_t seq, tseq;
	uint64_t pseq;                /* source.producer_seq, 0 when absent */
	const uint8_t *pid;           /* source.producer_id as written */
	size_t pid_len;
	bool ccert;                   /* source.client_cert is present */
	uint8_t tprev[32];
	const uint8_t *tenant;
	size_t tenant_len;
	const uint8_t *action, *outcome, *res_type, *schema;   /* as written */
	size_t action_len, outcome_len, res_type_len, schema_len;
	const uint8_t *id;       /* the top-level "id" string as written */
	size_t id_len;
	bool table_ready;
	struct frame st[DEPTH_HARD];
	struct key keys[KEYS_HARD];
	uint16_t table[1u << TABLE_BITS];
};

/* Bytes that stop a string scan: '"', '\\', < 0x20, >= 0x80. */
static const uint8_t special[256] = {
	[0x00] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1,
	[0x80] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static const uint8_t is_ws[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
};

void event_limits_default(struct event_limits *lim)
{
	lim->max_entry = 65535;
	lim->max_depth = 32;
	lim->max_members = 1024;
	lim->max_string = 32768;
}

void event_error_format(const struct event_error *e, char *out, size_t cap)
{
	if (!cap)
		return;
	if (e->path[0])
		snprintf(out, cap, "byte %zu, field %s: %s", e->offset, e->path, e->msg);
	else
		snprintf(out, cap, "byte %zu: %s", e->offset, e->msg);
}

/* ---- errors ---------------------------------------------------------- */

static size_t off_of(const struct parser *ps, const uint8_t *p)
{
	return (size_t)(p - ps->in);
}

static void path_add(char *out, size_t *n, const char *s, size_t len)
{
	const size_t cap = sizeof(((struct event_error *)0)->path);

	if (*n + len >= cap) {
		/* Keep the path a prefix; mark the cut. */
		len = *n + 4 < cap ? cap - 4 - *n : 0;
		memcpy(out + *n, s, len);
		*n += len;
		if (*n + 3 < cap) {
			memcpy(out + *n, "...", 3);
			*n += 3;
		}
		out[*n] = 0;
		return;
	}
	memcpy(out + *n, s, len);
	*n += len;
	out[*n] = 0;
}

/* The path of the member or element being read: every open container
 * contributes its current key or index. */
static void build_path(const struct parser *ps, char *out)
{
	size_t n = 0;

	out[0] = 0;
	if (!ps->top)
		return;
	for (const struct frame *f = ps->st; f <= ps->top; f++) {
		char idx[16];
		if (f->count == 0 || (f == ps->top && f->obj && ps->key_phase))
			break;
		if (f->obj) {
			uint32_t k = f < ps->top ? f[1].kbase - 1 : ps->ktop - 1;
			const struct key *key = &ps->keys[k];
			if (n)
				path_add(out, &n, ".", 1);
			path_add(out, &n, (const char *)ps->in + key->off, key->len);
		} else {
			int w = snprintf(idx, sizeof(idx), "[%u]", f->count - 1);
			path_add(out, &n, idx, (size_t)w);
		}
	}
}

static int vfail(struct parser *ps, int code, const uint8_t *at,
		 const char *path, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static int vfail(struct parser *ps, int code, const uint8_t *at,
		 const char *path, const char *fmt, va_list ap)
{
	struct event_error *e = ps->err;

	ps->rc = code;
	if (!e)
		return code;
	e->code = code;
	e->offset = off_of(ps, at);
	if (path)
		snprintf(e->path, sizeof(e->path), "%s", path);
	else
		build_path(ps, e->path);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

/* Fills *err with the current path; returns code. */
static int fail(struct parser *ps, int code, const uint8_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct parser *ps, int code, const uint8_t *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(ps, code, at, NULL, fmt, ap);
	va_end(ap);
	return code;
}

/* Same with an explicit path. */
static int fail_at(struct parser *ps, int code, const uint8_t *at, const char *path,
		   const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail_at(struct parser *ps, int code, const uint8_t *at, const char *path,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(ps, code, at, path, fmt, ap);
	va_end(ap);
	return code;
}

/* "'x'", "byte 0xNN" or "end of input". */
static const char *found(const struct parser *ps, const uint8_t *p, char buf[16])
{
	if (p >= ps->end)
		return "end of input";
	if (*p > 0x20 && *p < 0x7f)
		snprintf(buf, 16, "'%c'", *p);
	else
		snprintf(buf, 16, "byte 0x%02X", *p);
	return buf;
}

static const char *type_name(uint8_t c)
{
	switch (c) {
	case '{': return "object";
	case '[': return "array";
	case '"': return "string";
	case 't': case 'f': return "boolean";
	case 'n': return "null";
	default: return "number";
	}
}

static const uint8_t type_tab[256] = {
	['{'] = T_OBJ, ['['] = T_ARR, ['"'] = T_STR, ['t'] = T_BOOL, ['f'] = T_BOOL,
	['n'] = T_NULL, ['-'] = T_NUM, ['0'] = T_NUM, ['1'] = T_NUM, ['2'] = T_NUM,
	['3'] = T_NUM, ['4'] = T_NUM, ['5'] = T_NUM, ['6'] = T_NUM, ['7'] = T_NUM,
	['8'] = T_NUM, ['9'] = T_NUM,
};

static inline uint8_t type_of(uint8_t c)
{
	return type_tab[c];
}

static const char *types_name(uint8_t t)
{
	switch (t) {
	case T_OBJ: return "object";
	case T_ARR: return "array";
	case T_STR: return "string";
	case T_NUM: return "number";
	default: return "value";
	}
}

/* Quotes at most 48 bytes of s for a message. */
static void quote(char out[64], const uint8_t *s, size_t n)
{
	size_t m = n > 48 ? 48 : n;
	snprintf(out, 64, "\"%.*s%s\"", (int)m, (const char *)s, n > m ? "..." : "");
}

/* ---- compact output -------------------------------------------------- */

/* Copies the pending run [span, upto) to the output (as far as it fits)
 * and counts it; notes where the compact form crossed its limit. */
static void emit(struct parser *ps, const uint8_t *upto)
{
	size_t n = (size_t)(upto - ps->span);

	if (!ps->over && ps->clen + n > ps->entry_limit) {
		ps->over = true;
		ps->over_at = off_of(ps, ps->span) + (ps->entry_limit - ps->clen);
	}
	if (n && ps->clen + n <= ps->room)
		memcpy(ps->dst + ps->clen, ps->span, n);
	ps->clen += n;
}

static const uint8_t *ws_slow(struct parser *ps, const uint8_t *p)
{
	if (ps->out_on)
		emit(ps, p);
	while (p < ps->end && is_ws[*p])
		p++;
	ps->span = p;
	return p;
}

static inline const uint8_t *ws(struct parser *ps, const uint8_t *p)
{
	if (likely(p < ps->end && !is_ws[*p]))
		return p;
	if (p >= ps->end)
		return p;
	return ws_slow(ps, p);
}

/* ---- strings --------------------------------------------------------- */

static inline const uint8_t *find_special(const uint8_t *p, const uint8_t *end)
{
#if defined(__SSE2__)
	const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	const __m128i sp = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* Signed compare: bytes >= 0x80 are negative, so < 0x20 too. */
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q),
						      _mm_cmpeq_epi8(v, bs)),
					 _mm_cmplt_epi8(v, sp));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);
		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (p < end && !special[*p])
		p++;
	return p;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (bounds already checked); -1 if not hex. */
static long hex4(const uint8_t *p)
{
	int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
	if ((a | b | c | d) < 0)
		return -1;
	return (long)(a << 12 | b << 8 | c << 4 | d);
}

/* Validates the escape at p ('\\'); returns the byte after it or NULL. */
static const uint8_t *escape(struct parser *ps, const uint8_t *p)
{
	char fb[16];
	long u, lo;

	if (p + 1 >= ps->end) {
		fail(ps, ST_EINVAL, ps->end, "unterminated string");
		return NULL;
	}
	switch (p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
		return p + 2;
	case 'u':
		break;
	default:
		fail(ps, ST_EINVAL, p, "invalid escape: expected one of \"\\/bfnrtu after '\\', found %s",
		     found(ps, p + 1, fb));
		return NULL;
	}
	if (ps->end - p < 6 || (u = hex4(p + 2)) < 0) {
		fail(ps, ST_EINVAL, p, "invalid \\u escape: expected 4 hex digits");
		return NULL;
	}
	if (u >= 0xDC00 && u <= 0xDFFF) {
		fail(ps, ST_EINVAL, p, "lone low surrogate \\u%04lX", u);
		return NULL;
	}
	if (u < 0xD800 || u > 0xDBFF)
		return p + 6;
	if (ps->end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
	    (lo = hex4(p + 8)) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
		fail(ps, ST_EINVAL, p, "lone high surrogate \\u%04lX: expected a \\uDC00-\\uDFFF escape after it", u);
		return NULL;
	}
	return p + 12;
}

/* Validates one UTF-8 sequence at p (*p >= 0x80) per Unicode table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static const uint8_t *utf8_seq(struct parser *ps, const uint8_t *p)
{
	unsigned c = p[0], need, lo = 0x80, hi = 0xBF;
	const char *why = "";

	if (c < 0xC2 || c > 0xF4) {
		fail(ps, ST_EINVAL, p, "invalid UTF-8 byte 0x%02X%s", c,
		     c < 0xC0 ? " (continuation byte without a lead byte)" :
		     c < 0xC2 ? " (overlong encoding)" : "");
		return NULL;
	}
	if (c < 0xE0) {
		need = 1;
	} else if (c < 0xF0) {
		need = 2;
		if (c == 0xE0) { lo = 0xA0; why = " (overlong encoding)"; }
		if (c == 0xED) { hi = 0x9F; why = " (UTF-16 surrogate)"; }
	} else {
		need = 3;
		if (c == 0xF0) { lo = 0x90; why = " (overlong encoding)"; }
		if (c == 0xF4) { hi = 0x8F; why = " (above U+10FFFF)"; }
	}
	for (unsigned i = 1; i <= need; i++) {
		if (p + i >= ps->end) {
			fail(ps, ST_EINVAL, ps->end, "truncated UTF-8 sequence starting 0x%02X", c);
			return NULL;
		}
		unsigned b = p[i];
		if (b < lo || b > hi) {
			fail(ps, ST_EINVAL, p + i, "invalid UTF-8 byte 0x%02X after 0x%02X%s",
			     b, p[i - 1], i == 1 ? why : "");
			return NULL;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return p + need + 1;
}

/* The general string scanner: escapes, UTF-8, errors, long strings.
 * p is where the fast path stopped (no special byte before it). */
static const uint8_t *__attribute__((noinline))
scan_string_slow(struct parser *ps, const uint8_t *q, const uint8_t *p, uint8_t *esc)
{
	for (;;) {
		p = find_special(p, ps->end);
		if (unlikely(p >= ps->end)) {
			fail(ps, ST_EINVAL, ps->end, "unterminated string (opened at byte %zu)",
			     off_of(ps, q));
			return NULL;
		}
		uint8_t c = *p;
		if (likely(c == '"'))
			break;
		if (c == '\\') {
			*esc = 1;
			p = escape(ps, p);
		} else if (c >= 0x80) {
			p = utf8_seq(ps, p);
		} else {
			fail(ps, ST_EINVAL, p, "control character 0x%02X in string (must be escaped)", c);
			return NULL;
		}
		if (!p)
			return NULL;
	}
	if (unlikely((size_t)(p - q - 1) > ps->max_string)) {
		fail(ps, ST_ELIMIT, q, "string is %zu bytes, limit max_string is %zu",
		     (size_t)(p - q - 1), ps->max_string);
		return NULL;
	}
	return p;
}

/* Scans the string whose opening quote is at q. Returns the closing quote
 * or NULL (error filled). *esc is set when a backslash was seen. The fast
 * path is one 16-byte compare: most keys and values are short ASCII. */
static inline const uint8_t *scan_string(struct parser *ps, const uint8_t *q, uint8_t *esc)
{
	const uint8_t *p = q + 1;

#if defined(__SSE2__)
	if (likely(ps->end - p >= 16)) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
						      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
					 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);
		if (likely(mask)) {
			p += __builtin_ctz(mask);
			/* max_string >= 15 here is not assumed: check it. */
			if (likely(*p == '"') && likely((size_t)(p - q - 1) <= ps->max_string))
				return p;
		} else {
			p += 16;
		}
	}
#endif
	return scan_string_slow(ps, q, p, esc);
}

/* ---- decoding validated strings -------------------------------------- */

/* Iterator over the decoded bytes of a validated string body. */
struct unesc {
	const uint8_t *p, *e;
	uint8_t b[4];
	unsigned nb, ib;
};

static int unesc_next(struct unesc *u)
{
	uint32_t cp;

	if (u->ib < u->nb)
		return u->b[u->ib++];
	if (u->p >= u->e)
		return -1;
	if (*u->p != '\\')
		return *u->p++;
	switch (u->p[1]) {
	case 'b': u->p += 2; return '\b';
	case 'f': u->p += 2; return '\f';
	case 'n': u->p += 2; return '\n';
	case 'r': u->p += 2; return '\r';
	case 't': u->p += 2; return '\t';
	case 'u': break;
	default: u->p += 2; return u->p[-1]; /* " \ / */
	}
	cp = (uint32_t)hex4(u->p + 2);
	u->p += 6;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(u->p + 2) - 0xDC00);
		u->p += 6;
	}
	u->ib = 1;
	if (cp < 0x80) {
		u->nb = 0;
		return (int)cp;
	} else if (cp < 0x800) {
		u->b[0] = (uint8_t)(0xC0 | cp >> 6);
		u->b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		u->nb = 2;
	} else if (cp < 0x10000) {
		u->b[0] = (uint8_t)(0xE0 | cp >> 12);
		u->b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u->b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		u->nb = 3;
	} else {
		u->b[0] = (uint8_t)(0xF0 | cp >> 18);
		u->b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		u->b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u->b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		u->nb = 4;
	}
	return u->b[0];
}

/* Decodes body s[0..n) into out[0..cap); returns the full decoded length
 * (bytes past cap are counted, not written). */
static size_t unescape(const uint8_t *s, size_t n, uint8_t *out, size_t cap)
{
	struct unesc u = { s, s + n, {0}, 0, 0 };
	size_t len = 0;
	int c;

	while ((c = unesc_next(&u)) >= 0) {
		if (len < cap)
			out[len] = (uint8_t)c;
		len++;
	}
	return len;
}

/* ---- keys ------------------------------------------------------------ */

/* Hash of s[0..m) and the length n. Reads 8 bytes at a time, including
 * for the tail: the caller guarantees that s[0..m+8) is readable (pad). */
static inline uint32_t khash(const uint8_t *s, size_t m, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;

	while (m > 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		s += 8;
		m -= 8;
	}
	memcpy(&w, s, 8);
	w &= m ? ~0ull >> (64 - 8 * m) : 0;
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

/* Hash of the decoded key: its first HASH_PREFIX bytes and its length.
 * end bounds the input, for khash's 8-byte reads. */
static inline uint32_t key_hash(const uint8_t *s, size_t n, bool esc, const uint8_t *end)
{
	uint8_t buf[HASH_PREFIX + 8];
	size_t m = n < HASH_PREFIX ? n : HASH_PREFIX;

	if (!esc) {
		if (likely((size_t)(end - s) >= m + 8))
			return khash(s, m, n);
		memcpy(buf, s, m);
	} else {
		n = unescape(s, n, buf, HASH_PREFIX);
		m = n < HASH_PREFIX ? n : HASH_PREFIX;
	}
	memset(buf + m, 0, 8);
	return khash(buf, m, n);
}

/* Fingerprint of the decoded key: equal keys have equal fingerprints. Keys
 * of small objects are compared by fingerprint first, which costs one load
 * instead of a hash over the whole key. */
static inline uint64_t key_fp(const uint8_t *s, size_t n, bool esc, const uint8_t *end)
{
	uint8_t buf[16];
	uint64_t w;
	size_t m;

	if (esc) {
		n = unescape(s, n, buf, 8);
		s = buf;
	} else if (unlikely((size_t)(end - s) < 8)) {
		memcpy(buf, s, n < 8 ? n : 8);
		s = buf;
	}
	m = n < 8 ? n : 8;
	memcpy(&w, s, 8);
	w &= m ? ~0ull >> (64 - 8 * m) : 0;
	return w ^ (uint64_t)n * 0x9E3779B97F4A7C15ull;
}

static bool key_eq(const struct parser *ps, const struct key *a, const struct key *b)
{
	const uint8_t *sa = ps->in + a->off, *sb = ps->in + b->off;

	if (!a->esc && !b->esc)
		return a->len == b->len && memcmp(sa, sb, a->len) == 0;
	struct unesc ua = { sa, sa + a->len, {0}, 0, 0 };
	struct unesc ub = { sb, sb + b->len, {0}, 0, 0 };
	int ca, cb;
	do {
		ca = unesc_next(&ua);
		cb = unesc_next(&ub);
		if (ca != cb)
			return false;
	} while (ca >= 0);
	return true;
}

/* Decoded key equals the literal s? */
static bool key_is(const struct parser *ps, const struct key *k, const char *s, size_t n)
{
	const uint8_t *raw = ps->in + k->off;
	uint8_t buf[32];

	if (!k->esc)
		return k->len == n && memcmp(raw, s, n) == 0;
	return unescape(raw, k->len, buf, sizeof(buf)) == n && memcmp(buf, s, n) == 0;
}

static void table_link(struct parser *ps, uint32_t i)
{
	struct key *k = &ps->keys[i];
	uint32_t b;

	k->hash = key_hash(ps->in + k->off, k->len, k->esc, ps->end);
	b = k->hash >> (32 - TABLE_BITS);
	k->next = ps->table[b];
	ps->table[b] = (uint16_t)i;
}

/* The key just pushed (ktop - 1) against the others of object f; returns
 * the earlier equal key or NULL. */
static const struct key *find_dup(struct parser *ps, struct frame *f)
{
	uint32_t i = ps->ktop - 1;
	const struct key *k = &ps->keys[i];

	if (likely(f->count <= BIG_OBJECT)) {
		/* A bit per fingerprint: a new bit means a new key, and the
		 * scan below runs only on a (rare) bit collision. */
		uint64_t bit = 1ull << ((k->fp * 0x9E3779B97F4A7C15ull) >> 58);
		if (likely(!(f->bloom & bit))) {
			f->bloom |= bit;
			return NULL;
		}
		for (uint32_t j = f->kbase; j < i; j++)
			if (ps->keys[j].fp == k->fp && key_eq(ps, &ps->keys[j], k))
				return &ps->keys[j];
		return NULL;
	}
	if (!f->big) {
		if (!ps->table_ready) {
			memset(ps->table, 0xFF, sizeof(ps->table));
			ps->table_ready = true;
		}
		for (uint32_t j = f->kbase; j < i; j++)
			table_link(ps, j);
		f->big = 1;
	}
	/* Link first (which computes the hash), then walk the rest of the
	 * chain: newest to oldest, and keys below kbase are an enclosing
	 * object's. */
	table_link(ps, i);
	for (uint32_t j = k->next; j != NO_KEY && j >= f->kbase; j = ps->keys[j].next)
		if (ps->keys[j].hash == k->hash && ps->keys[j].fp == k->fp &&
		    key_eq(ps, &ps->keys[j], k))
			return &ps->keys[j];
	return NULL;
}

/* Unlinks the keys of a big object, newest first (the reverse of linking). */
static void table_unwind(struct parser *ps, const struct frame *f)
{
	for (uint32_t i = ps->ktop; i-- > f->kbase;) {
		uint32_t b = ps->keys[i].hash >> (32 - TABLE_BITS);
		ps->table[b] = ps->keys[i].next;
	}
}

/* ---- field rules ----------------------------------------------------- */

struct field {
	const char *name;
	uint8_t len;
	struct want w;
};

#define F(n, t, r, c, b) { n, sizeof(n) - 1, { t, r, c, b } }
#define SERVER 0xFF  /* types value marking a server-owned name */

enum {
	RF_ID, RF_TIME, RF_TENANT, RF_ACTOR, RF_ACTION, RF_RESOURCE, RF_OUTCOME,
	RF_REASON, RF_REQUEST_ID, RF_TRACE_ID, RF_PARENT_ID, RF_SOURCE, RF_BEFORE,
	RF_AFTER, RF_METADATA, RF_SCHEMA, RF_SEQ, RF_RECEIVED_AT, RF_TSEQ, RF_TPREV,
	RF_PRODUCER, RF_CLIENT_IP, RF_CONTEXT, RF_REDACTED, RF_CRITICALITY, RF_SAMPLED,
};

static const struct field root_fields[] = {
	[RF_ID] = F("id", T_STR, R_ID, 0, S_ID),
	[RF_TIME] = F("time", T_STR, R_TIME, 0, S_TIME),
	[RF_TENANT] = F("tenant", T_STR, R_TENANT, 0, S_TENANT),
	[RF_ACTOR] = F("actor", T_OBJ, R_NONE, C_ACTOR, S_ACTOR),
	[RF_ACTION] = F("action", T_STR, R_ACTION, 0, S_ACTION),
	[RF_RESOURCE] = F("resource", T_OBJ, R_NONE, C_RESOURCE, S_RESOURCE),
	[RF_OUTCOME] = F("outcome", T_STR, R_OUTCOME, 0, 0),
	[RF_REASON] = F("reason", T_STR, R_NONE, 0, 0),
	[RF_REQUEST_ID] = F("request_id", T_STR, R_NONE, 0, S_REQUEST_ID),
	[RF_TRACE_ID] = F("trace_id", T_STR, R_NONE, 0, S_TRACE_ID),
	[RF_PARENT_ID] = F("parent_id", T_STR, R_NONE, 0, 0),
	[RF_SOURCE] = F("source", T_OBJ, R_NONE, C_SOURCE, 0),
	[RF_BEFORE] = F("before", T_ANY, R_NONE, 0, 0),
	[RF_AFTER] = F("after", T_ANY, R_NONE, 0, 0),
	[RF_METADATA] = F("metadata", T_OBJ, R_NONE, 0, 0),
	[RF_SCHEMA] = F("schema", T_STR, R_SCHEMA, 0, 0),
	[RF_SEQ] = F("seq", SERVER, 0, 0, 0),
	[RF_RECEIVED_AT] = F("received_at", SERVER, 0, 0, 0),
	[RF_TSEQ] = F("tseq", SERVER, 0, 0, 0),
	[RF_TPREV] = F("tprev", SERVER, 0, 0, 0),
	[RF_PRODUCER] = F("producer", SERVER, 0, 0, 0),
	/* what the server's enrichment and policy add (docs/ENRICHMENT.md) */
	[RF_CLIENT_IP] = F("client_ip", SERVER, 0, 0, 0),
	[RF_CONTEXT] = F("context", SERVER, 0, 0, 0),
	[RF_REDACTED] = F("redacted", SERVER, 0, 0, 0),
	[RF_CRITICALITY] = F("criticality", SERVER, 0, 0, 0),
	[RF_SAMPLED] = F("sampled", SERVER, 0, 0, 0),
};

enum { AF_ID, AF_TYPE, AF_NAME, AF_IP, AF_USER_AGENT, AF_AUTH, AF_ON_BEHALF_OF };

static const struct field actor_fields[] = {
	[AF_ID] = F("id", T_STR, R_NONEMPTY, 0, S_ACTOR_ID),
	[AF_TYPE] = F("type", T_STR, R_NONE, 0, 0),
	[AF_NAME] = F("name", T_STR, R_NONE, 0, 0),
	[AF_IP] = F("ip", T_STR, R_NONE, 0, 0),
	[AF_USER_AGENT] = F("user_agent", T_STR, R_NONE, 0, 0),
	[AF_AUTH] = F("auth", T_ANY, R_NONE, 0, 0),
	[AF_ON_BEHALF_OF] = F("on_behalf_of", T_STR, R_NONE, 0, 0),
};

enum { SF_TYPE, SF_ID, SF_NAME, SF_PARENT };

static const struct field resource_fields[] = {
	[SF_TYPE] = F("type", T_STR, R_RES_TYPE, 0, S_RES_TYPE),
	[SF_ID] = F("id", T_STR, R_NONE, 0, 0),
	[SF_NAME] = F("name", T_STR, R_NONE, 0, 0),
	[SF_PARENT] = F("parent", T_STR, R_NONE, 0, 0),
};

/* A producer's sequence (docs/CAPTURE.md): source.producer_id names the
 * sending instance, source.producer_seq counts its events from 1. */
enum { OF_PRODUCER_ID, OF_PRODUCER_SEQ, OF_CLIENT_CERT };

/* source.client_cert is a verified TLS client certificate's subject, which
 * only the server writes (a syslog listener with client certificates,
 * DECISIONS.md 31): its presence is reported (event_info), and the ingest
 * refuses it from any other transport. */
static const struct field source_fields[] = {
	[OF_PRODUCER_ID] = F("producer_id", T_STR, R_PID, 0, 0),
	[OF_PRODUCER_SEQ] = F("producer_seq", T_NUM, R_PSEQ, 0, 0),
	[OF_CLIENT_CERT] = F("client_cert", T_STR, R_CCERT, 0, 0),
};

static const struct field stored_fields[] = {
	F("seq", T_NUM, R_U64, 0, S_SEQ),
	F("received_at", T_STR, R_RTIME, 0, S_RECV),
	F("tseq", T_NUM, R_U64, 0, S_TSEQ),
	F("tprev", T_STR, R_B64_32, 0, S_TPREV),
};

static const struct field stored_tenant = F("tenant", T_STR, R_TENANT, 0, S_TENANT);
/* Any type, as before ids were read back: a non-string id is not an id. */
static const struct field stored_id = F("id", 0, R_SID, 0, S_ID);

#undef F

/* Field lookups: a switch on the length, then fixed-size compares (which
 * the compiler turns into one or two loads), instead of a table scan. */
static inline uint64_t ld8(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t ld4(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t ld2(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* s[0..n) == lit for 2 <= n <= 16, with overlapping loads that stay
 * inside both; with a literal, the compiler folds lit's loads away. */
static inline bool eq_lit(const uint8_t *s, const char *lit, size_t n)
{
	if (n >= 8)
		return ld8(s) == ld8(lit) && ld8(s + n - 8) == ld8(lit + n - 8);
	if (n >= 4)
		return ld4(s) == ld4(lit) && ld4(s + n - 4) == ld4(lit + n - 4);
	return ld2(s) == ld2(lit) && ld2(s + n - 2) == ld2(lit + n - 2);
}

#define IS(lit) eq_lit(s, lit, sizeof(lit) - 1)

static const struct field *root_lookup(const uint8_t *s, size_t len)
{
	int i = -1;

	switch (len) {
	case 2: if (IS("id")) i = RF_ID; break;
	case 3: if (IS("seq")) i = RF_SEQ; break;
	case 4:
		if (IS("time")) i = RF_TIME;
		else if (IS("tseq")) i = RF_TSEQ;
		break;
	case 5:
		if (IS("actor")) i = RF_ACTOR;
		else if (IS("after")) i = RF_AFTER;
		else if (IS("tprev")) i = RF_TPREV;
		break;
	case 6:
		if (IS("action")) i = RF_ACTION;
		else if (IS("tenant")) i = RF_TENANT;
		else if (IS("reason")) i = RF_REASON;
		else if (IS("source")) i = RF_SOURCE;
		else if (IS("before")) i = RF_BEFORE;
		else if (IS("schema")) i = RF_SCHEMA;
		break;
	case 7:
		if (IS("outcome")) i = RF_OUTCOME;
		else if (IS("context")) i = RF_CONTEXT;
		else if (IS("sampled")) i = RF_SAMPLED;
		break;
	case 8:
		if (IS("resource")) i = RF_RESOURCE;
		else if (IS("metadata")) i = RF_METADATA;
		else if (IS("trace_id")) i = RF_TRACE_ID;
		else if (IS("producer")) i = RF_PRODUCER;
		else if (IS("redacted")) i = RF_REDACTED;
		break;
	case 9:
		if (IS("parent_id")) i = RF_PARENT_ID;
		else if (IS("client_ip")) i = RF_CLIENT_IP;
		break;
	case 10: if (IS("request_id")) i = RF_REQUEST_ID; break;
	case 11:
		if (IS("received_at")) i = RF_RECEIVED_AT;
		else if (IS("criticality")) i = RF_CRITICALITY;
		break;
	default: break;
	}
	return i < 0 ? NULL : &root_fields[i];
}

static const struct field *actor_lookup(const uint8_t *s, size_t len)
{
	int i = -1;

	switch (len) {
	case 2:
		if (IS("id")) i = AF_ID;
		else if (IS("ip")) i = AF_IP;
		break;
	case 4:
		if (IS("type")) i = AF_TYPE;
		else if (IS("name")) i = AF_NAME;
		else if (IS("auth")) i = AF_AUTH;
		break;
	case 10: if (IS("user_agent")) i = AF_USER_AGENT; break;
	case 12: if (IS("on_behalf_of")) i = AF_ON_BEHALF_OF; break;
	default: break;
	}
	return i < 0 ? NULL : &actor_fields[i];
}

static const struct field *resource_lookup(const uint8_t *s, size_t len)
{
	int i = -1;

	switch (len) {
	case 2: if (IS("id")) i = SF_ID; break;
	case 4:
		if (IS("type")) i = SF_TYPE;
		else if (IS("name")) i = SF_NAME;
		break;
	case 6: if (IS("parent")) i = SF_PARENT; break;
	default: break;
	}
	return i < 0 ? NULL : &resource_fields[i];
}

#undef IS

/* Decides the rule for the value of key k in object f. */
static int classify(struct parser *ps, const struct frame *f, const struct key *k,
		    const uint8_t *kq, struct want *w)
{
	const uint8_t *name = ps->in + k->off;
	size_t len = k->len;
	uint8_t buf[32];
	const struct field *fd = NULL;
	char q[64];

	if (f->ctx == C_STORED) {
		if (f->count <= ARRAY_SIZE(stored_fields)) {
			fd = &stored_fields[f->count - 1];
			if (k->esc || len != fd->len || memcmp(name, fd->name, len) != 0) {
				quote(q, name, len);
				return fail(ps, ST_EINVAL, kq, "expected server field \"%s\" as member %u, found %s",
					    fd->name, f->count, q);
			}
		} else if (key_is(ps, k, "tenant", 6)) {
			fd = &stored_tenant;
		} else if (key_is(ps, k, "id", 2)) {
			fd = &stored_id;
		}
		if (fd)
			*w = fd->w;
		return 0;
	}
	if (k->esc) {
		len = unescape(name, k->len, buf, sizeof(buf));
		name = len <= sizeof(buf) ? buf : NULL;
	}
	if (name) {
		switch (f->ctx) {
		case C_ROOT:
			fd = root_lookup(name, len);
			break;
		case C_ACTOR:
			fd = actor_lookup(name, len);
			break;
		case C_SOURCE:
			fd = len == 11 && !memcmp(name, "producer_id", 11) ? &source_fields[OF_PRODUCER_ID] :
			     len == 12 && !memcmp(name, "producer_seq", 12) ? &source_fields[OF_PRODUCER_SEQ] :
			     len == 11 && !memcmp(name, "client_cert", 11) ? &source_fields[OF_CLIENT_CERT] : NULL;
			break;
		default:
			fd = resource_lookup(name, len);
			break;
		}
	}
	if (fd && fd->w.types == SERVER) {
		return fail(ps, ST_EINVAL, kq, "\"%s\" is a server field and may not be set by a producer",
			    fd->name);
	}
	if (!fd && f->ctx == C_ROOT) {
		quote(q, ps->in + k->off, k->len);
		return fail(ps, ST_EINVAL, kq, "unknown top-level member %s (put it in \"metadata\")", q);
	}
	if (fd)
		*w = fd->w;
	return 0;
}

static bool tenant_ok(const uint8_t *s, size_t n)
{
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* rfc3339_parse over the years that int64 nanoseconds can hold: outside
 * 1678..2261 its arithmetic would overflow, so they are refused first. */
static bool time_parse(const uint8_t *s, size_t n, int64_t *ret_ns)
{
	if (n < 4)
		return false;
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	if (year < 1678 || year > 2261)
		return false;
	return rfc3339_parse((const char *)s, n, ret_ns);
}

/* Content rule for the string whose quotes are at q and e. */
static int check_string(struct parser *ps, const struct want *w, const uint8_t *q,
			const uint8_t *e, uint8_t esc)
{
	const uint8_t *s = q + 1;
	size_t n = (size_t)(e - s);
	uint8_t buf[130];
	char qs[64];

	switch (w->rule) {
	case R_SCHEMA:
		ps->schema = s;
		ps->schema_len = n;
		break;
	case R_PID: {
		bool ok = !esc && n >= 1 && n <= EVENT_PRODUCER_ID_MAX;
		for (size_t i = 0; ok && i < n; i++)
			ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
			     s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-';
		if (!ok) {
			quote(qs, q + 1, (size_t)(e - q - 1));
			return fail(ps, ST_EINVAL, q, "expected a producer id matching [A-Za-z0-9._:-]{1,%d}, found %s",
				    EVENT_PRODUCER_ID_MAX, qs);
		}
		ps->pid = s;
		ps->pid_len = n;
		break;
	}
	case R_CCERT:
		ps->ccert = true;
		break;
	case R_NONEMPTY:
	case R_ACTION:
	case R_RES_TYPE:
		if (n == 0)
			return fail(ps, ST_EINVAL, q, "expected non-empty string, found empty string");
		if (w->rule == R_ACTION) {
			ps->action = s;
			ps->action_len = n;
		} else if (w->rule == R_RES_TYPE) {
			ps->res_type = s;
			ps->res_type_len = n;
		}
		break;
	case R_TIME:
	case R_RTIME:
		if (esc) {
			n = unescape(s, n, buf, 64);
			s = n <= 64 ? buf : NULL;
		}
		if (!s || !time_parse(s, n, w->rule == R_TIME ? &ps->time_ns : &ps->recv_ns)) {
			quote(qs, q + 1, (size_t)(e - q - 1));
			return fail(ps, ST_EINVAL, q, "expected RFC 3339 date-time (years 1678-2261), found %s", qs);
		}
		break;
	case R_TENANT:
		if (!tenant_ok(s, n)) {
			quote(qs, s, n);
			return fail(ps, ST_EINVAL, q, "expected tenant matching [A-Za-z0-9_.-]{1,64}, found %s", qs);
		}
		ps->tenant = s;
		ps->tenant_len = n;
		break;
	case R_ID:
		ps->id = s;
		ps->id_len = n;
		if (esc)
			n = unescape(s, n, buf, sizeof(buf));
		if (n < 1 || n > 128)
			return fail(ps, ST_EINVAL, q, "expected id of 1 to 128 bytes, found %zu bytes", n);
		for (size_t i = 0; esc && i < n; i++)
			if (buf[i] < 0x20 || buf[i] == 0x7f)
				return fail(ps, ST_EINVAL, q, "id contains control character 0x%02X", buf[i]);
		for (size_t i = 0; !esc && i < n; i++)
			if (s[i] == 0x7f)
				return fail(ps, ST_EINVAL, q, "id contains control character 0x7F");
		break;
	case R_OUTCOME:
		if (esc) {
			n = unescape(s, n, buf, 16);
			s = buf;
		}
		if (!((n == 7 && (memcmp(s, "success", 7) == 0 || memcmp(s, "failure", 7) == 0 ||
				  memcmp(s, "unknown", 7) == 0)) ||
		      (n == 6 && memcmp(s, "denied", 6) == 0))) {
			quote(qs, q + 1, (size_t)(e - q - 1));
			return fail(ps, ST_EINVAL, q,
				    "expected one of \"success\" \"failure\" \"denied\" \"unknown\", found %s", qs);
		}
		/* one of four: the canonical spelling, whatever the escapes */
		ps->outcome = (const uint8_t *)(n == 6 ? "denied" : s[0] == 's' ? "success" :
						s[0] == 'f' ? "failure" : "unknown");
		ps->outcome_len = n;
		break;
	case R_SID:
		ps->id = s;
		ps->id_len = n;
		break;
	case R_B64_32:
		if (esc || base64_decode((const char *)s, n, ps->tprev, sizeof(ps->tprev)) != 32) {
			quote(qs, s, n);
			return fail(ps, ST_EINVAL, q, "expected base64 of 32 bytes, found %s", qs);
		}
		break;
	default:
		break;
	}
	return 0;
}

static int check_number(struct parser *ps, const struct want *w, const uint8_t *s,
			const uint8_t *e)
{
	uint64_t v;
	char qs[64];

	if (w->rule == R_PSEQ) {
		if (!st_parse_u64((const char *)s, (size_t)(e - s), &v) || v == 0) {
			quote(qs, s, (size_t)(e - s));
			return fail(ps, ST_EINVAL, s, "expected an integer from 1 to 2^64-1, found %s", qs);
		}
		ps->pseq = v;
		return 0;
	}
	if (w->rule == R_U64) {
		if (!st_parse_u64((const char *)s, (size_t)(e - s), &v)) {
			quote(qs, s, (size_t)(e - s));
			return fail(ps, ST_EINVAL, s, "expected unsigned 64-bit integer, found %s", qs);
		}
		if (w->bit == S_SEQ)
			ps->seq = v;
		else
			ps->tseq = v;
	}
	return 0;
}

/* Required members, checked when their object closes at '}' (p). */
static int close_checks(struct parser *ps, const struct frame *f, const uint8_t *p)
{
	static const struct { uint32_t bit; const char *path; } req[] = {
		{ S_TIME, "time" }, { S_ACTION, "action" },
		{ S_ACTOR, "actor" }, { S_RESOURCE, "resource" },
	};

	switch (f->ctx) {
	case C_ROOT:
		for (size_t i = 0; i < ARRAY_SIZE(req); i++)
			if (!(ps->seen & req[i].bit))
				return fail_at(ps, ST_EINVAL, p, req[i].path, "required field is missing");
		break;
	case C_ACTOR:
		if (!(ps->seen & S_ACTOR_ID))
			return fail_at(ps, ST_EINVAL, p, "actor.id", "required field is missing");
		break;
	case C_RESOURCE:
		if (!(ps->seen & S_RES_TYPE))
			return fail_at(ps, ST_EINVAL, p, "resource.type", "required field is missing");
		break;
	case C_STORED:
		if (f->count < ARRAY_SIZE(stored_fields))
			return fail_at(ps, ST_EINVAL, p, "", "expected server field \"%s\" as member %u, found '}'",
				       stored_fields[f->count].name, f->count + 1);
		if (!(ps->seen & S_TENANT))
			return fail_at(ps, ST_EINVAL, p, "tenant", "required field is missing");
		break;
	default:
		break;
	}
	return 0;
}

/* ---- the reader ------------------------------------------------------ */

/* Reads one object from ps->in; ctx is the root's context. */
static int run(struct parser *ps, uint8_t root_ctx)
{
	const uint8_t *p = ps->in, *end = ps->end, *q;
	struct frame *f;
	struct want w = { 0, 0, root_ctx, 0 };
	uint8_t esc;
	char fb[16];
	int rc;

	while (p < end && is_ws[*p])
		p++;
	ps->span = p;
	if (p >= end || *p != '{') {
		if (p + 2 < end && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
			return fail(ps, ST_EINVAL, p, "expected object, found a byte order mark");
		if (p < end && type_of(*p))
			return fail(ps, ST_EINVAL, p, "expected object, found %s", type_name(*p));
		return fail(ps, ST_EINVAL, p, "expected object, found %s", found(ps, p, fb));
	}
	goto open_object;

value:
	p = ws(ps, p);
	if (unlikely(p >= end))
		return fail(ps, ST_EINVAL, p, "expected value, found end of input");
	if (unlikely(w.types && !(w.types & type_of(*p)) && type_of(*p)))
		return fail(ps, ST_EINVAL, p, "expected %s, found %s", types_name(w.types), type_name(*p));
	ps->seen |= w.bit;
	switch (*p) {
	case '{':
		goto open_object;
	case '[':
		goto open_array;
	case '"':
		esc = 0;
		q = p;
		p = scan_string(ps, p, &esc);
		if (!p)
			return ps->rc;
		if (w.rule && (rc = check_string(ps, &w, q, p, esc)) < 0)
			return rc;
		p++;
		goto after_value;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		q = p;
		if (*p == '-')
			p++;
		if (p < end && *p == '0') {
			p++;
			if (p < end && *p >= '0' && *p <= '9')
				return fail(ps, ST_EINVAL, p - 1, "leading zero in number");
		} else if (p < end && *p >= '1' && *p <= '9') {
			p++;
			while (p < end && *p >= '0' && *p <= '9')
				p++;
		} else {
			return fail(ps, ST_EINVAL, p, "expected digit after '-', found %s", found(ps, p, fb));
		}
		if (p < end && *p == '.') {
			p++;
			if (p >= end || *p < '0' || *p > '9')
				return fail(ps, ST_EINVAL, p, "expected digit after '.', found %s", found(ps, p, fb));
			while (p < end && *p >= '0' && *p <= '9')
				p++;
		}
		if (p < end && (*p == 'e' || *p == 'E')) {
			p++;
			if (p < end && (*p == '+' || *p == '-'))
				p++;
			if (p >= end || *p < '0' || *p > '9')
				return fail(ps, ST_EINVAL, p, "expected digit in exponent, found %s", found(ps, p, fb));
			while (p < end && *p >= '0' && *p <= '9')
				p++;
		}
		if (w.rule && (rc = check_number(ps, &w, q, p)) < 0)
			return rc;
		goto after_value;
	case 't':
		if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
			p += 4;
			goto after_value;
		}
		return fail(ps, ST_EINVAL, p, "invalid literal: expected true");
	case 'f':
		if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
			p += 5;
			goto after_value;
		}
		return fail(ps, ST_EINVAL, p, "invalid literal: expected false");
	case 'n':
		if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
			p += 4;
			goto after_value;
		}
		return fail(ps, ST_EINVAL, p, "invalid literal: expected null");
	default:
		return fail(ps, ST_EINVAL, p, "expected value, found %s", found(ps, p, fb));
	}

after_value:
	f = ps->top;
	p = ws(ps, p);
	if (p < end && *p == ',') {
		p = ws(ps, p + 1);
		if (f->obj)
			goto key;
		goto element;
	}
	if (f->obj) {
		if (likely(p < end && *p == '}'))
			goto close_object;
		return fail(ps, ST_EINVAL, p, "expected ',' or '}' after member, found %s", found(ps, p, fb));
	}
	if (likely(p < end && *p == ']'))
		goto close_array;
	return fail(ps, ST_EINVAL, p, "expected ',' or ']' after element, found %s", found(ps, p, fb));

open_object:
	if (unlikely((size_t)(ps->top ? ps->top - ps->st + 1 : 0) >= ps->max_depth))
		return fail(ps, ST_ELIMIT, p, "nesting depth %zu, limit max_depth is %u",
			    (size_t)(ps->top ? ps->top - ps->st + 2 : 1), ps->max_depth);
	f = ps->top = ps->top ? ps->top + 1 : ps->st;
	f->kbase = ps->ktop;
	f->count = 0;
	f->bloom = 0;
	f->obj = 1;
	f->big = 0;
	f->ctx = w.ctx;
	p = ws(ps, p + 1);
	if (p < end && *p == '}')
		goto close_object;
	goto key;

key:
	ps->key_phase = true;
	if (unlikely(p >= end || *p != '"'))
		return fail(ps, ST_EINVAL, p, "expected string key, found %s", found(ps, p, fb));
	esc = 0;
	q = p;
	p = scan_string(ps, p, &esc);
	if (!p)
		return ps->rc;
	if (unlikely(++ps->members > ps->max_members))
		return fail(ps, ST_ELIMIT, q, "more than %u members and elements, limit max_members is %u",
			    ps->max_members, ps->max_members);
	if (unlikely(ps->ktop >= KEYS_HARD))
		return fail(ps, ST_ELIMIT, q, "more than %u keys in open objects (the reader's hard limit)",
			    KEYS_HARD);
	{
		struct key *k = &ps->keys[ps->ktop++];
		const struct key *dup;
		k->off = (uint32_t)off_of(ps, q + 1);
		k->len = (uint32_t)(p - q - 1);
		k->esc = esc;
		k->fp = key_fp(q + 1, k->len, esc, end);
		f->count++;
		ps->key_phase = false;
		if (unlikely((dup = find_dup(ps, f)) != NULL)) {
			char qs[64];
			quote(qs, q + 1, k->len);
			return fail(ps, ST_EINVAL, q, "duplicate key %s (first at byte %zu)", qs,
				    (size_t)dup->off - 1);
		}
		w.types = 0;
		w.rule = 0;
		w.ctx = 0;
		w.bit = 0;
		if (f->ctx && (rc = classify(ps, f, k, q, &w)) < 0)
			return rc;
	}
	p++;
	if (likely(p < end && *p == ':')) {
		p++;
		goto value;
	}
	p = ws(ps, p);
	if (likely(p < end && *p == ':')) {
		p++;
		goto value;
	}
	return fail(ps, ST_EINVAL, p, "expected ':' after key, found %s", found(ps, p, fb));

open_array:
	if (unlikely((size_t)(ps->top - ps->st + 1) >= ps->max_depth))
		return fail(ps, ST_ELIMIT, p, "nesting depth %zu, limit max_depth is %u",
			    (size_t)(ps->top - ps->st + 2), ps->max_depth);
	f = ++ps->top;
	f->kbase = ps->ktop;
	f->count = 0;
	f->obj = 0;
	f->big = 0;
	f->ctx = 0;
	p = ws(ps, p + 1);
	if (p < end && *p == ']')
		goto close_array;
	goto element;

element:
	f->count++;
	if (unlikely(++ps->members > ps->max_members))
		return fail(ps, ST_ELIMIT, p, "more than %u members and elements, limit max_members is %u",
			    ps->max_members, ps->max_members);
	w.types = 0;
	w.rule = 0;
	w.ctx = 0;
	w.bit = 0;
	goto value;

close_object:
	if (f->ctx && (rc = close_checks(ps, f, p)) < 0)
		return rc;
	if (f->big)
		table_unwind(ps, f);
	ps->ktop = f->kbase;
	/* fall through to close_array's common tail */
close_array:
	p++;
	if (ps->top == ps->st)
		goto done;
	ps->top--;
	w.types = 0;
	w.rule = 0;
	w.ctx = 0;
	w.bit = 0;
	goto after_value;

done:
	if (ps->out_on) {
		emit(ps, p);
		ps->out_on = false;
	}
	{
		const uint8_t *root_end = p;
		while (p < end && is_ws[*p])
			p++;
		if (p < end) {
			ps->top = NULL;
			return fail(ps, ST_EINVAL, p, "unexpected data after the object (which ends at byte %zu): %s",
				    off_of(ps, root_end) - 1, found(ps, p, fb));
		}
	}
	return 0;
}

static void parser_init(struct parser *ps, const uint8_t *in, size_t len,
			const struct event_limits *lim, struct event_error *err)
{
	struct event_limits def;

	if (!lim) {
		event_limits_default(&def);
		lim = &def;
	}
	ps->in = in;
	ps->end = in + len;
	ps->err = err;
	ps->top = NULL;
	ps->key_phase = false;
	ps->rc = 0;
	ps->ktop = 0;
	ps->members = 0;
	ps->max_depth = lim->max_depth < DEPTH_HARD ? lim->max_depth : DEPTH_HARD;
	ps->max_members = lim->max_members;
	ps->max_string = lim->max_string;
	ps->out_on = false;
	ps->dst = NULL;
	ps->room = 0;
	ps->clen = 0;
	ps->entry_limit = lim->max_entry;
	ps->over = false;
	ps->over_at = 0;
	ps->seen = 0;
	ps->time_ns = ps->recv_ns = 0;
	ps->seq = ps->tseq = ps->pseq = 0;
	ps->pid = NULL;
	ps->ccert = false;
	ps->pid_len = 0;
	ps->tenant = NULL;
	ps->tenant_len = 0;
	ps->id = NULL;
	ps->id_len = 0;
	ps->action = ps->outcome = ps->res_type = ps->schema = NULL;
	ps->action_len = ps->outcome_len = ps->res_type_len = ps->schema_len = 0;
	ps->table_ready = false;
	if (err) {
		err->code = 0;
		err->offset = 0;
		err->path[0] = 0;
		err->msg[0] = 0;
	}
}

int event_parse(const uint8_t *in, size_t len, const struct event_limits *lim,
		struct buf *out, struct event_info *ret_info,
		struct event_error *err)
{
	struct parser ps;
	size_t want, avail;
	int rc;

	parser_init(&ps, in, len, lim, err);
	if (len > UINT32_MAX)
		return fail_at(&ps, ST_ELIMIT, in, "", "input is %zu bytes, more than the reader handles", len);
	ps.entry_limit = ps.entry_limit > EVENT_SERVER_RESERVE ? ps.entry_limit - EVENT_SERVER_RESERVE : 0;
	/* The compact form is never longer than the input. */
	want = len < ps.entry_limit ? len : ps.entry_limit;
	avail = out->max > out->len ? out->max - out->len : 0;
	if (want > avail)
		want = avail;
	rc = buf_reserve(out, want);
	if (rc < 0)
		return fail_at(&ps, rc, in, "", "cannot reserve %zu bytes of output (%s)", want,
			       st_strerror(rc));
	ps.out_on = true;
	ps.dst = out->data ? out->data + out->len : NULL;   /* NULL only when want is 0 */
	ps.room = want;
	rc = run(&ps, C_ROOT);
	if (rc < 0)
		return rc;
	if (ps.over) {
		ps.top = NULL;
		return fail_at(&ps, ST_ELIMIT, in + ps.over_at, "",
			       "compact event is %zu bytes, limit is %zu (max_entry %zu less %d reserved for server fields)",
			       ps.clen, ps.entry_limit, lim ? lim->max_entry : (size_t)65535, EVENT_SERVER_RESERVE);
	}
	if (ps.clen > ps.room)
		return fail_at(&ps, ST_ELIMIT, in, "", "compact event is %zu bytes, output buffer has room for %zu",
			       ps.clen, ps.room);
	out->len += ps.clen;
	if (ret_info) {
		ret_info->tenant = (const char *)ps.tenant;
		ret_info->tenant_len = ps.tenant_len;
		ret_info->has_id = (ps.seen & S_ID) != 0;
		ret_info->action = (const char *)ps.action;
		ret_info->action_len = ps.action_len;
		ret_info->outcome = (const char *)ps.outcome;
		ret_info->outcome_len = ps.outcome_len;
		ret_info->resource_type = (const char *)ps.res_type;
		ret_info->resource_type_len = ps.res_type_len;
		ret_info->schema = (const char *)ps.schema;
		ret_info->schema_len = ps.schema_len;
		ret_info->producer_id = (const char *)ps.pid;
		ret_info->producer_id_len = ps.pid_len;
		ret_info->producer_seq = ps.pseq;
		ret_info->has_client_cert = ps.ccert;
		ret_info->has_request_id = (ps.seen & S_REQUEST_ID) != 0;
		ret_info->has_trace_id = (ps.seen & S_TRACE_ID) != 0;
		ret_info->id = (const char *)ps.id;
		ret_info->id_len = ps.id_len;
		ret_info->time_ns = ps.time_ns;
	}
	return 0;
}

int event_parse_stored(const uint8_t *in, size_t len,
		       const struct event_limits *lim,
		       struct stored_info *ret, struct event_error *err)
{
	struct parser ps;
	int rc;

	parser_init(&ps, in, len, lim, err);
	if (len > ps.entry_limit || len > UINT32_MAX)
		return fail_at(&ps, ST_ELIMIT, in, "", "entry is %zu bytes, limit max_entry is %zu",
			       len, ps.entry_limit);
	rc = run(&ps, C_STORED);
	if (rc < 0)
		return rc;
	if (ret) {
		ret->seq = ps.seq;
		ret->tseq = ps.tseq;
		memcpy(ret->tprev, ps.tprev, sizeof(ret->tprev));
		ret->received_ns = ps.recv_ns;
		ret->tenant = (const char *)ps.tenant;
		ret->tenant_len = ps.tenant_len;
		ret->id = (const char *)ps.id;
		ret->id_len = ps.id_len;
	}
	return 0;
}

size_t event_id_decode(const char *raw, size_t n, char *out, size_t cap)
{
	return unescape((const uint8_t *)raw, n, (uint8_t *)out, cap);
}
