/*
 * test_syslog.c - tables for the syslog framer and parser
 * (src/ingest/syslog.c), the CEF/LEEF parser (src/ingest/cef.c) and the
 * mapping to events (src/ingest/syslog_map.c). Every mapped line must be
 * an event event_parse accepts.
 */
#include "test.h"

#include <string.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "event/event.h"
#include "ingest/cef.h"
#include "ingest/syslog.h"
#include "ingest/syslog_map.h"

/* 2026-11-29T04:00:00Z */
#define NOW_NS (1795924800LL * 1000000000LL)

/* ---- framing: a stream, fed in chunks of every size, gives these frames ---- */

struct frame_case {
	const char *stream;
	size_t max;
	const char *want;            /* frames joined by '|'; "!O" oversized, "!T" truncated */
};

static const struct frame_case frames[] = {
	{ "5 hello", 480, "hello" },
	{ "5 hello6 world!", 480, "hello|world!" },
	{ "hello\nworld\r\n", 480, "hello|world" },
	{ "\n\n\r\nhello\n", 480, "hello" },
	{ "5 hello\nline two\n3 abc", 480, "hello|line two|abc" },
	{ "12 abc", 480, "12 abc" },                  /* truncated count becomes... see below */
	{ "0 zero\n", 480, "0 zero" },                /* a leading zero is not a count */
	{ "12345678901 x\n", 480, "12345678901 x" },  /* 11 digits: not a count */
	{ "1x y\n", 480, "1x y" },
	{ "600 ", 480, "!O" },
	{ "3 abc", 480, "abc" },
	{ "\0" "3 abc\0", 480, "abc" },
};

static void collect(const uint8_t *p, size_t n, size_t chunk, size_t max, char *out, size_t cap)
{
	struct syslog_framer f;
	uint8_t buf[8192];
	size_t have = 0, fed = 0, o = 0;
	struct syslog_frame fr;

	syslog_framer_init(&f, max);
	out[0] = 0;
	while (fed < n || have) {
		size_t k = n - fed < chunk ? n - fed : chunk;
		memcpy(buf + have, p + fed, k);
		have += k;
		fed += k;
		size_t used;
		int r;
		bool progress = false;
		while ((r = syslog_frame_next(&f, buf, have, &used, &fr)) >= 0) {
			if (r == 1) {
				const char *s = fr.error == SYSLOG_FRAME_OVERSIZED ? "!O" : NULL;
				o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? "|" : "",
						      s ? 2 : (int)fr.len, s ? s : (const char *)fr.p);
			}
			if (used) {
				memmove(buf, buf + used, have - used);
				have -= used;
				progress = true;
			}
			if (r == 0)
				break;
		}
		if (fed == n) {
			if (syslog_frame_last(&f, buf, have, &fr) == 1) {
				const char *s = fr.error == SYSLOG_FRAME_OVERSIZED ? "!O" :
						fr.error == SYSLOG_FRAME_TRUNCATED ? "!T" : NULL;
				o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? "|" : "",
						      s ? 2 : (int)fr.len, s ? s : (const char *)fr.p);
			}
			break;
		}
		(void)progress;
	}
}

static void test_framing(void)
{
	char got[4096];
	for (size_t i = 0; i < ARRAY_SIZE(frames); i++) {
		const struct frame_case *c = &frames[i];
		size_t n = strlen(c->stream);
		if (i == ARRAY_SIZE(frames) - 1)
			n = 7;   /* the NUL case */
		const char *want = c->want;
		if (!strcmp(c->stream, "12 abc"))
			want = "!T";
		for (size_t chunk = 1; chunk <= n; chunk++) {
			collect((const uint8_t *)c->stream, n, chunk, c->max, got, sizeof(got));
			CHECK_MSG(!strcmp(got, want), "case %zu chunk %zu: got \"%s\", want \"%s\"", i, chunk,
				  got, want);
		}
	}

	/* an oversized octet frame in the middle is skipped by its exact
	 * count, an oversized line to its LF; the stream stays in step */
	char big[4096];
	size_t o = 0;
	o += (size_t)snprintf(big + o, sizeof(big) - o, "3 one");
	o += (size_t)snprintf(big + o, sizeof(big) - o, "600 ");
	memset(big + o, 'x', 600);
	memcpy(big + o + 100, "\n3 bad", 6);       /* inside the count: not a frame */
	o += 600;
	o += (size_t)snprintf(big + o, sizeof(big) - o, "3 two");
	memset(big + o, 'y', 700);
	o += 700;
	o += (size_t)snprintf(big + o, sizeof(big) - o, "\nthree\n");
	for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
		collect((const uint8_t *)big, o, chunk, 480, got, sizeof(got));
		CHECK_MSG(!strcmp(got, "one|!O|two|!O|three"), "chunk %zu: %s", chunk, got);
	}

	/* offsets name where each frame began in the stream */
	struct syslog_framer f;
	struct syslog_frame fr;
	size_t used;
	const char *s = "3 abc\nxyz\n";
	syslog_framer_init(&f, 480);
	CHECK(syslog_frame_next(&f, (const uint8_t *)s, 10, &used, &fr) == 1 && fr.offset == 0 && used == 5);
	CHECK(syslog_frame_next(&f, (const uint8_t *)s + 5, 5, &used, &fr) == 1 && fr.offset == 6 &&
	      fr.len == 3 && !memcmp(fr.p, "xyz", 3));
}

/* ---- parsing ---- */

struct parse_case {
	const char *in;
	int rc;
	enum syslog_format fmt;
	unsigned fac, sev;
	const char *host, *app, *procid, *msgid, *msg;   /* NULL: absent */
	size_t nsd;
};

static const struct parse_case parses[] = {
	{ "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed",
	  0, SYSLOG_5424, 4, 2, "mymachine.example.com", "su", NULL, "ID47", "'su root' failed", 0 },
	{ "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
	  0, SYSLOG_5424, 20, 5, "192.0.2.1", "myproc", "8710", NULL, "%% It's time", 0 },
	{ "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
	  "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event",
	  0, SYSLOG_5424, 20, 5, "mymachine.example.com", "evntslog", NULL, "ID47", "An application event", 1 },
	{ "<165>1 2003-10-11T22:14:15.003Z h a - - [a@1 x=\"1\"][b@1 y=\"a\\\"b\\]c\"]", 0, SYSLOG_5424,
	  20, 5, "h", "a", NULL, NULL, NULL, 2 },
	{ "<13>1 - - - - - -", 0, SYSLOG_5424, 1, 5, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", 0, SYSLOG_3164,
	  4, 2, "mymachine", "su", NULL, NULL, "'su root' failed for lonvick on /dev/pts/8", 0 },
	{ "<13>Nov  3 01:02:03 host sshd[123]: Accepted", 0, SYSLOG_3164, 1, 5, "host", "sshd", "123",
	  NULL, "Accepted", 0 },
	{ "<13>Nov  3 01:02:03 sshd[123]: no host", 0, SYSLOG_3164, 1, 5, NULL, "sshd", "123", NULL,
	  "no host", 0 },
	{ "just a line", 0, SYSLOG_3164, 1, 5, NULL, NULL, NULL, NULL, "just a line", 0 },
	{ "<13>Nov  3 01:02:03 fw CEF:0|V|P|1|100|n|5|", 0, SYSLOG_3164, 1, 5, "fw", NULL, NULL, NULL,
	  "CEF:0|V|P|1|100|n|5|", 0 },
	{ "<13>2026-11-28T10:00:00.5+01:00 host app: rsyslog style", 0, SYSLOG_3164, 1, 5, "host", "app",
	  NULL, NULL, "rsyslog style", 0 },
	/* refusals */
	{ "<192>1 - - - - - -", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<1a>x", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>2 - - - - - -", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 2003-13-11T22:14:15Z h a - - -", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 - h a - - [x@1 a=\"1\"", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 - h a - - [x@1 a=\"1]", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 - h a - - x", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 - h a - - -x", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "<13>1 - h a - ThisMsgIdIsLongerThan32Characters! -", ST_EINVAL, 0, 0, 0, NULL, NULL, NULL,
	  NULL, NULL, 0 },
};

static bool slice_is(struct syslog_slice s, const char *want)
{
	if (!want)
		return s.p == NULL;
	return s.p && s.len == strlen(want) && !memcmp(s.p, want, s.len);
}

static void test_parse(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(parses); i++) {
		const struct parse_case *c = &parses[i];
		struct syslog_msg m;
		struct syslog_error e;
		int rc = syslog_parse((const uint8_t *)c->in, strlen(c->in), NOW_NS, &m, &e);
		CHECK_MSG(rc == c->rc, "case %zu: rc %d (%s)", i, rc, rc ? e.msg : "");
		if (rc || c->rc)
			continue;
		CHECK_MSG(m.format == c->fmt && m.facility == c->fac && m.severity == c->sev,
			  "case %zu: format/pri", i);
		CHECK_MSG(slice_is(m.hostname, c->host), "case %zu: host", i);
		CHECK_MSG(slice_is(m.app, c->app), "case %zu: app", i);
		CHECK_MSG(slice_is(m.procid, c->procid), "case %zu: procid", i);
		CHECK_MSG(slice_is(m.msgid, c->msgid), "case %zu: msgid", i);
		CHECK_MSG(slice_is(m.msg, c->msg), "case %zu: msg \"%.*s\"", i, (int)m.msg.len,
			  m.msg.p ? (const char *)m.msg.p : "");
		CHECK_MSG(m.nsd == c->nsd, "case %zu: nsd %zu", i, m.nsd);
	}
	/* the BOM, SD escapes, the 3164 year */
	struct syslog_msg m;
	const char *s = "<165>1 2003-10-11T22:14:15.003Z h a - - [b@1 y=\"a\\\"b\\]c\\d\"] \xEF\xBB\xBFhi";
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 && m.bom && m.nparams == 1);
	uint8_t dec[64];
	size_t dn = syslog_param_decode(m.params[0].value, dec);
	CHECK(dn == 7 && !memcmp(dec, "a\"b]c\\d", 7));
	s = "<13>Dec 31 23:59:59 h t: x";   /* read on 2026-11-29: December 2025 */
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 && m.time_valid);
	char ts[RFC3339_US_LEN + 1];
	rfc3339_format_us(m.time_ns, ts);
	CHECK_MSG(!strcmp(ts, "2025-12-31T23:59:59.000000Z"), "%s", ts);
	s = "<13>Nov 29 05:00:00 h t: x";   /* an hour ahead: this year */
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0);
	rfc3339_format_us(m.time_ns, ts);
	CHECK_MSG(!strcmp(ts, "2026-11-29T05:00:00.000000Z"), "%s", ts);
	s = "<13>Feb 29 00:00:00 h t: x";   /* 2026 and 2025 are not leap years: no time */
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 && !m.time_valid);
	/* more SD than kept: counted */
	char many[4096];
	size_t o = (size_t)snprintf(many, sizeof(many), "<13>1 - h a - - ");
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "[e%d@1 a=\"1\" b=\"2\" c=\"3\" d=\"4\"]", i);
	CHECK(syslog_parse((const uint8_t *)many, o, NOW_NS, &m, NULL) == 0 && m.nsd == SYSLOG_SD_ELEMENTS_MAX &&
	      m.nparams == SYSLOG_SD_PARAMS_MAX && m.sd_dropped == 4);
}

/* ---- CEF / LEEF ---- */

static void test_cef(void)
{
	struct cef_msg m;
	struct cef_error e;
	uint8_t dec[256];
	const char *s = "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.kind == CEF_CEF && m.next == 3);
	CHECK(m.vendor.len == 8 && !memcmp(m.vendor.p, "Security", 8) && m.severity.len == 2);
	CHECK(cef_get(&m, "dst") && cef_get(&m, "dst")->len == 7);

	s = "CEF:0|a\\|b|p\\\\q|1|sig|Name with spaces|Low|msg=hello world a\\=b act=blocked cs1Label=x y\\\\z";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.next == 3);
	size_t n = cef_decode(&m.vendor, false, dec);
	CHECK(n == 3 && !memcmp(dec, "a|b", 3));
	n = cef_decode(&m.product, false, dec);
	CHECK(n == 3 && !memcmp(dec, "p\\q", 3));
	const struct cef_str *v = cef_get(&m, "msg");
	CHECK(v && (n = cef_decode(v, true, dec)) == 15 && !memcmp(dec, "hello world a=b", 15));
	v = cef_get(&m, "cs1Label");
	CHECK(v && (n = cef_decode(v, true, dec)) == 5 && !memcmp(dec, "x y\\z", 5));

	s = "LEEF:1.0|Microsoft|MSExchange|2013|15345|src=10.50.1.1\tdst=2.10.20.20\tusrName=joe";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.kind == CEF_LEEF && m.next == 3 &&
	      m.delim == '\t');
	s = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.delim == '^' && m.next == 3);
	s = "LEEF:2.0|V|P|1|41|x7C|src=1|dst=2";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.delim == '|' && m.next == 2);
	s = "LEEF:2.0|V|P|1|41|0x5E|src=1^dst=2";
	CHECK(cef_parse((const uint8_t *)s, strlen(s), &m, &e) == 0 && m.delim == '^' && m.next == 2);

	static const char *const bad[] = {
		"CEF:0|a|b|c", "CEF:|a|b|c|d|e|f|", "CEF:0|a|b|c|d|e|f|=x", "LEEF:1.0|a|b",
		"LEEF:2.0|a|b|c|d|xZZ|k=v", "nope",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_MSG(cef_parse((const uint8_t *)bad[i], strlen(bad[i]), &m, &e) == ST_EINVAL, "bad %zu", i);
}

/* ---- mapping ---- */

struct map_case {
	const char *in;
	const char *want[8];         /* substrings of the line */
	const char *not[3];
};

static const struct map_case maps[] = {
	{ "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
	  { "{\"time\":\"2003-10-11T22:14:15.003Z\"", "\"action\":\"syslog.su\"",
	    "\"actor\":{\"id\":\"mymachine.example.com\",\"type\":\"host\"}",
	    "\"resource\":{\"type\":\"syslog\",\"id\":\"su\"}", "\"outcome\":\"unknown\"",
	    "\"facility\":\"auth\",\"severity\":\"crit\"", "\"msgid\":\"ID47\"", "\"msg\":\"'su root' failed\"" },
	  { "\"msg\":\"\"", NULL, NULL } },
	{ "<86>1 2026-11-28T10:00:00Z web app 42 login [audit@32473 id=\"evt-1\" actor=\"alice\" "
	  "action=\"user.login\" resource=\"acct-7\" resource_type=\"account\" outcome=\"denied\" reason=\"bad \\\"pw\\\"\"]",
	  { "\"id\":\"evt-1\"", "\"action\":\"user.login\"", "\"actor\":{\"id\":\"alice\"}",
	    "\"resource\":{\"type\":\"account\",\"id\":\"acct-7\"}", "\"outcome\":\"denied\"",
	    "\"reason\":\"bad \\\"pw\\\"\"", "\"sd\":{\"audit@32473\":{\"id\":\"evt-1\"", "\"procid\":\"42\"" },
	  { NULL, NULL, NULL } },
	{ "<13>1 2026-11-28T10:00:00Z h a - - [x@1 p=\"1\" p=\"2\"][x@1 q=\"3\"][y@1 outcome=\"weird\"]",
	  { "\"sd\":{\"x@1\":{\"p\":[\"1\",\"2\"]},\"y@1\":{\"outcome\":\"weird\"}}", NULL },
	  { "\"q\"", NULL, NULL } },
	{ "<13>Oct 11 22:14:15 fw CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|"
	  "src=10.0.0.1 suser=bob dst=2.1.2.2 act=blocked externalId=x-9",
	  { "\"id\":\"cef-security-threatmanager-x-9\"", "\"action\":\"cef.security.threatmanager.blocked\"",
	    "\"actor\":{\"id\":\"bob\",\"type\":\"user\",\"ip\":\"10.0.0.1\"}",
	    "\"resource\":{\"type\":\"host\",\"id\":\"2.1.2.2\"}", "\"outcome\":\"denied\"",
	    "\"reason\":\"worm successfully stopped\"", "\"cef\":{\"version\":\"0\"", "\"ext\":{\"src\":\"10.0.0.1\"" },
	  { "\"msg\":", NULL, NULL } },
	{ "<13>Oct 11 22:14:15 fw CEF:0|V|P|1|sig 9|n|Very-High|",
	  { "\"action\":\"cef.v.p.sig_9\"", "\"outcome\":\"failure\"", "\"resource\":{\"type\":\"device\",\"id\":\"v/p\"}",
	    "\"actor\":{\"id\":\"fw\",\"type\":\"host\"}", "\"time\":\"2026-10-11T22:14:15.000000Z\"", NULL },
	  { NULL, NULL, NULL } },
	{ "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^usrName=carol",
	  { "\"action\":\"leef.lancope.stealthwatch.41\"", "\"actor\":{\"id\":\"carol\",\"type\":\"user\",\"ip\":\"10.0.1.8\"}",
	    "\"leef\":{", "\"time_missing\":true", NULL },
	  { NULL, NULL, NULL } },
	/* regression (fuzz_cef): LEEF keys that differ only in invalid bytes
	 * would be one JSON key; such pairs are dropped */
	{ "LEEF:1.0|V|P|1|41|\xba" "dst=a\t\xb2" "dst=b\tok=1",
	  { "\"ext\":{\"ok\":\"1\"}", NULL },
	  { NULL, NULL, NULL } },
	{ "<13>1 - - - - - - \xff\xfe bytes",
	  { "\"action\":\"syslog.unknown\"", "\"actor\":{\"id\":\"unknown\"", "\"msg\":\"\\ufffd\\ufffd bytes\"", NULL },
	  { NULL, NULL, NULL } },
};

static void test_map(void)
{
	struct syslog_map_rules rules = { .n = 0 };
	struct buf out = BUF_INIT(1u << 20), scratch = BUF_INIT(1u << 20), ev = BUF_INIT(1u << 20);
	struct event_limits lim;
	char why[256];

	event_limits_default(&lim);
	CHECK(syslog_map_rule_add(&rules, "app@1 user actor.id", why, sizeof(why)) == 0);
	CHECK(syslog_map_rule_add(&rules, "app@1 user nosuchfield", why, sizeof(why)) == ST_EINVAL);
	CHECK(syslog_map_rule_add(&rules, "app@1 user", why, sizeof(why)) == ST_EINVAL);
	CHECK(syslog_map_rule_add(&rules, "app=1 user actor.id", why, sizeof(why)) == ST_EINVAL);
	syslog_map_rules_default(&rules);

	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		const struct map_case *c = &maps[i];
		struct syslog_msg m;
		struct syslog_map_error me;
		buf_reset(&out);
		CHECK(syslog_parse((const uint8_t *)c->in, strlen(c->in), NOW_NS, &m, NULL) == 0);
		int r = syslog_map(&m, (const uint8_t *)c->in, &rules, NULL, NOW_NS, 65000, &out, &scratch, &me);
		CHECK_MSG(r == 0, "case %zu: %d", i, r);
		if (r)
			continue;
		CHECK(out.len && out.data[out.len - 1] == '\n');
		struct event_info info;
		struct event_error pe;
		buf_reset(&ev);
		CHECK_MSG(event_parse(out.data, out.len - 1, &lim, &ev, &info, &pe) == 0,
			  "case %zu: event_parse: %s at %zu: %.*s", i, pe.msg, pe.offset, (int)out.len, out.data);
		for (size_t k = 0; k < ARRAY_SIZE(c->want) && c->want[k]; k++)
			CHECK_MSG(memmem(out.data, out.len, c->want[k], strlen(c->want[k])),
				  "case %zu: missing %s in %.*s", i, c->want[k], (int)out.len, out.data);
		for (size_t k = 0; k < ARRAY_SIZE(c->not) && c->not[k]; k++)
			CHECK_MSG(!memmem(out.data, out.len, c->not[k], strlen(c->not[k])),
				  "case %zu: unexpected %s", i, c->not[k]);
	}
	/* a configured rule wins over the default and over the header */
	struct syslog_msg m;
	const char *s = "<13>1 2026-11-28T10:00:00Z h a - - [app@1 user=\"dave\"][audit@32473 actor=\"eve\"]";
	buf_reset(&out);
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 &&
	      syslog_map(&m, (const uint8_t *)s, &rules, NULL, NOW_NS, 65000, &out, &scratch, NULL) == 0 &&
	      memmem(out.data, out.len, "\"actor\":{\"id\":\"dave\"", 20));
	/* a broken CEF header is refused, naming its byte in the frame */
	s = "<13>1 - h a - - - CEF:0|a|b";
	struct syslog_map_error me;
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 &&
	      syslog_map(&m, (const uint8_t *)s, &rules, NULL, NOW_NS, 65000, &out, &scratch, &me) == ST_EINVAL &&
	      me.offset >= 18);
	/* the TLS client certificate's DN: in source, JSON-escaped, beside
	 * host and service; also without either; too long a DN is left out */
	const char *dn = "CN=sender \"1\",O=Acme\\, Inc.";
	s = "<13>1 2026-11-28T10:00:00Z h app - - - x";
	buf_reset(&out);
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 &&
	      syslog_map(&m, (const uint8_t *)s, &rules, dn, NOW_NS, 65000, &out, &scratch, NULL) == 0);
	const char *want = "\"source\":{\"host\":\"h\",\"service\":\"app\","
			   "\"client_cert\":\"CN=sender \\\"1\\\",O=Acme\\\\, Inc.\"}";
	CHECK_MSG(memmem(out.data, out.len, want, strlen(want)) != NULL, "%.*s", (int)out.len, out.data);
	buf_reset(&ev);
	{
		struct event_info ci;
		struct event_error ce;
		CHECK(event_parse(out.data, out.len - 1, &lim, &ev, &ci, &ce) == 0);
	}
	s = "<13>1 - - - - - - x";
	buf_reset(&out);
	CHECK(syslog_parse((const uint8_t *)s, strlen(s), NOW_NS, &m, NULL) == 0 &&
	      syslog_map(&m, (const uint8_t *)s, &rules, "CN=a", NOW_NS, 65000, &out, &scratch, NULL) == 0 &&
	      memmem(out.data, out.len, "\"source\":{\"client_cert\":\"CN=a\"}", 29));
	char longdn[SYSLOG_CLIENT_CERT_MAX + 2];
	memset(longdn, 'a', sizeof(longdn) - 1);
	longdn[sizeof(longdn) - 1] = 0;
	buf_reset(&out);
	CHECK(syslog_map(&m, (const uint8_t *)s, &rules, longdn, NOW_NS, 65000, &out, &scratch, NULL) == 0 &&
	      !memmem(out.data, out.len, "client_cert", 11));
	/* too large: cut, then left out, never lost */
	static uint8_t huge[60000];
	size_t o = (size_t)snprintf((char *)huge, sizeof(huge), "<13>1 - h a - - [x@1 v=\"");
	memset(huge + o, 0x01, 3000);
	o += 3000;
	o += (size_t)snprintf((char *)huge + o, sizeof(huge) - o, "\"] ");
	memset(huge + o, '"', sizeof(huge) - o);
	CHECK(syslog_parse(huge, sizeof(huge), NOW_NS, &m, NULL) == 0);
	buf_reset(&out);
	CHECK(syslog_map(&m, huge, &rules, NULL, NOW_NS, 65000, &out, &scratch, NULL) == 0);
	CHECK(memmem(out.data, out.len, "\"truncated\":true", 16) != NULL);
	struct event_info info;
	struct event_error pe;
	buf_reset(&ev);
	CHECK(event_parse(out.data, out.len - 1, &lim, &ev, &info, &pe) == 0);
	buf_reset(&out);
	CHECK(syslog_map(&m, huge, &rules, NULL, NOW_NS, 2000, &out, &scratch, NULL) == 0 && out.len <= 2001);
	buf_release(&out);
	buf_release(&scratch);
	buf_release(&ev);
}

int main(void)
{
	test_framing();
	test_parse();
	test_cef();
	test_map();
	return test_report("test_syslog");
}
