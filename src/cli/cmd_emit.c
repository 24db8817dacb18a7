/*
 * cmd_emit.c - `sealtrail emit`: send events through libsealtrail, the
 * producer library (docs/CLIENT.md), as a shell script or a pipe would.
 *
 *   sealtrail emit --url URL --action A [--actor ID] [--actor-type T]
 *                  [--resource TYPE:ID] [--outcome O] [--tenant T] [--id ID]
 *                  [--time RFC3339] [--meta KEY=VALUE]... [--critical]
 *   sealtrail emit --url URL --json '{...}'
 *   sealtrail emit --url URL -          one JSON object a line, from stdin
 *   common: [--spool DIR] [--producer-id ID] [--timeout 30s]
 *           [--token-file F] [--cacert F] [--wait-checkpoint]
 *
 * --wait-checkpoint prints a receipt for each stored event on stdout, one
 * JSON line: {"producer_seq", "seq", "leaf_hash", "proof"}, the proof a
 * C2SP tlog-proof@v1 embedding the signed checkpoint (docs/CLIENT.md).
 *
 * Every event goes into the library's spool before it is sent, so an
 * event the server could not take before the timeout is not lost: it
 * stays in the spool, and the next `sealtrail emit` on the same spool
 * (or any program using the library on it) sends it first. The spool
 * defaults to $SEALTRAIL_SPOOL, else ~/.local/state/sealtrail/spool; one
 * process uses a spool at a time.
 *
 * Exit status: 0 every event is acknowledged as durable (or was already
 * in the log); 1 the server refused some (each named with its line on
 * stderr), or the timeout passed with events left in the spool; 2 usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/codec.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "sealtrail/client.h"
#include "server/config.h"

#define EMIT_LINE_MAX (1u << 20)      /* the library's own limit on an event */
#define META_MAX 64

static const char usage_text[] =
	"usage: sealtrail emit --url URL --action A [--actor ID] [--actor-type T] [--resource TYPE:ID]\n"
	"                      [--outcome O] [--tenant T] [--id ID] [--time RFC3339]\n"
	"                      [--meta KEY=VALUE]... [--critical]\n"
	"       sealtrail emit --url URL --json '{...}'\n"
	"       sealtrail emit --url URL -      (one JSON object a line on stdin)\n"
	"   options: [--spool DIR] [--producer-id ID] [--timeout 30s] [--token-file F] [--cacert F]\n"
	"            [--wait-checkpoint]  a receipt per event on stdout: seq, leaf hash, tlog-proof\n"
	"Sends events through libsealtrail's spool: what the server has not acknowledged when the\n"
	"timeout passes stays in the spool for the next run.\n";

struct refusals {
	uint64_t n;
	uint64_t receipt_errors;
};

/* --wait-checkpoint: each receipt as a JSON line on stdout. */
static void on_receipt(void *arg, uint64_t pseq, uint64_t seq, const char *leaf, const char *proof,
		       size_t proof_len)
{
	struct refusals *r = arg;
	struct buf b = BUF_INIT(1u << 20);
	int e = buf_printf(&b, "{\"producer_seq\":%llu,\"seq\":%llu,\"leaf_hash\":", (unsigned long long)pseq,
			   (unsigned long long)seq);
	if (e == 0)
		e = json_put_str(&b, leaf, strlen(leaf));
	if (e == 0 && proof) {
		e = buf_puts(&b, ",\"proof\":");
		if (e == 0)
			e = json_put_str(&b, proof, proof_len);
	} else if (e == 0) {
		e = buf_puts(&b, ",\"proof\":null,\"duplicate\":true");
	}
	if (e == 0)
		e = buf_puts(&b, "}\n");
	if (e < 0 || !cli_write(b.data, b.len))
		r->receipt_errors++;
	buf_release(&b);
}

static void on_refused(void *arg, uint64_t seq, const char *message)
{
	struct refusals *r = arg;
	r->n++;
	if (seq)
		cli_err("the server refused event %llu of this spool: %s", (unsigned long long)seq, message);
	else
		cli_err("an event was refused before sending: %s", message);
}

/* "k": "v" members into b (after a comma when needed). */
static int put_member(struct buf *b, const char *k, const char *v)
{
	int r = 0;
	if (b->len && b->data[b->len - 1] != '{')
		r = buf_append(b, ",", 1);
	if (r == 0)
		r = json_put_str(b, k, strlen(k));
	if (r == 0)
		r = buf_append(b, ":", 1);
	if (r == 0)
		r = json_put_str(b, v, strlen(v));
	return r;
}

struct flags {
	const char *action, *actor, *actor_type, *resource, *outcome, *tenant, *id, *time;
	const char *meta[META_MAX];
	size_t nmeta;
};

/* The event the flags describe, as a JSON object. */
static bool build_event(const struct flags *f, struct buf *b)
{
	int r = buf_append(b, "{", 1);
	if (r == 0 && f->id)
		r = put_member(b, "id", f->id);
	if (r == 0 && f->tenant)
		r = put_member(b, "tenant", f->tenant);
	char now[RFC3339_US_LEN + 1];
	if (!f->time)
		rfc3339_format_us(now_realtime_ns(), now);
	if (r == 0)
		r = put_member(b, "time", f->time ? f->time : now);
	if (r == 0)
		r = put_member(b, "action", f->action);
	if (r == 0 && f->actor) {
		r = buf_puts(b, ",\"actor\":{");
		if (r == 0)
			r = put_member(b, "id", f->actor);
		if (r == 0 && f->actor_type)
			r = put_member(b, "type", f->actor_type);
		if (r == 0)
			r = buf_append(b, "}", 1);
	}
	if (r == 0 && f->resource) {
		const char *colon = strchr(f->resource, ':');
		char type[256];
		size_t tl = colon ? (size_t)(colon - f->resource) : 0;
		if (!colon || tl == 0 || tl >= sizeof(type) || !colon[1]) {
			cli_err("--resource %s: expected TYPE:ID", f->resource);
			return false;
		}
		memcpy(type, f->resource, tl);
		type[tl] = 0;
		r = buf_puts(b, ",\"resource\":{");
		if (r == 0)
			r = put_member(b, "type", type);
		if (r == 0)
			r = put_member(b, "id", colon + 1);
		if (r == 0)
			r = buf_append(b, "}", 1);
	}
	if (r == 0 && f->outcome)
		r = put_member(b, "outcome", f->outcome);
	if (r == 0 && f->nmeta) {
		r = buf_puts(b, ",\"metadata\":{");
		for (size_t i = 0; r == 0 && i < f->nmeta; i++) {
			const char *eq = strchr(f->meta[i], '=');
			char key[256];
			size_t kl = eq ? (size_t)(eq - f->meta[i]) : 0;
			if (!eq || kl == 0 || kl >= sizeof(key)) {
				cli_err("--meta %s: expected KEY=VALUE", f->meta[i]);
				return false;
			}
			for (size_t j = 0; j < i; j++)
				if (!strncmp(f->meta[j], f->meta[i], kl + 1)) {
					cli_err("--meta %.*s: given twice", (int)kl, f->meta[i]);
					return false;
				}
			memcpy(key, f->meta[i], kl);
			key[kl] = 0;
			r = put_member(b, key, eq + 1);
		}
		if (r == 0)
			r = buf_append(b, "}", 1);
	}
	if (r == 0)
		r = buf_append(b, "}", 1);
	if (r < 0) {
		cli_err("the event is larger than %u bytes", EMIT_LINE_MAX);
		return false;
	}
	return true;
}

/* The default spool: $SEALTRAIL_SPOOL, else ~/.local/state/sealtrail/spool
 * (the parents created 0700). */
static bool default_spool(char *out, size_t cap)
{
	const char *e = getenv("SEALTRAIL_SPOOL");
	if (e && *e) {
		snprintf(out, cap, "%s", e);
		return true;
	}
	const char *home = getenv("HOME");
	if (!home || !*home) {
		cli_err("no spool: pass --spool DIR or set SEALTRAIL_SPOOL (HOME is not set)");
		return false;
	}
	static const char *const parts[] = { "/.local", "/.local/state", "/.local/state/sealtrail" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(out, cap, "%s%s", home, parts[i]);
		if (mkdir(out, 0700) < 0 && errno != EEXIST) {
			cli_err("%s: %s", out, strerror(errno));
			return false;
		}
	}
	snprintf(out, cap, "%s/.local/state/sealtrail/spool", home);
	return true;
}

int cmd_emit(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "spool", required_argument, NULL, 's' },
		{ "producer-id", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "json", required_argument, NULL, 'j' },
		{ "action", required_argument, NULL, 'a' },
		{ "actor", required_argument, NULL, 'A' },
		{ "actor-type", required_argument, NULL, 'y' },
		{ "resource", required_argument, NULL, 'r' },
		{ "outcome", required_argument, NULL, 'o' },
		{ "tenant", required_argument, NULL, 't' },
		{ "id", required_argument, NULL, 'i' },
		{ "time", required_argument, NULL, 'm' },
		{ "meta", required_argument, NULL, 'M' },
		{ "critical", no_argument, NULL, 'c' },
		{ "wait-checkpoint", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token_file = NULL, *cacert = NULL, *spool = NULL, *pid = NULL, *json = NULL;
	struct flags f = { 0 };
	bool critical = false, any_flag = false, wait_cp = false;
	uint64_t timeout_ms = 30000;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'T': token_file = optarg; break;
		case 'C': cacert = optarg; break;
		case 's': spool = optarg; break;
		case 'P': pid = optarg; break;
		case 'w':
			if (config_parse_ms(optarg, &timeout_ms) < 0 || timeout_ms > 86400000) {
				cli_err("--timeout %s: expected a duration such as 30s or 5m (at most a day)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = optarg; break;
		case 'a': f.action = optarg; any_flag = true; break;
		case 'A': f.actor = optarg; any_flag = true; break;
		case 'y': f.actor_type = optarg; any_flag = true; break;
		case 'r': f.resource = optarg; any_flag = true; break;
		case 'o': f.outcome = optarg; any_flag = true; break;
		case 't': f.tenant = optarg; any_flag = true; break;
		case 'i': f.id = optarg; any_flag = true; break;
		case 'm': f.time = optarg; any_flag = true; break;
		case 'M':
			if (f.nmeta == META_MAX) {
				cli_err("--meta: at most %d", META_MAX);
				return EXIT_USAGE;
			}
			f.meta[f.nmeta++] = optarg;
			any_flag = true;
			break;
		case 'c': critical = true; break;
		case 'W': wait_cp = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	bool from_stdin = optind < argc && !strcmp(argv[optind], "-");
	if (optind + (from_stdin ? 1 : 0) != argc) {
		cli_err("unexpected argument %s", argv[optind + (from_stdin ? 1 : 0)]);
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	int sources = (json != NULL) + from_stdin + any_flag;
	if (!url || sources != 1 || (any_flag && !f.action)) {
		cli_err(!url ? "--url is required" : sources != 1 ?
			"give exactly one of: flags (--action ...), --json, or - for stdin" :
			"--action is required with the other event flags");
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	char spool_buf[4096];
	if (!spool) {
		if (!default_spool(spool_buf, sizeof(spool_buf)))
			return 1;
		spool = spool_buf;
	}
	struct buf tok = BUF_INIT(CLI_TOKEN_MAX);
	int tr = cli_read_token(token_file, &tok);
	if (tr <= 0) {
		if (tr == 0)
			cli_err("no token: pass --token-file FILE or set SEALTRAIL_TOKEN");
		buf_release(&tok);
		return 1;
	}
	if (buf_append(&tok, "", 1) < 0) {   /* NUL-terminated for the library */
		cli_err("the token is longer than %u bytes", CLI_TOKEN_MAX - 1);
		buf_release(&tok);
		return 1;
	}

	struct refusals ref = { 0 };
	struct sealtrail_options o = SEALTRAIL_OPTIONS_INIT;
	o.url = url;
	o.token = (const char *)tok.data;
	o.cacert = cacert;
	o.spool_dir = spool;
	o.producer_id = pid;
	o.on_refused = on_refused;
	o.wait_checkpoint = wait_cp;
	o.on_receipt = wait_cp ? on_receipt : NULL;
	o.arg = &ref;
	struct sealtrail_client *cl;
	char err[512];
	int r = sealtrail_client_new(&o, &cl, err, sizeof(err));
	explicit_bzero(tok.data, tok.len);
	buf_release(&tok);
	if (r < 0) {
		cli_err("%s", err);
		return 1;
	}
	enum sealtrail_crit crit = critical ? SEALTRAIL_CRIT_CRITICAL : SEALTRAIL_CRIT_NORMAL;
	int rc = 0;
	uint64_t lines = 0;
	if (from_stdin) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) >= 0) {
			lines++;
			size_t len = (size_t)n;
			while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				len--;
			size_t s = 0;
			while (s < len && (line[s] == ' ' || line[s] == '\t'))
				s++;
			if (s == len)
				continue;
			if ((r = sealtrail_emit_crit(cl, line + s, len - s, crit)) < 0) {
				cli_err("stdin:%llu: %s", (unsigned long long)lines,
					r == -EINVAL ? "not a JSON object" : r == -E2BIG ?
					"larger than 1 MiB" : strerror(-r));
				rc = 1;
				if (r != -EINVAL && r != -E2BIG)
					break;
			}
		}
		free(line);
	} else {
		struct buf ev = BUF_INIT(EMIT_LINE_MAX);
		if (json) {
			r = buf_puts(&ev, json) < 0 ? -E2BIG : 0;
		} else if (!build_event(&f, &ev)) {
			rc = EXIT_USAGE;
			r = 0;
		}
		if (rc == 0 && r == 0)
			r = sealtrail_emit_crit(cl, (const char *)ev.data, ev.len, crit);
		if (rc == 0 && r < 0) {
			cli_err("%s", r == -EINVAL ? "--json: not a JSON object" : r == -E2BIG ?
				"the event is larger than 1 MiB" : strerror(-r));
			rc = r == -EINVAL || r == -E2BIG ? EXIT_USAGE : 1;
		}
		buf_release(&ev);
	}
	int fr = sealtrail_flush(cl, (int)timeout_ms);
	struct sealtrail_stats st;
	sealtrail_client_stats(cl, &st);
	sealtrail_client_free(cl);
	if (fr < 0) {
		cli_err("%s after %llu ms; what was not acknowledged stays in %s for the next run",
			fr == -ETIMEDOUT ? "the server did not acknowledge everything" : strerror(-fr),
			(unsigned long long)timeout_ms, spool);
		rc = rc ? rc : 1;
	}
	if (ref.n || ref.receipt_errors)
		rc = rc ? rc : 1;
	fprintf(stderr, "sealtrail: %llu emitted: %llu stored, %llu already in the log, %llu refused\n",
		(unsigned long long)st.emitted, (unsigned long long)st.acked,
		(unsigned long long)st.duplicates, (unsigned long long)st.refused);
	return rc;
}
