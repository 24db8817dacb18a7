#!/usr/bin/env bash
# libsealtrail, the producer library (issue 6: "library emit calls/s" and
# "the library's end-to-end throughput to a server on loopback"; goals
# >= 1,000,000 emits/s into its buffer, >= 300,000 events/s end to end):
#
#   bash bench/client.sh BUILD_DIR OUTFILE [RUNS]
#
# For each of RUNS rounds, on a fresh data directory and spool:
# `sealtrail serve` (policy off) and tests/client/client_load emitting
# 200,000 events (~260 bytes each, as fast as it can: RATE 0), then
# flushing. emits_per_s is sealtrail_emit calls a second into the memory
# queue (200,000 events fit in its 64 MiB, so emit never blocks);
# events_per_s is 200,000 over the time from the first emit to the last
# acknowledgement (spooled, fsync'd, sent, durable in the server's log).
# Batches of 1,000 (the default) and of 5,000 (CLIENT_BATCH) side by side.
# Every process is stopped by PID.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$SRC/bench/lib.sh"
bench_args client "$@"
CL=$BUILD/client_load
N=200000

# one_run BATCH DIR: prints client_load's JSON line (exit 1 unless every
# event was acknowledged).
one_run() {
	local batch=$1 dir=$2 out
	bench_server "$ST" "$dir" acme
	out=$(CLIENT_BATCH=$batch "$CL" "http://127.0.0.1:$PORT" "$dir.tok" "$dir.spool" "$N" 0 300000)
	stop_pid "$SERVER_PID"
	SERVER_PID=
	rm -rf "$dir" "$dir".*
	printf '%s\n' "$out"
}

say ""
say "== libsealtrail, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "command: bash bench/client.sh $BUILD OUTFILE $RUNS (client_load URL TOKEN SPOOL $N 0, CLIENT_BATCH 1000 and 5000)"
declare -A EM EPS
for b in 1000 5000; do EM[$b]="" EPS[$b]=""; done
for ((i = 1; i <= RUNS; i++)); do
	for b in 1000 5000; do
		j=$(one_run "$b" "$WORK/b$b-$i")
		say "run $i batch $b: $j"
		[ "$(field "$j" acked)" = "$N" ] || { say "run $i batch $b: not every event was acknowledged"; exit 1; }
		EM[$b]+="$(field "$j" emits_per_s) "
		EPS[$b]+="$(field "$j" events_per_s) "
	done
done
for b in 1000 5000; do
	say "batch $b: median $(printf '%s\n' ${EM[$b]} | median | xargs printf '%.0f') emits/s into the buffer, $(printf '%s\n' ${EPS[$b]} | median | xargs printf '%.0f') events/s end to end"
done
