/*
 * test_registry.c - the schema registry (registry.h): publish, the same
 * bytes again (a no-op), other bytes (refused), a compatible next version,
 * a breaking one refused with its changes and accepted when flagged (the
 * flag kept on disk), a version below the highest refused, names and
 * references, a reopen that finds everything (and validates with it),
 * and a damaged file that refuses the open naming it.
 */
#include "test.h"

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
	registry_free(r);

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
