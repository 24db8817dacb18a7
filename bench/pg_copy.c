/*
 * pg_copy: the PostgreSQL baseline for durable ingest. Loads an NDJSON
 * file (from `gen_events N`) into a table with COPY, in batches, each
 * batch its own transaction, over several connections at once:
 *
 *   pg_copy CONNINFO FILE.ndjson [-c CONNS] [-b BATCH] [--table NAME] [--json]
 *
 * CONNS defaults to 4, BATCH to 1000, NAME to "events". The table needs a
 * column "body" (jsonb or text); bench/pg_baseline.sh creates it. Each
 * connection takes a contiguous share of the lines and loops
 *
 *   BEGIN; COPY NAME(body) FROM STDIN; <BATCH lines>; end of copy; COMMIT
 *
 * so every batch is acknowledged only after its commit is durable (the
 * server runs with synchronous_commit=on, fsync=on), the analogue of one
 * Sealtrail append request of BATCH events.
 *
 * Prints one human line ending with rows/s (the number bench/run.sh's
 * median_of reads); with --json the human line goes to stderr and stdout
 * gets one JSON object instead. Exits 0 on success, 1 when PostgreSQL
 * refused anything (the message names the connection and the batch's
 * first line), 2 on bad usage.
 *
 * Invariants: each line is sent exactly once, escaped for COPY's text
 * format (backslash, tab, newline, carriage return); the clock runs from
 * the moment all connections are open (a barrier) to the last COMMIT, so
 * connection setup is not counted; latencies are per batch, wall clock.
 * Only libc, pthreads and libpq: no project code is measured here.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>

#define MAX_CONNS 256
#define MAX_BATCH 1000000
#define MAX_FILE ((size_t)8 << 30)      /* 8 GiB: far beyond any data set */
#define SEND_CHUNK ((size_t)256 << 10)  /* PQputCopyData call size */
#define MAX_TABLE 63                    /* NAMEDATALEN - 1 */

struct line {
	size_t off, len;
};

struct job {
	/* Inputs, set before the thread starts. */
	int id;
	const char *conninfo;
	const char *table;
	const char *data;
	const struct line *lines;
	size_t first, count;  /* this connection's share of the lines */
	size_t batch;
	/* Outputs, read after join. */
	double *batch_ms;     /* BEGIN sent .. COMMIT acknowledged */
	double *commit_ms;    /* COMMIT sent .. acknowledged */
	size_t batches;
	int failed;
};

static pthread_barrier_t start_barrier;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fputs("usage: pg_copy CONNINFO FILE.ndjson [-c CONNS] [-b BATCH] [--table NAME] [--json]\n",
	      stderr);
	exit(2);
}

/* A positive integer in [1, max], or usage error naming the option. */
static size_t parse_count(const char *opt, const char *s, size_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max || s[0] == '-') {
		fprintf(stderr, "pg_copy: %s expects an integer 1..%zu, got '%s'\n", opt, max, s);
		exit(2);
	}
	return (size_t)v;
}

/* The table name goes into SQL text: accept plain lower-case identifiers only. */
static bool table_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_TABLE || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Read FILE whole into a NUL-terminated malloc'd buffer. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "pg_copy: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || (size_t)st.st_size > MAX_FILE) {
		fprintf(stderr, "pg_copy: %s: not a regular file of at most %zu bytes\n", path, MAX_FILE);
		fclose(f);
		return NULL;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf) {
		fprintf(stderr, "pg_copy: out of memory reading %zu bytes\n", len);
		fclose(f);
		return NULL;
	}
	size_t got = fread(buf, 1, len, f);
	int err = ferror(f);
	fclose(f);
	if (got != len || err) {
		fprintf(stderr, "pg_copy: %s: read %zu of %zu bytes\n", path, got, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* Index the non-empty lines of data[0..len). Returns the count, or -1. */
static long index_lines(const char *data, size_t len, struct line **ret_lines)
{
	size_t cap = 1024, n = 0, off = 0;
	struct line *v = malloc(cap * sizeof(*v));
	if (!v)
		return -1;
	while (off < len) {
		const char *nl = memchr(data + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t l = end - off;
		if (l && data[end - 1] == '\r')
			l--;
		if (l) {
			if (n == cap) {
				struct line *nv = realloc(v, 2 * cap * sizeof(*v));
				if (!nv) {
					free(v);
					return -1;
				}
				v = nv;
				cap *= 2;
			}
			v[n].off = off;
			v[n].len = l;
			n++;
		}
		off = end + 1;
	}
	*ret_lines = v;
	return (long)n;
}

/* Append one line, escaped for COPY text format, and its newline. */
static size_t escape_line(char *out, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		switch (c) {
		case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
		case '\t': out[o++] = '\\'; out[o++] = 't'; break;
		case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
		case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
		default: out[o++] = c; break;
		}
	}
	out[o++] = '\n';
	return o;
}

/* Run one command that returns no rows; on failure say where. */
static int exec_ok(PGconn *c, const char *sql, const struct job *j, size_t line)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pg_copy: conn %d, batch at line %zu: %s: %s", j->id, line + 1, sql,
			PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

static int put_copy(PGconn *c, const char *buf, size_t n, const struct job *j, size_t line)
{
	if (n > INT_MAX || PQputCopyData(c, buf, (int)n) != 1) {
		fprintf(stderr, "pg_copy: conn %d, batch at line %zu: sending COPY data: %s", j->id,
			line + 1, PQerrorMessage(c));
		return -1;
	}
	return 0;
}

/* One batch: BEGIN; COPY; lines; end; COMMIT. Returns 0 or -1. */
static int run_batch(PGconn *c, struct job *j, const char *copy_sql, char *sendbuf,
		     size_t first, size_t count)
{
	double t0 = now_s();
	if (exec_ok(c, "BEGIN", j, first) < 0)
		return -1;
	PGresult *r = PQexec(c, copy_sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		fprintf(stderr, "pg_copy: conn %d, batch at line %zu: %s: %s", j->id, first + 1,
			copy_sql, PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	size_t fill = 0;
	for (size_t i = first; i < first + count; i++) {
		const struct line *ln = &j->lines[i];
		/* Escaping at most doubles a line; flush first if it might not fit. */
		if (fill && fill + 2 * ln->len + 1 > SEND_CHUNK) {
			if (put_copy(c, sendbuf, fill, j, first) < 0)
				return -1;
			fill = 0;
		}
		if (2 * ln->len + 1 > SEND_CHUNK) {
			/* A line larger than the chunk: escape it on its own. */
			char *big = malloc(2 * ln->len + 1);
			if (!big) {
				fprintf(stderr, "pg_copy: out of memory for a %zu-byte line\n", ln->len);
				return -1;
			}
			size_t n = escape_line(big, j->data + ln->off, ln->len);
			int rc = put_copy(c, big, n, j, first);
			free(big);
			if (rc < 0)
				return -1;
			continue;
		}
		fill += escape_line(sendbuf + fill, j->data + ln->off, ln->len);
	}
	if (fill && put_copy(c, sendbuf, fill, j, first) < 0)
		return -1;
	if (PQputCopyEnd(c, NULL) != 1) {
		fprintf(stderr, "pg_copy: conn %d, batch at line %zu: ending COPY: %s", j->id,
			first + 1, PQerrorMessage(c));
		return -1;
	}
	int bad = 0;
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pg_copy: conn %d, batch at line %zu: COPY: %s", j->id,
				first + 1, PQerrorMessage(c));
			bad = 1;
		}
		PQclear(r);
	}
	if (bad)
		return -1;
	double t1 = now_s();
	if (exec_ok(c, "COMMIT", j, first) < 0)
		return -1;
	double t2 = now_s();
	j->batch_ms[j->batches] = (t2 - t0) * 1e3;
	j->commit_ms[j->batches] = (t2 - t1) * 1e3;
	j->batches++;
	return 0;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	char copy_sql[128];
	char *sendbuf = malloc(SEND_CHUNK);
	PGconn *c = PQconnectdb(j->conninfo);
	int ready = sendbuf && PQstatus(c) == CONNECTION_OK;
	if (!ready) {
		fprintf(stderr, "pg_copy: conn %d: %s", j->id,
			sendbuf ? PQerrorMessage(c) : "out of memory\n");
		j->failed = 1;
	}
	snprintf(copy_sql, sizeof(copy_sql), "COPY %s(body) FROM STDIN", j->table);
	/* Every thread passes the barrier, even a failed one, or the rest hang. */
	pthread_barrier_wait(&start_barrier);
	if (!ready)
		goto out;
	for (size_t i = 0; i < j->count; i += j->batch) {
		size_t n = j->count - i < j->batch ? j->count - i : j->batch;
		if (run_batch(c, j, copy_sql, sendbuf, j->first + i, n) < 0) {
			j->failed = 1;
			break;
		}
	}
out:
	PQfinish(c);
	free(sendbuf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *path = NULL, *table = "events";
	size_t conns = 4, batch = 1000;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-c") && i + 1 < argc)
			conns = parse_count("-c", argv[++i], MAX_CONNS);
		else if (!strcmp(a, "-b") && i + 1 < argc)
			batch = parse_count("-b", argv[++i], MAX_BATCH);
		else if (!strcmp(a, "--table") && i + 1 < argc)
			table = argv[++i];
		else if (!strcmp(a, "--json"))
			json = true;
		else if (a[0] == '-' && a[1])
			usage();
		else if (!conninfo)
			conninfo = a;
		else if (!path)
			path = a;
		else
			usage();
	}
	if (!conninfo || !path)
		usage();
	if (!table_name_ok(table)) {
		fprintf(stderr, "pg_copy: --table expects [a-z_][a-z0-9_]{0,62}, got '%s'\n", table);
		return 2;
	}

	int rc = 1;
	size_t len = 0;
	struct line *lines = NULL;
	struct job *jobs = NULL;
	pthread_t *tids = NULL;
	double *all_batch = NULL, *all_commit = NULL;
	char *data = read_file(path, &len);
	if (!data)
		goto free_data;
	long nl = index_lines(data, len, &lines);
	if (nl < 0) {
		fputs("pg_copy: out of memory indexing lines\n", stderr);
		goto free_data;
	}
	size_t rows = (size_t)nl;
	if (rows == 0) {
		fprintf(stderr, "pg_copy: %s has no lines\n", path);
		goto free_lines;
	}
	if (conns > rows)
		conns = rows;

	jobs = calloc(conns, sizeof(*jobs));
	tids = calloc(conns, sizeof(*tids));
	size_t max_batches = rows / batch + conns + 1;
	all_batch = malloc(max_batches * sizeof(double));
	all_commit = malloc(max_batches * sizeof(double));
	if (!jobs || !tids || !all_batch || !all_commit) {
		fputs("pg_copy: out of memory\n", stderr);
		goto free_jobs;
	}
	/* Contiguous shares, differing by at most one line. Each job writes
	 * its latencies into its own slice of the shared arrays. */
	size_t next = 0, slot = 0;
	for (size_t k = 0; k < conns; k++) {
		struct job *j = &jobs[k];
		j->id = (int)k;
		j->conninfo = conninfo;
		j->table = table;
		j->data = data;
		j->lines = lines;
		j->batch = batch;
		j->first = next;
		j->count = rows / conns + (k < rows % conns ? 1 : 0);
		next += j->count;
		j->batch_ms = all_batch + slot;
		j->commit_ms = all_commit + slot;
		slot += (j->count + batch - 1) / batch;
	}

	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)conns + 1) != 0) {
		fputs("pg_copy: pthread_barrier_init failed\n", stderr);
		goto free_jobs;
	}
	size_t started = 0;
	for (; started < conns; started++) {
		if (pthread_create(&tids[started], NULL, worker, &jobs[started]) != 0) {
			fprintf(stderr, "pg_copy: cannot start thread %zu\n", started);
			/* The barrier can never complete now; no way to recover. */
			exit(1);
		}
	}
	pthread_barrier_wait(&start_barrier);
	double t0 = now_s();
	for (size_t k = 0; k < conns; k++)
		pthread_join(tids[k], NULL);
	double wall = now_s() - t0;
	pthread_barrier_destroy(&start_barrier);

	int failed = 0;
	size_t batches = 0, done = 0;
	for (size_t k = 0; k < conns; k++) {
		failed |= jobs[k].failed;
		/* Compact the slices so the first `batches` entries are valid. */
		memmove(all_batch + batches, jobs[k].batch_ms, jobs[k].batches * sizeof(double));
		memmove(all_commit + batches, jobs[k].commit_ms, jobs[k].batches * sizeof(double));
		batches += jobs[k].batches;
		for (size_t b = 0; b < jobs[k].batches; b++) {
			size_t left = jobs[k].count - b * batch;
			done += left < batch ? left : batch;
		}
	}
	if (failed) {
		fprintf(stderr, "pg_copy: failed after %zu of %zu rows committed\n", done, rows);
		goto free_jobs;
	}
	qsort(all_batch, batches, sizeof(double), cmp_double);
	qsort(all_commit, batches, sizeof(double), cmp_double);
	double rate = wall > 0 ? (double)rows / wall : 0;
	double b50 = pct(all_batch, batches, 50), b99 = pct(all_batch, batches, 99);
	double c50 = pct(all_commit, batches, 50), c99 = pct(all_commit, batches, 99);
	fprintf(json ? stderr : stdout,
		"pg_copy: %zu rows (%zu bytes) into %s, %zu batches of %zu over %zu conns in %.3f s;"
		" batch latency p50 %.3f ms p99 %.3f ms; commit p50 %.3f ms p99 %.3f ms; %.0f rows/s\n",
		rows, len, table, batches, batch, conns, wall, b50, b99, c50, c99, rate);
	if (json)
		printf("{\"table\":\"%s\",\"rows\":%zu,\"bytes\":%zu,\"conns\":%zu,\"batch\":%zu,"
		       "\"batches\":%zu,\"seconds\":%.3f,\"rows_per_s\":%.0f,"
		       "\"batch_p50_ms\":%.3f,\"batch_p99_ms\":%.3f,"
		       "\"commit_p50_ms\":%.3f,\"commit_p99_ms\":%.3f}\n",
		       table, rows, len, conns, batch, batches, wall, rate, b50, b99, c50, c99);
	rc = fflush(stdout) == 0 ? 0 : 1;

free_jobs:
	free(all_batch);
	free(all_commit);
	free(tids);
	free(jobs);
free_lines:
	free(lines);
free_data:
	free(data);
	return rc;
}
