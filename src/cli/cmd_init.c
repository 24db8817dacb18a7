/*
 * cmd_init.c - sealtrail init: create a log and print its verifier key.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>
#include <string.h>

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "origin", required_argument, NULL, 'o' },
		{ "segment-size", required_argument, NULL, 's' },
		{ "max-entry", required_argument, NULL, 'm' },
		{ "max-depth", required_argument, NULL, 'D' },
		{ "max-members", required_argument, NULL, 'M' },
		{ "max-string", required_argument, NULL, 'S' },
		{ "max-tenants", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_init_options o = { 0 };
	struct event_limits lim;
	struct buf vkey = BUF_INIT(4096);
	const char *dir = NULL;
	char err[1024] = "";
	uint64_t v;
	int c, r;

	event_limits_default(&lim);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'o': o.origin = optarg; break;
		case 's':
			if (!cli_u64(optarg, "--segment-size", &o.segment_max))
				return EXIT_USAGE;
			break;
		case 'm':
			if (!cli_u64(optarg, "--max-entry", &v))
				return EXIT_USAGE;
			lim.max_entry = (size_t)v;
			o.limits = &lim;
			break;
		case 'D':
			if (!cli_u64(optarg, "--max-depth", &v) || v == 0 || v > 256) {
				cli_err("--max-depth: must be 1..256");
				return EXIT_USAGE;
			}
			lim.max_depth = (uint32_t)v;
			o.limits = &lim;
			break;
		case 'M':
			if (!cli_u64(optarg, "--max-members", &v) || v == 0 || v > 2048) {
				cli_err("--max-members: must be 1..2048");
				return EXIT_USAGE;
			}
			lim.max_members = (uint32_t)v;
			o.limits = &lim;
			break;
		case 'S':
			if (!cli_u64(optarg, "--max-string", &v) || v == 0 || v > 65535) {
				cli_err("--max-string: must be 1..65535");
				return EXIT_USAGE;
			}
			lim.max_string = (size_t)v;
			o.limits = &lim;
			break;
		case 'T':
			if (!cli_u64(optarg, "--max-tenants", &v) || v == 0 || v > 100000000) {
				cli_err("--max-tenants: must be 1..100000000");
				return EXIT_USAGE;
			}
			o.max_tenants = v;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		cli_err("usage: sealtrail init --data DIR [--origin NAME] [--segment-size BYTES]\n"
			"       [--max-entry BYTES] [--max-depth N] [--max-members N] [--max-string BYTES]\n"
			"       [--max-tenants N]");
		return EXIT_USAGE;
	}
	r = log_init(dir, &o, &vkey, err, sizeof(err));
	if (r < 0) {
		cli_err("init %s: %s", dir, err[0] ? err : st_strerror(r));
		buf_release(&vkey);
		return 1;
	}
	fprintf(stderr, "sealtrail: created log in %s; its verifier key:\n", dir);
	cli_write(vkey.data, vkey.len);
	fputc('\n', stdout);
	buf_release(&vkey);
	return 0;
}
