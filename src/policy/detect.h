/*
 * detect.h - the PII and secret detectors of the redaction policy
 * (issue 5; the rules, with their reasons, are in docs/DETECTORS.md).
 *
 * detect_scan() looks at one decoded string value - the bytes jwalk()
 * reports, escapes already resolved - and finds the spans that are an
 * email address, a card number, an IBAN, a US SSN, a phone number, a JWT,
 * bearer credentials, an AWS access key id, a secret-looking string, a
 * PEM private key or the password of a URL. It is one forward pass over
 * the value with cheap trigger bytes, no regex engine, no allocation.
 *
 * The data of a Kubernetes Secret is found by structure, not by text: the
 * caller asks detect_k8s_secret_event() once per event and
 * detect_k8s_secret_path() per value (DET_K8S_SECRET is never reported by
 * detect_scan()).
 *
 * Everything here reads only its arguments and static const tables: all
 * functions are thread-safe and reentrant, and none allocates or logs.
 * Pointers are borrowed for the call; nothing is kept.
 */
#ifndef SEALTRAIL_POLICY_DETECT_H
#define SEALTRAIL_POLICY_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Detector ids. The numbers are internal (masks, hit records) and may be
 * renumbered; what is stored and written in policy files is the name. */
enum detector {
	DET_EMAIL,
	DET_CARD,
	DET_IBAN,
	DET_SSN,
	DET_PHONE,
	DET_JWT,
	DET_BEARER,
	DET_AWS_KEY_ID,
	DET_SECRET,
	DET_PEM_KEY,
	DET_URL_PASSWORD,
	DET_K8S_SECRET,
	DET_COUNT
};

#define DET_BIT(d) (1u << (d))
#define DET_ALL ((1u << DET_COUNT) - 1u)

/* The stable name of a detector, used in policy files and in the stored
 * `redacted` list: "email", "card", "iban", "ssn", "phone", "jwt",
 * "bearer", "aws_key_id", "secret", "pem_key", "url_password",
 * "k8s_secret"; "invalid" for a value outside the enum. Never NULL. */
const char *detector_name(enum detector d);

/* The detector named s[0..n) (exact, lower case), or -1 when none is. */
int detector_by_name(const char *s, size_t n);

/* One sensitive span v[off, off+len) found by detector det. */
struct det_hit {
	uint32_t off, len;
	uint8_t det;    /* enum detector */
};

/*
 * Finds the sensitive spans of the string value v[0..n) (UTF-8 expected,
 * any bytes accepted, not NUL-terminated) for the detectors whose
 * DET_BIT is set in enabled. Hits are reported in order of offset and
 * never overlap; at most cap are written to hits (which may be NULL when
 * cap is 0). Returns the number found, which may exceed cap: scanning
 * goes on after the array is full so that counts stay exact.
 *
 * Only the first UINT32_MAX bytes of a longer value are scanned (values
 * reach detect_scan through jwalk, which cuts them at JW_VALUE_MAX).
 * Time is linear in n.
 */
size_t detect_scan(const char *v, size_t n, uint32_t enabled,
		   struct det_hit *hits, size_t cap);

/*
 * Whether an event concerns a Kubernetes Secret: its resource.type is
 * "secrets", or (a Kubernetes audit event) its objectRef.resource is.
 * Either string may be NULL (absent). Exact match: the API server
 * always writes the plural, lower case resource name.
 */
bool detect_k8s_secret_event(const char *resource_type, size_t rt_len,
			     const char *objref_resource, size_t or_len);

/*
 * Whether the value at the jwalk-style dotted path path[0..len) of an
 * event that concerns a Secret (detect_k8s_secret_event) is Secret data:
 * the path has a component that is exactly "data" or "stringData"
 * (e.g. "requestObject.data.password", "after.data.tls.key",
 * "responseObject.items.stringData.x"), or it ends in the
 * "kubectl.kubernetes.io/last-applied-configuration" annotation, whose
 * value is the whole applied manifest, data included. The whole value
 * is then sensitive.
 */
bool detect_k8s_secret_path(const char *path, size_t len);

#endif
