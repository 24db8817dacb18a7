#!/usr/bin/env bash
# The independent judge on a real log: Go's golang.org/x/mod/sumdb/note and
# sumdb/tlog (Debian's golang-golang-x-mod-dev) must accept the checkpoints,
# tiles, inclusion proofs and consistency proofs that `sealtrail` produces,
# at several tree sizes, before and after a key rotation, and must refuse a
# tampered proof.
set -euo pipefail
ST=${SEALTRAIL:?}
SRC=${SEALTRAIL_SRC:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass+1)); }
no() { fail=$((fail+1)); echo "not ok - $1"; }
expect() { if eval "$2" >"$T/out" 2>&1; then ok; else no "$1"; cat "$T/out"; fi; }

TMPDIR=$T bash "$SRC/tests/conformance/go/build.sh" "$T/stverify"
J=$T/stverify
D=$T/log
"$ST" init --data "$D" --origin example.com/conformance > "$T/vkey" 2>/dev/null
V=$(cat "$T/vkey")

# Events in rounds, a checkpoint after each: sizes 1, 2, 3, 255, 256, 257,
# 511, 700 and 70000 cross tile boundaries at levels 0 and 1.
python3 - "$T/events" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(70000):
        f.write(json.dumps({"time": "2026-11-27T10:00:%02d.%06dZ" % (i % 60, i),
            "action": "conformance.test", "actor": {"id": "u%d" % (i % 7)},
            "resource": {"type": "t", "id": str(i)}, "tenant": "t%d" % (i % 3)},
            separators=(",", ":")) + "\n")
PY
prev=0
: > "$T/acks"
for size in 1 2 3 255 256 257 511 700 70000; do
  sed -n "$((prev+1)),${size}p" "$T/events" | "$ST" append --data "$D" --batch 1000 >> "$T/acks" 2>/dev/null
  "$ST" checkpoint --data "$D" > "$T/cp.$size"
  prev=$size
done

root_of() { sed -n 3p "$T/cp.$1"; }
leaf_of() { sed -n "$(($1+1))p" "$T/acks" | sed -E 's/.*"leaf_hash":"([^"]*)".*/\1/'; }

# Tiles laid out by their tlog-tiles paths, for a given tree size.
export_tiles() {
  local n=$1 dir=$2 level=0 w
  while :; do
    w=$(( n >> (8*level) ))
    [ "$w" -gt 0 ] || break
    local full=$(( w / 256 )) part=$(( w % 256 )) i
    for ((i=0; i<full; i++)); do
      local p; p=$(python3 -c 'import sys
n=int(sys.argv[2]); g=[]
while True:
    g.append(n%1000); n//=1000
    if n==0: break
g.reverse(); print("tile/%s/" % sys.argv[1] + "/".join(("x%03d" if k<len(g)-1 else "%03d") % v for k,v in enumerate(g)))' $level $i)
      mkdir -p "$dir/$(dirname "$p")"; "$ST" tile --data "$D" "$p" > "$dir/$p"
    done
    if [ "$part" -gt 0 ]; then
      local p; p=$(python3 -c 'import sys
n=int(sys.argv[2]); g=[]
while True:
    g.append(n%1000); n//=1000
    if n==0: break
g.reverse(); print("tile/%s/" % sys.argv[1] + "/".join(("x%03d" if k<len(g)-1 else "%03d") % v for k,v in enumerate(g)) + ".p/%d" % int(sys.argv[3]))' $level $full $part)
      mkdir -p "$dir/$(dirname "$p")"; "$ST" tile --data "$D" "$p" > "$dir/$p"
    fi
    level=$((level+1))
  done
}

for size in 1 2 3 255 256 257 511 700 70000; do
  expect "checkpoint $size: Go note.Open accepts it" '"$J" checkpoint "$V" "$T/cp.$size"'
  rm -rf "$T/tiles"; export_tiles "$size" "$T/tiles"
  expect "tiles at $size: Go TileHashReader accepts every hash" '"$J" tiles "$V" "$T/cp.$size" "$T/tiles"'
  for seq in 0 $((size/2)) $((size-1)); do
    "$ST" proof inclusion --data "$D" --size "$size" "$seq" > "$T/p"
    expect "inclusion of $seq in $size" '"$J" inclusion "$V" "$T/p" "$(leaf_of $seq)"'
  done
done
sizes=(1 2 3 255 256 257 511 700 70000)
for ((i=0; i<${#sizes[@]}; i++)); do
  for ((k=i+1; k<${#sizes[@]}; k++)); do
    a=${sizes[i]} b=${sizes[k]}
    "$ST" proof consistency --data "$D" "$a" "$b" > "$T/c"
    expect "consistency $a -> $b" '"$J" consistency "$a" "$(root_of $a)" "$b" "$(root_of $b)" "$T/c"'
  done
done

# Negative: a flipped proof hash, and the wrong leaf, must be refused.
"$ST" proof inclusion --data "$D" 1234 > "$T/p"
python3 - "$T/p" <<'PY'
import sys, base64
lines = open(sys.argv[1]).read().split("\n")
h = bytearray(base64.b64decode(lines[2])); h[0] ^= 1
lines[2] = base64.b64encode(bytes(h)).decode()
open(sys.argv[1] + ".bad", "w").write("\n".join(lines))
PY
expect "Go refuses a flipped inclusion proof hash" '! "$J" inclusion "$V" "$T/p.bad" "$(leaf_of 1234)"'
expect "Go refuses the wrong leaf" '! "$J" inclusion "$V" "$T/p" "$(leaf_of 1235)"'
"$ST" proof consistency --data "$D" 700 70000 > "$T/c"
expect "Go refuses consistency against the wrong old root" '! "$J" consistency 700 "$(root_of 511)" 70000 "$(root_of 70000)" "$T/c"'

# After a key rotation, new checkpoints verify with the new key only, old ones with the old.
"$ST" key rotate --data "$D" > "$T/vkey2" 2>/dev/null
echo '{"time":"2026-11-27T11:00:00Z","action":"a.b","actor":{"id":"z"},"resource":{"type":"t"}}' | "$ST" append --data "$D" >> "$T/acks" 2>/dev/null
"$ST" checkpoint --data "$D" > "$T/cp.new"
expect "rotated key: Go accepts the new checkpoint with the new key" '"$J" checkpoint "$(cat "$T/vkey2")" "$T/cp.new"'
expect "rotated key: Go refuses it with the old key" '! "$J" checkpoint "$V" "$T/cp.new"'
expect "rotated key: old checkpoint still verifies with the old key" '"$J" checkpoint "$V" "$T/cp.700"'
"$ST" proof inclusion --data "$D" 70000 > "$T/p"
expect "rotated key: inclusion of the new entry" '"$J" inclusion "$(cat "$T/vkey2")" "$T/p" "$(leaf_of 70000)"'

echo "log_go: $pass passed, $fail failed"
[ "$fail" = 0 ]
