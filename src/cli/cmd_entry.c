/*
 * cmd_entry.c - sealtrail entry: print the stored bytes of one entry,
 * exactly (no newline is added: the bytes are the Merkle leaf data).
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>

int cmd_entry(int argc, char **argv)
{
	struct buf e = BUF_INIT(1 << 20);
	const char *dir = NULL;
	uint64_t seq;
	struct log *l;
	int r;

	if (!cli_data_only(argc, argv, &dir) || optind + 1 != argc) {
		cli_err("usage: sealtrail entry --data DIR SEQ");
		return EXIT_USAGE;
	}
	if (!cli_u64(argv[optind], "SEQ", &seq))
		return EXIT_USAGE;
	if (!(l = cli_open(dir)))
		return 1;
	r = log_read_entry(l, seq, &e);
	if (r == ST_ERANGE)
		cli_err("entry %llu: the log holds %llu entries", (unsigned long long)seq,
			(unsigned long long)log_size(l));
	else if (r < 0)
		cli_err("entry %llu: %s", (unsigned long long)seq, st_strerror(r));
	else
		cli_write(e.data, e.len);
	buf_release(&e);
	log_close(l);
	return r < 0 ? 1 : 0;
}
