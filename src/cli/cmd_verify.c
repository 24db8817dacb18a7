/*
 * cmd_verify.c - sealtrail verify: recompute everything, name the first
 * mismatch, exit 0 only when the whole log verifies.
 */
#include "cli/cli.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "log/verify.h"

#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_TRUST 64

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "trusted", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys[MAX_TRUST], *trusted[MAX_TRUST];
	struct verify_options o = { keys, 0, trusted, 0, NULL };
	struct verify_result res;
	const char *dir = NULL;
	bool quiet = false;
	int c, r;

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
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		cli_err("usage: sealtrail verify --data DIR [--key VKEY]... [--trusted FILE]... [--quiet]");
		return EXIT_USAGE;
	}
	if (!quiet && isatty(2))
		o.progress = stderr;
	int64_t t0 = now_monotonic_ns();
	r = log_verify(dir, &o, &res);
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
	       o.nkeys ? "" : "; signatures checked against the log's own keys/public "
			      "(pass --key to check against a key you trust)");
	return 0;
}
