/*
 * config.c - defaults and the "key = value" config file (see config.h).
 * Values are validated here, once, so the server never runs on a setting
 * it does not understand.
 */
#include "server/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void config_defaults(struct server_config *c)
{
	memset(c, 0, sizeof(*c));
	c->io_threads = 2;
	c->max_body = (size_t)16 << 20;
	c->max_header = (size_t)16 << 10;
	c->read_timeout_s = 10;
	c->idle_timeout_s = 60;
	c->max_connections = 4096;
	c->max_connections_per_ip = 512;
	c->max_batch_events = 10000;
	c->queue_max_events = 200000;
	c->sample_summary_ms = 60000;
	c->capture_grace_ms = 60000;
	c->quarantine_max = 1ull << 30;
	c->queue_max_bytes = (size_t)256 << 20;
	c->checkpoint_ms = 1000;
	c->ids_memtable = 16ull << 20;
	c->ids_filter = 32ull << 20;
	c->retry_after_s = 1;
	c->space_left = 1ull << 30;
	c->admin_space_left = 256ull << 20;
	c->disk_full = 64ull << 20;
	c->syslog_max_frame = (size_t)64 << 10;
	c->syslog_max_connections = 1024;
	c->syslog_idle_ms = 300000;
	c->syslog_batch_events = 1000;
	c->syslog_batch_ms = 50;
}

/* A decimal number without sign, then *end at its suffix. */
static int parse_digits(const char *s, unsigned long long *v, char **end)
{
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return ST_EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno || *end == s ? ST_EINVAL : 0;
}

/* v * mul, refusing an overflow. */
static int scaled(unsigned long long v, uint64_t mul, uint64_t *ret)
{
	if (v && mul > UINT64_MAX / v)
		return ST_EINVAL;
	*ret = v * mul;
	return 0;
}

int config_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;
	uint64_t mul = 1;

	if (parse_digits(s, &v, &end) < 0)
		return ST_EINVAL;
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30, end++;
	return *end ? ST_EINVAL : scaled(v, mul, ret);
}

int config_parse_ms(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;
	uint64_t mul;

	if (parse_digits(s, &v, &end) < 0)
		return ST_EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s") || !*end)
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return ST_EINVAL;
	return scaled(v, mul, ret);
}

int config_parse_addr(const char *s, char *host, size_t hcap, unsigned *port)
{
	const char *colon;
	size_t hl;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return ST_EINVAL;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return ST_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hcap)
		return ST_EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	uint64_t p;
	if (!st_parse_u64(colon + 1, strlen(colon + 1), &p) || p == 0 || p > 65535)
		return ST_EINVAL;
	*port = (unsigned)p;
	return 0;
}

bool config_is_critical(const struct server_config *c, const char *action, size_t n)
{
	for (size_t i = 0; i < c->ncritical; i++) {
		size_t pl = strlen(c->critical[i]);
		if (pl <= n && !memcmp(action, c->critical[i], pl))
			return true;
	}
	return false;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = 0;
	return s;
}

static bool in_range(uint64_t u, uint64_t min, uint64_t max)
{
	return u >= min && u <= max;
}

static bool name_ok(const char *s, const char *extra)
{
	size_t n = strlen(s);
	if (n < 1 || n > CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '-' || (ch && strchr(extra, ch))))
			return false;
	}
	return true;
}

/* syslog_listen = ADDR tenant=T producer=P [tls] [region=... ...] */
static int syslog_listen(struct server_config *c, char *v, char *why, size_t cap)
{
	char host[CONFIG_ADDR_MAX], rest[1024];
	unsigned port;
	if (c->nsyslog == CONFIG_MAX_SYSLOG) {
		snprintf(why, cap, "syslog_listen: at most %d listeners", CONFIG_MAX_SYSLOG);
		return ST_EINVAL;
	}
	char *words = v + strcspn(v, " \t");
	if (*words)
		*words++ = 0;
	if (strlen(v) >= CONFIG_ADDR_MAX || config_parse_addr(v, host, sizeof(host), &port) < 0) {
		snprintf(why, cap, "syslog_listen: expected host:port, found \"%s\"", v);
		return ST_EINVAL;
	}
	struct config_syslog li;
	memset(&li, 0, sizeof(li));
	snprintf(li.addr, sizeof(li.addr), "%s", v);
	/* tenant=, producer= and tls are ours; the rest is context */
	size_t ro = 0;
	rest[0] = 0;
	for (char *save = NULL, *t = strtok_r(words, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (!strncmp(t, "tenant=", 7)) {
			if (!name_ok(t + 7, "") || t[7] == '_') {
				snprintf(why, cap, "syslog_listen: tenant: expected 1..64 bytes of [A-Za-z0-9_.-] "
					 "not starting with _, found \"%s\"", t + 7);
				return ST_EINVAL;
			}
			snprintf(li.tenant, sizeof(li.tenant), "%s", t + 7);
		} else if (!strncmp(t, "producer=", 9)) {
			if (!name_ok(t + 9, ":@/+")) {
				snprintf(why, cap, "syslog_listen: producer: expected 1..64 bytes of "
					 "[A-Za-z0-9_.:@/+-], found \"%s\"", t + 9);
				return ST_EINVAL;
			}
			snprintf(li.producer, sizeof(li.producer), "%s", t + 9);
		} else if (!strcmp(t, "tls")) {
			li.tls = true;
		} else if (ro + strlen(t) + 2 < sizeof(rest)) {
			ro += (size_t)snprintf(rest + ro, sizeof(rest) - ro, "%s%s", ro ? " " : "", t);
		}
	}
	if (!li.tenant[0] || !li.producer[0]) {
		snprintf(why, cap, "syslog_listen: tenant=NAME and producer=NAME are required after the address");
		return ST_EINVAL;
	}
	if (context_parse(&li.context, rest, " ", "syslog_listen", " after the address", why, cap) < 0)
		return ST_EINVAL;
	c->syslog[c->nsyslog++] = li;
	return 0;
}

/* One setting. Returns 0, or ST_EINVAL with why in err. */
static int set_key(struct server_config *c, const char *k, char *v, char *why, size_t cap)
{
	uint64_t u;

#define SIZE_KEY(name, field, min, max)                                              \
	if (!strcmp(k, name)) {                                                      \
		if (config_parse_size(v, &u) < 0 || !in_range(u, (min), (max))) {        \
			snprintf(why, cap, "%s: expected a size in [%llu, %llu] (K/M/G suffix), found \"%s\"", \
				 name, (unsigned long long)(min), (unsigned long long)(max), v); \
			return ST_EINVAL;                                            \
		}                                                                    \
		c->field = (__typeof__(c->field))u;                                  \
		return 0;                                                            \
	}
#define MS_KEY(name, field, min, max, div)                                           \
	if (!strcmp(k, name)) {                                                      \
		if (config_parse_ms(v, &u) < 0 || !in_range(u, (min), (max))) {          \
			snprintf(why, cap, "%s: expected a duration in [%llu ms, %llu ms] (ms/s/m/h), found \"%s\"", \
				 name, (unsigned long long)(min), (unsigned long long)(max), v); \
			return ST_EINVAL;                                            \
		}                                                                    \
		c->field = (__typeof__(c->field))(u / (div));                        \
		return 0;                                                            \
	}
	SIZE_KEY("max_body", max_body, 1024, 1ull << 30)
	SIZE_KEY("max_header", max_header, 1024, 1ull << 20)
	SIZE_KEY("max_connections", max_connections, 1, 1000000)
	SIZE_KEY("max_connections_per_ip", max_connections_per_ip, 0, 1000000)
	SIZE_KEY("max_batch_events", max_batch_events, 1, 100000)
	SIZE_KEY("queue_max_events", queue_max_events, 1, 10000000)
	SIZE_KEY("queue_max_bytes", queue_max_bytes, 1 << 16, 16ull << 30)
	SIZE_KEY("ids_memtable", ids_memtable, 256, 4ull << 30)
	SIZE_KEY("ids_filter", ids_filter, 4096, 16ull << 30)
	SIZE_KEY("space_left", space_left, 0, UINT64_MAX)
	SIZE_KEY("admin_space_left", admin_space_left, 0, UINT64_MAX)
	SIZE_KEY("disk_full", disk_full, 0, UINT64_MAX)
	SIZE_KEY("quarantine_max", quarantine_max, 1 << 16, 1ull << 40)
	SIZE_KEY("io_threads", io_threads, 1, 64)
	MS_KEY("read_timeout", read_timeout_s, 1000, 3600000, 1000)
	MS_KEY("idle_timeout", idle_timeout_s, 1000, 86400000, 1000)
	MS_KEY("checkpoint_interval", checkpoint_ms, 10, 3600000, 1)
	MS_KEY("checkpoint_max_age", checkpoint_max_age_ms, 10, 86400000, 1)
	MS_KEY("retry_after", retry_after_s, 1000, 3600000, 1000)
	MS_KEY("sample_summary_interval", sample_summary_ms, 1000, 86400000, 1)
	MS_KEY("capture_grace", capture_grace_ms, 100, 86400000, 1)
	SIZE_KEY("syslog_max_frame", syslog_max_frame, SYSLOG_MAX_FRAME_MIN, 1ull << 20)
	SIZE_KEY("syslog_max_connections", syslog_max_connections, 1, 100000)
	SIZE_KEY("syslog_batch_events", syslog_batch_events, 1, 100000)
	MS_KEY("syslog_idle_timeout", syslog_idle_ms, 1000, 86400000, 1)
	MS_KEY("syslog_batch_delay", syslog_batch_ms, 1, 10000, 1)
#undef SIZE_KEY
#undef MS_KEY
	if (!strcmp(k, "listen") || !strcmp(k, "listen_tls")) {
		char host[CONFIG_ADDR_MAX];
		unsigned port;
		if (c->nlisteners == CONFIG_MAX_LISTENERS) {
			snprintf(why, cap, "%s: at most %d listeners", k, CONFIG_MAX_LISTENERS);
			return ST_EINVAL;
		}
		char *words = v + strcspn(v, " \t");
		if (*words)
			*words++ = 0;
		if (strlen(v) >= CONFIG_ADDR_MAX ||
		    config_parse_addr(v, host, sizeof(host), &port) < 0) {
			snprintf(why, cap, "%s: expected host:port, found \"%s\"", k, v);
			return ST_EINVAL;
		}
		struct config_listener li = { .tls = !strcmp(k, "listen_tls") };
		snprintf(li.addr, sizeof(li.addr), "%s", v);
		if (context_parse(&li.context, words, " \t", k, " after the address", why, cap) < 0)
			return ST_EINVAL;
		c->listeners[c->nlisteners++] = li;
		return 0;
	}
	if (!strcmp(k, "syslog_listen"))
		return syslog_listen(c, v, why, cap);
	if (!strcmp(k, "syslog_map"))
		return syslog_map_rule_add(&c->syslog_rules, v, why, cap) < 0 ? ST_EINVAL : 0;
	if (!strcmp(k, "tls_cert") || !strcmp(k, "tls_key") || !strcmp(k, "log_file") ||
	    !strcmp(k, "policy_file") || !strcmp(k, "vault_key") || !strcmp(k, "syslog_tls_client_ca")) {
		char *dst = !strcmp(k, "tls_cert") ? c->tls_cert :
			    !strcmp(k, "tls_key") ? c->tls_key :
			    !strcmp(k, "syslog_tls_client_ca") ? c->syslog_tls_client_ca :
			    !strcmp(k, "policy_file") ? c->policy_file :
			    !strcmp(k, "vault_key") ? c->vault_key : c->log_file;
		if (strlen(v) >= PATH_MAX || !*v) {
			snprintf(why, cap, "%s: expected a path", k);
			return ST_EINVAL;
		}
		snprintf(dst, PATH_MAX, "%s", v);
		return 0;
	}
	if (!strcmp(k, "rate_per_token") || !strcmp(k, "rate_burst")) {
		char *end;
		double d = strtod(v, &end);
		if (end == v || *end || !(d >= 0 && d <= 1e9)) {
			snprintf(why, cap, "%s: expected a number >= 0, found \"%s\"", k, v);
			return ST_EINVAL;
		}
		if (!strcmp(k, "rate_per_token"))
			c->rate_per_token = d;
		else
			c->rate_burst = d;
		return 0;
	}
	if (context_key(k) >= 0) {
		if (!context_valid(v)) {
			snprintf(why, cap, "%s: expected 1..%d bytes of [A-Za-z0-9_.:/@+-], found \"%s\"",
				 k, CONTEXT_VALUE_MAX, v);
			return ST_EINVAL;
		}
		snprintf(c->context.v[context_key(k)], CONTEXT_VALUE_MAX + 1, "%s", v);
		return 0;
	}
	if (!strcmp(k, "critical_actions")) {
		c->ncritical = 0;
		for (char *save = NULL, *t = strtok_r(v, ", ", &save); t;
		     t = strtok_r(NULL, ", ", &save)) {
			if (c->ncritical == CONFIG_MAX_CRITICAL || strlen(t) >= CONFIG_PREFIX_MAX) {
				snprintf(why, cap, "critical_actions: at most %d prefixes of < %d bytes",
					 CONFIG_MAX_CRITICAL, CONFIG_PREFIX_MAX);
				return ST_EINVAL;
			}
			snprintf(c->critical[c->ncritical++], CONFIG_PREFIX_MAX, "%s", t);
		}
		return 0;
	}
	snprintf(why, cap, "unknown setting \"%s\" (see docs/CONFIG.md)", k);
	return ST_EINVAL;
}

int config_load(struct server_config *c, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "re");
	char line[4096], why[512];
	unsigned lineno = 0;
	int r = 0;

	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errcap, "%s:%u: line longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			r = ST_ELIMIT;
			break;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errcap, "%s:%u: expected \"key = value\", found \"%s\"",
				 path, lineno, s);
			r = ST_EINVAL;
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		if ((r = set_key(c, k, v, why, sizeof(why))) < 0) {
			snprintf(err, errcap, "%s:%u: %s", path, lineno, why);
			break;
		}
	}
	fclose(f);
	if (r == 0 && c->checkpoint_max_age_ms == 0)
		c->checkpoint_max_age_ms = 10 * c->checkpoint_ms;
	return r;
}
