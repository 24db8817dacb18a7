/*
 * cmd_checkpoint.c - sealtrail checkpoint: issue a checkpoint if the tree
 * grew (or --force), print the latest signed checkpoint.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct buf out = BUF_INIT(NOTE_MAX_SIZE);
	const char *dir = NULL;
	bool force = false;
	struct log *l;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': force = true; break;
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		cli_err("usage: sealtrail checkpoint --data DIR [--force]");
		return EXIT_USAGE;
	}
	if (!(l = cli_open(dir)))
		return 1;
	r = log_checkpoint(l, force, &out);
	if (r < 0)
		cli_err("checkpoint: %s", st_strerror(r));
	else
		cli_write(out.data, out.len);
	buf_release(&out);
	log_close(l);
	return r < 0 ? 1 : 0;
}
