/*
 * pg_query: the PostgreSQL side of the search benchmark (issue 4). Runs
 * the query set that bench/search_queries.py writes against the table
 * that bench/search_pg.sh builds, and reports wall latency per class:
 *
 *   pg_query CONNINFO QUERIES.tsv [--raw FILE] [--summary FILE]
 *
 * QUERIES.tsv has lines "class<TAB>sealtrail_query<TAB>sql". Classes run
 * in the order they first appear, each class's queries in file order:
 *
 *   1. warm-up: every query of the class is prepared (PQprepare) and
 *      executed once, results discarded;
 *   2. prepared: every query executed once more (PQexecPrepared) -- the
 *      reported figure: execution, no parse or plan;
 *   3. simple: every query once as plain SQL text (PQexec): parse, plan
 *      and execute, what an ad-hoc client pays.
 *
 * Each measurement is CLOCK_MONOTONIC around the one libpq call, which
 * returns only when every row has arrived (results are fetched whole, in
 * text format); the client runs on the same machine (use a loopback TCP
 * CONNINFO). The SQL has its literals inlined, so a prepared statement
 * has no parameters and PostgreSQL plans it once, with the literals.
 *
 * stdout: one line per class, "class n p50 p95 max (prepared) ... rows
 * min/median/max ... simple p50 p95 max". --summary FILE gets the machine
 * form: a header "class p50_ms p95_ms n" and one tab-separated line per
 * class (prepared). --raw FILE gets every measurement:
 * "class index mode ms rows". Percentiles are nearest-rank: p95 of 50
 * values is the 48th smallest, of 5 values the largest.
 *
 * Exits 0 on success, 1 if PostgreSQL refused anything (the message names
 * the class and the query's line), 2 on bad usage. Only libc and libpq:
 * no project code is measured here.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define MAX_QUERIES 100000

struct query {
	char *cls;
	char *st;     /* the Sealtrail query: not used here, kept for messages */
	char *sql;
	size_t line;  /* 1-based line in the file */
	double prep_ms, simple_ms;
	int rows;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the ceil(p * n)-th smallest of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	size_t r = (size_t)ceil(p * (double)n - 1e-9);
	if (r < 1)
		r = 1;
	return v[r - 1];
}

/* Read the TSV: three fields, tab-separated; returns the count or -1. */
static long read_queries(const char *path, struct query *q, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t len = 0, n = 0, lineno = 0;
	ssize_t got;

	if (!f) {
		fprintf(stderr, "pg_query: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &len, f)) >= 0) {
		lineno++;
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		if (got == 0)
			continue;
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t1 || !t2 || strchr(t2 + 1, '\t') || t1 == line || !t2[1]) {
			fprintf(stderr, "pg_query: %s:%zu: want class<TAB>sealtrail_query<TAB>sql\n",
				path, lineno);
			goto fail;
		}
		if (n == cap) {
			fprintf(stderr, "pg_query: %s: more than %zu queries\n", path, cap);
			goto fail;
		}
		*t1 = *t2 = '\0';
		q[n].cls = strdup(line);
		q[n].st = strdup(t1 + 1);
		q[n].sql = strdup(t2 + 1);
		q[n].line = lineno;
		if (!q[n].cls || !q[n].st || !q[n].sql) {
			fputs("pg_query: out of memory\n", stderr);
			goto fail;
		}
		n++;
	}
	free(line);
	fclose(f);
	return (long)n;
fail:
	free(line);
	fclose(f);
	return -1;
}

/* Check a result: tuples, or a message naming the query. Clears it. */
static int check(PGresult *r, const char *what, const struct query *q, int *rows)
{
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "pg_query: %s of %s query at line %zu failed: %s  sql: %s\n",
			what, q->cls, q->line, PQresultErrorMessage(r), q->sql);
		PQclear(r);
		return -1;
	}
	if (rows)
		*rows = PQntuples(r);
	PQclear(r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *path = NULL, *raw_path = NULL, *sum_path = NULL;
	FILE *raw = NULL, *sum = NULL;
	struct query *q;
	PGconn *c;
	long n;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--raw") && i + 1 < argc)
			raw_path = argv[++i];
		else if (!strcmp(argv[i], "--summary") && i + 1 < argc)
			sum_path = argv[++i];
		else if (argv[i][0] == '-' || (conninfo && path))
			goto usage;
		else if (!conninfo)
			conninfo = argv[i];
		else
			path = argv[i];
	}
	if (!conninfo || !path)
		goto usage;

	q = calloc(MAX_QUERIES, sizeof(*q));
	if (!q) {
		fputs("pg_query: out of memory\n", stderr);
		return 1;
	}
	n = read_queries(path, q, MAX_QUERIES);
	if (n <= 0) {
		if (n == 0)
			fprintf(stderr, "pg_query: %s has no queries\n", path);
		return 1;
	}
	if (raw_path && !(raw = fopen(raw_path, "w"))) {
		fprintf(stderr, "pg_query: cannot write %s: %s\n", raw_path, strerror(errno));
		return 1;
	}
	if (sum_path && !(sum = fopen(sum_path, "w"))) {
		fprintf(stderr, "pg_query: cannot write %s: %s\n", sum_path, strerror(errno));
		return 1;
	}
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_query: connecting: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	if (raw)
		fputs("class\tindex\tmode\tms\trows\n", raw);
	if (sum)
		fputs("class\tp50_ms\tp95_ms\tn\n", sum);
	printf("%-16s %4s %9s %9s %9s  %-17s %9s %9s %9s\n", "class", "n", "p50_ms", "p95_ms",
	       "max_ms", "rows min/med/max", "simple50", "simple95", "simplemax");

	bool *done = calloc((size_t)n, sizeof(bool));
	size_t *idx = malloc((size_t)n * sizeof(size_t));
	double *v = malloc((size_t)n * sizeof(double));
	int *rv = malloc((size_t)n * sizeof(int));
	if (!done || !idx || !v || !rv) {
		fputs("pg_query: out of memory\n", stderr);
		goto out;
	}
	for (long first = 0; first < n; first++) {
		if (done[first])
			continue;
		const char *cls = q[first].cls;
		size_t k = 0;
		for (long i = first; i < n; i++)
			if (!done[i] && !strcmp(q[i].cls, cls)) {
				done[i] = true;
				idx[k++] = (size_t)i;
			}
		/* 1. warm-up: prepare and run each once */
		for (size_t j = 0; j < k; j++) {
			struct query *x = &q[idx[j]];
			char name[32];
			snprintf(name, sizeof(name), "q%zu", idx[j]);
			if (check(PQprepare(c, name, x->sql, 0, NULL), "prepare", x, NULL) < 0 ||
			    check(PQexecPrepared(c, name, 0, NULL, NULL, NULL, 0), "warm-up", x, NULL) < 0)
				goto out;
		}
		/* 2. prepared, measured */
		for (size_t j = 0; j < k; j++) {
			struct query *x = &q[idx[j]];
			char name[32];
			snprintf(name, sizeof(name), "q%zu", idx[j]);
			double t0 = now_ms();
			PGresult *r = PQexecPrepared(c, name, 0, NULL, NULL, NULL, 0);
			double t1 = now_ms();
			if (check(r, "prepared run", x, &x->rows) < 0)
				goto out;
			x->prep_ms = t1 - t0;
		}
		/* 3. simple query protocol: parse + plan + execute */
		for (size_t j = 0; j < k; j++) {
			struct query *x = &q[idx[j]];
			int rows;
			double t0 = now_ms();
			PGresult *r = PQexec(c, x->sql);
			double t1 = now_ms();
			if (check(r, "simple run", x, &rows) < 0)
				goto out;
			if (rows != x->rows) {
				fprintf(stderr, "pg_query: %s query at line %zu: %d rows prepared, %d simple\n",
					cls, x->line, x->rows, rows);
				goto out;
			}
			x->simple_ms = t1 - t0;
		}
		if (raw)
			for (size_t j = 0; j < k; j++) {
				struct query *x = &q[idx[j]];
				fprintf(raw, "%s\t%zu\tprepared\t%.3f\t%d\n", cls, j, x->prep_ms, x->rows);
				fprintf(raw, "%s\t%zu\tsimple\t%.3f\t%d\n", cls, j, x->simple_ms, x->rows);
			}
		for (size_t j = 0; j < k; j++) {
			v[j] = q[idx[j]].prep_ms;
			rv[j] = q[idx[j]].rows;
		}
		qsort(v, k, sizeof(double), cmp_double);
		qsort(rv, k, sizeof(int), cmp_int);
		double p50 = pct(v, k, 0.50), p95 = pct(v, k, 0.95), mx = v[k - 1];
		char rows[64];
		snprintf(rows, sizeof(rows), "%d/%d/%d", rv[0], rv[(k - 1) / 2], rv[k - 1]);
		for (size_t j = 0; j < k; j++)
			v[j] = q[idx[j]].simple_ms;
		qsort(v, k, sizeof(double), cmp_double);
		printf("%-16s %4zu %9.3f %9.3f %9.3f  %-17s %9.3f %9.3f %9.3f\n", cls, k, p50, p95, mx,
		       rows, pct(v, k, 0.50), pct(v, k, 0.95), v[k - 1]);
		fflush(stdout);
		if (sum)
			fprintf(sum, "%s\t%.3f\t%.3f\t%zu\n", cls, p50, p95, k);
	}
	rc = 0;
out:
	free(done);
	free(idx);
	free(v);
	free(rv);
	PQfinish(c);
	if (raw && fclose(raw) != 0) {
		fprintf(stderr, "pg_query: writing %s: %s\n", raw_path, strerror(errno));
		rc = 1;
	}
	if (sum && fclose(sum) != 0) {
		fprintf(stderr, "pg_query: writing %s: %s\n", sum_path, strerror(errno));
		rc = 1;
	}
	for (long i = 0; i < n; i++) {
		free(q[i].cls);
		free(q[i].st);
		free(q[i].sql);
	}
	free(q);
	return rc;

usage:
	fputs("usage: pg_query CONNINFO QUERIES.tsv [--raw FILE] [--summary FILE]\n", stderr);
	return 2;
}
