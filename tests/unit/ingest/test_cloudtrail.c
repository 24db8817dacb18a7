/*
 * test_cloudtrail.c - CloudTrail log files as events (src/ingest/cloudtrail.c):
 * golden files in tests/vectors/cloudtrail/ (records written from AWS's
 * published record contents: an IAM user, an assumed role with its
 * session context, a service acting (invokedBy), root's failed console
 * sign-in, the errorCode spellings, the least a record may hold, unicode,
 * and two records that cannot be events), a record with a huge
 * requestParameters, and every file-level refusal.
 */
#include "test.h"

#include "golden.h"

#include "common/util.h"
#include "event/event.h"
#include "ingest/cloudtrail.h"

static struct event_limits lim;

static void on_refused(void *ctx, const struct ct_error *e)
{
	buf_printf(ctx, "record %ld: byte %zu: %s\n", e->record, e->offset, e->msg);
}

/* Every line of out is an event event_parse accepts; the count of lines. */
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

static long map_str(const char *s, struct buf *out, struct ct_error *err)
{
	buf_reset(out);
	return ct_map((const uint8_t *)s, strlen(s), &lim, out, NULL, NULL, err);
}

static bool has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

int main(void)
{
	struct buf in = BUF_INIT(64u << 20), out = BUF_INIT(64u << 20), again = BUF_INIT(64u << 20);
	struct buf refused = BUF_INIT(1u << 20);
	struct ct_error err;
	event_limits_default(&lim);

	/* the golden file: 8 events, 2 records refused by index and byte */
	CHECK(golden_read("cloudtrail/records.json", &in) == 0);
	long n = ct_map(in.data, in.len, &lim, &out, on_refused, &refused, &err);
	CHECK_MSG(n == 8, "%ld events", n);
	CHECK(valid_lines(&out) == 8);
	CHECK(golden_match("cloudtrail/records.expected.ndjson", &out));
	CHECK(golden_match("cloudtrail/records.refused.txt", &refused));
	/* the same file maps to the same bytes (ids and all) */
	CHECK(ct_map(in.data, in.len, &lim, &again, NULL, NULL, &err) == 8 && again.len == out.len &&
	      !memcmp(again.data, out.data, out.len));
	/* the mapping's main points, so a regenerated golden file that lost
	 * one of them fails here too */
	CHECK(has(&out, "\"id\":\"ct-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b\",\"time\":\"2026-11-28T09:15:02Z\","
		  "\"action\":\"aws.iam.CreateUser\",\"actor\":{\"id\":\"arn:aws:iam::111122223333:user/alice\","
		  "\"type\":\"user\",\"name\":\"alice\",\"ip\":\"198.51.100.23\""));
	CHECK(has(&out, "\"resource\":{\"type\":\"AWS::IAM::User\",\"id\":\"bob\"},\"outcome\":\"success\""));
	CHECK(has(&out, "\"action\":\"aws.s3.GetObject\",\"actor\":{\"id\":\"arn:aws:sts::111122223333:assumed-role/"
		  "DataReader/carol@example.com\",\"type\":\"role_session\",\"name\":\"carol@example.com\",\"ip\":\"2001:db8::17\""));
	CHECK(has(&out, "\"session_issuer\":{\"type\":\"Role\",\"arn\":\"arn:aws:iam::111122223333:role/DataReader\""));
	CHECK(has(&out, "\"mfa_authenticated\":\"true\""));
	CHECK(has(&out, "\"resource\":{\"type\":\"AWS::S3::Object\",\"id\":\"arn:aws:s3:::payroll-2026/q4/salaries.csv\"},"
		  "\"outcome\":\"denied\",\"reason\":\"Access Denied\""));
	CHECK(has(&out, "\"actor\":{\"id\":\"lambda.amazonaws.com\",\"type\":\"service\""));
	CHECK(has(&out, "\"source_ip_address\":\"lambda.amazonaws.com\""));
	CHECK(has(&out, "\"shared_event_id\":\"c0ffee00-1234-4abc-8def-0123456789ab\""));
	CHECK(has(&out, "\"action\":\"aws.signin.ConsoleLogin\",\"actor\":{\"id\":\"arn:aws:iam::111122223333:root\","
		  "\"type\":\"root\""));
	CHECK(has(&out, "\"outcome\":\"failure\",\"reason\":\"Failed authentication\""));
	CHECK(has(&out, "\"action\":\"aws.ec2.RunInstances\"") &&
	      has(&out, "\"outcome\":\"denied\",\"reason\":\"You are not authorized"));
	CHECK(has(&out, "\"resource\":{\"type\":\"AWS::DynamoDB::Table\",\"id\":\"orders\"},\"outcome\":\"failure\""));
	CHECK(has(&out, "{\"id\":\"ct-h") && has(&out, "\"action\":\"aws.kms.Decrypt\",\"actor\":{\"id\":\"unknown\","
						       "\"type\":\"unknown\"},\"resource\":{\"type\":\"aws.kms\"}"));
	CHECK(has(&out, "\"on_behalf_of\":\"9067aa1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b\"") &&
	      has(&out, "Zoë’s browser 🦊") && has(&out, "\"other\":{\"edgeDeviceDetails\":{\"deviceId\":\"edge-01\"}}"));
	CHECK(has(&refused, "record 8: byte 8565: Records[8]: expected a record object\n") &&
	      has(&refused, "record 9: byte 8588: Records[9].eventTime: expected an RFC 3339 time"));

	/* a record with a huge requestParameters: 3,000 members are more
	 * than the log takes, so the event keeps everything else and says so */
	buf_reset(&in);
	buf_puts(&in, "{\"Records\":[{\"eventID\":\"huge-1\",\"eventTime\":\"2026-11-28T11:00:00Z\","
		 "\"eventSource\":\"ssm.amazonaws.com\",\"eventName\":\"PutParameter\",\"requestParameters\":{");
	for (int i = 0; i < 3000; i++)
		buf_printf(&in, "%s\"k%04d\":\"%0128d\"", i ? "," : "", i, i);
	buf_puts(&in, "},\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"erin\",\"arn\":\"arn:aws:iam::1:user/erin\"}}]}");
	buf_reset(&out);
	CHECK(ct_map(in.data, in.len, &lim, &out, NULL, NULL, &err) == 1 && valid_lines(&out) == 1);
	CHECK(has(&out, "\"objects_omitted\":") && !has(&out, "\"request_parameters\""));
	CHECK(golden_match("cloudtrail/huge.expected.ndjson", &out));

	/* a huge string: cut, not lost */
	buf_reset(&in);
	buf_puts(&in, "{\"Records\":[{\"eventID\":\"long-1\",\"eventTime\":\"2026-11-28T11:00:00Z\",\"errorCode\":\"X\","
		 "\"errorMessage\":\"");
	for (int i = 0; i < 100000; i++)
		buf_putc(&in, 'm');
	buf_puts(&in, "\"}]}");
	buf_reset(&out);
	CHECK(ct_map(in.data, in.len, &lim, &out, NULL, NULL, &err) == 1 && valid_lines(&out) == 1 && out.len < 20000);

	/* refusals of the whole file name the byte */
	CHECK(map_str("{\"Records\":[", &out, &err) == ST_EINVAL && err.offset == 12 && err.record == -1);
	CHECK(map_str("{\"awsAccountId\":\"1\",\"digestEndTime\":\"x\"}", &out, &err) == ST_EINVAL &&
	      strstr(err.msg, "{\"Records\":[...]}"));
	CHECK(map_str("{\"Records\":{}}", &out, &err) == ST_EINVAL && err.offset == 11 && strstr(err.msg, "Records"));
	CHECK(map_str("{\"Records\":[]}", &out, &err) == 0 && out.len == 0);
	buf_reset(&in);
	buf_puts(&in, "{\"Records\":[");
	for (int i = 0; i <= CT_RECORDS_MAX; i++)
		buf_puts(&in, i ? ",0" : "0");
	buf_puts(&in, "]}");
	CHECK(ct_map(in.data, in.len, &lim, &out, NULL, NULL, &err) == ST_ELIMIT && strstr(err.msg, "CT_RECORDS_MAX"));
	/* output that cannot grow: an error, and out as it was */
	struct buf tiny = BUF_INIT(100);
	buf_puts(&tiny, "keep");
	CHECK(golden_read("cloudtrail/records.json", &in) == 0);
	CHECK(ct_map(in.data, in.len, &lim, &tiny, NULL, NULL, &err) == ST_ELIMIT && tiny.len == 4);
	buf_release(&tiny);

	buf_release(&in);
	buf_release(&out);
	buf_release(&again);
	buf_release(&refused);
	return test_report("test_cloudtrail");
}
