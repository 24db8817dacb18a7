/*
 * context.c - the static event context's keys and values (context.h).
 */
#include "policy/context.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static const char *const names[CTX_COUNT] = {
	"region", "environment", "cluster", "service",
};

const char *context_name(int k)
{
	return k >= 0 && k < CTX_COUNT ? names[k] : "invalid";
}

int context_key(const char *name)
{
	for (int k = 0; k < CTX_COUNT; k++)
		if (!strcmp(name, names[k]))
			return k;
	return -1;
}

bool context_valid(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > CONTEXT_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (!isalnum(ch) && !strchr("_.:/@+-", ch))
			return false;
	}
	return true;
}

bool context_empty(const struct ev_context *c)
{
	for (int k = 0; k < CTX_COUNT; k++)
		if (c->v[k][0])
			return false;
	return true;
}

int context_parse(struct ev_context *c, char *words, const char *seps, const char *what,
		  const char *where, char *why, size_t cap)
{
	for (char *save = NULL, *w = strtok_r(words, seps, &save); w; w = strtok_r(NULL, seps, &save)) {
		char *eq = strchr(w, '=');
		int key;
		if (eq)
			*eq = 0;
		if (!eq || (key = context_key(w)) < 0) {
			snprintf(why, cap,
				 "%s: expected key=value with key region, environment, cluster or service%s, found \"%.64s\"",
				 what, where, w);
			return ST_EINVAL;
		}
		if (!context_valid(eq + 1)) {
			snprintf(why, cap, "%s: %s: expected 1..%d bytes of [A-Za-z0-9_.:/@+-], found \"%.80s\"",
				 what, w, CONTEXT_VALUE_MAX, eq + 1);
			return ST_EINVAL;
		}
		snprintf(c->v[key], sizeof(c->v[key]), "%s", eq + 1);
	}
	return 0;
}
