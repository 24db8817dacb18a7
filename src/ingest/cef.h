/*
 * cef.h - ArcSight CEF and IBM QRadar LEEF payloads, as they arrive in the
 * MSG of a syslog message (docs/SYSLOG.md).
 *
 *   CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
 *
 * The seven header fields are separated by '|'; inside them "\|" and "\\"
 * are escapes. The extension is "key=value" pairs separated by spaces; a
 * value runs to the space before the next "key=" (so it may hold spaces)
 * and escapes "\=", "\\", "\n", "\r" (and, tolerated, "\|"). A key is
 * 1..63 bytes of [A-Za-z0-9_.[]-].
 *
 *   LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value...
 *   LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<D>...
 *
 * LEEF 2.0's delimiter is one character, or its code as "xHH" / "0xHH";
 * empty means TAB. LEEF values carry no escapes; a pair whose key is not
 * 1..63 key characters is dropped (counted).
 *
 * Ownership: every slice points into the caller's input. Nothing
 * allocates; no global state.
 */
#ifndef SEALTRAIL_INGEST_CEF_H
#define SEALTRAIL_INGEST_CEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CEF_EXT_MAX 128              /* extension pairs kept; the rest counted */
#define CEF_KEY_MAX 63

enum cef_kind { CEF_CEF, CEF_LEEF };

struct cef_str {
	const uint8_t *p;
	size_t len;
	bool escaped;                /* holds a backslash escape (CEF only) */
};

struct cef_pair {
	struct cef_str key, value;
};

struct cef_msg {
	enum cef_kind kind;
	struct cef_str version;      /* "0", "1" (CEF); "1.0", "2.0" (LEEF) */
	struct cef_str vendor, product, dev_version, sig_id;
	struct cef_str name, severity;   /* CEF only (absent for LEEF) */
	uint8_t delim;               /* LEEF: the extension's delimiter */
	struct cef_pair ext[CEF_EXT_MAX];
	size_t next;
	size_t dropped;              /* pairs beyond CEF_EXT_MAX */
};

struct cef_error {
	size_t offset;
	char msg[120];
};

/* True when p[0..n) starts with "CEF:" or "LEEF:". */
bool cef_detect(const uint8_t *p, size_t n);

/* Parses p[0..n). 0, or ST_EINVAL with *err (a header without its
 * fields, an empty extension key, a LEEF delimiter that is not one). */
int cef_parse(const uint8_t *p, size_t n, struct cef_msg *m, struct cef_error *err);

/* Decodes s's escapes (CEF header or extension rules by ext) into out,
 * which has room for s.len bytes. Returns the length. */
size_t cef_decode(const struct cef_str *s, bool ext, uint8_t *out);

/* The CEF extension value of key (exact, case-sensitive), or NULL. */
const struct cef_str *cef_get(const struct cef_msg *m, const char *key);

#endif
