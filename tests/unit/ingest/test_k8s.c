/*
 * test_k8s.c - the EventList mapper's edges (src/ingest/k8s.c); the
 * whole mapping of realistic Events is tests/integration/server_k8s.sh.
 */
#include "test.h"

#include <string.h>

#include "common/util.h"
#include "event/event.h"
#include "ingest/k8s.h"

static struct event_limits lim;

/* Maps s; returns the count and leaves the NDJSON in out. */
static long map(const char *s, struct buf *out, struct k8s_error *err)
{
	buf_reset(out);
	return k8s_map((const uint8_t *)s, strlen(s), &lim, out, err);
}

static bool has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

int main(void)
{
	struct buf out = BUF_INIT(1u << 24), first = BUF_INIT(1u << 24);
	struct k8s_error err;
	event_limits_default(&lim);

	/* a single Event (the log backend's line) and an empty list */
	CHECK(map("{\"kind\":\"Event\",\"auditID\":\"a-1\",\"stage\":\"ResponseComplete\",\"verb\":\"list\","
		  "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns\"},\"responseStatus\":{\"code\":200},"
		  "\"stageTimestamp\":\"2026-01-02T03:04:05.000006Z\"}", &out, &err) == 1);
	CHECK(has(&out, "\"id\":\"k8s-a-1-responsecomplete\"") && has(&out, "\"action\":\"k8s.pods.list\"") &&
	      has(&out, "\"actor\":{\"id\":\"system:anonymous\"") && has(&out, "\"outcome\":\"success\""));
	CHECK(!has(&out, "\"id\":\"ns/"));   /* a collection has no resource id */
	CHECK(map("{\"kind\":\"EventList\",\"items\":[]}", &out, &err) == 0 && out.len == 0);
	CHECK(map("{\"kind\":\"EventList\",\"items\":null}", &out, &err) == 0);

	/* no auditID: an id from the item's hash, the same every time */
	CHECK(map("{\"kind\":\"EventList\",\"items\":[{\"verb\":\"get\",\"stageTimestamp\":\"2026-01-02T03:04:05Z\"}]}",
		  &out, &err) == 1);
	CHECK(has(&out, "\"id\":\"k8s-h") && has(&out, "k8s.nonresource.get"));
	buf_reset(&first);
	buf_append(&first, out.data, out.len);
	CHECK(map("{\"kind\":\"EventList\",\"items\":[{\"verb\":\"get\",\"stageTimestamp\":\"2026-01-02T03:04:05Z\"}]}",
		  &out, &err) == 1 && out.len == first.len && !memcmp(out.data, first.data, out.len));

	/* an auditID with characters an id may not hold: hashed too;
	 * odd verbs and resources become safe action segments; no time */
	CHECK(map("{\"kind\":\"Event\",\"auditID\":\"a\\u0001b\",\"verb\":\"GET ALL\",\"objectRef\":{\"resource\":\"Pods.v2\"}}",
		  &out, &err) == 1);
	CHECK(has(&out, "\"id\":\"k8s-h") && has(&out, "\"action\":\"k8s.pods_v2.get_all\"") &&
	      has(&out, "\"time_missing\":true"));

	/* outcomes: 401/403 and forbid denied, 5xx failure */
	CHECK(map("{\"kind\":\"Event\",\"auditID\":\"o\",\"responseStatus\":{\"code\":401}}", &out, &err) == 1 &&
	      has(&out, "\"outcome\":\"denied\""));
	CHECK(map("{\"kind\":\"Event\",\"auditID\":\"o\",\"responseStatus\":{\"code\":503}}", &out, &err) == 1 &&
	      has(&out, "\"outcome\":\"failure\""));
	CHECK(map("{\"kind\":\"Event\",\"auditID\":\"o\",\"responseStatus\":{\"code\":200},"
		  "\"annotations\":{\"authorization.k8s.io/decision\":\"forbid\"}}", &out, &err) == 1 &&
	      has(&out, "\"outcome\":\"denied\""));

	/* an object nested deeper than the log takes: left out, said why */
	char deep[2048];
	size_t at = (size_t)snprintf(deep, sizeof(deep), "{\"kind\":\"Event\",\"auditID\":\"d\",\"verb\":\"create\","
				     "\"objectRef\":{\"resource\":\"r\"},\"requestObject\":");
	for (int i = 0; i < 40; i++)
		at += (size_t)snprintf(deep + at, sizeof(deep) - at, "{\"a\":");
	at += (size_t)snprintf(deep + at, sizeof(deep) - at, "1");
	for (int i = 0; i < 40; i++)
		deep[at++] = '}';
	snprintf(deep + at, sizeof(deep) - at, "}");
	CHECK(map(deep, &out, &err) == 1);
	CHECK(has(&out, "\"objects_omitted\":") && !has(&out, "\"after\":"));

	/* refusals name the place and leave out as it was */
	buf_reset(&out);
	buf_puts(&out, "keep");
	const char *bad = "{\"kind\":\"EventList\",\"items\":[{},7]}";
	CHECK(k8s_map((const uint8_t *)bad, strlen(bad), &lim, &out, &err) == ST_EINVAL && out.len == 4 &&
	      strstr(err.msg, "items[1]") && err.offset == (size_t)(strchr(bad, '7') - bad));
	CHECK(map("{\"kind\":\"Pod\"}", &out, &err) == ST_EINVAL && strstr(err.msg, "EventList"));
	CHECK(map("[1]", &out, &err) == ST_EINVAL);
	CHECK(map("{\"kind\":\"EventList\",\"items\":{}}", &out, &err) == ST_EINVAL && strstr(err.msg, "items"));
	CHECK(map("{\"kind\":\"EventList\",\"items\":[", &out, &err) == ST_EINVAL && err.offset > 0);

	buf_release(&out);
	buf_release(&first);
	return test_report("test_k8s");
}
