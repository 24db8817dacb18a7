#!/usr/bin/env bash
# The LMDB alternative to Sealtrail's search index (issue 4, DECISIONS.md
# 21): the same events and the same query set as the search bench
# (bench/search.sh), the SQLite alternative (bench/index_sqlite.sh) and the
# PostgreSQL baseline (bench/search_pg.sh).
#
#   bash bench/index_lmdb.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv
#
# DATA.ndjson comes from build/bench/gen_events, QUERIES.tsv from
# bench/search_queries.py. Runs build/bench/index_lmdb (see its header for
# the schema, the load and the queries) on a fresh environment in a temp
# dir, which is removed afterwards (unless KEEP=1), and writes
#   OUT_DIR/lmdb_search.txt  (human: machine, settings, load rate, sizes,
#                             per-class latency)
#   OUT_DIR/lmdb_search.tsv  (machine: "class p50_ms p95_ms n")
#
# Environment: LMDB_RUNS (runs per query, median kept; default 3),
# LMDB_MAP_GIB (map size, sparse; default 64), LMDB_WRITEMAP=1 (load with
# MDB_WRITEMAP), LMDB_TMPDIR (where the environment goes; default $TMPDIR
# or /tmp), KEEP=1 (keep it), HITS=FILE (every query's hit count, to
# compare with index_sqlite --hits).
#
# Needs: liblmdb-dev at build time (index_lmdb is skipped without it),
# coreutils, bench/lib.sh (alt_begin, alt_run).
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: bash bench/index_lmdb.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv" >&2
	exit 2
fi
BUILD=$1
OUT_DIR=$2
DATA_FILE=$3
QUERIES=$4
BIN=$BUILD/bench/index_lmdb
RUNS=${LMDB_RUNS:-3}
MAP_GIB=${LMDB_MAP_GIB:-64}
opts=()
[ "${LMDB_WRITEMAP:-0}" = 1 ] && opts+=(--writemap)
[ -n "${HITS:-}" ] && opts+=(--hits "$HITS")

if [ ! -x "$BIN" ]; then
	echo "index_lmdb: $BIN not found (build the index_lmdb target; it needs liblmdb-dev)" >&2
	exit 1
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alt_begin index_lmdb "LMDB search alternative" "$OUT_DIR" "$DATA_FILE" "$QUERIES" "$RUNS" "${LMDB_TMPDIR:-${TMPDIR:-/tmp}}" search.lmdb
alt_run "load, sync, queries" "$BIN" --db "$T/search.lmdb" --events "$DATA_FILE" --queries "$QUERIES" --runs "$RUNS" \
	--map-gib "$MAP_GIB" --out "$TSV" "${opts[@]}"
