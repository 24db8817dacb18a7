#!/usr/bin/env bash
# Runs every libFuzzer target of a SEALTRAIL_FUZZ=ON build for SECONDS each
# (default 60) on a scratch copy of its committed corpus, and prints a line
# per target with its executions and result. New corpus entries stay in the
# scratch copy; copy the interesting ones into tests/fuzz/corpus by hand.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD-DIR [SECONDS]}
secs=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for f in "$build"/fuzz_*; do
  [ -x "$f" ] || continue
  name=${f##*/fuzz_}
  cp -r "$src/tests/fuzz/corpus/$name" "$scratch/$name"
  if "$f" -max_total_time="$secs" -max_len=65536 "$scratch/$name" > "$scratch/$name.log" 2>&1; then
    execs=$(grep -Eo 'Done [0-9]+ runs' "$scratch/$name.log" | tail -1)
    echo "fuzz $name: ${secs}s, ${execs:-?}, no crash"
  else
    echo "fuzz $name: FAILED; tail of its log:"; tail -20 "$scratch/$name.log"
    status=1
  fi
done
exit $status
