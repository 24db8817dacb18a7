/*
 * json_compare.c - event_parse against json-c and jansson on the same
 * events, each parsing strictly and checking the same required fields
 * (time as RFC 3339, action, actor.id, resource.type as strings).
 *
 * Usage: json_compare [EVENTS.ndjson|-] [PARSER]
 * PARSER runs only the named parser (for profiling). "json_compare --dump"
 * writes the generated events as NDJSON and exits. Without a file (or "-"), 20000 realistic events (300-700 bytes: nested
 * before/after, unicode and \u escapes) are generated from a fixed seed.
 * Each parser runs over the whole set 5 times; the median run is reported.
 * Also reports event_parse_stored over the same events with server fields
 * prepended, the path `verify` and recovery take.
 */
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/timeutil.h"
#include "event/event.h"

#define RUNS 5

/*
 * json-c's headers clash with jansson's (json_object, json_type), so the
 * few json-c 0.16 calls used here are declared by hand, as in
 * <json-c/json_tokener.h> and <json-c/json_object.h>. Both libraries
 * export json_object_get and json_object_iter_next (with different symbol
 * versions): this file calls neither, using jansson's json_object_getn, so
 * no call can bind to the other library's function.
 */
struct json_object;
struct json_tokener;
enum { JC_TYPE_OBJECT = 4, JC_TYPE_STRING = 6 };   /* enum json_type */
#define JC_TOKENER_STRICT 0x01
#define JC_TOKENER_VALIDATE_UTF8 0x10
struct json_tokener *json_tokener_new_ex(int depth);
void json_tokener_free(struct json_tokener *tok);
void json_tokener_reset(struct json_tokener *tok);
void json_tokener_set_flags(struct json_tokener *tok, int flags);
struct json_object *json_tokener_parse_ex(struct json_tokener *tok, const char *str, int len);
int json_tokener_get_error(struct json_tokener *tok);   /* 0: json_tokener_success */
size_t json_tokener_get_parse_end(struct json_tokener *tok);
int json_object_put(struct json_object *obj);
int json_object_is_type(const struct json_object *obj, int type);
int json_object_object_get_ex(const struct json_object *obj, const char *key,
			      struct json_object **value);
const char *json_object_get_string(struct json_object *obj);
int json_object_get_string_len(const struct json_object *obj);

struct set {
	char **ev;
	size_t *len;
	size_t n, cap, bytes;
};

static void set_add(struct set *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
		s->len = realloc(s->len, s->cap * sizeof(*s->len));
		if (!s->ev || !s->len)
			abort();
	}
	s->ev[s->n] = malloc(len + 1);
	if (!s->ev[s->n])
		abort();
	memcpy(s->ev[s->n], p, len);
	s->ev[s->n][len] = 0;
	s->len[s->n++] = len;
	s->bytes += len;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

static void generate(struct set *s, size_t n)
{
	static const char *actions[] = {
		"iam.role.update", "iam.user.create", "k8s.secrets.get", "k8s.pods.delete",
		"billing.invoice.view", "db.table.drop", "auth.login", "auth.mfa.challenge",
		"storage.bucket.policy.set", "vpn.session.start",
	};
	static const char *actors[] = {
		"alice@example.com", "bob@example.com", "svc-deployer", "Jos\\u00e9 Mar\\u00eda",
		"ren\xC3\xA9@example.fr", "\xE5\xB1\xB1\xE7\x94\xB0\xE5\xA4\xAA\xE9\x83\x8E", "ci-bot",
	};
	static const char *tenants[] = { "acme", "globex", "initech", "umbrella-eu", "default" };
	static const char *outcomes[] = { "success", "success", "success", "failure", "denied" };
	static const char *rtypes[] = { "role", "secret", "pod", "bucket", "invoice", "table" };
	static const char *regions[] = { "eu-west-1", "us-east-2", "ap-south-1" };
	static const char *notes[] = {
		"rotated after incident \\\"INC-4411\\\"", "caf\xC3\xA9 cr\xC3\xA8me \xF0\x9F\x98\x80",
		"line1\\nline2\\ttabbed", "approved by \\u2713 security", "plain note",
	};
	struct buf b = BUF_INIT(4096);

	for (size_t i = 0; i < n; i++) {
		unsigned nperm = rnd(5);
		buf_reset(&b);
		buf_printf(&b, "{\"id\":\"0193%04x-%04x-7%03x-8%03x-%012x\",\"time\":\"2026-11-%02uT%02u:%02u:%02u.%06uZ\","
			   "\"tenant\":\"%s\",\"actor\":{\"id\":\"%s\",\"type\":\"user\",\"name\":\"%s\","
			   "\"ip\":\"10.%u.%u.%u\"},"
			   "\"action\":\"%s\",\"resource\":{\"type\":\"%s\",\"id\":\"r-%u\",\"name\":\"%s-%u\"},"
			   "\"outcome\":\"%s\",\"request_id\":\"req-%08x\",",
			   rnd(65536), rnd(65536), rnd(4096), rnd(4096), rnd(1u << 30),
			   1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000000),
			   PICK(tenants), PICK(actors), PICK(actors), rnd(256), rnd(256), rnd(256),
			   PICK(actions), PICK(rtypes), rnd(100000), PICK(rtypes), rnd(1000),
			   PICK(outcomes), rnd(1u << 31));
		buf_printf(&b, "\"source\":{\"service\":\"api\",\"region\":\"%s\"},", PICK(regions));
		buf_puts(&b, "\"before\":{\"perms\":[");
		for (unsigned k = 0; k < nperm; k++)
			buf_printf(&b, "%s\"perm.%u\"", k ? "," : "", rnd(50));
		buf_printf(&b, "],\"version\":%u,\"enabled\":%s},", rnd(100), rnd(2) ? "true" : "false");
		buf_puts(&b, "\"after\":{\"perms\":[");
		for (unsigned k = 0; k < nperm + 1; k++)
			buf_printf(&b, "%s\"perm.%u\"", k ? "," : "", rnd(50));
		buf_printf(&b, "],\"version\":%u,\"limits\":{\"cpu\":%u.%u}},",
			   rnd(100), rnd(16), rnd(10));
		buf_printf(&b, "\"metadata\":{\"note\":\"%s\",\"tags\":[\"t%u\",\"t%u\"],\"ratio\":%u.%02ue-3}}",
			   PICK(notes), rnd(10), rnd(10), rnd(10), rnd(100));
		set_add(s, (const char *)b.data, b.len);
	}
	buf_release(&b);
}

static void load(struct set *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t r;

	if (!f) {
		perror(path);
		exit(1);
	}
	while ((r = getline(&line, &cap, f)) > 0) {
		while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r'))
			r--;
		if (r > 0)
			set_add(s, line, (size_t)r);
	}
	free(line);
	fclose(f);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- the three parsers: each returns events accepted ---- */

static struct buf out = BUF_INIT(1 << 20);

static size_t run_event(const struct set *s)
{
	struct event_info info;
	struct event_error err;
	size_t ok = 0;

	for (size_t i = 0; i < s->n; i++) {
		buf_reset(&out);
		ok += event_parse((const uint8_t *)s->ev[i], s->len[i], NULL, &out, &info, &err) == 0;
	}
	return ok;
}

static struct set stored_set;

static size_t run_stored(const struct set *s)
{
	struct stored_info si;
	struct event_error err;
	size_t ok = 0;

	(void)s;
	for (size_t i = 0; i < stored_set.n; i++)
		ok += event_parse_stored((const uint8_t *)stored_set.ev[i], stored_set.len[i], NULL,
					 &si, &err) == 0;
	return ok;
}

static bool jc_str(struct json_object *o, const char *k, const char **ret, size_t *len)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, JC_TYPE_STRING))
		return false;
	*ret = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return *len > 0;
}

static bool jc_valid(struct json_object *root)
{
	struct json_object *o;
	const char *s;
	size_t n;
	int64_t ns;

	if (!json_object_is_type(root, JC_TYPE_OBJECT))
		return false;
	if (!jc_str(root, "time", &s, &n) || !rfc3339_parse(s, n, &ns))
		return false;
	if (!jc_str(root, "action", &s, &n))
		return false;
	if (!json_object_object_get_ex(root, "actor", &o) || !jc_str(o, "id", &s, &n))
		return false;
	if (!json_object_object_get_ex(root, "resource", &o) || !jc_str(o, "type", &s, &n))
		return false;
	return true;
}

static struct json_tokener *tok;

static size_t run_jsonc(const struct set *s)
{
	size_t ok = 0;

	for (size_t i = 0; i < s->n; i++) {
		json_tokener_reset(tok);
		struct json_object *root = json_tokener_parse_ex(tok, s->ev[i], (int)s->len[i]);
		if (root && json_tokener_get_error(tok) == 0 &&
		    json_tokener_get_parse_end(tok) == s->len[i])
			ok += jc_valid(root);
		json_object_put(root);
	}
	return ok;
}

static bool ja_str(json_t *o, const char *k, const char **ret, size_t *len)
{
	json_t *v = json_object_getn(o, k, strlen(k));
	if (!json_is_string(v))
		return false;
	*ret = json_string_value(v);
	*len = json_string_length(v);
	return *len > 0;
}

static size_t run_jansson(const struct set *s)
{
	size_t ok = 0;

	for (size_t i = 0; i < s->n; i++) {
		json_error_t err;
		json_t *root = json_loadb(s->ev[i], s->len[i], JSON_REJECT_DUPLICATES, &err);
		const char *str;
		size_t n;
		int64_t ns;
		if (root && json_is_object(root) && ja_str(root, "time", &str, &n) &&
		    rfc3339_parse(str, n, &ns) && ja_str(root, "action", &str, &n) &&
		    ja_str(json_object_getn(root, "actor", 5), "id", &str, &n) &&
		    ja_str(json_object_getn(root, "resource", 8), "type", &str, &n))
			ok++;
		json_decref(root);
	}
	return ok;
}

static const char *only;

static void bench(const char *name, size_t (*fn)(const struct set *), const struct set *s,
		  size_t bytes)
{
	double t[RUNS];
	size_t ok = 0;

	if (only && strcmp(only, name) != 0)
		return;
	fn(s); /* warm up */
	for (int r = 0; r < RUNS; r++) {
		double t0 = now();
		ok = fn(s);
		t[r] = now() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	double med = t[RUNS / 2];
	printf("%-22s %10.0f events/s %9.1f MB/s %8.3f us/event  (accepted %zu/%zu)\n", name,
	       (double)s->n / med, (double)bytes / med / 1e6, med / (double)s->n * 1e6, ok, s->n);
}

int main(int argc, char **argv)
{
	struct set s = { 0 };
	struct buf e = BUF_INIT(1 << 20);
	uint8_t tprev[32] = { 0 };
	char b64[64], ts[RFC3339_US_LEN + 1];

	if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
		generate(&s, 20000);
		for (size_t i = 0; i < s.n; i++)
			printf("%s\n", s.ev[i]);
		return 0;
	}
	if (argc > 2)
		only = argv[2];
	if (argc > 1 && strcmp(argv[1], "-") != 0)
		load(&s, argv[1]);
	else
		generate(&s, 20000);
	if (!s.n) {
		fprintf(stderr, "no events\n");
		return 1;
	}
	/* Stored entries: server fields, then the producer's members. */
	for (size_t i = 0; i < s.n; i++) {
		struct event_error err;
		buf_reset(&e);
		tprev[0] = (uint8_t)i;
		base64_encode(tprev, 32, b64);
		rfc3339_format_us(1795817417123456000LL + (int64_t)i * 1000, ts);
		buf_printf(&e, "{\"seq\":%zu,\"received_at\":\"%s\",\"tseq\":%zu,\"tprev\":\"%s\",", i, ts,
			   i / 5, b64);
		size_t mark = e.len;
		if (event_parse((const uint8_t *)s.ev[i], s.len[i], NULL, &e, NULL, &err) != 0)
			continue;
		memmove(e.data + mark, e.data + mark + 1, e.len - mark - 1);
		e.len--;
		if (!memmem(s.ev[i], s.len[i], "\"tenant\"", 8)) {
			e.len--;
			buf_puts(&e, ",\"tenant\":\"default\"}");
		}
		set_add(&stored_set, (const char *)e.data, e.len);
	}
	tok = json_tokener_new_ex(64);
	json_tokener_set_flags(tok, JC_TOKENER_STRICT | JC_TOKENER_VALIDATE_UTF8);

	printf("%zu events, %zu bytes, mean %.0f bytes/event (%s), median of %d runs, one core\n",
	       s.n, s.bytes, (double)s.bytes / (double)s.n, argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : "generated, seed fixed",
	       RUNS);
	bench("event_parse", run_event, &s, s.bytes);
	bench("event_parse_stored", run_stored, &s, stored_set.bytes);
	bench("json-c (strict)", run_jsonc, &s, s.bytes);
	bench("jansson", run_jansson, &s, s.bytes);

	json_tokener_free(tok);
	buf_release(&e);
	buf_release(&out);
	return 0;
}
