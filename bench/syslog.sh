#!/usr/bin/env bash
# Syslog ingest (issue 6, docs/SYSLOG.md; goal >= 200,000 msgs/s):
#
#   bash bench/syslog.sh BUILD_DIR OUTFILE [RUNS]
#
# For each of RUNS rounds, on a fresh data directory, `sealtrail serve`
# with one syslog listener (no policy) and:
#  - load: bench/syslog_load -c 4 -n 250000 --size 200 (1,000,000 RFC 5424
#    messages with audit@32473 structured data, octet-counted, as fast as
#    the listener reads them; every message distinct);
#  - rsyslog (when rsyslogd is installed): Debian's rsyslogd reads a file
#    of 200,000 lines with imfile and forwards them with omfwd (TCP,
#    octet-counted, the RFC 5424 template): the realistic figure.
# The rate is the server's durable one: messages / (from the first byte
# sent until /metrics counts them all committed). A run fails unless
# every message is committed exactly once (committed == sent, no
# duplicate, nothing refused). Prints and appends each run and the
# medians. Every process is stopped by its PID.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$SRC/bench/lib.sh"
bench_args syslog "$@"
LG=$BUILD/bench/syslog_load
RS_PID=
LOAD_CONNS=${BENCH_SYSLOG_CONNS:-4}
LOAD_N=${BENCH_SYSLOG_N:-250000}
RS_N=${BENCH_SYSLOG_RSYSLOG_N:-200000}

cleanup() {
	stop_pid "$RS_PID"
	stop_pid "$SERVER_PID"
	rm -rf "$WORK"
}

# start DIR: the server with a syslog listener on $SPORT; sets SERVER_PID,
# PORT, ADMIN
start() {
	local dir=$1
	PORT=$(free_port)
	SPORT=$(free_port)
	printf 'syslog_listen = 127.0.0.1:%s tenant=bench producer=syslog-bench\n' "$SPORT" >"$dir.conf"
	"$ST" serve --data "$dir" --init --config "$dir.conf" --listen "127.0.0.1:$PORT" >"$dir.out" 2>"$dir.err" &
	SERVER_PID=$!
	for _ in $(seq 1 100); do
		grep -q '^Serving on' "$dir.out" 2>/dev/null && break
		sleep 0.1
	done
	ADMIN=$(grep -o 'st1_[A-Za-z0-9_-]*' "$dir.out" | head -1)
	[ -n "$ADMIN" ] || { echo "the server did not start: $(head -n 3 "$dir.err")" >&2; return 1; }
}
metric() {
	curl -s --max-time 10 -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/metrics" |
		awk -v m="$1" '$1 == m { print $2 }'
}
# wait_committed N: until N committed (600 s at most); prints the time
wait_committed() {
	local c
	for _ in $(seq 1 12000); do
		c=$(metric 'sealtrail_syslog_events_total{outcome="committed"}')
		[ "${c:-0}" -ge "$1" ] && break
		sleep 0.05
	done
	now
}
# check N: committed exactly N, nothing else
check() {
	local c d r
	c=$(metric 'sealtrail_syslog_events_total{outcome="committed"}')
	d=$(metric 'sealtrail_syslog_events_total{outcome="duplicate"}')
	r=$(metric 'sealtrail_syslog_events_total{outcome="refused"}')
	if [ "$c" != "$1" ] || [ "$d" != 0 ] || [ "$r" != 0 ]; then
		echo "not exactly once: sent $1, committed $c, duplicate $d, refused $r" >&2
		return 1
	fi
}

run_load() {
	local dir=$1 t0 t1 total=$((LOAD_CONNS * LOAD_N)) out
	start "$dir"
	t0=$(now)
	out=$("$LG" --port "$SPORT" -c "$LOAD_CONNS" -n "$LOAD_N" --size 200)
	t1=$(wait_committed "$total")
	check "$total"
	stop_pid "$SERVER_PID"
	SERVER_PID=
	rm -rf "$dir" "$dir".*
	awk -v n="$total" -v a="$t0" -v b="$t1" -v s="$out" \
		'BEGIN { printf "{\"msgs\":%d,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"sender\":%s}\n", n, b - a, n / (b - a), s }'
}

run_rsyslog() {
	local dir=$1 t0 t1 rs=$1.rs
	mkdir -p "$rs/work"
	awk -v n="$RS_N" 'BEGIN { for (i = 1; i <= n; i++) printf "rsyslog bench line %d user=u%d action=login resource=acct-%d outcome=success\n", i, i % 1000, i % 5000 }' >"$rs/input.log"
	start "$dir"
	cat >"$rs/rsyslog.conf" <<EOF
global(workDirectory="$rs/work")
module(load="imfile")
input(type="imfile" File="$rs/input.log" Tag="benchapp" ruleset="fwd")
ruleset(name="fwd" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1024") {
  action(type="omfwd" target="127.0.0.1" port="$SPORT" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="octet-counted")
}
EOF
	t0=$(now)
	"$(command -v rsyslogd || echo /usr/sbin/rsyslogd)" -n -f "$rs/rsyslog.conf" -i "$rs/rsyslog.pid" >"$rs/out" 2>&1 &
	RS_PID=$!
	t1=$(wait_committed "$RS_N")
	check "$RS_N"
	stop_pid "$RS_PID"
	RS_PID=
	stop_pid "$SERVER_PID"
	SERVER_PID=
	rm -rf "$dir" "$dir".* "$rs"
	awk -v n="$RS_N" -v a="$t0" -v b="$t1" \
		'BEGIN { printf "{\"msgs\":%d,\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n", n, b - a, n / (b - a) }'
}

say ""
say "== syslog, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg), nproc $(nproc)"
say "command: bash bench/syslog.sh $BUILD OUTFILE $RUNS (syslog_load -c $LOAD_CONNS -n $LOAD_N --size 200, octet-counted RFC 5424; rsyslogd imfile $RS_N lines -> omfwd octet-counted)"
LOAD="" RS=""
have_rs=0
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] && have_rs=1
for ((i = 1; i <= RUNS; i++)); do
	j=$(run_load "$WORK/load-$i")
	say "run $i load: $j"
	LOAD+="$(field "$j" msgs_per_s) "
	if [ $have_rs = 1 ]; then
		j=$(run_rsyslog "$WORK/rs-$i")
		say "run $i rsyslog: $j"
		RS+="$(field "$j" msgs_per_s) "
	fi
done
say "syslog load generator, $LOAD_CONNS connections: median $(printf '%s\n' $LOAD | median | xargs printf '%.0f') msgs/s durable"
[ $have_rs = 0 ] || say "rsyslog imfile -> omfwd: median $(printf '%s\n' $RS | median | xargs printf '%.0f') msgs/s durable"
