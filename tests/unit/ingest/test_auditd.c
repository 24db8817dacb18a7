/*
 * test_auditd.c - Linux audit records reassembled into events
 * (src/ingest/auditd.c): the golden file tests/vectors/auditd/audit.log
 * (records written from the Linux audit documentation's record and
 * field lists: an execve with EXECVE, CWD, PATH, PROCTITLE and EOE; a
 * failed sshd login with an address; an AVC denial; hex-encoded
 * proctitle, cmd and name; ENRICHED records on a node; two events
 * interleaved; malformed lines; an event whose EOE never comes), then
 * the rules for when an event ends, one by one, and resuming.
 */
#include "test.h"

#include "golden.h"

#include "common/util.h"
#include "event/event.h"
#include "ingest/auditd.h"

static struct event_limits lim;

static void on_refused(void *ctx, uint64_t ln, const struct auditd_error *e)
{
	buf_printf(ctx, "line %llu: byte %zu: %s\n", (unsigned long long)ln, e->offset, e->msg);
}

static long valid_lines(const struct buf *out)
{
	struct buf scratch = BUF_INIT(1u << 20);
	long n = 0;
	for (size_t at = 0; at < out->len;) {
		const uint8_t *nl = memchr(out->data + at, '\n', out->len - at);
		struct event_info info;
		struct event_error perr;
		if (!nl)
			return -1;
		buf_reset(&scratch);
		if (event_parse(out->data + at, (size_t)(nl - (out->data + at)), &lim, &scratch, &info, &perr) != 0) {
			fprintf(stderr, "line %ld: %s\n", n + 1, perr.msg);
			return -1;
		}
		n++;
		at = (size_t)(nl - out->data) + 1;
	}
	buf_release(&scratch);
	return n;
}

static bool has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* Feeds one line; returns what feed returns. */
static long feed(struct auditd_asm *a, const char *line, uint64_t off, uint64_t ln, struct buf *out)
{
	struct auditd_error err;
	return auditd_asm_feed(a, (const uint8_t *)line, strlen(line), off, ln, out, &err);
}

int main(void)
{
	struct buf in = BUF_INIT(1u << 24), out = BUF_INIT(1u << 24), again = BUF_INIT(1u << 24);
	struct buf refused = BUF_INIT(1u << 20);
	struct auditd_asm a;
	struct auditd_error err;
	char line[512];
	uint64_t off, ln;
	event_limits_default(&lim);

	/* the golden file: 8 events, 3 lines refused by line and byte */
	CHECK(golden_read("auditd/audit.log", &in) == 0);
	long n = auditd_map(in.data, in.len, &lim, &out, on_refused, &refused);
	CHECK_MSG(n == 8, "%ld events", n);
	CHECK(valid_lines(&out) == 8);
	CHECK(golden_match("auditd/audit.expected.ndjson", &out));
	CHECK(golden_match("auditd/audit.refused.txt", &refused));
	CHECK(auditd_map(in.data, in.len, &lim, &again, NULL, NULL) == 8 && again.len == out.len &&
	      !memcmp(again.data, out.data, out.len));
	/* the mapping's main points */
	CHECK(has(&out, "{\"id\":\"auditd-1764321302.123:4567\",\"time\":\"2025-11-28T09:15:02.123000Z\","
		  "\"action\":\"auditd.syscall.execve\",\"actor\":{\"id\":\"1000\",\"type\":\"user\",\"auid\":\"1000\","
		  "\"uid\":\"1000\",\"session\":\"3\"},\"resource\":{\"type\":\"file\",\"id\":\"/usr/bin/ls\""));
	CHECK(has(&out, "\"command\":\"ls -l /tmp/my dir\"") && has(&out, "\"proctitle\":\"ls -l /tmp/my dir\""));
	CHECK(has(&out, "\"ended\":\"eoe\"") && has(&out, "\"key\":\"exec\""));
	CHECK(has(&out, "{\"id\":\"auditd-1764321310.500:4570\",\"time\":\"2025-11-28T09:15:10.500000Z\","
		  "\"action\":\"auditd.user_login\",\"actor\":{\"id\":\"bob\",\"type\":\"user\",\"ip\":\"203.0.113.7\","
		  "\"uid\":\"0\"},\"resource\":{\"type\":\"account\",\"id\":\"bob\",\"terminal\":\"sshd\"},\"outcome\":\"failure\""));
	CHECK(has(&out, "\"action\":\"auditd.avc\"") &&
	      has(&out, "\"resource\":{\"type\":\"file\",\"id\":\"shadow\",\"name\":\"shadow\","
			"\"context\":\"system_u:object_r:shadow_t:s0\"},\"outcome\":\"denied\",\"reason\":\"avc: denied { read } for\""));
	CHECK(has(&out, "\"proctitle\":\"cat shadow\""));
	CHECK(has(&out, "{\"id\":\"auditd-web-1.example.com-1764321330.000:4590\"") &&
	      has(&out, "\"action\":\"auditd.user_cmd\",\"actor\":{\"id\":\"alice\",\"type\":\"user\",\"name\":\"alice\"") &&
	      has(&out, "\"cmd\":\"systemctl restart nginx\""));
	CHECK(has(&out, "\"action\":\"auditd.syscall.openat\",\"actor\":{\"id\":\"alice\"") &&
	      has(&out, "\"resource\":{\"type\":\"file\",\"id\":\"/etc/nginx/site new.conf\",\"name\":\"site new.conf\"}"));
	CHECK(has(&out, "\"action\":\"auditd.syscall.unlink\"") &&
	      has(&out, "\"resource\":{\"type\":\"file\",\"id\":\"/home/alice/notes.txt\""));
	CHECK(has(&out, "\"action\":\"auditd.syscall.connect\",\"actor\":{\"id\":\"33\",\"type\":\"process\"") &&
	      has(&out, "\"outcome\":\"failure\""));
	CHECK(has(&out, "\"action\":\"auditd.syscall.chmod\"") && has(&out, "\"ended\":\"eof\""));
	CHECK(has(&refused, "line 29: byte 0: expected type=TYPE") && has(&refused, "line 30: byte 33: expected .MILLIS") &&
	      has(&refused, "line 31: byte 75: a quoted value without its closing \""));

	/* resuming: the oldest open event says where to read again */
	auditd_asm_init(&a, &lim);
	buf_reset(&out);
	CHECK(!auditd_asm_oldest(&a, &off, &ln));
	CHECK(feed(&a, "type=SYSCALL msg=audit(1.000:10): syscall=2 success=yes auid=5", 100, 7, &out) == 0);
	CHECK(feed(&a, "type=SYSCALL msg=audit(1.000:11): syscall=2 success=yes auid=5", 200, 8, &out) == 0);
	CHECK(auditd_asm_oldest(&a, &off, &ln) && off == 100 && ln == 7);
	CHECK(feed(&a, "type=EOE msg=audit(1.000:10): ", 300, 9, &out) == 1 && a.emitted_lines[0] == 7);
	CHECK(auditd_asm_oldest(&a, &off, &ln) && off == 200 && ln == 8);
	/* a bad line changes nothing */
	CHECK(auditd_asm_feed(&a, (const uint8_t *)"type=X", 6, 400, 10, &out, &err) == ST_EINVAL && a.np == 1);
	/* a stray EOE (its event already ended) makes nothing */
	CHECK(feed(&a, "type=EOE msg=audit(1.000:10): ", 450, 11, &out) == 0 && a.np == 1);
	/* a user-space message ends at once; the window ends the open one */
	CHECK(feed(&a, "type=USER_AUTH msg=audit(1.000:12): pid=1 uid=0 auid=4294967295 msg='op=PAM:authentication "
		       "acct=\"eve\" res=success'", 500, 12, &out) == 1);
	for (int i = 0; i < AUDITD_WINDOW - 2; i++) {
		snprintf(line, sizeof(line), "type=SYSCALL msg=audit(2.000:%d): syscall=2", 100 + i);
		CHECK(feed(&a, line, 600 + (uint64_t)i, 13 + (uint64_t)i, &out) == 0);
	}
	CHECK(auditd_asm_oldest(&a, &off, &ln) && off == 200);
	CHECK(feed(&a, "type=SYSCALL msg=audit(3.000:1): syscall=2", 900, 99, &out) == 1);
	CHECK(has(&out, "\"id\":\"auditd-1.000:11\"") && has(&out, "\"ended\":\"window\""));
	CHECK(auditd_asm_oldest(&a, &off, &ln) && off == 600);
	CHECK(auditd_asm_flush(&a, &out) == AUDITD_WINDOW - 1 && !auditd_asm_oldest(&a, &off, &ln));
	CHECK(valid_lines(&out) == AUDITD_WINDOW + 2);
	auditd_asm_release(&a);

	/* hex only where the field dictionary says "encoded": acct yes, a
	 * numeric id no, a SYSCALL's a0 no (it is a number in hex) */
	auditd_asm_init(&a, &lim);
	buf_reset(&out);
	CHECK(feed(&a, "type=USER_CHAUTHTOK msg=audit(7.000:1): pid=9 uid=0 auid=4294967295 msg='op=change password "
		       "id=1234 acct=6A6F686E20646F65 exe=\"/usr/bin/passwd\" res=success'", 0, 1, &out) == 1);
	CHECK(has(&out, "\"actor\":{\"id\":\"john doe\",") && has(&out, "\"id\":\"1234\""));
	CHECK(feed(&a, "type=SYSCALL msg=audit(7.000:2): arch=c000003e syscall=2 a0=4142 comm=6C73", 0, 2, &out) == 0);
	CHECK(auditd_asm_flush(&a, &out) == 1 && has(&out, "\"a0\":\"4142\"") && has(&out, "\"comm\":\"ls\""));
	auditd_asm_release(&a);

	/* an event too large for the log: its records are left out and it says so */
	buf_reset(&in);
	for (int i = 0; i < 1200; i++)
		buf_printf(&in, "type=PATH msg=audit(5.000:1): item=%d name=\"/var/lib/x/%0200d\" nametype=NORMAL\n", i, i);
	buf_puts(&in, "type=EOE msg=audit(5.000:1): \n");
	buf_reset(&out);
	CHECK(auditd_map(in.data, in.len, &lim, &out, NULL, NULL) == 1 && valid_lines(&out) == 1 &&
	      has(&out, "\"records_omitted\":") && has(&out, "\"records_dropped\":"));
	/* a line too long, a record with too many fields */
	buf_reset(&in);
	buf_puts(&in, "type=SYSCALL msg=audit(5.000:2):");
	for (int i = 0; i < 300; i++)
		buf_printf(&in, " f%d=1", i);
	auditd_asm_init(&a, &lim);
	CHECK(auditd_asm_feed(&a, in.data, in.len, 0, 1, &out, &err) == ST_EINVAL && strstr(err.msg, "AUDITD_FIELDS_MAX"));
	CHECK(auditd_asm_feed(&a, in.data, AUDITD_LINE_MAX + 1, 0, 1, &out, &err) == ST_EINVAL &&
	      strstr(err.msg, "AUDITD_LINE_MAX"));
	CHECK(feed(&a, "type=SYSCALL msg=audit(99999999999.000:1): x=1", 0, 1, &out) == ST_EINVAL);
	auditd_asm_release(&a);

	buf_release(&in);
	buf_release(&out);
	buf_release(&again);
	buf_release(&refused);
	return test_report("test_auditd");
}
