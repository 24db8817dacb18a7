#!/usr/bin/env bash
# The measured comparison behind the choice of HTTP/1.1 server library for
# `sealtrail serve`:
#
#   bash bench/http_libs.sh
#
# Builds bench/loadgen.c and the three minimal servers of bench/httplibs/
# (libmicrohttpd, libevent evhttp, h2o) into a temporary directory, then for
# each MODE (inline: reply in the request callback; deferred: reply after a
# simulated group commit on another thread) runs
#   - `loadgen -c 64 -b 1 --mode single -d 8` three times per library,
#     ALTERNATING libraries (A B C A B C A B C) so machine noise spreads
#     evenly, and
#   - one `loadgen -c 8 -b 1000 --mode ndjson -d 8` per library.
# Every run gets a fresh server process; its CPU time (utime+stime from
# /proc/PID/stat) is read just before it is stopped, giving CPU per request.
# Prints a markdown table of medians and writes it to bench/out/http_libs.md.
#
# Loopback only; every server is stopped by PID (also on exit). Environment
# knobs: HTTP_LIBS_PORT (default 18180), HTTP_LIBS_SECONDS (default 8),
# HTTP_LIBS_ROUNDS (default 3).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$SRC/bench/out
PORT=${HTTP_LIBS_PORT:-18180}
SECS=${HTTP_LIBS_SECONDS:-8}
ROUNDS=${HTTP_LIBS_ROUNDS:-3}
LIBS="mhd evhttp h2o"
MODES="inline deferred"
TICK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/h1-httplibs.XXXXXX)
SERVER_PID=

cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

WARN="-Wall -Wextra -Wshadow -Wconversion -Wformat=2 -Wstrict-prototypes
  -Wmissing-prototypes -Wvla -Wno-sign-conversion -Werror"
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 $WARN -o "$TMP/loadgen" \
	"$SRC/bench/loadgen.c" -lpthread
bash "$SRC/bench/httplibs/build.sh" "$TMP"

# CPU ticks (user + system) of a live process; the fields after the
# parenthesised command name, so a name with spaces cannot shift them.
cpu_ticks() {
	local rest
	rest=$(sed 's/^.*) //' "/proc/$1/stat")
	# shellcheck disable=SC2086
	set -- $rest
	echo $((${12} + ${13}))
}

jget() {
	sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"
}

# run LIB MODE LOADGEN-ARGS...: one server, one loadgen run; appends
# "lib mode kind req_s events_s p50 p99 cpu_s requests errors" to $TMP/runs.
run() {
	local lib=$1 mode=$2 kind=$3
	shift 3
	"$TMP/hello_$lib" "$PORT" "$mode" &
	SERVER_PID=$!
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	local c0 c1 json rc=0
	c0=$(cpu_ticks "$SERVER_PID")
	json=$("$TMP/loadgen" --url "http://127.0.0.1:$PORT/v1/events" "$@" --json \
		2>>"$TMP/loadgen.err") || rc=$?
	c1=$(cpu_ticks "$SERVER_PID")
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	local errors
	errors=$(jget "$json" errors)
	[ $rc -eq 0 ] || echo "  warning: loadgen exit $rc ($lib $mode $kind)" >&2
	printf '%s %s %s %s %s %s %s %s %s %s\n' "$lib" "$mode" "$kind" \
		"$(jget "$json" req_per_s)" "$(jget "$json" events_per_s)" \
		"$(jget "$json" p50_ms)" "$(jget "$json" p99_ms)" \
		"$(awk -v t=$((c1 - c0)) -v hz="$TICK" 'BEGIN { printf "%.2f", t / hz }')" \
		"$(jget "$json" requests)" "${errors:-?}" | tee -a "$TMP/runs" >&2
}

: >"$TMP/runs"
for mode in $MODES; do
	for round in $(seq "$ROUNDS"); do
		for lib in $LIBS; do
			echo "== $mode round $round: $lib single c64" >&2
			run "$lib" "$mode" single -c 64 -b 1 --mode single -d "$SECS"
		done
	done
	for lib in $LIBS; do
		echo "== $mode: $lib ndjson c8 b1000" >&2
		run "$lib" "$mode" ndjson -c 8 -b 1000 --mode ndjson -d "$SECS"
	done
done

# Median of column COL over the runs of LIB MODE KIND.
med() {
	awk -v l="$1" -v m="$2" -v k="$3" -v c="$4" \
		'$1 == l && $2 == m && $3 == k { print $c }' "$TMP/runs" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# CPU microseconds per request (single) or per event (ndjson), per run,
# then the median.
cpu_per() {
	awk -v l="$1" -v m="$2" -v k="$3" -v per="$4" \
		'$1 == l && $2 == m && $3 == k && $9 > 0 {
			printf "%.2f\n", $8 * 1e6 / ($9 * per) }' "$TMP/runs" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

errs() {
	awk -v l="$1" -v m="$2" '$1 == l && $2 == m { s += $10 } END { print s + 0 }' \
		"$TMP/runs"
}

{
	echo "# HTTP library comparison ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r))"
	echo
	echo "Servers: 2 I/O threads each; loadgen: 1 thread, same machine."
	echo "single: -c 64 -b 1, median of $ROUNDS alternated ${SECS}s runs;"
	echo "ndjson: -c 8 -b 1000, one ${SECS}s run. CPU = server utime+stime."
	echo
	echo "| mode | library | single req/s | p50 ms | p99 ms | CPU µs/req | ndjson events/s | ndjson p99 ms | CPU µs/event | errors |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for mode in $MODES; do
		for lib in $LIBS; do
			printf '| %s | %s | %.0f | %s | %s | %s | %.0f | %s | %s | %s |\n' \
				"$mode" "$lib" "$(med "$lib" "$mode" single 4)" \
				"$(med "$lib" "$mode" single 6)" "$(med "$lib" "$mode" single 7)" \
				"$(cpu_per "$lib" "$mode" single 1)" \
				"$(med "$lib" "$mode" ndjson 5)" "$(med "$lib" "$mode" ndjson 7)" \
				"$(cpu_per "$lib" "$mode" ndjson 1000)" "$(errs "$lib" "$mode")"
		done
	done
	echo
	echo "Raw runs (lib mode kind req/s events/s p50 p99 cpu_s requests errors):"
	echo
	sed 's/^/    /' "$TMP/runs"
} >"$TMP/table.md"
mkdir -p "$OUT"
cp "$TMP/table.md" "$OUT/http_libs.md"
cat "$TMP/table.md"
if [ -s "$TMP/loadgen.err" ]; then
	echo >&2
	grep -v '^[0-9]* responses\|^latency\|^status' "$TMP/loadgen.err" >&2 || true
fi
