/*
 * syslog.c - syslog framing (RFC 6587) and message parsing (RFC 5424,
 * RFC 3164 best effort); the contract is in syslog.h.
 *
 * Invariants:
 *  1. The framer's offset is the stream offset of the first byte of p on
 *     every call; every byte it reports consumed advances it by one, so
 *     a refused frame is named by where it began in the stream.
 *  2. A refused frame never moves the stream out of step: an octet frame
 *     is skipped by its exact count, a newline frame to its LF.
 *  3. The parser reads only p[0..n) and writes only *m and *err; every
 *     slice it returns lies inside p[0..n).
 */
#include "ingest/syslog.h"

#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/util.h"

/* ---- framing -------------------------------------------------------------- */

#define COUNT_DIGITS_MAX 10

void syslog_framer_init(struct syslog_framer *f, size_t max_frame)
{
	memset(f, 0, sizeof(*f));
	f->sf_max = max_frame < SYSLOG_MAX_FRAME_MIN ? SYSLOG_MAX_FRAME_MIN : max_frame;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Blank bytes between frames: LF, CR and NUL (some senders end frames
 * with NUL). */
static bool is_gap(uint8_t c)
{
	return c == '\n' || c == '\r' || c == 0;
}

int syslog_frame_next(struct syslog_framer *f, const uint8_t *p, size_t n, size_t *consumed,
		      struct syslog_frame *ret)
{
	size_t i = 0;

	for (;;) {
		if (f->sf_skip) {
			size_t k = n - i < f->sf_skip ? n - i : (size_t)f->sf_skip;
			i += k;
			f->sf_skip -= k;
			f->sf_offset += k;
			if (f->sf_skip)
				break;
			continue;
		}
		if (f->sf_skip_nl) {
			const uint8_t *nl = i < n ? memchr(p + i, '\n', n - i) : NULL;
			size_t k = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
			i += k;
			f->sf_offset += k;
			if (!nl)
				break;
			f->sf_skip_nl = false;
			continue;
		}
		while (i < n && is_gap(p[i])) {
			i++;
			f->sf_offset++;
		}
		if (i == n)
			break;
		/* octet counting: NONZERO-DIGIT *DIGIT SP */
		size_t d = 0;
		while (i + d < n && d <= COUNT_DIGITS_MAX && is_digit(p[i + d]))
			d++;
		if (d && d <= COUNT_DIGITS_MAX && p[i] != '0') {
			if (i + d == n)
				break;   /* the digit run may go on */
			if (p[i + d] == ' ') {
				uint64_t len = 0;
				for (size_t k = 0; k < d; k++)
					len = len * 10 + (uint64_t)(p[i + k] - '0');
				memset(ret, 0, sizeof(*ret));
				ret->offset = f->sf_offset;
				ret->framing = SYSLOG_FRAMING_OCTET;
				if (len > f->sf_max) {
					ret->error = SYSLOG_FRAME_OVERSIZED;
					ret->skipped = d + 1 + len;
					i += d + 1;
					f->sf_offset += d + 1;
					f->sf_skip = len;
					*consumed = i;
					return 1;
				}
				if (n - (i + d + 1) < len)
					break;
				ret->p = p + i + d + 1;
				ret->len = (size_t)len;
				i += d + 1 + (size_t)len;
				f->sf_offset += d + 1 + len;
				*consumed = i;
				return 1;
			}
		}
		/* newline framing: up to max_frame bytes, a CR, then LF */
		size_t avail = n - i, lim = avail < f->sf_max + 2 ? avail : f->sf_max + 2;
		const uint8_t *nl = memchr(p + i, '\n', lim);
		memset(ret, 0, sizeof(*ret));
		ret->offset = f->sf_offset;
		ret->framing = SYSLOG_FRAMING_NEWLINE;
		if (!nl) {
			if (avail < f->sf_max + 2)
				break;
			ret->error = SYSLOG_FRAME_OVERSIZED;
			ret->skipped = lim;
			i += lim;
			f->sf_offset += lim;
			f->sf_skip_nl = true;
			*consumed = i;
			return 1;
		}
		size_t k = (size_t)(nl - (p + i)), len = k;
		if (len && p[i + len - 1] == '\r')
			len--;
		if (len > f->sf_max) {
			ret->error = SYSLOG_FRAME_OVERSIZED;
			ret->skipped = k + 1;
		} else {
			ret->p = p + i;
			ret->len = len;
		}
		i += k + 1;
		f->sf_offset += k + 1;
		*consumed = i;
		return 1;
	}
	*consumed = i;
	return 0;
}

int syslog_frame_last(struct syslog_framer *f, const uint8_t *p, size_t n,
		      struct syslog_frame *ret)
{
	size_t i = 0;

	if (f->sf_skip || f->sf_skip_nl) {
		f->sf_offset += n;
		return 0;
	}
	while (i < n && is_gap(p[i]))
		i++;
	f->sf_offset += i;
	if (i == n)
		return 0;
	memset(ret, 0, sizeof(*ret));
	ret->offset = f->sf_offset;
	size_t d = 0;
	while (i + d < n && d <= COUNT_DIGITS_MAX && is_digit(p[i + d]))
		d++;
	f->sf_offset += n - i;
	if (d && d <= COUNT_DIGITS_MAX && p[i] != '0' && (i + d == n || p[i + d] == ' ')) {
		ret->framing = SYSLOG_FRAMING_OCTET;
		ret->error = SYSLOG_FRAME_TRUNCATED;
		ret->skipped = n - i;
		return 1;
	}
	ret->framing = SYSLOG_FRAMING_NEWLINE;
	size_t len = n - i;
	while (len && is_gap(p[i + len - 1]))
		len--;
	if (len > f->sf_max) {
		ret->error = SYSLOG_FRAME_OVERSIZED;
		ret->skipped = n - i;
		return 1;
	}
	ret->p = p + i;
	ret->len = len;
	return 1;
}

/* ---- parsing ---------------------------------------------------------------- */

static const char *const facilities[24] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};
static const char *const severities[8] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

const char *syslog_facility_name(unsigned f)
{
	return f < 24 ? facilities[f] : "?";
}

const char *syslog_severity_name(unsigned s)
{
	return s < 8 ? severities[s] : "?";
}

struct rd {
	const uint8_t *p;
	size_t n, i;
	struct syslog_error *err;
};

static int fail(struct rd *r, size_t at, const char *msg)
{
	if (r->err) {
		r->err->offset = at;
		snprintf(r->err->msg, sizeof(r->err->msg), "%s", msg);
	}
	return ST_EINVAL;
}

static bool printusascii(uint8_t c)
{
	return c >= 33 && c <= 126;
}

/* A header field: NILVALUE or 1..max PRINTUSASCII, then SP. */
static int field(struct rd *r, size_t max, struct syslog_slice *out, const char *what)
{
	char msg[120];
	size_t s = r->i;
	while (r->i < r->n && printusascii(r->p[r->i]))
		r->i++;
	size_t len = r->i - s;
	if (len == 0) {
		snprintf(msg, sizeof(msg), "%s: expected 1..%zu printable US-ASCII characters or \"-\"",
			 what, max);
		return fail(r, s, msg);
	}
	if (len > max) {
		snprintf(msg, sizeof(msg), "%s: %zu bytes, at most %zu", what, len, max);
		return fail(r, s, msg);
	}
	if (r->i >= r->n || r->p[r->i] != ' ') {
		snprintf(msg, sizeof(msg), "%s: expected a space after it", what);
		return fail(r, r->i, msg);
	}
	r->i++;
	if (len == 1 && r->p[s] == '-')
		*out = (struct syslog_slice){ NULL, 0 };
	else
		*out = (struct syslog_slice){ r->p + s, len };
	return 0;
}

static bool sd_name_char(uint8_t c)
{
	return printusascii(c) && c != '=' && c != ']' && c != '"';
}

static int sd_name(struct rd *r, struct syslog_slice *out, const char *what)
{
	char msg[120];
	size_t s = r->i;
	while (r->i < r->n && sd_name_char(r->p[r->i]))
		r->i++;
	size_t len = r->i - s;
	if (len == 0 || len > 32) {
		snprintf(msg, sizeof(msg), "%s: expected 1..32 printable characters other than = ] \" and space",
			 what);
		return fail(r, s, msg);
	}
	*out = (struct syslog_slice){ r->p + s, len };
	return 0;
}

static int structured_data(struct rd *r, struct syslog_msg *m)
{
	int rc;
	if (r->i < r->n && r->p[r->i] == '-') {
		r->i++;
		return 0;
	}
	if (r->i >= r->n || r->p[r->i] != '[')
		return fail(r, r->i, "STRUCTURED-DATA: expected \"-\" or \"[\"");
	while (r->i < r->n && r->p[r->i] == '[') {
		struct syslog_slice id;
		r->i++;
		if ((rc = sd_name(r, &id, "SD-ID")) < 0)
			return rc;
		bool keep = m->nsd < SYSLOG_SD_ELEMENTS_MAX;
		struct syslog_sd *e = keep ? &m->sd[m->nsd] : NULL;
		if (keep) {
			e->id = id;
			e->first = (uint16_t)m->nparams;
			e->count = 0;
			m->nsd++;
		} else {
			m->sd_dropped++;
		}
		for (;;) {
			if (r->i >= r->n)
				return fail(r, r->i, "SD-ELEMENT: expected \"]\", found the end");
			if (r->p[r->i] == ']') {
				r->i++;
				break;
			}
			if (r->p[r->i] != ' ')
				return fail(r, r->i, "SD-ELEMENT: expected a space or \"]\"");
			r->i++;
			struct syslog_param pa;
			memset(&pa, 0, sizeof(pa));
			if ((rc = sd_name(r, &pa.name, "PARAM-NAME")) < 0)
				return rc;
			if (r->i + 1 >= r->n || r->p[r->i] != '=' || r->p[r->i + 1] != '"')
				return fail(r, r->i, "SD-PARAM: expected =\" after the name");
			r->i += 2;
			size_t s = r->i;
			while (r->i < r->n && r->p[r->i] != '"') {
				if (r->p[r->i] == '\\') {
					pa.escaped = true;
					if (r->i + 1 < r->n)
						r->i++;
				}
				r->i++;
			}
			if (r->i >= r->n)
				return fail(r, s - 1, "PARAM-VALUE: no closing quote");
			pa.value = (struct syslog_slice){ r->p + s, r->i - s };
			r->i++;
			if (keep && m->nparams < SYSLOG_SD_PARAMS_MAX) {
				pa.element = (uint16_t)(m->nsd - 1);
				m->params[m->nparams++] = pa;
				e->count++;
			} else if (keep) {
				m->sd_dropped++;
			}
		}
	}
	return 0;
}

static void set_msg(struct syslog_msg *m, const uint8_t *p, size_t n)
{
	if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
		m->bom = true;
		p += 3;
		n -= 3;
	}
	m->msg = (struct syslog_slice){ p, n };
}

static int parse_5424(struct rd *r, struct syslog_msg *m)
{
	int rc;
	m->format = SYSLOG_5424;
	r->i += 2;   /* "1 " */
	struct syslog_slice ts;
	size_t ts_at = r->i;
	if ((rc = field(r, 32, &ts, "TIMESTAMP")) < 0)
		return rc;
	if (ts.p) {
		if (!rfc3339_parse((const char *)ts.p, ts.len, &m->time_ns))
			return fail(r, ts_at, "TIMESTAMP: expected an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))");
		m->time_valid = true;
	}
	m->timestamp = ts;
	if ((rc = field(r, 255, &m->hostname, "HOSTNAME")) < 0 ||
	    (rc = field(r, 48, &m->app, "APP-NAME")) < 0 ||
	    (rc = field(r, 128, &m->procid, "PROCID")) < 0 ||
	    (rc = field(r, 32, &m->msgid, "MSGID")) < 0 ||
	    (rc = structured_data(r, m)) < 0)
		return rc;
	if (r->i == r->n)
		return 0;
	if (r->p[r->i] != ' ')
		return fail(r, r->i, "expected a space before MSG after STRUCTURED-DATA");
	r->i++;
	set_msg(m, r->p + r->i, r->n - r->i);
	return 0;
}

static int month_of(const uint8_t *p)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int k = 0; k < 12; k++)
		if (!memcmp(p, names + 3 * k, 3))
			return k + 1;
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned mo, unsigned d)
{
	y -= mo <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (mo + (mo > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "Mmm dd hh:mm:ss" (day space-padded or not): UTC, in the year that puts
 * it at most a day after now. */
static bool stamp_3164(const uint8_t *p, size_t n, int64_t now_ns, int64_t *ret)
{
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (n != 15 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':')
		return false;
	int mo = month_of(p);
	if (!mo)
		return false;
	unsigned d = 0;
	if (p[4] == ' ' || p[4] == '0')
		d = 0;
	else if (is_digit(p[4]))
		d = (unsigned)(p[4] - '0');
	else
		return false;
	if (!is_digit(p[5]))
		return false;
	d = d * 10 + (unsigned)(p[5] - '0');
	for (int k = 7; k < 15; k++)
		if (k != 9 && k != 12 && !is_digit(p[k]))
			return false;
	unsigned hh = (unsigned)((p[7] - '0') * 10 + (p[8] - '0'));
	unsigned mi = (unsigned)((p[10] - '0') * 10 + (p[11] - '0'));
	unsigned ss = (unsigned)((p[13] - '0') * 10 + (p[14] - '0'));
	if (d == 0 || d > mdays[mo - 1] || hh > 23 || mi > 59 || ss > 60)
		return false;
	int64_t now_days = now_ns / 86400000000000LL;
	/* the year of now: walk from an estimate */
	int64_t y = 1970 + now_days / 366;
	while (days_from_civil(y + 1, 1, 1) <= now_days)
		y++;
	for (int pass = 0; pass < 2; pass++, y--) {
		if (mo == 2 && d == 29 && !leap(y))
			continue;
		int64_t t = (days_from_civil(y, (unsigned)mo, d) * 86400 + hh * 3600 + mi * 60 +
			     (ss > 59 ? 59 : ss)) * 1000000000LL;
		if (t <= now_ns + 86400000000000LL) {
			*ret = t;
			return true;
		}
	}
	return false;
}

static bool tag_char(uint8_t c)
{
	return printusascii(c) && c != ':' && c != '[' && c != ']';
}

static bool starts_cef(const uint8_t *p, size_t n)
{
	return (n >= 4 && !memcmp(p, "CEF:", 4)) || (n >= 5 && !memcmp(p, "LEEF:", 5));
}

static int parse_3164(struct rd *r, struct syslog_msg *m, int64_t now_ns)
{
	m->format = SYSLOG_3164;
	const uint8_t *p = r->p;
	size_t n = r->n, i = r->i;
	bool have_ts = false;

	if (n - i >= 16 && p[i + 15] == ' ' && stamp_3164(p + i, 15, now_ns, &m->time_ns)) {
		m->timestamp = (struct syslog_slice){ p + i, 15 };
		m->ts_3164 = true;
		m->time_valid = true;
		i += 16;
		have_ts = true;
	} else if (n - i > 19 && is_digit(p[i]) && p[i + 4] == '-' && p[i + 10] == 'T') {
		/* rsyslog's RFC3339 variant of the traditional format */
		const uint8_t *sp = memchr(p + i, ' ', n - i);
		size_t len = sp ? (size_t)(sp - (p + i)) : 0;
		if (sp && len <= 40 && rfc3339_parse((const char *)p + i, len, &m->time_ns)) {
			m->timestamp = (struct syslog_slice){ p + i, len };
			m->time_valid = true;
			i += len + 1;
			have_ts = true;
		}
	}
	if (have_ts && i < n && !starts_cef(p + i, n - i)) {
		/* HOSTNAME, unless the word is already the TAG ("tag:", "tag[") */
		size_t s = i;
		while (i < n && printusascii(p[i]) && p[i] != ':' && p[i] != '[')
			i++;
		if (i < n && p[i] == ' ' && i > s && i - s <= 255) {
			m->hostname = (struct syslog_slice){ p + s, i - s };
			i++;
		} else {
			i = s;
		}
	}
	/* TAG[pid]: */
	if (i < n && !starts_cef(p + i, n - i)) {
		size_t s = i;
		while (i < n && tag_char(p[i]) && i - s < 48)
			i++;
		size_t tl = i - s;
		struct syslog_slice pid = { NULL, 0 };
		if (tl && i < n && p[i] == '[') {
			size_t ps = ++i;
			while (i < n && printusascii(p[i]) && p[i] != ']' && i - ps < 128)
				i++;
			if (i < n && p[i] == ']' && i > ps) {
				pid = (struct syslog_slice){ p + ps, i - ps };
				i++;
			} else {
				tl = 0;
			}
		}
		if (tl && i < n && p[i] == ':') {
			m->app = (struct syslog_slice){ p + s, tl };
			m->procid = pid;
			i++;
			if (i < n && p[i] == ' ')
				i++;
		} else {
			i = s;
		}
	}
	if (i < n)
		set_msg(m, p + i, n - i);
	return 0;
}

int syslog_parse(const uint8_t *p, size_t n, int64_t now_ns, struct syslog_msg *m,
		 struct syslog_error *err)
{
	struct rd r = { p, n, 0, err };

	memset(m, 0, sizeof(*m));
	if (n && p[0] == '<') {
		size_t k = 1;
		unsigned v = 0;
		while (k < n && k <= 3 && is_digit(p[k]))
			v = v * 10 + (unsigned)(p[k++] - '0');
		if (k == 1 || k >= n || p[k] != '>')
			return fail(&r, k, "PRI: expected <0..191>");
		if (v > 191)
			return fail(&r, 1, "PRI: expected a value of 0..191");
		m->facility = v / 8;
		m->severity = v % 8;
		m->pri_given = true;
		r.i = k + 1;
		if (n - r.i >= 2 && is_digit(p[r.i]) && p[r.i + 1] == ' ') {
			if (p[r.i] != '1')
				return fail(&r, r.i, "VERSION: only 1 is defined (RFC 5424)");
			return parse_5424(&r, m);
		}
	} else {
		m->facility = 1;
		m->severity = 5;
	}
	return parse_3164(&r, m, now_ns);
}

size_t syslog_param_decode(struct syslog_slice v, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] == '\\' && i + 1 < v.len &&
		    (v.p[i + 1] == '"' || v.p[i + 1] == '\\' || v.p[i + 1] == ']'))
			i++;
		out[o++] = v.p[i];
	}
	return o;
}
