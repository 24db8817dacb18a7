/*
 * cloudtrail.c - CloudTrail Records as Sealtrail events; the mapping is
 * in cloudtrail.h and docs/IMPORT.md.
 *
 * Invariants:
 *  - the event of a record depends only on the record (no clock, no
 *    file name), so a re-import produces the same ids and bytes;
 *  - every record that is an object with a valid eventTime becomes an
 *    event: it is composed up to three times, from the most to the least
 *    it keeps, until event_parse accepts it under the log's limits
 *    (everything; without requestParameters, responseElements and the
 *    other copied objects; with every string cut to 256 bytes). The last
 *    form is a bounded number of bounded strings, so it always fits.
 */
#include "ingest/cloudtrail.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/hash.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "ingest/mapjson.h"

#define STR_CAP 4096          /* free text: messages, user agents */
#define ARN_CAP 2048          /* an ARN is at most 2048 characters */
#define NAME_CAP 256          /* names, ids, regions; every string in the last tier */
#define SEG_CAP 63            /* the service segment of the action */
#define EVENT_NAME_CAP 127    /* the eventName segment */
#define LIST_CAP 64           /* resources[] copied */
#define VALUE_DEPTH 28        /* objects copied deeper than this are left out (the log takes 32) */
#define ID_CAP 100

enum tier { FULL, NO_OBJECTS, MINIMAL };

static bool eq(const struct jdoc_value *v, const char *s)
{
	return v && v->type == JDOC_STRING && v->len == strlen(s) && !memcmp(v->u.s, s, v->len);
}

static bool has_prefix(const struct jdoc_value *v, const char *p)
{
	size_t n = strlen(p);
	return v && v->len >= n && !memcmp(v->u.s, p, n);
}

static bool contains(const struct jdoc_value *v, const char *w)
{
	return v && v->len && memmem(v->u.s, v->len, w, strlen(w)) != NULL;
}

/* userIdentity.type as actor.type */
static const char *actor_type(const struct jdoc_value *t)
{
	static const struct { const char *aws, *type; } map[] = {
		{ "Root", "root" }, { "IAMUser", "user" }, { "AssumedRole", "role_session" },
		{ "FederatedUser", "federated_user" }, { "SAMLUser", "federated_user" },
		{ "WebIdentityUser", "federated_user" }, { "AWSService", "service" }, { "AWSAccount", "account" },
		{ "IdentityCenterUser", "user" }, { "Directory", "user" },
	};
	for (size_t i = 0; t && i < ARRAY_SIZE(map); i++)
		if (eq(t, map[i].aws))
			return map[i].type;
	return "unknown";
}

/* The resource requestParameters name when the record lists none:
 * the first of these members that is a non-empty string. */
static const struct { const char *key, *type; } param_res[] = {
	{ "bucketName", "AWS::S3::Bucket" }, { "roleArn", "AWS::IAM::Role" }, { "roleName", "AWS::IAM::Role" },
	{ "policyArn", "AWS::IAM::Policy" }, { "userName", "AWS::IAM::User" }, { "groupName", "AWS::IAM::Group" },
	{ "functionName", "AWS::Lambda::Function" }, { "keyId", "AWS::KMS::Key" },
	{ "tableName", "AWS::DynamoDB::Table" }, { "topicArn", "AWS::SNS::Topic" }, { "queueUrl", "AWS::SQS::Queue" },
	{ "secretId", "AWS::SecretsManager::Secret" }, { "logGroupName", "AWS::Logs::LogGroup" },
	{ "stackName", "AWS::CloudFormation::Stack" }, { "instanceId", "AWS::EC2::Instance" },
	{ "dBInstanceIdentifier", "AWS::RDS::DBInstance" }, { "trailName", "AWS::CloudTrail::Trail" },
};

/* Top-level members mapped by name; every other member is copied into
 * metadata.other as it is. */
static const char *const known[] = {
	"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
	"sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters", "responseElements",
	"additionalEventData", "requestID", "eventID", "readOnly", "resources", "eventType", "apiVersion",
	"managementEvent", "recipientAccountId", "sharedEventID", "vpcEndpointId", "vpcEndpointAccountId",
	"eventCategory", "tlsDetails", "sessionCredentialFromConsole", "serviceEventDetails",
};

static bool is_known(const struct jdoc_member *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (m->key_len == strlen(known[i]) && !memcmp(m->key, known[i], m->key_len))
			return true;
	return false;
}

/* ,"key":<value> for any value; objects only in the FULL tier. */
static int put_any(struct buf *b, const char *key, const struct jdoc_value *v)
{
	int r;
	if (!v)
		return 0;
	if ((r = buf_printf(b, ",\"%s\":", key)) < 0)
		return r;
	return mj_value(b, v, 3, VALUE_DEPTH);
}

static int put_actor(struct buf *b, const struct jdoc_value *rec, size_t cap)
{
	const struct jdoc_value *ui = mj_obj(rec, "userIdentity");
	const struct jdoc_value *type = ui ? mj_str(ui, "type") : NULL, *arn = ui ? mj_str(ui, "arn") : NULL;
	const struct jdoc_value *pid = ui ? mj_str(ui, "principalId") : NULL;
	const struct jdoc_value *acct = ui ? mj_str(ui, "accountId") : NULL;
	const struct jdoc_value *by = ui ? mj_str(ui, "invokedBy") : NULL;
	const struct jdoc_value *uname = ui ? mj_str(ui, "userName") : NULL;
	const struct jdoc_value *ip = mj_str(rec, "sourceIPAddress");
	const struct jdoc_value *sc = ui ? mj_obj(ui, "sessionContext") : NULL;
	const struct jdoc_value *iss = sc ? mj_obj(sc, "sessionIssuer") : NULL;
	const struct jdoc_value *attrs = sc ? mj_obj(sc, "attributes") : NULL;
	const struct jdoc_value *obo = ui ? mj_obj(ui, "onBehalfOf") : NULL;
	const struct jdoc_value *id = NULL;
	int r;

	const struct jdoc_value *cands[] = { arn, pid, obo ? mj_str(obo, "userId") : NULL, by, acct };
	for (size_t i = 0; i < ARRAY_SIZE(cands) && !id; i++)
		if (cands[i] && cands[i]->len)
			id = cands[i];
	if ((r = buf_puts(b, ",\"actor\":{\"id\":")) < 0 ||
	    (r = id ? json_put_str(b, id->u.s, id->len < cap ? id->len : cap) : buf_puts(b, "\"unknown\"")) < 0 ||
	    (r = buf_printf(b, ",\"type\":\"%s\"", actor_type(type))) < 0)
		return r;
	/* name: the user's, or the session's (the last part of an
	 * assumed-role ARN, often the person behind a federated role) */
	if (uname && uname->len) {
		r = mj_kv_v(b, "name", uname, cap);
	} else if (eq(type, "AssumedRole") && arn && memchr(arn->u.s, '/', arn->len)) {
		const char *s = memrchr(arn->u.s, '/', arn->len) + 1;
		size_t n = arn->len - (size_t)(s - arn->u.s);
		r = n ? mj_kv(b, "name", s, n, cap) : 0;
	}
	if (r < 0)
		return r;
	if (ip && mj_is_ip(ip->u.s, ip->len) && (r = mj_kv_v(b, "ip", ip, 64)) < 0)
		return r;
	if ((r = mj_kv_v(b, "user_agent", mj_str(rec, "userAgent"), cap < STR_CAP ? cap : STR_CAP)) < 0 ||
	    (obo && (r = mj_kv_v(b, "on_behalf_of", mj_str(obo, "userId"), cap)) < 0) ||
	    (r = mj_kv_v(b, "aws_type", type, NAME_CAP)) < 0 || (r = mj_kv_v(b, "arn", arn, cap)) < 0 ||
	    (r = mj_kv_v(b, "principal_id", pid, cap)) < 0 || (r = mj_kv_v(b, "account_id", acct, NAME_CAP)) < 0 ||
	    (ui && (r = mj_kv_v(b, "access_key_id", mj_str(ui, "accessKeyId"), NAME_CAP)) < 0) ||
	    (r = mj_kv_v(b, "invoked_by", by, cap)) < 0 ||
	    (ui && (r = mj_kv_v(b, "identity_provider", mj_str(ui, "identityProvider"), cap)) < 0) ||
	    (ui && (r = mj_kv_v(b, "credential_id", mj_str(ui, "credentialId"), NAME_CAP)) < 0))
		return r;
	if (iss) {
		if ((r = buf_puts(b, ",\"session_issuer\":{\"type\":")) < 0)
			return r;
		const struct jdoc_value *it = mj_str(iss, "type");
		if ((r = it ? json_put_str(b, it->u.s, it->len < NAME_CAP ? it->len : NAME_CAP) : buf_puts(b, "null")) < 0 ||
		    (r = mj_kv_v(b, "arn", mj_str(iss, "arn"), cap)) < 0 ||
		    (r = mj_kv_v(b, "principal_id", mj_str(iss, "principalId"), cap)) < 0 ||
		    (r = mj_kv_v(b, "account_id", mj_str(iss, "accountId"), NAME_CAP)) < 0 ||
		    (r = mj_kv_v(b, "user_name", mj_str(iss, "userName"), cap)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	}
	if (attrs) {
		const struct jdoc_value *mfa = jdoc_get(attrs, "mfaAuthenticated", 16);
		if ((mfa && mfa->type == JDOC_STRING && (r = mj_kv_v(b, "mfa_authenticated", mfa, 8)) < 0) ||
		    (r = mj_kv_v(b, "session_created_at", mj_str(attrs, "creationDate"), 64)) < 0)
			return r;
	}
	if (sc && (r = mj_kv_v(b, "source_identity", mj_str(sc, "sourceIdentity"), cap)) < 0)
		return r;
	return buf_putc(b, '}');
}

static int put_resource(struct buf *b, const struct jdoc_value *rec, const struct jdoc_value *svc, size_t cap)
{
	const struct jdoc_value *res = jdoc_get(rec, "resources", 9), *rp = mj_obj(rec, "requestParameters");
	int r;
	if (res && res->type == JDOC_ARRAY) {
		for (uint32_t i = 0; i < res->len; i++) {
			const struct jdoc_value *x = &res->u.items[i];
			if (x->type != JDOC_OBJECT)
				continue;
			const struct jdoc_value *arn = mj_str(x, "ARN"), *t = mj_str(x, "type");
			if (!(arn && arn->len) && !(t && t->len))
				continue;
			if ((r = buf_puts(b, ",\"resource\":{\"type\":")) < 0 ||
			    (r = t && t->len ? json_put_str(b, t->u.s, t->len < cap ? t->len : cap) :
					      buf_puts(b, "\"aws\"")) < 0 ||
			    (arn && arn->len && (r = mj_kv_v(b, "id", arn, cap < ARN_CAP ? cap : ARN_CAP)) < 0) ||
			    (r = mj_kv_v(b, "account_id", mj_str(x, "accountId"), NAME_CAP)) < 0)
				return r;
			return buf_putc(b, '}');
		}
	}
	for (size_t i = 0; rp && i < ARRAY_SIZE(param_res); i++) {
		const struct jdoc_value *v = mj_str(rp, param_res[i].key);
		if (!v || !v->len)
			continue;
		const struct jdoc_value *key = i == 0 ? mj_str(rp, "key") : NULL;
		if (key && key->len) {
			/* an S3 object: bucket/key */
			struct buf t = BUF_INIT(2 * (size_t)STR_CAP + 2);
			buf_append(&t, v->u.s, v->len < cap ? v->len : cap);
			buf_putc(&t, '/');
			buf_append(&t, key->u.s, key->len < cap ? key->len : cap);
			if ((r = buf_puts(b, ",\"resource\":{\"type\":\"AWS::S3::Object\",\"id\":")) == 0)
				r = json_put_str(b, (const char *)t.data, t.len);
			buf_release(&t);
			if (r < 0 || (r = mj_kv_v(b, "name", key, cap)) < 0 || (r = mj_kv_v(b, "parent", v, cap)) < 0)
				return r;
			return buf_putc(b, '}');
		}
		if ((r = buf_printf(b, ",\"resource\":{\"type\":\"%s\"", param_res[i].type)) < 0 ||
		    (r = mj_kv_v(b, "id", v, cap < ARN_CAP ? cap : ARN_CAP)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
		return 0;
	}
	if ((r = buf_puts(b, ",\"resource\":{\"type\":\"aws.")) < 0 ||
	    (r = mj_seg(b, svc ? svc->u.s : NULL, svc ? svc->len : 0, SEG_CAP, true)) < 0)
		return r;
	return buf_puts(b, "\"}");
}

/* One record as one event line (without the newline) at the given tier. */
static int compose(struct buf *b, const struct jdoc_value *rec, enum tier tier, const char *omitted)
{
	const size_t cap = tier == MINIMAL ? NAME_CAP : STR_CAP;
	const struct jdoc_value *eid = mj_str(rec, "eventID"), *src = mj_str(rec, "eventSource");
	const struct jdoc_value *name = mj_str(rec, "eventName"), *ecode = mj_str(rec, "errorCode");
	const struct jdoc_value *emsg = mj_str(rec, "errorMessage"), *ip = mj_str(rec, "sourceIPAddress");
	const struct jdoc_value *resp = mj_obj(rec, "responseElements");
	const struct jdoc_value *region = mj_str(rec, "awsRegion");
	int r;

	/* id: CloudTrail's eventID, else a hash of the record */
	if ((r = buf_puts(b, "{\"id\":\"ct-")) < 0)
		return r;
	if (mj_id_safe(eid, ID_CAP)) {
		r = buf_append(b, eid->u.s, eid->len);
	} else {
		struct buf t = BUF_INIT(CT_FILE_MAX);
		uint8_t h[HASH_SIZE];
		char hex[33];
		if ((r = mj_value(&t, rec, 0, JDOC_DEPTH_HARD)) == 0) {
			sha256(t.data, t.len, h);
			hex_encode(h, 16, hex);
			r = buf_printf(b, "h%s", hex);
		}
		buf_release(&t);
	}
	if (r < 0 || (r = buf_putc(b, '"')) < 0 || (r = mj_kv_v(b, "time", mj_str(rec, "eventTime"), 64)) < 0)
		return r;

	/* action: aws.<service>.<eventName> */
	const struct jdoc_value *svc = NULL;
	struct jdoc_value svc_v;
	if (src && src->len) {
		svc_v = *src;
		static const char suffix[] = ".amazonaws.com";
		if (svc_v.len > sizeof(suffix) - 1 &&
		    !memcmp(svc_v.u.s + svc_v.len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1))
			svc_v.len -= (uint32_t)(sizeof(suffix) - 1);
		svc = &svc_v;
	}
	if ((r = buf_puts(b, ",\"action\":\"aws.")) < 0 ||
	    (r = mj_seg(b, svc ? svc->u.s : NULL, svc ? svc->len : 0, SEG_CAP, true)) < 0 ||
	    (r = buf_putc(b, '.')) < 0 ||
	    (r = mj_seg(b, name ? name->u.s : NULL, name ? name->len : 0, EVENT_NAME_CAP, false)) < 0 ||
	    (r = buf_putc(b, '"')) < 0)
		return r;

	if ((r = put_actor(b, rec, cap)) < 0 || (r = put_resource(b, rec, svc, cap)) < 0)
		return r;

	/* outcome */
	const char *outcome = "success";
	if (ecode && ecode->len)
		outcome = has_prefix(ecode, "AccessDenied") || contains(ecode, "Unauthorized") ? "denied" : "failure";
	else if (resp && eq(mj_str(resp, "ConsoleLogin"), "Failure"))
		outcome = "failure";
	if ((r = buf_printf(b, ",\"outcome\":\"%s\"", outcome)) < 0 || (r = mj_kv_v(b, "reason", emsg, cap)) < 0 ||
	    (r = mj_kv_v(b, "request_id", mj_str(rec, "requestID"), NAME_CAP)) < 0 ||
	    (r = buf_puts(b, ",\"source\":{\"service\":\"cloudtrail\",\"format\":\"aws-cloudtrail\"")) < 0 ||
	    (r = mj_kv_v(b, "region", region, 64)) < 0 || (r = buf_putc(b, '}')) < 0)
		return r;

	/* metadata: the rest of the record */
	if ((r = buf_puts(b, ",\"metadata\":{\"format\":\"aws-cloudtrail\"")) < 0 ||
	    (r = mj_kv_v(b, "event_version", mj_str(rec, "eventVersion"), 16)) < 0 ||
	    (r = mj_kv_v(b, "event_id", eid, NAME_CAP)) < 0 || (r = mj_kv_v(b, "event_source", src, NAME_CAP)) < 0 ||
	    (r = mj_kv_v(b, "event_name", name, NAME_CAP)) < 0 || (r = mj_kv_v(b, "aws_region", region, 64)) < 0 ||
	    (r = mj_kv_v(b, "event_type", mj_str(rec, "eventType"), 64)) < 0 ||
	    (r = mj_kv_v(b, "event_category", mj_str(rec, "eventCategory"), 64)) < 0 ||
	    (r = mj_kv_v(b, "recipient_account_id", mj_str(rec, "recipientAccountId"), 64)) < 0 ||
	    (r = mj_kv_v(b, "api_version", mj_str(rec, "apiVersion"), 64)) < 0)
		return r;
	static const struct { const char *from, *to; } flags[] = {
		{ "readOnly", "read_only" }, { "managementEvent", "management_event" },
		{ "sessionCredentialFromConsole", "session_credential_from_console" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		/* booleans (some services write them as strings) */
		const struct jdoc_value *v = jdoc_get(rec, flags[i].from, strlen(flags[i].from));
		if (!v)
			continue;
		if (v->type == JDOC_TRUE || v->type == JDOC_FALSE)
			r = buf_printf(b, ",\"%s\":%s", flags[i].to, v->type == JDOC_TRUE ? "true" : "false");
		else
			r = mj_kv_v(b, flags[i].to, v, 16);
		if (r < 0)
			return r;
	}
	if ((r = mj_kv_v(b, "error_code", ecode, NAME_CAP)) < 0 || (r = mj_kv_v(b, "error_message", emsg, cap)) < 0 ||
	    (ip && !mj_is_ip(ip->u.s, ip->len) && (r = mj_kv_v(b, "source_ip_address", ip, NAME_CAP)) < 0) ||
	    (r = mj_kv_v(b, "vpc_endpoint_id", mj_str(rec, "vpcEndpointId"), NAME_CAP)) < 0 ||
	    (r = mj_kv_v(b, "vpc_endpoint_account_id", mj_str(rec, "vpcEndpointAccountId"), 64)) < 0 ||
	    (r = mj_kv_v(b, "shared_event_id", mj_str(rec, "sharedEventID"), NAME_CAP)) < 0)
		return r;
	if (tier != MINIMAL && (r = put_any(b, "tls_details", mj_obj(rec, "tlsDetails"))) < 0)
		return r;
	if (tier == FULL) {
		const struct jdoc_value *res = jdoc_get(rec, "resources", 9);
		if (res && res->type == JDOC_ARRAY && res->len) {
			if ((r = buf_puts(b, ",\"resources\":[")) < 0)
				return r;
			for (uint32_t i = 0; i < res->len && i < LIST_CAP; i++)
				if ((i && (r = buf_putc(b, ',')) < 0) || (r = mj_value(b, &res->u.items[i], 4, VALUE_DEPTH)) < 0)
					return r;
			if ((r = buf_putc(b, ']')) < 0)
				return r;
		}
		if ((r = put_any(b, "request_parameters", jdoc_get(rec, "requestParameters", 17))) < 0 ||
		    (r = put_any(b, "response_elements", jdoc_get(rec, "responseElements", 16))) < 0 ||
		    (r = put_any(b, "additional_event_data", jdoc_get(rec, "additionalEventData", 19))) < 0 ||
		    (r = put_any(b, "service_event_details", jdoc_get(rec, "serviceEventDetails", 19))) < 0)
			return r;
		bool any = false;
		for (uint32_t i = 0; i < rec->len; i++) {
			const struct jdoc_member *m = &rec->u.members[i];
			if (is_known(m))
				continue;
			if ((r = buf_puts(b, any ? "," : ",\"other\":{")) < 0 || (r = json_put_str(b, m->key, m->key_len)) < 0 ||
			    (r = buf_putc(b, ':')) < 0 || (r = mj_value(b, &m->value, 4, VALUE_DEPTH)) < 0)
				return r;
			any = true;
		}
		if (any && (r = buf_putc(b, '}')) < 0)
			return r;
	}
	if (omitted && (r = mj_kv(b, "objects_omitted", omitted, strlen(omitted), 256)) < 0)
		return r;
	return buf_puts(b, "}}");
}

static int record_error(struct ct_error *err, uint32_t i, size_t offset, const char *member, const char *what)
{
	err->record = (long)i;
	err->offset = offset;
	snprintf(err->msg, sizeof(err->msg), "Records[%u]%s: %s", i, member, what);
	return ST_EINVAL;
}

int ct_file_map(const struct ct_file *f, uint32_t i, const struct event_limits *lim, struct buf *out,
		struct ct_error *err)
{
	char why[256] = "";
	struct event_info info;
	struct event_error perr;
	int64_t ns;
	int r = 0;

	memset(err, 0, sizeof(*err));
	err->record = -1;
	if (i >= f->count)
		return record_error(err, i, 0, "", "no such record");
	const struct jdoc_value *rec = &f->records->u.items[i];
	if (rec->type != JDOC_OBJECT)
		return record_error(err, i, rec->offset, "", rec->type == JDOC_ARRAY ? "expected a record object, found array" :
				    "expected a record object");
	const struct jdoc_value *t = jdoc_get(rec, "eventTime", 9);
	if (!t || t->type != JDOC_STRING || !rfc3339_parse(t->u.s, t->len, &ns))
		return record_error(err, i, t ? t->offset : rec->offset, ".eventTime",
				    t ? "expected an RFC 3339 time (2026-11-28T12:00:00Z)" : "required field is missing");

	struct buf line = BUF_INIT(8 * (size_t)(lim ? lim->max_entry : 65535) + 65536);
	struct buf scratch = BUF_INIT(lim ? lim->max_entry : 65535);
	memset(&perr, 0, sizeof(perr));
	for (int tier = FULL; tier <= MINIMAL; tier++) {
		buf_reset(&line);
		r = compose(&line, rec, (enum tier)tier, tier == FULL ? NULL : why);
		if (r == 0) {
			buf_reset(&scratch);
			r = event_parse(line.data, line.len, lim, &scratch, &info, &perr);
			if (r == 0) {
				r = buf_append(out, line.data, line.len) < 0 || buf_putc(out, '\n') < 0 ? ST_ELIMIT : 0;
				break;
			}
		}
		if (tier == FULL)
			snprintf(why, sizeof(why), "requestParameters, responseElements and the other objects made the "
				 "event too large for the log: %.150s", r == ST_ELIMIT && !perr.msg[0] ? "too deep" : perr.msg);
		memset(&perr, 0, sizeof(perr));
	}
	buf_release(&line);
	buf_release(&scratch);
	if (r < 0) {
		err->record = (long)i;
		err->offset = rec->offset;
		snprintf(err->msg, sizeof(err->msg), "Records[%u]: %s", i,
			 r == ST_ELIMIT ? "the mapped events are larger than the output may grow" :
			 "could not be mapped to an event");
	}
	return r;
}

int ct_file_open(struct ct_file *f, const uint8_t *json, size_t n, struct ct_error *err)
{
	struct jdoc_limits jl;
	struct jdoc_error je;
	const struct jdoc_value *root;
	int r;

	memset(f, 0, sizeof(*f));
	memset(err, 0, sizeof(*err));
	err->record = -1;
	/* every node is 24 bytes, every member 40; decoded strings at most n */
	jdoc_arena_init(&f->arena, 48 * (size_t)CT_VALUES_MAX + 2 * n + (1u << 20));
	if (n > CT_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "the file is %zu bytes, at most %u (CT_FILE_MAX)", n, CT_FILE_MAX);
		return ST_ELIMIT;
	}
	jdoc_limits_default(&jl);
	jl.max_input = n;
	jl.max_depth = JDOC_DEPTH_HARD;
	jl.max_values = CT_VALUES_MAX;
	jl.max_string = (uint32_t)n;
	if ((r = jdoc_parse(&f->arena, (const char *)json, n, &jl, JDOC_BORROW, &root, &je)) < 0) {
		err->offset = je.offset;
		snprintf(err->msg, sizeof(err->msg), "%.60s%s%.130s", je.pointer, je.pointer[0] ? ": " : "", je.msg);
		return r;
	}
	const struct jdoc_value *recs = root->type == JDOC_OBJECT ? jdoc_get(root, "Records", 7) : NULL;
	if (!recs || recs->type != JDOC_ARRAY) {
		err->offset = recs ? recs->offset : root->offset;
		snprintf(err->msg, sizeof(err->msg), "%s", recs ? "Records: expected an array of records" :
			 "expected a CloudTrail log file, {\"Records\":[...]}");
		return ST_EINVAL;
	}
	if (recs->len > CT_RECORDS_MAX) {
		err->offset = recs->offset;
		snprintf(err->msg, sizeof(err->msg), "Records: %u records, at most %d in one file (CT_RECORDS_MAX)",
			 recs->len, CT_RECORDS_MAX);
		return ST_ELIMIT;
	}
	f->records = recs;
	f->count = recs->len;
	return 0;
}

void ct_file_release(struct ct_file *f)
{
	if (f->arena.max)
		jdoc_arena_release(&f->arena);
	memset(f, 0, sizeof(*f));
}

long ct_map(const uint8_t *json, size_t n, const struct event_limits *lim, struct buf *out,
	    void (*refused)(void *ctx, const struct ct_error *err), void *ctx, struct ct_error *err)
{
	struct ct_file f;
	size_t start = out->len;
	long count = 0;
	int r = ct_file_open(&f, json, n, err);
	for (uint32_t i = 0; r == 0 && i < f.count; i++) {
		struct ct_error re;
		int k = ct_file_map(&f, i, lim, out, &re);
		if (k == 0) {
			count++;
		} else if (k == ST_EINVAL) {
			if (refused)
				refused(ctx, &re);
		} else {
			*err = re;
			r = k;
		}
	}
	ct_file_release(&f);
	if (r < 0) {
		out->len = start;
		return r;
	}
	return count;
}
