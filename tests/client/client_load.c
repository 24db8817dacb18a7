/*
 * client_load.c - a producer for the library's tests (tests/integration/
 * client.sh) and benchmark (bench/client.sh), using only the exported API.
 *
 *   client_load URL TOKEN_FILE SPOOL COUNT RATE [FLUSH_MS]
 *
 * Emits COUNT events ("client.test", metadata.i = 1..COUNT, time now) at
 * RATE a second (0: as fast as it can), then flushes for up to FLUSH_MS
 * (default 120000) and prints one JSON line of stats. COUNT 0 only
 * flushes what the spool holds (a restart after a kill). Exit 0 when
 * everything was acknowledged, 1 otherwise. With RATE 0 it also prints
 * the emit rate (calls/s into the buffer; the events are formatted before
 * the clock starts, so it is the library's call alone). CLIENT_BATCH in the
 * environment sets batch_max_events (default 1000).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealtrail/client.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Event i ("client.test", metadata.i = i, the time now); its length. */
static int put_event(char *ev, size_t cap, long i)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return snprintf(ev, cap,
			"{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"action\":\"client.test\","
			"\"actor\":{\"id\":\"svc-a\"},\"resource\":{\"type\":\"doc\",\"id\":\"d-%ld\"},"
			"\"metadata\":{\"i\":%ld,\"note\":\"an event emitted through libsealtrail\"}}",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000, i, i);
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: client_load URL TOKEN_FILE SPOOL COUNT RATE [FLUSH_MS]\n");
		return 2;
	}
	char tok[4096] = "", err[512] = "";
	FILE *f = fopen(argv[2], "r");
	if (!f || !fgets(tok, sizeof(tok), f)) {
		fprintf(stderr, "client_load: cannot read %s\n", argv[2]);
		return 2;
	}
	fclose(f);
	tok[strcspn(tok, "\r\n")] = 0;
	long count = atol(argv[4]);
	double rate = atof(argv[5]);
	int flush_ms = argc > 6 ? atoi(argv[6]) : 120000;

	struct sealtrail_options o = SEALTRAIL_OPTIONS_INIT;
	o.url = argv[1];
	o.token = tok;
	o.spool_dir = argv[3];
	o.heartbeat_interval_ms = 1000;
	o.retry_max_ms = 2000;
	o.timeout_ms = 5000;
	const char *bm = getenv("CLIENT_BATCH");   /* the bench's knob: events a request */
	if (bm && atoi(bm) > 0)
		o.batch_max_events = (uint32_t)atoi(bm);
	struct sealtrail_client *c;
	int r = sealtrail_client_new(&o, &c, err, sizeof(err));
	memset(tok, 0, sizeof(tok));
	if (r < 0) {
		fprintf(stderr, "client_load: %s\n", err);
		return 1;
	}
	/* With RATE 0 the events are formatted before the clock starts:
	 * emits_per_s is then the library's call alone, not snprintf's. */
	char ev[512];
	char *pre = NULL;
	uint32_t *plen = NULL;
	if (rate <= 0 && count > 0) {
		pre = malloc((size_t)count * sizeof(ev));
		plen = malloc((size_t)count * sizeof(*plen));
		if (!pre || !plen) {
			fprintf(stderr, "client_load: out of memory for %ld events\n", count);
			return 2;
		}
		for (long i = 1; i <= count; i++)
			plen[i - 1] = (uint32_t)put_event(pre + (size_t)(i - 1) * sizeof(ev), sizeof(ev), i);
	}
	double t0 = now_s();
	struct timespec ts;
	for (long i = 1; i <= count; i++) {
		const char *p = ev;
		int n;
		if (pre) {
			p = pre + (size_t)(i - 1) * sizeof(ev);
			n = (int)plen[i - 1];
		} else {
			double due = t0 + (double)(i - 1) / rate, d = due - now_s();
			if (d > 0) {
				ts.tv_sec = (time_t)d;
				ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
				nanosleep(&ts, NULL);
			}
			n = put_event(ev, sizeof(ev), i);
		}
		if ((r = sealtrail_emit(c, p, (size_t)n)) < 0) {
			fprintf(stderr, "client_load: emit %ld: %s\n", i, strerror(-r));
			break;
		}
	}
	double t1 = now_s();
	int fr = sealtrail_flush(c, flush_ms);
	double t2 = now_s();
	struct sealtrail_stats st;
	sealtrail_client_stats(c, &st);
	printf("{\"emitted\":%llu,\"spooled\":%llu,\"acked\":%llu,\"duplicates\":%llu,\"refused\":%llu,"
	       "\"dropped\":%llu,\"requests\":%llu,\"retries\":%llu,\"heartbeats\":%llu,\"last_seq\":%llu,"
	       "\"producer_id\":\"%s\",\"flush\":\"%s\",\"emit_s\":%.3f,\"flush_s\":%.3f,\"emits_per_s\":%.0f,"
	       "\"events_per_s\":%.0f,\"lost\":%llu,\"spool_write_errors\":%llu,\"spool_error\":%d}\n",
	       (unsigned long long)st.emitted, (unsigned long long)st.spooled, (unsigned long long)st.acked,
	       (unsigned long long)st.duplicates, (unsigned long long)st.refused, (unsigned long long)st.dropped,
	       (unsigned long long)st.requests, (unsigned long long)st.retries, (unsigned long long)st.heartbeats,
	       (unsigned long long)st.last_seq, st.producer_id, fr == 0 ? "ok" : strerror(-fr), t1 - t0, t2 - t1,
	       count && t1 > t0 ? (double)count / (t1 - t0) : 0, count && t2 > t0 ? (double)count / (t2 - t0) : 0, (unsigned long long)st.lost,
	       (unsigned long long)st.spool_write_errors, st.spool_error);
	fflush(stdout);
	sealtrail_client_free(c);
	free(pre);
	free(plen);
	return fr == 0 ? 0 : 1;
}
