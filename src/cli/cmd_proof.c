/*
 * cmd_proof.c - sealtrail proof inclusion|consistency.
 *
 * inclusion: a C2SP tlog-proof@v1 file for entry SEQ against the latest
 * checkpoint, or the checkpoint of size N (--size), which must cover SEQ.
 * consistency: the RFC 9162 proof that size OLD is a prefix of size NEW,
 * as base64 hashes, one per line.
 */
#include "cli/cli.h"
#include "log/proof.h"
#include "common/util.h"

#include <getopt.h>
#include <string.h>

int cmd_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct buf out = BUF_INIT(2 * NOTE_MAX_SIZE);
	const char *dir = NULL, *kind;
	uint64_t size = 0, a, b = 0;
	struct log *l = NULL;
	int c, r = 0, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's':
			if (!cli_u64(optarg, "--size", &size))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!dir || optind >= argc)
		goto usage;
	kind = argv[optind];
	if (!strcmp(kind, "inclusion")) {
		if (optind + 2 != argc || !cli_u64(argv[optind + 1], "SEQ", &a))
			goto usage;
	} else if (!strcmp(kind, "consistency")) {
		if (optind + 3 != argc || !cli_u64(argv[optind + 1], "OLD", &a) ||
		    !cli_u64(argv[optind + 2], "NEW", &b))
			goto usage;
	} else {
		goto usage;
	}
	if (!(l = cli_open(dir)))
		goto out;
	if (!strcmp(kind, "inclusion")) {
		uint64_t cpsize = 0;
		r = log_proof_inclusion(l, a, size, &out, &cpsize);
		if (r == ST_ENOTFOUND) {
			cli_err("no checkpoint of size %llu (see sealtrail checkpoint)",
				(unsigned long long)size);
			goto out;
		}
		if (r == ST_ERANGE) {
			cli_err("entry %llu is not in the checkpoint of size %llu%s",
				(unsigned long long)a, (unsigned long long)cpsize,
				size ? "" : " (issue a newer one with sealtrail checkpoint)");
			goto out;
		}
		if (r < 0)
			goto fail;
	} else {
		r = log_proof_consistency(l, a, b, &out);
		if (r == ST_ERANGE) {
			cli_err("consistency: need 0 < OLD <= NEW <= %llu (the tree size), "
				"found OLD %llu NEW %llu", (unsigned long long)log_size(l),
				(unsigned long long)a, (unsigned long long)b);
			goto out;
		}
		if (r < 0)
			goto fail;
	}
	cli_write(out.data, out.len);
	rc = 0;
	goto out;
fail:
	cli_err("proof %s: %s", kind, st_strerror(r));
	goto out;
usage:
	cli_err("usage: sealtrail proof inclusion --data DIR SEQ [--size N]\n"
		"       sealtrail proof consistency --data DIR OLD NEW");
	rc = EXIT_USAGE;
out:
	log_close(l);
	buf_release(&out);
	return rc;
}
