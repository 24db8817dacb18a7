/*
 * body.c - the framing of POST /v1/events bodies (see body.h).
 *
 * Invariants kept by the iterator:
 *  - bi_pos only grows and never passes bi_n; bi_line is the 1-based line
 *    of bi_pos (every byte passed over is looked at for LF exactly once);
 *  - items are returned in body order and do not overlap;
 *  - once an error is returned the iterator is in S_ERROR and returns that
 *    error again on every call (a caller cannot skip past bad framing).
 *
 * Speed: NDJSON is memchr per line plus a look at the line's first bytes.
 * The JSON array scan is one pass over every byte of the body with two
 * 256-entry class tables (outside and inside strings), so ordinary bytes
 * cost one load and one compare.
 */
#include "ingest/body.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

enum {
	S_START,         /* nothing read yet */
	S_ARRAY_FIRST,   /* after '[': an event or ']' */
	S_ARRAY_NEXT,    /* after an event: ',' or ']' */
	S_AFTER,         /* the top-level value is complete: only whitespace */
	S_DONE,
	S_ERROR,
};

/* Outside strings, inside an event. */
enum { F_OTHER = 0, F_NL, F_QUOTE, F_OPEN, F_CLOSE };
/* Inside strings. */
enum { Q_OTHER = 0, Q_NL, Q_QUOTE, Q_ESC };

static const uint8_t frame_class[256] = {
	['\n'] = F_NL, ['"'] = F_QUOTE,
	['{'] = F_OPEN, ['['] = F_OPEN, ['}'] = F_CLOSE, [']'] = F_CLOSE,
};

static const uint8_t string_class[256] = {
	['\n'] = Q_NL, ['"'] = Q_QUOTE, ['\\'] = Q_ESC,
};

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Text for a byte found where something else was expected. */
static const char *show(uint8_t c, char tmp[16])
{
	if (c >= 0x21 && c < 0x7f)
		snprintf(tmp, 16, "'%c'", c);
	else
		snprintf(tmp, 16, "byte 0x%02X", c);
	return tmp;
}

/* Records the error at offset/line, makes it sticky, and returns code. */
__attribute__((format(printf, 5, 6)))
static int fail(struct body_iter *it, int code, size_t offset, size_t line,
		const char *fmt, ...)
{
	va_list ap;

	it->bi_err.offset = offset;
	it->bi_err.line = line;
	va_start(ap, fmt);
	vsnprintf(it->bi_err.msg, sizeof(it->bi_err.msg), fmt, ap);
	va_end(ap);
	it->bi_state = S_ERROR;
	it->bi_code = code;
	return code;
}

static void skip_ws(struct body_iter *it)
{
	const uint8_t *p = it->bi_p;
	size_t i = it->bi_pos, n = it->bi_n, line = it->bi_line;

	for (; i < n && is_ws(p[i]); i++)
		line += p[i] == '\n';
	it->bi_pos = i;
	it->bi_line = line;
}

/* The event about to be returned would exceed max_events. */
static bool over_limit(const struct body_iter *it)
{
	return it->bi_max && it->bi_index >= it->bi_max;
}

static int limit_error(struct body_iter *it, size_t offset, size_t line)
{
	return fail(it, ST_ELIMIT, offset, line,
		    "more than %zu events in one request (the limit is %zu)",
		    it->bi_max, it->bi_max);
}

/*
 * Finds the end of the event object that starts at bi_pos ('{') and fills
 * *ret with it; bi_pos moves past its '}'. Returns 1 or an error.
 */
static int scan_event(struct body_iter *it, struct body_item *ret)
{
	const uint8_t *p = it->bi_p;
	size_t n = it->bi_n, start = it->bi_pos, line = it->bi_line;
	size_t i = start + 1, depth = 1;

	if (over_limit(it))
		return limit_error(it, start, line);
	for (;;) {
		while (i < n && likely(frame_class[p[i]] == F_OTHER))
			i++;
		if (i >= n)
			return fail(it, ST_EINVAL, n, line,
				    "unexpected end of body, expected '}' to close event %zu "
				    "(starts at byte %zu, line %zu)", it->bi_index, start, it->bi_line);
		switch (frame_class[p[i]]) {
		case F_NL:
			line++;
			i++;
			break;
		case F_QUOTE: {
			size_t sq = i, sline = line;
			i++;
			for (;;) {
				while (i < n && likely(string_class[p[i]] == Q_OTHER))
					i++;
				if (i >= n)
					return fail(it, ST_EINVAL, n, line,
						    "unexpected end of body, expected '\"' to close the string "
						    "that starts at byte %zu (line %zu) in event %zu",
						    sq, sline, it->bi_index);
				uint8_t k = string_class[p[i]];
				if (k == Q_QUOTE) {
					i++;
					break;
				}
				if (k == Q_ESC) {
					i++;
					if (i >= n)
						continue;   /* reported above */
				}
				/* Q_NL, or the byte after a backslash (which may be LF). */
				line += p[i] == '\n';
				i++;
			}
			break;
		}
		case F_OPEN:
			if (depth >= BODY_MAX_DEPTH)
				return fail(it, ST_ELIMIT, i, line,
					    "event %zu nests deeper than %d levels (the framing limit)",
					    it->bi_index, BODY_MAX_DEPTH);
			depth++;
			i++;
			break;
		default:   /* F_CLOSE */
			if (--depth > 0) {
				i++;
				break;
			}
			if (p[i] != '}')
				return fail(it, ST_EINVAL, i, line,
					    "expected '}' to close event %zu (starts at byte %zu), found ']'",
					    it->bi_index, start);
			i++;
			ret->p = p + start;
			ret->len = i - start;
			ret->index = it->bi_index++;
			ret->line = it->bi_line;
			ret->offset = start;
			it->bi_pos = i;
			it->bi_line = line;
			return 1;
		}
	}
}

/* An array element must be an object; here it is not (or is missing). */
static int not_an_event(struct body_iter *it, bool after_comma)
{
	char tmp[16];
	size_t i = it->bi_pos;

	if (i >= it->bi_n)
		return fail(it, ST_EINVAL, i, it->bi_line,
			    "unexpected end of body, expected event %zu (an object) %s",
			    it->bi_index, after_comma ? "after ','" : "or ']'");
	if (after_comma && it->bi_p[i] == ']')
		return fail(it, ST_EINVAL, i, it->bi_line,
			    "expected event %zu (an object) after ',', found ']' (a trailing comma)",
			    it->bi_index);
	return fail(it, ST_EINVAL, i, it->bi_line,
		    "event %zu: expected a JSON object, found %s", it->bi_index,
		    show(it->bi_p[i], tmp));
}

static int next_json(struct body_iter *it, struct body_item *ret)
{
	char tmp[16];

	for (;;) {
		skip_ws(it);
		size_t i = it->bi_pos;
		bool end = i >= it->bi_n;
		uint8_t c = end ? 0 : it->bi_p[i];

		switch (it->bi_state) {
		case S_START:
			if (end)
				return fail(it, ST_EINVAL, i, it->bi_line,
					    "unexpected end of body, expected a JSON object or an "
					    "array of objects");
			if (c == '{') {
				it->bi_state = S_AFTER;
				return scan_event(it, ret);
			}
			if (c != '[')
				return fail(it, ST_EINVAL, i, it->bi_line,
					    "expected a JSON object or an array of objects, found %s%s",
					    show(c, tmp), c == 0xEF ? " (a byte order mark?)" : "");
			it->bi_open = i;
			it->bi_pos++;
			it->bi_state = S_ARRAY_FIRST;
			break;
		case S_ARRAY_FIRST:
			if (!end && c == ']') {
				it->bi_pos++;
				it->bi_state = S_AFTER;
				break;
			}
			if (end || c != '{')
				return not_an_event(it, false);
			it->bi_state = S_ARRAY_NEXT;
			return scan_event(it, ret);
		case S_ARRAY_NEXT:
			if (end)
				return fail(it, ST_EINVAL, i, it->bi_line,
					    "unexpected end of body, expected ',' or ']' after event %zu "
					    "(the array starts at byte %zu)", it->bi_index - 1, it->bi_open);
			if (c == ']') {
				it->bi_pos++;
				it->bi_state = S_AFTER;
				break;
			}
			if (c != ',')
				return fail(it, ST_EINVAL, i, it->bi_line,
					    "expected ',' or ']' after event %zu, found %s",
					    it->bi_index - 1, show(c, tmp));
			it->bi_pos++;
			skip_ws(it);
			if (it->bi_pos >= it->bi_n || it->bi_p[it->bi_pos] != '{')
				return not_an_event(it, true);
			return scan_event(it, ret);
		case S_AFTER:
			if (!end)
				return fail(it, ST_EINVAL, i, it->bi_line,
					    "expected the end of the body after the JSON value, found %s",
					    show(c, tmp));
			it->bi_state = S_DONE;
			return 0;
		default:
			return 0;
		}
	}
}

static int next_ndjson(struct body_iter *it, struct body_item *ret)
{
	const uint8_t *p = it->bi_p;
	size_t n = it->bi_n;

	while (it->bi_pos < n) {
		size_t start = it->bi_pos, line = it->bi_line, end, len, j;
		const uint8_t *nl = memchr(p + start, '\n', n - start);

		if (nl) {
			end = (size_t)(nl - p);
			it->bi_pos = end + 1;
			it->bi_line++;
		} else {
			end = n;
			it->bi_pos = n;
		}
		len = end - start;
		if (len && p[end - 1] == '\r')
			len--;
		for (j = 0; j < len && (p[start + j] == ' ' || p[start + j] == '\t' ||
					p[start + j] == '\r'); j++)
			;
		if (j == len)
			continue;   /* blank */
		if (over_limit(it))
			return limit_error(it, start, line);
		ret->p = p + start;
		ret->len = len;
		ret->index = it->bi_index++;
		ret->line = line;
		ret->offset = start;
		return 1;
	}
	it->bi_state = S_DONE;
	return 0;
}

void body_iter_init(struct body_iter *it, const uint8_t *p, size_t n,
		    enum body_kind k, size_t max_events)
{
	memset(it, 0, sizeof(*it));
	it->bi_p = p;
	it->bi_n = p ? n : 0;
	it->bi_line = 1;
	it->bi_max = max_events;
	it->bi_kind = k;
	it->bi_state = S_START;
}

int body_iter_next(struct body_iter *it, struct body_item *ret, struct body_error *err)
{
	struct body_item item;
	int rc;

	if (it->bi_state == S_ERROR)
		rc = it->bi_code;
	else if (it->bi_state == S_DONE)
		rc = 0;
	else if (it->bi_kind == BODY_NDJSON)
		rc = next_ndjson(it, &item);
	else
		rc = next_json(it, &item);
	if (rc == 1)
		*ret = item;
	else if (rc < 0 && err)
		*err = it->bi_err;
	return rc;
}

long body_count(const uint8_t *p, size_t n, enum body_kind k, size_t max_events,
		struct body_error *err)
{
	struct body_iter it;
	struct body_item item;
	long count = 0;
	int rc;

	body_iter_init(&it, p, n, k, max_events);
	while ((rc = body_iter_next(&it, &item, err)) == 1)
		count++;
	return rc < 0 ? rc : count;
}

void body_error_format(const struct body_error *e, char *out, size_t cap)
{
	if (cap)
		snprintf(out, cap, "line %zu, byte %zu: %s", e->line, e->offset, e->msg);
}

/* --- Content-Type -------------------------------------------------------- */

static const struct {
	const char *name;
	enum body_kind kind;
} media_types[] = {
	{ "application/json", BODY_JSON },
	{ "application/x-ndjson", BODY_NDJSON },
	{ "application/ndjson", BODY_NDJSON },
	{ "application/jsonl", BODY_NDJSON },
};

#define ACCEPTED_TYPES "application/json, or one event per line: application/x-ndjson " \
	"(also application/ndjson, application/jsonl)"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i]; i++)
		if (lower(s[i]) != lit[i])
			return false;
	return i == n && lit[i] == 0;
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Printable copy of s[0..n) for a message: at most 60 bytes, others as '?'. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0, keep = n > 60 ? 60 : n;

	for (i = 0; i < keep && o + 1 < cap; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	if (keep < n && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (cap)
		out[o] = 0;
}


/*
 * Parameters after the media type: *( OWS ";" OWS [ name "=" value ] )
 * with value a token or a quoted-string. Returns 0 or ST_EINVAL.
 */
static int check_params(const char *s, size_t n, const char *all, size_t alln,
			char *err, size_t errcap)
{
	char shown[80];
	size_t i = 0;

	printable(all, alln, shown, sizeof(shown));
	while (i < n) {
		while (i < n && is_ows(s[i]))
			i++;
		if (i == n)
			break;
		if (s[i] != ';')
			return st_fail(err, errcap, "malformed Content-Type \"%s\": expected ';' "
				       "before a parameter", shown);
		i++;
		while (i < n && is_ows(s[i]))
			i++;
		if (i == n || s[i] == ';')
			continue;   /* empty parameter */
		size_t name = i;
		while (i < n && is_tchar(s[i]))
			i++;
		size_t name_len = i - name;
		if (name_len == 0 || i == n || s[i] != '=')
			return st_fail(err, errcap, "malformed Content-Type \"%s\": expected "
				       "a parameter name=value", shown);
		i++;
		size_t val = i, val_len;
		bool quoted = i < n && s[i] == '"';
		if (quoted) {
			/* Only the charset value is compared, and its names have
			 * no quoted-pairs, so a backslash is kept as it is. */
			val = ++i;
			while (i < n && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			if (i == n)
				return st_fail(err, errcap, "malformed Content-Type \"%s\": "
					       "unterminated quoted parameter value", shown);
			val_len = i - val;
			i++;
		} else {
			while (i < n && is_tchar(s[i]))
				i++;
			val_len = i - val;
			if (val_len == 0)
				return st_fail(err, errcap, "malformed Content-Type \"%s\": empty "
					       "parameter value", shown);
		}
		if (eq_nocase(s + name, name_len, "charset") &&
		    !eq_nocase(s + val, val_len, "utf-8")) {
			char cs[80];
			printable(s + val, val_len, cs, sizeof(cs));
			return st_fail(err, errcap, "unsupported charset \"%s\" in Content-Type; "
				       "events must be UTF-8 (charset=utf-8 or none)", cs);
		}
	}
	return 0;
}

int body_kind_parse(const char *content_type, size_t n, enum body_kind *ret,
		    char *err, size_t errcap)
{
	const char *s = content_type;
	char shown[80];
	size_t t, i;

	if (!s)
		return st_fail(err, errcap, "missing Content-Type; expected " ACCEPTED_TYPES);
	while (n && is_ows(s[n - 1]))
		n--;
	while (n && is_ows(*s)) {
		s++;
		n--;
	}
	for (t = 0; t < n && s[t] != ';' && !is_ows(s[t]); t++)
		;
	for (i = 0; i < ARRAY_SIZE(media_types); i++) {
		if (eq_nocase(s, t, media_types[i].name)) {
			int rc = check_params(s + t, n - t, s, n, err, errcap);
			if (rc < 0)
				return rc;
			*ret = media_types[i].kind;
			return 0;
		}
	}
	printable(s, t, shown, sizeof(shown));
	if (eq_nocase(s, t, "application/json-seq"))
		return st_fail(err, errcap, "unsupported Content-Type \"%s\" (RFC 7464 record "
			       "separators); expected " ACCEPTED_TYPES, shown);
	return st_fail(err, errcap, "unsupported Content-Type \"%s\"; expected " ACCEPTED_TYPES,
		       shown);
}
