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
# (where the database goes; default $TMPDIR or /tmp), KEEP=1 (keep it),
# HITS=FILE (every query's hit count, to compare with index_lmdb --hits).
#
# Needs: libsqlite3-dev at build time (index_sqlite is skipped without it),
# coreutils, bench/lib.sh (alt_begin, alt_run).
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
opts=()
[ -n "${HITS:-}" ] && opts+=(--hits "$HITS")

if [ ! -x "$BIN" ]; then
	echo "index_sqlite: $BIN not found (build the index_sqlite target; it needs libsqlite3-dev)" >&2
	exit 1
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alt_begin index_sqlite "SQLite search alternative" "$OUT_DIR" "$DATA_FILE" "$QUERIES" "$RUNS" "${SQLITE_TMPDIR:-${TMPDIR:-/tmp}}" search.db
alt_run "load, checkpoint, analyze, queries" "$BIN" --db "$T/search.db" --events "$DATA_FILE" --queries "$QUERIES" --runs "$RUNS" \
	--extract "$EXTRACT" --cache-mib "$CACHE_MIB" --out "$TSV" "${opts[@]}"
