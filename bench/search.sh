#!/usr/bin/env bash
# Sealtrail's side of the search benchmark (issue 4): the same events and
# the same query set as the PostgreSQL baseline (bench/search_pg.sh).
#
#   bash bench/search.sh BUILD_DIR OUT_DIR [EVENTS]
#
# EVENTS defaults to 10,000,000. The data: $SEARCH_DATA when set (run.sh's
# step `search` passes the file step `search_pg` uses), else the file
# bench/run.sh would use in OUT_DIR (events-1m / events-200k / events-20k
# .ndjson for those sizes, events-search-N.ndjson otherwise) when it has
# EVENTS lines, else `gen_events EVENTS SEED` written to
# OUT_DIR/events-search-N.ndjson (gen_events K S is a prefix of gen_events
# N S, so every way gives the same events). The queries: $SEARCH_QUERIES
# when set, else OUT_DIR/search-queries-N.tsv (what search_pg uses) when
# newer than the data and the generator, else bench/search_queries.py
# writes it.
#
# On a fresh data directory (under $BENCH_TMPDIR, default OUT_DIR, so
# fdatasync costs what it costs on the disk the other benches use):
#   1. sealtrail init; sealtrail append of the whole file, timed;
#   2. sealtrail reindex RUNS times (each rebuilds the index from zero),
#      entries/s of each and the median;
#   3. sizes: du of DIR/index against the NDJSON and DIR/segments;
#   4. build/bench/search_bench over the query set (RUNS runs per query);
#   5. index lag under ingest (bench/index_lag.sh, which says how): a
#      server on a fresh directory, loadgen paced to SEARCH_LAG_RATE
#      events/s (the issue's 200,000), the lag read from /metrics.
# Writes OUT_DIR/search.txt (human, everything above) and OUT_DIR/search.tsv
# (machine: "class p50_ms p95_ms n", as OUT_DIR/pg_search.tsv).
#
# Environment: BENCH_RUNS (default 3), BENCH_SEED (default 1),
# BENCH_TMPDIR, SEARCH_DATA, SEARCH_QUERIES, SEARCH_LAG_SECONDS (default
# 20; 0 skips step 5), SEARCH_LAG_CONNS (8), SEARCH_LAG_BATCH (1000),
# SEARCH_LAG_RATE (200000 events/s; 0: unpaced).
#
# Every process this script starts is stopped by PID (trap); the data
# directories are removed at exit. Needs: bash, coreutils, awk, curl,
# python3; GNU time (/usr/bin/time) for the append's peak RSS.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: bash bench/search.sh BUILD_DIR OUT_DIR [EVENTS]" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
OUT_DIR=$(cd "$2" && pwd)
N=${3:-10000000}
case $N in '' | *[!0-9]* | 0) echo "search: EVENTS must be a positive number, got '$N'" >&2; exit 2 ;; esac
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ST=$BUILD/sealtrail
GEN=$BUILD/bench/gen_events
SB=$BUILD/bench/search_bench
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-1}
LAG_SECONDS=${SEARCH_LAG_SECONDS:-20}
LAG_CONNS=${SEARCH_LAG_CONNS:-8}
LAG_BATCH=${SEARCH_LAG_BATCH:-1000}
LAG_RATE=${SEARCH_LAG_RATE:-200000}
TXT=$OUT_DIR/search.txt
TSV=$OUT_DIR/search.tsv

for x in "$ST" "$GEN" "$SB"; do
	[ -x "$x" ] || { echo "search: $x not built" >&2; exit 1; }
done

W=$(mktemp -d "${BENCH_TMPDIR:-$OUT_DIR}/search.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

: >"$TXT"
out() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$TXT"
}
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "inf" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# ------------------------------------------------------------ the data

if [ -n "${SEARCH_DATA:-}" ]; then
	DATA=$SEARCH_DATA
	[ -r "$DATA" ] || { echo "search: cannot read SEARCH_DATA=$DATA" >&2; exit 1; }
else
	case $N in
	1000000) DATA=$OUT_DIR/events-1m.ndjson ;;
	200000) DATA=$OUT_DIR/events-200k.ndjson ;;
	20000) DATA=$OUT_DIR/events-20k.ndjson ;;
	*) DATA=$OUT_DIR/events-search-$N.ndjson ;;
	esac
	if [ -f "$DATA" ] && [ "$(lines_of "$DATA")" = "$N" ]; then
		echo "search: data $DATA present" >&2
	else
		DATA=$OUT_DIR/events-search-$N.ndjson
		echo "search: writing $N events (seed $SEED) into $DATA" >&2
		"$GEN" "$N" "$SEED" >"$DATA.tmp"
		mv "$DATA.tmp" "$DATA"
	fi
fi
got=$(lines_of "$DATA")
if [ "$got" != "$N" ]; then
	echo "search: $DATA has $got lines, want $N" >&2
	exit 1
fi
if [ -n "${SEARCH_QUERIES:-}" ]; then
	QUERIES=$SEARCH_QUERIES
else
	QUERIES=$OUT_DIR/search-queries-$N.tsv
	if [ ! -s "$QUERIES" ] || [ "$DATA" -nt "$QUERIES" ] ||
		[ "$SRC/bench/search_queries.py" -nt "$QUERIES" ]; then
		python3 "$SRC/bench/search_queries.py" "$DATA" "$QUERIES.tmp" --seed "$SEED"
		mv "$QUERIES.tmp" "$QUERIES"
	fi
fi
[ -r "$QUERIES" ] || { echo "search: cannot read $QUERIES" >&2; exit 1; }
RAW_BYTES=$(stat -c %s "$DATA")

T_ALL=$(now)
out "== Sealtrail search bench, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
out "machine: nproc=$(nproc), loadavg $(cut -d' ' -f1-3 /proc/loadavg), data fs=$(df -PT "$W" | awk 'NR == 2 { print $2 }'); commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none)$([ -n "$(git -C "$SRC" status --porcelain 2>/dev/null)" ] && echo ' (dirty)')"
out "events: $DATA, $N lines, $RAW_BYTES bytes; queries: $QUERIES, $(lines_of "$QUERIES") lines; runs: $RUNS"

# ------------------------------------------------------------ load, index

D=$W/data
"$ST" init --data "$D" >/dev/null 2>"$W/init.err" || { cat "$W/init.err" >&2; exit 1; }
sync
t0=$(now)
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f '%M' -o "$W/append.rss" "$ST" append --data "$D" "$DATA" >/dev/null 2>"$W/append.err" ||
		{ tail -n 5 "$W/append.err" >&2; exit 1; }
	rss="peak RSS $(awk '{ printf "%.1f MiB", $1 / 1024 }' "$W/append.rss")"
else
	"$ST" append --data "$D" "$DATA" >/dev/null 2>"$W/append.err" || { tail -n 5 "$W/append.err" >&2; exit 1; }
	rss="peak RSS n/a"
fi
t1=$(now)
wall=$(secs "$t0" "$t1")
out "append: $N events in $wall s, $(ratio "$N" "$wall" 0) events/s ($(awk -v b="$RAW_BYTES" -v s="$wall" 'BEGIN { printf "%.1f", b / s / 1e6 }') MB/s), $rss ($(grep -m1 -o 'appended.*' "$W/append.err" || true))"

rates=()
for ((i = 1; i <= RUNS; i++)); do
	t0=$(now)
	line=$(/usr/bin/time -f 'rss %M' -o "$W/reindex.rss" "$ST" reindex --data "$D" 2>"$W/reindex.err") ||
		{ cat "$W/reindex.err" >&2; exit 1; }
	r=$(printf '%s\n' "$line" | grep -Eo '\(([0-9.]+) entries/s' | grep -Eo '[0-9.]+')
	rates+=("$r")
	out "reindex run $i: $line; peak RSS $(awk '{ printf "%.1f MiB", $2 / 1024 }' "$W/reindex.rss"); wall $(secs "$t0" "$(now)") s"
done
REINDEX_MED=$(printf '%s\n' "${rates[@]}" | median)
out "reindex: median $(printf '%.0f' "$REINDEX_MED") entries/s over $RUNS runs ($(awk -v b="$RAW_BYTES" -v m="$REINDEX_MED" -v n="$N" 'BEGIN { printf "%.1f", b * m / n / 1e6 }') MB/s of NDJSON)"

IX_BYTES=$(du -sb "$D/index" | cut -f1)
SEG_BYTES=$(du -sb "$D/segments" | cut -f1)
out "size: index $IX_BYTES bytes ($(mib "$IX_BYTES"), $(find "$D/index" -name '*.chunk' | wc -l) chunks, du -sk $(du -sk "$D/index" | cut -f1) KiB); NDJSON $RAW_BYTES bytes ($(mib "$RAW_BYTES")); segments $SEG_BYTES bytes ($(mib "$SEG_BYTES"), du -sk $(du -sk "$D/segments" | cut -f1) KiB)"
out "  index / NDJSON = $(ratio "$IX_BYTES" "$RAW_BYTES" 3), index / segments = $(ratio "$IX_BYTES" "$SEG_BYTES" 3); $(ratio "$IX_BYTES" "$N" 1) index bytes per event"

# ------------------------------------------------------------ queries

out "queries: build/bench/search_bench, in process: per class a warm-up pass, then each query $RUNS times (median kept);"
out "  wall from query_parse to the last entry read (log_read_entry); selective/word: limit 100, sort -time;"
out "  count_by_action: index_stats by action, every group; timeline: request_id:\"ID\", time asc, pages of 1000;"
out "  all-tenant scope; p50/p95/max over the queries (nearest rank), hits = entries read (count_by_action: groups)"
sb_rc=0
"$SB" --data "$D" --queries "$QUERIES" --runs "$RUNS" --out "$TSV" >"$W/sb.out" 2>"$W/sb.err" || sb_rc=$?
while IFS= read -r l; do out "  $l"; done <"$W/sb.out"
if [ -s "$W/sb.err" ]; then
	out "  search_bench stderr (first 20 lines):"
	head -n 20 "$W/sb.err" | while IFS= read -r l; do out "    $l"; done
fi
if [ "$sb_rc" -ne 0 ]; then
	out "search_bench FAILED (status $sb_rc)"
fi
rm -rf "$D"

# ------------------------------------------------------------ lag under ingest

lag_rc=0
if [ "$LAG_SECONDS" -gt 0 ]; then
	SEARCH_LAG_SECONDS=$LAG_SECONDS SEARCH_LAG_CONNS=$LAG_CONNS SEARCH_LAG_BATCH=$LAG_BATCH \
	SEARCH_LAG_RATE=$LAG_RATE BENCH_TMPDIR=$W \
		bash "$SRC/bench/index_lag.sh" "$BUILD" "$OUT_DIR" >"$W/lag.out" || lag_rc=$?
	while IFS= read -r l; do out "$l"; done <"$W/lag.out"
fi

out "total: $(secs "$T_ALL" "$(now)") s"
[ "$sb_rc" -eq 0 ] && [ "$lag_rc" -eq 0 ]
