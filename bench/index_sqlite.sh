#!/usr/bin/env bash
# The SQLite alternative to Sealtrail's search index (issue 4, DECISIONS.md
# 21): the same events and the same query set as the search bench
# (bench/search.sh) and the PostgreSQL baseline (bench/search_pg.sh).
#
#   bash bench/index_sqlite.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv
#
# DATA.ndjson comes from build/bench/gen_events, QUERIES.tsv from
# bench/search_queries.py. Runs build/bench/index_sqlite (see its header
# for the schema, the load and the queries) on a fresh database in a temp
# dir, which is removed afterwards (unless KEEP=1), and writes
#   OUT_DIR/sqlite_search.txt  (human: machine, settings, load rate, sizes,
#                               plans, per-class latency)
#   OUT_DIR/sqlite_search.tsv  (machine: "class p50_ms p95_ms n")
#
# Environment: SQLITE_RUNS (runs per query, median kept; default 3),
# SQLITE_EXTRACT (c or sql: who extracts the fields on load; default c,
# the faster), SQLITE_CACHE_MIB (page cache; default 256), SQLITE_TMPDIR
# (where the database goes; default $TMPDIR or /tmp), KEEP=1 (keep it).
#
# Needs: libsqlite3-dev at build time (index_sqlite is skipped without it),
# coreutils.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: bash bench/index_sqlite.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv" >&2
	exit 2
fi
BUILD=$1
OUT_DIR=$2
DATA_FILE=$3
QUERIES=$4
BIN=$BUILD/bench/index_sqlite
RUNS=${SQLITE_RUNS:-3}
EXTRACT=${SQLITE_EXTRACT:-c}
CACHE_MIB=${SQLITE_CACHE_MIB:-256}

if [ ! -x "$BIN" ]; then
	echo "index_sqlite: $BIN not found (build the index_sqlite target; it needs libsqlite3-dev)" >&2
	exit 1
fi
for f in "$DATA_FILE" "$QUERIES"; do
	[ -r "$f" ] || { echo "index_sqlite: cannot read $f" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
TXT=$OUT_DIR/sqlite_search.txt
TSV=$OUT_DIR/sqlite_search.tsv

T=$(mktemp -d "${SQLITE_TMPDIR:-${TMPDIR:-/tmp}}/sealtrail-sqlite.XXXXXX")
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "index_sqlite: KEEP=1: the database is $T/search.db" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$TXT"
out() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$TXT"
}

commit=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)
fs=$(df -PT "$T" | awk 'NR == 2 { print $2 }')
out "== SQLite search alternative, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
out "machine: nproc=$(nproc), loadavg $(cut -d" " -f1-3 /proc/loadavg), db fs=${fs:-unknown}; commit $commit"
out "events: $DATA_FILE, $(wc -l <"$DATA_FILE") lines, $(stat -c %s "$DATA_FILE") bytes; queries: $QUERIES, $(wc -l <"$QUERIES") lines; runs: $RUNS"

t0=$(date +%s.%N)
"$BIN" --db "$T/search.db" --events "$DATA_FILE" --queries "$QUERIES" --runs "$RUNS" \
	--extract "$EXTRACT" --cache-mib "$CACHE_MIB" --out "$TSV" >"$T/out" 2>"$T/err" || {
	echo "index_sqlite: $BIN failed:" >&2
	cat "$T/out" "$T/err" >&2
	exit 1
}
while IFS= read -r l; do out "$l"; done <"$T/out"
out "total: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (load, checkpoint, analyze, queries)"
