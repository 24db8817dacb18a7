#!/usr/bin/env bash
# Debian's real Prometheus scrapes a real `sealtrail serve` on loopback with
# an operator token: the target is up, Sealtrail series have values, the
# events accepted by the server show in Prometheus, and a scrape without the
# token is refused (401) and counted as an auth failure.
# shellcheck disable=SC2016
set -euo pipefail
SRC=${SEALTRAIL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ST=${SEALTRAIL:-$SRC/build/sealtrail}
# shellcheck source=SCRIPTDIR/../lib/prometheus.sh
. "$SRC/tests/lib/prometheus.sh"
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$SRC/tests/lib/server.sh"

if ! command -v "${PROMETHEUS:-prometheus}" >/dev/null; then
	echo "prometheus is not installed (scripts/install-deps.sh installs it)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

T=$(mktemp -d)
SPID=
stop_all() {
	prom_stop
	[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$T"
}
trap stop_all EXIT
trap 'exit 143' TERM INT
pass=0 fail=0

port=$(st_free_port)
"$ST" init --data "$T/d" >/dev/null 2>&1
"$ST" token create --data "$T/d" --role operator --name prom 2>/dev/null | head -n 1 >"$T/op.tok"
"$ST" token create --data "$T/d" --role producer --tenant t1 --name svc 2>/dev/null | head -n 1 >"$T/p.tok"
chmod 600 "$T"/*.tok
"$ST" serve --data "$T/d" --listen "127.0.0.1:$port" >"$T/out" 2>"$T/err" &
SPID=$!
for ((i = 0; i < 100; i++)); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
expect "server is alive" 'curl -sf "http://127.0.0.1:$port/healthz" >/dev/null'
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
expect "/metrics without a token is 401 ($code)" '[ "$code" = 401 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/p.tok")" "http://127.0.0.1:$port/metrics")
expect "/metrics with a producer token is 403 ($code)" '[ "$code" = 403 ]'
for i in 1 2 3; do
	curl -s -o /dev/null -H "Authorization: Bearer $(cat "$T/p.tok")" -H 'Content-Type: application/json' \
		"http://127.0.0.1:$port/v1/events" \
		-d '{"time":"2026-11-27T10:00:00Z","action":"a.b","actor":{"id":"x"},"resource":{"type":"r"}}'
done

if prom_start "127.0.0.1:$port" "$T/op.tok"; then
	ok "prometheus ready in ${PROM_STARTUP_MS} ms"
else
	no "prom_start"
	echo "$pass passed, $fail failed"
	exit 1
fi
if prom_wait_up 30 2>"$T/wait.err"; then
	ok "prometheus reports the sealtrail target up"
else
	no "target up: $(cat "$T/wait.err")"
fi
v=$(prom_query 'sealtrail_events_accepted_total{job="sealtrail"}' 2>&1 || true)
expect "sealtrail_events_accepted_total is 3 in Prometheus ($v)" '[ "$v" = 3 ]'
v=$(prom_query 'sealtrail_tree_size{job="sealtrail"}' 2>&1 || true)
expect "sealtrail_tree_size has a value ($v)" '[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 3 ]'
v=$(prom_query 'sealtrail_auth_failures_total{job="sealtrail",reason="missing"}' 2>&1 || true)
expect "the unauthenticated scrape is counted ($v)" '[ "$v" = 1 ]'
v=$(prom_query 'sealtrail_ack_latency_seconds_count{job="sealtrail"}' 2>&1 || true)
expect "the ack-latency histogram has observations ($v)" '[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 3 ]'
v=$(prom_query 'process_resident_memory_bytes{job="sealtrail"}' 2>&1 || true)
expect "process RSS is exported ($v)" '[[ $v =~ ^[0-9.e+]+$ ]]'
v=$(prom_query 'sealtrail_disk_free_bytes{job="sealtrail"}' 2>&1 || true)
expect "disk free space is exported ($v)" '[[ $v =~ ^[0-9.e+]+$ ]]'
# The text format itself: every sample line's metric has TYPE metadata.
curl -s -H "Authorization: Bearer $(cat "$T/op.tok")" "http://127.0.0.1:$port/metrics" >"$T/metrics.txt"
bad=$(awk '/^# TYPE/ { t[$3] = 1; next } /^#/ { next } { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b); if (!(n in t) && !(b in t)) print n }' "$T/metrics.txt" | head -n 3)
expect "every series has # TYPE metadata${bad:+ (missing: $bad)}" '[ -z "$bad" ]'
# Every histogram is initialized: a finite sum and a le="0.05" bucket (the
# request-time histogram once rendered "sum inf" with only +Inf).
bad=$(awk '/^sealtrail_[a-z_]+_sum / && $2 !~ /^[0-9.e+-]+$/ { print $1 "=" $2 }' "$T/metrics.txt" | head -n 3)
expect "every histogram sum is a finite number${bad:+ (not: $bad)}" '[ -z "$bad" ]'
expect "the request-time histogram has its buckets" 'grep -q "^sealtrail_http_request_seconds_bucket{le=\"0.05\"} [1-9]" "$T/metrics.txt"'
expect "no token secret in the exposition" '! grep -qF "$(cat "$T/op.tok")" "$T/metrics.txt"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
