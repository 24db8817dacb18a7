#!/usr/bin/env bash
# Server benchmarks, side by side with the PostgreSQL COPY baseline in the
# same run (machine noise spreads over both):
#
#   bash bench/server.sh BUILD_DIR OUTFILE [RUNS] [SOAK_SECONDS]
#
# For each of RUNS rounds, alternating, on a fresh data directory each:
#   single  loadgen -c 64 -b 1 --mode single -d 10     (one event per request)
#   ndjson  loadgen -c 8 -b 1000 --mode ndjson -d 10   (NDJSON batches of 1000)
# then the PostgreSQL baseline (bench/pg_baseline.sh: COPY batches of 1000
# into jsonb with synchronous_commit=on, and 64 connections at batch 1), then
# a soak: single-event requests on 16 connections for SOAK_SECONDS (default
# 600), sampling the server's RSS every 10 s (RssAnon: heap; RssFile: mapped
# log files, which grow with the log by design).
# Prints and appends to OUTFILE the medians, p99s and ratios.
#
# The server and the load generator share this machine's cores; the server
# runs with its defaults (2 I/O threads). Every process is stopped by PID.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$SRC/bench/lib.sh"
BENCH_USAGE_MORE=" [SOAK_SECONDS]" bench_args server "$@"
SOAK=${4:-600}
LG=$BUILD/bench/loadgen

# start_server DIR: a fresh log with a producer token; sets PORT, SERVER_PID.
start_server() {
	local dir=$1 i
	"$ST" init --data "$dir" >/dev/null 2>&1
	"$ST" token create --data "$dir" --role producer --tenant bench --name loadgen 2>/dev/null |
		head -n 1 >"$dir.tok"
	PORT=$(free_port)
	"$ST" serve --data "$dir" --listen "127.0.0.1:$PORT" >"$dir.out" 2>"$dir.err" &
	SERVER_PID=$!
	for i in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server did not start: $(head -n 3 "$dir.err")" >&2
	return 1
}

stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PID=
}

# one_run KIND DIR: prints loadgen's JSON line.
one_run() {
	local kind=$1 dir=$2 args
	case $kind in
	single) args=(-c 64 -b 1 --mode single -d 10) ;;
	ndjson) args=(-c 8 -b 1000 --mode ndjson -d 10) ;;
	esac
	start_server "$dir"
	local cpu0 cpu1 out
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
	out=$("$LG" --url "http://127.0.0.1:$PORT/v1/events" "${args[@]}" --token-file "$dir.tok" --json | tail -n 1)
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
	stop_server
	"$ST" verify --data "$dir" --quiet >/dev/null || { echo "verify failed after $kind run" >&2; return 1; }
	rm -rf "$dir" "$dir".*
	# server CPU seconds over the run, appended to the JSON
	printf '%s\n' "${out%\}},\"server_cpu_s\":$(awk -v a="$cpu0" -v b="$cpu1" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }')}"
}

say ""
say "== server bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none), $RUNS runs"
declare -A EPS P50 P99 CPU
for kind in single ndjson; do EPS[$kind]=""; P50[$kind]=""; P99[$kind]=""; CPU[$kind]=""; done
for ((i = 1; i <= RUNS; i++)); do
	for kind in single ndjson; do
		j=$(one_run "$kind" "$WORK/$kind-$i")
		say "run $i $kind: $j"
		EPS[$kind]+="$(field "$j" events_per_s) "
		P50[$kind]+="$(field "$j" p50_ms) "
		P99[$kind]+="$(field "$j" p99_ms) "
		CPU[$kind]+="$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(1e6*d["server_cpu_s"]/max(d["events"],1))' "$j") "
	done
done
for kind in single ndjson; do
	m=$(printf '%s\n' ${EPS[$kind]} | median)
	say "server $kind: median $(printf '%.0f' "$m") events/s, p50 $(printf '%s\n' ${P50[$kind]} | median) ms, p99 $(printf '%s\n' ${P99[$kind]} | median) ms, server CPU $(printf '%s\n' ${CPU[$kind]} | median) us/event"
	declare "MED_$kind=$m"
done

# The PostgreSQL baseline in the same run.
if [ -x "$BUILD/bench/pg_copy" ] && [ -x /usr/lib/postgresql/15/bin/postgres ]; then
	EVF=$SRC/bench/out/events-1m.ndjson
	mkdir -p "$SRC/bench/out"
	[ -f "$EVF" ] || "$BUILD/bench/gen_events" 1000000 1 >"$EVF"
	PGOUT=$WORK/pg.txt
	BUILD_DIR=$BUILD EVENTS_FILE=$EVF bash "$SRC/bench/pg_baseline.sh" "$PGOUT" 1000000 >/dev/null
	pg_jsonb=$(grep -m1 -Eo '"table":"events",[^}]*' "$PGOUT" | grep -Eo '"rows_per_s":[0-9.]+' | cut -d: -f2 || true)
	pg_b1=$(grep -m1 -Eo '"table":"events_b1",[^}]*' "$PGOUT" | grep -Eo '"rows_per_s":[0-9.]+' | cut -d: -f2 || true)
	say "postgresql COPY (jsonb, batch 1000, 4 conns, synchronous_commit=on): ${pg_jsonb:-?} rows/s; batch 1 over 64 conns: ${pg_b1:-?} rows/s"
	cat "$PGOUT" >>"$OUTFILE"
	if [ -n "${pg_jsonb:-}" ]; then
		say "ratio: sealtrail ndjson / postgresql COPY = $(awk -v a="$MED_ndjson" -v b="$pg_jsonb" 'BEGIN { printf "%.1f", a / b }')x; sealtrail single / postgresql batch 1 = $(awk -v a="$MED_single" -v b="${pg_b1:-0}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "?" }')x"
	fi
else
	say "postgresql baseline: skipped (pg_copy or postgres not installed)"
fi

# The soak: RSS over SOAK seconds.
if [ "$SOAK" -gt 0 ]; then
	dir=$WORK/soak
	start_server "$dir"
	"$LG" --url "http://127.0.0.1:$PORT/v1/events" -c 16 -b 1 --mode single -d "$SOAK" \
		--token-file "$dir.tok" --json 2>/dev/null | tail -n 1 >"$WORK/soak.json" &
	LGPID=$!
	t=0
	samples=$WORK/rss.txt
	: >"$samples"
	while kill -0 "$LGPID" 2>/dev/null; do
		awk -v t="$t" '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 } END { print t, v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' \
			"/proc/$SERVER_PID/status" >>"$samples"
		sleep 10
		t=$((t + 10))
	done
	wait "$LGPID" || true
	stop_server
	say "soak: $(cat "$WORK/soak.json")"
	# warm-up: the first minute (or first sample on short soaks)
	read -r anon_first anon_last anon_max file_last < <(awk -v w=$((SOAK > 120 ? 60 : 0)) '
		$1 >= w { if (!f) { f = $3 }; l = $3; if ($3 > m) m = $3; fl = $4 }
		END { print f, l, m, fl }' "$samples")
	say "soak RSS over ${SOAK}s: RssAnon after warm-up $((anon_first / 1024)) MiB, at the end $((anon_last / 1024)) MiB, max $((anon_max / 1024)) MiB; RssFile at the end $((file_last / 1024)) MiB (mapped id index and segments, page cache)"
	say "soak samples (s VmRSS RssAnon RssFile, KiB): $(tr '\n' ';' <"$samples")"
	rm -rf "$dir" "$dir".*
fi
