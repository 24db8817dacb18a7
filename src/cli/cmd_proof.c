/*
 * cmd_proof.c - sealtrail proof inclusion|consistency.
 *
 * inclusion: a C2SP tlog-proof@v1 file for entry SEQ against the latest
 * checkpoint, or the checkpoint of size N (--size), which must cover SEQ.
 * consistency: the RFC 9162 proof that size OLD is a prefix of size NEW,
 * as base64 hashes, one per line.
 */
#include "cli/cli.h"
#include "common/codec.h"
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
	static uint8_t hashes[PROOF_MAX_HASHES][HASH_SIZE];
	struct buf note = BUF_INIT(NOTE_MAX_SIZE), out = BUF_INIT(2 * NOTE_MAX_SIZE);
	const char *dir = NULL, *kind;
	uint64_t size = 0, a, b = 0;
	struct log *l = NULL;
	size_t n = 0;
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
		struct checkpoint cp;
		r = log_read_checkpoint(l, size, &note);
		if (r == ST_ENOTFOUND) {
			cli_err("no checkpoint of size %llu (see sealtrail checkpoint)",
				(unsigned long long)size);
			goto out;
		}
		if (r < 0)
			goto fail;
		/* Our own note: parse it to learn its size. */
		const char *t = (const char *)note.data;
		const char *sep = memmem(t, note.len, "\n\n", 2);
		if (!sep || checkpoint_parse(t, (size_t)(sep - t) + 1, &cp) < 0) {
			r = ST_ECORRUPT;
			goto fail;
		}
		if (a >= cp.size) {
			cli_err("entry %llu is not in the checkpoint of size %llu%s",
				(unsigned long long)a, (unsigned long long)cp.size,
				size ? "" : " (issue a newer one with sealtrail checkpoint)");
			goto out;
		}
		if ((r = tree_inclusion_proof(log_tree(l), a, cp.size, hashes, &n)) < 0 ||
		    (r = tlog_proof_format(a, (const uint8_t(*)[HASH_SIZE])hashes, n, NULL, 0,
					   note.data, note.len, &out)) < 0)
			goto fail;
	} else {
		if (a == 0 || a > b || b > log_size(l)) {
			cli_err("consistency: need 0 < OLD <= NEW <= %llu (the tree size), "
				"found OLD %llu NEW %llu", (unsigned long long)log_size(l),
				(unsigned long long)a, (unsigned long long)b);
			goto out;
		}
		if ((r = tree_consistency_proof(log_tree(l), a, b, hashes, &n)) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			char h[BASE64_LEN(HASH_SIZE) + 1];
			base64_encode(hashes[i], HASH_SIZE, h);
			buf_printf(&out, "%s\n", h);
		}
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
	buf_release(&note);
	buf_release(&out);
	return rc;
}
