# Helpers shared by the benchmark drivers (sourced, not run).

# bench_args NAME "$@": the drivers' arguments, BUILD_DIR OUTFILE [RUNS]
# (usage, with BENCH_USAGE_MORE after it, and exit 2 otherwise; a driver
# reads its further arguments from $4 on itself), into BUILD, OUTFILE, RUNS and ST; WORK a
# fresh directory under bench/out; SERVER_PID empty; cleanup (stop the
# server, remove WORK) on exit. A driver with more to stop defines its own
# cleanup after this call.
bench_args() {
	local name=$1
	shift
	if [ $# -lt 2 ]; then
		echo "usage: bash bench/$name.sh BUILD_DIR OUTFILE [RUNS]${BENCH_USAGE_MORE:-}" >&2
		exit 2
	fi
	BUILD=$(cd "$1" && pwd)
	OUTFILE=$2
	RUNS=${3:-3}
	ST=$BUILD/sealtrail
	mkdir -p "${BENCH_TMPDIR:-$SRC/bench/out}"
	WORK=$(mktemp -d "${BENCH_TMPDIR:-$SRC/bench/out}/$name.XXXXXX")
	SERVER_PID=
	trap cleanup EXIT
}
cleanup() {
	stop_pid "$SERVER_PID"
	rm -rf "$WORK"
}

now() { date +%s.%N; }
# say LINE: to stdout and appended to $OUTFILE
say() { printf '%s\n' "$*"; printf '%s\n' "$*" >>"$OUTFILE"; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# field JSON KEY: a top-level member's value
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# median: of the numbers on stdin, one a line
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# secs A B: B - A in seconds, two decimals
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
lines_of() { wc -l <"$1" | tr -d ' '; }
# col_pct FILE COL P: the nearest-rank P-quantile (0 < P <= 1) of column COL.
col_pct() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk -v p="$3" '{ v[NR] = $1 } END { r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; print v[r] + 0 }'; }
# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaped. Empty: nothing.
stop_pid() {
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# The start and the run of an index alternative's driver (bench/index_sqlite.sh,
# bench/index_lmdb.sh); they differ only in the binary and its options.
#
# alt_begin NAME TITLE OUT_DIR DATA QUERIES RUNS TMP_BASE KEEP_WHAT: checks
# that DATA and QUERIES are readable, sets TXT and TSV to
# OUT_DIR/NAME_search.{txt,tsv} (OUT_DIR made absolute), T to a fresh temp
# dir under TMP_BASE that is removed on exit (unless KEEP=1: then KEEP_WHAT,
# a path under $T, is named), defines alt_out (a line to stdout and TXT) and
# writes the header: TITLE, machine and load average, inputs.
alt_begin() {
	ALT_NAME=$1
	local title=$2 out_dir=$3 data=$4 queries=$5 runs=$6 tmp_base=$7
	ALT_KEEP_WHAT=$8
	local f
	for f in "$data" "$queries"; do
		[ -r "$f" ] || { echo "$ALT_NAME: cannot read $f" >&2; exit 1; }
	done
	mkdir -p "$out_dir"
	out_dir=$(cd "$out_dir" && pwd)
	TXT=$out_dir/${ALT_NAME#index_}_search.txt
	TSV=$out_dir/${ALT_NAME#index_}_search.tsv
	T=$(mktemp -d "$tmp_base/sealtrail-${ALT_NAME#index_}.XXXXXX")
	trap alt_cleanup EXIT
	trap 'exit 130' INT TERM
	: >"$TXT"
	local commit fs
	commit=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --short HEAD 2>/dev/null || echo unknown)
	fs=$(df -PT "$T" | awk 'NR == 2 { print $2 }')
	alt_out "== $title, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
	alt_out "machine: nproc=$(nproc), loadavg $(cut -d" " -f1-3 /proc/loadavg), db fs=${fs:-unknown}; commit $commit"
	alt_out "events: $data, $(wc -l <"$data") lines, $(stat -c %s "$data") bytes; queries: $queries, $(wc -l <"$queries") lines; runs: $runs"
}
alt_cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "$ALT_NAME: KEEP=1: the database is $T/$ALT_KEEP_WHAT" >&2
	else
		rm -rf "$T"
	fi
}
alt_out() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$TXT"
}
# alt_run WHAT CMD...: runs CMD (stdout and stderr kept in $T; both shown
# if it fails, then exit 1), copies its stdout through alt_out, and ends with
# the load average and the total time ("total: N s (WHAT)").
alt_run() {
	local what=$1 t0 l
	shift
	t0=$(date +%s.%N)
	"$@" >"$T/out" 2>"$T/err" || {
		echo "$ALT_NAME: $1 failed:" >&2
		cat "$T/out" "$T/err" >&2
		exit 1
	}
	while IFS= read -r l; do alt_out "$l"; done <"$T/out"
	alt_out "loadavg at the end: $(cut -d" " -f1-3 /proc/loadavg)"
	alt_out "total: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s ($what)"
}

# policy_setup ST DIR URL SRC: for a server running docs/examples/policy.conf,
# publishes the schemas that policy binds (auth-event/2, k8s-audit/1) with
# the admin token in DIR.admin, so no event is quarantined for want of one.
policy_setup() {
	local st=$1 dir=$2 url=$3 src=$4 s
	for s in auth-event/2 k8s-audit/1; do
		"$st" schema put --url "$url" --token-file "$dir.admin" "$s" \
			"$src/docs/examples/schemas/${s%/*}-${s#*/}.json" >/dev/null ||
			{ echo "publishing schema $s failed" >&2; return 1; }
	done
}
# policy_check URL DIR: fails when the server quarantined any event (the
# run would not measure what it says); the operator token in DIR.ops.
policy_check() {
	local m
	m=$(curl -sf -H "Authorization: Bearer $(cat "$2.ops")" "$1/metrics" |
		awk '$1 == "sealtrail_events_quarantined_total" { print $2 }')
	if [ "${m:-x}" != 0 ]; then
		echo "policy on: ${m:-?} events were quarantined; the run does not measure what it says" >&2
		return 1
	fi
}
# tokens_for ST DIR TENANT: producer (DIR.tok), admin (DIR.admin) and
# operator (DIR.ops) tokens, made before the server starts.
tokens_for() {
	"$1" token create --data "$2" --role producer --tenant "$3" --name loadgen 2>/dev/null | head -n 1 >"$2.tok"
	"$1" token create --data "$2" --role admin --name bench-admin 2>/dev/null | head -n 1 >"$2.admin"
	"$1" token create --data "$2" --role operator --name bench-ops 2>/dev/null | head -n 1 >"$2.ops"
}

# bench_server ST DIR TENANT [POLICY]: a fresh log at DIR with tokens_for
# TENANT, `sealtrail serve` on a free loopback port (with POLICY as its
# policy_file when given), up and answering; sets PORT and SERVER_PID.
bench_server() {
	local st=$1 dir=$2 tenant=$3 policy=${4:-} i
	"$st" init --data "$dir" >/dev/null 2>&1
	tokens_for "$st" "$dir" "$tenant"
	: >"$dir.conf"
	[ -z "$policy" ] || printf 'policy_file = %s\n' "$policy" >"$dir.conf"
	PORT=$(free_port)
	"$st" serve --data "$dir" --config "$dir.conf" --listen "127.0.0.1:$PORT" >"$dir.out" 2>"$dir.err" &
	SERVER_PID=$!
	for i in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the server did not start: $(head -n 3 "$dir.err")" >&2
	return 1
}
