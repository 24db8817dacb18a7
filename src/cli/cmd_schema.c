/*
 * cmd_schema.c - `sealtrail schema put|get|list`: the schema registry
 * through a running server (docs/SCHEMAS.md).
 *
 *   sealtrail schema put  --url URL NAME/VERSION FILE [--breaking]
 *   sealtrail schema get  --url URL NAME/VERSION
 *   sealtrail schema list --url URL
 *   all: [--token-file F] [--cacert F]; the token from the file or SEALTRAIL_TOKEN
 *
 * Through the server, so a publish is checked (admin), compatibility-
 * checked against the version before it, and audited. Exit status: 0
 * done; 1 refused (the server's answer on stderr, e.g. the breaking
 * changes); 2 usage.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/util.h"
#include "policy/registry.h"
#include "policy/schema.h"

static const char usage_text[] =
	"usage: sealtrail schema put  --url URL NAME/VERSION FILE [--breaking]\n"
	"       sealtrail schema get  --url URL NAME/VERSION\n"
	"       sealtrail schema list --url URL\n"
	"       (each: [--token-file F] [--cacert F]; the token from the file or SEALTRAIL_TOKEN)\n";

int cmd_schema(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "token-file", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'c' }, { "breaking", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *token_file = NULL, *cacert = NULL;
	bool breaking = false;
	struct buf body = BUF_INIT(SCHEMA_MAX_BYTES + 1);
	struct buf resp = BUF_INIT(64u << 20), path = BUF_INIT(256);
	char name[REGISTRY_NAME_MAX + 1];
	uint32_t ver = 0;
	long code = 0;
	int c, rc = EXIT_USAGE;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 't': token_file = optarg; break;
		case 'c': cacert = optarg; break;
		case 'b': breaking = true; break;
		default: fputs(usage_text, stderr); goto out;
		}
	}
	int npos = argc - optind;
	bool put = !strcmp(sub, "put"), get = !strcmp(sub, "get"), list = !strcmp(sub, "list");
	if (!url || !(put || get || list) || npos != (put ? 2 : get ? 1 : 0) || (breaking && !put)) {
		fputs(usage_text, stderr);
		goto out;
	}
	if (!list && !registry_parse_ref(argv[optind], strlen(argv[optind]), name, &ver)) {
		cli_err("expected NAME/VERSION (name [a-z0-9][a-z0-9._-]{0,63}, version 1..999999), found \"%.80s\"",
			argv[optind]);
		goto out;
	}
	rc = 1;
	if (put) {
		int r = read_file(argv[optind + 1], SCHEMA_MAX_BYTES, &body);
		if (r < 0) {
			cli_err("%s: %s", argv[optind + 1],
				r == ST_ELIMIT ? "larger than a schema may be (256 KiB)" : st_strerror(r));
			goto out;
		}
	}
	if ((list ? buf_puts(&path, "v1/schemas") :
		    buf_printf(&path, "v1/schemas/%s/%u%s", name, ver, breaking ? "?breaking=true" : "")) < 0 ||
	    buf_cstr(&path) < 0)
		goto out;
	struct cli_call call = {
		.url = url, .token_file = token_file, .cacert = cacert, .agent = "sealtrail-schema",
		.method = put ? "PUT" : NULL, .path = (const char *)path.data,
		.ctype = "application/schema+json", .body = body.data, .len = body.len,
	};
	rc = cli_http_call(&call, &resp, &code);
out:
	buf_release(&body);
	buf_release(&resp);
	buf_release(&path);
	return rc;
}
