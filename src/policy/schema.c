/*
 * schema.c - the schema compiler, validator and compatibility checker of
 * schema.h (contract: docs/SCHEMAS.md).
 *
 * Compile: the schema text is read into a jdoc tree (copied into the
 * schema's own arena, so the compiled schema does not depend on the
 * caller's buffer), then every subschema becomes a struct snode: a type
 * mask, pointers to the keyword values in the tree, a sorted table of
 * member names (the union of "properties" and "required") for binary
 * search, and the compiled PCRE2 pattern. Each node keeps its own JSON
 * pointer for compatibility reports.
 *
 * Validate: the instance is read into a jdoc tree in the calling thread's
 * arena (borrowing the input: strings without escapes and numbers are not
 * copied), then walked once against the node tree. A 600-byte event fits
 * in the arena's first chunk, so a validation allocates nothing.
 *
 * Compat: the two node trees are walked side by side (docs/SCHEMAS.md
 * "Compatibility"); where the older schema allows only a finite set of
 * values (enum or const), those values are validated against the newer
 * schema instead, which is exact.
 *
 * Invariants:
 *   1. A compiled schema is never written after schema_compile returns;
 *      the PCRE2 match context is shared read-only, match data is per
 *      thread (struct vstate).
 *   2. Every pattern match runs under SCHEMA_MATCH_LIMIT / DEPTH / HEAP;
 *      a match that hits one is a "pattern-limit" violation, never a pass.
 *      After SCHEMA_MAX_LIMIT_HITS such matches in one validation, the
 *      remaining patterns are not run (and reported as pattern-limit), so
 *      one event costs at most that many limit runs.
 *   3. The node tree is at most SCHEMA_MAX_DEPTH deep, which bounds the
 *      recursion of validate and compat; the instance tree is at most 64
 *      deep, which bounds jdoc_equal's recursion.
 */
#include "policy/schema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8,
	T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64,
	T_ALL = 127,
};

static const struct { const char *name; unsigned bit; } type_names[] = {
	{ "null", T_NULL }, { "boolean", T_BOOLEAN }, { "object", T_OBJECT },
	{ "array", T_ARRAY }, { "number", T_NUMBER }, { "string", T_STRING },
	{ "integer", T_INTEGER },
};

enum { F_NONE, F_DATE_TIME, F_EMAIL, F_IPV4, F_IPV6, F_UUID };
static const char *const format_names[] = { "", "date-time", "email", "ipv4", "ipv6", "uuid" };

struct snode;

/* A member name the node knows: in "properties", in "required", or both. */
struct skey {
	const char *name;
	uint32_t len;
	int32_t req;                /* index in "required", -1 if not required */
	const struct snode *schema; /* from "properties"; NULL if only required */
};

struct snode {
	const char *ptr;            /* JSON pointer of this subschema in its document */
	bool never;                 /* the false schema */
	uint8_t format;
	bool has_min_len, has_max_len;
	unsigned types;
	uint32_t min_len, max_len;
	const struct jdoc_value *konst, *enumv;
	const struct jdoc_value *min, *max, *xmin, *xmax;
	pcre2_code *re;
	const char *pattern;        /* decoded source */
	uint32_t pattern_len;
	const struct skey *keys;    /* sorted by name */
	uint32_t nkeys;
	const struct skey **req;    /* "required" in its order */
	uint32_t nreq;
	const struct snode *items;  /* NULL: any */
	const struct snode *addl;   /* NULL: any */
};

struct schema {
	struct jdoc_arena arena;
	const struct snode *root;
	pcre2_match_context *mctx;
	pcre2_code *codes[SCHEMA_MAX_PATTERNS];
	uint32_t ncodes;
};

static const struct snode true_node = { .ptr = "", .types = T_ALL };

/* ---------------------------------------------------------------- */
/* Per-thread validation state                                       */
/* ---------------------------------------------------------------- */

struct vstate {
	struct jdoc_arena arena;
	pcre2_match_data *md;
};

#define VSTATE_ARENA_MAX (64u << 20)

static pthread_once_t vonce = PTHREAD_ONCE_INIT;
static pthread_key_t vkey;
static _Thread_local struct vstate *tl_state;

static void vstate_free(void *p)
{
	struct vstate *st = p;
	if (!st)
		return;
	jdoc_arena_release(&st->arena);
	pcre2_match_data_free(st->md);
	free(st);
}

static void vkey_make(void)
{
	if (pthread_key_create(&vkey, vstate_free) != 0)
		abort();  /* only at PTHREAD_KEYS_MAX keys: a programming error */
}

static struct vstate *vstate_get(void)
{
	if (likely(tl_state != NULL))
		return tl_state;
	pthread_once(&vonce, vkey_make);
	struct vstate *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	jdoc_arena_init(&st->arena, VSTATE_ARENA_MAX);
	st->md = pcre2_match_data_create(1, NULL);
	if (!st->md || pthread_setspecific(vkey, st) != 0) {
		vstate_free(st);
		return NULL;
	}
	tl_state = st;
	return st;
}

void schema_thread_release(void)
{
	if (!tl_state)
		return;
	pthread_setspecific(vkey, NULL);
	vstate_free(tl_state);
	tl_state = NULL;
}

/* ---------------------------------------------------------------- */
/* Formats                                                           */
/* ---------------------------------------------------------------- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* RFC 3339 section 5.6 date-time; T, Z may be lower case; :60 only where
 * the instant is 23:59:60 UTC (a leap second). */
static bool fmt_date_time(const char *s, size_t n)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (n < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + num2(s + 2);
	int mon = num2(s + 5), day = num2(s + 8);
	int hour = num2(s + 11), min = num2(s + 14), sec = num2(s + 17);
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1])
		return false;
	if (mon == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return false;
	if (hour > 23 || min > 59 || sec > 60)
		return false;
	size_t i = 19;
	if (s[i] == '.') {
		size_t j = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == j)
			return false;
	}
	int off = 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		if (n - i != 6 || !digits(s + i + 1, 2) || s[i + 3] != ':' || !digits(s + i + 4, 2))
			return false;
		int oh = num2(s + i + 1), om = num2(s + i + 4);
		if (oh > 23 || om > 59)
			return false;
		off = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
		i += 6;
	} else {
		return false;
	}
	if (i != n)
		return false;
	if (sec == 60) {
		int utc = ((hour * 60 + min - off) % 1440 + 1440) % 1440;
		if (utc != 23 * 60 + 59)
			return false;
	}
	return true;
}

/* Dotted quad, each part 0-255 without leading zeros. */
static bool fmt_ipv4(const char *s, size_t n)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		size_t j = i;
		int v = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - j < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == j || v > 255 || (i - j > 1 && s[j] == '0'))
			return false;
	}
	return i == n;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 4291 section 2.2 text form: eight groups of 1-4 hex digits, one "::"
 * for one or more zero groups, an IPv4 dotted quad in the last 32 bits;
 * no zone id, no brackets, no prefix length. */
static bool fmt_ipv6(const char *s, size_t n)
{
	if (n < 2 || n > 45)
		return false;
	size_t i = 0;
	int groups = 0;
	bool dbl = false;
	if (s[0] == ':') {
		if (s[1] != ':')
			return false;
		dbl = true;
		i = 2;
		if (i == n)
			return true;
	}
	for (;;) {
		size_t j = i;
		while (j < n && is_hex(s[j]) && j - i < 5)
			j++;
		if (j < n && s[j] == '.') {
			if (groups > 6 || !fmt_ipv4(s + i, n - i))
				return false;
			groups += 2;
			break;
		}
		if (j == i || j - i > 4)
			return false;
		groups++;
		if (j == n)
			break;
		if (s[j] != ':')
			return false;
		if (j + 1 < n && s[j + 1] == ':') {
			if (dbl)
				return false;
			dbl = true;
			i = j + 2;
			if (i == n)
				break;
			continue;
		}
		i = j + 1;
		if (i == n)
			return false;
	}
	return dbl ? groups <= 7 : groups == 8;
}

/* 8-4-4-4-12 hex digits, either case (RFC 9562 section 4: input is case
 * insensitive); any version and variant. */
static bool fmt_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 5322 atext. */
static bool is_atext(char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner
 * hyphens, 1-63 bytes each, 253 in all. */
static bool hostname(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < n && (is_alnum(s[j]) || s[j] == '-'))
			j++;
		if (j == i || j - i > 63 || s[i] == '-' || s[j - 1] == '-')
			return false;
		if (j == n)
			return true;
		if (s[j] != '.')
			return false;
		i = j + 1;
	}
}

/* RFC 5321 Mailbox, ASCII: local part a dot-atom or a quoted string (at
 * most 64 bytes), domain a host name or an address literal [IPv4] or
 * [IPv6:...]; 254 bytes in all. */
static bool fmt_email(const char *s, size_t n)
{
	if (n < 3 || n > 254)
		return false;
	size_t i = 0;
	if (s[0] == '"') {
		for (i = 1; i < n && s[i] != '"'; i++) {
			if (s[i] == '\\') {
				i++;
				if (i >= n || s[i] < 0x20 || s[i] > 0x7E)
					return false;
			} else if (s[i] < 0x20 || s[i] > 0x7E) {
				return false;
			}
		}
		if (i >= n)
			return false;
		i++;
	} else {
		bool dot = true;   /* no leading dot */
		for (; i < n && s[i] != '@'; i++) {
			if (s[i] == '.') {
				if (dot)
					return false;
				dot = true;
			} else if (is_atext(s[i])) {
				dot = false;
			} else {
				return false;
			}
		}
		if (dot)
			return false;   /* empty, or a trailing dot */
	}
	if (i > 64 || i >= n || s[i] != '@')
		return false;
	const char *d = s + i + 1;
	size_t dn = n - i - 1;
	if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') {
		if (dn > 7 && memcmp(d + 1, "IPv6:", 5) == 0)
			return fmt_ipv6(d + 6, dn - 7);
		return fmt_ipv4(d + 1, dn - 2);
	}
	return hostname(d, dn);
}

static bool format_ok(uint8_t f, const char *s, size_t n)
{
	switch (f) {
	case F_DATE_TIME: return fmt_date_time(s, n);
	case F_EMAIL: return fmt_email(s, n);
	case F_IPV4: return fmt_ipv4(s, n);
	case F_IPV6: return fmt_ipv6(s, n);
	case F_UUID: return fmt_uuid(s, n);
	default: return true;
	}
}

/* ---------------------------------------------------------------- */
/* Compile                                                           */
/* ---------------------------------------------------------------- */

struct cctx {
	struct schema *s;
	struct schema_error *err;
	pcre2_compile_context *ccx;
	unsigned flags;
	uint32_t nodes;
	bool jit;
};

__attribute__((format(printf, 5, 6)))
static int cfail(struct cctx *c, int code, size_t offset, const char *ptr, const char *fmt, ...)
{
	struct schema_error *e = c->err;
	if (!e)
		return code;
	e->code = code;
	e->offset = offset;
	snprintf(e->pointer, sizeof(e->pointer), "%s", ptr);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* parent + "/" + seg, in the schema's arena; NULL when out of memory. */
static const char *child_ptr(struct cctx *c, const char *parent, const char *seg, size_t seg_len)
{
	char tmp[SCHEMA_PTR_MAX];
	size_t len = strlen(parent);
	memcpy(tmp, parent, len + 1);
	len = jdoc_pointer_push(tmp, len, sizeof(tmp), seg, seg_len);
	char *p = jdoc_arena_alloc(&c->s->arena, len + 1);
	if (p)
		memcpy(p, tmp, len + 1);
	return p;
}

#define OOM(c) cfail((c), ST_ELIMIT, 0, "", "out of memory compiling the schema")

static bool kw(const struct jdoc_member *m, const char *name)
{
	size_t l = strlen(name);
	return m->key_len == l && memcmp(m->key, name, l) == 0;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	if (al && bl && a[0] != b[0])
		return (unsigned char)a[0] < (unsigned char)b[0] ? -1 : 1;
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int skey_sort(const void *x, const void *y)
{
	const struct skey *a = x, *b = y;
	return key_cmp(a->name, a->len, b->name, b->len);
}

static const struct skey *find_key(const struct snode *n, const char *name, size_t len)
{
	size_t lo = 0, hi = n->nkeys;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = key_cmp(name, len, n->keys[mid].name, n->keys[mid].len);
		if (c == 0)
			return &n->keys[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* A length bound: a non-negative integer written as plain digits. */
static int length_value(struct cctx *c, const struct jdoc_value *v, const char *ptr, uint32_t *ret)
{
	uint64_t x;
	if (v->type != JDOC_NUMBER || !st_parse_u64(v->u.s, v->len, &x) || x > UINT32_MAX)
		return cfail(c, ST_EINVAL, v->offset, ptr,
			     "expected a non-negative integer written as digits (at most 4294967295), found %s",
			     v->type == JDOC_NUMBER ? "another number" : jdoc_type_name(v));
	*ret = (uint32_t)x;
	return 0;
}

static int compile_node(struct cctx *c, const struct jdoc_value *v, const char *ptr,
			uint32_t depth, const struct snode **ret);

static int compile_type(struct cctx *c, struct snode *n, const struct jdoc_value *v, const char *ptr)
{
	const struct jdoc_value *one = v;
	uint32_t count = 1;
	if (v->type == JDOC_ARRAY) {
		if (v->len == 0)
			return cfail(c, ST_EINVAL, v->offset, ptr, "expected at least one type name, found an empty array");
		one = v->u.items;
		count = v->len;
	}
	n->types = 0;
	for (uint32_t i = 0; i < count; i++) {
		const struct jdoc_value *t = &one[i];
		char p[SCHEMA_PTR_MAX];
		snprintf(p, sizeof(p), "%s", ptr);
		if (v->type == JDOC_ARRAY)
			jdoc_pointer_push_index(p, strlen(p), sizeof(p), i);
		if (t->type != JDOC_STRING)
			return cfail(c, ST_EINVAL, t->offset, p, "expected a type name or an array of them, found %s",
				     jdoc_type_name(t));
		unsigned bit = 0;
		for (size_t k = 0; k < ARRAY_SIZE(type_names); k++)
			if (t->len == strlen(type_names[k].name) &&
			    memcmp(t->u.s, type_names[k].name, t->len) == 0)
				bit = type_names[k].bit;
		if (!bit)
			return cfail(c, ST_EINVAL, t->offset, p,
				     "unknown type \"%.*s\" (expected object, array, string, number, integer, boolean or null)",
				     t->len > 40 ? 40 : (int)t->len, t->u.s);
		if (n->types & bit)
			return cfail(c, ST_EINVAL, t->offset, p, "type \"%s\" is listed twice", t->u.s);
		n->types |= bit;
	}
	return 0;
}

static int compile_pattern(struct cctx *c, struct snode *n, const struct jdoc_value *v, const char *ptr)
{
	struct schema *s = c->s;
	if (v->type != JDOC_STRING)
		return cfail(c, ST_EINVAL, v->offset, ptr, "expected a regular expression string, found %s",
			     jdoc_type_name(v));
	if (v->len > SCHEMA_MAX_PATTERN_LEN)
		return cfail(c, ST_ELIMIT, v->offset, ptr, "pattern is %u bytes, limit is %d",
			     v->len, SCHEMA_MAX_PATTERN_LEN);
	if (s->ncodes >= SCHEMA_MAX_PATTERNS)
		return cfail(c, ST_ELIMIT, v->offset, ptr, "more than %d patterns in the schema, limit is %d",
			     SCHEMA_MAX_PATTERNS, SCHEMA_MAX_PATTERNS);
	int ecode;
	PCRE2_SIZE eoff;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->u.s, v->len,
				       PCRE2_UTF | PCRE2_NO_UTF_CHECK | PCRE2_DOLLAR_ENDONLY |
				       PCRE2_NEVER_BACKSLASH_C | PCRE2_ALT_BSUX,
				       &ecode, &eoff, c->ccx);
	if (!re) {
		PCRE2_UCHAR8 buf[120];
		if (pcre2_get_error_message(ecode, buf, sizeof(buf)) < 0)
			snprintf((char *)buf, sizeof(buf), "error %d", ecode);
		if (ecode == PCRE2_ERROR_NOMEMORY)
			return OOM(c);
		return cfail(c, ST_EINVAL, v->offset, ptr, "invalid pattern at pattern byte %zu: %s",
			     (size_t)eoff, (const char *)buf);
	}
	s->codes[s->ncodes++] = re;
	if (c->jit)
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  /* no JIT: the interpreter runs it */
	n->re = re;
	n->pattern = v->u.s;
	n->pattern_len = v->len;
	return 0;
}

static int compile_required(struct cctx *c, const struct jdoc_value *v, const char *ptr)
{
	if (v->type != JDOC_ARRAY)
		return cfail(c, ST_EINVAL, v->offset, ptr, "expected an array of property names, found %s",
			     jdoc_type_name(v));
	if (v->len > SCHEMA_MAX_REQUIRED)
		return cfail(c, ST_ELIMIT, v->offset, ptr, "%u required names, limit is %d",
			     v->len, SCHEMA_MAX_REQUIRED);
	for (uint32_t i = 0; i < v->len; i++) {
		const struct jdoc_value *e = &v->u.items[i];
		char p[SCHEMA_PTR_MAX];
		snprintf(p, sizeof(p), "%s", ptr);
		jdoc_pointer_push_index(p, strlen(p), sizeof(p), i);
		if (e->type != JDOC_STRING)
			return cfail(c, ST_EINVAL, e->offset, p, "expected a property name string, found %s",
				     jdoc_type_name(e));
		for (uint32_t j = 0; j < i; j++)
			if (jdoc_equal(e, &v->u.items[j]))
				return cfail(c, ST_EINVAL, e->offset, p, "property \"%.*s\" is listed twice",
					     e->len > 40 ? 40 : (int)e->len, e->u.s);
	}
	return 0;
}

/* Builds n->keys and n->req from "properties" (already a checked object)
 * and "required" (a checked array); compiles the property schemas. */
static int compile_keys(struct cctx *c, struct snode *n, const struct jdoc_value *props,
			const struct jdoc_value *req, const char *ptr, uint32_t depth)
{
	uint32_t np = props ? props->len : 0, nr = req ? req->len : 0;
	if (np + nr == 0)
		return 0;
	struct skey *keys = jdoc_arena_alloc(&c->s->arena, (np + nr) * sizeof(*keys));
	const struct skey **rq = nr ? jdoc_arena_alloc(&c->s->arena, nr * sizeof(*rq)) : NULL;
	if (!keys || (nr && !rq))
		return OOM(c);
	const char *pp = NULL;
	if (np && !(pp = child_ptr(c, ptr, "properties", 10)))
		return OOM(c);
	for (uint32_t i = 0; i < np; i++) {
		const struct jdoc_member *m = &props->u.members[i];
		const char *cp = child_ptr(c, pp, m->key, m->key_len);
		if (!cp)
			return OOM(c);
		keys[i].name = m->key;
		keys[i].len = m->key_len;
		keys[i].req = -1;
		int r = compile_node(c, &m->value, cp, depth + 1, &keys[i].schema);
		if (r)
			return r;
	}
	uint32_t nk = np;
	qsort(keys, nk, sizeof(*keys), skey_sort);
	/* Required names not in properties are appended, then all re-sorted;
	 * a name is looked up in the sorted prefix first. */
	for (uint32_t i = 0; i < nr; i++) {
		const struct jdoc_value *e = &req->u.items[i];
		struct skey *k = NULL;
		size_t lo = 0, hi = np;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int cmp = key_cmp(e->u.s, e->len, keys[mid].name, keys[mid].len);
			if (cmp == 0) {
				k = &keys[mid];
				break;
			}
			if (cmp < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (!k) {
			k = &keys[nk++];
			k->name = e->u.s;
			k->len = e->len;
			k->schema = NULL;
		}
		k->req = (int32_t)i;
	}
	qsort(keys, nk, sizeof(*keys), skey_sort);
	for (uint32_t i = 0; i < nk; i++)
		if (keys[i].req >= 0)
			rq[keys[i].req] = &keys[i];
	n->keys = keys;
	n->nkeys = nk;
	n->req = rq;
	n->nreq = nr;
	return 0;
}

static int compile_node(struct cctx *c, const struct jdoc_value *v, const char *ptr,
			uint32_t depth, const struct snode **ret)
{
	if (depth > SCHEMA_MAX_DEPTH)
		return cfail(c, ST_ELIMIT, v->offset, ptr, "subschemas nested %u deep, limit is %d",
			     depth, SCHEMA_MAX_DEPTH);
	if (++c->nodes > SCHEMA_MAX_NODES)
		return cfail(c, ST_ELIMIT, v->offset, ptr, "more than %d subschemas, limit is %d",
			     SCHEMA_MAX_NODES, SCHEMA_MAX_NODES);
	struct snode *n = jdoc_arena_alloc(&c->s->arena, sizeof(*n));
	if (!n)
		return OOM(c);
	memset(n, 0, sizeof(*n));
	n->ptr = ptr;
	n->types = T_ALL;
	if (v->type == JDOC_TRUE || v->type == JDOC_FALSE) {
		n->never = v->type == JDOC_FALSE;
		*ret = n;
		return 0;
	}
	if (v->type != JDOC_OBJECT)
		return cfail(c, ST_EINVAL, v->offset, ptr, "expected a schema (an object or a boolean), found %s",
			     jdoc_type_name(v));
	const struct jdoc_value *props = NULL, *req = NULL;
	int r;
	for (uint32_t i = 0; i < v->len; i++) {
		const struct jdoc_member *m = &v->u.members[i];
		const struct jdoc_value *x = &m->value;
		const char *kp = child_ptr(c, ptr, m->key, m->key_len);
		if (!kp)
			return OOM(c);
		if (kw(m, "type")) {
			if ((r = compile_type(c, n, x, kp)))
				return r;
		} else if (kw(m, "properties")) {
			if (x->type != JDOC_OBJECT)
				return cfail(c, ST_EINVAL, x->offset, kp, "expected an object of schemas, found %s",
					     jdoc_type_name(x));
			if (x->len > SCHEMA_MAX_PROPERTIES)
				return cfail(c, ST_ELIMIT, x->offset, kp, "%u properties, limit is %d",
					     x->len, SCHEMA_MAX_PROPERTIES);
			props = x;
		} else if (kw(m, "required")) {
			if ((r = compile_required(c, x, kp)))
				return r;
			req = x;
		} else if (kw(m, "enum")) {
			if (x->type != JDOC_ARRAY || x->len == 0)
				return cfail(c, ST_EINVAL, x->offset, kp, "expected a non-empty array of values, found %s",
					     x->type == JDOC_ARRAY ? "an empty array" : jdoc_type_name(x));
			if (x->len > SCHEMA_MAX_ENUM)
				return cfail(c, ST_ELIMIT, x->offset, kp, "enum has %u values, limit is %d",
					     x->len, SCHEMA_MAX_ENUM);
			for (uint32_t a = 1; a < x->len; a++)
				for (uint32_t b = 0; b < a; b++)
					if (jdoc_equal(&x->u.items[a], &x->u.items[b]))
						return cfail(c, ST_EINVAL, x->u.items[a].offset, kp,
							     "enum value %u repeats value %u", a, b);
			n->enumv = x;
		} else if (kw(m, "const")) {
			n->konst = x;
		} else if (kw(m, "pattern")) {
			if ((r = compile_pattern(c, n, x, kp)))
				return r;
		} else if (kw(m, "minLength")) {
			if ((r = length_value(c, x, kp, &n->min_len)))
				return r;
			n->has_min_len = true;
		} else if (kw(m, "maxLength")) {
			if ((r = length_value(c, x, kp, &n->max_len)))
				return r;
			n->has_max_len = true;
		} else if (kw(m, "minimum") || kw(m, "maximum") ||
			   kw(m, "exclusiveMinimum") || kw(m, "exclusiveMaximum")) {
			if (x->type != JDOC_NUMBER)
				return cfail(c, ST_EINVAL, x->offset, kp, "expected a number, found %s",
					     jdoc_type_name(x));
			if (kw(m, "minimum"))
				n->min = x;
			else if (kw(m, "maximum"))
				n->max = x;
			else if (kw(m, "exclusiveMinimum"))
				n->xmin = x;
			else
				n->xmax = x;
		} else if (kw(m, "items")) {
			if (x->type == JDOC_ARRAY)
				return cfail(c, ST_EINVAL, x->offset, kp,
					     "items as an array (tuple validation) is not supported: give one schema for every element");
			if ((r = compile_node(c, x, kp, depth + 1, &n->items)))
				return r;
		} else if (kw(m, "additionalProperties")) {
			if ((r = compile_node(c, x, kp, depth + 1, &n->addl)))
				return r;
		} else if (kw(m, "format")) {
			if (x->type != JDOC_STRING)
				return cfail(c, ST_EINVAL, x->offset, kp, "expected a format name, found %s",
					     jdoc_type_name(x));
			for (uint8_t f = 1; f < ARRAY_SIZE(format_names); f++)
				if (x->len == strlen(format_names[f]) && memcmp(x->u.s, format_names[f], x->len) == 0)
					n->format = f;
			if (!n->format)
				return cfail(c, ST_EINVAL, x->offset, kp,
					     "unsupported format \"%.*s\" (supported: date-time, email, ipv4, ipv6, uuid)",
					     x->len > 40 ? 40 : (int)x->len, x->u.s);
		} else if (kw(m, "$comment") || kw(m, "title") || kw(m, "description") || kw(m, "$schema")) {
			if (x->type != JDOC_STRING)
				return cfail(c, ST_EINVAL, x->offset, kp, "expected a string, found %s",
					     jdoc_type_name(x));
		} else {
			return cfail(c, ST_EINVAL, m->key_offset, kp,
				     "unsupported keyword \"%.*s\": it would not be enforced (see docs/SCHEMAS.md)",
				     m->key_len > 60 ? 60 : (int)m->key_len, m->key);
		}
	}
	if (n->has_min_len && n->has_max_len && n->min_len > n->max_len)
		return cfail(c, ST_EINVAL, v->offset, ptr, "minLength %u is greater than maxLength %u: no string is valid",
			     n->min_len, n->max_len);
	if (n->min && n->max && jdoc_num_cmp(n->min->u.s, n->min->len, n->max->u.s, n->max->len) > 0)
		return cfail(c, ST_EINVAL, v->offset, ptr, "minimum %s is greater than maximum %s: no number is valid",
			     n->min->u.s, n->max->u.s);
	if ((r = compile_keys(c, n, props, req, ptr, depth)))
		return r;
	*ret = n;
	return 0;
}

int schema_compile_flags(const char *json, size_t n, unsigned flags,
			 struct schema **ret, struct schema_error *err)
{
	struct cctx c = { .err = err, .flags = flags };
	struct jdoc_limits lim = {
		.max_input = SCHEMA_MAX_BYTES, .max_depth = 4 * SCHEMA_MAX_DEPTH,
		.max_values = 65536, .max_string = 65536,
	};
	const struct jdoc_value *root;
	struct jdoc_error je;
	int r;
	if (err)
		memset(err, 0, sizeof(*err));
	struct schema *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	c.s = s;
	jdoc_arena_init(&s->arena, 64u << 20);
	if ((r = jdoc_parse(&s->arena, json, n, &lim, 0, &root, &je))) {
		if (n > SCHEMA_MAX_BYTES)
			snprintf(je.msg, sizeof(je.msg), "schema is %zu bytes, limit is %d", n, SCHEMA_MAX_BYTES);
		cfail(&c, r, je.offset, je.pointer, "%s", je.msg);
		goto fail;
	}
	if (!(s->mctx = pcre2_match_context_create(NULL)) || !(c.ccx = pcre2_compile_context_create(NULL))) {
		r = -ENOMEM;
		goto fail;
	}
	pcre2_set_match_limit(s->mctx, SCHEMA_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, SCHEMA_DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mctx, SCHEMA_HEAP_LIMIT_KIB);
	pcre2_set_max_pattern_length(c.ccx, SCHEMA_MAX_PATTERN_LEN);
	pcre2_set_parens_nest_limit(c.ccx, 64);
	uint32_t jit = 0;
	c.jit = !(flags & SCHEMA_NO_JIT) && pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit;
	if ((r = compile_node(&c, root, "", 1, &s->root)))
		goto fail;
	pcre2_compile_context_free(c.ccx);
	*ret = s;
	return 0;
fail:
	pcre2_compile_context_free(c.ccx);
	schema_free(s);
	if (r == -ENOMEM && err && !err->msg[0]) {
		err->code = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	}
	return r;
}

int schema_compile(const char *json, size_t n, struct schema **ret, struct schema_error *err)
{
	return schema_compile_flags(json, n, 0, ret, err);
}

void schema_free(struct schema *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->ncodes; i++)
		pcre2_code_free(s->codes[i]);
	pcre2_match_context_free(s->mctx);
	jdoc_arena_release(&s->arena);
	free(s);
}

/* ---------------------------------------------------------------- */
/* Validate                                                          */
/* ---------------------------------------------------------------- */

/* The instance path is kept as a stack of segments and turned into a
 * JSON pointer only when a violation is written: most values are valid,
 * and formatting a pointer for each was a tenth of the validation time. */
struct seg {
	const char *key;            /* NULL: an array index */
	uint32_t len;               /* key bytes, or the index */
};

#define VDEPTH_MAX 72  /* instance depth (64) + 1 for a required/additional member */

struct vctx {
	const struct schema *s;
	pcre2_match_data *md;
	struct schema_violation *v;
	size_t cap;
	size_t count;
	uint32_t depth;
	uint32_t limit_hits;        /* matches that ended at a PCRE2 limit */
	struct seg path[VDEPTH_MAX];
};

static void vpush(struct vctx *c, const char *key, uint32_t len)
{
	c->path[c->depth].key = key;
	c->path[c->depth].len = len;
	c->depth++;
}

__attribute__((format(printf, 3, 4)))
static void violate(struct vctx *c, const char *rule, const char *fmt, ...)
{
	if (c->count < c->cap) {
		struct schema_violation *x = &c->v[c->count];
		size_t len = 0;
		x->pointer[0] = 0;
		for (uint32_t i = 0; i < c->depth; i++)
			len = c->path[i].key ?
				jdoc_pointer_push(x->pointer, len, sizeof(x->pointer), c->path[i].key, c->path[i].len) :
				jdoc_pointer_push_index(x->pointer, len, sizeof(x->pointer), c->path[i].len);
		snprintf(x->rule, sizeof(x->rule), "%s", rule);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
		va_end(ap);
	}
	c->count++;
}

static const char *type_list(unsigned types, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = 0;
	for (size_t k = 0; k < ARRAY_SIZE(type_names); k++)
		if (types & type_names[k].bit)
			len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s",
						len ? " or " : "", type_names[k].name);
	return buf;
}

static void vnode(struct vctx *c, const struct snode *n, const struct jdoc_value *v);

static void vstring(struct vctx *c, const struct snode *n, const struct jdoc_value *v)
{
	if (n->has_min_len || n->has_max_len) {
		size_t cp = jdoc_utf8_count(v->u.s, v->len);
		if (n->has_min_len && cp < n->min_len)
			violate(c, "minLength", "string has %zu characters, minimum is %u", cp, n->min_len);
		if (n->has_max_len && cp > n->max_len)
			violate(c, "maxLength", "string has %zu characters, maximum is %u", cp, n->max_len);
	}
	if (n->re) {
		int plen = n->pattern_len > 80 ? 80 : (int)n->pattern_len;
		const char *more = n->pattern_len > 80 ? "..." : "";
		if (c->limit_hits >= SCHEMA_MAX_LIMIT_HITS) {
			/* This event already cost SCHEMA_MAX_LIMIT_HITS full
			 * limit runs; it is refused whatever this match says. */
			violate(c, "pattern-limit", "pattern %.*s%s not run: the event already reached the match limits %d times",
				plen, n->pattern, more, SCHEMA_MAX_LIMIT_HITS);
			goto format;
		}
		int r = pcre2_match(n->re, (PCRE2_SPTR)v->u.s, v->len, 0, PCRE2_NO_UTF_CHECK,
				    c->md, c->s->mctx);
		if (r == PCRE2_ERROR_NOMATCH) {
			violate(c, "pattern", "string does not match the pattern %.*s%s", plen, n->pattern, more);
		} else if (r < 0) {
			c->limit_hits++;
			violate(c, "pattern-limit", "pattern %.*s%s could not be decided within the match limits (%s): refused",
				plen, n->pattern, more,
				r == PCRE2_ERROR_MATCHLIMIT ? "match limit" :
				r == PCRE2_ERROR_DEPTHLIMIT ? "depth limit" :
				r == PCRE2_ERROR_HEAPLIMIT ? "heap limit" :
				r == PCRE2_ERROR_JIT_STACKLIMIT ? "JIT stack" : "match error");
		}
	}
format:
	if (n->format && !format_ok(n->format, v->u.s, v->len))
		violate(c, "format", "string is not a valid %s", format_names[n->format]);
}

static void vnumber(struct vctx *c, const struct snode *n, const struct jdoc_value *v)
{
	const char *s = v->u.s;
	size_t l = v->len;
	if (n->min && jdoc_num_cmp(s, l, n->min->u.s, n->min->len) < 0)
		violate(c, "minimum", "number is less than the minimum %s", n->min->u.s);
	if (n->xmin && jdoc_num_cmp(s, l, n->xmin->u.s, n->xmin->len) <= 0)
		violate(c, "exclusiveMinimum", "number is not greater than %s", n->xmin->u.s);
	if (n->max && jdoc_num_cmp(s, l, n->max->u.s, n->max->len) > 0)
		violate(c, "maximum", "number is greater than the maximum %s", n->max->u.s);
	if (n->xmax && jdoc_num_cmp(s, l, n->xmax->u.s, n->xmax->len) >= 0)
		violate(c, "exclusiveMaximum", "number is not less than %s", n->xmax->u.s);
}

static void vobject(struct vctx *c, const struct snode *n, const struct jdoc_value *v)
{
	uint64_t seen[(SCHEMA_MAX_REQUIRED + 63) / 64] = { 0 };
	for (uint32_t i = 0; i < v->len; i++) {
		const struct jdoc_member *m = &v->u.members[i];
		const struct skey *k = n->nkeys ? find_key(n, m->key, m->key_len) : NULL;
		if (k && k->req >= 0)
			seen[k->req / 64] |= 1ull << (k->req % 64);
		/* A name not in "properties" (only in "required", or in
		 * neither) is governed by additionalProperties. */
		const struct snode *sub = k && k->schema ? k->schema : n->addl;
		if (!sub)
			continue;
		vpush(c, m->key, m->key_len);
		if (sub->never && sub == n->addl)
			violate(c, "additionalProperties", "property is not allowed (additionalProperties is false)");
		else
			vnode(c, sub, &m->value);
		c->depth--;
	}
	for (uint32_t i = 0; i < n->nreq; i++) {
		if (seen[i / 64] & (1ull << (i % 64)))
			continue;
		const struct skey *k = n->req[i];
		vpush(c, k->name, k->len);
		violate(c, "required", "required property is missing");
		c->depth--;
	}
}

static void varray(struct vctx *c, const struct snode *n, const struct jdoc_value *v)
{
	if (!n->items)
		return;
	for (uint32_t i = 0; i < v->len; i++) {
		vpush(c, NULL, i);
		vnode(c, n->items, &v->u.items[i]);
		c->depth--;
	}
}

static void vnode(struct vctx *c, const struct snode *n, const struct jdoc_value *v)
{
	if (n->never) {
		violate(c, "false", "no value is allowed here (the schema is false)");
		return;
	}
	if (n->types != T_ALL) {
		bool ok;
		switch (v->type) {
		case JDOC_NULL: ok = n->types & T_NULL; break;
		case JDOC_TRUE: case JDOC_FALSE: ok = n->types & T_BOOLEAN; break;
		case JDOC_STRING: ok = n->types & T_STRING; break;
		case JDOC_ARRAY: ok = n->types & T_ARRAY; break;
		case JDOC_OBJECT: ok = n->types & T_OBJECT; break;
		default:
			ok = (n->types & T_NUMBER) ||
			     ((n->types & T_INTEGER) && jdoc_num_is_integer(v->u.s, v->len));
			break;
		}
		if (!ok) {
			char want[80];
			const char *got = jdoc_type_name(v);
			if (v->type == JDOC_NUMBER && (n->types & T_INTEGER))
				got = "a number with a fraction";
			violate(c, "type", "expected %s, found %s", type_list(n->types, want, sizeof(want)), got);
			return;
		}
	}
	if (n->konst && !jdoc_equal(n->konst, v))
		violate(c, "const", "value is not the constant the schema requires");
	if (n->enumv) {
		bool any = false;
		for (uint32_t i = 0; i < n->enumv->len && !any; i++)
			any = jdoc_equal(&n->enumv->u.items[i], v);
		if (!any)
			violate(c, "enum", "value is not one of the %u allowed values", n->enumv->len);
	}
	switch (v->type) {
	case JDOC_STRING: vstring(c, n, v); break;
	case JDOC_NUMBER: vnumber(c, n, v); break;
	case JDOC_OBJECT: vobject(c, n, v); break;
	case JDOC_ARRAY: varray(c, n, v); break;
	default: break;
	}
}

static int validate_with(const struct schema *s, struct vstate *st, const struct jdoc_value *root,
			 struct schema_violation *v, size_t cap)
{
	struct vctx c;
	c.s = s;
	c.md = st->md;
	c.v = v;
	c.cap = cap;
	c.count = 0;
	c.depth = 0;
	c.limit_hits = 0;
	vnode(&c, s->root, root);
	return c.count > INT32_MAX ? INT32_MAX : (int)c.count;
}

int schema_validate_value(const struct schema *s, const struct jdoc_value *root,
			  struct schema_violation *v, size_t cap)
{
	struct vstate *st = vstate_get();
	if (!st)
		return -ENOMEM;
	return validate_with(s, st, root, v, cap);
}

int schema_validate(const struct schema *s, const char *json, size_t n,
		    struct schema_violation *v, size_t cap)
{
	static const struct jdoc_limits lim = {
		.max_input = SCHEMA_INSTANCE_MAX, .max_depth = 64,
		.max_values = 65536, .max_string = SCHEMA_INSTANCE_MAX,
	};
	struct vstate *st = vstate_get();
	const struct jdoc_value *root;
	struct jdoc_error je;
	if (!st)
		return -ENOMEM;
	int r = jdoc_parse(&st->arena, json, n, &lim, JDOC_BORROW, &root, &je);
	if (r == 0)
		r = validate_with(s, st, root, v, cap);
	else if (cap > 0) {
		snprintf(v[0].pointer, sizeof(v[0].pointer), "%s", je.pointer);
		snprintf(v[0].rule, sizeof(v[0].rule), "json");
		snprintf(v[0].msg, sizeof(v[0].msg), "byte %zu: %.130s", je.offset, je.msg);
	}
	jdoc_arena_reset(&st->arena);
	return r;
}

/* ---------------------------------------------------------------- */
/* Compatibility                                                     */
/* ---------------------------------------------------------------- */

struct kctx {
	struct vstate *st;
	struct schema_violation *v;
	size_t cap;
	size_t count;
	const struct schema *prev, *next;
};

__attribute__((format(printf, 5, 6)))
static void breaking(struct kctx *k, const struct snode *n, const char *kwd, const char *rule,
		     const char *fmt, ...)
{
	if (k->count < k->cap) {
		struct schema_violation *x = &k->v[k->count];
		size_t len = strlen(n->ptr);
		memcpy(x->pointer, n->ptr, len + 1);
		if (kwd)
			jdoc_pointer_push(x->pointer, len, sizeof(x->pointer), kwd, strlen(kwd));
		snprintf(x->rule, sizeof(x->rule), "%s", rule);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
		va_end(ap);
	}
	k->count++;
}

/* Effective bound: the tighter of the inclusive and exclusive keyword.
 * lower: larger is tighter; upper: smaller is tighter; on a tie the
 * exclusive one. */
struct bound {
	const struct jdoc_value *v;
	bool excl;
	const char *kwd;
};

static struct bound eff_bound(const struct jdoc_value *incl, const struct jdoc_value *excl,
			      bool lower)
{
	struct bound b = { NULL, false, NULL };
	if (incl)
		b = (struct bound){ incl, false, lower ? "minimum" : "maximum" };
	if (excl) {
		int c = b.v ? jdoc_num_cmp(excl->u.s, excl->len, b.v->u.s, b.v->len) : 0;
		if (!b.v || c == 0 || (lower ? c > 0 : c < 0))
			b = (struct bound){ excl, true, lower ? "exclusiveMinimum" : "exclusiveMaximum" };
	}
	return b;
}

/* True when the new bound nb rejects something the old bound pb allowed. */
static bool bound_tighter(struct bound pb, struct bound nb, bool lower)
{
	if (!nb.v)
		return false;
	if (!pb.v)
		return true;
	int c = jdoc_num_cmp(nb.v->u.s, nb.v->len, pb.v->u.s, pb.v->len);
	if (c != 0)
		return lower ? c > 0 : c < 0;
	return nb.excl && !pb.excl;
}

static void compat_node(struct kctx *k, const struct snode *p, const struct snode *n,
			const char *what);

/* The old node allows only the values of its enum or const: check each
 * one that the old node accepts against the new node. Exact. */
static void compat_values(struct kctx *k, const struct snode *p, const struct snode *n)
{
	const struct jdoc_value *vals = p->konst ? p->konst : p->enumv->u.items;
	uint32_t nv = p->konst ? 1 : p->enumv->len;
	for (uint32_t i = 0; i < nv; i++) {
		struct schema_violation tmp[1];
		struct schema old = { .root = p, .mctx = k->prev->mctx };
		struct schema nw = { .root = n, .mctx = k->next->mctx };
		if (validate_with(&old, k->st, &vals[i], tmp, 0) != 0)
			continue;  /* never valid before */
		if (validate_with(&nw, k->st, &vals[i], tmp, 1) == 0)
			continue;
		char where[40];
		if (p->enumv)
			snprintf(where, sizeof(where), "enum value %u", i);
		else
			snprintf(where, sizeof(where), "the const value");
		/* Point at the keyword that refuses the value when it is one of
		 * this node's own; else at the node. */
		const char *rule = tmp[0].rule, *kwd = NULL;
		if (!tmp[0].pointer[0] && strcmp(rule, "false") != 0)
			kwd = strcmp(rule, "pattern-limit") == 0 ? "pattern" : rule;
		breaking(k, n, kwd, rule, "%s of the previous schema is no longer valid%s%.60s: %.90s",
			 where, tmp[0].pointer[0] ? " at " : "", tmp[0].pointer, tmp[0].msg);
	}
}

/* One report for everything the new "type" no longer allows. Integer
 * is a subset of number: number -> integer narrows; integer -> number
 * widens. */
static void compat_types(struct kctx *k, const struct snode *p, const struct snode *n)
{
	unsigned pt = p->types, nt = n->types, lost = 0;
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++) {
		unsigned b = type_names[i].bit;
		if (b != T_INTEGER && (pt & b) && !(nt & b))
			lost |= b;
	}
	if ((pt & T_INTEGER) && !(nt & (T_INTEGER | T_NUMBER)))
		lost |= T_INTEGER;
	if (!lost)
		return;
	char buf[80];
	if (lost == T_NUMBER && (nt & T_INTEGER))
		breaking(k, n, "type", "type",
			 "type narrowed from number to integer: numbers with a fraction no longer allowed");
	else
		breaking(k, n, "type", "type", "type narrowed: %s no longer allowed",
			 type_list(lost, buf, sizeof(buf)));
}

static const struct snode *prop_schema(const struct snode *n, const char *name, size_t len,
				       bool *ret_listed)
{
	const struct skey *key = find_key(n, name, len);
	*ret_listed = key && key->schema;
	if (key && key->schema)
		return key->schema;
	return n->addl ? n->addl : &true_node;
}

static void compat_object(struct kctx *k, const struct snode *p, const struct snode *n)
{
	for (uint32_t i = 0; i < n->nreq; i++) {
		const struct skey *nk = n->req[i];
		const struct skey *pk = find_key(p, nk->name, nk->len);
		if (!pk || pk->req < 0)
			breaking(k, n, "required", "required", "property \"%.*s\" is newly required",
				 nk->len > 60 ? 60 : (int)nk->len, nk->name);
	}
	/* Every member name falls in one of three classes; each is compared
	 * with the schema that governed it before. */
	char what[96];
	bool listed;
	for (uint32_t i = 0; i < n->nkeys; i++) {
		const struct skey *nk = &n->keys[i];
		if (!nk->schema)
			continue;
		const struct snode *ps = prop_schema(p, nk->name, nk->len, &listed);
		snprintf(what, sizeof(what), "property \"%.*s\"", nk->len > 60 ? 60 : (int)nk->len, nk->name);
		compat_node(k, ps, nk->schema, what);
	}
	for (uint32_t i = 0; i < p->nkeys; i++) {
		const struct skey *pk = &p->keys[i];
		if (!pk->schema)
			continue;
		const struct snode *ns = prop_schema(n, pk->name, pk->len, &listed);
		if (listed || ns == &true_node)
			continue;
		snprintf(what, sizeof(what), "property \"%.*s\"", pk->len > 60 ? 60 : (int)pk->len, pk->name);
		compat_node(k, pk->schema, ns, what);
	}
	if (n->addl)
		compat_node(k, p->addl ? p->addl : &true_node, n->addl, "additional properties");
}

static void compat_node(struct kctx *k, const struct snode *p, const struct snode *n,
			const char *what)
{
	if (p->never || n == &true_node)
		return;
	if (n->never) {
		static const char addl[] = "/additionalProperties";
		size_t pl = strlen(n->ptr), al = sizeof(addl) - 1;
		const char *rule = pl >= al && strcmp(n->ptr + pl - al, addl) == 0 ?
			"additionalProperties" : "false";
		breaking(k, n, NULL, rule, "%s: no value is allowed any more (the schema is false)", what);
		return;
	}
	if (p->konst || p->enumv) {
		compat_values(k, p, n);
		return;
	}
	if (n->konst)
		breaking(k, n, "const", "const", "%s: a const is new", what);
	if (n->enumv)
		breaking(k, n, "enum", "enum", "%s: an enum is new", what);
	compat_types(k, p, n);
	unsigned pt = p->types;
	if (pt & T_STRING) {
		if (n->has_min_len && n->min_len > (p->has_min_len ? p->min_len : 0))
			breaking(k, n, "minLength", "minLength", "minLength raised from %u to %u",
				 p->has_min_len ? p->min_len : 0, n->min_len);
		if (n->has_max_len && (!p->has_max_len || n->max_len < p->max_len)) {
			if (p->has_max_len)
				breaking(k, n, "maxLength", "maxLength", "maxLength lowered from %u to %u",
					 p->max_len, n->max_len);
			else
				breaking(k, n, "maxLength", "maxLength", "maxLength %u is new", n->max_len);
		}
		if (n->re && (!p->re || p->pattern_len != n->pattern_len ||
			      memcmp(p->pattern, n->pattern, n->pattern_len) != 0))
			breaking(k, n, "pattern", "pattern", p->re ? "the pattern changed" : "a pattern is new");
		if (n->format && n->format != p->format)
		{
			if (p->format)
				breaking(k, n, "format", "format", "format changed from %s to %s",
					 format_names[p->format], format_names[n->format]);
			else
				breaking(k, n, "format", "format", "format %s is new", format_names[n->format]);
		}
	}
	if (pt & (T_NUMBER | T_INTEGER)) {
		struct bound pl = eff_bound(p->min, p->xmin, true), nl = eff_bound(n->min, n->xmin, true);
		struct bound pu = eff_bound(p->max, p->xmax, false), nu = eff_bound(n->max, n->xmax, false);
		if (bound_tighter(pl, nl, true))
			breaking(k, n, nl.kwd, nl.kwd, "lower bound raised to %s%s (was %s%s)",
				 nl.excl ? "> " : ">= ", nl.v->u.s, pl.v ? (pl.excl ? "> " : ">= ") : "",
				 pl.v ? pl.v->u.s : "none");
		if (bound_tighter(pu, nu, false))
			breaking(k, n, nu.kwd, nu.kwd, "upper bound lowered to %s%s (was %s%s)",
				 nu.excl ? "< " : "<= ", nu.v->u.s, pu.v ? (pu.excl ? "< " : "<= ") : "",
				 pu.v ? pu.v->u.s : "none");
	}
	if (pt & T_OBJECT)
		compat_object(k, p, n);
	if ((pt & T_ARRAY) && n->items)
		compat_node(k, p->items ? p->items : &true_node, n->items, "array items");
}

int schema_compat(const struct schema *prev, const struct schema *next,
		  struct schema_violation *v, size_t cap)
{
	struct kctx k = { .v = v, .cap = cap, .prev = prev, .next = next };
	if (!(k.st = vstate_get()))
		return -ENOMEM;
	compat_node(&k, prev->root, next->root, "the schema");
	return k.count > INT32_MAX ? INT32_MAX : (int)k.count;
}
