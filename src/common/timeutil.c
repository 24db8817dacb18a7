/*
 * timeutil.c - RFC 3339 parsing and formatting without libc time zones:
 * days-from-civil arithmetic, so results never depend on TZ.
 */
#include "common/timeutil.h"

#include <time.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool rfc3339_parse(const char *s, size_t n, int64_t *ret_ns)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, mi, sec, oh = 0, om = 0;
	int64_t frac = 0;
	size_t i;

	if (n < 20)
		return false;
	if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
	    s[7] != '-' || !digits(s + 8, 2, &D) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 60)
		return false;
	if (D > mdays[M - 1] + (M == 2 && leap(Y)))
		return false;
	i = 19;
	if (i < n && s[i] == '.') {
		int nd = 0;
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (nd < 9) {
				frac = frac * 10 + (s[i] - '0');
				nd++;
			}
			i++;
		}
		if (nd == 0)
			return false;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (i >= n)
		return false;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		if (n - i != 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		if (s[i] == '-') {
			oh = -oh;
			om = -om;
		}
		i += 6;
	} else {
		return false;
	}
	if (i != n)
		return false;
	if (sec == 60) {
		sec = 59;
		frac = 999999999;
	}
	int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (oh * 3600 + om * 60);
	/* Nanoseconds in an int64 reach from 1677-09-21 to 2262-04-11. */
	if (secs < INT64_MIN / 1000000000 + 1 || secs > INT64_MAX / 1000000000 - 1)
		return false;
	*ret_ns = secs * 1000000000 + frac;
	return true;
}

void rfc3339_format_us(int64_t ns, char out[RFC3339_US_LEN + 1])
{
	int64_t secs = ns / 1000000000, rem = ns % 1000000000;
	if (rem < 0) {
		rem += 1000000000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	/* Years outside 0..9999 cannot be written in RFC 3339; clamp. */
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	unsigned v[7] = { (unsigned)y, m, d, (unsigned)(sod / 3600),
			  (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
			  (unsigned)(rem / 1000) };
	static const unsigned width[7] = { 4, 2, 2, 2, 2, 2, 6 };
	static const char sep[7] = { '-', '-', 'T', ':', ':', '.', 'Z' };
	size_t o = 0;
	for (int i = 0; i < 7; i++) {
		for (unsigned k = width[i]; k-- > 0;) {
			out[o + k] = (char)('0' + v[i] % 10);
			v[i] /= 10;
		}
		o += width[i];
		out[o++] = sep[i];
	}
	out[o] = 0;
}

int64_t now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t now_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
