/*
 * capture.c - capture-rate accounting; the model is in capture.h and
 * docs/CAPTURE.md.
 *
 * Invariants (per instance):
 *   1. next <= high + 1, and bit i of the window is seq next + i.
 *   2. Bit 0 is never set once a call returns: next moves past every
 *      arrived seq at the bottom of the window.
 *   3. A seq is counted once: as received (it arrived while >= next and
 *      its bit was clear) or as missing (reported in a gap); what comes
 *      below next afterwards is late, and a set bit again a repeat.
 */
#include "server/capture.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "index/jwalk.h"

#define WORDS (CAPTURE_WINDOW / 64)
#define SLOTS 32768                 /* hash slots: > 2 x CAPTURE_PRODUCERS_MAX */
#define DUE_MAX 4096                /* gaps waiting for capture_tick */
#define MINUTE_NS 60000000000LL

struct cprod {
	char tok[TOKEN_NAME_MAX + 1];
	char pid[EVENT_PRODUCER_ID_MAX + 1];
	uint64_t next, high;
	uint64_t bits[WORDS];
	uint64_t received, missing, late, repeats;
	uint64_t mark_high;              /* holes up to here are due at mark_ns + grace */
	int64_t mark_ns;                 /* 0: no mark */
	int64_t last_event_ns, last_hb_ns;
	uint64_t last_hb_seq;
	int64_t minute;                  /* the minute the buckets end at */
	uint32_t recv[CAPTURE_MINUTES], exp[CAPTURE_MINUTES];
};

struct capture {
	pthread_mutex_t mu;
	int64_t grace_ns;
	struct cprod **v;
	size_t n;
	uint32_t slot[SLOTS];            /* index + 1 into v; 0 empty */
	struct capture_gap due[DUE_MAX];
	size_t ndue;
	uint64_t untracked, gaps_dropped;
};

int capture_new(struct capture **ret, int64_t grace_ns)
{
	struct capture *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	c->grace_ns = grace_ns;
	*ret = c;
	return 0;
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void capture_set_grace(struct capture *c, int64_t grace_ns)
{
	pthread_mutex_lock(&c->mu);
	c->grace_ns = grace_ns;
	pthread_mutex_unlock(&c->mu);
}

static uint32_t key_hash(const char *tok, const char *pid, size_t pl)
{
	uint32_t h = 2166136261u;
	for (const char *p = tok; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xFF) * 16777619u;
	for (size_t i = 0; i < pl; i++)
		h = (h ^ (uint8_t)pid[i]) * 16777619u;
	return h;
}

/* The instance, made when new (NULL past CAPTURE_PRODUCERS_MAX). mu held. */
static struct cprod *find(struct capture *c, const char *tok, const char *pid, size_t pl, bool make)
{
	uint32_t h = key_hash(tok, pid, pl) & (SLOTS - 1);
	for (;; h = (h + 1) & (SLOTS - 1)) {
		uint32_t s = c->slot[h];
		if (s == 0)
			break;
		struct cprod *p = c->v[s - 1];
		if (!strcmp(p->tok, tok) && strlen(p->pid) == pl && !memcmp(p->pid, pid, pl))
			return p;
	}
	if (!make)
		return NULL;
	if (c->n >= CAPTURE_PRODUCERS_MAX) {
		c->untracked++;
		return NULL;
	}
	struct cprod **nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	struct cprod *p = calloc(1, sizeof(*p));
	if (!nv || !p) {
		if (nv)
			c->v = nv;
		free(p);
		c->untracked++;
		return NULL;
	}
	c->v = nv;
	snprintf(p->tok, sizeof(p->tok), "%s", tok);
	snprintf(p->pid, sizeof(p->pid), "%.*s", (int)pl, pid);
	p->next = 1;
	c->v[c->n++] = p;
	c->slot[h] = (uint32_t)c->n;
	return p;
}

static bool bit_get(const struct cprod *p, uint64_t i)
{
	return (p->bits[i / 64] >> (i % 64)) & 1;
}

/* Moves next up by k, the window with it. */
static void shift(struct cprod *p, uint64_t k)
{
	if (k >= CAPTURE_WINDOW) {
		memset(p->bits, 0, sizeof(p->bits));
	} else if (k) {
		size_t w = (size_t)(k / 64), b = (size_t)(k % 64);
		for (size_t i = 0; i < WORDS; i++) {
			uint64_t lo = i + w < WORDS ? p->bits[i + w] : 0;
			uint64_t hi = i + w + 1 < WORDS ? p->bits[i + w + 1] : 0;
			p->bits[i] = b ? (lo >> b) | (hi << (64 - b)) : lo;
		}
	}
	p->next += k;
}

/* Invariant 2: past every arrived seq at the bottom. */
static void settle(struct cprod *p)
{
	uint64_t k = 0;
	while (k < CAPTURE_WINDOW && bit_get(p, k))
		k++;
	shift(p, k);
}

static void roll(struct cprod *p, int64_t now_ns)
{
	int64_t m = now_ns / MINUTE_NS;
	if (p->minute == 0 || m - p->minute >= CAPTURE_MINUTES) {
		memset(p->recv, 0, sizeof(p->recv));
		memset(p->exp, 0, sizeof(p->exp));
	} else {
		for (int64_t i = p->minute + 1; i <= m; i++) {
			p->recv[i % CAPTURE_MINUTES] = 0;
			p->exp[i % CAPTURE_MINUTES] = 0;
		}
	}
	if (m > p->minute)
		p->minute = m;
}

static void raise_high(struct cprod *p, uint64_t to, int64_t now_ns)
{
	if (to <= p->high)
		return;
	roll(p, now_ns);
	uint64_t d = to - p->high;
	uint32_t *e = &p->exp[p->minute % CAPTURE_MINUTES];
	*e = d > UINT32_MAX - *e ? UINT32_MAX : *e + (uint32_t)d;
	p->high = to;
}

/* Reports the holes in [next, upto] as gaps, counted missing; next moves
 * past upto. mu held. */
static void report(struct capture *c, struct cprod *p, uint64_t upto)
{
	while (p->next <= upto) {
		if (bit_get(p, 0)) {
			settle(p);
			continue;
		}
		uint64_t from = p->next, k = 0;
		while (p->next + k <= upto && k < CAPTURE_WINDOW && !bit_get(p, k))
			k++;
		if (k == CAPTURE_WINDOW && p->next + k <= upto)
			k = upto - p->next + 1;   /* beyond the window nothing arrived */
		p->missing += k;
		if (c->ndue < DUE_MAX) {
			struct capture_gap *g = &c->due[c->ndue++];
			memcpy(g->producer, p->tok, sizeof(g->producer));
			memcpy(g->producer_id, p->pid, sizeof(g->producer_id));
			g->from = from;
			g->to = from + k - 1;
		} else {
			c->gaps_dropped++;
		}
		shift(p, k);
	}
	settle(p);
}

/* One seq arrived; replay: counted only if it was not already. */
static void seen(struct capture *c, struct cprod *p, uint64_t seq, int64_t now_ns, bool replay)
{
	if (seq < p->next) {
		if (!replay)
			p->late++;
		return;
	}
	if (seq - p->next >= CAPTURE_WINDOW)
		/* out of the window: the holes it pushes out are due now */
		report(c, p, seq - CAPTURE_WINDOW);
	if (seq < p->next) {   /* report moved next past it */
		if (!replay)
			p->late++;
		return;
	}
	uint64_t i = seq - p->next;
	if (bit_get(p, i)) {
		if (!replay)
			p->repeats++;
		return;
	}
	p->bits[i / 64] |= 1ull << (i % 64);
	p->received++;
	roll(p, now_ns);
	p->recv[p->minute % CAPTURE_MINUTES]++;
	raise_high(p, seq, now_ns);
	settle(p);
}

static void event_locked(struct capture *c, const char *tok, const struct event_info *info,
			 int64_t now_ns, bool replay)
{
	if (!info->producer_seq)
		return;
	struct cprod *p = find(c, tok, info->producer_id ? info->producer_id : "",
			       info->producer_id ? info->producer_id_len : 0, true);
	if (!p)
		return;
	bool hb = info->action && info->action_len == strlen(CAPTURE_HEARTBEAT) &&
		  !memcmp(info->action, CAPTURE_HEARTBEAT, info->action_len);
	if (hb) {
		raise_high(p, info->producer_seq, now_ns);
		if (now_ns >= p->last_hb_ns) {
			p->last_hb_ns = now_ns;
			p->last_hb_seq = info->producer_seq;
		}
		return;
	}
	if (now_ns > p->last_event_ns)
		p->last_event_ns = now_ns;
	seen(c, p, info->producer_seq, now_ns, replay);
}

void capture_event(struct capture *c, const char *tok, const struct event_info *info, int64_t now_ns)
{
	if (!info->producer_seq)
		return;
	pthread_mutex_lock(&c->mu);
	event_locked(c, tok, info, now_ns, false);
	pthread_mutex_unlock(&c->mu);
}

size_t capture_tick(struct capture *c, int64_t now_ns, struct capture_gap *out, size_t cap)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		struct cprod *p = c->v[i];
		if (p->mark_ns && now_ns - p->mark_ns >= c->grace_ns) {
			report(c, p, p->mark_high);
			p->mark_ns = 0;
		}
		if (!p->mark_ns && p->high >= p->next) {
			p->mark_high = p->high;
			p->mark_ns = now_ns;
		}
	}
	size_t k = c->ndue < cap ? c->ndue : cap;
	memcpy(out, c->due, k * sizeof(*out));
	memmove(c->due, c->due + k, (c->ndue - k) * sizeof(*c->due));
	c->ndue -= k;
	pthread_mutex_unlock(&c->mu);
	return k;
}

/* received / expected over the last `minutes`; -1 when nothing was expected. */
static double ratio(struct cprod *p, int64_t now_ns, int minutes)
{
	roll(p, now_ns);
	uint64_t r = 0, e = 0;
	for (int i = 0; i < minutes; i++) {
		size_t k = (size_t)((p->minute - i) % CAPTURE_MINUTES);
		r += p->recv[k];
		e += p->exp[k];
	}
	if (e == 0)
		return -1;
	return r >= e ? 1.0 : (double)r / (double)e;
}

static uint64_t open_holes(const struct cprod *p)
{
	uint64_t n = 0, span = p->high >= p->next ? p->high - p->next + 1 : 0;
	for (uint64_t i = 0; i < span && i < CAPTURE_WINDOW; i++)
		n += !bit_get(p, i);
	return n;
}

static int put_ratio(struct buf *b, const char *name, double r)
{
	return r < 0 ? buf_printf(b, "\"%s\":null", name) : buf_printf(b, "\"%s\":%.6f", name, r);
}

static int put_time(struct buf *b, const char *name, int64_t ns)
{
	char t[RFC3339_US_LEN + 1];
	if (!ns)
		return buf_printf(b, ",\"%s\":null", name);
	rfc3339_format_us(ns, t);
	return buf_printf(b, ",\"%s\":\"%s\"", name, t);
}

int capture_json(struct capture *c, int64_t now_ns, struct buf *out)
{
	int r;
	pthread_mutex_lock(&c->mu);
	r = buf_printf(out, "{\"grace_seconds\":%.3f,\"untracked\":%" PRIu64 ",\"producers\":[",
		       (double)c->grace_ns / 1e9, c->untracked);
	for (size_t i = 0; r == 0 && i < c->n; i++) {
		struct cprod *p = c->v[i];
		if ((r = buf_puts(out, i ? ",{\"producer\":" : "{\"producer\":")) < 0 ||
		    (r = json_put_str(out, p->tok, strlen(p->tok))) < 0 ||
		    (r = buf_puts(out, ",\"producer_id\":")) < 0 ||
		    (r = json_put_str(out, p->pid, strlen(p->pid))) < 0 ||
		    (r = buf_printf(out, ",\"received\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"late\":%" PRIu64
				    ",\"repeats\":%" PRIu64 ",\"next_expected\":%" PRIu64 ",\"highest\":%" PRIu64
				    ",\"open_holes\":%" PRIu64, p->received, p->missing, p->late, p->repeats,
				    p->next, p->high, open_holes(p))) < 0 ||
		    (r = put_time(out, "last_event_at", p->last_event_ns)) < 0 ||
		    (r = put_time(out, "last_heartbeat_at", p->last_hb_ns)) < 0 ||
		    (r = buf_printf(out, ",\"last_heartbeat_seq\":%" PRIu64 ",\"ratio\":{", p->last_hb_seq)) < 0 ||
		    (r = put_ratio(out, "1m", ratio(p, now_ns, 1))) < 0 || (r = buf_putc(out, ',')) < 0 ||
		    (r = put_ratio(out, "5m", ratio(p, now_ns, 5))) < 0 || (r = buf_putc(out, ',')) < 0 ||
		    (r = put_ratio(out, "1h", ratio(p, now_ns, 60))) < 0 || (r = buf_puts(out, "}}")) < 0)
			break;
	}
	if (r == 0)
		r = buf_puts(out, "]}\n");
	pthread_mutex_unlock(&c->mu);
	return r;
}

int capture_metrics(struct capture *c, int64_t now_ns, size_t max_series, struct buf *out)
{
	static const char *const names[] = { "received", "missing", "late" };
	int r = 0;
	pthread_mutex_lock(&c->mu);
	uint64_t other[3] = { 0, 0, 0 };
	r = buf_printf(out, "# HELP sealtrail_capture_events_total Producer seqs by fate (docs/CAPTURE.md).\n"
			    "# TYPE sealtrail_capture_events_total counter\n");
	for (size_t i = 0; r == 0 && i < c->n; i++) {
		struct cprod *p = c->v[i];
		uint64_t v[3] = { p->received, p->missing, p->late };
		for (int k = 0; k < 3 && r == 0; k++) {
			if (i >= max_series) {
				other[k] += v[k];
				continue;
			}
			r = buf_printf(out, "sealtrail_capture_events_total{producer=\"%s\",producer_id=\"%s\",fate=\"%s\"} %" PRIu64 "\n",
				       p->tok, p->pid, names[k], v[k]);
		}
	}
	for (int k = 0; k < 3 && r == 0 && c->n > max_series; k++)
		r = buf_printf(out, "sealtrail_capture_events_total{producer=\"_other\",producer_id=\"\",fate=\"%s\"} %" PRIu64 "\n",
			       names[k], other[k]);
	if (r == 0)
		r = buf_printf(out, "# HELP sealtrail_capture_ratio Received over expected producer seqs in the window.\n"
				    "# TYPE sealtrail_capture_ratio gauge\n");
	for (size_t i = 0; r == 0 && i < c->n && i < max_series; i++) {
		struct cprod *p = c->v[i];
		static const struct { const char *w; int m; } win[] = { { "1m", 1 }, { "5m", 5 }, { "1h", 60 } };
		for (size_t k = 0; k < ARRAY_SIZE(win) && r == 0; k++) {
			double q = ratio(p, now_ns, win[k].m);
			if (q >= 0)
				r = buf_printf(out, "sealtrail_capture_ratio{producer=\"%s\",producer_id=\"%s\",window=\"%s\"} %.6f\n",
					       p->tok, p->pid, win[k].w, q);
		}
	}
	if (r == 0)
		r = buf_printf(out, "# TYPE sealtrail_capture_producers gauge\nsealtrail_capture_producers %zu\n"
				    "# TYPE sealtrail_capture_untracked_total counter\nsealtrail_capture_untracked_total %" PRIu64 "\n",
			       c->n, c->untracked);
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* ---- the state file --------------------------------------------------------
 *   capture v1 tree=S clean=0|1
 *   p TOK PID|* NEXT HIGH RECEIVED MISSING LATE REPEATS LAST_EVENT_NS LAST_HB_NS LAST_HB_SEQ BITS(hex)
 */

int capture_save(struct capture *c, const char *path, uint64_t tree, bool clean)
{
	struct buf b = BUF_INIT((size_t)CAPTURE_PRODUCERS_MAX * (2 * CAPTURE_WINDOW / 8 + 400) + 64);
	char hex[CAPTURE_WINDOW / 4 + 1];
	int r;
	pthread_mutex_lock(&c->mu);
	r = buf_printf(&b, "capture v1 tree=%" PRIu64 " clean=%d\n", tree, clean ? 1 : 0);
	for (size_t i = 0; r == 0 && i < c->n; i++) {
		struct cprod *p = c->v[i];
		hex_encode((const uint8_t *)p->bits, sizeof(p->bits), hex);
		r = buf_printf(&b, "p %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			       " %" PRId64 " %" PRId64 " %" PRIu64 " %s\n", p->tok, p->pid[0] ? p->pid : "*", p->next,
			       p->high, p->received, p->missing, p->late, p->repeats, p->last_event_ns, p->last_hb_ns,
			       p->last_hb_seq, hex);
	}
	pthread_mutex_unlock(&c->mu);
	if (r == 0)
		r = write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return r;
}

int capture_load(struct capture *c, const char *path, uint64_t *ret_replay_from, char *err, size_t errcap)
{
	struct buf b = BUF_INIT((size_t)CAPTURE_PRODUCERS_MAX * (2 * CAPTURE_WINDOW / 8 + 400) + 64);
	int r = read_file(path, b.max, &b), clean = 0;
	uint64_t tree = 0;
	size_t line = 0;

	*ret_replay_from = 0;
	if (r == -ENOENT) {
		buf_release(&b);
		return 0;
	}
	if (r < 0 || buf_cstr(&b) < 0) {
		snprintf(err, errcap, "%s: %s", path, st_strerror(r < 0 ? r : -ENOMEM));
		buf_release(&b);
		return r < 0 ? r : -ENOMEM;
	}
	pthread_mutex_lock(&c->mu);
	char *save = NULL;
	for (char *l = strtok_r((char *)b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		if (line == 1) {
			if (sscanf(l, "capture v1 tree=%" SCNu64 " clean=%d", &tree, &clean) != 2) {
				r = ST_ECORRUPT;
				break;
			}
			continue;
		}
		char tok[TOKEN_NAME_MAX + 2], pid[EVENT_PRODUCER_ID_MAX + 2], hex[CAPTURE_WINDOW / 4 + 2];
		struct cprod t = { 0 };
		if (sscanf(l, "p %65s %65s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNd64 " %" SCNd64 " %" SCNu64 " %1025s", tok, pid, &t.next, &t.high, &t.received,
			   &t.missing, &t.late, &t.repeats, &t.last_event_ns, &t.last_hb_ns, &t.last_hb_seq, hex) != 12 ||
		    strlen(tok) > TOKEN_NAME_MAX || strlen(pid) > EVENT_PRODUCER_ID_MAX ||
		    strlen(hex) != CAPTURE_WINDOW / 4 || !hex_decode(hex, strlen(hex), (uint8_t *)t.bits, sizeof(t.bits)) ||
		    t.next == 0) {
			r = ST_ECORRUPT;
			break;
		}
		const char *pp = strcmp(pid, "*") ? pid : "";
		struct cprod *p = find(c, tok, pp, strlen(pp), true);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		memcpy(p->bits, t.bits, sizeof(t.bits));
		p->next = t.next;
		p->high = t.high;
		p->received = t.received;
		p->missing = t.missing;
		p->late = t.late;
		p->repeats = t.repeats;
		p->last_event_ns = t.last_event_ns;
		p->last_hb_ns = t.last_hb_ns;
		p->last_hb_seq = t.last_hb_seq;
	}
	pthread_mutex_unlock(&c->mu);
	if (r < 0) {
		snprintf(err, errcap, "%s:%zu: %s", path, line, r == ST_ECORRUPT ? "not a capture state line" : st_strerror(r));
	} else {
		*ret_replay_from = clean ? tree : tree > CAPTURE_REPLAY_MARGIN ? tree - CAPTURE_REPLAY_MARGIN : 0;
		r = 0;
	}
	buf_release(&b);
	return r;
}

/* What a replay needs of a stored entry. */
struct rctx {
	char tok[TOKEN_NAME_MAX + 1];
	char pid[EVENT_PRODUCER_ID_MAX + 1];
	char action[32];
	size_t pid_len, action_len;
	uint64_t seq;
};

static int on_leaf(void *arg, const struct jw_leaf *lf)
{
	struct rctx *x = arg;
	if (lf->type == JW_STRING && lf->depth == 1 && lf->path_len == 8 && !memcmp(lf->path, "producer", 8) &&
	    lf->val_len <= TOKEN_NAME_MAX) {
		memcpy(x->tok, lf->val, lf->val_len);
		x->tok[lf->val_len] = 0;
	} else if (lf->type == JW_STRING && lf->depth == 1 && lf->path_len == 6 && !memcmp(lf->path, "action", 6) &&
		   lf->val_len < sizeof(x->action)) {
		memcpy(x->action, lf->val, lf->val_len);
		x->action_len = lf->val_len;
	} else if (lf->depth == 2 && lf->path_len == 18 && !memcmp(lf->path, "source.producer_id", 18) &&
		   lf->type == JW_STRING && lf->val_len <= EVENT_PRODUCER_ID_MAX) {
		memcpy(x->pid, lf->val, lf->val_len);
		x->pid_len = lf->val_len;
	} else if (lf->depth == 2 && lf->path_len == 19 && !memcmp(lf->path, "source.producer_seq", 19) &&
		   lf->type == JW_NUMBER) {
		if (!st_parse_u64(lf->val, lf->val_len, &x->seq))
			x->seq = 0;
	}
	return 0;
}

void capture_replay(struct capture *c, const uint8_t *entry, size_t n, int64_t now_ns)
{
	struct rctx x = { 0 };
	if (!memmem(entry, n, "\"producer_seq\":", 15))
		return;
	if (jwalk(entry, n, on_leaf, &x) < 0 || !x.seq || !x.tok[0])
		return;
	struct event_info info = { 0 };
	info.producer_id = x.pid_len ? x.pid : NULL;
	info.producer_id_len = x.pid_len;
	info.producer_seq = x.seq;
	info.action = x.action;
	info.action_len = x.action_len;
	pthread_mutex_lock(&c->mu);
	event_locked(c, x.tok, &info, now_ns, true);
	pthread_mutex_unlock(&c->mu);
}
