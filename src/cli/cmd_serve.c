/*
 * cmd_serve.c - sealtrail serve: run the HTTP server (src/server) until
 * SIGTERM or SIGINT, then drain and exit 0.
 */
#include "cli/cli.h"
#include "server/server.h"

#include <getopt.h>

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "init", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_options o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'c': o.config = optarg; break;
		case 'i': o.init_if_missing = true; break;
		default: goto usage;
		}
	}
	if (!o.dir || optind != argc)
		goto usage;
	return server_run(&o) < 0 ? 1 : 0;
usage:
	cli_err("usage: sealtrail serve --data DIR [--listen HOST:PORT[,HOST:PORT]] [--config FILE] [--init]");
	return EXIT_USAGE;
}
