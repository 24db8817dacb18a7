/*
 * jdoc.c - the JSON document tree of jdoc.h: a recursive-descent parser
 * into an arena, equality, exact decimal comparison, JSON pointers.
 *
 * How it is built:
 *   - Recursion depth is bounded by max_depth <= JDOC_DEPTH_HARD, so the C
 *     stack use is bounded (a few hundred bytes per level).
 *   - Children of open containers are pushed on one scratch vector owned
 *     by the arena; when a container closes, its children are copied into
 *     an exact-size arena array and popped. Only indexes into the scratch
 *     vector are held across a push, because growing it moves it.
 *   - Strings are scanned once to find their end, validate UTF-8 and see
 *     whether they hold escapes; only strings with escapes are decoded in
 *     a second pass (into the arena).
 *   - Duplicate keys are checked when an object closes: pairwise up to 16
 *     members, by sorting a temporary array above that.
 *
 * Invariants:
 *   1. Every read of the input is bounds-checked against p->n.
 *   2. p->frames[0..p->depth) names the containers being read, so the
 *      error path is exact at any point.
 *   3. *ret is written only on success.
 */
#include "policy/jdoc.h"

#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- arena --- */

struct jdoc_chunk {
	struct jdoc_chunk *next;
	size_t cap;
	size_t used;
	_Alignas(16) unsigned char data[];
};

#define CHUNK_MIN 16384

void jdoc_arena_init(struct jdoc_arena *a, size_t max)
{
	memset(a, 0, sizeof(*a));
	a->max = max;
}

void *jdoc_arena_alloc(struct jdoc_arena *a, size_t n)
{
	struct jdoc_chunk *c = a->head;
	n = (n + 7) & ~(size_t)7;
	if (c && c->cap - c->used >= n) {
		void *p = c->data + c->used;
		c->used += n;
		a->used += n;
		return p;
	}
	size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
	if (c && c->cap * 2 > cap && c->cap < (1u << 20))
		cap = c->cap * 2;
	if (a->used + n > a->max)
		return NULL;
	if (a->used + cap > a->max)
		cap = n;   /* the last chunk before the maximum is exact */
	c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->next = a->head;
	c->cap = cap;
	c->used = n;
	a->head = c;
	a->used += n;
	return c->data;
}

void jdoc_arena_reset(struct jdoc_arena *a)
{
	struct jdoc_chunk *c = a->head, *keep = NULL;
	while (c) {
		struct jdoc_chunk *next = c->next;
		if (!next)
			keep = c;  /* the oldest chunk */
		else
			free(c);
		c = next;
	}
	a->head = keep;
	a->used = 0;
	if (keep)
		keep->used = 0;
	if (a->scratch_cap * sizeof(*a->scratch) > 65536) {
		free(a->scratch);
		a->scratch = NULL;
		a->scratch_cap = 0;
	}
}

void jdoc_arena_release(struct jdoc_arena *a)
{
	if (!a)
		return;
	struct jdoc_chunk *c = a->head;
	while (c) {
		struct jdoc_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(a->scratch);
	a->head = NULL;
	a->scratch = NULL;
	a->scratch_cap = 0;
	a->used = 0;
}

void jdoc_limits_default(struct jdoc_limits *lim)
{
	lim->max_input = 1u << 20;
	lim->max_depth = 64;
	lim->max_values = 65536;
	lim->max_string = 65536;
}

/* --- pointers --- */

/* Bytes of the UTF-8 sequence starting with byte c (1 for anything else). */
static size_t seq_len(unsigned char c)
{
	return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

size_t jdoc_pointer_push(char *buf, size_t len, size_t cap, const char *seg, size_t seg_len)
{
	if (cap == 0)
		return 0;
	if (len + 2 > cap) {
		buf[len < cap ? len : cap - 1] = 0;
		return len < cap ? len : cap - 1;
	}
	buf[len++] = '/';
	for (size_t i = 0; i < seg_len;) {
		unsigned char c = (unsigned char)seg[i];
		size_t k = seq_len(c);
		if (i + k > seg_len)
			k = seg_len - i;
		size_t need = (c == '~' || c == '/') ? 2 : k;
		if (len + need + 1 > cap)
			break;
		if (c == '~' || c == '/') {
			buf[len++] = '~';
			buf[len++] = c == '~' ? '0' : '1';
		} else {
			memcpy(buf + len, seg + i, k);
			len += k;
		}
		i += k;
	}
	buf[len] = 0;
	return len;
}

size_t jdoc_pointer_push_index(char *buf, size_t len, size_t cap, size_t index)
{
	char tmp[24];
	size_t n = st_fmt_u64(tmp, index);
	return jdoc_pointer_push(buf, len, cap, tmp, n);
}

const char *jdoc_type_name(const struct jdoc_value *v)
{
	switch (v->type) {
	case JDOC_NULL: return "null";
	case JDOC_FALSE: case JDOC_TRUE: return "boolean";
	case JDOC_NUMBER: return "number";
	case JDOC_STRING: return "string";
	case JDOC_ARRAY: return "array";
	default: return "object";
	}
}

/* --- parser --- */

struct frame {
	const char *key;            /* current member's key, or NULL in an array */
	uint32_t key_len;
	uint32_t index;             /* current element's index in an array */
};

struct parser {
	const unsigned char *in;
	size_t n;
	size_t pos;
	struct jdoc_arena *a;
	const struct jdoc_limits *lim;
	unsigned flags;
	uint32_t values;
	uint32_t depth;
	size_t scratch_len;
	struct jdoc_error *err;
	char fbuf[8];
	struct frame frames[JDOC_DEPTH_HARD];
};

static void build_pointer(const struct parser *p, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < p->depth; i++) {
		const struct frame *f = &p->frames[i];
		if (f->key)
			len = jdoc_pointer_push(out, len, cap, f->key, f->key_len);
		else if (f->index != UINT32_MAX)
			len = jdoc_pointer_push_index(out, len, cap, f->index);
	}
}

__attribute__((format(printf, 4, 5)))
static int fail(struct parser *p, int code, size_t offset, const char *fmt, ...)
{
	struct jdoc_error *e = p->err;
	if (!e)
		return code;
	e->code = code;
	e->offset = offset;
	build_pointer(p, e->pointer, sizeof(e->pointer));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Names the byte at `at` for a message ("'x'", "a control byte", ...);
 * the text lives in p->fbuf until the next call. */
static const char *found(struct parser *p, size_t at)
{
	if (at >= p->n)
		return "end of input";
	unsigned char c = p->in[at];
	if (c < 0x20)
		return "a control byte";
	if (c >= 0x80)
		return "a non-ASCII byte";
	snprintf(p->fbuf, sizeof(p->fbuf), "'%c'", c);
	return p->fbuf;
}

static inline void skip_ws(struct parser *p)
{
	if (likely(p->pos < p->n && p->in[p->pos] > ' '))
		return;   /* compact input: no whitespace at all */
	while (p->pos < p->n) {
		unsigned char c = p->in[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80),
 * or 0 when it is not one (Unicode table 3-7). */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[2] & 0xC0) != 0x80)
			return 0;
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return s[1] >= lo && s[1] <= hi ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return s[1] >= lo && s[1] <= hi ? 4 : 0;
	}
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits at in[i..i+4) as a code unit, or -1. */
static long hex4(const struct parser *p, size_t i)
{
	if (i + 4 > p->n)
		return -1;
	long v = 0;
	for (size_t k = 0; k < 4; k++) {
		int h = hexval(p->in[i + k]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Reads a string whose opening quote is at p->pos; leaves p->pos after
 * the closing quote. */
static int parse_string(struct parser *p, const char **ret, uint32_t *ret_len)
{
	size_t start = p->pos + 1, i = start;
	bool esc = false;
	for (;;) {
#if defined(__SSE2__)
		/* Skip 16 plain ASCII bytes at a time: stop at '"', '\\', a
		 * control byte or a byte >= 0x80. */
		while (i + 16 <= p->n) {
			__m128i x = _mm_loadu_si128((const __m128i *)(p->in + i));
			__m128i stop = _mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
					     _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
				/* signed compare: bytes >= 0x80 are negative, so
				 * x < 0x20 catches them and the controls at once */
				_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
			int mask = _mm_movemask_epi8(stop);
			if (mask) {
				i += (size_t)__builtin_ctz((unsigned)mask);
				break;
			}
			i += 16;
		}
#endif
		if (i >= p->n)
			return fail(p, ST_EINVAL, p->n, "unterminated string (opened at byte %zu)", p->pos);
		unsigned char c = p->in[i];
		if (c == '"')
			break;
		if (c == '\\') {
			esc = true;
			if (i + 1 >= p->n)
				return fail(p, ST_EINVAL, p->n, "unterminated escape");
			unsigned char e = p->in[i + 1];
			if (e == 'u') {
				long u = hex4(p, i + 2);
				if (u < 0)
					return fail(p, ST_EINVAL, i, "expected 4 hex digits after \\u");
				if (u >= 0xDC00 && u <= 0xDFFF)
					return fail(p, ST_EINVAL, i, "lone low surrogate \\u%04lX", u);
				if (u >= 0xD800 && u <= 0xDBFF) {
					long lo = (i + 7 < p->n && p->in[i + 6] == '\\' && p->in[i + 7] == 'u') ?
						hex4(p, i + 8) : -1;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return fail(p, ST_EINVAL, i, "high surrogate \\u%04lX not followed by a low surrogate escape", u);
					i += 12;
				} else {
					i += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0)
				return fail(p, ST_EINVAL, i, "invalid escape \\%c", e >= 0x20 && e < 0x7F ? e : '?');
			i += 2;
			continue;
		}
		if (c < 0x20)
			return fail(p, ST_EINVAL, i, "raw control byte 0x%02X in a string (escape it)", c);
		if (c >= 0x80) {
			size_t k = utf8_valid(p->in + i, p->n - i);
			if (!k)
				return fail(p, ST_EINVAL, i, "invalid UTF-8 byte 0x%02X", c);
			i += k;
			continue;
		}
		i++;
	}
	size_t raw = i - start;
	if (raw > p->lim->max_string)
		return fail(p, ST_ELIMIT, p->pos, "string is %zu bytes, limit is %u", raw, p->lim->max_string);
	p->pos = i + 1;
	if (!esc) {
		if (p->flags & JDOC_BORROW) {
			*ret = (const char *)p->in + start;
		} else {
			char *s = jdoc_arena_alloc(p->a, raw + 1);
			if (!s)
				return fail(p, ST_ELIMIT, start - 1, "out of arena memory");
			memcpy(s, p->in + start, raw);
			s[raw] = 0;
			*ret = s;
		}
		*ret_len = (uint32_t)raw;
		return 0;
	}
	char *s = jdoc_arena_alloc(p->a, raw + 1), *o = s;
	if (!s)
		return fail(p, ST_ELIMIT, start - 1, "out of arena memory");
	for (size_t k = start; k < i;) {
		unsigned char c = p->in[k];
		if (c != '\\') {
			*o++ = (char)c;
			k++;
			continue;
		}
		unsigned char e = p->in[k + 1];
		switch (e) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned long cp = (unsigned long)hex4(p, k + 2);
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned long lo = (unsigned long)hex4(p, k + 8);
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				k += 6;
			}
			o += put_utf8(o, cp);
			k += 6;
			continue;
		}
		default: *o++ = (char)e; break;
		}
		k += 2;
	}
	*o = 0;
	*ret = s;
	*ret_len = (uint32_t)(o - s);
	return 0;
}

static int parse_number(struct parser *p, struct jdoc_value *v)
{
	size_t i = p->pos, start = i;
	const unsigned char *in = p->in;
	if (i < p->n && in[i] == '-')
		i++;
	if (i >= p->n || in[i] < '0' || in[i] > '9')
		return fail(p, ST_EINVAL, i, "expected a digit, found %s", found(p, i));
	if (in[i] == '0') {
		i++;
		if (i < p->n && in[i] >= '0' && in[i] <= '9')
			return fail(p, ST_EINVAL, start, "leading zero in a number");
	} else {
		while (i < p->n && in[i] >= '0' && in[i] <= '9')
			i++;
	}
	if (i < p->n && in[i] == '.') {
		i++;
		if (i >= p->n || in[i] < '0' || in[i] > '9')
			return fail(p, ST_EINVAL, i, "expected a digit after '.', found %s", found(p, i));
		while (i < p->n && in[i] >= '0' && in[i] <= '9')
			i++;
	}
	if (i < p->n && (in[i] == 'e' || in[i] == 'E')) {
		i++;
		if (i < p->n && (in[i] == '+' || in[i] == '-'))
			i++;
		if (i >= p->n || in[i] < '0' || in[i] > '9')
			return fail(p, ST_EINVAL, i, "expected an exponent digit, found %s", found(p, i));
		while (i < p->n && in[i] >= '0' && in[i] <= '9')
			i++;
	}
	size_t len = i - start;
	if (len > p->lim->max_string)
		return fail(p, ST_ELIMIT, start, "number is %zu bytes, limit is %u", len, p->lim->max_string);
	if (p->flags & JDOC_BORROW) {
		v->u.s = (const char *)in + start;
	} else {
		char *s = jdoc_arena_alloc(p->a, len + 1);
		if (!s)
			return fail(p, ST_ELIMIT, start, "out of arena memory");
		memcpy(s, in + start, len);
		s[len] = 0;
		v->u.s = s;
	}
	v->type = JDOC_NUMBER;
	v->len = (uint32_t)len;
	p->pos = i;
	return 0;
}

static int literal(struct parser *p, const char *word, size_t wl, uint8_t type, struct jdoc_value *v)
{
	if (p->n - p->pos < wl || memcmp(p->in + p->pos, word, wl) != 0)
		return fail(p, ST_EINVAL, p->pos, "expected a value, found %s", found(p, p->pos));
	p->pos += wl;
	v->type = type;
	v->len = 0;
	v->u.s = NULL;
	return 0;
}

/* Slot for one more child on the scratch stack, or NULL (error set). */
static struct jdoc_member *push_child(struct parser *p)
{
	struct jdoc_arena *a = p->a;
	if (p->scratch_len == a->scratch_cap) {
		size_t cap = a->scratch_cap ? a->scratch_cap * 2 : 256;
			struct jdoc_member *s = realloc(a->scratch, cap * sizeof(*s));
		if (!s) {
			fail(p, -ENOMEM, p->pos, "out of memory");
			return NULL;
		}
		a->scratch = s;
		a->scratch_cap = cap;
	}
	return &a->scratch[p->scratch_len++];
}

static int key_cmp(const void *x, const void *y)
{
	const struct jdoc_member *a = *(const struct jdoc_member *const *)x;
	const struct jdoc_member *b = *(const struct jdoc_member *const *)y;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	int c = memcmp(a->key, b->key, a->key_len);
	if (c)
		return c;
	return a->key_offset < b->key_offset ? -1 : a->key_offset > b->key_offset;
}

static bool same_key(const struct jdoc_member *a, const struct jdoc_member *b)
{
	return a->key_len == b->key_len && (a->key_len == 0 || a->key[0] == b->key[0]) &&
	       memcmp(a->key, b->key, a->key_len) == 0;
}

static int check_dups(struct parser *p, const struct jdoc_member *m, uint32_t n)
{
	const struct jdoc_member *dup = NULL;
	if (n <= 16) {
		/* Length and first and last bytes first, memcmp only on a tie. */
		uint32_t sig[16];
		for (uint32_t i = 0; i < n; i++)
			sig[i] = m[i].key_len << 16 |
				 (m[i].key_len ? (uint32_t)(unsigned char)m[i].key[0] << 8 |
						 (unsigned char)m[i].key[m[i].key_len - 1] : 0);
		for (uint32_t i = 1; i < n && !dup; i++)
			for (uint32_t j = 0; j < i; j++)
				if (sig[i] == sig[j] && same_key(&m[i], &m[j])) {
					dup = &m[i];
					break;
				}
	} else {
		const struct jdoc_member **s = jdoc_arena_alloc(p->a, n * sizeof(*s));
		if (!s)
			return fail(p, ST_ELIMIT, p->pos, "out of arena memory");
		for (uint32_t i = 0; i < n; i++)
			s[i] = &m[i];
		qsort(s, n, sizeof(*s), key_cmp);
		for (uint32_t i = 1; i < n; i++)
			if (same_key(s[i - 1], s[i]) && (!dup || s[i]->key_offset < dup->key_offset))
				dup = s[i];
	}
	if (dup) {
		/* Name the duplicate in the pointer of its object. */
		p->frames[p->depth - 1].key = NULL;
		p->frames[p->depth - 1].index = UINT32_MAX;
		return fail(p, ST_EINVAL, dup->key_offset, "duplicate key \"%.*s\"",
			    dup->key_len > 64 ? 64 : (int)dup->key_len, dup->key);
	}
	return 0;
}

/* Values are written in place, in their parent's slot of the scratch
 * vector, addressed by index: the vector may move while a container's
 * children are read, so no pointer into it is held across a call that can
 * push. (Building each value in a local and copying it into the slot cost
 * a store-forwarding stall per value, a third of the parse.) */
static inline struct jdoc_value *slot_value(struct parser *p, size_t idx)
{
	return &p->a->scratch[idx].value;
}

static int parse_value(struct parser *p, size_t idx);

static int parse_container(struct parser *p, size_t idx, bool obj)
{
	size_t open = p->pos;
	if (p->depth >= p->lim->max_depth)
		return fail(p, ST_ELIMIT, open, "nesting depth %u, limit is %u", p->depth + 1, p->lim->max_depth);
	struct frame *f = &p->frames[p->depth++];
	f->key = NULL;
	f->key_len = 0;
	f->index = obj ? UINT32_MAX : 0;
	size_t base = p->scratch_len;
	uint32_t count = 0;
	int r;
	char close = obj ? '}' : ']';
	p->pos++;
	skip_ws(p);
	if (p->pos < p->n && p->in[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		size_t cidx = p->scratch_len;
		struct jdoc_member *slot = push_child(p);
		if (!slot)
			return p->err ? p->err->code : -ENOMEM;
		skip_ws(p);
		if (obj) {
			if (p->pos >= p->n || p->in[p->pos] != '"')
				return fail(p, ST_EINVAL, p->pos, "expected a key string, found %s", found(p, p->pos));
			slot->key_offset = (uint32_t)p->pos;
			if ((r = parse_string(p, &slot->key, &slot->key_len)))
				return r;
			f->key = slot->key;
			f->key_len = slot->key_len;
			skip_ws(p);
			if (p->pos >= p->n || p->in[p->pos] != ':')
				return fail(p, ST_EINVAL, p->pos, "expected ':', found %s", found(p, p->pos));
			p->pos++;
			skip_ws(p);
		} else {
			slot->key = NULL;
			slot->key_len = 0;
			slot->key_offset = 0;
			f->index = count;
		}
		if ((r = parse_value(p, cidx)))
			return r;
		count++;
		skip_ws(p);
		if (p->pos < p->n && p->in[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->n && p->in[p->pos] == close) {
			p->pos++;
			break;
		}
		return fail(p, ST_EINVAL, p->pos, "expected ',' or '%c', found %s", close, found(p, p->pos));
	}
done:;
	const void *children = NULL;
	if (obj && count) {
		struct jdoc_member *m = jdoc_arena_alloc(p->a, count * sizeof(*m));
		if (!m)
			return fail(p, ST_ELIMIT, open, "out of arena memory");
		memcpy(m, p->a->scratch + base, count * sizeof(*m));
		if ((r = check_dups(p, m, count)))
			return r;
		children = m;
	} else if (count) {
		struct jdoc_value *items = jdoc_arena_alloc(p->a, count * sizeof(*items));
		if (!items)
			return fail(p, ST_ELIMIT, open, "out of arena memory");
		for (uint32_t i = 0; i < count; i++)
			items[i] = p->a->scratch[base + i].value;
		children = items;
	}
	struct jdoc_value *v = slot_value(p, idx);
	v->offset = (uint32_t)open;
	v->len = count;
	v->type = obj ? JDOC_OBJECT : JDOC_ARRAY;
	if (obj)
		v->u.members = children;
	else
		v->u.items = children;
	p->scratch_len = base;
	p->depth--;
	return 0;
}

static int parse_value(struct parser *p, size_t idx)
{
	if (++p->values > p->lim->max_values)
		return fail(p, ST_ELIMIT, p->pos, "more than %u values, limit is %u",
			    p->lim->max_values, p->lim->max_values);
	if (p->pos >= p->n)
		return fail(p, ST_EINVAL, p->pos, "expected a value, found end of input");
	struct jdoc_value *v = slot_value(p, idx);   /* no push below but in parse_container */
	v->offset = (uint32_t)p->pos;
	switch (p->in[p->pos]) {
	case '{': return parse_container(p, idx, true);
	case '[': return parse_container(p, idx, false);
	case '"':
		v->type = JDOC_STRING;
		return parse_string(p, &v->u.s, &v->len);
	case 't': return literal(p, "true", 4, JDOC_TRUE, v);
	case 'f': return literal(p, "false", 5, JDOC_FALSE, v);
	case 'n': return literal(p, "null", 4, JDOC_NULL, v);
	default: return parse_number(p, v);
	}
}

int jdoc_parse(struct jdoc_arena *a, const char *json, size_t n,
	       const struct jdoc_limits *lim, unsigned flags,
	       const struct jdoc_value **ret, struct jdoc_error *err)
{
	struct jdoc_limits dl, l;
	if (!lim) {
		jdoc_limits_default(&dl);
		lim = &dl;
	}
	l = *lim;
	if (l.max_depth > JDOC_DEPTH_HARD)
		l.max_depth = JDOC_DEPTH_HARD;
	if (l.max_input > JDOC_INPUT_HARD)
		l.max_input = JDOC_INPUT_HARD;
	struct parser ps, *p = &ps;   /* ~3 KiB: the frames of JDOC_DEPTH_HARD levels */
	p->in = (const unsigned char *)json;
	p->n = n;
	p->pos = 0;
	p->a = a;
	p->lim = &l;
	p->flags = flags;
	p->values = 0;
	p->depth = 0;
	p->scratch_len = 0;
	p->err = err;
	int r;
	struct jdoc_value *root = NULL;
	if (n > l.max_input) {
		r = fail(p, ST_ELIMIT, l.max_input, "input is %zu bytes, limit is %zu", n, l.max_input);
		goto out;
	}
	/* The root is read into scratch slot 0, then copied out. */
	if (!push_child(p)) {
		r = err ? err->code : -ENOMEM;
		goto out;
	}
	skip_ws(p);
	if ((r = parse_value(p, 0)))
		goto out;
	skip_ws(p);
	if (p->pos != n) {
		r = fail(p, ST_EINVAL, p->pos, "expected end of input after the value, found %s", found(p, p->pos));
		goto out;
	}
	root = jdoc_arena_alloc(a, sizeof(*root));
	if (!root) {
		r = fail(p, ST_ELIMIT, 0, "out of arena memory");
		goto out;
	}
	*root = a->scratch[0].value;
	*ret = root;
out:
	return r;
}

/* --- reading the tree --- */

const struct jdoc_value *jdoc_get(const struct jdoc_value *obj, const char *key, size_t key_len)
{
	if (obj->type != JDOC_OBJECT)
		return NULL;
	for (uint32_t i = 0; i < obj->len; i++) {
		const struct jdoc_member *m = &obj->u.members[i];
		if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
			return &m->value;
	}
	return NULL;
}

/* A number text taken apart: value = sign * 0.D[z..] * 10^e, where D is
 * the integer digits followed by the fraction digits. */
struct dec {
	bool neg;
	bool zero;
	const char *ip, *fp;        /* integer and fraction digits */
	size_t il, fl;
	size_t z;                   /* index in D of the first non-zero digit */
	size_t t;                   /* index in D of the last non-zero digit */
	int64_t e;
};

#define EXP_SAT 1000000000000000LL

static char dec_digit(const struct dec *d, size_t i)
{
	return i < d->il ? d->ip[i] : d->fp[i - d->il];
}

static void dec_split(const char *s, size_t n, struct dec *d)
{
	size_t i = 0;
	memset(d, 0, sizeof(*d));
	if (i < n && s[i] == '-') {
		d->neg = true;
		i++;
	}
	d->ip = s + i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	d->il = (size_t)(s + i - d->ip);
	d->fp = s + i;
	if (i < n && s[i] == '.') {
		i++;
		d->fp = s + i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		d->fl = (size_t)(s + i - d->fp);
	}
	int64_t x = 0;
	bool xneg = false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			xneg = s[i++] == '-';
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (x < EXP_SAT)
				x = x * 10 + (s[i] - '0');
		if (x > EXP_SAT)
			x = EXP_SAT;
	}
	size_t L = d->il + d->fl;
	d->z = 0;
	while (d->z < L && dec_digit(d, d->z) == '0')
		d->z++;
	if (d->z == L) {
		d->zero = true;
		d->neg = false;   /* -0 == 0 */
		return;
	}
	d->t = L - 1;
	while (dec_digit(d, d->t) == '0')
		d->t--;
	d->e = (int64_t)d->il - (int64_t)d->z + (xneg ? -x : x);
}

static int mag_cmp(const struct dec *a, const struct dec *b)
{
	if (a->e != b->e)
		return a->e < b->e ? -1 : 1;
	size_t i = a->z, j = b->z;
	for (;;) {
		bool ea = i > a->t, eb = j > b->t;
		if (ea || eb)
			return ea && eb ? 0 : ea ? -1 : 1;
		char x = dec_digit(a, i++), y = dec_digit(b, j++);
		if (x != y)
			return x < y ? -1 : 1;
	}
}

int jdoc_num_cmp(const char *as, size_t an, const char *bs, size_t bn)
{
	struct dec a, b;
	dec_split(as, an, &a);
	dec_split(bs, bn, &b);
	if (a.zero || b.zero) {
		if (a.zero && b.zero)
			return 0;
		if (a.zero)
			return b.neg ? 1 : -1;
		return a.neg ? -1 : 1;
	}
	if (a.neg != b.neg)
		return a.neg ? -1 : 1;
	int c = mag_cmp(&a, &b);
	return a.neg ? -c : c;
}

bool jdoc_num_is_integer(const char *s, size_t n)
{
	struct dec d;
	dec_split(s, n, &d);
	if (d.zero)
		return true;
	return d.e >= (int64_t)(d.t - d.z + 1);
}

size_t jdoc_utf8_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

bool jdoc_equal(const struct jdoc_value *a, const struct jdoc_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case JDOC_NULL: case JDOC_TRUE: case JDOC_FALSE:
		return true;
	case JDOC_NUMBER:
		return jdoc_num_cmp(a->u.s, a->len, b->u.s, b->len) == 0;
	case JDOC_STRING:
		return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
	case JDOC_ARRAY:
		if (a->len != b->len)
			return false;
		for (uint32_t i = 0; i < a->len; i++)
			if (!jdoc_equal(&a->u.items[i], &b->u.items[i]))
				return false;
		return true;
	default:
		/* Keys are unique in both, so same count + every key of a
		 * found equal in b is equality. */
		if (a->len != b->len)
			return false;
		for (uint32_t i = 0; i < a->len; i++) {
			const struct jdoc_member *m = &a->u.members[i];
			const struct jdoc_value *o = jdoc_get(b, m->key, m->key_len);
			if (!o || !jdoc_equal(&m->value, o))
				return false;
		}
		return true;
	}
}
