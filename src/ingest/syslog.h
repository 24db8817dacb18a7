/*
 * syslog.h - syslog over TCP: the framing of a byte stream into messages
 * (RFC 6587 octet counting and newline framing, told apart per frame),
 * and the parsing of one message (RFC 5424; RFC 3164 best effort)
 * (docs/SYSLOG.md).
 *
 * Framing (syslog_framer). A frame that starts with a digit run (1 to 10
 * digits, the first not 0) and a space is octet-counted: the number is
 * the length of the message that follows the space. Anything else is
 * newline-framed: the message runs to the next LF (a CR before it is
 * dropped); an empty line is skipped. The framer never loses its place:
 *  - an octet-counted frame longer than max_frame is refused and exactly
 *    its N bytes are skipped, however many reads they span;
 *  - a newline frame longer than max_frame is refused and everything up
 *    to and including the next LF is skipped;
 *  - a count with a leading zero or more than 10 digits is not a count:
 *    the frame is read as newline-framed (and will likely be malformed).
 * Every refusal says which frame and at which byte of the stream it
 * started, so the listener can log it.
 *
 * Parsing (syslog_parse). "<PRI>1 " starts RFC 5424: TIMESTAMP HOSTNAME
 * APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG], each field checked for
 * its grammar (PRINTUSASCII, lengths 255/48/128/32), the timestamp for
 * RFC 3339 as 5424 restricts it, SD-ELEMENTs with escapes (\" \\ \]) in
 * PARAM-VALUEs, and a UTF-8 BOM in front of MSG noted and removed. A bad
 * 5424 header is ST_EINVAL naming the byte. Any other "<PRI>" frame is
 * RFC 3164, read best effort: "Mmm dd hh:mm:ss" (or an RFC 3339 stamp),
 * a hostname, a TAG[pid]: and the rest; whatever does not fit is the
 * message. A frame without "<PRI>" is taken as 3164 with PRI 13
 * (user.notice), as RFC 3164 4.3.3 asks of a relay. A PRI above 191, or
 * a '<' without a valid PRI, is ST_EINVAL.
 *
 * Ownership: every slice in struct syslog_msg points into the caller's
 * frame, which must outlive it. Nothing allocates; there is no global
 * state (thread-compatible).
 */
#ifndef SEALTRAIL_INGEST_SYSLOG_H
#define SEALTRAIL_INGEST_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSLOG_MAX_FRAME_MIN 480        /* RFC 5424 6.1: receivers MUST take 480 */
#define SYSLOG_SD_ELEMENTS_MAX 16       /* SD-ELEMENTs kept per message */
#define SYSLOG_SD_PARAMS_MAX 64         /* SD-PARAMs kept per message, all elements */

/* ---- framing ---- */

enum syslog_framing { SYSLOG_FRAMING_OCTET, SYSLOG_FRAMING_NEWLINE };

enum syslog_frame_error {
	SYSLOG_FRAME_OVERSIZED = 1,  /* longer than max_frame */
	SYSLOG_FRAME_TRUNCATED,      /* the stream ended inside an octet-counted frame */
};

struct syslog_frame {
	const uint8_t *p;            /* the message (without count, LF or CR) */
	size_t len;
	uint64_t offset;             /* stream offset of the frame's first byte */
	enum syslog_framing framing;
	int error;                   /* 0, or enum syslog_frame_error (p, len unset) */
	uint64_t skipped;            /* error: the bytes the refused frame spans (so far) */
};

/* Private state: read only through syslog_frame_next. */
struct syslog_framer {
	size_t sf_max;               /* max_frame */
	uint64_t sf_offset;          /* stream offset of the next unconsumed byte */
	uint64_t sf_skip;            /* bytes still to skip of a refused octet frame */
	bool sf_skip_nl;             /* skipping to the next LF */
};

void syslog_framer_init(struct syslog_framer *f, size_t max_frame);

/*
 * Looks for the next frame in p[0..n), the unconsumed bytes of the
 * stream. Returns 1 with *ret a frame (or a refused frame: ret->error)
 * and *consumed the bytes to drop from the front of p; 0 when more bytes
 * are needed (*consumed may still be nonzero: bytes skipped, or blank
 * lines). A caller keeps the bytes not consumed and calls again with more
 * appended; it never needs to buffer more than max_frame + 12 bytes.
 * At the end of the stream, syslog_frame_last takes what is left.
 */
int syslog_frame_next(struct syslog_framer *f, const uint8_t *p, size_t n, size_t *consumed,
		      struct syslog_frame *ret);

/* At EOF: the unterminated rest p[0..n) as a newline frame, or a refused
 * one (a partial octet frame: SYSLOG_FRAME_TRUNCATED; longer than
 * max_frame: SYSLOG_FRAME_OVERSIZED). 1 with *ret, or 0 when nothing is
 * left but blanks or the tail of a frame already refused. */
int syslog_frame_last(struct syslog_framer *f, const uint8_t *p, size_t n,
		      struct syslog_frame *ret);

/* ---- one message ---- */

struct syslog_slice {
	const uint8_t *p;            /* NULL: absent (NILVALUE "-" in 5424) */
	size_t len;
};

struct syslog_param {
	struct syslog_slice name;
	struct syslog_slice value;   /* as written: escapes \" \\ \] not decoded */
	uint16_t element;            /* index into syslog_msg.sd */
	bool escaped;                /* value holds a backslash */
};

struct syslog_sd {
	struct syslog_slice id;
	uint16_t first, count;       /* its params in syslog_msg.params */
};

enum syslog_format { SYSLOG_5424, SYSLOG_3164 };

struct syslog_msg {
	enum syslog_format format;
	unsigned facility;           /* 0..23 */
	unsigned severity;           /* 0..7 */
	bool pri_given;              /* false: 3164 without PRI, 13 assumed */
	struct syslog_slice timestamp;  /* as written; absent: NILVALUE or none */
	bool ts_3164;                /* timestamp is "Mmm dd hh:mm:ss" */
	int64_t time_ns;             /* when timestamp parsed: UTC ns; else 0 */
	bool time_valid;
	struct syslog_slice hostname, app, procid, msgid;
	struct syslog_sd sd[SYSLOG_SD_ELEMENTS_MAX];
	size_t nsd;
	struct syslog_param params[SYSLOG_SD_PARAMS_MAX];
	size_t nparams;
	size_t sd_dropped;           /* elements or params beyond the limits */
	struct syslog_slice msg;     /* without BOM; absent when there is none */
	bool bom;                    /* MSG began with EF BB BF */
};

struct syslog_error {
	size_t offset;               /* byte in the frame */
	char msg[120];
};

/*
 * Parses frame p[0..n). now_ns: the time of receipt, for the year of a
 * 3164 timestamp (the current year, or the previous one when the stamp
 * would be more than a day in the future: a December message read in
 * January). 0, or ST_EINVAL with *err filled.
 */
int syslog_parse(const uint8_t *p, size_t n, int64_t now_ns, struct syslog_msg *m,
		 struct syslog_error *err);

/* Decodes a PARAM-VALUE's escapes (\" \\ \]; any other backslash is kept,
 * RFC 5424 6.3.3) into out (room for v.len bytes). Returns the length. */
size_t syslog_param_decode(struct syslog_slice v, uint8_t *out);

/* "kern", "user", ... "local7"; "emerg" ... "debug". */
const char *syslog_facility_name(unsigned f);
const char *syslog_severity_name(unsigned s);

#endif
