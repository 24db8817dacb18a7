/*
 * detect_bench: the cost of the PII and secret detectors (src/policy/
 * detect.c) on realistic audit events, in process, one thread.
 *
 *   detect_bench EVENTS.ndjson [--rounds R] [--pii K]
 *
 * EVENTS.ndjson is what bench/gen_events writes (one event per line;
 * `gen_events 200000 > /tmp/ev.ndjson`). Every string value of every
 * event is taken with jwalk, as the policy stage will see it, and kept in
 * memory; then the scan is timed R times (default 5) over all of them
 * and the best round is reported:
 *
 *   - "all detectors": detect_scan with DET_ALL on every value;
 *   - "all, 1 KiB values": the same bytes joined into ~1 KiB values
 *     (each event's strings separated by spaces), which shows the cost
 *     per byte apart from the cost per value;
 *   - "pii 1/K": the plain values, with one value of every K-th event (default
 *     20) replaced by a sentence holding sensitive data (an email, a card,
 *     a JWT, ...), so that the matching paths are timed too;
 *   - one line per detector alone, on the plain values;
 *   - "jwalk only": walking the events without scanning, for scale.
 *
 * Each line: MB/s of string-value bytes, ns per string value, ns per
 * event, and the number of hits. Timing is CLOCK_THREAD_CPUTIME_ID (CPU
 * time of this thread), so a busy machine shows less in the figures than
 * it would in wall time. Exit status: 0, 1 (input), 2 (usage).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/jwalk.h"
#include "policy/detect.h"

struct vals {
	char *buf;              /* all values, back to back */
	size_t len, cap;
	uint32_t *off;          /* value i is buf[off[i], off[i+1]) */
	size_t n, ncap;
	size_t events;
};

static void die(const char *what)
{
	fprintf(stderr, "detect_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void add(struct vals *v, const char *s, size_t n)
{
	if (v->len + n > v->cap) {
		v->cap = (v->cap + n) * 2;
		v->buf = realloc(v->buf, v->cap);
		if (!v->buf)
			die("realloc");
	}
	if (v->n + 2 > v->ncap) {
		v->ncap = v->ncap ? v->ncap * 2 : 1024;
		v->off = realloc(v->off, v->ncap * sizeof(*v->off));
		if (!v->off)
			die("realloc");
	}
	if (v->n == 0)
		v->off[0] = 0;
	memcpy(v->buf + v->len, s, n);
	v->len += n;
	v->off[++v->n] = (uint32_t)v->len;
}

static int leaf(void *ctx, const struct jw_leaf *lf)
{
	if (lf->type == JW_STRING)
		add(ctx, lf->val, lf->val_len);
	return 0;
}

static int count_leaf(void *ctx, const struct jw_leaf *lf)
{
	*(size_t *)ctx += lf->type == JW_STRING;
	return 0;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Best of rounds: CPU ns for one pass of detect_scan over all values. */
static uint64_t time_scan(const struct vals *v, uint32_t mask, int rounds, size_t *hits)
{
	uint64_t best = UINT64_MAX;
	struct det_hit h[16];
	*hits = 0;
	for (int r = 0; r < rounds; r++) {
		size_t nh = 0;
		uint64_t t0 = cpu_ns();
		for (size_t i = 0; i < v->n; i++)
			nh += detect_scan(v->buf + v->off[i], v->off[i + 1] - v->off[i], mask, h, 16);
		uint64_t t = cpu_ns() - t0;
		if (t < best)
			best = t;
		*hits = nh;
	}
	return best;
}

static void report(const char *name, const struct vals *v, uint64_t ns, size_t hits)
{
	printf("%-20s %8.0f MB/s %7.1f ns/value %7.0f ns/event %9zu hits\n", name,
	       (double)v->len / ((double)ns / 1e9) / 1e6, (double)ns / (double)v->n,
	       (double)ns / (double)v->events, hits);
}

static const char *const pii[] = {
	"refund requested by john.doe@example.com for card 4111 1111 1111 1111",
	"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
	"postgres://app:s3cr3t-pw@db.internal:5432/orders?sslmode=require",
	"payout to DE89 3704 0044 0532 0130 00, call +44 20 7946 0958 on failure",
	("aws_access_key_id=AKIA" "IOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
	"customer ssn 219-09-9999 verified, phone (555) 123-4567",
};

int main(int argc, char **argv)
{
	struct vals plain = { 0 }, mixed = { 0 }, lines = { 0 }, joined = { 0 };
	const char *path = NULL;
	int rounds = 5, k = 20;
	size_t hits = 0, cap = 1 << 20, len;
	char *line;
	FILE *f;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--rounds") == 0 && a + 1 < argc)
			rounds = atoi(argv[++a]);
		else if (strcmp(argv[a], "--pii") == 0 && a + 1 < argc)
			k = atoi(argv[++a]);
		else if (argv[a][0] != '-' && !path)
			path = argv[a];
		else
			path = NULL, a = argc;
	}
	if (!path || rounds < 1 || k < 1) {
		fprintf(stderr, "usage: detect_bench EVENTS.ndjson [--rounds R] [--pii K]\n");
		return 2;
	}
	if (!(f = fopen(path, "r")))
		die(path);
	if (!(line = malloc(cap)))
		die("malloc");
	while (fgets(line, (int)cap, f)) {
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		size_t before = plain.n;
		add(&lines, line, len);
		if (jwalk((const uint8_t *)line, len, leaf, &plain) != 0) {
			fprintf(stderr, "detect_bench: line %zu is not a JSON object\n", plain.events + 1);
			return 1;
		}
		for (size_t i = before; i < plain.n; i++) {
			const char *s = plain.buf + plain.off[i];
			size_t n = plain.off[i + 1] - plain.off[i];
			if (i == before && plain.events % (size_t)k == 0) {
				const char *p = pii[(plain.events / (size_t)k) % (sizeof(pii) / sizeof(pii[0]))];
				add(&mixed, p, strlen(p));
			} else {
				add(&mixed, s, n);
			}
		}
		plain.events++;
	}
	fclose(f);
	mixed.events = plain.events;
	if (!plain.n) {
		fprintf(stderr, "detect_bench: no string values in %s\n", path);
		return 1;
	}
	printf("%zu events, %zu string values, %zu value bytes (%.1f per value, %.0f per event)\n",
	       plain.events, plain.n, plain.len, (double)plain.len / (double)plain.n,
	       (double)plain.len / (double)plain.events);

	/* The same bytes as ~1 KiB values (each event's strings joined with
	 * spaces, events appended until 1 KiB): the per-byte cost without
	 * the per-value one. */
	{
		char *j = malloc(4096 + 65536);
		size_t jl = 0;
		if (!j)
			die("malloc");
		for (size_t i = 0; i < plain.n; i++) {
			size_t n = plain.off[i + 1] - plain.off[i];
			if (n > 65536)
				continue;
			memcpy(j + jl, plain.buf + plain.off[i], n);
			jl += n;
			j[jl++] = ' ';
			if (jl >= 1024) {
				add(&joined, j, jl);
				jl = 0;
			}
		}
		if (jl)
			add(&joined, j, jl);
		free(j);
		joined.events = plain.events;
	}
	uint64_t ns = time_scan(&plain, DET_ALL, rounds, &hits);
	report("all detectors", &plain, ns, hits);
	ns = time_scan(&joined, DET_ALL, rounds, &hits);
	report("all, 1 KiB values", &joined, ns, hits);
	char name[32];
	snprintf(name, sizeof(name), "pii 1/%d", k);
	ns = time_scan(&mixed, DET_ALL, rounds, &hits);
	report(name, &mixed, ns, hits);
	for (int d = 0; d < DET_K8S_SECRET; d++) {
		ns = time_scan(&plain, DET_BIT(d), rounds, &hits);
		report(detector_name((enum detector)d), &plain, ns, hits);
	}

	/* memchr for '@' over the same values: the floor of any scan. */
	{
		uint64_t best = UINT64_MAX;
		size_t found = 0;
		for (int r = 0; r < rounds; r++) {
			found = 0;
			uint64_t t0 = cpu_ns();
			for (size_t i = 0; i < plain.n; i++)
				found += memchr(plain.buf + plain.off[i], '@', plain.off[i + 1] - plain.off[i]) != NULL;
			uint64_t t = cpu_ns() - t0;
			if (t < best)
				best = t;
		}
		report("memchr '@'", &plain, best, found);
	}
	/* jwalk alone, for scale: the walk the policy stage does anyway. */
	{
		uint64_t best = UINT64_MAX;
		size_t nstr = 0;
		for (int r = 0; r < rounds; r++) {
			nstr = 0;
			uint64_t t0 = cpu_ns();
			for (size_t i = 0; i < lines.n; i++)
				jwalk((const uint8_t *)lines.buf + lines.off[i],
				      lines.off[i + 1] - lines.off[i], count_leaf, &nstr);
			uint64_t t = cpu_ns() - t0;
			if (t < best)
				best = t;
		}
		report("jwalk only", &plain, best, 0);
		if (nstr != plain.n)
			fprintf(stderr, "detect_bench: jwalk saw %zu strings, expected %zu\n", nstr, plain.n);
	}
	free(line);
	free(lines.buf);
	free(lines.off);
	free(joined.buf);
	free(joined.off);
	free(plain.buf);
	free(plain.off);
	free(mixed.buf);
	free(mixed.off);
	return 0;
}
