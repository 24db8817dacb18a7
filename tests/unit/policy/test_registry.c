/*
 * test_registry.c - the schema registry (registry.h): publish, the same
 * bytes again (a no-op), other bytes (refused), a compatible next version,
 * a breaking one refused with its changes and accepted when flagged (the
 * flag kept on disk), a version below the highest refused, names and
 * references, a reopen that finds everything (and validates with it),
 * and a damaged file that refuses the open naming it.
 */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/util.h"
#include "policy/registry.h"

static const char *V1 = "{\"type\":\"object\",\"properties\":{\"action\":{\"type\":\"string\"},"
			"\"metadata\":{\"type\":\"object\",\"properties\":{\"ticket\":{\"type\":\"string\"}}}},"
			"\"required\":[\"action\"]}";
/* v2 widens: ticket may also be null */
static const char *V2 = "{\"type\":\"object\",\"properties\":{\"action\":{\"type\":\"string\"},"
			"\"metadata\":{\"type\":\"object\",\"properties\":{\"ticket\":{\"type\":[\"string\",\"null\"]}}}},"
			"\"required\":[\"action\"]}";
static const char *V3 = "{\"type\":\"object\",\"properties\":{\"action\":{\"type\":\"string\"},"
			"\"metadata\":{\"type\":\"object\",\"properties\":{\"ticket\":{\"type\":\"string\"}},"
			"\"required\":[\"ticket\"]}},\"required\":[\"action\",\"metadata\"]}";

static int put(struct registry *r, const char *name, uint32_t ver, const char *json, bool breaking,
	       size_t *nv)
{
	struct schema_error se;
	struct schema_violation v[8];
	uint8_t d[HASH_SIZE];
	size_t k = 0;
	int rc = registry_put(r, name, ver, json, strlen(json), breaking, &se, v, 8, &k, d);
	if (nv)
		*nv = k;
	return rc;
}

static int count(void *arg, const char *name, uint32_t version, bool breaking,
		 const uint8_t digest[HASH_SIZE])
{
	int *n = arg;
	(void)name;
	(void)digest;
	*n += 1 + (breaking ? 100 : 0) + (int)version * 0;
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/sealtrail-registry.XXXXXX", err[512] = "", path[512];
	struct registry *r = NULL;
	size_t nv;
	CHECK(mkdtemp(dir) != NULL);
	CHECK_MSG(registry_open(&r, dir, err, sizeof(err)) == 0, "%s", err);

	CHECK(put(r, "auth-event", 1, V1, false, NULL) == REG_CREATED);
	CHECK(put(r, "auth-event", 1, V1, false, NULL) == REG_SAME);
	CHECK(put(r, "auth-event", 1, V2, false, NULL) == ST_EEXIST);
	CHECK(put(r, "auth-event", 2, V2, false, &nv) == REG_CREATED && nv == 0);
	CHECK(put(r, "auth-event", 3, V3, false, &nv) == REGISTRY_BREAKING && nv >= 2);
	CHECK(registry_get(r, "auth-event", 10, 3) == NULL);   /* nothing published */
	CHECK(put(r, "auth-event", 3, V3, true, &nv) == REG_CREATED && nv >= 2);
	snprintf(path, sizeof(path), "%s/schemas/auth-event/3.breaking", dir);
	CHECK(access(path, F_OK) == 0);
	/* below the highest: refused; names and versions */
	CHECK(put(r, "k8s-audit", 5, V1, false, NULL) == REG_CREATED);
	CHECK(put(r, "k8s-audit", 4, V1, false, NULL) == ST_ERANGE);
	CHECK(put(r, "Bad", 1, V1, false, NULL) == ST_EINVAL);
	CHECK(put(r, "-x", 1, V1, false, NULL) == ST_EINVAL);
	CHECK(put(r, "ok", 0, V1, false, NULL) == ST_EINVAL);
	CHECK(put(r, "ok", 1, "{\"typo\":1}", false, NULL) == ST_EINVAL);
	char name[REGISTRY_NAME_MAX + 1];
	uint32_t ver;
	CHECK(registry_parse_ref("auth-event/2", 12, name, &ver) && !strcmp(name, "auth-event") && ver == 2);
	CHECK(!registry_parse_ref("auth-event/02", 13, name, &ver));
	CHECK(!registry_parse_ref("auth-event", 10, name, &ver));
	CHECK(!registry_parse_ref("A/1", 3, name, &ver));

	/* validation through the registry */
	const struct schema *s2 = registry_get(r, "auth-event", 10, 2);
	struct schema_violation v[4];
	CHECK(s2 != NULL);
	if (!s2)
		return test_report("test_registry");
	CHECK(schema_validate(s2, "{\"action\":\"a\"}", 14, v, 4) == 0);
	CHECK(schema_validate(s2, "{\"metadata\":{}}", 15, v, 4) == 1 && !strcmp(v[0].rule, "required"));

	/* reopen: everything is there, the breaking flag too */
	registry_free(r);
	r = NULL;
	CHECK_MSG(registry_open(&r, dir, err, sizeof(err)) == 0, "%s", err);
	int n = 0;
	CHECK(registry_list(r, count, &n) == 0 && n == 4 + 100);
	struct buf t = BUF_INIT(1 << 20);
	CHECK(registry_text(r, "auth-event", 2, &t) == 0 && t.len == strlen(V2) && !memcmp(t.data, V2, t.len));
	CHECK(registry_text(r, "auth-event", 9, &t) == ST_ENOTFOUND);
	buf_release(&t);
	/* A crash between the marker and the schema leaves a marker alone:
	 * it is ignored on open, and a compatible put of that version removes
	 * it, so the version is not reported breaking. */
	char stray[600];
	snprintf(stray, sizeof(stray), "%s/schemas/k8s-audit/6.breaking", dir);
	FILE *sf = fopen(stray, "w");
	CHECK(sf != NULL);
	if (sf)
		fclose(sf);
	registry_free(r);
	r = NULL;
	CHECK_MSG(registry_open(&r, dir, err, sizeof(err)) == 0, "%s", err);
	n = 0;
	CHECK(registry_list(r, count, &n) == 0 && n == 4 + 100);
	CHECK(put(r, "k8s-audit", 6, V1, false, &nv) == REG_CREATED && nv == 0);
	CHECK(access(stray, F_OK) != 0 && errno == ENOENT);
	n = 0;
	CHECK(registry_list(r, count, &n) == 0 && n == 5 + 100);
	/* the highest version, which a resubmit re-validates against */
	uint32_t hv = 0;
	CHECK(registry_latest(r, "auth-event", 10, &hv) != NULL && hv == 3);
	CHECK(registry_latest(r, "auth-even", 9, &hv) == NULL && hv == 0);
	CHECK(registry_latest(r, "k8s-audit", 9, &hv) == registry_get(r, "k8s-audit", 9, 6) && hv == 6);
	/* asked again (the thread's memo of hits): the same schema */
	CHECK(registry_get(r, "k8s-audit", 9, 6) == registry_get(r, "k8s-audit", 9, 6) &&
	      registry_get(r, "k8s-audit", 9, 6) != registry_get(r, "auth-event", 10, 2));
	CHECK(registry_get(r, "k8s-audit", 9, 7) == NULL && registry_get(r, "k8s-audi", 8, 6) == NULL);
	CHECK(registry_latest(r, "zzz", 3, &hv) == NULL && hv == 0);
	registry_free(r);

	/* REGISTRY_MAX_BYTES of schema text in all: one more is refused
	 * before anything is written */
	{
		char d2[] = "/tmp/sealtrail-reg2.XXXXXX";
		struct registry *r2 = NULL;
		size_t big = SCHEMA_MAX_BYTES - 64;
		char *txt = malloc(big + 1);
		CHECK(mkdtemp(d2) != NULL && txt != NULL);
		CHECK_MSG(registry_open(&r2, d2, err, sizeof(err)) == 0, "%s", err);
		/* registry_get remembers its hits per thread; a registry freed
		 * and another opened (very likely at its address) does not
		 * answer with the first one's schemas */
		CHECK(registry_get(r2, "auth-event", 10, 2) == NULL);
		CHECK(registry_get(r2, "k8s-audit", 9, 6) == NULL);
		int rc = 0;
		uint32_t k;
		for (k = 1; k <= REGISTRY_MAX_BYTES / big + 1; k++) {
			/* each its own bytes: a description the validator ignores */
			/* four properties whose descriptions (at most 64 KiB a
			 * string) fill the schema to big bytes */
			size_t at = (size_t)snprintf(txt, big + 1, "{\"$comment\":\"%u\",\"properties\":{", k);
			size_t each = (big - at - 2) / 4;
			for (int p = 0; p < 4; p++) {
				size_t len = p < 3 ? each : big - at - 2;
				int h = snprintf(txt + at, big + 1 - at, "%s\"p%d\":{\"description\":\"", p ? "," : "", p);
				memset(txt + at + h, 'x', len - (size_t)h - 2);
				memcpy(txt + at + len - 2, "\"}", 2);
				at += len;
			}
			memcpy(txt + at, "}}", 2);
			char nm[16];
			snprintf(nm, sizeof(nm), "big%u", k);
			struct schema_error se;
			struct schema_violation bv[2];
			size_t bn;
			uint8_t dg[HASH_SIZE];
			rc = registry_put(r2, nm, 1, txt, big, false, &se, bv, 2, &bn, dg);
			if (rc < 0)
				break;
		}
		CHECK_MSG(rc == ST_ELIMIT && k == REGISTRY_MAX_BYTES / big + 1, "rc %d at %u", rc, k);
		snprintf(path, sizeof(path), "%s/schemas/big%u/1.json", d2, k);
		CHECK(access(path, F_OK) != 0);
		registry_free(r2);
		free(txt);
		snprintf(path, sizeof(path), "rm -rf %s", d2);
		CHECK(system(path) == 0);
	}

	/* a damaged file refuses the open, naming it */
	snprintf(path, sizeof(path), "%s/schemas/k8s-audit/5.json", dir);
	CHECK(write_file_atomic(path, "{\"type\":", 8, 0644) == 0);
	r = NULL;
	CHECK(registry_open(&r, dir, err, sizeof(err)) < 0 && r == NULL);
	CHECK_MSG(strstr(err, "k8s-audit/5.json: does not compile") != NULL, "%s", err);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return test_report("test_registry");
}
