/*
 * cmd_dump.c - sealtrail dump: human-readable records, one block per
 * entry: seq, tenant chain position, leaf hash, then the entry itself.
 */
#include "cli/cli.h"
#include "common/codec.h"
#include "common/util.h"

#include <getopt.h>

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "from", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct buf e = BUF_INIT(1 << 20);
	const char *dir = NULL;
	uint64_t from = 0, count = UINT64_MAX;
	struct log *l;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f':
			if (!cli_u64(optarg, "--from", &from))
				return EXIT_USAGE;
			break;
		case 'n':
			if (!cli_u64(optarg, "--count", &count))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		cli_err("usage: sealtrail dump --data DIR [--from SEQ] [--count N]");
		return EXIT_USAGE;
	}
	if (!(l = cli_open(dir)))
		return 1;
	printf("# log %s: %llu entries\n", log_origin(l), (unsigned long long)log_size(l));
	for (uint64_t seq = from; seq < log_size(l) && seq - from < count; seq++) {
		struct stored_info si;
		struct event_error ee;
		uint8_t leaf[HASH_SIZE];
		char h[BASE64_LEN(HASH_SIZE) + 1];

		buf_reset(&e);
		if ((r = log_read_entry(l, seq, &e)) < 0) {
			cli_err("entry %llu: %s", (unsigned long long)seq, st_strerror(r));
			break;
		}
		hash_leaf(e.data, e.len, leaf);
		base64_encode(leaf, HASH_SIZE, h);
		if (event_parse_stored(e.data, e.len, log_limits(l), &si, &ee) == 0)
			printf("seq %llu  tenant %.*s  tseq %llu  %zu bytes  leaf %s\n",
			       (unsigned long long)seq, (int)si.tenant_len, si.tenant,
			       (unsigned long long)si.tseq, e.len, h);
		else
			printf("seq %llu  (malformed entry)  %zu bytes  leaf %s\n",
			       (unsigned long long)seq, e.len, h);
		cli_write(e.data, e.len);
		fputs("\n", stdout);
	}
	buf_release(&e);
	log_close(l);
	return r < 0 ? 1 : 0;
}
