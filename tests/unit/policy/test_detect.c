/*
 * test_detect.c - the PII and secret detectors (src/policy/detect.c),
 * table-driven.
 *
 * Each case is a value with its expected hits marked inline: H("email",
 * "john@example.com") stands for the bytes "john@example.com" and says
 * that exactly those bytes are one hit of detector "email". The harness
 * strips the marks, scans the plain value and compares every hit's
 * offset, length and detector, in order, and the count. A case without
 * marks must find nothing. The marks are the bytes 0x01-0x03, which no
 * case uses otherwise.
 *
 * Beyond the table: the mask (each detector alone finds its own cases,
 * and only its own), the cap, names, the Kubernetes Secret rules, and
 * jwalk feeding escaped JSON to the scanner.
 */
#include "test.h"

#include "common/util.h"
#include "index/jwalk.h"
#include "policy/detect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The frozen pre-optimisation scanner, the oracle of the equality tests
 * (test_same_as_ref*): ref_detect_scan must agree with detect_scan hit
 * for hit on every input. */
size_t ref_detect_scan(const char *value, size_t n, uint32_t enabled,
		       struct det_hit *hits, size_t cap);
const char *ref_detector_name(enum detector d);
int ref_detector_by_name(const char *s, size_t n);
bool ref_detect_k8s_secret_event(const char *resource_type, size_t rt_len,
				 const char *objref_resource, size_t or_len);
bool ref_detect_k8s_secret_path(const char *path, size_t len);
#include "detect_ref.inc"

#define H(det, text) "\x01" det "\x02" text "\x03"

struct tcase {
	const char *marked;
	uint32_t mask;      /* 0: every detector */
};

#define JWT_IO "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SHA256_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PEM_BODY "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n" \
		 "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
#define CERT_BODY "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n" \
		  "RTESMBAGA1UEChMJQmFsdGltb3JlMRMwEQYDVQQLEwpDeWJlclRydXN0MSIwIAYD\n"

static const struct tcase cases[] = {
	/* ---- email */
	{ H("email", "john@example.com"), 0 },
	{ "mail " H("email", "john.doe+tag@mail.example.co.uk") " now", 0 },
	{ "from " H("email", "J_Smith-1@Example.COM") ".", 0 },
	{ "<" H("email", "a@b.io") ">, <" H("email", "c.d@e-f.org") ">", 0 },
	{ "\xc2\xab" H("email", "jose@example.com") "\xc2\xbb", 0 },        /* «…» */
	{ "\xe3\x80\x8c" H("email", "taro@example.jp") "\xe3\x80\x8d", 0 }, /* 「…」 */
	{ "\xe2\x80\x9c" H("email", "x@example.com") "\xe2\x80\x9d", 0 },   /* “…” */
	{ "..." H("email", "dots@example.com"), 0 },
	{ "jos\xc3\xa9" "john@example.com", 0 },       /* é glued before: one longer word */
	{ "john@example.com\xc3\xa9", 0 },              /* é glued after */
	{ "\xff" "john@example.com", 0 },               /* invalid UTF-8 is a word byte */
	{ "john@localhost", 0 },
	{ "@types/node and npm i lodash@4.17.21", 0 },
	{ "nginx@sha256:" SHA256_HEX, 0 },
	{ "root@10.0.0.1", 0 },
	{ "john@example.c0m john@.com john.@example.com john@-x.com", 0 },
	{ "a@b", 0 },
	/* ---- card */
	{ H("card", "4111111111111111"), 0 },
	{ "card " H("card", "4111 1111 1111 1111") " exp 12/25", 0 },
	{ "pan=" H("card", "5555-5555-5555-4444") ";", DET_BIT(DET_CARD) },
	{ "mc2 " H("card", "2223000048400011"), 0 },
	{ "amex " H("card", "3782 822463 10005") ", diners " H("card", "3056 930902 5904"), 0 },
	{ "visa13 " H("card", "4222222222222") " jcb " H("card", "3530111333300000"), 0 },
	{ "up19 " H("card", "6212345678901234569") " disc " H("card", "6011-1111-1111-1117"), 0 },
	{ "(" H("card", "4111111111111111") ")", 0 },
	{ "x_" H("card", "4111111111111111"), 0 },
	{ "4111111111111112", 0 },                      /* Luhn fails */
	{ "4111 1111 1111 1112", 0 },
	{ "1709258114001376006", 0 },                   /* Luhn passes, epoch ns: no issuer 1 */
	{ "71234567890123455", 0 },                     /* issuer 7 */
	{ "4111111111111111abc abc4111111111111111", 0 },
	{ "4111111111111111.5 1.4111111111111111", 0 },
	{ "41111111111111111111111", 0 },               /* 23 digits */
	{ "4111-1111 1111-1111", 0 },                   /* mixed separators */
	{ "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
	  "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
	  "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91", 0 },  /* full-width digits */
	{ "order " H("card", "4111 1111 1111 1111") " 2 items", DET_BIT(DET_CARD) },
	/* ---- iban */
	{ H("iban", "DE89370400440532013000"), 0 },
	{ "IBAN: " H("iban", "DE89 3704 0044 0532 0130 00") " (EUR)", 0 },
	{ H("iban", "GB82WEST12345698765432") "," H("iban", "NL91ABNA0417164300"), 0 },
	{ "fr " H("iban", "FR14 2004 1010 0505 0001 3M02 606") " ch " H("iban", "CH9300762011623852957"), 0 },
	{ "be " H("iban", "BE68539007547034") " no " H("iban", "NO9386011117947"), 0 },
	{ "DE89370400440532013001", 0 },                /* bad checksum */
	{ "DE89 3704 0044 0532 0130 01", 0 },
	{ "DE8937040044053201300", 0 },                 /* one short */
	{ "DE89 3704 0044 0532 0130 0012", 0 },         /* one group too many */
	{ "de89370400440532013000 XX89370400440532013000", 0 },
	{ "DE89 37040044 0532013000", 0 },              /* irregular groups */
	/* ---- ssn */
	{ "ssn " H("ssn", "123-45-6789"), 0 },
	{ H("ssn", "078-05-1120") " and " H("ssn", "219-09-9999"), 0 },
	{ "SSN: " H("ssn", "123456789"), 0 },
	{ "social security number " H("ssn", "123456789"), 0 },
	{ "000-12-3456 666-12-3456 900-12-3456 999-99-9999", 0 },
	{ "123-00-4567 123-45-0000", 0 },
	{ "ssn: 000123456 ssn 666123456", 0 },
	{ "id 123456789", 0 },                          /* undashed without context */
	{ "classn 123456789", 0 },
	{ "123-45-67890 0123-45-6789 123-45-6789-1", 0 },
	{ "123 45 6789", 0 },                           /* spaced: not an SSN */
	/* ---- phone */
	{ "call " H("phone", "+14155552671"), 0 },
	{ H("phone", "+44 20 7946 0958") " or " H("phone", "+44 (0)20 7946 0958"), 0 },
	{ "tel:" H("phone", "+1 (415) 555-2671") ";", 0 },
	{ H("phone", "+49-30-1234567") ", " H("phone", "+33 1 23 45 67 89"), 0 },
	{ H("phone", "(555) 123-4567") " " H("phone", "555-123-4567") " " H("phone", "555.123.4567"), 0 },
	{ "toll free " H("phone", "1-800-555-0199") " x " H("phone", "(212)555-0100"), 0 },
	{ "4155552671 14155552671", 0 },                /* plain integers */
	{ "+1234567 +1234567890123456 +0123456789", 0 },   /* too short, too long, 0 */
	{ "123-456-7890 055-123-4567", 0 },             /* area code 0xx/1xx */
	{ "555-123-45678 555-1234-567 5551-123-4567", 0 },
	{ "555-123.4567 555 123-4567", 0 },             /* mixed separators */
	{ "2024-03-01T12:34:56.789012+02:00", 0 },
	{ "2024-03-01 12:34:56 1709258114", 0 },
	{ "192.168.100.200 10.0.0.1 255.255.255.0", 0 },
	{ "2001:db8:c951:3d79::2399:f324 ::ffff:192.0.2.128", 0 },
	{ "v1.2.3 6.1.0-18-amd64 2.15.30 1.27.3-gke.100", 0 },
	{ "f47797b2-cc7c-4278-9c79-e0800a63d028", 0 },
	{ "abc+14155552671 x(555) 123-4567", 0 },
	/* ---- jwt and bearer */
	{ H("jwt", JWT_IO), 0 },
	{ "token " H("jwt", JWT_IO) ".", 0 },
	{ "Authorization: Bearer " H("jwt", JWT_IO), 0 },
	{ "Authorization: Bearer " H("bearer", JWT_IO), DET_BIT(DET_BEARER) },
	{ "authorization: bearer " H("bearer", "abc123def456ghi"), 0 },
	{ "Authorization: Basic " H("bearer", "dXNlcjpwYXNzd29yZA=="), 0 },
	{ "{\"Authorization\":\"" H("bearer", "sk-live-0123456789abcdef") "\"}", 0 },
	{ "BEARER  " H("bearer", "mF_9.B5f-4.1JqM") " more", 0 },
	{ "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"", 0 },
	{ "the bearer token expired", 0 },
	{ "eyJhbGciOiJIUzI1NiJ9", 0 },                   /* one segment */
	{ "eyJhbGciOiJIUzI1NiJ9.notjson.sig", 0 },      /* payload is not an object */
	{ "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", 0 },
	{ "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.", DET_BIT(DET_EMAIL) },
	{ H("jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."), 0 },   /* unsigned */
	/* ---- aws key id */
	{ H("aws_key_id", "AKIAIOSFODNN7EXAMPLE"), 0 },
	{ "key=" H("aws_key_id", "ASIAY34FZKBOKMUTVV7A") ",", DET_BIT(DET_AWS_KEY_ID) },
	{ "AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLE1 AKIA1OSFODNN7EXAMPLE", 0 },
	{ "XKIAIOSFODNN7EXAMPLE akiaiosfodnn7example \xc3\xa9" "AKIAIOSFODNN7EXAMPLE", 0 },
	/* ---- secrets */
	{ "aws_secret_access_key=" H("secret", AWS_SECRET), 0 },
	{ "export AWS_SECRET_ACCESS_KEY=\"" H("secret", AWS_SECRET) "\"", 0 },
	{ "aws secret " H("secret", AWS_SECRET) " end", 0 },
	{ "password=" H("secret", "hunter2") "&user=bob", 0 },
	{ "{\"password\": \"" H("secret", "correct horse battery") "\"}", 0 },
	{ "DB_PASSWORD: " H("secret", "hunter2") "\nDB_USER: app", 0 },
	{ "x-api-key: " H("secret", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"), 0 },
	{ "clientSecret='" H("secret", "abc") "'", 0 },
	{ "github " H("secret", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"), 0 },
	{ "integrity " H("secret", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="), 0 },
	{ "password=" H("secret", "4111111111111111"), 0 },
	{ "token=" H("jwt", JWT_IO), 0 },
	{ "token=" H("secret", JWT_IO), DET_BIT(DET_SECRET) },
	{ "password: changed. token: expired! secret: mounted", 0 },
	{ "password=${DB_PASSWORD} password=<password> password=**** token=null", 0 },
	{ "password==x password:", 0 },
	{ "image sha256:" SHA256_HEX " leaf " SHA256_HEX, 0 },
	{ "trace f71485f302d35111f200dc1aeba91c50 F71485F302D35111F200DC1AEBA91C50", 0 },
	{ "id f47797b2-cc7c-4278-9c79-e0800a63d028", 0 },
	{ "KubernetesAuditEventProcessorV2Worker UserAccountSettingsController2Update", 0 },
	{ "/api/v1/namespaces/default/pods/nginx-deployment-7d9c8b5f4-x2x9z", 0 },
	{ "/Users/JohnSmith/Documents/Reports2024/Quarterly", 0 },
	{ "arn:aws:iam::123456789012:role/service-role/MyLambdaExecutionRole2024", 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA1", 0 },   /* low entropy */
	{ "com_example_MyService_Handler_v2_Impl_Factory", 0 },
	/* ---- pem */
	{ H("pem_key", "-----BEGIN RSA PRIVATE KEY-----\n" PEM_BODY "-----END RSA PRIVATE KEY-----") "\nok", 0 },
	{ "key: " H("pem_key", "-----BEGIN PRIVATE KEY-----\n" PEM_BODY), 0 },          /* cut */
	{ H("pem_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"), 0 },
	{ "private_key=" H("pem_key", "-----BEGIN EC PRIVATE KEY-----\n" PEM_BODY "-----END EC PRIVATE KEY-----"), 0 },
	{ "-----BEGIN CERTIFICATE-----\n" CERT_BODY "-----END CERTIFICATE-----", 0 },
	{ "-----BEGIN PUBLIC KEY-----\n" CERT_BODY, 0 },
	{ "-----BEGIN RSA PRIVATE KEY", 0 },
	/* ---- url password */
	{ "postgres://admin:" H("url_password", "s3cr3t") "@db.internal:5432/app", 0 },
	{ "redis://:" H("url_password", "hunter2") "@cache:6379", 0 },
	{ "smtp://user%40example.com:" H("url_password", "p@ss") "@mail.example.com", 0 },
	{ "https://user@example.com/", DET_BIT(DET_URL_PASSWORD) },
	{ "https://" H("email", "user@example.com") "/", 0 },
	{ "http://[::1]:8080/x https://example.com:8443/p?q=a:b@c", 0 },
	/* ---- several in one value, at start, middle, end */
	{ H("email", "a@example.com") " paid with " H("card", "4111 1111 1111 1111")
	  ", ssn " H("ssn", "219-09-9999") ", phone " H("phone", "+14155552671")
	  ", iban " H("iban", "GB82WEST12345698765432") ", key " H("aws_key_id", "AKIAIOSFODNN7EXAMPLE")
	  ", db postgres://u:" H("url_password", "pw") "@h/d, " H("email", "z@example.org"), 0 },
	/* ---- nothing to find in typical audit values */
	{ "2024-03-01T01:55:14.001376Z", 0 },
	{ "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12", 0 },
	{ "RBAC: forbidden: User cannot get resource \"secrets\" in API group \"\" in the namespace \"payments\"", 0 },
	{ "s3://tyrell-backups/2024/03/23/part-98796.log.gz", 0 },
	{ "system:serviceaccount:kube-system:replicaset-controller", 0 },
	{ "", 0 },
};

#define MAXH 32

/* Strips the marks of c->marked into plain, the expected hits into exp. */
static size_t unmark(const char *m, char *plain, size_t *plen, struct det_hit *exp)
{
	size_t n = 0, ne = 0;
	while (*m) {
		if (*m == '\x01') {
			const char *name = ++m;
			while (*m != '\x02')
				m++;
			int d = detector_by_name(name, (size_t)(m - name));
			if (d < 0) {
				fprintf(stderr, "unknown detector in a case: %.*s\n", (int)(m - name), name);
				exit(2);
			}
			exp[ne].off = (uint32_t)n;
			exp[ne].det = (uint8_t)d;
			m++;
			while (*m != '\x03')
				plain[n++] = *m++;
			exp[ne].len = (uint32_t)(n - exp[ne].off);
			ne++;
			m++;
			continue;
		}
		plain[n++] = *m++;
	}
	*plen = n;
	return ne;
}

static char plain_buf[8192];

static bool overlaps(const struct det_hit *a, const struct det_hit *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

/* Strict: the hits are exactly the marked ones. Not strict (a mask of
 * fewer detectors): the marked hits of the mask's detectors, plus any
 * hit that overlaps a marked hit of a detector that is off (which would
 * have claimed those bytes first) and is then ignored. */
static void check_case(size_t ci, const struct tcase *c, uint32_t mask, bool strict)
{
	struct det_hit exp[MAXH], other[MAXH], got[MAXH];
	size_t n, ne, ng, no = 0;
	ne = unmark(c->marked, plain_buf, &n, exp);
	ng = detect_scan(plain_buf, n, mask, got, MAXH);
	CHECK(ng <= MAXH);
	if (!strict) {
		size_t k = 0, g = 0;
		for (size_t x = 0; x < ne; x++) {
			if (mask & DET_BIT(exp[x].det))
				exp[k++] = exp[x];
			else
				other[no++] = exp[x];
		}
		ne = k;
		for (size_t x = 0; x < ng; x++) {
			bool shadowed = false;
			for (size_t y = 0; y < no; y++)
				shadowed |= overlaps(&got[x], &other[y]);
			if (!shadowed)
				got[g++] = got[x];
		}
		ng = g;
	}
	CHECK_MSG(ng == ne, "case %zu (mask %#x) \"%.*s\": %zu hits, expected %zu",
		  ci, mask, (int)n, plain_buf, ng, ne);
	for (size_t x = 0; x < ng && x < ne; x++)
		CHECK_MSG(got[x].off == exp[x].off && got[x].len == exp[x].len && got[x].det == exp[x].det,
			  "case %zu hit %zu: %s \"%.*s\" at %u, expected %s \"%.*s\" at %u", ci, x,
			  detector_name(got[x].det), (int)got[x].len, plain_buf + got[x].off, got[x].off,
			  detector_name(exp[x].det), (int)exp[x].len, plain_buf + exp[x].off, exp[x].off);
	for (size_t x = ng; x < ne && x < MAXH; x++)
		fprintf(stderr, "  missing: %s \"%.*s\" at %u\n", detector_name(exp[x].det),
			(int)exp[x].len, plain_buf + exp[x].off, exp[x].off);
	for (size_t x = ne; x < ng && x < MAXH; x++)
		fprintf(stderr, "  extra: %s \"%.*s\" at %u\n", detector_name(got[x].det),
			(int)got[x].len, plain_buf + got[x].off, got[x].off);
}

static void test_table(void)
{
	for (size_t ci = 0; ci < ARRAY_SIZE(cases); ci++)
		check_case(ci, &cases[ci], cases[ci].mask ? cases[ci].mask : DET_ALL, true);
}

/*
 * Each detector alone, on every case written for all of them: it finds
 * its own marked hits and nothing else, except inside the bytes another
 * (now disabled) detector would have claimed - the generic secret rule
 * takes a JWT's segments, an email the host part of a URL password.
 * Cases where turning a detector off changes another's result on
 * purpose (a JWT or PEM block after a key word) are in
 * test_precedence.
 */
static void test_each_alone(void)
{
	for (size_t ci = 0; ci < ARRAY_SIZE(cases); ci++) {
		const struct tcase *c = &cases[ci];
		if (c->mask || strstr(c->marked, "=\x01jwt") || strstr(c->marked, "Bearer \x01jwt") ||
		    strstr(c->marked, "=\x01pem_key"))
			continue;
		for (int d = 0; d < DET_COUNT; d++)
			check_case(ci, c, DET_BIT(d), false);
	}
}

/* The secret as a JWT or PEM behind a key word, each detector alone. */
static void test_precedence(void)
{
	static const char v[] = "token=" JWT_IO;
	struct det_hit h[4];
	CHECK(detect_scan(v, strlen(v), DET_BIT(DET_JWT), h, 4) == 1 && h[0].off == 6 && h[0].det == DET_JWT);
	CHECK(detect_scan(v, strlen(v), DET_BIT(DET_SECRET), h, 4) == 1 && h[0].off == 6 &&
	      h[0].len == strlen(JWT_IO) && h[0].det == DET_SECRET);
	static const char b[] = "Authorization: Bearer " JWT_IO;
	CHECK(detect_scan(b, strlen(b), DET_BIT(DET_JWT), h, 4) == 1 && h[0].off == 22 && h[0].det == DET_JWT);
	static const char p[] = "private_key=-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
	CHECK(detect_scan(p, strlen(p), DET_BIT(DET_PEM_KEY), h, 4) == 1 && h[0].off == 12 &&
	      h[0].len == strlen(p) - 12 && h[0].det == DET_PEM_KEY);
	CHECK(detect_scan(p, strlen(p), DET_BIT(DET_SECRET), h, 4) == 1 && h[0].off == 12 &&
	      h[0].det == DET_SECRET);
	CHECK(detect_scan(p, strlen(p), 0, h, 4) == 0);
	CHECK(detect_scan(p, strlen(p), DET_BIT(DET_K8S_SECRET), h, 4) == 0);
}

/* Regression (found by fuzz_detect): a '+' near the end of a 64-byte
 * block starts what the block step takes for a long base64 run; the
 * walk stops there for the secret rule, and the phone matcher must not
 * run while phone is off. */
static void test_plus_at_block_end(void)
{
	char v[160];
	struct det_hit h[4];
	memset(v, ' ', sizeof(v));
	memcpy(v + 126, "+14155552671", 12);
	CHECK(detect_scan(v, 138, DET_ALL & ~DET_BIT(DET_PHONE), h, 4) == 0);
	CHECK(detect_scan(v, 138, DET_ALL, h, 4) == 1 && h[0].off == 126 && h[0].len == 12 &&
	      h[0].det == DET_PHONE);
	memcpy(v + 126, "(555) 123-4567", 14);
	CHECK(detect_scan(v, 140, DET_BIT(DET_SECRET), h, 4) == 0);
	CHECK(detect_scan(v, 140, DET_BIT(DET_PHONE), h, 4) == 1 && h[0].off == 126 && h[0].len == 14);
}

static void test_cap(void)
{
	static const char v[] = "a@example.com b@example.com c@example.com d@example.com e@example.com";
	struct det_hit h[3];
	memset(h, 0xAB, sizeof(h));
	CHECK(detect_scan(v, strlen(v), DET_ALL, h, 2) == 5);
	CHECK(h[0].off == 0 && h[0].len == 13 && h[1].off == 14 && h[1].len == 13);
	CHECK(h[2].off == 0xABABABABu && h[2].det == 0xAB);      /* untouched */
	CHECK(detect_scan(v, strlen(v), DET_ALL, NULL, 0) == 5);
	CHECK(detect_scan(v, strlen(v), DET_ALL, NULL, 7) == 5);   /* NULL: nothing written */
	CHECK(detect_scan(v, 0, DET_ALL, h, 3) == 0);
	CHECK(detect_scan(v, strlen(v) - 1, DET_ALL, h, 3) == 5);  /* "e@example.co" */
	CHECK(h[0].len == 13);
	/* Not NUL-terminated: the scan stops at n even mid-token. */
	CHECK(detect_scan("4111111111111111", 15, DET_ALL, h, 3) == 0);
}

static void test_names(void)
{
	static const char *const want[DET_COUNT] = {
		"email", "card", "iban", "ssn", "phone", "jwt", "bearer", "aws_key_id",
		"secret", "pem_key", "url_password", "k8s_secret",
	};
	for (int d = 0; d < DET_COUNT; d++) {
		CHECK(strcmp(detector_name((enum detector)d), want[d]) == 0);
		CHECK(detector_by_name(want[d], strlen(want[d])) == d);
	}
	CHECK(strcmp(detector_name(DET_COUNT), "invalid") == 0);
	CHECK(strcmp(detector_name((enum detector)-1), "invalid") == 0);
	CHECK(detector_by_name("Email", 5) == -1);
	CHECK(detector_by_name("emai", 4) == -1);
	CHECK(detector_by_name("emails", 6) == -1);
	CHECK(detector_by_name("email", 6) == -1);   /* the NUL is not part of a name */
	CHECK(detector_by_name("", 0) == -1);
	CHECK(detector_by_name(NULL, 0) == -1);
	CHECK(detector_by_name("cardx", 4) == DET_CARD);
}

static void test_k8s(void)
{
	CHECK(detect_k8s_secret_event("secrets", 7, NULL, 0));
	CHECK(detect_k8s_secret_event(NULL, 0, "secrets", 7));
	CHECK(detect_k8s_secret_event("pods", 4, "secrets", 7));
	CHECK(!detect_k8s_secret_event("secret", 6, NULL, 0));
	CHECK(!detect_k8s_secret_event("Secrets", 7, "configmaps", 10));
	CHECK(!detect_k8s_secret_event("secretsx", 7 + 1, NULL, 0));
	CHECK(!detect_k8s_secret_event(NULL, 0, NULL, 0));

	static const char *const yes[] = {
		"requestObject.data.password", "after.data.tls.key", "before.data..dockerconfigjson",
		"responseObject.items.data.token", "requestObject.stringData.password",
		"metadata.k8s.requestObject.data.x", "data", "data.x", "after.data",
		"requestObject.metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
		"annotations.kubectl.kubernetes.io/last-applied-configuration",
	};
	static const char *const no[] = {
		"requestObject.metadata.name", "requestObject.type", "objectRef.name",
		"requestObject.metadata.managedFields.fieldsV1.f:data.f:password",
		"after.database.host", "after.mydata.x", "after.Data.x", "after.datax",
		"after.stringdata.x", "metadata.annotations.example.com/data",
		"requestObject.metadata.annotations.kubectl.kubernetes.io/last-applied-configurationx",
		"requestObject.metadata.annotations.xkubectl.kubernetes.io/last-applied-configuration",
		"", "dat",
	};
	for (size_t x = 0; x < ARRAY_SIZE(yes); x++)
		CHECK_MSG(detect_k8s_secret_path(yes[x], strlen(yes[x])), "%s", yes[x]);
	for (size_t x = 0; x < ARRAY_SIZE(no); x++)
		CHECK_MSG(!detect_k8s_secret_path(no[x], strlen(no[x])), "%s", no[x]);
	CHECK(!detect_k8s_secret_path(NULL, 0));
	CHECK(detect_k8s_secret_path("after.data.x", 10));   /* "after.data" */
	CHECK(!detect_k8s_secret_path("after.data.x", 9));   /* "after.dat" */
}

/* Escaped JSON, decoded by jwalk, scanned leaf by leaf: the sensitive
 * values are split by escapes in the raw text and whole once decoded. */
struct leaves {
	char out[2048];
	size_t n;
};

static int scan_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct leaves *l = ctx;
	struct det_hit h[8];
	if (lf->type != JW_STRING)
		return 0;
	size_t nh = detect_scan(lf->val, lf->val_len, DET_ALL, h, 8);
	for (size_t x = 0; x < nh && x < 8; x++)
		l->n += (size_t)snprintf(l->out + l->n, sizeof(l->out) - l->n, "%s|%s|%.*s\n",
					 lf->path, detector_name(h[x].det), (int)h[x].len, lf->val + h[x].off);
	return 0;
}

static void test_escaped_json(void)
{
	static const char json[] =
		"{\"actor\":{\"id\":\"u1\",\"email\":\"j\\u006fhn@example.com\"},"
		"\"reason\":\"card 4111\\u00201111\\u00201111\\u00201111 ok\","
		"\"metadata\":{\"q\":\"say \\\"john@example.com\\\" now\","
		"\"h\":\"Authorization: Bearer abc\\/def\\/ghi123\","
		"\"pem\":\"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\","
		"\"u\":\"\\u00abjose@example.com\\u00bb\",\"e\":\"jos\\u00e9john@example.com\"}}";
	struct leaves l = { .n = 0 };
	CHECK(jwalk((const uint8_t *)json, strlen(json), scan_leaf, &l) == 0);
	l.out[l.n] = 0;
	CHECK_MSG(strcmp(l.out,
			 "actor.email|email|john@example.com\n"
			 "reason|card|4111 1111 1111 1111\n"
			 "metadata.q|email|john@example.com\n"
			 "metadata.h|bearer|abc/def/ghi123\n"
			 "metadata.pem|pem_key|-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
			 "metadata.u|email|jose@example.com\n") == 0, "got:\n%s", l.out);
}

/* Large values: linear time, hits far into the value, no reads past n. */
static void test_large(void)
{
	static char big[65536];
	struct det_hit h[4];
	memset(big, 'a', sizeof(big));
	CHECK(detect_scan(big, sizeof(big), DET_ALL, h, 4) == 0);
	memset(big, '1', sizeof(big));
	CHECK(detect_scan(big, sizeof(big), DET_ALL, h, 4) == 0);
	memset(big, ' ', sizeof(big));
	memcpy(big + sizeof(big) - 16, "4111111111111111", 16);
	CHECK(detect_scan(big, sizeof(big), DET_ALL, h, 4) == 1 && h[0].off == sizeof(big) - 16);
	for (size_t x = 0; x < sizeof(big); x++)
		big[x] = "password=@:-+(x"[x % 15];
	detect_scan(big, sizeof(big), DET_ALL, h, 4);
	CHECK(1);
}

/* ------------------------------------------------ same as the reference */

/* Every enable mask the tests use: all, none, each detector alone, all
 * but one, the masks of table cases, and a few mixed ones. */
static uint32_t masks[3 * DET_COUNT + 16];
static size_t nmasks;

static void add_mask(uint32_t m)
{
	for (size_t x = 0; x < nmasks; x++)
		if (masks[x] == m)
			return;
	if (nmasks < ARRAY_SIZE(masks))
		masks[nmasks++] = m;
}

static void init_masks(void)
{
	add_mask(DET_ALL);
	add_mask(0);
	for (int d = 0; d < DET_COUNT; d++) {
		add_mask(DET_BIT(d));
		add_mask(DET_ALL & ~DET_BIT(d));
	}
	for (size_t ci = 0; ci < ARRAY_SIZE(cases); ci++)
		if (cases[ci].mask)
			add_mask(cases[ci].mask);
	add_mask(DET_BIT(DET_CARD) | DET_BIT(DET_SSN) | DET_BIT(DET_PHONE));
	add_mask(DET_BIT(DET_JWT) | DET_BIT(DET_BEARER));
	add_mask(DET_BIT(DET_SECRET) | DET_BIT(DET_PEM_KEY));
	add_mask(DET_BIT(DET_EMAIL) | DET_BIT(DET_URL_PASSWORD));
	add_mask(DET_BIT(DET_IBAN) | DET_BIT(DET_AWS_KEY_ID) | DET_BIT(DET_CARD));
}

static size_t ref_mismatches, ref_compared;

/* detect_scan and ref_detect_scan on v[0..n) with mask agree exactly:
 * count, and every hit's offset, length and detector. Small caps too. */
static void same_as_ref(const char *v, size_t n, uint32_t mask)
{
	struct det_hit a[MAXH], b[MAXH];
	size_t cap = MAXH, na, nb;
	bool same;

	ref_compared++;
	if ((ref_compared & 7) == 0)
		cap = ref_compared % 3;         /* 0, 1 or 2: the cap path */
	memset(a, 0xA5, sizeof(a));
	memset(b, 0xA5, sizeof(b));
	na = detect_scan(v, n, mask, cap ? a : NULL, cap);
	nb = ref_detect_scan(v, n, mask, cap ? b : NULL, cap);
	same = na == nb;
	for (size_t x = 0; same && x < cap && x < na; x++)
		same = a[x].off == b[x].off && a[x].len == b[x].len && a[x].det == b[x].det;
	if (same)
		return;
	if (ref_mismatches++ < 10) {
		fprintf(stderr, "differs from the reference (mask %#x, cap %zu): %zu hits vs %zu on \"",
			mask, cap, na, nb);
		for (size_t x = 0; x < n; x++)
			fprintf(stderr, (unsigned char)v[x] >= 0x20 && v[x] < 0x7f ? "%c" : "\\x%02x",
				(unsigned char)v[x]);
		fprintf(stderr, "\"\n");
		for (size_t x = 0; x < cap && x < na && x < 4; x++)
			fprintf(stderr, "  new %s %u+%u\n", detector_name(a[x].det), a[x].off, a[x].len);
		for (size_t x = 0; x < cap && x < nb && x < 4; x++)
			fprintf(stderr, "  ref %s %u+%u\n", detector_name(b[x].det), b[x].off, b[x].len);
	}
}

static void report_ref(const char *what)
{
	CHECK_MSG(ref_mismatches == 0, "%s: %zu of %zu scans differ from the reference", what,
		  ref_mismatches, ref_compared);
	printf("%s: %zu scans compared with the reference\n", what, ref_compared);
	ref_mismatches = ref_compared = 0;
}

/* Every table case, with every mask, whole and cut at every length. */
static void test_same_as_ref_table(void)
{
	size_t n;
	struct det_hit exp[MAXH];
	for (size_t ci = 0; ci < ARRAY_SIZE(cases); ci++) {
		unmark(cases[ci].marked, plain_buf, &n, exp);
		for (size_t m = 0; m < nmasks; m++)
			for (size_t k = 0; k <= n; k++)
				same_as_ref(plain_buf, k, masks[m]);
	}
	report_ref("table cases");
}

/* Fragments the random strings are built of: pieces of every detector's
 * matches and near misses, separators, UTF-8 punctuation and junk. */
static const char *const frags[] = {
	"john", "@", "example.com", ".", "-", "_", "+", "(", ")", " ", "  ", ":", "=", "==", "=>",
	"\"", "'", "/", "//", "?", "#", ",", ";", "&", "\n", "\t", "$", "<", ">", "{", "[",
	"0", "1", "4111", "1111", "4111 1111 1111 1111", "4111111111111111", "378282246310005",
	"5555-5555-5555-4444", "2221", "219-09-9999", "078-05-1120", "SSN ", "ssn: ", "555",
	"(555) 123-4567", "+1 415 555 2671", "+44 20 7946 0958", "1-800-555-0199", "415.555.2671",
	"DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82WEST12345698765432", "DE",
	"eyJ", "eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxIn0", JWT_IO, "Bearer ", "bearer\t", "BEARER",
	"Authorization: ", "authorization=", "Basic ", "AKIA", "AKIAIOSFODNN7EXAMPLE", "ASIA",
	"AIDAJQABLZS4A3QDU576", AWS_SECRET, "password", "DB_PASSWORD=", "api_key", "token: ",
	"secret=", "x-api-key: ", "hunter2", "null", "[redacted]", "***", "changed.", SHA256_HEX,
	"f47797b2-cc7c-4278-9c79-e0800a63d028", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"sk_live_4eC39HqLyjWDarjtT1zdp7dc", "-----BEGIN ", "PRIVATE KEY", "CERTIFICATE", "-----",
	"-----END ", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", PEM_BODY,
	"postgres://", "app:s3cr3t@db", "redis://:pw@cache", "http://", "2024-03-01T01:55:14.001376Z",
	"192.0.2.28", "12:34", "v1.2.3", "Eitan Kim", "auth.login", "req_16f6cd97b9af3997",
	"\xc2\xab", "\xc2\xbb", "\xc2\xa0", "\xe2\x80\x9c", "\xe3\x80\x8c", "\xef\xbc\x88", "\xef\xbb\xbf",
	"\xc3\xa9", "\xe2\x82\xac", "\xff", "\x80", "\xe3", "\xe2\x80", "\xef\xbc\x91", "\x00",
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static const char spice[] = "aAbBeEyJuUKSGIRN09185-+_/().:=@ \"'\n\xc2\xa0\xe2\x80\x9c\xff";

/* Builds a random string of fragments into buf (at most cap bytes). */
static size_t random_value(char *buf, size_t cap)
{
	size_t n = 0, want = rng() % 4 == 0 ? rng() % cap : rng() % 96;
	while (n < want) {
		uint64_t r = rng();
		if (r % 8 == 0) {
			buf[n++] = (char)(r >> 8);             /* any byte */
			continue;
		}
		if (r % 8 == 1) {
			buf[n++] = spice[(r >> 8) % (sizeof(spice) - 1)];
			continue;
		}
		if (r % 8 == 2) {                              /* a letter or digit run */
			size_t len = (r >> 8) % 48;
			for (size_t x = 0; x < len && n < cap; x++) {
				uint64_t q = rng();
				buf[n++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
					[q % (q & 0x100 ? 62 : 10) + (q & 0x100 ? 0 : 52)];
			}
			continue;
		}
		const char *f = frags[(r >> 8) % ARRAY_SIZE(frags)];
		size_t len = *f ? strlen(f) : 1;
		if (n + len > cap)
			break;
		memcpy(buf + n, f, len);
		n += len;
	}
	/* Mutations: flip, overwrite with a spicy byte, cut. */
	for (int k = (int)(rng() % 4); k > 0 && n; k--) {
		uint64_t r = rng();
		size_t at = (r >> 8) % n;
		if (r % 3 == 0)
			buf[at] = (char)(buf[at] ^ (char)(1u << ((r >> 40) % 8)));
		else if (r % 3 == 1)
			buf[at] = spice[(r >> 40) % (sizeof(spice) - 1)];
		else
			n = at;
	}
	return n;
}

/* Random and mutated strings, each compared with every mask, each
 * scanned from a heap copy of exactly its length (so that ASan sees any
 * read past the value) and at a shifted offset (alignment). */
static void test_same_as_ref_random(void)
{
	static char buf[1200];
	long rounds = 400000;
	const char *e = getenv("SEALTRAIL_DETECT_ROUNDS");
	if (e)
		rounds = atol(e);
	for (long r = 0; r < rounds; r++) {
		size_t n = random_value(buf, r % 64 == 0 ? sizeof(buf) : 300);
		char *copy = malloc(n ? n : 1);
		if (!copy)
			abort();
		memcpy(copy, buf, n);
		for (size_t m = 0; m < nmasks; m++)
			same_as_ref(copy, n, masks[m]);
		same_as_ref(copy, n, (uint32_t)rng() & DET_ALL);
		if (n > 1)
			same_as_ref(copy + 1, n - 1, DET_ALL);
		free(copy);
	}
	report_ref("random strings");
}

/* Every string value of `gen_events 200000` (the benchmark's events),
 * when the generator is at hand: $SEALTRAIL/../bench/gen_events, as
 * ctest sets SEALTRAIL. */
struct ev_ctx {
	size_t values;
};

static int ref_leaf(void *ctx, const struct jw_leaf *lf)
{
	struct ev_ctx *c = ctx;
	if (lf->type != JW_STRING)
		return 0;
	c->values++;
	same_as_ref(lf->val, lf->val_len, DET_ALL);
	if (c->values % 4 == 0)
		same_as_ref(lf->val, lf->val_len, masks[c->values / 4 % nmasks]);
	return 0;
}

static void test_same_as_ref_events(void)
{
	const char *st = getenv("SEALTRAIL"), *sl;
	char cmd[4200];
	static char line[1 << 16];
	struct ev_ctx c = { 0 };
	FILE *f;

	if (!st || !(sl = strrchr(st, '/'))) {
		printf("gen_events: SEALTRAIL not set, skipped\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "%.*s/bench/gen_events 200000", (int)(sl - st), st);
	f = popen(cmd, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		CHECK(jwalk((const uint8_t *)line, strlen(line), ref_leaf, &c) == 0);
	int rc = pclose(f);
	CHECK_MSG(rc == 0 && c.values > 1000000, "%s: exit %d, %zu string values", cmd, rc, c.values);
	report_ref("gen_events 200000 values");
}

/* The narrowed triggers (classify() looks at the bytes after a word's
 * first one, past the 64-byte block too): each of these finds the same
 * hit wherever it sits relative to a block boundary, with spaces before
 * and after, at every offset 0..139, and agrees with the oracle. */
static void test_trigger_at_every_offset(void)
{
	static const char *const snippets[] = {
		JWT_IO, "Bearer abcdefgh12345678", "Authorization: Basic dXNlcjpwYXNzd29yZA==",
		"AKIAIOSFODNN7EXAMPLE", "DE89370400440532013000", "DE89 3704 0044 0532 0130 00",
		"1-800-555-0199", "1 (800) 555-0199", "+14155552671", "(555) 123-4567",
		"555.123.4567", "219-09-9999", "SSN 219099999", "4111111111111111",
		"4111 1111 1111 1111", "2223000048400011", "3782 822463 10005",
		("aws_secret_access_key=" AWS_SECRET), AWS_SECRET, "john@example.com",
		"postgres://app:s3cr3t@db", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
	};
	static char v[512];   /* 139 + the longest snippet + 1 */
	for (size_t x = 0; x < ARRAY_SIZE(snippets); x++) {
		size_t l = strlen(snippets[x]);
		struct det_hit want[4], got[4];
		size_t nw = detect_scan(snippets[x], l, DET_ALL, want, 4);
		CHECK_MSG(nw >= 1, "snippet %zu finds nothing alone", x);
		for (size_t k = 0; k < 140; k++) {
			size_t n = k + l + 1;
			memset(v, ' ', sizeof(v));
			memcpy(v + k, snippets[x], l);
			size_t ng = detect_scan(v, n, DET_ALL, got, 4);
			bool same = ng == nw;
			for (size_t h = 0; same && h < ng && h < 4; h++)
				same = got[h].off == want[h].off + k && got[h].len == want[h].len &&
				       got[h].det == want[h].det;
			CHECK_MSG(same, "snippet %zu at offset %zu: %zu hits, alone %zu", x, k, ng, nw);
			same_as_ref(v, n, DET_ALL);
			same_as_ref(v, k + l, DET_ALL);   /* ending with the value */
		}
	}
	report_ref("snippets at every offset");
}

int main(void)
{
	init_masks();
	test_same_as_ref_table();
	test_same_as_ref_random();
	test_same_as_ref_events();
	test_trigger_at_every_offset();
	test_table();
	test_each_alone();
	test_precedence();
	test_plus_at_block_end();
	test_cap();
	test_names();
	test_k8s();
	test_escaped_json();
	test_large();
	return test_report("test_detect");
}
