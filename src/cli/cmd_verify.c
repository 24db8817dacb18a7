/*
 * cmd_verify.c - sealtrail verify: recompute everything, name every
 * mismatch, exit 0 only when the whole log verifies.
 *
 *   --data DIR   a log directory on disk (log/verify.h)
 *   --url URL    a remote log through its tlog-tiles read API
 *                (log/rverify.h; docs/VERIFY.md)
 *
 * The remote transport lives here, not in the log room: one libcurl easy
 * handle reused for every request (keep-alive), http and https only, no
 * redirects (a redirect could carry the token elsewhere), connect and
 * stall timeouts, and each response capped at the most its resource may
 * hold (rverify sets the cap in the buffer's max). The token is read from
 * a file or SEALTRAIL_TOKEN, sent only as "Authorization: Bearer", never
 * printed, and wiped after use.
 */
#include "cli/cli.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "log/rverify.h"
#include "log/verify.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#define MAX_TRUST 64
#define DEFAULT_TIMEOUT 30L

/* ---- local mode --------------------------------------------------------------- */

static int verify_local(const char *dir, struct verify_options *o, bool quiet)
{
	struct verify_result res;

	if (!quiet && isatty(2))
		o->progress = stderr;
	int64_t t0 = now_monotonic_ns();
	int r = log_verify(dir, o, &res);
	double secs = (double)(now_monotonic_ns() - t0) / 1e9;
	if (res.warnings && !quiet)
		fprintf(stderr, "warning: %s%s\n", res.warning,
			res.warnings > 1 ? " (and more warnings)" : "");
	if (r < 0) {
		printf("FAIL: %s\n", res.error[0] ? res.error : st_strerror(r));
		return 1;
	}
	printf("OK: %llu entries, %llu segments, %llu checkpoints, %llu tenants, "
	       "%.1f MB in %.3f s (%.0f MB/s)%s\n",
	       (unsigned long long)res.entries, (unsigned long long)res.segments,
	       (unsigned long long)res.checkpoints, (unsigned long long)res.tenants,
	       (double)res.bytes / 1e6, secs, secs > 0 ? (double)res.bytes / 1e6 / secs : 0.0,
	       o->nkeys ? "" : "; signatures checked against the log's own keys/public "
			       "(pass --key to check against a key you trust)");
	return 0;
}

/* The rverify fetch callback: GET base/path into out. */
static int http_fetch(void *arg, const char *path, struct buf *out)
{
	long code = 0;
	int r = cli_http_get(arg, path, out, &code);

	if (r < 0)
		return r;
	if (code == 200)
		return 0;
	out->len = 0;
	if (code == 404)
		return ST_ENOTFOUND;     /* rverify retries partial tiles: no noise */
	if (code == 401 || code == 403) {
		cli_err("GET %s: HTTP %ld%s", path, code,
			strncmp(path, "tile/entries/", 13) == 0 ?
			" (entry bundles need an auditor token: --token-file FILE)" : "");
		return -EACCES;
	}
	cli_err("GET %s: HTTP %ld%s", path, code,
		code >= 300 && code < 400 ? " (redirects are not followed)" : "");
	return -EPROTO;
}

static void report_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

/* Default state file: $XDG_STATE_HOME (if absolute) or ~/.local/state,
 * then sealtrail/verify-<16 hex of SHA-256(url)>.checkpoint. */
static bool default_state(const char *url, size_t len, struct buf *out)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int r;

	if (x && x[0] == '/')
		r = buf_printf(out, "%s/sealtrail/", x);
	else if (home && home[0] == '/')
		r = buf_printf(out, "%s/.local/state/sealtrail/", home);
	else {
		cli_err("neither XDG_STATE_HOME nor HOME is an absolute path: pass --state FILE");
		return false;
	}
	if (r == 0)
		r = rverify_state_name(url, len, out);
	if (r == 0)
		r = buf_cstr(out);
	return r == 0;
}

struct remote_args {
	const char *url;
	const char *const *keys;
	size_t nkeys;
	const char *token_file;
	const char *state;
	const char *cacert;
	uint64_t sample;
	long timeout;
	bool quiet;
};

static int verify_remote(const struct remote_args *a)
{
	struct note_key keys[MAX_TRUST];
	struct buf token = BUF_INIT(CLI_TOKEN_MAX), state = BUF_INIT(PATH_MAX);
	struct cli_http h;
	struct rverify_options o;
	struct rverify_result res;
	size_t ulen = strlen(a->url);
	int r, rc = EXIT_USAGE;

	memset(&h, 0, sizeof(h));
	memset(&o, 0, sizeof(o));
	if (strncasecmp(a->url, "http://", 7) != 0 && strncasecmp(a->url, "https://", 8) != 0) {
		cli_err("--url: expected an http:// or https:// URL, found \"%s\"", a->url);
		goto out;
	}
	if (strchr(a->url, '?') || strchr(a->url, '#')) {
		cli_err("--url: the log's base URL may not have a query or fragment");
		goto out;
	}
	while (ulen > 8 && a->url[ulen - 1] == '/')
		ulen--;
	if (a->nkeys == 0) {
		cli_err("--url needs at least one --key VKEY: a remote log is only as "
			"trustworthy as the key its checkpoint is checked with");
		goto out;
	}
	for (size_t i = 0; i < a->nkeys; i++)
		if (note_vkey_parse(a->keys[i], strlen(a->keys[i]), &keys[i]) < 0) {
			cli_err("--key \"%s\": not a verifier key (name+hash+base64)", a->keys[i]);
			goto out;
		}
	if ((r = cli_read_token(a->token_file, &token)) < 0)
		goto out;
	if (r > 0 && strncasecmp(a->url, "http://", 7) == 0 && !a->quiet)
		cli_err("warning: sending the token over plain http");
	if (a->state) {
		if (buf_puts(&state, a->state) < 0 || buf_cstr(&state) < 0) {
			cli_err("--state: path too long");
			goto out;
		}
	} else {
		/* The name hashes the URL as given, less trailing slashes. */
		char *u = strndup(a->url, ulen);
		bool ok = u && default_state(u, ulen, &state);
		free(u);
		if (!ok)
			goto out;
	}

	rc = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cli_err("cannot initialise libcurl");
		goto out;
	}
	h.base = a->url;
	h.base_len = ulen;
	if (!cli_http_setup(&h, a->cacert, a->timeout, &token, "sealtrail-verify"))
		goto cleanup;
	o.fetch = http_fetch;
	o.fetch_arg = &h;
	o.keys = keys;
	o.nkeys = a->nkeys;
	o.state_path = (const char *)state.data;
	o.sample = a->sample;
	o.report = report_line;
	if (!a->quiet && isatty(2))
		o.progress = stderr;
	r = rverify_run(&o, &res);
	if (r < 0) {
		printf("FAIL: %.*s: %llu finding%s%s\n", (int)ulen, a->url,
		       (unsigned long long)res.findings, res.findings == 1 ? "" : "s",
		       res.findings ? "" : " (verification could not run)");
		goto cleanup;
	}
	{
		char root[BASE64_LEN(HASH_SIZE) + 1], tail[128];
		base64_encode(res.root, HASH_SIZE, root);
		if (res.had_state)
			snprintf(tail, sizeof(tail), "consistent with saved size %llu",
				 (unsigned long long)res.old_size);
		else
			snprintf(tail, sizeof(tail), "no saved checkpoint before (first run), saved now");
		printf("verified: size %llu, root %s, %llu tiles, %llu entries (%s), %s\n",
		       (unsigned long long)res.size, root, (unsigned long long)res.tiles,
		       (unsigned long long)res.entries, res.sampled ? "sampled" : "all", tail);
	}
	rc = 0;
cleanup:
	cli_http_release(&h);
	curl_global_cleanup();
out:
	if (token.data)
		st_wipe(token.data, token.cap);
	buf_release(&token);
	buf_release(&state);
	return rc;
}

/* ---- the command -------------------------------------------------------------- */

static const char usage_text[] =
	"usage: sealtrail verify --data DIR [--key VKEY]... [--trusted FILE]... [--quiet]\n"
	"       sealtrail verify --url URL --key VKEY [--key VKEY]... [--token-file FILE]\n"
	"                        [--sample N] [--state FILE] [--cacert FILE] [--timeout SECS] [--quiet]";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "trusted", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "sample", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys[MAX_TRUST], *trusted[MAX_TRUST];
	struct verify_options o = { keys, 0, trusted, 0, NULL };
	struct remote_args ra = { .sample = RVERIFY_ALL, .timeout = DEFAULT_TIMEOUT };
	const char *dir = NULL;
	bool quiet = false, remote_only = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'k':
			if (o.nkeys == MAX_TRUST) {
				cli_err("--key: at most %d keys", MAX_TRUST);
				return EXIT_USAGE;
			}
			keys[o.nkeys++] = optarg;
			break;
		case 't':
			if (o.ntrusted == MAX_TRUST) {
				cli_err("--trusted: at most %d checkpoints", MAX_TRUST);
				return EXIT_USAGE;
			}
			trusted[o.ntrusted++] = optarg;
			break;
		case 'q': quiet = true; break;
		case 'u': ra.url = optarg; break;
		case 'T': ra.token_file = optarg; remote_only = true; break;
		case 's':
			if (!cli_u64(optarg, "--sample", &v))
				return EXIT_USAGE;
			ra.sample = v == RVERIFY_ALL ? v - 1 : v;
			remote_only = true;
			break;
		case 'S': ra.state = optarg; remote_only = true; break;
		case 'C': ra.cacert = optarg; remote_only = true; break;
		case 'o':
			if (!cli_u64(optarg, "--timeout", &v))
				return EXIT_USAGE;
			if (v == 0 || v > 3600) {
				cli_err("--timeout: expected 1..3600 seconds");
				return EXIT_USAGE;
			}
			ra.timeout = (long)v;
			remote_only = true;
			break;
		default:
			cli_err("%s", usage_text);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (!dir) == (!ra.url) ||
	    (dir && remote_only) || (ra.url && o.ntrusted)) {
		cli_err("%s", usage_text);
		return EXIT_USAGE;
	}
	if (dir)
		return verify_local(dir, &o, quiet);
	ra.keys = keys;
	ra.nkeys = o.nkeys;
	ra.quiet = quiet;
	return verify_remote(&ra);
}
