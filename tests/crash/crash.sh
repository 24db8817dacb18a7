#!/usr/bin/env bash
# crash.sh - SIGKILL a real `sealtrail append` at random moments and check
# the durability contract of src/log/log.h after every kill:
#
#  (a) every acknowledged event (each complete ack line the killed process
#      printed) is in the log at its seq, with the leaf hash of the ack,
#      recomputed here as SHA-256(0x00 || entry) from the stored bytes,
#      and its entry holds the producer event of the acked input line;
#  (b) `sealtrail verify` passes (warnings about a torn tail or lagging
#      derived data are fine), in some rounds on the log as the kill left
#      it, in others after a reopen (recovery) by `sealtrail dump`;
#  (c) the next round's append resumes at the next seq: its first ack's
#      seq is the number of entries the log held after the previous round;
#  (d) idempotency (log.c L6): every round appends the same file, so from
#      the second round on each event with an id is acknowledged as a
#      duplicate of the one entry that holds its (tenant, id), whichever
#      round stored it, and no (tenant, id) is ever stored twice.
#
# Then two crash windows that random kills rarely hit are staged by hand:
# a kill after a checkpoint reached the history but before its copy in
# `checkpoint` was replaced, and a kill after a new segment file was
# created but before its header was written.
#
# Environment: SEALTRAIL (the command; set by ctest), SEALTRAIL_BUILD (for
# bench/gen_events if built), CRASH_ROUNDS (default 30), CRASH_SEED
# (default: random; printed so a failure can be replayed).
set -euo pipefail

SEALTRAIL=${SEALTRAIL:-${SEALTRAIL_BUILD:-build}/sealtrail}
if [ ! -x "$SEALTRAIL" ]; then
	echo "crash.sh: SEALTRAIL=$SEALTRAIL is not an executable" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "crash.sh: needs python3" >&2; exit 2; }

ROUNDS=${CRASH_ROUNDS:-30}
SEED=${CRASH_SEED:-$(( $(date +%s) % 100000 ))}
EVENTS=20000
case $ROUNDS in ''|*[!0-9]*) echo "crash.sh: CRASH_ROUNDS must be a number" >&2; exit 2 ;; esac
RANDOM=$SEED

# shellcheck source=SCRIPTDIR/../lib/crash.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/crash.sh"
crash_setup crash

# ---- input ---------------------------------------------------------------------

crash_events "$EVENTS" "$SEED" >"$T/events.ndjson"

# ---- the checker --------------------------------------------------------------
#
# check.py ACKS DUMP INPUT EXPECT_FIRST KNOWN: prints "first=F last=L acks=A
# dups=D entries=N" and exits 0, or prints what is wrong and exits 1.
#
# Every round appends the same file, so from the second round on the
# events with an id are duplicates (log.c L6): their acks carry
# "duplicate":true and the seq and leaf of the entry first stored for that
# (tenant, id), possibly in an earlier round. KNOWN keeps, across rounds,
# "seq leaf content-hash tenant id" for each entry whose id is one of the
# input's, so that such acks can be checked without dumping the whole log,
# and so that a second entry with the same key is caught when it appears.
cat >"$T/check.py" <<'PY'
import base64, hashlib, json, os, sys

acks_path, dump_path, input_path, expect_first, known_path = sys.argv[1:6]
expect_first = int(expect_first)
problems = []

raw = open(acks_path, "rb").read()
lines = raw.split(b"\n")
if lines and lines[-1] != b"":
    lines = lines[:-1]                 # a last partial line was never complete
acks = []
for k, l in enumerate(lines):
    if not l:
        continue
    try:
        a = json.loads(l)
        acks.append((int(a["line"]), int(a["seq"]), a["leaf_hash"], a.get("duplicate") is True))
    except Exception as ex:
        problems.append("ack line %d unparsable (%s): %r" % (k + 1, ex, l[:120]))

# dump: "# log ORIGIN: N entries", then per entry a header line and the
# entry bytes on their own line (compact JSON holds no raw newline).
dump = open(dump_path, "rb").read().split(b"\n")
if not dump or not dump[0].startswith(b"# log "):
    print("dump: no header line")
    sys.exit(1)
total = int(dump[0].rsplit(b":", 1)[1].split()[0])
entries = {}
i = 1
while i + 1 < len(dump) and dump[i].startswith(b"seq "):
    hdr, body = dump[i].split(), dump[i + 1]
    seq = int(hdr[1])
    leaf = base64.b64encode(hashlib.sha256(b"\x00" + body).digest()).decode()
    if leaf.encode() != hdr[-1]:
        problems.append("seq %d: dump says leaf %s, the bytes hash to %s" % (seq, hdr[-1].decode(), leaf))
    entries[seq] = (body, leaf)
    i += 2

inputs = open(input_path, "rb").read().split(b"\n")
SERVER = ("seq", "received_at", "tseq", "tprev")

def content(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()

def src_content(src):
    s = dict(src)
    s.setdefault("tenant", "default")
    return content(s)

input_ids = set()
for l in inputs:
    if l.strip():
        s = json.loads(l)
        if "id" in s:
            input_ids.add((s.get("tenant", "default"), s["id"]))

known, by_key = {}, {}
if os.path.exists(known_path):
    for l in open(known_path):
        seq, leaf, h, tenant, eid = l.rstrip("\n").split(" ", 4)
        known[int(seq)] = (leaf, h, tenant, eid)
        by_key[(tenant, eid)] = int(seq)
added = []
for seq in sorted(entries):
    body, leaf = entries[seq]
    e = json.loads(body)
    key = (e.get("tenant"), e.get("id"))
    if key not in input_ids:
        continue
    for k in SERVER:
        e.pop(k, None)
    if key in by_key and by_key[key] != seq:
        problems.append("tenant %s id %s stored twice: seq %d and seq %d" % (key[0], key[1], by_key[key], seq))
    by_key[key] = seq
    known[seq] = (leaf, content(e), key[0], key[1])
    added.append(seq)
with open(known_path, "a") as f:
    for seq in added:
        f.write("%d %s %s %s %s\n" % ((seq,) + known[seq]))

prev = None
first_new = None
dups = 0
for line, seq, leaf, dup in acks:
    src = json.loads(inputs[line - 1])
    if dup:
        dups += 1
        if "id" not in src:
            problems.append("ack for line %d: a duplicate, but the event has no id" % line)
            continue
        if seq >= total or seq not in known:
            problems.append("ack for line %d: duplicate of seq %d, which holds no event of the input's ids" % (line, seq))
            continue
        kleaf, h, tenant, eid = known[seq]
        if kleaf != leaf:
            problems.append("ack for line %d: duplicate of seq %d with leaf %s, the entry hashes to %s" % (line, seq, leaf, kleaf))
        elif h != src_content(src) or (tenant, eid) != (src.get("tenant", "default"), src["id"]):
            problems.append("ack for line %d: duplicate of seq %d, which is another event" % (line, seq))
        continue
    if first_new is None:
        first_new = seq
    if prev is not None and seq != prev + 1:
        problems.append("ack for line %d: seq %d does not follow %d" % (line, seq, prev))
    prev = seq
    if seq >= total:
        problems.append("ack for line %d: seq %d acknowledged, but the log holds %d entries" % (line, seq, total))
        continue
    if seq not in entries:
        problems.append("ack for line %d: seq %d not in the dump" % (line, seq))
        continue
    body, got = entries[seq]
    if got != leaf:
        problems.append("seq %d: ack leaf %s, stored entry hashes to %s" % (seq, leaf, got))
        continue
    e = json.loads(body)
    if e.get("seq") != seq:
        problems.append("seq %d: entry says seq %r" % (seq, e.get("seq")))
    for k in SERVER:
        e.pop(k, None)
    if "tenant" not in src and e.pop("tenant", None) != "default":
        problems.append("seq %d: no default tenant" % seq)
    if "id" not in src:
        e.pop("id", None)
    if e != src:
        problems.append("seq %d: entry is not the event of input line %d" % (seq, line))
if first_new is not None and first_new != expect_first:
    problems.append("first new ack seq %d, expected %d (the entries before this round)" % (first_new, expect_first))
if total < expect_first:
    problems.append("log shrank: %d entries, %d before this round" % (total, expect_first))

for p in problems[:10]:
    print(p)
if problems:
    sys.exit(1)
print("first=%s last=%s acks=%d dups=%d entries=%d" % (
    first_new if first_new is not None else "-", prev if prev is not None else "-",
    len(acks), dups, total))
PY

# ---- the rounds ----------------------------------------------------------------

D="$T/log"
"$SEALTRAIL" init --data "$D" --origin example.com/crash --segment-size 4194304 >/dev/null 2>&1
echo "# crash test: $ROUNDS rounds, seed $SEED, $EVENTS events per round"
BATCHES=(1 10 100 1000)
# The kill should land while the append is still running: measure how
# long a whole run takes for each batch size (on a scratch log, at most
# 400 ms), and draw the delay from 20 ms up to 90% of that.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
declare -A MAXMS
for B in "${BATCHES[@]}"; do
	"$SEALTRAIL" init --data "$T/cal" --origin example.com/crash --segment-size 4194304 >/dev/null 2>&1
	t0=$(now_ms)
	"$SEALTRAIL" append --data "$T/cal" --batch "$B" "$T/events.ndjson" >/dev/null 2>&1 &
	CHILD=$!
	for ((i = 0; i < 40; i++)); do
		kill -0 "$CHILD" 2>/dev/null || break
		sleep 0.01
	done
	kill -9 "$CHILD" 2>/dev/null || true
	wait "$CHILD" 2>/dev/null || true
	CHILD=""
	took=$(($(now_ms) - t0))
	max=$((took * 9 / 10))
	((max <= 400)) || max=400
	((max >= 25)) || max=25
	MAXMS[$B]=$max
	rm -rf "$T/cal"
done
echo "# kill delay ranges (ms): batch 1: 20-${MAXMS[1]}, 10: 20-${MAXMS[10]}, 100: 20-${MAXMS[100]}, 1000: 20-${MAXMS[1000]}"
N=0            # entries in the log after the last round
for ((round = 1; round <= ROUNDS; round++)); do
	B=${BATCHES[$((RANDOM % 4))]}
	MS=$((20 + RANDOM % (MAXMS[$B] - 19)))
	ACKS="$T/acks.$round"
	"$SEALTRAIL" append --data "$D" --batch "$B" "$T/events.ndjson" >"$ACKS" 2>"$T/err.$round" &
	CHILD=$!
	sleep "$(printf '0.%03d' "$MS")"
	kill -9 "$CHILD" 2>/dev/null || true
	RC=0
	wait "$CHILD" 2>/dev/null || RC=$?
	CHILD=""
	how="killed"
	[ "$RC" -eq 137 ] || how="exit $RC (finished before the kill)"

	problems=""
	# (b) verify, before the reopen in odd rounds, after it in even ones.
	vbefore=""
	if ((round % 2)); then
		vrc=0
		vbefore=$("$SEALTRAIL" verify --quiet --data "$D" 2>&1) || vrc=$?
		[ $vrc -eq 0 ] || problems+="verify before reopen exited $vrc: $vbefore; "
	fi
	# (a) the acks against the stored entries; dump opens the log: recovery.
	from=$((N > 0 ? N : 0))
	drc=0
	"$SEALTRAIL" dump --data "$D" --from "$from" >"$T/dump.$round" 2>"$T/dumperr.$round" || drc=$?
	[ $drc -eq 0 ] || problems+="dump exited $drc: $(head -c 300 "$T/dumperr.$round"); "
	crc=0
	summary=$(python3 "$T/check.py" "$ACKS" "$T/dump.$round" "$T/events.ndjson" "$N" "$T/known" 2>&1) || crc=$?
	[ $crc -eq 0 ] || problems+="$summary; "
	if ! ((round % 2)); then
		vrc=0
		vafter=$("$SEALTRAIL" verify --quiet --data "$D" 2>&1) || vrc=$?
		[ $vrc -eq 0 ] || problems+="verify after reopen exited $vrc: $vafter; "
	fi
	newn=$(head -n 1 "$T/dump.$round" | sed -n 's/^# log .*: \([0-9]*\) entries$/\1/p')
	[ -n "$newn" ] || { problems+="no entry count from dump; "; newn=$N; }
	echo "# round $round: batch $B, kill after ${MS} ms ($how), $summary, verify $( ((round % 2)) && echo before || echo after) reopen"
	if [ -z "$problems" ]; then
		ok "round $round"
	else
		notok "round $round" "$problems"
	fi
	N=$newn
	rm -f "$T/dump.$round"
done

# A final full verify with the trusted last checkpoint.
cp "$D/checkpoint" "$T/last.cp"
vrc=0
out=$("$SEALTRAIL" verify --quiet --data "$D" --trusted "$T/last.cp" 2>&1) || vrc=$?
if [ $vrc -eq 0 ]; then ok "final verify ($N entries)"; else notok "final verify" "$out"; fi

# ---- staged crash windows -------------------------------------------------------

# A kill after checkpoint_issue() synced a new record onto `checkpoints`
# but before it replaced the `checkpoint` copy: staged by putting the
# previous note back into `checkpoint`. Recovery must leave a log that
# verifies (the copy is derived from the history).
W="$T/window-cp"
"$SEALTRAIL" init --data "$W" --origin example.com/crash >/dev/null 2>&1
head -n 50 "$T/events.ndjson" | "$SEALTRAIL" append --data "$W" - >/dev/null 2>&1
cp "$W/checkpoint" "$T/prev.cp"
head -n 100 "$T/events.ndjson" | tail -n 50 | "$SEALTRAIL" append --data "$W" - >/dev/null 2>&1
cp "$T/prev.cp" "$W/checkpoint"
"$SEALTRAIL" dump --data "$W" --count 0 >/dev/null 2>&1 || true      # reopen: recovery
vrc=0
out=$("$SEALTRAIL" verify --quiet --data "$W" 2>&1) || vrc=$?
if [ $vrc -eq 0 ]; then
	ok "kill between the history append and the checkpoint copy: recovered log verifies"
else
	notok "kill between the history append and the checkpoint copy: recovered log verifies" "$out"
fi

# A kill after segment_create() created the next segment file but before
# its header was written: an empty segment named for the next seq.
# Nothing in it was acknowledged; recovery must open the log (and drop or
# rewrite the empty file), and the log must verify.
W="$T/window-seg"
"$SEALTRAIL" init --data "$W" --origin example.com/crash --segment-size 8192 >/dev/null 2>&1
head -n 40 "$T/events.ndjson" | "$SEALTRAIL" append --data "$W" - >/dev/null 2>&1
n=$("$SEALTRAIL" dump --data "$W" --count 0 2>/dev/null | sed -n 's/^# log .*: \([0-9]*\) entries$/\1/p')
: >"$W/segments/$(printf %020d "$n").seg"
rc=0
out=$(head -n 41 "$T/events.ndjson" | tail -n 1 | "$SEALTRAIL" append --data "$W" - 2>&1) || rc=$?
vrc=0
vout=$("$SEALTRAIL" verify --quiet --data "$W" 2>&1) || vrc=$?
if [ $rc -eq 0 ] && [ $vrc -eq 0 ]; then
	ok "kill between creating a segment and writing its header: log reopens and verifies"
else
	notok "kill between creating a segment and writing its header: log reopens and verifies" \
		"append exited $rc: $out; verify exited $vrc: $vout"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
