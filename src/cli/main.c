/*
 * main.c - the sealtrail command: dispatch to one subcommand per file,
 * and the helpers they share.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: sealtrail <command> [options]\n"
	"\n"
	"  serve --data DIR [--listen HOST:PORT] [--config FILE] [--init]\n"
	"                                      run the HTTP server (--init: create the log if absent)\n"
	"  query (--url URL | --data DIR) [--sort -time|time|-seq|seq] [--limit N] [--all]\n"
	"       [--json|--csv] 'QUERY'         search (docs/QUERY.md); a table, JSON lines or CSV\n"
	"  stats (--url URL | --data DIR) [--by FIELD] [--top K] [--interval 5m] ['QUERY']\n"
	"                                      counts by a field's values and/or a time histogram\n"
	"  timeline (--url URL | --data DIR) [--trace|--parent] [--skew 5m] ID\n"
	"                                      every event of one request, by event time, skew flagged\n"
	"  tail (--url URL | --data DIR) [-f] [-n N] ['QUERY']\n"
	"                                      the newest events; -f follows new ones (--url)\n"
	"  reindex --data DIR                  rebuild the search index from the log\n"
	"  erase --url URL --tenant T --subject S|-   crypto-shred a data subject's vault entries (legal, admin)\n"
	"  detokenize --url URL --tenant T TOKEN     the value behind one vault token (legal, admin)\n"
	"  schema put|get|list --url URL [NAME/VERSION [FILE]] [--breaking]   the schema registry\n"
	"  quarantine list|get|resubmit|discard --url URL [ID] [--tenant T] [--state S] ...\n"
	"                                      events that failed their schema (admin)\n"
	"  emit --url URL (--action A [--actor ID] [--resource TYPE:ID] [--outcome O] [--meta K=V]...\n"
	"       | --json '{...}' | -) [--spool DIR] [--timeout 30s]\n"
	"                                      send events through libsealtrail's spool (docs/CLIENT.md)\n"
	"  import --url URL --format ndjson|k8s [--state FILE] FILE...\n"
	"                                      audit records from files (gzip too), resumable\n"
	"  init --data DIR [--origin NAME] [--segment-size BYTES] [--max-entry BYTES]\n"
	"       [--max-depth N] [--max-members N] [--max-string BYTES] [--max-tenants N]\n"
	"                                      create a log; print its verifier key\n"
	"  append --data DIR [--batch N] [--producer NAME] [FILE|-]\n"
	"                                      append NDJSON events; print one ack per event\n"
	"  checkpoint --data DIR [--force]     issue a checkpoint if the tree grew; print the latest\n"
	"  entry --data DIR SEQ                print the stored entry bytes exactly\n"
	"  proof inclusion --data DIR SEQ [--size N]   tlog-proof@v1 for entry SEQ\n"
	"  proof consistency --data DIR OLD NEW        base64 hashes, one per line\n"
	"  verify --data DIR [--key VKEY]... [--trusted CHECKPOINT-FILE]...\n"
	"                                      recompute everything; exit 0 when it all verifies\n"
	"  verify --url URL --key VKEY [--token-file F] [--sample N] [--state FILE] [--cacert F]\n"
	"                                      verify a remote log through its tiles; remember its checkpoint\n"
	"  dump --data DIR [--from SEQ] [--count N]    human-readable records\n"
	"  key rotate --data DIR               sign with a new key; old keys stay published\n"
	"  key list --data DIR                 every verifier key, oldest first\n"
	"  tile --data DIR PATH                a tlog-tiles resource, e.g. tile/0/000.p/5\n"
	"  token create --data DIR --role ROLE [--tenant T]... [--all-tenants] [--name N]\n"
	"       [--expires 90d|RFC3339]        create an API token; print its secret once\n"
	"  token list --data DIR [--json]      every token record (never the secrets)\n"
	"  token revoke --data DIR ID|NAME     revoke a token; the record stays\n";

void cli_err(const char *fmt, ...)
{
	va_list ap;
	fputs("sealtrail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_u64(const char *s, const char *what, uint64_t *ret)
{
	if (!st_parse_u64(s, strlen(s), ret)) {
		cli_err("%s: expected a non-negative decimal integer, found \"%s\"", what, s);
		return false;
	}
	return true;
}

struct log *cli_open(const char *dir)
{
	char err[1024] = "";
	struct log *l = NULL;
	int r = log_open(&l, dir, err, sizeof(err));
	if (r < 0) {
		cli_err("cannot open log %s: %s", dir, err[0] ? err : st_strerror(r));
		return NULL;
	}
	return l;
}

bool cli_data_only(int argc, char **argv, const char **dir)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*dir = NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return false;
		*dir = optarg;
	}
	return *dir != NULL;
}

bool cli_write(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) {
		cli_err("writing to standard output failed");
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "init", cmd_init }, { "append", cmd_append },
		{ "checkpoint", cmd_checkpoint }, { "entry", cmd_entry },
		{ "proof", cmd_proof }, { "verify", cmd_verify },
		{ "dump", cmd_dump }, { "key", cmd_key }, { "tile", cmd_tile },
		{ "token", cmd_token }, { "serve", cmd_serve },
		{ "query", cmd_query }, { "stats", cmd_stats }, { "timeline", cmd_timeline },
		{ "tail", cmd_tail }, { "reindex", cmd_reindex },
		{ "erase", cmd_erase }, { "detokenize", cmd_detokenize }, { "schema", cmd_schema },
		{ "quarantine", cmd_quarantine }, { "import", cmd_import }, { "emit", cmd_emit },
	};

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	cli_err("unknown command \"%s\"", argv[1]);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
