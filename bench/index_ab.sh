#!/usr/bin/env bash
# index_ab.sh - `sealtrail reindex` of two (or more) builds side by side,
# alternating on one log, so a change to the index builder is measured on
# the same machine state as what it replaces:
#
#   bash bench/index_ab.sh GEN EVENTS WORKDIR NAME=SEALTRAIL [NAME=SEALTRAIL...]
#
# GEN is build/bench/gen_events. WORKDIR/log-EVENTS is made once (gen_events
# EVENTS 1, sealtrail init and append with the first build) and kept for
# later runs. Then BENCH_RUNS rounds (default 3), each build once a round:
# its entries/s, user+sys CPU seconds and peak RSS (GNU time), and the
# load average. Ends with each build's median entries/s and median CPU.
# Every process runs in the foreground; nothing is left running.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
GEN=$1 N=$2 W=$3
shift 3
RUNS=${BENCH_RUNS:-3}
D=$W/log-$N
mkdir -p "$W"
first=${1#*=}
if [ ! -s "$D/meta" ] || [ "$(cat "$D.count" 2>/dev/null)" != "$N" ]; then
	rm -rf "$D"
	"$first" init --data "$D" >/dev/null 2>&1
	"$GEN" "$N" 1 | "$first" append --data "$D" - >/dev/null 2>"$W/append.err" ||
		{ tail -n 3 "$W/append.err" >&2; exit 1; }
	echo "$N" >"$D.count"
fi
echo "== reindex side by side, $(date -u +%Y-%m-%dT%H:%M:%SZ), $N events, nproc=$(nproc), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RATE CPU
for ((i = 1; i <= RUNS; i++)); do
	for v in "$@"; do
		name=${v%%=*} st=${v#*=}
		/usr/bin/time -f '%U %S %M' -o "$W/time" "$st" reindex --data "$D" >"$W/out" 2>&1 ||
			{ cat "$W/out" >&2; exit 1; }
		rate=$(grep -Eo '\(([0-9.]+) entries/s' "$W/out" | grep -Eo '[0-9.]+')
		read -r u s m <"$W/time"
		cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
		RATE[$name]+="$rate "
		CPU[$name]+="$cpu "
		echo "run $i $name: $rate entries/s, CPU $cpu s, peak RSS $((m / 1024)) MiB, load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for v in "$@"; do
	name=${v%%=*}
	echo "median $name: $(echo "${RATE[$name]}" | med) entries/s, CPU $(echo "${CPU[$name]}" | med) s"
done
