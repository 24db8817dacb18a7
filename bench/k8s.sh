#!/usr/bin/env bash
# kube-apiserver's audit webhook load (issue 6: "k8s webhook EventLists of
# 400 events/s"):
#
#   bash bench/k8s.sh BUILD_DIR OUTFILE [RUNS]
#
# For each of RUNS rounds, alternating policy off and on, each on a fresh
# data directory: `sealtrail serve` and `bench/loadgen --mode k8s -b 400
# -c 4 -d 10` against POST /v1/ingest/k8s (an audit.k8s.io/v1 EventList of
# 400 Metadata-level Events a request, about 700 bytes each, unique
# auditIDs). "on" is docs/examples/policy.conf (all detectors, 20 rules)
# with the schemas it binds published (k8s.** is validated against
# k8s-audit/1); a run in which any event was quarantined fails.
# Prints and appends each run and the medians. Every process is stopped by
# PID.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$SRC/bench/lib.sh"
bench_args k8s "$@"
LG=$BUILD/bench/loadgen

# one_run off|on DIR: prints loadgen's JSON line.
one_run() {
	local mode=$1 dir=$2 out
	bench_server "$ST" "$dir" cluster-a "$([ "$mode" = on ] && echo "$SRC/docs/examples/policy.conf")"
	[ "$mode" = off ] || policy_setup "$ST" "$dir" "http://127.0.0.1:$PORT" "$SRC"
	out=$("$LG" --url "http://127.0.0.1:$PORT/v1/ingest/k8s" -c 4 -b 400 --mode k8s -d 10 \
		--token-file "$dir.tok" --json | tail -n 1)
	[ "$mode" = off ] || policy_check "http://127.0.0.1:$PORT" "$dir"
	stop_pid "$SERVER_PID"
	SERVER_PID=
	rm -rf "$dir" "$dir".*
	printf '%s\n' "$out"
}

say ""
say "== k8s audit webhook, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "command: bash bench/k8s.sh $BUILD OUTFILE $RUNS (loadgen --mode k8s -b 400 -c 4 -d 10 to /v1/ingest/k8s)"
declare -A EPS P99
EPS[off]="" EPS[on]="" P99[off]="" P99[on]=""
for ((i = 1; i <= RUNS; i++)); do
	for mode in off on; do
		j=$(one_run "$mode" "$WORK/$mode-$i")
		say "run $i policy $mode: $j"
		EPS[$mode]+="$(field "$j" events_per_s) "
		P99[$mode]+="$(field "$j" p99_ms) "
	done
done
for mode in off on; do
	say "EventLists of 400, policy $mode: median $(printf '%s\n' ${EPS[$mode]} | median | xargs printf '%.0f') events/s, p99 $(printf '%s\n' ${P99[$mode]} | median) ms a request"
done
