/*
 * timeutil.h - RFC 3339 timestamps and clocks.
 */
#ifndef SEALTRAIL_COMMON_TIMEUTIL_H
#define SEALTRAIL_COMMON_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict RFC 3339 date-time (section 5.6): YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm).
 * 'T' and 'Z' may be lower case, as the RFC allows. Fractions longer than
 * nanoseconds are accepted and truncated. A leap second (:60) is accepted
 * and counted as :59.999999999. Checks day-of-month against the calendar.
 * Refuses instants outside what int64 nanoseconds hold (1677..2262).
 * On success stores nanoseconds since the Unix epoch (UTC). */
bool rfc3339_parse(const char *s, size_t n, int64_t *ret_ns);

/* Formats ns as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 chars + NUL). */
#define RFC3339_US_LEN 27
void rfc3339_format_us(int64_t ns, char out[RFC3339_US_LEN + 1]);

int64_t now_realtime_ns(void);
int64_t now_monotonic_ns(void);

#endif
