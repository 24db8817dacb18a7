/*
 * loadgen: the HTTP/1.1 load generator for Sealtrail's ingest endpoint (and
 * for the HTTP library comparison in bench/http_libs.sh).
 *
 *   loadgen --url http://127.0.0.1:PORT/v1/events [-c CONNS=64] [-t THREADS=1]
 *           [-d SECONDS=10 | -n REQUESTS] [-b EVENTS_PER_REQUEST=1]
 *           [--mode single|ndjson|array|k8s] [--token-file FILE] [--run-id STR]
 *           (k8s: an audit.k8s.io/v1 EventList of -b Events, for /v1/ingest/k8s)
 *           [--rate EVENTS_PER_SECOND]  (pace requests to that event rate)
 *           [--json]
 *
 * Invariants this file keeps:
 *  - Loopback only: the URL must name 127.0.0.0/8 (or "localhost"); any
 *    other host is refused before a socket is opened.
 *  - Bounded: a run stops by itself at -d SECONDS or after -n responses
 *    (every attempt, retries included, takes one of the -n slots).
 *  - One request in flight per connection, keep-alive, no pipelining; each
 *    thread owns its connections and its epoll loop and shares nothing with
 *    the other threads until the final merge.
 *  - Event ids are "<run-id>-<thread:3>-<counter:12>", the counter private
 *    to the thread, so ids are unique across the run. A 429/503 re-sends the
 *    same body (same ids) after Retry-After, as a real client would.
 *  - Bodies are built once per connection; a new request only patches the
 *    fixed-width counter digits in place, so the generator stays cheap.
 *  - The bearer token is never printed, and is wiped once copied into the
 *    request buffers.
 *
 * Latency is measured per response, from the first byte written to the last
 * byte read, with CLOCK_MONOTONIC. Exit status 1 on any transport error or
 * on any status other than 2xx, 429 and 503.
 *
 * Only libc and pthreads are used: the generator must not depend on the code
 * it measures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evgen.h"

#define MAX_CONNS 4096
#define MAX_THREADS 256
#define MAX_EVENTS_PER_REQ 100000
#define MAX_TOKEN 4096
#define MAX_RUN_ID 40
#define RBUF_SIZE 16384		/* response headers must fit */
#define MAX_RETRY_AFTER_S 60
#define RECONNECT_PAUSE_NS 100000000ull /* after a transport error */
#define MAX_SAMPLES_TOTAL (1u << 24)	/* 128 MiB of latencies at most */
#define CTR_DIGITS 12
#define TID_DIGITS 3
#define NS 1000000000ull

enum mode { MODE_SINGLE, MODE_NDJSON, MODE_ARRAY, MODE_K8S };

/* ------------------------------------------------------------- options */

struct opts {
	struct sockaddr_in addr;
	char host[72];	/* "host:port", for the Host header */
	char path[256];
	unsigned conns;
	unsigned threads;
	uint64_t seconds;
	uint64_t requests;	/* 0: run for `seconds` */
	unsigned batch;
	enum mode mode;
	char run_id[MAX_RUN_ID + 1];
	bool json;
	uint64_t rate;		/* --rate: events per second, 0: as fast as it goes */
};

static struct opts opt = {
	.conns = 64, .threads = 1, .seconds = 10, .batch = 1,
	.mode = MODE_SINGLE,
};

/* The request as built once: headers and body, with the byte offsets of
 * every counter field and of the thread-id field of every event. */
static char *tmpl;
static size_t tmpl_len;
static size_t *ctr_off;	/* opt.batch entries */
static size_t *tid_off;	/* opt.batch entries */

static uint64_t end_ns;	/* -d: deadline on CLOCK_MONOTONIC */
static atomic_uint_fast64_t slots_taken;	/* -n: attempts claimed */
static uint64_t start_ns;	/* when the workers started */
static atomic_uint_fast64_t rate_tickets;	/* --rate: requests scheduled */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------- workers */

enum cstate { C_IDLE, C_CONNECTING, C_WRITING, C_READING, C_PAUSED };
enum phase { P_HEAD, P_BODY_CL, P_BODY_EOF, P_CHUNK_SIZE, P_CHUNK_DATA,
	     P_CHUNK_CRLF, P_CHUNK_TRAILER };

struct conn {
	struct worker *w;
	int fd;
	enum cstate state;
	char *req;		/* private copy of tmpl */
	size_t req_off;		/* bytes of req written */
	bool retry;		/* next send re-uses the body (429/503) */
	bool ticket;		/* --rate: this connection's next request is due */
	uint64_t t0;		/* first byte written */
	uint64_t resume_at;	/* C_PAUSED: when to send again */
	char rbuf[RBUF_SIZE];
	size_t rpos, rlen;	/* unconsumed bytes are rbuf[rpos, rlen) */
	enum phase phase;
	uint64_t body_left;
	unsigned status;
	bool close_after;
	unsigned retry_after;
};

struct worker {
	unsigned id;
	pthread_t thread;
	int ep;
	struct conn *conns;
	unsigned nconns;
	uint64_t counter;	/* last event counter used */
	uint64_t *samples;	/* latency in ns */
	size_t nsamples, samples_cap, samples_max;
	uint64_t dropped_samples;
	uint64_t max_ns;
	uint64_t responses;
	uint64_t events;
	uint64_t errors;	/* transport and protocol errors */
	uint64_t status[600];
	uint64_t bad_status;
	char first_error[160];
};

static void worker_error(struct worker *w, const char *what, int err)
{
	w->errors++;
	if (!w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "%s%s%s", what,
			 err ? ": " : "", err ? strerror(err) : "");
}

static void record(struct worker *w, uint64_t lat)
{
	if (lat > w->max_ns)
		w->max_ns = lat;
	if (w->nsamples == w->samples_cap) {
		size_t cap = w->samples_cap ? w->samples_cap * 2 : 65536;
		uint64_t *p;
		if (cap > w->samples_max)
			cap = w->samples_max;
		if (cap <= w->samples_cap ||
		    !(p = realloc(w->samples, cap * sizeof(*p)))) {
			w->dropped_samples++;
			return;
		}
		w->samples = p;
		w->samples_cap = cap;
	}
	w->samples[w->nsamples++] = lat;
}

/* Writes v as exactly `width` decimal digits ending at dst + width. */
static void put_digits(char *dst, uint64_t v, unsigned width)
{
	for (unsigned i = width; i-- > 0; v /= 10)
		dst[i] = (char)('0' + v % 10);
}

/* A new attempt may start: -d not yet over, or an -n slot was claimed. */
static bool claim_slot(void)
{
	if (opt.requests)
		return atomic_fetch_add(&slots_taken, 1) < opt.requests;
	return now_ns() < end_ns;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rpos = c->rlen = 0;
	c->phase = P_HEAD;
}

static int conn_open(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET,
				  .data.ptr = c };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&opt.addr, sizeof(opt.addr)) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return -err;
	}
	if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	c->fd = fd;
	c->state = C_CONNECTING;
	return 0;
}

static void conn_pause(struct conn *c, uint64_t ns)
{
	c->state = C_PAUSED;
	c->resume_at = now_ns() + ns;
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	worker_error(c->w, what, err);
	conn_close(c);
	c->retry = false;
	conn_pause(c, RECONNECT_PAUSE_NS);
}

static void conn_write(struct conn *c)
{
	while (c->req_off < tmpl_len) {
		ssize_t n = send(c->fd, c->req + c->req_off, tmpl_len - c->req_off,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				return;	/* EPOLLOUT edge will call us again */
			if (errno == EINTR)
				continue;
			conn_fail(c, "send", errno);
			return;
		}
		c->req_off += (size_t)n;
	}
	c->state = C_READING;
}

/* Starts the next attempt on `c`: opens the connection if needed, patches
 * fresh event ids unless this is a retry, and writes. */
static void conn_start(struct conn *c)
{
	int rc;
	if (opt.rate && !c->retry && !c->ticket) {
		/* --rate: request k is due at start + k * batch / rate; one
		 * that is late goes at once (the rate is then what the server
		 * sustains, below the target). */
		uint64_t k = atomic_fetch_add(&rate_tickets, 1);
		uint64_t due = start_ns + (uint64_t)((double)k * opt.batch * 1e9 / (double)opt.rate);
		c->ticket = true;
		if (due > now_ns()) {
			c->state = C_PAUSED;
			c->resume_at = due;
			return;
		}
	}
	c->ticket = false;
	if (!claim_slot()) {
		c->state = C_IDLE;
		return;
	}
	if (!c->retry) {
		for (unsigned i = 0; i < opt.batch; i++)
			put_digits(c->req + ctr_off[i], ++c->w->counter, CTR_DIGITS);
	}
	c->retry = false;
	if (c->fd < 0) {
		rc = conn_open(c);
		if (rc < 0) {
			conn_fail(c, "connect", -rc);
			return;
		}
		return;	/* conn_event writes once connected */
	}
	c->state = C_WRITING;
	c->req_off = 0;
	c->t0 = now_ns();
	conn_write(c);
}

static bool name_is(const char *p, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(p, name, len) == 0;
}

/* Parses the status line and headers in rbuf[rpos, end); 0 or -1. */
static int parse_head(struct conn *c, const char *p, const char *end)
{
	bool chunked = false, have_cl = false;
	uint64_t cl = 0;
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol || end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5')
		return -1;
	c->status = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
	c->close_after = p[7] == '0';
	c->retry_after = 1;
	for (p = eol + 1; p < end; p = eol + 1) {
		const char *colon, *v, *ve;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (ve == p)
			break;	/* the blank line */
		colon = memchr(p, ':', (size_t)(ve - p));
		if (!colon)
			return -1;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nlen = (size_t)(colon - p), vlen = (size_t)(ve - v);
		if (name_is(p, nlen, "content-length")) {
			cl = 0;
			if (vlen == 0 || vlen > 15)
				return -1;
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9')
					return -1;
				cl = cl * 10 + (uint64_t)(*q - '0');
			}
			have_cl = true;
		} else if (name_is(p, nlen, "transfer-encoding")) {
			chunked = vlen >= 7 && strncasecmp(ve - 7, "chunked", 7) == 0;
		} else if (name_is(p, nlen, "connection")) {
			if (name_is(v, vlen, "close"))
				c->close_after = true;
			else if (name_is(v, vlen, "keep-alive"))
				c->close_after = false;
		} else if (name_is(p, nlen, "retry-after")) {
			unsigned s = 0;
			for (const char *q = v; q < ve && *q >= '0' && *q <= '9'; q++)
				s = s * 10 + (unsigned)(*q - '0');
			c->retry_after = s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : s;
		}
	}
	if (chunked) {
		c->phase = P_CHUNK_SIZE;
	} else if (have_cl) {
		c->phase = P_BODY_CL;
		c->body_left = cl;
	} else if (c->status == 204 || c->status == 304 || c->status < 200) {
		c->phase = P_BODY_CL;
		c->body_left = 0;
	} else {
		c->phase = P_BODY_EOF;
		c->close_after = true;
	}
	return 0;
}

/* Consumes what it can of rbuf. Returns 1 when a whole final response was
 * read, 0 when more bytes are needed, -1 on a protocol error. */
static int parse(struct conn *c)
{
	for (;;) {
		char *p = c->rbuf + c->rpos, *end = c->rbuf + c->rlen;
		size_t avail = (size_t)(end - p);
		char *eol;
		switch (c->phase) {
		case P_HEAD: {
			char *hend = memmem(p, avail, "\r\n\r\n", 4);
			if (!hend)
				return avail == RBUF_SIZE ? -1 : 0;
			if (parse_head(c, p, hend + 4) < 0)
				return -1;
			c->rpos += (size_t)(hend + 4 - p);
			if (c->status < 200) {	/* 1xx: the real one follows */
				c->phase = P_HEAD;
				continue;
			}
			break;
		}
		case P_BODY_CL:
			if (avail > c->body_left)
				return -1;	/* bytes nobody asked for */
			c->body_left -= avail;
			c->rpos = c->rlen = 0;
			return c->body_left == 0;
		case P_BODY_EOF:
			c->rpos = c->rlen = 0;
			return 0;	/* finished by the peer's close */
		case P_CHUNK_SIZE:
			eol = memchr(p, '\n', avail);
			if (!eol)
				return avail > 1024 ? -1 : 0;
			c->body_left = 0;
			{
				char *q = p;
				for (; q < eol; q++) {
					int d = *q >= '0' && *q <= '9' ? *q - '0' :
						(*q | 0x20) >= 'a' && (*q | 0x20) <= 'f' ?
						(*q | 0x20) - 'a' + 10 : -1;
					if (d < 0)
						break;
					if (c->body_left >> 56)
						return -1;
					c->body_left = c->body_left * 16 + (uint64_t)d;
				}
				if (q == p)
					return -1;
			}
			c->rpos += (size_t)(eol + 1 - p);
			c->phase = c->body_left ? P_CHUNK_DATA : P_CHUNK_TRAILER;
			break;
		case P_CHUNK_DATA: {
			size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
			c->rpos += take;
			c->body_left -= take;
			if (c->body_left)
				goto need_more;
			c->phase = P_CHUNK_CRLF;
			break;
		}
		case P_CHUNK_CRLF:
			if (avail < 2)
				goto need_more;
			if (p[0] != '\r' || p[1] != '\n')
				return -1;
			c->rpos += 2;
			c->phase = P_CHUNK_SIZE;
			break;
		case P_CHUNK_TRAILER:
			eol = memchr(p, '\n', avail);
			if (!eol)
				return avail > 1024 ? -1 : 0;
			c->rpos += (size_t)(eol + 1 - p);
			if (eol == p || (eol == p + 1 && p[0] == '\r')) {
				if (c->rpos != c->rlen)
					return -1;
				c->rpos = c->rlen = 0;
				return 1;
			}
			break;
		}
	}
need_more:
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	return 0;
}

/* A whole response has arrived (`eof`: delimited by the peer's close). */
static void conn_done(struct conn *c, bool eof)
{
	struct worker *w = c->w;
	unsigned st = c->status;
	record(w, now_ns() - c->t0);
	w->responses++;
	w->status[st < 600 ? st : 599]++;
	c->phase = P_HEAD;
	if (eof || c->close_after)
		conn_close(c);
	if (st >= 200 && st < 300) {
		w->events += opt.batch;
	} else if (st == 429 || st == 503) {
		c->retry = true;
		conn_pause(c, (uint64_t)c->retry_after * NS);
		return;
	} else {
		w->bad_status++;
	}
	conn_start(c);
}

static void conn_read(struct conn *c)
{
	for (;;) {
		size_t room;
		ssize_t n;
		int rc;
		if (c->rpos > 0 && c->rlen == RBUF_SIZE) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		room = RBUF_SIZE - c->rlen;
		n = recv(c->fd, c->rbuf + c->rlen, room, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			conn_fail(c, "recv", errno);
			return;
		}
		if (n == 0) {
			if (c->phase == P_BODY_EOF) {
				conn_done(c, true);
				return;
			}
			conn_fail(c, "connection closed before the response ended", 0);
			return;
		}
		c->rlen += (size_t)n;
		rc = parse(c);
		if (rc < 0) {
			conn_fail(c, "malformed HTTP response", 0);
			return;
		}
		if (rc > 0) {
			conn_done(c, false);
			return;
		}
		/* A short read drained the socket; the next bytes bring a
		 * new edge. */
		if ((size_t)n < room)
			return;
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	switch (c->state) {
	case C_CONNECTING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				conn_fail(c, "connect", err);
				return;
			}
			c->state = C_WRITING;
			c->req_off = 0;
			c->t0 = now_ns();
			conn_write(c);
		}
		break;
	case C_WRITING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_write(c);
		if (c->state == C_READING && (events & EPOLLIN))
			conn_read(c);
		break;
	case C_READING:
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			conn_read(c);
		break;
	case C_IDLE:
	case C_PAUSED:
		break;	/* a close while idle shows on the next send */
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	for (unsigned i = 0; i < w->nconns; i++)
		conn_start(&w->conns[i]);
	for (;;) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		bool active = false;
		int timeout, n;
		if (!opt.requests && now >= end_ns)
			break;
		for (unsigned i = 0; i < w->nconns; i++) {
			struct conn *c = &w->conns[i];
			if (c->state == C_PAUSED) {
				if (c->resume_at <= now) {
					if (opt.requests || now < end_ns)
						conn_start(c);
					else
						c->state = C_IDLE;
				}
				if (c->state == C_PAUSED && c->resume_at < next)
					next = c->resume_at;
			}
			if (c->state != C_IDLE)
				active = true;
		}
		if (!active)
			break;
		if (!opt.requests && end_ns < next)
			next = end_ns;
		timeout = next == UINT64_MAX ? 100 :
			next <= now ? 0 : (int)((next - now) / 1000000 + 1);
		if (timeout > 100)
			timeout = 100;
		n = epoll_wait(w->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0 && errno != EINTR) {
			worker_error(w, "epoll_wait", errno);
			break;
		}
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	for (unsigned i = 0; i < w->nconns; i++)
		conn_close(&w->conns[i]);
	return NULL;
}

/* --------------------------------------------------------- the request */

/* Appends to a fixed buffer sized by the caller; overflow is a bug here. */
struct sb {
	char *cur;
	char *end;
};

static void put(struct sb *b, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(b->end - b->cur) < n) {
		fputs("loadgen: request buffer overflow (bug)\n", stderr);
		abort();
	}
	memcpy(b->cur, s, n);
	b->cur += n;
}

/* "<run-id>-000-000000000000": event i's id with its thread and counter
 * digits zero; their offsets go to tid_off[i] and ctr_off[i]. */
static void put_id(struct sb *b, char *base, unsigned i)
{
	put(b, opt.run_id);
	put(b, "-");
	tid_off[i] = (size_t)(b->cur - base);
	put(b, "000-");
	ctr_off[i] = (size_t)(b->cur - base);
	put(b, "000000000000");
}

/* One event of about 350 bytes; its id's thread and counter digits are
 * zeros here, their offsets go to tid_off[i] and ctr_off[i]. */
static void put_event(struct sb *b, char *base, unsigned i)
{
	char tail[512];
	put(b, "{\"id\":\"");
	put_id(b, base, i);
	evgen_tail(tail, sizeof(tail), i);
	put(b, tail);
}

/* One audit.k8s.io/v1 Event (Metadata level, about 700 bytes) for
 * --mode k8s; its auditID carries the thread and counter digits. */
static void put_k8s_event(struct sb *b, char *base, unsigned i)
{
	static const char *const verbs[] = { "get", "list", "watch", "update", "create", "delete", "patch" };
	static const char *const resources[] = { "pods", "configmaps", "deployments", "services", "nodes", "leases" };
	static const char *const users[] = {
		"alice@corp.example", "system:serviceaccount:kube-system:replicaset-controller",
		"system:node:node-3", "bob@corp.example", "system:kube-scheduler",
	};
	static const int codes[] = { 200, 200, 200, 201, 200, 200, 403, 200, 404, 200, 200 };
	char tail[1024];
	put(b, "{\"level\":\"Metadata\",\"auditID\":\"");
	put_id(b, base, i);
	unsigned us = (i * 7919u) % 1000000u;
	snprintf(tail, sizeof(tail),
		 "\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/namespaces/ns-%u/%s/obj-%u\","
		 "\"verb\":\"%s\",\"user\":{\"username\":\"%s\",\"groups\":[\"system:authenticated\"]},"
		 "\"sourceIPs\":[\"10.2.%u.%u\"],\"userAgent\":\"kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819\","
		 "\"objectRef\":{\"resource\":\"%s\",\"namespace\":\"ns-%u\",\"name\":\"obj-%u\",\"apiVersion\":\"v1\"},"
		 "\"responseStatus\":{\"metadata\":{},\"code\":%d},"
		 "\"requestReceivedTimestamp\":\"2026-11-27T10:00:%02u.%06uZ\",\"stageTimestamp\":\"2026-11-27T10:00:%02u.%06uZ\","
		 "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
		 "\"authorization.k8s.io/reason\":\"RBAC: allowed by ClusterRoleBinding \\\"view\\\"\"}}",
		 i % 20, resources[i % 6], i % 500, verbs[i % 7], users[i % 5], i / 250 % 250, i % 250 + 1,
		 resources[i % 6], i % 20, i % 500, codes[i % 11], i % 60, us, i % 60, us);
	put(b, tail);
}

static int read_token(const char *file, char *tok, size_t cap)
{
	FILE *f = fopen(file, "r");
	size_t n;
	if (!f)
		return -errno;
	n = fread(tok, 1, cap - 1, f);
	if (!feof(f)) {
		fclose(f);
		return -E2BIG;
	}
	fclose(f);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
		n--;
	tok[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
			return -EINVAL;
	return n ? 0 : -EINVAL;
}

static int build_template(const char *token)
{
	size_t body_cap = (size_t)opt.batch * (opt.mode == MODE_K8S ? 1200 : 600) + 128;
	size_t cap = body_cap + 1024 + (token ? strlen(token) : 0);
	char *body = malloc(body_cap);
	struct sb b;
	int hlen;
	tmpl = malloc(cap);
	ctr_off = malloc(opt.batch * sizeof(*ctr_off));
	tid_off = malloc(opt.batch * sizeof(*tid_off));
	if (!body || !tmpl || !ctr_off || !tid_off)
		return -ENOMEM;
	b = (struct sb){ body, body + body_cap };
	if (opt.mode == MODE_ARRAY)
		put(&b, "[");
	if (opt.mode == MODE_K8S)
		put(&b, "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":[");
	for (unsigned i = 0; i < opt.batch; i++) {
		if (i && (opt.mode == MODE_ARRAY || opt.mode == MODE_K8S))
			put(&b, ",");
		if (opt.mode == MODE_K8S)
			put_k8s_event(&b, body, i);
		else
			put_event(&b, body, i);
		if (opt.mode == MODE_NDJSON)
			put(&b, "\n");
	}
	if (opt.mode == MODE_ARRAY)
		put(&b, "]");
	if (opt.mode == MODE_K8S)
		put(&b, "]}");
	hlen = snprintf(tmpl, cap,
			"POST %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
			"Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			opt.path, opt.host, token ? "Authorization: Bearer " : "",
			token ? token : "", token ? "\r\n" : "",
			opt.mode == MODE_NDJSON ? "application/x-ndjson" : "application/json",
			(size_t)(b.cur - body));
	if (hlen < 0 || (size_t)hlen + (size_t)(b.cur - body) > cap) {
		free(body);
		return -E2BIG;
	}
	memcpy(tmpl + hlen, body, (size_t)(b.cur - body));
	tmpl_len = (size_t)hlen + (size_t)(b.cur - body);
	for (unsigned i = 0; i < opt.batch; i++) {
		ctr_off[i] += (size_t)hlen;
		tid_off[i] += (size_t)hlen;
	}
	free(body);
	return 0;
}

/* --------------------------------------------------------------- setup */

static int parse_url(const char *url)
{
	const char *p, *slash, *colon;
	char host[64];
	unsigned long port;
	char *end;
	if (strncmp(url, "http://", 7) != 0)
		return -EINVAL;	/* no TLS here: loopback plaintext only */
	p = url + 7;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if (!colon || (size_t)(colon - p) >= sizeof(host))
		return -EINVAL;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end != slash || port == 0 || port > 65535)
		return -EINVAL;
	memset(&opt.addr, 0, sizeof(opt.addr));
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		opt.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &opt.addr.sin_addr) != 1)
		return -EINVAL;
	if ((ntohl(opt.addr.sin_addr.s_addr) >> 24) != 127)
		return -EPERM;
	snprintf(opt.host, sizeof(opt.host), "%s:%lu", host, port);
	snprintf(opt.path, sizeof(opt.path), "%s", *slash ? slash : "/");
	for (const char *q = opt.path; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return -EINVAL;
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double pct_ms(const uint64_t *s, size_t n, double p)
{
	size_t k;
	if (!n)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)s[k - 1] / 1e6;
}

static void usage(void)
{
	fputs("usage: loadgen --url http://127.0.0.1:PORT/PATH [-c CONNS=64]\n"
	      "         [-t THREADS=1] [-d SECONDS=10 | -n REQUESTS]\n"
	      "         [-b EVENTS_PER_REQUEST=1] [--mode single|ndjson|array|k8s]\n"
	      "         [--rate EVENTS_PER_SECOND]\n"
	      "         [--token-file FILE] [--run-id STR] [--json]\n", stderr);
}

int main(int argc, char **argv)
{
	const char *url = NULL, *token_file = NULL;
	char token[MAX_TOKEN];
	struct worker *ws;
	uint64_t v, start, elapsed, responses = 0, events = 0, errors = 0;
	uint64_t bad = 0, dropped = 0, max_ns = 0, status[600] = { 0 };
	uint64_t *all;
	size_t nall = 0;
	double secs, p50, p99, p999;
	int rc, exit_code = 0;
	FILE *human;

	snprintf(opt.run_id, sizeof(opt.run_id), "lg%x%llx", (unsigned)getpid(),
		 (unsigned long long)time(NULL));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			opt.json = true;
			continue;
		}
		if (!val) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--url") == 0) {
			url = val;
		} else if (strcmp(a, "--token-file") == 0) {
			token_file = val;
		} else if (strcmp(a, "--run-id") == 0) {
			size_t n = strlen(val);
			if (n == 0 || n > MAX_RUN_ID ||
			    strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789._-") != n) {
				fprintf(stderr, "loadgen: --run-id wants 1..%d of [A-Za-z0-9._-]\n",
					MAX_RUN_ID);
				return 2;
			}
			memcpy(opt.run_id, val, n + 1);
		} else if (strcmp(a, "--mode") == 0) {
			if (strcmp(val, "single") == 0)
				opt.mode = MODE_SINGLE;
			else if (strcmp(val, "ndjson") == 0)
				opt.mode = MODE_NDJSON;
			else if (strcmp(val, "array") == 0)
				opt.mode = MODE_ARRAY;
			else if (strcmp(val, "k8s") == 0)
				opt.mode = MODE_K8S;
			else {
				usage();
				return 2;
			}
		} else if (parse_u64(val, &v) < 0) {
			fprintf(stderr, "loadgen: %s wants a number, got \"%s\"\n", a, val);
			return 2;
		} else if (strcmp(a, "-c") == 0 && v >= 1 && v <= MAX_CONNS) {
			opt.conns = (unsigned)v;
		} else if (strcmp(a, "-t") == 0 && v >= 1 && v <= MAX_THREADS) {
			opt.threads = (unsigned)v;
		} else if (strcmp(a, "-d") == 0 && v >= 1 && v <= 86400) {
			opt.seconds = v;
			opt.requests = 0;
		} else if (strcmp(a, "-n") == 0 && v >= 1 && v <= MAX_SAMPLES_TOTAL) {
			opt.requests = v;
		} else if (strcmp(a, "-b") == 0 && v >= 1 && v <= MAX_EVENTS_PER_REQ) {
			opt.batch = (unsigned)v;
		} else if (strcmp(a, "--rate") == 0 && v >= 1 && v <= 100000000) {
			opt.rate = v;
		} else {
			fprintf(stderr, "loadgen: bad option or value out of range: %s %s\n",
				a, val);
			usage();
			return 2;
		}
	}
	if (!url) {
		usage();
		return 2;
	}
	rc = parse_url(url);
	if (rc == -EPERM) {
		fprintf(stderr, "loadgen: refusing %s: only 127.0.0.0/8 is allowed\n", url);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "loadgen: expected http://127.0.0.1:PORT/PATH, got %s\n", url);
		return 2;
	}
	if (opt.mode == MODE_SINGLE && opt.batch != 1) {
		fputs("loadgen: --mode single sends one event: use -b 1\n", stderr);
		return 2;
	}
	if (opt.threads > opt.conns)
		opt.threads = opt.conns;
	if (token_file) {
		rc = read_token(token_file, token, sizeof(token));
		if (rc < 0) {
			fprintf(stderr, "loadgen: reading token file %s: %s\n", token_file,
				strerror(-rc));
			explicit_bzero(token, sizeof(token));
			return 2;
		}
	}
	rc = build_template(token_file ? token : NULL);
	explicit_bzero(token, sizeof(token));
	if (rc < 0) {
		fprintf(stderr, "loadgen: building the request: %s\n", strerror(-rc));
		return 1;
	}

	ws = calloc(opt.threads, sizeof(*ws));
	if (!ws)
		goto oom;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &ws[t];
		w->id = t;
		w->nconns = opt.conns / opt.threads + (t < opt.conns % opt.threads);
		w->samples_max = (opt.requests ? opt.requests : MAX_SAMPLES_TOTAL) /
				 opt.threads + 1;
		w->conns = calloc(w->nconns, sizeof(*w->conns));
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!w->conns || w->ep < 0)
			goto oom;
		for (unsigned i = 0; i < w->nconns; i++) {
			struct conn *c = &w->conns[i];
			c->w = w;
			c->fd = -1;
			c->req = malloc(tmpl_len);
			if (!c->req)
				goto oom;
			memcpy(c->req, tmpl, tmpl_len);
			for (unsigned e = 0; e < opt.batch; e++)
				put_digits(c->req + tid_off[e], t, TID_DIGITS);
		}
	}
	explicit_bzero(tmpl, tmpl_len);

	start = now_ns();
	start_ns = start;
	end_ns = start + opt.seconds * NS;
	for (unsigned t = 0; t < opt.threads; t++) {
		if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
			fputs("loadgen: cannot start threads\n", stderr);
			return 1;
		}
	}
	for (unsigned t = 0; t < opt.threads; t++)
		pthread_join(ws[t].thread, NULL);
	elapsed = now_ns() - start;

	for (unsigned t = 0; t < opt.threads; t++)
		nall += ws[t].nsamples;
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!all)
		goto oom;
	nall = 0;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &ws[t];
		memcpy(all + nall, w->samples, w->nsamples * sizeof(*all));
		nall += w->nsamples;
		responses += w->responses;
		events += w->events;
		errors += w->errors;
		bad += w->bad_status;
		dropped += w->dropped_samples;
		if (w->max_ns > max_ns)
			max_ns = w->max_ns;
		for (unsigned s = 0; s < 600; s++)
			status[s] += w->status[s];
		if (w->first_error[0])
			fprintf(stderr, "loadgen: thread %u: %" PRIu64 " errors, first: %s\n",
				t, w->errors, w->first_error);
	}
	qsort(all, nall, sizeof(*all), cmp_u64);
	secs = (double)elapsed / 1e9;
	p50 = pct_ms(all, nall, 50);
	p99 = pct_ms(all, nall, 99);
	p999 = pct_ms(all, nall, 99.9);

	human = opt.json ? stderr : stdout;
	fprintf(human, "%" PRIu64 " responses, %" PRIu64 " events in %.2f s: "
		"%.0f req/s, %.0f events/s\n"
		"latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f%s\n"
		"status:", responses, events, secs, (double)responses / secs,
		(double)events / secs, p50, p99, p999, (double)max_ns / 1e6,
		dropped ? "  (sample array full: percentiles from a prefix)" : "");
	for (unsigned s = 0; s < 600; s++)
		if (status[s])
			fprintf(human, " %u:%" PRIu64, s, status[s]);
	fprintf(human, "  errors: %" PRIu64 "\n", errors);
	if (opt.json) {
		bool first = true;
		printf("{\"requests\":%" PRIu64 ",\"events\":%" PRIu64 ",\"seconds\":%.3f,"
		       "\"req_per_s\":%.1f,\"events_per_s\":%.1f,\"p50_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"status\":{",
		       responses, events, secs, (double)responses / secs,
		       (double)events / secs, p50, p99, p999, (double)max_ns / 1e6);
		for (unsigned s = 0; s < 600; s++) {
			if (!status[s])
				continue;
			printf("%s\"%u\":%" PRIu64, first ? "" : ",", s, status[s]);
			first = false;
		}
		printf("},\"errors\":%" PRIu64 "}\n", errors + bad);
	}
	if (errors || bad)
		exit_code = 1;
	for (unsigned t = 0; t < opt.threads; t++) {
		for (unsigned i = 0; i < ws[t].nconns; i++)
			free(ws[t].conns[i].req);
		free(ws[t].conns);
		free(ws[t].samples);
		close(ws[t].ep);
	}
	free(ws);
	free(all);
	free(tmpl);
	free(ctr_off);
	free(tid_off);
	return exit_code;

oom:
	fputs("loadgen: out of memory\n", stderr);
	return 1;
}
