/*
 * mapjson.c - JSON writers shared by the importers' mappers (mapjson.h).
 */
#include "ingest/mapjson.h"

#include <arpa/inet.h>
#include <string.h>

#include "common/codec.h"
#include "common/util.h"

int mj_kv(struct buf *b, const char *key, const char *s, size_t n, size_t cap)
{
	int r;
	if ((r = buf_printf(b, ",\"%s\":", key)) < 0)
		return r;
	return json_put_str(b, s, n < cap ? n : cap);
}

int mj_kv_v(struct buf *b, const char *key, const struct jdoc_value *v, size_t cap)
{
	return v && v->type == JDOC_STRING && v->len ? mj_kv(b, key, v->u.s, v->len, cap) : 0;
}

int mj_value(struct buf *b, const struct jdoc_value *v, int depth, int max_depth)
{
	int r = 0;
	if (depth > max_depth)
		return ST_ELIMIT;
	switch (v->type) {
	case JDOC_NULL: return buf_puts(b, "null");
	case JDOC_FALSE: return buf_puts(b, "false");
	case JDOC_TRUE: return buf_puts(b, "true");
	case JDOC_NUMBER: return buf_append(b, v->u.s, v->len);
	case JDOC_STRING: return json_put_str(b, v->u.s, v->len);
	case JDOC_ARRAY:
		if ((r = buf_putc(b, '[')) < 0)
			return r;
		for (uint32_t i = 0; i < v->len && r >= 0; i++)
			if (!(i && (r = buf_putc(b, ',')) < 0))
				r = mj_value(b, &v->u.items[i], depth + 1, max_depth);
		return r < 0 ? r : buf_putc(b, ']');
	case JDOC_OBJECT:
		if ((r = buf_putc(b, '{')) < 0)
			return r;
		for (uint32_t i = 0; i < v->len && r >= 0; i++) {
			const struct jdoc_member *m = &v->u.members[i];
			if ((i && (r = buf_putc(b, ',')) < 0) || (r = json_put_str(b, m->key, m->key_len)) < 0 ||
			    (r = buf_putc(b, ':')) < 0)
				break;
			r = mj_value(b, &m->value, depth + 1, max_depth);
		}
		return r < 0 ? r : buf_putc(b, '}');
	default:
		return ST_EINVAL;
	}
}

int mj_seg(struct buf *b, const char *s, size_t n, size_t cap, bool lower)
{
	if (!s || n == 0)
		return buf_puts(b, "unknown");
	int r = 0;
	for (size_t i = 0; i < n && i < cap && r >= 0; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (lower && ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_'))
			ch = '_';
		r = buf_putc(b, ch);
	}
	return r;
}

const struct jdoc_value *mj_str(const struct jdoc_value *obj, const char *key)
{
	const struct jdoc_value *v = jdoc_get(obj, key, strlen(key));
	return v && v->type == JDOC_STRING ? v : NULL;
}

const struct jdoc_value *mj_obj(const struct jdoc_value *obj, const char *key)
{
	const struct jdoc_value *v = jdoc_get(obj, key, strlen(key));
	return v && v->type == JDOC_OBJECT ? v : NULL;
}

bool mj_is_ip(const char *s, size_t n)
{
	char t[INET6_ADDRSTRLEN + 1];
	unsigned char a[sizeof(struct in6_addr)];
	if (n == 0 || n >= sizeof(t) || memchr(s, '\0', n))
		return false;
	memcpy(t, s, n);
	t[n] = '\0';
	return inet_pton(AF_INET, t, a) == 1 || inet_pton(AF_INET6, t, a) == 1;
}

bool mj_id_safe(const struct jdoc_value *v, size_t cap)
{
	if (!v || v->type != JDOC_STRING || v->len == 0 || v->len > cap)
		return false;
	for (uint32_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->u.s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return false;
	}
	return true;
}
