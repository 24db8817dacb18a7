#!/usr/bin/env bash
# Sealtrail benchmark driver, run by `make bench`:
#
#   bash bench/run.sh BUILD_DIR
#
# Generates the data sets once into bench/out/ (gitignored), then runs every
# step listed in STEPS. Each step is a shell function that prints its results
# through `log`, which also appends them to bench/out/results.txt under a
# header naming the machine, the commit and the date. A step whose binary or
# subcommand does not exist (yet) prints "skipped: <reason>" and the run goes
# on; a step that fails is reported and makes the script exit 1 at the end.
#
# Environment knobs: BENCH_RUNS (runs per measurement, default 3),
# BENCH_SEED (generator seed, default 1), BENCH_TIMEOUT (seconds allowed to
# one run of one command, default 300), BENCH_STEPS (space-separated step
# names to run instead of all of them), BENCH_SEARCH_EVENTS and
# BENCH_SEARCH_TIMEOUT (steps search_pg and search, below).
#
# Needs: bash, coreutils (timeout, date +%N), awk, GNU time (/usr/bin/time,
# Debian package "time") for peak RSS.
# Steps and measurements are called indirectly (by name, via median_of).
# shellcheck disable=SC2317
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bash bench/run.sh BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$SRC/bench/out
RESULTS=$OUT/results.txt
PIN=${PIN:-}
ST=$BUILD/sealtrail
GEN=$BUILD/bench/gen_events
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-1}
RUN_TIMEOUT=${BENCH_TIMEOUT:-300}
GNU_TIME=/usr/bin/time

# The data sets: the big one is generated, the others are its prefixes
# (gen_events guarantees that `gen_events K S` is the first K lines of
# `gen_events N S`).
N_BIG=1000000
N_MID=200000
N_SMALL=20000
EV_BIG=$OUT/events-1m.ndjson
EV_MID=$OUT/events-200k.ndjson
EV_SMALL=$OUT/events-20k.ndjson

mkdir -p "$OUT" "$OUT/logs"
FAILED=0

# ------------------------------------------------------------- helpers

# Print a line and append it to the results file.
log() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$RESULTS"
}

# The same, but to stderr: for measurement functions whose stdout is the
# number median_of reads.
note() {
	printf '%s\n' "$*" >&2
	printf '%s\n' "$*" >>"$RESULTS"
}

now() { date +%s.%N; }

# elapsed START END: seconds between two `now` readings, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ratio A B [DECIMALS]: A / B.
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "inf" }'; }

file_size() { stat -c %s "$1"; }

# median_of N cmd...: run cmd N times and print the median of the number
# it prints on its last line of stdout (the last number on that line).
# Fails, with the command's status, if any run fails.
median_of() {
	local n=$1 i out last num rc
	shift
	local vals=()
	for ((i = 0; i < n; i++)); do
		rc=0
		out=$("$@") || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "median_of: '$*' failed with status $rc" >&2
			return "$rc"
		fi
		last=$(printf '%s\n' "$out" | tail -n 1)
		num=$(printf '%s\n' "$last" | grep -Eo -- '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?' | tail -n 1 || true)
		if [ -z "$num" ]; then
			echo "median_of: no number on the last line of '$*': '$last'" >&2
			return 1
		fi
		vals+=("$num")
	done
	printf '%s\n' "${vals[@]}" | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bounded cmd...: run cmd with the per-run time limit.
bounded() { timeout --kill-after=10 "$RUN_TIMEOUT" "$@"; }

# first_line_of FILE: a one-line reason from a command's stderr.
first_line_of() { head -n 1 "$1" 2>/dev/null | cut -c1-160; }

# ------------------------------------------------------------ data sets

# Generate the data sets unless present with the expected size. The size
# of the 1M set is recomputed from the generator (about a second, no disk),
# so a changed generator regenerates the files.
prepare_data() {
	if [ ! -x "$GEN" ]; then
		echo "bench: $GEN not built" >&2
		exit 1
	fi
	local want
	want=$("$GEN" "$N_BIG" "$SEED" | wc -c)
	if [ -f "$EV_BIG" ] && [ "$(file_size "$EV_BIG")" = "$want" ]; then
		echo "data: $EV_BIG present ($want bytes)"
	else
		echo "data: generating $N_BIG events (seed $SEED) into $EV_BIG"
		"$GEN" "$N_BIG" "$SEED" >"$EV_BIG.tmp"
		mv "$EV_BIG.tmp" "$EV_BIG"
	fi
	local n f
	for n in "$N_MID" "$N_SMALL"; do
		f=$EV_MID
		[ "$n" = "$N_SMALL" ] && f=$EV_SMALL
		want=$(head -n "$n" "$EV_BIG" | wc -c)
		if [ -f "$f" ] && [ "$(file_size "$f")" = "$want" ]; then
			echo "data: $f present ($want bytes)"
		else
			head -n "$n" "$EV_BIG" >"$f.tmp"
			mv "$f.tmp" "$f"
			echo "data: wrote $f ($want bytes)"
		fi
	done
}

# ------------------------------------------------- sealtrail measurements

# A fresh data directory on the same file system as bench/out, so that
# fdatasync costs what it costs on this machine's disk.
fresh_dir() {
	local d=$OUT/data-$1
	rm -rf "$d"
	echo "$d"
}

# probe_sealtrail: succeeds if the binary exists and `init` plus a 10-event
# `append` work (leaving that log in $PROBE_DIR), otherwise sets $WHY.
# Call it directly, not in $(...), so that the globals survive.
PROBE_DIR=
WHY=
probe_sealtrail() {
	if [ ! -x "$ST" ]; then
		WHY="$ST not built"
		return 1
	fi
	if [ -n "$PROBE_DIR" ]; then
		return 0
	fi
	local d err
	d=$(fresh_dir probe)
	err=$OUT/logs/probe.err
	if ! "$ST" init --data "$d" >/dev/null 2>"$err"; then
		WHY="'sealtrail init' failed: $(first_line_of "$err")"
		return 1
	fi
	head -n 10 "$EV_SMALL" >"$OUT/probe.ndjson"
	if ! "$ST" append --data "$d" --batch 5 "$OUT/probe.ndjson" >/dev/null 2>"$err"; then
		WHY="'sealtrail append' failed: $(first_line_of "$err")"
		return 1
	fi
	PROBE_DIR=$d
}

# append_once BATCH FILE COUNT TAG: one timed append into a fresh data
# directory. Logs the run; prints events/s on its last line. Leaves the
# directory in $OUT/data-TAG for later steps.
append_once() {
	local batch=$1 file=$2 count=$3 tag=$4 d t0 t1 wall rss tf err rc=0
	d=$(fresh_dir "$tag")
	err=$OUT/logs/append-$tag.err
	"$ST" init --data "$d" >/dev/null 2>"$err" || {
		echo "init failed: $(first_line_of "$err")" >&2
		return 1
	}
	tf=$OUT/logs/append-$tag.time
	sync
	if [ -x "$GNU_TIME" ]; then
		t0=$(now)
		bounded $PIN "$GNU_TIME" -v -o "$tf" "$ST" append --data "$d" --batch "$batch" "$file" \
			>/dev/null 2>"$err" || rc=$?
		t1=$(now)
		rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tf")
	else
		t0=$(now)
		bounded $PIN "$ST" append --data "$d" --batch "$batch" "$file" \
			>/dev/null 2>"$err" || rc=$?
		t1=$(now)
		rss=
	fi
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && echo "append timed out after ${RUN_TIMEOUT}s" >&2 ||
			echo "append failed ($rc): $(first_line_of "$err")" >&2
		return 1
	fi
	wall=$(elapsed "$t0" "$t1")
	note "    run: wall ${wall} s, $(ratio "$count" "$wall") events/s, peak RSS ${rss:-n/a} KiB"
	[ -n "$rss" ] && echo "$rss" >>"$OUT/logs/rss-$tag"
	ratio "$count" "$wall"
	echo
}

# bench_append BATCH FILE COUNT: RUNS appends, median throughput, max RSS.
bench_append() {
	local batch=$1 file=$2 count=$3 med rss tag=b$1
	if ! probe_sealtrail; then
		log "append batch=$batch: skipped: $WHY"
		return 0
	fi
	rm -f "$OUT/logs/rss-$tag"
	log "append batch=$batch, $count events ($(file_size "$file") bytes), $RUNS runs:"
	med=$(median_of "$RUNS" append_once "$batch" "$file" "$count" "$tag") || return 1
	rss=$(sort -n "$OUT/logs/rss-$tag" 2>/dev/null | tail -n 1)
	if [ -n "$rss" ]; then
		rss="$(ratio "$rss" 1024 1) MiB"
	else
		rss="n/a (install GNU time)"
	fi
	log "  append batch=$batch: median $med events/s ($(awk -v s="$(file_size "$file")" -v m="$med" -v c="$count" 'BEGIN { printf "%.1f", s * m / c / 1e6 }') MB/s), peak RSS $rss"
}

# The 1M-event log made by the batch=10000 step, for verify and proof.
BIG_LOG=$OUT/data-b10000

have_big_log() {
	probe_sealtrail || return 1
	if [ ! -d "$BIG_LOG" ]; then
		WHY="no 1M-event log (the append batch=10000 step did not succeed)"
		return 1
	fi
}

verify_once() {
	local t0 t1 wall rc=0 err=$OUT/logs/verify.err
	t0=$(now)
	bounded "$ST" verify --data "$BIG_LOG" >"$OUT/logs/verify.out" 2>"$err" || rc=$?
	t1=$(now)
	if [ "$rc" -ne 0 ]; then
		echo "verify failed ($rc): $(first_line_of "$err")" >&2
		return 1
	fi
	wall=$(elapsed "$t0" "$t1")
	note "    run: wall ${wall} s"
	echo "$wall"
}

# proof_once COUNT: COUNT inclusion proofs for seqs spread over the log
# (1..N-1, valid whether seqs start at 0 or 1),
# one process each (what a client pays); prints milliseconds per proof.
proof_once() {
	local count=$1 t0 t1 seq rc=0 err=$OUT/logs/proof.err i
	t0=$(now)
	for ((i = 0; i < count; i++)); do
		seq=$(( (i * 7919 + 13) % (N_BIG - 1) + 1 ))
		bounded "$ST" proof inclusion --data "$BIG_LOG" "$seq" >/dev/null 2>"$err" || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "proof inclusion $seq failed ($rc): $(first_line_of "$err")" >&2
			return 1
		fi
	done
	t1=$(now)
	local ms
	ms=$(awk -v a="$t0" -v b="$t1" -v n="$count" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }')
	note "    run: $count proofs, ${ms} ms per proof"
	echo "$ms"
}

# ----------------------------------------------------------------- steps

step_generate() {
	gen_once() {
		local t0 t1
		t0=$(now)
		"$GEN" "$N_BIG" "$SEED" >/dev/null
		t1=$(now)
		elapsed "$t0" "$t1"
		echo
	}
	local med
	med=$(median_of "$RUNS" gen_once) || return 1
	log "generate: $N_BIG events ($(file_size "$EV_BIG") bytes) in median $med s, $(ratio "$N_BIG" "$med") events/s"
}

step_append_batch1() { bench_append 1 "$EV_SMALL" "$N_SMALL"; }
step_append_batch100() { bench_append 100 "$EV_MID" "$N_MID"; }
step_append_batch10000() { bench_append 10000 "$EV_BIG" "$N_BIG"; }
# The same, with every thread of the process pinned to one core.
step_append_onecore() {
	if ! command -v taskset >/dev/null; then
		log "append one core: skipped: no taskset"
		return 0
	fi
	log "append pinned to one core (taskset -c 0):"
	PIN="taskset -c 0" bench_append 10000 "$EV_BIG" "$N_BIG"
}

step_verify() {
	local med
	if ! have_big_log; then
		log "verify: skipped: $WHY"
		return 0
	fi
	if ! "$ST" verify --data "$PROBE_DIR" >/dev/null 2>"$OUT/logs/verify-probe.err"; then
		log "verify: skipped: 'sealtrail verify' failed on a 10-event log: $(first_line_of "$OUT/logs/verify-probe.err")"
		return 0
	fi
	# One unmeasured run first: segment writes bypass the page cache, so
	# the first read of a fresh log comes from disk (step verify_cold).
	bounded "$ST" verify --quiet --data "$BIG_LOG" >/dev/null 2>&1 || true
	log "verify: $N_BIG-event log, page cache warm (after one unmeasured run), $RUNS runs:"
	med=$(median_of "$RUNS" verify_once) || return 1
	local bytes
	bytes=$(cat "$BIG_LOG"/segments/*.seg | wc -c)
	log "  verify: median $med s, $(ratio "$N_BIG" "$med") events/s, $(awk -v b="$bytes" -v m="$med" 'BEGIN { printf "%.0f", b / m / 1e6 }') MB/s of segments"
}

step_proof() {
	local med n=50
	if ! have_big_log; then
		log "proof inclusion: skipped: $WHY"
		return 0
	fi
	if ! "$ST" proof inclusion --data "$PROBE_DIR" 1 >/dev/null 2>"$OUT/logs/proof-probe.err"; then
		log "proof inclusion: skipped: 'sealtrail proof inclusion' failed on a 10-event log: $(first_line_of "$OUT/logs/proof-probe.err")"
		return 0
	fi
	log "proof inclusion: $n proofs in the $N_BIG-event log, one process each, $RUNS runs:"
	med=$(median_of "$RUNS" proof_once "$n") || return 1
	log "  proof inclusion: median $med ms per proof (process start included)"
}

# The parser against the Debian JSON libraries, on the same 200k events.
step_json() {
	local jc=$BUILD/bench/json_compare
	if [ ! -x "$jc" ]; then
		log "json: skipped: $jc not built (libjson-c-dev, libjansson-dev)"
		return 0
	fi
	log "json: event_parse vs json-c vs jansson, $N_MID events, median of 5 runs each (thread CPU time):"
	"$jc" "$EV_MID" 2>&1 | tee -a "$RESULTS" | sed 's/^/    /' >&2
}

# verify reading the segments from disk: segment writes bypass the page
# cache, so this is what the first verify after a large append costs.
step_verify_cold() {
	if ! have_big_log; then
		log "verify cold: skipped: $WHY"
		return 0
	fi
	if ! { sync && echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
		log "verify cold: skipped: cannot drop the page cache (needs root)"
		return 0
	fi
	local t0 t1 bytes wall
	bytes=$(cat "$BIG_LOG"/segments/*.seg | wc -c)
	sync && echo 3 > /proc/sys/vm/drop_caches
	t0=$(now)
	bounded "$ST" verify --quiet --data "$BIG_LOG" >/dev/null 2>&1 || return 1
	t1=$(now)
	wall=$(elapsed "$t0" "$t1")
	log "verify cold (page cache dropped, one run): $wall s, $(awk -v b="$bytes" -v m="$wall" 'BEGIN { printf "%.0f", b / m / 1e6 }') MB/s of segments"
}

# Proof generation in-process on a 1M-leaf tree (no process start).
step_proof_inproc() {
	local bp=$BUILD/bench/bench_proof
	if [ ! -x "$bp" ]; then
		log "proof in-process: skipped: $bp not built"
		return 0
	fi
	log "proof in-process: tree of $N_BIG leaves, 10,000 random proofs each:"
	"$bp" "$N_BIG" 2>&1 | tee -a "$RESULTS" | sed 's/^/    /' >&2
}

# Peak RSS must not grow with the log: the same batch size on 200k and 1M.
step_rss() {
	if ! probe_sealtrail; then
		log "rss: skipped: $WHY"
		return 0
	fi
	local small big
	rm -f "$OUT/logs/rss-rss200k" "$OUT/logs/rss-rss1m"
	append_once 10000 "$EV_MID" "$N_MID" rss200k >/dev/null || return 1
	append_once 10000 "$EV_BIG" "$N_BIG" rss1m >/dev/null || return 1
	small=$(cat "$OUT/logs/rss-rss200k" 2>/dev/null || echo 0)
	big=$(cat "$OUT/logs/rss-rss1m" 2>/dev/null || echo 0)
	log "rss: peak RSS appending $N_MID events $(ratio "$small" 1024 1) MiB, $N_BIG events $(ratio "$big" 1024 1) MiB (ratio $(ratio "$big" "$small" 2))"
}

# The server against its load generator, the PostgreSQL baseline and the
# RSS soak, in one run (bench/server.sh). BENCH_SOAK_SECONDS (default 600).
step_server() {
	if [ ! -x "$BUILD/bench/loadgen" ]; then
		log "server: skipped: $BUILD/bench/loadgen not built"
		return 0
	fi
	bounded_long bash "$SRC/bench/server.sh" "$BUILD" "$RESULTS" "$RUNS" "${BENCH_SOAK_SECONDS:-600}"
}
# The policy pipeline's cost on ingest, off and on alternating (bench/policy.sh).
step_policy() {
	if [ ! -x "$BUILD/bench/loadgen" ]; then
		log "policy: skipped: $BUILD/bench/loadgen not built"
		return 0
	fi
	bounded bash "$SRC/bench/policy.sh" "$BUILD" "$RESULTS" "$RUNS"
}
# libsealtrail: emit calls/s and end to end (bench/client.sh, issue 6).
step_client() {
	if [ ! -x "$BUILD/client_load" ]; then
		log "client: skipped: $BUILD/client_load not built"
		return 0
	fi
	bounded bash "$SRC/bench/client.sh" "$BUILD" "$RESULTS" "$RUNS"
}

# kube-apiserver's audit webhook, EventLists of 400 (bench/k8s.sh, issue 6).
step_k8s() {
	if [ ! -x "$BUILD/bench/loadgen" ]; then
		log "k8s: skipped: $BUILD/bench/loadgen not built"
		return 0
	fi
	bounded bash "$SRC/bench/k8s.sh" "$BUILD" "$RESULTS" "$RUNS"
}
# Syslog over TCP (bench/syslog.sh, issue 6): the C load generator and
# rsyslogd forwarding to the listener, durable msgs/s.
step_syslog() {
	if [ ! -x "$BUILD/bench/syslog_load" ]; then
		log "syslog: skipped: $BUILD/bench/syslog_load not built"
		return 0
	fi
	bounded bash "$SRC/bench/syslog.sh" "$BUILD" "$RESULTS" "$RUNS"
}
bounded_long() { timeout --kill-after=10 $((RUN_TIMEOUT + ${BENCH_SOAK_SECONDS:-600} + 600)) "$@"; }

# Search, the PostgreSQL side (issue 4): BENCH_SEARCH_EVENTS events
# (default 10,000,000, seed BENCH_SEED), the shared query set written by
# bench/search_queries.py, loaded, indexed and queried by
# bench/search_pg.sh; its report goes into results.txt, its files to
# bench/out/pg_search.{txt,tsv}. The whole step is bounded by
# BENCH_SEARCH_TIMEOUT seconds (default 14400). At 10M the data set
# (about 5.8 GB) and the queries stay in bench/out/ for the next run and
# for Sealtrail's side of the comparison.
N_SEARCH=${BENCH_SEARCH_EVENTS:-10000000}
SEARCH_DATA=
SEARCH_QUERIES=

# search_prepare: sets SEARCH_DATA (the NDJSON of N_SEARCH events, a
# prefix of the standard sets or generated; reused when present with the
# expected size) and SEARCH_QUERIES (regenerated when older than the data
# or the generator script). Call it directly, not in $(...).
search_prepare() {
	local n=$N_SEARCH f want
	case $n in '' | *[!0-9]* | 0) echo "BENCH_SEARCH_EVENTS must be a positive number, got '$n'" >&2; return 1 ;; esac
	case $n in
	"$N_BIG") f=$EV_BIG ;;
	"$N_MID") f=$EV_MID ;;
	"$N_SMALL") f=$EV_SMALL ;;
	*)
		f=$OUT/events-search-$n.ndjson
		if [ "$n" -le "$N_BIG" ]; then
			want=$(head -n "$n" "$EV_BIG" | wc -c)
		else
			want=$("$GEN" "$n" "$SEED" | wc -c)
		fi
		if [ -f "$f" ] && [ "$(file_size "$f")" = "$want" ]; then
			echo "data: $f present ($want bytes)"
		else
			echo "data: writing $n events (seed $SEED) into $f"
			if [ "$n" -le "$N_BIG" ]; then
				head -n "$n" "$EV_BIG" >"$f.tmp"
			else
				"$GEN" "$n" "$SEED" >"$f.tmp"
			fi
			mv "$f.tmp" "$f"
		fi
		;;
	esac
	SEARCH_DATA=$f
	SEARCH_QUERIES=$OUT/search-queries-$n.tsv
	if [ ! -s "$SEARCH_QUERIES" ] || [ "$f" -nt "$SEARCH_QUERIES" ] ||
		[ "$SRC/bench/search_queries.py" -nt "$SEARCH_QUERIES" ]; then
		python3 "$SRC/bench/search_queries.py" "$f" "$SEARCH_QUERIES.tmp" --seed "$SEED" || return 1
		mv "$SEARCH_QUERIES.tmp" "$SEARCH_QUERIES"
	fi
}

step_search_pg() {
	local pgq=$BUILD/bench/pg_query pg=${PG_BIN:-/usr/lib/postgresql/15/bin} t0 rc=0
	if [ ! -x "$pgq" ]; then
		log "search_pg: skipped: $pgq not built (libpq-dev)"
		return 0
	fi
	if [ ! -x "$pg/postgres" ]; then
		log "search_pg: skipped: no PostgreSQL server in $pg (package postgresql)"
		return 0
	fi
	search_prepare || return 1
	log "search_pg: PostgreSQL 15 on $N_SEARCH events, queries $SEARCH_QUERIES:"
	t0=$(now)
	timeout --kill-after=30 "${BENCH_SEARCH_TIMEOUT:-14400}" \
		bash "$SRC/bench/search_pg.sh" "$BUILD" "$OUT" "$SEARCH_DATA" "$SEARCH_QUERIES" \
		>"$OUT/logs/search_pg.out" 2>"$OUT/logs/search_pg.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && echo "search_pg timed out after ${BENCH_SEARCH_TIMEOUT:-14400}s" >&2
		tail -n 5 "$OUT/logs/search_pg.err" >&2
		return 1
	fi
	sed 's/^/    /' "$OUT/pg_search.txt" | tee -a "$RESULTS" >&2
	log "  search_pg: p50/p95 ms per class (prepared): $(awk -F'\t' 'NR > 1 { printf "%s%s %s/%s", sep, $1, $2, $3; sep = ", " }' "$OUT/pg_search.tsv"); step $(elapsed "$t0" "$(now)") s"
	SEARCH_PG_DONE=1
	search_ratio
}

# Search, Sealtrail's side (issue 4): the same events and query set as
# search_pg (search_prepare), loaded, indexed and queried by
# bench/search.sh, which also measures index lag under ingest; its report
# goes into results.txt, its files to bench/out/search.{txt,tsv}. Bounded
# by BENCH_SEARCH_TIMEOUT like search_pg.
SEARCH_PG_DONE=
SEARCH_DONE=
step_search() {
	local sb=$BUILD/bench/search_bench t0 rc=0
	if [ ! -x "$sb" ]; then
		log "search: skipped: $sb not built"
		return 0
	fi
	search_prepare || return 1
	log "search: Sealtrail on $N_SEARCH events, queries $SEARCH_QUERIES:"
	t0=$(now)
	SEARCH_DATA=$SEARCH_DATA SEARCH_QUERIES=$SEARCH_QUERIES BENCH_RUNS=$RUNS BENCH_SEED=$SEED \
		timeout --kill-after=30 "${BENCH_SEARCH_TIMEOUT:-14400}" \
		bash "$SRC/bench/search.sh" "$BUILD" "$OUT" "$N_SEARCH" \
		>"$OUT/logs/search.out" 2>"$OUT/logs/search.err" || rc=$?
	[ -s "$OUT/search.txt" ] && sed 's/^/    /' "$OUT/search.txt" | tee -a "$RESULTS" >&2
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && echo "search timed out after ${BENCH_SEARCH_TIMEOUT:-14400}s" >&2
		tail -n 5 "$OUT/logs/search.err" >&2
		return 1
	fi
	log "  search: p50/p95 ms per class: $(awk -F'\t' 'NR > 1 { printf "%s%s %s/%s", sep, $1, $2, $3; sep = ", " }' "$OUT/search.tsv"); step $(elapsed "$t0" "$(now)") s"
	SEARCH_DONE=1
	search_ratio
}

# When both search steps ran in this run (same events, same queries):
# PostgreSQL p95 / Sealtrail p95 per class.
search_ratio() {
	[ -n "$SEARCH_PG_DONE" ] && [ -n "$SEARCH_DONE" ] || return 0
	log "  search vs search_pg, $N_SEARCH events: p95 PostgreSQL / p95 Sealtrail per class: $(awk -F'\t' '
		FNR == 1 { next }
		FNR == NR { pg[$1] = $3; next }
		($1 in pg) { printf "%s%s %s/%s = %s", sep, $1, pg[$1], $3, ($3 > 0 ? sprintf("%.1fx", pg[$1] / $3) : "inf"); sep = ", " }' \
		"$OUT/pg_search.tsv" "$OUT/search.tsv")"
}

# Order matters: verify and proof use the log the batch=10000 step leaves.
STEPS=(generate json append_batch1 append_batch100 append_batch10000 verify verify_cold proof proof_inproc append_onecore rss server policy k8s client syslog search_pg search)
if [ -n "${BENCH_STEPS:-}" ]; then
	read -r -a STEPS <<<"$BENCH_STEPS"
fi

# ------------------------------------------------------------------ main

machine_header() {
	local cpu kernel fs commit
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
	kernel=$(uname -sr)
	fs=$(df -PT "$OUT" 2>/dev/null | awk 'NR == 2 { print $2 }')
	commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo none)
	if [ "$commit" != none ] && [ -n "$(git -C "$SRC" status --porcelain 2>/dev/null)" ]; then
		commit="$commit (dirty)"
	fi
	log ""
	log "== sealtrail bench, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
	log "machine: nproc=$(nproc), cpu=\"${cpu:-unknown}\", kernel=$kernel, data fs=${fs:-unknown}"
	log "commit: $commit, build: $BUILD, runs per measurement: $RUNS, seed: $SEED"
}

cleanup() {
	rm -rf "$OUT"/data-* "$OUT/probe.ndjson" "$OUT"/*.tmp
}
trap cleanup EXIT

prepare_data
machine_header
T_START=$(now)
for s in "${STEPS[@]}"; do
	if ! declare -F "step_$s" >/dev/null; then
		log "$s: unknown step"
		FAILED=1
		continue
	fi
	rc=0
	"step_$s" || rc=$?
	if [ "$rc" -ne 0 ]; then
		log "$s: FAILED (status $rc, logs in $OUT/logs/)"
		FAILED=1
	fi
done
log "total: $(elapsed "$T_START" "$(now)") s"
exit "$FAILED"
