/*
 * syslogd.c - the syslog listeners of `sealtrail serve` (docs/SYSLOG.md):
 * RFC 5424 / 3164 over TCP, octet-counted or newline-framed (RFC 6587),
 * optionally TLS (RFC 5425, GnuTLS: the library libmicrohttpd already
 * brings into the process), into the same ingest core as HTTP (api.c).
 *
 * One thread runs every syslog listener and connection on one epoll set.
 * Each connection reads into a bounded buffer, frames (ingest/syslog.c),
 * parses and maps (ingest/syslog_map.c) each frame to an NDJSON line of
 * its batch; a batch goes to ingest_req_build / ingest_req_submit when it
 * holds syslog_batch_events events or syslog_batch_delay after its first.
 *
 * Invariants:
 *  1. Backpressure, never drops: a connection has at most one batch in
 *     flight and one filling; once the filling one is full (or a batch is
 *     held: refused by a full queue, a failed log or a low disk and waiting
 *     to be submitted again), the connection is not read until the batch
 *     in flight is durable; the sender is slowed by TCP. A batch is only ever freed after
 *     ingest_req_settle saw it committed (each event committed, a
 *     duplicate, or refused on its own by the pipeline: counted and
 *     logged).
 *  2. A rejected frame (oversized, truncated, malformed, unmappable) is
 *     counted, logged (rate-limited) with its connection and stream byte
 *     offset, and skipped without losing the stream's framing.
 *  3. Every client-controlled size is bounded: a frame by syslog_max_frame,
 *     the read buffer by max_frame + READ_CHUNK, a batch by
 *     syslog_batch_events (and the read buffer at a drain), connections by
 *     syslog_max_connections, silence by syslog_idle_timeout.
 *  4. Drain: syslogd_drain stops accepting, reads what each socket
 *     already holds (what the sender saw delivered; at most
 *     DRAIN_READ_MAX a connection, until EAGAIN), turns every byte read
 *     into batches, commits them and waits for every one to be durable
 *     (bounded), then closes the connections.
 *  5. s->log and s->ingest are used only under log_lock (read), like an
 *     HTTP handler.
 *  6. With syslog_tls_client_ca, no byte of a TLS connection is read as a
 *     message unless its handshake completed with a client certificate
 *     that verified against that CA (verify_client runs inside the
 *     handshake and fails it otherwise); its subject DN is then fixed for
 *     the connection and written into each of its events.
 */
#include "server/syslogd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "common/util.h"
#include "ingest/syslog.h"
#include "ingest/syslog_map.h"
#include "policy/token.h"

#define READ_CHUNK (64u << 10)
#define MAX_EVENTS 64
#define RETRY_QUEUE_MS 20          /* a full ingest queue: try again soon */
#define RETRY_FAILED_MS 1000       /* a failed log or a low disk: try again each second */
#define LOG_BURST 10               /* rejected-frame log lines per second */
#define DRAIN_READ_MAX (1u << 20)  /* at a drain, read at most this much more per connection */

enum { K_LISTENER, K_CONN, K_WAKE };

struct sl {
	int kind;                    /* K_LISTENER */
	int fd;
	unsigned idx;                /* in cfg.syslog */
	bool tls;
	struct token *tok;           /* the listener's principal (producer, tenant) */
	const struct ev_context *context;
};

struct sconn {
	int kind;                    /* K_CONN */
	int fd;
	struct syslogd *d;
	struct sl *li;
	uint64_t id;
	char peer[INET6_ADDRSTRLEN];
	gnutls_session_t tls;        /* NULL: plain */
	bool handshaken;
	/* mutual TLS (invariant 6): set by verify_client during the handshake */
	bool cert_verified;          /* the client certificate verified */
	bool cert_rejected;          /* the client certificate failed verification */
	char cert_why[160];          /* why, for the log (no key material) */
	char cert_dn[SYSLOG_CLIENT_CERT_MAX + 1]; /* verified subject DN; "" = none */
	bool watching;               /* in the epoll set */
	uint32_t events;             /* what it waits for there */
	uint8_t *rbuf;               /* unconsumed stream bytes */
	size_t rlen, rcap;
	struct syslog_framer fr;
	struct buf nd;               /* the batch being filled: NDJSON */
	uint64_t *offs;              /* stream offset of each of its events */
	size_t nbatch, offcap;
	int64_t batch_t0;
	/* the batch in flight or waiting to be submitted again */
	struct ingest_req *q;
	uint64_t *q_offs;
	size_t q_n;
	bool inflight;
	int64_t retry_at;            /* q waits (not in flight) until this */
	bool eof;                    /* the peer closed, or a read failed */
	bool tls_pending;            /* GnuTLS holds decrypted bytes epoll cannot see */
	size_t drain_budget;         /* at a drain: bytes still to read from the socket */
	int64_t last_active;
	struct sconn *prev, *next;   /* all connections */
	struct sconn *done_next;     /* completed, for the loop */
};

struct syslogd {
	struct server *s;
	struct sl ls[CONFIG_MAX_SYSLOG];
	size_t nls;
	int ep;
	int wake;                    /* eventfd: completions and the drain */
	int wake_kind;               /* K_WAKE, what wake's epoll data points to */
	pthread_t thr;
	bool started;
	gnutls_certificate_credentials_t cred;
	bool client_certs;           /* syslog_tls_client_ca: required on every tls listener */
	struct syslog_map_rules rules;
	size_t max_frame, max_conns, batch_events;
	int64_t idle_ns, batch_ns;
	size_t max_line;
	struct sconn *conns;
	size_t nconns;
	uint64_t next_id;
	pthread_mutex_t mu;          /* the done list */
	struct sconn *done;
	atomic_bool draining;        /* set by syslogd_drain, read by the loop */
	/* the rejected-frame log's rate limit */
	int64_t log_window;
	unsigned log_count;
	uint64_t log_suppressed;
	struct buf scratch;
	struct syslogd_stats st;
};

/* ---- small helpers --------------------------------------------------------------- */

static void wake(struct syslogd *d)
{
	uint64_t one = 1;
	ssize_t w = write(d->wake, &one, sizeof(one));
	(void)w;
}

static void watch(struct syslogd *d, struct sconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (c->watching && c->events == ev)
		return;
	if (ev == 0) {
		if (c->watching)
			epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->watching = false;
	} else {
		epoll_ctl(d->ep, c->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e);
		c->watching = true;
	}
	c->events = ev;
}

/* A rejected frame: counted, and logged at most LOG_BURST times a second. */
static void reject_log(struct syslogd *d, struct sconn *c, uint64_t offset, const char *what,
		       const char *msg)
{
	int64_t now = now_monotonic_ns();
	if (now - d->log_window >= 1000000000LL) {
		if (d->log_suppressed)
			server_logf(d->s, "syslog: %llu more rejected frames or events were not logged",
				    (unsigned long long)d->log_suppressed);
		d->log_window = now;
		d->log_count = 0;
		d->log_suppressed = 0;
	}
	if (d->log_count >= LOG_BURST) {
		d->log_suppressed++;
		return;
	}
	d->log_count++;
	server_logf(d->s, "syslog: %s: connection %llu from %s to %s, stream byte %llu: %s", what,
		    (unsigned long long)c->id, c->peer, d->s->cfg.syslog[c->li->idx].addr,
		    (unsigned long long)offset, msg);
}

/* ---- batches ------------------------------------------------------------------------- */

/* On an ingest thread: hand c back to the loop. */
static void conn_done(struct ingest_req *q, void *arg)
{
	struct sconn *c = arg;
	struct syslogd *sd = c->d;
	(void)q;
	pthread_mutex_lock(&sd->mu);
	c->done_next = sd->done;
	sd->done = c;
	pthread_mutex_unlock(&sd->mu);
	wake(sd);
}

static int push_offset(struct sconn *c, uint64_t off)
{
	if (c->nbatch == c->offcap) {
		size_t ncap = c->offcap ? c->offcap * 2 : 256;
		uint64_t *n = realloc(c->offs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->offs = n;
		c->offcap = ncap;
	}
	c->offs[c->nbatch++] = off;
	return 0;
}

/* Submits c->q (built earlier). Under log_lock. */
static void submit(struct syslogd *d, struct sconn *c)
{
	struct server *s = d->s;
	int r = s->ingest ? ingest_req_submit(c->q, false, conn_done, c) : ST_ESTICKY;
	if (r == 0) {
		c->inflight = true;
		c->retry_at = 0;
		return;
	}
	if (r == 1) {
		/* nothing to commit (every event refused, sampled or
		 * quarantined): completed at once */
		c->inflight = true;
		conn_done(c->q, c);
		return;
	}
	stat_add(&d->st.batch_retries, 1);
	c->retry_at = now_monotonic_ns() +
		      (r == ST_ELIMIT ? RETRY_QUEUE_MS : RETRY_FAILED_MS) * 1000000LL;
}

/* The filled batch becomes c->q and is submitted. */
static void flush(struct syslogd *d, struct sconn *c)
{
	struct server *s = d->s;
	char err[256];

	if (c->nbatch == 0 || c->q)
		return;
	c->retry_at = 0;
	pthread_rwlock_rdlock(&s->log_lock);
	if (!s->log || !s->ingest || ingest_disk_level(s->ingest) >= DISK_ADMIN_SPACE_LEFT) {
		/* hold it: the sender waits (TCP), nothing is refused */
		pthread_rwlock_unlock(&s->log_lock);
		stat_add(&d->st.batch_retries, 1);
		c->retry_at = now_monotonic_ns() + RETRY_FAILED_MS * 1000000LL;
		return;
	}
	struct ingest_origin o = { .tok = c->li->tok, .listener = c->li->context, .peer = c->peer,
				   .server_composed = true };
	struct ingest_req *q = NULL;
	int r = ingest_req_build(s, &o, c->nd.data, c->nd.len, BODY_NDJSON, c->nbatch, &c->nd, &q, err,
				 sizeof(err));
	if (r < 0) {
		pthread_rwlock_unlock(&s->log_lock);
		c->retry_at = now_monotonic_ns() + RETRY_FAILED_MS * 1000000LL;
		return;
	}
	buf_init(&c->nd, c->nd.max ? c->nd.max : (size_t)1 << 30);
	c->q = q;
	c->q_offs = c->offs;
	c->q_n = c->nbatch;
	c->offs = NULL;
	c->offcap = 0;
	c->nbatch = 0;
	stat_add(&d->st.batches, 1);
	submit(d, c);
	pthread_rwlock_unlock(&s->log_lock);
}

/* c's batch is durable (or the log refused it whole): account, log what
 * the pipeline refused, free it. */
static void complete(struct syslogd *d, struct sconn *c)
{
	struct server *s = d->s;
	c->inflight = false;
	pthread_rwlock_rdlock(&s->log_lock);
	int jr = ingest_req_settle(c->q, false);
	if (jr < 0) {
		/* not written: submitted again (invariant 1) */
		stat_add(&d->st.batch_retries, 1);
		c->retry_at = now_monotonic_ns() + RETRY_FAILED_MS * 1000000LL;
		pthread_rwlock_unlock(&s->log_lock);
		return;
	}
	size_t n = ingest_req_items(c->q);
	for (size_t i = 0; i < n; i++) {
		struct ingest_result res;
		ingest_req_result(c->q, i, &res);
		stat_add(&d->st.events[res.kind], 1);
		if (res.kind == INGEST_REFUSED) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s: %.*s%s%.*s", reject_reason_name(res.reason),
				 (int)(res.msg_len < 400 ? res.msg_len : 400), res.msg,
				 res.path_len ? " at " : "", (int)(res.path_len < 100 ? res.path_len : 100),
				 res.path);
			reject_log(d, c, i < c->q_n ? c->q_offs[i] : 0, "event refused", msg);
		}
	}
	ingest_req_free(c->q);
	pthread_rwlock_unlock(&s->log_lock);
	c->q = NULL;
	free(c->q_offs);
	c->q_offs = NULL;
	c->q_n = 0;
}

/* ---- frames ---------------------------------------------------------------------------- */

static void frame_rejected(struct syslogd *d, struct sconn *c, const struct syslog_frame *f)
{
	char msg[160];
	enum syslogd_reject why = f->error == SYSLOG_FRAME_TRUNCATED ? SR_TRUNCATED : SR_OVERSIZED;
	stat_add(&d->st.frames_rejected[why], 1);
	snprintf(msg, sizeof(msg), "%s frame of %llu bytes %s", f->framing == SYSLOG_FRAMING_OCTET ?
		 "an octet-counted" : "a newline", (unsigned long long)f->skipped,
		 why == SR_TRUNCATED ? "cut by the end of the stream" : "exceeds syslog_max_frame; skipped");
	reject_log(d, c, f->offset, why == SR_TRUNCATED ? "truncated frame" : "oversized frame", msg);
}

static void frame(struct syslogd *d, struct sconn *c, const struct syslog_frame *f)
{
	struct syslog_msg m;
	struct syslog_error pe;
	struct syslog_map_error me;
	char msg[200];
	int64_t now = now_realtime_ns();

	if (f->error) {
		frame_rejected(d, c, f);
		return;
	}
	stat_add(&d->st.frames[f->framing], 1);
	if (c->nbatch == 0)
		c->batch_t0 = now_monotonic_ns();
	/* a sender's template often ends an octet-counted message with LF
	 * (rsyslog's RFC 5424 templates do): not part of the message */
	size_t len = f->len;
	if (f->framing == SYSLOG_FRAMING_OCTET && len && f->p[len - 1] == '\n')
		len -= 1 + (len > 1 && f->p[len - 2] == '\r');
	if (syslog_parse(f->p, len, now, &m, &pe) < 0) {
		stat_add(&d->st.frames_rejected[SR_MALFORMED], 1);
		snprintf(msg, sizeof(msg), "byte %zu of the message: %s", pe.offset, pe.msg);
		reject_log(d, c, f->offset, "malformed message", msg);
		return;
	}
	size_t old = c->nd.len;
	int r = syslog_map(&m, f->p, &d->rules, c->cert_dn[0] ? c->cert_dn : NULL, now, d->max_line,
			   &c->nd, &d->scratch, &me);
	if (r == 0 && push_offset(c, f->offset) < 0) {
		c->nd.len = old;
		r = -ENOMEM;
	}
	if (r < 0) {
		stat_add(&d->st.frames_rejected[r == ST_EINVAL ? SR_MALFORMED : SR_UNMAPPABLE], 1);
		snprintf(msg, sizeof(msg), "byte %zu of the message: %s", me.offset,
			 r == -ENOMEM ? "out of memory" : me.msg);
		reject_log(d, c, f->offset, "message not mapped", msg);
	}
}

/* Frames what c has buffered, into its batch, until the batch is full
 * (unless all: the drain). */
static void frame_buffered(struct syslogd *d, struct sconn *c, bool all)
{
	size_t at = 0;
	struct syslog_frame f;
	while (all || c->nbatch < d->batch_events) {
		size_t used = 0;
		int r = syslog_frame_next(&c->fr, c->rbuf + at, c->rlen - at, &used, &f);
		if (r == 1)
			frame(d, c, &f);
		at += used;
		if (r == 0)
			break;
	}
	if (at) {
		memmove(c->rbuf, c->rbuf + at, c->rlen - at);
		c->rlen -= at;
	}
	if (c->eof && c->rlen && (all || c->nbatch < d->batch_events)) {
		if (syslog_frame_last(&c->fr, c->rbuf, c->rlen, &f) == 1)
			frame(d, c, &f);
		c->rlen = 0;
	}
}

/* ---- connections --------------------------------------------------------------------- */

static void conn_free(struct syslogd *d, struct sconn *c)
{
	if (c->watching)
		epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls) {
		/* close_notify only closes a session that was one: after a
		 * failed handshake it would tell the sender its bytes were
		 * taken (handshake sent the alert instead) */
		if (c->handshaken)
			gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(c->tls);
	}
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->nconns--;
	stat_set(&d->st.connections, (int64_t)d->nconns);
	free(c->rbuf);
	buf_release(&c->nd);
	free(c->offs);
	free(c);
}

/* Reads what the socket has (a few reads at most, for fairness). */
static void conn_read(struct syslogd *d, struct sconn *c)
{
	for (int k = 0; k < 4 && !c->eof && c->rcap - c->rlen > 0; k++) {
		ssize_t n;
		if (c->tls) {
			n = gnutls_record_recv(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return;
			if (n < 0) {
				if (gnutls_error_is_fatal((int)n))
					c->eof = true;
				return;
			}
		} else {
			n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
		}
		if (n <= 0) {
			c->eof = true;
			return;
		}
		c->rlen += (size_t)n;
		c->drain_budget = c->drain_budget > (size_t)n ? c->drain_budget - (size_t)n : 0;
		c->last_active = now_monotonic_ns();
		stat_add(&d->st.bytes, (uint64_t)n);
		if (c->rlen == c->rcap ||
		    ((size_t)n < READ_CHUNK / 4 && !(c->tls && gnutls_record_check_pending(c->tls))))
			return;
	}
}

/*
 * The length of a prefix of the RFC 4514 string s[0..n) at most cap bytes
 * long that ends neither inside a UTF-8 character nor inside an escape
 * ("\," or "\2C"): a cut DN still reads as one.
 */
static size_t dn_cut(const unsigned char *s, size_t n, size_t cap)
{
	if (n <= cap)
		return n;
	while (cap > 0 && (s[cap] & 0xC0) == 0x80)
		cap--;
	size_t i = 0;
	while (i < cap) {
		size_t w = 1;
		if (s[i] == '\\')
			w = i + 1 < n && isxdigit(s[i + 1]) ? 3 : 2;
		if (i + w > cap)
			break;
		i += w;
	}
	return i;
}

/*
 * The credentials' verification callback (GnuTLS runs it inside the
 * handshake once the client's Certificate message is in): 0 accepts, any
 * other value fails the handshake with GNUTLS_E_CERTIFICATE_ERROR. The
 * chain must verify to syslog_tls_client_ca (signatures, validity dates,
 * CA constraints) and, when the leaf states its key purposes, include TLS
 * client authentication. No hostname is checked: a sender's name is not
 * known in advance. On success the subject DN is kept for the events.
 */
static int verify_client(gnutls_session_t session)
{
	struct sconn *c = gnutls_session_get_ptr(session);
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	unsigned status = 0, n = 0;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t dn = { NULL, 0 };
	int r;

	if (!c)
		return -1;
	const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
	if (!chain || n == 0) {
		snprintf(c->cert_why, sizeof(c->cert_why), "no client certificate");
		goto rejected;
	}
	if ((r = gnutls_certificate_verify_peers(session, &purpose, 1, &status)) < 0) {
		snprintf(c->cert_why, sizeof(c->cert_why), "client certificate not verified: %s",
			 gnutls_strerror(r));
		goto rejected;
	}
	if (status) {
		gnutls_datum_t out = { NULL, 0 };
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
			int k = snprintf(c->cert_why, sizeof(c->cert_why), "client certificate rejected: %s",
					 (const char *)out.data);
			for (size_t e = k > 0 && (size_t)k < sizeof(c->cert_why) ? (size_t)k : 0;
			     e > 0 && c->cert_why[e - 1] == ' '; e--)
				c->cert_why[e - 1] = 0;
			gnutls_free(out.data);
		} else {
			snprintf(c->cert_why, sizeof(c->cert_why),
				 "client certificate rejected: status 0x%x", status);
		}
		goto rejected;
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0) {
		snprintf(c->cert_why, sizeof(c->cert_why), "client certificate: cannot read its subject");
		goto rejected;
	}
	size_t k = dn_cut(dn.data, dn.size, SYSLOG_CLIENT_CERT_MAX);
	memcpy(c->cert_dn, dn.data, k);
	c->cert_dn[k] = 0;
	c->cert_verified = true;
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
	return 0;
rejected:
	if (dn.data)
		gnutls_free(dn.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	c->cert_rejected = true;
	c->cert_dn[0] = 0;
	return -1;
}

static void handshake(struct syslogd *d, struct sconn *c)
{
	int r = gnutls_handshake(c->tls);
	if (r == 0 && d->client_certs && !c->cert_verified) {
		/* required, so GnuTLS should not get here without one; fail
		 * closed should it ever (invariant 6) */
		c->cert_rejected = true;
		snprintf(c->cert_why, sizeof(c->cert_why), "no verified client certificate");
		r = GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (r == 0) {
		c->handshaken = true;
		return;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		watch(d, c, gnutls_record_get_direction(c->tls) ? EPOLLOUT : EPOLLIN);
		return;
	}
	if (gnutls_error_is_fatal(r) || r == GNUTLS_E_CERTIFICATE_ERROR) {
		stat_add(&d->st.tls_failures, 1);
		/* a client that sent no certificate ends the handshake
		 * before verify_client runs: GnuTLS says so by these codes */
		if (d->client_certs && !c->cert_rejected &&
		    (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED)) {
			c->cert_rejected = true;
			snprintf(c->cert_why, sizeof(c->cert_why), "no client certificate");
		}
		/* tell the sender (bad_certificate, certificate_required, ...):
		 * best effort, the socket is not waited for */
		gnutls_alert_send_appropriate(c->tls, r);
		if (c->cert_rejected) {
			stat_add(&d->st.tls_client_cert_rejected, 1);
			server_logf(d->s, "syslog: TLS handshake with %s to %s failed: %s", c->peer,
				    d->s->cfg.syslog[c->li->idx].addr, c->cert_why);
		} else {
			server_logf(d->s, "syslog: TLS handshake with %s failed: %s", c->peer,
				    gnutls_strerror(r));
		}
		c->eof = true;
		c->rlen = 0;
	}
}

/*
 * One step of a connection's life: read when it may, frame, submit a full
 * or due batch, and decide what to wait for. Returns false when it was
 * freed.
 */
static bool conn_step(struct syslogd *d, struct sconn *c, bool readable)
{
	int64_t now = now_monotonic_ns();
	bool draining = atomic_load(&d->draining);

	if (c->tls && !c->handshaken && !c->eof && !draining) {
		handshake(d, c);
		if (!c->handshaken && !c->eof)
			return true;
		readable = true;
	}
	if (c->q && !c->inflight && c->retry_at && now >= c->retry_at) {
		pthread_rwlock_rdlock(&d->s->log_lock);
		submit(d, c);
		pthread_rwlock_unlock(&d->s->log_lock);
	}
	/* One batch in flight and the next one filling (double buffering):
	 * the connection is read until the next batch is full too. */
	for (int round = 0; round < 8; round++) {
		frame_buffered(d, c, draining);
		bool full = c->nbatch >= d->batch_events;
		bool due = c->nbatch && (now - c->batch_t0 >= d->batch_ns || c->eof || draining);
		if ((full || due) && !c->q && !(c->retry_at && now < c->retry_at)) {
			flush(d, c);
			if (c->q && c->nbatch == 0)
				continue;   /* the next batch starts empty */
		}
		if (c->nbatch >= d->batch_events)
			break;
		/* at a drain, only what the kernel already holds (bounded):
		 * the sender saw it delivered */
		if (!readable || c->eof || (draining && !c->drain_budget) || c->rlen == c->rcap)
			break;
		size_t before = c->rlen;
		conn_read(d, c);
		if (c->rlen == before && !c->eof) {
			c->drain_budget = 0;   /* EAGAIN: the socket is empty */
			break;
		}
	}
	/* what to wait for */
	bool paused = c->nbatch >= d->batch_events || (c->nbatch && c->retry_at && !c->q) ||
		      (c->q && !c->inflight);
	if (c->eof && !c->q && !c->nbatch && c->rlen == 0) {
		conn_free(d, c);
		return false;
	}
	if (!draining && !c->eof && !paused && c->rlen < c->rcap)
		watch(d, c, EPOLLIN);
	else
		watch(d, c, 0);
	/* records GnuTLS already took off the socket wake no epoll: the loop
	 * steps the connection again at once */
	c->tls_pending = c->tls && c->handshaken && !c->eof && !draining && !paused &&
			 c->rlen < c->rcap && gnutls_record_check_pending(c->tls) > 0;
	return true;
}

static void accept_on(struct syslogd *d, struct sl *li)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(li->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (d->nconns >= d->max_conns) {
			stat_add(&d->st.refused, 1);
			close(fd);
			continue;
		}
		struct sconn *c = calloc(1, sizeof(*c));
		if (c)
			c->rbuf = malloc(d->max_frame + 16 + READ_CHUNK);
		if (!c || !c->rbuf) {
			if (c)
				free(c);
			stat_add(&d->st.refused, 1);
			close(fd);
			continue;
		}
		c->kind = K_CONN;
		c->d = d;
		c->fd = fd;
		c->li = li;
		c->id = ++d->next_id;
		c->rcap = d->max_frame + 16 + READ_CHUNK;
		c->last_active = now_monotonic_ns();
		syslog_framer_init(&c->fr, d->max_frame);
		buf_init(&c->nd, (size_t)1 << 30);
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer, sizeof(c->peer));
		} else if (ss.ss_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
			if (IN6_IS_ADDR_V4MAPPED(a))
				inet_ntop(AF_INET, &a->s6_addr[12], c->peer, sizeof(c->peer));
			else
				inet_ntop(AF_INET6, a, c->peer, sizeof(c->peer));
		} else {
			snprintf(c->peer, sizeof(c->peer), "unknown");
		}
		if (li->tls) {
			if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0 ||
			    gnutls_set_default_priority(c->tls) < 0 ||
			    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, d->cred) < 0) {
				if (c->tls)
					gnutls_deinit(c->tls);
				free(c->rbuf);
				buf_release(&c->nd);
				free(c);
				close(fd);
				stat_add(&d->st.refused, 1);
				continue;
			}
			gnutls_certificate_server_set_request(c->tls, d->client_certs ? GNUTLS_CERT_REQUIRE :
									    GNUTLS_CERT_IGNORE);
			gnutls_session_set_ptr(c->tls, c);
			gnutls_transport_set_int(c->tls, fd);
		}
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->nconns++;
		stat_add(&d->st.accepted, 1);
		stat_set(&d->st.connections, (int64_t)d->nconns);
		watch(d, c, EPOLLIN);
	}
}

/* ---- the thread ---------------------------------------------------------------------- */

static void take_done(struct syslogd *d)
{
	pthread_mutex_lock(&d->mu);
	struct sconn *list = d->done;
	d->done = NULL;
	pthread_mutex_unlock(&d->mu);
	while (list) {
		struct sconn *c = list;
		list = c->done_next;
		complete(d, c);
		conn_step(d, c, true);
	}
}

static void *loop(void *arg)
{
	struct syslogd *d = arg;
	struct epoll_event evs[MAX_EVENTS];
	int64_t drain_started = 0;

	for (;;) {
		int64_t now = now_monotonic_ns();
		/* the next deadline: a due batch, a retry, the idle sweep */
		int64_t next = now + 1000000000LL;
		for (struct sconn *c = d->conns; c; c = c->next) {
			if (c->nbatch && !c->q && !c->retry_at && c->batch_t0 + d->batch_ns < next)
				next = c->batch_t0 + d->batch_ns;
			if (c->retry_at && c->retry_at < next)
				next = c->retry_at;
			if (c->tls_pending)
				next = now;
		}
		if (atomic_load(&d->draining) && next > now + 10000000LL)
			next = now + 10000000LL;   /* a drain steps every connection often */
		int timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		int n = epoll_wait(d->ep, evs, MAX_EVENTS, timeout);
		for (int i = 0; i < n; i++) {
			int kind = *(int *)evs[i].data.ptr;
			if (kind == K_WAKE) {
				uint64_t v;
				ssize_t rr = read(d->wake, &v, sizeof(v));
				(void)rr;
			} else if (kind == K_LISTENER) {
				if (!atomic_load(&d->draining))
					accept_on(d, evs[i].data.ptr);
			} else {
				conn_step(d, evs[i].data.ptr, true);
			}
		}
		take_done(d);
		bool draining = atomic_load(&d->draining);
		now = now_monotonic_ns();
		if (draining && !drain_started) {
			drain_started = now;
			for (struct sconn *c = d->conns; c; c = c->next)
				if (!c->eof && (!c->tls || c->handshaken))
					c->drain_budget = DRAIN_READ_MAX;
			for (size_t k = 0; k < d->nls; k++) {
				epoll_ctl(d->ep, EPOLL_CTL_DEL, d->ls[k].fd, NULL);
				close(d->ls[k].fd);
				d->ls[k].fd = -1;
			}
		}
		/* timers: due batches, retries, idle connections; at a drain
		 * every connection is stepped until nothing is pending */
		bool pending = false;
		for (struct sconn *c = d->conns, *nx; c; c = nx) {
			nx = c->next;
			bool due = (c->nbatch && !c->q && c->batch_t0 + d->batch_ns <= now) ||
				   (c->retry_at && c->retry_at <= now);
			if (!draining && !c->q && !c->nbatch && c->last_active + d->idle_ns <= now) {
				stat_add(&d->st.idle_closed, 1);
				conn_free(d, c);
				continue;
			}
			if (due || draining || c->tls_pending) {
				if (!conn_step(d, c, c->tls_pending || c->drain_budget))
					continue;
			}
			if (c->q || c->nbatch)
				pending = true;
		}
		if (draining && (!pending || now - drain_started > 20000000000LL)) {
			if (pending)
				server_logf(d->s, "syslog: drain: gave up waiting for batches after 20 s");
			break;
		}
	}
	/* close everything; a batch still in flight is completed by the
	 * ingest stop, which the caller runs after this thread has ended:
	 * wait for it here so no completion touches freed memory */
	for (;;) {
		bool any = false;
		for (struct sconn *c = d->conns; c; c = c->next)
			any |= c->inflight;
		if (!any)
			break;
		struct epoll_event e;
		epoll_wait(d->ep, &e, 1, 100);
		take_done(d);
	}
	while (d->conns) {
		struct sconn *c = d->conns;
		if (c->q) {
			ingest_req_free(c->q);
			c->q = NULL;
			free(c->q_offs);
		}
		conn_free(d, c);
	}
	return NULL;
}

/* ---- start, drain, metrics ---------------------------------------------------------------- */

static int bind_addr(const char *addr, char *err, size_t errcap)
{
	char host[CONFIG_ADDR_MAX], port[8];
	unsigned p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	if (config_parse_addr(addr, host, sizeof(host), &p) < 0) {
		snprintf(err, errcap, "syslog_listen %s: expected host:port", addr);
		return ST_EINVAL;
	}
	snprintf(port, sizeof(port), "%u", p);
	int gr = getaddrinfo(host, port, &hints, &ai);
	if (gr) {
		snprintf(err, errcap, "syslog_listen %s: %s", addr, gai_strerror(gr));
		return ST_EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		snprintf(err, errcap, "syslog_listen %s: %s", addr,
			 e == EADDRINUSE ? "address in use" : strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	return fd;
}

int syslogd_start(struct syslogd **ret, struct server *s, char *err, size_t errcap)
{
	const struct server_config *cfg = &s->cfg;
	struct syslogd *d;
	int r;

	*ret = NULL;
	bool any_tls = false;
	for (size_t i = 0; i < cfg->nsyslog; i++)
		any_tls |= cfg->syslog[i].tls;
	if (cfg->syslog_tls_client_ca[0] && !any_tls) {
		/* a client CA that checks nothing would look like protection */
		snprintf(err, errcap, "syslog_tls_client_ca %s: no syslog_listen has tls",
			 cfg->syslog_tls_client_ca);
		return ST_EINVAL;
	}
	if (cfg->nsyslog == 0)
		return 0;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	d->s = s;
	d->ep = d->wake = -1;
	d->wake_kind = K_WAKE;
	pthread_mutex_init(&d->mu, NULL);
	for (size_t i = 0; i < CONFIG_MAX_SYSLOG; i++)
		d->ls[i].fd = -1;
	d->rules = cfg->syslog_rules;
	syslog_map_rules_default(&d->rules);
	d->max_frame = cfg->syslog_max_frame;
	d->max_conns = cfg->syslog_max_connections;
	d->batch_events = cfg->syslog_batch_events;
	d->idle_ns = (int64_t)cfg->syslog_idle_ms * 1000000LL;
	d->batch_ns = (int64_t)cfg->syslog_batch_ms * 1000000LL;
	/* the log's limit less the server's fields and the enrichment */
	d->max_line = log_limits(s->log)->max_entry - EVENT_SERVER_RESERVE - 1024;
	buf_init(&d->scratch, d->max_frame + 16);
	if (any_tls) {
		if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
			snprintf(err, errcap, "syslog_listen ... tls needs tls_cert and tls_key");
			r = ST_EINVAL;
			goto fail;
		}
		if ((r = gnutls_certificate_allocate_credentials(&d->cred)) < 0 ||
		    (r = gnutls_certificate_set_x509_key_file(d->cred, cfg->tls_cert, cfg->tls_key,
							       GNUTLS_X509_FMT_PEM)) < 0) {
			snprintf(err, errcap, "syslog TLS: %s, %s: %s", cfg->tls_cert, cfg->tls_key,
				 gnutls_strerror(r));
			r = ST_EINVAL;
			goto fail;
		}
		if (cfg->syslog_tls_client_ca[0]) {
			/* the number of certificates read: 0 is an empty or
			 * certificate-less file */
			r = gnutls_certificate_set_x509_trust_file(d->cred, cfg->syslog_tls_client_ca,
								   GNUTLS_X509_FMT_PEM);
			if (r <= 0) {
				snprintf(err, errcap, "syslog_tls_client_ca %s: %s", cfg->syslog_tls_client_ca,
					 r == 0 ? "expected PEM CA certificates, found none" :
					 r == GNUTLS_E_FILE_ERROR ? "cannot read the file" : gnutls_strerror(r));
				r = ST_EINVAL;
				goto fail;
			}
			gnutls_certificate_set_verify_function(d->cred, verify_client);
			d->client_certs = true;
		}
	}
	if ((d->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (d->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errcap, "syslog: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event we = { .events = EPOLLIN, .data.ptr = &d->wake_kind };
	epoll_ctl(d->ep, EPOLL_CTL_ADD, d->wake, &we);
	for (size_t i = 0; i < cfg->nsyslog; i++) {
		struct sl *li = &d->ls[i];
		const struct config_syslog *c = &cfg->syslog[i];
		li->kind = K_LISTENER;
		li->idx = (unsigned)i;
		li->tls = c->tls;
		li->context = &c->context;
		if (!(li->tok = calloc(1, sizeof(*li->tok)))) {
			r = -ENOMEM;
			goto fail;
		}
		snprintf(li->tok->name, sizeof(li->tok->name), "%s", c->producer);
		snprintf(li->tok->id, sizeof(li->tok->id), "syslog%u", (unsigned)i);
		li->tok->role = ROLE_PRODUCER;
		li->tok->ntenants = 1;
		snprintf(li->tok->tenants[0], sizeof(li->tok->tenants[0]), "%s", c->tenant);
		atomic_init(&li->tok->tk_refs, 1);
		d->nls++;
		if ((li->fd = bind_addr(c->addr, err, errcap)) < 0) {
			r = li->fd;
			goto fail;
		}
		struct epoll_event le = { .events = EPOLLIN, .data.ptr = li };
		epoll_ctl(d->ep, EPOLL_CTL_ADD, li->fd, &le);
	}
	if ((r = pthread_create(&d->thr, NULL, loop, d)) != 0) {
		r = -r;
		snprintf(err, errcap, "syslog: thread: %s", strerror(-r));
		goto fail;
	}
	d->started = true;
	*ret = d;
	return 0;
fail:
	syslogd_free(d);
	return r;
}

void syslogd_drain(struct syslogd *d)
{
	if (!d || !d->started)
		return;
	atomic_store(&d->draining, true);
	wake(d);
	pthread_join(d->thr, NULL);
	d->started = false;
}

void syslogd_free(struct syslogd *d)
{
	if (!d)
		return;
	syslogd_drain(d);
	for (size_t i = 0; i < CONFIG_MAX_SYSLOG; i++) {
		if (d->ls[i].fd >= 0)
			close(d->ls[i].fd);
		token_put(d->ls[i].tok);
	}
	if (d->cred)
		gnutls_certificate_free_credentials(d->cred);
	if (d->ep >= 0)
		close(d->ep);
	if (d->wake >= 0)
		close(d->wake);
	buf_release(&d->scratch);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

struct syslogd_stats *syslogd_stats(struct syslogd *d)
{
	return d ? &d->st : NULL;
}

const char *syslogd_reject_name(enum syslogd_reject r)
{
	static const char *const n[SR_COUNT] = { "oversized", "truncated", "malformed", "unmappable" };
	return (unsigned)r < SR_COUNT ? n[r] : "?";
}
