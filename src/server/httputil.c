/*
 * httputil.c - query strings, path patterns, bearer tokens and JSON string
 * escaping (see httputil.h).
 *
 * Everything here reads client bytes, so: every loop is bounded by the
 * input's length, nothing is written past a caller's cap, and text from
 * the client is escaped before it reaches an error message. Percent
 * decoding is done in two passes (measure, then write) so that a value
 * that does not fit leaves out untouched.
 */
#include "server/httputil.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* --- Percent-decoding --------------------------------------------------- */

enum { DEC_BADESC = -1, DEC_NUL = -2, DEC_SLASH = -3 };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes s[0..n) into out (when out is not NULL; the caller checked the
 * room with a measuring call first). plus: '+' is a space. path: '/' raw
 * or decoded is refused. Returns the decoded length or a DEC_* code.
 */
static long decode(const char *s, size_t n, bool plus, bool path, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (n - i < 3)
				return DEC_BADESC;
			int hi = hexval(s[i + 1]);
			int lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return DEC_BADESC;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == 0)
			return DEC_NUL;
		if (c == '/' && path)
			return DEC_SLASH;
		if (out)
			out[o] = c;
		o++;
	}
	return (long)o;
}

/* --- Messages ----------------------------------------------------------- */

/* Client text for a message: printable ASCII as is (except '"' and '\'),
 * other bytes as \xNN, at most 40 input bytes then "...". */
static void shown(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < 40; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 5 >= cap)
				break;
			snprintf(out + o, 5, "\\x%02X", c);
			o += 4;
		}
	}
	if (i < n && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
}


/* --- Query strings ------------------------------------------------------ */

struct qparam {
	const char *k;
	size_t klen;
	const char *v;   /* NULL when there is no '=' */
	size_t vlen;
};

/* The next non-empty parameter at or after s; returns where to continue,
 * or NULL at the end. */
static const char *next_param(const char *s, struct qparam *p)
{
	while (*s == '&')
		s++;
	if (!*s)
		return NULL;
	const char *end = strchr(s, '&');
	if (!end)
		end = s + strlen(s);
	const char *eq = memchr(s, '=', (size_t)(end - s));
	p->k = s;
	p->klen = (size_t)((eq ? eq : end) - s);
	p->v = eq ? eq + 1 : NULL;
	p->vlen = eq ? (size_t)(end - eq - 1) : 0;
	return end;
}

/* Does the raw key k[0..n) decode to key? A malformed key matches nothing. */
static bool key_is(const char *k, size_t n, const char *key)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++, j++) {
		char c = k[i];
		if (c == '%') {
			if (n - i < 3 || hexval(k[i + 1]) < 0 || hexval(k[i + 2]) < 0)
				return false;
			c = (char)(hexval(k[i + 1]) << 4 | hexval(k[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || key[j] != c)
			return false;
	}
	return key[j] == 0;
}

/* Finds key: 0 with its raw value, ST_ENOTFOUND, or ST_EINVAL (twice). */
static int find_param(const char *qs, const char *key, const char **v, size_t *vlen)
{
	struct qparam p;
	bool found = false;

	if (!qs)
		return ST_ENOTFOUND;
	while ((qs = next_param(qs, &p))) {
		if (!key_is(p.k, p.klen, key))
			continue;
		if (found)
			return ST_EINVAL;
		found = true;
		*v = p.v ? p.v : "";
		*vlen = p.vlen;
	}
	return found ? 0 : ST_ENOTFOUND;
}

int query_get(const char *qs, const char *key, char *out, size_t cap)
{
	const char *v = NULL;
	size_t vlen = 0;
	int rc = find_param(qs, key, &v, &vlen);

	if (rc < 0)
		return rc;
	long len = decode(v, vlen, true, false, NULL);
	if (len < 0)
		return ST_EINVAL;
	if ((size_t)len >= cap || len > INT_MAX)
		return ST_ELIMIT;
	decode(v, vlen, true, false, out);
	out[len] = 0;
	return (int)len;
}

int query_u64(const char *qs, const char *key, uint64_t min, uint64_t max,
	      uint64_t *ret, bool *present, char *err, size_t errcap)
{
	const char *v = NULL;
	size_t vlen = 0;
	char val[32], text[128];
	uint64_t x;
	int rc = find_param(qs, key, &v, &vlen);

	if (rc == ST_ENOTFOUND) {
		if (present)
			*present = false;
		return 0;
	}
	if (rc < 0)
		return st_fail(err, errcap, "parameter %s given twice", key);
	long len = decode(v, vlen, true, false, NULL);
	if (len < 0)
		return st_fail(err, errcap, "parameter %s: %s", key, len == DEC_NUL ?
			     "the value decodes to a NUL byte" : "malformed percent-escape");
	if ((size_t)len < sizeof(val)) {
		decode(v, vlen, true, false, val);
		if (st_parse_u64(val, (size_t)len, &x) && x >= min && x <= max) {
			*ret = x;
			if (present)
				*present = true;
			return 0;
		}
		shown(val, (size_t)len, text, sizeof(text));
	} else {
		shown(v, vlen, text, sizeof(text));
	}
	return st_fail(err, errcap, "parameter %s: expected an integer in [%llu,%llu], found \"%s\"",
		     key, (unsigned long long)min, (unsigned long long)max, text);
}

/* Up to errcap bytes of "a, b, c" from allowed[]. */
static void list_allowed(const char *const *allowed, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; allowed[i]; i++) {
		int w = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", allowed[i]);
		if (w < 0 || (size_t)w >= cap - o)
			break;
		o += (size_t)w;
	}
}

int query_check(const char *qs, const char *const *allowed, char *err, size_t errcap)
{
	static const char *const none[] = { NULL };
	size_t seen[QUERY_MAX_PARAMS], nseen = 0;
	char key[64], text[200], list[200];
	struct qparam p;

	if (!qs)
		return 0;
	if (!allowed)
		allowed = none;
	if (strnlen(qs, QUERY_MAX_LEN + 1) > QUERY_MAX_LEN) {
		st_fail(err, errcap, "query string longer than %d bytes", QUERY_MAX_LEN);
		return ST_ELIMIT;
	}
	while ((qs = next_param(qs, &p))) {
		if (nseen == QUERY_MAX_PARAMS) {
			st_fail(err, errcap, "more than %d query parameters", QUERY_MAX_PARAMS);
			return ST_ELIMIT;
		}
		shown(p.k, p.klen, text, sizeof(text));
		long klen = decode(p.k, p.klen, true, false, NULL);
		if (klen < 0)
			return st_fail(err, errcap, "query parameter name \"%s\": %s", text,
				     klen == DEC_NUL ? "decodes to a NUL byte" : "malformed percent-escape");
		if (klen == 0)
			return st_fail(err, errcap, "a query parameter has an empty name");
		size_t a = SIZE_MAX;
		if ((size_t)klen < sizeof(key)) {
			decode(p.k, p.klen, true, false, key);
			key[klen] = 0;
			for (size_t i = 0; allowed[i]; i++)
				if (strcmp(allowed[i], key) == 0) {
					a = i;
					break;
				}
			shown(key, (size_t)klen, text, sizeof(text));
		}
		if (a == SIZE_MAX) {
			list_allowed(allowed, list, sizeof(list));
			return st_fail(err, errcap, "unknown query parameter \"%s\"%s%s%s", text,
				     list[0] ? " (allowed: " : " (this resource takes none)",
				     list, list[0] ? ")" : "");
		}
		for (size_t i = 0; i < nseen; i++)
			if (seen[i] == a)
				return st_fail(err, errcap, "parameter %s given twice", allowed[a]);
		seen[nseen++] = a;
		long vlen = p.v ? decode(p.v, p.vlen, true, false, NULL) : 0;
		if (vlen < 0)
			return st_fail(err, errcap, "parameter %s: %s", allowed[a], vlen == DEC_NUL ?
				     "the value decodes to a NUL byte" : "malformed percent-escape");
	}
	return 0;
}

/* --- Paths -------------------------------------------------------------- */

bool path_match(const char *path, size_t n, const char *pattern, struct path_match *ret)
{
	struct path_match m;
	size_t i = 0, j = 0;

	if (!path || !pattern)
		return false;
	m.n = 0;
	while (pattern[j]) {
		if (pattern[j] == '{' && pattern[j + 1] == '}') {
			size_t start = i;
			if (m.n == ARRAY_SIZE(m.seg))
				return false;
			if (pattern[j + 2] != '/' && pattern[j + 2] != 0)
				return false;
			while (i < n && path[i] != '/')
				i++;
			if (i == start)
				return false;
			m.seg[m.n] = path + start;
			m.len[m.n] = i - start;
			m.n++;
			j += 2;
			continue;
		}
		if (i >= n || path[i] != pattern[j])
			return false;
		i++;
		j++;
	}
	if (i != n)
		return false;
	for (size_t k = m.n; k < ARRAY_SIZE(m.seg); k++) {
		m.seg[k] = NULL;
		m.len[k] = 0;
	}
	if (ret)
		*ret = m;
	return true;
}

static int segment_decode(const char *s, size_t n, bool no_slash, char *out, size_t cap)
{
	long len = decode(s, n, false, no_slash, NULL);

	if (len < 0)
		return ST_EINVAL;
	if ((size_t)len >= cap || len > INT_MAX)
		return ST_ELIMIT;
	decode(s, n, false, no_slash, out);
	out[len] = 0;
	return (int)len;
}

int path_decode(const char *s, size_t n, char *out, size_t cap)
{
	return segment_decode(s, n, true, out, cap);
}

int path_decode_value(const char *s, size_t n, char *out, size_t cap)
{
	/* A raw '/' cannot be inside a captured segment; only %2F gets here. */
	return segment_decode(s, n, false, out, cap);
}

/* --- Authorization ------------------------------------------------------ */

static bool is_token68(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool http_bearer(const char *hdr, size_t n, const char **tok, size_t *tok_len)
{
	static const char scheme[] = "bearer";
	size_t i, start, end;

	if (!hdr)
		return false;
	while (n && (hdr[n - 1] == ' ' || hdr[n - 1] == '\t'))
		n--;
	for (i = 0; i < n && (hdr[i] == ' ' || hdr[i] == '\t'); i++)
		;
	for (size_t k = 0; k < sizeof(scheme) - 1; k++, i++) {
		char c = i < n ? hdr[i] : 0;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[k])
			return false;
	}
	if (i >= n || hdr[i] != ' ')
		return false;
	while (i < n && hdr[i] == ' ')
		i++;
	start = i;
	while (i < n && is_token68(hdr[i]))
		i++;
	if (i == start)
		return false;
	while (i < n && hdr[i] == '=')
		i++;
	end = i;
	if (end != n)
		return false;
	*tok = hdr + start;
	*tok_len = end - start;
	return true;
}

