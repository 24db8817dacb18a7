/*
 * context.h - the static context the server adds to accepted events as
 * the server-owned member "context" (docs/ENRICHMENT.md): region,
 * environment, cluster and service, set per token (DIR/tokens), per
 * listener and as defaults (the configuration file).
 */
#ifndef SEALTRAIL_POLICY_CONTEXT_H
#define SEALTRAIL_POLICY_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

enum { CTX_REGION, CTX_ENVIRONMENT, CTX_CLUSTER, CTX_SERVICE, CTX_COUNT };
#define CONTEXT_VALUE_MAX 64

/* "" = unset. */
struct ev_context {
	char v[CTX_COUNT][CONTEXT_VALUE_MAX + 1];
};

/* "region", "environment", "cluster", "service"; "invalid" otherwise. */
const char *context_name(int k);
/* The key's index, or -1. */
int context_key(const char *name);
/* Values: 1..CONTEXT_VALUE_MAX bytes of [A-Za-z0-9_.:/@+-]. */
bool context_valid(const char *v);
/* True when no key is set. */
bool context_empty(const struct ev_context *c);

/*
 * Parses words of "key=value" separated by any byte of seps (modified in
 * place) into c, over what c holds. On error ST_EINVAL with why:
 * "WHAT: expected key=value with key region, environment, cluster or
 * service WHERE, found ..." or "WHAT: KEY: expected 1..64 bytes ...".
 */
int context_parse(struct ev_context *c, char *words, const char *seps, const char *what,
		  const char *where, char *why, size_t cap);

#endif
