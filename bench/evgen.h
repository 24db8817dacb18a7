/*
 * evgen.h - the load generator's event (bench/loadgen.c --mode single and
 * ndjson), shared with bench/apply_bench.c so that the in-process policy
 * figures are measured on the same bytes the server benchmarks send.
 */
#ifndef SEALTRAIL_BENCH_EVGEN_H
#define SEALTRAIL_BENCH_EVGEN_H

#include <stdio.h>

/* Event i after its id's value: `","time":...}` (about 300 bytes). The
 * caller writes `{"id":"<id>` first. Returns snprintf's count. */
static inline int evgen_tail(char *o, size_t cap, unsigned i)
{
	static const char *const actions[] = {
		"iam.role.update", "auth.login", "k8s.secrets.get",
		"s3.object.put", "db.query.execute", "kms.key.decrypt",
	};
	static const char *const actors[] = {
		"alice@example.com", "bob@example.com", "deploy-bot",
		"carol@example.org",
	};
	return snprintf(o, cap,
			"\",\"time\":\"2026-11-27T10:00:%02u.%06uZ\",\"action\":\"%s\","
			"\"actor\":{\"id\":\"%s\",\"type\":\"user\",\"ip\":\"10.1.%u.%u\"},"
			"\"resource\":{\"type\":\"role\",\"id\":\"role-%u\"},"
			"\"outcome\":\"success\","
			"\"source\":{\"service\":\"iam\",\"host\":\"h%u\"},"
			"\"metadata\":{\"request_id\":\"req-%08x\",\"reason\":"
			"\"quarterly access review\",\"ticket\":\"SEC-%u\"}}",
			i % 60, (i * 7919u) % 1000000u, actions[i % 6], actors[i % 4],
			i / 250 % 250, i % 250 + 1, i % 97, i % 8, i * 2654435761u,
			1000 + i % 9000);
}

#endif
