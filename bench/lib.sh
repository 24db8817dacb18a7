# Helpers shared by the benchmark drivers (sourced, not run).

now() { date +%s.%N; }
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
