# shellcheck shell=bash
# Shared helpers for the shell tests that run `sealtrail serve` on loopback:
# the pass/fail counters, a free port, starting the server and waiting for
# it to exit. Source this file; it sets no shell options and runs nothing at
# load time.
#
#   st_loopback_only           export NO_PROXY=*, unset every *_proxy
#                              variable: curl never goes through a proxy
#   ok NAME                    pass+1, prints "ok - NAME"
#   no NAME [DETAIL]           fail+1, prints "not ok - NAME", then DETAIL
#                              indented by 4 (only its first ST_DETAIL_LINES
#                              lines when that is set)
#   expect NAME COND [DETAIL]  eval COND: ok NAME, or no NAME DETAIL
#   st_free_port               a loopback port nobody listens on right now
#                              (bind to 0, close)
#   st_start_server TAG SERVE_ARGS...
#                              "$ST" serve SERVE_ARGS --listen 127.0.0.1:<free
#                              port>, stdout in $T/TAG.out, stderr in
#                              $T/TAG.err; waits (at most 10 s) for
#                              "Serving on". Sets SPID and PORT and adds SPID
#                              to PIDS. Another port (5 tries in all) when
#                              "address in use" is in TAG.err or in
#                              ST_SERVER_LOG (when set). On failure: status
#                              1, "${ST_SERVER_LABEL:-server} did not
#                              start:" and TAG.err (and ST_SERVER_LOG) on
#                              stderr; SPID is the dead process.
#   st_wait_exit PID SECS      waits at most SECS for PID to exit (a zombie
#                              counts as exited); sets ST_EXIT to its exit
#                              status, or 124 when it was still running and
#                              was killed (SIGKILL); ST_ELAPSED_MS from the
#                              call. Sends no signal of its own first.
#   st_stop PID SECS           SIGTERM, then st_wait_exit PID SECS
#   st_reap PID...             waits at most 5 s for every PID to exit by
#                              itself, then SIGKILLs and reaps them all
#   st_kill_all                SIGKILL every PID in PIDS and reap them (for
#                              the EXIT trap)
#
# Contract: the counters are the globals pass and fail, which the caller
# sets to 0; the caller prints "$pass passed, $fail failed" last. Every wait
# is bounded. PIDs are this shell's children: call st_start_server and
# st_wait_exit in the shell that owns them, not in a $(...) subshell. The
# helpers are safe under set -euo pipefail and without it.
#
# Environment: ST (the sealtrail binary) and T (the test's temp dir) for
# st_start_server. Needs python3.

st_loopback_only() {
	export NO_PROXY='*' no_proxy='*'
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
}

# st_test_setup NAME: the usual start of a server test: T (a fresh temp
# dir, removed at exit after every process in PIDS is stopped), PIDS,
# the pass/fail counters, loopback only. Sets the EXIT trap.
# shellcheck disable=SC2034  # PIDS, pass, fail are for the caller
st_test_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-$1.XXXXXX")
	PIDS=()
	pass=0 fail=0
	trap '_st_test_cleanup' EXIT
	st_loopback_only
}
_st_test_cleanup() {
	[ -z "${ST_KEEP:-}" ] || cp -r "$T" "$ST_KEEP" 2>/dev/null || true
	st_kill_all
	rm -rf "$T"
}

ok() { pass=$((pass+1)); echo "ok - $1"; }
no() {
	fail=$((fail+1))
	echo "not ok - $1"
	[ -n "${2:-}" ] || return 0
	if [ -n "${ST_DETAIL_LINES:-}" ]; then
		printf '%s\n' "$2" | head -"$ST_DETAIL_LINES" | sed 's/^/    /'
	else
		printf '%s\n' "$2" | sed 's/^/    /'
	fi
}
expect() { if eval "$2"; then ok "$1"; else no "$1" "${3:-}"; fi; }

st_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

st_start_server() {
	local tag=$1 logs
	shift
	logs=("$T/$tag.err")
	[ -z "${ST_SERVER_LOG:-}" ] || logs+=("$ST_SERVER_LOG")
	for _ in 1 2 3 4 5; do
		PORT=$(st_free_port)
		"$ST" serve "$@" --listen "127.0.0.1:$PORT" >"$T/$tag.out" 2>"$T/$tag.err" &
		SPID=$!
		PIDS+=("$SPID")
		for _ in $(seq 1 200); do
			grep -q '^Serving on' "$T/$tag.out" 2>/dev/null && return 0
			kill -0 "$SPID" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
		grep -q "address in use" "${logs[@]}" 2>/dev/null || break
	done
	echo "${ST_SERVER_LABEL:-server} did not start:" >&2
	cat "${logs[@]}" >&2 2>/dev/null || true
	return 1
}

# _st_running PID: alive and not a zombie.
# A process that is exiting is first a zombie thread-group leader while its
# other threads are torn down (long under ThreadSanitizer), then reaped by
# this shell at any moment: a stat file that is gone between `kill -0` and
# reading it means "exited", never "running".
_st_running() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# shellcheck disable=SC2034  # ST_EXIT, ST_ELAPSED_MS are for the caller
st_wait_exit() {
	local pid=$1 start now alive=1
	start=$(date +%s%N)
	for _ in $(seq 1 $(($2 * 20))); do
		_st_running "$pid" || { alive=0; break; }
		sleep 0.05
	done
	now=$(date +%s%N)
	ST_ELAPSED_MS=$(((now - start) / 1000000))
	# Once seen exited it stays exited: no second look (which the race
	# above could turn into a false "still running" and a kill).
	if [ $alive = 1 ] && _st_running "$pid"; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		ST_EXIT=124
		return 0
	fi
	ST_EXIT=0
	wait "$pid" || ST_EXIT=$?
}

st_stop() {
	kill -TERM "$1" 2>/dev/null || true
	st_wait_exit "$1" "$2"
}

st_reap() {
	local p alive
	for _ in $(seq 1 100); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.05
	done
	for p in "$@"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

st_kill_all() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
