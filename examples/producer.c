/*
 * producer.c - the smallest useful libsealtrail program (docs/CLIENT.md):
 * every line of standard input is an audit event (a JSON object) sent to
 * a Sealtrail server through an on-disk spool.
 *
 *   cc producer.c -lsealtrail -o producer
 *   SEALTRAIL_TOKEN=... ./producer http://127.0.0.1:7465 /var/spool/myapp < events.ndjson
 *
 * Kill it at any moment: what reached the spool is sent on the next run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrail/client.h"

static void refused(void *arg, uint64_t seq, const char *message)
{
	(void)arg;
	fprintf(stderr, "producer: event %llu refused: %s\n", (unsigned long long)seq, message);
}

int main(int argc, char **argv)
{
	const char *token = getenv("SEALTRAIL_TOKEN");
	if (argc != 3 || !token) {
		fprintf(stderr, "usage: SEALTRAIL_TOKEN=... producer URL SPOOL_DIR < events.ndjson\n");
		return 2;
	}
	struct sealtrail_options o = SEALTRAIL_OPTIONS_INIT;
	o.url = argv[1];
	o.token = token;
	o.spool_dir = argv[2];
	o.on_refused = refused;

	struct sealtrail_client *c;
	char err[256];
	if (sealtrail_client_new(&o, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "producer: %s\n", err);
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long sent = 0;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		int r = sealtrail_emit(c, line, (size_t)n);
		if (r != 0)
			fprintf(stderr, "producer: line %ld: %s\n", sent + 1, strerror(-r));
		else
			sent++;
	}
	free(line);
	int r = sealtrail_flush(c, 30000);
	struct sealtrail_stats st;
	sealtrail_client_stats(c, &st);
	fprintf(stderr, "producer: %ld emitted, %llu acknowledged, %llu refused (producer_id %s, last seq %llu)%s\n",
		sent, (unsigned long long)st.acked + st.duplicates, (unsigned long long)st.refused, st.producer_id,
		(unsigned long long)st.last_seq, r == 0 ? "" : "; the rest stays in the spool");
	sealtrail_client_free(c);
	return r == 0 ? 0 : 1;
}
