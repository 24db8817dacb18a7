/*
 * pipeline.c - the server's side of the policy pipeline: loading the
 * policy file, the policy key and the token vault, swapping the policy on
 * SIGHUP (each load audited), and the per-event step the ingest handler
 * calls (docs/REDACTION.md).
 *
 * The policy in force is s->penv, read under s->cfg_lock by the ingest
 * handler for the whole of a request's events and replaced under the
 * write lock, so no event is ever half under one policy and half under
 * another, and the old one is freed with no reader left.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/util.h"
#include "policy/apply.h"
#include "policy/vault.h"

#define POLICY_KEY_FILE "policy.key"

/* DIR/policy.key: 32 random bytes, mode 0600, made on first use. The
 * hash action's tenant keys derive from it: lose it and new hashes no
 * longer match old ones (docs/REDACTION.md, Keys). */
static int load_key(const char *dir, uint8_t key[APPLY_KEY_BYTES], char *err, size_t cap)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(APPLY_KEY_BYTES + 1);
	struct stat st;
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, POLICY_KEY_FILE) >= (int)sizeof(path))
		return ST_ELIMIT;
	if (stat(path, &st) < 0 && errno == ENOENT) {
		uint8_t k[APPLY_KEY_BYTES];
		if ((r = random_bytes(k, sizeof(k))) < 0 ||
		    (r = write_file_atomic(path, k, sizeof(k), 0600)) < 0) {
			sodium_memzero(k, sizeof(k));
			snprintf(err, cap, "%s: cannot create: %s", path, st_strerror(r));
			return r;
		}
		sodium_memzero(k, sizeof(k));
	} else if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		snprintf(err, cap, "%s: mode %03o lets others read the policy key; chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		return ST_EINVAL;
	}
	if ((r = read_file(path, APPLY_KEY_BYTES + 1, &b)) < 0 || b.len != APPLY_KEY_BYTES) {
		snprintf(err, cap, "%s: expected %d bytes%s%s", path, APPLY_KEY_BYTES,
			 r < 0 ? ": " : "", r < 0 ? st_strerror(r) : "");
		st_wipe(b.data, b.len);
		buf_release(&b);
		return r < 0 ? r : ST_ECORRUPT;
	}
	memcpy(key, b.data, APPLY_KEY_BYTES);
	st_wipe(b.data, b.len);
	buf_release(&b);
	return 0;
}

static void env_free(struct apply_env *e)
{
	if (!e)
		return;
	policy_free((struct policy *)e->policy);
	sodium_memzero(e->key, sizeof(e->key));
	free(e);
}

static void audit_policy(struct server *s, const char *action, const char *outcome,
			 const char *reason)
{
	struct audit_rec a = { .action = action, .outcome = outcome, .resource_type = "policy",
			       .resource_id = s->cfg.policy_file, .reason = reason };
	audit_record(s, &a);
}

/* A new environment with the policy of path (vault and key shared). */
static int env_new(struct server *s, const char *path, struct apply_env **ret, char *err,
		   size_t cap)
{
	struct apply_env *e = calloc(1, sizeof(*e));
	struct policy_error pe;
	struct policy *p = NULL;
	int r;

	if (!e)
		return -ENOMEM;
	if ((r = policy_load(path, &p, &pe)) < 0) {
		policy_error_format(&pe, err, cap);
		free(e);
		return r;
	}
	e->policy = p;
	e->vault = s->vault;
	memcpy(e->key, s->policy_key, APPLY_KEY_BYTES);
	*ret = e;
	return 0;
}

int pipeline_open(struct server *s, char *err, size_t cap)
{
	char vdir[PATH_MAX], why[512];
	struct vault_open_report rep;
	struct vault_options vo = { .flags = VAULT_CREATE };
	int r;

	if (!s->cfg.policy_file[0])
		return 0;     /* no policy: events are stored as sent */
	if ((r = load_key(s->dir, s->policy_key, err, cap)) < 0)
		return r;
	if (snprintf(vdir, sizeof(vdir), "%s/vault", s->dir) >= (int)sizeof(vdir))
		return ST_ELIMIT;
	if (s->cfg.vault_key[0])
		vo.key_path = s->cfg.vault_key;
	if ((r = vault_open(&s->vault, vdir, &vo, &rep, why, sizeof(why))) < 0) {
		snprintf(err, cap, "token vault %s: %s", vdir, why);
		return r;
	}
	if (rep.truncated_bytes)
		server_logf(s, "token vault: a torn tail of %llu bytes at offset %llu was cut off (%s)",
			    (unsigned long long)rep.truncated_bytes,
			    (unsigned long long)rep.truncated_at, rep.truncated_why);
	if ((r = env_new(s, s->cfg.policy_file, &s->penv, err, cap)) < 0)
		return r;
	if ((r = sampler_new(&s->sampler, s->policy_key)) < 0)
		return r;
	policy_describe(s->penv->policy, why, sizeof(why));
	server_logf(s, "policy %s loaded: %s", s->cfg.policy_file, why);
	audit_policy(s, "sealtrail.policy.load", "success", why);
	return 0;
}

void pipeline_reload(struct server *s, const char *path)
{
	struct apply_env *e = NULL, *old;
	char err[512], why[512];

	if (!s->penv && !path[0])
		return;
	if (!s->vault && path[0]) {
		server_logf(s, "reload: a policy_file set after start needs a restart (the vault opens at start)");
		return;
	}
	if (path[0] && env_new(s, path, &e, err, sizeof(err)) < 0) {
		server_logf(s, "reload: policy refused, the old one stays: %s", err);
		audit_policy(s, "sealtrail.policy.reload", "failure", "the new policy file does not parse");
		return;
	}
	if (e && s->penv) {
		uint8_t d1[HASH_SIZE], d2[HASH_SIZE];
		policy_digest(e->policy, d1);
		policy_digest(s->penv->policy, d2);
		if (!memcmp(d1, d2, HASH_SIZE)) {
			env_free(e);
			return;   /* the same rules: nothing changed, nothing to audit */
		}
	}
	if (e)
		policy_describe(e->policy, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "policy removed: events are stored as sent");
	pthread_rwlock_wrlock(&s->cfg_lock);
	old = s->penv;
	s->penv = e;
	pthread_rwlock_unlock(&s->cfg_lock);
	env_free(old);
	server_logf(s, "policy reloaded: %s", why);
	audit_policy(s, "sealtrail.policy.reload", "success", why);
}

void pipeline_close(struct server *s)
{
	sampler_free(s->sampler);
	s->sampler = NULL;
	env_free(s->penv);
	s->penv = NULL;
	vault_free(s->vault);
	s->vault = NULL;
	sodium_memzero(s->policy_key, sizeof(s->policy_key));
}

/* A request's counts are summed here without atomics and added to the
 * shared counters once per request: a batch of 1,000 events made ~3,000
 * contended atomic adds otherwise. */
void pipeline_count(struct pipeline_counts *pc, const struct apply_result *res)
{
	const struct apply_counts *c = &res->counts;
	for (int a = 0; a <= POLICY_KEEP; a++)
		pc->c.by_rule[a] += c->by_rule[a];
	for (int d = 0; d < DET_COUNT; d++) {
		for (int a = 0; a <= POLICY_KEEP; a++)
			pc->c.by_det[d][a] += c->by_det[d][a];
		pc->c.misses[d] += c->misses[d];
	}
	pc->by_crit[res->crit]++;
	pc->any = true;
}

void pipeline_flush(struct server *s, struct pipeline_counts *pc)
{
	const struct apply_counts *c = &pc->c;
	if (!pc->any)
		return;
	for (int a = 0; a <= POLICY_KEEP; a++)
		if (c->by_rule[a])
			stat_add(&s->st.redact_rule[a], c->by_rule[a]);
	for (int d = 0; d < DET_COUNT; d++) {
		for (int a = 0; a <= POLICY_KEEP; a++)
			if (c->by_det[d][a])
				stat_add(&s->st.redact_det[d][a], c->by_det[d][a]);
		if (c->misses[d])
			stat_add(&s->st.redact_miss[d], c->misses[d]);
	}
	for (int k = 0; k <= POLICY_CRIT_CRITICAL; k++)
		if (pc->by_crit[k])
			stat_add(&s->st.events_by_crit[k], pc->by_crit[k]);
	memset(pc, 0, sizeof(*pc));
}
