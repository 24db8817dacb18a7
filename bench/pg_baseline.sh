#!/usr/bin/env bash
# The PostgreSQL baseline for durable ingest: the same events Sealtrail's
# append benchmark uses, loaded into PostgreSQL 15 with COPY by
# build/bench/pg_copy, every batch its own durable transaction.
#
#   bash bench/pg_baseline.sh OUTFILE [EVENTS]      (EVENTS defaults to 1000000)
#
# Creates a private cluster in a temp dir (initdb as the `postgres` OS user;
# we run as root), starts it on loopback on a free port with the settings
# below, loads:
#   1. EVENTS rows into `events (seq bigserial primary key, body jsonb)`,
#      batch 1000, 4 connections (jsonb validates JSON, as Sealtrail does);
#   2. the same into a `text` column (no validation): what jsonb costs;
#   3. the first SMALL rows (20000) with batch 1 over 64 connections, into
#      jsonb: the analogue of one event per request;
# checks each table's row count, writes the settings and the results (a
# human line and a JSON line per run) to OUTFILE and stdout, stops the
# cluster by PID and removes the temp dir.
#
# Environment: BUILD_DIR (default SRC/build; pg_copy and gen_events are
# taken from BUILD_DIR/bench), EVENTS_FILE (NDJSON with at least EVENTS
# lines; default: generated with `gen_events EVENTS 1` into the temp dir),
# PG_BIN (default /usr/lib/postgresql/15/bin), PG_TMPDIR (where the cluster
# goes, default $TMPDIR or /tmp: put it on the disk you want to measure),
# PG_SMALL (rows for the batch-1 run, default 20000), PG_TIMEOUT (seconds
# allowed to one load, default 900).
#
# Needs: postgresql (server binaries), util-linux (runuser), python3 (a
# free port), coreutils timeout. Must run as root, or as postgres.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: bash bench/pg_baseline.sh OUTFILE [EVENTS]" >&2
	exit 2
fi
OUTFILE=$1
EVENTS=${2:-1000000}
case $EVENTS in '' | *[!0-9]*) echo "pg_baseline: EVENTS must be a number, got '$EVENTS'" >&2; exit 2 ;; esac
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$SRC/build}
PG_COPY=$BUILD/bench/pg_copy
GEN=$BUILD/bench/gen_events
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SMALL=${PG_SMALL:-20000}
LOAD_TIMEOUT=${PG_TIMEOUT:-900}
[ "$SMALL" -gt "$EVENTS" ] && SMALL=$EVENTS

for x in "$PG_COPY" "$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/pg_ctl" "$PG_BIN/pg_isready" "$PG_BIN/psql"; do
	if [ ! -x "$x" ]; then
		echo "pg_baseline: $x not found (build pg_copy with libpq-dev; install postgresql)" >&2
		exit 1
	fi
done

# Run as the postgres OS user: PostgreSQL refuses to run as root.
if [ "$(id -u)" -eq 0 ]; then
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

T=$(mktemp -d "${PG_TMPDIR:-${TMPDIR:-/tmp}}/sealtrail-pg.XXXXXX")
RUNNER_PID=   # runuser (or postgres itself when not root)
PM_PID=       # the postmaster, from postmaster.pid
DATA=$T/data
SOCK=$T/sock

# Stop the cluster: pg_ctl stop -m fast (bounded), then the postmaster by
# PID, SIGKILL as the last resort; then the temp dir goes.
cleanup() {
	local i
	if [ -n "$PM_PID" ] && kill -0 "$PM_PID" 2>/dev/null; then
		as_pg "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -t 30 >/dev/null 2>&1 || true
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
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$OUTFILE"
}

# ------------------------------------------------------------ the events

if [ -n "${EVENTS_FILE:-}" ]; then
	EV_SRC=$EVENTS_FILE
else
	[ -x "$GEN" ] || { echo "pg_baseline: $GEN not built" >&2; exit 1; }
	EV_SRC=$T/gen.ndjson
	"$GEN" "$EVENTS" 1 >"$EV_SRC"
fi
EV_BIG=$T/events-big.ndjson
EV_SMALL=$T/events-small.ndjson
head -n "$EVENTS" "$EV_SRC" >"$EV_BIG"
head -n "$SMALL" "$EV_SRC" >"$EV_SMALL"
[ -z "${EVENTS_FILE:-}" ] && rm -f "$EV_SRC"
got=$(wc -l <"$EV_BIG")
if [ "$got" -ne "$EVENTS" ]; then
	echo "pg_baseline: $EV_SRC has $got lines, want $EVENTS" >&2
	exit 1
fi

# ------------------------------------------------------------ the cluster

mkdir -p "$DATA" "$SOCK"
chmod 700 "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T" "$DATA" "$SOCK"
as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
	>"$T/initdb.log" 2>&1 || { cat "$T/initdb.log" >&2; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SETTINGS=(
	-c listen_addresses=127.0.0.1 -p "$PORT"
	-c synchronous_commit=on -c fsync=on -c full_page_writes=on
	-c shared_buffers=256MB -c max_wal_size=4GB
)
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
	echo "pg_baseline: PostgreSQL not ready after 30 s; its log:" >&2
	tail -n 20 "$T/server.log" >&2
	exit 1
fi

CONN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
sql() { "$PG_BIN/psql" "$CONN" -X -q -v ON_ERROR_STOP=1 -tA -c "$1"; }

sql "CREATE TABLE events (seq bigserial PRIMARY KEY, body jsonb NOT NULL)"
sql "CREATE TABLE events_text (seq bigserial PRIMARY KEY, body text NOT NULL)"
sql "CREATE TABLE events_b1 (seq bigserial PRIMARY KEY, body jsonb NOT NULL)"

# ------------------------------------------------------------------ runs

fs=$(df -PT "$T" | awk 'NR == 2 { print $2 }')
out ""
out "== PostgreSQL COPY baseline, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
out "server: $("$PG_BIN/postgres" --version), libpq $(pkg-config --modversion libpq 2>/dev/null || echo '?'), data fs=${fs:-unknown}, nproc=$(nproc), loadavg $(cut -d" " -f1-3 /proc/loadavg)"
out "settings: ${SETTINGS[*]} (initdb defaults otherwise; connections over TCP loopback)"
for s in synchronous_commit fsync full_page_writes wal_sync_method shared_buffers max_wal_size wal_level; do
	out "  $s = $(sql "SHOW $s")"
done
out "events: $EVENTS lines, $(stat -c %s "$EV_BIG") bytes; batch-1 run: first $SMALL lines"

# load TABLE FILE ROWS CONNS BATCH: one pg_copy run, then a checkpoint so
# the next run does not pay for this one's dirty pages.
load() {
	local table=$1 file=$2 rows=$3 conns=$4 batch=$5 lsn0 wal res count
	lsn0=$(sql "SELECT pg_current_wal_lsn()")
	res=$(timeout --kill-after=10 "$LOAD_TIMEOUT" "$PG_COPY" "$CONN" "$file" \
		-c "$conns" -b "$batch" --table "$table" --json 2>"$T/pg_copy.err") || {
		echo "pg_baseline: pg_copy into $table failed:" >&2
		cat "$T/pg_copy.err" >&2
		return 1
	}
	wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
	count=$(sql "SELECT count(*) FROM $table")
	if [ "$count" -ne "$rows" ]; then
		echo "pg_baseline: $table has $count rows, want $rows" >&2
		return 1
	fi
	out "$table, batch $batch, $conns conns:"
	out "  $(cat "$T/pg_copy.err")"
	out "  WAL written: $(awk -v w="$wal" -v n="$rows" 'BEGIN { printf "%.1f MB, %.0f bytes/row", w / 1e6, w / n }'); table+index size $(sql "SELECT pg_size_pretty(pg_total_relation_size('$table'))")"
	out "  $res"
	sql "CHECKPOINT"
}

load events "$EV_BIG" "$EVENTS" 4 1000
load events_text "$EV_BIG" "$EVENTS" 4 1000

# The text column holds the lines byte for byte (COPY escaping is right):
# compare a digest of the sorted per-line MD5s on both sides.
want=$(python3 -c '
import hashlib, sys
h = sorted(hashlib.md5(l.rstrip(b"\n")).hexdigest() for l in open(sys.argv[1], "rb") if l.strip())
print(hashlib.md5("".join(h).encode()).hexdigest())' "$EV_BIG")
got=$(sql "SELECT md5(string_agg(md5(body), '' ORDER BY md5(body))) FROM events_text")
if [ "$want" != "$got" ]; then
	echo "pg_baseline: events_text differs from the input (digest $got, want $want)" >&2
	exit 1
fi
out "events_text: content identical to the input (digest of sorted line MD5s)"
load events_b1 "$EV_SMALL" "$SMALL" 64 1
