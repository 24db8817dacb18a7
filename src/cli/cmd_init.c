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
		{ NULL, 0, NULL, 0 },
	};
	struct log_init_options o = { NULL, 0, NULL };
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
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		cli_err("usage: sealtrail init --data DIR [--origin NAME] [--segment-size BYTES] [--max-entry BYTES]");
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
