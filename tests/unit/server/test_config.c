/*
 * test_config.c - the server's config file: sizes, durations, addresses,
 * every refusal naming the file, line and what was expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "server/config.h"
#include "test.h"

static char path[] = "/tmp/st-config-XXXXXX";

static int load(const char *text, struct server_config *c, char *err, size_t cap)
{
	FILE *f = fopen(path, "we");
	fputs(text, f);
	fclose(f);
	config_defaults(c);
	return config_load(c, path, err, cap);
}

int main(void)
{
	struct server_config c;
	char err[512];
	uint64_t v;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);

	/* sizes and durations */
	CHECK(config_parse_size("16M", &v) == 0 && v == 16u << 20);
	CHECK(config_parse_size("1k", &v) == 0 && v == 1024);
	CHECK(config_parse_size("3G", &v) == 0 && v == 3ull << 30);
	CHECK(config_parse_size("0", &v) == 0 && v == 0);
	CHECK(config_parse_size("", &v) == ST_EINVAL);
	CHECK(config_parse_size("-1", &v) == ST_EINVAL);
	CHECK(config_parse_size("+1", &v) == ST_EINVAL);
	CHECK(config_parse_size("1T", &v) == ST_EINVAL);
	CHECK(config_parse_size("1MB", &v) == ST_EINVAL);
	CHECK(config_parse_size("18446744073709551615G", &v) == ST_EINVAL);
	CHECK(config_parse_size("99999999999999999999", &v) == ST_EINVAL);
	CHECK(config_parse_ms("250ms", &v) == 0 && v == 250);
	CHECK(config_parse_ms("2", &v) == 0 && v == 2000);
	CHECK(config_parse_ms("2s", &v) == 0 && v == 2000);
	CHECK(config_parse_ms("5m", &v) == 0 && v == 300000);
	CHECK(config_parse_ms("1h", &v) == 0 && v == 3600000);
	CHECK(config_parse_ms("1d", &v) == ST_EINVAL);
	CHECK(config_parse_ms("s", &v) == ST_EINVAL);

	/* addresses */
	char host[64];
	unsigned port;
	CHECK(config_parse_addr("127.0.0.1:7465", host, sizeof(host), &port) == 0 &&
	      !strcmp(host, "127.0.0.1") && port == 7465);
	CHECK(config_parse_addr("[::1]:443", host, sizeof(host), &port) == 0 &&
	      !strcmp(host, "::1") && port == 443);
	CHECK(config_parse_addr("127.0.0.1", host, sizeof(host), &port) == ST_EINVAL);
	CHECK(config_parse_addr("127.0.0.1:0", host, sizeof(host), &port) == ST_EINVAL);
	CHECK(config_parse_addr("127.0.0.1:65536", host, sizeof(host), &port) == ST_EINVAL);
	CHECK(config_parse_addr(":80", host, sizeof(host), &port) == ST_EINVAL);
	CHECK(config_parse_addr("[::1]80", host, sizeof(host), &port) == ST_EINVAL);

	/* a whole file */
	CHECK(load("# comment\n\nlisten = 127.0.0.1:9000\nlisten_tls = 127.0.0.1:9443\n"
		   "tls_cert = /c.pem\ntls_key = /k.pem\nmax_body = 2M\nread_timeout = 3s\n"
		   "rate_per_token = 12.5\ncritical_actions = auth., iam.\n"
		   "disk_full = 10M\ncheckpoint_interval = 250ms\n", &c, err, sizeof(err)) == 0);
	CHECK(c.nlisteners == 2 && !c.listeners[0].tls && c.listeners[1].tls);
	CHECK(!strcmp(c.listeners[1].addr, "127.0.0.1:9443"));
	CHECK(c.max_body == 2u << 20 && c.read_timeout_s == 3 && c.rate_per_token == 12.5);
	CHECK(c.disk_full == 10u << 20 && c.checkpoint_ms == 250);
	CHECK(c.checkpoint_max_age_ms == 2500);
	CHECK(c.ncritical == 2 && config_is_critical(&c, "iam.role.update", 15) &&
	      config_is_critical(&c, "auth.login", 10) && !config_is_critical(&c, "db.drop", 7) &&
	      !config_is_critical(&c, "ia", 2));
	CHECK(c.max_connections == 4096);   /* untouched defaults stay */

	/* refusals name the line and say what was expected */
	CHECK(load("max_body = 1M\nmax_body = lots\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":2: max_body: expected a size") != NULL, "%s", err);
	CHECK(load("max_body = 10\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":1: max_body: expected a size in [1024,") != NULL, "%s", err);
	CHECK(load("nonsense = 1\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":1: unknown setting \"nonsense\"") != NULL, "%s", err);
	CHECK(load("\n\njust words\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":3: expected \"key = value\"") != NULL, "%s", err);
	CHECK(load("listen = nowhere\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "listen: expected host:port") != NULL, "%s", err);
	CHECK(load("read_timeout = 1d\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "read_timeout: expected a duration") != NULL, "%s", err);
	CHECK(load("rate_per_token = -3\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "rate_per_token: expected a number >= 0") != NULL, "%s", err);
	{
		char big[6000];
		memset(big, 'a', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = 0;
		CHECK(load(big, &c, err, sizeof(err)) == ST_ELIMIT);
		CHECK_MSG(strstr(err, ":1: line longer than") != NULL, "%s", err);
	}
	{
		char many[4096] = "";
		for (int i = 0; i < CONFIG_MAX_LISTENERS + 1; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many),
				 "listen = 127.0.0.1:%d\n", 9000 + i);
		CHECK(load(many, &c, err, sizeof(err)) == ST_EINVAL);
		CHECK_MSG(strstr(err, "at most 8 listeners") != NULL, "%s", err);
	}
	/* enrichment context: global keys, and key=value words on a listener */
	CHECK(load("region = us-east-1\nenvironment = prod\n"
		   "listen = 127.0.0.1:9000 region=eu-west-1   service=pay.v2\n"
		   "listen_tls = 127.0.0.1:9443\n", &c, err, sizeof(err)) == 0);
	CHECK(!strcmp(c.context.v[CTX_REGION], "us-east-1") &&
	      !strcmp(c.context.v[CTX_ENVIRONMENT], "prod") && !c.context.v[CTX_CLUSTER][0]);
	CHECK(!strcmp(c.listeners[0].addr, "127.0.0.1:9000") &&
	      !strcmp(c.listeners[0].context.v[CTX_REGION], "eu-west-1") &&
	      !strcmp(c.listeners[0].context.v[CTX_SERVICE], "pay.v2") &&
	      !c.listeners[0].context.v[CTX_ENVIRONMENT][0]);
	CHECK(c.listeners[1].tls && !c.listeners[1].context.v[CTX_REGION][0]);
	CHECK(load("listen = 127.0.0.1:9000 colour=red\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":1: listen: expected key=value with key region, environment, cluster or service after the address, found \"colour\"") != NULL, "%s", err);
	CHECK(load("listen = 127.0.0.1:9000 region\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK(load("listen = 127.0.0.1:9000 region=\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, "listen: region: expected 1..64 bytes") != NULL, "%s", err);
	CHECK(load("cluster = has\"quote\n", &c, err, sizeof(err)) == ST_EINVAL);
	CHECK_MSG(strstr(err, ":1: cluster: expected 1..64 bytes of [A-Za-z0-9_.:/@+-]") != NULL, "%s", err);
	{
		char line[200] = "service = ";
		memset(line + 10, 's', 65);
		strcpy(line + 75, "\n");
		CHECK(load(line, &c, err, sizeof(err)) == ST_EINVAL);
		memset(line + 10, 's', 64);
		strcpy(line + 74, "\n");
		CHECK(load(line, &c, err, sizeof(err)) == 0 && strlen(c.context.v[CTX_SERVICE]) == 64);
	}

	/* syslog listeners: tenant and producer required, tls, context words */
	CHECK(load("syslog_listen = 127.0.0.1:6514 tenant=acme producer=rsyslog-eu region=eu-west-1\n"
		   "syslog_listen = [::1]:6515 producer=p:1 tls tenant=t.2\n"
		   "syslog_max_frame = 8K\nsyslog_batch_delay = 10ms\nsyslog_map = app@1 user actor.id\n"
		   "syslog_tls_client_ca = /etc/sealtrail/clients.pem\n",
		   &c, err, sizeof(err)) == 0);
	CHECK(!strcmp(c.syslog_tls_client_ca, "/etc/sealtrail/clients.pem"));
	CHECK(c.nsyslog == 2 && !strcmp(c.syslog[0].tenant, "acme") && !strcmp(c.syslog[0].producer, "rsyslog-eu") &&
	      !c.syslog[0].tls && !strcmp(c.syslog[0].context.v[CTX_REGION], "eu-west-1"));
	CHECK(c.syslog[1].tls && !strcmp(c.syslog[1].tenant, "t.2") && !strcmp(c.syslog[1].addr, "[::1]:6515"));
	CHECK(c.syslog_max_frame == 8192 && c.syslog_batch_ms == 10 && c.syslog_rules.n == 1 &&
	      c.syslog_rules.r[0].field == SF_ACTOR_ID);
	static const char *const bad_syslog[] = {
		"syslog_listen = 127.0.0.1:6514\n",                               /* no tenant, producer */
		"syslog_listen = 127.0.0.1:6514 tenant=acme\n",
		"syslog_listen = 127.0.0.1:6514 tenant=_meta producer=p\n",       /* reserved tenant */
		"syslog_listen = 127.0.0.1:6514 tenant=a producer=p colour=red\n",
		"syslog_listen = nowhere tenant=a producer=p\n",
		"syslog_listen = 127.0.0.1:6514 tenant=a producer=p\"q\n",
		"syslog_max_frame = 100\n",
		"syslog_map = a@1 b nosuchfield\n",
		"syslog_tls_client_ca =\n",                                     /* no path */
	};
	for (size_t i = 0; i < sizeof(bad_syslog) / sizeof(bad_syslog[0]); i++)
		CHECK_MSG(load(bad_syslog[i], &c, err, sizeof(err)) == ST_EINVAL, "bad %zu", i);

	config_defaults(&c);
	CHECK(config_load(&c, "/nonexistent/sealtrail.conf", err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "/nonexistent/sealtrail.conf") != NULL, "%s", err);

	unlink(path);
	return test_report("server/test_config");
}
