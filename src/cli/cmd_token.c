/*
 * cmd_token.c - sealtrail token create|list|revoke: manage DIR/tokens
 * offline. It never opens the log nor takes DIR/lock, so it works while
 * the server runs (which picks the change up on its next reload); writers
 * serialize on DIR/tokens.lock inside src/policy/token.c.
 *
 * create prints the secret alone on stdout's first line, so
 * TOKEN=$(sealtrail token create ... | head -1) works; everything else
 * goes to stderr. The secret is wiped before exit and never printed again.
 */
#include "cli/cli.h"
#include "common/fileio.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "policy/token.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: sealtrail token create --data DIR --role ROLE [--tenant T]... [--all-tenants]\n"
	"                              [--name NAME] [--expires 90d|12h|30m|45s|RFC3339]\n"
	"                              [--context region=R,environment=E,cluster=C,service=S]\n"
	"       sealtrail token list --data DIR [--json]\n"
	"       sealtrail token revoke --data DIR ID|NAME\n"
	"roles: producer reader auditor legal admin operator; producer, reader, auditor\n"
	"and legal need --tenant or --all-tenants, admin and operator default to all.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* D = N followed by s, m, h or d (a duration from now), or an RFC 3339
 * time. The result must lie in the future. */
static bool parse_expires(const char *s, int64_t now, int64_t *ret)
{
	size_t n = strlen(s);
	uint64_t v, unit = 0;

	if (n >= 2 && s[0] >= '0' && s[0] <= '9') {
		switch (s[n - 1]) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: break;
		}
	}
	if (unit && st_parse_u64(s, n - 1, &v)) {
		if (v == 0 || v > (uint64_t)(INT64_MAX - now) / 1000000000 / unit) {
			cli_err("--expires: expected a duration from 1s to year 2262, found \"%s\"", s);
			return false;
		}
		*ret = now + (int64_t)(v * unit * 1000000000);
		return true;
	}
	if (!rfc3339_parse(s, n, ret)) {
		cli_err("--expires: expected a duration (90d, 12h, 30m, 45s) or an RFC 3339 time, "
			"found \"%s\"", s);
		return false;
	}
	if (*ret <= now) {
		cli_err("--expires: %s is in the past", s);
		return false;
	}
	return true;
}

static void scope_text(const struct token *t, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = 0;
	if (t->all_tenants) {
		snprintf(out, cap, "*");
		return;
	}
	for (size_t i = 0; i < t->ntenants && o < cap; i++) {
		int w = snprintf(out + o, cap - o, "%s%s", i ? "," : "", t->tenants[i]);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static void time_text(int64_t ns, const char *zero, char out[RFC3339_US_LEN + 1])
{
	if (ns)
		rfc3339_format_us(ns, out);
	else
		snprintf(out, RFC3339_US_LEN + 1, "%s", zero);
}

static int do_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "role", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 't' },
		{ "all-tenants", no_argument, NULL, 'a' },
		{ "name", required_argument, NULL, 'n' },
		{ "expires", required_argument, NULL, 'e' },
		{ "context", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	struct ev_context ctx = { 0 };
	char cbuf[CTX_COUNT * (CONTEXT_VALUE_MAX + 16)];
	const char *dir = NULL, *role = NULL, *expires = NULL;
	const char *tenants[TOKEN_TENANTS_MAX];
	struct token_spec spec = { 0 };
	struct token tok;
	char secret[TOKEN_SECRET_LEN + 1], err[1024] = "";
	char scope[TOKEN_TENANTS_MAX * (TOKEN_TENANT_MAX + 1) + 1];
	char when[RFC3339_US_LEN + 1];
	int64_t now = now_realtime_ns();
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'r': role = optarg; break;
		case 'a': spec.all_tenants = true; break;
		case 'n': spec.name = optarg; break;
		case 'e': expires = optarg; break;
		case 'x':
			if (strlen(optarg) >= sizeof(cbuf)) {
				cli_err("--context: longer than %zu bytes", sizeof(cbuf) - 1);
				return EXIT_USAGE;
			}
			strcpy(cbuf, optarg);
			if (context_parse(&ctx, cbuf, ",", "--context", "", err, sizeof(err)) < 0) {
				cli_err("%s", err);
				return EXIT_USAGE;
			}
			spec.context = &ctx;
			break;
		case 't':
			if (spec.ntenants == TOKEN_TENANTS_MAX) {
				cli_err("--tenant: at most %d per token", TOKEN_TENANTS_MAX);
				return EXIT_USAGE;
			}
			tenants[spec.ntenants++] = optarg;
			break;
		default:
			return usage();
		}
	}
	if (!dir || !role || optind != argc)
		return usage();
	if (role_parse(role, &spec.role) < 0) {
		cli_err("--role: expected producer, reader, auditor, legal, admin or operator, "
			"found \"%s\"", role);
		return EXIT_USAGE;
	}
	if (spec.all_tenants && spec.ntenants) {
		cli_err("--tenant and --all-tenants exclude each other");
		return EXIT_USAGE;
	}
	if (!spec.all_tenants && !spec.ntenants && spec.role != ROLE_ADMIN &&
	    spec.role != ROLE_OPERATOR) {
		cli_err("a %s token needs --tenant T (repeatable) or --all-tenants", role);
		return EXIT_USAGE;
	}
	if (expires && !parse_expires(expires, now, &spec.expires_ns))
		return EXIT_USAGE;
	spec.tenants = tenants;

	r = token_create(dir, &spec, secret, sizeof(secret), &tok, err, sizeof(err));
	if (r < 0) {
		cli_err("token create: %s", err[0] ? err : st_strerror(r));
		return r == ST_EINVAL ? EXIT_USAGE : 1;
	}
	/* Straight to the descriptor, so no stdio buffer keeps a copy. */
	fflush(stdout);
	secret[TOKEN_SECRET_LEN] = '\n';
	r = write_all(STDOUT_FILENO, secret, TOKEN_SECRET_LEN + 1);
	st_wipe(secret, sizeof(secret));
	if (r < 0) {
		cli_err("writing the secret to standard output failed: %s; token %s is "
			"unusable, revoke it", st_strerror(r), tok.id);
		return 1;
	}
	scope_text(&tok, scope, sizeof(scope));
	time_text(tok.expires_ns, "never", when);
	fprintf(stderr,
		"sealtrail: created token %s\n"
		"  name:    %s\n"
		"  role:    %s\n"
		"  tenants: %s\n"
		"  expires: %s\n"
		"sealtrail: the secret above is shown only this once; store it now "
		"(%s/tokens keeps only its SHA-256)\n",
		tok.id, tok.name, role_name(tok.role), scope, when, dir);
	return 0;
}

struct list_ctx {
	bool json;
	int64_t now;
};

static const char *status_of(const struct token *t, int64_t now)
{
	if (t->revoked_ns)
		return "revoked";
	if (t->expires_ns && now >= t->expires_ns)
		return "expired";
	return "active";
}

static int list_one(const struct token *t, void *arg)
{
	const struct list_ctx *lc = arg;
	char scope[TOKEN_TENANTS_MAX * (TOKEN_TENANT_MAX + 1) + 1];
	char created[RFC3339_US_LEN + 1], expires[RFC3339_US_LEN + 1], revoked[RFC3339_US_LEN + 1];

	rfc3339_format_us(t->created_ns, created);
	if (lc->json) {
		/* Names and tenants are from charsets with nothing to escape. */
		printf("{\"id\":\"%s\",\"name\":\"%s\",\"role\":\"%s\",\"all_tenants\":%s,\"tenants\":[",
		       t->id, t->name, role_name(t->role), t->all_tenants ? "true" : "false");
		for (size_t i = 0; i < t->ntenants; i++)
			printf("%s\"%s\"", i ? "," : "", t->tenants[i]);
		time_text(t->expires_ns, "", expires);
		time_text(t->revoked_ns, "", revoked);
		printf("],\"created\":\"%s\",\"expires\":%s%s%s,\"revoked\":%s%s%s,\"status\":\"%s\"}\n",
		       created, t->expires_ns ? "\"" : "null", expires, t->expires_ns ? "\"" : "",
		       t->revoked_ns ? "\"" : "null", revoked, t->revoked_ns ? "\"" : "",
		       status_of(t, lc->now));
	} else {
		scope_text(t, scope, sizeof(scope));
		time_text(t->expires_ns, "never", expires);
		time_text(t->revoked_ns, "", revoked);
		printf("%-12s  %-24s  %-8s  %-20s  %-27s  %-27s  %s%s%s\n", t->id, t->name,
		       role_name(t->role), scope, created, expires, status_of(t, lc->now),
		       t->revoked_ns ? " " : "", revoked);
	}
	return ferror(stdout) ? -EIO : 0;
}

static int do_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_ctx lc = { false, now_realtime_ns() };
	const char *dir = NULL;
	char err[1024] = "";
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'j')
			lc.json = true;
		else
			return usage();
	}
	if (!dir || optind != argc)
		return usage();
	if (!lc.json)
		printf("%-12s  %-24s  %-8s  %-20s  %-27s  %-27s  %s\n", "ID", "NAME", "ROLE",
		       "TENANTS", "CREATED", "EXPIRES", "STATUS");
	r = token_list(dir, list_one, &lc, err, sizeof(err));
	if (r < 0) {
		cli_err("token list: %s", err[0] ? err : st_strerror(r));
		return 1;
	}
	if (fflush(stdout) != 0) {
		cli_err("writing to standard output failed");
		return 1;
	}
	return 0;
}

static int do_revoke(int argc, char **argv)
{
	const char *dir = NULL;
	char err[1024] = "";
	int r;

	if (!cli_data_only(argc, argv, &dir) || optind + 1 != argc || !argv[optind][0])
		return usage();
	r = token_revoke(dir, argv[optind], err, sizeof(err));
	if (r < 0) {
		cli_err("token revoke: %s", err[0] ? err : st_strerror(r));
		return r == ST_EINVAL ? EXIT_USAGE : 1;
	}
	if (r == 1)
		cli_err("%s", err);
	else
		cli_err("revoked token %s; the server refuses it from its next reload", argv[optind]);
	return 0;
}

int cmd_token(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "create"))
		return do_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return do_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "revoke"))
		return do_revoke(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	cli_err("token: unknown subcommand \"%s\"", argv[1]);
	return usage();
}
