#!/usr/bin/env bash
# The index lag under ingest (issue 4: "index lag <= 1 s while ingesting
# 200,000 events/s"), step 5 of bench/search.sh, also run alone:
#
#   bash bench/index_lag.sh BUILD_DIR OUT_DIR
#
# On a fresh data directory: sealtrail serve on loopback, a producer token
# for tenant "bench" (loadgen's events name no tenant), build/bench/loadgen
# --mode ndjson -c SEARCH_LAG_CONNS (8) -b SEARCH_LAG_BATCH (1000) paced to
# SEARCH_LAG_RATE events/s (200000; 0: as fast as the machine goes) for
# SEARCH_LAG_SECONDS (20), with sealtrail_index_lag_seconds,
# sealtrail_index_lag_entries and sealtrail_index_entries read from
# /metrics (operator token) every 0.5 s; then how long the index takes to
# catch up once the load stops (at most 30 s). The server inherits the
# environment, so SEALTRAIL_INDEX_LIVE_DOCS=N measures another live chunk
# size. Prints the figures; the samples go to OUT_DIR/search_lag_samples.txt.
# Every process is stopped by PID; the data directory is removed at exit.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ $# -ne 2 ]; then
	echo "usage: bash bench/index_lag.sh BUILD_DIR OUT_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
OUT_DIR=$(cd "$2" && pwd)
ST=$BUILD/sealtrail
LG=$BUILD/bench/loadgen
LAG_SECONDS=${SEARCH_LAG_SECONDS:-20}
LAG_CONNS=${SEARCH_LAG_CONNS:-8}
LAG_BATCH=${SEARCH_LAG_BATCH:-1000}
LAG_RATE=${SEARCH_LAG_RATE:-200000}
LAG_PACE=()
[ "$LAG_RATE" -gt 0 ] && LAG_PACE=(--rate "$LAG_RATE")
for x in "$ST" "$LG"; do
	[ -x "$x" ] || { echo "index_lag: $x not built" >&2; exit 1; }
done

W=$(mktemp -d "${BENCH_TMPDIR:-$OUT_DIR}/lag.XXXXXX")
SERVER_PID=
LG_PID=
cleanup() {
	stop_pid "$LG_PID"
	stop_pid "$SERVER_PID"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


lag_rc=0
D2=$W/lag
"$ST" init --data "$D2" >/dev/null 2>"$W/lag-init.err" || { cat "$W/lag-init.err" >&2; exit 1; }
"$ST" token create --data "$D2" --role producer --tenant bench --name loadgen 2>/dev/null | head -n 1 >"$W/producer.tok"
"$ST" token create --data "$D2" --role operator --name metrics 2>/dev/null | head -n 1 >"$W/operator.tok"
if [ ! -s "$W/producer.tok" ] || [ ! -s "$W/operator.tok" ]; then
	echo "index_lag: token create failed" >&2
	exit 1
fi
OPTOK=$(cat "$W/operator.tok")
started=0
for _ in 1 2 3 4 5; do
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	"$ST" serve --data "$D2" --init --listen "127.0.0.1:$PORT" >"$W/serve.out" 2>"$W/serve.err" &
	SERVER_PID=$!
	for _ in $(seq 1 200); do
		grep -q '^Serving on' "$W/serve.out" 2>/dev/null && { started=1; break; }
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ "$started" = 1 ] && break
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	grep -q "address in use" "$W/serve.err" || break
done
if [ "$started" != 1 ]; then
	echo "index_lag: the server did not start:" >&2
	cat "$W/serve.err" >&2
	exit 1
fi
# metric NAME: its value in the last /metrics body.
scrape() {
	curl -s --max-time 2 -H "Authorization: Bearer $OPTOK" "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
		awk '$1 == "sealtrail_index_lag_seconds" { s = $2 } $1 == "sealtrail_index_lag_entries" { e = $2 }
		     $1 == "sealtrail_index_entries" { x = $2 }
		     END { if (s != "" && e != "") print s, e, x }'
}
[ -n "$(scrape)" ] || { echo "index_lag: /metrics has no sealtrail_index_lag_* (operator token refused?)" >&2; exit 1; }
"$LG" --url "http://127.0.0.1:$PORT/v1/events" --mode ndjson -c "$LAG_CONNS" -b "$LAG_BATCH" \
	"${LAG_PACE[@]}" -d "$LAG_SECONDS" --token-file "$W/producer.tok" --json >"$W/lg.json" 2>"$W/lg.err" &
LG_PID=$!
: >"$W/lag.samples"
t0=$(now)
while kill -0 "$LG_PID" 2>/dev/null; do
	s=$(scrape)
	[ -n "$s" ] && printf '%s %s\n' "$(secs "$t0" "$(now)")" "$s" >>"$W/lag.samples"
	sleep 0.5
done
wait "$LG_PID" || lag_rc=$?
LG_PID=
# after the load: until the index has caught up (at most 30 s)
t1=$(now)
caught=
for _ in $(seq 1 300); do
	s=$(scrape)
	if [ -n "$s" ] && [ "$(echo "$s" | cut -d' ' -f2)" = 0 ]; then
		caught=$(secs "$t1" "$(now)")
		break
	fi
	sleep 0.1
done
hwm=$(awk '/^VmHWM:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo n/a)
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
lgj=$(tail -n 1 "$W/lg.json")
eps=$(python3 -c 'import json,sys; print("%.0f" % json.loads(sys.argv[1])["events_per_s"])' "$lgj" 2>/dev/null || echo "?")
echo "lag under ingest: sealtrail serve (defaults) + loadgen --mode ndjson -c $LAG_CONNS -b $LAG_BATCH ${LAG_PACE[*]} -d $LAG_SECONDS"
if [ "$LAG_RATE" -gt 0 ]; then
	echo "  (loadgen paced to $LAG_RATE events/s; server, indexer and loadgen sharing $(nproc) cores)"
else
	echo "  (no rate limit in loadgen: as fast as this machine goes, server, indexer and loadgen sharing $(nproc) cores)"
fi
echo "  ingest: $eps events/s achieved; loadgen: $lgj"
[ "$lag_rc" -ne 0 ] && echo "  loadgen FAILED (status $lag_rc): $(head -n 3 "$W/lg.err" | tr '\n' ' ')"
nsamp=$(lines_of "$W/lag.samples")
if [ "$nsamp" -gt 0 ]; then
	echo "  $nsamp samples every 0.5 s: index_lag_seconds max $(printf '%.3f' "$(col_pct "$W/lag.samples" 2 1)") p95 $(printf '%.3f' "$(col_pct "$W/lag.samples" 2 0.95)"); index_lag_entries max $(col_pct "$W/lag.samples" 3 1) p95 $(col_pct "$W/lag.samples" 3 0.95)"
else
	echo "  no samples from /metrics"
fi
echo "  after the load stopped: index caught up (lag_entries 0) in ${caught:-more than 30} s; server peak RSS $hwm"
cp "$W/lag.samples" "$OUT_DIR/search_lag_samples.txt"
echo "  samples (t_s lag_s lag_entries indexed) in $OUT_DIR/search_lag_samples.txt"

exit "$lag_rc"
