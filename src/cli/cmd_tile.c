/*
 * cmd_tile.c - sealtrail tile: print a tlog-tiles resource by its path
 * (hash tile or entry bundle), byte for byte what the HTTP API serves.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>
#include <string.h>

int cmd_tile(int argc, char **argv)
{
	struct buf out = BUF_INIT((size_t)64 << 20);
	const char *dir = NULL;
	struct tile_ref t;
	struct log *l;
	int r;

	if (!cli_data_only(argc, argv, &dir) || optind + 1 != argc) {
		cli_err("usage: sealtrail tile --data DIR PATH");
		return EXIT_USAGE;
	}
	if (!tile_path_parse(argv[optind], strlen(argv[optind]), &t)) {
		cli_err("\"%s\" is not a tlog-tiles path (tile/L/N[.p/W] or tile/entries/N[.p/W])",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (!(l = cli_open(dir)))
		return 1;
	r = log_read_tile(l, &t, &out);
	if (r < 0)
		cli_err("%s: %s", argv[optind], r == ST_ERANGE ?
			"the tree does not hold that tile (yet)" : st_strerror(r));
	else
		cli_write(out.data, out.len);
	buf_release(&out);
	log_close(l);
	return r < 0 ? 1 : 0;
}
