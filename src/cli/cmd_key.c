/*
 * cmd_key.c - sealtrail key rotate|list.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>
#include <string.h>

int cmd_key(int argc, char **argv)
{
	struct buf out = BUF_INIT(1 << 20);
	const char *dir = NULL, *verb;
	struct log *l;
	int r;

	if (!cli_data_only(argc, argv, &dir) || optind + 1 != argc ||
	    (strcmp(argv[optind], "rotate") && strcmp(argv[optind], "list"))) {
		cli_err("usage: sealtrail key rotate|list --data DIR");
		return EXIT_USAGE;
	}
	verb = argv[optind];
	if (!strcmp(verb, "list")) {
		r = log_public_keys(dir, &out);
		if (r < 0)
			cli_err("%s/keys/public: %s", dir, st_strerror(r));
		else
			cli_write(out.data, out.len);
		buf_release(&out);
		return r < 0 ? 1 : 0;
	}
	if (!(l = cli_open(dir)))
		return 1;
	r = log_key_rotate(l, &out);
	if (r < 0) {
		cli_err("key rotate: %s", st_strerror(r));
	} else {
		fprintf(stderr, "sealtrail: now signing with a new key; the old verifier "
			"keys stay in %s/keys/public. New verifier key:\n", dir);
		cli_write(out.data, out.len);
		fputc('\n', stdout);
	}
	buf_release(&out);
	log_close(l);
	return r < 0 ? 1 : 0;
}
