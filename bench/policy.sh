#!/usr/bin/env bash
# The cost of the policy pipeline on ingest (issue 5: "ingest throughput
# with a realistic policy (20 rules, all detectors on) against policy off;
# the goal is <= 25% cost, the ratio measured in one run"):
#
#   bash bench/policy.sh BUILD_DIR OUTFILE [RUNS]
#
# For each of RUNS rounds, alternating off and on, each on a fresh data
# directory: `sealtrail serve` (policy_file = docs/examples/policy.conf for
# "on": 20 field rules, every detector on) and bench/loadgen -c 8 -b 1000
# --mode ndjson -d 10. loadgen's events carry emails in actor.id (3 of 4),
# an IP in actor.ip (a hash rule) and free text: the detectors hit and the
# rules fire on most events. Prints and appends the per-run results, the
# medians, the ratio on/off and the cost (1 - ratio). Then the tokenize
# case loadgen does not reach: batches of 1,000 events whose actor.id is a
# value the vault has never seen (tenant acme: `field actor.id tokenize`),
# posted one after another with curl, against the same events in a tenant
# without that rule. Every process is stopped by PID.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$SRC/bench/lib.sh"
bench_args policy "$@"
LG=$BUILD/bench/loadgen
POLICY=$SRC/docs/examples/policy.conf

# one_run off|on DIR: prints loadgen's JSON line.
one_run() {
	local mode=$1 dir=$2 out
	bench_server "$ST" "$dir" bench "$([ "$mode" = on ] && echo "$POLICY")"
	# the schemas the policy binds, so every event is committed
	[ "$mode" = off ] || policy_setup "$ST" "$dir" "http://127.0.0.1:$PORT" "$SRC"
	out=$("$LG" --url "http://127.0.0.1:$PORT/v1/events" -c 8 -b 1000 --mode ndjson -d 10 \
		--token-file "$dir.tok" --json | tail -n 1)
	[ "$mode" = off ] || policy_check "http://127.0.0.1:$PORT" "$dir"
	stop_pid "$SERVER_PID"
	SERVER_PID=
	if [ "$mode" = on ] && ! grep -q "policy .* loaded" "$dir.err"; then
		echo "the policy was not loaded: $(head -n 3 "$dir.err")" >&2
		return 1
	fi
	rm -rf "$dir" "$dir".*
	printf '%s\n' "$out"
}

say ""
say "== policy cost on ingest, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "command: bash bench/policy.sh $BUILD OUTFILE $RUNS (loadgen -c 8 -b 1000 --mode ndjson -d 10; policy $POLICY)"
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
off=$(printf '%s\n' ${EPS[off]} | median)
on=$(printf '%s\n' ${EPS[on]} | median)
say "policy off: median $(printf '%.0f' "$off") events/s, p99 $(printf '%s\n' ${P99[off]} | median) ms"
say "policy on:  median $(printf '%.0f' "$on") events/s, p99 $(printf '%s\n' ${P99[on]} | median) ms"
say "ratio on/off $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }'), cost $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.1f", 100 * (1 - a / b) }')% (goal <= 25%)"

# tok_run TENANT DIR: 10 batches of 1,000 new actor.id values, one at a
# time; prints the events/s of each batch.
tok_run() {
	local tenant=$1 dir=$2 f
	bench_server "$ST" "$dir" "$tenant" "$POLICY"
	for f in $(seq 0 9); do
		python3 -c '
import json, sys
t, b, r = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(1000):
    print(json.dumps({"time": "2026-11-28T10:00:00Z", "action": "user.login", "tenant": t,
        "actor": {"id": "user-%s-%d-%d@example.org" % (r, b, i)}, "resource": {"type": "session"},
        "outcome": "success"}))' "$tenant" "$f" "$RANDOM" >"$dir.b$f"
	done
	for f in $(seq 0 9); do
		curl -s -o "$dir.r" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $(cat "$dir.tok")" \
			-H 'Content-Type: application/x-ndjson' --data-binary "@$dir.b$f" \
			"http://127.0.0.1:$PORT/v1/events" | awk '$1 != 200 { exit 1 } { printf "%.0f\n", 1000 / $2 }' ||
			{ echo "a batch was refused: $(head -c 300 "$dir.r")" >&2; return 1; }
	done
	stop_pid "$SERVER_PID"
	SERVER_PID=
	rm -rf "$dir" "$dir".*
}
declare -A TOK
TOK[acme]="" TOK[bench]=""
for ((i = 1; i <= RUNS; i++)); do
	for t in bench acme; do
		m=$(tok_run "$t" "$WORK/tok-$t-$i" | median)
		say "run $i new values, tenant $t ($([ $t = acme ] && echo tokenized || echo no tokenize rule)): median of 10 batches $m events/s"
		TOK[$t]+="$m "
	done
done
tb=$(printf '%s\n' ${TOK[bench]} | median)
ta=$(printf '%s\n' ${TOK[acme]} | median)
say "batches of 1,000 new values, one at a time: no tokenize $(printf '%.0f' "$tb") events/s, tokenized $(printf '%.0f' "$ta") events/s, ratio $(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.3f", a / b }')"
