/*
 * httpd.c - the glue between GNU libmicrohttpd and the handlers (http.h).
 * libmicrohttpd was chosen by measurement (docs/DECISIONS.md, "The HTTP
 * server library"); this is the only file that includes it.
 *
 * One MHD daemon per listener, each with an epoll thread pool of
 * io_threads threads. A request object (struct hreq) is made when MHD has
 * read the request line (the URI log callback) and freed when MHD reports
 * the request complete.
 *
 * Invariants:
 *  1. A request's body is buffered up to max_body; beyond it the request
 *     is answered 413 and the rest is not stored.
 *  2. A held request is suspended in MHD until hreq_post() resumes it; the
 *     per-request mutex orders "post" against "suspend", so a post that
 *     arrives before the handler has suspended is run at once instead of
 *     being lost (MHD_resume_connection on a connection that is not
 *     suspended does nothing).
 *  3. Slow clients: MHD closes a connection idle for idle_timeout; the
 *     sweeper (shutdown of the socket) cuts a request whose headers and
 *     body are not complete read_timeout after its request line, a new
 *     connection without a request line after read_timeout, and a kept-
 *     alive one without its next request line after idle_timeout, even if
 *     bytes trickle in;
 *     connections are capped in total and per client address. A slow
 *     client holds a connection slot and at most its bounded buffers,
 *     never a thread.
 *  4. Draining: MHD stops accepting (quiesce); requests still arriving on
 *     open connections are answered 503 with "Connection: close"; the
 *     drain waits until no request is in flight.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"

#define URI_MAX 8192
#define SWEEP_NS 250000000LL

struct listener {
	struct httpd *h;
	struct MHD_Daemon *d;
	bool tls;
	unsigned idx;                /* in the server's cfg.listeners */
	char addr[CONFIG_ADDR_MAX];
};

/* One client connection (MHD's socket context), on the sweeper's list
 * while it waits for a request line: a fresh connection must deliver its
 * first request line within read_timeout, a kept-alive one its next within
 * idle_timeout, however slowly the bytes trickle (MHD's own idle timer is
 * reset by every byte). */
struct conn {
	int fd;
	bool waiting;                /* no request line yet since phase_start */
	bool first;                  /* no request completed yet */
	int64_t phase_start;
	struct conn *prev, *next;
};

struct hreq {
	struct listener *li;
	struct MHD_Connection *conn;
	enum http_method method;
	char *path;                  /* raw, NUL-terminated */
	char *query;                 /* raw, "" when none */
	char peer[INET6_ADDRSTRLEN]; /* formatted from addr by hreq_peer, once */
	struct sockaddr_in6 addr;    /* the client's, AF_INET or AF_INET6; else 0 */
	int fd;
	int64_t t_start;
	struct buf body;
	bool headers_done, too_large, handled, replied, held;
	/* hold/post, under mu */
	pthread_mutex_t mu;
	bool suspended, posted;
	void (*post_fn)(struct hreq *r, void *arg);
	void *post_arg;
	/* the sweeper's list, under h->mu */
	struct hreq *prev, *next;
	bool listed;
	char uri[];                  /* path '\0' query '\0' */
};

struct httpd {
	struct server *s;
	struct listener li[CONFIG_MAX_LISTENERS];
	size_t nli;
	pthread_mutex_t mu;
	struct hreq *reading;        /* requests whose body is not complete yet */
	struct conn *conns;          /* every open connection */
	_Atomic long inflight;       /* requests made and not completed */
	_Atomic bool draining;
	pthread_t sweeper;
	bool sweeping;
	pthread_cond_t cv;
	bool stop;
	char *tls_cert, *tls_key;    /* PEM, for MHD */
};

/* ---- http.h ---------------------------------------------------------------- */

enum http_method hreq_method(struct hreq *r) { return r->method; }
const char *hreq_path(struct hreq *r) { return r->path; }
const char *hreq_query(struct hreq *r) { return r->query; }
/* Formatted on first use, on the request's thread (most requests never
 * ask: inet_ntop per request was measurable on the single-event path). */
const char *hreq_peer(struct hreq *r)
{
	if (r->peer[0])
		return r->peer;
	if (r->addr.sin6_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)&r->addr)->sin_addr,
			  r->peer, sizeof(r->peer));
	else if (r->addr.sin6_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&r->addr.sin6_addr))
		inet_ntop(AF_INET, &r->addr.sin6_addr.s6_addr[12], r->peer, sizeof(r->peer));
	else if (r->addr.sin6_family == AF_INET6)
		inet_ntop(AF_INET6, &r->addr.sin6_addr, r->peer, sizeof(r->peer));
	if (!r->peer[0])
		memcpy(r->peer, "unknown", sizeof("unknown"));
	return r->peer;
}
bool hreq_tls(struct hreq *r) { return r->li->tls; }
unsigned hreq_listener(struct hreq *r) { return r->li->idx; }

const char *hreq_header(struct hreq *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void hreq_body(struct hreq *r, const uint8_t **p, size_t *n)
{
	*p = r->body.data ? r->body.data : (const uint8_t *)"";
	*n = r->body.len;
}

void hreq_reply(struct hreq *r, int status, const char *content_type,
		const struct http_hdr *hdrs, size_t nhdrs, const void *body, size_t n)
{
	struct MHD_Response *resp;

	if (r->replied)
		return;
	r->replied = true;
	resp = MHD_create_response_from_buffer(n, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return;   /* MHD closes the connection: the client sees it fail */
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; i < nhdrs; i++)
		MHD_add_response_header(resp, hdrs[i].name, hdrs[i].value);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (atomic_load(&r->li->h->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
}

void hreq_hold(struct hreq *r)
{
	r->held = true;
}

void hreq_post(struct hreq *r, void (*fn)(struct hreq *r, void *arg), void *arg)
{
	pthread_mutex_lock(&r->mu);
	r->post_fn = fn;
	r->post_arg = arg;
	r->posted = true;
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&r->mu);
}

/* Runs the posted function if there is one (on the request's thread). */
static void run_posted(struct hreq *r)
{
	void (*fn)(struct hreq *, void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&r->mu);
	if (r->posted) {
		fn = r->post_fn;
		arg = r->post_arg;
		r->posted = false;
		r->post_fn = NULL;
	} else if (!r->replied) {
		MHD_suspend_connection(r->conn);
		r->suspended = true;
	}
	pthread_mutex_unlock(&r->mu);
	if (fn)
		fn(r, arg);
}

/* ---- the sweeper's list ------------------------------------------------------ */

static void list_add(struct httpd *h, struct hreq *r)
{
	pthread_mutex_lock(&h->mu);
	r->prev = NULL;
	r->next = h->reading;
	if (h->reading)
		h->reading->prev = r;
	h->reading = r;
	r->listed = true;
	pthread_mutex_unlock(&h->mu);
}

/* Takes r off the reading list; h->mu held. */
static void unlink_locked(struct httpd *h, struct hreq *r)
{
	if (!r->listed)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reading = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->listed = false;
}

static void list_del(struct httpd *h, struct hreq *r)
{
	pthread_mutex_lock(&h->mu);
	unlink_locked(h, r);
	pthread_mutex_unlock(&h->mu);
}

static void *sweeper_main(void *arg)
{
	struct httpd *h = arg;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;
		int64_t wake = now_realtime_ns() + SWEEP_NS;
		ts.tv_sec = wake / 1000000000;
		ts.tv_nsec = wake % 1000000000;
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		pthread_rwlock_rdlock(&h->s->cfg_lock);
		int64_t limit = (int64_t)h->s->cfg.read_timeout_s * 1000000000LL;
		pthread_rwlock_unlock(&h->s->cfg_lock);
		int64_t now = now_monotonic_ns();
		int64_t idle = (int64_t)h->s->cfg.idle_timeout_s * 1000000000LL;
		for (struct conn *k = h->conns; k; k = k->next) {
			if (!k->waiting || k->fd < 0 ||
			    now - k->phase_start <= (k->first ? limit : idle))
				continue;
			shutdown(k->fd, SHUT_RDWR);
			k->waiting = false;   /* once */
			stat_add(&h->s->st.slow_clients_cut, 1);
		}
		for (struct hreq *r = h->reading, *next; r; r = next) {
			next = r->next;
			if (now - r->t_start <= limit || r->fd < 0)
				continue;
			/* MHD sees the socket fail and completes the request. */
			shutdown(r->fd, SHUT_RDWR);
			stat_add(&h->s->st.slow_clients_cut, 1);
			unlink_locked(h, r);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* ---- MHD callbacks ---------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct listener *li = cls;
	size_t n = strnlen(uri, URI_MAX + 1);
	struct hreq *r = calloc(1, sizeof(*r) + (n > URI_MAX ? 1 : n) + 2);
	const union MHD_ConnectionInfo *ci;

	if (!r)
		return NULL;
	r->li = li;
	r->conn = conn;
	r->fd = -1;
	r->t_start = now_monotonic_ns();
	pthread_mutex_init(&r->mu, NULL);
	if (n > URI_MAX) {
		r->uri[0] = 0;     /* answered 414 once the headers are in */
		r->too_large = true;
		r->path = r->uri;
		r->query = r->uri;
	} else {
		memcpy(r->uri, uri, n);
		char *q = memchr(r->uri, '?', n);
		r->path = r->uri;
		if (q) {
			*q = 0;
			r->query = q + 1;
		} else {
			r->query = r->uri + n + 1;   /* the calloc'd NUL */
		}
	}
	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)))
		r->fd = ci->connect_fd;
	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) &&
	    ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			memcpy(&r->addr, sa, sizeof(struct sockaddr_in));
		else if (sa->sa_family == AF_INET6)
			memcpy(&r->addr, sa, sizeof(struct sockaddr_in6));
	}
	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT)) &&
	    ci->socket_context) {
		struct conn *k = ci->socket_context;
		pthread_mutex_lock(&li->h->mu);
		k->waiting = false;
		pthread_mutex_unlock(&li->h->mu);
	}
	atomic_fetch_add(&li->h->inflight, 1);
	list_add(li->h, r);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct listener *li = cls;
	struct hreq *r = *con_cls;

	(void)toe;
	if (!r)
		return;
	list_del(li->h, r);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context) {
		struct conn *k = ci->socket_context;
		pthread_mutex_lock(&li->h->mu);
		k->waiting = true;
		k->first = false;
		k->phase_start = now_monotonic_ns();
		pthread_mutex_unlock(&li->h->mu);
	}
	/* A held request whose connection died before its post ran: run the
	 * post now so its owner frees what it holds; its reply is dropped. */
	pthread_mutex_lock(&r->mu);
	void (*fn)(struct hreq *, void *) = r->posted ? r->post_fn : NULL;
	void *arg = r->post_arg;
	r->posted = false;
	pthread_mutex_unlock(&r->mu);
	if (fn) {
		r->replied = true;
		fn(r, arg);
	}
	buf_release(&r->body);
	pthread_mutex_destroy(&r->mu);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&li->h->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct listener *li = cls;
	struct httpd *h = li->h;
	struct conn *k;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		stat_gauge_add(&h->s->st.connections, 1);
		if (!(k = calloc(1, sizeof(*k))))
			return;   /* untracked: MHD's idle timeout still applies */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		k->fd = ci ? ci->connect_fd : -1;
		k->waiting = k->first = true;
		k->phase_start = now_monotonic_ns();
		pthread_mutex_lock(&h->mu);
		k->next = h->conns;
		if (h->conns)
			h->conns->prev = k;
		h->conns = k;
		pthread_mutex_unlock(&h->mu);
		*socket_context = k;
		return;
	}
	stat_gauge_add(&h->s->st.connections, -1);
	if (!(k = *socket_context))
		return;
	pthread_mutex_lock(&h->mu);
	if (k->prev)
		k->prev->next = k->next;
	else
		h->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&h->mu);
	free(k);
	*socket_context = NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct listener *li = cls;
	struct server *s = li->h->s;

	(void)addr;
	(void)len;
	pthread_rwlock_rdlock(&s->cfg_lock);
	size_t max = s->cfg.max_connections;
	pthread_rwlock_unlock(&s->cfg_lock);
	if ((size_t)stat_gauge_get(&s->st.connections) >= max || atomic_load(&li->h->draining)) {
		stat_add(&s->st.connections_refused, 1);
		return MHD_NO;
	}
	return MHD_YES;
}

static enum http_method method_of(const char *m)
{
	if (!strcmp(m, "GET")) return HTTP_GET;
	if (!strcmp(m, "POST")) return HTTP_POST;
	if (!strcmp(m, "HEAD")) return HTTP_HEAD;
	if (!strcmp(m, "PUT")) return HTTP_PUT;
	if (!strcmp(m, "DELETE")) return HTTP_DELETE;
	return HTTP_OTHER;
}

static void plain_error(struct hreq *r, int status, const char *code, const char *msg)
{
	struct server *s = r->li->h->s;
	char body[512], ra[16];
	int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
			 code, msg);
	pthread_rwlock_rdlock(&s->cfg_lock);
	snprintf(ra, sizeof(ra), "%u", s->cfg.retry_after_s ? s->cfg.retry_after_s : 1);
	pthread_rwlock_unlock(&s->cfg_lock);
	struct http_hdr h = { "Retry-After", ra };
	stat_add(&s->st.requests[status / 100], 1);
	hreq_reply(r, status, "application/json", &h, status == 503 ? 1 : 0, body, (size_t)n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct listener *li = cls;
	struct httpd *h = li->h;
	struct hreq *r = *con_cls;

	(void)url;
	(void)version;
	if (!r)
		return MHD_NO;     /* out of memory at the request line */
	r->conn = conn;
	if (!r->headers_done) {
		r->headers_done = true;
		r->method = method_of(method);
		pthread_rwlock_rdlock(&h->s->cfg_lock);
		size_t max = h->s->cfg.max_body;
		pthread_rwlock_unlock(&h->s->cfg_lock);
		buf_init(&r->body, max);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t len = 0;
		if (cl && !st_parse_u64(cl, strlen(cl), &len))
			len = 0;
		if (len > max)
			r->too_large = true;
		else if (len > 0)
			/* the announced size at once (up to 4 MiB: a client that
			 * announces more and sends nothing holds no more than
			 * that), instead of doubling and copying as it arrives */
			(void)buf_reserve(&r->body, len < ((size_t)4 << 20) ? (size_t)len : ((size_t)4 << 20));
		if (r->too_large && !r->uri[0]) {
			list_del(h, r);
			plain_error(r, 414, "uri_too_long", "the request URI is longer than 8192 bytes");
			return MHD_YES;
		}
		if (r->too_large) {
			/* Answer before reading the body; MHD then closes. */
			list_del(h, r);
			plain_error(r, 413, "body_too_large",
				    "the request body is larger than max_body");
			return MHD_YES;
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->too_large && buf_append(&r->body, upload, *upload_size) < 0)
			r->too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->handled) {
		r->handled = true;
		list_del(h, r);
		if (r->replied)
			return MHD_YES;
		if (r->too_large) {
			plain_error(r, 413, "body_too_large", "the request body is larger than max_body");
			return MHD_YES;
		}
		if (atomic_load(&h->draining)) {
			plain_error(r, 503, "shutting_down", "the server is shutting down; retry later");
			return MHD_YES;
		}
		api_handle(h->s, r);
		if (r->held && !r->replied)
			run_posted(r);
		return MHD_YES;
	}
	/* Resumed (or a spurious call while held). */
	if (!r->replied)
		run_posted(r);
	return MHD_YES;
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	server_logf(h->s, "http: %s", msg);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int resolve(const char *addr, struct sockaddr_storage *ss, char *err, size_t errcap)
{
	char host[CONFIG_ADDR_MAX], port[8];
	unsigned p;
	struct addrinfo hints = { 0 }, *ai = NULL;

	if (config_parse_addr(addr, host, sizeof(host), &p) < 0) {
		snprintf(err, errcap, "listen address \"%s\": expected host:port", addr);
		return ST_EINVAL;
	}
	snprintf(port, sizeof(port), "%u", p);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int e = getaddrinfo(host, port, &hints, &ai);
	if (e || !ai) {
		snprintf(err, errcap, "listen address \"%s\": %s", addr, gai_strerror(e));
		return ST_EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static int read_pem(const char *path, char **ret, char *err, size_t errcap)
{
	struct buf b = BUF_INIT(1 << 20);
	int r = read_file(path, (size_t)1 << 20, &b);

	if (r < 0 || buf_cstr(&b) < 0) {
		snprintf(err, errcap, "%s: %s", path, st_strerror(r < 0 ? r : -ENOMEM));
		buf_release(&b);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = (char *)b.data;
	return 0;
}

int httpd_start(struct httpd **ret, struct server *s, char *err, size_t errcap)
{
	struct httpd *h = calloc(1, sizeof(*h));
	const struct server_config *c = &s->cfg;
	int r = 0;

	if (!h)
		return -ENOMEM;
	h->s = s;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	for (size_t i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].tls && !h->tls_cert) {
			if (!c->tls_cert[0] || !c->tls_key[0]) {
				snprintf(err, errcap, "listen_tls needs tls_cert and tls_key");
				r = ST_EINVAL;
				goto fail;
			}
			if ((r = read_pem(c->tls_cert, &h->tls_cert, err, errcap)) < 0 ||
			    (r = read_pem(c->tls_key, &h->tls_key, err, errcap)) < 0)
				goto fail;
		}
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct listener *li = &h->li[h->nli];
		struct sockaddr_storage ss;
		unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
				 MHD_USE_ERROR_LOG;

		li->h = h;
		li->tls = c->listeners[i].tls;
		li->idx = (unsigned)i;
		snprintf(li->addr, sizeof(li->addr), "%s", c->listeners[i].addr);
		if ((r = resolve(li->addr, &ss, err, errcap)) < 0)
			goto fail;
		if (ss.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		if (li->tls)
			flags |= MHD_USE_TLS;
		li->d = MHD_start_daemon(
			flags, 0, on_accept, li, on_request, li,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_THREAD_POOL_SIZE, c->io_threads,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)(c->max_connections + 16),
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_connections_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, c->idle_timeout_s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->max_header + 4096,
			MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, li,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, li,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, li,
			li->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, h->tls_key,
			MHD_OPTION_HTTPS_MEM_CERT, h->tls_cert,
			MHD_OPTION_END);
		if (!li->d) {
			snprintf(err, errcap, "cannot serve on %s%s (address in use, or a bad TLS key/certificate?)",
				 li->addr, li->tls ? " with TLS" : "");
			r = -EADDRINUSE;
			goto fail;
		}
		h->nli++;
	}
	if ((r = -pthread_create(&h->sweeper, NULL, sweeper_main, h)) < 0)
		goto fail;
	h->sweeping = true;
	*ret = h;
	return 0;
fail:
	httpd_free(h);
	return r;
}

void httpd_drain(struct httpd *h, unsigned timeout_ms)
{
	int64_t until = now_monotonic_ns() + (int64_t)timeout_ms * 1000000;

	atomic_store(&h->draining, true);
	for (size_t i = 0; i < h->nli; i++) {
		MHD_socket fd = MHD_quiesce_daemon(h->li[i].d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	while (atomic_load(&h->inflight) > 0 && now_monotonic_ns() < until)
		usleep(5000);
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	if (h->sweeping) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->sweeper, NULL);
	}
	for (size_t i = 0; i < h->nli; i++)
		MHD_stop_daemon(h->li[i].d);
	if (h->tls_key) {
		st_wipe(h->tls_key, strlen(h->tls_key));
		free(h->tls_key);
	}
	free(h->tls_cert);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int httpd_reload(struct httpd *h, char *err, size_t errcap)
{
	/* libmicrohttpd 0.9.75 cannot swap a running daemon's certificate;
	 * limits are read from s->cfg on every request, so they need nothing
	 * here. A new certificate takes a restart (docs/OPERATIONS.md). */
	(void)h;
	(void)err;
	(void)errcap;
	return 0;
}
