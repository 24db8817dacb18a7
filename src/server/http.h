/*
 * http.h - the seam between the HTTP library and Sealtrail's handlers.
 *
 * The handlers (api.c) see a request as its method, raw path, raw query,
 * headers, peer address and whole body, and answer it once, either at
 * once or later: a handler that hands work to another thread calls
 * hreq_hold(), and that thread later calls hreq_post() to run a function
 * back on the request's own I/O thread, where the reply is sent. The glue
 * (httpd.c) is the only file that knows the library.
 *
 * Ownership: a request belongs to the glue. After hreq_hold() it stays
 * valid until it is answered, even if the client has gone (the answer is
 * then discarded). Every held request must be answered exactly once.
 */
#ifndef SEALTRAIL_SERVER_HTTP_H
#define SEALTRAIL_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_OTHER };

struct hreq;

struct http_hdr {
	const char *name;
	const char *value;
};

enum http_method hreq_method(struct hreq *r);
/* The raw path (no query), NUL-terminated. */
const char *hreq_path(struct hreq *r);
/* The raw query string without '?', "" when none. */
const char *hreq_query(struct hreq *r);
/* A request header's value, or NULL. */
const char *hreq_header(struct hreq *r, const char *name);
/* The whole request body (the glue enforces max_body). */
void hreq_body(struct hreq *r, const uint8_t **p, size_t *n);
/* The client's address as text ("127.0.0.1"; an IPv4-mapped IPv6
 * address is given as IPv4); "unknown" when the library had none. */
const char *hreq_peer(struct hreq *r);
bool hreq_tls(struct hreq *r);
/* Which listener took the request: its index in the configuration's
 * listeners (server_config.listeners). */
unsigned hreq_listener(struct hreq *r);

/* Answers the request. body is copied. Must run on the request's thread. */
void hreq_reply(struct hreq *r, int status, const char *content_type,
		const struct http_hdr *hdrs, size_t nhdrs, const void *body, size_t n);

/* The handler will answer later (from hreq_post's callback). */
void hreq_hold(struct hreq *r);
/* From any thread: runs fn(r, arg) on r's I/O thread. fn must answer r. */
void hreq_post(struct hreq *r, void (*fn)(struct hreq *r, void *arg), void *arg);

#endif
