/*
 * detect.c - the PII and secret detectors of detect.h; the rules and the
 * reasons for them are in docs/DETECTORS.md, which this file follows.
 *
 * Shape: detect_scan() walks the value once. Bytes that cannot start
 * anything an enabled detector looks for are skipped by one table lookup
 * each; the others are trigger bytes:
 *   - the first byte of an ASCII word (letters and digits): numbers
 *     (card, SSN, phone), JWT, AWS key id, IBAN, "Bearer" and
 *     "Authorization", and the base64 runs of the generic secret rule;
 *   - '@' (email, whose local part is found by looking back), ':' and
 *     '=' (URL passwords, key=value secrets, both looking back at most at
 *     the key), '-' (PEM), '+' and '(' (phone).
 * A handler either reports a hit and the walk resumes at its end, or
 * tells the walk where to resume (never before where it stood).
 * classify() narrows the triggers with the bytes around them (a word
 * starting "ey", "be", "au", "A" + upper, or upper-upper-digit-digit; a
 * number of 3+ digits or "1-"), so that ordinary words never stop the
 * walk; a trigger is dropped only when its handler would find nothing
 * and change nothing. tests/unit/policy/test_detect.c checks the result
 * hit for hit against a frozen copy of the unnarrowed scanner.
 *
 * Invariants:
 *   1. Every read of v[x] is preceded by a check x < n (or x >= the
 *      scan's lower bound when looking back); nothing reads outside
 *      v[0..n).
 *   2. Hits are emitted in increasing offset order and never overlap:
 *      every hit starts at or after last_end (handlers that look back
 *      stop at last_end) and emit() raises last_end to the hit's end.
 *   3. The walk index only grows. Looking back is bounded (64 bytes for
 *      an email local part, 32 for the SSN keyword, the key of a
 *      key=value pair; a base64 run's start is looked back for once per
 *      run, guarded by b64_end), so a scan is linear in n.
 *   4. No allocation, no global mutable state: the only shared data are
 *      static const tables.
 */
#include "policy/detect.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/util.h"

/* ------------------------------------------------------------ classes */

#define C_DIGIT 0x001   /* 0-9 */
#define C_UPPER 0x002   /* A-Z */
#define C_LOWER 0x004   /* a-z */
#define C_B64P  0x008   /* + / _ - : base64 and base64url punctuation */
#define C_HI    0x010   /* bytes >= 0x80: parts of UTF-8 sequences */
#define C_AT    0x020   /* @ : email */
#define C_SEP   0x040   /* : = : URL password, key=value secrets */
#define C_DASH  0x080   /* - : PEM */
#define C_PHONE 0x100   /* + ( : phone */
#define C_ALNUM (C_DIGIT | C_UPPER | C_LOWER)
#define C_B64   (C_ALNUM | C_B64P)

#define D  C_DIGIT
#define U  C_UPPER
#define L  C_LOWER
#define P  C_B64P
#define H  C_HI
#define H8 H, H, H, H, H, H, H, H
static const uint16_t cls[256] = {
	/* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* ' ' ! " # $ % & ' ( ) * + , - . / */
	0, 0, 0, 0, 0, 0, 0, 0, C_PHONE, 0, 0, P | C_PHONE, 0, P | C_DASH, 0, P,
	/* 0-9 : ; < = > ? */
	D, D, D, D, D, D, D, D, D, D, C_SEP, 0, 0, C_SEP, 0, 0,
	/* @ A-O */
	C_AT, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
	/* P-Z [ \ ] ^ _ */
	U, U, U, U, U, U, U, U, U, U, U, 0, 0, 0, 0, P,
	/* ` a-o */
	0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
	/* p-z { | } ~ DEL */
	L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,
	H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8, H8,
};
#undef D
#undef U
#undef L
#undef P
#undef H
#undef H8

static inline bool is_digit(uint8_t c) { return (unsigned)(c - '0') < 10u; }
static inline bool is_upper(uint8_t c) { return (unsigned)(c - 'A') < 26u; }
static inline bool is_alpha(uint8_t c) { return (unsigned)((c | 0x20) - 'a') < 26u; }
static inline bool is_alnum(uint8_t c) { return (cls[c] & C_ALNUM) != 0; }
static inline bool is_b64url(uint8_t c) { return is_alnum(c) || c == '-' || c == '_'; }
static inline uint8_t lower(uint8_t c) { return is_upper(c) ? (uint8_t)(c | 0x20) : c; }

/* Case-insensitive compare of v[0..n) with the lower-case ASCII word w. */
static bool eq_ci(const uint8_t *v, const char *w, size_t n)
{
	for (size_t x = 0; x < n; x++)
		if (lower(v[x]) != (uint8_t)w[x])
			return false;
	return true;
}

/*
 * Unicode punctuation and spaces. Bytes >= 0x80 are word characters (so
 * "é" glued to an email keeps it from matching, and invalid UTF-8 is
 * harmless), except these well-formed characters, which separate words
 * like ASCII punctuation does: NBSP ¡ § « ¶ · » ¿ (U+00A0..U+00BF
 * selection), the General Punctuation block U+2000-U+206F (spaces,
 * dashes, quotes, …), the CJK space, 、 。 and brackets U+3000-U+3002,
 * U+3008-U+3011, the BOM, and the full-width ASCII punctuation of
 * U+FF01-U+FF0F, U+FF1A-U+FF20, U+FF3B-U+FF40, U+FF5B-U+FF65.
 * Full-width digits (U+FF10-U+FF19) and letters stay word characters.
 */
static size_t upunct_len(const uint8_t *v, size_t n, size_t i)
{
	uint8_t a = v[i], b, c;
	if (a == 0xC2) {
		if (i + 1 >= n)
			return 0;
		b = v[i + 1];
		return (b == 0xA0 || b == 0xA1 || b == 0xA7 || b == 0xAB || b == 0xB6 ||
			b == 0xB7 || b == 0xBB || b == 0xBF) ? 2 : 0;
	}
	if ((a != 0xE2 && a != 0xE3 && a != 0xEF) || i + 2 >= n)
		return 0;
	b = v[i + 1];
	c = v[i + 2];
	if ((c & 0xC0) != 0x80)
		return 0;
	switch (a) {
	case 0xE2:
		return (b == 0x80 || (b == 0x81 && c <= 0xAF)) ? 3 : 0;
	case 0xE3:
		return (b == 0x80 && (c <= 0x82 || (c >= 0x88 && c <= 0x91))) ? 3 : 0;
	default: /* 0xEF */
		if (b == 0xBB)
			return c == 0xBF ? 3 : 0;
		if (b == 0xBC)
			return ((c >= 0x81 && c <= 0x8F) || (c >= 0x9A && c <= 0xA0) || c >= 0xBB) ? 3 : 0;
		if (b == 0xBD)
			return (c == 0x80 || (c >= 0x9B && c <= 0xA5)) ? 3 : 0;
		return 0;
	}
}

/* Whether a listed Unicode punctuation character ends exactly at v[i]. */
static bool upunct_ends_at(const uint8_t *v, size_t i)
{
	return (i >= 2 && upunct_len(v, i, i - 2) == 2) ||
	       (i >= 3 && upunct_len(v, i, i - 3) == 3);
}

/* Whether the byte before v[i] belongs to a word (letter, digit, or a
 * non-ASCII character that is not listed punctuation). */
static bool word_before(const uint8_t *v, size_t i)
{
	if (i == 0)
		return false;
	uint8_t c = v[i - 1];
	return is_alnum(c) || (c >= 0x80 && !upunct_ends_at(v, i));
}

/* Whether v[i] starts a word character (false at the end). */
static bool word_at(const uint8_t *v, size_t n, size_t i)
{
	if (i >= n)
		return false;
	uint8_t c = v[i];
	return is_alnum(c) || (c >= 0x80 && !upunct_len(v, n, i));
}

/* ------------------------------------------------------------ the scan */

struct scan {
	const uint8_t *v;
	size_t n;
	uint32_t en;            /* enabled detectors (DET_BIT) */
	struct det_hit *hits;
	size_t cap, count;
	size_t last_end;        /* end of the last hit; 0 before the first */
	size_t b64_end;         /* base64 runs before this were measured */
	/* The 64-byte block v[base, base+64) being walked: bit x of a mask
	 * is about v[base+x] (0 past n). */
	size_t base;
	uint64_t alnum;         /* ASCII letters and digits */
	uint64_t digit, upper, lower;
	uint64_t b64;           /* letters, digits, + / _ - */
	uint64_t long_runs;     /* starts of base64 runs of >= 32 bytes */
	uint64_t todo;          /* trigger bytes (see classify) */
};

#define EN(s, d) (((s)->en & DET_BIT(d)) != 0)

/* Records v[off, end) as found by d and returns end (where the walk
 * resumes). Callers guarantee last_end <= off < end (invariant 2). */
static size_t emit(struct scan *s, size_t off, size_t end, enum detector d)
{
	if (s->count < s->cap) {
		s->hits[s->count].off = (uint32_t)off;
		s->hits[s->count].len = (uint32_t)(end - off);
		s->hits[s->count].det = (uint8_t)d;
	}
	s->count++;
	s->last_end = end;
	return end;
}

/* ------------------------------------------------------------ numbers */

#define NS_MAXG 8

/* A run of digit groups: "4111 1111 1111 1111", "(555) 123-4567",
 * "+44 (0)20 7946 0958". Groups are separated by one space, '-' or '.',
 * or follow a parenthesized group directly. */
struct numseq {
	size_t gs[NS_MAXG], ge[NS_MAXG];  /* digits of group g: v[gs, ge) */
	size_t end[NS_MAXG];              /* end of group g, its ')' included */
	uint8_t sep[NS_MAXG];             /* byte between group g-1 and g; 0: none */
	bool paren[NS_MAXG];
	int ng;
	bool tail_ok;  /* the run ends where a word does not go on */
};

static void numseq_parse(const uint8_t *v, size_t n, size_t p, struct numseq *q)
{
	uint8_t sep = 0;
	bool broken = false;

	q->ng = 0;
	for (;;) {
		bool par = false;
		size_t x = p, gs;
		if (x < n && v[x] == '(') {
			par = true;
			x++;
		}
		gs = x;
		while (x < n && is_digit(v[x]) && x - gs < 20)
			x++;
		if (x == gs)
			break;
		if (x < n && is_digit(v[x])) {   /* more than 20 digits */
			broken = true;
			break;
		}
		if (par) {
			if (x >= n || v[x] != ')')
				break;
		}
		if (q->ng == NS_MAXG) {
			broken = true;
			break;
		}
		q->gs[q->ng] = gs;
		q->ge[q->ng] = x;
		q->end[q->ng] = par ? x + 1 : x;
		q->sep[q->ng] = sep;
		q->paren[q->ng] = par;
		q->ng++;
		p = par ? x + 1 : x;
		if (p + 1 < n && (v[p] == ' ' || v[p] == '-' || v[p] == '.') &&
		    (is_digit(v[p + 1]) || v[p + 1] == '(')) {
			sep = v[p];
			p++;
		} else if (par && p < n && is_digit(v[p])) {
			sep = 0;
		} else {
			break;
		}
	}
	q->tail_ok = q->ng > 0 && !broken && !word_at(v, n, q->end[q->ng - 1]);
}

/* Whether a number may end after group k: at the end of the run, or
 * before a space that separates it from more digits. */
static bool ns_end_ok(const struct numseq *q, int k)
{
	return k == q->ng - 1 ? q->tail_ok : q->sep[k + 1] == ' ';
}

static int ns_len(const struct numseq *q, int g)
{
	return (int)(q->ge[g] - q->gs[g]);
}

/* Whether the digits at d (four at least) start with an issuer prefix:
 * first digit 3, 4, 5 or 6, or 2221-2720 (Mastercard's 2-series). The
 * same rule as card_digits_ok, asked before a number is parsed. */
static bool issuer_ok(const uint8_t *d)
{
	if (d[0] == '2') {
		int p4 = (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
		return p4 >= 221 && p4 <= 720;
	}
	return d[0] >= '3' && d[0] <= '6';
}

/* Luhn over the digits of groups 0..k, and the issuer prefix: first
 * digit 3, 4, 5 or 6, or 2221-2720 (Mastercard's 2-series). */
static bool card_digits_ok(const uint8_t *v, const struct numseq *q, int k)
{
	uint8_t d[20];
	int nd = 0, sum = 0;
	for (int g = 0; g <= k; g++)
		for (size_t x = q->gs[g]; x < q->ge[g] && nd < 20; x++)
			d[nd++] = (uint8_t)(v[x] - '0');
	if (nd < 13 || nd > 19)
		return false;
	if (d[0] == 2) {
		int p4 = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3];
		if (p4 < 2221 || p4 > 2720)
			return false;
	} else if (d[0] < 3 || d[0] > 6) {
		return false;
	}
	for (int x = 0; x < nd; x++) {
		int y = d[nd - 1 - x];
		if (x & 1) {
			y *= 2;
			if (y > 9)
				y -= 9;
		}
		sum += y;
	}
	return sum % 10 == 0;
}

static size_t try_card(struct scan *s, size_t p0, const struct numseq *q)
{
	int len0 = ns_len(q, 0);
	if (q->paren[0])
		return 0;
	if (len0 >= 13 && len0 <= 19)
		return ns_end_ok(q, 0) && card_digits_ok(s->v, q, 0) ? emit(s, p0, q->ge[0], DET_CARD) : 0;
	if (len0 != 4 || q->ng < 3 || (q->sep[1] != ' ' && q->sep[1] != '-'))
		return 0;
	/* "DE89 3704 0044 0532 0130 00": the groups of an IBAN (whose
	 * checksum failed, or it would be reported) are not a card. */
	if (p0 >= 5 && s->v[p0 - 1] == ' ' && is_digit(s->v[p0 - 2]) && is_digit(s->v[p0 - 3]) &&
	    is_upper(s->v[p0 - 4]) && is_upper(s->v[p0 - 5]) && !word_before(s->v, p0 - 5))
		return 0;
	/* 4-4-4-4 with a last group of 1-3 (17-19 digits), 4-4-4 with a
	 * last group of 1-4 (13-16), then Amex 4-6-5 and Diners 4-6-4. */
	for (int k = q->ng - 1 < 4 ? q->ng - 1 : 4; k >= 2; k--) {
		bool ok = true;
		for (int g = 1; g <= k; g++)
			if (q->paren[g] || q->sep[g] != q->sep[1])
				ok = false;
		if (!ok || !ns_end_ok(q, k))
			continue;
		int last = ns_len(q, k);
		for (int g = 1; g < k; g++)
			if (ns_len(q, g) != 4)
				ok = false;
		if (k == 2 && !ok)
			ok = ns_len(q, 1) == 6 && (last == 4 || last == 5);
		else
			ok = ok && last >= 1 && last <= (k == 4 ? 3 : 4);
		if (ok && card_digits_ok(s->v, q, k))
			return emit(s, p0, q->ge[k], DET_CARD);
	}
	return 0;
}

/* SSA rules: area 000, 666 and 900-999, group 00 and serial 0000 are
 * never issued. a, g, sr point at 3, 2 and 4 digits. */
static bool ssn_ok(const uint8_t *a, const uint8_t *g, const uint8_t *sr)
{
	if ((a[0] == '0' && a[1] == '0' && a[2] == '0') ||
	    (a[0] == '6' && a[1] == '6' && a[2] == '6') || a[0] == '9')
		return false;
	if (g[0] == '0' && g[1] == '0')
		return false;
	return !(sr[0] == '0' && sr[1] == '0' && sr[2] == '0' && sr[3] == '0');
}

/* Whether "ssn" (as a word) or "social security" occurs in the 32 bytes
 * before v[i]: the context an undashed 9-digit SSN needs. */
static bool ssn_context(const struct scan *s, size_t i)
{
	size_t lo = i > 32 ? i - 32 : 0;
	for (size_t x = lo; x + 3 <= i; x++) {
		if (lower(s->v[x]) == 's' && eq_ci(s->v + x, "ssn", 3) &&
		    (x == 0 || !is_alpha(s->v[x - 1])) && (x + 3 == i || !is_alpha(s->v[x + 3])))
			return true;
		if (x + 15 <= i && eq_ci(s->v + x, "social security", 15))
			return true;
	}
	return false;
}

static size_t try_ssn(struct scan *s, size_t p0, const struct numseq *q)
{
	const uint8_t *v = s->v;
	if (q->paren[0])
		return 0;
	if (q->ng >= 3 && ns_len(q, 0) == 3 && ns_len(q, 1) == 2 && ns_len(q, 2) == 4 &&
	    q->sep[1] == '-' && q->sep[2] == '-' && ns_end_ok(q, 2) &&
	    ssn_ok(v + q->gs[0], v + q->gs[1], v + q->gs[2]))
		return emit(s, p0, q->ge[2], DET_SSN);
	if (ns_len(q, 0) == 9 && ns_end_ok(q, 0) &&
	    ssn_ok(v + q->gs[0], v + q->gs[0] + 3, v + q->gs[0] + 5) && ssn_context(s, p0))
		return emit(s, p0, q->ge[0], DET_SSN);
	return 0;
}

/* E.164: '+', then 8-15 digits in groups (a "(0)" trunk group is not
 * counted), the first not 0. The longest run that ends well wins. */
static size_t try_e164(struct scan *s, size_t p0, const struct numseq *q)
{
	int digits[NS_MAXG], total = 0;
	if (q->paren[0] || s->v[q->gs[0]] == '0')
		return 0;
	for (int g = 0; g < q->ng; g++) {
		bool trunk = q->paren[g] && ns_len(q, g) == 1 && s->v[q->gs[g]] == '0';
		total += trunk ? 0 : ns_len(q, g);
		digits[g] = total;
	}
	for (int k = q->ng - 1; k >= 0; k--)
		if (digits[k] >= 8 && digits[k] <= 15 && ns_end_ok(q, k))
			return emit(s, p0, q->end[k], DET_PHONE);
	return 0;
}

/* North American numbers: (NXX) XXX-XXXX, NXX-XXX-XXXX, NXX.XXX.XXXX,
 * NXX XXX XXXX, optionally after "1" and a separator; the area code's
 * first digit N is 2-9 (the exchange's is too in real numbers, but the
 * 555-123-4567 of examples and tests would then be missed). */
static size_t try_nanp(struct scan *s, size_t p0, const struct numseq *q)
{
	const uint8_t *v = s->v;
	int a = 0;
	if (q->ng >= 4 && !q->paren[0] && ns_len(q, 0) == 1 && v[q->gs[0]] == '1')
		a = 1;
	if (q->ng < a + 3 || ns_len(q, a) != 3 || ns_len(q, a + 1) != 3 || ns_len(q, a + 2) != 4 ||
	    q->paren[a + 1] || q->paren[a + 2] || !ns_end_ok(q, a + 2))
		return 0;
	if (v[q->gs[a]] < '2')
		return 0;
	uint8_t s1 = q->sep[a + 1], s2 = q->sep[a + 2];
	if (q->paren[a]) {
		if ((s1 != ' ' && s1 != 0) || (s2 != '-' && s2 != '.' && s2 != ' '))
			return 0;
	} else if (s1 != s2 || s1 == 0) {
		return 0;
	}
	return emit(s, p0, q->ge[a + 2], DET_PHONE);
}

/* Whether v[i] (a digit, '(' or '+') continues a number rather than
 * starting one: "03" in "2024-03-01", "1" in "10.0.0.1". */
static bool inside_number(const uint8_t *v, size_t i)
{
	return i >= 2 && (v[i - 1] == '-' || v[i - 1] == '.') && is_digit(v[i - 2]);
}

/* Card, SSN and phone numbers starting at v[p0] (a digit, or '(' or '+'
 * with a digit after). Returns the end of a hit, or 0. */
static size_t numeric(struct scan *s, size_t p0)
{
	const uint8_t *v = s->v;
	size_t n = s->n, r;
	struct numseq q;

	if (v[p0] == '+') {
		numseq_parse(v, n, p0 + 1, &q);
		return q.ng ? try_e164(s, p0, &q) : 0;
	}
	if (v[p0] != '(') {
		/* Cheap refusal of what cannot start a number of interest:
		 * a first group must be 1 ("1-800-..."), 3, 4, 9 (SSN) or
		 * 13-19 digits long, and only 9 and 13-19 stand alone. */
		size_t d = p0;
		while (d < n && is_digit(v[d]) && d - p0 < 20)
			d++;
		bool more = d + 1 < n && (v[d] == ' ' || v[d] == '-' || v[d] == '.') &&
			    (is_digit(v[d + 1]) || v[d + 1] == '(');
		size_t len = d - p0;
		if (!(len == 9 || (len >= 13 && len <= 19) ||
		      (more && (len == 3 || len == 4 || (len == 1 && v[p0] == '1')))))
			return 0;
		/* A first group of 4 or 13-19 digits can only be a card
		 * (try_ssn wants 3 or 9, try_nanp 1 or 3): its issuer prefix
		 * is checked before the groups are parsed, which refuses the
		 * years of dates and epoch timestamps. 9 digits can only be an
		 * SSN; 3 digits only an SSN (3-2-4) or a phone (3-3-4), so the
		 * second group must be 2 or 3 digits long (or parenthesized) -
		 * which refuses IP addresses and versions. */
		if (len == 4 || len >= 13) {
			if (!EN(s, DET_CARD) || !issuer_ok(v + p0))
				return 0;
		} else if (len == 9) {
			if (!EN(s, DET_SSN))
				return 0;
		} else if (len == 3 && v[d + 1] != '(') {
			size_t g = d + 1;
			while (g < n && is_digit(v[g]) && g - d < 5)
				g++;
			if (g - d - 1 != 2 && g - d - 1 != 3)
				return 0;
		}
	}
	numseq_parse(v, n, p0, &q);
	if (!q.ng)
		return 0;
	if (EN(s, DET_CARD) && (r = try_card(s, p0, &q)))
		return r;
	if (EN(s, DET_SSN) && (r = try_ssn(s, p0, &q)))
		return r;
	if (EN(s, DET_PHONE) && (r = try_nanp(s, p0, &q)))
		return r;
	return 0;
}

/* ------------------------------------------------------------ tokens */

/* End of a JWT (JWS compact: three base64url segments, header and
 * payload JSON objects, so both start with "ey"; or JWE: five segments,
 * header "eyJ") starting at v[i], or 0. */
static size_t jwt_end(const uint8_t *v, size_t n, size_t i)
{
	size_t st[6], len[6], p = i;
	int segs = 0;

	if (n - i < 3 || memcmp(v + i, "eyJ", 3) != 0)
		return 0;
	if (i > 0 && (is_b64url(v[i - 1]) || v[i - 1] == '.' || word_before(v, i)))
		return 0;
	for (;;) {
		st[segs] = p;
		while (p < n && is_b64url(v[p]))
			p++;
		len[segs] = p - st[segs];
		segs++;
		if (segs < 6 && p < n && v[p] == '.') {
			p++;
			continue;
		}
		break;
	}
	if (len[segs - 1] == 0 && (segs == 4 || segs == 6)) {
		segs--;         /* a full stop after the token */
		p--;
	}
	if (word_at(v, n, p) || len[0] < 10)
		return 0;
	if (segs == 3 && len[1] >= 2 && v[st[1]] == 'e' && v[st[1] + 1] == 'y')
		return p;
	if (segs == 5 && len[2] > 0 && len[3] > 0)
		return p;
	return 0;
}

/* End of a token68 (RFC 7235: letters, digits, - . _ ~ + / and then '='
 * padding) starting at v[t]; its length without padding must be >= 8. */
static size_t token68_end(const uint8_t *v, size_t n, size_t t)
{
	size_t p = t;
	while (p < n && (is_alnum(v[p]) || v[p] == '-' || v[p] == '.' || v[p] == '_' ||
			 v[p] == '~' || v[p] == '+' || v[p] == '/'))
		p++;
	if (p - t < 8)
		return 0;
	while (p < n && v[p] == '=' && p - t < 4096)
		p++;
	return p;
}

/* Credentials at v[t]: a JWT (reported as one when that detector is
 * on) or a token68, reported as DET_BEARER. */
static size_t credentials(struct scan *s, size_t t)
{
	size_t e;
	if (EN(s, DET_JWT) && (e = jwt_end(s->v, s->n, t)))
		return emit(s, t, e, DET_JWT);
	if ((e = token68_end(s->v, s->n, t)))
		return emit(s, t, e, DET_BEARER);
	return 0;
}

/* "Bearer" (any case) at v[i..i+6), then blanks and the token. */
static size_t try_bearer(struct scan *s, size_t i)
{
	const uint8_t *v = s->v;
	size_t p = i + 6;
	if (!eq_ci(v + i, "bearer", 6))
		return 0;
	while (p < s->n && (v[p] == ' ' || v[p] == '\t') && p - i < 10)
		p++;
	return p > i + 6 ? credentials(s, p) : 0;
}

/* "Authorization" (any case) at v[i..i+13), an optional quote, ':' or
 * '=', then credentials, after a scheme word ("Basic", "Bearer", ...)
 * when there is one. */
static size_t try_authorization(struct scan *s, size_t i)
{
	const uint8_t *v = s->v;
	size_t n = s->n, p = i + 13, w;
	if (!eq_ci(v + i, "authorization", 13))
		return 0;
	if (p < n && (v[p] == '"' || v[p] == '\''))
		p++;
	while (p < n && v[p] == ' ' && p - i < 20)
		p++;
	if (p >= n || (v[p] != ':' && v[p] != '='))
		return 0;
	p++;
	while (p < n && v[p] == ' ' && p - i < 30)
		p++;
	if (p < n && (v[p] == '"' || v[p] == '\''))
		p++;
	for (w = p; w < n && is_alpha(v[w]) && w - p < 32; w++)
		;
	if (w > p && w + 1 < n && v[w] == ' ' && v[w + 1] != ' ')
		p = w + 1;      /* scheme, then the credentials */
	return credentials(s, p);
}

/* AKIA... : a 20-byte word (already bounded) at v[i]. */
static size_t try_aws_key_id(struct scan *s, size_t i)
{
	static const char pfx[][5] = { "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA" };
	const uint8_t *v = s->v;
	size_t k;
	for (k = 0; k < ARRAY_SIZE(pfx); k++)
		if (memcmp(v + i, pfx[k], 4) == 0)
			break;
	if (k == ARRAY_SIZE(pfx))
		return 0;
	for (size_t x = i + 4; x < i + 20; x++)
		if (!is_upper(v[x]) && !(v[x] >= '2' && v[x] <= '7'))
			return 0;
	return emit(s, i, i + 20, DET_AWS_KEY_ID);
}

/* IBAN length by country (ISO 13616 registry), for the countries that
 * issue them most; 0 for any other pair of letters. */
static int iban_length(uint8_t a, uint8_t b)
{
	static const struct { char cc[3]; uint8_t len; } tab[] = {
		{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
		{"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21},
		{"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
		{"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
		{"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
		{"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
		{"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21},
		{"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22},
		{"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15},
		{"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24},
		{"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
		{"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
	};
	for (size_t k = 0; k < ARRAY_SIZE(tab); k++)
		if ((uint8_t)tab[k].cc[0] == a && (uint8_t)tab[k].cc[1] == b)
			return tab[k].len;
	return 0;
}

/* An IBAN at v[i] (upper-case letters, letters and digits after), the
 * word being v[i, e): unbroken, or printed in groups of four separated by
 * single spaces. mod-97 of the rearranged number must be 1. */
static size_t try_iban(struct scan *s, size_t i, size_t e)
{
	const uint8_t *v = s->v;
	size_t n = s->n, p;
	uint8_t c[34];
	int want = iban_length(v[i], v[i + 1]), got = 0;
	unsigned r = 0;

	if (!want)
		return 0;
	if (e - i == (size_t)want) {
		for (p = i; p < e; p++)
			c[got++] = v[p];
	} else if (e - i == 4 && e + 1 < n && v[e] == ' ') {
		for (p = i; p < e; p++)
			c[got++] = v[p];
		while (got < want) {
			if (p + 1 >= n || v[p] != ' ' || !is_alnum(v[p + 1]))
				return 0;
			p++;
			for (int g = 0; g < 4 && got < want && p < n && is_alnum(v[p]); g++)
				c[got++] = v[p++];
			if (got < want && (got - 4) % 4 != 0)
				return 0;
		}
		if (word_at(v, n, p))
			return 0;
	} else {
		return 0;
	}
	for (int x = 0; x < want; x++) {
		uint8_t ch = c[(x + 4) % want];
		if (is_digit(ch))
			r = (r * 10 + (unsigned)(ch - '0')) % 97;
		else if (is_upper(ch))
			r = (r * 100 + (unsigned)(ch - 'A' + 10)) % 97;
		else
			return 0;   /* lower case: not how IBANs are written */
	}
	return r == 1 ? emit(s, i, p, DET_IBAN) : 0;
}

/* ------------------------------------------------------------ secrets */

/* n*log2(n) in 1/65536ths for n = 0..256: the Shannon entropy of a
 * sample of N bytes with counts c_k is (N*log2 N - sum c_k*log2 c_k)/N. */
static const uint32_t xlog2x[257] = {
	0, 0, 131072, 311616, 524288, 760849, 1016449, 1287880, 1572864, 1869698,
	2177059, 2493890, 2819329, 3152656, 3493263, 3840630, 4194304, 4553891,
	4919044, 5289451, 5664838, 6044953, 6429573, 6818492, 7211522, 7608494,
	8009248, 8413640, 8821535, 9232807, 9647339, 10065024, 10485760, 10909451,
	11336007, 11765344, 12197383, 12632049, 13069271, 13508981, 13951115,
	14395614, 14842418, 15291475, 15742730, 16196134, 16651639, 17109200,
	17568773, 18030316, 18493788, 18959151, 19426369, 19895405, 20366225,
	20838795, 21313085, 21789064, 22266701, 22745969, 23226839, 23709285,
	24193281, 24678802, 25165824, 25654323, 26144277, 26635664, 27128462,
	27622650, 28118208, 28615118, 29113359, 29612913, 30113762, 30615890,
	31119277, 31623909, 32129769, 32636841, 33145110, 33654561, 34165179,
	34676950, 35189861, 35703897, 36219045, 36735293, 37252627, 37771036,
	38290508, 38811029, 39332590, 39855179, 40378784, 40903395, 41429002,
	41955593, 42483159, 43011690, 43541176, 44071607, 44602975, 45135269,
	45668482, 46202603, 46737625, 47273540, 47810337, 48348010, 48886551,
	49425951, 49966203, 50507299, 51049232, 51591994, 52135579, 52679978,
	53225186, 53771194, 54317998, 54865589, 55413962, 55963110, 56513026,
	57063705, 57615140, 58167326, 58720256, 59273925, 59828327, 60383456,
	60939307, 61495874, 62053152, 62611135, 63169819, 63729198, 64289268,
	64850022, 65411457, 65973567, 66536347, 67099794, 67663902, 68228666,
	68794082, 69360146, 69926853, 70494199, 71062179, 71630790, 72200027,
	72769886, 73340363, 73911454, 74483155, 75055462, 75628371, 76201878,
	76775981, 77350674, 77925954, 78501818, 79078263, 79655283, 80232877,
	80811040, 81389770, 81969062, 82548914, 83129321, 83710282, 84291793,
	84873850, 85456450, 86039591, 86623269, 87207481, 87792224, 88377495,
	88963292, 89549611, 90136450, 90723805, 91311674, 91900054, 92488942,
	93078337, 93668234, 94258631, 94849526, 95440916, 96032798, 96625170,
	97218030, 97811374, 98405201, 98999508, 99594292, 100189552, 100785284,
	101381487, 101978157, 102575294, 103172894, 103770955, 104369475, 104968452,
	105567883, 106167767, 106768101, 107368883, 107970111, 108571783, 109173897,
	109776450, 110379442, 110982869, 111586729, 112191022, 112795744, 113400894,
	114006470, 114612470, 115218892, 115825734, 116432995, 117040672, 117648764,
	118257268, 118866184, 119475509, 120085242, 120695380, 121305922, 121916867,
	122528213, 123139957, 123752099, 124364636, 124977567, 125590890, 126204604,
	126818708, 127433198, 128048075, 128663336, 129278980, 129895005, 130511410,
	131128193, 131745352, 132362887, 132980796, 133599076, 134217728,
};

#define SECRET_RUN_MIN 32         /* shortest base64 run the generic rule looks at */
#define SECRET_SAMPLE 256         /* bytes of a run its statistics are taken on */
#define SECRET_BITS_MIN (4u << 16) /* Shannon entropy, bits per byte, 16.16 */

/*
 * The generic rule: the base64/base64url run around the word at v[i, e)
 * (letters, digits, + / _ -, then up to two '=') is a secret when it is
 * at least 32 bytes long and, over its first 256 bytes, has upper and
 * lower case letters and digits, at most one punctuation byte in 8, is
 * not all hex, has fewer than 70% of its neighbouring letter and digit
 * pairs in the same class (upper/upper, lower/lower, digit/digit: the
 * words and numbers of identifiers and paths make long same-class
 * stretches, random text does not), and has a Shannon entropy of at
 * least 4 bits per byte. Each run is measured once (b64_end).
 */
static size_t try_entropy(struct scan *s, size_t i, size_t e)
{
	const uint8_t *v = s->v;
	size_t n = s->n, rs = i, re = e, m;
	uint16_t cnt[128];
	unsigned have = 0, punct = 0, same = 0, pairs = 0, prev = 0;
	uint64_t sum = 0;
	bool hex = true;

	while (rs > s->last_end && (cls[v[rs - 1]] & C_B64))
		rs--;
	if (re - s->base < 64 && (~s->b64 >> (re - s->base)) != 0) {
		re += (size_t)__builtin_ctzll(~s->b64 >> (re - s->base));   /* ends in the block */
	} else {
		while (re < n && (cls[v[re]] & C_B64))
			re++;
	}
	s->b64_end = re;
	if (re - rs < SECRET_RUN_MIN)
		return 0;
	m = re - rs < SECRET_SAMPLE ? re - rs : SECRET_SAMPLE;
	if (rs >= s->base && rs + m <= s->base + 64) {
		/* The sample lies in the block: refuse from the masks what the
		 * loops below would (no upper case, lower case or digit - the
		 * hex ids and UUIDs of every event - or too much punctuation). */
		uint64_t in = (m == 64 ? ~0ull : ((1ull << m) - 1)) << (rs - s->base);
		if (!(s->upper & in) || !(s->lower & in) || !(s->digit & in) ||
		    (size_t)__builtin_popcountll(s->b64 & ~s->alnum & in) * 8 > m)
			return 0;
	}
	for (size_t x = 0; x < m; x++) {
		uint8_t c = v[rs + x];
		unsigned k = cls[c] & (C_DIGIT | C_UPPER | C_LOWER);
		have |= k;
		punct += k == 0;
		pairs += k != 0 && prev != 0;
		same += k != 0 && k == prev;
		prev = k;
		if (hex && !is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'f') && c != '-')
			hex = false;
	}
	if (hex || have != (C_DIGIT | C_UPPER | C_LOWER) || punct * 8 > m || same * 10 >= 7 * pairs)
		return 0;
	memset(cnt, 0, sizeof(cnt));
	for (size_t x = 0; x < m; x++) {
		uint8_t c = v[rs + x];
		sum += xlog2x[cnt[c] + 1] - xlog2x[cnt[c]];
		cnt[c]++;
	}
	if (xlog2x[m] - sum < (uint64_t)SECRET_BITS_MIN * m)
		return 0;
	for (int pad = 0; pad < 2 && re < n && v[re] == '='; pad++)
		re++;
	s->b64_end = re;
	return emit(s, rs, re, DET_SECRET);
}

/* Key names (lower case) whose value is a secret, matched as the end of
 * the key: "DB_PASSWORD", "x-api-key", "aws_secret_access_key",
 * "clientSecret", "github_token". The last bytes are d e t y n. */
static const char *const secret_keys[] = {
	"password", "passwd", "passphrase", "secret", "secret_key", "secretkey",
	"secret-key", "access_key", "accesskey", "access-key", "api_key", "apikey",
	"api-key", "private_key", "privatekey", "private-key", "token",
};

static bool secret_key_before(const struct scan *s, size_t k)
{
	uint8_t t = lower(s->v[k - 1]);
	if (t != 'd' && t != 'e' && t != 't' && t != 'y' && t != 'n')
		return false;
	for (size_t x = 0; x < ARRAY_SIZE(secret_keys); x++) {
		size_t l = strlen(secret_keys[x]);
		if (k - s->last_end >= l && eq_ci(s->v + k - l, secret_keys[x], l))
			return true;
	}
	return false;
}

/* Unquoted values end at blanks and at the punctuation that separates
 * pairs in query strings, headers, cookies and logfmt. */
static bool value_stop(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' ||
	       c == ',' || c == ';' || c == '&' || c == '<' || c == '>' || c == '(' ||
	       c == ')' || c == '[' || c == ']' || c == '{' || c == '}';
}

/* Values that say there is no secret here. */
static bool placeholder(const uint8_t *v, size_t len)
{
	static const char *const words[] = {
		"null", "nil", "none", "true", "false", "undefined", "redacted",
		"[redacted]", "[filtered]", "hidden", "masked",
	};
	size_t x;
	for (x = 0; x < len && (v[x] == '*' || v[x] == 'x' || v[x] == 'X' || v[x] == '#'); x++)
		;
	if (x == len)
		return true;
	for (x = 0; x < ARRAY_SIZE(words); x++)
		if (strlen(words[x]) == len && eq_ci(v, words[x], len))
			return true;
	return false;
}

/*
 * key=value and key: value, the key ending in one of secret_keys,
 * optionally quoted on either side: the value is the hit. Values after
 * a blank that are unquoted must hold a byte that is not a letter (a
 * trailing . ! ? aside): "password: changed" is prose, "password:
 * hunter2" is not. Values that begin a JWT or a PEM block are left to
 * those detectors, placeholders are not secrets.
 */
static size_t try_keyword(struct scan *s, size_t c)
{
	const uint8_t *v = s->v;
	size_t n = s->n, k = c, p = c + 1, vs, ve;
	uint8_t q = 0;
	bool blank = false, other = false;

	while (k > s->last_end && v[k - 1] == ' ' && c - k < 4)
		k--;
	if (k > s->last_end && (v[k - 1] == '"' || v[k - 1] == '\''))
		k--;
	if (k <= s->last_end || !secret_key_before(s, k))
		return 0;
	if (v[c] == '=' && p < n && v[p] == '=')
		return 0;                      /* a comparison */
	if (v[c] == '=' && p < n && v[p] == '>')
		p++;                           /* "key" => "value" */
	while (p < n && (v[p] == ' ' || v[p] == '\t') && p - c < 6) {
		p++;
		blank = true;
	}
	if (p < n && (v[p] == '"' || v[p] == '\''))
		q = v[p++];
	vs = p;
	if (vs >= n || v[vs] == '$' || v[vs] == '<' || v[vs] == '{' || v[vs] == '[' ||
	    (EN(s, DET_JWT) && jwt_end(v, n, vs)) ||
	    (EN(s, DET_PEM_KEY) && n - vs >= 10 && memcmp(v + vs, "-----BEGIN", 10) == 0))
		return 0;
	if (q) {
		while (p < n && v[p] != q && v[p] != '\n' && v[p] != '\r')
			p++;
	} else {
		while (p < n && !value_stop(v[p]))
			p++;
	}
	ve = p;
	if (ve == vs || placeholder(v + vs, ve - vs))
		return 0;
	if (!q && blank) {
		size_t last = ve - 1;
		if (v[last] == '.' || v[last] == '!' || v[last] == '?')
			last--;
		for (size_t x = vs; x <= last && x < ve; x++)
			if (!is_alpha(v[x]))
				other = true;
		if (!other)
			return 0;
	}
	return emit(s, vs, ve, DET_SECRET);
}

/* scheme://user:password@host: the password. v[c] is ':'. */
static size_t try_url_password(struct scan *s, size_t c)
{
	const uint8_t *v = s->v;
	size_t n = s->n, p, col = 0, at = 0;
	if (c == 0 || !is_alpha(v[c - 1]) || c + 3 > n || v[c + 1] != '/' || v[c + 2] != '/')
		return 0;
	for (p = c + 3; p < n && p - c < 1024; p++) {
		uint8_t b = v[p];
		if (b == '/' || b == '?' || b == '#' || b == ' ' || b == '\t' || b == '\r' ||
		    b == '\n' || b == '"' || b == '\'' || b == '<' || b == '>')
			break;
		if (b == ':' && !col)
			col = p;
		if (b == '@')
			at = p;
	}
	if (!at || !col || col > at || col + 1 == at)
		return 0;
	return emit(s, col + 1, at, DET_URL_PASSWORD);
}

/* "-----BEGIN <label>-----" through the END line; to the end of the
 * value when it is cut. A label with PRIVATE KEY in it is a hit; any
 * other block (certificates, public keys) is skipped whole, so its
 * base64 is not taken for secrets. Returns where to resume, or 0. */
static size_t try_pem(struct scan *s, size_t m)
{
	const uint8_t *v = s->v;
	size_t n = s->n, p, le, end = n;
	const uint8_t *f;
	bool priv = false;

	if (n - m < 16 || memcmp(v + m, "-----BEGIN ", 11) != 0)
		return 0;
	for (le = 0, p = m + 11; p + 5 <= n && v[p] != '\n' && p - m < 100; p++)
		if (memcmp(v + p, "-----", 5) == 0) {
			le = p;
			break;
		}
	if (!le)
		return 0;
	for (p = m + 11; p + 11 <= le; p++)
		if (memcmp(v + p, "PRIVATE KEY", 11) == 0)
			priv = true;
	f = memmem(v + le + 5, n - le - 5, "-----END ", 9);
	if (f) {
		const uint8_t *g = memmem(f + 9, (size_t)(v + n - f) - 9, "-----", 5);
		if (g)
			end = (size_t)(g - v) + 5;
	}
	if (priv)
		return EN(s, DET_PEM_KEY) ? emit(s, m, end, DET_PEM_KEY) : 0;
	return end;
}

/* ------------------------------------------------------------ dispatch */

#define WORD_DETS (DET_BIT(DET_CARD) | DET_BIT(DET_SSN) | DET_BIT(DET_PHONE) | \
		   DET_BIT(DET_IBAN) | DET_BIT(DET_JWT) | DET_BIT(DET_BEARER) | \
		   DET_BIT(DET_AWS_KEY_ID) | DET_BIT(DET_SECRET))
#define NUM_DETS (DET_BIT(DET_CARD) | DET_BIT(DET_SSN) | DET_BIT(DET_PHONE))

/* The ASCII word starting at v[i] (a letter or digit). Returns where the
 * walk resumes: the end of a hit, or the end of the word. */
static size_t word(struct scan *s, size_t i)
{
	const uint8_t *v = s->v;
	size_t n = s->n, e, r;
	uint8_t c = v[i];
	uint64_t rest = ~s->alnum >> (i - s->base);

	if (rest) {
		e = i + (size_t)__builtin_ctzll(rest);
	} else {
		for (e = s->base + 64; e < n && (cls[v[e]] & C_ALNUM); e++)
			;
	}
	if (!word_before(v, i)) {
		bool glued = e < n && v[e] >= 0x80 && !upunct_len(v, n, e);
		if (is_digit(c)) {
			if ((s->en & NUM_DETS) && !inside_number(v, i) && (r = numeric(s, i)))
				return r;
		} else {
			if (c == 'e' && EN(s, DET_JWT) && (r = jwt_end(v, n, i)))
				return emit(s, i, r, DET_JWT);
			if (c == 'A' && e - i == 20 && !glued && EN(s, DET_AWS_KEY_ID) &&
			    (r = try_aws_key_id(s, i)))
				return r;
			if (e - i >= 4 && is_upper(c) && is_upper(v[i + 1]) && is_digit(v[i + 2]) &&
			    is_digit(v[i + 3]) && !glued && EN(s, DET_IBAN) && (r = try_iban(s, i, e)))
				return r;
			if (e - i == 6 && (c | 0x20) == 'b' && EN(s, DET_BEARER) && (r = try_bearer(s, i)))
				return r;
			if (e - i == 13 && (c | 0x20) == 'a' && EN(s, DET_BEARER) &&
			    (r = try_authorization(s, i)))
				return r;
		}
	}
	if (((s->long_runs >> (i - s->base)) & 1) && i >= s->b64_end && (r = try_entropy(s, i, e)))
		return r;
	return e;
}

/* A punctuation trigger at v[i]. Returns where the walk resumes. */
static size_t punct(struct scan *s, size_t i)
{
	const uint8_t *v = s->v;
	size_t n = s->n, r = 0;

	/* A byte can get here as the start of a long base64 run ('+', '-')
	 * with its own detectors off: each case checks them. */
	switch (v[i]) {
	case '@': {
		/* Email: the local part is looked for backwards from '@'. */
		size_t ls = i, d, dend = 0, tld = 0;
		int labels = 0;
		if (!EN(s, DET_EMAIL))
			break;
		while (ls > s->last_end && i - ls <= 64 &&
		       (is_alnum(v[ls - 1]) || v[ls - 1] == '.' || v[ls - 1] == '_' ||
			v[ls - 1] == '%' || v[ls - 1] == '+' || v[ls - 1] == '-'))
			ls--;
		if (i - ls > 64)
			break;
		while (ls < i && v[ls] == '.')
			ls++;
		if (ls == i || v[i - 1] == '.' || (ls > s->last_end && word_before(v, ls)))
			break;
		for (d = i + 1;;) {
			size_t q = d;
			while (q < n && (is_alnum(v[q]) || v[q] == '-') && q - d < 64)
				q++;
			if (q == d || v[d] == '-' || v[q - 1] == '-' || (q < n && is_alnum(v[q])))
				break;
			labels++;
			tld = d;
			dend = q;
			if (q + 1 < n && v[q] == '.' && is_alnum(v[q + 1]) && q - i < 253) {
				d = q + 1;
				continue;
			}
			break;
		}
		if (labels < 2 || dend - tld < 2 || word_at(v, n, dend) || (dend < n && v[dend] == '-'))
			break;
		for (d = tld; d < dend && is_alpha(v[d]); d++)
			;
		if (d == dend)
			r = emit(s, ls, dend, DET_EMAIL);
		break;
	}
	case ':':
		if (EN(s, DET_URL_PASSWORD) && (r = try_url_password(s, i)))
			break;
		if (EN(s, DET_SECRET))
			r = try_keyword(s, i);
		break;
	case '=':
		if (EN(s, DET_SECRET))
			r = try_keyword(s, i);
		break;
	case '-':
		r = try_pem(s, i);
		break;
	case '+':
		if (EN(s, DET_PHONE) && i + 1 < n && is_digit(v[i + 1]) && !word_before(v, i) &&
		    (i == 0 || v[i - 1] != '+'))
			r = numeric(s, i);
		break;
	case '(':
		if (EN(s, DET_PHONE) && i + 1 < n && is_digit(v[i + 1]) && !word_before(v, i))
			r = numeric(s, i);
		break;
	default:
		break;
	}
	return r > i ? r : i + 1;
}

/*
 * The block step. classify() turns v[base, base+64) into one bit mask per
 * byte class (M_*: bit x is about v[base+x], 0 past n), then into the
 * trigger mask todo. Every class is a predicate on one byte, so a piece
 * of the block may be classified twice (the overlapping last 16 bytes)
 * and the masks ORed. Relations between neighbouring bytes ("e" then
 * "y") are computed on the masks; bytes past the block are taken to be
 * in every class (nx()) unless v ends there, so a trigger near the end
 * of a block is kept and its handler decides.
 */
enum {
	M_DIGIT,        /* 0-9 */
	M_UPPER,        /* A-Z */
	M_LOWER,        /* a-z */
	M_B64P,         /* + / _ - */
	M_AT,           /* @ */
	M_SEP,          /* : = */
	M_DASH,         /* - */
	M_DD,           /* - . (a number goes on: "2024-03", "10.0") */
	M_NSEP,         /* space - . (separators of digit groups) */
	M_PH,           /* + ( */
	M_ONE,          /* 1 */
	M_Y,            /* y */
	M_FA,           /* a A */
	M_FB,           /* b B */
	M_FE,           /* e E */
	M_FU,           /* u U */
	M_COUNT
};

#if defined(__SSE2__) && !defined(DETECT_SCALAR)
#define DETECT_SSE2 1

/* v[0..n), 6 <= n < 16, in the low bytes of a vector, zeros above;
 * read as overlapping 4- and 8-byte words, not byte by byte (which would
 * cost a store-forwarding stall on the vector load). */
static __m128i load_short(const uint8_t *v, size_t n)
{
	uint64_t lo, hi = 0;
	uint32_t a, b;
	if (n >= 8) {
		memcpy(&lo, v, 8);
		memcpy(&hi, v + n - 8, 8);
		hi = (hi >> 8) >> (8 * (15 - n));   /* n == 8: all shifted out */
	} else {
		memcpy(&a, v, 4);
		memcpy(&b, v + n - 4, 4);
		lo = a | (uint64_t)(b >> (8 * (8 - n))) << 32;
	}
	return _mm_set_epi64x((long long)hi, (long long)lo);
}

/* Sets (first) or ORs the class masks of the 16 bytes in x into m: bit
 * j of a class is about byte j and lands at bit j - drop + at of m (bits
 * shifted out below are bytes before the block). Setting on the first
 * piece spares zeroing m, which compilers turn into a slow rep stos. */
static inline __attribute__((always_inline)) void
masks16(__m128i x, uint64_t m[M_COUNT], unsigned drop, unsigned at, bool first)
{
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
	__m128i u = _mm_sub_epi8(x, _mm_set1_epi8('A'));
	__m128i l = _mm_sub_epi8(x, _mm_set1_epi8('a'));
	__m128i f = _mm_or_si128(x, _mm_set1_epi8(0x20));
	__m128i mi = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
	__m128i pl = _mm_cmpeq_epi8(x, _mm_set1_epi8('+'));
	__m128i dd = _mm_or_si128(mi, _mm_cmpeq_epi8(x, _mm_set1_epi8('.')));
#define PUT(c, v) (m[c] = (first ? 0 : m[c]) | \
			   ((uint64_t)(uint32_t)_mm_movemask_epi8(v) >> drop) << at)
	PUT(M_DIGIT, _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
	PUT(M_UPPER, _mm_cmpeq_epi8(_mm_min_epu8(u, _mm_set1_epi8(25)), u));
	PUT(M_LOWER, _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l));
	PUT(M_B64P, _mm_or_si128(_mm_or_si128(mi, pl),
				 _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')),
					      _mm_cmpeq_epi8(x, _mm_set1_epi8('_')))));
	PUT(M_AT, _mm_cmpeq_epi8(x, _mm_set1_epi8('@')));
	PUT(M_SEP, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')),
				_mm_cmpeq_epi8(x, _mm_set1_epi8('='))));
	PUT(M_DASH, mi);
	PUT(M_DD, dd);
	PUT(M_NSEP, _mm_or_si128(dd, _mm_cmpeq_epi8(x, _mm_set1_epi8(' '))));
	PUT(M_PH, _mm_or_si128(pl, _mm_cmpeq_epi8(x, _mm_set1_epi8('('))));
	PUT(M_ONE, _mm_cmpeq_epi8(x, _mm_set1_epi8('1')));
	PUT(M_Y, _mm_cmpeq_epi8(x, _mm_set1_epi8('y')));
	PUT(M_FA, _mm_cmpeq_epi8(f, _mm_set1_epi8('a')));
	PUT(M_FB, _mm_cmpeq_epi8(f, _mm_set1_epi8('b')));
	PUT(M_FE, _mm_cmpeq_epi8(f, _mm_set1_epi8('e')));
	PUT(M_FU, _mm_cmpeq_epi8(f, _mm_set1_epi8('u')));
#undef PUT
}
#endif

/* The class masks of v[base, base+len), len = min(64, n - base). With
 * SSE2: 16 bytes at a time, never reading outside v[0..n) - a short
 * last piece is the 16 bytes that end at v[n), whose masks are shifted
 * into place; a value under 16 bytes is read as overlapping words. The
 * scalar loop is the reference for what each class means. */
static inline __attribute__((always_inline)) void
block_masks(const uint8_t *v, size_t n, size_t base, size_t len, uint64_t m[M_COUNT])
{
#if defined(DETECT_SSE2)
	if (n < 16) {
		masks16(load_short(v, n), m, 0, 0, true);
		return;
	}
	/* v[n-16, n) is block bytes len-16 .. len-1 (len-16 may be negative:
	 * the last block of a value may hold under 16). */
	if (len >= 16)
		masks16(_mm_loadu_si128((const __m128i *)(const void *)(v + base)), m, 0, 0, true);
	else
		masks16(_mm_loadu_si128((const __m128i *)(const void *)(v + n - 16)), m,
			16 - (unsigned)len, 0, true);
	for (unsigned o = 16; o < len; o += 16) {
		if (o + 16 <= len)
			masks16(_mm_loadu_si128((const __m128i *)(const void *)(v + base + o)), m, 0, o, false);
		else
			masks16(_mm_loadu_si128((const __m128i *)(const void *)(v + n - 16)), m,
				16 - (unsigned)(len - o), o, false);
	}
#else
	(void)n;
	for (int c = 0; c < M_COUNT; c++)
		m[c] = 0;
	for (size_t x = 0; x < len; x++) {
		uint8_t ch = v[base + x], f = (uint8_t)(ch | 0x20);
		uint64_t bit = 1ull << x;
		m[M_DIGIT] |= is_digit(ch) ? bit : 0;
		m[M_UPPER] |= is_upper(ch) ? bit : 0;
		m[M_LOWER] |= (unsigned)(ch - 'a') < 26u ? bit : 0;
		m[M_B64P] |= (ch == '+' || ch == '/' || ch == '_' || ch == '-') ? bit : 0;
		m[M_AT] |= ch == '@' ? bit : 0;
		m[M_SEP] |= (ch == ':' || ch == '=') ? bit : 0;
		m[M_DASH] |= ch == '-' ? bit : 0;
		m[M_DD] |= (ch == '-' || ch == '.') ? bit : 0;
		m[M_NSEP] |= (ch == ' ' || ch == '-' || ch == '.') ? bit : 0;
		m[M_PH] |= (ch == '+' || ch == '(') ? bit : 0;
		m[M_ONE] |= ch == '1' ? bit : 0;
		m[M_Y] |= ch == 'y' ? bit : 0;
		m[M_FA] |= f == 'a' ? bit : 0;
		m[M_FB] |= f == 'b' ? bit : 0;
		m[M_FE] |= f == 'e' ? bit : 0;
		m[M_FU] |= f == 'u' ? bit : 0;
	}
#endif
}

/*
 * Classifies the block v[base, base+64) and sets the masks of s and
 * s->todo, the bytes the walk stops at. Each trigger is narrowed to
 * what its handler would not refuse on the first bytes alone, so that
 * ordinary words, dates, versions and ids never leave the block step
 * (a dropped trigger is one whose handler would report nothing and
 * change nothing; the walk would resume at the end of the same word,
 * and no other trigger lies inside an ASCII word):
 *   - a word starting with a letter, when its first bytes can start
 *     what word() looks for: "ey" (JWT), "be" and "au" in any case
 *     ("Bearer", "Authorization"), "A" and an upper-case letter (AWS key
 *     ids), two upper-case letters and two digits (IBAN);
 *   - a word starting with a number that numeric() may take: three
 *     digits or more, or "1" and a group separator, then a digit or '(';
 *     not right after "<digit>-" or "<digit>." (inside_number);
 *   - the first byte of a base64 run of 32 bytes or more (the generic
 *     secret rule; a run that goes on past the block counts as long);
 *   - '@'; ':' and '=' not after a digit ("12:34" is no key); the first
 *     of two '-'; '+' and '(' before a digit - each when its detectors
 *     are on.
 */
static void classify(struct scan *s, size_t base)
{
	size_t len = s->n - base < 64 ? s->n - base : 64;
	uint64_t m[M_COUNT], todo = 0;
	uint32_t en = s->en;

	block_masks(s->v, s->n, base, len, m);

	uint64_t dg = m[M_DIGIT], up = m[M_UPPER], lo = m[M_LOWER];
	uint64_t an = dg | up | lo, b64 = an | m[M_B64P];
	uint64_t before = base > 0 ? cls[s->v[base - 1]] : 0;
	uint64_t starts = an & ~((an << 1) | ((before & C_ALNUM) != 0));

	/* Past the block, bytes are taken to be in every class (so what goes
	 * on into the next block is looked at) unless v ends there. */
	uint64_t f = base + 64 < s->n ? ~0ull : 0;
#define NX(x, k) (((x) >> (k)) | (f << (64 - (k))))

	s->base = base;
	s->alnum = an;
	s->digit = dg;
	s->upper = up;
	s->lower = lo;
	s->b64 = b64;
	s->long_runs = 0;
	if (en & (WORD_DETS & ~DET_BIT(DET_SECRET) & ~NUM_DETS)) {
		uint64_t lead = 0;
		if (en & DET_BIT(DET_JWT))
			lead |= m[M_FE] & lo & NX(m[M_Y], 1);
		if (en & DET_BIT(DET_BEARER))
			lead |= (m[M_FB] & NX(m[M_FE], 1)) | (m[M_FA] & NX(m[M_FU], 1));
		if (en & DET_BIT(DET_AWS_KEY_ID))
			lead |= m[M_FA] & up & NX(up, 1);
		if (en & DET_BIT(DET_IBAN))
			lead |= up & NX(up, 1) & NX(dg, 2) & NX(dg, 3);
		todo |= starts & lead;
	}
	if (en & NUM_DETS) {
		uint64_t d3 = dg & NX(dg, 1) & NX(dg, 2);
		uint64_t one = m[M_ONE] & NX(m[M_NSEP], 1) & NX(dg | m[M_PH], 2);
		uint64_t in = (m[M_DD] << 1) & ((dg << 2) | ((before & C_DIGIT) != 0 ? 2u : 0u));
		todo |= starts & (d3 | one) & ~in;
	}
	if ((en & DET_BIT(DET_SECRET)) && s->b64_end != SIZE_MAX) {
		/* r: bit x when v[base+x .. base+x+31] are all base64 bytes. */
		uint64_t r = b64;
		r &= NX(r, 1);
		r &= NX(r, 2);
		r &= NX(r, 4);
		r &= NX(r, 8);
		r &= NX(r, 16);
		s->long_runs = r & b64 & ~((b64 << 1) | ((before & C_B64) != 0));
		todo |= s->long_runs;
	}
	if (en & DET_BIT(DET_EMAIL))
		todo |= m[M_AT];
	if (en & (DET_BIT(DET_SECRET) | DET_BIT(DET_URL_PASSWORD)))
		todo |= m[M_SEP] & ~((dg << 1) | ((before & C_DIGIT) != 0));
	if (en & (DET_BIT(DET_PEM_KEY) | DET_BIT(DET_SECRET)))
		todo |= m[M_DASH] & NX(m[M_DASH], 1);   /* the secret rule skips certificates */
	if (en & DET_BIT(DET_PHONE))
		todo |= m[M_PH] & NX(dg, 1);
#undef NX
	s->todo = todo;
}

size_t detect_scan(const char *value, size_t n, uint32_t enabled,
		   struct det_hit *hits, size_t cap)
{
	struct scan s;
	size_t i = 0;

	enabled &= DET_ALL & ~DET_BIT(DET_K8S_SECRET);
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	/* Nothing any detector finds is shorter than "a@b.co" or "token=x"
	 * minus one. */
	if (!enabled || n < 6)
		return 0;

	s.v = (const uint8_t *)value;
	s.n = n;
	s.en = enabled;
	s.hits = hits;
	s.cap = hits ? cap : 0;
	s.count = 0;
	s.last_end = 0;
	/* Values too short for the generic secret rule never measure runs. */
	s.b64_end = n < SECRET_RUN_MIN ? SIZE_MAX : 0;
	s.base = SIZE_MAX;

	while (i < n) {
		size_t base = i & ~(size_t)63, p;
		uint64_t todo;
		uint8_t c;
		if (base != s.base)
			classify(&s, base);
		todo = s.todo & (~0ull << (i - base));
		if (!todo) {
			i = base + 64;
			continue;
		}
		p = base + (size_t)__builtin_ctzll(todo);
		c = s.v[p];
		if (cls[c] & C_ALNUM) {
			i = word(&s, p);
			continue;
		}
		i = punct(&s, p);
		/* A long base64 run that starts with + / _ or -. */
		if (i == p + 1 && ((s.long_runs >> (p - base)) & 1) && p >= s.b64_end) {
			size_t r = try_entropy(&s, p, p + 1);
			if (r)
				i = r;
		}
	}
	return s.count;
}

/* ------------------------------------------------------------ names */

static const char *const names[DET_COUNT] = {
	[DET_EMAIL] = "email",
	[DET_CARD] = "card",
	[DET_IBAN] = "iban",
	[DET_SSN] = "ssn",
	[DET_PHONE] = "phone",
	[DET_JWT] = "jwt",
	[DET_BEARER] = "bearer",
	[DET_AWS_KEY_ID] = "aws_key_id",
	[DET_SECRET] = "secret",
	[DET_PEM_KEY] = "pem_key",
	[DET_URL_PASSWORD] = "url_password",
	[DET_K8S_SECRET] = "k8s_secret",
};

const char *detector_name(enum detector d)
{
	return (unsigned)d < DET_COUNT ? names[d] : "invalid";
}

int detector_by_name(const char *s, size_t n)
{
	if (!s)
		return -1;
	for (int d = 0; d < DET_COUNT; d++)
		if (strlen(names[d]) == n && memcmp(names[d], s, n) == 0)
			return d;
	return -1;
}

/* ------------------------------------------------------------ k8s */

bool detect_k8s_secret_event(const char *resource_type, size_t rt_len,
			     const char *objref_resource, size_t or_len)
{
	return (resource_type && rt_len == 7 && memcmp(resource_type, "secrets", 7) == 0) ||
	       (objref_resource && or_len == 7 && memcmp(objref_resource, "secrets", 7) == 0);
}

bool detect_k8s_secret_path(const char *path, size_t len)
{
	static const char lac[] = "annotations.kubectl.kubernetes.io/last-applied-configuration";
	size_t ll = sizeof(lac) - 1, a = 0;

	if (!path)
		return false;
	if (len >= ll && memcmp(path + len - ll, lac, ll) == 0 &&
	    (len == ll || path[len - ll - 1] == '.'))
		return true;
	for (size_t p = 0; p <= len; p++) {
		if (p < len && path[p] != '.')
			continue;
		if ((p - a == 4 && memcmp(path + a, "data", 4) == 0) ||
		    (p - a == 10 && memcmp(path + a, "stringData", 10) == 0))
			return true;
		a = p + 1;
	}
	return false;
}
