/*
 * rewrite.c - value-by-value rewriting of a compact JSON object
 * (rewrite.h).
 *
 * The output is the input with edits applied in document order: `pos` is
 * how far the input has been copied; an edit copies input[pos..start),
 * writes its replacement (nothing for a drop) and moves pos past the
 * edited bytes. A dropped or replaced container's end is not known when
 * it is reported (parents come first), so the edit waits for the
 * container's JW_END; the values inside it are not asked about.
 *
 * Commas: a dropped member takes the comma before it when that comma has
 * not been copied yet (it is at or after pos), else the comma after it,
 * else none (it was the last one left), so the rest stays valid JSON.
 */
#include "policy/rewrite.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "common/codec.h"

struct rw {
	const uint8_t *in;
	size_t n;
	size_t pos;            /* input bytes copied (or skipped) so far */
	rw_fn fn;
	void *ctx;
	struct buf *repl;
	struct buf *out;
	size_t changed;
	int err;
	/* a container being dropped or replaced: its depth (0 = none), where
	 * the edit starts, and whether the value replaces it */
	int skip_depth;
	size_t skip_start;
	bool skip_replace;
	struct buf pending;    /* the replacement of that container */
};

static int copy_to(struct rw *w, size_t at)
{
	int r = 0;
	if (at > w->pos)
		r = buf_append(w->out, w->in + w->pos, at - w->pos);
	w->pos = at;
	return r;
}

/* Where a dropped member [start, end) really starts and ends, commas included. */
static void drop_span(const struct rw *w, size_t *start, size_t *end)
{
	if (*start > w->pos && w->in[*start - 1] == ',')
		(*start)--;
	else if (*end < w->n && w->in[*end] == ',')
		(*end)++;
}

static int apply(struct rw *w, size_t start, size_t end, bool replace, const struct buf *with)
{
	int r;
	if (!replace)
		drop_span(w, &start, &end);
	if ((r = copy_to(w, start)) < 0)
		return r;
	if (replace && (r = json_put_str(w->out, (const char *)with->data, with->len)) < 0)
		return r;
	w->pos = end;
	w->changed++;
	return 0;
}

static int on_leaf(void *arg, const struct jw_leaf *lf)
{
	struct rw *w = arg;
	int r;

	if (w->skip_depth) {
		if (lf->type != JW_END || lf->depth != w->skip_depth)
			return 0;     /* inside the container being edited */
		size_t end = (size_t)((const uint8_t *)lf->raw - w->in) + 1;
		w->skip_depth = 0;
		return apply(w, w->skip_start, end, w->skip_replace, &w->pending);
	}
	if (lf->type == JW_END || w->err)
		return 0;
	buf_reset(w->repl);
	enum rw_action a = w->fn(w->ctx, lf, w->repl);
	if (a == RW_KEEP)
		return 0;
	bool replace = a == RW_REPLACE;
	/* A member goes with its name; a replaced value keeps it. */
	size_t start = (size_t)((const uint8_t *)(replace || !lf->key ? lf->raw : lf->key) - w->in);
	if (lf->type == JW_OBJECT || lf->type == JW_ARRAY) {
		w->skip_depth = lf->depth;
		w->skip_start = start;
		w->skip_replace = replace;
		buf_reset(&w->pending);
		if (replace && (r = buf_append(&w->pending, w->repl->data, w->repl->len)) < 0)
			return r;
		return 0;
	}
	size_t end = (size_t)((const uint8_t *)lf->raw - w->in) + lf->raw_len;
	return apply(w, start, end, replace, w->repl);
}

int rewrite_json(const uint8_t *in, size_t n, rw_fn fn, void *ctx, struct buf *repl,
		 struct buf *out, size_t *nchanged)
{
	struct rw w = {
		.in = in, .n = n, .fn = fn, .ctx = ctx, .repl = repl, .out = out,
		.pending = BUF_INIT(1 << 16),
	};
	size_t old = out->len;
	int r = jwalk_ends(in, n, on_leaf, &w);

	if (r == 0)
		r = copy_to(&w, n);
	buf_release(&w.pending);
	if (r < 0) {
		out->len = old;
		return r;
	}
	if (nchanged)
		*nchanged = w.changed;
	return 0;
}
