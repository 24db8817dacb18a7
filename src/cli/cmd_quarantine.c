/*
 * cmd_quarantine.c - `sealtrail quarantine`: the events that failed their
 * schema, through a running server (docs/QUARANTINE.md).
 *
 *   sealtrail quarantine list     --url URL [--tenant T] [--state S] [--schema NAME/VERSION]
 *                                 [--producer P] [--cursor C] [--limit N]
 *   sealtrail quarantine get      --url URL ID
 *   sealtrail quarantine resubmit --url URL ID
 *   sealtrail quarantine discard  --url URL ID
 *   all: [--token-file F] [--cacert F]; the token from the file or SEALTRAIL_TOKEN
 *
 * Through the server, so each use is checked (admin, within the token's
 * tenants) and meta-audited, and a resubmit goes through the ingest queue
 * like any event. The server's JSON answer is printed as it is.
 *
 * Exit status: 0 done; 1 refused or failed (the server's error on
 * stderr: e.g. 422 with the violations a resubmit still has, 409 for an
 * entry that is no longer pending); 2 usage.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char usage_text[] =
	"usage: sealtrail quarantine list     --url URL [--tenant T] [--state pending|discarded|resubmitted|all]\n"
	"                                     [--schema NAME/VERSION] [--producer P] [--cursor C] [--limit N]\n"
	"       sealtrail quarantine get      --url URL ID\n"
	"       sealtrail quarantine resubmit --url URL ID\n"
	"       sealtrail quarantine discard  --url URL ID\n"
	"       (each: [--token-file F] [--cacert F]; the token from the file or SEALTRAIL_TOKEN)\n";

enum { O_TENANT, O_STATE, O_SCHEMA, O_PRODUCER, O_CURSOR, O_LIMIT, O_N };
static const char *const filter_name[O_N] = { "tenant", "state", "schema", "producer", "cursor", "limit" };

int cmd_quarantine(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "token-file", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'c' }, { "tenant", required_argument, NULL, 'T' },
		{ "state", required_argument, NULL, 's' }, { "schema", required_argument, NULL, 'S' },
		{ "producer", required_argument, NULL, 'p' }, { "cursor", required_argument, NULL, 'C' },
		{ "limit", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token_file = NULL, *cacert = NULL, *filter[O_N] = { 0 };
	struct buf resp = BUF_INIT(64u << 20), path = BUF_INIT(1024);
	uint64_t id = 0;
	long code = 0;
	int c, rc = EXIT_USAGE;
	bool any_filter = false;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	const char *sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 't': token_file = optarg; break;
		case 'c': cacert = optarg; break;
		case 'T': filter[O_TENANT] = optarg; any_filter = true; break;
		case 's': filter[O_STATE] = optarg; any_filter = true; break;
		case 'S': filter[O_SCHEMA] = optarg; any_filter = true; break;
		case 'p': filter[O_PRODUCER] = optarg; any_filter = true; break;
		case 'C': filter[O_CURSOR] = optarg; any_filter = true; break;
		case 'l': filter[O_LIMIT] = optarg; any_filter = true; break;
		case 'h': fputs(usage_text, stdout); rc = 0; goto out;
		default: fputs(usage_text, stderr); goto out;
		}
	}
	bool list = !strcmp(sub, "list"), get = !strcmp(sub, "get"), resubmit = !strcmp(sub, "resubmit"),
	     discard = !strcmp(sub, "discard");
	int npos = argc - optind;
	if (!(list || get || resubmit || discard)) {
		cli_err("quarantine: unknown subcommand \"%.40s\" (list, get, resubmit, discard)", sub);
		fputs(usage_text, stderr);
		goto out;
	}
	if (!url || npos != (list ? 0 : 1)) {
		fputs(usage_text, stderr);
		goto out;
	}
	if (!list && any_filter) {
		cli_err("quarantine %s: --tenant, --state, --schema, --producer, --cursor and --limit are for list", sub);
		goto out;
	}
	if (!list && !cli_u64(argv[optind], "ID", &id))
		goto out;
	if (!list && id == 0) {
		cli_err("ID: expected a quarantine entry id (1 or more), found 0");
		goto out;
	}
	if (list) {
		buf_puts(&path, "v1/quarantine?");
		for (int i = 0; i < O_N; i++)
			if (filter[i])
				cli_put_param(&path, filter_name[i], filter[i]);
		if (path.data[path.len - 1] == '?')
			path.len--;
	} else {
		buf_printf(&path, "v1/quarantine/%llu%s", (unsigned long long)id,
			   resubmit ? "/resubmit" : discard ? "/discard" : "");
	}
	if (buf_cstr(&path) < 0) {
		cli_err("out of memory");
		rc = 1;
		goto out;
	}
	struct cli_call call = {
		.url = url, .token_file = token_file, .cacert = cacert, .agent = "sealtrail-quarantine",
		.method = resubmit || discard ? "POST" : NULL, .path = (const char *)path.data,
		.body = "", .len = 0,
	};
	rc = cli_http_call(&call, &resp, &code);
out:
	buf_release(&resp);
	buf_release(&path);
	return rc;
}
