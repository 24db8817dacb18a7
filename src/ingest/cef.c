/*
 * cef.c - CEF and LEEF parsing (the formats are in cef.h).
 *
 * Invariants: every slice lies inside the input; a value's end is found
 * without decoding it (escapes are skipped two bytes at a time), so the
 * parse is one pass plus, at each space of a CEF value, a look-ahead over
 * at most CEF_KEY_MAX + 1 bytes for "key=".
 */
#include "ingest/cef.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

bool cef_detect(const uint8_t *p, size_t n)
{
	return (n >= 4 && !memcmp(p, "CEF:", 4)) || (n >= 5 && !memcmp(p, "LEEF:", 5));
}

static int fail(struct cef_error *err, size_t at, const char *msg)
{
	if (err) {
		err->offset = at;
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
	}
	return ST_EINVAL;
}

static bool key_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '[' || c == ']' || c == '-';
}

/* One header field from *i to the next unescaped '|'. */
static bool header_field(const uint8_t *p, size_t n, size_t *i, struct cef_str *out, bool esc)
{
	size_t s = *i;
	bool escaped = false;
	while (*i < n && p[*i] != '|') {
		if (esc && p[*i] == '\\' && *i + 1 < n) {
			escaped = true;
			(*i)++;
		}
		(*i)++;
	}
	if (*i >= n)
		return false;
	*out = (struct cef_str){ p + s, *i - s, escaped };
	(*i)++;
	return true;
}

/* At p[j] == ' ': does "key=" follow? */
static bool key_follows(const uint8_t *p, size_t n, size_t j)
{
	size_t k = j + 1;
	while (k < n && k - j - 1 <= CEF_KEY_MAX && key_char(p[k]))
		k++;
	return k > j + 1 && k < n && p[k] == '=' && k - j - 1 <= CEF_KEY_MAX;
}

static void push(struct cef_msg *m, struct cef_str k, struct cef_str v)
{
	if (m->next < CEF_EXT_MAX)
		m->ext[m->next++] = (struct cef_pair){ k, v };
	else
		m->dropped++;
}

static int cef_ext(const uint8_t *p, size_t n, size_t i, struct cef_msg *m, struct cef_error *err)
{
	while (i < n) {
		while (i < n && p[i] == ' ')
			i++;
		if (i == n)
			break;
		size_t ks = i;
		while (i < n && key_char(p[i]) && i - ks <= CEF_KEY_MAX)
			i++;
		if (i == ks || i - ks > CEF_KEY_MAX || i >= n || p[i] != '=')
			return fail(err, i, "CEF extension: expected key=value (key of 1..63 [A-Za-z0-9_.[]-])");
		struct cef_str k = { p + ks, i - ks, false };
		size_t vs = ++i;
		bool escaped = false;
		while (i < n) {
			if (p[i] == '\\' && i + 1 < n) {
				escaped = true;
				i += 2;
				continue;
			}
			if (p[i] == ' ' && key_follows(p, n, i))
				break;
			i++;
		}
		size_t ve = i;
		while (ve > vs && p[ve - 1] == ' ')
			ve--;
		push(m, k, (struct cef_str){ p + vs, ve - vs, escaped });
	}
	return 0;
}

static int leef_ext(const uint8_t *p, size_t n, size_t i, struct cef_msg *m)
{
	while (i < n) {
		const uint8_t *d = memchr(p + i, m->delim, n - i);
		size_t e = d ? (size_t)(d - p) : n;
		const uint8_t *eq = memchr(p + i, '=', e - i);
		if (eq && eq > p + i) {
			size_t ks = i, ke = (size_t)(eq - p);
			while (ks < ke && (p[ks] == ' ' || p[ks] == '\t'))
				ks++;
			/* a key of key characters only: two keys that differ in
			 * invalid bytes would be one JSON key once those become
			 * U+FFFD (found by fuzz_cef) */
			bool ok = ke > ks && ke - ks <= CEF_KEY_MAX;
			for (size_t k = ks; ok && k < ke; k++)
				ok = key_char(p[k]);
			if (ok)
				push(m, (struct cef_str){ p + ks, ke - ks, false },
				     (struct cef_str){ eq + 1, e - (ke + 1), false });
			else
				m->dropped++;
		}
		i = e + (d != NULL);
	}
	return 0;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cef_parse(const uint8_t *p, size_t n, struct cef_msg *m, struct cef_error *err)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	if (n >= 4 && !memcmp(p, "CEF:", 4)) {
		struct cef_str *h[7] = { &m->version, &m->vendor, &m->product, &m->dev_version,
					 &m->sig_id, &m->name, &m->severity };
		m->kind = CEF_CEF;
		i = 4;
		for (int k = 0; k < 7; k++)
			if (!header_field(p, n, &i, h[k], true))
				return fail(err, i, "CEF header: expected 7 fields separated by |");
		if (m->version.len == 0)
			return fail(err, 4, "CEF header: the version is empty");
		return cef_ext(p, n, i, m, err);
	}
	if (n >= 5 && !memcmp(p, "LEEF:", 5)) {
		struct cef_str *h[5] = { &m->version, &m->vendor, &m->product, &m->dev_version,
					 &m->sig_id };
		m->kind = CEF_LEEF;
		m->delim = '\t';
		i = 5;
		for (int k = 0; k < 5; k++)
			if (!header_field(p, n, &i, h[k], false))
				return fail(err, i, "LEEF header: expected 5 fields separated by |");
		if (m->version.len >= 1 && m->version.p[0] == '2') {
			/* the delimiter field, unless it is missing (an '=' before the next '|') */
			const uint8_t *bar = memchr(p + i, '|', n - i);
			const uint8_t *eq = memchr(p + i, '=', n - i);
			if (bar && (!eq || bar < eq)) {
				size_t ds = i, dl = (size_t)(bar - (p + i));
				if (dl == 1) {
					m->delim = p[ds];
				} else if (dl >= 3 && (p[ds] == 'x' || (p[ds] == '0' && p[ds + 1] == 'x'))) {
					size_t hs = ds + (p[ds] == 'x' ? 1 : 2);
					if (ds + dl - hs != 2 || hexval(p[hs]) < 0 || hexval(p[hs + 1]) < 0)
						return fail(err, ds, "LEEF 2.0: expected a delimiter character or xHH");
					m->delim = (uint8_t)(hexval(p[hs]) * 16 + hexval(p[hs + 1]));
				} else if (dl != 0) {
					return fail(err, ds, "LEEF 2.0: expected a delimiter character or xHH");
				}
				i = (size_t)(bar - p) + 1;
			}
		}
		if (m->delim == '=')
			return fail(err, i, "LEEF: \"=\" cannot be the delimiter");
		return leef_ext(p, n, i, m);
	}
	return fail(err, 0, "expected CEF: or LEEF:");
}

size_t cef_decode(const struct cef_str *s, bool ext, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < s->len; i++) {
		uint8_t c = s->p[i];
		if (c == '\\' && i + 1 < s->len) {
			uint8_t nx = s->p[i + 1];
			if (nx == '\\' || nx == '|' || (ext && nx == '=')) {
				out[o++] = nx;
				i++;
				continue;
			}
			if (ext && (nx == 'n' || nx == 'r')) {
				out[o++] = nx == 'n' ? '\n' : '\r';
				i++;
				continue;
			}
		}
		out[o++] = c;
	}
	return o;
}

const struct cef_str *cef_get(const struct cef_msg *m, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < m->next; i++)
		if (m->ext[i].key.len == kl && !memcmp(m->ext[i].key.p, key, kl))
			return &m->ext[i].value;
	return NULL;
}
