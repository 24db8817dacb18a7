#!/usr/bin/env bash
# The PostgreSQL 15 baseline for search (issue 4): the same events and the
# same query set as Sealtrail's search bench.
#
#   bash bench/search_pg.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv
#
# DATA.ndjson comes from build/bench/gen_events, QUERIES.tsv from
# bench/search_queries.py (lines class<TAB>sealtrail_query<TAB>sql).
#
# Creates a private cluster in a temp dir (initdb as the `postgres` OS user
# when run as root, as in bench/pg_baseline.sh), starts it on loopback on a
# free port with synchronous_commit=on and shared_buffers=1GB (initdb
# defaults otherwise), and
#   1. creates `events`: body jsonb, plus stored generated columns
#      extracted from it -- time timestamptz, action, actor_id, request_id,
#      tenant -- and received timestamptz (default now(): the server-side
#      arrival time, as Sealtrail's received_at), seq bigint identity;
#   2. loads DATA with one COPY (psql \copy, CSV with quote and delimiter
#      bytes that never occur in NDJSON, so every line arrives byte for
#      byte) and checks the row count;
#   3. builds, each timed: primary key (seq); btree (actor_id, time),
#      (action), (request_id), (time); GIN (body jsonb_path_ops); GIN on
#      jsonb_to_tsvector('simple', body, '["string"]') (full text over all
#      string values); then VACUUM ANALYZE (so autovacuum does not start in
#      the middle of the measurements) and CHECKPOINT;
#   4. runs the query set with build/bench/pg_query over TCP loopback
#      (per class: a warm-up pass, then each query once, prepared; then
#      once more as plain SQL, parse and plan included);
# and writes OUT_DIR/pg_search.txt (human: settings, load and index build
# times, sizes, per-class latency, the plans of each class's first and slowest
# query) and
# OUT_DIR/pg_search.tsv (machine: "class p50_ms p95_ms n", prepared), plus
# OUT_DIR/pg_search_raw.tsv (every measurement). The cluster is always
# stopped (pg_ctl, then the postmaster by PID); its directory is removed
# unless KEEP=1.
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_TMPDIR
# (where the cluster goes, default $TMPDIR or /tmp), SEARCH_PG_SETTINGS
# (extra server settings, e.g. "-c maintenance_work_mem=1GB"),
# SEARCH_PG_QUERY_TIMEOUT (seconds for the whole query run, default 3600),
# KEEP=1 (keep the stopped cluster's directory).
#
# Needs: postgresql (server binaries, psql), util-linux (runuser), python3
# (a free port), coreutils. Must run as root, or as postgres.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: bash bench/search_pg.sh BUILD_DIR OUT_DIR DATA.ndjson QUERIES.tsv" >&2
	exit 2
fi
BUILD=$1
OUT_DIR=$2
DATA_FILE=$3
QUERIES=$4
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_QUERY=$BUILD/bench/pg_query
QUERY_TIMEOUT=${SEARCH_PG_QUERY_TIMEOUT:-3600}

for x in "$PG_QUERY" "$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/pg_ctl" "$PG_BIN/pg_isready" "$PG_BIN/psql"; do
	if [ ! -x "$x" ]; then
		echo "search_pg: $x not found (build pg_query with libpq-dev; install postgresql)" >&2
		exit 1
	fi
done
for f in "$DATA_FILE" "$QUERIES"; do
	[ -r "$f" ] || { echo "search_pg: cannot read $f" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
TXT=$OUT_DIR/pg_search.txt
TSV=$OUT_DIR/pg_search.tsv
RAW=$OUT_DIR/pg_search_raw.tsv

# Run as the postgres OS user: PostgreSQL refuses to run as root.
if [ "$(id -u)" -eq 0 ]; then
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

T=$(mktemp -d "${PG_TMPDIR:-${TMPDIR:-/tmp}}/sealtrail-pgsearch.XXXXXX")
RUNNER_PID=   # runuser (or postgres itself when not root)
PM_PID=       # the postmaster, from postmaster.pid
DATA=$T/data
SOCK=$T/sock

# Stop the cluster: pg_ctl stop -m fast (bounded), then the postmaster by
# PID, SIGKILL as the last resort; then the temp dir goes (unless KEEP=1).
cleanup() {
	local i
	if [ -n "$PM_PID" ] && kill -0 "$PM_PID" 2>/dev/null; then
		as_pg "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -t 60 >/dev/null 2>&1 || true
		kill -TERM "$PM_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$PM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PM_PID" 2>/dev/null || true
	fi
	if [ -n "$RUNNER_PID" ]; then
		kill -TERM "$RUNNER_PID" 2>/dev/null || true
		wait "$RUNNER_PID" 2>/dev/null || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "search_pg: KEEP=1: the stopped cluster is in $DATA (start: $PG_BIN/pg_ctl start -D $DATA, as postgres)" >&2
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

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------ the cluster

mkdir -p "$DATA" "$SOCK"
chmod 700 "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T" "$DATA" "$SOCK"
as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
	>"$T/initdb.log" 2>&1 || { cat "$T/initdb.log" >&2; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SETTINGS=(
	-c listen_addresses=127.0.0.1 -p "$PORT"
	-c synchronous_commit=on -c shared_buffers=1GB
)
if [ -n "${SEARCH_PG_SETTINGS:-}" ]; then
	read -r -a extra <<<"$SEARCH_PG_SETTINGS"
	SETTINGS+=("${extra[@]}")
fi
as_pg "$PG_BIN/postgres" -D "$DATA" -k "$SOCK" "${SETTINGS[@]}" >"$T/server.log" 2>&1 &
RUNNER_PID=$!

ready=0
for ((i = 0; i < 300; i++)); do   # 30 s
	if [ -z "$PM_PID" ] && [ -s "$DATA/postmaster.pid" ]; then
		PM_PID=$(head -n 1 "$DATA/postmaster.pid")
	fi
	if [ -n "$PM_PID" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1 2>/dev/null; then
		ready=1
		break
	fi
	kill -0 "$RUNNER_PID" 2>/dev/null || break
	sleep 0.1
done
if [ "$ready" -ne 1 ]; then
	echo "search_pg: PostgreSQL not ready after 30 s; its log:" >&2
	tail -n 20 "$T/server.log" >&2
	exit 1
fi

CONN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
sql() { "$PG_BIN/psql" "$CONN" -X -q -v ON_ERROR_STOP=1 -tA -c "$1"; }

# timed SQL: run it, print the wall seconds.
timed() {
	local t0
	t0=$(now)
	sql "$1" >/dev/null
	secs "$t0" "$(now)"
}

# ------------------------------------------------------------ the table

T_ALL=$(now)
rows_want=$(wc -l <"$DATA_FILE")
fs=$(df -PT "$T" | awk 'NR == 2 { print $2 }')
out "== PostgreSQL search baseline, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
out "server: $("$PG_BIN/postgres" --version), data fs=${fs:-unknown}, nproc=$(nproc), loadavg $(cut -d" " -f1-3 /proc/loadavg)"
out "settings: ${SETTINGS[*]} (initdb defaults otherwise, locale C; client over TCP loopback)"
for s in shared_buffers work_mem maintenance_work_mem max_wal_size effective_cache_size max_parallel_workers_per_gather jit; do
	out "  $s = $(sql "SHOW $s")"
done
out "events: $DATA_FILE, $rows_want lines, $(stat -c %s "$DATA_FILE") bytes; queries: $QUERIES, $(wc -l <"$QUERIES") lines"

# The cast text -> timestamptz is only STABLE (it reads TimeZone); every
# event time carries its offset (Z or +hh:mm), so the result does not
# depend on the session and the wrapper may say IMMUTABLE, which a stored
# generated column needs.
sql "CREATE FUNCTION st_time(text) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN \$1::timestamptz"
sql "CREATE TABLE events (
	seq bigint GENERATED ALWAYS AS IDENTITY,
	received timestamptz NOT NULL DEFAULT now(),
	body jsonb NOT NULL,
	time timestamptz GENERATED ALWAYS AS (st_time(body->>'time')) STORED,
	action text GENERATED ALWAYS AS (body->>'action') STORED,
	actor_id text GENERATED ALWAYS AS (body->'actor'->>'id') STORED,
	request_id text GENERATED ALWAYS AS (body->>'request_id') STORED,
	tenant text GENERATED ALWAYS AS (body->>'tenant') STORED)"

# One COPY of the whole file. CSV whose quote (0x01) and delimiter (0x02)
# bytes cannot occur in NDJSON (JSON escapes control characters): each line
# is one field, taken verbatim, backslashes included.
t0=$(now)
"$PG_BIN/psql" "$CONN" -X -q -v ON_ERROR_STOP=1 \
	-c "\\copy events(body) FROM '$DATA_FILE' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
load_s=$(secs "$t0" "$(now)")
rows=$(sql "SELECT count(*) FROM events")
if [ "$rows" -ne "$rows_want" ]; then
	echo "search_pg: events has $rows rows, want $rows_want" >&2
	exit 1
fi
t0=$(now)
sql "CHECKPOINT"
ckpt_s=$(secs "$t0" "$(now)")
out "load: COPY of $rows rows (one transaction, generated columns computed) $load_s s, $(awk -v n="$rows" -v s="$load_s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }') rows/s; then CHECKPOINT $ckpt_s s"

# ------------------------------------------------------------ the indexes

INDEXES=(
	"events_pkey|ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (seq)"
	"events_actor_time|CREATE INDEX events_actor_time ON events (actor_id, time)"
	"events_action|CREATE INDEX events_action ON events (action)"
	"events_request_id|CREATE INDEX events_request_id ON events (request_id)"
	"events_time|CREATE INDEX events_time ON events (time)"
	"events_body_gin|CREATE INDEX events_body_gin ON events USING gin (body jsonb_path_ops)"
	"events_fts|CREATE INDEX events_fts ON events USING gin (jsonb_to_tsvector('simple', body, '[\"string\"]'))"
)
out "indexes (built one after the other, after the load):"
idx_total=0
for e in "${INDEXES[@]}"; do
	name=${e%%|*}
	s=$(timed "${e#*|}")
	idx_total=$(awk -v a="$idx_total" -v b="$s" 'BEGIN { printf "%.1f", a + b }')
	out "$(printf '  %-18s %8s s  %10s  %s' "$name" "$s" "$(sql "SELECT pg_size_pretty(pg_relation_size('$name'))")" "${e#*|}")"
done
out "  all indexes: $idx_total s"
vac_s=$(timed "VACUUM ANALYZE events")
t0=$(now)
sql "CHECKPOINT"
out "VACUUM ANALYZE $vac_s s, CHECKPOINT $(secs "$t0" "$(now)") s"

out "sizes: table $(sql "SELECT pg_size_pretty(pg_table_size('events'))") (heap $(sql "SELECT pg_size_pretty(pg_relation_size('events'))")), indexes $(sql "SELECT pg_size_pretty(pg_indexes_size('events'))"), total $(sql "SELECT pg_size_pretty(pg_total_relation_size('events'))") ($(sql "SELECT pg_total_relation_size('events')") bytes; the NDJSON is $(stat -c %s "$DATA_FILE") bytes)"

# ------------------------------------------------------------ the queries

out "queries: per class, a warm-up pass (prepare + run each), then each once prepared (p50/p95/max: execution"
out "  incl. fetching all rows, wall clock at the client), then each once as plain SQL (simple*: parse+plan+execute);"
out "  rows = rows returned (LIMIT 100 for selective and word); percentiles nearest-rank"
t0=$(now)
timeout --kill-after=10 "$QUERY_TIMEOUT" "$PG_QUERY" "$CONN" "$QUERIES" --raw "$RAW" --summary "$TSV" \
	>"$T/pg_query.out" 2>"$T/pg_query.err" || {
	echo "search_pg: pg_query failed:" >&2
	cat "$T/pg_query.err" >&2
	exit 1
}
q_s=$(secs "$t0" "$(now)")
while IFS= read -r l; do out "  $l"; done <"$T/pg_query.out"
out "  (query run $q_s s)"

# The plans PostgreSQL chose: each class's first query and its slowest one
# (prepared run), from the raw measurements.
out "plans (EXPLAIN of each class's first query and of its slowest):"
while IFS=$'\t' read -r cls which ms q; do
	out "  $cls, $which ($ms ms prepared):"
	while IFS= read -r l; do out "    $l"; done < <(sql "EXPLAIN (COSTS OFF) $q")
done < <(awk -F'\t' '
	FNR == NR { if ($3 == "prepared") { ms[$1, $2] = $4; if (!($1 in max) || $4 > max[$1]) { max[$1] = $4; slow[$1] = $2 } } next }
	{ j = seen[$1]++ }
	j == 0 { print $1 "\tfirst\t" ms[$1, 0] "\t" $3 }
	j > 0 && j == slow[$1] { print $1 "\tslowest\t" ms[$1, j] "\t" $3 }' "$RAW" "$QUERIES")

out "total: $(secs "$T_ALL" "$(now)") s (load, indexes, vacuum, queries)"
