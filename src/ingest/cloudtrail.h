/*
 * cloudtrail.h - AWS CloudTrail log files as Sealtrail events
 * (docs/IMPORT.md, "cloudtrail").
 *
 * CloudTrail delivers one JSON document per file, {"Records":[...]},
 * usually gzip-compressed. Each Record becomes one event:
 *
 *   id          "ct-" eventID (CloudTrail's own GUID): the same record
 *               imported twice is a duplicate, never a copy; a record
 *               without a usable eventID gets "ct-h" and 16 bytes (hex)
 *               of SHA-256 of the record, stable too
 *   time        eventTime
 *   action      aws.<service>.<eventName>, service = eventSource less
 *               ".amazonaws.com" (lower case), eventName as AWS spells it
 *   actor       userIdentity: id = arn, else principalId, else invokedBy,
 *               else accountId; type from userIdentity.type; ip =
 *               sourceIPAddress when it is an address; user_agent
 *   resource    resources[0] (ARN, type, accountId), else the obvious
 *               requestParameters (bucketName, roleName, ...), else
 *               {"type":"aws.<service>"}
 *   outcome     errorCode AccessDenied* / *UnauthorizedOperation /
 *               *Unauthorized* denied, another errorCode failure, none
 *               success (a ConsoleLogin answered "Failure": failure)
 *   metadata    the rest, requestParameters and responseElements
 *               included (docs/IMPORT.md has the table)
 *
 * A file is one unit: it is parsed whole (ct_file_open), then mapped
 * record by record (ct_file_map), so the importer can send it in batches
 * and mark it done only when every batch is acknowledged.
 *
 * Limits: CT_FILE_MAX bytes of (decompressed) JSON, CT_RECORDS_MAX
 * records, CT_VALUES_MAX JSON values in the file; a record whose event
 * would be too large for the log is composed again without its largest
 * parts (metadata.objects_omitted says so), never dropped.
 *
 * Thread safety: none needed; all state is in the caller's structs.
 */
#ifndef SEALTRAIL_INGEST_CLOUDTRAIL_H
#define SEALTRAIL_INGEST_CLOUDTRAIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "event/event.h"
#include "policy/jdoc.h"

#define CT_FILE_MAX (128u << 20)   /* bytes of one log file, decompressed */
#define CT_RECORDS_MAX 100000      /* Records in one file */
#define CT_VALUES_MAX 8000000u     /* JSON values in one file (the parse tree's size) */

struct ct_error {
	size_t offset;               /* byte in the file */
	long record;                 /* Records[record], or -1 for the file */
	char msg[200];
};

/* A parsed file. Owns its arena; borrows the input, which must outlive it. */
struct ct_file {
	struct jdoc_arena arena;
	const struct jdoc_value *records;  /* the Records array */
	uint32_t count;
};

/*
 * Parses json[0..n) as a CloudTrail log file. 0, or ST_EINVAL (not JSON,
 * not {"Records":[...]}: err says where), ST_ELIMIT (a limit above).
 * ct_file_release must be called either way.
 */
int ct_file_open(struct ct_file *f, const uint8_t *json, size_t n, struct ct_error *err);
/*
 * Appends Records[i] as one NDJSON line (an event event_parse accepts
 * under lim) to out. 0; ST_EINVAL when the record cannot be an event (not
 * an object, no valid eventTime: err names it), ST_ELIMIT when out is
 * full. On error out is as it was.
 */
int ct_file_map(const struct ct_file *f, uint32_t i, const struct event_limits *lim, struct buf *out,
		struct ct_error *err);
/* Frees the tree; safe on a zeroed or released struct. */
void ct_file_release(struct ct_file *f);

/*
 * The whole file at once (tests, fuzzing): the events of every record
 * that maps, in order; a record that does not is passed to refused (may
 * be NULL) and skipped. Returns the number of events, or a negative error
 * of ct_file_open (out as it was).
 */
long ct_map(const uint8_t *json, size_t n, const struct event_limits *lim, struct buf *out,
	    void (*refused)(void *ctx, const struct ct_error *err), void *ctx, struct ct_error *err);

#endif
