/*
 * jwalk.c - the value walker and word tokenizer of jwalk.h.
 *
 * The walker is one loop over the input with an explicit stack of open
 * containers (JW_DEPTH_MAX frames on the C stack), no recursion and no
 * heap. Strings without a backslash are reported as slices of the input;
 * a string with escapes is decoded into a stack buffer, one at a time.
 *
 * String bodies are scanned 16 bytes at a time (SSE2) for '"', '\\' and
 * control bytes, as event.c does.
 *
 * Invariants:
 *   1. Every read is preceded by a bounds check against `end`; vector
 *      loads happen only when 16 bytes remain.
 *   2. path[0..f->plen) holds the path of the container of frame f as
 *      long as f->plen <= JW_PATH_MAX; a member's name is written after
 *      it, so siblings overwrite each other and never their parent.
 *      Lengths past JW_PATH_MAX are still counted (never written), so a
 *      too-long path stays too long for every descendant.
 *   3. A leaf is reported only when its path fits.
 */
#include "index/jwalk.h"

#include "common/util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct frame {
	size_t plen;   /* length of this container's path (may exceed JW_PATH_MAX) */
	bool arr;
	bool first;    /* no member read yet */
	bool nul;      /* the path holds a 0x00 (a decoded "\u0000" name) */
};

static inline bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_ws(*p))
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

static long hex4(const uint8_t *p)
{
	int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
	if ((a | b | c | d) < 0)
		return -1;
	return (long)(a << 12 | b << 8 | c << 4 | d);
}

/*
 * Scans a string body starting after its opening quote. Returns the
 * position of the closing quote (or NULL when the string is unterminated
 * or holds a raw control byte), *esc set when a backslash occurs. Escapes
 * are checked for shape by decode(), which every escaped string goes
 * through.
 */
static const uint8_t *scan_string(const uint8_t *p, const uint8_t *end, bool *esc)
{
	*esc = false;
#if defined(__SSE2__)
	/* 16 bytes at a time up to the first '"', '\\' or control byte. */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
						      _mm_cmpeq_epi8(v, bslash)),
					 _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		if (!bits) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(bits);
		if (*p == '"')
			return p;
		if (*p != '\\')
			return NULL;
		*esc = true;
		p += 2;
	}
#endif
	while (p < end) {
		uint8_t c = *p;
		if (c == '"')
			return p;
		if (c == '\\') {
			*esc = true;
			p += 2;
			continue;
		}
		if (c < 0x20)
			return NULL;
		p++;
	}
	return NULL;
}

static inline void put(char *out, size_t cap, size_t *len, uint8_t c)
{
	if (*len < cap)
		out[*len] = (char)c;
	(*len)++;
}

/*
 * Decodes the escaped body s[0..n) into out[0..cap); returns the full
 * decoded length (bytes past cap counted, not written) or -1 for a bad
 * escape or an unpaired surrogate.
 */
static long decode(const uint8_t *s, size_t n, char *out, size_t cap)
{
	const uint8_t *e = s + n;
	size_t len = 0;

	while (s < e) {
		if (*s != '\\') {
			put(out, cap, &len, *s++);
			continue;
		}
		if (e - s < 2)
			return -1;
		uint8_t c = s[1];
		s += 2;
		switch (c) {
		case '"': case '\\': case '/': put(out, cap, &len, c); continue;
		case 'b': put(out, cap, &len, '\b'); continue;
		case 'f': put(out, cap, &len, '\f'); continue;
		case 'n': put(out, cap, &len, '\n'); continue;
		case 'r': put(out, cap, &len, '\r'); continue;
		case 't': put(out, cap, &len, '\t'); continue;
		case 'u': break;
		default: return -1;
		}
		long u, lo;
		if (e - s < 4 || (u = hex4(s)) < 0)
			return -1;
		s += 4;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return -1;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (e - s < 6 || s[0] != '\\' || s[1] != 'u' ||
			    (lo = hex4(s + 2)) < 0xDC00 || lo > 0xDFFF)
				return -1;
			s += 6;
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
		}
		uint32_t cp = (uint32_t)u;
		if (cp < 0x80) {
			put(out, cap, &len, (uint8_t)cp);
		} else if (cp < 0x800) {
			put(out, cap, &len, (uint8_t)(0xC0 | cp >> 6));
			put(out, cap, &len, (uint8_t)(0x80 | (cp & 0x3F)));
		} else if (cp < 0x10000) {
			put(out, cap, &len, (uint8_t)(0xE0 | cp >> 12));
			put(out, cap, &len, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
			put(out, cap, &len, (uint8_t)(0x80 | (cp & 0x3F)));
		} else {
			put(out, cap, &len, (uint8_t)(0xF0 | cp >> 18));
			put(out, cap, &len, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
			put(out, cap, &len, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
			put(out, cap, &len, (uint8_t)(0x80 | (cp & 0x3F)));
		}
	}
	return (long)len;
}

static bool is_num_byte(uint8_t c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

static int walk(const uint8_t *json, size_t len, bool ends, jw_fn fn, void *ctx)
{
	char path[JW_PATH_MAX + 1];
	char vbuf[JW_VALUE_MAX];
	struct frame st[JW_DEPTH_MAX];
	const uint8_t *p = json, *end;
	struct jw_leaf leaf;
	int top, r;

	if (!json)
		return ST_EINVAL;
	end = json + len;
	p = skip_ws(p, end);
	if (p == end || *p != '{')
		return ST_EINVAL;
	p++;
	top = 0;
	st[0] = (struct frame){ 0, false, true, false };
	path[0] = 0;
	leaf.path = path;

	while (top >= 0) {
		struct frame *f = &st[top];
		size_t plen = f->plen;

		p = skip_ws(p, end);
		if (p == end)
			return ST_EINVAL;
		if (*p == (f->arr ? ']' : '}')) {
			if (ends && top > 0) {
				leaf.path_cut = plen > JW_PATH_MAX;
				leaf.path_nul = f->nul;
				leaf.path_len = leaf.path_cut ? JW_PATH_MAX : plen;
				path[leaf.path_len] = 0;
				leaf.depth = top;
				leaf.type = JW_END;
				leaf.val = "";
				leaf.val_len = 0;
				leaf.raw = (const char *)p;
				leaf.raw_len = 1;
				leaf.key = NULL;
				leaf.key_len = 0;
				if ((r = fn(ctx, &leaf)) != 0)
					return r;
			}
			p++;
			top--;
			continue;
		}
		if (!f->first) {
			if (*p != ',')
				return ST_EINVAL;
			p = skip_ws(p + 1, end);
			if (p == end)
				return ST_EINVAL;
		}
		f->first = false;

		leaf.key = NULL;
		leaf.key_len = 0;
		bool nul = f->nul;
		if (!f->arr) {
			const uint8_t *q;
			bool esc;
			size_t off = plen ? plen + 1 : 0;

			if (*p != '"' || !(q = scan_string(p + 1, end, &esc)))
				return ST_EINVAL;
			leaf.key = (const char *)p;
			leaf.key_len = (size_t)(q + 1 - p);
			if (plen && plen < sizeof(path))
				path[plen] = '.';
			size_t cap = off < sizeof(path) ? sizeof(path) - off : 0;
			size_t klen = (size_t)(q - p - 1);
			char *dst = cap ? path + off : path;
			if (esc) {
				long k = decode(p + 1, klen, dst, cap);
				if (k < 0)
					return ST_EINVAL;
				klen = (size_t)k;
				nul = nul || memchr(dst, 0, klen < cap ? klen : cap) != NULL;
			} else if (cap) {
				memcpy(dst, p + 1, klen < cap ? klen : cap);
			}
			plen = off + klen;
			p = skip_ws(q + 1, end);
			if (p == end || *p != ':')
				return ST_EINVAL;
			p = skip_ws(p + 1, end);
			if (p == end)
				return ST_EINVAL;
		}

		/* jwalk_ends reports a too-long path too, cut (a rewriter must
		 * see every value); jwalk skips it. */
		bool report = plen <= JW_PATH_MAX || ends;
		leaf.path_cut = plen > JW_PATH_MAX;
		leaf.path_len = leaf.path_cut ? JW_PATH_MAX : plen;
		leaf.path_nul = nul;
		if (report)
			path[leaf.path_len] = 0;
		leaf.depth = top + 1;
		leaf.val = "";
		leaf.val_len = 0;
		leaf.raw = (const char *)p;

		switch (*p) {
		case '"': {
			bool esc;
			const uint8_t *q = scan_string(p + 1, end, &esc);
			if (!q)
				return ST_EINVAL;
			leaf.type = JW_STRING;
			if (esc) {
				long v = decode(p + 1, (size_t)(q - p - 1), vbuf, sizeof(vbuf));
				if (v < 0)
					return ST_EINVAL;
				leaf.val = vbuf;
				leaf.val_len = (size_t)v < sizeof(vbuf) ? (size_t)v : sizeof(vbuf);
			} else {
				leaf.val = (const char *)p + 1;
				leaf.val_len = (size_t)(q - p - 1);
			}
			p = q + 1;
			break;
		}
		case '{':
		case '[':
			leaf.type = *p == '{' ? JW_OBJECT : JW_ARRAY;
			if (top + 1 >= JW_DEPTH_MAX)
				return ST_ELIMIT;
			st[++top] = (struct frame){ plen, *p == '[', true, nul };
			p++;
			break;
		case 't':
			if (end - p < 4 || memcmp(p, "true", 4) != 0)
				return ST_EINVAL;
			leaf.type = JW_TRUE;
			leaf.val = (const char *)p;
			leaf.val_len = 4;
			p += 4;
			break;
		case 'f':
			if (end - p < 5 || memcmp(p, "false", 5) != 0)
				return ST_EINVAL;
			leaf.type = JW_FALSE;
			leaf.val = (const char *)p;
			leaf.val_len = 5;
			p += 5;
			break;
		case 'n':
			if (end - p < 4 || memcmp(p, "null", 4) != 0)
				return ST_EINVAL;
			leaf.type = JW_NULL;
			leaf.val = (const char *)p;
			leaf.val_len = 4;
			p += 4;
			break;
		default: {
			/* Numbers were validated on ingest; here only their extent. */
			const uint8_t *q = p;
			while (q < end && is_num_byte(*q))
				q++;
			if (q == p || (*p != '-' && (*p < '0' || *p > '9')) ||
			    q[-1] < '0' || q[-1] > '9')
				return ST_EINVAL;
			leaf.type = JW_NUMBER;
			leaf.val = (const char *)p;
			leaf.val_len = (size_t)(q - p);
			p = q;
			break;
		}
		}
		leaf.raw_len = (size_t)(p - (const uint8_t *)leaf.raw);
		if (report && (r = fn(ctx, &leaf)) != 0)
			return r;
	}
	p = skip_ws(p, end);
	return p == end ? 0 : ST_EINVAL;
}

int jwalk(const uint8_t *json, size_t len, jw_fn fn, void *ctx)
{
	return walk(json, len, false, fn, ctx);
}

int jwalk_ends(const uint8_t *json, size_t len, jw_fn fn, void *ctx)
{
	return walk(json, len, true, fn, ctx);
}

bool jw_text_path(const char *path, size_t len)
{
	/* what the policy writes: its own words, the same in every event it
	 * touches ("redacted.path:actor.ip" finds them, not a bare "ip") */
	if (len >= 9 && !memcmp(path, "redacted.", 9))
		return false;
	if (len >= 8 && !memcmp(path, "sampled.", 8))
		return false;
	switch (len) {
	case 2: return memcmp(path, "id", 2) != 0;
	case 4: return memcmp(path, "time", 4) != 0;
	case 5: return memcmp(path, "tprev", 5) != 0;
	case 11: return memcmp(path, "received_at", 11) != 0 && memcmp(path, "criticality", 11) != 0;
	default: return true;
	}
}

/* ASCII letters and digits and every byte >= 0x80; letters map to lower case. */
static const uint8_t tokmap[256] = {
#define R16(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, \
	b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e',
	['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j',
	['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o',
	['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't',
	['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y',
	['Z'] = 'z',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e',
	['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
	['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o',
	['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
	['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',
	['z'] = 'z',
	[0x80] = R16(0x80), R16(0x90), R16(0xA0), R16(0xB0),
	R16(0xC0), R16(0xD0), R16(0xE0), R16(0xF0),
#undef R16
};

int jw_tokens(const char *s, size_t n, jw_tok_fn fn, void *ctx)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	char tok[JW_TOKEN_MAX];
	uint32_t pos = 0;
	int r;

	while (p < end) {
		size_t len = 0;
		if (!tokmap[*p]) {
			p++;
			continue;
		}
		for (; p < end && tokmap[*p]; p++) {
			if (len < JW_TOKEN_MAX)
				tok[len++] = (char)tokmap[*p];
		}
		if ((r = fn(ctx, tok, len, pos++)) != 0)
			return r;
	}
	return 0;
}
