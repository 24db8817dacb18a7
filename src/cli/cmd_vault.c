/*
 * cmd_vault.c - `sealtrail erase` and `sealtrail detokenize`: the token
 * vault's two operations, through a running server (docs/REDACTION.md).
 *
 *   sealtrail erase --url URL --tenant T (--subject S | --subject-file F | --subject -)
 *   sealtrail detokenize --url URL --tenant T TOKEN
 *   both: [--token-file F] [--cacert F]; the token from the file or SEALTRAIL_TOKEN
 *
 * Both go through the server, never to the vault's files, so each is
 * meta-audited and checked against the token's role (legal or admin) and
 * tenant scope. The subject is personal data: it can come from a file or
 * standard input instead of the command line (which `ps` and shell
 * histories show), and it travels in the request body, never in a URL.
 *
 * Exit status: 0 done; 1 refused or failed (the server's error printed);
 * 2 usage; for detokenize, 3 when the token's subject was erased (410).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/util.h"

#define SUBJECT_MAX 1024

struct vopts {
	const char *url, *token_file, *cacert, *tenant, *subject, *subject_file, *reason;
	bool export;
};

static bool parse(int argc, char **argv, struct vopts *o, const char *usage, bool erase)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "token-file", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'c' }, { "tenant", required_argument, NULL, 'n' },
		{ "subject", required_argument, NULL, 's' }, { "subject-file", required_argument, NULL, 'f' },
		{ "reason", required_argument, NULL, 'r' }, { "export", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 't': o->token_file = optarg; break;
		case 'c': o->cacert = optarg; break;
		case 'n': o->tenant = optarg; break;
		case 's': o->subject = optarg; break;
		case 'f': o->subject_file = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'x': o->export = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: fputs(usage, stderr); return false;
		}
	}
	if (!o->url || !o->tenant) {
		cli_err("--url and --tenant are required");
		fputs(usage, stderr);
		return false;
	}
	if (erase && !!o->subject == !!o->subject_file) {
		cli_err("expected one of --subject S (- for standard input) or --subject-file F");
		return false;
	}
	if (!erase && (o->subject || o->subject_file)) {
		cli_err("--subject is for erase");
		return false;
	}
	if (erase ? o->reason || o->export : !!o->reason != o->export) {
		cli_err(erase ? "--export and --reason are for detokenize" :
			"--export needs --reason WHY (a case or ticket), and --reason is for --export");
		return false;
	}
	return true;
}

/* The subject's bytes: the argument, a file's content or standard input,
 * a single trailing newline dropped. */
static bool read_subject(const struct vopts *o, struct buf *b)
{
	int r = 0;
	if (o->subject && strcmp(o->subject, "-")) {
		r = buf_puts(b, o->subject);
	} else if (o->subject_file) {
		r = read_file(o->subject_file, SUBJECT_MAX + 2, b);
	} else {
		char tmp[SUBJECT_MAX + 2];
		size_t n = fread(tmp, 1, sizeof(tmp), stdin);
		r = buf_append(b, tmp, n);
		st_wipe(tmp, sizeof(tmp));
	}
	if (r < 0) {
		cli_err("reading the subject: %s", st_strerror(r));
		return false;
	}
	if (b->len && b->data[b->len - 1] == '\n')
		b->len--;
	if (b->len == 0 || b->len > SUBJECT_MAX) {
		cli_err("the subject must be 1..%d bytes, found %zu", SUBJECT_MAX, b->len);
		return false;
	}
	return true;
}

/* Prints the body (to stdout on 2xx, else as an error); the exit status. */
static int finish(long code, const struct buf *resp, int on_410)
{
	if (code >= 200 && code < 300) {
		cli_write(resp->data, resp->len);
		return 0;
	}
	cli_err("the server answered %ld: %.*s", code, (int)resp->len, (const char *)resp->data);
	return code == 410 ? on_410 : 1;
}

int cmd_erase(int argc, char **argv)
{
	static const char usage[] =
		"usage: sealtrail erase --url URL --tenant T (--subject S | --subject-file F | --subject -)\n"
		"                       [--token-file F] [--cacert F]\n"
		"Crypto-shreds the data subject's vault entries through the server (legal or admin):\n"
		"its tokens in the log never resolve again; the log and its proofs stay valid.\n";
	struct vopts o;
	struct cli_http h = { 0 };
	struct buf tok = BUF_INIT(CLI_TOKEN_MAX), sub = BUF_INIT(SUBJECT_MAX + 2);
	struct buf body = BUF_INIT(4 * SUBJECT_MAX + 256), resp = BUF_INIT(1 << 20);
	long code = 0;
	int rc = EXIT_USAGE;

	if (!parse(argc, argv, &o, usage, true))
		goto out;
	rc = 1;
	if (!read_subject(&o, &sub) || !cli_http_open(&h, &tok, o.url, o.token_file, o.cacert, "sealtrail-erase"))
		goto out;
	if (buf_puts(&body, "{\"tenant\":") < 0 || json_put_str(&body, o.tenant, strlen(o.tenant)) < 0 ||
	    buf_puts(&body, ",\"subject\":") < 0 ||
	    json_put_str(&body, (const char *)sub.data, sub.len) < 0 || buf_puts(&body, "}") < 0) {
		cli_err("the request does not fit its buffer");
		goto out;
	}
	if (cli_http_post(&h, "v1/erase", "application/json", body.data, body.len, &resp, &code) < 0)
		goto out;
	rc = finish(code, &resp, 1);
out:
	if (h.h)
		cli_http_close(&h, &tok);
	buf_release(&tok);
	if (sub.data)
		st_wipe(sub.data, sub.cap);
	if (body.data)
		st_wipe(body.data, body.cap);
	buf_release(&sub);
	buf_release(&body);
	buf_release(&resp);
	return rc;
}

#define EXPORT_TOKENS_MAX 1000

/* --export: tokens one a line (blank lines skipped) into one request. */
static int export_tokens(const struct vopts *o, int npos, char **pos)
{
	struct buf in = BUF_INIT(EXPORT_TOKENS_MAX * 80), body = BUF_INIT(EXPORT_TOKENS_MAX * 48 + 1024);
	struct buf resp = BUF_INIT(64u << 20);
	long code = 0;
	int r, rc = 1, n = 0, line = 0;

	if (npos > 1) {
		cli_err("--export: expected at most one FILE (- or none: standard input)");
		rc = EXIT_USAGE;
		goto out;
	}
	r = read_file(npos == 1 && strcmp(pos[0], "-") ? pos[0] : "/dev/stdin", in.max, &in);
	if (r < 0) {
		cli_err("%s: %s", npos == 1 ? pos[0] : "standard input",
			r == ST_ELIMIT ? "more than 1000 tokens' worth of lines" : st_strerror(r));
		goto out;
	}
	if (buf_puts(&body, "{\"tenant\":") < 0 || json_put_str(&body, o->tenant, strlen(o->tenant)) < 0 ||
	    buf_puts(&body, ",\"reason\":") < 0 || json_put_str(&body, o->reason, strlen(o->reason)) < 0 ||
	    buf_puts(&body, ",\"tokens\":[") < 0)
		goto toobig;
	for (size_t at = 0; at < in.len;) {
		const uint8_t *nl = memchr(in.data + at, '\n', in.len - at);
		size_t e = nl ? (size_t)(nl - in.data) : in.len, len = e - at;
		line++;
		if (len && in.data[at + len - 1] == '\r')
			len--;
		if (len) {
			if (len != 36 || memcmp(in.data + at, "tok_", 4)) {
				cli_err("line %d: expected a token, tok_ and 32 base32 characters", line);
				goto out;
			}
			if (++n > EXPORT_TOKENS_MAX) {
				cli_err("line %d: more than %d tokens; split the export", line, EXPORT_TOKENS_MAX);
				goto out;
			}
			if ((n > 1 && buf_putc(&body, ',') < 0) ||
			    json_put_str(&body, (const char *)in.data + at, len) < 0)
				goto toobig;
		}
		at = e + 1;
	}
	if (n == 0) {
		cli_err("--export: no tokens in the input");
		goto out;
	}
	if (buf_puts(&body, "]}") < 0)
		goto toobig;
	struct cli_call call = {
		.url = o->url, .token_file = o->token_file, .cacert = o->cacert,
		.agent = "sealtrail-detokenize", .method = "POST", .path = "v1/detokenize/export",
		.body = body.data, .len = body.len,
	};
	rc = cli_http_call(&call, &resp, &code);
	goto out;
toobig:
	cli_err("the request does not fit its buffer");
out:
	if (resp.data)
		st_wipe(resp.data, resp.cap);
	buf_release(&in);
	buf_release(&body);
	buf_release(&resp);
	return rc;
}

int cmd_detokenize(int argc, char **argv)
{
	static const char usage[] =
		"usage: sealtrail detokenize --url URL --tenant T [--token-file F] [--cacert F] TOKEN\n"
		"       sealtrail detokenize --url URL --tenant T --export --reason WHY [FILE|-]\n"
		"The value behind one vault token (legal or admin; audited). Exit 3 when erased.\n"
		"--export: the values of the tokens in FILE (or standard input), one a line, at most\n"
		"1000, as one explicit export request whose reason is kept in the audit trail.\n";
	struct vopts o;
	struct cli_http h = { 0 };
	struct buf tok = BUF_INIT(CLI_TOKEN_MAX), path = BUF_INIT(512), resp = BUF_INIT(1 << 20);
	long code = 0;
	int rc = EXIT_USAGE;

	if (!parse(argc, argv, &o, usage, false))
		goto out;
	if (o.export) {
		rc = export_tokens(&o, argc - optind, argv + optind);
		goto out;
	}
	if (optind != argc - 1) {
		cli_err("expected one TOKEN (tok_...)");
		fputs(usage, stderr);
		goto out;
	}
	const char *t = argv[optind];
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_') ||
		    p - t > 64) {
			cli_err("TOKEN: expected tok_ and base32 characters, found \"%.64s\"", t);
			goto out;
		}
	for (const char *p = o.tenant; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-') || p - o.tenant >= 64) {
			cli_err("--tenant: expected [A-Za-z0-9_.-]{1,64}, found \"%.64s\"", o.tenant);
			goto out;
		}
	rc = 1;
	if (!cli_http_open(&h, &tok, o.url, o.token_file, o.cacert, "sealtrail-detokenize") ||
	    buf_printf(&path, "v1/detokenize?tenant=%s&token=%s", o.tenant, t) < 0 ||
	    buf_cstr(&path) < 0 ||
	    cli_http_get(&h, (const char *)path.data, &resp, &code) < 0)
		goto out;
	rc = finish(code, &resp, 3);
out:
	if (h.h)
		cli_http_close(&h, &tok);
	buf_release(&tok);
	buf_release(&path);
	if (resp.data)
		st_wipe(resp.data, resp.cap);
	buf_release(&resp);
	return rc;
}
