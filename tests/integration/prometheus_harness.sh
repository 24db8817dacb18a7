#!/usr/bin/env bash
# The Prometheus harness (tests/lib/prometheus.sh) works against a real
# Prometheus: it starts one that scrapes its own /metrics (which ignores
# the Bearer token), waits for the target to be up, queries a series that
# only a successful scrape can produce, and checks that the query helper
# fails on bad and empty queries and that prom_stop stops the process and
# removes its directory. Skips (exit 0, "skipped") without prometheus.
# expect evaluates its single-quoted checks later:
# shellcheck disable=SC2016,SC2034
set -euo pipefail
SRC=${SEALTRAIL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/prometheus.sh
. "$SRC/tests/lib/prometheus.sh"

if ! command -v "${PROMETHEUS:-prometheus}" >/dev/null; then
	echo "skipped: prometheus not installed (Debian package prometheus)"
	exit 0
fi

T=$(mktemp -d)
trap 'prom_stop; rm -rf "$T"' EXIT
trap 'exit 143' TERM INT   # so that the EXIT trap runs on ctest's timeout
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "not ok - $1"; }
expect() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

printf 'test-token-not-checked\n' >"$T/token"

expect "prom_wait_up refuses before prom_start" '! prom_wait_up 1 2>/dev/null'
expect "prom_start refuses a missing token file" '! prom_start 127.0.0.1:1 "$T/nonexistent" 2>/dev/null'

# The target is prometheus itself, whose port prom_start picks: start with
# an unreachable target (port 1), then point the config at PROM_URL and
# reload with SIGHUP, which prometheus applies without restarting.
if prom_start 127.0.0.1:1 "$T/token"; then
	ok "prom_start: ready in ${PROM_STARTUP_MS} ms at $PROM_URL (pid $PROM_PID)"
else
	no "prom_start"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
expect "PROM_URL is loopback" '[[ $PROM_URL == http://127.0.0.1:* ]]'
expect "config has the Bearer credentials file" 'grep -q "credentials_file: $T/token" "$PROM_DIR/prometheus.yml"'
# Wait (bounded) for the first failed scrape: up == 0.
for ((i = 0; i < 100; i++)); do
	[ "$(prom_query 'up{job="sealtrail"}' 2>/dev/null || true)" = 0 ] && break
	sleep 0.2
done
expect "an unreachable target is scraped and down (up == 0)" '[ "$(prom_query "up{job=\"sealtrail\"}")" = 0 ]'
expect "prom_wait_up fails on it and reports lastError" \
	'! prom_wait_up 1 2>"$T/wait.err" && grep -q "health down, lastError .*connection refused" "$T/wait.err"'

self=${PROM_URL#http://}
sed -i "s|127.0.0.1:1'|$self'|" "$PROM_DIR/prometheus.yml"
kill -HUP "$PROM_PID"
t0=$(date +%s%3N)
if prom_wait_up 30 2>"$T/wait.err"; then
	ok "prom_wait_up: self-scrape up $(( $(date +%s%3N) - t0 )) ms after reload"
else
	no "prom_wait_up: $(cat "$T/wait.err")"
fi

# The old target's series may still be within the lookback, hence instance=.
v=$(prom_query "up{job=\"sealtrail\",instance=\"$self\"}" 2>&1 || true)
expect "up of the self target is 1 ($v)" '[ "$v" = 1 ]'
v=$(prom_query "prometheus_build_info{job=\"sealtrail\",instance=\"$self\"}" 2>&1 || true)
expect "prometheus_build_info has a value ($v)" '[ "$v" = 1 ]'
v=$(prom_query 'count(up)' 2>&1 || true)
expect "a scalar-valued aggregation prints a number" '[[ $v =~ ^[0-9]+$ ]]'
rc=0; prom_query 'up{job="no_such_job"}' >/dev/null 2>&1 || rc=$?
expect "an empty result returns 1" '[ $rc = 1 ]'
rc=0; prom_query 'up{' >/dev/null 2>"$T/q.err" || rc=$?
expect "a bad query returns 2 with the error" '[ $rc = 2 ] && grep -q "bad_data" "$T/q.err"'

pid=$PROM_PID dir=$PROM_DIR
t0=$(date +%s%3N)
prom_stop
expect "prom_stop stops the process ($(( $(date +%s%3N) - t0 )) ms)" '! kill -0 "$pid" 2>/dev/null'
expect "prom_stop removes the temp dir" '[ ! -e "$dir" ]'
expect "prom_stop twice is harmless" 'prom_stop'
expect "prom_query after stop fails" '! prom_query up 2>/dev/null'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
