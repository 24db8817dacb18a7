/*
 * query.c - parser, formatter and brute-force evaluator of the query
 * language (docs/QUERY.md).
 *
 * The parser is recursive descent over the raw bytes, one function per
 * precedence level (or, and, unary, primary); the C recursion is bounded
 * by QUERY_MAX_DEPTH because only '(' and NOT/'-' recurse. All nodes and
 * strings live in one arena owned by the struct query, so query_free()
 * is one walk over the arena's blocks.
 *
 * Invariants:
 *   1. AND and OR nodes have >= 2 kids and no kid of their own op; a
 *      parenthesised single term is the term itself.
 *   2. q->terms lists the Q_TERM nodes in depth-first, left-to-right
 *      order; query_match() relies on eval() visiting them in that order.
 *   3. query_format() prints parentheses only where the tree cannot be
 *      written without them (an OR under an AND, an AND or OR under a
 *      NOT), which the source must have had too, so the canonical text
 *      never nests deeper than the text it came from.
 *   4. An empty range is always stored as lo = 1, hi = 0, and time
 *      bounds lie in 1678..2261, so every range formats to text that
 *      parses back to the same bounds.
 */
#include "index/query.h"

#include "common/timeutil.h"
#include "common/util.h"
#include "index/jwalk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- arena ------------------------------------------------------------ */

#define ARENA_BLOCK 8192

struct query_arena {
	struct query_arena *next;
	size_t used, cap;
	max_align_t data[];
};

static void *aalloc(struct query *q, size_t n)
{
	struct query_arena *a = q->arena;

	n = (n + 15) & ~(size_t)15;
	if (!a || a->cap - a->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		struct query_arena *b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		if (a && n > ARENA_BLOCK) {
			/* A big one-off block goes behind the current one. */
			b->next = a->next;
			a->next = b;
		} else {
			b->next = a;
			q->arena = b;
		}
		a = b;
	}
	void *p = (char *)a->data + a->used;
	a->used += n;
	return p;
}

static char *astrdup(struct query *q, const char *s, size_t n)
{
	char *p = aalloc(q, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void query_free(struct query *q)
{
	if (!q)
		return;
	struct query_arena *a = q->arena;
	while (a) {
		struct query_arena *next = a->next;
		free(a);
		a = next;
	}
	free(q);
}

/* ---- lexing helpers --------------------------------------------------- */

struct parser {
	const char *s;
	size_t n, i;
	int64_t now;
	struct query *q;
	struct query_error *err;
	size_t nodes;
	int depth;
};

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool is_field_byte(char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-' || (unsigned char)c >= 0x80;
}

static void skip_ws(struct parser *ps)
{
	while (ps->i < ps->n && is_ws(ps->s[ps->i]))
		ps->i++;
}

/* True when the end, whitespace or a parenthesis is at i. */
static bool boundary(const struct parser *ps, size_t i)
{
	return i >= ps->n || is_ws(ps->s[i]) || ps->s[i] == '(' || ps->s[i] == ')';
}

enum { KW_NONE, KW_OR, KW_AND, KW_NOT };

static int keyword_at(const struct parser *ps, size_t i)
{
	const char *s = ps->s + i;
	size_t left = ps->n - i;

	if (i >= ps->n)
		return KW_NONE;
	if (left >= 2 && s[0] == 'O' && s[1] == 'R' && boundary(ps, i + 2))
		return KW_OR;
	if (left >= 3 && !memcmp(s, "AND", 3) && boundary(ps, i + 3))
		return KW_AND;
	if (left >= 3 && !memcmp(s, "NOT", 3) && boundary(ps, i + 3))
		return KW_NOT;
	return KW_NONE;
}

/* Copies s[0..n) quoted into out for a message: at most 40 bytes (cut at
 * a UTF-8 boundary, "..." added), control bytes shown as '?'. */
static void quote(char out[64], const char *s, size_t n)
{
	size_t k = n, o = 0;
	bool cut = false;

	if (k > 40) {
		k = 40;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
		cut = true;
	}
	out[o++] = '\'';
	for (size_t j = 0; j < k; j++) {
		unsigned char c = (unsigned char)s[j];
		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '\'';
	out[o] = 0;
}

/* What is at i, for "found ...": the end, whitespace, a parenthesis, or
 * the text up to the next whitespace or parenthesis. */
static const char *found(const struct parser *ps, size_t i, char out[64])
{
	if (i >= ps->n)
		return "end of query";
	if (is_ws(ps->s[i]))
		return "whitespace";
	size_t j = i + 1;
	if (ps->s[i] != '(' && ps->s[i] != ')')
		while (!boundary(ps, j))
			j++;
	quote(out, ps->s + i, j - i);
	return out;
}

static int perr(struct parser *ps, int code, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(struct parser *ps, int code, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (ps->err) {
		int k = snprintf(ps->err->msg, sizeof(ps->err->msg), "column %zu: ", at + 1);
		ps->err->column = at + 1;
		if (k > 0 && (size_t)k < sizeof(ps->err->msg)) {
			va_start(ap, fmt);
			vsnprintf(ps->err->msg + k, sizeof(ps->err->msg) - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return code;
}

static int new_node(struct parser *ps, enum q_op op, size_t at, struct qnode **ret)
{
	if (ps->nodes >= QUERY_MAX_NODES)
		return perr(ps, ST_ELIMIT, at,
			    "the query has more than %d terms and operators (the limit)",
			    QUERY_MAX_NODES);
	struct qnode *nd = aalloc(ps->q, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	memset(nd, 0, sizeof(*nd));
	nd->op = op;
	nd->column = (uint32_t)(at + 1);
	ps->nodes++;
	*ret = nd;
	return 0;
}

/* ---- words and phrases ------------------------------------------------ */

struct toks {
	struct parser *ps;
	char *tok[QUERY_MAX_PHRASE + 1];
	size_t len[QUERY_MAX_PHRASE + 1];
	size_t n;
};

static int collect_tok(void *ctx, const char *tok, size_t len, uint32_t pos)
{
	struct toks *t = ctx;
	(void)pos;
	if (t->n > QUERY_MAX_PHRASE)
		return ST_ELIMIT;
	if (!(t->tok[t->n] = astrdup(t->ps->q, tok, len)))
		return -ENOMEM;
	t->len[t->n++] = len;
	return 0;
}

/* Builds QT_WORD (one token) or QT_PHRASE (several) from text[0..tn);
 * `what` describes the source in messages (at: its start). */
static int text_term(struct parser *ps, const char *text, size_t tn, bool prefix,
		     size_t at, size_t end, struct qnode **ret)
{
	struct toks t;
	char fb[64];
	int r;

	t.ps = ps;
	t.n = 0;
	if (tn > QUERY_MAX_VALUE)
		return perr(ps, ST_ELIMIT, at, "a search term is %zu bytes, more than the limit of %d",
			    tn, QUERY_MAX_VALUE);
	r = jw_tokens(text, tn, collect_tok, &t);
	if (r == ST_ELIMIT || (r == 0 && t.n > QUERY_MAX_PHRASE))
		return perr(ps, ST_ELIMIT, at, "a phrase has more than %d words (the limit)",
			    QUERY_MAX_PHRASE);
	if (r < 0)
		return r;
	quote(fb, ps->s + at, end - at);
	if (t.n == 0)
		return perr(ps, ST_EINVAL, at, "expected a search term with letters or digits, found %s",
			    fb);
	if (prefix && t.n != 1)
		return perr(ps, ST_EINVAL, at,
			    "expected a single word before '*' (prefix search), found %s", fb);
	if ((r = new_node(ps, Q_TERM, at, ret)) < 0)
		return r;
	if (t.n == 1) {
		(*ret)->term = prefix ? QT_WORD_PREFIX : QT_WORD;
		(*ret)->value = t.tok[0];
		(*ret)->value_len = t.len[0];
		return 0;
	}
	(*ret)->term = QT_PHRASE;
	(*ret)->tokens = aalloc(ps->q, t.n * sizeof(char *));
	if (!(*ret)->tokens)
		return -ENOMEM;
	memcpy((*ret)->tokens, t.tok, t.n * sizeof(char *));
	(*ret)->ntokens = t.n;
	return 0;
}

/*
 * Reads a quoted string at ps->i (the opening '"'): \" and \\ are escapes,
 * any other backslash is itself. Decodes into the arena; ps->i ends after
 * the closing quote.
 */
static int quoted(struct parser *ps, char **ret, size_t *ret_len)
{
	size_t open = ps->i, j = ps->i + 1, len = 0;
	char *out;

	/* Find the end first so the copy is sized exactly. */
	while (j < ps->n && ps->s[j] != '"') {
		if (ps->s[j] == '\\' && j + 1 < ps->n &&
		    (ps->s[j + 1] == '"' || ps->s[j + 1] == '\\'))
			j++;
		j++;
		len++;
	}
	if (j >= ps->n)
		return perr(ps, ST_EINVAL, ps->n,
			    "expected '\"' to close the quote at column %zu, found end of query",
			    open + 1);
	if (len > QUERY_MAX_VALUE)
		return perr(ps, ST_ELIMIT, open, "a quoted value is %zu bytes, more than the limit of %d",
			    len, QUERY_MAX_VALUE);
	if (!(out = aalloc(ps->q, len + 1)))
		return -ENOMEM;
	len = 0;
	for (j = open + 1; ps->s[j] != '"'; j++) {
		if (ps->s[j] == '\\' && (ps->s[j + 1] == '"' || ps->s[j + 1] == '\\'))
			j++;
		out[len++] = ps->s[j];
	}
	out[len] = 0;
	ps->i = j + 1;
	*ret = out;
	*ret_len = len;
	return 0;
}

/* ---- ranges ------------------------------------------------------------ */

/* Time bounds are kept to the years event `time` may have, so that
 * bound +- 1 ns and a day's end always format to parseable text. */
#define T_MIN (-9183024000LL * 1000000000LL)                   /* 1679-01-01T00:00:00Z */
#define T_MAX (9183110399LL * 1000000000LL + 999999999LL)      /* 2260-12-31T23:59:59.999999999Z */
#define DAY_NS (86400LL * 1000000000LL)

static bool all_digits(const char *s, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (s[j] < '0' || s[j] > '9')
			return false;
	return true;
}

/* One time bound: a date (its whole UTC day), a date-time (an instant), or
 * now / now-N(s|m|h|d|w). */
static bool time_bound(const struct parser *ps, const char *s, size_t n,
		       int64_t *lo, int64_t *hi)
{
	char tmp[64];
	int64_t t;

	if (n >= 3 && !memcmp(s, "now", 3)) {
		uint64_t k;
		int64_t unit;
		if (n == 3) {
			t = ps->now;
		} else {
			if (n < 6 || s[3] != '-' || !st_parse_u64(s + 4, n - 5, &k))
				return false;
			switch (s[n - 1]) {
			case 's': unit = 1000000000LL; break;
			case 'm': unit = 60LL * 1000000000LL; break;
			case 'h': unit = 3600LL * 1000000000LL; break;
			case 'd': unit = DAY_NS; break;
			case 'w': unit = 7 * DAY_NS; break;
			default: return false;
			}
			int64_t d;
			if (k > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)k, unit, &d) ||
			    __builtin_sub_overflow(ps->now, d, &t))
				return false;
		}
		if (t < T_MIN || t > T_MAX)
			return false;
		*lo = *hi = t;
		return true;
	}
	if (n == 10 && all_digits(s, 4) && s[4] == '-' && s[7] == '-') {
		memcpy(tmp, s, 10);
		memcpy(tmp + 10, "T00:00:00Z", 10);
		if (!rfc3339_parse(tmp, 20, &t) || t < T_MIN || t > T_MAX - DAY_NS + 1)
			return false;
		*lo = t;
		*hi = t + DAY_NS - 1;
		return true;
	}
	if (n > 16 && n < sizeof(tmp) - 3 &&
	    (s[16] == 'Z' || s[16] == 'z' || s[16] == '+' || s[16] == '-')) {
		/* YYYY-MM-DDTHH:MM without seconds: add ":00". */
		memcpy(tmp, s, 16);
		memcpy(tmp + 16, ":00", 3);
		memcpy(tmp + 19, s + 16, n - 16);
		if (!rfc3339_parse(tmp, n + 3, &t))
			return false;
	} else if (!rfc3339_parse(s, n, &t)) {
		return false;
	}
	if (t < T_MIN || t > T_MAX)
		return false;
	*lo = *hi = t;
	return true;
}

static bool seq_bound(const char *s, size_t n, int64_t *lo, int64_t *hi)
{
	uint64_t v;
	if (!st_parse_u64(s, n, &v) || v > (uint64_t)INT64_MAX)
		return false;
	*lo = *hi = (int64_t)v;
	return true;
}

static bool bound(const struct parser *ps, enum q_range_field rf, const char *s, size_t n,
		  int64_t *lo, int64_t *hi)
{
	return rf == QR_SEQ ? seq_bound(s, n, lo, hi) : time_bound(ps, s, n, lo, hi);
}

/* A bad bound s[0..n) at column at: "expected ..., found '...'". */
static int bad_bound(struct parser *ps, const char *field, enum q_range_field rf,
		     size_t at, const char *s, size_t n)
{
	char fb[64];
	quote(fb, s, n);
	return perr(ps, ST_EINVAL, at, "expected %s after '%s:', found %s",
		    rf == QR_SEQ ? "a number or range" : "a date, time or range",
		    field, n ? fb : "nothing");
}

/* Parses v[0..vn) (starting at column at) as one of >=X >X <=X <X A..B X. */
static int range(struct parser *ps, const char *field, enum q_range_field rf,
		 const char *v, size_t vn, size_t at, int64_t *ret_lo, int64_t *ret_hi)
{
	int64_t lo = INT64_MIN, hi = INT64_MAX, a, b;
	size_t k;

	if (vn >= 1 && (v[0] == '>' || v[0] == '<')) {
		size_t op = vn >= 2 && v[1] == '=' ? 2 : 1;
		if (!bound(ps, rf, v + op, vn - op, &a, &b))
			return bad_bound(ps, field, rf, at + op, v + op, vn - op);
		if (v[0] == '>') {
			if (op == 2)
				lo = a;
			else if (b == INT64_MAX)
				lo = 1, hi = 0;
			else
				lo = b + 1;
		} else {
			if (op == 2)
				hi = b;
			else if (a == INT64_MIN)
				lo = 1, hi = 0;
			else
				hi = a - 1;
		}
	} else {
		for (k = 0; k + 1 < vn; k++)
			if (v[k] == '.' && v[k + 1] == '.')
				break;
		if (k + 1 < vn) {
			if (!(k == 1 && v[0] == '*')) {
				if (!bound(ps, rf, v, k, &a, &b))
					return bad_bound(ps, field, rf, at, v, k);
				lo = a;
			}
			const char *w = v + k + 2;
			size_t wn = vn - k - 2;
			if (!(wn == 1 && w[0] == '*')) {
				if (!bound(ps, rf, w, wn, &a, &b))
					return bad_bound(ps, field, rf, at + k + 2, w, wn);
				hi = b;
			}
		} else if (!bound(ps, rf, v, vn, &lo, &hi)) {
			return bad_bound(ps, field, rf, at, v, vn);
		}
	}
	if (rf == QR_SEQ && lo < 0)
		lo = 0;                 /* seq is never negative: "seq:<=5" is 0..5 */
	if (lo > hi)
		lo = 1, hi = 0;         /* the one empty range (invariant 4) */
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

/* ---- terms ------------------------------------------------------------ */

static bool is_range_field(const char *f, size_t n, enum q_range_field *rf)
{
	if (n == 4 && !memcmp(f, "time", 4))
		*rf = QR_TIME;
	else if (n == 8 && !memcmp(f, "received", 8))
		*rf = QR_RECEIVED;
	else if (n == 3 && !memcmp(f, "seq", 3))
		*rf = QR_SEQ;
	else
		return false;
	return true;
}

/* field:value with the field at fi..fj (s[fj] == ':'). */
static int field_term(struct parser *ps, size_t fi, size_t fj, struct qnode **ret)
{
	const char *f = ps->s + fi;
	size_t flen = fj - fi, vi = fj + 1, vj;
	char fname[64], fb[64];
	enum q_range_field rf;
	struct qnode *nd;
	char *val;
	size_t vlen;
	int r;

	if (flen > JW_PATH_MAX)
		return perr(ps, ST_ELIMIT, fi, "a field name is %zu bytes, more than the limit of %d",
			    flen, JW_PATH_MAX);
	quote(fname, f, flen);
	fname[strlen(fname) - 1] = 0;   /* 'name' -> 'name, completed by the format */
	if (vi >= ps->n || is_ws(ps->s[vi]) || ps->s[vi] == ')')
		return perr(ps, ST_EINVAL, vi, "expected a value after %s:', found %s",
			    fname, found(ps, vi, fb));

	if (flen == 3 && !memcmp(f, "has", 3)) {
		for (vj = vi; vj < ps->n && is_field_byte(ps->s[vj]); vj++)
			;
		if (vj == vi || !(vj >= ps->n || is_ws(ps->s[vj]) || ps->s[vj] == ')'))
			return perr(ps, ST_EINVAL, vi, "expected a field name after 'has:', found %s",
				    found(ps, vi, fb));
		if (vj - vi > JW_PATH_MAX)
			return perr(ps, ST_ELIMIT, vi, "a field name is %zu bytes, more than the limit of %d",
				    vj - vi, JW_PATH_MAX);
		if ((r = new_node(ps, Q_TERM, fi, &nd)) < 0)
			return r;
		nd->term = QT_HAS;
		if (!(nd->field = astrdup(ps->q, ps->s + vi, vj - vi)))
			return -ENOMEM;
		nd->field_len = vj - vi;
		ps->i = vj;
		*ret = nd;
		return 0;
	}

	if ((r = new_node(ps, Q_TERM, fi, &nd)) < 0)
		return r;
	if (!(nd->field = astrdup(ps->q, f, flen)))
		return -ENOMEM;
	nd->field_len = flen;
	*ret = nd;

	if (ps->s[vi] == '"') {
		ps->i = vi;
		if ((r = quoted(ps, &val, &vlen)) < 0)
			return r;
		if (is_range_field(f, flen, &rf)) {
			nd->term = QT_RANGE;
			nd->rfield = rf;
			return range(ps, fname + 1, rf, val, vlen, vi + 1, &nd->lo, &nd->hi);
		}
		nd->term = QT_FIELD_EQ;
		nd->value = val;
		nd->value_len = vlen;
		return 0;
	}

	for (vj = vi; vj < ps->n && !is_ws(ps->s[vj]) && ps->s[vj] != ')'; vj++)
		;
	ps->i = vj;
	const char *v = ps->s + vi;
	size_t vn = vj - vi;
	if (vn == 1 && v[0] == '*') {
		nd->term = QT_HAS;
		return 0;
	}
	if (is_range_field(f, flen, &rf)) {
		nd->term = QT_RANGE;
		nd->rfield = rf;
		return range(ps, fname + 1, rf, v, vn, vi, &nd->lo, &nd->hi);
	}
	if (v[0] == '>' || v[0] == '<')
		return perr(ps, ST_EINVAL, vi,
			    "range comparisons are supported on time, received and seq, not on %s'",
			    fname);

	/* Unescape: "\*" is a literal star, "\\" a backslash; lit gets the
	 * literal bytes, pat the escaped pattern (query.h). */
	char *lit = aalloc(ps->q, vn + 1), *pat = aalloc(ps->q, 2 * vn + 1);
	size_t nl = 0, np = 0, nwild = 0;
	bool last_wild = false;
	if (!lit || !pat)
		return -ENOMEM;
	for (size_t j = 0; j < vn; j++) {
		char c = v[j];
		last_wild = false;
		if (c == '\\' && j + 1 < vn && (v[j + 1] == '*' || v[j + 1] == '\\')) {
			c = v[++j];
		} else if (c == '*') {
			pat[np++] = '*';
			nwild++;
			last_wild = true;
			continue;
		}
		lit[nl++] = c;
		if (c == '*' || c == '\\')
			pat[np++] = '\\';
		pat[np++] = c;
	}
	lit[nl] = pat[np] = 0;
	if (nl > QUERY_MAX_VALUE)
		return perr(ps, ST_ELIMIT, vi, "a value is %zu bytes, more than the limit of %d",
			    nl, QUERY_MAX_VALUE);
	if (nwild == 0 || (nwild == 1 && last_wild)) {
		nd->term = nwild ? QT_FIELD_PREFIX : QT_FIELD_EQ;
		nd->value = lit;
		nd->value_len = nl;
	} else {
		nd->term = QT_FIELD_GLOB;
		nd->value = pat;
		nd->value_len = np;
	}
	return 0;
}

/* ---- the grammar ------------------------------------------------------ */

struct kidvec {
	struct qnode **v;
	size_t n, cap;
};

static int kid_add(struct kidvec *kv, struct qnode *nd, enum q_op op)
{
	size_t add = nd->op == op ? nd->nkids : 1;
	if (kv->n + add > kv->cap) {
		size_t cap = kv->cap ? kv->cap * 2 : 8;
		while (cap < kv->n + add)
			cap *= 2;
		struct qnode **v = realloc(kv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		kv->v = v;
		kv->cap = cap;
	}
	if (nd->op == op) {          /* flatten (invariant 1) */
		memcpy(kv->v + kv->n, nd->kids, add * sizeof(*nd->kids));
		kv->n += add;
	} else {
		kv->v[kv->n++] = nd;
	}
	return 0;
}

/* The node for kv: its only kid, or a new op node owning a copy. */
static int kid_finish(struct parser *ps, struct kidvec *kv, enum q_op op,
		      struct qnode **ret)
{
	struct qnode *nd;
	int r;

	if (kv->n == 1) {
		*ret = kv->v[0];
		return 0;
	}
	if ((r = new_node(ps, op, kv->v[0]->column - 1, &nd)) < 0)
		return r;
	if (!(nd->kids = aalloc(ps->q, kv->n * sizeof(*nd->kids))))
		return -ENOMEM;
	memcpy(nd->kids, kv->v, kv->n * sizeof(*nd->kids));
	nd->nkids = kv->n;
	*ret = nd;
	return 0;
}

static int parse_or(struct parser *ps, const char *after, struct qnode **ret);

static int enter(struct parser *ps, size_t at)
{
	if (++ps->depth > QUERY_MAX_DEPTH)
		return perr(ps, ST_ELIMIT, at, "nesting of parentheses and NOT is deeper than the limit of %d",
			    QUERY_MAX_DEPTH);
	return 0;
}

static int parse_primary(struct parser *ps, const char *after, struct qnode **ret)
{
	char fb[64];
	size_t at = ps->i;
	int r;

	if (at >= ps->n || ps->s[at] == ')' || keyword_at(ps, at) != KW_NONE) {
		if (!after && at < ps->n && ps->s[at] == ')')
			return perr(ps, ST_EINVAL, at, "unexpected ')'");
		if (after)
			return perr(ps, ST_EINVAL, at, "expected a term after '%s', found %s",
				    after, found(ps, at, fb));
		return perr(ps, ST_EINVAL, at, "expected a term, found %s", found(ps, at, fb));
	}
	if (ps->s[at] == '(') {
		ps->i++;
		if ((r = enter(ps, at)) < 0 || (r = parse_or(ps, "(", ret)) < 0)
			return r;
		ps->depth--;
		skip_ws(ps);
		if (ps->i >= ps->n || ps->s[ps->i] != ')')
			return perr(ps, ST_EINVAL, ps->i,
				    "expected ')' to close the '(' at column %zu, found %s",
				    at + 1, found(ps, ps->i, fb));
		ps->i++;
		return 0;
	}
	if (ps->s[at] == '"') {
		char *text;
		size_t tn;
		if ((r = quoted(ps, &text, &tn)) < 0)
			return r;
		return text_term(ps, text, tn, false, at, ps->i, ret);
	}

	size_t j = at;
	while (j < ps->n && is_field_byte(ps->s[j]))
		j++;
	if (j > at && j < ps->n && ps->s[j] == ':')
		return field_term(ps, at, j, ret);

	/* A bare word runs to whitespace or ')'. */
	for (j = at; j < ps->n && !is_ws(ps->s[j]) && ps->s[j] != ')'; j++)
		;
	ps->i = j;
	bool prefix = j - at >= 2 && ps->s[j - 1] == '*' &&
		      (is_alnum(ps->s[j - 2]) || (unsigned char)ps->s[j - 2] >= 0x80);
	if (j - at >= 1 && ps->s[j - 1] == '*' && !prefix && j - at > 1)
		prefix = true;   /* "a.b*", "x**": refused by text_term unless one word */
	return text_term(ps, ps->s + at, j - at - (prefix ? 1 : 0), prefix, at, j, ret);
}

/* '-' negates when a term follows it directly. */
static bool negation_at(const struct parser *ps, size_t i)
{
	if (i + 1 >= ps->n || ps->s[i] != '-')
		return false;
	char c = ps->s[i + 1];
	return c == '(' || c == '"' || c == '_' || is_alnum(c) || (unsigned char)c >= 0x80;
}

static int parse_unary(struct parser *ps, const char *after, struct qnode **ret)
{
	size_t at;
	const char *what;
	struct qnode *kid, *nd;
	int r;

	skip_ws(ps);
	at = ps->i;
	if (keyword_at(ps, at) == KW_NOT) {
		ps->i += 3;
		what = "NOT";
	} else if (negation_at(ps, at)) {
		ps->i += 1;
		what = "-";
	} else {
		return parse_primary(ps, after, ret);
	}
	if ((r = enter(ps, at)) < 0 || (r = parse_unary(ps, what, &kid)) < 0)
		return r;
	ps->depth--;
	if ((r = new_node(ps, Q_NOT, at, &nd)) < 0)
		return r;
	if (!(nd->kids = aalloc(ps->q, sizeof(*nd->kids))))
		return -ENOMEM;
	nd->kids[0] = kid;
	nd->nkids = 1;
	*ret = nd;
	return 0;
}

static int parse_and(struct parser *ps, const char *after, struct qnode **ret)
{
	struct kidvec kv = { NULL, 0, 0 };
	struct qnode *nd;
	int r;

	if ((r = parse_unary(ps, after, &nd)) < 0 || (r = kid_add(&kv, nd, Q_AND)) < 0)
		goto out;
	for (;;) {
		skip_ws(ps);
		if (ps->i >= ps->n || ps->s[ps->i] == ')' || keyword_at(ps, ps->i) == KW_OR)
			break;
		const char *what = NULL;
		if (keyword_at(ps, ps->i) == KW_AND) {
			ps->i += 3;
			what = "AND";
		}
		if ((r = parse_unary(ps, what, &nd)) < 0 || (r = kid_add(&kv, nd, Q_AND)) < 0)
			goto out;
	}
	r = kid_finish(ps, &kv, Q_AND, ret);
out:
	free(kv.v);
	return r;
}

static int parse_or(struct parser *ps, const char *after, struct qnode **ret)
{
	struct kidvec kv = { NULL, 0, 0 };
	struct qnode *nd;
	int r;

	if ((r = parse_and(ps, after, &nd)) < 0 || (r = kid_add(&kv, nd, Q_OR)) < 0)
		goto out;
	for (;;) {
		skip_ws(ps);
		if (keyword_at(ps, ps->i) != KW_OR)
			break;
		ps->i += 2;
		if ((r = parse_and(ps, "OR", &nd)) < 0 || (r = kid_add(&kv, nd, Q_OR)) < 0)
			goto out;
	}
	r = kid_finish(ps, &kv, Q_OR, ret);
out:
	free(kv.v);
	return r;
}

static void collect_terms(struct query *q, struct qnode *nd)
{
	if (nd->op == Q_TERM) {
		q->terms[q->nterms++] = nd;
		return;
	}
	for (size_t k = 0; k < nd->nkids; k++)
		collect_terms(q, nd->kids[k]);
}

int query_parse(const char *s, size_t n, int64_t now_ns, struct query **ret,
		struct query_error *err)
{
	struct parser ps = { s, n, 0, now_ns, NULL, err, 0, 0 };
	struct query *q;
	int r;

	if (n > QUERY_MAX_LEN)
		return perr(&ps, ST_ELIMIT, QUERY_MAX_LEN,
			    "the query is %zu bytes, more than the limit of %d", n, QUERY_MAX_LEN);
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	ps.q = q;
	skip_ws(&ps);
	if (ps.i < n) {
		if ((r = parse_or(&ps, NULL, &q->root)) < 0)
			goto fail;
		skip_ws(&ps);
		if (ps.i < n) {
			/* parse_or stops only at the end or at a ')' */
			r = perr(&ps, ST_EINVAL, ps.i, "unexpected ')'");
			goto fail;
		}
		if (!(q->terms = aalloc(q, ps.nodes * sizeof(*q->terms)))) {
			r = -ENOMEM;
			goto fail;
		}
		collect_terms(q, q->root);
	}
	*ret = q;
	return 0;
fail:
	query_free(q);
	return r;
}

/* ---- format ------------------------------------------------------------ */

static bool needs_quotes(const char *v, size_t n)
{
	if (n == 0 || v[0] == '>' || v[0] == '<' || v[0] == '"')
		return true;
	for (size_t j = 0; j < n; j++)
		if (is_ws(v[j]) || v[j] == ')' || v[j] == '"' || v[j] == '\\' || v[j] == '*')
			return true;
	return false;
}

static int put_quoted(struct buf *out, const char *v, size_t n)
{
	int r = buf_putc(out, '"');
	for (size_t j = 0; j < n && r == 0; j++) {
		if (v[j] == '"' || v[j] == '\\')
			r = buf_putc(out, '\\');
		if (r == 0)
			r = buf_putc(out, (uint8_t)v[j]);
	}
	return r ? r : buf_putc(out, '"');
}

/* RFC 3339 with nanoseconds: "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ". */
static int put_time(struct buf *out, int64_t ns)
{
	char t[RFC3339_US_LEN + 1];
	int64_t sub = ns % 1000;
	if (sub < 0)
		sub += 1000;
	rfc3339_format_us(ns - sub, t);
	return buf_printf(out, "%.*s%03dZ", RFC3339_US_LEN - 1, t, (int)sub);
}

static int put_bound(struct buf *out, enum q_range_field rf, int64_t v, bool open)
{
	if (open)
		return buf_putc(out, '*');
	if (rf == QR_SEQ)
		return buf_printf(out, "%lld", (long long)v);
	return put_time(out, v);
}

static int format_term(const struct qnode *nd, struct buf *out)
{
	static const char *rnames[] = { "time", "received", "seq" };
	int r;

	switch (nd->term) {
	case QT_WORD:
		return buf_append(out, nd->value, nd->value_len);
	case QT_WORD_PREFIX:
		if ((r = buf_append(out, nd->value, nd->value_len)) < 0)
			return r;
		return buf_putc(out, '*');
	case QT_PHRASE:
		r = buf_putc(out, '"');
		for (size_t k = 0; k < nd->ntokens && r == 0; k++) {
			if (k)
				r = buf_putc(out, ' ');
			if (r == 0)
				r = buf_puts(out, nd->tokens[k]);
		}
		return r ? r : buf_putc(out, '"');
	case QT_HAS:
		if ((r = buf_puts(out, "has:")) < 0)
			return r;
		return buf_append(out, nd->field, nd->field_len);
	case QT_RANGE:
		if ((r = buf_printf(out, "%s:", rnames[nd->rfield])) < 0 ||
		    (r = put_bound(out, nd->rfield, nd->lo,
				   nd->lo == INT64_MIN || (nd->rfield == QR_SEQ && nd->lo == 0))) < 0 ||
		    (r = buf_puts(out, "..")) < 0)
			return r;
		return put_bound(out, nd->rfield, nd->hi, nd->hi == INT64_MAX);
	default:
		break;
	}
	if ((r = buf_append(out, nd->field, nd->field_len)) < 0 || (r = buf_putc(out, ':')) < 0)
		return r;
	if (nd->term == QT_FIELD_GLOB)
		return buf_append(out, nd->value, nd->value_len);
	if (nd->term == QT_FIELD_EQ) {
		if (needs_quotes(nd->value, nd->value_len))
			return put_quoted(out, nd->value, nd->value_len);
		return buf_append(out, nd->value, nd->value_len);
	}
	/* QT_FIELD_PREFIX: unquoted, stars and backslashes escaped. */
	for (size_t j = 0; j < nd->value_len; j++) {
		char c = nd->value[j];
		if ((c == '*' || c == '\\') && (r = buf_putc(out, '\\')) < 0)
			return r;
		if ((r = buf_putc(out, (uint8_t)c)) < 0)
			return r;
	}
	return buf_putc(out, '*');
}

static int format_node(const struct qnode *nd, struct buf *out, enum q_op parent)
{
	int r = 0;

	switch (nd->op) {
	case Q_TERM:
		return format_term(nd, out);
	case Q_NOT:
		if ((r = buf_puts(out, "NOT ")) < 0)
			return r;
		return format_node(nd->kids[0], out, Q_NOT);
	case Q_AND:
	case Q_OR: {
		/* Invariant 3: parentheses only where precedence needs them. */
		bool paren = parent == Q_NOT || (parent == Q_AND && nd->op == Q_OR);
		if (paren && (r = buf_putc(out, '(')) < 0)
			return r;
		for (size_t k = 0; k < nd->nkids; k++) {
			if (k && (r = buf_puts(out, nd->op == Q_AND ? " AND " : " OR ")) < 0)
				return r;
			if ((r = format_node(nd->kids[k], out, nd->op)) < 0)
				return r;
		}
		return paren ? buf_putc(out, ')') : 0;
	}
	}
	return 0;
}

int query_format(const struct query *q, struct buf *out)
{
	if (!q || !q->root)
		return 0;
	return format_node(q->root, out, Q_TERM);
}

/* ---- glob -------------------------------------------------------------- */

bool query_glob_match(const struct qnode *n, const char *s, size_t len)
{
	const char *p = n->value;
	size_t pn = n->value_len, pi = 0, si = 0, star_p = 0, star_s = 0;
	bool star = false;

	/* Greedy with one backtrack point: on a mismatch the last '*' takes
	 * one more byte. O(len * pn) at worst, no recursion. */
	while (si < len) {
		if (pi < pn && p[pi] == '*') {
			star = true;
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < pn) {
			size_t step = 1;
			char c = p[pi];
			if (c == '\\' && pi + 1 < pn) {
				c = p[pi + 1];
				step = 2;
			}
			if (c == s[si]) {
				pi += step;
				si++;
				continue;
			}
		}
		if (!star)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

size_t query_glob_literal_prefix(const struct qnode *n)
{
	size_t k = 0;
	while (k < n->value_len && n->value[k] != '*' && n->value[k] != '\\')
		k++;
	return k;
}

/* ---- match ------------------------------------------------------------- */

struct mctx {
	const struct query *q;
	bool hit[QUERY_MAX_NODES];
	uint64_t ph[QUERY_MAX_NODES];   /* phrase shift-and state, per string */
	bool text;                       /* some term is WORD/WORD_PREFIX/PHRASE */
};

static bool is_text_term(enum q_term t)
{
	return t == QT_WORD || t == QT_WORD_PREFIX || t == QT_PHRASE;
}

static int match_tok(void *ctx, const char *tok, size_t len, uint32_t pos)
{
	struct mctx *m = ctx;
	(void)pos;

	for (size_t k = 0; k < m->q->nterms; k++) {
		const struct qnode *nd = m->q->terms[k];
		if (m->hit[k] || !is_text_term(nd->term))
			continue;
		if (nd->term == QT_WORD) {
			m->hit[k] = len == nd->value_len && !memcmp(tok, nd->value, len);
		} else if (nd->term == QT_WORD_PREFIX) {
			m->hit[k] = len >= nd->value_len && !memcmp(tok, nd->value, nd->value_len);
		} else {
			/* Bit t of ph: tokens[0..t] match ending at this token. */
			uint64_t eq = 0;
			for (size_t t = 0; t < nd->ntokens; t++)
				if (strlen(nd->tokens[t]) == len && !memcmp(nd->tokens[t], tok, len))
					eq |= 1ull << t;
			m->ph[k] = ((m->ph[k] << 1) | 1) & eq;
			m->hit[k] = (m->ph[k] >> (nd->ntokens - 1)) & 1;
		}
	}
	return 0;
}

static bool scalar(enum jw_type t)
{
	return t != JW_OBJECT && t != JW_ARRAY;
}

static int match_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct mctx *m = ctx;
	int have_num = 0;   /* 0 not tried, 1 parsed, -1 not a number/time */
	int64_t num = 0;

	for (size_t k = 0; k < m->q->nterms; k++) {
		const struct qnode *nd = m->q->terms[k];
		if (m->hit[k] || is_text_term(nd->term))
			continue;
		if (nd->term == QT_RANGE) {
			static const char *names[] = { "time", "received_at", "seq" };
			const char *want = names[nd->rfield];
			if (lf->depth != 1 || lf->path_len != strlen(want) ||
			    memcmp(lf->path, want, lf->path_len) != 0)
				continue;
			if (!have_num) {
				uint64_t u;
				have_num = -1;
				if (nd->rfield == QR_SEQ) {
					if (lf->type == JW_NUMBER && st_parse_u64(lf->val, lf->val_len, &u) &&
					    u <= (uint64_t)INT64_MAX) {
						num = (int64_t)u;
						have_num = 1;
					}
				} else if (lf->type == JW_STRING &&
					   rfc3339_parse(lf->val, lf->val_len, &num)) {
					have_num = 1;
				}
			}
			m->hit[k] = have_num == 1 && num >= nd->lo && num <= nd->hi;
			continue;
		}
		if (lf->path_len != nd->field_len || memcmp(lf->path, nd->field, lf->path_len) != 0)
			continue;
		switch (nd->term) {
		case QT_HAS:
			m->hit[k] = true;
			break;
		case QT_FIELD_EQ:
			m->hit[k] = scalar(lf->type) && lf->val_len == nd->value_len &&
				    !memcmp(lf->val, nd->value, lf->val_len);
			break;
		case QT_FIELD_PREFIX:
			m->hit[k] = scalar(lf->type) && lf->val_len >= nd->value_len &&
				    !memcmp(lf->val, nd->value, nd->value_len);
			break;
		case QT_FIELD_GLOB:
			m->hit[k] = scalar(lf->type) && query_glob_match(nd, lf->val, lf->val_len);
			break;
		default:
			break;
		}
	}
	if (m->text && lf->type == JW_STRING && jw_text_path(lf->path, lf->path_len)) {
		memset(m->ph, 0, m->q->nterms * sizeof(m->ph[0]));
		jw_tokens(lf->val, lf->val_len, match_tok, m);
	}
	return 0;
}

/* Visits the terms in the order collect_terms() listed them (invariant 2),
 * so no short cut: every kid is evaluated. */
static bool eval(const struct qnode *nd, const bool *hit, size_t *k)
{
	bool r;

	switch (nd->op) {
	case Q_TERM:
		return hit[(*k)++];
	case Q_NOT:
		return !eval(nd->kids[0], hit, k);
	case Q_AND:
		r = true;
		for (size_t j = 0; j < nd->nkids; j++)
			r = eval(nd->kids[j], hit, k) && r;
		return r;
	case Q_OR:
		r = false;
		for (size_t j = 0; j < nd->nkids; j++)
			r = eval(nd->kids[j], hit, k) || r;
		return r;
	}
	return false;
}

bool query_match(const struct query *q, const uint8_t *entry, size_t len)
{
	static const struct query empty;
	struct mctx m;
	size_t k = 0;

	if (!q)
		q = &empty;
	m.q = q;
	m.text = false;
	memset(m.hit, 0, q->nterms * sizeof(m.hit[0]));
	for (size_t j = 0; j < q->nterms; j++)
		m.text |= is_text_term(q->terms[j]->term);
	if (jwalk(entry, len, match_leaf, &m) != 0)
		return false;
	return !q->root || eval(q->root, m.hit, &k);
}
