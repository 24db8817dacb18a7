#!/usr/bin/env bash
# idempotency.sh - exactly once across crashes (src/log/log.c L6): SIGKILL
# a real `sealtrail append` of a file whose events carry ids, again and
# again, with DIR/ids.d now and then deleted, its manifest or a run
# truncated, or replaced by an older copy (what a crash between two
# persists leaves), then append the
# whole file once more to the end. Then:
#
#  (a) every (tenant, id) of the input is stored exactly once;
#  (b) the last run acknowledges every line; an event with an id is acked
#      with the seq and leaf of the one entry holding its key, and that
#      entry is that event; an event repeated inside the file is acked as
#      a duplicate of its first copy;
#  (c) `sealtrail verify` passes.
#
# The ids memtables are 1,024 slots (SEALTRAIL_TEST_IDS_SLOTS: a run every
# 716 ids, a merge every four runs), so kills also land inside flushes,
# merges and manifest writes, and segments are 1 MiB, so confirmations
# read entries of sealed segments.
#
# Environment: SEALTRAIL, SEALTRAIL_BUILD (for bench/gen_events if built),
# IDEM_ROUNDS (default 10), CRASH_SEED (default: random; printed).
set -euo pipefail

SEALTRAIL=${SEALTRAIL:-${SEALTRAIL_BUILD:-build}/sealtrail}
if [ ! -x "$SEALTRAIL" ]; then
	echo "idempotency.sh: SEALTRAIL=$SEALTRAIL is not an executable" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "idempotency.sh: needs python3" >&2; exit 2; }

ROUNDS=${IDEM_ROUNDS:-10}
SEED=${CRASH_SEED:-$(( $(date +%s) % 100000 ))}
EVENTS=20000
case $ROUNDS in ''|*[!0-9]*) echo "idempotency.sh: IDEM_ROUNDS must be a number" >&2; exit 2 ;; esac
RANDOM=$SEED
export SEALTRAIL_TEST_IDS_SLOTS=1024

# shellcheck source=SCRIPTDIR/../lib/crash.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/crash.sh"
crash_setup idem

# ---- input: the events, then 2,000 of them again (duplicates inside one run)

crash_events "$EVENTS" "$SEED" >"$T/base.ndjson"
{ cat "$T/base.ndjson"; sed -n '5001,7000p' "$T/base.ndjson"; } >"$T/events.ndjson"

D="$T/log"
"$SEALTRAIL" init --data "$D" --origin example.com/idem --segment-size 1048576 >/dev/null 2>&1
echo "# idempotency: $ROUNDS killed rounds, seed $SEED, $((EVENTS + 2000)) lines per run"

# How long a whole run takes, to draw kill delays from (20 ms .. 90%).
"$SEALTRAIL" init --data "$T/cal" --origin example.com/idem >/dev/null 2>&1
t0=$(date +%s%N)
"$SEALTRAIL" append --data "$T/cal" --batch 100 "$T/events.ndjson" >/dev/null 2>&1 || true
MAXMS=$(( ($(date +%s%N) - t0) / 1000000 * 9 / 10 ))
((MAXMS >= 25)) || MAXMS=25
((MAXMS <= 1500)) || MAXMS=1500
rm -rf "$T/cal"

BATCHES=(1 10 100 1000)
for ((round = 1; round <= ROUNDS; round++)); do
	B=${BATCHES[$((RANDOM % 4))]}
	MS=$((20 + RANDOM % (MAXMS - 19)))
	damage="none"
	case $((round % 5)) in
	1) [ -d "$D/ids.d" ] && { rm -rf "$T/ids.old"; cp -a "$D/ids.d" "$T/ids.old"; } ;;
	2) rm -rf "$D/ids.d"; damage="ids deleted" ;;
	3) if ((round % 2)); then
		[ -f "$D/ids.d/manifest" ] && truncate -s 50 "$D/ids.d/manifest"
		damage="ids manifest truncated"
	   else
		run=$(ls "$D/ids.d/"*.run 2>/dev/null | head -1 || true)
		[ -n "$run" ] && truncate -s 5000 "$run"
		damage="an ids run truncated"
	   fi ;;
	4) [ -d "$T/ids.old" ] && { rm -rf "$D/ids.d"; cp -a "$T/ids.old" "$D/ids.d"; }
	   damage="ids from an earlier round" ;;
	esac
	"$SEALTRAIL" append --data "$D" --batch "$B" "$T/events.ndjson" >"$T/acks.$round" 2>"$T/err.$round" &
	CHILD=$!
	sleep "$(printf '%d.%03d' $((MS / 1000)) $((MS % 1000)))"
	kill -9 "$CHILD" 2>/dev/null || true
	RC=0
	wait "$CHILD" 2>/dev/null || RC=$?
	CHILD=""
	how="killed"
	[ "$RC" -eq 137 ] || how="exit $RC"
	echo "# round $round: batch $B, damage: $damage, kill after ${MS} ms ($how), $(grep -c . "$T/acks.$round" || true) acks"
done

# ---- the last, complete run --------------------------------------------------

rc=0
"$SEALTRAIL" append --data "$D" --batch 1000 "$T/events.ndjson" >"$T/acks.final" 2>"$T/err.final" || rc=$?
if [ $rc -eq 0 ]; then ok "the last append completes"; else notok "the last append completes" "exit $rc: $(head -c 300 "$T/err.final")"; fi
"$SEALTRAIL" dump --data "$D" >"$T/dump" 2>"$T/dump.err" || notok "dump" "$(head -c 300 "$T/dump.err")"

cat >"$T/check.py" <<'PY'
import base64, hashlib, json, sys

acks_path, dump_path, input_path = sys.argv[1:4]
problems = []
SERVER = ("seq", "received_at", "tseq", "tprev")

inputs = [json.loads(l) for l in open(input_path, "rb").read().split(b"\n") if l.strip()]
dump = open(dump_path, "rb").read().split(b"\n")
total = int(dump[0].rsplit(b":", 1)[1].split()[0])
entries, by_key = {}, {}
i = 1
while i + 1 < len(dump) and dump[i].startswith(b"seq "):
    seq, body = int(dump[i].split()[1]), dump[i + 1]
    leaf = base64.b64encode(hashlib.sha256(b"\x00" + body).digest()).decode()
    e = json.loads(body)
    for k in SERVER:
        e.pop(k, None)
    entries[seq] = (e, leaf)
    by_key.setdefault((e.get("tenant"), e.get("id")), []).append(seq)
    i += 2
if len(entries) != total:
    problems.append("dump holds %d entries, its header says %d" % (len(entries), total))

# (a) exactly once
keys = {}
for n, src in enumerate(inputs, 1):
    if "id" in src:
        keys.setdefault((src.get("tenant", "default"), src["id"]), n)
for key, n in keys.items():
    got = by_key.get(key, [])
    if len(got) != 1:
        problems.append("line %d: tenant %s id %s stored %d times (seqs %s)" % (n, key[0], key[1], len(got), got[:5]))

# (b) the last run's acks
acks = [json.loads(l) for l in open(acks_path, "rb").read().split(b"\n") if l.strip()]
if len(acks) != len(inputs):
    problems.append("%d acks for %d lines" % (len(acks), len(inputs)))
first_of = {}
for a in acks:
    n, seq = a["line"], a["seq"]
    src = inputs[n - 1]
    if seq not in entries:
        problems.append("line %d: acked at seq %d, not in the log" % (n, seq))
        continue
    e, leaf = entries[seq]
    if leaf != a["leaf_hash"]:
        problems.append("line %d: ack leaf differs from seq %d's" % (n, seq))
    s = dict(src)
    s.setdefault("tenant", "default")
    if "id" not in src:
        e = dict(e)
        e.pop("id", None)
        if a.get("duplicate"):
            problems.append("line %d: an event without id acked as a duplicate" % n)
    if e != s:
        problems.append("line %d: seq %d holds another event" % (n, seq))
    if "id" in src:
        key = (s["tenant"], src["id"])
        if key in first_of and not a.get("duplicate"):
            problems.append("line %d: repeats line %d but is not acked as a duplicate" % (n, first_of[key]))
        first_of.setdefault(key, n)
for p in problems[:10]:
    print(p)
if problems:
    sys.exit(1)
dups = sum(1 for a in acks if a.get("duplicate"))
print("%d entries, %d keys each stored once, last run: %d acks, %d duplicates" % (total, len(keys), len(acks), dups))
PY
crc=0
summary=$(python3 "$T/check.py" "$T/acks.final" "$T/dump" "$T/events.ndjson" 2>&1) || crc=$?
if [ $crc -eq 0 ]; then ok "exactly once: $summary"; else notok "exactly once" "$summary"; fi

vrc=0
vout=$("$SEALTRAIL" verify --quiet --data "$D" 2>&1) || vrc=$?
if [ $vrc -eq 0 ]; then ok "verify"; else notok "verify" "$vout"; fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
