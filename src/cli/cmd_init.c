/*
 * cmd_init.c - sealtrail init: create a log and print its verifier key.
 */
#include "cli/cli.h"
#include "common/util.h"

#include <getopt.h>
#include <string.h>

/* A decimal option in [lo, hi], or an error naming the option and range. */
static bool ranged(const char *arg, const char *name, uint64_t lo, uint64_t hi,
		   uint64_t *ret)
{
	uint64_t v;
	if (!cli_u64(arg, name, &v))
		return false;
	if (v < lo || v > hi) {
		cli_err("%s: must be %llu..%llu, found %llu", name, (unsigned long long)lo,
			(unsigned long long)hi, (unsigned long long)v);
		return false;
	}
	*ret = v;
	return true;
}

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
	uint64_t v = 0;
	int c, r;

	event_limits_default(&lim);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'd': dir = optarg; break;
		case 'o': o.origin = optarg; break;
		case 's': ok = cli_u64(optarg, "--segment-size", &o.segment_max); break;
		case 'm': ok = ranged(optarg, "--max-entry", EVENT_SERVER_RESERVE + 1, 65535, &v); lim.max_entry = (size_t)v; break;
		case 'D': ok = ranged(optarg, "--max-depth", 1, 256, &v); lim.max_depth = (uint32_t)v; break;
		case 'M': ok = ranged(optarg, "--max-members", 1, 2048, &v); lim.max_members = (uint32_t)v; break;
		case 'S': ok = ranged(optarg, "--max-string", 1, 65535, &v); lim.max_string = (size_t)v; break;
		case 'T': ok = ranged(optarg, "--max-tenants", 1, 100000000, &o.max_tenants); break;
		default: return EXIT_USAGE;
		}
		if (!ok)
			return EXIT_USAGE;
		if (strchr("mDMS", c))
			o.limits = &lim;
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
